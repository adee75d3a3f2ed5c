/**
 * Neighbour joining and UPGMA: the TypeScript specification of `gc_build_tree`
 * (rust/src/tree_building.rs), which gives bit-identical trees.
 *
 * **Neighbour joining** (Saitou and Nei 1987, with the Q criterion of Studier and Keppler
 * 1988). The active clusters are kept in positions `0..n-1` (tip i starts at position i; a
 * join of positions a < b puts the new cluster at a and retires b). With r active clusters
 * and `R_a` the sum of a's distances to the active clusters, each step
 * joins the pair a < b of least `Q = (r - 2) d_ab - R_a - R_b` (evaluated in that order),
 * ties broken by the lowest pair (a, then b) in position order, with
 * `l_a = d_ab / 2 + (R_a - R_b) / (2 (r - 2))`, `l_b = d_ab - l_a` and
 * `d_uc = (d_ac + d_bc - d_ab) / 2` for the new cluster u. The row sums are summed in
 * position order at the start; after a join, `R_c = ((R_c - d_ac) - d_bc) + d_uc` for every
 * other active c and `R_u` is the sum of the `d_uc` in position order (these exact operations
 * are the specification: the native kernel performs the same ones, and finds the same pair
 * without evaluating every Q).
 *
 * **Negative branch lengths** are set to 0 and their value is added to the sister branch:
 * if `l_a < 0`, then `l_b = l_b + l_a` and `l_a = 0` (so the pair's path length `d_ab` is
 * kept), and likewise for `l_b`; if `d_ab` itself is negative (updated distances can be, on
 * data far from a tree), both are set to 0. The last step (r = 3) joins the pair of least Q the same way
 * and attaches the third cluster c to the same node with the three-point length
 * `(d_ac + d_bc - d_ab) / 2`; if that is negative it is set to 0 without a transfer (there is
 * no sister branch). {@linkcode BuiltTree.clamped} counts these corrections.
 *
 * The result is an unrooted binary tree, written with a root of three children (2n - 2
 * nodes): tips `0..n-1` in input order, internal nodes in the order of the joins (post-order),
 * the root last. Root it with `lib/tree_building/rooting.ts`.
 *
 * **UPGMA** (average linkage) joins the pair a < b of least `d_ab` (ties: the lowest pair) at
 * height `d_ab / 2`; each child's branch is the new height minus the child's (0 if rounding
 * makes it negative), and `d_uc = (n_a d_ac + n_b d_bc) / (n_a + n_b)` with cluster sizes
 * n_a, n_b. A rooted ultrametric tree of 2n - 1 nodes.
 *
 * Both are O(n^3) in time and keep the n x n matrix.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { pairIndex } from "./distances.ts";

/** A tree from distances, as flat arrays (see the module notes for the numbering). */
export interface BuiltTree {
  /** Parent of each node; -1 for the root (the last node). */
  readonly parent: Int32Array;
  /** Length of the branch above each node; 0 for the root. */
  readonly branchLength: Float64Array;
  /** Negative branch lengths set to 0. */
  readonly clamped: number;
}

/** A tree-building method. */
export type TreeMethod = "nj" | "upgma";

/** The methods, in the order of their C codes (`GC_TREE_NJ` = 0, `GC_TREE_UPGMA` = 1). */
export const TREE_METHODS: readonly TreeMethod[] = ["nj", "upgma"];

/** The full n x n matrix of condensed distances, each checked finite and >= 0. */
function fullMatrix(n: number, condensed: Float64Array): Float64Array {
  const want = (n * (n - 1)) / 2;
  if (condensed.length !== want) {
    throw new GenecontentError(
      `Got ${condensed.length} distances but ${n} taxa have ${want} pairs.`,
    );
  }
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const k = pairIndex(n, i, j);
      const x = condensed[k];
      if (!(Number.isFinite(x) && x >= 0)) {
        throw new GenecontentError(
          `Distance ${k} (taxa ${i} and ${j}) is ${x}: distances must be finite and >= 0.`,
        );
      }
      d[i * n + j] = x;
      d[j * n + i] = x;
    }
  }
  return d;
}

/**
 * Neighbour joining of `n >= 3` taxa from condensed distances (see the module notes).
 *
 * @example
 * ```ts
 * import { neighborJoining } from "./nj.ts";
 * // The additive distances of ((0:1,1:2):0.5,2:3,3:4), condensed.
 * const d = Float64Array.of(3, 4.5, 5.5, 5.5, 6.5, 7);
 * const t = neighborJoining(4, d);
 * console.assert(t.parent.join() === "4,4,5,5,5,-1");
 * console.assert(t.branchLength.join() === "1,2,3,4,0.5,0");
 * ```
 */
