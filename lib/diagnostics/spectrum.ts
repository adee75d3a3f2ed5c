/**
 * The gene-frequency spectrum of a PAM (how many families are present in k genomes) against the
 * spectrum a fitted model expects, and a goodness-of-fit test on it.
 *
 * **Observed spectrum.** A family's k is its number of present cells among its *observed*
 * genomes (cells not missing). Families with different missingness masks are combined by this
 * absolute count: bin k holds every family present in exactly k genomes, whatever its number of
 * observed genomes. The expected spectrum is built the same way, mask by mask, so the two are
 * comparable bin by bin.
 *
 * **Expected spectrum.** For each missingness mask m (with N_m families) and each count k
 * inside the ascertainment window [K, M], the model's probability of exactly k recorded
 * presences among m's observed genomes is computed exactly by count pruning: every node carries,
 * for each of its states, the probabilities of every count of its subtree's observed tips, and
 * children combine by convolution, so one pass per mask gives every k, at a cost of order
 * nTips^2 per mask and component (the pass runs on the linear scale with per-node scaling where
 * that resolves the window's counts, in log space elsewhere). It runs on the tree the likelihood
 * uses (with tip error or completeness, the tree with a pendant branch under every tip), for
 * every rate component (gamma category, mixture class), with the invariant class (independent
 * tips) by the same convolution; components are mixed by their weights and the result is
 * conditioned on the window (divided by the sum over the window's counts of the same mixed
 * probabilities):
 *
 *     E[k] = sum_m N_m * sum_c w_c P_c(k | m) / sum_{j in [K, M]} sum_c w_c P_c(j | m)
 *
 * so the expected counts sum to the number of families exactly (to rounding). Every term is a
 * sum of products of probabilities (transition probabilities too are formed without
 * subtraction), so each E[k] has full relative accuracy, even where the window holds a tiny
 * share of the probability; mixing is done on the log scale.
 *
 * **Goodness of fit.** Counts are pooled into adjacent classes of k, from the lowest k upwards,
 * each closed once its expected count reaches {@linkcode MIN_EXPECTED} (5); a last class short of
 * it is merged into the one before. The statistic is Pearson's X^2 = sum (O - E)^2 / E over the
 * pooled classes. Pearson's rather than the likelihood-ratio G: with classes pooled only to
 * E >= 5, X^2 follows its chi-square reference more closely than G, which is too liberal when
 * some expected counts are small (Larntz 1978; Koehler & Larntz 1980). The asymptotic p is
 * P(chi2_df > X^2) with df = classes - 1 - fitted parameters; it is approximate, because the
 * parameters were fitted to the families, not to the pooled counts (the reference then lies
 * between chi2 with classes - 1 - p and with classes - 1 degrees of freedom; Chernoff &
 * Lehmann 1954; `pConservative` is the p of the latter), and because the classes are chosen
 * from the expected counts. The parametric bootstrap p ({@linkcode spectrumFit} with
 * `bootstrap`) has neither problem: each replicate is
 * simulated under the fitted model on the same tree, with every family's own missing cells and
 * conditioned on the same window (by rejection, family by family), refitted, and its statistic
 * computed exactly as for the data (expected spectrum at the refitted values, pooling from it);
 * p = (1 + #{replicate X^2 >= X^2}) / (1 + replicates). Measured by `scripts/calibrate_gof.ts`
 * (`validation/gof_calibration.json`: 400 data sets of 300 families on 8 genomes under the null
 * model, fitted, 39 replicates each): the bootstrap p is uniform (49.5% at or below 0.5, 3.5% at
 * or below 0.05, Kolmogorov-Smirnov distance 0.040 against a 1% critical value of 0.094), while
 * the asymptotic p with fitted parameters is liberal (57% at or below 0.5, KS 0.105 against
 * 0.081); with values known rather than fitted, the asymptotic p is uniform.
 *
 * @module
 */

import { simulateLikeData } from "../simulate/like_data.ts";
import { GenecontentError } from "../errors.ts";
import { chiSquareSurvival } from "../fit/chi_square.ts";
import { fitModelLikelihood } from "../fit/fit_model.ts";
import type { BackendFactory } from "../likelihood/choose_backend.ts";
import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
import {
  expandModel,
  type KernelAssignments,
  kernelAssignments,
  type ModelComponents,
  type TipErrorSetup,
  tipErrorSetup,
} from "../model/components.ts";
import type { Ascertainment } from "../model/description.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { type PrevalenceClass, prevalenceClass } from "./prevalence_classes.ts";
import { Random } from "../simulate/random.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/** The smallest expected count of a pooled class. */
export const MIN_EXPECTED = 5;

