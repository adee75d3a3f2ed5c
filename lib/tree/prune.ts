/**
 * Pruning a {@linkcode FlatTree} down to a set of tips.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type FlatTree, flatTreeFromParents } from "./flat_tree.ts";

/**
 * Keeps only the tips whose names are in `keep`. Internal nodes left without children are
 * deleted; a node that had two or more children and is left with one is spliced out, its branch
 * length added to its child's (exact for a Markov model on branches, since
 * `P(s) P(t) = P(s + t)`); when that node is the root, its child becomes the root (the root's
 * branch carries no information under a stationary root prior). Unary nodes that were already
 * in the input tree are kept. Tips keep their relative order and internal nodes their post-order,
 * so the result follows the {@linkcode FlatTree} numbering rules.
 *
 * @param tree The tree to prune.
 * @param keep Names of the tips to keep; names not in the tree are ignored.
 * @returns A new tree (the input is not modified).
 * @throws {GenecontentError} If no tip of the tree is in `keep`.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "./flat_tree.ts";
 * import { pruneTree } from "./prune.ts";
 * // ((a:1,b:2):0.5,c:3);  keep a and c  ->  (a:1.5,c:3);
 * const t = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [1, 2, 3, 0.5, 0]);
 * const p = pruneTree(t, new Set(["a", "c"]));
 * console.assert(p.nNodes === 3 && p.branchLength[0] === 1.5 && p.branchLength[1] === 3);
 * ```
 */
export function pruneTree(tree: FlatTree, keep: ReadonlySet<string>): FlatTree {
  const { nTips, nNodes, parent, childStart, branchLength } = tree;
  const keptChildren = new Int32Array(nNodes);
  const alive = new Uint8Array(nNodes);
  let nKeptTips = 0;
  for (let i = 0; i < nNodes; i++) {
    if (i < nTips) {
      if (keep.has(tree.tipNames[i])) {
        alive[i] = 1;
        nKeptTips++;
      }
    } else if (keptChildren[i] > 0) {
      alive[i] = 1;
    }
    if (alive[i] && parent[i] >= 0) keptChildren[parent[i]]++;
  }
  if (nKeptTips === 0) {
    throw new GenecontentError("Pruning would remove every tip of the tree; no tip is kept.");
  }
  // Spliced: internal nodes made unary by the pruning.
  const spliced = new Uint8Array(nNodes);
  for (let i = nTips; i < nNodes; i++) {
    const original = childStart[i + 1] - childStart[i];
    if (alive[i] && original >= 2 && keptChildren[i] === 1) spliced[i] = 1;
  }
  // New indices for surviving nodes, in the original order (keeps post-order).
  const newIndex = new Int32Array(nNodes).fill(-1);
  const tipNames: string[] = [];
  const labels: (string | null)[] = [];
  let count = 0;
  for (let i = 0; i < nNodes; i++) {
    if (!alive[i] || spliced[i]) continue;
    newIndex[i] = count++;
    if (i < nTips) tipNames.push(tree.tipNames[i]);
    else labels.push(tree.internalLabels[i - nTips]);
  }
  const newParent = new Int32Array(count);
  const newLength = new Float64Array(count);
  let roots = 0;
  for (let i = 0; i < nNodes; i++) {
    const j = newIndex[i];
    if (j < 0) continue;
    let len = branchLength[i];
    let p = parent[i];
    while (p >= 0 && spliced[p]) {
      len += branchLength[p];
      p = parent[p];
    }
    if (p < 0) {
      newParent[j] = -1;
      newLength[j] = 0;
      roots++;
    } else {
      newParent[j] = newIndex[p];
      newLength[j] = len;
    }
  }
  if (roots !== 1 || newParent[count - 1] !== -1) {
    throw new Error(`Internal error: pruned tree has ${roots} roots.`);
  }
  return flatTreeFromParents(tipNames, newParent, newLength, labels);
}
