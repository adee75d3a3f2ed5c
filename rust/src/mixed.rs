//! GC_ALGO_SPARSE, mixed-node engine (the default sparse engine; see `dataset.rs` for when the
//! blocked engine of `sparse.rs` is used instead).
//!
//! A subtree whose tips are all absent (or all present), with no missing tip, is *uniform*: its
//! partial likelihood, and the message it sends up its branch, are the same for every pattern.
//! Per call and parameter set they are computed once for every node and both states
//! (O(nodes), [`MixedEngine::set_messages`]). A pattern then only computes its *mixed* internal
//! nodes: those whose subtree holds both a 0 and a 1 tip, or a missing tip beside an observed
//! one. A subtree of missing tips only has the partial (1, 1) and sends the message (1, 1).
//!
//! At creation, identical columns are merged and every distinct pattern gets a *program*: its
//! mixed internal nodes in post-order (the root last), one `u32` word each: `node << 8` plus
//! the 2-bit codes of its two children, or, for a node without exactly two children, the flag
//! [`GENERAL`] followed by `ceil(k / 16)` words of 16 codes. A code says where a child's message
//! comes from: [`CODE_ABSENT`] / [`CODE_PRESENT`] (the set's uniform messages), [`CODE_MIXED`]
//! (computed earlier by the same program) or [`CODE_MISSING`] (the constant (1, 1)). Nodes are
//! numbered depth-first (`Tree::dfs_renumbered`), so a program is a depth-first post-order and
//! the messages of mixed children live on a small stack: a node pops its mixed children and
//! pushes its own message. A pattern with an empty program is all-absent, all-present or
//! all-missing; its value is precomputed per set. Patterns are sorted by their first mixed node,
//! so that consecutive patterns touch nearby table entries.
//!
//! Messages are `[m0, m1, exponent, 0]`: partials are scaled by exact powers of two (see
//! `scaling.rs`), derivatives (wrt log gain and log loss) are carried forward in a second
//! table / stack of the same shape. Each worker evaluates [`LANES`] patterns interleaved node by
//! node, to hide the latency of one pattern's dependency chain. Each pattern is computed by the
//! same operations in the same order whatever the lane, chunk or thread, so results are
//! bit-identical for every thread count.

use crate::dense::root_combine;
use crate::grouping::group_members;
use crate::scaling::{rescale_scalar, TINY};
use crate::transition::{multiply, SetTables};
use crate::tree::Tree;
use rayon::prelude::*;
use std::collections::HashMap;

/// The child's subtree is uniform, all tips absent.
pub const CODE_ABSENT: u32 = 0;
/// The child's subtree is uniform, all tips present.
pub const CODE_PRESENT: u32 = 1;
/// The child is a mixed node computed earlier in the same program.
pub const CODE_MIXED: u32 = 2;
/// The child's subtree has only missing tips: message (1, 1).
pub const CODE_MISSING: u32 = 3;

/// Programs address nodes with 24 bits; larger trees use the dense algorithm.
pub const MAX_NODES: usize = 1 << 24;

/// Flag of a program word whose node does not have exactly two children: its child codes
/// follow in `ceil(k / 16)` words of 16 codes (else the word holds the two codes in bits 0..4).
const GENERAL: u32 = 0x80;

/// Subtree content bits: a 0 tip, a 1 tip, a missing tip.
const HAS0: u8 = 1;
const HAS1: u8 = 2;
const HASM: u8 = 4;

/// Child code of a subtree with content bits `b` (1..=7).
const CODE_OF_BITS: [u32; 8] =
    [CODE_MISSING, CODE_ABSENT, CODE_PRESENT, CODE_MIXED, CODE_MISSING, CODE_MIXED, CODE_MIXED, CODE_MIXED];

