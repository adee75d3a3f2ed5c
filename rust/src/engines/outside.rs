//! The expectations pass (`gc_expectations`): per pattern, an inside (pruning) pass over every
//! node and an outside pass from the root down, giving for every branch the coefficients
//! `M[a][b] = w * O_v(a) * I_v(b) / L` of the joint end-state posterior
//! `P(u = a, v = b | column) = M[a][b] * P_ab(t_v)` (see `genecontent.h`).
//!
//! Both passes keep every partial as a stored pair times `2^exponent`, rescaled by exact powers
//! of two ([`crate::scaling`]) so that nothing underflows on deep trees; the coefficients are
//! formed from the stored values and the exponent difference. The inside pass performs the same
//! operations in the same order as the dense engine, so the log-likelihoods equal
//! [`crate::engines::dense::eval_pattern`]'s bit for bit.
//!
//! Multifurcations: the outside partial of the `i`-th child of `u` is `D_u` times the messages of
//! its siblings, formed from prefix and suffix products, so a node of degree `k` costs `O(k)`.
//!
//! The sparse pass ([`expect_pattern_sparse`]): a subtree whose tips are all in one state
//! (0, 1 or missing) has the same inside partials in every pattern ([`UniformTables`]), and
//! below its top everything is linear in the outside vector there. So per pattern only the
//! mixed nodes (found by walking up from the tips not in the pattern's most frequent state) are
//! computed; at the top of each uniform subtree the pattern adds its normalised outside vector
//! `w D_x(b) 2^E_x / L` to a per-(node, state) accumulator, and [`UniformTables::sweep`] carries
//! the sums of all patterns down once per set, with `K` (the siblings' messages times the
//! exponent ratio) and each node's P.

use crate::scaling::rescale_scalar;
use crate::transition::SetTables;
use crate::tree::Tree;

/// Per-thread scratch of the expectations pass.
#[derive(Default)]
pub struct OutsideScratch {
    /// Inside partial of every node (tips: the observed indicator) and its exponent.
    inside: Vec<[f64; 2]>,
    iex: Vec<f64>,
    /// Message every non-root node sends up its branch (exponent: that of its inside partial).
    msg: Vec<[f64; 2]>,
    /// Down partial of every node (the tips outside its subtree jointly with its state), with
    /// exponent.
    down: Vec<[f64; 2]>,
    dex: Vec<f64>,
    /// Prefix products of one node's children.
    pre: Vec<[f64; 2]>,
    pex: Vec<f64>,
    /// The tip states of the current pattern.
    pub states: Vec<u8>,
    /// The weighted coefficients of the current pattern, `n_nodes * 4`.
    pub row: Vec<f64>,
}

impl OutsideScratch {
    fn ensure(&mut self, nn: usize) {
        if self.inside.len() < nn {
            self.inside.resize(nn, [0.0; 2]);
            self.iex.resize(nn, 0.0);
            self.msg.resize(nn, [0.0; 2]);
            self.down.resize(nn, [0.0; 2]);
            self.dex.resize(nn, 0.0);
        }
        if self.row.len() != 4 * nn {
            self.row.resize(4 * nn, 0.0);
        }
    }
}

/// `x * 2^k` for an integer-valued `k`, without overflow in intermediate factors (results
/// beyond the double range become 0 or infinity, as the true value would).
#[inline]
pub fn ldexp(mut x: f64, k: f64) -> f64 {
    let mut k = k.clamp(-2400.0, 2400.0) as i32;
    while k > 1000 {
        x *= f64::from_bits(((1000 + 1023) as u64) << 52);
        k -= 1000;
    }
    while k < -1000 {
        x *= f64::from_bits(((1023 - 1000) as u64) << 52);
        k += 1000;
    }
    x * f64::from_bits(((k + 1023) as u64) << 52)
}

