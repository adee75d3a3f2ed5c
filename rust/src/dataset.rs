//! A dataset: a validated tree, its patterns, the chosen engine, the shared thread pool and a
//! pool of per-thread scratch spaces. Safe Rust API used by the C ABI, the tests and the
//! benchmark.

use crate::engines::blocked::{BlockedEngine, BlockedScratch};
use crate::engines::chains::{ChainEngine, ChainScratch, SetMessages, MAX_NODES};
use crate::engines::dense::{eval_pattern, DenseScratch};
use crate::engines::outside::{
    expect_pattern, expect_pattern_sparse, OutsideScratch, SparseScratch, TreeFacts, UniformTables,
};
use crate::error::GcError;
use crate::grouping::Targets;
use crate::transition::{SetRates, SetTables};
use crate::tree::Tree;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::constants::{
    GC_ALGO_AUTO, GC_ALGO_DENSE, GC_ALGO_SPARSE, GC_RATES_GLOBAL, GC_RATES_PER_BRANCH,
};

/// Mean mixed-node work per pattern (segment heads plus chain matrices, see `chains.rs`), as a
/// share of the internal nodes, above which SPARSE uses the blocked engine.
const BLOCKED_ABOVE: f64 = 0.35;

/// Which engine GC_ALGO_SPARSE / GC_ALGO_AUTO use ([`Dataset::with_engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    /// The chain engine, or the blocked one where most nodes are mixed (the default).
    Auto,
    /// Always the chain engine ([`crate::engines::chains`]).
    Chains,
    /// Always the blocked minority-state engine ([`crate::engines::blocked`]).
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

/// How the rates of an evaluation are assigned to branches (`GC_RATES_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLayout {
    /// One `(gain, loss)` pair per set for every branch and the root prior.
    Global,
    /// One `(gain, loss)` pair per node and set, in the caller's node order: the rates of the
    /// branch above the node; the root's pair sets the root prior.
    PerBranch,
}

/// The inputs of one evaluation (the fields of `gc_eval_args` other than the outputs).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Number of parameter sets.
    pub n_sets: usize,
    /// How `rates` assigns rates to branches.
    pub layout: RateLayout,
    /// `n_sets * r` rates, `r` = 2 (global) or `2 * n_nodes` (per branch).
    pub rates: &'a [f64],
    /// `n_sets * 2 * r` tangent entries (`tangents[(k * 2 + j) * r + i]`: d log rates[k r + i]
    /// along direction `j` of set `k`), or `None` for d log gain and d log loss.
    pub tangents: Option<&'a [f64]>,
    /// Strictly increasing pattern indices to evaluate, or `None` for all.
    pub patterns: Option<&'a [u32]>,
}

