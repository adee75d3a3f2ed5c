/**
 * The per-family screen: for every family, the likelihood-ratio test of its own multiplier
 * exp(theta) on one rate (loss or gain, on every branch and on the root prior) against a fitted
 * background model, with the estimate, its profile-likelihood interval, the asymptotic p-value,
 * a p-value calibrated on families simulated under the background, and Benjamini-Hochberg
 * q-values.
 *
 * The background's parameters are held at their fitted values: family f's log-likelihood
 * l_f(theta) is the corrected log-likelihood of its column alone when its `channel` rate is
 * multiplied by exp(theta) in every component of the background (the invariant class and the
 * annotation-error pendant branches are unaffected, as in `lib/model/effects.ts`), and
 *
 *     LRT_f = 2 (max over |theta| <= B of l_f(theta) - l_f(0)),    B = THETA_BOUND = 12.
 *
 * Families with the same column have the same curve: every distinct pattern is optimised once
 * and reported for each of its families.
 *
 * ## The optimiser
 *
 * The primitive is `familyCurves` (`ModelLikelihood`): many patterns at a shared list of thetas,
 * with d/d theta, in one backend call. A call with T thetas on n patterns costs about n T
 * pattern evaluations plus a fixed overhead, so the screen uses few calls:
 *
 * 1. every pattern at the coarse grid theta = -B, -B + 1, ..., B ({@linkcode COARSE_STEP}: 25
 *    points, 0 among them, so l_f(0) is exact) in one call;
 * 2. per pattern, the maximum of the piecewise cubic Hermite interpolant of (l, dl) over the
 *    samples (global over the samples: the best sample and the stationary points of the cubics
 *    on its two intervals); if the best sample is at a bound with the slope pointing outwards,
 *    the estimate is the bound (`atBound`, the interval open on that side) and the maximum is
 *    the exact value there;
 * 3. every pattern keeps all its samples (value and slope at each theta evaluated for it). In
 *    rounds, the maximum and the two ends of the profile interval
 *    {theta : 2 (l-hat - l(theta)) <= chi2_1(level)} (its hull: the outermost sample at or above
 *    l-hat - cut on each side and the next one outwards bracket an end) are located on the
 *    interpolant of the samples;
 *    each one whose bracketing samples are more than {@linkcode LOCAL_SPACING} apart asks for
 *    its estimate's bin (width {@linkcode BIN_WIDTH}) to be sampled, and the requests of a
 *    round are evaluated together, one call per bin, on the bin's local grid of spacing
 *    LOCAL_SPACING (7 points: the bin and a point of margin on each side). When every estimate
 *    is bracketed at that spacing, theta-hat and l-hat are the maximum of the local Hermite
 *    cubics (value error about h^4 / 384 max|l''''|, h = 0.025: below 1e-9 for the curvatures
 *    of real columns) and the ends are the cubics' crossings of l-hat - cut; an end that stays
 *    above the cut up to the bound is open and reported at the bound. About 46 pattern
 *    evaluations per distinct column in all.
 *
 * The LRT of every family is checked against an independent one-dimensional optimisation
 * (a scan and golden-section search on that family alone, `tests/screen_test.ts`,
 * `scripts/bench_screen.ts`).
 *
 * ## Calibration
 *
 * For a rare family the chi-squared reference is poor (few distinct columns, the boundary of
 * what a handful of present genomes can show). With `calibration: N`, N null families are
 * simulated under the fitted background on the same tree and window (each simulated family
 * takes the missing cells of a real family drawn at random, and is kept only if its recorded
 * present count is inside the window), screened by the same code, and each real family gets the
 * empirical p-value
 *
 *     p = (1 + #{null LRT >= LRT_f - 1e-6}) / (1 + N_pool)
 *
 * among the simulated families of its prevalence pool: those of its prevalence class with the
 * same present count, or, when fewer than {@linkcode MIN_POOL} simulated families have it, those
 * whose present count is within d of it, d the smallest distance giving at least MIN_POOL but at
 * most {@linkcode MAX_WIDEN} (the tolerance 1e-6 is the precision of the LRTs, so that a real
 * family and a simulated one with the same column tie).
 * The empirical p-value cannot go below 1 / (1 + N_pool), far above what a screen of thousands
 * of families needs for a discovery; where fewer than {@linkcode TAIL_COUNT} null LRTs of the
 * pool reach a family's, its p-value is the chi-squared tail anchored at the pool's
 * TAIL_COUNT-th largest null LRT (see {@linkcode calibratedPValues}). q-values are computed from
 * the calibrated p-values.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { chiSquareQuantile, chiSquareSurvival } from "../fit/chi_square.ts";
import { familyCounts } from "../likelihood/per_family.ts";
import {
  type Ascertainment,
  type ModelDescription,
  modelParameters,
} from "../model/description.ts";
import { compressPatterns, type SitePatterns } from "../pam/patterns.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import { simulateModel } from "../simulate/model.ts";
import { Random } from "../simulate/random.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import {
  SCREEN_CLASSES,
  type ScreenClass,
  screenClass,
} from "../diagnostics/prevalence_classes.ts";
import { benjaminiHochberg } from "./fdr.ts";

/** Which rate a family's own multiplier acts on. */
export type ScreenChannel = "gain" | "loss";

/** |theta| is bounded by this in the screen: estimates beyond it are reported at the bound. */
export const THETA_BOUND = 12;
/** Width of the bins of estimates that are evaluated together on one local grid. */
export const BIN_WIDTH = 0.1;
/** Spacing of the coarse grid every pattern is first evaluated on (divides THETA_BOUND). */
export const COARSE_STEP = 1;
/** Spacing of the local grids the estimates are refined on. */
export const LOCAL_SPACING = 0.025;
/** Simulated families a prevalence pool of the calibration is widened towards. */
export const MIN_POOL = 200;
/**
 * Most present counts a pool is widened by on either side towards MIN_POOL (beyond, only until
 * it holds TAIL_COUNT families): near-core families pooled with counts further off were
 * miscalibrated (validation/calibration.md).
 */
export const MAX_WIDEN = 2;
/** Default number of simulated null families for the calibration. */
export const DEFAULT_CALIBRATION = 10000;
/** Fewest null LRTs above a family's for its empirical p-value (beyond: the anchored tail). */
export const TAIL_COUNT = 10;
/** LRTs closer than this count as tied in the calibration (the precision of the LRTs). */
const LRT_TIE = 1e-6;
/** Most refinement rounds before a pattern is reported as not converged. */
const MAX_ROUNDS = 30;

