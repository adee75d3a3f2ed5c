//! A dataset: a validated tree, its patterns, the chosen engine, a thread pool and a pool of
//! per-thread scratch spaces. Safe Rust API used by the C ABI, the tests and the benchmark.

use crate::dense::{eval_pattern, DenseScratch};
use crate::error::GcError;
use crate::mixed::{MixedEngine, MixedScratch, SetMessages, MAX_NODES};
use crate::sparse::{SparseEngine, SparseScratch};
use crate::transition::SetTables;
use crate::tree::Tree;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The fastest exact algorithm (currently sparse).
pub const GC_ALGO_AUTO: u32 = 0;
/// Straightforward per-pattern pruning.
pub const GC_ALGO_DENSE: u32 = 1;
/// Sparse pruning: the mixed-node engine, or the blocked one where most nodes are mixed.
pub const GC_ALGO_SPARSE: u32 = 2;

/// Mean mixed-node work per pattern (segment heads plus chain matrices, see `mixed.rs`), as a
/// share of the internal nodes, above which SPARSE uses the blocked engine.
const BLOCKED_ABOVE: f64 = 0.35;

/// Which engine GC_ALGO_SPARSE / GC_ALGO_AUTO use ([`Dataset::with_engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseEngineChoice {
    /// The mixed-node engine, or the blocked one where most nodes are mixed (the default).
    Auto,
    /// Always the mixed-node engine ([`crate::mixed`]).
    Mixed,
    /// Always the blocked minority-state engine ([`crate::sparse`]).
    Blocked,
}

/// Progress counters shared with the caller: `done` (kernel writes), `total` (kernel writes at
/// the start), `cancel` (caller writes nonzero to cancel).
pub struct Progress<'a> {
    /// Work units done.
    pub done: &'a AtomicU64,
    /// Total work units.
    pub total: &'a AtomicU64,
    /// Nonzero to cancel.
    pub cancel: &'a AtomicU64,
}

enum Engine {
    Dense {
        states: Vec<u8>,
        scratch: Mutex<Vec<DenseScratch>>,
    },
    /// The sparse engine works on the tree renumbered in depth-first order (`tree`).
    Sparse {
        tree: Tree,
        eng: Box<SparseEngine>,
        scratch: Mutex<Vec<SparseScratch>>,
    },
    /// The mixed-node engine, on the tree renumbered in depth-first order (`tree`).
    Mixed {
        tree: Tree,
        eng: Box<MixedEngine>,
        scratch: Mutex<Vec<MixedScratch>>,
        /// Per-set tables, kept so that their buffers are reused (one per concurrent call).
        set_msgs: Mutex<Vec<SetMessages>>,
    },
}

/// An immutable dataset; `loglik` may be called concurrently.
pub struct Dataset {
    tree: Tree,
    n_patterns: usize,
    n_threads: usize,
    algorithm: u32,
    engine: Engine,
    pool: rayon::ThreadPool,
    /// Per-set transition tables, kept so that their buffers are reused (one per concurrent set).
    set_tables: Mutex<Vec<SetTables>>,
}

#[derive(Clone, Copy)]
struct OutPtrs {
    out: *mut f64,
    grad: *mut f64,
}
// SAFETY: tasks write disjoint elements only.
unsafe impl Send for OutPtrs {}
unsafe impl Sync for OutPtrs {}

/// Dense patterns per parallel task.
const DENSE_CHUNK: usize = 64;

impl Dataset {
    /// Validates the inputs and builds a dataset. `states` is pattern-major.
    pub fn new(
        n_tips: usize,
        parent: &[i32],
        branch_length: &[f64],
        n_patterns: usize,
        states: &[u8],
        n_threads: usize,
        algorithm: u32,
    ) -> Result<Dataset, GcError> {
        Self::with_engine(
            n_tips,
            parent,
            branch_length,
            n_patterns,
            states,
            n_threads,
            algorithm,
            SparseEngineChoice::Auto,
        )
    }

