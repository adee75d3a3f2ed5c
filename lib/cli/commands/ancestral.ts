/**
 * `genecontent ancestral`: ancestral reconstruction under any model — the posterior presence of
 * each family at every node and its expected gains and losses on every branch, summed over
 * families (per branch, per genome along its root-to-tip path, over a family set) and, on request,
 * per family; optionally with stochastic mapping (sampled histories) and the files users open
 * (per-branch TSV, Newick of node ids, NHX, iTOL datasets).
 *
 * @module
 */

import { checkFittedTree, readFitFile } from "../from_fit.ts";
import { join, resolve } from "node:path";
import { GenecontentError } from "../../errors.ts";
import { idNewick } from "../../ancestral/node_ids.ts";
import {
  type AncestralReconstruction,
  type AncestralSums,
  type FamilyAncestral,
  reconstructAncestral,
} from "../../ancestral/reconstruct.ts";
import {
  stochasticMapPatterns,
  type StochasticMapSummary,
} from "../../ancestral/stochastic_map.ts";
import {
  branchSummaryTsv,
  DEFAULT_FAMILY_TABLE_MIN,
  FAMILY_TABLE_RULE,
  writeFamilyTable,
} from "../../ancestral/formats/long_tsv.ts";
import { openKernel } from "../../native/ffi.ts";
import { formatNhx } from "../../ancestral/formats/nhx.ts";
import { itolBranchStyle, itolBranchText, itolSimpleBar } from "../../ancestral/formats/itol.ts";
import { writeTextOutput } from "../../ancestral/formats/stream_writer.ts";
import { fitModel } from "../../fit/fit_model.ts";
import { modelObjective } from "../../fit/objective.ts";
import { refuseImpossible } from "../../likelihood/per_family.ts";
import { formatModel, type ModelDescription } from "../../model/description.ts";
import { namedValues, valuesFromNames } from "../../model/values.ts";
import { inputRecord, makeProvenance } from "../../provenance.ts";
import type { FlatTree } from "../../tree/flat_tree.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_HELP,
  MODEL_OPTIONS,
  modelOption,
  modelValuesOption,
} from "../model_options.ts";
import { modelSetup, openSetupLikelihood, windowText } from "../model_setup.ts";
import {
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandLine,
  refuseConflicts,
} from "../options.ts";
import { planOutputs, printJson, writeStdout } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Options of `ancestral`. */
export const ANCESTRAL_OPTIONS = {
  ...INPUT_OPTIONS,
  ...MODEL_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  "from-fit": { type: "string" },
  "per-family": { type: "string" },
  "per-family-min": { type: "string" },
  families: { type: "string" },
  samples: { type: "string" },
  seed: { type: "string" },
} as const;

/** The files `--out DIR` writes, by name. */
export const ANCESTRAL_FILES = [
  "branches.tsv",
  "genomes.tsv",
  "tree.nwk",
  "tree.nhx",
  "itol_style.txt",
  "itol_text.txt",
  "itol_gains.txt",
  "itol_losses.txt",
  "ancestral.json",
] as const;

const OUT_HELP =
  `  --out DIR              write into folder DIR (created if missing): branches.tsv (node,
                         parent, branchLength, present, gains, losses, net), genomes.tsv
                         (genome, gains, losses along its root-to-tip path), tree.nwk (the tree
                         with node ids), tree.nhx (gains, losses, net on every branch), iTOL
                         datasets itol_style.txt (branch colours by net change, widths by
                         events), itol_text.txt, itol_gains.txt, itol_losses.txt (bars), and
                         ancestral.json (the whole result)
  --force                let outputs replace existing files; an input is never replaced`;

