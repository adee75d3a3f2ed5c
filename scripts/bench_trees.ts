/**
 * Benchmarks of the trees built from a PAM, written into `bench/results.md` (the section
 * between `<!-- trees:start -->` and `<!-- trees:end -->`):
 *
 * - distances between 2,000 genomes over 25,000 families (a random boolean matrix with a
 *   prevalence per family, no missing cells) by the native kernel on 1 and 2 threads, against
 *   SciPy's `pdist(X, metric="jaccard")` on the same boolean matrix (genomes as rows) in the same
 *   run; the values are compared pair by pair;
 * - neighbour joining of 1,000 genomes (Jaccard distances of the first 1,000 genomes of the
 *   simulated 1,324 x 25,420 pangenome of `run_benchmarks.ts`, generated if missing: a random
 *   PAM has no tree in it, and every pair would look alike) by the native kernel
 *   on 1 and 2 threads, against scikit-bio's `nj` on the same matrix; the trees are compared
 *   (bipartitions and branch lengths).
 *
 * Each time is the median of `--runs` runs (neighbour joining: of at least 5 rounds in which
 * ours and scikit-bio's alternate) (the minimum and maximum beside it), inside one
 * process per tool: ours through the FFI call (packing the family-major cells into bitsets
 * included), SciPy's and scikit-bio's in Python around the call alone (the matrix already in
 * memory). SciPy and scikit-bio run single-threaded, so the headline ratios use our 1-thread
 * times; the 2-thread ratios are given beside them. scikit-bio and SciPy are installed from
 * PyPI into a venv under the system temp folder.
 *
 * Usage: `deno run --allow-all scripts/bench_trees.ts [--runs N] [--genomes N] [--families N]
 * [--nj-genomes N] [--out FILE]`
 *
 * @module
 */

import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { openKernel } from "../lib/native/ffi.ts";
import { readPam } from "../lib/pam/read.ts";
import { Random } from "../lib/simulate/random.ts";
import { nativeTreeBackend } from "../lib/tree_building/native.ts";
import type { BuiltTree } from "../lib/tree_building/nj.ts";
import { ensureBenchData } from "./run_benchmarks.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** Marks of the section this script owns in the results file. */
export const TREES_SECTION_START = "<!-- trees:start -->";
/** End mark of the section. */
export const TREES_SECTION_END = "<!-- trees:end -->";
const VENV = `${tmpdir()}/genecontent-tree-peers-venv`;
/** The simulated pangenome whose genomes neighbour joining is timed on. */
const NJ_CASE = "1324x25420-yule";

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function run(cmd: string, args: string[], stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await child.output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  if (!o.success) throw new Error(`${cmd} ${args.join(" ")} failed:\n${text(o.stderr)}`);
  return text(o.stdout);
}

/** The venv's python, with scikit-bio and SciPy installed from PyPI on first use. */
async function peerPython(): Promise<string> {
  const python = `${VENV}/bin/python`;
  const marker = `${VENV}/genecontent-peers-installed`;
  if (await Deno.stat(marker).then(() => true, () => false)) return python;
  log(`installing scikit-bio and SciPy from PyPI into a venv at ${VENV}`);
  await run("python3", ["-m", "venv", VENV]);
  await run(`${VENV}/bin/pip`, ["install", "--quiet", "scikit-bio", "scipy", "numpy"]);
  await run(python, ["-c", "import skbio, scipy"]);
  await Deno.writeTextFile(marker, "scikit-bio scipy numpy\n");
  return python;
}

interface Summary {
  median: number;
  min: number;
  max: number;
}

function summarize(xs: readonly number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: m, min: s[0], max: s[s.length - 1] };
}

function fmt(xs: readonly number[]): string {
  const s = summarize(xs);
  const f = (x: number) => (x >= 1 ? `${x.toFixed(2)} s` : `${(x * 1000).toPrecision(3)} ms`);
  return `${f(s.median)} (${f(s.min)} - ${f(s.max)})`;
}

/** A random family-major PAM (no missing cells) with a prevalence drawn per family. */
function randomPam(rng: Random, nGenomes: number, nFamilies: number): Uint8Array {
  const states = new Uint8Array(nGenomes * nFamilies);
  for (let f = 0; f < nFamilies; f++) {
    const p = 0.02 + 0.96 * rng.next();
    for (let g = 0; g < nGenomes; g++) states[f * nGenomes + g] = rng.next() < p ? 1 : 0;
  }
  return states;
}