/** The families of a PAM grouped by missingness mask. */
export interface MaskGroups {
  /** Distinct observed-tip masks (1 observed, 0 missing), `nTips` entries each. */
  readonly masks: readonly Uint8Array[];
  /** Number of observed genomes of each mask. */
  readonly observed: Int32Array;
  /** Mask index of each pattern. */
  readonly maskOf: Int32Array;
  /** Number of families (pattern weights summed) with each mask. */
  readonly weight: Float64Array;
}

/**
 * Groups the patterns of a PAM by their missingness mask.
 *
 * @example
 * ```ts
 * import { maskGroups } from "./spectrum.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * const p = compressPatterns(Uint8Array.of(1, 0, 2, 1, 1, 0, 0, 1, 2), 3, 3, ["a", "b", "c"]);
 * const g = maskGroups(p);
 * console.assert(g.masks.length === 2 && g.weight[0] === 2 && g.observed[1] === 3);
 * ```
 */
export function maskGroups(patterns: SitePatterns): MaskGroups {
  const { nTips, nPatterns, states, weights } = patterns;
  const ids = new Map<string, number>();
  const masks: Uint8Array[] = [];
  const observed: number[] = [];
  const weight: number[] = [];
  const maskOf = new Int32Array(nPatterns);
  for (let p = 0; p < nPatterns; p++) {
    const mask = new Uint8Array(nTips);
    let n = 0;
    for (let i = 0; i < nTips; i++) {
      if (states[p * nTips + i] !== MISSING) {
        mask[i] = 1;
        n++;
      }
    }
    const key = mask.join("");
    let id = ids.get(key);
    if (id === undefined) {
      id = masks.length;
      ids.set(key, id);
      masks.push(mask);
      observed.push(n);
      weight.push(0);
    }
    maskOf[p] = id;
    weight[id] += weights[p];
  }
  return {
    masks,
    observed: Int32Array.from(observed),
    maskOf,
    weight: Float64Array.from(weight),
  };
}

/**
 * The observed gene-frequency spectrum: `spectrum[k]` is the number of families present in
 * exactly k of their observed genomes, for k = 0 .. nTips.
 *
 * @example
 * ```ts
 * import { observedSpectrum } from "./spectrum.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * const p = compressPatterns(Uint8Array.of(1, 0, 2, 1, 1, 0, 1, 0, 0), 3, 3, ["a", "b", "c"]);
 * console.assert(observedSpectrum(p).join(",") === "0,2,1,0");
 * ```
 */
export function observedSpectrum(patterns: SitePatterns): Float64Array {
  const { nTips, nPatterns, states, weights } = patterns;
  const out = new Float64Array(nTips + 1);
  for (let p = 0; p < nPatterns; p++) {
    let k = 0;
    for (let i = 0; i < nTips; i++) if (states[p * nTips + i] === PRESENT) k++;
    out[k] += weights[p];
  }
  return out;
}

/** Options of the functions that evaluate a model on a likelihood's data. */
export interface DiagnosticOptions {
  /**
   * Per-genome completeness in the tree's tip order, as given to the `ModelLikelihood`. When
   * omitted, the likelihood's own `completeness` property is used where it has one, else none.
   */
  readonly completeness?: Float64Array | null;
}

/** What the count pruning of a likelihood at given values runs on. */
export interface KernelSetup {
  /** The model's components at the values. */
  readonly components: ModelComponents;
  /** The pendant-branch layout (tip error or completeness), or null. */
  readonly setup: TipErrorSetup | null;
  /** The rate assignments (no gradient). */
  readonly assign: KernelAssignments;
  /** The tree the pruning runs on. */
  readonly tree: FlatTree;
  /** Completeness used (null: every genome complete). */
  readonly completeness: Float64Array | null;
}

/** The completeness of a likelihood: the option, else its own property, else none. */
export function likelihoodCompleteness(
  lik: ModelLikelihood,
  options: DiagnosticOptions = {},
): Float64Array | null {
  if (options.completeness !== undefined) return options.completeness;
  const own = (lik as unknown as { completeness?: Float64Array | null }).completeness;
  return own ?? null;
}

/**
 * The components, pendant layout and rate assignments of `lik`'s model at `values`, as the
 * likelihood itself builds them.
 */
export function kernelSetup(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  options: DiagnosticOptions = {},
): KernelSetup {
  const completeness = likelihoodCompleteness(lik, options);
  const components = expandModel(lik.model, values);
  const setup = tipErrorSetup(lik.tree, lik.model, completeness);
  const assign = kernelAssignments(components, setup, false);
  return { components, setup, assign, tree: setup?.tree ?? lik.tree, completeness };
}

