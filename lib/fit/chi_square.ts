/**
 * The chi-square distribution (CDF, survival function, quantiles) through the regularised
 * incomplete gamma function, and the chi-bar-square mixtures that are the null distribution of a
 * likelihood-ratio statistic when parameters sit on the boundary of their space (Self & Liang
 * 1987).
 *
 * The incomplete gamma function is the one of the discrete gamma model (`lib/model/gamma.ts`:
 * the power series for x < a + 1, a continued fraction otherwise); quantiles are found by
 * safeguarded Newton steps on the CDF.
 *
 * @module
 */

import { logGamma, regularizedGammaP, regularizedGammaQ } from "../model/gamma.ts";

/**
 * The regularised incomplete gamma functions P(a, x) and Q(a, x) = 1 - P(a, x), each computed
 * directly (no cancellation in the small one), from `lib/model/gamma.ts`.
 *
 * @example
 * ```ts
 * import { regularizedGamma } from "./chi_square.ts";
 * // a = 1: P(1, x) = 1 - exp(-x).
 * console.assert(Math.abs(regularizedGamma(1, 2).p - (1 - Math.exp(-2))) < 1e-15);
 * ```
 */
export function regularizedGamma(a: number, x: number): { p: number; q: number } {
  return { p: regularizedGammaP(a, x), q: regularizedGammaQ(a, x) };
}

function checkDf(df: number): void {
  if (!(df > 0 && Number.isFinite(df))) {
    throw new RangeError(`Chi-square degrees of freedom must be positive; got ${df}.`);
  }
}

/**
 * P(X <= x) for X ~ chi2(df), df > 0.
 *
 * @example
 * ```ts
 * import { chiSquareCdf } from "./chi_square.ts";
 * console.assert(Math.abs(chiSquareCdf(2, 2) - (1 - Math.exp(-1))) < 1e-15);
 * ```
 */
export function chiSquareCdf(x: number, df: number): number {
  checkDf(df);
  return x <= 0 ? 0 : regularizedGamma(df / 2, x / 2).p;
}

/**
 * P(X > x) for X ~ chi2(df), df > 0, accurate far into the tail (p-values).
 *
 * @example
 * ```ts
 * import { chiSquareSurvival } from "./chi_square.ts";
 * console.assert(Math.abs(chiSquareSurvival(40, 2) - Math.exp(-20)) < 1e-22);
 * ```
 */
export function chiSquareSurvival(x: number, df: number): number {
  checkDf(df);
  return x <= 0 ? 1 : regularizedGamma(df / 2, x / 2).q;
}

/**
 * The value x with P(X <= x) = p for X ~ chi2(df).
 *
 * @example
 * ```ts
 * import { chiSquareQuantile } from "./chi_square.ts";
 * console.assert(Math.abs(chiSquareQuantile(0.95, 1) - 3.841458820694124) < 1e-12);
 * ```
 */
export function chiSquareQuantile(p: number, df: number): number {
  checkDf(df);
  if (!(p > 0 && p < 1)) throw new RangeError(`Probability must be in (0, 1); got ${p}.`);
  const a = df / 2;
  const logNorm = logGamma(a);
  // Bracket [lo, hi] in x / 2 with P(lo) < p <= P(hi), then Newton steps kept inside it.
  let lo = 0;
  let hi = Math.max(1, a);
  while (regularizedGamma(a, hi).p < p) {
    lo = hi;
    hi *= 2;
  }
  let y = (lo + hi) / 2;
  for (let it = 0; it < 200; it++) {
    const { p: cdf, q } = regularizedGamma(a, y);
    // Work on the smaller tail for accuracy.
    const err = p < 0.5 ? cdf - p : (1 - p) - q;
    if (err === 0) return 2 * y;
    if (err < 0) lo = y;
    else hi = y;
    const density = Math.exp((a - 1) * Math.log(y) - y - logNorm);
    let next = y - err / density;
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - y) <= 1e-15 * y || hi - lo <= 1e-15 * hi) return 2 * next;
    y = next;
  }
  return 2 * y;
}

/**
 * P(X > x) for the chi-bar-square mixture X ~ sum_j weights[j] chi2(j) (chi2(0) is a point mass
 * at 0), the null distribution of a likelihood-ratio statistic with parameters on a boundary.
 *
 * @example
 * ```ts
 * import { chiBarSquareSurvival, chiSquareSurvival } from "./chi_square.ts";
 * // One parameter on its boundary: the 50:50 mixture of chi2(0) and chi2(1).
 * const p = chiBarSquareSurvival(2.5, [0.5, 0.5]);
 * console.assert(Math.abs(p - 0.5 * chiSquareSurvival(2.5, 1)) < 1e-16);
 * ```
 */
export function chiBarSquareSurvival(x: number, weights: readonly number[]): number {
  let total = 0;
  let sum = 0;
  for (let j = 0; j < weights.length; j++) {
    const w = weights[j];
    if (!(w >= 0)) {
      throw new RangeError(`Chi-bar-square weight ${j} is ${w}; weights must be >= 0.`);
    }
    total += w;
    if (w > 0) sum += w * (j === 0 ? (x < 0 ? 1 : 0) : chiSquareSurvival(x, j));
  }
  if (!(Math.abs(total - 1) < 1e-12)) {
    throw new RangeError(`Chi-bar-square weights sum to ${total}, not 1.`);
  }
  return sum;
}
