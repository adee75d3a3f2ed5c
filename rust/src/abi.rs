//! Argument checking and error reporting shared by every export of the C ABI: borrowing caller
//! buffers (NULL only with length 0), `catch_unwind` around the work, status codes, and messages
//! written NUL-terminated into the caller's error buffer.

use crate::error::{GcError, GC_ERR_PANIC, GC_OK};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Writes `msg` NUL-terminated (truncated at a character boundary) into `err`.
pub(crate) unsafe fn write_err(err: *mut c_char, err_len: u64, msg: &str) {
    if err.is_null() || err_len == 0 {
        return;
    }
    let cap = (err_len - 1).min(usize::MAX as u64) as usize;
    let mut n = msg.len().min(cap);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    std::ptr::copy_nonoverlapping(msg.as_ptr(), err as *mut u8, n);
    *err.add(n) = 0;
}

/// Runs `f` inside `catch_unwind`, turning errors and panics into status codes and messages.
pub(crate) unsafe fn guard(err: *mut c_char, err_len: u64, f: impl FnOnce() -> Result<(), GcError>) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(f));
    let (code, msg) = match result {
        Ok(Ok(())) => return GC_OK,
        Ok(Err(e)) => (e.code, e.message),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            (GC_ERR_PANIC, format!("Internal error in the genecontent kernel (please report it): {what}"))
        }
    };
    write_err(err, err_len, &msg);
    code
}

/// Borrows `len` elements at `ptr`; NULL is allowed only when `len` is 0.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: u64, name: &str) -> Result<&'a [T], GcError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(GcError::null(name, len));
    }
    let len =
        usize::try_from(len).map_err(|_| GcError::invalid(format!("{name} length {len} is too large")))?;
    if len.checked_mul(std::mem::size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(GcError::invalid(format!("{name} length {len} is too large")));
    }
    if !(ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return Err(GcError::invalid(format!(
            "{name} is not aligned to {} bytes",
            std::mem::align_of::<T>()
        )));
    }
    Ok(std::slice::from_raw_parts(ptr, len))
}

pub(crate) unsafe fn slice_mut<'a, T>(ptr: *mut T, len: u64, name: &str) -> Result<&'a mut [T], GcError> {
    if len == 0 {
        return Ok(&mut []);
    }
    let s = slice(ptr as *const T, len, name)?;
    Ok(std::slice::from_raw_parts_mut(ptr, s.len()))
}

/// Reads an argument struct whose first field is its caller's `struct_size`, which must be at
/// least `oldest`: the struct's size in the ABI minor that introduced it (its full size,
/// `size_of::<T>()`, for a struct that has not grown). A caller's older, smaller struct is read
/// as far as it goes; the fields it lacks read as zero (0, 0.0 and NULL: each such field
/// documents that value as its default). A larger struct (a newer caller) is read up to the
/// fields this library knows.
///
/// # Safety
/// `args` must be NULL or point to `struct_size` readable bytes; `T` must be a `repr(C)`
/// struct of integers, floats and raw pointers (all-zero bytes are a valid value).
pub(crate) unsafe fn read_args<T: Copy>(args: *const T, name: &str, oldest: usize) -> Result<T, GcError> {
    use crate::constants::{GC_ABI_MINOR, GC_ABI_VERSION};
    let known = std::mem::size_of::<T>();
    if args.is_null() {
        return Err(GcError { code: crate::error::GC_ERR_NULL_POINTER, message: "args is NULL".into() });
    }
    if !(args as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return Err(GcError::invalid(format!("args is not aligned to {} bytes", std::mem::align_of::<T>())));
    }
    let size = *(args as *const u64);
    if size < oldest as u64 {
        let older = if oldest < known {
            format!(" (a struct of {oldest} bytes or more, from an earlier minor, is read too)")
        } else {
            String::new()
        };
        return Err(GcError::invalid(format!(
            "args->struct_size is {size} but {name} of ABI version {GC_ABI_VERSION}.{GC_ABI_MINOR} has {known} bytes: set struct_size = sizeof({name}) from genecontent.h{older}"
        )));
    }
    let n = (size as usize).min(known);
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    std::ptr::copy_nonoverlapping(args as *const u8, value.as_mut_ptr() as *mut u8, n);
    Ok(value.assume_init())
}
