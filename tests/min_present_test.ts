import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { bruteForceFewerThan, bruteForcePresentCounts } from "./support/brute_force.ts";
import { caterpillar, smallTrees } from "./support/small_trees.ts";
import { logProbObservable, probFewerThanPresent } from "../lib/likelihood/min_present.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { GenecontentError } from "../lib/errors.ts";

const RATE_SETS: [number, number][] = [[0.5, 1.5], [2, 0.3], [0.05, 0.2]];

/** Every observed-tip mask of `nTips` tips (bit i of the index: tip i observed). */
function allMasks(nTips: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let m = 0; m < 2 ** nTips; m++) {
    out.push(Uint8Array.from({ length: nTips }, (_, i) => (m >> i) & 1));
  }
  return out;
}

/** A few masks for trees too big to try all: all observed, none, and two mixed ones. */
function someMasks(nTips: number): Uint8Array[] {
  return [
    new Uint8Array(nTips).fill(1),
    new Uint8Array(nTips),
    Uint8Array.from({ length: nTips }, (_, i) => (i % 3 === 1 ? 0 : 1)),
    Uint8Array.from({ length: nTips }, (_, i) => (i % 2)),
  ];
}

function masksFor(tree: FlatTree): Uint8Array[] {
  return tree.nTips <= 6 ? allMasks(tree.nTips) : someMasks(tree.nTips);
}

Deno.test("k = 1 equals the likelihood of the all-absent column", () => {
  for (const { name, tree } of smallTrees()) {
    const masks = masksFor(tree);
    // Pattern per mask: 0 where observed, 2 (missing) elsewhere.
    const states = new Uint8Array(masks.length * tree.nTips);
    masks.forEach((m, p) => m.forEach((o, i) => states[p * tree.nTips + i] = o === 1 ? 0 : 2));
    using backend = new TsBackend(tree, states, masks.length);
    for (const [gain, loss] of RATE_SETS) {
      const { logLik, grad } = backend.evaluate(Float64Array.of(gain, loss), { gradient: true });
      masks.forEach((mask, p) => {
        const r = probFewerThanPresent(tree, mask, 1, gain, loss);
        // Two pruning implementations with the same products in a different order: a few
        // ulps per node, well below 1e-13 for these small trees.
        assertClose(
          [r.logProb, r.dLogGain, r.dLogLoss],
          [logLik[p], grad![2 * p], grad![2 * p + 1]],
          1e-13,
          `${name}, mask ${mask.join("")}, (${gain}, ${loss})`,
        );
      });
    }
  }
});

Deno.test("P(fewer than k present) equals brute-force enumeration for every k", () => {
  for (const { name, tree } of smallTrees()) {
    for (const mask of masksFor(tree)) {
      const nObserved = mask.reduce((a, b) => a + b, 0);
      for (const [gain, loss] of RATE_SETS) {
        for (let k = 1; k <= nObserved + 1; k++) {
          const r = probFewerThanPresent(tree, mask, k, gain, loss);
          const expected = Math.log(bruteForceFewerThan(tree, mask, k, gain, loss));
          // Both sides add positive terms only: relative error ~1e-14 in P, i.e. ~1e-14
          // absolute in log P; the brute force's 1 - exp(-s t) costs at most ~1e-14 more
          // (s t >= 0.0125). 1e-12 leaves 100x margin.
          assertClose(r.logProb, expected, 1e-12, `${name}, mask ${mask.join("")}, k ${k}`);
        }
      }
    }
  }
});

