//! The expectations pass against brute-force enumeration (missing data, unary nodes,
//! multifurcations, zero-length branches, per-branch rates, weights), its identities on large
//! trees (every branch's coefficients reproduce the weight; node presence agrees between the
//! branch above a node and every branch below it), a long caterpillar for scaling, extreme rates,
//! thread-count bit identity and subsets.

mod common;
use common::*;
use genecontent::dataset::{Dataset, ExpectRequest, RateLayout, GC_ALGO_DENSE};

/// All outputs of one expectations pass.
struct Out {
    ll: Vec<f64>,
    branch: Vec<f64>,
    per: Vec<f64>,
}

fn expect(ds: &Dataset, req: &ExpectRequest, per: bool) -> Out {
    let nn = ds.n_nodes();
    let n_eval = req.patterns.map_or(ds.n_patterns(), |p| p.len());
    let mut ll = vec![0.0; req.n_sets * n_eval];
    let mut branch = vec![0.0; req.n_sets * nn * 4];
    let mut pp = vec![0.0; if per { req.n_sets * n_eval * nn * 4 } else { 0 }];
    ds.expectations(req, &mut ll, &mut branch, if per { Some(&mut pp) } else { None }, None)
        .expect("expectations");
    if per {
        // Without per-pattern terms the sparse pass runs: the same log-likelihoods bit for bit,
        // and the same sums up to rounding (its uniform subtrees are swept once per set: a
        // different grouping of the same positive terms, ~1e-15 relative per term).
        let sparse = expect(ds, req, false);
        for (i, (a, b)) in sparse.branch.iter().zip(&branch).enumerate() {
            assert!(close(*a, *b, 1e-11), "sparse sum {i}: {a} vs dense {b}");
        }
        assert!(sparse.ll.iter().zip(&ll).all(|(a, b)| a.to_bits() == b.to_bits()), "sparse logLik");
    }
    Out { ll, branch, per: pp }
}

/// `[P00, P01, P10, P11]` from the closed form with `exp` (not the kernel's `expm1` form).
fn p_matrix(gain: f64, loss: f64, t: f64) -> [f64; 4] {
    let s = gain + loss;
    let (pi0, pi1) = (loss / s, gain / s);
    let f = (-s * t).exp();
    [pi0 + pi1 * f, pi1 - pi1 * f, pi0 - pi0 * f, pi1 + pi0 * f]
}

/// Rates of node `v` (the branch above it) from a global or per-branch rate vector.
fn rates_of(rates: &[f64], v: usize) -> (f64, f64) {
    if rates.len() == 2 {
        (rates[0], rates[1])
    } else {
        (rates[2 * v], rates[2 * v + 1])
    }
}

/// Brute force: sums over every assignment of states to internal nodes and missing tips of the
/// joint probability, and for each non-root node `v` the joint without the factor of `v`'s
/// branch, by the end states `(a, b)` of that branch: `O_v(a) I_v(b)`. Returns the weighted
/// coefficients `w O I / L` (root: `w pi_a I_r(a) / L` on the diagonal) and `L`.
fn brute_coefficients(tree: &FlatTree, states: &[u8], rates: &[f64], w: f64) -> (Vec<f64>, f64) {
    let nn = tree.parent.len();
    let nt = tree.n_tips;
    let root = nn - 1;
    let p: Vec<[f64; 4]> = (0..nn)
        .map(|v| {
            let (g, l) = rates_of(rates, v);
            p_matrix(g, l, tree.bl[v])
        })
        .collect();
    let (g, l) = rates_of(rates, root);
    let prior = [l / (g + l), g / (g + l)];
    let free: Vec<usize> = (0..nn).filter(|&v| v >= nt || states[v] == 2).collect();
    let mut s = vec![0usize; nn];
    for t in 0..nt {
        s[t] = (states[t] & 1) as usize;
    }
    let mut acc = vec![0.0; 4 * nn];
    let mut lik = 0.0;
    let mut f = vec![0.0; nn];
    let mut suffix = vec![1.0; nn + 1];
    for mask in 0u64..(1u64 << free.len()) {
        for (i, &v) in free.iter().enumerate() {
            s[v] = ((mask >> i) & 1) as usize;
        }
        // Factors: the root prior at the root's entry, each branch's P elsewhere.
        for v in 0..nn {
            f[v] = if v == root { prior[s[root]] } else { p[v][2 * s[tree.parent[v] as usize] + s[v]] };
        }
        for v in (0..nn).rev() {
            suffix[v] = suffix[v + 1] * f[v];
        }
        lik += suffix[0];
        acc[4 * root + 3 * s[root]] += suffix[0];
        let mut prefix = 1.0;
        for v in 0..root {
            acc[4 * v + 2 * s[tree.parent[v] as usize] + s[v]] += prefix * suffix[v + 1];
            prefix *= f[v];
        }
    }
    (acc.iter().map(|x| w * x / lik).collect(), lik)
}