/// Multiplies `l` (exponent `e`) by `m` (exponent `me`) and rescales.
#[inline(always)]
fn mul_rescale(l: &mut [f64; 2], e: &mut f64, m: [f64; 2], me: f64) {
    *l = [l[0] * m[0], l[1] * m[1]];
    *e += me;
    let mut d = [0.0; 4];
    *e += rescale_scalar::<false>(l, &mut d);
}

/// Runs both passes on one pattern (`states[tip]`) with weight `w`: writes the weighted
/// coefficients of every node into `s.row` (`row[v * 4 + 2 a + b]`, root: its diagonal posterior)
/// and returns the pattern's log-likelihood.
///
/// A weight of 0 gives coefficients 0 without the outside pass. A pattern of likelihood 0
/// (possible only with zero-length branches between conflicting tips) has log-likelihood `-inf`
/// and, with a nonzero weight, non-finite coefficients, as the division by `L` gives.
pub fn expect_pattern(tree: &Tree, tabs: &SetTables, w: f64, s: &mut OutsideScratch) -> f64 {
    let (nt, nn) = (tree.n_tips, tree.n_nodes);
    s.ensure(nn);
    let root = nn - 1;
    // Inside: the operations of the dense engine, in its order.
    for t in 0..nt {
        let st = s.states[t];
        s.inside[t] = match st {
            0 => [1.0, 0.0],
            1 => [0.0, 1.0],
            _ => [1.0, 1.0],
        };
        s.iex[t] = 0.0;
        if t != root {
            s.msg[t] = tabs.tip_message(t, st).0;
        }
    }
    for v in nt..nn {
        let mut l = [1.0, 1.0];
        let mut d = [0.0; 4];
        let mut ex = 0.0;
        for (k, &c) in tree.children_of(v).iter().enumerate() {
            let c = c as usize;
            let m = s.msg[c];
            if c >= nt {
                ex += s.iex[c];
            }
            l = [l[0] * m[0], l[1] * m[1]];
            if k % 3 == 2 {
                ex += rescale_scalar::<false>(&mut l, &mut d);
            }
        }
        ex += rescale_scalar::<false>(&mut l, &mut d);
        s.inside[v] = l;
        s.iex[v] = ex;
        if v != root {
            s.msg[v] = tabs.message::<false>(v, l, [0.0; 4]).0;
        }
    }
    let pr = &tabs.prior;
    let ir = s.inside[root];
    let lik = pr.pi0 * ir[0] + pr.pi1 * ir[1];
    let ll = lik.ln() + s.iex[root] * std::f64::consts::LN_2;
    if w == 0.0 {
        // A weight of 0 leaves the pattern out (its coefficients are 0, even where L is 0).
        s.row.fill(0.0);
        return ll;
    }
    let er = s.iex[root];
    let wl = w / lik;
    s.row[4 * root..4 * root + 4].copy_from_slice(&[wl * pr.pi0 * ir[0], 0.0, 0.0, wl * pr.pi1 * ir[1]]);
    // Outside, parents before children (decreasing index order is a pre-order).
    s.down[root] = [pr.pi0, pr.pi1];
    s.dex[root] = 0.0;
    for u in (nt..nn).rev() {
        let ch = tree.children_of(u);
        let k = ch.len();
        if s.pre.len() < k {
            s.pre.resize(k, [0.0; 2]);
            s.pex.resize(k, 0.0);
        }
        let (mut l, mut e) = (s.down[u], s.dex[u]);
        for (i, &c) in ch.iter().enumerate() {
            s.pre[i] = l;
            s.pex[i] = e;
            mul_rescale(&mut l, &mut e, s.msg[c as usize], s.iex[c as usize]);
        }
        let (mut suf, mut se) = ([1.0, 1.0], 0.0);
        for i in (0..k).rev() {
            let c = ch[i] as usize;
            let mut o = s.pre[i];
            let mut eo = s.pex[i];
            mul_rescale(&mut o, &mut eo, suf, se);
            let iv = s.inside[c];
            let f = ldexp(wl, eo + s.iex[c] - er);
            let r = &mut s.row[4 * c..4 * c + 4];
            r[0] = f * o[0] * iv[0];
            r[1] = f * o[0] * iv[1];
            r[2] = f * o[1] * iv[0];
            r[3] = f * o[1] * iv[1];
            if c >= nt {
                let p = &tabs.p[c];
                let mut dn = [o[0] * p[0] + o[1] * p[2], o[0] * p[1] + o[1] * p[3]];
                let mut dd = [0.0; 4];
                eo += rescale_scalar::<false>(&mut dn, &mut dd);
                s.down[c] = dn;
                s.dex[c] = eo;
            }
            mul_rescale(&mut suf, &mut se, s.msg[c], s.iex[c]);
        }
    }
    ll
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldexp_is_exact_over_the_range() {
        assert_eq!(ldexp(1.5, 3.0), 12.0);
        assert_eq!(ldexp(1.0, -1074.0), f64::from_bits(1));
        assert_eq!(ldexp(2f64.powi(-1000), 1500.0), 2f64.powi(500));
        assert_eq!(ldexp(2f64.powi(1000), -1900.0), 2f64.powi(-900));
        assert_eq!(ldexp(1.0, -5000.0), 0.0);
        assert_eq!(ldexp(1.0, 5000.0), f64::INFINITY);
    }
}

