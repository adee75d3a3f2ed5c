/**
 * Random and regular trees for simulations: pure-birth (Yule), Kingman coalescent, caterpillar and
 * star trees, built without recursion as {@linkcode FlatTree}s (tips first, numbered left to right,
 * internal nodes in post-order, root last).
 *
 * @module
 */

import { type FlatTree, flatTreeFromParents } from "../tree/flat_tree.ts";
import type { Random } from "./random.ts";

/** Options of {@linkcode yuleTree}. */
export interface YuleOptions {
  /** Speciation rate per lineage (default 1). */
  readonly birthRate?: number;
  /** If given, all branch lengths are scaled so that the root-to-tip height equals this. */
  readonly height?: number;
  /** Tip name prefix (default `"g"`: tips are `g1 .. gN`). */
  readonly prefix?: string;
}

/** Options of {@linkcode coalescentTree}. */
export interface CoalescentOptions {
  /** If given, all branch lengths are scaled so that the root-to-tip height equals this. */
  readonly height?: number;
  /** Tip name prefix (default `"g"`). */
  readonly prefix?: string;
}

/**
 * A random ultrametric pure-birth (Yule) tree with `nTips` tips. Starting from the root's two
 * lineages, while there are `k < nTips` lineages one of them, chosen uniformly, splits after an
 * exponential waiting time with rate `k * birthRate`; after the last split all lineages grow for
 * one more waiting time of rate `nTips * birthRate`, so no tip branch has length 0.
 *
 * @example
 * ```ts
 * import { Random } from "./random.ts";
 * import { yuleTree } from "./trees.ts";
 * const t = yuleTree(10, new Random(1), { height: 2 });
 * console.assert(t.nTips === 10 && t.nNodes === 19 && t.tipNames[0] === "g1");
 * ```
 */
export function yuleTree(nTips: number, rng: Random, options: YuleOptions = {}): FlatTree {
  checkTips(nTips);
  const birthRate = options.birthRate ?? 1;
  if (!(birthRate > 0 && Number.isFinite(birthRate))) {
    throw new RangeError(`Yule birth rate ${birthRate} must be positive and finite.`);
  }
  const nNodes = 2 * nTips - 1;
  const parent = new Int32Array(nNodes).fill(-1);
  const time = new Float64Array(nNodes); // time of each node's split (or the end, for tips)
  let nextId = 1; // node 0 is the root, at time 0
  const active: number[] = [];
  if (nTips > 1) {
    for (let c = 0; c < 2; c++) {
      parent[nextId] = 0;
      active.push(nextId++);
    }
  } else {
    active.push(0);
  }
  let now = 0;
  while (active.length < nTips) {
    now += rng.exponential(active.length * birthRate);
    const pick = rng.int(active.length);
    const node = active[pick];
    time[node] = now;
    parent[nextId] = node;
    active[pick] = nextId++;
    parent[nextId] = node;
    active.push(nextId++);
  }
  now += nTips > 1 ? rng.exponential(nTips * birthRate) : 0;
  for (const tip of active) time[tip] = now;
  const isTip = new Uint8Array(nNodes);
  for (const tip of active) isTip[tip] = 1;
  const length = new Float64Array(nNodes);
  for (let i = 1; i < nNodes; i++) length[i] = time[i] - time[parent[i]];
  return finishTree(parent, length, isTip, 0, options.prefix ?? "g", options.height);
}

/**
 * A random ultrametric Kingman-coalescent tree with `nTips` tips: going back in time, while there
 * are `k > 1` lineages, two chosen uniformly merge after an exponential waiting time with rate
 * `k (k - 1) / 2` (time in units of the effective population size).
 *
 * @example
 * ```ts
 * import { Random } from "./random.ts";
 * import { coalescentTree } from "./trees.ts";
 * const t = coalescentTree(8, new Random(2), { height: 1 });
 * console.assert(t.nNodes === 15);
 * ```
 */
export function coalescentTree(
  nTips: number,
  rng: Random,
  options: CoalescentOptions = {},
): FlatTree {
  checkTips(nTips);
  const nNodes = 2 * nTips - 1;
  const parent = new Int32Array(nNodes).fill(-1);
  const age = new Float64Array(nNodes); // tips are nodes 0..nTips-1, at age 0
  const active: number[] = [];
  for (let i = 0; i < nTips; i++) active.push(i);
  let now = 0;
  let nextId = nTips;
  while (active.length > 1) {
    const k = active.length;
    now += rng.exponential(k * (k - 1) / 2);
    const a = rng.int(k);
    let b = rng.int(k - 1);
    if (b >= a) b++;
    const node = nextId++;
    age[node] = now;
    parent[active[a]] = node;
    parent[active[b]] = node;
    const hi = Math.max(a, b), lo = Math.min(a, b);
    active[hi] = active[k - 1];
    active.pop();
    active[lo] = node;
  }
  const root = nextId - 1;
  const isTip = new Uint8Array(nNodes);
  isTip.fill(1, 0, nTips);
  const length = new Float64Array(nNodes);
  for (let i = 0; i < nNodes; i++) if (i !== root) length[i] = age[parent[i]] - age[i];
  return finishTree(parent, length, isTip, root, options.prefix ?? "g", options.height);
}

