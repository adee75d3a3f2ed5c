/**
 * The report as one self-contained HTML file: inline styles, inline SVG figures, no script, no
 * external resource of any kind (a Content-Security-Policy of `default-src 'none'` makes a
 * browser refuse any that slipped in), so the file opens offline and can be mailed or
 * published as it is.
 *
 * Every number shown comes from {@linkcode ReportData}; table cells carry the full-precision
 * value in a `data-value` attribute beside the rounded text.
 *
 * @module
 */

import type {
  ReportData,
  ReportFit,
  ReportGenomes,
  ReportScreen,
  ReportSpectrum,
  TopFamilyRow,
} from "./data.ts";
import { qqSvg, volcanoSvg } from "./figures/screen.ts";
import { spectrumSvg } from "./figures/spectrum.ts";
import { escapeXml, treeSvg } from "./figures/tree.ts";
import { flatTreeFromParents } from "../tree/flat_tree.ts";

/** The figures of a report, by name, as standalone SVG documents. */
export interface ReportFigures {
  /** The tree with expected gains and losses per branch. */
  readonly tree: string;
  /** The gene-frequency spectrum, or absent. */
  readonly spectrum?: string;
  /** The QQ plot of the screen, or absent. */
  readonly qq?: string;
  /** The volcano plot of the screen, or absent. */
  readonly volcano?: string;
}

/** File names of the figures written by `--figures DIR`. */
export const FIGURE_FILES: Readonly<Record<keyof ReportFigures, string>> = {
  tree: "tree.svg",
  spectrum: "spectrum.svg",
  qq: "qq.svg",
  volcano: "volcano.svg",
};

/**
 * Renders every figure the data has (the tree always; spectrum, QQ and volcano when their
 * sections are present).
 *
 * @example
 * ```ts ignore
 * import { renderFigures } from "./render_html.ts";
 * const figures = await renderFigures(data);
 * await Deno.writeTextFile("tree.svg", figures.tree);
 * ```
 */
export async function renderFigures(
  data: ReportData,
  onFigure: (name: string) => void = () => {},
): Promise<ReportFigures> {
  const t = data.tree;
  onFigure("tree");
  const tree = treeSvg(
    flatTreeFromParents(t.tipNames, t.parent, t.branchLength),
    { ids: t.ids, gains: t.gains, losses: t.losses, label: t.label },
  );
  const out: { -readonly [K in keyof ReportFigures]: ReportFigures[K] } = { tree };
  if (data.spectrum) {
    onFigure("spectrum");
    out.spectrum = await spectrumSvg(data.spectrum);
  }
  if (data.screen && data.screen.rows.length > 0) {
    onFigure("QQ plot");
    out.qq = await qqSvg(data.screen);
    onFigure("volcano plot");
    out.volcano = await volcanoSvg(data.screen);
  }
  return out;
}

/** A number as the tables show it: 6 significant digits, integers as they are. */
export function formatNumber(v: number | null | undefined, digits = 6): string {
  if (v === null || v === undefined) return "–";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e7)) return v.toExponential(digits - 1);
  return Number(v.toPrecision(digits)).toString();
}

const esc = escapeXml;

/** A numeric table cell with the full value in `data-value`. */
function num(v: number | null | undefined, digits = 6): string {
  const full = v === null || v === undefined ? "" : ` data-value="${String(v)}"`;
  return `<td class="num"${full}>${formatNumber(v, digits)}</td>`;
}

function table(head: readonly string[], rows: readonly string[], cls = ""): string {
  return `<table${cls ? ` class="${cls}"` : ""}><thead><tr>${
    head.map((h) => `<th>${h}</th>`).join("")
  }</tr></thead><tbody>\n${rows.join("\n")}\n</tbody></table>`;
}

function percent(level: number): string {
  return `${Number((level * 100).toPrecision(6))}%`;
}

