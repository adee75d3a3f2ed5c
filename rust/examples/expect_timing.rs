//! Times one expectations pass against one dense and one sparse evaluation on a dataset dumped
//! as raw files: `cargo run --release --example expect_timing -- PARENT.bin BL.bin STATES.bin
//! N_TIPS THREADS` (parent as little-endian i32, branch lengths as f64, states as bytes,
//! pattern-major).

use genecontent::dataset::{Dataset, ExpectRequest, RateLayout, GC_ALGO_DENSE, GC_ALGO_SPARSE};
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let read = |p: &str| std::fs::read(p).expect("readable file");
    let parent: Vec<i32> =
        read(&a[1]).chunks_exact(4).map(|b| i32::from_le_bytes(b.try_into().unwrap())).collect();
    let bl: Vec<f64> =
        read(&a[2]).chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
    let states = read(&a[3]);
    let nt: usize = a[4].parse().unwrap();
    let threads: usize = a[5].parse().unwrap();
    let np = states.len() / nt;
    let rates = [0.03, 0.3];
    let (mixed, marked) = shape(&parent, &states, nt);
    println!(
        "per pattern: {mixed:.1} mixed nodes, {marked:.1} nodes off the base state, of {}",
        parent.len()
    );
    for algo in [GC_ALGO_SPARSE, GC_ALGO_DENSE] {
        let t = Instant::now();
        let ds = Dataset::new(nt, &parent, &bl, np, &states, threads, algo).unwrap();
        let create = t.elapsed().as_secs_f64();
        let mut ll = vec![0.0; np];
        let t = Instant::now();
        for _ in 0..3 {
            ds.loglik(&rates, &mut ll, None, None).unwrap();
        }
        let eval = t.elapsed().as_secs_f64() / 3.0;
        println!("algorithm {algo}: create {:.1} ms, evaluate {:.2} ms", create * 1e3, eval * 1e3);
    }
    let ds = Dataset::new(nt, &parent, &bl, np, &states, threads, GC_ALGO_SPARSE).unwrap();
    let nn = parent.len();
    let req =
        ExpectRequest { n_sets: 1, layout: RateLayout::Global, rates: &rates, patterns: None, weights: None };
    let mut ll = vec![0.0; np];
    let mut branch = vec![0.0; 4 * nn];
    let t = Instant::now();
    for _ in 0..3 {
        ds.expectations(&req, &mut ll, &mut branch, None, None).unwrap();
    }
    println!("expectations (sparse): {:.1} ms", t.elapsed().as_secs_f64() / 3.0 * 1e3);
    let sub: Vec<u32> = (0..np as u32).step_by(10).collect();
    let req = ExpectRequest { patterns: Some(&sub), ..req };
    let mut ll = vec![0.0; sub.len()];
    let mut per = vec![0.0; sub.len() * 4 * nn];
    let t = Instant::now();
    ds.expectations(&req, &mut ll, &mut branch, Some(&mut per), None).unwrap();
    println!("expectations (dense, per pattern, 10% subset): {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}

/// Mean numbers of mixed and of marked (holding a tip not in the most frequent state) nodes.
fn shape(parent: &[i32], states: &[u8], nt: usize) -> (f64, f64) {
    let nn = parent.len();
    let np = states.len() / nt;
    let (mut mixed, mut marked) = (0usize, 0usize);
    let mut bits = vec![0u8; nn];
    for p in 0..np {
        let row = &states[p * nt..(p + 1) * nt];
        let mut c = [0; 3];
        for &s in row {
            c[s as usize] += 1;
        }
        let base = (0..3).max_by_key(|&s| (c[s], 3 - s)).unwrap() as u8;
        bits.fill(0);
        for t in 0..nt {
            bits[t] = 1 << row[t];
        }
        for v in 0..nn - 1 {
            let b = bits[v];
            bits[parent[v] as usize] |= b;
        }
        mixed += bits.iter().filter(|b| b.count_ones() > 1).count();
        marked += bits.iter().filter(|&&b| b != 1 << base).count();
    }
    (mixed as f64 / np as f64, marked as f64 / np as f64)
}
