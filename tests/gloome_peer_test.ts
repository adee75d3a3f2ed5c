/**
 * Peer check against GLOOME's `gainLoss` (Debian package `fastml`, installed if missing), which
 * fits the same 2-state gain/loss model by maximum likelihood with the same ascertainment
 * correction (`_minNumOfOnes 1`: each column conditioned on at least one present tip).
 *
 * Parametrisation (see `support/gloome.ts`): GLOOME normalises its rate matrix to one expected
 * change per unit branch length (2 gain loss / (gain + loss) = 1) and puts the overall rate into
 * the branch lengths. If the tree GLOOME used is genecontent's tree times c, its printed
 * (gain, loss) are genecontent's (gain, loss) / c, and pi1 = gain / (gain + loss) is the same in
 * both. With a fixed tree GLOOME fits only the ratio gain / loss; it fits c only as one factor on
 * the whole tree, once, before the ratio. The second test therefore alternates GLOOME runs
 * (factor, then ratio, the next run starting where the last ended) until GLOOME itself stops
 * moving: a coordinate ascent in which every step is GLOOME's own optimisation.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { simulateObservedPam } from "../lib/simulate/families.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { fitNullModel } from "../lib/fit/fit_null_model.ts";
import { ensureGainLoss, runGainLoss, writeBinaryFasta } from "./support/gloome.ts";

interface Dataset {
  tree: FlatTree;
  states: Uint8Array;
  nFamilies: number;
  patterns: SitePatterns;
  droppedShare: number;
}

/** 30 tips, 600 observed families; about 30% of the simulated families are never present. */
function dataset(): Dataset {
  const rng = new Random(5);
  const tree = yuleTree(30, rng, { height: 1 });
  const pam = simulateObservedPam(tree, { gain: 0.15, loss: 1.5, nFamilies: 600, rng });
  const patterns = compressPatterns(pam.states, pam.nFamilies, tree.nTips, []);
  return {
    tree,
    states: pam.states,
    nFamilies: pam.nFamilies,
    patterns,
    droppedShare: pam.droppedShare,
  };
}

function scaled(tree: FlatTree, factor: number): FlatTree {
  return flatTreeFromParents(
    tree.tipNames,
    tree.parent,
    Float64Array.from(tree.branchLength, (t) => t * factor),
  );
}

/** Half a unit in the last place of a number printed with `digits` significant digits. */
const halfUlp = (digits: number) => 0.5 * 10 ** (1 - digits);

/**
 * How far genecontent's log-likelihood at GLOOME's printed point may be from GLOOME's printed
 * log-likelihood: half a unit of its last printed decimal; 1e-9 relative for floating-point
 * differences between two pruning implementations (a sum of 600 terms); and the effect of the
 * rounding of the printed rates (relative error 0.5e-(digits-1) each) and tree factor through
 * genecontent's gradient wrt log rates (a common change of both log rates is a change of the
 * tree factor).
 */
function printTolerance(
  run: { logLik: number; decimals: number; rateDigits: number; treeFactorDigits: number },
  gradient: readonly [number, number],
): number {
  const [g0, g1] = gradient;
  const factorErr = Number.isFinite(run.treeFactorDigits) ? halfUlp(run.treeFactorDigits) : 0;
  return 0.5 * 10 ** -run.decimals + 1e-9 * Math.abs(run.logLik) +
    (Math.abs(g0) + Math.abs(g1)) * halfUlp(run.rateDigits) + Math.abs(g0 + g1) * factorErr;
}

