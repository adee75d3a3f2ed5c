import { simulateLikeData } from "../lib/simulate/like_data.ts";
import assert from "node:assert/strict";
import {
  expectedSpectrum,
  kernelSetup,
  logCountProbabilities,
  maskGroups,
  observedSpectrum,
  pooledPearson,
  prevalenceComparison,
  spectrumFit,
} from "../lib/diagnostics/spectrum.ts";
import {
  countPrevalenceClasses,
  PREVALENCE_TABLE,
  prevalenceClass,
  screenClass,
} from "../lib/diagnostics/prevalence_classes.ts";
import { GenecontentError } from "../lib/errors.ts";
import { chiSquareSurvival } from "../lib/fit/chi_square.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { ObservableWindow } from "../lib/likelihood/observable.ts";
import {
  type Ascertainment,
  type ModelDescription,
  modelParameters,
  parseModel,
} from "../lib/model/description.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { simulationComponents } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { bruteForceLikelihood } from "./support/brute_force.ts";
import {
  binomialInterval,
  CALIBRATION_CASE,
  ksDistance,
  runCalibration,
} from "../scripts/calibrate_gof.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

/** Asserts that `f` throws a GenecontentError whose message contains `text`. */
function throwsInput(f: () => unknown, _type: unknown, text: string): void {
  assert.throws(f, (e: unknown) => e instanceof GenecontentError && e.message.includes(text));
}

// ((a:0.3,b:0.2):0.15,(c:0.4,(d:0.1,e:0.25):0.2):0.05);
const TREE = flatTreeFromParents(
  ["a", "b", "c", "d", "e"],
  [5, 5, 7, 6, 6, 8, 7, 8, -1],
  [0.3, 0.2, 0.4, 0.1, 0.25, 0.15, 0.2, 0.05, 0],
);

/**
 * Brute force: every recorded column of the observed tips, each the sum over every true tip
 * state (bruteForceLikelihood sums internal and missing nodes) of the true column's probability
 * times the recording probabilities; components from `simulationComponents` (the simulator's
 * own weights and rates, not the likelihood's `expandModel`).
 */
function bruteCountProbabilities(
  tree: FlatTree,
  mask: ArrayLike<number>,
  model: ModelDescription,
  values: number[],
  completeness: number[] | null,
): number[] {
  const n = tree.nTips;
  const named: Record<string, number> = {};
  modelParameters(model).forEach((p, i) => (named[p.name] = values[i]));
  const ep = model.tipError ? named.falsePresence : 0;
  const fa = model.tipError ? named.falseAbsence : 0;
  const em = Array.from({ length: n }, (_, i) => 1 - (1 - fa) * (completeness?.[i] ?? 1));
  const obs = Array.from({ length: n }, (_, i) => i).filter((i) => mask[i] === 1);
  const out = new Array(n + 1).fill(0);
  const record = (truth: number, rec: number, i: number) =>
    truth === 1 ? (rec === 1 ? 1 - em[i] : em[i]) : (rec === 1 ? ep : 1 - ep);
  for (const comp of simulationComponents(model, values)) {
    for (let r = 0; r < 2 ** obs.length; r++) {
      const rec = obs.map((_, j) => (r >> j) & 1);
      const k = rec.reduce((a, b) => a + b, 0);
      let p = 0;
      if (comp.invariant) {
        p = obs.reduce((acc, i, j) => acc * record(1, rec[j], i), 1);
      } else {
        for (let t = 0; t < 2 ** obs.length; t++) {
          const truth = new Array(n).fill(2);
          obs.forEach((i, j) => (truth[i] = (t >> j) & 1));
          let q = bruteForceLikelihood(tree, truth, comp.gain, comp.loss);
          obs.forEach((i, j) => (q *= record(truth[i], rec[j], i)));
          p += q;
        }
      }
      out[k] += comp.weight * p;
    }
  }
  return out;
}

function bruteExpected(
  tree: FlatTree,
  rows: number[][],
  model: ModelDescription,
  values: number[],
  window: Ascertainment,
  completeness: number[] | null,
): number[] {
  const n = tree.nTips;
  const out = new Array(n + 1).fill(0);
  const hi = window.maxPresent ?? n;
  for (const row of rows) {
    const probs = bruteCountProbabilities(
      tree,
      row.map((s) => (s === 2 ? 0 : 1)),
      model,
      values,
      completeness,
    );
    let inside = 0;
    for (let k = window.minPresent; k <= hi; k++) inside += probs[k];
    for (let k = window.minPresent; k <= hi; k++) out[k] += probs[k] / inside;
  }
  return out;
}

