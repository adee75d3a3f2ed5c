/**
 * Figures of the per-family screen: the QQ plot of its p-values against the uniform
 * distribution (on the -log10 scale, with the diagonal), and the volcano plot (effect against
 * -log10 p, families at or below the q-value cut-off highlighted).
 *
 * Points that would fall in the same 2 x 2 px cell are drawn once ({@linkcode thinToPixels}):
 * a screen of 25,000 families would otherwise write 25,000 symbols for what looks the same;
 * every highlighted family keeps its own point.
 *
 * @module
 */

import type { ReportScreen } from "../data.ts";
import { type VegaLiteSpec, vegaLiteToSvg } from "./vega.ts";

/** Plot width and height in px. */
const WIDTH = 380, HEIGHT = 300;
/**
 * Side of the thinning grid's cells in px: 2 px, under the points' radius (about 2.2 px), so a
 * point left out is covered by the one kept in its cell.
 */
const CELL = 2;

/** -log10 p, with p = 0 shown at the smallest positive double's value. */
export function minusLog10(p: number): number {
  return -Math.log10(Math.max(p, Number.MIN_VALUE));
}

/**
 * Keeps one point per pixel of a `width` x `height` plot over the points' ranges (the first
 * point of each pixel, in input order), and every point for which `keep` is true.
 *
 * @example
 * ```ts
 * import { thinToPixels } from "./screen.ts";
 * const pts = [{ x: 0, y: 0 }, { x: 0.0001, y: 0 }, { x: 1, y: 1 }];
 * console.assert(thinToPixels(pts, (p) => p.x, (p) => p.y, 100, 100).length === 2);
 * ```
 */
export function thinToPixels<T>(
  points: readonly T[],
  x: (p: T) => number,
  y: (p: T) => number,
  width: number,
  height: number,
  keep: (p: T) => boolean = () => false,
): T[] {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of points) {
    x0 = Math.min(x0, x(p));
    x1 = Math.max(x1, x(p));
    y0 = Math.min(y0, y(p));
    y1 = Math.max(y1, y(p));
  }
  const sx = x1 > x0 ? width / (x1 - x0) : 0, sy = y1 > y0 ? height / (y1 - y0) : 0;
  const seen = new Set<number>();
  const out: T[] = [];
  for (const p of points) {
    if (keep(p)) {
      out.push(p);
      continue;
    }
    const cell = Math.round((x(p) - x0) * sx) * (height + 2) + Math.round((y(p) - y0) * sy);
    if (seen.has(cell)) continue;
    seen.add(cell);
    out.push(p);
  }
  return out;
}

/**
 * The QQ plot's points: the i-th smallest of n p-values against its uniform expectation
 * (i - 0.5) / n, both as -log10, thinned to pixels.
 *
 * @example
 * ```ts
 * import { qqPoints } from "./screen.ts";
 * const pts = qqPoints([0.5, 0.01]);
 * console.assert(Math.abs(pts[0].expected - -Math.log10(0.25)) < 1e-12 && pts[0].observed === 2);
 * ```
 */
export function qqPoints(pValues: readonly number[]): { expected: number; observed: number }[] {
  const sorted = pValues.filter((p) => Number.isFinite(p)).sort((a, b) => a - b);
  const n = sorted.length;
  const pts = sorted.map((p, i) => ({
    expected: minusLog10((i + 0.5) / n),
    observed: minusLog10(p),
  }));
  return thinToPixels(pts, (p) => p.expected, (p) => p.observed, WIDTH / CELL, HEIGHT / CELL);
}

/**
 * The QQ plot's Vega-Lite specification (the points are the layer named `points`).
 *
 * @example
 * ```ts
 * import { qqSpec } from "./screen.ts";
 * const spec = qqSpec({ effect: "", effectShort: "", rows: [], qThreshold: 0.05, notes: [] });
 * console.assert(JSON.stringify(spec).includes("points"));
 * ```
 */
