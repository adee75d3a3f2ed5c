/**
 * Stochastic mapping against exact references computed here: enumeration of every joint state
 * assignment of a small tree (tips included, with annotation error as emission probabilities),
 * expected events per branch from endpoint-conditioned integrals (by quadrature, and the notes'
 * closed form), and jump-count distributions from an augmented chain (states x number of jumps)
 * exponentiated densely. Monte Carlo comparisons are z- or chi-square tests at a stated overall
 * level with a Bonferroni correction over the quantities compared; the seeds are fixed, so each
 * test is deterministic.
 */
import assert from "node:assert/strict";
import {
  sampleEndpointJumps,
  stochasticMap,
  stochasticMapPatterns,
} from "../lib/ancestral/stochastic_map.ts";
import { GenecontentError } from "../lib/errors.ts";
import { chiSquareQuantile } from "../lib/fit/chi_square.ts";
import { normalQuantile } from "../lib/fit/normal_quantile.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { expandModel } from "../lib/model/components.ts";
import { parseModel } from "../lib/model/description.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { Random } from "../lib/simulate/random.ts";
import { starTree } from "../lib/simulate/trees.ts";
import { MISSING } from "../lib/pam/matrix.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { expm } from "./support/brute_force_ancestral.ts";
import { binary4, binary6, caterpillar, multifurcating, withUnary } from "./support/small_trees.ts";
import { assertClose } from "./support/assert_close.ts";

/** Overall level of every family of Monte Carlo tests below (before Bonferroni splitting). */
const LEVEL = 1e-3;

/** Two-sided Bonferroni critical value for m z-tests at overall level LEVEL. */
function zCritical(m: number): number {
  return normalQuantile(1 - LEVEL / (2 * m));
}

// ---------------------------------------------------------------- exact references

function transition(gain: number, loss: number, t: number): number[] {
  const s = gain + loss, pi1 = gain / s, pi0 = loss / s, e = Math.exp(-s * t);
  return [pi0 + pi1 * e, pi1 - pi1 * e, pi0 - pi0 * e, pi1 + pi0 * e];
}

/**
 * E[N_ij ; end b | start a] = q_ij integral_0^t P_ai(x) P_jb(t - x) dx by composite Simpson
 * (2000 intervals: the integrand is a sum of exponentials in x, error below 1e-14 here).
 */
function jumpIntegral(gain: number, loss: number, t: number, i: number, j: number): number[] {
  const n = 2000, h = t / n;
  const out = [0, 0, 0, 0];
  for (let k = 0; k <= n; k++) {
    const x = k * h;
    const w = k === 0 || k === n ? 1 : k % 2 === 1 ? 4 : 2;
    const A = transition(gain, loss, x), B = transition(gain, loss, t - x);
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) out[2 * a + b] += w * A[2 * a + i] * B[2 * j + b];
    }
  }
  const q = i === 0 ? gain : loss;
  return out.map((v) => v * q * h / 3);
}

/** The notes' closed form of the same integral (q_ij J). */
function jumpClosedForm(gain: number, loss: number, t: number, i: number, j: number): number[] {
  const s = gain + loss, pi = [loss / s, gain / s];
  const q = i === 0 ? gain : loss;
  const out: number[] = [];
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      const A = (a === i ? 1 : 0) - pi[i], B = (j === b ? 1 : 0) - pi[b];
      const J = pi[i] * pi[b] * t + (pi[i] * B + A * pi[b]) * (1 - Math.exp(-s * t)) / s +
        A * B * t * Math.exp(-s * t);
      out.push(q * J);
    }
  }
  return out;
}

/**
 * P(N = n jumps ; end b | start a) for n = 0 .. K - 1 from the augmented chain on (state, n),
 * exponentiated densely; `dist[(2a + b) * K + n]`.
 */
