//! GC_ALGO_SPARSE, blocked engine: minority-state sparse pruning in blocks of 8 patterns. Used
//! where patterns branch at most nodes (columns close to independent coin flips), where its
//! SIMD over every node beats the chain engine of `chains.rs`, and for trees too large for
//! that engine's program words.
//!
//! At creation, identical patterns are merged and every distinct pattern gets a baseline: the
//! all-absent column when fewer of its observed tips are present than absent, else the
//! all-present column. Its *deviating* tips differ from the baseline (missing tips always
//! deviate); only the nodes on their root paths differ from the baseline's partials. Patterns
//! are sorted by baseline and by the depth-first ranks of their deviating tips, so neighbours
//! share root paths, and cut into blocks of [`LANES`] patterns processed together in
//! struct-of-arrays layout (one f64 per lane, which the compiler vectorises). Each block gets a
//! small program: the union of its patterns' touched internal nodes in post-order and, per
//! child, where its message comes from (a recomputed slot, a tip's state in each lane, or the
//! baseline's precomputed message). Blocks whose union covers most of the tree run a shared
//! full-tree program instead.
//!
//! Per call and parameter set, the baseline partials of every node (normalised, with a
//! power-of-two exponent) and their branch messages, with forward-mode derivatives, are
//! computed once; blocks then only touch their programs' nodes. A pattern subset runs only the
//! blocks that hold listed patterns ([`BlockedEngine::subset`]).

use crate::engines::dense::{root_combine, uniform_messages};
use crate::grouping::{group_members, subset_pairs, Targets};
use crate::scaling::{exponent_and_factor, rescale_scalar, TINY};
use crate::transition::{multiply, SetTables};
use crate::tree::Tree;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// [`BlockedEngine::block_of`] of a distinct pattern equal to its baseline (in no block).
const TRIVIAL: u32 = u32::MAX;

/// Patterns per block (two AVX2 vectors of f64).
pub const LANES: usize = 8;
type V = [f64; LANES];

/// A pattern is "heavy" (run on the full tree) when its own touched ops exceed this share of
/// the tree's edges; a block becomes full when its union of touched ops does.
const HEAVY_FRAC: f64 = 0.5;
const FULL_FRAC: f64 = 0.75;

#[derive(Clone, Copy)]
pub(crate) struct Op {
    pub(crate) child: u32,
    pub(crate) arg: u32,
}

/// A program node: its ops are `[op_start, slot_end)` recomputed children (arg = slot),
/// `[slot_end, tip_end)` tips (arg = lane-state row), `[tip_end, op_end)` baseline children.
#[derive(Clone, Copy)]
pub(crate) struct NodeRec {
    pub(crate) op_start: u32,
    pub(crate) slot_end: u32,
    pub(crate) tip_end: u32,
    pub(crate) op_end: u32,
}

#[derive(Clone, Copy)]
pub(crate) struct Block {
    pub(crate) baseline: u8,
    n_lanes: u8,
    pats: [u32; LANES],
    pub(crate) node_start: u32,
    pub(crate) node_end: u32,
    pub(crate) rows_start: u32,
}

/// The precomputed, rate-independent part of the sparse algorithm.
pub struct BlockedEngine {
    orig_start: Vec<u32>,
    orig: Vec<u32>,
    /// The distinct pattern of every original pattern.
    dist_of: Vec<u32>,
    /// The block of every distinct pattern ([`TRIVIAL`] for those equal to their baseline).
    block_of: Vec<u32>,
    /// The baseline (0 all absent, 1 all present) of every distinct pattern.
    base_of: Vec<u8>,
    trivial: Vec<(u32, u8)>,
    blocks: Vec<Block>,
    pub(crate) nodes: Vec<NodeRec>,
    pub(crate) ops: Vec<Op>,
    pub(crate) rows: Vec<[u8; LANES]>,
    max_slots: usize,
    /// Statistics: number of full blocks, sparse blocks, and total lane-ops executed per set.
    pub stats: BlockedStats,
}

/// Shape statistics of a sparse engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockedStats {
    /// Distinct patterns.
    pub n_unique: usize,
    /// Distinct patterns equal to their baseline.
    pub n_trivial: usize,
    /// Blocks on the full tree.
    pub full_blocks: usize,
    /// Blocks with a sparse program.
    pub sparse_blocks: usize,
    /// Ops (child messages) per evaluation, counted per block.
    pub block_ops: usize,
    /// Ops a per-pattern sparse scheme would need (sum of touched ops over patterns).
    pub pattern_ops: usize,
}

