import assert from "node:assert/strict";
import { expectedSpectrum, observedSpectrum } from "../lib/diagnostics/spectrum.ts";
import { chiSquareSurvival } from "../lib/fit/chi_square.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { parseModel } from "../lib/model/description.ts";
import { valuesFromNames } from "../lib/model/values.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { encodePamTsv } from "../lib/simulate/pam_tsv.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

const mainPath = new URL("../lib/cli/main.ts", import.meta.url).pathname;

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", mainPath, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

// A 12-genome tree and 1,500 families simulated under the null model, then 60 families found
// only in genome 4 (contamination); the clean PAM has the first 1,500 only.
const dir = await Deno.makeTempDir({ prefix: "gof_cli_" });
const tree = yuleTree(12, new Random(3), { height: 1 });
const treePath = `${dir}/tree.nwk`;
await Deno.writeTextFile(treePath, formatNewick(tree) + "\n");
const sim = simulateModel(tree, parseModel("null"), { gain: 0.3, loss: 1.2 }, {
  nFamilies: 1500,
  seed: 8,
});
const cleanPath = `${dir}/clean.tsv`;
await Deno.writeFile(cleanPath, encodePamTsv(tree.tipNames, sim.states, 1500));
const dirty = new Uint8Array(1560 * 12);
dirty.set(sim.states);
for (let f = 1500; f < 1560; f++) dirty[f * 12 + 4] = 1;
const dirtyPath = `${dir}/dirty.tsv`;
await Deno.writeFile(dirtyPath, encodePamTsv(tree.tipNames, dirty, 1560));

const jsonOf = (r: { code: number; stdout: string; stderr: string }) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

Deno.test("gof --json: spectrum equals the library's at the fitted values, df and p", async () => {
  const r = jsonOf(await run(["gof", "--tree", treePath, "--pam", cleanPath, "--json"]));
  assert.equal(r.model, "null");
  assert.equal(r.valuesFrom, "fitted");
  assert.equal(r.nFamilies, 1500);
  const s = r.spectrum;
  assert.deepEqual(s.k, Array.from({ length: 12 }, (_, i) => i + 1));
  // Recomputed in this process from the reported estimates on the TypeScript backend.
  const data = await loadDataset(treePath, cleanPath);
  using lik = new ModelLikelihood(data.tree, data.patterns, tsBackendFactory, parseModel("null"));
  const values = valuesFromNames(parseModel("null"), r.parameters);
  const want = expectedSpectrum(lik, values);
  const obs = observedSpectrum(data.patterns);
  s.k.forEach((k: number, i: number) => {
    assert.equal(s.observed[i], obs[k]);
    // Two backends' fits are not involved (same values); the spectrum is the same code on
    // either backend, so only rounding in the sums differs.
    assert.ok(Math.abs(s.expected[i] - want[k]) < 1e-9, `k ${k}`);
  });
  const total = s.expected.reduce((a: number, b: number) => a + b, 0);
  assert.ok(Math.abs(total - 1500) < 1e-9, `sum ${total}`);
  assert.equal(s.statisticName, "pearson");
  assert.equal(s.nFitted, 2);
  assert.equal(s.df, s.classes.length - 3);
  assert.ok(s.classes.every((c: { expected: number }) => c.expected >= 5));
  assert.ok(Math.abs(s.p - chiSquareSurvival(s.statistic, s.df)) < 1e-15);
  assert.equal(s.pApproximate, true);
  assert.equal(s.bootstrapP, null);
  // Data simulated under the model: no reason to reject at 1%.
  assert.ok(s.p > 0.01, `p ${s.p}`);
  assert.deepEqual(r.genomes.flagged, []);
  assert.equal(r.refit, null);
  assert.equal(r.genomes.table.length, 12);
  const p = r.prevalence;
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  assert.equal(sum(p.observed), 1500);
  assert.ok(Math.abs(sum(p.expected) - 1500) < 1e-9);
  assert.equal(p.byComponent, null);
  assert.equal(r.provenance.command, "gof");
});