Deno.test("derivatives match finite differences of the brute force", () => {
  // Central differences with h = 1e-5 in log(rate): truncation ~h^2 |f'''| / 6 ~ 1e-10 and
  // rounding ~1e-16 |log P| / h ~ 1e-10; 1e-7 catches any wrong derivative term.
  const h = 1e-5;
  for (const { name, tree } of smallTrees()) {
    for (const mask of masksFor(tree).slice(-4)) {
      const nObserved = mask.reduce((a, b) => a + b, 0);
      for (const [gain, loss] of RATE_SETS) {
        for (let k = 1; k <= nObserved; k++) {
          const r = probFewerThanPresent(tree, mask, k, gain, loss);
          const f = (g: number, l: number) => Math.log(bruteForceFewerThan(tree, mask, k, g, l));
          const fg = (f(gain * Math.exp(h), loss) - f(gain * Math.exp(-h), loss)) / (2 * h);
          const fl = (f(gain, loss * Math.exp(h)) - f(gain, loss * Math.exp(-h))) / (2 * h);
          assertClose([r.dLogGain, r.dLogLoss], [fg, fl], 1e-7, `${name}, k ${k}`);

          const o = logProbObservable(tree, mask, k, gain, loss);
          const fo = (g: number, l: number) =>
            Math.log(bruteForcePresentCounts(tree, mask, g, l).slice(k).reduce((a, b) => a + b));
          const og = (fo(gain * Math.exp(h), loss) - fo(gain * Math.exp(-h), loss)) / (2 * h);
          const ol = (fo(gain, loss * Math.exp(h)) - fo(gain, loss * Math.exp(-h))) / (2 * h);
          // log(1 - P) can be steeper (when 1 - P is small), so |f'''| and the rounding term
          // grow; 1e-6 relative to max(1, |derivative|) is still far below a formula error.
          assertClose([o.dLogGain, o.dLogLoss], [og, ol], 1e-6, `${name}, k ${k} observable`);
        }
      }
    }
  }
});

Deno.test("logProbObservable equals the brute-force sum over columns with >= k present", () => {
  // Slow gain makes P(fewer than k) close to 1 (1 - P down to ~1e-11): the complement must be
  // computed without cancellation. Through log(-expm1(log P)) the error would be ~1e-16 / (1 - P),
  // up to ~1e-5 here.
  const sets: [number, number][] = [...RATE_SETS, [1e-4, 1], [1e-6, 0.5], [1e-9, 1]];
  for (const { name, tree } of smallTrees()) {
    for (const mask of masksFor(tree)) {
      const nObserved = mask.reduce((a, b) => a + b, 0);
      for (const [gain, loss] of sets) {
        const counts = bruteForcePresentCounts(tree, mask, gain, loss);
        for (let k = 1; k <= nObserved; k++) {
          const expected = Math.log(counts.slice(k).reduce((a, b) => a + b));
          const o = logProbObservable(tree, mask, k, gain, loss);
          // Both sides add positive terms only (no subtraction anywhere): relative error
          // ~1e-14 in the probability, so ~1e-14 absolute in its log; 1e-12 leaves margin.
          assertClose(o.logProb, expected, 1e-12, `${name}, mask ${mask.join("")}, k ${k}`);
        }
      }
      // With fewer than k observed tips nothing is observable.
      assert.equal(logProbObservable(tree, mask, nObserved + 1, 0.5, 1).logProb, -Infinity);
    }
  }
});