/// Per-thread scratch: one slot per program node.
#[derive(Default)]
pub struct BlockedScratch {
    pub(crate) val: Vec<[V; 3]>,
    pub(crate) grad: Vec<[V; 4]>,
}

/// Per-set baseline tables: per node and baseline, the branch message with the exponent of
/// the subtree (`[m0, m1, exponent, 0]`) and the message's derivatives.
pub struct Baseline {
    pub(crate) val: [Vec<[f64; 4]>; 2],
    pub(crate) der: [Vec<[f64; 4]>; 2],
    root: [(f64, [f64; 2]); 2],
}

struct Marks {
    stamp: Vec<u32>,
    gen: u32,
}

impl Marks {
    fn next(&mut self) {
        self.gen += 1;
    }
    #[inline]
    fn mark(&mut self, v: usize) -> bool {
        if self.stamp[v] == self.gen {
            false
        } else {
            self.stamp[v] = self.gen;
            true
        }
    }
    #[inline]
    fn is(&self, v: usize) -> bool {
        self.stamp[v] == self.gen
    }
}

impl BlockedEngine {
    /// Builds the engine for `n_patterns` pattern-major columns `states` on `tree`, whose tip
    /// `t` is column entry `tip_col[t]` (see [`Tree::dfs_renumbered`]).
    pub fn new(tree: &Tree, states: &[u8], n_patterns: usize, tip_col: &[u32]) -> Self {
        let nt = tree.n_tips;
        let nn = tree.n_nodes;
        let n_edges = nn - 1;
        // Merge identical columns.
        let mut map: HashMap<&[u8], u32> = HashMap::with_capacity(n_patterns);
        let mut uniq_of = Vec::with_capacity(n_patterns);
        let mut first: Vec<u32> = Vec::new();
        for p in 0..n_patterns {
            let col = &states[p * nt..(p + 1) * nt];
            let next = first.len() as u32;
            let u = *map.entry(col).or_insert(next);
            if u == next {
                first.push(p as u32);
            }
            uniq_of.push(u);
        }
        drop(map);
        let nu = first.len();
        let (orig_start, orig) = group_members(&uniq_of, nu);
        let dist_of = uniq_of;
        let col = |u: usize| {
            let p = first[u] as usize;
            &states[p * nt..(p + 1) * nt]
        };

        // Baseline, deviating tips (by DFS rank) and touched ops of every distinct pattern.
        let rank = tree.tip_dfs_rank();
        let mut tip_at_rank = vec![0u32; nt];
        for (t, &r) in rank.iter().enumerate() {
            tip_at_rank[r as usize] = t as u32;
        }
        let mut marks = Marks { stamp: vec![0; nn], gen: 0 };
        let mut dev_start = vec![0usize; nu + 1];
        let mut dev: Vec<u32> = Vec::new();
        let mut baseline = vec![0u8; nu];
        let mut trivial = Vec::new();
        let mut heavy = Vec::new();
        let mut light = Vec::new();
        let mut stats = BlockedStats { n_unique: nu, ..Default::default() };
        for u in 0..nu {
            let c = col(u);
            let (mut n0, mut n1) = (0usize, 0usize);
            for &s in c {
                n0 += (s == 0) as usize;
                n1 += (s == 1) as usize;
            }
            let b = if n1 < n0 { 0u8 } else { 1u8 };
            baseline[u] = b;
            for (r, &t) in tip_at_rank.iter().enumerate() {
                if c[tip_col[t as usize] as usize] != b {
                    dev.push(r as u32);
                }
            }
            dev_start[u + 1] = dev.len();
            marks.next();
            let mut ops = 0usize;
            for &r in &dev[dev_start[u]..] {
                let mut v = tree.parent[tip_at_rank[r as usize] as usize] as usize;
                while v < nn && marks.mark(v) {
                    ops += tree.children_of(v).len();
                    v = tree.parent[v] as usize;
                }
            }
            stats.pattern_ops += ops;
            if dev_start[u + 1] == dev_start[u] {
                trivial.push((u as u32, b));
            } else if ops as f64 > HEAVY_FRAC * n_edges as f64 {
                heavy.push(u as u32);
            } else {
                light.push(u as u32);
            }
        }
        light.sort_by(|&x, &y| {
            let (x, y) = (x as usize, y as usize);
            baseline[x]
                .cmp(&baseline[y])
                .then_with(|| dev[dev_start[x]..dev_start[x + 1]].cmp(&dev[dev_start[y]..dev_start[y + 1]]))
        });

        let mut eng = BlockedEngine {
            orig_start,
            orig,
            dist_of,
            block_of: vec![TRIVIAL; nu],
            base_of: Vec::new(),
            trivial,
            blocks: Vec::new(),
            nodes: Vec::new(),
            ops: Vec::new(),
            rows: Vec::new(),
            max_slots: 0,
            stats,
        };
        // The shared full-tree program: slot of internal node v is v - n_tips; tip op number k
        // reads row k of the block's transposed states (rows are stored in the order the
        // program reads them, so the hardware prefetcher streams them).
        let full_start = eng.nodes.len() as u32;
        // Internal nodes in index order, which is a depth-first post-order (`dfs_renumbered`):
        // children were computed just before their parent and are still in L1.
        let mut full_tip_order: Vec<u32> = Vec::with_capacity(nt);
        for v in nt..nn {
            let op_start = eng.ops.len() as u32;
            for &c in tree.children_of(v) {
                if c as usize >= nt {
                    eng.ops.push(Op { child: c, arg: c - nt as u32 });
                }
            }
            let slot_end = eng.ops.len() as u32;
            for &c in tree.children_of(v) {
                if (c as usize) < nt {
                    eng.ops.push(Op { child: c, arg: full_tip_order.len() as u32 });
                    full_tip_order.push(c);
                }
            }
            let end = eng.ops.len() as u32;
            eng.nodes.push(NodeRec { op_start, slot_end, tip_end: end, op_end: end });
        }
        let full_end = eng.nodes.len() as u32;
        eng.max_slots = nn - nt;

        let lanes_of = |group: &[u32]| {
            let mut pats = [group[0]; LANES];
            pats[..group.len()].copy_from_slice(group);
            pats
        };
        let push_full = |eng: &mut BlockedEngine, group: &[u32], b: u8| {
            let pats = lanes_of(group);
            let rows_start = eng.rows.len() as u32;
            for &t in &full_tip_order {
                let mut row = [0u8; LANES];
                for l in 0..LANES {
                    row[l] = col(pats[l] as usize)[tip_col[t as usize] as usize];
                }
                eng.rows.push(row);
            }
            eng.blocks.push(Block {
                baseline: b,
                n_lanes: group.len() as u8,
                pats,
                node_start: full_start,
                node_end: full_end,
                rows_start,
            });
            eng.stats.full_blocks += 1;
            eng.stats.block_ops += n_edges;
        };
        for group in heavy.chunks(LANES) {
            push_full(&mut eng, group, 0);
        }
        let mut slot_of = vec![0u32; nn];
        let mut nodes_list: Vec<u32> = Vec::new();
        let split = light.partition_point(|&u| baseline[u as usize] == 0);
        let groups = light[..split].chunks(LANES).chain(light[split..].chunks(LANES));
        for group in groups {
            let b = baseline[group[0] as usize];
            let pats = lanes_of(group);
            // Union of the lanes' root paths (tips included).
            marks.next();
            nodes_list.clear();
            let mut ops = 0usize;
            for &u in group {
                let u = u as usize;
                for &r in &dev[dev_start[u]..dev_start[u + 1]] {
                    let t = tip_at_rank[r as usize] as usize;
                    marks.mark(t);
                    let mut v = tree.parent[t] as usize;
                    while v < nn && marks.mark(v) {
                        ops += tree.children_of(v).len();
                        nodes_list.push(v as u32);
                        v = tree.parent[v] as usize;
                    }
                }
            }
            if ops as f64 > FULL_FRAC * n_edges as f64 {
                push_full(&mut eng, group, 0);
                continue;
            }
            nodes_list.sort_unstable();
            let rows_start = eng.rows.len() as u32;
            let node_start = eng.nodes.len() as u32;
            for (k, &v) in nodes_list.iter().enumerate() {
                let v = v as usize;
                slot_of[v] = k as u32;
                let op_start = eng.ops.len() as u32;
                let ch = tree.children_of(v);
                for &c in ch {
                    if c as usize >= nt && marks.is(c as usize) {
                        eng.ops.push(Op { child: c, arg: slot_of[c as usize] });
                    }
                }
                let slot_end = eng.ops.len() as u32;
                for &c in ch {
                    if (c as usize) < nt && marks.is(c as usize) {
                        let mut row = [0u8; LANES];
                        for l in 0..LANES {
                            row[l] = col(pats[l] as usize)[tip_col[c as usize] as usize];
                        }
                        eng.ops.push(Op { child: c, arg: eng.rows.len() as u32 - rows_start });
                        eng.rows.push(row);
                    }
                }
                let tip_end = eng.ops.len() as u32;
                for &c in ch {
                    if !marks.is(c as usize) {
                        eng.ops.push(Op { child: c, arg: 0 });
                    }
                }
                eng.nodes.push(NodeRec { op_start, slot_end, tip_end, op_end: eng.ops.len() as u32 });
            }
            eng.max_slots = eng.max_slots.max(nodes_list.len());
            eng.blocks.push(Block {
                baseline: b,
                n_lanes: group.len() as u8,
                pats,
                node_start,
                node_end: eng.nodes.len() as u32,
                rows_start,
            });
            eng.stats.sparse_blocks += 1;
            eng.stats.block_ops += ops;
        }
        eng.stats.n_trivial = eng.trivial.len();
        // Expensive blocks first, for load balance.
        eng.blocks.sort_by_key(|b| std::cmp::Reverse(b.node_end - b.node_start));
        for (i, b) in eng.blocks.iter().enumerate() {
            for &u in &b.pats[..b.n_lanes as usize] {
                eng.block_of[u as usize] = i as u32;
            }
        }
        eng.base_of = baseline;
        eng.blocks.shrink_to_fit();
        eng.ops.shrink_to_fit();
        eng.nodes.shrink_to_fit();
        eng.rows.shrink_to_fit();
        eng
    }

