//! Trees from a distance matrix: neighbour joining and UPGMA (`gc_build_tree` of the C ABI).
//!
//! Input: `n` taxa and their distances in the condensed layout (`d[pair_index(n, i, j)]`,
//! i < j, row-major upper triangle, as SciPy's `pdist`). Output: a tree as flat arrays in the
//! crate's numbering (tips `0..n` in input order, internal nodes in the order they are created,
//! so every parent has a larger index than its children, the root last).
//!
//! **Neighbour joining** (Saitou and Nei 1987, with the Q criterion of Studier and Keppler
//! 1988). The active clusters are kept in positions `0..n` (a tip starts at its own position;
//! a join of positions a < b puts the new cluster at a and retires b). With r active clusters
//! and `R_a = sum_c d_ac` over the active c, each step joins the pair a < b of smallest
//! `Q_ab = (r - 2) d_ab - R_a - R_b` (evaluated in that order), ties broken by the lowest
//! (a, b) in position order, with branch lengths
//!
//! ```text
//! l_a = d_ab / 2 + (R_a - R_b) / (2 (r - 2)),   l_b = d_ab - l_a,
//! d_uc = (d_ac + d_bc - d_ab) / 2               (the new cluster u, for every other active c).
//! ```
//!
//! The row sums are summed in position order at the start; after a join
//! `R_c = ((R_c - d_ac) - d_bc) + d_uc` for every other active c, and `R_u` is the sum of the
//! `d_uc` in position order. A negative length is set to 0 and its value added to the sister branch (`l_b + l_a` when
//! `l_a < 0`), so the pair's path length d_ab is kept; if d_ab itself is negative (updated
//! distances can be, on data far from a tree), both are set to 0. The last step (r = 3) joins the pair of
//! smallest Q the same way and attaches the third cluster c to the same node with
//! `l_c = (d_ac + d_bc - d_ab) / 2` (the three-point formula; a negative `l_c` is set to 0, as
//! there is no sister branch to take it). The result is an unrooted binary tree written with a
//! root of three children: `2n - 2` nodes. O(n^3) time at worst, at most about 20 n^2 bytes
//! of memory (the distances, each held once, and the sorted rows); the search for the least Q
//! prunes with sorted rows and per-row lower bounds of Q (see [`neighbor_joining`]) on one
//! thread (whatever the thread count), and the result is bit-identical to
//! `lib/tree_building/nj.ts` (which evaluates every Q).
//!
//! **UPGMA** (average linkage). Each step joins the pair a < b of smallest `d_ab` (ties: the
//! lowest pair), at height `d_ab / 2`; each child's branch is the new height minus the child's
//! height (set to 0 if rounding makes it negative), and
//! `d_uc = (n_a d_ac + n_b d_bc) / (n_a + n_b)` with `n_a`, `n_b` the clusters' sizes. A rooted
//! ultrametric tree of `2n - 1` nodes; its scans run in parallel for r >= [`PARALLEL_MIN`] with a
//! deterministic reduction (the same tree for any thread count).

use crate::abi::{guard, slice, slice_mut};
use crate::abi::read_args;
use crate::distances::{n_pairs, row_start, to_usize};
use crate::error::GcError;
use crate::pool::shared_pool;
use rayon::prelude::*;
use std::os::raw::c_char;

/// `method` of `gc_tree_args`: neighbour joining.
pub const GC_TREE_NJ: u32 = 0;
/// `method` of `gc_tree_args`: UPGMA.
pub const GC_TREE_UPGMA: u32 = 1;

/// Active clusters from which the scans run in parallel.
pub const PARALLEL_MIN: usize = 256;

/// A tree built from distances.
#[derive(Debug, Clone)]
pub struct BuiltTree {
    /// Parent of each node (-1 for the root).
    pub parent: Vec<i32>,
    /// Length of the branch above each node (0 for the root).
    pub branch_length: Vec<f64>,
    /// Negative branch lengths that were set to 0.
    pub clamped: u64,
}

