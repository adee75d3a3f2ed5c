//! `Dataset::evaluate`: per-branch rate layouts, tangent directions and pattern subsets, on the
//! dense, chain and blocked engines, against brute force, central finite differences, the
//! global layout and full evaluations.

mod common;
use common::*;
use genecontent::dataset::{Dataset, RateLayout, Request, GC_ALGO_DENSE};

/// Log-uniform rates between `lo` and `hi`, one pair per node.
fn node_rates(rng: &mut Rng, n_nodes: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..2 * n_nodes).map(|_| (lo.ln() + (hi / lo).ln() * rng.uniform()).exp()).collect()
}

fn global(n_sets: usize, rates: &[f64]) -> Request<'_> {
    Request { n_sets, layout: RateLayout::Global, rates, tangents: None, patterns: None }
}

fn per_branch(n_sets: usize, rates: &[f64]) -> Request<'_> {
    Request { n_sets, layout: RateLayout::PerBranch, rates, tangents: None, patterns: None }
}

/// Equal as numbers (0 == -0), NaN equal to NaN.
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Trees of every shape the engines treat differently: binary, with multifurcations and unary
/// nodes (`random_tree` with `general`), and a caterpillar.
fn trees(rng: &mut Rng) -> Vec<FlatTree> {
    vec![
        random_tree(rng, 2, false),
        random_tree(rng, 9, true),
        random_tree(rng, 40, false),
        random_tree(rng, 70, true),
        random_tree(rng, 150, true),
        caterpillar(60, 0.15),
    ]
}

/// Patterns of many kinds (missing data included), with some columns repeated so that distinct
/// patterns stand for several input patterns.
fn patterns(rng: &mut Rng, n_tips: usize, n: usize) -> Vec<u8> {
    let mut s = random_patterns(rng, n_tips, n);
    let dup = s[..n_tips * 8.min(n)].to_vec();
    s.extend_from_slice(&dup);
    s
}

#[test]
fn per_branch_with_equal_rates_equals_global_bit_for_bit() {
    // Per-branch tables are filled by the same function of (gain, loss, t) per node as global
    // ones, and the propagation code is shared, so the results are the same doubles.
    let mut rng = Rng(11);
    let pairs = [(0.5, 1.0), (1e-7, 3e-7), (200.0, 0.02), (1e3, 1e3), (0.03, 0.3)];
    for tree in trees(&mut rng) {
        let states = patterns(&mut rng, tree.n_tips, 50);
        let nn = tree.parent.len();
        let g: Vec<f64> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
        let pb: Vec<f64> = pairs.iter().flat_map(|&(a, b)| (0..nn).flat_map(move |_| [a, b])).collect();
        for engine in ENGINES {
            let ds = dataset_with(&tree, &states, 2, engine);
            let (lg, gg) = evaluate(&ds, &global(pairs.len(), &g), true);
            let (lp, gp) = evaluate(&ds, &per_branch(pairs.len(), &pb), true);
            for i in 0..lg.len() {
                assert_eq!(lg[i].to_bits(), lp[i].to_bits(), "{engine:?} value {i}");
            }
            for i in 0..gg.len() {
                assert_eq!(
                    gg[i].to_bits(),
                    gp[i].to_bits(),
                    "{engine:?} derivative {i}: {} vs {}",
                    gg[i],
                    gp[i]
                );
            }
        }
    }
}

