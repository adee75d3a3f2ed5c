/**
 * The gene-frequency spectrum figure: one bar per class for the observed number of families,
 * and the fitted model's expectation as points joined by a line.
 *
 * @module
 */

import type { ReportSpectrum } from "../data.ts";
import { type VegaLiteSpec, vegaLiteToSvg } from "./vega.ts";

/**
 * The Vega-Lite specification of the spectrum figure (bars are the layer named `observed`).
 *
 * @example
 * ```ts
 * import { spectrumSpec } from "./spectrum.ts";
 * const spec = spectrumSpec({
 *   model: "null", statistics: [], notes: [],
 *   classes: [{ label: "1", observed: 5, expected: 4.5 }, { label: "2", observed: 2, expected: null }],
 * });
 * console.assert(JSON.stringify(spec).includes('"observed"'));
 * ```
 */
export function spectrumSpec(spectrum: ReportSpectrum): VegaLiteSpec {
  const values = spectrum.classes.map((c, i) => ({
    order: i,
    label: c.label,
    observed: c.observed,
    expected: c.expected,
  }));
  const n = values.length;
  const x = {
    field: "label",
    type: "ordinal",
    sort: values.map((v) => v.label),
    title: "genomes with the family present",
    axis: {
      labelAngle: n > 20 ? -90 : 0,
      // At most about 40 labels: every k-th class is labelled.
      values: n > 40
        ? values.filter((_, i) => i % Math.ceil(n / 40) === 0).map((v) => v.label)
        : undefined,
    },
  };
  const hasExpected = values.some((v) => v.expected !== null);
  return {
    title: `Gene-frequency spectrum: observed (bars)${
      hasExpected ? ` and expected under ${spectrum.model} (line)` : ""
    }`,
    width: Math.max(360, Math.min(900, n * 14)),
    height: 260,
    data: { values },
    layer: [
      {
        name: "observed",
        mark: { type: "bar", color: "#8fa8c8" },
        encoding: {
          x,
          // A symmetric log scale: the U-shape's rare and common ends and the sparse middle
          // are all visible, and empty classes (0) stay on the axis.
          y: {
            field: "observed",
            type: "quantitative",
            title: "families (symmetric log scale)",
            scale: { type: "symlog" },
          },
          tooltip: [
            { field: "label", title: "genomes" },
            { field: "observed", title: "observed" },
            { field: "expected", title: "expected", format: ".1f" },
          ],
        },
      },
      ...(hasExpected
        ? [{
          name: "expected",
          transform: [{ filter: "datum.expected != null" }],
          mark: { type: "line", color: "#b2182b", point: { color: "#b2182b", size: 18 } },
          encoding: {
            x,
            y: { field: "expected", type: "quantitative", scale: { type: "symlog" } },
          },
        }]
        : []),
    ],
  };
}

/**
 * The spectrum figure as SVG.
 *
 * @example
 * ```ts
 * import { spectrumSvg } from "./spectrum.ts";
 * const svg = await spectrumSvg({
 *   model: "null", statistics: [], notes: [],
 *   classes: [{ label: "1", observed: 5, expected: 4.5 }, { label: "2", observed: 2, expected: 2.5 }],
 * });
 * console.assert(svg.startsWith("<svg"));
 * ```
 */
export function spectrumSvg(spectrum: ReportSpectrum): Promise<string> {
  return vegaLiteToSvg(spectrumSpec(spectrum));
}
