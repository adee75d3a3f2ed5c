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
  parseCommandArgs,
} from "../options.ts";
import { printJson } from "../output.ts";
import { chooseBackend } from "../../likelihood/choose_backend.ts";
import { loadDataset } from "../../load_dataset.ts";

/** Help text of `bench`. */
export const BENCH_HELP = `genecontent bench: time likelihood evaluations on your data

Usage: genecontent bench --tree FILE --pam FILE [options]

  --repeats N            timed evaluations of each kind (default 20), after 3 warm-ups
  --gain RATE --loss RATE  rates to evaluate at (default: 1 and 1 per unit branch length)
  --algorithm NAME       native kernel: auto, dense (straightforward pruning) or sparse
${INPUT_HELP}

Output: patterns, evalMs (median ms of one full evaluation), gradMs (value + gradient),
loadMs, threads, backend.`;

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
  const v = parseCommandArgs(args, {
    ...INPUT_OPTIONS,
    repeats: { type: "string", default: "20" },
    gain: { type: "string", default: "1" },
    loss: { type: "string", default: "1" },
    algorithm: { type: "string", default: "auto" },
  }, "bench");
  if (v.help) {
    console.log(BENCH_HELP);
    return 0;
  }
  const settings = inputSettings(v, "bench");
  const repeats = numberOption(v.repeats, "--repeats", { min: 1, integer: true });
  const gain = numberOption(v.gain, "--gain", { min: 0, exclusiveMin: true });
  const loss = numberOption(v.loss, "--loss", { min: 0, exclusiveMin: true });
  const algorithm = choiceOption(v.algorithm, "--algorithm", ["auto", "dense", "sparse"]);
  const t0 = performance.now();
  const dataset = await loadDataset(settings.treePath, settings.pamPath, settings.load);
  const loadMs = performance.now() - t0;
  const factory = await chooseBackend(settings.backend, { threads: settings.threads, algorithm });
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
    threads: lik.backend.threads,
    backend: lik.backend.name,
    algorithm: lik.backend.name === "native"
      ? (lik.backend as { algorithm?: string }).algorithm
      : "ts",
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
  if (v.json) printJson(result);
  else {
    console.log(
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
