/**
 * Brute-force references for ancestral quantities: enumeration of every joint assignment of
 * states to the nodes of a small tree (tips included, where a tip is missing), independent of the
 * pruning code. From the joint probabilities come each branch's end-state posterior, the
 * `M_v[a][b]` (the joint with the branch's own factor left out, over L) of the expectations primitive, node
 * presence, and (with the chain's closed forms supplied by the caller or Van Loan's integrals)
 * expected events.
 *
 * Also a small dense matrix exponential (scaling and squaring with a [6/6] Padé approximant) for
 * Van Loan's block-matrix check of the endpoint-conditioned integrals.
 *
 * @module
 */
import type { FlatTree } from "../../lib/tree/flat_tree.ts";

/** Transition probabilities of the two-state chain, written from exp(-s t) directly. */
export function plainTransition(gain: number, loss: number, t: number): number[] {
  const s = gain + loss, pi1 = gain / s, pi0 = loss / s;
  const e = Math.exp(-s * t);
  return [pi0 + pi1 * e, pi1 - pi1 * e, pi0 - pi0 * e, pi1 + pi0 * e];
}

/** Enumerated joint quantities of one column. */
export interface BruteAncestral {
  /** The column's likelihood (no ascertainment). */
  readonly likelihood: number;
  /** `joint[v * 4 + 2a + b] = P(parent = a, v = b | column)`; the root: `P(root = a)` at 3a. */
  readonly joint: Float64Array;
  /**
   * `m[v * 4 + 2a + b]`: the sum over assignments with parent a and v b of every factor but the
   * branch's own, over L (= joint / P_ab(t_v) where P_ab > 0); the root: its posterior.
   */
  readonly m: Float64Array;
  /** `present[v] = P(v = 1 | column)`. */
  readonly present: Float64Array;
}

/**
 * Enumerates every state assignment of the nodes of `tree` consistent with `column` (tip states
 * 0, 1 or 2 = missing) under per-branch rates (`rates[2v], rates[2v + 1]` the gain and loss of the
 * branch above `v`; the root's pair sets the stationary root prior).
 *
 * @example
 * ```ts
 * import { bruteAncestral } from "./brute_force_ancestral.ts";
 * import { cherry } from "./small_trees.ts";
 * const r = bruteAncestral(cherry(), [2, 2], [1, 1, 1, 1, 1, 1]);
 * console.assert(Math.abs(r.likelihood - 1) < 1e-15 && Math.abs(r.present[2] - 0.5) < 1e-15);
 * ```
 */
export function bruteAncestral(
  tree: FlatTree,
  column: ArrayLike<number>,
  rates: ArrayLike<number>,
): BruteAncestral {
  const { nTips, nNodes, parent, branchLength } = tree;
  const root = nNodes - 1;
  const P = Array.from(
    { length: nNodes },
    (_, v) => plainTransition(rates[2 * v], rates[2 * v + 1], branchLength[v]),
  );
  const rg = rates[2 * root], rl = rates[2 * root + 1];
  const pi = [rl / (rg + rl), rg / (rg + rl)];
  const free: number[] = [];
  for (let v = 0; v < nNodes; v++) if (v >= nTips || column[v] === 2) free.push(v);
  const x = new Int8Array(nNodes);
  for (let v = 0; v < nTips; v++) if (column[v] !== 2) x[v] = column[v];
  const joint = new Float64Array(nNodes * 4);
  const m = new Float64Array(nNodes * 4);
  const present = new Float64Array(nNodes);
  // Factors of one assignment (node v: its branch; the root: its prior) and their prefix and
  // suffix products, so that M sums the product of every factor but v's (no division by P_ab,
  // which is 0 on a zero-length branch).
  const f = new Float64Array(nNodes), pre = new Float64Array(nNodes + 1);
  const suf = new Float64Array(nNodes + 1);
  let total = 0;
  for (let mask = 0; mask < 2 ** free.length; mask++) {
    for (let i = 0; i < free.length; i++) x[free[i]] = (mask >> i) & 1;
    for (let v = 0; v < root; v++) f[v] = P[v][2 * x[parent[v]] + x[v]];
    f[root] = pi[x[root]];
    pre[0] = 1;
    for (let v = 0; v < nNodes; v++) pre[v + 1] = pre[v] * f[v];
    suf[nNodes] = 1;
    for (let v = nNodes - 1; v >= 0; v--) suf[v] = suf[v + 1] * f[v];
    const w = pre[nNodes];
    total += w;
    for (let v = 0; v < root; v++) {
      const j = v * 4 + 2 * x[parent[v]] + x[v];
      joint[j] += w;
      m[j] += pre[v] * suf[v + 1];
    }
    joint[root * 4 + 3 * x[root]] += w;
    m[root * 4 + 3 * x[root]] += w;
    for (let v = 0; v < nNodes; v++) if (x[v] === 1) present[v] += w;
  }
  for (let i = 0; i < joint.length; i++) {
    joint[i] /= total;
    m[i] /= total;
  }
  for (let v = 0; v < nNodes; v++) present[v] /= total;
  return { likelihood: total, joint, m, present };
}

