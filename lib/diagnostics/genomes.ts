/**
 * Per-genome diagnostics: does any genome hold far more (or far fewer) genes of its own than the
 * fitted model expects?
 *
 * For genome i and J = 1, 2, 3, the statistic is the number of families present in i and in at
 * most J genomes in all (i included), counting present cells among each family's observed
 * genomes: J = 1 counts i's singletons (families found only in i). Under the model, family f
 * (missingness mask m) contributes a Bernoulli variable with probability
 *
 *     p_{m,i,J} = sum_{j = 1 .. J, j in window} P(i recorded present, j recorded present | m)
 *                 / P(window | m),
 *
 * mixed over the model's components (weights w_c in numerator and denominator, as the
 * likelihood conditions the mixture). The joint probabilities are computed exactly by count
 * pruning: an inside pass carries, at every node and for each of its states, the probabilities
 * of 0 .. J present observed tips below it (larger counts are dropped, which leaves the counts
 * up to J exact), and an outside pass carries the probabilities of the node's state jointly with
 * 0 .. J present observed tips elsewhere; at tip i, P(i present, j present in all) is the
 * outside vector of state 1 at count j - 1. Every term is a product of nonnegative
 * probabilities, each vector carries its own power-of-two scale, and transition probabilities
 * are formed without subtraction (P00 = pi0 + pi1 e^{-st}, P01 = -pi1 expm1(-st), ...). With
 * tip error or completeness the pass runs on the tree with a pendant branch under every tip, as
 * the likelihood does; the invariant class has independent tips (recorded present with
 * probability 1 - e-_i), by a leave-one-out count recursion. The window probability is the
 * likelihood's own (`ObservableWindow`, `invariantObservable`).
 *
 * Families are independent given their masks, so each count is a sum of independent Bernoulli
 * variables (Poisson-binomial): expectation sum_m N_m p, variance sum_m N_m p (1 - p), and
 * z = (observed - expected) / sd. A genome is flagged when the z of its singletons reaches
 * {@linkcode GENOME_Z_THRESHOLD} (4) in either direction: `excess` (far more unique genes:
 * contamination, mis-assembly, a distant strain or a mislabelled genome) or `deficit` (far fewer:
 * an incomplete assembly, or a near-duplicate of another genome). A normal tail beyond 4 sd has
 * probability 3e-5, so even across 1,000 genomes fewer than 0.1 are flagged by chance where the
 * normal approximation holds (expected counts of about 10 or more; for smaller expected counts
 * the Poisson-binomial's right tail is heavier than the normal's and the z-score is only a
 * ranking). A deficit can only be flagged where many unique families are expected: with none
 * observed, z = -expected / sd, about -sqrt(expected), so it takes an expectation of about 16.
 *
 * {@linkcode refitWithout} shows what the flagged genomes do to the estimates: the tree is pruned
 * to the other genomes (`pruneTree`), their cells are dropped, families then outside the window
 * are left out (as the PAM would have been filtered), and the model is refitted.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { fitModelLikelihood, type ModelFit } from "../fit/fit_model.ts";
import type { BackendFactory } from "../likelihood/choose_backend.ts";
import { invariantObservable, ModelLikelihood } from "../likelihood/model_likelihood.ts";
import { ObservableWindow } from "../likelihood/observable.ts";
import { modelParameters } from "../model/description.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import { compressPatterns } from "../pam/patterns.ts";
import { pruneTree } from "../tree/prune.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import {
  type DiagnosticOptions,
  type KernelSetup,
  kernelSetup,
  likelihoodCompleteness,
  type MaskGroups,
  maskGroups,
  positiveTransition,
} from "./spectrum.ts";

/** |z| of a genome's singletons at or beyond which it is flagged. */
export const GENOME_Z_THRESHOLD = 4;

/** The largest total present count J of the per-genome statistics (J = 1, 2, 3). */
export const MAX_SHARED = 3;

