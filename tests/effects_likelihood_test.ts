/**
 * The likelihood of a background model with effects (family-set and lineage multipliers) against
 * enumeration: every internal and true tip state of each column, per-branch rates written out
 * from the effect definitions (exp(theta x_v) on the multiplied rate), mixture and invariant
 * class, error probabilities, and the window probability by enumerating every recorded column,
 * each family at its own set's rates. Also: gradients against central differences, the native
 * kernel against the TypeScript one, theta = 0 against the background model, and
 * `familyCurves` against single-family set effects.
 */
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import {
  bruteComponents,
  type BruteError,
  bruteError,
  inWindow,
  recordedColumns,
} from "./support/brute_force_models.ts";
import { multifurcating, withUnary } from "./support/small_trees.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { loadKernel, tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { type Ascertainment, parseModel } from "../lib/model/description.ts";
import { valuesFromNames } from "../lib/model/values.ts";
import { type Effect, type EffectSetup, familyGroups } from "../lib/model/effects.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { GenecontentError } from "../lib/errors.ts";

// Enumeration and pruning both sum positive products; logs of probabilities around 1e-4 agree
// to ~1e-14 absolute, so 1e-12 leaves margin for the sums over a dozen families.
const BRUTE_TOL = 1e-12;

/** P(recorded column) with per-node rates (the root's pair sets the root prior), by enumeration. */
function brutePerBranch(
  tree: FlatTree,
  column: readonly number[],
  gain: readonly number[],
  loss: readonly number[],
  err: BruteError | null,
): number {
  const { nNodes, nTips, parent, branchLength } = tree;
  const root = nNodes - 1;
  const state = new Array(nNodes).fill(0);
  let total = 0;
  for (let m = 0; m < 2 ** nNodes; m++) {
    for (let v = 0; v < nNodes; v++) state[v] = (m >> v) & 1;
    const g0 = gain[root], l0 = loss[root];
    let joint = state[root] === 1 ? g0 / (g0 + l0) : l0 / (g0 + l0);
    for (let v = 0; v < root; v++) {
      const s = gain[v] + loss[v];
      const to = state[v];
      const piTo = to === 1 ? gain[v] / s : loss[v] / s;
      joint *= piTo + ((state[parent[v]] === to ? 1 : 0) - piTo) * Math.exp(-s * branchLength[v]);
    }
    for (let i = 0; i < nTips; i++) {
      const rec = column[i];
      if (rec === 2) continue;
      if (!err) joint *= state[i] === rec ? 1 : 0;
      else {
        const e = state[i] === 0 ? err.ePlus : err.eMinus[i];
        joint *= state[i] === rec ? 1 - e : e;
      }
    }
    total += joint;
  }
  return total;
}

interface Case {
  readonly model: string;
  readonly named: Record<string, number>;
  readonly window: Ascertainment;
}

const CASES: Case[] = [
  { model: "null", named: { gain: 0.4, loss: 1.3 }, window: { minPresent: 1, maxPresent: null } },
  {
    model: "gamma3+inv",
    named: { gain: 0.6, loss: 0.9, alpha: 0.8, pInv: 0.15 },
    window: { minPresent: 1, maxPresent: null },
  },
  {
    model: "mixture2+error",
    named: {
      gain1: 0.2,
      loss1: 0.5,
      gain2: 1.5,
      loss2: 2.5,
      split1: 0.3,
      falsePresence: 0.04,
      falseAbsence: 0.1,
    },
    window: { minPresent: 2, maxPresent: 3 },
  },
  {
    model: "gamma2+error",
    named: { gain: 0.5, loss: 1.1, alpha: 1.7, falsePresence: 0.03, falseAbsence: 0.08 },
    window: { minPresent: 0, maxPresent: null },
  },
];

