/**
 * Stable node ids for ancestral outputs, and the Newick tree written with them.
 *
 * The rule: a node's id is its label when that label is unique among all node labels (tip names
 * included) and is not a plain number (support values such as `95` or `0.87` are not ids); every
 * other node gets `node<i>`, with `i` its index in the flat tree (tips first, internal nodes in
 * post-order, the root last), made unique with a suffix `_2`, `_3`, ... when a label already uses
 * that string. A tip is always named by its genome name (names are unique among tips and are what
 * the PAM uses; a genome named `95` stays `95`), so an internal label that repeats a tip name, or a
 * number, is not an id. Branches are named by their child's id.
 *
 * @module
 */

import { isDecimalNumber } from "../newick/parse.ts";
import { formatNewick } from "../newick/format.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/**
 * The id of every node of `tree`, in node order (see the module documentation for the rule).
 *
 * @example
 * ```ts
 * import { nodeIds } from "./node_ids.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:1,b:1)n1:1,(c:1,d:1)95:1,(e:1,f:1)n1:1);", "t.nwk");
 * // Tips, then the internal nodes in post-order: n1 twice (not unique) and a support value.
 * console.assert(nodeIds(tree).join() === "a,b,c,d,e,f,node6,node7,node8,node9");
 * ```
 */
export function nodeIds(tree: FlatTree): string[] {
  const { nTips, nNodes, tipNames, internalLabels } = tree;
  const count = new Map<string, number>();
  const bump = (s: string) => count.set(s, (count.get(s) ?? 0) + 1);
  for (const name of tipNames) bump(name);
  for (const label of internalLabels) if (label !== null && label !== "") bump(label);
  const ids: (string | null)[] = new Array(nNodes).fill(null);
  const used = new Set<string>();
  for (let v = 0; v < nNodes; v++) {
    if (v < nTips) {
      ids[v] = tipNames[v];
      used.add(tipNames[v]);
      continue;
    }
    const label = internalLabels[v - nTips];
    if (label !== null && label !== "" && count.get(label) === 1 && !isDecimalNumber(label)) {
      ids[v] = label;
      used.add(label);
    }
  }
  // Every label (used or not) blocks its string, so a generated id never looks like a label.
  const taken = new Set<string>([...count.keys(), ...used]);
  for (let v = 0; v < nNodes; v++) {
    if (ids[v] !== null) continue;
    let id = `node${v}`;
    for (let k = 2; taken.has(id); k++) id = `node${v}_${k}`;
    ids[v] = id;
    taken.add(id);
  }
  return ids as string[];
}

/**
 * The tree as one Newick line with every node named by its id (tips by their names, internal
 * nodes after their `)`), branch lengths kept exactly.
 *
 * @example
 * ```ts
 * import { idNewick } from "./node_ids.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:0.5,b:0.25)0.9:1,c:2);", "t.nwk");
 * // Children are written in node order (tip c is node 2, the cherry node 3).
 * console.assert(idNewick(tree) === "(c:2,(a:0.5,b:0.25)node3:1)node4;");
 * ```
 */
export function idNewick(tree: FlatTree, ids: readonly string[] = nodeIds(tree)): string {
  return formatNewick({ ...tree, internalLabels: ids.slice(tree.nTips) });
}