    /// Number of blocks.
    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Allocates a scratch big enough for every block.
    pub fn scratch(&self) -> BlockedScratch {
        BlockedScratch {
            val: vec![[[0.0; LANES]; 3]; self.max_slots],
            grad: vec![[[0.0; LANES]; 4]; self.max_slots],
        }
    }

    /// Computes the per-set baseline tables (serial, O(n_nodes)).
    pub fn baseline<const G: bool>(&self, tree: &Tree, tabs: &SetTables) -> Baseline {
        let nn = tree.n_nodes;
        let mut out = Baseline {
            val: [vec![[0.0; 4]; nn], vec![[0.0; 4]; nn]],
            der: [vec![[0.0; 4]; if G { nn } else { 0 }], vec![[0.0; 4]; if G { nn } else { 0 }]],
            root: [(0.0, [0.0; 2]); 2],
        };
        for b in 0..2 {
            out.root[b] = uniform_messages::<G>(tree, tabs, b, &mut out.val[b], &mut out.der[b], |v| v);
        }
        out
    }

    /// Where the results of a full evaluation go (every original pattern).
    pub fn targets_all(&self) -> Targets<'_> {
        Targets::All { start: &self.orig_start, members: &self.orig, n_out: self.dist_of.len() }
    }

    /// The subset `patterns` (strictly increasing original patterns) as `(distinct pattern,
    /// output position)` pairs for [`Targets::Subset`], and the blocks that hold them, in
    /// increasing order: a subset evaluation runs only those blocks.
    pub fn subset(&self, patterns: &[u32]) -> (Vec<(u32, u32)>, Vec<u32>) {
        let pairs = subset_pairs(patterns, &self.dist_of);
        let mut blocks: Vec<u32> =
            pairs.iter().map(|&(u, _)| self.block_of[u as usize]).filter(|&b| b != TRIVIAL).collect();
        blocks.sort_unstable();
        blocks.dedup();
        (pairs, blocks)
    }

    /// Writes the values of the patterns equal to their baseline into set `k`'s outputs;
    /// returns the number of results written.
    ///
    /// # Safety
    /// `out` must hold `(k + 1) * n_out` values of `targets` and `grad` (if not null) twice that.
    pub unsafe fn write_trivial(
        &self,
        base: &Baseline,
        targets: &Targets,
        k: usize,
        out: *mut f64,
        grad: *mut f64,
    ) -> u64 {
        let mut n = 0;
        match targets {
            Targets::All { .. } => {
                for &(u, b) in &self.trivial {
                    n += targets.write(u as usize, base.root[b as usize], k, out, grad);
                }
            }
            Targets::Subset { pairs, .. } => {
                let mut last = u32::MAX;
                for &(u, _) in pairs.iter() {
                    if u != last && self.block_of[u as usize] == TRIVIAL {
                        let b = self.base_of[u as usize] as usize;
                        n += targets.write(u as usize, base.root[b], k, out, grad);
                    }
                    last = u;
                }
            }
        }
        n
    }

    /// Runs block `i` for set `k` and writes its lanes' results (those `targets` lists);
    /// returns the number of results written.
    ///
    /// # Safety
    /// As [`BlockedEngine::write_trivial`]; no other thread writes the same patterns.
    #[allow(clippy::too_many_arguments)] // one call's tables, scratch and outputs, all needed
    pub unsafe fn run_block<const G: bool>(
        &self,
        i: usize,
        tabs: &SetTables,
        base: &Baseline,
        s: &mut BlockedScratch,
        targets: &Targets,
        k: usize,
        out: *mut f64,
        grad: *mut f64,
    ) -> u64 {
        let blk = &self.blocks[i];
        let (ll, g) = run_dispatch::<G>(self, blk, tabs, base, s);
        let mut n = 0;
        for l in 0..blk.n_lanes as usize {
            n += targets.write(blk.pats[l] as usize, (ll[l], [g[0][l], g[1][l]]), k, out, grad);
        }
        n
    }
}