function parameterTable(fit: ReportFit): string {
  const lv = fit.level === null ? null : percent(fit.level);
  const rows = fit.parameters.map((p) => {
    const flags = [
      p.boundary ? `on its ${p.boundary} bound` : "",
      p.open[0] ? "lower end open" : "",
      p.open[1] ? "upper end open" : "",
      p.identified ? "" : "not identified",
    ].filter((f) => f !== "").join("; ");
    return `<tr data-parameter="${esc(p.name)}"><td>${esc(p.name)}</td>${num(p.estimate)}${
      num(p.lower)
    }${num(p.upper)}<td>${esc(p.unit)}</td><td>${esc(flags)}</td></tr>`;
  });
  rows.push(
    `<tr data-parameter="logLik"><td>logLik</td>${num(fit.logLik, 10)}<td></td><td></td>` +
      `<td>natural log</td><td></td></tr>`,
  );
  return table(
    [
      "parameter",
      "estimate",
      lv ? `${lv} lower` : "lower",
      lv ? `${lv} upper` : "upper",
      "unit",
      "note",
    ],
    rows,
    `parameters" data-model="${esc(fit.model)}`,
  );
}

function fitBlock(fit: ReportFit, main: boolean): string {
  const status = `${fit.converged ? "converged" : "<strong>NOT converged</strong>"}; ` +
    `${fit.nParams} free parameters; expected gains plus losses per family over the tree ` +
    `${formatNumber(fit.expectedEventsPerFamily, 4)}; fitted in ${fit.seconds.toFixed(2)} s` +
    (fit.level === null
      ? "; no intervals"
      : `; ${percent(fit.level)} profile-likelihood intervals`);
  const warnings = fit.warnings.length > 0
    ? `<ul class="warnings">${fit.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>`
    : "";
  const body = `${parameterTable(fit)}<p class="small">${status}</p>${warnings}`;
  return main
    ? `<h3>Model ${esc(fit.model)}</h3>${body}`
    : `<details><summary>Model ${esc(fit.model)} (logLik ${
      formatNumber(fit.logLik, 10)
    })</summary>${body}</details>`;
}

function comparisonBlock(data: ReportData): string {
  const c = data.comparison;
  const rows = c.rows.map((r) =>
    `<tr data-model="${esc(r.model)}"${r.model === data.model ? ' class="chosen"' : ""}><td>${
      esc(r.model)
    }</td>${num(r.logLik, 10)}${num(r.nParams)}${num(r.aic, 8)}${num(r.dAic, 4)}${num(r.bic, 8)}${
      num(r.dBic, 4)
    }</tr>`
  );
  const tests = c.tests.map((t) =>
    `<tr><td>${esc(t.nullModel)}</td><td>${esc(t.alternative)}</td>${num(t.statistic, 6)}${
      num(t.df)
    }<td>${esc(t.reference)}</td>${num(t.pValue, 4)}<td>${
      esc([t.approximate ? "approximate" : "", ...t.notes].filter((x) => x).join("; "))
    }</td></tr>`
  );
  const refused = data.refused.map((r) => `<li>${esc(r.model)}: not fitted: ${esc(r.reason)}</li>`);
  return `<h3>Model comparison (same data)</h3>${
    table(["model", "logLik", "nParams", "AIC", "ΔAIC", "BIC", "ΔBIC"], rows, "comparison")
  }${
    tests.length > 0
      ? `<h4>Likelihood-ratio tests of nested models</h4>${
        table(
          ["null model", "alternative", "statistic", "df", "reference", "p", "note"],
          tests,
          "tests",
        )
      }`
      : ""
  }${refused.length > 0 ? `<ul>${refused.join("")}</ul>` : ""}`;
}

function figure(svg: string | undefined, name: string, caption: string, scroll = false): string {
  if (!svg) return "";
  const inline = svg.replace(/^<\?xml[^>]*>\s*/, "");
  return `<figure class="figure${
    scroll ? " scroll" : ""
  }" data-figure="${name}"><div class="svg">${inline}</div><figcaption>${caption}</figcaption></figure>`;
}

function spectrumBlock(s: ReportSpectrum | null, svg: string | undefined): string {
  if (!s) return "";
  const stats = s.statistics.map((x) =>
    `<tr><td>${esc(x.name)}</td>${
      typeof x.value === "number" ? num(x.value) : `<td>${esc(x.value)}</td>`
    }</tr>`
  );
  const rows = s.classes.map((c) =>
    `<tr><td>${esc(c.label)}</td>${num(c.observed)}${num(c.expected)}</tr>`
  );
  return `${
    figure(
      svg,
      "spectrum",
      `Families by the number of genomes they are present in: observed (bars) and expected ` +
        `under ${esc(s.model)}.`,
    )
  }${stats.length > 0 ? table(["statistic", "value"], stats, "gof") : ""}${
    s.notes.map((n) => `<p class="small">${esc(n)}</p>`).join("")
  }<details><summary>Spectrum table (${s.classes.length} classes)</summary>${
    table(["genomes present", "observed", "expected"], rows, "spectrum")
  }</details>`;
}

