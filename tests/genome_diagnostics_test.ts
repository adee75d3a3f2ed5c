import assert from "node:assert/strict";
import {
  GENOME_Z_THRESHOLD,
  genomeDiagnostics,
  refitWithout,
  tipCountProbabilities,
} from "../lib/diagnostics/genomes.ts";
import { kernelSetup, logCountProbabilities, maskGroups } from "../lib/diagnostics/spectrum.ts";
import { GenecontentError } from "../lib/errors.ts";
import { fitModelLikelihood } from "../lib/fit/fit_model.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import {
  type Ascertainment,
  type ModelDescription,
  modelParameters,
  parseModel,
} from "../lib/model/description.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { simulateModel, simulationComponents } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { bruteForceLikelihood } from "./support/brute_force.ts";

/** Asserts that `f` throws a GenecontentError whose message contains `text`. */
function throwsInput(f: () => unknown, text: string): void {
  assert.throws(f, (e: unknown) => e instanceof GenecontentError && e.message.includes(text));
}

// ((a:0.3,b:0.2):0.15,(c:0.4,(d:0.1,e:0.25):0.2):0.05);
const TREE = flatTreeFromParents(
  ["a", "b", "c", "d", "e"],
  [5, 5, 7, 6, 6, 8, 7, 8, -1],
  [0.3, 0.2, 0.4, 0.1, 0.25, 0.15, 0.2, 0.05, 0],
);

/**
 * Brute force: the probability of every recorded column of the observed tips (as a bit mask
 * over them), summing every true tip state with `bruteForceLikelihood`; components from the
 * simulator's `simulationComponents`.
 */
function bruteColumns(
  tree: FlatTree,
  mask: number[],
  model: ModelDescription,
  values: number[],
  completeness: number[] | null,
): { obs: number[]; prob: number[] } {
  const n = tree.nTips;
  const named: Record<string, number> = {};
  modelParameters(model).forEach((p, i) => (named[p.name] = values[i]));
  const ep = model.tipError ? named.falsePresence : 0;
  const fa = model.tipError ? named.falseAbsence : 0;
  const em = Array.from({ length: n }, (_, i) => 1 - (1 - fa) * (completeness?.[i] ?? 1));
  const obs = Array.from({ length: n }, (_, i) => i).filter((i) => mask[i] === 1);
  const record = (truth: number, rec: number, i: number) =>
    truth === 1 ? (rec === 1 ? 1 - em[i] : em[i]) : (rec === 1 ? ep : 1 - ep);
  const prob = new Array(2 ** obs.length).fill(0);
  for (const comp of simulationComponents(model, values)) {
    for (let r = 0; r < 2 ** obs.length; r++) {
      const rec = obs.map((_, j) => (r >> j) & 1);
      let p = 0;
      if (comp.invariant) p = obs.reduce((acc, i, j) => acc * record(1, rec[j], i), 1);
      else {
        for (let t = 0; t < 2 ** obs.length; t++) {
          const truth = new Array(n).fill(2);
          obs.forEach((i, j) => (truth[i] = (t >> j) & 1));
          let q = bruteForceLikelihood(tree, truth, comp.gain, comp.loss);
          obs.forEach((i, j) => (q *= record(truth[i], rec[j], i)));
          p += q;
        }
      }
      prob[r] += comp.weight * p;
    }
  }
  return { obs, prob };
}

