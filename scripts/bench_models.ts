/**
 * Benchmarks of the models beyond one rate pair, written into `bench/results.md` (the section
 * between `<!-- models:start -->` and `<!-- models:end -->`, which `run_benchmarks.ts` keeps):
 *
 * - one evaluation with the gradient of `gamma4` against the null model (native, the same
 *   threads, same process, median of `--repeats` after warm-ups);
 * - the whole `genecontent fit --model gamma4 --no-ascertainment` process against IQ-TREE 2
 *   fitting the same three-parameter model on the same fixed topology
 *   (`iqtree2 -s aln.phy -st BIN -te tree.nwk -blscale -keep-ident -m GTR2+FO+G4`, which fits
 *   the frequency, a tree scale and alpha), with the same number of threads, and both
 *   log-likelihoods (both uncorrected, so they are the same function of the data);
 * - the whole `genecontent fit --model mixture3` process against the null fit, in the same run.
 *
 * Each whole-process time is the median of `--runs` runs, alternating the contenders so that
 * load from other work on the machine falls on both alike.
 *
 * Usage: `deno run --allow-all scripts/bench_models.ts [--runs N] [--iqtree-runs N]
 * [--repeats N] [--threads N] [--case ID] [--out FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadDataset } from "../lib/load_dataset.ts";
import { openModelLikelihood } from "../lib/likelihood/open_likelihood.ts";
import type { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import {
  ensureBenchData,
  ensurePhylip,
  iqtreeFitReport,
  MODELS_SECTION_END as SECTION_END,
  MODELS_SECTION_START as SECTION_START,
  run,
  summarize,
} from "./run_benchmarks.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function median(xs: readonly number[]): number {
  return summarize(xs)!.median;
}

function fmt(xs: readonly number[], unit: "ms" | "s"): string {
  const s = summarize(xs)!;
  const f = (x: number) => unit === "ms" ? `${x.toPrecision(3)} ms` : `${(x / 1000).toFixed(2)} s`;
  return `${f(s.median)} (${f(s.min)} - ${f(s.max)})`;
}

/** Times one evaluation with the gradient of each model, interleaved, in this process. */
async function evaluationTimes(
  tree: string,
  pam: string,
  threads: number,
  repeats: number,
): Promise<Record<string, number[]>> {
  const data = await loadDataset(tree, pam);
  const models: Record<string, Float64Array> = {
    null: Float64Array.of(0.5, 1.5),
    gamma4: Float64Array.of(0.5, 1.5, 0.7),
  };
  const liks: Record<string, ModelLikelihood> = {};
  for (const m of Object.keys(models)) {
    liks[m] = await openModelLikelihood(data, m, { backend: "native", threads });
  }
  const times: Record<string, number[]> = { null: [], gamma4: [] };
  try {
    for (let i = 0; i < 3 + repeats; i++) {
      for (const m of Object.keys(models)) {
        const t0 = performance.now();
        const v = liks[m].evaluate(models[m], true);
        const dt = performance.now() - t0;
        if (!Number.isFinite(v.logLik)) throw new Error(`${m}: logLik ${v.logLik}`);
        if (i >= 3) times[m].push(dt);
      }
    }
  } finally {
    for (const l of Object.values(liks)) l[Symbol.dispose]();
  }
  return times;
}

interface FitRun {
  readonly wallMs: number;
  readonly logLik: number;
  readonly evaluations?: number;
  readonly converged?: boolean;
  readonly alpha?: number;
}