Deno.test("GLOOME gainLoss on a fixed tree: its corrected log-likelihood and ratio are ours", async () => {
  await ensureGainLoss();
  const { tree, states, nFamilies, patterns, droppedShare } = dataset();
  assert.ok(droppedShare > 0.2, `a sizeable share of families is never present (${droppedShare})`);
  const dir = await Deno.makeTempDir({ prefix: "gc_gloome_fixed_" });
  try {
    await Deno.writeTextFile(`${dir}/tree.nwk`, formatNewick(tree) + "\n");
    await writeBinaryFasta(`${dir}/pam.fa`, tree.tipNames, states, nFamilies);
    // GLOOME's tree is genecontent's tree (c = 1): its rates map to ours unchanged.
    const run = await runGainLoss({
      treeFile: `${dir}/tree.nwk`,
      fastaFile: `${dir}/pam.fa`,
      workDir: `${dir}/run`,
      scaleTreeAtStart: false,
    });
    // The model we asked for is the one it ran.
    assert.match(run.output, /With min number of presences\('1's\)= 1\n/);
    assert.match(run.output, /RootFreq EQ stationary/);
    assert.match(run.output, /rateDist UNIFORM/);
    assert.match(run.output, /branch lengths are not optimized/);
    assert.doesNotMatch(run.output, /Tree multiplied by/);
    // Its matrix is normalised (printed to 9 digits: 1e-7 is ample).
    const norm = 2 * run.gain * run.loss / (run.gain + run.loss);
    assert.ok(Math.abs(norm - 1) < 1e-7, `GLOOME's 2 gain loss / (gain + loss) = ${norm}`);

    using lik = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent: 1 });
    using raw = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent: 0 });
    const at = lik.evaluate(run.gain, run.loss, { gradient: true });
    const uncorrected = raw.evaluate(run.gain, run.loss).logLik;
    const tol = printTolerance(run, at.gradient!);
    console.log(
      `GLOOME (tree as given, ${run.wallMs.toFixed(0)} ms): gain ${run.gain}, loss ${run.loss}, ` +
        `logLik ${run.logLik}; genecontent there ${at.logLik.toFixed(6)} (uncorrected ` +
        `${uncorrected.toFixed(4)}), difference ${(at.logLik - run.logLik).toExponential(2)}, ` +
        `tolerance ${tol.toExponential(2)}`,
    );
    assert.ok(
      Math.abs(at.logLik - run.logLik) <= tol,
      `genecontent ${at.logLik} vs GLOOME ${run.logLik} (tolerance ${tol})`,
    );
    // The comparison sees the correction: without it the value is far outside the tolerance.
    assert.ok(Math.abs(uncorrected - run.logLik) > 100 * tol, "the correction matters here");

    // GLOOME's ratio maximises genecontent's likelihood along GLOOME's constraint
    // 2 gain loss / (gain + loss) = 1, i.e. gain = (1 + e^theta) / 2, loss = (1 + e^-theta) / 2
    // with theta = log(gain / loss). d logLik / d theta = g0 pi1 - g1 pi0 (g: gradient wrt log
    // rates); one Newton step from GLOOME's theta gives genecontent's conditional maximum.
    const slope = (theta: number) => {
      const p1 = 1 / (1 + Math.exp(-theta));
      const v = lik.evaluate((1 + Math.exp(theta)) / 2, (1 + Math.exp(-theta)) / 2, {
        gradient: true,
      });
      return v.gradient![0] * p1 - v.gradient![1] * (1 - p1);
    };
    const theta = Math.log(run.gain / run.loss);
    const h = 1e-4;
    const curvature = (slope(theta + h) - slope(theta - h)) / (2 * h);
    assert.ok(curvature < 0, "a maximum along the constraint");
    const newton = -slope(theta) / curvature;
    console.log(
      `GLOOME's gain/loss ratio is ${Math.abs(newton).toExponential(2)} (relative) from ` +
        "genecontent's maximum at the same scale",
    );
    // GLOOME's Brent search on log10(ratio) stops at a fractional tolerance of 1e-6 (its
    // "epsilonOptParam"), i.e. ~2e-6 in log(ratio) here (|log10 ratio| ~ 0.74); 1e-5 leaves a
    // margin of 5 (observed: below 1e-8). The standard error of log(ratio) is ~0.05.
    assert.ok(Math.abs(newton) < 1e-5, `GLOOME's log ratio is ${newton} from genecontent's`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GLOOME gainLoss, tree factor and ratio alternated to convergence, matches fitNullModel", async () => {
  await ensureGainLoss();
  const { tree, states, nFamilies, patterns } = dataset();
  using lik = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent: 1 });
  const fit = fitNullModel(lik, { level: null });
  assert.ok(fit.converged && fit.warnings.length === 0, fit.warnings.join("; "));
  using raw = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent: 0 });
  const uncorrectedFit = fitNullModel(raw, { level: null });

  const dir = await Deno.makeTempDir({ prefix: "gc_gloome_fit_" });
  try {
    await writeBinaryFasta(`${dir}/pam.fa`, tree.tipNames, states, nFamilies);
    // Start from genecontent's tree (c = 1) and GLOOME's own starting ratio (from the observed
    // frequency of presences); each run fits the tree factor, then the ratio.
    let c = 1;
    let ratio: number | undefined;
    let last = null;
    let rounds = 0;
    let totalMs = 0;
    for (; rounds < 40; rounds++) {
      const treeFile = `${dir}/tree${rounds}.nwk`;
      await Deno.writeTextFile(treeFile, formatNewick(scaled(tree, c)) + "\n");
      const run = await runGainLoss({
        treeFile,
        fastaFile: `${dir}/pam.fa`,
        workDir: `${dir}/run${rounds}`,
        scaleTreeAtStart: true,
        startRatio: ratio,
      });
      totalMs += run.wallMs;
      c *= run.treeFactor;
      const previous = ratio;
      ratio = run.gain / run.loss;
      last = run;
      // GLOOME no longer moves: its factor prints as 1 (within 5e-7) and its ratio changed by
      // less than 1e-6 relative (below its own Brent tolerance).
      if (run.treeFactor === 1 && previous !== undefined && Math.abs(ratio / previous - 1) < 1e-6) {
        break;
      }
    }
    assert.ok(last !== null && rounds < 40, `GLOOME's alternation did not settle in 40 runs`);
    // Its rates in genecontent's units: the tree it used was genecontent's times c.
    const gain = c * last.gain, loss = c * last.loss, pi1 = gain / (gain + loss);
    const at = lik.evaluate(gain, loss, { gradient: true });
    console.log(
      `GLOOME after ${rounds + 1} runs (${(totalMs / 1000).toFixed(1)} s): tree factor ` +
        `${c.toFixed(6)}, gain ${gain.toFixed(7)}, loss ${loss.toFixed(7)}, pi1 ${
          pi1.toFixed(7)
        }, ` +
        `logLik ${last.logLik}\n` +
        `fitNullModel: gain ${fit.gain.toFixed(7)}, loss ${fit.loss.toFixed(7)}, ` +
        `pi1 ${fit.pi1.toFixed(7)}, logLik ${fit.logLik.toFixed(6)}; genecontent at GLOOME's ` +
        `point ${at.logLik.toFixed(6)}; uncorrected fit gain ${uncorrectedFit.gain.toFixed(4)}, ` +
        `loss ${uncorrectedFit.loss.toFixed(4)}`,
    );

    // (a) The likelihood at GLOOME's optimum, as in the first test (the factor's print rounding
    // now enters through the gradient, which is ~0 here).
    const tol = printTolerance(last, at.gradient!);
    assert.ok(
      Math.abs(at.logLik - last.logLik) <= tol,
      `genecontent ${at.logLik} vs GLOOME ${last.logLik} at GLOOME's optimum (tolerance ${tol})`,
    );
    // (b) The same maximum: genecontent's maximum is not below GLOOME's (print tolerance as
    // above without the gradient terms), and GLOOME reaches it to its printed precision.
    const printTol = 0.5 * 10 ** -last.decimals + 1e-9 * Math.abs(last.logLik);
    assert.ok(fit.logLik >= last.logLik - printTol, `${fit.logLik} < GLOOME's ${last.logLik}`);
    assert.ok(
      Math.abs(fit.logLik - last.logLik) <= printTol,
      `GLOOME's maximum ${last.logLik} vs fitNullModel's ${fit.logLik}`,
    );
    // The estimates agree within GLOOME's optimiser tolerance: its Brent searches stop at
    // ~1e-5 relative in the factor and the ratio, and the factor is printed to 6 digits; the
    // agreement observed is ~1e-5, where the log-likelihood is ~1e-8 below the maximum, far below
    // what GLOOME prints. 1e-4 relative keeps a margin of 10; the uncorrected fit differs by
    // by ~70% in gain (checked below), so the comparison tells the corrections apart.
    for (
      const [name, ours, theirs] of [
        ["gain", fit.gain, gain],
        ["loss", fit.loss, loss],
        ["pi1", fit.pi1, pi1],
      ] as const
    ) {
      assert.ok(
        Math.abs(theirs / ours - 1) < 1e-4,
        `${name}: GLOOME ${theirs} vs fitNullModel ${ours}`,
      );
    }
    assert.ok(Math.abs(uncorrectedFit.gain / gain - 1) > 1e-2, "the correction matters here");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
