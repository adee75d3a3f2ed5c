/**
 * The pure-TypeScript likelihood backend: Felsenstein pruning over the flat tree arrays, used
 * where the native library cannot be loaded and as the specification the native kernel is checked
 * against. It implements every option of {@linkcode EvaluateOptions}: global or per-branch rates,
 * two tangent directions per parameter set, and pattern subsets.
 *
 * Per parameter set, one table per node holds the branch's transition matrix and, with
 * `gradient`, its two directional derivatives: along direction `j`,
 * dP_v = dP_v/d log(gain_v) * t_j(gain_v) + dP_v/d log(loss_v) * t_j(loss_v), where `t_j(x)` is
 * the tangent entry of rate `x` (in the global layout every branch shares the set's one pair).
 * The root prior is the stationary distribution of the root's pair (the set's pair in the global
 * layout), with its directional derivatives formed the same way.
 *
 * Patterns are processed in blocks with node-major scratch (`nInternal * block` values per
 * state) reused across blocks. Each internal node's partial likelihoods are multiplied by 2^256
 * whenever both fall below 2^-256; the scaling is a power of two, so it is exact, and the number
 * of scalings times 256 log(2) is subtracted at the root. The two directional derivatives are
 * carried alongside the partials (forward mode) and scaled with them. Each pattern's arithmetic
 * depends only on its own tip states and the set's tables, so a pattern subset gives exactly the
 * numbers of the full evaluation.
 *
 * `expectations` runs, per pattern, the same inside pass (the same products in the same order
 * with the same rescaling, so its log-likelihoods equal `evaluate`'s bit for bit) and then an
 * outside pass from the root down: for each internal node `u` with children `c_1 .. c_m`, the
 * outside factor of `c_i` is u's outside partial times the prefix product of the messages of
 * `c_1 .. c_(i-1)` times the suffix product of `c_(i+1) .. c_m` (no division, so zero messages are
 * fine, and a star of thousands of tips costs linear time). Every partial, message product and
 * outside vector carries its own count of 2^256 rescalings, and `M_v[a][b] = O_v(a) I_v(b) / L`
 * is formed from the scaled values with the difference of the counts applied at the end.
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
} from "./backend.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { stationary, transitionDerivatives, transitionMatrix } from "../model/two_state.ts";

const TINY = 2 ** -256;
const HUGE = 2 ** 256;
const LOG_HUGE = 256 * Math.LN2;
/** Target number of doubles per scratch array (bounds memory on big trees). */
const SCRATCH_TARGET = 131072;
const MAX_BLOCK = 128;
const MIN_BLOCK = 16;
/** Milliseconds of work between yields to the event loop in `evaluateAsync`. */
const SLICE_MS = 8;

/** The pair written by {@linkcode rescalePair}. */
const RESCALED = new Float64Array(2);

/**
 * Multiplies the pair (a, b) by 2^256 while both are below 2^-256 (and not both 0), writing the
 * result to {@linkcode RESCALED}; returns the number of multiplications.
 */
function rescalePair(a: number, b: number): number {
  let n = 0;
  if (a < TINY && b < TINY) {
    let m = a > b ? a : b;
    while (m < TINY && m > 0) {
      a *= HUGE;
      b *= HUGE;
      m *= HUGE;
      n++;
    }
  }
  RESCALED[0] = a;
  RESCALED[1] = b;
  return n;
}

/** Per-parameter-set tables (one set at a time; rebuilt when the set changes). */
interface SetTables {
  /** Per node, 8 entries: [p00, p01, 1, 0, p10, p11, 1, 0] (index 2 and 6: a missing tip). */
  readonly p: Float64Array;
  /** The same layout for the derivative along direction 0 (missing-tip entries 0). */
  readonly d0: Float64Array;
  /** The same layout for the derivative along direction 1. */
  readonly d1: Float64Array;
  /** [pi0, pi1, d0 pi0, d0 pi1, d1 pi0, d1 pi1]: the root prior and its two derivatives. */
  readonly root: Float64Array;
}

/** A validated evaluation request. */
interface Plan {
  readonly layout: RateLayout;
  /** Rates per set: 2 (global) or 2 * nNodes (per branch). */
  readonly r: number;
  readonly nSets: number;
  readonly rates: Float64Array;
  readonly gradient: boolean;
  readonly tangents: Float64Array | undefined;
  /** The evaluated pattern indices, or undefined for all patterns. */
  readonly subset: Uint32Array | undefined;
  /** Number of evaluated patterns. */
  readonly nEval: number;
  readonly nBlocks: number;
  readonly out: { logLik: Float64Array; grad?: Float64Array };
  readonly tables: SetTables;
  /** The set whose tables are currently built (-1: none). */
  built: number;
}

