/**
 * `genecontent fit`: maximum-likelihood gain and loss rates of the null model with profile
 * intervals.
 *
 * @module
 */

import { fitNullModel, type NullModelFit } from "../../fit/fit_null_model.ts";
import { GainLossLikelihood } from "../../likelihood/gain_loss_likelihood.ts";
import { perFamilyTable, refuseImpossible, refuseNonFinite } from "../../likelihood/per_family.ts";
import { makeProvenance } from "../../provenance.ts";
import { GenecontentError } from "../../errors.ts";
import { totalLength } from "../../tree/flat_tree.ts";
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
  "min-present": { type: "string" },
  "no-ascertainment": { type: "boolean" },
  level: { type: "string" },
  "no-ci": { type: "boolean" },
  "per-family": { type: "string" },
} as const;

/** Help text of `fit`. */
export const FIT_HELP = `genecontent fit: maximum-likelihood gain and loss rates

Usage: genecontent fit --tree FILE --pam FILE [options]

Rates are per unit branch length of the tree (gain: absent to present, loss: present to
absent); pi1 = gain / (gain + loss) is the stationary probability of presence; logLik is a
natural logarithm.

Model:
  --min-present K        condition each family on at least K present genomes (default 1)
  --no-ascertainment     no conditioning (biased whenever families can be missed entirely);
                         not with --min-present
  --level P              confidence level of the profile-likelihood intervals, 0 < P < 1
                         (default 0.95); not with --no-ci
  --no-ci                skip the intervals
Per-family output:
  --per-family FILE      write one TSV row per family (family, present, observed, logLik at
                         the estimates; present/observed: genomes with the family present /
                         not missing), with FILE.provenance.json; '-' for stdout
${INPUT_HELP}

Output: a table of gain, loss and pi1 with their intervals and units, and logLik, on stdout.
--json: gain, loss, pi1, logLik, ci (with its level), converged, warnings, units, backend and
provenance. --out FILE: a TSV with columns parameter, estimate, lower, upper, level, unit.`;

/** Formats a confidence level as a percentage, e.g. 0.95 as "95%". */
function percent(level: number): string {
  return `${Number((level * 100).toPrecision(6))}%`;
}

/**
 * The plain-text result of \`fit\`: a header line, one row per parameter with its interval
 * (level in the column names) and unit, then logLik and the fit's status.
 *
 * @example
 * ```ts
 * import { formatFitText } from "./fit.ts";
 * const text = formatFitText({
 *   gain: 0.1, loss: 1, pi1: 1 / 11, logLik: -10, converged: true, iterations: 5, evaluations: 9,
 *   warnings: [], ci: { level: 0.9, gain: [0.05, 0.2], loss: [0.5, 2], pi1: [0.05, 0.15] },
 * }, "3 families x 4 genomes");
 * console.assert(text.includes("90% lower") && text.includes("per unit branch length"));
 * ```
 */