/** Log-likelihood curves of patterns at shared thetas, `[t * nEval + i]`. */
export interface CurveValues {
  /** Corrected log-likelihood of pattern i (one family with that column) at theta t. */
  readonly logLik: Float64Array;
  /** d logLik / d theta, when asked for. */
  readonly dTheta?: Float64Array;
}

/**
 * What the screen evaluates: `ModelLikelihood.familyCurves` (or any implementation of the same
 * contract: strictly increasing pattern indices, results `[t * nEval + i]`).
 */
export interface FamilyCurveSource {
  /** The curves of `patternIndices` at `thetas` on `channel`, the background at its values. */
  familyCurves(
    patternIndices: Uint32Array,
    channel: ScreenChannel,
    thetas: Float64Array,
    backgroundValues: Float64Array,
    gradient: boolean,
  ): CurveValues;
}

/** Options of {@linkcode screenPatterns}. */
export interface ScreenPatternOptions {
  /** Level of the profile intervals (default 0.95); null: no intervals. */
  readonly level?: number | null;
  /** Called after each backend call with the number of calls so far. */
  readonly onCall?: (calls: number) => void;
}

/** Per-pattern results of {@linkcode screenPatterns}, in the order of the listed patterns. */
export interface PatternScreen {
  /** theta-hat (at +-THETA_BOUND when the maximum is at the bound). */
  readonly theta: Float64Array;
  /** Lower end of the profile interval (-THETA_BOUND when open below); NaN without intervals. */
  readonly low: Float64Array;
  /** Upper end of the profile interval (THETA_BOUND when open above); NaN without intervals. */
  readonly high: Float64Array;
  /** 1 where the interval reaches -THETA_BOUND (open below). */
  readonly openLow: Uint8Array;
  /** 1 where the interval reaches THETA_BOUND (open above). */
  readonly openHigh: Uint8Array;
  /** -1 / 1 where theta-hat is at the lower / upper bound, else 0. */
  readonly atBound: Int8Array;
  /** l(0): the family's log-likelihood under the background. */
  readonly logLikNull: Float64Array;
  /** l(theta-hat). */
  readonly logLikAlt: Float64Array;
  /** 2 (l(theta-hat) - l(0)), >= 0. */
  readonly lrt: Float64Array;
  /** Number of backend calls made. */
  readonly calls: number;
  /** Pattern-theta evaluations made (patterns times thetas, summed over the calls). */
  readonly evaluations: number;
}

/** Cubic Hermite interpolant on [a, a + h] of values f0, f1 and slopes d0, d1, at x. */
function hermite(a: number, h: number, f0: number, f1: number, d0: number, d1: number, x: number) {
  const s = (x - a) / h;
  const s2 = s * s, s3 = s2 * s;
  return (2 * s3 - 3 * s2 + 1) * f0 + (s3 - 2 * s2 + s) * h * d0 + (-2 * s3 + 3 * s2) * f1 +
    (s3 - s2) * h * d1;
}

/**
 * The maximum of the Hermite cubic on [a, a + h]: the better endpoint or interior stationary
 * point with negative curvature.
 */
function hermiteMax(
  a: number,
  h: number,
  f0: number,
  f1: number,
  d0: number,
  d1: number,
): { x: number; value: number } {
  let bx = f0 >= f1 ? a : a + h;
  let bv = Math.max(f0, f1);
  // Slope * h as a quadratic A s^2 + B s + C in s.
  const A = 6 * f0 + 3 * h * d0 - 6 * f1 + 3 * h * d1;
  const B = -6 * f0 - 4 * h * d0 + 6 * f1 - 2 * h * d1;
  const C = h * d0;
  const roots: number[] = [];
  if (Math.abs(A) < 1e-300 || Math.abs(A) < 1e-12 * (Math.abs(B) + Math.abs(C))) {
    if (B !== 0) roots.push(-C / B);
  } else {
    const disc = B * B - 4 * A * C;
    if (disc >= 0) {
      const sq = Math.sqrt(disc);
      const q = -0.5 * (B + (B >= 0 ? sq : -sq));
      if (q !== 0) roots.push(q / A, C / q);
      else roots.push(0);
    }
  }
  for (const s of roots) {
    if (!(s > 0 && s < 1)) continue;
    const x = a + s * h;
    const v = hermite(a, h, f0, f1, d0, d1, x);
    if (v > bv) {
      bv = v;
      bx = x;
    }
  }
  return { x: bx, value: bv };
}

/** A curve sampled on an increasing grid, with slopes. */
interface Sampled {
  readonly x: Float64Array;
  readonly f: Float64Array;
  readonly d: Float64Array;
}

/**
 * The crossing of `target` by the Hermite cubic of grid interval j between `above` (where it is
 * at or above the target) and `below` (where it is below), by bisection (to 1e-15 relative).
 */
function segmentCrossing(s: Sampled, j: number, above: number, below: number, target: number) {
  const a = s.x[j], h = s.x[j + 1] - s.x[j];
  const at = (x: number) => hermite(a, h, s.f[j], s.f[j + 1], s.d[j], s.d[j + 1], x);
  if (at(above) < target) return above;
  for (let it = 0; it < 200 && Math.abs(above - below) > 1e-15 * (1 + Math.abs(above)); it++) {
    const mid = 0.5 * (above + below);
    if (at(mid) >= target) above = mid;
    else below = mid;
  }
  return 0.5 * (above + below);
}

/** The local grid of spacing LOCAL_SPACING around bin `b`, clipped to the bound. */
function binGrid(b: number): Float64Array {
  const c = b * BIN_WIDTH;
  // One point of margin on each side: an estimate that moves a little stays bracketed.
  const m = Math.round(BIN_WIDTH / 2 / LOCAL_SPACING) + 1;
  const out: number[] = [];
  for (let j = -m; j <= m; j++) {
    const x = c + j * LOCAL_SPACING;
    if (x >= -THETA_BOUND - 1e-12 && x <= THETA_BOUND + 1e-12) {
      out.push(Math.max(-THETA_BOUND, Math.min(THETA_BOUND, x)));
    }
  }
  return Float64Array.from(out);
}

/** A request to evaluate pattern i (position in the screen's list) near theta. */
interface Request {
  readonly i: number;
  readonly theta: number;
}

/**
 * Evaluates every request on the local grid of its bin, one call per bin; returns the sampled
 * curve per request, in request order.
 */
