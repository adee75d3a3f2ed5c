import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { bruteAncestral, vanLoanIntegral } from "./support/brute_force_ancestral.ts";
import { allColumns } from "./support/per_branch.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { smallTrees } from "./support/small_trees.ts";
import {
  branchCoefficients,
  branchEvents,
  branchLengthDerivative,
  endpointIntegral,
} from "../lib/ancestral/events.ts";
import { idNewick, nodeIds } from "../lib/ancestral/node_ids.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { Random } from "../lib/simulate/random.ts";

Deno.test("events: J equals Van Loan's block-matrix exponential", () => {
  const cases: [number, number, number][] = [
    [0.5, 1, 0.3],
    [2, 0.3, 1.7],
    [0.05, 0.2, 0.01],
    [0.7, 6, 2.5],
    [1e-3, 1e-3, 1e-4],
    [3, 3, 4],
    [0.4, 0.9, 0],
  ];
  for (const [gain, loss, t] of cases) {
    for (const [i, j] of [[0, 1], [1, 0], [0, 0], [1, 1]] as const) {
      const closed = endpointIntegral(gain, loss, t, i, j);
      const vl = vanLoanIntegral(gain, loss, t, i, j);
      // Both are integrals of magnitude <= t; the Padé approximant with scaling and squaring is
      // accurate to ~1e-15 relative to the norm of the 4x4 block, the closed form to a few ulps.
      for (let k = 0; k < 4; k++) {
        const tol = 1e-12 * Math.max(t, 1e-300);
        assert.ok(
          Math.abs(closed[k] - vl[k]) <= tol,
          `gain ${gain} loss ${loss} t ${t} J${i}${j}[${k}]: ${closed[k]} vs ${vl[k]}`,
        );
      }
    }
  }
});

Deno.test("events: expected events equal enumeration with Van Loan's conditional means", () => {
  const rng = new Random(21);
  for (const { name, tree } of smallTrees()) {
    const cols = tree.nTips <= 5 ? allColumns(tree.nTips) : {
      states: randomStates(200, tree.nTips, rng),
      nPatterns: 200,
    };
    const { states, nPatterns } = cols;
    using backend = new TsBackend(tree, states, nPatterns);
    const gain = 0.6, loss = 1.3;
    const res = backend.expectations(Float64Array.of(gain, loss), { perPattern: true });
    const { nNodes, nTips, parent } = tree;
    const coef = Array.from(
      { length: nNodes - 1 },
      (_, v) => branchCoefficients(gain, loss, tree.branchLength[v]),
    );
    const vl01 = coef.map((_, v) => vanLoanIntegral(gain, loss, tree.branchLength[v], 0, 1));
    const vl10 = coef.map((_, v) => vanLoanIntegral(gain, loss, tree.branchLength[v], 1, 0));
    const rates = new Float64Array(2 * nNodes).map((_, i) => (i % 2 === 0 ? gain : loss));
    for (let p = 0; p < nPatterns; p++) {
      const col = states.subarray(p * nTips, (p + 1) * nTips);
      const brute = bruteAncestral(tree, col, rates);
      for (let v = 0; v < nNodes - 1; v++) {
        const o = (p * nNodes + v) * 4;
        const e = branchEvents(res.perPattern!, o, coef[v]);
        // Independent: sum_ab P(a, b | col) q J_VanLoan / P_ab, from enumeration.
        let g = 0, l = 0;
        for (let ab = 0; ab < 4; ab++) {
          const P = coef[v].transition[ab];
          if (P === 0) continue;
          g += brute.joint[v * 4 + ab] * gain * vl01[v][ab] / P;
          l += brute.joint[v * 4 + ab] * loss * vl10[v][ab] / P;
        }
        // Expected counts are O(1); 1e-12 covers enumeration sums and the Padé approximant.
        assertClose(e.gains, g, 1e-12, `${name} pattern ${p} node ${v} gains`);
        assertClose(e.losses, l, 1e-12, `${name} pattern ${p} node ${v} losses`);
        assertClose(e.childPresent, brute.present[v], 1e-12, `${name} child presence`);
        assertClose(e.parentPresent, brute.present[parent[v]], 1e-12, `${name} parent presence`);
        // Gains minus losses is the change in presence along the branch (an identity of the
        // chain: E[N01 - N10 | a, b] = b - a), to rounding.
        assertClose(
          e.gains - e.losses,
          brute.present[v] - brute.present[parent[v]],
          1e-12,
          `${name} pattern ${p} node ${v} net`,
        );
      }
    }
  }
});

Deno.test("events: d logL / d t equals a central difference of the likelihood", () => {
  const rng = new Random(22);
  const tree = randomTopology(8, rng);
  const nPatterns = 40;
  const states = randomStates(nPatterns, tree.nTips, rng);
  const gain = 0.4, loss = 0.9;
  using backend = new TsBackend(tree, states, nPatterns);
  const res = backend.expectations(Float64Array.of(gain, loss));
  const logLikAt = (v: number, t: number) => {
    const len = Float64Array.from(tree.branchLength);
    len[v] = t;
    const moved = flatTreeFromParents(tree.tipNames, tree.parent, len, tree.internalLabels);
    using b = new TsBackend(moved, states, nPatterns);
    return b.evaluate(Float64Array.of(gain, loss)).logLik.reduce((a, x) => a + x, 0);
  };
  for (let v = 0; v < tree.nNodes - 1; v++) {
    const t = tree.branchLength[v];
    const d = branchLengthDerivative(res.branch, v * 4, gain, loss, t);
    const h = 1e-5;
    if (t < h) continue; // a zero-length branch: only the one-sided derivative exists
    const fd = (logLikAt(v, t + h) - logLikAt(v, t - h)) / (2 * h);
    // Central difference: truncation h^2 |f'''| ~ 1e-10 times the scale, rounding
    // 1e-16 |logL| / h ~ 1e-9 for |logL| ~ 100.
    assertClose(d, fd, 1e-6, `node ${v} (t = ${t})`);
  }
});

Deno.test("node ids: labels when unique and not numbers, node<i> otherwise", () => {
  const tree = parseNewick(
    "((a:1,b:1)n1:1,(c:1,node6:1)0.95:1,(e:1,f:1)n1:1,(g:1,h:1)a:1,(i:1,j:1)inner:0.5)95;",
    "t.nwk",
  );
  // Tips 0..9, then (a,b) 10, (c,node6) 11, (e,f) 12, (g,h) 13, (i,j) 14, root 15.
  assert.deepEqual(nodeIds(tree), [
    "a",
    "b",
    "c",
    "node6",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "node10", // n1 is used twice
    "node11", // a support value
    "node12",
    "node13", // repeats tip name a
    "inner",
    "node15", // 95 on the root
  ]);
  // A generated id that a label already uses gets a suffix.
  const clash = parseNewick("((a:1,b:1)node4:1,(c:1,d:1):1);", "t.nwk");
  assert.deepEqual(nodeIds(clash).slice(4), ["node4", "node5", "node6"]);
  const clash2 = parseNewick("((a:1,b:1):1,(c:1,d:1)node4:1);", "t.nwk");
  assert.deepEqual(nodeIds(clash2).slice(4), ["node4_2", "node4", "node6"]);
  // The Newick of ids reads back with the ids as labels and the same lengths.
  const back = parseNewick(idNewick(tree), "ids.nwk");
  assert.deepEqual(nodeIds(back), nodeIds(tree));
  assert.deepEqual(back.branchLength, tree.branchLength);
});
