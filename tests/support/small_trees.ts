/**
 * Hand-written small trees (and a caterpillar builder) for likelihood tests. Every tree is built
 * with `flatTreeFromParents`, so it follows the flat numbering (tips first, internal nodes in
 * post-order, root last).
 *
 * @module
 */
import { type FlatTree, flatTreeFromParents } from "../../lib/tree/flat_tree.ts";

/** A named test tree. */
export interface NamedTree {
  /** What the tree exercises. */
  readonly name: string;
  /** The tree. */
  readonly tree: FlatTree;
}

function tipNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `t${i}`);
}

/**
 * `((t0:0.3,t1:0.7):0.2,(t2:0.4,t3:1.1):0.5);` — a binary tree with four tips.
 *
 * @example
 * ```ts
 * import { binary4 } from "./small_trees.ts";
 * console.assert(binary4().nNodes === 7);
 * ```
 */
export function binary4(): FlatTree {
  return flatTreeFromParents(tipNames(4), [4, 4, 5, 5, 6, 6, -1], [
    0.3,
    0.7,
    0.4,
    1.1,
    0.2,
    0.5,
    0,
  ]);
}

/**
 * `(((t0:0.1,t1:0.25):0.3,t2:0.6):0.15,((t3:0.05,t4:0.9):0.4,t5:0.35):0.2);` — binary, six tips.
 *
 * @example
 * ```ts
 * import { binary6 } from "./small_trees.ts";
 * console.assert(binary6().nTips === 6);
 * ```
 */
export function binary6(): FlatTree {
  // nodes: tips 0..5; 6=(t0,t1); 7=(6,t2); 8=(t3,t4); 9=(8,t5); 10=root(7,9)
  return flatTreeFromParents(
    tipNames(6),
    [6, 6, 7, 8, 8, 9, 7, 10, 9, 10, -1],
    [0.1, 0.25, 0.6, 0.05, 0.9, 0.35, 0.3, 0.15, 0.4, 0.2, 0],
  );
}

/**
 * `((t0:0.2,t1:0.5,t2:0.8):0.3,t3:0.4,(t4:0.6,t5:0.1,t6:0.3,t7:0.9):0.25);` — multifurcations
 * (a root with three children, internal nodes with three and four children).
 *
 * @example
 * ```ts
 * import { multifurcating } from "./small_trees.ts";
 * console.assert(multifurcating().nNodes === 11);
 * ```
 */
export function multifurcating(): FlatTree {
  // nodes: tips 0..7; 8=(t0,t1,t2); 9=(t4,t5,t6,t7); 10=root(8,t3,9)
  return flatTreeFromParents(
    tipNames(8),
    [8, 8, 8, 10, 9, 9, 9, 9, 10, 10, -1],
    [0.2, 0.5, 0.8, 0.4, 0.6, 0.1, 0.3, 0.9, 0.3, 0.25, 0],
  );
}

/**
 * `(((t0:0.4,t1:0.2):0.3):0.5,(t2:0.7):0.1,t3:0.2);` — unary nodes: one above a cherry and one
 * above a tip, under a root with three children.
 *
 * @example
 * ```ts
 * import { withUnary } from "./small_trees.ts";
 * console.assert(withUnary().childStart[6] + 1 === withUnary().childStart[7]);
 * ```
 */
export function withUnary(): FlatTree {
  // nodes: tips 0..3; 4=(t0,t1); 5=(4) unary; 6=(t2) unary; 7=root(5,6,t3)
  return flatTreeFromParents(
    tipNames(4),
    [4, 4, 6, 7, 5, 7, 7, -1],
    [0.4, 0.2, 0.7, 0.2, 0.3, 0.5, 0.1, 0],
  );
}

/**
 * A tree with one tip, which is also the root.
 *
 * @example
 * ```ts
 * import { singleTip } from "./small_trees.ts";
 * console.assert(singleTip().nNodes === 1);
 * ```
 */
export function singleTip(): FlatTree {
  return flatTreeFromParents(["t0"], [-1], [0]);
}

/**
 * `(t0:0.3,t1:0.8);` — the smallest tree with a branching.
 *
 * @example
 * ```ts
 * import { cherry } from "./small_trees.ts";
 * console.assert(cherry().nTips === 2);
 * ```
 */
export function cherry(): FlatTree {
  return flatTreeFromParents(tipNames(2), [2, 2, -1], [0.3, 0.8, 0]);
}

/**
 * All small trees above, with names, for loops over tree shapes.
 *
 * @example
 * ```ts
 * import { smallTrees } from "./small_trees.ts";
 * console.assert(smallTrees().length === 6);
 * ```
 */
export function smallTrees(): NamedTree[] {
  return [
    { name: "single tip", tree: singleTip() },
    { name: "cherry", tree: cherry() },
    { name: "binary 4", tree: binary4() },
    { name: "binary 6", tree: binary6() },
    { name: "multifurcating 8", tree: multifurcating() },
    { name: "unary nodes", tree: withUnary() },
  ];
}

/**
 * A caterpillar (ladder) tree `((((t0,t1),t2),t3),...)` with `n >= 2` tips; branch lengths
 * cycle through a few values so that no two branches in a row are equal.
 *
 * @example
 * ```ts
 * import { caterpillar } from "./small_trees.ts";
 * const t = caterpillar(5000);
 * console.assert(t.nNodes === 9999);
 * ```
 */
export function caterpillar(n: number): FlatTree {
  const nNodes = 2 * n - 1;
  const parent = new Int32Array(nNodes);
  const length = new Float64Array(nNodes);
  const cycle = [0.05, 0.2, 0.12, 0.3, 0.07];
  parent[0] = n;
  for (let i = 1; i < n; i++) parent[i] = n + i - 1;
  for (let j = n; j < nNodes - 1; j++) parent[j] = j + 1;
  parent[nNodes - 1] = -1;
  for (let i = 0; i < nNodes - 1; i++) length[i] = cycle[i % cycle.length];
  return flatTreeFromParents(tipNames(n), parent, length);
}
