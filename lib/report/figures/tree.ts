/**
 * The tree figure: a rectangular tree ({@linkcode layoutTree}) whose branches show the expected
 * gains and losses on them. Each branch is one SVG path (the vertical connector from its parent's
 * row to its own row, then the horizontal branch) with class `branch`; its colour is the net
 * change in expected families (gains minus losses: red for a net gain, blue for a net loss, on
 * a scale symmetric about 0), its width grows with the square root of the expected events
 * (gains plus losses), and its tooltip (`<title>`) gives the node id, length, gains and losses.
 * Every tip is labelled (class `tip`). The height grows with the number of tips (rows of 14 px
 * down to 8 px from 60 tips to 400 and more, with the font scaled to the row), so a tree of
 * 1,000+ tips stays readable by scrolling.
 *
 * @module
 */

import { GenecontentError } from "../../errors.ts";
import type { FlatTree } from "../../tree/flat_tree.ts";
import { layoutTree } from "../tree_layout.ts";
import { FIGURE_FONT } from "./vega.ts";

/** What the tree figure draws on each branch, indexed by node (the root's entries unused). */
export interface TreeFigureEvents {
  /** Stable node ids, one per node. */
  readonly ids: readonly string[];
  /** Expected gains on the branch above each node. */
  readonly gains: ArrayLike<number>;
  /** Expected losses on the branch above each node. */
  readonly losses: ArrayLike<number>;
  /** What the events count, for the legend (e.g. "all 5,000 families"). */
  readonly label: string;
}

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`,
  );
}

/** Rounds a coordinate to 0.01 px (keeps large trees' files small). */
const r2 = (v: number) => Math.round(v * 100) / 100;

/** Row height in px for `nTips` tips: 14 px up to 60 tips, 8 px from 400, linear between. */
export function rowHeight(nTips: number): number {
  if (nTips <= 60) return 14;
  if (nTips >= 400) return 8;
  return 14 - (6 * (nTips - 60)) / 340;
}

const RED = [178, 24, 43];
const BLUE = [33, 102, 172];
const GREY = [190, 190, 190];

/** The colour of net change `t` in [-1, 1]: blue (-1) through grey (0) to red (1). */
export function divergingColour(t: number): string {
  const s = Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0));
  const end = s >= 0 ? RED : BLUE;
  const a = Math.abs(s);
  const c = GREY.map((g, i) => Math.round(g + (end[i] - g) * a));
  return `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** A number for labels: 3 significant digits, thousands grouped. */
function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  return Number(v.toPrecision(3)).toString();
}

/** A "nice" scale-bar length, about a fifth of `width`. */
function niceLength(width: number): number {
  const target = width / 5;
  const p = 10 ** Math.floor(Math.log10(target));
  for (const m of [5, 2, 1]) if (m * p <= target) return m * p;
  return p;
}

/**
 * Draws `tree` with `events` on its branches as a standalone SVG document.
 *
 * @example
 * ```ts
 * import { treeSvg } from "./tree.ts";
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * const t = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [1, 2, 3, 0.5, 0]);
 * const svg = treeSvg(t, {
 *   ids: ["a", "b", "c", "node3", "node4"],
 *   gains: [1, 0, 2, 0.5, 0],
 *   losses: [0, 3, 1, 0, 0],
 *   label: "all 10 families",
 * });
 * console.assert((svg.match(/class="branch"/g) ?? []).length === 4);
 * console.assert((svg.match(/class="tip"/g) ?? []).length === 3);
 * ```
 */
