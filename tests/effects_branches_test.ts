// Lineage designs: the equal-rates Mk likelihood and its joint reconstruction against brute
// force over every assignment of states to the internal nodes of small random trees
// (multifurcations, unary nodes, zero-length branches), the fitted Mk rate against a fine scan,
// and the clade, class and covariate designs node by node.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { randomTopology } from "./support/random_topology.ts";
import { Random } from "../lib/simulate/random.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { GenecontentError } from "../lib/errors.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import {
  branchClasses,
  cladeDesign,
  classDesigns,
  covariateDesign,
  fitMkRate,
  jointMkReconstruction,
  mkLogLikelihood,
  mrcaOf,
} from "../lib/effects/branches.ts";
import { parseMetadataTable } from "../lib/effects/inputs.ts";

/** Equal-rates Mk transition probability, written out independently of the library. */
function mkP(K: number, rate: number, t: number, i: number, j: number): number {
  // Q = rate/(K-1) (J - K I) over K states: P(t) = 1/K J + (I - 1/K J) exp(-K rate t / (K-1)).
  const e = Math.exp(-K * rate * t / (K - 1));
  return i === j ? 1 / K + (1 - 1 / K) * e : (1 - e) / K;
}

/** Every assignment of the internal nodes: the joint probabilities, in enumeration order. */
function enumerate(tree: FlatTree, ofTip: Int32Array, K: number, rate: number) {
  const nInternal = tree.nNodes - tree.nTips;
  const states = new Int32Array(tree.nNodes);
  states.set(ofTip);
  const all: { states: Int32Array; p: number }[] = [];
  const total = K ** nInternal;
  for (let code = 0; code < total; code++) {
    let c = code;
    for (let k = 0; k < nInternal; k++) {
      states[tree.nTips + k] = c % K;
      c = Math.floor(c / K);
    }
    let p = 1 / K;
    for (let v = 0; v < tree.nNodes - 1; v++) {
      p *= mkP(K, rate, tree.branchLength[v], states[tree.parent[v]], states[v]);
    }
    all.push({ states: states.slice(), p });
  }
  return all;
}

Deno.test("Mk log-likelihood equals the sum over every internal assignment", () => {
  const rng = new Random(11);
  for (let rep = 0; rep < 30; rep++) {
    const nTips = 3 + Math.floor(rng.next() * 5);
    const tree = randomTopology(nTips, rng);
    if (tree.nNodes - tree.nTips > 8) continue;
    const K = 2 + Math.floor(rng.next() * 2);
    const ofTip = Int32Array.from({ length: nTips }, () => Math.floor(rng.next() * K));
    const rate = 0.05 + 3 * rng.next();
    const sum = enumerate(tree, ofTip, K, rate).reduce((s, a) => s + a.p, 0);
    // Pruning in log space against a plain sum of at most 3^8 products: rounding only (1e-12).
    assertClose(mkLogLikelihood(tree, ofTip, K, rate), Math.log(sum), 1e-12, `rep ${rep}`);
  }
});

Deno.test("joint Mk reconstruction is the brute-force maximum over internal assignments", () => {
  const rng = new Random(5);
  let compared = 0;
  let uniqueCompared = 0;
  for (let rep = 0; rep < 60; rep++) {
    const nTips = 3 + Math.floor(rng.next() * 6);
    const tree = randomTopology(nTips, rng);
    if (tree.nNodes - tree.nTips > 8) continue;
    const K = 2 + Math.floor(rng.next() * 2);
    const ofTip = Int32Array.from({ length: nTips }, () => Math.floor(rng.next() * K));
    const rate = 0.05 + 3 * rng.next();
    const all = enumerate(tree, ofTip, K, rate);
    const best = Math.max(...all.map((a) => a.p));
    const r = jointMkReconstruction(tree, ofTip, K, rate);
    compared++;
    // The joint probability of the reconstruction is the maximum (log space vs products).
    assertClose(r.logLik, Math.log(best), 1e-12, `rep ${rep}: maximum`);
    let p = 1 / K;
    for (let v = 0; v < tree.nNodes - 1; v++) {
      p *= mkP(K, rate, tree.branchLength[v], r.ofNode[tree.parent[v]], r.ofNode[v]);
    }
    assertClose(Math.log(p), Math.log(best), 1e-12, `rep ${rep}: the assignment attains it`);
    assert.deepEqual([...r.ofNode.slice(0, nTips)], [...ofTip], "tips keep their classes");
    // Where the maximum is unique (the runner-up 1e-9 below), the assignment is the one.
    const winners = all.filter((a) => a.p >= best * (1 - 1e-9));
    if (winners.length === 1) {
      assert.deepEqual([...r.ofNode], [...winners[0].states], `rep ${rep}`);
      uniqueCompared++;
    }
  }
  assert.ok(compared >= 30 && uniqueCompared >= 10, `${compared} trees, ${uniqueCompared} unique`);
});

Deno.test("ties go to the class first in the file", () => {
  // Root between a 'free' cherry and a 'host' cherry on equal branches: a tie.
  const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
  const first = jointMkReconstruction(tree, Int32Array.of(0, 0, 1, 1), 2, 0.4);
  assert.equal(first.ofNode[6], 0);
  const swapped = jointMkReconstruction(tree, Int32Array.of(1, 1, 0, 0), 2, 0.4);
  assert.equal(swapped.ofNode[6], 0);
  // Through the table: the class first in the file is class 0 whatever the tip order.
  const t = parseMetadataTable("genome\thost\nc\thost\nd\thost\na\tfree\nb\tfree\n", "m", "host");
  const bc = branchClasses(tree, t);
  assert.deepEqual(bc.classes, ["host", "free"]);
  assert.equal(bc.ofNode[6], -1, "the root has no branch");
  assert.deepEqual([...bc.ofNode.slice(0, 6)], [1, 1, 0, 0, 1, 0]);
});