function logSumExp(xs: ArrayLike<number>): number {
  let top = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > top) top = xs[i];
  if (top === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - top);
  return top + Math.log(s);
}

/** The counts k of a window on `nTips` genomes: K .. min(M, nTips). */
function windowCounts(window: Ascertainment, nTips: number): [number, number] {
  const hi = window.maxPresent === null ? nTips : Math.min(window.maxPresent, nTips);
  return [window.minPresent, hi];
}

/**
 * P00, P01, P10, P11 of a branch of length `t`, each a sum of nonnegative terms (no `1 - x`):
 * P00 = pi0 + pi1 e^{-st}, P01 = -pi1 expm1(-st), P10 = -pi0 expm1(-st), P11 = pi1 + pi0 e^{-st},
 * written to `out[o .. o + 3]`.
 *
 * @example
 * ```ts
 * import { positiveTransition } from "./spectrum.ts";
 * const p = new Float64Array(4);
 * positiveTransition(1, 3, 0.5, p, 0);
 * console.assert(Math.abs(p[0] + p[1] - 1) < 1e-15 && Math.abs(p[2] + p[3] - 1) < 1e-15);
 * ```
 */
export function positiveTransition(
  gain: number,
  loss: number,
  t: number,
  out: Float64Array,
  o: number,
): void {
  const s = gain + loss;
  const pi1 = gain / s, pi0 = loss / s;
  const x = Math.exp(-s * t);
  const y = -Math.expm1(-s * t);
  out[o] = pi0 + pi1 * x;
  out[o + 1] = pi1 * y;
  out[o + 2] = pi0 * y;
  out[o + 3] = pi1 + pi0 * x;
}

/** Log-space convolution of two count distributions (each term a product: no cancellation). */
function logConvolve(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length - 1).fill(-Infinity);
  for (let z = 0; z < out.length; z++) {
    const x0 = Math.max(0, z - b.length + 1), x1 = Math.min(z, a.length - 1);
    let top = -Infinity;
    for (let x = x0; x <= x1; x++) {
      const t = a[x] + b[z - x];
      if (t > top) top = t;
    }
    if (top === -Infinity) continue;
    let sum = 0;
    for (let x = x0; x <= x1; x++) sum += Math.exp(a[x] + b[z - x] - top);
    out[z] = top + Math.log(sum);
  }
  return out;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** Log transition tables of one rate set: `lp[4v .. 4v + 3]` and the log root prior. */
interface LogTables {
  readonly lp: Float64Array;
  readonly logPi0: number;
  readonly logPi1: number;
}

function logTables(kernel: KernelSetup, c: number): LogTables {
  const { assign, tree } = kernel;
  const nNodes = tree.nNodes;
  const global = assign.options.layout !== "perBranch";
  const r = global ? 2 : 2 * nNodes;
  const p = new Float64Array(4);
  const lp = new Float64Array(4 * nNodes);
  const at = (v: number) => c * r + (global ? 0 : 2 * v);
  for (let v = 0; v < nNodes - 1; v++) {
    positiveTransition(assign.rates[at(v)], assign.rates[at(v) + 1], tree.branchLength[v], p, 0);
    for (let e = 0; e < 4; e++) lp[4 * v + e] = Math.log(p[e]);
  }
  const g = assign.rates[at(nNodes - 1)], l = assign.rates[at(nNodes - 1) + 1];
  return { lp, logPi0: Math.log(l / (g + l)), logPi1: Math.log(g / (g + l)) };
}

/**
 * log P(exactly k recorded presences among the observed tips of `mask`), k = 0 .. #observed,
 * by count pruning in log space: every node carries, for each of its states, the log
 * probabilities of every count of its subtree's observed tips; children combine by
 * convolution. All terms are products of probabilities, so every entry has full relative
 * accuracy however small.
 */
