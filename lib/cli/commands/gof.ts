/**
 * `genecontent gof`: does the model fit? The observed gene-frequency spectrum against the one
 * the fitted model expects, Pearson's X^2 with its asymptotic and parametric-bootstrap p,
 * Roary's prevalence classes observed and expected (beside the mixture classes' posterior
 * shares for mixture models), and per-genome diagnostics of unique genes with the effect of
 * leaving flagged genomes out.
 *
 * @module
 */

import { checkFittedTree, readFitFile } from "../from_fit.ts";
import { GenecontentError } from "../../errors.ts";
import {
  type GenomeDiagnostics,
  genomeDiagnostics,
  type RefitComparison,
  refitWithout,
} from "../../diagnostics/genomes.ts";
import {
  PREVALENCE_CLASSES,
  PREVALENCE_TABLE,
  type PrevalenceClass,
  prevalenceClass,
} from "../../diagnostics/prevalence_classes.ts";
import { MIN_EXPECTED, prevalenceComparison, spectrumFit } from "../../diagnostics/spectrum.ts";
import { fitModel } from "../../fit/fit_model.ts";
import { modelObjective } from "../../fit/objective.ts";
import type { ModelLikelihood } from "../../likelihood/model_likelihood.ts";
import { refuseImpossible } from "../../likelihood/per_family.ts";
import { formatModel } from "../../model/description.ts";
import { namedValues, valuesFromNames } from "../../model/values.ts";
import { MISSING, PRESENT } from "../../pam/matrix.ts";
import { makeProvenance } from "../../provenance.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_CHOICE_HELP,
  MODEL_CHOICE_OPTIONS,
  modelOption,
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
import { planOutputs, printJson, toTsv } from "../output.ts";
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Options of `gof`. */
export const GOF_OPTIONS = {
  ...INPUT_OPTIONS,
  ...MODEL_CHOICE_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  "from-fit": { type: "string" },
  bootstrap: { type: "string" },
  seed: { type: "string" },
  "genomes-out": { type: "string" },
} as const;

/** Help text of `gof`. */
export const GOF_HELP = `genecontent gof: goodness of fit of a model to a PAM

Usage: genecontent gof --tree FILE --pam FILE [--model M | --from-fit FIT.json]
       [--bootstrap N [--seed S]] [--json] [--out FILE] [--genomes-out FILE]

Compares the gene-frequency spectrum (families present in k of their observed genomes, k in
the ascertainment window) with the one the model expects at its estimates (exact, per
missingness mask, conditioned on the window), by Pearson's X^2 over classes of k pooled to
expected counts >= ${MIN_EXPECTED}; the asymptotic p (chi-square with classes - 1 - fitted parameters
degrees of freedom) is approximate, the parametric-bootstrap p is not. Also counts Roary's
prevalence classes (core >= 99% of the observed genomes, soft core 95-99%, shell 15-95%, cloud
< 15%) in the data and under the model, and for each genome its families found only in it (and
in at most 2 or 3 genomes) against the model's expectation, with a z-score; genomes with
|z| >= 4 on their unique families are flagged and the model is refitted without them.
Rates are per unit branch length of the tree.

${MODEL_CHOICE_HELP}
                         (the model is fitted first, by maximum likelihood)
  --from-fit FIT.json    the model and estimates of 'genecontent fit --json' instead (not
                         with --model; a fit with --optimize-branch-lengths needs its fitted
                         tree as --tree)
${ASCERTAINMENT_HELP}
Bootstrap:
  --bootstrap N          also simulate N data sets under the fitted model (same tree, window
                         and missing cells), refit each and compare their X^2 with the data's
  --seed S               seed of the simulations (default 1; needs --bootstrap)
Genomes:
  --genomes-out FILE     write the per-genome table as TSV (genome, observedFamilies,
                         presentFamilies, then observed, expected, sd and z of singletons,
                         upTo2 and upTo3, and flag), with FILE.provenance.json; '-' for stdout
${INPUT_HELP}

Output: the spectrum table (k, observed, expected, pooled class) with the statistic and
p-values, the prevalence classes, the genome table (unique and up-to-3 families, observed /
expected and z) and the flagged genomes on stdout. --json: model, parameters (by name),
valuesFrom (fitted or fit file), logLik, spectrum (k, observed, expected, classes [{from, to,
observed, expected, contribution}], statisticName, statistic, nFitted, df, p, pConservative
(chi-square with classes - 1 degrees of freedom), pApproximate, bootstrapP, bootstrap
{replicates, seed, statistics, failed}), prevalence (thresholds, observed, expected, and for
mixtures byComponent: the posterior expected number of each class's families in each mixture
class), genomes (threshold, flagged, table), refit (parameters before and after leaving the
flagged genomes out, or null), backend and provenance.
--out FILE: the spectrum table as TSV (k, observed, expected, class).`;

