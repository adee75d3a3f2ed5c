// The native expectations pass (gc_expectations) against the TypeScript backend's (a second,
// independent implementation, itself checked against enumeration): random trees of every shape,
// both rate layouts, weights, subsets, per-pattern terms, a deep caterpillar that needs
// rescaling, thread-count bit identity, and input errors.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { Random } from "../lib/simulate/random.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import type { ExpectationOptions } from "../lib/likelihood/backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { ABI_MINOR } from "../lib/native/ffi.ts";
import { loadKernel } from "../lib/likelihood/choose_backend.ts";
import { GenecontentError } from "../lib/errors.ts";
import { caterpillarTree } from "../lib/simulate/trees.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

// The native library must be loadable here: `deno task test` builds it first.
const { kernel, reasons } = await loadKernel();
if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);

// Both sum the same positive terms with different scaling steps and summation order; 1e-10
// relative (absolute below 1) leaves room for ~1e5 rounding steps at 1e-16 each.
const TOL = 1e-10;

/** Compares native and TypeScript expectations entry by entry. */
function compare(
  tree: FlatTree,
  states: Uint8Array,
  nPatterns: number,
  rates: Float64Array,
  options: ExpectationOptions,
  label: string,
  threads = 2,
): void {
  const ts = new TsBackend(tree, states, nPatterns).expectations(rates, options);
  for (const algorithm of ["dense", "sparse"] as const) {
    using nb = new NativeBackend(kernel!, tree, states, nPatterns, { algorithm, threads });
    const nat = nb.expectations!(rates, options);
    assertClose(nat.logLik, ts.logLik, TOL, `${label} ${algorithm} logLik`);
    assertClose(nat.branch, ts.branch, TOL, `${label} ${algorithm} branch`);
    assert.equal(nat.perPattern === undefined, ts.perPattern === undefined, label);
    if (ts.perPattern) assertClose(nat.perPattern!, ts.perPattern, TOL, `${label} perPattern`);
  }
}

/** Possible columns only: zero-length branches can make conflicting tips impossible. */
function possible(tree: FlatTree, states: Uint8Array, nPatterns: number): Uint32Array {
  const ll = new TsBackend(tree, states, nPatterns).evaluate(new Float64Array([0.5, 0.5])).logLik;
  return Uint32Array.from([...ll.keys()].filter((p) => Number.isFinite(ll[p])));
}

Deno.test("native expectations equal TypeScript on random trees, layouts, weights, subsets", () => {
  const rng = new Random(17);
  for (let c = 0; c < 24; c++) {
    const nTips = 2 + Math.floor(rng.next() * 60);
    const tree = randomTopology(nTips, rng);
    const nPatterns = 30;
    const states = randomStates(nPatterns, nTips, rng);
    const ok = possible(tree, states, nPatterns);
    const nSets = 2;
    const global = new Float64Array([0.4, 1.1, 0.02 + rng.next(), 0.05 + 3 * rng.next()]);
    const per = Float64Array.from(
      { length: nSets * 2 * tree.nNodes },
      () => 0.01 + 2 * rng.next(),
    );
    for (const [layout, rates] of [["global", global], ["perBranch", per]] as const) {
      const weights = Float64Array.from(
        { length: nSets * ok.length },
        (_, i) => i % 5 === 1 ? 0 : 10 * rng.next(),
      );
      compare(tree, states, nPatterns, rates, { layout, patterns: ok, weights }, `case ${c}`);
      const sub = ok.filter((_, i) => i % 3 === 0);
      compare(
        tree,
        states,
        nPatterns,
        rates,
        { layout, patterns: sub, perPattern: true },
        `case ${c} subset`,
      );
    }
  }
});

Deno.test("native expectations equal TypeScript on a deep caterpillar and at extreme rates", () => {
  const rng = new Random(4);
  const tree = caterpillarTree(2500, 0.7);
  const nPatterns = 12;
  const states = randomStates(nPatterns, tree.nTips, rng);
  const rates = new Float64Array([0.5, 0.8, 1e-6, 30, 200, 1e-3]);
  compare(tree, states, nPatterns, rates, {}, "caterpillar");
  const ll = new TsBackend(tree, states, nPatterns).evaluate(rates).logLik;
  assert.ok(ll.some((x) => x < -1000), "the caterpillar needs rescaling");
});

