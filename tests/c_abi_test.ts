// The C ABI from C: tests/c/c_abi_test.c, compiled with `cc` against rust/include/genecontent.h
// only and linked to the built cdylib, evaluates a global and a per-branch set on a two-tip tree
// against the closed form, a pattern subset, the error paths and the ABI 1 entry point.
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const path = (p: string) => new URL(p, root).pathname;

Deno.test("a C program built against genecontent.h passes its checks", async () => {
  const libDir = path("rust/target/release/");
  const lib = `${libDir}libgenecontent.so`;
  const exists = await Deno.stat(lib).then(() => true, () => false);
  assert.ok(exists, `${lib} is missing: build it with \`deno task build:native\``);
  const dir = await Deno.makeTempDir({ prefix: "genecontent_c_abi_" });
  try {
    const exe = `${dir}/c_abi_test`;
    const cc = await new Deno.Command("cc", {
      args: [
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-I",
        path("rust/include"),
        path("tests/c/c_abi_test.c"),
        "-L",
        libDir,
        "-lgenecontent",
        `-Wl,-rpath,${libDir}`,
        "-lm",
        "-o",
        exe,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => {
      throw new Error(`Could not run the C compiler \`cc\` (install gcc or clang): ${e}`);
    });
    const text = (o: Deno.CommandOutput) =>
      new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
    assert.equal(cc.code, 0, `cc failed:\n${text(cc)}`);
    const run = await new Deno.Command(exe, { stdout: "piped", stderr: "piped" }).output();
    const out = text(run);
    assert.equal(run.code, 0, out);
    const m = out.match(/^(\d+) checks, 0 failures/m);
    assert.ok(m, out);
    // 2 algorithms x (2 layouts x 9 patterns x 3 checks + 10 others) + 2.
    assert.equal(Number(m[1]), 138, out);
    // The expectations export of ABI 2.1, counted on its own line (see tests/c/c_abi_test.c).
    const minor = out.match(/ABI 2\.1: (\d+) checks, 0 failures/);
    assert.ok(minor, out);
    assert.equal(Number(minor[1]), 278, out);
    // The exports of ABI 2.2, each on its own line: trees (distances, NJ, UPGMA) and the
    // per-family table (with the min_value and out_rows of 2.3, and a 2.2 caller's struct).
    for (const [what, n] of [["Trees", 43], ["Family table", 16]] as const) {
      const line = out.match(new RegExp(`^${what}: (\\d+) checks, 0 failures`, "m"));
      assert.ok(line, `${what}: ${out}`);
      assert.equal(Number(line[1]), n, out);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
