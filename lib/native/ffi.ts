/**
 * The only module that calls `Deno.dlopen`: the symbol table of libgenecontent, with the C
 * signature (from `rust/include/genecontent.h`) beside each symbol, the ABI's constants (status
 * codes, algorithms, rate layouts, version and minor version; `tests/abi_constants_test.ts`
 * checks them against the header) and the layouts of `gc_eval_args` and `gc_expect_args`. The ABI 1 entry point `gc_loglik` stays in the
 * library for C callers; this module uses `gc_evaluate` only.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/** The ABI version this module was written for (`GC_ABI_VERSION` in the header). */
export const ABI_VERSION = 2;

/**
 * The minor ABI version this module was written for (`GC_ABI_MINOR` in the header): minor 1
 * added `gc_expectations`, minor 2 `gc_family_table`, `gc_distances` and `gc_build_tree`, minor 3
 * `min_value` and `out_rows` of `gc_family_table_args`. A library of an older minor loads (its
 * other exports are the same); {@linkcode Kernel.minor} says which it is.
 */
export const ABI_MINOR = 3;

/** Status codes returned by the kernel (`GC_*` in the header). */
export const Status = {
  OK: 0,
  NULL_POINTER: 1,
  INVALID_ARGUMENT: 2,
  CANCELLED: 3,
  PANIC: 4,
} as const;

/** Kernel algorithms (`GC_ALGO_*` in the header). */
export const Algorithm = { auto: 0, dense: 1, sparse: 2 } as const;

/** Name of an algorithm of the native kernel. */
export type AlgorithmName = keyof typeof Algorithm;

/** Rate layouts of `gc_eval_args.layout` (`GC_RATES_*` in the header). */
export const RatesLayout = { global: 0, perBranch: 1 } as const;

/**
 * `sizeof(gc_eval_args)` of ABI 2 on 64-bit platforms: 13 eight-byte fields and two four-byte
 * ones, in the order of {@linkcode packEvalArgs}.
 */
export const EVAL_ARGS_SIZE = 112;

/** The fields of one `gc_evaluate` call (see `gc_eval_args` in the header). */
export interface EvalArgs {
  /** Number of parameter sets. */
  readonly nSets: number;
  /** `RatesLayout.global` or `RatesLayout.perBranch`. */
  readonly layout: number;
  /** `nSets * r` rates. */
  readonly rates: Float64Array;
  /** `nSets * 2 * r` tangent entries, or null for the default directions. */
  readonly tangents: Float64Array | null;
  /** Strictly increasing pattern indices, or null for every pattern. */
  readonly patterns: Uint32Array | null;
  /** Log-likelihoods, written by the kernel. */
  readonly outLogLik: Float64Array;
  /** Derivatives, written by the kernel, or null for values only. */
  readonly outGrad: Float64Array | null;
  /** The 3 progress counters, or null. */
  readonly progress: BigUint64Array | null;
}

/**
 * `sizeof(gc_expect_args)` of ABI 2.1 on 64-bit platforms: 15 eight-byte fields and two
 * four-byte ones, in the order of {@linkcode packExpectArgs}.
 */
export const EXPECT_ARGS_SIZE = 128;

/** The fields of one `gc_expectations` call (see `gc_expect_args` in the header). */
export interface ExpectArgs {
  /** Number of parameter sets. */
  readonly nSets: number;
  /** `RatesLayout.global` or `RatesLayout.perBranch`. */
  readonly layout: number;
  /** `nSets * r` rates. */
  readonly rates: Float64Array;
  /** Strictly increasing pattern indices, or null for every pattern. */
  readonly patterns: Uint32Array | null;
  /** `nSets * nEval` pattern weights, or null for weights 1. */
  readonly weights: Float64Array | null;
  /** Log-likelihoods, written by the kernel. */
  readonly outLogLik: Float64Array;
  /** Branch sums (`nSets * nNodes * 4`), written by the kernel. */
  readonly outBranch: Float64Array;
  /** Per-pattern terms (`nSets * nEval * nNodes * 4`), written by the kernel, or null. */
  readonly outPerPattern: Float64Array | null;
  /** The 3 progress counters, or null. */
  readonly progress: BigUint64Array | null;
}

