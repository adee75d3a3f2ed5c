//! Numerical correctness: brute force, log-space reference, SPARSE vs DENSE, gradients against
//! finite differences, thread-count invariance.

mod common;
use common::*;
use genecontent::dataset::{EngineChoice, GC_ALGO_AUTO, GC_ALGO_DENSE, GC_ALGO_SPARSE};

const RATES: [f64; 6] = [0.5, 1.0, 2.0, 0.3, 0.05, 0.07];

#[test]
fn brute_force_equals_pruning_on_small_trees() {
    let mut rng = Rng(1);
    for case in 0..120 {
        let n_tips = 1 + case % 9;
        let general = case % 2 == 0;
        let tree = random_tree(&mut rng, n_tips, general);
        if tree.parent.len() - n_tips > 14 {
            continue;
        }
        let states = random_patterns(&mut rng, n_tips, 20);
        for engine in ENGINES {
            let (algo, ds) = (engine, dataset_with(&tree, &states, 1, engine));
            let (ll, _) = eval(&ds, &RATES, false);
            for k in 0..3 {
                for p in 0..20 {
                    let want = brute_force(
                        &tree,
                        &states[p * n_tips..(p + 1) * n_tips],
                        RATES[2 * k],
                        RATES[2 * k + 1],
                    );
                    let got = ll[k * 20 + p];
                    // Both sum the same positive terms in a different order: ~n ulps of
                    // rounding, far below 1e-12 relative for trees of < 30 nodes.
                    assert!(
                        close(got, want, 1e-12),
                        "case {case} engine {algo:?} set {k} pattern {p}: {got} vs {want} {tree:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn single_tip_and_unary_trees() {
    // Single tip: log pi_s, or 0 for missing.
    let one = FlatTree { n_tips: 1, parent: vec![-1], bl: vec![0.0] };
    for algo in [GC_ALGO_DENSE, GC_ALGO_SPARSE, GC_ALGO_AUTO] {
        let ds = dataset(&one, &[0, 1, 2], 2, algo);
        let (ll, g) = eval(&ds, &[0.5, 1.5], true);
        let (pi0, pi1) = (0.75f64, 0.25f64);
        assert!(close(ll[0], pi0.ln(), 1e-15) && close(ll[1], pi1.ln(), 1e-15) && ll[2] == 0.0);
        // d log pi1 / d log gain = pi0; d log pi0 / d log gain = -pi1.
        assert!(close(g[0], -pi1, 1e-15) && close(g[1], pi1, 1e-15));
        assert!(close(g[2], pi0, 1e-15) && close(g[3], -pi0, 1e-15));
        assert_eq!(&g[4..], &[0.0, 0.0]);
    }
    // A chain of unary nodes equals one branch with the summed length.
    let chain = FlatTree { n_tips: 2, parent: vec![2, 4, 3, 4, -1], bl: vec![0.3, 0.9, 0.4, 0.0, 0.0] };
    let merged = FlatTree { n_tips: 2, parent: vec![2, 2, -1], bl: vec![0.7, 0.9, 0.0] };
    let states = [0, 1, 1, 1, 2, 0, 0, 0];
    for engine in ENGINES {
        let (a, _) = eval(&dataset_with(&chain, &states, 1, engine), &RATES, false);
        let (b, _) = eval(&dataset_with(&merged, &states, 1, engine), &RATES, false);
        for i in 0..a.len() {
            // Chapman-Kolmogorov holds exactly; only rounding of a few products differs.
            assert!(close(a[i], b[i], 1e-13), "{i}: {} vs {}", a[i], b[i]);
        }
    }
}

#[test]
fn caterpillar_5000_does_not_underflow() {
    let n = 5000;
    let tree = caterpillar(n, 0.1);
    let mut states = Vec::new();
    for t in 0..n {
        states.push((t % 2) as u8); // alternating
    }
    for t in 0..n {
        states.push(if t % 7 == 0 { 2 } else { (t % 3 == 0) as u8 });
    }
    for t in 0..n {
        states.push((t == 17) as u8);
    }
    let rates = [0.5, 1.0];
    for algo in ENGINES {
        let ds = dataset_with(&tree, &states, 2, algo);
        let (ll, g) = eval(&ds, &rates, true);
        for p in 0..3 {
            let want = log_space(&tree, &states[p * n..(p + 1) * n], 0.5, 1.0);
            assert!(ll[p].is_finite() && g[2 * p].is_finite() && g[2 * p + 1].is_finite());
            // ~10,000 rounded products (relative error ~1e-12 on the likelihood at worst,
            // i.e. an absolute 1e-12 on a log-likelihood of magnitude ~3,000).
            assert!(close(ll[p], want, 1e-12), "engine {algo:?} pattern {p}: {} vs {want}", ll[p]);
        }
        assert!(ll[0] < -2000.0, "alternating pattern should be very unlikely: {}", ll[0]);
        // Gradients against the dense algorithm (an independent scaling scheme).
        let (_, gd) = eval(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &rates, true);
        for i in 0..g.len() {
            // ~10,000 rounded products in value and derivative chains: 1e-10 relative.
            assert!((g[i] - gd[i]).abs() <= 1e-10 * (1.0 + gd[i].abs()), "engine {algo:?} grad {i}");
        }
    }
}

fn compare_sparse_dense(seed: u64, n_tips: usize, n_patterns: usize, general: bool) {
    let mut rng = Rng(seed);
    let tree = random_tree(&mut rng, n_tips, general);
    compare_on_tree(seed, &tree, &mut rng, n_patterns);
}

fn compare_on_tree(seed: u64, tree: &FlatTree, rng: &mut Rng, n_patterns: usize) {
    let n_tips = tree.n_tips;
    let mut states = random_patterns(rng, n_tips, n_patterns);
    // Duplicate some columns, to exercise merging.
    let dup = states[..n_tips * 10].to_vec();
    states.extend_from_slice(&dup);
    let dense = dataset(tree, &states, 2, GC_ALGO_DENSE);
    let (ld, gd) = eval(&dense, &RATES, true);
    for choice in [EngineChoice::Chains, EngineChoice::Blocked, EngineChoice::Auto] {
        let sparse = dataset_with(tree, &states, 2, (GC_ALGO_SPARSE, choice));
        check_against_dense(seed, &sparse, &ld, &gd);
    }
}

fn check_against_dense(seed: u64, sparse: &genecontent::dataset::Dataset, ld: &[f64], gd: &[f64]) {
    check_against_dense_at(seed, sparse, &RATES, ld, gd);
}

/// As [`check_against_dense`], at the parameter sets `rates` (those of `ld`, `gd`).
fn check_against_dense_at(
    seed: u64,
    sparse: &genecontent::dataset::Dataset,
    rates: &[f64],
    ld: &[f64],
    gd: &[f64],
) {
    let (ls, gs) = eval(sparse, rates, true);
    let (lv, _) = eval(sparse, rates, false);
    for i in 0..ld.len() {
        // Same products in a different order and with different rescaling points.
        assert!(close(ls[i], ld[i], 1e-12), "seed {seed} value {i}: {} vs {}", ls[i], ld[i]);
        assert_eq!(ls[i].to_bits(), lv[i].to_bits(), "value with and without gradient");
    }
    for i in 0..gd.len() {
        // Gradients are ratios of sums of derivative terms, slightly less stable than the values.
        // (NaN where the likelihood is exactly 0, e.g. zero-length sister tips that differ.)
        let tol = 1e-10 * (1.0 + gd[i].abs());
        assert!(
            (gs[i] - gd[i]).abs() <= tol || (gs[i].is_nan() && gd[i].is_nan()),
            "seed {seed} grad {i}: {} vs {}",
            gs[i],
            gd[i]
        );
    }
}

#[test]
fn sparse_equals_dense_on_random_trees() {
    for seed in 0..40 {
        let n_tips = [2, 3, 5, 17, 40, 90][seed as usize % 6];
        compare_sparse_dense(100 + seed, n_tips, 60, seed % 2 == 0);
    }
    compare_sparse_dense(7, 600, 400, false);
    compare_sparse_dense(8, 600, 400, true);
}

/// A tree with wide multifurcations: the root has 40 children (tips and clades), one clade has
/// 17 children (more than one word of child codes), one has 5, and there are unary nodes.
fn wide_tree(rng: &mut Rng) -> FlatTree {
    // Tips 0..70. Clade A: tips 0..17 under node 70. Clade B: tips 17..22 under node 71.
    // Unary chain: tip 22 under 72, 72 under 73. Root 74: nodes 70, 71, 73 and tips 23..70.
    let n_tips = 70;
    let mut parent = vec![0i32; 75];
    parent[..17].fill(70);
    parent[17..22].fill(71);
    parent[22] = 72;
    parent[72] = 73;
    parent[23..70].fill(74);
    parent[70] = 74;
    parent[71] = 74;
    parent[73] = 74;
    parent[74] = -1;
    let bl = (0..75).map(|v| if v == 74 { 0.0 } else { 0.05 + rng.uniform() }).collect();
    FlatTree { n_tips, parent, bl }
}

#[test]
fn sparse_equals_dense_on_wide_multifurcations() {
    let mut rng = Rng(77);
    let tree = wide_tree(&mut rng);
    compare_on_tree(77, &tree, &mut rng, 300);
    // Whole clades missing, the rest uniform or mixed.
    let mut states = Vec::new();
    for p in 0..40 {
        for t in 0..70 {
            let missing = (p % 4 == 0 && t < 17) || (p % 4 == 1 && (17..23).contains(&t));
            states.push(if missing { 2 } else { ((t * 7 + p) % 11 < p % 5) as u8 });
        }
    }
    let (ld, gd) = eval(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &RATES, true);
    for choice in [EngineChoice::Chains, EngineChoice::Blocked] {
        check_against_dense(78, &dataset_with(&tree, &states, 2, (GC_ALGO_SPARSE, choice)), &ld, &gd);
    }
}

#[test]
fn long_chains_through_lifted_matrices_equal_dense() {
    // A caterpillar with varied branch lengths: a family present in a block of tips sends one
    // chain of hundreds of pass nodes to the root, applied as products of 2^l chain matrices
    // (runs of absent, present and missing other children, up to 2^8 nodes long).
    let mut rng = Rng(404);
    let n = 600;
    let mut tree = caterpillar(n, 0.1);
    for (v, b) in tree.bl.iter_mut().enumerate() {
        if v != 2 * n - 2 {
            *b = 0.01 + 0.3 * rng.uniform();
        }
    }
    let mut states = Vec::new();
    for p in 0..60 {
        let (a, len) = (rng.below(n), 1 + rng.below(if p % 3 == 0 { 3 } else { n / 2 }));
        for t in 0..n {
            let inside = t >= a && t < a + len;
            let missing = p % 4 == 1 && (t + p) % 97 < 9;
            states.push(if missing { 2 } else { (inside ^ (p % 5 == 4)) as u8 });
        }
    }
    let (ld, gd) = eval(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &RATES, true);
    let ds = dataset_with(&tree, &states, 2, (GC_ALGO_SPARSE, EngineChoice::Chains));
    let s = ds.chain_stats().expect("chain engine");
    assert!(s.chain_ops * 8 < s.mixed_nodes, "long chains should be lifted: {s:?}");
    check_against_dense(404, &ds, &ld, &gd);
}

#[test]
fn auto_uses_mixed_nodes_unless_most_nodes_need_work() {
    let mut rng = Rng(21);
    let tree = random_tree(&mut rng, 400, false);
    // Rare families: a few present tips each.
    let mut states = vec![0u8; 400 * 200];
    for p in 0..200 {
        for _ in 0..3 {
            states[p * 400 + rng.below(400)] = 1;
        }
    }
    let ds = dataset(&tree, &states, 1, GC_ALGO_AUTO);
    let s = ds.chain_stats().expect("chain engine on a random tree with rare families");
    assert!(s.mixed_nodes < 200 * 40, "{s:?}");
    // Alternating columns on a caterpillar: every node is on a chain whose other children
    // alternate between absent and present, so no run can be lifted.
    let cat = caterpillar(300, 0.1);
    let alt: Vec<u8> = (0..300 * 20).map(|i| ((i % 300) % 2) as u8).collect();
    let ds = dataset(&cat, &alt, 1, GC_ALGO_AUTO);
    assert!(ds.chain_stats().is_none() && ds.blocked_stats().is_some());
}

#[test]
fn gradient_matches_central_differences() {
    let mut rng = Rng(5);
    for case in 0..8 {
        let n_tips = [4, 9, 30, 120][case % 4];
        let tree = random_tree(&mut rng, n_tips, case % 2 == 1);
        let states = random_patterns(&mut rng, n_tips, 30);
        let (gain, loss) = (0.4 + rng.uniform(), 0.2 + 2.0 * rng.uniform());
        for algo in ENGINES {
            let ds = dataset_with(&tree, &states, 1, algo);
            let (ll, g) = eval(&ds, &[gain, loss], true);
            let h = 1e-5;
            let at = |a: f64, b: f64| eval(&ds, &[gain * a.exp(), loss * b.exp()], false).0;
            let (ap, am, bp, bm) = (at(h, 0.0), at(-h, 0.0), at(0.0, h), at(0.0, -h));
            for p in 0..30 {
                if ll[p] == f64::NEG_INFINITY {
                    // Likelihood exactly 0 (sister tips at distance 0 that differ): no derivative.
                    assert!(g[2 * p].is_nan() && g[2 * p + 1].is_nan());
                    continue;
                }
                let fa = (ap[p] - am[p]) / (2.0 * h);
                let fb = (bp[p] - bm[p]) / (2.0 * h);
                // Truncation error h^2 |f'''| / 6 ~ 1e-10 * scale; rounding eps |ll| / h ~
                // 2e-11 |ll|. 1e-6 * (1 + |ll|) bounds both with a wide margin.
                let tol = 1e-6 * (1.0 + ll[p].abs());
                assert!(
                    (fa - g[2 * p]).abs() <= tol,
                    "case {case} p {p}: d/dlog gain {} vs fd {fa}",
                    g[2 * p]
                );
                assert!(
                    (fb - g[2 * p + 1]).abs() <= tol,
                    "case {case} p {p}: d/dlog loss {} vs fd {fb}",
                    g[2 * p + 1]
                );
            }
        }
    }
}

#[test]
fn results_are_bit_identical_for_1_and_2_threads() {
    let mut rng = Rng(9);
    let tree = random_tree(&mut rng, 500, true);
    let states = random_patterns(&mut rng, 500, 700);
    for algo in ENGINES {
        let (l1, g1) = eval(&dataset_with(&tree, &states, 1, algo), &RATES, true);
        let (l2, g2) = eval(&dataset_with(&tree, &states, 2, algo), &RATES, true);
        let (l3, g3) = eval(&dataset_with(&tree, &states, 3, algo), &RATES, true);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&l1), bits(&l2));
        assert_eq!(bits(&g1), bits(&g2));
        assert_eq!(bits(&l1), bits(&l3));
        assert_eq!(bits(&g1), bits(&g3));
    }
}

#[test]
fn avx2_and_portable_kernels_are_bit_identical() {
    let mut rng = Rng(11);
    let tree = random_tree(&mut rng, 300, true);
    let states = random_patterns(&mut rng, 300, 500);
    let ds = dataset_with(&tree, &states, 2, (GC_ALGO_SPARSE, EngineChoice::Blocked));
    let (l1, g1) = eval(&ds, &RATES, true);
    let (v1, _) = eval(&ds, &RATES, false);
    genecontent::engines::blocked::force_portable_kernel(true);
    let (l2, g2) = eval(&ds, &RATES, true);
    let (v2, _) = eval(&ds, &RATES, false);
    genecontent::engines::blocked::force_portable_kernel(false);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&l1), bits(&l2));
    assert_eq!(bits(&g1), bits(&g2));
    assert_eq!(bits(&v1), bits(&v2));
}

#[test]
fn mixed_engine_reports_progress_and_cancels() {
    use genecontent::dataset::Progress;
    use std::sync::atomic::{AtomicU64, Ordering};
    let mut rng = Rng(31);
    let tree = random_tree(&mut rng, 300, true);
    let states = random_patterns(&mut rng, 300, 2000);
    let ds = dataset_with(&tree, &states, 2, (GC_ALGO_SPARSE, EngineChoice::Chains));
    assert!(ds.chain_stats().is_some());
    let (done, total, cancel) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let prog = Progress { done: &done, total: &total, cancel: &cancel };
    let mut out = vec![0.0; 4000];
    ds.loglik(&[0.5, 1.0, 2.0, 0.4], &mut out, None, Some(&prog)).expect("evaluation");
    assert_eq!(total.load(Ordering::SeqCst), 4000);
    assert_eq!(done.load(Ordering::SeqCst), 4000);
    cancel.store(1, Ordering::SeqCst);
    let err = ds.loglik(&[0.5, 1.0, 2.0, 0.4], &mut out, None, Some(&prog)).unwrap_err();
    assert_eq!(err.code, genecontent::error::GC_ERR_CANCELLED);
    assert!(done.load(Ordering::SeqCst) < 4000);
}

#[test]
fn lifted_chains_equal_dense_at_extreme_rates() {
    // Rates from nearly frozen to saturated, and a stationary frequency of 1e-6, on a deep
    // caterpillar (long lifted chains whose matrices are close to singular or to rank one) and a
    // random tree with zero-length branches.
    let mut rng = Rng(505);
    let n = 400;
    let mut cat = caterpillar(n, 0.05);
    cat.bl[7] = 0.0;
    cat.bl[n + 3] = 0.0;
    let tree = random_tree(&mut rng, 300, true);
    let rates = [1e-6, 1.0, 1.0, 1e-6, 1e-4, 2e-4, 40.0, 60.0, 3.0, 3e-6];
    for t in [&cat, &tree] {
        let nt = t.n_tips;
        let mut states = random_patterns(&mut rng, nt, 150);
        for p in 0..40 {
            let a = rng.below(nt);
            states.extend((0..nt).map(|i| ((i >= a && i < a + 1 + p * 3) as u8) ^ (p % 7 == 3) as u8));
        }
        let (ld, gd) = eval(&dataset(t, &states, 1, GC_ALGO_DENSE), &rates, true);
        let ds = dataset_with(t, &states, 2, (GC_ALGO_SPARSE, EngineChoice::Chains));
        check_against_dense_at(505, &ds, &rates, &ld, &gd);
    }
}
