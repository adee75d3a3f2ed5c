//! `cargo bench`: median milliseconds per evaluation (values, and values + gradient) of the
//! DENSE and SPARSE algorithms (SPARSE: the chain engine, or the blocked one where most
//! nodes of most patterns are mixed; the line of statistics says which ran) at 1 thread and all threads, on simulated pangenomes: a Yule tree
//! and families simulated from the gain/loss model with U-shaped presence frequencies.
//!
//! Environment: `GC_BENCH_SIM=img|model|iid` (default model: the gain/loss
//! chain with U-shaped stationary frequencies, about 74% distinct columns; img: pangenome-like
//! gain-once-then-lose families, fewer distinct columns; iid: fair coin flips, all dense),
//! `GC_BENCH_SIZES=small,ecoli,large` (default all), `GC_BENCH_REPS` (default 15),
//! `GC_BENCH_ALGOS=dense,sparse`, `GC_BENCH_THREADS=1,2` (default 1 and all CPUs).

use genecontent::dataset::{Dataset, RateLayout, Request, GC_ALGO_DENSE, GC_ALGO_SPARSE};
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Yule tree: lineages merge pairwise at random, k lineages wait Exp(k); height scaled to 1.
fn yule(rng: &mut Rng, n: usize) -> (Vec<i32>, Vec<f64>) {
    let mut parent = vec![-1i32; 2 * n - 1];
    let mut height = vec![0.0f64; 2 * n - 1];
    let mut active: Vec<usize> = (0..n).collect();
    let mut time = 0.0;
    let mut next = n;
    while active.len() > 1 {
        let k = active.len() as f64;
        time += -(1.0 - rng.uniform()).ln() / k;
        let a = active.swap_remove(rng.below(active.len()));
        let b = active.swap_remove(rng.below(active.len()));
        parent[a] = next as i32;
        parent[b] = next as i32;
        height[next] = time;
        active.push(next);
        next += 1;
    }
    let bl = (0..2 * n - 1)
        .map(|v| if parent[v] < 0 { 0.0 } else { (height[parent[v] as usize] - height[v]) / time })
        .collect();
    (parent, bl)
}

/// Families simulated down the tree, with a U-shaped spread of stationary frequencies.
fn simulate(rng: &mut Rng, parent: &[i32], bl: &[f64], n_tips: usize, n_fam: usize) -> Vec<u8> {
    let nn = parent.len();
    let mut st = vec![0u8; nn];
    let mut out = Vec::with_capacity(n_fam * n_tips);
    for _ in 0..n_fam {
        let u = rng.uniform();
        let pi1 = if rng.below(2) == 0 { 0.5 * u.powi(4) } else { 1.0 - 0.5 * u.powi(4) };
        let s = (10f64).powf(-0.5 + 1.5 * rng.uniform()); // 0.3 .. 10 changes per tree height
        let (pi0, pi1) = (1.0 - pi1, pi1);
        st[nn - 1] = (rng.uniform() < pi1) as u8;
        for v in (0..nn - 1).rev() {
            let e = (-s * bl[v]).exp_m1();
            let x = st[parent[v] as usize];
            let p1 = if x == 1 { 1.0 + pi0 * e } else { -pi1 * e };
            st[v] = (rng.uniform() < p1) as u8;
        }
        out.extend_from_slice(&st[..n_tips]);
    }
    out
}

