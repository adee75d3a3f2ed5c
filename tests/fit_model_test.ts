// The generic fitter: recovery of closed-form maxima (interior, on a domain boundary, and on a
// plateau), profile interval ends against a brute-force profile, the mixture label-switching
// rule, and the two null-model cases the previous fitter got wrong (a long branch that sent it to
// a distant plateau; an all-singletons PAM it pushed to a corner above the true supremum).
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { fitModel, fitModelLikelihood } from "../lib/fit/fit_model.ts";
import { compareModels } from "../lib/fit/compare.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { gammaCategoryRates } from "../lib/model/gamma.ts";
import { fitNullModel } from "../lib/fit/fit_null_model.ts";
import type { ModelObjective } from "../lib/fit/objective.ts";
import { chiSquareQuantile } from "../lib/fit/chi_square.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { type ParameterSpec, parseModel } from "../lib/model/description.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { Random } from "../lib/simulate/random.ts";
import { simulateObservedPam } from "../lib/simulate/families.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

const rateSpec = (name: string): ParameterSpec => ({
  name,
  description: name,
  kind: "rate",
  units: "",
  lower: 0,
  upper: Infinity,
  transform: "log",
});
const probSpec = (name: string, kind: "probability" | "split" = "probability"): ParameterSpec => ({
  name,
  description: name,
  kind,
  units: "",
  lower: 0,
  upper: 1,
  transform: "logit",
});

/** Zero-inflated Poisson: n0 zeros and counts `xs` > 0; parameters rate (lambda), pInv (p). */
function zeroInflatedPoisson(n0: number, xs: number[]): ModelObjective {
  const sum = xs.reduce((a, b) => a + b, 0);
  const m = xs.length;
  return {
    parameters: [rateSpec("rate"), probSpec("pInv")],
    nObservations: n0 + m,
    evaluate(v) {
      const [lam, p] = v;
      const e = Math.exp(-lam);
      const z = p + (1 - p) * e;
      const logLik = n0 * Math.log(z) + m * Math.log1p(-p) + sum * Math.log(lam) - m * lam;
      return {
        logLik,
        gradient: new Float64Array([
          n0 * (-(1 - p) * e) / z + sum / lam - m,
          n0 * (1 - e) / z - m / (1 - p),
        ]),
      };
    },
  };
}

