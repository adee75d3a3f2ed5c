import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import { alignPamToTree } from "../lib/pam/align.ts";
import type { PresenceAbsenceMatrix } from "../lib/pam/matrix.ts";
import { readPam } from "../lib/pam/read.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { pruneTree } from "../lib/tree/prune.ts";
import { assertClose } from "./support/assert_close.ts";

const DATA = new URL("./data/inputs/", import.meta.url);

function pam(taxa: string[], rows: number[][]): PresenceAbsenceMatrix {
  return {
    source: "pam.tsv",
    families: rows.map((_, i) => `f${i}`),
    taxa,
    states: Uint8Array.from(rows.flat()),
  };
}

function assertAlignError(fn: () => unknown, fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GenecontentError, `expected GenecontentError, got ${e}`);
    for (const f of fragments) {
      assert.ok(e.message.includes(f), `message lacks '${f}': ${e.message}`);
    }
    return true;
  });
}

Deno.test("align: columns are reordered into tree tip order by exact name", () => {
  const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
  const m = pam(["d", "b", "a", "c"], [[1, 0, 0, 2], [0, 1, 1, 0]]);
  const out = alignPamToTree(m, tree);
  assert.equal(out.tree, tree);
  // By hand: tree order a,b,c,d takes columns 2,1,3,0.
  assert.deepEqual([...out.rows], [0, 0, 2, 1, 1, 1, 0, 0]);
  assert.deepEqual(out.droppedTips, []);
  assert.deepEqual(out.droppedTaxa, []);
});

Deno.test("align: fixture files line up", async () => {
  const tree = parseNewick(await Deno.readTextFile(new URL("isolates.nwk", DATA)), "i.nwk");
  const m = await readPam(new URL("transposed_pam.tsv", DATA).pathname, { taxa: tree.tipNames });
  const out = alignPamToTree(m, tree, { treeSource: "i.nwk" });
  // Family tetM (index 3) is only in isolate_1 (tip 0).
  assert.deepEqual([...out.rows.subarray(3 * 4, 4 * 4)], [1, 0, 0, 0]);
});

Deno.test("align: mismatched names are an error naming both files and the names", () => {
  const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
  const m = pam(["a", "b", "c", "x"], [[1, 0, 0, 1]]);
  assertAlignError(() => alignPamToTree(m, tree, { treeSource: "t.nwk" }), [
    "pam.tsv",
    "t.nwk",
    "1 PAM taxa are not tips of the tree: 'x'",
    "1 tree tips are not in the PAM: 'd'",
    "--prune-to-shared",
  ]);
  // No folding of underscores and spaces, no trimming.
  const folded = pam(["a", "b", "c", "d "], [[1, 0, 0, 1]]);
  assertAlignError(() => alignPamToTree(folded, tree), ["'d '", "'d'"]);
  const tree2 = parseNewick("(a_1:1,b:1,c:1);", "u.nwk");
  assertAlignError(() => alignPamToTree(pam(["a 1", "b", "c"], [[1, 1, 1]]), tree2), ["'a 1'"]);
});

Deno.test("align: long lists are cut at 10 names with the count", () => {
  const names = Array.from({ length: 30 }, (_, i) => `t${i}`);
  const tree = flatTreeFromParents(
    names,
    [...names.map(() => 30), -1],
    [...names.map(() => 1), 0],
  );
  const m = pam([...names.slice(0, 5), "q"], [[1, 1, 1, 1, 1, 1]]);
  assertAlignError(() => alignPamToTree(m, tree), [
    "25 tree tips are not in the PAM",
    "'t14', ... (25 in all)",
  ]);
});

Deno.test("align: --prune-to-shared prunes the tree and drops PAM columns", () => {
  const tree = parseNewick("(((a:1,b:2):0.5,c:3):0.25,(d:1,e:1):2);", "t.nwk");
  const m = pam(["e", "a", "zz", "c"], [[1, 2, 0, 0], [0, 1, 1, 1]]);
  const out = alignPamToTree(m, tree, { pruneToShared: true, treeSource: "t.nwk" });
  assert.deepEqual(out.droppedTips, ["b", "d"]);
  assert.deepEqual(out.droppedTaxa, ["zz"]);
  // By hand: ((a:1.5,c:3):0.25,e:3);  (b gone: a gets 1 + 0.5; d gone: e gets 1 + 2).
  assert.deepEqual(out.tree.tipNames, ["a", "c", "e"]);
  assert.deepEqual([...out.tree.parent], [3, 3, 4, 4, -1]);
  assert.deepEqual([...out.tree.branchLength], [1.5, 3, 3, 0.25, 0]);
  assert.deepEqual([...out.rows], [2, 0, 1, 1, 1, 0]);
});

