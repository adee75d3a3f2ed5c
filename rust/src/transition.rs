//! 2x2 transition matrices P(t) of the gain/loss chain and their derivatives with respect to
//! a = log(gain) and b = log(loss), plus the per-parameter-set tables the pruning kernels read.
//!
//! Every rate a kernel sees comes from [`SetTables`]: P(t) of every branch, its derivatives
//! along the set's two tangent directions, the tip messages and the root prior. Filling them from
//! one global pair or from one pair per node ([`SetRates`]) is all that distinguishes the rate
//! layouts; the propagation code is the same for both.

use crate::tree::Tree;

/// Stationary root prior (pi0, pi1) and its derivatives along the two tangent directions.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootPrior {
    /// pi0 = loss / (gain + loss).
    pub pi0: f64,
    /// pi1 = gain / (gain + loss).
    pub pi1: f64,
    /// Derivative of pi1 along direction 0 and 1; d pi0 is its negative. With the default
    /// directions (d log gain, d log loss) these are pi0 pi1 and -pi0 pi1.
    pub dpi1: [f64; 2],
}

impl RootPrior {
    /// The prior of rates `gain`, `loss`, with derivatives along d log gain and d log loss.
    pub fn new(gain: f64, loss: f64) -> Self {
        let s = gain + loss;
        let pi1 = gain / s;
        let pi0 = loss / s;
        let dp = pi0 * pi1;
        RootPrior { pi0, pi1, dpi1: [dp, -dp] }
    }

    /// The prior of rates `gain`, `loss`, with derivatives along the directions `t = [d log
    /// gain along 0, d log loss along 0, d log gain along 1, d log loss along 1]`
    /// (d pi1 = pi0 pi1 (d log gain - d log loss)).
    pub fn along(gain: f64, loss: f64, t: [f64; 4]) -> Self {
        let mut r = RootPrior::new(gain, loss);
        let dp = r.pi0 * r.pi1;
        r.dpi1 = [dp * (t[0] - t[1]), dp * (t[2] - t[3])];
        r
    }
}

/// P(t) of one branch, `[P00, P01, P10, P11]`, and its derivatives.
#[derive(Debug, Clone, Copy, Default)]
pub struct Branch {
    /// `[P00, P01, P10, P11]`.
    pub p: [f64; 4],
    /// Derivatives of `p` wrt log(gain).
    pub da: [f64; 4],
    /// Derivatives of `p` wrt log(loss).
    pub db: [f64; 4],
}

impl Branch {
    /// P(t) for rates `gain`, `loss` and branch length `t`, with e = expm1(-s t).
    pub fn new(gain: f64, loss: f64, t: f64) -> Self {
        let s = gain + loss;
        let pi1 = gain / s;
        let pi0 = loss / s;
        let e = expm1(-s * t);
        let f = (-s * t).exp(); // 1 + e
        let p01 = -pi1 * e;
        let p10 = -pi0 * e;
        let p = [1.0 + pi1 * e, p01, p10, 1.0 + pi0 * e];
        let dpi = pi0 * pi1; // d pi1/da = -d pi1/db = -d pi0/da = d pi0/db
        let de_da = -t * gain * f;
        let de_db = -t * loss * f;
        // d P01 = -(d pi1 e + pi1 d e); d P00 = -d P01; likewise P10/P11 with pi0.
        let d01a = -(dpi * e + pi1 * de_da);
        let d10a = -(-dpi * e + pi0 * de_da);
        let d01b = -(-dpi * e + pi1 * de_db);
        let d10b = -(dpi * e + pi0 * de_db);
        Branch { p, da: [-d01a, d01a, d10a, -d10a], db: [-d01b, d01b, d10b, -d10b] }
    }

    /// The same P(t) with its derivatives along the directions `t` (layout of
    /// [`RootPrior::along`]): `da' = da t[0] + db t[1]`, `db' = da t[2] + db t[3]`.
    pub fn along(self, t: [f64; 4]) -> Self {
        let (a, b) = (self.da, self.db);
        Branch {
            p: self.p,
            da: std::array::from_fn(|i| a[i] * t[0] + b[i] * t[1]),
            db: std::array::from_fn(|i| a[i] * t[2] + b[i] * t[3]),
        }
    }
}

