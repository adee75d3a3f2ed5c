/**
 * `genecontent report`: one self-contained HTML file with the fitted parameters and their
 * intervals, the model comparison, the tree with the expected gains and losses per branch, the
 * spectrum, the per-family screen and the genome diagnostics, and the run's provenance; each
 * figure optionally also as its own SVG file.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { GenecontentError } from "../../errors.ts";
import { parseModel } from "../../model/description.ts";
import { makeProvenance } from "../../provenance.ts";
import { refuseImpossible } from "../../likelihood/per_family.ts";
import { readFamilySets } from "../../effects/inputs.ts";
import { collectReportData } from "../../report/collect.ts";
import type { ReportData, TreeSource } from "../../report/data.ts";
import { FIGURE_FILES, renderFigures, renderReportHtml } from "../../report/render_html.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_CHOICE_OPTIONS,
} from "../model_options.ts";
import { modelSetup, refuseZeroLengthTree } from "../model_setup.ts";
import {
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandLine,
  refuseConflicts,
  required,
} from "../options.ts";
import { planOutputs, printJson } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Options of `report`. */
export const REPORT_OPTIONS = {
  ...INPUT_OPTIONS,
  ...MODEL_CHOICE_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  level: { type: "string" },
  families: { type: "string" },
  calibration: { type: "string" },
  seed: { type: "string" },
  figures: { type: "string" },
  title: { type: "string" },
  "tree-from-pam": { type: "boolean" },
} as const;

/** Help text of `report`. */
export const REPORT_HELP =
  `genecontent report: one self-contained HTML report of a gene-content analysis

Usage: genecontent report --tree FILE --pam FILE [--model M] [--families SETFILE]
       --out report.html [--figures DIR] [--json]

Fits the null model, gamma4 and the requested model (each once) with profile-likelihood
intervals and writes one HTML file that opens offline (inline SVG and styles, no script, no
external resource) with: the parameter table with intervals, the model comparison (AIC, BIC,
likelihood-ratio tests), the tree with the expected gains and losses on every branch under
the requested model, the observed and expected gene-frequency spectrum, the per-family screen
(QQ and volcano plots, the top families with effects and q-values), the genome diagnostics,
and the provenance (version, backend, inputs with SHA-256, options, run time). Rates are per
unit branch length of the tree; log-likelihoods are natural logarithms.

Model (rates are per unit branch length of the tree):
  --model NAME           the model the report is about: null, gammaK, mixtureK, each
                         optionally +inv and/or +error (default gamma4); null and gamma4 are
                         fitted too, for the comparison
  --completeness FILE    TSV genome<TAB>completeness in (0, 1] (e.g. CheckM): a present gene of
                         genome i is recorded absent with probability 1 - completeness
${ASCERTAINMENT_HELP}
Report:
  --level P              confidence level of the intervals, 0 < P < 1 (default 0.95)
  --families SETFILE     a family set, one id per line (# comments and blank lines
                         skipped; or a family<TAB>set table with one set): the tree shows its
                         gains and losses, and the top-families table lists its members
  --calibration N        calibrate the screen's p-values on N families simulated under the
                         fitted model (default 0: chi-square(1) p-values, which are poor for
                         rare families; e.g. 10000)
  --seed S               seed of the calibration's simulation (default 1)
  --figures DIR          also write each figure as its own SVG file into DIR (created if
                         missing): ${Object.values(FIGURE_FILES).join(", ")}
  --title TEXT           the report's title (default: from the PAM's file name)
  --tree-from-pam        state that the tree was inferred from this PAM (also detected when
                         the tree's FILE.provenance.json lists this PAM's SHA-256)
${
    INPUT_HELP.replace(
      / {2}--json[\s\S]*?input file is never replaced\n?/,
      `  --json                 print the paths written and a summary as JSON on stdout
  --out FILE             the HTML report (required), with FILE.provenance.json
  --force                let --out and --figures replace existing files; an input file is
                         never replaced
