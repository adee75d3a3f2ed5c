/**
 * iTOL (Interactive Tree Of Life) dataset files for the reconstruction: branch colours by net
 * change and widths by the number of events (`DATASET_STYLE`), the numbers on the branches
 * (`DATASET_TEXT`), and bars of any per-node quantity (`DATASET_SIMPLEBAR`). All use
 * `SEPARATOR TAB` and carry the header fields iTOL requires (`SEPARATOR`, `DATASET_LABEL`,
 * `COLOR`, then `DATA`).
 *
 * Nodes are named as iTOL finds them, in one of two ways:
 * - `"ids"`: every node by its id, for the tree of node ids (`idNewick` of `../node_ids.ts`)
 *   in iTOL, where internal nodes carry their ids as labels;
 * - `"lca"`: for the user's own tree: tips by name, internal nodes by iTOL's last-common-
 *   ancestor notation `A|B` with two tips from different child subtrees (a unary node, whose
 *   tips all lie in one child, cannot be named so and is refused).
 *
 * @module
 */

import { GenecontentError } from "../../errors.ts";
import type { FlatTree } from "../../tree/flat_tree.ts";
import { type BranchSums, checkNodeIds } from "./long_tsv.ts";

/** How nodes are named in iTOL datasets (see the module documentation). */
export type ItolNaming = "ids" | "lca";

/**
 * The name iTOL resolves to each node, by {@linkcode ItolNaming}. Names holding a tab, a line
 * break or `|` (which iTOL reads as the two-tip notation) are refused, naming the node.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { itolNodeNames } from "./itol.ts";
 * // (c,(a,b)): children are listed in index order
 * const t = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [1, 1, 1, 1, 0]);
 * const ids = ["a", "b", "c", "node3", "node4"];
 * console.assert(itolNodeNames(t, ids, "lca").join(" ") === "a b c a|b c|a");
 * console.assert(itolNodeNames(t, ids, "ids").join(" ") === "a b c node3 node4");
 * ```
 */
export function itolNodeNames(
  tree: FlatTree,
  ids: readonly string[],
  naming: ItolNaming,
): string[] {
  checkNodeIds(tree, ids);
  const { nTips, nNodes, childStart, children } = tree;
  const bad = (s: string) => /[\t\r\n|]/.test(s);
  if (naming === "ids") {
    for (let v = 0; v < nNodes; v++) {
      if (bad(ids[v])) {
        throw new GenecontentError(
          `iTOL dataset: node id '${ids[v]}' holds a tab, line break or '|', which iTOL cannot ` +
            "take as a node name. Rename the node in the tree.",
        );
      }
    }
    return [...ids];
  }
  if (naming !== "lca") {
    throw new GenecontentError(`iTOL dataset: unknown naming '${naming}'; use 'ids' or 'lca'.`);
  }
  for (let v = 0; v < nTips; v++) {
    if (bad(tree.tipNames[v])) {
      throw new GenecontentError(
        `iTOL dataset: tip '${tree.tipNames[v]}' holds a tab, line break or '|', which iTOL ` +
          "reads differently; write the datasets for the tree of node ids (naming 'ids').",
      );
    }
  }
  // First tip (in child order) below each node; children come before parents.
  const first = new Int32Array(nNodes);
  for (let v = 0; v < nNodes; v++) first[v] = v < nTips ? v : first[children[childStart[v]]];
  const names: string[] = tree.tipNames.slice(0, nTips);
  for (let v = nTips; v < nNodes; v++) {
    const a = childStart[v];
    const b = childStart[v + 1] - 1;
    if (a === b) {
      throw new GenecontentError(
        `iTOL dataset: node '${ids[v]}' has one child, so no two tips name it as their last ` +
          "common ancestor; write the datasets for the tree of node ids (naming 'ids').",
      );
    }
    names.push(`${tree.tipNames[first[children[a]]]}|${tree.tipNames[first[children[b]]]}`);
  }
  return names;
}

/** Colours of {@linkcode itolBranchStyle}: net loss, no net change, net gain. */
export const NET_COLORS = { loss: "#b2182b", zero: "#bdbdbd", gain: "#2166ac" } as const;

function hex(c: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) as [number, number, number];
}

/**
 * The colour of a net change `net` on a scale symmetric around 0 up to `scale` (> 0): linear in
 * RGB from {@linkcode NET_COLORS}.zero at 0 to `.gain` at +scale and `.loss` at −scale.
 *
 * @example
 * ```ts
 * import { netColor, NET_COLORS } from "./itol.ts";
 * console.assert(netColor(0, 1) === NET_COLORS.zero && netColor(-2, 2) === NET_COLORS.loss);
 * ```
 */