/** The address of a typed array's data as a u64 (0 for null or empty arrays). */
function address(a: Float64Array | Uint32Array | BigUint64Array | null): bigint {
  if (a === null || a.length === 0) return 0n;
  // Reading `buffer` moves a small array's data off the JavaScript heap, so that the address
  // stays valid while the kernel runs.
  void a.buffer;
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
}

/**
 * Lays out a `gc_eval_args` struct (little-endian, 64-bit pointers) for `gc_evaluate`. The
 * struct holds raw addresses: keep every array of `args` alive until the call has returned.
 */
export function packEvalArgs(args: EvalArgs): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(EVAL_ARGS_SIZE));
  const view = new DataView(bytes.buffer);
  const u64 = (offset: number, value: bigint) => view.setBigUint64(offset, value, true);
  u64(0, BigInt(EVAL_ARGS_SIZE));
  u64(8, BigInt(args.nSets));
  view.setUint32(16, args.layout, true);
  view.setUint32(20, 0, true);
  const arrays = [args.rates, args.tangents, args.patterns, args.outLogLik, args.outGrad];
  arrays.forEach((a, i) => {
    u64(24 + 16 * i, address(a));
    u64(32 + 16 * i, BigInt(a?.length ?? 0));
  });
  u64(104, address(args.progress));
  return bytes;
}

/**
 * Lays out a `gc_expect_args` struct (little-endian, 64-bit pointers) for `gc_expectations`. The
 * struct holds raw addresses: keep every array of `args` alive until the call has returned.
 */
export function packExpectArgs(args: ExpectArgs): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(EXPECT_ARGS_SIZE));
  const view = new DataView(bytes.buffer);
  const u64 = (offset: number, value: bigint) => view.setBigUint64(offset, value, true);
  u64(0, BigInt(EXPECT_ARGS_SIZE));
  u64(8, BigInt(args.nSets));
  view.setUint32(16, args.layout, true);
  view.setUint32(20, 0, true);
  const arrays = [
    args.rates,
    args.patterns,
    args.weights,
    args.outLogLik,
    args.outBranch,
    args.outPerPattern,
  ];
  arrays.forEach((a, i) => {
    u64(24 + 16 * i, address(a));
    u64(32 + 16 * i, BigInt(a?.length ?? 0));
  });
  u64(120, address(args.progress));
  return bytes;
}

// The per-family long TSV (`gc_family_table`, an addition after minor 1; see the header).

/**
 * `sizeof(gc_family_table_args)` on 64-bit platforms: 30 eight-byte fields and two four-byte
 * (216 bytes before minor 3 appended `min_value`, `out_rows` and `out_rows_len`).
 */
export const FAMILY_TABLE_ARGS_SIZE = 240;

/** The fields of one `gc_family_table` call (see `gc_family_table_args` in the header). */
export interface FamilyTableArgs {
  /** Nodes of the tree. */
  readonly nNodes: number;
  /** Worker threads (0: one per core). */
  readonly threads: number;
  /** 0: plain text; 1..9: raw deflate pieces at that level (see the header). */
  readonly gzipLevel: number;
  /** Quantity codes (0 pPresent, 1 gains, 2 losses), in the order rows are written. */
  readonly quantities: Uint8Array;
  /** `nRows * nNodes` presence probabilities. */
  readonly present: Float64Array;
  /** `nRows * nNodes` expected gains. */
  readonly gains: Float64Array;
  /** `nRows * nNodes` expected losses. */
  readonly losses: Float64Array;
  /** Node ids (UTF-8), one after another. */
  readonly nodeIds: Uint8Array;
  /** End offset of each node id. */
  readonly nodeIdEnds: BigUint64Array;
  /** Family names (UTF-8), one after another. */
  readonly familyNames: Uint8Array;
  /** End offset of each family name. */
  readonly familyNameEnds: BigUint64Array;
  /** The value row of each family. */
  readonly familyRows: Uint32Array;
  /** Index of the first family in the whole table (messages only). */
  readonly firstFamily: number;
  /** The output buffer. */
  readonly out: Uint8Array;
  /**
   * 2 values, written by the kernel: bytes written to `out` (or needed when it is too small),
   * and bytes of the text before compression.
   */
  readonly outWritten: BigUint64Array;
  /** Compressed output: CRC-32 and length of the text so far (read and carried on), or null. */
  readonly crc: BigUint64Array | null;
  /** Rows whose value is below this are not written (0: every row; since minor 3). */
  readonly minValue: number;
  /** 1 value, written by the kernel: the rows written (since minor 3). */
  readonly outRows: BigUint64Array;
}

