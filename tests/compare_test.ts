// Chi-square distribution against closed forms and tabulated values, chi-bar-square mixtures,
// the nesting rules and the comparison table, and the 50:50 boundary reference calibrated by
// simulation (Poisson data, a zero-inflation share tested at its boundary 0).
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import {
  chiBarSquareSurvival,
  chiSquareCdf,
  chiSquareQuantile,
  chiSquareSurvival,
  logGamma,
} from "../lib/fit/chi_square.ts";
import { compareModels, likelihoodRatioTest, nesting } from "../lib/fit/compare.ts";
import { fitModel } from "../lib/fit/fit_model.ts";
import type { ModelObjective } from "../lib/fit/objective.ts";
import { parseModel } from "../lib/model/description.ts";
import { Random } from "../lib/simulate/random.ts";

/** erfc(z) for z >= 0 by composite Simpson integration of 2/sqrt(pi) e^{-t^2} (independent). */
function erfc(z: number): number {
  const n = 20000;
  const h = z / n;
  let s = 1 + Math.exp(-z * z);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return 1 - (2 / Math.sqrt(Math.PI)) * (s * h) / 3;
}

Deno.test("chi-square CDF and survival equal closed forms", () => {
  for (const x of [0.01, 0.5, 1, 3.84, 7, 15, 40]) {
    const e = Math.exp(-x / 2);
    // Even df: e^{-x/2} sum_{j < df/2} (x/2)^j / j!, exact up to rounding (1e-14 relative).
    assertClose(chiSquareSurvival(x, 2), e, 1e-14, `sf(${x}, 2)`);
    assertClose(chiSquareSurvival(x, 4) / (e * (1 + x / 2)), 1, 1e-13, `sf(${x}, 4)`);
    assertClose(chiSquareSurvival(x, 6) / (e * (1 + x / 2 + x * x / 8)), 1, 1e-13, `sf(${x}, 6)`);
    // Odd df through erfc; Simpson with 20,000 panels is accurate to ~1e-15 absolute here.
    const z = Math.sqrt(x / 2);
    assertClose(chiSquareSurvival(x, 1), erfc(z), 1e-12, `sf(${x}, 1)`);
    assertClose(
      chiSquareSurvival(x, 3),
      erfc(z) + Math.sqrt((2 * x) / Math.PI) * e,
      1e-12,
      `sf(${x}, 3)`,
    );
    assertClose(chiSquareCdf(x, 3) + chiSquareSurvival(x, 3), 1, 1e-15, "cdf + sf");
  }
  // Deep tail: e^{-100} and e^{-150} (1 + 150) keep full relative accuracy.
  assertClose(chiSquareSurvival(200, 2) / Math.exp(-100), 1, 1e-12, "sf(200, 2)");
  assertClose(chiSquareSurvival(300, 4) / (Math.exp(-150) * 151), 1, 1e-12, "sf(300, 4)");
  assert.equal(chiSquareCdf(0, 1), 0);
  assert.equal(chiSquareSurvival(-1, 1), 1);
  // Gamma function: Gamma(1/2) = sqrt(pi), Gamma(10) = 9!, Lanczos accurate to ~1e-15.
  assertClose(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14, "logGamma(0.5)");
  assertClose(logGamma(10), Math.log(362880), 1e-14, "logGamma(10)");
});

Deno.test("chi-square quantiles equal tabulated values and invert the CDF", () => {
  // scipy.stats.chi2.ppf values (and closed forms: df 2 is -2 log(1 - p); df 1 is z^2).
  assertClose(chiSquareQuantile(0.95, 1), 3.841458820694124, 1e-13, "0.95, 1");
  assertClose(chiSquareQuantile(0.99, 1), 6.6348966010212145, 1e-13, "0.99, 1");
  assertClose(chiSquareQuantile(0.95, 2), -2 * Math.log(0.05), 1e-13, "0.95, 2");
  assertClose(chiSquareQuantile(0.95, 3), 7.814727903251178, 1e-13, "0.95, 3");
  assertClose(chiSquareQuantile(0.95, 10), 18.307038053275146, 1e-13, "0.95, 10");
  for (const df of [0.5, 1, 2, 7.3, 30, 100]) {
    for (const p of [1e-8, 0.01, 0.3, 0.5, 0.9, 0.999, 1 - 1e-9]) {
      const x = chiSquareQuantile(p, df);
      // Relative accuracy of the smaller tail is ~1e-14 (the CDF's own accuracy).
      const small = p < 0.5 ? chiSquareCdf(x, df) / p : chiSquareSurvival(x, df) / (1 - p);
      assertClose(small, 1, 1e-10, `quantile(${p}, ${df})`);
    }
  }
  assert.throws(() => chiSquareQuantile(1, 1), RangeError);
  assert.throws(() => chiSquareCdf(1, 0), RangeError);
});

