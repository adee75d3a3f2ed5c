/**
 * Distances and trees on the native kernel (`gc_distances`, `gc_build_tree`) or in
 * TypeScript (`distances.ts`, `nj.ts`), which give the same numbers: the layouts of the two
 * argument structs, their constants, and the dispatch.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type BackendChoice, loadKernel } from "../likelihood/choose_backend.ts";
import { ERROR_BUFFER_BYTES, errorText, type Kernel, Status } from "../native/ffi.ts";
import type { LocateOptions } from "../native/locate.ts";
import {
  DISTANCE_METRICS,
  type DistanceMetric,
  pairCounts,
  pamDistances,
  undefinedDistanceError,
} from "./distances.ts";
import { type BuiltTree, neighborJoining, TREE_METHODS, type TreeMethod, upgma } from "./nj.ts";

/** `enum gc_distance_metric` of the header. */
export const DistanceMetricCode = { jaccard: 0, hamming: 1 } as const;

/** `enum gc_tree_method` of the header. */
export const TreeMethodCode = { nj: 0, upgma: 1 } as const;

/** `sizeof(gc_distance_args)` on 64-bit platforms: 8 eight-byte fields and two four-byte ones. */
export const DISTANCE_ARGS_SIZE = 80;

/** `sizeof(gc_tree_args)` on 64-bit platforms: 9 eight-byte fields and two four-byte ones. */
export const TREE_ARGS_SIZE = 88;

type Typed = Uint8Array | Float64Array | Int32Array | BigUint64Array;

/** The address of a typed array's data as a u64 (0 for null or empty arrays). */
function address(a: Typed | null): bigint {
  if (a === null || a.length === 0) return 0n;
  // Reading `buffer` moves a small array's data off the JavaScript heap, so that the address
  // stays valid while the kernel runs.
  void a.buffer;
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
}

/** Lays out the pointer-and-length pairs of a struct from `offset`. */
function pairs(view: DataView, offset: number, arrays: readonly (Typed | null)[]): void {
  arrays.forEach((a, i) => {
    view.setBigUint64(offset + 16 * i, address(a), true);
    view.setBigUint64(offset + 8 + 16 * i, BigInt(a?.length ?? 0), true);
  });
}

/**
 * Lays out a `gc_distance_args` struct. It holds raw addresses: keep the arrays alive until
 * the call has returned.
 */
export function packDistanceArgs(args: {
  readonly nGenomes: number;
  readonly nFamilies: number;
  readonly metric: DistanceMetric;
  readonly threads: number;
  readonly states: Uint8Array;
  readonly out: Float64Array;
  readonly failedPair: BigUint64Array | null;
}): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(DISTANCE_ARGS_SIZE));
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(DISTANCE_ARGS_SIZE), true);
  view.setBigUint64(8, BigInt(args.nGenomes), true);
  view.setBigUint64(16, BigInt(args.nFamilies), true);
  view.setUint32(24, DistanceMetricCode[args.metric], true);
  view.setUint32(28, args.threads, true);
  pairs(view, 32, [args.states, args.out, args.failedPair]);
  return bytes;
}

/**
 * Lays out a `gc_tree_args` struct. It holds raw addresses: keep the arrays alive until the
 * call has returned.
 */
export function packTreeArgs(args: {
  readonly nTaxa: number;
  readonly method: TreeMethod;
  readonly threads: number;
  readonly distances: Float64Array;
  readonly parent: Int32Array;
  readonly branchLength: Float64Array;
  readonly clamped: BigUint64Array | null;
}): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(TREE_ARGS_SIZE));
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(TREE_ARGS_SIZE), true);
  view.setBigUint64(8, BigInt(args.nTaxa), true);
  view.setUint32(16, TreeMethodCode[args.method], true);
  view.setUint32(20, args.threads, true);
  pairs(view, 24, [args.distances, args.parent, args.branchLength, args.clamped]);
  return bytes;
}

/** Computes distances and trees on one backend. */
export interface TreeBackend {
  /** `"native"` or `"ts"`. */
  readonly name: "native" | "ts";
  /** Where the native library was loaded from (native only). */
  readonly libraryPath: string | null;
  /** Worker threads (1 for TypeScript; 0 asks the kernel for one per CPU). */
  readonly threads: number;
  /**
   * Condensed distances of a family-major matrix (see `pamDistances`), naming an undefined
   * pair by `names` and `source`.
   */
  distances(
    states: Uint8Array,
    nGenomes: number,
    nFamilies: number,
    metric: DistanceMetric,
    names?: readonly string[],
    source?: string,
  ): Float64Array;
  /** A tree of `n` taxa from condensed distances (see `nj.ts`). */
  buildTree(n: number, distances: Float64Array, method: TreeMethod): BuiltTree;
}

/** The TypeScript implementation. */
export const tsTreeBackend: TreeBackend = {
  name: "ts",
  libraryPath: null,
  threads: 1,
  distances: pamDistances,
  buildTree: (n, d, method) => method === "nj" ? neighborJoining(n, d) : upgma(n, d),
};