/** Address of any typed array's data (0 for an empty one); see {@linkcode address}. */
function anyAddress(a: ArrayBufferView): bigint {
  if (a.byteLength === 0) return 0n;
  void a.buffer;
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array)));
}

/**
 * Lays out a `gc_family_table_args` struct (little-endian, 64-bit pointers). The struct holds
 * raw addresses: keep every array of `args` alive until the call has returned.
 */
export function packFamilyTableArgs(args: FamilyTableArgs): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(FAMILY_TABLE_ARGS_SIZE));
  const view = new DataView(bytes.buffer);
  const u64 = (offset: number, value: bigint) => view.setBigUint64(offset, value, true);
  u64(0, BigInt(FAMILY_TABLE_ARGS_SIZE));
  u64(8, BigInt(args.nNodes));
  view.setUint32(16, args.threads, true);
  view.setUint32(20, args.gzipLevel, true);
  const arrays: ArrayBufferView[] = [
    args.quantities,
    args.present,
    args.gains,
    args.losses,
    args.nodeIds,
    args.nodeIdEnds,
    args.familyNames,
    args.familyNameEnds,
    args.familyRows,
  ];
  const count = (a: ArrayBufferView) => (a as Uint8Array).length;
  arrays.forEach((a, i) => {
    u64(24 + 16 * i, anyAddress(a));
    u64(32 + 16 * i, BigInt(count(a)));
  });
  u64(168, BigInt(args.firstFamily));
  u64(176, anyAddress(args.out));
  u64(184, BigInt(args.out.length));
  u64(192, anyAddress(args.outWritten));
  u64(200, args.crc ? anyAddress(args.crc) : 0n);
  u64(208, BigInt(args.crc?.length ?? 0));
  view.setFloat64(216, args.minValue, true);
  u64(224, anyAddress(args.outRows));
  u64(232, BigInt(args.outRows.length));
  return bytes;
}