Deno.test("scaling: a 5,000-tip caterpillar against sums of single-column likelihoods", () => {
  const tree = caterpillar(5000);
  const nTips = tree.nTips;
  // A quarter of the tips observed (keeps the number of reference columns down).
  const mask = Uint8Array.from({ length: nTips }, (_, i) => (i % 4 === 1 ? 1 : 0));
  // P(fewer than 2 present) = P(none present) + sum over observed tips i of P(only i present):
  // one column each, evaluated by TsBackend (itself checked against a log-space pruning).
  const observed = [...mask.keys()].filter((i) => mask[i] === 1);
  const nPatterns = 1 + observed.length;
  const states = new Uint8Array(nPatterns * nTips);
  for (let p = 0; p < nPatterns; p++) {
    for (let i = 0; i < nTips; i++) states[p * nTips + i] = mask[i] === 1 ? 0 : 2;
    if (p > 0) states[p * nTips + observed[p - 1]] = 1;
  }
  using backend = new TsBackend(tree, states, nPatterns);
  const [gain, loss] = [1.5, 0.5]; // mostly present: few-present columns are improbable
  const { logLik, grad } = backend.evaluate(Float64Array.of(gain, loss), { gradient: true });
  const max = Math.max(...logLik);
  let sum = 0, sg = 0, sl = 0;
  for (let p = 0; p < nPatterns; p++) {
    const w = Math.exp(logLik[p] - max);
    sum += w;
    sg += w * grad![2 * p];
    sl += w * grad![2 * p + 1];
  }
  const expected = max + Math.log(sum);
  assert.ok(expected < -745, `the plain probability would underflow (log P = ${expected})`);
  const r2 = probFewerThanPresent(tree, mask, 2, gain, loss);
  // ~10^4 nodes of a few ulps each, and a sum of 1,251 positive terms: ~1e-12 absolute in the
  // log, below 1e-14 relative at |log P| ~ 600; 1e-12 relative is generous.
  assertClose(r2.logProb, expected, 1e-12, "k = 2 log P");
  // Derivatives: weighted means of per-column gradients; values in the hundreds, so
  // cancellation in the weighted sum costs at most ~1e-13 relative.
  assertClose([r2.dLogGain, r2.dLogLoss], [sg / sum, sl / sum], 1e-10, "k = 2 derivatives");
  const r1 = probFewerThanPresent(tree, mask, 1, gain, loss);
  // As above, one column.
  assertClose(
    [r1.logProb, r1.dLogGain, r1.dLogLoss],
    [logLik[0], grad![0], grad![1]],
    1e-12,
    "k = 1",
  );
  // k = number of observed tips: P(at least k) is the probability of the column with every
  // observed tip present (log ~ -10^3, so the "k or more" entry needs its own scaling).
  const full = new Uint8Array(nTips);
  for (let i = 0; i < nTips; i++) full[i] = mask[i] === 1 ? 1 : 2;
  using one = new TsBackend(tree, full, 1);
  const allPresent = one.evaluate(Float64Array.of(0.5, 1.5), { gradient: true });
  assert.ok(allPresent.logLik[0] < -745, `log P(all present) = ${allPresent.logLik[0]}`);
  const rk = logProbObservable(tree, mask, observed.length, 0.5, 1.5);
  // As for k = 1.
  assertClose(
    [rk.logProb, rk.dLogGain, rk.dLogLoss],
    [allPresent.logLik[0], allPresent.grad![0], allPresent.grad![1]],
    1e-12,
    "k = all observed",
  );
  // Observable with k = 2: P(fewer than 2) is astronomically small, so P(at least 2) is 1 up
  // to the rounding of ~10^4 node sums: |log| ~1e-13 at most.
  const o = logProbObservable(tree, mask, 2, gain, loss);
  assert.ok(Math.abs(o.logProb) < 1e-12, `log P(at least 2) = ${o.logProb}`);
});

Deno.test("invalid k, mask and rates throw a GenecontentError naming the value", () => {
  const tree = smallTrees()[2].tree;
  const mask = new Uint8Array(tree.nTips).fill(1);
  const gc = (re: RegExp) => (e: unknown) => e instanceof GenecontentError && re.test(e.message);
  assert.throws(() => probFewerThanPresent(tree, mask, 0, 1, 1), gc(/got 0/));
  assert.throws(() => probFewerThanPresent(tree, mask, 1.5, 1, 1), gc(/1\.5/));
  assert.throws(() => probFewerThanPresent(tree, mask, 1, -1, 1), gc(/-1/));
  assert.throws(() => probFewerThanPresent(tree, mask, 1, 1, NaN), gc(/NaN/));
  assert.throws(() => probFewerThanPresent(tree, new Uint8Array(3), 1, 1, 1), gc(/3 entries/));
  assert.throws(
    () => probFewerThanPresent(tree, Uint8Array.of(1, 2, 1, 1), 1, 1, 1),
    gc(/value 2/),
  );
  assert.throws(() => logProbObservable(tree, mask, 1, 0, 1), gc(/gain rate .* got 0/));
});
