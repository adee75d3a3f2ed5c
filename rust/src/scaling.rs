//! Per-node rescaling by exact powers of two, so that partial likelihoods never underflow and
//! results stay bit-stable. A partial whose larger entry `m` is below `2^-256` is multiplied by
//! `2^-e`, where `e` is the binary exponent of `m` (so its larger entry lands in [1, 2)), and
//! `e` is added to the node's exponent count: the true partial is the stored one times `2^count`.
//! Kernels call the check after every third child product and at the end of each node, so a
//! product of at most three messages (each >= ~2^-256 * min(pi)) never reaches the subnormals.

/// Threshold below which a partial is rescaled.
pub const TINY: f64 = 1.0 / (1u128 << 127) as f64 / (1u128 << 127) as f64 / 4.0; // 2^-256

/// Binary exponent of a positive normal `m` as f64, and the exact factor `2^-e`.
#[inline(always)]
pub fn exponent_and_factor(m: f64) -> (f64, f64) {
    let field = (m.to_bits() >> 52) & 0x7ff; // m > 0, so no sign bit
                                             // field - 1023 as an f64 without an int->float conversion instruction (vectorises on AVX2).
    let e = f64::from_bits(field | 0x4330_0000_0000_0000) - (4503599627370496.0 + 1023.0);
    let factor = f64::from_bits((2046 - field) << 52);
    (e, factor)
}

/// Rescales one scalar partial `l` (and its derivatives `d`) in place; returns the exponent to add.
#[inline(always)]
pub fn rescale_scalar<const G: bool>(l: &mut [f64; 2], d: &mut [f64; 4]) -> f64 {
    let m = l[0].max(l[1]);
    if m < TINY && m > 0.0 {
        let (e, f) = exponent_and_factor(m);
        l[0] *= f;
        l[1] *= f;
        if G {
            for x in d.iter_mut() {
                *x *= f;
            }
        }
        e
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_is_two_to_minus_256() {
        assert_eq!(TINY, 2f64.powi(-256));
    }

    #[test]
    fn exponent_and_factor_are_exact() {
        for &m in &[1e-300, 3.5e-100, 2f64.powi(-1000), 1.0, 1.5] {
            let (e, f) = exponent_and_factor(m);
            assert_eq!(e, m.log2().floor());
            let scaled = m * f;
            assert!((1.0..2.0).contains(&scaled), "{m} -> {scaled}");
            assert_eq!(scaled * 2f64.powf(e), m);
        }
    }
}
