import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { bruteAncestral, plainTransition } from "./support/brute_force_ancestral.ts";
import { allColumns, broadcastPair, randomPerBranchRates } from "./support/per_branch.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { caterpillar, smallTrees } from "./support/small_trees.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { Random } from "../lib/simulate/random.ts";

/** Global rate pairs: balanced, gain-heavy, slow, loss-heavy. */
const RATE_SETS: [number, number][] = [[0.5, 1.5], [2, 0.3], [0.05, 0.2], [0.7, 6]];

/** Columns of a tree: all of {0,1,2}^n up to 6 tips, a random 400 beyond. */
function columnsOf(tree: FlatTree, rng: Random): { states: Uint8Array; nPatterns: number } {
  if (tree.nTips <= 6) return allColumns(tree.nTips);
  return { states: randomStates(400, tree.nTips, rng), nPatterns: 400 };
}

/** The per-branch rates of set `k` of a rates array in either layout. */
function perBranchOf(rates: Float64Array, k: number, nNodes: number, global: boolean) {
  return global
    ? broadcastPair(rates[2 * k], rates[2 * k + 1], nNodes)
    : rates.subarray(k * 2 * nNodes, (k + 1) * 2 * nNodes);
}

/**
 * Checks one expectations pass against enumeration, pattern by pattern (perPattern), and the
 * summed matrices against the sums.
 */
function checkAgainstBrute(
  tree: FlatTree,
  states: Uint8Array,
  nPatterns: number,
  rates: Float64Array,
  global: boolean,
  label: string,
) {
  using backend = new TsBackend(tree, states, nPatterns);
  const layout = global ? "global" : "perBranch";
  const res = backend.expectations(rates, { layout, perPattern: true });
  const ev = backend.evaluate(rates, { layout });
  // The log-likelihoods are the same arithmetic as evaluate(): equal bit for bit.
  assert.deepEqual(res.logLik, ev.logLik, `${label}: logLik equals evaluate()`);
  const { nNodes, nTips } = tree;
  const nSets = rates.length / (global ? 2 : 2 * nNodes);
  for (let k = 0; k < nSets; k++) {
    const r = perBranchOf(rates, k, nNodes, global);
    const sum = new Float64Array(nNodes * 4);
    for (let p = 0; p < nPatterns; p++) {
      const col = states.subarray(p * nTips, (p + 1) * nTips);
      const brute = bruteAncestral(tree, col, r);
      const got = res.perPattern!.subarray(
        (k * nPatterns + p) * nNodes * 4,
        (k * nPatterns + p + 1) * nNodes * 4,
      );
      // 1e-12 relative: both sides are sums of at most 2^11 positive products of a dozen
      // factors (a few ulps each); M entries divided by small P_ab stay relative.
      assertClose(got, brute.m, 1e-12, `${label} set ${k} pattern ${p} M`);
      for (let i = 0; i < sum.length; i++) sum[i] += brute.m[i];
    }
    // Summing 3^6 = 729 terms of size <= ~10 adds rounding ~1e-13 relative at worst.
    assertClose(
      res.branch.subarray(k * nNodes * 4, (k + 1) * nNodes * 4),
      sum,
      1e-12,
      `${label} set ${k} sums`,
    );
  }
}

Deno.test("expectations: every M entry equals enumeration on small trees, global rates", () => {
  const rng = new Random(11);
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = columnsOf(tree, rng);
    checkAgainstBrute(tree, states, nPatterns, Float64Array.from(RATE_SETS.flat()), true, name);
  }
});

Deno.test("expectations: every M entry equals enumeration with per-branch rates", () => {
  const rng = new Random(12);
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = columnsOf(tree, rng);
    const rates = randomPerBranchRates(tree.nNodes, 2, rng);
    checkAgainstBrute(tree, states, nPatterns, rates, false, `${name} per branch`);
  }
  // Random topologies with multifurcations and unary nodes.
  for (let rep = 0; rep < 6; rep++) {
    const tree = randomTopology(3 + rep, rng);
    const states = randomStates(60, tree.nTips, rng);
    checkAgainstBrute(
      tree,
      states,
      60,
      randomPerBranchRates(tree.nNodes, 1, rng),
      false,
      `random ${rep}`,
    );
  }
});

Deno.test("expectations: each branch's joint sums to the pattern weights", () => {
  const rng = new Random(13);
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = columnsOf(tree, rng);
    using backend = new TsBackend(tree, states, nPatterns);
    const rates = Float64Array.from(RATE_SETS.flat());
    const nSets = RATE_SETS.length;
    const weights = Float64Array.from({ length: nSets * nPatterns }, () => rng.next() * 3);
    const { branch } = backend.expectations(rates, { weights });
    const { nNodes } = tree;
    for (let k = 0; k < nSets; k++) {
      let wsum = 0;
      for (let p = 0; p < nPatterns; p++) wsum += weights[k * nPatterns + p];
      for (let v = 0; v < nNodes; v++) {
        const o = (k * nNodes + v) * 4;
        const P = v === nNodes - 1
          ? [1, 0, 0, 1]
          : plainTransition(RATE_SETS[k][0], RATE_SETS[k][1], tree.branchLength[v]);
        let s = 0;
        for (let j = 0; j < 4; j++) s += branch[o + j] * P[j];
        // Sum of up to 729 weighted posteriors (each a sum of positive terms): 1e-12 relative.
        assertClose(s, wsum, 1e-12, `${name} set ${k} node ${v}`);
      }
    }
  }
});

