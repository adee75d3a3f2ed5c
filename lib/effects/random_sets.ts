/**
 * Random-set calibration of a family-set test: is the set's effect larger than that of random
 * sets of the same size drawn from the same PAM?
 *
 * The chi-square (and chi-bar-square) reference of the likelihood-ratio test assumes that the
 * background model is the process the families evolved under. Real pangenomes are more
 * heterogeneous than any background (a rate-class mixture fitted with gamma4, families from
 * phages and plasmids among chromosomal ones): families then vary around the background more
 * than the model says, and a set of randomly chosen families gets a large LRT far more often
 * than 5% of the time (on the 1,324 x 25,420 benchmark data, simulated from a core/shell/cloud
 * mixture, about a third of random sets of 300 families reach chi2(1)'s 5% point under a
 * gamma4 background, and most do under the null model). A parametric bootstrap under the fitted
 * background inherits the same assumption. Comparing the set with random sets of families from
 * the same data does not: under the hypothesis that the set's families are exchangeable with
 * the others (the question users ask: "are these genes retained longer than the rest?"), the
 * set's statistic is one draw from the random sets' distribution, whatever the background.
 *
 * The statistic is the LRT with the background held at its fit to all families (each random
 * set would otherwise need two fits): for a set S and channel rate multiplied by exp(theta),
 * `LRT_S = 2 max_theta sum_{f in S} [l_f(theta) - l_f(0)]`, where `l_f` is family f's corrected
 * log-likelihood ({@linkcode ModelLikelihood.familyCurves}); with a one-sided alternative it is
 * 0 when the estimate is on the other side. Every distinct column's curve is evaluated once on a
 * grid (fine near 0, coarser out to +-THETA_LIMIT) with its derivative, a set's curve is the sum
 * of its families' curves, and its maximum is found by cubic Hermite interpolation between the
 * grid points around the derivative's sign change. The p-value is (1 + #{random LRT >= LRT}) /
 * (1 + draws), exact under exchangeability for any number of draws.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { ModelLikelihood } from "../likelihood/model_likelihood.ts";
import type { EffectChannel } from "../model/effects.ts";
import { Random } from "../simulate/random.ts";
import type { Alternative } from "./likelihood_ratio.ts";

/** The grid's reach on theta: a multiplier of exp(+-10) is beyond anything data resolve. */
export const THETA_LIMIT = 10;
const FINE_REACH = 3;
const FINE_STEP = 0.05;
const COARSE_STEP = 0.5;

/** Options of {@linkcode randomSetCalibration}. */
export interface RandomSetOptions {
  /** The rate the set's multiplier acts on (default loss). */
  readonly channel?: EffectChannel;
  /** The alternative (default two-sided). */
  readonly alternative?: Alternative;
  /** Number of random sets (default 999). */
  readonly draws?: number;
  /** Seed of the draws (default 1). */
  readonly seed?: number;
}

/** The set's fixed-background statistic and its place among random sets'. */
export interface RandomSetCalibration {
  /** The set's LRT with the background fixed at its fit (one-sided: 0 on the wrong side). */
  readonly lrt: number;
  /** The set's estimate of theta with the background fixed. */
  readonly theta: number;
  /** Number of random sets. */
  readonly draws: number;
  /** Number of random sets whose statistic reached the set's. */
  readonly exceed: number;
  /** (1 + exceed) / (1 + draws). */
  readonly p: number;
  /** Median, 95% and 99% quantiles of the random sets' statistics. */
  readonly quantiles: { readonly q50: number; readonly q95: number; readonly q99: number };
  /**
   * Share of random sets whose statistic exceeds the asymptotic reference's 5% critical value:
   * about 0.05 when the background describes the families, larger when they vary more.
   */
  readonly asymptoticRejection: number;
}

/** The grid of thetas the curves are evaluated on (increasing, 0 included). */
export function thetaGrid(): Float64Array {
  const out: number[] = [];
  for (let t = -THETA_LIMIT; t < -FINE_REACH - 1e-9; t += COARSE_STEP) out.push(t);
  const nFine = Math.round((2 * FINE_REACH) / FINE_STEP);
  for (let i = 0; i <= nFine; i++) out.push(-FINE_REACH + i * FINE_STEP);
  for (let t = FINE_REACH + COARSE_STEP; t <= THETA_LIMIT + 1e-9; t += COARSE_STEP) out.push(t);
  return Float64Array.from(out, (t) => Math.round(t * 1e9) / 1e9);
}

/**
 * The maximum over theta of a curve known by its values and derivatives on a grid: at the grid
 * point of largest value, or inside an interval whose derivative changes sign from + to -, at
 * the stationary point of the cubic Hermite interpolant there. Returns the estimate and the
 * maximum.
 *
 * @example
 * ```ts
 * import { maximizeOnGrid } from "./random_sets.ts";
 * // -(t - 0.3)^2 sampled at -1, 0, 1: the cubic through the values and slopes is exact.
 * const t = Float64Array.of(-1, 0, 1);
 * const m = maximizeOnGrid(t, t.map((x) => -((x - 0.3) ** 2)), t.map((x) => -2 * (x - 0.3)));
 * console.assert(Math.abs(m.theta - 0.3) < 1e-12 && Math.abs(m.value) < 1e-12);
 * ```
 */