Deno.test("closed-form maxima: an interior one, one on a domain boundary, one on a plateau", () => {
  // Poisson mean and binomial proportion, independent: rate = 37/10, p = 3/20.
  const poissonBinomial: ModelObjective = {
    parameters: [rateSpec("rate"), probSpec("p")],
    nObservations: 30,
    evaluate: (v) => ({
      logLik: 37 * Math.log(v[0]) - 10 * v[0] + 3 * Math.log(v[1]) + 17 * Math.log1p(-v[1]),
      gradient: new Float64Array([37 / v[0] - 10, 3 / v[1] - 17 / (1 - v[1])]),
    }),
  };
  const fit = fitModel(poissonBinomial);
  assert.ok(fit.converged && fit.warnings.length === 0, fit.warnings.join("; "));
  // The gradient tolerance (1e-9 per observation on the working scale) puts the estimates
  // within ~1e-8 relative of the closed form.
  assertClose(fit.byName.rate.estimate, 3.7, 1e-7, "rate");
  assertClose(fit.byName.p.estimate, 0.15, 1e-7, "p");
  // Profile interval of a Poisson mean: {r : 2 [37 log(3.7/r) - 10 (3.7 - r)] <= chi2_1(0.95)},
  // solved here by bisection on the closed-form profile (the parameters are independent).
  const cut = chiSquareQuantile(0.95, 1);
  const dev = (r: number) => 2 * (37 * Math.log(3.7 / r) - 10 * (3.7 - r)) - cut;
  const bisect = (a: number, b: number) => {
    for (let i = 0; i < 200; i++) {
      const c = (a + b) / 2;
      if ((dev(c) > 0) === (dev(a) > 0)) a = c;
      else b = c;
    }
    return (a + b) / 2;
  };
  // Ends are found to |h| < 1e-8 in logLik; the profile slope there is ~3, so ~3e-9 in rate.
  assertClose([...fit.byName.rate.interval!], [bisect(1, 3.7), bisect(3.7, 10)], 1e-7, "rate CI");

  // Zero-inflated Poisson with fewer zeros than Poisson itself predicts: the MLE of pInv is the
  // domain end 0, where the rate's estimate is the plain Poisson mean of all counts.
  const xs = [1, 2, 3, 1, 2, 4, 1, 2, 3, 5, 2, 1];
  const zip = fitModel(zeroInflatedPoisson(0, xs));
  assert.equal(zip.byName.pInv.boundary, "lower");
  assert.ok(zip.byName.pInv.estimate < 1e-9, `pInv ${zip.byName.pInv.estimate}`);
  assert.ok(
    zip.warnings.some((w) => /pInv is on the boundary of its domain/.test(w)),
    zip.warnings.join("; "),
  );
  // Sum 27 over 12 counts, with pInv at 1e-10 of 0: rate = 2.25 to ~1e-9.
  assertClose(zip.byName.rate.estimate, 27 / 12, 1e-7, "rate with pInv = 0");
  assert.ok(zip.converged);
  // The interval reaches the domain end: reported as exactly 0, open below.
  assert.equal(zip.byName.pInv.interval![0], 0);
  assert.deepEqual(zip.byName.pInv.open, [true, false]);

  // A rate with no maximum: logLik = -exp(-r) rises towards its supremum 0 as r -> infinity. The
  // fit must say the parameter is not identified and report a value the model reaches.
  const plateau: ModelObjective = {
    parameters: [rateSpec("r")],
    nObservations: 1,
    evaluate: (v) => ({ logLik: -Math.exp(-v[0]), gradient: new Float64Array([Math.exp(-v[0])]) }),
  };
  const flat = fitModel(plateau, { rateScale: { lower: 1e-3, upper: 1, typical: 0.1 } });
  assert.equal(flat.byName.r.identified, false);
  assert.ok(flat.warnings.some((w) => /do not identify r/.test(w)), flat.warnings.join("; "));
  // Widening stops once a 100-fold step gains less than 0.01, so the value reported is within
  // 0.01 of the supremum and exactly the function at the reported estimate.
  assert.ok(flat.logLik < 0 && flat.logLik > -0.01, `${flat.logLik}`);
  assert.equal(flat.logLik, -Math.exp(-flat.byName.r.estimate));
});

