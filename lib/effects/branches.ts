/**
 * Designs of lineage effects: the value `x_v` an effect's theta is multiplied by on the branch
 * above each node `v` of the tree (the root's entry stands for the root prior), as
 * `lib/model/effects.ts` reads them.
 *
 * - A clade (the most recent common ancestor of some taxa, or a node named by its id): with the
 *   stem, `x_v = 1` for the MRCA and every node below it (the MRCA's own branch is the stem);
 *   without it, the MRCA's entry is 0. Every other node, and the root, is 0.
 * - Branch classes: `x_v = 1` where the branch above `v` has class c. A branch takes the class
 *   of the node at its lower end. Classes come from a table that names either every branch (by
 *   node id, see `lib/ancestral/node_ids.ts`) or only the tips; in the latter case the internal
 *   nodes get classes by a deterministic rule: the joint maximum-likelihood reconstruction
 *   (Pupko et al. 2000) of the trait under the equal-rates Mk model (every change between two
 *   classes at the same rate, uniform root), with its rate fitted by maximum likelihood on the
 *   tree; ties are broken in favour of the class that appears first in the file. One class is the
 *   reference (the first in the file), and each other class gets an effect.
 * - A continuous tip covariate: `x_v = z_v - mean(z)` (the mean over the tips) on the terminal
 *   branch of tip v, 0 on internal branches and the root.
 *
 * @module
 */

import { nodeIds } from "../ancestral/node_ids.ts";
import { GenecontentError } from "../errors.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { quoteValue } from "../text/decode.ts";
import { type MetadataTable, tipClasses } from "./inputs.ts";

/** A lineage design over the nodes of a tree. */
export interface LineageDesign {
  /** `x_v` per node, tree node order (root last: 0, lineage effects leave the root prior). */
  readonly design: Float64Array;
  /** The nodes whose branch has a non-zero `x_v`, ascending. */
  readonly branches: readonly number[];
  /** The design in words, for outputs. */
  readonly description: string;
}

/** A clade's design and what it is. */
export interface CladeDesign extends LineageDesign {
  /** The clade's most recent common ancestor (its root node). */
  readonly mrca: number;
  /** Whether the MRCA's own branch (the stem) is included. */
  readonly stem: boolean;
  /** Tips in the clade, by name. */
  readonly tips: readonly string[];
}

function listed(items: readonly string[], limit = 10): string {
  return items.slice(0, limit).join(", ") +
    (items.length > limit ? `, ... (${items.length} in all)` : "");
}

/**
 * The node a name refers to: a tip name or a node id (`nodeIds`: an internal node's label where
 * it is unique and not a number, else `node<i>`). A label shared by several nodes, or not found,
 * is an error saying what to use instead.
 *
 * @example
 * ```ts
 * import { resolveNode } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1)host:1,(c:1,d:1)95:1);", "t.nwk");
 * console.assert(resolveNode(tree, "host") === 4 && resolveNode(tree, "node5") === 5);
 * console.assert(resolveNode(tree, "node4") === -1 && resolveNode(tree, "c") === 2);
 * ```
 */
export function resolveNode(
  tree: FlatTree,
  name: string,
  ids: readonly string[] = nodeIds(tree),
  what = "Node",
): number {
  const v = ids.indexOf(name);
  if (v >= 0) return v;
  // nodeIds never names a node `node<i>` by another's label; a plain `node<i>` not among the
  // ids is unknown. Explain labels that are not ids.
  const labelled: number[] = [];
  tree.internalLabels.forEach((l, i) => {
    if (l === name) labelled.push(tree.nTips + i);
  });
  if (labelled.length > 0) {
    throw new GenecontentError(
      `${what} ${quoteValue(name)} labels ${labelled.length} nodes of the tree (or is a ` +
        `number or a tip's name), so it is not an id; use their ids ${
          listed(labelled.map((u) => ids[u]))
        } (the ids of 'genecontent ancestral' outputs).`,
    );
  }
  return -1;
}

