/**
 * Generates benchmark inputs (not committed): a random tree and a simulated pangenome with a
 * U-shaped gene-frequency spectrum (most families rare, a core present nearly everywhere), as a
 * mixture of family classes with their own gain and loss rates. Families present nowhere are
 * dropped, as in a real PAM. Rows are streamed to disk, so 5,000 x 100,000 runs in little memory.
 *
 * Usage:
 * `deno run --allow-write scripts/make_bench_data.ts --tips N --families M
 *  [--tree yule|coalescent|caterpillar] [--seed S] --out DIR`
 *
 * Writes `DIR/tree.nwk` and `DIR/pam.tsv` (header `family` then genome names, 0/1 cells).
 *
 * @module
 */

import { Random } from "../lib/simulate/random.ts";
import { caterpillarTree, coalescentTree, yuleTree } from "../lib/simulate/trees.ts";
import { FamilySimulator } from "../lib/simulate/families.ts";
import { formatNewick } from "../lib/newick/format.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

/** Tree shapes the generator can draw. */
export type BenchTreeKind = "yule" | "coalescent" | "caterpillar";

/** One class of families in the mixture: rates per unit of root-to-tip tree height. */
export interface FamilyClass {
  readonly name: string;
  /** Share of simulated (not kept) families in this class. */
  readonly weight: number;
  readonly gain: number;
  readonly loss: number;
}

/**
 * The default mixture, on a tree rescaled to root-to-tip height 1 (caterpillar: every branch
 * 1 / (nTips - 1)): a slow, mostly present core; a shell; and a fast-turnover rare cloud. On a
 * 1,324 x 25,420 Yule case (seed 1) 86.7% of the kept columns are distinct, about 72%
 * of the families are in fewer than 10% of the genomes and about 19% in more than 90%.
 */
export const DEFAULT_CLASSES: readonly FamilyClass[] = [
  { name: "core", weight: 0.15, gain: 0.3, loss: 0.01 },
  { name: "shell", weight: 0.45, gain: 0.03, loss: 0.2 },
  { name: "cloud", weight: 0.4, gain: 0.004, loss: 0.8 },
];

/** Options of {@linkcode makeBenchData}. */
export interface BenchDataOptions {
  readonly tips: number;
  readonly families: number;
  readonly tree: BenchTreeKind;
  readonly seed: number;
  readonly out: string;
  readonly classes?: readonly FamilyClass[];
}

/** What {@linkcode makeBenchData} reports. */
export interface BenchDataSummary {
  readonly nTips: number;
  readonly nFamilies: number;
  readonly nSimulated: number;
  readonly nDropped: number;
  readonly treeFile: string;
  readonly pamFile: string;
}

/**
 * Draws the tree for a benchmark case.
 *
 * @example
 * ```ts
 * import { Random } from "../lib/simulate/random.ts";
 * import { benchTree } from "./make_bench_data.ts";
 * console.assert(benchTree("yule", 10, new Random(1)).nTips === 10);
 * ```
 */
export function benchTree(kind: BenchTreeKind, nTips: number, rng: Random): FlatTree {
  switch (kind) {
    case "yule":
      return yuleTree(nTips, rng, { height: 1 });
    case "coalescent":
      return coalescentTree(nTips, rng, { height: 1 });
    case "caterpillar":
      return caterpillarTree(nTips, nTips > 1 ? 1 / (nTips - 1) : 0);
    default:
      throw new RangeError(`Unknown tree kind '${kind}'; use yule, coalescent or caterpillar.`);
  }
}

/**
 * Writes `tree.nwk` and `pam.tsv` for one benchmark case into `options.out`.
 *
 * @example
 * ```ts ignore
 * import { makeBenchData } from "./make_bench_data.ts";
 * await makeBenchData({ tips: 100, families: 1000, tree: "yule", seed: 1, out: "/tmp/b" });
 * ```
 */
