import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import {
  bruteForceDirectionalDerivative,
  bruteForceLikelihood,
  bruteForceLikelihoodPerBranch,
} from "./support/brute_force.ts";
import {
  allColumns,
  broadcastPair,
  logSpacePerBranch,
  randomPerBranchRates,
  randomTangents,
} from "./support/per_branch.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { caterpillar, smallTrees } from "./support/small_trees.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { Random } from "../lib/simulate/random.ts";

/** Parameter sets: balanced, gain-heavy, slow and loss-heavy. */
const RATE_SETS: [number, number][] = [[0.5, 1.5], [2, 0.3], [0.05, 0.2], [0.7, 6]];

function flatRates(sets: [number, number][]): Float64Array {
  return Float64Array.from(sets.flat());
}

/**
 * An independent log-space pruning (log-sum-exp at every node, no scaling needed), for the big
 * caterpillar: values only.
 */
function logSpaceLogLik(tree: FlatTree, column: ArrayLike<number>, gain: number, loss: number) {
  const { nTips, nNodes, parent, branchLength } = tree;
  const s = gain + loss;
  const lse = (a: number, b: number) => {
    const m = Math.max(a, b);
    return m === -Infinity ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
  };
  const l0 = new Float64Array(nNodes), l1 = new Float64Array(nNodes); // start at log 1 = 0
  for (let i = 0; i < nTips; i++) {
    l0[i] = column[i] === 1 ? -Infinity : 0;
    l1[i] = column[i] === 0 ? -Infinity : 0;
  }
  for (let i = 0; i < nNodes - 1; i++) {
    const e = Math.exp(-s * branchLength[i]);
    const lp01 = Math.log(gain / s) + Math.log1p(-e);
    const lp10 = Math.log(loss / s) + Math.log1p(-e);
    const lp00 = Math.log(loss / s + (gain / s) * e);
    const lp11 = Math.log(gain / s + (loss / s) * e);
    const p = parent[i];
    l0[p] += lse(lp00 + l0[i], lp01 + l1[i]);
    l1[p] += lse(lp10 + l0[i], lp11 + l1[i]);
  }
  const root = nNodes - 1;
  return lse(Math.log(loss / s) + l0[root], Math.log(gain / s) + l1[root]);
}

Deno.test("TsBackend equals brute-force enumeration on every small pattern", () => {
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = allColumns(tree.nTips);
    using backend = new TsBackend(tree, states, nPatterns);
    const { logLik } = backend.evaluate(flatRates(RATE_SETS));
    RATE_SETS.forEach(([gain, loss], k) => {
      const expected = new Float64Array(nPatterns);
      for (let p = 0; p < nPatterns; p++) {
        const col = states.subarray(p * tree.nTips, (p + 1) * tree.nTips);
        expected[p] = Math.log(bruteForceLikelihood(tree, col, gain, loss));
      }
      // Both sides add up positive terms (no cancellation), each a product of at most ~20
      // factors: relative error ~1e-14 in L, i.e. ~1e-14 absolute in log L. The brute force
      // forms 1 - exp(-s t) directly, losing ~1e-16 / (s t) <= 1e-14 for the shortest branch
      // (s t >= 0.0125 here). 1e-12 absolute (relative beyond |log L| > 1) leaves 100x margin.
      assertClose(
        logLik.subarray(k * nPatterns, (k + 1) * nPatterns),
        expected,
        1e-12,
        `${name}, set ${k}`,
      );
    });
  }
});

Deno.test("TsBackend gradient matches finite differences of itself and of brute force", () => {
  // Central differences with h = 1e-5 in log(rate): truncation ~h^2 |f'''| / 6 ~ 1e-10 and
  // rounding ~1e-16 |log L| / h ~ 1e-10 for |log L| < 10; 1e-7 leaves margin while a wrong
  // derivative term would be off by O(1e-2) or more.
  const h = 1e-5;
  for (const { name, tree } of smallTrees()) {
    const nTips = tree.nTips;
    let cols = allColumns(nTips).states;
    if (nTips > 6) {
      // For the 8-tip tree, a spread of 200 random columns.
      const rng = new Random(7);
      cols = new Uint8Array(200 * nTips);
      for (let i = 0; i < cols.length; i++) cols[i] = Math.floor(rng.next() * 3);
    }
    const n = cols.length / nTips;
    using backend = new TsBackend(tree, cols, n);
    for (const [gain, loss] of RATE_SETS) {
      const { grad } = backend.evaluate(Float64Array.of(gain, loss), { gradient: true });
      const shifted = backend.evaluate(
        Float64Array.of(
          gain * Math.exp(h),
          loss,
          gain * Math.exp(-h),
          loss,
          gain,
          loss * Math.exp(h),
          gain,
          loss * Math.exp(-h),
        ),
      ).logLik;
      const fd = new Float64Array(2 * n);
      for (let p = 0; p < n; p++) {
        fd[2 * p] = (shifted[p] - shifted[n + p]) / (2 * h);
        fd[2 * p + 1] = (shifted[2 * n + p] - shifted[3 * n + p]) / (2 * h);
      }
      assertClose(grad!, fd, 1e-7, `${name} (${gain}, ${loss}) vs own differences`);
      // Brute-force differences on a subset (every 7th column) to keep the test quick.
      for (let p = 0; p < n; p += 7) {
        const col = cols.subarray(p * nTips, (p + 1) * nTips);
        const f = (g: number, l: number) => Math.log(bruteForceLikelihood(tree, col, g, l));
        const bg = (f(gain * Math.exp(h), loss) - f(gain * Math.exp(-h), loss)) / (2 * h);
        const bl = (f(gain, loss * Math.exp(h)) - f(gain, loss * Math.exp(-h))) / (2 * h);
        assertClose(
          [grad![2 * p], grad![2 * p + 1]],
          [bg, bl],
          1e-7,
          `${name} (${gain}, ${loss}) pattern ${p} vs brute force`,
        );
      }
    }
  }
});