/** Descendants of `v` (itself included), ascending. */
function subtree(tree: FlatTree, v: number): number[] {
  const inside = new Uint8Array(tree.nNodes);
  inside[v] = 1;
  const out: number[] = [];
  // Parents come after children: a downward pass from v over the lower indices.
  for (let u = v; u >= 0; u--) {
    if (u !== v && (tree.parent[u] < 0 || !inside[tree.parent[u]])) continue;
    inside[u] = 1;
  }
  for (let u = 0; u <= v; u++) if (inside[u]) out.push(u);
  return out;
}

/**
 * The most recent common ancestor of some nodes.
 *
 * @example
 * ```ts
 * import { mrcaOf } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
 * console.assert(mrcaOf(tree, [0, 1]) === 4 && mrcaOf(tree, [0, 2]) === 6);
 * ```
 */
export function mrcaOf(tree: FlatTree, nodes: readonly number[]): number {
  if (nodes.length === 0) throw new RangeError("mrcaOf needs at least one node.");
  const onPath = new Uint8Array(tree.nNodes);
  for (let u = nodes[0]; u >= 0; u = tree.parent[u]) onPath[u] = 1;
  let best = nodes[0];
  for (const start of nodes.slice(1)) {
    let u = start;
    while (!onPath[u]) u = tree.parent[u];
    if (u > best) best = u; // ancestors have larger indices
  }
  // `best` is on the first node's path and above every other: walk up until it is above all.
  return best;
}

/**
 * The design of a clade effect: the clade is the MRCA of `spec.taxa` (tip names), or the node
 * `spec.node` (an id, see {@linkcode resolveNode}); `stem` says whether the MRCA's own branch is
 * included. Refuses unknown taxa or nodes (listed), a clade at the root (the whole tree: its
 * effect would be the background's own rates) and a clade with no branch (one tip without its
 * stem).
 *
 * @example
 * ```ts
 * import { cladeDesign } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
 * const withStem = cladeDesign(tree, { taxa: ["a", "b"] }, true);
 * console.assert(withStem.design.join() === "1,1,0,0,1,0,0" && withStem.mrca === 4);
 * const crown = cladeDesign(tree, { taxa: ["a", "b"] }, false);
 * console.assert(crown.branches.join() === "0,1");
 * ```
 */