const symbols = {
  /** uint32_t gc_abi_version(void); */
  gc_abi_version: { parameters: [], result: "u32" },
  /** uint32_t gc_abi_minor(void); (since minor 1: absent from minor 0 libraries) */
  gc_abi_minor: { parameters: [], result: "u32", optional: true },
  /**
   * int32_t gc_dataset_new(uint64_t n_tips, uint64_t n_nodes, const int32_t *parent,
   *   const double *branch_length, uint64_t n_patterns, const uint8_t *states,
   *   uint32_t n_threads, uint32_t algorithm, gc_dataset **out_dataset,
   *   char *err, uint64_t err_len);
   */
  gc_dataset_new: {
    parameters: [
      "u64",
      "u64",
      "buffer",
      "buffer",
      "u64",
      "buffer",
      "u32",
      "u32",
      "buffer",
      "buffer",
      "u64",
    ],
    result: "i32",
  },
  /** void gc_dataset_free(gc_dataset *dataset); */
  gc_dataset_free: { parameters: ["pointer"], result: "void" },
  /**
   * int32_t gc_dataset_info(const gc_dataset *dataset, uint64_t *out, uint64_t out_len,
   *   char *err, uint64_t err_len);
   */
  gc_dataset_info: {
    parameters: ["pointer", "buffer", "u64", "buffer", "u64"],
    result: "i32",
  },
  /**
   * int32_t gc_evaluate(const gc_dataset *dataset, const gc_eval_args *args, char *err,
   *   uint64_t err_len);
   * (`args` is the struct laid out by `packEvalArgs`.)
   */
  gc_evaluate: { parameters: ["pointer", "buffer", "buffer", "u64"], result: "i32" },
  /** The same symbol as `gc_evaluate`, called on Deno's FFI thread pool (returns a Promise). */
  gc_evaluate_async: {
    name: "gc_evaluate",
    parameters: ["pointer", "buffer", "buffer", "u64"],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int32_t gc_expectations(const gc_dataset *dataset, const gc_expect_args *args, char *err,
   *   uint64_t err_len);
   * (since minor 1; `args` is the struct laid out by `packExpectArgs`.)
   */
  gc_expectations: {
    parameters: ["pointer", "buffer", "buffer", "u64"],
    result: "i32",
    optional: true,
  },
  // ----- Trees from a PAM (lib/tree_building/native.ts lays out the argument structs). -----
  /**
   * int32_t gc_distances(const gc_distance_args *args, char *err, uint64_t err_len);
   * (optional: absent from libraries built before it.)
   */
  gc_distances: { parameters: ["buffer", "buffer", "u64"], result: "i32", optional: true },
  /**
   * int32_t gc_build_tree(const gc_tree_args *args, char *err, uint64_t err_len);
   * (optional: absent from libraries built before it.)
   */
  gc_build_tree: { parameters: ["buffer", "buffer", "u64"], result: "i32", optional: true },
  /**
   * int32_t gc_family_table(const gc_family_table_args *args, char *err, uint64_t err_len);
   * (an addition after minor 1: optional; `args` is the struct laid out by
   * `packFamilyTableArgs`.)
   */
  gc_family_table: { parameters: ["buffer", "buffer", "u64"], result: "i32", optional: true },
  /** The same symbol as `gc_family_table`, called on Deno's FFI thread pool (a Promise). */
  gc_family_table_async: {
    name: "gc_family_table",
    parameters: ["buffer", "buffer", "u64"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's functions. */
export type KernelSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** An opened libgenecontent with a checked ABI version. */
export interface Kernel {
  /** The path or URL the library was loaded from. */
  readonly path: string;
  /** The typed symbol table. */
  readonly symbols: KernelSymbols;
  /** The library's minor ABI version (0 when it has no `gc_abi_minor`). */
  readonly minor: number;
}

let cached: { path: string; kernel: Kernel } | undefined;

/**
 * Opens libgenecontent at `path` (a file path or `file:` URL) and checks its ABI version. The
 * library stays open for the life of the process; opening the same path again returns the same
 * kernel.
 *
 * @example
 * ```ts ignore
 * import { openKernel } from "./ffi.ts";
 * const kernel = openKernel("rust/target/release/libgenecontent.so");
 * console.log(kernel.symbols.gc_abi_version());
 * ```
 */
export function openKernel(path: string | URL): Kernel {
  const key = String(path);
  if (cached?.path === key) return cached.kernel;
  const lib = Deno.dlopen(path, symbols);
  const version = lib.symbols.gc_abi_version();
  if (version !== ABI_VERSION) {
    lib.close();
    throw new GenecontentError(
      `Native library ${key} has ABI version ${version}, but this genecontent needs ${ABI_VERSION}. ` +
        "Rebuild it with `deno task build:native` or unset GENECONTENT_LIB.",
    );
  }
  const minor = lib.symbols.gc_abi_minor?.() ?? 0;
  const kernel = { path: key, symbols: lib.symbols, minor };
  cached = { path: key, kernel };
  return kernel;
}

/** Size of the caller-owned error buffers passed to the kernel. */
export const ERROR_BUFFER_BYTES = 1024;

/** Reads the NUL-terminated message a kernel call wrote into `buf`. */
export function errorText(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}
