//! GC_ALGO_SPARSE, chain engine: each pattern computes only its mixed nodes, and runs of pass
//! nodes are applied as precomputed 2x2 chain matrices (the default sparse engine; see
//! `dataset.rs` for when the blocked engine of `blocked.rs` is used instead).
//!
//! A subtree whose tips are all absent (or all present), with no missing tip, is *uniform*: its
//! partial likelihood, and the message it sends up its branch, are the same for every pattern.
//! Per call and parameter set they are computed once for every node and both states
//! (O(nodes), [`ChainEngine::set_messages`]). A pattern then only computes its *mixed* internal
//! nodes: those whose subtree holds both a 0 and a 1 tip, or a missing tip beside an observed
//! one. A subtree of missing tips only has the partial (1, 1) and sends the message (1, 1).
//!
//! Most mixed nodes are *pass* nodes: binary, with one mixed child and one uniform (or
//! missing) child. The message a pass node sends up is a linear map of the message its mixed
//! child sends, `m' = P(u) diag(s) m`, where `s` is the other child's message; that 2x2 *chain
//! matrix* depends only on the node and the other child's state. A run of `2^l` consecutive
//! pass nodes whose other children share one state is likewise one matrix, the product of
//! theirs. Per call, the engine computes the level-0 matrices of every node and the products
//! (binary lifting) that some pattern uses, each rescaled by powers of two like a partial
//! ([`lift_closure`]). A pattern's chain of `n` pass nodes then costs one matrix-vector product
//! per set bit of each run's length instead of `n` node computations.
//!
//! At creation, identical columns are merged and every distinct pattern gets a *program*: its
//! mixed nodes other than pass nodes (*heads*) in post-order (the root's chain last), each as a
//! *segment*: the head's node word (plus the flag [`GENERAL`] when it does not have exactly two
//! children, or [`CHERRY`] when neither of its two children is mixed: its message then only
//! depends on their states and is read from a per-set table), a destination slot, one *source*
//! word per child saying where its message is read (an entry of the per-set message table,
//! `2 c + s` for a uniform child `c` in state `s`, `2 n_nodes` for the constant (1, 1) of a missing
//! subtree, or, with the flag [`SCRATCH`], the slot where an earlier segment stored it), the
//! number of chain matrices, and their indices. A segment computes its head, applies the chain
//! above it in registers and stores the message of the chain's top in its slot.
//!
//! Patterns are sorted by their first head (nodes are numbered depth-first, so nearby patterns
//! touch nearby table entries) and cut into *bundles* of [`BUNDLE`] patterns whose programs are
//! interleaved into one stream of segments, each program spread evenly over the stream, so that
//! the processor overlaps the dependency chains of different patterns by itself. Slots are
//! reused as soon as their message is read, so a bundle's live messages stay in a few cache
//! lines. A pattern without a mixed node is all-absent, all-present or all-missing; its value
//! is precomputed per set ([`ChainEngine::write_trivial`]). A pattern subset runs only the
//! bundles that hold listed patterns ([`ChainEngine::subset`]); a pattern's result is the same
//! whichever other patterns run.
//!
//! Messages are `[m0, m1, exponent, 0]`: partials, messages and chain matrices are scaled by
//! exact powers of two (see `scaling.rs`); derivatives (wrt log gain and log loss) are carried
//! forward in tables and slots of the same shape. Each pattern is computed by the same
//! operations in the same order whatever its bundle, chunk or thread, so results are
//! bit-identical for every thread count.

use crate::engines::dense::{root_combine, uniform_messages};
use crate::grouping::{group_members, subset_pairs, Targets};
use crate::scaling::{rescale_scalar, TINY};
use crate::transition::{multiply, SetTables};
use crate::tree::Tree;
use rayon::prelude::*;
use std::collections::HashMap;

/// Program words hold node ids, cherry keys (`9 n_nodes`) and chain-matrix indices
/// (`(MAX_LEVEL + 1) 3 n_nodes`) in 30 or 32 bits; larger trees use the blocked engine.
pub const MAX_NODES: usize = 1 << 24;

/// Flag of a head's node word: the node does not have exactly two children.
pub const GENERAL: u32 = 1 << 31;
/// Flag of a head's node word: a *cherry*, a binary node whose two children are not mixed, so
/// that its message only depends on their states; the word's index bits name a per-set cherry
/// message, and no source words follow.
pub const CHERRY: u32 = 1 << 30;
/// The node (or cherry) bits of a head's node word.
const NODE: u32 = CHERRY - 1;
/// Flag of a source word: the message is in a scratch slot (else in the per-set table).
pub const SCRATCH: u32 = 1 << 31;
/// The index bits of a node or source word.
const INDEX: u32 = !SCRATCH;

/// The longest chain matrix spans 2^MAX_LEVEL pass nodes.
const MAX_LEVEL: usize = 15;

/// Patterns interleaved in one bundle.
pub const BUNDLE: usize = 8;

/// Subtree content bits: a 0 tip, a 1 tip, a missing tip.
const HAS0: u8 = 1;
const HAS1: u8 = 2;
const HASM: u8 = 4;

/// Whether a subtree with content bits `b` is mixed (both states, or missing beside observed).
#[inline(always)]
fn is_mixed(b: u8) -> bool {
    matches!(b, 3 | 5 | 6 | 7)
}

/// Shape statistics of a chain engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChainStats {
    /// Distinct patterns.
    pub n_unique: usize,
    /// Distinct patterns with no mixed node (all absent, all present or all missing).
    pub n_trivial: usize,
    /// Mixed nodes over all distinct patterns (per evaluation).
    pub mixed_nodes: usize,
    /// Child messages multiplied over all distinct patterns (per evaluation).
    pub child_ops: usize,
    /// Segment heads (mixed nodes computed from their children's messages or, for cherries,
    /// read from the per-set table) over all distinct patterns.
    pub heads: usize,
    /// Chain matrices applied over all distinct patterns (each stands for 2^l pass nodes).
    pub chain_ops: usize,
    /// Parallel work chunks.
    pub n_chunks: usize,
}