Deno.test("profile interval ends of correlated parameters equal a brute-force profile", () => {
  // 30 zeros among 60 counts: pInv and rate are both interior and negatively correlated.
  const rng = new Random(5);
  const xs: number[] = [];
  let zeros = 0;
  for (let i = 0; i < 80; i++) {
    if (rng.next() < 0.3) zeros++;
    else {
      // Poisson(2) by inversion.
      let k = 0, p = Math.exp(-2), c = p;
      const u = rng.next();
      while (u > c) p *= 2 / ++k, c += p;
      if (k === 0) zeros++;
      else xs.push(k);
    }
  }
  const objective = zeroInflatedPoisson(zeros, xs);
  const fit = fitModel(objective);
  assert.ok(fit.converged && fit.warnings.length === 0, fit.warnings.join("; "));
  const ll = (lam: number, p: number) =>
    objective.evaluate(new Float64Array([lam, p]), false).logLik;
  // Brute force: golden-section search of the nuisance on a wide bracket (unimodal in each
  // coordinate here), 100 iterations to 1e-20 of the bracket.
  const golden = (f: (t: number) => number, a: number, b: number) => {
    const r = (Math.sqrt(5) - 1) / 2;
    let c = b - r * (b - a), d = a + r * (b - a);
    let fc = f(c), fd = f(d);
    for (let i = 0; i < 100; i++) {
      if (fc > fd) b = d, d = c, fd = fc, c = b - r * (b - a), fc = f(c);
      else a = c, c = d, fc = fd, d = a + r * (b - a), fd = f(d);
    }
    return Math.max(fc, fd);
  };
  const logit = (p: number) => Math.log(p / (1 - p));
  const sig = (t: number) => 1 / (1 + Math.exp(-t));
  const profileRate = (lam: number) => golden((t) => ll(lam, sig(t)), -15, 15);
  const profileP = (p: number) => golden((t) => ll(Math.exp(t), p), -5, 5);
  const cut = fit.logLik - chiSquareQuantile(0.95, 1) / 2;
  // Ends satisfy |profile - cut| < 1e-8 (the search's stopping rule) with an inner maximum
  // accurate to ~1e-12; the brute-force profile is exact to ~1e-12: 1e-7 leaves a margin.
  for (const end of fit.byName.rate.interval!) {
    assertClose(profileRate(end), cut, 1e-7 / Math.abs(cut));
  }
  for (const end of fit.byName.pInv.interval!) {
    assertClose(profileP(end), cut, 1e-7 / Math.abs(cut));
  }
  // And each end is where the brute-force profile crosses the cut-off: 1e-5 inside it (on the
  // working scale) the profile is above the cut, 1e-5 outside below (the profile's slope there,
  // ~5 per unit, makes that a 5e-5 margin against the 1e-8 accuracy of both).
  for (
    const [name, prof, toT, fromT] of [
      ["rate", profileRate, Math.log, Math.exp],
      ["pInv", profileP, logit, sig],
    ] as const
  ) {
    const [lo, hi] = fit.byName[name].interval!.map(toT);
    assert.ok(prof(fromT(lo + 1e-5)) > cut && prof(fromT(lo - 1e-5)) < cut, `${name} lower`);
    assert.ok(prof(fromT(hi - 1e-5)) > cut && prof(fromT(hi + 1e-5)) < cut, `${name} upper`);
  }
});

Deno.test("mixture classes are reported in ascending order of turnover, splits recomputed", () => {
  // Pairs (x, y) from two classes: x ~ Exp(gain_c), y ~ Exp(loss_c); class A (weight 0.3) is
  // fast (gain 5, loss 8), class B slow (gain 0.5, loss 1).
  const rng = new Random(99);
  const data: [number, number][] = [];
  for (let i = 0; i < 400; i++) {
    const fast = rng.next() < 0.3;
    const [g, l] = fast ? [5, 8] : [0.5, 1];
    data.push([-Math.log(1 - rng.next()) / g, -Math.log(1 - rng.next()) / l]);
  }
  const objective: ModelObjective = {
    parameters: [
      rateSpec("gain1"),
      rateSpec("loss1"),
      rateSpec("gain2"),
      rateSpec("loss2"),
      probSpec("split1", "split"),
    ],
    nObservations: data.length,
    evaluate(v) {
      const [g1, l1, g2, l2, s] = v;
      let logLik = 0;
      const grad = new Float64Array(5);
      for (const [x, y] of data) {
        const a = s * g1 * l1 * Math.exp(-g1 * x - l1 * y);
        const b = (1 - s) * g2 * l2 * Math.exp(-g2 * x - l2 * y);
        const t = a + b;
        logLik += Math.log(t);
        grad[0] += (a * (1 / g1 - x)) / t;
        grad[1] += (a * (1 / l1 - y)) / t;
        grad[2] += (b * (1 / g2 - x)) / t;
        grad[3] += (b * (1 / l2 - y)) / t;
        grad[4] += (a / s - b / (1 - s)) / t;
      }
      return { logLik, gradient: grad };
    },
  };
  // Start with the fast class first: without relabelling the fit would report it as class 1.
  const fit = fitModel(objective, { starts: [[4, 6, 0.4, 0.8, 0.4]], level: null });
  const raw = fitModel(objective, { starts: [[4, 6, 0.4, 0.8, 0.4]], level: null, relabel: false });
  assert.ok(fit.converged && raw.converged);
  // The unrelabelled fit has the fast class first; the rule swaps it.
  assert.ok(raw.byName.gain1.estimate > raw.byName.gain2.estimate);
  const p = fit.byName;
  assert.ok(p.gain1.estimate + p.loss1.estimate < p.gain2.estimate + p.loss2.estimate);
  // The same point: labels swapped, split1 -> 1 - split1 (two classes), logLik unchanged (the
  // fits stop within 1e-9 per observation of the gradient's zero).
  assertClose(
    [p.gain1.estimate, p.loss1.estimate, p.gain2.estimate, p.loss2.estimate, p.split1.estimate],
    [
      raw.byName.gain2.estimate,
      raw.byName.loss2.estimate,
      raw.byName.gain1.estimate,
      raw.byName.loss1.estimate,
      1 - raw.byName.split1.estimate,
    ],
    1e-5,
    "relabelled estimates",
  );
  assertClose(fit.logLik, raw.logLik, 1e-10, "logLik");
  // Recovery: the slow class (truth gain 0.5, loss 1, weight 0.7) within sampling error of 400
  // pairs (about 10% relative for rates, 0.05 for the weight).
  assert.ok(Math.abs(p.gain1.estimate / 0.5 - 1) < 0.25, `gain1 ${p.gain1.estimate}`);
  assert.ok(Math.abs(p.split1.estimate - 0.7) < 0.1, `split1 ${p.split1.estimate}`);
});

