// Family-set and lineage effects: known-truth recovery on simulated pangenomes (a set's loss
// x3, a clade's loss x3), the alternative's maximum against two separate fits it must equal, the
// one-sided references, the bootstrap's simulations, and the retention and lineage commands'
// outputs and refusals (exit status 2, one message naming the item).
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { main } from "../lib/cli/main.ts";
import { branchClasses, cladeDesign, classDesigns } from "../lib/effects/branches.ts";
import { parseMetadataTable } from "../lib/effects/inputs.ts";
import {
  contrast,
  lrtPValue,
  testEffectParts,
  testEffects,
} from "../lib/effects/likelihood_ratio.ts";
import { fitModelLikelihood } from "../lib/fit/fit_model.ts";
import { chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { parseModel } from "../lib/model/description.ts";
import type { Effect, FamilyGroups } from "../lib/model/effects.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { simulateLikeData } from "../lib/simulate/like_data.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

const factory = await chooseBackend("native", { threads: 0 });
const tree = yuleTree(200, new Random(1), { height: 1 });
const nFamilies = 3000;
const names = Array.from({ length: nFamilies }, (_, f) => `f${f}`);
/** Every tenth family is in the set: 300 of 3,000. */
const groups: FamilyGroups = {
  sets: ["pathway"],
  ofFamily: Int32Array.from({ length: nFamilies }, (_, f) => (f % 10 === 0 ? 0 : -1)),
};
const setLoss: Effect = {
  name: "theta",
  description: "loss of the pathway",
  channel: "loss",
  sets: [0],
  design: null,
};
const gamma4 = parseModel("gamma4");
const truth = { gain: 0.3, loss: 1, alpha: 1 };

function simulated(seed: number, effects: readonly Effect[], g: FamilyGroups | null) {
  const sim = simulateModel(tree, gamma4, truth, {
    nFamilies,
    seed,
    effects: { effects, groups: g },
    effectValues: effects.map(() => Math.log(3)),
  });
  return compressPatterns(sim.states, nFamilies, tree.nTips, names);
}

Deno.test("a set's loss x3 on 300 of 3,000 families is recovered, truth inside the interval", async () => {
  const patterns = simulated(2, [setLoss], groups);
  const r = await testEffects({ tree, patterns, factory }, gamma4, {
    effects: [setLoss],
    groups,
  });
  const [e] = r.effects;
  assert.ok(r.altFit.converged && r.nullFit.converged);
  assert.ok(e.interval![0] < Math.log(3) && Math.log(3) < e.interval![1], `${e.interval}`);
  // 300 families give an interval of about +-0.06 around the estimate: far from 0.
  assert.ok(e.interval![1] - e.interval![0] < 0.3, `${e.interval}`);
  assert.ok(r.p < 1e-20 && r.reference === "chi2(1)" && r.df === 1);
  assertClose(r.lrt, 2 * (r.altFit.logLik - r.nullFit.logLik), 1e-15);
  assertClose(e.multiplier, Math.exp(e.estimate), 1e-15);
  // The background rates are recovered too (3,000 families: within 15%).
  assert.ok(Math.abs(r.altFit.byName.loss.estimate / truth.loss - 1) < 0.15);
  assertClose(r.aic.alt, 2 * 4 - 2 * r.altFit.logLik, 1e-12);
  assertClose(r.bic.null, 3 * Math.log(nFamilies) - 2 * r.nullFit.logLik, 1e-12);
});

Deno.test("a clade's loss x3 on every family is recovered, truth inside the interval", async () => {
  const clade = cladeDesign(tree, { node: `node${tree.nNodes - 3}` }, true);
  assert.ok(clade.tips.length >= 20 && clade.tips.length <= 180, `${clade.tips.length} tips`);
  const lineage: Effect = {
    name: "lineage",
    description: "loss on the clade",
    channel: "loss",
    sets: null,
    design: clade.design,
  };
  const patterns = simulated(3, [lineage], null);
  const r = await testEffects({ tree, patterns, factory }, gamma4, {
    effects: [lineage],
    groups: null,
  }, { alternative: "greater" });
  const [e] = r.effects;
  assert.ok(e.interval![0] < Math.log(3) && Math.log(3) < e.interval![1], `${e.interval}`);
  assert.equal(r.reference, "chibar2(0,1)");
  assert.ok(r.p < 1e-20);
});

Deno.test("a set x branch-class contrast (set's loss x3 on host branches only) is recovered", async () => {
  // Host genomes: the tips of one clade; the internal nodes' classes are reconstructed.
  const clade = cladeDesign(tree, { node: `node${tree.nNodes - 3}` }, true);
  const inClade = new Set(clade.tips);
  const table = parseMetadataTable(
    "genome\thost\n" +
      tree.tipNames.map((t) => `${t}\t${inClade.has(t) ? "host" : "free"}`).join("\n"),
    "meta.tsv",
    "host",
  );
  const classes = branchClasses(tree, table);
  const [host] = classDesigns(tree, classes, "free");
  // The reconstruction puts the clade's crown in the host class (its stem's class is a tie-break).
  for (const b of clade.branches) if (b !== clade.mrca) assert.equal(host.design[b], 1);
  const tested = contrast(groups, "pathway", "loss", host);
  const main: Effect = { ...setLoss, name: "theta" };
  const lineage: Effect = { ...tested, name: "lineage", sets: null };
  const null_ = parseModel("null");
  const sim = simulateModel(tree, null_, { gain: 0.3, loss: 1 }, {
    nFamilies,
    seed: 5,
    effects: { effects: [tested], groups },
    effectValues: [Math.log(3)],
  });
  const patterns = compressPatterns(sim.states, nFamilies, tree.nTips, names);
  const r = await testEffects(
    { tree, patterns, factory },
    null_,
    { effects: [main, tested, lineage], groups },
    { tested: [tested.name] },
  );
  const byName = Object.fromEntries(r.effects.map((e) => [e.name, e]));
  const c = byName["contrast[pathway]"];
  assert.ok(c.tested && !byName.theta.tested && !byName.lineage.tested);
  assert.ok(c.interval![0] < Math.log(3) && Math.log(3) < c.interval![1], `${c.interval}`);
  // The truth has no main effects: their intervals hold 0.
  for (const n of ["theta", "lineage"]) {
    const iv = byName[n].interval!;
    assert.ok(iv[0] < 0 && 0 < iv[1], `${n}: ${iv}`);
  }
  assert.ok(r.p < 1e-6 && r.df === 1);
});

/** The families of `patterns` in set `keep` (or outside every set, -1) as their own PAM. */
function subset(patterns: SitePatterns, ofFamily: Int32Array, keep: number): SitePatterns {
  const { nTips, states, familyPattern } = patterns;
  const rows: number[] = [];
  const kept: string[] = [];
  familyPattern.forEach((p, f) => {
    if (ofFamily[f] !== keep) return;
    for (let t = 0; t < nTips; t++) rows.push(states[p * nTips + t]);
    kept.push(names[f]);
  });
  return compressPatterns(Uint8Array.from(rows), kept.length, nTips, kept);
}

Deno.test("gain and loss effects on a set: the alternative equals two separate null-model fits", async () => {
  // With both rates multiplied, the set's families have rates of their own: the alternative's
  // maximum is the sum of the maxima of the null model fitted to each part alone (families are
  // conditioned on the window one by one). A second route to the same number.
  const null_ = parseModel("null");
  const patterns = simulated(4, [setLoss], groups);
  const effects: Effect[] = [
    { ...setLoss, name: "thetaGain", channel: "gain" },
    { ...setLoss, name: "thetaLoss" },
  ];
  const r = await testEffectParts({ tree, patterns, factory }, null_, { effects, groups }, [
    { label: "pathway", tested: ["thetaGain", "thetaLoss"] },
  ], { level: null });
  const separate = [0, -1].map((keep) => {
    using lik = new ModelLikelihood(tree, subset(patterns, groups.ofFamily, keep), factory, null_);
    return fitModelLikelihood(lik, { level: null });
  });
  // Both maxima to the fitters' stopping rule (1e-6 in log-likelihood each).
  assert.ok(
    Math.abs(r.joint.altFit.logLik - (separate[0].logLik + separate[1].logLik)) < 1e-5,
    `${r.joint.altFit.logLik} vs ${separate[0].logLik + separate[1].logLik}`,
  );
  // The set's own rates are the background's times exp(theta).
  const b = r.joint.altFit.byName;
  assertClose(
    b.gain.estimate * Math.exp(b.thetaGain.estimate),
    separate[0].byName.gain.estimate,
    1e-3,
  );
  assertClose(
    b.loss.estimate * Math.exp(b.thetaLoss.estimate),
    separate[0].byName.loss.estimate,
    1e-3,
  );
  assert.equal(r.joint.df, 2);
  assert.equal(r.joint.reference, "chi2(2)");
});

Deno.test("one-sided tests: half the two-sided p on the alternative's side, 1 on the other", async () => {
  const patterns = simulated(2, [setLoss], groups);
  const data = { tree, patterns, factory };
  const setup = { effects: [setLoss], groups };
  const two = await testEffects(data, parseModel("null"), setup, { level: null });
  const reuse = { nullFit: two.nullFit, altFit: two.altFit, level: null };
  const greater = await testEffects(data, parseModel("null"), setup, {
    ...reuse,
    alternative: "greater",
  });
  const less = await testEffects(data, parseModel("null"), setup, {
    ...reuse,
    alternative: "less",
  });
  assert.ok(two.effects[0].estimate > 0);
  assertClose(greater.p, two.p / 2, 1e-12);
  assert.equal(greater.lrt, two.lrt);
  assert.equal(less.p, 1);
  assert.equal(less.lrt, 0);
  // The reference's closed form: P(chi2_1 >= 3.841459) = 0.05, halved one-sided.
  assertClose(lrtPValue(3.841458820694124, 1, "less", -1).p, 0.025, 1e-9);
  await assert.rejects(
    testEffects(data, parseModel("null"), {
      effects: [setLoss, { ...setLoss, name: "g", channel: "gain" }],
      groups,
    }, { alternative: "less", level: null }),
    /one-sided alternative \('less'\) tests one effect; 2 are tested/,
  );
});

Deno.test("bootstrap replicates keep each family's missing cells and window; p_boot counts them", async () => {
  const small = yuleTree(30, new Random(7), { height: 1 });
  const sim = simulateModel(small, parseModel("null"), { gain: 0.5, loss: 1 }, {
    nFamilies: 200,
    seed: 8,
    missing: 0.1,
    ascertainment: { minPresent: 2, maxPresent: 28 },
  });
  const fams = Array.from({ length: 200 }, (_, f) => `g${f}`);
  const patterns = compressPatterns(sim.states, 200, 30, fams);
  const window = { minPresent: 2, maxPresent: 28 };
  const data = { tree: small, patterns, factory, window };
  const replicate = simulateLikeData(small, patterns, parseModel("null"), [0.5, 1], {
    rng: new Random(9),
    window,
  });
  for (let f = 0; f < 200; f++) {
    let present = 0;
    for (let t = 0; t < 30; t++) {
      const a = patterns.states[patterns.familyPattern[f] * 30 + t];
      const b = replicate.states[replicate.familyPattern[f] * 30 + t];
      assert.equal(a === 2, b === 2, `family ${f}, genome ${t}: missing as in the data`);
      if (b === 1) present++;
    }
    assert.ok(present >= 2 && present <= 28, `family ${f}: ${present} present`);
  }
  const g: FamilyGroups = {
    sets: ["s"],
    ofFamily: Int32Array.from({ length: 200 }, (_, f) => (f < 40 ? 0 : -1)),
  };
  const r = await testEffects(data, parseModel("null"), { effects: [setLoss], groups: g }, {
    level: null,
    bootstrap: { replicates: 5, seed: 3 },
  });
  const atLeast = r.bootstrapLrt!.filter((x) => x >= r.lrt - 1e-9).length;
  assert.equal(r.bootstrapP, (1 + atLeast) / 6);
  assert.ok(r.bootstrapLrt!.every((x) => x >= 0 && Number.isFinite(x)));
  // The same seed gives the same replicates.
  const again = await testEffects(data, parseModel("null"), { effects: [setLoss], groups: g }, {
    level: null,
    bootstrap: { replicates: 5, seed: 3 },
    nullFit: r.nullFit,
    altFit: r.altFit,
  });
  assert.deepEqual([...again.bootstrapLrt!], [...r.bootstrapLrt!]);
});

// ---------------------------------------------------------------------------------------------
// The commands.

const data = (name: string) => new URL(`./data/${name}`, import.meta.url).pathname;
const contractTree = data("contract/tree.nwk");
const contractPam = data("contract/pam.tsv");
const genomes = ["genome_A", "genome B", "genome_C", "genome_D", "genome_E"];

/** Runs the command line in this process, capturing stdout and stderr. */
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
    return { code: await main(args), stdout, stderr };
  } finally {
    console.log = log;
    console.error = error;
    Deno.stdout.write = write;
  }
}