/// The rates of one parameter set, as [`SetTables::refill`] reads them.
#[derive(Clone, Copy)]
pub enum SetRates<'a> {
    /// One pair for every branch and the root prior, with optional tangent directions
    /// `[d log gain along 0, d log loss along 0, d log gain along 1, d log loss along 1]`
    /// (absent: d log gain and d log loss).
    Global {
        /// Gain rate.
        gain: f64,
        /// Loss rate.
        loss: f64,
        /// Tangent directions, if not the default ones.
        tangent: Option<[f64; 4]>,
    },
    /// One pair per node of the caller's tree: `rates[2 w]`, `rates[2 w + 1]` for caller node
    /// `w`, and optional tangents `tangents[j * 2 n_nodes + 2 w + {0, 1}]` for direction `j`.
    /// Node `v` of the tree being filled is caller node `node_old[v]` (or `v` when `None`).
    PerNode {
        /// `2 n_nodes` rates.
        rates: &'a [f64],
        /// `4 n_nodes` tangent entries, if not the default directions.
        tangents: Option<&'a [f64]>,
        /// Caller node of each node of the tree being filled (depth-first renumbering).
        node_old: Option<&'a [u32]>,
    },
}

/// `exp(x) - 1`, accurate for small `x`.
#[inline]
pub fn expm1(x: f64) -> f64 {
    x.exp_m1()
}

/// Everything a kernel needs for one parameter set, in compact arrays (values apart from
/// derivatives, so value-only evaluations touch less memory).
///
/// Messages: a child `c` with partial `q` sends `m = P(t_c) q` up its branch. A tip in state 0
/// or 1 sends column 0 or 1 of its P; a missing tip (partial (1, 1)) sends (1, 1).
#[derive(Default)]
pub struct SetTables {
    /// `[P00, P01, P10, P11]` per node (the root's entry is unused).
    pub p: Vec<[f64; 4]>,
    /// Per node, derivatives of `p` along tangent direction 0 (first 4) and 1 (last 4); by
    /// default d/d log(gain) and d/d log(loss).
    pub dp: Vec<[f64; 8]>,
    /// Per tip, `[m0, m1]` of state 0 then of state 1: `[P00, P10, P01, P11]`.
    pub tip_val: Vec<[f64; 4]>,
    /// Per tip, `[dm0/da, dm1/da, dm0/db, dm1/db]` of state 0 then of state 1 (`a`, `b`: the
    /// two tangent directions).
    pub tip_der: Vec<[f64; 8]>,
    /// Root prior.
    pub prior: RootPrior,
}

impl SetTables {
    /// Computes the tables of one parameter set (each P(t) once per branch) into these buffers,
    /// reusing their capacity (start from `SetTables::default()`). Derivatives are along the
    /// set's tangent directions (see [`SetRates`]).
    pub fn refill(&mut self, tree: &Tree, rates: SetRates) {
        self.p.clear();
        self.dp.clear();
        self.tip_val.clear();
        self.tip_der.clear();
        let root = tree.root();
        match rates {
            SetRates::Global { gain, loss, tangent } => {
                self.prior = match tangent {
                    None => RootPrior::new(gain, loss),
                    Some(t) => RootPrior::along(gain, loss, t),
                };
                for (v, &len) in tree.branch_length.iter().enumerate() {
                    let b = Branch::new(gain, loss, len);
                    self.push(v < tree.n_tips, if let Some(t) = tangent { b.along(t) } else { b });
                }
            }
            SetRates::PerNode { rates, tangents, node_old } => {
                let r = rates.len();
                let old = |v: usize| node_old.map_or(v, |o| o[v] as usize);
                let tangent =
                    |w: usize| tangents.map(|t| [t[2 * w], t[2 * w + 1], t[r + 2 * w], t[r + 2 * w + 1]]);
                let w = old(root);
                let (g, l) = (rates[2 * w], rates[2 * w + 1]);
                self.prior = match tangent(w) {
                    None => RootPrior::new(g, l),
                    Some(t) => RootPrior::along(g, l, t),
                };
                for (v, &len) in tree.branch_length.iter().enumerate() {
                    let w = old(v);
                    let b = Branch::new(rates[2 * w], rates[2 * w + 1], len);
                    self.push(v < tree.n_tips, if let Some(t) = tangent(w) { b.along(t) } else { b });
                }
            }
        }
    }