/// Asks Linux to back `v` with huge pages where it can (a hint; errors are ignored): the
/// joins read the matrix down its columns, a page apart at every step, and with 4 KiB pages
/// each such read would also miss the translation cache. Called before the pages are touched.
fn huge_pages<T>(v: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        const MADV_HUGEPAGE: i32 = 14;
        const HUGE: usize = 2 << 20;
        let start = v.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let (lo, hi) = (start.div_ceil(HUGE) * HUGE, end / HUGE * HUGE);
        if lo < hi {
            // SAFETY: [lo, hi) lies inside `v`'s allocation; the advice changes no contents.
            unsafe {
                madvise(lo as *mut std::ffi::c_void, hi - lo, MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// The symmetric n x n matrix of condensed distances (`d[i n + j]`), checked finite and >= 0.
fn full_matrix(n: usize, condensed: &[f64]) -> Result<Vec<f64>, GcError> {
    let want = n_pairs(n)?;
    if condensed.len() != want {
        return Err(GcError::invalid(format!(
            "distances_len is {} but n_taxa (n_taxa - 1) / 2 is {want}",
            condensed.len()
        )));
    }
    if let Some(k) = condensed.iter().position(|x| !(x.is_finite() && *x >= 0.0)) {
        return Err(GcError::invalid(format!(
            "distances[{k}] is {}: distances must be finite and >= 0",
            condensed[k]
        )));
    }
    // Each condensed row is one contiguous run of the upper triangle; the lower triangle is
    // filled by transposing blocks that stay in cache.
    let mut d = vec![0.0; n * n];
    huge_pages(&mut d);
    let mut k = 0;
    for i in 0..n {
        let len = n - i - 1;
        d[i * n + i + 1..(i + 1) * n].copy_from_slice(&condensed[k..k + len]);
        k += len;
    }
    const BLOCK: usize = 32;
    for i0 in (0..n).step_by(BLOCK) {
        for j0 in (i0..n).step_by(BLOCK) {
            for i in i0..(i0 + BLOCK).min(n) {
                for j in j0.max(i + 1)..(j0 + BLOCK).min(n) {
                    d[j * n + i] = d[i * n + j];
                }
            }
        }
    }
    Ok(d)
}

/// The best (value, a, b) of a scan: smaller value, then lower (a, b).
#[inline]
fn better(x: (f64, usize, usize), y: (f64, usize, usize)) -> (f64, usize, usize) {
    if y.0 < x.0 || (y.0 == x.0 && (y.1, y.2) < (x.1, x.2)) {
        y
    } else {
        x
    }
}

/// Smallest `score(a_pos, b_pos)` over pairs of active positions (indices into `active`, a < b).
fn scan_min(
    active: &[usize],
    parallel: bool,
    score: &(impl Fn(usize, usize) -> f64 + Sync),
) -> (f64, usize, usize) {
    let r = active.len();
    let row = |ia: usize| {
        let mut best = (f64::INFINITY, usize::MAX, usize::MAX);
        for ib in ia + 1..r {
            let q = score(ia, ib);
            if q < best.0 {
                best = (q, ia, ib);
            }
        }
        best
    };
    let init = (f64::INFINITY, usize::MAX, usize::MAX);
    if parallel {
        (0..r - 1).into_par_iter().map(row).reduce(|| init, better)
    } else {
        (0..r - 1).map(row).fold(init, better)
    }
}

/// Asks the processor to bring the cache line of `x` into cache (a hint that never faults).
#[inline]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching reads nothing and never faults; the address is of a live value.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((x as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Asks the processor to bring `v[i]` into cache; an index out of range fetches nothing.
#[inline]
fn prefetch_at(v: &[f64], i: usize) {
    if let Some(x) = v.get(i) {
        prefetch(x);
    }
}

/// One entry of a row: the distance to cluster `id` (a node id).
#[derive(Clone, Copy)]
struct Entry {
    d: f64,
    id: u32,
}

/// The distances of one cluster to the active clusters made before it: made by the join that
/// makes the cluster (already sorted at its start), or for a tip from its condensed row when
/// the search first needs it, and sorted further lazily: `e[..sorted]` is in increasing order
/// and holds the smallest entries; `e[..start]` are entries of retired clusters, skipped for
/// good.
#[derive(Default)]
struct Row {
    e: Vec<Entry>,
    sorted: usize,
    start: usize,
    ready: bool,
}

impl Row {
    /// Asks the processor to bring the row's first live entries into cache.
    #[inline]
    fn prefetch(&self) {
        if let Some(e) = self.e.get(self.start) {
            prefetch(e);
        }
    }

    /// Sorts the next block of the smallest unsorted entries (at least 16, doubling), so that a
    /// row scanned only at its start costs O(len) rather than O(len log len).
    fn extend_sorted(&mut self) {
        let rest = &mut self.e[self.sorted..];
        let k = self.sorted.max(16).min(rest.len());
        if k < rest.len() {
            rest.select_nth_unstable_by(k - 1, |x, y| x.d.total_cmp(&y.d));
        }
        rest[..k].sort_unstable_by(|x, y| x.d.total_cmp(&y.d));
        self.sorted += k;
    }
}

/// Entries that [`Least`] keeps: the sorted start of a row as it is made.
const LEAST: usize = 8;

/// The `LEAST` smallest distances offered so far (their indices into the row being made), in
/// increasing order, kept while the row is filled so that it starts sorted there without a
/// selection pass.
struct Least {
    d: [f64; LEAST],
    i: [u32; LEAST],
    len: usize,
}

impl Least {
    fn new() -> Self {
        Least { d: [f64::INFINITY; LEAST], i: [0; LEAST], len: 0 }
    }

    /// Offers entry `i` of distance `d`; kept if it is among the `LEAST` smallest so far.
    #[inline]
    fn offer(&mut self, d: f64, i: usize) {
        if d < self.d[LEAST - 1] {
            self.insert(d, i);
        }
    }

    #[inline(never)]
    fn insert(&mut self, d: f64, i: usize) {
        let mut k = self.len.min(LEAST - 1);
        while k > 0 && d < self.d[k - 1] {
            self.d[k] = self.d[k - 1];
            self.i[k] = self.i[k - 1];
            k -= 1;
        }
        self.d[k] = d;
        self.i[k] = i as u32;
        self.len = (self.len + 1).min(LEAST);
    }

    /// Moves the kept entries, in order, to the start of `e` (the others fill the places they
    /// left) and returns how many there are: the row's sorted length.
    fn place(&self, e: &mut [Entry]) -> usize {
        let m = self.len;
        let kept: [Entry; LEAST] =
            std::array::from_fn(|k| if k < m { e[self.i[k] as usize] } else { Entry { d: 0.0, id: 0 } });
        let mut front = 0u32; // bit p: place p < m holds a kept entry
        for &i in &self.i[..m] {
            if (i as usize) < m {
                front |= 1 << i;
            }
        }
        let mut p = 0;
        for &i in &self.i[..m] {
            if (i as usize) >= m {
                while front & (1 << p) != 0 {
                    p += 1;
                }
                e[i as usize] = e[p];
                p += 1;
            }
        }
        e[..m].copy_from_slice(&kept[..m]);
        m
    }
}

/// The age key of each position's cluster: `(j << 32) | (n - p)` for the cluster made by join
/// j at position p (j = 0 for the tips), so that the later made of two clusters has the larger
/// key, and of two tips the one at the lower position.
#[inline]
fn age_key(join: usize, n: usize, p: usize) -> u64 {
    ((join as u64) << 32) | (n - p) as u64
}

/// Keys below this are of tips.
const FIRST_JOIN: u64 = 1 << 32;

/// The start of a row as the bounds need it: `d0` and `id` are its first entry (a lower bound
/// of the row's distances, with `id` a node that is never active while the row is not made),
/// and every other entry is at least `d1`.
#[derive(Clone, Copy)]
struct Head {
    d0: f64,
    d1: f64,
    id: u32,
}

/// What the scan reads besides the rows.
struct Scan<'a> {
    n: usize,
    tips: &'a [f64],
    active: &'a [usize],
    pos_of: &'a [i32],
    age: &'a [u64],
    rsum: &'a [f64],
    rm2: f64,
    /// The largest R of the active clusters.
    rmax: f64,
    /// A node id that is never active.
    never: u32,
}

/// The smaller of two numbers that are not NaN (one comparison, where `f64::min` also
/// handles NaN).
#[inline]
fn min(x: f64, y: f64) -> f64 {
    if y < x {
        y
    } else {
        x
    }
}

/// The larger of two numbers that are not NaN.
#[inline]
fn max(x: f64, y: f64) -> f64 {
    if y > x {
        y
    } else {
        x
    }
}

/// A floating-point lower bound of the spec's Q = (t - R_a) - R_b (a < b) of every pair of
/// a cluster x (of row sum `rx`) at distance >= `dist`, t = (r - 2) dist, with `rmax` at least
/// every R: x is either a or b.
#[inline]
fn q_bound(rm2: f64, dist: f64, rx: f64, rmax: f64) -> f64 {
    let t = rm2 * dist;
    min((t - rx) - rmax, (t - rmax) - rx)
}

impl Scan<'_> {
    /// The best (Q, a, b) over the active rows, given a lower bound of each row's Q
    /// (`bounds`, by position) and the row to scan first: a row whose bound exceeds the best
    /// so far is passed over, and a scanned row ends where the bound of its next entry does,
    /// as no later entry can then reach the best.
    fn best(
        &self,
        rows: &mut [Row],
        heads: &mut [Head],
        bounds: &[f64],
        first: usize,
    ) -> (f64, usize, usize) {
        let mut best = (f64::INFINITY, usize::MAX, usize::MAX);
        self.scan_row(first, rows, heads, &mut best);
        // The other rows in position order; the first entries of a row to scan are fetched
        // into cache a few rows ahead, as the rows lie far apart in memory.
        const AHEAD: usize = 8;
        let act = self.active;
        for (k, &x) in act.iter().enumerate() {
            if let Some(&f) = act.get(k + AHEAD) {
                if bounds[f] <= best.0 {
                    rows[f].prefetch();
                }
            }
            if bounds[x] <= best.0 && x != first {
                self.scan_row(x, rows, heads, &mut best);
            }
        }
        best
    }

    /// Scans the row of x for pairs that beat `best`, up to where its bound exceeds `best`.
    fn scan_row(&self, x: usize, rows: &mut [Row], heads: &mut [Head], best: &mut (f64, usize, usize)) {
        let rx = self.rsum[x];
        let row = &mut rows[x];
        if !row.ready {
            // The row of a tip holds the active tips after it (made before it), in position order,
            // with their distances in its condensed row.
            let start = row_start(self.n, x);
            let dx = &self.tips[start..start + self.n - x - 1];
            let at = self.active.partition_point(|&c| c <= x);
            let mut least = Least::new();
            row.e.clear();
            row.e.reserve(self.active.len() - at);
            for &c in &self.active[at..] {
                if self.age[c] < FIRST_JOIN {
                    let v = dx[c - x - 1];
                    least.offer(v, row.e.len());
                    row.e.push(Entry { d: v, id: c as u32 });
                }
            }
            row.sorted = least.place(&mut row.e);
            row.ready = true;
        }
        let mut i = row.start;
        let mut leading = true;
        while i < row.e.len() {
            if i == row.sorted {
                row.extend_sorted();
            }
            let e = row.e[i];
            i += 1;
            if q_bound(self.rm2, e.d, rx, self.rmax) > best.0 {
                break;
            }
            let y = self.pos_of[e.id as usize];
            if y < 0 {
                if leading {
                    row.start = i;
                }
                continue;
            }
            leading = false;
            let y = y as usize;
            let (a, b) = if x < y { (x, y) } else { (y, x) };
            let q = (self.rm2 * e.d - self.rsum[a]) - self.rsum[b];
            if q < best.0 || (q == best.0 && (a, b) < (best.1, best.2)) {
                *best = (q, a, b);
            }
        }
        // The row's head: its first entry left and the one after it, sorted.
        if row.start + 1 >= row.sorted && row.sorted < row.e.len() {
            row.extend_sorted();
        }
        heads[x] = match row.e.get(row.start) {
            Some(e) => {
                Head { d0: e.d, d1: row.e.get(row.start + 1).map_or(f64::INFINITY, |f| f.d), id: e.id }
            }
            None => Head { d0: f64::INFINITY, d1: f64::INFINITY, id: self.never },
        };
    }
}

/// Neighbour joining of `n >= 3` taxa (see the module notes).
///
/// The pair of least Q is found without visiting every pair (after RapidNJ, Simonsen et al.
/// 2008); the operations that make the tree are the spec's, in its order.
///
/// **Distances.** The current d_xy is held once, in the row of the later made of x and y
/// (`age_key`; of two tips, the one at the lower position counts as the later): the tips'
/// rows are a copy of the condensed distances (their upper triangle), and a join writes one
/// row, the new cluster's, into a row of `dm` kept for its position (added the first time a
/// position needs one), and no column. The row of x thus holds exactly the active clusters made
/// before x, and each active pair is in one row. The update of a join reads d_ac and d_bc for
/// every other active c, along the rows of a and b or, for the clusters made after them, down
/// their columns (fetched into cache ahead).
///
/// **Search.** Each row also has a sorted copy (`Row`: each entry's distance and node id),
/// which starts sorted at its 8 least entries (selected while it is filled) and is sorted
/// further a block at a time; entries of retired clusters are skipped, and dropped at its
/// start. `Head` keeps each row's first two entries. Before a search every active row gets a
/// lower bound of the spec's Q of all its pairs: the exact Q of its first entry (if that
/// cluster is still active) and, for the others, `min((t - R_x) - max R, (t - max R) - R_x)`
/// with `t = (r - 2) d` at the second entry's distance d (a floating-point lower bound, as
/// rounding is monotone). The search scans the row of least bound, then, in position order,
/// each row whose bound does not exceed the best Q so far (fetching rows a few ahead into
/// cache), and a scan ends at the first entry whose bound of the same form exceeds the best.
/// The result is the exhaustive search's, ties included (least Q, then the lowest pair, in
/// any visiting order).
pub fn neighbor_joining(
    n: usize,
    condensed: &[f64],
    _pool: &rayon::ThreadPool,
) -> Result<BuiltTree, GcError> {
    if n < 3 {
        return Err(GcError::invalid(format!("n_taxa is {n}: neighbour joining needs at least 3 taxa")));
    }
    if n > u32::MAX as usize / 2 {
        return Err(GcError::invalid(format!("n_taxa is {n}: too many for neighbour joining")));
    }
    let want = n_pairs(n)?;
    if condensed.len() != want {
        return Err(GcError::invalid(format!(
            "distances_len is {} but n_taxa (n_taxa - 1) / 2 is {want}",
            condensed.len()
        )));
    }
    let n_nodes = 2 * n - 2;
    let mut parent = vec![-1i32; n_nodes];
    let mut bl = vec![0.0f64; n_nodes];
    let mut clamped = 0u64;
    let mut node_of: Vec<usize> = (0..n).collect();
    // One more node id than the tree has, never active.
    let never = n_nodes as u32;
    let mut pos_of: Vec<i32> = (0..=n_nodes).map(|v| if v < n { v as i32 } else { -1 }).collect();
    let mut active: Vec<usize> = (0..n).collect();
    // The current d_xy is kept in the row of the later made of x and y (`age`), so a join
    // writes one row, the new cluster's, and no column. `dm` holds the tips' rows (the
    // condensed distances: of two tips the one at the lower position is the later made), then
    // the rows that the joins write, one per position; `base[x] + y` is where d_xy is in
    // the row of x.
    // Rows for the joins are added as positions first need them (at most one per position),
    // so only the memory the joins write is touched.
    let mut dm: Vec<f64> = Vec::with_capacity(want + n * n);
    huge_pages(dm.spare_capacity_mut());
    let mut base: Vec<usize> = (0..n).map(|x| row_start(n, x).wrapping_sub(x + 1)).collect();
    let mut age: Vec<u64> = (0..n).map(|p| age_key(0, n, p)).collect();
    // Row sums in position order (d_pp = 0 is added too, as the spec does), and each tip's
    // least distance to a later tip, in one pass over the condensed rows that also copies and
    // checks them: row i adds d_ic to R_c for every c > i, which comes after the d_jc (j < i)
    // of the earlier rows. Rows are taken two at a time (i, i + 1), so that the two sums are
    // independent chains of additions, each in its own order.
    let mut rsum = vec![0.0f64; n];
    let mut head = vec![f64::INFINITY; n];
    let mut bad = false;
    let ok = |x: f64| (0.0..f64::INFINITY).contains(&x);
    let mut i = 0;
    while i + 2 < n {
        let r0 = &condensed[row_start(n, i)..row_start(n, i + 1)];
        let r1 = &condensed[row_start(n, i + 1)..row_start(n, i + 2)];
        dm.extend_from_slice(r0);
        dm.extend_from_slice(r1);
        let x = r0[0];
        bad |= !ok(x);
        let mut s0 = (rsum[i] + 0.0) + x;
        let mut s1 = (rsum[i + 1] + x) + 0.0;
        let (mut m0, mut m1) = (x, f64::INFINITY);
        for ((&x0, &x1), r) in r0[1..].iter().zip(r1).zip(&mut rsum[i + 2..]) {
            s0 += x0;
            s1 += x1;
            m0 = min(m0, x0);
            m1 = min(m1, x1);
            *r = (*r + x0) + x1;
            bad |= !(ok(x0) && ok(x1));
        }
        rsum[i] = s0;
        rsum[i + 1] = s1;
        head[i] = m0;
        head[i + 1] = m1;
        i += 2;
    }
    while i < n {
        let row = &condensed[row_start(n, i)..row_start(n, i + 1)];
        dm.extend_from_slice(row);
        let mut s = rsum[i] + 0.0;
        let mut m = f64::INFINITY;
        for (&x, r) in row.iter().zip(&mut rsum[i + 1..]) {
            s += x;
            m = min(m, x);
            *r += x;
            bad |= !ok(x);
        }
        rsum[i] = s;
        head[i] = m;
        i += 1;
    }
    if bad {
        let k = condensed.iter().position(|x| !(x.is_finite() && *x >= 0.0)).unwrap_or(0);
        return Err(GcError::invalid(format!(
            "distances[{k}] is {}: distances must be finite and >= 0",
            condensed[k]
        )));
    }
    let mut rows: Vec<Row> = (0..n).map(|_| Row::default()).collect();
    let at = |base: &[usize], age: &[u64], x: usize, y: usize| {
        if age[x] > age[y] {
            base[x].wrapping_add(y)
        } else {
            base[y].wrapping_add(x)
        }
    };
    let mut rmax = rsum.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut heads: Vec<Head> = head.iter().map(|&h| Head { d0: h, d1: h, id: never }).collect();
    let mut bounds = vec![f64::INFINITY; n];
    let mut next = n;
    loop {
        let r = active.len();
        let rm2 = (r - 2) as f64;
        // Each row's lower bound of Q: the exact Q of its first entry (if that cluster is
        // still active) and the bound of the distance of the next one.
        let mut first = active[0];
        let mut lowest = f64::INFINITY;
        for &c in &active {
            let h = heads[c];
            let rc = rsum[c];
            let mut v = q_bound(rm2, h.d1, rc, rmax);
            let y = pos_of[h.id as usize];
            if y >= 0 {
                let (y, t) = (y as usize, rm2 * h.d0);
                let ry = rsum[y];
                let q = if c < y { (t - rc) - ry } else { (t - ry) - rc };
                v = min(v, q);
            }
            bounds[c] = v;
            if v < lowest {
                lowest = v;
                first = c;
            }
        }
        // One thread: with the pruning a step visits a few entries per row, too little work to
        // share out at every join.
        let (_, a, b) = Scan {
            n,
            tips: &dm[..want],
            active: &active,
            pos_of: &pos_of,
            age: &age,
            rsum: &rsum,
            rm2,
            rmax,
            never,
        }
        .best(&mut rows, &mut heads, &bounds, first);
        let dab = dm[at(&base, &age, a, b)];
        let mut la = dab / 2.0 + (rsum[a] - rsum[b]) / (2.0 * rm2);
        let mut lb = dab - la;
        if la < 0.0 {
            lb += la;
            la = 0.0;
            clamped += 1;
        } else if lb < 0.0 {
            la += lb;
            lb = 0.0;
            clamped += 1;
        }
        // Still negative only when d_ab itself is (updated distances can be, far from a tree).
        if la < 0.0 {
            la = 0.0;
            clamped += 1;
        }
        if lb < 0.0 {
            lb = 0.0;
            clamped += 1;
        }
        let u = next;
        next += 1;
        parent[node_of[a]] = u as i32;
        parent[node_of[b]] = u as i32;
        bl[node_of[a]] = la;
        bl[node_of[b]] = lb;
        if r == 3 {
            let c = active.iter().copied().find(|&c| c != a && c != b).unwrap();
            let mut lc = (dm[at(&base, &age, a, c)] + dm[at(&base, &age, b, c)] - dab) / 2.0;
            if lc < 0.0 {
                lc = 0.0;
                clamped += 1;
            }
            parent[node_of[c]] = u as i32;
            bl[node_of[c]] = lc;
            break;
        }
        let ib = active.binary_search(&b).unwrap();
        active.remove(ib);
        rows[b] = Row::default();
        let mut ru = 0.0;
        let mut new_max = f64::NEG_INFINITY;
        // The new cluster's row (it is made after every other active cluster) is filled here,
        // in its allocation's old space, and its row of `dm` after the tips' rows.
        let mut row_u = std::mem::take(&mut rows[a]);
        let e = &mut row_u.e;
        e.clear();
        e.resize(r - 2, Entry { d: 0.0, id: 0 });
        let mut least = Least::new();
        let wu = if age[a] < FIRST_JOIN {
            let w = dm.len();
            dm.resize(w + n, 0.0);
            w
        } else {
            base[a]
        };
        let (ka, kb, ba, bb) = (age[a], age[b], base[a], base[b]);
        let mut j = 0;
        for (k, &c) in active.iter().enumerate() {
            // The values of later made clusters lie down columns a and b: fetch them ahead.
            if let Some(&f) = active.get(k + 16) {
                let (kf, bf) = (age[f], base[f]);
                let pa = if kf > ka { bf.wrapping_add(a) } else { ba.wrapping_add(f) };
                let pb = if kf > kb { bf.wrapping_add(b) } else { bb.wrapping_add(f) };
                prefetch_at(&dm, pa);
                prefetch_at(&dm, pb);
            }
            if c == a {
                continue;
            }
            let (kc, bc) = (age[c], base[c]);
            let ia = if kc > ka { bc.wrapping_add(a) } else { ba.wrapping_add(c) };
            let ibc = if kc > kb { bc.wrapping_add(b) } else { bb.wrapping_add(c) };
            let (dac, dbc) = (dm[ia], dm[ibc]);
            let x = (dac + dbc - dab) / 2.0;
            dm[wu + c] = x;
            let rc = ((rsum[c] - dac) - dbc) + x;
            rsum[c] = rc;
            new_max = max(new_max, rc);
            ru += x;
            least.offer(x, j);
            e[j] = Entry { d: x, id: node_of[c] as u32 };
            j += 1;
        }
        rsum[a] = ru;
        rmax = max(new_max, ru);
        age[a] = age_key(u - n + 1, n, a);
        base[a] = wu;
        pos_of[node_of[a]] = -1;
        pos_of[node_of[b]] = -1;
        node_of[a] = u;
        pos_of[u] = a as i32;
        let sorted = least.place(&mut row_u.e);
        heads[a] =
            Head { d0: row_u.e[0].d, d1: row_u.e.get(1).map_or(f64::INFINITY, |f| f.d), id: row_u.e[0].id };
        rows[a] = Row { e: row_u.e, sorted, start: 0, ready: true };
    }
    debug_assert_eq!(next, n_nodes);
    Ok(BuiltTree { parent, branch_length: bl, clamped })
}

/// UPGMA of `n >= 2` taxa (see the module notes).
pub fn upgma(n: usize, condensed: &[f64], pool: &rayon::ThreadPool) -> Result<BuiltTree, GcError> {
    if n < 2 {
        return Err(GcError::invalid(format!("n_taxa is {n}: UPGMA needs at least 2 taxa")));
    }
    let mut d = full_matrix(n, condensed)?;
    let n_nodes = 2 * n - 1;
    let mut parent = vec![-1i32; n_nodes];
    let mut bl = vec![0.0f64; n_nodes];
    let mut height = vec![0.0f64; n_nodes];
    let mut size = vec![1.0f64; n];
    let mut clamped = 0u64;
    let mut node_of: Vec<usize> = (0..n).collect();
    let mut active: Vec<usize> = (0..n).collect();
    let mut next = n;
    pool.install(|| {
        while active.len() > 1 {
            let r = active.len();
            let (_, ia, ib) = {
                let (d, active) = (&d, &active);
                scan_min(active, r >= PARALLEL_MIN, &|ia, ib| d[active[ia] * n + active[ib]])
            };
            let (a, b) = (active[ia], active[ib]);
            let dab = d[a * n + b];
            let u = next;
            next += 1;
            height[u] = dab / 2.0;
            for v in [node_of[a], node_of[b]] {
                parent[v] = u as i32;
                let mut l = height[u] - height[v];
                if l < 0.0 {
                    l = 0.0;
                    clamped += 1;
                }
                bl[v] = l;
            }
            let (sa, sb) = (size[a], size[b]);
            for &c in &active {
                if c == a || c == b {
                    continue;
                }
                let x = (sa * d[a * n + c] + sb * d[b * n + c]) / (sa + sb);
                d[a * n + c] = x;
                d[c * n + a] = x;
            }
            size[a] = sa + sb;
            node_of[a] = u;
            active.remove(ib);
        }
    });
    Ok(BuiltTree { parent, branch_length: bl, clamped })
}

/// The arguments of `gc_build_tree` (see `genecontent.h`); fields are only ever appended.
#[repr(C)]
#[allow(non_camel_case_types)] // the C name
#[derive(Debug, Clone, Copy)]
pub struct gc_tree_args {
    /// The caller's `sizeof(gc_tree_args)`.
    pub struct_size: u64,
    /// Number of taxa.
    pub n_taxa: u64,
    /// `GC_TREE_NJ` or `GC_TREE_UPGMA`.
    pub method: u32,
    /// Worker threads; 0 means one per available CPU.
    pub n_threads: u32,
    /// `n_taxa (n_taxa - 1) / 2` condensed distances, each finite and >= 0.
    pub distances: *const f64,
    /// Length of `distances`.
    pub distances_len: u64,
    /// Parents (written): `2 n_taxa - 2` (NJ) or `2 n_taxa - 1` (UPGMA) entries.
    pub out_parent: *mut i32,
    /// Length of `out_parent`.
    pub out_parent_len: u64,
    /// Branch lengths (written), as many as `out_parent`.
    pub out_branch_length: *mut f64,
    /// Length of `out_branch_length`.
    pub out_branch_length_len: u64,
    /// NULL with length 0, or 1 value: the number of negative lengths set to 0.
    pub out_clamped: *mut u64,
    /// Length of `out_clamped` (0 or 1).
    pub out_clamped_len: u64,
}

/// See `genecontent.h`.
///
/// # Safety
/// `args` must point to a `gc_tree_args` of `args->struct_size` bytes whose pointers are valid
/// for their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_build_tree(args: *const gc_tree_args, err: *mut c_char, err_len: u64) -> i32 {
    guard(err, err_len, || {
        let a = read_args(args, "gc_tree_args", std::mem::size_of::<gc_tree_args>())?;
        let n = to_usize(a.n_taxa, "n_taxa")?;
        let distances = slice(a.distances, a.distances_len, "distances")?;
        let n_nodes = match a.method {
            GC_TREE_NJ => (2 * n).saturating_sub(2),
            GC_TREE_UPGMA => (2 * n).saturating_sub(1),
            other => {
                return Err(GcError::invalid(format!(
                    "method is {other}: use GC_TREE_NJ ({GC_TREE_NJ}) or GC_TREE_UPGMA ({GC_TREE_UPGMA})"
                )))
            }
        };
        let out_parent = slice_mut(a.out_parent, a.out_parent_len, "out_parent")?;
        let out_bl = slice_mut(a.out_branch_length, a.out_branch_length_len, "out_branch_length")?;
        if a.out_clamped_len > 1 {
            return Err(GcError::invalid(format!(
                "out_clamped_len is {}: pass 1 (or NULL with 0)",
                a.out_clamped_len
            )));
        }
        let out_clamped = slice_mut(a.out_clamped, a.out_clamped_len, "out_clamped")?;
        for (name, len) in [("out_parent_len", out_parent.len()), ("out_branch_length_len", out_bl.len())] {
            if len != n_nodes {
                return Err(GcError::invalid(format!(
                    "{name} is {len} but the tree of {n} taxa has {n_nodes} nodes"
                )));
            }
        }
        let pool = shared_pool(a.n_threads as usize)?;
        let tree = if a.method == GC_TREE_NJ {
            neighbor_joining(n, distances, &pool)?
        } else {
            upgma(n, distances, &pool)?
        };
        out_parent.copy_from_slice(&tree.parent);
        out_bl.copy_from_slice(&tree.branch_length);
        if let Some(c) = out_clamped.first_mut() {
            *c = tree.clamped;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distances::pair_index;

    fn condensed(n: usize, full: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; n * (n - 1) / 2];
        for i in 0..n {
            for j in i + 1..n {
                out[pair_index(n, i, j)] = full[i * n + j];
            }
        }
        out
    }

    #[test]
    fn nj_recovers_an_additive_four_taxon_tree() {
        // ((0:1,1:2):0.5,2:3,3:4) as an unrooted tree.
        let t = [1.0, 2.0, 3.0, 4.0];
        let inner = 0.5;
        let mut full = vec![0.0; 16];
        for i in 0..4 {
            for j in 0..4 {
                if i != j {
                    let same = (i < 2) == (j < 2);
                    full[i * 4 + j] = t[i] + t[j] + if same { 0.0 } else { inner };
                }
            }
        }
        let pool = shared_pool(1).unwrap();
        let tree = neighbor_joining(4, &condensed(4, &full), &pool).unwrap();
        // Joins (0, 1) into node 4, then the root 5 holds 4, 2 and 3.
        assert_eq!(tree.parent, vec![4, 4, 5, 5, 5, -1]);
        let want = [1.0, 2.0, 3.0, 4.0, 0.5];
        for (v, w) in want.iter().enumerate() {
            assert!((tree.branch_length[v] - w).abs() < 1e-12, "{v}: {:?}", tree.branch_length);
        }
        assert_eq!(tree.clamped, 0);
    }

    #[test]
    fn upgma_recovers_an_ultrametric_tree() {
        // ((0,1):1,(2,3):3) heights 1 and 3, root 4.
        let full = [0.0, 2.0, 8.0, 8.0, 2.0, 0.0, 8.0, 8.0, 8.0, 8.0, 0.0, 6.0, 8.0, 8.0, 6.0, 0.0];
        let pool = shared_pool(1).unwrap();
        let tree = upgma(4, &condensed(4, &full), &pool).unwrap();
        assert_eq!(tree.parent, vec![4, 4, 5, 5, 6, 6, -1]);
        assert_eq!(tree.branch_length, vec![1.0, 1.0, 3.0, 3.0, 3.0, 1.0, 0.0]);
    }

    /// Neighbour joining as `lib/tree_building/nj.ts` specifies it: every Q evaluated, in the
    /// same order and with the same operations.
    fn exhaustive_nj(n: usize, condensed: &[f64]) -> BuiltTree {
        let mut d = vec![0.0; n * n];
        for i in 0..n {
            for j in i + 1..n {
                let x = condensed[pair_index(n, i, j)];
                d[i * n + j] = x;
                d[j * n + i] = x;
            }
        }
        let mut parent = vec![-1i32; 2 * n - 2];
        let mut bl = vec![0.0; 2 * n - 2];
        let mut clamped = 0;
        let mut node_of: Vec<usize> = (0..n).collect();
        let mut active: Vec<usize> = (0..n).collect();
        let mut rsum: Vec<f64> =
            (0..n).map(|p| d[p * n..(p + 1) * n].iter().fold(0.0, |s, &x| s + x)).collect();
        let mut next = n;
        loop {
            let r = active.len();
            let rm2 = (r - 2) as f64;
            let (mut best, mut ia, mut ib) = (f64::INFINITY, 0, 0);
            for x in 0..r - 1 {
                for y in x + 1..r {
                    let (a, b) = (active[x], active[y]);
                    let q = rm2 * d[a * n + b] - rsum[a] - rsum[b];
                    if q < best {
                        (best, ia, ib) = (q, x, y);
                    }
                }
            }
            let (a, b) = (active[ia], active[ib]);
            let dab = d[a * n + b];
            let mut la = dab / 2.0 + (rsum[a] - rsum[b]) / (2.0 * rm2);
            let mut lb = dab - la;
            if la < 0.0 {
                lb += la;
                la = 0.0;
                clamped += 1;
            } else if lb < 0.0 {
                la += lb;
                lb = 0.0;
                clamped += 1;
            }
            if la < 0.0 {
                la = 0.0;
                clamped += 1;
            }
            if lb < 0.0 {
                lb = 0.0;
                clamped += 1;
            }
            let u = next;
            next += 1;
            (parent[node_of[a]], parent[node_of[b]]) = (u as i32, u as i32);
            (bl[node_of[a]], bl[node_of[b]]) = (la, lb);
            if r == 3 {
                let c = active.iter().copied().find(|&c| c != a && c != b).unwrap();
                let mut lc = (d[a * n + c] + d[b * n + c] - dab) / 2.0;
                if lc < 0.0 {
                    lc = 0.0;
                    clamped += 1;
                }
                parent[node_of[c]] = u as i32;
                bl[node_of[c]] = lc;
                break;
            }
            active.remove(ib);
            let mut ru = 0.0;
            for &c in &active {
                if c != a {
                    let (dac, dbc) = (d[a * n + c], d[b * n + c]);
                    let x = (dac + dbc - dab) / 2.0;
                    d[a * n + c] = x;
                    d[c * n + a] = x;
                    rsum[c] = ((rsum[c] - dac) - dbc) + x;
                    ru += x;
                }
            }
            rsum[a] = ru;
            node_of[a] = u;
        }
        BuiltTree { parent, branch_length: bl, clamped }
    }

    #[test]
    fn nj_equals_the_exhaustive_search_bit_for_bit() {
        let mut x = 11u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pool = shared_pool(1).unwrap();
        for rep in 0..240 {
            let n = 3 + (next() % 150) as usize;
            let m = n * (n - 1) / 2;
            let d: Vec<f64> = match rep % 5 {
                // Distinct distances.
                0 => (0..m).map(|_| (next() % 1_000_000) as f64 / 1e6).collect(),
                // Many ties, of distances and of Q.
                1 => (0..m).map(|_| (next() % 3) as f64).collect(),
                // Mostly zeros (identical genomes), some negative updated distances.
                2 => (0..m).map(|_| if next() % 4 == 0 { (next() % 5) as f64 * 0.25 } else { 0.0 }).collect(),
                // An additive tree: each tip's distance to the root of a random caterpillar.
                3 => {
                    let h: Vec<f64> = (0..n).map(|_| (next() % 100) as f64 / 64.0).collect();
                    let mut out = vec![0.0; m];
                    for i in 0..n {
                        for j in i + 1..n {
                            out[pair_index(n, i, j)] = h[i] + h[j] + (j - i) as f64 / 8.0;
                        }
                    }
                    out
                }
                // Jaccard-like distances of random sets.
                _ => {
                    let sets: Vec<u64> = (0..n).map(|_| next() | 1).collect();
                    let mut out = vec![0.0; m];
                    for i in 0..n {
                        for j in i + 1..n {
                            let (and, or) =
                                ((sets[i] & sets[j]).count_ones(), (sets[i] | sets[j]).count_ones());
                            out[pair_index(n, i, j)] = 1.0 - and as f64 / or as f64;
                        }
                    }
                    out
                }
            };
            let want = exhaustive_nj(n, &d);
            let got = neighbor_joining(n, &d, &pool).unwrap();
            assert_eq!(got.parent, want.parent, "case {rep} (n = {n}): parents");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.branch_length), bits(&want.branch_length), "case {rep} (n = {n}): lengths");
            assert_eq!(got.clamped, want.clamped, "case {rep} (n = {n}): clamped");
        }
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let n = 300;
        let mut x = 7u64;
        let d: Vec<f64> = (0..n * (n - 1) / 2)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 1000) as f64 / 997.0 + 0.01
            })
            .collect();
        for f in [neighbor_joining, upgma] {
            let one = f(n, &d, &shared_pool(1).unwrap()).unwrap();
            let two = f(n, &d, &shared_pool(2).unwrap()).unwrap();
            assert_eq!(one.parent, two.parent);
            assert_eq!(one.branch_length, two.branch_length);
        }
    }
}