async function genecontentFit(tree: string, pam: string, extra: string[]): Promise<FitRun> {
  const r = await run(DENO, [
    "task",
    "-q",
    "genecontent",
    "fit",
    "--tree",
    tree,
    "--pam",
    pam,
    "--json",
    ...extra,
  ]);
  if (r.code !== 0) throw new Error(`genecontent fit ${extra.join(" ")} failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout);
  return {
    wallMs: r.wallMs,
    logLik: out.logLik,
    evaluations: out.evaluations,
    converged: out.converged,
    alpha: out.parameters?.alpha?.estimate,
  };
}

async function iqtreeFit(tree: string, aln: string, threads: number): Promise<FitRun> {
  const r = await iqtreeFitReport(aln, tree, ["-blscale", "-m", "GTR2+FO+G4"], threads);
  const alpha = /Gamma shape alpha:\s*([\d.eE+-]+)/.exec(r.report);
  return { wallMs: r.wallMs, logLik: r.logLik, alpha: alpha ? Number(alpha[1]) : undefined };
}

/** Replaces (or appends) the marked models section of a results file. */
export function withModelsSection(results: string, section: string): string {
  const block = `${SECTION_START}\n${section.trim()}\n${SECTION_END}`;
  const a = results.indexOf(SECTION_START);
  const b = results.indexOf(SECTION_END);
  if (a >= 0 && b > a) {
    return results.slice(0, a) + block + results.slice(b + SECTION_END.length);
  }
  return results.trimEnd() + "\n\n" + block + "\n";
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      "iqtree-runs": { type: "string", default: "1" },
      repeats: { type: "string", default: "20" },
      threads: { type: "string", default: "2" },
      case: { type: "string", default: "1324x25420-yule" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
    strict: true,
  });
  const runs = Number(v.runs), repeats = Number(v.repeats), threads = Number(v.threads);
  // IQ-TREE's gamma fit takes about ten minutes here: fewer runs of it by default.
  const iqtreeRuns = Math.min(runs, Number(v["iqtree-runs"]));
  const started = performance.now();
  const load0 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const files = await ensureBenchData(v.case!);
  log(`${v.case}: evaluations (${repeats} each, ${threads} threads)`);
  const evals = await evaluationTimes(files.tree, files.pam, threads, repeats);
  const aln = await ensurePhylip(files);
  const th = ["--threads", String(threads)];
  const fits: Record<string, FitRun[]> = {
    iqtree: [],
    gamma4: [],
    null: [],
    mixture3: [],
    nullNoCi: [],
    mixture3NoCi: [],
  };
  for (let i = 0; i < runs; i++) {
    log(`run ${i + 1}/${runs}: gamma4 (uncorrected) and IQ-TREE GTR2+FO+G4`);
    fits.gamma4.push(
      await genecontentFit(files.tree, files.pam, [
        "--model",
        "gamma4",
        "--no-ascertainment",
        "--no-ci",
        ...th,
      ]),
    );
    if (i < iqtreeRuns) fits.iqtree.push(await iqtreeFit(files.tree, aln, threads));
    log(`run ${i + 1}/${runs}: null and mixture3 (corrected), with and without intervals`);
    fits.nullNoCi.push(await genecontentFit(files.tree, files.pam, ["--no-ci", ...th]));
    fits.mixture3NoCi.push(
      await genecontentFit(files.tree, files.pam, ["--model", "mixture3", "--no-ci", ...th]),
    );
    fits.null.push(await genecontentFit(files.tree, files.pam, th));
    fits.mixture3.push(await genecontentFit(files.tree, files.pam, ["--model", "mixture3", ...th]));
  }
  const wall = (k: string) => fits[k].map((f) => f.wallMs);
  const ratio = (a: string, b: string) => median(wall(a)) / median(wall(b));
  const evalRatio = median(evals.gamma4) / median(evals.null);
  const gcLl = Math.max(...fits.gamma4.map((f) => f.logLik));
  const iqLl = fits.iqtree[0].logLik;
  const load1 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const commit = (await run("git", ["rev-parse", "--short", "HEAD"])).stdout.trim();
  const iqVersion = (await run("iqtree2", ["--version"])).stdout.split("\n").find(Boolean) ?? "";
  const L: string[] = [];
  L.push("## Models beyond one rate pair");
  L.push("");
  L.push(
    `Produced by \`deno run --allow-all scripts/bench_models.ts --runs ${runs} --iqtree-runs ` +
      `${iqtreeRuns} --threads ${threads}\` on ${
        new Date().toISOString().replace(/\.\d+Z$/, "Z")
      } at commit ${commit}, ` +
      `case ${v.case}, in ${((performance.now() - started) / 60000).toFixed(1)} minutes; load ` +
      `average ${load0} at the start and ${load1} at the end. ${iqVersion}. Whole-process ` +
      "times are medians over the runs (range in brackets), contenders alternating within each " +
      `run; evaluation times are medians of ${repeats} in one process after 3 warm-ups, native ` +
      `backend, ${threads} threads on both sides.`,
  );
  L.push("");
  L.push("| measurement | time | ratio | target | met |");
  L.push("|---|---|---|---|---|");
  L.push(
    `| one evaluation with gradient, null | ${fmt(evals.null, "ms")} | 1 | - | - |`,
  );
  L.push(
    `| one evaluation with gradient, gamma4 | ${fmt(evals.gamma4, "ms")} | ` +
      `${evalRatio.toFixed(2)}x the null | <= 4.5x | ${evalRatio <= 4.5 ? "yes" : "no"} |`,
  );
  const iqRatio = ratio("iqtree", "gamma4");
  L.push(
    `| IQ-TREE 2 \`-m GTR2+FO+G4 -te T -blscale\`, whole process | ${fmt(wall("iqtree"), "s")} ` +
      `| - | - | - |`,
  );
  L.push(
    `| \`genecontent fit --model gamma4 --no-ascertainment --no-ci\`, whole process | ` +
      `${fmt(wall("gamma4"), "s")} | IQ-TREE / genecontent = ${iqRatio.toFixed(1)}x | >= 10x | ` +
      `${iqRatio >= 10 ? "yes" : "no"} |`,
  );
  L.push(
    `| log-likelihood, uncorrected gamma4 (alpha ${fits.gamma4[0].alpha?.toPrecision(5)} / ` +
      `${fits.iqtree[0].alpha?.toPrecision(5)}): genecontent / IQ-TREE | ${gcLl.toFixed(4)} / ` +
      `${iqLl.toFixed(4)} | difference ${(gcLl - iqLl).toFixed(4)} | genecontent >= IQ-TREE ` +
      `(IQ-TREE prints 4 decimals) | ${gcLl >= iqLl - 5e-5 ? "yes" : "no"} |`,
  );
  const mixRatio = ratio("mixture3", "null");
  const mixRatioNoCi = ratio("mixture3NoCi", "nullNoCi");
  L.push(`| \`genecontent fit\` (null, 95% intervals) | ${fmt(wall("null"), "s")} | 1 | - | - |`);
  L.push(
    `| \`genecontent fit --model mixture3\` (95% intervals) | ${fmt(wall("mixture3"), "s")} | ` +
      `${mixRatio.toFixed(1)}x the null fit | <= 15x | ${mixRatio <= 15 ? "yes" : "no"} |`,
  );
  L.push(
    `| \`genecontent fit --no-ci\` (null) | ${fmt(wall("nullNoCi"), "s")} | 1 | - | - |`,
  );
  L.push(
    `| \`genecontent fit --model mixture3 --no-ci\` | ${fmt(wall("mixture3NoCi"), "s")} | ` +
      `${mixRatioNoCi.toFixed(1)}x the null fit | <= 15x | ${mixRatioNoCi <= 15 ? "yes" : "no"} |`,
  );
  L.push("");
  L.push(
    `Fitted log-likelihoods: null ${fits.null[0].logLik.toFixed(4)}, mixture3 ` +
      `${fits.mixture3[0].logLik.toFixed(4)} (corrected); likelihood evaluations per fit: ` +
      Object.entries(fits).filter(([k]) => k !== "iqtree").map(([k, f]) =>
        `${k} ${f[0].evaluations}`
      ).join(", ") + ".",
  );
  const section = L.join("\n");
  const old = await Deno.readTextFile(v.out!).catch(() => "# Benchmark results\n");
  await Deno.writeTextFile(v.out!, withModelsSection(old, section));
  console.log(section);
}
