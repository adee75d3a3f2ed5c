/**
 * `genecontent fit`: maximum-likelihood gain and loss rates of the null model with profile
 * intervals.
 *
 * @module
 */

import { fitNullModel } from "../../fit/fit_null_model.ts";
import { GainLossLikelihood } from "../../likelihood/gain_loss_likelihood.ts";
import { makeProvenance } from "../../provenance.ts";
import {
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandArgs,
} from "../options.ts";
import { printJson, toTsv, writeTsvWithProvenance } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Help text of `fit`. */
export const FIT_HELP = `genecontent fit: maximum-likelihood gain and loss rates

Usage: genecontent fit --tree FILE --pam FILE [options]

Model:
  --min-present K        condition each family on at least K present genomes (default 1)
  --no-ascertainment     no conditioning (biased whenever families can be missed entirely)
  --level P              confidence level of the profile-likelihood intervals (default 0.95)
  --no-ci                skip the intervals
${INPUT_HELP}

Output: gain, loss, pi1 = gain/(gain+loss), logLik, profile-likelihood intervals (ci),
converged, warnings, backend and provenance. With --out, a TSV with columns parameter,
estimate, lower, upper.`;

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
  const v = parseCommandArgs(args, {
    ...INPUT_OPTIONS,
    "min-present": { type: "string" },
    "no-ascertainment": { type: "boolean", default: false },
    level: { type: "string", default: "0.95" },
    "no-ci": { type: "boolean", default: false },
  }, "fit");
  if (v.help) {
    console.log(FIT_HELP);
    return 0;
  }
  const settings = inputSettings(v, "fit");
  const minPresent = v["no-ascertainment"]
    ? 0
    : numberOption(v["min-present"] ?? "1", "--min-present", { min: 0, integer: true });
  const level = v["no-ci"]
    ? null
    : numberOption(v.level, "--level", { min: 0, max: 0.9999, exclusiveMin: true });
  const { dataset, factory, pruned } = await prepare(settings);
  using lik = new GainLossLikelihood(dataset.tree, dataset.patterns, factory, { minPresent });
  const progress = new ProgressLine();
  const started = performance.now();
  const fit = fitNullModel(lik, {
    level,
    onEvaluation: (stage, n) => progress.update(`fit: ${stage}, ${n} likelihood evaluations`),
  });
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  for (const w of fit.warnings) console.error(`genecontent: warning: ${w}`);
  const result = {
    gain: fit.gain,
    loss: fit.loss,
    pi1: fit.pi1,
    logLik: fit.logLik,
    ci: fit.ci,
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
  if (v.out) {
    const ci = fit.ci;
    await writeTsvWithProvenance(
      v.out,
      toTsv(["parameter", "estimate", "lower", "upper"], [
        ["gain", fit.gain, ci?.gain[0] ?? null, ci?.gain[1] ?? null],
        ["loss", fit.loss, ci?.loss[0] ?? null, ci?.loss[1] ?? null],
        ["pi1", fit.pi1, ci?.pi1[0] ?? null, ci?.pi1[1] ?? null],
        ["logLik", fit.logLik, null, null],
      ]),
      result,
    );
  }
  if (v.json) printJson(result);
  else {
    const iv = (x: readonly [number, number] | undefined) =>
      x ? ` [${x[0].toPrecision(4)}, ${x[1].toPrecision(4)}]` : "";
    console.log(`gain   ${fit.gain.toPrecision(6)}${iv(fit.ci?.gain)}`);
    console.log(`loss   ${fit.loss.toPrecision(6)}${iv(fit.ci?.loss)}`);
    console.log(`pi1    ${fit.pi1.toPrecision(6)}${iv(fit.ci?.pi1)}`);
    console.log(`logLik ${fit.logLik}`);
    console.log(
      `(${result.nFamilies} families, ${result.nGenomes} genomes, ${result.ascertainment}, ` +
        `${lik.backend.name} backend, ${fit.converged ? "converged" : "NOT converged"}, ${
          seconds.toFixed(2)
        } s)`,
    );
  }
  return 0;
}