function logCountDistribution(tree: FlatTree, t: LogTables, mask: Uint8Array): Float64Array {
  const { nTips, nNodes, childStart, children } = tree;
  const u0: Float64Array[] = new Array(nNodes);
  const u1: Float64Array[] = new Array(nNodes);
  const one = Float64Array.of(0);
  for (let v = 0; v < nNodes; v++) {
    if (v < nTips) {
      if (mask[v]) {
        u0[v] = Float64Array.of(0, -Infinity);
        u1[v] = Float64Array.of(-Infinity, 0);
      } else {
        u0[v] = one;
        u1[v] = one;
      }
      continue;
    }
    let a0: Float64Array = one, a1: Float64Array = one;
    for (let i = childStart[v]; i < childStart[v + 1]; i++) {
      const ch = children[i];
      const c0 = u0[ch], c1 = u1[ch];
      const lp = t.lp, o = 4 * ch;
      const m0 = new Float64Array(c0.length), m1 = new Float64Array(c0.length);
      for (let j = 0; j < c0.length; j++) {
        m0[j] = logAddExp(lp[o] + c0[j], lp[o + 1] + c1[j]);
        m1[j] = logAddExp(lp[o + 2] + c0[j], lp[o + 3] + c1[j]);
      }
      a0 = a0.length === 1 && a0[0] === 0 ? m0 : logConvolve(a0, m0);
      a1 = a1.length === 1 && a1[0] === 0 ? m1 : logConvolve(a1, m1);
      // The child's vectors are no longer needed.
      u0[ch] = u1[ch] = one;
    }
    u0[v] = a0;
    u1[v] = a1;
  }
  const root = nNodes - 1;
  return u0[root].map((x, j) => logAddExp(t.logPi0 + x, t.logPi1 + u1[root][j]));
}

/** Transition tables of one rate set on the linear scale. */
interface LinearTables {
  readonly p: Float64Array;
  readonly pi0: number;
  readonly pi1: number;
}

function linearTables(t: LogTables): LinearTables {
  return { p: t.lp.map(Math.exp), pi0: Math.exp(t.logPi0), pi1: Math.exp(t.logPi1) };
}

const TWO_M256 = 2 ** -256;
const TWO_256 = 2 ** 256;

/**
 * The count distribution of {@linkcode logCountDistribution} on the linear scale, each node's
 * two vectors rescaled together by powers of 2^256 when their largest entry falls below 2^-256:
 * the fast path. An entry far below its vector's largest (by more than the range of a double)
 * is lost; each such loss is below 1e-300 of the root's largest entry, so the result is exact
 * to rounding wherever the counts that matter hold more than 1e-200 of the largest (checked by
 * the caller, which falls back to the log-space pass otherwise).
 */
function linearCountDistribution(tree: FlatTree, t: LinearTables, mask: Uint8Array): Float64Array {
  const { nTips, nNodes, childStart, children } = tree;
  const u0: Float64Array[] = new Array(nNodes);
  const u1: Float64Array[] = new Array(nNodes);
  const scale = new Float64Array(nNodes);
  const one = Float64Array.of(1);
  const zeroOne = Float64Array.of(1, 0);
  const oneZero = Float64Array.of(0, 1);
  for (let v = 0; v < nNodes; v++) {
    if (v < nTips) {
      u0[v] = mask[v] ? zeroOne : one;
      u1[v] = mask[v] ? oneZero : one;
      continue;
    }
    let a0: Float64Array = one, a1: Float64Array = one;
    let sc = 0;
    for (let i = childStart[v]; i < childStart[v + 1]; i++) {
      const ch = children[i];
      const c0 = u0[ch], c1 = u1[ch];
      const p = t.p, o = 4 * ch;
      const n = c0.length;
      const m0 = new Float64Array(n), m1 = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        m0[j] = p[o] * c0[j] + p[o + 1] * c1[j];
        m1[j] = p[o + 2] * c0[j] + p[o + 3] * c1[j];
      }
      if (a0 === one) {
        a0 = m0;
        a1 = m1;
      } else {
        const n0 = new Float64Array(a0.length + n - 1), n1 = new Float64Array(a0.length + n - 1);
        for (let x = 0; x < a0.length; x++) {
          const x0 = a0[x], x1 = a1[x];
          for (let y = 0; y < n; y++) {
            n0[x + y] += x0 * m0[y];
            n1[x + y] += x1 * m1[y];
          }
        }
        a0 = n0;
        a1 = n1;
      }
      sc += scale[ch];
      u0[ch] = u1[ch] = one;
    }
    let top = 0;
    for (let j = 0; j < a0.length; j++) top = Math.max(top, a0[j], a1[j]);
    while (top > 0 && top < TWO_M256) {
      for (let j = 0; j < a0.length; j++) {
        a0[j] *= TWO_256;
        a1[j] *= TWO_256;
      }
      top *= TWO_256;
      sc -= 256 * Math.LN2;
    }
    u0[v] = a0;
    u1[v] = a1;
    scale[v] = sc;
  }
  const root = nNodes - 1;
  return u0[root].map((x, j) => {
    const y = t.pi0 * x + t.pi1 * u1[root][j];
    return y > 0 ? Math.log(y) + scale[root] : -Infinity;
  });
}