Deno.test("align: fewer than two shared taxa is an error", () => {
  const tree = parseNewick("(a:1,b:1,c:1);", "t.nwk");
  assertAlignError(
    () => alignPamToTree(pam(["a", "x"], [[1, 0]]), tree, { pruneToShared: true }),
    ["share 1 taxon name", "at least 2"],
  );
  assertAlignError(
    () => alignPamToTree(pam(["x", "y"], [[1, 0]]), tree, { pruneToShared: true }),
    ["share 0 taxon names"],
  );
});

Deno.test("prune: hand-worked cases", () => {
  const t = parseNewick("((a:1,b:2)x:0.5,(c:3,(d:1):4)y:1);", "t.nwk");
  // Keep a, b: the root is left with one child and is dropped; (a,b) becomes the root.
  const ab = pruneTree(t, new Set(["a", "b"]));
  assert.deepEqual(ab.tipNames, ["a", "b"]);
  assert.deepEqual([...ab.parent], [2, 2, -1]);
  assert.deepEqual([...ab.branchLength], [1, 2, 0]);
  assert.deepEqual(ab.internalLabels, ["x"]);
  // Keep a, d: x and y become unary and are spliced; the input's unary (d) node stays.
  const ad = pruneTree(t, new Set(["a", "d"]));
  assert.deepEqual(ad.tipNames, ["a", "d"]);
  assert.deepEqual([...ad.parent], [3, 2, 3, -1]);
  assert.deepEqual([...ad.branchLength], [1.5, 1, 5, 0]);
  // Keeping everything changes nothing.
  const all = pruneTree(t, new Set(["a", "b", "c", "d"]));
  assert.deepEqual([...all.parent], [...t.parent]);
  assert.deepEqual([...all.branchLength], [...t.branchLength]);
  assert.deepEqual(all.internalLabels, t.internalLabels);
  assert.throws(() => pruneTree(t, new Set(["zz"])), GenecontentError);
});

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random tree with multifurcations and some unary nodes; internal labels are unique ids. */
function randomTree(nTips: number, r: () => number): FlatTree {
  const names = Array.from({ length: nTips }, (_, i) => `t${i}`);
  const parent: number[] = new Array(nTips).fill(-1);
  const length: number[] = Array.from({ length: nTips }, () => r());
  const labels: string[] = [];
  let active = Array.from({ length: nTips }, (_, i) => i);
  while (active.length > 1) {
    const k = Math.min(active.length, r() < 0.1 ? 1 : r() < 0.7 ? 2 : 3);
    const id = parent.length;
    parent.push(-1);
    length.push(r());
    labels.push(`n${id}`);
    for (let j = 0; j < k; j++) {
      const pick = Math.floor(r() * active.length);
      parent[active[pick]] = id;
      active = active.filter((_, i) => i !== pick);
    }
    active.push(id);
  }
  return flatTreeFromParents(names, parent, length, labels);
}

/** Path length between two tips, by walking up from both (independent of pruneTree). */
function patristic(t: FlatTree, a: number, b: number): number {
  const up = new Map<number, number>();
  let d = 0;
  for (let v = a; v >= 0; v = t.parent[v]) {
    up.set(v, d);
    d += t.branchLength[v];
  }
  let e = 0;
  for (let v = b; v >= 0; v = t.parent[v]) {
    if (up.has(v)) return up.get(v)! + e;
    e += t.branchLength[v];
  }
  throw new Error("no common ancestor");
}

Deno.test("prune: random trees keep every pairwise distance and make no new unary nodes", () => {
  const r = rng(7);
  for (let rep = 0; rep < 40; rep++) {
    const t = randomTree(4 + Math.floor(r() * 30), r);
    const keep = new Set(t.tipNames.filter(() => r() < 0.6));
    if (keep.size < 2) continue;
    const p = pruneTree(t, keep);
    const kept = t.tipNames.filter((x) => keep.has(x));
    assert.deepEqual(p.tipNames, kept, "tips keep their order");
    const idx = new Map(t.tipNames.map((x, i) => [x, i]));
    for (let i = 0; i < p.nTips; i++) {
      for (let j = i + 1; j < p.nTips; j++) {
        // Sums of the same branch lengths in a different grouping: a few ulps of rounding.
        assertClose(
          patristic(p, i, j),
          patristic(t, idx.get(p.tipNames[i])!, idx.get(p.tipNames[j])!),
          1e-12,
          `distance ${p.tipNames[i]}-${p.tipNames[j]}`,
        );
      }
    }
    const originalChildren = new Map<string, number>();
    for (let v = t.nTips; v < t.nNodes; v++) {
      originalChildren.set(t.internalLabels[v - t.nTips]!, t.childStart[v + 1] - t.childStart[v]);
    }
    for (let v = p.nTips; v < p.nNodes; v++) {
      const nKids = p.childStart[v + 1] - p.childStart[v];
      if (nKids === 1) {
        assert.equal(originalChildren.get(p.internalLabels[v - p.nTips]!), 1, "unary only if so");
      }
    }
  }
});
