/**
 * One maximum-likelihood fit of the null model on the bundled example (`examples/tree.nwk`,
 * `examples/pam.tsv`: 200 genomes x 5,000 families), without and with the 95% profile
 * intervals, on the native kernel (its default algorithm, 2 threads) and on the TypeScript
 * backend (the baseline). Reading the files is not timed; `scripts/run_benchmarks.ts` times
 * the whole `genecontent fit` process.
 *
 * Run with `deno task bench` (all of `bench/`) or `deno bench --allow-all bench/fit_bench.ts`.
 *
 * @module
 */

import { fitNullModel } from "../lib/fit/fit_null_model.ts";
import { type BackendFactory, chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { loadDataset } from "../lib/load_dataset.ts";

const root = new URL("../examples/", import.meta.url);
const dataset = await loadDataset(
  new URL("tree.nwk", root).pathname,
  new URL("pam.tsv", root).pathname,
);

let native: BackendFactory | null = null;
try {
  native = await chooseBackend("native", { threads: 2 });
} catch (e) {
  console.error(`fit_bench: native fits skipped: ${(e as Error).message}`);
}

const liks: GainLossLikelihood[] = [];
globalThis.addEventListener("unload", () => liks.forEach((lik) => lik[Symbol.dispose]()));

const contenders = [
  { label: "TypeScript", factory: tsBackendFactory as BackendFactory | null, baseline: true },
  { label: "native, 2 threads", factory: native, baseline: false },
].map((c) => {
  const lik = c.factory
    ? new GainLossLikelihood(dataset.tree, dataset.patterns, c.factory, { minPresent: 1 })
    : null;
  if (lik) liks.push(lik);
  return { ...c, lik };
});

const group = `${dataset.tree.nTips} x ${dataset.patterns.familyNames.length} ` +
  `(${dataset.patterns.nPatterns} patterns)`;
for (const level of [null, 0.95]) {
  for (const { label, lik, baseline } of contenders) {
    Deno.bench({
      name: `${label}${level === null ? "" : ", with profile intervals"}`,
      group: `fit ${level === null ? "" : "+ intervals "}${group}`,
      baseline,
      ignore: lik === null,
      // A fit with intervals takes hundreds of evaluations: a few timed runs are enough.
      ...(level === null ? {} : { n: 3, warmup: 1 }),
      fn: () => {
        const fit = fitNullModel(lik!, { level });
        if (!fit.converged) throw new Error(`The fit did not converge: ${fit.warnings}`);
      },
    });
  }
}
