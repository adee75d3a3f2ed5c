/**
 * A limited-memory quasi-Newton minimiser (L-BFGS) with box bounds handled by projection
 * (variables at a bound whose gradient pushes outward are held fixed), for smooth objectives
 * with analytic gradients.
 *
 * @module
 */

/** The objective: value and gradient at `x`. */
export type Objective = (x: Float64Array) => { value: number; gradient: Float64Array };

/** Options of {@linkcode minimizeLbfgs}. */
export interface LbfgsOptions {
  /** Lower bounds (default -Infinity). */
  readonly lower?: ArrayLike<number>;
  /** Upper bounds (default +Infinity). */
  readonly upper?: ArrayLike<number>;
  /** Stop when the largest projected-gradient component is below this (default 1e-6). */
  readonly gradientTolerance?: number;
  /** Stop when a step improves the value by less than this times max(1, |value|) twice in a row (default 1e-13). */
  readonly valueTolerance?: number;
  /** Maximum iterations (default 200). */
  readonly maxIterations?: number;
  /** Number of correction pairs kept (default 8). */
  readonly memory?: number;
  /**
   * Largest change of any variable in one iteration (default Infinity). A cap keeps a
   * quasi-Newton step from leaping across a ridge onto a distant plateau of a multimodal or
   * saturating objective; the line search then starts from the capped step.
   */
  readonly maxStep?: number;
  /**
   * An estimate of the inverse Hessian's diagonal (each entry > 0), used for the first step and
   * after restarts, when no correction pairs are held; default: a unit-length steepest-descent
   * step. A good estimate (e.g. from the curvature at a nearby point) makes the first step a
   * Newton step.
   */
  readonly initialInverseDiagonal?: ArrayLike<number>;
}

/** The result of {@linkcode minimizeLbfgs}. */
export interface LbfgsResult {
  /** The minimiser found. */
  readonly x: Float64Array;
  /** The value there. */
  readonly value: number;
  /** The gradient there. */
  readonly gradient: Float64Array;
  /** Whether a stopping rule other than the iteration limit or a failed line search was met. */
  readonly converged: boolean;
  /** Iterations used. */
  readonly iterations: number;
  /** Objective evaluations used. */
  readonly evaluations: number;
  /** Indices of variables that ended on a bound. */
  readonly atBound: number[];
  /** Why it stopped. */
  readonly reason: string;
}

/**
 * Minimises `objective` from `x0`.
 *
 * @example
 * ```ts
 * import { minimizeLbfgs } from "./lbfgs.ts";
 * // Rosenbrock
 * const r = minimizeLbfgs((x) => ({
 *   value: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
 *   gradient: new Float64Array([
 *     -2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
 *     200 * (x[1] - x[0] ** 2),
 *   ]),
 * }), new Float64Array([-1.2, 1]));
 * console.assert(r.converged && Math.abs(r.x[0] - 1) < 1e-5);
 * ```
 */