export function cladeDesign(
  tree: FlatTree,
  spec: { readonly taxa: readonly string[] } | { readonly node: string },
  stem: boolean,
  ids: readonly string[] = nodeIds(tree),
): CladeDesign {
  let mrca: number;
  let named: string;
  if ("taxa" in spec) {
    const taxa = spec.taxa;
    if (taxa.length === 0) throw new GenecontentError("A clade needs at least one taxon.");
    const index = new Map(tree.tipNames.map((n, i) => [n, i]));
    const unknown = taxa.filter((t) => !index.has(t));
    if (unknown.length > 0) {
      throw new GenecontentError(
        `${unknown.length} clade tax${unknown.length === 1 ? "on is" : "a are"} not tips of ` +
          `the tree: ${
            listed(unknown.map((t) => quoteValue(t)))
          }. Names must match the tree's tips exactly.`,
      );
    }
    mrca = mrcaOf(tree, taxa.map((t) => index.get(t)!));
    named = `the most recent common ancestor of ${listed(taxa.map((t) => quoteValue(t)), 5)}`;
  } else {
    mrca = resolveNode(tree, spec.node, ids);
    if (mrca < 0) {
      throw new GenecontentError(
        `Node ${
          quoteValue(spec.node)
        } is not in the tree: give an internal node's label (unique, ` +
          `not a number), a node id (node<i>, as 'genecontent ancestral' writes them) or a tip.`,
      );
    }
    named = `node ${quoteValue(ids[mrca])}`;
  }
  const root = tree.nNodes - 1;
  if (mrca === root) {
    throw new GenecontentError(
      `The clade (${named}) is the whole tree: its root is the tree's root, so an effect on it ` +
        "would be the background rates themselves. Choose a smaller clade.",
    );
  }
  const members = subtree(tree, mrca);
  const design = new Float64Array(tree.nNodes);
  for (const u of members) if (stem || u !== mrca) design[u] = 1;
  const branches = members.filter((u) => design[u] !== 0);
  if (branches.length === 0) {
    throw new GenecontentError(
      `The clade (${named}) is one tip: without its stem (--stem) it has no branch.`,
    );
  }
  const tips = members.filter((u) => u < tree.nTips).map((u) => tree.tipNames[u]);
  return {
    design,
    branches,
    mrca,
    stem,
    tips,
    description: `clade of ${tips.length} genome${tips.length === 1 ? "" : "s"} below ${
      ids[mrca]
    } (${named}), ${stem ? "stem branch included" : "stem branch excluded"}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The equal-rates Mk model and its joint reconstruction.

/**
 * Log transition probabilities of the equal-rates Mk model over a branch of length t: leaving a
 * state at total rate `rate`, to each other state alike. With b = K rate / (K - 1):
 * P_ii = 1/K + (K-1)/K e^{-bt}, P_ij = (1 - e^{-bt}) / K.
 */
function mkLogP(K: number, rate: number, t: number): { same: number; other: number } {
  const e = Math.exp(-K * rate * t / (K - 1));
  return {
    same: Math.log(1 / K + ((K - 1) / K) * e),
    other: Math.log(-Math.expm1(-K * rate * t / (K - 1)) / K),
  };
}

function logSumExp(xs: Float64Array): number {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  if (m === -Infinity) return m;
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/**
 * The log-likelihood of tip states under the equal-rates Mk model (K states, total rate of
 * leaving a state `rate` per unit branch length, uniform root), by pruning in log space.
 *
 * @example
 * ```ts
 * import { mkLogLikelihood } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("(a:1,b:1);", "t.nwk");
 * // Two tips of the same state: P = sum_r (1/2) P(r,0)^2 = (1 + e^{-4}) / 4 with rate 1.
 * const l = mkLogLikelihood(tree, Int32Array.of(0, 0), 2, 1);
 * console.assert(Math.abs(l - Math.log((1 + Math.exp(-4)) / 4)) < 1e-14);
 * ```
 */
export function mkLogLikelihood(
  tree: FlatTree,
  ofTip: Int32Array,
  K: number,
  rate: number,
): number {
  const { nTips, nNodes, parent, branchLength } = tree;
  const partial = new Float64Array(nNodes * K); // log P(data below v | state of v)
  for (let v = 0; v < nTips; v++) {
    for (let j = 0; j < K; j++) partial[v * K + j] = j === ofTip[v] ? 0 : -Infinity;
  }
  const term = new Float64Array(K);
  for (let v = 0; v < nNodes - 1; v++) {
    const p = parent[v];
    const { same, other } = mkLogP(K, rate, branchLength[v]);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) term[j] = (i === j ? same : other) + partial[v * K + j];
      partial[p * K + i] += logSumExp(term);
    }
  }
  const root = nNodes - 1;
  for (let i = 0; i < K; i++) term[i] = partial[root * K + i] - Math.log(K);
  return logSumExp(term);
}

/**
 * The maximum-likelihood rate of the equal-rates Mk model for the tip classes: a grid over
 * log rate from 1e-4 to 1e4 changes per tree length, then golden-section refinement around the
 * best grid point (to 1e-6 relative in the rate).
 *
 * @returns The rate, its log-likelihood, and whether it sits at an end of the searched range
 *   (then the trait is either nearly free of changes or saturated on this tree).
 *
 * @example
 * ```ts
 * import { fitMkRate, mkLogLikelihood } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
 * const fit = fitMkRate(tree, Int32Array.of(0, 0, 1, 1), 2);
 * const h = 1e-4; // a maximum: the likelihood is lower on both sides
 * const l = (r: number) => mkLogLikelihood(tree, Int32Array.of(0, 0, 1, 1), 2, r);
 * console.assert(l(fit.rate * (1 + h)) < fit.logLik && l(fit.rate * (1 - h)) < fit.logLik);
 * ```
 */
export function fitMkRate(
  tree: FlatTree,
  ofTip: Int32Array,
  K: number,
): { rate: number; logLik: number; atBound: boolean } {
  let length = 0;
  for (let v = 0; v < tree.nNodes - 1; v++) length += tree.branchLength[v];
  if (!(length > 0)) {
    throw new GenecontentError(
      "Every branch of the tree has length 0, so the classes of internal nodes cannot be " +
        "reconstructed; give the tree branch lengths or name every branch's class in the file.",
    );
  }
  const f = (x: number) => mkLogLikelihood(tree, ofTip, K, Math.exp(x) / length);
  const lo = Math.log(1e-4), hi = Math.log(1e4);
  const n = 81;
  let best = 0;
  const grid = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    grid[k] = f(lo + (hi - lo) * k / (n - 1));
    if (grid[k] > grid[best]) best = k;
  }
  const step = (hi - lo) / (n - 1);
  let a = lo + step * Math.max(0, best - 1);
  let b = lo + step * Math.min(n - 1, best + 1);
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a), d = a + g * (b - a);
  let fc = f(c), fd = f(d);
  while (b - a > 1e-6) {
    if (fc >= fd) {
      b = d, d = c, fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  let x = (a + b) / 2;
  let fx = f(x);
  // The grid's best point stands if refinement found nothing higher (a flat end).
  const xGrid = lo + step * best;
  if (grid[best] > fx) {
    x = xGrid;
    fx = grid[best];
  }
  if (fx === -Infinity) {
    throw new GenecontentError(
      "The tip classes cannot arise on this tree at any rate: genomes of different classes are " +
        "joined by branches of length 0. Give those branches a length, or name every " +
        "branch's class in the file.",
    );
  }
  return { rate: Math.exp(x) / length, logLik: fx, atBound: best === 0 || best === n - 1 };
}

/**
 * The joint maximum-likelihood assignment of states to the internal nodes given the tips'
 * (Pupko et al. 2000) under the equal-rates Mk model at `rate`: for each node and each state of
 * its parent, the best state of the node given the best assignment below it; then the root's
 * best state (uniform root prior) and a pass down. Ties (values within 1e-12 relative) go to the
 * lowest state index.
 *
 * @returns The state of every node (tips as given) and the joint log-probability of the
 *   assignment with the tips' states.
 *
 * @example
 * ```ts
 * import { jointMkReconstruction } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):0.1);", "t.nwk");
 * const r = jointMkReconstruction(tree, Int32Array.of(0, 0, 1, 1), 2, 0.3);
 * console.assert(r.ofNode.join() === "0,0,1,1,0,1,1");
 * ```
 */
export function jointMkReconstruction(
  tree: FlatTree,
  ofTip: Int32Array,
  K: number,
  rate: number,
): { ofNode: Int32Array; logLik: number } {
  const { nTips, nNodes, parent, branchLength, childStart, children } = tree;
  // below[v * K + j]: best log-probability of the subtree under v (its internal nodes chosen)
  // given v in state j; for tips, 0 for the observed state.
  const below = new Float64Array(nNodes * K);
  // up[v * K + i]: best log-probability of v's branch and subtree given v's parent in state i;
  // choice[v * K + i]: the state of v that attains it.
  const up = new Float64Array(nNodes * K);
  const choice = new Int32Array(nNodes * K);
  const ties = (best: number, x: number) =>
    best === -Infinity ? x === -Infinity : x >= best - 1e-12 * Math.max(1, Math.abs(best));
  for (let v = 0; v < nNodes; v++) {
    if (v < nTips) {
      for (let j = 0; j < K; j++) below[v * K + j] = j === ofTip[v] ? 0 : -Infinity;
    } else {
      for (let j = 0; j < K; j++) {
        let s = 0;
        for (let c = childStart[v]; c < childStart[v + 1]; c++) s += up[children[c] * K + j];
        below[v * K + j] = s;
      }
    }
    if (v === nNodes - 1) break;
    const { same, other } = mkLogP(K, rate, branchLength[v]);
    for (let i = 0; i < K; i++) {
      let best = -Infinity;
      for (let j = 0; j < K; j++) {
        best = Math.max(best, (i === j ? same : other) + below[v * K + j]);
      }
      let pick = 0;
      for (let j = 0; j < K; j++) {
        if (ties(best, (i === j ? same : other) + below[v * K + j])) {
          pick = j;
          break;
        }
      }
      up[v * K + i] = best;
      choice[v * K + i] = pick;
    }
  }
  const root = nNodes - 1;
  let best = -Infinity;
  for (let j = 0; j < K; j++) best = Math.max(best, below[root * K + j]);
  let rootState = 0;
  for (let j = 0; j < K; j++) {
    if (ties(best, below[root * K + j])) {
      rootState = j;
      break;
    }
  }
  const ofNode = new Int32Array(nNodes);
  ofNode[root] = rootState;
  for (let v = nNodes - 2; v >= 0; v--) ofNode[v] = choice[v * K + ofNode[parent[v]]];
  return { ofNode, logLik: best - Math.log(K) };
}

/** The class of every branch of a tree, and how it was decided. */
export interface BranchClasses {
  /** Class names, in order of first appearance in the file. */
  readonly classes: readonly string[];
  /** Class of each node's branch (tree node order); the root has -1 (it has no branch). */
  readonly ofNode: Int32Array;
  /** `file` when the table named every branch; `reconstructed` when it named the tips. */
  readonly source: "file" | "reconstructed";
  /** With `reconstructed`: the fitted Mk rate per unit branch length, its log-likelihood. */
  readonly mk: { readonly rate: number; readonly logLik: number; readonly atBound: boolean } | null;
  /** The rule in words, for outputs. */
  readonly rule: string;
}

/**
 * The class of every branch from a metadata table: if the table names internal nodes (by node
 * id), it must name every branch (every node but the root) and is used as it is; if it names only
 * tips, the internal nodes' classes are reconstructed (see the module documentation). Refuses
 * fewer than two classes, names that are neither tips nor node ids, the root (it has no branch),
 * and branches without a class.
 *
 * @example
 * ```ts
 * import { branchClasses } from "./branches.ts";
 * import { parseMetadataTable } from "./inputs.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
 * const t = parseMetadataTable("genome\thost\na\tfree\nb\tfree\nc\thost\nd\thost\n", "m", "host");
 * const bc = branchClasses(tree, t);
 * console.assert(bc.source === "reconstructed" && bc.ofNode.join() === "0,0,1,1,0,1,-1");
 * ```
 */
export function branchClasses(
  tree: FlatTree,
  table: MetadataTable,
  dropped: readonly string[] = [],
  ids: readonly string[] = nodeIds(tree),
): BranchClasses {
  const { nTips, nNodes } = tree;
  const internalRows = table.rows.filter((r) => {
    const v = ids.indexOf(r.name);
    return v >= nTips;
  });
  if (internalRows.length === 0) {
    const tc = tipClasses(table, tree.tipNames, dropped);
    const K = tc.classes.length;
    if (K < 2) {
      throw new GenecontentError(
        `Metadata file '${table.fileName}', column ${quoteValue(table.column)}: every genome ` +
          `has class ${quoteValue(tc.classes[0])}; branch classes need at least two.`,
      );
    }
    const mk = fitMkRate(tree, tc.ofTip, K);
    const { ofNode } = jointMkReconstruction(tree, tc.ofTip, K, mk.rate);
    ofNode[nNodes - 1] = -1;
    return {
      classes: tc.classes,
      ofNode,
      source: "reconstructed",
      mk,
      rule: "tips from the file; internal nodes by the joint maximum-likelihood reconstruction " +
        "(Pupko et al. 2000) under the equal-rates Mk model with its rate fitted by maximum " +
        `likelihood (${mk.rate.toPrecision(4)} changes per unit branch length), ties to the ` +
        "class first in the file; a branch has the class of the node below it",
    };
  }
  const ofNode = new Int32Array(nNodes).fill(-1);
  const classes: string[] = [];
  const index = new Map<string, number>();
  const unknown: string[] = [];
  for (const row of table.rows) {
    let v = ids.indexOf(row.name);
    if (v < 0) v = resolveNode(tree, row.name, ids, "Branch");
    if (v < 0) {
      if (!dropped.includes(row.name)) unknown.push(`${quoteValue(row.name)} (line ${row.line})`);
      continue;
    }
    if (v === nNodes - 1) {
      throw new GenecontentError(
        `Metadata file '${table.fileName}', line ${row.line}: ${
          quoteValue(row.name)
        } is the root, which has no branch above it; remove the row.`,
      );
    }
    if (!index.has(row.value)) {
      index.set(row.value, classes.length);
      classes.push(row.value);
    }
    ofNode[v] = index.get(row.value)!;
  }
  if (unknown.length > 0) {
    throw new GenecontentError(
      `Metadata file '${table.fileName}' names ${unknown.length} node(s) not in the tree: ${
        listed(unknown)
      }. Name branches by node id (a unique internal label, or node<i> as 'genecontent ` +
        "ancestral' writes them) or tip name.",
    );
  }
  const missing: string[] = [];
  for (let v = 0; v < nNodes - 1; v++) if (ofNode[v] < 0) missing.push(quoteValue(ids[v]));
  if (missing.length > 0) {
    throw new GenecontentError(
      `Metadata file '${table.fileName}' names internal nodes, so it must name every branch; ` +
        `${missing.length} branch(es) have no class: ${listed(missing)}. Give every node but ` +
        "the root a row, or give only the tips to have the internal nodes reconstructed.",
    );
  }
  if (classes.length < 2) {
    throw new GenecontentError(
      `Metadata file '${table.fileName}', column ${quoteValue(table.column)}: every branch has ` +
        `class ${quoteValue(classes[0])}; branch classes need at least two.`,
    );
  }
  return {
    classes,
    ofNode,
    source: "file",
    mk: null,
    rule: "every branch's class from the file (a branch has the class of the node below it)",
  };
}

