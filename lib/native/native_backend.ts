/**
 * The native likelihood backend: a `gc_dataset` of libgenecontent behind the
 * {@linkcode LikelihoodBackend} interface. The handle is private and freed by `dispose`
 * (or `using`), with a finalizer as a safety net.
 *
 * @module
 */

import type {
  AsyncEvaluateOptions,
  EvaluateOptions,
  Evaluation,
  LikelihoodBackend,
} from "../likelihood/backend.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { GenecontentError } from "../errors.ts";
import {
  Algorithm,
  type AlgorithmName,
  ERROR_BUFFER_BYTES,
  errorText,
  type Kernel,
  Status,
} from "./ffi.ts";

const finalizer = new FinalizationRegistry<{ kernel: Kernel; handle: Deno.PointerObject }>(
  ({ kernel, handle }) => kernel.symbols.gc_dataset_free(handle),
);

/** Options of {@linkcode NativeBackend}. */
export interface NativeBackendOptions {
  /** Worker threads (0 or absent: one per CPU). */
  readonly threads?: number;
  /** Kernel algorithm (default `"auto"`). */
  readonly algorithm?: AlgorithmName;
}

function check(status: number, err: Uint8Array, what: string): void {
  if (status === Status.OK) return;
  const message = errorText(err);
  if (status === Status.CANCELLED) throw new DOMException(`${what} was cancelled.`, "AbortError");
  if (status === Status.PANIC) {
    throw new Error(`Native kernel bug in ${what}: ${message}. Please report it.`);
  }
  throw new GenecontentError(`${what} rejected its input: ${message}`);
}

/**
 * Native pruning over one tree and one set of patterns.
 *
 * @example
 * ```ts ignore
 * import { openKernel } from "./ffi.ts";
 * import { NativeBackend } from "./native_backend.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * using backend = new NativeBackend(openKernel("rust/target/release/libgenecontent.so"), tree,
 *   new Uint8Array([1, 0]), 1);
 * console.log(backend.evaluate(new Float64Array([0.5, 1])).logLik[0]);
 * ```
 */
export class NativeBackend implements LikelihoodBackend {
  /** Always `"native"`. */
  readonly name = "native" as const;
  /** Worker threads of this dataset. */
  readonly threads: number;
  /** Number of patterns. */
  readonly nPatterns: number;
  /** The algorithm the kernel actually uses. */
  readonly algorithm: AlgorithmName;
  #kernel: Kernel;
  #handle: Deno.PointerObject | null;

  /** Validates and copies the tree and patterns into a new native dataset. */
  constructor(
    kernel: Kernel,
    tree: FlatTree,
    states: Uint8Array,
    nPatterns: number,
    options: NativeBackendOptions = {},
  ) {
    this.#kernel = kernel;
    const out = new BigUint64Array(1);
    const err = new Uint8Array(ERROR_BUFFER_BYTES);
    const status = kernel.symbols.gc_dataset_new(
      BigInt(tree.nTips),
      BigInt(tree.nNodes),
      tree.parent,
      tree.branchLength,
      BigInt(nPatterns),
      states,
      options.threads ?? 0,
      Algorithm[options.algorithm ?? "auto"],
      out,
      err,
      BigInt(err.length),
    );
    check(status, err, "Native dataset creation");
    const handle = Deno.UnsafePointer.create(out[0]);
    if (handle === null) throw new Error("Native dataset creation returned a null handle.");
    this.#handle = handle;
    finalizer.register(this, { kernel, handle }, this);
    const info = new BigUint64Array(5);
    check(
      kernel.symbols.gc_dataset_info(handle, info, 5n, err, BigInt(err.length)),
      err,
      "Native dataset info",
    );
    this.nPatterns = Number(info[2]);
    this.threads = Number(info[3]);
    const algo = Number(info[4]);
    this.algorithm =
      (Object.keys(Algorithm) as AlgorithmName[]).find((k) => Algorithm[k] === algo) ??
        "auto";
  }

  #live(): Deno.PointerObject {
    if (this.#handle === null) throw new Error("This NativeBackend has been disposed.");
    return this.#handle;
  }

  /** Output buffers and the argument list of one `gc_loglik` call. */
  #call(rates: Float64Array, gradient: boolean, progress: BigUint64Array | null) {
    const handle = this.#live();
    const nSets = rates.length / 2;
    if (!Number.isInteger(nSets)) {
      throw new RangeError(`Rates must come in (gain, loss) pairs; got ${rates.length} numbers.`);
    }
    const logLik = new Float64Array(nSets * this.nPatterns);
    const grad = gradient ? new Float64Array(2 * nSets * this.nPatterns) : new Float64Array(0);
    const err = new Uint8Array(ERROR_BUFFER_BYTES);
    const args = [
      handle,
      BigInt(nSets),
      rates,
      logLik,
      BigInt(logLik.length),
      grad,
      BigInt(grad.length),
      progress,
      err,
      BigInt(err.length),
    ] as const;
    const result: Evaluation = gradient ? { logLik, grad } : { logLik };
    return { args, err, result };
  }

  /** Evaluates parameter sets synchronously on the dataset's threads. */
  evaluate(rates: Float64Array, options: EvaluateOptions = {}): Evaluation {
    const { args, err, result } = this.#call(rates, options.gradient ?? false, null);
    check(this.#kernel.symbols.gc_loglik(...args), err, "Native likelihood");
    return result;
  }

  /** Evaluates on Deno's FFI thread pool, polling progress and honouring `signal`. */
  async evaluateAsync(
    rates: Float64Array,
    options: AsyncEvaluateOptions = {},
  ): Promise<Evaluation> {
    options.signal?.throwIfAborted();
    const progress = new BigUint64Array(3);
    const { args, err, result } = this.#call(rates, options.gradient ?? false, progress);
    const cancel = () => {
      progress[2] = 1n;
    };
    options.signal?.addEventListener("abort", cancel, { once: true });
    const timer = options.onProgress
      ? setInterval(() => {
        const total = Number(progress[1]);
        if (total > 0) options.onProgress!(Number(progress[0]) / total);
      }, 100)
      : undefined;
    try {
      const status = await this.#kernel.symbols.gc_loglik_async(...args);
      check(status, err, "Native likelihood");
      options.onProgress?.(1);
    } finally {
      clearInterval(timer);
      options.signal?.removeEventListener("abort", cancel);
    }
    return result;
  }

  /** Frees the native dataset. Safe to call twice. */
  [Symbol.dispose](): void {
    if (this.#handle === null) return;
    finalizer.unregister(this);
    this.#kernel.symbols.gc_dataset_free(this.#handle);
    this.#handle = null;
  }
}