    /// [`Dataset::new`] with a choice of sparse engine (for tests and benchmarks).
    pub fn with_engine(
        n_tips: usize,
        parent: &[i32],
        branch_length: &[f64],
        n_patterns: usize,
        states: &[u8],
        n_threads: usize,
        algorithm: u32,
        choice: SparseEngineChoice,
    ) -> Result<Dataset, GcError> {
        if algorithm > GC_ALGO_SPARSE {
            return Err(GcError::invalid(format!(
                "algorithm is {algorithm}: use 0 (auto), 1 (dense) or 2 (sparse)"
            )));
        }
        let tree = Tree::new(n_tips, parent, branch_length)?;
        let expected = n_patterns.checked_mul(n_tips).ok_or_else(|| {
            GcError::invalid(format!("n_patterns ({n_patterns}) * n_tips ({n_tips}) overflows"))
        })?;
        if states.len() != expected {
            return Err(GcError::invalid(format!(
                "states has {} bytes but n_patterns * n_tips is {expected}",
                states.len()
            )));
        }
        if let Some(i) = states.iter().position(|&s| s > 2) {
            return Err(GcError::invalid(format!(
                "states[{i}] (pattern {}, tip {}) is {}: states must be 0 (absent), 1 (present) or 2 (missing)",
                i / n_tips,
                i % n_tips,
                states[i]
            )));
        }
        let n_threads = if n_threads == 0 {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        } else {
            n_threads
        };
        if n_threads > 4096 {
            return Err(GcError::invalid(format!("n_threads is {n_threads}: at most 4096")));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n_threads)
            .thread_name(|i| format!("genecontent-{i}"))
            .build()
            .map_err(|e| GcError::invalid(format!("Could not start {n_threads} worker threads: {e}")))?;
        let algorithm = if algorithm == GC_ALGO_AUTO { GC_ALGO_SPARSE } else { algorithm };
        // A single-tip tree has no internal node to prune sparsely: the dense code handles it.
        let engine = if algorithm == GC_ALGO_DENSE || tree.n_nodes == tree.n_tips {
            Engine::Dense { states: states.to_vec(), scratch: Mutex::new(Vec::new()) }
        } else {
            let (stree, tip_col) = tree.dfs_renumbered();
            let blocked = |stree: Tree| {
                let eng = pool.install(|| SparseEngine::new(&stree, states, n_patterns, &tip_col));
                Engine::Sparse { tree: stree, eng: Box::new(eng), scratch: Mutex::new(Vec::new()) }
            };
            if choice == SparseEngineChoice::Blocked || tree.n_nodes >= MAX_NODES {
                blocked(stree)
            } else {
                let eng = pool.install(|| MixedEngine::new(&stree, states, n_patterns, &tip_col, n_threads));
                // Where patterns branch at most nodes (columns close to independent coin flips),
                // the blocked engine's SIMD over every node beats the mixed-node walk. Measured
                // on 1,324 tips: at 0.50 (iid columns of random frequency) blocked 6.3 ms and
                // mixed 8.8 ms per evaluation, so they break even near 0.36; simulated
                // pangenomes are far below (Yule 0.022, caterpillar 0.005, coalescent 0.004).
                let n_run = (eng.stats.n_unique - eng.stats.n_trivial).max(1);
                let work = (eng.stats.heads + eng.stats.chain_ops) as f64;
                let frac = work / (n_run * (tree.n_nodes - tree.n_tips)) as f64;
                if frac > BLOCKED_ABOVE && choice == SparseEngineChoice::Auto {
                    drop(eng);
                    blocked(stree)
                } else {
                    Engine::Mixed {
                        tree: stree,
                        eng: Box::new(eng),
                        scratch: Mutex::new(Vec::new()),
                        set_msgs: Mutex::new(Vec::new()),
                    }
                }
            }
        };
        Ok(Dataset {
            tree,
            n_patterns,
            n_threads,
            algorithm,
            engine,
            pool,
            set_tables: Mutex::new(Vec::new()),
        })
    }

    /// `[n_tips, n_nodes, n_patterns, n_threads, algorithm]`.
    pub fn info(&self) -> [u64; 5] {
        [
            self.tree.n_tips as u64,
            self.tree.n_nodes as u64,
            self.n_patterns as u64,
            self.n_threads as u64,
            self.algorithm as u64,
        ]
    }