/**
 * One design per class but the reference (the first class, by default): `x_v = 1` on the
 * branches of that class. Refuses a class with no branches and an unknown reference.
 *
 * @example
 * ```ts
 * import { classDesigns } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
 * const d = classDesigns(tree, { classes: ["free", "host"], ofNode: Int32Array.of(0, 0, 1, 1, 0, 1, -1),
 *   source: "file", mk: null, rule: "" });
 * console.assert(d.length === 1 && d[0].class === "host" && d[0].branches.join() === "2,3,5");
 * ```
 */
export function classDesigns(
  tree: FlatTree,
  bc: BranchClasses,
  reference: string = bc.classes[0],
): (LineageDesign & { readonly class: string })[] {
  const ref = bc.classes.indexOf(reference);
  if (ref < 0) {
    throw new GenecontentError(
      `Reference class ${quoteValue(reference)} is not a class of the branches (${
        bc.classes.map((c) => quoteValue(c)).join(", ")
      }).`,
    );
  }
  const out: (LineageDesign & { class: string })[] = [];
  bc.classes.forEach((name, c) => {
    const design = new Float64Array(tree.nNodes);
    const branches: number[] = [];
    for (let v = 0; v < tree.nNodes - 1; v++) {
      if (bc.ofNode[v] === c) {
        design[v] = 1;
        branches.push(v);
      }
    }
    if (branches.length === 0) {
      throw new GenecontentError(`Branch class ${quoteValue(name)} has no branches.`);
    }
    if (c === ref) return;
    out.push({
      class: name,
      design,
      branches,
      description: `branches of class ${quoteValue(name)} (${branches.length}) against class ${
        quoteValue(reference)
      }`,
    });
  });
  return out;
}

