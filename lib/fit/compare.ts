/**
 * Comparison of models fitted to the same data: a table of log-likelihood, number of free
 * parameters, AIC, BIC and their differences from the best, and likelihood-ratio tests for every
 * nested pair with the reference distribution that fits the pair.
 *
 * Nesting (model A inside model B) and the reference distribution of 2 (l_B - l_A):
 * - regular parameters only: chi2 with df = k_B - k_A;
 * - `+inv` added (pInv = 0 under A) or `null` inside `gammaK` (alpha -> infinity under A): one
 *   parameter on the boundary of its space, the 50:50 mixture of chi2(0) and chi2(1) (Self &
 *   Liang 1987), combined with the other added parameters as a shift of the degrees of freedom;
 * - `+error` added (falsePresence = falseAbsence = 0 under A): two parameters on their boundary,
 *   a chi-bar-square mixture of chi2(r), chi2(r + 1), chi2(r + 2) with weights
 *   (1/4 - asin(rho)/(2 pi), 1/2, 1/4 + asin(rho)/(2 pi)), rho the correlation of the two
 *   estimators (Self & Liang case 7; default rho = 0, i.e. weights 1/4, 1/2, 1/4, which assumes
 *   the false-presence and false-absence rates are informed by different cells, present versus
 *   absent ones);
 * - several boundary parameters from different options: their mixtures are convolved, which
 *   again assumes their estimators are uncorrelated;
 * - `null` inside `mixtureK`, or `mixtureK` inside `mixtureK'`: under A the extra classes' splits
 *   and rates are not identified, the regularity conditions fail and no chi-bar-square applies;
 *   the test is reported with chi2(df) and marked approximate (a parametric bootstrap calibrates
 *   it).
 * gammaK and mixtureK are not nested in each other, nor gamma models with different K.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { formatModel, type ModelDescription, parseModel } from "../model/description.ts";
import { chiBarSquareSurvival } from "./chi_square.ts";

/** A fitted model as the comparison needs it. */
export interface ComparedFit {
  /** The model (or its name, e.g. `gamma4+inv`). */
  readonly model: ModelDescription | string;
  /** Its fit (a `ModelFit` serves). */
  readonly fit: {
    readonly logLik: number;
    readonly nParams: number;
    readonly nObservations: number;
  };
}

/** One row of the comparison table. */
export interface ComparisonRow {
  /** The model's name. */
  readonly model: string;
  /** Its maximised log-likelihood. */
  readonly logLik: number;
  /** Its number of free parameters. */
  readonly nParams: number;
  /** Akaike's criterion 2 nParams - 2 logLik. */
  readonly aic: number;
  /** Schwarz's criterion nParams log(families) - 2 logLik. */
  readonly bic: number;
  /** AIC minus the smallest AIC in the table. */
  readonly dAic: number;
  /** BIC minus the smallest BIC in the table. */
  readonly dBic: number;
}

/** How model A sits inside model B. */
export interface Nesting {
  /** Restrictions putting a parameter of B on the boundary of its space, one per parameter. */
  readonly boundary: readonly string[];
  /** Restrictions under which B is not identified (mixture classes), if any. */
  readonly irregular: readonly string[];
}

/** A likelihood-ratio test of a model against a larger one that contains it. */
export interface LikelihoodRatioTest {
  /** The smaller model. */
  readonly nullModel: string;
  /** The larger model that contains it. */
  readonly alternative: string;
  /** 2 (logLik_alternative - logLik_null), floored at 0. */
  readonly statistic: number;
  /** Difference in free parameters. */
  readonly df: number;
  /** The parameters set on a boundary under the null. */
  readonly boundary: readonly string[];
  /** Chi-bar-square weights of chi2(0), chi2(1), ... (a plain chi2(df) has a single 1 at df). */
  readonly weights: readonly number[];
  /** The reference distribution in words. */
  readonly reference: string;
  /** P(reference > statistic). */
  readonly pValue: number;
  /** True when no asymptotic result supports the reference (mixture classes). */
  readonly approximate: boolean;
  /** Notes: fits that contradict nesting, approximations. */
  readonly notes: readonly string[];
}

/** Options of {@linkcode compareModels}. */
export interface CompareOptions {
  /** Correlation of the false-presence and false-absence estimators for `+error` tests (default 0). */
  readonly errorCorrelation?: number;
}

/**
 * How `a` is nested in `b`, or null when it is not (identical models are not nested).
 *
 * @example
 * ```ts
 * import { nesting } from "./compare.ts";
 * import { parseModel } from "../model/description.ts";
 * const n = nesting(parseModel("null"), parseModel("gamma4+inv"))!;
 * console.assert(n.boundary.join("; ") === "alpha -> infinity; pInv = 0");
 * console.assert(nesting(parseModel("gamma4"), parseModel("mixture2")) === null);
 * ```
 */