/** Whether counts lo .. hi hold more than 1e-200 of the largest entry of `d` (log scale). */
function windowResolved(d: Float64Array, lo: number, hi: number): boolean {
  let top = -Infinity, inside = -Infinity;
  for (let k = 0; k < d.length; k++) {
    top = Math.max(top, d[k]);
    if (k >= lo && k <= hi) inside = Math.max(inside, d[k]);
  }
  return inside > top - 200 * Math.LN10;
}

/**
 * log P(exactly k recorded presences) for independent tips, tip i recorded present with
 * probability `a[i]` (the invariant class: present everywhere, recorded absent with the tip's
 * false-absence probability).
 */
function logIndependentCounts(a: Float64Array, mask: Uint8Array): Float64Array {
  let d: Float64Array = Float64Array.of(0);
  for (let i = 0; i < a.length; i++) {
    if (!mask[i]) continue;
    d = logConvolve(d, Float64Array.of(Math.log1p(-a[i]), Math.log(a[i])));
  }
  return d;
}

/**
 * Per mask and count: log of the mixed (unconditioned) probability of exactly k recorded
 * presences among the mask's observed genomes, `out[m][k]` (-Infinity outside the window or
 * beyond the mask's observed genomes). With `onMask`, called after each mask.
 */
export function logCountProbabilities(
  kernel: KernelSetup,
  groups: MaskGroups,
  window: Ascertainment,
  onMask?: (done: number, total: number) => void,
): Float64Array[] {
  const { components, assign, tree } = kernel;
  const nTips = tree.nTips;
  const nMasks = groups.masks.length;
  const C = components.rates.length;
  const inv = components.invariant;
  const [lo, hi] = windowCounts(window, nTips);
  const tables = components.rates.map((_, c) => logTables(kernel, c));
  const linear = tables.map(linearTables);
  const em = assign.falseAbsence;
  const present = Float64Array.from({ length: nTips }, (_, i) => 1 - (em ? em[i] : 0));
  const terms = new Float64Array(C + (inv ? 1 : 0));
  return groups.masks.map((mask, m) => {
    const dists = tables.map((t, c) => {
      const d = linearCountDistribution(tree, linear[c], mask);
      return windowResolved(d, lo, hi) ? d : logCountDistribution(tree, t, mask);
    });
    if (inv) dists.push(logIndependentCounts(present, mask));
    const out = new Float64Array(nTips + 1).fill(-Infinity);
    const n = groups.observed[m];
    for (let k = lo; k <= Math.min(hi, n); k++) {
      for (let c = 0; c < C; c++) terms[c] = components.rates[c].logWeight + dists[c][k];
      if (inv) terms[C] = inv.logWeight + dists[C][k];
      out[k] = logSumExp(terms);
    }
    onMask?.(m + 1, nMasks);
    return out;
  });
}

/**
 * The gene-frequency spectrum expected under `lik`'s model at `values`: `spectrum[k]` for
 * k = 0 .. nTips is the expected number of families present in exactly k of their observed
 * genomes, conditioned on the likelihood's window, summed over the families' missingness masks
 * (see the module documentation). It sums to the number of families and is 0 outside the
 * window.
 *
 * @example
 * ```ts
 * import { expectedSpectrum } from "./spectrum.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 0, 1, 1, 1, 1), 2, 3, ["f1", "f2"]);
 * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("gamma4"));
 * const e = expectedSpectrum(lik, Float64Array.of(0.5, 1, 0.5));
 * console.assert(e[0] === 0 && Math.abs(e.reduce((a, b) => a + b) - 2) < 1e-12);
 * ```
 */
export function expectedSpectrum(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  options: DiagnosticOptions = {},
): Float64Array {
  const kernel = kernelSetup(lik, values, options);
  const groups = maskGroups(lik.patterns);
  return expectedFromGroups(kernel, groups, lik.window);
}

function expectedFromGroups(
  kernel: KernelSetup,
  groups: MaskGroups,
  window: Ascertainment,
): Float64Array {
  const nTips = kernel.tree.nTips;
  const logP = logCountProbabilities(kernel, groups, window);
  const out = new Float64Array(nTips + 1);
  for (let m = 0; m < groups.masks.length; m++) {
    const norm = logSumExp(logP[m]);
    if (!(norm > -Infinity)) {
      throw new GenecontentError(
        `The model gives probability 0 to every present count in the window for the ` +
          `${groups.weight[m]} famil${groups.weight[m] === 1 ? "y" : "ies"} observed in ` +
          `${groups.observed[m]} genomes; their expected spectrum is undefined.`,
      );
    }
    for (let k = 0; k <= nTips; k++) {
      if (logP[m][k] > -Infinity) out[k] += groups.weight[m] * Math.exp(logP[m][k] - norm);
    }
  }
  return out;
}