function jumpCountDistribution(gain: number, loss: number, t: number, K: number): Float64Array {
  const m = 2 * (K + 1);
  const Q = new Float64Array(m * m);
  for (let n = 0; n <= K; n++) {
    for (let x = 0; x < 2; x++) {
      const i = 2 * n + x, q = x === 0 ? gain : loss;
      Q[i * m + i] = -q * t;
      if (n < K) Q[i * m + 2 * (n + 1) + (1 - x)] = q * t;
    }
  }
  const E = expm(Q, m);
  const out = new Float64Array(4 * K);
  for (let a = 0; a < 2; a++) {
    for (let b = 0; b < 2; b++) {
      for (let n = 0; n < K; n++) out[(2 * a + b) * K + n] = E[a * m + 2 * n + b];
    }
  }
  return out;
}

interface BruteModel {
  /** Rate components: weight, gain, loss. */
  readonly components: { weight: number; gain: number; loss: number }[];
  /** Weight of the invariant class (present everywhere). */
  readonly pInv: number;
  /** P(recorded 1 | truly 0). */
  readonly falsePresence: number;
  /** P(recorded 0 | truly 1), per tip. */
  readonly falseAbsence: ArrayLike<number>;
}

interface BruteResult {
  readonly logLik: number;
  /** Component posteriors (rate components, then the invariant class). */
  readonly posterior: number[];
  /** Expected gains and losses on the branch above each node. */
  readonly gains: Float64Array;
  readonly losses: Float64Array;
  /** P(node present | column). */
  readonly presence: Float64Array;
  /** P(n jumps on the branch above v | column), `jumps[v * K + n]`, n < K. */
  readonly jumps: Float64Array;
  /** Var(gains) and Var(losses) on the branch above v given the column. */
  readonly gainVariance: Float64Array;
  readonly lossVariance: Float64Array;
}

const K = 8;

/** Enumerates every state assignment of every node for every component. */
function brute(tree: FlatTree, column: ArrayLike<number>, model: BruteModel): BruteResult {
  const { nNodes, nTips, parent, branchLength } = tree;
  const root = nNodes - 1;
  const gains = new Float64Array(nNodes), losses = new Float64Array(nNodes);
  const presence = new Float64Array(nNodes), jumps = new Float64Array(nNodes * K);
  // Second moments of gains and losses (n jumps from a: ceil(n/2) gains from 0, floor from 1).
  const gain2 = new Float64Array(nNodes), loss2 = new Float64Array(nNodes);
  const emit = (i: number, x: number) => {
    const r = column[i];
    if (r === 2) return 1;
    const e1 = model.falsePresence, e0 = model.falseAbsence[i];
    if (x === 0) return r === 1 ? e1 : 1 - e1;
    return r === 0 ? e0 : 1 - e0;
  };
  const terms: number[] = [];
  for (const c of model.components) {
    const P = Array.from({ length: nNodes }, (_, v) => transition(c.gain, c.loss, branchLength[v]));
    const EG = Array.from(
      { length: nNodes },
      (_, v) => jumpIntegral(c.gain, c.loss, branchLength[v], 0, 1),
    );
    const EL = Array.from(
      { length: nNodes },
      (_, v) => jumpIntegral(c.gain, c.loss, branchLength[v], 1, 0),
    );
    const JD = Array.from(
      { length: nNodes },
      (_, v) => jumpCountDistribution(c.gain, c.loss, branchLength[v], K),
    );
    const pi1 = c.gain / (c.gain + c.loss);
    let L = 0;
    const g = new Float64Array(nNodes), l = new Float64Array(nNodes);
    const pr = new Float64Array(nNodes), jd = new Float64Array(nNodes * K);
    const g2 = new Float64Array(nNodes), l2 = new Float64Array(nNodes);
    for (let mask = 0; mask < 2 ** nNodes; mask++) {
      const x = (v: number) => (mask >> v) & 1;
      let p = x(root) ? pi1 : 1 - pi1;
      for (let v = 0; v < root && p > 0; v++) p *= P[v][2 * x(parent[v]) + x(v)];
      for (let i = 0; i < nTips && p > 0; i++) p *= emit(i, x(i));
      if (p === 0) continue;
      L += p;
      for (let v = 0; v < nNodes; v++) {
        if (x(v)) pr[v] += p;
        if (v === root) continue;
        const ab = 2 * x(parent[v]) + x(v), pab = P[v][ab];
        // p includes P_ab; E[N | a, b] = integral / P_ab.
        g[v] += p * EG[v][ab] / pab;
        l[v] += p * EL[v][ab] / pab;
        for (let n = 0; n < K; n++) {
          const q = p * JD[v][ab * K + n] / pab;
          jd[v * K + n] += q;
          const up = x(parent[v]) === 0 ? Math.ceil(n / 2) : Math.floor(n / 2);
          g2[v] += q * up * up;
          l2[v] += q * (n - up) * (n - up);
        }
      }
    }
    terms.push(c.weight * L);
    for (let v = 0; v < nNodes; v++) {
      gains[v] += c.weight * g[v];
      losses[v] += c.weight * l[v];
      presence[v] += c.weight * pr[v];
      gain2[v] += c.weight * g2[v];
      loss2[v] += c.weight * l2[v];
    }
    for (let i = 0; i < jd.length; i++) jumps[i] += c.weight * jd[i];
  }
  if (model.pInv > 0) {
    let L = 1;
    for (let i = 0; i < nTips; i++) L *= emit(i, 1);
    terms.push(model.pInv * L);
    for (let v = 0; v < nNodes; v++) {
      presence[v] += model.pInv * L;
      jumps[v * K] += model.pInv * L; // no jumps
    }
  }
  const total = terms.reduce((a, b) => a + b, 0);
  for (const arr of [gains, losses, presence, jumps, gain2, loss2]) {
    for (let i = 0; i < arr.length; i++) arr[i] /= total;
  }
  return {
    logLik: Math.log(total),
    posterior: terms.map((t) => t / total),
    gains,
    losses,
    presence,
    jumps,
    // K = 8 levels: the neglected tail (> 7 jumps) is below 1e-9 for the rates used here.
    gainVariance: gains.map((m, v) => gain2[v] - m * m),
    lossVariance: losses.map((m, v) => loss2[v] - m * m),
  };
}

