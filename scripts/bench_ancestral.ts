/**
 * Benchmark of ancestral reconstruction as a user runs it: the whole `genecontent ancestral`
 * process (reading, the reconstruction, the per-branch sums and the per-family long TSV
 * written) against IQ-TREE 2's empirical-Bayes ancestral states (`-asr`) on the same topology
 * and the same fixed model, with the same number of threads.
 *
 * The model is the null model at the maximum-likelihood rates of `genecontent fit` (fitted
 * once, not timed). IQ-TREE gets it as `GTR2+F{pi0,pi1}` with the tree's branch lengths fixed
 * (`-te tree -blfix`) after mapping them to its units, b = t * 2 gain loss / (gain + loss)
 * (the notes' mapping), so both programs compute posteriors under the same chain.
 * Posteriors given a family's column do not depend on the ascertainment correction, so the
 * expected number of families present at each node is the same quantity in both; the script
 * checks it over all internal nodes but the root (IQ-TREE unroots the tree, which removes the
 * root's node), against the sum of IQ-TREE's `p_1` column (printed to 5 decimals).
 *
 * genecontent writes the per-family table four times per run: as the command writes it by
 * default (rows below `--per-family-min` 1e-4 left out), uncompressed (`.tsv`, the main case)
 * and gzip-compressed (`.tsv.gz`), and complete (`--per-family-min 0`, every row) in both
 * forms, all formatted (and compressed) by the native kernel. The complete uncompressed table
 * is several GB: the script also times `dd` writing as many bytes, the machine's floor for
 * writing that file. After every timed process the script waits for the written data to reach
 * the disk (`sync`, not timed), so that no run is slowed by the write-back of the one before.
 * Each time is the wall time of the whole process, median of `--runs` runs, the contenders
 * alternating so that load from other work falls on all alike; beside it the process's CPU
 * time (user + system, from /usr/bin/time), which other work on the machine changes less.
 * Prints a Markdown section on stdout (progress on stderr) and writes it between
 * `<!-- ancestral:start -->` and `<!-- ancestral:end -->` of `--results` (default
 * bench/results.md; `--results -` writes nothing).
 *
 * Usage: `deno run --allow-all scripts/bench_ancestral.ts [--runs N] [--iqtree-runs N]
 * [--threads N] [--case ID] [--keep DIR] [--results FILE]` (`--iqtree-runs`: IQ-TREE in the
 * first N runs only, default all).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { readTree } from "../lib/load_dataset.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { ensureBenchData, ensurePhylip, run, summarize } from "./run_benchmarks.ts";
import { withMarkedSection } from "./marked_section.ts";

const DENO = Deno.execPath();

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

function seconds(xs: readonly number[]): string {
  const s = summarize(xs)!;
  const f = (x: number) => `${(x / 1000).toFixed(1)} s`;
  return xs.length > 1 ? `${f(s.median)} (${f(s.min)} - ${f(s.max)})` : f(s.median);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`;
}

async function sizeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).size;
}

interface Timed {
  readonly wallMs: number;
  /** User + system CPU time of the process. */
  readonly cpuMs: number;
  /** Bytes of every output. */
  readonly bytes: number;
  /** Bytes of the per-family table file (0 when none). */
  readonly tableBytes: number;
  /** Rows of the per-family table written, and of the complete table (0 when none). */
  readonly rows: number;
  readonly rowsInAll: number;
}

/**
 * Waits until the data written so far is on disk (`sync`, not timed): a run that writes
 * gigabytes leaves the kernel writing them back for many seconds after it ends, which would
 * slow whatever is timed next.
 */
async function settle(): Promise<void> {
  const r = await run("sync", []);
  if (r.code !== 0) throw new Error(`sync failed (exit ${r.code}):\n${r.stderr}`);
}

/** Runs `cmd` under /usr/bin/time; its CPU time is taken off the last line of stderr. */
async function timed(cmd: string, args: string[]) {
  const r = await run("/usr/bin/time", ["-f", "CPU %U %S", cmd, ...args]);
  const lines = r.stderr.trimEnd().split("\n");
  const m = /^CPU ([\d.]+) ([\d.]+)$/.exec(lines[lines.length - 1] ?? "");
  const cpuMs = m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN;
  return { ...r, stderr: m ? lines.slice(0, -1).join("\n") : r.stderr, cpuMs };
}

function cpuSeconds(xs: readonly Timed[]): string {
  return `${(summarize(xs.map((r) => r.cpuMs))!.median / 1000).toFixed(1)} s`;
}