/// The precomputed, rate-independent part of the mixed-node algorithm.
pub struct ChainEngine {
    /// Original patterns of the distinct pattern run `r`-th: `orig[orig_start[r]..orig_start[r + 1]]`
    /// (the patterns of the bundles in order, then the trivial patterns), so that results are
    /// written in one sweep through these lists.
    orig_start: Vec<u32>,
    orig: Vec<u32>,
    /// The distinct pattern (run position) of every original pattern.
    run_of: Vec<u32>,
    /// Steps of bundle `b`: `prog[bundle_prog[b]..bundle_prog[b + 1]]`.
    prog: Vec<u32>,
    bundle_prog: Vec<usize>,
    /// Patterns of bundle `b`: run positions `bundle_pats[b]..bundle_pats[b + 1]`, with the
    /// scratch slot of their root segment in `root_slot`.
    bundle_pats: Vec<u32>,
    root_slot: Vec<u32>,
    /// Root content bits of the distinct patterns without a mixed node (run last).
    trivial: Vec<u8>,
    /// The most scratch slots any bundle needs.
    max_slots: usize,
    /// Bundles `chunks[i]..chunks[i + 1]` form work chunk `i`.
    chunks: Vec<u32>,
    /// The chain matrices of more than one pass node the programs use (see [`lift_closure`]).
    lift: Vec<(u32, u32)>,
    /// The cherry messages the programs use, by key (see [`CHERRY`]); a program word names
    /// the position in this list.
    cherries: Vec<u32>,
    /// Shape statistics.
    pub stats: ChainStats,
}

/// Per-set tables shared (read-only) by all workers (filled by
/// [`ChainEngine::set_messages`]; keep one to reuse its buffers): the uniform messages of every node
/// (entry `2 v + s` for state `s`; entry `2 n_nodes` is the missing message (1, 1)), their
/// derivatives (with `G`), and the results of the all-absent / all-present / all-missing
/// patterns.
#[derive(Default)]
pub struct SetMessages {
    val: Vec<[f64; 4]>,
    der: Vec<[f64; 4]>,
    /// Chain matrices: entry `3 x + s` (`s` = 0 absent, 1 present, 2 missing) maps the message
    /// node `x` sends to its binary parent `u` to the message `u` sends up its own branch when
    /// `u`'s other child `c` is uniform in state `s`: `A = P(u) diag(m)`, `m` the message of
    /// `c`; entries from `3 n_nodes` on are products of such matrices along longer chains
    /// (see [`lift_closure`]). Stored by columns as [`apply`] reads them, `[A00, A10, A01,
    /// A11]`, times `2^chain_ex`; with `G`, derivatives `[dA/da (4), dA/db (4)]` likewise.
    chain: Vec<[f64; 4]>,
    chain_ex: Vec<f64>,
    chain_der: Vec<[f64; 8]>,
    /// Every node's P (and with `G` its derivatives) by columns, the layout of [`apply`].
    pcol: Vec<[f64; 4]>,
    dpcol: Vec<[f64; 8]>,
    /// The messages (`[m0, m1, exponent, 0]`) and derivatives of the cherries the programs use.
    cherry: Vec<[f64; 4]>,
    cherry_der: Vec<[f64; 4]>,
    /// Root results indexed by root content bits 1 (all absent), 2 (all present), 4 (missing).
    root: [(f64, [f64; 2]); 8],
}

/// Per-worker scratch: the slots (values, derivatives) of one bundle's segments.
#[derive(Default)]
pub struct ChainScratch {
    val: Vec<[f64; 4]>,
    der: Vec<[f64; 4]>,
}

