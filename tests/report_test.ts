// `genecontent report`: the tree layout against its definition on random trees, the tree figure's
// marks against the events drawn, and the report of the bundled example as a user gets it: one
// self-contained HTML file (no URL in any src or href, no script, every figure an inline SVG with
// marks), whose tables hold exactly the numbers `genecontent fit --compare` prints for the same
// data, with the figure files written and bad input refused with one message.
import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Hex } from "../lib/native/locate.ts";
import { Random } from "../lib/simulate/random.ts";
import { nodeDepths } from "../lib/tree/flat_tree.ts";
import { readTree } from "../lib/load_dataset.ts";
import { layoutTree } from "../lib/report/tree_layout.ts";
import { divergingColour, treeSvg } from "../lib/report/figures/tree.ts";
import { formatNumber, renderFigures, renderReportHtml } from "../lib/report/render_html.ts";
import type { ReportData } from "../lib/report/data.ts";
import { makeProvenance } from "../lib/provenance.ts";
import { randomTopology } from "./support/random_topology.ts";
import { caterpillar } from "./support/small_trees.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { parseModel } from "../lib/model/description.ts";
import { fitModel } from "../lib/fit/fit_model.ts";
import { modelObjective } from "../lib/fit/objective.ts";
import { spectrumFit } from "../lib/diagnostics/spectrum.ts";
import { genomeDiagnostics } from "../lib/diagnostics/genomes.ts";
import { screenFamilies } from "../lib/effects/screen.ts";
import { topScreenRows } from "../lib/report/data.ts";
import type { SitePatterns } from "../lib/pam/patterns.ts";

const mainPath = new URL("../lib/cli/main.ts", import.meta.url).pathname;
const example = (name: string) => new URL(`../examples/${name}`, import.meta.url).pathname;

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi", mainPath, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("tree layout: depths, one row per tip, parents between children, ladder order", () => {
  const rng = new Random(7);
  for (let trial = 0; trial < 30; trial++) {
    const tree = randomTopology(2 + Math.floor(rng.next() * 60), rng);
    const l = layoutTree(tree);
    const depth = nodeDepths(tree);
    const { nTips, nNodes, childStart, children } = tree;
    for (let v = 0; v < nNodes; v++) {
      // Depths are sums of the same doubles in the same order: equal exactly.
      assert.equal(l.x[v], depth[v], `depth of node ${v}`);
    }
    assert.deepEqual([...l.tipOrder].map((t) => l.y[t]), [...Array(nTips).keys()]);
    assert.deepEqual([...l.tipOrder].sort((a, b) => a - b), [...Array(nTips).keys()]);
    // Rows spanned by each clade, and its size.
    const lo = new Float64Array(nNodes).fill(Infinity), hi = new Float64Array(nNodes).fill(-1);
    const size = new Int32Array(nNodes);
    for (let t = 0; t < nTips; t++) {
      for (let v = t; v !== -1; v = tree.parent[v]) {
        lo[v] = Math.min(lo[v], l.y[t]);
        hi[v] = Math.max(hi[v], l.y[t]);
        size[v]++;
      }
    }
    for (let v = nTips; v < nNodes; v++) {
      const kids = Array.from(children.subarray(childStart[v], childStart[v + 1]));
      // A clade's tips occupy consecutive rows.
      assert.equal(hi[v] - lo[v] + 1, size[v], `clade of node ${v} is contiguous`);
      const byRow = [...kids].sort((a, b) => lo[a] - lo[b]);
      for (let i = 1; i < byRow.length; i++) {
        assert.ok(size[byRow[i - 1]] <= size[byRow[i]], `node ${v}: smaller clades first`);
      }
      const first = byRow[0], last = byRow[byRow.length - 1];
      assert.equal(l.y[v], (l.y[first] + l.y[last]) / 2, `node ${v} midway`);
    }
  }
  // A 3,000-tip caterpillar (depth 3,000) lays out without recursion.
  const cat = layoutTree(caterpillar(3000));
  assert.equal(cat.tipOrder.length, 3000);
});

