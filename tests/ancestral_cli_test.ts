// `genecontent ancestral` as a user runs it: the contract values (computed independently), the
// per-family table against the JSON, family sets, values from a fit file or fitted on the fly,
// the files of --out, stochastic mapping, and bad input ending in one clear message.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { main } from "../lib/cli/main.ts";
import { formatValue } from "../lib/ancestral/formats/long_tsv.ts";
import { parseNewick } from "../lib/newick/parse.ts";

const data = (name: string) => new URL(`./data/${name}`, import.meta.url).pathname;
const TREE = data("contract/tree.nwk");
const PAM = data("contract/pam.tsv");
const BASE = ["ancestral", "--tree", TREE, "--pam", PAM, "--gain", "0.5", "--loss", "1.0"];

/**
 * Independently computed expectations on the five-genome contract case at gain 0.5, loss 1
 * (copied from the contract's expected_models.json): per branch, summed over the 5 families.
 */
const CONTRACT_BRANCHES: Record<string, [number, number]> = {
  "genome_A": [0.5206052979180235, 0.19922161356299195],
  "genome B": [0.2174969132263127, 0.8961132288712811],
  "n1": [0.3459174463065196, 0.29810125278045274],
  "genome_C": [0.5336345767741449, 0.11887223014780013],
  "genome_D": [0.9461454975639274, 0.5313831509375812],
  "genome_E": [0.06325780700545715, 0.1693540047134878],
  "node6": [0.6199672429630398, 0.6655297117082868], // the unlabelled internal node
};
/** Posterior presence per family at n1, the unlabelled node and the root (same source). */
const CONTRACT_PRESENT: Record<string, number[]> = {
  "n1": [
    0.8811774288129163,
    0.17009696982349096,
    0.616111911911345,
    0.9984719333264798,
    0.01275807177073769,
  ],
  "node6": [
    0.01051943944351981,
    0.9966815530131183,
    0.5159321571353436,
    0.9999492285582691,
    0.06215527522340475,
  ],
  "node7": [
    0.5836951626460597,
    0.43856971325359034,
    0.5811548400356018,
    0.9963722053831943,
    0.03100820080045611,
  ],
};
const CONTRACT_TOTALS = { gains: 3.2470247817574256, losses: 2.8785751927218826 };

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

/** The text of a gzip file. */
async function gunzipFile(path: string): Promise<string> {
  const file = await Deno.open(path);
  return await new Response(file.readable.pipeThrough(new DecompressionStream("gzip"))).text();
}

