/**
 * `simulateModel` against the model it claims to simulate.
 *
 * The reference is a brute-force enumeration written here, independent of the simulator and of
 * the likelihood code: on a 5-genome tree, every assignment of true states to the 8 nodes, per
 * component, with branch transition matrices from a scaling-and-squaring Taylor series of
 * exp(Q t), times the probability of every recorded column (0, 1 or missing per cell) given the
 * true tip states, restricted to the ascertainment window. The discrete-gamma category rates the
 * reference uses are the independently computed values of the contract case
 * (/work/shared/contract/expected_models.json: alpha 0.5, 4 categories), so the simulator's own
 * gamma routine is checked too.
 *
 * Statistical levels: each goodness-of-fit test rejects at p < 1e-4, and every z bound is 4.5
 * standard errors (two-sided P ~ 7e-6); with the seeds fixed the outcomes are reproducible, and
 * the chance that any check here fails for a correct simulator is below 1e-3. A deliberately
 * wrong parameter must give p < 1e-10, which shows that each test has power.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseNewick } from "../lib/newick/parse.ts";
import { type ModelDescription, parseModel } from "../lib/model/description.ts";
import { type ModelSimulation, simulateModel } from "../lib/simulate/model.ts";
import { gammaCategoryRates, regularizedGammaQ } from "../lib/model/gamma.ts";
import { Random } from "../lib/simulate/random.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { assertClose } from "./support/assert_close.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";

const Z = 4.5;
const LEVEL = 1e-4;

/** The five-genome contract tree (a basal trifurcation below an internal node). */
const TREE: FlatTree = parseNewick(
  "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);",
  "contract tree",
);

/** Contract gamma4 category rates at alpha 0.5 (computed independently of this project). */
const GAMMA4_ALPHA05 = [
  0.03338775338359955,
  0.25191591759343734,
  0.8202684819736505,
  2.8944278470493128,
];

/** exp(Q t) for Q = [[-gain, gain], [loss, -loss]] by scaling and squaring of a Taylor series. */
function expmRef(gain: number, loss: number, t: number): number[][] {
  let m = [[-gain * t, gain * t], [loss * t, -loss * t]];
  let k = 0;
  while (Math.max(Math.abs(m[0][0]), Math.abs(m[1][1])) > 0.01) {
    m = m.map((r) => r.map((x) => x / 2));
    k++;
  }
  const mul = (a: number[][], b: number[][]) =>
    [0, 1].map((i) => [0, 1].map((j) => a[i][0] * b[0][j] + a[i][1] * b[1][j]));
  let sum = [[1, 0], [0, 1]];
  let term = [[1, 0], [0, 1]];
  for (let n = 1; n <= 20; n++) {
    term = mul(term, m).map((r) => r.map((x) => x / n));
    sum = sum.map((r, i) => r.map((x, j) => x + term[i][j]));
  }
  for (let i = 0; i < k; i++) sum = mul(sum, sum);
  return sum;
}

/** A reference component: weight and rates, or the invariant class. */
interface RefComponent {
  readonly weight: number;
  readonly gain: number;
  readonly loss: number;
  readonly invariant?: boolean;
}

/** What the reference needs besides the components. */
interface RefSetting {
  readonly components: readonly RefComponent[];
  readonly falsePresence: number;
  /** Per tip. */
  readonly falseAbsence: readonly number[];
  readonly missing: number;
  readonly minPresent: number;
  readonly maxPresent: number;
}

/**
 * Probability of every recorded column (base-3 code: cell i is digit i, 2 = missing), before the
 * window, by enumerating the true states of all nodes.
 */