/** Three effects: a set's loss (whole process), a clade's gain, a tip covariate on loss. */
function effectsFor(tree: FlatTree, families: string[]): EffectSetup {
  const groups = familyGroups(
    families,
    new Map([["A", families.filter((_, i) => i % 3 === 0)], [
      "B",
      families.filter((_, i) => i % 3 === 1),
    ]]),
  );
  // The clade below the tree's first internal node, with its stem.
  const clade = new Float64Array(tree.nNodes);
  const top = tree.nTips;
  for (let v = 0; v < tree.nNodes; v++) {
    for (let u = v; u >= 0; u = tree.parent[u]) if (u === top) clade[v] = 1;
  }
  const covariate = new Float64Array(tree.nNodes);
  for (let i = 0; i < tree.nTips; i++) covariate[i] = (i % 3) - 1 + 0.25 * i;
  const effects: Effect[] = [
    { name: "setLossA", description: "", channel: "loss", sets: [0], design: null },
    { name: "setGainB", description: "", channel: "gain", sets: [1], design: null },
    { name: "cladeGain", description: "", channel: "gain", sets: null, design: clade },
    { name: "covLossA", description: "", channel: "loss", sets: [0], design: covariate },
  ];
  return { effects, groups };
}

/** Per-node multipliers of a family in set `s` at effect values `theta`. */
function multipliers(setup: EffectSetup, theta: readonly number[], s: number, nNodes: number) {
  const g = new Array(nNodes).fill(0), l = new Array(nNodes).fill(0);
  setup.effects.forEach((e, i) => {
    if (e.sets !== null && !e.sets.includes(s)) return;
    for (let v = 0; v < nNodes; v++) {
      const x = e.design ? e.design[v] : 1;
      (e.channel === "gain" ? g : l)[v] += theta[i] * x;
    }
  });
  return { g, l };
}

function bruteTotal(
  tree: FlatTree,
  columns: number[][],
  c: Case,
  setup: EffectSetup,
  theta: readonly number[],
): number[] {
  const model = parseModel(c.model);
  const values = valuesFromNames(model, c.named);
  const comps = bruteComponents(model, values);
  const err = bruteError(model, values, tree.nTips, null);
  const corrected = c.window.minPresent > 0 || c.window.maxPresent !== null;
  return columns.map((col, f) => {
    const s = setup.groups!.ofFamily[f];
    const { g, l } = multipliers(setup, theta, s, tree.nNodes);
    const prob = (x: readonly number[]) =>
      comps.reduce((sum, comp) => {
        if (!comp.rates) {
          let p = 1;
          for (let i = 0; i < tree.nTips; i++) {
            if (x[i] === 2) continue;
            const e = err ? err.eMinus[i] : 0;
            p *= x[i] === 1 ? 1 - e : e;
          }
          return sum + comp.weight * p;
        }
        const gains = g.map((m) => comp.rates!.gain * Math.exp(m));
        const losses = l.map((m) => comp.rates!.loss * Math.exp(m));
        return sum + comp.weight * brutePerBranch(tree, x, gains, losses, err);
      }, 0);
    let ll = Math.log(prob(col));
    if (corrected) {
      const mask = col.map((x) => (x === 2 ? 0 : 1));
      let obs = 0;
      for (const x of recordedColumns(mask)) if (inWindow(x, c.window)) obs += prob(x);
      ll -= Math.log(obs);
    }
    return ll;
  });
}

/**
 * Twelve columns in the window (some with missing cells), as families f0..f11; the first is
 * present everywhere but one missing cell (so the invariant class can explain it).
 */
function columnsFor(tree: FlatTree, window: Ascertainment): number[][] {
  const first = Array.from({ length: tree.nTips }, (_, i) => (i === 1 ? 2 : 1));
  const out: number[][] = inWindow(first, window) ? [first] : [];
  for (let x = 0; out.length < 12 && x < 4 ** tree.nTips; x += 7) {
    const col = Array.from({ length: tree.nTips }, (_, i) => Math.floor(x / 3 ** i) % 3);
    if (inWindow(col, window) && col.some((s) => s !== 2)) out.push(col);
  }
  return out;
}

