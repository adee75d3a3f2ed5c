// The native kernel against the pure-TypeScript pruning (a second, independent implementation),
// on trees of every shape; the sparse algorithm against the dense one; thread-count invariance;
// the nonblocking call's progress and cancellation; and errors from the C ABI.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { smallTrees } from "./support/small_trees.ts";
import { Random } from "../lib/simulate/random.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
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