function columnProbabilities(tree: FlatTree, s: RefSetting): Float64Array {
  const { nTips, nNodes, parent, branchLength } = tree;
  const nCols = 3 ** nTips;
  const truthTips = new Float64Array(1 << nTips); // P(true tip states), bit i = tip i
  for (const c of s.components) {
    if (c.invariant) {
      truthTips[(1 << nTips) - 1] += c.weight;
      continue;
    }
    const p = Array.from({ length: nNodes }, (_, v) => expmRef(c.gain, c.loss, branchLength[v]));
    const prior = [c.loss / (c.gain + c.loss), c.gain / (c.gain + c.loss)];
    for (let a = 0; a < 1 << nNodes; a++) {
      const st = (v: number) => (a >> v) & 1;
      let prob = prior[st(nNodes - 1)];
      for (let v = 0; v < nNodes - 1; v++) prob *= p[v][st(parent[v])][st(v)];
      truthTips[a & ((1 << nTips) - 1)] += c.weight * prob;
    }
  }
  const out = new Float64Array(nCols);
  for (let col = 0; col < nCols; col++) {
    for (let truth = 0; truth < 1 << nTips; truth++) {
      let prob = truthTips[truth];
      let code = col;
      for (let i = 0; i < nTips; i++) {
        const rec = code % 3;
        code = (code - rec) / 3;
        const x = (truth >> i) & 1;
        if (rec === 2) prob *= s.missing;
        else {
          const flip = x === 1 ? s.falseAbsence[i] : s.falsePresence;
          prob *= (1 - s.missing) * (rec === x ? 1 - flip : flip);
        }
      }
      out[col] += prob;
    }
  }
  return out;
}

function presentCount(col: number, nTips: number): number {
  let n = 0;
  for (let i = 0; i < nTips; i++) {
    if (col % 3 === 1) n++;
    col = Math.floor(col / 3);
  }
  return n;
}

/** Chi-square upper tail P(X > x) with df degrees of freedom. */
function chiSquareSurvival(x: number, df: number): number {
  return regularizedGammaQ(df / 2, x / 2);
}

/**
 * Pearson goodness of fit of the simulated kept columns to the reference probabilities within
 * the window; cells with expected count below 5 are pooled into one.
 */
function goodnessOfFit(
  sim: ModelSimulation,
  probs: Float64Array,
  s: RefSetting,
): { stat: number; df: number; p: number; pWindow: number } {
  const nTips = sim.nTips;
  const counts = new Float64Array(probs.length);
  for (let f = 0; f < sim.nFamilies; f++) {
    let code = 0;
    for (let i = nTips - 1; i >= 0; i--) code = 3 * code + sim.states[f * nTips + i];
    counts[code]++;
  }
  let pWindow = 0;
  const inside = (col: number) => {
    const k = presentCount(col, nTips);
    return k >= s.minPresent && k <= s.maxPresent;
  };
  for (let col = 0; col < probs.length; col++) if (inside(col)) pWindow += probs[col];
  let stat = 0, df = -1, pooledE = 0, pooledO = 0;
  for (let col = 0; col < probs.length; col++) {
    if (!inside(col)) {
      assert.equal(counts[col], 0, `column ${col} is outside the window but was kept`);
      continue;
    }
    const e = sim.nFamilies * probs[col] / pWindow;
    if (e < 5) {
      pooledE += e;
      pooledO += counts[col];
      continue;
    }
    stat += (counts[col] - e) ** 2 / e;
    df++;
  }
  if (pooledE > 0) {
    stat += (pooledO - pooledE) ** 2 / pooledE;
    df++;
  }
  return { stat, df, p: chiSquareSurvival(stat, df), pWindow };
}

Deno.test("chiSquareSurvival equals the closed form for even degrees of freedom", () => {
  // For df = 2k: P(X > x) = exp(-x/2) sum_{j<k} (x/2)^j / j!; the continued fraction and the
  // series agree with it to ~1e-14 relative (accumulated rounding of ~100 terms).
  for (const df of [2, 4, 10, 30, 60]) {
    for (const x of [0.5, 3, df, 2 * df + 7, 5 * df]) {
      let term = 1, sum = 0;
      for (let j = 0; j < df / 2; j++) {
        sum += term;
        term *= x / 2 / (j + 1);
      }
      assertClose(chiSquareSurvival(x, df), Math.exp(-x / 2) * sum, 1e-13, `df ${df} x ${x}`);
    }
  }
});