/** The brute-force model of a genecontent model at values (completeness all 1). */
function bruteModel(model: string, values: number[], nTips: number): BruteModel {
  const desc = parseModel(model);
  const comps = expandModel(desc, values);
  return {
    components: comps.rates.map((c) => ({
      weight: Math.exp(c.logWeight),
      gain: c.gain,
      loss: c.loss,
    })),
    pInv: comps.invariant ? Math.exp(comps.invariant.logWeight) : 0,
    falsePresence: comps.falsePresence,
    falseAbsence: new Float64Array(nTips).fill(comps.falseAbsence),
  };
}

interface Case {
  readonly name: string;
  readonly tree: FlatTree;
  readonly column: number[];
  readonly model: string;
  readonly values: number[];
  /** Draws (default 20,000). */
  readonly samples?: number;
  /** Per-genome completeness (false absence 1 - (1 - falseAbsence) c_i). */
  readonly completeness?: number[];
}

const cases: Case[] = [
  {
    name: "null, binary6",
    tree: binary6(),
    column: [1, 1, 0, 0, 1, 0],
    model: "null",
    values: [0.4, 0.9],
  },
  {
    name: "null, fast rates, missing tips",
    tree: binary4(),
    column: [1, 2, 0, 2],
    model: "null",
    values: [1.5, 2.5],
  },
  {
    name: "gamma3+inv, all present",
    tree: binary4(),
    column: [1, 1, 1, 1],
    model: "gamma3+inv",
    values: [0.3, 0.6, 0.7, 0.2],
  },
  {
    name: "mixture2+error",
    tree: binary4(),
    column: [0, 1, 1, 0],
    model: "mixture2+error",
    values: [0.1, 0.3, 2, 1.5, 0.6, 0.05, 0.1],
  },
  {
    name: "null+error with a missing tip, multifurcation",
    tree: multifurcating(),
    column: [1, 0, 2, 1, 0, 0, 1, 1],
    model: "null+error",
    values: [0.5, 0.8, 0.08, 0.15],
  },
  {
    // Slow rates on a multifurcating tree of mostly absent tips: most non-trivial clades are
    // entered through the choice of their first non-trivial child.
    name: "null, slow rates, multifurcation, one present tip",
    tree: multifurcating(),
    column: [0, 0, 0, 1, 0, 0, 0, 0],
    model: "null",
    values: [0.08, 0.6],
    samples: 200000,
  },
  {
    name: "gamma2+inv with incomplete genomes (no fitted error)",
    tree: binary4(),
    column: [1, 0, 1, 0],
    model: "gamma2+inv",
    values: [0.4, 0.9, 1.2, 0.15],
    completeness: [1, 0.7, 0.9, 0.5],
  },
  {
    name: "null, unary node",
    tree: withUnary(),
    column: Array.from({ length: withUnary().nTips }, (_, i) => i % 2),
    model: "null",
    values: [0.7, 0.4],
  },
];