/** Posterior expected families of each prevalence class in each mixture class. */
function classesByComponent(
  lik: ModelLikelihood,
  values: Float64Array,
): Record<PrevalenceClass, Record<string, number>> {
  const post = lik.evaluate(values, false, { posterior: true }).posterior!;
  const names = lik.componentNames;
  const out = Object.fromEntries(
    PREVALENCE_CLASSES.map((c) => [c, Object.fromEntries(names.map((n) => [n, 0]))]),
  ) as Record<PrevalenceClass, Record<string, number>>;
  const { nTips, nPatterns, states, weights } = lik.patterns;
  for (let p = 0; p < nPatterns; p++) {
    let k = 0, n = 0;
    for (let i = 0; i < nTips; i++) {
      const s = states[p * nTips + i];
      if (s === PRESENT) k++;
      if (s !== MISSING) n++;
    }
    if (n === 0) continue;
    const row = out[prevalenceClass(k, n)];
    names.forEach((name, c) => (row[name] += weights[p] * post[p * names.length + c]));
  }
  return out;
}

function genomeRows(d: GenomeDiagnostics) {
  return d.genomes.map((g) => ({
    genome: g.genome,
    observedFamilies: g.observedFamilies,
    presentFamilies: g.presentFamilies,
    singletons: g.singletons,
    upTo2: g.upTo2,
    upTo3: g.upTo3,
    flag: g.flag,
  }));
}

const fixed = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/**
 * Runs `gof` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { gofCommand } from "./gof.ts";
 * await gofCommand(["--tree", "t.nwk", "--pam", "p.tsv", "--model", "gamma4", "--json"]);
 * ```
 */