interface Case {
  readonly name: string;
  readonly model: ModelDescription;
  readonly values: Record<string, number>;
  readonly missing: number;
  readonly completeness?: readonly number[];
  readonly window: { minPresent: number; maxPresent: number | null };
  readonly reference: (values: Record<string, number>) => RefSetting;
  /** A deliberately wrong parameter value the test must reject. */
  readonly wrong: Record<string, number>;
}

const nTips = TREE.nTips;
const CASESWINDOW = { one: { minPresent: 1, maxPresent: null } } as const;
const noError = Array(nTips).fill(0);
const setting = (
  components: RefComponent[],
  window: { minPresent: number; maxPresent: number | null },
  extra: Partial<RefSetting> = {},
): RefSetting => ({
  components,
  falsePresence: 0,
  falseAbsence: noError,
  missing: 0,
  minPresent: window.minPresent,
  maxPresent: window.maxPresent ?? nTips,
  ...extra,
});
const gammaRefRates = (alpha: number): readonly number[] =>
  // The wrong-alpha alternative only needs to differ: the simulator's own rates suffice there.
  alpha === 0.5 ? GAMMA4_ALPHA05 : [...gammaCategoryRates(alpha, 4).rates];

const COMPLETENESS = [0.9, 1, 0.75, 1, 0.95];

const CASES: Case[] = [
  {
    name: "null",
    model: parseModel("null"),
    values: { gain: 0.8, loss: 1.2 },
    missing: 0,
    window: { minPresent: 1, maxPresent: null },
    reference: (v) => setting([{ weight: 1, gain: v.gain, loss: v.loss }], CASESWINDOW.one),
    wrong: { gain: 0.9, loss: 1.2 },
  },
  {
    name: "gamma4",
    model: parseModel("gamma4"),
    values: { gain: 0.8, loss: 1.2, alpha: 0.5 },
    missing: 0,
    window: { minPresent: 1, maxPresent: null },
    reference: (v) =>
      setting(
        gammaRefRates(v.alpha).map((r) => ({ weight: 0.25, gain: v.gain * r, loss: v.loss * r })),
        CASESWINDOW.one,
      ),
    wrong: { gain: 0.8, loss: 1.2, alpha: 2 },
  },
  {
    name: "mixture2",
    model: parseModel("mixture2"),
    values: { gain1: 0.3, loss1: 2, gain2: 2, loss2: 0.4, split1: 0.6 },
    missing: 0,
    window: { minPresent: 1, maxPresent: null },
    reference: (v) =>
      setting([
        { weight: v.split1, gain: v.gain1, loss: v.loss1 },
        { weight: 1 - v.split1, gain: v.gain2, loss: v.loss2 },
      ], CASESWINDOW.one),
    wrong: { gain1: 0.3, loss1: 2, gain2: 2, loss2: 0.4, split1: 0.65 },
  },
  {
    name: "null+inv",
    model: parseModel("null+inv"),
    values: { gain: 0.8, loss: 1.2, pInv: 0.15 },
    missing: 0,
    window: { minPresent: 1, maxPresent: null },
    reference: (v) =>
      setting([
        { weight: 1 - v.pInv, gain: v.gain, loss: v.loss },
        { weight: v.pInv, gain: 0, loss: 0, invariant: true },
      ], CASESWINDOW.one),
    wrong: { gain: 0.8, loss: 1.2, pInv: 0.12 },
  },
  {
    name: "null+error with missing cells",
    model: parseModel("null+error"),
    values: { gain: 0.8, loss: 1.2, falsePresence: 0.05, falseAbsence: 0.1 },
    missing: 0.1,
    window: { minPresent: 1, maxPresent: null },
    reference: (v) =>
      setting([{ weight: 1, gain: v.gain, loss: v.loss }], CASESWINDOW.one, {
        falsePresence: v.falsePresence,
        falseAbsence: Array(nTips).fill(v.falseAbsence),
        missing: 0.1,
      }),
    wrong: { gain: 0.8, loss: 1.2, falsePresence: 0.09, falseAbsence: 0.1 },
  },
  {
    name: "gamma4+inv+error with completeness, window [2, 4]",
    model: parseModel("gamma4+inv+error"),
    values: {
      gain: 0.8,
      loss: 1.2,
      alpha: 0.5,
      pInv: 0.2,
      falsePresence: 0.03,
      falseAbsence: 0.05,
    },
    missing: 0,
    completeness: COMPLETENESS,
    window: { minPresent: 2, maxPresent: 4 },
    reference: (v) =>
      setting(
        [
          ...gammaRefRates(v.alpha).map((r) => ({
            weight: (1 - v.pInv) / 4,
            gain: v.gain * r,
            loss: v.loss * r,
          })),
          { weight: v.pInv, gain: 0, loss: 0, invariant: true },
        ],
        { minPresent: 2, maxPresent: 4 },
        {
          falsePresence: v.falsePresence,
          // 1 - (1 - e-) c_i: the per-genome completeness combined with the false absence.
          falseAbsence: COMPLETENESS.map((c) => 1 - (1 - v.falseAbsence) * c),
        },
      ),
    wrong: { gain: 0.8, loss: 1.2, alpha: 0.5, pInv: 0.2, falsePresence: 0.03, falseAbsence: 0.1 },
  },
];

