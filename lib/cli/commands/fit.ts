/**
 * `genecontent fit`: maximum-likelihood estimates of any model's parameters with profile
 * intervals, AIC and BIC; with `--compare`, several models fitted to the same data with a table
 * of AIC, BIC and likelihood-ratio tests of the nested pairs.
 *
 * @module
 */

import {
  compareModels,
  type ComparisonRow,
  formatComparison,
  type LikelihoodRatioTest,
} from "../../fit/compare.ts";
import { type BranchLengthFit, fitBranchLengths } from "../../fit/branch_lengths.ts";
import { fitModel, type ModelFit } from "../../fit/fit_model.ts";
import { PI1_OF_NULL_MODEL } from "../../fit/fit_null_model.ts";
import { modelObjective } from "../../fit/objective.ts";
import { GenecontentError } from "../../errors.ts";
import type { ModelLikelihood } from "../../likelihood/model_likelihood.ts";
import { perFamilyTable, refuseImpossible, refuseNonFinite } from "../../likelihood/per_family.ts";
import { formatModel, type ModelDescription, parseModel } from "../../model/description.ts";
import { summarizeModel } from "../../model/summaries.ts";
import { makeProvenance } from "../../provenance.ts";
import { formatNewick } from "../../newick/format.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_CHOICE_HELP,
  MODEL_CHOICE_OPTIONS,
} from "../model_options.ts";
import {
  expectationsFactory,
  modelSetup,
  openSetupLikelihood,
  refuseZeroLengthTree,
  windowText,
} from "../model_setup.ts";
import {
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandLine,
  refuseConflicts,
} from "../options.ts";
import { planOutputs, printJson, toTsv } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Units of the rates, as every output states them. */
export const RATE_UNIT = "per unit branch length";

/** Options of `fit`. */
export const FIT_OPTIONS = {
  ...INPUT_OPTIONS,
  ...MODEL_CHOICE_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  compare: { type: "string" },
  level: { type: "string" },
  "no-ci": { type: "boolean" },
  "per-family": { type: "string" },
  "optimize-branch-lengths": { type: "boolean" },
  "tree-out": { type: "string" },
} as const;

/** Help text of `fit`. */
export const FIT_HELP = `genecontent fit: maximum-likelihood estimates of a model's parameters

Usage: genecontent fit --tree FILE --pam FILE [--model M | --compare M1,M2,...] [options]

Rates are per unit branch length of the tree (gain: absent to present, loss: present to
absent); a factor on the tree's length would be confounded with them, so the unit-free
expectedEventsPerFamily (gains plus losses of a family over the whole tree) is reported too.
logLik is a natural logarithm.

${MODEL_CHOICE_HELP}
  --compare M1,M2,...    fit each model (e.g. null,gamma4,gamma4+inv,mixture3) to the same data
                         and compare them: AIC, BIC, differences to the best, and
                         likelihood-ratio tests of nested pairs (chi-bar-square where the
                         smaller model sits on a boundary of the larger one); not with --model
${ASCERTAINMENT_HELP}
Intervals:
  --level P              confidence level of the profile-likelihood intervals, 0 < P < 1
                         (default 0.95); not with --no-ci
  --no-ci                skip the intervals
Per-family output:
  --per-family FILE      write one TSV row per family (family, present, observed, logLik at
                         the estimates, then each component's posterior probability for models
                         with several components; present/observed: genomes with the family
                         present / not missing), with FILE.provenance.json; '-' for stdout
Branch lengths:
  --optimize-branch-lengths
                         fit every branch length of the tree's topology jointly with the
                         model's parameters (analytic gradients); the fitted tree keeps the
                         input tree's total length, and the rates are then per unit branch
                         length of the fitted tree; intervals are profiled on the fitted tree
                         (lengths held); any ascertainment window; not with --compare
  --tree-out FILE        write the fitted tree (Newick, names and labels kept), with
                         FILE.provenance.json; '-' for stdout; needs --optimize-branch-lengths
${INPUT_HELP}

Output: a table of the parameters with their intervals and units, logLik, AIC and BIC on
stdout. --json: model, parameters (by name: estimate, lower, upper, open ends, boundary,
identified, unit), logLik, nParams, aic, bic, converged, warnings, components,
expectedEventsPerFamily, and for the null model also gain, loss, pi1 and ci; with --compare:
models (each such a result, or the reason it was refused), table (model, logLik, nParams, aic,
bic, dAic, dBic) and tests (nullModel, alternative, statistic, df, reference, pValue). --out
FILE: a TSV with columns model, parameter, estimate, lower, upper, level, unit. With
--optimize-branch-lengths, the JSON also has branchLengths (optimized, backend, totalLength,
startLogLik, logLik, converged, iterations, evaluations, newick) and every unit reads
"per unit branch length of the fitted tree".`;