export function neighborJoining(n: number, condensed: Float64Array): BuiltTree {
  if (n < 3) {
    throw new GenecontentError(`Neighbour joining needs at least 3 taxa; got ${n}.`);
  }
  const d = fullMatrix(n, condensed);
  const nNodes = 2 * n - 2;
  const parent = new Int32Array(nNodes).fill(-1);
  const bl = new Float64Array(nNodes);
  let clamped = 0;
  const nodeOf = Int32Array.from({ length: n }, (_, i) => i);
  let active: number[] = Array.from({ length: n }, (_, i) => i);
  // Row sums: first in position order (d_pp = 0 included), then kept up to date per join.
  const rsum = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let c = 0; c < n; c++) s += d[p * n + c];
    rsum[p] = s;
  }
  let next = n;
  for (;;) {
    const r = active.length;
    const rm2 = r - 2;
    let best = Infinity, ia = -1, ib = -1;
    for (let x = 0; x < r - 1; x++) {
      const a = active[x];
      const row = a * n;
      const ra = rsum[a];
      for (let y = x + 1; y < r; y++) {
        const b = active[y];
        const q = rm2 * d[row + b] - ra - rsum[b];
        if (q < best) {
          best = q;
          ia = x;
          ib = y;
        }
      }
    }
    const a = active[ia], b = active[ib];
    const dab = d[a * n + b];
    let la = dab / 2 + (rsum[a] - rsum[b]) / (2 * rm2);
    let lb = dab - la;
    if (la < 0) {
      lb += la;
      la = 0;
      clamped++;
    } else if (lb < 0) {
      la += lb;
      lb = 0;
      clamped++;
    }
    // Still negative only when d_ab itself is (updated distances can be, far from a tree).
    if (la < 0) {
      la = 0;
      clamped++;
    }
    if (lb < 0) {
      lb = 0;
      clamped++;
    }
    const u = next++;
    parent[nodeOf[a]] = u;
    parent[nodeOf[b]] = u;
    bl[nodeOf[a]] = la;
    bl[nodeOf[b]] = lb;
    if (r === 3) {
      const c = active.find((c) => c !== a && c !== b)!;
      let lc = (d[a * n + c] + d[b * n + c] - dab) / 2;
      if (lc < 0) {
        lc = 0;
        clamped++;
      }
      parent[nodeOf[c]] = u;
      bl[nodeOf[c]] = lc;
      break;
    }
    active = active.filter((_, k) => k !== ib);
    let ru = 0;
    for (const c of active) {
      if (c === a) continue;
      const dac = d[a * n + c], dbc = d[b * n + c];
      const x = (dac + dbc - dab) / 2;
      d[a * n + c] = x;
      d[c * n + a] = x;
      rsum[c] = ((rsum[c] - dac) - dbc) + x;
      ru += x;
    }
    rsum[a] = ru;
    nodeOf[a] = u;
  }
  return { parent, branchLength: bl, clamped };
}

/**
 * UPGMA (average linkage) of `n >= 2` taxa from condensed distances (see the module notes).
 *
 * @example
 * ```ts
 * import { upgma } from "./nj.ts";
 * // ((0,1) at height 1, (2,3) at height 3) joined at height 4.
 * const t = upgma(4, Float64Array.of(2, 8, 8, 8, 8, 6));
 * console.assert(t.parent.join() === "4,4,5,5,6,6,-1");
 * console.assert(t.branchLength.join() === "1,1,3,3,3,1,0");
 * ```
 */
export function upgma(n: number, condensed: Float64Array): BuiltTree {
  if (n < 2) throw new GenecontentError(`UPGMA needs at least 2 taxa; got ${n}.`);
  const d = fullMatrix(n, condensed);
  const nNodes = 2 * n - 1;
  const parent = new Int32Array(nNodes).fill(-1);
  const bl = new Float64Array(nNodes);
  const height = new Float64Array(nNodes);
  const size = new Float64Array(n).fill(1);
  let clamped = 0;
  const nodeOf = Int32Array.from({ length: n }, (_, i) => i);
  let active: number[] = Array.from({ length: n }, (_, i) => i);
  let next = n;
  while (active.length > 1) {
    const r = active.length;
    let best = Infinity, ia = -1, ib = -1;
    for (let x = 0; x < r - 1; x++) {
      const row = active[x] * n;
      for (let y = x + 1; y < r; y++) {
        const q = d[row + active[y]];
        if (q < best) {
          best = q;
          ia = x;
          ib = y;
        }
      }
    }
    const a = active[ia], b = active[ib];
    const dab = d[a * n + b];
    const u = next++;
    height[u] = dab / 2;
    for (const v of [nodeOf[a], nodeOf[b]]) {
      parent[v] = u;
      let l = height[u] - height[v];
      if (l < 0) {
        l = 0;
        clamped++;
      }
      bl[v] = l;
    }
    const sa = size[a], sb = size[b];
    for (const c of active) {
      if (c === a || c === b) continue;
      const x = (sa * d[a * n + c] + sb * d[b * n + c]) / (sa + sb);
      d[a * n + c] = x;
      d[c * n + a] = x;
    }
    size[a] = sa + sb;
    nodeOf[a] = u;
    active = active.filter((_, k) => k !== ib);
  }
  return { parent, branchLength: bl, clamped };
}
