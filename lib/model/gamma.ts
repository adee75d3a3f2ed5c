/**
 * Discrete gamma rate categories (Yang 1994), as IQ-TREE's `+G` computes them: `k` bins of equal
 * probability 1/k of the gamma(alpha, alpha) distribution (shape alpha, mean 1), each category
 * rate the mean of the distribution over its bin, so that the rates have mean 1. With the bin
 * edges `y_c` on the scale of gamma(alpha, 1) (`P(alpha, y_c) = c / k`), the mean of bin `c` is
 *
 *     r_c = k [P(alpha + 1, y_{c+1}) - P(alpha + 1, y_c)]
 *
 * where `P` is the regularised lower incomplete gamma function. Its derivative with respect to
 * alpha follows from the implicit derivative of the edges, `dy/dalpha = -dP/da(alpha, y) /
 * p(alpha, y)` (with `p` the gamma(alpha, 1) density), and `p(alpha + 1, y) / p(alpha, y) = y /
 * alpha`:
 *
 *     d/dalpha P(alpha + 1, y(alpha)) = dP/da(alpha + 1, y) - (y / alpha) dP/da(alpha, y).
 *
 * `P` comes from its power series (x < a + 1) or the continued fraction of `Q = 1 - P` (x >= a +
 * 1), with the prefactor `x^a e^-x / Gamma(a + 1)` computed through `log1p` and Stirling's series
 * for large `a` (no cancellation between terms of size `a log a`), so it keeps about 14 digits for
 * `a` from 0.01 to beyond 1000. `dP/da` is the series differentiated term by term, `sum_n t_n
 * (log x - psi(a + n + 1))`. The inverse is Halley's method on `log y` from the starting point of
 * Numerical Recipes (`invgammp`), on `P` below the median and on `Q` above it.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

const LOG_2PI = Math.log(2 * Math.PI);
const EPS = 2.220446049250313e-16;
const MAX_TERMS = 100000;

/** Lanczos coefficients (g = 7, n = 9): about 15 significant digits of Gamma for x > 0. */
const LANCZOS = [
  0.99999999999980993,
  676.5203681218851,
  -1259.1392167224028,
  771.32342877765313,
  -176.61502916214059,
  12.507343278686905,
  -0.13857109526572012,
  9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/**
 * Natural log of the gamma function for `x > 0`.
 *
 * @example
 * ```ts
 * import { logGamma } from "./gamma.ts";
 * console.assert(Math.abs(logGamma(5) - Math.log(24)) < 1e-14);
 * ```
 */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma needs x > 0, got ${x}.`);
  if (x >= 10) {
    return (x - 0.5) * Math.log(x) - x + 0.5 * LOG_2PI + stirlingCorrection(x);
  }
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum in its accurate range.
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log Gamma(x) - [(x - 1/2) log x - x + log(2 pi) / 2] for x >= 10 (Stirling's series). */
function stirlingCorrection(x: number): number {
  const r = 1 / x, r2 = r * r;
  return r * (1 / 12 -
    r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (1 / 1188 - r2 * (691 / 360360 -
                        r2 / 156))))));
}

/**
 * The digamma function psi(x) = d log Gamma(x) / dx for `x > 0`.
 *
 * @example
 * ```ts
 * import { digamma } from "./gamma.ts";
 * // psi(1) = -Euler's constant.
 * console.assert(Math.abs(digamma(1) + 0.5772156649015329) < 1e-14);
 * ```
 */
export function digamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`digamma needs x > 0, got ${x}.`);
  let shift = 0;
  while (x < 10) {
    shift -= 1 / x;
    x += 1;
  }
  const r = 1 / x, r2 = r * r;
  return shift + Math.log(x) - 0.5 * r -
    r2 * (1 / 12 -
        r2 * (1 / 120 - r2 * (1 / 252 - r2 * (1 / 240 - r2 * (1 / 132 - r2 * (691 / 32760 -
                            r2 / 12))))));
}

/** log(x^a e^-x / Gamma(a + 1)), without cancellation between large terms. */
function logPrefactor(a: number, x: number): number {
  if (a >= 10) {
    const u = (x - a) / a;
    // Near u = -1 (x << a) log1p would amplify the rounding of u; log(x / a) does not.
    const logRatio = u < -0.5 ? Math.log(x / a) : Math.log1p(u);
    return a * (logRatio - u) - 0.5 * (LOG_2PI + Math.log(a)) - stirlingCorrection(a);
  }
  return a * Math.log(x) - x - logGamma(a + 1);
}

/** P(a, x) by its series (with the log prefactor): best for x < a + 1. */
function seriesP(a: number, x: number): number {
  let term = 1, sum = 1;
  for (let n = 1; n < MAX_TERMS; n++) {
    term *= x / (a + n);
    sum += term;
    if (term < sum * EPS) break;
  }
  return Math.exp(logPrefactor(a, x) + Math.log(sum));
}

/** Q(a, x) by its continued fraction (modified Lentz): for x >= a + 1. */
function fractionQ(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_TERMS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  // x^a e^-x / Gamma(a) = a * (x^a e^-x / Gamma(a + 1)).
  return Math.exp(logPrefactor(a, x) + Math.log(a) + Math.log(h));
}

function checkArgs(a: number, x: number): void {
  if (!(a > 0 && Number.isFinite(a))) {
    throw new RangeError(`The incomplete gamma function needs a finite shape a > 0, got ${a}.`);
  }
  if (!(x >= 0)) throw new RangeError(`The incomplete gamma function needs x >= 0, got ${x}.`);
}

/**
 * The regularised lower incomplete gamma function P(a, x) = gamma(a, x) / Gamma(a).
 *
 * @example
 * ```ts
 * import { regularizedGammaP } from "./gamma.ts";
 * // Shape 1 is the exponential distribution: P(1, x) = 1 - e^-x.
 * console.assert(Math.abs(regularizedGammaP(1, 2) - (1 - Math.exp(-2))) < 1e-15);
 * ```
 */
export function regularizedGammaP(a: number, x: number): number {
  checkArgs(a, x);
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? seriesP(a, x) : 1 - fractionQ(a, x);
}

/**
 * The regularised upper incomplete gamma function Q(a, x) = 1 - P(a, x), with full relative
 * accuracy in the upper tail.
 *
 * @example
 * ```ts
 * import { regularizedGammaQ } from "./gamma.ts";
 * console.assert(Math.abs(regularizedGammaQ(1, 40) / Math.exp(-40) - 1) < 1e-13);
 * ```
 */
export function regularizedGammaQ(a: number, x: number): number {
  checkArgs(a, x);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - seriesP(a, x) : fractionQ(a, x);
}

/**
 * d P(a, x) / d a, the derivative of the regularised lower incomplete gamma function with respect
 * to its shape, by the series differentiated term by term.
 *
 * @example
 * ```ts
 * import { regularizedGammaP, regularizedGammaPDerivativeA } from "./gamma.ts";
 * const h = 1e-5;
 * const fd = (regularizedGammaP(2 + h, 1.5) - regularizedGammaP(2 - h, 1.5)) / (2 * h);
 * console.assert(Math.abs(regularizedGammaPDerivativeA(2, 1.5) - fd) < 1e-9);
 * ```
 */
export function regularizedGammaPDerivativeA(a: number, x: number): number {
  checkArgs(a, x);
  if (x === 0 || x === Infinity) return 0;
  const logX = Math.log(x);
  // t_n = x^(a + n) e^-x / Gamma(a + n + 1); psi(a + n + 1) by its recurrence.
  let term = 1, sum = 0, size = 0;
  let psi = digamma(a + 1);
  for (let n = 0; n < MAX_TERMS; n++) {
    if (n > 0) {
      term *= x / (a + n);
      psi += 1 / (a + n);
    }
    sum += term * (logX - psi);
    size += term;
    if (n > x - a && term < size * EPS) break;
  }
  return Math.exp(logPrefactor(a, x)) * sum;
}

/**
 * The inverse of P(a, .) : the `x` with P(a, x) = p, for 0 < p < 1. Pass `q = 1 - p` as well
 * when p is close to 1 and `1 - p` is known exactly (it is then solved on Q for full relative
 * accuracy in the upper tail).
 *
 * @example
 * ```ts
 * import { inverseRegularizedGammaP, regularizedGammaP } from "./gamma.ts";
 * const x = inverseRegularizedGammaP(0.5, 0.25);
 * console.assert(Math.abs(regularizedGammaP(0.5, x) - 0.25) < 1e-15);
 * ```
 */
export function inverseRegularizedGammaP(a: number, p: number, q = 1 - p): number {
  if (!(a > 0 && Number.isFinite(a))) {
    throw new RangeError(`The inverse incomplete gamma function needs a shape a > 0, got ${a}.`);
  }
  if (!(p > 0 && p < 1)) throw new RangeError(`The probability must be in (0, 1), got ${p}.`);
  const upper = p > 0.5;
  // Starting point (Numerical Recipes, invgammp), as log x.
  let logX: number;
  if (a > 1) {
    const pp = upper ? q : p;
    const t = Math.sqrt(-2 * Math.log(pp));
    let z = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t;
    if (!upper) z = -z;
    logX = Math.log(Math.max(1e-3, a * Math.pow(1 - 1 / (9 * a) - z / (3 * Math.sqrt(a)), 3)));
  } else {
    const t = 1 - a * (0.253 + a * 0.12);
    logX = p < t ? Math.log(p / t) / a : Math.log(1 - Math.log(1 - (p - t) / (1 - t)));
  }
  // Halley on f(u) = P(a, e^u) - p (or p' = Q - q above the median), u = log x:
  // f' = a * pre(u), pre = x^a e^-x / Gamma(a + 1); f'' / f' = a - x.
  for (let iter = 0; iter < 200; iter++) {
    const x = Math.exp(logX);
    if (x === 0) {
      throw new RangeError(
        `The ${p} quantile of gamma(${a}) underflows (log x = ${logX}); the shape is too small.`,
      );
    }
    const f = upper ? q - regularizedGammaQ(a, x) : regularizedGammaP(a, x) - p;
    const slope = a * Math.exp(logPrefactor(a, x));
    if (slope === 0 || !Number.isFinite(slope)) break;
    const u = f / slope;
    const curvature = a - x;
    // Halley's step, limited so the correction stays a correction.
    const step = u / (1 - 0.5 * Math.max(-1, Math.min(1, u * curvature)));
    logX -= Math.max(-5, Math.min(5, step));
    if (Math.abs(step) <= 4 * EPS * Math.max(1, Math.abs(logX))) break;
  }
  return Math.exp(logX);
}

/** Discrete gamma category rates and their derivatives with respect to alpha. */
export interface GammaCategories {
  /** The k category rates (ascending, mean 1). */
  readonly rates: Float64Array;
  /** d rate_c / d alpha. */
  readonly dRates: Float64Array;
}

/**
 * The `k` discrete gamma category rates of shape `alpha` (mean of each of `k` equal-probability
 * bins of gamma(alpha, alpha), normalised to mean 1 as IQ-TREE does) with their derivatives
 * with respect to alpha.
 *
 * @example
 * ```ts
 * import { gammaCategoryRates } from "./gamma.ts";
 * const { rates } = gammaCategoryRates(0.5, 4);
 * console.assert(Math.abs(rates[0] - 0.03338775338359955) < 1e-12);
 * console.assert(Math.abs(rates.reduce((s, r) => s + r, 0) - 4) < 1e-12);
 * ```
 */
export function gammaCategoryRates(alpha: number, k: number): GammaCategories {
  if (!(alpha > 0 && Number.isFinite(alpha))) {
    throw new GenecontentError(`The gamma shape alpha must be finite and > 0; got ${alpha}.`);
  }
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new GenecontentError(`The number of gamma categories must be >= 1; got ${k}.`);
  }
  const rates = new Float64Array(k);
  const dRates = new Float64Array(k);
  if (k === 1) {
    rates[0] = 1;
    return { rates, dRates };
  }
  // Bin edges y_1 .. y_{k-1} on the gamma(alpha, 1) scale, and at each edge:
  // lowP = P(alpha + 1, y), highQ = Q(alpha + 1, y), and A = d/dalpha P(alpha + 1, y(alpha)).
  const lowP = new Float64Array(k + 1);
  const highQ = new Float64Array(k + 1);
  const slope = new Float64Array(k + 1);
  highQ[0] = 1;
  lowP[k] = 1;
  for (let c = 1; c < k; c++) {
    const y = inverseRegularizedGammaP(alpha, c / k, (k - c) / k);
    lowP[c] = regularizedGammaP(alpha + 1, y);
    highQ[c] = regularizedGammaQ(alpha + 1, y);
    slope[c] = regularizedGammaPDerivativeA(alpha + 1, y) -
      (y / alpha) * regularizedGammaPDerivativeA(alpha, y);
  }
  for (let c = 0; c < k; c++) {
    // The difference of the smaller tail values (no cancellation against 1).
    const useLow = lowP[c + 1] <= 0.5;
    rates[c] = k * (useLow ? lowP[c + 1] - lowP[c] : highQ[c] - highQ[c + 1]);
    dRates[c] = k * (slope[c + 1] - slope[c]);
  }
  // Mean exactly 1 (it is 1 up to rounding): r / m, with d(r / m) = dr / m - r dm / m^2.
  let mean = 0, dMean = 0;
  for (let c = 0; c < k; c++) {
    mean += rates[c] / k;
    dMean += dRates[c] / k;
  }
  for (let c = 0; c < k; c++) {
    dRates[c] = dRates[c] / mean - rates[c] * dMean / (mean * mean);
    rates[c] /= mean;
    if (!(rates[c] > 0 && Number.isFinite(rates[c]))) {
      throw new GenecontentError(
        `Gamma shape alpha = ${alpha} with ${k} categories gives category ${c + 1} a rate of ` +
          `${rates[c]}, which a double cannot represent; use alpha >= 0.01.`,
      );
    }
  }
  return { rates, dRates };
}
