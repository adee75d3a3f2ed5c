/**
 * Ascertainment probabilities for a prevalence window: for each rate assignment (set) and each
 * observed-tip mask, log P(K <= #present among the observed tips <= M | mask) under the
 * gain/loss model, with two directional derivatives, exact and with full relative accuracy
 * whether the probability is near 0 or near 1.
 *
 * **Count pruning with positive terms only.** Each node carries, for each of its two states, the
 * probabilities of the present-count of its subtree's observed tips, grouped into *entries*:
 * exact counts p < Kp, exact counts with fewer than Ka absent tips (p > n - Ka, where n is the
 * number of observed tips below the node), and one *middle* entry for everything else
 * (p >= Kp and n - p >= Ka). While n < Kp + Ka every count is exact. Children combine by
 * convolution: two exact counts add; anything combined with a middle entry stays in the middle
 * (both "at least Kp present" and "at least Ka absent" only grow). The window [K, M] is
 * represented in whichever of three ways needs the fewest entries:
 * - Kp = K, Ka = max over masks of (observed - M), middle inside the window (the lower bound
 *   by present counts, the upper bound as its mirror image: #present <= M <=> #absent >=
 *   observed - M);
 * - Kp = M + 1, Ka = 0, middle outside (every count up to M exact);
 * - Kp = 0, Ka = max over masks of (observed - K + 1), middle outside (absent counts exact).
 *
 * At the root every exact entry is classified by its exact count and the middle by its side, so
 * the window's probability W and its complement C are each a sum of products of nonnegative
 * numbers; transition probabilities are formed without subtraction too (P00 = pi0 + pi1 e^{-st},
 * P01 = pi1 (1 - e^{-st}) with `expm1`, ...). Both W and C therefore have full relative accuracy
 * at any rates, and the result is normalised by their sum:
 *
 *     log P = log(W / (W + C)) = -softplus(log C - log W),
 *     d log P = sigmoid(log C - log W) * (dW / W - dC / C).
 *
 * The derivative form uses the identity dW = -dC (W + C = 1 for every rate) to weight each side
 * by the other's share: where the window holds almost all the mass, dW (a sum of signed terms
 * that cancel down to -dC) is multiplied by the tiny share C / (W + C), and where it holds
 * almost none, dC / C is itself tiny; in both limits the error stays at rounding level. No
 * `1 - P` is ever formed. (A family with gain 1e-16 and loss 1 on a 200-tip tree has
 * P(at least one present) ~ 1e-15, which `log(-expm1(log P(all absent)))` cannot resolve.)
 *
 * **Scaling.** Entries of one vector can differ by far more than the range of a double, so each
 * entry (both states and derivatives) carries its own power-of-two scale: values below 2^-256 are
 * multiplied by 2^256 (exact) and the entry's scale count rises; sums bring their terms to the
 * largest scale among them. An entry's two states share its scale, so the smaller state value
 * can sit up to 2^256 times below the larger one before it would turn subnormal; their ratio is
 * bounded by the transition and stationary probabilities, so full accuracy holds while those are
 * above about 1e-230 (a gain of 1e-300 on a 200-tip tree still matches the closed form).
 *
 * **Many masks.** Masks of one call are pruned against a reference mask (each tip observed when
 * it is observed in at least half of the masks): a mask's vectors differ from the reference's
 * only at tips where the masks differ and at their ancestors, so only those nodes are recomputed
 * and every other child message is read from the reference pruning of the same set.
 *
 * Rates, layouts and tangents follow `backend.ts`: `"global"` sets are one (gain, loss) pair,
 * `"perBranch"` sets one pair per node (the rates of the branch above it; the root's pair gives
 * the stationary root prior), and the two derivatives of each set are directional derivatives
 * along tangents in log-rate space (default: every log gain, every log loss).
 *
 * @module
 */
import { GenecontentError } from "../errors.ts";
import type { Ascertainment } from "../model/description.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import type { RateLayout } from "./backend.ts";

const TINY = 2 ** -256;
const HUGE = 2 ** 256;
const LOG_HUGE = 256 * Math.LN2;

/** One evaluation of {@linkcode logProbObservableWindow}. */
export interface ObservableRequest {
  /** The tree. */
  readonly tree: FlatTree;
  /** Per set: 2 values (`layout: "global"`, `[gain, loss]`) or `2 * nNodes` (`"perBranch"`). */
  readonly rates: Float64Array;
  /** How `rates` assign rates to branches (default `"global"`), as in `backend.ts`. */
  readonly layout?: RateLayout;
  /**
   * Two tangent directions per set, as `EvaluateOptions.tangents` in `backend.ts`:
   * `tangents[(k * 2 + j) * r + i]` is d log(rates[k * r + i]) along direction `j` of set `k`
   * (`r` rates per set). Absent: every log gain, then every log loss, moves by 1.
   */
  readonly tangents?: Float64Array;
  /** Observed-tip masks, `nTips` entries each: 1 observed, 0 missing. */
  readonly masks: readonly Uint8Array[];
  /** The prevalence window each family was filtered to. */
  readonly window: Ascertainment;
}