    /// Number of patterns.
    pub fn n_patterns(&self) -> usize {
        self.n_patterns
    }

    /// Shape statistics of the blocked sparse engine, if it is the one used.
    pub fn sparse_stats(&self) -> Option<crate::sparse::SparseStats> {
        match &self.engine {
            Engine::Sparse { eng, .. } => Some(eng.stats),
            _ => None,
        }
    }

    /// Shape statistics of the mixed-node engine, if it is the one used.
    pub fn mixed_stats(&self) -> Option<crate::mixed::MixedStats> {
        match &self.engine {
            Engine::Mixed { eng, .. } => Some(eng.stats),
            _ => None,
        }
    }

    /// Evaluates `rates = [gain0, loss0, ...]` on every pattern into `out` (set-major), and the
    /// gradient into `grad` when given. Validates lengths and rates.
    pub fn loglik(
        &self,
        rates: &[f64],
        out: &mut [f64],
        grad: Option<&mut [f64]>,
        progress: Option<&Progress>,
    ) -> Result<(), GcError> {
        if !rates.len().is_multiple_of(2) {
            return Err(GcError::invalid(format!("rates has {} values, not 2 per set", rates.len())));
        }
        let n_sets = rates.len() / 2;
        for (i, &r) in rates.iter().enumerate() {
            if !(r.is_finite() && r > 0.0) {
                let what = if i % 2 == 0 { "gain" } else { "loss" };
                return Err(GcError::invalid(format!(
                    "rates[{i}] ({what} of set {}) is {r}: rates must be finite and > 0",
                    i / 2
                )));
            }
        }
        let n_out = n_sets * self.n_patterns;
        if out.len() != n_out {
            return Err(GcError::invalid(format!(
                "out_len is {} but n_sets * n_patterns is {n_sets} * {} = {n_out}",
                out.len(),
                self.n_patterns
            )));
        }
        let grad_ptr = match grad {
            Some(g) => {
                if g.len() != 2 * n_out {
                    return Err(GcError::invalid(format!(
                        "grad_len is {} but 2 * n_sets * n_patterns is {}: pass NULL with grad_len 0 for values only",
                        g.len(),
                        2 * n_out
                    )));
                }
                g.as_mut_ptr()
            }
            None => std::ptr::null_mut(),
        };
        let total = (n_out) as u64;
        if let Some(p) = progress {
            p.done.store(0, Ordering::SeqCst);
            p.total.store(total, Ordering::SeqCst);
        }
        let ptrs = OutPtrs { out: out.as_mut_ptr(), grad: grad_ptr };
        let cancelled = AtomicBool::new(false);
        let is_cancelled = || {
            if cancelled.load(Ordering::Relaxed) {
                return true;
            }
            if let Some(p) = progress {
                if p.cancel.load(Ordering::Relaxed) != 0 {
                    cancelled.store(true, Ordering::Relaxed);
                    return true;
                }
            }
            false
        };
        let add_done = |n: u64| {
            if let Some(p) = progress {
                p.done.fetch_add(n, Ordering::Relaxed);
            }
        };
        let gradient = !grad_ptr.is_null();
        for k in 0..n_sets {
            if is_cancelled() {
                break;
            }
            let tree = match &self.engine {
                Engine::Sparse { tree, .. } | Engine::Mixed { tree, .. } => tree,
                Engine::Dense { .. } => &self.tree,
            };
            let mut tabs = self.set_tables.lock().unwrap().pop().unwrap_or_default();
            tabs.refill(tree, rates[2 * k], rates[2 * k + 1]);
            match &self.engine {
                Engine::Dense { states, scratch } => {
                    let nt = self.tree.n_tips;
                    let np = self.n_patterns;
                    let n_chunks = np.div_ceil(DENSE_CHUNK);
                    self.pool.install(|| {
                        (0..n_chunks).into_par_iter().for_each(|ch| {
                            if is_cancelled() {
                                return;
                            }
                            let mut s = scratch.lock().unwrap().pop().unwrap_or_default();
                            let range = ch * DENSE_CHUNK..((ch + 1) * DENSE_CHUNK).min(np);
                            let n = range.len() as u64;
                            let p = ptrs;
                            for pat in range {
                                let st = &states[pat * nt..(pat + 1) * nt];
                                let (ll, g) = if gradient {
                                    eval_pattern::<true>(&self.tree, &tabs, st, &mut s)
                                } else {
                                    eval_pattern::<false>(&self.tree, &tabs, st, &mut s)
                                };
                                let i = k * np + pat;
                                // SAFETY: pattern `pat` of set `k` is written by this task only.
                                unsafe {
                                    *p.out.add(i) = ll;
                                    if gradient {
                                        *p.grad.add(2 * i) = g[0];
                                        *p.grad.add(2 * i + 1) = g[1];
                                    }
                                }
                            }
                            scratch.lock().unwrap().push(s);
                            add_done(n);
                        })
                    });
                }
                Engine::Sparse { eng, scratch, .. } => {
                    let base = if gradient {
                        eng.baseline::<true>(tree, &tabs)
                    } else {
                        eng.baseline::<false>(tree, &tabs)
                    };
                    let nb = eng.n_blocks();
                    let chunk = (nb / (self.n_threads * 16)).clamp(1, 64);
                    let n_chunks = nb.div_ceil(chunk);
                    let np = self.n_patterns;
                    self.pool.install(|| {
                        (0..n_chunks).into_par_iter().for_each(|ch| {
                            if is_cancelled() {
                                return;
                            }
                            let mut s = scratch.lock().unwrap().pop().unwrap_or_else(|| eng.scratch());
                            let p = ptrs;
                            let mut n = 0;
                            for i in ch * chunk..((ch + 1) * chunk).min(nb) {
                                // SAFETY: each pattern belongs to exactly one block.
                                unsafe {
                                    if gradient {
                                        eng.run_block::<true>(i, &tabs, &base, &mut s, np, k, p.out, p.grad);
                                    } else {
                                        eng.run_block::<false>(i, &tabs, &base, &mut s, np, k, p.out, p.grad);
                                    }
                                }
                                n += eng.block_orig_count(i);
                            }
                            scratch.lock().unwrap().push(s);
                            add_done(n);
                        })
                    });
                    // SAFETY: trivial patterns are in no block.
                    let n = unsafe { eng.write_trivial(&base, np, k, ptrs.out, ptrs.grad) };
                    add_done(n);
                }
                Engine::Mixed { eng, scratch, set_msgs, .. } => {
                    let mut msgs = set_msgs.lock().unwrap().pop().unwrap_or_default();
                    if gradient {
                        eng.set_messages::<true>(tree, &tabs, &mut msgs);
                    } else {
                        eng.set_messages::<false>(tree, &tabs, &mut msgs);
                    }
                    let np = self.n_patterns;
                    self.pool.install(|| {
                        (0..eng.n_chunks()).into_par_iter().for_each(|ch| {
                            if is_cancelled() {
                                return;
                            }
                            let mut s = scratch.lock().unwrap().pop().unwrap_or_default();
                            let p = ptrs;
                            // SAFETY: each distinct pattern (and so each original pattern)
                            // belongs to exactly one chunk; the buffers were checked above.
                            let n = unsafe {
                                if gradient {
                                    eng.run_chunk::<true>(
                                        ch, tree, &tabs, &msgs, &mut s, np, k, p.out, p.grad,
                                    )
                                } else {
                                    eng.run_chunk::<false>(
                                        ch, tree, &tabs, &msgs, &mut s, np, k, p.out, p.grad,
                                    )
                                }
                            };
                            scratch.lock().unwrap().push(s);
                            add_done(n);
                        })
                    });
                    // SAFETY: patterns without a mixed node are in no chunk.
                    let n = unsafe {
                        if gradient {
                            eng.write_trivial::<true>(&msgs, np, k, ptrs.out, ptrs.grad)
                        } else {
                            eng.write_trivial::<false>(&msgs, np, k, ptrs.out, ptrs.grad)
                        }
                    };
                    add_done(n);
                    set_msgs.lock().unwrap().push(msgs);
                }
            }
            self.set_tables.lock().unwrap().push(tabs);
        }
        if is_cancelled() {
            return Err(GcError::cancelled());
        }
        Ok(())
    }
}