export function nesting(a: ModelDescription, b: ModelDescription): Nesting | null {
  const boundary: string[] = [];
  const irregular: string[] = [];
  if ((a.invariant && !b.invariant) || (a.tipError && !b.tipError)) return null;
  const ra = a.rates;
  const rb = b.rates;
  if (ra.kind === "single") {
    if (rb.kind === "gamma") boundary.push("alpha -> infinity");
    else if (rb.kind === "mixture") irregular.push(`${rb.classes} classes equal`);
  } else if (ra.kind === "gamma") {
    if (rb.kind !== "gamma" || rb.categories !== ra.categories) return null;
  } else {
    if (rb.kind !== "mixture" || rb.classes < ra.classes) return null;
    if (rb.classes > ra.classes) irregular.push(`${rb.classes - ra.classes} classes merged`);
  }
  if (!a.invariant && b.invariant) boundary.push("pInv = 0");
  if (!a.tipError && b.tipError) boundary.push("falsePresence = 0", "falseAbsence = 0");
  if (boundary.length === 0 && irregular.length === 0) return null;
  return { boundary, irregular };
}

/** Convolution of chi-bar-square weight vectors (sums of independent mixtures). */
function convolve(a: readonly number[], b: readonly number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i + j] += a[i] * b[j];
  return out;
}

/**
 * The likelihood-ratio test of `nullFit` (model `a`) against `altFit` (model `b`), with the
 * reference distribution of {@linkcode nesting}.
 *
 * @example
 * ```ts
 * import { likelihoodRatioTest } from "./compare.ts";
 * import { parseModel } from "../model/description.ts";
 * const t = likelihoodRatioTest(
 *   parseModel("null"), { logLik: -100, nParams: 2, nObservations: 50 },
 *   parseModel("null+inv"), { logLik: -98, nParams: 3, nObservations: 50 },
 * );
 * // statistic 4 against 0.5 chi2(0) + 0.5 chi2(1): p = 0.5 P(chi2(1) > 4) = 0.02275.
 * console.assert(Math.abs(t.pValue - 0.022750131948179) < 1e-9);
 * ```
 */
export function likelihoodRatioTest(
  a: ModelDescription,
  nullFit: ComparedFit["fit"],
  b: ModelDescription,
  altFit: ComparedFit["fit"],
  options: CompareOptions = {},
): LikelihoodRatioTest {
  const nest = nesting(a, b);
  const nameA = formatModel(a);
  const nameB = formatModel(b);
  if (!nest) {
    throw new GenecontentError(
      `Model ${nameA} is not nested in ${nameB}: no likelihood-ratio test.`,
    );
  }
  if (nullFit.nObservations !== altFit.nObservations) {
    throw new GenecontentError(
      `Models ${nameA} and ${nameB} were fitted to different data (${nullFit.nObservations} and ` +
        `${altFit.nObservations} families).`,
    );
  }
  const df = altFit.nParams - nullFit.nParams;
  if (!(df > 0)) {
    throw new GenecontentError(
      `Model ${nameB} has ${altFit.nParams} free parameters, not more than ${nameA}'s ` +
        `${nullFit.nParams}.`,
    );
  }
  const notes: string[] = [];
  const raw = 2 * (altFit.logLik - nullFit.logLik);
  // A shortfall below 0.02 (twice the fitter's plateau threshold) is what a parameter left at
  // its working bound on a plateau (alpha at 1e5 standing for infinity) costs.
  if (raw < -0.02) {
    notes.push(
      `The larger model's log-likelihood is ${
        (-raw / 2).toPrecision(3)
      } below the smaller one's: ` +
        "its fit missed the maximum (refit it from the smaller model's estimates).",
    );
  }
  const statistic = Math.max(0, raw);
  const rho = options.errorCorrelation ?? 0;
  if (!(rho > -1 && rho < 1)) {
    throw new GenecontentError(`The error-rate correlation must be in (-1, 1); got ${rho}.`);
  }
  let weights = [1];
  let i = 0;
  while (i < nest.boundary.length) {
    if (nest.boundary[i] === "falsePresence = 0") {
      const w2 = 0.25 + Math.asin(rho) / (2 * Math.PI);
      weights = convolve(weights, [0.5 - w2, 0.5, w2]);
      i += 2;
    } else {
      weights = convolve(weights, [0.5, 0.5]);
      i += 1;
    }
  }
  const regular = df - nest.boundary.length;
  if (regular < 0) {
    throw new GenecontentError(
      `Model ${nameB} has ${df} more parameters than ${nameA}, fewer than the ` +
        `${nest.boundary.length} restrictions between them.`,
    );
  }
  weights = [...new Array<number>(regular).fill(0), ...weights];
  const approximate = nest.irregular.length > 0;
  if (approximate) {
    notes.push(
      `Under ${nameA} the larger model is not identified (${nest.irregular.join(", ")}): the ` +
        "p-value uses chi-square reference weights without asymptotic support; calibrate it by " +
        "parametric bootstrap.",
    );
  }
  const reference = weights.length === 1 || weights.filter((w) => w > 0).length === 1
    ? `chi2(${df})`
    : weights.map((w, j) => (w > 0 ? `${+w.toPrecision(6)} chi2(${j})` : "")).filter((s) => s)
      .join(" + ");
  return {
    nullModel: nameA,
    alternative: nameB,
    statistic,
    df,
    boundary: nest.boundary,
    weights,
    reference,
    pValue: chiBarSquareSurvival(statistic, weights),
    approximate,
    notes,
  };
}

