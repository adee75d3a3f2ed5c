// The whole-PAM likelihood: weights of merged columns, the ascertainment correction (at least 1
// or at least k present among a family's observed tips) against brute-force enumeration,
// gradients against finite differences, and clear errors when the data contradict the
// conditioning.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { bruteForceFewerThan, bruteForceLikelihood } from "./support/brute_force.ts";
import { binary6, multifurcating, withUnary } from "./support/small_trees.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { NULL_MODEL } from "../lib/model/description.ts";
import {
  type BackendFactory,
  loadKernel,
  tsBackendFactory,
} from "../lib/likelihood/choose_backend.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { GenecontentError } from "../lib/errors.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";

const { kernel, reasons } = await loadKernel();
if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);
const nativeFactory: BackendFactory = {
  name: "native",
  create: (t, s, n) => new NativeBackend(kernel, t, s, n, { threads: 1 }),
};
const factories = [tsBackendFactory, nativeFactory];

/** Every 0/1 column over n tips, with missing cells where `missing` is set. */
function allColumns(n: number, missing: number[] = []): number[][] {
  const out: number[][] = [];
  for (let x = 0; x < 2 ** n; x++) {
    out.push(Array.from({ length: n }, (_, i) => (missing.includes(i) ? 2 : (x >> i) & 1)));
  }
  return out;
}

// Brute force sums 2^(internal nodes) products; pruning sums pairs per node: both are exact to
// a few ulps of the probabilities, so logs agree to ~1e-13; 1e-12 leaves margin.
const BRUTE_TOL = 1e-12;

Deno.test("corrected per-family logLik = log P(x) - log(1 - P(all observed absent)), by brute force", () => {
  const gain = 0.4, loss = 1.3;
  for (const tree of [binary6(), multifurcating(), withUnary()]) {
    const n = tree.nTips;
    const cols = [
      ...allColumns(n).filter((c) => c.some((v) => v === 1)),
      ...allColumns(n, [0, 2]).filter((c) => c.some((v) => v === 1)),
    ];
    const rows = new Uint8Array(cols.flat());
    const names = cols.map((_, i) => `f${i}`);
    for (const factory of factories) {
      using lik = new GainLossLikelihood(
        tree,
        compressPatterns(rows, cols.length, n, names),
        factory,
      );
      const v = lik.evaluate(gain, loss);
      const expected = cols.map((c) => {
        const empty = c.map((s) => (s === 2 ? 2 : 0));
        return Math.log(bruteForceLikelihood(tree, c, gain, loss)) -
          Math.log(1 - bruteForceLikelihood(tree, empty, gain, loss));
      });
      const perFamily = cols.map((_, f) => v.perPattern[lik.patterns.familyPattern[f]]);
      assertClose(perFamily, expected, BRUTE_TOL, `${factory.name} corrected`);
      assertClose(v.logLik, expected.reduce((a, b) => a + b), BRUTE_TOL, `${factory.name} total`);
    }
  }
});

Deno.test("conditioned on at least k present, the probabilities of all observable columns sum to 1", () => {
  const tree = binary6();
  const n = tree.nTips;
  for (const k of [1, 2, 3, 6]) {
    const cols = allColumns(n).filter((c) => c.filter((v) => v === 1).length >= k);
    const rows = new Uint8Array(cols.flat());
    for (const factory of factories) {
      using lik = new GainLossLikelihood(
        tree,
        compressPatterns(rows, cols.length, n, cols.map((_, i) => `f${i}`)),
        factory,
        { minPresent: k },
      );
      const v = lik.evaluate(0.7, 0.9);
      const sum = cols.reduce(
        (s, _, f) => s + Math.exp(v.perPattern[lik.patterns.familyPattern[f]]),
        0,
      );
      // A sum of up to 64 probabilities, each exact to ~1e-15.
      assertClose(sum, 1, 1e-13, `k=${k} ${factory.name}`);
      // And each term against brute force.
      const f0 = cols[0];
      const expected = Math.log(bruteForceLikelihood(tree, f0, 0.7, 0.9)) -
        Math.log(1 - bruteForceFewerThan(tree, new Array(n).fill(1), k, 0.7, 0.9));
      assertClose(v.perPattern[lik.patterns.familyPattern[0]], expected, BRUTE_TOL, `k=${k} first`);
    }
  }
});

