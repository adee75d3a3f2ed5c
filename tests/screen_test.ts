// The per-family screen: Benjamini-Hochberg q-values against a direct O(m^2) computation and
// R's p.adjust values worked by hand; every family's LRT, estimate and profile interval against
// an independent one-dimensional optimisation of that family alone (a scan and golden-section
// search on a one-family ModelLikelihood at the background's values with the channel's rates
// multiplied, TypeScript backend) under null and gamma4 backgrounds; families simulated with
// exp(theta) = 5 found among null families; and the calibration: the rejection fractions of
// null families (p < 0.05, q < 0.1) within the binomial 99% margin overall and per prevalence
// class.
import assert from "node:assert/strict";
import { benjaminiHochberg } from "../lib/effects/fdr.ts";
import {
  calibratedPValues,
  screenFamilies,
  screenPatterns,
  screenPatternsBoth,
  THETA_BOUND,
} from "../lib/effects/screen.ts";
import { GenecontentError } from "../lib/errors.ts";
import { chiSquareSurvival } from "../lib/fit/chi_square.ts";
import { fitModel } from "../lib/fit/fit_model.ts";
import { modelObjective } from "../lib/fit/objective.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { type ModelDescription, modelParameters, parseModel } from "../lib/model/description.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { SCREEN_CLASSES } from "../lib/diagnostics/prevalence_classes.ts";

Deno.test("benjaminiHochberg: R's p.adjust(p, 'BH') on small vectors, worked by hand", () => {
  // Sorted 0.01, 0.03, 0.04, 0.5 (m = 4): m p / i = 0.04, 0.06, 0.0533.., 0.5; the running
  // minimum from the top gives 0.04, 0.0533.., 0.0533.., 0.5.
  const q = benjaminiHochberg([0.01, 0.04, 0.03, 0.5]);
  const expected = [0.04, 0.16 / 3, 0.16 / 3, 0.5];
  // Each value is one product and one division of doubles: a few ulps.
  expected.forEach((e, i) => assert.ok(Math.abs(q[i] - e) < 1e-15, `${i}: ${q[i]} vs ${e}`));
  // m p_(i) / i = 0.05 for every i.
  assert.deepEqual(
    Array.from(benjaminiHochberg([0.05, 0.04, 0.03, 0.02, 0.01]), (x) => Math.round(x * 1e12)),
    [5e10, 5e10, 5e10, 5e10, 5e10],
  );
  // Ties share the q-value of their last rank: 3 * 0.02 / 2 = 0.03.
  assert.deepEqual(Array.from(benjaminiHochberg([0.02, 0.5, 0.02])), [0.03, 0.5, 0.03]);
  // Capped at 1: 2 * 0.9 / 1 = 1.8 is lowered to the running minimum 0.95.
  assert.deepEqual(Array.from(benjaminiHochberg([0.9, 0.95])), [0.95, 0.95]);
  assert.deepEqual(Array.from(benjaminiHochberg([1])), [1]);
  assert.deepEqual(Array.from(benjaminiHochberg([])), []);
});

Deno.test("benjaminiHochberg: equals the direct minimum over larger p-values, and is monotone", () => {
  const rng = new Random(11);
  for (const m of [1, 7, 50, 300]) {
    // With ties: p on a grid of 40 values.
    const p = Array.from({ length: m }, () => rng.int(41) / 40);
    const q = benjaminiHochberg(p);
    for (let i = 0; i < m; i++) {
      // q_i = min over j with p_j >= p_i of min(1, m p_j / rank_j), rank_j = #{k : p_k <= p_j}.
      let direct = 1;
      for (let j = 0; j < m; j++) {
        if (p[j] < p[i]) continue;
        const rank = p.filter((x) => x <= p[j]).length;
        direct = Math.min(direct, (m * p[j]) / rank);
      }
      // The same division of the same doubles.
      assert.ok(Math.abs(q[i] - direct) < 1e-15, `m ${m}, ${i}: ${q[i]} vs ${direct}`);
      for (let j = 0; j < m; j++) if (p[j] <= p[i]) assert.ok(q[j] <= q[i]);
    }
  }
});

Deno.test("benjaminiHochberg: NaN and values outside [0, 1] are refused with their index", () => {
  assert.throws(
    () => benjaminiHochberg([0.1, NaN]),
    (e: Error) => e instanceof GenecontentError && /P-value 2 of 2 is NaN/.test(e.message),
  );
  assert.throws(() => benjaminiHochberg([1.5]), GenecontentError);
  assert.throws(() => benjaminiHochberg([-0.1]), GenecontentError);
});

