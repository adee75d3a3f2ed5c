/**
 * Rooting a tree: at the midpoint of its longest tip-to-tip path, or on the stem of an
 * outgroup. Both work on the unrooted tree: a root with two children is first removed (its two
 * branches merged into one), so a rooted tree can be rooted again.
 *
 * - **Midpoint**: the pair of tips farthest apart (ties: the lowest pair of tip indices), and
 *   the point half-way along the path between them. The root goes there, splitting the branch
 *   it falls on (or at the node it falls on, which then keeps all its neighbours as children).
 * - **Outgroup**: the given taxa must be exactly the tips on one side of some branch of the
 *   unrooted tree (a clade whatever the root); the root goes half-way along that branch, the
 *   stem of the outgroup's most recent common ancestor. Otherwise it is an error naming them.
 *
 * The rooted tree keeps the tips' order and names; internal nodes are numbered in post-order
 * from the new root, and internal labels are kept with their nodes.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type FlatTree, flatTreeFromParents } from "../tree/flat_tree.ts";
import { quoteValue } from "../text/decode.ts";

/** An unrooted tree: undirected adjacency over the original node ids, with branch lengths. */
interface Unrooted {
  readonly tree: FlatTree;
  /** Neighbours of each node (`-1`-free); the removed two-child root has none. */
  readonly adj: number[][];
  /** Lengths, parallel to `adj`. */
  readonly len: number[][];
}

/** The unrooted tree of `tree` (a root with two children is removed, its branches merged). */
function unroot(tree: FlatTree): Unrooted {
  const adj: number[][] = Array.from({ length: tree.nNodes }, () => []);
  const len: number[][] = Array.from({ length: tree.nNodes }, () => []);
  const link = (a: number, b: number, l: number) => {
    adj[a].push(b);
    len[a].push(l);
    adj[b].push(a);
    len[b].push(l);
  };
  const root = tree.nNodes - 1;
  const rootChildren = tree.children.subarray(tree.childStart[root], tree.childStart[root + 1]);
  for (let v = 0; v < tree.nNodes - 1; v++) {
    const p = tree.parent[v];
    if (p === root && rootChildren.length === 2) continue;
    link(v, p, tree.branchLength[v]);
  }
  if (rootChildren.length === 2) {
    const [a, b] = rootChildren;
    link(a, b, tree.branchLength[a] + tree.branchLength[b]);
  }
  return { tree, adj, len };
}

/**
 * The rooted tree of `u` with its root on the branch between `a` and `b` at distance `x`
 * from `a` (`x` in [0, length]), or at node `a` when `b` is -1.
 */
function rootAt(u: Unrooted, a: number, b: number, x: number): FlatTree {
  const { tree, adj, len } = u;
  const nTips = tree.nTips;
  // Children lists from the new root, found without recursion.
  const newParent = new Int32Array(tree.nNodes).fill(-2);
  const newLength = new Float64Array(tree.nNodes);
  const order: number[] = []; // pre-order of original nodes
  const stack: number[] = [];
  const ROOT = -1;
  if (b === -1) {
    newParent[a] = ROOT;
    stack.push(a);
  } else {
    const l = len[a][adj[a].indexOf(b)];
    newParent[a] = ROOT;
    newParent[b] = ROOT;
    newLength[a] = x;
    newLength[b] = l - x;
    stack.push(b, a);
  }
  while (stack.length > 0) {
    const v = stack.pop()!;
    order.push(v);
    const ns = adj[v];
    for (let k = ns.length - 1; k >= 0; k--) {
      const w = ns[k];
      if (newParent[w] !== -2) continue;
      if (b !== -1 && ((v === a && w === b) || (v === b && w === a))) continue;
      newParent[w] = v;
      newLength[w] = len[v][k];
      stack.push(w);
    }
  }
  // Post-order numbering: tips keep their ids; internal nodes from nTips upward.
  const hasNewRoot = b !== -1;
  const nInternal = order.filter((v) => v >= nTips).length + (hasNewRoot ? 1 : 0);
  const nNodes = nTips + nInternal;
  const id = new Int32Array(tree.nNodes).fill(-1);
  let nextId = nTips;
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k];
    id[v] = v < nTips ? v : nextId++;
  }
  const rootId = hasNewRoot ? nextId++ : id[a];
  const parent = new Int32Array(nNodes);
  const lengths = new Float64Array(nNodes);
  const labels: (string | null)[] = new Array(nInternal).fill(null);
  for (const v of order) {
    const p = newParent[v];
    parent[id[v]] = p === ROOT ? (hasNewRoot ? rootId : -1) : id[p];
    lengths[id[v]] = p === ROOT ? (hasNewRoot ? newLength[v] : 0) : newLength[v];
    if (v >= nTips) labels[id[v] - nTips] = tree.internalLabels[v - nTips];
  }
  if (hasNewRoot) {
    parent[rootId] = -1;
    lengths[rootId] = 0;
  }
  return flatTreeFromParents(tree.tipNames, parent, lengths, labels);
}

/** Distances from `from` to every node of the unrooted tree, with the previous node on the path. */
function distancesFrom(u: Unrooted, from: number): { dist: Float64Array; prev: Int32Array } {
  const n = u.adj.length;
  const dist = new Float64Array(n).fill(NaN);
  const prev = new Int32Array(n).fill(-1);
  dist[from] = 0;
  const stack = [from];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const ns = u.adj[v];
    for (let k = 0; k < ns.length; k++) {
      const w = ns[k];
      if (!Number.isNaN(dist[w])) continue;
      dist[w] = dist[v] + u.len[v][k];
      prev[w] = v;
      stack.push(w);
    }
  }
  return { dist, prev };
}