Deno.test("merged columns count by their weights; uncorrected equals the plain sum", () => {
  const tree = multifurcating();
  const n = tree.nTips;
  const single = Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0));
  const mixed = Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 1 : 0));
  const cols = [single, single, mixed, single];
  const patterns = compressPatterns(new Uint8Array(cols.flat()), cols.length, n, [
    "a",
    "b",
    "c",
    "d",
  ]);
  assert.equal(patterns.nPatterns, 2);
  using lik = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent: 0 });
  const v = lik.evaluate(0.3, 0.6);
  const expected = cols.reduce((s, c) => s + Math.log(bruteForceLikelihood(tree, c, 0.3, 0.6)), 0);
  assertClose(v.logLik, expected, BRUTE_TOL, "uncorrected total");
});

Deno.test("gradients of the corrected total match central finite differences", () => {
  const tree = binary6();
  const n = tree.nTips;
  const cols = allColumns(n, [3]).filter((c) => c.some((v) => v === 1)).slice(0, 20);
  for (const k of [0, 1, 2]) {
    const usable = cols.filter((c) => c.filter((v) => v === 1).length >= k);
    for (const factory of factories) {
      using lik = new GainLossLikelihood(
        tree,
        compressPatterns(
          new Uint8Array(usable.flat()),
          usable.length,
          n,
          usable.map((_, i) => `f${i}`),
        ),
        factory,
        { minPresent: k },
      );
      const lg = Math.log(0.5), ll = Math.log(1.1);
      const g = lik.evaluate(Math.exp(lg), Math.exp(ll), { gradient: true }).gradient!;
      const h = 1e-5;
      const f = (a: number, b: number) => lik.evaluate(Math.exp(a), Math.exp(b)).logLik;
      const fd = [
        (f(lg + h, ll) - f(lg - h, ll)) / (2 * h),
        (f(lg, ll + h) - f(lg, ll - h)) / (2 * h),
      ];
      // Central differences with h = 1e-5 err by ~h^2 * f''' ~ 1e-9 plus rounding ~1e-16/h ~ 1e-11.
      assertClose(g, fd, 1e-7, `k=${k} ${factory.name}`);
    }
  }
});

Deno.test("families never present (or below the threshold) are a clear error naming them", () => {
  const tree = binary6();
  const n = tree.nTips;
  const rows = new Uint8Array([...new Array(n).fill(0), 1, ...new Array(n - 1).fill(0)]);
  assert.throws(
    () =>
      new GainLossLikelihood(
        tree,
        compressPatterns(rows, 2, n, ["never_seen", "ok"]),
        tsBackendFactory,
      ),
    (e: unknown) =>
      e instanceof GenecontentError && /never_seen/.test(e.message) &&
      /--min-present/.test(e.message),
  );
  assert.throws(
    () =>
      new GainLossLikelihood(
        tree,
        compressPatterns(rows.subarray(n), 1, n, ["single"]),
        tsBackendFactory,
        { minPresent: 2 },
      ),
    (e: unknown) =>
      e instanceof GenecontentError && /single/.test(e.message) && /fewer than 2/.test(e.message),
  );
});

Deno.test("GainLossLikelihood is ModelLikelihood with the null model (log-rate gradient)", () => {
  const tree = binary6();
  const cols = allColumns(tree.nTips, [2]).filter((c) => c.filter((v) => v === 1).length >= 2);
  const patterns = compressPatterns(
    new Uint8Array(cols.flat()),
    cols.length,
    tree.nTips,
    cols.map((_, i) => `f${i}`),
  );
  for (const k of [0, 1, 2]) {
    using wrapped = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent: k });
    using direct = new ModelLikelihood(tree, patterns, tsBackendFactory, NULL_MODEL, {
      minPresent: k,
      maxPresent: null,
    });
    const a = wrapped.evaluate(0.3, 0.9, { gradient: true });
    const b = direct.evaluate(Float64Array.of(0.3, 0.9), true);
    assert.deepEqual([...a.perPattern], [...b.perPattern]);
    assert.equal(a.logLik, b.logLik);
    // d/d log x = x d/d x: one rounding per product.
    assertClose(a.gradient!, [0.3 * b.gradient![0], 0.9 * b.gradient![1]], 1e-15, `k=${k}`);
  }
});