export function maximizeOnGrid(
  thetas: Float64Array,
  values: Float64Array,
  slopes: Float64Array,
): { theta: number; value: number } {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  let theta = thetas[best], value = values[best];
  for (const i of [best - 1, best]) {
    if (i < 0 || i + 1 >= values.length) continue;
    if (!(slopes[i] > 0 && slopes[i + 1] < 0)) continue;
    const h = thetas[i + 1] - thetas[i];
    const y0 = values[i], y1 = values[i + 1], d0 = slopes[i] * h, d1 = slopes[i + 1] * h;
    // Hermite cubic on s in [0, 1]: p(s) = a s^3 + b s^2 + d0 s + y0.
    const a = 2 * (y0 - y1) + d0 + d1;
    const b = 3 * (y1 - y0) - 2 * d0 - d1;
    // p'(s) = 3a s^2 + 2b s + d0 = 0, the root where p' goes from + to -.
    let s: number;
    if (Math.abs(a) < 1e-14 * (Math.abs(b) + Math.abs(d0))) s = -d0 / (2 * b);
    else {
      const disc = Math.max(0, b * b - 3 * a * d0);
      const q = -(b + Math.sign(b || 1) * Math.sqrt(disc));
      const r1 = q / (3 * a), r2 = d0 / q;
      const ok = (r: number) => r >= 0 && r <= 1 && 6 * a * r + 2 * b <= 0;
      s = ok(r1) ? r1 : r2;
    }
    if (!(s >= 0 && s <= 1)) continue;
    const v = ((a * s + b) * s + d0) * s + y0;
    if (v > value) {
      value = v;
      theta = thetas[i] + s * h;
    }
  }
  return { theta, value };
}

/**
 * Places a family set's fixed-background LRT among those of random sets of the same size from
 * the same families (see the module documentation). `lik` is the background model's likelihood
 * (without effects) and `backgroundValues` its fit; `set` lists the set's families by index in
 * the PAM's family order.
 *
 * @example
 * ```ts
 * import { randomSetCalibration } from "./random_sets.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.3, 0.2, 0.5, 0.1, 0]);
 * const rows = Uint8Array.of(1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0);
 * using lik = new ModelLikelihood(tree, compressPatterns(rows, 6, 3, ["a", "b", "c", "d", "e", "f"]),
 *   tsBackendFactory, parseModel("null"));
 * const r = randomSetCalibration(lik, Float64Array.of(0.5, 1), Int32Array.of(3, 4), { draws: 19 });
 * console.assert(r.p > 0 && r.p <= 1 && r.draws === 19);
 * ```
 */
export function randomSetCalibration(
  lik: ModelLikelihood,
  backgroundValues: Float64Array,
  set: Int32Array,
  options: RandomSetOptions = {},
): RandomSetCalibration {
  const draws = options.draws ?? 999;
  const alternative = options.alternative ?? "two-sided";
  if (!(Number.isInteger(draws) && draws >= 1)) {
    throw new GenecontentError(`Number of random sets must be a whole number >= 1; got ${draws}.`);
  }
  const { familyPattern, nPatterns } = lik.patterns;
  const nFamilies = familyPattern.length;
  const k = set.length;
  if (k === 0) throw new GenecontentError("The family set is empty.");
  if (k >= nFamilies) {
    throw new GenecontentError(
      `The family set has ${k} of the ${nFamilies} families; random sets need families outside.`,
    );
  }
  const thetas = thetaGrid();
  const T = thetas.length;
  const zero = thetas.indexOf(0);
  const all = Uint32Array.from({ length: nPatterns }, (_, i) => i);
  const curves = lik.familyCurves(all, options.channel ?? "loss", thetas, backgroundValues, true);
  const values = new Float64Array(T), slopes = new Float64Array(T);
  const statistic = (members: ArrayLike<number>): { lrt: number; theta: number } => {
    values.fill(0);
    slopes.fill(0);
    for (let j = 0; j < members.length; j++) {
      const p = familyPattern[members[j]];
      for (let t = 0; t < T; t++) {
        values[t] += curves.logLik[t * nPatterns + p];
        slopes[t] += curves.dTheta![t * nPatterns + p];
      }
    }
    const base = values[zero];
    const m = maximizeOnGrid(thetas, values, slopes);
    const wrongSide = (alternative === "less" && m.theta > 0) ||
      (alternative === "greater" && m.theta < 0);
    return { lrt: wrongSide ? 0 : Math.max(0, 2 * (m.value - base)), theta: m.theta };
  };
  const observed = statistic(set);
  const rng = new Random(options.seed ?? 1);
  const order = Int32Array.from({ length: nFamilies }, (_, i) => i);
  const stats = new Float64Array(draws);
  let exceed = 0;
  // The set's own value is compared with ties counted as exceeding (conservative).
  const tie = 1e-9 * Math.max(1, observed.lrt);
  for (let d = 0; d < draws; d++) {
    // A partial Fisher-Yates shuffle: the first k entries are a uniform random k-subset.
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(nFamilies - i);
      const x = order[i];
      order[i] = order[j];
      order[j] = x;
    }
    stats[d] = statistic(order.subarray(0, k)).lrt;
    if (stats[d] >= observed.lrt - tie) exceed++;
  }
  const sorted = Float64Array.from(stats).sort();
  const q = (p: number) => sorted[Math.min(draws - 1, Math.floor(p * draws))];
  // chi2(1)'s 95% point, and chi-bar-square's (50:50 chi2(0), chi2(1)) 95% point: chi2(1)'s 90%.
  const critical = alternative === "two-sided" ? 3.841458820694124 : 2.705543454095404;
  return {
    lrt: observed.lrt,
    theta: observed.theta,
    draws,
    exceed,
    p: (1 + exceed) / (1 + draws),
    quantiles: { q50: q(0.5), q95: q(0.95), q99: q(0.99) },
    asymptoticRejection: stats.filter((s) => s > critical).length / draws,
  };
}
