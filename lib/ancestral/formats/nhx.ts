/**
 * The tree with the reconstruction on its branches as NHX (New Hampshire eXtended) Newick,
 * readable by ggtree/treeio (`read.nhx`), FigTree and ETE: every node keeps its name (tip names,
 * internal labels such as support values) and carries `[&&NHX:...]` after its branch length.
 *
 * @module
 */

import { quoteNewickLabel } from "../../newick/format.ts";
import type { FlatTree } from "../../tree/flat_tree.ts";
import { type BranchSums, checkNodeIds } from "./long_tsv.ts";
import { GenecontentError } from "../../errors.ts";

/** Characters an NHX value cannot hold (NHX has no quoting). */
const NHX_UNSAFE = /[\s:=[\](),;'"&]/;

/**
 * Formats the NHX tree. Each non-root node gets
 * `[&&NHX:id=ID:gains=G:losses=L:net=N]` (and `:present=P` when `sums.present` is given), the
 * root `[&&NHX:id=ID]` (plus `present`). Numbers are shortest round-trip decimals. The `id` tag
 * (the node id of the tables) is left out for an id holding a character NHX cannot carry
 * (`:`, `=`, brackets, blanks, ...); such an id is always the node's own label, which is
 * written as its name. Node names are written as in the input tree: tip names, internal labels
 * (support values included), quoted where Newick needs it.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { formatNhx } from "./nhx.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 0.5, 0], ["95"]);
 * const nhx = formatNhx(t, ["a", "b", "node2"], {
 *   gains: Float64Array.of(2, 0.25, 0),
 *   losses: Float64Array.of(0.5, 1, 0),
 * });
 * console.assert(
 *   nhx ===
 *     "(a:1[&&NHX:id=a:gains=2:losses=0.5:net=1.5],b:0.5[&&NHX:id=b:gains=0.25:losses=1:net=-0.75])" +
 *       "95[&&NHX:id=node2];",
 * );
 * ```
 */
export function formatNhx(tree: FlatTree, ids: readonly string[], sums: BranchSums): string {
  checkNodeIds(tree, ids);
  const n = tree.nNodes;
  for (const [name, values] of [["gains", sums.gains], ["losses", sums.losses]] as const) {
    if (!(values instanceof Float64Array) || values.length !== n) {
      throw new GenecontentError(
        `NHX tree: ${name} has ${values?.length ?? "no"} values for ${n} nodes; give one per node.`,
      );
    }
  }
  if (sums.present !== undefined && sums.present.length !== n) {
    throw new GenecontentError(
      `NHX tree: present has ${sums.present.length} values for ${n} nodes; give one per node.`,
    );
  }
  const root = n - 1;
  const tags = (v: number): string => {
    const parts: string[] = [];
    if (!NHX_UNSAFE.test(ids[v])) parts.push(`id=${ids[v]}`);
    if (v !== root) {
      const g = sums.gains[v];
      const l = sums.losses[v];
      for (const [k, x] of [["gains", g], ["losses", l], ["net", g - l]] as const) {
        if (!Number.isFinite(x)) {
          throw new GenecontentError(
            `NHX tree: ${k} on the branch above node '${ids[v]}' is ${x}; values must be finite.`,
          );
        }
        parts.push(`${k}=${x}`);
      }
    }
    if (sums.present !== undefined) {
      const p = sums.present[v];
      if (!Number.isFinite(p)) {
        throw new GenecontentError(
          `NHX tree: present at node '${ids[v]}' is ${p}; values must be finite.`,
        );
      }
      parts.push(`present=${p}`);
    }
    return parts.length === 0 ? "" : `[&&NHX:${parts.join(":")}]`;
  };
  const { nTips, childStart, children } = tree;
  const suffix = (v: number): string => {
    const label = v < nTips ? tree.tipNames[v] : tree.internalLabels[v - nTips];
    const head = label === null || label === "" ? "" : quoteNewickLabel(label);
    return (v === root ? head : `${head}:${tree.branchLength[v]}`) + tags(v);
  };
  // The traversal of formatNewick (children in order, no recursion), with the tags added.
  const parts: string[] = [];
  const cursor = new Int32Array(n);
  const stack: number[] = [root];
  while (stack.length > 0) {
    const v = stack[stack.length - 1];
    if (v < nTips) {
      parts.push(suffix(v));
      stack.pop();
      continue;
    }
    const k = cursor[v];
    const nChildren = childStart[v + 1] - childStart[v];
    if (k === 0) parts.push("(");
    if (k < nChildren) {
      if (k > 0) parts.push(",");
      cursor[v] = k + 1;
      stack.push(children[childStart[v] + k]);
      continue;
    }
    parts.push(")" + suffix(v));
    stack.pop();
  }
  parts.push(";");
  return parts.join("");
}
