/**
 * The calibration script (scripts/calibration.ts): its code path on a small case, its interval
 * arithmetic against independent values, and the committed tables (validation/calibration.json
 * and .md) against the intervals they state.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  binomialInterval,
  type CalibrationReport,
  type CalibrationSetting,
  clopperPearson,
  INTERVAL_LEVEL,
  nullRows,
  runNull,
  runPower,
  SET_LOSS_EFFECT,
  simulateData,
  testReplicate,
} from "../scripts/calibration.ts";
import { chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { AT_LEAST_ONE, ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { fitModelLikelihood } from "../lib/fit/fit_model.ts";
import { chiSquareSurvival } from "../lib/fit/chi_square.ts";
import { parseModel } from "../lib/model/description.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("binomialInterval equals the published central 99% intervals", () => {
  // /work/shared/notes/model.md: n = 500 -> [0.026, 0.076], n = 2,000 -> [0.038, 0.063]; the
  // calibration brief: n = 1,000 -> [0.033, 0.069]; coverage 95% of 1,000 -> 93-97%.
  assert.deepEqual(binomialInterval(500, 0.05, 0.99), [0.026, 0.076]);
  assert.deepEqual(binomialInterval(2000, 0.05, 0.99), [0.038, 0.063]);
  assert.deepEqual(binomialInterval(1000, 0.05, 0.99), [0.033, 0.069]);
  const [lo, hi] = binomialInterval(1000, 0.95, 0.99);
  assert.ok(lo >= 0.93 && hi <= 0.97, `${lo} ${hi}`);
});

Deno.test("clopperPearson: closed forms at 0 and n, and the tail equations inside", () => {
  // k = 0: the upper end solves (1 - p)^n = 0.005; k = n: the lower end p^n = 0.005. Bisection
  // runs to 2^-60, so 1e-12 is rounding of the closed forms.
  const [a0, a1] = clopperPearson(0, 100, 0.99);
  assert.equal(a0, 0);
  assert.ok(Math.abs(a1 - (1 - 0.005 ** (1 / 100))) < 1e-12);
  const [b0, b1] = clopperPearson(40, 40, 0.99);
  assert.equal(b1, 1);
  assert.ok(Math.abs(b0 - 0.005 ** (1 / 40)) < 1e-12);
  // k = 1 of n = 2: P(K >= 1 | p_L) = 1 - (1 - p_L)^2 = 0.005 and P(K <= 1 | p_U) = 1 - p_U^2.
  const [c0, c1] = clopperPearson(1, 2, 0.99);
  assert.ok(Math.abs(c0 - (1 - Math.sqrt(0.995))) < 1e-12);
  assert.ok(Math.abs(c1 - Math.sqrt(0.995)) < 1e-12);
});

/** A small case: 20 genomes, 300 families, a set of 25. */
async function smallSetting(): Promise<CalibrationSetting> {
  return {
    tree: yuleTree(20, new Random(3), { height: 1 }),
    treeSource: "a 20-tip Yule tree",
    model: parseModel("null"),
    values: Float64Array.of(0.6, 2),
    nFamilies: 300,
    window: AT_LEAST_ONE,
    factory: await chooseBackend("native", { threads: 1 }),
  };
}

