import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { bruteAncestral, vanLoanIntegral } from "./support/brute_force_ancestral.ts";
import { allColumns } from "./support/per_branch.ts";
import { randomStates, randomTopology } from "./support/random_topology.ts";
import { smallTrees } from "./support/small_trees.ts";
import {
  branchCoefficients,
  branchEvents,
  branchLengthDerivative,
  endpointIntegral,
} from "../lib/ancestral/events.ts";
import { idNewick, nodeIds } from "../lib/ancestral/node_ids.ts";
import { TsBackend } from "../lib/likelihood/ts_backend.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { Random } from "../lib/simulate/random.ts";
import { bruteModelAncestral } from "./support/brute_force_ancestral.ts";
import { bruteComponents, bruteError } from "./support/brute_force_models.ts";
import { reconstructAncestral } from "../lib/ancestral/reconstruct.ts";
import { chooseBackend, tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import type { BackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import type { Ascertainment } from "../lib/model/description.ts";
import { parseModel } from "../lib/model/description.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";

Deno.test("events: J equals Van Loan's block-matrix exponential", () => {
  const cases: [number, number, number][] = [
    [0.5, 1, 0.3],
    [2, 0.3, 1.7],
    [0.05, 0.2, 0.01],
    [0.7, 6, 2.5],
    [1e-3, 1e-3, 1e-4],
    [3, 3, 4],
    [0.4, 0.9, 0],
  ];
  for (const [gain, loss, t] of cases) {
    for (const [i, j] of [[0, 1], [1, 0], [0, 0], [1, 1]] as const) {
      const closed = endpointIntegral(gain, loss, t, i, j);
      const vl = vanLoanIntegral(gain, loss, t, i, j);
      // Both are integrals of magnitude <= t; the Padé approximant with scaling and squaring is
      // accurate to ~1e-15 relative to the norm of the 4x4 block, the closed form to a few ulps.
      for (let k = 0; k < 4; k++) {
        const tol = 1e-12 * Math.max(t, 1e-300);
        assert.ok(
          Math.abs(closed[k] - vl[k]) <= tol,
          `gain ${gain} loss ${loss} t ${t} J${i}${j}[${k}]: ${closed[k]} vs ${vl[k]}`,
        );
      }
    }
  }
});

Deno.test("events: expected events equal enumeration with Van Loan's conditional means", () => {
  const rng = new Random(21);
  for (const { name, tree } of smallTrees()) {
    const cols = tree.nTips <= 5 ? allColumns(tree.nTips) : {
      states: randomStates(200, tree.nTips, rng),
      nPatterns: 200,
    };
    const { states, nPatterns } = cols;
    using backend = new TsBackend(tree, states, nPatterns);
    const gain = 0.6, loss = 1.3;
    const res = backend.expectations(Float64Array.of(gain, loss), { perPattern: true });
    const { nNodes, nTips, parent } = tree;
    const coef = Array.from(
      { length: nNodes - 1 },
      (_, v) => branchCoefficients(gain, loss, tree.branchLength[v]),
    );
    const vl01 = coef.map((_, v) => vanLoanIntegral(gain, loss, tree.branchLength[v], 0, 1));
    const vl10 = coef.map((_, v) => vanLoanIntegral(gain, loss, tree.branchLength[v], 1, 0));
    const rates = new Float64Array(2 * nNodes).map((_, i) => (i % 2 === 0 ? gain : loss));
    for (let p = 0; p < nPatterns; p++) {
      const col = states.subarray(p * nTips, (p + 1) * nTips);
      const brute = bruteAncestral(tree, col, rates);
      for (let v = 0; v < nNodes - 1; v++) {
        const o = (p * nNodes + v) * 4;
        const e = branchEvents(res.perPattern!, o, coef[v]);
        // Independent: sum_ab P(a, b | col) q J_VanLoan / P_ab, from enumeration.
        let g = 0, l = 0;
        for (let ab = 0; ab < 4; ab++) {
          const P = coef[v].transition[ab];
          if (P === 0) continue;
          g += brute.joint[v * 4 + ab] * gain * vl01[v][ab] / P;
          l += brute.joint[v * 4 + ab] * loss * vl10[v][ab] / P;
        }
        // Expected counts are O(1); 1e-12 covers enumeration sums and the Padé approximant.
        assertClose(e.gains, g, 1e-12, `${name} pattern ${p} node ${v} gains`);
        assertClose(e.losses, l, 1e-12, `${name} pattern ${p} node ${v} losses`);
        assertClose(e.childPresent, brute.present[v], 1e-12, `${name} child presence`);
        assertClose(e.parentPresent, brute.present[parent[v]], 1e-12, `${name} parent presence`);
        // Gains minus losses is the change in presence along the branch (an identity of the
        // chain: E[N01 - N10 | a, b] = b - a), to rounding.
        assertClose(
          e.gains - e.losses,
          brute.present[v] - brute.present[parent[v]],
          1e-12,
          `${name} pattern ${p} node ${v} net`,
        );
      }
    }
  }
});

Deno.test("events: d logL / d t equals a central difference of the likelihood", () => {
  const rng = new Random(22);
  const tree = randomTopology(8, rng);
  const nPatterns = 40;
  const states = randomStates(nPatterns, tree.nTips, rng);
  const gain = 0.4, loss = 0.9;
  using backend = new TsBackend(tree, states, nPatterns);
  const res = backend.expectations(Float64Array.of(gain, loss));
  const logLikAt = (v: number, t: number) => {
    const len = Float64Array.from(tree.branchLength);
    len[v] = t;
    const moved = flatTreeFromParents(tree.tipNames, tree.parent, len, tree.internalLabels);
    using b = new TsBackend(moved, states, nPatterns);
    return b.evaluate(Float64Array.of(gain, loss)).logLik.reduce((a, x) => a + x, 0);
  };
  for (let v = 0; v < tree.nNodes - 1; v++) {
    const t = tree.branchLength[v];
    const d = branchLengthDerivative(res.branch, v * 4, gain, loss, t);
    const h = 1e-5;
    if (t < h) continue; // a zero-length branch: only the one-sided derivative exists
    const fd = (logLikAt(v, t + h) - logLikAt(v, t - h)) / (2 * h);
    // Central difference: truncation h^2 |f'''| ~ 1e-10 times the scale, rounding
    // 1e-16 |logL| / h ~ 1e-9 for |logL| ~ 100.
    assertClose(d, fd, 1e-6, `node ${v} (t = ${t})`);
  }
});

Deno.test("node ids: labels when unique and not numbers, node<i> otherwise", () => {
  const tree = parseNewick(
    "((a:1,b:1)n1:1,(c:1,node6:1)0.95:1,(e:1,f:1)n1:1,(g:1,h:1)a:1,(i:1,j:1)inner:0.5)95;",
    "t.nwk",
  );
  // Tips 0..9, then (a,b) 10, (c,node6) 11, (e,f) 12, (g,h) 13, (i,j) 14, root 15.
  assert.deepEqual(nodeIds(tree), [
    "a",
    "b",
    "c",
    "node6",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "node10", // n1 is used twice
    "node11", // a support value
    "node12",
    "node13", // repeats tip name a
    "inner",
    "node15", // 95 on the root
  ]);
  // A generated id that a label already uses gets a suffix.
  const clash = parseNewick("((a:1,b:1)node4:1,(c:1,d:1):1);", "t.nwk");
  assert.deepEqual(nodeIds(clash).slice(4), ["node4", "node5", "node6"]);
  const clash2 = parseNewick("((a:1,b:1):1,(c:1,d:1)node4:1);", "t.nwk");
  assert.deepEqual(nodeIds(clash2).slice(4), ["node4_2", "node4", "node6"]);
  // The Newick of ids reads back with the ids as labels and the same lengths.
  const back = parseNewick(idNewick(tree), "ids.nwk");
  assert.deepEqual(nodeIds(back), nodeIds(tree));
  assert.deepEqual(back.branchLength, tree.branchLength);
});

/** Model cases: name, values, completeness, window. */
const MODEL_CASES: {
  model: string;
  values: number[];
  completeness?: number[];
  window?: Ascertainment;
}[] = [
  { model: "null", values: [0.5, 1.2] },
  { model: "gamma4", values: [0.6, 1.1, 0.4] },
  { model: "mixture3", values: [0.05, 0.1, 0.8, 1.5, 3, 0.7, 0.3, 0.6] },
  { model: "null+inv", values: [0.5, 1.2, 0.2] },
  { model: "gamma3+inv", values: [0.4, 0.9, 0.8, 0.15], window: { minPresent: 1, maxPresent: 5 } },
  { model: "null+error", values: [0.5, 1.2, 0.05, 0.1] },
  { model: "mixture2+inv+error", values: [0.1, 0.3, 1.5, 2, 0.6, 0.2, 0.03, 0.08] },
  { model: "null", values: [0.5, 1.2], completeness: [1, 0.8, 1, 0.6, 0.9] },
  {
    model: "gamma2+error",
    values: [0.7, 1, 0.5, 0.02, 0.05],
    completeness: [0.95, 1, 0.7, 1, 0.85],
    window: { minPresent: 2, maxPresent: null },
  },
];

/** `(((t0,t1),t2),(t3,t4))` with distinct lengths and a unary node above t4. */
function fiveTips() {
  // tips 0..4; 5 = (t0, t1); 6 = (5, t2); 7 = (t4) unary; 8 = (t3, 7); 9 = root (6, 8)
  return flatTreeFromParents(
    ["t0", "t1", "t2", "t3", "t4"],
    [5, 5, 6, 8, 7, 6, 9, 8, 9, -1],
    [0.2, 0.35, 0.5, 0.15, 0.1, 0.25, 0.3, 0.2, 0.4, 0],
  );
}

/** A PAM of `n` families on `nTips` tips: random rows (some repeated, some missing cells). */
function randomPam(nTips: number, n: number, rng: Random, window: Ascertainment) {
  const rows: number[][] = [];
  while (rows.length < n) {
    if (rows.length > 0 && rng.next() < 0.25) {
      rows.push([...rows[Math.floor(rng.next() * rows.length)]]);
      continue;
    }
    const row = Array.from({ length: nTips }, () => {
      const u = rng.next();
      return u < 0.1 ? 2 : u < 0.55 ? 1 : 0;
    });
    if (rows.length === 0) row.fill(1); // an all-present family (+inv needs one)
    const present = row.filter((x) => x === 1).length;
    if (
      present < window.minPresent || (window.maxPresent !== null && present > window.maxPresent)
    ) {
      continue;
    }
    rows.push(row);
  }
  const names = rows.map((_, f) => `fam${f}`);
  return { rows, patterns: compressPatterns(Uint8Array.from(rows.flat()), n, nTips, names) };
}

async function nativeFactory(): Promise<BackendFactory | null> {
  try {
    const f = await chooseBackend("native");
    return f;
  } catch {
    return null;
  }
}

Deno.test("reconstructAncestral equals enumeration under every model kind", async () => {
  const tree = fiveTips();
  const native = await nativeFactory();
  for (const [ci, c] of MODEL_CASES.entries()) {
    const rng = new Random(100 + ci);
    const model = parseModel(c.model);
    const window = c.window ?? { minPresent: 1, maxPresent: null };
    const { rows, patterns } = randomPam(tree.nTips, 40, rng, window);
    const values = Float64Array.from(c.values);
    const completeness = c.completeness ? Float64Array.from(c.completeness) : null;
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model, window, {
      completeness,
    });
    const familySet = ["fam3", "fam0", "fam17", "fam30"];
    const rec = reconstructAncestral(lik, values, { completeness, familySet, chunkPatterns: 3 });
    const comps = bruteComponents(model, values);
    const err = bruteError(model, values, tree.nTips, c.completeness ?? null);
    const brute = rows.map((row) => bruteModelAncestral(tree, row, comps, err));
    const label = c.model + (c.completeness ? " with completeness" : "");
    // Per family, in a shuffled order, computed in chunks of 3 patterns.
    const order = patterns.familyNames.map((n) => n).sort(() => rng.next() - 0.5);
    let i = 0;
    for (const row of rec.families(order)) {
      const f = Number(row.family.slice(3));
      assert.equal(row.family, order[i++]);
      // Enumeration over <= 2^10 states per component with a handful of factors each:
      // agreement to 1e-12 (absolute for values below 1).
      assertClose(row.pPresent, brute[f].present, 1e-12, `${label} ${row.family} present`);
      assertClose(row.gains.subarray(0, 9), brute[f].gains.subarray(0, 9), 1e-12, `${label} gains`);
      assertClose(
        row.losses.subarray(0, 9),
        brute[f].losses.subarray(0, 9),
        1e-12,
        `${label} losses`,
      );
    }
    assert.equal(i, order.length);
    // Sums over families, the family set, genomes and turnover.
    const sum = (fs: number[], key: "present" | "gains" | "losses") =>
      Float64Array.from(
        { length: tree.nNodes },
        (_, v) => fs.reduce((a, f) => a + brute[f][key][v], 0),
      );
    const all = rows.map((_, f) => f);
    // 40 families of values <= ~3: sums agree to 1e-12 relative to max(1, |sum|).
    assertClose(rec.totals.present, sum(all, "present"), 1e-12, `${label} total present`);
    assertClose(rec.totals.gains, sum(all, "gains"), 1e-12, `${label} total gains`);
    assertClose(rec.totals.losses, sum(all, "losses"), 1e-12, `${label} total losses`);
    const set = familySet.map((n) => Number(n.slice(3)));
    assertClose(rec.familySet!.sums.gains, sum(set, "gains"), 1e-12, `${label} set gains`);
    assertClose(rec.familySet!.sums.losses, sum(set, "losses"), 1e-12, `${label} set losses`);
    assertClose(rec.familySet!.sums.present, sum(set, "present"), 1e-12, `${label} set present`);
    const total = sum(all, "gains");
    // t0's path: t0 (0), node 5, node 6; t4's path: t4 (4), unary 7, node 8.
    assertClose(rec.genomes.gains[0], total[0] + total[5] + total[6], 1e-12, `${label} genome t0`);
    assertClose(rec.genomes.gains[4], total[4] + total[7] + total[8], 1e-12, `${label} genome t4`);
    const turnover = rec.turnover();
    assertClose(
      turnover.gains,
      brute.map((b) => b.gains.reduce((a, x) => a + x, 0)),
      1e-12,
      `${label} turnover gains`,
    );
    assertClose(
      turnover.losses,
      brute.map((b) => b.losses.reduce((a, x) => a + x, 0)),
      1e-12,
      `${label} turnover losses`,
    );
    // The native backend gives the same numbers (its expectations, or the TypeScript fallback).
    if (native) {
      using nlik = new ModelLikelihood(tree, patterns, native, model, window, { completeness });
      const nrec = reconstructAncestral(nlik, values, { completeness, familySet });
      // Different pruning arithmetic (rescaling, summation order): 1e-12.
      assertClose(nrec.totals.gains, rec.totals.gains, 1e-12, `${label} native gains`);
      assertClose(nrec.totals.losses, rec.totals.losses, 1e-12, `${label} native losses`);
      assertClose(nrec.totals.present, rec.totals.present, 1e-12, `${label} native present`);
      const [nf] = nrec.families(["fam5"]);
      const [tf] = rec.families(["fam5"]);
      assertClose(nf.pPresent, tf.pPresent, 1e-12, `${label} native family`);
    }
  }
});

Deno.test("reconstructAncestral refuses unknown families and a completeness mismatch", () => {
  const tree = fiveTips();
  const rng = new Random(7);
  const { patterns } = randomPam(5, 20, rng, { minPresent: 1, maxPresent: null });
  const completeness = Float64Array.of(1, 0.8, 1, 0.6, 0.9);
  using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("null"), undefined, {
    completeness,
  });
  const values = Float64Array.of(0.5, 1);
  assert.throws(
    () => reconstructAncestral(lik, values, { completeness, familySet: ["fam1", "nope"] }),
    /family set names 1 family not in the PAM: 'nope'/,
  );
  const rec = reconstructAncestral(lik, values, { completeness });
  assert.throws(() => [...rec.families(["fam2", "fam2"])], /names family 'fam2' twice/);
  // Without the completeness the backend's tree (with pendants) does not match.
  assert.throws(() => reconstructAncestral(lik, values), /completeness the likelihood was opened/);
  // Another completeness: the expectations no longer reproduce the likelihood.
  assert.throws(
    () => reconstructAncestral(lik, values, { completeness: Float64Array.of(1, 0.5, 1, 0.6, 0.9) }),
    /does not reproduce the likelihood/,
  );
});
