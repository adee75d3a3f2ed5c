/**
 * Brute-force references for the likelihood code: direct enumeration of every assignment of
 * hidden states, written as differently from pruning as practical. Only for small trees.
 *
 * - Transition probabilities use the spectral form P_xy(t) = pi_y + (delta_xy - pi_y) exp(-s t)
 *   (not the expm1 form of the library), with plain numbers.
 * - The joint probability of a full assignment of states to all nodes is the root prior times
 *   the product, over every non-root node, of P(parent state -> node state) along its branch;
 *   the likelihood of a column is the sum of the joint over every internal assignment and over
 *   both states of each missing tip.
 * - Per-branch rates give each branch its own (gain, loss), the pair of the node below it; the
 *   root's pair gives the root prior (its stationary distribution).
 * - Directional derivatives of log L use the complex step: every log-rate moves by `i h tau`
 *   (`tau` the direction's entry), the enumeration runs in complex arithmetic, and
 *   d log L = Im L / (h Re L). With h = 1e-30 the truncation error (order h^2) is nil and, unlike
 *   finite differences, nothing cancels, so the result is accurate to rounding.
 *
 * @module
 */
import type { FlatTree } from "../../lib/tree/flat_tree.ts";

/** Largest number of free (summed-over) nodes the enumeration accepts. */
const MAX_FREE = 16;
/** The complex step: small enough that h^2 terms vanish next to 1 in double precision. */
const COMPLEX_STEP = 1e-30;

function transition(gain: number, loss: number, t: number, from: number, to: number): number {
  const s = gain + loss;
  const piTo = to === 1 ? gain / s : loss / s;
  return piTo + ((from === to ? 1 : 0) - piTo) * Math.exp(-s * t);
}

/** The free nodes (missing tips, then internal nodes) and the fixed starting states. */
function enumerationSetup(tree: FlatTree, tipStates: ArrayLike<number>) {
  const { nTips, nNodes } = tree;
  if (tipStates.length !== nTips) {
    throw new RangeError(`A column needs ${nTips} tip states, got ${tipStates.length}.`);
  }
  const free: number[] = [];
  for (let i = 0; i < nTips; i++) if (tipStates[i] === 2) free.push(i);
  for (let i = nTips; i < nNodes; i++) free.push(i);
  if (free.length > MAX_FREE) {
    throw new RangeError(`Brute force over ${free.length} free nodes is too slow.`);
  }
  const state: number[] = [];
  for (let i = 0; i < nTips; i++) state.push(tipStates[i]);
  for (let i = nTips; i < nNodes; i++) state.push(0);
  return { free, state };
}

/** Sums the joint probability over every assignment, the rates of node `v` from `rateOf(v)`. */
function enumerate(
  tree: FlatTree,
  tipStates: ArrayLike<number>,
  rateOf: (v: number) => [number, number],
): number {
  const { nNodes, parent, branchLength } = tree;
  const { free, state } = enumerationSetup(tree, tipStates);
  const root = nNodes - 1;
  const [rootGain, rootLoss] = rateOf(root);
  const rates = Array.from({ length: root }, (_, v) => rateOf(v));
  let total = 0;
  for (let mask = 0; mask < 2 ** free.length; mask++) {
    free.forEach((node, bit) => {
      state[node] = (mask >> bit) & 1;
    });
    let joint = state[root] === 1
      ? rootGain / (rootGain + rootLoss)
      : rootLoss / (rootGain + rootLoss);
    for (let i = 0; i < root; i++) {
      const [gain, loss] = rates[i];
      joint *= transition(gain, loss, branchLength[i], state[parent[i]], state[i]);
    }
    total += joint;
  }
  return total;
}

function checkPerBranchRates(tree: FlatTree, rates: ArrayLike<number>): void {
  if (rates.length !== 2 * tree.nNodes) {
    throw new RangeError(
      `Per-branch rates need 2 x ${tree.nNodes} values, got ${rates.length}.`,
    );
  }
}

/**
 * The probability (not its log) of one column of tip states (0 absent, 1 present, 2 missing)
 * by summing the joint probability over all 2^(internal nodes + missing tips) assignments.
 *
 * @example
 * ```ts
 * import { bruteForceLikelihood } from "./brute_force.ts";
 * import { cherry } from "./small_trees.ts";
 * const total = [0, 1].flatMap((a) => [0, 1].map((b) => bruteForceLikelihood(cherry(), [a, b], 1, 2)))
 *   .reduce((x, y) => x + y);
 * console.assert(Math.abs(total - 1) < 1e-14);
 * ```
 */
export function bruteForceLikelihood(
  tree: FlatTree,
  tipStates: ArrayLike<number>,
  gain: number,
  loss: number,
): number {
  return enumerate(tree, tipStates, () => [gain, loss]);
}

/**
 * As {@linkcode bruteForceLikelihood} with one (gain, loss) pair per node:
 * `rates = [gain_0, loss_0, gain_1, loss_1, ...]` over the tree's nodes, the pair of node `v`
 * being the rates of the branch above `v` and the root's pair giving the root prior.
 *
 * @example
 * ```ts
 * import { bruteForceLikelihoodPerBranch } from "./brute_force.ts";
 * import { singleTip } from "./small_trees.ts";
 * // A single tip is the root: a present tip has probability pi1 = gain / (gain + loss).
 * const p = bruteForceLikelihoodPerBranch(singleTip(), [1], [1, 3]);
 * console.assert(Math.abs(p - 0.25) < 1e-15);
 * ```
 */
export function bruteForceLikelihoodPerBranch(
  tree: FlatTree,
  tipStates: ArrayLike<number>,
  rates: ArrayLike<number>,
): number {
  checkPerBranchRates(tree, rates);
  return enumerate(tree, tipStates, (v) => [rates[2 * v], rates[2 * v + 1]]);
}