/** The whole `genecontent ancestral` process; returns its time and output size. */
async function genecontentAncestral(
  tree: string,
  pam: string,
  rates: { gain: number; loss: number },
  threads: number,
  dir: string,
  perFamily: string | null,
  min: string | null = null,
): Promise<Timed> {
  const out = `${dir}/genecontent${perFamily === null ? "_sums" : ""}`;
  const families = perFamily === null ? null : `${dir}/families${perFamily}`;
  const r = await timed(DENO, [
    "task",
    "-q",
    "genecontent",
    "ancestral",
    "--tree",
    tree,
    "--pam",
    pam,
    "--gain",
    String(rates.gain),
    "--loss",
    String(rates.loss),
    "--threads",
    String(threads),
    "--out",
    out,
    ...(families === null ? [] : ["--per-family", families]),
    ...(min === null ? [] : ["--per-family-min", min]),
    "--force",
  ]);
  if (r.code !== 0) throw new Error(`genecontent ancestral failed (exit ${r.code}):\n${r.stderr}`);
  const tableBytes = families === null ? 0 : await sizeOf(families);
  let bytes = tableBytes;
  for await (const e of Deno.readDir(out)) bytes += await sizeOf(`${out}/${e.name}`);
  let rows = 0, rowsInAll = 0;
  if (families !== null) {
    const sidecar = JSON.parse(await Deno.readTextFile(`${families}.provenance.json`));
    ({ rows, rowsInAll } = sidecar.familyTable);
    await Deno.remove(families); // the next run writes it anew
  }
  await settle();
  return { wallMs: r.wallMs, cpuMs: r.cpuMs, bytes, tableBytes, rows, rowsInAll };
}

/**
 * `dd` writing `bytes` zeros (in 4 MiB blocks) to a file in `dir`, then removing it: what
 * writing a file of that size costs on this machine, whatever writes it.
 */
async function ddWrite(bytes: number, dir: string): Promise<Timed> {
  const path = `${dir}/dd.bin`;
  const count = Math.ceil(bytes / (4 << 20));
  const r = await timed("dd", ["if=/dev/zero", `of=${path}`, "bs=4M", `count=${count}`]);
  if (r.code !== 0) throw new Error(`dd failed (exit ${r.code}):\n${r.stderr}`);
  const size = await sizeOf(path);
  await Deno.remove(path);
  await settle();
  return { wallMs: r.wallMs, cpuMs: r.cpuMs, bytes: size, tableBytes: 0, rows: 0, rowsInAll: 0 };
}

/** The whole `iqtree2 -asr` process on the scaled tree; its files stay in `dir`. */
async function iqtreeAsr(
  aln: string,
  scaledTree: string,
  pi1: number,
  threads: number,
  dir: string,
): Promise<Timed> {
  // Plain decimals: IQ-TREE's +F{...} parser rejects exponent notation.
  const f1 = pi1.toFixed(15), f0 = (1 - pi1).toFixed(15);
  const r = await timed("iqtree2", [
    "-s",
    aln,
    "-st",
    "BIN",
    "-te",
    scaledTree,
    "-blfix",
    "-keep-ident",
    "-m",
    `GTR2+F{${f0},${f1}}`,
    "-asr",
    "-nt",
    String(threads),
    "-seed",
    "1",
    "--prefix",
    `${dir}/asr`,
    "-redo",
  ]);
  if (r.code !== 0) {
    const tail = (r.stdout + "\n" + r.stderr).trimEnd().split("\n").slice(-15).join("\n");
    throw new Error(`iqtree2 -asr failed (exit ${r.code}):\n${tail}`);
  }
  const bytes = await sizeOf(`${dir}/asr.state`);
  await settle();
  return { wallMs: r.wallMs, cpuMs: r.cpuMs, bytes, tableBytes: 0, rows: 0, rowsInAll: 0 };
}

/** Sum of IQ-TREE's p_1 over all nodes and sites of its `.state` file, read as a stream. */
async function iqtreePresentTotal(statePath: string): Promise<{ sum: number; rows: number }> {
  const file = await Deno.open(statePath);
  let rest = "";
  let sum = 0;
  let rows = 0;
  let header = false;
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("#") || line === "") continue;
      if (!header) {
        if (line !== "Node\tSite\tState\tp_0\tp_1") throw new Error(`Unexpected header ${line}`);
        header = true;
        continue;
      }
      sum += Number(line.slice(line.lastIndexOf("\t") + 1));
      rows++;
    }
  }
  return { sum, rows };
}

