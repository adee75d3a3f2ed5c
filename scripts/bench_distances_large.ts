/**
 * Distances between genomes at the scale of the largest pangenomes: 10,000 genomes x 100,000
 * families (by default), with missing cells, by the native kernel (`gc_distances`) on 1 and 2
 * threads, written into `bench/results.md` between `<!-- distances-large:start -->` and
 * `<!-- distances-large:end -->`.
 *
 * No peer finishes at this size in reasonable time (SciPy's `pdist` would take hours: see the
 * `trees` section for its speed on 2,000 x 25,000), so the baseline is our own kernel on a
 * 2,000 x 25,000 matrix of the same kind in the same run: the work grows as pairs x families,
 * so the time per pair and family should stay the same. A sample of pairs is recomputed
 * directly from the cells (Jaccard over the families observed in both genomes) and must equal
 * the kernel's values exactly (one division of two integers each).
 *
 * The matrix is random, family-major, with a prevalence drawn per family and each cell missing
 * with probability `--missing` (default 0.01, so every pair takes the masked path).
 *
 * Usage: `deno run --allow-all scripts/bench_distances_large.ts [--genomes N] [--families N]
 * [--missing P] [--runs N] [--out FILE]` (`--out -` writes nothing)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openKernel } from "../lib/native/ffi.ts";
import { Random } from "../lib/simulate/random.ts";
import { pairIndex } from "../lib/tree_building/distances.ts";
import { nativeTreeBackend } from "../lib/tree_building/native.ts";
import { withMarkedSection } from "./marked_section.ts";
import { summarize } from "./run_benchmarks.ts";

const median = (xs: readonly number[]) => summarize(xs)!.median;

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** A random family-major PAM: prevalence drawn per family, cells missing (2) with `missing`. */
function randomPam(rng: Random, nGenomes: number, nFamilies: number, missing: number) {
  const states = new Uint8Array(nGenomes * nFamilies);
  for (let f = 0; f < nFamilies; f++) {
    const p = 0.02 + 0.96 * rng.next();
    const row = f * nGenomes;
    for (let g = 0; g < nGenomes; g++) {
      const u = rng.next();
      states[row + g] = u < missing ? 2 : rng.next() < p ? 1 : 0;
    }
  }
  return states;
}

/** Jaccard distance of genomes a and b computed from the cells (families observed in both). */
function directJaccard(
  states: Uint8Array,
  nGenomes: number,
  nFamilies: number,
  a: number,
  b: number,
) {
  let union = 0, differ = 0;
  for (let f = 0; f < nFamilies; f++) {
    const x = states[f * nGenomes + a], y = states[f * nGenomes + b];
    if (x === 2 || y === 2) continue;
    if (x === 1 || y === 1) union++;
    if (x !== y) differ++;
  }
  return differ / union;
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      genomes: { type: "string", default: "10000" },
      families: { type: "string", default: "100000" },
      missing: { type: "string", default: "0.01" },
      runs: { type: "string", default: "1" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
    strict: true,
  });
  const ng = Number(v.genomes), nf = Number(v.families), missing = Number(v.missing);
  const runs = Number(v.runs);
  const started = performance.now();
  const load0 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const kernel = openKernel(`${ROOT}/rust/target/release/libgenecontent.so`);
  const backends = [1, 2].map((t) => nativeTreeBackend(kernel, t)!);
  const cases = [
    { ng: 2000, nf: 25000, seed: 2 },
    { ng, nf, seed: 3 },
  ];
  const rows: string[] = [];
  const perCell: number[][] = [];
  let checked = 0, identical = 0;
  for (const c of cases) {
    log(`generating ${c.ng} x ${c.nf} (missing ${missing})`);
    const states = randomPam(new Random(c.seed), c.ng, c.nf, missing);
    const times: number[][] = [[], []];
    let d: Float64Array = new Float64Array(0);
    for (let r = 0; r < runs; r++) {
      for (const [k, backend] of backends.entries()) {
        log(`  ${c.ng} x ${c.nf}, ${backend.threads} thread(s), run ${r + 1}`);
        const t = performance.now();
        d = backend.distances(states, c.ng, c.nf, "jaccard");
        times[k].push((performance.now() - t) / 1000);
      }
    }
    // A sample of pairs, recomputed from the cells.
    const rng = new Random(c.seed + 100);
    for (let s = 0; s < 200; s++) {
      const a = Math.floor(rng.next() * c.ng);
      let b = Math.floor(rng.next() * (c.ng - 1));
      if (b >= a) b++;
      const [lo, hi] = a < b ? [a, b] : [b, a];
      checked++;
      if (d[pairIndex(c.ng, lo, hi)] === directJaccard(states, c.ng, c.nf, lo, hi)) identical++;
    }
    const pairs = (c.ng * (c.ng - 1)) / 2;
    const ns = times.map((ts) => (median(ts) * 1e9) / (pairs * c.nf));
    perCell.push(ns);
    rows.push(
      `| ${c.ng.toLocaleString("en-US")} genomes x ${c.nf.toLocaleString("en-US")} families ` +
        `(${(pairs / 1e6).toFixed(1)} million pairs) | ${median(times[0]).toFixed(2)} s | ` +
        `${median(times[1]).toFixed(2)} s | ${(ns[0] * 1000).toFixed(2)} ps; ` +
        `${(ns[1] * 1000).toFixed(2)} ps | ${(d.byteLength / 1e6).toFixed(0)} MB |`,
    );
  }
  const commit = new TextDecoder().decode(
    (await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: ROOT }).output())
      .stdout,
  ).trim();
  const L: string[] = [];
  L.push(
    `## Distances at ${ng.toLocaleString("en-US")} genomes x ${
      nf.toLocaleString("en-US")
    } families`,
  );
  L.push("");
  L.push(
    `Produced by \`deno run --allow-all scripts/bench_distances_large.ts --genomes ${ng} ` +
      `--families ${nf} --missing ${missing} --runs ${runs}\` on ` +
      `${new Date().toISOString().replace(/\.\d+Z$/, "Z")} in ` +
      `${((performance.now() - started) / 60000).toFixed(1)} minutes (commit ${commit}; load ` +
      `average at the start ${load0}). Jaccard distances of random family-major PAMs with a ` +
      `prevalence per family and ${missing * 100}% of cells missing (every pair excludes the ` +
      "families missing in either genome), by the native kernel through the FFI call (packing " +
      `into bitsets included); median of ${runs} run(s). The baseline is the same kernel on ` +
      "2,000 x 25,000 in the same run: the work is pairs x families, so the time per pair and " +
      "family should not grow with the size.",
  );
  L.push("");
  L.push("| matrix | 1 thread | 2 threads | per pair and family (1; 2 threads) | output |");
  L.push("|---|---|---|---|---|");
  L.push(...rows);
  L.push("");
  L.push(
    `Time per pair and family at ${ng.toLocaleString("en-US")} x ${nf.toLocaleString("en-US")} ` +
      `against 2,000 x 25,000: ${(perCell[1][0] / perCell[0][0]).toFixed(2)} (1 thread), ` +
      `${(perCell[1][1] / perCell[0][1]).toFixed(2)} (2 threads). ${identical} of ${checked} ` +
      "sampled pairs identical to a direct computation from the cells.",
  );
  const section = L.join("\n");
  if (identical !== checked) throw new Error(`${checked - identical} sampled pairs differ`);
  if (v.out !== "-") {
    const old = await Deno.readTextFile(v.out!).catch(() => "# Benchmark results\n");
    await Deno.writeTextFile(v.out!, withMarkedSection(old, "distances-large", section));
  }
  console.log(section);
}
