/**
 * `genecontent loglik`: the log-likelihood of a PAM on a tree at given gain and loss rates,
 * in total and per family.
 *
 * @module
 */

import { GainLossLikelihood } from "../../likelihood/gain_loss_likelihood.ts";
import { makeProvenance } from "../../provenance.ts";
import {
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandArgs,
  required,
} from "../options.ts";
import { printJson, toTsv, writeTsvWithProvenance } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Help text of `loglik`. */
export const LOGLIK_HELP = `genecontent loglik: log-likelihood of a PAM at given rates

Usage: genecontent loglik --tree FILE --pam FILE --gain RATE --loss RATE [options]

Model:
  --gain RATE            gain rate (0 -> 1 per unit branch length), > 0
  --loss RATE            loss rate (1 -> 0 per unit branch length), > 0
  --min-present K        condition each family on at least K present genomes (default 1:
                         families never present cannot be in a PAM)
  --no-ascertainment     no conditioning (the same as --min-present 0)
${INPUT_HELP}

Output: logLik (total), per-family logLik, backend and provenance. With --out, a TSV
with columns family, logLik.`;

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
  const v = parseCommandArgs(args, {
    ...INPUT_OPTIONS,
    gain: { type: "string" },
    loss: { type: "string" },
    "min-present": { type: "string" },
    "no-ascertainment": { type: "boolean", default: false },
  }, "loglik");
  if (v.help) {
    console.log(LOGLIK_HELP);
    return 0;
  }
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
  const { dataset, factory, pruned } = await prepare(settings);
  using lik = new GainLossLikelihood(dataset.tree, dataset.patterns, factory, { minPresent });
  const progress = new ProgressLine();
  const value = await lik.evaluateAsync(gain, loss, {
    onProgress: (f) => progress.update(`loglik: ${(100 * f).toFixed(0)}%`),
  });
  progress.done();
  const { familyNames, familyPattern } = dataset.patterns;
  const families = familyNames.map((family, f) => ({
    family,
    logLik: value.perPattern[familyPattern[f]],
  }));
  const result = {
    logLik: value.logLik,
    gain,
    loss,
    pi1: gain / (gain + loss),
    ascertainment: minPresent === 0 ? "none" : `at least ${minPresent} present`,
    minPresent,
    nFamilies: familyNames.length,
    nPatterns: dataset.patterns.nPatterns,
    nGenomes: dataset.tree.nTips,
    backend: lik.backend.name,
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
  if (v.out) {
    await writeTsvWithProvenance(
      v.out,
      toTsv(["family", "logLik"], families.map((f) => [f.family, f.logLik])),
      result,
    );
  }
  if (v.json) printJson(result);
  else {
    console.log(
      `logLik ${value.logLik} (${familyNames.length} families, ${dataset.tree.nTips} genomes, ` +
        `${result.ascertainment}, ${lik.backend.name} backend)`,
    );
  }
  return 0;
}