/** One statistic of one genome: observed, expected, spread, z. */
export interface GenomeStatistic {
  /** Families present in the genome and in at most J genomes in all. */
  readonly observed: number;
  /** Their expected number under the model. */
  readonly expected: number;
  /** The standard deviation of the count (Poisson-binomial). */
  readonly sd: number;
  /** (observed - expected) / sd (0 when both the difference and sd are 0). */
  readonly z: number;
}

/** The diagnostics of one genome. */
export interface GenomeDiagnostic {
  /** The genome (tree tip). */
  readonly genome: string;
  /** Families observed (not missing) in the genome. */
  readonly observedFamilies: number;
  /** Families present in the genome. */
  readonly presentFamilies: number;
  /** J = 1: families found only in this genome. */
  readonly singletons: GenomeStatistic;
  /** J = 2: present here and in at most one other genome. */
  readonly upTo2: GenomeStatistic;
  /** J = 3: present here and in at most two other genomes. */
  readonly upTo3: GenomeStatistic;
  /** `excess`, `deficit` (singletons' z beyond the threshold) or null. */
  readonly flag: "excess" | "deficit" | null;
}

/** The per-genome diagnostics of a fitted model. */
export interface GenomeDiagnostics {
  /** One entry per genome, in the tree's tip order. */
  readonly genomes: readonly GenomeDiagnostic[];
  /** The |z| threshold of the flags. */
  readonly threshold: number;
  /** Names of the flagged genomes. */
  readonly flagged: readonly string[];
}

const TINY = 2 ** -256;
const HUGE = 2 ** 256;
const LOG_HUGE = 256 * Math.LN2;

/** Rescales `v[o .. o + n)` by powers of 2^256 while its largest entry is tiny; returns the log. */
function rescale(v: Float64Array, o: number, n: number): number {
  let top = 0;
  for (let e = 0; e < n; e++) if (v[o + e] > top) top = v[o + e];
  let logScale = 0;
  while (top > 0 && top < TINY) {
    for (let e = 0; e < n; e++) v[o + e] *= HUGE;
    top *= HUGE;
    logScale -= LOG_HUGE;
  }
  return logScale;
}

/**
 * For one rate set and one mask: `out[i * (J + 1) + j]` = log P(tip i recorded present and j
 * recorded present among the observed tips in all), j = 1 .. J (-Infinity where impossible or
 * tip i is missing).
 */