function topFamiliesTable(rows: readonly TopFamilyRow[], screen: ReportScreen): string {
  const body = rows.map((r) =>
    `<tr data-family="${esc(r.family)}"><td>${esc(r.family)}</td>${num(r.present)}${
      num(r.theta, 4)
    }${num(r.thetaCI?.[0] ?? null, 4)}${num(r.thetaCI?.[1] ?? null, 4)}${num(r.lrt, 4)}${
      num(r.p, 3)
    }${num(r.q, 3)}${num(r.gains, 3)}${num(r.losses, 3)}</tr>`
  );
  return table(
    [
      "family",
      "present",
      esc(screen.effectShort),
      "lower",
      "upper",
      "LRT",
      "p",
      "q",
      "expected gains",
      "expected losses",
    ],
    body,
    "top-families",
  );
}

function screenBlock(data: ReportData, figures: ReportFigures): string {
  const s = data.screen;
  if (!s) return "";
  const hits = s.rows.filter((r) => r.q <= s.qThreshold).length;
  return `<p>${s.rows.length.toLocaleString("en-US")} families screened; ${
    hits.toLocaleString("en-US")
  } at q ≤ ${s.qThreshold}. Effect: ${esc(s.effect)}.</p>${
    s.notes.map((n) => `<p class="small">${esc(n)}</p>`).join("")
  }<div class="pair">${
    figure(figures.qq, "qq", "QQ plot: observed against uniform −log10 p-values.")
  }${
    figure(
      figures.volcano,
      "volcano",
      `Volcano plot: effect against −log10 p; red: q ≤ ${s.qThreshold}.`,
    )
  }</div><h3>Top families</h3>${topFamiliesTable(data.topFamilies, s)}`;
}

function genomesBlock(g: ReportGenomes | null): string {
  if (!g) return "";
  const rows = g.rows.map((r) =>
    `<tr data-genome="${esc(r.genome)}"${r.flagged ? ' class="flagged"' : ""}><td>${
      esc(r.genome)
    }</td>${
      g.columns.map((c) => {
        const v = r.values[c.key];
        return typeof v === "number" || v === null || v === undefined
          ? num(v as number | null)
          : `<td>${esc(v)}</td>`;
      }).join("")
    }</tr>`
  );
  const flagged = g.rows.filter((r) => r.flagged).length;
  return `<p>${flagged} of ${g.rows.length} genomes flagged (shaded, listed first).</p>${
    g.notes.map((n) => `<p class="small">${esc(n)}</p>`).join("")
  }<ul class="small">${
    g.columns.map((c) => `<li><b>${esc(c.label)}</b>: ${esc(c.description)}</li>`).join("")
  }</ul><div class="scroll-table">${
    table(["genome", ...g.columns.map((c) => esc(c.label))], rows, "genomes")
  }</div>${refitBlock(g)}`;
}

function refitBlock(g: ReportGenomes): string {
  const r = g.refit;
  if (!r) return "";
  const rows = r.parameters.map((p) =>
    `<tr data-parameter="${esc(p.name)}"><td>${esc(p.name)}</td>${num(p.before)}${num(p.after)}${
      num(p.relativeChange, 3)
    }</tr>`
  );
  return `<h3>Refit without the flagged genomes</h3><p>Leaving out ${
    esc(r.dropped.join(", "))
  } (${r.nGenomes} genomes kept; ${r.nFamiliesAfter.toLocaleString("en-US")} of ${
    r.nFamiliesBefore.toLocaleString("en-US")
  } families still inside the window):</p>${
    table(["parameter", "all genomes", "without flagged", "relative change"], rows, "refit")
  }`;
}

