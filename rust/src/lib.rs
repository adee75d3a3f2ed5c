//! genecontent: Felsenstein pruning kernel of the 2-state gene gain/loss model.
//!
//! This file is the C ABI of `include/genecontent.h` only: exported functions, argument
//! validation, `catch_unwind` and error-buffer writing. The work happens in [`dataset`] and the
//! pruning [`engines`]; every constant of the ABI is in [`constants`].

mod abi;
pub mod constants;
pub mod dataset;
pub mod distances;
pub mod engines;
pub mod error;
pub mod family_table;
mod grouping;
pub mod pool;
pub mod scaling;
pub mod transition;
pub mod tree;
pub mod tree_building;

use abi::{guard, read_args, slice, slice_mut};
pub use constants::{GC_ABI_MINOR, GC_ABI_VERSION};
use constants::{GC_RATES_GLOBAL, GC_RATES_PER_BRANCH};
use dataset::{Dataset, ExpectRequest, Progress, RateLayout, Request};
use error::{GcError, GC_ERR_INVALID_ARGUMENT, GC_ERR_NULL_POINTER};
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;

/// Opaque dataset handle of the C ABI.
#[allow(non_camel_case_types)]
pub struct gc_dataset(Dataset);

/// The progress counters at `progress` (3 values), or `None` for NULL.
unsafe fn progress_at<'a>(progress: *mut u64) -> Result<Option<Progress<'a>>, GcError> {
    if progress.is_null() {
        return Ok(None);
    }
    if !(progress as usize).is_multiple_of(std::mem::align_of::<AtomicU64>()) {
        return Err(GcError::invalid("progress is not aligned to 8 bytes"));
    }
    Ok(Some(Progress {
        done: AtomicU64::from_ptr(progress),
        total: AtomicU64::from_ptr(progress.add(1)),
        cancel: AtomicU64::from_ptr(progress.add(2)),
    }))
}

/// The ABI version of the loaded library.
#[no_mangle]
pub extern "C" fn gc_abi_version() -> u32 {
    GC_ABI_VERSION
}

/// The minor ABI version of the loaded library (compatible additions within `GC_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn gc_abi_minor() -> u32 {
    GC_ABI_MINOR
}

/// See `genecontent.h`.
///
/// # Safety
/// Pointers must be valid for the stated lengths.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature of `gc_dataset_new`
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
#[allow(clippy::too_many_arguments)] // the C signature of `gc_loglik`, kept for ABI 1 callers
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
        let progress = progress_at(progress)?;
        ds.loglik(rates, out, grad, progress.as_ref())
    })
}

/// The arguments of `gc_evaluate` (see `genecontent.h`); callers set `struct_size` to their
/// `sizeof(gc_eval_args)`, and fields are only ever appended.
#[repr(C)]
#[allow(non_camel_case_types)] // the C name
#[derive(Debug, Clone, Copy)]
pub struct gc_eval_args {
    /// The caller's `sizeof(gc_eval_args)`: at least the size of the fields below.
    pub struct_size: u64,
    /// Number of parameter sets.
    pub n_sets: u64,
    /// `GC_RATES_GLOBAL` or `GC_RATES_PER_BRANCH`.
    pub layout: u32,
    /// Must be 0.
    pub reserved: u32,
    /// `n_sets * r` rates (`r` = 2, or `2 * n_nodes` per branch).
    pub rates: *const f64,
    /// Length of `rates`.
    pub rates_len: u64,
    /// `n_sets * 2 * r` tangent entries, or NULL with length 0 for the default directions.
    pub tangents: *const f64,
    /// Length of `tangents`.
    pub tangents_len: u64,
    /// Strictly increasing pattern indices, or NULL with length 0 for every pattern.
    pub patterns: *const u32,
    /// Length of `patterns`.
    pub patterns_len: u64,
    /// `n_sets * n_eval` log-likelihoods (written).
    pub out_loglik: *mut f64,
    /// Length of `out_loglik`.
    pub out_loglik_len: u64,
    /// `2 * n_sets * n_eval` derivatives (written), or NULL with length 0 for values only.
    pub out_grad: *mut f64,
    /// Length of `out_grad`.
    pub out_grad_len: u64,
    /// NULL, or the 3 progress counters.
    pub progress: *mut u64,
}

/// Size of the `gc_eval_args` this library knows (the smallest `struct_size` it accepts).
pub const GC_EVAL_ARGS_SIZE: usize = std::mem::size_of::<gc_eval_args>();

/// See `genecontent.h`.
///
/// # Safety
/// `args` must point to a `gc_eval_args` of `args->struct_size` bytes whose pointers are valid
/// for their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_evaluate(
    dataset: *const gc_dataset,
    args: *const gc_eval_args,
    err: *mut c_char,
    err_len: u64,
) -> i32 {
    guard(err, err_len, || {
        if dataset.is_null() {
            return Err(GcError { code: GC_ERR_NULL_POINTER, message: "dataset is NULL".into() });
        }
        let a = read_args(args, "gc_eval_args", GC_EVAL_ARGS_SIZE)?;
        let ds = &(*dataset).0;
        let layout = match a.layout {
            GC_RATES_GLOBAL => RateLayout::Global,
            GC_RATES_PER_BRANCH => RateLayout::PerBranch,
            other => {
                return Err(GcError::invalid(format!(
                    "layout is {other}: use GC_RATES_GLOBAL ({GC_RATES_GLOBAL}) or GC_RATES_PER_BRANCH ({GC_RATES_PER_BRANCH})"
                )))
            }
        };
        if a.reserved != 0 {
            return Err(GcError::invalid(format!("reserved is {}: it must be 0", a.reserved)));
        }
        let n_sets = usize::try_from(a.n_sets)
            .map_err(|_| GcError::invalid(format!("n_sets ({}) is too large", a.n_sets)))?;
        let rates = slice(a.rates, a.rates_len, "rates")?;
        let tangents = slice(a.tangents, a.tangents_len, "tangents")?;
        let patterns = slice(a.patterns, a.patterns_len, "patterns")?;
        let out = slice_mut(a.out_loglik, a.out_loglik_len, "out_loglik")?;
        let grad =
            if a.out_grad_len == 0 { None } else { Some(slice_mut(a.out_grad, a.out_grad_len, "out_grad")?) };
        let progress = progress_at(a.progress)?;
        let req = Request {
            n_sets,
            layout,
            rates,
            tangents: if a.tangents_len == 0 { None } else { Some(tangents) },
            patterns: if a.patterns_len == 0 { None } else { Some(patterns) },
        };
        ds.evaluate(&req, out, grad, progress.as_ref())
    })
}