Deno.test("the fitted Mk rate is the maximum of a fine scan of the likelihood", () => {
  const rng = new Random(3);
  for (let rep = 0; rep < 5; rep++) {
    const tree = randomTopology(12, rng);
    const ofTip = Int32Array.from({ length: 12 }, (_, i) => (i * 7 + rep) % 3);
    const fit = fitMkRate(tree, ofTip, 3);
    let scanBest = -Infinity;
    for (let k = -400; k <= 400; k++) {
      scanBest = Math.max(scanBest, mkLogLikelihood(tree, ofTip, 3, fit.rate * Math.exp(k / 1000)));
    }
    // The scan's 0.1% steps around the fit find nothing higher beyond rounding.
    assert.ok(fit.logLik >= scanBest - 1e-9, `rep ${rep}: ${fit.logLik} vs ${scanBest}`);
    assertClose(fit.logLik, mkLogLikelihood(tree, ofTip, 3, fit.rate), 1e-14);
  }
  // Two classes on tips joined by zero-length branches: impossible at every rate.
  const zero = parseNewick("((a:0,b:0):1,c:1);", "t.nwk");
  assert.throws(() => fitMkRate(zero, Int32Array.of(0, 1, 1), 2), /joined by branches of length 0/);
});

Deno.test("clade designs with and without the stem", () => {
  const tree = parseNewick("(((a:1,b:1)x:1,c:1)y:1,(d:1,e:1):1);", "t.nwk");
  // Tips a0 b1 c2 d3 e4; x=5, y=6, (d,e)=7, root 8.
  assert.equal(mrcaOf(tree, [0, 2]), 6);
  const withStem = cladeDesign(tree, { taxa: ["a", "c"] }, true);
  assert.deepEqual([...withStem.design], [1, 1, 1, 0, 0, 1, 1, 0, 0]);
  assert.deepEqual(withStem.tips, ["a", "b", "c"]);
  const crown = cladeDesign(tree, { node: "y" }, false);
  assert.deepEqual([...crown.design], [1, 1, 1, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(crown.branches, [0, 1, 2, 5]);
  const byId = cladeDesign(tree, { node: "node7" }, true);
  assert.deepEqual(byId.branches, [3, 4, 7]);
  assert.equal(cladeDesign(tree, { taxa: ["d"] }, true).branches.join(), "3");
  const refuse = (f: () => unknown, pattern: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof GenecontentError && pattern.test(e.message));
  refuse(() => cladeDesign(tree, { taxa: ["a", "zz", "yy"] }, true), /2 clade taxa.*'zz', 'yy'/);
  refuse(() => cladeDesign(tree, { taxa: ["a", "e"] }, true), /whole tree/);
  refuse(() => cladeDesign(tree, { node: "nope" }, true), /Node 'nope' is not in the tree/);
  refuse(() => cladeDesign(tree, { taxa: ["d"] }, false), /one tip: without its stem/);
  // A support value, or a label two nodes share, is not an id: the message gives the ids.
  const labelled = parseNewick("(((a:1,b:1)95:1,c:1)x:1,(d:1,e:1)x:1);", "t.nwk");
  refuse(() => cladeDesign(labelled, { node: "95" }, true), /'95' labels 1 nodes.*ids node5/);
  refuse(() => cladeDesign(labelled, { node: "x" }, true), /'x' labels 2 nodes.*ids node6, node7/);
});

Deno.test("class designs from a branch file, and refusals", () => {
  const tree = parseNewick("((a:1,b:1)x:1,(c:1,d:1):1);", "t.nwk");
  // Every branch named: a, b, c, d, x, node5.
  const text = "node\tclass\na\tfree\nb\thost\nc\thost\nd\thost\nx\tfree\nnode5\thost\n";
  const bc = branchClasses(tree, parseMetadataTable(text, "b.tsv", "class"));
  assert.equal(bc.source, "file");
  const [host] = classDesigns(tree, bc);
  assert.equal(host.class, "host");
  assert.deepEqual([...host.design], [0, 1, 1, 1, 0, 1, 0]);
  const [free] = classDesigns(tree, bc, "host");
  assert.deepEqual(free.branches, [0, 4]);
  const refuse = (t: string, pattern: RegExp) =>
    assert.throws(
      () => branchClasses(tree, parseMetadataTable(t, "b.tsv", "class")),
      (e: unknown) => e instanceof GenecontentError && pattern.test(e.message),
    );
  refuse("node\tclass\na\tfree\nx\thost\n", /must name every branch; 4 branch\(es\).*'b'/);
  refuse(text + "node6\tfree\n", /line 8: 'node6' is the root/);
  refuse(text.replace("node5", "node9"), /1 node\(s\) not in the tree: 'node9' \(line 7\)/);
  refuse("node\tclass\na\tone\nb\tone\nc\tone\nd\tone\n", /every genome has class 'one'/);
  assert.throws(() => classDesigns(tree, bc, "soil"), /Reference class 'soil'/);
});

Deno.test("covariate design: centred values on terminal branches only", () => {
  const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
  const d = covariateDesign(tree, Float64Array.of(0.3, 0.5, 0.4, 0.6), "gc");
  assertClose(d.mean, 0.45, 1e-15);
  [-0.15, 0.05, -0.05, 0.15, 0, 0, 0].forEach((x, v) => assertClose(d.design[v], x, 1e-15));
  assert.throws(
    () => covariateDesign(tree, Float64Array.of(2, 2, 2, 2), "size"),
    /'size' has the same value \(2\) at every genome/,
  );
});