/** Product of two square matrices stored row-major. */
function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

/** Solves `A X = B` for square `A` by Gaussian elimination with partial pivoting. */
function solve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const A = Float64Array.from(a), X = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r * n + c]) > Math.abs(A[piv * n + c])) piv = r;
    for (let j = 0; j < n; j++) {
      [A[c * n + j], A[piv * n + j]] = [A[piv * n + j], A[c * n + j]];
      [X[c * n + j], X[piv * n + j]] = [X[piv * n + j], X[c * n + j]];
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = A[r * n + c] / A[c * n + c];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        A[r * n + j] -= f * A[c * n + j];
        X[r * n + j] -= f * X[c * n + j];
      }
    }
  }
  for (let r = 0; r < n; r++) {
    const d = A[r * n + r];
    for (let j = 0; j < n; j++) X[r * n + j] /= d;
  }
  return X;
}

/**
 * The exponential of a small dense matrix (row-major, `n x n`) by scaling and squaring with the
 * diagonal [6/6] Padé approximant (Moler and Van Loan's method 3): accurate to a few ulps relative
 * to the norm for the well-conditioned generators used in tests.
 *
 * @example
 * ```ts
 * import { expm } from "./brute_force_ancestral.ts";
 * const e = expm(Float64Array.of(0, 1, 0, 0), 2); // [[1, 1], [0, 1]]
 * console.assert(Math.abs(e[1] - 1) < 1e-15 && Math.abs(e[0] - 1) < 1e-15);
 * ```
 */
export function expm(a: Float64Array, n: number): Float64Array {
  let norm = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row += Math.abs(a[i * n + j]);
    norm = Math.max(norm, row);
  }
  const squarings = Math.max(0, Math.ceil(Math.log2(norm / 0.5)));
  const scale = 2 ** -squarings;
  const A = Float64Array.from(a, (x) => x * scale);
  // Padé [6/6] coefficients c_k = (12 - k)! 6! / (12! k! (6 - k)!).
  const q = 6;
  const coef: number[] = [1];
  for (let k = 1; k <= q; k++) coef.push(coef[k - 1] * (q - k + 1) / (k * (2 * q - k + 1)));
  let power: Float64Array = new Float64Array(n * n);
  for (let i = 0; i < n; i++) power[i * n + i] = 1;
  const N = new Float64Array(n * n), D = new Float64Array(n * n);
  for (let k = 0; k <= q; k++) {
    if (k > 0) power = matMul(power, A, n);
    const sign = k % 2 === 0 ? 1 : -1;
    for (let i = 0; i < n * n; i++) {
      N[i] += coef[k] * power[i];
      D[i] += sign * coef[k] * power[i];
    }
  }
  let E: Float64Array = solve(D, N, n);
  for (let s = 0; s < squarings; s++) E = matMul(E, E, n);
  return E;
}

/**
 * Van Loan's endpoint integrals of the two-state chain: `integral_0^t P(x) E_ij P(t - x) dx`
 * (a 2 x 2 matrix whose (a, b) entry times `q_ij` is `E[N_ij | a, b] P_ab(t)`), from the upper
 * right block of `exp([[Q, E_ij], [0, Q]] t)`.
 *
 * @example
 * ```ts
 * import { vanLoanIntegral } from "./brute_force_ancestral.ts";
 * // For a tiny branch, the 0 -> 1 integral from 0 to 1 is about t.
 * const j = vanLoanIntegral(0.5, 1, 1e-6, 0, 1);
 * console.assert(Math.abs(j[1] - 1e-6) < 1e-11);
 * ```
 */
export function vanLoanIntegral(
  gain: number,
  loss: number,
  t: number,
  i: number,
  j: number,
): Float64Array {
  const Q = [-gain, gain, loss, -loss];
  const C = new Float64Array(16);
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < 2; c++) {
      C[r * 4 + c] = Q[2 * r + c] * t;
      C[(r + 2) * 4 + c + 2] = Q[2 * r + c] * t;
    }
  }
  C[i * 4 + 2 + j] = t;
  const E = expm(C, 4);
  return Float64Array.of(E[2], E[3], E[4 + 2], E[4 + 3]);
}