function patternsOf(rows: number[][]): SitePatterns {
  return compressPatterns(
    Uint8Array.from(rows.flat()),
    rows.length,
    rows[0].length,
    rows.map((_, f) => `fam${f + 1}`),
  );
}

// Families inside every window used below (1 to 4 present among the observed genomes, at least
// 2 present), with missing cells in three masks, and one family present wherever observed (so
// +inv is informed without +error).
const ROWS = [
  [1, 1, 0, 0, 0],
  [1, 1, 1, 1, 1].map((x, i) => (i === 4 ? 2 : x)), // present in all 4 observed
  [0, 1, 1, 2, 0],
  [1, 0, 1, 1, 0],
  [1, 1, 0, 0, 0],
  [2, 1, 1, 0, 2],
  [0, 0, 1, 1, 1],
];

const CASES: { model: string; values: number[]; completeness?: number[] }[] = [
  { model: "null", values: [0.7, 1.3] },
  { model: "gamma3", values: [0.6, 1.1, 0.7] },
  { model: "mixture2", values: [0.2, 0.5, 3, 2, 0.35] },
  { model: "null+inv", values: [0.5, 1.5, 0.2] },
  { model: "gamma2+inv+error", values: [0.4, 0.9, 1.4, 0.15, 0.03, 0.08] },
  { model: "mixture2+error", values: [0.3, 0.8, 2, 1.5, 0.6, 0.02, 0.1] },
  { model: "null", values: [0.7, 1.3], completeness: [0.9, 1, 0.7, 1, 0.95] },
  {
    model: "gamma2+inv+error",
    values: [0.5, 1, 0.8, 0.1, 0.04, 0.05],
    completeness: [1, 0.8, 1, 0.9, 1],
  },
];

const WINDOWS: Ascertainment[] = [
  { minPresent: 1, maxPresent: null },
  { minPresent: 2, maxPresent: null },
  { minPresent: 1, maxPresent: 4 },
  { minPresent: 0, maxPresent: null },
];

Deno.test("expected spectrum equals brute-force enumeration for every model, window and mask", () => {
  for (const c of CASES) {
    const model = parseModel(c.model);
    for (const window of WINDOWS) {
      const rows = window.minPresent === 2
        ? ROWS.filter((r) => r.filter((x) => x === 1).length >= 2)
        : ROWS;
      const completeness = c.completeness ? Float64Array.from(c.completeness) : null;
      using lik = new ModelLikelihood(TREE, patternsOf(rows), tsBackendFactory, model, window, {
        completeness,
      });
      const got = expectedSpectrum(lik, Float64Array.from(c.values), { completeness });
      const want = bruteExpected(TREE, rows, model, c.values, window, c.completeness ?? null);
      const what = `${c.model}${c.completeness ? " with completeness" : ""}, window ${
        JSON.stringify(window)
      }`;
      for (let k = 0; k <= TREE.nTips; k++) {
        // Both sides are sums of a handful of products of probabilities; they agree to a few
        // rounding errors of the largest count (at most 7 families).
        assert.ok(
          Math.abs(got[k] - want[k]) <= 1e-12,
          `${what}: k = ${k}: ${got[k]} vs brute force ${want[k]}`,
        );
      }
      const sum = got.reduce((a, b) => a + b, 0);
      // Summation of 6 terms per mask, each below 7.
      assert.ok(Math.abs(sum - rows.length) <= 1e-12, `${what}: sums to ${sum}`);
    }
  }
});

Deno.test("observed spectrum counts present cells among observed genomes", () => {
  const obs = observedSpectrum(patternsOf(ROWS));
  // Present counts: 2, 4, 2, 3, 2, 2, 3.
  assert.deepStrictEqual(Array.from(obs), [0, 0, 4, 2, 1, 0]);
});

