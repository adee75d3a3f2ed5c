// The README's script example is real: extract it and run it from the repository root.
import assert from "node:assert/strict";

Deno.test("the README's Deno script example runs and prints sensible estimates", async () => {
  const root = new URL("../", import.meta.url);
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, "one TypeScript example in the README");
  // Written inside the repository so that "./mod.ts" resolves as it does for a reader.
  const script = new URL(`readme_example_${crypto.randomUUID()}.ts`, root).pathname;
  await Deno.writeTextFile(script, blocks[0]);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "--allow-ffi", script],
      cwd: root.pathname,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const gain = Number(/gain ([\d.]+)/.exec(stdout)?.[1]);
    const truth = JSON.parse(await Deno.readTextFile(new URL("examples/truth.json", root)));
    // The example data hold 5,000 families: the estimate is within ~10% of the truth (its
    // interval is about +-4%).
    assert.ok(Math.abs(gain / truth.gain - 1) < 0.1, stdout);
  } finally {
    await Deno.remove(script);
  }
});
