import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { formatNewick, quoteNewickLabel } from "../lib/newick/format.ts";
import { type FlatTree, flatTreeFromParents, nodeDepths } from "../lib/tree/flat_tree.ts";
import { assertClose } from "./support/assert_close.ts";

/** Asserts that parsing throws a GenecontentError whose message contains every fragment. */
function assertParseError(text: string, fragments: string[]): void {
  assert.throws(
    () => parseNewick(text, "bad.nwk"),
    (e: unknown) => {
      assert.ok(e instanceof GenecontentError, `expected GenecontentError, got ${e}`);
      assert.ok(e.message.includes("bad.nwk"), `message lacks the file: ${e.message}`);
      for (const f of fragments) {
        assert.ok(e.message.includes(f), `message lacks '${f}': ${e.message}`);
      }
      return true;
    },
  );
}

/** Map from tip name to its root distance, computed by walking parents (independent of order). */
function rootDistances(t: FlatTree): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < t.nTips; i++) {
    let d = 0;
    for (let v = i; t.parent[v] >= 0; v = t.parent[v]) d += t.branchLength[v];
    m.set(t.tipNames[i], d);
  }
  return m;
}

/** For each tip: the (length, label) path up to the root, as a string; identifies the tree. */
function tipPaths(t: FlatTree): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < t.nTips; i++) {
    const steps: string[] = [];
    for (let v = i; t.parent[v] >= 0; v = t.parent[v]) {
      const p = t.parent[v];
      steps.push(`${t.branchLength[v]}|${t.internalLabels[p - t.nTips]}|${p}`);
    }
    m.set(t.tipNames[i], steps.join(" > "));
  }
  return m;
}

Deno.test("newick: simple rooted tree gets the FlatTree numbering", () => {
  const t = parseNewick("((a:1,b:2):0.5,c:3);", "t.nwk");
  // Hand-derived: tips a,b,c = 0,1,2; (a,b) closes first = 3; root = 4.
  assert.deepEqual(t.tipNames, ["a", "b", "c"]);
  assert.deepEqual([...t.parent], [3, 3, 4, 4, -1]);
  assert.deepEqual([...t.branchLength], [1, 2, 3, 0.5, 0]);
  assert.deepEqual(t.internalLabels, [null, null]);
});

Deno.test("newick: quoting, comments, labels, scientific notation, whitespace", () => {
  const text = "[&R] ( 'a b':1e-3 , 'x''y':2.5E+2[&&NHX:S=human:D=N] ,\n" +
    "  (c_1[comment]:+.5,d:0)'node 1':1.0e0 )95 : 7 ;\n\n";
  const t = parseNewick(text, "t.nwk");
  assert.deepEqual(t.tipNames, ["a b", "x'y", "c_1", "d"]);
  // Exact: these decimal strings parse to exactly these doubles in both Number() and literals.
  assert.deepEqual([...t.branchLength], [0.001, 250, 0.5, 0, 1, 0]);
  assert.deepEqual(t.internalLabels, ["node 1", "95"]);
  assert.deepEqual([...t.parent], [5, 5, 4, 4, 5, -1]);
});

Deno.test("newick: underscores are kept as they are", () => {
  const t = parseNewick("(Escherichia_coli_K12:1,'Salmonella enterica':1);", "t.nwk");
  assert.deepEqual(t.tipNames, ["Escherichia_coli_K12", "Salmonella enterica"]);
});

Deno.test("newick: multifurcations, a basal trifurcation and unary nodes", () => {
  const t = parseNewick("(((a:1):2,b:1,c:1,d:1):1,e:1,f:2);", "t.nwk");
  assert.equal(t.nTips, 6);
  // Internal nodes: (a) = 6, (…,d) = 7, root = 8.
  assert.deepEqual([...t.parent], [6, 7, 7, 7, 8, 8, 7, 8, -1]);
  const kids = (i: number) => [...t.children.subarray(t.childStart[i], t.childStart[i + 1])];
  assert.deepEqual(kids(6), [0]);
  assert.deepEqual(kids(7), [1, 2, 3, 6]);
  assert.deepEqual(kids(8), [4, 5, 7]);
  // Root distances by hand: a = 1 + 2 + 1 = 4.
  assert.equal(rootDistances(t).get("a"), 4);
});

Deno.test("newick: a length on the root is accepted and ignored", () => {
  const t = parseNewick("(a:1,b:1):0.3;", "t.nwk");
  assert.equal(t.branchLength[2], 0);
});

