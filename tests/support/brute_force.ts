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
 *
 * @module
 */
import type { FlatTree } from "../../lib/tree/flat_tree.ts";

/** Largest number of free (summed-over) nodes the enumeration accepts. */
const MAX_FREE = 16;

function transition(gain: number, loss: number, t: number, from: number, to: number): number {
  const s = gain + loss;
  const piTo = to === 1 ? gain / s : loss / s;
  return piTo + ((from === to ? 1 : 0) - piTo) * Math.exp(-s * t);
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
  const { nTips, nNodes, parent, branchLength } = tree;
  const free: number[] = [];
  for (let i = 0; i < nTips; i++) if (tipStates[i] === 2) free.push(i);
  for (let i = nTips; i < nNodes; i++) free.push(i);
  if (free.length > MAX_FREE) {
    throw new RangeError(`Brute force over ${free.length} free nodes is too slow.`);
  }
  const state: number[] = [];
  for (let i = 0; i < nTips; i++) state.push(tipStates[i]);
  for (let i = nTips; i < nNodes; i++) state.push(0);
  const root = nNodes - 1;
  let total = 0;
  for (let mask = 0; mask < 2 ** free.length; mask++) {
    free.forEach((node, bit) => {
      state[node] = (mask >> bit) & 1;
    });
    let joint = state[root] === 1 ? gain / (gain + loss) : loss / (gain + loss);
    for (let i = 0; i < root; i++) {
      joint *= transition(gain, loss, branchLength[i], state[parent[i]], state[i]);
    }
    total += joint;
  }
  return total;
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