/// Parses a `GC_RATES_*` layout.
fn parse_layout(layout: u32) -> Result<RateLayout, GcError> {
    match layout {
        GC_RATES_GLOBAL => Ok(RateLayout::Global),
        GC_RATES_PER_BRANCH => Ok(RateLayout::PerBranch),
        other => Err(GcError::invalid(format!(
            "layout is {other}: use GC_RATES_GLOBAL ({GC_RATES_GLOBAL}) or GC_RATES_PER_BRANCH ({GC_RATES_PER_BRANCH})"
        ))),
    }
}

/// The arguments of `gc_expectations` (see `genecontent.h`); callers set `struct_size` to their
/// `sizeof(gc_expect_args)`, and fields are only ever appended.
#[repr(C)]
#[allow(non_camel_case_types)] // the C name
#[derive(Debug, Clone, Copy)]
pub struct gc_expect_args {
    /// The caller's `sizeof(gc_expect_args)`: at least the size of the fields below.
    pub struct_size: u64,
    /// Number of parameter sets.
    pub n_sets: u64,
    /// `GC_RATES_GLOBAL` or `GC_RATES_PER_BRANCH`.
    pub layout: u32,
    /// Must be 0.
    pub reserved: u32,
    /// `n_sets * r` rates (`r` = 2, or `2 * n_nodes` per branch).
    pub rates: *const f64,
    /// Length of `rates`.
    pub rates_len: u64,
    /// Strictly increasing pattern indices, or NULL with length 0 for every pattern.
    pub patterns: *const u32,
    /// Length of `patterns`.
    pub patterns_len: u64,
    /// `n_sets * n_eval` pattern weights, or NULL with length 0 for weights 1.
    pub weights: *const f64,
    /// Length of `weights`.
    pub weights_len: u64,
    /// `n_sets * n_eval` log-likelihoods (written).
    pub out_loglik: *mut f64,
    /// Length of `out_loglik`.
    pub out_loglik_len: u64,
    /// `n_sets * n_nodes * 4` branch sums (written).
    pub out_branch: *mut f64,
    /// Length of `out_branch`.
    pub out_branch_len: u64,
    /// `n_sets * n_eval * n_nodes * 4` per-pattern coefficients (written), or NULL with length 0.
    pub out_per_pattern: *mut f64,
    /// Length of `out_per_pattern`.
    pub out_per_pattern_len: u64,
    /// NULL, or the 3 progress counters.
    pub progress: *mut u64,
}

/// Size of the `gc_expect_args` this library knows (the smallest `struct_size` it accepts).
pub const GC_EXPECT_ARGS_SIZE: usize = std::mem::size_of::<gc_expect_args>();

/// See `genecontent.h`.
///
/// # Safety
/// `args` must point to a `gc_expect_args` of `args->struct_size` bytes whose pointers are
/// valid for their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_expectations(
    dataset: *const gc_dataset,
    args: *const gc_expect_args,
    err: *mut c_char,
    err_len: u64,
) -> i32 {
    guard(err, err_len, || {
        if dataset.is_null() {
            return Err(GcError { code: GC_ERR_NULL_POINTER, message: "dataset is NULL".into() });
        }
        let a = read_args(args, "gc_expect_args", GC_EXPECT_ARGS_SIZE)?;
        let ds = &(*dataset).0;
        let layout = parse_layout(a.layout)?;
        if a.reserved != 0 {
            return Err(GcError::invalid(format!("reserved is {}: it must be 0", a.reserved)));
        }
        let n_sets = usize::try_from(a.n_sets)
            .map_err(|_| GcError::invalid(format!("n_sets ({}) is too large", a.n_sets)))?;
        let rates = slice(a.rates, a.rates_len, "rates")?;
        let patterns = slice(a.patterns, a.patterns_len, "patterns")?;
        let weights = slice(a.weights, a.weights_len, "weights")?;
        let out = slice_mut(a.out_loglik, a.out_loglik_len, "out_loglik")?;
        let branch = slice_mut(a.out_branch, a.out_branch_len, "out_branch")?;
        let per = if a.out_per_pattern_len == 0 {
            None
        } else {
            Some(slice_mut(a.out_per_pattern, a.out_per_pattern_len, "out_per_pattern")?)
        };
        let progress = progress_at(a.progress)?;
        let req = ExpectRequest {
            n_sets,
            layout,
            rates,
            patterns: if a.patterns_len == 0 { None } else { Some(patterns) },
            weights: if a.weights_len == 0 { None } else { Some(weights) },
        };
        ds.expectations(&req, out, branch, per, progress.as_ref())
    })
}
