/**
 * Tests of the simulators against analytic truth: marginal and joint tip distributions from the
 * matrix exponential of the rate matrix (computed here by scaling and squaring, independently of
 * the expm1 formula the simulator uses), tree shapes and heights from their known laws.
 *
 * Statistical bounds: every z-score bound is 4.5 standard errors (two-sided P ~ 7e-6 per check)
 * and every chi-square bound is at its 1e-4 upper quantile, so even the union of all checks here
 * fails by chance with probability < 1e-3; the seeds are fixed, so results are reproducible.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Random } from "../lib/simulate/random.ts";
import { caterpillarTree, coalescentTree, starTree, yuleTree } from "../lib/simulate/trees.ts";
import { simulateFamilies, simulateObservedPam } from "../lib/simulate/families.ts";
import { flatTreeFromParents, nodeDepths } from "../lib/tree/flat_tree.ts";
import { assertClose } from "./support/assert_close.ts";
import { GenecontentError } from "../lib/errors.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { simulateCommand, simulateTreeCommand } from "../lib/cli/commands/simulate.ts";

const Z = 4.5;
/** Chi-square upper 1e-4 quantile for 3 degrees of freedom. */
const CHI2_3DF_1E4 = 21.108;

/** exp(Q t) for Q = [[-gain, gain], [loss, -loss]] by scaling and squaring of a Taylor series. */
function expmRef(gain: number, loss: number, t: number): number[][] {
  let m = [[-gain * t, gain * t], [loss * t, -loss * t]];
  let k = 0;
  while (Math.max(Math.abs(m[0][0]), Math.abs(m[1][1])) > 0.01) {
    m = m.map((r) => r.map((x) => x / 2));
    k++;
  }
  const mul = (a: number[][], b: number[][]) =>
    [0, 1].map((i) => [0, 1].map((j) => a[i][0] * b[0][j] + a[i][1] * b[1][j]));
  let sum = [[1, 0], [0, 1]];
  let term = [[1, 0], [0, 1]];
  for (let n = 1; n <= 20; n++) {
    term = mul(term, m).map((r) => r.map((x) => x / n));
    sum = sum.map((r, i) => r.map((x, j) => x + term[i][j]));
  }
  for (let i = 0; i < k; i++) sum = mul(sum, sum);
  return sum;
}

function checkZ(count: number, n: number, p: number, what: string): void {
  const se = Math.sqrt(n * p * (1 - p));
  const z = (count - n * p) / se;
  assert.ok(Math.abs(z) < Z, `${what}: ${count} of ${n}, expected ${n * p} (z = ${z.toFixed(2)})`);
}

Deno.test("Random: uniform, integer, exponential and gamma moments match their laws", () => {
  const rng = new Random(2024);
  const n = 200000;
  let s = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    s += u;
    s2 += u * u;
  }
  // Mean of n uniforms: sd sqrt(1/12 / n).
  assert.ok(Math.abs(s / n - 0.5) < Z * Math.sqrt(1 / 12 / n), `uniform mean ${s / n}`);
  // Mean of u^2 is 1/3, var(u^2) = 1/5 - 1/9 = 4/45.
  assert.ok(Math.abs(s2 / n - 1 / 3) < Z * Math.sqrt(4 / 45 / n), `uniform E[u^2] ${s2 / n}`);

  const counts = new Array(7).fill(0);
  for (let i = 0; i < 70000; i++) counts[rng.int(7)]++;
  const chi2 = counts.reduce((a, c) => a + (c - 10000) ** 2 / 10000, 0);
  // 6 degrees of freedom: the 1e-4 upper quantile is 27.86.
  assert.ok(chi2 < 27.86, `int(7) chi-square ${chi2} for counts ${counts}`);

  let e = 0;
  for (let i = 0; i < n; i++) e += rng.exponential(4);
  // Exponential(4): mean 0.25, sd 0.25.
  assert.ok(Math.abs(e / n - 0.25) < Z * 0.25 / Math.sqrt(n), `exponential mean ${e / n}`);

  for (const shape of [0.3, 2.5]) {
    let g = 0, g2 = 0;
    const m = 100000;
    for (let i = 0; i < m; i++) {
      const x = rng.gamma(shape, 2);
      g += x;
      g2 += x * x;
    }
    // Gamma(shape, scale 2): mean 2 shape, variance 4 shape.
    const mean = g / m, variance = g2 / m - mean * mean;
    assert.ok(
      Math.abs(mean - 2 * shape) < Z * Math.sqrt(4 * shape / m),
      `gamma(${shape}) mean ${mean}`,
    );
    // The sample variance's standard error is sqrt((mu4 - sigma^4) / m) with mu4 = 16 * 3 shape
    // (shape + 2) for scale 2; checked loosely at 4.5 of them.
    const mu4 = 16 * 3 * shape * (shape + 2);
    const seVar = Math.sqrt((mu4 - (4 * shape) ** 2) / m);
    assert.ok(Math.abs(variance - 4 * shape) < Z * seVar, `gamma(${shape}) variance ${variance}`);
  }
});