`,
    )
  }

Output: the HTML file; nothing on stdout unless --json (paths written, models with logLik,
AIC and BIC, the sections not available, seconds). Progress on stderr when it is a terminal.`;

/** Whether some `sha256` field anywhere in `value` equals `digest`. */
function mentionsDigest(value: unknown, digest: string, depth = 0): boolean {
  if (depth > 8 || value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((v) => mentionsDigest(v, digest, depth + 1));
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === "sha256" && v === digest) return true;
    if (mentionsDigest(v, digest, depth + 1)) return true;
  }
  return false;
}

/**
 * Where the tree came from: stated by the user, or found in the tree's provenance sidecar
 * (`TREE.provenance.json` listing the PAM's SHA-256 among its inputs).
 *
 * @example
 * ```ts ignore
 * import { treeSource } from "./report.ts";
 * const s = await treeSource("tree.nwk", "ab12...", false);
 * ```
 */
export async function treeSource(
  treePath: string,
  pamSha256: string,
  stated: boolean,
): Promise<TreeSource> {
  if (stated) return { inferredFromPam: true, evidence: "stated with --tree-from-pam" };
  const side = `${treePath}.provenance.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(side);
  } catch {
    return { inferredFromPam: false, evidence: null };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { inferredFromPam: false, evidence: null };
  }
  if (mentionsDigest(json, pamSha256)) {
    return {
      inferredFromPam: true,
      evidence: `the tree's provenance file ${side} lists this PAM (SHA-256 ` +
        `${pamSha256.slice(0, 12)}...) as its input`,
    };
  }
  return { inferredFromPam: false, evidence: null };
}

/** The `--json` summary of a report run. */
function summary(data: ReportData, written: { html: string; figures: string[] }) {
  return {
    outputs: written,
    model: data.model,
    nFamilies: data.dataset.nFamilies,
    nGenomes: data.dataset.nGenomes,
    treeInferredFromPam: data.treeSource.inferredFromPam,
    models: data.comparison.rows.map((r) => ({
      model: r.model,
      logLik: r.logLik,
      nParams: r.nParams,
      aic: r.aic,
      bic: r.bic,
      dAic: r.dAic,
      dBic: r.dBic,
    })),
    refused: data.refused,
    sections: {
      spectrum: data.spectrum !== null,
      screen: data.screen !== null,
      genomes: data.genomes !== null,
    },
    missing: data.missing,
    backend: data.provenance.backend,
    seconds: data.provenance.seconds,
    steps: data.provenance.steps,
  };
}

/**
 * Runs `report` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { reportCommand } from "./report.ts";
 * await reportCommand(["--tree", "examples/tree.nwk", "--pam", "examples/pam.tsv",
 *   "--out", "report.html"]);
 * ```
 */