/// CPU seconds (user + system, all threads) of this process so far, from /proc (10 ms ticks).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Median wall milliseconds over `reps` runs, mean CPU milliseconds per run, and the fastest run.
/// Pangenome-like families (infinitely-many-genes style): 15% are core (present at the root,
/// rarely lost), the rest are gained once at a uniform point of the tree (a branch chosen in
/// proportion to its length) and then lost at a per-family rate; this gives the U-shaped
/// frequency spectrum of real pangenomes (many rare, many core, few intermediate families).
fn simulate_img(rng: &mut Rng, parent: &[i32], bl: &[f64], n_tips: usize, n_fam: usize) -> Vec<u8> {
    let nn = parent.len();
    let total: f64 = bl.iter().sum();
    let mut st = vec![0u8; nn];
    let mut out = Vec::with_capacity(n_fam * n_tips);
    for _ in 0..n_fam {
        let core = rng.uniform() < 0.15;
        let mu = if core { 0.02 + 0.3 * rng.uniform() } else { (10f64).powf(-1.0 + 1.5 * rng.uniform()) };
        // Birth point: a branch chosen in proportion to its length, at a uniform position.
        let (birth, pos) = if core {
            (nn - 1, 0.0)
        } else {
            let mut x = rng.uniform() * total;
            let mut v = 0;
            while v < nn - 1 && x >= bl[v] {
                x -= bl[v];
                v += 1;
            }
            (v.min(nn - 2), x)
        };
        st.iter_mut().for_each(|x| *x = 0);
        // Mark the birth subtree: present below the birth point, then losses downwards.
        for v in (0..nn).rev() {
            let is_birth = v == birth;
            let par_present = if v == nn - 1 { false } else { st[parent[v] as usize] == 1 };
            if is_birth {
                let t = if v == nn - 1 { 0.0 } else { bl[v] - pos };
                st[v] = (rng.uniform() < (-mu * t).exp()) as u8;
            } else if par_present {
                st[v] = (rng.uniform() < (-mu * bl[v]).exp()) as u8;
            } else {
                st[v] = 0;
            }
        }
        out.extend_from_slice(&st[..n_tips]);
    }
    out
}

fn median_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    f(); // warm-up (scratch allocation, page faults)
    let c0 = cpu_seconds();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let cpu = (cpu_seconds() - c0) * 1e3 / reps as f64;
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t[t.len() / 2], cpu, t[0])
}

