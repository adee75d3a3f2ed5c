// Every constant of the C ABI is defined once per language: `#define GC_*` in
// rust/include/genecontent.h, `pub const GC_*` in rust/src/constants.rs and the exports of
// lib/native/ffi.ts. They must agree, and the loaded library must report the same ABI version.
import assert from "node:assert/strict";
import {
  ABI_MINOR,
  ABI_VERSION,
  Algorithm,
  errorText,
  EVAL_ARGS_SIZE,
  EXPECT_ARGS_SIZE,
  openKernel,
  packExpectArgs,
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
  ["GC_ABI_MINOR", ABI_MINOR],
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
      "GC_ABI_MINOR",
      "GC_OK",
      "GC_ERR_PANIC",
      "GC_ALGO_SPARSE",
      "GC_RATES_PER_BRANCH",
    ]
  ) {
    assert.ok(header.has(name), `${name} missing from the header`);
  }
  // ABI version and minor version, 5 status codes, 3 algorithms, 2 rate layouts.
  assert.equal(header.size, 12, [...header.keys()].join(", "));
});

Deno.test("header and Rust constants agree", () => {
  assert.deepEqual(new Map([...rust].sort()), new Map([...header].sort()));
});

Deno.test("header and TypeScript constants agree", () => {
  assert.deepEqual(new Map([...typescript].sort()), new Map([...header].sort()));
});

Deno.test("the built library reports the header's ABI version and struct sizes", () => {
  const lib = new URL("rust/target/release/libgenecontent.so", root);
  const kernel = openKernel(lib);
  assert.equal(kernel.symbols.gc_abi_version(), header.get("GC_ABI_VERSION"));
  assert.equal(kernel.symbols.gc_abi_minor!(), header.get("GC_ABI_MINOR"));
  assert.equal(kernel.minor, header.get("GC_ABI_MINOR"));
  // The header documents the size of gc_expect_args, and the kernel names the same size when it
  // rejects a struct_size one byte short of it (before looking at the dataset's contents).
  assert.match(
    read("rust/include/genecontent.h"),
    new RegExp(`\\(${EXPECT_ARGS_SIZE} bytes in version 2\\.1`),
  );
  const args = packExpectArgs({
    nSets: 0,
    layout: RatesLayout.global,
    rates: new Float64Array(0),
    patterns: null,
    weights: null,
    outLogLik: new Float64Array(0),
    outBranch: new Float64Array(0),
    outPerPattern: null,
    progress: null,
  });
  new DataView(args.buffer).setBigUint64(0, BigInt(EXPECT_ARGS_SIZE - 1), true);
  const err = new Uint8Array(512);
  const out = new BigUint64Array(1);
  const e2 = new Uint8Array(512);
  const st = kernel.symbols.gc_dataset_new(
    1n,
    1n,
    Int32Array.of(-1),
    Float64Array.of(0),
    0n,
    new Uint8Array(0),
    1,
    0,
    out,
    e2,
    512n,
  );
  assert.equal(st, Status.OK, errorText(e2));
  const ds = Deno.UnsafePointer.create(out[0]);
  try {
    const status = kernel.symbols.gc_expectations!(ds, args, err, BigInt(err.length));
    assert.equal(status, Status.INVALID_ARGUMENT);
    assert.match(
      errorText(err),
      new RegExp(
        `struct_size is ${
          EXPECT_ARGS_SIZE - 1
        } but gc_expect_args of ABI version 2\\.${ABI_MINOR} has ${EXPECT_ARGS_SIZE} bytes`,
      ),
    );
  } finally {
    kernel.symbols.gc_dataset_free(ds);
  }
  // The header documents the size of gc_eval_args; the kernel rejects anything smaller.
  assert.match(
    read("rust/include/genecontent.h"),
    new RegExp(`\\(${EVAL_ARGS_SIZE} bytes in version`),
  );
});