export async function makeBenchData(options: BenchDataOptions): Promise<BenchDataSummary> {
  const { tips, families, seed, out } = options;
  if (!(Number.isInteger(families) && families >= 1)) {
    throw new RangeError(`Number of families ${families} must be a positive integer.`);
  }
  const classes = options.classes ?? DEFAULT_CLASSES;
  const rng = new Random(seed);
  const tree = benchTree(options.tree, tips, rng);
  await Deno.mkdir(out, { recursive: true });
  const treeFile = `${out}/tree.nwk`;
  const pamFile = `${out}/pam.tsv`;
  await Deno.writeTextFile(treeFile, formatNewick(tree) + "\n");

  const sims = classes.map((c) =>
    new FamilySimulator(tree, { gain: c.gain, loss: c.loss, nFamilies: 0, rng })
  );
  const totalWeight = classes.reduce((a, c) => a + c.weight, 0);
  const cum = classes.map((_, k) =>
    classes.slice(0, k + 1).reduce((a, c) => a + c.weight, 0) / totalWeight
  );

  const encoder = new TextEncoder();
  const file = await Deno.open(pamFile, { write: true, create: true, truncate: true });
  try {
    const chunk = new Uint8Array(Math.max(1 << 22, 4 * (2 * tips + 32)));
    let used = 0;
    const flush = async () => {
      let off = 0;
      while (off < used) off += await file.write(chunk.subarray(off, used));
      used = 0;
    };
    const header = encoder.encode(["family", ...tree.tipNames].join("\t") + "\n");
    let hOff = 0;
    while (hOff < header.length) hOff += await file.write(header.subarray(hOff));

    const row = new Uint8Array(tips);
    const width = String(families).length;
    let kept = 0, simulated = 0;
    const maxSimulated = 1000 * families + 100000;
    while (kept < families) {
      if (simulated >= maxSimulated) {
        throw new RangeError(`Only ${kept} of ${simulated} simulated families were present.`);
      }
      const u = rng.next();
      let k = 0;
      while (k < cum.length - 1 && u >= cum[k]) k++;
      sims[k].simulateInto(row, 0);
      simulated++;
      if (!row.includes(1)) continue;
      kept++;
      if (used + 2 * tips + 32 > chunk.length) await flush();
      const name = encoder.encode(`fam${String(kept).padStart(width, "0")}`);
      chunk.set(name, used);
      used += name.length;
      for (let i = 0; i < tips; i++) {
        chunk[used++] = 9; // tab
        chunk[used++] = 48 + row[i]; // '0' or '1'
      }
      chunk[used++] = 10; // newline
    }
    await flush();
    return {
      nTips: tips,
      nFamilies: kept,
      nSimulated: simulated,
      nDropped: simulated - kept,
      treeFile,
      pamFile,
    };
  } finally {
    file.close();
  }
}

function parseArgs(args: string[]): BenchDataOptions {
  const get = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const int = (flag: string, fallback?: number): number => {
    const v = get(flag);
    if (v === undefined) {
      if (fallback === undefined) throw new Error(`Option ${flag} is required.`);
      return fallback;
    }
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`Option ${flag} needs an integer, got '${v}'.`);
    return n;
  };
  const out = get("--out");
  if (!out) throw new Error("Option --out DIR is required.");
  const tree = (get("--tree") ?? "yule") as BenchTreeKind;
  if (!["yule", "coalescent", "caterpillar"].includes(tree)) {
    throw new Error(`Option --tree must be yule, coalescent or caterpillar, got '${tree}'.`);
  }
  return { tips: int("--tips"), families: int("--families"), tree, seed: int("--seed", 1), out };
}

if (import.meta.main) {
  const options = parseArgs(Deno.args);
  const s = await makeBenchData(options);
  console.log(
    `Wrote ${s.treeFile} and ${s.pamFile}: ${s.nTips} tips x ${s.nFamilies} families ` +
      `(${s.nDropped} of ${s.nSimulated} simulated families were present nowhere and dropped).`,
  );
}