/** A weighted component: tree rates, or `null` for the invariant class (present everywhere). */
export interface AncestralComponent {
  /** The component's weight. */
  readonly weight: number;
  /** Its rates on the tree's branches, or `null` for the invariant class. */
  readonly rates: { readonly gain: number; readonly loss: number } | null;
}

/** Per-node ancestral values of one column under a model (branches named by their child). */
export interface BruteModelAncestral {
  /** The column's likelihood, sum over components of weight times P(column | component). */
  readonly likelihood: number;
  /** P(node present | column) (true states: tips too under error). */
  readonly present: Float64Array;
  /** Expected gains on the branch above each node (root 0). */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (root 0). */
  readonly losses: Float64Array;
  /** Posterior component probabilities. */
  readonly posterior: Float64Array;
}

/**
 * Ancestral values of one recorded column under a model by enumeration of the component and of
 * every node's true state (tips included): each observed tip contributes P(recorded | true) with
 * `ePlus` = P(recorded 1 | truly 0) and `eMinus[i]` = P(recorded 0 | truly 1) (no error: 0/1),
 * missing tips 1. Expected events on a branch are sum over end states of the joint posterior
 * times Van Loan's conditional mean `q_ij I_ij(a, b) / P_ab`.
 *
 * @example
 * ```ts
 * import { bruteModelAncestral } from "./brute_force_ancestral.ts";
 * import { cherry } from "./small_trees.ts";
 * const r = bruteModelAncestral(cherry(), [1, 1], [{ weight: 1, rates: null }], null);
 * console.assert(r.likelihood === 1 && r.present.every((x) => x === 1));
 * ```
 */
export function bruteModelAncestral(
  tree: FlatTree,
  column: ArrayLike<number>,
  components: readonly AncestralComponent[],
  error: { readonly ePlus: number; readonly eMinus: readonly number[] } | null,
): BruteModelAncestral {
  const { nTips, nNodes, parent, branchLength } = tree;
  const root = nNodes - 1;
  const recorded = (tip: number, truth: number) => {
    const rec = column[tip];
    if (rec === 2) return 1;
    if (!error) return truth === rec ? 1 : 0;
    const e = truth === 0 ? error.ePlus : error.eMinus[tip];
    return truth === rec ? 1 - e : e;
  };
  const present = new Float64Array(nNodes);
  const gains = new Float64Array(nNodes), losses = new Float64Array(nNodes);
  const parts = new Float64Array(components.length);
  const x = new Int8Array(nNodes);
  components.forEach((comp, c) => {
    if (comp.rates === null) {
      let p = comp.weight;
      for (let i = 0; i < nTips; i++) p *= recorded(i, 1);
      parts[c] = p;
      for (let v = 0; v < nNodes; v++) present[v] += p;
      return;
    }
    const { gain, loss } = comp.rates;
    const P = Array.from({ length: root }, (_, v) => plainTransition(gain, loss, branchLength[v]));
    const g01 = Array.from(
      { length: root },
      (_, v) => vanLoanIntegral(gain, loss, branchLength[v], 0, 1),
    );
    const l10 = Array.from(
      { length: root },
      (_, v) => vanLoanIntegral(gain, loss, branchLength[v], 1, 0),
    );
    const pi = [loss / (gain + loss), gain / (gain + loss)];
    for (let mask = 0; mask < 2 ** nNodes; mask++) {
      for (let v = 0; v < nNodes; v++) x[v] = (mask >> v) & 1;
      let w = comp.weight * pi[x[root]];
      for (let v = 0; v < root; v++) w *= P[v][2 * x[parent[v]] + x[v]];
      for (let i = 0; i < nTips; i++) w *= recorded(i, x[i]);
      if (w === 0) continue;
      parts[c] += w;
      for (let v = 0; v < nNodes; v++) {
        if (x[v] === 1) present[v] += w;
        if (v === root) continue;
        const ab = 2 * x[parent[v]] + x[v];
        gains[v] += w * gain * g01[v][ab] / P[v][ab];
        losses[v] += w * loss * l10[v][ab] / P[v][ab];
      }
    }
  });
  let L = 0;
  for (const p of parts) L += p;
  for (let v = 0; v < nNodes; v++) {
    present[v] /= L;
    gains[v] /= L;
    losses[v] /= L;
  }
  return { likelihood: L, present, gains, losses, posterior: parts.map((p) => p / L) };
}
