/**
 * Maximum-likelihood fit of any model given as a {@linkcode ModelObjective}: multi-start L-BFGS
 * on each parameter's working scale (log or logit), working bounds that are widened when an
 * estimate reaches one, a convergence claim that is checked, the mixture label-switching rule,
 * and profile-likelihood intervals for every parameter and for derived quantities.
 *
 * How a fit proceeds:
 * 1. Working bounds. Rates start within the range the tree can resolve
 *    ({@linkcode FitModelOptions.rateScale}, see `treeRateScale`), shapes within [0.01, 1000],
 *    probabilities, splits and error rates within logit ±23 of their domain (within 1e-10 of its
 *    ends, which is the domain end for every practical purpose).
 * 2. Starts: the objective's own (data-informed) starts, or else a default spread over two orders
 *    of magnitude of every rate; L-BFGS (analytic gradients, steps capped at a factor e^3) from each;
 *    the best is kept.
 * 3. Widening. A rate or shape on a working bound that is not its domain's end gets that bound
 *    moved 100-fold outward and the fit is repeated (up to three times per side). If the
 *    log-likelihood gains less than 0.01 from a widening, the direction is a plateau: the
 *    narrower fit is kept (its value is one the model reaches, evaluated where the likelihood is
 *    numerically reliable) and the parameter is reported unidentified.
 * 4. Verification. The Hessian on the working scale is taken by central differences of the
 *    analytic gradient; the fit counts as converged only if the Newton step predicts a gain
 *    below 1e-6 in log-likelihood over the free coordinates and short probes (one standard error
 *    and a factor e along each coordinate, both ways) find nothing higher. A probe that finds a
 *    higher point restarts the optimiser from there.
 * 5. Mixture classes are put in ascending order of turnover gain + loss (see
 *    `label_switching.ts`).
 * 6. Profile intervals {theta : 2 (l_hat - l_profile(theta)) <= chi2_1(level)} for every
 *    parameter (and each derived quantity), all other parameters re-maximised (see
 *    `profile_interval.ts`). A profile that finds a point above the maximum restarts the fit from
 *    it.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { ParameterKind, ParameterSpec } from "../model/description.ts";
import { chiSquareQuantile } from "./chi_square.ts";
import { presenceQuantities } from "./derived.ts";
import { relabelMixture } from "./label_switching.ts";
import { minimizeLbfgs } from "./lbfgs.ts";
import {
  type LikelihoodObjective,
  type ModelObjective,
  modelObjective,
  type RateScale,
} from "./objective.ts";
import { invertNegativeDefinite, profileEnd, type ProfileObjective } from "./profile_interval.ts";

/** A two-sided interval. */
export type Interval = readonly [number, number];

/**
 * A quantity computed from the parameters whose profile interval is wanted (e.g. pi1 of the null
 * model), given by profiling coordinates: a one-to-one smooth map between coordinates `y` (with
 * `y[0]` the quantity on some unconstrained scale) and the fitter's working coordinates `x`.
 */
export interface DerivedQuantity {
  /** Name in the fit's parameter list. */
  readonly name: string;
  /** Working coordinates from profiling coordinates. */
  toWorking(y: Float64Array): Float64Array;
  /** Profiling coordinates from working coordinates. */
  fromWorking(x: Float64Array): Float64Array;
  /** Jacobian dx/dy at y, as rows: `jacobian(y)[i][j] = d x_i / d y_j`. */
  jacobian(y: Float64Array): Float64Array[];
  /** The natural value of the quantity from `y[0]`. */
  natural(theta: number): number;
  /** Bounds of the profiling coordinates, given the working bounds of `x`. */
  bounds(lower: Float64Array, upper: Float64Array): { lower: number[]; upper: number[] };
}

/** Options of {@linkcode fitModel}. */
export interface FitModelOptions {
  /**
   * The range of rates the data can resolve (default the objective's `rateScale`, else lower
   * 1e-6, upper 1e4, typical 1).
   */
  readonly rateScale?: RateScale;
  /** Starting points on the natural scale; replace the objective's and the default ones. */
  readonly starts?: readonly ArrayLike<number>[];
  /** Confidence level of the profile intervals (default 0.95); `null` skips them. */
  readonly level?: number | null;
  /** Parameters to profile (default all). */
  readonly profile?: readonly string[];
  /** Derived quantities to profile as well. */
  readonly derived?: readonly DerivedQuantity[];
  /** Apply the mixture label-switching rule (default true). */
  readonly relabel?: boolean;
  /** Called after each likelihood evaluation with the stage and the count so far. */
  readonly onEvaluation?: (stage: string, evaluations: number) => void;
}

