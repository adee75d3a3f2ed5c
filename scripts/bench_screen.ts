/**
 * Benchmark of the per-family screen, written into `bench/results.md` (the section between
 * `<!-- screen:start -->` and `<!-- screen:end -->`):
 *
 * - the whole `genecontent screen` process (null background, loss multipliers, the default
 *   calibration) against the whole null `genecontent fit` (95% intervals) on the same data in
 *   the same run, alternating, median of `--runs` runs (target: within 10x);
 * - the largest difference between the screen's LRTs and an independent one-dimensional
 *   optimisation of each family alone (a one-family `ModelLikelihood` on the TypeScript backend
 *   at the screen's background, the loss multiplied; a scan at step 0.25 over |theta| <= 12 and
 *   golden-section search to 1e-9 around the best point) on a random sample of `--sample`
 *   families (target: 1e-6);
 * - the calibration on data simulated under the fitted null background (`--null-families`
 *   families on the same tree and window, screened in this process with `--calibration`
 *   simulated null families of another seed): the fractions of families with p < 0.05 and
 *   q < 0.1, asymptotic and calibrated, overall and per prevalence class, against the binomial
 *   99% upper margin.
 *
 * Usage: `deno run --allow-all scripts/bench_screen.ts [--runs N] [--threads N] [--sample N]
 * [--calibration N] [--null-families N] [--case ID] [--out FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { loadDataset } from "../lib/load_dataset.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { parseModel } from "../lib/model/description.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { Random } from "../lib/simulate/random.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { DEFAULT_CALIBRATION, screenFamilies, THETA_BOUND } from "../lib/effects/screen.ts";
import { chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { SCREEN_CLASSES } from "../lib/diagnostics/prevalence_classes.ts";
import type { SitePatterns } from "../lib/pam/patterns.ts";
import { ensureBenchData, run, summarize } from "./run_benchmarks.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
/** Markers of this script's section of the results file. */
export const SCREEN_SECTION_START = "<!-- screen:start -->";
/** End marker of the section. */
export const SCREEN_SECTION_END = "<!-- screen:end -->";

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function fmt(xs: readonly number[]): string {
  const s = summarize(xs)!;
  const f = (x: number) => `${(x / 1000).toFixed(2)} s`;
  return `${f(s.median)} (${f(s.min)} - ${f(s.max)})`;
}

// deno-lint-ignore no-explicit-any
type Json = any;

async function genecontent(args: string[]): Promise<{ wallMs: number; json: Json }> {
  const r = await run(DENO, ["task", "-q", "genecontent", ...args, "--json"]);
  if (r.code !== 0) throw new Error(`genecontent ${args.join(" ")} failed:\n${r.stderr}`);
  return { wallMs: r.wallMs, json: JSON.parse(r.stdout) };
}

/** Replaces (or appends) the marked screen section of a results file. */
export function withScreenSection(results: string, section: string): string {
  const block = `${SCREEN_SECTION_START}\n${section.trim()}\n${SCREEN_SECTION_END}`;
  const a = results.indexOf(SCREEN_SECTION_START);
  const b = results.indexOf(SCREEN_SECTION_END);
  if (a >= 0 && b > a) {
    return results.slice(0, a) + block + results.slice(b + SCREEN_SECTION_END.length);
  }
  return results.trimEnd() + "\n\n" + block + "\n";
}

