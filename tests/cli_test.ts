// The command line as a user runs it: the loglik contract against independently computed values,
// JSON and TSV outputs with provenance, help on every command, and every bad input ending in one
// clear message (exit status 2, no stack trace) that names the offending item.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { sha256Hex } from "../lib/native/locate.ts";
import { COMMANDS, main } from "../lib/cli/main.ts";

const mainPath = new URL("../lib/cli/main.ts", import.meta.url).pathname;
const data = (name: string) => new URL(`./data/${name}`, import.meta.url).pathname;
const contractTree = data("contract/tree.nwk");
const contractPam = data("contract/pam.tsv");
const expected = JSON.parse(await Deno.readTextFile(data("contract/expected.json")));
/** Independently computed values of the model commands on the same five-genome case. */
const expectedModels = JSON.parse(
  await Deno.readTextFile(data("contract/expected_models.json")),
);

async function run(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", mainPath, ...args],
    env: { NO_COLOR: "1", ...env },
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/**
 * Runs the command line inside this process (the same `main` the program runs), capturing
 * what it writes to stdout and stderr: for the many runs of the option table, where the
 * process start-up of a real run would dominate. Runs one at a time (it swaps the globals).
 */
async function runInProcess(args: string[]): Promise<Awaited<ReturnType<typeof run>>> {
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

/** Runs independent command lines, three at a time (each mostly waits on start-up). */
async function runMany(
  argsList: readonly string[][],
  env: Record<string, string> = {},
): Promise<Awaited<ReturnType<typeof run>>[]> {
  const results: Awaited<ReturnType<typeof run>>[] = new Array(argsList.length);
  let next = 0;
  await Promise.all(Array.from({ length: 3 }, async () => {
    while (next < argsList.length) {
      const i = next++;
      results[i] = await run(argsList[i], env);
    }
  }));
  return results;
}

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  return path;
}

// The contract's values come from an independent implementation and are printed to 15-17
// significant digits; both backends reproduce them to rounding (~1e-15), so 1e-12 is generous
// and still far below any modelling error.
for (const backend of ["native", "ts"]) {
  Deno.test(`loglik contract (${backend}): corrected and uncorrected totals match independent values`, async () => {
    for (
      const [extra, want] of [[[], expected.logLik_corrected], [
        ["--no-ascertainment"],
        expected.logLik_uncorrected,
      ]]
    ) {
      const r = await run([
        "loglik",
        "--tree",
        contractTree,
        "--pam",
        contractPam,
        "--gain",
        "0.5",
        "--loss",
        "1.0",
        "--backend",
        backend,
        "--json",
        ...(extra as string[]),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const json = JSON.parse(r.stdout);
      assertClose(json.logLik, want as number, 1e-12, "logLik");
      assert.equal(json.backend, backend);
      assert.equal(json.families.length, 5);
      assert.deepEqual(json.families.map((f: { family: string }) => f.family), [
        "group_1",
        "group_2",
        "group_3",
        "group_4",
        "group_5",
      ]);
      const sum = json.families.reduce((s: number, f: { logLik: number }) => s + f.logLik, 0);
      assertClose(sum, json.logLik, 1e-13, "per-family values sum to the total");
    }
  });
}

Deno.test("every result carries provenance: version, backend, threads, inputs with SHA-256, options", async () => {
  const r = await run([
    "loglik",
    "--tree",
    contractTree,
    "--pam",
    contractPam,
    "--gain",
    "0.5",
    "--loss",
    "1",
    "--json",
    "--threads",
    "1",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout).provenance;
  assert.equal(p.tool, "genecontent");
  assert.match(p.version, /^\d+\.\d+\.\d+/);
  assert.equal(p.backend, "native");
  assert.equal(p.threads, 1);
  assert.match(p.nativeLibrary, /libgenecontent/);
  assert.deepEqual(p.inputs.map((i: { role: string }) => i.role), ["tree", "pam"]);
  assert.equal(p.inputs[0].sha256, await sha256Hex(await Deno.readFile(contractTree)));
  assert.equal(p.inputs[1].sha256, await sha256Hex(await Deno.readFile(contractPam)));
  assert.equal(p.options.parameters.gain, 0.5);
  assert.equal(p.options.window.minPresent, 1);
});

Deno.test("fit --json reports gain, loss, pi1, logLik, intervals, backend, convergence; --out writes TSV", async () => {
  const dir = await Deno.makeTempDir();
  const out = `${dir}/fit.tsv`;
  const r = await run([
    "fit",
    "--tree",
    contractTree,
    "--pam",
    contractPam,
    "--json",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  for (const key of ["gain", "loss", "pi1", "logLik", "ci", "backend", "converged", "provenance"]) {
    assert.ok(key in json, `missing ${key}`);
  }
  assertClose(json.pi1, json.gain / (json.gain + json.loss), 1e-15);
  assert.ok(json.ci.gain[0] < json.gain && json.gain < json.ci.gain[1]);
  // The maximised logLik is at least the contract's value at (0.5, 1.0).
  assert.ok(json.logLik >= expected.logLik_corrected);
  const tsv = (await Deno.readTextFile(out)).trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(tsv[0], ["model", "parameter", "estimate", "lower", "upper", "level", "unit"]);
  assert.deepEqual(tsv[1].slice(5), ["0.95", "per unit branch length"]);
  assert.deepEqual(tsv[1].slice(0, 2), ["null", "gain"]);
  assert.equal(Number(tsv[1][2]), json.gain);
  const side = JSON.parse(await Deno.readTextFile(`${out}.provenance.json`));
  assert.equal(side.provenance.command, "fit");
});

Deno.test("no arguments, --help, help COMMAND and COMMAND --help print help and exit 0", async () => {
  const top = [[], ["--help"], ["-h"], ["help"]];
  const topResults = await runMany(top);
  for (const [i, args] of top.entries()) {
    const r = topResults[i];
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, /^genecontent \d+\.\d+\.\d+: gene gain and loss/);
    for (const name of Object.keys(COMMANDS)) assert.match(r.stdout, new RegExp(`\\n  ${name} `));
    assert.equal(r.stderr, "");
  }
  const names = Object.keys(COMMANDS);
  const perCommand = names.flatMap((name) => [[name, "--help"], [name, "-h"], ["help", name]]);
  const perCommandResults = await runMany(perCommand);
  for (const [i, args] of perCommand.entries()) {
    const name = args[0] === "help" ? args[1] : args[0];
    const r = perCommandResults[i];
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, new RegExp(`^genecontent ${name}: .*\\n\\nUsage: genecontent ${name} `));
    assert.match(r.stdout, /per unit branch length/, `${name} --help states the rate units`);
  }
});

Deno.test("usage errors of every command go to stderr with status 2 and nothing on stdout", async () => {
  const cases = [["fitt"], ["--bogus"], ["help", "fitt"]];
  for (const name of Object.keys(COMMANDS)) {
    cases.push([name, "--bogus-option"], [name, "stray-positional"]);
  }
  const results = await runMany(cases);
  for (const [i, args] of cases.entries()) {
    const r = results[i];
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^genecontent: error: /, args.join(" "));
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.equal(r.stdout, "", args.join(" "));
  }
});

Deno.test("--prune-to-shared prunes and reports the dropped names", async () => {
  const tree = await tempFile(
    "t.nwk",
    "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15,extra_tip:0.3):0.1);",
  );
  const refused = await run([
    "loglik",
    "--tree",
    tree,
    "--pam",
    contractPam,
    "--gain",
    "0.5",
    "--loss",
    "1",
  ]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /extra_tip/);
  assert.match(refused.stderr, /--prune-to-shared/);
  const r = await run([
    "loglik",
    "--tree",
    tree,
    "--pam",
    contractPam,
    "--gain",
    "0.5",
    "--loss",
    "1",
    "--json",
    "--prune-to-shared",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /pruned 1 tree tip.*extra_tip/);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.pruned.droppedTips, ["extra_tip"]);
  // Pruning extra_tip leaves exactly the contract's tree.
  assertClose(json.logLik, expected.logLik_corrected, 1e-12);
});

/** Bad inputs: each must exit 2 with one message naming the culprit and no stack trace. */
const badCases: { name: string; args: () => Promise<string[]>; pattern: RegExp }[] = [
  {
    name: "missing tree file",
    args: () => Promise.resolve(["fit", "--tree", "/nonexistent/tree.nwk", "--pam", contractPam]),
    pattern: /tree file '\/nonexistent\/tree\.nwk': no such file/,
  },
  {
    name: "negative branch length",
    args: async () => [
      "fit",
      "--tree",
      await tempFile(
        "neg.nwk",
        "((genome_A:-0.1,'genome B':0.3):0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);",
      ),
      "--pam",
      contractPam,
    ],
    pattern: /neg\.nwk.*line 1, column \d+.*negative/i,
  },
  {
    name: "missing branch length",
    args: async () => [
      "fit",
      "--tree",
      await tempFile(
        "nolen.nwk",
        "((genome_A,'genome B':0.3):0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);",
      ),
      "--pam",
      contractPam,
    ],
    pattern: /nolen\.nwk.*line 1.*genome_A|nolen\.nwk.*length/i,
  },
  {
    name: "duplicate tip",
    args: async () => [
      "fit",
      "--tree",
      await tempFile(
        "dup.nwk",
        "((genome_A:0.1,genome_A:0.3):0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);",
      ),
      "--pam",
      contractPam,
    ],
    pattern: /dup\.nwk.*genome_A/,
  },
  {
    name: "PAM taxon not in the tree",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile(
        "extra.tsv",
        "family\tgenome_A\tgenome B\tgenome_C\tgenome_D\tgenome_E\tgenome_Z\nf1\t1\t0\t0\t1\t0\t1\n",
      ),
    ],
    pattern: /genome_Z/,
  },
  {
    name: "tree tip missing from the PAM",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile(
        "short.tsv",
        "family\tgenome_A\tgenome B\tgenome_C\tgenome_D\nf1\t1\t0\t0\t1\n",
      ),
    ],
    pattern: /genome_E/,
  },
  {
    name: "a count in a 0/1 matrix",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile(
        "count.tsv",
        "family\tgenome_A\tgenome B\tgenome_C\tgenome_D\tgenome_E\nf1\t1\t0\t0\t1\t0\nfam_x\t1\t0\t2\t1\t0\n",
      ),
    ],
    pattern: /count\.tsv.*fam_x.*genome_C|count\.tsv.*genome_C.*fam_x/,
  },
  {
    name: "unbalanced parentheses",
    args: async () => [
      "fit",
      "--tree",
      await tempFile(
        "open.nwk",
        "((genome_A:0.12,'genome B':0.3):0.05,\n(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1;",
      ),
      "--pam",
      contractPam,
    ],
    pattern: /open\.nwk', line \d+, column \d+/,
  },
  {
    name: "a non-0/1 letter in a CSV cell",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile(
        "letter.csv",
        "family,genome_A,genome B,genome_C,genome_D,genome_E\nf1,1,0,0,1,0\nfam_y,1,x,0,1,0\n",
      ),
    ],
    pattern: /letter\.csv.*(fam_y.*genome B|genome B.*fam_y)/,
  },
  {
    name: "a duplicate family",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile(
        "dupfam.tsv",
        "family\tgenome_A\tgenome B\tgenome_C\tgenome_D\tgenome_E\ntwice\t1\t0\t0\t1\t0\ntwice\t1\t1\t0\t1\t0\n",
      ),
    ],
    pattern: /dupfam\.tsv.*twice/,
  },
  {
    name: "an orientation that names cannot decide",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile("nonames.tsv", "family\tx1\tx2\nf1\t1\t0\n"),
    ],
    pattern: /nonames\.tsv.*--orientation/,
  },
  {
    name: "a family never present",
    args: async () => [
      "fit",
      "--tree",
      contractTree,
      "--pam",
      await tempFile(
        "zero.tsv",
        "family\tgenome_A\tgenome B\tgenome_C\tgenome_D\tgenome_E\nf1\t1\t0\t0\t1\t0\nghost\t0\t0\t0\t0\t0\n",
      ),
    ],
    pattern: /ghost/,
  },
  {
    name: "unknown option",
    args: () =>
      Promise.resolve(["fit", "--tree", contractTree, "--pam", contractPam, "--gian", "1"]),
    pattern: /--gian/,
  },
  {
    name: "bad rate",
    args: () =>
      Promise.resolve([
        "loglik",
        "--tree",
        contractTree,
        "--pam",
        contractPam,
        "--gain=-1",
        "--loss",
        "0",
      ]),
    pattern: /--gain must be a number > 0; got '-1'/,
  },
  {
    name: "missing --pam",
    args: () => Promise.resolve(["fit", "--tree", contractTree]),
    pattern: /needs --pam/,
  },
  {
    name: "unknown command",
    args: () => Promise.resolve(["fitt"]),
    pattern: /Unknown command 'fitt'.*\nUsage: genecontent COMMAND/,
  },
  {
    name: "an option before the command",
    args: () => Promise.resolve(["--tree", contractTree]),
    pattern: /Option '--tree' is not a command/,
  },
  {
    name: "a positional argument",
    args: () => Promise.resolve(["fit", "--tree", contractTree, "--pam", contractPam, "extra"]),
    pattern: /extra/,
  },
  {
    name: "native backend demanded but not loadable",
    args: () =>
      Promise.resolve([
        "loglik",
        "--tree",
        contractTree,
        "--pam",
        contractPam,
        "--gain",
        "1",
        "--loss",
        "1",
        "--backend",
        "native",
      ]),
    pattern: /native backend cannot be loaded.*GENECONTENT_LIB=\/nonexistent\/lib\.so/,
  },
];