/** Help text of `ancestral`. */
export const ANCESTRAL_HELP =
  `genecontent ancestral: ancestral gene content and expected gains and losses per branch

Usage: genecontent ancestral --tree FILE --pam FILE [--model M [values] | --from-fit FIT.json]
       [--families SETFILE] [--per-family FILE [--per-family-min V]] [--samples N --seed S]
       [--json] [--out DIR]

For each family, the posterior probability that it is present at every node and its expected
numbers of gains (absent to present) and losses on every branch, given its column, under the
model (every component weighted by its posterior: gamma categories, mixture classes, the
invariant class, true tip states under +error or completeness). Branches are named by their
child node's id: its label when unique and not a number, else node<i> (i its index: tips
first, internal nodes in post-order, the root last).

Values of the model's parameters: as for 'loglik' (e.g. --gain, --loss, --alpha), or
  --from-fit FIT.json    the model and estimates of 'genecontent fit --json' (not with --model
                         or values; a fit with --optimize-branch-lengths needs its fitted tree
                         as --tree)
or neither: the model is fitted first (maximum likelihood, no intervals).

${MODEL_HELP}
${ASCERTAINMENT_HELP}
                         (the window only sets the reported logLik and the fit; posteriors
                         given a family's column do not depend on it)
Families:
  --families SETFILE     a family set, one name per line (# comments and blank lines
                         skipped): its sums per branch and genome are reported too
  --per-family FILE      one family per block of rows: the long TSV (family, node, quantity,
                         value; quantities pPresent at every node, gains and losses on every
                         branch; values with 6 significant digits, 0 and 1 when exact),
                         streamed; gzip when FILE ends in .gz; '-' for stdout. Rows below
                         --per-family-min are left out. With --json the JSON also lists every
                         family, every value, to full precision (large for big PAMs)
  --per-family-min V     leave out of the per-family TSV the rows whose value is below V
                         (default ${DEFAULT_FAMILY_TABLE_MIN}): a (family, node, quantity) absent from the table is
                         below V. Most families are absent from most of the tree, so most rows
                         are near 0 and the cut shrinks the table about tenfold; branch and
                         genome sums always use every value. 0 writes every row. The table's
                         .provenance.json records V and the rows written
Stochastic mapping:
  --samples N            also draw N histories per family from their posterior and report the
                         per-branch mean and 2.5% / 97.5% quantiles of the gains and losses
                         summed over families
  --seed S               seed of the draws (default 1; the same seed gives the same draws)
${
    INPUT_HELP.replace(
      / {2}--out FILE[\s\S]*?input file is never replaced\n/,
      `${OUT_HELP}\n`,
    )
  }

Output: the per-branch table (as branches.tsv) on stdout. --json: model, parameters (by
name), valuesFrom (options, fit file or fitted), logLik, tree (Newick of node ids), root (node,
present), branches (node, parent, length, present: expected number of the families present at
the node, gains, losses, net), totals, genomes (genome, gains, losses), familySet (with
--families), families (with --per-family: family, gains, losses over the tree, nodes [{node,
pPresent}], branches [{node, gains, losses}]), stochasticMap (with --samples), backend and
provenance.`;

/** Family names of a set file: one per line, `#` comments and blank lines skipped. */
async function readFamilySet(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new GenecontentError(
      `Cannot read family set file '${path}': ${e instanceof Error ? e.message : e}.`,
    );
  }
  const names: string[] = [];
  for (const line of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    const name = line.trim();
    if (name === "" || name.startsWith("#")) continue;
    names.push(name);
  }
  if (names.length === 0) {
    throw new GenecontentError(`Family set file '${path}' lists no family; give one per line.`);
  }
  return names;
}

function branchRows(tree: FlatTree, ids: readonly string[], sums: AncestralSums) {
  return Array.from({ length: tree.nNodes - 1 }, (_, v) => ({
    node: ids[v],
    parent: ids[tree.parent[v]],
    length: tree.branchLength[v],
    present: sums.present[v],
    gains: sums.gains[v],
    losses: sums.losses[v],
    net: sums.gains[v] - sums.losses[v],
  }));
}

function totalsOf(tree: FlatTree, sums: AncestralSums) {
  let gains = 0, losses = 0;
  for (let v = 0; v < tree.nNodes - 1; v++) {
    gains += sums.gains[v];
    losses += sums.losses[v];
  }
  return { gains, losses, events: gains + losses };
}

function genomeRows(tree: FlatTree, g: { gains: Float64Array; losses: Float64Array }) {
  return tree.tipNames.map((genome, i) => ({ genome, gains: g.gains[i], losses: g.losses[i] }));
}

function familyJson(f: FamilyAncestral, ids: readonly string[]) {
  const n = ids.length;
  let gains = 0, losses = 0;
  for (let v = 0; v < n - 1; v++) {
    gains += f.gains[v];
    losses += f.losses[v];
  }
  return {
    family: f.family,
    gains,
    losses,
    nodes: ids.map((node, v) => ({ node, pPresent: f.pPresent[v] })),
    branches: ids.slice(0, n - 1).map((node, v) => ({
      node,
      gains: f.gains[v],
      losses: f.losses[v],
    })),
  };
}

