// `genecontent tree` end to end: the tree it writes is the one the library builds from the
// same PAM (native and TypeScript backends alike), rooting options, the Newick file with its
// provenance, branch lengths refitted under a model, and bad input ending with status 2 and
// one message naming the item.
import assert from "node:assert/strict";
import { parseNewick } from "../lib/newick/parse.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { parsePam } from "../lib/pam/read.ts";
import { flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import { pamDistances } from "../lib/tree_building/distances.ts";
import { neighborJoining, upgma } from "../lib/tree_building/nj.ts";
import { midpointRoot, outgroupRoot } from "../lib/tree_building/rooting.ts";
import { CONDITIONAL_NOTE, TREE_HELP } from "../lib/cli/commands/tree.ts";

const mainPath = new URL("../lib/cli/main.ts", import.meta.url).pathname;
const examplePam = new URL("../examples/pam.tsv", import.meta.url).pathname;

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

/** The first `nGenomes` genomes and `nFamilies` families of the example PAM, as a TSV. */
async function smallPam(dir: string, nGenomes: number, nFamilies: number): Promise<string> {
  // Families present in none of the kept genomes are left out.
  const lines = (await Deno.readTextFile(examplePam)).split("\n").slice(0, nFamilies + 1)
    .map((l) => l.split("\t").slice(0, nGenomes + 1))
    .filter((cells, i) => i === 0 || cells.slice(1).includes("1"));
  const text = lines.map((cells) => cells.join("\t")).join("\n");
  const path = `${dir}/pam.tsv`;
  await Deno.writeTextFile(path, text + "\n");
  return path;
}

const ROWS = ["--orientation", "families-as-rows"];

Deno.test("tree writes the library's tree of the PAM (nj, upgma; midpoint, outgroup; native = ts)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "genecontent_tree_cli_" });
  try {
    const pamPath = await smallPam(dir, 25, 800);
    const pam = parsePam(await Deno.readTextFile(pamPath), pamPath, {
      orientation: "families-as-rows",
    });
    const n = pam.taxa.length;
    const want = (method: "nj" | "upgma", metric: "jaccard" | "hamming") => {
      const d = pamDistances(pam.states, n, pam.families.length, metric);
      const t = method === "nj" ? neighborJoining(n, d) : upgma(n, d);
      return flatTreeFromParents(pam.taxa, t.parent, t.branchLength);
    };
    const nj = await run(["tree", "--pam", pamPath, ...ROWS, "--json"]);
    assert.equal(nj.code, 0, nj.stderr);
    const r = JSON.parse(nj.stdout);
    assert.equal(r.method, "nj");
    assert.equal(r.distance, "jaccard");
    assert.equal(r.rooted, false);
    assert.equal(r.nGenomes, 25);
    assert.equal(r.nFamilies, pam.families.length);
    assert.equal(r.conditional, CONDITIONAL_NOTE);
    assert.equal(r.provenance.command, "tree");
    assert.equal(r.provenance.inputs[0].path, pamPath);
    assert.equal(r.newick, formatNewick(want("nj", "jaccard")));
    // Lengths read back exactly from the Newick text.
    assert.equal(formatNewick(parseNewick(r.newick, "out")), r.newick);

    const ts = await run(["tree", "--pam", pamPath, ...ROWS, "--json", "--backend", "ts"]);
    assert.equal(ts.code, 0, ts.stderr);
    assert.equal(JSON.parse(ts.stdout).newick, r.newick, "the TypeScript backend: same tree");
    assert.equal(JSON.parse(ts.stdout).backend, "ts");

    const mid = await run([
      "tree",
      "--pam",
      pamPath,
      ...ROWS,
      "--method",
      "upgma",
      "--distance",
      "hamming",
      "--root",
      "midpoint",
      "--out",
      `${dir}/mid.nwk`,
    ]);
    assert.equal(mid.code, 0, mid.stderr);
    assert.equal(mid.stdout, "");
    assert.match(mid.stderr, /UPGMA on hamming distances, 25 genomes x \d+ families, rooted/);
    assert.match(mid.stderr, /conditional on it/);
    assert.equal(
      await Deno.readTextFile(`${dir}/mid.nwk`),
      formatNewick(midpointRoot(want("upgma", "hamming"))) + "\n",
    );
    const sidecar = JSON.parse(await Deno.readTextFile(`${dir}/mid.nwk.provenance.json`));
    assert.equal(sidecar.method, "upgma");
    assert.equal(sidecar.provenance.options.root, "midpoint");
    // An existing file is replaced only with --force.
    const again = await run(["tree", "--pam", pamPath, ...ROWS, "--out", `${dir}/mid.nwk`]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /--force/);

    // An outgroup: a clade of the NJ tree (the tips below its first internal node).
    const tree = want("nj", "jaccard");
    const og = [...tree.parent.keys()].filter((v) => tree.parent[v] === n).map((v) =>
      tree.tipNames[v]
    );
    const out = await run(["tree", "--pam", pamPath, ...ROWS, "--outgroup", og.join(",")]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, formatNewick(outgroupRoot(tree, og)) + "\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tree --optimize-branch-lengths refits the lengths under the model and says the results are conditional", async () => {
  const dir = await Deno.makeTempDir({ prefix: "genecontent_tree_cli_" });
  try {
    const pamPath = await smallPam(dir, 20, 1500);
    const r = await run([
      "tree",
      "--pam",
      pamPath,
      ...ROWS,
      "--root",
      "midpoint",
      "--optimize-branch-lengths",
      "--model",
      "gamma4",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    const b = j.branchLengths;
    assert.equal(b.model, "gamma4");
    assert.ok(b.converged);
    assert.ok(b.logLik >= b.startLogLik, `${b.logLik} vs ${b.startLogLik}`);
    assert.deepEqual(Object.keys(b.parameters), ["gain", "loss", "alpha"]);
    const fitted = parseNewick(j.newick, "fitted");
    // The fitted tree keeps the distance tree's total length (to rounding of ~40 lengths).
    let total = 0;
    for (let v = 0; v < fitted.nNodes - 1; v++) total += fitted.branchLength[v];
    assert.ok(Math.abs(total - b.totalLength) <= 1e-9 * total);
    assert.match(j.units.branchLengths, /per unit branch length of the fitted tree/);
    assert.match(TREE_HELP, /conditional on it/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tree: bad input exits 2 with one message naming the item", async () => {
  const dir = await Deno.makeTempDir({ prefix: "genecontent_tree_cli_" });
  try {
    const pamPath = await smallPam(dir, 6, 50);
    await Deno.writeTextFile(`${dir}/two.tsv`, "family\ta\tb\nf1\t1\t0\nf2\t1\t1\n");
    await Deno.writeTextFile(
      `${dir}/missing.tsv`,
      "family\ta\tb\tc\tghost\nf1\t1\t0\t1\t?\nf2\t1\t1\t0\tNA\n",
    );
    await Deno.writeTextFile(
      `${dir}/apart.tsv`,
      "family\ta\tb\tc\td\nf1\t1\t?\t1\t0\nf2\t?\t1\t0\t1\n",
    );
    await Deno.writeTextFile(
      `${dir}/absent.tsv`,
      "family\ta\tb\tc\nf1\t1\t0\t1\nf2\t1\t1\t0\nf3\t0\t0\t0\nf4\t0\t1\t1\n",
    );
    const cases: [string[], RegExp][] = [
      [
        ["--pam", `${dir}/absent.tsv`, ...ROWS, "--optimize-branch-lengths"],
        /1 family is present in no genome \('f3'\)/,
      ],
      [["--pam", pamPath, ...ROWS, "--outgroup", "g1,nobody"], /Outgroup taxon 'nobody'/],
      [["--pam", `${dir}/two.tsv`, ...ROWS], /has 2 genome\(s\) \('a', 'b'\)/],
      [["--pam", `${dir}/missing.tsv`, ...ROWS], /genome 'ghost' has every cell missing/],
      [["--pam", `${dir}/apart.tsv`, ...ROWS], /Genomes 'a' and 'b' have no family observed/],
      [
        ["--pam", `${dir}/apart.tsv`, ...ROWS, "--backend", "ts"],
        /Genomes 'a' and 'b' have no family observed/,
      ],
      [
        ["--pam", pamPath, ...ROWS, "--root", "midpoint", "--outgroup", "g1"],
        /--root and --outgroup/,
      ],
      [["--pam", pamPath, ...ROWS, "--model", "gamma4"], /--model is the model of/],
      [["--pam", pamPath, ...ROWS, "--method", "wpgma"], /--method must be one of nj, upgma/],
      [["--pam", `${dir}/none.tsv`, ...ROWS], /no such file/],
      [[...ROWS], /needs --pam/],
    ];
    for (const [args, message] of cases) {
      const r = await run(["tree", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^genecontent: error: /, args.join(" "));
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
      assert.equal(r.stdout, "");
    }
    // The outgroup that is not a clade, on a tree whose shape is known: distances of
    // ((a,b),c,(d,e)) from presence patterns.
    await Deno.writeTextFile(
      `${dir}/shape.tsv`,
      [
        "family\ta\tb\tc\td\te",
        "f1\t1\t1\t0\t0\t0",
        "f2\t1\t1\t0\t0\t0",
        "f3\t0\t0\t0\t1\t1",
        "f4\t0\t0\t0\t1\t1",
        "f5\t1\t0\t0\t0\t0",
        "f6\t0\t1\t0\t0\t0",
        "f7\t0\t0\t1\t0\t0",
        "f8\t0\t0\t0\t1\t0",
        "f9\t0\t0\t0\t0\t1",
      ].join("\n") + "\n",
    );
    const r = await run(["tree", "--pam", `${dir}/shape.tsv`, ...ROWS, "--outgroup", "a,d"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /The outgroup 'a', 'd' is not a clade of the unrooted tree/);
    const ok = await run(["tree", "--pam", `${dir}/shape.tsv`, ...ROWS, "--outgroup", "d,e"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\(d:[\d.e-]+,e:[\d.e-]+\):/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
