/**
 * Random trees of any shape for cross-checks: multifurcations, unary nodes, zero-length and
 * long branches, with tips in shuffled order so that tip numbering and topology are unrelated.
 *
 * @module
 */
import { type FlatTree, flatTreeFromParents } from "../../lib/tree/flat_tree.ts";
import type { Random } from "../../lib/simulate/random.ts";

/**
 * A random rooted tree with `nTips` tips: internal nodes are made by joining 1 to 4 existing
 * subtrees (1 makes a unary node), until one root remains.
 *
 * @example
 * ```ts
 * import { randomTopology } from "./random_topology.ts";
 * import { Random } from "../../lib/simulate/random.ts";
 * const t = randomTopology(10, new Random(1));
 * console.assert(t.nTips === 10);
 * ```
 */
export function randomTopology(nTips: number, rng: Random): FlatTree {
  const pick = (n: number) => Math.floor(rng.next() * n);
  const parentOf: number[] = new Array(nTips).fill(-1);
  const length: number[] = [];
  for (let i = 0; i < nTips; i++) length.push(branch());
  function branch(): number {
    const u = rng.next();
    if (u < 0.05) return 0;
    if (u < 0.1) return 3 + 5 * rng.next();
    return 0.01 + 0.6 * rng.next();
  }
  let roots = Array.from({ length: nTips }, (_, i) => i);
  let next = nTips;
  let unaryBudget = 3;
  while (roots.length > 1 || next === nTips) {
    let k = 2 + (rng.next() < 0.3 ? pick(3) : 0);
    if (unaryBudget > 0 && rng.next() < 0.1) {
      k = 1;
      unaryBudget--;
    }
    k = Math.min(k, roots.length);
    const chosen: number[] = [];
    for (let j = 0; j < k; j++) chosen.push(roots.splice(pick(roots.length), 1)[0]);
    for (const c of chosen) parentOf[c] = next;
    parentOf.push(-1);
    length.push(branch());
    roots.push(next);
    next++;
    if (roots.length === 1 && next > nTips) break;
  }
  roots = [];
  return flatTreeFromParents(
    Array.from({ length: nTips }, (_, i) => `t${i}`),
    parentOf,
    length,
  );
}

/**
 * Random pattern-major states with a mix of rare, common, all-absent, all-present and missing
 * cells.
 *
 * @example
 * ```ts
 * import { randomStates } from "./random_topology.ts";
 * import { Random } from "../../lib/simulate/random.ts";
 * console.assert(randomStates(5, 7, new Random(2)).length === 35);
 * ```
 */
export function randomStates(nPatterns: number, nTips: number, rng: Random): Uint8Array {
  const states = new Uint8Array(nPatterns * nTips);
  for (let p = 0; p < nPatterns; p++) {
    const kind = p % 6;
    const presence = [0.02, 0.5, 0.98, 0, 1, 0.3][kind];
    const missing = kind === 5 ? 0.2 : kind === 1 ? 0.05 : 0;
    for (let i = 0; i < nTips; i++) {
      const u = rng.next();
      states[p * nTips + i] = u < missing ? 2 : rng.next() < presence ? 1 : 0;
    }
  }
  return states;
}