function evaluateBins(
  source: FamilyCurveSource,
  patterns: Uint32Array,
  channel: ScreenChannel,
  background: Float64Array,
  requests: readonly Request[],
  count: (size: number) => void,
): Sampled[] {
  const bins = new Map<number, number[]>();
  requests.forEach((r, k) => {
    const b = Math.round(r.theta / BIN_WIDTH);
    let list = bins.get(b);
    if (!list) bins.set(b, list = []);
    list.push(k);
  });
  const out: Sampled[] = new Array(requests.length);
  for (const [b, list] of bins) {
    const x = binGrid(b);
    const members = [...new Set(list.map((k) => requests[k].i))].sort((a, c) => a - c);
    const idx = Uint32Array.from(members, (i) => patterns[i]);
    const v = source.familyCurves(idx, channel, x, background, true);
    count(idx.length * x.length);
    const n = members.length;
    const pos = new Map(members.map((i, j) => [i, j]));
    for (const k of list) {
      const j = pos.get(requests[k].i)!;
      const f = new Float64Array(x.length), d = new Float64Array(x.length);
      for (let t = 0; t < x.length; t++) {
        f[t] = v.logLik[t * n + j];
        d[t] = v.dTheta![t * n + j];
      }
      out[k] = { x, f, d };
    }
  }
  return out;
}

/**
 * The screen of the listed distinct patterns on one channel against the background at
 * `background` (see the module documentation for the method).
 *
 * @example
 * ```ts
 * import { screenPatterns } from "./screen.ts";
 * // A source whose curves are closed-form: l(theta) = -(theta - 1)^2 for pattern 0.
 * const source = {
 *   familyCurves(p: Uint32Array, _c: "gain" | "loss", t: Float64Array) {
 *     const logLik = new Float64Array(t.length * p.length);
 *     const dTheta = new Float64Array(t.length * p.length);
 *     t.forEach((x, k) => { logLik[k] = -((x - 1) ** 2); dTheta[k] = -2 * (x - 1); });
 *     return { logLik, dTheta };
 *   },
 * };
 * const s = screenPatterns(source, Uint32Array.of(0), "loss", new Float64Array(0));
 * console.assert(Math.abs(s.theta[0] - 1) < 1e-9 && Math.abs(s.lrt[0] - 2) < 1e-9);
 * ```
 */
export function screenPatterns(
  source: FamilyCurveSource,
  patterns: Uint32Array,
  channel: ScreenChannel,
  background: Float64Array,
  options: ScreenPatternOptions = {},
): PatternScreen {
  const n = patterns.length;
  const level = options.level === undefined ? 0.95 : options.level;
  if (level !== null && !(level > 0 && level < 1)) {
    throw new GenecontentError(`Interval level must be in (0, 1); got ${level}.`);
  }
  const cut = level === null ? NaN : chiSquareQuantile(level, 1) / 2;
  let calls = 0;
  let evaluations = 0;
  const count = (size: number) => {
    calls++;
    evaluations += size;
    options.onCall?.(calls);
  };
  const theta = new Float64Array(n), low = new Float64Array(n).fill(NaN);
  const high = new Float64Array(n).fill(NaN);
  const openLow = new Uint8Array(n), openHigh = new Uint8Array(n);
  const atBound = new Int8Array(n);
  const logLikNull = new Float64Array(n), logLikAlt = new Float64Array(n);
  const lrt = new Float64Array(n);
  if (n === 0) {
    return {
      theta,
      low,
      high,
      openLow,
      openHigh,
      atBound,
      logLikNull,
      logLikAlt,
      lrt,
      calls,
      evaluations,
    };
  }
  for (let i = 1; i < n; i++) {
    if (!(patterns[i] > patterns[i - 1])) {
      throw new RangeError("Screened pattern indices must be strictly increasing.");
    }
  }
  const B = THETA_BOUND;
  const grid = Float64Array.from(
    { length: 2 * B / COARSE_STEP + 1 },
    (_, t) => t * COARSE_STEP - B,
  );
  const zero = B / COARSE_STEP;
  const coarse: Sampled[] = new Array(n);
  // One call on every pattern (in chunks bounding memory to a few million values).
  const chunk = Math.max(1, Math.floor(4_000_000 / grid.length));
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const v = source.familyCurves(patterns.subarray(s, e), channel, grid, background, true);
    count((e - s) * grid.length);
    const m = e - s;
    for (let i = s; i < e; i++) {
      const f = new Float64Array(grid.length), d = new Float64Array(grid.length);
      for (let t = 0; t < grid.length; t++) {
        f[t] = v.logLik[t * m + i - s];
        d[t] = v.dTheta![t * m + i - s];
        if (!Number.isFinite(f[t]) || !Number.isFinite(d[t])) {
          throw new GenecontentError(
            `Pattern ${patterns[i]}: the log-likelihood at theta = ${grid[t]} is ${f[t]} ` +
              `(slope ${d[t]}); the screen needs a finite curve (is the family possible under ` +
              "the background model?).",
          );
        }
      }
      coarse[i] = { x: grid, f, d };
    }
  }
  // Every pattern's samples: the coarse grid, then every local grid evaluated for it. Rounds
  // request local grids where the maximum or an interval end is not yet bracketed by samples
  // LOCAL_SPACING apart, all requests of a round binned together.
  const maxValue = new Float64Array(n);
  const lowEnd: (number | null)[] = new Array(n).fill(null);
  const highEnd: (number | null)[] = new Array(n).fill(null);
  // Bits: 1 maximum done, 2 lower end done, 4 upper end done.
  const done = new Uint8Array(n);
  for (let i = 0; i < n; i++) logLikNull[i] = coarse[i].f[zero];
  for (let round = 0;; round++) {
    const requests: Request[] = [];
    for (let i = 0; i < n; i++) {
      if (done[i] === 7) continue;
      const s = coarse[i];
      if (!(done[i] & 1)) {
        const m = maxStatus(s);
        theta[i] = m.x;
        maxValue[i] = m.value;
        atBound[i] = m.atBound;
        if (m.done) done[i] |= 1;
        else requests.push({ i, theta: m.x });
      }
      if (level === null) {
        if (done[i] & 1) done[i] = 7;
        continue;
      }
      // The ends with the current maximum (final once the maximum is done).
      const target = Math.max(maxValue[i], logLikNull[i]) - cut;
      for (const [bit, dir] of [[2, -1], [4, 1]] as const) {
        if (done[i] & bit) continue;
        const c = crossingStatus(s, theta[i], dir, target);
        if (c.done && (done[i] & 1)) {
          done[i] |= bit;
          if (dir < 0) lowEnd[i] = c.x;
          else highEnd[i] = c.x;
        } else if (!c.done) requests.push({ i, theta: c.x! });
      }
    }
    if (requests.length === 0) break;
    if (round === MAX_ROUNDS) {
      throw new Error(`Screen: ${requests.length} estimates not bracketed after ${round} rounds.`);
    }
    const local = evaluateBins(source, patterns, channel, background, requests, count);
    requests.forEach((r, k) => coarse[r.i] = mergeSampled(coarse[r.i], local[k]));
  }
  for (let i = 0; i < n; i++) {
    // The coarse grid holds theta = 0 exactly, so the maximum is at least l(0).
    logLikAlt[i] = Math.max(maxValue[i], logLikNull[i]);
    lrt[i] = 2 * (logLikAlt[i] - logLikNull[i]);
    if (level !== null) {
      low[i] = lowEnd[i] ?? -B;
      openLow[i] = lowEnd[i] === null ? 1 : 0;
      high[i] = highEnd[i] ?? B;
      openHigh[i] = highEnd[i] === null ? 1 : 0;
    }
  }
  return {
    theta,
    low,
    high,
    openLow,
    openHigh,
    atBound,
    logLikNull,
    logLikAlt,
    lrt,
    calls,
    evaluations,
  };
}

