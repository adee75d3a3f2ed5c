/**
 * Profile-likelihood interval ends for one coordinate of a model with any number of parameters,
 * found by safeguarded Newton steps on the profile itself.
 *
 * The profiled coordinate is `theta = y[index]`; the others are nuisance parameters. The profile
 * is `p(theta) = max over the nuisances of logLik(y)`; an interval end is where
 * `p(theta) = max logLik - drop`. Every profile point re-maximises the nuisances with L-BFGS,
 * warm-started from the previous point, and by the envelope theorem `p'(theta)` is the partial
 * derivative of logLik with respect to theta at that inner maximum, so the Newton step on
 * `p(theta) - target` costs nothing extra. Steps that leave the current bracket are replaced by
 * doubling (before a bracket exists) or bisection (after), so the search cannot diverge; the end
 * is open when the profile is still above the cut-off at the coordinate's bound.
 *
 * @module
 */

import { minimizeLbfgs } from "./lbfgs.ts";

/** A log-likelihood over profiling coordinates `y`: value and d logLik / dy. */
export type ProfileObjective = (y: Float64Array) => {
  readonly logLik: number;
  readonly gradient: Float64Array;
};

/** The setting of a profile search. */
export interface ProfileProblem {
  /** The objective on the profiling coordinates. */
  readonly objective: ProfileObjective;
  /** The index of the profiled coordinate. */
  readonly index: number;
  /** The maximum-likelihood estimate on the profiling coordinates and the maximum. */
  readonly yHat: ArrayLike<number>;
  readonly maxLogLik: number;
  /** The drop below the maximum that defines the interval (chi2(1, level) / 2). */
  readonly drop: number;
  /** d2 logLik / dy2 at the estimate (rows), for the Wald starting step; null if unknown. */
  readonly hessian: readonly ArrayLike<number>[] | null;
  /** Bounds of every coordinate. */
  readonly lower: ArrayLike<number>;
  readonly upper: ArrayLike<number>;
  /**
   * Multiplies logLik inside the inner optimiser (default 1): 1 / number of families makes its
   * gradient tolerance mean the same on any data size.
   */
  readonly scale?: number;
}

/** One end of a profile interval. */
export interface ProfileEnd {
  /** The end, on the profiling scale of the coordinate. */
  readonly theta: number;
  /** True when the profile stays above the cut-off up to the coordinate's bound. */
  readonly open: boolean;
  /** The nuisance values (whole coordinate vector) at the end. */
  readonly y: Float64Array;
  /** The profile log-likelihood at the end. */
  readonly logLik: number;
  /** The highest profile value met: above the maximum means the fit missed a better point. */
  readonly highest: { readonly logLik: number; readonly y: Float64Array };
  /** Objective evaluations used. */
  readonly evaluations: number;
}

/**
 * The profile at `theta`: the nuisances re-maximised from `start`.
 *
 * @example
 * ```ts
 * import { profileAt } from "./profile_interval.ts";
 * // logLik = -(t^2 + t n + n^2): the inner maximum is at n = -t / 2, value -0.75 t^2.
 * const objective = (y: Float64Array) => ({
 *   logLik: -(y[0] ** 2 + y[0] * y[1] + y[1] ** 2),
 *   gradient: new Float64Array([-(2 * y[0] + y[1]), -(y[0] + 2 * y[1])]),
 * });
 * const p = profileAt(objective, 0, 2, new Float64Array([0, 0]), [-9, -9], [9, 9]);
 * console.assert(Math.abs(p.logLik + 3) < 1e-9 && Math.abs(p.y[1] + 1) < 1e-5);
 * ```
 */