/// Class of a node in one pattern: uniform in state 0, 1 or 2 (every tip below in that state;
/// 2 = missing), or [`MIXED`].
pub const MIXED: u8 = 3;

/// Per-set tables of the sparse expectations pass: for every node `v` and uniform state `s`
/// (entry `3 v + s`), the inside partial and message of the subtree with every tip in state `s`
/// (the dense engine's operations, so the values are bit for bit those a dense pass computes),
/// their exponent, and the factor `K` that carries an outside vector from a uniform node to its
/// child (see [`UniformTables::sweep`]).
#[derive(Default)]
pub struct UniformTables {
    inside: Vec<[f64; 2]>,
    iex: Vec<f64>,
    msg: Vec<[f64; 2]>,
    k: Vec<[f64; 2]>,
}

impl UniformTables {
    /// Fills the tables of one set.
    pub fn refill(&mut self, tree: &Tree, tabs: &SetTables) {
        let (nt, nn) = (tree.n_tips, tree.n_nodes);
        let root = nn - 1;
        self.inside.resize(3 * nn, [0.0; 2]);
        self.iex.resize(3 * nn, 0.0);
        self.msg.resize(3 * nn, [0.0; 2]);
        self.k.resize(3 * nn, [0.0; 2]);
        for s in 0..3 {
            for t in 0..nt {
                self.inside[3 * t + s] = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]][s];
                self.iex[3 * t + s] = 0.0;
                if t != root {
                    self.msg[3 * t + s] = tabs.tip_message(t, s as u8).0;
                }
            }
            for v in nt..nn {
                let mut l = [1.0, 1.0];
                let mut d = [0.0; 4];
                let mut ex = 0.0;
                for (k, &c) in tree.children_of(v).iter().enumerate() {
                    let c = c as usize;
                    let m = self.msg[3 * c + s];
                    if c >= nt {
                        ex += self.iex[3 * c + s];
                    }
                    l = [l[0] * m[0], l[1] * m[1]];
                    if k % 3 == 2 {
                        ex += rescale_scalar::<false>(&mut l, &mut d);
                    }
                }
                ex += rescale_scalar::<false>(&mut l, &mut d);
                self.inside[3 * v + s] = l;
                self.iex[3 * v + s] = ex;
                if v != root {
                    self.msg[3 * v + s] = tabs.message::<false>(v, l, [0.0; 4]).0;
                }
            }
            // K of every child c of u: the product of its siblings' messages, times
            // 2^(their exponents + E_c - E_u).
            let mut pre: Vec<([f64; 2], f64)> = Vec::new();
            for u in nt..nn {
                let ch = tree.children_of(u);
                pre.clear();
                let (mut l, mut e) = ([1.0, 1.0], 0.0);
                for &c in ch {
                    pre.push((l, e));
                    let c = c as usize;
                    mul_rescale(&mut l, &mut e, self.msg[3 * c + s], self.iex[3 * c + s]);
                }
                let (mut suf, mut se) = ([1.0, 1.0], 0.0);
                for (i, &c) in ch.iter().enumerate().rev() {
                    let c = c as usize;
                    let (mut o, mut eo) = pre[i];
                    mul_rescale(&mut o, &mut eo, suf, se);
                    let x = eo + self.iex[3 * c + s] - self.iex[3 * u + s];
                    self.k[3 * c + s] = [ldexp(o[0], x), ldexp(o[1], x)];
                    mul_rescale(&mut suf, &mut se, self.msg[3 * c + s], self.iex[3 * c + s]);
                }
            }
        }
    }

    /// Carries the outside vectors `acc[3 u + s]` (`w D_u(b) 2^E_u / L` summed over the patterns
    /// whose node `u` lies in a uniform-`s` subtree) down every uniform subtree, adding the
    /// coefficients of every branch below into `branch` (`n_nodes * 4`). Consumes `acc`.
    pub fn sweep(&self, tree: &Tree, tabs: &SetTables, acc: &mut [[f64; 2]], branch: &mut [f64]) {
        let nt = tree.n_tips;
        for u in (nt..tree.n_nodes).rev() {
            for s in 0..3 {
                let a = acc[3 * u + s];
                if a == [0.0, 0.0] {
                    continue;
                }
                for &c in tree.children_of(u) {
                    let c = c as usize;
                    let k = self.k[3 * c + s];
                    let x = [a[0] * k[0], a[1] * k[1]];
                    let i = self.inside[3 * c + s];
                    let r = &mut branch[4 * c..4 * c + 4];
                    r[0] += x[0] * i[0];
                    r[1] += x[0] * i[1];
                    r[2] += x[1] * i[0];
                    r[3] += x[1] * i[1];
                    if c >= nt {
                        let p = &tabs.p[c];
                        let t = &mut acc[3 * c + s];
                        t[0] += x[0] * p[0] + x[1] * p[2];
                        t[1] += x[0] * p[1] + x[1] * p[3];
                    }
                }
            }
        }
    }
}