for (const c of badCases) {
  Deno.test(`bad input: ${c.name} exits 2 with a message naming it`, async () => {
    const env: Record<string, string> = c.name.startsWith("native backend")
      ? { GENECONTENT_LIB: "/nonexistent/lib.so" }
      : {};
    const r = await run(await c.args(), env);
    assert.equal(r.code, 2, `exit status; stderr: ${r.stderr}`);
    assert.match(r.stderr, /^genecontent: error: /m);
    assert.match(r.stderr, c.pattern);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.equal(r.stdout, "");
  });
}

Deno.test("without the native library, auto falls back to TypeScript with a one-line notice", async () => {
  const r = await run(
    [
      "loglik",
      "--tree",
      contractTree,
      "--pam",
      contractPam,
      "--gain",
      "0.5",
      "--loss",
      "1.0",
      "--json",
    ],
    { GENECONTENT_LIB: "/nonexistent/lib.so" },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).backend, "ts");
  const notices = r.stderr.trim().split("\n");
  assert.equal(notices.length, 1);
  assert.match(notices[0], /using the TypeScript backend/);
  assertClose(JSON.parse(r.stdout).logLik, expected.logLik_corrected, 1e-12);
});

// ---------------------------------------------------------------------------------------------
// Outputs never destroy input, and go where the user asks.

/** A fresh folder holding copies of the contract tree and PAM. */
async function workFolder(): Promise<{ dir: string; tree: string; pam: string }> {
  const dir = await Deno.makeTempDir({ prefix: "genecontent_cli_" });
  await Deno.copyFile(contractTree, `${dir}/tree.nwk`);
  await Deno.copyFile(contractPam, `${dir}/pam.tsv`);
  return { dir, tree: `${dir}/tree.nwk`, pam: `${dir}/pam.tsv` };
}