/**
 * The design of a continuous tip covariate: on the terminal branch of each tip its value minus
 * the mean over the tips, 0 on internal branches and the root. A covariate with the same value at
 * every tip is refused (it has no effect to estimate).
 *
 * @example
 * ```ts
 * import { covariateDesign } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,c:1);", "t.nwk");
 * const d = covariateDesign(tree, Float64Array.of(1, 2, 6), "gc");
 * console.assert(d.mean === 3 && d.design.join() === "-2,-1,3,0,0");
 * ```
 */
export function covariateDesign(
  tree: FlatTree,
  values: Float64Array,
  name: string,
): LineageDesign & { readonly mean: number } {
  if (values.length !== tree.nTips) {
    throw new RangeError(`Covariate has ${values.length} values for ${tree.nTips} tips.`);
  }
  let mean = 0;
  for (const x of values) mean += x;
  mean /= values.length;
  const design = new Float64Array(tree.nNodes);
  const branches: number[] = [];
  for (let v = 0; v < tree.nTips; v++) {
    design[v] = values[v] - mean;
    if (design[v] !== 0) branches.push(v);
  }
  if (branches.length === 0) {
    throw new GenecontentError(
      `Covariate ${quoteValue(name)} has the same value (${values[0]}) at every genome; it has ` +
        "no effect to estimate.",
    );
  }
  return {
    design,
    branches,
    mean,
    description: `covariate ${quoteValue(name)} on terminal branches, centred by its mean ` +
      `over the tips (${mean}); theta is per unit of the covariate`,
  };
}