/** The same cells genome-major (rows are genomes), as SciPy's pdist takes them. */
function genomeMajor(states: Uint8Array, nGenomes: number, nFamilies: number): Uint8Array {
  const out = new Uint8Array(states.length);
  for (let f = 0; f < nFamilies; f++) {
    for (let g = 0; g < nGenomes; g++) out[g * nFamilies + f] = states[f * nGenomes + g];
  }
  return out;
}

const PDIST = `
import sys, time, numpy as np
from scipy.spatial.distance import pdist
n, m, runs, path, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
X = np.fromfile(path, dtype=np.uint8).reshape(n, m).astype(bool)
times = []
for _ in range(runs):
    t = time.perf_counter(); d = pdist(X, metric="jaccard"); times.append(time.perf_counter() - t)
d.astype(np.float64).tofile(out)
print(" ".join(map(str, times)))
`;

const NJ = `
import sys, time, json, numpy as np
from skbio import DistanceMatrix
from skbio.tree import nj
n, runs, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = np.fromfile(path, dtype=np.float64)
full = np.zeros((n, n)); full[np.triu_indices(n, 1)] = c; full = full + full.T
dm = DistanceMatrix(full, [str(i) for i in range(n)])
times = []
for _ in range(runs):
    t = time.perf_counter(); tree = nj(dm, neg_as_zero=False); times.append(time.perf_counter() - t)
edges = [[sorted(int(x.name) for x in node.tips(include_self=True)), node.length]
         for node in tree.traverse(include_self=False)]
print(json.dumps({"times": times, "edges": edges}))
`;

/** Split key (the side without tip 0) -> summed length. */
function splitsOf(edges: [number[], number][], n: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [tips, l] of edges) {
    const side = new Uint8Array(n);
    for (const t of tips) side[t] = 1;
    if (side[0]) { for (let i = 0; i < n; i++) side[i] ^= 1; }
    const key = side.join("");
    out.set(key, (out.get(key) ?? 0) + l);
  }
  return out;
}

function builtEdges(t: BuiltTree, n: number): [number[], number][] {
  const below: number[][] = Array.from({ length: t.parent.length }, () => []);
  for (let tip = 0; tip < n; tip++) {
    for (let v = tip; v !== -1; v = t.parent[v]) below[v].push(tip);
  }
  return below.slice(0, -1).map((tips, v) => [tips, t.branchLength[v]]);
}

