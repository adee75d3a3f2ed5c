/**
 * The checks a reviewer runs, run by the suite: formatting, lint, type checking of every
 * TypeScript file (scripts and benchmarks included, which no test imports), and the public
 * API's documentation lint. Each runs as its own `deno` process from the repository root.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

async function deno(args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

for (
  const [what, args] of [
    ["deno fmt --check", ["fmt", "--check"]],
    ["deno lint", ["lint"]],
    ["deno check of every module, script, test and benchmark", [
      "check",
      "mod.ts",
      "lib/",
      "scripts/",
      "tests/",
      "bench/",
    ]],
    ["deno doc --lint mod.ts", ["doc", "--lint", "mod.ts"]],
  ] as const
) {
  Deno.test(`${what} passes`, async () => {
    const r = await deno([...args]);
    assert.equal(r.code, 0, r.output.split("\n").slice(0, 60).join("\n"));
  });
}
