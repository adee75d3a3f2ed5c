/**
 * Peer check against IQ-TREE 2: on a fixed non-ultrametric tree with a multifurcation and a
 * simulated binary alignment (constant columns included), IQ-TREE's GTR2 with fixed frequencies
 * (pi0, pi1), fixed branch lengths b = t * 2 gain loss / (gain + loss) and no rate
 * heterogeneity must print the same log-likelihood as genecontent's uncorrected pruning
 * (TsBackend) at (gain, loss). IQ-TREE is installed (Debian package `iqtree`) if missing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { simulateFamilies } from "../lib/simulate/families.ts";
import { type FlatTree, flatTreeFromParents, totalLength } from "../lib/tree/flat_tree.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { loadKernel } from "../lib/likelihood/choose_backend.ts";
import { assertClose } from "./support/assert_close.ts";

import {
  ensureIqtree,
  runIqtreeFixedParams,
  runIqtreeFixedTreeFit,
  writeBinaryPhylip,
} from "./support/iqtree.ts";

const { kernel, reasons } = await loadKernel();
if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);

/** Removes internal node `v` (not the root), attaching its children to its parent. */
function collapseNode(tree: FlatTree, v: number): FlatTree {
  const n = tree.nNodes;
  const parent: number[] = [], length: number[] = [];
  const newIndex = (i: number) => (i > v ? i - 1 : i);
  for (let i = 0; i < n; i++) {
    if (i === v) continue;
    let p = tree.parent[i];
    let len = tree.branchLength[i];
    if (p === v) {
      p = tree.parent[v];
      len += tree.branchLength[v];
    }
    parent.push(p < 0 ? -1 : newIndex(p));
    length.push(len);
  }
  return flatTreeFromParents(tree.tipNames, parent, length);
}

/** The test tree: 48 tips, lengths jittered off ultrametric, one node collapsed. */
function peerTree(): FlatTree {
  const rng = new Random(4711);
  const base = yuleTree(48, rng, { height: 1 });
  const lengths = Float64Array.from(base.branchLength, (t) => t * (0.5 + rng.next()) + 0.01);
  const jittered = flatTreeFromParents(base.tipNames, base.parent, lengths);
  // Collapse the parent of tip g1 (an internal node, not the root: 48 tips) into its parent.
  const v = jittered.parent[0];
  assert.notEqual(v, jittered.nNodes - 1);
  return collapseNode(jittered, v);
}

function scaled(tree: FlatTree, factor: number): FlatTree {
  return flatTreeFromParents(
    tree.tipNames,
    tree.parent,
    Float64Array.from(tree.branchLength, (t) => t * factor),
  );
}

