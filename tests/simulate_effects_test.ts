/**
 * `simulateModel` with effects against the model it claims to simulate.
 *
 * The reference is a brute-force enumeration written here, independent of the simulator, of the
 * likelihood and of `lib/model/effects.ts`: on a 5-genome tree, every assignment of true states
 * to the 8 nodes, with a transition matrix per branch from a scaling-and-squaring Taylor series
 * of exp(Q_v t_v), Q_v built from the branch's own rates (gain_c exp(theta x_v) etc., computed
 * here from the effect definitions), the root from the stationary distribution of the root
 * entry's rates, times the probability of every recorded column given the true tips (missing
 * cells, false presence, false absence), restricted to the ascertainment window. Each family
 * group's simulated columns are compared with its own reference by a Pearson chi-square, and
 * `ModelLikelihood` with the same effects must give every simulated family the enumeration's
 * conditioned column probability.
 *
 * Statistical levels are those of tests/simulate_model_test.ts: each goodness-of-fit test
 * rejects at p < 1e-4, z bounds are 4.5 standard errors; seeds are fixed, so outcomes are
 * reproducible, and the chance that a check fails for a correct simulator is below 1e-3. Each
 * case also shows power: the same columns against the background without the effect (or with
 * the effect on the wrong group) give p < 1e-10.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseNewick } from "../lib/newick/parse.ts";
import { type ModelDescription, parseModel } from "../lib/model/description.ts";
import type { Effect, EffectSetup } from "../lib/model/effects.ts";
import { type ModelSimulation, modelValueVector, simulateModel } from "../lib/simulate/model.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { simulateCommand } from "../lib/cli/commands/simulate.ts";
import { encodePamTsv, simulatedFamilyName } from "../lib/simulate/pam_tsv.ts";
import { gammaCategoryRates, regularizedGammaQ } from "../lib/model/gamma.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

const Z = 4.5;
const LEVEL = 1e-4;

/** The five-genome contract tree (a basal trifurcation below an internal node). */
const TREE: FlatTree = parseNewick(
  "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);",
  "contract tree",
);
const nTips = TREE.nTips;
const nNodes = TREE.nNodes;
const ROOT = nNodes - 1;

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

/** A reference component with per-node rates (index v: the branch above v; ROOT: root prior). */
interface RefComponent {
  readonly weight: number;
  readonly gain: readonly number[];
  readonly loss: readonly number[];
  readonly invariant?: boolean;
}

interface RefSetting {
  readonly components: readonly RefComponent[];
  readonly falsePresence: number;
  readonly falseAbsence: number;
  readonly missing: number;
  readonly minPresent: number;
  readonly maxPresent: number;
}

/** Probability of every recorded column (base 3, cell i digit i, 2 = missing), before the window. */
function columnProbabilities(s: RefSetting): Float64Array {
  const { parent, branchLength } = TREE;
  const truthTips = new Float64Array(1 << nTips);
  for (const c of s.components) {
    if (c.invariant) {
      truthTips[(1 << nTips) - 1] += c.weight;
      continue;
    }
    const p = Array.from(
      { length: nNodes - 1 },
      (_, v) => expmRef(c.gain[v], c.loss[v], branchLength[v]),
    );
    const s0 = c.gain[ROOT] + c.loss[ROOT];
    const prior = [c.loss[ROOT] / s0, c.gain[ROOT] / s0];
    for (let a = 0; a < 1 << nNodes; a++) {
      const st = (v: number) => (a >> v) & 1;
      let prob = prior[st(ROOT)];
      for (let v = 0; v < nNodes - 1; v++) prob *= p[v][st(parent[v])][st(v)];
      truthTips[a & ((1 << nTips) - 1)] += c.weight * prob;
    }
  }
  const out = new Float64Array(3 ** nTips);
  for (let col = 0; col < out.length; col++) {
    for (let truth = 0; truth < 1 << nTips; truth++) {
      let prob = truthTips[truth];
      let code = col;
      for (let i = 0; i < nTips; i++) {
        const rec = code % 3;
        code = (code - rec) / 3;
        const x = (truth >> i) & 1;
        if (rec === 2) prob *= s.missing;
        else {
          const flip = x === 1 ? s.falseAbsence : s.falsePresence;
          prob *= (1 - s.missing) * (rec === x ? 1 - flip : flip);
        }
      }
      out[col] += prob;
    }
  }
  return out;
}

