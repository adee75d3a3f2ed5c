// The native kernel against the pure-TypeScript pruning (a second, independent implementation),
// on trees of every shape; the sparse algorithm against the dense one; thread-count invariance;
// the nonblocking call's progress and cancellation; and errors from the C ABI.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { smallTrees } from "./support/small_trees.ts";
import { Random } from "../lib/simulate/random.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import type { EvaluateOptions } from "../lib/likelihood/backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { loadKernel } from "../lib/likelihood/choose_backend.ts";
import { GenecontentError } from "../lib/errors.ts";
import { caterpillarTree, yuleTree } from "../lib/simulate/trees.ts";
import { simulateFamilies } from "../lib/simulate/families.ts";

// The native library must be loadable here: `deno task test` builds it first. A failure to load
// is a test failure, not a skip.
const { kernel, reasons } = await loadKernel();
if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);

// Both implementations compute the same sums in a different order (blocked vs per pattern,
// different scaling thresholds), so agreement is limited by rounding: 1e-10 relative is the
// bound the issue sets, and leaves room for ~1e5 rounding steps at 1e-16 each.
const TOL = 1e-10;
const rateSets = new Float64Array([0.5, 1.0, 0.05, 0.2, 3.0, 0.7, 1e-3, 1e-3]);

Deno.test("native equals TypeScript on hand-made small trees, every pattern of up to 6 tips", () => {
  for (const { name, tree } of smallTrees()) {
    const n = tree.nTips;
    const nPatterns = 3 ** Math.min(n, 6);
    const states = new Uint8Array(nPatterns * n);
    for (let p = 0; p < nPatterns; p++) {
      for (let i = 0, x = p; i < n; i++, x = Math.floor(x / 3)) states[p * n + i] = x % 3;
    }
    const ts = new TsBackend(tree, states, nPatterns).evaluate(rateSets, { gradient: true });
    for (const algorithm of ["dense", "sparse"] as const) {
      using nb = new NativeBackend(kernel, tree, states, nPatterns, { algorithm, threads: 1 });
      const nat = nb.evaluate(rateSets, { gradient: true });
      assertClose(nat.logLik, ts.logLik, TOL, `${name} ${algorithm} logLik`);
      assertClose(nat.grad!, ts.grad!, TOL, `${name} ${algorithm} gradient`);
    }
  }
});

Deno.test("native (dense and sparse) equals TypeScript on random trees with multifurcations and unary nodes", () => {
  const rng = new Random(20261127);
  for (let rep = 0; rep < 25; rep++) {
    const tree = randomTopology(2 + Math.floor(rng.next() * 60), rng);
    const nPatterns = 1 + Math.floor(rng.next() * 80);
    const states = randomStates(nPatterns, tree.nTips, rng);
    const ts = new TsBackend(tree, states, nPatterns).evaluate(rateSets, { gradient: true });
    for (const algorithm of ["dense", "sparse"] as const) {
      using nb = new NativeBackend(kernel, tree, states, nPatterns, { algorithm });
      const nat = nb.evaluate(rateSets, { gradient: true });
      assertClose(nat.logLik, ts.logLik, TOL, `rep ${rep} ${algorithm} logLik`);
      assertClose(nat.grad!, ts.grad!, TOL, `rep ${rep} ${algorithm} gradient`);
    }
  }
});

Deno.test("native equals TypeScript on a 5,000-tip caterpillar, where plain products underflow", () => {
  const tree = caterpillarTree(5000, 0.1);
  const rng = new Random(5);
  const states = randomStates(12, tree.nTips, rng);
  const ts = new TsBackend(tree, states, 12).evaluate(new Float64Array([0.5, 1]), {
    gradient: true,
  });
  using nb = new NativeBackend(kernel, tree, states, 12, {});
  const nat = nb.evaluate(new Float64Array([0.5, 1]), { gradient: true });
  for (const v of nat.logLik) assert.ok(Number.isFinite(v), `finite: ${v}`);
  // exp(-745) is below the smallest subnormal double: these could not be computed unscaled.
  assert.ok(nat.logLik.filter((v) => v < -745).length >= 4, `some below -745: ${nat.logLik}`);
  assertClose(nat.logLik, ts.logLik, TOL, "caterpillar logLik");
  assertClose(nat.grad!, ts.grad!, TOL, "caterpillar gradient");
});

Deno.test("results are bit-identical for 1 and 2 threads", () => {
  const rng = new Random(77);
  const tree = yuleTree(300, rng, { height: 1 });
  const states = simulateFamilies(tree, {
    gain: 1,
    loss: 2,
    nFamilies: 3000,
    rng,
    rateCategories: [0.1, 1, 5],
  });
  const one = new NativeBackend(kernel, tree, states, 3000, { threads: 1 });
  const two = new NativeBackend(kernel, tree, states, 3000, { threads: 2 });
  try {
    assert.equal(one.threads, 1);
    assert.equal(two.threads, 2);
    const a = one.evaluate(rateSets, { gradient: true });
    const b = two.evaluate(rateSets, { gradient: true });
    assert.deepEqual(new BigUint64Array(a.logLik.buffer), new BigUint64Array(b.logLik.buffer));
    assert.deepEqual(new BigUint64Array(a.grad!.buffer), new BigUint64Array(b.grad!.buffer));
  } finally {
    one[Symbol.dispose]();
    two[Symbol.dispose]();
  }
});