/** Observed and expected numbers of families per prevalence class. */
export interface PrevalenceComparison {
  /** Families per class in the data. */
  readonly observed: Record<PrevalenceClass, number>;
  /** Families per class expected under the model (summing to the same total). */
  readonly expected: Record<PrevalenceClass, number>;
  /** Families observed in no genome (every cell missing), left out of both. */
  readonly unobserved: number;
}

/**
 * Roary's prevalence classes (`prevalence_classes.ts`: core, soft core, shell, cloud, by the
 * share of a family's observed genomes it is present in) counted in the data and expected under
 * `lik`'s model at `values`: for each missingness mask, the exact count probabilities of
 * {@linkcode expectedSpectrum} summed over the counts of each class for that mask's number of
 * observed genomes.
 *
 * @example
 * ```ts
 * import { prevalenceComparison } from "./spectrum.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 0, 0, 1, 1, 1), 2, 3, ["f1", "f2"]);
 * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("null"));
 * const c = prevalenceComparison(lik, [0.5, 1]);
 * console.assert(c.observed.core === 1 && c.observed.shell === 1);
 * const total = c.expected.core + c.expected.softCore + c.expected.shell + c.expected.cloud;
 * console.assert(Math.abs(total - 2) < 1e-12);
 * ```
 */
export function prevalenceComparison(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  options: DiagnosticOptions = {},
): PrevalenceComparison {
  const kernel = kernelSetup(lik, values, options);
  const groups = maskGroups(lik.patterns);
  const logP = logCountProbabilities(kernel, groups, lik.window);
  const zero = (): Record<PrevalenceClass, number> => ({
    core: 0,
    softCore: 0,
    shell: 0,
    cloud: 0,
  });
  const observed = zero();
  const expected = zero();
  let unobserved = 0;
  const { nTips, nPatterns, states, weights } = lik.patterns;
  for (let p = 0; p < nPatterns; p++) {
    let k = 0, n = 0;
    for (let i = 0; i < nTips; i++) {
      const s = states[p * nTips + i];
      if (s === PRESENT) k++;
      if (s !== MISSING) n++;
    }
    if (n === 0) unobserved += weights[p];
    else observed[prevalenceClass(k, n)] += weights[p];
  }
  for (let m = 0; m < groups.masks.length; m++) {
    const n = groups.observed[m];
    if (n === 0) continue;
    const norm = logSumExp(logP[m]);
    for (let k = 0; k <= n; k++) {
      if (logP[m][k] > -Infinity) {
        expected[prevalenceClass(k, n)] += groups.weight[m] * Math.exp(logP[m][k] - norm);
      }
    }
  }
  return { observed, expected, unobserved };
}

/** One pooled class of the spectrum. */
export interface SpectrumClass {
  /** Lowest k of the class. */
  readonly from: number;
  /** Highest k of the class (inclusive). */
  readonly to: number;
  /** Observed families. */
  readonly observed: number;
  /** Expected families. */
  readonly expected: number;
  /** (observed - expected)^2 / expected. */
  readonly contribution: number;
}

/** Pearson's statistic on pooled classes. */
export interface PooledStatistic {
  /** The classes. */
  readonly classes: readonly SpectrumClass[];
  /** Pearson's X^2 over them. */
  readonly statistic: number;
}

/**
 * Pools spectrum bins `lo .. hi` into adjacent classes with expected counts of at least
 * `minExpected` (from the lowest k upwards; a short last class joins the one before) and
 * computes Pearson's X^2 on them.
 *
 * @example
 * ```ts
 * import { pooledPearson } from "./spectrum.ts";
 * const r = pooledPearson([0, 12, 3, 2, 1, 10], [0, 10, 2, 2, 2, 12], 1, 5);
 * console.assert(r.classes.length === 3 && r.classes[1].from === 2 && r.classes[1].to === 4);
 * console.assert(Math.abs(r.statistic - (0.4 + 0 + 4 / 12)) < 1e-12);
 * ```
 */