fn global_and_per_branch(rng: &mut Rng, nn: usize) -> Vec<Vec<f64>> {
    let per: Vec<f64> = (0..2 * nn).map(|_| 0.05 + 3.0 * rng.uniform()).collect();
    vec![vec![0.7, 1.3], vec![0.04, 0.3], per]
}

#[test]
fn brute_force_equals_both_passes_on_small_trees() {
    let mut rng = Rng(11);
    let mut checked = 0;
    for case in 0..80 {
        let n_tips = 1 + case % 7;
        let tree = random_tree(&mut rng, n_tips, case % 2 == 0);
        let nn = tree.parent.len();
        if nn - n_tips > 10 {
            continue;
        }
        let n_pat = 14;
        let states = random_patterns(&mut rng, n_tips, n_pat);
        let ds = dataset(&tree, &states, 2, GC_ALGO_DENSE);
        for rates in global_and_per_branch(&mut rng, nn) {
            let layout = if rates.len() == 2 { RateLayout::Global } else { RateLayout::PerBranch };
            let weights: Vec<f64> =
                (0..n_pat).map(|i| if i == 3 { 0.0 } else { 0.5 + 4.0 * rng.uniform() }).collect();
            let req =
                ExpectRequest { n_sets: 1, layout, rates: &rates, patterns: None, weights: Some(&weights) };
            let out = expect(&ds, &req, true);
            let mut sum = vec![0.0; 4 * nn];
            let mut skipped = false;
            for p in 0..n_pat {
                let st = &states[p * n_tips..(p + 1) * n_tips];
                // At most 2^14 assignments per pattern keep the enumeration fast.
                // Their entries enter the sum check as the kernel computed them.
                if nn - n_tips + st.iter().filter(|&&x| x == 2).count() > 14 {
                    for (x, y) in sum.iter_mut().zip(&out.per[p * 4 * nn..(p + 1) * 4 * nn]) {
                        *x += y;
                    }
                    continue;
                }
                let (want, lik) = brute_coefficients(&tree, st, &rates, weights[p]);
                if lik == 0.0 {
                    // Conflicting tips joined by zero-length branches: an impossible column,
                    // whose non-finite coefficients make the sums non-finite too.
                    assert_eq!(out.ll[p], f64::NEG_INFINITY, "case {case} pattern {p}");
                    skipped = true;
                    continue;
                }
                // Both sum the same positive terms in different orders over < 2^12 assignments:
                // a few hundred ulps at most, far below 1e-12 relative.
                assert!(
                    close(out.ll[p], lik.ln(), 1e-12),
                    "case {case} pattern {p}: {} vs {}",
                    out.ll[p],
                    lik.ln()
                );
                for i in 0..4 * nn {
                    let got = out.per[p * 4 * nn + i];
                    assert!(
                        close(got, want[i], 1e-12),
                        "case {case} pattern {p} node {} entry {}: {got} vs {} {tree:?}",
                        i / 4,
                        i % 4,
                        want[i]
                    );
                    sum[i] += want[i];
                }
                checked += 1;
            }
            if !skipped {
                for (i, (got, want)) in out.branch.iter().zip(&sum).enumerate() {
                    // A sum of 14 positive entries, each within 1e-12 relative.
                    assert!(close(*got, *want, 1e-12), "case {case} sum {i}: {got} vs {want}");
                }
            }
        }
    }
    assert!(checked > 1000, "only {checked} patterns checked");
}

/// The kernel's P(t) (the `expm1` form): the identities below test the passes, and P entries
/// near 0 differ between the two closed forms by more than the passes' rounding.
fn kernel_p(gain: f64, loss: f64, t: f64) -> [f64; 4] {
    genecontent::transition::Branch::new(gain, loss, t).p
}

