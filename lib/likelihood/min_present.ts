/**
 * Ascertainment terms for presence/absence matrices filtered by prevalence ("families present
 * in at least k genomes"): the probability that fewer than `k` of the observed tips are present,
 * by pruning over present-counts, with derivatives with respect to log(gain) and log(loss).
 *
 * Each node carries, for each of its two states, the vector of probabilities that its
 * subtree's observed tips hold exactly c present, for c < k, plus one absorbing entry for "k or
 * more" (vectors are shorter while a subtree has fewer than k observed tips). Children combine
 * by convolution, every sum having positive terms only; so both P(fewer than k) and its
 * complement P(at least k) come out with full relative accuracy, without any subtraction.
 * Entries of one vector can differ by far more than the range of a double (P(0 present) versus
 * P(k or more) on a big tree), so every entry (both states together) has its own scale: when an
 * entry's values fall below 2^-256 they are multiplied by 2^256 (exact) and its scale count goes
 * up by one; convolution brings the products of each sum to the largest scale before adding.
 *
 * @module
 */
import type { FlatTree } from "../tree/flat_tree.ts";
import { checkRate, stationary, transitionDerivatives } from "../model/two_state.ts";

const TINY = 2 ** -256;
const HUGE = 2 ** 256;
const LOG_HUGE = 256 * Math.LN2;

/** A natural-log probability with its derivatives with respect to log(gain) and log(loss). */
export interface LogProbability {
  /** Natural log of the probability. */
  readonly logProb: number;
  /** d logProb / d log(gain). */
  readonly dLogGain: number;
  /** d logProb / d log(loss). */
  readonly dLogLoss: number;
}

/** Count vectors of one node: `[state 0: c = 0..m-1, state 1: c = 0..m-1]`, with derivatives. */
interface Counts {
  /** Entries per state: min(k + 1, observed tips below + 1); entry k (if any) is "k or more". */
  m: number;
  val: Float64Array;
  dg: Float64Array;
  dl: Float64Array;
  /** True value of entry c (both states) is the stored one times 2^(-256 scale[c]). */
  scale: Float64Array;
}

function tipCounts(observed: boolean): Counts {
  if (!observed) {
    // A missing tip adds no present tip, whatever its state.
    return {
      m: 1,
      val: Float64Array.of(1, 1),
      dg: new Float64Array(2),
      dl: new Float64Array(2),
      scale: new Float64Array(1),
    };
  }
  // Entry 1 is "one present" (or "k or more" when k = 1).
  return {
    m: 2,
    val: Float64Array.of(1, 0, 0, 1),
    dg: new Float64Array(4),
    dl: new Float64Array(4),
    scale: new Float64Array(2),
  };
}

/** Both tails of the present-count distribution at the root. */
interface Tails {
  readonly fewer: LogProbability;
  readonly atLeast: LogProbability;
}

/**
 * log P(fewer than `k` of the observed tips are present) under the gain/loss model with a
 * stationary root, and its derivatives with respect to log(gain) and log(loss).
 * `observedMask[tip]` is 1 for an observed tip and 0 for a missing one (missing tips are never
 * counted). For `k = 1` this is the log-likelihood of the all-absent column.
 *
 * @example
 * ```ts
 * import { probFewerThanPresent } from "./min_present.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
 * // Fewer than 3 present among 2 observed tips: certain.
 * const r = probFewerThanPresent(tree, new Uint8Array([1, 1]), 3, 0.5, 1);
 * console.assert(Math.abs(r.logProb) < 1e-15);
 * ```
 */
export function probFewerThanPresent(
  tree: FlatTree,
  observedMask: Uint8Array,
  k: number,
  gain: number,
  loss: number,
): LogProbability {
  return pruneTails(tree, observedMask, k, gain, loss).fewer;
}