/** The background's values with every `channel` rate parameter multiplied by exp(theta). */
function scaled(model: ModelDescription, values: Float64Array, channel: string, theta: number) {
  const specs = modelParameters(model);
  const re = channel === "loss" ? /^loss\d*$/ : /^gain\d*$/;
  return Float64Array.from(values, (x, i) => re.test(specs[i].name) ? x * Math.exp(theta) : x);
}

/**
 * The independent reference: l(theta) of one column alone, from a one-family ModelLikelihood at
 * the scaled background (TypeScript backend), maximised by a scan at step 0.1 over the bound
 * and golden-section search in the best point's neighbourhood; the ends of the interval's hull
 * by bisection.
 */
function reference(
  tree: FlatTree,
  patterns: SitePatterns,
  p: number,
  model: ModelDescription,
  values: Float64Array,
  channel: string,
) {
  const row = patterns.states.slice(p * tree.nTips, (p + 1) * tree.nTips);
  using lik = new ModelLikelihood(
    tree,
    compressPatterns(row, 1, tree.nTips, ["f"]),
    tsBackendFactory,
    model,
  );
  const f = (t: number) => lik.evaluate(scaled(model, values, channel, t)).logLik;
  let best = -THETA_BOUND, bestValue = -Infinity;
  const scan = new Float64Array(241);
  for (let k = 0; k <= 240; k++) {
    const t = -THETA_BOUND + k * 0.1;
    const v = scan[k] = f(t);
    if (v > bestValue) [best, bestValue] = [t, v];
  }
  let a = Math.max(-THETA_BOUND, best - 0.1), b = Math.min(THETA_BOUND, best + 0.1);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a), d = a + g * (b - a), fc = f(c), fd = f(d);
  while (b - a > 1e-9) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  const x = (a + b) / 2;
  const top = Math.max(f(x), bestValue);
  const theta = f(x) >= bestValue ? x : best;
  const target = top - 3.841458820694124 / 2; // chi2_1(0.95) / 2
  // The interval's hull: from the bound inwards, the first scanned point at or above the
  // target (or theta-hat) and the scanned point outside it bracket the end, found by bisection.
  const end = (direction: -1 | 1) => {
    const out = direction * THETA_BOUND;
    if (f(out) >= target) return out;
    let k = direction > 0 ? 240 : 0;
    const at = (k: number) => -THETA_BOUND + k * 0.1;
    while ((at(k) - theta) * direction > 0 && !(scan[k] >= target)) k -= direction;
    let outside = at(k + direction);
    let inside = (at(k) - theta) * direction > 0 ? at(k) : theta;
    for (let it = 0; it < 60; it++) {
      const mid = (inside + outside) / 2;
      if (f(mid) >= target) inside = mid;
      else outside = mid;
    }
    return (inside + outside) / 2;
  };
  return { theta, lrt: 2 * (top - f(0)), low: end(-1), high: end(1) };
}

function simulated(
  tree: FlatTree,
  model: ModelDescription,
  truth: Record<string, number>,
  n: number,
  seed: number,
) {
  const sim = simulateModel(tree, model, truth, { nFamilies: n, seed });
  const names = Array.from({ length: n }, (_, i) => `f${i + 1}`);
  return compressPatterns(sim.states, n, tree.nTips, names);
}

