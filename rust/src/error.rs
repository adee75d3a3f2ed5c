//! The error type every fallible function returns (status codes in [`crate::constants`]).

pub use crate::constants::{
    GC_ERR_CANCELLED, GC_ERR_INVALID_ARGUMENT, GC_ERR_NULL_POINTER, GC_ERR_PANIC, GC_OK,
};

/// A status code with a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcError {
    /// One of the `GC_ERR_*` codes.
    pub code: i32,
    /// Sentence-case message naming the offending value.
    pub message: String,
}

impl GcError {
    /// A `GC_ERR_INVALID_ARGUMENT` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        GcError { code: GC_ERR_INVALID_ARGUMENT, message: message.into() }
    }

    /// A `GC_ERR_NULL_POINTER` error for argument `name` whose length is `len`.
    pub fn null(name: &str, len: u64) -> Self {
        GcError {
            code: GC_ERR_NULL_POINTER,
            message: format!("{name} is NULL but its length is {len}: pass a buffer of {len} elements"),
        }
    }

    /// A `GC_ERR_CANCELLED` error.
    pub fn cancelled() -> Self {
        GcError { code: GC_ERR_CANCELLED, message: "Cancelled by the caller (progress[2] was set)".into() }
    }
}

impl std::fmt::Display for GcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (status {})", self.message, self.code)
    }
}

impl std::error::Error for GcError {}
