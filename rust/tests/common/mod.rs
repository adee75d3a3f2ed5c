//! Shared helpers of the integration tests: a small seeded RNG, tree and pattern generators,
//! and two independent references (brute-force enumeration, log-space pruning).
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use genecontent::dataset::{Dataset, EngineChoice, GC_ALGO_DENSE, GC_ALGO_SPARSE};

/// SplitMix64: small, seeded, reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A flat tree as the ABI takes it.
#[derive(Clone, Debug)]
pub struct FlatTree {
    pub n_tips: usize,
    pub parent: Vec<i32>,
    pub bl: Vec<f64>,
}

/// A random tree by repeatedly joining 1..=4 random roots under a new node (unary nodes and
/// multifurcations included when `general`), some zero-length branches.
pub fn random_tree(rng: &mut Rng, n_tips: usize, general: bool) -> FlatTree {
    let mut parent: Vec<i32> = vec![-1; n_tips];
    let mut active: Vec<usize> = (0..n_tips).collect();
    let mut next = n_tips;
    while active.len() > 1 || (general && next == n_tips && rng.below(3) == 0) {
        let k = if general {
            match rng.below(10) {
                0 => 1,
                1 | 2 => 3,
                3 => 4,
                _ => 2,
            }
        } else {
            2
        };
        let k = k.min(active.len());
        parent.push(-1);
        for _ in 0..k {
            let i = rng.below(active.len());
            let c = active.swap_remove(i);
            parent[c] = next as i32;
        }
        active.push(next);
        next += 1;
    }
    let bl = (0..parent.len())
        .map(|_| if rng.below(12) == 0 { 0.0 } else { 0.02 + 1.2 * rng.uniform() })
        .collect();
    FlatTree { n_tips, parent, bl }
}

/// A caterpillar tree ((((t0,t1),t2),t3)...) with every branch length `t`.
pub fn caterpillar(n_tips: usize, t: f64) -> FlatTree {
    let mut parent = vec![0i32; 2 * n_tips - 1];
    parent[0] = n_tips as i32;
    for (i, p) in parent.iter_mut().enumerate().take(n_tips).skip(1) {
        *p = (n_tips + i - 1) as i32;
    }
    for (v, p) in parent.iter_mut().enumerate().take(2 * n_tips - 2).skip(n_tips) {
        *p = (v + 1) as i32;
    }
    parent[2 * n_tips - 2] = -1;
    FlatTree { n_tips, parent, bl: vec![t; 2 * n_tips - 1] }
}

/// Random patterns of many kinds: random with a random presence probability, with missing
/// data, all-absent, all-present, single-present, single-absent, all-missing.
pub fn random_patterns(rng: &mut Rng, n_tips: usize, n_patterns: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(n_tips * n_patterns);
    for p in 0..n_patterns {
        let kind = if p < 6 { p } else { 6 + rng.below(4) };
        let q = rng.uniform();
        let miss = if rng.below(3) == 0 { 0.15 * rng.uniform() } else { 0.0 };
        let one = rng.below(n_tips);
        for t in 0..n_tips {
            let v = match kind {
                0 => 0,
                1 => 1,
                2 => (t == one) as u8,
                3 => (t != one) as u8,
                4 => 2,
                5 => {
                    if t == one {
                        2
                    } else {
                        0
                    }
                }
                6 => (rng.uniform() < 0.05) as u8,
                7 => (rng.uniform() < 0.95) as u8,
                _ => {
                    if rng.uniform() < miss {
                        2
                    } else {
                        (rng.uniform() < q) as u8
                    }
                }
            };
            s.push(v);
        }
    }
    s
}

pub fn dataset(tree: &FlatTree, states: &[u8], n_threads: usize, algo: u32) -> Dataset {
    let np = states.len().checked_div(tree.n_tips).unwrap_or(0);
    Dataset::new(tree.n_tips, &tree.parent, &tree.bl, np, states, n_threads, algo).expect("valid dataset")
}

/// The algorithms and sparse engines every correctness test runs: DENSE, SPARSE with the
/// chain engine, SPARSE with the blocked engine.
pub const ENGINES: [(u32, EngineChoice); 3] = [
    (GC_ALGO_DENSE, EngineChoice::Auto),
    (GC_ALGO_SPARSE, EngineChoice::Chains),
    (GC_ALGO_SPARSE, EngineChoice::Blocked),
];

pub fn dataset_with(
    tree: &FlatTree,
    states: &[u8],
    n_threads: usize,
    engine: (u32, EngineChoice),
) -> Dataset {
    let np = states.len().checked_div(tree.n_tips).unwrap_or(0);
    Dataset::with_engine(tree.n_tips, &tree.parent, &tree.bl, np, states, n_threads, engine.0, engine.1)
        .expect("valid dataset")
}

/// Log-likelihoods (and gradients when `grad`) of every pattern for the given rates.
pub fn eval(ds: &Dataset, rates: &[f64], grad: bool) -> (Vec<f64>, Vec<f64>) {
    let n = rates.len() / 2 * ds.n_patterns();
    let mut out = vec![0.0; n];
    let mut g = vec![0.0; if grad { 2 * n } else { 0 }];
    ds.loglik(rates, &mut out, if grad { Some(&mut g) } else { None }, None).expect("evaluation");
    (out, g)
}