/** Log-probabilities of the window, per set and mask, with directional derivatives. */
export interface ObservableResult {
  /** `logProb[k * nMasks + m]`: log P(window | mask m) under set k. */
  readonly logProb: Float64Array;
  /**
   * With `gradient`: `grad[(k * nMasks + m) * 2 + j]`, the derivative of
   * `logProb[k * nMasks + m]` along tangent direction `j` of set `k`.
   */
  readonly grad?: Float64Array;
}

/** Options of {@linkcode ObservableWindow.evaluate}. */
export interface ObservableEvaluateOptions {
  /** Also compute the two directional derivatives per set and mask. */
  readonly gradient?: boolean;
  /** `"global"` (default) or `"perBranch"`, as in `backend.ts`. */
  readonly layout?: RateLayout;
  /** Tangent directions, as in {@linkcode ObservableRequest.tangents}. */
  readonly tangents?: Float64Array;
}

/**
 * log P(window | mask) for every set of rates and every mask, with two directional derivatives
 * per set on request: the one-call form of {@linkcode ObservableWindow} (which keeps the mask
 * analysis between calls).
 *
 * @example
 * ```ts
 * import { logProbObservableWindow } from "./observable.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
 * // At least one of the two tips present; with b missing that is P(a present) = pi1 = 0.25.
 * const r = logProbObservableWindow({
 *   tree,
 *   rates: Float64Array.of(1, 3),
 *   masks: [Uint8Array.of(1, 1), Uint8Array.of(1, 0)],
 *   window: { minPresent: 1, maxPresent: null },
 * }, true);
 * console.assert(Math.abs(r.logProb[1] - Math.log(0.25)) < 1e-15);
 * console.assert(r.grad!.length === 4);
 * ```
 */
export function logProbObservableWindow(
  request: ObservableRequest,
  gradient = false,
): ObservableResult {
  const engine = new ObservableWindow(request.tree, request.masks, request.window);
  return engine.evaluate(request.rates, {
    gradient,
    layout: request.layout,
    tangents: request.tangents,
  });
}

/** Count-vector storage: entry `e` of the slot at offset `o` is index `o + e` of each array. */
class Slots {
  v0: Float64Array;
  v1: Float64Array;
  sc: Float64Array;
  /** Direction 0 derivatives, states 0 and 1. */
  a0: Float64Array;
  a1: Float64Array;
  /** Direction 1 derivatives, states 0 and 1. */
  b0: Float64Array;
  b1: Float64Array;
  constructor(size: number) {
    this.v0 = new Float64Array(size);
    this.v1 = new Float64Array(size);
    this.sc = new Float64Array(size);
    this.a0 = new Float64Array(size);
    this.a1 = new Float64Array(size);
    this.b0 = new Float64Array(size);
    this.b1 = new Float64Array(size);
  }
}

/** The transition tables of one set: per node 4 probabilities and 2 x 4 derivatives. */
interface SetTables {
  /** `p[4v .. 4v+3]`: P00, P01, P10, P11 of the branch above node v. */
  readonly p: Float64Array;
  /** Direction 0 derivatives, same layout. */
  readonly d0: Float64Array;
  /** Direction 1 derivatives, same layout. */
  readonly d1: Float64Array;
  /** [pi0, pi1, d0 pi0, d0 pi1, d1 pi0, d1 pi1] of the root prior. */
  readonly root: Float64Array;
}

/** Where to read a child's message from during one mask's pass. */
interface Source {
  store: Slots;
  off: number;
  n: number;
}

/**
 * The window probabilities of a fixed tree, mask list and window, evaluated at any number of
 * rate assignments. Construction checks the window against the masks and finds, per mask, the
 * nodes whose count vectors differ from those of the reference mask; `evaluate` prunes.
 *
 * @example
 * ```ts
 * import { ObservableWindow } from "./observable.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
 * // Accessory families: present in at least 1 and at most 1 of the two genomes.
 * const w = new ObservableWindow(tree, [Uint8Array.of(1, 1)], { minPresent: 1, maxPresent: 1 });
 * const r = w.evaluate(Float64Array.of(1, 1, 2, 0.5)); // two global sets
 * console.assert(r.logProb.length === 2 && r.logProb.every((x) => x < 0));
 * ```
 */
export class ObservableWindow {
  /** The tree. */
  readonly tree: FlatTree;
  /** Number of masks. */
  readonly nMasks: number;
  /** The window (validated). */
  readonly window: Ascertainment;
  /** Observed tips per mask. */
  readonly observed: Int32Array;
  readonly #K: number;
  readonly #M: number;
  /** Exact low present counts (p < Kp). */
  readonly #Kp: number;
  /** Exact low absent counts (absent < Ka). */
  readonly #Ka: number;
  /** Kp + Ka + 1: the largest number of entries of a vector. */
  readonly #W: number;
  readonly #middleInside: boolean;
  /** Masks whose window holds every count (log P = 0, no pruning). */
  readonly #vacuous: Uint8Array;
  /** Masks equal to the reference mask. */
  readonly #sameAsRef: Uint8Array;
  readonly #refMask: Uint8Array;
  readonly #refN: Int32Array;
  readonly #refOff: Int32Array;
  readonly #dirtyStart: Int32Array;
  /** Per mask, the nodes that differ from the reference, in post-order (`#dirtyStart`). */
  readonly #dirtyNode: Int32Array;
  readonly #anyWork: boolean;
  readonly #ref: Slots;
  readonly #scratch: Slots;
  readonly #tmp: [Slots, Slots];
  readonly #top: Float64Array;
  readonly #stamp: Int32Array;
  readonly #srcOff: Int32Array;
  readonly #srcN: Int32Array;
  readonly #setTables: SetTables;
  #token = 0;