Deno.test("newick: the fixture tree reads as written", async () => {
  const text = await Deno.readTextFile(new URL("./data/inputs/isolates.nwk", import.meta.url));
  const t = parseNewick(text, "isolates.nwk");
  assert.deepEqual(t.tipNames, ["isolate_1", "isolate_2", "isolate_3", "isolate_4"]);
  assert.deepEqual(t.internalLabels, ["100", "0.97", null]);
  assert.deepEqual([...t.branchLength], [0.01, 0.02, 0.03, 0.01, 0.005, 0.004, 0]);
});

Deno.test("newick: 5,000-tip caterpillar parses without recursion", () => {
  const n = 5000;
  const parts = ["(".repeat(n - 1), "t1:1,t2:1)"];
  for (let k = 3; k <= n; k++) parts.push(`:1,t${k}:1)`);
  parts.push(";");
  const t = parseNewick(parts.join(""), "cat.nwk");
  assert.equal(t.nTips, n);
  assert.equal(t.nNodes, 2 * n - 1);
  const depth = nodeDepths(t);
  // t1 sits below n-2 internal branches of length 1 plus its own: depth n-1.
  assert.equal(depth[0], n - 1);
  assert.equal(depth[n - 1], 1);
});

Deno.test("newick: 5,000-deep right ladder and unary chain parse without recursion", () => {
  const n = 5000;
  const parts: string[] = [];
  for (let k = 1; k < n; k++) parts.push(`(t${k}:1,`);
  parts.push(`t${n}:1`);
  parts.push(")".concat(":2)".repeat(n - 2)), ";");
  const t = parseNewick(parts.join(""), "ladder.nwk");
  assert.equal(t.nTips, n);
  // t_n hangs below n-2 branches of length 2: depth 1 + 2(n-2).
  assertClose(nodeDepths(t)[n - 1], 1 + 2 * (n - 2), 0, "exact: integer sums");
  const chain = "(".repeat(n) + "a:1" + "):1".repeat(n - 1) + ");";
  const u = parseNewick(chain, "chain.nwk");
  assert.equal(u.nTips, 1);
  assert.equal(u.nNodes, n + 1);
  assert.equal(nodeDepths(u)[0], n);
});

Deno.test("newick: errors name the file, line, column and the problem", () => {
  assertParseError("((a:1,b):1,c:1);", ["line 1, column 7", "every branch needs a length", "'b'"]);
  assertParseError("((a:1,b:1),c:1);", ["line 1, column 10", "every branch needs a length"]);
  assertParseError("(a:1,\n b:-0.5);", ["line 2, column 4", "negative branch length '-0.5'"]);
  assertParseError("(a:1,b:abc);", ["line 1, column 8", "'abc' is not a number"]);
  assertParseError("(a:1,b:1.2.3);", ["'1.2.3' is not a number"]);
  assertParseError("(a:1,b:);", ["line 1, column 8", "not followed by a branch length"]);
  assertParseError("(a:1,\n(b:1,a:2):1);", [
    "'a' appears twice",
    "line 1, column 2",
    "line 2, column 6",
  ]);
  assertParseError("((a:1,b:1):1,c:1;", ["unbalanced parentheses", "1 '('"]);
  assertParseError("((a:1,b:1):1,c:1", ["unclosed '('"]);
  assertParseError("(a:1,b:1):1,c:1);", ["line 1, column 12", "unbalanced parentheses"]);
  assertParseError("(a:1,b:1)", ["missing ';'"]);
  assertParseError("(a:1,b:1);\n(c:1,d:1);", ["line 2, column 1", "text after the ';'"]);
  assertParseError("(a:1,,b:1);", ["line 1, column 6", "empty tip name"]);
  assertParseError("(:1,b:1);", ["line 1, column 2", "empty tip name"]);
  assertParseError("(a:1,b:1[oops);", ["line 1, column 9", "comment"]);
  assertParseError("('a:1,b:1);", ["line 1, column 2", "quoted label is never closed"]);
  assertParseError("(a b:1,c:1);", ["line 1, column 4", "unexpected 'b'"]);
  assert.throws(() => parseNewick("  \n", "empty.nwk"), GenecontentError);
});