// ---------------------------------------------------------------- references agree

Deno.test("endpoint integrals: quadrature equals the notes' closed form", () => {
  for (const [g, l, t] of [[0.3, 0.9, 0.7], [2, 0.1, 3], [1e-3, 2e-3, 0.5]]) {
    for (const [i, j] of [[0, 1], [1, 0]]) {
      // Simpson with 2000 intervals on a smooth exponential integrand: ~1e-14 relative.
      assertClose(jumpIntegral(g, l, t, i, j), jumpClosedForm(g, l, t, i, j), 1e-11);
    }
  }
});

Deno.test("augmented chain: jump-count probabilities sum to P_ab and give the mean", () => {
  const [g, l, t] = [0.8, 1.3, 0.9];
  const d = jumpCountDistribution(g, l, 0.9, 30);
  const P = transition(g, l, t);
  for (let ab = 0; ab < 4; ab++) {
    let sum = 0, mean = 0;
    for (let n = 0; n < 30; n++) {
      sum += d[ab * 30 + n];
      mean += n * d[ab * 30 + n];
    }
    // 30 levels leave a tail below (2.1 * 0.9)^30 / 30! ~ 1e-24; Pade [6/6] ~ 1e-15.
    assertClose(sum, P[ab], 1e-13);
    const expected = jumpClosedForm(g, l, t, 0, 1)[ab] + jumpClosedForm(g, l, t, 1, 0)[ab];
    assertClose(mean, expected, 1e-12);
  }
});

// ---------------------------------------------------------------- the sampler

Deno.test("endpoint jumps: distribution of the number of jumps given end states", () => {
  // Branches from slow (q t ~ 0.01) to saturated (s t ~ 8).
  const settings = [[0.01, 0.02, 0.5], [0.5, 1.2, 0.8], [3, 1, 2]];
  const N = 20000, cats = 5;
  const m = settings.length * 4;
  const crit = chiSquareQuantile(1 - LEVEL / m, cats - 1);
  const rng = new Random(11);
  for (const [g, l, t] of settings) {
    const d = jumpCountDistribution(g, l, t, 40);
    const P = transition(g, l, t);
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        const ab = 2 * a + b;
        const counts = new Float64Array(cats);
        for (let s = 0; s < N; s++) {
          const [gg, ll] = sampleEndpointJumps(g, l, t, a, b, rng);
          // Alternation: the numbers of gains and losses follow from the end states.
          assert.equal(gg - ll, b - a);
          counts[Math.min(cats - 1, gg + ll)]++;
        }
        // Expected category probabilities (last: everything at or above cats - 1).
        const probs = new Float64Array(cats);
        for (let n = 0; n < 40; n++) probs[Math.min(cats - 1, n)] += d[ab * 40 + n] / P[ab];
        let chi = 0, df = 0;
        for (let c = 0; c < cats; c++) {
          const e = N * probs[c];
          if (e === 0) {
            assert.equal(counts[c], 0, `impossible count ${c} drawn (${g}, ${l}, ${t}, ${ab})`);
            continue;
          }
          chi += (counts[c] - e) ** 2 / e;
          df++;
        }
        assert.ok(
          chi < chiSquareQuantile(1 - LEVEL / m, Math.max(1, df - 1)) || chi < crit,
          `chi-square ${chi} with ${df - 1} df for (${g}, ${l}, ${t}) from ${a} to ${b}`,
        );
      }
    }
  }
});

