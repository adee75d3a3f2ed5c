/**
 * The likelihood of a whole PAM under the null gain/loss model (one gain and one loss rate for
 * every family): a thin wrapper over {@linkcode ModelLikelihood} with the null model, keeping the
 * two-rate interface (gradients with respect to log rates) that scripts and the null fit use.
 *
 * With `minPresent = k >= 1`, each family's likelihood is conditioned on the family having at
 * least `k` present tips among the tips where it is not missing:
 * `log L(column) - log P(at least k present | its missingness)`; `minPresent = 0` gives the
 * uncorrected likelihood.
 *
 * @module
 */

import type { SitePatterns } from "../pam/patterns.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import type { AsyncEvaluateOptions, LikelihoodBackend } from "./backend.ts";
import type { BackendFactory } from "./choose_backend.ts";
import { type ModelEvaluation, ModelLikelihood } from "./model_likelihood.ts";
import { NULL_MODEL } from "../model/description.ts";

/** The value (and gradient) of the total log-likelihood at one (gain, loss). */
export interface LikelihoodValue {
  /** Total log-likelihood, summed over families (merged patterns counted by their weights). */
  readonly logLik: number;
  /** Per-pattern log-likelihood (corrected when the correction is on). */
  readonly perPattern: Float64Array;
  /** d logLik / d log(gain) and d logLik / d log(loss), when asked for. */
  readonly gradient?: readonly [number, number];
}

/** Options of {@linkcode GainLossLikelihood}. */
export interface GainLossLikelihoodOptions {
  /**
   * Ascertainment: condition each family on at least this many present tips (default 1, the
   * usual PAM); 0 turns the correction off.
   */
  readonly minPresent?: number;
}

/**
 * The total log-likelihood of a PAM's patterns on a tree under the null model.
 *
 * @example
 * ```ts
 * import { GainLossLikelihood } from "./gain_loss_likelihood.ts";
 * import { tsBackendFactory } from "./choose_backend.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * const patterns = compressPatterns(new Uint8Array([1, 0, 1, 1]), 2, 2, ["f1", "f2"]);
 * using lik = new GainLossLikelihood(tree, patterns, tsBackendFactory);
 * console.assert(lik.evaluate(0.5, 1).logLik < 0);
 * ```
 */
export class GainLossLikelihood implements Disposable {
  /** The tree. */
  readonly tree: FlatTree;
  /** The merged family columns. */
  readonly patterns: SitePatterns;
  /** The ascertainment threshold (0: none). */
  readonly minPresent: number;
  /** The pruning backend. */
  readonly backend: LikelihoodBackend;
  /** The model likelihood this wraps (the null model). */
  readonly model: ModelLikelihood;

  /** Checks the data against the conditioning and binds a backend to it. */
  constructor(
    tree: FlatTree,
    patterns: SitePatterns,
    factory: BackendFactory,
    options: GainLossLikelihoodOptions = {},
  ) {
    const k = options.minPresent ?? 1;
    this.model = new ModelLikelihood(tree, patterns, factory, NULL_MODEL, {
      minPresent: k,
      maxPresent: null,
    });
    this.tree = tree;
    this.patterns = patterns;
    this.minPresent = k;
    this.backend = this.model.backend;
  }

  /** Total log-likelihood (and gradient wrt log rates) at one (gain, loss). */
  evaluate(gain: number, loss: number, options: { gradient?: boolean } = {}): LikelihoodValue {
    const v = this.model.evaluate(Float64Array.of(gain, loss), options.gradient === true);
    return toValue(gain, loss, v);
  }

  /** The same as `evaluate` without blocking the event loop (native) and with progress. */
  async evaluateAsync(
    gain: number,
    loss: number,
    options: AsyncEvaluateOptions = {},
  ): Promise<LikelihoodValue> {
    const v = await this.model.evaluateAsync(
      Float64Array.of(gain, loss),
      options.gradient === true,
      options,
    );
    return toValue(gain, loss, v);
  }

  /** Frees the backend. */
  [Symbol.dispose](): void {
    this.model[Symbol.dispose]();
  }
}

/** d / d log(x) = x d / d x. */
function toValue(gain: number, loss: number, v: ModelEvaluation): LikelihoodValue {
  if (!v.gradient) return { logLik: v.logLik, perPattern: v.perPattern };
  return {
    logLik: v.logLik,
    perPattern: v.perPattern,
    gradient: [gain * v.gradient[0], loss * v.gradient[1]],
  };
}