/**
 * Felsenstein pruning in TypeScript, bound to one tree and one set of patterns.
 *
 * @example
 * ```ts
 * import { TsBackend } from "./ts_backend.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
 * // Two patterns: (0, 0) and (1, missing).
 * using backend = new TsBackend(tree, new Uint8Array([0, 0, 1, 2]), 2);
 * const { logLik, grad } = backend.evaluate(new Float64Array([0.5, 1.5]), { gradient: true });
 * console.assert(logLik.length === 2 && grad!.length === 4);
 * // A present tip with the other missing has probability pi1 = 0.25.
 * console.assert(Math.abs(logLik[1] - Math.log(0.25)) < 1e-12);
 * ```
 */
export class TsBackend implements LikelihoodBackend {
  /** Always `"ts"`. */
  readonly name = "ts" as const;
  /** Always 1: the TypeScript backend runs on the calling thread. */
  readonly threads = 1;
  /** Number of patterns bound to this backend. */
  readonly nPatterns: number;
  /** Number of tree nodes (the per-branch layout has one rate pair per node). */
  readonly nNodes: number;
  readonly #tree: FlatTree;
  /** Tip-major states: `#tipStates[tip * nPatterns + p]`. */
  readonly #tipStates: Uint8Array;
  /** Tip-major states of one block of a pattern subset: `#gathered[tip * block + b]`. */
  #gathered = new Uint8Array(0);
  readonly #block: number;
  readonly #u0: Float64Array;
  readonly #u1: Float64Array;
  #g0 = new Float64Array(0);
  #g1 = new Float64Array(0);
  #l0 = new Float64Array(0);
  #l1 = new Float64Array(0);
  readonly #scale: Float64Array;
  #byPattern: Uint8Array | null = null;