Deno.test("Random: a seed fixes the stream, different seeds differ", () => {
  const a = new Random(99), b = new Random(99), c = new Random(100);
  const xa = Array.from({ length: 50 }, () => a.nextUint32());
  const xb = Array.from({ length: 50 }, () => b.nextUint32());
  const xc = Array.from({ length: 50 }, () => c.nextUint32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  assert.throws(() => new Random(0.5), RangeError);
});

Deno.test("yuleTree and coalescentTree: ultrametric binary trees with the right node count", () => {
  for (const make of [yuleTree, coalescentTree]) {
    for (const n of [1, 2, 3, 17, 500]) {
      const t = make(n, new Random(n), { height: 3.5 });
      assert.equal(t.nTips, n);
      assert.equal(t.nNodes, 2 * n - 1);
      assert.equal(t.parent[t.nNodes - 1], -1);
      for (let i = 0; i < t.nNodes - 1; i++) assert.ok(t.parent[i] > i, "post-order numbering");
      for (let i = t.nTips; i < t.nNodes; i++) {
        assert.equal(t.childStart[i + 1] - t.childStart[i], 2, "binary internal node");
      }
      assert.deepEqual(t.tipNames, Array.from({ length: n }, (_, i) => `g${i + 1}`));
      if (n > 1) {
        const d = nodeDepths(t);
        // Sums of up to ~n rescaled differences of times: rounding is a few ulps per term.
        for (let i = 0; i < n; i++) assertClose(d[i], 3.5, 1e-12, `${make.name} tip ${i} depth`);
        for (let i = 0; i < t.nNodes - 1; i++) assert.ok(t.branchLength[i] >= 0);
      }
    }
  }
});

Deno.test("yuleTree and coalescentTree: mean root height matches its law", () => {
  const reps = 3000, n = 20;
  // Yule (rate 2): the height is a sum of independent Exp(2k), k = 2..n.
  let yMean = 0, yVar = 0;
  for (let k = 2; k <= n; k++) {
    yMean += 1 / (2 * k);
    yVar += 1 / (2 * k) ** 2;
  }
  // Kingman coalescent: a sum of Exp(k(k-1)/2), k = 2..n.
  let cMean = 0, cVar = 0;
  for (let k = 2; k <= n; k++) {
    cMean += 2 / (k * (k - 1));
    cVar += (2 / (k * (k - 1))) ** 2;
  }
  const rng = new Random(7);
  let ys = 0, cs = 0;
  for (let r = 0; r < reps; r++) {
    ys += nodeDepths(yuleTree(n, rng, { birthRate: 2 }))[0];
    cs += nodeDepths(coalescentTree(n, rng))[0];
  }
  assert.ok(Math.abs(ys / reps - yMean) < Z * Math.sqrt(yVar / reps), `Yule height ${ys / reps}`);
  assert.ok(
    Math.abs(cs / reps - cMean) < Z * Math.sqrt(cVar / reps),
    `coalescent height ${cs / reps}`,
  );
});

Deno.test("caterpillarTree: ladder shape, and 5,000-tip simulation works without recursion", () => {
  const t = caterpillarTree(5000, 0.002);
  assert.equal(t.nNodes, 9999);
  const d = nodeDepths(t);
  // g1 and g2 hang below the deepest internal node: 4999 branches of 0.002.
  assertClose(d[0], 4999 * 0.002, 1e-12, "g1 depth");
  assertClose(d[4999], 0.002, 1e-12, "g5000 depth");
  const gain = 0.3, loss = 0.9;
  const n = 400;
  const states = simulateFamilies(t, { gain, loss, nFamilies: n, rng: new Random(5) });
  assert.equal(states.length, n * 5000);
  let present = 0;
  for (const x of states) {
    assert.ok(x === 0 || x === 1);
    present += x;
  }
  // Pooled over 2,000,000 correlated cells the presence share still estimates pi1 = 0.25; the
  // effective sample is at least the 400 independent families, so use their standard error.
  const share = present / states.length;
  assert.ok(Math.abs(share - 0.25) < Z * Math.sqrt(0.25 * 0.75 / n), `presence share ${share}`);
});

Deno.test("simulateFamilies: every tip is present with marginal probability pi1", () => {
  const rng = new Random(11);
  const tree = yuleTree(30, rng, { height: 0.8 });
  const gain = 0.6, loss = 1.4, pi1 = 0.3, n = 20000;
  const states = simulateFamilies(tree, {
    gain,
    loss,
    nFamilies: n,
    rng,
    rateCategories: [0.1, 1, 5],
    missingRate: 0.05,
  });
  for (let tip = 0; tip < tree.nTips; tip++) {
    let ones = 0, missing = 0;
    for (let f = 0; f < n; f++) {
      const x = states[f * tree.nTips + tip];
      if (x === 1) ones++;
      else if (x === 2) missing++;
    }
    // The stationary root prior makes every node's marginal pi1 whatever the rate multiplier;
    // a cell is independently missing at rate 0.05, so P(cell = 1) = 0.95 pi1. Families are
    // independent, so each count is binomial(n, p).
    checkZ(ones, n, 0.95 * pi1, `tip ${tip} presence`);
    checkZ(missing, n, 0.05, `tip ${tip} missing`);
  }
});

Deno.test("simulateFamilies: a cherry's joint tip distribution matches P(t) analytically", () => {
  const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.3, 1.1, 0]);
  const gain = 0.7, loss = 1.6, n = 200000;
  const s = gain + loss;
  const prior = [loss / s, gain / s];
  for (
    const mix of [
      { rateCategories: [1], categoryWeights: [1] },
      { rateCategories: [0.2, 3], categoryWeights: [0.3, 0.7] },
    ]
  ) {
    const expected = [0, 0, 0, 0];
    mix.rateCategories.forEach((r, c) => {
      const pa = expmRef(gain * r, loss * r, 0.3), pb = expmRef(gain * r, loss * r, 1.1);
      for (let x = 0; x < 2; x++) {
        for (let y = 0; y < 2; y++) {
          for (let root = 0; root < 2; root++) {
            expected[2 * x + y] += mix.categoryWeights[c] * prior[root] * pa[root][x] *
              pb[root][y];
          }
        }
      }
    });
    assertClose(expected.reduce((a, b) => a + b), 1, 1e-12, "reference sums to 1");
    const states = simulateFamilies(tree, { gain, loss, nFamilies: n, rng: new Random(3), ...mix });
    const counts = [0, 0, 0, 0];
    for (let f = 0; f < n; f++) counts[2 * states[2 * f] + states[2 * f + 1]]++;
    let chi2 = 0;
    for (let k = 0; k < 4; k++) {
      checkZ(counts[k], n, expected[k], `cell ${k} with categories ${mix.rateCategories}`);
      chi2 += (counts[k] - n * expected[k]) ** 2 / (n * expected[k]);
    }
    assert.ok(chi2 < CHI2_3DF_1E4, `chi-square ${chi2} (counts ${counts}, p ${expected})`);
  }
});