Deno.test("TsBackend does not underflow on a 5,000-tip caterpillar", () => {
  const tree = caterpillar(5000);
  const nTips = tree.nTips;
  const rng = new Random(11);
  const nPatterns = 6;
  const states = new Uint8Array(nPatterns * nTips);
  for (let i = 0; i < nTips; i++) {
    states[0 * nTips + i] = 0; // all absent
    states[1 * nTips + i] = 1; // all present
    states[2 * nTips + i] = i % 2; // alternating: very unlikely
    states[3 * nTips + i] = rng.next() < 0.5 ? 1 : 0;
    states[4 * nTips + i] = rng.next() < 0.3 ? 2 : rng.next() < 0.2 ? 1 : 0;
    states[5 * nTips + i] = i === 4321 ? 1 : 0; // one present tip
  }
  using backend = new TsBackend(tree, states, nPatterns);
  const sets: [number, number][] = [[0.5, 1.5], [3, 1]];
  const { logLik, grad } = backend.evaluate(flatRates(sets), { gradient: true });
  sets.forEach(([gain, loss], k) => {
    for (let p = 0; p < nPatterns; p++) {
      const col = states.subarray(p * nTips, (p + 1) * nTips);
      const expected = logSpaceLogLik(tree, col, gain, loss);
      if (p >= 2 && p <= 4) assert.ok(expected < -1000, `pattern ${p} should underflow plainly`);
      // Each of the ~10^4 nodes adds a few ulps of relative error: ~1e-12 absolute in log L,
      // which is below 1e-14 relative for |log L| in the thousands; 1e-12 relative (absolute
      // below |log L| = 1) is generous.
      assertClose(logLik[k * nPatterns + p], expected, 1e-12, `set ${k} pattern ${p}`);
      assert.ok(Number.isFinite(grad![2 * (k * nPatterns + p)]));
    }
  });
  // Gradient under scaling, against central differences of the log-space reference: rounding
  // ~1e-16 |log L| / h ~ 1e-8 for |log L| ~ 1e4 and h = 1e-5, truncation ~1e-10 |f'''|;
  // 1e-6 relative to max(1, |gradient|) (gradients here are in the hundreds) is safe.
  const h = 1e-5;
  const [gain, loss] = sets[0];
  for (const p of [2, 4, 5]) {
    const col = states.subarray(p * nTips, (p + 1) * nTips);
    const f = (g: number, l: number) => logSpaceLogLik(tree, col, g, l);
    const fg = (f(gain * Math.exp(h), loss) - f(gain * Math.exp(-h), loss)) / (2 * h);
    const fl = (f(gain, loss * Math.exp(h)) - f(gain, loss * Math.exp(-h))) / (2 * h);
    assertClose([grad![2 * p], grad![2 * p + 1]], [fg, fl], 1e-6, `gradient pattern ${p}`);
  }
});

Deno.test("several parameter sets in one call equal separate calls", () => {
  const tree = smallTrees()[4].tree;
  const { states, nPatterns } = allColumns(tree.nTips);
  using backend = new TsBackend(tree, states, nPatterns);
  const together = backend.evaluate(flatRates(RATE_SETS), { gradient: true });
  RATE_SETS.forEach((set, k) => {
    const alone = backend.evaluate(Float64Array.from(set), { gradient: true });
    // The same arithmetic in the same order for each set: bit-identical.
    assertClose(together.logLik.subarray(k * nPatterns, (k + 1) * nPatterns), alone.logLik, 0);
    assertClose(
      together.grad!.subarray(2 * k * nPatterns, 2 * (k + 1) * nPatterns),
      alone.grad!,
      0,
    );
  });
});

