/**
 * Benchmark of branch-length optimisation on a fixed topology: the whole
 * `genecontent fit --optimize-branch-lengths --no-ascertainment --no-ci` process against IQ-TREE
 * 2 optimising the branch lengths of the same topology under the same model
 * (`iqtree2 -s aln.phy -st BIN -te tree.nwk -m GTR2+FO -keep-ident`), with the same number of
 * threads, both uncorrected (so their log-likelihoods are the same function of the data and
 * the lengths), and both maxima side by side (genecontent's must be at least IQ-TREE's). Tree
 * lengths are compared in IQ-TREE's units (b = t 2 gain loss / (gain + loss)).
 *
 * Each whole-process time is the median of `--runs` runs (`--iqtree-runs` of them for IQ-TREE),
 * alternating the contenders so that load from other work on the machine falls on both alike;
 * beside the wall time, the processor time (user + system: genecontent's from `/usr/bin/time`,
 * IQ-TREE's from its report), which load from other work inflates far less. Prints a Markdown
 * section on stdout (progress on stderr) and writes it into `--out` (default
 * `bench/results.md`) between `<!-- branch-lengths:start -->` and `<!-- branch-lengths:end -->`
 * (`--out -` writes nothing).
 *
 * Usage: `deno run --allow-all scripts/bench_branch_lengths.ts [--runs N] [--iqtree-runs N]
 * [--threads N] [--case ID] [--out FILE]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { totalLength } from "../lib/tree/flat_tree.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import {
  ensureBenchData,
  ensurePhylip,
  iqtreeFitReport,
  run,
  summarize,
} from "./run_benchmarks.ts";

const DENO = Deno.execPath();
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Start marker of the section of `bench/results.md` that this script writes. */
export const BRANCH_LENGTHS_SECTION_START = "<!-- branch-lengths:start -->";
/** End marker of that section. */
export const BRANCH_LENGTHS_SECTION_END = "<!-- branch-lengths:end -->";

/**
 * Replaces (or appends) the marked branch-lengths section of a results file.
 *
 * @example
 * ```ts
 * import { withBranchLengthsSection } from "./bench_branch_lengths.ts";
 * const once = withBranchLengthsSection("# Results\n", "## A");
 * console.assert(withBranchLengthsSection(once, "## B") === once.replace("## A", "## B"));
 * ```
 */
export function withBranchLengthsSection(results: string, section: string): string {
  const block = `${BRANCH_LENGTHS_SECTION_START}\n${section.trim()}\n${BRANCH_LENGTHS_SECTION_END}`;
  const a = results.indexOf(BRANCH_LENGTHS_SECTION_START);
  const b = results.indexOf(BRANCH_LENGTHS_SECTION_END);
  if (a >= 0 && b > a) {
    return results.slice(0, a) + block + results.slice(b + BRANCH_LENGTHS_SECTION_END.length);
  }
  return results.trimEnd() + "\n\n" + block + "\n";
}

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

function seconds(xs: readonly number[]): string {
  const s = summarize(xs)!;
  const f = (x: number) => `${(x / 1000).toFixed(1)} s`;
  return xs.length > 1 ? `${f(s.median)} (${f(s.min)} - ${f(s.max)})` : f(s.median);
}

interface Outcome {
  readonly wallMs: number;
  /** User + system processor time. */
  readonly cpuMs: number;
  readonly logLik: number;
  /** Tree length in IQ-TREE's units (expected substitutions). */
  readonly treeLength: number;
  readonly detail: string;
}