for (const [k, c] of CASES.entries()) {
  Deno.test(`simulateModel ${c.name}: simulated columns follow the model's column probabilities`, () => {
    const n = 60000;
    const sim = simulateModel(TREE, c.model, c.values, {
      nFamilies: n,
      seed: 1000 + k,
      ascertainment: c.window,
      missing: c.missing,
      completeness: c.completeness,
    });
    assert.equal(sim.nFamilies, n);
    assert.equal(sim.nSimulated, n + sim.nBelowWindow + sim.nAboveWindow);
    const right = c.reference(c.values);
    const fit = goodnessOfFit(sim, columnProbabilities(TREE, right), right);
    assert.ok(
      fit.p > LEVEL,
      `${c.name}: chi-square ${fit.stat.toFixed(1)} on ${fit.df} df, p = ${fit.p.toExponential(2)}`,
    );
    // Each simulated family is discarded independently with probability 1 - P(window).
    const discarded = sim.nBelowWindow + sim.nAboveWindow;
    const pOut = 1 - fit.pWindow;
    const z = (discarded - sim.nSimulated * pOut) / Math.sqrt(sim.nSimulated * pOut * (1 - pOut));
    assert.ok(Math.abs(z) < Z, `${c.name}: ${discarded} discarded of ${sim.nSimulated}, z = ${z}`);

    const wrong = c.reference(c.wrong);
    const bad = goodnessOfFit(sim, columnProbabilities(TREE, wrong), wrong);
    assert.ok(
      bad.p < 1e-10,
      `${c.name}: the wrong parameters ${JSON.stringify(c.wrong)} were not rejected ` +
        `(chi-square ${bad.stat.toFixed(1)} on ${bad.df} df, p = ${bad.p.toExponential(2)})`,
    );
  });
}