function rateSetJoint(
  tree: FlatTree,
  pmat: Float64Array,
  pi0: number,
  pi1: number,
  mask: Uint8Array,
  J: number,
): Float64Array {
  const { nTips, nNodes, childStart, children } = tree;
  const W = J + 1;
  const S = 2 * W; // per node: state 0 counts, then state 1 counts
  const up = new Float64Array(nNodes * S); // inside vectors U
  const upScale = new Float64Array(nNodes);
  const msg = new Float64Array(nNodes * S); // message of node v to its parent: P_v U_v
  const conv = (a: Float64Array, ao: number, b: Float64Array, bo: number, dst: Float64Array) => {
    dst.fill(0);
    for (let x = 0; x < W; x++) {
      const ax = a[ao + x];
      if (ax === 0) continue;
      for (let y = 0; x + y < W; y++) dst[x + y] += ax * b[bo + y];
    }
  };
  const tmp = new Float64Array(W);
  const acc = new Float64Array(S);
  for (let v = 0; v < nNodes; v++) {
    const o = v * S;
    if (v < nTips) {
      if (mask[v]) {
        up[o] = 1; // state 0: recorded absent, count 0
        up[o + W + 1] = 1; // state 1: recorded present, count 1
      } else {
        up[o] = 1;
        up[o + W] = 1;
      }
    } else {
      acc.fill(0);
      acc[0] = 1;
      acc[W] = 1;
      let scale = 0;
      for (let c = childStart[v]; c < childStart[v + 1]; c++) {
        const ch = children[c];
        for (let s = 0; s < 2; s++) {
          conv(acc.subarray(s * W, s * W + W), 0, msg, ch * S + s * W, tmp);
          acc.set(tmp, s * W);
        }
        scale += upScale[ch];
      }
      up.set(acc, o);
      upScale[v] = scale + rescale(up, o, S);
    }
    if (v === nNodes - 1) break;
    const p = 4 * v;
    for (let j = 0; j < W; j++) {
      const u0 = up[o + j], u1 = up[o + W + j];
      msg[o + j] = pmat[p] * u0 + pmat[p + 1] * u1;
      msg[o + W + j] = pmat[p + 2] * u0 + pmat[p + 3] * u1;
    }
  }
  // Outside: down[v] = P(state s at v, j present among observed tips outside v's subtree).
  const down = new Float64Array(nNodes * S);
  const downScale = new Float64Array(nNodes);
  const root = nNodes - 1;
  down[root * S] = pi0;
  down[root * S + W] = pi1;
  const bot = new Float64Array(S);
  for (let v = root; v >= nTips; v--) {
    for (let c = childStart[v]; c < childStart[v + 1]; c++) {
      const ch = children[c];
      bot.set(down.subarray(v * S, v * S + S));
      let scale = downScale[v];
      for (let d = childStart[v]; d < childStart[v + 1]; d++) {
        if (d === c) continue;
        const sib = children[d];
        for (let s = 0; s < 2; s++) {
          conv(bot.subarray(s * W, s * W + W), 0, msg, sib * S + s * W, tmp);
          bot.set(tmp, s * W);
        }
        scale += upScale[sib];
      }
      const p = 4 * ch;
      const o = ch * S;
      for (let j = 0; j < W; j++) {
        const b0 = bot[j], b1 = bot[W + j];
        down[o + j] = b0 * pmat[p] + b1 * pmat[p + 2];
        down[o + W + j] = b0 * pmat[p + 1] + b1 * pmat[p + 3];
      }
      downScale[ch] = scale + rescale(down, o, S);
    }
  }
  const out = new Float64Array(nTips * W).fill(-Infinity);
  for (let i = 0; i < nTips; i++) {
    if (!mask[i]) continue;
    for (let j = 1; j <= J; j++) {
      const x = down[i * S + W + j - 1];
      if (x > 0) out[i * W + j] = Math.log(x) + downScale[i];
    }
  }
  return out;
}

/** The invariant class: tips independent, tip i recorded present with probability a_i. */
function invariantJoint(a: Float64Array, mask: Uint8Array, J: number): Float64Array {
  const n = a.length;
  const W = J + 1;
  // prefix[i]: counts among observed tips 0 .. i-1; suffix[i]: among i .. n-1.
  const prefix = new Float64Array((n + 1) * W);
  const suffix = new Float64Array((n + 1) * W);
  prefix[0] = 1;
  suffix[n * W] = 1;
  const step = (src: Float64Array, so: number, dst: Float64Array, dO: number, i: number) => {
    if (!mask[i]) {
      for (let j = 0; j < W; j++) dst[dO + j] = src[so + j];
      return;
    }
    for (let j = 0; j < W; j++) {
      dst[dO + j] = src[so + j] * (1 - a[i]) + (j > 0 ? src[so + j - 1] * a[i] : 0);
    }
  };
  for (let i = 0; i < n; i++) step(prefix, i * W, prefix, (i + 1) * W, i);
  for (let i = n - 1; i >= 0; i--) step(suffix, (i + 1) * W, suffix, i * W, i);
  const out = new Float64Array(n * W).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    if (!mask[i] || !(a[i] > 0)) continue;
    for (let j = 1; j <= J; j++) {
      let others = 0; // j - 1 present among the other tips
      for (let x = 0; x <= j - 1; x++) {
        others += prefix[i * W + x] * suffix[(i + 1) * W + j - 1 - x];
      }
      if (others > 0) out[i * W + j] = Math.log(a[i]) + Math.log(others);
    }
  }
  return out;
}

