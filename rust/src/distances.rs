//! Distances between genomes from a presence/absence matrix (`gc_distances` of the C ABI).
//!
//! Each genome's row is packed into two bitsets over the families: `present` (the family is
//! recorded present) and `observed` (the cell is not missing); `present` is a subset of
//! `observed`. For genomes a and b, with `o = observed_a & observed_b` (the families observed in
//! both), the counts are
//!
//! ```text
//! n_both  = |o|                                  families observed in both
//! n_diff  = |(present_a ^ present_b) & o|        present in exactly one of them
//! n_union = |(present_a | present_b) & o|        present in at least one of them
//! ```
//!
//! and the distances are `jaccard = n_diff / n_union` (1 minus the Jaccard similarity of the
//! present sets, restricted to the families observed in both) and `hamming = n_diff / n_both`
//! (mismatches as a proportion of the families observed in both): missing cells are excluded
//! pair by pair. Each is one IEEE division of two integers, so the TypeScript implementation
//! (`lib/tree_building/distances.ts`) gives bit-identical values. A pair with `n_both = 0`, or
//! (Jaccard) `n_union = 0`, has no defined distance: the call fails naming the first such pair
//! in row-major order.
//!
//! The work is tiled: rows are processed in blocks of [`BLOCK`] genomes against blocks of the
//! later genomes, [`CHUNK`] words (64 families each) at a time, so the bitsets in use stay in
//! the L1 and L2 caches; row blocks run in parallel on the crate's shared pool. On x86-64 with
//! AVX2 the popcounts are compiled with AVX2 and POPCNT (detected at run time).
//!
//! The module also holds the argument-struct and size helpers that the exports of this module
//! and of [`crate::tree_building`] share.

use crate::abi::{guard, read_args, slice, slice_mut};
use crate::error::GcError;
use crate::pool::shared_pool;
use rayon::prelude::*;
use std::os::raw::c_char;

/// `metric` of `gc_distance_args`: 1 minus the Jaccard similarity of the present sets.
pub const GC_DISTANCE_JACCARD: u32 = 0;
/// `metric` of `gc_distance_args`: mismatches as a proportion of the families observed in both.
pub const GC_DISTANCE_HAMMING: u32 = 1;

/// Genomes per tile side.
const BLOCK: usize = 32;
/// 64-bit words per tile step (512 words = 32,768 families: 4 KiB per bitset and genome).
const CHUNK: usize = 512;

// ----- Helpers shared with `tree_building`. -----

/// `x` as usize, or an error naming it.
pub(crate) fn to_usize(x: u64, name: &str) -> Result<usize, GcError> {
    usize::try_from(x).map_err(|_| GcError::invalid(format!("{name} ({x}) is too large")))
}

/// The number of pairs `n (n - 1) / 2`, or an error when it overflows.
pub(crate) fn n_pairs(n: usize) -> Result<usize, GcError> {
    n.checked_mul(n.saturating_sub(1))
        .map(|x| x / 2)
        .ok_or_else(|| GcError::invalid(format!("n ({n}) is too large: n (n - 1) / 2 overflows")))
}

/// Where row i (its pairs (i, j), j > i) starts in the condensed layout; `row_start(n, n)` is
/// the number of pairs.
#[inline]
pub fn row_start(n: usize, i: usize) -> usize {
    // Rows 0..i hold (n-1) + (n-2) + ... + (n-i) = i n - i (i + 1) / 2 entries.
    i * n - i * (i + 1) / 2
}

/// Index of pair (i, j), i < j, in the condensed (row-major upper triangle) layout.
#[inline]
pub fn pair_index(n: usize, i: usize, j: usize) -> usize {
    row_start(n, i) + (j - i - 1)
}

// ----- Packing -----

/// Bit-packed rows: `present` and `observed`, genome-major, `words` 64-bit words per genome.
pub struct PackedRows {
    /// Number of genomes.
    pub n_genomes: usize,
    /// Words per genome.
    pub words: usize,
    /// `present[g * words + w]`, bit `b` = family `64 w + b` recorded present in genome g.
    pub present: Vec<u64>,
    /// `observed[g * words + w]`, bit `b` = family `64 w + b` not missing in genome g.
    pub observed: Vec<u64>,
    /// Number of families.
    pub n_families: usize,
    /// Whether genome g has no missing cell.
    pub complete: Vec<bool>,
    /// Families present in genome g.
    pub n_present: Vec<u32>,
}