/**
 * The design of one branch class: `x_v = 1` on the branches of class `name`, 0 elsewhere and
 * at the root. Refuses an unknown class (listing the classes) and a class holding every branch
 * (its effect would be the background rates themselves).
 *
 * @example
 * ```ts
 * import { classDesign } from "./branches.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1):1,(c:1,d:1):1);", "t.nwk");
 * const d = classDesign(tree, { classes: ["free", "host"], ofNode: Int32Array.of(0, 0, 1, 1, 0, 1, -1),
 *   source: "file", mk: null, rule: "" }, "host");
 * console.assert(d.branches.join() === "2,3,5" && d.design[6] === 0);
 * ```
 */
export function classDesign(
  tree: FlatTree,
  bc: BranchClasses,
  name: string,
): LineageDesign & { readonly class: string } {
  const c = bc.classes.indexOf(name);
  if (c < 0) {
    throw new GenecontentError(
      `Class ${quoteValue(name)} is not a class of the branches (${
        bc.classes.map((x) => quoteValue(x)).join(", ")
      }).`,
    );
  }
  const design = new Float64Array(tree.nNodes);
  const branches: number[] = [];
  for (let v = 0; v < tree.nNodes - 1; v++) {
    if (bc.ofNode[v] === c) {
      design[v] = 1;
      branches.push(v);
    }
  }
  if (branches.length === tree.nNodes - 1) {
    throw new GenecontentError(
      `Every branch has class ${quoteValue(name)}: its effect would be the background rates ` +
        "themselves.",
    );
  }
  return {
    class: name,
    design,
    branches,
    description: `branches of class ${quoteValue(name)} (${branches.length})`,
  };
}
