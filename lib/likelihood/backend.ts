/**
 * The interface every likelihood backend implements: the native Rust kernel (through FFI) and the
 * pure-TypeScript pruning, which is the specification the native kernel is checked against.
 *
 * A backend is bound to one tree (with its branch lengths) and one set of kernel patterns. It
 * only prunes: it evaluates a batch of *rate assignments* (parameter sets) and returns, for each
 * set and pattern, the natural-log probability of the pattern and, on request, two directional
 * derivatives of it. A rate assignment is either one (gain, loss) pair for the whole tree
 * (`layout: "global"`) or one pair per node (`layout: "perBranch"`: the pair of node `v` is the
 * rate of the branch above `v`; the root's pair gives the root prior, the stationary
 * distribution of its rates).
 *
 * Derivatives are forward-mode directional derivatives along two *tangent directions* per set,
 * each a vector over the set's log-rates: for a global set `[d log gain, d log loss]`, for a
 * per-branch set `[d log gain_0, d log loss_0, d log gain_1, ...]` (one pair per node). The
 * default directions are "every log gain moves by 1" and "every log loss moves by 1", so that a
 * global set's derivatives are d/d log(gain) and d/d log(loss). The chain rule from the model's
 * parameters to these directions, pattern weights, mixtures and the ascertainment correction
 * live above this layer (`model_likelihood.ts`).
 *
 * @module
 */

/** Which implementation computes the likelihood. */
export type BackendName = "native" | "ts";

/** How the `rates` of an evaluation assign rates to branches. */
export type RateLayout = "global" | "perBranch";

/** Options of one evaluation. */
export interface EvaluateOptions {
  /** Also compute the two directional derivatives per pattern and set. */
  readonly gradient?: boolean;
  /**
   * `"global"` (default): `rates` holds 2 values per set, `[gain, loss]`. `"perBranch"`:
   * `2 * nNodes` values per set, `[gain_v, loss_v]` for every node `v` in the tree's order (the
   * rates of the branch above `v`; the root's pair sets the root prior).
   */
  readonly layout?: RateLayout;
  /**
   * With `gradient: true`, the two tangent directions of each set: `nSets * 2 * r` values, where
   * `r` is the number of rates per set (2 or `2 * nNodes`); `tangents[(k * 2 + j) * r + i]` is
   * the derivative of log(rates[k * r + i]) along direction `j` of set `k`. Absent: direction 0
   * moves every log gain by 1 and direction 1 every log loss.
   */
  readonly tangents?: Float64Array;
  /**
   * Evaluate only these patterns (strictly increasing indices below `nPatterns`); results are
   * then laid out over the listed patterns, in this order. Absent: every pattern.
   */
  readonly patterns?: Uint32Array;
}

/** Options of an evaluation that runs without blocking the event loop. */
export interface AsyncEvaluateOptions extends EvaluateOptions {
  /** Stops the evaluation early with an `AbortError`. */
  readonly signal?: AbortSignal;
  /** Called with the fraction done, in [0, 1]. */
  readonly onProgress?: (fraction: number) => void;
}

/** Per-pattern results of one evaluation of `nSets` parameter sets on `nEval` patterns. */
export interface Evaluation {
  /** Set-major natural-log likelihoods: `logLik[k * nEval + p]`. */
  readonly logLik: Float64Array;
  /**
   * With `gradient: true`: `grad[(k * nEval + p) * 2 + j]`, the derivative of
   * `logLik[k * nEval + p]` along tangent direction `j` of set `k` (by default d/d log(gain) for
   * `j = 0` and d/d log(loss) for `j = 1`).
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
  /** Number of tree nodes (the per-branch layout has one rate pair per node). */
  readonly nNodes?: number;
  /**
   * Evaluates the rate assignments in `rates` (each rate > 0 and finite; see
   * {@linkcode EvaluateOptions.layout}). Synchronous: for long calls prefer
   * {@linkcode LikelihoodBackend.evaluateAsync}.
   */
  evaluate(rates: Float64Array, options?: EvaluateOptions): Evaluation;
  /**
   * The same as `evaluate`, without blocking the event loop where the backend can (native:
   * a nonblocking FFI call), reporting progress as a fraction in [0, 1] and stopping early with
   * an `AbortError` when `signal` is aborted.
   */
  evaluateAsync(rates: Float64Array, options?: AsyncEvaluateOptions): Promise<Evaluation>;
}