  /**
   * Checks `window` (whole numbers, `maxPresent >= minPresent`) and every mask (`nTips` entries
   * of 0 or 1, at least `minPresent` observed tips) and prepares the shared pruning.
   */
  constructor(tree: FlatTree, masks: readonly Uint8Array[], window: Ascertainment) {
    this.tree = tree;
    const { nTips, nNodes, parent } = tree;
    const K = window.minPresent;
    const M = window.maxPresent;
    if (!(Number.isInteger(K) && K >= 0)) {
      throw new GenecontentError(
        `The minimum number of present genomes must be a whole number >= 0; got ${K}.`,
      );
    }
    if (M !== null && !(Number.isInteger(M) && M >= 0)) {
      throw new GenecontentError(
        `The maximum number of present genomes must be a whole number >= 0 (or none); got ${M}.`,
      );
    }
    if (M !== null && M < K) {
      throw new GenecontentError(
        `The prevalence window [${K}, ${M}] is empty: the maximum number of present genomes ` +
          `(${M}) is below the minimum (${K}). No family can pass it; check the filter bounds.`,
      );
    }
    if (K > nTips) {
      throw new GenecontentError(
        `The minimum number of present genomes (${K}) exceeds the number of genomes in the ` +
          `tree (${nTips}): no family can pass the prevalence filter.`,
      );
    }
    this.window = { minPresent: K, maxPresent: M };
    this.#K = K;
    this.#M = M ?? Infinity;
    const nMasks = masks.length;
    this.nMasks = nMasks;
    const observed = new Int32Array(nMasks);
    this.observed = observed;
    const vacuous = new Uint8Array(nMasks);
    let maxObs = -1;
    const votes = new Int32Array(nTips);
    let nActive = 0;
    for (let m = 0; m < nMasks; m++) {
      const mask = masks[m];
      if (mask.length !== nTips) {
        throw new GenecontentError(
          `Observed-tip mask ${m} has ${mask.length} entries but the tree has ${nTips} tips; ` +
            "give one entry per tip, in the tree's tip order.",
        );
      }
      let n = 0;
      for (let i = 0; i < nTips; i++) {
        const o = mask[i];
        if (o !== 0 && o !== 1) {
          throw new GenecontentError(
            `Observed-tip mask ${m}, tip '${tree.tipNames[i]}' has value ${o}; use 1 for an ` +
              "observed tip and 0 for a missing one.",
          );
        }
        n += o;
      }
      observed[m] = n;
      if (n < K) {
        throw new GenecontentError(
          `Observed-tip mask ${m} has ${n} observed tip${n === 1 ? "" : "s"}, fewer than the ` +
            `minimum of ${K} present: no family with this mask can pass the prevalence ` +
            "filter. Drop such families or lower the minimum.",
        );
      }
      if (K === 0 && n <= this.#M) {
        vacuous[m] = 1;
        continue;
      }
      nActive++;
      if (n > maxObs) maxObs = n;
      for (let i = 0; i < nTips; i++) votes[i] += mask[i];
    }
    this.#vacuous = vacuous;
    this.#anyWork = nActive > 0;

    // The representation with the fewest entries (see the module documentation).
    let Kp = K, Ka = M === null ? 0 : Math.max(0, maxObs - M), inside = true;
    if (M !== null && M + 1 < Kp + Ka) {
      Kp = M + 1;
      Ka = 0;
      inside = false;
    }
    if (maxObs - K + 1 < Kp + Ka) {
      Kp = 0;
      Ka = maxObs - K + 1;
      inside = false;
    }
    if (!this.#anyWork) {
      Kp = 1;
      Ka = 0;
    }
    this.#Kp = Kp;
    this.#Ka = Ka;
    this.#W = Kp + Ka + 1;
    this.#middleInside = inside;

    // Reference mask (majority of the masks that need pruning) and its node sizes.
    const refMask = new Uint8Array(nTips);
    for (let i = 0; i < nTips; i++) refMask[i] = 2 * votes[i] >= nActive && nActive > 0 ? 1 : 0;
    this.#refMask = refMask;
    const refN = new Int32Array(nNodes);
    for (let i = 0; i < nTips; i++) refN[i] = refMask[i];
    for (let v = nTips; v < nNodes; v++) {
      let s = 0;
      for (let ci = tree.childStart[v]; ci < tree.childStart[v + 1]; ci++) {
        s += refN[tree.children[ci]];
      }
      refN[v] = s;
    }
    this.#refN = refN;
    const refOff = new Int32Array(nNodes + 1);
    for (let v = 0; v < nNodes; v++) refOff[v + 1] = refOff[v] + this.#size(refN[v]);
    this.#refOff = refOff;

    // Per mask: the nodes that differ from the reference, in post-order, with their counts.
    const sameAsRef = new Uint8Array(nMasks);
    const dirtyStart = new Int32Array(nMasks + 1);
    const nodes: number[] = [];
    const mark = new Int32Array(nNodes).fill(-1);
    const maskN = new Int32Array(nNodes);
    let scratchSize = 0;
    for (let m = 0; m < nMasks; m++) {
      dirtyStart[m] = nodes.length;
      if (vacuous[m]) continue;
      const mask = masks[m];
      const list: number[] = [];
      for (let i = 0; i < nTips; i++) {
        if (mask[i] === refMask[i]) continue;
        let v = i;
        while (v >= 0 && mark[v] !== m) {
          mark[v] = m;
          list.push(v);
          v = parent[v];
        }
      }
      if (list.length === 0) {
        sameAsRef[m] = 1;
        continue;
      }
      list.sort((a, b) => a - b);
      let off = 0;
      for (const v of list) {
        let n: number;
        if (v < nTips) n = mask[v];
        else {
          n = 0;
          for (let ci = tree.childStart[v]; ci < tree.childStart[v + 1]; ci++) {
            const c = tree.children[ci];
            n += mark[c] === m ? maskN[c] : refN[c];
          }
        }
        maskN[v] = n;
        nodes.push(v);
        off += this.#size(n);
      }
      if (off > scratchSize) scratchSize = off;
    }
    dirtyStart[nMasks] = nodes.length;
    this.#sameAsRef = sameAsRef;
    this.#dirtyStart = dirtyStart;
    this.#dirtyNode = Int32Array.from(nodes);
    this.#ref = new Slots(this.#anyWork ? refOff[nNodes] : 0);
    this.#scratch = new Slots(scratchSize);
    this.#tmp = [new Slots(this.#W), new Slots(this.#W)];
    this.#top = new Float64Array(this.#W);
    this.#stamp = new Int32Array(nNodes);
    this.#srcOff = new Int32Array(nNodes);
    this.#srcN = new Int32Array(nNodes);
    this.#setTables = {
      p: new Float64Array(4 * nNodes),
      d0: new Float64Array(4 * nNodes),
      d1: new Float64Array(4 * nNodes),
      root: new Float64Array(6),
    };
  }

  /**
   * How the window is represented (see the module documentation): exact entries for present
   * counts below `exactPresent` and for absent counts below `exactAbsent`, and whether the
   * middle entry lies inside the window.
   */
  get representation(): { exactPresent: number; exactAbsent: number; middleInWindow: boolean } {
    return { exactPresent: this.#Kp, exactAbsent: this.#Ka, middleInWindow: this.#middleInside };
  }

  /**
   * Number of node vectors one set's pruning computes: the reference pass plus, per mask, the
   * nodes where it differs from the reference (a measure of the work shared between masks).
   */
  get nodeVisits(): number {
    return (this.#anyWork ? this.tree.nNodes : 0) + this.#dirtyNode.length;
  }

  /**
   * log P(window | mask) for every set in `rates` and every mask; see
   * {@linkcode ObservableEvaluateOptions}. Each rate must be finite and > 0.
   *
   * @example
   * ```ts
   * import { ObservableWindow } from "./observable.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a"], [-1], [0]);
   * const w = new ObservableWindow(tree, [Uint8Array.of(1)], { minPresent: 1, maxPresent: null });
   * const r = w.evaluate(Float64Array.of(1, 3), { gradient: true });
   * // P = pi1 = 1/4; d log pi1 / d log gain = pi0 = 3/4.
   * console.assert(Math.abs(r.logProb[0] - Math.log(0.25)) < 1e-15);
   * console.assert(Math.abs(r.grad![0] - 0.75) < 1e-15);
   * ```
   */
  evaluate(rates: Float64Array, options: ObservableEvaluateOptions = {}): ObservableResult {
    const { nNodes } = this.tree;
    const layout = options.layout ?? "global";
    if (layout !== "global" && layout !== "perBranch") {
      throw new GenecontentError(`Unknown rate layout '${layout}'; use "global" or "perBranch".`);
    }
    const r = layout === "global" ? 2 : 2 * nNodes;
    if (rates.length === 0 || rates.length % r !== 0) {
      throw new GenecontentError(
        `The ${layout} rate layout needs ${r} rates per set (${
          layout === "global" ? "gain, loss" : "a gain and a loss per node"
        }); got ${rates.length} values.`,
      );
    }
    const nSets = rates.length / r;
    for (let i = 0; i < rates.length; i++) {
      const x = rates[i];
      if (!(Number.isFinite(x) && x > 0)) {
        const set = Math.floor(i / r);
        const what = i % 2 === 0 ? "gain" : "loss";
        const where = layout === "global" ? "" : ` of node ${Math.floor((i % r) / 2)}`;
        throw new GenecontentError(
          `The ${what} rate${where} in parameter set ${set} must be finite and > 0; got ${x}.`,
        );
      }
    }
    const gradient = options.gradient === true;
    const tangents = options.tangents;
    if (tangents !== undefined) {
      if (tangents.length !== nSets * 2 * r) {
        throw new GenecontentError(
          `Tangents must have ${nSets * 2 * r} values (${nSets} sets x 2 directions x ${r} ` +
            `rates); got ${tangents.length}.`,
        );
      }
      for (let i = 0; i < tangents.length; i++) {
        if (!Number.isFinite(tangents[i])) {
          throw new GenecontentError(`Tangent value ${i} is ${tangents[i]}; it must be finite.`);
        }
      }
    }
    const nMasks = this.nMasks;
    const logProb = new Float64Array(nSets * nMasks);
    const grad = gradient ? new Float64Array(2 * nSets * nMasks) : undefined;
    const out = new Float64Array(3);
    for (let k = 0; k < nSets; k++) {
      if (!this.#anyWork) break;
      const tables = this.#tables(rates, k, r, tangents, gradient);
      this.#pruneReference(tables, gradient);
      let refDone = false;
      const refOut = new Float64Array(3);
      for (let m = 0; m < nMasks; m++) {
        const o = k * nMasks + m;
        if (this.#vacuous[m]) continue; // log 1 = 0, derivatives 0
        if (this.#sameAsRef[m]) {
          if (!refDone) {
            const root = nNodes - 1;
            this.#finish(
              tables,
              this.#ref,
              this.#refOff[root],
              this.#refN[root],
              this.observed[m],
              gradient,
              refOut,
            );
            refDone = true;
          }
          out.set(refOut);
        } else {
          this.#pruneMask(tables, m, gradient, out);
        }
        logProb[o] = out[0];
        if (grad) {
          grad[2 * o] = out[1];
          grad[2 * o + 1] = out[2];
        }
      }
    }
    return grad ? { logProb, grad } : { logProb };
  }

  /** Entries of a vector over `n` observed tips. */
  #size(n: number): number {
    return n + 1 < this.#W ? n + 1 : this.#W;
  }

  /** The exact present count of entry `i` of a vector over `n` observed tips; -1: middle. */
  #count(i: number, n: number): number {
    return countOf(i, n, this.#W, this.#Kp, this.#Ka);
  }

  /** The entry holding present count `p` of a vector over `n` observed tips. */
  #index(p: number, n: number): number {
    return indexOf(p, n, this.#W, this.#Kp, this.#Ka);
  }

  /** Transition tables (probabilities without subtraction) and root prior of set `k`. */
  #tables(
    rates: Float64Array,
    k: number,
    r: number,
    tangents: Float64Array | undefined,
    gradient: boolean,
  ): SetTables {
    const { nNodes, branchLength } = this.tree;
    const perBranch = r !== 2;
    const { p, d0, d1, root } = this.#setTables;
    const base = k * r;
    const tangent = (j: number, i: number): number =>
      tangents === undefined ? (i % 2 === j ? 1 : 0) : tangents[(2 * k + j) * r + i];
    for (let v = 0; v < nNodes - 1; v++) {
      const i = perBranch ? 2 * v : 0;
      const g = rates[base + i], l = rates[base + i + 1];
      const s = g + l;
      const pi1 = g / s, pi0 = l / s;
      const t = branchLength[v];
      // e^{-st} and 1 - e^{-st}, each from the other where that has no cancellation.
      const st = s * t;
      let E: number, q: number;
      if (st < Math.LN2) {
        q = -Math.expm1(-st);
        E = 1 - q;
      } else {
        E = Math.exp(-st);
        q = 1 - E;
      }
      p[4 * v] = pi0 + pi1 * E;
      p[4 * v + 1] = pi1 * q;
      p[4 * v + 2] = pi0 * q;
      p[4 * v + 3] = pi1 + pi0 * E;
      if (!gradient) continue;
      // d/d log gain and d/d log loss of P01 and P10 (P00 = 1 - P01, P11 = 1 - P10).
      const pp = pi0 * pi1 * q;
      const tgE = E === 0 ? 0 : t * g * E;
      const tlE = E === 0 ? 0 : t * l * E;
      const g01 = pp + pi1 * tgE, g10 = -pp + pi0 * tgE;
      const l01 = -pp + pi1 * tlE, l10 = pp + pi0 * tlE;
      for (let j = 0; j < 2; j++) {
        const dg = tangent(j, i), dl = tangent(j, i + 1);
        const d = j === 0 ? d0 : d1;
        const x01 = g01 * dg + l01 * dl, x10 = g10 * dg + l10 * dl;
        d[4 * v] = -x01;
        d[4 * v + 1] = x01;
        d[4 * v + 2] = x10;
        d[4 * v + 3] = -x10;
      }
    }
    const iRoot = perBranch ? 2 * (nNodes - 1) : 0;
    const g = rates[base + iRoot], l = rates[base + iRoot + 1];
    const pi1 = g / (g + l), pi0 = l / (g + l);
    root.fill(0);
    root[0] = pi0;
    root[1] = pi1;
    if (gradient) {
      for (let j = 0; j < 2; j++) {
        const dpi1 = pi0 * pi1 * (tangent(j, iRoot) - tangent(j, iRoot + 1));
        root[2 + 2 * j] = -dpi1;
        root[3 + 2 * j] = dpi1;
      }
    }
    return this.#setTables;
  }

  /** Prunes the reference mask, storing every node's message (the root's node vector). */
  #pruneReference(t: SetTables, gradient: boolean): void {
    const { nTips, nNodes, childStart, children } = this.tree;
    const ref = this.#ref, refOff = this.#refOff, refN = this.#refN;
    const root = nNodes - 1;
    for (let v = 0; v < nNodes; v++) {
      let acc: Slots;
      if (v < nTips) {
        acc = this.#tmp[0];
        this.#tipVector(acc, this.#refMask[v]);
      } else {
        const first = childStart[v], last = childStart[v + 1];
        const c0 = children[first];
        let accOff = refOff[c0];
        let nAcc = refN[c0];
        acc = ref;
        let which = 0;
        for (let ci = first + 1; ci < last; ci++) {
          const c = children[ci];
          const dst = this.#tmp[which];
          this.#convolve(acc, accOff, nAcc, ref, refOff[c], refN[c], dst, 0, gradient);
          nAcc += refN[c];
          which = 1 - which;
          acc = dst;
          accOff = 0;
        }
        if (acc === ref) {
          // A unary node: its vector is its child's message.
          acc = this.#tmp[0];
          copyEntries(ref, accOff, acc, 0, this.#size(nAcc), gradient);
        }
      }
      if (v === root) copyEntries(acc, 0, ref, refOff[v], this.#size(refN[v]), gradient);
      else this.#alongBranch(t, v, acc, this.#size(refN[v]), ref, refOff[v], gradient);
    }
  }

  /** Prunes mask `m` over its differing nodes and writes [log P, d0, d1] into `out`. */
  #pruneMask(t: SetTables, m: number, gradient: boolean, out: Float64Array): void {
    const { nTips, nNodes, childStart, children } = this.tree;
    const token = ++this.#token;
    const stamp = this.#stamp, srcOff = this.#srcOff, srcN = this.#srcN;
    const ref = this.#ref, refOff = this.#refOff, refN = this.#refN;
    const scratch = this.#scratch;
    const root = nNodes - 1;
    let off = 0; // next free scratch entry
    const src: Source = { store: ref, off: 0, n: 0 };
    const childSource = (c: number): Source => {
      if (stamp[c] === token) {
        src.store = scratch;
        src.off = srcOff[c];
        src.n = srcN[c];
      } else {
        src.store = ref;
        src.off = refOff[c];
        src.n = refN[c];
      }
      return src;
    };
    for (let d = this.#dirtyStart[m]; d < this.#dirtyStart[m + 1]; d++) {
      const v = this.#dirtyNode[d];
      let acc: Slots;
      let n: number;
      if (v < nTips) {
        // A differing tip is observed exactly where the reference's is missing.
        n = 1 - this.#refMask[v];
        acc = this.#tmp[0];
        this.#tipVector(acc, n);
      } else {
        const first = childStart[v], last = childStart[v + 1];
        const s0 = childSource(children[first]);
        let accStore = s0.store, accOff = s0.off, nAcc = s0.n;
        let which = 0;
        for (let ci = first + 1; ci < last; ci++) {
          const s = childSource(children[ci]);
          const dst = this.#tmp[which];
          this.#convolve(accStore, accOff, nAcc, s.store, s.off, s.n, dst, 0, gradient);
          nAcc += s.n;
          which = 1 - which;
          accStore = dst;
          accOff = 0;
        }
        acc = this.#tmp[0];
        if (last - first === 1) {
          copyEntries(accStore, accOff, acc, 0, this.#size(nAcc), gradient);
        } else acc = accStore;
        n = nAcc;
      }
      if (v === root) {
        this.#finish(t, acc, 0, n, this.observed[m], gradient, out);
        return;
      }
      stamp[v] = token;
      srcOff[v] = off;
      srcN[v] = n;
      this.#alongBranch(t, v, acc, this.#size(n), scratch, off, gradient);
      off += this.#size(n);
    }
    throw new Error("A differing mask must reach the root.");
  }

  /** The vector of a tip: observed (1) or missing (0). */
  #tipVector(dst: Slots, observed: number): void {
    const size = this.#size(observed);
    for (let e = 0; e < size; e++) {
      dst.v0[e] = dst.v1[e] = dst.sc[e] = 0;
      dst.a0[e] =
        dst.a1[e] =
        dst.b0[e] =
        dst.b1[e] =
          0;
    }
    if (observed === 0) {
      dst.v0[0] = dst.v1[0] = 1;
    } else {
      dst.v0[this.#index(0, 1)] = 1;
      dst.v1[this.#index(1, 1)] = 1;
    }
  }

  /** The message of node `v` to its parent: its branch's transition matrix applied per entry. */
  #alongBranch(
    t: SetTables,
    v: number,
    src: Slots,
    size: number,
    dst: Slots,
    off: number,
    gradient: boolean,
  ): void {
    const P = t.p, o = 4 * v;
    const p00 = P[o], p01 = P[o + 1], p10 = P[o + 2], p11 = P[o + 3];
    for (let e = 0; e < size; e++) {
      const x0 = src.v0[e], x1 = src.v1[e];
      let y0 = p00 * x0 + p01 * x1;
      let y1 = p10 * x0 + p11 * x1;
      let sc = src.sc[e];
      if (gradient) {
        const D0 = t.d0, D1 = t.d1;
        const a0 = src.a0[e], a1 = src.a1[e], b0 = src.b0[e], b1 = src.b1[e];
        let ya0 = D0[o] * x0 + D0[o + 1] * x1 + p00 * a0 + p01 * a1;
        let ya1 = D0[o + 2] * x0 + D0[o + 3] * x1 + p10 * a0 + p11 * a1;
        let yb0 = D1[o] * x0 + D1[o + 1] * x1 + p00 * b0 + p01 * b1;
        let yb1 = D1[o + 2] * x0 + D1[o + 3] * x1 + p10 * b0 + p11 * b1;
        let max = y0 > y1 ? y0 : y1;
        while (max > 0 && max < TINY) {
          y0 *= HUGE;
          y1 *= HUGE;
          ya0 *= HUGE;
          ya1 *= HUGE;
          yb0 *= HUGE;
          yb1 *= HUGE;
          max *= HUGE;
          sc++;
        }
        dst.a0[off + e] = ya0;
        dst.a1[off + e] = ya1;
        dst.b0[off + e] = yb0;
        dst.b1[off + e] = yb1;
      } else {
        let max = y0 > y1 ? y0 : y1;
        while (max > 0 && max < TINY) {
          y0 *= HUGE;
          y1 *= HUGE;
          max *= HUGE;
          sc++;
        }
      }
      dst.v0[off + e] = y0;
      dst.v1[off + e] = y1;
      dst.sc[off + e] = sc;
    }
  }

  /**
   * Convolution of vector A (over `na` observed tips) with message B (over `nb`) into C (over
   * `na + nb`): per parent state, every pair of entries adds its product to the entry of the
   * summed count (or the middle). Each sum is taken at the largest scale among its terms.
   */
  #convolve(
    A: Slots,
    oa: number,
    na: number,
    B: Slots,
    ob: number,
    nb: number,
    C: Slots,
    oc: number,
    gradient: boolean,
  ): void {
    const nc = na + nb;
    const W = this.#W, Kp = this.#Kp, Ka = this.#Ka;
    const mA = na + 1 < W ? na + 1 : W, mB = nb + 1 < W ? nb + 1 : W, mC = nc + 1 < W ? nc + 1 : W;
    // Without exact absent counts, entry i is "i present" below Kp and "Kp or more" at Kp.
    const lowOnly = Ka === 0;
    const top = this.#top;
    const av0 = A.v0, av1 = A.v1, asc = A.sc, bv0 = B.v0, bv1 = B.v1, bsc = B.sc;
    for (let c = 0; c < mC; c++) top[c] = Infinity;
    for (let i = 0; i < mA; i++) {
      if (av0[oa + i] === 0 && av1[oa + i] === 0) continue;
      const pi = countOf(i, na, W, Kp, Ka), si = asc[oa + i];
      for (let j = 0; j < mB; j++) {
        if (bv0[ob + j] === 0 && bv1[ob + j] === 0) continue;
        const tgt = lowOnly ? (i + j < Kp ? i + j : Kp) : target(pi, j, nb, nc, W, Kp, Ka);
        const s = si + bsc[ob + j];
        if (s < top[tgt]) top[tgt] = s;
      }
    }
    const cv0 = C.v0, cv1 = C.v1, ca0 = C.a0, ca1 = C.a1, cb0 = C.b0, cb1 = C.b1;
    for (let c = 0; c < mC; c++) {
      const e = oc + c;
      cv0[e] = cv1[e] = 0;
      ca0[e] =
        ca1[e] =
        cb0[e] =
        cb1[e] =
          0;
      C.sc[e] = top[c] === Infinity ? 0 : top[c];
    }
    for (let i = 0; i < mA; i++) {
      const x0 = av0[oa + i], x1 = av1[oa + i];
      if (x0 === 0 && x1 === 0) continue;
      const pi = countOf(i, na, W, Kp, Ka), si = asc[oa + i];
      for (let j = 0; j < mB; j++) {
        const y0 = bv0[ob + j], y1 = bv1[ob + j];
        if (y0 === 0 && y1 === 0) continue;
        const tgt = lowOnly ? (i + j < Kp ? i + j : Kp) : target(pi, j, nb, nc, W, Kp, Ka);
        const ds = si + bsc[ob + j] - top[tgt];
        const f = ds === 0 ? 1 : 2 ** (-256 * ds);
        const e = oc + tgt;
        cv0[e] += f * x0 * y0;
        cv1[e] += f * x1 * y1;
        if (gradient) {
          const ia = oa + i, jb = ob + j;
          ca0[e] += f * (A.a0[ia] * y0 + x0 * B.a0[jb]);
          ca1[e] += f * (A.a1[ia] * y1 + x1 * B.a1[jb]);
          cb0[e] += f * (A.b0[ia] * y0 + x0 * B.b0[jb]);
          cb1[e] += f * (A.b1[ia] * y1 + x1 * B.b1[jb]);
        }
      }
    }
    for (let c = 0; c < mC; c++) {
      const e = oc + c;
      let max = C.v0[e] > C.v1[e] ? C.v0[e] : C.v1[e];
      while (max > 0 && max < TINY) {
        C.v0[e] *= HUGE;
        C.v1[e] *= HUGE;
        if (gradient) {
          C.a0[e] *= HUGE;
          C.a1[e] *= HUGE;
          C.b0[e] *= HUGE;
          C.b1[e] *= HUGE;
        }
        max *= HUGE;
        C.sc[e]++;
      }
    }
  }

  /**
   * The root: sums the window's entries (W) and the others (C), weighted by the root prior,
   * and writes log(W / (W + C)) and its two derivatives into `out`.
   */
  #finish(
    t: SetTables,
    R: Slots,
    off: number,
    n: number,
    nObs: number,
    gradient: boolean,
    out: Float64Array,
  ): void {
    const [pi0, pi1, a0, a1, b0, b1] = t.root;
    const size = this.#size(n);
    const K = this.#K, M = this.#M, inside = this.#middleInside;
    // Smallest scale (largest magnitude) per side: [window, complement].
    let topW = Infinity, topC = Infinity;
    for (let e = 0; e < size; e++) {
      const v = pi0 * R.v0[off + e] + pi1 * R.v1[off + e];
      if (v === 0) continue;
      const p = this.#count(e, n);
      const inWindow = p < 0 ? inside : p >= K && p <= M;
      const s = R.sc[off + e];
      if (inWindow) topW = Math.min(topW, s);
      else topC = Math.min(topC, s);
    }
    let w = 0, wa = 0, wb = 0, c = 0, ca = 0, cb = 0;
    for (let e = 0; e < size; e++) {
      const i = off + e;
      const x0 = R.v0[i], x1 = R.v1[i];
      const v = pi0 * x0 + pi1 * x1;
      if (v === 0) continue;
      const p = this.#count(e, n);
      const inWindow = p < 0 ? inside : p >= K && p <= M;
      const ds = R.sc[i] - (inWindow ? topW : topC);
      const f = ds === 0 ? 1 : 2 ** (-256 * ds);
      const da = gradient ? a0 * x0 + a1 * x1 + pi0 * R.a0[i] + pi1 * R.a1[i] : 0;
      const db = gradient ? b0 * x0 + b1 * x1 + pi0 * R.b0[i] + pi1 * R.b1[i] : 0;
      if (inWindow) {
        w += f * v;
        wa += f * da;
        wb += f * db;
      } else {
        c += f * v;
        ca += f * da;
        cb += f * db;
      }
    }
    if (nObs !== n) throw new Error(`Root count ${n} differs from the mask's ${nObs}.`);
    if (w === 0) {
      out[0] = -Infinity;
      out[1] = out[2] = NaN;
      return;
    }
    if (c === 0) {
      out[0] = 0;
      out[1] = out[2] = 0;
      return;
    }
    const d = (Math.log(c) - topC * LOG_HUGE) - (Math.log(w) - topW * LOG_HUGE);
    out[0] = d > 0 ? -d - Math.log1p(Math.exp(-d)) : -Math.log1p(Math.exp(d));
    const share = d > 0 ? 1 / (1 + Math.exp(-d)) : Math.exp(d) / (1 + Math.exp(d));
    out[1] = share * (wa / w - ca / c);
    out[2] = share * (wb / w - cb / c);
  }
}

