/**
 * Ascertainment terms for presence/absence matrices filtered by prevalence ("families present
 * in at least k genomes") for one observed-tip mask and one global (gain, loss): thin wrappers
 * over {@linkcode ObservableWindow} (`observable.ts`), which handles any window [K, M], many
 * masks and sets per call, per-branch rates and tangents, with full relative accuracy.
 *
 * @module
 */
import type { FlatTree } from "../tree/flat_tree.ts";
import { GenecontentError } from "../errors.ts";
import { ObservableWindow } from "./observable.ts";

/** A natural-log probability with its derivatives with respect to log(gain) and log(loss). */
export interface LogProbability {
  /** Natural log of the probability. */
  readonly logProb: number;
  /** d logProb / d log(gain). */
  readonly dLogGain: number;
  /** d logProb / d log(loss). */
  readonly dLogLoss: number;
}

function checkK(k: number): void {
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new GenecontentError(
      `The minimum number of present tips must be a whole number >= 1; got ${k}.`,
    );
  }
}

function one(
  tree: FlatTree,
  observedMask: Uint8Array,
  minPresent: number,
  maxPresent: number | null,
  gain: number,
  loss: number,
): LogProbability {
  const engine = new ObservableWindow(tree, [observedMask], { minPresent, maxPresent });
  const r = engine.evaluate(Float64Array.of(gain, loss), { gradient: true });
  return { logProb: r.logProb[0], dLogGain: r.grad![0], dLogLoss: r.grad![1] };
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
  checkK(k);
  return one(tree, observedMask, 0, k - 1, gain, loss);
}

/**
 * log P(at least `k` of the observed tips are present), with derivatives with respect to
 * log(gain) and log(loss), computed without any subtraction from 1 (see `observable.ts`).
 * When fewer than `k` tips are observed the result is `-Infinity` (with `NaN` derivatives).
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
  checkK(k);
  let observed = 0;
  for (let i = 0; i < observedMask.length; i++) observed += observedMask[i] === 1 ? 1 : 0;
  if (observedMask.length === tree.nTips && observed < k && observedMask.every((o) => o <= 1)) {
    return { logProb: -Infinity, dLogGain: NaN, dLogLoss: NaN };
  }
  return one(tree, observedMask, k, null, gain, loss);
}