/** Expected counts and variances per genome and J, by enumeration. */
function bruteGenomes(
  tree: FlatTree,
  rows: number[][],
  model: ModelDescription,
  values: number[],
  window: Ascertainment,
  completeness: number[] | null,
): { expected: number[][]; variance: number[][] } {
  const n = tree.nTips;
  const hi = window.maxPresent ?? n;
  const expected = Array.from({ length: n }, () => [0, 0, 0]);
  const variance = Array.from({ length: n }, () => [0, 0, 0]);
  for (const row of rows) {
    const mask = row.map((s) => (s === 2 ? 0 : 1));
    const { obs, prob } = bruteColumns(tree, mask, model, values, completeness);
    const count = (r: number) => obs.reduce((a, _, j) => a + ((r >> j) & 1), 0);
    let inside = 0;
    prob.forEach((p, r) => {
      const k = count(r);
      if (k >= window.minPresent && k <= hi) inside += p;
    });
    for (let J = 1; J <= 3; J++) {
      obs.forEach((i, j) => {
        let p = 0;
        prob.forEach((q, r) => {
          const k = count(r);
          if (((r >> j) & 1) === 1 && k <= J && k >= window.minPresent && k <= hi) p += q;
        });
        p /= inside;
        expected[i][J - 1] += p;
        variance[i][J - 1] += p * (1 - p);
      });
    }
  }
  return { expected, variance };
}

function patternsOf(rows: number[][]): SitePatterns {
  return compressPatterns(
    Uint8Array.from(rows.flat()),
    rows.length,
    rows[0].length,
    rows.map((_, f) => `fam${f + 1}`),
  );
}

const ROWS = [
  [1, 0, 0, 0, 0],
  [1, 1, 1, 1, 2],
  [0, 1, 1, 2, 0],
  [1, 0, 1, 1, 0],
  [1, 1, 0, 0, 0],
  [2, 1, 0, 0, 2],
  [0, 0, 1, 1, 1],
  [0, 0, 0, 0, 1],
];

const CASES: { model: string; values: number[]; completeness?: number[] }[] = [
  { model: "null", values: [0.7, 1.3] },
  { model: "gamma3", values: [0.6, 1.1, 0.7] },
  { model: "mixture2", values: [0.2, 0.5, 3, 2, 0.35] },
  { model: "null+inv", values: [0.5, 1.5, 0.2] },
  { model: "gamma2+inv+error", values: [0.4, 0.9, 1.4, 0.15, 0.03, 0.08] },
  { model: "mixture2+error", values: [0.3, 0.8, 2, 1.5, 0.6, 0.02, 0.1] },
  {
    model: "gamma2+inv+error",
    values: [0.5, 1, 0.8, 0.1, 0.04, 0.05],
    completeness: [1, 0.8, 1, 0.9, 1],
  },
];

const WINDOWS: Ascertainment[] = [
  { minPresent: 1, maxPresent: null },
  { minPresent: 2, maxPresent: 4 },
  { minPresent: 0, maxPresent: null },
];

Deno.test("per-genome expectations and spreads equal brute-force enumeration", () => {
  for (const c of CASES) {
    const model = parseModel(c.model);
    for (const window of WINDOWS) {
      const rows = ROWS.filter((r) => {
        const k = r.filter((x) => x === 1).length;
        return k >= window.minPresent && k <= (window.maxPresent ?? 5);
      });
      const completeness = c.completeness ? Float64Array.from(c.completeness) : null;
      using lik = new ModelLikelihood(TREE, patternsOf(rows), tsBackendFactory, model, window, {
        completeness,
      });
      const d = genomeDiagnostics(lik, c.values, { completeness });
      const want = bruteGenomes(TREE, rows, model, c.values, window, c.completeness ?? null);
      const what = `${c.model}, window ${JSON.stringify(window)}`;
      d.genomes.forEach((g, i) => {
        [g.singletons, g.upTo2, g.upTo3].forEach((s, J) => {
          // Sums of a few products of probabilities over at most 8 families: rounding only.
          assert.ok(
            Math.abs(s.expected - want.expected[i][J]) <= 1e-12,
            `${what}: genome ${g.genome}, J ${J + 1}: ${s.expected} vs ${want.expected[i][J]}`,
          );
          assert.ok(Math.abs(s.sd ** 2 - want.variance[i][J]) <= 1e-12, `${what}: variance`);
        });
      });
    }
  }
});