/// Packs family-major cells (`states[f * n_genomes + g]`, each 0, 1 or 2 = missing) into
/// bitsets, checking every cell.
pub fn pack_rows(
    states: &[u8],
    n_genomes: usize,
    n_families: usize,
    pool: &rayon::ThreadPool,
) -> Result<PackedRows, GcError> {
    let words = n_families.div_ceil(64);
    if n_genomes == 0 || words == 0 {
        return Ok(PackedRows {
            n_genomes,
            words,
            n_families,
            present: vec![0; 0],
            observed: vec![0; 0],
            complete: vec![true; n_genomes],
            n_present: vec![0; n_genomes],
        });
    }
    // Word-major first: word w of every genome, from 64 contiguous rows of the matrix.
    let mut wp = vec![0u64; words * n_genomes];
    let mut wo = vec![0u64; words * n_genomes];
    let bad: Option<(usize, usize, u8)> = pool.install(|| {
        wp.par_chunks_mut(n_genomes)
            .zip(wo.par_chunks_mut(n_genomes))
            .enumerate()
            .map(|(w, (p, o))| {
                let f0 = w * 64;
                let f1 = (f0 + 64).min(n_families);
                for f in f0..f1 {
                    let bit = 1u64 << (f - f0);
                    let row = &states[f * n_genomes..(f + 1) * n_genomes];
                    for (g, &s) in row.iter().enumerate() {
                        match s {
                            0 => o[g] |= bit,
                            1 => {
                                o[g] |= bit;
                                p[g] |= bit;
                            }
                            2 => {}
                            _ => return Some((f, g, s)),
                        }
                    }
                }
                None
            })
            .find_first(|r| r.is_some())
            .flatten()
    });
    if let Some((f, g, s)) = bad {
        return Err(GcError::invalid(format!(
            "states[{}] (family {f}, genome {g}) is {s}: cells must be 0 (absent), 1 (present) or 2 (missing)",
            f * n_genomes + g
        )));
    }
    // Transpose to genome-major, in tiles of 64 genomes so that reads and writes stay local.
    let mut present = vec![0u64; words * n_genomes];
    let mut observed = vec![0u64; words * n_genomes];
    pool.install(|| {
        present.par_chunks_mut(words * 64).zip(observed.par_chunks_mut(words * 64)).enumerate().for_each(
            |(tile, (p, o))| {
                let g0 = tile * 64;
                let rows = p.len() / words;
                for w in 0..words {
                    let base = w * n_genomes + g0;
                    for r in 0..rows {
                        p[r * words + w] = wp[base + r];
                        o[r * words + w] = wo[base + r];
                    }
                }
            },
        )
    });
    let complete: Vec<bool> = (0..n_genomes)
        .map(|g| {
            let row = &observed[g * words..(g + 1) * words];
            row.iter().map(|w| w.count_ones() as usize).sum::<usize>() == n_families
        })
        .collect();
    let n_present: Vec<u32> = (0..n_genomes)
        .map(|g| present[g * words..(g + 1) * words].iter().map(|w| w.count_ones()).sum())
        .collect();
    Ok(PackedRows { n_genomes, words, n_families, present, observed, complete, n_present })
}

// ----- Counting -----

/// Adds the counts (n_both, n_diff, n_union) of one chunk of two genomes' words.
#[inline(always)]
fn chunk_counts(ap: &[u64], ao: &[u64], bp: &[u64], bo: &[u64]) -> (u32, u32, u32) {
    let (mut both, mut diff, mut union) = (0u32, 0u32, 0u32);
    for k in 0..ap.len() {
        let o = ao[k] & bo[k];
        both += o.count_ones();
        diff += ((ap[k] ^ bp[k]) & o).count_ones();
        union += ((ap[k] | bp[k]) & o).count_ones();
    }
    (both, diff, union)
}

/// The counts (n_both, n_diff, n_union) of pair (i, j) from the tile's accumulator: as summed
/// when a cell is missing in either genome; otherwise the accumulator holds the families
/// present in both (`k`), and n_both = n_families, n_union = n_i + n_j - k, n_diff = n_union - k.
#[inline]
fn counts_of(rows: &PackedRows, i: usize, j: usize, acc: [u32; 3]) -> [u32; 3] {
    if rows.complete[i] && rows.complete[j] {
        let k = acc[0];
        let union = rows.n_present[i] + rows.n_present[j] - k;
        // Every family is observed in both.
        [rows.n_families as u32, union - k, union]
    } else {
        acc
    }
}