/** Sample intervals at most this wide count as resolved (LOCAL_SPACING and rounding). */
const FINE = LOCAL_SPACING * (1 + 1e-9);

/**
 * The maximum of a sampled curve: at the bound (slope pointing outwards at the best sample,
 * which is the bound), or the Hermite maximum of the best sample's adjacent intervals, `done`
 * when those intervals are at most LOCAL_SPACING wide.
 */
function maxStatus(s: Sampled): { done: boolean; x: number; value: number; atBound: -1 | 0 | 1 } {
  const n = s.x.length;
  let k = 0;
  for (let t = 1; t < n; t++) if (s.f[t] > s.f[k]) k = t;
  if (k === n - 1 && s.x[k] >= THETA_BOUND && s.d[k] >= 0) {
    return { done: true, x: THETA_BOUND, value: s.f[k], atBound: 1 };
  }
  if (k === 0 && s.x[0] <= -THETA_BOUND && s.d[0] <= 0) {
    return { done: true, x: -THETA_BOUND, value: s.f[0], atBound: -1 };
  }
  let best = { x: s.x[k], value: s.f[k] };
  let fine = true;
  for (const j of [k - 1, k]) {
    if (j < 0 || j + 1 >= n) continue;
    const h = s.x[j + 1] - s.x[j];
    if (h > FINE) fine = false;
    const m = hermiteMax(s.x[j], h, s.f[j], s.f[j + 1], s.d[j], s.d[j + 1]);
    if (m.value > best.value) best = m;
  }
  return { done: fine, x: best.x, value: best.value, atBound: 0 };
}

/**
 * The end of the profile interval on the `direction` side of `from` (theta-hat), as the hull of
 * the samples at or above `target`: the outermost such sample on that side and the next sample
 * outwards (below the target) bracket the end. `done` when that bracket is at most
 * LOCAL_SPACING wide (x: the crossing of its cubic) or when the sample at the bound is at or
 * above the target (x: null, open); otherwise x is the crossing of the wide bracket's cubic,
 * where to sample next. (A curve that dips below the target and rises above it again further
 * out has a confidence set of several pieces; the hull is reported, so long as the outer piece
 * holds a sample.)
 */
function crossingStatus(
  s: Sampled,
  from: number,
  direction: -1 | 1,
  target: number,
): { done: boolean; x: number | null } {
  const n = s.x.length;
  if (direction > 0) {
    if (s.f[n - 1] >= target) return { done: true, x: null };
    let t = n - 2;
    while (t > 0 && s.x[t] > from && !(s.f[t] >= target)) t--;
    const x = segmentCrossing(s, t, Math.max(s.x[t], from), s.x[t + 1], target);
    return { done: s.x[t + 1] - s.x[t] <= FINE, x };
  }
  if (s.f[0] >= target) return { done: true, x: null };
  let t = 1;
  while (t < n - 1 && s.x[t] < from && !(s.f[t] >= target)) t++;
  const x = segmentCrossing(s, t - 1, Math.min(s.x[t], from), s.x[t - 1], target);
  return { done: s.x[t] - s.x[t - 1] <= FINE, x };
}

/** The union of two sampled curves, sorted by x (duplicates from the second). */
function mergeSampled(a: Sampled, b: Sampled): Sampled {
  const pts = new Map<number, [number, number]>();
  for (let t = 0; t < a.x.length; t++) pts.set(a.x[t], [a.f[t], a.d[t]]);
  for (let t = 0; t < b.x.length; t++) pts.set(b.x[t], [b.f[t], b.d[t]]);
  const xs = [...pts.keys()].sort((p, q) => p - q);
  return {
    x: Float64Array.from(xs),
    f: Float64Array.from(xs, (x) => pts.get(x)![0]),
    d: Float64Array.from(xs, (x) => pts.get(x)![1]),
  };
}

/**
 * The background's values with every rate parameter of `channel` (`gain`, `gain1`, ... or
 * `loss`, `loss1`, ...) multiplied by exp(theta): the family's own multiplier of that rate in
 * every component (a gamma category's rates are the parameters times its multiplier, a mixture
 * class has its own pair).
 *
 * @example
 * ```ts
 * import { scaledBackground } from "./screen.ts";
 * import { parseModel } from "../model/description.ts";
 * const v = scaledBackground(parseModel("mixture2"), Float64Array.of(1, 2, 3, 4, 0.5), "gain", Math.log(2));
 * console.assert(v.join() === "2,2,6,4,0.5");
 * ```
 */
export function scaledBackground(
  model: ModelDescription,
  values: Float64Array,
  channel: ScreenChannel,
  theta: number,
): Float64Array {
  const specs = modelParameters(model);
  const re = channel === "gain" ? /^gain\d*$/ : /^loss\d*$/;
  const m = Math.exp(theta);
  return Float64Array.from(values, (x, i) => (re.test(specs[i].name) ? x * m : x));
}