/** Copies `size` entries (values, scales and, with `gradient`, derivatives). */
function copyEntries(
  src: Slots,
  so: number,
  dst: Slots,
  doff: number,
  size: number,
  gradient: boolean,
): void {
  for (let e = 0; e < size; e++) {
    dst.v0[doff + e] = src.v0[so + e];
    dst.v1[doff + e] = src.v1[so + e];
    dst.sc[doff + e] = src.sc[so + e];
    if (gradient) {
      dst.a0[doff + e] = src.a0[so + e];
      dst.a1[doff + e] = src.a1[so + e];
      dst.b0[doff + e] = src.b0[so + e];
      dst.b1[doff + e] = src.b1[so + e];
    }
  }
}

/**
 * The exact present count of entry `i` of a vector over `n` observed tips, or -1 for the middle
 * entry, with `W = Kp + Ka + 1` (see the module documentation).
 */
function countOf(i: number, n: number, W: number, Kp: number, Ka: number): number {
  if (n + 1 < W || i < Kp) return i;
  if (i === Kp) return -1;
  return n - (Kp + Ka - i);
}

/** The entry that holds present count `p` of a vector over `n` observed tips. */
function indexOf(p: number, n: number, W: number, Kp: number, Ka: number): number {
  if (n + 1 < W || p < Kp) return p;
  if (p > n - Ka) return Kp + Ka - (n - p);
  return Kp;
}

/** The entry of a sum of entry `pi`'s count (-1: middle) and entry `j` of a vector over `nb`. */
function target(
  pi: number,
  j: number,
  nb: number,
  nc: number,
  W: number,
  Kp: number,
  Ka: number,
): number {
  const pj = countOf(j, nb, W, Kp, Ka);
  return pi < 0 || pj < 0 ? Kp : indexOf(pi + pj, nc, W, Kp, Ka);
}