export function profileAt(
  objective: ProfileObjective,
  index: number,
  theta: number,
  start: ArrayLike<number>,
  lower: ArrayLike<number>,
  upper: ArrayLike<number>,
  scale = 1,
  curvature: ArrayLike<number> | null = null,
): { logLik: number; slope: number; y: Float64Array; evaluations: number } {
  const n = start.length;
  const full = Float64Array.from(start);
  full[index] = theta;
  if (n === 1) {
    const v = objective(full);
    return { logLik: v.logLik, slope: v.gradient[0], y: full, evaluations: 1 };
  }
  const others: number[] = [];
  for (let i = 0; i < n; i++) if (i !== index) others.push(i);
  let slope = NaN;
  let last = NaN;
  const inner = minimizeLbfgs(
    (z) => {
      for (let j = 0; j < others.length; j++) full[others[j]] = z[j];
      const v = objective(full);
      slope = v.gradient[index];
      last = v.logLik;
      return {
        value: -v.logLik * scale,
        gradient: Float64Array.from(others, (i) => -v.gradient[i] * scale),
      };
    },
    others.map((i) => start[i]),
    {
      lower: others.map((i) => lower[i]),
      upper: others.map((i) => upper[i]),
      gradientTolerance: 1e-10,
      maxIterations: 500,
      maxStep: 2,
      // d2 logLik / dy_i^2 at the estimate, when known, scales the first step.
      initialInverseDiagonal: curvature
        ? others.map((i) => (curvature[i] < 0 ? 1 / (-curvature[i] * scale) : 0))
        : undefined,
    },
  );
  const y = Float64Array.from(full);
  for (let j = 0; j < others.length; j++) y[others[j]] = inner.x[j];
  y[index] = theta;
  // The last evaluation may be a rejected line-search trial: re-evaluate at the accepted point
  // unless it was the last one evaluated.
  let logLik = -inner.value / scale;
  if (last !== logLik) {
    const v = objective(y);
    slope = v.gradient[index];
    logLik = v.logLik;
    return { logLik, slope, y, evaluations: inner.evaluations + 1 };
  }
  return { logLik, slope, y, evaluations: inner.evaluations };
}

/**
 * Finds the lower (`direction = -1`) or upper (`+1`) end of the profile interval of
 * `y[problem.index]`.
 *
 * @example
 * ```ts
 * import { profileEnd } from "./profile_interval.ts";
 * // A quadratic log-likelihood -(t^2 + t n + n^2): the profile is -0.75 t^2, so the 95% ends are
 * // at t = +-sqrt(1.920729 / 0.75).
 * const end = profileEnd({
 *   objective: (y) => ({
 *     logLik: -(y[0] ** 2 + y[0] * y[1] + y[1] ** 2),
 *     gradient: new Float64Array([-(2 * y[0] + y[1]), -(y[0] + 2 * y[1])]),
 *   }),
 *   index: 0, yHat: [0, 0], maxLogLik: 0, drop: 1.920729410347062,
 *   hessian: [[-2, -1], [-1, -2]], lower: [-10, -10], upper: [10, 10],
 * }, 1);
 * console.assert(!end.open && Math.abs(end.theta - Math.sqrt(1.920729410347062 / 0.75)) < 1e-7);
 * ```
 */
