//! The sparse block kernel written with explicit AVX2 intrinsics (8 lanes = two `__m256d`).
//!
//! It performs exactly the operations of the portable `run_impl` in `blocked.rs`, in the same
//! order, with separate multiplies and adds (no fused multiply-add), so both produce
//! bit-identical results; the portable version runs on CPUs without AVX2. The compiler's own
//! vectorisation of the portable code shuffled data between lanes and components and ran
//! several times slower, hence this file.

use crate::engines::blocked::{rescale_lanes, Baseline, Block, BlockedEngine, BlockedScratch, LANES};
use crate::engines::dense::root_combine;
use crate::scaling::{rescale_scalar, TINY};
use crate::transition::{multiply, SetTables};
use std::arch::x86_64::*;

type V = [f64; LANES];

#[derive(Clone, Copy)]
struct W {
    lo: __m256d,
    hi: __m256d,
}

macro_rules! splat {
    ($x:expr) => {{
        let x = _mm256_set1_pd($x);
        W { lo: x, hi: x }
    }};
}
macro_rules! ld {
    ($a:expr) => {{
        let p = $a.as_ptr();
        W { lo: _mm256_loadu_pd(p), hi: _mm256_loadu_pd(p.add(4)) }
    }};
}
macro_rules! st {
    ($a:expr, $w:expr) => {{
        let p = $a.as_mut_ptr();
        let w = $w;
        _mm256_storeu_pd(p, w.lo);
        _mm256_storeu_pd(p.add(4), w.hi);
    }};
}
macro_rules! mul {
    ($a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        W { lo: _mm256_mul_pd(a.lo, b.lo), hi: _mm256_mul_pd(a.hi, b.hi) }
    }};
}
macro_rules! add {
    ($a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        W { lo: _mm256_add_pd(a.lo, b.lo), hi: _mm256_add_pd(a.hi, b.hi) }
    }};
}
/// Lane-wise `if is0 { x } else if is1 { y } else { z }`.
macro_rules! sel {
    ($is0:expr, $is1:expr, $x:expr, $y:expr, $z:expr) => {{
        let (x, y, z) = (_mm256_set1_pd($x), _mm256_set1_pd($y), _mm256_set1_pd($z));
        W {
            lo: _mm256_blendv_pd(_mm256_blendv_pd(z, y, $is1.lo), x, $is0.lo),
            hi: _mm256_blendv_pd(_mm256_blendv_pd(z, y, $is1.hi), x, $is0.hi),
        }
    }};
}