Deno.test("tree figure: one path per branch carrying its events, one label per tip", () => {
  const tree = randomTopology(40, new Random(3));
  const rng = new Random(5);
  const n = tree.nNodes;
  const gains = Array.from({ length: n }, () => rng.next() * 10);
  const losses = Array.from({ length: n }, () => rng.next() * 10);
  const ids = Array.from({ length: n }, (_, v) => (v < tree.nTips ? tree.tipNames[v] : `node${v}`));
  const svg = treeSvg(tree, { ids, gains, losses, label: "test" });
  const paths = [...svg.matchAll(
    /<path class="branch" d="[^"]*" stroke="(#[0-9a-f]{6})" stroke-width="([\d.]+)"><title>([^<]*)<\/title>/g,
  )];
  assert.equal(paths.length, n - 1);
  assert.equal((svg.match(/<text class="tip"/g) ?? []).length, tree.nTips);
  let maxNet = 0, maxEvents = 0;
  for (let v = 0; v < n - 1; v++) {
    maxNet = Math.max(maxNet, Math.abs(gains[v] - losses[v]));
    maxEvents = Math.max(maxEvents, gains[v] + losses[v]);
  }
  const byId = new Map(paths.map((m) => [m[3].split(":")[0], m]));
  for (let v = 0; v < n - 1; v++) {
    const m = byId.get(ids[v].replaceAll("'", "&apos;"))!;
    assert.ok(m, `branch above ${ids[v]} drawn`);
    assert.match(m[3], new RegExp(`gains ${Number(gains[v].toPrecision(3))}, losses`));
    assert.equal(m[1], divergingColour((gains[v] - losses[v]) / maxNet));
  }
  // Width grows with gains + losses: order the branches by events, widths never decrease.
  const widths = Array.from({ length: n - 1 }, (_, v) => ({
    e: gains[v] + losses[v],
    w: Number(byId.get(ids[v].replaceAll("'", "&apos;"))![2]),
  })).sort((a, b) => a.e - b.e);
  for (let i = 1; i < widths.length; i++) {
    // Widths are rounded to 0.01 px in the file.
    assert.ok(widths[i].w >= widths[i - 1].w - 0.01);
  }
  // The net colour: red for a net gain, blue for a net loss, grey for none.
  assert.equal(divergingColour(1), "#b2182b");
  assert.equal(divergingColour(-1), "#2166ac");
  assert.equal(divergingColour(0), "#bebebe");
});

/** The full-precision values of the table rows with `data-<key>="name"` in a table. */
function tableValues(table: string, key: string): Map<string, (number | null)[]> {
  const out = new Map<string, (number | null)[]>();
  for (const row of table.matchAll(new RegExp(`<tr data-${key}="([^"]*)"[^>]*>(.*?)</tr>`, "g"))) {
    const cells = [...row[2].matchAll(/<td class="num"(?: data-value="([^"]*)")?>/g)].map((c) =>
      c[1] === undefined ? null : Number(c[1])
    );
    out.set(row[1], cells);
  }
  return out;
}

function tableOf(html: string, cls: string, extra = ""): string {
  const at = html.indexOf(`<table class="${cls}"${extra}`);
  assert.ok(at >= 0, `table ${cls}${extra}`);
  return html.slice(at, html.indexOf("</table>", at));
}