export async function gofCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, GOF_OPTIONS, "gof");
  if (v.help) {
    console.log(GOF_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
    ["from-fit", "model", "--from-fit gives the model"],
  ], "gof");
  if (v.seed !== undefined && v.bootstrap === undefined) {
    throw new GenecontentError("--seed seeds the simulations of --bootstrap: give --bootstrap N.");
  }
  const replicates = v.bootstrap === undefined
    ? null
    : numberOption(v.bootstrap, "--bootstrap", { min: 1, integer: true });
  const seed = numberOption(v.seed ?? "1", "--seed", { min: 0, integer: true });
  const settings = inputSettings(v, "gof");
  const fitPath = v["from-fit"];
  let fitFile: (ReturnType<typeof readFitFile> & { values: Float64Array }) | null = null;
  if (fitPath !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(fitPath);
    } catch (e) {
      throw new GenecontentError(
        `Cannot read --from-fit file '${fitPath}': ${e instanceof Error ? e.message : e}.`,
      );
    }
    const read = readFitFile(text, fitPath);
    fitFile = { ...read, values: valuesFromNames(read.model, read.named) };
  }
  const model = fitFile ? fitFile.model : modelOption(v);
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
    { flag: "--genomes-out", value: v["genomes-out"] },
  ], {
    inputs: {
      tree: settings.treePath,
      PAM: settings.pamPath,
      completeness: v.completeness,
      "fit result": fitPath,
    },
    force: v.force ?? false,
  });
  const { dataset, factory, pruned } = await prepare(settings);
  if (fitFile) {
    checkFittedTree(fitFile.fit, dataset.tree, fitPath!);
    const used = (fitFile.fit.provenance as { inputs?: { role?: string }[] } | undefined)?.inputs;
    if (used?.some((i) => i.role === "completeness") && v.completeness === undefined) {
      throw new GenecontentError(
        `--from-fit '${fitPath}' was fitted with per-genome completeness: pass the same ` +
          "--completeness FILE.",
      );
    }
  }
  const setup = await modelSetup(v, dataset, model);
  using lik = openSetupLikelihood(dataset, factory, setup, settings.treePath);
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  const progress = new ProgressLine();
  const name = formatModel(model);
  let values: Float64Array;
  let warnings: string[] = [];
  if (fitFile) values = fitFile.values;
  else {
    const fit = fitModel(modelObjective(lik), {
      level: null,
      onEvaluation: (stage, n) =>
        progress.update(`fit ${name}: ${stage}, ${n} likelihood evaluations`),
    });
    progress.done();
    warnings = fit.warnings;
    for (const w of warnings) console.error(`genecontent: warning: ${w}`);
    if (!Number.isFinite(fit.logLik)) {
      throw new Error(`The fit of ${name} ended with a non-finite log-likelihood ${fit.logLik}.`);
    }
    values = Float64Array.from(fit.values);
  }
  const logLik = lik.evaluate(values).logLik;
  if (!Number.isFinite(logLik)) {
    throw new GenecontentError(
      `Model ${name} at the given estimates has log-likelihood ${logLik} on these data: the ` +
        "fit file does not belong to this tree and PAM.",
    );
  }
  const completeness = setup.completeness;
  progress.update("gof: expected spectrum");
  const spectrum = spectrumFit(lik, values, {
    completeness,
    bootstrap: replicates === null ? undefined : {
      replicates,
      seed,
      factory,
      onReplicate: (done, total) => progress.update(`gof: bootstrap ${done}/${total}`),
    },
  });
  progress.update("gof: prevalence classes and genomes");
  const prevalence = prevalenceComparison(lik, values, { completeness });
  const byComponent = model.rates.kind === "mixture" ? classesByComponent(lik, values) : null;
  const genomes = genomeDiagnostics(lik, values, { completeness });
  let refit: RefitComparison | null = null;
  let refitRefused: string | null = null;
  if (genomes.flagged.length > 0) {
    try {
      refit = refitWithout(lik, values, genomes.flagged, {
        factory,
        completeness,
        onEvaluation: (stage, n) =>
          progress.update(`refit without flagged genomes: ${stage}, ${n} evaluations`),
      });
    } catch (e) {
      if (!(e instanceof GenecontentError)) throw e;
      refitRefused = e.message;
    }
  }
  progress.done();
  const named = namedValues(model, values);
  const result = {
    model: name,
    parameters: named,
    valuesFrom: fitFile ? "fit file" : "fitted",
    warnings,
    logLik,
    units: { rates: "per unit branch length", logLik: "natural log" },
    ascertainment: windowText(setup.window),
    minPresent: setup.window.minPresent,
    maxPresent: setup.window.maxPresent,
    nFamilies: dataset.patterns.familyNames.length,
    nGenomes: dataset.tree.nTips,
    spectrum,
    prevalence: {
      thresholds: PREVALENCE_TABLE,
      observed: prevalence.observed,
      expected: prevalence.expected,
      unobserved: prevalence.unobserved,
      byComponent,
    },
    genomes: {
      threshold: genomes.threshold,
      flagged: genomes.flagged,
      table: genomeRows(genomes),
    },
    refit: refit
      ? {
        dropped: refit.dropped,
        nGenomes: refit.nGenomes,
        nFamiliesBefore: refit.nFamiliesBefore,
        nFamiliesAfter: refit.nFamiliesAfter,
        logLik: refit.fit.logLik,
        converged: refit.fit.converged,
        parameters: refit.parameters,
      }
      : null,
    refitRefused,
    backend: lik.backend.name,
    threads: lik.backend.threads,
    pruned,
    provenance: makeProvenance({
      command: "gof",
      backend: lik.backend.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads: lik.backend.threads,
      inputs: setup.completenessInput
        ? [...dataset.inputs, setup.completenessInput]
        : dataset.inputs,
      options: {
        model: name,
        fromFit: fitPath ?? null,
        window: setup.window,
        bootstrap: replicates,
        seed: replicates === null ? null : seed,
        ...settings.load,
        backend: settings.backend,
        threads: settings.threads,
      },
    }),
  };
  const classOf = (k: number) => spectrum.classes.findIndex((c) => k >= c.from && k <= c.to) + 1;
  await plan.write(
    "--out",
    toTsv(
      ["k", "observed", "expected", "class"],
      spectrum.k.map((k, i) => [k, spectrum.observed[i], spectrum.expected[i], classOf(k)]),
    ),
    result,
  );
  const stat = (prefix: string) => [
    `${prefix}Observed`,
    `${prefix}Expected`,
    `${prefix}Sd`,
    `${prefix}Z`,
  ];
  await plan.write(
    "--genomes-out",
    toTsv(
      [
        "genome",
        "observedFamilies",
        "presentFamilies",
        ...stat("singletons"),
        ...stat("upTo2"),
        ...stat("upTo3"),
        "flag",
      ],
      genomes.genomes.map((g) => [
        g.genome,
        g.observedFamilies,
        g.presentFamilies,
        ...[g.singletons, g.upTo2, g.upTo3].flatMap((s) => [s.observed, s.expected, s.sd, s.z]),
        g.flag ?? "",
      ]),
    ),
    result,
  );
  if (v.json) {
    printJson(result);
    return 0;
  }
  const say = plan.stdoutTaken ? console.error : console.log;
  const lines = [
    `Gene-frequency spectrum, model ${name} (${result.valuesFrom} values; rates per unit branch ` +
    `length), ${result.nFamilies} families x ${result.nGenomes} genomes, ${result.ascertainment}`,
    "k\tobserved\texpected\tclass",
    ...spectrum.k.map((k, i) =>
      `${k}\t${spectrum.observed[i]}\t${fixed(spectrum.expected[i])}\t${classOf(k)}`
    ),
    `Pearson X2 ${fixed(spectrum.statistic)} over ${spectrum.classes.length} classes ` +
    `(expected >= ${MIN_EXPECTED}), df ${spectrum.df}, asymptotic p ${
      spectrum.p === null ? "n/a (df < 1)" : spectrum.p.toPrecision(3)
    } (approximate${
      spectrum.pConservative === null
        ? ""
        : `; ${spectrum.pConservative.toPrecision(3)} with df ${spectrum.classes.length - 1}`
    })` +
    (spectrum.bootstrapP === null
      ? ""
      : `, bootstrap p ${spectrum.bootstrapP.toPrecision(3)} (${
        spectrum.bootstrap!.statistics.length
      } replicates${
        spectrum.bootstrap!.failed.length ? `, ${spectrum.bootstrap!.failed.length} refused` : ""
      })`),
    "Prevalence classes (observed / expected):",
    ...PREVALENCE_TABLE.map((r) =>
      `  ${r.label.padEnd(10)} ${prevalence.observed[r.id]} / ${
        fixed(prevalence.expected[r.id], 1)
      }`
    ),
    "Genomes: families found only in the genome (unique) and in at most 3 genomes (upTo3), " +
    "observed / expected (z):",
    "genome\tunique\tupTo3\tflag",
    ...genomes.genomes.map((g) =>
      `${g.genome}\t${g.singletons.observed} / ${fixed(g.singletons.expected, 1)} (${
        fixed(g.singletons.z, 1)
      })\t${g.upTo3.observed} / ${fixed(g.upTo3.expected, 1)} (${fixed(g.upTo3.z, 1)})\t${
        g.flag ?? ""
      }`
    ),
    genomes.flagged.length === 0
      ? `No genome flagged (|z| of unique families >= ${genomes.threshold}).`
      : `Flagged genomes (|z| of unique families >= ${genomes.threshold}): ${
        genomes.genomes.filter((g) => g.flag).map((g) =>
          `${g.genome} (${g.flag}, ${g.singletons.observed} unique vs ${
            fixed(g.singletons.expected, 1)
          } expected, z ${fixed(g.singletons.z, 1)})`
        ).join(", ")
      }`,
    ...(refit
      ? [
        `Refit without them (${refit.nFamiliesAfter} of ${refit.nFamiliesBefore} families):`,
        ...refit.parameters.map((p) =>
          `  ${p.name}\t${p.before.toPrecision(5)} -> ${p.after.toPrecision(5)} (${
            (100 * p.relativeChange).toFixed(1)
          }%)`
        ),
      ]
      : refitRefused
      ? [`Refit without them refused: ${refitRefused}`]
      : []),
  ];
  say(lines.join("\n"));
  return 0;
}
