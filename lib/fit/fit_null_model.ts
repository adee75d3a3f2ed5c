/**
 * Maximum-likelihood fit of the null model (one gain rate and one loss rate for all families),
 * with profile-likelihood confidence intervals for gain, loss and pi1: the generic
 * {@linkcode fitModel} on the {@linkcode GainLossLikelihood}, with working bounds from the tree's
 * scale and pi1 = gain / (gain + loss) profiled as a derived quantity (its nuisance parameter
 * is the total rate gain + loss).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { GainLossLikelihood } from "../likelihood/gain_loss_likelihood.ts";
import { type DerivedQuantity, fitModel, type Interval, type ModelFit } from "./fit_model.ts";
import { nullModelObjective } from "./objective.ts";
import { stationaryPresence } from "./derived.ts";

export type { Interval } from "./fit_model.ts";

/** The fitted null model. */
export interface NullModelFit {
  /** Gain rate (0 -> 1 per unit branch length). */
  readonly gain: number;
  /** Loss rate (1 -> 0 per unit branch length). */
  readonly loss: number;
  /** Stationary presence probability gain / (gain + loss). */
  readonly pi1: number;
  /** Maximised log-likelihood. */
  readonly logLik: number;
  /** Profile-likelihood intervals at `ci.level`. */
  readonly ci: {
    readonly level: number;
    readonly gain: Interval;
    readonly loss: Interval;
    readonly pi1: Interval;
  } | null;
  /** Whether the optimiser met its (checked) convergence rule. */
  readonly converged: boolean;
  /** Optimiser iterations. */
  readonly iterations: number;
  /** Likelihood evaluations, profiles included. */
  readonly evaluations: number;
  /** Estimates on a bound, unidentified rates, non-convergence, open intervals. */
  readonly warnings: string[];
}

/** Options of {@linkcode fitNullModel}. */
export interface FitOptions {
  /** Starting values (default: from the data's presence frequency and the tree's depth). */
  readonly start?: { readonly gain: number; readonly loss: number };
  /** Confidence level of the profile intervals (default 0.95); `null` skips them. */
  readonly level?: number | null;
  /** Called after each likelihood evaluation with the stage and the count so far. */
  readonly onEvaluation?: (stage: string, evaluations: number) => void;
}

/**
 * pi1 of the null model as a derived quantity: profiling coordinates (logit pi1, log(gain +
 * loss)) against working coordinates (log gain, log loss).
 */
export const PI1_OF_NULL_MODEL: DerivedQuantity = stationaryPresence("pi1", 2, 0, 1);

/**
 * Fits gain and loss by maximum likelihood and computes profile intervals.
 *
 * @example
 * ```ts
 * import { fitNullModel } from "./fit_null_model.ts";
 * import { GainLossLikelihood } from "../likelihood/gain_loss_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.3, 0.2, 0.5, 0.1, 0]);
 * const rows = new Uint8Array([1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1]);
 * using lik = new GainLossLikelihood(tree, compressPatterns(rows, 5, 3, ["a", "b", "c", "d", "e"]), tsBackendFactory);
 * const fit = fitNullModel(lik);
 * console.assert(fit.gain > 0 && fit.loss > 0);
 * ```
 */
export function fitNullModel(lik: GainLossLikelihood, options: FitOptions = {}): NullModelFit {
  const fit = fitNullModelGeneric(lik, options);
  const p = fit.byName;
  const level = fit.level;
  return {
    gain: p.gain.estimate,
    loss: p.loss.estimate,
    pi1: p.pi1.estimate,
    logLik: fit.logLik,
    ci: level === null ? null : {
      level,
      gain: p.gain.interval!,
      loss: p.loss.interval!,
      pi1: p.pi1.interval!,
    },
    converged: fit.converged,
    iterations: fit.iterations,
    evaluations: fit.evaluations,
    warnings: fit.warnings,
  };
}

/**
 * The null-model fit as a {@linkcode ModelFit} (parameters gain, loss and the derived pi1), for
 * model comparison.
 *
 * @example
 * ```ts
 * import { fitNullModelGeneric } from "./fit_null_model.ts";
 * import { GainLossLikelihood } from "../likelihood/gain_loss_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.3, 0.2, 0.5, 0.1, 0]);
 * const rows = new Uint8Array([1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1]);
 * using lik = new GainLossLikelihood(tree, compressPatterns(rows, 5, 3, ["a", "b", "c", "d", "e"]), tsBackendFactory);
 * const fit = fitNullModelGeneric(lik, { level: null });
 * console.assert(fit.nParams === 2 && fit.aic === 4 - 2 * fit.logLik);
 * ```
 */
export function fitNullModelGeneric(lik: GainLossLikelihood, options: FitOptions = {}): ModelFit {
  const objective = nullModelObjective(lik);
  const start = options.start;
  if (start && !(start.gain > 0 && start.loss > 0)) {
    throw new GenecontentError(
      `Starting rates must be positive; got gain ${start.gain}, loss ${start.loss}.`,
    );
  }
  return fitModel(objective, {
    starts: start ? [[start.gain, start.loss]] : undefined,
    level: options.level,
    derived: [PI1_OF_NULL_MODEL],
    onEvaluation: options.onEvaluation,
  });
}