/// A fast 64-bit hash of a column (only used to find candidates for exact comparison).
fn column_hash(col: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = col.len() as u64;
    let mut it = col.chunks_exact(8);
    for c in &mut it {
        let w = u64::from_le_bytes(c.try_into().unwrap());
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for &b in it.remainder() {
        h = (h.rotate_left(5) ^ b as u64).wrapping_mul(K);
    }
    h ^ (h >> 29)
}

/// Programs of a range of distinct patterns, built by one task; sources of mixed children hold
/// [`SCRATCH`] plus the segment number within the pattern's own program.
#[derive(Default)]
struct Programs {
    prog: Vec<u32>,
    /// Program words, segments and mixed nodes of each pattern of the range.
    words: Vec<u32>,
    segs: Vec<u32>,
    nodes: Vec<u32>,
    /// First head of each pattern (its lowest-numbered mixed node that is not a pass node;
    /// `u32::MAX` if none) and its root content bits.
    first: Vec<u32>,
    root_bits: Vec<u8>,
    child_ops: usize,
    chain_ops: usize,
    /// Chain matrices of level >= 1 the programs use (indices into the lifted table).
    used: Vec<u32>,
    /// Cherry messages the programs use (`9 v + 3 s0 + s1` for node `v` whose children are in
    /// states `s0`, `s1`: 0 absent, 1 present, 2 missing).
    cherries: Vec<u32>,
}

/// Interleaved segments of a range of bundles, built by one task.
#[derive(Default)]
struct Bundles {
    prog: Vec<u32>,
    words: Vec<u32>,
    root_slot: Vec<u32>,
    max_slots: usize,
}

impl ChainEngine {
    /// Builds the engine for `n_patterns` pattern-major columns `states` on `tree`, whose tip
    /// `t` is column entry `tip_col[t]` (see [`Tree::dfs_renumbered`]). Runs on the current
    /// Rayon pool. `tree.n_nodes` must be below [`MAX_NODES`] and above `tree.n_tips`.
    pub fn new(tree: &Tree, states: &[u8], n_patterns: usize, tip_col: &[u32], n_threads: usize) -> Self {
        let nt = tree.n_tips;
        let nn = tree.n_nodes;
        assert!(nn < MAX_NODES && nn > nt);
        let col = |p: usize| &states[p * nt..(p + 1) * nt];

        // Merge identical columns: hash in parallel, compare exactly.
        let hashes: Vec<u64> = (0..n_patterns).into_par_iter().map(|p| column_hash(col(p))).collect();
        let mut map: HashMap<u64, u32> = HashMap::with_capacity(n_patterns);
        let mut collided: HashMap<&[u8], u32> = HashMap::new();
        let mut uniq_of = Vec::with_capacity(n_patterns);
        let mut first: Vec<u32> = Vec::new();
        for (p, &hash) in hashes.iter().enumerate() {
            let next = first.len() as u32;
            let u = match map.get(&hash) {
                Some(&u) if col(first[u as usize] as usize) == col(p) => u,
                Some(_) => *collided.entry(col(p)).or_insert(next),
                None => {
                    map.insert(hash, next);
                    next
                }
            };
            if u == next {
                first.push(p as u32);
            }
            uniq_of.push(u);
        }
        drop((map, collided, hashes));
        let nu = first.len();
        let (orig_start, orig) = group_members(&uniq_of, nu);
        drop(uniq_of);

        // Programs, in parallel over ranges of distinct patterns.
        let n_ranges = (n_threads * 8).clamp(1, nu.max(1));
        let per = nu.div_ceil(n_ranges).max(1);
        let built: Vec<Programs> = (0..nu.div_ceil(per))
            .into_par_iter()
            .map(|r| {
                let range = r * per..((r + 1) * per).min(nu);
                build_programs(tree, range.map(|u| col(first[u] as usize)), tip_col)
            })
            .collect();
        drop(first);
        // Where each pattern's program starts, and the patterns in run order: by first head
        // (locality), then by length.
        let mut at = Vec::with_capacity(nu);
        let mut segs = Vec::with_capacity(nu);
        let mut firsts = Vec::with_capacity(nu);
        let mut trivial = Vec::new();
        let mut stats = ChainStats { n_unique: nu, ..Default::default() };
        for (r, b) in built.iter().enumerate() {
            let mut a = 0usize;
            for i in 0..b.words.len() {
                at.push((r, a));
                a += b.words[i] as usize;
                segs.push(b.segs[i]);
                firsts.push(b.first[i]);
                if b.segs[i] == 0 {
                    trivial.push(((r * per + i) as u32, b.root_bits[i]));
                }
                stats.mixed_nodes += b.nodes[i] as usize;
                stats.heads += b.segs[i] as usize;
            }
            stats.child_ops += b.child_ops;
            stats.chain_ops += b.chain_ops;
        }
        stats.n_trivial = trivial.len();
        let mut order: Vec<u32> = (0..nu as u32).filter(|&u| segs[u as usize] != 0).collect();
        order.sort_by_key(|&u| (firsts[u as usize], segs[u as usize]));
        drop(firsts);

        let (lift, remap) = lift_closure(tree, built.iter().flat_map(|b| b.used.iter().copied()));
        let mut cherries: Vec<u32> = built.iter().flat_map(|b| b.cherries.iter().copied()).collect();
        cherries.par_sort_unstable();
        cherries.dedup();

        // Bundles, interleaved in parallel over ranges of bundles.
        let n_bundles = order.len().div_ceil(BUNDLE);
        let per_b = n_bundles.div_ceil(n_threads * 8).max(1);
        let inter: Vec<Bundles> = (0..n_bundles.div_ceil(per_b))
            .into_par_iter()
            .map(|r| {
                let mut out = Bundles::default();
                for b in r * per_b..((r + 1) * per_b).min(n_bundles) {
                    let members = &order[b * BUNDLE..((b + 1) * BUNDLE).min(order.len())];
                    let progs: Vec<&[u32]> = members
                        .iter()
                        .map(|&u| {
                            let (r, a) = at[u as usize];
                            let w = built[r].words[u as usize - r * per] as usize;
                            &built[r].prog[a..a + w]
                        })
                        .collect();
                    interleave(
                        tree,
                        &progs,
                        &remap,
                        |key| cherries.binary_search(&key).unwrap() as u32,
                        &mut out,
                    );
                }
                out
            })
            .collect();
        drop(built);

        // Original patterns in run order.
        let n_run = order.len();
        let mut run_orig_start = Vec::with_capacity(nu + 1);
        let mut run_orig = Vec::with_capacity(orig.len());
        run_orig_start.push(0);
        for &u in order.iter().chain(trivial.iter().map(|(u, _)| u)) {
            run_orig.extend_from_slice(
                &orig[orig_start[u as usize] as usize..orig_start[u as usize + 1] as usize],
            );
            run_orig_start.push(run_orig.len() as u32);
        }
        drop((orig, orig_start, order));
        let mut run_of = vec![0u32; n_patterns];
        for r in 0..run_orig_start.len() - 1 {
            for &p in &run_orig[run_orig_start[r] as usize..run_orig_start[r + 1] as usize] {
                run_of[p as usize] = r as u32;
            }
        }

        let total: usize = inter.iter().map(|b| b.prog.len()).sum();
        let mut eng = ChainEngine {
            orig_start: run_orig_start,
            orig: run_orig,
            run_of,
            prog: Vec::with_capacity(total),
            bundle_prog: Vec::with_capacity(n_bundles + 1),
            bundle_pats: Vec::with_capacity(n_bundles + 1),
            root_slot: Vec::with_capacity(n_run),
            trivial: trivial.iter().map(|&(_, b)| b).collect(),
            max_slots: 1,
            chunks: Vec::new(),
            lift,
            cherries,
            stats,
        };
        eng.bundle_prog.push(0);
        for b in inter {
            let mut a = eng.prog.len();
            eng.prog.extend_from_slice(&b.prog);
            for &w in &b.words {
                a += w as usize;
                eng.bundle_prog.push(a);
            }
            eng.root_slot.extend_from_slice(&b.root_slot);
            eng.max_slots = eng.max_slots.max(b.max_slots);
        }
        eng.bundle_pats = (0..=n_bundles).map(|b| (b * BUNDLE).min(n_run) as u32).collect();

        // Work chunks of roughly equal cost (program words), many more than threads for load
        // balance, few enough that per-chunk overhead is small.
        let target = (total / (n_threads * 24).max(1)).max(4096);
        eng.chunks.push(0);
        let mut acc = 0usize;
        for b in 0..n_bundles {
            acc += eng.bundle_prog[b + 1] - eng.bundle_prog[b];
            if acc >= target {
                eng.chunks.push(b as u32 + 1);
                acc = 0;
            }
        }
        if *eng.chunks.last().unwrap() as usize != n_bundles {
            eng.chunks.push(n_bundles as u32);
        }
        eng.stats.n_chunks = eng.chunks.len() - 1;
        eng
    }

    /// Number of work chunks.
    pub fn n_chunks(&self) -> usize {
        self.chunks.len() - 1
    }

    /// Computes the per-set message tables into `msgs` (serial, O(n_nodes) plus the chain
    /// matrices the programs use; buffers are reused from call to call); with `G`, derivatives
    /// too.
    pub fn set_messages<const G: bool>(&self, tree: &Tree, tabs: &SetTables, msgs: &mut SetMessages) {
        let nn = tree.n_nodes;
        // The kernel sends the root's partial through its branch matrix, which must then be the
        // identity: the tree stores length 0 above the root, where P = I and dP = 0 exactly.
        assert!(tree.branch_length[nn - 1] == 0.0);
        let w = 3 * nn;
        let n_chain = w + self.lift.len();
        let SetMessages { val, der, chain, chain_ex, chain_der, pcol, dpcol, cherry, cherry_der, root } =
            msgs;
        pcol.clear();
        pcol.extend(tabs.p.iter().map(|p| [p[0], p[2], p[1], p[3]]));
        if G {
            dpcol.clear();
            dpcol.extend(tabs.dp.iter().map(|d| [d[0], d[2], d[1], d[3], d[4], d[6], d[5], d[7]]));
        }
        // Every entry read is written below (the unused level-0 chain entries of nodes under a
        // non-binary parent are never read), so stale values from an earlier call are harmless.
        val.resize(2 * nn + 1, [0.0; 4]);
        chain.resize(n_chain, [0.0; 4]);
        chain_ex.resize(n_chain, 0.0);
        if G {
            der.resize(2 * nn + 1, [0.0; 4]);
            chain_der.resize(n_chain, [0.0; 8]);
        }
        *root = [(f64::NAN, [f64::NAN; 2]); 8];
        val[2 * nn] = [1.0, 1.0, 0.0, 0.0];
        if G {
            der[2 * nn] = [0.0; 4];
        }
        // Without programs, only the states of the uniform patterns are needed (the all-absent
        // column of the ascertainment correction is such a dataset).
        let needed = |b: usize| !self.prog.is_empty() || self.trivial.iter().any(|&r| r as usize == 1 << b);
        for b in (0..2).filter(|&b| needed(b)) {
            root[1 << b] = uniform_messages::<G>(tree, tabs, b, val, der, |v| 2 * v + b);
        }
        root[HASM as usize] = root_combine::<G>(tabs, [1.0, 1.0], [0.0; 4], 0.0);

        // Cherries: the same operations as a binary head reading two table sources.
        cherry.resize(self.cherries.len(), [0.0; 4]);
        if G {
            cherry_der.resize(self.cherries.len(), [0.0; 4]);
        }
        for (i, &key) in self.cherries.iter().enumerate() {
            let v = key as usize / 9;
            let src = |c: u32, s: usize| if s == 2 { 2 * nn } else { 2 * c as usize + s };
            let ch = tree.children_of(v);
            let (a, b) = (src(ch[0], key as usize % 9 / 3), src(ch[1], key as usize % 3));
            let (da, db) = if G { (der[a], der[b]) } else { ([0.0; 4], [0.0; 4]) };
            let (mut l, mut d, mut ex) = pair::<G>(val[a], val[b], da, db);
            if (l[0] < TINY) & (l[1] < TINY) {
                ex += rescale_scalar::<G>(&mut l, &mut d);
            }
            let (m, dm) = tabs.message::<G>(v, l, d);
            cherry[i] = [m[0], m[1], ex, 0.0];
            if G {
                cherry_der[i] = dm;
            }
        }

        // Level 0: the chain matrix of each node `x` whose parent is binary, for each state of
        // the parent's other child (none are read when no pattern has a mixed node).
        for x in (0..nn - 1).take(if self.prog.is_empty() { 0 } else { nn }) {
            let u = tree.parent[x] as usize;
            let ch = tree.children_of(u);
            if ch.len() != 2 {
                continue;
            }
            let sib = if ch[0] as usize == x { ch[1] } else { ch[0] } as usize;
            let (p, dp) = (tabs.p[u], tabs.dp[u]);
            for s in 0..3 {
                let i = if s == 2 { 2 * nn } else { 2 * sib + s };
                let m = val[i];
                let i3 = 3 * x + s;
                chain[i3] = [p[0] * m[0], p[2] * m[0], p[1] * m[1], p[3] * m[1]];
                chain_ex[i3] = m[2];
                if G {
                    let dm = der[i];
                    chain_der[i3] = [
                        dp[0] * m[0] + p[0] * dm[0],
                        dp[2] * m[0] + p[2] * dm[0],
                        dp[1] * m[1] + p[1] * dm[1],
                        dp[3] * m[1] + p[3] * dm[1],
                        dp[4] * m[0] + p[0] * dm[2],
                        dp[6] * m[0] + p[2] * dm[2],
                        dp[5] * m[1] + p[1] * dm[3],
                        dp[7] * m[1] + p[3] * dm[3],
                    ];
                }
            }
        }
        // Longer chains: the upper half applied after the lower half, rescaled like partials.
        for (k, &(lo, hi)) in self.lift.iter().enumerate() {
            let (lo, hi) = (lo as usize, hi as usize);
            let (a, b) = (chain[hi], chain[lo]);
            let mut c = [
                a[0] * b[0] + a[2] * b[1],
                a[1] * b[0] + a[3] * b[1],
                a[0] * b[2] + a[2] * b[3],
                a[1] * b[2] + a[3] * b[3],
            ];
            let mut ex = chain_ex[hi] + chain_ex[lo];
            let mut dc = [0.0; 8];
            if G {
                let (da, db) = (chain_der[hi], chain_der[lo]);
                for r in 0..2 {
                    let (da, db) = (&da[4 * r..4 * r + 4], &db[4 * r..4 * r + 4]);
                    dc[4 * r] = da[0] * b[0] + da[2] * b[1] + a[0] * db[0] + a[2] * db[1];
                    dc[4 * r + 1] = da[1] * b[0] + da[3] * b[1] + a[1] * db[0] + a[3] * db[1];
                    dc[4 * r + 2] = da[0] * b[2] + da[2] * b[3] + a[0] * db[2] + a[2] * db[3];
                    dc[4 * r + 3] = da[1] * b[2] + da[3] * b[3] + a[1] * db[2] + a[3] * db[3];
                }
            }
            let mx = c.iter().fold(0.0f64, |m, &v| m.max(v));
            if mx < TINY && mx > 0.0 {
                let (e, f) = crate::scaling::exponent_and_factor(mx);
                c.iter_mut().for_each(|v| *v *= f);
                dc.iter_mut().for_each(|v| *v *= f);
                ex += e;
            }
            chain[w + k] = c;
            chain_ex[w + k] = ex;
            if G {
                chain_der[w + k] = dc;
            }
        }
    }

    /// Where the results of a full evaluation go (every original pattern).
    pub fn targets_all(&self) -> Targets<'_> {
        Targets::All { start: &self.orig_start, members: &self.orig, n_out: self.run_of.len() }
    }

    /// The subset `patterns` (strictly increasing original patterns) as `(run position,
    /// output position)` pairs for [`Targets::Subset`], and the bundles that hold them, in
    /// increasing order: a subset evaluation runs only those bundles.
    pub fn subset(&self, patterns: &[u32]) -> (Vec<(u32, u32)>, Vec<u32>) {
        let pairs = subset_pairs(patterns, &self.run_of);
        let n_run = *self.bundle_pats.last().unwrap() as usize;
        let mut bundles: Vec<u32> = pairs
            .iter()
            .map(|&(r, _)| r as usize)
            .take_while(|&r| r < n_run)
            .map(|r| (r / BUNDLE) as u32)
            .collect();
        bundles.dedup();
        (pairs, bundles)
    }

    /// Writes the results of the patterns without a mixed node for set `k`; returns the number
    /// of results written.
    ///
    /// # Safety
    /// As [`ChainEngine::run_chunk`]; these patterns are in no chunk.
    pub unsafe fn write_trivial<const G: bool>(
        &self,
        msgs: &SetMessages,
        targets: &Targets,
        k: usize,
        out: *mut f64,
        grad: *mut f64,
    ) -> u64 {
        let mut n = 0;
        let first = self.orig_start.len() - 1 - self.trivial.len();
        let grad = if G { grad } else { std::ptr::null_mut() };
        match targets {
            Targets::All { .. } => {
                for (t, &bits) in self.trivial.iter().enumerate() {
                    n += targets.write(first + t, msgs.root[bits as usize], k, out, grad);
                }
            }
            Targets::Subset { pairs, .. } => {
                let a = pairs.partition_point(|&(r, _)| (r as usize) < first);
                let mut last = u32::MAX;
                for &(r, _) in &pairs[a..] {
                    if r != last {
                        let bits = self.trivial[r as usize - first];
                        n += targets.write(r as usize, msgs.root[bits as usize], k, out, grad);
                        last = r;
                    }
                }
            }
        }
        n
    }

    /// Runs work chunk `ch` for set `k` and writes its patterns' results; returns the number
    /// of results written.
    ///
    /// # Safety
    /// `out` must hold `(k + 1) * n_out` values of `targets` and `grad` (if not null) twice
    /// that; no other thread writes the same patterns.
    #[allow(clippy::too_many_arguments)] // one call's tables, scratch and outputs, all needed
    pub unsafe fn run_chunk<const G: bool>(
        &self,
        ch: usize,
        tree: &Tree,
        tabs: &SetTables,
        msgs: &SetMessages,
        s: &mut ChainScratch,
        targets: &Targets,
        k: usize,
        out: *mut f64,
        grad: *mut f64,
    ) -> u64 {
        let bundles = self.chunks[ch] as usize..self.chunks[ch + 1] as usize;
        self.run_bundles::<G>(bundles, tree, tabs, msgs, s, targets, k, out, grad)
    }

    /// Runs `bundles` for set `k` and writes their patterns' results (those `targets` lists);
    /// returns the number of results written.
    ///
    /// # Safety
    /// As [`ChainEngine::run_chunk`]; bundle indices below the number of bundles.
    #[allow(clippy::too_many_arguments)] // one call's tables, scratch and outputs, all needed
    pub unsafe fn run_bundles<const G: bool>(
        &self,
        bundles: impl Iterator<Item = usize>,
        tree: &Tree,
        tabs: &SetTables,
        msgs: &SetMessages,
        s: &mut ChainScratch,
        targets: &Targets,
        k: usize,
        out: *mut f64,
        grad: *mut f64,
    ) -> u64 {
        if s.val.len() < self.max_slots {
            s.val.resize(self.max_slots, [0.0; 4]);
        }
        if G && s.der.len() < self.max_slots {
            s.der.resize(self.max_slots, [0.0; 4]);
        }
        let x = Ctx {
            cs: tree.child_start.as_ptr(),
            p: msgs.pcol.as_ptr(),
            dp: msgs.dpcol.as_ptr(),
            val: msgs.val.as_ptr(),
            der: if G { msgs.der.as_ptr() } else { std::ptr::null() },
            chain: msgs.chain.as_ptr(),
            chain_ex: msgs.chain_ex.as_ptr(),
            chain_der: if G { msgs.chain_der.as_ptr() } else { std::ptr::null() },
            cherry: msgs.cherry.as_ptr(),
            cherry_der: if G { msgs.cherry_der.as_ptr() } else { std::ptr::null() },
            st: s.val.as_mut_ptr(),
            sd: if G { s.der.as_mut_ptr() } else { std::ptr::null_mut() },
        };
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        let mut n = 0u64;
        let grad = if G { grad } else { std::ptr::null_mut() };
        for b in bundles {
            let (a, e) = (self.bundle_prog[b], self.bundle_prog[b + 1]);
            let (a, e) = (self.prog.as_ptr().add(a), self.prog.as_ptr().add(e));
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                run_segments_avx2::<G>(&x, a, e);
            } else {
                run_segments::<G>(&x, a, e);
            }
            #[cfg(not(target_arch = "x86_64"))]
            run_segments::<G>(&x, a, e);
            for i in self.bundle_pats[b] as usize..self.bundle_pats[b + 1] as usize {
                let slot = self.root_slot[i] as usize;
                let d = if G { *x.sd.add(slot) } else { [0.0; 4] };
                let r = finish::<G>(tabs, *x.st.add(slot), d);
                n += targets.write(i, r, k, out, grad);
            }
        }
        n
    }
}