/// Test hook: run the portable kernel even where AVX2 is available.
static FORCE_PORTABLE: AtomicBool = AtomicBool::new(false);

/// Forces (or stops forcing) the portable kernel instead of the AVX2 one, so tests can check
/// that both give bit-identical results. Affects every dataset; meant for tests only.
pub fn force_portable_kernel(on: bool) {
    FORCE_PORTABLE.store(on, Ordering::SeqCst);
}

#[inline]
fn run_dispatch<const G: bool>(
    eng: &BlockedEngine,
    blk: &Block,
    tabs: &SetTables,
    base: &Baseline,
    s: &mut BlockedScratch,
) -> (V, [V; 2]) {
    #[cfg(target_arch = "x86_64")]
    {
        if !FORCE_PORTABLE.load(Ordering::Relaxed)
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the enabled features.
            return unsafe { crate::engines::blocked_avx2::run::<G>(eng, blk, tabs, base, s) };
        }
    }
    run_impl::<G>(eng, blk, tabs, base, s)
}

#[inline(always)]
fn mul<const G: bool>(a: &mut [V; 2], d: &mut [V; 4], m: &[V; 6]) {
    for l in 0..LANES {
        if G {
            d[0][l] = d[0][l] * m[0][l] + a[0][l] * m[2][l];
            d[1][l] = d[1][l] * m[1][l] + a[1][l] * m[3][l];
            d[2][l] = d[2][l] * m[0][l] + a[0][l] * m[4][l];
            d[3][l] = d[3][l] * m[1][l] + a[1][l] * m[5][l];
        }
        a[0][l] *= m[0][l];
        a[1][l] *= m[1][l];
    }
}

