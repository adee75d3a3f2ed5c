// Every constant of the C ABI is defined once per language: `#define GC_*` in
// rust/include/genecontent.h, `pub const GC_*` in rust/src/constants.rs and the exports of
// lib/native/ffi.ts. They must agree, and the loaded library must report the same ABI version.
import assert from "node:assert/strict";
import {
  ABI_VERSION,
  Algorithm,
  EVAL_ARGS_SIZE,
  openKernel,
  RatesLayout,
  Status,
} from "../lib/native/ffi.ts";

const root = new URL("../", import.meta.url);
const read = (p: string) => Deno.readTextFileSync(new URL(p, root));

/** `NAME -> value` of every match of `re` (groups: name, value) in `text`. */
function constants(text: string, re: RegExp): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(re)) {
    assert.ok(!out.has(m[1]), `${m[1]} is defined twice`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}

const header = constants(read("rust/include/genecontent.h"), /^#define (GC_\w+) (\d+)u?\b/gm);
const rust = constants(read("rust/src/constants.rs"), /^pub const (GC_\w+): [iu]\d+ = (\d+);/gm);

/** The TypeScript value of each header constant. */
const typescript = new Map<string, number>([
  ["GC_ABI_VERSION", ABI_VERSION],
  ...Object.entries(Status).map(([k, v]) => [k === "OK" ? "GC_OK" : `GC_ERR_${k}`, v] as const),
  ...Object.entries(Algorithm).map(([k, v]) => [`GC_ALGO_${k.toUpperCase()}`, v] as const),
  ...Object.entries(RatesLayout).map((
    [k, v],
  ) => [`GC_RATES_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`, v] as const),
]);

Deno.test("the header defines the constants it should", () => {
  for (
    const name of [
      "GC_ABI_VERSION",
      "GC_OK",
      "GC_ERR_PANIC",
      "GC_ALGO_SPARSE",
      "GC_RATES_PER_BRANCH",
    ]
  ) {
    assert.ok(header.has(name), `${name} missing from the header`);
  }
  // 1 ABI version, 5 status codes, 3 algorithms, 2 rate layouts.
  assert.equal(header.size, 11, [...header.keys()].join(", "));
});

Deno.test("header and Rust constants agree", () => {
  assert.deepEqual(new Map([...rust].sort()), new Map([...header].sort()));
});

Deno.test("header and TypeScript constants agree", () => {
  assert.deepEqual(new Map([...typescript].sort()), new Map([...header].sort()));
});

Deno.test("the built library reports the header's ABI version and struct size", () => {
  const lib = new URL("rust/target/release/libgenecontent.so", root);
  const kernel = openKernel(lib);
  assert.equal(kernel.symbols.gc_abi_version(), header.get("GC_ABI_VERSION"));
  // The header documents the size of gc_eval_args; the kernel rejects anything smaller.
  assert.match(
    read("rust/include/genecontent.h"),
    new RegExp(`\\(${EVAL_ARGS_SIZE} bytes in version`),
  );
});