/** Units of the rates after --optimize-branch-lengths. */
export const FITTED_TREE_RATE_UNIT = "per unit branch length of the fitted tree";

/** Formats a confidence level as a percentage, e.g. 0.95 as "95%". */
function percent(level: number): string {
  return `${Number((level * 100).toPrecision(6))}%`;
}

/**
 * The plain-text result of \`fit\`: a header line, one row per parameter with its interval
 * (level in the column names) and unit, then logLik, AIC, BIC and the fit's status.
 *
 * @example
 * ```ts
 * import { formatFitText } from "./fit.ts";
 * const text = formatFitText({
 *   parameters: [
 *     { name: "gain", estimate: 0.1, interval: [0.05, 0.2], unit: "per unit branch length" },
 *     { name: "pi1", estimate: 1 / 11, interval: [0.05, 0.15], unit: "probability of presence" },
 *   ],
 *   logLik: -10, aic: 24, bic: 25, level: 0.9, converged: true, iterations: 5, evaluations: 9,
 * }, "null model, 3 families x 4 genomes");
 * console.assert(text.includes("90% lower") && text.includes("per unit branch length"));
 * ```
 */
export function formatFitText(
  fit: {
    readonly parameters: readonly {
      name: string;
      estimate: number;
      interval: readonly [number, number] | null;
      unit: string;
    }[];
    readonly logLik: number;
    readonly aic: number;
    readonly bic: number;
    readonly level: number | null;
    readonly converged: boolean;
    readonly iterations: number;
    readonly evaluations: number;
  },
  about: string,
): string {
  const g = (x: number) => x.toPrecision(6);
  const level = fit.level;
  const rows: string[][] = [[
    "parameter",
    "estimate",
    level !== null ? `${percent(level)} lower` : "lower",
    level !== null ? `${percent(level)} upper` : "upper",
    "unit",
  ]];
  for (const p of fit.parameters) {
    const iv = p.interval ? [g(p.interval[0]), g(p.interval[1])] : ["-", "-"];
    rows.push([p.name, g(p.estimate), ...iv, p.unit]);
  }
  rows.push(["logLik", fit.logLik.toFixed(4), "-", "-", "natural log"]);
  rows.push(["AIC", fit.aic.toFixed(4), "-", "-", ""]);
  rows.push(["BIC", fit.bic.toFixed(4), "-", "-", ""]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const intervals = level !== null
    ? `${percent(level)} profile-likelihood intervals`
    : "no intervals (--no-ci)";
  return [
    `# genecontent fit: ${about}; ${intervals}`,
    ...lines,
    `# ${fit.converged ? "converged" : "NOT converged"} after ${fit.iterations} iterations, ` +
    `${fit.evaluations} likelihood evaluations`,
  ].join("\n");
}

/** The unit of a fitted parameter, by kind. */
function unitOf(kind: string, name: string, rateUnit = RATE_UNIT): string {
  if (kind === "rate") return rateUnit;
  if (name === "pi1") return "probability of presence";
  if (kind === "probability" || kind === "error") return "probability";
  if (kind === "split") return "share of the remaining classes";
  return "";
}

/** One model's fit as the outputs show it. */
interface FitReport {
  readonly model: string;
  readonly fit: ModelFit;
  readonly lik: ModelLikelihood;
  readonly seconds: number;
  /** The rates' unit. */
  readonly rateUnit: string;
}

function parameterRows(fit: ModelFit, rateUnit = RATE_UNIT) {
  return fit.parameters.map((p) => ({
    name: p.name,
    estimate: p.estimate,
    interval: p.interval,
    lower: p.interval?.[0] ?? null,
    upper: p.interval?.[1] ?? null,
    open: p.open,
    boundary: p.boundary,
    identified: p.identified,
    unit: unitOf(p.kind, p.name, rateUnit),
  }));
}

function fitJson(r: FitReport, model: ModelDescription) {
  const { fit, lik } = r;
  const rows = parameterRows(fit, r.rateUnit);
  const summary = summarizeModel(model, fit.values, lik.tree);
  const legacy = model.rates.kind === "single" && !model.invariant && !model.tipError
    ? (() => {
      const b = fit.byName;
      return {
        gain: b.gain.estimate,
        loss: b.loss.estimate,
        pi1: b.pi1.estimate,
        ci: fit.level === null ? null : {
          level: fit.level,
          gain: b.gain.interval,
          loss: b.loss.interval,
          pi1: b.pi1.interval,
        },
      };
    })()
    : {};
  return {
    model: r.model,
    ...legacy,
    parameters: Object.fromEntries(rows.map(({ name, ...rest }) => [name, rest])),
    logLik: fit.logLik,
    nParams: fit.nParams,
    aic: fit.aic,
    bic: fit.bic,
    level: fit.level,
    converged: fit.converged,
    warnings: fit.warnings,
    iterations: fit.iterations,
    evaluations: fit.evaluations,
    fitSeconds: r.seconds,
    components: summary.components,
    rates: summary.categoryRates,
    expectedEventsPerFamily: summary.expectedEventsPerFamily,
    treeLength: summary.treeLength,
    units: {
      rates: r.rateUnit,
      logLik: "natural log",
      expectedEventsPerFamily: "gains plus losses per family over the whole tree (unit-free)",
    },
  };
}

/**
 * Runs `fit` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { fitCommand } from "./fit.ts";
 * await fitCommand(["--tree", "examples/tree.nwk", "--pam", "examples/pam.tsv", "--json"]);
 * ```
 */
export async function fitCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, FIT_OPTIONS, "fit");
  if (v.help) {
    console.log(FIT_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
    ["level", "no-ci", "--no-ci computes no intervals"],
    ["model", "compare", "--compare names every model to fit"],
    ["optimize-branch-lengths", "compare", "branch lengths are fitted under one model"],
  ], "fit");
  const optimize = v["optimize-branch-lengths"] === true;
  if (v["tree-out"] !== undefined && !optimize) {
    throw new GenecontentError(
      "--tree-out writes the tree fitted by --optimize-branch-lengths: give both, or neither.",
    );
  }
  const settings = inputSettings(v, "fit");
  const level = v["no-ci"] ? null : numberOption(v.level ?? "0.95", "--level", {
    min: 0,
    max: 0.9999,
    exclusiveMin: true,
  });
  const compare = v.compare !== undefined;
  const models = compare
    ? v.compare!.split(",").map((m) => m.trim()).filter((m) => m !== "").map(parseModel)
    : [parseModel(v.model ?? "null")];
  if (compare && models.length < 2) {
    throw new GenecontentError(
      `--compare needs at least two models separated by commas; got '${v.compare}'.`,
    );
  }
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
    { flag: "--per-family", value: v["per-family"] },
    { flag: "--tree-out", value: v["tree-out"] },
  ], {
    inputs: { tree: settings.treePath, PAM: settings.pamPath, completeness: v.completeness },
    force: v.force ?? false,
  });
  if (compare && plan.get("--per-family") !== undefined) {
    throw new GenecontentError(
      "--per-family writes one model's per-family values: use it with --model, not --compare.",
    );
  }
  const prepared = await prepare(settings);
  const { factory, pruned } = prepared;
  let dataset = prepared.dataset;
  const setup = await modelSetup(v, dataset, models[0]);
  const progress = new ProgressLine();
  let lengths: BranchLengthFit | null = null;
  let lengthsBackend: string | null = null;
  let start: Float64Array | null = null;
  if (optimize) {
    // Zero-length branches start at a small positive length: no refusal of the input lengths.
    const blFactory = expectationsFactory(factory);
    lengthsBackend = blFactory.name;
    lengths = fitBranchLengths(dataset.tree, dataset.patterns, blFactory, models[0], setup.window, {
      completeness: setup.completeness,
      onEvaluation: (logLik, n) =>
        progress.update(`branch lengths: ${n} evaluations, logLik ${logLik.toFixed(3)}`),
    });
    dataset = { ...dataset, tree: lengths.tree };
    start = lengths.values;
  }
  refuseZeroLengthTree(dataset, settings.treePath);
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  const rateUnit = optimize ? FITTED_TREE_RATE_UNIT : RATE_UNIT;
  const reports: FitReport[] = [];
  const refused: { model: string; reason: string }[] = [];
  try {
    for (const model of models) {
      const name = formatModel(model);
      let lik: ModelLikelihood;
      try {
        lik = openSetupLikelihood(dataset, factory, { ...setup, model }, settings.treePath);
      } catch (e) {
        // In a comparison, a model the data cannot inform is reported, not fatal.
        if (!compare || !(e instanceof GenecontentError)) throw e;
        refused.push({ model: name, reason: e.message });
        continue;
      }
      const started = performance.now();
      try {
        const fit = fitModel(modelObjective(lik), {
          level,
          ...(start ? { starts: [start] } : {}),
          derived: model.rates.kind === "single" && !model.invariant && !model.tipError
            ? [PI1_OF_NULL_MODEL]
            : [],
          onEvaluation: (stage, n) =>
            progress.update(`fit ${name}: ${stage}, ${n} likelihood evaluations`),
        });
        if (!Number.isFinite(fit.logLik)) {
          throw new Error(
            `The fit of ${name} ended with a non-finite log-likelihood ${fit.logLik}.`,
          );
        }
        reports.push({
          model: name,
          fit,
          lik,
          seconds: (performance.now() - started) / 1000,
          rateUnit,
        });
      } catch (e) {
        lik[Symbol.dispose]();
        throw e;
      }
    }
    progress.done();
    if (reports.length === 0) {
      throw new GenecontentError(
        `No model could be fitted: ${refused.map((r) => `${r.model}: ${r.reason}`).join(" ")}`,
      );
    }
    for (const r of reports) {
      for (const w of r.fit.warnings) {
        console.error(`genecontent: warning: ${compare ? `${r.model}: ` : ""}${w}`);
      }
    }
    return await writeFitResults();
  } finally {
    for (const r of reports) r.lik[Symbol.dispose]();
  }

  async function writeFitResults(): Promise<number> {
    const first = reports[0];
    const threads = first.lik.backend.threads;
    const provenance = makeProvenance({
      command: "fit",
      backend: first.lik.backend.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads,
      inputs: setup.completenessInput
        ? [...dataset.inputs, setup.completenessInput]
        : dataset.inputs,
      options: {
        models: models.map(formatModel),
        window: setup.window,
        level,
        ...settings.load,
        backend: settings.backend,
        threads: settings.threads,
        optimizeBranchLengths: optimize,
      },
    });
    const common = {
      ascertainment: windowText(setup.window),
      minPresent: setup.window.minPresent,
      maxPresent: setup.window.maxPresent,
      nFamilies: dataset.patterns.familyNames.length,
      nPatterns: dataset.patterns.nPatterns,
      nGenomes: dataset.tree.nTips,
      backend: first.lik.backend.name,
      threads,
      pruned,
      ...(lengths
        ? {
          branchLengths: {
            optimized: true,
            backend: lengthsBackend,
            totalLength: lengths.totalLength,
            startLogLik: lengths.startLogLik,
            logLik: lengths.logLik,
            converged: lengths.converged,
            iterations: lengths.iterations,
            evaluations: lengths.evaluations,
            newick: formatNewick(lengths.tree),
            note: "rates are per unit branch length of the fitted tree, whose total length is " +
              "held at the input tree's",
          },
        }
        : {}),
    };
    let comparison: { rows: ComparisonRow[]; tests: LikelihoodRatioTest[] } | null = null;
    if (compare && reports.length >= 2) {
      comparison = compareModels(reports.map((r) => ({ model: r.model, fit: r.fit })));
    }
    const result = compare
      ? {
        models: [
          ...reports.map((r) => fitJson(r, parseModel(r.model))),
          ...refused.map((r) => ({ model: r.model, refused: r.reason })),
        ],
        table: comparison?.rows ?? [],
        tests: comparison?.tests ?? [],
        ...common,
        provenance,
      }
      : { ...fitJson(first, models[0]), ...common, provenance };
    const tsvRows = reports.flatMap((r) =>
      parameterRows(r.fit, r.rateUnit).map((p) => [
        r.model,
        p.name,
        p.estimate,
        p.lower,
        p.upper,
        r.fit.level,
        p.unit,
      ]).concat([[r.model, "logLik", r.fit.logLik, null, null, null, "natural log"]])
    );
    await plan.write(
      "--out",
      toTsv(["model", "parameter", "estimate", "lower", "upper", "level", "unit"], tsvRows),
      result,
    );
    if (lengths && plan.get("--tree-out") !== undefined) {
      await plan.write("--tree-out", formatNewick(lengths.tree) + "\n", result);
    }
    if (plan.get("--per-family") !== undefined) {
      const several = first.lik.componentNames.length > 1;
      const at = first.lik.evaluate(first.fit.values, false, { posterior: several });
      refuseNonFinite(dataset.patterns, at.perPattern, "at the estimates");
      const table = perFamilyTable(dataset.patterns, at.perPattern);
      const names = first.lik.componentNames;
      await plan.write(
        "--per-family",
        toTsv(
          ["family", "present", "observed", "logLik", ...(several ? names : [])],
          table.family.map((family, f) => {
            const p = dataset.patterns.familyPattern[f];
            return [
              family,
              table.present[f],
              table.observed[f],
              table.value[f],
              ...(several ? names.map((_, c) => at.posterior![p * names.length + c]) : []),
            ];
          }),
        ),
        result,
      );
    }
    if (v.json) printJson(result);
    else {
      const say = plan.stdoutTaken ? console.error : console.log;
      const texts = reports.map((r) =>
        formatFitText(
          { ...r.fit, parameters: parameterRows(r.fit, r.rateUnit) },
          `model ${r.model}, ${common.nFamilies} families x ${common.nGenomes} genomes, ` +
            `${common.ascertainment}, ${common.backend} backend, ${threads} thread(s), ` +
            `${r.seconds.toFixed(2)} s`,
        )
      );
      say(texts.join("\n\n"));
      if (lengths) {
        say(
          `# branch lengths optimised (${lengths.converged ? "converged" : "NOT converged"}, ` +
            `${lengths.iterations} iterations): logLik ${lengths.startLogLik.toFixed(4)} on ` +
            `the input lengths -> ${lengths.logLik.toFixed(4)}; rates are per unit branch ` +
            `length of the fitted tree (total length ${lengths.totalLength.toPrecision(6)}, ` +
            "held at the input tree's)" +
            (v["tree-out"] !== undefined ? `; tree written to ${v["tree-out"]}` : ""),
        );
      }
      for (const r of refused) say(`# ${r.model}: not fitted: ${r.reason}`);
      if (comparison) {
        say(`\n# model comparison (same data)\n${formatComparison(comparison)}`);
      }
    }
    return 0;
  }
}