function provenanceBlock(data: ReportData): string {
  const p = data.provenance;
  const inputs = p.inputs.map((i) =>
    `<tr><td>${esc(i.role)}</td><td class="path">${esc(i.path)}</td>${
      num(i.bytes)
    }<td class="hash">${esc(i.sha256)}</td></tr>`
  );
  const facts: [string, string][] = [
    ["tool", `${p.tool} ${p.version}`],
    ["command", p.command],
    ["backend", `${p.backend}${p.nativeLibrary ? ` (${p.nativeLibrary})` : ""}`],
    ["threads", String(p.threads)],
    ["run time", `${p.seconds.toFixed(2)} s`],
    [
      "steps",
      Object.entries(p.steps).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(", "),
    ],
    ["created", p.created],
    ["runtime", `Deno ${p.runtime.deno}, ${p.runtime.platform}`],
    ["figures", Object.entries(p.plotting).map(([k, v]) => `${k} ${v}`).join(", ")],
  ];
  return `${
    table(
      ["", ""],
      facts.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`),
      "facts",
    )
  }<h4>Inputs</h4>${
    table(["role", "path", "bytes", "SHA-256"], inputs, "inputs")
  }<h4>Options</h4><pre class="options">${esc(JSON.stringify(p.options, null, 2))}</pre>`;
}

/** The report's main findings in a few lines, each a number from the data. */
function glance(data: ReportData): string {
  const items: string[] = [];
  const rows = data.comparison.rows;
  if (rows.length > 0) {
    const byAic = rows.find((r) => r.dAic === 0)!, byBic = rows.find((r) => r.dBic === 0)!;
    items.push(
      `Best model by AIC: <b>${esc(byAic.model)}</b>; by BIC: <b>${esc(byBic.model)}</b> ` +
        `(of ${rows.map((r) => esc(r.model)).join(", ")}).`,
    );
  }
  const t = data.tree;
  let gains = 0, losses = 0;
  for (let v = 0; v < t.gains.length; v++) {
    gains += t.gains[v];
    losses += t.losses[v];
  }
  items.push(
    `Expected events on the tree under ${esc(t.model)} (${esc(t.label)}): ` +
      `${formatNumber(gains, 4)} gains and ${formatNumber(losses, 4)} losses.`,
  );
  const s = data.spectrum;
  const p = s?.statistics.find((x) => x.name.startsWith("p "))?.value;
  if (s && p !== undefined) {
    items.push(
      `Spectrum goodness of fit under ${esc(s.model)}: p = ${
        typeof p === "number" ? formatNumber(p, 3) : esc(p)
      } (approximate).`,
    );
  }
  if (data.screen) {
    const hits = data.screen.rows.filter((r) => r.q <= data.screen!.qThreshold).length;
    items.push(
      `Per-family screen: ${hits.toLocaleString("en-US")} of ${
        data.screen.rows.length.toLocaleString("en-US")
      } families at q ≤ ${data.screen.qThreshold}.`,
    );
  }
  if (data.genomes) {
    const flagged = data.genomes.rows.filter((r) => r.flagged).map((r) => r.genome);
    items.push(
      `Genomes flagged: ${flagged.length}${
        flagged.length > 0
          ? ` (${esc(flagged.slice(0, 8).join(", "))}${flagged.length > 8 ? ", ..." : ""})`
          : ""
      }.`,
    );
  }
  return `<ul class="glance">${items.map((i) => `<li>${i}</li>`).join("")}</ul>`;
}

const STYLE = `
body { font-family: Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1200px;
  padding: 0 24px 48px; color: #222; line-height: 1.4; }
h1 { font-size: 22px; margin: 24px 0 4px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc;
  padding-bottom: 3px; margin-top: 32px; } h3 { font-size: 15px; } h4 { font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { font-weight: bold; } tr.flagged td { background: #fdf0e6; }
td.hash, td.path { font-family: monospace; font-size: 11px; word-break: break-all; }
.small { font-size: 12px; color: #555; } .warnings { color: #8a4b00; font-size: 12px; }
.callout { border-left: 4px solid #b2182b; background: #fbeeee; padding: 8px 12px; }
.missing { border-left: 4px solid #999; background: #f4f4f4; padding: 8px 12px; }
figure { margin: 12px 0; } figcaption { font-size: 12px; color: #555; }
figure.scroll .svg { max-height: min(80vh, 900px); overflow: auto; border: 1px solid #ddd; }
.svg svg { max-width: none; display: block; }
.pair { display: flex; flex-wrap: wrap; gap: 16px; }
.scroll-table { max-height: 480px; overflow: auto; }
pre.options { font-size: 11px; background: #f7f7f7; padding: 8px; overflow: auto; }
nav a { margin-right: 12px; font-size: 13px; }
ul.glance { background: #f5f8fb; border: 1px solid #dde6ef; padding: 8px 8px 8px 28px; }
@media print { figure.scroll .svg { max-height: none; overflow: visible; } }
`;

/**
 * The report as one HTML document.
 *
 * @example
 * ```ts ignore
 * import { renderFigures, renderReportHtml } from "./render_html.ts";
 * const html = renderReportHtml(data, await renderFigures(data));
 * await Deno.writeTextFile("report.html", html);
 * ```
 */
export function renderReportHtml(data: ReportData, figures: ReportFigures): string {
  const d = data.dataset;
  const main = data.fits.find((f) => f.model === data.model) ?? data.fits[0];
  const others = data.fits.filter((f) => f !== main);
  const sections: string[] = [];
  const treeStatement = data.treeSource.inferredFromPam
    ? `<p class="callout" id="tree-from-pam"><b>The tree was inferred from this same PAM</b>${
      data.treeSource.evidence ? ` (${esc(data.treeSource.evidence)})` : ""
    }. The data are used twice: they shaped the topology (and the branch lengths), and the ` +
      "rates, intervals, tests and the gains and losses on the branches are computed on that " +
      "tree as if it were known, so they are conditional on it and do not carry its " +
      "uncertainty; expect fewer events and a closer fit than on a tree from independent data " +
      "(e.g. a core-genome alignment).</p>"
    : "";
  sections.push(
    `<h1>${esc(data.title)}</h1>` +
      `<p>${d.nFamilies.toLocaleString("en-US")} gene families × ${
        d.nGenomes.toLocaleString("en-US")
      } genomes (${d.nPatterns.toLocaleString("en-US")} distinct patterns); tree length ${
        formatNumber(d.treeLength, 5)
      }; ascertainment: ${esc(d.ascertainment)}. Rates are per unit branch length of the ` +
      `tree; log-likelihoods are natural logarithms. Model reported: <b>${
        esc(data.model)
      }</b>.</p>${treeStatement}` +
      (d.droppedTips.length + d.droppedTaxa.length > 0
        ? `<p class="small">Pruned to the shared taxa: ${d.droppedTips.length} tree tip(s) and ${d.droppedTaxa.length} PAM taxon/taxa dropped (${
          esc([...d.droppedTips, ...d.droppedTaxa].slice(0, 20).join(", "))
        }${d.droppedTips.length + d.droppedTaxa.length > 20 ? ", ..." : ""}).</p>`
        : "") +
      glance(data) +
      `<nav><a href="#fit">Fit</a><a href="#tree">Tree</a><a href="#spectrum">Spectrum</a>` +
      `<a href="#screen">Screen</a><a href="#genomes">Genomes</a>` +
      `<a href="#provenance">Provenance</a></nav>`,
  );
  sections.push(
    `<h2 id="fit">Parameters and model comparison</h2>${main ? fitBlock(main, true) : ""}${
      others.map((f) => fitBlock(f, false)).join("")
    }${comparisonBlock(data)}`,
  );
  sections.push(
    `<h2 id="tree">Gains and losses on the tree</h2>${
      figure(
        figures.tree,
        "tree",
        `Expected gains and losses per branch under ${esc(data.tree.model)} at the estimates ` +
          `(${esc(data.tree.label)}): colour is the net change (red: more gains, blue: more ` +
          "losses), width grows with gains plus losses; hover a branch for its numbers.",
        true,
      )
    }`,
  );
  const missing = (section: string) =>
    data.missing.filter((m) => m.section === section).map((m) =>
      `<p class="missing" data-missing="${esc(section)}">${esc(m.reason)}</p>`
    ).join("");
  sections.push(
    `<h2 id="spectrum">Gene-frequency spectrum and goodness of fit</h2>${missing("spectrum")}${
      spectrumBlock(data.spectrum, figures.spectrum)
    }`,
  );
  sections.push(
    `<h2 id="screen">Per-family screen</h2>${missing("screen")}${screenBlock(data, figures)}`,
  );
  sections.push(
    `<h2 id="genomes">Genome diagnostics</h2>${missing("genomes")}${genomesBlock(data.genomes)}`,
  );
  sections.push(`<h2 id="provenance">Provenance</h2>${provenanceBlock(data)}`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="genecontent ${esc(data.provenance.version)}">
<title>${esc(data.title)}</title>
<style>${STYLE}</style>
</head>
<body>
${sections.join("\n")}
</body>
</html>
`;
}
