/**
 * The flat tree: the one tree representation every other module (pruning kernels, simulation,
 * the C ABI) works on.
 *
 * Node numbering (the same as the Rust kernel's):
 * - tips are nodes `0 .. nTips-1`, in the order their names appear in `tipNames`;
 * - internal nodes are `nTips .. nNodes-1`, in post-order (every child has a smaller index
 *   than its parent), so the root is `nNodes-1`;
 * - `parent[root] === -1`; for every other node `parent[i] > i`;
 * - `branchLength[i]` is the length of the branch above node `i` (the root's entry is `0`,
 *   because a length written on the root changes nothing under a stationary root prior);
 * - children of node `i` are `children[childStart[i] .. childStart[i+1]-1]` (empty for tips).
 *   Internal nodes may have one child (unary) or many (multifurcation).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/** A rooted tree as flat arrays, tips first and internal nodes in post-order. */
export interface FlatTree {
  /** Number of tips (leaves). */
  readonly nTips: number;
  /** Number of nodes, tips included. */
  readonly nNodes: number;
  /** Tip names; `tipNames[i]` names node `i`. Unique. */
  readonly tipNames: readonly string[];
  /** Labels of internal nodes (support values or names), `null` where absent; index `i - nTips`. */
  readonly internalLabels: readonly (string | null)[];
  /** Parent of each node; `-1` for the root. */
  readonly parent: Int32Array;
  /** Length of the branch above each node; `0` for the root. */
  readonly branchLength: Float64Array;
  /** Offsets into `children`, length `nNodes + 1`. */
  readonly childStart: Int32Array;
  /** Child indices, grouped by parent. */
  readonly children: Int32Array;
}

/**
 * Builds a {@linkcode FlatTree} from a parent array that already follows the numbering rules
 * (tips first, internal nodes in post-order, root last), checking every rule.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "./flat_tree.ts";
 * // ((a:1,b:2):0.5,c:3);
 * const t = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [1, 2, 3, 0.5, 0]);
 * console.assert(t.nNodes === 5 && t.children.length === 4);
 * ```
 */
export function flatTreeFromParents(
  tipNames: readonly string[],
  parent: ArrayLike<number>,
  branchLength: ArrayLike<number>,
  internalLabels?: readonly (string | null)[],
): FlatTree {
  const nNodes = parent.length;
  const nTips = tipNames.length;
  if (nTips < 1) throw new GenecontentError("A tree needs at least one tip.");
  if (branchLength.length !== nNodes) {
    throw new GenecontentError(
      `Branch length array has ${branchLength.length} entries but the tree has ${nNodes} nodes.`,
    );
  }
  if (nNodes === 1 && nTips === 1) {
    // A single tip is its own root.
  } else if (nNodes <= nTips) {
    throw new GenecontentError(`A tree with ${nTips} tips needs internal nodes.`);
  }
  const par = Int32Array.from(parent);
  const len = Float64Array.from(branchLength);
  const childCount = new Int32Array(nNodes);
  for (let i = 0; i < nNodes; i++) {
    const p = par[i];
    if (i === nNodes - 1) {
      if (p !== -1) throw new GenecontentError(`The last node (${i}) must be the root.`);
      len[i] = 0;
      continue;
    }
    if (!(p > i && p < nNodes)) {
      throw new GenecontentError(`Node ${i} has parent ${p}; parents must come after children.`);
    }
    if (p < nTips) throw new GenecontentError(`Node ${i} has a tip (${p}) as its parent.`);
    if (!(Number.isFinite(len[i]) && len[i] >= 0)) {
      throw new GenecontentError(`Node ${i} has branch length ${len[i]}; lengths must be >= 0.`);
    }
    childCount[p]++;
  }
  for (let i = nTips; i < nNodes; i++) {
    if (childCount[i] === 0) throw new GenecontentError(`Internal node ${i} has no children.`);
  }
  const childStart = new Int32Array(nNodes + 1);
  for (let i = 0; i < nNodes; i++) childStart[i + 1] = childStart[i] + childCount[i];
  const children = new Int32Array(childStart[nNodes]);
  const fill = childStart.slice(0, nNodes);
  for (let i = 0; i < nNodes - 1; i++) children[fill[par[i]]++] = i;
  const seen = new Set<string>();
  for (const name of tipNames) {
    if (seen.has(name)) throw new GenecontentError(`Duplicate tip name '${name}'.`);
    seen.add(name);
  }
  return {
    nTips,
    nNodes,
    tipNames: [...tipNames],
    internalLabels: internalLabels ? [...internalLabels] : new Array(nNodes - nTips).fill(null),
    parent: par,
    branchLength: len,
    childStart,
    children,
  };
}

/**
 * Distance from the root to each node (sum of branch lengths), computed without recursion.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents, nodeDepths } from "./flat_tree.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
 * console.assert(nodeDepths(t)[1] === 2);
 * ```
 */
export function nodeDepths(tree: FlatTree): Float64Array {
  const depth = new Float64Array(tree.nNodes);
  for (let i = tree.nNodes - 2; i >= 0; i--) {
    depth[i] = depth[tree.parent[i]] + tree.branchLength[i];
  }
  return depth;
}

/**
 * Sum of all branch lengths.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents, totalLength } from "./flat_tree.ts";
 * console.assert(totalLength(flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0])) === 3);
 * ```
 */
export function totalLength(tree: FlatTree): number {
  let s = 0;
  for (let i = 0; i < tree.nNodes - 1; i++) s += tree.branchLength[i];
  return s;
}