export function treeSvg(tree: FlatTree, events: TreeFigureEvents): string {
  const { nTips, nNodes, parent, branchLength } = tree;
  if (
    events.ids.length !== nNodes || events.gains.length !== nNodes ||
    events.losses.length !== nNodes
  ) {
    throw new GenecontentError(
      `The tree figure needs one id, gain and loss per node (${nNodes} nodes); got ` +
        `${events.ids.length}, ${events.gains.length} and ${events.losses.length}.`,
    );
  }
  const layout = layoutTree(tree);
  const root = nNodes - 1;
  const row = rowHeight(nTips);
  const font = Math.max(6.5, Math.min(12, row * 0.82));
  const longest = Math.max(...tree.tipNames.map((n) => n.length));
  const labelWidth = Math.min(400, longest * font * 0.6 + 8);
  const treeWidth = 760;
  const marginTop = 64, marginLeft = 12, marginBottom = 44;
  const width = Math.ceil(marginLeft + treeWidth + labelWidth + 12);
  const height = Math.ceil(marginTop + nTips * row + marginBottom);
  const X = (v: number) => marginLeft + (layout.x[v] / layout.width) * treeWidth;
  const Y = (v: number) => marginTop + (layout.y[v] + 0.5) * row;
  let maxNet = 0, maxEvents = 0;
  for (let v = 0; v < root; v++) {
    maxNet = Math.max(maxNet, Math.abs(events.gains[v] - events.losses[v]));
    maxEvents = Math.max(maxEvents, events.gains[v] + events.losses[v]);
  }
  const maxStroke = Math.max(2, Math.min(7, row * 0.55));
  const stroke = (e: number) =>
    maxEvents > 0 ? 0.8 + (maxStroke - 0.8) * Math.sqrt(Math.max(0, e) / maxEvents) : 1;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" class="tree-figure" width="${width}" ` +
      `height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FIGURE_FONT}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${marginLeft}" y="18" font-size="13" font-weight="bold">Expected gains and ` +
      `losses per branch (${escapeXml(events.label)})</text>`,
  );
  // Legend: colour ramp for the net change and three widths for the events.
  const lx = marginLeft, ly = 30;
  parts.push(`<g class="legend" font-size="10">`);
  parts.push(`<text x="${lx}" y="${ly + 8}">net (gains − losses):</text>`);
  const rampX = lx + 112;
  for (let i = 0; i < 21; i++) {
    const t = -1 + i / 10;
    parts.push(
      `<rect x="${rampX + i * 6}" y="${ly}" width="6" height="10" fill="${divergingColour(t)}"/>`,
    );
  }
  parts.push(
    `<text x="${rampX}" y="${ly + 22}">−${fmt(maxNet)}</text>`,
    `<text x="${rampX + 63}" y="${ly + 22}" text-anchor="middle">0</text>`,
    `<text x="${rampX + 126}" y="${ly + 22}" text-anchor="end">+${fmt(maxNet)}</text>`,
  );
  const wx = rampX + 170;
  parts.push(`<text x="${wx}" y="${ly + 8}">events (gains + losses):</text>`);
  [0.1, 0.5, 1].forEach((f, i) => {
    const x0 = wx + 130 + i * 70;
    parts.push(
      `<line x1="${x0}" y1="${ly + 5}" x2="${x0 + 24}" y2="${ly + 5}" stroke="#555" ` +
        `stroke-width="${r2(stroke(f * maxEvents))}"/>`,
      `<text x="${x0 + 28}" y="${ly + 8}">${fmt(f * maxEvents)}</text>`,
    );
  });
  parts.push(`</g>`);
  // Branches: one path each, drawn from the parent's row down (or up) to the node's row.
  parts.push(`<g class="branches" fill="none" stroke-linecap="square">`);
  for (let v = 0; v < root; v++) {
    const p = parent[v];
    const g = events.gains[v], l = events.losses[v];
    const colour = divergingColour(maxNet > 0 ? (g - l) / maxNet : 0);
    const title = `${events.ids[v]}: length ${fmt(branchLength[v])}, gains ${fmt(g)}, ` +
      `losses ${fmt(l)}`;
    parts.push(
      `<path class="branch" d="M${r2(X(p))},${r2(Y(p))}V${r2(Y(v))}H${r2(X(v))}" ` +
        `stroke="${colour}" stroke-width="${r2(stroke(g + l))}"><title>${
          escapeXml(title)
        }</title></path>`,
    );
  }
  parts.push(`</g>`);
  parts.push(`<g class="tips" font-size="${r2(font)}" dominant-baseline="central">`);
  for (let i = 0; i < nTips; i++) {
    parts.push(
      `<text class="tip" x="${r2(X(i) + 4)}" y="${r2(Y(i))}">${escapeXml(tree.tipNames[i])}</text>`,
    );
  }
  parts.push(`</g>`);
  // Scale bar (branch length, or edges for a cladogram).
  const bar = layout.cladogram ? 1 : niceLength(layout.width);
  const barPx = (bar / layout.width) * treeWidth;
  const by = height - 22;
  parts.push(
    `<g class="scale" font-size="10"><line x1="${marginLeft}" y1="${by}" x2="${
      r2(marginLeft + barPx)
    }" y2="${by}" stroke="black"/><text x="${marginLeft}" y="${by + 14}">${
      layout.cladogram ? "1 edge (no branch lengths)" : `${fmt(bar)} (branch length)`
    }</text></g>`,
  );
  parts.push(`</svg>`);
  return parts.join("\n");
}