Deno.test("IQ-TREE GTR2 with fixed frequencies and lengths matches TsBackend", async () => {
  await ensureIqtree();
  const tree = peerTree();
  let multifurcating = false;
  for (let i = tree.nTips; i < tree.nNodes; i++) {
    if (tree.childStart[i + 1] - tree.childStart[i] > 2) multifurcating = true;
  }
  assert.ok(multifurcating, "the test tree has a multifurcation");
  const dir = await Deno.makeTempDir({ prefix: "gc_iqtree_peer_" });
  try {
    for (
      const [k, { gain, loss }] of [
        { gain: 0.5, loss: 2.0 }, // pi1 = 0.2
        { gain: 0.4, loss: 0.4 }, // pi1 = 0.5
        { gain: 0.7, loss: 0.3 }, // pi1 = 0.7
      ].entries()
    ) {
      const nFamilies = 1500;
      const states = simulateFamilies(tree, { gain, loss, nFamilies, rng: new Random(100 + k) });
      let constant = 0;
      for (let f = 0; f < nFamilies; f++) {
        const row = states.subarray(f * tree.nTips, (f + 1) * tree.nTips);
        if (row.every((x) => x === row[0])) constant++;
      }
      assert.ok(constant > 0, "the alignment includes constant columns");

      const pi1 = gain / (gain + loss);
      // IQ-TREE normalises GTR2 to one expected substitution per unit length: b = t 2 gain loss / s.
      const factor = 2 * gain * loss / (gain + loss);
      const treeFile = `${dir}/tree${k}.nwk`, alnFile = `${dir}/aln${k}.phy`;
      await Deno.writeTextFile(treeFile, formatNewick(scaled(tree, factor)) + "\n");
      await writeBinaryPhylip(alnFile, tree.tipNames, states, nFamilies);
      const iq = await runIqtreeFixedParams(treeFile, alnFile, pi1, `${dir}/run${k}`);
      // Nothing may be estimated: no rate heterogeneity, the frequencies we gave, and IQ-TREE
      // itself counts zero free parameters (branch lengths fixed).
      assert.match(iq.report, /Model of rate heterogeneity: Uniform/);
      assert.match(iq.report, /State frequencies: \(user-defined\)/);
      assert.match(iq.report, /Number of free parameters \(#branches \+ #model parameters\): 0\n/);

      const patterns = compressPatterns(states, nFamilies, tree.nTips, []);
      using backend = new TsBackend(tree, patterns.states, patterns.nPatterns);
      const perPattern = backend.evaluate(new Float64Array([gain, loss])).logLik;
      let ours = 0;
      for (let p = 0; p < patterns.nPatterns; p++) ours += patterns.weights[p] * perPattern[p];
      // The native kernel through the same interface: the same total to rounding.
      using native = new NativeBackend(kernel, tree, patterns.states, patterns.nPatterns);
      const nativePer = native.evaluate(new Float64Array([gain, loss])).logLik;
      let nativeTotal = 0;
      for (let p = 0; p < patterns.nPatterns; p++) {
        nativeTotal += patterns.weights[p] * nativePer[p];
      }
      assertClose(nativeTotal, ours, 1e-10, "native vs TypeScript total");

      // IQ-TREE prints the log-likelihood rounded to `decimals` places: agreement within half a
      // unit of the last printed digit, plus 1e-9 relative for IQ-TREE's own floating-point
      // evaluation (the totals are ~1e4, so this adds ~1e-5).
      const tol = 0.5 * 10 ** -iq.decimals + 1e-9 * Math.abs(ours);
      console.log(
        `pi1 ${pi1.toFixed(2)}: IQ-TREE ${iq.logLik} (${iq.decimals} decimals), ` +
          `TsBackend ${ours.toFixed(6)}, difference ${(iq.logLik - ours).toExponential(2)}`,
      );
      assert.ok(
        Math.abs(iq.logLik - ours) <= tol,
        `pi1 ${pi1}: IQ-TREE ${iq.logLik} vs TsBackend ${ours} (tolerance ${tol})`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runIqtreeFixedTreeFit: IQ-TREE's optimum, mapped back, has TsBackend's likelihood", async () => {
  const tree = peerTree();
  const gain = 0.8, loss = 1.6, nFamilies = 2000;
  const states = simulateFamilies(tree, { gain, loss, nFamilies, rng: new Random(77) });
  const dir = await Deno.makeTempDir({ prefix: "gc_iqtree_fit_test_" });
  try {
    // The tree goes in in genecontent's time units; IQ-TREE fits pi1 and one length scale c.
    await Deno.writeTextFile(`${dir}/t.nwk`, formatNewick(tree) + "\n");
    await writeBinaryPhylip(`${dir}/a.phy`, tree.tipNames, states, nFamilies);
    const fit = await runIqtreeFixedTreeFit(`${dir}/t.nwk`, `${dir}/a.phy`);
    assert.ok(fit.wallMs > 0);
    // Map back: c = 2 gain loss / s and pi1 = gain / s, so s = c / (2 pi1 pi0).
    const c = fit.treeLength / totalLength(tree);
    const s = c / (2 * fit.pi1 * (1 - fit.pi1));
    const gainHat = fit.pi1 * s, lossHat = (1 - fit.pi1) * s;
    const patterns = compressPatterns(states, nFamilies, tree.nTips, []);
    using backend = new TsBackend(tree, patterns.states, patterns.nPatterns);
    const logLikAt = (g: number, l: number) => {
      const per = backend.evaluate(new Float64Array([g, l])).logLik;
      let sum = 0;
      for (let p = 0; p < patterns.nPatterns; p++) sum += patterns.weights[p] * per[p];
      return sum;
    };
    const atFit = logLikAt(gainHat, lossHat);
    console.log(
      `IQ-TREE fit: gain ${gainHat.toFixed(4)}, loss ${lossHat.toFixed(4)} (truth ${gain}, ` +
        `${loss}); logLik IQ-TREE ${fit.logLik}, TsBackend there ${atFit.toFixed(4)}`,
    );
    // IQ-TREE prints 4 decimals (half a unit: 5e-5) and writes pi1 and the tree length with 10
    // significant digits; at an optimum that rounding changes the log-likelihood only to second
    // order (far below 1e-5), and float noise is ~1e-9 relative of ~3e4. Allow 1e-4.
    assert.ok(Math.abs(atFit - fit.logLik) < 1e-4, `TsBackend ${atFit} vs IQ-TREE ${fit.logLik}`);
    // It is a maximum: the truth cannot do better (IQ-TREE's optimiser converges to within its
    // default epsilon of 0.01 log-likelihood units).
    assert.ok(logLikAt(gain, loss) <= fit.logLik + 0.01, "the truth beats IQ-TREE's optimum");
    // And with 2,000 families the estimates are near the truth (a loose sanity bound: 30%).
    assert.ok(Math.abs(gainHat / gain - 1) < 0.3 && Math.abs(lossHat / loss - 1) < 0.3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