for (const c of cases) {
  Deno.test(`stochastic map (${c.name}): events, jump counts and presence match enumeration`, () => {
    const N = c.samples ?? 20000;
    const bm = bruteModel(c.model, c.values, c.tree.nTips);
    const model = c.completeness
      ? {
        ...bm,
        falseAbsence: c.completeness.map((ci, i) => 1 - (1 - bm.falseAbsence[i]) * ci),
      }
      : bm;
    const exact = brute(c.tree, c.column, model);
    const h = stochasticMap(c.tree, Uint8Array.from(c.column), {
      model: c.model,
      values: c.values,
      completeness: c.completeness ? Float64Array.from(c.completeness) : null,
    }, { samples: N, seed: 5 });
    const n = c.tree.nNodes, root = n - 1;
    // The column's likelihood and the component posterior are exact (sums of products: ~1e-14).
    assertClose(h.logLik, exact.logLik, 1e-12);
    assertClose(h.posterior, exact.posterior, 1e-12);
    // z-tests: gains and losses per branch, presence per node, component frequencies.
    const m = 2 * (n - 1) + n + exact.posterior.length;
    const crit = zCritical(m);
    const z = (values: (s: number) => number, expected: number, what: string) => {
      let sum = 0, sq = 0;
      for (let s = 0; s < N; s++) {
        const x = values(s);
        sum += x;
        sq += x * x;
      }
      const mean = sum / N;
      const sd = Math.sqrt(Math.max(0, sq / N - mean * mean));
      if (sd === 0) {
        assertClose(mean, expected, 1e-12, what);
        return;
      }
      const score = (mean - expected) / (sd / Math.sqrt(N));
      assert.ok(Math.abs(score) < crit, `${what}: mean ${mean} vs exact ${expected}, z ${score}`);
    };
    for (let v = 0; v < root; v++) {
      z((s) => h.gains[s * n + v], exact.gains[v], `gains on branch ${v}`);
      z((s) => h.losses[s * n + v], exact.losses[v], `losses on branch ${v}`);
    }
    for (let v = 0; v < n; v++) {
      z((s) => h.states[s * n + v], exact.presence[v], `presence at node ${v}`);
    }
    assertPathsConsistent(c.tree, h);
    exact.posterior.forEach((p, k) =>
      z((s) => (h.component[s] === k ? 1 : 0), p, `component ${k}`)
    );
    // The whole distribution of jumps per branch: chi-square over 0, 1, 2, >= 3.
    const cats = 4;
    for (let v = 0; v < root; v++) {
      const counts = new Float64Array(cats);
      for (let s = 0; s < N; s++) {
        counts[Math.min(cats - 1, h.gains[s * n + v] + h.losses[s * n + v])]++;
      }
      const probs = new Float64Array(cats);
      for (let k = 0; k < K; k++) probs[Math.min(cats - 1, k)] += exact.jumps[v * K + k];
      probs[cats - 1] = 1 - probs[0] - probs[1] - probs[2];
      let chi = 0, df = -1;
      for (let k = 0; k < cats; k++) {
        const e = N * probs[k];
        if (e < 1e-9) {
          assert.equal(counts[k], 0, `branch ${v}: ${k} jumps drawn with probability ${probs[k]}`);
          continue;
        }
        chi += (counts[k] - e) ** 2 / e;
        df++;
      }
      if (df < 1) continue;
      const limit = chiSquareQuantile(1 - LEVEL / root, df);
      assert.ok(chi < limit, `branch ${v}: chi-square ${chi} > ${limit} (${df} df)`);
    }
  });
}