/// Tree facts the sparse pass reads: the number of tips below every node.
pub struct TreeFacts {
    /// Tips in the subtree of each node.
    pub n_below: Vec<u32>,
}

impl TreeFacts {
    /// Counts the tips below every node.
    pub fn new(tree: &Tree) -> TreeFacts {
        let mut n_below = vec![0u32; tree.n_nodes];
        for v in 0..tree.n_nodes {
            if v < tree.n_tips {
                n_below[v] += 1;
            }
            if v != tree.root() {
                let p = tree.parent[v] as usize;
                n_below[p] += n_below[v];
            }
        }
        TreeFacts { n_below }
    }
}

/// Per-thread scratch of the sparse expectations pass.
#[derive(Default)]
pub struct SparseScratch {
    stamp: Vec<u32>,
    now: u32,
    cnt: Vec<[u32; 3]>,
    cls: Vec<u8>,
    marked: Vec<u32>,
    mixed: Vec<u32>,
    inside: Vec<[f64; 2]>,
    iex: Vec<f64>,
    msg: Vec<[f64; 2]>,
    down: Vec<[f64; 2]>,
    dex: Vec<f64>,
    pre: Vec<[f64; 2]>,
    pex: Vec<f64>,
}

/// Number of cells in state 0, 1 and 2 of every packed byte (4 cells of 2 bits).
const BYTE_COUNTS: [[u8; 3]; 256] = {
    let mut t = [[0u8; 3]; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 4 {
            let s = (b >> (2 * j)) & 3;
            if s < 3 {
                t[b][s] += 1;
            }
            j += 1;
        }
        b += 1;
    }
    t
};

