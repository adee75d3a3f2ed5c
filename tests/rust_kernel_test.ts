// The kernel's own Rust tests (brute force, sparse engines against dense, per-branch layouts,
// tangents against finite differences, pattern subsets, thread invariance, the shared thread
// pool, every C ABI error path) run as part of the suite, and the crate is clippy-clean.
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { findCargo } from "../scripts/find_cargo.ts";

const manifest = new URL("../rust/Cargo.toml", import.meta.url).pathname;
const decode = (o: Deno.CommandOutput) =>
  new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);

function cargoOrFail(): string {
  const cargo = findCargo();
  assert.ok(cargo, "cargo is needed to test the native kernel (install Rust with rustup)");
  return cargo;
}

Deno.test("cargo test (optimised) passes for the native kernel", async () => {
  const out = await new Deno.Command(cargoOrFail(), {
    args: ["test", "--profile", "test-release", "--manifest-path", manifest],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decode(out);
  assert.equal(out.code, 0, text.slice(-4000));
  const results = [...text.matchAll(/test result: ok\. (\d+) passed; (\d+) failed/g)];
  const passed = results.reduce((s, m) => s + Number(m[1]), 0);
  const failed = results.reduce((s, m) => s + Number(m[2]), 0);
  assert.equal(failed, 0);
  assert.ok(passed >= 34, `only ${passed} Rust tests ran`);
});

Deno.test("cargo clippy --all-targets -- -D warnings is clean", async () => {
  const cargo = cargoOrFail();
  const probe = await new Deno.Command(cargo, {
    args: ["clippy", "--version"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (probe.code !== 0) {
    const rustup = `${dirname(cargo)}/rustup`;
    console.log(`clippy is missing: installing it with \`${rustup} component add clippy\``);
    const add = await new Deno.Command(rustup, {
      args: ["component", "add", "clippy"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(add.code, 0, `rustup component add clippy failed:\n${decode(add)}`);
  }
  const out = await new Deno.Command(cargo, {
    args: ["clippy", "--all-targets", "--manifest-path", manifest, "--", "-D", "warnings"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, decode(out).slice(-6000));
  // The crate has no crate-wide allows: each allowance sits on its item with its reason.
  const lib = await Deno.readTextFile(new URL("../rust/src/lib.rs", import.meta.url));
  assert.doesNotMatch(lib, /#!\[allow/);
});