export function netColor(net: number, scale: number): string {
  const t = scale > 0 ? Math.max(-1, Math.min(1, net / scale)) : 0;
  const from = hex(NET_COLORS.zero);
  const to = hex(t >= 0 ? NET_COLORS.gain : NET_COLORS.loss);
  const f = Math.abs(t);
  return "#" +
    from.map((x, i) => Math.round(x + (to[i] - x) * f).toString(16).padStart(2, "0")).join("");
}

function branchValues(tree: FlatTree, ids: readonly string[], sums: BranchSums, what: string) {
  const n = tree.nNodes;
  for (const [name, values] of [["gains", sums.gains], ["losses", sums.losses]] as const) {
    if (!(values instanceof Float64Array) || values.length !== n) {
      throw new GenecontentError(
        `${what}: ${name} has ${values?.length ?? "no"} values for ${n} nodes; give one per node.`,
      );
    }
    for (let v = 0; v < n - 1; v++) {
      // Rounding may leave an expected count a hair below 0; only non-finite values are wrong.
      if (!Number.isFinite(values[v])) {
        throw new GenecontentError(
          `${what}: ${name} on the branch above node '${ids[v]}' is ${values[v]}; expected ` +
            "counts of events are finite.",
        );
      }
    }
  }
}

/** Options of {@linkcode itolBranchStyle}. */
export interface ItolStyleOptions {
  /** How nodes are named (default `"ids"`). */
  readonly naming?: ItolNaming;
  /** The dataset's label (default `net gene gain and loss`). */
  readonly label?: string;
  /** Width factor of the branch with the most events (default 4); others scale linearly from 1. */
  readonly maxWidth?: number;
}

function header(kind: string, label: string, color: string, extra: readonly string[]): string[] {
  if (/[\t\r\n]/.test(label)) {
    throw new GenecontentError(
      `iTOL dataset label ${JSON.stringify(label)} holds a tab or line break; choose another.`,
    );
  }
  return [kind, "SEPARATOR TAB", `DATASET_LABEL\t${label}`, `COLOR\t${color}`, ...extra, "DATA"];
}

const short = (x: number) => Number(x.toPrecision(4)).toString();

/**
 * A `DATASET_STYLE` file: one `branch node` line for every branch (every node but the root),
 * coloured by its net change (gains − losses; {@linkcode netColor} on a scale up to the largest
 * absolute net change) with width factor `1 + (maxWidth − 1) · events / max events`
 * (events = gains + losses), and a legend of the colour scale.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { itolBranchStyle } from "./itol.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const text = itolBranchStyle(t, ["a", "b", "r"], {
 *   gains: Float64Array.of(2, 0, 0),
 *   losses: Float64Array.of(0, 1, 0),
 * });
 * console.assert(text.includes("\nDATA\na\tbranch\tnode\t#2166ac\t4\tnormal\n"));
 * ```
 */
export function itolBranchStyle(
  tree: FlatTree,
  ids: readonly string[],
  sums: BranchSums,
  options: ItolStyleOptions = {},
): string {
  const names = itolNodeNames(tree, ids, options.naming ?? "ids");
  branchValues(tree, ids, sums, "iTOL branch styles");
  const maxWidth = options.maxWidth ?? 4;
  if (!(Number.isFinite(maxWidth) && maxWidth >= 1)) {
    throw new GenecontentError(`iTOL branch styles: maxWidth ${maxWidth} must be at least 1.`);
  }
  const branches = tree.nNodes - 1;
  const events = (v: number) => Math.max(0, sums.gains[v] + sums.losses[v]);
  let maxNet = 0;
  let maxEvents = 0;
  for (let v = 0; v < branches; v++) {
    maxNet = Math.max(maxNet, Math.abs(sums.gains[v] - sums.losses[v]));
    maxEvents = Math.max(maxEvents, events(v));
  }
  const lines = header("DATASET_STYLE", options.label ?? "net gene gain and loss", "#2166ac", [
    "LEGEND_TITLE\tnet change (gains - losses)",
    "LEGEND_SHAPES\t1\t1\t1",
    `LEGEND_COLORS\t${NET_COLORS.loss}\t${NET_COLORS.zero}\t${NET_COLORS.gain}`,
    `LEGEND_LABELS\t-${short(maxNet)}\t0\t+${short(maxNet)}`,
  ]);
  for (let v = 0; v < branches; v++) {
    const g = sums.gains[v];
    const l = sums.losses[v];
    const width = maxEvents > 0 ? 1 + (maxWidth - 1) * events(v) / maxEvents : 1;
    lines.push(`${names[v]}\tbranch\tnode\t${netColor(g - l, maxNet)}\t${width}\tnormal`);
  }
  return lines.join("\n") + "\n";
}