/** Sum of the `present` column of genecontent's branch TSV over internal nodes but the root. */
async function genecontentPresentTotal(branchesPath: string, nTips: number): Promise<number> {
  const lines = (await Deno.readTextFile(branchesPath)).trimEnd().split("\n");
  const header = lines[0].split("\t");
  const col = header.indexOf("present");
  const parentCol = header.indexOf("parent");
  if (col < 0 || parentCol < 0) throw new Error(`No present/parent column in ${branchesPath}`);
  let sum = 0;
  const rows = lines.slice(1).map((l) => l.split("\t"));
  // Rows follow the flat tree's order: tips first, the root (parent NA) last.
  rows.forEach((cells, v) => {
    if (v >= nTips && cells[parentCol] !== "NA") sum += Number(cells[col]);
  });
  return sum;
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      threads: { type: "string", default: "2" },
      case: { type: "string", default: "1324x25420-yule" },
      keep: { type: "string" },
      results: { type: "string", default: "bench/results.md" },
      "iqtree-runs": { type: "string" },
    },
    strict: true,
  });
  const runs = Number(v.runs), threads = Number(v.threads);
  // IQ-TREE takes minutes per run: fewer of its runs than of genecontent's when time is short.
  const iqRuns = Math.min(runs, Number(v["iqtree-runs"] ?? runs));
  const load0 = loadAverage();
  const files = await ensureBenchData(v.case!);
  const aln = await ensurePhylip(files);
  const work = v.keep ?? await Deno.makeTempDir({ prefix: "gc_bench_ancestral_" });
  await Deno.mkdir(work, { recursive: true });
  try {
    log(`${v.case}: null-model rates (genecontent fit, not timed)`);
    const fit = await run(DENO, [
      "task",
      "-q",
      "genecontent",
      "fit",
      "--tree",
      files.tree,
      "--pam",
      files.pam,
      "--json",
      "--no-ci",
      "--threads",
      String(threads),
    ]);
    if (fit.code !== 0) throw new Error(`genecontent fit failed:\n${fit.stderr}`);
    const { gain, loss } = JSON.parse(fit.stdout) as { gain: number; loss: number };
    const pi1 = gain / (gain + loss);
    const { tree } = await readTree(files.tree);
    const scale = 2 * gain * loss / (gain + loss);
    const scaledTree = `${work}/scaled.nwk`;
    await Deno.writeTextFile(
      scaledTree,
      formatNewick({ ...tree, branchLength: tree.branchLength.map((t) => t * scale) }) + "\n",
    );
    // The per-family table as written by default, and complete, each plain and gzip.
    const variants = [
      { key: "cut", ext: ".tsv", min: null },
      { key: "cutGz", ext: ".tsv.gz", min: null },
      { key: "all", ext: ".tsv", min: "0" },
      { key: "allGz", ext: ".tsv.gz", min: "0" },
    ] as const;
    const gcRuns: Record<(typeof variants)[number]["key"], Timed[]> = {
      cut: [],
      cutGz: [],
      all: [],
      allGz: [],
    };
    const sumsOnly: Timed[] = [];
    const iq: Timed[] = [];
    const dd: Timed[] = [];
    const rates = { gain, loss };
    for (let i = 0; i < runs; i++) {
      log(`run ${i + 1}/${runs}: genecontent ancestral, sums only`);
      sumsOnly.push(await genecontentAncestral(files.tree, files.pam, rates, threads, work, null));
      for (const x of variants) {
        log(
          `run ${i + 1}/${runs}: genecontent ancestral --per-family ${x.ext}` +
            (x.min === null ? "" : ` --per-family-min ${x.min}`),
        );
        gcRuns[x.key].push(
          await genecontentAncestral(files.tree, files.pam, rates, threads, work, x.ext, x.min),
        );
      }
      log(`run ${i + 1}/${runs}: dd of as many bytes as the complete table`);
      dd.push(await ddWrite(gcRuns.all[0].tableBytes, work));
      if (i >= iqRuns) continue;
      log(`run ${i + 1}/${runs}: iqtree2 -asr`);
      iq.push(await iqtreeAsr(aln, scaledTree, pi1, threads, work));
    }
    log("checking the expected number of families present at the internal nodes");
    const iqTotal = await iqtreePresentTotal(`${work}/asr.state`);
    const gcTotal = await genecontentPresentTotal(`${work}/genecontent/branches.tsv`, tree.nTips);
    const commit = (await run("git", ["rev-parse", "--short", "HEAD"])).stdout.trim();
    const iqVersion = (await run("iqtree2", ["--version"])).stdout.split("\n").find(Boolean) ??
      "";
    const median = (xs: Timed[]) => summarize(xs.map((r) => r.wallMs))!.median;
    const iqTime = median(iq);
    const L: string[] = [];
    L.push("## Ancestral reconstruction");
    L.push("");
    L.push(
      `Produced by \`deno run --allow-all scripts/bench_ancestral.ts --runs ${runs} ${
        iqRuns < runs ? `--iqtree-runs ${iqRuns} ` : ""
      }--threads ${threads}\` on ${
        new Date().toISOString().replace(/\.\d+Z$/, "Z")
      } (commit ${commit}, ` +
        `${v.case}, ${tree.nTips} genomes, ${iqTotal.rows / (tree.nTips - 2)} families; load ` +
        `average ${load0} before, ${loadAverage()} after). Null model at its maximum-likelihood ` +
        `rates (gain ${gain.toPrecision(6)}, loss ${loss.toPrecision(6)}), fixed; ${threads} ` +
        "threads each; wall time of the whole process, median (min - max) of " +
        `${runs} runs${iqRuns < runs ? ` (IQ-TREE: ${iqRuns})` : ""}, and its CPU time ` +
        "(user + system, median); every process starts after the previous one's output is on " +
        "disk (\`sync\`). Every genecontent run also writes the per-branch and " +
        "per-genome sums, the trees (ids, NHX), the iTOL datasets and the JSON (`--out DIR`).",
    );
    L.push("");
    L.push("| program | per-family table | output | time | CPU time | IQ-TREE's time / this |");
    L.push("| --- | --- | --- | --- | --- | --- |");
    const row = (cmd: string, what: string, xs: Timed[]) =>
      `| ${cmd} | ${what} | ${megabytes(xs[0].bytes)} | ${seconds(xs.map((r) => r.wallMs))} | ` +
      `${cpuSeconds(xs)} | ${(iqTime / median(xs)).toFixed(1)}x |`;
    const rowsOf = (x: Timed) =>
      `${x.rows.toLocaleString("en-US")} of ${x.rowsInAll.toLocaleString("en-US")} rows`;
    L.push(row(
      "genecontent `ancestral --out DIR --per-family F.tsv`",
      `long TSV as written by default: rows below 1e-4 left out (${rowsOf(gcRuns.cut[0])}), ` +
        "6 significant digits",
      gcRuns.cut,
    ));
    L.push(row(
      "genecontent `ancestral --out DIR --per-family F.tsv.gz`",
      "the same, gzip",
      gcRuns.cutGz,
    ));
    L.push(row(
      "genecontent `ancestral --out DIR --per-family F.tsv --per-family-min 0`",
      `complete: pPresent at every node, gains and losses on every branch (${
        rowsOf(gcRuns.all[0])
      })`,
      gcRuns.all,
    ));
    L.push(row(
      "genecontent `ancestral --out DIR --per-family F.tsv.gz --per-family-min 0`",
      "complete, gzip",
      gcRuns.allGz,
    ));
    L.push(row("genecontent `ancestral --out DIR`", "none", sumsOnly));
    L.push(row(
      "IQ-TREE 2 `-m GTR2+F{pi0,pi1} -te T -blfix -asr`",
      "`.state`: p_0, p_1 at every internal node for every site (5 decimals)",
      iq,
    ));
    L.push(row(
      "`dd if=/dev/zero bs=4M` (the floor for writing the complete table's bytes)",
      "-",
      dd,
    ));
    L.push("");
    L.push(
      `Expected families present, ` +
        `summed over the ${tree.nTips - 2} internal nodes IQ-TREE keeps: genecontent ` +
        `${gcTotal.toFixed(3)}, IQ-TREE ${iqTotal.sum.toFixed(3)} (relative difference ` +
        `${(Math.abs(gcTotal - iqTotal.sum) / iqTotal.sum).toExponential(2)}; IQ-TREE rounds ` +
        `each of its ${iqTotal.rows} probabilities to 5 decimals). IQ-TREE: ${iqVersion}. ` +
        "The complete uncompressed table cannot be written faster than `dd` writes as many " +
        "bytes on this machine (past about 4.6 GB of unwritten pages, writes wait for the disk).",
    );
    const section = L.join("\n");
    if (v.results !== "-") {
      const old = await Deno.readTextFile(v.results!).catch(() => "# Benchmark results\n");
      await Deno.writeTextFile(v.results!, withMarkedSection(old, "ancestral", section));
    }
    console.log(section);
  } finally {
    if (v.keep === undefined) await Deno.remove(work, { recursive: true });
  }
}
