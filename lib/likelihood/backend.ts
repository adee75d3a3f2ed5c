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

/**
 * Options of an expectations pass ({@linkcode LikelihoodBackend.expectations}): the layout and
 * pattern subset are as in {@linkcode EvaluateOptions}; every result is laid over the evaluated
 * patterns.
 */
export interface ExpectationOptions {
  /** As {@linkcode EvaluateOptions.layout}. */
  readonly layout?: RateLayout;
  /** As {@linkcode EvaluateOptions.patterns}: a strictly increasing subset of patterns. */
  readonly patterns?: Uint32Array;
  /**
   * Pattern weights, `nSets * nEval` values, `weights[k * nEval + p]` (each finite); absent: all
   * 1. A weight of 0 leaves its pattern out of the sums (its log-likelihood is still returned).
   */
  readonly weights?: Float64Array;
  /** Also return the per-pattern matrices (`nSets * nEval * nNodes * 4` values: use subsets). */
  readonly perPattern?: boolean;
}

/**
 * Results of an expectations pass over `nSets` parameter sets and `nEval` patterns.
 *
 * For a non-root node `v` with parent `u`, `I_v(b)` is v's inside (pruning) partial for state
 * `b` (a tip: 1 for its observed state and 0 for the other, (1, 1) when missing), `O_v(a)` is the
 * probability of the tips outside v's subtree jointly with `u` in state `a` (u's outside partial
 * times the messages `sum_b P_w(a, b) I_w(b)` of v's siblings `w`; u's outside partial is the
 * root prior at the root) and `L` is the pattern's likelihood (without ascertainment). Then
 * `M_v[a][b] = O_v(a) I_v(b) / L` and the joint posterior of the branch's end states is
 * `P(u = a, v = b | column) = M_v[a][b] * P_ab(t_v)`; every such joint sums to 1.
 */
export interface Expectations {
  /** `logLik[k * nEval + p]`, exactly as {@linkcode LikelihoodBackend.evaluate} returns it. */
  readonly logLik: Float64Array;
  /**
   * `branch[(k * nNodes + v) * 4 + 2 * a + b] = sum_p w[k * nEval + p] * M_{k,p,v}[a][b]` for
   * every non-root node `v` (the branch above `v`). For the root `r`, the diagonal
   * `branch[(k * nNodes + r) * 4 + 3 * a] = sum_p w * pi_a I_r(a) / L` (its posterior state
   * probabilities), the off-diagonal entries 0.
   */
  readonly branch: Float64Array;
  /**
   * With `perPattern: true`: `perPattern[((k * nEval + p) * nNodes + v) * 4 + 2 * a + b]`, the
   * terms of `branch` before summing over patterns (weighted: `w[k * nEval + p] * M`).
   */
  readonly perPattern?: Float64Array;
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
  /**
   * Inside and outside passes over the rate assignments in `rates` (as in
   * {@linkcode LikelihoodBackend.evaluate}), returning, per set, the pattern-weighted sums of
   * `M_v[a][b] = O_v(a) I_v(b) / L` for every branch (see {@linkcode Expectations}): everything
   * ancestral (end-state posteriors, expected gains and losses, branch-length derivatives) is
   * linear in these with closed-form coefficients. Synchronous. Optional until every backend
   * implements it.
   */
  expectations?(rates: Float64Array, options?: ExpectationOptions): Expectations;
}
