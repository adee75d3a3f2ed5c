/**
 * Peer check against IQ-TREE 2: branch lengths optimised on a fixed topology. Without
 * ascertainment genecontent's null model with every branch length free is IQ-TREE's `GTR2+FO`
 * with branch lengths optimised (`-te TOPOLOGY`, no `-blfix`): the same likelihood family, with
 * IQ-TREE's lengths b = t 2 gain loss / (gain + loss) and frequencies (pi0, pi1) (see
 * /work/shared/notes/model.md). genecontent's maximum must be at least IQ-TREE's, and the two
 * optima must be the same tree in IQ-TREE's units. With gamma rate variation the same holds for
 * `GTR2+FO+G4`. IQ-TREE is installed (Debian package `iqtree`) if missing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fitBranchLengths } from "../lib/fit/branch_lengths.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { parseModel } from "../lib/model/description.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { type FlatTree, flatTreeFromParents, totalLength } from "../lib/tree/flat_tree.ts";
import { ensureIqtree, parseIqtreeLogLik, writeBinaryPhylip } from "./support/iqtree.ts";

const NO_ASCERTAINMENT = { minPresent: 0, maxPresent: null };

/** A 30-tip Yule tree with lengths jittered off ultrametric. */
function peerTree(): FlatTree {
  const rng = new Random(808);
  const base = yuleTree(30, rng, { height: 1 });
  const lengths = Float64Array.from(base.branchLength, (t) => t * (0.4 + rng.next()) + 0.01);
  return flatTreeFromParents(base.tipNames, base.parent, lengths);
}

/** IQ-TREE with branch lengths optimised on the topology; its log-likelihood and tree length. */
async function iqtreeOptimised(dir: string, model: string, name: string) {
  const binary = await ensureIqtree();
  const prefix = `${dir}/${name}`;
  const out = await new Deno.Command(binary, {
    args: [
      "-s",
      `${dir}/aln.phy`,
      "-st",
      "BIN",
      "-te",
      `${dir}/topology.nwk`,
      "-m",
      model,
      "-keep-ident",
      "-nt",
      "1",
      "-seed",
      "1",
      "--prefix",
      prefix,
      "-redo",
      "-quiet",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const report = await Deno.readTextFile(`${prefix}.iqtree`).catch(() => "");
  if (!out.success || report === "") {
    throw new Error(`IQ-TREE failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  const length = /Total tree length \(sum of branch lengths\):\s*([-+\d.eE]+)/.exec(report);
  if (!length) throw new Error("No total tree length in the IQ-TREE report.");
  return { ...parseIqtreeLogLik(report), treeLength: Number(length[1]), report };
}

for (
  const c of [
    { model: "null", iq: "GTR2+FO", values: [0.6, 1.4] },
    { model: "gamma4", iq: "GTR2+FO+G4", values: [0.6, 1.4, 0.7] },
  ]
) {
  Deno.test(`${c.model}: optimised branch lengths reach at least IQ-TREE's ${c.iq}`, async () => {
    const tree = peerTree();
    const nFamilies = 1500;
    const model = parseModel(c.model);
    const sim = simulateModel(tree, model, c.values, {
      nFamilies,
      seed: 31,
      ascertainment: NO_ASCERTAINMENT,
    });
    const dir = await Deno.makeTempDir({ prefix: "gc_iqtree_bl_" });
    try {
      // The topology goes in with the true lengths as IQ-TREE's starting point; genecontent
      // starts from them too (scaled: the fixed total length is the input's).
      await Deno.writeTextFile(`${dir}/topology.nwk`, formatNewick(tree) + "\n");
      await writeBinaryPhylip(`${dir}/aln.phy`, tree.tipNames, sim.states, nFamilies);
      const iq = await iqtreeOptimised(dir, c.iq, c.model);
      const names = Array.from({ length: nFamilies }, (_, f) => `f${f}`);
      const patterns = compressPatterns(sim.states, nFamilies, tree.nTips, names);
      const fit = fitBranchLengths(tree, patterns, tsBackendFactory, model, NO_ASCERTAINMENT);
      assert.ok(fit.converged, fit.reason);
      const [gain, loss] = fit.values;
      // In IQ-TREE's units (one expected substitution per unit length): b = t 2 gain loss / s.
      const ours = totalLength(fit.tree) * 2 * gain * loss / (gain + loss);
      console.log(
        `${c.model}: genecontent ${fit.logLik.toFixed(4)} (${fit.iterations} iterations), ` +
          `IQ-TREE ${c.iq} ${iq.logLik}; tree length ${ours.toFixed(5)} vs IQ-TREE ` +
          `${iq.treeLength}`,
      );
      // IQ-TREE prints 4 decimals (half a unit: 5e-5); its optimiser stops within its epsilon
      // (0.01 by default) of its optimum, so genecontent's converged maximum may be higher but
      // must not be lower than IQ-TREE's beyond the printed rounding and float noise (1e-9
      // relative of ~1e4).
      const slack = 0.5 * 10 ** -iq.decimals + 1e-9 * Math.abs(iq.logLik);
      assert.ok(
        fit.logLik >= iq.logLik - slack,
        `genecontent ${fit.logLik} vs IQ-TREE ${iq.logLik}`,
      );
      // Both are near one maximum, so their tree lengths in IQ-TREE's units agree; IQ-TREE
      // stops within 0.01 log-likelihood units and prints 5 decimals, which with ~60 lengths
      // leaves about 1% on the total.
      assert.ok(
        Math.abs(ours / iq.treeLength - 1) < 0.01,
        `tree length ${ours} vs IQ-TREE ${iq.treeLength}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
