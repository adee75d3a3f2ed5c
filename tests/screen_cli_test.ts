// `genecontent screen` as a user runs it: on a PAM simulated with missing cells (240 null
// families and 10 with a loss multiplier of 5), the JSON sorted by p with q-values equal to a
// direct Benjamini-Hochberg computation, the TSV equal to the JSON, each family's LRT equal to
// an independent evaluation of its column alone at the reported background and estimate, the
// effect families' estimates above the null ones', the calibration reproducible by seed,
// --calibration 0 and --effect gain, and bad options ending in one clear message.
import assert from "node:assert/strict";
import { main } from "../lib/cli/main.ts";
import { SCREEN_BOTH_COLUMNS, SCREEN_COLUMNS } from "../lib/cli/commands/screen.ts";
import { benjaminiHochberg } from "../lib/effects/fdr.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { parseModel } from "../lib/model/description.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { encodePamTsv } from "../lib/simulate/pam_tsv.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

/** Runs the command line in this process, capturing stdout and stderr (one run at a time). */
async function run(args: string[]) {
  let stdout = "";
  let stderr = "";
  const { log, error } = console;
  const write = Deno.stdout.write;
  console.log = (...xs: unknown[]) => void (stdout += xs.join(" ") + "\n");
  console.error = (...xs: unknown[]) => void (stderr += xs.map(String).join(" ") + "\n");
  Deno.stdout.write = (bytes: Uint8Array) => {
    stdout += new TextDecoder().decode(bytes);
    return Promise.resolve(bytes.length);
  };
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    console.log = log;
    console.error = error;
    Deno.stdout.write = write;
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

const N_NULL = 240, N_EFFECT = 10;
const tree = yuleTree(60, new Random(3), { height: 1 });
const model = parseModel("null");
const nullSim = simulateModel(tree, model, { gain: 2, loss: 0.5 }, {
  nFamilies: N_NULL,
  seed: 5,
  missing: 0.05,
});
const effectSim = simulateModel(tree, model, { gain: 2, loss: 2.5 }, {
  nFamilies: N_EFFECT,
  seed: 6,
  missing: 0.05,
});
const states = new Uint8Array((N_NULL + N_EFFECT) * tree.nTips);
states.set(nullSim.states);
states.set(effectSim.states, N_NULL * tree.nTips);
const dir = await Deno.makeTempDir();
const TREE = `${dir}/tree.nwk`, PAM = `${dir}/pam.tsv`;
await Deno.writeTextFile(TREE, formatNewick(tree) + "\n");
await Deno.writeFile(PAM, encodePamTsv(tree.tipNames, states, N_NULL + N_EFFECT));
const BASE = ["screen", "--tree", TREE, "--pam", PAM];

/** l(theta) of family f's column alone at the null model (gain, loss * exp(theta)). */
function familyLogLik(f: number, gain: number, loss: number, theta: number, channel: string) {
  const row = states.slice(f * tree.nTips, (f + 1) * tree.nTips);
  using lik = new ModelLikelihood(
    tree,
    compressPatterns(row, 1, tree.nTips, ["f"]),
    tsBackendFactory,
    model,
  );
  const m = Math.exp(theta);
  return lik.evaluate(
    channel === "loss" ? Float64Array.of(gain, loss * m) : Float64Array.of(gain * m, loss),
  ).logLik;
}

Deno.test("screen: JSON sorted by p, BH q-values, the TSV equal to the JSON, LRTs of single families", async () => {
  const out = `${dir}/screen.tsv`;
  const r = await run([...BASE, "--calibration", "600", "--seed", "4", "--out", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const json: Json = JSON.parse(r.stdout);
  const fams = json.families;
  assert.equal(fams.length, N_NULL + N_EFFECT);
  assert.equal(json.effect, "loss");
  assert.equal(json.calibration, 600);
  for (let i = 1; i < fams.length; i++) assert.ok(fams[i].p >= fams[i - 1].p);
  // q-values over the families in any order: BH of the p column.
  const q = benjaminiHochberg(fams.map((f: Json) => f.p));
  fams.forEach((f: Json, i: number) => assert.equal(f.q, q[i], f.family));
  for (const f of fams) {
    assert.ok(f.p <= f.pEmpirical && f.pEmpirical <= 1 && f.p > 0, f.family);
    assert.equal(f.multiplier, Math.exp(f.theta));
    assert.ok(f.thetaCI[0] <= f.theta && f.theta <= f.thetaCI[1], f.family);
  }
  // The TSV: the documented columns, every family, the JSON's numbers exactly.
  const rows = (await Deno.readTextFile(out)).trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(rows[0], [...SCREEN_COLUMNS]);
  assert.equal(rows.length, fams.length + 1);
  rows.slice(1).forEach((row, i) => {
    const f = fams[i];
    assert.deepEqual(row, [
      f.family,
      String(f.present),
      String(f.theta),
      String(f.thetaCI[0]),
      String(f.thetaCI[1]),
      String(f.lrt),
      String(f.p),
      String(f.pAsymptotic),
      String(f.q),
      f.prevalenceClass,
    ]);
  });
  const provenance = JSON.parse(await Deno.readTextFile(`${out}.provenance.json`));
  assert.equal(provenance.provenance.command, "screen");
  // LRTs of single families: their columns alone at the reported background and estimate
  // (theta-hat is accurate to ~1e-7, which moves l by l'' 1e-14: 1e-6 is the LRT's precision).
  const { gain, loss } = json.background.parameters;
  for (const name of ["fam001", "fam117", "fam245", fams[0].family]) {
    const f = fams.find((x: Json) => x.family === name);
    const index = Number(name.slice(3)) - 1;
    const lrt = 2 *
      (familyLogLik(index, gain, loss, f.theta, "loss") -
        familyLogLik(index, gain, loss, 0, "loss"));
    assert.ok(Math.abs(lrt - f.lrt) < 1e-6, `${name}: ${f.lrt} vs ${lrt}`);
  }
  // The families with a loss multiplier of 5 (fam241 .. fam250) against the null ones: on 60
  // genomes a single family's estimate has a standard error near 0.6, so the mean of 10 is
  // within 0.2 of log 5 = 1.61 and the mean of 240 null estimates within 0.05 of 0 (estimates
  // at the bound excluded): 0.8 apart is a floor a correct screen clears.
  const meanTheta = (pick: (n: number) => boolean) => {
    const t = fams.filter((f: Json) => pick(Number(f.family.slice(3))) && !f.atBound)
      .map((f: Json) => f.theta);
    return t.reduce((a: number, b: number) => a + b, 0) / t.length;
  };
  const effectMean = meanTheta((n) => n > N_NULL), nullMean = meanTheta((n) => n <= N_NULL);
  assert.ok(effectMean - nullMean > 0.8, `effect ${effectMean}, null ${nullMean}`);
  assert.equal(json.discoveries.q10, fams.filter((f: Json) => f.q < 0.1).length);
});

Deno.test("screen: the calibration is reproducible by seed; --calibration 0 gives the asymptotic p", async () => {
  const a = await run([...BASE, "--calibration", "200", "--seed", "8", "--json"]);
  const b = await run([...BASE, "--calibration", "200", "--seed", "8", "--json"]);
  const c = await run([...BASE, "--calibration", "200", "--seed", "9", "--json"]);
  const z = await run([...BASE, "--calibration", "0", "--json"]);
  for (const r of [a, b, c, z]) assert.equal(r.code, 0, r.stderr);
  const [ja, jb, jc, jz] = [a, b, c, z].map((r) => JSON.parse(r.stdout));
  assert.deepEqual(ja.families, jb.families);
  const byName = (j: Json) => new Map(j.families.map((f: Json) => [f.family, f]));
  const mc = byName(jc) as Map<string, Json>, mz = byName(jz) as Map<string, Json>;
  let differ = 0;
  for (const f of ja.families) {
    // The LRTs do not depend on the calibration.
    assert.equal(mc.get(f.family).lrt, f.lrt);
    assert.equal(mz.get(f.family).lrt, f.lrt);
    if (mc.get(f.family).p !== f.p) differ++;
  }
  assert.ok(differ > 0, "another seed gives other calibrated p-values");
  for (const f of jz.families) {
    assert.equal(f.p, f.pAsymptotic);
    assert.equal(f.pEmpirical, null);
    assert.equal(f.poolSize, 0);
  }
});

Deno.test("screen: --effect gain screens the gain rate", async () => {
  const r = await run([
    ...BASE,
    "--calibration",
    "0",
    "--effect",
    "gain",
    "--json",
    "--level",
    "0.9",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json: Json = JSON.parse(r.stdout);
  assert.equal(json.effect, "gain");
  assert.equal(json.level, 0.9);
  const { gain, loss } = json.background.parameters;
  const f = json.families.find((x: Json) => x.family === "fam010");
  const lrt = 2 *
    (familyLogLik(9, gain, loss, f.theta, "gain") - familyLogLik(9, gain, loss, 0, "gain"));
  // As above: the LRT's precision.
  assert.ok(Math.abs(lrt - f.lrt) < 1e-6, `${f.lrt} vs ${lrt}`);
});

Deno.test("screen: the text summary, and bad options end in one error line with status 2", async () => {
  const t = await run([...BASE, "--calibration", "0", "--top", "5"]);
  assert.equal(t.code, 0, t.stderr);
  const lines = t.stdout.trim().split("\n");
  assert.match(lines[0], /^# genecontent screen: loss multiplier per family against null/);
  assert.equal(lines.length, 2 + 1 + 5);
  for (
    const [extra, message] of [
      [["--effect", "neither"], /--effect must be one of loss, gain, both; got 'neither'/],
      [["--calibration", "1.5"], /--calibration must be a whole number >= 0; got '1.5'/],
      [["--seed", "-1"], /--seed/],
      [["--level", "1"], /--level must be/],
    ] as const
  ) {
    const r = await run([...BASE, ...extra]);
    assert.equal(r.code, 2, extra.join(" "));
    assert.match(r.stderr, /^genecontent: error: /);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "");
  }
});

Deno.test("screen: --effect both tests gain and loss jointly against chi2 with 2 df", async () => {
  // The first 40 families without their missing cells (every family its own missing-cell
  // pattern would make each call evaluate every pattern's window: slow for 2 df).
  const n = 40;
  const complete = states.slice(0, n * tree.nTips).map((x) => (x === 2 ? 0 : x));
  const pam = `${dir}/complete.tsv`;
  await Deno.writeFile(pam, encodePamTsv(tree.tipNames, complete, n));
  const out = `${dir}/both.tsv`;
  const r = await run([
    "screen",
    "--tree",
    TREE,
    "--pam",
    pam,
    "--calibration",
    "0",
    "--effect",
    "both",
    "--json",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json: Json = JSON.parse(r.stdout);
  assert.equal(json.effect, "both");
  assert.equal(json.df, 2);
  const { gain, loss } = json.background.parameters;
  for (const f of json.families.slice(0, 3)) {
    // chi2 with 2 df: P(X >= x) = exp(-x / 2), to the rounding of both.
    assert.ok(Math.abs(f.pAsymptotic - Math.exp(-f.lrt / 2)) < 1e-14, f.family);
    assert.equal(f.thetaCI, null);
    const index = Number(f.family.slice(3)) - 1;
    const row = complete.slice(index * tree.nTips, (index + 1) * tree.nTips);
    using lik = new ModelLikelihood(
      tree,
      compressPatterns(row, 1, tree.nTips, ["f"]),
      tsBackendFactory,
      model,
    );
    const at = (a: number, b: number) =>
      lik.evaluate(Float64Array.of(gain * Math.exp(a), loss * Math.exp(b))).logLik;
    // The estimates are accurate to ~1e-7, which moves l by ~1e-13: the LRT's precision 1e-6.
    const lrt = 2 * (at(f.thetaGain, f.thetaLoss) - at(0, 0));
    assert.ok(Math.abs(lrt - f.lrt) < 1e-6, `${f.family}: ${f.lrt} vs ${lrt}`);
  }
  const rows = (await Deno.readTextFile(out)).trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(rows[0], [...SCREEN_BOTH_COLUMNS]);
  assert.equal(rows[1][2], String(json.families[0].thetaGain));
});