/** Per-pattern results of {@linkcode screenPatternsBoth}. */
export interface PatternScreenBoth {
  /** theta-hat of the gain multiplier. */
  readonly thetaGain: Float64Array;
  /** theta-hat of the loss multiplier (at that gain multiplier). */
  readonly thetaLoss: Float64Array;
  /** -1 / 1 where the gain estimate is at the lower / upper bound, else 0. */
  readonly atBoundGain: Int8Array;
  /** As atBoundGain, for the loss estimate. */
  readonly atBoundLoss: Int8Array;
  /** l(0, 0). */
  readonly logLikNull: Float64Array;
  /** l at the joint estimate. */
  readonly logLikAlt: Float64Array;
  /** 2 (l(theta-hat) - l(0, 0)), >= 0 (2 df). */
  readonly lrt: Float64Array;
  /** Backend calls made. */
  readonly calls: number;
  /** Pattern-theta evaluations made. */
  readonly evaluations: number;
}

/** Spacing of the gain multipliers of the profile's local grids. */
const BOTH_SPACING = 0.025;

/**
 * The joint screen of a family's own gain and loss multipliers (2 df): the profile
 * P(a) = max over the loss multiplier b of l(a, b), each P(a) by {@linkcode screenPatterns} on
 * the loss channel with the background's gain rates multiplied by exp(a), maximised over a:
 * first on the grid a = -B, ..., B (step 1, 0 among them), then, binned by the estimate
 * (width BIN_WIDTH), on local grids of a at spacing 0.025 (7 values per bin); theta-hat of the
 * gain is the maximum of the quartic through the five local values around the best one
 * (interpolation error about h^5 max|P^(5)| / 120, below 1e-9), re-binned until the best local
 * value is inside its grid (or at the bound). The loss estimate is the inner estimate at the
 * nearest local value of a, interpolated by the same quartic.
 */
export function screenPatternsBoth(
  source: FamilyCurveSource,
  patterns: Uint32Array,
  model: ModelDescription,
  background: Float64Array,
): PatternScreenBoth {
  const n = patterns.length;
  const B = THETA_BOUND;
  let calls = 0, evaluations = 0;
  const inner = (positions: number[], a: number) => {
    const r = screenPatterns(
      source,
      Uint32Array.from(positions, (i) => patterns[i]),
      "loss",
      scaledBackground(model, background, "gain", a),
      { level: null },
    );
    calls += r.calls;
    evaluations += r.evaluations;
    return r;
  };
  const thetaGain = new Float64Array(n), thetaLoss = new Float64Array(n);
  const atBoundGain = new Int8Array(n), atBoundLoss = new Int8Array(n);
  const logLikNull = new Float64Array(n), logLikAlt = new Float64Array(n);
  const lrt = new Float64Array(n);
  const all = Array.from({ length: n }, (_, i) => i);
  const grid = Array.from({ length: 2 * B + 1 }, (_, k) => k - B);
  const P = grid.map(() => new Float64Array(n));
  const Bs = grid.map(() => new Float64Array(n));
  const Ab = grid.map(() => new Int8Array(n));
  grid.forEach((a, k) => {
    const r = inner(all, a);
    P[k].set(r.logLikAlt);
    Bs[k].set(r.theta);
    Ab[k].set(r.atBound);
    if (a === 0) logLikNull.set(r.logLikNull);
  });
  let pending: { i: number; a: number }[] = [];
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let j = 1; j < grid.length; j++) if (P[j][i] > P[k][i]) k = j;
    if (k === 0 || k === grid.length - 1) {
      // The best gain multiplier is at the bound: its value is exact.
      thetaGain[i] = grid[k];
      atBoundGain[i] = k === 0 ? -1 : 1;
      thetaLoss[i] = Bs[k][i];
      atBoundLoss[i] = Ab[k][i];
      logLikAlt[i] = P[k][i];
      continue;
    }
    // Vertex of the parabola through the best grid value and its neighbours.
    const y0 = P[k - 1][i], y1 = P[k][i], y2 = P[k + 1][i];
    const den = y0 - 2 * y1 + y2;
    const shift = den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (y0 - y2)) / den)) : 0;
    pending.push({ i, a: grid[k] + shift });
  }
  for (let round = 0; pending.length > 0; round++) {
    if (round === MAX_ROUNDS) {
      throw new Error(
        `Screen: ${pending.length} gain estimates not bracketed after ${round} rounds.`,
      );
    }
    const bins = new Map<number, number[]>();
    for (const r of pending) {
      const b = Math.round(r.a / BIN_WIDTH);
      let list = bins.get(b);
      if (!list) bins.set(b, list = []);
      list.push(r.i);
    }
    const next: { i: number; a: number }[] = [];
    for (const [b, members] of bins) {
      members.sort((x, y) => x - y);
      const as: number[] = [];
      for (let j = -3; j <= 3; j++) {
        const a = b * BIN_WIDTH + j * BOTH_SPACING;
        if (a >= -B - 1e-12 && a <= B + 1e-12) as.push(Math.max(-B, Math.min(B, a)));
      }
      const res = as.map((a) => inner(members, a));
      members.forEach((i, m) => {
        const vals = res.map((r) => r.logLikAlt[m]);
        let j = 0;
        for (let t = 1; t < vals.length; t++) if (vals[t] > vals[j]) j = t;
        const last = vals.length - 1;
        if ((j === 0 && as[0] > -B) || (j === last && as[last] < B)) {
          // The best value at an edge of the local grid: sample further out, unless the
          // profile is flat there (within 1e-9, the inner maxima's precision), where the
          // edge value is the maximum to that precision.
          const inside = Math.max(...vals.slice(1, last));
          if (vals[j] - inside > 1e-9) {
            next.push({ i, a: as[j] + (j === 0 ? -1 : 1) * BIN_WIDTH / 2 });
            return;
          }
          thetaGain[i] = as[j];
          thetaLoss[i] = res[j].theta[m];
          atBoundLoss[i] = res[j].atBound[m];
          logLikAlt[i] = vals[j];
          return;
        }
        if ((j === 0 && as[0] <= -B) || (j === last && as[last] >= B)) {
          thetaGain[i] = as[j];
          atBoundGain[i] = j === 0 ? -1 : 1;
          thetaLoss[i] = res[j].theta[m];
          atBoundLoss[i] = res[j].atBound[m];
          logLikAlt[i] = vals[j];
          return;
        }
        // The quartic through five local values centred (as far as the grid allows) on j.
        const c = Math.max(2, Math.min(last - 2, j));
        const xs = [-2, -1, 0, 1, 2].map((d) => as[c + d]);
        const ys = [-2, -1, 0, 1, 2].map((d) => vals[c + d]);
        const bs = [-2, -1, 0, 1, 2].map((d) => res[c + d].theta[m]);
        const lagrange = (x: number, y: readonly number[]) => {
          let sum = 0;
          for (let p = 0; p < 5; p++) {
            let w = 1;
            for (let q = 0; q < 5; q++) if (q !== p) w *= (x - xs[q]) / (xs[p] - xs[q]);
            sum += w * y[p];
          }
          return sum;
        };
        // Golden-section search of the quartic between the best value's neighbours.
        let lo = as[j - 1], hi = as[j + 1];
        const g = (Math.sqrt(5) - 1) / 2;
        let x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
        let f1 = lagrange(x1, ys), f2 = lagrange(x2, ys);
        while (hi - lo > 1e-12) {
          if (f1 > f2) {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - g * (hi - lo);
            f1 = lagrange(x1, ys);
          } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + g * (hi - lo);
            f2 = lagrange(x2, ys);
          }
        }
        const a = 0.5 * (lo + hi);
        const value = Math.max(lagrange(a, ys), vals[j]);
        thetaGain[i] = a;
        logLikAlt[i] = value;
        const boundLoss = res[j].atBound[m];
        atBoundLoss[i] = boundLoss;
        thetaLoss[i] = boundLoss !== 0 ? res[j].theta[m] : lagrange(a, bs);
      });
    }
    pending = next;
  }
  for (let i = 0; i < n; i++) {
    logLikAlt[i] = Math.max(logLikAlt[i], logLikNull[i]);
    lrt[i] = 2 * (logLikAlt[i] - logLikNull[i]);
  }
  return {
    thetaGain,
    thetaLoss,
    atBoundGain,
    atBoundLoss,
    logLikNull,
    logLikAlt,
    lrt,
    calls,
    evaluations,
  };
}