Deno.test("pooling reaches expected >= 5 from low k, merges a short tail, Pearson by hand", () => {
  const observed = [0, 30, 4, 3, 1, 0, 2, 9, 25];
  const expected = [0, 28, 3, 2.5, 1, 0.5, 1.5, 6, 20];
  const r = pooledPearson(observed, expected, 1, 8);
  // Classes: {1} (28), {2, 3} (5.5), {4..7} (9), {8} (20).
  assert.deepStrictEqual(r.classes.map((c) => [c.from, c.to]), [[1, 1], [2, 3], [4, 7], [8, 8]]);
  const want = 4 / 28 + (7 - 5.5) ** 2 / 5.5 + (12 - 9) ** 2 / 9 + 25 / 20;
  assert.ok(Math.abs(r.statistic - want) < 1e-14);
  // A short last class joins the one before.
  const t = pooledPearson([0, 10, 1], [0, 9, 2], 1, 2);
  assert.deepStrictEqual(t.classes.map((c) => [c.from, c.to, c.observed, c.expected]), [[
    1,
    2,
    11,
    11,
  ]]);
});

Deno.test("spectrumFit: df, asymptotic p (closed form for df 2) and a seeded bootstrap", () => {
  const model = parseModel("null");
  const truth = [0.8, 1.2];
  const base = patternsOf(ROWS.filter((r) => !r.includes(2)));
  using lik0 = new ModelLikelihood(TREE, base, tsBackendFactory, model);
  // 400 families like the data (no missing cells), simulated at the truth.
  const rows: number[][] = [];
  const rng = new Random(11);
  while (rows.length < 400) {
    const s = simulateLikeData(TREE, base, model, truth, { rng, window: lik0.window });
    for (let f = 0; f < s.familyNames.length; f++) {
      const p = s.familyPattern[f];
      rows.push(Array.from(s.states.subarray(p * 5, p * 5 + 5)));
    }
  }
  using lik = new ModelLikelihood(TREE, patternsOf(rows.slice(0, 400)), tsBackendFactory, model);
  const r = spectrumFit(lik, truth, { nFitted: 0 });
  assert.deepStrictEqual(r.k, [1, 2, 3, 4, 5]);
  assert.deepStrictEqual(r.df, r.classes.length - 1);
  assert.ok(Math.abs(r.expected.reduce((a, b) => a + b) - 400) < 1e-9);
  const r2 = spectrumFit(lik, truth, { nFitted: r.classes.length - 3 });
  assert.deepStrictEqual(r2.df, 2);
  // chi2 with 2 degrees of freedom: P(X > x) = exp(-x / 2); the series is accurate to 1e-14.
  assert.ok(Math.abs(r2.p! - Math.exp(-r2.statistic / 2)) < 1e-12);
  // The conservative p uses classes - 1 degrees of freedom whatever was fitted.
  assert.equal(r2.pConservative, chiSquareSurvival(r2.statistic, r2.classes.length - 1));
  assert.ok(r2.pConservative! >= r2.p!);
  const b1 = spectrumFit(lik, truth, {
    nFitted: 0,
    bootstrap: { replicates: 5, seed: 3, factory: tsBackendFactory },
  });
  const b2 = spectrumFit(lik, truth, {
    nFitted: 0,
    bootstrap: { replicates: 5, seed: 3, factory: tsBackendFactory },
  });
  assert.deepStrictEqual(b1.bootstrap!.statistics, b2.bootstrap!.statistics);
  assert.deepStrictEqual(b1.bootstrap!.statistics.length, 5);
  const above = b1.bootstrap!.statistics.filter((s) => s >= b1.statistic).length;
  assert.deepStrictEqual(b1.bootstrapP, (1 + above) / 6);
  throwsInput(
    () => spectrumFit(lik, truth, { nFitted: 3 }),
    GenecontentError,
    "whole number from 0 to 2",
  );
});

Deno.test("simulateLikeData keeps every family's missing cells and the window", () => {
  const window = { minPresent: 2, maxPresent: 3 };
  const rows = ROWS.filter((r) => {
    const k = r.filter((x) => x === 1).length;
    return k >= 2 && k <= 3;
  });
  using lik = new ModelLikelihood(
    TREE,
    patternsOf(rows),
    tsBackendFactory,
    parseModel("null"),
    window,
  );
  const sim = simulateLikeData(TREE, lik.patterns, lik.model, [1, 1], {
    rng: new Random(5),
    window,
  });
  for (let f = 0; f < rows.length; f++) {
    const p = sim.familyPattern[f];
    const col = Array.from(sim.states.subarray(p * 5, p * 5 + 5));
    col.forEach((s, i) => assert.deepStrictEqual(s === 2, rows[f][i] === 2));
    const k = col.filter((x) => x === 1).length;
    assert.ok(k >= 2 && k <= 3);
  }
});

