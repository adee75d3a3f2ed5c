/**
 * Builds the native kernel (`cargo build --release` in `rust/`) when cargo is available. Without
 * cargo it says so and exits 0: genecontent then runs on its TypeScript backend. A failing build
 * exits non-zero.
 *
 * Usage: deno task build:native
 *
 * @module
 */

import { findCargo } from "./find_cargo.ts";

const root = new URL("../", import.meta.url);
const manifest = new URL("rust/Cargo.toml", root).pathname;

const cargo = findCargo();
if (cargo === null) {
  console.error(
    "genecontent: cargo was not found, so the native kernel is not built; the TypeScript backend " +
      "will be used (install Rust from https://rustup.rs for the fast kernel).",
  );
  Deno.exit(0);
}
const quiet = Deno.args.includes("--verbose") ? [] : ["--quiet"];
const status = await new Deno.Command(cargo, {
  args: ["build", "--release", ...quiet, "--manifest-path", manifest],
  stdout: "inherit",
  stderr: "inherit",
}).spawn().status;
if (!status.success) {
  console.error("genecontent: building the native kernel failed (see cargo's messages above).");
  Deno.exit(status.code || 1);
}