/** One parameter (or derived quantity) of a fit. */
export interface ParameterEstimate {
  /** The name. */
  readonly name: string;
  /** Its kind (`derived` for a derived quantity). */
  readonly kind: ParameterKind | "derived";
  /** The maximum-likelihood estimate, natural scale. */
  readonly estimate: number;
  /** The profile interval at the fit's level, or null when intervals were skipped. */
  readonly interval: Interval | null;
  /**
   * Whether each end of the interval is open: the profile stays above the cut-off up to the
   * working bound, so the interval reaches at least that far (to the domain end, for
   * probabilities, splits and error rates).
   */
  readonly open: readonly [boolean, boolean];
  /** The estimate sits on its lower or upper working bound (for logit scales: its domain end). */
  readonly boundary: "lower" | "upper" | null;
  /** False when the data do not identify the parameter (plateau or interval open both ways). */
  readonly identified: boolean;
}

/** The result of {@linkcode fitModel}. */
export interface ModelFit {
  /** The model's parameters in objective order, then the derived quantities. */
  readonly parameters: readonly ParameterEstimate[];
  /** The same, by name. */
  readonly byName: Readonly<Record<string, ParameterEstimate>>;
  /** The estimates on the natural scale, objective order. */
  readonly values: Float64Array;
  /** The maximised log-likelihood (evaluated at `values`). */
  readonly logLik: number;
  /** Number of free parameters. */
  readonly nParams: number;
  /** Number of families. */
  readonly nObservations: number;
  /** Akaike's criterion 2k - 2 logLik. */
  readonly aic: number;
  /** Schwarz's criterion k log(n) - 2 logLik. */
  readonly bic: number;
  /** Level of the intervals, or null. */
  readonly level: number | null;
  /** Whether the checked convergence rule holds (see the module documentation). */
  readonly converged: boolean;
  /** Optimiser iterations, over all starts and restarts. */
  readonly iterations: number;
  /** Likelihood evaluations, profiles included. */
  readonly evaluations: number;
  /** Boundary estimates, open intervals, unidentified parameters, non-convergence. */
  readonly warnings: string[];
  /** d2 logLik / dx2 on the working scale at the estimate (rows). */
  readonly hessian: Float64Array[];
}

const LOGIT_LIMIT = 23;
const EFFECT_LIMIT = 12;
const WIDEN = Math.log(100);
const MAX_WIDENINGS = 3;
const PLATEAU_GAIN = 0.01;
/**
 * A gain in log-likelihood below 1e-6 (plus the rounding of a sum of that size, 1e-12
 * relative) is no evidence of a better point.
 */
const tolerance = (logLik: number) => 1e-6 + 1e-12 * Math.abs(logLik);

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** Natural value from a working value, and d natural / d working. */
function toNatural(spec: ParameterSpec, x: number): { v: number; dv: number } {
  if (spec.transform === "identity") return { v: x, dv: 1 };
  if (spec.transform === "log") {
    const v = Math.exp(x);
    return { v, dv: v };
  }
  // The domain is open: far out on the working scale, p stays strictly inside (0, 1) instead of
  // rounding to an end the model refuses.
  const p = Math.min(1 - 2 ** -53, Math.max(Number.MIN_VALUE, sigmoid(x)));
  const range = spec.upper - spec.lower;
  return { v: spec.lower + range * p, dv: range * p * (1 - p) };
}

function toWorkingValue(spec: ParameterSpec, v: number): number {
  if (spec.transform === "identity") return v;
  if (spec.transform === "log") return Math.log(v);
  return Math.log((v - spec.lower) / (spec.upper - v));
}

/**
 * Fits a model by maximum likelihood (see the module documentation for the procedure).
 *
 * @example
 * ```ts
 * import { fitModel } from "./fit_model.ts";
 * import type { ModelObjective } from "./objective.ts";
 * // Poisson counts with mean `rate`: 10 observations summing to 37 give rate 3.7.
 * const objective: ModelObjective = {
 *   parameters: [{ name: "rate", description: "mean", kind: "rate", units: "", lower: 0,
 *     upper: Infinity, transform: "log" }],
 *   nObservations: 10,
 *   evaluate: (v) => ({ logLik: 37 * Math.log(v[0]) - 10 * v[0], gradient: new Float64Array([37 / v[0] - 10]) }),
 * };
 * const fit = fitModel(objective);
 * console.assert(Math.abs(fit.byName.rate.estimate - 3.7) < 1e-6 && fit.converged);
 * ```
 */