/// Programs of the columns `cols` (tip `t` is entry `tip_col[t]`), as segments (see
/// [`segment_len`]); sources of mixed children hold [`SCRATCH`] plus the number of the segment
/// (within the pattern's program) whose chain ends at that child.
fn build_programs<'a>(tree: &Tree, cols: impl Iterator<Item = &'a [u8]>, tip_col: &[u32]) -> Programs {
    const TIP_BITS: [u8; 3] = [HAS0, HAS1, HASM];
    let (nt, nn) = (tree.n_tips, tree.n_nodes);
    let mut out = Programs::default();
    let mut bits = vec![0u8; nn];
    let mut seg_of = vec![0u32; nn];
    let mut runs: Vec<(u32, u32, u32)> = Vec::new();
    // Source word of a child with content bits `b` that is not mixed.
    let uniform = |c: u32, b: u8| if b == HASM { 2 * nn as u32 } else { 2 * c + (b == HAS1) as u32 };
    for c in cols {
        for t in 0..nt {
            bits[t] = TIP_BITS[c[tip_col[t] as usize] as usize];
        }
        bits[nt..].fill(0);
        for i in 0..nn - 1 {
            let x = bits[i];
            bits[tree.parent[i] as usize] |= x;
        }
        // A binary mixed node with exactly one mixed child continues its child's chain.
        let is_pass = |v: usize| {
            let ch = tree.children_of(v);
            ch.len() == 2
                && is_mixed(bits[v])
                && (is_mixed(bits[ch[0] as usize]) != is_mixed(bits[ch[1] as usize]))
        };
        let start = out.prog.len();
        let mut segs = 0u32;
        let mut nodes = 0u32;
        let mut first = u32::MAX;
        for v in nt..nn {
            if !is_mixed(bits[v]) || is_pass(v) {
                continue;
            }
            // A head: its chain runs up through the pass nodes above it.
            let ch = tree.children_of(v);
            first = first.min(v as u32);
            out.child_ops += ch.len();
            if ch.len() == 2 && !is_mixed(bits[ch[0] as usize]) && !is_mixed(bits[ch[1] as usize]) {
                let state = |c: u32| match bits[c as usize] {
                    HASM => 2,
                    b => (b == HAS1) as u32,
                };
                let key = 9 * v as u32 + 3 * state(ch[0]) + state(ch[1]);
                out.cherries.push(key);
                out.prog.push(CHERRY | key);
            } else {
                out.prog.push(v as u32 | if ch.len() == 2 { 0 } else { GENERAL });
                for &c in ch {
                    let b = bits[c as usize];
                    out.prog.push(if is_mixed(b) { SCRATCH | seg_of[c as usize] } else { uniform(c, b) });
                }
            }
            let n_at = out.prog.len();
            out.prog.push(0);
            // The chain's pass nodes, as runs whose other children share one state: a run of
            // `len` nodes from `x` is applied as chain matrices of 2^l nodes, longest first.
            let (mut top, mut n_pass, mut n_ops) = (v, 0u32, 0u32);
            runs.clear();
            while top != nn - 1 && is_pass(tree.parent[top] as usize) {
                let u = tree.parent[top] as usize;
                let ch = tree.children_of(u);
                let sib = if ch[0] as usize == top { ch[1] } else { ch[0] };
                let b = bits[sib as usize];
                let st = if b == HASM { 2 } else { (b == HAS1) as u32 };
                match runs.last_mut() {
                    Some((_, s, len)) if *s == st => *len += 1,
                    _ => runs.push((top as u32, st, 1)),
                }
                top = u;
                n_pass += 1;
            }
            for &(x0, st, len) in &runs {
                let (mut x, mut len) = (x0 as usize, len);
                while len > 0 {
                    let l = (31 - len.leading_zeros()).min(MAX_LEVEL as u32) as usize;
                    out.prog.push((l * 3 * nn + 3 * x) as u32 + st);
                    if l > 0 {
                        out.used.push((l * 3 * nn + 3 * x) as u32 + st);
                    }
                    for _ in 0..1u32 << l {
                        x = tree.parent[x] as usize;
                    }
                    len -= 1 << l;
                    n_ops += 1;
                    out.chain_ops += 1;
                }
            }
            out.child_ops += 2 * n_pass as usize;
            out.prog[n_at] = n_ops;
            seg_of[top] = segs;
            segs += 1;
            nodes += 1 + n_pass;
        }
        out.words.push((out.prog.len() - start) as u32);
        out.segs.push(segs);
        out.nodes.push(nodes);
        out.first.push(first);
        out.root_bits.push(bits[nn - 1]);
    }
    out
}