Deno.test("simulateModel: components and truth are consistent with the recorded states", () => {
  const sim = simulateModel(
    TREE,
    parseModel("gamma4+inv"),
    { gain: 0.8, loss: 1.2, alpha: 0.5, pInv: 0.2 },
    { nFamilies: 5000, seed: 3, recordEvents: true, recordNodeStates: true },
  );
  const nNodes = TREE.nNodes;
  const ev = sim.events!;
  const states = sim.nodeStates!;
  const gainsOf = new Float64Array(sim.nFamilies), lossesOf = new Float64Array(sim.nFamilies);
  const branchG = new Float64Array(nNodes), branchL = new Float64Array(nNodes);
  const changed = new Set<number>();
  for (let k = 0; k < ev.family.length; k++) {
    const f = ev.family[k], v = ev.node[k];
    assert.ok(k === 0 || f > ev.family[k - 1] || (f === ev.family[k - 1]), "family-major order");
    assert.ok(ev.gains[k] + ev.losses[k] > 0);
    // Along a branch jumps alternate: gains - losses = child state - parent state.
    const child = states[f * nNodes + v], par = states[f * nNodes + TREE.parent[v]];
    assert.equal(ev.gains[k] - ev.losses[k], child - par, `family ${f} node ${v}`);
    gainsOf[f] += ev.gains[k];
    lossesOf[f] += ev.losses[k];
    branchG[v] += ev.gains[k];
    branchL[v] += ev.losses[k];
    changed.add(f * nNodes + v);
  }
  for (let f = 0; f < sim.nFamilies; f++) {
    assert.equal(sim.familyGains[f], gainsOf[f]);
    assert.equal(sim.familyLosses[f], lossesOf[f]);
    for (let v = 0; v < nNodes - 1; v++) {
      if (!changed.has(f * nNodes + v)) {
        assert.equal(states[f * nNodes + v], states[f * nNodes + TREE.parent[v]]);
      }
    }
    // Without error or missingness the recorded tips are the true tips.
    for (let i = 0; i < nTips; i++) {
      assert.equal(sim.states[f * nTips + i], states[f * nNodes + i]);
    }
    if (sim.components[sim.component[f]].invariant) {
      assert.equal(sim.familyGains[f] + sim.familyLosses[f], 0);
      for (let v = 0; v < nNodes; v++) assert.equal(states[f * nNodes + v], 1);
    }
  }
  assert.deepEqual([...sim.branchGains], [...branchG]);
  assert.deepEqual([...sim.branchLosses], [...branchL]);
  assert.deepEqual(sim.components.map((c) => c.label), [
    "category 1",
    "category 2",
    "category 3",
    "category 4",
    "invariant",
  ]);
  // The simulator's category rates equal the contract's independent values (1e-12: the
  // incomplete-gamma inversion is accurate to a few ulps at alpha 0.5).
  assertClose(sim.components.slice(0, 4).map((c) => c.rateMultiplier), GAMMA4_ALPHA05, 1e-12);
  // Kept families' components: multinomial with shares w_c P(observed | c) / sum, P(observed | c)
  // from the reference enumeration (each count within 4.5 binomial standard errors).
  const observed = sim.components.map((c) => {
    const ref = setting([{ ...c, weight: 1 }], CASESWINDOW.one);
    const probs = columnProbabilities(TREE, ref);
    let p = 0;
    for (let col = 0; col < probs.length; col++) if (presentCount(col, nTips) >= 1) p += probs[col];
    return c.weight * p;
  });
  const total = observed.reduce((a, b) => a + b, 0);
  const counts = new Array(5).fill(0);
  for (const c of sim.component) counts[c]++;
  for (let c = 0; c < 5; c++) {
    const p = observed[c] / total;
    const z = (counts[c] - sim.nFamilies * p) / Math.sqrt(sim.nFamilies * p * (1 - p));
    assert.ok(Math.abs(z) < Z, `component ${c}: ${counts[c]} of ${sim.nFamilies}, share ${p}`);
  }
});

/**
 * E[N_ij | a, b] on a branch of length t for the two-state chain (/work/shared/notes/model.md):
 * q_ij J / P_ab(t).
 */
function expectedJumps(
  gain: number,
  loss: number,
  t: number,
  i: number,
  j: number,
  a: number,
  b: number,
) {
  const s = gain + loss;
  const pi = [loss / s, gain / s];
  const q = i === 0 ? gain : loss;
  const A = (a === i ? 1 : 0) - pi[i];
  const B = (j === b ? 1 : 0) - pi[b];
  const e = Math.exp(-s * t);
  const J = pi[i] * pi[b] * t + (pi[i] * B + A * pi[b]) * (1 - e) / s + A * B * t * e;
  const pab = expmRef(gain, loss, t)[a][b];
  return q * J / pab;
}

