// The null-model fit: the MLE and profile intervals against an
// independent one-dimensional search, recovery of known rates from simulated PAMs (with the
// unobserved families dropped, as in real data), and interval coverage over replicates.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { fitNullModel } from "../lib/fit/fit_null_model.ts";
import { normalQuantile } from "../lib/fit/normal_quantile.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { openLikelihood } from "../lib/likelihood/open_likelihood.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { type BackendFactory, loadKernel } from "../lib/likelihood/choose_backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { simulateObservedPam } from "../lib/simulate/families.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

const { kernel, reasons } = await loadKernel();
if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);
const native: BackendFactory = {
  name: "native",
  create: (t, s, n) => new NativeBackend(kernel, t, s, n),
};

Deno.test("normal quantile matches known values", () => {
  // Acklam's approximation has relative error below 1.2e-9.
  assertClose(normalQuantile(0.975), 1.959963984540054, 1e-8);
  assertClose(normalQuantile(0.995), 2.5758293035489004, 1e-8);
  assertClose(normalQuantile(0.001), -3.090232306167813, 1e-8);
  assertClose(normalQuantile(0.5), 0, 1e-12);
});

function simulate(nTips: number, nFamilies: number, gain: number, loss: number, seed: number) {
  const rng = new Random(seed);
  const tree = yuleTree(nTips, rng, { height: 1 });
  const sim = simulateObservedPam(tree, { gain, loss, nFamilies, rng });
  const names = Array.from({ length: nFamilies }, (_, i) => `fam${i}`);
  return { tree, sim, patterns: compressPatterns(sim.states, nFamilies, tree.nTips, names) };
}

/** Golden-section maximisation of a unimodal function on [a, b] (independent of the fit code). */
function goldenMax(f: (x: number) => number, a: number, b: number): number {
  const r = (Math.sqrt(5) - 1) / 2;
  let c = b - r * (b - a), d = a + r * (b - a);
  let fc = f(c), fd = f(d);
  for (let i = 0; i < 80; i++) {
    if (fc > fd) {
      b = d, d = c, fd = fc, c = b - r * (b - a), fc = f(c);
    } else {
      a = c, c = d, fc = fd, d = a + r * (b - a), fd = f(d);
    }
  }
  return Math.max(fc, fd);
}

Deno.test("MLE and profile interval ends agree with an independent golden-section profile", () => {
  const { tree, patterns } = simulate(40, 400, 0.2, 0.8, 11);
  using lik = new GainLossLikelihood(tree, patterns, native);
  const fit = fitNullModel(lik);
  assert.ok(fit.converged);
  const ll = (g: number, l: number) => lik.evaluate(g, l).logLik;
  // The gradient at the MLE is ~0, so nudging either rate by 0.1% cannot increase logLik by more
  // than rounding.
  for (const [dg, dl] of [[1.001, 1], [0.999, 1], [1, 1.001], [1, 0.999]]) {
    assert.ok(ll(fit.gain * dg, fit.loss * dl) <= fit.logLik + 1e-9);
  }
  const cut = fit.logLik - 3.841458820694124 / 2;
  const profileGain = (g: number) =>
    goldenMax((x) => ll(g, Math.exp(x)), Math.log(fit.loss) - 3, Math.log(fit.loss) + 3);
  const profileLoss = (l: number) =>
    goldenMax((x) => ll(Math.exp(x), l), Math.log(fit.gain) - 3, Math.log(fit.gain) + 3);
  const profilePi = (p: number) =>
    goldenMax(
      (s) => ll(p * Math.exp(s), (1 - p) * Math.exp(s)),
      Math.log(fit.gain + fit.loss) - 3,
      Math.log(fit.gain + fit.loss) + 3,
    );
  // Interval ends are found to 1e-9 in log scale; the golden search's profile value is exact to
  // ~1e-10 in logLik, so the profile at the ends equals the cut-off to well within 1e-6.
  for (const end of fit.ci!.gain) {
    assertClose(profileGain(end), cut, 1e-6 / Math.abs(cut), "gain end");
  }
  for (const end of fit.ci!.loss) {
    assertClose(profileLoss(end), cut, 1e-6 / Math.abs(cut), "loss end");
  }
  for (const end of fit.ci!.pi1) assertClose(profilePi(end), cut, 1e-6 / Math.abs(cut), "pi1 end");
  assert.ok(fit.ci!.gain[0] < fit.gain && fit.gain < fit.ci!.gain[1]);
  assert.ok(fit.ci!.pi1[0] < fit.pi1 && fit.pi1 < fit.ci!.pi1[1]);
});

