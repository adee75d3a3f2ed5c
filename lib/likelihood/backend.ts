/**
 * The interface every likelihood backend implements: the native Rust kernel (through FFI) and the
 * pure-TypeScript pruning. A backend is bound to one tree (with its branch lengths) and one set
 * of kernel patterns; it evaluates per-pattern log-likelihoods (and, on request, their gradients
 * with respect to log gain and log loss) for one or more (gain, loss) parameter sets.
 *
 * Ascertainment correction, pattern weights and rate mixtures are applied above this layer
 * (see `model_likelihood.ts`), so both backends only prune.
 *
 * @module
 */

/** Which implementation computes the likelihood. */
export type BackendName = "native" | "ts";

/** Options of one evaluation. */
export interface EvaluateOptions {
  /** Also compute d logL / d log(gain) and d logL / d log(loss) per pattern and set. */
  readonly gradient?: boolean;
}

/** Options of an evaluation that runs without blocking the event loop. */
export interface AsyncEvaluateOptions extends EvaluateOptions {
  /** Stops the evaluation early with an `AbortError`. */
  readonly signal?: AbortSignal;
  /** Called with the fraction done, in [0, 1]. */
  readonly onProgress?: (fraction: number) => void;
}

/** Per-pattern results of one evaluation of `nSets` parameter sets. */
export interface Evaluation {
  /** Set-major natural-log likelihoods: `logLik[k * nPatterns + p]`. */
  readonly logLik: Float64Array;
  /**
   * With `gradient: true`: `grad[(k * nPatterns + p) * 2 + j]`, derivative of `logLik[k*nPatterns+p]`
   * with respect to log(gain) (`j = 0`) and log(loss) (`j = 1`) of set `k`.
   */
  readonly grad?: Float64Array;
}

/** A pruning engine bound to one tree and one set of patterns. Dispose it to free native memory. */
export interface LikelihoodBackend extends Disposable {
  /** `"native"` or `"ts"`. */
  readonly name: BackendName;
  /** Number of worker threads the backend uses (1 for TypeScript). */
  readonly threads: number;
  /** Number of patterns bound to this backend. */
  readonly nPatterns: number;
  /**
   * Evaluates `rates = [gain0, loss0, gain1, loss1, ...]` (each > 0 and finite).
   * Synchronous: for long calls prefer {@linkcode LikelihoodBackend.evaluateAsync}.
   */
  evaluate(rates: Float64Array, options?: EvaluateOptions): Evaluation;
  /**
   * The same as `evaluate`, without blocking the event loop where the backend can (native:
   * a nonblocking FFI call), reporting progress as a fraction in [0, 1] and stopping early with
   * an `AbortError` when `signal` is aborted.
   */
  evaluateAsync(rates: Float64Array, options?: AsyncEvaluateOptions): Promise<Evaluation>;
}
