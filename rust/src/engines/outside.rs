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