async function listing(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const loglikArgs = (tree: string, pam: string) => [
  "loglik",
  "--tree",
  tree,
  "--pam",
  pam,
  "--gain",
  "0.5",
  "--loss",
  "1",
  "--backend",
  "ts",
];

Deno.test("an output onto an input is refused, even with --force, and the input is unchanged", async () => {
  const { dir, tree, pam } = await workFolder();
  const pamBytes = await Deno.readFile(pam);
  const treeBytes = await Deno.readFile(tree);
  await Deno.symlink(pam, `${dir}/link_to_pam.tsv`);
  await Deno.link(tree, `${dir}/hard_link_to_tree.nwk`);
  const cases: [string[], RegExp][] = [
    [["--out", "pam.tsv"], /--out 'pam\.tsv' is the PAM file being read \('.*\/pam\.tsv'\)/],
    [["--out", pam, "--force"], /is the PAM file being read.*even with --force/],
    [["--out", "tree.nwk", "--force"], /--out 'tree\.nwk' is the tree file being read/],
    [["--out", "link_to_pam.tsv", "--force"], /'link_to_pam\.tsv' is the PAM file/],
    [["--out", "hard_link_to_tree.nwk", "--force"], /'hard_link_to_tree\.nwk' is the tree file/],
    [["--out", "sub/../pam.tsv", "--force"], /is the PAM file being read/],
  ];
  await Deno.mkdir(`${dir}/sub`);
  for (const [extra, pattern] of cases) {
    const fit = await run(
      ["fit", "--tree", "tree.nwk", "--pam", "pam.tsv", "--backend", "ts", ...extra],
      {},
      dir,
    );
    assert.equal(fit.code, 2, `${extra.join(" ")}: ${fit.stderr}`);
    assert.match(fit.stderr, pattern);
    assert.equal(fit.stdout, "");
  }
  // The sidecar follows the same rule: FILE.provenance.json may not be an input either.
  await Deno.rename(pam, `${dir}/x.provenance.json`);
  const side = await run(
    [...loglikArgs(tree, `${dir}/x.provenance.json`), "--out", `${dir}/x`, "--force"],
  );
  assert.equal(side.code, 2, side.stderr);
  assert.match(
    side.stderr,
    /--out 'x\.provenance\.json'|--out '.*\/x\.provenance\.json' is the PAM/,
  );
  await Deno.rename(`${dir}/x.provenance.json`, pam);
  assert.deepEqual(await Deno.readFile(pam), pamBytes);
  assert.deepEqual(await Deno.readFile(tree), treeBytes);
  assert.deepEqual(await listing(dir), [
    "hard_link_to_tree.nwk",
    "link_to_pam.tsv",
    "pam.tsv",
    "sub",
    "tree.nwk",
  ]);
});

Deno.test("an existing output is replaced only with --force; empty names, clashes and missing folders are errors", async () => {
  const { dir, tree, pam } = await workFolder();
  await Deno.writeTextFile(`${dir}/old.tsv`, "keep me\n");
  const kept = await runInProcess([...loglikArgs(tree, pam), "--out", `${dir}/old.tsv`]);
  assert.equal(kept.code, 2);
  assert.match(kept.stderr, /--out '.*old\.tsv' already exists: pass --force to replace it/);
  assert.equal(await Deno.readTextFile(`${dir}/old.tsv`), "keep me\n");
  // Only the sidecar exists: refused too, and nothing is written.
  await Deno.writeTextFile(`${dir}/new.tsv.provenance.json`, "keep\n");
  const sidecar = await runInProcess([...loglikArgs(tree, pam), "--out", `${dir}/new.tsv`]);
  assert.equal(sidecar.code, 2);
  assert.match(sidecar.stderr, /new\.tsv\.provenance\.json' already exists/);
  assert.equal(await Deno.readTextFile(`${dir}/new.tsv.provenance.json`), "keep\n");
  await assert.rejects(Deno.stat(`${dir}/new.tsv`), Deno.errors.NotFound);

  const forced = await runInProcess([
    ...loglikArgs(tree, pam),
    "--out",
    `${dir}/old.tsv`,
    "--force",
  ]);
  assert.equal(forced.code, 0, forced.stderr);
  const table = (await Deno.readTextFile(`${dir}/old.tsv`)).trim().split("\n");
  assert.equal(table[0], "family\tpresent\tobserved\tlogLik");
  assert.equal(table.length, 6);
  const side = JSON.parse(await Deno.readTextFile(`${dir}/old.tsv.provenance.json`));
  assertClose(side.logLik, expected.logLik_corrected, 1e-12);

  const errors: [string[], RegExp][] = [
    [["--out", ""], /--out needs a file name \(or '-' for stdout\); got an empty string/],
    [["--out="], /--out needs a file name/],
    [["--out", `${dir}/nowhere/x.tsv`], /folder '.*\/nowhere' does not exist/],
    [["--out", dir, "--force"], /is a folder/],
    [["--json", "--out", "-"], /--json and --out would both write to stdout/],
  ];
  for (const [extra, pattern] of errors) {
    const r = await runInProcess([...loglikArgs(tree, pam), ...extra]);
    assert.equal(r.code, 2, `${extra.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
  const clash = await runInProcess([
    "fit",
    "--tree",
    tree,
    "--pam",
    pam,
    "--backend",
    "ts",
    "--no-ci",
    "--out",
    `${dir}/same.tsv`,
    "--per-family",
    `${dir}/same.tsv`,
  ]);
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /--out and --per-family would both write '.*same\.tsv'/);
  // No temporary file is ever left behind.
  assert.deepEqual(await listing(dir), [
    "new.tsv.provenance.json",
    "old.tsv",
    "old.tsv.provenance.json",
    "pam.tsv",
    "tree.nwk",
  ]);
});

Deno.test("'-' sends a table to stdout (the text summary then goes to stderr)", async () => {
  const { tree, pam } = await workFolder();
  const r = await runInProcess([...loglikArgs(tree, pam), "--out", "-"]);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(rows[0], ["family", "present", "observed", "logLik"]);
  assert.deepEqual(rows[3].slice(0, 3), ["group_3", "2", "4"]); // genome_E is missing
  const sum = rows.slice(1).reduce((s, row) => s + Number(row[3]), 0);
  // Five values printed with full precision, summed: rounding of order 1e-15.
  assertClose(sum, expected.logLik_corrected, 1e-12);
  assert.match(r.stderr, /^logLik -15\.39869/m);
  const fit = await runInProcess([
    "fit",
    "--tree",
    tree,
    "--pam",
    pam,
    "--backend",
    "ts",
    "--no-ci",
    "--per-family",
    "-",
  ]);
  assert.equal(fit.code, 0, fit.stderr);
  assert.match(fit.stdout, /^family\tpresent\tobserved\tlogLik\ngroup_1\t2\t5\t-/);
  assert.match(fit.stderr, /^parameter +estimate/m);
});

// ---------------------------------------------------------------------------------------------
// Options that conflict, repeat or ask too much.

Deno.test("conflicting or repeated options are errors naming them", async () => {
  const { tree, pam } = await workFolder();
  const base = ["--tree", tree, "--pam", pam];
  const cases: [string[], RegExp][] = [
    [
      ["fit", ...base, "--min-present", "2", "--no-ascertainment"],
      /Options --min-present and --no-ascertainment cannot be used together/,
    ],
    [
      ["loglik", ...base, "--gain", "1", "--loss", "1", "--no-ascertainment", "--min-present=0"],
      /Options --min-present and --no-ascertainment/,
    ],
    [["fit", ...base, "--level", "0.9", "--no-ci"], /Options --level and --no-ci/],
    [["fit", ...base, "--threads", "1", "--backend", "ts"], /--threads and --backend ts/],
    [["bench", ...base, "--algorithm", "dense", "--backend", "ts"], /--algorithm and --backend ts/],
    [
      ["fit", ...base, "--level", "0.9", "--level=0.8"],
      /Option --level is given twice \(--level 0\.9, --level 0\.8\)/,
    ],
    [["fit", ...base, "--json", "--json"], /Option --json is given twice/],
    [["loglik", ...base, "--gain", "1", "--loss", "1", "--tree", tree], /--tree is given twice/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runInProcess(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stdout, "");
  }
});

Deno.test("--threads above the cores is capped to the cores with a notice", async () => {
  const cores = navigator.hardwareConcurrency;
  const { tree, pam } = await workFolder();
  const r = await run([
    "loglik",
    "--tree",
    tree,
    "--pam",
    pam,
    "--gain",
    "0.5",
    "--loss",
    "1",
    "--json",
    "--backend",
    "native",
    "--threads",
    "999",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`--threads 999 is more than the ${cores} CPU core\\(s\\) .*; using ${cores}\\.`),
  );
  const json = JSON.parse(r.stdout);
  // The thread count the native dataset reports, not the one the command line asked for.
  assert.equal(json.provenance.threads, cores);
  assert.equal(json.provenance.options.threads, cores);
  assertClose(json.logLik, expected.logLik_corrected, 1e-12);
});

// ---------------------------------------------------------------------------------------------
// A non-finite log-likelihood is never printed as a result.

Deno.test("zero branch lengths: loglik and fit refuse instead of printing -Infinity or NaN", async () => {
  const allZero = await tempFile(
    "zero.nwk",
    "((genome_A:0,'genome B':0)n1:0,(genome_C:0,genome_D:0,genome_E:0):0);",
  );
  const cherry = await tempFile(
    "cherry.nwk",
    "((genome_A:0,'genome B':0)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15):0.1);",
  );
  for (const backend of ["native", "ts"]) {
    for (const command of ["loglik", "fit"]) {
      const extra = command === "loglik" ? ["--gain", "0.5", "--loss", "1"] : [];
      const zero = await runInProcess([
        command,
        "--tree",
        allZero,
        "--pam",
        contractPam,
        "--backend",
        backend,
        ...extra,
      ]);
      assert.equal(zero.code, 2, `${command} ${backend}: ${zero.stderr}`);
      assert.match(zero.stderr, /Every branch of the tree '.*zero\.nwk' has length 0/);
      assert.equal(zero.stdout, "", "no result printed");
      assert.doesNotMatch(zero.stderr, /NaN/);
      // genome_A and genome B are joined only by zero-length branches; of the contract's
      // families, only group_3 has them differ (1, 0).
      const split = await runInProcess([
        command,
        "--tree",
        cherry,
        "--pam",
        contractPam,
        "--backend",
        backend,
        "--json",
        ...extra,
      ]);
      assert.equal(split.code, 2, `${command} ${backend}: ${split.stderr}`);
      assert.match(
        split.stderr,
        /1 family has probability 0 at any rates on tree '.*cherry\.nwk' \(logLik -Infinity\): group_3\. For example, group_3 is present in genome_A and absent in genome B/,
      );
      assert.equal(split.stdout, "");
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The plain-text result of fit.

Deno.test("fit's text output has a header line, the interval level and the rate units", async () => {
  for (const [extra, level] of [[[], "95%"], [["--level", "0.9"], "90%"]] as const) {
    const r = await runInProcess([
      "fit",
      "--tree",
      contractTree,
      "--pam",
      contractPam,
      "--backend",
      "ts",
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(
      lines[0],
      new RegExp(
        `^# genecontent fit: model null, 5 families x 5 genomes, .*; ${level} profile-likelihood`,
      ),
    );
    assert.match(
      lines[1],
      new RegExp(`^parameter +estimate +${level} lower +${level} upper +unit$`),
    );
    assert.match(lines[2], /^gain +\d\S* +\S+ +\S+ +per unit branch length$/);
    assert.match(lines[3], /^loss +\d\S* +\S+ +\S+ +per unit branch length$/);
    assert.match(lines[4], /^pi1 +0\.\d+ +\S+ +\S+ +probability of presence$/);
    assert.match(lines[5], /^logLik +-\d+\.\d+ +- +- +natural log$/);
    assert.match(lines[6], /^AIC +\d+\.\d+ +- +-$/);
    assert.match(lines[7], /^BIC +\d+\.\d+ +- +-$/);
  }
});

// ---------------------------------------------------------------------------------------------
// Every documented option does what --help says: one case per option of every command, and
// the help, the parser and this table list the same options.

/**
 * The options a help text documents: on each option line (two spaces, then a dash), every
 * `--name` before the description (which starts after a run of two or more spaces).
 */
function documentedOptions(help: string): string[] {
  const names = new Set<string>();
  for (const line of help.split("\n")) {
    const m = /^ {2}(-.*?)(?: {2,}|$)/.exec(line);
    if (!m) continue;
    for (const [, name] of m[1].matchAll(/--([a-z][a-z-]*)/g)) names.add(name);
  }
  return [...names].sort();
}

interface Inputs {
  readonly dir: string;
  readonly tree: string;
  readonly pam: string;
}
type Run = Awaited<ReturnType<typeof run>>;
interface OptionCase {
  /** Arguments after the command's base arguments (tree and PAM, and loglik's rates). */
  readonly runs: (inputs: Inputs) => Promise<string[][]> | string[][];
  /** Checks the runs' results (in the same order). */
  readonly check: (results: Run[], inputs: Inputs) => Promise<void> | void;
}

const jsonOf = (r: Run) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};
const refused = (r: Run, pattern: RegExp) => {
  assert.equal(r.code, 2, `expected a refusal; stderr: ${r.stderr}`);
  assert.match(r.stderr, pattern);
};