/// Rescales the lanes whose partial has dropped below [`TINY`] (see `scaling.rs`). The test
/// is a branch-free vector compare; the rare rescaling itself is branch-free per lane too.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane loops over several arrays, in the form that vectorises
pub(crate) fn rescale_lanes<const G: bool>(a: &mut [V; 2], d: &mut [V; 4], ae: &mut V) {
    let mut any = 0u64;
    for l in 0..LANES {
        any |= ((a[0][l] < TINY) & (a[1][l] < TINY)) as u64;
    }
    if any != 0 {
        for l in 0..LANES {
            let m = if a[0][l] > a[1][l] { a[0][l] } else { a[1][l] };
            let (e, f) = exponent_and_factor(m);
            let on = m < TINY && m > 0.0;
            let f = if on { f } else { 1.0 };
            ae[l] += if on { e } else { 0.0 };
            a[0][l] *= f;
            a[1][l] *= f;
            if G {
                for x in d.iter_mut() {
                    x[l] *= f;
                }
            }
        }
    }
}

#[inline(always)]
fn run_impl<const G: bool>(
    eng: &BlockedEngine,
    blk: &Block,
    tabs: &SetTables,
    base: &Baseline,
    s: &mut BlockedScratch,
) -> (V, [V; 2]) {
    let b = blk.baseline as usize;
    let bval = &base.val[b];
    let bder = &base.der[b];
    let rows = &eng.rows[blk.rows_start as usize..];
    let nodes = &eng.nodes[blk.node_start as usize..blk.node_end as usize];
    let ops = &eng.ops[..];
    let val = &mut s.val[..nodes.len()];
    let grad = &mut s.grad[..if G { nodes.len() } else { 0 }];
    let mut a = [[1.0; LANES]; 2];
    let mut d = [[0.0; LANES]; 4];
    let mut ae = [0.0; LANES];
    for (k, nr) in nodes.iter().enumerate() {
        // Baseline children: a lane-independent scalar product, rescaled as it goes.
        let mut bl = [1.0f64, 1.0];
        let mut bd = [0.0f64; 4];
        let mut be = 0.0f64;
        for op in &ops[nr.tip_end as usize..nr.op_end as usize] {
            let c = op.child as usize;
            let m = bval[c];
            be += m[2];
            multiply::<G>(&mut bl, &mut bd, [m[0], m[1]], if G { bder[c] } else { [0.0; 4] });
            be += rescale_scalar::<G>(&mut bl, &mut bd);
        }
        a = [[bl[0]; LANES], [bl[1]; LANES]];
        ae = [be; LANES];
        if G {
            d = [[bd[0]; LANES], [bd[1]; LANES], [bd[2]; LANES], [bd[3]; LANES]];
        }
        // Rescale after every third product (and at the end): see `scaling.rs`.
        let mut countdown = 2u32;
        for op in &ops[nr.op_start as usize..nr.slot_end as usize] {
            let c = op.child as usize;
            let sl = op.arg as usize;
            let q = &val[sl];
            let p = tabs.p[c];
            let mut m = [[0.0; LANES]; 6];
            for l in 0..LANES {
                m[0][l] = p[0] * q[0][l] + p[1] * q[1][l];
                m[1][l] = p[2] * q[0][l] + p[3] * q[1][l];
                ae[l] += q[2][l];
            }
            if G {
                let dq = &grad[sl];
                let dp = tabs.dp[c];
                for l in 0..LANES {
                    m[2][l] = dp[0] * q[0][l] + dp[1] * q[1][l] + p[0] * dq[0][l] + p[1] * dq[1][l];
                    m[3][l] = dp[2] * q[0][l] + dp[3] * q[1][l] + p[2] * dq[0][l] + p[3] * dq[1][l];
                    m[4][l] = dp[4] * q[0][l] + dp[5] * q[1][l] + p[0] * dq[2][l] + p[1] * dq[3][l];
                    m[5][l] = dp[6] * q[0][l] + dp[7] * q[1][l] + p[2] * dq[2][l] + p[3] * dq[3][l];
                }
            }
            mul::<G>(&mut a, &mut d, &m);
            countdown -= 1;
            if countdown == 0 {
                countdown = 3;
                rescale_lanes::<G>(&mut a, &mut d, &mut ae);
            }
        }
        for op in &ops[nr.slot_end as usize..nr.tip_end as usize] {
            let c = op.child as usize;
            let row = &rows[op.arg as usize];
            let mut st = [0.0f64; LANES];
            for l in 0..LANES {
                st[l] = row[l] as f64;
            }
            let tv = tabs.tip_val[c];
            let mut m = [[0.0; LANES]; 6];
            for j in 0..2 {
                for l in 0..LANES {
                    m[j][l] = if st[l] == 0.0 {
                        tv[j]
                    } else if st[l] == 1.0 {
                        tv[2 + j]
                    } else {
                        1.0
                    };
                }
            }
            if G {
                let td = tabs.tip_der[c];
                for j in 0..4 {
                    for l in 0..LANES {
                        m[2 + j][l] = if st[l] == 0.0 {
                            td[j]
                        } else if st[l] == 1.0 {
                            td[4 + j]
                        } else {
                            0.0
                        };
                    }
                }
            }
            mul::<G>(&mut a, &mut d, &m);
            countdown -= 1;
            if countdown == 0 {
                countdown = 3;
                rescale_lanes::<G>(&mut a, &mut d, &mut ae);
            }
        }
        rescale_lanes::<G>(&mut a, &mut d, &mut ae);
        val[k] = [a[0], a[1], ae];
        if G {
            grad[k] = d;
        }
    }
    // The last program node is the root.
    let mut ll = [0.0; LANES];
    let mut g = [[0.0; LANES]; 2];
    for l in 0..LANES {
        let (x, y) = root_combine::<G>(tabs, [a[0][l], a[1][l]], [d[0][l], d[1][l], d[2][l], d[3][l]], ae[l]);
        ll[l] = x;
        g[0][l] = y[0];
        g[1][l] = y[1];
    }
    (ll, g)
}