for (
  const [name, truth, channel] of [
    ["null", { gain: 0.5, loss: 2 }, "loss"],
    ["gamma4", { gain: 0.5, loss: 2, alpha: 0.7 }, "loss"],
    ["gamma4", { gain: 0.5, loss: 2, alpha: 0.7 }, "gain"],
  ] as const
) {
  Deno.test(`screenPatterns (${name}, ${channel}): LRT, estimate and interval of every family equal the independent 1-D optimisation`, () => {
    const model = parseModel(name);
    const tree = yuleTree(24, new Random(3), { height: 1 });
    const patterns = simulated(tree, model, truth, 120, 5);
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model);
    const fit = fitModel(modelObjective(lik), { level: null });
    const all = Uint32Array.from({ length: patterns.nPatterns }, (_, p) => p);
    const s = screenPatterns(lik, all, channel, fit.values);
    let worst = 0;
    let bounded = 0;
    for (let p = 0; p < patterns.nPatterns; p += 3) {
      const r = reference(tree, patterns, p, model, fit.values, channel);
      // The brief's precision: the LRT to 1e-6 (the reference is converged to ~1e-12 in l).
      assert.ok(Math.abs(s.lrt[p] - r.lrt) < 1e-6, `pattern ${p}: LRT ${s.lrt[p]} vs ${r.lrt}`);
      worst = Math.max(worst, Math.abs(s.lrt[p] - r.lrt));
      if (Math.abs(r.theta) < THETA_BOUND - 1e-6) {
        // theta-hat is flat to second order: an error d in theta moves l by l'' d^2 / 2, and
        // the reference's golden section stops at 1e-9 in theta: 1e-5 is well resolved.
        assert.ok(
          Math.abs(s.theta[p] - r.theta) < 1e-5,
          `pattern ${p}: ${s.theta[p]} vs ${r.theta}`,
        );
      } else {
        bounded++;
        assert.equal(s.atBound[p], Math.sign(r.theta));
        assert.equal(s.theta[p], r.theta);
      }
      // Interval ends cross at slope |l'| > 0: 1e-6 in theta is far above the 1e-9 value error.
      assert.ok(Math.abs(s.low[p] - r.low) < 1e-6, `pattern ${p}: low ${s.low[p]} vs ${r.low}`);
      assert.ok(
        Math.abs(s.high[p] - r.high) < 1e-6,
        `pattern ${p}: high ${s.high[p]} vs ${r.high}`,
      );
      assert.equal(s.openLow[p], r.low === -THETA_BOUND ? 1 : 0);
      assert.equal(s.openHigh[p], r.high === THETA_BOUND ? 1 : 0);
    }
    console.log(
      `${name} ${channel}: max |LRT - reference| ${worst.toExponential(2)}, ` +
        `${bounded} estimates at the bound, ${s.calls} calls for ${patterns.nPatterns} patterns`,
    );
  });
}

/** Binomial 99.5% quantile: the largest count a Binomial(n, a) exceeds with probability < 0.5%. */
function binomialUpper(n: number, a: number): number {
  let logP = n * Math.log1p(-a);
  let cdf = Math.exp(logP);
  let k = 0;
  while (cdf < 0.995 && k < n) {
    logP += Math.log((n - k) / (k + 1)) + Math.log(a / (1 - a));
    k++;
    cdf += Math.exp(logP);
  }
  return k;
}

Deno.test("screenFamilies: families simulated with exp(theta) = 5 are found (q < 0.1) among null families", () => {
  // A prevalent, slowly changing background on 150 genomes: a loss multiplier of 5 moves a
  // family from about 80% to about 45% present with many more losses, an LRT of about 20.
  const model = parseModel("null");
  const tree = yuleTree(150, new Random(3), { height: 1 });
  const nNull = 300, nEffect = 10;
  const a = simulateModel(tree, model, { gain: 2, loss: 0.5 }, { nFamilies: nNull, seed: 5 });
  const b = simulateModel(tree, model, { gain: 2, loss: 2.5 }, { nFamilies: nEffect, seed: 6 });
  const rows = new Uint8Array((nNull + nEffect) * tree.nTips);
  rows.set(a.states);
  rows.set(b.states, nNull * tree.nTips);
  const names = Array.from(
    { length: nNull + nEffect },
    (_, i) => i < nNull ? `null${i}` : `effect${i - nNull}`,
  );
  const patterns = compressPatterns(rows, nNull + nEffect, tree.nTips, names);
  const open = (p: SitePatterns) => new ModelLikelihood(tree, p, tsBackendFactory, model);
  using lik = open(patterns);
  const fit = fitModel(modelObjective(lik), { level: null });
  const r = screenFamilies(lik, patterns, {
    tree,
    model,
    values: fit.values,
    window: lik.window,
    completeness: null,
    open,
  }, { calibration: 1000, seed: 9 });
  const effects = r.families.slice(nNull);
  const found = effects.filter((f) => f.q < 0.1);
  const covered = effects.filter((f) => f.thetaCI[0] <= Math.log(5) && Math.log(5) <= f.thetaCI[1]);
  const falseFound = r.families.slice(0, nNull).filter((f) => f.q < 0.1).length;
  console.log(
    effects.map((f) =>
      `${f.family} theta ${f.theta.toFixed(2)} lrt ${f.lrt.toFixed(1)} q ${f.q.toExponential(1)}`
    ).join("\n"),
  );
  // With LRTs near 20 each effect family has power about 0.9 at this q: 7 of 10 is the floor
  // that a correct screen clears with probability above 0.98, and at most 10% of the
  // discoveries (with a margin of 2 families) may be null families.
  assert.ok(found.length >= 7, `${found.length} of ${nEffect} found`);
  assert.ok(falseFound <= Math.ceil(0.1 * (found.length + falseFound)) + 2, `${falseFound} false`);
  // 95% intervals: 7 of 10 covering is the 1.2% lower tail of Binomial(10, 0.95).
  assert.ok(covered.length >= 7, `${covered.length} of ${nEffect} intervals cover log 5`);
  for (const f of found) assert.ok(f.theta > 0 && f.p <= f.pEmpirical!);
});