/** Options of {@linkcode screenFamilies}. */
export interface ScreenOptions {
  /**
   * The rate the family multipliers act on (default "loss"); "both": a gain and a loss
   * multiplier per family, tested jointly (2 df, no intervals).
   */
  readonly channel?: ScreenChannel | "both";
  /** Level of the profile intervals (default 0.95). */
  readonly level?: number;
  /** Simulated null families for the calibrated p-values (0: p is the asymptotic p-value). */
  readonly calibration?: number;
  /** Seed of the calibration's simulation (default 1). */
  readonly seed?: number;
  /** Called with what the screen is doing. */
  readonly onProgress?: (message: string) => void;
}

/** What the screen needs to know about the fitted background. */
export interface ScreenBackground {
  /** The tree. */
  readonly tree: FlatTree;
  /** The background model. */
  readonly model: ModelDescription;
  /** Its fitted values (natural scale, in the order of its parameters). */
  readonly values: Float64Array;
  /** The prevalence window of the PAM. */
  readonly window: Ascertainment;
  /** Per-genome completeness in the tree's tip order, or null. */
  readonly completeness: Float64Array | null;
  /**
   * Opens a curve source on other patterns of the same tree (the simulated null families),
   * with the same model, window and completeness.
   */
  readonly open: (patterns: SitePatterns) => FamilyCurveSource & Disposable;
}

/** One family's screen result. */
export interface FamilyScreen {
  /** Family name. */
  readonly family: string;
  /** Genomes with the family present. */
  readonly present: number;
  /** Genomes where its cell is not missing. */
  readonly observed: number;
  /**
   * theta-hat: log of the family's own rate multiplier (with both channels: the loss one, as
   * `thetaLoss`).
   */
  readonly theta: number;
  /**
   * Profile interval of theta (an open end is at -+THETA_BOUND); with both channels there is
   * none: [NaN, NaN] (null in JSON).
   */
  readonly thetaCI: readonly [number, number];
  /** Which ends of the interval are open (reach the bound); both false with both channels. */
  readonly open: { readonly low: boolean; readonly high: boolean };
  /** Whether theta-hat (either of them with both channels) is at the bound. */
  readonly atBound: boolean;
  /** With both channels: theta-hat of the gain multiplier. */
  readonly thetaGain?: number;
  /** With both channels: theta-hat of the loss multiplier. */
  readonly thetaLoss?: number;
  /** LRT statistic 2 (l(theta-hat) - l(0)). */
  readonly lrt: number;
  /** The p-value used for q: calibrated with `calibration > 0`, else asymptotic. */
  readonly p: number;
  /** P(chi2_df >= lrt) (df 1, or 2 with both channels). */
  readonly pAsymptotic: number;
  /** (1 + #{null LRT >= lrt}) / (1 + pool size), with calibration; else null. */
  readonly pEmpirical: number | null;
  /** Benjamini-Hochberg q-value of p over every family. */
  readonly q: number;
  /** rare, shell or nearCore (`lib/diagnostics/prevalence_classes.ts`). */
  readonly prevalenceClass: ScreenClass;
  /** Simulated families the calibrated p was computed among (0 without calibration). */
  readonly poolSize: number;
}

/** The result of {@linkcode screenFamilies}. */
export interface ScreenResult {
  /** Per family, in the PAM's order. */
  readonly families: FamilyScreen[];
  /** The channel screened ("both": gain and loss jointly). */
  readonly channel: ScreenChannel | "both";
  /** Degrees of freedom of the asymptotic reference (2 with both channels). */
  readonly df: number;
  /** The interval level. */
  readonly level: number;
  /** The bound on |theta|. */
  readonly bound: number;
  /** Simulated null families (0: none). */
  readonly calibration: number;
  /** Seed of the simulation. */
  readonly seed: number;
  /** Distinct patterns screened (real data). */
  readonly nPatterns: number;
  /** Backend calls of the real data's screen. */
  readonly calls: number;
  /** Seconds of the real screen and of the calibration. */
  readonly seconds: { readonly screen: number; readonly calibration: number };
  /** Null LRTs of the simulated families with their present counts (for diagnostics). */
  readonly nullLrt: Float64Array;
  /** Present counts of the simulated families. */
  readonly nullPresent: Int32Array;
}

/**
 * Screens every family of `patterns` (the data `source` is bound to) for its own multiplier of
 * one rate against the fitted background; see the module documentation.
 */