enum Engine {
    Dense {
        states: Vec<u8>,
        scratch: Mutex<Vec<DenseScratch>>,
    },
    /// The blocked engine works on the tree renumbered in depth-first order (`tree`; node `v`
    /// of it is node `node_old[v]` of the caller's tree).
    Blocked {
        tree: Tree,
        node_old: Vec<u32>,
        eng: Box<BlockedEngine>,
        scratch: Mutex<Vec<BlockedScratch>>,
    },
    /// The chain engine, on the tree renumbered in depth-first order (as for `Blocked`).
    Chains {
        tree: Tree,
        node_old: Vec<u32>,
        eng: Box<ChainEngine>,
        scratch: Mutex<Vec<ChainScratch>>,
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
    /// The process-wide pool of `n_threads` workers ([`crate::pool`]).
    pool: Arc<rayon::ThreadPool>,
    /// Per-set transition tables, kept so that their buffers are reused (one per concurrent set).
    set_tables: Mutex<Vec<SetTables>>,
    /// The tip states, 2 bits per cell (4 per byte, pattern-major), for the expectations pass
    /// (a quarter of the input's size).
    packed: Vec<u8>,
    /// Scratch of the expectations pass, one per concurrent task.
    outside_scratch: Mutex<Vec<OutsideScratch>>,
    sparse_scratch: Mutex<Vec<SparseScratch>>,
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
            EngineChoice::Auto,
        )
    }

    /// [`Dataset::new`] with a choice of sparse engine (for tests and benchmarks).
    #[allow(clippy::too_many_arguments)] // the arguments of `gc_dataset_new` and the engine
    pub fn with_engine(
        n_tips: usize,
        parent: &[i32],
        branch_length: &[f64],
        n_patterns: usize,
        states: &[u8],
        n_threads: usize,
        algorithm: u32,
        choice: EngineChoice,
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
        let pool = crate::pool::shared_pool(n_threads)?;
        let algorithm = if algorithm == GC_ALGO_AUTO { GC_ALGO_SPARSE } else { algorithm };
        // A single-tip tree has no internal node to prune sparsely: the dense code handles it.
        let engine = if algorithm == GC_ALGO_DENSE || tree.n_nodes == tree.n_tips {
            Engine::Dense { states: states.to_vec(), scratch: Mutex::new(Vec::new()) }
        } else {
            let (stree, node_old) = tree.dfs_renumbered();
            let tip_col = &node_old[..tree.n_tips];
            let blocked = |stree: Tree, node_old: Vec<u32>| {
                let eng = pool
                    .install(|| BlockedEngine::new(&stree, states, n_patterns, &node_old[..stree.n_tips]));
                Engine::Blocked { tree: stree, node_old, eng: Box::new(eng), scratch: Mutex::new(Vec::new()) }
            };
            if choice == EngineChoice::Blocked || tree.n_nodes >= MAX_NODES {
                blocked(stree, node_old)
            } else {
                let eng = pool.install(|| ChainEngine::new(&stree, states, n_patterns, tip_col, n_threads));
                // Where patterns branch at most nodes (columns close to independent coin flips),
                // the blocked engine's SIMD over every node beats the mixed-node walk. Measured
                // on 1,324 tips: at 0.50 (iid columns of random frequency) blocked 6.3 ms and
                // mixed 8.8 ms per evaluation, so they break even near 0.36; simulated
                // pangenomes are far below (Yule 0.022, caterpillar 0.005, coalescent 0.004).
                let n_run = (eng.stats.n_unique - eng.stats.n_trivial).max(1);
                let work = (eng.stats.heads + eng.stats.chain_ops) as f64;
                let frac = work / (n_run * (tree.n_nodes - tree.n_tips)) as f64;
                if frac > BLOCKED_ABOVE && choice == EngineChoice::Auto {
                    drop(eng);
                    blocked(stree, node_old)
                } else {
                    Engine::Chains {
                        tree: stree,
                        node_old,
                        eng: Box::new(eng),
                        scratch: Mutex::new(Vec::new()),
                        set_msgs: Mutex::new(Vec::new()),
                    }
                }
            }
        };
        let tree_n_tips = tree.n_tips;
        Ok(Dataset {
            tree,
            n_patterns,
            n_threads,
            algorithm,
            engine,
            pool,
            set_tables: Mutex::new(Vec::new()),
            packed: pack_states(states, tree_n_tips),
            outside_scratch: Mutex::new(Vec::new()),
            sparse_scratch: Mutex::new(Vec::new()),
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
    pub fn blocked_stats(&self) -> Option<crate::engines::blocked::BlockedStats> {
        match &self.engine {
            Engine::Blocked { eng, .. } => Some(eng.stats),
            _ => None,
        }
    }

    /// Shape statistics of the chain engine, if it is the one used.
    pub fn chain_stats(&self) -> Option<crate::engines::chains::ChainStats> {
        match &self.engine {
            Engine::Chains { eng, .. } => Some(eng.stats),
            _ => None,
        }
    }

    /// Number of tree nodes (the per-branch layout has one rate pair per node).
    pub fn n_nodes(&self) -> usize {
        self.tree.n_nodes
    }

    /// Evaluates `rates = [gain0, loss0, ...]` (global layout, default directions) on every
    /// pattern into `out` (set-major), and the derivatives wrt log gain and log loss into `grad`
    /// when given. Validates lengths and rates.
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
        let req = Request {
            n_sets: rates.len() / 2,
            layout: RateLayout::Global,
            rates,
            tangents: None,
            patterns: None,
        };
        self.evaluate(&req, out, grad, progress)
    }

    /// Checks a request against this dataset; returns the number of rates per set and of
    /// evaluated patterns.
    fn validate(&self, req: &Request, n_out: usize, grad: Option<usize>) -> Result<(usize, usize), GcError> {
        let nn = self.tree.n_nodes;
        let (r, r_text) = match req.layout {
            RateLayout::Global => (2, "2".to_string()),
            RateLayout::PerBranch => (2 * nn, format!("2 * n_nodes ({})", 2 * nn)),
        };
        let too_large = || GcError::invalid(format!("n_sets ({}) is too large", req.n_sets));
        let n_rates = req.n_sets.checked_mul(r).ok_or_else(too_large)?;
        if req.rates.len() != n_rates {
            return Err(GcError::invalid(format!(
                "rates_len is {} but n_sets * {r_text} is {} * {r} = {n_rates}",
                req.rates.len(),
                req.n_sets
            )));
        }
        let what = |i: usize| {
            let (k, j) = (i / r, i % r);
            let rate = if j % 2 == 0 { "gain" } else { "loss" };
            match req.layout {
                RateLayout::Global => format!("{rate} of set {k}"),
                RateLayout::PerBranch => format!("{rate} of node {} in set {k}", j / 2),
            }
        };
        if let Some(i) = req.rates.iter().position(|&x| !(x.is_finite() && x > 0.0)) {
            return Err(GcError::invalid(format!(
                "rates[{i}] ({}) is {}: rates must be finite and > 0",
                what(i),
                req.rates[i]
            )));
        }
        if let Some(t) = req.tangents {
            if t.len() != 2 * n_rates {
                return Err(GcError::invalid(format!(
                    "tangents_len is {} but n_sets * 2 * {r_text} is {}: two directions per set, each over the set's rates (or NULL for d log gain and d log loss)",
                    t.len(),
                    2 * n_rates
                )));
            }
            if let Some(i) = t.iter().position(|x| !x.is_finite()) {
                let (k, j, e) = (i / (2 * r), i / r % 2, i % r);
                return Err(GcError::invalid(format!(
                    "tangents[{i}] (direction {j} of set {k}, d log {}) is {}: tangents must be finite",
                    what(k * r + e),
                    t[i]
                )));
            }
        }
        let n_eval = match req.patterns {
            None => self.n_patterns,
            Some(ps) => {
                for (i, &p) in ps.iter().enumerate() {
                    if p as usize >= self.n_patterns {
                        return Err(GcError::invalid(format!(
                            "patterns[{i}] is {p}, not below n_patterns ({})",
                            self.n_patterns
                        )));
                    }
                    if i > 0 && p <= ps[i - 1] {
                        return Err(GcError::invalid(format!(
                            "patterns[{i}] is {p}, not greater than patterns[{}] ({}): list pattern indices in strictly increasing order",
                            i - 1,
                            ps[i - 1]
                        )));
                    }
                }
                ps.len()
            }
        };
        let expected = req.n_sets.checked_mul(n_eval).ok_or_else(too_large)?;
        let (n_text, n_value) =
            if req.patterns.is_some() { ("patterns_len", n_eval) } else { ("n_patterns", self.n_patterns) };
        if n_out != expected {
            return Err(GcError::invalid(format!(
                "out_loglik_len is {n_out} but n_sets * {n_text} is {} * {n_value} = {expected}",
                req.n_sets
            )));
        }
        if let Some(g) = grad {
            if g != 2 * expected {
                return Err(GcError::invalid(format!(
                    "out_grad_len is {g} but 2 * n_sets * {n_text} is {}: pass NULL with length 0 for values only",
                    2 * expected
                )));
            }
        }
        Ok((r, n_eval))
    }

    /// Evaluates the rate assignments of `req` on its patterns into `out` (set-major over the
    /// evaluated patterns: `out[k * n_eval + i]`) and, when given, the two directional
    /// derivatives into `grad` (`grad[(k * n_eval + i) * 2 + j]`). Validates everything first.
    pub fn evaluate(
        &self,
        req: &Request,
        out: &mut [f64],
        grad: Option<&mut [f64]>,
        progress: Option<&Progress>,
    ) -> Result<(), GcError> {
        let (r, n_eval) = self.validate(req, out.len(), grad.as_ref().map(|g| g.len()))?;
        let n_sets = req.n_sets;
        let grad_ptr = grad.map_or(std::ptr::null_mut(), |g| g.as_mut_ptr());
        if let Some(p) = progress {
            p.done.store(0, Ordering::SeqCst);
            p.total.store((n_sets * n_eval) as u64, Ordering::SeqCst);
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
        // Where results go, and which parallel work units hold the evaluated patterns (all of
        // them, or only those holding a listed pattern): computed once for all sets.
        let (pairs, units) = match (&self.engine, req.patterns) {
            (Engine::Blocked { eng, .. }, Some(ps)) => eng.subset(ps),
            (Engine::Chains { eng, .. }, Some(ps)) => eng.subset(ps),
            _ => (Vec::new(), Vec::new()),
        };
        let subset = req.patterns.is_some();
        let (tree, node_old) = match &self.engine {
            Engine::Blocked { tree, node_old, .. } | Engine::Chains { tree, node_old, .. } => {
                (tree, Some(&node_old[..]))
            }
            Engine::Dense { .. } => (&self.tree, None),
        };
        // Without derivatives the tangents (checked above) are not needed.
        let tangents = if gradient { req.tangents } else { None };
        for k in 0..n_sets {
            if is_cancelled() {
                break;
            }
            let set_rates = match req.layout {
                RateLayout::Global => SetRates::Global {
                    gain: req.rates[2 * k],
                    loss: req.rates[2 * k + 1],
                    tangent: tangents.map(|t| [t[4 * k], t[4 * k + 1], t[4 * k + 2], t[4 * k + 3]]),
                },
                RateLayout::PerBranch => SetRates::PerNode {
                    rates: &req.rates[k * r..(k + 1) * r],
                    tangents: tangents.map(|t| &t[2 * k * r..2 * (k + 1) * r]),
                    node_old,
                },
            };
            let mut tabs = self.set_tables.lock().unwrap().pop().unwrap_or_default();
            tabs.refill(tree, set_rates);
            match &self.engine {
                Engine::Dense { states, scratch } => {
                    let nt = self.tree.n_tips;
                    let n_chunks = n_eval.div_ceil(DENSE_CHUNK);
                    self.pool.install(|| {
                        (0..n_chunks).into_par_iter().for_each(|ch| {
                            if is_cancelled() {
                                return;
                            }
                            let mut s = scratch.lock().unwrap().pop().unwrap_or_default();
                            let range = ch * DENSE_CHUNK..((ch + 1) * DENSE_CHUNK).min(n_eval);
                            let n = range.len() as u64;
                            let p = ptrs;
                            for i in range {
                                let pat = req.patterns.map_or(i, |ps| ps[i] as usize);
                                let st = &states[pat * nt..(pat + 1) * nt];
                                let (ll, g) = if gradient {
                                    eval_pattern::<true>(&self.tree, &tabs, st, &mut s)
                                } else {
                                    eval_pattern::<false>(&self.tree, &tabs, st, &mut s)
                                };
                                let o = k * n_eval + i;
                                // SAFETY: result `i` of set `k` is written by this task only.
                                unsafe {
                                    *p.out.add(o) = ll;
                                    if gradient {
                                        *p.grad.add(2 * o) = g[0];
                                        *p.grad.add(2 * o + 1) = g[1];
                                    }
                                }
                            }
                            scratch.lock().unwrap().push(s);
                            add_done(n);
                        })
                    });
                }
                Engine::Blocked { eng, scratch, .. } => {
                    let targets = if subset {
                        Targets::Subset { pairs: &pairs, n_out: n_eval }
                    } else {
                        eng.targets_all()
                    };
                    let base = if gradient {
                        eng.baseline::<true>(tree, &tabs)
                    } else {
                        eng.baseline::<false>(tree, &tabs)
                    };
                    let nb = if subset { units.len() } else { eng.n_blocks() };
                    let block = |i: usize| if subset { units[i] as usize } else { i };
                    let chunk = (nb / (self.n_threads * 16)).clamp(1, 64);
                    let n_chunks = nb.div_ceil(chunk);
                    self.pool.install(|| {
                        (0..n_chunks).into_par_iter().for_each(|ch| {
                            if is_cancelled() {
                                return;
                            }
                            let mut s = scratch.lock().unwrap().pop().unwrap_or_else(|| eng.scratch());
                            let p = ptrs;
                            let mut n = 0;
                            for i in ch * chunk..((ch + 1) * chunk).min(nb) {
                                // SAFETY: each pattern belongs to exactly one block; the
                                // buffers were checked above.
                                n += unsafe {
                                    if gradient {
                                        eng.run_block::<true>(
                                            block(i),
                                            &tabs,
                                            &base,
                                            &mut s,
                                            &targets,
                                            k,
                                            p.out,
                                            p.grad,
                                        )
                                    } else {
                                        eng.run_block::<false>(
                                            block(i),
                                            &tabs,
                                            &base,
                                            &mut s,
                                            &targets,
                                            k,
                                            p.out,
                                            p.grad,
                                        )
                                    }
                                };
                            }
                            scratch.lock().unwrap().push(s);
                            add_done(n);
                        })
                    });
                    // SAFETY: trivial patterns are in no block.
                    let n = unsafe { eng.write_trivial(&base, &targets, k, ptrs.out, ptrs.grad) };
                    add_done(n);
                }
                Engine::Chains { eng, scratch, set_msgs, .. } => {
                    let targets = if subset {
                        Targets::Subset { pairs: &pairs, n_out: n_eval }
                    } else {
                        eng.targets_all()
                    };
                    let mut msgs = set_msgs.lock().unwrap().pop().unwrap_or_default();
                    if gradient {
                        eng.set_messages::<true>(tree, &tabs, &mut msgs);
                    } else {
                        eng.set_messages::<false>(tree, &tabs, &mut msgs);
                    }
                    // A full evaluation runs the engine's work chunks; a subset, groups of
                    // the bundles that hold its patterns.
                    let per = (units.len() / (self.n_threads * 16)).clamp(1, 64);
                    let n_tasks = if subset { units.len().div_ceil(per) } else { eng.n_chunks() };
                    self.pool.install(|| {
                        (0..n_tasks).into_par_iter().for_each(|ch| {
                            if is_cancelled() {
                                return;
                            }
                            let mut s = scratch.lock().unwrap().pop().unwrap_or_default();
                            let p = ptrs;
                            // SAFETY: each distinct pattern (and so each original pattern)
                            // belongs to exactly one bundle and chunk; the buffers were checked
                            // above.
                            let n = unsafe {
                                match (subset, gradient) {
                                    (false, true) => eng.run_chunk::<true>(
                                        ch, tree, &tabs, &msgs, &mut s, &targets, k, p.out, p.grad,
                                    ),
                                    (false, false) => eng.run_chunk::<false>(
                                        ch, tree, &tabs, &msgs, &mut s, &targets, k, p.out, p.grad,
                                    ),
                                    (true, g) => {
                                        let bs = &units[ch * per..((ch + 1) * per).min(units.len())];
                                        let bs = bs.iter().map(|&b| b as usize);
                                        if g {
                                            eng.run_bundles::<true>(
                                                bs, tree, &tabs, &msgs, &mut s, &targets, k, p.out, p.grad,
                                            )
                                        } else {
                                            eng.run_bundles::<false>(
                                                bs, tree, &tabs, &msgs, &mut s, &targets, k, p.out, p.grad,
                                            )
                                        }
                                    }
                                }
                            };
                            scratch.lock().unwrap().push(s);
                            add_done(n);
                        })
                    });
                    // SAFETY: patterns without a mixed node are in no chunk.
                    let n = unsafe {
                        if gradient {
                            eng.write_trivial::<true>(&msgs, &targets, k, ptrs.out, ptrs.grad)
                        } else {
                            eng.write_trivial::<false>(&msgs, &targets, k, ptrs.out, ptrs.grad)
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

/// Packs states (each 0, 1 or 2) at 2 bits per cell, 4 cells per byte, each pattern's row
/// starting on a byte (`n_tips.div_ceil(4)` bytes per row, padding cells 0).
fn pack_states(states: &[u8], n_tips: usize) -> Vec<u8> {
    let row = n_tips.div_ceil(4);
    let mut out = vec![0u8; states.len().checked_div(n_tips).unwrap_or(0) * row];
    if n_tips == 0 {
        return out;
    }
    for (cells, bytes) in states.chunks_exact(n_tips).zip(out.chunks_exact_mut(row)) {
        let mut quads = cells.chunks_exact(4);
        for (q, b) in (&mut quads).zip(bytes.iter_mut()) {
            *b = q[0] | q[1] << 2 | q[2] << 4 | q[3] << 6;
        }
        for (j, &c) in quads.remainder().iter().enumerate() {
            bytes[row - 1] |= c << (2 * j);
        }
    }
    out
}

/// The inputs of one expectations pass (the fields of `gc_expect_args` other than the outputs).
#[derive(Debug, Clone, Copy)]
pub struct ExpectRequest<'a> {
    /// Number of parameter sets.
    pub n_sets: usize,
    /// How `rates` assigns rates to branches.
    pub layout: RateLayout,
    /// `n_sets * r` rates, `r` = 2 (global) or `2 * n_nodes` (per branch).
    pub rates: &'a [f64],
    /// Strictly increasing pattern indices, or `None` for all.
    pub patterns: Option<&'a [u32]>,
    /// `n_sets * n_eval` pattern weights `w[k * n_eval + i]` (finite; 0 leaves a pattern out of
    /// the sums), or `None` for 1.
    pub weights: Option<&'a [f64]>,
}

/// Patterns per reduction chunk of the expectations pass: at least 64, and at most 128 chunks,
/// from the number of evaluated patterns only, so the summation order (patterns in order within
/// a chunk, chunks in order) never depends on the thread count.
fn expect_chunk(n_eval: usize) -> usize {
    n_eval.div_ceil(128).max(64)
}

#[derive(Clone, Copy)]
struct ExpectPtrs {
    ll: *mut f64,
    per: *mut f64,
}
// SAFETY: tasks write disjoint elements only.
unsafe impl Send for ExpectPtrs {}
unsafe impl Sync for ExpectPtrs {}

impl Dataset {
    /// The expectations pass (see `gc_expectations` in `genecontent.h`): for each set `k`,
    /// `out_loglik[k * n_eval + i]` as [`Dataset::evaluate`] computes it,
    /// `out_branch[(k * n_nodes + v) * 4 + 2 a + b]` the weighted sums over the evaluated
    /// patterns of the coefficients `O_v(a) I_v(b) / L` (root: its posterior state on the
    /// diagonal), and with `out_per_pattern` the same per pattern
    /// (`[((k * n_eval + i) * n_nodes + v) * 4 + 2 a + b]`). Node indices are the caller's.
    /// Validates everything before writing anything.
    pub fn expectations(
        &self,
        req: &ExpectRequest,
        out_loglik: &mut [f64],
        out_branch: &mut [f64],
        out_per_pattern: Option<&mut [f64]>,
        progress: Option<&Progress>,
    ) -> Result<(), GcError> {
        let eval_req = Request {
            n_sets: req.n_sets,
            layout: req.layout,
            rates: req.rates,
            tangents: None,
            patterns: req.patterns,
        };
        let (r, n_eval) = self.validate(&eval_req, out_loglik.len(), None)?;
        let n_sets = req.n_sets;
        let nn = self.tree.n_nodes;
        let nt = self.tree.n_tips;
        let n_w = n_sets * n_eval;
        let pat_text = if req.patterns.is_some() { "patterns_len" } else { "n_patterns" };
        if let Some(w) = req.weights {
            if w.len() != n_w {
                return Err(GcError::invalid(format!(
                    "weights_len is {} but n_sets * {pat_text} is {n_sets} * {n_eval} = {n_w} (or pass NULL with length 0 for weights 1)",
                    w.len()
                )));
            }
            if let Some(i) = w.iter().position(|&x| !x.is_finite()) {
                return Err(GcError::invalid(format!(
                    "weights[{i}] (set {}, evaluated pattern {}) is {}: weights must be finite",
                    i / n_eval.max(1),
                    i % n_eval.max(1),
                    w[i]
                )));
            }
        }
        let too_large = || GcError::invalid(format!("n_sets ({n_sets}) is too large"));
        let n_branch = n_sets.checked_mul(4 * nn).ok_or_else(too_large)?;
        if out_branch.len() != n_branch {
            return Err(GcError::invalid(format!(
                "out_branch_len is {} but n_sets * n_nodes * 4 is {n_sets} * {nn} * 4 = {n_branch}",
                out_branch.len()
            )));
        }
        if let Some(pp) = &out_per_pattern {
            let want = n_w.checked_mul(4 * nn).ok_or_else(too_large)?;
            if pp.len() != want {
                return Err(GcError::invalid(format!(
                    "out_per_pattern_len is {} but n_sets * {pat_text} * n_nodes * 4 is {n_sets} * {n_eval} * {nn} * 4 = {want} (or pass NULL with length 0)",
                    pp.len()
                )));
            }
        }
        if let Some(p) = progress {
            p.done.store(0, Ordering::SeqCst);
            p.total.store(n_w as u64, Ordering::SeqCst);
        }
        let cancelled = AtomicBool::new(false);
        let is_cancelled = || {
            cancelled.load(Ordering::Relaxed)
                || progress.is_some_and(|p| {
                    let c = p.cancel.load(Ordering::Relaxed) != 0;
                    if c {
                        cancelled.store(true, Ordering::Relaxed);
                    }
                    c
                })
        };
        let ptrs = ExpectPtrs {
            ll: out_loglik.as_mut_ptr(),
            per: out_per_pattern.map_or(std::ptr::null_mut(), |p| p.as_mut_ptr()),
        };
        let chunk = expect_chunk(n_eval);
        let n_chunks = n_eval.div_ceil(chunk);
        // Without per-pattern terms, the sparse pass: per pattern only the nodes whose subtree
        // holds more than one tip state; uniform subtrees are swept once per set.
        let sparse = ptrs.per.is_null();
        let facts = if sparse { Some(TreeFacts::new(&self.tree)) } else { None };
        let mut sums = vec![0.0f64; n_chunks * 4 * nn];
        let mut accs = vec![[0.0f64; 2]; n_chunks * 3 * nn];
        let mut uni = UniformTables::default();
        for k in 0..n_sets {
            if is_cancelled() {
                break;
            }
            let set_rates = match req.layout {
                RateLayout::Global => {
                    SetRates::Global { gain: req.rates[2 * k], loss: req.rates[2 * k + 1], tangent: None }
                }
                RateLayout::PerBranch => SetRates::PerNode {
                    rates: &req.rates[k * r..(k + 1) * r],
                    tangents: None,
                    node_old: None,
                },
            };
            let mut tabs = self.set_tables.lock().unwrap().pop().unwrap_or_default();
            tabs.refill(&self.tree, set_rates);
            if sparse {
                uni.refill(&self.tree, &tabs);
            }
            let row_bytes = nt.div_ceil(4);
            let row = |pat: usize| &self.packed[pat * row_bytes..(pat + 1) * row_bytes];
            let unpack = |pat: usize, states: &mut Vec<u8>| {
                states.resize(nt, 0);
                let r = row(pat);
                for (t, st) in states.iter_mut().enumerate() {
                    *st = (r[t / 4] >> (2 * (t % 4))) & 3;
                }
            };
            self.pool.install(|| {
                sums.par_chunks_mut(4 * nn).zip(accs.par_chunks_mut(3 * nn)).enumerate().for_each(
                    |(ch, (acc, up))| {
                        acc.fill(0.0);
                        up.fill([0.0; 2]);
                        if is_cancelled() {
                            return;
                        }
                        let range = ch * chunk..((ch + 1) * chunk).min(n_eval);
                        let n = range.len() as u64;
                        let p = ptrs;
                        if let Some(facts) = &facts {
                            let mut s = self.sparse_scratch.lock().unwrap().pop().unwrap_or_default();
                            for i in range {
                                let r = row(req.patterns.map_or(i, |ps| ps[i] as usize));
                                let w = req.weights.map_or(1.0, |w| w[k * n_eval + i]);
                                let ll = expect_pattern_sparse(
                                    &self.tree, facts, &tabs, &uni, r, w, &mut s, acc, up,
                                );
                                // SAFETY: result `i` of set `k` is written by this task only.
                                unsafe { *p.ll.add(k * n_eval + i) = ll };
                            }
                            self.sparse_scratch.lock().unwrap().push(s);
                        } else {
                            let mut s = self.outside_scratch.lock().unwrap().pop().unwrap_or_default();
                            for i in range {
                                unpack(req.patterns.map_or(i, |ps| ps[i] as usize), &mut s.states);
                                let w = req.weights.map_or(1.0, |w| w[k * n_eval + i]);
                                let ll = expect_pattern(&self.tree, &tabs, w, &mut s);
                                if w != 0.0 {
                                    for (a, x) in acc.iter_mut().zip(&s.row) {
                                        *a += x;
                                    }
                                }
                                let o = k * n_eval + i;
                                // SAFETY: result `i` of set `k` is written by this task only; the
                                // buffers were checked above.
                                unsafe {
                                    *p.ll.add(o) = ll;
                                    std::ptr::copy_nonoverlapping(
                                        s.row.as_ptr(),
                                        p.per.add(o * 4 * nn),
                                        4 * nn,
                                    );
                                }
                            }
                            self.outside_scratch.lock().unwrap().push(s);
                        }
                        if let Some(pg) = progress {
                            pg.done.fetch_add(n, Ordering::Relaxed);
                        }
                    },
                )
            });
            let out = &mut out_branch[k * 4 * nn..(k + 1) * 4 * nn];
            out.fill(0.0);
            for acc in sums.chunks(4 * nn) {
                for (o, x) in out.iter_mut().zip(acc) {
                    *o += x;
                }
            }
            if sparse {
                let (first, rest) = accs.split_at_mut(3 * nn);
                for up in rest.chunks(3 * nn) {
                    for (a, x) in first.iter_mut().zip(up) {
                        a[0] += x[0];
                        a[1] += x[1];
                    }
                }
                if n_chunks > 0 {
                    uni.sweep(&self.tree, &tabs, first, out);
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