function presentCount(col: number): number {
  let n = 0;
  for (let i = 0; i < nTips; i++) {
    if (col % 3 === 1) n++;
    col = Math.floor(col / 3);
  }
  return n;
}

/**
 * Pearson goodness of fit of the simulated rows `rows` to the reference within the window;
 * cells with expected count below 5 pooled into one. Also the reference's window probability.
 */
function goodnessOfFit(
  sim: ModelSimulation,
  rows: readonly number[],
  s: RefSetting,
): { stat: number; df: number; p: number; pWindow: number } {
  const probs = columnProbabilities(s);
  const counts = new Float64Array(probs.length);
  for (const f of rows) {
    let code = 0;
    for (let i = nTips - 1; i >= 0; i--) code = 3 * code + sim.states[f * nTips + i];
    counts[code]++;
  }
  const inside = (col: number) => {
    const k = presentCount(col);
    return k >= s.minPresent && k <= s.maxPresent;
  };
  let pWindow = 0;
  for (let col = 0; col < probs.length; col++) if (inside(col)) pWindow += probs[col];
  let stat = 0, df = -1, pooledE = 0, pooledO = 0;
  for (let col = 0; col < probs.length; col++) {
    if (!inside(col)) {
      assert.equal(counts[col], 0, `column ${col} is outside the window but was kept`);
      continue;
    }
    const e = rows.length * probs[col] / pWindow;
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
  return { stat, df, p: regularizedGammaQ(df / 2, df > 0 ? stat / 2 : 0), pWindow };
}

/** The background's components (weight, gain, loss, invariant) at its parameter values. */
function backgroundComponents(
  model: ModelDescription,
  v: Record<string, number>,
): { weight: number; gain: number; loss: number; invariant?: boolean }[] {
  const pInv = model.invariant ? v.pInv : 0;
  const out: { weight: number; gain: number; loss: number; invariant?: boolean }[] = [];
  if (model.rates.kind === "gamma") {
    for (const r of gammaCategoryRates(v.alpha, model.rates.categories).rates) {
      out.push({ weight: (1 - pInv) / model.rates.categories, gain: v.gain * r, loss: v.loss * r });
    }
  } else out.push({ weight: 1 - pInv, gain: v.gain, loss: v.loss });
  if (model.invariant) out.push({ weight: pInv, gain: 0, loss: 0, invariant: true });
  return out;
}

/**
 * The reference components of family group `set` (-1: in no set): each background rate
 * multiplied on every node by exp(sum theta_e x_{e,v}) over the effects applying to the group,
 * written out here from the effect definitions.
 */
function groupSetting(
  model: ModelDescription,
  v: Record<string, number>,
  effects: readonly Effect[],
  theta: readonly number[],
  set: number,
  extra: Omit<RefSetting, "components">,
): RefSetting {
  const logGain = new Array(nNodes).fill(0), logLoss = new Array(nNodes).fill(0);
  effects.forEach((e, i) => {
    const applies = e.sets === null || e.sets.includes(set);
    if (!applies) return;
    for (let node = 0; node < nNodes; node++) {
      const x = e.design === null ? 1 : e.design[node];
      (e.channel === "gain" ? logGain : logLoss)[node] += theta[i] * x;
    }
  });
  return {
    ...extra,
    components: backgroundComponents(model, v).map((c) => ({
      weight: c.weight,
      invariant: c.invariant,
      gain: logGain.map((l) => c.gain * Math.exp(l)),
      loss: logLoss.map((l) => c.loss * Math.exp(l)),
    })),
  };
}

/** The nodes of the clade of genome_C, genome_D, genome_E (its MRCA included), by name. */
function cladeDesign(stem: boolean): Float64Array {
  const x = new Float64Array(nNodes);
  const tips = ["genome_C", "genome_D", "genome_E"].map((n) => TREE.tipNames.indexOf(n));
  const mrca = TREE.parent[tips[0]];
  assert.ok(tips.every((t) => TREE.parent[t] === mrca) && mrca !== ROOT);
  for (const t of tips) x[t] = 1;
  if (stem) x[mrca] = 1;
  return x;
}

interface Case {
  readonly name: string;
  readonly model: ModelDescription;
  readonly values: Record<string, number>;
  readonly effects: readonly Effect[];
  readonly theta: readonly number[];
  /** Set names; families f with f % (sets + 1) === s + 1 are in set s. */
  readonly sets: readonly string[];
  readonly extra: Omit<RefSetting, "components">;
}

const plain = { falsePresence: 0, falseAbsence: 0, missing: 0, minPresent: 1, maxPresent: nTips };

const CASES: Case[] = [
  {
    name: "set effect on loss (null background)",
    model: parseModel("null"),
    values: { gain: 0.8, loss: 1.2 },
    effects: [{ name: "theta", description: "", channel: "loss", sets: [0], design: null }],
    theta: [Math.log(3)],
    sets: ["pathway"],
    extra: plain,
  },
  {
    name: "clade effect on gain with stem (gamma4+inv background, tip error, missing cells)",
    model: parseModel("gamma4+inv+error"),
    values: {
      gain: 0.8,
      loss: 1.2,
      alpha: 0.5,
      pInv: 0.15,
      falsePresence: 0.03,
      falseAbsence: 0.05,
    },
    effects: [{
      name: "thetaGain[clade]",
      description: "",
      channel: "gain",
      sets: null,
      design: cladeDesign(true),
    }],
    theta: [1.2],
    sets: [],
    extra: { falsePresence: 0.03, falseAbsence: 0.05, missing: 0.08, minPresent: 1, maxPresent: 4 },
  },
  {
    name: "two sets, a set loss effect, a set gain effect and a covariate with a root entry",
    model: parseModel("gamma4"),
    values: { gain: 0.8, loss: 1.2, alpha: 0.5 },
    effects: [
      { name: "thetaLoss[A]", description: "", channel: "loss", sets: [0], design: null },
      { name: "thetaGain[B]", description: "", channel: "gain", sets: [1], design: null },
      {
        name: "slope",
        description: "",
        channel: "gain",
        sets: null,
        // Arbitrary values on every node, the root prior's included (its rates then differ).
        design: Float64Array.of(0.5, -1, 0.2, 1.5, -0.3, 0.8, 0, -0.7),
      },
    ],
    theta: [-0.9, 0.6, 0.5],
    sets: ["A", "B"],
    extra: { ...plain, minPresent: 2, maxPresent: 5 },
  },
];

function setupOf(c: Case, n: number): EffectSetup {
  if (c.sets.length === 0) return { effects: c.effects, groups: null };
  const ofFamily = new Int32Array(n);
  for (let f = 0; f < n; f++) ofFamily[f] = (f % (c.sets.length + 1)) - 1;
  return { effects: c.effects, groups: { sets: c.sets, ofFamily } };
}

for (const [k, c] of CASES.entries()) {
  Deno.test(`simulateModel with effects, ${c.name}: each group's columns follow its model`, () => {
    const n = 60000 * (c.sets.length + 1);
    const setup = setupOf(c, n);
    const sim = simulateModel(TREE, c.model, c.values, {
      nFamilies: n,
      seed: 500 + k,
      ascertainment: { minPresent: c.extra.minPresent, maxPresent: c.extra.maxPresent },
      missing: c.extra.missing,
      effects: setup,
      effectValues: Object.fromEntries(c.effects.map((e, i) => [e.name, c.theta[i]])),
    });
    assert.deepEqual(sim.familySet, setup.groups?.ofFamily ?? new Int32Array(n).fill(-1));
    assert.deepEqual(sim.effects!.map((e) => e.theta), c.theta);
    assert.deepEqual(sim.groupCounts!.names, ["(none)", ...c.sets]);
    for (let g = -1; g < c.sets.length; g++) {
      const rows: number[] = [];
      for (let f = 0; f < n; f++) if (sim.familySet![f] === g) rows.push(f);
      if (rows.length === 0) continue;
      const right = groupSetting(c.model, c.values, c.effects, c.theta, g, c.extra);
      const fit = goodnessOfFit(sim, rows, right);
      assert.ok(
        fit.p > LEVEL,
        `group ${g}: chi-square ${fit.stat.toFixed(1)} on ${fit.df} df, p ${
          fit.p.toExponential(2)
        }`,
      );
      // Attempts of group g are discarded independently with probability 1 - P_g(window).
      const simulated = sim.groupCounts!.simulated[g + 1];
      assert.equal(sim.groupCounts!.kept[g + 1], rows.length);
      const pOut = 1 - fit.pWindow;
      const z = (simulated - rows.length - simulated * pOut) /
        Math.sqrt(simulated * pOut * (1 - pOut));
      assert.ok(Math.abs(z) < Z, `group ${g}: ${simulated - rows.length} discarded, z = ${z}`);
      // Power: the group's columns against the background alone (no effect).
      const none = groupSetting(c.model, c.values, c.effects, c.theta.map(() => 0), g, c.extra);
      const affected = c.effects.some((e) => e.sets === null || e.sets.includes(g));
      if (affected) {
        const bad = goodnessOfFit(sim, rows, none);
        assert.ok(bad.p < 1e-10, `group ${g}: the background alone was not rejected (${bad.p})`);
      }
    }
    assert.equal(
      sim.nSimulated,
      sim.groupCounts!.simulated.reduce((a, b) => a + b, 0),
    );
  });
}

Deno.test("simulateModel with effects at theta = 0 is the background simulation, draw for draw", () => {
  const c = CASES[2];
  const n = 3000;
  const base = simulateModel(TREE, c.model, c.values, { nFamilies: n, seed: 9, missing: 0.1 });
  const zero = simulateModel(TREE, c.model, c.values, {
    nFamilies: n,
    seed: 9,
    missing: 0.1,
    effects: setupOf(c, n),
    effectValues: [0, 0, 0],
  });
  assert.deepEqual(zero.states, base.states);
  assert.deepEqual(zero.familyGains, base.familyGains);
  assert.deepEqual(zero.familyLosses, base.familyLosses);
  assert.equal(zero.nSimulated, base.nSimulated);
  assert.equal(base.effects, undefined);
  // Another value changes the draws, and the same value gives the same draws.
  const run = () =>
    simulateModel(TREE, c.model, c.values, {
      nFamilies: n,
      seed: 9,
      missing: 0.1,
      effects: setupOf(c, n),
      effectValues: [0.4, 0, 0],
    });
  const a = run(), b = run();
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.states, base.states);
});