/** Replaces (or appends) the marked trees section of a results file. */
export function withTreesSection(results: string, section: string): string {
  const block = `${TREES_SECTION_START}\n${section.trim()}\n${TREES_SECTION_END}`;
  const a = results.indexOf(TREES_SECTION_START);
  const b = results.indexOf(TREES_SECTION_END);
  if (a >= 0 && b > a) {
    return results.slice(0, a) + block + results.slice(b + TREES_SECTION_END.length);
  }
  return results.trimEnd() + "\n\n" + block + "\n";
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      genomes: { type: "string", default: "2000" },
      families: { type: "string", default: "25000" },
      "nj-genomes": { type: "string", default: "1000" },
      out: { type: "string", default: `${ROOT}/bench/results.md` },
    },
    strict: true,
  });
  const runs = Number(v.runs), ng = Number(v.genomes), nf = Number(v.families);
  const nj = Number(v["nj-genomes"]);
  const started = performance.now();
  const load0 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const python = await peerPython();
  const kernel = openKernel(`${ROOT}/rust/target/release/libgenecontent.so`);
  const one = nativeTreeBackend(kernel, 1)!, two = nativeTreeBackend(kernel, 2)!;
  const dir = await Deno.makeTempDir({ prefix: "genecontent_bench_trees_" });
  try {
    // ----- Distances -----
    log(`distances: ${ng} genomes x ${nf} families`);
    const rng = new Random(1);
    const states = randomPam(rng, ng, nf);
    await Deno.writeFile(`${dir}/x.u8`, genomeMajor(states, ng, nf));
    const ours1: number[] = [], ours2: number[] = [];
    let d1: Float64Array = new Float64Array(0), d2: Float64Array = new Float64Array(0);
    for (let r = 0; r < runs; r++) {
      let t = performance.now();
      d1 = one.distances(states, ng, nf, "jaccard");
      ours1.push((performance.now() - t) / 1000);
      t = performance.now();
      d2 = two.distances(states, ng, nf, "jaccard");
      ours2.push((performance.now() - t) / 1000);
      log(
        `  ours run ${r + 1}: ${ours1.at(-1)!.toFixed(3)} s (1 thread), ${
          ours2.at(-1)!.toFixed(3)
        } s (2)`,
      );
    }
    log("  SciPy pdist");
    const scipyOut = (await run(python, [
      "-c",
      PDIST,
      String(ng),
      String(nf),
      String(runs),
      `${dir}/x.u8`,
      `${dir}/scipy.f64`,
    ])).trim().split(" ").map(Number);
    const sp = new Float64Array((await Deno.readFile(`${dir}/scipy.f64`)).buffer);
    let maxDiff = 0, identical = 0;
    for (let k = 0; k < sp.length; k++) {
      const diff = Math.abs(sp[k] - d1[k]);
      maxDiff = Math.max(maxDiff, diff);
      if (sp[k] === d1[k]) identical++;
    }
    const threadsSame = d1.every((x, k) => x === d2[k]);
    // ----- Neighbour joining -----
    log(`neighbour joining: the first ${nj} genomes of ${NJ_CASE}`);
    const files = await ensureBenchData(NJ_CASE);
    const full = await readPam(files.pam, { orientation: "families-as-rows" });
    const nt = full.taxa.length, nfj = full.families.length;
    if (nj > nt) throw new Error(`--nj-genomes ${nj} is more than the ${nt} genomes of ${NJ_CASE}`);
    const njStates = new Uint8Array(nj * nfj);
    for (let f = 0; f < nfj; f++) {
      for (let g = 0; g < nj; g++) njStates[f * nj + g] = full.states[f * nt + g];
    }
    const dnj = one.distances(njStates, nj, nfj, "jaccard");
    await Deno.writeFile(`${dir}/nj.f64`, new Uint8Array(dnj.buffer));
    const nj1: number[] = [], nj2: number[] = [];
    let t1: BuiltTree | null = null, t2: BuiltTree | null = null;
    // Ours and scikit-bio's alternate, round after round, so that a burst of load from other
    // work falls on both alike (NJ takes milliseconds: one run each would be swung by it).
    const njRounds = Math.max(5, runs);
    const skTimes: number[] = [];
    let sk: { times: number[]; edges: [number[], number][] } = { times: [], edges: [] };
    for (let r = 0; r < njRounds; r++) {
      let t = performance.now();
      t1 = one.buildTree(nj, dnj, "nj");
      nj1.push((performance.now() - t) / 1000);
      t = performance.now();
      t2 = two.buildTree(nj, dnj, "nj");
      nj2.push((performance.now() - t) / 1000);
      sk = JSON.parse(await run(python, ["-c", NJ, String(nj), "1", `${dir}/nj.f64`]));
      skTimes.push(...sk.times);
      log(
        `  round ${r + 1}: ours ${nj1.at(-1)!.toFixed(3)} s (1 thread), ${
          nj2.at(-1)!.toFixed(3)
        } s (2); scikit-bio ${sk.times[0].toFixed(3)} s`,
      );
    }
    const theirs = splitsOf(sk.edges, nj);
    const mine = splitsOf(builtEdges(t1!, nj), nj);
    let sameSplits = theirs.size === mine.size;
    let maxLen = 0;
    for (const [k, l] of theirs) {
      if (!mine.has(k)) sameSplits = false;
      else maxLen = Math.max(maxLen, Math.abs(mine.get(k)! - l));
    }
    const njThreadsSame = t1!.parent.every((p, i) => p === t2!.parent[i]) &&
      t1!.branchLength.every((x, i) => x === t2!.branchLength[i]);
    // ----- Report -----
    const load1 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
    const commit = (await run("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])).trim();
    const versions = (await run(python, [
      "-c",
      "import scipy, skbio, numpy, sys; print(f'SciPy {scipy.__version__}, scikit-bio " +
      "{skbio.__version__}, NumPy {numpy.__version__}, Python {sys.version.split()[0]}')",
    ])).trim();
    const med = (xs: number[]) => summarize(xs).median;
    const distRatio1 = med(scipyOut) / med(ours1), distRatio2 = med(scipyOut) / med(ours2);
    const njRatio1 = med(skTimes) / med(nj1), njRatio2 = med(skTimes) / med(nj2);
    const L: string[] = [];
    L.push("## Trees from the PAM: distances and neighbour joining");
    L.push("");
    L.push(
      `Produced by \`deno run --allow-all scripts/bench_trees.ts --runs ${runs}\` on ` +
        `${new Date().toISOString().slice(0, 19)}Z in ${
          ((performance.now() - started) / 60000).toFixed(1)
        } minutes (genecontent commit ${commit}; ${versions}). Load average (1, 5, 15 min) at ` +
        `the start: ${load0}; at the end: ${load1} (the machine was shared with other work, so ` +
        "times are noisy). Each cell: the median of the runs (min - max), timed inside one " +
        "process per tool: ours around the FFI call (packing the family-major cells into " +
        "bitsets included), SciPy's and scikit-bio's around the call in Python with the " +
        "matrix in memory; neighbour joining in at least 5 rounds, ours and scikit-bio's " +
        "alternating, one run each per round. SciPy and scikit-bio are single-threaded, so the ratios that meet " +
        "the targets use our 1-thread time; the 2-thread ratios are beside them.",
    );
    L.push("");
    L.push(
      "| | genecontent, 1 thread | genecontent, 2 threads | peer | peer / ours (1 thread; 2 threads) |",
    );
    L.push("|---|---|---|---|---|");
    L.push(
      `| Jaccard distances, ${ng.toLocaleString("en-US")} genomes x ` +
        `${nf.toLocaleString("en-US")} families (random, no missing cells) | ${fmt(ours1)} | ` +
        `${fmt(ours2)} | SciPy \`pdist(X, metric="jaccard")\` (bool): ${fmt(scipyOut)} | ` +
        `${distRatio1.toFixed(1)}x; ${distRatio2.toFixed(1)}x |`,
    );
    L.push(
      `| neighbour joining, ${nj.toLocaleString("en-US")} genomes (Jaccard distances of the ` +
        `first ${nj} genomes of the simulated ${NJ_CASE} pangenome) | ${fmt(nj1)} | ${
          fmt(nj2)
        } | scikit-bio \`nj\`: ${fmt(skTimes)} | ` +
        `${njRatio1.toFixed(1)}x; ${njRatio2.toFixed(1)}x |`,
    );
    L.push("");
    L.push(
      `Agreement: ${identical.toLocaleString("en-US")} of ${
        sp.length.toLocaleString("en-US")
      } distances identical to SciPy's (largest difference ${maxDiff.toExponential(1)}); 1 and ` +
        `2 threads ${threadsSame ? "identical" : "DIFFERENT"}. NJ: ${
          sameSplits
            ? "the same bipartitions as scikit-bio"
            : "DIFFERENT bipartitions from scikit-bio"
        }, branch lengths within ${maxLen.toExponential(1)} (scikit-bio and genecontent ` +
        `update their row sums in different orders); 1 and 2 threads ${
          njThreadsSame ? "identical" : "DIFFERENT"
        }.`,
    );
    L.push("");
    L.push("| target | measured | met |");
    L.push("|---|---|---|");
    L.push(
      `| distances ${ng} x ${nf} >= 20x SciPy's pdist (1 thread of ours) | ${
        distRatio1.toFixed(1)
      }x (2 threads: ${distRatio2.toFixed(1)}x) | ${distRatio1 >= 20 ? "yes" : "no"} |`,
    );
    L.push(
      `| NJ of ${nj} genomes >= 10x scikit-bio's nj (1 thread of ours) | ${njRatio1.toFixed(1)}x ` +
        `(2 threads: ${njRatio2.toFixed(1)}x) | ${njRatio1 >= 10 ? "yes" : "no"} |`,
    );
    const section = L.join("\n");
    console.log(section);
    const old = await Deno.readTextFile(v.out!).catch(() => "# Benchmark results\n");
    await Deno.writeTextFile(v.out!, withTreesSection(old, section));
    log(`wrote the trees section of ${v.out}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
