/**
 * Vega-Lite specifications rendered to SVG without a browser: the specification is compiled by
 * `vega-lite` to a Vega specification and rendered by a headless Vega `View` (`renderer:
 * "none"`, `toSVG()`). Data are inline values only: the loader is never asked for a URL, so
 * a figure never depends on the network.
 *
 * The packages are imported by their full `npm:` specifiers with exact versions (also mapped in
 * `deno.json` and locked in `deno.lock`), so the installed command (which runs without the
 * configuration file) resolves the same versions.
 *
 * @module
 */

// The installed command runs with --no-config (lib/cli/install.ts), where bare specifiers from
// deno.json do not resolve: the full specifiers name the same pinned versions.
// deno-lint-ignore no-import-prefix
import * as vega from "npm:vega@6.4.0";
// deno-lint-ignore no-import-prefix
import * as vegaLite from "npm:vega-lite@6.5.0";
import { GenecontentError } from "../../errors.ts";

/** The versions of the plotting libraries, for the provenance. */
export const PLOTTING_LIBRARIES: Readonly<Record<string, string>> = {
  vega: vega.version,
  "vega-lite": vegaLite.version,
};

/** A Vega-Lite specification (a plain JSON object). */
export type VegaLiteSpec = Record<string, unknown>;

/** The font stack of every figure: generic families only, so no font is ever fetched. */
export const FIGURE_FONT = "Helvetica, Arial, sans-serif";

/** Shared configuration: no actions, fonts from the system, a white background. */
const CONFIG = {
  font: FIGURE_FONT,
  background: "white",
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 13 },
  view: { stroke: null },
};

/** A loader that refuses every request: figures carry their data inline. */
const OFFLINE_LOADER = {
  load(uri: string): Promise<string> {
    return Promise.reject(new Error(`figures load no data from outside ('${uri}')`));
  },
  sanitize(uri: string): Promise<{ href: string }> {
    return Promise.reject(new Error(`figures load no data from outside ('${uri}')`));
  },
  http(uri: string): Promise<string> {
    return Promise.reject(new Error(`figures load no data from outside ('${uri}')`));
  },
  file(uri: string): Promise<string> {
    return Promise.reject(new Error(`figures load no data from outside ('${uri}')`));
  },
};

/**
 * Renders a Vega-Lite specification to a standalone SVG document (a string starting with
 * `<svg`). The specification's `config` is merged over the shared one.
 *
 * @example
 * ```ts
 * import { vegaLiteToSvg } from "./vega.ts";
 * const svg = await vegaLiteToSvg({
 *   data: { values: [{ k: 1, n: 3 }, { k: 2, n: 5 }] },
 *   mark: "bar",
 *   encoding: { x: { field: "k", type: "ordinal" }, y: { field: "n", type: "quantitative" } },
 * });
 * console.assert(svg.startsWith("<svg") && (svg.match(/role-mark/g) ?? []).length >= 1);
 * ```
 */
export async function vegaLiteToSvg(spec: VegaLiteSpec): Promise<string> {
  const withConfig = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...spec,
    config: { ...CONFIG, ...(spec.config as Record<string, unknown> | undefined ?? {}) },
  };
  let compiled;
  try {
    // deno-lint-ignore no-explicit-any
    compiled = vegaLite.compile(withConfig as any).spec;
  } catch (e) {
    throw new GenecontentError(
      `The figure specification is not valid Vega-Lite: ${e instanceof Error ? e.message : e}`,
    );
  }
  const view = new vega.View(vega.parse(compiled), {
    renderer: "none",
    loader: OFFLINE_LOADER as unknown as vega.Loader,
  });
  try {
    const svg = await view.toSVG();
    return svg.replace(/^<svg /, '<svg role="img" ');
  } finally {
    view.finalize();
  }
}