export async function reportCommand(args: string[]): Promise<number> {
  const started = performance.now();
  const { values: v, given } = parseCommandLine(args, REPORT_OPTIONS, "report");
  if (v.help) {
    console.log(REPORT_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
  ], "report");
  const out = required(v.out, "--out", "report");
  if (out === "-" && v.json) {
    throw new GenecontentError(
      "--out - and --json would both write to stdout: give --out a file name.",
    );
  }
  const settings = inputSettings(v, "report");
  const level = numberOption(v.level ?? "0.95", "--level", {
    min: 0,
    max: 0.9999,
    exclusiveMin: true,
  });
  const model = parseModel(v.model ?? "gamma4");
  const calibration = numberOption(v.calibration ?? "0", "--calibration", {
    min: 0,
    integer: true,
  });
  if (v.seed !== undefined && calibration === 0) {
    throw new GenecontentError("--seed seeds the calibration: give --calibration N too.");
  }
  const seed = numberOption(v.seed ?? "1", "--seed", { min: 0, integer: true });
  const figuresDir = v.figures === undefined ? null : resolve(v.figures);
  if (v.figures === "") throw new GenecontentError("--figures needs a folder name; got ''.");
  if (figuresDir !== null) {
    try {
      await Deno.mkdir(figuresDir, { recursive: true });
    } catch (e) {
      throw new GenecontentError(
        `Cannot create the --figures folder '${v.figures}': ${e instanceof Error ? e.message : e}`,
      );
    }
  }
  const plan = await planOutputs([
    { flag: "--out", value: out },
    ...(figuresDir === null ? [] : Object.entries(FIGURE_FILES).map(([name, file]) => ({
      flag: `--figures ${name}`,
      value: join(figuresDir, file),
      provenance: false,
    }))),
  ], {
    inputs: {
      tree: settings.treePath,
      PAM: settings.pamPath,
      completeness: v.completeness,
      families: v.families,
    },
    force: v.force ?? false,
  });
  const prepared = await prepare(settings);
  const { dataset, factory } = prepared;
  const setup = await modelSetup(v, dataset, model);
  refuseZeroLengthTree(dataset, settings.treePath);
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  const sets = v.families === undefined
    ? null
    : await readFamilySets(v.families, dataset.patterns.familyNames);
  if (sets && sets.sets.size !== 1) {
    throw new GenecontentError(
      `--families file '${v.families}' defines ${sets.sets.size} sets (${
        [...sets.sets.keys()].slice(0, 5).join(", ")
      }${sets.sets.size > 5 ? ", ..." : ""}): the report shows one set; give a file with one.`,
    );
  }
  const familySet = sets
    ? { name: [...sets.sets.keys()][0], families: [...sets.sets.values()][0] }
    : null;
  const pamInput = dataset.inputs.find((i) => i.role === "pam")!;
  const source = await treeSource(settings.treePath, pamInput.sha256, v["tree-from-pam"] === true);
  const progress = new ProgressLine();
  const provenance = makeProvenance({
    command: "report",
    backend: factory.name,
    nativeLibrary: factory.libraryPath ?? null,
    threads: settings.threads,
    inputs: [
      ...dataset.inputs,
      ...(setup.completenessInput ? [setup.completenessInput] : []),
      ...(sets ? [sets.input] : []),
    ],
    options: {
      model: v.model ?? "gamma4",
      window: setup.window,
      level,
      families: v.families ?? null,
      calibration,
      seed,
      figures: v.figures ?? null,
      treeFromPam: v["tree-from-pam"] === true,
      ...settings.load,
      backend: settings.backend,
      threads: settings.threads,
    },
  });
  let data: ReportData;
  try {
    data = await collectReportData({
      dataset,
      factory,
      setup,
      level,
      familySet,
      treeSource: source,
      provenance,
      started,
      calibration,
      seed,
      onProgress: (text) => progress.update(text),
      ...(v.title !== undefined ? { title: v.title } : {}),
    });
    for (const f of data.fits) {
      for (const w of f.warnings) console.error(`genecontent: warning: ${f.model}: ${w}`);
    }
    progress.update("report: figures");
    const f0 = performance.now();
    const figures = await renderFigures(data, (name) => progress.update(`report: ${name}`));
    data = {
      ...data,
      provenance: {
        ...data.provenance,
        seconds: (performance.now() - started) / 1000,
        steps: { ...data.provenance.steps, figures: (performance.now() - f0) / 1000 },
      },
    };
    progress.update("report: HTML");
    const html = renderReportHtml(data, figures);
    const written = figuresDir === null ? [] : Object.entries(FIGURE_FILES)
      .filter(([name]) => figures[name as keyof typeof figures] !== undefined)
      .map(([name, file]) => ({ name, path: join(figuresDir, file) }));
    const result = summary(data, {
      html: out === "-" ? "-" : resolve(out),
      figures: written.map((w) => w.path),
    });
    await plan.write("--out", html, { ...result, provenance: data.provenance });
    for (const w of written) {
      await plan.write(`--figures ${w.name}`, figures[w.name as keyof typeof figures]!);
    }
    progress.done();
    if (v.json) printJson(result);
  } finally {
    progress.done();
  }
  return 0;
}