export function pooledPearson(
  observed: ArrayLike<number>,
  expected: ArrayLike<number>,
  lo: number,
  hi: number,
  minExpected = MIN_EXPECTED,
): PooledStatistic {
  const raw: { from: number; to: number; o: number; e: number }[] = [];
  let cur: { from: number; to: number; o: number; e: number } | null = null;
  for (let k = lo; k <= hi; k++) {
    if (!cur) cur = { from: k, to: k, o: 0, e: 0 };
    cur.to = k;
    cur.o += observed[k];
    cur.e += expected[k];
    if (cur.e >= minExpected) {
      raw.push(cur);
      cur = null;
    }
  }
  if (cur) {
    if (raw.length > 0) {
      const last = raw[raw.length - 1];
      last.to = cur.to;
      last.o += cur.o;
      last.e += cur.e;
    } else raw.push(cur);
  }
  let statistic = 0;
  // One class holds every family: observed equals expected by construction (any difference is
  // rounding), so the statistic is exactly 0.
  const single = raw.length === 1;
  const classes = raw.map((c) => {
    const contribution = single ? 0 : c.e > 0 ? (c.o - c.e) ** 2 / c.e : c.o > 0 ? Infinity : 0;
    statistic += contribution;
    return { from: c.from, to: c.to, observed: c.o, expected: c.e, contribution };
  });
  return { classes, statistic };
}

/** Options of the parametric bootstrap of {@linkcode spectrumFit}. */
export interface SpectrumBootstrapOptions {
  /** Number of replicates (a whole number >= 1). */
  readonly replicates: number;
  /** Seed of the simulations (the same seed gives the same replicates). */
  readonly seed: number;
  /** The backend factory for the replicates' likelihoods. */
  readonly factory: BackendFactory;
  /** Called after each replicate with the number done. */
  readonly onReplicate?: (done: number, total: number) => void;
}

/** Options of {@linkcode spectrumFit}. */
export interface SpectrumFitOptions extends DiagnosticOptions {
  /**
   * Number of parameters fitted to these data (default: every free parameter of the model);
   * 0 when the values were not estimated from them.
   */
  readonly nFitted?: number;
  /** Smallest expected count of a pooled class (default {@linkcode MIN_EXPECTED}). */
  readonly minExpected?: number;
  /** Also compute the parametric-bootstrap p (the values must be the fitted ones). */
  readonly bootstrap?: SpectrumBootstrapOptions;
}

/** The parametric bootstrap of a spectrum fit. */
export interface SpectrumBootstrap {
  /** Replicates asked for. */
  readonly replicates: number;
  /** The seed. */
  readonly seed: number;
  /** X^2 of each replicate that could be refitted. */
  readonly statistics: readonly number[];
  /**
   * Replicates whose refit was refused (e.g. `+inv` when no simulated family is present in
   * every observed genome), with the reason; they are left out of the p-value.
   */
  readonly failed: readonly string[];
}

/** The observed and expected spectrum and the goodness-of-fit test on it. */
export interface SpectrumFit {
  /** Present counts k of the window, K .. min(M, nTips). */
  readonly k: readonly number[];
  /** Observed families per k. */
  readonly observed: readonly number[];
  /** Expected families per k. */
  readonly expected: readonly number[];
  /** Pooled classes (expected >= minExpected). */
  readonly classes: readonly SpectrumClass[];
  /** The statistic's name. */
  readonly statisticName: "pearson";
  /** Pearson's X^2 over the pooled classes. */
  readonly statistic: number;
  /** Parameters fitted (subtracted from the degrees of freedom). */
  readonly nFitted: number;
  /** classes - 1 - nFitted. */
  readonly df: number;
  /** Asymptotic p, P(chi2_df > X^2); null when df < 1. Approximate (module documentation). */
  readonly p: number | null;
  /**
   * P(chi2_{classes - 1} > X^2): the conservative end of the asymptotic reference when
   * parameters were fitted to the families (Chernoff & Lehmann 1954: the statistic lies between
   * chi2 with classes - 1 - nFitted and with classes - 1 degrees of freedom); null with one class.
   */
  readonly pConservative: number | null;
  /** Always true: the asymptotic p is an approximation. */
  readonly pApproximate: true;
  /** (1 + #{replicate X^2 >= X^2}) / (1 + refitted replicates), or null without bootstrap. */
  readonly bootstrapP: number | null;
  /** The bootstrap, or null. */
  readonly bootstrap: SpectrumBootstrap | null;
}