export function profileEnd(problem: ProfileProblem, direction: -1 | 1): ProfileEnd {
  const { objective, index, yHat, maxLogLik, drop, lower, upper } = problem;
  const scale = problem.scale ?? 1;
  const target = maxLogLik - drop;
  const thetaHat = yHat[index];
  const edge = direction < 0 ? lower[index] : upper[index];
  const clamp = (t: number) => Math.min(upper[index], Math.max(lower[index], t));
  let evaluations = 0;
  let highest: { logLik: number; y: Float64Array } = {
    logLik: maxLogLik,
    y: Float64Array.from(yHat),
  };
  let nuisance: Float64Array = Float64Array.from(yHat);
  // The nuisances' linear response to theta at the estimate, -H_nn^-1 H_nt, predicts where the
  // inner maximum moves: warm starts follow it.
  const response = nuisanceResponse(problem.hessian, index);
  const diagonal = problem.hessian ? problem.hessian.map((row, i) => row[i]) : null;
  // Once two profile points exist, the secant through their nuisances replaces it.
  let previous: Float64Array | null = null;
  const at = (theta: number) => {
    const start = Float64Array.from(nuisance);
    const dt = theta - nuisance[index];
    const step = previous && previous[index] !== nuisance[index]
      ? Float64Array.from(
        nuisance,
        (v, i) => (v - previous![i]) / (nuisance[index] - previous![index]),
      )
      : response;
    if (step) {
      for (let i = 0; i < start.length; i++) {
        if (i !== index) {
          start[i] = Math.min(upper[i], Math.max(lower[i], start[i] + step[i] * dt));
        }
      }
    }
    const p = profileAt(objective, index, theta, start, lower, upper, scale, diagonal);
    evaluations += p.evaluations;
    if (p.logLik > highest.logLik) highest = { logLik: p.logLik, y: p.y };
    if (Number.isFinite(p.logLik)) {
      previous = nuisance;
      nuisance = p.y;
    }
    return p;
  };
  const curvature = profileCurvature(problem.hessian, index);
  const walk = curvature < 0 ? Math.min(Math.sqrt((2 * drop) / -curvature), 5) : 0.5;
  const result = (theta: number, open: boolean, logLik: number): ProfileEnd => ({
    theta,
    open,
    y: nuisance,
    logLik,
    highest,
    evaluations,
  });
  if (thetaHat === edge) {
    // The estimate is on the bound: that end of the interval is the bound itself.
    return result(thetaHat, true, maxLogLik);
  }
  let inside = thetaHat; // profile above the cut-off here
  let outside = NaN; // below, once found
  let hInside = drop;
  let hOutside = NaN;
  let theta = clamp(thetaHat + direction * walk);
  for (let it = 0; it < 100; it++) {
    const p = at(theta);
    const h = p.logLik - target;
    if (Math.abs(h) < 1e-8) return result(theta, false, p.logLik);
    if (h > 0) {
      inside = theta;
      hInside = h;
    } else {
      outside = theta;
      hOutside = h;
    }
    if (h > 0 && theta === edge) return result(theta, true, p.logLik);
    const bracketed = Number.isFinite(outside);
    if (bracketed && Math.abs(outside - inside) < 1e-12 * Math.max(1, Math.abs(theta))) {
      return result(theta, false, p.logLik);
    }
    let next = theta - h / p.slope;
    const lo = Math.min(inside, bracketed ? outside : edge);
    const hi = Math.max(inside, bracketed ? outside : edge);
    const newtonOk = Number.isFinite(next) && p.slope * direction < 0 && next > lo && next < hi;
    if (!newtonOk) {
      if (bracketed) {
        // Regula falsi on the bracket, kept away from its ends.
        const t = hInside / (hInside - hOutside);
        next = inside + Math.min(0.9, Math.max(0.1, t)) * (outside - inside);
      } else {
        next = clamp(thetaHat + 2 * (theta - thetaHat));
      }
    }
    theta = next;
  }
  const p = at(theta);
  return result(theta, false, p.logLik);
}

/** d nuisance / d theta along the profile at the estimate, or null when it is unknown. */
function nuisanceResponse(
  hessian: readonly ArrayLike<number>[] | null,
  index: number,
): Float64Array | null {
  if (!hessian || hessian.length < 2) return null;
  const n = hessian.length;
  const others = Array.from({ length: n }, (_, i) => i).filter((i) => i !== index);
  const inv = invertNegativeDefinite(
    others.map((i) => Float64Array.from(others, (j) => hessian[i][j])),
  );
  if (!inv) return null;
  const m = others.length;
  const out = new Float64Array(n);
  for (let a = 0; a < m; a++) {
    let s = 0;
    for (let b = 0; b < m; b++) s -= inv[a * m + b] * hessian[others[b]][index];
    out[others[a]] = s;
  }
  return out;
}

/**
 * The curvature of the profile of coordinate `index` at the estimate, 1 / (H^-1)[index][index]
 * (the Schur complement), or NaN when the Hessian is unknown or not negative definite.
 */
export function profileCurvature(
  hessian: readonly ArrayLike<number>[] | null,
  index: number,
): number {
  if (!hessian) return NaN;
  const n = hessian.length;
  const inv = invertNegativeDefinite(hessian);
  if (!inv) return n === 1 ? hessian[0][0] : NaN;
  return 1 / inv[index * n + index];
}

/**
 * The inverse of a negative-definite symmetric matrix (row-major result), by Cholesky
 * factorisation of its negation; null when it is not negative definite.
 */
export function invertNegativeDefinite(h: readonly ArrayLike<number>[]): Float64Array | null {
  const n = h.length;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = -(h[i][j] + h[j][i]) / 2;
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) return null;
        L[i * n + i] = Math.sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j];
      }
    }
  }
  // (-H)^-1 = L^-T L^-1; H^-1 is its negation.
  const inv = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = 0; k < i; k++) s -= L[i * n + k] * z[k];
      z[i] = s / L[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = z[i];
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * inv[k * n + c];
      inv[i * n + c] = s / L[i * n + i];
    }
  }
  for (let i = 0; i < n * n; i++) inv[i] = -inv[i];
  return inv;
}