function logSumExp(xs: ArrayLike<number>): number {
  let top = -Infinity;
  for (let i = 0; i < xs.length; i++) if (xs[i] > top) top = xs[i];
  if (top === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - top);
  return top + Math.log(s);
}

/**
 * Per mask: `p[m][i * (J + 1) + j]`, the probability under the model (mixed over components and
 * conditioned on the window) that a family with mask m is present in tip i and in exactly j
 * genomes in all, j = 1 .. J (0 for j outside the window).
 */
export function tipCountProbabilities(
  kernel: KernelSetup,
  groups: MaskGroups,
  window: { minPresent: number; maxPresent: number | null },
  J: number = MAX_SHARED,
): Float64Array[] {
  const { components, assign, tree, setup } = kernel;
  const nTips = tree.nTips;
  const nNodes = tree.nNodes;
  const C = components.rates.length;
  const inv = components.invariant;
  const nComp = C + (inv ? 1 : 0);
  const W = J + 1;
  const global = assign.options.layout !== "perBranch";
  const r = global ? 2 : 2 * nNodes;
  // Transition tables per rate set.
  const tables = Array.from({ length: C }, (_, c) => {
    const pmat = new Float64Array(4 * nNodes);
    for (let v = 0; v < nNodes - 1; v++) {
      const g = assign.rates[c * r + (global ? 0 : 2 * v)];
      const l = assign.rates[c * r + (global ? 1 : 2 * v + 1)];
      positiveTransition(g, l, tree.branchLength[v], pmat, 4 * v);
    }
    const g = assign.rates[c * r + (global ? 0 : 2 * (nNodes - 1))];
    const l = assign.rates[c * r + (global ? 1 : 2 * (nNodes - 1) + 1)];
    return { pmat, pi0: l / (g + l), pi1: g / (g + l) };
  });
  const corrected = window.minPresent > 0 || window.maxPresent !== null;
  const obs = corrected ? new ObservableWindow(tree, groups.masks, window) : null;
  const logWin = obs ? obs.evaluate(assign.rates, { layout: assign.options.layout }).logProb : null;
  const em = assign.falseAbsence;
  const present = Float64Array.from({ length: nTips }, (_, i) => 1 - (em ? em[i] : 0));
  const hi = window.maxPresent ?? nTips;
  const terms = new Float64Array(nComp);
  return groups.masks.map((mask, m) => {
    const joint = tables.map((t) => rateSetJoint(tree, t.pmat, t.pi0, t.pi1, mask, J));
    if (inv) joint.push(invariantJoint(present, mask, J));
    let logNorm = 0;
    if (logWin) {
      for (let c = 0; c < C; c++) {
        terms[c] = components.rates[c].logWeight + logWin[c * groups.masks.length + m];
      }
      if (inv) {
        const io = invariantObservable(mask, em, setup?.completeness ?? null, false, window);
        terms[C] = inv.logWeight + io.logProb;
      }
      logNorm = logSumExp(terms);
    }
    const out = new Float64Array(nTips * W);
    for (let i = 0; i < nTips; i++) {
      for (let j = 1; j <= J; j++) {
        if (j < window.minPresent || j > hi) continue;
        for (let c = 0; c < nComp; c++) {
          const lw = c < C ? components.rates[c].logWeight : inv!.logWeight;
          terms[c] = lw + joint[c][i * W + j];
        }
        const l = logSumExp(terms);
        if (l > -Infinity) out[i * W + j] = Math.exp(l - logNorm);
      }
    }
    return out;
  });
}

/** Options of {@linkcode genomeDiagnostics}. */
export interface GenomeDiagnosticOptions extends DiagnosticOptions {
  /** |z| threshold of the flags (default {@linkcode GENOME_Z_THRESHOLD}). */
  readonly threshold?: number;
}