/// The chain matrices of level `l >= 1` that the `used` program words name (word
/// `l * 3 n_nodes + 3 x + s`: the `2^l` pass nodes from node `x` up, other children in state
/// `s`), with those they are computed from, as a compact table: entry `3 n_nodes + k` is
/// entry `lift[k].1` times entry `lift[k].0` (the upper half applied after the lower half;
/// entries below `3 n_nodes` are the level-0 matrices), in an order where both come first.
/// Also returns the map from program word to compact entry (`u32::MAX` where unused).
fn lift_closure(tree: &Tree, used: impl Iterator<Item = u32>) -> (Vec<(u32, u32)>, Vec<u32>) {
    let w = 3 * tree.n_nodes;
    let mut mark: Vec<Vec<bool>> = vec![vec![false; w]; 1];
    for u in used {
        let (l, i) = (u as usize / w, u as usize % w);
        while mark.len() <= l {
            mark.push(vec![false; w]);
        }
        mark[l][i] = true;
    }
    let n_levels = mark.len();
    // The lower halves of each marked entry, marked top-down.
    let mut halves = vec![Vec::new(); n_levels];
    for l in (1..n_levels).rev() {
        for i in 0..w {
            if !mark[l][i] {
                continue;
            }
            let mut x = i / 3;
            for _ in 0..1u32 << (l - 1) {
                x = tree.parent[x] as usize;
            }
            let j = 3 * x + i % 3;
            mark[l - 1][i] = true;
            mark[l - 1][j] = true;
            halves[l].push((i as u32, j as u32));
        }
    }
    // Compact numbering, bottom-up.
    let mut remap = vec![u32::MAX; n_levels * w];
    for (i, r) in remap[..w].iter_mut().enumerate() {
        *r = i as u32;
    }
    let mut lift = Vec::new();
    for (l, hs) in halves.iter().enumerate().skip(1) {
        for &(i, j) in hs {
            let below = (l - 1) * w;
            lift.push((remap[below + i as usize], remap[below + j as usize]));
            remap[l * w + i as usize] = (w + lift.len() - 1) as u32;
        }
    }
    (lift, remap)
}