export function qqSpec(screen: ReportScreen): VegaLiteSpec {
  const points = qqPoints(screen.rows.map((r) => r.p));
  const top = Math.max(1, ...points.map((p) => Math.max(p.expected, p.observed)));
  return {
    title: `QQ plot of the screen's p-values (${
      screen.rows.length.toLocaleString("en-US")
    } families)`,
    width: WIDTH,
    height: HEIGHT,
    layer: [
      {
        data: { values: [{ a: 0, b: 0 }, { a: top, b: top }] },
        mark: { type: "line", color: "#999", strokeDash: [4, 3] },
        encoding: {
          x: { field: "a", type: "quantitative" },
          y: { field: "b", type: "quantitative" },
        },
      },
      {
        name: "points",
        data: { values: points },
        mark: { type: "point", filled: true, size: 14, color: "#2166ac", opacity: 0.8 },
        encoding: {
          x: { field: "expected", type: "quantitative", title: "expected −log10 p (uniform)" },
          y: { field: "observed", type: "quantitative", title: "observed −log10 p" },
        },
      },
    ],
  };
}

/**
 * The volcano plot's Vega-Lite specification (the points are the layer named `points`).
 *
 * @example
 * ```ts
 * import { volcanoSpec } from "./screen.ts";
 * const spec = volcanoSpec({
 *   effect: "log rate multiplier", effectShort: "theta", qThreshold: 0.05, notes: [],
 *   rows: [{ family: "a", theta: 1, thetaCI: null, lrt: 9, p: 0.003, q: 0.01 }],
 * });
 * console.assert(JSON.stringify(spec).includes("q ≤ 0.05"));
 * ```
 */
export function volcanoSpec(screen: ReportScreen): VegaLiteSpec {
  const cut = screen.qThreshold;
  const rows = screen.rows.filter((r) => Number.isFinite(r.theta) && Number.isFinite(r.p));
  const values = thinToPixels(
    rows.map((r) => ({
      family: r.family,
      theta: r.theta,
      mlp: minusLog10(r.p),
      q: r.q,
      hit: r.q <= cut ? `q ≤ ${cut}` : `q > ${cut}`,
    })),
    (p) => p.theta,
    (p) => p.mlp,
    WIDTH / CELL,
    HEIGHT / CELL,
    (p) => p.q <= cut,
  );
  return {
    title: "Volcano plot of the per-family screen",
    width: WIDTH,
    height: HEIGHT,
    layer: [{
      name: "points",
      data: { values },
      mark: { type: "point", filled: true, size: 16, opacity: 0.8 },
      encoding: {
        x: { field: "theta", type: "quantitative", title: screen.effectShort || "effect" },
        y: { field: "mlp", type: "quantitative", title: "−log10 p" },
        color: {
          field: "hit",
          type: "nominal",
          title: null,
          scale: { domain: [`q ≤ ${cut}`, `q > ${cut}`], range: ["#b2182b", "#9a9a9a"] },
        },
        tooltip: [
          { field: "family" },
          { field: "theta", format: ".3g" },
          { field: "q", format: ".3g" },
        ],
      },
    }],
  };
}

/**
 * The QQ plot as SVG.
 *
 * @example
 * ```ts
 * import { qqSvg } from "./screen.ts";
 * const svg = await qqSvg({
 *   effect: "", effectShort: "", qThreshold: 0.05, notes: [],
 *   rows: [{ family: "a", theta: 1, thetaCI: null, lrt: 9, p: 0.003, q: 0.01 }],
 * });
 * console.assert(svg.startsWith("<svg"));
 * ```
 */
export function qqSvg(screen: ReportScreen): Promise<string> {
  return vegaLiteToSvg(qqSpec(screen));
}

/**
 * The volcano plot as SVG.
 *
 * @example
 * ```ts
 * import { volcanoSvg } from "./screen.ts";
 * const svg = await volcanoSvg({
 *   effect: "", effectShort: "", qThreshold: 0.05, notes: [],
 *   rows: [{ family: "a", theta: 1, thetaCI: null, lrt: 9, p: 0.003, q: 0.01 }],
 * });
 * console.assert(svg.startsWith("<svg"));
 * ```
 */
export function volcanoSvg(screen: ReportScreen): Promise<string> {
  return vegaLiteToSvg(volcanoSpec(screen));
}