/**
 * The observed spectrum, the spectrum expected under `lik`'s model at `values` (normally the
 * maximum-likelihood estimates), Pearson's X^2 on classes pooled to expected >= 5 with its
 * approximate asymptotic p, and optionally a parametric-bootstrap p (see the module
 * documentation).
 *
 * @example
 * ```ts
 * import { spectrumFit } from "./spectrum.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { fitModelLikelihood } from "../fit/fit_model.ts";
 * import { parseModel } from "../model/description.ts";
 * import { simulateModel } from "../simulate/model.ts";
import {
  type PrevalenceClass,
  prevalenceClass,
} from "./prevalence_classes.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c", "d"], [4, 4, 5, 5, 6, 6, -1],
 *   [0.2, 0.3, 0.1, 0.4, 0.2, 0.1, 0]);
 * const sim = simulateModel(tree, parseModel("null"), { gain: 0.5, loss: 1 }, { nFamilies: 300, seed: 1 });
 * const names = Array.from({ length: 300 }, (_, f) => `f${f}`);
 * using lik = new ModelLikelihood(tree, compressPatterns(sim.states, 300, 4, names),
 *   tsBackendFactory, parseModel("null"));
 * const fit = fitModelLikelihood(lik, { level: null });
 * const r = spectrumFit(lik, fit.values);
 * console.assert(r.k.length === 4 && Math.abs(r.expected.reduce((a, b) => a + b) - 300) < 1e-9);
 * ```
 */
export function spectrumFit(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  options: SpectrumFitOptions = {},
): SpectrumFit {
  const nTips = lik.tree.nTips;
  const nFitted = options.nFitted ?? lik.parameters.length;
  if (!(Number.isInteger(nFitted) && nFitted >= 0 && nFitted <= lik.parameters.length)) {
    throw new GenecontentError(
      `The number of fitted parameters must be a whole number from 0 to ` +
        `${lik.parameters.length}; got ${nFitted}.`,
    );
  }
  const minExpected = options.minExpected ?? MIN_EXPECTED;
  const completeness = likelihoodCompleteness(lik, options);
  const [lo, hi] = windowCounts(lik.window, nTips);
  const observed = observedSpectrum(lik.patterns);
  const expected = expectedSpectrum(lik, values, { completeness });
  const pooled = pooledPearson(observed, expected, lo, hi, minExpected);
  const df = pooled.classes.length - 1 - nFitted;
  const p = df >= 1 ? chiSquareSurvival(pooled.statistic, df) : null;
  const dfUpper = pooled.classes.length - 1;
  const pConservative = dfUpper >= 1 ? chiSquareSurvival(pooled.statistic, dfUpper) : null;
  let bootstrap: SpectrumBootstrap | null = null;
  let bootstrapP: number | null = null;
  if (options.bootstrap) {
    bootstrap = bootstrapSpectrum(lik, values, options.bootstrap, completeness, minExpected);
    const n = bootstrap.statistics.length;
    let above = 0;
    for (const s of bootstrap.statistics) if (s >= pooled.statistic) above++;
    bootstrapP = n > 0 ? (1 + above) / (1 + n) : null;
  }
  const ks = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  return {
    k: ks,
    observed: ks.map((k) => observed[k]),
    expected: ks.map((k) => expected[k]),
    classes: pooled.classes,
    statisticName: "pearson",
    statistic: pooled.statistic,
    nFitted,
    df,
    p,
    pConservative,
    pApproximate: true,
    bootstrapP,
    bootstrap,
  };
}

function bootstrapSpectrum(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  options: SpectrumBootstrapOptions,
  completeness: Float64Array | null,
  minExpected: number,
): SpectrumBootstrap {
  const { replicates, seed } = options;
  if (!(Number.isInteger(replicates) && replicates >= 1)) {
    throw new GenecontentError(
      `The number of bootstrap replicates must be a whole number >= 1; got ${replicates}.`,
    );
  }
  if (!Number.isSafeInteger(seed)) {
    throw new GenecontentError(`The bootstrap seed must be a whole number; got ${seed}.`);
  }
  const rng = new Random(seed);
  const [lo, hi] = windowCounts(lik.window, lik.tree.nTips);
  const statistics: number[] = [];
  const failed: string[] = [];
  for (let b = 0; b < replicates; b++) {
    const patterns = simulateLikeData(lik.tree, lik.patterns, lik.model, values, {
      rng,
      window: lik.window,
      completeness,
    });
    try {
      using rep = new ModelLikelihood(
        lik.tree,
        patterns,
        options.factory,
        lik.model,
        lik.window,
        { completeness },
      );
      const fit = fitModelLikelihood(rep, { level: null, starts: [values] });
      const expected = expectedSpectrum(rep, fit.values, { completeness });
      const observed = observedSpectrum(patterns);
      statistics.push(pooledPearson(observed, expected, lo, hi, minExpected).statistic);
    } catch (e) {
      if (!(e instanceof GenecontentError)) throw e;
      failed.push(`replicate ${b + 1}: ${e.message}`);
    }
    options.onReplicate?.(b + 1, replicates);
  }
  return { replicates, seed, statistics, failed };
}