const LONG_BRANCH_TREE =
  "((((A:0.1,B:0.2):0.05,C:0.3):0.1,(D:0.2,E:0.1):0.15):0.05,((F:0.1,G:0.1):0.2,H:100):0.1);";

Deno.test("a long branch: the fit reaches the maximum a dense grid finds", () => {
  const tree = parseNewick(LONG_BRANCH_TREE, "long-branch tree");
  // 100 families simulated with gain 1, loss 2 (seed 1): the previous fitter stopped at gain
  // 4.4e3, loss 7.8e3 with logLik -524.5 on its bound, 40 below the maximum near (1, 2).
  const sim = simulateObservedPam(tree, { gain: 1, loss: 2, nFamilies: 100, rng: new Random(1) });
  const names = Array.from({ length: 100 }, (_, i) => `f${i}`);
  using lik = new GainLossLikelihood(
    tree,
    compressPatterns(sim.states, 100, tree.nTips, names),
    tsBackendFactory,
  );
  const fit = fitNullModel(lik);
  assert.ok(fit.converged, fit.warnings.join("; "));
  assert.deepEqual(fit.warnings, []);
  // Dense grid over log rates in [-4, 4] (step 0.05), refined around its best point (step
  // 0.002 over +-0.05): the best refined point is the reference.
  let best = -Infinity, bg = 0, bl = 0;
  const scan = (a0: number, a1: number, b0: number, b1: number, step: number) => {
    for (let a = a0; a <= a1 + 1e-12; a += step) {
      for (let b = b0; b <= b1 + 1e-12; b += step) {
        const v = lik.evaluate(Math.exp(a), Math.exp(b)).logLik;
        if (v > best) best = v, bg = a, bl = b;
      }
    }
  };
  scan(-4, 4, -4, 4, 0.05);
  scan(bg - 0.05, bg + 0.05, bl - 0.05, bl + 0.05, 0.002);
  // The fit is at least as good as every grid point, and within one fine step of the best.
  assert.ok(fit.logLik >= best - 1e-9, `fit ${fit.logLik} grid ${best}`);
  assert.ok(Math.abs(Math.log(fit.gain) - bg) <= 0.002, `gain ${fit.gain} grid ${Math.exp(bg)}`);
  assert.ok(Math.abs(Math.log(fit.loss) - bl) <= 0.002, `loss ${fit.loss} grid ${Math.exp(bl)}`);
  assert.ok(fit.ci!.gain[0] < fit.gain && fit.gain < fit.ci!.gain[1]);
});