Deno.test("observed per-genome counts by hand", () => {
  using lik = new ModelLikelihood(TREE, patternsOf(ROWS), tsBackendFactory, parseModel("null"));
  const d = genomeDiagnostics(lik, [0.7, 1.3]);
  // a: singleton fam1; fam5 (a, b) has 2; fam4 (a, c, d) has 3; fam2 has 4.
  assert.deepStrictEqual(
    [d.genomes[0].singletons.observed, d.genomes[0].upTo2.observed, d.genomes[0].upTo3.observed],
    [1, 2, 3],
  );
  // e: fam8 singleton, fam7 (c, d, e) 3 present.
  assert.deepStrictEqual(
    [d.genomes[4].singletons.observed, d.genomes[4].upTo2.observed, d.genomes[4].upTo3.observed],
    [1, 1, 2],
  );
  // b: fam6 present in b only among its observed genomes (a and e missing): a singleton.
  assert.equal(d.genomes[1].singletons.observed, 1);
  assert.equal(d.genomes[0].observedFamilies, 7);
  assert.equal(d.genomes[0].presentFamilies, 4);
});

Deno.test("on a large tree at extreme rates, sum over tips of P(i present, j in all) = j P(j)", () => {
  // 300 tips, gain 40 and loss 0.4: P(at most 3 present) is far below 1e-300, so the vectors
  // need their scales; conditioned on the window [1, 3], the probabilities are above 1e-10.
  // Also a mixture with that class and an ordinary one, without an upper bound.
  const tree = yuleTree(300, new Random(4), { height: 1 });
  const rows: number[][] = [new Array(300).fill(0).map((_, i) => (i < 2 ? 1 : 0))];
  rows.push(new Array(300).fill(0).map((_, i) => (i % 7 === 0 ? 2 : i === 3 ? 1 : 0)));
  const cases: [string, number[], Ascertainment][] = [
    ["null", [40, 0.4], { minPresent: 1, maxPresent: 3 }],
    ["mixture2", [0.02, 1, 40, 0.4, 0.5], { minPresent: 1, maxPresent: null }],
  ];
  for (const [name, values, window] of cases) {
    using lik = new ModelLikelihood(
      tree,
      patternsOf(rows),
      tsBackendFactory,
      parseModel(name),
      window,
    );
    const kernel = kernelSetup(lik, values);
    const groups = maskGroups(lik.patterns);
    const joint = tipCountProbabilities(kernel, groups, lik.window, 3);
    const logP = logCountProbabilities(kernel, groups, lik.window);
    for (let m = 0; m < groups.masks.length; m++) {
      let top = -Infinity;
      for (let k = 1; k <= 300; k++) top = Math.max(top, logP[m][k]);
      let norm = 0;
      for (let k = 1; k <= 300; k++) if (logP[m][k] > -Infinity) norm += Math.exp(logP[m][k] - top);
      for (let j = 1; j <= 3; j++) {
        let sum = 0;
        for (let i = 0; i < 300; i++) sum += joint[m][i * 4 + j];
        const want = j * Math.exp(logP[m][j] - top) / norm;
        // Two exact computations by different count prunings (this file's capped inside/outside
        // pass, ObservableWindow's windowed pruning): rounding of sums over 300 tips.
        assert.ok(want > 1e-10, `${name}: P(${j}) = ${want} is a normal number`);
        assert.ok(
          Math.abs(sum / want - 1) < 1e-11,
          `${name}, mask ${m}, j ${j}: ${sum} vs ${want}`,
        );
      }
    }
  }
});

/** A PAM simulated under the null model, as rows, with family names. */
function simulated(tree: FlatTree, nFamilies: number, seed: number): number[][] {
  const sim = simulateModel(tree, parseModel("null"), { gain: 0.3, loss: 1.5 }, {
    nFamilies,
    seed,
  });
  const n = tree.nTips;
  return Array.from(
    { length: nFamilies },
    (_, f) => Array.from(sim.states.subarray(f * n, f * n + n)),
  );
}