Deno.test("two branches through a unary node equal one branch of the summed length", () => {
  // ((t0:0.3):0.4,t1:0.5) versus (t0:0.7,t1:0.5)
  const unary = flatTreeFromParents(["t0", "t1"], [2, 3, 3, -1], [0.3, 0.5, 0.4, 0]);
  const plain = flatTreeFromParents(["t0", "t1"], [2, 2, -1], [0.7, 0.5, 0]);
  // A unary root above a cherry changes nothing either (the root prior is stationary).
  const unaryRoot = flatTreeFromParents(["t0", "t1"], [2, 2, 3, -1], [0.7, 0.5, 0.9, 0]);
  const { states, nPatterns } = allColumns(2);
  const rates = flatRates(RATE_SETS);
  const expected = new TsBackend(plain, states, nPatterns).evaluate(rates, { gradient: true });
  for (const tree of [unary, unaryRoot]) {
    const got = new TsBackend(tree, states, nPatterns).evaluate(rates, { gradient: true });
    // Chapman-Kolmogorov and pi P = pi hold to a few ulps of each P entry: 1e-14.
    assertClose(got.logLik, expected.logLik, 1e-14, "log-likelihood");
    assertClose(got.grad!, expected.grad!, 1e-13, "gradient");
  }
});

Deno.test("evaluateAsync equals evaluate, reports progress and can be aborted", async () => {
  const tree = caterpillar(5000);
  const rng = new Random(3);
  const nPatterns = 2000;
  const states = new Uint8Array(nPatterns * tree.nTips);
  for (let i = 0; i < states.length; i++) states[i] = rng.next() < 0.1 ? 1 : 0;
  using backend = new TsBackend(tree, states.subarray(0, 300 * tree.nTips), 300);
  const rates = Float64Array.of(0.5, 1.5, 1, 1);
  const sync = backend.evaluate(rates, { gradient: true });
  const fractions: number[] = [];
  const asyncResult = await backend.evaluateAsync(rates, {
    gradient: true,
    onProgress: (f) => fractions.push(f),
  });
  // Same blocks, same arithmetic: bit-identical.
  assertClose(asyncResult.logLik, sync.logLik, 0);
  assertClose(asyncResult.grad!, sync.grad!, 0);
  assert.equal(fractions.at(-1), 1);
  for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i] >= fractions[i - 1]);

  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(
    backend.evaluateAsync(rates, { signal: aborted.signal }),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );

  // Abort in the middle: a large job (10^4 nodes x 2,000 patterns x gradient) yields to the
  // event loop every few milliseconds; aborting at the first progress report stops it.
  using big = new TsBackend(tree, states, nPatterns);
  const controller = new AbortController();
  let reports = 0;
  await assert.rejects(
    big.evaluateAsync(rates, {
      gradient: true,
      signal: controller.signal,
      onProgress: () => {
        reports++;
        controller.abort();
      },
    }),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
  assert.equal(reports, 1);
});

Deno.test("invalid rates, states and sizes throw a RangeError naming the value", () => {
  const tree = smallTrees()[2].tree;
  using backend = new TsBackend(tree, new Uint8Array(tree.nTips), 1);
  assert.throws(() => backend.evaluate(Float64Array.of(0, 1)), /gain.*0\./);
  assert.throws(() => backend.evaluate(Float64Array.of(1, -2)), /loss.*-2/);
  assert.throws(() => backend.evaluate(Float64Array.of(1, 1, NaN, 1)), /set 1.*NaN/);
  assert.throws(() => backend.evaluate(Float64Array.of(1, Infinity)), /Infinity/);
  assert.throws(() => backend.evaluate(Float64Array.of(1, 1, 1)), /pairs.*3/);
  assert.throws(() => new TsBackend(tree, new Uint8Array([0, 1, 3, 0]), 1), /state 3/);
  assert.throws(() => new TsBackend(tree, new Uint8Array(5), 1), /5 entries/);
  assert.equal(backend.name, "ts");
  assert.equal(backend.threads, 1);
});