const base = ["--tree", contractTree, "--pam", contractPam, "--model", "null", "--backend", "ts"];

Deno.test("retention --json and --out-tsv: the documented keys, per set and jointly", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/core.txt`, "group_1\ngroup_3\n");
  const one = await run([
    "retention",
    ...base,
    "--families",
    `${dir}/core.txt`,
    "--json",
    "--out-tsv",
    `${dir}/r.tsv`,
  ]);
  assert.equal(one.code, 0, one.stderr);
  const j = JSON.parse(one.stdout);
  for (
    const key of [
      "theta",
      "thetaCI",
      "p",
      "lrt",
      "logLikNull",
      "logLikAlt",
      "aic",
      "bic",
      "model",
      "nFamiliesInSet",
      "sets",
      "joint",
      "effects",
      "provenance",
    ]
  ) {
    assert.ok(key in j, `missing ${key}`);
  }
  assert.equal(j.nFamiliesInSet, 2);
  assert.equal(j.model, "null");
  assertClose(j.lrt, 2 * (j.logLikAlt - j.logLikNull), 1e-12);
  // The null model here is the background fitted alone: the same as 'fit --model null'.
  const fit = JSON.parse((await run(["fit", ...base, "--no-ci", "--json"])).stdout);
  assertClose(j.logLikNull, fit.logLik, 1e-9);
  // At theta = 0 the alternative is the null: its maximum is at least the null's.
  assert.ok(j.logLikAlt >= j.logLikNull - 1e-9);
  assert.equal(j.provenance.inputs[2].role, "families");
  const tsv = (await Deno.readTextFile(`${dir}/r.tsv`)).trim().split("\n").map((l) =>
    l.split("\t")
  );
  assert.deepEqual(tsv[0].slice(0, 5), ["set", "effect", "channel", "tested", "estimate"]);
  assert.deepEqual(tsv[1].slice(0, 4), ["core", "theta", "loss", "true"]);
  assertClose(Number(tsv[1][4]), j.theta, 1e-15);

  await Deno.writeTextFile(`${dir}/two.tsv`, "family\tset\ngroup_1\tA\ngroup_3\tB\n");
  const two = JSON.parse(
    (await run(["retention", ...base, "--families", `${dir}/two.tsv`, "--json", "--level", "0.5"]))
      .stdout,
  );
  assert.deepEqual(two.sets.map((s: { name: string }) => s.name), ["A", "B"]);
  assert.equal(two.joint.df, 2);
  assert.equal(two.sets[0].df, 1);
  assert.ok(!("theta" in two), "with several sets the estimates are per set");
  // Each set's null holds the other set's effect: between the background and the alternative.
  for (const s of two.sets) {
    assert.ok(s.logLikNull >= two.joint.logLikNull - 1e-6 && s.logLikNull <= s.logLikAlt + 1e-6);
  }

  const clade = JSON.parse(
    (await run([
      "retention",
      ...base,
      "--families",
      `${dir}/core.txt`,
      "--node",
      "n1",
      "--stem",
      "--json",
      "--level",
      "0.5",
    ])).stdout,
  );
  assert.deepEqual(clade.effects.map((e: { name: string }) => e.name), [
    "theta",
    "contrast",
    "lineage",
  ]);
  assert.deepEqual(clade.effects.map((e: { tested: boolean }) => e.tested), [false, true, false]);
  assert.deepEqual(clade.clade.branches, ["genome_A", "genome B", "n1"]);
  assert.equal(clade.clade.stem, true);

  // The same lineage as a branch class from a file naming every branch.
  const branchFile = `${dir}/branches.tsv`;
  await Deno.writeTextFile(
    branchFile,
    "node\tniche\ngenome_A\thost\ngenome B\thost\nn1\thost\ngenome_C\tfree\n" +
      "genome_D\tfree\ngenome_E\tfree\nnode6\tfree\n",
  );
  const byClass = JSON.parse(
    (await run([
      "retention",
      ...base,
      "--families",
      `${dir}/core.txt`,
      "--classes",
      branchFile,
      "--column",
      "niche",
      "--class",
      "host",
      "--json",
      "--level",
      "0.5",
    ])).stdout,
  );
  assert.equal(byClass.branchClass.source, "file");
  assert.deepEqual(byClass.branchClass.branches, ["genome_A", "genome B", "n1"]);
  // The same design, so the same fits (the same arithmetic on the same data).
  assertClose(byClass.logLikAlt, clade.logLikAlt, 1e-9);
  assertClose(byClass.theta, clade.theta, 1e-6);

  const help = await run(["retention", "--help"]);
  assert.match(help.stdout, /exp\(theta\) < 1 means the set's genes are lost more slowly/);
});

Deno.test("lineage --json: each effect with its branches, classes reconstructed or from a file", async () => {
  const dir = await Deno.makeTempDir();
  const meta = `${dir}/meta.tsv`;
  await Deno.writeTextFile(
    meta,
    "genome\thost\tsize\n" +
      genomes.map((g, i) => `${g}\t${i < 2 ? "free" : "host"}\t${i + 1}`).join("\n") + "\n",
  );
  const classes = JSON.parse(
    (await run([
      "lineage",
      ...base,
      "--classes",
      meta,
      "--column",
      "host",
      "--json",
      "--level",
      "0.5",
    ])).stdout,
  );
  assert.equal(classes.lineage.source, "reconstructed");
  assert.equal(classes.lineage.reference, "free");
  const [host] = classes.effects;
  assert.equal(host.name, "class[host]");
  // The host cherry's ancestor (node 6) is host; n1 and its tips are free.
  assert.deepEqual(host.branches, ["genome_C", "genome_D", "genome_E", "node6"]);
  assert.ok(host.p > 0 && host.p <= 1 && host.df === 1);
  const cov = JSON.parse(
    (await run([
      "lineage",
      ...base,
      "--covariate",
      meta,
      "--column",
      "size",
      "--json",
      "--level",
      "0.5",
    ])).stdout,
  );
  assert.equal(cov.lineage.mean, 3);
  assert.deepEqual(cov.effects[0].branches, ["genome_A", "genome B", "genome_D", "genome_E"]);
  const both = JSON.parse(
    (await run([
      "lineage",
      ...base,
      "--clade",
      "genome_A,genome B",
      "--effect",
      "both",
      "--json",
      "--level",
      "0.5",
    ])).stdout,
  );
  assert.deepEqual(both.effects.map((e: { name: string }) => e.name), [
    "lineageGain",
    "lineageLoss",
  ]);
  assert.equal(both.joint.df, 2);
  assert.deepEqual(both.effects[0].branches, ["genome_A", "genome B"]);
});

Deno.test("bad inputs are refused with status 2 and a message naming the item", async () => {
  const dir = await Deno.makeTempDir();
  const write = async (name: string, text: string) => {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    return `${dir}/${name}`;
  };
  const unknown = await write("unknown.txt", "group_1\nGROUP_2\n");
  const empty = await write("empty.txt", "# no ids\n");
  const all = await write("all.txt", "group_1\ngroup_2\ngroup_3\ngroup_4\ngroup_5\n");
  const ok = await write("ok.txt", "group_1\ngroup_3\n");
  const meta = await write(
    "meta.tsv",
    "genome\thost\tsize\n" + genomes.map((g, i) => `${g}\t${i < 2 ? "a" : "b"}\tx${i}`).join("\n"),
  );
  const oneClass = await write(
    "one.tsv",
    "genome\thost\n" + genomes.map((g) => `${g}\tb`).join("\n"),
  );
  const stranger = await write(
    "stranger.tsv",
    "genome\thost\ngenome_Z\ta\n" +
      genomes.map((g) => `${g}\tb`).join("\n"),
  );
  const partial = await write("partial.tsv", "node\thost\nn1\ta\ngenome_A\tb\n");
  const blank = await write(
    "blank.tsv",
    "genome\thost\n" + genomes.map((g, i) => `${g}\t${i === 3 ? "" : "b"}`).join("\n"),
  );
  const cases: [string[], RegExp][] = [
    [
      ["retention", ...base, "--families", unknown],
      /1 family id is not in the PAM: 'GROUP_2' \(line 2\)/,
    ],
    [["retention", ...base, "--families", empty], /empty\.txt' lists no family/],
    [["retention", ...base, "--families", all], /cover.* every family of the PAM \(5\)/],
    [["retention", ...base], /needs --families FILE/],
    [["retention", ...base, "--families", ok, "--clade", "genome_A,genome_Q"], /'genome_Q'/],
    [["retention", ...base, "--families", ok, "--node", "n9"], /Node 'n9' is not in the tree/],
    [
      ["retention", ...base, "--families", ok, "--effect", "both", "--alternative", "less"],
      /--alternative less is one-sided/,
    ],
    // In retention --seed also draws the random sets; lineage has no random sets.
    [["lineage", ...base, "--clade", "genome_A,genome B", "--seed", "3"], /--seed seeds/],
    [
      [
        "retention",
        ...base,
        "--families",
        ok,
        "--classes",
        meta,
        "--column",
        "host",
        "--class",
        "c",
      ],
      /Class 'c' is not a class of the branches \('a', 'b'\)/,
    ],
    [
      ["retention", ...base, "--families", ok, "--classes", meta, "--column", "host"],
      /needs --classes FILE, --column C and --class NAME together/,
    ],
    [
      ["lineage", ...base, "--classes", meta, "--column", "Host"],
      /no column 'Host'; its columns are 'genome', 'host', 'size'/,
    ],
    [["lineage", ...base, "--classes", oneClass, "--column", "host"], /every genome has class 'b'/],
    [["lineage", ...base, "--classes", stranger, "--column", "host"], /'genome_Z' \(line 2\)/],
    [["lineage", ...base, "--classes", partial, "--column", "host"], /branch\(es\) have no class/],
    [
      ["lineage", ...base, "--classes", blank, "--column", "host"],
      /line 5: 'genome_D' has no value in column 'host'/,
    ],
    [
      ["lineage", ...base, "--classes", meta, "--column", "host", "--reference", "c"],
      /Reference class 'c'/,
    ],
    [["lineage", ...base, "--covariate", meta, "--column", "size"], /'x0', not a number/],
    [["lineage", ...base, "--classes", meta], /--classes needs --column C/],
    [["lineage", ...base], /needs a lineage/],
    [["lineage", ...base, "--clade", "genome_A", "--node", "n1"], /Give one lineage/],
    [["lineage", ...base, "--clade", "genome_A,genome_E"], /whole tree/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.slice(-4).join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^genecontent: error: /);
    assert.match(r.stderr, pattern);
    assert.equal(r.stdout, "");
  }
});

Deno.test("retention: random sets of the same size beside the chi-square test", async () => {
  const tree = new URL("../examples/tree.nwk", import.meta.url).pathname;
  const pam = new URL("../examples/pam.tsv", import.meta.url).pathname;
  const rows = (await Deno.readTextFile(pam)).split("\n").slice(1, 201);
  const dir = await Deno.makeTempDir();
  const set = `${dir}/first200.txt`;
  await Deno.writeTextFile(set, rows.map((r) => r.slice(0, r.indexOf("\t"))).join("\n") + "\n");
  const args = ["retention", "--tree", tree, "--pam", pam, "--families", set, "--model", "null"];
  const r = await run([...args, "--random-sets", "99", "--seed", "3", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const rs = j.sets[0].randomSets;
  assert.equal(rs.draws, 99);
  assert.equal(j.pRandomSets, rs.p);
  assert.equal(rs.p, (1 + rs.exceed) / 100);
  // The fixed-background statistic differs from the refitted one only by the background's
  // move when 200 of 5,000 families change rate: well under 5% of the LRT here (and 0.05 in
  // absolute terms when the LRT is near 0).
  assert.ok(Math.abs(rs.lrt - j.lrt) <= 0.05 + 0.05 * j.lrt, `${rs.lrt} vs ${j.lrt}`);
  // The example data were simulated under the null model: random sets behave as chi2(1) says
  // (5% of 99 draws; the binomial 99% upper end is 0.11).
  assert.ok(rs.asymptoticRejection < 0.15, `${rs.asymptoticRejection}`);
  const none = await run([...args, "--random-sets", "0", "--json"]);
  assert.equal(JSON.parse(none.stdout).pRandomSets, null);
  const bad = await run([...args, "--random-sets", "-1"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--random-sets/);
  await Deno.remove(dir, { recursive: true });
});