/// Words of the segment at the start of `p` in a pattern's own program: the head's node word,
/// one source word per child, the number `n` of pass nodes, and `n` pairs of a pass node and
/// the source word of its other child. In a bundle, a destination slot follows the node word.
#[inline]
fn segment_len(tree: &Tree, p: &[u32]) -> usize {
    let k = head_sources(tree, p[0]);
    2 + k + p[1 + k] as usize
}

/// Number of source words after a head's node word `w`.
#[inline]
fn head_sources(tree: &Tree, w: u32) -> usize {
    if w & CHERRY != 0 && w & GENERAL == 0 {
        0
    } else {
        tree.children_of((w & NODE) as usize).len()
    }
}

/// Interleaves the programs `progs` (sources of mixed children numbered by segment within each
/// program) into one bundle appended to `out`: segment `j` of a program of `n` segments goes to
/// position `(j + 1/2) / n` of the stream (ties by program), so that every program is spread
/// over the whole bundle, and mixed sources are renumbered to scratch slots.
fn interleave(
    tree: &Tree,
    progs: &[&[u32]],
    remap: &[u32],
    cherry_of: impl Fn(u32) -> u32,
    out: &mut Bundles,
) {
    // Word offset of every segment of every program.
    let offsets: Vec<Vec<u32>> = progs
        .iter()
        .map(|p| {
            let mut o = Vec::new();
            let mut a = 0usize;
            while a < p.len() {
                o.push(a as u32);
                a += segment_len(tree, &p[a..]);
            }
            o
        })
        .collect();
    let mut order: Vec<(u32, u32)> = offsets
        .iter()
        .enumerate()
        .flat_map(|(i, o)| (0..o.len() as u32).map(move |j| (i as u32, j)))
        .collect();
    // (2j + 1) / (2 n_i) < (2j' + 1) / (2 n_i'), compared exactly in integers.
    order.sort_by(|&(i, j), &(i2, j2)| {
        let a = (2 * j as u64 + 1) * offsets[i2 as usize].len() as u64;
        let b = (2 * j2 as u64 + 1) * offsets[i as usize].len() as u64;
        a.cmp(&b).then(i.cmp(&i2))
    });
    // Scratch slots: a message is read once, by its parent's segment, which may then store its
    // own message in the same slot (it reads its sources first); freed slots are reused
    // last-in first-out, so the bundle's live messages stay in a few cache lines. Root messages
    // are never read by a segment and keep their slots until the bundle ends.
    let mut slot: Vec<Vec<u32>> = offsets.iter().map(|o| vec![0; o.len()]).collect();
    let mut free: Vec<u32> = Vec::new();
    let mut n_slots = 0u32;
    let start = out.prog.len();
    for &(i, j) in &order {
        let (i, j) = (i as usize, j as usize);
        let a = offsets[i][j] as usize;
        let seg = &progs[i][a..a + segment_len(tree, &progs[i][a..])];
        let k = head_sources(tree, seg[0]);
        let at = out.prog.len();
        out.prog.push(if k == 0 { CHERRY | cherry_of(seg[0] & NODE) } else { seg[0] });
        out.prog.push(0);
        for &w in &seg[1..1 + k] {
            out.prog.push(if w & SCRATCH != 0 {
                let s = slot[i][(w & INDEX) as usize];
                free.push(s);
                SCRATCH | s
            } else {
                w
            });
        }
        out.prog.push(seg[1 + k]);
        out.prog.extend(seg[2 + k..].iter().map(|&w| remap[w as usize]));
        let s = free.pop().unwrap_or_else(|| {
            n_slots += 1;
            n_slots - 1
        });
        slot[i][j] = s;
        out.prog[at + 1] = s;
    }
    for s in &slot {
        out.root_slot.push(*s.last().unwrap());
    }
    out.words.push((out.prog.len() - start) as u32);
    out.max_slots = out.max_slots.max(n_slots as usize);
}