Deno.test("calibration code path: 100 null replicates reject inside their binomial 99% interval", async () => {
  const setting = await smallSetting();
  const reps = await runNull(setting, 100, 25, 11);
  const rows = nullRows(reps, 25);
  const [lo, hi] = binomialInterval(100, 0.05, INTERVAL_LEVEL);
  for (const r of rows.filter((x) => x.section === "a")) {
    assert.equal(r.trials, 100);
    assert.ok(r.rate >= lo && r.rate <= hi, `${r.name}: ${r.count} of 100 outside [${lo}, ${hi}]`);
  }
  const coverage = rows.find((x) => x.section === "c")!;
  const [clo, chi] = binomialInterval(100, 0.95, INTERVAL_LEVEL);
  assert.ok(coverage.rate >= clo && coverage.rate <= chi, `coverage ${coverage.rate}`);
  for (const r of reps) {
    // The references: chi2(1) two-sided; the 50:50 chi-bar-squared mixture one-sided, p = 1 on
    // the wrong side (1e-12: the same survival function, one multiplication).
    const two = chiSquareSurvival(r.lrt, 1);
    assert.ok(Math.abs(r.p["two-sided"] - two) < 1e-12);
    const half = r.lrt > 0 ? two / 2 : 1;
    assert.ok(Math.abs(r.p.less - (r.theta < 0 ? half : 1)) < 1e-12, `less ${r.theta} ${r.p.less}`);
    assert.ok(Math.abs(r.p.greater - (r.theta > 0 ? half : 1)) < 1e-12);
    // The interval covers 0 exactly when the two-sided test does not reject (the same cut-off
    // chi2_1(0.95)); a statistic within 1e-3 of it may fall either way by the profile's
    // tolerance.
    const covers = r.interval![0] <= 0 && 0 <= r.interval![1];
    if (Math.abs(r.lrt - 3.841458820694124) > 1e-3) {
      assert.equal(covers, r.p["two-sided"] >= 0.05, `lrt ${r.lrt} interval ${r.interval}`);
    }
  }
});

Deno.test("calibration code path: the LRT equals direct fits of both models", async () => {
  // A second implementation of the statistic: both models fitted here by fitModelLikelihood on
  // their own ModelLikelihood. Both fits stop at a gradient tolerance; 2e-4 on the statistic is
  // twice the 1e-4 log-likelihood precision each fit reaches.
  const setting = await smallSetting();
  const rng = new Random(5);
  for (let r = 0; r < 3; r++) {
    const data = simulateData(setting, SET_LOSS_EFFECT, r === 0 ? 0 : 0.7, 25, rng);
    const rep = await testReplicate(setting, data, null);
    using l0 = new ModelLikelihood(
      setting.tree,
      data.patterns,
      setting.factory,
      setting.model,
      AT_LEAST_ONE,
    );
    using l1 = new ModelLikelihood(
      setting.tree,
      data.patterns,
      setting.factory,
      setting.model,
      AT_LEAST_ONE,
      { effects: data.setup },
    );
    const f0 = fitModelLikelihood(l0, { level: null });
    const f1 = fitModelLikelihood(l1, { level: null, starts: [[...f0.values, 0]] });
    const direct = 2 * (f1.logLik - f0.logLik);
    assert.ok(Math.abs(rep.lrt - direct) < 2e-4, `replicate ${r}: ${rep.lrt} vs ${direct}`);
    assert.ok(Math.abs(rep.theta - f1.values[2]) < 1e-2, `theta ${rep.theta} ${f1.values[2]}`);
  }
});

Deno.test("calibration code path: a strong set effect is found (power)", async () => {
  // exp(theta) = 4 on the loss of 100 of 300 families: every replicate rejects. Measured here:
  // the 95% interval of theta for a set of 100 is about 0.33 wide under the null (standard error
  // ~0.085), so log 4 = 1.39 is over 15 standard errors from 0, and 20 replicates at log 4 had a
  // mean theta-hat of 1.42; 0.3 on the mean of 5 is several times its standard error.
  const setting = await smallSetting();
  const [cell] = await runPower(setting, [4], [100], 5, 3);
  assert.equal(cell.replicates, 5);
  assert.equal(cell.rejections, 5);
  assert.ok(Math.abs(cell.meanTheta - Math.log(4)) < 0.3, `mean theta ${cell.meanTheta}`);
});

/**
 * Checks a committed report: every row of `sections` within its stated interval, counts as
 * stated (the screen's rows are checked on their own, see below).
 */