/// Sparse expectations of one pattern (`row`: its tip states packed 4 per byte, 2 bits each,
/// padding cells 0) with weight `w`: only the nodes whose subtree
/// holds more than one kind of tip state are computed per pattern; the coefficients of their
/// child branches go into `branch` (`n_nodes * 4`, added), and the outside vector at the top of
/// every uniform subtree into `acc` (entry `3 v + s`, added) for [`UniformTables::sweep`].
/// Returns the log-likelihood, bit for bit that of [`expect_pattern`].
#[allow(clippy::too_many_arguments)] // the pass's tables, scratch and two accumulators
pub fn expect_pattern_sparse(
    tree: &Tree,
    facts: &TreeFacts,
    tabs: &SetTables,
    uni: &UniformTables,
    row: &[u8],
    w: f64,
    s: &mut SparseScratch,
    branch: &mut [f64],
    acc: &mut [[f64; 2]],
) -> f64 {
    let (nt, nn) = (tree.n_tips, tree.n_nodes);
    let root = nn - 1;
    if s.stamp.len() != nn {
        s.stamp = vec![0; nn];
        s.now = 0;
        s.cnt.resize(nn, [0; 3]);
        s.cls.resize(nn, 0);
        s.inside.resize(nn, [0.0; 2]);
        s.iex.resize(nn, 0.0);
        s.msg.resize(nn, [0.0; 2]);
        s.down.resize(nn, [0.0; 2]);
        s.dex.resize(nn, 0.0);
    }
    if s.now == u32::MAX {
        s.stamp.fill(0);
        s.now = 0;
    }
    s.now += 1;
    let now = s.now;
    // The most frequent state is the base: every node without another state below is uniform in it.
    let mut count = [0usize; 3];
    for &b in row {
        let c = BYTE_COUNTS[b as usize];
        count[0] += c[0] as usize;
        count[1] += c[1] as usize;
        count[2] += c[2] as usize;
    }
    count[0] -= 4 * row.len() - nt;
    let base = if count[0] >= count[1] && count[0] >= count[2] {
        0
    } else if count[1] >= count[2] {
        1
    } else {
        2
    };
    s.marked.clear();
    let base_byte = base * 0x55;
    for (i, &byte) in row.iter().enumerate() {
        if byte == base_byte {
            continue;
        }
        for j in 0..4 {
            let t = 4 * i + j;
            let st = (byte >> (2 * j)) & 3;
            if t >= nt || st == base {
                continue;
            }
            s.stamp[t] = now;
            s.cnt[t] = [0; 3];
            s.cnt[t][st as usize] = 1;
            s.marked.push(t as u32);
            let mut v = t;
            while v != root {
                let u = tree.parent[v] as usize;
                if s.stamp[u] == now {
                    break;
                }
                s.stamp[u] = now;
                s.cnt[u] = [0; 3];
                s.marked.push(u as u32);
                v = u;
            }
        }
    }
    s.marked.sort_unstable();
    s.mixed.clear();
    for i in 0..s.marked.len() {
        let v = s.marked[i] as usize;
        let c = s.cnt[v];
        let n = facts.n_below[v];
        let cls = if c[0] == n {
            0
        } else if c[1] == n {
            1
        } else if c[2] == n {
            2
        } else {
            s.mixed.push(v as u32);
            MIXED
        };
        s.cls[v] = cls;
        if v != root {
            let p = tree.parent[v] as usize;
            for (x, y) in s.cnt[p].iter_mut().zip(c) {
                *x += y;
            }
        }
    }
    let class = |s: &SparseScratch, v: usize| if s.stamp[v] == now { s.cls[v] } else { base };
    // Inside over the mixed nodes, children first (the dense engine's operations).
    for i in 0..s.mixed.len() {
        let v = s.mixed[i] as usize;
        let mut l = [1.0, 1.0];
        let mut d = [0.0; 4];
        let mut ex = 0.0;
        for (k, &c) in tree.children_of(v).iter().enumerate() {
            let c = c as usize;
            let cc = class(s, c);
            let (m, e) = if cc == MIXED {
                (s.msg[c], s.iex[c])
            } else {
                let j = 3 * c + cc as usize;
                (uni.msg[j], uni.iex[j])
            };
            if c >= nt {
                ex += e;
            }
            l = [l[0] * m[0], l[1] * m[1]];
            if k % 3 == 2 {
                ex += rescale_scalar::<false>(&mut l, &mut d);
            }
        }
        ex += rescale_scalar::<false>(&mut l, &mut d);
        s.inside[v] = l;
        s.iex[v] = ex;
        if v != root {
            s.msg[v] = tabs.message::<false>(v, l, [0.0; 4]).0;
        }
    }
    let pr = &tabs.prior;
    let rc = class(s, root);
    let (ir, er) = if rc == MIXED {
        (s.inside[root], s.iex[root])
    } else {
        (uni.inside[3 * root + rc as usize], uni.iex[3 * root + rc as usize])
    };
    let lik = pr.pi0 * ir[0] + pr.pi1 * ir[1];
    let ll = lik.ln() + er * std::f64::consts::LN_2;
    if w == 0.0 {
        return ll;
    }
    let wl = w / lik;
    branch[4 * root] += wl * pr.pi0 * ir[0];
    branch[4 * root + 3] += wl * pr.pi1 * ir[1];
    if rc != MIXED {
        let a = &mut acc[3 * root + rc as usize];
        a[0] += wl * pr.pi0;
        a[1] += wl * pr.pi1;
        return ll;
    }
    s.down[root] = [pr.pi0, pr.pi1];
    s.dex[root] = 0.0;
    for j in (0..s.mixed.len()).rev() {
        let u = s.mixed[j] as usize;
        let ch = tree.children_of(u);
        let k = ch.len();
        if s.pre.len() < k {
            s.pre.resize(k, [0.0; 2]);
            s.pex.resize(k, 0.0);
        }
        let (mut l, mut e) = (s.down[u], s.dex[u]);
        for (i, &c) in ch.iter().enumerate() {
            s.pre[i] = l;
            s.pex[i] = e;
            let c = c as usize;
            let cc = class(s, c);
            let (m, me) = if cc == MIXED {
                (s.msg[c], s.iex[c])
            } else {
                (uni.msg[3 * c + cc as usize], uni.iex[3 * c + cc as usize])
            };
            mul_rescale(&mut l, &mut e, m, me);
        }
        let (mut suf, mut se) = ([1.0, 1.0], 0.0);
        for i in (0..k).rev() {
            let c = ch[i] as usize;
            let cc = class(s, c);
            let (iv, ie, m) = if cc == MIXED {
                (s.inside[c], s.iex[c], s.msg[c])
            } else {
                let j = 3 * c + cc as usize;
                (uni.inside[j], uni.iex[j], uni.msg[j])
            };
            let mut o = s.pre[i];
            let mut eo = s.pex[i];
            mul_rescale(&mut o, &mut eo, suf, se);
            let f = ldexp(wl, eo + ie - er);
            let r = &mut branch[4 * c..4 * c + 4];
            r[0] += f * o[0] * iv[0];
            r[1] += f * o[0] * iv[1];
            r[2] += f * o[1] * iv[0];
            r[3] += f * o[1] * iv[1];
            if c >= nt {
                let p = &tabs.p[c];
                let dn = [o[0] * p[0] + o[1] * p[2], o[0] * p[1] + o[1] * p[3]];
                if cc == MIXED {
                    let mut dn = dn;
                    let mut dd = [0.0; 4];
                    eo += rescale_scalar::<false>(&mut dn, &mut dd);
                    s.down[c] = dn;
                    s.dex[c] = eo;
                } else {
                    let a = &mut acc[3 * c + cc as usize];
                    a[0] += f * dn[0];
                    a[1] += f * dn[1];
                }
            }
            mul_rescale(&mut suf, &mut se, m, ie);
        }
    }
    ll
}
