// The kernel's own Rust tests (brute force, sparse engines against dense, gradients against
// finite differences, thread invariance, every C ABI error path) run as part of the suite.
import assert from "node:assert/strict";
import { findCargo } from "../scripts/find_cargo.ts";

Deno.test("cargo test --release passes for the native kernel", async () => {
  const manifest = new URL("../rust/Cargo.toml", import.meta.url).pathname;
  const cargo = findCargo();
  assert.ok(cargo, "cargo is needed to test the native kernel (install Rust with rustup)");
  const out = await new Deno.Command(cargo, {
    args: ["test", "--release", "--manifest-path", manifest],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text.slice(-4000));
  const results = [...text.matchAll(/test result: ok\. (\d+) passed; (\d+) failed/g)];
  const passed = results.reduce((s, m) => s + Number(m[1]), 0);
  const failed = results.reduce((s, m) => s + Number(m[2]), 0);
  assert.equal(failed, 0);
  assert.ok(passed >= 20, `only ${passed} Rust tests ran`);
});