Deno.test("stochastic map: seeded determinism", () => {
  const tree = binary6();
  const rates = { model: "gamma4+inv", values: [0.5, 1, 0.6, 0.1] };
  const a = stochasticMap(tree, Uint8Array.of(1, 0, 1, 2, 0, 1), rates, { samples: 500, seed: 9 });
  const b = stochasticMap(tree, Uint8Array.of(1, 0, 1, 2, 0, 1), rates, { samples: 500, seed: 9 });
  const c = stochasticMap(tree, Uint8Array.of(1, 0, 1, 2, 0, 1), rates, { samples: 500, seed: 10 });
  assert.deepEqual(a.gains, b.gains);
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(a.states, b.states);
  assert.deepEqual(a.component, b.component);
  assert.notDeepEqual(a.states, c.states);
  // The stream is a function of the seed alone (xoshiro128** on 32-bit integers, IEEE doubles):
  // these sums and this hash of the draws were recorded when the sampler was written, and any
  // machine must reproduce them.
  let g = 0, l = 0, st = 0, comp = 0, hash = 0;
  for (let i = 0; i < a.gains.length; i++) {
    g += a.gains[i];
    l += a.losses[i];
    st += a.states[i];
    hash = (Math.imul(hash, 31) + a.gains[i] * 7 + a.losses[i] * 3 + a.states[i]) | 0;
  }
  for (const k of a.component) comp += k;
  assert.deepEqual([g, l, st, comp, hash], [942, 1353, 3553, 1121, -1258251708]);
  const pam = compressPatterns(
    Uint8Array.of(1, 0, 1, 2, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1),
    3,
    6,
    ["f1", "f2", "f3"],
  );
  const x = stochasticMapPatterns(tree, pam, rates, { samples: 300, seed: 4 });
  const y = stochasticMapPatterns(tree, pam, rates, { samples: 300, seed: 4 });
  assert.deepEqual(x.branchGainDraws, y.branchGainDraws);
  assert.deepEqual(x.branchLossDraws, y.branchLossDraws);
  assert.deepEqual(x.presence, y.presence);
});

