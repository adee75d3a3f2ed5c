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
import {
  type Ascertainment,
  formatModel,
  type ModelDescription,
  parseModel,
} from "../model/description.ts";
import { summarizeModel } from "../model/summaries.ts";
import type { Provenance } from "../provenance.ts";
import { totalLength } from "../tree/flat_tree.ts";
import { openSetupLikelihood, windowText } from "../cli/model_setup.ts";
import {
  RATE_UNIT,
  type ReportData,
  type ReportFit,
  reportFit,
  type ReportGenomes,
  type ReportScreen,
  type ReportSpectrum,
  type TopFamilyRow,
  topScreenRows,
  type TreeSource,
} from "./data.ts";
import { PLOTTING_LIBRARIES } from "./figures/vega.ts";
import { spectrumFit } from "../diagnostics/spectrum.ts";
import { genomeDiagnostics, refitWithout } from "../diagnostics/genomes.ts";
import { screenFamilies, type ScreenResult } from "../effects/screen.ts";
import { ModelLikelihood as Likelihood } from "../likelihood/model_likelihood.ts";
import type { SitePatterns } from "../pam/patterns.ts";

/** The model a report is about, and what the PAM's likelihood is conditioned on. */
export interface ReportModelSetup {
  /** The requested model. */
  readonly model: ModelDescription;
  /** The prevalence window the PAM was filtered to. */
  readonly window: Ascertainment;
  /** Per-genome completeness in the tree's tip order, or `null`. */
  readonly completeness: Float64Array | null;
}

/** Options of {@linkcode collectReportData}. */
export interface CollectOptions {
  /** The loaded tree and PAM. */
  readonly dataset: Dataset;
  /** The backend factory. */
  readonly factory: BackendFactory;
  /** The requested model, window and completeness. */
  readonly setup: ReportModelSetup;
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
  /**
   * Simulated null families calibrating the screen's p-values (`screenFamilies`'
   * `calibration`; default 0: asymptotic chi-square p-values).
   */
  readonly calibration?: number;
  /** Seed of the calibration (default 1). */
  readonly seed?: number;
  /** Spectrum classes shown one per present count up to this many counts, else pooled (200). */
  readonly maxSpectrumBars?: number;
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
        lik = openSetupLikelihood(
          dataset,
          o.factory,
          { ...setup, model, completenessInput: null },
          treePath,
        );
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
    const steps: Record<string, number> = {};
    let mark = performance.now();
    const lap = (step: string) => {
      const now = performance.now();
      steps[step] = (now - mark) / 1000;
      mark = now;
    };
    steps.fits = fitted.reduce((a, f) => a + f.seconds, 0);
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
    lap("ancestral");
    // A diagnostic the data or the model cannot support is reported as missing, with the
    // owning module's reason; the rest of the report is still written.
    const attempt = <T>(section: string, what: string, f: () => T): T | null => {
      try {
        return f();
      } catch (e) {
        if (!(e instanceof GenecontentError)) throw e;
        missing.push({ section, reason: `${what} could not be computed: ${e.message}` });
        return null;
      }
    };
    say(`spectrum: expected counts under ${requested}`);
    const spectrum = attempt(
      "spectrum",
      "The gene-frequency spectrum",
      () => reportSpectrum(main, setup.completeness, o.maxSpectrumBars ?? 200),
    );
    lap("spectrum");
    say(`screen: every family against ${requested}`);
    const screened = attempt(
      "screen",
      "The per-family screen",
      () =>
        screenFamilies(main.lik, dataset.patterns, {
          tree: dataset.tree,
          model: main.model,
          values: main.fit.values,
          window: setup.window,
          completeness: setup.completeness,
          open: (patterns: SitePatterns) =>
            new Likelihood(dataset.tree, patterns, o.factory, main.model, setup.window, {
              completeness: setup.completeness,
            }),
        }, {
          channel: "loss",
          level: o.level ?? 0.95,
          calibration: o.calibration ?? 0,
          seed: o.seed ?? 1,
          onProgress: (m) => say(`screen: ${m}`),
        }),
    );
    const screen = screened ? reportScreen(screened, requested) : null;
    lap("screen");
    const topFamilies: TopFamilyRow[] = [];
    if (screened && screen) {
      const members = set ? new Set(set.families) : null;
      const top = topScreenRows(
        members ? screen.rows.filter((r) => members.has(r.family)) : screen.rows,
        o.topFamilies ?? 25,
      );
      const present = new Map(screened.families.map((f) => [f.family, f.present]));
      const byName = new Map(top.map((r) => [r.family, r]));
      for (const fam of rec.families(top.map((r) => r.family))) {
        let g = 0, l = 0;
        for (let v = 0; v < fam.gains.length; v++) {
          g += fam.gains[v];
          l += fam.losses[v];
        }
        topFamilies.push({
          ...byName.get(fam.family)!,
          present: present.get(fam.family)!,
          gains: g,
          losses: l,
        });
      }
    }
    say(`genomes: diagnostics under ${requested}`);
    const genomes = attempt(
      "genomes",
      "The genome diagnostics",
      () => reportGenomes(main, setup.completeness, o.factory, say),
    );
    lap("genomes");
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
      topFamilies,
      genomes,
      missing,
      provenance: { ...o.provenance, seconds, steps, plotting: PLOTTING_LIBRARIES },
    });
  } finally {
    for (const f of fitted) f.lik[Symbol.dispose]();
  }
}

