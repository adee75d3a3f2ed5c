/**
 * Ancestral events against simulated truth. Families are simulated with `simulateModel`, which
 * records the true gains and losses on every branch; summed over all families, the true count
 * T_v on branch v has, given the recorded columns, mean E_v (the exact expectation of
 * `reconstruct.ts`) and variance V_v = sum over families of Var(N_fv | column), which the
 * stochastic map estimates as the variance over its draws of the branch sum (it draws families
 * independently). So z_v = (T_v - E_v) / sqrt(V_v) is approximately standard normal; each branch's
 * gains and losses are tested at an overall level of 1e-3 with a Bonferroni correction over the
 * 2 (nNodes - 1) tests, as are the whole tree's totals. The same draws' means are checked against
 * E_v within their Monte Carlo error (exact expectations against sampled histories on a tree too
 * large to enumerate). Seeds are fixed, so the test is deterministic. (Power, measured: with the
 * gain rate of the gamma4 case off by 30% in the reconstruction, the total-gains test gives
 * z = -7.1; at the true values the largest branch |z| is 2.8 against a bound of 4.45.)
 */
import assert from "node:assert/strict";
import { reconstructAncestral } from "../lib/ancestral/reconstruct.ts";
import { stochasticMapPatterns } from "../lib/ancestral/stochastic_map.ts";
import { normalQuantile } from "../lib/fit/normal_quantile.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { parseModel } from "../lib/model/description.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

/** Overall level of each family of tests (before the Bonferroni split). */
const LEVEL = 1e-3;

interface TruthCase {
  readonly model: string;
  readonly values: Record<string, number>;
  readonly missing: number;
}

const truthCases: TruthCase[] = [
  { model: "gamma4", values: { gain: 0.25, loss: 0.7, alpha: 0.8 }, missing: 0 },
  {
    model: "mixture2+inv+error",
    values: {
      gain1: 0.1,
      loss1: 0.3,
      gain2: 1.2,
      loss2: 1.5,
      split1: 0.6,
      pInv: 0.1,
      falsePresence: 0.02,
      falseAbsence: 0.05,
    },
    missing: 0.05,
  },
];

for (const c of truthCases) {
  Deno.test(`ancestral truth (${c.model}): expected and sampled events match simulated counts`, () => {
    const tree = yuleTree(30, new Random(17), { height: 1 });
    const model = parseModel(c.model);
    const nFamilies = 4000;
    const sim = simulateModel(tree, model, c.values, {
      nFamilies,
      seed: 23,
      missing: c.missing,
    });
    const names = Array.from({ length: nFamilies }, (_, f) => `f${f}`);
    const patterns = compressPatterns(sim.states, nFamilies, tree.nTips, names);
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model);
    const rec = reconstructAncestral(lik, sim.values);
    const N = 200;
    const map = stochasticMapPatterns(tree, patterns, { model, values: sim.values }, {
      samples: N,
      seed: 29,
    });
    const n = tree.nNodes;
    // Presence summed over families: the sampled mean against the exact expectation, at a
    // bound of its Monte Carlo error (the variance of a sum of indicators is at most nF / 4).
    const critPresence = normalQuantile(1 - LEVEL / (2 * n));
    for (let v = 0; v < n; v++) {
      const bound = critPresence * Math.sqrt(nFamilies / 4 / N);
      assert.ok(
        Math.abs(map.presence[v] - rec.totals.present[v]) < bound,
        `node ${v}: sampled presence ${map.presence[v]} vs exact ${rec.totals.present[v]}`,
      );
    }
    const crit = normalQuantile(1 - LEVEL / (2 * 2 * (n - 1)));
    const critTotal = normalQuantile(1 - LEVEL / (2 * 2));
    for (
      const [truth, exact, draws, summary, what] of [
        [sim.branchGains, rec.totals.gains, map.branchGainDraws, map.branchGains, "gains"],
        [sim.branchLosses, rec.totals.losses, map.branchLossDraws, map.branchLosses, "losses"],
      ] as const
    ) {
      let trueTotal = 0, exactTotal = 0, varTotal = 0;
      const totals = new Float64Array(N);
      for (let v = 0; v < n - 1; v++) {
        let sq = 0;
        for (let s = 0; s < N; s++) {
          sq += (draws[s * n + v] - summary.mean[v]) ** 2;
          totals[s] += draws[s * n + v];
        }
        const variance = sq / (N - 1);
        assert.ok(variance > 0, `branch ${v} ${what}: no variation in ${N} draws`);
        // Truth against the exact expectation, at the posterior's spread.
        const z = (truth[v] - exact[v]) / Math.sqrt(variance);
        assert.ok(
          Math.abs(z) < crit,
          `branch ${v} ${what}: true ${truth[v]}, expected ${exact[v]}, sd ${Math.sqrt(variance)}`,
        );
        // The sampled mean against the exact expectation, at its Monte Carlo error.
        const zMc = (summary.mean[v] - exact[v]) / Math.sqrt(variance / N);
        assert.ok(
          Math.abs(zMc) < crit,
          `branch ${v} ${what}: sampled mean ${summary.mean[v]} vs exact ${exact[v]} (z ${zMc})`,
        );
        trueTotal += truth[v];
        exactTotal += exact[v];
      }
      let mean = 0;
      for (let s = 0; s < N; s++) mean += totals[s] / N;
      for (let s = 0; s < N; s++) varTotal += (totals[s] - mean) ** 2 / (N - 1);
      const z = (trueTotal - exactTotal) / Math.sqrt(varTotal);
      assert.ok(
        Math.abs(z) < critTotal,
        `${what} over the tree: true ${trueTotal}, expected ${exactTotal}, z ${z}`,
      );
    }
  });
}