Deno.test("stochastic map of a PAM: sums over families, per-family summaries, posteriors", () => {
  const tree = binary6();
  const model = "gamma2+error";
  const values = [0.4, 0.8, 0.9, 0.05, 0.1];
  const rows = [
    [1, 1, 0, 0, 1, 0],
    [1, 1, 1, 1, 1, 1],
    [1, 1, 0, 0, 1, 0],
    [0, 0, 0, 1, 2, 0],
    [1, 1, 0, 0, 1, 0],
  ];
  const pam = compressPatterns(
    Uint8Array.from(rows.flat()),
    rows.length,
    6,
    rows.map((_, i) => `f${i}`),
  );
  const N = 4000;
  const map = stochasticMapPatterns(tree, pam, { model, values }, {
    samples: N,
    seed: 21,
    quantiles: [0, 0.5, 1],
    perFamilyBranches: true,
  });
  const n = tree.nNodes;
  const exact = rows.map((r) => brute(tree, r, bruteModel(model, values, 6)));
  // Likelihood and posteriors agree with ModelLikelihood (no ascertainment: a posterior given
  // the column does not depend on it), to rounding.
  using lik = new ModelLikelihood(tree, pam, tsBackendFactory, parseModel(model), {
    minPresent: 0,
    maxPresent: null,
  });
  const ev = lik.evaluate(Float64Array.from(values), false, { posterior: true });
  for (let f = 0; f < rows.length; f++) {
    const p = pam.familyPattern[f];
    assertClose(ev.perPattern[p], exact[f].logLik, 1e-12, `family ${f} logLik`);
  }
  // Sums over families per branch: the draws are sums of independent family draws, so their
  // sample variance estimates the variance of the mean.
  const m = 2 * (n - 1) + 2 * rows.length * (n - 1) + rows.length * n;
  const crit = zCritical(m);
  for (let v = 0; v < n - 1; v++) {
    for (
      const [draws, summary, key] of [
        [map.branchGainDraws, map.branchGains, "gains"],
        [map.branchLossDraws, map.branchLosses, "losses"],
      ] as const
    ) {
      const expected = exact.reduce((s, e) => s + e[key][v], 0);
      let sq = 0;
      for (let s = 0; s < N; s++) sq += (draws[s * n + v] - summary.mean[v]) ** 2;
      const sd = Math.sqrt(sq / (N - 1));
      const score = (summary.mean[v] - expected) / (sd / Math.sqrt(N));
      assert.ok(Math.abs(score) < crit, `branch ${v} ${key}: z ${score}`);
      // Quantiles at 0 and 1 are the extremes of the draws; the median lies between.
      const col = Array.from({ length: N }, (_, s) => draws[s * n + v]);
      assert.equal(summary.quantiles[0][v], Math.min(...col));
      assert.equal(summary.quantiles[2][v], Math.max(...col));
    }
  }
  // Per family and branch: means against enumeration, with the exact variance.
  const fb = map.familyBranches!;
  for (let f = 0; f < rows.length; f++) {
    for (let v = 0; v < n - 1; v++) {
      for (const key of ["gains", "losses"] as const) {
        const mean = fb[key].mean[f * n + v];
        const variance = key === "gains" ? exact[f].gainVariance[v] : exact[f].lossVariance[v];
        const score = (mean - exact[f][key][v]) / Math.sqrt(variance / N);
        assert.ok(Math.abs(score) < crit, `family ${f} branch ${v} ${key}: z ${score}`);
        assert.ok(fb[key].quantiles[0][f * n + v] <= fb[key].quantiles[1][f * n + v]);
      }
    }
    for (let v = 0; v < n; v++) {
      const p = exact[f].presence[v], got = fb.presence[f * n + v];
      const sd = Math.sqrt(p * (1 - p) / N);
      if (sd === 0) assertClose(got, p, 1e-12);
      else {
        assert.ok(Math.abs(got - p) / sd < crit, `family ${f} node ${v}: ${got} vs ${p}`);
      }
    }
    // Component frequencies against the likelihood's posterior.
    const p = pam.familyPattern[f];
    for (let k = 0; k < 2; k++) {
      const post = ev.posterior![p * 2 + k];
      const sd = Math.sqrt(post * (1 - post) / N);
      const got = map.familyComponents[f * 2 + k];
      assert.ok(Math.abs(got - post) <= crit * sd + 1e-12, `family ${f} component ${k}`);
    }
    // Per-family totals are the sums of the per-branch means.
    let g = 0;
    for (let v = 0; v < n; v++) g += fb.gains.mean[f * n + v];
    assertClose(map.familyGains.mean[f], g, 1e-12);
  }
  // Presence summed over families is the sum of the per-family shares.
  for (let v = 0; v < n; v++) {
    let s = 0;
    for (let f = 0; f < rows.length; f++) s += fb.presence[f * n + v];
    assertClose(map.presence[v], s, 1e-12);
  }
  // Totals per draw are the sums over branches.
  for (let s = 0; s < N; s += 97) {
    let g = 0;
    for (let v = 0; v < n; v++) g += map.branchGainDraws[s * n + v];
    assert.equal(map.totalGains[s], g);
  }
});

