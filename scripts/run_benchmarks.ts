/**
 * The full benchmark table of issue 4, written to `bench/results.md`.
 *
 * For each case (genomes x families on a Yule, coalescent or caterpillar tree) it generates
 * the data once into `bench/data/` with `scripts/make_bench_data.ts` (gitignored; regenerated
 * when the generator changes), then repeats each measurement several times and reports the
 * median and the spread (min-max) of the runs:
 *
 * - `genecontent bench --json` (median of `--repeats` evaluations after 3 warm-ups, inside one
 *   process): native sparse on 2 threads and on 1 thread, native dense on 2 threads (the
 *   straightforward per-pattern pruning, the baseline) and the TypeScript backend, which is
 *   skipped with an extrapolated estimate where one process would take over a minute;
 * - the loading time (`loadMs` of `bench`: read and parse the tree and the PAM, match names,
 *   merge identical columns) and, in a separate process, reading and parsing the PAM alone;
 * - the whole `deno task genecontent fit ... --json` process timed from outside (Deno start-up
 *   and reading the files included), without the profile intervals on 2 threads and on 1 thread,
 *   and with them (the command's default) on fewer runs, with its peak RSS from
 *   `/usr/bin/time` (the Debian package `time` is installed with `apt-get install -y time` if it
 *   is missing, and the script says so);
 * - IQ-TREE's fixed-tree fit of its 2-state model (`tests/support/iqtree.ts`,
 *   `runIqtreeFixedTreeFit`: `GTR2+FO`, fixed topology and relative lengths, one scale factor,
 *   one thread) on the same PAM as a binary PHYLIP alignment, when `iqtree2` or `iqtree` is on
 *   PATH, and the speed ratio;
 * - thread invariance: the largest relative difference between the per-pattern log-likelihoods
 *   (and gradients) on 1 and on 2 threads, and the agreement of sparse, dense and TypeScript.
 *
 * Usage:
 * `deno run --allow-all scripts/run_benchmarks.ts [--cases ID,ID,...|all] [--runs N]
 *  [--out FILE] [--no-iqtree] [--no-build]`
 *
 * `--runs N` (default 5) is the number of runs of each case, except the 5,000 x 100,000 case
 * (at most 2 runs, no TypeScript, IQ-TREE or 1-thread fit: their times are extrapolated or
 * left out) and the slowest measurements: on the 1,324 x 25,420 cases IQ-TREE runs 3 times and
 * the fit with profile intervals once. The whole table takes about 10 minutes on 2 cores.
 *
 * @module
 */

import { readTree } from "../lib/load_dataset.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { parsePamBytes } from "../lib/pam/read.ts";
import {
  type BackendFactory,
  chooseBackend,
  tsBackendFactory,
} from "../lib/likelihood/choose_backend.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { runIqtreeFixedTreeFit, writeBinaryPhylip } from "../tests/support/iqtree.ts";

/** Start marker of the section of `bench/results.md` that `bench_models.ts` writes. */
export const MODELS_SECTION_START = "<!-- models:start -->";
/** End marker of that section. */
export const MODELS_SECTION_END = "<!-- models:end -->";

/** One benchmark case. */
export interface BenchCase {
  /** Identifier used by `--cases` and as the data folder name. */
  readonly id: string;
  /** Number of genomes (tips). */
  readonly tips: number;
  /** Number of families (all present in at least one genome). */
  readonly families: number;
  /** Tree shape. */
  readonly tree: "yule" | "coalescent" | "caterpillar";
  /** At most this many runs, whatever `--runs` says. */
  readonly maxRuns: number;
  /** Timed evaluations of each kind inside one `genecontent bench` process. */
  readonly repeats: number;
  /** Runs of the whole fit with profile intervals (the slowest measurement). */
  readonly ciFitRuns: number;
  /** Runs of IQ-TREE's fit (0: not run). */
  readonly iqtreeRuns: number;
  /** Whether the 1-thread fit and the dense 1-thread invariance check are run. */
  readonly extras: boolean;
}

/**
 * The cases of issue 4, smallest first (later cases extrapolate from earlier ones).
 *
 * @example
 * ```ts
 * import { CASES } from "./run_benchmarks.ts";
 * console.assert(CASES.some((c) => c.tips === 1324 && c.families === 25420));
 * ```
 */
export const CASES: readonly BenchCase[] = [
  {
    id: "100x1000-yule",
    tips: 100,
    families: 1000,
    tree: "yule",
    maxRuns: Infinity,
    repeats: 20,
    ciFitRuns: Infinity,
    iqtreeRuns: Infinity,
    extras: true,
  },
  {
    id: "1324x25420-yule",
    tips: 1324,
    families: 25420,
    tree: "yule",
    maxRuns: Infinity,
    repeats: 5,
    ciFitRuns: 1,
    iqtreeRuns: 3,
    extras: true,
  },
  {
    id: "1324x25420-coalescent",
    tips: 1324,
    families: 25420,
    tree: "coalescent",
    maxRuns: Infinity,
    repeats: 5,
    ciFitRuns: 1,
    iqtreeRuns: 3,
    extras: true,
  },
  {
    id: "1324x25420-caterpillar",
    tips: 1324,
    families: 25420,
    tree: "caterpillar",
    maxRuns: Infinity,
    repeats: 5,
    ciFitRuns: 1,
    iqtreeRuns: 3,
    extras: true,
  },
  {
    id: "5000x100000-yule",
    tips: 5000,
    families: 100000,
    tree: "yule",
    maxRuns: 2,
    repeats: 1,
    ciFitRuns: 0,
    iqtreeRuns: 0,
    extras: false,
  },
];