Deno.test("gof flags the contaminated genome and refits without it", async () => {
  const r = jsonOf(await run(["gof", "--tree", treePath, "--pam", dirtyPath, "--json"]));
  const name = tree.tipNames[4];
  assert.deepEqual(r.genomes.flagged, [name]);
  // Rows follow the tip order of the tree as read from the Newick file.
  const g = r.genomes.table.find((row: { genome: string }) => row.genome === name);
  assert.equal(g.flag, "excess");
  assert.ok(g.singletons.observed >= 60);
  assert.ok(g.singletons.z > 4);
  assert.deepEqual(r.refit.dropped, [name]);
  assert.equal(r.refit.nGenomes, 11);
  assert.equal(r.refit.nFamiliesBefore, 1560);
  assert.equal(r.refit.parameters.map((p: { name: string }) => p.name).join(","), "gain,loss");
  // The extra families are in the spectrum's first bin.
  let singletons = 0;
  for (let f = 0; f < 1500; f++) {
    if (sim.states.subarray(f * 12, f * 12 + 12).reduce((a, b) => a + b, 0) === 1) singletons++;
  }
  assert.equal(r.spectrum.observed[0], singletons + 60);
  const text = await run(["gof", "--tree", treePath, "--pam", dirtyPath]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`Flagged genomes .*${name} \\(excess`));
  assert.match(text.stdout, /^genome\tunique\tupTo3\tflag$/m);
  assert.match(text.stdout, new RegExp(`^${name}\t\\d+ / [\\d.]+ \\([\\d.]+\\)\t.*\texcess$`, "m"));
  assert.match(text.stdout, /Refit without them \(\d+ of 1560 families\):\n {2}gain\t/);
});

Deno.test("gof --bootstrap is seeded; --from-fit uses a fit's estimates; TSV outputs", async () => {
  const fitPath = `${dir}/fit.json`;
  const fit = await run(["fit", "--tree", treePath, "--pam", cleanPath, "--no-ci", "--json"]);
  assert.equal(fit.code, 0, fit.stderr);
  await Deno.writeTextFile(fitPath, fit.stdout);
  const args = ["gof", "--tree", treePath, "--pam", cleanPath, "--from-fit", fitPath];
  const [a, b, c] = (await Promise.all([
    run([...args, "--bootstrap", "4", "--seed", "5", "--json"]),
    run([...args, "--bootstrap", "4", "--seed", "5", "--json"]),
    run([...args, "--bootstrap", "4", "--seed", "6", "--json"]),
  ])).map(jsonOf);
  assert.equal(a.valuesFrom, "fit file");
  assert.deepEqual(a.parameters.gain, JSON.parse(fit.stdout).parameters.gain.estimate);
  assert.deepEqual(a.spectrum.bootstrap.statistics, b.spectrum.bootstrap.statistics);
  assert.notDeepEqual(a.spectrum.bootstrap.statistics, c.spectrum.bootstrap.statistics);
  assert.equal(a.spectrum.bootstrap.statistics.length, 4);
  const above = a.spectrum.bootstrap.statistics.filter((s: number) => s >= a.spectrum.statistic);
  assert.equal(a.spectrum.bootstrapP, (1 + above.length) / 5);
  assert.equal(a.provenance.options.seed, 5);
  const out = `${dir}/spectrum.tsv`;
  const genomes = `${dir}/genomes.tsv`;
  const t = await run([...args, "--out", out, "--genomes-out", genomes]);
  assert.equal(t.code, 0, t.stderr);
  const rows = (await Deno.readTextFile(out)).trim().split("\n");
  assert.equal(rows[0], "k\tobserved\texpected\tclass");
  assert.equal(rows.length, 13);
  const g = (await Deno.readTextFile(genomes)).trim().split("\n");
  assert.match(g[0], /^genome\tobservedFamilies\tpresentFamilies\tsingletonsObserved\t/);
  assert.equal(g.length, 13);
  const side = JSON.parse(await Deno.readTextFile(`${out}.provenance.json`));
  assert.equal(side.provenance.command, "gof");
  // An existing output is replaced only with --force.
  const again = await run([...args, "--out", out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /--force/);
});

Deno.test("gof --model mixture2 reports prevalence classes per mixture class", async () => {
  const r = jsonOf(
    await run(["gof", "--tree", treePath, "--pam", cleanPath, "--model", "mixture2", "--json"]),
  );
  const by = r.prevalence.byComponent;
  for (const cls of ["core", "softCore", "shell", "cloud"]) {
    const sum = by[cls].class1 + by[cls].class2;
    // Posterior shares of each family sum to 1: the per-class totals are the observed counts.
    assert.ok(Math.abs(sum - r.prevalence.observed[cls]) < 1e-9, cls);
  }
  assert.equal(r.spectrum.nFitted, 5);
});

Deno.test("gof: bad input exits 2 with one error line", async () => {
  const base = ["gof", "--tree", treePath, "--pam", cleanPath];
  const notJson = `${dir}/not.json`;
  await Deno.writeTextFile(notJson, "fit: no");
  const compared = `${dir}/compare.json`;
  await Deno.writeTextFile(compared, JSON.stringify({ models: [] }));
  const cases: [string[], RegExp][] = [
    [[...base, "--seed", "3"], /--seed seeds the simulations of --bootstrap/],
    [[...base, "--bootstrap", "0"], /--bootstrap/],
    [[...base, "--bootstrap", "2.5"], /--bootstrap/],
    [[...base, "--model", "null", "--from-fit", notJson], /--from-fit gives the model/],
    [[...base, "--from-fit", `${dir}/missing.json`], /Cannot read --from-fit file/],
    [[...base, "--from-fit", notJson], /is not JSON/],
    [[...base, "--from-fit", compared], /compares several models/],
    [[...base, "--model", "gamma0"], /gamma needs from 2/],
    [["gof", "--tree", treePath], /--pam/],
  ];
  // Independent runs: started together.
  const results = await Promise.all(cases.map(([args]) => run(args)));
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i];
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^genecontent: error: /);
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "");
  }
});

