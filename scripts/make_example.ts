/**
 * Writes the bundled example data set to `examples/` (or `--out DIR`): a simulated pangenome of
 * 200 genomes x 5,000 observed gene families on a Yule tree, from the 2-state gain/loss model
 * with known rates, with never-present families dropped as in a real PAM.
 *
 * Files: `tree.nwk`, `pam.tsv` (families as rows, header `family` then genome names, 0/1 cells),
 * `truth.json` (the true parameters and counts) and `README.md`. Deterministic from the seed.
 *
 * Usage: `deno run --allow-write scripts/make_example.ts [--out examples]`
 *
 * @module
 */

import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { simulateObservedPam } from "../lib/simulate/families.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { totalLength } from "../lib/tree/flat_tree.ts";

/** Version of this generator; bump it whenever the output would change. */
export const EXAMPLE_GENERATOR_VERSION = 1;

/** The fixed settings of the example data set. */
export const EXAMPLE_SETTINGS = {
  seed: 20240601,
  nGenomes: 200,
  nFamilies: 5000,
  treeHeight: 1,
  gain: 0.03,
  loss: 0.3,
} as const;

/** What {@linkcode makeExample} writes to `truth.json`. */
export interface ExampleTruth {
  readonly generator: string;
  readonly generatorVersion: number;
  readonly seed: number;
  readonly gain: number;
  readonly loss: number;
  readonly pi1: number;
  readonly nGenomes: number;
  readonly nFamiliesKept: number;
  readonly nFamiliesDropped: number;
  readonly nFamiliesSimulated: number;
  readonly droppedShare: number;
  readonly minPresent: number;
  readonly treeGenerator: string;
  readonly treeHeight: number;
  readonly treeTotalLength: number;
}

/**
 * Simulates the example and writes its files into `outDir` (created if needed).
 *
 * @example
 * ```ts ignore
 * import { makeExample } from "./make_example.ts";
 * const truth = await makeExample("examples");
 * console.log(truth.nFamiliesDropped);
 * ```
 */
export async function makeExample(outDir: string): Promise<ExampleTruth> {
  const s = EXAMPLE_SETTINGS;
  const rng = new Random(s.seed);
  const tree = yuleTree(s.nGenomes, rng, { height: s.treeHeight });
  const pam = simulateObservedPam(tree, {
    gain: s.gain,
    loss: s.loss,
    nFamilies: s.nFamilies,
    rng,
  });
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/tree.nwk`, formatNewick(tree) + "\n");

  const nTips = tree.nTips;
  const width = String(s.nFamilies).length;
  const lines: string[] = [["family", ...tree.tipNames].join("\t")];
  for (let f = 0; f < s.nFamilies; f++) {
    const row = pam.states.subarray(f * nTips, (f + 1) * nTips);
    lines.push(`fam${String(f + 1).padStart(width, "0")}\t${row.join("\t")}`);
  }
  await Deno.writeTextFile(`${outDir}/pam.tsv`, lines.join("\n") + "\n");

  const truth: ExampleTruth = {
    generator: "scripts/make_example.ts",
    generatorVersion: EXAMPLE_GENERATOR_VERSION,
    seed: s.seed,
    gain: s.gain,
    loss: s.loss,
    pi1: s.gain / (s.gain + s.loss),
    nGenomes: s.nGenomes,
    nFamiliesKept: pam.nFamilies,
    nFamiliesDropped: pam.nDropped,
    nFamiliesSimulated: pam.nSimulated,
    droppedShare: pam.droppedShare,
    minPresent: 1,
    treeGenerator: "yule (birth rate 1, rescaled to the tree height)",
    treeHeight: s.treeHeight,
    treeTotalLength: totalLength(tree),
  };
  await Deno.writeTextFile(`${outDir}/truth.json`, JSON.stringify(truth, null, 2) + "\n");
  await Deno.writeTextFile(`${outDir}/README.md`, readme(truth));
  return truth;
}

function readme(t: ExampleTruth): string {
  const pct = (100 * t.droppedShare).toFixed(1);
  return `# Example data

A simulated pangenome with known truth, written by \`deno run --allow-write
scripts/make_example.ts\` (generator version ${t.generatorVersion}, seed ${t.seed}); running it
again reproduces these files byte for byte.

- \`tree.nwk\`: a random ultrametric Yule tree of ${t.nGenomes} genomes (\`g1\` .. \`g${t.nGenomes}\`),
  rescaled to a root-to-tip height of ${t.treeHeight} (total branch length
  ${t.treeTotalLength.toFixed(3)}). Branch lengths are written with the shortest decimal that
  reads back to the same double.
- \`pam.tsv\`: the presence/absence matrix, tab-separated: a header \`family\` followed by the
  genome names, then one row per gene family (\`fam0001\` ..), cells \`1\` (present) or \`0\`
  (absent). ${t.nFamiliesKept} families.
- \`truth.json\`: the parameters the data were simulated with and the counts below.

## How the data were simulated

Each family evolves independently on the tree under the 2-state continuous-time Markov model
with gain rate ${t.gain} (absent to present) and loss rate ${t.loss} (present to absent) per unit
of branch length, so the stationary presence probability is pi1 = ${t.pi1.toPrecision(6)}. The
root state is drawn from the stationary prior and each branch applies the exact transition
probabilities.

As in a real pangenome, a family that is absent from every genome is never observed: the
generator simulated ${t.nFamiliesSimulated} families and dropped the ${t.nFamiliesDropped}
(${pct}%) that were present nowhere, keeping the first ${t.nFamiliesKept} families present in at
least ${t.minPresent} genome. A fit that ignores this ascertainment (no correction for the
never-observed all-absent families) is biased, typically towards a higher gain rate and pi1; a
corrected fit should recover gain ${t.gain} and loss ${t.loss} within sampling error.
`;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const outDir = i >= 0 ? Deno.args[i + 1] : new URL("../examples", import.meta.url).pathname;
  if (!outDir) throw new Error("Option --out needs a directory.");
  const truth = await makeExample(outDir);
  console.log(
    `Wrote ${outDir}: ${truth.nFamiliesKept} families kept, ${truth.nFamiliesDropped} dropped ` +
      `(${(100 * truth.droppedShare).toFixed(1)}%).`,
  );
}
