/**
 * `genecontent loglik`: the log-likelihood of a PAM on a tree at given gain and loss rates,
 * in total and per family.
 *
 * @module
 */

import { GainLossLikelihood } from "../../likelihood/gain_loss_likelihood.ts";
import { perFamilyTable, refuseImpossible, refuseNonFinite } from "../../likelihood/per_family.ts";
import { makeProvenance } from "../../provenance.ts";
import { totalLength } from "../../tree/flat_tree.ts";
import { GenecontentError } from "../../errors.ts";
import {
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandLine,
  refuseConflicts,
  required,
} from "../options.ts";
import { planOutputs, printJson, toTsv } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Options of `loglik`. */
export const LOGLIK_OPTIONS = {
  ...INPUT_OPTIONS,
  gain: { type: "string" },
  loss: { type: "string" },
  "min-present": { type: "string" },
  "no-ascertainment": { type: "boolean" },
} as const;

/** Help text of `loglik`. */
export const LOGLIK_HELP = `genecontent loglik: log-likelihood of a PAM at given rates

Usage: genecontent loglik --tree FILE --pam FILE --gain RATE --loss RATE [options]

Rates are per unit branch length of the tree; logLik is a natural logarithm.

Model:
  --gain RATE            gain rate (absent to present, per unit branch length), > 0
  --loss RATE            loss rate (present to absent, per unit branch length), > 0
  --min-present K        condition each family on at least K present genomes (default 1:
                         families never present cannot be in a PAM)
  --no-ascertainment     no conditioning (the same as --min-present 0); not with --min-present
${INPUT_HELP}

Output: logLik (total) on stdout. --json: logLik, per-family families (family, present,
observed, logLik), backend and provenance. --out FILE: a TSV with columns family, present,
observed (genomes with the family present / not missing), logLik.`;

/**
 * Runs `loglik` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { loglikCommand } from "./loglik.ts";
 * await loglikCommand(["--tree", "t.nwk", "--pam", "p.tsv", "--gain", "0.5", "--loss", "1", "--json"]);
 * ```
 */
export async function loglikCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, LOGLIK_OPTIONS, "loglik");
  if (v.help) {
    console.log(LOGLIK_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
  ], "loglik");
  const settings = inputSettings(v, "loglik");
  const gain = numberOption(required(v.gain, "--gain", "loglik"), "--gain", {
    min: 0,
    exclusiveMin: true,
  });
  const loss = numberOption(required(v.loss, "--loss", "loglik"), "--loss", {
    min: 0,
    exclusiveMin: true,
  });
  const minPresent = v["no-ascertainment"]
    ? 0
    : numberOption(v["min-present"] ?? "1", "--min-present", { min: 0, integer: true });
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
  ], { inputs: { tree: settings.treePath, PAM: settings.pamPath }, force: v.force ?? false });
  const { dataset, factory, pruned } = await prepare(settings);
  if (!(totalLength(dataset.tree) > 0)) {
    throw new GenecontentError(
      `Every branch of the tree '${settings.treePath}' has length 0: every genome then has ` +
        "the root's state, so the log-likelihood is -Infinity for any family present in some " +
        "genomes and absent in others. Give the tree positive branch lengths.",
    );
  }
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  using lik = new GainLossLikelihood(dataset.tree, dataset.patterns, factory, { minPresent });
  const progress = new ProgressLine();
  const value = await lik.evaluateAsync(gain, loss, {
    onProgress: (f) => progress.update(`loglik: ${(100 * f).toFixed(0)}%`),
  });
  progress.done();
  refuseNonFinite(dataset.patterns, value.perPattern, `at gain ${gain}, loss ${loss}`);
  if (!Number.isFinite(value.logLik)) {
    throw new Error(`Finite per-pattern values summed to ${value.logLik}.`);
  }
  const table = perFamilyTable(dataset.patterns, value.perPattern);
  const families = table.family.map((family, f) => ({
    family,
    present: table.present[f],
    observed: table.observed[f],
    logLik: table.value[f],
  }));
  const result = {
    logLik: value.logLik,
    gain,
    loss,
    pi1: gain / (gain + loss),
    units: {
      gain: "per unit branch length",
      loss: "per unit branch length",
      logLik: "natural log",
    },
    ascertainment: minPresent === 0 ? "none" : `at least ${minPresent} present`,
    minPresent,
    nFamilies: table.family.length,
    nPatterns: dataset.patterns.nPatterns,
    nGenomes: dataset.tree.nTips,
    backend: lik.backend.name,
    threads: lik.backend.threads,
    pruned,
    families,
    provenance: makeProvenance({
      command: "loglik",
      backend: lik.backend.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads: lik.backend.threads,
      inputs: dataset.inputs,
      options: {
        gain,
        loss,
        minPresent,
        ...settings.load,
        backend: settings.backend,
        threads: settings.threads,
      },
    }),
  };
  await plan.write(
    "--out",
    toTsv(
      ["family", "present", "observed", "logLik"],
      families.map((f) => [f.family, f.present, f.observed, f.logLik]),
    ),
    result,
  );
  if (v.json) printJson(result);
  else {
    (plan.stdoutTaken ? console.error : console.log)(
      `logLik ${value.logLik} (natural log; ${table.family.length} families, ` +
        `${dataset.tree.nTips} genomes, gain ${gain} and loss ${loss} per unit branch length, ` +
        `${result.ascertainment}, ${lik.backend.name} backend)`,
    );
  }
  return 0;
}
