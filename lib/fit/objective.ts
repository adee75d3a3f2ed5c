/**
 * What the fitter maximises: a model's total log-likelihood as a function of its free parameters
 * on their natural scale (rates per unit branch length, probabilities, shapes), with the gradient
 * on that scale. Any model (null, gamma, mixture, +inv, +error) is fitted through this one
 * interface; {@linkcode nullModelObjective} adapts the two-parameter {@linkcode GainLossLikelihood}.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { GainLossLikelihood } from "../likelihood/gain_loss_likelihood.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { modelParameters, NULL_MODEL, type ParameterSpec } from "../model/description.ts";
import { type FlatTree, nodeDepths, totalLength } from "../tree/flat_tree.ts";

/** A model's log-likelihood as the fitter sees it. */
export interface ModelObjective {
  /** The free parameters, in the order of every value vector. */
  readonly parameters: readonly ParameterSpec[];
  /** Natural-scale values in, total log-likelihood and d logLik / d value (natural scale) out. */
  evaluate(values: Float64Array, gradient: boolean): { logLik: number; gradient?: Float64Array };
  /** Number of families (for BIC). */
  readonly nObservations: number;
  /** Optional data-informed starting points (natural scale). */
  starts?(): Float64Array[];
  /** Optional range of rates the data resolve (working bounds of rate parameters). */
  readonly rateScale?: RateScale;
}

/** The range of rates a tree can tell apart, and a typical rate to start from. */
export interface RateScale {
  /** Below this, a rate puts fewer than 1e-4 expected events on the whole tree. */
  readonly lower: number;
  /** Above this, every branch of at least the median length is saturated (rate x length >= 50). */
  readonly upper: number;
  /** One expected event per mean root-to-tip depth. */
  readonly typical: number;
}

/**
 * The rates a tree can resolve: from 1e-4 expected events on the whole tree (a rate that small is
 * indistinguishable from 0) to 50 events on a branch of median length (every branch that long
 * has forgotten its parent's state to within e^-50). The fitter starts with these as working
 * bounds and widens them when an estimate reaches one.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { treeRateScale } from "./objective.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const s = treeRateScale(tree);
 * console.assert(Math.abs(s.lower - 5e-5) < 1e-15 && s.upper === 50 && s.typical === 1);
 * ```
 */
export function treeRateScale(tree: FlatTree): RateScale {
  const total = totalLength(tree);
  if (!(total > 0)) {
    throw new GenecontentError("Every branch of the tree has length 0: rates cannot be estimated.");
  }
  const lengths: number[] = [];
  for (let i = 0; i < tree.nNodes; i++) {
    if (tree.parent[i] >= 0 && tree.branchLength[i] > 0) lengths.push(tree.branchLength[i]);
  }
  lengths.sort((a, b) => a - b);
  const median = lengths[Math.floor((lengths.length - 1) / 2)];
  const depths = nodeDepths(tree);
  let meanDepth = 0;
  for (let i = 0; i < tree.nTips; i++) meanDepth += depths[i] / tree.nTips;
  return { lower: 1e-4 / total, upper: 50 / median, typical: 1 / meanDepth };
}

/**
 * The null model's objective over a {@linkcode GainLossLikelihood}: parameters `gain`, `loss`;
 * starts from the observed presence frequency and the tree's depth, spread over two orders of
 * magnitude of turnover.
 *
 * @example
 * ```ts
 * import { GainLossLikelihood } from "../likelihood/gain_loss_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { nullModelObjective } from "./objective.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.3, 0.2, 0.5, 0.1, 0]);
 * const rows = new Uint8Array([1, 0, 0, 1, 1, 0, 0, 1, 1]);
 * using lik = new GainLossLikelihood(tree, compressPatterns(rows, 3, 3, ["x", "y", "z"]), tsBackendFactory);
 * const objective = nullModelObjective(lik);
 * const v = objective.evaluate(new Float64Array([0.5, 1]), true);
 * console.assert(v.logLik === lik.evaluate(0.5, 1).logLik && v.gradient!.length === 2);
 * ```
 */