Deno.test("native expectations are bit-identical across thread counts and match subsets", () => {
  const rng = new Random(8);
  const tree = randomTopology(120, rng);
  const nPatterns = 900;
  const states = randomStates(nPatterns, tree.nTips, rng);
  const ok = possible(tree, states, nPatterns);
  const rates = new Float64Array([0.3, 0.9]);
  const results = [1, 2, 3].map((threads) => {
    using nb = new NativeBackend(kernel!, tree, states, nPatterns, { threads });
    return nb.expectations!(rates, { patterns: ok });
  });
  for (const r of results.slice(1)) {
    assert.deepEqual(r.branch, results[0].branch);
    assert.deepEqual(r.logLik, results[0].logLik);
  }
  using nb = new NativeBackend(kernel!, tree, states, nPatterns, { threads: 2 });
  const sub = ok.filter((p) => p % 4 === 1);
  const full = nb.expectations!(rates, { patterns: ok, perPattern: true });
  const part = nb.expectations!(rates, { patterns: sub, perPattern: true });
  const n4 = 4 * tree.nNodes;
  sub.forEach((p, i) => {
    const j = ok.indexOf(p);
    assert.equal(part.logLik[i], full.logLik[j]);
    assert.deepEqual(
      part.perPattern!.subarray(i * n4, (i + 1) * n4),
      full.perPattern!.subarray(j * n4, (j + 1) * n4),
    );
  });
  // Empty subsets give empty results, and still check the rates.
  const empty = nb.expectations!(rates, { patterns: new Uint32Array(0) });
  assert.equal(empty.logLik.length, 0);
  assert.deepEqual([...empty.branch], new Array(n4).fill(0));
  assert.throws(
    () => nb.expectations!(new Float64Array([0.3, -1]), { patterns: new Uint32Array(0) }),
    (e: Error) =>
      e instanceof GenecontentError && /rates\[1\] \(loss of set 0\) is -1/.test(e.message),
  );
});

Deno.test("native expectations reject bad weights, layouts and rates with the kernel's words", () => {
  const rng = new Random(2);
  const tree = randomTopology(6, rng);
  const states = randomStates(4, 6, rng);
  using nb = new NativeBackend(kernel!, tree, states, 4, { threads: 1 });
  const rates = new Float64Array([0.5, 1]);
  const cases: [ExpectationOptions, RegExp][] = [
    [{ weights: new Float64Array(3) }, /weights_len is 3 but n_sets \* n_patterns is 1 \* 4 = 4/],
    [
      { weights: Float64Array.of(1, NaN, 1, 1) },
      /weights\[1\] \(set 0, evaluated pattern 1\) is NaN/,
    ],
    [{ patterns: Uint32Array.of(2, 1) }, /patterns\[1\] is 1, not greater than patterns\[0\]/],
    [{ patterns: Uint32Array.of(4) }, /patterns\[0\] is 4, not below n_patterns \(4\)/],
  ];
  for (const [options, re] of cases) {
    assert.throws(
      () => nb.expectations!(rates, options),
      (e: Error) => e instanceof GenecontentError && re.test(e.message),
      re.source,
    );
  }
  assert.throws(
    () => nb.expectations!(new Float64Array(3)),
    (e: Error) => e instanceof GenecontentError && /not a multiple of 2 per set/.test(e.message),
  );
  assert.throws(
    () => nb.expectations!(rates, { layout: "tree" as "global" }),
    (e: Error) => e instanceof GenecontentError && /Rate layout "tree" is unknown/.test(e.message),
  );
  // A library of minor 0 has no expectations pass: the backend then has no `expectations`, so
  // callers fall back to the TypeScript backend's.
  using old = new NativeBackend({ ...kernel!, minor: 0 }, tree, states, 4, { threads: 1 });
  assert.equal(old.expectations, undefined);
  assert.equal(typeof nb.expectations, "function");
  // A library reports its minor version: this one (the header's) has the expectations pass
  // (minor 1).
  assert.equal(kernel!.minor, ABI_MINOR);
  assert.ok(kernel!.minor >= 1);
  assert.equal(kernel!.symbols.gc_abi_minor!(), ABI_MINOR);
});