/// Runs one block; see `run_impl` in `blocked.rs`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn run<const G: bool>(
    eng: &BlockedEngine,
    blk: &Block,
    tabs: &SetTables,
    base: &Baseline,
    s: &mut BlockedScratch,
) -> (V, [V; 2]) {
    const { assert!(LANES == 8) };
    let b = blk.baseline as usize;
    let bval = &base.val[b];
    let bder = &base.der[b];
    let rows = &eng.rows[blk.rows_start as usize..];
    let nodes = &eng.nodes[blk.node_start as usize..blk.node_end as usize];
    let ops = &eng.ops[..];
    let val = &mut s.val[..nodes.len()];
    let grad = &mut s.grad[..if G { nodes.len() } else { 0 }];
    let tiny = _mm256_set1_pd(TINY);
    let zero_i = _mm256_setzero_si256();
    let one_i = _mm256_set1_epi64x(1);
    let zero = splat!(0.0);
    let (mut a0, mut a1, mut ae) = (zero, zero, zero);
    let (mut d0, mut d1, mut d2, mut d3) = (zero, zero, zero, zero);

    macro_rules! rescale {
        () => {{
            let c_lo =
                _mm256_and_pd(_mm256_cmp_pd(a0.lo, tiny, _CMP_LT_OQ), _mm256_cmp_pd(a1.lo, tiny, _CMP_LT_OQ));
            let c_hi =
                _mm256_and_pd(_mm256_cmp_pd(a0.hi, tiny, _CMP_LT_OQ), _mm256_cmp_pd(a1.hi, tiny, _CMP_LT_OQ));
            if _mm256_movemask_pd(_mm256_or_pd(c_lo, c_hi)) != 0 {
                let mut a = [[0.0; LANES]; 2];
                let mut d = [[0.0; LANES]; 4];
                let mut e = [0.0; LANES];
                st!(a[0], a0);
                st!(a[1], a1);
                st!(e, ae);
                if G {
                    st!(d[0], d0);
                    st!(d[1], d1);
                    st!(d[2], d2);
                    st!(d[3], d3);
                }
                rescale_lanes::<G>(&mut a, &mut d, &mut e);
                a0 = ld!(a[0]);
                a1 = ld!(a[1]);
                ae = ld!(e);
                if G {
                    d0 = ld!(d[0]);
                    d1 = ld!(d[1]);
                    d2 = ld!(d[2]);
                    d3 = ld!(d[3]);
                }
            }
        }};
    }
    macro_rules! product {
        ($m0:expr, $m1:expr, $md:expr) => {{
            let (m0, m1) = ($m0, $m1);
            if G {
                let md: [W; 4] = $md;
                d0 = add!(mul!(d0, m0), mul!(a0, md[0]));
                d1 = add!(mul!(d1, m1), mul!(a1, md[1]));
                d2 = add!(mul!(d2, m0), mul!(a0, md[2]));
                d3 = add!(mul!(d3, m1), mul!(a1, md[3]));
            }
            a0 = mul!(a0, m0);
            a1 = mul!(a1, m1);
        }};
    }

    for (k, nr) in nodes.iter().enumerate() {
        let mut bl = [1.0f64, 1.0];
        let mut bd = [0.0f64; 4];
        let mut be = 0.0f64;
        for op in &ops[nr.tip_end as usize..nr.op_end as usize] {
            let c = op.child as usize;
            let m = bval[c];
            be += m[2];
            multiply::<G>(&mut bl, &mut bd, [m[0], m[1]], if G { bder[c] } else { [0.0; 4] });
            be += rescale_scalar::<G>(&mut bl, &mut bd);
        }
        a0 = splat!(bl[0]);
        a1 = splat!(bl[1]);
        ae = splat!(be);
        if G {
            d0 = splat!(bd[0]);
            d1 = splat!(bd[1]);
            d2 = splat!(bd[2]);
            d3 = splat!(bd[3]);
        }
        let mut countdown = 2u32;
        for op in &ops[nr.op_start as usize..nr.slot_end as usize] {
            let c = op.child as usize;
            let sl = op.arg as usize;
            let q = &val[sl];
            let (q0, q1) = (ld!(q[0]), ld!(q[1]));
            let p = tabs.p[c];
            let (p0, p1, p2, p3) = (splat!(p[0]), splat!(p[1]), splat!(p[2]), splat!(p[3]));
            let m0 = add!(mul!(p0, q0), mul!(p1, q1));
            let m1 = add!(mul!(p2, q0), mul!(p3, q1));
            ae = add!(ae, ld!(q[2]));
            let md = if G {
                let dq = &grad[sl];
                let (e0, e1, e2, e3) = (ld!(dq[0]), ld!(dq[1]), ld!(dq[2]), ld!(dq[3]));
                let dp = tabs.dp[c];
                [
                    add!(
                        add!(add!(mul!(splat!(dp[0]), q0), mul!(splat!(dp[1]), q1)), mul!(p0, e0)),
                        mul!(p1, e1)
                    ),
                    add!(
                        add!(add!(mul!(splat!(dp[2]), q0), mul!(splat!(dp[3]), q1)), mul!(p2, e0)),
                        mul!(p3, e1)
                    ),
                    add!(
                        add!(add!(mul!(splat!(dp[4]), q0), mul!(splat!(dp[5]), q1)), mul!(p0, e2)),
                        mul!(p1, e3)
                    ),
                    add!(
                        add!(add!(mul!(splat!(dp[6]), q0), mul!(splat!(dp[7]), q1)), mul!(p2, e2)),
                        mul!(p3, e3)
                    ),
                ]
            } else {
                [zero; 4]
            };
            product!(m0, m1, md);
            countdown -= 1;
            if countdown == 0 {
                countdown = 3;
                rescale!();
            }
        }
        for op in &ops[nr.slot_end as usize..nr.tip_end as usize] {
            let c = op.child as usize;
            let row = u64::from_le_bytes(rows[op.arg as usize]) as i64;
            let r = _mm_cvtsi64_si128(row);
            let lo = _mm256_cvtepu8_epi64(r);
            let hi = _mm256_cvtepu8_epi64(_mm_srli_si128::<4>(r));
            let is0 = W {
                lo: _mm256_castsi256_pd(_mm256_cmpeq_epi64(lo, zero_i)),
                hi: _mm256_castsi256_pd(_mm256_cmpeq_epi64(hi, zero_i)),
            };
            let is1 = W {
                lo: _mm256_castsi256_pd(_mm256_cmpeq_epi64(lo, one_i)),
                hi: _mm256_castsi256_pd(_mm256_cmpeq_epi64(hi, one_i)),
            };
            let tv = tabs.tip_val[c];
            let m0 = sel!(is0, is1, tv[0], tv[2], 1.0);
            let m1 = sel!(is0, is1, tv[1], tv[3], 1.0);
            let md = if G {
                let td = tabs.tip_der[c];
                [
                    sel!(is0, is1, td[0], td[4], 0.0),
                    sel!(is0, is1, td[1], td[5], 0.0),
                    sel!(is0, is1, td[2], td[6], 0.0),
                    sel!(is0, is1, td[3], td[7], 0.0),
                ]
            } else {
                [zero; 4]
            };
            product!(m0, m1, md);
            countdown -= 1;
            if countdown == 0 {
                countdown = 3;
                rescale!();
            }
        }
        rescale!();
        st!(val[k][0], a0);
        st!(val[k][1], a1);
        st!(val[k][2], ae);
        if G {
            st!(grad[k][0], d0);
            st!(grad[k][1], d1);
            st!(grad[k][2], d2);
            st!(grad[k][3], d3);
        }
    }
    let mut a = [[0.0; LANES]; 2];
    let mut d = [[0.0; LANES]; 4];
    let mut e = [0.0; LANES];
    st!(a[0], a0);
    st!(a[1], a1);
    st!(e, ae);
    if G {
        st!(d[0], d0);
        st!(d[1], d1);
        st!(d[2], d2);
        st!(d[3], d3);
    }
    let mut ll = [0.0; LANES];
    let mut g = [[0.0; LANES]; 2];
    for l in 0..LANES {
        let (x, y) = root_combine::<G>(tabs, [a[0][l], a[1][l]], [d[0][l], d[1][l], d[2][l], d[3][l]], e[l]);
        ll[l] = x;
        g[0][l] = y[0];
        g[1][l] = y[1];
    }
    (ll, g)
}