Deno.test("simulateModel: true jumps on a branch match E[N_ij | a, b] in closed form", () => {
  // One branch: a unary root above a single tip, so both end states are in the node states.
  const t = 0.9, gain = 0.7, loss = 1.3, n = 200000;
  const tree = flatTreeFromParents(["g"], [1, -1], [t, 0]);
  const sim = simulateModel(tree, parseModel("null"), { gain, loss }, {
    nFamilies: n,
    seed: 77,
    ascertainment: { minPresent: 0, maxPresent: null },
    recordNodeStates: true,
  });
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      let m = 0, g = 0, g2 = 0, l = 0, l2 = 0;
      for (let f = 0; f < n; f++) {
        if (sim.nodeStates![2 * f + 1] !== a || sim.nodeStates![2 * f] !== b) continue;
        m++;
        g += sim.familyGains[f];
        g2 += sim.familyGains[f] ** 2;
        l += sim.familyLosses[f];
        l2 += sim.familyLosses[f] ** 2;
      }
      for (
        const [what, sum, sum2, i, j] of [["gains", g, g2, 0, 1], ["losses", l, l2, 1, 0]] as const
      ) {
        const mean = sum / m;
        const expected = expectedJumps(gain, loss, t, i, j, a, b);
        // The standard error from the sample variance of the m independent families.
        const se = Math.sqrt(Math.max(sum2 / m - mean * mean, 1e-12) / m);
        assert.ok(
          Math.abs(mean - expected) < Z * se,
          `${what} given ${a} -> ${b}: mean ${mean} over ${m}, expected ${expected} (se ${se})`,
        );
      }
    }
  }
  // And the unconditional mean: gains on a stationary branch are pi0 gain t per family.
  const perFamily = sim.branchGains[0] / n;
  const expected = loss / (gain + loss) * gain * t;
  let v = 0;
  for (let f = 0; f < n; f++) v += (sim.familyGains[f] - perFamily) ** 2;
  const se = Math.sqrt(v / n / n);
  assert.ok(Math.abs(perFamily - expected) < Z * se, `gains per family ${perFamily}, ${expected}`);
});

Deno.test("simulateModel: a seed gives identical output, another seed different output", () => {
  const run = (seed: number) =>
    simulateModel(
      TREE,
      parseModel("mixture2+inv+error"),
      {
        gain1: 0.3,
        loss1: 2,
        gain2: 2,
        loss2: 0.4,
        split1: 0.6,
        pInv: 0.1,
        falsePresence: 0.02,
        falseAbsence: 0.03,
      },
      { nFamilies: 2000, seed, missing: 0.05, ascertainment: { minPresent: 1, maxPresent: 4 } },
    );
  const a = run(5), b = run(5), c = run(6);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.states, c.states);
  // A passed generator is advanced exactly as a seeded one.
  const viaRng = simulateModel(TREE, parseModel("null"), [0.8, 1.2], {
    nFamilies: 300,
    rng: new Random(9),
  });
  const viaSeed = simulateModel(TREE, parseModel("null"), { gain: 0.8, loss: 1.2 }, {
    nFamilies: 300,
    seed: 9,
  });
  assert.deepEqual(viaRng.states, viaSeed.states);
});

Deno.test("simulateModel: bad values are refused with messages naming them", () => {
  const m = parseModel("gamma4");
  const opts = { nFamilies: 10, seed: 1 };
  assert.throws(
    () => simulateModel(TREE, m, { gain: 0.1, loss: 1 }, opts),
    /needs a value for alpha/,
  );
  assert.throws(
    () => simulateModel(TREE, m, { gain: -1, loss: 1, alpha: 1 }, opts),
    /gain must be in \(0, infinity\); got -1/,
  );
  assert.throws(
    () => simulateModel(TREE, m, { gain: 1, loss: 1, alpha: 1, pInv: 0.1 }, opts),
    /no parameter pInv/,
  );
  assert.throws(
    () => simulateModel(TREE, m, [1, 1, 1], { ...opts, missing: 1 }),
    /Missing-cell rate must be in \[0, 1\); got 1/,
  );
  assert.throws(
    () => simulateModel(TREE, m, [1, 1, 1], { ...opts, completeness: [1, 1, 1, 1, 1.5] }),
    /Completeness of genome 'genome_E' must be in \(0, 1\]; got 1.5/,
  );
  assert.throws(
    () =>
      simulateModel(TREE, m, [1, 1, 1], {
        ...opts,
        ascertainment: { minPresent: 3, maxPresent: 2 },
      }),
    /maxPresent must be a whole number from minPresent \(3\) to 5/,
  );
  assert.throws(
    () =>
      simulateModel(TREE, parseModel("null"), [1e-9, 100], {
        nFamilies: 10,
        seed: 1,
        maxSimulated: 1000,
      }),
    /Only 0 of 1000 simulated families had a recorded present count in \[1, 5\]/,
  );
  assert.throws(() => simulateModel(TREE, m, [1, 1, 1], { nFamilies: 1 }), /either a seed or/);
});

