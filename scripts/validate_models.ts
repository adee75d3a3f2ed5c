/**
 * Validation of the models on simulated data with known truth: for each generating model
 * (null, gamma4, mixture3, null+error, gamma4+error, gamma4+inv, and gamma4 under a prevalence
 * window), families are simulated on a fresh Yule tree per replicate, filtered by the
 * ascertainment window the likelihood conditions on, and fitted by maximum likelihood with 95%
 * profile intervals. The run measures
 * - recovery: every parameter's estimate against the truth, its relative error, and whether the
 *   profile interval covers the truth (counted over replicates);
 * - the ascertainment correction's bias: gain and pi1 fitted with the correction and without it
 *   (and, for the window scenario, conditioned on the usual "at least one present" instead of
 *   the window);
 * - model selection: null, gamma4 and mixture3 fitted to data from each of them, which model
 *   AIC and BIC pick, and the likelihood-ratio tests between the nested pairs.
 *
 * Usage:
 * `deno run --allow-all scripts/validate_models.ts
 *  [--replicates N] [--quick] [--seed S] [--out DIR] [--threads T] [--backend auto|native|ts]`
 *
 * Writes `DIR/models.json` (every replicate's numbers and the summaries) and `DIR/models.md`
 * (the tables), both formatted by `deno fmt` when `--allow-run` is given; DIR defaults to
 * `validation/`. `--quick` runs the small version the test suite
 * runs in-process: the gamma4 and mixture3 scenarios only, one replicate unless `--replicates`
 * says otherwise. The output is a function of the options alone, apart from timings and the
 * machine description.
 *
 * @module
 */

import { GenecontentError } from "../lib/errors.ts";
import { compareModels } from "../lib/fit/compare.ts";
import { fitModelLikelihood, type ModelFit } from "../lib/fit/fit_model.ts";
import { type BackendChoice, chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { type Ascertainment, formatModel, parseModel } from "../lib/model/description.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { VERSION } from "../lib/version.ts";

/** The usual PAM's ascertainment: at least one present genome. */
const AT_LEAST_ONE: Ascertainment = { minPresent: 1, maxPresent: null };
/** No ascertainment correction. */
const UNCORRECTED: Ascertainment = { minPresent: 0, maxPresent: null };

/** The models every selection scenario fits. */
export const SELECTION_CANDIDATES = ["null", "gamma4", "mixture3"] as const;

/** One generating model of the validation, with its truth and what is fitted to its data. */
export interface Scenario {
  /** Short name, used as the key in outputs. */
  readonly name: string;
  /** The generating (and fitted) model. */
  readonly model: string;
  /** True parameter values by name. */
  readonly truth: Readonly<Record<string, number>>;
  /** The window the simulated families are filtered to (and the corrected fit conditions on). */
  readonly window: Ascertainment;
  /** Other conditioning of the same model fitted for the bias table (name to window). */
  readonly biasFits: Readonly<Record<string, Ascertainment>>;
  /** Whether null, gamma4 and mixture3 are all fitted for the model-selection table. */
  readonly selection: boolean;
  /** Why the truth is what it is. */
  readonly note: string;
}

/**
 * The scenarios, on Yule trees scaled to root-to-tip height 1 (200 tips: total length about 44,
 * tip branches about 0.08). Rates are per unit height: the null truth (gain 0.03, loss 0.6)
 * leaves about a third of the simulated families unobserved, so the uncorrected fit is visibly
 * biased; the mixture's classes differ about 6-fold in turnover from one to the next.
 */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: "null",
    model: "null",
    truth: { gain: 0.03, loss: 0.6 },
    window: AT_LEAST_ONE,
    biasFits: { uncorrected: UNCORRECTED },
    selection: true,
    note: "pi1 0.048; about a third of the simulated families are never present",
  },
  {
    name: "gamma4",
    model: "gamma4",
    truth: { gain: 0.05, loss: 1, alpha: 0.5 },
    window: AT_LEAST_ONE,
    biasFits: { uncorrected: UNCORRECTED },
    selection: true,
    note: "strong rate variation (alpha 0.5): slow categories are often never present",
  },
  {
    name: "mixture3",
    model: "mixture3",
    truth: {
      gain1: 0.02,
      loss1: 0.15,
      gain2: 0.1,
      loss2: 1,
      gain3: 0.6,
      loss3: 6,
      split1: 0.3,
      split2: 4 / 7,
    },
    window: AT_LEAST_ONE,
    biasFits: {},
    selection: true,
    note: "classes with turnover 0.17, 1.1 and 6.6 (about 6-fold apart), weights 0.3, 0.4, 0.3",
  },
  {
    name: "null+error",
    model: "null+error",
    truth: { gain: 0.05, loss: 1, falsePresence: 0.002, falseAbsence: 0.03 },
    window: AT_LEAST_ONE,
    biasFits: {},
    selection: false,
    note: "annotation errors: 0.2% false presences, 3% false absences",
  },
  {
    name: "gamma4+error",
    model: "gamma4+error",
    truth: { gain: 0.05, loss: 1, alpha: 0.5, falsePresence: 0.002, falseAbsence: 0.03 },
    window: AT_LEAST_ONE,
    biasFits: {},
    selection: false,
    note: "rate variation and annotation errors together",
  },
  {
    name: "gamma4+inv",
    model: "gamma4+inv",
    truth: { gain: 0.05, loss: 1, alpha: 0.5, pInv: 0.1 },
    window: AT_LEAST_ONE,
    biasFits: {},
    selection: false,
    note: "10% of families never change (present everywhere); identified without +error",
  },
  {
    name: "window",
    model: "gamma4",
    truth: { gain: 0.1, loss: 0.5, alpha: 0.5 },
    window: { minPresent: 2, maxPresent: 190 },
    biasFits: { "at least one": AT_LEAST_ONE, uncorrected: UNCORRECTED },
    selection: false,
    note: "families present in 2 to 190 of 200 genomes only (no singletons, no near-core)",
  },
];