/**
 * Each genome's observed numbers of families present in it and in at most 1, 2 or 3 genomes in
 * all, against the expectation and spread under `lik`'s model at `values`, with z-scores and
 * flags (see the module documentation).
 *
 * @example
 * ```ts
 * import { genomeDiagnostics } from "./genomes.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 0, 0, 1, 1, 1, 0, 0, 1), 3, 3, ["f1", "f2", "f3"]);
 * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("null"));
 * const d = genomeDiagnostics(lik, [0.5, 1]);
 * console.assert(d.genomes[0].singletons.observed === 1 && d.genomes[2].upTo3.observed === 2);
 * ```
 */
export function genomeDiagnostics(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  options: GenomeDiagnosticOptions = {},
): GenomeDiagnostics {
  const threshold = options.threshold ?? GENOME_Z_THRESHOLD;
  if (!(threshold > 0)) {
    throw new GenecontentError(
      `The z threshold of the genome flags must be > 0; got ${threshold}.`,
    );
  }
  const J = MAX_SHARED;
  const W = J + 1;
  const kernel = kernelSetup(lik, values, options);
  const groups = maskGroups(lik.patterns);
  const probs = tipCountProbabilities(kernel, groups, lik.window, J);
  const { nTips, nPatterns, states, weights } = lik.patterns;
  // Observed: exact[i * W + k], families present in i and in exactly k genomes (k <= J).
  const exact = new Float64Array(nTips * W);
  const observedFamilies = new Float64Array(nTips);
  const presentFamilies = new Float64Array(nTips);
  for (let p = 0; p < nPatterns; p++) {
    const row = states.subarray(p * nTips, (p + 1) * nTips);
    let k = 0;
    for (let i = 0; i < nTips; i++) {
      if (row[i] === PRESENT) k++;
      if (row[i] !== MISSING) observedFamilies[i] += weights[p];
      if (row[i] === PRESENT) presentFamilies[i] += weights[p];
    }
    if (k > J) continue;
    for (let i = 0; i < nTips; i++) if (row[i] === PRESENT) exact[i * W + k] += weights[p];
  }
  const genomes: GenomeDiagnostic[] = [];
  const flagged: string[] = [];
  for (let i = 0; i < nTips; i++) {
    const stat = (upTo: number): GenomeStatistic => {
      let o = 0, e = 0, v = 0;
      for (let k = 1; k <= upTo; k++) o += exact[i * W + k];
      for (let m = 0; m < groups.masks.length; m++) {
        let p = 0;
        for (let k = 1; k <= upTo; k++) p += probs[m][i * W + k];
        p = Math.min(1, p);
        e += groups.weight[m] * p;
        v += groups.weight[m] * p * (1 - p);
      }
      const sd = Math.sqrt(v);
      const d = o - e;
      const z = sd > 0
        ? d / sd
        : Math.abs(d) <= 1e-9 * Math.max(1, e)
        ? 0
        : Math.sign(d) * Infinity;
      return { observed: o, expected: e, sd, z };
    };
    const singletons = stat(1);
    const flag = singletons.z >= threshold
      ? "excess"
      : singletons.z <= -threshold
      ? "deficit"
      : null;
    if (flag) flagged.push(lik.tree.tipNames[i]);
    genomes.push({
      genome: lik.tree.tipNames[i],
      observedFamilies: observedFamilies[i],
      presentFamilies: presentFamilies[i],
      singletons,
      upTo2: stat(2),
      upTo3: stat(3),
      flag,
    });
  }
  return { genomes, threshold, flagged };
}

/** One parameter before and after leaving genomes out. */
export interface ParameterChange {
  /** The parameter. */
  readonly name: string;
  /** With every genome (the values given). */
  readonly before: number;
  /** Refitted without the genomes left out. */
  readonly after: number;
  /** after / before - 1. */
  readonly relativeChange: number;
}

/** The effect on the estimates of leaving genomes out. */
export interface RefitComparison {
  /** The genomes left out. */
  readonly dropped: readonly string[];
  /** Genomes kept. */
  readonly nGenomes: number;
  /** Families with every genome. */
  readonly nFamiliesBefore: number;
  /** Families left inside the window without the dropped genomes. */
  readonly nFamiliesAfter: number;
  /** Each parameter before and after. */
  readonly parameters: readonly ParameterChange[];
  /** The refit. */
  readonly fit: ModelFit;
}