/**
 * Roots `tree` at the midpoint of its longest tip-to-tip path (see the module notes).
 *
 * @example
 * ```ts
 * import { midpointRoot } from "./rooting.ts";
 * import { formatNewick } from "../newick/format.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * // Unrooted (a:1,b:1,c:4): the longest path, a to c (5; b to c ties, a comes first), has
 * // its midpoint 2.5 from a, i.e. 1.5 along c's branch from the centre.
 * const t = flatTreeFromParents(["a", "b", "c"], [3, 3, 3, -1], [1, 1, 4, 0]);
 * console.assert(formatNewick(midpointRoot(t)) === "(c:2.5,(a:1,b:1):1.5);");
 * ```
 */
export function midpointRoot(tree: FlatTree): FlatTree {
  if (tree.nTips < 2) return tree;
  const u = unroot(tree);
  let best = -Infinity, bj = -1;
  let bestPath: { dist: Float64Array; prev: Int32Array } | null = null;
  for (let i = 0; i < tree.nTips; i++) {
    const r = distancesFrom(u, i);
    for (let j = i + 1; j < tree.nTips; j++) {
      if (r.dist[j] > best) {
        best = r.dist[j];
        bj = j;
        bestPath = r;
      }
    }
  }
  const { dist, prev } = bestPath!;
  const half = best / 2;
  // Walk from bj back towards the other end until the distance from bi drops to half or below.
  let v = bj;
  while (dist[prev[v]] > half) v = prev[v];
  const p = prev[v];
  if (dist[p] === half && p >= tree.nTips) return rootAt(u, p, -1, 0);
  // The root lies on branch (p, v), at half - dist[p] from p.
  return rootAt(u, p, v, half - dist[p]);
}

/**
 * Roots `tree` on the stem of the clade formed by `outgroup` (taxon names), half-way along it
 * (see the module notes).
 *
 * @throws {GenecontentError} For an unknown or repeated taxon, an empty outgroup or one of every
 *   taxon, and an outgroup that is not a clade of the unrooted tree (naming the taxa).
 *
 * @example
 * ```ts
 * import { outgroupRoot } from "./rooting.ts";
 * import { formatNewick } from "../newick/format.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * // Unrooted ((a:1,b:1):2,c:1,d:1), rooted on the stem of {c, d}, i.e. of {a, b}.
 * const t = flatTreeFromParents(["a", "b", "c", "d"], [4, 4, 5, 5, 5, -1], [1, 1, 1, 1, 2, 0]);
 * console.assert(formatNewick(outgroupRoot(t, ["c", "d"])) === "((a:1,b:1):1,(c:1,d:1):1);");
 * ```
 */
export function outgroupRoot(tree: FlatTree, outgroup: readonly string[]): FlatTree {
  const index = new Map(tree.tipNames.map((name, i) => [name, i]));
  if (outgroup.length === 0) {
    throw new GenecontentError("The outgroup is empty: name at least one taxon.");
  }
  const seen = new Set<string>();
  const members = new Uint8Array(tree.nTips);
  for (const name of outgroup) {
    const i = index.get(name);
    if (i === undefined) {
      throw new GenecontentError(
        `Outgroup taxon ${quoteValue(name)} is not a genome of the tree; the genomes are ` +
          `${tree.tipNames.slice(0, 10).map((x) => quoteValue(x)).join(", ")}` +
          `${tree.nTips > 10 ? `, ... (${tree.nTips} in all)` : ""}.`,
      );
    }
    if (seen.has(name)) {
      throw new GenecontentError(`Outgroup taxon ${quoteValue(name)} is named twice.`);
    }
    seen.add(name);
    members[i] = 1;
  }
  const k = outgroup.length;
  if (k >= tree.nTips) {
    throw new GenecontentError(
      `The outgroup names every genome of the tree (${k}); leave at least one out.`,
    );
  }
  const u = unroot(tree);
  // Hang the unrooted tree from a genome outside the outgroup; the outgroup is a clade iff
  // some node's subtree holds exactly its members.
  const top = members.indexOf(0);
  const order: number[] = [];
  const up = new Int32Array(tree.nNodes).fill(-2);
  up[top] = -1;
  const stack = [top];
  while (stack.length > 0) {
    const v = stack.pop()!;
    order.push(v);
    for (const w of u.adj[v]) {
      if (up[w] !== -2) continue;
      up[w] = v;
      stack.push(w);
    }
  }
  const size = new Int32Array(tree.nNodes);
  const inside = new Int32Array(tree.nNodes);
  for (let q = order.length - 1; q >= 0; q--) {
    const v = order[q];
    if (v < tree.nTips) {
      size[v] += 1;
      inside[v] += members[v];
    }
    if (size[v] === k && inside[v] === k) {
      const p = up[v];
      const l = u.len[v][u.adj[v].indexOf(p)];
      return rootAt(u, v, p, l / 2);
    }
    const p = up[v];
    if (p >= 0) {
      size[p] += size[v];
      inside[p] += inside[v];
    }
  }
  const shown = outgroup.slice(0, 10).map((x) => quoteValue(x)).join(", ");
  throw new GenecontentError(
    `The outgroup ${shown}${k > 10 ? `, ... (${k} taxa)` : ""} is not a clade of the unrooted ` +
      "tree: no branch separates exactly these genomes from the others. Name a set of genomes " +
      "that the tree groups together, or use --root midpoint.",
  );
}