/// `sum_ab M_ab P_ab(t_v)` for every node, from per-pattern or summed coefficients.
fn branch_totals(tree: &FlatTree, rates: &[f64], m: &[f64]) -> Vec<f64> {
    let nn = tree.parent.len();
    (0..nn)
        .map(|v| {
            if v == nn - 1 {
                m[4 * v] + m[4 * v + 3]
            } else {
                let (g, l) = rates_of(rates, v);
                let p = kernel_p(g, l, tree.bl[v]);
                (0..4).map(|i| m[4 * v + i] * p[i]).sum()
            }
        })
        .collect()
}

/// Checks, per pattern, that every branch reproduces the weight and that the presence of every
/// internal node is the same from the branch above it and from each branch below it.
fn check_identities(tree: &FlatTree, rates: &[f64], m: &[f64], w: f64, tol: f64, what: &str) {
    let nn = tree.parent.len();
    let root = nn - 1;
    for (v, total) in branch_totals(tree, rates, m).into_iter().enumerate() {
        assert!(close(total, w, tol), "{what}: node {v} total {total} vs weight {w}");
    }
    let joint = |v: usize, a: usize, b: usize| {
        let (g, l) = rates_of(rates, v);
        m[4 * v + 2 * a + b] * kernel_p(g, l, tree.bl[v])[2 * a + b]
    };
    for c in 0..root {
        let u = tree.parent[c] as usize;
        let from_below = joint(c, 1, 0) + joint(c, 1, 1);
        let from_above = if u == root { m[4 * root + 3] } else { joint(u, 0, 1) + joint(u, 1, 1) };
        assert!(
            (from_below - from_above).abs() <= tol * w.max(1.0),
            "{what}: presence of node {u}: {from_below} from child {c}, {from_above} from above"
        );
    }
}

#[test]
fn identities_hold_on_large_trees_and_extreme_rates() {
    let mut rng = Rng(5);
    for case in 0..6 {
        let n_tips = 60 + 40 * case;
        let tree = random_tree(&mut rng, n_tips, case % 2 == 1);
        let nn = tree.parent.len();
        let n_pat = 40;
        let states = random_patterns(&mut rng, n_tips, n_pat);
        let ds = dataset(&tree, &states, 2, GC_ALGO_DENSE);
        let mut sets = global_and_per_branch(&mut rng, nn);
        sets.push(vec![1e-6, 40.0]);
        sets.push(vec![300.0, 1e-4]);
        for rates in sets {
            let layout = if rates.len() == 2 { RateLayout::Global } else { RateLayout::PerBranch };
            let req = ExpectRequest { n_sets: 1, layout, rates: &rates, patterns: None, weights: None };
            let out = expect(&ds, &req, true);
            for p in 0..n_pat {
                if out.ll[p] == f64::NEG_INFINITY {
                    continue;
                }
                // Each total is a sum of 4 products of values in [0, ~2] that add to 1:
                // rounding of the passes is ~nodes * ulps, well below 1e-10.
                check_identities(
                    &tree,
                    &rates,
                    &out.per[p * 4 * nn..(p + 1) * 4 * nn],
                    1.0,
                    1e-10,
                    "pattern",
                );
            }
            let possible = out.ll.iter().filter(|x| x.is_finite()).count();
            if possible == n_pat {
                for total in branch_totals(&tree, &rates, &out.branch) {
                    assert!(close(total, n_pat as f64, 1e-10), "case {case}: total {total}");
                }
            }
        }
    }
}

#[test]
fn long_caterpillar_needs_scaling_and_stays_exact() {
    // 3,000 tips with long branches and missing data: partials fall below 2^-1022 many times over.
    let n_tips = 3000;
    let tree = caterpillar(n_tips, 0.8);
    let mut rng = Rng(9);
    let states = random_patterns(&mut rng, n_tips, 12);
    let ds = dataset(&tree, &states, 2, GC_ALGO_DENSE);
    let nn = tree.parent.len();
    let rates = [0.6, 0.9];
    let req =
        ExpectRequest { n_sets: 1, layout: RateLayout::Global, rates: &rates, patterns: None, weights: None };
    let out = expect(&ds, &req, true);
    let (ll, _) = eval(&ds, &rates, false);
    assert!(ll.iter().any(|&x| x < -1500.0), "the test needs scaling: {ll:?}");
    for (p, want) in ll.iter().enumerate() {
        // The inside pass is the dense engine's, operation for operation.
        assert_eq!(out.ll[p].to_bits(), want.to_bits(), "pattern {p}");
        let m = &out.per[p * 4 * nn..(p + 1) * 4 * nn];
        assert!(m.iter().all(|x| x.is_finite() && *x >= 0.0), "pattern {p}");
        // Rounding accumulates over ~6,000 nodes of passes: 1e-9 leaves a margin of ~100.
        check_identities(&tree, &rates, m, 1.0, 1e-9, "caterpillar");
    }
    // Pattern 1 is all present: on a caterpillar of short-enough branches every node is more
    // likely present than the prior says.
    let pi1 = 0.6 / 1.5;
    assert!(out.per[4 * nn + 4 * (nn - 1) + 3] > pi1);
}