Deno.test("prevalence classes: Roary's thresholds, exact at the edges", () => {
  assert.deepStrictEqual(prevalenceClass(100, 100), "core");
  assert.deepStrictEqual(prevalenceClass(99, 100), "core");
  assert.deepStrictEqual(prevalenceClass(98, 100), "softCore");
  assert.deepStrictEqual(prevalenceClass(95, 100), "softCore");
  assert.deepStrictEqual(prevalenceClass(94, 100), "shell");
  assert.deepStrictEqual(prevalenceClass(15, 100), "shell");
  assert.deepStrictEqual(prevalenceClass(14, 100), "cloud");
  assert.deepStrictEqual(prevalenceClass(0, 100), "cloud");
  // 3 of 20 is exactly 15%; 19 of 20 is exactly 95%; 197 of 199 is 98.99...%.
  assert.deepStrictEqual(prevalenceClass(3, 20), "shell");
  assert.deepStrictEqual(prevalenceClass(19, 20), "softCore");
  assert.deepStrictEqual(prevalenceClass(197, 199), "softCore");
  assert.deepStrictEqual(screenClass(19, 20), "nearCore");
  assert.deepStrictEqual(screenClass(2, 20), "rare");
  assert.deepStrictEqual(screenClass(10, 20), "shell");
  assert.deepStrictEqual(countPrevalenceClasses([20, 19, 10, 1], [20, 20, 20, 20]), {
    core: 1,
    softCore: 1,
    shell: 1,
    cloud: 1,
  });
  assert.deepStrictEqual(PREVALENCE_TABLE.map((r) => r.rule), [
    "99% <= share <= 100%",
    "95% <= share < 99%",
    "15% <= share < 95%",
    "0% <= share < 15%",
  ]);
  throwsInput(() => prevalenceClass(5, 4), GenecontentError, "from 0 to the 4 observed");
  throwsInput(() => prevalenceClass(0, 0), GenecontentError, "at least 1");
});

Deno.test("prevalence classes expected under the model equal brute-force enumeration", () => {
  const c = CASES[4]; // gamma2+inv+error
  const model = parseModel(c.model);
  const window = { minPresent: 1, maxPresent: null };
  using lik = new ModelLikelihood(TREE, patternsOf(ROWS), tsBackendFactory, model, window);
  const got = prevalenceComparison(lik, c.values);
  const want = { core: 0, softCore: 0, shell: 0, cloud: 0 };
  for (const row of ROWS) {
    const mask: number[] = row.map((s) => (s === 2 ? 0 : 1));
    const n = mask.reduce((a, b) => a + b, 0);
    const probs = bruteCountProbabilities(TREE, mask, model, c.values, null);
    const inside = probs.slice(1).reduce((a, b) => a + b, 0);
    for (let k = 1; k <= n; k++) want[prevalenceClass(k, n)] += probs[k] / inside;
  }
  for (const k of ["core", "softCore", "shell", "cloud"] as const) {
    // Sums of a few products of probabilities over 7 families: rounding only.
    assert.ok(
      Math.abs(got.expected[k] - want[k]) < 1e-12,
      `${k}: ${got.expected[k]} vs ${want[k]}`,
    );
  }
  // Observed: with 5 or 4 observed genomes, only all-present is core (99%); 1 of 5 is 20% shell.
  assert.deepStrictEqual(got.observed, { core: 1, softCore: 0, shell: 6, cloud: 0 });
  assert.equal(got.unobserved, 0);
});

Deno.test("committed calibration: bootstrap p uniform under the fitted model; reproducible", async () => {
  const cal = JSON.parse(
    await Deno.readTextFile(new URL("../validation/gof_calibration.json", import.meta.url)),
  );
  assert.equal(cal.datasets, 400);
  assert.equal(cal.bootstrapReplicates, 39);
  const ps: number[] = cal.pBootstrap;
  assert.equal(ps.length, 400);
  // Recounted here from the recorded p-values: the share at or below each level must lie in
  // the central 99% interval of Binomial(400, level) / 400 (computed exactly below).
  for (const level of [0.05, 0.1, 0.25, 0.5]) {
    const share = ps.filter((p) => p <= level + 1e-12).length / 400;
    const [lo, hi] = binomialInterval(400, level);
    assert.ok(share >= lo && share <= hi, `share ${share} at ${level} outside [${lo}, ${hi}]`);
  }
  // Kolmogorov-Smirnov distance under the 1% critical value 1.628 / sqrt(400), plus half a step
  // of the bootstrap p's grid (multiples of 1/40).
  assert.ok(ksDistance(ps) < 1.628 / 20 + 0.5 / 40, `KS ${ksDistance(ps)}`);
  // The script reproduces its first data sets (same seed): the same bootstrap p, and the same
  // statistics up to the rounding of the expected counts' sums (1e-12 relative), so a change
  // in the computation that moves them is caught.
  const again = runCalibration({ datasets: 2, bootstrap: 39, seed: 1 });
  assert.deepStrictEqual(again.pBootstrap, ps.slice(0, 2));
  again.statistics.forEach((x, i) => {
    const want = cal.statistics[i];
    assert.ok(Math.abs(x - want) <= 1e-12 * want, `statistic ${i}: ${x} vs ${want}`);
  });
});