Deno.test("nonblocking evaluation gives the same numbers, reports progress and can be cancelled", async () => {
  const rng = new Random(3);
  const tree = yuleTree(400, rng, { height: 1 });
  const nFamilies = 20000;
  const states = simulateFamilies(tree, { gain: 1, loss: 1, nFamilies, rng });
  using nb = new NativeBackend(kernel, tree, states, nFamilies, { algorithm: "dense", threads: 1 });
  const rates = new Float64Array([1, 1]);
  const fractions: number[] = [];
  const asyncResult = await nb.evaluateAsync(rates, { onProgress: (f) => fractions.push(f) });
  assert.deepEqual(asyncResult.logLik, nb.evaluate(rates).logLik);
  assert.equal(fractions.at(-1), 1);
  for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i] >= fractions[i - 1]);
  // Many parameter sets make a long call; abort it right away.
  const many = new Float64Array(200).fill(1);
  const controller = new AbortController();
  const pending = nb.evaluateAsync(many, { signal: controller.signal });
  controller.abort();
  await assert.rejects(
    pending,
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
});

Deno.test("the C ABI rejects bad input with a message and survives empty input", () => {
  const tree = smallTrees()[0].tree;
  const n = tree.nTips;
  assert.throws(
    () => new NativeBackend(kernel, tree, new Uint8Array(n).fill(3), 1),
    (e: unknown) => e instanceof GenecontentError && /state/i.test(e.message),
  );
  using nb = new NativeBackend(kernel, tree, new Uint8Array(n), 1);
  for (const bad of [[0, 1], [1, -1], [NaN, 1], [1, Infinity]]) {
    assert.throws(
      () => nb.evaluate(new Float64Array(bad)),
      (e: unknown) => e instanceof GenecontentError && /rate|gain|loss/i.test(e.message),
    );
  }
  using empty = new NativeBackend(kernel, tree, new Uint8Array(0), 0);
  assert.deepEqual(
    empty.evaluate(new Float64Array([1, 1]), { gradient: true }).logLik,
    new Float64Array(0),
  );
  assert.deepEqual(nb.evaluate(new Float64Array(0)).logLik, new Float64Array(0));
});

/** Log-uniform random values between `lo` and `hi`. */
function logUniform(n: number, lo: number, hi: number, rng: Random): Float64Array {
  return Float64Array.from(
    { length: n },
    () => Math.exp(Math.log(lo) + Math.log(hi / lo) * rng.next()),
  );
}

/** Random tangent entries in [-1, 1). */
function randomTangents(n: number, rng: Random): Float64Array {
  return Float64Array.from({ length: n }, () => 2 * rng.next() - 1);
}

/**
 * {@linkcode assertClose}, where a NaN in both is agreement: the derivatives of a pattern that
 * is impossible (sister tips that differ below zero-length branches) are 0/0 in both backends.
 */
function assertCloseOrBothNaN(a: Float64Array, e: Float64Array, tol: number, what: string) {
  const both = (i: number) => Number.isNaN(a[i]) && Number.isNaN(e[i]);
  assertClose(a.map((x, i) => both(i) ? 0 : x), e.map((x, i) => both(i) ? 0 : x), tol, what);
}

/** A random strictly increasing subset of `0..n` (each index with probability `q`). */
function randomSubset(n: number, q: number, rng: Random): Uint32Array {
  return Uint32Array.from(Array.from({ length: n }, (_, i) => i).filter(() => rng.next() < q));
}