Deno.test("all-singletons PAM: rates reported unidentified, logLik not above the supremum", () => {
  // Every family is present in exactly one genome, two per genome. Under saturation (rates ->
  // infinity, pi1 -> 0) each tip is an independent Bernoulli(pi1), so P(a given singleton |
  // observed) -> 1/n: the supremum is -F log n and no finite rates reach it.
  const n = 10;
  const tree = yuleTree(n, new Random(3), { height: 1 });
  const F = 2 * n;
  const rows = new Uint8Array(F * n);
  for (let f = 0; f < F; f++) rows[f * n + (f % n)] = 1;
  const names = Array.from({ length: F }, (_, i) => `f${i}`);
  using lik = new GainLossLikelihood(tree, compressPatterns(rows, F, n, names), tsBackendFactory);
  const supremum = -F * Math.log(n);
  // Grid over rates the tree resolves: nothing exceeds the supremum (1e-9 for rounding).
  for (let a = -6; a <= 6; a += 0.5) {
    for (let b = -6; b <= 6; b += 0.5) {
      assert.ok(lik.evaluate(Math.exp(a), Math.exp(b)).logLik <= supremum + 1e-9);
    }
  }
  const fit = fitNullModel(lik);
  // Both rates are named: the supremum is approached as loss -> infinity and gain -> 0 together.
  for (const rate of ["gain", "loss"]) {
    assert.ok(
      fit.warnings.some((w) => new RegExp(`do not identify ${rate}\\b`).test(w)),
      fit.warnings.join("; "),
    );
  }
  // The reported value is the likelihood at the reported rates, at most the supremum, and within
  // the 0.01 plateau threshold of it.
  assert.equal(fit.logLik, lik.evaluate(fit.gain, fit.loss).logLik);
  assert.ok(fit.logLik <= supremum + 1e-9 && fit.logLik > supremum - 0.01, `${fit.logLik}`);
  // pi1 heads to 0: its interval reaches down to the end of the range searched.
  assert.ok(fit.pi1 < 1e-3, `pi1 ${fit.pi1}`);
});

Deno.test("ModelLikelihood: gamma4 recovers alpha, beats null by an LRT, +inv ends on pInv = 0", () => {
  // 40 genomes, 600 families with gamma(0.5) rate variation (4 categories of equal weight), no
  // invariant families.
  const rng = new Random(77);
  const tree = yuleTree(40, rng, { height: 1 });
  const { rates } = gammaCategoryRates(0.5, 4);
  const sim = simulateObservedPam(tree, {
    gain: 0.2,
    loss: 1,
    nFamilies: 600,
    rng,
    rateCategories: [...rates],
  });
  const names = Array.from({ length: 600 }, (_, i) => `f${i}`);
  const patterns = compressPatterns(sim.states, 600, tree.nTips, names);
  const fits = ["null", "gamma4", "gamma4+inv"].map((m) => {
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel(m));
    return { model: m, fit: fitModelLikelihood(lik, { level: m === "gamma4" ? 0.95 : null }) };
  });
  const [nul, gamma, inv] = fits.map((f) => f.fit);
  assert.ok(nul.converged && gamma.converged && inv.converged);
  // alpha's 95% profile interval covers the truth 0.5 (a 5% miss would be bad luck at this seed,
  // checked once), and gain, loss are within their intervals too.
  const a = gamma.byName.alpha;
  assert.ok(a.interval![0] < 0.5 && 0.5 < a.interval![1], `alpha ${a.estimate} ${a.interval}`);
  assert.ok(gamma.byName.gain.interval![0] < 0.2 && 0.2 < gamma.byName.gain.interval![1]);
  // pi1's interval ends, checked by a different route: a full fit of (gain + loss, alpha) with
  // pi1 held at the end reaches the cut-off l_hat - chi2_1(0.95) / 2. Both maxima are accurate
  // to ~1e-6 (the fitter's improvement tolerance), hence 1e-5.
  {
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("gamma4"));
    const cut = gamma.logLik - chiSquareQuantile(0.95, 1) / 2;
    assert.ok(gamma.byName.pi1.interval![0] < gamma.byName.pi1.estimate);
    for (const end of gamma.byName.pi1.interval!) {
      const fixed: ModelObjective = {
        parameters: [rateSpec("turnover"), { ...rateSpec("alpha"), kind: "shape" }],
        nObservations: lik.nObservations,
        evaluate(v, wantGradient) {
          const r = lik.evaluate(
            new Float64Array([end * v[0], (1 - end) * v[0], v[1]]),
            wantGradient,
          );
          if (!wantGradient) return { logLik: r.logLik };
          const g = r.gradient!;
          return {
            logLik: r.logLik,
            gradient: new Float64Array([end * g[0] + (1 - end) * g[1], g[2]]),
          };
        },
      };
      const f = fitModel(fixed, {
        level: null,
        starts: [[
          gamma.byName.gain.estimate + gamma.byName.loss.estimate,
          gamma.byName.alpha.estimate,
        ]],
      });
      assert.ok(Math.abs(f.logLik - cut) < 1e-5, `pi1 end ${end}: ${f.logLik} vs cut ${cut}`);
    }
  }
  // +inv: no invariant families were simulated, so pInv sits on its boundary 0 and gamma4+inv
  // gains nothing (within the optimiser's tolerance).
  assert.equal(inv.byName.pInv.boundary, "lower");
  assert.ok(inv.warnings.some((w) => /pInv is on the boundary/.test(w)), inv.warnings.join("; "));
  assert.ok(Math.abs(inv.logLik - gamma.logLik) < 1e-4, `${inv.logLik} vs ${gamma.logLik}`);
  const { tests } = compareModels(fits);
  const t = tests.find((x) => x.nullModel === "null" && x.alternative === "gamma4")!;
  // Strong rate variation (alpha 0.5) on 600 families: the test rejects the null decisively.
  assert.ok(t.statistic > 20 && t.pValue < 1e-5, `${t.statistic} ${t.pValue}`);
  assert.equal(t.reference, "0.5 chi2(0) + 0.5 chi2(1)");
});