/** Options of {@linkcode refitWithout}. */
export interface RefitWithoutOptions extends DiagnosticOptions {
  /** The backend factory of the refit's likelihood. */
  readonly factory: BackendFactory;
  /** Called after each likelihood evaluation of the refit. */
  readonly onEvaluation?: (stage: string, evaluations: number) => void;
}

/**
 * Refits `lik`'s model without the genomes `drop`: the tree pruned to the others
 * (`pruneTree`), their cells dropped, families then outside the likelihood's window left out,
 * the same model, window and completeness (of the kept genomes); the fit starts from `values`
 * (the estimates with every genome), which are reported as `before`.
 *
 * @example
 * ```ts
 * import { refitWithout } from "./genomes.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const rows = Uint8Array.of(1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1);
 * using lik = new ModelLikelihood(tree, compressPatterns(rows, 5, 3, ["a", "b", "c", "d", "e"]),
 *   tsBackendFactory, parseModel("null"));
 * const r = refitWithout(lik, [0.5, 1], ["c"], { factory: tsBackendFactory });
 * console.assert(r.nGenomes === 2 && r.nFamiliesAfter === 4 && r.parameters.length === 2);
 * ```
 */
export function refitWithout(
  lik: ModelLikelihood,
  values: ArrayLike<number>,
  drop: readonly string[],
  options: RefitWithoutOptions,
): RefitComparison {
  const { tree, patterns, window, model } = lik;
  const names = new Set(tree.tipNames);
  for (const g of drop) {
    if (!names.has(g)) {
      throw new GenecontentError(`Genome '${g}' is not a tip of the tree; it cannot be left out.`);
    }
  }
  const dropSet = new Set(drop);
  const keep = new Set(tree.tipNames.filter((n) => !dropSet.has(n)));
  if (keep.size < 2) {
    throw new GenecontentError(
      `Leaving out ${drop.length} of ${tree.nTips} genomes keeps ${keep.size}; a refit needs at ` +
        "least 2.",
    );
  }
  const pruned = pruneTree(tree, keep);
  const index = new Map(tree.tipNames.map((n, i) => [n, i]));
  const cols = pruned.tipNames.map((n) => index.get(n)!);
  const nT = pruned.nTips;
  const lo = window.minPresent;
  const hi = window.maxPresent ?? Infinity;
  const rows: number[] = [];
  const familyNames: string[] = [];
  const { nTips, states, familyPattern } = patterns;
  for (let f = 0; f < familyPattern.length; f++) {
    const o = familyPattern[f] * nTips;
    let k = 0;
    for (const c of cols) if (states[o + c] === PRESENT) k++;
    if (k < lo || k > hi) continue;
    for (const c of cols) rows.push(states[o + c]);
    familyNames.push(patterns.familyNames[f]);
  }
  if (familyNames.length === 0) {
    throw new GenecontentError(
      `Without genomes ${drop.join(", ")}, no family is left inside the window; nothing to refit.`,
    );
  }
  const completeness = likelihoodCompleteness(lik, options);
  const keptCompleteness = completeness ? Float64Array.from(cols, (c) => completeness[c]) : null;
  const reduced = compressPatterns(Uint8Array.from(rows), familyNames.length, nT, familyNames);
  using refit = new ModelLikelihood(pruned, reduced, options.factory, model, window, {
    completeness: keptCompleteness,
  });
  const fit = fitModelLikelihood(refit, {
    level: null,
    starts: [values],
    onEvaluation: options.onEvaluation,
  });
  const specs = modelParameters(model);
  return {
    dropped: [...drop],
    nGenomes: nT,
    nFamiliesBefore: familyPattern.length,
    nFamiliesAfter: familyNames.length,
    parameters: specs.map((s, i) => ({
      name: s.name,
      before: values[i],
      after: fit.values[i],
      relativeChange: fit.values[i] / values[i] - 1,
    })),
    fit,
  };
}