Deno.test("simulateModel and ModelLikelihood agree on the column probabilities", () => {
  const c = CASES[CASES.length - 1];
  const n = 60000;
  const sim = simulateModel(TREE, c.model, c.values, {
    nFamilies: n,
    seed: 4242,
    ascertainment: c.window,
    completeness: c.completeness,
  });
  const names = Array.from({ length: n }, (_, f) => `f${f}`);
  const patterns = compressPatterns(sim.states, n, nTips, names);
  using lik = new ModelLikelihood(
    TREE,
    patterns,
    tsBackendFactory,
    c.model,
    c.window,
    { completeness: Float64Array.from(c.completeness!) },
  );
  const value = lik.evaluate(sim.values, false);
  const right = c.reference(c.values);
  const probs = columnProbabilities(TREE, right);
  let pWindow = 0;
  for (let col = 0; col < probs.length; col++) {
    const k = presentCount(col, nTips);
    if (k >= right.minPresent && k <= right.maxPresent) pWindow += probs[col];
  }
  let stat = 0, df = -1, restE = n, restO = n;
  for (let p = 0; p < patterns.nPatterns; p++) {
    let code = 0;
    for (let i = nTips - 1; i >= 0; i--) code = 3 * code + patterns.states[p * nTips + i];
    const prob = Math.exp(value.perPattern[p]);
    // The likelihood's corrected column probability equals the enumeration's (1e-10: both are
    // sums of a few hundred products of doubles).
    assertClose(prob, probs[code] / pWindow, 1e-10, `pattern ${p}`);
    const e = n * prob;
    if (e < 5) continue;
    stat += (patterns.weights[p] - e) ** 2 / e;
    df++;
    restE -= e;
    restO -= patterns.weights[p];
  }
  // Everything else (rare and unseen columns) in one cell.
  stat += (restO - restE) ** 2 / restE;
  df++;
  const p = chiSquareSurvival(stat, df);
  assert.ok(p > LEVEL, `chi-square ${stat.toFixed(1)} on ${df} df against the likelihood, p ${p}`);
});

Deno.test("simulateModel: recorded-cell counts match the true and recorded states", () => {
  const sim = simulateModel(
    TREE,
    parseModel("null+error"),
    { gain: 0.8, loss: 1.2, falsePresence: 0.05, falseAbsence: 0.1 },
    { nFamilies: 4000, seed: 8, missing: 0.1, completeness: COMPLETENESS, recordNodeStates: true },
  );
  let miss = 0, fp = 0, fa = 0;
  for (let f = 0; f < sim.nFamilies; f++) {
    for (let i = 0; i < nTips; i++) {
      const truth = sim.nodeStates![f * TREE.nNodes + i], rec = sim.states[f * nTips + i];
      if (rec === 2) miss++;
      else if (truth === 0 && rec === 1) fp++;
      else if (truth === 1 && rec === 0) fa++;
    }
  }
  assert.deepEqual(
    [sim.nMissingCells, sim.nFalsePresentCells, sim.nFalseAbsentCells],
    [miss, fp, fa],
  );
  assert.ok(miss > 0 && fp > 0 && fa > 0);
  // Per-genome false absence 1 - (1 - e-) c_i (exact in binary for these inputs to 1 ulp).
  assertClose(sim.falseAbsence, COMPLETENESS.map((c) => 1 - 0.9 * c), 1e-15);
});