/// Shape statistics of a mixed-node engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct MixedStats {
    /// Distinct patterns.
    pub n_unique: usize,
    /// Distinct patterns with no mixed node (all absent, all present or all missing).
    pub n_trivial: usize,
    /// Mixed nodes over all distinct patterns (per evaluation).
    pub mixed_nodes: usize,
    /// Child messages multiplied over all distinct patterns (per evaluation).
    pub child_ops: usize,
    /// Parallel work chunks.
    pub n_chunks: usize,
}

/// The precomputed, rate-independent part of the mixed-node algorithm.
pub struct MixedEngine {
    /// Original patterns of distinct pattern `u`: `orig[orig_start[u]..orig_start[u + 1]]`.
    orig_start: Vec<u32>,
    orig: Vec<u32>,
    /// Program of distinct pattern `u`: `prog[prog_start[u]..prog_start[u + 1]]`.
    prog_start: Vec<usize>,
    prog: Vec<u32>,
    /// Number of mixed nodes (program steps) of distinct pattern `u`.
    prog_nodes: Vec<u32>,
    /// The two children of each binary internal node (by node index).
    kids: Vec<[u32; 2]>,
    /// The deepest stack any program needs.
    max_stack: usize,
    /// Root content bits of each distinct pattern, for the empty programs.
    root_bits: Vec<u8>,
    /// Distinct patterns `chunks[i]..chunks[i + 1]` form work chunk `i`.
    chunks: Vec<u32>,
    /// Shape statistics.
    pub stats: MixedStats,
}

/// Per-set tables shared (read-only) by all workers: the uniform messages of every node
/// (entry `2 v + s` for state `s`; entry `2 n_nodes` is the missing message (1, 1)), their
/// derivatives (with `G`), and the results of the all-absent / all-present / all-missing
/// patterns.
pub struct SetMessages {
    val: Vec<[f64; 4]>,
    der: Vec<[f64; 4]>,
    /// Root results indexed by root content bits 1 (all absent), 2 (all present), 4 (missing).
    root: [(f64, [f64; 2]); 8],
}

