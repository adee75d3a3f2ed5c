/**
 * Loading a tree and a 1,324 x 25,420 PAM (~67 MB TSV, columns not in tree order) into merged
 * patterns: `loadDataset` end to end, and its stages done the straightforward way for
 * comparison (whole-file read, WebCrypto SHA-256, parse, reorder, merge).
 *
 * Run with `deno bench --allow-all bench/load_bench.ts` (needs `bench/data/1324x25420-yule/`,
 * made by `scripts/run_benchmarks.ts`; skipped without it).
 *
 * @module
 */

import { loadDataset } from "../lib/load_dataset.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { alignPamToTree } from "../lib/pam/align.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { parsePamBytes } from "../lib/pam/read.ts";

const dir = new URL("./data/1324x25420-yule/", import.meta.url).pathname;
const treePath = `${dir}tree.nwk`;
const pamPath = `${dir}pam.tsv`;
const present = await Deno.stat(pamPath).then(() => true, () => false);

Deno.bench({
  name: "loadDataset 1,324 x 25,420 (streamed read + SHA-256 + parse + merge)",
  ignore: !present,
  group: "load",
  baseline: true,
  async fn() {
    const d = await loadDataset(treePath, pamPath);
    if (d.patterns.familyPattern.length !== 25420) throw new Error("wrong family count");
  },
});

Deno.bench({
  name: "straightforward: readFile + digest + parse + align + compress",
  ignore: !present,
  group: "load",
  async fn() {
    const tree = parseNewick(await Deno.readTextFile(treePath), treePath);
    const bytes = await Deno.readFile(pamPath);
    await crypto.subtle.digest("SHA-256", bytes);
    const pam = parsePamBytes(bytes, pamPath, { taxa: tree.tipNames });
    const aligned = alignPamToTree(pam, tree);
    const p = compressPatterns(aligned.rows, pam.families.length, aligned.tree.nTips, []);
    if (p.familyPattern.length !== 25420) throw new Error("wrong family count");
  },
});
