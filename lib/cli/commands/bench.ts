/**
 * `genecontent bench`: how long one exact likelihood evaluation (and one with gradients) takes
 * on the user's own data, as the median over repeated evaluations after a warm-up.
 *
 * @module
 */

import { GainLossLikelihood } from "../../likelihood/gain_loss_likelihood.ts";
import { makeProvenance } from "../../provenance.ts";
import {
  choiceOption,
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandLine,
} from "../options.ts";
import { planOutputs, printJson, toTsv } from "../output.ts";
import { prepare } from "../prepare.ts";
import { GenecontentError } from "../../errors.ts";

/** Options of `bench`. */
export const BENCH_OPTIONS = {
  ...INPUT_OPTIONS,
  repeats: { type: "string" },
  gain: { type: "string" },
  loss: { type: "string" },
  algorithm: { type: "string" },
} as const;

/** Help text of `bench`. */
export const BENCH_HELP = `genecontent bench: time likelihood evaluations on your data

Usage: genecontent bench --tree FILE --pam FILE [options]

Times are in milliseconds (ms) of wall-clock time; rates are per unit branch length.

  --repeats N            timed evaluations of each kind (default 20), after 3 warm-ups
  --gain RATE            gain rate to evaluate at, per unit branch length (default 1)
  --loss RATE            loss rate to evaluate at, per unit branch length (default 1)
  --algorithm NAME       native kernel: auto (default), dense (straightforward pruning) or
                         sparse; not with --backend ts
${INPUT_HELP}

Output: patterns, families, genomes, median ms of one evaluation and of one evaluation with
gradients, loading ms, threads, backend on stdout. --json adds every timing (evalMsAll,
gradMsAll) and provenance. --out FILE: a TSV with columns measure, repeats, medianMs, minMs,
maxMs (rows load, setup, evaluation, evaluation+gradient).`;

/**
 * The median of numbers.
 *
 * @example
 * ```ts
 * import { median } from "./bench.ts";
 * console.assert(median([3, 1, 2]) === 2 && median([1, 2, 3, 4]) === 2.5);
 * ```
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs `bench`; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { benchCommand } from "./bench.ts";
 * await benchCommand(["--tree", "examples/tree.nwk", "--pam", "examples/pam.tsv", "--json"]);
 * ```
 */
export async function benchCommand(args: string[]): Promise<number> {
  const { values: v } = parseCommandLine(args, BENCH_OPTIONS, "bench");
  if (v.help) {
    console.log(BENCH_HELP);
    return 0;
  }
  const settings = inputSettings(v, "bench");
  const repeats = numberOption(v.repeats ?? "20", "--repeats", { min: 1, integer: true });
  const gain = numberOption(v.gain ?? "1", "--gain", { min: 0, exclusiveMin: true });
  const loss = numberOption(v.loss ?? "1", "--loss", { min: 0, exclusiveMin: true });
  const algorithm = choiceOption(v.algorithm ?? "auto", "--algorithm", ["auto", "dense", "sparse"]);
  if (v.algorithm !== undefined && settings.backend === "ts") {
    throw new GenecontentError(
      "Options --algorithm and --backend ts cannot be used together: --algorithm chooses the " +
        "native kernel (see 'genecontent bench --help').",
    );
  }
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
  ], { inputs: { tree: settings.treePath, PAM: settings.pamPath }, force: v.force ?? false });
  const { dataset, factory, pruned, loadMs } = await prepare(settings, { algorithm });
  const t1 = performance.now();
  using lik = new GainLossLikelihood(dataset.tree, dataset.patterns, factory, { minPresent: 1 });
  const setupMs = performance.now() - t1;
  const time = (gradient: boolean) => {
    for (let i = 0; i < 3; i++) lik.evaluate(gain, loss, { gradient });
    const ms: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const s = performance.now();
      lik.evaluate(gain, loss, { gradient });
      ms.push(performance.now() - s);
    }
    return ms;
  };
  const evalTimes = time(false);
  const gradTimes = time(true);
  const result = {
    patterns: dataset.patterns.nPatterns,
    families: dataset.patterns.familyNames.length,
    genomes: dataset.tree.nTips,
    evalMs: median(evalTimes),
    gradMs: median(gradTimes),
    evalMsAll: evalTimes,
    gradMsAll: gradTimes,
    loadMs,
    setupMs,
    repeats,
    units: { times: "ms", gain: "per unit branch length", loss: "per unit branch length" },
    threads: lik.backend.threads,
    backend: lik.backend.name,
    algorithm: lik.backend.name === "native"
      ? (lik.backend as { algorithm?: string }).algorithm
      : "ts",
    pruned,
    provenance: makeProvenance({
      command: "bench",
      backend: lik.backend.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads: lik.backend.threads,
      inputs: dataset.inputs,
      options: {
        repeats,
        gain,
        loss,
        algorithm,
        ...settings.load,
        backend: settings.backend,
        threads: settings.threads,
      },
    }),
  };
  const row = (measure: string, ms: readonly number[]) => [
    measure,
    ms.length,
    median(ms),
    Math.min(...ms),
    Math.max(...ms),
  ];
  await plan.write(
    "--out",
    toTsv(["measure", "repeats", "medianMs", "minMs", "maxMs"], [
      row("load", [loadMs]),
      row("setup", [setupMs]),
      row("evaluation", evalTimes),
      row("evaluation+gradient", gradTimes),
    ]),
    result,
  );
  if (v.json) printJson(result);
  else {
    (plan.stdoutTaken ? console.error : console.log)(
      `${result.patterns} patterns (${result.families} families x ${result.genomes} genomes), ` +
        `${result.backend} backend, ${result.threads} thread(s): evaluation ${
          result.evalMs.toFixed(2)
        } ms, ` +
        `value + gradient ${result.gradMs.toFixed(2)} ms (medians of ${repeats}); loading ${
          loadMs.toFixed(0)
        } ms`,
    );
  }
  return 0;
}