#[test]
fn thread_counts_give_identical_bits_and_subsets_equal_full_entries() {
    let mut rng = Rng(3);
    let n_tips = 150;
    let tree = random_tree(&mut rng, n_tips, true);
    let nn = tree.parent.len();
    let n_pat = 1000;
    let states = random_patterns(&mut rng, n_tips, n_pat);
    let rates: Vec<f64> = [0.3, 0.8, 2.0, 0.5].to_vec();
    let mut weights: Vec<f64> = (0..2 * n_pat).map(|_| rng.uniform() * 3.0).collect();
    // Impossible columns (conflicting tips on zero-length branches) get weight 0, so that every
    // sum is finite and the comparisons below mean something.
    let (ll0, _) = eval(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &rates, false);
    for (w, l) in weights.iter_mut().zip(&ll0) {
        if *l == f64::NEG_INFINITY {
            *w = 0.0;
        }
    }
    assert!(weights.iter().filter(|&&w| w == 0.0).count() < n_pat / 2);
    let full_req = ExpectRequest {
        n_sets: 2,
        layout: RateLayout::Global,
        rates: &rates,
        patterns: None,
        weights: Some(&weights),
    };
    let base = expect(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &full_req, true);
    let base_sparse = expect(&dataset(&tree, &states, 1, GC_ALGO_DENSE), &full_req, false);
    assert!(base.branch.iter().chain(&base_sparse.branch).all(|x| x.is_finite()));
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for threads in [2, 3, 7] {
        let ds = dataset(&tree, &states, threads, GC_ALGO_DENSE);
        let out = expect(&ds, &full_req, true);
        assert_eq!(bits(&out.ll), bits(&base.ll), "{threads} threads: logLik");
        assert_eq!(bits(&out.branch), bits(&base.branch), "{threads} threads: branch sums");
        assert_eq!(bits(&out.per), bits(&base.per), "{threads} threads: per pattern");
        let out = expect(&ds, &full_req, false);
        assert_eq!(bits(&out.branch), bits(&base_sparse.branch), "{threads} threads: sparse sums");
    }
    // The sparse engines' datasets give the same expectations (the pass reads the states).
    for engine in ENGINES {
        let out = expect(&dataset_with(&tree, &states, 2, engine), &full_req, false);
        assert_eq!(bits(&out.branch), bits(&base_sparse.branch), "{engine:?}");
    }
    // Log-likelihoods equal evaluate's, bit for bit on the dense engine.
    let ds = dataset(&tree, &states, 2, GC_ALGO_DENSE);
    let (ll, _) = eval(&ds, &rates, false);
    assert!(ll.iter().zip(&base.ll).all(|(a, b)| a.to_bits() == b.to_bits()));
    // A subset: its entries are those of the full run, and its sums those of its entries.
    let subset: Vec<u32> = (0..n_pat as u32).filter(|p| p % 7 == 2 || *p == 999).collect();
    let ns = subset.len();
    let sub_w: Vec<f64> = (0..2)
        .flat_map(|k| subset.iter().map(move |&p| (k, p)))
        .map(|(k, p)| weights[k * n_pat + p as usize])
        .collect();
    let req = ExpectRequest {
        n_sets: 2,
        layout: RateLayout::Global,
        rates: &rates,
        patterns: Some(&subset),
        weights: Some(&sub_w),
    };
    let out = expect(&ds, &req, true);
    for k in 0..2 {
        let mut sum = vec![0.0; 4 * nn];
        for (i, &p) in subset.iter().enumerate() {
            let (a, b) = (k * ns + i, k * n_pat + p as usize);
            assert_eq!(out.ll[a].to_bits(), base.ll[b].to_bits());
            let (x, y) = (&out.per[a * 4 * nn..(a + 1) * 4 * nn], &base.per[b * 4 * nn..(b + 1) * 4 * nn]);
            assert!(x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits()), "set {k} pattern {p}");
            for (s, x) in sum.iter_mut().zip(&base.per[b * 4 * nn..(b + 1) * 4 * nn]) {
                *s += x;
            }
        }
        for (i, s) in sum.iter().enumerate() {
            // The same positive terms summed in a different grouping: ~ns ulps.
            assert!(close(out.branch[k * 4 * nn + i], *s, 1e-12), "set {k} entry {i}");
        }
    }
    // Per-branch rates equal to the global ones give the same numbers.
    let per_rates: Vec<f64> = (0..nn).flat_map(|_| [0.3, 0.8]).collect();
    let req = ExpectRequest {
        n_sets: 1,
        layout: RateLayout::PerBranch,
        rates: &per_rates,
        patterns: None,
        weights: None,
    };
    let per = expect(&ds, &req, false);
    let req = ExpectRequest {
        n_sets: 1,
        layout: RateLayout::Global,
        rates: &rates[..2],
        patterns: None,
        weights: None,
    };
    let glob = expect(&ds, &req, false);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&per.branch), bits(&glob.branch));
    assert_eq!(bits(&per.ll), bits(&glob.ll));
}