function stochasticJson(map: StochasticMapSummary, ids: readonly string[]) {
  const q = (s: { quantiles: readonly Float64Array[] }, v: number) => s.quantiles.map((x) => x[v]);
  const mean = (x: Float64Array) => x.reduce((a, b) => a + b, 0) / x.length;
  return {
    samples: map.samples,
    seed: map.seed,
    quantileLevels: map.quantileLevels,
    branches: ids.slice(0, ids.length - 1).map((node, v) => ({
      node,
      gainsMean: map.branchGains.mean[v],
      gainsQuantiles: q(map.branchGains, v),
      lossesMean: map.branchLosses.mean[v],
      lossesQuantiles: q(map.branchLosses, v),
    })),
    totalGainsMean: mean(map.totalGains),
    totalLossesMean: mean(map.totalLosses),
    note: "sums over families of the gains and losses drawn on each branch: mean and quantiles " +
      "over the draws",
  };
}

/**
 * Runs `ancestral` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { ancestralCommand } from "./ancestral.ts";
 * await ancestralCommand(["--tree", "t.nwk", "--pam", "p.tsv", "--gain", "0.5", "--loss", "1"]);
 * ```
 */
export async function ancestralCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, ANCESTRAL_OPTIONS, "ancestral");
  if (v.help) {
    console.log(ANCESTRAL_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
    ["from-fit", "model", "--from-fit gives the model"],
  ], "ancestral");
  if (v.seed !== undefined && v.samples === undefined) {
    throw new GenecontentError("--seed seeds the draws of --samples: give --samples N too.");
  }
  if (v["per-family-min"] !== undefined && v["per-family"] === undefined) {
    throw new GenecontentError(
      "--per-family-min cuts the table of --per-family: give --per-family FILE too.",
    );
  }
  const perFamilyMin = numberOption(
    v["per-family-min"] ?? String(DEFAULT_FAMILY_TABLE_MIN),
    "--per-family-min",
    { min: 0 },
  );
  const samples = v.samples === undefined
    ? null
    : numberOption(v.samples, "--samples", { min: 1, integer: true });
  const seed = numberOption(v.seed ?? "1", "--seed", { min: 0, integer: true });
  const settings = inputSettings(v, "ancestral");
  const fitPath = v["from-fit"] === undefined ? undefined : resolve(v["from-fit"]);
  const setPath = v.families === undefined ? undefined : resolve(v.families);
  let model: ModelDescription;
  let values: Float64Array | null;
  let fitFile: ReturnType<typeof readFitFile> | null = null;
  if (fitPath !== undefined) {
    const valueFlags = ["gain", "loss", "alpha", "pinv", "false-presence", "false-absence"]
      .concat(["gains", "losses", "weights", "param"]).filter((f) => given.has(f));
    if (valueFlags.length > 0) {
      throw new GenecontentError(
        `--from-fit gives the parameter values: drop --${valueFlags.join(", --")}.`,
      );
    }
    let text: string;
    try {
      text = await Deno.readTextFile(fitPath);
    } catch (e) {
      throw new GenecontentError(
        `Cannot read --from-fit file '${v["from-fit"]}': ${e instanceof Error ? e.message : e}.`,
      );
    }
    fitFile = readFitFile(text, v["from-fit"]!);
    model = fitFile.model;
    values = valuesFromNames(model, fitFile.named);
  } else {
    model = modelOption(v);
    values = modelValuesOption(model, v);
  }
  const outDir = v.out === undefined ? undefined : resolve(v.out);
  if (v.out === "-") {
    throw new GenecontentError("--out names a folder for the files; use --json for stdout.");
  }
  const inputs = {
    tree: settings.treePath,
    PAM: settings.pamPath,
    completeness: v.completeness,
    "fit result": fitPath,
    "family set": setPath,
  };
  const force = v.force ?? false;
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--per-family", value: v["per-family"] },
  ], { inputs, force });
  if (outDir !== undefined) {
    const info = await Deno.stat(outDir).catch(() => null);
    if (info && !info.isDirectory) {
      throw new GenecontentError(`--out '${v.out}' is a file: give a folder for the files.`);
    }
    if (info) {
      await planOutputs(
        ANCESTRAL_FILES.map((f) => ({ flag: "--out", value: join(outDir, f), provenance: false }))
          .map((r, i) => ({ ...r, flag: `--out (${ANCESTRAL_FILES[i]})` })),
        { inputs, force },
      );
    }
  }
  const { dataset, factory, pruned } = await prepare(settings);
  if (fitFile) {
    checkFittedTree(fitFile.fit, dataset.tree, v["from-fit"]!);
    const used = (fitFile.fit.provenance as { inputs?: { role?: string }[] } | undefined)?.inputs;
    if (used?.some((i) => i.role === "completeness") && v.completeness === undefined) {
      throw new GenecontentError(
        `--from-fit '${v["from-fit"]}' was fitted with per-genome completeness: pass the same ` +
          "--completeness FILE.",
      );
    }
  }
  const setup = await modelSetup(v, dataset, model);
  const familySet = setPath === undefined ? undefined : await readFamilySet(setPath);
  using lik = openSetupLikelihood(dataset, factory, setup, settings.treePath);
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  const progress = new ProgressLine();
  let valuesFrom = fitFile ? "fit file" : "options";
  let fitted: Record<string, unknown> | null = null;
  if (values === null) {
    const name = formatModel(model);
    const fit = fitModel(modelObjective(lik), {
      level: null,
      onEvaluation: (stage, n) =>
        progress.update(`fit ${name}: ${stage}, ${n} likelihood evaluations`),
    });
    progress.done();
    for (const w of fit.warnings) console.error(`genecontent: warning: ${w}`);
    if (!Number.isFinite(fit.logLik)) {
      throw new Error(`The fit of ${name} ended with a non-finite log-likelihood ${fit.logLik}.`);
    }
    values = Float64Array.from(fit.values);
    valuesFrom = "fitted";
    fitted = {
      logLik: fit.logLik,
      aic: fit.aic,
      bic: fit.bic,
      converged: fit.converged,
      iterations: fit.iterations,
      evaluations: fit.evaluations,
      warnings: fit.warnings,
    };
  }
  progress.update("ancestral: expectations");
  const rec: AncestralReconstruction = reconstructAncestral(lik, values, {
    completeness: setup.completeness,
    familySet,
  });
  progress.done();
  if (!Number.isFinite(rec.logLik)) {
    throw new GenecontentError(
      `The log-likelihood at these values is ${rec.logLik}: some family is impossible under ` +
        "them, so its posterior is undefined. Check the values (or fit them).",
    );
  }
  const tree = dataset.tree;
  const ids = rec.ids;
  let map: StochasticMapSummary | null = null;
  if (samples !== null) {
    progress.update(`ancestral: ${samples} stochastic maps per family`);
    map = stochasticMapPatterns(tree, dataset.patterns, {
      model,
      values,
      completeness: setup.completeness,
    }, { samples, seed });
    progress.done();
  }
  const named = namedValues(model, values);
  const provenance = makeProvenance({
    command: "ancestral",
    backend: rec.backend,
    nativeLibrary: factory.libraryPath ?? null,
    threads: lik.backend.threads,
    inputs: [
      ...dataset.inputs,
      ...(setup.completenessInput ? [setup.completenessInput] : []),
      ...(fitPath ? [await inputFile("fit result", fitPath)] : []),
      ...(setPath ? [await inputFile("family set", setPath)] : []),
    ],
    options: {
      model: formatModel(model),
      parameters: named,
      valuesFrom,
      window: setup.window,
      ...settings.load,
      backend: settings.backend,
      threads: settings.threads,
      ...(samples !== null ? { samples, seed } : {}),
    },
  });
  const root = tree.nNodes - 1;
  const result: Record<string, unknown> = {
    model: formatModel(model),
    parameters: named,
    valuesFrom,
    ...(fitted ? { fit: fitted } : {}),
    logLik: rec.logLik,
    ascertainment: windowText(setup.window),
    minPresent: setup.window.minPresent,
    maxPresent: setup.window.maxPresent,
    nFamilies: rec.nFamilies,
    nPatterns: dataset.patterns.nPatterns,
    nGenomes: tree.nTips,
    components: rec.componentNames,
    tree: idNewick(tree, ids),
    root: { node: ids[root], present: rec.totals.present[root] },
    branches: branchRows(tree, ids, rec.totals),
    totals: totalsOf(tree, rec.totals),
    genomes: genomeRows(tree, rec.genomes),
    ...(rec.familySet
      ? {
        familySet: {
          families: rec.familySet.families,
          root: { node: ids[root], present: rec.familySet.sums.present[root] },
          branches: branchRows(tree, ids, rec.familySet.sums),
          totals: totalsOf(tree, rec.familySet.sums),
          genomes: genomeRows(tree, rec.familySet.genomes),
        },
      }
      : {}),
    ...(map ? { stochasticMap: stochasticJson(map, ids) } : {}),
    units: {
      gains: "expected number of gains (absent to present) on the branch above the node",
      losses: "expected number of losses (present to absent) on the branch above the node",
      present: "expected number of the families present at the node",
      rates: "per unit branch length",
      logLik: "natural log",
    },
    notes: "branches are named by their child node's id; the tree is the input tree with every " +
      "node named by its id",
    backend: rec.backend,
    threads: lik.backend.threads,
    pruned,
  };
  const jsonFamilies: unknown[] | null = v.json && plan.get("--per-family") ? [] : null;
  let tableNote = "";
  if (plan.get("--per-family")) {
    // The kernel formats (and compresses) the rows when the native backend runs.
    const kernel = rec.backend === "native" && factory.libraryPath
      ? openKernel(factory.libraryPath)
      : null;
    const nn = tree.nNodes;
    progress.update("ancestral: per-family table");
    let done = 0;
    const table = await writeFamilyTable(v["per-family"]!, tree, ids, rec.familyBlocks(), {
      flag: "--per-family",
      minValue: perFamilyMin,
      force,
      inputs,
      provenance: v["per-family"] === "-" ? undefined : { ...result, provenance },
      kernel,
      threads: lik.backend.threads,
      onBlock: (block) => {
        done += block.families.length;
        progress.update(`ancestral: per-family table, ${done} of ${rec.nFamilies} families`);
        if (!jsonFamilies) return;
        block.families.forEach((family, i) => {
          const a = block.rows[i] * nn, b = a + nn;
          jsonFamilies.push(familyJson({
            family,
            pPresent: block.present.subarray(a, b),
            gains: block.gains.subarray(a, b),
            losses: block.losses.subarray(a, b),
          }, ids));
        });
      },
    });
    progress.done();
    result.familyTable = {
      minValue: table.minValue,
      rows: table.rows,
      rowsInAll: table.rowsInAll,
      rule: FAMILY_TABLE_RULE,
    };
    tableNote = `; per-family table: ${table.rows} of ${table.rowsInAll} rows` +
      (table.minValue > 0 ? ` (values below ${table.minValue} left out)` : "");
  }
  if (jsonFamilies) result.families = jsonFamilies;
  result.provenance = provenance;
  if (outDir !== undefined) {
    await Deno.mkdir(outDir, { recursive: true });
    const sums = rec.totals;
    const texts: Record<(typeof ANCESTRAL_FILES)[number], string> = {
      "branches.tsv": branchSummaryTsv(tree, ids, sums),
      "genomes.tsv": "genome\tgains\tlosses\n" +
        tree.tipNames.map((g, i) => `${g}\t${rec.genomes.gains[i]}\t${rec.genomes.losses[i]}\n`)
          .join(""),
      "tree.nwk": idNewick(tree, ids) + "\n",
      "tree.nhx": formatNhx(tree, ids, sums) + "\n",
      "itol_style.txt": itolBranchStyle(tree, ids, sums),
      "itol_text.txt": itolBranchText(tree, ids, sums),
      "itol_gains.txt": itolSimpleBar(tree, ids, sums.gains, {
        label: "expected gains",
        color: "#2166ac",
      }),
      "itol_losses.txt": itolSimpleBar(tree, ids, sums.losses, {
        label: "expected losses",
        color: "#b2182b",
      }),
      "ancestral.json": JSON.stringify(result, null, 2) + "\n",
    };
    for (const name of ANCESTRAL_FILES) {
      await writeTextOutput(join(outDir, name), (out) => out.write(texts[name]), {
        flag: `--out (${name})`,
        force,
        inputs,
        gzip: false,
      });
    }
  }
  if (v.json) printJson(result);
  else if (plan.get("--per-family")?.stdout !== true) {
    await writeStdout(branchSummaryTsv(tree, ids, rec.totals));
  }
  const t = totalsOf(tree, rec.totals);
  console.error(
    `genecontent: ancestral: ${rec.nFamilies} families, ${tree.nTips} genomes, model ` +
      `${formatModel(model)} (values ${valuesFrom}); expected gains ${t.gains.toPrecision(6)}, ` +
      `losses ${t.losses.toPrecision(6)} over the tree${tableNote}; ${rec.backend} backend`,
  );
  return 0;
}

async function inputFile(role: string, path: string) {
  return inputRecord(role, path, await Deno.readFile(path));
}