function patternsOf(columns: number[][], nTips: number) {
  return compressPatterns(
    new Uint8Array(columns.flat()),
    columns.length,
    nTips,
    columns.map((_, i) => `f${i}`),
  );
}

const THETA = [0.7, -0.4, 0.9, -0.3];

Deno.test("effects: total and per-family log-likelihoods equal enumeration", () => {
  for (const tree of [withUnary(), multifurcating()]) {
    for (const c of CASES) {
      // On the 8-tip tree, only cases whose window enumeration stays small.
      if (tree.nTips > 4 && c.window.minPresent > 1) continue;
      const cols = columnsFor(tree, c.window);
      const patterns = patternsOf(cols, tree.nTips);
      const setup = effectsFor(tree, patterns.familyNames as string[]);
      const model = parseModel(c.model);
      using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model, c.window, {
        effects: setup,
      });
      const values = Float64Array.from([...valuesFromNames(model, c.named), ...THETA]);
      const got = lik.evaluate(values);
      const want = bruteTotal(tree, cols, c, setup, THETA);
      const label = `${c.model} on ${tree.nTips} tips`;
      want.forEach((w, f) => assertClose(got.perFamily![f], w, BRUTE_TOL, `${label} f${f}`));
      assertClose(got.logLik, want.reduce((a, b) => a + b), BRUTE_TOL, label);
      assert.deepEqual(lik.parameters.slice(-4).map((p) => p.name), [
        "setLossA",
        "setGainB",
        "cladeGain",
        "covLossA",
      ]);
    }
  }
});

Deno.test("effects: gradients equal central differences for every parameter", () => {
  const tree = withUnary();
  for (const c of CASES) {
    const cols = columnsFor(tree, c.window);
    const patterns = patternsOf(cols, tree.nTips);
    const setup = effectsFor(tree, patterns.familyNames as string[]);
    const model = parseModel(c.model);
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model, c.window, {
      effects: setup,
    });
    const values = Float64Array.from([...valuesFromNames(model, c.named), ...THETA]);
    const g = lik.evaluate(values, true).gradient!;
    for (let i = 0; i < values.length; i++) {
      // Relative steps of 1e-5 give central differences accurate to ~1e-9 relative on these
      // smooth functions; 2e-6 absolute plus relative leaves a margin above that.
      const h = 1e-5 * Math.max(Math.abs(values[i]), 0.1);
      const up = Float64Array.from(values), down = Float64Array.from(values);
      up[i] += h;
      down[i] -= h;
      const fd = (lik.evaluate(up).logLik - lik.evaluate(down).logLik) / (2 * h);
      assert.ok(
        Math.abs(g[i] - fd) <= 2e-6 * (1 + Math.abs(fd)),
        `${c.model} ${lik.parameters[i].name}: analytic ${g[i]} vs ${fd}`,
      );
    }
  }
});

Deno.test("effects: theta = 0 gives the background model; native equals TypeScript", async () => {
  const { kernel, reasons } = await loadKernel();
  if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);
  const native = {
    name: "native" as const,
    create: (t: FlatTree, s: Uint8Array, n: number) =>
      new NativeBackend(kernel, t, s, n, { threads: 1 }),
  };
  const tree = multifurcating();
  for (const c of CASES) {
    const cols = columnsFor(tree, c.window);
    const patterns = patternsOf(cols, tree.nTips);
    const setup = effectsFor(tree, patterns.familyNames as string[]);
    const model = parseModel(c.model);
    const base = valuesFromNames(model, c.named);
    using plain = new ModelLikelihood(tree, patterns, tsBackendFactory, model, c.window);
    using ts = new ModelLikelihood(tree, patterns, tsBackendFactory, model, c.window, {
      effects: setup,
    });
    using nat = new ModelLikelihood(tree, patterns, native, model, c.window, { effects: setup });
    const zero = Float64Array.from([...base, 0, 0, 0, 0]);
    const p = plain.evaluate(base, true);
    const z = ts.evaluate(zero, true);
    // The same sums in another grouping: equal to rounding.
    assertClose(z.logLik, p.logLik, 1e-13, `${c.model} theta = 0`);
    for (let i = 0; i < base.length; i++) {
      assertClose(z.gradient![i], p.gradient![i], 1e-10, `${c.model} gradient ${i}`);
    }
    const values = Float64Array.from([...base, ...THETA]);
    const a = ts.evaluate(values, true), b = nat.evaluate(values, true);
    // The kernels differ only in summation order: 1e-10 relative, as elsewhere in the suite.
    assertClose(b.logLik, a.logLik, 1e-10, `${c.model} native`);
    a.gradient!.forEach((x, i) => assertClose(b.gradient![i], x, 1e-9, `${c.model} d${i}`));
  }
});