    /// Appends the entries of the next node (a tip when `tip`).
    #[inline]
    fn push(&mut self, tip: bool, b: Branch) {
        self.p.push(b.p);
        self.dp.push([b.da[0], b.da[1], b.da[2], b.da[3], b.db[0], b.db[1], b.db[2], b.db[3]]);
        if tip {
            self.tip_val.push([b.p[0], b.p[2], b.p[1], b.p[3]]);
            self.tip_der.push([b.da[0], b.da[2], b.db[0], b.db[2], b.da[1], b.da[3], b.db[1], b.db[3]]);
        }
    }

    /// Message `[m0, m1]` and derivatives `[dm0/da, dm1/da, dm0/db, dm1/db]` of tip `c` in
    /// state `s` (0, 1 or 2 = missing).
    #[inline(always)]
    pub fn tip_message(&self, c: usize, s: u8) -> ([f64; 2], [f64; 4]) {
        if s >= 2 {
            return ([1.0, 1.0], [0.0; 4]);
        }
        let k = s as usize;
        let v = &self.tip_val[c];
        let d = &self.tip_der[c];
        ([v[2 * k], v[2 * k + 1]], [d[4 * k], d[4 * k + 1], d[4 * k + 2], d[4 * k + 3]])
    }

    /// Message of internal child `c` with partial `q` (derivatives `dq`, same layout as
    /// messages) and, with `G`, its derivatives.
    #[inline(always)]
    pub fn message<const G: bool>(&self, c: usize, q: [f64; 2], dq: [f64; 4]) -> ([f64; 2], [f64; 4]) {
        let p = &self.p[c];
        let m = [p[0] * q[0] + p[1] * q[1], p[2] * q[0] + p[3] * q[1]];
        if !G {
            return (m, [0.0; 4]);
        }
        let d = &self.dp[c];
        (
            m,
            [
                d[0] * q[0] + d[1] * q[1] + p[0] * dq[0] + p[1] * dq[1],
                d[2] * q[0] + d[3] * q[1] + p[2] * dq[0] + p[3] * dq[1],
                d[4] * q[0] + d[5] * q[1] + p[0] * dq[2] + p[1] * dq[3],
                d[6] * q[0] + d[7] * q[1] + p[2] * dq[2] + p[3] * dq[3],
            ],
        )
    }
}

/// Multiplies partial `l` (derivatives `d`) by message `m` (derivatives `dm`), product rule.
#[inline(always)]
pub fn multiply<const G: bool>(l: &mut [f64; 2], d: &mut [f64; 4], m: [f64; 2], dm: [f64; 4]) {
    if G {
        *d = [
            d[0] * m[0] + l[0] * dm[0],
            d[1] * m[1] + l[1] * dm[1],
            d[2] * m[0] + l[0] * dm[2],
            d[3] * m[1] + l[1] * dm[3],
        ];
    }
    *l = [l[0] * m[0], l[1] * m[1]];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one_and_derivatives_match_differences() {
        for &(g, l, t) in &[(0.5, 1.0, 0.1), (3.0, 0.2, 2.0), (1e-3, 2e-3, 1e-4), (2.0, 2.0, 0.0)] {
            let b = Branch::new(g, l, t);
            assert!((b.p[0] + b.p[1] - 1.0).abs() < 1e-15);
            assert!((b.p[2] + b.p[3] - 1.0).abs() < 1e-15);
            // Central differences with step 1e-5 on the log scale: truncation error ~h^2 = 1e-10,
            // rounding ~1e-16/h = 1e-11, so 1e-8 absolute is a safe bound for entries <= 1.
            let h: f64 = 1e-5;
            let bp = Branch::new(g * h.exp(), l, t);
            let bm = Branch::new(g * (-h).exp(), l, t);
            let cp = Branch::new(g, l * h.exp(), t);
            let cm = Branch::new(g, l * (-h).exp(), t);
            for k in 0..4 {
                assert!(((bp.p[k] - bm.p[k]) / (2.0 * h) - b.da[k]).abs() < 1e-8, "da {k}");
                assert!(((cp.p[k] - cm.p[k]) / (2.0 * h) - b.db[k]).abs() < 1e-8, "db {k}");
            }
        }
    }
}