Deno.test("chi-bar-square mixtures: boundary weights and their p-values", () => {
  // 50:50 chi2(0)/chi2(1): p = P(chi2_1 > x) / 2; at the statistic 0 the p-value is 1.
  assertClose(chiBarSquareSurvival(2.7055434, [0.5, 0.5]), 0.05, 1e-7, "one boundary");
  assert.equal(chiBarSquareSurvival(0, [0.5, 0.5]), 0.5);
  assert.throws(() => chiBarSquareSurvival(1, [0.5, 0.4]), RangeError);
  const t = likelihoodRatioTest(
    parseModel("null"),
    { logLik: -500, nParams: 2, nObservations: 100 },
    parseModel("null+error"),
    { logLik: -496, nParams: 4, nObservations: 100 },
  );
  // Two error rates at 0, uncorrelated: 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2) at 8.
  assert.deepEqual(t.weights, [0.25, 0.5, 0.25]);
  assertClose(t.pValue, 0.5 * chiSquareSurvival(8, 1) + 0.25 * Math.exp(-4), 1e-15, "p");
  // With correlation rho the weight of chi2(2) is 1/4 + asin(rho) / (2 pi): rho = 1/2 gives 1/3.
  const c = likelihoodRatioTest(
    parseModel("null"),
    { logLik: -500, nParams: 2, nObservations: 100 },
    parseModel("null+error"),
    { logLik: -496, nParams: 4, nObservations: 100 },
    { errorCorrelation: 0.5 },
  );
  assertClose(c.weights, [1 / 6, 0.5, 1 / 3], 1e-15, "rho weights");
  // gamma + inv against null: two boundaries, 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2).
  const g = likelihoodRatioTest(
    parseModel("null"),
    { logLik: -500, nParams: 2, nObservations: 100 },
    parseModel("gamma4+inv"),
    { logLik: -497, nParams: 4, nObservations: 100 },
  );
  assert.deepEqual(g.boundary, ["alpha -> infinity", "pInv = 0"]);
  assert.deepEqual(g.weights, [0.25, 0.5, 0.25]);
  // mixture2 against null: 3 extra parameters, none on a boundary, marked approximate.
  const m = likelihoodRatioTest(
    parseModel("null"),
    { logLik: -500, nParams: 2, nObservations: 100 },
    parseModel("mixture2"),
    { logLik: -495, nParams: 5, nObservations: 100 },
  );
  assert.ok(m.approximate && m.reference === "chi2(3)");
  assertClose(m.pValue, chiSquareSurvival(10, 3), 1e-15, "mixture p");
});