Deno.test("recovery: corrected fit finds known rates within 10% with intervals covering them; uncorrected is biased", () => {
  // 250 genomes, 3,000 observed families; with gain 0.03, loss 0.3 on a tree of height 1 about
  // a third of simulated families are never present anywhere and are dropped, as in real PAMs.
  const gain = 0.03, loss = 0.3;
  const { tree, sim, patterns } = simulate(250, 3000, gain, loss, 20261127);
  assert.ok(sim.droppedShare > 0.2, `dropped share ${sim.droppedShare}`);
  using corrected = new GainLossLikelihood(tree, patterns, native);
  const fit = fitNullModel(corrected);
  assert.ok(fit.converged && fit.warnings.length === 0, fit.warnings.join("; "));
  assert.ok(Math.abs(fit.gain / gain - 1) < 0.1, `gain ${fit.gain}`);
  assert.ok(Math.abs(fit.loss / loss - 1) < 0.1, `loss ${fit.loss}`);
  assert.ok(fit.ci!.gain[0] <= gain && gain <= fit.ci!.gain[1], `gain CI ${fit.ci!.gain}`);
  assert.ok(fit.ci!.loss[0] <= loss && loss <= fit.ci!.loss[1], `loss CI ${fit.ci!.loss}`);
  const pi1 = gain / (gain + loss);
  assert.ok(fit.ci!.pi1[0] <= pi1 && pi1 <= fit.ci!.pi1[1], `pi1 CI ${fit.ci!.pi1}`);
  using uncorrected = new GainLossLikelihood(tree, patterns, native, { minPresent: 0 });
  const biased = fitNullModel(uncorrected, { level: null });
  // Ignoring the unobservable families inflates the gain rate (and pi1) well beyond the
  // sampling error: the truth lies far outside what the uncorrected fit would claim.
  assert.ok(biased.gain > gain * 1.25, `uncorrected gain ${biased.gain}`);
  assert.ok(biased.pi1 > fit.ci!.pi1[1], `uncorrected pi1 ${biased.pi1}`);
});

Deno.test("calibration: 95% profile intervals cover the true gain and pi1 in most of 40 replicates", () => {
  const gain = 0.1, loss = 0.5;
  const pi1 = gain / (gain + loss);
  let coverGain = 0, coverPi = 0;
  const R = 40;
  for (let r = 0; r < R; r++) {
    const { tree, patterns } = simulate(50, 300, gain, loss, 1000 + r);
    using lik = new GainLossLikelihood(tree, patterns, native);
    const fit = fitNullModel(lik);
    if (fit.ci!.gain[0] <= gain && gain <= fit.ci!.gain[1]) coverGain++;
    if (fit.ci!.pi1[0] <= pi1 && pi1 <= fit.ci!.pi1[1]) coverPi++;
  }
  // With true coverage 0.95, the count is Binomial(40, 0.95): mean 38, sd 1.4; 33 or fewer has
  // probability < 0.3%, so a failure here means the intervals are too narrow.
  assert.ok(coverGain >= 34, `gain covered ${coverGain}/${R}`);
  assert.ok(coverPi >= 34, `pi1 covered ${coverPi}/${R}`);
});

Deno.test("rates the data cannot identify end on a bound with a warning", () => {
  // All families present everywhere: the likelihood keeps rising as pi1 -> 1 (gain up or loss
  // down), so one rate must end on its bound, and the user is told.
  const rng = new Random(1);
  const tree: FlatTree = yuleTree(12, rng, { height: 1 });
  const rows = new Uint8Array(12 * 30).fill(1);
  const patterns = compressPatterns(rows, 30, 12, Array.from({ length: 30 }, (_, i) => `f${i}`));
  using lik = new GainLossLikelihood(tree, patterns, native);
  const fit = fitNullModel(lik, { level: null });
  assert.ok(
    fit.warnings.some((w) => /do not identify (gain|loss)/.test(w)),
    fit.warnings.join("; "),
  );
  assert.ok(fit.pi1 > 0.99, `pi1 ${fit.pi1}`);
});

Deno.test("the example data's fit does not move: rates and intervals as before the generic fitter", async () => {
  const data = await loadDataset("examples/tree.nwk", "examples/pam.tsv");
  using lik = await openLikelihood(data);
  const fit = fitNullModel(lik);
  assert.ok(fit.converged && fit.warnings.length === 0, fit.warnings.join("; "));
  // Values of the two-parameter fitter this one replaced (gain 0.02925 [0.02824, 0.03029], loss
  // 0.2981 [0.2912, 0.3051]). Both stop at a gradient of 1e-9 per family, which puts the MLE
  // within ~1e-8 relative of the exact maximum; interval ends are found to 1e-8 in logLik, i.e.
  // ~1e-9 relative: 1e-6 is far inside what would change a printed digit.
  assertClose(fit.gain, 0.029252877894456224, 1e-6 * 0.0293, "gain");
  assertClose(fit.loss, 0.29807892602398794, 1e-6 * 0.298, "loss");
  assertClose(fit.logLik, -70718.64607079265, 1e-12, "logLik");
  assertClose(
    [...fit.ci!.gain],
    [0.02824090211830258, 0.03028518489220225],
    1e-6 * 0.03,
    "gain CI",
  );
  assertClose([...fit.ci!.loss], [0.29119099024251016, 0.3050808278344436], 1e-6 * 0.3, "loss CI");
  assertClose([...fit.ci!.pi1], [0.08609596729044708, 0.0927214784598287], 1e-6 * 0.09, "pi1 CI");
});