export function minimizeLbfgs(
  objective: Objective,
  x0: ArrayLike<number>,
  options: LbfgsOptions = {},
): LbfgsResult {
  const n = x0.length;
  const lower = Float64Array.from({ length: n }, (_, i) => options.lower?.[i] ?? -Infinity);
  const upper = Float64Array.from({ length: n }, (_, i) => options.upper?.[i] ?? Infinity);
  const gtol = options.gradientTolerance ?? 1e-6;
  const ftol = options.valueTolerance ?? 1e-13;
  const maxIter = options.maxIterations ?? 200;
  const m = options.memory ?? 8;
  const maxStep = options.maxStep ?? Infinity;
  if (!(maxStep > 0)) throw new RangeError(`maxStep must be positive; got ${maxStep}.`);
  const clamp = (v: number, i: number) => Math.min(upper[i], Math.max(lower[i], v));
  let x = Float64Array.from(x0, clamp);
  let evaluations = 1;
  let { value: f, gradient: g } = objective(x);
  if (!Number.isFinite(f)) throw new RangeError(`Objective is ${f} at the starting point.`);
  const sHist: Float64Array[] = [];
  const yHist: Float64Array[] = [];
  let smallSteps = 0;
  let iter = 0;
  let reason = "iteration limit reached";
  let converged = false;
  const projected = (xv: Float64Array, gv: Float64Array) =>
    Float64Array.from(
      gv,
      (gi, i) => (xv[i] <= lower[i] && gi > 0) || (xv[i] >= upper[i] && gi < 0) ? 0 : gi,
    );
  for (; iter < maxIter; iter++) {
    const pg = projected(x, g);
    const pgMax = pg.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    if (pgMax < gtol) {
      converged = true;
      reason = "gradient below tolerance";
      break;
    }
    // Two-loop recursion on the free variables.
    const d = Float64Array.from(pg, (v) => -v);
    const alpha = new Float64Array(sHist.length);
    for (let j = sHist.length - 1; j >= 0; j--) {
      const rho = 1 / dot(yHist[j], sHist[j]);
      alpha[j] = rho * dot(sHist[j], d);
      axpy(-alpha[j], yHist[j], d);
    }
    if (sHist.length > 0) {
      const last = sHist.length - 1;
      const gamma = dot(sHist[last], yHist[last]) / dot(yHist[last], yHist[last]);
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let j = 0; j < sHist.length; j++) {
      const rho = 1 / dot(yHist[j], sHist[j]);
      const beta = rho * dot(yHist[j], d);
      axpy(alpha[j] - beta, sHist[j], d);
    }
    for (let i = 0; i < n; i++) if (pg[i] === 0) d[i] = 0;
    if (dot(d, pg) >= 0) {
      // Not a descent direction: restart from steepest descent.
      sHist.length = 0;
      yHist.length = 0;
      for (let i = 0; i < n; i++) d[i] = -pg[i];
    }
    const diag = options.initialInverseDiagonal;
    let step = 1;
    if (sHist.length === 0) {
      if (diag) { for (let i = 0; i < n; i++) d[i] *= diag[i] > 0 ? diag[i] : 1; }
      else step = Math.min(1, 1 / Math.max(pgMax, 1e-300));
    }
    const dMax = d.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    if (step * dMax > maxStep) step = maxStep / dMax;
    let accepted = false;
    let xNew = x;
    let fNew = f;
    let gNew = g;
    for (let ls = 0; ls < 60; ls++) {
      xNew = Float64Array.from(x, (xi, i) => clamp(xi + step * d[i], i));
      const r = objective(xNew);
      evaluations++;
      let decrease = 0;
      for (let i = 0; i < n; i++) decrease += g[i] * (xNew[i] - x[i]);
      if (Number.isFinite(r.value) && r.value <= f + 1e-4 * decrease) {
        fNew = r.value;
        gNew = r.gradient;
        accepted = true;
        break;
      }
      step *= Number.isFinite(r.value) ? 0.5 : 0.1;
    }
    if (!accepted) {
      reason = "line search failed";
      converged = pgMax < gtol * 1e3;
      break;
    }
    const s = Float64Array.from(xNew, (v, i) => v - x[i]);
    const y = Float64Array.from(gNew, (v, i) => v - g[i]);
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      sHist.push(s);
      yHist.push(y);
      if (sHist.length > m) {
        sHist.shift();
        yHist.shift();
      }
    }
    const improvement = f - fNew;
    x = xNew;
    f = fNew;
    g = gNew;
    if (improvement <= ftol * Math.max(1, Math.abs(f))) {
      if (++smallSteps >= 2) {
        converged = true;
        reason = "value change below tolerance";
        iter++;
        break;
      }
    } else {
      smallSteps = 0;
    }
  }
  const atBound: number[] = [];
  for (let i = 0; i < n; i++) if (x[i] <= lower[i] || x[i] >= upper[i]) atBound.push(i);
  return { x, value: f, gradient: g, converged, iterations: iter, evaluations, atBound, reason };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i];
}