/** A complex number as [re, im]. */
type Complex = [number, number];

const cmul = (a: Complex, b: Complex): Complex => [
  a[0] * b[0] - a[1] * b[1],
  a[0] * b[1] + a[1] * b[0],
];
const cdiv = (a: Complex, b: Complex): Complex => {
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
/** exp(-(s) t) for complex s and real t. */
const cexpNeg = (s: Complex, t: number): Complex => {
  const m = Math.exp(-s[0] * t);
  return [m * Math.cos(-s[1] * t), m * Math.sin(-s[1] * t)];
};

/**
 * The derivative of log L (L from {@linkcode bruteForceLikelihoodPerBranch}) along `direction`,
 * a vector over the log-rates (`direction[2 v]` moves log gain_v, `direction[2 v + 1]` log
 * loss_v), by the complex step through the whole enumeration.
 *
 * @example
 * ```ts
 * import { bruteForceDirectionalDerivative } from "./brute_force.ts";
 * import { singleTip } from "./small_trees.ts";
 * // log pi1 = log gain - log(gain + loss): d/d log gain = pi0 = 0.75 at (1, 3).
 * const d = bruteForceDirectionalDerivative(singleTip(), [1], [1, 3], [1, 0]);
 * console.assert(Math.abs(d - 0.75) < 1e-15);
 * ```
 */
export function bruteForceDirectionalDerivative(
  tree: FlatTree,
  tipStates: ArrayLike<number>,
  rates: ArrayLike<number>,
  direction: ArrayLike<number>,
): number {
  checkPerBranchRates(tree, rates);
  if (direction.length !== rates.length) {
    throw new RangeError(`A direction needs ${rates.length} values, got ${direction.length}.`);
  }
  const { nNodes, parent, branchLength } = tree;
  const { free, state } = enumerationSetup(tree, tipStates);
  const h = COMPLEX_STEP;
  // rate * exp(i h tau) = rate (cos(h tau) + i sin(h tau)).
  const shifted = (i: number): Complex => [
    rates[i] * Math.cos(h * direction[i]),
    rates[i] * Math.sin(h * direction[i]),
  ];
  const root = nNodes - 1;
  // Per node: [pi0, pi1, exp(-s t)] in complex numbers.
  const node = Array.from({ length: nNodes }, (_, v) => {
    const gain = shifted(2 * v), loss = shifted(2 * v + 1);
    const s: Complex = [gain[0] + loss[0], gain[1] + loss[1]];
    return { pi: [cdiv(loss, s), cdiv(gain, s)], e: cexpNeg(s, branchLength[v]) };
  });
  let total: Complex = [0, 0];
  for (let mask = 0; mask < 2 ** free.length; mask++) {
    free.forEach((n, bit) => {
      state[n] = (mask >> bit) & 1;
    });
    let joint: Complex = node[root].pi[state[root]];
    for (let i = 0; i < root; i++) {
      const { pi, e } = node[i];
      const piTo = pi[state[i]];
      const delta = state[parent[i]] === state[i] ? 1 : 0;
      // P = pi_to + (delta - pi_to) e
      const p = cmul([delta - piTo[0], -piTo[1]], e);
      joint = cmul(joint, [piTo[0] + p[0], piTo[1] + p[1]]);
    }
    total = [total[0] + joint[0], total[1] + joint[1]];
  }
  return total[1] / (h * total[0]);
}

/**
 * The distribution of the number of present tips among the observed ones: entry `c` is the
 * probability that exactly `c` observed tips are present, by enumerating every 0/1 assignment of
 * the observed tips (missing tips stay missing) and adding its brute-force likelihood.
 *
 * @example
 * ```ts
 * import { bruteForcePresentCounts } from "./brute_force.ts";
 * import { cherry } from "./small_trees.ts";
 * const counts = bruteForcePresentCounts(cherry(), [1, 1], 1, 2);
 * console.assert(counts.length === 3 && Math.abs(counts.reduce((a, b) => a + b) - 1) < 1e-14);
 * ```
 */
export function bruteForcePresentCounts(
  tree: FlatTree,
  observedMask: ArrayLike<number>,
  gain: number,
  loss: number,
): number[] {
  const observed: number[] = [];
  for (let i = 0; i < tree.nTips; i++) if (observedMask[i] === 1) observed.push(i);
  const counts = new Array(observed.length + 1).fill(0);
  for (let mask = 0; mask < 2 ** observed.length; mask++) {
    const column = new Array(tree.nTips).fill(2);
    let present = 0;
    observed.forEach((tip, bit) => {
      column[tip] = (mask >> bit) & 1;
      present += column[tip];
    });
    counts[present] += bruteForceLikelihood(tree, column, gain, loss);
  }
  return counts;
}

/**
 * P(fewer than `k` of the observed tips are present): the sum of the first `k` entries of
 * {@linkcode bruteForcePresentCounts}.
 *
 * @example
 * ```ts
 * import { bruteForceFewerThan } from "./brute_force.ts";
 * import { cherry } from "./small_trees.ts";
 * // Fewer than 3 of 2 tips present: certain.
 * console.assert(Math.abs(bruteForceFewerThan(cherry(), [1, 1], 3, 1, 2) - 1) < 1e-14);
 * ```
 */
export function bruteForceFewerThan(
  tree: FlatTree,
  observedMask: ArrayLike<number>,
  k: number,
  gain: number,
  loss: number,
): number {
  return bruteForcePresentCounts(tree, observedMask, gain, loss).slice(0, k)
    .reduce((a, b) => a + b, 0);
}