/** Replicates per scenario of the full run. */
export const DEFAULT_REPLICATES = 30;

/** The scenarios `--quick` runs. */
export const QUICK_SCENARIOS = ["gamma4", "mixture3"] as const;

/** Options of {@linkcode runValidation}. */
export interface ValidationOptions {
  /** Replicates per scenario (default {@linkcode DEFAULT_REPLICATES}; 1 with `quick`). */
  readonly replicates?: number;
  /** Only the scenarios of {@linkcode QUICK_SCENARIOS}. */
  readonly quick?: boolean;
  /** Base seed (default 1). */
  readonly seed?: number;
  /** Native worker threads (default 0: one per CPU). */
  readonly threads?: number;
  /** Backend choice (default `auto`). */
  readonly backend?: BackendChoice;
  /** Genomes per tree (default 200). */
  readonly genomes?: number;
  /** Observed families per data set (default 3,000). */
  readonly families?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** One fit as recorded. */
export interface FitRecord {
  /** The model fitted. */
  readonly model: string;
  /** The window it was conditioned on. */
  readonly window: Ascertainment;
  /** Estimates by name (parameters, then derived pi1 quantities). */
  readonly estimates: Record<string, number>;
  /** 95% profile intervals by name (absent when intervals were skipped). */
  readonly intervals: Record<string, [number, number]> | null;
  readonly logLik: number;
  readonly nParams: number;
  /** Families (for BIC). */
  readonly nObservations: number;
  readonly aic: number;
  readonly bic: number;
  readonly converged: boolean;
  readonly warnings: string[];
  readonly evaluations: number;
  readonly seconds: number;
}

/** One replicate of one scenario. */
export interface ReplicateRecord {
  readonly replicate: number;
  /** Seed of the tree (shared by every scenario of the replicate). */
  readonly treeSeed: number;
  /** Seed of the simulated families. */
  readonly simulationSeed: number;
  /** Families simulated in total, and discarded below and above the window. */
  readonly nSimulated: number;
  readonly nBelowWindow: number;
  readonly nAboveWindow: number;
  /** Distinct columns. */
  readonly nPatterns: number;
  /** The corrected fit (conditioned on the scenario's window), with intervals. */
  readonly fit: FitRecord;
  /** The bias fits of the scenario, by name, with intervals. */
  readonly biasFits: Record<string, FitRecord>;
  /** The selection fits (null, gamma4, mixture3; the generating model's is `fit`). */
  readonly selectionFits: Record<string, FitRecord>;
}

/** Summary of one parameter over replicates. */
export interface ParameterSummary {
  readonly truth: number;
  readonly n: number;
  readonly mean: number;
  readonly sd: number;
  /** Mean of (estimate - truth) / truth. */
  readonly meanRelativeError: number;
  /** Standard error of that mean (sd of relative errors / sqrt(n)). */
  readonly relativeErrorSe: number;
  /** Root mean square relative error. */
  readonly rmsRelativeError: number;
  /** Largest |relative error|. */
  readonly maxAbsRelativeError: number;
  /** Replicates whose interval contains the truth, and replicates with an interval. */
  readonly covered: number;
  readonly intervals: number;
}

/** One scenario's results. */
export interface ScenarioResult {
  readonly name: string;
  readonly model: string;
  readonly note: string;
  readonly truth: Record<string, number>;
  readonly window: Ascertainment;
  readonly replicates: ReplicateRecord[];
  /** Recovery of the corrected fit, by parameter (derived pi1 quantities included). */
  readonly recovery: Record<string, ParameterSummary>;
  /** Recovery of gain and pi1 (or every rate and pi1_c) under each bias fit. */
  readonly bias: Record<string, Record<string, ParameterSummary>>;
  /** Model selection over replicates, when the scenario has it. */
  readonly selection: SelectionSummary | null;
}

/** Model selection over the replicates of one generating model. */
export interface SelectionSummary {
  readonly generating: string;
  /** How often each candidate has the smallest AIC / BIC. */
  readonly aicPicks: Record<string, number>;
  readonly bicPicks: Record<string, number>;
  /** Likelihood-ratio tests per nested pair: p-values over replicates. */
  readonly tests: Record<string, { reference: string; approximate: boolean; pValues: number[] }>;
}

/** The whole run. */
export interface ValidationResult {
  readonly generator: string;
  readonly version: string;
  readonly started: string;
  readonly seconds: number;
  readonly options: {
    readonly replicates: number;
    readonly quick: boolean;
    readonly seed: number;
    readonly threads: number;
    readonly genomes: number;
    readonly families: number;
    readonly treeHeight: number;
  };
  readonly machine: Record<string, string | number>;
  readonly backend: string;
  readonly scenarios: ScenarioResult[];
}

/** The truth of the stationary presence probability (pi1 or pi1_c) of every (gain, loss) pair. */
export function derivedTruth(truth: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = { ...truth };
  if ("gain" in truth) out.pi1 = truth.gain / (truth.gain + truth.loss);
  for (let c = 1; `gain${c}` in truth; c++) {
    out[`pi1_${c}`] = truth[`gain${c}`] / (truth[`gain${c}`] + truth[`loss${c}`]);
  }
  return out;
}

/** Seeds of replicate `r` (0-based) of scenario `s` under base seed `seed`. */
export function replicateSeeds(seed: number, r: number, s: number) {
  return { treeSeed: seed * 1000 + r, simulationSeed: (seed * 1000 + r) * 100 + s + 1 };
}

const TREE_HEIGHT = 1;

function record(fit: ModelFit, model: string, window: Ascertainment, seconds: number): FitRecord {
  const estimates: Record<string, number> = {};
  let intervals: Record<string, [number, number]> | null = null;
  for (const p of fit.parameters) {
    estimates[p.name] = p.estimate;
    if (p.interval) (intervals ??= {})[p.name] = [p.interval[0], p.interval[1]];
  }
  return {
    model,
    window,
    estimates,
    intervals,
    logLik: fit.logLik,
    nParams: fit.nParams,
    nObservations: fit.nObservations,
    aic: fit.aic,
    bic: fit.bic,
    converged: fit.converged,
    warnings: fit.warnings,
    evaluations: fit.evaluations,
    seconds,
  };
}

/**
 * Summary of `name` over fit records against `truth`.
 *
 * @example
 * ```ts
 * import { summarise } from "./validate_models.ts";
 * const fit = (x: number) => ({ estimates: { a: x }, intervals: { a: [x - 1, x + 1] as [number, number] } });
 * const s = summarise([fit(1.5), fit(2.5)], "a", 2);
 * console.assert(s.meanRelativeError === 0 && s.covered === 2 && s.maxAbsRelativeError === 0.25);
 * ```
 */
export function summarise(
  fits: readonly Pick<FitRecord, "estimates" | "intervals">[],
  name: string,
  truth: number,
): ParameterSummary {
  const est = fits.map((f) => f.estimates[name]);
  const rel = est.map((e) => (e - truth) / truth);
  const n = est.length;
  const mean = est.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(est.reduce((a, e) => a + (e - mean) ** 2, 0) / (n - 1)) : 0;
  const mr = rel.reduce((a, b) => a + b, 0) / n;
  const rsd = n > 1 ? Math.sqrt(rel.reduce((a, e) => a + (e - mr) ** 2, 0) / (n - 1)) : 0;
  let covered = 0, intervals = 0;
  for (const f of fits) {
    const iv = f.intervals?.[name];
    if (!iv) continue;
    intervals++;
    if (iv[0] <= truth && truth <= iv[1]) covered++;
  }
  return {
    truth,
    n,
    mean,
    sd,
    meanRelativeError: mr,
    relativeErrorSe: rsd / Math.sqrt(n),
    rmsRelativeError: Math.sqrt(rel.reduce((a, e) => a + e * e, 0) / n),
    maxAbsRelativeError: Math.max(...rel.map(Math.abs)),
    covered,
    intervals,
  };
}

/** The parameters the bias table reports: gain (or every class gain) and pi1 (or pi1_c). */
function biasNames(truth: Readonly<Record<string, number>>): string[] {
  return Object.keys(derivedTruth(truth)).filter((k) => /^(gain\d*|pi1(_\d+)?)$/.test(k));
}

/**
 * Runs the validation (see the module documentation) and returns every number it measured.
 *
 * @example
 * ```ts ignore
 * import { runValidation } from "./validate_models.ts";
 * const r = await runValidation({ quick: true });
 * console.log(r.scenarios[0].recovery.alpha.meanRelativeError);
 * ```
 */
export async function runValidation(options: ValidationOptions = {}): Promise<ValidationResult> {
  const quick = options.quick ?? false;
  const replicates = options.replicates ?? (quick ? 1 : DEFAULT_REPLICATES);
  const seed = options.seed ?? 1;
  const threads = options.threads ?? 0;
  const genomes = options.genomes ?? 200;
  const families = options.families ?? 3000;
  const log = options.log ?? (() => {});
  for (
    const [what, v, least] of [
      ["Replicates", replicates, 1],
      ["Seed", seed, 0],
      ["Threads", threads, 0],
      ["Genomes", genomes, 4],
      ["Families", families, 1],
    ] as const
  ) {
    if (!(Number.isSafeInteger(v) && v >= least)) {
      throw new GenecontentError(`${what} must be a whole number >= ${least}; got ${v}.`);
    }
  }
  const started = new Date();
  const t0 = performance.now();
  const machine = machineDescription();
  const factory = await chooseBackend(options.backend ?? "auto", { threads });
  const scenarios = SCENARIOS.filter((s) =>
    !quick || (QUICK_SCENARIOS as readonly string[]).includes(s.name)
  );
  const familyNames = Array.from({ length: families }, (_, i) => `f${i + 1}`);
  const records = new Map<string, ReplicateRecord[]>(scenarios.map((s) => [s.name, []]));

  const fitOne = (
    pats: ReturnType<typeof compressPatterns>,
    tree: ReturnType<typeof yuleTree>,
    model: string,
    window: Ascertainment,
    level: number | null,
  ): FitRecord => {
    const t = performance.now();
    using lik = new ModelLikelihood(tree, pats, factory, parseModel(model), window);
    const fit = fitModelLikelihood(lik, { level });
    return record(fit, model, window, (performance.now() - t) / 1000);
  };

  for (let r = 0; r < replicates; r++) {
    const { treeSeed } = replicateSeeds(seed, r, 0);
    const tree = yuleTree(genomes, new Random(treeSeed), { height: TREE_HEIGHT });
    for (const sc of scenarios) {
      const s = SCENARIOS.indexOf(sc);
      const { simulationSeed } = replicateSeeds(seed, r, s);
      const model = parseModel(sc.model);
      const sim = simulateModel(tree, model, sc.truth, {
        nFamilies: families,
        seed: simulationSeed,
        ascertainment: sc.window,
      });
      const pats = compressPatterns(sim.states, families, genomes, familyNames);
      const fit = fitOne(pats, tree, sc.model, sc.window, 0.95);
      const biasFits: Record<string, FitRecord> = {};
      for (const [name, w] of Object.entries(sc.biasFits)) {
        biasFits[name] = fitOne(pats, tree, sc.model, w, 0.95);
      }
      const selectionFits: Record<string, FitRecord> = {};
      if (sc.selection) {
        for (const m of SELECTION_CANDIDATES) {
          selectionFits[m] = m === formatModel(model)
            ? fit
            : fitOne(pats, tree, m, sc.window, null);
        }
      }
      records.get(sc.name)!.push({
        replicate: r,
        treeSeed,
        simulationSeed,
        nSimulated: sim.nSimulated,
        nBelowWindow: sim.nBelowWindow,
        nAboveWindow: sim.nAboveWindow,
        nPatterns: pats.nPatterns,
        fit,
        biasFits,
        selectionFits,
      });
      const secs = fit.seconds + Object.values(biasFits).reduce((a, f) => a + f.seconds, 0) +
        Object.entries(selectionFits).reduce((a, [, f]) => a + (f === fit ? 0 : f.seconds), 0);
      log(
        `replicate ${r + 1}/${replicates} ${sc.name}: ${
          Object.entries(fit.estimates).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(", ")
        } (${secs.toFixed(1)} s)`,
      );
    }
  }

  const results: ScenarioResult[] = scenarios.map((sc) => {
    const reps = records.get(sc.name)!;
    const truth = derivedTruth(sc.truth);
    const recovery: Record<string, ParameterSummary> = {};
    for (const p of Object.keys(reps[0].fit.estimates)) {
      if (!(p in truth)) {
        throw new Error(`Scenario ${sc.name}: no truth for the fitted quantity ${p}.`);
      }
      recovery[p] = summarise(reps.map((x) => x.fit), p, truth[p]);
    }
    const bias: Record<string, Record<string, ParameterSummary>> = {};
    const names = biasNames(sc.truth);
    const fitsByName: Record<string, FitRecord[]> = { corrected: reps.map((x) => x.fit) };
    for (const b of Object.keys(sc.biasFits)) fitsByName[b] = reps.map((x) => x.biasFits[b]);
    if (Object.keys(sc.biasFits).length > 0) {
      for (const [b, fits] of Object.entries(fitsByName)) {
        bias[b] = Object.fromEntries(names.map((p) => [p, summarise(fits, p, truth[p])]));
      }
    }
    return {
      name: sc.name,
      model: sc.model,
      note: sc.note,
      truth,
      window: sc.window,
      replicates: reps,
      recovery,
      bias,
      selection: sc.selection ? selectionSummary(formatModel(parseModel(sc.model)), reps) : null,
    };
  });

  return {
    generator: "scripts/validate_models.ts",
    version: VERSION,
    started: started.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    options: { replicates, quick, seed, threads, genomes, families, treeHeight: TREE_HEIGHT },
    machine,
    backend: factory.name,
    scenarios: results,
  };
}

function selectionSummary(generating: string, reps: readonly ReplicateRecord[]): SelectionSummary {
  const aicPicks: Record<string, number> = {};
  const bicPicks: Record<string, number> = {};
  for (const m of SELECTION_CANDIDATES) aicPicks[m] = bicPicks[m] = 0;
  const tests: SelectionSummary["tests"] = {};
  for (const rep of reps) {
    const fits = SELECTION_CANDIDATES.map((m) => ({ model: m, fit: rep.selectionFits[m] }));
    const { rows, tests: lrts } = compareModels(fits);
    const best = (key: "dAic" | "dBic") => rows.find((row) => row[key] === 0)!.model;
    aicPicks[best("dAic")]++;
    bicPicks[best("dBic")]++;
    for (const t of lrts) {
      const key = `${t.nullModel} in ${t.alternative}`;
      tests[key] ??= { reference: t.reference, approximate: t.approximate, pValues: [] };
      tests[key].pValues.push(t.pValue);
    }
  }
  return { generating, aicPicks, bicPicks, tests };
}

function machineDescription(): Record<string, string | number> {
  let cpu = "unknown";
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    cpu = /model name\s*:\s*(.+)/.exec(info)?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux, or not readable: the CPU stays unknown.
  }
  let release = "";
  try {
    release = Deno.osRelease();
  } catch {
    // Without --allow-sys: the kernel release from /proc, where there is one.
    try {
      release = Deno.readTextFileSync("/proc/sys/kernel/osrelease").trim();
    } catch {
      // Unknown release: the OS name alone.
    }
  }
  return {
    os: `${Deno.build.os} ${release}`.trim(),
    arch: Deno.build.arch,
    cpu,
    cpus: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}

const fmt = (x: number, digits = 4) =>
  x === 0
    ? "0"
    : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4
    ? x.toPrecision(digits)
    : x.toExponential(2);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const withSe = (r: ParameterSummary) =>
  r.n > 1 ? `${pct(r.meanRelativeError)} ± ${pct(r.relativeErrorSe)}` : pct(r.meanRelativeError);
const windowText = (w: Ascertainment) =>
  w.minPresent === 0 && w.maxPresent === null
    ? "none (uncorrected)"
    : w.maxPresent === null
    ? `>= ${w.minPresent} present`
    : `${w.minPresent} to ${w.maxPresent} present`;

/** The Markdown report of a run (`validation/models.md`). */
export function renderMarkdown(result: ValidationResult): string {
  const o = result.options;
  const m = result.machine;
  const lines: string[] = [];
  const table = (head: string[], rows: string[][]) => {
    lines.push(`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`);
    for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
    lines.push("");
  };
  lines.push(
    "# Validation of the models on simulated data",
    "",
    `Generated by \`${result.generator}\` (genecontent ${result.version}) on ${result.started}` +
      ` in ${(result.seconds / 60).toFixed(1)} min. See \`validation/README.md\` for what each ` +
      "table means and how to rerun it.",
    "",
    `- Command: \`deno run --allow-all scripts/validate_models.ts --replicates ${o.replicates} --seed ${o.seed}` +
      `${o.quick ? " --quick" : ""}${o.threads ? ` --threads ${o.threads}` : ""}\``,
    `- Data: per replicate one Yule tree of ${o.genomes} genomes (root-to-tip height ` +
      `${o.treeHeight}, tree seed = ${o.seed} x 1000 + replicate), ${o.families} observed ` +
      "families per scenario (simulation seed = tree seed x 100 + scenario number), filtered " +
      "to the scenario's window as simulated; corrected fits condition on that window.",
    `- Replicates: ${o.replicates} per scenario; backend ${result.backend}, threads ` +
      `${o.threads || "one per CPU"}.`,
    `- Machine: ${m.cpu} (${m.cpus} CPUs), ${m.os} ${m.arch}, Deno ${m.deno}.`,
    "",
    "## Scenarios",
    "",
  );
  table(
    ["scenario", "model", "truth", "window", "discarded (mean)", "patterns (mean)", "note"],
    result.scenarios.map((s) => {
      const reps = s.replicates;
      const disc = reps.reduce((a, r) => a + (r.nBelowWindow + r.nAboveWindow) / r.nSimulated, 0) /
        reps.length;
      const pats = reps.reduce((a, r) => a + r.nPatterns, 0) / reps.length;
      const truth = Object.entries(s.truth).filter(([k]) => !k.startsWith("pi1"))
        .map(([k, v]) => `${k} ${fmt(v, 3)}`).join(", ");
      return [s.name, s.model, truth, windowText(s.window), pct(disc), pats.toFixed(0), s.note];
    }),
  );
  lines.push(
    "## Recovery",
    "",
    "Corrected fits (conditioned on the window the data were filtered to). Relative error = " +
      "(estimate - truth) / truth; coverage = replicates whose 95% profile interval contains " +
      "the truth.",
    "",
  );
  table(
    [
      "scenario",
      "parameter",
      "truth",
      "mean estimate",
      "mean rel. error (± SE)",
      "RMS rel. error",
      "max abs. rel. error",
      "95% coverage",
    ],
    result.scenarios.flatMap((s) =>
      Object.entries(s.recovery).map(([p, r]) => [
        s.name,
        p,
        fmt(r.truth),
        fmt(r.mean),
        withSe(r),
        pct(r.rmsRelativeError),
        pct(r.maxAbsRelativeError),
        `${r.covered}/${r.intervals}`,
      ])
    ),
  );
  lines.push(
    "## Bias of the ascertainment correction",
    "",
    "The same data fitted with the correction for the window they were filtered to " +
      "(`corrected`), conditioned on at least one present genome only (`at least one`), and " +
      "without any correction (`uncorrected`).",
    "",
  );
  table(
    [
      "scenario",
      "fit",
      "parameter",
      "truth",
      "mean estimate",
      "mean rel. error (± SE)",
      "95% coverage",
    ],
    result.scenarios.flatMap((s) =>
      Object.entries(s.bias).flatMap(([b, ps]) =>
        Object.entries(ps).map(([p, r]) => [
          s.name,
          b,
          p,
          fmt(r.truth),
          fmt(r.mean),
          withSe(r),
          `${r.covered}/${r.intervals}`,
        ])
      )
    ),
  );
  lines.push(
    "## Model selection",
    "",
    `${SELECTION_CANDIDATES.join(", ")} fitted to the data of each of them; how often each ` +
      "has the smallest AIC and BIC, and the likelihood-ratio tests of the nested pairs " +
      "(p-values over replicates; `approximate`: no asymptotic reference, see " +
      "`lib/fit/compare.ts`).",
    "",
  );
  const sel = result.scenarios.filter((s) => s.selection);
  table(
    [
      "generating",
      ...SELECTION_CANDIDATES.map((c) => `AIC picks ${c}`),
      ...SELECTION_CANDIDATES.map((c) => `BIC picks ${c}`),
    ],
    sel.map((s) => [
      s.selection!.generating,
      ...SELECTION_CANDIDATES.map((c) => `${s.selection!.aicPicks[c]}/${s.replicates.length}`),
      ...SELECTION_CANDIDATES.map((c) => `${s.selection!.bicPicks[c]}/${s.replicates.length}`),
    ]),
  );
  table(
    ["generating", "test", "reference", "median p", "largest p", "p < 0.05"],
    sel.flatMap((s) =>
      Object.entries(s.selection!.tests).map(([k, t]) => {
        const p = [...t.pValues].sort((a, b) => a - b);
        const median = p.length % 2
          ? p[(p.length - 1) / 2]
          : (p[p.length / 2 - 1] + p[p.length / 2]) / 2;
        return [
          s.selection!.generating,
          k,
          `${t.reference}${t.approximate ? " (approximate)" : ""}`,
          fmt(median, 3),
          fmt(p[p.length - 1], 3),
          `${p.filter((x) => x < 0.05).length}/${p.length}`,
        ];
      })
    ),
  );
  lines.push(
    "## Fits",
    "",
    "Convergence, warnings and time of the corrected fits (with intervals).",
    "",
  );
  table(
    ["scenario", "converged", "fits with warnings", "mean evaluations", "mean time (s)"],
    result.scenarios.map((s) => {
      const f = s.replicates.map((r) => r.fit);
      return [
        s.name,
        `${f.filter((x) => x.converged).length}/${f.length}`,
        `${f.filter((x) => x.warnings.length > 0).length}/${f.length}`,
        (f.reduce((a, x) => a + x.evaluations, 0) / f.length).toFixed(0),
        (f.reduce((a, x) => a + x.seconds, 0) / f.length).toFixed(2),
      ];
    }),
  );
  const warned = result.scenarios.flatMap((s) =>
    s.replicates.flatMap((r) =>
      [
        ["corrected", r.fit] as const,
        ...Object.entries(r.biasFits),
        ...Object.entries(r.selectionFits),
      ]
        .filter(([, f]) => f.warnings.length > 0)
        .map(([k, f]) =>
          `- ${s.name}, replicate ${r.replicate + 1}, ${
            k === "corrected" ? "corrected" : k
          } fit (${f.model}): ${f.warnings.join(" ")}`
        )
    )
  );
  if (warned.length > 0) {
    lines.push("Warnings of every fit (selection fits included):", "", ...new Set(warned), "");
  }
  return lines.join("\n");
}

function parseArgs(args: string[]): ValidationOptions & { out: string } {
  let out = "validation";
  const o: { -readonly [K in keyof ValidationOptions]: ValidationOptions[K] } = {};
  const int = (name: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(n)) {
      throw new GenecontentError(`${name} needs a whole number; got ${v ?? "nothing"}.`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--quick") o.quick = true;
    else if (a === "--replicates") o.replicates = int(a, args[++i]);
    else if (a === "--seed") o.seed = int(a, args[++i]);
    else if (a === "--threads") o.threads = int(a, args[++i]);
    else if (a === "--out") {
      const v = args[++i];
      if (!v) throw new GenecontentError("--out needs a folder.");
      out = v;
    } else if (a === "--backend") {
      const v = args[++i];
      if (v !== "auto" && v !== "native" && v !== "ts") {
        throw new GenecontentError(`--backend is auto, native or ts; got ${v ?? "nothing"}.`);
      }
      o.backend = v;
    } else {
      throw new GenecontentError(
        `Unknown option '${a}': use --replicates N, --quick, --seed S, --out DIR, --threads T, ` +
          "--backend auto|native|ts.",
      );
    }
  }
  return { ...o, out };
}

/** Formats the outputs as the repository's `deno fmt` does (aligned tables, wrapped prose). */
async function formatOutputs(paths: string[]): Promise<void> {
  const path = paths.join(" ");
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "fmt",
        "--quiet",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        ...paths,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (r.success) return;
    console.error(`deno fmt ${path} failed: ${new TextDecoder().decode(r.stderr).trim()}`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      throw e;
    }
    console.error(`Not formatted (no --allow-run): run \`deno fmt ${path}\`.`);
  }
}

if (import.meta.main) {
  try {
    const { out, ...options } = parseArgs(Deno.args);
    const result = await runValidation({ ...options, log: (l) => console.error(l) });
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(`${out}/models.json`, JSON.stringify(result, null, 2) + "\n");
    await Deno.writeTextFile(`${out}/models.md`, renderMarkdown(result));
    await formatOutputs([`${out}/models.json`, `${out}/models.md`]);
    console.error(
      `Wrote ${out}/models.json and ${out}/models.md in ${result.seconds.toFixed(0)} s.`,
    );
  } catch (e) {
    if (!(e instanceof GenecontentError)) throw e;
    console.error(`validate_models: error: ${e.message}`);
    Deno.exit(2);
  }
}
