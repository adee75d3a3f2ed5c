/**
 * Writes a {@linkcode FlatTree} as Newick text (without recursion), quoting names that need it.
 *
 * @module
 */

import type { FlatTree } from "../tree/flat_tree.ts";

/** Characters that force a label into single quotes. */
const NEEDS_QUOTES = /[\s()[\]':;,]/;

/**
 * Returns a label as Newick: unchanged when it is safe, otherwise in single quotes with every
 * `'` doubled. Empty labels are written as `''`.
 *
 * @example
 * ```ts
 * import { quoteNewickLabel } from "./format.ts";
 * console.assert(quoteNewickLabel("a_b") === "a_b");
 * console.assert(quoteNewickLabel("x'y z") === "'x''y z'");
 * ```
 */
export function quoteNewickLabel(label: string): string {
  if (label !== "" && !NEEDS_QUOTES.test(label)) return label;
  return "'" + label.replaceAll("'", "''") + "'";
}

/**
 * Formats a tree as one Newick line ending with `;`. Branch lengths are written with the
 * shortest decimal that reads back to the same double, so `parseNewick(formatNewick(t))`
 * reproduces the tree exactly. Internal labels are written after their `)`.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * import { formatNewick } from "./format.ts";
 * const t = flatTreeFromParents(["a", "b c"], [2, 2, -1], [1, 0.25, 0]);
 * console.assert(formatNewick(t) === "(a:1,'b c':0.25);");
 * ```
 */
export function formatNewick(tree: FlatTree): string {
  const { nTips, nNodes, childStart, children } = tree;
  const root = nNodes - 1;
  const parts: string[] = [];
  const suffix = (v: number): string => {
    const label = v < nTips ? "" : tree.internalLabels[v - nTips];
    const head = label === null || label === "" ? "" : quoteNewickLabel(label);
    return v === root ? head : `${head}:${tree.branchLength[v]}`;
  };
  const cursor = new Int32Array(nNodes);
  const stack: number[] = [root];
  while (stack.length > 0) {
    const v = stack[stack.length - 1];
    if (v < nTips) {
      parts.push(quoteNewickLabel(tree.tipNames[v]) + suffix(v));
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
