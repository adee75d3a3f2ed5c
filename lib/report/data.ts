/**
 * The content of a report, as one JSON-serialisable value: {@linkcode ReportData}. The
 * collector (`collect.ts`) computes it from the data; the renderer (`render_html.ts`) and the
 * figures (`figures/*.ts`) turn it into HTML and SVG and compute nothing statistical, so every
 * number in the report is one of this value's.
 *
 * A section whose computation is not available (or does not apply to the data) is `null`, and
 * {@linkcode ReportData.missing} says why, in a sentence the report prints.
 *
 * @module
 */

import type { ComparisonRow, LikelihoodRatioTest } from "../fit/compare.ts";
import type { ModelFit } from "../fit/fit_model.ts";
import type { Provenance } from "../provenance.ts";

/** One parameter of a fitted model, as the parameter table shows it. */
export interface ReportParameter {
  /** The parameter's name (e.g. `gain`, `alpha`, `pInv`, `pi1`). */
  readonly name: string;
  /** Maximum-likelihood estimate. */
  readonly estimate: number;
  /** Lower end of the profile-likelihood interval, or `null` without intervals. */
  readonly lower: number | null;
  /** Upper end, or `null`. */
  readonly upper: number | null;
  /** Whether each end is open (the profile stays above the cut-off to the working bound). */
  readonly open: readonly [boolean, boolean];
  /** The estimate sits on a bound of its space. */
  readonly boundary: "lower" | "upper" | null;
  /** False when the data do not identify the parameter. */
  readonly identified: boolean;
  /** The unit, in words. */
  readonly unit: string;
}

/** One fitted model. */
export interface ReportFit {
  /** The model's name (`formatModel`). */
  readonly model: string;
  /** Its parameters and derived quantities, in the fit's order. */
  readonly parameters: readonly ReportParameter[];
  /** Maximised log-likelihood (natural log). */
  readonly logLik: number;
  /** Free parameters. */
  readonly nParams: number;
  /** AIC. */
  readonly aic: number;
  /** BIC. */
  readonly bic: number;
  /** Level of the intervals, or `null`. */
  readonly level: number | null;
  /** Whether the fit converged. */
  readonly converged: boolean;
  /** The fit's warnings. */
  readonly warnings: readonly string[];
  /** Gains plus losses of a family over the whole tree under the fitted model (unit-free). */
  readonly expectedEventsPerFamily: number;
  /** Seconds the fit took (intervals included). */
  readonly seconds: number;
}

/** The tree and what the figure draws on it, indexed by node (tips first, root last). */
export interface ReportTree {
  /** Tip names, in the tree's order. */
  readonly tipNames: readonly string[];
  /** Parent of each node (`-1` for the root). */
  readonly parent: readonly number[];
  /** Length of the branch above each node (0 for the root). */
  readonly branchLength: readonly number[];
  /** Stable node ids (`lib/ancestral/node_ids.ts`). */
  readonly ids: readonly string[];
  /** Expected gains on the branch above each node. */
  readonly gains: readonly number[];
  /** Expected losses on the branch above each node. */
  readonly losses: readonly number[];
  /** What the gains and losses count (e.g. "all 5,000 families"). */
  readonly label: string;
  /** The model the events were reconstructed under. */
  readonly model: string;
}

/** One class of the gene-frequency spectrum (families by number of genomes present). */
export interface SpectrumClassRow {
  /** The class as shown (e.g. `1`, `2-3`, `200`). */
  readonly label: string;
  /** Families observed in the class. */
  readonly observed: number;
  /** Families the fitted model expects in the class, or `null` when not computed. */
  readonly expected: number | null;
}

/** The gene-frequency spectrum and its goodness of fit. */
export interface ReportSpectrum {
  /** The model the expectation is under. */
  readonly model: string;
  /** The classes, in order of prevalence. */
  readonly classes: readonly SpectrumClassRow[];
  /** Goodness-of-fit statistics as name, value pairs (e.g. chi-square, df, p), in order. */
  readonly statistics: readonly { readonly name: string; readonly value: number | string }[];
  /** Notes on how the spectrum was computed. */
  readonly notes: readonly string[];
}