async function runJson(args: string[]): Promise<Json> {
  const r = await run([...args, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("ancestral: the contract's branch sums, presences and totals", async () => {
  const dir = await Deno.makeTempDir();
  const fam = `${dir}/fam.tsv.gz`;
  for (const backend of ["ts", "auto"]) {
    const r = await runJson([...BASE, "--backend", backend, "--per-family", fam, "--force"]);
    const got = Object.fromEntries(
      r.branches.map((b: Json) => [b.node, [b.gains, b.losses]]),
    );
    for (const [node, [g, l]] of Object.entries(CONTRACT_BRANCHES)) {
      // Independent values to ~1e-15; the contract allows 1e-9.
      assertClose(got[node], [g, l], 1e-12, `${backend} branch ${node}`);
    }
    assertClose(
      [r.totals.gains, r.totals.losses],
      [CONTRACT_TOTALS.gains, CONTRACT_TOTALS.losses],
      1e-12,
    );
    const families = new Map(r.families.map((f: Json) => [f.family, f]));
    for (const [node, want] of Object.entries(CONTRACT_PRESENT)) {
      want.forEach((p, i) => {
        const f = families.get(`group_${i + 1}`) as Json;
        const entry = f.nodes.find((n: Json) => n.node === node);
        assertClose(entry.pPresent, p, 1e-12, `${backend} group_${i + 1} at ${node}`);
      });
    }
    // The per-family long TSV (gzip) holds the JSON's numbers at its documented 6 significant
    // digits, formatted exactly as formatValue does, leaving out exactly the values below the
    // default cut (1e-4); with --per-family-min 0, every row: 5 families x (8 presences + 7
    // gains + 7 losses).
    const full = `${dir}/full.tsv`;
    const all = await run([
      ...BASE,
      "--backend",
      backend,
      "--per-family",
      full,
      "--per-family-min",
      "0",
      "--force",
    ]);
    assert.equal(all.code, 0, all.stderr);
    const want = new Map<string, number>();
    for (const f of r.families) {
      for (const n of f.nodes) want.set(`${f.family}\t${n.node}\tpPresent`, n.pPresent);
      for (const b of f.branches) {
        want.set(`${f.family}\t${b.node}\tgains`, b.gains);
        want.set(`${f.family}\t${b.node}\tlosses`, b.losses);
      }
    }
    assert.equal(want.size, 5 * 22);
    for (
      const [text, cut] of [[await gunzipFile(fam), 1e-4], [
        await Deno.readTextFile(full),
        0,
      ]] as const
    ) {
      const lines = text.trim().split("\n");
      assert.equal(lines[0], "family\tnode\tquantity\tvalue");
      const seen = new Set<string>();
      for (const line of lines.slice(1)) {
        const key = line.slice(0, line.lastIndexOf("\t"));
        assert.ok(want.has(key), line);
        assert.equal(line.slice(key.length + 1), formatValue(want.get(key)!), line);
        seen.add(key);
      }
      const kept = [...want].filter(([, x]) => !(cut > 0 && x < cut)).map(([k]) => k);
      assert.deepEqual([...seen].sort(), kept.sort(), `rows at cut ${cut}`);
      assert.ok(cut === 0 ? kept.length === 110 : kept.length < 110, `cut ${cut}: ${kept.length}`);
    }
    assert.deepEqual(
      [r.familyTable.minValue, r.familyTable.rowsInAll],
      [1e-4, 110],
    );
    assert.equal(r.familyTable.rows, (await gunzipFile(fam)).trim().split("\n").length - 1);
    const sidecar = JSON.parse(await Deno.readTextFile(`${fam}.provenance.json`));
    assert.deepEqual(
      [sidecar.familyTable.minValue, sidecar.familyTable.rows, sidecar.familyTable.rowsInAll],
      [1e-4, r.familyTable.rows, 110],
    );
    assert.match(all.stderr, /per-family table: 110 of 110 rows;/);
    // Genomes: root-to-tip sums of the branches.
    const gA = r.genomes.find((g: Json) => g.genome === "genome_A");
    assertClose(gA.gains, got["genome_A"][0] + got["n1"][0], 1e-14);
    // Gains minus losses on a branch is the change in expected presence along it.
    const byNode = new Map(r.branches.map((b: Json) => [b.node, b]));
    const n1 = byNode.get("n1") as Json;
    assertClose(n1.gains - n1.losses, n1.present - r.root.present, 1e-12);
    assert.equal(
      r.tree,
      "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15)node6:0.1)node7;",
    );
    assert.equal(r.provenance.command, "ancestral");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ancestral: a family set sums its families; values from a fit file equal the same values given", async () => {
  const dir = await Deno.makeTempDir();
  const set = `${dir}/set.txt`;
  await Deno.writeTextFile(set, "# two families\ngroup_1\n\ngroup_3\n");
  const fam = `${dir}/fam.tsv`;
  const args = ["ancestral", "--tree", TREE, "--pam", PAM, "--model", "gamma4", "--backend", "ts"];
  const r = await runJson([
    ...args,
    "--gain",
    "0.5",
    "--loss",
    "1",
    "--alpha",
    "0.5",
    "--families",
    set,
    "--per-family",
    fam,
  ]);
  const fams = new Map(r.families.map((f: Json) => [f.family, f]));
  for (const b of r.familySet.branches) {
    const one = (name: string) =>
      (fams.get(name) as Json).branches.find((x: Json) => x.node === b.node);
    // The set's sums are the two families' values (one pass with other weights).
    assertClose(b.gains, one("group_1").gains + one("group_3").gains, 1e-12, b.node);
    assertClose(b.losses, one("group_1").losses + one("group_3").losses, 1e-12, b.node);
  }
  assert.deepEqual(r.familySet.families, ["group_1", "group_3"]);
  // A fit result file (as fit --json writes it) gives the same reconstruction.
  const fitFile = `${dir}/fit.json`;
  const fit = await runJson([
    "fit",
    "--tree",
    TREE,
    "--pam",
    PAM,
    "--model",
    "gamma4",
    "--no-ci",
    "--backend",
    "ts",
  ]);
  await Deno.writeTextFile(fitFile, JSON.stringify(fit));
  const fromFit = await runJson([...args.slice(0, 5), "--from-fit", fitFile, "--backend", "ts"]);
  assert.equal(fromFit.valuesFrom, "fit file");
  assert.equal(fromFit.model, "gamma4");
  const p = fit.parameters;
  const given = await runJson([
    ...args,
    "--gain",
    String(p.gain.estimate),
    "--loss",
    String(p.loss.estimate),
    "--alpha",
    String(p.alpha.estimate),
  ]);
  assert.deepEqual(fromFit.branches, given.branches);
  // Without values the model is fitted first: the same estimates as fit (same fitter, data).
  const fitted = await runJson(args);
  assert.equal(fitted.valuesFrom, "fitted");
  for (const name of ["gain", "loss", "alpha"]) {
    // Two runs of the same deterministic fitter on the same data.
    assertClose(fitted.parameters[name], p[name].estimate, 1e-9, name);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ancestral --out DIR writes the tables and trees; --samples draws histories", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/anc`;
  const r = await runJson([
    ...BASE,
    "--backend",
    "ts",
    "--out",
    out,
    "--samples",
    "3000",
    "--seed",
    "7",
  ]);
  const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  assert.deepEqual(files, [
    "ancestral.json",
    "branches.tsv",
    "genomes.tsv",
    "itol_gains.txt",
    "itol_losses.txt",
    "itol_style.txt",
    "itol_text.txt",
    "tree.nhx",
    "tree.nwk",
  ]);
  const rows = (await Deno.readTextFile(`${out}/branches.tsv`)).trim().split("\n").slice(1);
  for (const line of rows) {
    const [node, , , , gains, losses] = line.split("\t");
    const b = r.branches.find((x: Json) => x.node === node);
    if (!b) continue; // the root's row
    assert.equal(Number(gains), b.gains);
    assert.equal(Number(losses), b.losses);
  }
  const ids = parseNewick(await Deno.readTextFile(`${out}/tree.nwk`), "tree.nwk");
  assert.deepEqual(ids.internalLabels, ["n1", "node6", "node7"]);
  assert.match(await Deno.readTextFile(`${out}/itol_style.txt`), /^DATASET_STYLE\nSEPARATOR TAB/);
  // Sampled means of the branch sums agree with the exact expectations: the sum over 5 families
  // of counts with variance below ~1 per branch gives a standard error below 0.02 over 3000
  // draws; 0.1 is more than 5 standard errors.
  for (const b of r.stochasticMap.branches) {
    const exact = r.branches.find((x: Json) => x.node === b.node);
    assert.ok(
      Math.abs(b.gainsMean - exact.gains) < 0.1,
      `${b.node} gains ${b.gainsMean} vs ${exact.gains}`,
    );
    assert.ok(Math.abs(b.lossesMean - exact.losses) < 0.1, `${b.node} losses`);
  }
  // The same seed gives the same draws; an existing folder's files need --force.
  const again = await run([
    ...BASE,
    "--backend",
    "ts",
    "--out",
    out,
    "--samples",
    "3000",
    "--seed",
    "7",
  ]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists: pass --force/);
  const forced = await runJson([
    ...BASE,
    "--backend",
    "ts",
    "--out",
    out,
    "--force",
    "--samples",
    "3000",
    "--seed",
    "7",
  ]);
  assert.deepEqual(forced.stochasticMap, r.stochasticMap);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ancestral: bad input ends in one message naming the problem", async () => {
  const dir = await Deno.makeTempDir();
  const set = `${dir}/set.txt`;
  await Deno.writeTextFile(set, "group_1\ngroup_9\n");
  const fitFile = `${dir}/fit.json`;
  await Deno.writeTextFile(
    fitFile,
    JSON.stringify({ model: "null", parameters: { gain: { estimate: 0.5 } } }),
  );
  const cases: [string[], RegExp][] = [
    [[...BASE, "--families", set], /family set names 1 family not in the PAM: 'group_9'/],
    [
      [...BASE, "--from-fit", fitFile],
      /--from-fit gives the parameter values: drop --gain, --loss/,
    ],
    [
      ["ancestral", "--tree", TREE, "--pam", PAM, "--from-fit", fitFile],
      /needs an estimate of loss/,
    ],
    [[...BASE, "--seed", "3"], /--seed seeds the draws of --samples/],
    [[...BASE, "--samples", "0"], /--samples/],
    [[...BASE, "--out", "-"], /--out names a folder/],
    [[...BASE, "--per-family-min", "0.01"], /--per-family-min cuts the table of --per-family/],
    [
      [...BASE, "--per-family", `${dir}/f.tsv`, "--per-family-min=-1"],
      /--per-family-min must be a number >= 0; got '-1'/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  await Deno.remove(dir, { recursive: true });
});