export function fitModel(objective: ModelObjective, options: FitModelOptions = {}): ModelFit {
  const specs = objective.parameters;
  const n = specs.length;
  if (n === 0) throw new GenecontentError("The model has no free parameters to fit.");
  const scale = 1 / Math.max(1, objective.nObservations);
  const rateScale = options.rateScale ?? objective.rateScale ??
    { lower: 1e-6, upper: 1e4, typical: 1 };
  if (!(rateScale.lower > 0 && rateScale.upper > rateScale.lower)) {
    throw new GenecontentError(
      `Rate range [${rateScale.lower}, ${rateScale.upper}] is not a positive interval.`,
    );
  }
  const warnings: string[] = [];
  let evaluations = 0;
  let iterations = 0;

  // 1. Working bounds.
  const lower = new Float64Array(n);
  const upper = new Float64Array(n);
  const widenable = new Array<boolean>(n);
  specs.forEach((s, i) => {
    if (s.transform === "logit") {
      lower[i] = -LOGIT_LIMIT;
      upper[i] = LOGIT_LIMIT;
      widenable[i] = false;
    } else if (s.transform === "identity") {
      // A log multiplier: exp(+-12) is a 1.6e5-fold change, widened when reached.
      lower[i] = -EFFECT_LIMIT;
      upper[i] = EFFECT_LIMIT;
      widenable[i] = true;
    } else if (s.kind === "rate") {
      lower[i] = Math.log(rateScale.lower);
      upper[i] = Math.log(rateScale.upper);
      widenable[i] = true;
    } else {
      lower[i] = Math.log(1e-2);
      upper[i] = Math.log(1e3);
      widenable[i] = true;
    }
  });
  const widenings = [new Array<number>(n).fill(0), new Array<number>(n).fill(0)];
  const plateau = [new Array<boolean>(n).fill(false), new Array<boolean>(n).fill(false)];

  const natural = (x: Float64Array) => Float64Array.from(x, (xi, i) => toNatural(specs[i], xi).v);
  const working = (v: ArrayLike<number>) =>
    Float64Array.from({ length: n }, (_, i) => toWorkingValue(specs[i], v[i]));
  let stage = "fit";
  /** logLik and its gradient on the working scale. */
  const evaluate = (x: Float64Array): { logLik: number; gradient: Float64Array } => {
    const v = new Float64Array(n);
    const dv = new Float64Array(n);
    for (let i = 0; i < n; i++) ({ v: v[i], dv: dv[i] } = toNatural(specs[i], x[i]));
    const r = objective.evaluate(v, true);
    evaluations++;
    options.onEvaluation?.(stage, evaluations);
    if (!r.gradient || r.gradient.length !== n) {
      throw new GenecontentError(
        `The objective returned ${
          r.gradient ? `${r.gradient.length} gradient entries` : "no gradient"
        } for ${n} parameters.`,
      );
    }
    return { logLik: r.logLik, gradient: Float64Array.from(r.gradient, (g, i) => g * dv[i]) };
  };
  const minimise = (x0: ArrayLike<number>) => {
    const r = minimizeLbfgs(
      (x) => {
        const e = evaluate(x);
        return {
          value: -e.logLik * scale,
          gradient: Float64Array.from(e.gradient, (g) => -g * scale),
        };
      },
      x0,
      { lower, upper, gradientTolerance: 1e-9, maxIterations: 500, maxStep: 3 },
    );
    iterations += r.iterations;
    return { x: r.x, logLik: -r.value / scale, converged: r.converged, reason: r.reason };
  };
  const relabel = (x: Float64Array) =>
    options.relabel === false ? x : working(relabelMixture(specs, natural(x)).values);

  // 2. Starts.
  const starts: Float64Array[] = options.starts
    ? options.starts.map((s) => Float64Array.from(s))
    : (objective.starts?.() ?? defaultStarts(specs, rateScale.typical));
  if (starts.length === 0) throw new GenecontentError("No starting point to fit from.");
  let best: ReturnType<typeof minimise> | null = null;
  const failures: string[] = [];
  for (const s of starts) {
    if (s.length !== n) {
      throw new GenecontentError(`A starting point has ${s.length} values for ${n} parameters.`);
    }
    const x0 = Float64Array.from(working(s), (x, i) => Math.min(upper[i], Math.max(lower[i], x)));
    try {
      const r = minimise(x0);
      if (Number.isFinite(r.logLik) && (!best || r.logLik > best.logLik)) best = r;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      failures.push(`[${Array.from(s, (v) => v.toPrecision(3)).join(", ")}]`);
    }
  }
  if (!best) {
    throw new GenecontentError(
      `The log-likelihood is not finite at any starting point (${failures.join("; ")}): check ` +
        "that the data are compatible with the model.",
    );
  }

  // 3. Widening of working bounds an estimate reaches.
  for (let round = 0; round < 2 * n * MAX_WIDENINGS; round++) {
    const side = (i: number) => best!.x[i] <= lower[i] ? 0 : best!.x[i] >= upper[i] ? 1 : -1;
    const i = specs.findIndex((_, j) => {
      const sd = side(j);
      return widenable[j] && sd >= 0 && !plateau[sd][j] && widenings[sd][j] < MAX_WIDENINGS;
    });
    if (i < 0) break;
    const sd = side(i);
    const saved = sd === 0 ? lower[i] : upper[i];
    if (sd === 0) lower[i] -= WIDEN;
    else upper[i] += WIDEN;
    widenings[sd][i]++;
    const r = minimise(best.x);
    if (r.logLik - best.logLik < PLATEAU_GAIN) {
      // A plateau: keep the narrower fit and bound.
      if (sd === 0) lower[i] = saved;
      else upper[i] = saved;
      plateau[sd][i] = true;
    } else {
      best = r;
    }
  }

  // 4. Verification, with restarts from better points found by probes or profiles.
  let x = relabel(best.x);
  let logLik = evaluate(x).logLik;
  let lbfgsConverged = best.converged;
  let lbfgsReason = best.reason;
  let hessian: Float64Array[] = [];
  let verified = false;
  let predictedGain = NaN;
  const restart = (from: Float64Array) => {
    const r = minimise(from);
    if (r.logLik > logLik) {
      x = relabel(r.x);
      logLik = evaluate(x).logLik;
      lbfgsConverged = r.converged;
      lbfgsReason = r.reason;
      return true;
    }
    return false;
  };
  for (let round = 0; round < 4 && !verified; round++) {
    stage = "curvature";
    const check = verify(evaluate, x, logLik, lower, upper);
    hessian = check.hessian;
    predictedGain = check.predictedGain;
    stage = "fit";
    if (check.better && check.better.logLik > logLik + tolerance(logLik)) {
      if (!restart(check.better.x)) {
        x = relabel(check.better.x);
        logLik = check.better.logLik;
      }
      continue;
    }
    verified = predictedGain < tolerance(logLik);
    if (!verified) {
      if (!restart(x)) break;
    }
  }
  const converged = lbfgsConverged && verified;
  if (!converged) {
    warnings.push(
      `The fit did not converge (${
        lbfgsConverged ? `predicted further gain ${predictedGain.toExponential(2)}` : lbfgsReason
      }): the estimates may not be the maximum.`,
    );
  }

  // 6. Profiles.
  const level = options.level === undefined ? 0.95 : options.level;
  if (level !== null && !(level > 0 && level < 1)) {
    throw new GenecontentError(`Confidence level must be between 0 and 1; got ${level}.`);
  }
  const profileNames = options.profile ?? specs.map((s) => s.name);
  for (const name of profileNames) {
    if (!specs.some((s) => s.name === name)) {
      throw new GenecontentError(
        `Cannot profile '${name}': the model's parameters are ${
          specs.map((s) => s.name).join(", ")
        }.`,
      );
    }
  }
  const derived = options.derived ?? [];
  let intervals = new Map<string, { interval: Interval; open: [boolean, boolean] }>();
  if (level !== null) {
    const drop = chiSquareQuantile(level, 1) / 2;
    for (let round = 0; round < 3; round++) {
      intervals = new Map();
      let better: { logLik: number; x: Float64Array } | null = null;
      const note = (ll: number, xv: Float64Array) => {
        if (ll > logLik + tolerance(logLik) && (!better || ll > better.logLik)) {
          better = { logLik: ll, x: xv };
        }
      };
      for (const name of profileNames) {
        const k = specs.findIndex((s) => s.name === name);
        stage = `profile ${name}`;
        const problem = {
          objective: evaluate as ProfileObjective,
          index: k,
          yHat: x,
          maxLogLik: logLik,
          drop,
          hessian,
          lower,
          upper,
          scale,
        };
        const ends = [profileEnd(problem, -1), profileEnd(problem, 1)];
        for (const e of ends) note(e.highest.logLik, e.highest.y);
        // An open end of a logit-scale parameter is its domain's end (the working bound is
        // within 1e-10 of it).
        const endValue = (e: (typeof ends)[number], side: 0 | 1) =>
          e.open && !widenable[k]
            ? (side === 0 ? specs[k].lower : specs[k].upper)
            : toNatural(specs[k], e.theta).v;
        intervals.set(name, {
          interval: [endValue(ends[0], 0), endValue(ends[1], 1)],
          open: [ends[0].open, ends[1].open],
        });
      }
      for (const d of derived) {
        stage = `profile ${d.name}`;
        const y = d.fromWorking(x);
        const J = d.jacobian(y);
        const hy = Array.from({ length: n }, (_, a) =>
          Float64Array.from({ length: n }, (_, b) => {
            let s = 0;
            for (let i = 0; i < n; i++) {
              for (let j = 0; j < n; j++) s += J[i][a] * hessian[i][j] * J[j][b];
            }
            return s;
          }));
        const objectiveY: ProfileObjective = (yv) => {
          const xv = d.toWorking(yv);
          const e = evaluate(xv);
          const Jy = d.jacobian(yv);
          const g = Float64Array.from({ length: n }, (_, a) => {
            let s = 0;
            for (let i = 0; i < n; i++) s += Jy[i][a] * e.gradient[i];
            return s;
          });
          return { logLik: e.logLik, gradient: g };
        };
        const b = d.bounds(lower, upper);
        const problem = {
          objective: objectiveY,
          index: 0,
          yHat: y,
          maxLogLik: logLik,
          drop,
          hessian: hy,
          lower: b.lower,
          upper: b.upper,
          scale,
        };
        const ends = [profileEnd(problem, -1), profileEnd(problem, 1)];
        for (const e of ends) note(e.highest.logLik, d.toWorking(e.highest.y));
        intervals.set(d.name, {
          interval: [d.natural(ends[0].theta), d.natural(ends[1].theta)],
          open: [ends[0].open, ends[1].open],
        });
      }
      if (!better) break;
      // A profile found a higher point: the fit moves there and the profiles are redone.
      stage = "fit";
      const found = better as { logLik: number; x: Float64Array };
      if (!restart(found.x)) {
        x = relabel(found.x);
        logLik = evaluate(x).logLik;
      }
      stage = "curvature";
      hessian = verify(evaluate, x, logLik, lower, upper).hessian;
      if (round === 2) {
        warnings.push("Profiling kept finding higher points than the fit: the maximum is unsure.");
      }
    }
  }

  // Results and warnings.
  const values = natural(x);
  const parameters: ParameterEstimate[] = [];
  specs.forEach((s, i) => {
    const boundary = x[i] <= lower[i] ? "lower" : x[i] >= upper[i] ? "upper" : null;
    const iv = intervals.get(s.name);
    const sideIndex = boundary === "lower" ? 0 : 1;
    const onPlateau = boundary !== null && widenable[i] && plateau[sideIndex][i];
    const onWidenedEdge = boundary !== null && widenable[i] && !plateau[sideIndex][i];
    const bothOpen = iv !== undefined && iv.open[0] && iv.open[1];
    const identified = !onPlateau && !onWidenedEdge && !bothOpen;
    const value = values[i];
    if (boundary !== null && !widenable[i]) {
      const end = boundary === "lower" ? s.lower : s.upper;
      warnings.push(
        `The estimate of ${s.name} is on the boundary of its domain (${s.name} = ${end}, to ` +
          `within ${Math.abs(value - end).toExponential(1)}).`,
      );
    } else if (onPlateau) {
      warnings.push(
        `The data do not identify ${s.name}: the log-likelihood rises by less than ` +
          `${PLATEAU_GAIN} as ${s.name} goes ${
            boundary === "lower" ? "towards 0" : "to infinity"
          } ` +
          `beyond ${value.toExponential(3)}, where it is reported (its supremum is approached, ` +
          "not reached).",
      );
    } else if (onWidenedEdge) {
      warnings.push(
        `The data do not identify ${s.name}: the log-likelihood still rises as ${s.name} goes ` +
          `${boundary === "lower" ? "towards 0" : "to infinity"}; stopped at ` +
          `${value.toExponential(3)}.`,
      );
    }
    if (iv && level !== null) pushOpenWarnings(warnings, s.name, level, iv, boundary, bothOpen);
    parameters.push({
      name: s.name,
      kind: s.kind,
      estimate: value,
      interval: iv?.interval ?? null,
      open: iv?.open ?? [false, false],
      boundary,
      identified,
    });
  });
  for (const d of derived) {
    const iv = intervals.get(d.name)!;
    const y = d.fromWorking(x);
    const b = d.bounds(lower, upper);
    const boundary = y[0] <= b.lower[0] ? "lower" : y[0] >= b.upper[0] ? "upper" : null;
    const bothOpen = iv !== undefined && iv.open[0] && iv.open[1];
    if (iv && level !== null) pushOpenWarnings(warnings, d.name, level, iv, boundary, bothOpen);
    parameters.push({
      name: d.name,
      kind: "derived",
      estimate: d.natural(y[0]),
      interval: iv?.interval ?? null,
      open: iv?.open ?? [false, false],
      boundary,
      identified: !bothOpen,
    });
  }
  const byName: Record<string, ParameterEstimate> = {};
  for (const p of parameters) byName[p.name] = p;
  const k = n;
  return {
    parameters,
    byName,
    values,
    logLik,
    nParams: k,
    nObservations: objective.nObservations,
    aic: 2 * k - 2 * logLik,
    bic: k * Math.log(objective.nObservations) - 2 * logLik,
    level,
    converged,
    iterations,
    evaluations,
    warnings,
    hessian,
  };
}