/// The result of a root partial (`[l0, l1, exponent, _]`, derivatives `d`). Not inlined: LLVM
/// treats `ln` as pure and would otherwise compute it speculatively after every node.
#[inline(never)]
fn finish<const G: bool>(tabs: &SetTables, m: [f64; 4], d: [f64; 4]) -> (f64, [f64; 2]) {
    root_combine::<G>(tabs, [m[0], m[1]], d, m[2])
}

/// Raw views of the tables one chunk reads and the scratch it writes.
struct Ctx {
    cs: *const u32,
    p: *const [f64; 4],
    dp: *const [f64; 8],
    val: *const [f64; 4],
    der: *const [f64; 4],
    chain: *const [f64; 4],
    chain_ex: *const f64,
    chain_der: *const [f64; 8],
    cherry: *const [f64; 4],
    cherry_der: *const [f64; 4],
    st: *mut [f64; 4],
    sd: *mut [f64; 4],
}

/// Address of the message a source word `w` names: entry `w` of `table`, or, with the flag
/// [`SCRATCH`], slot `w` of `scratch`. Branch-free (which it is is not predictable).
#[inline(always)]
fn source(table: *const [f64; 4], scratch: *const [f64; 4], w: u32) -> *const [f64; 4] {
    let base = if w & SCRATCH != 0 { scratch } else { table };
    base.wrapping_add((w & INDEX) as usize)
}