Deno.test("native equals TypeScript for per-branch rates, tangents and pattern subsets", () => {
  const rng = new Random(20261201);
  let compared = 0;
  for (let rep = 0; rep < 20; rep++) {
    const tree = randomTopology(2 + Math.floor(rng.next() * 60), rng);
    const nPatterns = 1 + Math.floor(rng.next() * 60);
    const states = randomStates(nPatterns, tree.nTips, rng);
    using ts = new TsBackend(tree, states, nPatterns);
    const nSets = 2;
    const requests = [
      { layout: "global" as const, rates: logUniform(2 * nSets, 1e-3, 10, rng) },
      { layout: "perBranch" as const, rates: logUniform(2 * tree.nNodes * nSets, 1e-3, 10, rng) },
    ];
    for (const { layout, rates } of requests) {
      const tangents = randomTangents(2 * rates.length, rng);
      const subset = randomSubset(nPatterns, 0.4, rng);
      const optionSets: EvaluateOptions[] = [
        { layout, gradient: true },
        { layout, gradient: true, tangents },
        { layout, gradient: true, tangents, patterns: subset },
        { layout, patterns: subset },
      ];
      for (const options of optionSets) {
        const want = ts.evaluate(rates, options);
        for (const algorithm of ["dense", "sparse"] as const) {
          using nb: NativeBackend = new NativeBackend(kernel, tree, states, nPatterns, {
            algorithm,
          });
          assert.equal(nb.nNodes, tree.nNodes);
          const got = nb.evaluate(rates, options);
          const what = `rep ${rep} ${algorithm} ${JSON.stringify(Object.keys(options))} ${layout}`;
          assertClose(got.logLik, want.logLik, TOL, `${what} logLik`);
          if (options.gradient) {
            assertCloseOrBothNaN(got.grad!, want.grad!, TOL, `${what} gradient`);
          } else assert.equal(got.grad, undefined);
          compared++;
        }
      }
    }
  }
  assert.equal(compared, 20 * 2 * 4 * 2);
});

Deno.test("per-branch tangents and subsets agree with TypeScript on a 2,000-tip caterpillar", () => {
  const tree = caterpillarTree(2000, 0.1);
  const rng = new Random(6);
  const nPatterns = 10;
  const states = randomStates(nPatterns, tree.nTips, rng);
  const rates = logUniform(2 * tree.nNodes, 0.05, 5, rng);
  const options = {
    layout: "perBranch" as const,
    gradient: true,
    tangents: randomTangents(4 * tree.nNodes, rng),
    patterns: Uint32Array.of(1, 4, 9),
  };
  using ts = new TsBackend(tree, states, nPatterns);
  using nb = new NativeBackend(kernel, tree, states, nPatterns, {});
  const want = ts.evaluate(rates, options);
  const got = nb.evaluate(rates, options);
  assertClose(got.logLik, want.logLik, TOL, "caterpillar per-branch logLik");
  assertClose(got.grad!, want.grad!, TOL, "caterpillar per-branch gradient");
});

Deno.test("nonblocking per-branch subset evaluation equals the synchronous one", async () => {
  const rng = new Random(8);
  const tree = yuleTree(200, rng, { height: 1 });
  const states = simulateFamilies(tree, { gain: 1, loss: 2, nFamilies: 2000, rng });
  using nb = new NativeBackend(kernel, tree, states, 2000, {});
  const options = {
    layout: "perBranch" as const,
    gradient: true,
    tangents: randomTangents(4 * tree.nNodes, rng),
    patterns: randomSubset(2000, 0.2, rng),
  };
  const rates = logUniform(2 * tree.nNodes, 0.2, 3, rng);
  const fractions: number[] = [];
  const a = await nb.evaluateAsync(rates, { ...options, onProgress: (f) => fractions.push(f) });
  const b = nb.evaluate(rates, options);
  assert.deepEqual(a, b);
  assert.equal(a.logLik.length, options.patterns.length);
  assert.equal(fractions.at(-1), 1);
});

Deno.test("native rejects bad per-branch rates, tangents and subsets, and handles an empty subset", () => {
  const tree = smallTrees()[2].tree;
  const n = tree.nTips;
  using nb = new NativeBackend(kernel, tree, new Uint8Array(2 * n), 2);
  const rates = new Float64Array(2 * tree.nNodes).fill(1);
  const bad = (
    r: Float64Array,
    options: Parameters<NativeBackend["evaluate"]>[1],
    pattern: RegExp,
  ) =>
    assert.throws(
      () => nb.evaluate(r, options),
      (e: unknown) => e instanceof GenecontentError && pattern.test(e.message),
    );
  const zero = rates.slice();
  zero[3] = 0;
  bad(zero, { layout: "perBranch" }, /rates\[3\] \(loss of node 1 in set 0\) is 0/);
  bad(rates.subarray(1), { layout: "perBranch" }, /not a multiple of 2 \* nNodes/);
  const t = new Float64Array(4 * tree.nNodes);
  t[5] = NaN;
  bad(rates, { layout: "perBranch", gradient: true, tangents: t }, /tangents\[5\].*NaN/);
  bad(rates, { layout: "perBranch", gradient: true, tangents: t.subarray(1) }, /tangents_len/);
  bad(rates, { layout: "perBranch", patterns: Uint32Array.of(1, 0) }, /strictly increasing/);
  bad(rates, { layout: "perBranch", patterns: Uint32Array.of(2) }, /not below n_patterns \(2\)/);
  // An empty subset evaluates nothing but still checks the rates.
  const empty = nb.evaluate(rates, {
    layout: "perBranch",
    gradient: true,
    patterns: new Uint32Array(0),
  });
  assert.deepEqual(empty, { logLik: new Float64Array(0), grad: new Float64Array(0) });
  bad(zero, { layout: "perBranch", patterns: new Uint32Array(0) }, /rates\[3\]/);
});
