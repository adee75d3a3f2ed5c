/**
 * Rectangular layout of a rooted tree for drawing: every tip on its own row, every node at its
 * distance from the root (a phylogram; or at its number of edges from the root, a cladogram,
 * when the tree has no usable branch lengths), an internal node midway between its first and
 * last child's rows.
 *
 * Tips are ordered by a depth-first walk from the root; with `ladderize` (the default) the
 * children of every node are visited from the smallest clade to the largest (ties keep the
 * tree's order), so big clades sink to the bottom and the drawing reads as in FigTree's
 * "increasing" order.
 *
 * @module
 */

import type { FlatTree } from "../tree/flat_tree.ts";

/** Where each node of a tree is drawn, in tree units (see {@linkcode layoutTree}). */
export interface TreeLayout {
  /** Horizontal position of each node: its distance from the root (root 0). */
  readonly x: Float64Array;
  /** Vertical position of each node: tips 0, 1, ..., nTips - 1 by row; internal nodes between. */
  readonly y: Float64Array;
  /** The tips from the top row to the bottom one. */
  readonly tipOrder: Int32Array;
  /** The largest `x` (at least a positive number, so scales never divide by 0). */
  readonly width: number;
  /** Whether `x` counts edges (cladogram) rather than branch lengths. */
  readonly cladogram: boolean;
}

/** Options of {@linkcode layoutTree}. */
export interface TreeLayoutOptions {
  /** Visit smaller clades first (default true). */
  readonly ladderize?: boolean;
  /** Place nodes by edges from the root instead of branch length (default: only when every
   * branch has length 0). */
  readonly cladogram?: boolean;
}

/**
 * Lays out `tree` as a rectangular tree.
 *
 * @example
 * ```ts
 * import { layoutTree } from "./tree_layout.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * // ((a:1,b:2):0.5,c:3); the cherry (a, b) is the larger clade, so c comes first.
 * const t = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [1, 2, 3, 0.5, 0]);
 * const l = layoutTree(t);
 * console.assert([...l.tipOrder].join() === "2,0,1");
 * console.assert(l.x[1] === 2.5 && l.y[3] === 1.5 && l.y[4] === 0.75 && l.width === 3);
 * ```
 */
export function layoutTree(tree: FlatTree, options: TreeLayoutOptions = {}): TreeLayout {
  const { nTips, nNodes, parent, branchLength, childStart, children } = tree;
  const root = nNodes - 1;
  let anyLength = false;
  for (let v = 0; v < root; v++) if (branchLength[v] > 0) anyLength = true;
  const cladogram = options.cladogram ?? !anyLength;
  const x = new Float64Array(nNodes);
  for (let v = root - 1; v >= 0; v--) {
    x[v] = x[parent[v]] + (cladogram ? 1 : Math.max(0, branchLength[v]));
  }
  // Clade sizes (tips below each node); children have smaller indices than their parent.
  const size = new Int32Array(nNodes);
  for (let v = 0; v < nTips; v++) size[v] = 1;
  for (let v = 0; v < root; v++) size[parent[v]] += size[v];
  const ladderize = options.ladderize ?? true;
  const orderedChildren = (v: number): number[] => {
    const kids = Array.from(children.subarray(childStart[v], childStart[v + 1]));
    // Array#sort is stable: equal clades keep the tree's order.
    if (ladderize) kids.sort((a, b) => size[a] - size[b]);
    return kids;
  };
  const y = new Float64Array(nNodes);
  const tipOrder = new Int32Array(nTips);
  let row = 0;
  // Iterative depth-first walk (a recursive one overflows the stack on caterpillars).
  const stack: { v: number; kids: number[]; next: number }[] = [{
    v: root,
    kids: orderedChildren(root),
    next: 0,
  }];
  if (nTips === 1 && nNodes === 1) {
    tipOrder[0] = 0;
    return { x, y, tipOrder, width: 1, cladogram };
  }
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.kids.length) {
      const c = top.kids[top.next++];
      if (c < nTips) {
        tipOrder[row] = c;
        y[c] = row++;
      } else stack.push({ v: c, kids: orderedChildren(c), next: 0 });
      continue;
    }
    stack.pop();
    const first = top.kids[0], last = top.kids[top.kids.length - 1];
    y[top.v] = top.kids.length === 0 ? 0 : (y[first] + y[last]) / 2;
  }
  let width = 0;
  for (let v = 0; v < nNodes; v++) width = Math.max(width, x[v]);
  return { x, y, tipOrder, width: width > 0 ? width : 1, cladogram };
}