function check(status: number, err: Uint8Array, what: string): void {
  if (status === Status.OK) return;
  const text = errorText(err);
  if (status === Status.INVALID_ARGUMENT || status === Status.NULL_POINTER) {
    throw new GenecontentError(`${what}: ${text}.`);
  }
  throw new Error(`${what} failed in the native kernel (status ${status}): ${text}`);
}

/**
 * The native implementation on an opened kernel, or `null` when the library lacks the
 * exports (built before them).
 *
 * @example
 * ```ts ignore
 * import { openKernel } from "../native/ffi.ts";
 * import { nativeTreeBackend } from "./native.ts";
 * const b = nativeTreeBackend(openKernel("rust/target/release/libgenecontent.so"), 2);
 * console.log(b?.buildTree(3, Float64Array.of(1, 2, 3), "nj"));
 * ```
 */
export function nativeTreeBackend(kernel: Kernel, threads: number): TreeBackend | null {
  const { gc_distances, gc_build_tree } = kernel.symbols;
  if (!gc_distances || !gc_build_tree) return null;
  return {
    name: "native",
    libraryPath: kernel.path,
    threads,
    distances(states, nGenomes, nFamilies, metric, names, source) {
      if (!DISTANCE_METRICS.includes(metric)) {
        throw new GenecontentError(`Unknown distance '${metric}': use jaccard or hamming.`);
      }
      const out = new Float64Array(Math.max(0, (nGenomes * (nGenomes - 1)) / 2));
      const failedPair = new BigUint64Array(2).fill(2n ** 64n - 1n);
      const args = packDistanceArgs({
        nGenomes,
        nFamilies,
        metric,
        threads,
        states,
        out,
        failedPair,
      });
      const err = new Uint8Array(ERROR_BUFFER_BYTES);
      const status = gc_distances(args, err, BigInt(err.length));
      if (status === Status.INVALID_ARGUMENT && failedPair[0] !== 2n ** 64n - 1n) {
        const i = Number(failedPair[0]), j = Number(failedPair[1]);
        const both = pairCounts(states, nGenomes, nFamilies, i, j).nBoth;
        throw undefinedDistanceError(i, j, both, metric, names, source);
      }
      check(status, err, "Distances");
      return out;
    },
    buildTree(n, distances, method) {
      if (!TREE_METHODS.includes(method)) {
        throw new GenecontentError(`Unknown tree method '${method}': use nj or upgma.`);
      }
      const minTaxa = method === "nj" ? 3 : 2;
      if (n < minTaxa) {
        throw new GenecontentError(
          `${method === "nj" ? "Neighbour joining" : "UPGMA"} needs at least ${minTaxa} taxa; ` +
            `got ${n}.`,
        );
      }
      const nNodes = method === "nj" ? 2 * n - 2 : 2 * n - 1;
      const parent = new Int32Array(nNodes);
      const branchLength = new Float64Array(nNodes);
      const clamped = new BigUint64Array(1);
      const args = packTreeArgs({
        nTaxa: n,
        method,
        threads,
        distances,
        parent,
        branchLength,
        clamped,
      });
      const err = new Uint8Array(ERROR_BUFFER_BYTES);
      check(gc_build_tree(args, err, BigInt(err.length)), err, "Tree building");
      return { parent, branchLength, clamped: Number(clamped[0]) };
    },
  };
}

/** Options of {@linkcode chooseTreeBackend}. */
export interface ChooseTreeBackendOptions {
  /** Native worker threads (0 or absent: one per CPU). */
  readonly threads?: number;
  /** Where a fallback notice goes (default: one line on stderr). */
  readonly notify?: (message: string) => void;
  /** Library lookup options (tests). */
  readonly locate?: LocateOptions;
}

/**
 * The native backend where the library loads and has the exports, else TypeScript (`auto`,
 * with a one-line notice) or an error (`native`).
 *
 * @example
 * ```ts ignore
 * import { chooseTreeBackend } from "./native.ts";
 * const backend = await chooseTreeBackend("auto");
 * console.log(backend.name);
 * ```
 */
export async function chooseTreeBackend(
  choice: BackendChoice,
  options: ChooseTreeBackendOptions = {},
): Promise<TreeBackend> {
  if (choice === "ts") return tsTreeBackend;
  const { kernel, reasons } = await loadKernel(options.locate);
  const native = kernel ? nativeTreeBackend(kernel, options.threads ?? 0) : null;
  if (native) return native;
  if (kernel) {
    reasons.push(`${kernel.path} has no gc_distances or gc_build_tree (rebuild it)`);
  }
  if (choice === "native") {
    throw new GenecontentError(`The native backend cannot be loaded: ${reasons.join("; ")}.`);
  }
  const message = `genecontent: distances and trees on the TypeScript backend (${
    reasons.join("; ")
  }).`;
  (options.notify ?? console.error)(message);
  return tsTreeBackend;
}