export function screenFamilies(
  source: FamilyCurveSource,
  patterns: SitePatterns,
  background: ScreenBackground,
  options: ScreenOptions = {},
): ScreenResult {
  const channel = options.channel ?? "loss";
  const level = options.level ?? 0.95;
  const N = options.calibration ?? 0;
  const seed = options.seed ?? 1;
  if (!(Number.isSafeInteger(N) && N >= 0)) {
    throw new GenecontentError(
      `Calibration needs a whole number >= 0 of simulated families; got ${N}.`,
    );
  }
  const say = options.onProgress ?? (() => {});
  const t0 = performance.now();
  const both = channel === "both";
  const df = both ? 2 : 1;
  const all = Uint32Array.from({ length: patterns.nPatterns }, (_, p) => p);
  say(`screening ${patterns.nPatterns} distinct columns`);
  const screen = (src: FamilyCurveSource, list: Uint32Array, lev: number | null) =>
    both
      ? {
        kind: "both" as const,
        r: screenPatternsBoth(src, list, background.model, background.values),
      }
      : {
        kind: "one" as const,
        r: screenPatterns(src, list, channel, background.values, {
          level: lev,
          onCall: (c) => say(`screening ${list.length} distinct columns: ${c} calls`),
        }),
      };
  const s = screen(source, all, level);
  const t1 = performance.now();
  const { present, observed } = familyCounts(patterns);
  const nF = patterns.familyNames.length;
  const lrtOf = (f: number) => s.r.lrt[patterns.familyPattern[f]];
  const pAsym = new Float64Array(nF);
  for (let f = 0; f < nF; f++) pAsym[f] = chiSquareSurvival(lrtOf(f), df);
  let p: Float64Array = pAsym;
  const poolSize = new Int32Array(nF);
  const pEmpirical = new Float64Array(nF).fill(NaN);
  let nullLrt: Float64Array = new Float64Array(0);
  let nullPresent: Int32Array = new Int32Array(0);
  if (N > 0) {
    const sim = simulateNull(patterns, background, N, seed, say);
    nullPresent = sim.present;
    using simSource = background.open(sim.patterns);
    const simAll = Uint32Array.from({ length: sim.patterns.nPatterns }, (_, q) => q);
    say(`calibration: screening ${sim.patterns.nPatterns} simulated columns`);
    const ns = screen(simSource, simAll, null);
    nullLrt = Float64Array.from(sim.patterns.familyPattern, (q) => ns.r.lrt[q]);
    const code = (c: ScreenClass) => SCREEN_CLASSES.indexOf(c);
    const simCounts = familyCounts(sim.patterns);
    const cal = calibratedPValues(
      Float64Array.from({ length: nF }, (_, f) => lrtOf(f)),
      present,
      nullLrt,
      nullPresent,
      df,
      {
        real: Uint8Array.from({ length: nF }, (_, f) => code(screenClass(present[f], observed[f]))),
        null: Uint8Array.from(
          simCounts.present,
          (k, i) => code(screenClass(k, simCounts.observed[i])),
        ),
      },
    );
    p = cal.p;
    poolSize.set(cal.poolSize);
    pEmpirical.set(cal.empirical);
  }
  const q = benjaminiHochberg(p);
  const families: FamilyScreen[] = new Array(nF);
  for (let f = 0; f < nF; f++) {
    const k = patterns.familyPattern[f];
    const common = {
      family: patterns.familyNames[f],
      present: present[f],
      observed: observed[f],
      lrt: s.r.lrt[k],
      p: p[f],
      pAsymptotic: pAsym[f],
      pEmpirical: N > 0 ? pEmpirical[f] : null,
      q: q[f],
      prevalenceClass: screenClass(present[f], observed[f]),
      poolSize: poolSize[f],
    };
    if (s.kind === "both") {
      const r = s.r;
      families[f] = {
        ...common,
        theta: r.thetaLoss[k],
        thetaCI: [NaN, NaN],
        open: { low: false, high: false },
        atBound: r.atBoundGain[k] !== 0 || r.atBoundLoss[k] !== 0,
        thetaGain: r.thetaGain[k],
        thetaLoss: r.thetaLoss[k],
      };
    } else {
      const r = s.r;
      families[f] = {
        ...common,
        theta: r.theta[k],
        thetaCI: [r.low[k], r.high[k]],
        open: { low: r.openLow[k] === 1, high: r.openHigh[k] === 1 },
        atBound: r.atBound[k] !== 0,
      };
    }
  }
  return {
    families,
    channel,
    df,
    level,
    bound: THETA_BOUND,
    calibration: N,
    seed,
    nPatterns: patterns.nPatterns,
    calls: s.r.calls,
    seconds: { screen: (t1 - t0) / 1000, calibration: (performance.now() - t1) / 1000 },
    nullLrt,
    nullPresent,
  };
}

/**
 * Calibrated p-values of `lrt` (with present counts `present`) among null LRTs by prevalence
 * pool: the null families with the same present count, widened to counts within d until at
 * least {@linkcode MIN_POOL} are in the pool or d = {@linkcode MAX_WIDEN} (then further only
 * until {@linkcode TAIL_COUNT} are); with `classes` (a code per family and per null family),
 * only null families of the family's class are pooled (every class where the class has none),
 * so that widening never mixes, say, shell and near-core families, whose null LRTs differ. With `above` = #{null >= lrt - 1e-6} and
 * `size` the pool's size:
 *
 * - where above >= {@linkcode TAIL_COUNT}: p = (1 + above) / (1 + size), the empirical p-value;
 * - beyond (an LRT exceeded by fewer than TAIL_COUNT null LRTs, where the empirical p-value is
 *   at its floor), the chi-squared tail anchored there: with L* the TAIL_COUNT-th largest null
 *   LRT of the pool, p = (1 + TAIL_COUNT) / (1 + size) * S(lrt) / S(L*), S the chi2_df survival
 *   function, and never more than the empirical p-value. Under the null such LRTs occur with
 *   probability about TAIL_COUNT / size, so the anchored tail changes no p-value above that, and
 *   it keeps small p-values resolved beyond 1 / (1 + size).
 *
 * @example
 * ```ts
 * import { calibratedPValues } from "./screen.ts";
 * const nullLrt = Float64Array.from({ length: 999 }, (_, i) => i / 100);
 * const r = calibratedPValues(Float64Array.of(9.5), Int32Array.of(3), nullLrt,
 *   new Int32Array(999).fill(3));
 * // 49 null LRTs are >= 9.5 - 1e-6 (9.50 ... 9.98).
 * console.assert(r.p[0] === 50 / 1000 && r.poolSize[0] === 999);
 * ```
 */