async function genecontent(tree: string, pam: string, threads: number): Promise<Outcome> {
  const dir = await Deno.makeTempDir({ prefix: "gc_bench_bl_" });
  try {
    const r = await run("/usr/bin/time", [
      "-f",
      "cpu %U %S",
      DENO,
      "task",
      "-q",
      "genecontent",
      "fit",
      "--tree",
      tree,
      "--pam",
      pam,
      "--optimize-branch-lengths",
      "--tree-out",
      `${dir}/fitted.nwk`,
      "--no-ascertainment",
      "--no-ci",
      "--threads",
      String(threads),
      "--json",
    ]);
    if (r.code !== 0) throw new Error(`genecontent fit failed:\n${r.stderr}`);
    const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
    if (!cpu) throw new Error(`No processor time from /usr/bin/time:\n${r.stderr}`);
    const out = JSON.parse(r.stdout);
    const fitted = parseNewick(await Deno.readTextFile(`${dir}/fitted.nwk`), "fitted.nwk");
    const { gain, loss } = out;
    const bl = out.branchLengths;
    return {
      wallMs: r.wallMs,
      cpuMs: 1000 * (Number(cpu[1]) + Number(cpu[2])),
      logLik: out.logLik,
      treeLength: totalLength(fitted) * 2 * gain * loss / (gain + loss),
      detail: `${bl.iterations} L-BFGS iterations, ${bl.evaluations} evaluations, ` +
        `${
          bl.converged ? "converged" : "NOT converged"
        }, branch lengths on the ${bl.backend} backend`,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function iqtree(tree: string, aln: string, threads: number): Promise<Outcome> {
  const r = await iqtreeFitReport(aln, tree, ["-m", "GTR2+FO"], threads);
  const len = /Total tree length \(sum of branch lengths\):\s*([-+\d.eE]+)/.exec(r.report);
  if (!len) throw new Error("No tree length in IQ-TREE's report.");
  const cpu = /Total CPU time used:\s*([\d.]+)\s*sec/.exec(r.report);
  if (!cpu) throw new Error("No CPU time in IQ-TREE's report.");
  return {
    wallMs: r.wallMs,
    cpuMs: 1000 * Number(cpu[1]),
    logLik: r.logLik,
    treeLength: Number(len[1]),
    detail: "",
  };
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      "iqtree-runs": { type: "string", default: "1" },
      threads: { type: "string", default: "2" },
      case: { type: "string", default: "1324x25420-yule" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
    strict: true,
  });
  const runs = Number(v.runs), threads = Number(v.threads);
  const iqtreeRuns = Math.min(runs, Number(v["iqtree-runs"]));
  const started = performance.now();
  const load0 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const files = await ensureBenchData(v.case!);
  const aln = await ensurePhylip(files);
  const gc: Outcome[] = [], iq: Outcome[] = [];
  for (let i = 0; i < runs; i++) {
    log(`run ${i + 1}/${runs}: genecontent fit --optimize-branch-lengths`);
    gc.push(await genecontent(files.tree, files.pam, threads));
    log(`  ${(gc[i].wallMs / 1000).toFixed(1)} s, logLik ${gc[i].logLik.toFixed(4)}`);
    if (i < iqtreeRuns) {
      log(`run ${i + 1}/${runs}: IQ-TREE -m GTR2+FO -te (lengths optimised)`);
      iq.push(await iqtree(files.tree, aln, threads));
      log(`  ${(iq[i].wallMs / 1000).toFixed(1)} s, logLik ${iq[i].logLik}`);
    }
  }
  const load1 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const commit = (await run("git", ["rev-parse", "--short", "HEAD"])).stdout.trim();
  const iqVersion = (await run("iqtree2", ["--version"])).stdout.split("\n").find(Boolean) ?? "";
  const gcMs = gc.map((o) => o.wallMs), iqMs = iq.map((o) => o.wallMs);
  const ratio = summarize(iqMs)!.median / summarize(gcMs)!.median;
  const gcCpu = gc.map((o) => o.cpuMs), iqCpu = iq.map((o) => o.cpuMs);
  const cpuRatio = summarize(iqCpu)!.median / summarize(gcCpu)!.median;
  const gcLl = Math.min(...gc.map((o) => o.logLik));
  const iqLl = iq[0].logLik;
  const L: string[] = [];
  L.push("## Branch lengths optimised on a fixed topology");
  L.push("");
  L.push(
    `Produced by \`deno run --allow-all scripts/bench_branch_lengths.ts --runs ${runs} ` +
      `--iqtree-runs ${iqtreeRuns} --threads ${threads}\` on ` +
      `${new Date().toISOString().replace(/\.\d+Z$/, "Z")} at commit ${commit}, case ${v.case}, ` +
      `in ${((performance.now() - started) / 60000).toFixed(1)} minutes; load average ${load0} ` +
      `at the start and ${load1} at the end. ${iqVersion}. Whole-process wall times, median ` +
      `over the runs (range in brackets), ${threads} threads on both sides, both uncorrected ` +
      "(no ascertainment), the same topology (genecontent also starts from its lengths; " +
      "IQ-TREE re-estimates them). genecontent: " + gc[0].detail + ".",
  );
  L.push("");
  L.push("| measurement | value | ratio | target | met |");
  L.push("|---|---|---|---|---|");
  L.push(
    `| IQ-TREE 2 \`-m GTR2+FO -te T -keep-ident\` (lengths and frequencies optimised), ` +
      `whole process | ${seconds(iqMs)} | - | - | - |`,
  );
  L.push(
    "| `genecontent fit --optimize-branch-lengths --no-ascertainment --no-ci`, whole process " +
      `| ${seconds(gcMs)} | IQ-TREE / genecontent = ${ratio.toFixed(1)}x | 10x faster | ` +
      `${ratio >= 10 ? "yes" : "no"} |`,
  );
  L.push(
    `| processor time (user + system), IQ-TREE / genecontent | ${seconds(iqCpu)} / ` +
      `${seconds(gcCpu)} | ${cpuRatio.toFixed(1)}x | 10x | ${cpuRatio >= 10 ? "yes" : "no"} |`,
  );
  L.push(
    `| log-likelihood: genecontent (lowest of the runs) / IQ-TREE | ${gcLl.toFixed(4)} / ` +
      `${iqLl.toFixed(4)} | difference ${(gcLl - iqLl).toFixed(4)} | genecontent >= IQ-TREE ` +
      `(IQ-TREE prints 4 decimals) | ${gcLl >= iqLl - 5e-5 ? "yes" : "no"} |`,
  );
  L.push(
    `| tree length in IQ-TREE's units (t 2 gain loss / (gain + loss)): genecontent / IQ-TREE | ` +
      `${gc[0].treeLength.toFixed(5)} / ${iq[0].treeLength.toFixed(5)} | ` +
      `${(gc[0].treeLength / iq[0].treeLength).toFixed(4)} | - | - |`,
  );
  const section = L.join("\n");
  console.log(section);
  if (v.out !== "-") {
    const old = await Deno.readTextFile(v.out!).catch(() => "# Benchmark results\n");
    await Deno.writeTextFile(v.out!, withBranchLengthsSection(old, section));
    log(`wrote the section into ${v.out}`);
  }
}