Deno.test("simulateObservedPam: drops never-present families at the all-absent probability", () => {
  const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
  const gain = 0.4, loss = 1.2, n = 50000;
  const pa = expmRef(gain, loss, 0.5);
  const prior = [0.75, 0.25];
  const pAbsent = prior[0] * pa[0][0] ** 2 + prior[1] * pa[1][0] ** 2;
  const r = simulateObservedPam(tree, { gain, loss, nFamilies: n, rng: new Random(8) });
  assert.equal(r.nFamilies, n);
  assert.equal(r.nSimulated, n + r.nDropped);
  for (let f = 0; f < n; f++) assert.ok(r.states[2 * f] + r.states[2 * f + 1] >= 1);
  // Each simulated family is dropped independently with probability pAbsent.
  checkZ(r.nDropped, r.nSimulated, pAbsent, "dropped families");
  assertClose(r.droppedShare, r.nDropped / r.nSimulated, 0);

  const two = simulateObservedPam(tree, {
    gain,
    loss,
    nFamilies: 1000,
    rng: new Random(8),
    minPresent: 2,
  });
  for (let f = 0; f < 1000; f++) assert.equal(two.states[2 * f] + two.states[2 * f + 1], 2);
  assert.throws(
    () =>
      simulateObservedPam(tree, {
        gain: 1e-9,
        loss: 10,
        nFamilies: 10,
        rng: new Random(1),
        maxSimulated: 1000,
      }),
    /present tips/,
  );
});