/** The spectrum section: per present count when there are at most `maxBars`, else pooled. */
function reportSpectrum(
  main: Fitted,
  completeness: Float64Array | null,
  maxBars: number,
): ReportSpectrum {
  const s = spectrumFit(main.lik, main.fit.values, { completeness });
  const perCount = s.k.length <= maxBars;
  const classes = perCount
    ? s.k.map((k, i) => ({ label: String(k), observed: s.observed[i], expected: s.expected[i] }))
    : s.classes.map((c) => ({
      label: c.from === c.to ? String(c.from) : `${c.from}-${c.to}`,
      observed: c.observed,
      expected: c.expected,
    }));
  return {
    model: main.name,
    classes,
    statistics: [
      { name: "Pearson X² (pooled classes)", value: s.statistic },
      { name: "pooled classes", value: s.classes.length },
      { name: "parameters fitted", value: s.nFitted },
      { name: "degrees of freedom", value: s.df },
      { name: "p (asymptotic, approximate)", value: s.p ?? "not defined (df < 1)" },
    ],
    notes: [
      `Classes of the test are adjacent present counts pooled until each expects at least 5 ` +
      `families; the asymptotic p is approximate (the parameters were fitted to the families, ` +
      `not to the pooled counts).`,
      perCount
        ? "The figure shows one bar per present count."
        : `The figure shows the ${s.classes.length} pooled classes of the test ` +
          `(${s.k.length} present counts are too many to show one by one).`,
    ],
  };
}

/** The screen section from a screen result. */
function reportScreen(r: ScreenResult, model: string): ReportScreen {
  return {
    effect: `theta, log of the family's own ${r.channel}-rate multiplier against the fitted ` +
      `${model} (theta > 0: ${r.channel === "loss" ? "lost" : "gained"} faster)`,
    effectShort: `theta: log ${r.channel}-rate multiplier`,
    rows: r.families.map((f) => ({
      family: f.family,
      theta: f.theta,
      thetaCI: f.thetaCI,
      lrt: f.lrt,
      p: f.p,
      q: f.q,
    })),
    qThreshold: 0.05,
    notes: [
      r.calibration > 0
        ? `p-values calibrated on ${r.calibration.toLocaleString("en-US")} families simulated ` +
          `under the fitted model (seed ${r.seed}), pooled by prevalence.`
        : "p-values from the chi-square(1) reference of the likelihood-ratio statistic " +
          "(asymptotic; poor for rare families: calibrate with --calibration N).",
      `q-values by Benjamini-Hochberg over all ${r.families.length.toLocaleString("en-US")} ` +
      `families; ${r.level * 100}% profile intervals; |theta| is bounded by ${r.bound}.`,
    ],
  };
}

/** The genome diagnostics section, with the refit without flagged genomes. */
function reportGenomes(
  main: Fitted,
  completeness: Float64Array | null,
  factory: BackendFactory,
  say: (text: string) => void,
): ReportGenomes {
  const d = genomeDiagnostics(main.lik, main.fit.values, { completeness });
  const rows = d.genomes.map((g) => ({
    genome: g.genome,
    flagged: g.flag !== null,
    values: {
      flag: g.flag ?? "",
      present: g.presentFamilies,
      observed: g.observedFamilies,
      singletons: g.singletons.observed,
      expectedSingletons: g.singletons.expected,
      zSingletons: g.singletons.z,
      upTo2: g.upTo2.observed,
      expectedUpTo2: g.upTo2.expected,
      zUpTo2: g.upTo2.z,
    },
  }));
  // Flagged first, then by |z| of the singletons.
  rows.sort((a, b) =>
    Number(b.flagged) - Number(a.flagged) ||
    Math.abs(b.values.zSingletons) - Math.abs(a.values.zSingletons)
  );
  let refit: ReportGenomes["refit"] = null;
  if (d.flagged.length > 0 && d.flagged.length <= main.lik.tree.nTips - 2) {
    say(`genomes: refit without ${d.flagged.length} flagged genome(s)`);
    const r = refitWithout(main.lik, main.fit.values, d.flagged, { factory, completeness });
    refit = {
      dropped: r.dropped,
      nGenomes: r.nGenomes,
      nFamiliesBefore: r.nFamiliesBefore,
      nFamiliesAfter: r.nFamiliesAfter,
      parameters: r.parameters,
    };
  }
  return {
    columns: [
      {
        key: "flag",
        label: "flag",
        description: "excess or deficit of singletons (|z| ≥ " +
          `${d.threshold})`,
      },
      { key: "present", label: "present", description: "families present in the genome" },
      { key: "observed", label: "observed", description: "families not missing in the genome" },
      { key: "singletons", label: "singletons", description: "families found only in it" },
      {
        key: "expectedSingletons",
        label: "expected",
        description: "singletons expected under " +
          `${main.name}`,
      },
      {
        key: "zSingletons",
        label: "z",
        description: "(observed − expected) / sd of the singletons",
      },
      {
        key: "upTo2",
        label: "≤ 2 genomes",
        description: "families present in it and at most one other genome",
      },
      { key: "expectedUpTo2", label: "expected", description: "expected under the model" },
      { key: "zUpTo2", label: "z", description: "z of the families in at most 2 genomes" },
    ],
    rows,
    notes: [
      `A genome is flagged when the z-score of its singletons reaches ${d.threshold} in either ` +
      "direction: an excess suggests contamination, mis-assembly, a distant strain or a " +
      "mislabelled genome; a deficit an incomplete assembly or a near-duplicate genome.",
    ],
    refit,
  };
}