/// One tile: rows `i0..i1` against rows `j0..j1` (only pairs i < j), words `w0..w1`, adding
/// into `acc[(i - i0) * BLOCK + (j - j0)]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_body(
    rows: &PackedRows,
    i0: usize,
    i1: usize,
    j0: usize,
    j1: usize,
    w0: usize,
    w1: usize,
    acc: &mut [[u32; 3]],
) {
    let wds = rows.words;
    for i in i0..i1 {
        let ap = &rows.present[i * wds + w0..i * wds + w1];
        let ao = &rows.observed[i * wds + w0..i * wds + w1];
        for j in j0.max(i + 1)..j1 {
            let bp = &rows.present[j * wds + w0..j * wds + w1];
            let a = &mut acc[(i - i0) * BLOCK + (j - j0)];
            if rows.complete[i] && rows.complete[j] {
                // Nothing missing in either: only the families present in both are counted
                // here (the other counts follow from the genomes' totals, see `counts_of`).
                let mut both_present = 0u32;
                for k in 0..ap.len() {
                    both_present += (ap[k] & bp[k]).count_ones();
                }
                a[0] += both_present;
                continue;
            }
            let bo = &rows.observed[j * wds + w0..j * wds + w1];
            let (b, d, u) = chunk_counts(ap, ao, bp, bo);
            a[0] += b;
            a[1] += d;
            a[2] += u;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_avx2(
    rows: &PackedRows,
    i0: usize,
    i1: usize,
    j0: usize,
    j1: usize,
    w0: usize,
    w1: usize,
    acc: &mut [[u32; 3]],
) {
    tile_body(rows, i0, i1, j0, j1, w0, w1, acc)
}

/// Computes the condensed distances (`out[pair_index(n, i, j)]`) from packed rows; a pair with
/// no defined distance gets NaN.
pub fn distances_packed(
    rows: &PackedRows,
    metric: u32,
    out: &mut [f64],
    pool: &rayon::ThreadPool,
) -> Result<(), GcError> {
    let n = rows.n_genomes;
    if out.len() != n_pairs(n)? {
        return Err(GcError::invalid(format!(
            "out_len is {} but n_genomes (n_genomes - 1) / 2 is {}",
            out.len(),
            n_pairs(n)?
        )));
    }
    let jaccard = match metric {
        GC_DISTANCE_JACCARD => true,
        GC_DISTANCE_HAMMING => false,
        other => {
            return Err(GcError::invalid(format!(
                "metric is {other}: use GC_DISTANCE_JACCARD ({GC_DISTANCE_JACCARD}) or GC_DISTANCE_HAMMING ({GC_DISTANCE_HAMMING})"
            )))
        }
    };
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt");
    // Split the output into the contiguous runs of each row block.
    let mut pieces: Vec<(usize, &mut [f64])> = Vec::new();
    let mut rest = out;
    let mut i0 = 0;
    while i0 + 1 < n {
        let i1 = (i0 + BLOCK).min(n);
        let (start, end) = (row_start(n, i0), row_start(n, i1));
        let (head, tail) = rest.split_at_mut(end - start);
        pieces.push((i0, head));
        rest = tail;
        i0 = i1;
    }
    let words = rows.words;
    pool.install(|| {
        pieces.into_par_iter().for_each(|(i0, piece)| {
            let i1 = (i0 + BLOCK).min(n);
            let base = row_start(n, i0);
            let mut acc = vec![[0u32; 3]; BLOCK * BLOCK];
            let mut j0 = i0;
            while j0 < n {
                let j1 = (j0 + BLOCK).min(n);
                acc.iter_mut().for_each(|a| *a = [0; 3]);
                let mut w0 = 0;
                while w0 < words {
                    let w1 = (w0 + CHUNK).min(words);
                    #[cfg(target_arch = "x86_64")]
                    {
                        if avx2 {
                            // SAFETY: the CPU has AVX2 and POPCNT (checked above).
                            unsafe { tile_avx2(rows, i0, i1, j0, j1, w0, w1, &mut acc) }
                        } else {
                            tile_body(rows, i0, i1, j0, j1, w0, w1, &mut acc)
                        }
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    tile_body(rows, i0, i1, j0, j1, w0, w1, &mut acc);
                    w0 = w1;
                }
                for i in i0..i1 {
                    for j in j0.max(i + 1)..j1 {
                        let [both, diff, union] = counts_of(rows, i, j, acc[(i - i0) * BLOCK + (j - j0)]);
                        let den = if jaccard { union } else { both };
                        piece[pair_index(n, i, j) - base] =
                            if den == 0 { f64::NAN } else { diff as f64 / den as f64 };
                    }
                }
                j0 = j1;
            }
        })
    });
    Ok(())
}

/// The counts (n_both, n_diff, n_union) of one pair, for messages.
pub fn pair_counts(rows: &PackedRows, i: usize, j: usize) -> (u32, u32, u32) {
    let w = rows.words;
    // Always the general counts (a complete pair's accumulator means something else).
    chunk_counts(
        &rows.present[i * w..(i + 1) * w],
        &rows.observed[i * w..(i + 1) * w],
        &rows.present[j * w..(j + 1) * w],
        &rows.observed[j * w..(j + 1) * w],
    )
}

/// The first pair (row-major) whose distance is NaN, if any.
pub fn first_undefined(n: usize, out: &[f64]) -> Option<(usize, usize)> {
    let k = out.iter().position(|x| x.is_nan())?;
    // Row i holds n - 1 - i entries.
    let mut i = 0;
    let mut start = 0;
    while start + (n - 1 - i) <= k {
        start += n - 1 - i;
        i += 1;
    }
    Some((i, i + 1 + (k - start)))
}

/// The distances of `states` (family-major, `n_families x n_genomes`) into `out` (condensed);
/// on a pair with no defined distance, an error naming it (0-based genome indices), with the
/// pair returned beside the error.
pub fn distances(
    states: &[u8],
    n_genomes: usize,
    n_families: usize,
    metric: u32,
    n_threads: usize,
    out: &mut [f64],
) -> Result<(), (GcError, Option<(usize, usize)>)> {
    let pool = shared_pool(n_threads).map_err(|e| (e, None))?;
    let expected = n_genomes.checked_mul(n_families).ok_or_else(|| {
        (GcError::invalid(format!("n_genomes ({n_genomes}) * n_families ({n_families}) overflows")), None)
    })?;
    if states.len() != expected {
        return Err((
            GcError::invalid(format!(
                "states_len is {} but n_families * n_genomes is {n_families} * {n_genomes} = {expected}",
                states.len()
            )),
            None,
        ));
    }
    if n_genomes < 2 {
        return Err((
            GcError::invalid(format!("n_genomes is {n_genomes}: distances need at least 2 genomes")),
            None,
        ));
    }
    if n_families > u32::MAX as usize {
        return Err((GcError::invalid(format!("n_families ({n_families}) is more than 2^32 - 1")), None));
    }
    let rows = pack_rows(states, n_genomes, n_families, &pool).map_err(|e| (e, None))?;
    distances_packed(&rows, metric, out, &pool).map_err(|e| (e, None))?;
    if let Some((i, j)) = first_undefined(n_genomes, out) {
        let (both, _, _) = pair_counts(&rows, i, j);
        let msg = if both == 0 {
            format!(
                "Genomes {i} and {j} (0-based) have no family observed in both (every family is missing in one of them): their distance is undefined"
            )
        } else {
            format!(
                "Genomes {i} and {j} (0-based) have no family present in either among the {both} families observed in both: their Jaccard distance is 0/0"
            )
        };
        return Err((GcError::invalid(msg), Some((i, j))));
    }
    Ok(())
}

/// The arguments of `gc_distances` (see `genecontent.h`); fields are only ever appended.
#[repr(C)]
#[allow(non_camel_case_types)] // the C name
#[derive(Debug, Clone, Copy)]
pub struct gc_distance_args {
    /// The caller's `sizeof(gc_distance_args)`.
    pub struct_size: u64,
    /// Number of genomes (columns of a family-major matrix).
    pub n_genomes: u64,
    /// Number of families.
    pub n_families: u64,
    /// `GC_DISTANCE_JACCARD` or `GC_DISTANCE_HAMMING`.
    pub metric: u32,
    /// Worker threads; 0 means one per available CPU.
    pub n_threads: u32,
    /// `n_families * n_genomes` cells, family-major, each 0, 1 or 2 (missing).
    pub states: *const u8,
    /// Length of `states`.
    pub states_len: u64,
    /// `n_genomes (n_genomes - 1) / 2` distances (written).
    pub out: *mut f64,
    /// Length of `out`.
    pub out_len: u64,
    /// NULL with length 0, or 2 values: the pair without a distance, on that error.
    pub out_failed_pair: *mut u64,
    /// Length of `out_failed_pair` (0 or 2).
    pub out_failed_pair_len: u64,
}

/// See `genecontent.h`.
///
/// # Safety
/// `args` must point to a `gc_distance_args` of `args->struct_size` bytes whose pointers are
/// valid for their stated lengths.
#[no_mangle]
pub unsafe extern "C" fn gc_distances(args: *const gc_distance_args, err: *mut c_char, err_len: u64) -> i32 {
    guard(err, err_len, || {
        let a = read_args(args, "gc_distance_args", std::mem::size_of::<gc_distance_args>())?;
        let n_genomes = to_usize(a.n_genomes, "n_genomes")?;
        let n_families = to_usize(a.n_families, "n_families")?;
        let states = slice(a.states, a.states_len, "states")?;
        let out = slice_mut(a.out, a.out_len, "out")?;
        if a.out_failed_pair_len != 0 && a.out_failed_pair_len != 2 {
            return Err(GcError::invalid(format!(
                "out_failed_pair_len is {}: pass 2 (or NULL with 0)",
                a.out_failed_pair_len
            )));
        }
        let failed = slice_mut(a.out_failed_pair, a.out_failed_pair_len, "out_failed_pair")?;
        let expected = n_pairs(n_genomes)?;
        if out.len() != expected {
            return Err(GcError::invalid(format!(
                "out_len is {} but n_genomes (n_genomes - 1) / 2 is {expected}",
                out.len()
            )));
        }
        if a.metric != GC_DISTANCE_JACCARD && a.metric != GC_DISTANCE_HAMMING {
            return Err(GcError::invalid(format!(
                "metric is {}: use GC_DISTANCE_JACCARD ({GC_DISTANCE_JACCARD}) or GC_DISTANCE_HAMMING ({GC_DISTANCE_HAMMING})",
                a.metric
            )));
        }
        distances(states, n_genomes, n_families, a.metric, a.n_threads as usize, out).map_err(|(e, pair)| {
            if let (Some((i, j)), 2) = (pair, failed.len()) {
                failed[0] = i as u64;
                failed[1] = j as u64;
            }
            e
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance of one pair computed directly from the cells.
    fn direct(states: &[u8], ng: usize, nf: usize, i: usize, j: usize, jaccard: bool) -> f64 {
        let (mut both, mut diff, mut union) = (0u32, 0u32, 0u32);
        for f in 0..nf {
            let (a, b) = (states[f * ng + i], states[f * ng + j]);
            if a == 2 || b == 2 {
                continue;
            }
            both += 1;
            diff += (a != b) as u32;
            union += (a == 1 || b == 1) as u32;
        }
        diff as f64 / if jaccard { union } else { both } as f64
    }

    #[test]
    fn tiled_counts_equal_direct_counts() {
        // Sizes crossing the tile and chunk edges (BLOCK 32 genomes, CHUNK 512 words).
        for &(ng, nf) in &[(2usize, 1usize), (5, 70), (33, 64), (70, 33_000), (65, 129)] {
            let mut x = 12345u64;
            let mut states = vec![0u8; ng * nf];
            for s in states.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *s = match x % 10 {
                    0 => 2,
                    1..=4 => 1,
                    _ => 0,
                };
            }
            // Every genome observed and present somewhere: no undefined pair. Every third genome
            // has no missing cell (pairs of two such take the counting shortcut).
            for g in 0..ng {
                states[g] = 1;
                if g % 3 == 0 {
                    for f in 0..nf {
                        if states[f * ng + g] == 2 {
                            states[f * ng + g] = 0;
                        }
                    }
                }
            }
            for metric in [GC_DISTANCE_JACCARD, GC_DISTANCE_HAMMING] {
                let mut out = vec![0.0; ng * (ng - 1) / 2];
                distances(&states, ng, nf, metric, 2, &mut out).unwrap();
                for i in 0..ng {
                    for j in i + 1..ng {
                        let want = direct(&states, ng, nf, i, j, metric == GC_DISTANCE_JACCARD);
                        assert_eq!(out[pair_index(ng, i, j)].to_bits(), want.to_bits(), "{ng} {nf} {i} {j}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_undefined_pair_is_named() {
        // Genome 2 is missing wherever genome 1 is observed.
        let states = [1, 1, 2, 0, 2, 1, 1, 0, 2];
        let mut out = vec![0.0; 3];
        let (e, pair) = distances(&states, 3, 3, GC_DISTANCE_HAMMING, 1, &mut out).unwrap_err();
        assert_eq!(pair, Some((1, 2)));
        assert!(e.message.contains("Genomes 1 and 2"), "{}", e.message);
        assert_eq!(first_undefined(4, &[0.0, 0.0, 0.0, 0.0, f64::NAN, 0.0]), Some((1, 3)));
    }
}