/** One row of the per-family screen. */
export interface ScreenRow {
  /** The family. */
  readonly family: string;
  /** The family's effect estimate. */
  readonly theta: number;
  /** Its interval, or `null`. */
  readonly thetaCI: readonly [number, number] | null;
  /** The likelihood-ratio statistic of the effect. */
  readonly lrt: number;
  /** Its p-value. */
  readonly p: number;
  /** Its q-value (false-discovery rate). */
  readonly q: number;
}

/** The per-family screen. */
export interface ReportScreen {
  /** What theta is, in words (e.g. "log rate multiplier of the family against the fitted model"). */
  readonly effect: string;
  /** A short name of theta for axis titles and table headings (e.g. "log loss-rate multiplier"). */
  readonly effectShort: string;
  /** Every screened family. */
  readonly rows: readonly ScreenRow[];
  /** The q-value cut-off the report highlights. */
  readonly qThreshold: number;
  /** Notes (method, reference distribution, families left out). */
  readonly notes: readonly string[];
}

/** A row of the top-families table. */
export interface TopFamilyRow extends ScreenRow {
  /** Genomes with the family present. */
  readonly present: number;
  /** Expected gains of the family over the tree (reported model), or `null`. */
  readonly gains: number | null;
  /** Expected losses, or `null`. */
  readonly losses: number | null;
}

/** Per-genome diagnostics: a table with named columns. */
export interface ReportGenomes {
  /** The columns after `genome`: key in each row's values, heading, and a description. */
  readonly columns: readonly {
    readonly key: string;
    readonly label: string;
    readonly description: string;
  }[];
  /** One row per genome, flagged genomes first. */
  readonly rows: readonly {
    readonly genome: string;
    readonly flagged: boolean;
    readonly values: Readonly<Record<string, number | string | null>>;
  }[];
  /** Notes (what is flagged and why). */
  readonly notes: readonly string[];
  /** The model refitted without the flagged genomes, or `null` when none is flagged. */
  readonly refit: {
    readonly dropped: readonly string[];
    readonly nGenomes: number;
    readonly nFamiliesBefore: number;
    readonly nFamiliesAfter: number;
    readonly parameters: readonly {
      readonly name: string;
      readonly before: number;
      readonly after: number;
      readonly relativeChange: number;
    }[];
  } | null;
}

/** Where the tree came from, when the report knows. */
export interface TreeSource {
  /** True when the tree was inferred from the same PAM the model is fitted to. */
  readonly inferredFromPam: boolean;
  /** How this was established (a provenance file, or the user's statement). */
  readonly evidence: string | null;
}

/** Everything a report shows. */
export interface ReportData {
  /** The report's title. */
  readonly title: string;
  /** The inputs in numbers. */
  readonly dataset: {
    readonly treePath: string;
    readonly pamPath: string;
    readonly nFamilies: number;
    readonly nGenomes: number;
    readonly nPatterns: number;
    /** The ascertainment in words. */
    readonly ascertainment: string;
    /** Total branch length of the tree. */
    readonly treeLength: number;
    /** Pruned names. */
    readonly droppedTips: readonly string[];
    readonly droppedTaxa: readonly string[];
  };
  /** Where the tree came from. */
  readonly treeSource: TreeSource;
  /** The model the report is about (the requested one). */
  readonly model: string;
  /** Every fitted model (null, gamma4 and the requested one, each once). */
  readonly fits: readonly ReportFit[];
  /** Models that could not be fitted, with the reason. */
  readonly refused: readonly { readonly model: string; readonly reason: string }[];
  /** The comparison of the fitted models. */
  readonly comparison: {
    readonly rows: readonly ComparisonRow[];
    readonly tests: readonly LikelihoodRatioTest[];
  };
  /** The tree with expected events per branch. */
  readonly tree: ReportTree;
  /** The spectrum, or `null`. */
  readonly spectrum: ReportSpectrum | null;
  /** The per-family screen, or `null`. */
  readonly screen: ReportScreen | null;
  /** The top families of the screen (smallest q, then p). */
  readonly topFamilies: readonly TopFamilyRow[];
  /** Per-genome diagnostics, or `null`. */
  readonly genomes: ReportGenomes | null;
  /** Sections not shown in full, with the reason. */
  readonly missing: readonly { readonly section: string; readonly reason: string }[];
  /** Provenance of the run, with its duration and the plotting libraries. */
  readonly provenance: Provenance & {
    /** Seconds from the start of the run to the data being complete (figures not included). */
    readonly seconds: number;
    /** Seconds per step: fits, ancestral, spectrum, screen, genomes (then figures, html). */
    readonly steps: Readonly<Record<string, number>>;
    readonly plotting: Readonly<Record<string, string>>;
  };
}