Deno.test("at known values (nothing fitted), the asymptotic p is uniform", () => {
  const c = CALIBRATION_CASE;
  const tree = yuleTree(c.tips, new Random(c.treeSeed), { height: 1 });
  const model = parseModel("null");
  const truth = [c.truth.gain, c.truth.loss];
  const names = Array.from({ length: c.families }, (_, f) => `f${f + 1}`);
  const rng = new Random(77);
  const ps: number[] = [];
  for (let d = 0; d < 400; d++) {
    const sim = simulateModel(tree, model, c.truth, { nFamilies: c.families, rng });
    using lik = new ModelLikelihood(
      tree,
      compressPatterns(sim.states, c.families, c.tips, names),
      tsBackendFactory,
      model,
    );
    ps.push(spectrumFit(lik, truth, { nFitted: 0 }).p!);
  }
  // Central 99% binomial intervals of the share of p at or below each level, n = 400.
  for (const level of [0.05, 0.1, 0.25, 0.5]) {
    const share = ps.filter((p) => p <= level).length / 400;
    const [lo, hi] = binomialInterval(400, level);
    assert.ok(share >= lo && share <= hi, `share ${share} at ${level} outside [${lo}, ${hi}]`);
  }
  assert.ok(ksDistance(ps) < 1.628 / 20, `KS ${ksDistance(ps)}`);
});

Deno.test("count probabilities equal ObservableWindow's one-count windows on a large tree", () => {
  // A second implementation: ObservableWindow's windowed pruning with the window [k, k], which
  // forms W and its complement separately. 300 tips; the null model at gain 40, loss 0.4 puts
  // P(at most 3 present) far below 1e-300 (the log-space pass must take over), gamma3+error
  // at ordinary rates runs the linear pass on the tree with pendant branches, with a mask.
  const tree = yuleTree(300, new Random(4), { height: 1 });
  const rows: number[][] = [new Array(300).fill(0).map((_, i) => (i < 2 ? 1 : 0))];
  rows.push(new Array(300).fill(0).map((_, i) => (i % 7 === 0 ? 2 : i === 3 ? 1 : 0)));
  const cases: [string, number[], Ascertainment][] = [
    ["null", [40, 0.4], { minPresent: 1, maxPresent: 3 }],
    ["gamma3+error", [0.3, 1.2, 0.6, 0.01, 0.05], { minPresent: 1, maxPresent: null }],
  ];
  for (const [name, values, window] of cases) {
    const model = parseModel(name);
    using lik = new ModelLikelihood(tree, patternsOf(rows), tsBackendFactory, model, window);
    const kernel = kernelSetup(lik, values);
    const groups = maskGroups(lik.patterns);
    const got = logCountProbabilities(kernel, groups, window);
    const hi = window.maxPresent ?? 300;
    for (let m = 0; m < groups.masks.length; m++) {
      for (const k of [1, 2, 3, 40, 150, 257, hi]) {
        if (k > hi || k > groups.observed[m]) continue;
        const ow = new ObservableWindow(kernel.tree, [groups.masks[m]], {
          minPresent: k,
          maxPresent: k,
        });
        const r = ow.evaluate(kernel.assign.rates, { layout: kernel.assign.options.layout });
        const terms = kernel.components.rates.map((c, i) => c.logWeight + r.logProb[i]);
        const top = Math.max(...terms);
        const want = top + Math.log(terms.reduce((a, t) => a + Math.exp(t - top), 0));
        // Both are exact; rounding accumulates over about 600 nodes of convolutions, relative
        // to log-probabilities of up to several hundred in magnitude.
        assert.ok(
          Math.abs(got[m][k] - want) <= 1e-11 * Math.max(1, Math.abs(want)),
          `${name}, mask ${m}, k ${k}: ${got[m][k]} vs ${want}`,
        );
      }
    }
  }
});