#[test]
fn per_branch_equals_brute_force_on_small_trees() {
    let mut rng = Rng(12);
    let mut checked = 0;
    for case in 0..80 {
        let tree = random_tree(&mut rng, 1 + case % 8, case % 2 == 0);
        let nn = tree.parent.len();
        if nn - tree.n_tips > 13 {
            continue;
        }
        let states = random_patterns(&mut rng, tree.n_tips, 12);
        let rates = node_rates(&mut rng, nn, 1e-2, 10.0);
        let rates2 = node_rates(&mut rng, nn, 1e-3, 3.0);
        let both: Vec<f64> = rates.iter().chain(&rates2).copied().collect();
        for engine in ENGINES {
            let ds = dataset_with(&tree, &states, 1, engine);
            let (ll, _) = evaluate(&ds, &per_branch(2, &both), false);
            for (k, r) in [&rates, &rates2].into_iter().enumerate() {
                for p in 0..12 {
                    let want =
                        brute_force_per_node(&tree, &states[p * tree.n_tips..(p + 1) * tree.n_tips], r);
                    // The same positive terms summed in a different order: a few ulps per node
                    // on trees of < 30 nodes, far below 1e-12.
                    let got = ll[k * 12 + p];
                    assert!(
                        close(got, want, 1e-12),
                        "case {case} {engine:?} set {k} pattern {p}: {got} vs {want}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 2000, "only {checked} comparisons");
}

/// Central differences of the log-likelihoods along tangent direction `j` of every set: each
/// rate moves to `rate * exp(±h t)`.
fn central_differences(ds: &Dataset, req: &Request, tangents: &[f64], j: usize, h: f64) -> Vec<f64> {
    let r = req.rates.len() / req.n_sets;
    let shifted = |sign: f64| {
        let rates: Vec<f64> = (0..req.rates.len())
            .map(|i| {
                let (k, e) = (i / r, i % r);
                req.rates[i] * (sign * h * tangents[(k * 2 + j) * r + e]).exp()
            })
            .collect();
        evaluate(ds, &Request { rates: &rates, tangents: None, ..*req }, false).0
    };
    let (up, down) = (shifted(1.0), shifted(-1.0));
    up.iter().zip(&down).map(|(a, b)| (a - b) / (2.0 * h)).collect()
}

#[test]
fn directional_derivatives_equal_central_differences() {
    let mut rng = Rng(13);
    for tree in trees(&mut rng) {
        let states = patterns(&mut rng, tree.n_tips, 30);
        let nn = tree.parent.len();
        let np = states.len() / tree.n_tips;
        for engine in ENGINES {
            let ds = dataset_with(&tree, &states, 2, engine);
            for layout in [RateLayout::Global, RateLayout::PerBranch] {
                let r = if layout == RateLayout::Global { 2 } else { 2 * nn };
                let rates: Vec<f64> = (0..2).flat_map(|_| node_rates(&mut rng, r / 2, 0.05, 3.0)).collect();
                let tangents: Vec<f64> = (0..2 * 2 * r).map(|_| 2.0 * rng.uniform() - 1.0).collect();
                let req =
                    Request { n_sets: 2, layout, rates: &rates, tangents: Some(&tangents), patterns: None };
                let (_, g) = evaluate(&ds, &req, true);
                for j in 0..2 {
                    let fd = central_differences(&ds, &req, &tangents, j, 1e-5);
                    for i in 0..2 * np {
                        // Truncation ~h^2 f''' ~ 1e-10 and rounding ~1e-16 |logL| / h ~ 1e-9 for
                        // log-likelihoods of a few hundred: 1e-6 leaves a wide margin while a
                        // wrong tangent (an O(1) error) fails.
                        let (a, b) = (g[2 * i + j], fd[i]);
                        assert!(
                            (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                            "{engine:?} {layout:?} dir {j} result {i}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn default_tangents_are_d_log_gain_and_d_log_loss() {
    // Explicit tangents (1, 0) and (0, 1) for every node give the default derivatives; for a
    // global set those are d/d log gain and d/d log loss as in `loglik`.
    let mut rng = Rng(14);
    let tree = random_tree(&mut rng, 50, true);
    let states = patterns(&mut rng, 50, 40);
    let nn = tree.parent.len();
    let rates = node_rates(&mut rng, nn, 0.1, 2.0);
    let mut tangents = vec![0.0; 4 * nn];
    for v in 0..nn {
        tangents[2 * v] = 1.0;
        tangents[2 * nn + 2 * v + 1] = 1.0;
    }
    for engine in ENGINES {
        let ds = dataset_with(&tree, &states, 2, engine);
        let (_, d) = evaluate(&ds, &per_branch(1, &rates), true);
        let (_, e) = evaluate(&ds, &Request { tangents: Some(&tangents), ..per_branch(1, &rates) }, true);
        assert!(d.iter().zip(&e).all(|(a, b)| same(*a, *b)), "{engine:?}");
        let (l0, g0) = eval(&ds, &[0.4, 1.1], true);
        let (l1, g1) =
            evaluate(&ds, &Request { tangents: Some(&[1.0, 0.0, 0.0, 1.0]), ..global(1, &[0.4, 1.1]) }, true);
        assert_eq!(l0, l1);
        assert!(g0.iter().zip(&g1).all(|(a, b)| same(*a, *b)), "{engine:?}");
    }
}

#[test]
fn subsets_equal_the_entries_of_full_results_bit_for_bit() {
    let mut rng = Rng(15);
    for tree in trees(&mut rng) {
        let states = patterns(&mut rng, tree.n_tips, 120);
        let np = states.len() / tree.n_tips;
        let nn = tree.parent.len();
        let rates = node_rates(&mut rng, 2 * nn, 0.01, 5.0);
        let tangents: Vec<f64> = (0..8 * nn).map(|_| rng.uniform() - 0.3).collect();
        let mut subsets: Vec<Vec<u32>> = vec![vec![0], vec![np as u32 - 1], (0..np as u32).collect()];
        for q in [0.05, 0.3, 0.8] {
            subsets.push((0..np as u32).filter(|_| rng.uniform() < q).collect());
        }
        subsets.retain(|s| !s.is_empty());
        for engine in ENGINES {
            let ds = dataset_with(&tree, &states, 2, engine);
            for layout in [RateLayout::Global, RateLayout::PerBranch] {
                let (rates, tangents) = if layout == RateLayout::Global {
                    (&[0.3, 0.9, 2.0, 0.1][..], &tangents[..8])
                } else {
                    (&rates[..], &tangents[..])
                };
                let full = Request { n_sets: 2, layout, rates, tangents: Some(tangents), patterns: None };
                let (lf, gf) = evaluate(&ds, &full, true);
                let (lv, _) = evaluate(&ds, &Request { tangents: None, ..full }, false);
                for sub in &subsets {
                    let req = Request { patterns: Some(sub), ..full };
                    let (ls, gs) = evaluate(&ds, &req, true);
                    let (lsv, _) = evaluate(&ds, &Request { tangents: None, ..req }, false);
                    let m = sub.len();
                    for k in 0..2 {
                        for (i, &p) in sub.iter().enumerate() {
                            let (a, b) = (k * m + i, k * np + p as usize);
                            assert_eq!(
                                ls[a].to_bits(),
                                lf[b].to_bits(),
                                "{engine:?} {layout:?} set {k} pattern {p}"
                            );
                            assert_eq!(lsv[a].to_bits(), lv[b].to_bits());
                            for j in 0..2 {
                                assert_eq!(gs[2 * a + j].to_bits(), gf[2 * b + j].to_bits());
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn extreme_per_branch_rates_sparse_engines_equal_dense() {
    // Rates from 1e-8 to 1e3 per node, zero-length branches (random_tree makes some), missing
    // data: the sparse engines against the dense one, with the tolerances of the global tests
    // (values: the same products in another order, 1e-12; derivatives: ratios of sums, 1e-10).
    let mut rng = Rng(16);
    for (n, general) in [(30, true), (300, false), (300, true)] {
        let tree = random_tree(&mut rng, n, general);
        let states = patterns(&mut rng, n, 200);
        let nn = tree.parent.len();
        let rates = node_rates(&mut rng, 3 * nn, 1e-8, 1e3);
        let tangents: Vec<f64> = (0..12 * nn).map(|_| 4.0 * rng.uniform() - 2.0).collect();
        let req = Request {
            n_sets: 3,
            layout: RateLayout::PerBranch,
            rates: &rates,
            tangents: Some(&tangents),
            patterns: None,
        };
        let (ld, gd) = evaluate(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &req, true);
        for engine in &ENGINES[1..] {
            let (ls, gs) = evaluate(&dataset_with(&tree, &states, 2, *engine), &req, true);
            // -inf only where the pattern is impossible (sister tips that differ below
            // zero-length branches, about one branch in 12 here); most are finite.
            let finite = ld.iter().filter(|x| x.is_finite()).count();
            assert!(finite * 4 > ld.len() * 3, "{finite} of {} finite", ld.len());
            for i in 0..ld.len() {
                assert!(ld[i].is_finite() || ld[i] == f64::NEG_INFINITY, "dense value {i} is {}", ld[i]);
                assert!(close(ls[i], ld[i], 1e-12), "{engine:?} value {i}: {} vs {}", ls[i], ld[i]);
            }
            for i in 0..gd.len() {
                let tol = 1e-10 * (1.0 + gd[i].abs());
                assert!(
                    (gs[i] - gd[i]).abs() <= tol || (gs[i].is_nan() && gd[i].is_nan()),
                    "{engine:?} derivative {i}: {} vs {}",
                    gs[i],
                    gd[i]
                );
            }
        }
    }
}

#[test]
fn invalid_requests_name_the_field_index_and_value() {
    let tree = FlatTree { n_tips: 3, parent: vec![3, 3, 4, 4, -1], bl: vec![0.1, 0.2, 0.3, 0.4, 0.0] };
    let states = [0u8, 1, 0, 1, 1, 2];
    for engine in ENGINES {
        let ds = dataset_with(&tree, &states, 1, engine);
        let run = |req: &Request, n_out: usize, n_grad: Option<usize>| {
            let mut out = vec![0.0; n_out];
            let mut g = vec![0.0; n_grad.unwrap_or(0)];
            let err = ds.evaluate(req, &mut out, n_grad.map(|_| &mut g[..]), None).unwrap_err();
            assert_eq!(err.code, genecontent::error::GC_ERR_INVALID_ARGUMENT);
            err.message
        };
        let mut pb = vec![1.0; 10];
        pb[7] = -0.5;
        let m = run(&per_branch(1, &pb), 2, None);
        assert!(m.contains("rates[7] (loss of node 3 in set 0) is -0.5"), "{m}");
        let m = run(&per_branch(1, &[1.0; 8]), 2, None);
        assert!(m.contains("rates_len is 8 but n_sets * 2 * n_nodes (10) is 1 * 10 = 10"), "{m}");
        let mut t = vec![0.0; 20];
        t[13] = f64::NAN;
        let m = run(&Request { tangents: Some(&t), ..per_branch(1, &[1.0; 10]) }, 2, Some(4));
        assert!(
            m.contains("tangents[13] (direction 1 of set 0, d log loss of node 1 in set 0) is NaN"),
            "{m}"
        );
        let m = run(&Request { tangents: Some(&t[..19]), ..per_branch(1, &[1.0; 10]) }, 2, Some(4));
        assert!(m.contains("tangents_len is 19"), "{m}");
        // Tangents are checked even without derivatives (they are then unused).
        let m = run(
            &Request { tangents: Some(&[1.0, 0.0, f64::INFINITY, 1.0]), ..global(1, &[1.0, 1.0]) },
            2,
            None,
        );
        assert!(m.contains("tangents[2] (direction 1 of set 0, d log gain of set 0) is inf"), "{m}");
        let m = run(&Request { patterns: Some(&[1, 1]), ..global(1, &[1.0, 1.0]) }, 2, None);
        assert!(m.contains("patterns[1] is 1, not greater than patterns[0] (1)"), "{m}");
        let m = run(&Request { patterns: Some(&[0, 2]), ..global(1, &[1.0, 1.0]) }, 2, None);
        assert!(m.contains("patterns[1] is 2, not below n_patterns (2)"), "{m}");
        let m = run(&Request { patterns: Some(&[1]), ..global(1, &[1.0, 1.0]) }, 2, None);
        assert!(m.contains("out_loglik_len is 2 but n_sets * patterns_len is 1 * 1 = 1"), "{m}");
        let m = run(&global(1, &[1.0, 1.0]), 2, Some(2));
        assert!(m.contains("out_grad_len is 2 but 2 * n_sets * n_patterns is 4"), "{m}");
    }
}