Deno.test("gof passes completeness and the window to every computation", async () => {
  // Genome 2 is 80% complete; families present in at least 2 genomes only.
  const cPath = `${dir}/completeness.tsv`;
  await Deno.writeTextFile(
    cPath,
    tree.tipNames.map((n, i) => `${n}\t${i === 2 ? 0.8 : 1}`).join("\n") + "\n",
  );
  const twice = new Uint8Array(1500 * 12);
  let kept = 0;
  for (let f = 0; f < 1500; f++) {
    const row = sim.states.subarray(f * 12, f * 12 + 12);
    if (row.reduce((a, b) => a + b, 0) >= 2) twice.set(row, 12 * kept++);
  }
  const twicePath = `${dir}/twice.tsv`;
  await Deno.writeFile(twicePath, encodePamTsv(tree.tipNames, twice.subarray(0, 12 * kept), kept));
  const r = jsonOf(
    await run([
      "gof",
      "--tree",
      treePath,
      "--pam",
      twicePath,
      "--completeness",
      cPath,
      "--min-present",
      "2",
      "--json",
    ]),
  );
  assert.deepEqual(r.spectrum.k, Array.from({ length: 11 }, (_, i) => i + 2));
  const data = await loadDataset(treePath, twicePath);
  const completeness = Float64Array.from(
    data.tree.tipNames,
    (n) => (n === tree.tipNames[2] ? 0.8 : 1),
  );
  const model = parseModel("null");
  using lik = new ModelLikelihood(data.tree, data.patterns, tsBackendFactory, model, {
    minPresent: 2,
    maxPresent: null,
  }, { completeness });
  const want = expectedSpectrum(lik, valuesFromNames(model, r.parameters), { completeness });
  r.spectrum.k.forEach((k: number, i: number) => {
    // The same computation at the same values in this process: rounding only.
    assert.ok(Math.abs(r.spectrum.expected[i] - want[k]) < 1e-9, `k ${k}`);
  });
  // Without the completeness the expectation is another one (so the check above can fail).
  const plain = expectedSpectrum(lik, valuesFromNames(model, r.parameters), { completeness: null });
  assert.ok(
    r.spectrum.k.some((k: number, i: number) => Math.abs(r.spectrum.expected[i] - plain[k]) > 1e-3),
  );
  assert.ok(r.provenance.inputs.some((i: { role: string }) => i.role === "completeness"));
});