fn main() {
    let sizes = std::env::var("GC_BENCH_SIZES").unwrap_or_else(|_| "small,ecoli,large".into());
    let reps: usize = std::env::var("GC_BENCH_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let all = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    for (name, n_tips, n_fam) in [("small", 100, 1_000), ("ecoli", 1_324, 25_420), ("large", 5_000, 100_000)]
    {
        if !sizes.split(',').any(|s| s == name) {
            continue;
        }
        let mut rng = Rng(42);
        let (parent, bl) = yule(&mut rng, n_tips);
        let sim = std::env::var("GC_BENCH_SIM").unwrap_or_else(|_| "model".into());
        let states: Vec<u8> = match sim.as_str() {
            "iid" => (0..n_tips * n_fam).map(|_| (rng.uniform() < 0.5) as u8).collect(),
            "model" => simulate(&mut rng, &parent, &bl, n_tips, n_fam),
            _ => simulate_img(&mut rng, &parent, &bl, n_tips, n_fam),
        };
        // Frequency spectrum in tenths of n_tips (present count 0 counts in the first bin).
        let mut spectrum = [0usize; 10];
        for col in states.chunks(n_tips) {
            let k = col.iter().filter(|&&x| x == 1).count();
            spectrum[(10 * k / (n_tips + 1)).min(9)] += 1;
        }
        let rates = [0.8, 1.3];
        println!("== {name}: {n_tips} tips x {n_fam} families ({sim} simulation; spectrum by tenths of tips {spectrum:?})");
        let mut reference: Option<Vec<f64>> = None;
        let algos = std::env::var("GC_BENCH_ALGOS").unwrap_or_else(|_| "dense,sparse".into());
        for algo in [GC_ALGO_DENSE, GC_ALGO_SPARSE] {
            let aname = if algo == GC_ALGO_DENSE { "dense" } else { "sparse" };
            if !algos.split(',').any(|s| s == aname) {
                continue;
            }
            let thread_counts: Vec<usize> = std::env::var("GC_BENCH_THREADS")
                .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
                .unwrap_or_else(|_| vec![1, all]);
            for &threads in &thread_counts {
                let r = if algo == GC_ALGO_DENSE && name == "large" { 1 } else { reps };
                let t0 = Instant::now();
                let ds = Dataset::new(n_tips, &parent, &bl, n_fam, &states, threads, algo).unwrap();
                let setup = t0.elapsed().as_secs_f64() * 1e3;
                if let Some(s) = ds.blocked_stats() {
                    if threads == 1 {
                        println!(
                            "   blocked sparse engine: {} distinct, {} trivial, {} sparse + {} full blocks; ops per eval {} (per-pattern sparse {}, dense {})",
                            s.n_unique,
                            s.n_trivial,
                            s.sparse_blocks,
                            s.full_blocks,
                            s.block_ops,
                            s.pattern_ops,
                            n_fam * (2 * n_tips - 2)
                        );
                    }
                }
                if let Some(s) = ds.chain_stats() {
                    if threads == 1 {
                        println!(
                            "   chain engine: {} distinct, {} without mixed node; {} mixed nodes ({:.1} per pattern) computed as {:.1} heads and {:.1} chain matrices per pattern, {} chunks",
                            s.n_unique,
                            s.n_trivial,
                            s.mixed_nodes,
                            s.mixed_nodes as f64 / s.n_unique.max(1) as f64,
                            s.heads as f64 / s.n_unique.max(1) as f64,
                            s.chain_ops as f64 / s.n_unique.max(1) as f64,
                            s.n_chunks
                        );
                    }
                }
                let mut out = vec![0.0; n_fam];
                let mut g = vec![0.0; 2 * n_fam];
                let (tv, cv, mv) = median_ms(r, || ds.loglik(&rates, &mut out, None, None).unwrap());
                let (tg, cg, mg) = median_ms(r, || ds.loglik(&rates, &mut out, Some(&mut g), None).unwrap());
                let mut maxrel: f64 = 0.0;
                match &reference {
                    None => reference = Some(out.clone()),
                    Some(r) => {
                        for (a, b) in out.iter().zip(r) {
                            maxrel = maxrel.max((a - b).abs() / b.abs().max(1.0));
                        }
                    }
                }
                println!(
                    "   {aname:6} threads={threads}: value {tv:8.2} ms (min {mv:7.2}, cpu {cv:7.1})  value+grad {tg:8.2} ms (min {mg:7.2}, cpu {cg:7.1})  setup {setup:.0} ms, max rel diff vs first {maxrel:.1e}"
                );
                // The same rates per branch (one pair per node, distinct so nothing is shared),
                // and a subset of 1% of the families.
                let nn = parent.len();
                let pb: Vec<f64> =
                    (0..nn).flat_map(|v| [rates[0] * (1.0 + 1e-3 * (v % 7) as f64), rates[1]]).collect();
                let per_branch = Request {
                    n_sets: 1,
                    layout: RateLayout::PerBranch,
                    rates: &pb,
                    tangents: None,
                    patterns: None,
                };
                let (pv, _, _) = median_ms(r, || ds.evaluate(&per_branch, &mut out, None, None).unwrap());
                let (pg, _, _) =
                    median_ms(r, || ds.evaluate(&per_branch, &mut out, Some(&mut g), None).unwrap());
                let subset: Vec<u32> = (0..n_fam as u32).filter(|p| p % 100 == 37).collect();
                let mut so = vec![0.0; subset.len()];
                let sub = Request { patterns: Some(&subset), ..per_branch };
                let (sv, _, _) = median_ms(r, || ds.evaluate(&sub, &mut so, None, None).unwrap());
                println!(
                    "   {aname:6} threads={threads}: per-branch value {pv:8.2} ms ({:.2}x global)  value+grad {pg:8.2} ms ({:.2}x)  1% subset value {sv:7.2} ms",
                    pv / tv,
                    pg / tg
                );
            }
        }
    }
}
