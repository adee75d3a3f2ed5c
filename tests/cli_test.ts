// The command line as a user runs it: the loglik contract against independently computed values,
// JSON and TSV outputs with provenance, help on every command, and every bad input ending in one
// clear message (exit status 2, no stack trace) that names the offending item.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import { sha256Hex } from "../lib/native/locate.ts";

const main = new URL("../lib/cli/main.ts", import.meta.url).pathname;
const data = (name: string) => new URL(`./data/${name}`, import.meta.url).pathname;
const contractTree = data("contract/tree.nwk");
const contractPam = data("contract/pam.tsv");
const expected = JSON.parse(await Deno.readTextFile(data("contract/expected.json")));

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", main, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
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
  assert.equal(p.options.gain, 0.5);
  assert.equal(p.options.minPresent, 1);
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
  assert.deepEqual(tsv[0], ["parameter", "estimate", "lower", "upper"]);
  assert.equal(tsv[1][0], "gain");
  assert.equal(Number(tsv[1][1]), json.gain);
  const side = JSON.parse(await Deno.readTextFile(`${out}.provenance.json`));
  assert.equal(side.provenance.command, "fit");
});

Deno.test("help on every command", async () => {
  for (const args of [["--help"], ["fit", "--help"], ["loglik", "--help"], ["bench", "--help"]]) {
    const r = await run(args);
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, /Usage: genecontent/);
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
    pattern: /Unknown command 'fitt'/,
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