Deno.test("screenFamilies: calibrated p-values of null families within the binomial 99% margin per prevalence class", () => {
  // Null data simulated under a gamma4 background (rates from very slow to fast: every class
  // is populated), the background fitted to them, and 4,000 calibration families.
  const model = parseModel("gamma4");
  const tree = yuleTree(20, new Random(21), { height: 1 });
  const patterns = simulated(tree, model, { gain: 0.6, loss: 0.6, alpha: 0.4 }, 2500, 22);
  const open = (p: SitePatterns) => new ModelLikelihood(tree, p, tsBackendFactory, model);
  using lik = open(patterns);
  const fit = fitModel(modelObjective(lik), { level: null });
  const r = screenFamilies(lik, patterns, {
    tree,
    model,
    values: fit.values,
    window: lik.window,
    completeness: null,
    open,
  }, { calibration: 4000, seed: 23 });
  const lines: string[] = [];
  for (const cls of [...SCREEN_CLASSES, "all"]) {
    const fam = r.families.filter((f) => cls === "all" || f.prevalenceClass === cls);
    const n = fam.length;
    assert.ok(n >= 100, `class ${cls} has ${n} families`);
    const p05 = fam.filter((f) => f.p < 0.05).length;
    const q10 = fam.filter((f) => f.q < 0.1).length;
    const asym = fam.filter((f) => f.pAsymptotic < 0.05).length;
    lines.push(
      `${cls}: n ${n}, p < 0.05 ${(p05 / n).toFixed(3)} (asymptotic ${
        (asym / n).toFixed(3)
      }), q < 0.1 ${(q10 / n).toFixed(3)}, bound ${(binomialUpper(n, 0.05) / n).toFixed(3)}`,
    );
    assert.ok(p05 <= binomialUpper(n, 0.05), `${cls}: ${p05} of ${n} with p < 0.05`);
    assert.ok(q10 <= binomialUpper(n, 0.1), `${cls}: ${q10} of ${n} with q < 0.1`);
  }
  console.log(lines.join("\n"));
});

Deno.test("calibratedPValues: empirical within the pool, pooled counts, and the anchored tail", () => {
  // Pool of count 3: 999 null LRTs 0, 0.01, ..., 9.98.
  const nullLrt = Float64Array.from({ length: 999 }, (_, i) => i / 100);
  const counts = new Int32Array(999).fill(3);
  const r = calibratedPValues(
    Float64Array.of(0, 5, 9.985, 30),
    Int32Array.of(3, 3, 3, 3),
    nullLrt,
    counts,
  );
  assert.equal(r.p[0], 1); // every null LRT >= 0
  assert.equal(r.p[1], 500 / 1000); // 5.00 .. 9.98: 499 values
  // 9.985 is exceeded by none: the empirical p is 1 / 1000; the tail anchored at the 10th
  // largest null LRT (9.89) is 11 / 1000 * S(9.985) / S(9.89), about 0.0105, above it.
  assert.equal(r.empirical[2], 1 / 1000);
  assert.equal(r.p[2], 1 / 1000);
  // At 30 the anchored tail is far below the empirical floor.
  const tail = (11 / 1000) * chiSquareSurvival(30, 1) / chiSquareSurvival(9.89, 1);
  // The same operations on the same doubles up to the anchor's representation (9.89 = 989 / 100).
  assert.ok(Math.abs(r.p[3] / tail - 1) < 1e-12, `${r.p[3]} vs ${tail}`);
  assert.equal(r.empirical[3], 1 / 1000);
  // A count with fewer than 200 null families is pooled with its neighbours: count 10 has 5,
  // counts 8 .. 12 hold 5 + 300 after widening by 2 (count 12 has 300).
  const nl = new Float64Array(305), nc = new Int32Array(305);
  nc.fill(10, 0, 5);
  nc.fill(12, 5);
  nl.fill(1);
  const s = calibratedPValues(Float64Array.of(0.5), Int32Array.of(10), nl, nc);
  assert.equal(s.poolSize[0], 305);
  assert.equal(s.p[0], 306 / 306);
  // Widening stops 2 counts out (MAX_WIDEN) with at least 10 (TAIL_COUNT) in the pool: 15
  // null families at count 10 and 300 at count 20 give a pool of the 15.
  const ml = new Float64Array(315).fill(1), mc = new Int32Array(315).fill(20);
  mc.fill(10, 0, 15);
  ml.fill(0, 0, 15);
  const w = calibratedPValues(Float64Array.of(0.5), Int32Array.of(10), ml, mc);
  assert.equal(w.poolSize[0], 15);
  assert.equal(w.p[0], 1 / 16);
  // With classes, only the family's class is pooled: class 1 holds the 300.
  const classes = { real: Uint8Array.of(0), null: Uint8Array.from(mc, (c) => (c === 20 ? 1 : 0)) };
  const z = calibratedPValues(Float64Array.of(0.5), Int32Array.of(20), ml, mc, 1, {
    real: Uint8Array.of(1),
    null: classes.null,
  });
  assert.equal(z.poolSize[0], 300);
  assert.equal(z.p[0], 301 / 301);
});