/** Options of {@linkcode itolBranchText}. */
export interface ItolTextOptions {
  /** How nodes are named (default `"ids"`). */
  readonly naming?: ItolNaming;
  /** The dataset's label (default `gains / losses`). */
  readonly label?: string;
  /** Significant digits shown (default 3). */
  readonly digits?: number;
}

/**
 * A `DATASET_TEXT` file writing `+gains/-losses` (to `digits` significant digits) half-way
 * along every branch (every node but the root).
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { itolBranchText } from "./itol.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const text = itolBranchText(t, ["a", "b", "r"], {
 *   gains: Float64Array.of(2.5, 0, 0),
 *   losses: Float64Array.of(0.125, 1, 0),
 * });
 * console.assert(text.endsWith("DATA\na\t+2.5/-0.125\t0.5\t#000000\tnormal\t1\t0\n" +
 *   "b\t+0/-1\t0.5\t#000000\tnormal\t1\t0\n"));
 * ```
 */
export function itolBranchText(
  tree: FlatTree,
  ids: readonly string[],
  sums: BranchSums,
  options: ItolTextOptions = {},
): string {
  const names = itolNodeNames(tree, ids, options.naming ?? "ids");
  branchValues(tree, ids, sums, "iTOL branch text");
  const digits = options.digits ?? 3;
  if (!(Number.isInteger(digits) && digits >= 1 && digits <= 17)) {
    throw new GenecontentError(`iTOL branch text: digits ${digits} must be an integer in 1..17.`);
  }
  const f = (x: number) => Number(x.toPrecision(digits)).toString();
  const lines = header("DATASET_TEXT", options.label ?? "gains / losses", "#000000", []);
  for (let v = 0; v < tree.nNodes - 1; v++) {
    lines.push(
      `${names[v]}\t+${f(sums.gains[v])}/-${f(sums.losses[v])}\t0.5\t#000000\tnormal\t1\t0`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Options of {@linkcode itolSimpleBar}. */
export interface ItolBarOptions {
  /** How nodes are named (default `"ids"`). */
  readonly naming?: ItolNaming;
  /** The dataset's label. */
  readonly label: string;
  /** Bar colour (default `#2166ac`). */
  readonly color?: string;
  /** Which nodes get a line: `"branches"` (every node but the root, default) or `"nodes"`. */
  readonly nodes?: "branches" | "nodes";
}

/**
 * A `DATASET_SIMPLEBAR` file of one value per node (for example gains on the branch above each
 * node, or the expected number of families present), full precision, one line per branch (or
 * per node with `nodes: "nodes"`). iTOL draws bars beside the tips; an internal node's bar
 * appears when its clade is collapsed.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { itolSimpleBar } from "./itol.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const text = itolSimpleBar(t, ["a", "b", "r"], Float64Array.of(3, 0.5, 0), { label: "gains" });
 * console.assert(text.endsWith("\nDATA\na\t3\nb\t0.5\n"));
 * ```
 */
export function itolSimpleBar(
  tree: FlatTree,
  ids: readonly string[],
  values: Float64Array,
  options: ItolBarOptions,
): string {
  const names = itolNodeNames(tree, ids, options.naming ?? "ids");
  const end = (options.nodes ?? "branches") === "nodes" ? tree.nNodes : tree.nNodes - 1;
  if (!(values instanceof Float64Array) || values.length !== tree.nNodes) {
    throw new GenecontentError(
      `iTOL bars '${options.label}': ${values?.length ?? "no"} values for ${tree.nNodes} ` +
        "nodes; give one per node.",
    );
  }
  const color = options.color ?? "#2166ac";
  if (!/^#[0-9a-fA-F]{6}$/.test(color)) {
    throw new GenecontentError(`iTOL bars: colour '${color}' is not of the form #rrggbb.`);
  }
  const lines = header("DATASET_SIMPLEBAR", options.label, color, ["WIDTH\t300", "BAR_ZERO\t0"]);
  for (let v = 0; v < end; v++) {
    if (!Number.isFinite(values[v])) {
      throw new GenecontentError(
        `iTOL bars '${options.label}': the value at node '${ids[v]}' is ${values[v]}; values ` +
          "must be finite.",
      );
    }
    lines.push(`${names[v]}\t${values[v]}`);
  }
  return lines.join("\n") + "\n";
}