fn p_matrix(gain: f64, loss: f64, t: f64) -> [[f64; 2]; 2] {
    let s = gain + loss;
    let (pi0, pi1) = (loss / s, gain / s);
    let e = (-s * t).exp_m1();
    [[1.0 + pi1 * e, -pi1 * e], [-pi0 * e, 1.0 + pi0 * e]]
}

/// Brute force: sums the joint probability over all 2^(internal nodes) internal states.
pub fn brute_force(tree: &FlatTree, states: &[u8], gain: f64, loss: f64) -> f64 {
    let nt = tree.n_tips;
    let nn = tree.parent.len();
    let ni = nn - nt;
    assert!(ni <= 16);
    let s = gain + loss;
    let prior = [loss / s, gain / s];
    let p: Vec<_> = tree.bl.iter().map(|&t| p_matrix(gain, loss, t)).collect();
    let mut total = 0.0;
    for mask in 0..(1u32 << ni) {
        let state = |v: usize| -> usize { ((mask >> (v - nt)) & 1) as usize };
        if ni == 0 {
            // Single tip, root = tip.
            return match states[0] {
                2 => 0.0,
                x => prior[x as usize].ln(),
            };
        }
        let mut prob = prior[state(nn - 1)];
        for v in 0..nn - 1 {
            let x = state(tree.parent[v] as usize);
            if v < nt {
                match states[v] {
                    2 => {}
                    y => prob *= p[v][x][y as usize],
                }
            } else {
                prob *= p[v][x][state(v)];
            }
        }
        total += prob;
    }
    total.ln()
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// Pruning carried out entirely in log space (log-sum-exp, no scaling), iterating over nodes.
pub fn log_space(tree: &FlatTree, states: &[u8], gain: f64, loss: f64) -> f64 {
    let nt = tree.n_tips;
    let nn = tree.parent.len();
    let s = gain + loss;
    let prior = [loss / s, gain / s];
    let mut lp = vec![[0.0f64; 2]; nn];
    for t in 0..nt {
        lp[t] = match states[t] {
            0 => [0.0, f64::NEG_INFINITY],
            1 => [f64::NEG_INFINITY, 0.0],
            _ => [0.0, 0.0],
        };
    }
    lp[nt..].fill([0.0, 0.0]);
    for v in 0..nn - 1 {
        let p = p_matrix(gain, loss, tree.bl[v]);
        let par = tree.parent[v] as usize;
        for x in 0..2 {
            let m = log_add(p[x][0].ln() + lp[v][0], p[x][1].ln() + lp[v][1]);
            lp[par][x] += m;
        }
    }
    log_add(prior[0].ln() + lp[nn - 1][0], prior[1].ln() + lp[nn - 1][1])
}

/// Log-likelihoods agree: |a - b| <= tol * max(|a|, |b|, 1) (exact equality for infinities,
/// NaN equals NaN). The floor of 1 matters only for log-likelihoods near 0 (likelihoods near
/// 1), where an absolute error in the log is the relative error of the likelihood.
pub fn close(a: f64, b: f64, tol: f64) -> bool {
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1.0)
}

/// Brute force with one `(gain, loss)` pair per node (`rates[2 v]`, `rates[2 v + 1]`: the
/// branch above `v`; the root's pair gives the stationary root prior), summing over all internal
/// states.
pub fn brute_force_per_node(tree: &FlatTree, states: &[u8], rates: &[f64]) -> f64 {
    let nt = tree.n_tips;
    let nn = tree.parent.len();
    let ni = nn - nt;
    assert!(ni <= 16);
    let (g, l) = (rates[2 * (nn - 1)], rates[2 * (nn - 1) + 1]);
    let prior = [l / (g + l), g / (g + l)];
    if ni == 0 {
        return match states[0] {
            2 => 0.0,
            x => prior[x as usize].ln(),
        };
    }
    let p: Vec<_> = (0..nn).map(|v| p_matrix(rates[2 * v], rates[2 * v + 1], tree.bl[v])).collect();
    let mut total = 0.0;
    for mask in 0..(1u32 << ni) {
        let state = |v: usize| -> usize { ((mask >> (v - nt)) & 1) as usize };
        let mut prob = prior[state(nn - 1)];
        for v in 0..nn - 1 {
            let x = state(tree.parent[v] as usize);
            if v < nt {
                if states[v] != 2 {
                    prob *= p[v][x][states[v] as usize];
                }
            } else {
                prob *= p[v][x][state(v)];
            }
        }
        total += prob;
    }
    total.ln()
}

/// Runs `Dataset::evaluate` and returns the log-likelihoods and (when `grad`) derivatives.
pub fn evaluate(ds: &Dataset, req: &genecontent::dataset::Request, grad: bool) -> (Vec<f64>, Vec<f64>) {
    let n_eval = req.patterns.map_or(ds.n_patterns(), |p| p.len());
    let n = req.n_sets * n_eval;
    let mut out = vec![0.0; n];
    let mut g = vec![0.0; if grad { 2 * n } else { 0 }];
    ds.evaluate(req, &mut out, if grad { Some(&mut g) } else { None }, None).expect("evaluation");
    (out, g)
}