Deno.test("screenPatternsBoth: the joint LRT (2 df) of every family equals an independent 2-D optimisation", () => {
  const model = parseModel("null");
  const tree = yuleTree(16, new Random(3), { height: 1 });
  const patterns = simulated(tree, model, { gain: 0.5, loss: 2 }, 60, 5);
  using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model);
  const fit = fitModel(modelObjective(lik), { level: null });
  const all = Uint32Array.from({ length: patterns.nPatterns }, (_, p) => p);
  const s = screenPatternsBoth(lik, all, model, fit.values);
  const clamp = (x: number) => Math.max(-THETA_BOUND, Math.min(THETA_BOUND, x));
  const golden = (g: (x: number) => number, lo: number, hi: number) => {
    const r = (Math.sqrt(5) - 1) / 2;
    let c = hi - r * (hi - lo), d = lo + r * (hi - lo), fc = g(c), fd = g(d);
    while (hi - lo > 1e-10) {
      if (fc > fd) {
        hi = d;
        d = c;
        fd = fc;
        c = hi - r * (hi - lo);
        fc = g(c);
      } else {
        lo = c;
        c = d;
        fc = fd;
        d = lo + r * (hi - lo);
        fd = g(d);
      }
    }
    return (lo + hi) / 2;
  };
  let worst = 0;
  for (let p = 0; p < patterns.nPatterns; p += 6) {
    // Reference: a scan of (gain, loss) multipliers at step 1, then golden-section line
    // searches in shrinking windows (25 sweeps).
    const row = patterns.states.slice(p * tree.nTips, (p + 1) * tree.nTips);
    using one = new ModelLikelihood(
      tree,
      compressPatterns(row, 1, tree.nTips, ["f"]),
      tsBackendFactory,
      model,
    );
    const f = (a: number, b: number) =>
      one.evaluate(Float64Array.of(fit.values[0] * Math.exp(a), fit.values[1] * Math.exp(b)))
        .logLik;
    let ba = 0, bb = 0, bv = -Infinity;
    for (let a = -THETA_BOUND; a <= THETA_BOUND; a++) {
      for (let b = -THETA_BOUND; b <= THETA_BOUND; b++) {
        const v = f(a, b);
        if (v > bv) [ba, bb, bv] = [a, b, v];
      }
    }
    // Line searches along the axes and both diagonals (ridges where gain and loss move
    // together are common), each within [-w, w] clipped to the bounds.
    let w = 1;
    for (let it = 0; it < 25; it++) {
      for (
        const [u, v] of [[1, 0], [0, 1], [Math.SQRT1_2, Math.SQRT1_2], [
          Math.SQRT1_2,
          -Math.SQRT1_2,
        ]]
      ) {
        let lo = -w, hi = w;
        for (const [x, d] of [[ba, u], [bb, v]]) {
          if (d === 0) continue;
          const t1 = (-THETA_BOUND - x) / d, t2 = (THETA_BOUND - x) / d;
          lo = Math.max(lo, Math.min(t1, t2));
          hi = Math.min(hi, Math.max(t1, t2));
        }
        const t = golden((t) => f(ba + t * u, bb + t * v), lo, hi);
        if (f(ba + t * u, bb + t * v) > f(ba, bb)) {
          [ba, bb] = [clamp(ba + t * u), clamp(bb + t * v)];
        }
      }
      w = Math.max(0.02, w * 0.7);
    }
    const lrt = 2 * (Math.max(f(ba, bb), bv) - f(0, 0));
    // The brief's precision for the LRT (the reference converges to ~1e-10 in l).
    assert.ok(Math.abs(s.lrt[p] - lrt) < 1e-6, `pattern ${p}: ${s.lrt[p]} vs ${lrt}`);
    worst = Math.max(worst, Math.abs(s.lrt[p] - lrt));
  }
  console.log(`both: max |LRT - reference| ${worst.toExponential(2)}, ${s.calls} calls`);
});
