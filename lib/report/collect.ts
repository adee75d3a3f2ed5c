/**
 * Computes a report's {@linkcode ReportData} from a loaded dataset: the fits of `null`, `gamma4`
 * and the requested model (each once) with profile intervals, their comparison (AIC, BIC,
 * likelihood-ratio tests), the expected gains and losses per branch under the requested model,
 * and the diagnostics the toolkit has (spectrum, per-family screen, genome diagnostics), each
 * through the module that owns it. Nothing statistical is computed here that another module
 * computes: this module calls them and copies their numbers.
 *
 * @module
 */

import { compareModels } from "../fit/compare.ts";
import { fitModel, type ModelFit } from "../fit/fit_model.ts";
import { PI1_OF_NULL_MODEL } from "../fit/fit_null_model.ts";
import { modelObjective } from "../fit/objective.ts";
import { reconstructAncestral } from "../ancestral/reconstruct.ts";
import { GenecontentError } from "../errors.ts";
import type { BackendFactory } from "../likelihood/choose_backend.ts";
import type { ModelLikelihood } from "../likelihood/model_likelihood.ts";
import type { Dataset } from "../load_dataset.ts";
import { formatModel, type ModelDescription, parseModel } from "../model/description.ts";
import { summarizeModel } from "../model/summaries.ts";
import type { Provenance } from "../provenance.ts";
import { totalLength } from "../tree/flat_tree.ts";
import { type ModelSetup, openSetupLikelihood, windowText } from "../cli/model_setup.ts";
import {
  RATE_UNIT,
  type ReportData,
  type ReportFit,
  reportFit,
  type ReportScreen,
  type ReportSpectrum,
  type TreeSource,
} from "./data.ts";
import { PLOTTING_LIBRARIES } from "./figures/vega.ts";

/** Options of {@linkcode collectReportData}. */
export interface CollectOptions {
  /** The loaded tree and PAM. */
  readonly dataset: Dataset;
  /** The backend factory. */
  readonly factory: BackendFactory;
  /** The requested model, window and completeness. */
  readonly setup: ModelSetup;
  /** Level of the profile intervals, or `null` to skip them. */
  readonly level: number | null;
  /** A family set: the tree shows its gains and losses, the top-families table its members. */
  readonly familySet?: { readonly name: string; readonly families: readonly string[] } | null;
  /** Where the tree came from. */
  readonly treeSource: TreeSource;
  /** The run's provenance (its duration is added at the end). */
  readonly provenance: Provenance;
  /** `performance.now()` when the run started. */
  readonly started: number;
  /** Rows of the top-families table (default 25). */
  readonly topFamilies?: number;
  /** Called with what is being computed. */
  readonly onProgress?: (text: string) => void;
  /** The report's title (default from the PAM's file name). */
  readonly title?: string;
}

/** The models a report fits: null, gamma4 and the requested one, each once, in that order. */
export function reportModels(requested: ModelDescription): ModelDescription[] {
  const out: ModelDescription[] = [];
  for (const m of [parseModel("null"), parseModel("gamma4"), requested]) {
    if (!out.some((o) => formatModel(o) === formatModel(m))) out.push(m);
  }
  return out;
}

/** A fitted model with its open likelihood. */
interface Fitted {
  readonly name: string;
  readonly model: ModelDescription;
  readonly lik: ModelLikelihood;
  readonly fit: ModelFit;
  readonly seconds: number;
}

const plainNull = (m: ModelDescription) => m.rates.kind === "single" && !m.invariant && !m.tipError;

/**
 * Fits the report's models, reconstructs the events and runs the diagnostics; returns the
 * report's data.
 *
 * @example
 * ```ts ignore
 * import { collectReportData } from "./collect.ts";
 * const data = await collectReportData({ dataset, factory, setup, level: 0.95,
 *   treeSource: { inferredFromPam: false, evidence: null }, provenance,
 *   started: performance.now() });
 * ```
 */