export function calibratedPValues(
  lrt: Float64Array,
  present: Int32Array,
  nullLrt: Float64Array,
  nullPresent: Int32Array,
  df = 1,
  classes: { readonly real: Uint8Array; readonly null: Uint8Array } | null = null,
): { p: Float64Array; poolSize: Int32Array; empirical: Float64Array } {
  const N = nullLrt.length;
  if (N === 0) throw new GenecontentError("The calibration needs at least one null family.");
  let maxCount = 0;
  for (let i = 0; i < N; i++) maxCount = Math.max(maxCount, nullPresent[i]);
  for (let f = 0; f < present.length; f++) maxCount = Math.max(maxCount, present[f]);
  // Null LRTs sorted within each (class, present count); class 255 holds every class.
  const ALL = 255;
  const groups = new Map<number, Float64Array[]>();
  const build = (cls: number) => {
    const byCount: number[][] = Array.from({ length: maxCount + 1 }, () => []);
    for (let i = 0; i < N; i++) {
      if (cls === ALL || classes!.null[i] === cls) byCount[nullPresent[i]].push(nullLrt[i]);
    }
    const sorted = byCount.map((x) => Float64Array.from(x).sort());
    groups.set(cls, sorted);
    return sorted;
  };
  const p = new Float64Array(lrt.length);
  const empirical = new Float64Array(lrt.length);
  const poolSize = new Int32Array(lrt.length);
  // Per (class, present count): the pool's counts [from, to] and its TAIL_COUNT-th largest LRT.
  const pools = new Map<
    number,
    { sorted: Float64Array[]; from: number; to: number; size: number; anchor: number }
  >();
  const poolOf = (cls: number, k: number) => {
    const key = cls * (maxCount + 1) + k;
    let pool = pools.get(key);
    if (pool) return pool;
    let sorted = groups.get(cls) ?? build(cls);
    let total = sorted.reduce((sum, x) => sum + x.length, 0);
    if (total === 0) {
      // No null family of this class at all: pool over every class.
      sorted = groups.get(ALL) ?? build(ALL);
      total = N;
    }
    let d = 0;
    const sizeAt = (d: number) => {
      let size = 0;
      for (let c = Math.max(0, k - d); c <= Math.min(maxCount, k + d); c++) {
        size += sorted[c].length;
      }
      return size;
    };
    // Widen to MIN_POOL, but by at most MAX_WIDEN counts (wider pools mix in null LRTs of other
    // prevalences); beyond, only until TAIL_COUNT null families are in the pool.
    let size = sizeAt(0);
    while (size < Math.min(MIN_POOL, total) && d < MAX_WIDEN) size = sizeAt(++d);
    while (size < Math.min(TAIL_COUNT, total)) size = sizeAt(++d);
    const from = Math.max(0, k - d), to = Math.min(maxCount, k + d);
    const top: number[] = [];
    for (let c = from; c <= to; c++) {
      const a = sorted[c];
      for (let j = Math.max(0, a.length - TAIL_COUNT); j < a.length; j++) top.push(a[j]);
    }
    top.sort((x, y) => y - x);
    const anchor = top.length >= TAIL_COUNT ? top[TAIL_COUNT - 1] : NaN;
    pool = { sorted, from, to, size, anchor };
    pools.set(key, pool);
    return pool;
  };
  for (let f = 0; f < lrt.length; f++) {
    const pool = poolOf(classes ? classes.real[f] : ALL, present[f]);
    let above = 0;
    const x = lrt[f] - LRT_TIE;
    for (let c = pool.from; c <= pool.to; c++) {
      const a = pool.sorted[c];
      // Count of entries >= x by binary search.
      let lo = 0, hi = a.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      above += a.length - lo;
    }
    const emp = (1 + above) / (1 + pool.size);
    empirical[f] = emp;
    p[f] = emp;
    if (above < TAIL_COUNT && Number.isFinite(pool.anchor)) {
      const sAnchor = chiSquareSurvival(pool.anchor, df);
      if (sAnchor > 0) {
        const tail = ((1 + TAIL_COUNT) / (1 + pool.size)) * chiSquareSurvival(lrt[f], df) /
          sAnchor;
        p[f] = Math.min(emp, tail);
      }
    }
    poolSize[f] = pool.size;
  }
  return { p, poolSize, empirical };
}

/**
 * N families simulated under the background on its tree and window; each takes the missing
 * cells of a real family drawn at random (kept only if still inside the window).
 */
function simulateNull(
  real: SitePatterns,
  background: ScreenBackground,
  N: number,
  seed: number,
  say: (message: string) => void,
): { patterns: SitePatterns; present: Int32Array } {
  const { tree, model, values, window, completeness } = background;
  const nTips = tree.nTips;
  // Missing masks of the real families (only those with a missing cell).
  const maskOf: number[] = [];
  const hasMissing = new Uint8Array(real.nPatterns);
  for (let q = 0; q < real.nPatterns; q++) {
    for (let i = 0; i < nTips; i++) {
      if (real.states[q * nTips + i] === MISSING) {
        hasMissing[q] = 1;
        break;
      }
    }
  }
  for (let f = 0; f < real.familyPattern.length; f++) maskOf.push(real.familyPattern[f]);
  const anyMissing = hasMissing.some((x) => x === 1);
  const rng = new Random(seed);
  const rows = new Uint8Array(N * nTips);
  let kept = 0;
  const K = window.minPresent, M = window.maxPresent ?? nTips;
  while (kept < N) {
    say(`calibration: simulating null families (${kept} of ${N})`);
    const want = N - kept;
    const sim = simulateModel(tree, model, values, {
      nFamilies: want,
      rng,
      ascertainment: window,
      ...(completeness ? { completeness } : {}),
    });
    for (let f = 0; f < want && kept < N; f++) {
      const row = sim.states.subarray(f * nTips, (f + 1) * nTips);
      if (anyMissing) {
        const q = maskOf[rng.int(maskOf.length)];
        let count = 0;
        const masked = new Uint8Array(nTips);
        for (let i = 0; i < nTips; i++) {
          masked[i] = real.states[q * nTips + i] === MISSING ? MISSING : row[i];
          if (masked[i] === PRESENT) count++;
        }
        if (count < K || count > M) continue;
        rows.set(masked, kept * nTips);
      } else rows.set(row, kept * nTips);
      kept++;
    }
  }
  const names = Array.from({ length: N }, (_, f) => `null${f + 1}`);
  const patterns = compressPatterns(rows, N, nTips, names);
  return { patterns, present: familyCounts(patterns).present };
}