/**
 * A caterpillar (ladder) tree `(((g1,g2),g3),...,gN)` with every branch of length
 * `branchLength`: the deepest tree for its number of tips, useful for stress tests.
 *
 * @example
 * ```ts
 * import { caterpillarTree } from "./trees.ts";
 * const t = caterpillarTree(5000, 0.01);
 * console.assert(t.nNodes === 9999 && t.tipNames[4999] === "g5000");
 * ```
 */
export function caterpillarTree(
  nTips: number,
  branchLength: number,
  options: { readonly prefix?: string } = {},
): FlatTree {
  checkTips(nTips);
  if (!(branchLength >= 0 && Number.isFinite(branchLength))) {
    throw new RangeError(`Caterpillar branch length ${branchLength} must be finite and >= 0.`);
  }
  const prefix = options.prefix ?? "g";
  const names = Array.from({ length: nTips }, (_, i) => `${prefix}${i + 1}`);
  if (nTips === 1) return flatTreeFromParents(names, [-1], [0]);
  const nNodes = 2 * nTips - 1;
  const parent = new Int32Array(nNodes);
  // Internal node nTips + j joins (the clade of g1..g(j+1)) with g(j+2); the first joins g1, g2.
  parent[0] = nTips;
  for (let i = 1; i < nTips; i++) parent[i] = nTips + i - 1;
  for (let j = nTips; j < nNodes - 1; j++) parent[j] = j + 1;
  parent[nNodes - 1] = -1;
  const length = new Float64Array(nNodes).fill(branchLength);
  return flatTreeFromParents(names, parent, length);
}

/**
 * A star tree: one root with `nTips` tips `g1 .. gN` below it, every branch of length
 * `branchLength` (families then evolve independently in every genome given the root).
 *
 * @example
 * ```ts
 * import { starTree } from "./trees.ts";
 * const t = starTree(4, 0.5);
 * console.assert(t.nNodes === 5 && t.branchLength[3] === 0.5);
 * ```
 */
export function starTree(
  nTips: number,
  branchLength: number,
  options: { readonly prefix?: string } = {},
): FlatTree {
  checkTips(nTips);
  if (!(branchLength >= 0 && Number.isFinite(branchLength))) {
    throw new RangeError(`Star branch length ${branchLength} must be finite and >= 0.`);
  }
  const prefix = options.prefix ?? "g";
  const names = Array.from({ length: nTips }, (_, i) => `${prefix}${i + 1}`);
  if (nTips === 1) return flatTreeFromParents(names, [-1], [0]);
  const parent = new Int32Array(nTips + 1).fill(nTips);
  parent[nTips] = -1;
  const length = new Float64Array(nTips + 1).fill(branchLength);
  return flatTreeFromParents(names, parent, length);
}

function checkTips(nTips: number): void {
  if (!(Number.isInteger(nTips) && nTips >= 1)) {
    throw new RangeError(`Number of tips ${nTips} must be a positive integer.`);
  }
}

/**
 * Renumbers a tree given with arbitrary node ids into the flat layout: a non-recursive
 * depth-first walk numbers tips left to right and internal nodes in post-order; tips are named
 * `prefix1 .. prefixN` in that order. Lengths are optionally rescaled to a root height.
 */
function finishTree(
  parent: Int32Array,
  length: Float64Array,
  isTip: Uint8Array,
  root: number,
  prefix: string,
  height: number | undefined,
): FlatTree {
  const n = parent.length;
  const nTips = isTip.reduce((a, b) => a + b, 0);
  // Children lists (CSR) in id order.
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) if (i !== root) start[parent[i] + 1]++;
  for (let i = 0; i < n; i++) start[i + 1] += start[i];
  const kids = new Int32Array(Math.max(0, n - 1));
  const fill = start.slice(0, n);
  for (let i = 0; i < n; i++) if (i !== root) kids[fill[parent[i]]++] = i;
  // Iterative post-order walk.
  const newId = new Int32Array(n);
  let nextTip = 0, nextInternal = nTips;
  const stack: number[] = [root];
  const cursor = new Int32Array(n);
  while (stack.length > 0) {
    const v = stack[stack.length - 1];
    if (isTip[v]) {
      newId[v] = nextTip++;
      stack.pop();
    } else if (start[v] + cursor[v] < start[v + 1]) {
      stack.push(kids[start[v] + cursor[v]++]);
    } else {
      newId[v] = nextInternal++;
      stack.pop();
    }
  }
  let depthScale = 1;
  if (height !== undefined) {
    if (!(height > 0 && Number.isFinite(height))) {
      throw new RangeError(`Tree height ${height} must be positive and finite.`);
    }
    // Height of the tree: the largest root-to-tip distance (ids are not ordered, so walk down
    // in post-order of the new numbering, which is parent-after-child).
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[newId[i]] = i;
    const depth = new Float64Array(n);
    let maxDepth = 0;
    for (let k = n - 2; k >= 0; k--) {
      const v = order[k];
      depth[v] = depth[parent[v]] + length[v];
      if (isTip[v] && depth[v] > maxDepth) maxDepth = depth[v];
    }
    if (maxDepth > 0) depthScale = height / maxDepth;
  }
  const newParent = new Int32Array(n);
  const newLength = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    newParent[newId[i]] = i === root ? -1 : newId[parent[i]];
    newLength[newId[i]] = i === root ? 0 : length[i] * depthScale;
  }
  const names = Array.from({ length: nTips }, (_, i) => `${prefix}${i + 1}`);
  return flatTreeFromParents(names, newParent, newLength);
}