/**
 * The comparison table of several fits of the same data and the likelihood-ratio tests of every
 * nested pair.
 *
 * @example
 * ```ts
 * import { compareModels } from "./compare.ts";
 * const r = compareModels([
 *   { model: "null", fit: { logLik: -100, nParams: 2, nObservations: 50 } },
 *   { model: "gamma4", fit: { logLik: -95, nParams: 3, nObservations: 50 } },
 * ]);
 * console.assert(r.rows[1].dAic === 0 && r.rows[0].dAic === 8 && r.tests.length === 1);
 * ```
 */
export function compareModels(
  fits: readonly ComparedFit[],
  options: CompareOptions = {},
): { rows: ComparisonRow[]; tests: LikelihoodRatioTest[] } {
  if (fits.length === 0) throw new GenecontentError("No fitted models to compare.");
  const models = fits.map((f) => (typeof f.model === "string" ? parseModel(f.model) : f.model));
  const names = models.map(formatModel);
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new GenecontentError(`Model ${name} is listed twice.`);
    seen.add(name);
  }
  const n = fits[0].fit.nObservations;
  fits.forEach((f, i) => {
    if (f.fit.nObservations !== n) {
      throw new GenecontentError(
        `Model ${names[i]} was fitted to ${f.fit.nObservations} families, ${names[0]} to ${n}: ` +
          "compare fits of the same data only.",
      );
    }
  });
  const aic = fits.map((f) => 2 * f.fit.nParams - 2 * f.fit.logLik);
  const bic = fits.map((f) => f.fit.nParams * Math.log(n) - 2 * f.fit.logLik);
  const minAic = Math.min(...aic);
  const minBic = Math.min(...bic);
  const rows = fits.map((f, i) => ({
    model: names[i],
    logLik: f.fit.logLik,
    nParams: f.fit.nParams,
    aic: aic[i],
    bic: bic[i],
    dAic: aic[i] - minAic,
    dBic: bic[i] - minBic,
  }));
  const tests: LikelihoodRatioTest[] = [];
  for (let i = 0; i < fits.length; i++) {
    for (let j = 0; j < fits.length; j++) {
      if (i !== j && nesting(models[i], models[j])) {
        tests.push(likelihoodRatioTest(models[i], fits[i].fit, models[j], fits[j].fit, options));
      }
    }
  }
  return { rows, tests };
}

/**
 * The comparison as text: a table of logLik, nParams, AIC, dAIC, BIC and dBIC, then one line per
 * likelihood-ratio test.
 *
 * @example
 * ```ts
 * import { compareModels, formatComparison } from "./compare.ts";
 * const text = formatComparison(compareModels([
 *   { model: "null", fit: { logLik: -100, nParams: 2, nObservations: 50 } },
 *   { model: "gamma4", fit: { logLik: -95, nParams: 3, nObservations: 50 } },
 * ]));
 * console.assert(text.includes("LRT null vs gamma4"));
 * ```
 */
export function formatComparison(
  c: { readonly rows: readonly ComparisonRow[]; readonly tests: readonly LikelihoodRatioTest[] },
): string {
  const head = ["model", "logLik", "nParams", "AIC", "dAIC", "BIC", "dBIC"];
  const rows = [
    head,
    ...c.rows.map((r) => [
      r.model,
      r.logLik.toFixed(4),
      String(r.nParams),
      r.aic.toFixed(2),
      r.dAic.toFixed(2),
      r.bic.toFixed(2),
      r.dBic.toFixed(2),
    ]),
  ];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((x, i) => x.padEnd(widths[i])).join("  ").trimEnd());
  const tests = c.tests.map((t) =>
    `LRT ${t.nullModel} vs ${t.alternative}: statistic ${t.statistic.toFixed(4)}, ` +
    `${t.reference}, p = ${t.pValue.toPrecision(4)}${t.approximate ? " (approximate)" : ""}`
  );
  return [...lines, ...tests].join("\n");
}