Deno.test("simulation is deterministic for a seed", () => {
  const run = (seed: number) => {
    const rng = new Random(seed);
    const tree = yuleTree(40, rng, { height: 1 });
    return [
      tree.branchLength,
      simulateFamilies(tree, { gain: 1, loss: 2, nFamilies: 300, rng, missingRate: 0.1 }),
    ];
  };
  assert.deepEqual(run(123), run(123));
  assert.notDeepEqual(run(123)[1], run(124)[1]);
});

Deno.test("starTree: every tip below the root at the given length", () => {
  const t = starTree(6, 0.25);
  assert.equal(t.nNodes, 7);
  assert.equal(t.childStart[7] - t.childStart[6], 6);
  for (let i = 0; i < 6; i++) assert.equal(t.branchLength[i], 0.25);
  assert.equal(starTree(1, 1).nNodes, 1);
});

/** Runs a command in-process, with its console output captured. */
async function runCli(
  command: (args: string[]) => Promise<number>,
  args: string[],
): Promise<{ status: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { status: await command(args), out: lines.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test("genecontent simulate-tree writes each shape as its --help says", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const help = (await runCli(simulateTreeCommand, ["--help"])).out;
    assert.match(help, /per unit branch length/);
    for (const shape of ["yule", "coalescent", "caterpillar", "star"]) {
      const out = `${dir}/${shape}.nwk`;
      const seed = shape === "yule" || shape === "coalescent" ? ["--seed", "5"] : [];
      const r = await runCli(simulateTreeCommand, [
        "--shape",
        shape,
        "--tips",
        "12",
        "--height",
        "2.5",
        "--prefix",
        "s",
        ...seed,
        "--out",
        out,
      ]);
      assert.equal(r.status, 0);
      const tree = parseNewick(await Deno.readTextFile(out), out);
      assert.equal(tree.nTips, 12);
      assert.deepEqual(
        [...tree.tipNames].sort(),
        Array.from({ length: 12 }, (_, i) => `s${i + 1}`).sort(),
      );
      const d = nodeDepths(tree);
      if (shape === "caterpillar") {
        // Every branch has height / (N - 1); the two deepest tips are at the height.
        for (let v = 0; v < tree.nNodes - 1; v++) {
          assertClose(tree.branchLength[v], 2.5 / 11, 1e-15, `caterpillar branch ${v}`);
        }
        assertClose(Math.max(...d.subarray(0, 12)), 2.5, 1e-12, "caterpillar height");
      } else {
        // Ultrametric at the requested height (rescaled sums of lengths: a few ulps).
        for (let i = 0; i < 12; i++) assertClose(d[i], 2.5, 1e-12, `${shape} tip ${i}`);
      }
      if (shape === "star") assert.equal(tree.nNodes, 13);
    }
    // The same seed gives the same tree.
    const again = `${dir}/again.nwk`;
    await runCli(simulateTreeCommand, [
      "--shape",
      "yule",
      "--tips",
      "12",
      "--height",
      "2.5",
      "--prefix",
      "s",
      "--seed",
      "5",
      "--out",
      again,
    ]);
    assert.equal(await Deno.readTextFile(again), await Deno.readTextFile(`${dir}/yule.nwk`));
    const bad: [string[], RegExp][] = [
      [
        ["--shape", "yule", "--tips", "5", "--out", `${dir}/x.nwk`],
        /--shape yule is random: give --seed/,
      ],
      [
        ["--shape", "star", "--tips", "5", "--seed", "1", "--out", `${dir}/x.nwk`],
        /--seed does not apply to --shape star/,
      ],
      [
        ["--shape", "bush", "--tips", "5", "--out", `${dir}/x.nwk`],
        /--shape must be one of yule, coalescent, caterpillar, star; got 'bush'/,
      ],
      [
        ["--shape", "star", "--tips", "1", "--out", `${dir}/x.nwk`],
        /--tips must be a whole number >= 2/,
      ],
      [
        ["--shape", "star", "--tips", "4", "--height", "0", "--out", `${dir}/x.nwk`],
        /--height must be a number > 0; got '0'/,
      ],
      [
        ["--shape", "star", "--tips", "4", "--out", `${dir}/star.nwk`],
        /already exists: pass --force/,
      ],
    ];
    for (const [args, message] of bad) {
      await assert.rejects(() => simulateTreeCommand(args), (e: Error) => {
        assert.ok(e instanceof GenecontentError, `${args.join(" ")}: ${e}`);
        assert.match(e.message, message);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("genecontent simulate writes pam.tsv and truth.json as its --help says", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const help = (await runCli(simulateCommand, ["--help"])).out;
    assert.match(help, /per unit branch length/);
    for (const file of ["pam.tsv", "truth.json", "provenance.json", "events.tsv"]) {
      assert.ok(help.includes(`DIR/${file}`), `--help describes ${file}`);
    }
    const treeFile = `${dir}/tree.nwk`;
    await Deno.writeTextFile(
      treeFile,
      "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);\n",
    );
    const completeness = `${dir}/completeness.tsv`;
    await Deno.writeTextFile(
      completeness,
      "genome\tcompleteness\ngenome_A\t0.9\ngenome B\t1\ngenome_C\t0.8\ngenome_D\t1\ngenome_E\t0.95\n",
    );
    const args = (out: string, seed: string) => [
      "--tree",
      treeFile,
      "--model",
      "mixture2+inv+error",
      "--gains",
      "0.3,2",
      "--losses",
      "2,0.4",
      "--weights",
      "0.6,0.4",
      "--pinv",
      "0.1",
      "--false-presence",
      "0.02",
      "--false-absence",
      "0.03",
      "--completeness",
      completeness,
      "--families",
      "3000",
      "--seed",
      seed,
      "--min-present",
      "1",
      "--max-present",
      "4",
      "--missing",
      "0.05",
      "--events",
      "--out",
      out,
    ];
    const r = await runCli(simulateCommand, args(`${dir}/a`, "11"));
    assert.equal(r.status, 0);
    assert.match(r.out, /3000 families x 5 genomes under mixture2\+inv\+error/);
    await runCli(simulateCommand, args(`${dir}/b`, "11"));
    await runCli(simulateCommand, args(`${dir}/c`, "12"));
    const read = (d: string, f: string) => Deno.readFile(`${dir}/${d}/${f}`);
    // Byte-identical output for the same seed; another seed differs.
    for (const f of ["pam.tsv", "truth.json", "events.tsv"]) {
      assert.deepEqual(await read("a", f), await read("b", f), `${f} of the same seed`);
    }
    assert.notDeepEqual(await read("a", "pam.tsv"), await read("c", "pam.tsv"));

    const pam = new TextDecoder().decode(await read("a", "pam.tsv")).trimEnd().split("\n");
    assert.equal(pam[0], "family\tgenome_A\tgenome B\tgenome_C\tgenome_D\tgenome_E");
    assert.equal(pam.length, 3001);
    let missing = 0;
    for (let f = 1; f <= 3000; f++) {
      const cells = pam[f].split("\t");
      assert.equal(cells[0], `fam${String(f).padStart(4, "0")}`);
      assert.equal(cells.length, 6);
      let present = 0;
      for (const c of cells.slice(1)) {
        assert.ok(c === "0" || c === "1" || c === "?", `cell '${c}'`);
        if (c === "1") present++;
        if (c === "?") missing++;
      }
      assert.ok(present >= 1 && present <= 4, `row ${f} is inside the window`);
    }
    // The loader reads it back, '?' as missing.
    const data = await loadDataset(treeFile, `${dir}/a/pam.tsv`);
    assert.equal(data.pam.families.length, 3000);

    const truth = JSON.parse(new TextDecoder().decode(await read("a", "truth.json")));
    assert.equal(truth.model, "mixture2+inv+error");
    assert.deepEqual(truth.parameters, {
      gain1: 0.3,
      loss1: 2,
      gain2: 2,
      loss2: 0.4,
      split1: 0.6,
      pInv: 0.1,
      falsePresence: 0.02,
      falseAbsence: 0.03,
    });
    assert.equal(truth.parameterUnits.gain1, "per unit branch length");
    assert.deepEqual(truth.ascertainment, { minPresent: 1, maxPresent: 4 });
    assert.equal(truth.seed, 11);
    assert.equal(truth.completeness["genome_C"], 0.8);
    assert.equal(truth.counts.families, 3000);
    assert.equal(truth.counts.missingCells, missing);
    assert.equal(truth.counts.simulated, 3000 + truth.counts.discarded);
    assert.equal(truth.counts.discarded, truth.counts.belowWindow + truth.counts.aboveWindow);
    assert.deepEqual(truth.components.map((c: { label: string }) => c.label), [
      "class 1",
      "class 2",
      "invariant",
    ]);
    // Class weights (1 - pInv) w_c and pInv (products of the given numbers: 1 ulp).
    assertClose(truth.components.map((c: { weight: number }) => c.weight), [
      0.9 * 0.6,
      0.9 * 0.4,
      0.1,
    ], 1e-15);
    assert.equal(truth.families.component.length, 3000);
    assert.equal(
      truth.components.reduce((a: number, c: { keptFamilies: number }) => a + c.keptFamilies, 0),
      3000,
    );
    // Per-branch totals = per-family totals = events.tsv.
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.equal(truth.branches.length, 7);
    assert.equal(sum(truth.branches.map((b: { gains: number }) => b.gains)), truth.totals.gains);
    assert.equal(sum(truth.families.gains), truth.totals.gains);
    assert.equal(sum(truth.families.losses), truth.totals.losses);
    assert.ok(truth.totals.gains > 0 && truth.totals.losses > 0);
    const events = new TextDecoder().decode(await read("a", "events.tsv")).trimEnd().split("\n");
    assert.equal(events[0], "family\tnode\tbranch\tgains\tlosses");
    const perBranch = new Map<number, number>();
    for (const line of events.slice(1)) {
      const [, node, branch, gains] = line.split("\t");
      perBranch.set(Number(node), (perBranch.get(Number(node)) ?? 0) + Number(gains));
      const b = truth.branches[Number(node)];
      assert.equal(branch, b.name ?? "NA");
    }
    for (const b of truth.branches) assert.equal(perBranch.get(b.node) ?? 0, b.gains);
    assert.equal(truth.branches.find((b: { name: string }) => b.name === "n1").length, 0.05);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("genecontent simulate refuses bad values with messages naming them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const treeFile = `${dir}/tree.nwk`;
    await Deno.writeTextFile(treeFile, "((a:0.1,b:0.2):0.1,c:0.3);\n");
    const base = ["--tree", treeFile, "--families", "10", "--seed", "1", "--out", `${dir}/o`];
    const cases: [string[], RegExp][] = [
      [["--gain=-1", "--loss", "1"], /--gain must be a number > 0; got '-1'/],
      [["--gain", "0.1"], /needs a value for loss/],
      [["--model", "gamma4", "--gain", "0.1", "--loss", "1"], /needs a value for alpha/],
      [["--gain", "0.1", "--loss", "1", "--alpha", "2"], /--alpha does not apply to model null/],
      [["--model", "mixture2", "--gain", "0.1"], /--gain does not apply to a mixture/],
      [
        ["--model", "mixture2", "--gains", "1,2", "--losses", "1,1", "--weights", "0.5,0.6"],
        /sum to 1/,
      ],
      [["--model", "gamma0", "--gain", "1", "--loss", "1"], /gamma needs from 2 to 64 categories/],
      [
        ["--gain", "0.1", "--loss", "1", "--missing", "1"],
        /--missing must be a probability below 1/,
      ],
      [
        ["--gain", "0.1", "--loss", "1", "--min-present", "3", "--max-present", "2"],
        /--max-present 2 is below --min-present 3/,
      ],
      [
        ["--gain", "0.1", "--loss", "1", "--min-present", "4"],
        /--min-present must be a whole number >= 0 <= 3/,
      ],
      [
        ["--gain", "0.1", "--loss", "1", "--families", "0"],
        /--families must be a whole number >= 1/,
      ],
      [["--model", "null"], /needs the values of every parameter of model null: gain, loss/],
    ];
    for (const [extra, message] of cases) {
      const args = [...base, ...extra];
      // An option may be given once only: a case that sets --families drops the base value.
      if (extra.includes("--families")) args.splice(2, 2);
      await assert.rejects(() => simulateCommand(args), (e: Error) => {
        assert.ok(e instanceof GenecontentError, `${extra.join(" ")}: ${e}`);
        assert.match(e.message, message, extra.join(" "));
        return true;
      });
    }
    const c = `${dir}/c.tsv`;
    await Deno.writeTextFile(c, "a\t0.9\nb\t1\nc\t1\nzz\t1\n");
    await assert.rejects(
      () => simulateCommand([...base, "--gain", "1", "--loss", "1", "--completeness", c]),
      /names 1 genome not in the tree and PAM: zz/,
    );
    // An existing output is replaced only with --force.
    assert.equal(
      (await runCli(simulateCommand, [...base, "--gain", "1", "--loss", "1"])).status,
      0,
    );
    await assert.rejects(
      () => simulateCommand([...base, "--gain", "1", "--loss", "1"]),
      /already exists: pass --force/,
    );
    assert.equal(
      (await runCli(simulateCommand, [...base, "--gain", "1", "--loss", "1", "--force"])).status,
      0,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
