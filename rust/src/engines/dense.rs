//! GC_ALGO_DENSE: straightforward Felsenstein pruning of one pattern at a time over every node,
//! in scalar code, with forward-mode derivatives. It is the baseline the sparse algorithm is
//! measured and tested against.

use crate::scaling::rescale_scalar;
use crate::transition::{multiply, SetTables};
use crate::tree::Tree;

/// Per-thread scratch of the dense kernel: one partial per internal node.
#[derive(Default)]
pub struct DenseScratch {
    part: Vec<[f64; 2]>,
    dpart: Vec<[f64; 4]>,
    exp: Vec<f64>,
}

impl DenseScratch {
    fn ensure(&mut self, n_internal: usize) {
        if self.part.len() < n_internal {
            self.part.resize(n_internal, [0.0; 2]);
            self.dpart.resize(n_internal, [0.0; 4]);
            self.exp.resize(n_internal, 0.0);
        }
    }
}

/// Log-likelihood of one pattern (`states[tip]`), and with `G` its derivatives along the two
/// tangent directions of the set (by default log gain and log loss).
pub fn eval_pattern<const G: bool>(
    tree: &Tree,
    tabs: &SetTables,
    states: &[u8],
    s: &mut DenseScratch,
) -> (f64, [f64; 2]) {
    let nt = tree.n_tips;
    let ni = tree.n_nodes - nt;
    s.ensure(ni);
    let (mut l, mut d, mut ex) = ([0.0f64; 2], [0.0f64; 4], 0.0f64);
    if ni == 0 {
        // Single-tip tree: the root is the tip.
        l = match states[0] {
            0 => [1.0, 0.0],
            1 => [0.0, 1.0],
            _ => [1.0, 1.0],
        };
    }
    for v in nt..tree.n_nodes {
        l = [1.0, 1.0];
        d = [0.0; 4];
        ex = 0.0;
        for (k, &c) in tree.children_of(v).iter().enumerate() {
            let c = c as usize;
            let (m, dm) = if c < nt {
                tabs.tip_message(c, states[c])
            } else {
                ex += s.exp[c - nt];
                tabs.message::<G>(c, s.part[c - nt], if G { s.dpart[c - nt] } else { [0.0; 4] })
            };
            multiply::<G>(&mut l, &mut d, m, dm);
            if k % 3 == 2 {
                ex += rescale_scalar::<G>(&mut l, &mut d);
            }
        }
        ex += rescale_scalar::<G>(&mut l, &mut d);
        s.part[v - nt] = l;
        if G {
            s.dpart[v - nt] = d;
        }
        s.exp[v - nt] = ex;
    }
    root_combine::<G>(tabs, l, d, ex)
}

/// Combines a root partial (true value `l * 2^ex`) with the root prior.
#[inline(always)]
pub fn root_combine<const G: bool>(tabs: &SetTables, l: [f64; 2], d: [f64; 4], ex: f64) -> (f64, [f64; 2]) {
    let pr = &tabs.prior;
    let lik = pr.pi0 * l[0] + pr.pi1 * l[1];
    let ll = lik.ln() + ex * std::f64::consts::LN_2;
    if !G {
        return (ll, [0.0; 2]);
    }
    // d pi0 = -d pi1 along both directions.
    let [d0, d1] = pr.dpi1;
    let ga = -d0 * l[0] + pr.pi0 * d[0] + d0 * l[1] + pr.pi1 * d[1];
    let gb = -d1 * l[0] + pr.pi0 * d[2] + d1 * l[1] + pr.pi1 * d[3];
    (ll, [ga / lik, gb / lik])
}

/// Writes the messages every node sends up its branch when all tips below it are in state `b`
/// (0 or 1), `[m0, m1, exponent, 0]` with derivatives (with `G`), at entry `at(v)` of `val` /
/// `der`, and returns the result of the pattern of all tips in state `b`. The root's own entry
/// is not written.
pub fn uniform_messages<const G: bool>(
    tree: &Tree,
    tabs: &SetTables,
    b: usize,
    val: &mut [[f64; 4]],
    der: &mut [[f64; 4]],
    at: impl Fn(usize) -> usize,
) -> (f64, [f64; 2]) {
    let (nt, nn) = (tree.n_tips, tree.n_nodes);
    for t in 0..nt {
        let (m, dm) = tabs.tip_message(t, b as u8);
        val[at(t)] = [m[0], m[1], 0.0, 0.0];
        if G {
            der[at(t)] = dm;
        }
    }
    for v in nt..nn {
        let mut l = [1.0, 1.0];
        let mut d = [0.0; 4];
        let mut ex = 0.0;
        for (k, &c) in tree.children_of(v).iter().enumerate() {
            let i = at(c as usize);
            let m = val[i];
            ex += m[2];
            multiply::<G>(&mut l, &mut d, [m[0], m[1]], if G { der[i] } else { [0.0; 4] });
            if k % 3 == 2 {
                ex += rescale_scalar::<G>(&mut l, &mut d);
            }
        }
        ex += rescale_scalar::<G>(&mut l, &mut d);
        if v == nn - 1 {
            return root_combine::<G>(tabs, l, d, ex);
        }
        let (m, dm) = tabs.message::<G>(v, l, d);
        val[at(v)] = [m[0], m[1], ex, 0.0];
        if G {
            der[at(v)] = dm;
        }
    }
    unreachable!("the root is the last node")
}