/** The contract PAM with taxa as rows and families as columns. */
async function transposedPam(dir: string): Promise<string> {
  const rows = (await Deno.readTextFile(contractPam)).trim().split("\n").map((l) => l.split("\t"));
  const t = rows[0].map((_, c) => rows.map((r) => r[c]).join("\t")).join("\n") + "\n";
  await Deno.writeTextFile(`${dir}/transposed.tsv`, t.replace(/^family/, "genome"));
  return `${dir}/transposed.tsv`;
}

function sharedCases(command: string): Record<string, OptionCase> {
  const family = command === "bench" ? "families" : "nFamilies";
  return {
    tree: {
      runs: () => [["--json"]],
      check: async ([r], { tree }) => {
        const input = jsonOf(r).provenance.inputs[0];
        assert.equal(input.role, "tree");
        assert.equal(input.sha256, await sha256Hex(await Deno.readFile(tree)));
      },
    },
    "tree-index": {
      runs: async ({ dir }) => {
        // Two trees in one file: a star first, the contract's tree second.
        const two = `${dir}/two.nwk`;
        const star = "(genome_A:1,'genome B':1,genome_C:1,genome_D:1,genome_E:1);\n";
        await Deno.writeTextFile(two, star + (await Deno.readTextFile(contractTree)));
        return [["--tree", two, "--tree-index", "2", "--json"], ["--tree", two]];
      },
      check: ([second, none]) => {
        const json = jsonOf(second);
        if (command === "loglik") assertClose(json.logLik, expected.logLik_corrected, 1e-12);
        assert.equal(json.provenance.options.treeIndex, 2);
        assert.match(second.stderr, /two\.nwk' holds 2 trees; read tree 2/);
        refused(none, /two\.nwk/);
      },
    },
    pam: {
      runs: () => [["--json"]],
      check: async ([r], { pam }) => {
        const input = jsonOf(r).provenance.inputs[1];
        assert.equal(input.role, "pam");
        assert.equal(input.sha256, await sha256Hex(await Deno.readFile(pam)));
      },
    },
    orientation: {
      runs: async ({ dir }) => {
        const t = await transposedPam(dir);
        return [
          ["--pam", t, "--orientation", "families-as-columns", "--json"],
          ["--pam", t, "--orientation", "families-as-rows"],
        ];
      },
      check: ([asColumns, asRows]) => {
        const json = jsonOf(asColumns);
        assert.equal(json[family], 5);
        if (command === "loglik") assertClose(json.logLik, expected.logLik_corrected, 1e-12);
        refused(asRows, /transposed\.tsv/);
      },
    },
    "prune-to-shared": {
      runs: async ({ dir }) => {
        const t = `${dir}/extra_tip.nwk`;
        await Deno.writeTextFile(
          t,
          "((genome_A:0.12,'genome B':0.3)n1:0.05,(genome_C:0.2,genome_D:0.07,genome_E:0.15,extra_tip:0.3):0.1);",
        );
        return [["--tree", t, "--prune-to-shared", "--json"], ["--tree", t]];
      },
      check: ([pruned, plain]) => {
        assert.deepEqual(jsonOf(pruned).pruned.droppedTips, ["extra_tip"]);
        assert.match(pruned.stderr, /pruned 1 tree tip\(s\) absent from the PAM: extra_tip/);
        refused(plain, /extra_tip.*--prune-to-shared|--prune-to-shared.*extra_tip/s);
      },
    },
    binarize: {
      runs: async ({ dir }) => {
        const counts = `${dir}/counts.tsv`;
        const text = await Deno.readTextFile(contractPam);
        await Deno.writeTextFile(counts, text.replace("group_4\t1\t1\t1", "group_4\t3\t2\t7"));
        return [["--pam", counts, "--binarize", "--json"], ["--pam", counts]];
      },
      check: ([binarized, plain]) => {
        const json = jsonOf(binarized);
        // Counts > 0 become presence: exactly the contract's matrix again.
        if (command === "loglik") assertClose(json.logLik, expected.logLik_corrected, 1e-12);
        assert.equal(json[family], 5);
        refused(plain, /counts\.tsv.*group_4|counts\.tsv.*--binarize/);
      },
    },
    backend: {
      runs: () => [["--backend", "ts", "--json"], ["--backend", "native", "--json"]],
      check: ([ts, native]) => {
        assert.equal(jsonOf(ts).backend, "ts");
        assert.equal(jsonOf(native).backend, "native");
      },
    },
    threads: {
      runs: () => [["--backend", "native", "--threads", "1", "--json"]],
      check: ([r]) => {
        const json = jsonOf(r);
        assert.equal(json.provenance.threads, 1);
        assert.equal(json.threads, 1);
      },
    },
    json: {
      runs: () => [["--json"], []],
      check: ([json, text]) => {
        assert.equal(jsonOf(json).provenance.command, command);
        assert.equal(text.code, 0, text.stderr);
        assert.throws(() => JSON.parse(text.stdout));
      },
    },
    out: {
      runs: ({ dir }) => [["--out", `${dir}/out.tsv`]],
      check: async ([r], { dir }) => {
        assert.equal(r.code, 0, r.stderr);
        const header = (await Deno.readTextFile(`${dir}/out.tsv`)).split("\n")[0];
        assert.equal(
          header,
          {
            fit: "model\tparameter\testimate\tlower\tupper\tlevel\tunit",
            loglik: "family\tpresent\tobserved\tlogLik",
            bench: "measure\trepeats\tmedianMs\tminMs\tmaxMs",
          }[command],
        );
        const side = JSON.parse(await Deno.readTextFile(`${dir}/out.tsv.provenance.json`));
        assert.equal(side.provenance.command, command);
      },
    },
    force: {
      runs: async ({ dir }) => {
        await Deno.writeTextFile(`${dir}/old.tsv`, "old\n");
        await Deno.writeTextFile(`${dir}/old.tsv.provenance.json`, "old\n");
        return [["--out", `${dir}/old.tsv`], ["--out", `${dir}/old.tsv`, "--force"]];
      },
      check: async ([plain, forced], { dir }) => {
        refused(plain, /old\.tsv' already exists: pass --force/);
        assert.equal(forced.code, 0, forced.stderr);
        assert.notEqual(await Deno.readTextFile(`${dir}/old.tsv`), "old\n");
        const side = JSON.parse(await Deno.readTextFile(`${dir}/old.tsv.provenance.json`));
        assert.equal(side.provenance.command, command);
      },
    },
    help: {
      runs: () => [["--help"]],
      check: ([r]) => {
        assert.equal(r.code, 0);
        assert.equal(r.stdout.trim(), COMMANDS[command].help);
      },
    },
  };
}

const OPTION_CASES: Record<string, Record<string, OptionCase>> = {
  fit: {
    ...sharedCases("fit"),
    "min-present": {
      runs: async ({ dir }) => {
        // Without group_5 (present once), every family is present at least twice.
        const text = await Deno.readTextFile(contractPam);
        await Deno.writeTextFile(`${dir}/twice.tsv`, text.replace(/group_5.*\n/, ""));
        return [
          ["--pam", `${dir}/twice.tsv`, "--min-present", "2", "--no-ci", "--json"],
          ["--pam", `${dir}/twice.tsv`, "--no-ci", "--json"],
        ];
      },
      check: ([two, one]) => {
        const a = jsonOf(two);
        const b = jsonOf(one);
        assert.equal(a.minPresent, 2);
        assert.equal(a.provenance.options.window.minPresent, 2);
        assert.equal(a.ascertainment, "at least 2 present");
        assert.equal(b.minPresent, 1);
        // A stronger conditioning explains more of the data: a higher maximised likelihood.
        assert.ok(a.logLik > b.logLik, `${a.logLik} vs ${b.logLik}`);
      },
    },
    "no-ascertainment": {
      runs: () => [["--no-ascertainment", "--no-ci", "--json"]],
      check: ([r]) => {
        const json = jsonOf(r);
        assert.equal(json.minPresent, 0);
        assert.equal(json.ascertainment, "none");
        // The uncorrected maximum is at least the uncorrected contract value at (0.5, 1).
        assert.ok(json.logLik >= expected.logLik_uncorrected);
      },
    },
    level: {
      runs: () => [["--level", "0.5", "--json"], ["--json"]],
      check: ([half, default95]) => {
        const a = jsonOf(half).ci;
        const b = jsonOf(default95).ci;
        assert.equal(a.level, 0.5);
        assert.equal(b.level, 0.95);
        assert.ok(a.loss[0] > b.loss[0] && a.loss[1] <= b.loss[1], "a 50% interval is inside");
      },
    },
    "no-ci": {
      runs: () => [["--no-ci", "--json"]],
      check: ([r]) => assert.equal(jsonOf(r).ci, null),
    },
    model: {
      runs: () => [["--model", "gamma4", "--no-ci", "--json"], ["--no-ci", "--json"]],
      check: ([gamma, plain]) => {
        const g = jsonOf(gamma);
        const n = jsonOf(plain);
        assert.equal(g.model, "gamma4");
        assert.equal(g.nParams, 3);
        assertClose(g.aic, 2 * 3 - 2 * g.logLik, 1e-12);
        assertClose(g.bic, 3 * Math.log(5) - 2 * g.logLik, 1e-12);
        assert.deepEqual(Object.keys(g.parameters), ["gain", "loss", "alpha"]);
        // gamma4 contains the null model (alpha -> infinity): its maximum is at least as high,
        // up to the fitters' stopping rule (1e-6 in log-likelihood).
        assert.ok(g.logLik >= n.logLik - 1e-6, `${g.logLik} vs ${n.logLik}`);
      },
    },
    completeness: {
      runs: async ({ dir }) => {
        const all = `${dir}/complete.tsv`;
        const genomes = ["genome_A", "genome B", "genome_C", "genome_D", "genome_E"];
        await Deno.writeTextFile(all, genomes.map((g) => `${g}\t1`).join("\n") + "\n");
        return [["--completeness", all, "--no-ci", "--json"], ["--no-ci", "--json"]];
      },
      check: ([all, plain]) => {
        // Complete genomes: the same likelihood, so the same maximum (to the stopping rule).
        assertClose(jsonOf(all).logLik, jsonOf(plain).logLik, 1e-6);
        assert.equal(jsonOf(all).provenance.inputs[2].role, "completeness");
      },
    },
    "max-present": {
      runs: () => [["--max-present", "5", "--no-ci", "--json"], ["--max-present", "4"]],
      check: ([five, four]) => {
        assert.equal(jsonOf(five).maxPresent, 5);
        refused(four, /group_4/);
      },
    },
    compare: {
      runs: () => [["--compare", "null,gamma4", "--no-ci", "--json"], ["--compare", "null"]],
      check: ([both, one]) => {
        const json = jsonOf(both);
        assert.deepEqual(json.models.map((m: { model: string }) => m.model), ["null", "gamma4"]);
        assert.deepEqual(json.table.map((r: { model: string }) => r.model), ["null", "gamma4"]);
        const [n, g] = json.models;
        assert.equal(json.tests.length, 1);
        const t = json.tests[0];
        assert.equal(t.nullModel, "null");
        assert.equal(t.alternative, "gamma4");
        assertClose(t.statistic, Math.max(0, 2 * (g.logLik - n.logLik)), 1e-12);
        assert.ok(t.pValue >= 0 && t.pValue <= 1);
        const best = Math.min(n.aic, g.aic);
        assertClose(json.table[0].dAic, n.aic - best, 1e-9);
        refused(one, /at least two models/);
      },
    },
    "optimize-branch-lengths": {
      runs: () => [
        ["--optimize-branch-lengths", "--no-ci", "--json"],
        ["--no-ci", "--json"],
        ["--optimize-branch-lengths", "--compare", "null,gamma4"],
      ],
      check: async ([fitted, plain, both]) => {
        const a = jsonOf(fitted);
        const b = jsonOf(plain);
        // Fitting the lengths too can only raise the maximum (to the fitters' stopping rule).
        assert.ok(a.logLik >= b.logLik - 1e-6, `${a.logLik} vs ${b.logLik}`);
        assert.ok(a.branchLengths.logLik >= a.branchLengths.startLogLik);
        // The contract tree's total length (0.99) is held.
        assertClose(a.branchLengths.totalLength, 0.99, 1e-12);
        assert.equal(a.parameters.gain.unit, "per unit branch length of the fitted tree");
        assert.equal(a.units.rates, "per unit branch length of the fitted tree");
        // loglik on the written tree at the fitted rates gives the reported maximum again.
        const dir = await Deno.makeTempDir();
        await Deno.writeTextFile(`${dir}/fitted.nwk`, a.branchLengths.newick);
        const again = jsonOf(
          await runInProcess([
            "loglik",
            "--tree",
            `${dir}/fitted.nwk`,
            "--pam",
            contractPam,
            "--gain",
            String(a.gain),
            "--loss",
            String(a.loss),
            "--json",
          ]),
        );
        assertClose(again.logLik, a.logLik, 1e-12);
        refused(both, /branch lengths are fitted under one model/);
      },
    },
    "tree-out": {
      runs: ({ dir }) => [
        ["--optimize-branch-lengths", "--tree-out", `${dir}/fitted.nwk`, "--no-ci", "--json"],
        ["--tree-out", `${dir}/other.nwk`],
      ],
      check: async ([written, alone], { dir }) => {
        const json = jsonOf(written);
        const text = await Deno.readTextFile(`${dir}/fitted.nwk`);
        assert.equal(text.trim(), json.branchLengths.newick);
        // Names and the internal label of the input are kept; only lengths change.
        for (const name of ["genome_A", "'genome B'", "genome_C", "genome_D", "genome_E", "n1"]) {
          assert.ok(text.includes(name), `${name} in ${text}`);
        }
        const side = JSON.parse(await Deno.readTextFile(`${dir}/fitted.nwk.provenance.json`));
        assert.equal(side.provenance.command, "fit");
        refused(alone, /--tree-out writes the tree fitted by --optimize-branch-lengths/);
      },
    },
    "per-family": {
      runs: ({ dir }) => [["--per-family", `${dir}/families.tsv`, "--no-ci", "--json"]],
      check: async ([r], { dir }) => {
        const json = jsonOf(r);
        const rows = (await Deno.readTextFile(`${dir}/families.tsv`)).trim().split("\n")
          .map((l) => l.split("\t"));
        assert.deepEqual(rows[0], ["family", "present", "observed", "logLik"]);
        assert.deepEqual(rows.slice(1).map((row) => row.slice(0, 3)), [
          ["group_1", "2", "5"],
          ["group_2", "3", "5"],
          ["group_3", "2", "4"],
          ["group_4", "5", "5"],
          ["group_5", "1", "5"],
        ]);
        // The values are the log-likelihoods at the estimates: a second command, loglik at
        // the fitted rates, gives them again (full-precision rates, the same arithmetic).
        const again = jsonOf(
          await runInProcess([
            "loglik",
            "--tree",
            contractTree,
            "--pam",
            contractPam,
            "--gain",
            String(json.gain),
            "--loss",
            String(json.loss),
            "--json",
          ]),
        );
        rows.slice(1).forEach((row, f) => {
          assertClose(Number(row[3]), again.families[f].logLik, 1e-12, row[0]);
        });
        const side = JSON.parse(await Deno.readTextFile(`${dir}/families.tsv.provenance.json`));
        assert.equal(side.provenance.command, "fit");
      },
    },
  },
  loglik: {
    ...sharedCases("loglik"),
    gain: {
      runs: () => [["--json"], ["--gain", "0.6", "--json"]],
      check: ([contract, other]) => {
        assertClose(jsonOf(contract).logLik, expected.logLik_corrected, 1e-12);
        const json = jsonOf(other);
        assert.equal(json.parameters.gain, 0.6);
        assert.ok(Math.abs(json.logLik - expected.logLik_corrected) > 1e-3);
      },
    },
    loss: {
      runs: () => [["--loss", "1.5", "--json"]],
      check: ([r]) => {
        const json = jsonOf(r);
        assert.equal(json.parameters.loss, 1.5);
        assertClose(json.pi1, 0.5 / 2, 1e-15);
        assert.ok(Math.abs(json.logLik - expected.logLik_corrected) > 1e-3);
      },
    },
    "min-present": {
      runs: () => [["--min-present", "0", "--json"]],
      check: ([r]) => assertClose(jsonOf(r).logLik, expected.logLik_uncorrected, 1e-12),
    },
    "no-ascertainment": {
      runs: () => [["--no-ascertainment", "--json"]],
      check: ([r]) => assertClose(jsonOf(r).logLik, expected.logLik_uncorrected, 1e-12),
    },
    model: {
      runs: () => [
        ["--model", "gamma4", "--alpha", "0.5", "--json"],
        ["--model", "gamma4", "--alpha", "0.5", "--no-ascertainment", "--json"],
      ],
      check: ([corrected, raw]) => {
        // Values of an independent implementation (the contract); five families summed.
        const g = expectedModels["gamma4_alpha0.5"];
        const a = jsonOf(corrected);
        assert.equal(a.model, "gamma4");
        assertClose(a.logLik, g.logLik_corrected, 1e-12);
        assertClose(jsonOf(raw).logLik, g.logLik_uncorrected, 1e-12);
        a.rates.forEach((r: number, c: number) => assertClose(r, g.categoryRates[c], 1e-12));
        for (const f of a.families) {
          const sum = Object.values(f.posterior as Record<string, number>).reduce((x, y) => x + y);
          assertClose(sum, 1, 1e-14);
        }
      },
    },
    alpha: {
      runs: () => [
        ["--model", "gamma4", "--alpha", "1e8", "--json"],
        ["--model", "gamma4", "--alpha", "2", "--json"],
      ],
      check: ([flat, two]) => {
        // As alpha grows the categories tend to rate 1 (spread ~ alpha^-1/2) and the value to
        // the null model's, with a difference of order 1/alpha = 1e-8.
        assert.ok(Math.abs(jsonOf(flat).logLik - expected.logLik_corrected) < 1e-6);
        assert.ok(Math.abs(jsonOf(two).logLik - expected.logLik_corrected) > 1e-3);
      },
    },
    pinv: {
      runs: () => [
        ["--model", "null+inv", "--pinv", "0.2", "--json"],
        ["--json"],
        ["--no-ascertainment", "--json"],
      ],
      check: ([inv, corrected, raw]) => {
        // The invariant class holds a family only if every observed cell is present (group_4);
        // its column probability is 1 and it is always observable, so the corrected value is
        // log((1-p) L_f + p I_f) - log((1-p) P_f + p), with L_f and P_f = L_f / exp(corrected_f)
        // from the null model's uncorrected and corrected values.
        const p = 0.2;
        const a = jsonOf(inv).families;
        const c = jsonOf(corrected).families;
        const u = jsonOf(raw).families;
        a.forEach(
          (f: { family: string; logLik: number; present: number; observed: number }, i: number) => {
            const lf = Math.exp(u[i].logLik);
            const pf = lf / Math.exp(c[i].logLik);
            const everywhere = f.present === f.observed ? 1 : 0;
            const want = Math.log((1 - p) * lf + p * everywhere) - Math.log((1 - p) * pf + p);
            assertClose(f.logLik, want, 1e-12, f.family);
          },
        );
      },
    },
    "false-presence": {
      runs: () => [
        [
          "--model",
          "null+error",
          "--false-presence",
          "1e-10",
          "--false-absence",
          "1e-10",
          "--json",
        ],
        ["--model", "null+error", "--false-presence", "0.1", "--false-absence", "1e-10", "--json"],
      ],
      check: ([tiny, large]) => {
        // d logLik / d error is bounded by a few hundred on 25 cells, so error rates of 1e-10
        // move the value by well under 1e-6.
        assert.ok(Math.abs(jsonOf(tiny).logLik - expected.logLik_corrected) < 1e-6);
        assert.ok(Math.abs(jsonOf(large).logLik - expected.logLik_corrected) > 1e-2);
      },
    },
    "false-absence": {
      runs: () => [
        ["--model", "null+error", "--false-presence", "1e-10", "--false-absence", "0.3", "--json"],
      ],
      check: ([r]) => {
        assert.ok(Math.abs(jsonOf(r).logLik - expected.logLik_corrected) > 1e-2);
        assert.equal(jsonOf(r).parameters.falseAbsence, 0.3);
      },
    },
    gains: {
      runs: () => [[
        "--model",
        "mixture2",
        "--gains",
        "0.5,0.5",
        "--losses",
        "1,1",
        "--weights",
        "0.3,0.7",
        "--json",
      ]],
      // Two identical classes are the null model.
      check: ([r]) => assertClose(jsonOf(r).logLik, expected.logLik_corrected, 1e-12),
    },
    losses: {
      runs: () => [[
        "--model",
        "mixture2",
        "--gains",
        "0.5,0.5",
        "--losses",
        "1,3",
        "--weights",
        "0.5,0.5",
        "--json",
      ], ["--loss", "3", "--json"]],
      check: ([mix, three]) => {
        const json = jsonOf(mix);
        assert.equal(json.parameters.loss2, 3);
        assert.ok(Math.abs(json.logLik - expected.logLik_corrected) > 1e-3);
        assert.ok(Math.abs(json.logLik - jsonOf(three).logLik) > 1e-3);
      },
    },
    weights: {
      runs: () => [
        [
          "--model",
          "mixture2",
          "--gains",
          "0.5,0.5",
          "--losses",
          "1,3",
          "--weights",
          "0.25,0.75",
          "--json",
        ],
        ["--json"],
        ["--no-ascertainment", "--json"],
        ["--loss", "3", "--json"],
        ["--loss", "3", "--no-ascertainment", "--json"],
      ],
      check: ([mix, c1, u1, c3, u3]) => {
        // The mixture conditioned as a whole: log(w1 L1 + w2 L3) - log(w1 P1 + w2 P3), with the
        // classes' L and P from null-model runs at loss 1 and loss 3.
        const w = [0.25, 0.75];
        const [cc1, uu1, cc3, uu3] = [c1, u1, c3, u3].map((r) => jsonOf(r).families);
        jsonOf(mix).families.forEach((f: { family: string; logLik: number }, i: number) => {
          const l1 = Math.exp(uu1[i].logLik), l3 = Math.exp(uu3[i].logLik);
          const p1 = l1 / Math.exp(cc1[i].logLik), p3 = l3 / Math.exp(cc3[i].logLik);
          const want = Math.log(w[0] * l1 + w[1] * l3) - Math.log(w[0] * p1 + w[1] * p3);
          assertClose(f.logLik, want, 1e-12, f.family);
        });
        assert.equal(jsonOf(mix).parameters.split1, 0.25);
      },
    },
    param: {
      runs: () => [["--model", "gamma4", "--param", "alpha=0.5", "--json"]],
      check: ([r]) =>
        assertClose(jsonOf(r).logLik, expectedModels["gamma4_alpha0.5"].logLik_corrected, 1e-12),
    },
    completeness: {
      runs: async ({ dir }) => {
        const all = `${dir}/complete.tsv`;
        const half = `${dir}/half.tsv`;
        const unknown = `${dir}/unknown.tsv`;
        const genomes = ["genome_A", "genome B", "genome_C", "genome_D", "genome_E"];
        await Deno.writeTextFile(all, genomes.map((g) => `${g}\t1`).join("\n") + "\n");
        await Deno.writeTextFile(
          half,
          genomes.map((g, i) => `${g}\t${i === 0 ? 0.5 : 1}`).join("\n") + "\n",
        );
        await Deno.writeTextFile(unknown, "genome_Z\t0.9\n");
        return [
          ["--completeness", all, "--json"],
          ["--completeness", half, "--json"],
          ["--completeness", unknown, "--json"],
        ];
      },
      check: ([all, half, unknown]) => {
        // Complete genomes record every present gene: the null model's value.
        assertClose(jsonOf(all).logLik, expected.logLik_corrected, 1e-12);
        assert.ok(Math.abs(jsonOf(half).logLik - expected.logLik_corrected) > 1e-3);
        refused(unknown, /genome_Z/);
      },
    },
    "max-present": {
      runs: () => [["--max-present", "5", "--json"], ["--max-present", "4", "--json"]],
      check: ([five, four]) => {
        // With 5 genomes, "at most 5 present" filters nothing.
        assertClose(jsonOf(five).logLik, expected.logLik_corrected, 1e-12);
        assert.equal(jsonOf(five).maxPresent, 5);
        refused(four, /group_4/);
      },
    },
    families: {
      runs: async ({ dir }) => {
        await Deno.writeTextFile(`${dir}/sets.txt`, "group_1\ngroup_3\n");
        await Deno.writeTextFile(`${dir}/two.tsv`, "family\tset\ngroup_1\tA\ngroup_3\tB\n");
        await Deno.writeTextFile(`${dir}/bad.txt`, "group_1\nGroup_3\n");
        const ln2 = "0.6931471805599453";
        return [
          ["--families", `${dir}/sets.txt`, "--theta", ln2, "--json"],
          ["--families", `${dir}/two.tsv`, "--theta", ln2, "--json", "--out", `${dir}/f.tsv`],
          ["--families", `${dir}/bad.txt`, "--theta", ln2],
          ["--families", `${dir}/sets.txt`],
        ];
      },
      check: async ([list, table, bad, alone], { dir }) => {
        // The contract's independent value: the loss of group_1 and group_3 doubled.
        const want = expectedModels.familySet.logLik_corrected;
        const a = jsonOf(list);
        assertClose(a.logLik, want, 1e-12);
        assert.deepEqual(a.sets, [{ name: "sets", families: 2 }]);
        assert.deepEqual(a.families.map((f: { set: string | null }) => f.set), [
          "sets",
          null,
          "sets",
          null,
          null,
        ]);
        assert.equal(a.provenance.inputs[2].role, "families");
        // The same families in two sets, one theta on both: the same likelihood.
        assertClose(jsonOf(table).logLik, want, 1e-12);
        const rows = (await Deno.readTextFile(`${dir}/f.tsv`)).trim().split("\n");
        assert.equal(rows[0], "family\tpresent\tobserved\tlogLik\tset");
        assert.match(rows[3], /^group_3\t2\t4\t[-.\de]+\tB$/);
        refused(bad, /bad\.txt': 1 family id is not in the PAM: 'Group_3' \(line 2\)/);
        refused(alone, /--families needs --theta/);
      },
    },
    theta: {
      runs: async ({ dir }) => {
        await Deno.writeTextFile(`${dir}/sets.txt`, "group_1\ngroup_3\n");
        return [
          ["--families", `${dir}/sets.txt`, "--theta", "0", "--json"],
          // A negative value is written --theta=-1 (a separate '-1' reads as an option).
          ["--families", `${dir}/sets.txt`, "--theta=-1", "--json"],
          ["--theta", "0.5"],
          ["--families", `${dir}/sets.txt`, "--theta", "big"],
        ];
      },
      check: ([zero, minus, alone, word]) => {
        // theta = 0 is the background model exactly.
        assertClose(jsonOf(zero).logLik, expected.logLik_corrected, 1e-12);
        const m = jsonOf(minus);
        assert.equal(m.theta, -1);
        assertClose(m.lossMultiplier, Math.exp(-1), 1e-15);
        assert.ok(Math.abs(m.logLik - expected.logLik_corrected) > 1e-3);
        // Families outside the sets keep the background's value.
        const z = jsonOf(zero).families;
        for (const i of [1, 3, 4]) assertClose(m.families[i].logLik, z[i].logLik, 1e-12);
        refused(alone, /--theta multiplies the loss rate of the families of --families/);
        refused(word, /--theta must be a number; got 'big'/);
      },
    },
  },
  bench: {
    ...sharedCases("bench"),
    repeats: {
      runs: () => [["--repeats", "3", "--json"]],
      check: ([r]) => {
        const json = jsonOf(r);
        assert.equal(json.evalMsAll.length, 3);
        assert.equal(json.gradMsAll.length, 3);
      },
    },
    gain: {
      runs: () => [["--gain", "0.7", "--json"]],
      check: ([r]) => assert.equal(jsonOf(r).provenance.options.gain, 0.7),
    },
    loss: {
      runs: () => [["--loss", "0.3", "--json"]],
      check: ([r]) => assert.equal(jsonOf(r).provenance.options.loss, 0.3),
    },
    algorithm: {
      runs: () => [["--backend", "native", "--algorithm", "dense", "--json"]],
      check: ([r]) => assert.equal(jsonOf(r).algorithm, "dense"),
    },
  },
};

const BASE_ARGS: Record<string, (i: Inputs) => string[]> = {
  fit: (i) => ["--tree", i.tree, "--pam", i.pam],
  loglik: (i) => ["--tree", i.tree, "--pam", i.pam, "--gain", "0.5", "--loss", "1.0"],
  bench: (i) => ["--tree", i.tree, "--pam", i.pam, "--repeats", "2"],
};

Deno.test("every command's help documents exactly the options its parser accepts", () => {
  for (const [name, entry] of Object.entries(COMMANDS)) {
    assert.ok(entry.options && entry.help, `${name} declares its options and help`);
    const parsed = Object.keys(entry.options).sort();
    assert.deepEqual(documentedOptions(entry.help), parsed, `${name}: help vs parser`);
  }
});

Deno.test("the option table has a case for every option of fit, loglik and bench", () => {
  for (const name of ["fit", "loglik", "bench"]) {
    const parsed = Object.keys(COMMANDS[name].options!).sort();
    assert.deepEqual(Object.keys(OPTION_CASES[name]).sort(), parsed, `${name}: table`);
  }
});

for (const [command, cases] of Object.entries(OPTION_CASES)) {
  Deno.test(`every option of ${command} does what --help says`, async (t) => {
    const entries = Object.entries(cases);
    const prepared = await Promise.all(entries.map(async ([option, c]) => {
      const inputs = await workFolder();
      const base = BASE_ARGS[command](inputs);
      const runs = (await c.runs(inputs)).map((extra) => {
        // An option under test replaces the base's value of the same option; a mixture's class
        // rates replace the single pair.
        const args = [...base];
        if (extra.includes("--gains")) {
          for (const flag of ["--gain", "--loss"]) {
            const at = args.indexOf(flag);
            if (at >= 0) args.splice(at, 2);
          }
        }
        for (const flag of extra.filter((a) => a.startsWith("--"))) {
          const at = args.indexOf(flag);
          if (at >= 0) args.splice(at, 2);
        }
        return [command, ...args, ...extra];
      });
      return { option, c, inputs, runs };
    }));
    const results = new Map<string[], Run>();
    for (const args of prepared.flatMap((p) => p.runs)) results.set(args, await runInProcess(args));
    for (const p of prepared) {
      await t.step(`--${p.option}`, async () => {
        await p.c.check(p.runs.map((args) => results.get(args)!), p.inputs);
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Relative paths mean the caller's folder, through the task too.

Deno.test("deno task genecontent resolves paths against the caller's folder", async () => {
  const { dir } = await workFolder();
  const config = new URL("../deno.json", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "-q",
      "--config",
      config,
      "genecontent",
      "loglik",
      "--tree",
      "tree.nwk",
      "--pam",
      "pam.tsv",
      "--gain",
      "0.5",
      "--loss",
      "1",
      "--backend",
      "ts",
      "--out",
      "result.tsv",
    ],
    cwd: dir,
    // As from a user's shell: a test suite started through npm or npx inherits INIT_CWD (the
    // folder npx was started in), which `deno task` keeps when it is set.
    clearEnv: true,
    env: {
      ...Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => k !== "INIT_CWD")),
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(new TextDecoder().decode(out.stdout), /^logLik -15\.39869/);
  assert.deepEqual(await listing(dir), [
    "pam.tsv",
    "result.tsv",
    "result.tsv.provenance.json",
    "tree.nwk",
  ]);
  const side = JSON.parse(await Deno.readTextFile(`${dir}/result.tsv.provenance.json`));
  assert.equal(
    await Deno.realPath(side.provenance.inputs[1].path),
    await Deno.realPath(`${dir}/pam.tsv`),
  );
  await assert.rejects(
    Deno.stat(new URL("../result.tsv", import.meta.url)),
    Deno.errors.NotFound,
    "nothing lands in the repository",
  );
});