Deno.test("the convergence claim is checked: probes carry a stalled optimiser to the maximum", () => {
  // logLik = -(log r - 2)^2 with a gradient reported 1e12 times too small: L-BFGS stops at once
  // ("gradient below tolerance") wherever it starts. Probes of +-1 on the log scale find higher
  // points and restart it, until r = e^2 where none is higher.
  const objective: ModelObjective = {
    parameters: [rateSpec("r")],
    nObservations: 1,
    evaluate: (v) => ({
      logLik: -((Math.log(v[0]) - 2) ** 2),
      gradient: new Float64Array([(-2e-12 * (Math.log(v[0]) - 2)) / v[0]]),
    }),
  };
  const fit = fitModel(objective, { starts: [[1]], level: null });
  // The probes step exactly 1 on the log scale from log r = 0, so they land on 2 (to rounding).
  assertClose(Math.log(fit.byName.r.estimate), 2, 1e-12, "log r");
  assert.ok(fit.converged);
});

Deno.test("a probability whose maximum is its domain's end is never evaluated at that end", () => {
  // logLik = 10 log(p) rises all the way to p = 1; the model (like every model here) refuses
  // p = 1 itself, so every value the fitter passes must stay strictly inside (0, 1), also in
  // the probes around the estimate far out on the logit scale.
  const seen: number[] = [];
  const objective = {
    parameters: [{
      name: "p",
      description: "a probability",
      kind: "probability" as const,
      units: "",
      lower: 0,
      upper: 1,
      transform: "logit" as const,
    }],
    nObservations: 10,
    evaluate: (v: Float64Array) => {
      seen.push(v[0]);
      if (!(v[0] > 0 && v[0] < 1)) throw new Error(`p = ${v[0]} is outside (0, 1)`);
      return { logLik: 10 * Math.log(v[0]), gradient: Float64Array.of(10 / v[0]) };
    },
  };
  const fit = fitModel(objective, { level: 0.95 });
  assert.ok(fit.byName.p.estimate > 1 - 1e-9, String(fit.byName.p.estimate));
  // The profile never drops by the cut-off before p = 1: the interval is open there.
  assert.deepEqual(fit.byName.p.open, [false, true]);
  assert.equal(fit.byName.p.interval![1], 1);
  // Its lower end solves 10 log(p) = -chi2(1, 0.95) / 2 exactly: p = exp(-3.841459 / 20).
  assertClose(fit.byName.p.interval![0], Math.exp(-3.841458820694124 / 20), 1e-6);
  assert.ok(seen.every((p) => p > 0 && p < 1));
});
