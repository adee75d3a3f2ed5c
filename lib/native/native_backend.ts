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
  ExpectationOptions,
  Expectations,
  LikelihoodBackend,
  RateLayout,
} from "../likelihood/backend.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { GenecontentError } from "../errors.ts";
import {
  Algorithm,
  type AlgorithmName,
  ERROR_BUFFER_BYTES,
  errorText,
  type Kernel,
  packEvalArgs,
  packExpectArgs,
  RatesLayout,
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
  /** Number of tree nodes (one rate pair per node in the per-branch layout). */
  readonly nNodes: number;
  /** The algorithm the kernel actually uses. */
  readonly algorithm: AlgorithmName;
  /**
   * Inside and outside passes on the kernel's threads (see {@linkcode ExpectationOptions} and
   * {@linkcode Expectations}): per set, the weighted sums over the evaluated patterns of
   * `O_v(a) I_v(b) / L` for every branch (the root's posterior state on its diagonal), the
   * log-likelihoods, and with `perPattern` the unsummed terms. Branch sums are bit-identical
   * whatever the number of threads. Present only when the library has the pass (ABI minor 1
   * or later): absent, callers fall back to the TypeScript backend's.
   *
   * @example
   * ```ts ignore
   * import { openKernel } from "./ffi.ts";
   * import { NativeBackend } from "./native_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
   * using backend = new NativeBackend(openKernel("rust/target/release/libgenecontent.so"), tree,
   *   new Uint8Array([1, 1]), 1);
   * const { branch } = backend.expectations!(new Float64Array([1, 1]));
   * console.log(branch[2 * 4 + 3]); // posterior presence at the root
   * ```
   */
  readonly expectations?: (rates: Float64Array, options?: ExpectationOptions) => Expectations;
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
    if (kernel.minor >= 1 && kernel.symbols.gc_expectations) {
      this.expectations = (rates, options) => this.#expectations(rates, options);
    }
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
    this.nNodes = Number(info[1]);
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

  /**
   * Output buffers and the packed `gc_eval_args` of one `gc_evaluate` call. An empty pattern
   * list (which the ABI cannot express: length 0 means every pattern) is checked by evaluating
   * pattern 0 into scratch outputs, so that bad rates and tangents are reported all the same.
   */
  /** The layout and the number of parameter sets of `rates`, checked. */
  #sets(rates: Float64Array, layout: RateLayout): number {
    if (layout !== "global" && layout !== "perBranch") {
      throw new GenecontentError(
        `Rate layout "${layout}" is unknown: use "global" or "perBranch".`,
      );
    }
    const r = layout === "global" ? 2 : 2 * this.nNodes;
    const nSets = rates.length / r;
    if (!Number.isInteger(nSets)) {
      const what = layout === "global"
        ? "2 per set (gain, loss)"
        : `2 * nNodes = ${r} per set (gain and loss of every node)`;
      throw new GenecontentError(`Rates has ${rates.length} numbers, not a multiple of ${what}.`);
    }
    return nSets;
  }

  #call(rates: Float64Array, options: EvaluateOptions, progress: BigUint64Array | null) {
    const handle = this.#live();
    const layout = options.layout ?? "global";
    const nSets = this.#sets(rates, layout);
    const gradient = options.gradient ?? false;
    const outputs = (nEval: number) => {
      const logLik = new Float64Array(new ArrayBuffer(8 * nSets * nEval));
      const grad = gradient ? new Float64Array(new ArrayBuffer(16 * nSets * nEval)) : null;
      return { logLik, grad };
    };
    let patterns = options.patterns ?? null;
    const { logLik, grad } = outputs(patterns?.length ?? this.nPatterns);
    const result: Evaluation = grad ? { logLik, grad } : { logLik };
    let scratch = { logLik, grad };
    if (patterns !== null && patterns.length === 0) {
      patterns = this.nPatterns > 0 ? Uint32Array.of(0) : null;
      scratch = outputs(this.nPatterns > 0 ? 1 : 0);
    }
    const keep = {
      rates,
      tangents: options.tangents ?? null,
      patterns,
      outLogLik: scratch.logLik,
      outGrad: scratch.grad,
      progress,
    };
    const args = packEvalArgs({ nSets, layout: RatesLayout[layout], ...keep });
    const err = new Uint8Array(ERROR_BUFFER_BYTES);
    return { result, args: [handle, args, err, BigInt(err.length)] as const, err, keep };
  }

  /**
   * Evaluates rate assignments synchronously on the kernel's threads (see
   * {@linkcode EvaluateOptions}: global or per-branch rates, tangent directions, a pattern
   * subset).
   */
  evaluate(rates: Float64Array, options: EvaluateOptions = {}): Evaluation {
    const { args, err, result } = this.#call(rates, options, null);
    check(this.#kernel.symbols.gc_evaluate(...args), err, "Native likelihood");
    return result;
  }

  /** Evaluates on Deno's FFI thread pool, polling progress and honouring `signal`. */
  async evaluateAsync(
    rates: Float64Array,
    options: AsyncEvaluateOptions = {},
  ): Promise<Evaluation> {
    options.signal?.throwIfAborted();
    const progress = new BigUint64Array(new ArrayBuffer(24));
    const { args, err, result, keep } = this.#call(rates, options, progress);
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
      const status = await this.#kernel.symbols.gc_evaluate_async(...args);
      check(status, err, "Native likelihood");
      options.onProgress?.(1);
    } finally {
      clearInterval(timer);
      options.signal?.removeEventListener("abort", cancel);
    }
    // The kernel read these arrays through raw addresses until now.
    void keep;
    return result;
  }

  /** The expectations pass of a library of ABI minor 1 or later (see `expectations`). */
  #expectations(rates: Float64Array, options: ExpectationOptions = {}): Expectations {
    const handle = this.#live();
    const fn = this.#kernel.symbols.gc_expectations!;
    const layout = options.layout ?? "global";
    const nSets = this.#sets(rates, layout);
    const nn = this.nNodes;
    let patterns = options.patterns ?? null;
    const nEval = patterns?.length ?? this.nPatterns;
    const weights = options.weights ?? null;
    const f64 = (n: number) => new Float64Array(new ArrayBuffer(8 * n));
    const result = {
      logLik: f64(nSets * nEval),
      branch: f64(nSets * nn * 4),
      perPattern: options.perPattern === true ? f64(nSets * nEval * nn * 4) : null,
    };
    let out = result;
    let callWeights = weights;
    if (patterns !== null && patterns.length === 0) {
      // The ABI cannot express an empty list (length 0 means every pattern): check the rates on
      // pattern 0 into scratch outputs, so that bad rates are reported all the same.
      if (weights !== null && weights.length !== 0) {
        throw new GenecontentError(
          `Weights has ${weights.length} numbers but nSets * nEval is ${nSets} * 0 = 0.`,
        );
      }
      patterns = this.nPatterns > 0 ? Uint32Array.of(0) : null;
      const n = this.nPatterns > 0 ? 1 : 0;
      out = { logLik: f64(nSets * n), branch: f64(nSets * nn * 4), perPattern: null };
      callWeights = null;
    }
    const keep = {
      rates,
      patterns,
      weights: callWeights,
      outLogLik: out.logLik,
      outBranch: out.branch,
      outPerPattern: out.perPattern,
      progress: null,
    };
    const args = packExpectArgs({ nSets, layout: RatesLayout[layout], ...keep });
    const err = new Uint8Array(ERROR_BUFFER_BYTES);
    check(fn(handle, args, err, BigInt(err.length)), err, "Native expectations");
    void keep;
    const { logLik, branch, perPattern } = result;
    return perPattern === null ? { logLik, branch } : { logLik, branch, perPattern };
  }

  /** Frees the native dataset. Safe to call twice. */
  [Symbol.dispose](): void {
    if (this.#handle === null) return;
    finalizer.unregister(this);
    this.#kernel.symbols.gc_dataset_free(this.#handle);
    this.#handle = null;
  }
}
