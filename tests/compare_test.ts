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
} from "../lib/fit/chi_square.ts";
import { logGamma } from "../lib/model/gamma.ts";
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

/** [df, x, P(chi2_df <= x), P(chi2_df > x)] from mpmath.gammainc at 30 digits. */
const MPMATH = [
  [0.3, 0.001, 0.34270187767344203, 0.65729812232655797],
  [0.3, 0.2, 0.7491130665019831, 0.2508869334980169],
  [0.3, 1, 0.91048240200681525, 0.08951759799318475],
  [0.3, 2.5, 0.97415764836191096, 0.02584235163808904],
  [0.3, 6, 0.99744218911267461, 0.0025578108873253897],
  [0.3, 13, 0.99995588958725468, 4.4110412745322987e-5],
  [0.3, 40, 0.99999999997504658, 2.4953418726347905e-11],
  [0.3, 90, 1.0, 1.7772559213330823e-22],
  [1, 0.001, 0.025227120630039612, 0.97477287936996039],
  [1, 0.2, 0.34527915398142298, 0.65472084601857702],
  [1, 1, 0.6826894921370859, 0.3173105078629141],
  [1, 2.5, 0.88615370199334195, 0.11384629800665805],
  [1, 6, 0.98569412156457036, 0.01430587843542964],
  [1, 13, 0.99968850902323262, 0.00031149097676738388],
  [1, 40, 0.99999999974603714, 2.539628589470865e-10],
  [1, 90, 1.0, 2.3816001643962988e-21],
  [2.5, 0.001, 6.5972170918984734e-5, 0.99993402782908102],
  [2.5, 0.2, 0.046968499088781199, 0.9530315009112188],
  [2.5, 1, 0.28378995266531297, 0.71621004733468703],
  [2.5, 2.5, 0.61852877199692632, 0.38147122800307368],
  [2.5, 6, 0.92269951027955668, 0.077300489720443315],
  [2.5, 13, 0.99725914395445556, 0.0027408560455444386],
  [2.5, 40, 0.99999999513305711, 4.8669428911984671e-9],
  [2.5, 90, 1.0, 8.2242803121082352e-20],
  [4, 0.001, 1.2495834114479178e-7, 0.99999987504165886],
  [4, 0.2, 0.00467884016044447, 0.99532115983955553],
  [4, 1, 0.090204010431049865, 0.90979598956895014],
  [4, 2.5, 0.35536420706457227, 0.64463579293542773],
  [4, 6, 0.80085172652854423, 0.19914827347145577],
  [4, 13, 0.98872420605266821, 0.011275793947331793],
  [4, 40, 0.99999995671577393, 4.3284226071209714e-8],
  [4, 90, 1.0, 1.3167585470527211e-18],
  [9, 0.001, 2.6688894706449114e-17, 0.99999999999999997],
  [9, 0.2, 5.5674974572970083e-7, 0.99999944325025427],
  [9, 1, 0.00056249730216750155, 0.9994375026978325],
  [9, 2.5, 0.019116508597186571, 0.98088349140281343],
  [9, 6, 0.2600817079053463, 0.7399182920946537],
  [9, 13, 0.83739373780970045, 0.16260626219029955],
  [9, 40, 0.99999240147477054, 7.598525229464276e-6],
  [9, 90, 0.99999999999999837, 1.6280704719656213e-15],
  [31, 0.001, 1.3142072302635806e-64, 1.0],
  [31, 0.2, 5.5467998878301321e-29, 1.0],
  [31, 1, 2.60052174334445e-18, 1.0],
  [31, 2.5, 1.8972311715455191e-12, 0.99999999999810277],
  [31, 6, 2.9061301748356286e-7, 0.99999970938698252],
  [31, 13, 0.0018649222731503691, 0.99813507772684963],
  [31, 40, 0.87095965087060964, 0.12904034912939036],
  [31, 90, 0.99999988352216688, 1.1647783312436699e-7],
];

Deno.test("chi-square CDF and survival equal 30-digit references", () => {
  for (const [df, x, p, q] of MPMATH) {
    // The smaller tail is computed directly, to ~1e-14 relative (the log-gamma and the
    // exponent's rounding), in the far lower tail too (P ~ 1e-64 at df 31, x 0.001).
    if (p < 0.5) assertClose(chiSquareCdf(x, df) / p, 1, 1e-13, `cdf(${x}, ${df})`);
    else assertClose(chiSquareSurvival(x, df) / q, 1, 1e-13, `sf(${x}, ${df})`);
  }
});

Deno.test("chi-square quantiles equal tabulated values and invert the CDF", () => {
  // scipy.stats.chi2.ppf values (and closed forms: df 2 is -2 log(1 - p); df 1 is z^2).
  assertClose(chiSquareQuantile(0.95, 1), 3.841458820694124, 1e-13, "0.95, 1");
  assertClose(chiSquareQuantile(0.99, 1), 6.6348966010212145, 1e-13, "0.99, 1");
  assertClose(chiSquareQuantile(0.95, 2), -2 * Math.log(0.05), 1e-13, "0.95, 2");
  assertClose(chiSquareQuantile(0.95, 3), 7.814727903251178, 1e-13, "0.95, 3");
  assertClose(chiSquareQuantile(0.95, 10), 18.307038053275146, 1e-13, "0.95, 10");
  // mpmath.findroot on the 30-digit CDF.
  assertClose(chiSquareQuantile(1e-8, 7.3), 0.026765363903979899, 1e-12, "1e-8, 7.3");
  assertClose(chiSquareQuantile(0.999, 100), 149.44925277903871, 1e-13, "0.999, 100");
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