Deno.test("newick: quoteNewickLabel quotes only when needed", () => {
  assert.equal(quoteNewickLabel("a_b.1"), "a_b.1");
  assert.equal(quoteNewickLabel("a b"), "'a b'");
  assert.equal(quoteNewickLabel("it's"), "'it''s'");
  for (const ch of ["(", ")", "[", "]", ":", ";", ","]) {
    assert.equal(quoteNewickLabel(`x${ch}y`), `'x${ch}y'`);
  }
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

/** A random tree with awkward names, multifurcations and unary nodes. */
function randomTree(nTips: number, seed: number): FlatTree {
  const r = rng(seed);
  const odd = ["a b", "x'y", "p(q)", "u:v", "s;t", "c,d", "[e]", "under_score"];
  const names = Array.from({ length: nTips }, (_, i) => `${odd[i % odd.length]}${i}`);
  const parent: number[] = new Array(nTips).fill(-1);
  const length: number[] = Array.from({ length: nTips }, () => r() < 0.1 ? 0 : r() * 2);
  const labels: (string | null)[] = [];
  const active = Array.from({ length: nTips }, (_, i) => i);
  while (active.length > 1) {
    const k = Math.min(active.length, r() < 0.1 ? 1 : r() < 0.7 ? 2 : 3);
    const id = parent.length;
    parent.push(-1);
    length.push(r() < 0.5 ? r() * 1e-4 : r());
    labels.push(r() < 0.5 ? null : r() < 0.5 ? String(Math.round(r() * 100)) : `n ${id}'`);
    for (let j = 0; j < k; j++) {
      const pick = Math.floor(r() * active.length);
      parent[active[pick]] = id;
      active.splice(pick, 1);
    }
    active.push(id);
  }
  length[parent.length - 1] = 0;
  return flatTreeFromParents(names, parent, length, labels);
}

Deno.test("newick: format then parse reproduces random trees exactly", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const t = randomTree(5 + seed * 3, seed);
    const u = parseNewick(formatNewick(t), "round.nwk");
    assert.equal(u.nNodes, t.nNodes);
    assert.equal(u.nTips, t.nTips);
    // Node numbers may differ (tips are renumbered in order of appearance), so compare each
    // tip's path of lengths and labels up to the root, with node numbers stripped.
    const strip = (m: Map<string, string>) =>
      new Map([...m].map(([k, v]) => [k, v.replace(/\|\d+( >|$)/g, "$1")]));
    assert.deepEqual(strip(tipPaths(u)), strip(tipPaths(t)));
    // And a formatted parse formats identically (children order is preserved).
    assert.equal(formatNewick(u), formatNewick(t));
  }
});

Deno.test("newick: format writes a 5,000-tip caterpillar without recursion", () => {
  const n = 5000;
  const parent: number[] = new Array(2 * n - 1);
  parent[0] = n;
  for (let k = 1; k < n; k++) parent[k] = n + k - 1;
  for (let i = n; i < 2 * n - 2; i++) parent[i] = i + 1;
  parent[2 * n - 2] = -1;
  const names = Array.from({ length: n }, (_, i) => `t${i}`);
  const t = flatTreeFromParents(names, parent, new Array(2 * n - 1).fill(1));
  const u = parseNewick(formatNewick(t), "cat.nwk");
  assert.deepEqual(rootDistances(u), rootDistances(t));
});

Deno.test("newick: comments and whitespace may follow the final ';'", () => {
  const t = parseNewick("((a:1,b:2):0.5,c:3);[&lnP=-10]\n  [nested [comment]]\r\n\t", "t.nwk");
  assert.deepEqual(t.tipNames, ["a", "b", "c"]);
  assertParseError("(a:1,b:1);[fine] x", ["line 1, column 18", "text after the ';'"]);
  assertParseError("(a:1,b:1);[never closed", ["line 1, column 11", "never closed"]);
});

Deno.test("newick: a 1 MB label or length is cut in messages, with its length", () => {
  const label = "A".repeat(1_000_000);
  for (
    const [text, fragment] of [
      [`(${label}:1,${label}:1);`, "appears twice"],
      [`(${label},b:1);`, "every branch needs a length"],
      [`(a:${"1".repeat(1_000_000)}x,b:1);`, "is not a number"],
    ]
  ) {
    assertParseError(text, [fragment, "…' (1,000,00"]);
    try {
      parseNewick(text, "bad.nwk");
    } catch (e) {
      // One readable line: the file, place, 60 characters of the value and the advice.
      assert.ok((e as Error).message.length < 300, `${(e as Error).message.length} characters`);
    }
  }
});
