/**
 * Matching a presence/absence matrix to a tree by exact taxon name.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { pruneTree } from "../tree/prune.ts";
import type { PresenceAbsenceMatrix } from "./matrix.ts";

/** Options for {@linkcode alignPamToTree}. */
export interface AlignOptions {
  /** Keep only the taxa in both the tree and the matrix (pruning the tree). Default false. */
  readonly pruneToShared?: boolean;
  /** The tree's file name, for messages. */
  readonly treeSource?: string;
}

/** A matrix matched to a tree. */
export interface AlignedPam {
  /** The tree (pruned to the shared taxa when asked to, otherwise the input tree). */
  readonly tree: FlatTree;
  /** Family-major cells, tips in tree order: `rows[f * tree.nTips + tip]`. */
  readonly rows: Uint8Array;
  /** Tree tips that were removed because the matrix has no column for them (tree order). */
  readonly droppedTips: string[];
  /** Matrix taxa that were dropped because the tree has no tip for them (matrix order). */
  readonly droppedTaxa: string[];
}

function listSome(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((x) => `'${x}'`).join(", ");
  return names.length > 10 ? `${shown}, ... (${names.length} in all)` : shown;
}

/** How a matrix's taxa map onto a tree's tips, without moving any cells. */
export interface PamTreeMatch {
  /** The tree (pruned to the shared taxa when asked to, otherwise the input tree). */
  readonly tree: FlatTree;
  /** For each tip of `tree` (tree order), the index of its taxon in the matrix. */
  readonly columns: Int32Array;
  /** Tree tips that were removed because the matrix has no column for them (tree order). */
  readonly droppedTips: string[];
  /** Matrix taxa that were dropped because the tree has no tip for them (matrix order). */
  readonly droppedTaxa: string[];
}

/**
 * Matches the matrix's taxa to the tree's tips by exact name, with the checks and pruning of
 * {@linkcode alignPamToTree}, and returns the tip-to-column map instead of reordered cells
 * (for callers that gather the cells themselves, e.g. while merging patterns).
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { matchPamToTree } from "./align.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const { columns } = matchPamToTree({ source: "p.tsv", taxa: ["b", "a"] }, tree);
 * console.assert(columns[0] === 1 && columns[1] === 0);
 * ```
 */
export function matchPamToTree(
  pam: Pick<PresenceAbsenceMatrix, "source" | "taxa">,
  tree: FlatTree,
  options: AlignOptions = {},
): PamTreeMatch {
  const treeName = options.treeSource ? `tree file '${options.treeSource}'` : "the tree";
  const tips = new Set(tree.tipNames);
  const taxonIndex = new Map<string, number>();
  pam.taxa.forEach((name, i) => taxonIndex.set(name, i));
  const droppedTaxa = pam.taxa.filter((x) => !tips.has(x));
  const droppedTips = tree.tipNames.filter((x) => !taxonIndex.has(x));
  const nShared = pam.taxa.length - droppedTaxa.length;

  if (nShared < 2) {
    throw new GenecontentError(
      `PAM file '${pam.source}' and ${treeName} share ${nShared} taxon name` +
        `${nShared === 1 ? "" : "s"}; at least 2 are needed. Names must match exactly ` +
        `(PAM taxa: ${listSome(pam.taxa)}; tree tips: ${listSome(tree.tipNames)}).`,
    );
  }
  if (!options.pruneToShared && (droppedTaxa.length > 0 || droppedTips.length > 0)) {
    const parts: string[] = [];
    if (droppedTaxa.length > 0) {
      parts.push(
        `${droppedTaxa.length} PAM taxa are not tips of the tree: ${listSome(droppedTaxa)}`,
      );
    }
    if (droppedTips.length > 0) {
      parts.push(
        `${droppedTips.length} tree tips are not in the PAM: ${listSome(droppedTips)}`,
      );
    }
    throw new GenecontentError(
      `PAM file '${pam.source}' and ${treeName} do not name the same taxa: ` +
        `${parts.join("; ")}. Names must match exactly (no trimming, no underscore/space ` +
        `folding). Fix the names, or pass --prune-to-shared to keep only the ${nShared} ` +
        "shared taxa.",
    );
  }
  const outTree = droppedTips.length > 0 ? pruneTree(tree, new Set(taxonIndex.keys())) : tree;
  const nTips = outTree.nTips;
  const columns = new Int32Array(nTips);
  for (let t = 0; t < nTips; t++) columns[t] = taxonIndex.get(outTree.tipNames[t])!;
  return { tree: outTree, columns, droppedTips, droppedTaxa };
}

/**
 * Reorders the matrix's taxa into the tree's tip order. Names must match exactly (no trimming,
 * no underscore/space folding). Without `pruneToShared`, any taxon missing from either side is
 * an error listing them; with it, tree tips without a column are pruned from the tree (see
 * {@linkcode pruneTree}) and matrix columns without a tip are dropped, and both lists are
 * returned so the caller can report them. Fewer than two shared taxa is always an error.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { alignPamToTree } from "./align.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const pam = { source: "p.tsv", families: ["f"], taxa: ["b", "a"], states: Uint8Array.of(1, 0) };
 * const { rows } = alignPamToTree(pam, tree);
 * console.assert(rows[0] === 0 && rows[1] === 1);
 * ```
 */
export function alignPamToTree(
  pam: PresenceAbsenceMatrix,
  tree: FlatTree,
  options: AlignOptions = {},
): AlignedPam {
  const { tree: outTree, columns, droppedTips, droppedTaxa } = matchPamToTree(pam, tree, options);
  const nTips = outTree.nTips;
  const nTaxa = pam.taxa.length;
  const nFamilies = pam.families.length;
  const states = pam.states;
  if (nTaxa === nTips && columns.every((c, t) => c === t)) {
    // Already in tree order: no copy (a 5,000 x 100,000 PAM is 500 MB).
    return { tree: outTree, rows: states, droppedTips, droppedTaxa };
  }
  const rows = new Uint8Array(nFamilies * nTips);
  for (let f = 0; f < nFamilies; f++) {
    const src = f * nTaxa;
    const dst = f * nTips;
    for (let t = 0; t < nTips; t++) rows[dst + t] = states[src + columns[t]];
  }
  return { tree: outTree, rows, droppedTips, droppedTaxa };
}