function pruneTails(
  tree: FlatTree,
  observedMask: Uint8Array,
  k: number,
  gain: number,
  loss: number,
): Tails {
  checkRate("gain", gain);
  checkRate("loss", loss);
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new RangeError(`The minimum number of present tips must be an integer >= 1, got ${k}.`);
  }
  const { nTips, nNodes, childStart, children, branchLength } = tree;
  if (observedMask.length !== nTips) {
    throw new RangeError(
      `The observed-tip mask has ${observedMask.length} entries but the tree has ${nTips} tips.`,
    );
  }
  const nodes: (Counts | null)[] = new Array(nNodes).fill(null);
  for (let i = 0; i < nTips; i++) {
    const o = observedMask[i];
    if (o !== 0 && o !== 1) {
      throw new RangeError(`Tip ${i} has observed-mask value ${o}; it must be 0 or 1.`);
    }
    nodes[i] = tipCounts(o === 1);
  }
  const observedBelow = new Int32Array(nNodes);
  for (let i = 0; i < nTips; i++) observedBelow[i] = observedMask[i];
  for (let n = nTips; n < nNodes; n++) {
    let acc: Counts = {
      m: 1,
      val: Float64Array.of(1, 1),
      dg: new Float64Array(2),
      dl: new Float64Array(2),
      scale: new Float64Array(1),
    };
    let accObserved = 0;
    const first = childStart[n], last = childStart[n + 1];
    for (let ci = first; ci < last; ci++) {
      const c = children[ci];
      const child = nodes[c]!;
      nodes[c] = null; // no longer needed
      const edge = alongBranch(child, gain, loss, branchLength[c]);
      accObserved += observedBelow[c];
      acc = convolve(acc, edge, Math.min(k + 1, accObserved + 1), k);
      rescale(acc);
    }
    observedBelow[n] = accObserved;
    nodes[n] = acc;
  }
  const root = nodes[nNodes - 1]!;
  const st = stationary(gain, loss);
  const tail = (lo: number, hi: number): LogProbability => {
    const m = root.m;
    hi = Math.min(hi, m);
    let top = Infinity;
    for (let c = lo; c < hi; c++) top = Math.min(top, root.scale[c]);
    let s0 = 0, s1 = 0, g0 = 0, g1 = 0, l0 = 0, l1 = 0;
    for (let c = lo; c < hi; c++) {
      const f = shift(root.scale[c] - top);
      s0 += f * root.val[c];
      s1 += f * root.val[m + c];
      g0 += f * root.dg[c];
      g1 += f * root.dg[m + c];
      l0 += f * root.dl[c];
      l1 += f * root.dl[m + c];
    }
    const prob = st.pi0 * s0 + st.pi1 * s1;
    const dG = st.dLogGain.pi0 * s0 + st.dLogGain.pi1 * s1 + st.pi0 * g0 + st.pi1 * g1;
    const dL = st.dLogLoss.pi0 * s0 + st.dLogLoss.pi1 * s1 + st.pi0 * l0 + st.pi1 * l1;
    return {
      logProb: hi > lo ? Math.log(prob) - top * LOG_HUGE : -Infinity,
      dLogGain: dG / prob,
      dLogLoss: dL / prob,
    };
  };
  return { fewer: tail(0, k), atLeast: tail(k, k + 1) };
}

/**
 * log P(at least `k` of the observed tips are present) = log(1 - P(fewer than k present)),
 * with derivatives with respect to log(gain) and log(loss). It is summed directly from the
 * absorbing "k or more" entries of the pruning (no subtraction from 1), so it keeps full
 * relative accuracy when P(fewer than k) is close to 1 — the usual case for rare families on
 * small trees — where `log(-expm1(logP))` would lose about log10(1 / (1 - P)) digits. When
 * fewer than `k` tips are observed the result is `-Infinity` (with `NaN` derivatives).
 *
 * @example
 * ```ts
 * import { logProbObservable } from "./min_present.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a"], [-1], [0]);
 * // One tip, k = 1: observable when present, probability pi1 = gain / (gain + loss).
 * const r = logProbObservable(tree, new Uint8Array([1]), 1, 1, 3);
 * console.assert(Math.abs(r.logProb - Math.log(0.25)) < 1e-15);
 * ```
 */
export function logProbObservable(
  tree: FlatTree,
  observedMask: Uint8Array,
  k: number,
  gain: number,
  loss: number,
): LogProbability {
  return pruneTails(tree, observedMask, k, gain, loss).atLeast;
}

