//! genecontent: Felsenstein pruning kernel of the 2-state gene gain/loss model.
//!
//! This file is the C ABI of `include/genecontent.h` only: exported functions, argument
//! validation, `catch_unwind` and error-buffer writing. The work happens in [`dataset`],
//! [`dense`], [`mixed`] and [`sparse`].

#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

pub mod dataset;
pub mod dense;
pub mod error;
mod grouping;
pub mod mixed;
pub mod scaling;
pub mod sparse;
#[cfg(target_arch = "x86_64")]
mod sparse_avx2;
pub mod transition;
pub mod tree;

use dataset::{Dataset, Progress};
use error::{GcError, GC_ERR_INVALID_ARGUMENT, GC_ERR_NULL_POINTER, GC_ERR_PANIC, GC_OK};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;

/// ABI version (GC_ABI_VERSION).
pub const GC_ABI_VERSION: u32 = 1;

/// Opaque dataset handle of the C ABI.
#[allow(non_camel_case_types)]
pub struct gc_dataset(Dataset);

/// Writes `msg` NUL-terminated (truncated at a character boundary) into `err`.
unsafe fn write_err(err: *mut c_char, err_len: u64, msg: &str) {
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
unsafe fn guard(err: *mut c_char, err_len: u64, f: impl FnOnce() -> Result<(), GcError>) -> i32 {
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
unsafe fn slice<'a, T>(ptr: *const T, len: u64, name: &str) -> Result<&'a [T], GcError> {
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

unsafe fn slice_mut<'a, T>(ptr: *mut T, len: u64, name: &str) -> Result<&'a mut [T], GcError> {
    if len == 0 {
        return Ok(&mut []);
    }
    let s = slice(ptr as *const T, len, name)?;
    Ok(std::slice::from_raw_parts_mut(ptr, s.len()))
}

/// The ABI version of the loaded library.
#[no_mangle]
pub extern "C" fn gc_abi_version() -> u32 {
    GC_ABI_VERSION
}

/// See `genecontent.h`.
///
/// # Safety
/// Pointers must be valid for the stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_dataset_new(
    n_tips: u64,
    n_nodes: u64,
    parent: *const i32,
    branch_length: *const f64,
    n_patterns: u64,
    states: *const u8,
    n_threads: u32,
    algorithm: u32,
    out_dataset: *mut *mut gc_dataset,
    err: *mut c_char,
    err_len: u64,
) -> i32 {
    guard(err, err_len, || {
        if out_dataset.is_null() {
            return Err(GcError { code: GC_ERR_NULL_POINTER, message: "out_dataset is NULL".into() });
        }
        *out_dataset = std::ptr::null_mut();
        let parent = slice(parent, n_nodes, "parent")?;
        let branch_length = slice(branch_length, n_nodes, "branch_length")?;
        let n_states = n_patterns.checked_mul(n_tips).ok_or_else(|| {
            GcError::invalid(format!("n_patterns ({n_patterns}) * n_tips ({n_tips}) overflows"))
        })?;
        let states = slice(states, n_states, "states")?;
        if n_nodes == 0 {
            return Err(GcError::invalid("n_nodes is 0: a tree needs at least one node"));
        }
        let to_usize = |x: u64, name: &str| {
            usize::try_from(x).map_err(|_| GcError::invalid(format!("{name} ({x}) is too large")))
        };
        let ds = Dataset::new(
            to_usize(n_tips, "n_tips")?,
            parent,
            branch_length,
            to_usize(n_patterns, "n_patterns")?,
            states,
            n_threads as usize,
            algorithm,
        )?;
        *out_dataset = Box::into_raw(Box::new(gc_dataset(ds)));
        Ok(())
    })
}

/// Releases a dataset. NULL is a no-op.
///
/// # Safety
/// `dataset` must come from `gc_dataset_new` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn gc_dataset_free(dataset: *mut gc_dataset) {
    if dataset.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(dataset))));
}

/// See `genecontent.h`.
///
/// # Safety
/// Pointers must be valid for the stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_dataset_info(
    dataset: *const gc_dataset,
    out: *mut u64,
    out_len: u64,
    err: *mut c_char,
    err_len: u64,
) -> i32 {
    guard(err, err_len, || {
        if dataset.is_null() {
            return Err(GcError { code: GC_ERR_NULL_POINTER, message: "dataset is NULL".into() });
        }
        let info = (*dataset).0.info();
        let out = slice_mut(out, out_len.min(5), "out")?;
        out.copy_from_slice(&info[..out.len()]);
        Ok(())
    })
}

/// See `genecontent.h`.
///
/// # Safety
/// Pointers must be valid for the stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_loglik(
    dataset: *const gc_dataset,
    n_sets: u64,
    rates: *const f64,
    out_loglik: *mut f64,
    out_len: u64,
    out_grad: *mut f64,
    grad_len: u64,
    progress: *mut u64,
    err: *mut c_char,
    err_len: u64,
) -> i32 {
    guard(err, err_len, || {
        if dataset.is_null() {
            return Err(GcError { code: GC_ERR_NULL_POINTER, message: "dataset is NULL".into() });
        }
        let ds = &(*dataset).0;
        let n_rates = n_sets
            .checked_mul(2)
            .ok_or_else(|| GcError::invalid(format!("n_sets ({n_sets}) is too large")))?;
        let rates = slice(rates, n_rates, "rates")?;
        let expected = n_sets.checked_mul(ds.n_patterns() as u64);
        if expected != Some(out_len) {
            return Err(GcError {
                code: GC_ERR_INVALID_ARGUMENT,
                message: format!(
                    "out_len is {out_len} but n_sets * n_patterns is {n_sets} * {} = {}",
                    ds.n_patterns(),
                    expected.map_or("overflow".to_string(), |e| e.to_string())
                ),
            });
        }
        let out = slice_mut(out_loglik, out_len, "out_loglik")?;
        let grad = if grad_len == 0 {
            None
        } else {
            if grad_len != 2 * out_len {
                return Err(GcError::invalid(format!(
                    "grad_len is {grad_len} but 2 * n_sets * n_patterns is {}: pass NULL with grad_len 0 for values only",
                    2 * out_len
                )));
            }
            Some(slice_mut(out_grad, grad_len, "out_grad")?)
        };
        let prog;
        let progress = if progress.is_null() {
            None
        } else {
            if !(progress as usize).is_multiple_of(std::mem::align_of::<AtomicU64>()) {
                return Err(GcError::invalid("progress is not aligned to 8 bytes"));
            }
            prog = Progress {
                done: AtomicU64::from_ptr(progress),
                total: AtomicU64::from_ptr(progress.add(1)),
                cancel: AtomicU64::from_ptr(progress.add(2)),
            };
            Some(&prog)
        };
        ds.loglik(rates, out, grad, progress)
    })
}
