import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { bruteForceLikelihood } from "./support/brute_force.ts";
import { caterpillar, smallTrees } from "./support/small_trees.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { Random } from "../lib/simulate/random.ts";

/** Parameter sets: balanced, gain-heavy, slow and loss-heavy. */
const RATE_SETS: [number, number][] = [[0.5, 1.5], [2, 0.3], [0.05, 0.2], [0.7, 6]];

/** Every column over {0, 1, 2}^nTips, pattern-major. */
function allPatterns(nTips: number): { states: Uint8Array; nPatterns: number } {
  const nPatterns = 3 ** nTips;
  const states = new Uint8Array(nPatterns * nTips);
  for (let p = 0; p < nPatterns; p++) {
    let x = p;
    for (let i = 0; i < nTips; i++) {
      states[p * nTips + i] = x % 3;
      x = Math.floor(x / 3);
    }
  }
  return { states, nPatterns };
}

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
    const { states, nPatterns } = allPatterns(tree.nTips);
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
    let cols = allPatterns(nTips).states;
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
  const { states, nPatterns } = allPatterns(tree.nTips);
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
  const { states, nPatterns } = allPatterns(2);
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
