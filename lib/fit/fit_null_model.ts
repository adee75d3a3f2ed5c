/**
 * Maximum-likelihood fit of the null model (one gain rate and one loss rate for all families),
 * with profile-likelihood confidence intervals for gain, loss and pi1.
 *
 * The optimiser works on log(gain) and log(loss) with analytic gradients from the backend.
 * The profile interval of a parameter is the set of values whose profile log-likelihood (the
 * other parameter re-maximised) is within chi2(1, level)/2 of the maximum; for pi1 the nuisance
 * parameter is the total rate gain + loss.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { GainLossLikelihood } from "../likelihood/gain_loss_likelihood.ts";
import { nodeDepths } from "../tree/flat_tree.ts";
import { minimizeLbfgs } from "./lbfgs.ts";
import { normalQuantile } from "./normal_quantile.ts";
import { profileEnd, type ProfileProblem } from "./profile_interval.ts";

/** A two-sided interval. */
export type Interval = readonly [number, number];

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
  /** Whether the optimiser met its convergence rule. */
  readonly converged: boolean;
  /** Optimiser iterations. */
  readonly iterations: number;
  /** Likelihood evaluations, profiles included. */
  readonly evaluations: number;
  /** Estimates on a bound, non-convergence, open intervals. */
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

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** Parameters whose profile intervals are computed. */
type ProfiledParameter = "gain" | "loss" | "pi1";

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
  const warnings: string[] = [];
  let evaluations = 0;
  const tree = lik.tree;
  const depths = nodeDepths(tree);
  let meanDepth = 0;
  for (let i = 0; i < tree.nTips; i++) meanDepth += depths[i] / tree.nTips;
  if (!(meanDepth > 0)) {
    throw new GenecontentError("Every branch of the tree has length 0: rates cannot be estimated.");
  }
  // Bounds on log rates, relative to the tree's scale: a rate of 1e-8 to 1e5 events per
  // root-to-tip depth covers every identifiable case.
  const lo = Math.log(1e-8 / meanDepth);
  const hi = Math.log(1e5 / meanDepth);
  const eval2 = (lg: number, ll: number, stage: string) => {
    evaluations++;
    const v = lik.evaluate(Math.exp(lg), Math.exp(ll), { gradient: true });
    options.onEvaluation?.(stage, evaluations);
    return v;
  };
  let start = options.start;
  if (!start) {
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
    const pi1 = Math.min(0.9, Math.max(0.1, present / Math.max(observed, 1)));
    start = { gain: pi1 / meanDepth, loss: (1 - pi1) / meanDepth };
  }
  // Scale the objective so the gradient tolerance means the same on any data size.
  const scale = 1 / Math.max(1, lik.patterns.familyNames.length);
  const opt = minimizeLbfgs(
    (x) => {
      const v = eval2(x[0], x[1], "fit");
      return {
        value: -v.logLik * scale,
        gradient: new Float64Array([-v.gradient![0] * scale, -v.gradient![1] * scale]),
      };
    },
    [Math.log(start.gain), Math.log(start.loss)],
    { lower: [lo, lo], upper: [hi, hi], gradientTolerance: 1e-9, maxIterations: 300 },
  );
  const [lgHat, llHat] = opt.x;
  const logLik = -opt.value / scale;
  if (!opt.converged) warnings.push(`The optimiser did not converge (${opt.reason}).`);
  for (const i of opt.atBound) {
    warnings.push(
      `The ${i === 0 ? "gain" : "loss"} rate estimate sits on its bound (${
        Math.exp(opt.x[i]).toExponential(3)
      }): the data do not identify it.`,
    );
  }
  const level = options.level === undefined ? 0.95 : options.level;
  let ci: NullModelFit["ci"] = null;
  if (level !== null) {
    if (!(level > 0 && level < 1)) {
      throw new GenecontentError(`Confidence level must be between 0 and 1; got ${level}.`);
    }
    const z = normalQuantile((1 + level) / 2);
    const drop = (z * z) / 2;
    // Hessian of logLik in (log gain, log loss) at the estimate, by central differences of the
    // analytic gradient (step 1e-4 in log scale: error ~1e-8 relative, plenty for a start).
    const step = 1e-4;
    const H = [[0, 0], [0, 0]];
    for (let j = 0; j < 2; j++) {
      const up = eval2(j === 0 ? lgHat + step : lgHat, j === 1 ? llHat + step : llHat, "curvature");
      const dn = eval2(j === 0 ? lgHat - step : lgHat, j === 1 ? llHat - step : llHat, "curvature");
      for (let i = 0; i < 2; i++) H[i][j] = (up.gradient![i] - dn.gradient![i]) / (2 * step);
    }
    const hxy = (H[0][1] + H[1][0]) / 2;
    const pi1Hat = Math.exp(lgHat) / (Math.exp(lgHat) + Math.exp(llHat));
    const profile = (param: ProfiledParameter): Interval => {
      // theta: the profiled parameter on its working scale; nu: the nuisance. J maps
      // (dtheta, dnu) to (dlog gain, dlog loss).
      const toLogRates = (theta: number, nu: number): [number, number] =>
        param === "gain"
          ? [theta, nu]
          : param === "loss"
          ? [nu, theta]
          : [nu - softplus(-theta), nu - softplus(theta)];
      const J = param === "gain"
        ? [[1, 0], [0, 1]]
        : param === "loss"
        ? [[0, 1], [1, 0]]
        : [[1 - pi1Hat, 1], [-pi1Hat, 1]];
      const Hs = [[H[0][0], hxy], [hxy, H[1][1]]];
      const hess = [[0, 0], [0, 0]] as [[number, number], [number, number]];
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) {
          let v = 0;
          for (let i = 0; i < 2; i++) for (let k = 0; k < 2; k++) v += J[i][a] * Hs[i][k] * J[k][b];
          hess[a][b] = v;
        }
      }
      const thetaHat = param === "gain" ? lgHat : param === "loss" ? llHat : lgHat - llHat;
      const nuHat = param === "gain"
        ? llHat
        : param === "loss"
        ? lgHat
        : Math.log(Math.exp(lgHat) + Math.exp(llHat));
      const problem: ProfileProblem = {
        objective: (theta, nu) => {
          const [lg, ll] = toLogRates(theta, nu);
          const v = eval2(lg, ll, `profile ${param}`);
          const [g0, g1] = v.gradient!;
          if (param === "gain") return { logLik: v.logLik, dTheta: g0, dNu: g1 };
          if (param === "loss") return { logLik: v.logLik, dTheta: g1, dNu: g0 };
          const p = 1 / (1 + Math.exp(-theta));
          return { logLik: v.logLik, dTheta: g0 * (1 - p) - g1 * p, dNu: g0 + g1 };
        },
        thetaHat,
        nuHat,
        maxLogLik: logLik,
        drop,
        hessian: hess,
        thetaRange: param === "pi1" ? [lo - hi, hi - lo] : [lo, hi],
        nuRange: param === "pi1" ? [lo, hi + Math.LN2] : [lo, hi],
      };
      const back = (t: number) => (param === "pi1" ? sigmoid(t) : Math.exp(t));
      const ends = [profileEnd(problem, -1), profileEnd(problem, 1)];
      ends.forEach((end, i) => {
        if (end.open) {
          warnings.push(
            `The ${level * 100}% interval of ${param} is open: the profile likelihood stays ` +
              `above the cut-off up to the ${i === 0 ? "lower" : "upper"} bound.`,
          );
        }
      });
      return [back(ends[0].theta), back(ends[1].theta)];
    };
    ci = { level, gain: profile("gain"), loss: profile("loss"), pi1: profile("pi1") };
  }
  const gain = Math.exp(lgHat);
  const loss = Math.exp(llHat);
  return {
    gain,
    loss,
    pi1: gain / (gain + loss),
    logLik,
    ci,
    converged: opt.converged,
    iterations: opt.iterations,
    evaluations,
    warnings,
  };
}