/** Median and range of some measurements. */
export interface Summary {
  /** The median. */
  readonly median: number;
  /** The smallest value. */
  readonly min: number;
  /** The largest value. */
  readonly max: number;
  /** How many values. */
  readonly n: number;
}

/**
 * The median, minimum and maximum of numbers (`null` for none).
 *
 * @example
 * ```ts
 * import { summarize } from "./run_benchmarks.ts";
 * const s = summarize([3, 1, 2, 10]);
 * console.assert(s !== null && s.median === 2.5 && s.min === 1 && s.max === 10 && s.n === 4);
 * ```
 */
export function summarize(xs: readonly number[]): Summary | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

// ---------------------------------------------------------------------------------------------
// Subprocesses

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
const decoder = new TextDecoder();

/** A finished subprocess with its output and wall time. */
export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
}

/**
 * Runs `cmd` with `args` in the repository root, timing it from outside.
 *
 * @example
 * ```ts ignore
 * import { run } from "./run_benchmarks.ts";
 * const r = await run("git", ["rev-parse", "HEAD"]);
 * console.log(r.code, r.stdout.trim(), r.wallMs);
 * ```
 */
export async function run(cmd: string, args: string[]): Promise<Ran> {
  const start = performance.now();
  const out = await new Deno.Command(cmd, { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
    .output();
  const wallMs = performance.now() - start;
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    wallMs,
  };
}

function failed(what: string, r: Ran): Error {
  return new Error(
    `${what} failed (exit ${r.code}):\n${r.stderr.split("\n").slice(-20).join("\n")}`,
  );
}

async function firstLine(cmd: string, args: string[]): Promise<string | null> {
  try {
    const r = await run(cmd, args);
    const text = (r.stdout + "\n" + r.stderr).split("\n").map((l) => l.trim()).find(Boolean);
    return r.code === 0 && text ? text : null;
  } catch {
    return null;
  }
}

function log(message: string): void {
  const t = new Date().toISOString().slice(11, 19);
  console.error(`[${t}] ${message}`);
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

// ---------------------------------------------------------------------------------------------
// Data

/** The files of one generated case. */
export interface CaseFiles {
  readonly dir: string;
  readonly tree: string;
  readonly pam: string;
  readonly pamBytes: number;
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Generates (once) the data of the case `id` into `dataDir/id` and returns its files.
 *
 * @example
 * ```ts ignore
 * import { ensureBenchData } from "./run_benchmarks.ts";
 * const { tree, pam } = await ensureBenchData("100x1000-yule");
 * ```
 */
export function ensureBenchData(id: string, dataDir = `${ROOT}/bench/data`): Promise<CaseFiles> {
  const c = CASES.find((x) => x.id === id);
  if (!c) {
    throw new Error(`Unknown case '${id}'; the cases are ${CASES.map((x) => x.id).join(", ")}.`);
  }
  return ensureData(c, dataDir);
}

async function ensureData(c: BenchCase, dataDir: string): Promise<CaseFiles> {
  const dir = `${dataDir}/${c.id}`;
  const marker = `${dir}/generated.json`;
  const generator = `${ROOT}/scripts/make_bench_data.ts`;
  const args = [
    "--tips",
    String(c.tips),
    "--families",
    String(c.families),
    "--tree",
    c.tree,
    "--seed",
    "1",
    "--out",
    dir,
  ];
  const want = JSON.stringify({ generator: await sha256(generator), args });
  let have = "";
  try {
    have = await Deno.readTextFile(marker);
  } catch {
    // not generated yet
  }
  if (have.trim() !== want) {
    log(`${c.id}: generating data into ${dir}`);
    await Deno.remove(marker).catch(() => {});
    await Deno.remove(`${dir}/aln.phy`).catch(() => {});
    const r = await run(DENO, ["run", "--allow-read", "--allow-write", generator, ...args]);
    if (r.code !== 0) throw failed(`make_bench_data.ts ${args.join(" ")}`, r);
    log(`${c.id}: ${r.stdout.trim()} (${(r.wallMs / 1000).toFixed(1)} s)`);
    await Deno.writeTextFile(marker, want + "\n");
  }
  const pam = `${dir}/pam.tsv`;
  return { dir, tree: `${dir}/tree.nwk`, pam, pamBytes: (await Deno.stat(pam)).size };
}

// ---------------------------------------------------------------------------------------------
// Probe: a child process that times PAM parsing and checks thread invariance and agreement.

/** What the probe child prints. */
interface ProbeResult {
  readonly readMs: number[];
  readonly nPatterns: number;
  /** Max relative difference, 1 vs 2 threads, per algorithm: logLik and gradient. */
  readonly threads: Record<string, { logLik: number; grad: number }>;
  /** Max relative difference of per-pattern logLik against native sparse. */
  readonly agreement: Record<string, number>;
}

function maxRelDiff(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const d = Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), Math.abs(b[i]));
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return worst;
}

/** Rates the probe evaluates at (two sets per call), per unit of tree height. */
const PROBE_RATES = new Float64Array([0.03, 0.1, 1, 1]);

async function probe(treePath: string, pamPath: string, reads: number, flags: string[]) {
  const { tree } = await readTree(treePath);
  const readMs: number[] = [];
  for (let i = 0; i < reads; i++) {
    const start = performance.now();
    const bytes = await Deno.readFile(pamPath);
    const pam = parsePamBytes(bytes, pamPath, { orientation: "auto", taxa: tree.tipNames });
    readMs.push(performance.now() - start);
    if (pam.families.length === 0) throw new Error("No families read.");
  }
  const dataset = await loadDataset(treePath, pamPath);
  const evaluate = (factory: BackendFactory) => {
    using lik = new GainLossLikelihood(dataset.tree, dataset.patterns, factory, {
      minPresent: 1,
    });
    const r = lik.backend.evaluate(PROBE_RATES, { gradient: true });
    return { logLik: r.logLik, grad: r.grad! };
  };
  const threads: ProbeResult["threads"] = {};
  const agreement: ProbeResult["agreement"] = {};
  const algorithms: ("sparse" | "dense")[] = flags.includes("--dense") ? ["sparse", "dense"] : [
    "sparse",
  ];
  let reference: Float64Array | null = null;
  for (const algorithm of algorithms) {
    const one = evaluate(await chooseBackend("native", { threads: 1, algorithm }));
    const two = evaluate(await chooseBackend("native", { threads: 2, algorithm }));
    threads[algorithm] = {
      logLik: maxRelDiff(one.logLik, two.logLik),
      grad: maxRelDiff(one.grad, two.grad),
    };
    if (reference === null) reference = two.logLik;
    else agreement[algorithm] = maxRelDiff(reference, two.logLik);
  }
  if (flags.includes("--ts") && reference !== null) {
    agreement.ts = maxRelDiff(reference, evaluate(tsBackendFactory).logLik);
  }
  const result: ProbeResult = {
    readMs,
    nPatterns: dataset.patterns.nPatterns,
    threads,
    agreement,
  };
  console.log(JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface BenchJson {
  readonly patterns: number;
  readonly evalMs: number;
  readonly gradMs: number;
  readonly loadMs: number;
  readonly setupMs: number;
  readonly threads: number;
  readonly backend: string;
  readonly algorithm: string;
}

async function cliBench(files: CaseFiles, repeats: number, extra: string[]): Promise<BenchJson> {
  const args = ["task", "-q", "genecontent", "bench", "--tree", files.tree, "--pam", files.pam];
  const r = await run(DENO, [...args, "--json", "--repeats", String(repeats), ...extra]);
  if (r.code !== 0) throw failed(`genecontent bench ${extra.join(" ")}`, r);
  return JSON.parse(r.stdout);
}

interface FitRun {
  readonly wallMs: number;
  readonly peakRssMb: number | null;
  readonly evaluations: number;
  readonly logLik: number;
  readonly converged: boolean;
}

let timeBinary: string | null = null;

async function ensureTime(): Promise<string | null> {
  const path = "/usr/bin/time";
  const exists = async () => (await Deno.stat(path).catch(() => null))?.isFile ?? false;
  if (await exists()) return path;
  console.error("run_benchmarks: installing the Debian package 'time' (apt-get install -y time)");
  let r = await run("sh", ["-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y time"]);
  if (r.code !== 0) {
    r = await run("sh", [
      "-c",
      "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y time",
    ]);
  }
  if (await exists()) return path;
  console.error("run_benchmarks: /usr/bin/time is unavailable; peak RSS will not be reported.");
  return null;
}

async function wholeFit(files: CaseFiles, extra: string[]): Promise<FitRun> {
  const tmp = await Deno.makeTempFile({ prefix: "gc_time_" });
  try {
    const fit = ["task", "-q", "genecontent", "fit", "--tree", files.tree, "--pam", files.pam];
    const args = [...fit, "--json", ...extra];
    const r = timeBinary
      ? await run(timeBinary, ["-f", "GCTIME %e %M", "-o", tmp, DENO, ...args])
      : await run(DENO, args);
    if (r.code !== 0) throw failed(`genecontent fit ${extra.join(" ")}`, r);
    const out = JSON.parse(r.stdout);
    let peakRssMb: number | null = null;
    if (timeBinary) {
      const m = /GCTIME\s+\S+\s+(\d+)/.exec(await Deno.readTextFile(tmp));
      if (m) peakRssMb = Number(m[1]) / 1024;
    }
    return {
      wallMs: r.wallMs,
      peakRssMb,
      evaluations: out.evaluations,
      logLik: out.logLik,
      converged: out.converged,
    };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

async function iqtreeBinary(): Promise<string | null> {
  for (const name of ["iqtree2", "iqtree"]) {
    const r = await run("sh", ["-c", `command -v ${name}`]).catch(() => null);
    if (r && r.code === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/**
 * The case's PAM as a binary PHYLIP alignment for IQ-TREE (`aln.phy` beside it), written once.
 *
 * @example
 * ```ts ignore
 * import { ensureBenchData, ensurePhylip } from "./run_benchmarks.ts";
 * const aln = await ensurePhylip(await ensureBenchData("100x1000-yule"));
 * ```
 */
export async function ensurePhylip(files: CaseFiles): Promise<string> {
  const path = `${files.dir}/aln.phy`;
  if (await Deno.stat(path).catch(() => null)) return path;
  const { tree } = await readTree(files.tree);
  const pam = parsePamBytes(await Deno.readFile(files.pam), files.pam, {
    orientation: "auto",
    taxa: tree.tipNames,
  });
  await writeBinaryPhylip(`${path}.tmp`, pam.taxa, pam.states, pam.families.length);
  await Deno.rename(`${path}.tmp`, path);
  return path;
}

/** One IQ-TREE fit of {@linkcode iqtreeFitReport}: its wall time, log-likelihood and report. */
export interface IqtreeReport {
  /** Wall time of the whole IQ-TREE process in milliseconds. */
  readonly wallMs: number;
  /** "Log-likelihood of the tree" from the report. */
  readonly logLik: number;
  /** The whole `.iqtree` report, for other fitted values. */
  readonly report: string;
}

/**
 * Runs `iqtree2 -s aln -st BIN -te tree -keep-ident -nt threads -seed 1` with `model` (the model
 * and fitting flags, e.g. `["-blscale", "-m", "GTR2+FO+G4"]`) in a temporary folder, removed
 * afterwards, and reads its report.
 *
 * @example
 * ```ts ignore
 * import { iqtreeFitReport } from "./run_benchmarks.ts";
 * const r = await iqtreeFitReport("aln.phy", "tree.nwk", ["-m", "GTR2+FO"], 2);
 * console.log(r.logLik, r.wallMs);
 * ```
 */
export async function iqtreeFitReport(
  aln: string,
  tree: string,
  model: readonly string[],
  threads: number,
): Promise<IqtreeReport> {
  const dir = await Deno.makeTempDir({ prefix: "gc_bench_iqtree_" });
  try {
    const r = await run("iqtree2", [
      "-s",
      aln,
      "-st",
      "BIN",
      "-te",
      tree,
      ...model,
      "-keep-ident",
      "-nt",
      String(threads),
      "-seed",
      "1",
      "--prefix",
      `${dir}/fit`,
      "-redo",
    ]);
    if (r.code !== 0) throw new Error(`iqtree2 failed:\n${r.stdout}\n${r.stderr}`);
    const report = await Deno.readTextFile(`${dir}/fit.iqtree`);
    const m = /Log-likelihood of the tree:\s*(-?\d+(?:\.\d+)?)/.exec(report);
    if (!m) throw new Error("No log-likelihood in IQ-TREE's report.");
    return { wallMs: r.wallMs, logLik: Number(m[1]), report };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The table

/** Everything measured for one case. */
interface CaseResult {
  readonly c: BenchCase;
  readonly runs: number;
  readonly pamBytes: number;
  readonly patterns: number;
  readonly loadAvg: string;
  readonly probe: ProbeResult;
  readonly bench: Record<string, { evalMs: number[]; gradMs: number[]; loadMs: number[] }>;
  readonly tsSkipped: string | null;
  readonly fits: Record<string, FitRun[]>;
  readonly iqtree: { wallMs: number[]; logLik: number; pi1: number } | null;
  readonly iqtreeNote: string;
  readonly elapsedS: number;
}

const CONTENDERS = [
  {
    key: "sparse2",
    label: "native sparse, 2 threads",
    args: ["--threads", "2", "--algorithm", "sparse"],
  },
  {
    key: "sparse1",
    label: "native sparse, 1 thread",
    args: ["--threads", "1", "--algorithm", "sparse"],
  },
  {
    key: "dense2",
    label: "native dense, 2 threads (straightforward pruning, baseline)",
    args: ["--threads", "2", "--algorithm", "dense"],
  },
  { key: "ts", label: "TypeScript (baseline)", args: ["--backend", "ts"] },
] as const;

/**
 * TypeScript cost per pattern x genome (ms) by tree shape, from the cases where it ran; a
 * larger case extrapolates from the same shape (else from the last case measured).
 */
const tsRates = new Map<string, { evalMs: number; gradMs: number; from: string }>();
/** IQ-TREE's fit time per pattern x genome (ms) by tree shape, as `tsRates`. */
const iqRates = new Map<string, { ms: number; from: string }>();

/** The rate measured on the same tree shape, else the last one measured. */
function rateFor<T>(rates: Map<string, T>, tree: string): T | undefined {
  return rates.get(tree) ?? [...rates.values()].at(-1);
}
/** How long one `genecontent bench` process may take before TypeScript is skipped. */
const TS_LIMIT_MS = 60_000;

async function measureCase(
  c: BenchCase,
  files: CaseFiles,
  runs: number,
  iqtree: string | null,
): Promise<CaseResult> {
  const started = performance.now();
  const loadAvg = loadAverage();
  const bench: CaseResult["bench"] = {};
  for (const k of CONTENDERS) bench[k.key] = { evalMs: [], gradMs: [], loadMs: [] };
  const fits: Record<string, FitRun[]> = { noci2: [], noci1: [], ci2: [] };
  let tsSkipped: string | null = null;
  let patterns = 0;
  const iqRuns = iqtree ? Math.min(runs, c.iqtreeRuns) : 0;
  let iqNote = iqtree ? "" : "IQ-TREE is not installed (no iqtree2 or iqtree on PATH)";
  const iqWall: number[] = [];
  let iqFit: { logLik: number; pi1: number } | null = null;
  let phylip: string | null = null;
  if (iqRuns > 0) {
    log(`${c.id}: writing the PAM as a binary PHYLIP alignment for IQ-TREE`);
    phylip = await ensurePhylip(files);
  } else if (iqtree) {
    iqNote = "skipped: too slow for the time budget";
  }
  for (let r = 0; r < runs; r++) {
    for (const k of CONTENDERS) {
      if (k.key === "ts" && tsSkipped !== null) continue;
      const tsRate = rateFor(tsRates, c.tree);
      if (k.key === "ts" && tsRate && patterns > 0) {
        const cells = patterns * c.tips;
        const evalMs = tsRate.evalMs * cells;
        const gradMs = tsRate.gradMs * cells;
        const processMs = (3 + c.repeats) * (evalMs + gradMs);
        if (processMs > TS_LIMIT_MS) {
          tsSkipped = `skipped: too slow (about ${fmtMs(evalMs)} per evaluation and ` +
            `${fmtMs(gradMs)} with the gradient, extrapolated per pattern x genome from ` +
            `${tsRate.from})`;
          continue;
        }
      }
      log(`${c.id} run ${r + 1}/${runs}: bench ${k.label}`);
      const j = await cliBench(files, c.repeats, [...k.args]);
      patterns = j.patterns;
      bench[k.key].evalMs.push(j.evalMs);
      bench[k.key].gradMs.push(j.gradMs);
      bench[k.key].loadMs.push(j.loadMs);
    }
    log(`${c.id} run ${r + 1}/${runs}: whole fit without intervals, 2 threads`);
    fits.noci2.push(await wholeFit(files, ["--threads", "2", "--no-ci"]));
    if (c.extras) {
      log(`${c.id} run ${r + 1}/${runs}: whole fit without intervals, 1 thread`);
      fits.noci1.push(await wholeFit(files, ["--threads", "1", "--no-ci"]));
    }
    if (r < c.ciFitRuns) {
      log(`${c.id} run ${r + 1}/${runs}: whole fit with profile intervals, 2 threads`);
      fits.ci2.push(await wholeFit(files, ["--threads", "2"]));
    }
    if (r < iqRuns && phylip) {
      log(`${c.id} run ${r + 1}/${runs}: IQ-TREE fixed-tree fit`);
      const fit = await runIqtreeFixedTreeFit(files.tree, phylip);
      iqWall.push(fit.wallMs);
      iqFit = { logLik: fit.logLik, pi1: fit.pi1 };
    }
  }
  const iqRate = rateFor(iqRates, c.tree);
  if (iqtree && iqRuns === 0 && iqRate && patterns > 0) {
    iqNote += ` (about ${fmtMs(iqRate.ms * patterns * c.tips)}, extrapolated per pattern x ` +
      `genome from ${iqRate.from})`;
  }
  if (iqWall.length > 0 && patterns > 0) {
    iqRates.delete(c.tree);
    iqRates.set(c.tree, {
      ms: summarize(iqWall)!.median / (patterns * c.tips),
      from: caseTitle(c),
    });
  }
  const ts = bench.ts.evalMs.length > 0 ? summarize(bench.ts.evalMs) : null;
  const tsGrad = bench.ts.gradMs.length > 0 ? summarize(bench.ts.gradMs) : null;
  if (ts && tsGrad) {
    const cells = patterns * c.tips;
    tsRates.delete(c.tree);
    tsRates.set(c.tree, {
      evalMs: ts.median / cells,
      gradMs: tsGrad.median / cells,
      from: caseTitle(c),
    });
  }
  log(`${c.id}: invariance and agreement checks, PAM parsing`);
  const flags = [...(c.extras ? ["--dense"] : []), ...(tsSkipped === null ? ["--ts"] : [])];
  const p = await run(DENO, [
    "run",
    "--allow-all",
    `${ROOT}/scripts/run_benchmarks.ts`,
    "--probe",
    files.tree,
    files.pam,
    String(Math.max(3, runs)),
    ...flags,
  ]);
  if (p.code !== 0) throw failed("the probe", p);
  const probeResult: ProbeResult = JSON.parse(p.stdout);
  return {
    c,
    runs,
    pamBytes: files.pamBytes,
    patterns,
    loadAvg,
    probe: probeResult,
    bench,
    tsSkipped,
    fits,
    iqtree: iqFit ? { wallMs: iqWall, ...iqFit } : null,
    iqtreeNote: iqNote,
    elapsedS: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting

function fmtMs(ms: number): string {
  if (ms >= 120_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function fmtS(xs: readonly number[], unit: (x: number) => string = fmtMs): string {
  const s = summarize(xs);
  if (!s) return "-";
  if (s.n === 1) return `${unit(s.median)} (1 run)`;
  return `${unit(s.median)} (${unit(s.min)} - ${unit(s.max)})`;
}

function fmtMb(mb: number): string {
  if (mb >= 1024) return `${(mb / 1024).toFixed(2)} GB`;
  return mb >= 1 ? `${mb.toFixed(0)} MB` : `${(mb * 1024).toFixed(0)} kB`;
}

function fmtRel(x: number | undefined): string {
  if (x === undefined) return "-";
  return x === 0 ? "0 (identical)" : x.toExponential(1);
}

function caseTitle(c: BenchCase): string {
  return `${c.tips.toLocaleString("en-US")} x ${c.families.toLocaleString("en-US")} ${c.tree}`;
}

function med(xs: readonly number[]): number | null {
  return summarize(xs)?.median ?? null;
}

interface Target {
  readonly text: string;
  readonly measured: string;
  readonly met: boolean | null;
}

function targets(results: CaseResult[]): Target[] {
  const out: Target[] = [];
  const target = results.find((r) => r.c.id === "1324x25420-yule");
  const big = results.find((r) => r.c.id === "5000x100000-yule");
  if (target) {
    const e = med(target.bench.sparse2.evalMs);
    const g = med(target.bench.sparse2.gradMs);
    out.push({
      text: "1,324 x 25,420, 2 threads: one exact evaluation <= 5 ms",
      measured: e === null ? "-" : `${fmtMs(e)} (native sparse, Yule)`,
      met: e === null ? null : e <= 5,
    });
    out.push({
      text: "1,324 x 25,420, 2 threads: value + gradient <= 12 ms",
      measured: g === null ? "-" : `${fmtMs(g)} (native sparse, Yule)`,
      met: g === null ? null : g <= 12,
    });
    const fit = med(target.fits.noci2.map((f) => f.wallMs));
    const fitCi = med(target.fits.ci2.map((f) => f.wallMs));
    const iq = target.iqtree ? med(target.iqtree.wallMs) : null;
    if (fit !== null && iq !== null) {
      const ratio = iq / fit;
      const ciText = fitCi !== null
        ? `; with the profile intervals (the default): ${fmtMs(fitCi)}, ratio ${
          (iq / fitCi).toFixed(1)
        }x`
        : "";
      out.push({
        text: "`genecontent fit` (whole process) >= 10x faster than IQ-TREE's fixed-tree fit, " +
          "same data, same run",
        measured: `IQ-TREE ${fmtMs(iq)} / genecontent fit --no-ci ${fmtMs(fit)} = ${
          ratio.toFixed(1)
        }x${ciText}`,
        met: ratio >= 10,
      });
    } else {
      out.push({
        text: "`genecontent fit` (whole process) >= 10x faster than IQ-TREE's fixed-tree fit",
        measured: target.iqtreeNote || "IQ-TREE not measured",
        met: null,
      });
    }
    const reads = summarize(target.probe.readMs);
    const loads = med(target.bench.sparse2.loadMs);
    out.push({
      text: "1,324 x 25,420 PAM (~67 MB TSV) loads in well under a second",
      measured: `reading and parsing the PAM file ${reads ? fmtMs(reads.median) : "-"}; the ` +
        `whole input stage (tree, PAM, name matching, merging identical columns, file ` +
        `digests) ${loads === null ? "-" : fmtMs(loads)}`,
      met: reads === null ? null : reads.median < 1000,
    });
  }
  if (big) {
    const e = med(big.bench.sparse2.evalMs);
    out.push({
      text: "5,000 x 100,000: one evaluation < 60 ms",
      measured: e === null ? "-" : `${fmtMs(e)} (native sparse, 2 threads)`,
      met: e === null ? null : e < 60,
    });
    const rss = big.fits.noci2.map((f) => f.peakRssMb).filter((x): x is number => x !== null);
    const worst = rss.length ? Math.max(...rss) : null;
    out.push({
      text: "5,000 x 100,000: memory of the whole fit < 2 GB",
      measured: worst === null ? "not measured" : `peak RSS ${fmtMb(worst)} (fit --no-ci)`,
      met: worst === null ? null : worst < 2048,
    });
  }
  let worstThreads = 0;
  const where: string[] = [];
  for (const r of results) {
    for (const [algo, d] of Object.entries(r.probe.threads)) {
      const m = Math.max(d.logLik, d.grad);
      if (m > worstThreads) worstThreads = m;
      where.push(`${r.c.id} ${algo}`);
    }
  }
  if (where.length > 0) {
    out.push({
      text: "Results identical to 1e-12 whatever the thread count (1 vs 2 threads)",
      measured: `largest relative difference ${fmtRel(worstThreads)} over per-pattern ` +
        `log-likelihoods and gradients (${where.length} checks)`,
      met: worstThreads <= 1e-12,
    });
  }
  return out;
}

interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly ramGb: string;
  readonly os: string;
  readonly deno: string;
  readonly rust: string;
  readonly iqtree: string;
  readonly commit: string;
  readonly date: string;
}

async function describeMachine(iqtree: string | null): Promise<Machine> {
  const read = (p: string) => Deno.readTextFile(p).catch(() => "");
  const cpuinfo = await read("/proc/cpuinfo");
  const cpu = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1].trim() ?? "unknown";
  const mem = /MemTotal:\s*(\d+)/.exec(await read("/proc/meminfo"));
  const osName = /PRETTY_NAME="?([^"\n]+)"?/.exec(await read("/etc/os-release"))?.[1] ??
    Deno.build.os;
  const kernel = await firstLine("uname", ["-r"]);
  const commit = await firstLine("git", ["rev-parse", "--short", "HEAD"]);
  const dirty = (await run("git", ["status", "--porcelain"]).catch(() => null))?.stdout.trim();
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    ramGb: mem ? (Number(mem[1]) / 1024 / 1024).toFixed(1) : "unknown",
    os: `${osName}${kernel ? `, Linux ${kernel}` : ""} (${Deno.build.arch})`,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    rust: (await firstLine("rustc", ["--version"])) ?? "rustc not found",
    iqtree: iqtree ? ((await firstLine(iqtree, ["--version"])) ?? iqtree) : "not installed",
    commit: commit ? `${commit}${dirty ? " with uncommitted changes" : ""}` : "unknown",
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}

function renderMarkdown(
  results: CaseResult[],
  machine: Machine,
  command: string,
  loads: { before: string; after: string },
  totalS: number,
): string {
  const L: string[] = [];
  const cols = results.map((r) => r.c);
  const row = (label: string, cells: string[]) => L.push(`| ${label} | ${cells.join(" | ")} |`);
  L.push("# Benchmark results", "");
  L.push(
    `Produced by \`${command}\` on ${machine.date} in ${(totalS / 60).toFixed(1)} minutes ` +
      "(generating data not included when it was already in `bench/data/`).",
    "",
  );
  L.push("## Machine", "");
  L.push(`- CPU: ${machine.cpu}, ${machine.cores} cores (as seen by the process)`);
  L.push(`- RAM: ${machine.ramGb} GiB`);
  L.push(`- OS: ${machine.os}`);
  L.push(`- Deno ${machine.deno}; ${machine.rust}`);
  L.push(`- IQ-TREE: ${machine.iqtree}`);
  L.push(`- genecontent commit: ${machine.commit}`);
  L.push(
    `- Load average (1, 5, 15 min) at the start: ${loads.before}; at the end: ${loads.after}. ` +
      "The machine was shared with other engineers compiling and testing, so times are noisy; " +
      "each case's load at its start is in the table.",
    "",
  );
  L.push("## How to read it", "");
  L.push(
    "Each cell is the median over the runs with the range (min - max) in brackets. Per " +
      "evaluation times come from `genecontent bench --json` (inside one process: the median of " +
      "the timed evaluations after 3 warm-ups; each run is a new process) and include the " +
      "ascertainment correction. The fit times are the whole " +
      "`deno task genecontent fit --tree ... --pam ... --json` process measured from outside " +
      "(Deno start-up, reading and merging the files, the fit, printing), with its peak resident " +
      "memory from `/usr/bin/time`. IQ-TREE runs `iqtree2 -s aln.phy -st BIN -te tree.nwk " +
      "-blfix -blscale -keep-ident -m GTR2+FO -nt 1` (fixed topology and relative branch " +
      "lengths; it estimates the state frequencies and one scale factor, two parameters like " +
      "gain and loss; IQ-TREE on one thread, genecontent on the threads stated); its time is the " +
      "whole process. Data are simulated by `scripts/make_bench_data.ts` (seed 1; a U-shaped " +
      "family-frequency spectrum from a core/shell/cloud mixture).",
    "",
  );
  L.push("## Results", "");
  L.push(`| | ${cols.map((c) => caseTitle(c)).join(" | ")} |`);
  L.push(`|---|${cols.map(() => "---").join("|")}|`);
  row("runs", results.map((r) => String(r.runs)));
  row("load average at start", results.map((r) => r.loadAvg));
  row(
    "distinct columns (patterns)",
    results.map((r) => r.probe.nPatterns.toLocaleString("en-US")),
  );
  row("PAM file", results.map((r) => fmtMb(r.pamBytes / 1024 / 1024)));
  row("read + parse the PAM", results.map((r) => fmtS(r.probe.readMs)));
  row(
    "load (tree + PAM + matching + merging)",
    results.map((r) => fmtS(r.bench.sparse2.loadMs)),
  );
  for (const kind of ["evalMs", "gradMs"] as const) {
    const what = kind === "evalMs" ? "one evaluation" : "value + gradient";
    for (const k of CONTENDERS) {
      row(
        `**${what}**: ${k.label}`,
        results.map((r) =>
          k.key === "ts" && r.tsSkipped ? r.tsSkipped : fmtS(r.bench[k.key][kind])
        ),
      );
    }
    row(
      `${what}: dense / sparse (2 threads)`,
      results.map((r) => {
        const d = med(r.bench.dense2[kind]);
        const s = med(r.bench.sparse2[kind]);
        return d !== null && s !== null ? `${(d / s).toFixed(1)}x` : "-";
      }),
    );
  }
  const fitRow = (label: string, key: string) => {
    row(
      label,
      results.map((r) => {
        const f = r.fits[key];
        if (f.length === 0) return "not run";
        const evals = summarize(f.map((x) => x.evaluations))!;
        const rss = f.map((x) => x.peakRssMb).filter((x): x is number => x !== null);
        const notConverged = f.some((x) => !x.converged) ? ", NOT converged" : "";
        return `${fmtS(f.map((x) => x.wallMs))}; ${evals.median} evaluations${
          rss.length ? `; peak RSS ${fmtMb(Math.max(...rss))}` : ""
        }${notConverged}`;
      }),
    );
  };
  fitRow("**whole `genecontent fit --no-ci`**, 2 threads", "noci2");
  fitRow("whole `genecontent fit --no-ci`, 1 thread", "noci1");
  fitRow("whole `genecontent fit` with 95% profile intervals, 2 threads", "ci2");
  row(
    "**IQ-TREE fixed-tree fit** (GTR2+FO, 1 thread)",
    results.map((r) => r.iqtree ? fmtS(r.iqtree.wallMs) : r.iqtreeNote || "-"),
  );
  row(
    "IQ-TREE / genecontent fit --no-ci (2 threads; 1 thread)",
    results.map((r) => {
      const iq = r.iqtree ? med(r.iqtree.wallMs) : null;
      const f2 = med(r.fits.noci2.map((f) => f.wallMs));
      const f1 = med(r.fits.noci1.map((f) => f.wallMs));
      if (iq === null || f2 === null) return "-";
      return `${(iq / f2).toFixed(1)}x${f1 !== null ? `; ${(iq / f1).toFixed(1)}x` : ""}`;
    }),
  );
  row(
    "IQ-TREE / genecontent fit with intervals",
    results.map((r) => {
      const iq = r.iqtree ? med(r.iqtree.wallMs) : null;
      const f = med(r.fits.ci2.map((x) => x.wallMs));
      return iq !== null && f !== null ? `${(iq / f).toFixed(1)}x` : "-";
    }),
  );
  row(
    "1 vs 2 threads, max relative difference (per-pattern logLik; gradient)",
    results.map((r) =>
      Object.entries(r.probe.threads).map(([a, d]) =>
        `${a}: ${fmtRel(d.logLik)}; ${fmtRel(d.grad)}`
      ).join("<br>")
    ),
  );
  row(
    "agreement with native sparse, max relative difference (per-pattern logLik)",
    results.map((r) =>
      Object.entries(r.probe.agreement).map(([a, d]) => `${a}: ${fmtRel(d)}`).join("<br>") || "-"
    ),
  );
  row("case wall time", results.map((r) => `${(r.elapsedS / 60).toFixed(1)} min`));
  L.push("");
  L.push(
    "The 1 vs 2 thread and agreement checks evaluate two parameter sets (gain, loss) = " +
      "(0.03, 0.1) and (1, 1) per unit of tree height in one call, with gradients, ascertainment " +
      "columns included. The fitted log-likelihoods of genecontent and IQ-TREE differ because " +
      "genecontent conditions on each family being present somewhere and IQ-TREE (without " +
      "`+ASC`) does not.",
    "",
  );
  L.push("## Targets (issue 4)", "");
  L.push("| target | measured | met |", "|---|---|---|");
  for (const t of targets(results)) {
    const met = t.met === null ? "not measured" : t.met ? "yes" : "**no**";
    L.push(`| ${t.text} | ${t.measured} | ${met} |`);
  }
  L.push("");
  const iq = results.filter((r) => r.iqtree);
  if (iq.length > 0) {
    L.push("IQ-TREE's fitted values, for reference (no ascertainment correction):", "");
    for (const r of iq) {
      L.push(
        `- ${caseTitle(r.c)}: log-likelihood ${r.iqtree!.logLik}, pi1 ${r.iqtree!.pi1}`,
      );
    }
    L.push("");
  }
  L.push("## Reproducing", "");
  L.push(
    "```sh",
    "deno task build:native",
    command,
    "```",
    "",
    "See `bench/README.md` for the quick `deno task bench` suite and the options.",
    "",
  );
  return L.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Main

/** Options of {@linkcode runBenchmarks}. */
export interface RunBenchmarksOptions {
  /** Case ids to run (default all, in {@linkcode CASES} order). */
  readonly cases?: readonly string[];
  /** Runs of the uncapped cases (default 5). */
  readonly runs?: number;
  /** Where the Markdown goes (default `bench/results.md`). */
  readonly out?: string;
  /** Skip IQ-TREE even if it is installed. */
  readonly iqtree?: boolean;
  /** Run `deno task build:native` first (default true). */
  readonly build?: boolean;
  /** The command line to print in the results. */
  readonly command?: string;
}

/**
 * Runs the benchmark cases and writes the Markdown table; returns the path written.
 *
 * @example
 * ```ts ignore
 * import { runBenchmarks } from "./run_benchmarks.ts";
 * await runBenchmarks({ cases: ["100x1000-yule"], runs: 2, out: "/tmp/results.md" });
 * ```
 */
export async function runBenchmarks(options: RunBenchmarksOptions = {}): Promise<string> {
  const startedAt = performance.now();
  const runs = options.runs ?? 5;
  const out = options.out ?? `${ROOT}/bench/results.md`;
  const ids = options.cases ?? CASES.map((c) => c.id);
  const unknown = ids.filter((id) => !CASES.some((c) => c.id === id));
  if (unknown.length > 0) {
    throw new Error(
      `Unknown case(s) ${unknown.join(", ")}; choose from ${CASES.map((c) => c.id).join(", ")}.`,
    );
  }
  const before = loadAverage();
  if (options.build ?? true) {
    log("building the native kernel (deno task build:native)");
    const b = await run(DENO, ["task", "-q", "build:native"]);
    if (b.code !== 0) throw failed("deno task build:native", b);
  }
  timeBinary = await ensureTime();
  const iqtree = options.iqtree === false ? null : await iqtreeBinary();
  const machine = await describeMachine(iqtree);
  const results: CaseResult[] = [];
  for (const c of CASES.filter((c) => ids.includes(c.id))) {
    const files = await ensureData(c, `${ROOT}/bench/data`);
    const n = Math.min(runs, c.maxRuns);
    results.push(await measureCase(c, files, n, iqtree));
    await Deno.writeTextFile(
      `${ROOT}/bench/data/last_results.json`,
      JSON.stringify(results, null, 1),
    );
  }
  const command = options.command ??
    "deno run --allow-all scripts/run_benchmarks.ts";
  const markdown = renderMarkdown(
    results,
    machine,
    command,
    { before, after: loadAverage() },
    (performance.now() - startedAt) / 1000,
  );
  // Sections other scripts own (`<!-- NAME:start -->` to `<!-- NAME:end -->`, e.g. those of
  // `bench_models.ts` and `bench_screen.ts`) are kept as they are.
  const old = await Deno.readTextFile(out).catch(() => "");
  const sections = markedSections(old);
  const kept = sections.length > 0 ? sections.join("\n\n") + "\n" : "";
  await Deno.writeTextFile(out, kept ? `${markdown.trimEnd()}\n\n${kept}` : markdown);
  return out;
}

/**
 * Every marked section of a results file (`<!-- NAME:start -->` ... `<!-- NAME:end -->`), in
 * order, markers included.
 *
 * @example
 * ```ts
 * import { markedSections } from "./run_benchmarks.ts";
 * const text = "# R\n<!-- a:start -->\nA\n<!-- a:end -->\nx\n<!-- b:start -->B<!-- b:end -->";
 * console.assert(markedSections(text).length === 2);
 * ```
 */
export function markedSections(text: string): string[] {
  return [...text.matchAll(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->/g)].map((m) => m[0]);
}

function parseMainArgs(args: string[]): RunBenchmarksOptions {
  const get = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const known = new Set(["--cases", "--runs", "--out", "--no-iqtree", "--no-build"]);
  for (const a of args) {
    if (a.startsWith("--") && !known.has(a)) {
      throw new Error(`Unknown option ${a}; see the usage at the top of run_benchmarks.ts.`);
    }
  }
  const casesText = get("--cases");
  const runsText = get("--runs");
  const runs = runsText === undefined ? 5 : Number(runsText);
  if (!(Number.isInteger(runs) && runs >= 1)) {
    throw new Error(`--runs must be a whole number >= 1; got '${runsText}'.`);
  }
  return {
    cases: casesText === undefined || casesText === "all" ? undefined : casesText.split(","),
    runs,
    out: get("--out"),
    iqtree: !args.includes("--no-iqtree"),
    build: !args.includes("--no-build"),
    command: ["deno run --allow-all scripts/run_benchmarks.ts", ...args].join(" "),
  };
}

if (import.meta.main) {
  if (Deno.args[0] === "--probe") {
    const [, tree, pam, reads, ...flags] = Deno.args;
    await probe(tree, pam, Number(reads), flags);
  } else {
    const path = await runBenchmarks(parseMainArgs(Deno.args));
    log(`wrote ${path}`);
  }
}