function pushOpenWarnings(
  warnings: string[],
  name: string,
  level: number,
  iv: { interval: Interval; open: readonly [boolean, boolean] },
  boundary: "lower" | "upper" | null,
  bothOpen: boolean,
): void {
  const pct = `${+(level * 100).toPrecision(6)}%`;
  if (bothOpen) {
    warnings.push(
      `The ${pct} interval of ${name} is open at both ends: the profile log-likelihood stays ` +
        `above the cut-off from ${iv.interval[0].toExponential(3)} to ` +
        `${iv.interval[1].toExponential(3)}: the data do not identify ${name}.`,
    );
    return;
  }
  iv.open.forEach((open, side) => {
    // An end at the estimate's own boundary is already reported with the estimate.
    if (!open || (boundary === (side === 0 ? "lower" : "upper"))) return;
    warnings.push(
      `The ${pct} interval of ${name} is open ${side === 0 ? "below" : "above"}: the profile ` +
        `log-likelihood stays above the cut-off up to ${
          iv.interval[side].toExponential(3)
        }, the end of the range searched.`,
    );
  });
}

/** Default starts: rates at the typical scale and spread 10-fold both ways. */
function defaultStarts(specs: readonly ParameterSpec[], typical: number): Float64Array[] {
  const nSplits = specs.filter((s) => s.kind === "split").length;
  const classOf = specs.map((s) => {
    const m = s.kind === "rate" ? /(\d+)$/.exec(s.name) : null;
    return m ? Number(m[1]) : 0;
  });
  const nClasses = nSplits + 1;
  let split = 0;
  const base = specs.map((s, i) => {
    switch (s.kind) {
      case "rate": {
        // Mixture classes start apart (4-fold steps) so the optimiser can separate them.
        const spread = nClasses > 1 && classOf[i] > 0 ? 4 ** (classOf[i] - (nClasses + 1) / 2) : 1;
        return (/^gain/.test(s.name) ? 0.3 : 1) * typical * spread;
      }
      case "shape":
        return 1;
      case "split":
        return 1 / (nClasses - split++);
      case "probability":
        return 0.1;
      case "error":
        return s.lower + 0.01 * (s.upper - s.lower);
      case "effect":
        return 0;
    }
  });
  return [1, 0.1, 10].map((f) =>
    Float64Array.from(base, (v, i) => (specs[i].kind === "rate" ? v * f : v))
  );
}