Deno.test("a genome given many extra unique genes is flagged, the others are not; refit", () => {
  const tree = yuleTree(16, new Random(9), { height: 1 });
  const rows = simulated(tree, 3000, 21);
  // 80 extra families present only in genome 5 (contamination).
  for (let f = 0; f < 80; f++) rows.push(new Array(16).fill(0).map((_, i) => (i === 5 ? 1 : 0)));
  using lik = new ModelLikelihood(tree, patternsOf(rows), tsBackendFactory, parseModel("null"));
  const fit = fitModelLikelihood(lik, { level: null });
  const d = genomeDiagnostics(lik, fit.values);
  const name = tree.tipNames[5];
  assert.deepStrictEqual(d.flagged, [name]);
  assert.equal(d.genomes[5].flag, "excess");
  assert.ok(d.genomes[5].singletons.z > 10, `z ${d.genomes[5].singletons.z}`);
  for (const g of d.genomes) {
    if (g.genome !== name) assert.ok(Math.abs(g.singletons.z) < GENOME_Z_THRESHOLD, g.genome);
  }
  // Without the contamination, no genome is flagged.
  using clean = new ModelLikelihood(
    tree,
    patternsOf(rows.slice(0, 3000)),
    tsBackendFactory,
    parseModel("null"),
  );
  const cleanFit = fitModelLikelihood(clean, { level: null });
  assert.deepStrictEqual(genomeDiagnostics(clean, cleanFit.values).flagged, []);
  // Leaving the flagged genome out removes the 80 families and every family found only in it,
  // and brings the estimates back near the clean fit's (within 10%: both fits see the other 15
  // genomes' 3,000 families, which pin gain and loss to a few percent).
  const r = refitWithout(lik, fit.values, d.flagged, { factory: tsBackendFactory });
  const onlyThere = rows.filter((row) => row.every((x, i) => (i === 5 ? true : x === 0))).length;
  assert.equal(r.nFamiliesBefore, 3080);
  assert.equal(r.nFamiliesAfter, 3080 - onlyThere);
  assert.equal(r.nGenomes, 15);
  assert.ok(r.fit.converged);
  const before = Math.abs(fit.values[0] / cleanFit.values[0] - 1);
  const after = Math.abs(r.parameters[0].after / cleanFit.values[0] - 1);
  assert.ok(after < before && after < 0.1, `gain change ${before} -> ${after}`);
  throwsInput(
    () => refitWithout(lik, fit.values, ["nope"], { factory: tsBackendFactory }),
    "'nope'",
  );
});

Deno.test("a genome whose unique genes are missing (incomplete assembly) is flagged a deficit", () => {
  const tree = yuleTree(16, new Random(9), { height: 1 });
  const rows = simulated(tree, 3000, 21);
  // The tip with the longest branch expects the most unique families (about 100 here); its
  // unique families are dropped, as an assembly that missed them would.
  let tip = 0;
  for (let i = 0; i < 16; i++) if (tree.branchLength[i] > tree.branchLength[tip]) tip = i;
  const kept = rows.filter((r) => !(r[tip] === 1 && r.reduce((a, b) => a + b, 0) === 1));
  assert.ok(rows.length - kept.length > 50, `${rows.length - kept.length} unique families`);
  using lik = new ModelLikelihood(tree, patternsOf(kept), tsBackendFactory, parseModel("null"));
  const fit = fitModelLikelihood(lik, { level: null });
  const d = genomeDiagnostics(lik, fit.values);
  assert.deepStrictEqual(d.flagged, [tree.tipNames[tip]]);
  assert.equal(d.genomes[tip].flag, "deficit");
  assert.equal(d.genomes[tip].singletons.observed, 0);
  assert.ok(d.genomes[tip].singletons.z < -GENOME_Z_THRESHOLD);
});
