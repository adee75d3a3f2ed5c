/**
 * Discrete-gamma category rates for the simulator (Yang 1994, as IQ-TREE's `+G`): `k` categories
 * of equal probability `1 / k`, each rate the mean of the gamma(alpha, alpha) distribution over
 * its quantile bin, so the rates have mean 1.
 *
 * The simulator asks for rates only through {@linkcode simulationGammaRates}, so the routine
 * behind it can be swapped for the likelihood's own without touching anything else.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/**
 * The `k` discrete-gamma category rates for shape `alpha` (mean 1, ascending).
 *
 * With `x_i` the `i / k` quantile of gamma(alpha, 1), the rate of bin `i` is
 * `k (P(alpha + 1, x_i) - P(alpha + 1, x_(i-1)))`, `P` the regularised lower incomplete gamma
 * function (the mean of gamma(alpha, alpha) over a bin is a difference of P at shape alpha + 1).
 *
 * @example
 * ```ts
 * import { simulationGammaRates } from "./gamma_rates.ts";
 * const r = simulationGammaRates(0.5, 4);
 * console.assert(Math.abs(r[0] - 0.03338775338359955) < 1e-12);
 * console.assert(Math.abs(r.reduce((a, b) => a + b, 0) - 4) < 1e-12);
 * ```
 */
export function simulationGammaRates(alpha: number, k: number): Float64Array {
  if (!(alpha > 0 && Number.isFinite(alpha))) {
    throw new GenecontentError(`Gamma shape alpha must be positive and finite; got ${alpha}.`);
  }
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new GenecontentError(`Number of gamma categories must be a positive integer; got ${k}.`);
  }
  const rates = new Float64Array(k);
  if (k === 1) {
    rates[0] = 1;
    return rates;
  }
  // Lower-tail masses of shape alpha + 1 at the bin edges, and the upper tail for the last bin.
  let previous = 0;
  for (let i = 1; i < k; i++) {
    const x = inverseLowerGamma(alpha, i / k);
    const lower = lowerGammaRegularized(alpha + 1, x);
    rates[i - 1] = k * (lower - previous);
    previous = lower;
    if (i === k - 1) rates[k - 1] = k * upperGammaRegularized(alpha + 1, x);
  }
  return rates;
}

/** log Gamma(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [
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
  const y = x - 1;
  let a = c[0];
  const t = y + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (y + i);
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Series for P(a, x), x < a + 1, times exp(x - a log x + log Gamma(a)). */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a, sum = term;
  for (let n = 1; n < 10000; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
  }
  return sum;
}

/** Continued fraction (modified Lentz) for Q(a, x), x >= a + 1, without the prefactor. */
function upperFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return h;
}

function prefactor(a: number, x: number): number {
  return Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** The regularised lower incomplete gamma function P(a, x). */
export function lowerGammaRegularized(a: number, x: number): number {
  if (x <= 0) return 0;
  if (x < a + 1) return prefactor(a, x) * lowerSeries(a, x);
  return 1 - prefactor(a, x) * upperFraction(a, x);
}

/** The regularised upper incomplete gamma function Q(a, x) = 1 - P(a, x). */
export function upperGammaRegularized(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) return 1 - prefactor(a, x) * lowerSeries(a, x);
  return prefactor(a, x) * upperFraction(a, x);
}

/**
 * The x with P(a, x) = p, 0 < p < 1 (the starting guess and Halley steps of Numerical Recipes'
 * `invgammp`, iterated to full double precision).
 */
export function inverseLowerGamma(a: number, p: number): number {
  const a1 = a - 1;
  const gln = logGamma(a);
  let x: number;
  let lna1 = 0, afac = 0;
  if (a > 1) {
    lna1 = Math.log(a1);
    afac = Math.exp(a1 * (lna1 - 1) - gln);
    const pp = p < 0.5 ? p : 1 - p;
    const t = Math.sqrt(-2 * Math.log(pp));
    let z = (2.30753 + t * 0.27061) / (1 + t * (0.99229 + t * 0.04481)) - t;
    if (p < 0.5) z = -z;
    x = Math.max(1e-3, a * Math.pow(1 - 1 / (9 * a) - z / (3 * Math.sqrt(a)), 3));
  } else {
    const t = 1 - a * (0.253 + a * 0.12);
    x = p < t ? Math.pow(p / t, 1 / a) : 1 - Math.log(1 - (p - t) / (1 - t));
  }
  for (let j = 0; j < 100; j++) {
    if (x <= 0) return 0;
    // Work on the smaller tail so that p near 1 keeps its precision.
    const err = p < 0.5 ? lowerGammaRegularized(a, x) - p : (1 - p) - upperGammaRegularized(a, x);
    const density = a > 1
      ? afac * Math.exp(-(x - a1) + a1 * (Math.log(x) - lna1))
      : Math.exp(-x + a1 * Math.log(x) - gln);
    if (density === 0) break;
    const u = err / density;
    const step = u / (1 - 0.5 * Math.min(1, u * (a1 / x - 1)));
    x -= step;
    if (x <= 0) x = 0.5 * (x + step);
    if (Math.abs(step) <= 1e-15 * x) break;
  }
  return x;
}