export function collectReportData(o: CollectOptions): Promise<ReportData> {
  const say = o.onProgress ?? (() => {});
  const { dataset, setup } = o;
  const requested = formatModel(setup.model);
  const treePath = dataset.inputs.find((i) => i.role === "tree")?.path ?? "tree";
  const pamPath = dataset.inputs.find((i) => i.role === "pam")?.path ?? "PAM";
  const fitted: Fitted[] = [];
  const refused: { model: string; reason: string }[] = [];
  try {
    for (const model of reportModels(setup.model)) {
      const name = formatModel(model);
      let lik: ModelLikelihood;
      try {
        lik = openSetupLikelihood(dataset, o.factory, { ...setup, model }, treePath);
      } catch (e) {
        // A comparison model the data cannot inform is reported; the requested one is fatal.
        if (name === requested || !(e instanceof GenecontentError)) throw e;
        refused.push({ model: name, reason: e.message });
        continue;
      }
      const t0 = performance.now();
      try {
        const fit = fitModel(modelObjective(lik), {
          level: o.level,
          derived: plainNull(model) ? [PI1_OF_NULL_MODEL] : [],
          onEvaluation: (stage, n) => say(`fit ${name}: ${stage}, ${n} likelihood evaluations`),
        });
        if (!Number.isFinite(fit.logLik)) {
          throw new Error(
            `The fit of ${name} ended with a non-finite log-likelihood ${fit.logLik}.`,
          );
        }
        fitted.push({ name, model, lik, fit, seconds: (performance.now() - t0) / 1000 });
      } catch (e) {
        lik[Symbol.dispose]();
        throw e;
      }
    }
    const main = fitted.find((f) => f.name === requested)!;
    const fits: ReportFit[] = fitted.map((f) =>
      reportFit(
        f.name,
        f.fit,
        summarizeModel(f.model, f.fit.values, f.lik.tree).expectedEventsPerFamily,
        f.seconds,
        RATE_UNIT,
      )
    );
    const comparison = fitted.length >= 2
      ? compareModels(fitted.map((f) => ({ model: f.model, fit: f.fit })))
      : { rows: [], tests: [] };
    say(`ancestral: expected gains and losses under ${requested}`);
    const set = o.familySet ?? null;
    const rec = reconstructAncestral(main.lik, main.fit.values, {
      completeness: setup.completeness,
      ...(set ? { familySet: set.families } : {}),
    });
    const sums = set ? rec.familySet!.sums : rec.totals;
    const nFamilies = dataset.patterns.familyNames.length;
    const tree = dataset.tree;
    const missing: { section: string; reason: string }[] = [];
    const spectrum: ReportSpectrum | null = null;
    missing.push({
      section: "spectrum",
      reason: "The observed and expected gene-frequency spectrum is not in this build " +
        "(lib/diagnostics/spectrum.ts is not available).",
    });
    const screen: ReportScreen | null = null;
    missing.push({
      section: "screen",
      reason: "The per-family screen (QQ and volcano plots, top families) is not in this build " +
        "(lib/effects/screen.ts is not available).",
    });
    missing.push({
      section: "genomes",
      reason: "Genome diagnostics are not in this build (lib/diagnostics/genomes.ts is not " +
        "available).",
    });
    const seconds = (performance.now() - o.started) / 1000;
    return Promise.resolve({
      title: o.title ?? `genecontent report: ${pamPath.split("/").pop()}`,
      dataset: {
        treePath,
        pamPath,
        nFamilies,
        nGenomes: tree.nTips,
        nPatterns: dataset.patterns.nPatterns,
        ascertainment: windowText(setup.window),
        treeLength: totalLength(tree),
        droppedTips: dataset.droppedTips,
        droppedTaxa: dataset.droppedTaxa,
      },
      treeSource: o.treeSource,
      model: requested,
      fits,
      refused,
      comparison,
      tree: {
        tipNames: tree.tipNames,
        parent: Array.from(tree.parent),
        branchLength: Array.from(tree.branchLength),
        ids: rec.ids,
        gains: Array.from(sums.gains),
        losses: Array.from(sums.losses),
        label: set
          ? `family set ${set.name}, ${set.families.length.toLocaleString("en-US")} families`
          : `all ${nFamilies.toLocaleString("en-US")} families`,
        model: requested,
      },
      spectrum,
      screen,
      topFamilies: [],
      genomes: null,
      missing,
      provenance: { ...o.provenance, seconds, plotting: PLOTTING_LIBRARIES },
    });
  } finally {
    for (const f of fitted) f.lik[Symbol.dispose]();
  }
}