/** Units of the rates. */
export const RATE_UNIT = "per unit branch length";

/** The unit of a fitted parameter, by kind and name. */
export function parameterUnit(kind: string, name: string, rateUnit: string = RATE_UNIT): string {
  if (kind === "rate") return rateUnit;
  if (name === "pi1") return "probability of presence";
  if (kind === "probability" || kind === "error") return "probability";
  if (kind === "split") return "share of the remaining classes";
  if (name === "alpha") return "gamma shape (unit-free)";
  return "";
}

/**
 * A fit as the report shows it: the fit's own numbers, copied (never recomputed).
 *
 * @example
 * ```ts
 * import { reportFit } from "./data.ts";
 * import { fitModel } from "../fit/fit_model.ts";
 * import type { ModelObjective } from "../fit/objective.ts";
 * const objective: ModelObjective = {
 *   parameters: [{ name: "gain", description: "rate", kind: "rate", units: "", lower: 0,
 *     upper: Infinity, transform: "log" }],
 *   nObservations: 10,
 *   evaluate: (v) => ({ logLik: 37 * Math.log(v[0]) - 10 * v[0], gradient: new Float64Array([37 / v[0] - 10]) }),
 * };
 * const fit = fitModel(objective);
 * const row = reportFit("null", fit, 1.5, 0.25);
 * console.assert(row.parameters[0].estimate === fit.byName.gain.estimate && row.aic === fit.aic);
 * ```
 */
export function reportFit(
  model: string,
  fit: ModelFit,
  expectedEventsPerFamily: number,
  seconds: number,
  rateUnit: string = RATE_UNIT,
): ReportFit {
  return {
    model,
    parameters: fit.parameters.map((p) => ({
      name: p.name,
      estimate: p.estimate,
      lower: p.interval?.[0] ?? null,
      upper: p.interval?.[1] ?? null,
      open: p.open,
      boundary: p.boundary,
      identified: p.identified,
      unit: parameterUnit(p.kind, p.name, rateUnit),
    })),
    logLik: fit.logLik,
    nParams: fit.nParams,
    aic: fit.aic,
    bic: fit.bic,
    level: fit.level,
    converged: fit.converged,
    warnings: fit.warnings,
    expectedEventsPerFamily,
    seconds,
  };
}

/**
 * The top `n` rows of a screen: smallest q first, then smallest p, then largest |theta|, then
 * the family name (so the order is total and reproducible).
 *
 * @example
 * ```ts
 * import { topScreenRows } from "./data.ts";
 * const rows = [
 *   { family: "a", theta: 1, thetaCI: null, lrt: 4, p: 0.04, q: 0.08 },
 *   { family: "b", theta: -2, thetaCI: null, lrt: 9, p: 0.003, q: 0.01 },
 * ];
 * console.assert(topScreenRows(rows, 1)[0].family === "b");
 * ```
 */
export function topScreenRows(rows: readonly ScreenRow[], n: number): ScreenRow[] {
  const key = (v: number) => (Number.isNaN(v) ? Infinity : v);
  return [...rows].sort((a, b) =>
    key(a.q) - key(b.q) || key(a.p) - key(b.p) ||
    Math.abs(b.theta) - Math.abs(a.theta) ||
    (a.family < b.family ? -1 : a.family > b.family ? 1 : 0)
  ).slice(0, n);
}
