/**
 * Profile-likelihood interval ends for one parameter of a two-parameter model, found by
 * Newton's method on the profile itself.
 *
 * The profiled parameter is `theta`, the nuisance `nu`. The profile is
 * `p(theta) = max over nu of logLik(theta, nu)`; an interval end is where
 * `p(theta) = max logLik - drop`. By the envelope theorem `p'(theta)` is the partial derivative
 * of logLik with respect to theta at the inner maximum, so every profile point costs one inner
 * one-dimensional Newton solve (a few gradient evaluations) and gives the profile's slope for
 * free: from a Wald starting point, the ends converge in a handful of steps.
 *
 * @module
 */

/** Log-likelihood and its gradient with respect to (theta, nu). */
export type ThetaNuObjective = (theta: number, nu: number) => {
  readonly logLik: number;
  readonly dTheta: number;
  readonly dNu: number;
};

/** One end of a profile interval. */
export interface ProfileEnd {
  /** The end, on the theta scale. */
  readonly theta: number;
  /** True when the profile stays above the cut-off up to the parameter's bound. */
  readonly open: boolean;
}

/** The setting of a profile search. */
export interface ProfileProblem {
  /** The objective. */
  readonly objective: ThetaNuObjective;
  /** The maximum-likelihood estimate (theta, nu) and the maximum. */
  readonly thetaHat: number;
  readonly nuHat: number;
  readonly maxLogLik: number;
  /** The drop below the maximum that defines the interval (chi2(1, level) / 2). */
  readonly drop: number;
  /** The Hessian of logLik in (theta, nu) at the estimate: [[tt, tn], [tn, nn]]. */
  readonly hessian: readonly [readonly [number, number], readonly [number, number]];
  /** Allowed ranges. */
  readonly thetaRange: readonly [number, number];
  readonly nuRange: readonly [number, number];
}

/**
 * Finds the lower (`direction = -1`) or upper (`+1`) interval end.
 *
 * @example
 * ```ts
 * import { profileEnd } from "./profile_interval.ts";
 * // A quadratic log-likelihood -(t^2 + t*n + n^2): the profile is -0.75 t^2, so the 95% ends are
 * // at t = +-sqrt(1.920729 / 0.75).
 * const end = profileEnd({
 *   objective: (t, n) => ({ logLik: -(t * t + t * n + n * n), dTheta: -(2 * t + n), dNu: -(t + 2 * n) }),
 *   thetaHat: 0, nuHat: 0, maxLogLik: 0, drop: 1.920729410347062,
 *   hessian: [[-2, -1], [-1, -2]], thetaRange: [-10, 10], nuRange: [-10, 10],
 * }, 1);
 * console.assert(Math.abs(end.theta - Math.sqrt(1.920729410347062 / 0.75)) < 1e-7);
 * ```
 */
export function profileEnd(problem: ProfileProblem, direction: -1 | 1): ProfileEnd {
  const { objective, thetaHat, nuHat, maxLogLik, drop, hessian, thetaRange, nuRange } = problem;
  const target = maxLogLik - drop;
  const [[htt, htn], [, hnn]] = hessian;
  // Curvature of the profile at the estimate: the Schur complement htt - htn^2 / hnn.
  const profileCurvature = hnn < 0 ? htt - (htn * htn) / hnn : htt;
  let nuCurvature = hnn < 0 ? hnn : -1;
  let nu = nuHat;
  const edge = direction < 0 ? thetaRange[0] : thetaRange[1];
  const clampTheta = (t: number) => Math.min(thetaRange[1], Math.max(thetaRange[0], t));

  /** The profile at theta: value minus target, and slope (inner Newton solve for nu). */
  const profileAt = (theta: number): { h: number; slope: number } => {
    let r = objective(theta, nu);
    let prevNu = NaN;
    let prevD = NaN;
    for (let it = 0; it < 50; it++) {
      const d = r.dNu;
      if (Number.isFinite(prevD) && nu !== prevNu) {
        const secant = (d - prevD) / (nu - prevNu);
        if (secant < 0) nuCurvature = secant;
      }
      // Stop once the remaining gain in logLik, d^2 / (2 |curvature|), is negligible.
      if ((d * d) / (2 * Math.abs(nuCurvature)) < 1e-11) break;
      let step = -d / nuCurvature;
      step = Math.max(-1, Math.min(1, step));
      let next = Math.min(nuRange[1], Math.max(nuRange[0], nu + step));
      if (next === nu) break; // on a bound, pushing outward
      // Accept only steps that do not lower the value (the profile is a maximum over nu).
      let trial = objective(theta, next);
      for (
        let half = 0;
        half < 30 && !(trial.logLik >= r.logLik - 1e-12 * Math.abs(r.logLik));
        half++
      ) {
        step /= 2;
        next = nu + step;
        trial = objective(theta, next);
      }
      prevNu = nu;
      prevD = d;
      nu = next;
      r = trial;
    }
    return { h: r.logLik - target, slope: r.dTheta };
  };

  // Wald starting point from the profile curvature.
  const walk = profileCurvature < 0 ? Math.sqrt((2 * drop) / -profileCurvature) : 0.1;
  let inside = thetaHat; // h > 0 here
  let outside = NaN; // h <= 0 here, once found
  let theta = clampTheta(thetaHat + direction * walk);
  for (let it = 0; it < 60; it++) {
    const { h, slope } = profileAt(theta);
    if (Math.abs(h) < 1e-8) return { theta, open: false };
    if (h > 0) inside = theta;
    else outside = theta;
    if (h > 0 && theta === edge) return { theta, open: true };
    let next = theta - h / slope;
    const bracketed = Number.isFinite(outside);
    const lo = Math.min(inside, bracketed ? outside : edge);
    const hi = Math.max(inside, bracketed ? outside : edge);
    const newtonOk = Number.isFinite(next) && slope * direction < 0 && next > lo && next < hi;
    if (!newtonOk) {
      next = bracketed ? (inside + outside) / 2 : clampTheta(thetaHat + 2 * (theta - thetaHat));
    }
    if (bracketed && Math.abs(outside - inside) < 1e-12 * Math.max(1, Math.abs(theta))) {
      return { theta: next, open: false };
    }
    theta = next;
  }
  return { theta, open: false };
}