Deno.test("simulateModel with effects: bad effects and values are refused naming them", () => {
  const c = CASES[2];
  const opts = { nFamilies: 30, seed: 1, effects: setupOf(c, 30) };
  const sim = (extra: Record<string, unknown>) =>
    simulateModel(TREE, c.model, c.values, { ...opts, ...extra });
  assert.throws(() => sim({}), /Give effectValues for the effects \(thetaLoss\[A\], thetaGain/);
  assert.throws(() => sim({ effectValues: [1, 2] }), /There are 3 effects .*; got 2 values/);
  assert.throws(
    () => sim({ effectValues: { "thetaLoss[A]": 1, "thetaGain[B]": 0, slope: 0, other: 1 } }),
    /There is no effect named 'other'/,
  );
  assert.throws(
    () => sim({ effectValues: { "thetaLoss[A]": 1, "thetaGain[B]": 0 } }),
    /Effect slope needs a value/,
  );
  assert.throws(() => sim({ effectValues: [1, NaN, 0] }), /thetaGain\[B\] must have a finite/);
  assert.throws(
    () => sim({ effectValues: [800, 0, 0] }),
    /component category 1 infinite at the root for set 'A' \(gain 0.02\d+, loss Infinity\)/,
  );
  assert.throws(
    () => sim({ effects: setupOf(c, 29), effectValues: [0, 0, 0] }),
    /Family groups cover 29 families; the PAM has 30/,
  );
  assert.throws(
    () =>
      sim({
        effects: { effects: c.effects, groups: null },
        effectValues: [0, 0, 0],
      }),
    /Effect thetaLoss\[A\] applies to family sets, but no family groups were given/,
  );
  assert.throws(
    () => simulateModel(TREE, c.model, c.values, { nFamilies: 3, seed: 1, effectValues: [1] }),
    /effectValues were given without effects/,
  );
});

for (const c of CASES) {
  Deno.test(`ModelLikelihood with effects, ${c.name}: per-family values equal the enumeration`, () => {
    const n = 600 * (c.sets.length + 1);
    const setup = setupOf(c, n);
    const sim = simulateModel(TREE, c.model, c.values, {
      nFamilies: n,
      seed: 77,
      ascertainment: { minPresent: c.extra.minPresent, maxPresent: c.extra.maxPresent },
      missing: c.extra.missing,
      effects: setup,
      effectValues: c.theta,
    });
    const names = Array.from({ length: n }, (_, f) => `f${f}`);
    const patterns = compressPatterns(sim.states, n, nTips, names);
    using lik = new ModelLikelihood(
      TREE,
      patterns,
      tsBackendFactory,
      c.model,
      { minPresent: c.extra.minPresent, maxPresent: c.extra.maxPresent },
      { effects: setup },
    );
    assert.deepEqual(
      lik.parameters.slice(-c.effects.length).map((p) => p.name),
      c.effects.map((e) => e.name),
    );
    const values = Float64Array.from([...modelValueVector(c.model, c.values), ...c.theta]);
    const value = lik.evaluate(values, false);
    const perFamily = value.perFamily ??
      Float64Array.from(patterns.familyPattern, (p) => value.perPattern[p]);
    // The likelihood conditions each family on the window given its own missing cells:
    // P(column) / P(window and the same missing cells), both from the enumeration.
    const maskOf = (col: number) => {
      let m = 0;
      for (let i = 0, code = col; i < nTips; i++, code = Math.floor(code / 3)) {
        if (code % 3 === 2) m |= 1 << i;
      }
      return m;
    };
    const probs = new Map<number, { probs: Float64Array; pWindow: Float64Array }>();
    let total = 0;
    for (let f = 0; f < n; f++) {
      const g = sim.familySet![f];
      if (!probs.has(g)) {
        const s = groupSetting(c.model, c.values, c.effects, c.theta, g, c.extra);
        const p = columnProbabilities(s);
        const w = new Float64Array(1 << nTips);
        for (let col = 0; col < p.length; col++) {
          const k = presentCount(col);
          if (k >= s.minPresent && k <= s.maxPresent) w[maskOf(col)] += p[col];
        }
        probs.set(g, { probs: p, pWindow: w });
      }
      const { probs: p, pWindow } = probs.get(g)!;
      let code = 0;
      for (let i = nTips - 1; i >= 0; i--) code = 3 * code + sim.states[f * nTips + i];
      const expected = Math.log(p[code] / pWindow[maskOf(code)]);
      // Both are sums of a few hundred products of doubles: 1e-10 absolute in log units.
      assert.ok(
        Math.abs(perFamily[f] - expected) < 1e-10,
        `family ${f} (set ${g}): likelihood ${perFamily[f]}, enumeration ${expected}`,
      );
      total += expected;
    }
    // The total is the sum over families (1e-9 relative: 600-1,800 terms of rounding 1e-13).
    assert.ok(Math.abs(value.logLik - total) < 1e-9 * Math.abs(total), `${value.logLik} ${total}`);
  });
}

Deno.test("genecontent simulate --family-set F --theta T: the set's rate and the truth", async () => {
  const dir = await Deno.makeTempDir({ prefix: "genecontent-simulate-effects-" });
  try {
    const tree = `${dir}/tree.nwk`;
    await Deno.writeTextFile(
      tree,
      "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);\n",
    );
    const n = 40;
    const members = Array.from({ length: 10 }, (_, i) => simulatedFamilyName(3 * i, n));
    await Deno.writeTextFile(`${dir}/retained.txt`, `# ten families\n${members.join("\n")}\n`);
    const base = ["--tree", tree, "--gain", "0.8", "--loss", "1.2", "--families", String(n)];
    const args = [...base, "--seed", "4", "--family-set", `${dir}/retained.txt`];
    assert.equal(await simulateCommand([...args, "--theta=-0.5", "--out", `${dir}/sim`]), 0);
    const truth = JSON.parse(await Deno.readTextFile(`${dir}/sim/truth.json`));
    assert.deepEqual(truth.effects.map((e: { name: string }) => e.name), ["theta"]);
    assert.equal(truth.effects[0].rate, "loss");
    assert.equal(truth.effects[0].theta, -0.5);
    assert.deepEqual(truth.effects[0].sets, ["retained"]);
    assert.equal(truth.sets[0].keptFamilies, 10);
    const set: (string | null)[] = truth.families.set;
    assert.equal(set.length, n);
    for (let f = 0; f < n; f++) assert.equal(set[f], f % 3 === 0 && f < 30 ? "retained" : null);
    // The PAM is the library's simulation with the same effect (same seed, same draws).
    const parsed = parseNewick(await Deno.readTextFile(tree), "tree.nwk");
    const ofFamily = Int32Array.from(set, (s) => (s === null ? -1 : 0));
    const sim = simulateModel(parsed, parseModel("null"), { gain: 0.8, loss: 1.2 }, {
      nFamilies: n,
      seed: 4,
      effects: {
        effects: [{ name: "theta", description: "", channel: "loss", sets: [0], design: null }],
        groups: { sets: ["retained"], ofFamily },
      },
      effectValues: [-0.5],
    });
    assert.deepEqual(
      await Deno.readFile(`${dir}/sim/pam.tsv`),
      encodePamTsv(parsed.tipNames, sim.states, n),
    );
    // Without the effect options truth.json has no effect keys (and stays as before).
    assert.equal(await simulateCommand([...base, "--seed", "4", "--out", `${dir}/plain`]), 0);
    const plain = JSON.parse(await Deno.readTextFile(`${dir}/plain/truth.json`));
    assert.equal(plain.effects, undefined);
    assert.equal(plain.families.set, undefined);
    // Bad input names the problem.
    await assert.rejects(
      () => simulateCommand([...base, "--seed", "4", "--theta", "1", "--out", `${dir}/x`]),
      /--family-set and --theta go together/,
    );
    await Deno.writeTextFile(`${dir}/bad.txt`, "fam01\nfam99\n");
    await assert.rejects(
      () =>
        simulateCommand([
          ...base,
          "--seed",
          "4",
          "--family-set",
          `${dir}/bad.txt`,
          "--theta",
          "1",
          "--out",
          `${dir}/y`,
        ]),
      /fam99/,
    );
    await assert.rejects(
      () => simulateCommand([...args, "--theta", "1", "--effect", "both", "--out", `${dir}/z`]),
      /--effect/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