/// [`run_segments`] compiled for AVX2 (wider loads and stores of the 4-double messages; no FMA
/// contraction, so the results are those of the portable build, bit for bit).
///
/// # Safety
/// As [`run_segments`]; the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_segments_avx2<const G: bool>(x: &Ctx, pos: *const u32, end: *const u32) {
    run_segments::<G>(x, pos, end)
}

/// Runs the segments `[pos, end)` of a bundle: each computes its head node from its sources,
/// then the pass nodes of its chain in registers, and stores the message of the chain's top
/// (values `[m0, m1, exponent, 0]`, derivatives with `G`) in its destination slot.
///
/// # Safety
/// Segments are built from this tree: node ids < n_nodes, one source word per child of the
/// head, table sources < 2 n_nodes + 1, scratch sources written by an earlier segment.
#[inline(always)]
unsafe fn run_segments<const G: bool>(x: &Ctx, mut pos: *const u32, end: *const u32) {
    let (st, sd) = (x.st, x.sd);
    while pos < end {
        let w = *pos;
        let v = (w & NODE) as usize;
        let slot = *pos.add(1) as usize;
        pos = pos.add(2);
        let (mut m, mut dm, mut ex);
        if w & (GENERAL | CHERRY) == CHERRY {
            let c = *x.cherry.add(v);
            (m, ex) = ([c[0], c[1]], c[2]);
            dm = if G { *x.cherry_der.add(v) } else { [0.0; 4] };
        } else {
            let mut l;
            let mut d = [0.0; 4];
            if w & GENERAL == 0 {
                let (a, b) = (*pos, *pos.add(1));
                pos = pos.add(2);
                let (da, db) =
                    if G { (*source(x.der, sd, a), *source(x.der, sd, b)) } else { ([0.0; 4], [0.0; 4]) };
                (l, d, ex) = pair::<G>(*source(x.val, st, a), *source(x.val, st, b), da, db);
            } else {
                let k = (*x.cs.add(v + 1) - *x.cs.add(v)) as usize;
                l = [1.0, 1.0];
                ex = 0.0;
                for j in 0..k {
                    let s = *pos.add(j);
                    let m = *source(x.val, st, s);
                    let dm = if G { *source(x.der, sd, s) } else { [0.0; 4] };
                    ex += m[2];
                    multiply::<G>(&mut l, &mut d, [m[0], m[1]], dm);
                    if j % 3 == 2 {
                        ex += rescale_scalar::<G>(&mut l, &mut d);
                    }
                }
                pos = pos.add(k);
            }
            (m, dm) = send::<G>(x, v, &mut l, &mut d, &mut ex);
        }
        let n_pass = *pos as usize;
        pos = pos.add(1);
        for _ in 0..n_pass {
            let i = *pos as usize;
            pos = pos.add(1);
            ex += *x.chain_ex.add(i);
            let da = if G { *x.chain_der.add(i) } else { [0.0; 8] };
            (m, dm) = apply::<G>(*x.chain.add(i), da, m, dm);
            if (m[0] < TINY) & (m[1] < TINY) {
                ex += rescale_scalar::<G>(&mut m, &mut dm);
            }
        }
        *st.add(slot) = [m[0], m[1], ex, 0.0];
        if G {
            *sd.add(slot) = dm;
        }
    }
}

/// The partial of a binary node from its children's messages `ma`, `mb` (`[m0, m1, exponent,
/// _]`, derivatives `da`, `db`): the product, its derivatives (product rule) and exponent.
#[inline(always)]
fn pair<const G: bool>(ma: [f64; 4], mb: [f64; 4], da: [f64; 4], db: [f64; 4]) -> ([f64; 2], [f64; 4], f64) {
    let l = [ma[0] * mb[0], ma[1] * mb[1]];
    let d = if G {
        [
            da[0] * mb[0] + ma[0] * db[0],
            da[1] * mb[1] + ma[1] * db[1],
            da[2] * mb[0] + ma[0] * db[2],
            da[3] * mb[1] + ma[1] * db[3],
        ]
    } else {
        [0.0; 4]
    };
    (l, d, ma[2] + mb[2])
}

/// `A v` and its derivatives `dA v + A dv` for a 2x2 matrix `a` stored by columns, `[A00, A10,
/// A01, A11]` (two columns times broadcast entries, no horizontal sums), with derivatives `da`
/// (`[dA/da (4), dA/db (4)]`, same layout) and `dv = [dv0/da, dv1/da, dv0/db, dv1/db]`.
#[inline(always)]
fn apply<const G: bool>(a: [f64; 4], da: [f64; 8], v: [f64; 2], dv: [f64; 4]) -> ([f64; 2], [f64; 4]) {
    let m = [a[0] * v[0] + a[2] * v[1], a[1] * v[0] + a[3] * v[1]];
    if !G {
        return (m, [0.0; 4]);
    }
    (
        m,
        [
            da[0] * v[0] + da[2] * v[1] + a[0] * dv[0] + a[2] * dv[1],
            da[1] * v[0] + da[3] * v[1] + a[1] * dv[0] + a[3] * dv[1],
            da[4] * v[0] + da[6] * v[1] + a[0] * dv[2] + a[2] * dv[3],
            da[5] * v[0] + da[7] * v[1] + a[1] * dv[2] + a[3] * dv[3],
        ],
    )
}

/// The message node `v` with partial `l` (derivatives `d`, exponent `ex`) sends up its branch,
/// after rescaling `l` if it is tiny.
#[inline(always)]
unsafe fn send<const G: bool>(
    x: &Ctx,
    v: usize,
    l: &mut [f64; 2],
    d: &mut [f64; 4],
    ex: &mut f64,
) -> ([f64; 2], [f64; 4]) {
    // Both entries below the threshold is the same test as the larger one below it, without
    // the NaN handling of `f64::max`.
    if (l[0] < TINY) & (l[1] < TINY) {
        *ex += rescale_scalar::<G>(l, d);
    }
    let dp = if G { *x.dp.add(v) } else { [0.0; 8] };
    apply::<G>(*x.p.add(v), dp, *l, *d)
}
