/**
 * Helpers for tests of per-branch rate assignments and tangent directions: every column of a
 * small tree, random per-branch rates and tangents, and an independent log-space pruning with one
 * (gain, loss) pair per branch.
 *
 * @module
 */
import type { FlatTree } from "../../lib/tree/flat_tree.ts";
import type { Random } from "../../lib/simulate/random.ts";

/**
 * Every column over {0, 1, 2}^nTips (absent, present, missing), pattern-major.
 *
 * @example
 * ```ts
 * import { allColumns } from "./per_branch.ts";
 * const { states, nPatterns } = allColumns(2);
 * console.assert(nPatterns === 9 && states.length === 18);
 * ```
 */
export function allColumns(nTips: number): { states: Uint8Array; nPatterns: number } {
  const nPatterns = 3 ** nTips;
  const states = new Uint8Array(nPatterns * nTips);
  for (let p = 0; p < nPatterns; p++) {
    let x = p;
    for (let i = 0; i < nTips; i++) {
      states[p * nTips + i] = x % 3;
      x = Math.floor(x / 3);
    }
  }
  return { states, nPatterns };
}

/**
 * `nSets` per-branch rate assignments for a tree of `nNodes` nodes, `[gain_v, loss_v]` per node,
 * each rate log-uniform in [0.02, 5] so that slow, fast, gain-heavy and loss-heavy branches mix.
 *
 * @example
 * ```ts
 * import { randomPerBranchRates } from "./per_branch.ts";
 * import { Random } from "../../lib/simulate/random.ts";
 * const r = randomPerBranchRates(7, 3, new Random(1));
 * console.assert(r.length === 42 && r.every((x) => x >= 0.02 && x <= 5));
 * ```
 */
export function randomPerBranchRates(nNodes: number, nSets: number, rng: Random): Float64Array {
  const lo = Math.log(0.02), hi = Math.log(5);
  return Float64Array.from(
    { length: nSets * 2 * nNodes },
    () => Math.exp(lo + (hi - lo) * rng.next()),
  );
}

/**
 * Random tangent directions: `count` values, each uniform in [-1, 1] except that about one in
 * five is exactly 0 (directions that leave some rates alone).
 *
 * @example
 * ```ts
 * import { randomTangents } from "./per_branch.ts";
 * import { Random } from "../../lib/simulate/random.ts";
 * const t = randomTangents(100, new Random(2));
 * console.assert(t.some((x) => x === 0) && t.every((x) => Math.abs(x) <= 1));
 * ```
 */
export function randomTangents(count: number, rng: Random): Float64Array {
  return Float64Array.from({ length: count }, () => {
    const u = rng.next();
    return u < 0.2 ? 0 : 2 * rng.next() - 1;
  });
}

/**
 * The same (gain, loss) pair at every node: a per-branch assignment equivalent to a global one.
 *
 * @example
 * ```ts
 * import { broadcastPair } from "./per_branch.ts";
 * console.assert(broadcastPair(0.5, 2, 3).join() === "0.5,2,0.5,2,0.5,2");
 * ```
 */
export function broadcastPair(gain: number, loss: number, nNodes: number): Float64Array {
  const out = new Float64Array(2 * nNodes);
  for (let v = 0; v < nNodes; v++) {
    out[2 * v] = gain;
    out[2 * v + 1] = loss;
  }
  return out;
}

/**
 * An independent log-space pruning with per-branch rates (`rates = [gain_v, loss_v]` per node;
 * the root's pair gives the stationary root prior): log-sum-exp at every node, so no scaling is
 * needed on big trees. Values only.
 *
 * @example
 * ```ts
 * import { logSpacePerBranch } from "./per_branch.ts";
 * import { cherry } from "./small_trees.ts";
 * // A missing column has probability 1.
 * console.assert(logSpacePerBranch(cherry(), [2, 2], [1, 2, 3, 4, 5, 6]) === 0);
 * ```
 */
export function logSpacePerBranch(
  tree: FlatTree,
  column: ArrayLike<number>,
  rates: ArrayLike<number>,
): number {
  const { nTips, nNodes, parent, branchLength } = tree;
  const lse = (a: number, b: number) => {
    const m = Math.max(a, b);
    return m === -Infinity ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
  };
  const l0 = new Float64Array(nNodes), l1 = new Float64Array(nNodes); // start at log 1 = 0
  for (let i = 0; i < nTips; i++) {
    l0[i] = column[i] === 1 ? -Infinity : 0;
    l1[i] = column[i] === 0 ? -Infinity : 0;
  }
  for (let i = 0; i < nNodes - 1; i++) {
    const gain = rates[2 * i], loss = rates[2 * i + 1];
    const s = gain + loss;
    const e = Math.exp(-s * branchLength[i]);
    const lp01 = Math.log(gain / s) + Math.log1p(-e);
    const lp10 = Math.log(loss / s) + Math.log1p(-e);
    const lp00 = Math.log(loss / s + (gain / s) * e);
    const lp11 = Math.log(gain / s + (loss / s) * e);
    const p = parent[i];
    l0[p] += lse(lp00 + l0[i], lp01 + l1[i]);
    l1[p] += lse(lp10 + l0[i], lp11 + l1[i]);
  }
  const root = nNodes - 1;
  const g = rates[2 * root], l = rates[2 * root + 1];
  return lse(Math.log(l / (g + l)) + l0[root], Math.log(g / (g + l)) + l1[root]);
}