/** The child's count vectors seen from its parent's end of the branch: P applied per count. */
function alongBranch(child: Counts, gain: number, loss: number, t: number): Counts {
  const { m, val, dg, dl } = child;
  const d = transitionDerivatives(gain, loss, t);
  const { p00, p01, p10, p11 } = d.p;
  const g = d.dLogGain, l = d.dLogLoss;
  const oVal = new Float64Array(2 * m);
  const oDg = new Float64Array(2 * m);
  const oDl = new Float64Array(2 * m);
  for (let c = 0; c < m; c++) {
    const v0 = val[c], v1 = val[m + c];
    const gv0 = dg[c], gv1 = dg[m + c], lv0 = dl[c], lv1 = dl[m + c];
    oVal[c] = p00 * v0 + p01 * v1;
    oVal[m + c] = p10 * v0 + p11 * v1;
    oDg[c] = g.p00 * v0 + g.p01 * v1 + p00 * gv0 + p01 * gv1;
    oDg[m + c] = g.p10 * v0 + g.p11 * v1 + p10 * gv0 + p11 * gv1;
    oDl[c] = l.p00 * v0 + l.p01 * v1 + p00 * lv0 + p01 * lv1;
    oDl[m + c] = l.p10 * v0 + l.p11 * v1 + p10 * lv0 + p11 * lv1;
  }
  return {
    m,
    val: oVal,
    dg: oDg,
    dl: oDl,
    scale: child.scale,
  };
}

/** 2^(-256 d) for a whole number d >= 0 (0 once it would underflow). */
function shift(d: number): number {
  return d === 0 ? 1 : d < 5 ? 2 ** (-256 * d) : 0;
}

/**
 * Convolution of two count vectors (per parent state) to length `m <= k + 1`; when `m = k + 1`
 * the last entry absorbs every combination with `k` or more present. The products of each sum
 * are brought to the largest scale among them before adding (a product smaller than that by
 * more than the range of a double contributes nothing anyway).
 */
function convolve(a: Counts, b: Counts, m: number, k: number): Counts {
  const val = new Float64Array(2 * m);
  const dg = new Float64Array(2 * m);
  const dl = new Float64Array(2 * m);
  const scale = new Float64Array(m);
  for (let c = 0; c < m; c++) {
    // Pairs (i, j) with i + j = c, or i + j >= k for the "k or more" entry c = k.
    const atLeast = c === k;
    const iLo = atLeast ? 0 : Math.max(0, c - (b.m - 1));
    const iHi = atLeast ? a.m - 1 : Math.min(c, a.m - 1);
    let top = Infinity;
    for (let i = iLo; i <= iHi; i++) {
      const jLo = atLeast ? Math.max(0, k - i) : c - i;
      const jHi = atLeast ? b.m - 1 : c - i;
      for (let j = jLo; j <= jHi; j++) top = Math.min(top, a.scale[i] + b.scale[j]);
    }
    scale[c] = top;
    for (let x = 0; x < 2; x++) {
      const oa = x * a.m, ob = x * b.m;
      let v = 0, g = 0, l = 0;
      for (let i = iLo; i <= iHi; i++) {
        const jLo = atLeast ? Math.max(0, k - i) : c - i;
        const jHi = atLeast ? b.m - 1 : c - i;
        const av = a.val[oa + i], ag = a.dg[oa + i], al = a.dl[oa + i];
        for (let j = jLo; j <= jHi; j++) {
          const f = shift(a.scale[i] + b.scale[j] - top);
          const bv = b.val[ob + j];
          v += f * av * bv;
          g += f * (ag * bv + av * b.dg[ob + j]);
          l += f * (al * bv + av * b.dl[ob + j]);
        }
      }
      val[x * m + c] = v;
      dg[x * m + c] = g;
      dl[x * m + c] = l;
    }
  }
  return { m, val, dg, dl, scale };
}

/** Multiplies each entry (both states) by 2^256 while its values are below 2^-256. */
function rescale(node: Counts): void {
  const { m, val, dg, dl, scale } = node;
  for (let c = 0; c < m; c++) {
    let max = val[c] > val[m + c] ? val[c] : val[m + c];
    while (max > 0 && max < TINY) {
      for (const i of [c, m + c]) {
        val[i] *= HUGE;
        dg[i] *= HUGE;
        dl[i] *= HUGE;
      }
      scale[c]++;
      max *= HUGE;
    }
  }
}