Deno.test("TsBackend does not underflow at a 3,000-way multifurcation", () => {
  // A star tree: every tip hangs from the root, so the product over children alone underflows.
  const n = 3000;
  const parent = new Int32Array(n + 1).fill(n);
  parent[n] = -1;
  const length = Float64Array.from({ length: n + 1 }, (_, i) => (i === n ? 0 : 0.1 + (i % 7) / 10));
  const tree = flatTreeFromParents(Array.from({ length: n }, (_, i) => `t${i}`), parent, length);
  const states = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    states[i] = i % 3; // absent, present, missing
    states[n + i] = i % 5 === 0 ? 1 : 0;
  }
  using backend = new TsBackend(tree, states, 2);
  const { logLik } = backend.evaluate(Float64Array.of(0.4, 1.1));
  for (let p = 0; p < 2; p++) {
    const expected = logSpaceLogLik(tree, states.subarray(p * n, (p + 1) * n), 0.4, 1.1);
    assert.ok(expected < -1000, "the plain product would underflow");
    // As for the caterpillar: a few ulps per node, far below 1e-12 relative.
    assertClose(logLik[p], expected, 1e-12, `pattern ${p}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Per-branch rates, tangent directions and pattern subsets.

/** Columns for a small tree: all of {0, 1, 2}^n up to 6 tips, else 300 random ones. */
function columnsFor(tree: FlatTree, rng: Random): { states: Uint8Array; nPatterns: number } {
  if (tree.nTips <= 6) return allColumns(tree.nTips);
  const states = new Uint8Array(300 * tree.nTips);
  for (let i = 0; i < states.length; i++) states[i] = Math.floor(rng.next() * 3);
  return { states, nPatterns: 300 };
}

/** Bitwise equality of two arrays (`===`, so +0 and -0 count as equal). */
function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, message: string) {
  assertClose(actual, expected, 0, message);
}

Deno.test("per-branch rates equal brute-force enumeration on every small pattern", () => {
  const rng = new Random(101);
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = allColumns(tree.nTips);
    const nSets = 2;
    const r = 2 * tree.nNodes;
    const rates = randomPerBranchRates(tree.nNodes, nSets, rng);
    using backend = new TsBackend(tree, states, nPatterns);
    assert.equal(backend.nNodes, tree.nNodes);
    const { logLik } = backend.evaluate(rates, { layout: "perBranch" });
    assert.equal(logLik.length, nSets * nPatterns);
    for (let k = 0; k < nSets; k++) {
      const set = rates.subarray(k * r, (k + 1) * r);
      const expected = new Float64Array(nPatterns);
      for (let p = 0; p < nPatterns; p++) {
        const col = states.subarray(p * tree.nTips, (p + 1) * tree.nTips);
        expected[p] = Math.log(bruteForceLikelihoodPerBranch(tree, col, set));
      }
      // As for the global rates: sums of positive products of at most ~20 factors, ~1e-14
      // relative in L; the brute force's 1 - exp(-s t) loses ~1e-16 / (s t) <= 1e-13 for the
      // slowest branch here (s t >= 0.04 x 0.05). 1e-12 absolute (relative beyond |log L| > 1).
      assertClose(
        logLik.subarray(k * nPatterns, (k + 1) * nPatterns),
        expected,
        1e-12,
        `${name}, per-branch set ${k}`,
      );
    }
  }
});

Deno.test("directional derivatives equal the complex-step derivative of brute force", () => {
  const rng = new Random(202);
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = columnsFor(tree, rng);
    using backend = new TsBackend(tree, states, nPatterns);
    const nNodes = tree.nNodes, nTips = tree.nTips;
    // Per-branch: two sets, each with two random directions.
    const r = 2 * nNodes;
    const rates = randomPerBranchRates(nNodes, 2, rng);
    const tangents = randomTangents(2 * 2 * r, rng);
    const pb = backend.evaluate(rates, { layout: "perBranch", gradient: true, tangents });
    // Global: one set with random directions, against the brute force with the pair (and each
    // direction's pair) broadcast to every node.
    const [gain, loss] = [0.3 + rng.next(), 0.3 + 2 * rng.next()];
    const gt = randomTangents(4, rng);
    const gl = backend.evaluate(Float64Array.of(gain, loss), { gradient: true, tangents: gt });
    const broadcast = broadcastPair(gain, loss, nNodes);
    const gDirs = [0, 1].map((j) => broadcastPair(gt[2 * j], gt[2 * j + 1], nNodes));
    for (let p = 0; p < nPatterns; p++) {
      const col = states.subarray(p * nTips, (p + 1) * nTips);
      const expected: number[] = [];
      const got: number[] = [];
      for (let k = 0; k < 2; k++) {
        for (let j = 0; j < 2; j++) {
          const dir = tangents.subarray((2 * k + j) * r, (2 * k + j + 1) * r);
          const set = rates.subarray(k * r, (k + 1) * r);
          expected.push(bruteForceDirectionalDerivative(tree, col, set, dir));
          got.push(pb.grad![2 * (k * nPatterns + p) + j]);
        }
      }
      for (let j = 0; j < 2; j++) {
        expected.push(bruteForceDirectionalDerivative(tree, col, broadcast, gDirs[j]));
        got.push(gl.grad![2 * p + j]);
      }
      // The complex step has no truncation (h = 1e-30) and no cancellation: both sides are
      // exact to rounding (measured: <= 3e-15 relative). 1e-12 relative to max(1, |d|) leaves
      // 300x margin; a wrong term (a sign, a missing root-prior part) is off by O(0.1).
      assertClose(got, expected, 1e-12, `${name} pattern ${p}`);
    }
  }
});

Deno.test("directional derivatives equal central finite differences on random trees", () => {
  const rng = new Random(303);
  // Central differences with step h = 1e-5 along the direction in log-rate space: truncation
  // ~h^2 |f'''| / 6 ~ 1e-10 and rounding ~1e-16 |log L| / h ~ 1e-9 for |log L| < 100. 1e-6
  // relative to max(1, |d|) is safe; a wrong derivative term is off by far more.
  const h = 1e-5;
  for (let trial = 0; trial < 4; trial++) {
    const tree = randomTopology(30 + 10 * trial, rng);
    const nNodes = tree.nNodes, r = 2 * nNodes;
    const nPatterns = 120;
    const states = randomStates(nPatterns, tree.nTips, rng);
    using backend = new TsBackend(tree, states, nPatterns);
    const rates = randomPerBranchRates(nNodes, 1, rng);
    const tangents = randomTangents(2 * r, rng);
    const { grad } = backend.evaluate(rates, { layout: "perBranch", gradient: true, tangents });
    for (let j = 0; j < 2; j++) {
      // Sets 0 and 1: rates moved by +h and -h along direction j.
      const shifted = new Float64Array(2 * r);
      for (let i = 0; i < r; i++) {
        shifted[i] = rates[i] * Math.exp(h * tangents[j * r + i]);
        shifted[r + i] = rates[i] * Math.exp(-h * tangents[j * r + i]);
      }
      const f = backend.evaluate(shifted, { layout: "perBranch" }).logLik;
      const fd = Float64Array.from(
        { length: nPatterns },
        (_, p) => (f[p] - f[nPatterns + p]) / (2 * h),
      );
      const got = Float64Array.from({ length: nPatterns }, (_, p) => grad![2 * p + j]);
      assertClose(got, fd, 1e-6, `trial ${trial}, direction ${j}`);
    }
  }
});

Deno.test("per-branch rates on a 5,000-tip caterpillar: scaling keeps values and derivatives", () => {
  const tree = caterpillar(5000);
  const nTips = tree.nTips, nNodes = tree.nNodes, r = 2 * nNodes;
  const rng = new Random(404);
  const nPatterns = 4;
  const states = new Uint8Array(nPatterns * nTips);
  for (let i = 0; i < nTips; i++) {
    states[0 * nTips + i] = i % 2; // alternating: very unlikely
    states[1 * nTips + i] = rng.next() < 0.5 ? 1 : 0;
    states[2 * nTips + i] = rng.next() < 0.3 ? 2 : rng.next() < 0.2 ? 1 : 0;
    states[3 * nTips + i] = i === 1234 ? 1 : 0;
  }
  using backend = new TsBackend(tree, states, nPatterns);
  const rates = randomPerBranchRates(nNodes, 1, rng);
  const tangents = randomTangents(2 * r, rng);
  const { logLik, grad } = backend.evaluate(rates, {
    layout: "perBranch",
    gradient: true,
    tangents,
  });
  const h = 1e-5;
  for (let p = 0; p < nPatterns; p++) {
    const col = states.subarray(p * nTips, (p + 1) * nTips);
    const expected = logSpacePerBranch(tree, col, rates);
    if (p < 3) assert.ok(expected < -1000, `pattern ${p} should underflow plainly`);
    // A few ulps per node over ~10^4 nodes: far below 1e-12 relative.
    assertClose(logLik[p], expected, 1e-12, `pattern ${p}`);
    for (let j = 0; j < 2; j++) {
      const moved = (sign: number) =>
        Float64Array.from(rates, (x, i) => x * Math.exp(sign * h * tangents[j * r + i]));
      const fd =
        (logSpacePerBranch(tree, col, moved(1)) - logSpacePerBranch(tree, col, moved(-1))) /
        (2 * h);
      // Rounding ~1e-16 |log L| / h ~ 1e-8 for |log L| ~ 1e4, truncation ~1e-10 |f'''|:
      // 1e-6 relative to max(1, |d|) (derivatives here are in the tens to hundreds) is safe.
      assertClose(grad![2 * p + j], fd, 1e-6, `pattern ${p}, direction ${j}`);
    }
  }
});

Deno.test("per-branch with the same pair on every node equals global, bit for bit", () => {
  const rng = new Random(505);
  for (const { name, tree } of smallTrees()) {
    const { states, nPatterns } = columnsFor(tree, rng);
    using backend = new TsBackend(tree, states, nPatterns);
    const nNodes = tree.nNodes;
    const pb = new Float64Array(RATE_SETS.length * 2 * nNodes);
    RATE_SETS.forEach(([g, l], k) => pb.set(broadcastPair(g, l, nNodes), k * 2 * nNodes));
    // Default tangents: the same tables, the same arithmetic.
    const global = backend.evaluate(flatRates(RATE_SETS), { gradient: true });
    const perBranch = backend.evaluate(pb, { layout: "perBranch", gradient: true });
    assertSame(perBranch.logLik, global.logLik, `${name} values`);
    assertSame(perBranch.grad!, global.grad!, `${name} default derivatives`);
    // Explicit global directions equal the same directions given at every node.
    const gt = randomTangents(RATE_SETS.length * 4, rng);
    const pt = new Float64Array(RATE_SETS.length * 2 * 2 * nNodes);
    for (let d = 0; d < 2 * RATE_SETS.length; d++) {
      pt.set(broadcastPair(gt[2 * d], gt[2 * d + 1], nNodes), d * 2 * nNodes);
    }
    const globalT = backend.evaluate(flatRates(RATE_SETS), { gradient: true, tangents: gt });
    const perBranchT = backend.evaluate(pb, { layout: "perBranch", gradient: true, tangents: pt });
    assertSame(perBranchT.grad!, globalT.grad!, `${name} explicit derivatives`);
  }
});

Deno.test("the root's pair alone sets the root prior", () => {
  const rng = new Random(606);
  // A single tip is the root: its probability is the stationary pi of the root's pair.
  {
    const tree = smallTrees()[0].tree;
    using backend = new TsBackend(tree, Uint8Array.of(0, 1, 2), 3);
    const { logLik, grad } = backend.evaluate(Float64Array.of(1, 3), {
      layout: "perBranch",
      gradient: true,
    });
    // pi0 = 0.75 and pi1 = 0.25 are exact; d log pi1 / d log gain = pi0, d log pi0 / d log gain
    // = -pi1, and the opposite for log loss: all exact in binary up to one rounding.
    assertClose(logLik, [Math.log(0.75), Math.log(0.25), 0], 1e-16, "single tip values");
    assertClose(grad!, [-0.25, 0.25, 0.75, -0.75, 0, 0], 1e-16, "single tip derivatives");
  }
  for (const { name, tree } of smallTrees().slice(1)) {
    const { states, nPatterns } = columnsFor(tree, rng);
    using backend = new TsBackend(tree, states, nPatterns);
    const nNodes = tree.nNodes, r = 2 * nNodes, root = nNodes - 1;
    // The root's pair scaled by 2 (exact in binary) has the same stationary distribution, and the
    // root has no branch: everything equals the global pair, bit for bit.
    const [gain, loss] = [0.4, 1.7];
    const rates = broadcastPair(gain, loss, nNodes);
    rates[2 * root] *= 2;
    rates[2 * root + 1] *= 2;
    const pb = backend.evaluate(rates, { layout: "perBranch", gradient: true });
    const global = backend.evaluate(Float64Array.of(gain, loss), { gradient: true });
    assertSame(pb.logLik, global.logLik, `${name} scaled root pair`);
    assertSame(pb.grad!, global.grad!, `${name} scaled root pair, derivatives`);
    // Moving the root's log gain and log loss together leaves pi, hence everything, unchanged:
    // the derivative along that direction is exactly 0. Moving the root's log gain alone
    // changes only the prior: d log L = pi0 pi1 (u1 - u0) / L, here against brute force.
    const other = randomPerBranchRates(nNodes, 1, rng);
    const tangents = new Float64Array(2 * r);
    tangents[2 * root] = 1;
    tangents[2 * root + 1] = 1;
    tangents[r + 2 * root] = 1;
    const { grad } = backend.evaluate(other, { layout: "perBranch", gradient: true, tangents });
    for (let p = 0; p < nPatterns; p++) {
      assert.equal(grad![2 * p], 0, `${name} pattern ${p}: a common root scaling moves nothing`);
      const col = states.subarray(p * tree.nTips, (p + 1) * tree.nTips);
      const expected = bruteForceDirectionalDerivative(tree, col, other, tangents.subarray(r));
      // As in the complex-step test: exact to rounding on both sides.
      assertClose(grad![2 * p + 1], expected, 1e-12, `${name} pattern ${p}: root log gain`);
    }
    // Changing the root's pair changes values through the prior only: brute force agrees.
    const swapped = Float64Array.from(other);
    swapped[2 * root] = other[2 * root + 1];
    swapped[2 * root + 1] = other[2 * root];
    const { logLik } = backend.evaluate(swapped, { layout: "perBranch" });
    for (let p = 0; p < nPatterns; p += 5) {
      const col = states.subarray(p * tree.nTips, (p + 1) * tree.nTips);
      const expected = Math.log(bruteForceLikelihoodPerBranch(tree, col, swapped));
      // The same bound as the per-branch brute-force test.
      assertClose(logLik[p], expected, 1e-12, `${name} pattern ${p}: swapped root pair`);
    }
  }
});

Deno.test("a pattern subset gives exactly the full entries, in the listed order", () => {
  const rng = new Random(707);
  const tree = randomTopology(45, rng);
  const nNodes = tree.nNodes, r = 2 * nNodes;
  // More patterns than one block (at most 128 per block) so subsets span several blocks.
  const nPatterns = 700;
  using backend = new TsBackend(tree, randomStates(nPatterns, tree.nTips, rng), nPatterns);
  const nSets = 3;
  const calls = [
    { rates: flatRates(RATE_SETS.slice(0, nSets)), layout: "global" as const, r: 2 },
    { rates: randomPerBranchRates(nNodes, nSets, rng), layout: "perBranch" as const, r },
  ];
  const random = Uint32Array.from(
    Array.from({ length: nPatterns }, (_, i) => i).filter(() => rng.next() < 0.3),
  );
  const subsets = [
    random,
    Uint32Array.of(0),
    Uint32Array.of(nPatterns - 1),
    Uint32Array.of(3, 130, 131, 699),
    Uint32Array.from({ length: nPatterns }, (_, i) => i),
    new Uint32Array(0),
  ];
  for (const { rates, layout, r: perSet } of calls) {
    const tangents = randomTangents(nSets * 2 * perSet, rng);
    for (const gradient of [false, true]) {
      const options = { layout, gradient, tangents: gradient ? tangents : undefined };
      const full = backend.evaluate(rates, options);
      for (const patterns of subsets) {
        const part = backend.evaluate(rates, { ...options, patterns });
        const n = patterns.length;
        assert.equal(part.logLik.length, nSets * n);
        const expectedLogLik: number[] = [], expectedGrad: number[] = [];
        for (let k = 0; k < nSets; k++) {
          for (const p of patterns) {
            expectedLogLik.push(full.logLik[k * nPatterns + p]);
            if (gradient) {
              expectedGrad.push(full.grad![2 * (k * nPatterns + p)]);
              expectedGrad.push(full.grad![2 * (k * nPatterns + p) + 1]);
            }
          }
        }
        const what = `${layout}, gradient ${gradient}, ${n} patterns`;
        // Each pattern's arithmetic is independent of the others: bit for bit.
        assertSame(part.logLik, expectedLogLik, what);
        if (gradient) assertSame(part.grad!, expectedGrad, `${what}, derivatives`);
        else assert.equal(part.grad, undefined);
      }
    }
  }
});

Deno.test("default tangents equal the explicit 'every log gain' and 'every log loss' ones", () => {
  const rng = new Random(808);
  const tree = randomTopology(25, rng);
  const nNodes = tree.nNodes, r = 2 * nNodes, nSets = 2, nPatterns = 200;
  using backend = new TsBackend(tree, randomStates(nPatterns, tree.nTips, rng), nPatterns);
  const global = flatRates(RATE_SETS.slice(0, nSets));
  const explicitGlobal = Float64Array.of(1, 0, 0, 1, 1, 0, 0, 1);
  assertSame(
    backend.evaluate(global, { gradient: true, tangents: explicitGlobal }).grad!,
    backend.evaluate(global, { gradient: true }).grad!,
    "global",
  );
  // `layout: "global"` is the default.
  assertSame(
    backend.evaluate(global, { gradient: true, layout: "global" }).grad!,
    backend.evaluate(global, { gradient: true }).grad!,
    "explicit global layout",
  );
  const perBranch = randomPerBranchRates(nNodes, nSets, rng);
  const explicit = new Float64Array(nSets * 2 * r);
  for (let k = 0; k < nSets; k++) {
    for (let v = 0; v < nNodes; v++) {
      explicit[(2 * k) * r + 2 * v] = 1; // direction 0: log gain of every node
      explicit[(2 * k + 1) * r + 2 * v + 1] = 1; // direction 1: log loss of every node
    }
  }
  assertSame(
    backend.evaluate(perBranch, { layout: "perBranch", gradient: true, tangents: explicit }).grad!,
    backend.evaluate(perBranch, { layout: "perBranch", gradient: true }).grad!,
    "per-branch",
  );
  // Directions are linear: swapping them swaps the two derivatives; direction a + b gives
  // d_a + d_b (to rounding: one addition per table entry, ~1e-15 relative).
  const swapped = new Float64Array(explicit.length);
  for (let k = 0; k < nSets; k++) {
    swapped.set(explicit.subarray((2 * k + 1) * r, (2 * k + 2) * r), 2 * k * r);
    swapped.set(explicit.subarray(2 * k * r, (2 * k + 1) * r), (2 * k + 1) * r);
  }
  const a = backend.evaluate(perBranch, { layout: "perBranch", gradient: true }).grad!;
  const b = backend.evaluate(perBranch, { layout: "perBranch", gradient: true, tangents: swapped })
    .grad!;
  for (let i = 0; i < a.length; i += 2) {
    assert.equal(b[i], a[i + 1]);
    assert.equal(b[i + 1], a[i]);
  }
});

Deno.test("several per-branch sets in one call equal separate calls; evaluateAsync agrees", async () => {
  const rng = new Random(909);
  const tree = caterpillar(300);
  const nNodes = tree.nNodes, r = 2 * nNodes, nSets = 3, nPatterns = 500;
  using backend = new TsBackend(tree, randomStates(nPatterns, tree.nTips, rng), nPatterns);
  const rates = randomPerBranchRates(nNodes, nSets, rng);
  const tangents = randomTangents(nSets * 2 * r, rng);
  const patterns = Uint32Array.from({ length: 200 }, (_, i) => 2 * i + 1);
  const options = { layout: "perBranch" as const, gradient: true, tangents, patterns };
  const together = backend.evaluate(rates, options);
  for (let k = 0; k < nSets; k++) {
    const alone = backend.evaluate(rates.subarray(k * r, (k + 1) * r), {
      ...options,
      tangents: tangents.subarray(2 * k * r, 2 * (k + 1) * r),
    });
    // The same arithmetic for each set: bit for bit.
    assertSame(together.logLik.subarray(k * 200, (k + 1) * 200), alone.logLik, `set ${k}`);
    assertSame(together.grad!.subarray(400 * k, 400 * (k + 1)), alone.grad!, `set ${k} grad`);
  }
  const fractions: number[] = [];
  const viaAsync = await backend.evaluateAsync(rates, {
    ...options,
    onProgress: (f) => fractions.push(f),
  });
  assertSame(viaAsync.logLik, together.logLik, "async values");
  assertSame(viaAsync.grad!, together.grad!, "async derivatives");
  assert.equal(fractions.at(-1), 1);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    backend.evaluateAsync(rates, { ...options, signal: controller.signal }),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
});

Deno.test("invalid per-branch rates, tangents and subsets throw a RangeError naming them", () => {
  const tree = smallTrees()[2].tree; // binary 4: tips t0..t3, nodes 4, 5, root 6
  const nNodes = tree.nNodes, r = 2 * nNodes;
  using backend = new TsBackend(tree, new Uint8Array(3 * tree.nTips), 3);
  assert.equal(backend.nNodes, 7);
  // No parameter sets is not an error: empty results.
  const none = backend.evaluate(new Float64Array(0), { layout: "perBranch", gradient: true });
  assert.deepEqual([none.logLik.length, none.grad!.length], [0, 0]);
  const ok = broadcastPair(0.5, 1, nNodes);
  const pb = { layout: "perBranch" as const };
  const rejects = (f: () => unknown, pattern: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof RangeError && pattern.test(e.message));
  rejects(() => backend.evaluate(ok.subarray(1), pb), /14 values per parameter set.*7 nodes.*13/);
  rejects(() => backend.evaluate(new Float64Array(4), pb), /length 4/);
  const bad = (i: number, v: number) => {
    const x = Float64Array.from([...ok, ...ok]);
    x[i] = v;
    return x;
  };
  rejects(
    () => backend.evaluate(bad(3, 0), pb),
    /loss rate of node 1 \(tip "t1"\) in .*set 0.*got 0\./,
  );
  rejects(() => backend.evaluate(bad(r + 8, NaN), pb), /gain rate of node 4 in .*set 1.*NaN/);
  rejects(() => backend.evaluate(bad(r + 13, -Infinity), pb), /loss rate of node 6 \(the root\)/);
  rejects(
    () => backend.evaluate(ok, { ...pb, layout: "branchwise" as never }),
    /"global" or "perBranch".*"branchwise"/,
  );
  // Tangents: exact length, finite, named by set, direction and rate.
  rejects(
    () => backend.evaluate(ok, { ...pb, gradient: true, tangents: new Float64Array(r) }),
    /28 values \(1 parameter sets x 2 directions x 14 rates\).*length 14/,
  );
  const t = new Float64Array(2 * r);
  t[r + 5] = Infinity;
  rejects(
    () => backend.evaluate(ok, { ...pb, gradient: true, tangents: t }),
    /direction 1 .*loss rate of node 2 \(tip "t2"\) in parameter set 0, got Infinity/,
  );
  const tg = new Float64Array(8);
  tg[6] = NaN;
  rejects(
    () => backend.evaluate(Float64Array.of(1, 1, 2, 2), { gradient: true, tangents: tg }),
    /direction 1 .*gain rate of parameter set 1, got NaN/,
  );
  // Subsets: in range, strictly increasing.
  rejects(
    () => backend.evaluate(ok, { ...pb, patterns: Uint32Array.of(0, 3) }),
    /entry 1 is 3.*0 to 2 \(3 patterns\)/,
  );
  rejects(
    () => backend.evaluate(ok, { ...pb, patterns: Uint32Array.of(1, 1) }),
    /strictly increasing: entry 1 \(1\) follows entry 0 \(1\)/,
  );
  rejects(
    () => backend.evaluate(ok, { ...pb, patterns: Uint32Array.of(2, 0) }),
    /strictly increasing: entry 1 \(0\) follows entry 0 \(2\)/,
  );
});