  /**
   * Binds a tree and pattern-major tip states (`states[p * nTips + tip]`, each 0 absent,
   * 1 present or 2 missing).
   */
  constructor(tree: FlatTree, states: Uint8Array, nPatterns: number) {
    const nTips = tree.nTips;
    if (!(Number.isInteger(nPatterns) && nPatterns >= 0)) {
      throw new RangeError(`The number of patterns must be an integer >= 0, got ${nPatterns}.`);
    }
    if (states.length !== nPatterns * nTips) {
      throw new RangeError(
        `State array has ${states.length} entries, expected ${nPatterns} patterns x ${nTips} tips.`,
      );
    }
    this.#tree = tree;
    this.nPatterns = nPatterns;
    this.nNodes = tree.nNodes;
    const tipStates = new Uint8Array(states.length);
    for (let p = 0; p < nPatterns; p++) {
      for (let i = 0; i < nTips; i++) {
        const s = states[p * nTips + i];
        if (s > 2) {
          throw new RangeError(
            `Pattern ${p}, tip ${i} has state ${s}; states must be 0, 1 or 2 (missing).`,
          );
        }
        tipStates[i * nPatterns + p] = s;
      }
    }
    this.#tipStates = tipStates;
    const nInternal = Math.max(1, tree.nNodes - nTips);
    this.#block = Math.max(
      1,
      Math.min(
        nPatterns,
        Math.max(MIN_BLOCK, Math.min(MAX_BLOCK, Math.floor(SCRATCH_TARGET / nInternal))),
      ),
    );
    this.#u0 = new Float64Array(nInternal * this.#block);
    this.#u1 = new Float64Array(nInternal * this.#block);
    this.#scale = new Float64Array(this.#block);
  }

  /**
   * Evaluates the parameter sets in `rates` (see {@linkcode EvaluateOptions}): in the global
   * layout `rates = [gain0, loss0, gain1, loss1, ...]`; in the per-branch layout `2 * nNodes`
   * values per set, the (gain, loss) of the branch above each node in node order, the root's pair
   * setting the root prior. Throws a `RangeError` naming the set, node and value for a rate that
   * is not finite and > 0, a non-finite tangent, a wrong length, or a pattern subset that is not
   * strictly increasing below `nPatterns`. Tangents, when given, are checked even without
   * `gradient` (they are then unused).
   *
   * @example
   * ```ts
   * import { TsBackend } from "./ts_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a"], [-1], [0]);
   * using backend = new TsBackend(tree, new Uint8Array([1]), 1);
   * const { logLik } = backend.evaluate(new Float64Array([1, 3, 3, 1]));
   * console.assert(Math.abs(logLik[0] - Math.log(0.25)) < 1e-15);
   * console.assert(Math.abs(logLik[1] - Math.log(0.75)) < 1e-15);
   * ```
   *
   * @example Per-branch rates, two tangent directions and a pattern subset
   * ```ts
   * import { TsBackend } from "./ts_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * // (a:0.5,b:0.5); nodes a, b, root. Patterns (1, 0), (0, 1), (1, 1).
   * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
   * using backend = new TsBackend(tree, new Uint8Array([1, 0, 0, 1, 1, 1]), 3);
   * // A fast-losing branch above a; the root's pair (1, 3) gives pi1 = 0.25.
   * const rates = Float64Array.of(0.2, 4, 0.2, 0.8, 1, 3);
   * // Direction 0 moves log loss above a only; direction 1 moves the root's log gain only.
   * const tangents = Float64Array.of(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0);
   * const { logLik, grad } = backend.evaluate(rates, {
   *   layout: "perBranch",
   *   gradient: true,
   *   tangents,
   *   patterns: Uint32Array.of(0, 2),
   * });
   * console.assert(logLik.length === 2 && grad!.length === 4);
   * // Faster loss above a makes "a present" less likely.
   * console.assert(grad![0] < 0 && grad![2] < 0);
   * ```
   */
  evaluate(rates: Float64Array, options: EvaluateOptions = {}): Evaluation {
    const plan = this.#plan(rates, options);
    const nUnits = plan.nSets * plan.nBlocks;
    for (let u = 0; u < nUnits; u++) this.#runUnit(plan, u);
    return plan.out;
  }

  /**
   * The same as {@linkcode TsBackend.evaluate}, yielding to the event loop every few
   * milliseconds between blocks of patterns, reporting progress and honouring `signal`.
   *
   * @example
   * ```ts
   * import { TsBackend } from "./ts_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
   * using backend = new TsBackend(tree, new Uint8Array([0, 1]), 1);
   * let last = 0;
   * const r = await backend.evaluateAsync(new Float64Array([1, 1]), { onProgress: (f) => last = f });
   * console.assert(last === 1 && r.logLik.length === 1);
   * ```
   */
  async evaluateAsync(
    rates: Float64Array,
    options: AsyncEvaluateOptions = {},
  ): Promise<Evaluation> {
    const { signal, onProgress } = options;
    const abortIfNeeded = () => {
      if (signal?.aborted) throw new DOMException("Evaluation aborted.", "AbortError");
    };
    abortIfNeeded();
    const plan = this.#plan(rates, options);
    const nUnits = plan.nSets * plan.nBlocks;
    let sliceStart = performance.now();
    for (let u = 0; u < nUnits; u++) {
      if (performance.now() - sliceStart >= SLICE_MS) {
        onProgress?.(u / nUnits);
        await new Promise((resolve) => setTimeout(resolve, 0));
        abortIfNeeded();
        sliceStart = performance.now();
      }
      this.#runUnit(plan, u);
    }
    onProgress?.(1);
    return plan.out;
  }

  /**
   * Inside and outside passes (see {@linkcode LikelihoodBackend.expectations} and
   * {@linkcode Expectations}): per set, the weighted sums over patterns of
   * `M_v[a][b] = O_v(a) I_v(b) / L` for every branch, the root's posterior state on its diagonal,
   * and the log-likelihoods exactly as {@linkcode TsBackend.evaluate} returns them. Rates,
   * layout and subset are checked as in `evaluate`; `weights` must have `nSets * nEval` finite
   * entries.
   *
   * @example
   * ```ts
   * import { TsBackend } from "./ts_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * // (a:0.5,b:0.5); one pattern, both tips present.
   * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
   * using backend = new TsBackend(tree, new Uint8Array([1, 1]), 1);
   * const { branch } = backend.expectations(new Float64Array([1, 1]));
   * // The root's posterior presence, and the joint of the branch above a summing to 1:
   * const p11 = 0.5 * (1 + Math.exp(-1)), p01 = 1 - p11;
   * console.assert(Math.abs(branch[2 * 4 + 3] - p11 ** 2 / (p11 ** 2 + p01 ** 2)) < 1e-15);
   * const joint = branch[1] * p01 + branch[3] * p11; // M_01 P_01 + M_11 P_11 (a's state is 1)
   * console.assert(Math.abs(joint - 1) < 1e-15);
   * ```
   */
  expectations(rates: Float64Array, options: ExpectationOptions = {}): Expectations {
    const plan = this.#plan(rates, { layout: options.layout, patterns: options.patterns });
    const { nSets, nEval, subset } = plan;
    const { nTips, nNodes, childStart, children } = this.#tree;
    const weights = options.weights;
    if (weights !== undefined) {
      if (weights.length !== nSets * nEval) {
        throw new RangeError(
          `Weights need ${nSets * nEval} values (${nSets} parameter sets x ${nEval} patterns), ` +
            `got an array of length ${weights.length}.`,
        );
      }
      for (let i = 0; i < weights.length; i++) {
        if (!Number.isFinite(weights[i])) {
          throw new RangeError(
            `The weight of pattern ${i % nEval} in parameter set ${Math.floor(i / nEval)} ` +
              `must be finite, got ${weights[i]}.`,
          );
        }
      }
    }
    const branch = new Float64Array(nSets * nNodes * 4);
    const perPattern = options.perPattern === true
      ? new Float64Array(nSets * nEval * nNodes * 4)
      : undefined;
    const logLik = plan.out.logLik;
    // Inside partials with their subtree rescaling counts, and each node's message to its parent.
    const i0 = new Float64Array(nNodes), i1 = new Float64Array(nNodes);
    const ie = new Int32Array(nNodes);
    const m0 = new Float64Array(nNodes), m1 = new Float64Array(nNodes);
    // O_v (the outside factor of the branch above v) and u's outside partial, with counts.
    const q0 = new Float64Array(nNodes), q1 = new Float64Array(nNodes);
    const qe = new Int32Array(nNodes);
    const x0 = new Float64Array(nNodes), x1 = new Float64Array(nNodes);
    const xe = new Int32Array(nNodes);
    // Suffix products of sibling messages, indexed by position in `children`.
    const nChildren = children.length;
    const s0 = new Float64Array(nChildren), s1 = new Float64Array(nChildren);
    const se = new Int32Array(nChildren);
    const root = nNodes - 1;
    const rs = RESCALED;
    const rescale = rescalePair;
    const patternStates = this.#patternMajor();
    const nTipsRow = nTips;
    for (let k = 0; k < nSets; k++) {
      this.#buildTables(plan, k);
      const P = plan.tables.p;
      const pi0 = plan.tables.root[0], pi1 = plan.tables.root[1];
      const bk = k * nNodes * 4;
      for (let e = 0; e < nEval; e++) {
        const pat = subset === undefined ? e : subset[e];
        const w = weights === undefined ? 1 : weights[k * nEval + e];
        // Inside: tips, then internal nodes in post-order (the arithmetic of evaluate()).
        const row = pat * nTipsRow;
        for (let c = 0; c < nTips; c++) {
          const st = patternStates[row + c];
          i0[c] = st === 1 ? 0 : 1;
          i1[c] = st === 0 ? 0 : 1;
          ie[c] = 0;
          if (c !== root) {
            m0[c] = P[c * 8 + st];
            m1[c] = P[c * 8 + 4 + st];
          }
        }
        for (let n = nTips; n < nNodes; n++) {
          const first = childStart[n], last = childStart[n + 1];
          const many = last - first > 2;
          let u0 = 1, u1 = 1, cnt = 0;
          for (let ci = first; ci < last; ci++) {
            const c = children[ci];
            cnt += ie[c];
            u0 *= m0[c];
            u1 *= m1[c];
            if (many || ci === last - 1) {
              if (u0 < TINY && u1 < TINY) {
                cnt += rescale(u0, u1);
                u0 = rs[0];
                u1 = rs[1];
              }
            }
          }
          i0[n] = u0;
          i1[n] = u1;
          ie[n] = cnt;
          if (n !== root) {
            const o = n * 8;
            m0[n] = P[o] * u0 + P[o + 1] * u1;
            m1[n] = P[o + 4] * u0 + P[o + 5] * u1;
          }
        }
        const like = pi0 * i0[root] + pi1 * i1[root];
        logLik[k * nEval + e] = Math.log(like) - ie[root] * LOG_HUGE;
        if (w === 0) continue;
        const invL = 1 / like;
        const pp = perPattern === undefined ? -1 : (k * nEval + e) * nNodes * 4;
        const r0 = w * pi0 * i0[root] * invL, r1 = w * pi1 * i1[root] * invL;
        branch[bk + root * 4] += r0;
        branch[bk + root * 4 + 3] += r1;
        if (perPattern !== undefined) {
          perPattern[pp + root * 4] = r0;
          perPattern[pp + root * 4 + 3] = r1;
        }
        // Outside: parents before children (descending node order).
        x0[root] = pi0;
        x1[root] = pi1;
        xe[root] = 0;
        for (let u = root; u >= nTips; u--) {
          const first = childStart[u], last = childStart[u + 1];
          let a0 = 1, a1 = 1, ae = 0;
          for (let ci = last - 1; ci >= first; ci--) {
            s0[ci] = a0;
            s1[ci] = a1;
            se[ci] = ae;
            const c = children[ci];
            ae += ie[c] + rescale(a0 * m0[c], a1 * m1[c]);
            a0 = rs[0];
            a1 = rs[1];
          }
          let p0 = x0[u], p1 = x1[u], pe = xe[u];
          for (let ci = first; ci < last; ci++) {
            const c = children[ci];
            const qc = pe + se[ci] + rescale(p0 * s0[ci], p1 * s1[ci]);
            const o0 = rs[0], o1 = rs[1];
            q0[c] = o0;
            q1[c] = o1;
            qe[c] = qc;
            pe += ie[c] + rescale(p0 * m0[c], p1 * m1[c]);
            p0 = rs[0];
            p1 = rs[1];
            if (c >= nTips) {
              const o = c * 8;
              xe[c] = qc + rescale(o0 * P[o] + o1 * P[o + 4], o0 * P[o + 1] + o1 * P[o + 5]);
              x0[c] = rs[0];
              x1[c] = rs[1];
            }
          }
        }
        for (let v = 0; v < root; v++) {
          let f = w * invL;
          let d = ie[root] - qe[v] - ie[v];
          const a0 = q0[v], a1 = q1[v], b0 = i0[v], b1 = i1[v];
          let mm00 = a0 * b0 * f, mm01 = a0 * b1 * f, mm10 = a1 * b0 * f, mm11 = a1 * b1 * f;
          if (d !== 0) {
            f = 1;
            for (; d > 0; d--) f *= HUGE;
            for (; d < 0; d++) f *= TINY;
            mm00 *= f;
            mm01 *= f;
            mm10 *= f;
            mm11 *= f;
          }
          const o = bk + v * 4;
          branch[o] += mm00;
          branch[o + 1] += mm01;
          branch[o + 2] += mm10;
          branch[o + 3] += mm11;
          if (perPattern !== undefined) {
            const q = pp + v * 4;
            perPattern[q] = mm00;
            perPattern[q + 1] = mm01;
            perPattern[q + 2] = mm10;
            perPattern[q + 3] = mm11;
          }
        }
      }
    }
    return perPattern === undefined ? { logLik, branch } : { logLik, branch, perPattern };
  }

  /** Pattern-major tip states (built on first use): one pattern's tips are contiguous. */
  #patternMajor(): Uint8Array {
    if (this.#byPattern === null) {
      const { nTips } = this.#tree;
      const n = this.nPatterns;
      const out = new Uint8Array(n * nTips);
      const t = this.#tipStates;
      for (let c = 0; c < nTips; c++) {
        for (let p = 0; p < n; p++) out[p * nTips + c] = t[c * n + p];
      }
      this.#byPattern = out;
    }
    return this.#byPattern;
  }

  /** Nothing to free: the scratch is garbage-collected. */
  [Symbol.dispose](): void {}

  /** Validates an evaluation request and allocates its output. */
  #plan(rates: Float64Array, options: EvaluateOptions): Plan {
    const layout = options.layout ?? "global";
    const gradient = options.gradient === true;
    const nNodes = this.nNodes;
    let r: number;
    if (layout === "global") r = 2;
    else if (layout === "perBranch") r = 2 * nNodes;
    else {
      throw new RangeError(
        `The rate layout must be "global" or "perBranch", got ${JSON.stringify(layout)}.`,
      );
    }
    if (rates.length % r !== 0) {
      throw new RangeError(
        layout === "global"
          ? `Rates must come in (gain, loss) pairs, got an array of length ${rates.length}.`
          : `Per-branch rates need ${r} values per parameter set (a gain and a loss for each ` +
            `of the ${nNodes} nodes), got an array of length ${rates.length}.`,
      );
    }
    const nSets = rates.length / r;
    for (let i = 0; i < rates.length; i++) {
      const v = rates[i];
      if (!(Number.isFinite(v) && v > 0)) {
        throw new RangeError(
          `The ${this.#rateName(layout, r, i)} must be finite and > 0, got ${v}.`,
        );
      }
    }
    const tangents = options.tangents;
    if (tangents !== undefined) {
      const expected = nSets * 2 * r;
      if (tangents.length !== expected) {
        throw new RangeError(
          `Tangents need ${expected} values (${nSets} parameter sets x 2 directions x ${r} ` +
            `rates), got an array of length ${tangents.length}.`,
        );
      }
      for (let i = 0; i < tangents.length; i++) {
        if (!Number.isFinite(tangents[i])) {
          const j = Math.floor(i / r) % 2;
          const k = Math.floor(i / (2 * r));
          const rate = this.#rateName(layout, r, k * r + (i % r));
          throw new RangeError(
            `Tangent direction ${j} must be finite for the ${rate}, got ${tangents[i]}.`,
          );
        }
      }
    }
    const subset = options.patterns;
    if (subset !== undefined) {
      for (let i = 0; i < subset.length; i++) {
        const p = subset[i];
        if (!(Number.isInteger(p) && p >= 0 && p < this.nPatterns)) {
          throw new RangeError(
            `Pattern subset entry ${i} is ${p}, but pattern indices run from 0 to ` +
              `${this.nPatterns - 1} (${this.nPatterns} patterns).`,
          );
        }
        if (i > 0 && !(p > subset[i - 1])) {
          throw new RangeError(
            `The pattern subset must be strictly increasing: entry ${i} (${p}) follows ` +
              `entry ${i - 1} (${subset[i - 1]}).`,
          );
        }
      }
      if (this.#gathered.length === 0 && subset.length > 0) {
        this.#gathered = new Uint8Array(this.#tree.nTips * this.#block);
      }
    }
    const nEval = subset?.length ?? this.nPatterns;
    const n = nSets * nEval;
    if (gradient && this.#g0.length !== this.#u0.length) {
      this.#g0 = new Float64Array(this.#u0.length);
      this.#g1 = new Float64Array(this.#u0.length);
      this.#l0 = new Float64Array(this.#u0.length);
      this.#l1 = new Float64Array(this.#u0.length);
    }
    const out = gradient
      ? { logLik: new Float64Array(n), grad: new Float64Array(2 * n) }
      : { logLik: new Float64Array(n) };
    const tables: SetTables = {
      p: new Float64Array(nNodes * 8),
      d0: new Float64Array(gradient ? nNodes * 8 : 0),
      d1: new Float64Array(gradient ? nNodes * 8 : 0),
      root: new Float64Array(6),
    };
    return {
      layout,
      r,
      nSets,
      rates,
      gradient,
      tangents,
      subset,
      nEval,
      nBlocks: Math.ceil(nEval / this.#block),
      out,
      tables,
      built: -1,
    };
  }

  /** Names rate `i` of a rates array for error messages. */
  #rateName(layout: RateLayout, r: number, i: number): string {
    const what = i % 2 === 0 ? "gain" : "loss";
    const k = Math.floor(i / r);
    if (layout === "global") return `${what} rate of parameter set ${k}`;
    const v = (i % r) >> 1;
    const { nTips, nNodes, tipNames } = this.#tree;
    const where = v === nNodes - 1
      ? `node ${v} (the root)`
      : v < nTips
      ? `node ${v} (tip ${JSON.stringify(tipNames[v])})`
      : `node ${v}`;
    return `${what} rate of ${where} in parameter set ${k}`;
  }

  /** Builds the transition tables (and their directional derivatives) of set `k`. */
  #buildTables(plan: Plan, k: number): void {
    const { rates, r, tangents, gradient, tables } = plan;
    const perBranch = plan.layout === "perBranch";
    const { nNodes, branchLength } = this.#tree;
    const { p, d0, d1, root } = tables;
    const rateAt = (v: number) => k * r + (perBranch ? 2 * v : 0);
    // Tangent coefficients of (log gain, log loss) of node v along directions 0 and 1.
    let tg0 = 1, tl0 = 0, tg1 = 0, tl1 = 1;
    const loadTangents = (v: number) => {
      if (tangents === undefined) return;
      const i = perBranch ? 2 * v : 0;
      const a = 2 * k * r + i, b = (2 * k + 1) * r + i;
      tg0 = tangents[a];
      tl0 = tangents[a + 1];
      tg1 = tangents[b];
      tl1 = tangents[b + 1];
    };
    for (let v = 0; v < nNodes - 1; v++) {
      const at = rateAt(v);
      const gain = rates[at], loss = rates[at + 1];
      const o = v * 8;
      if (!gradient) {
        const m = transitionMatrix(gain, loss, branchLength[v]);
        p[o] = m.p00;
        p[o + 1] = m.p01;
        p[o + 2] = 1;
        p[o + 4] = m.p10;
        p[o + 5] = m.p11;
        p[o + 6] = 1;
        continue;
      }
      const d = transitionDerivatives(gain, loss, branchLength[v]);
      p[o] = d.p.p00;
      p[o + 1] = d.p.p01;
      p[o + 2] = 1;
      p[o + 4] = d.p.p10;
      p[o + 5] = d.p.p11;
      p[o + 6] = 1;
      loadTangents(v);
      const g = d.dLogGain, l = d.dLogLoss;
      d0[o] = g.p00 * tg0 + l.p00 * tl0;
      d0[o + 1] = g.p01 * tg0 + l.p01 * tl0;
      d0[o + 4] = g.p10 * tg0 + l.p10 * tl0;
      d0[o + 5] = g.p11 * tg0 + l.p11 * tl0;
      d1[o] = g.p00 * tg1 + l.p00 * tl1;
      d1[o + 1] = g.p01 * tg1 + l.p01 * tl1;
      d1[o + 4] = g.p10 * tg1 + l.p10 * tl1;
      d1[o + 5] = g.p11 * tg1 + l.p11 * tl1;
    }
    const at = rateAt(nNodes - 1);
    const st = stationary(rates[at], rates[at + 1]);
    root[0] = st.pi0;
    root[1] = st.pi1;
    if (gradient) {
      loadTangents(nNodes - 1);
      const g = st.dLogGain, l = st.dLogLoss;
      root[2] = g.pi0 * tg0 + l.pi0 * tl0;
      root[3] = g.pi1 * tg0 + l.pi1 * tl0;
      root[4] = g.pi0 * tg1 + l.pi0 * tl1;
      root[5] = g.pi1 * tg1 + l.pi1 * tl1;
    }
    plan.built = k;
  }

  /**
   * Runs work unit `u`: one block of patterns for one set. Sets are the outer loop, so each
   * set's tables are built once.
   */
  #runUnit(plan: Plan, u: number): void {
    const k = Math.floor(u / plan.nBlocks);
    const e0 = (u - k * plan.nBlocks) * this.#block;
    if (plan.built !== k) this.#buildTables(plan, k);
    const nb = Math.min(this.#block, plan.nEval - e0);
    let src: Uint8Array, stride: number, off: number;
    if (plan.subset === undefined) {
      src = this.#tipStates;
      stride = this.nPatterns;
      off = e0;
    } else {
      src = this.#gather(plan.subset, e0, nb);
      stride = this.#block;
      off = 0;
    }
    this.#scale.fill(0, 0, nb);
    if (plan.gradient) this.#pruneWithGradient(plan.tables, src, stride, off, nb);
    else this.#pruneValues(plan.tables, src, stride, off, nb);
    this.#finishRoot(plan.tables, src, off, k * plan.nEval + e0, nb, plan.out);
  }

  /** Copies the tip states of subset entries `e0 .. e0 + nb - 1` into the block's scratch. */
  #gather(subset: Uint32Array, e0: number, nb: number): Uint8Array {
    const { nTips } = this.#tree;
    const g = this.#gathered, tipStates = this.#tipStates, B = this.#block;
    const nPatterns = this.nPatterns;
    for (let c = 0; c < nTips; c++) {
      const row = c * nPatterns, dst = c * B;
      for (let b = 0; b < nb; b++) g[dst + b] = tipStates[row + subset[e0 + b]];
    }
    return g;
  }

  /**
   * Prunes one block: tip `c`'s state for block lane `b` is `tipStates[c * stride + off + b]`.
   */
  #pruneValues(
    t: SetTables,
    tipStates: Uint8Array,
    stride: number,
    off: number,
    nb: number,
  ): void {
    const { nTips, nNodes, childStart, children } = this.#tree;
    const B = this.#block;
    const u0 = this.#u0, u1 = this.#u1, P = t.p;
    for (let n = nTips; n < nNodes; n++) {
      const base = (n - nTips) * B;
      const first = childStart[n], last = childStart[n + 1];
      const many = last - first > 2;
      u0.fill(1, base, base + nb);
      u1.fill(1, base, base + nb);
      for (let ci = first; ci < last; ci++) {
        const c = children[ci];
        const o = c * 8;
        if (c < nTips) {
          const ts = c * stride + off;
          for (let b = 0; b < nb; b++) {
            const s = tipStates[ts + b];
            u0[base + b] *= P[o + s];
            u1[base + b] *= P[o + 4 + s];
          }
        } else {
          const cb = (c - nTips) * B;
          const a00 = P[o], a01 = P[o + 1], a10 = P[o + 4], a11 = P[o + 5];
          for (let b = 0; b < nb; b++) {
            const v0 = u0[cb + b], v1 = u1[cb + b];
            u0[base + b] *= a00 * v0 + a01 * v1;
            u1[base + b] *= a10 * v0 + a11 * v1;
          }
        }
        if (many || ci === last - 1) this.#rescale(base, nb, false);
      }
    }
  }

  /** As {@linkcode TsBackend.#pruneValues}, carrying the two directional derivatives. */
  #pruneWithGradient(
    t: SetTables,
    tipStates: Uint8Array,
    stride: number,
    off: number,
    nb: number,
  ): void {
    const { nTips, nNodes, childStart, children } = this.#tree;
    const B = this.#block;
    const u0 = this.#u0, u1 = this.#u1;
    const g0 = this.#g0, g1 = this.#g1, l0 = this.#l0, l1 = this.#l1;
    const P = t.p, DG = t.d0, DL = t.d1;
    for (let n = nTips; n < nNodes; n++) {
      const base = (n - nTips) * B;
      const first = childStart[n], last = childStart[n + 1];
      const many = last - first > 2;
      u0.fill(1, base, base + nb);
      u1.fill(1, base, base + nb);
      g0.fill(0, base, base + nb);
      g1.fill(0, base, base + nb);
      l0.fill(0, base, base + nb);
      l1.fill(0, base, base + nb);
      for (let ci = first; ci < last; ci++) {
        const c = children[ci];
        const o = c * 8;
        if (c < nTips) {
          const ts = c * stride + off;
          for (let b = 0; b < nb; b++) {
            const s = tipStates[ts + b];
            const i = base + b;
            const w0 = P[o + s], w1 = P[o + 4 + s];
            const x0 = u0[i], x1 = u1[i];
            g0[i] = g0[i] * w0 + x0 * DG[o + s];
            g1[i] = g1[i] * w1 + x1 * DG[o + 4 + s];
            l0[i] = l0[i] * w0 + x0 * DL[o + s];
            l1[i] = l1[i] * w1 + x1 * DL[o + 4 + s];
            u0[i] = x0 * w0;
            u1[i] = x1 * w1;
          }
        } else {
          const cb = (c - nTips) * B;
          const a00 = P[o], a01 = P[o + 1], a10 = P[o + 4], a11 = P[o + 5];
          const ga00 = DG[o], ga01 = DG[o + 1], ga10 = DG[o + 4], ga11 = DG[o + 5];
          const la00 = DL[o], la01 = DL[o + 1], la10 = DL[o + 4], la11 = DL[o + 5];
          for (let b = 0; b < nb; b++) {
            const j = cb + b;
            const i = base + b;
            const v0 = u0[j], v1 = u1[j];
            const gv0 = g0[j], gv1 = g1[j], lv0 = l0[j], lv1 = l1[j];
            const w0 = a00 * v0 + a01 * v1;
            const w1 = a10 * v0 + a11 * v1;
            const gw0 = ga00 * v0 + ga01 * v1 + a00 * gv0 + a01 * gv1;
            const gw1 = ga10 * v0 + ga11 * v1 + a10 * gv0 + a11 * gv1;
            const lw0 = la00 * v0 + la01 * v1 + a00 * lv0 + a01 * lv1;
            const lw1 = la10 * v0 + la11 * v1 + a10 * lv0 + a11 * lv1;
            const x0 = u0[i], x1 = u1[i];
            g0[i] = g0[i] * w0 + x0 * gw0;
            g1[i] = g1[i] * w1 + x1 * gw1;
            l0[i] = l0[i] * w0 + x0 * lw0;
            l1[i] = l1[i] * w1 + x1 * lw1;
            u0[i] = x0 * w0;
            u1[i] = x1 * w1;
          }
        }
        if (many || ci === last - 1) this.#rescale(base, nb, true);
      }
    }
  }

  /** Multiplies a node's partials (and derivatives) by 2^256 while both are below 2^-256. */
  #rescale(base: number, nb: number, gradient: boolean): void {
    const u0 = this.#u0, u1 = this.#u1, scale = this.#scale;
    for (let b = 0; b < nb; b++) {
      const i = base + b;
      let m = u0[i] > u1[i] ? u0[i] : u1[i];
      // m === 0 means an impossible pattern (zero-length branches): leave it at log(0).
      while (m < TINY && m > 0) {
        u0[i] *= HUGE;
        u1[i] *= HUGE;
        if (gradient) {
          this.#g0[i] *= HUGE;
          this.#g1[i] *= HUGE;
          this.#l0[i] *= HUGE;
          this.#l1[i] *= HUGE;
        }
        scale[b]++;
        m *= HUGE;
      }
    }
  }

  /** Combines the root's partials with the prior and writes results from `outOff` on. */
  #finishRoot(
    t: SetTables,
    tipStates: Uint8Array,
    off: number,
    outOff: number,
    nb: number,
    out: { logLik: Float64Array; grad?: Float64Array },
  ): void {
    const { nTips, nNodes } = this.#tree;
    const root = t.root;
    const pi0 = root[0], pi1 = root[1];
    const scale = this.#scale;
    const grad = out.grad;
    const single = nNodes === 1;
    const base = (nNodes - 1 - nTips) * this.#block;
    for (let b = 0; b < nb; b++) {
      let v0: number, v1: number, gv0 = 0, gv1 = 0, lv0 = 0, lv1 = 0;
      if (single) {
        // The only tip is the root: its state (tip 0's row starts at offset 0).
        const s = tipStates[off + b];
        v0 = s === 1 ? 0 : 1;
        v1 = s === 0 ? 0 : 1;
      } else {
        const i = base + b;
        v0 = this.#u0[i];
        v1 = this.#u1[i];
        if (grad) {
          gv0 = this.#g0[i];
          gv1 = this.#g1[i];
          lv0 = this.#l0[i];
          lv1 = this.#l1[i];
        }
      }
      const like = pi0 * v0 + pi1 * v1;
      out.logLik[outOff + b] = Math.log(like) - scale[b] * LOG_HUGE;
      if (grad) {
        const dG = root[2] * v0 + root[3] * v1 + pi0 * gv0 + pi1 * gv1;
        const dL = root[4] * v0 + root[5] * v1 + pi0 * lv0 + pi1 * lv1;
        grad[2 * (outOff + b)] = dG / like;
        grad[2 * (outOff + b) + 1] = dL / like;
      }
    }
  }
}