/**
 * The Hessian by central differences of the gradient (step 1e-4 on the working scale: truncation
 * error ~1e-8 relative, ample for a Newton check and Wald steps), the Newton step's predicted
 * gain over the free coordinates, and the best of the probes around `x`.
 */
function verify(
  evaluate: (x: Float64Array) => { logLik: number; gradient: Float64Array },
  x: Float64Array,
  logLik: number,
  lower: Float64Array,
  upper: Float64Array,
): {
  hessian: Float64Array[];
  predictedGain: number;
  better: { logLik: number; x: Float64Array } | null;
} {
  const n = x.length;
  const step = 1e-4;
  const g0 = evaluate(x).gradient;
  const cols: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const up = Float64Array.from(x);
    const dn = Float64Array.from(x);
    up[j] += step;
    dn[j] -= step;
    const gu = evaluate(up).gradient;
    const gd = evaluate(dn).gradient;
    cols.push(Float64Array.from(gu, (v, i) => (v - gd[i]) / (2 * step)));
  }
  const hessian = Array.from(
    { length: n },
    (_, i) => Float64Array.from({ length: n }, (_, j) => (cols[j][i] + cols[i][j]) / 2),
  );
  // Free coordinates: not held on a bound by a gradient pushing outward.
  const free: number[] = [];
  for (let i = 0; i < n; i++) {
    const held = (x[i] <= lower[i] && g0[i] < 0) || (x[i] >= upper[i] && g0[i] > 0);
    if (!held) free.push(i);
  }
  let predictedGain = 0;
  if (free.length > 0) {
    const hf = free.map((i) => Float64Array.from(free, (j) => hessian[i][j]));
    const inv = invertNegativeDefinite(hf);
    if (inv) {
      // Newton: gain = -0.5 g' H^-1 g.
      const m = free.length;
      for (let a = 0; a < m; a++) {
        for (let b = 0; b < m; b++) {
          predictedGain -= 0.5 * g0[free[a]] * inv[a * m + b] * g0[free[b]];
        }
      }
    } else {
      // Not negative definite (a flat or saddle direction): each coordinate's own quadratic
      // gain, with the curvature floored at the data's per-unit scale.
      for (const i of free) {
        const c = Math.max(Math.abs(hessian[i][i]), 1e-8);
        predictedGain += (g0[i] * g0[i]) / (2 * c);
      }
    }
  }
  let better: { logLik: number; x: Float64Array } | null = null;
  for (let i = 0; i < n; i++) {
    const se = hessian[i][i] < 0 ? 1 / Math.sqrt(-hessian[i][i]) : 1;
    for (const d of [Math.min(1, Math.max(1e-3, se)), 1]) {
      for (const sign of [-1, 1]) {
        const p = Float64Array.from(x);
        p[i] = Math.min(upper[i], Math.max(lower[i], x[i] + sign * d));
        if (p[i] === x[i]) continue;
        const v = evaluate(p).logLik;
        if (v > logLik && (!better || v > better.logLik)) better = { logLik: v, x: p };
      }
    }
  }
  return { hessian, predictedGain, better };
}

/**
 * Fits a model likelihood (e.g. `ModelLikelihood`) with its data-informed starts and working
 * bounds from its tree's scale; `options` as for {@linkcode fitModel}, with the pi1 quantities
 * (`pi1`, or `pi1_c` per mixture class, see `derived.ts`) profiled unless `derived` is given.
 *
 * @example
 * ```ts
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { fitModelLikelihood } from "./fit_model.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.3, 0.2, 0.5, 0.1, 0]);
 * const rows = Uint8Array.of(1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1);
 * using lik = new ModelLikelihood(tree, compressPatterns(rows, 5, 3, ["a", "b", "c", "d", "e"]),
 *   tsBackendFactory, parseModel("null"));
 * const fit = fitModelLikelihood(lik, { level: null });
 * console.assert(fit.nParams === 2 && fit.byName.pi1.estimate > 0);
 * ```
 */
export function fitModelLikelihood(
  lik: LikelihoodObjective,
  options: FitModelOptions = {},
): ModelFit {
  return fitModel(modelObjective(lik), {
    ...options,
    derived: options.derived ?? presenceQuantities(lik.parameters),
  });
}