/** The independent reference LRT of one column (see the module documentation). */
function referenceLrt(
  tree: FlatTree,
  row: Uint8Array,
  gain: number,
  loss: number,
): { lrt: number; theta: number } {
  const model = parseModel("null");
  using lik = new ModelLikelihood(
    tree,
    compressPatterns(row, 1, tree.nTips, ["f"]),
    tsBackendFactory,
    model,
  );
  const f = (t: number) => lik.evaluate(Float64Array.of(gain, loss * Math.exp(t))).logLik;
  let best = -THETA_BOUND, bestValue = -Infinity;
  for (let k = 0; k <= 8 * THETA_BOUND; k++) {
    const t = -THETA_BOUND + k * 0.25;
    const v = f(t);
    if (v > bestValue) [best, bestValue] = [t, v];
  }
  let a = Math.max(-THETA_BOUND, best - 0.25), b = Math.min(THETA_BOUND, best + 0.25);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a), d = a + g * (b - a), fc = f(c), fd = f(d);
  while (b - a > 1e-9) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const x = (a + b) / 2, fx = f(x);
  const top = Math.max(fx, bestValue);
  return { lrt: 2 * (top - f(0)), theta: fx >= bestValue ? x : best };
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      threads: { type: "string", default: "2" },
      sample: { type: "string", default: "200" },
      calibration: { type: "string", default: String(DEFAULT_CALIBRATION) },
      "null-families": { type: "string", default: "5000" },
      case: { type: "string", default: "1324x25420-yule" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
    strict: true,
  });
  const runs = Number(v.runs), threads = Number(v.threads), sample = Number(v.sample);
  const started = performance.now();
  const load0 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const files = await ensureBenchData(v.case!);
  const th = ["--threads", String(threads)];
  const base = ["--tree", files.tree, "--pam", files.pam, ...th];
  const fit: number[] = [], screen: number[] = [];
  let last: Json = null;
  for (let i = 0; i < runs; i++) {
    log(`run ${i + 1}/${runs}: null fit`);
    fit.push((await genecontent(["fit", ...base])).wallMs);
    log(`run ${i + 1}/${runs}: screen`);
    const s = await genecontent(["screen", ...base, "--calibration", v.calibration!]);
    screen.push(s.wallMs);
    last = s.json;
  }
  log(`independent 1-D optimisation of ${sample} random families`);
  const data = await loadDataset(files.tree, files.pam);
  const { gain, loss } = last.background.parameters;
  const index = new Map(data.patterns.familyNames.map((n, f) => [n, f]));
  const rng = new Random(7);
  const byName = new Map<string, Json>(last.families.map((f: Json) => [f.family, f]));
  let maxLrt = 0, maxTheta = 0, atBound = 0;
  const nF = data.patterns.familyNames.length;
  const nTips = data.tree.nTips;
  for (let k = 0; k < sample; k++) {
    const name = data.patterns.familyNames[rng.int(nF)];
    const f = index.get(name)!;
    const p = data.patterns.familyPattern[f];
    const row = data.patterns.states.slice(p * nTips, (p + 1) * nTips);
    const r = referenceLrt(data.tree, row, gain, loss);
    const got = byName.get(name);
    maxLrt = Math.max(maxLrt, Math.abs(r.lrt - got.lrt));
    if (Math.abs(r.theta) < THETA_BOUND) {
      maxTheta = Math.max(maxTheta, Math.abs(r.theta - got.theta));
    } else atBound++;
  }
  const nNull = Number(v["null-families"]);
  log(`calibration on ${nNull} families simulated under the fitted null background`);
  const factory = await chooseBackend("native", { threads });
  const nullModel = parseModel("null");
  const window = { minPresent: 1, maxPresent: null };
  const simulated = simulateModel(data.tree, nullModel, { gain, loss }, {
    nFamilies: nNull,
    seed: 11,
    ascertainment: window,
  });
  const simPatterns = compressPatterns(
    simulated.states,
    nNull,
    nTips,
    Array.from({ length: nNull }, (_, f) => `sim${f + 1}`),
  );
  const open = (p: SitePatterns) => new ModelLikelihood(data.tree, p, factory, nullModel, window);
  let calibrationRows: string[] = [];
  {
    using simLik = open(simPatterns);
    const r = screenFamilies(simLik, simPatterns, {
      tree: data.tree,
      model: nullModel,
      values: Float64Array.of(gain, loss),
      window,
      completeness: null,
      open,
    }, { calibration: Number(v.calibration), seed: 12, level: 0.95 });
    calibrationRows = [...SCREEN_CLASSES, "all"].map((cls) => {
      const fam = r.families.filter((f) => cls === "all" || f.prevalenceClass === cls);
      const n = fam.length;
      const frac = (pick: (f: (typeof fam)[number]) => boolean) =>
        n === 0 ? "-" : (fam.filter(pick).length / n).toFixed(3);
      const upper = (a: number) => n === 0 ? "-" : (binomialUpper(n, a) / n).toFixed(3);
      return `| ${cls} | ${n} | ${frac((f) => f.pAsymptotic < 0.05)} | ` +
        `${frac((f) => f.p < 0.05)} | ${upper(0.05)} | ${frac((f) => f.q < 0.1)} | ${upper(0.1)} |`;
    });
  }
  const ratio = summarize(screen)!.median / summarize(fit)!.median;
  const load1 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const commit = (await run("git", ["rev-parse", "--short", "HEAD"])).stdout.trim();
  const L: string[] = [];
  L.push("## Per-family screen");
  L.push("");
  L.push(
    `Produced by \`deno run --allow-all scripts/bench_screen.ts --runs ${runs} --threads ` +
      `${threads} --sample ${sample} --calibration ${v.calibration}\` on ${
        new Date().toISOString().replace(/\.\d+Z$/, "Z")
      } at commit ${commit}, case ${v.case} (${nF} families, ${data.patterns.nPatterns} ` +
      `distinct columns, ${nTips} genomes), in ${
        ((performance.now() - started) / 60000).toFixed(1)
      } minutes; load average ${load0} at the start and ${load1} at the end. Whole-process ` +
      "times (`deno task genecontent ...`, reading the inputs included) are medians over the " +
      "runs (range in brackets), the two commands alternating within each run; native backend.",
  );
  L.push("");
  L.push("| measurement | value | ratio | target | met |");
  L.push("|---|---|---|---|---|");
  L.push(`| \`genecontent fit\` (null, 95% intervals), whole process | ${fmt(fit)} | 1 | - | - |`);
  L.push(
    `| \`genecontent screen\` (null background, loss, 95% intervals, --calibration ` +
      `${v.calibration}), whole process | ${fmt(screen)} | ${ratio.toFixed(1)}x the fit | ` +
      `<= 10x | ${ratio <= 10 ? "yes" : "no"} |`,
  );
  L.push(
    `| of which the screen of the data / the calibration (last run) | ` +
      `${last.screenSeconds.toFixed(2)} s / ${last.calibrationSeconds.toFixed(2)} s | - | - | - |`,
  );
  L.push(
    `| max abs LRT difference to the independent 1-D optimisation (${sample} random ` +
      `families) | ${maxLrt.toExponential(2)} | - | <= 1e-6 | ${maxLrt <= 1e-6 ? "yes" : "no"} |`,
  );
  L.push(
    `| max abs theta-hat difference (the ${sample - atBound} interior estimates) | ` +
      `${maxTheta.toExponential(2)} | - | - | - |`,
  );
  L.push("");
  const classes = Object.entries(last.byClass as Record<string, Json>).map(([c, n]) =>
    `${c} ${n.q10} of ${n.families}`
  ).join(", ");
  L.push(
    `Families with q < 0.1 against the null background: ${last.discoveries.q10} (${classes}); ` +
      "the benchmark data come from a three-class mixture (core, shell and cloud rates), so a " +
      "one-rate-pair background is expected to leave many families with their own rates.",
  );
  L.push("");
  L.push(
    `Calibration: ${nNull} families simulated under the fitted null background (gain ` +
      `${gain.toPrecision(5)}, loss ${loss.toPrecision(5)}) on the same tree and window, ` +
      `screened with ${v.calibration} simulated null families of another seed; fractions with ` +
      "p < 0.05 (asymptotic chi2 and calibrated) and q < 0.1, against the binomial 99% upper " +
      "margin (the largest fraction a valid test exceeds with probability 0.5%):",
  );
  L.push("");
  L.push(
    "| class | families | p < 0.05, asymptotic | p < 0.05, calibrated | margin | q < 0.1 | margin |",
  );
  L.push("|---|---|---|---|---|---|---|");
  L.push(...calibrationRows);
  const section = L.join("\n");
  const old = await Deno.readTextFile(v.out!).catch(() => "# Benchmark results\n");
  await Deno.writeTextFile(v.out!, withScreenSection(old, section));
  console.log(section);
}

/** Binomial 99.5% quantile: the largest count a Binomial(n, a) exceeds with probability < 0.5%. */
function binomialUpper(n: number, a: number): number {
  let logP = n * Math.log1p(-a);
  let cdf = Math.exp(logP);
  let k = 0;
  while (cdf < 0.995 && k < n) {
    logP += Math.log((n - k) / (k + 1)) + Math.log(a / (1 - a));
    k++;
    cdf += Math.exp(logP);
  }
  return k;
}