#[test]
fn bad_requests_are_refused_before_writing() {
    let tree = caterpillar(4, 0.3);
    let states = vec![0, 1, 1, 2, 1, 1, 1, 0];
    let ds = dataset(&tree, &states, 1, GC_ALGO_DENSE);
    let nn = ds.n_nodes();
    let rates = [0.5, 1.0];
    let mut ll = vec![7.0; 2];
    let mut branch = vec![7.0; 4 * nn];
    let run = |req: &ExpectRequest, ll: &mut [f64], branch: &mut [f64], per: Option<&mut [f64]>| {
        ds.expectations(req, ll, branch, per, None).unwrap_err().message
    };
    let w = [1.0, f64::INFINITY];
    let req = ExpectRequest {
        n_sets: 1,
        layout: RateLayout::Global,
        rates: &rates,
        patterns: None,
        weights: Some(&w),
    };
    let msg = run(&req, &mut ll, &mut branch, None);
    assert!(msg.contains("weights[1] (set 0, evaluated pattern 1) is inf"), "{msg}");
    let w = [1.0];
    let req = ExpectRequest { weights: Some(&w), ..req };
    assert!(run(&req, &mut ll, &mut branch, None)
        .contains("weights_len is 1 but n_sets * n_patterns is 1 * 2 = 2"));
    let req = ExpectRequest { weights: None, ..req };
    let msg = run(&req, &mut ll, &mut branch[..4], None);
    assert!(msg.contains("out_branch_len is 4 but n_sets * n_nodes * 4 is 1 * 7 * 4 = 28"), "{msg}");
    let mut per = vec![0.0; 3];
    let msg = run(&req, &mut ll, &mut branch, Some(&mut per));
    assert!(msg.contains("out_per_pattern_len is 3"), "{msg}");
    let bad = [0.5, f64::NAN];
    let req = ExpectRequest { rates: &bad, ..req };
    assert!(run(&req, &mut ll, &mut branch, None).contains("rates[1] (loss of set 0) is NaN"));
    assert!(ll.iter().chain(&branch).all(|&x| x == 7.0), "outputs were written");
}

#[test]
fn progress_counts_every_pattern_and_cancel_stops() {
    use genecontent::dataset::Progress;
    use std::sync::atomic::{AtomicU64, Ordering};
    let mut rng = Rng(21);
    let tree = random_tree(&mut rng, 40, false);
    let states = random_patterns(&mut rng, 40, 300);
    let ds = dataset(&tree, &states, 2, GC_ALGO_DENSE);
    let nn = ds.n_nodes();
    let rates = [0.5, 1.0, 0.1, 0.2];
    let req =
        ExpectRequest { n_sets: 2, layout: RateLayout::Global, rates: &rates, patterns: None, weights: None };
    let (done, total, cancel) = (AtomicU64::new(7), AtomicU64::new(0), AtomicU64::new(0));
    let progress = Progress { done: &done, total: &total, cancel: &cancel };
    let (mut ll, mut branch) = (vec![0.0; 600], vec![0.0; 8 * nn]);
    ds.expectations(&req, &mut ll, &mut branch, None, Some(&progress)).unwrap();
    assert_eq!((done.load(Ordering::SeqCst), total.load(Ordering::SeqCst)), (600, 600));
    cancel.store(1, Ordering::SeqCst);
    let e = ds.expectations(&req, &mut ll, &mut branch, None, Some(&progress)).unwrap_err();
    assert_eq!(e.code, genecontent::error::GC_ERR_CANCELLED);
}