Deno.test("familyCurves equal a one-family set effect at each theta, with d/d theta", () => {
  const tree = withUnary();
  for (const c of CASES) {
    const cols = columnsFor(tree, c.window);
    const patterns = patternsOf(cols, tree.nTips);
    const model = parseModel(c.model);
    const base = valuesFromNames(model, c.named);
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model, c.window);
    const thetas = Float64Array.of(-1.5, 0, 0.8);
    for (const channel of ["loss", "gain"] as const) {
      const all = Uint32Array.from({ length: patterns.nPatterns }, (_, i) => i);
      const curves = lik.familyCurves(all, channel, thetas, base, true);
      // A subset (fewer missingness masks than the data) gives the same values.
      const some = all.filter((p) => p % 3 === 1);
      const part = lik.familyCurves(some, channel, thetas, base, true);
      some.forEach((p, i) =>
        thetas.forEach((_, k) => {
          assertClose(part.logLik[k * some.length + i], curves.logLik[k * all.length + p], 1e-13);
          assertClose(part.dTheta![k * some.length + i], curves.dTheta![k * all.length + p], 1e-12);
        })
      );
      for (const f of [0, 5]) {
        const p = patterns.familyPattern[f];
        const one = familyGroups(patterns.familyNames, new Map([["one", [`f${f}`]]]));
        using single = new ModelLikelihood(tree, patterns, tsBackendFactory, model, c.window, {
          effects: {
            effects: [{ name: "t", description: "", channel, sets: [0], design: null }],
            groups: one,
          },
        });
        thetas.forEach((t, k) => {
          const e = single.evaluate(Float64Array.from([...base, t]), true);
          const label = `${c.model} ${channel} f${f} theta ${t}`;
          assertClose(curves.logLik[k * all.length + p], e.perFamily![f], BRUTE_TOL, label);
          assertClose(curves.dTheta![k * all.length + p], e.gradient!.at(-1)!, 1e-10, label);
        });
      }
    }
  }
});

Deno.test("family sets: unknown, empty, overlapping and all-covering sets are refused", () => {
  const names = ["a", "b_1", "C d"];
  assert.throws(
    () => familyGroups(names, new Map([["S", ["a", "x", "y"]]])),
    (e: Error) =>
      e instanceof GenecontentError && /2 families of set 'S'.*'x', 'y'/.test(e.message),
  );
  assert.throws(() => familyGroups(names, new Map([["S", []]])), /Family set 'S' is empty/);
  assert.throws(
    () => familyGroups(names, new Map([["S", ["a"]], ["T", ["a"]]])),
    /Family 'a' is in two sets \('S' and 'T'\)/,
  );
  assert.throws(
    () => familyGroups(names, new Map([["S", ["a", "b_1"]], ["T", ["C d"]]])),
    /cover every family/,
  );
  // Ids are kept exactly as written: case and spaces matter.
  assert.throws(() => familyGroups(names, new Map([["S", ["c d"]]])), /'c d'/);
  assert.deepEqual([...familyGroups(names, new Map([["S", ["C d"]]])).ofFamily], [-1, -1, 0]);
});