/// Per-worker scratch: each lane's stack of messages (values, derivatives) of mixed nodes.
#[derive(Default)]
pub struct MixedScratch {
    stack: Vec<[f64; 4]>,
    stackd: Vec<[f64; 4]>,
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

/// Programs of a range of distinct patterns, built by one task.
struct Built {
    prog: Vec<u32>,
    len: Vec<u32>,
    nodes: Vec<u32>,
    root_bits: Vec<u8>,
    mixed_nodes: usize,
    child_ops: usize,
    max_stack: usize,
}

impl MixedEngine {
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
        for p in 0..n_patterns {
            let next = first.len() as u32;
            let u = match map.get(&hashes[p]) {
                Some(&u) if col(first[u as usize] as usize) == col(p) => u,
                Some(_) => *collided.entry(col(p)).or_insert(next),
                None => {
                    map.insert(hashes[p], next);
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
        let parent: Vec<u32> = tree.parent.clone();
        let built: Vec<Built> = (0..nu.div_ceil(per))
            .into_par_iter()
            .map(|r| {
                let mut b = Built {
                    prog: Vec::new(),
                    len: Vec::new(),
                    nodes: Vec::new(),
                    root_bits: Vec::new(),
                    mixed_nodes: 0,
                    child_ops: 0,
                    max_stack: 1,
                };
                let mut bits = vec![0u8; nn];
                const TIP_BITS: [u8; 3] = [HAS0, HAS1, HASM];
                for u in r * per..((r + 1) * per).min(nu) {
                    let c = col(first[u] as usize);
                    for t in 0..nt {
                        bits[t] = TIP_BITS[c[tip_col[t] as usize] as usize];
                    }
                    bits[nt..].fill(0);
                    for i in 0..nn - 1 {
                        let x = bits[i];
                        bits[parent[i] as usize] |= x;
                    }
                    let start = b.prog.len();
                    let mixed_before = b.mixed_nodes;
                    let mut depth = 0usize;
                    for v in nt..nn {
                        if CODE_OF_BITS[bits[v] as usize] != CODE_MIXED {
                            continue;
                        }
                        let ch = tree.children_of(v);
                        let code = |c: u32| CODE_OF_BITS[bits[c as usize] as usize];
                        if ch.len() == 2 {
                            b.prog.push((v as u32) << 8 | code(ch[0]) | code(ch[1]) << 2);
                        } else {
                            b.prog.push((v as u32) << 8 | GENERAL);
                            for more in ch.chunks(16) {
                                let mut w = 0u32;
                                for (j, &c) in more.iter().enumerate() {
                                    w |= code(c) << (2 * j);
                                }
                                b.prog.push(w);
                            }
                        }
                        depth = depth + 1 - ch.iter().filter(|&&c| code(c) == CODE_MIXED).count();
                        b.max_stack = b.max_stack.max(depth);
                        b.mixed_nodes += 1;
                        b.child_ops += ch.len();
                    }
                    b.len.push((b.prog.len() - start) as u32);
                    b.nodes.push((b.mixed_nodes - mixed_before) as u32);
                    b.root_bits.push(bits[nn - 1]);
                }
                b
            })
            .collect();
        let total: usize = built.iter().map(|b| b.prog.len()).sum();
        let mut kids = vec![[0u32; 2]; nn];
        for v in nt..nn {
            if let [a, b] = *tree.children_of(v) {
                kids[v] = [a, b];
            }
        }
        let mut eng = MixedEngine {
            kids,
            max_stack: 1,
            orig_start,
            orig,
            prog_start: Vec::with_capacity(nu + 1),
            prog: Vec::with_capacity(total),
            prog_nodes: Vec::with_capacity(nu),
            root_bits: Vec::with_capacity(nu),
            chunks: Vec::new(),
            stats: MixedStats { n_unique: nu, ..Default::default() },
        };
        eng.prog_start.push(0);
        for b in built {
            let mut at = eng.prog.len();
            eng.prog.extend_from_slice(&b.prog);
            for &l in &b.len {
                at += l as usize;
                eng.prog_start.push(at);
            }
            eng.root_bits.extend_from_slice(&b.root_bits);
            eng.prog_nodes.extend_from_slice(&b.nodes);
            eng.stats.mixed_nodes += b.mixed_nodes;
            eng.max_stack = eng.max_stack.max(b.max_stack);
            eng.stats.child_ops += b.child_ops;
        }
        eng.stats.n_trivial = (0..nu).filter(|&u| eng.prog_start[u] == eng.prog_start[u + 1]).count();
        eng.sort_patterns();

        // Work chunks of roughly equal cost (program words plus a per-pattern overhead), many
        // more than threads for load balance, few enough that per-chunk overhead is small.
        let cost = |u: usize| (eng.prog_start[u + 1] - eng.prog_start[u]) as u64 + 4;
        let total_cost: u64 = (0..nu).map(cost).sum();
        let target = (total_cost / (n_threads as u64 * 24).max(1)).max(2048);
        eng.chunks.push(0);
        let mut acc = 0u64;
        for u in 0..nu {
            acc += cost(u);
            if acc >= target {
                eng.chunks.push(u as u32 + 1);
                acc = 0;
            }
        }
        if *eng.chunks.last().unwrap() as usize != nu {
            eng.chunks.push(nu as u32);
        }
        eng.stats.n_chunks = eng.chunks.len() - 1;
        eng
    }

    /// Reorders the distinct patterns by their first mixed node (then by length), so that
    /// patterns run one after the other touch nearby parts of the message tables (nodes are
    /// numbered depth-first). Patterns without program go last.
    fn sort_patterns(&mut self) {
        let nu = self.root_bits.len();
        let key = |u: usize| {
            let (a, b) = (self.prog_start[u], self.prog_start[u + 1]);
            if a == b {
                (u32::MAX, 0)
            } else {
                (self.prog[a] >> 8, b - a)
            }
        };
        let mut perm: Vec<u32> = (0..nu as u32).collect();
        perm.sort_by_key(|&u| key(u as usize));
        let mut prog = Vec::with_capacity(self.prog.len());
        let mut prog_start = Vec::with_capacity(nu + 1);
        let mut orig = Vec::with_capacity(self.orig.len());
        let mut orig_start = Vec::with_capacity(nu + 1);
        prog_start.push(0);
        orig_start.push(0);
        for &u in &perm {
            let u = u as usize;
            prog.extend_from_slice(&self.prog[self.prog_start[u]..self.prog_start[u + 1]]);
            prog_start.push(prog.len());
            orig.extend_from_slice(&self.orig[self.orig_start[u] as usize..self.orig_start[u + 1] as usize]);
            orig_start.push(orig.len() as u32);
        }
        self.root_bits = perm.iter().map(|&u| self.root_bits[u as usize]).collect();
        self.prog_nodes = perm.iter().map(|&u| self.prog_nodes[u as usize]).collect();
        self.prog = prog;
        self.prog_start = prog_start;
        self.orig = orig;
        self.orig_start = orig_start;
    }

    /// Number of work chunks.
    pub fn n_chunks(&self) -> usize {
        self.chunks.len() - 1
    }

    /// Computes the per-set message tables (serial, O(n_nodes)); with `G`, derivatives too.
    pub fn set_messages<const G: bool>(&self, tree: &Tree, tabs: &SetTables) -> SetMessages {
        let nt = tree.n_tips;
        let nn = tree.n_nodes;
        // The kernel sends the root's partial through its branch matrix, which must then be the
        // identity: the tree stores length 0 above the root, where P = I and dP = 0 exactly.
        assert!(tree.branch_length[nn - 1] == 0.0);
        let mut val = vec![[0.0; 4]; 2 * nn + 1];
        let mut der = vec![[0.0; 4]; if G { 2 * nn + 1 } else { 0 }];
        let mut root = [(f64::NAN, [f64::NAN; 2]); 8];
        val[2 * nn] = [1.0, 1.0, 0.0, 0.0];
        for b in 0..2 {
            for t in 0..nt {
                let (m, dm) = tabs.tip_message(t, b as u8);
                val[2 * t + b] = [m[0], m[1], 0.0, 0.0];
                if G {
                    der[2 * t + b] = dm;
                }
            }
            for v in nt..nn {
                let mut l = [1.0, 1.0];
                let mut d = [0.0; 4];
                let mut ex = 0.0;
                for (k, &c) in tree.children_of(v).iter().enumerate() {
                    let i = 2 * c as usize + b;
                    let m = val[i];
                    ex += m[2];
                    multiply::<G>(&mut l, &mut d, [m[0], m[1]], if G { der[i] } else { [0.0; 4] });
                    if k % 3 == 2 {
                        ex += rescale_scalar::<G>(&mut l, &mut d);
                    }
                }
                ex += rescale_scalar::<G>(&mut l, &mut d);
                if v == nn - 1 {
                    root[1 << b] = root_combine::<G>(tabs, l, d, ex);
                } else {
                    let (m, dm) = tabs.message::<G>(v, l, d);
                    val[2 * v + b] = [m[0], m[1], ex, 0.0];
                    if G {
                        der[2 * v + b] = dm;
                    }
                }
            }
        }
        root[HASM as usize] = root_combine::<G>(tabs, [1.0, 1.0], [0.0; 4], 0.0);
        SetMessages { val, der, root }
    }

    /// Runs work chunk `ch` for set `k` and writes its patterns' results; returns the number
    /// of original patterns written.
    ///
    /// [`LANES`] patterns are evaluated at once, interleaved node by node: the nodes of one
    /// pattern form dependency chains (a caterpillar is one long chain), so a single pattern
    /// leaves the CPU waiting on latencies that independent lanes fill. A lane that finishes its
    /// program takes the chunk's next pattern. Between refills, all lanes run for as many steps
    /// as the shortest remaining program has (`prog_nodes`), an unrolled loop that keeps the lane
    /// positions and stack tops in registers instead of re-checking every lane after each node. Each pattern is still computed by the same
    /// operations in the same order, so the lane it ran in does not matter.
    ///
    /// # Safety
    /// `out` must hold `(k + 1) * n_patterns` values and `grad` (if not null) twice that; no
    /// other thread writes the same patterns.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn run_chunk<const G: bool>(
        &self,
        ch: usize,
        tree: &Tree,
        tabs: &SetTables,
        msgs: &SetMessages,
        s: &mut MixedScratch,
        n_patterns: usize,
        k: usize,
        out: *mut f64,
        grad: *mut f64,
    ) -> u64 {
        let depth = self.max_stack;
        if s.stack.len() < LANES * depth {
            s.stack.resize(LANES * depth, [0.0; 4]);
        }
        if G && s.stackd.len() < LANES * depth {
            s.stackd.resize(LANES * depth, [0.0; 4]);
        }
        let ctx = Ctx {
            prog: self.prog.as_ptr(),
            kids: self.kids.as_ptr(),
            cs: tree.child_start.as_ptr(),
            children: tree.children.as_ptr(),
            p: tabs.p.as_ptr(),
            dp: tabs.dp.as_ptr(),
            val: msgs.val.as_ptr(),
            der: if G { msgs.der.as_ptr() } else { std::ptr::null() },
            one: 2 * tree.n_nodes,
        };
        let mut n = 0u64;
        let mut write = |u: usize, r: (f64, [f64; 2])| {
            let os = &self.orig[self.orig_start[u] as usize..self.orig_start[u + 1] as usize];
            for &p in os {
                let i = k * n_patterns + p as usize;
                *out.add(i) = r.0;
                if G {
                    *grad.add(2 * i) = r.1[0];
                    *grad.add(2 * i + 1) = r.1[1];
                }
            }
            n += os.len() as u64;
        };
        let end = self.chunks[ch + 1] as usize;
        let mut next = self.chunks[ch] as usize;
        let mut pos = [0usize; LANES];
        let mut left = [0u32; LANES];
        let mut pat = [usize::MAX; LANES];
        let mut top = [0usize; LANES];
        let stack = s.stack.as_mut_ptr();
        let stackd = if G { s.stackd.as_mut_ptr() } else { std::ptr::null_mut() };
        let sj = |j: usize| stack.add(j * depth);
        let sdj = |j: usize| if G { stackd.add(j * depth) } else { stackd };
        // While every lane has a pattern, run all lanes for as many nodes as the shortest
        // remaining program has, with the lane state in locals (registers).
        loop {
            let mut all = true;
            for j in 0..LANES {
                if left[j] != 0 {
                    continue;
                }
                if pat[j] != usize::MAX {
                    // The program left the root's message on the stack; the root's branch
                    // matrix is the identity (its length is 0), so it is the root partial.
                    let d = if G { *sdj(j) } else { [0.0; 4] };
                    write(pat[j], finish::<G>(tabs, *sj(j), d));
                    pat[j] = usize::MAX;
                }
                while next < end {
                    let u = next;
                    next += 1;
                    let (a, b) = (self.prog_start[u], self.prog_start[u + 1]);
                    if a == b {
                        write(u, msgs.root[self.root_bits[u] as usize]);
                    } else {
                        (pos[j], left[j], pat[j], top[j]) = (a, self.prog_nodes[u], u, 0);
                        break;
                    }
                }
                all &= pat[j] != usize::MAX;
            }
            if !all {
                break;
            }
            let m = left.iter().copied().min().unwrap();
            let ss: [*mut [f64; 4]; LANES] = std::array::from_fn(sj);
            let sd: [*mut [f64; 4]; LANES] = std::array::from_fn(sdj);
            let (mut p, mut t) = (pos, top);
            for _ in 0..m {
                for j in 0..LANES {
                    (p[j], t[j]) = step::<G>(&ctx, p[j], ss[j], sd[j], t[j]);
                }
            }
            (pos, top) = (p, t);
            for l in &mut left {
                *l -= m;
            }
        }
        // No pattern is left to start: finish the lanes still running, one after the other.
        for j in 0..LANES {
            if pat[j] == usize::MAX {
                continue;
            }
            let (mut p, mut t) = (pos[j], top[j]);
            for _ in 0..left[j] {
                (p, t) = step::<G>(&ctx, p, sj(j), sdj(j), t);
            }
            let d = if G { *sdj(j) } else { [0.0; 4] };
            write(pat[j], finish::<G>(tabs, *sj(j), d));
        }
        n
    }
}

/// The result of a root partial (`[l0, l1, exponent, _]`, derivatives `d`). Not inlined: LLVM
/// treats `ln` as pure and would otherwise compute it speculatively after every node.
#[inline(never)]
fn finish<const G: bool>(tabs: &SetTables, m: [f64; 4], d: [f64; 4]) -> (f64, [f64; 2]) {
    root_combine::<G>(tabs, [m[0], m[1]], d, m[2])
}

/// Patterns evaluated together by one worker.
pub const LANES: usize = 4;

/// Program words fetched ahead.
const PREFETCH: usize = 64;

/// Raw views of the tables one chunk reads.
struct Ctx {
    prog: *const u32,
    kids: *const [u32; 2],
    cs: *const u32,
    children: *const u32,
    p: *const [f64; 4],
    dp: *const [f64; 8],
    val: *const [f64; 4],
    der: *const [f64; 4],
    one: usize,
}

/// Address of the message (or of its derivatives) of child `c` with code `code`: the shared
/// table's entry `2 c + code` (uniform), entry `one` (missing), or, for a mixed child, `slot`
/// on the lane's stack. Branch-free
/// (whether a child is mixed is not predictable).
#[inline(always)]
fn msg_ptr(
    table: *const [f64; 4],
    slot: *const [f64; 4],
    c: usize,
    code: usize,
    one: usize,
) -> *const [f64; 4] {
    let mask = ((code == CODE_MIXED as usize) as usize).wrapping_neg();
    let i = if code == CODE_MISSING as usize { one } else { 2 * c + code };
    let a = table.wrapping_add(i) as usize;
    ((a & !mask) | (slot as usize & mask)) as *const [f64; 4]
}

/// Number of [`CODE_MIXED`] codes in a word of 2-bit codes (unused codes are 0).
#[inline(always)]
fn count_mixed(w: u32) -> usize {
    ((w >> 1) & !w & 0x5555_5555).count_ones() as usize
}

/// Computes the mixed node whose program word is at `pos` and returns the next position and
/// stack top. The lane's stack holds the branch messages (values `[m0, m1, exponent, 0]` in
/// `st`, derivatives in `sd`) of the mixed nodes whose parent has not been computed yet: the
/// program is a depth-first post-order, so a node's mixed children are the top entries, in
/// child order. They are replaced by the node's message.
///
/// # Safety
/// Programs are built from this tree: node ids < n_nodes, children from its lists, codes < 4,
/// so every table address is in bounds; code words follow their node word as counted from the
/// child list; the stack never holds more than `max_stack` entries.
#[inline(always)]
unsafe fn step<const G: bool>(
    x: &Ctx,
    mut pos: usize,
    st: *mut [f64; 4],
    sd: *mut [f64; 4],
    mut top: usize,
) -> (usize, usize) {
    let w = *x.prog.add(pos);
    #[cfg(target_arch = "x86_64")]
    {
        // The programs stream from memory once per evaluation: fetch ahead, without polluting
        // the caches that hold the message tables (a hint: the address may be past the end).
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_NTA};
        _mm_prefetch::<_MM_HINT_NTA>(x.prog.wrapping_add(pos + PREFETCH) as *const i8);
    }
    pos += 1;
    let v = (w >> 8) as usize;
    let mut l;
    let mut d = [0.0; 4];
    let mut ex;
    if w & GENERAL == 0 {
        let [a, b] = *x.kids.add(v);
        let (a, b) = (a as usize, b as usize);
        let (ca, cb) = ((w & 3) as usize, ((w >> 2) & 3) as usize);
        let (ma_, mb_) = ((ca == CODE_MIXED as usize) as usize, (cb == CODE_MIXED as usize) as usize);
        top -= ma_ + mb_;
        // If both are mixed, a is at `top` and b above it; if one is, it is at `top`.
        let sa = top;
        let sb = top + ma_;
        let ma = *msg_ptr(x.val, st.add(sa), a, ca, x.one);
        let mb = *msg_ptr(x.val, st.add(sb), b, cb, x.one);
        l = [ma[0] * mb[0], ma[1] * mb[1]];
        ex = ma[2] + mb[2];
        if G {
            let da = *msg_ptr(x.der, sd.add(sa), a, ca, x.one);
            let db = *msg_ptr(x.der, sd.add(sb), b, cb, x.one);
            d = [
                da[0] * mb[0] + ma[0] * db[0],
                da[1] * mb[1] + ma[1] * db[1],
                da[2] * mb[0] + ma[0] * db[2],
                da[3] * mb[1] + ma[1] * db[3],
            ];
        }
    } else {
        l = [1.0, 1.0];
        ex = 0.0;
        let c0 = *x.cs.add(v) as usize;
        let c1 = *x.cs.add(v + 1) as usize;
        let n_words = (c1 - c0).div_ceil(16);
        let mut n_mixed = 0;
        for i in 0..n_words {
            n_mixed += count_mixed(*x.prog.add(pos + i));
        }
        top -= n_mixed;
        let mut slot = top;
        let mut codes = 0;
        for (j, ci) in (c0..c1).enumerate() {
            if j % 16 == 0 {
                codes = *x.prog.add(pos);
                pos += 1;
            }
            let c = *x.children.add(ci) as usize;
            let code = (codes & 3) as usize;
            codes >>= 2;
            let m = *msg_ptr(x.val, st.add(slot), c, code, x.one);
            let dm = if G { *msg_ptr(x.der, sd.add(slot), c, code, x.one) } else { [0.0; 4] };
            slot += (code == CODE_MIXED as usize) as usize;
            ex += m[2];
            multiply::<G>(&mut l, &mut d, [m[0], m[1]], dm);
            if j % 3 == 2 {
                ex += rescale_scalar::<G>(&mut l, &mut d);
            }
        }
    }
    // Both entries below the threshold is the same test as the larger one below it, without
    // the NaN handling of `f64::max`.
    if (l[0] < TINY) & (l[1] < TINY) {
        ex += rescale_scalar::<G>(&mut l, &mut d);
    }
    let p = *x.p.add(v);
    *st.add(top) = [p[0] * l[0] + p[1] * l[1], p[2] * l[0] + p[3] * l[1], ex, 0.0];
    if G {
        let dp = *x.dp.add(v);
        *sd.add(top) = [
            dp[0] * l[0] + dp[1] * l[1] + p[0] * d[0] + p[1] * d[1],
            dp[2] * l[0] + dp[3] * l[1] + p[2] * d[0] + p[3] * d[1],
            dp[4] * l[0] + dp[5] * l[1] + p[0] * d[2] + p[1] * d[3],
            dp[6] * l[0] + dp[7] * l[1] + p[2] * d[2] + p[3] * d[3],
        ];
    }
    (pos, top + 1)
}