Deno.test("report of the example: self-contained, every figure inline, the fit's numbers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gc_report_" });
  try {
    const out = join(dir, "report.html");
    const figures = join(dir, "figs");
    // The example's tree and its first 1,500 families (a quick run).
    const pam = join(dir, "pam.tsv");
    const lines = (await Deno.readTextFile(example("pam.tsv"))).split("\n");
    await Deno.writeTextFile(pam, lines.slice(0, 1501).join("\n") + "\n");
    // One thread: the report's fits and the reference fits then run the same sums in the same
    // order, so their numbers agree exactly.
    const runs = Promise.all([
      run([
        "report",
        "--tree",
        example("tree.nwk"),
        "--pam",
        pam,
        "--model",
        "gamma4",
        "--threads",
        "1",
        "--out",
        out,
        "--figures",
        figures,
        "--json",
      ]),
      run([
        "fit",
        "--tree",
        example("tree.nwk"),
        "--pam",
        pam,
        "--compare",
        "null,gamma4",
        "--threads",
        "1",
        "--json",
      ]),
    ]);
    // The diagnostics as their own modules compute them at the same estimates (one thread, as
    // the runs above), while the command lines run.
    const dataset = await loadDataset(example("tree.nwk"), pam);
    const factory = await chooseBackend("auto", { threads: 1 });
    const model = parseModel("gamma4");
    using lik = new ModelLikelihood(dataset.tree, dataset.patterns, factory, model);
    const values = fitModel(modelObjective(lik), { level: null }).values;
    const spectrum = spectrumFit(lik, values);
    const genomes = genomeDiagnostics(lik, values);
    const screen = screenFamilies(lik, dataset.patterns, {
      tree: dataset.tree,
      model,
      values,
      window: lik.window,
      completeness: null,
      open: (p: SitePatterns) => new ModelLikelihood(dataset.tree, p, factory, model),
    }, { channel: "loss", level: 0.95, calibration: 0 });
    const [rep, fit] = await runs;
    assert.equal(rep.code, 0, rep.stderr);
    assert.equal(fit.code, 0, fit.stderr);
    const summary = JSON.parse(rep.stdout);
    const reference = JSON.parse(fit.stdout);
    const html = await Deno.readTextFile(out);
    assert.equal(summary.outputs.html, out);

    // Self-contained: nothing is fetched.
    assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    for (const m of html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/gi)) {
      assert.match(m[1], /^#[\w-]+$/, `only in-page links: ${m[1]}`);
    }
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);

    // Every figure: an inline SVG with marks.
    const figs = [...html.matchAll(/<figure class="[^"]*" data-figure="(\w+)">(.*?)<\/figure>/gs)];
    assert.ok(figs.length >= 1);
    const shown = new Map(figs.map((f) => [f[1], f[2]]));
    const tree = (await readTree(example("tree.nwk"))).tree;
    const treeFig = shown.get("tree")!;
    assert.ok(treeFig.includes("<svg"));
    assert.equal((treeFig.match(/<path class="branch"/g) ?? []).length, tree.nNodes - 1);
    assert.equal((treeFig.match(/<text class="tip"/g) ?? []).length, tree.nTips);
    for (const [name, body] of shown) {
      assert.match(body, /<svg[^>]*>/, name);
      assert.match(body, /<path|<rect|<text/, `${name} has marks`);
    }
    if (summary.sections.spectrum) {
      assert.match(shown.get("spectrum")!, /role-mark/);
    } else assert.match(html, /data-missing="spectrum"/);
    if (summary.sections.screen) {
      assert.ok(shown.has("qq") && shown.has("volcano"));
    } else assert.match(html, /data-missing="screen"/);
    if (!summary.sections.genomes) assert.match(html, /data-missing="genomes"/);

    // The figure files are the inline figures.
    assert.equal(summary.outputs.figures.length, shown.size);
    for (const path of summary.outputs.figures) {
      const svg = await Deno.readTextFile(path);
      const name = Object.entries({
        "tree.svg": "tree",
        "spectrum.svg": "spectrum",
        "qq.svg": "qq",
        "volcano.svg": "volcano",
      }).find(([f]) => path.endsWith(f))![1];
      assert.ok(svg.startsWith("<svg"), path);
      assert.ok(shown.get(name)!.includes(svg.replace(/^<\?xml[^>]*>\s*/, "")), path);
    }

    // The parameter tables hold the fit's numbers, to the last bit.
    for (const model of reference.models) {
      const rows = tableValues(
        tableOf(html, "parameters", ` data-model="${model.model}"`),
        "parameter",
      );
      for (
        const [name, p] of Object.entries(model.parameters) as [string, {
          estimate: number;
          lower: number | null;
          upper: number | null;
        }][]
      ) {
        assert.deepEqual(rows.get(name), [p.estimate, p.lower, p.upper], `${model.model} ${name}`);
      }
      assert.deepEqual(rows.get("logLik"), [model.logLik], `${model.model} logLik`);
    }
    const comparison = tableValues(tableOf(html, "comparison"), "model");
    for (const r of reference.table) {
      assert.deepEqual(comparison.get(r.model), [
        r.logLik,
        r.nParams,
        r.aic,
        r.dAic,
        r.bic,
        r.dBic,
      ], r.model);
    }
    const tests = [
      ...tableOf(html, "tests").matchAll(/<tr><td>([^<]*)<\/td><td>([^<]*)<\/td>(.*?)<\/tr>/g),
    ];
    assert.equal(tests.length, reference.tests.length);
    for (const t of reference.tests) {
      const row = tests.find((m) => m[1] === t.nullModel && m[2] === t.alternative)!;
      const cells = [...row[3].matchAll(/data-value="([^"]*)"/g)].map((c) => Number(c[1]));
      assert.deepEqual(cells, [t.statistic, t.df, t.pValue]);
    }
    for (const r of summary.models) {
      const ref = reference.table.find((x: { model: string }) => x.model === r.model);
      assert.equal(r.aic, ref.aic);
    }
    // The report's estimates are the in-process fit's (same code, same thread count).
    const gamma4 = reference.models.find((m: { model: string }) => m.model === "gamma4");
    assert.deepEqual(
      ["gain", "loss", "alpha"].map((n) => gamma4.parameters[n].estimate),
      [...values],
    );
    // Spectrum: one row per present count, observed and expected as spectrumFit gives them.
    const spectrumRows = [...tableOf(html, "spectrum").matchAll(/<tr><td>(\d+)<\/td>(.*?)<\/tr>/g)]
      .map((
        m,
      ) => [Number(m[1]), ...[...m[2].matchAll(/data-value="([^"]*)"/g)].map((c) => Number(c[1]))]);
    assert.deepEqual(
      spectrumRows,
      spectrum.k.map((k, i) => [k, spectrum.observed[i], spectrum.expected[i]]),
    );
    assert.ok(html.includes(`data-value="${spectrum.statistic}"`), "Pearson X2 shown");
    // Screen: the top families are the screen's smallest q (then p), with its numbers.
    const top = tableValues(tableOf(html, "top-families"), "family");
    const expectedTop = topScreenRows(
      screen.families.map((f) => ({
        family: f.family,
        theta: f.theta,
        thetaCI: f.thetaCI,
        lrt: f.lrt,
        p: f.p,
        q: f.q,
      })),
      25,
    );
    assert.deepEqual([...top.keys()], expectedTop.map((r) => r.family));
    for (const r of expectedTop) {
      const f = screen.families.find((x) => x.family === r.family)!;
      assert.deepEqual(top.get(r.family)!.slice(0, 7), [
        f.present,
        f.theta,
        f.thetaCI[0],
        f.thetaCI[1],
        f.lrt,
        f.p,
        f.q,
      ]);
    }
    const hits = screen.families.filter((f) => f.q <= 0.05).length;
    assert.ok(html.includes(`; ${hits.toLocaleString("en-US")} at q ≤ 0.05`));
    assert.ok(html.includes(`Per-family screen: ${hits} of 1,500 families at q ≤ 0.05.`));
    const best = reference.table.find((r: { dAic: number }) => r.dAic === 0).model;
    assert.ok(html.includes(`Best model by AIC: <b>${best}</b>`));
    const flagged = genomes.flagged.length;
    assert.ok(html.includes(`Genomes flagged: ${flagged}`));
    // Genome diagnostics: every genome's counts, expectations and z-scores.
    const genomeRows = tableValues(tableOf(html, "genomes"), "genome");
    assert.equal(genomeRows.size, dataset.tree.nTips);
    for (const g of genomes.genomes) {
      assert.deepEqual(genomeRows.get(g.genome), [
        g.presentFamilies,
        g.observedFamilies,
        g.singletons.observed,
        g.singletons.expected,
        g.singletons.z,
        g.upTo2.observed,
        g.upTo2.expected,
        g.upTo2.z,
      ], g.genome);
    }
    // The provenance block names both inputs with their digests.
    for (const file of [example("tree.nwk"), pam]) {
      const digest = await sha256Hex(await Deno.readFile(file));
      assert.ok(html.includes(digest), `digest of ${file}`);
    }
    assert.match(html, /run time<\/td><td>\d+\.\d\d s/);
    assert.ok(html.includes("vega 6.4.0") && html.includes("vega-lite 6.5.0"));
    assert.doesNotMatch(html, /id="tree-from-pam"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report: a tree inferred from the same PAM is stated; bad input is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gc_report_" });
  try {
    // A small PAM: the example's first 300 families (fast fits).
    const lines = (await Deno.readTextFile(example("pam.tsv"))).split("\n");
    const pam = join(dir, "pam.tsv");
    await Deno.writeTextFile(pam, lines.slice(0, 301).join("\n") + "\n");
    const tree = join(dir, "tree.nwk");
    await Deno.copyFile(example("tree.nwk"), tree);
    const digest = await sha256Hex(await Deno.readFile(pam));
    await Deno.writeTextFile(
      `${tree}.provenance.json`,
      JSON.stringify({ provenance: { inputs: [{ role: "pam", path: pam, sha256: digest }] } }),
    );
    const base = ["report", "--tree", tree, "--pam", pam, "--model", "null"];
    const families = join(dir, "set.txt");
    await Deno.writeTextFile(families, "# a set\nfam_1\nno_such_family\n");
    const members = Array.from({ length: 40 }, (_, i) => `fam${String(i + 1).padStart(4, "0")}`);
    const pathway = join(dir, "pathway.txt");
    await Deno.writeTextFile(pathway, members.join("\n") + "\n");
    const twoSets = join(dir, "two.tsv");
    await Deno.writeTextFile(twoSets, "family\tset\nfam0001\tA\nfam0002\tB\n");
    const [inferred, stated, noOut, unknown, same, seedOnly, two, calibrated] = await Promise.all([
      run([...base, "--out", join(dir, "a.html")]),
      run([
        ...base,
        "--out",
        join(dir, "b.html"),
        "--tree-from-pam",
        "--title",
        "T <1>",
        "--families",
        pathway,
      ]),
      run(base),
      run([...base, "--out", join(dir, "c.html"), "--families", families]),
      run([...base, "--out", pam]),
      run([...base, "--out", join(dir, "d.html"), "--seed", "3"]),
      run([...base, "--out", join(dir, "e.html"), "--families", twoSets]),
      run([...base, "--out", join(dir, "f.html"), "--calibration", "300", "--seed", "2"]),
    ]);
    assert.equal(calibrated.code, 0, calibrated.stderr);
    const f = await Deno.readTextFile(join(dir, "f.html"));
    assert.ok(f.includes("p-values calibrated on 300 families simulated under the fitted model"));
    const side = JSON.parse(await Deno.readTextFile(join(dir, "f.html.provenance.json")));
    assert.equal(side.provenance.command, "report");
    assert.equal(side.provenance.options.calibration, 300);
    assert.equal(side.provenance.options.seed, 2);
    assert.deepEqual(side.provenance.inputs.map((i: { role: string }) => i.role), ["tree", "pam"]);
    assert.equal(inferred.code, 0, inferred.stderr);
    assert.equal(inferred.stdout, "", "quiet without --json");
    const a = await Deno.readTextFile(join(dir, "a.html"));
    assert.match(a, /id="tree-from-pam"><b>The tree was inferred from this same PAM<\/b>/);
    assert.ok(a.includes(digest.slice(0, 12)));
    assert.equal(stated.code, 0, stated.stderr);
    const b = await Deno.readTextFile(join(dir, "b.html"));
    assert.match(b, /stated with --tree-from-pam/);
    assert.match(b, /<title>T &lt;1&gt;<\/title>/);
    // The comparison has null and gamma4 (the requested model is null).
    assert.equal([...b.matchAll(/<table class="parameters"/g)].length, 2);
    // A family set: the tree shows its events, the top families are its members, and the set
    // file is in the provenance with its digest.
    assert.match(b, /Expected gains and losses per branch \(family set pathway, 40 families\)/);
    const top = [...tableValues(tableOf(b, "top-families"), "family").keys()];
    assert.equal(top.length, 25);
    assert.ok(top.every((f) => members.includes(f)), top.join());
    assert.ok(b.includes(await sha256Hex(await Deno.readFile(pathway))));
    for (
      const [r, pattern] of [
        [noOut, /--out/],
        [unknown, /no_such_family/],
        [same, /is the PAM file being read/],
        [seedOnly, /--seed seeds the calibration/],
        [two, /defines 2 sets \(A, B\)/],
      ] as const
    ) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^genecontent: error: /);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    }
    const again = await run([...base, "--out", join(dir, "a.html")]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists: pass --force/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("table numbers: 6 significant digits, exponents for the very small and large", () => {
  assert.equal(formatNumber(0.0292376123), "0.0292376");
  assert.equal(formatNumber(141441.29214158523, 8), "141441.29");
  assert.equal(formatNumber(3), "3");
  assert.equal(formatNumber(1.5e-7), "1.50000e-7");
  assert.equal(formatNumber(null), "–");
  assert.equal(formatNumber(Infinity), "∞");
});

Deno.test("renderer: a section that could not be computed says why, and has no figure", async () => {
  const tree = randomTopology(6, new Random(11));
  const n = tree.nNodes;
  const data: ReportData = {
    title: "t",
    dataset: {
      treePath: "t.nwk",
      pamPath: "p.tsv",
      nFamilies: 10,
      nGenomes: tree.nTips,
      nPatterns: 8,
      ascertainment: "at least 1 present",
      treeLength: 1,
      droppedTips: [],
      droppedTaxa: [],
    },
    treeSource: { inferredFromPam: false, evidence: null },
    model: "null",
    fits: [],
    refused: [],
    comparison: { rows: [], tests: [] },
    tree: {
      tipNames: tree.tipNames,
      parent: Array.from(tree.parent),
      branchLength: Array.from(tree.branchLength),
      ids: Array.from({ length: n }, (_, v) => `n${v}`),
      // The root's entries are 0 (no branch above it), as in AncestralSums.
      gains: Array.from({ length: n }, (_, v) => (v < n - 1 ? 1 : 0)),
      losses: Array.from({ length: n }, (_, v) => (v < n - 1 ? 0.5 : 0)),
      label: "all 10 families",
      model: "null",
    },
    spectrum: null,
    screen: null,
    topFamilies: [],
    genomes: null,
    missing: [
      { section: "spectrum", reason: "The gene-frequency spectrum could not be computed: X." },
      { section: "screen", reason: "The per-family screen could not be computed: Y." },
    ],
    provenance: {
      ...makeProvenance({ command: "report", backend: "ts", threads: 1, inputs: [], options: {} }),
      seconds: 1,
      steps: {},
      plotting: {},
    },
  };
  const figures = await renderFigures(data);
  assert.deepEqual(Object.keys(figures), ["tree"]);
  const html = renderReportHtml(data, figures);
  assert.match(
    html,
    /data-missing="spectrum">The gene-frequency spectrum could not be computed: X\./,
  );
  assert.match(html, /data-missing="screen">The per-family screen could not be computed: Y\./);
  assert.doesNotMatch(html, /data-figure="(spectrum|qq|volcano)"/);
  assert.equal((html.match(/<path class="branch"/g) ?? []).length, n - 1);
  // 1 gain and 0.5 loss on each of the n - 1 branches (the root's entries are not a branch).
  assert.ok(html.includes(`${n - 1} gains and ${(n - 1) / 2} losses`));
});
