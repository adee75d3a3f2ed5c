/**
 * One likelihood evaluation, and one value + gradient, on simulated data generated in memory:
 * the native sparse kernel (2 threads and 1 thread) against the straightforward per-pattern
 * pruning (native dense, the baseline) and the pure-TypeScript backend.
 *
 * Two cases, both on a Yule tree of root-to-tip height 1 with the benchmark generator's
 * U-shaped family mixture (`scripts/make_bench_data.ts`): 100 genomes x 1,000 families and
 * 500 genomes x 3,000 families. Every evaluation includes the ascertainment correction
 * (`minPresent` 1), as `genecontent fit` does.
 *
 * A last group times the kernel's rate assignments on the 500 x 3,000 case (native sparse, 2
 * threads, value + gradient, no ascertainment): one global pair (the baseline), one pair per
 * branch, per-branch rates with explicit tangent directions, and a 10% pattern subset.
 *
 * Run with `deno task bench` (all of `bench/`) or
 * `deno bench --allow-all bench/kernel_bench.ts`. Without the native library (no
 * `deno task build:native`), only the TypeScript benches run.
 *
 * @module
 */

import { type BackendFactory, chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { loadKernel, tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { FamilySimulator } from "../lib/simulate/families.ts";
import { Random } from "../lib/simulate/random.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { benchTree, DEFAULT_CLASSES } from "../scripts/make_bench_data.ts";

/** Rates to evaluate at, per unit of tree height: close to what a fit of such data finds. */
const GAIN = 0.03;
const LOSS = 0.1;

/** Simulates `nFamilies` families present in at least one genome, merged into patterns. */
function simulateCase(nTips: number, nFamilies: number, seed: number) {
  const rng = new Random(seed);
  const tree: FlatTree = benchTree("yule", nTips, rng);
  const sims = DEFAULT_CLASSES.map((c) =>
    new FamilySimulator(tree, { gain: c.gain, loss: c.loss, nFamilies: 0, rng })
  );
  const total = DEFAULT_CLASSES.reduce((a, c) => a + c.weight, 0);
  const rows = new Uint8Array(nFamilies * nTips);
  let kept = 0;
  while (kept < nFamilies) {
    let u = rng.next() * total;
    let k = 0;
    while (k < sims.length - 1 && u >= DEFAULT_CLASSES[k].weight) u -= DEFAULT_CLASSES[k++].weight;
    const row = rows.subarray(kept * nTips, (kept + 1) * nTips);
    sims[k].simulateInto(row, 0);
    if (row.includes(1)) kept++;
  }
  const names = Array.from({ length: nFamilies }, (_, f) => `fam${f + 1}`);
  const patterns: SitePatterns = compressPatterns(rows, nFamilies, nTips, names);
  return { tree, patterns };
}

/** The native factory for an algorithm and thread count, or null when it cannot be loaded. */
async function nativeFactory(
  algorithm: "dense" | "sparse",
  threads: number,
): Promise<BackendFactory | null> {
  try {
    return await chooseBackend("native", { threads, algorithm });
  } catch (e) {
    console.error(`kernel_bench: native ${algorithm} skipped: ${(e as Error).message}`);
    return null;
  }
}

const contenders: { label: string; factory: BackendFactory | null; baseline?: boolean }[] = [
  {
    label: "native dense, 2 threads (straightforward pruning)",
    factory: await nativeFactory("dense", 2),
    baseline: true,
  },
  { label: "native sparse, 2 threads", factory: await nativeFactory("sparse", 2) },
  { label: "native sparse, 1 thread", factory: await nativeFactory("sparse", 1) },
  { label: "TypeScript", factory: tsBackendFactory },
];

const cases = [
  { label: "100 x 1,000", ...simulateCase(100, 1000, 1) },
  { label: "500 x 3,000", ...simulateCase(500, 3000, 2) },
];

const liks: GainLossLikelihood[] = [];
globalThis.addEventListener("unload", () => liks.forEach((lik) => lik[Symbol.dispose]()));

for (const c of cases) {
  const bound = contenders.map((contender) => {
    const lik = contender.factory
      ? new GainLossLikelihood(c.tree, c.patterns, contender.factory, { minPresent: 1 })
      : null;
    if (lik) liks.push(lik);
    return { ...contender, lik };
  });
  for (const gradient of [false, true]) {
    const kind = gradient ? "value + gradient" : "evaluation";
    for (const { label, baseline, lik } of bound) {
      Deno.bench({
        name: label,
        group: `${kind}, ${c.label} (${c.patterns.nPatterns} patterns)`,
        baseline: baseline ?? false,
        ignore: lik === null,
        fn: () => {
          const v = lik!.evaluate(GAIN, LOSS, { gradient });
          if (!(v.logLik < 0)) throw new Error(`Log-likelihood ${v.logLik} is not negative.`);
        },
      });
    }
  }
}

// Rate assignments through the backend directly.
const { kernel } = await loadKernel();
const big = cases[1];
const native = kernel
  ? new NativeBackend(kernel, big.tree, big.patterns.states, big.patterns.nPatterns, {
    algorithm: "sparse",
    threads: 2,
  })
  : null;
if (native) globalThis.addEventListener("unload", () => native[Symbol.dispose]());
const nNodes = big.tree.nNodes;
const perBranch = new Float64Array(2 * nNodes);
for (let v = 0; v < nNodes; v++) {
  // Slightly different per node, so that no two branches share a table by accident.
  perBranch[2 * v] = GAIN * (1 + 1e-3 * (v % 7));
  perBranch[2 * v + 1] = LOSS;
}
const tangents = Float64Array.from({ length: 4 * nNodes }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
const tenth = Uint32Array.from(
  { length: Math.floor(big.patterns.nPatterns / 10) },
  (_, i) => 10 * i + 3,
);
const layouts = [
  { name: "global pair", rates: Float64Array.of(GAIN, LOSS), options: {}, baseline: true },
  { name: "per-branch pairs", rates: perBranch, options: { layout: "perBranch" as const } },
  {
    name: "per-branch pairs with tangents",
    rates: perBranch,
    options: { layout: "perBranch" as const, tangents },
  },
  {
    name: "per-branch pairs, 10% of patterns",
    rates: perBranch,
    options: { layout: "perBranch" as const, patterns: tenth },
  },
];
for (const { name, rates, options, baseline } of layouts) {
  Deno.bench({
    name,
    group: `rate assignments, value + gradient, ${big.label} (native sparse, 2 threads)`,
    baseline: baseline ?? false,
    ignore: native === null,
    fn: () => {
      const v = native!.evaluate(rates, { ...options, gradient: true });
      if (!(v.logLik[0] < 0)) throw new Error(`Log-likelihood ${v.logLik[0]} is not negative.`);
    },
  });
}