export function nullModelObjective(lik: GainLossLikelihood): ModelObjective {
  const parameters = modelParameters(NULL_MODEL);
  return {
    parameters,
    rateScale: treeRateScale(lik.tree),
    nObservations: lik.patterns.familyNames.length,
    evaluate(values, gradient) {
      const [gain, loss] = values;
      const v = lik.evaluate(gain, loss, { gradient });
      if (!gradient) return { logLik: v.logLik };
      // The likelihood's gradient is with respect to log gain and log loss.
      return {
        logLik: v.logLik,
        gradient: new Float64Array([v.gradient![0] / gain, v.gradient![1] / loss]),
      };
    },
    starts() {
      const pi1 = presenceFrequency(lik);
      const scale = treeRateScale(lik.tree).typical;
      return [1, 0.1, 10].map((f) => new Float64Array([f * pi1 * scale, f * (1 - pi1) * scale]));
    },
  };
}

/** A model likelihood that is already an objective (as `ModelLikelihood` is), with its data. */
export interface LikelihoodObjective {
  /** The tree (its depth scales the rates' starts and bounds). */
  readonly tree: FlatTree;
  /** The data (their presence frequency sets the starting pi1). */
  readonly patterns: SitePatterns;
  /** The free parameters, in the order of every value vector. */
  readonly parameters: readonly ParameterSpec[];
  /** Number of families (for BIC). */
  readonly nObservations: number;
  /** Natural-scale values in, total log-likelihood and d logLik / d value out. */
  evaluate(values: Float64Array, gradient: boolean): { logLik: number; gradient?: Float64Array };
}

/**
 * Any model's likelihood as an objective with data-informed starts: rates from the observed
 * presence frequency and the tree's depth (spread 10-fold both ways, mixture classes 4-fold
 * apart), alpha 1, pInv the share of families present wherever observed (within [0.01, 0.5]),
 * error rates 0.01, equal class weights.
 *
 * @example
 * ```ts
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { modelObjective } from "./objective.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 0, 1, 1, 1, 1), 2, 3, ["f1", "f2"]);
 * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("gamma4+inv"));
 * const starts = modelObjective(lik).starts!();
 * console.assert(starts.length === 3 && starts[0].length === 4 && starts[0][2] === 1);
 * ```
 */
export function modelObjective(lik: LikelihoodObjective): ModelObjective {
  return {
    parameters: lik.parameters,
    rateScale: treeRateScale(lik.tree),
    nObservations: lik.nObservations,
    evaluate: (values, gradient) => lik.evaluate(values, gradient),
    starts() {
      const pi1 = presenceFrequency(lik);
      const typical = treeRateScale(lik.tree).typical;
      const specs = lik.parameters;
      const nClasses = specs.filter((s) => s.kind === "split").length + 1;
      let split = 0;
      const base = specs.map((s) => {
        const m = /(\d+)$/.exec(s.name);
        const spread = s.kind === "rate" && m && nClasses > 1
          ? 4 ** (Number(m[1]) - (nClasses + 1) / 2)
          : 1;
        switch (s.kind) {
          case "rate":
            return (/^gain/.test(s.name) ? pi1 : 1 - pi1) * typical * spread;
          case "shape":
            return 1;
          case "split":
            return 1 / (nClasses - split++);
          case "probability":
            return Math.min(0.5, Math.max(0.01, everywhereShare(lik.patterns)));
          case "error":
            return s.lower + 0.01 * (s.upper - s.lower);
          case "effect":
            return 0;
        }
      });
      return [1, 0.1, 10].map((f) =>
        Float64Array.from(base, (v, i) => (specs[i].kind === "rate" ? v * f : v))
      );
    },
  };
}

/** The share of families present in every genome where they are observed. */
function everywhereShare(patterns: SitePatterns): number {
  const { nTips, nPatterns, states, weights } = patterns;
  let all = 0;
  let total = 0;
  for (let p = 0; p < nPatterns; p++) {
    let everywhere = true;
    for (let i = 0; i < nTips && everywhere; i++) {
      if (states[p * nTips + i] === 0) everywhere = false;
    }
    if (everywhere) all += weights[p];
    total += weights[p];
  }
  return total > 0 ? all / total : 0;
}

/** The share of observed cells that are present, clamped to [0.1, 0.9] for a starting pi1. */
function presenceFrequency(lik: { readonly patterns: SitePatterns }): number {
  const { nTips, nPatterns, states, weights } = lik.patterns;
  let present = 0;
  let observed = 0;
  for (let p = 0; p < nPatterns; p++) {
    for (let i = 0; i < nTips; i++) {
      const s = states[p * nTips + i];
      if (s < 2) {
        observed += weights[p];
        present += weights[p] * s;
      }
    }
  }
  return Math.min(0.9, Math.max(0.1, present / Math.max(observed, 1)));
}
