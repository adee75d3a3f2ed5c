//! One Rayon thread pool per thread count for the whole process, shared by every dataset.
//!
//! Each likelihood opens several datasets (the patterns and their all-absent columns), and a
//! program may open many over its life: a pool per dataset would start `n_threads` new threads
//! each time. Pools are created on first use and live until the process ends, so the number of
//! kernel threads is the sum of the distinct thread counts ever requested.

use crate::error::GcError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();

/// The process-wide pool of `n_threads` workers (threads named `genecontent-N-i`), started on
/// first use.
pub fn shared_pool(n_threads: usize) -> Result<Arc<rayon::ThreadPool>, GcError> {
    let mut pools =
        POOLS.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n_threads) {
        return Ok(Arc::clone(p));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads)
        .thread_name(move |i| format!("genecontent-{n_threads}-{i}"))
        .build()
        .map_err(|e| GcError::invalid(format!("Could not start {n_threads} worker threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(n_threads, Arc::clone(&pool));
    Ok(pool)
}