Deno.test("stochastic map: bad input raises GenecontentError naming the value", () => {
  const tree = binary4();
  const rates = { model: "null", values: [0.5, 1] };
  assert.throws(
    () => stochasticMap(tree, [1, 0, 1], rates, { samples: 10, seed: 1 }),
    (e: Error) => e instanceof GenecontentError && /one state per tip \(4\); got 3/.test(e.message),
  );
  assert.throws(
    () => stochasticMap(tree, [1, 0, 1, 5], rates, { samples: 10, seed: 1 }),
    (e: Error) => e instanceof GenecontentError && /Tip 't3' has state 5/.test(e.message),
  );
  assert.throws(
    () => stochasticMap(tree, [1, 0, 1, 1], rates, { samples: 0, seed: 1 }),
    (e: Error) => e instanceof GenecontentError && /samples .* got 0/.test(e.message),
  );
  assert.throws(
    () => stochasticMap(tree, [1, 0, 1, 1], rates, { samples: 5, seed: 1.5 }),
    (e: Error) => e instanceof GenecontentError && /seed .* got 1.5/.test(e.message),
  );
  assert.throws(
    () =>
      stochasticMap(tree, [1, 0, 1, 1], { model: "null", values: [0.5, -1] }, {
        samples: 5,
        seed: 1,
      }),
    (e: Error) => e instanceof GenecontentError && /loss/.test(e.message),
  );
  // Tips joined by zero-length branches that differ: impossible under every component.
  const zero = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0, 0, 0.3, 0.1, 0]);
  const pam = compressPatterns(Uint8Array.of(1, 0, 1), 1, 3, ["famX"]);
  assert.throws(
    () =>
      stochasticMapPatterns(zero, pam, { model: "gamma2", values: [0.5, 1, 1] }, {
        samples: 3,
        seed: 1,
      }),
    (e: Error) =>
      e instanceof GenecontentError &&
      /^Family 'famX': the column has probability 0/.test(e.message),
  );
  // With +error the same column is possible.
  const ok = stochasticMap(zero, [1, 0, 1], { model: "null+error", values: [0.5, 1, 0.1, 0.1] }, {
    samples: 10,
    seed: 1,
  });
  assert.ok(Number.isFinite(ok.logLik));
});

/** Every draw's path is consistent: gains - losses on a branch = child state - parent state. */
function assertPathsConsistent(tree: FlatTree, h: ReturnType<typeof stochasticMap>): void {
  const n = tree.nNodes;
  for (let s = 0; s < h.samples; s++) {
    for (let v = 0; v < n - 1; v++) {
      const o = s * n;
      const net = h.gains[o + v] - h.losses[o + v];
      const change = h.states[o + v] - h.states[o + tree.parent[v]];
      if (net !== change) {
        assert.fail(`draw ${s}, branch ${v}: ${net} net gains but states change by ${change}`);
      }
    }
  }
}

Deno.test("stochastic map: deep, wide and saturated trees (scaling, long branches)", () => {
  const rng = new Random(3);
  const settings: [FlatTree, string, number[]][] = [
    // 3,000 tips in a caterpillar: per-family likelihoods far below the smallest double.
    [caterpillar(3000), "gamma2+error", [0.6, 1.1, 0.7, 0.05, 0.08]],
    // 2,000 children of one root: the product over children needs rescaling inside the loop.
    [starTree(2000, 0.4), "null", [0.5, 0.5]],
    // Branches with s t far above 500 (saturated: Poisson steps in logs).
    [starTree(50, 400), "null", [1, 1]],
  ];
  for (const [tree, model, values] of settings) {
    const column = Uint8Array.from({ length: tree.nTips }, () => (rng.next() < 0.4 ? 1 : 0));
    column[0] = MISSING;
    const h = stochasticMap(tree, column, { model, values }, { samples: 20, seed: 2 });
    const pam = compressPatterns(column, 1, tree.nTips, ["f"]);
    using lik = new ModelLikelihood(tree, pam, tsBackendFactory, parseModel(model), {
      minPresent: 0,
      maxPresent: null,
    });
    // Two independent prunings of the same column: agreement to rounding over thousands of
    // nodes (relative 1e-11 of a log-likelihood in the thousands).
    assertClose(h.logLik, lik.evaluate(Float64Array.from(values)).perPattern[0], 1e-11);
    assertPathsConsistent(tree, h);
    // Observed tips keep their recorded state without error.
    if (!model.includes("error")) {
      for (let s = 0; s < h.samples; s++) {
        for (let i = 1; i < tree.nTips; i++) {
          assert.equal(h.states[s * tree.nNodes + i], column[i]);
        }
      }
    }
  }
});