Deno.test("expectations: subsets, weights and several sets agree with one full unweighted pass", () => {
  const rng = new Random(14);
  const tree = randomTopology(9, rng);
  const nPatterns = 50;
  const states = randomStates(nPatterns, tree.nTips, rng);
  using backend = new TsBackend(tree, states, nPatterns);
  const rates = randomPerBranchRates(tree.nNodes, 3, rng);
  const nNodes = tree.nNodes;
  const full = backend.expectations(rates, { layout: "perBranch", perPattern: true });
  const subset = Uint32Array.from([0, 3, 4, 17, 30, 49]);
  const weights = Float64Array.from({ length: 3 * subset.length }, () => rng.next());
  const part = backend.expectations(rates, {
    layout: "perBranch",
    patterns: subset,
    weights,
    perPattern: true,
  });
  for (let k = 0; k < 3; k++) {
    const want = new Float64Array(nNodes * 4);
    subset.forEach((p, e) => {
      const w = weights[k * subset.length + e];
      assert.equal(part.logLik[k * subset.length + e], full.logLik[k * nPatterns + p]);
      for (let i = 0; i < nNodes * 4; i++) {
        const f = full.perPattern![(k * nPatterns + p) * nNodes * 4 + i];
        // The per-pattern matrices of a subset are the weighted full ones: the same products,
        // with the weight multiplied in at another place (a few ulps).
        assertClose(part.perPattern![(k * subset.length + e) * nNodes * 4 + i], w * f, 1e-15);
        want[i] += w * f;
      }
    });
    // Sums in the same order of the same terms: equal up to the last bits of a few additions.
    assertClose(
      part.branch.subarray(k * nNodes * 4, (k + 1) * nNodes * 4),
      want,
      1e-14,
      `set ${k}`,
    );
    // One set alone gives the same numbers as within a batch.
    const alone = backend.expectations(rates.slice(k * 2 * nNodes, (k + 1) * 2 * nNodes), {
      layout: "perBranch",
    });
    assert.deepEqual(alone.branch, full.branch.subarray(k * nNodes * 4, (k + 1) * nNodes * 4));
  }
  // Zero weights leave patterns out; without perPattern nothing per pattern is returned.
  const zero = backend.expectations(rates, {
    layout: "perBranch",
    weights: new Float64Array(3 * nPatterns),
  });
  assert.ok(zero.branch.every((x) => x === 0));
  assert.equal(zero.perPattern, undefined);
});

Deno.test("expectations: a 5,000-tip caterpillar does not underflow", () => {
  const tree = caterpillar(5000);
  const rng = new Random(15);
  // randomStates cycles through rare, even, common, all-absent, all-present and missing-rich.
  const nPatterns = 6;
  const states = randomStates(nPatterns, tree.nTips, rng);
  using backend = new TsBackend(tree, states, nPatterns);
  const gain = 0.4, loss = 1.1;
  const res = backend.expectations(Float64Array.of(gain, loss), { perPattern: true });
  const ev = backend.evaluate(Float64Array.of(gain, loss));
  assert.deepEqual(res.logLik, ev.logLik);
  // Below log(2^-1074) = -744.4 the plain product of partials would underflow.
  assert.ok(res.logLik.filter((x) => x < -1500).length >= 3, `logLik ${res.logLik}`);
  const { nNodes } = tree;
  for (let p = 0; p < nPatterns; p++) {
    for (let v = 0; v < nNodes; v++) {
      const o = (p * nNodes + v) * 4;
      const P = v === nNodes - 1 ? [1, 0, 0, 1] : plainTransition(gain, loss, tree.branchLength[v]);
      let s = 0;
      for (let j = 0; j < 4; j++) {
        assert.ok(Number.isFinite(res.perPattern![o + j]) && res.perPattern![o + j] >= 0);
        s += res.perPattern![o + j] * P[j];
      }
      // A wrong rescaling count would be off by 2^256; rounding over 10,000 nodes stays ~1e-12.
      assertClose(s, 1, 1e-10, `pattern ${p} node ${v}`);
    }
  }
  // The tip posterior matches its observed state (present: M_a0 = 0).
  for (let v = 0; v < tree.nTips; v++) {
    const st = states[v];
    const o = v * 4;
    if (st === 1) assert.ok(res.perPattern![o] === 0 && res.perPattern![o + 2] === 0);
    if (st === 0) assert.ok(res.perPattern![o + 1] === 0 && res.perPattern![o + 3] === 0);
  }
});

Deno.test("expectations: bad weights and rates are refused with the value named", () => {
  const tree = smallTrees()[1].tree;
  using backend = new TsBackend(tree, new Uint8Array([0, 1]), 1);
  assert.throws(
    () => backend.expectations(Float64Array.of(1, 1), { weights: Float64Array.of(1, 2) }),
    /Weights need 1 values \(1 parameter sets x 1 patterns\), got an array of length 2/,
  );
  assert.throws(
    () => backend.expectations(Float64Array.of(1, 1), { weights: Float64Array.of(NaN) }),
    /weight of pattern 0 in parameter set 0 must be finite, got NaN/,
  );
  assert.throws(
    () => backend.expectations(Float64Array.of(1, -1)),
    /loss rate .* must be finite and > 0/,
  );
});