export function formatFitText(fit: NullModelFit, about: string): string {
  const ci = fit.ci;
  const g = (x: number) => x.toPrecision(6);
  const rows: string[][] = [[
    "parameter",
    "estimate",
    ci ? `${percent(ci.level)} lower` : "lower",
    ci ? `${percent(ci.level)} upper` : "upper",
    "unit",
  ]];
  const iv = (x: readonly [number, number] | undefined) => x ? [g(x[0]), g(x[1])] : ["-", "-"];
  rows.push(["gain", g(fit.gain), ...iv(ci?.gain), RATE_UNIT]);
  rows.push(["loss", g(fit.loss), ...iv(ci?.loss), RATE_UNIT]);
  rows.push(["pi1", g(fit.pi1), ...iv(ci?.pi1), "probability of presence"]);
  rows.push(["logLik", fit.logLik.toFixed(4), "-", "-", "natural log"]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const intervals = ci
    ? `${percent(ci.level)} profile-likelihood intervals`
    : "no intervals (--no-ci)";
  return [
    `# genecontent fit: ${about}; ${intervals}`,
    ...lines,
    `# ${fit.converged ? "converged" : "NOT converged"} after ${fit.iterations} iterations, ` +
    `${fit.evaluations} likelihood evaluations`,
  ].join("\n");
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
    ["level", "no-ci", "--no-ci computes no intervals"],
  ], "fit");
  const settings = inputSettings(v, "fit");
  const minPresent = v["no-ascertainment"]
    ? 0
    : numberOption(v["min-present"] ?? "1", "--min-present", { min: 0, integer: true });
  const level = v["no-ci"] ? null : numberOption(v.level ?? "0.95", "--level", {
    min: 0,
    max: 0.9999,
    exclusiveMin: true,
  });
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
    { flag: "--per-family", value: v["per-family"] },
  ], { inputs: { tree: settings.treePath, PAM: settings.pamPath }, force: v.force ?? false });
  const { dataset, factory, pruned } = await prepare(settings);
  if (!(totalLength(dataset.tree) > 0)) {
    throw new GenecontentError(
      `Every branch of the tree '${settings.treePath}' has length 0: rates cannot be ` +
        "estimated. Give the tree positive branch lengths.",
    );
  }
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  using lik = new GainLossLikelihood(dataset.tree, dataset.patterns, factory, { minPresent });
  const progress = new ProgressLine();
  const started = performance.now();
  const fit = fitNullModel(lik, {
    level,
    onEvaluation: (stage, n) => progress.update(`fit: ${stage}, ${n} likelihood evaluations`),
  });
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  const wantPerFamily = plan.get("--per-family") !== undefined;
  const atEstimates = wantPerFamily || !Number.isFinite(fit.logLik)
    ? lik.evaluate(fit.gain, fit.loss)
    : null;
  if (atEstimates) {
    refuseNonFinite(
      dataset.patterns,
      atEstimates.perPattern,
      `at the estimates gain ${fit.gain}, loss ${fit.loss}`,
    );
  }
  if (!Number.isFinite(fit.logLik)) {
    throw new Error(`The fit ended with a non-finite log-likelihood ${fit.logLik}.`);
  }
  for (const w of fit.warnings) console.error(`genecontent: warning: ${w}`);
  const result = {
    gain: fit.gain,
    loss: fit.loss,
    pi1: fit.pi1,
    logLik: fit.logLik,
    ci: fit.ci,
    units: { gain: RATE_UNIT, loss: RATE_UNIT, pi1: "probability", logLik: "natural log" },
    converged: fit.converged,
    warnings: fit.warnings,
    iterations: fit.iterations,
    evaluations: fit.evaluations,
    fitSeconds: seconds,
    ascertainment: minPresent === 0 ? "none" : `at least ${minPresent} present`,
    minPresent,
    nFamilies: dataset.patterns.familyNames.length,
    nPatterns: dataset.patterns.nPatterns,
    nGenomes: dataset.tree.nTips,
    backend: lik.backend.name,
    threads: lik.backend.threads,
    pruned,
    provenance: makeProvenance({
      command: "fit",
      backend: lik.backend.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads: lik.backend.threads,
      inputs: dataset.inputs,
      options: {
        minPresent,
        level,
        ...settings.load,
        backend: settings.backend,
        threads: settings.threads,
      },
    }),
  };
  const ci = fit.ci;
  const lvl = ci?.level ?? null;
  await plan.write(
    "--out",
    toTsv(["parameter", "estimate", "lower", "upper", "level", "unit"], [
      ["gain", fit.gain, ci?.gain[0] ?? null, ci?.gain[1] ?? null, lvl, RATE_UNIT],
      ["loss", fit.loss, ci?.loss[0] ?? null, ci?.loss[1] ?? null, lvl, RATE_UNIT],
      ["pi1", fit.pi1, ci?.pi1[0] ?? null, ci?.pi1[1] ?? null, lvl, "probability"],
      ["logLik", fit.logLik, null, null, null, "natural log"],
    ]),
    result,
  );
  if (atEstimates && wantPerFamily) {
    const table = perFamilyTable(dataset.patterns, atEstimates.perPattern);
    await plan.write(
      "--per-family",
      toTsv(
        ["family", "present", "observed", "logLik"],
        table.family.map((name, f) => [name, table.present[f], table.observed[f], table.value[f]]),
      ),
      result,
    );
  }
  if (v.json) printJson(result);
  else {
    const text = formatFitText(
      fit,
      `${result.nFamilies} families x ${result.nGenomes} genomes, ${result.ascertainment}, ` +
        `${lik.backend.name} backend, ${lik.backend.threads} thread(s), ${seconds.toFixed(2)} s`,
    );
    // With a table on stdout, the summary goes to stderr.
    (plan.stdoutTaken ? console.error : console.log)(text);
  }
  return 0;
}