Deno.test("nesting rules and the comparison table", () => {
  const p = parseModel;
  assert.deepEqual(nesting(p("null"), p("null+inv"))?.boundary, ["pInv = 0"]);
  assert.deepEqual(nesting(p("gamma4"), p("gamma4+error"))?.boundary, [
    "falsePresence = 0",
    "falseAbsence = 0",
  ]);
  assert.deepEqual(nesting(p("mixture2"), p("mixture3"))?.irregular, ["1 classes merged"]);
  assert.equal(nesting(p("gamma4"), p("gamma8")), null);
  assert.equal(nesting(p("gamma4"), p("mixture2")), null);
  assert.equal(nesting(p("null+inv"), p("gamma4")), null);
  assert.equal(nesting(p("null"), p("null")), null);
  const fit = (logLik: number, nParams: number) => ({ logLik, nParams, nObservations: 1000 });
  const r = compareModels([
    { model: "null", fit: fit(-5000, 2) },
    { model: "gamma4", fit: fit(-4990, 3) },
    { model: "gamma4+inv", fit: fit(-4989.5, 4) },
    { model: "mixture2", fit: fit(-4992, 5) },
  ]);
  // AIC = 2k - 2 logLik; BIC = k log(1000) - 2 logLik.
  assert.deepEqual(r.rows.map((x) => x.aic), [10004, 9986, 9987, 9994]);
  assert.deepEqual(r.rows.map((x) => x.dAic), [18, 0, 1, 8]);
  assertClose(r.rows[0].bic, 2 * Math.log(1000) + 10000, 1e-15, "BIC");
  assertClose(r.rows[1].dBic, 0, 1e-12, "dBIC best");
  const pairs = r.tests.map((t) => `${t.nullModel} < ${t.alternative}`);
  assert.deepEqual(pairs, [
    "null < gamma4",
    "null < gamma4+inv",
    "null < mixture2",
    "gamma4 < gamma4+inv",
  ]);
  const t = r.tests[0];
  // null < gamma4: statistic 20, 50:50 chi2(0)/chi2(1).
  assert.equal(t.statistic, 20);
  assertClose(t.pValue, 0.5 * chiSquareSurvival(20, 1), 1e-15, "null < gamma4");
  assert.throws(() =>
    compareModels([{ model: "null", fit: fit(-1, 2) }, { model: "null", fit: fit(-1, 2) }])
  );
  assert.throws(() =>
    compareModels([
      { model: "null", fit: fit(-1, 2) },
      { model: "gamma4", fit: { logLik: -1, nParams: 3, nObservations: 999 } },
    ])
  );
});

Deno.test("simulation: the 50:50 boundary reference is calibrated", () => {
  // Poisson(2) counts (no zero inflation): test the zero-inflated model (rate, pInv) against
  // the Poisson (rate), 500 replicates of 100 counts, each fitted by fitModel.
  const rate = {
    name: "rate",
    description: "",
    kind: "rate",
    units: "",
    lower: 0,
    upper: Infinity,
    transform: "log",
  } as const;
  const pInv = {
    ...rate,
    name: "pInv",
    kind: "probability",
    upper: 1,
    transform: "logit",
  } as const;
  const rng = new Random(2024);
  const R = 500;
  let zero = 0, rejectBar = 0;
  for (let r = 0; r < R; r++) {
    const xs: number[] = [];
    for (let i = 0; i < 100; i++) {
      let k = 0, q = Math.exp(-2), c = q;
      const u = rng.next();
      while (u > c) q *= 2 / ++k, c += q;
      xs.push(k);
    }
    const n0 = xs.filter((x) => x === 0).length;
    const sum = xs.reduce((a, b) => a + b, 0);
    const m = xs.length - n0;
    const poisson: ModelObjective = {
      parameters: [rate],
      nObservations: xs.length,
      evaluate: (v) => ({
        logLik: sum * Math.log(v[0]) - xs.length * v[0],
        gradient: new Float64Array([sum / v[0] - xs.length]),
      }),
    };
    const zip: ModelObjective = {
      parameters: [rate, pInv],
      nObservations: xs.length,
      evaluate(v) {
        const [lam, p] = v;
        const e = Math.exp(-lam);
        const z = p + (1 - p) * e;
        return {
          logLik: n0 * Math.log(z) + m * Math.log1p(-p) + sum * Math.log(lam) - m * lam,
          gradient: new Float64Array([
            (n0 * (-(1 - p) * e)) / z + sum / lam - m,
            (n0 * (1 - e)) / z - m / (1 - p),
          ]),
        };
      },
    };
    const a = fitModel(poisson, { level: null });
    const b = fitModel(zip, { level: null });
    const t = likelihoodRatioTest(parseModel("null"), a, parseModel("null+inv"), b);
    // A statistic below 1e-6 is a boundary fit (pInv at 0) up to the optimiser's tolerance.
    if (t.statistic < 1e-6) zero++;
    if (t.pValue < 0.05) rejectBar++;
  }
  // Half of the statistics are 0 under the null: Binomial(500, 0.5) lies in [0.44, 0.56] with
  // probability 99%.
  assert.ok(zero / R > 0.44 && zero / R < 0.56, `zero share ${zero / R}`);
  // Rejections at 5% are Binomial(500, 0.05): central 99% interval of the rate [0.026, 0.076].
  assert.ok(
    rejectBar / R >= 0.026 && rejectBar / R <= 0.076,
    `chi-bar rejections ${rejectBar / R}`,
  );
});