async function checkReport(
  name: string,
  sections: readonly string[] = ["a", "c"],
): Promise<CalibrationReport> {
  const report: CalibrationReport = JSON.parse(
    await Deno.readTextFile(`${root}validation/${name}.json`),
  );
  // The page's tables are aligned by deno fmt: compare with runs of spaces collapsed.
  const md = (await Deno.readTextFile(`${root}validation/${name}.md`)).replace(/ +/g, " ");
  const o = report.options;
  assert.equal(o.setSize, 50);
  assert.equal(report.setting.genomes, 200);
  for (const r of report.rows.filter((x) => sections.includes(x.section))) {
    assert.equal(r.rate, r.count / r.trials, r.name);
    assert.deepEqual(r.interval, binomialInterval(r.trials, r.nominal, INTERVAL_LEVEL), r.name);
    if (r.check === "within") {
      assert.ok(r.rate >= r.interval[0] && r.rate <= r.interval[1], `${r.name}: ${r.rate}`);
    } else if (r.check === "atMost") {
      assert.ok(r.rate <= r.interval[1], `${r.name}: ${r.rate} > ${r.interval[1]}`);
    }
    assert.ok(r.pass, r.name);
    if (r.section === "a" || r.section === "c") assert.equal(r.trials, o.replicates, r.name);
    assert.ok(md.includes(`| ${r.name} | ${r.count} / ${r.trials} |`), `md row ${r.name}`);
  }
  assert.equal(report.rows.filter((r) => r.section === "a").length, 3);
  assert.equal(report.rows.filter((r) => r.section === "c").length, 1);
  assert.equal(report.nullSummary.replicates, o.replicates);
  if (report.screen) {
    assert.equal(report.screen.dataSets, o.screenDataSets);
    const all = report.rows.find((r) => r.name.startsWith("all families: calibrated"))!;
    assert.equal(all.trials, report.screen.families);
  }
  // (d): every multiplier x set size, each with the stated replicates and a consistent rate.
  const cells = o.powerReplicates === 0 ? 0 : o.multipliers.length * o.powerSetSizes.length;
  assert.equal(report.power.length, cells);
  for (const c of report.power) {
    assert.equal(c.replicates, o.powerReplicates);
    assert.equal(c.rate, c.rejections / c.replicates);
    assert.deepEqual(c.interval, clopperPearson(c.rejections, c.replicates, INTERVAL_LEVEL));
    assert.ok(
      md.includes(`| ${c.setSize} | ${c.multiplier} | ${c.rejections} / ${c.replicates} |`),
    );
  }
  for (const x of report.recovery) {
    assert.equal(x.replicates, o.recoveryReplicates);
    assert.ok(x.covered <= x.replicates && x.rejected <= x.replicates);
  }
  return report;
}

Deno.test("the committed calibration tables: (a), (c), (d) and recovery as stated", async () => {
  const report = await checkReport("calibration");
  // The brief's setting: the example's size, at least 1,000 null replicates, the screen and
  // the power table present.
  assert.equal(report.setting.families, 5000);
  assert.equal(report.setting.model, "null");
  assert.ok(report.options.replicates >= 1000, `${report.options.replicates} replicates`);
  assert.ok(report.screen !== null && report.power.length === 12);
  assert.equal(report.recovery.length, 2);
});

Deno.test("the committed gamma4 calibration table: every row within its stated interval", async () => {
  const report = await checkReport("calibration_gamma4");
  assert.equal(report.setting.model, "gamma4");
});

Deno.test("the committed calibration tables: the screen's (b) rows within their intervals", async () => {
  // The per-family screen under the null, overall and per prevalence class (calibrated p and q;
  // the asymptotic rows are measurements). `deno task calibration --rerun-screen
  // validation/calibration.json` recomputes this section alone.
  const report = await checkReport("calibration", ["b"]);
  assert.equal(report.rows.filter((r) => r.section === "b").length, 12);
});
