/**
 * `genecontent loglik`: the log-likelihood of a PAM on a tree under a model at given parameter
 * values, in total and per family (with each family's posterior component probabilities).
 *
 * @module
 */

import { readFamilySets } from "../../effects/inputs.ts";
import { GenecontentError } from "../../errors.ts";
import { ModelLikelihood } from "../../likelihood/model_likelihood.ts";
import type { EffectSetup } from "../../model/effects.ts";
import {
  familyCounts,
  perFamilyTable,
  refuseImpossible,
  refuseNonFinite,
} from "../../likelihood/per_family.ts";
import { formatModel, modelParameters } from "../../model/description.ts";
import { summarizeModel } from "../../model/summaries.ts";
import { namedValues } from "../../model/values.ts";
import { makeProvenance } from "../../provenance.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_HELP,
  MODEL_OPTIONS,
  modelOption,
  modelValuesOption,
} from "../model_options.ts";
import { modelSetup, refuseZeroLengthTree, windowText } from "../model_setup.ts";
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

/** Options of `loglik`. */
export const LOGLIK_OPTIONS = {
  ...INPUT_OPTIONS,
  ...MODEL_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  families: { type: "string" },
  theta: { type: "string" },
} as const;

/** Help text of `loglik`. */
export const LOGLIK_HELP =
  `genecontent loglik: log-likelihood of a PAM under a model at given values

Usage: genecontent loglik --tree FILE --pam FILE [--model M] --gain RATE --loss RATE [options]

Rates are per unit branch length of the tree; logLik is a natural logarithm. Every free
parameter of the model needs a value (e.g. gamma4: --gain, --loss, --alpha).

${MODEL_HELP}
Family-set effect:
  --families FILE        family sets: one family id per line (one set, named after the file),
                         or family<TAB>set rows (several sets; header 'family<TAB>set' allowed);
                         ids exactly as in the PAM. Needs --theta
  --theta T              the loss rate of every family in a set is multiplied by exp(T) on
                         every branch and at the root (T < 0: lost more slowly; write a
                         negative value as --theta=-0.7); needs --families
${ASCERTAINMENT_HELP}
${INPUT_HELP}

Output: logLik (total) on stdout. --json: logLik, model, parameters (by name), rates (the gamma
category rate multipliers, or null), components (name, weight, gain, loss, pi1, expected
events per family over the tree), expectedEventsPerFamily (unit-free), families (family,
present, observed, logLik, and posterior component probabilities for models with several
components), backend and provenance; with --families also theta, sets (name, families) and
each family's set (null when in none), without posteriors. --out FILE: a TSV with columns
family, present, observed (genomes with the family present / not missing), logLik, then one
posterior column per component (with --families: a set column instead).`;

/**
 * Runs `loglik` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { loglikCommand } from "./loglik.ts";
 * await loglikCommand(["--tree", "t.nwk", "--pam", "p.tsv", "--gain", "0.5", "--loss", "1", "--json"]);
 * ```
 */
export async function loglikCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, LOGLIK_OPTIONS, "loglik");
  if (v.help) {
    console.log(LOGLIK_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
  ], "loglik");
  if ((v.families === undefined) !== (v.theta === undefined)) {
    throw new GenecontentError(
      v.families === undefined
        ? "--theta multiplies the loss rate of the families of --families: give both, or neither."
        : "--families needs --theta, the log multiplier of the sets' loss rate (0: none).",
    );
  }
  const theta = v.theta === undefined ? null : numberOption(v.theta, "--theta");
  const settings = inputSettings(v, "loglik");
  const model = modelOption(v);
  const values = modelValuesOption(model, v);
  if (values === null) {
    throw new GenecontentError(
      `'genecontent loglik' needs the values of model ${formatModel(model)}'s parameters (${
        modelParameters(model).map((p) => p.name).join(", ")
      }); see --help.`,
    );
  }
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
  ], {
    inputs: {
      tree: settings.treePath,
      PAM: settings.pamPath,
      completeness: v.completeness,
      "family-set": v.families,
    },
    force: v.force ?? false,
  });
  const { dataset, factory, pruned } = await prepare(settings);
  const setup = await modelSetup(v, dataset, model);
  const familySets = v.families === undefined
    ? null
    : await readFamilySets(v.families, dataset.patterns.familyNames);
  const effects: EffectSetup | null = familySets
    ? {
      effects: [{
        name: "theta",
        description: "log multiplier of the loss rate of the families in the sets",
        channel: "loss",
        sets: familySets.groups.sets.map((_, s) => s),
        design: null,
      }],
      groups: familySets.groups,
    }
    : null;
  refuseZeroLengthTree(dataset, settings.treePath);
  using lik = new ModelLikelihood(
    dataset.tree,
    dataset.patterns,
    factory,
    model,
    setup.window,
    { completeness: setup.completeness, effects },
  );
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  const progress = new ProgressLine();
  const several = lik.componentNames.length > 1 && effects === null;
  const allValues = theta === null ? values : Float64Array.of(...values, theta);
  const value = await lik.evaluateAsync(allValues, false, {
    posterior: several,
    onProgress: (f) => progress.update(`loglik: ${(100 * f).toFixed(0)}%`),
  });
  progress.done();
  const named = namedValues(model, values);
  const at = Object.entries(named).map(([k, x]) => `${k} ${x}`).join(", ");
  const perFamily = value.perFamily;
  if (perFamily) {
    const bad = dataset.patterns.familyNames.filter((_, f) => !Number.isFinite(perFamily[f]));
    if (bad.length > 0) {
      throw new GenecontentError(
        `The log-likelihood of ${bad.length} famil${bad.length === 1 ? "y" : "ies"} (${
          bad.slice(0, 10).join(", ")
        }) is not finite at ${at}, theta ${theta}: their columns cannot arise on this tree at ` +
          "these rates.",
      );
    }
  } else refuseNonFinite(dataset.patterns, value.perPattern, `at ${at}`);
  if (!Number.isFinite(value.logLik)) {
    throw new Error(`Finite per-pattern values summed to ${value.logLik}.`);
  }
  const summary = summarizeModel(model, values, dataset.tree);
  const table = perFamily
    ? { family: dataset.patterns.familyNames, ...familyCounts(dataset.patterns), value: perFamily }
    : perFamilyTable(dataset.patterns, value.perPattern);
  const setOf = (f: number): string | null => {
    const s = familySets?.groups.ofFamily[f] ?? -1;
    return s < 0 ? null : familySets!.groups.sets[s];
  };
  const names = lik.componentNames;
  const posteriorOf = (f: number): Record<string, number> | undefined => {
    if (!value.posterior) return undefined;
    const p = dataset.patterns.familyPattern[f];
    return Object.fromEntries(names.map((c, k) => [c, value.posterior![p * names.length + k]]));
  };
  const families = table.family.map((family, f) => ({
    family,
    present: table.present[f],
    observed: table.observed[f],
    logLik: table.value[f],
    ...(familySets ? { set: setOf(f) } : {}),
    ...(several ? { posterior: posteriorOf(f) } : {}),
  }));
  const result = {
    logLik: value.logLik,
    model: formatModel(model),
    parameters: named,
    ...(familySets
      ? {
        theta,
        lossMultiplier: Math.exp(theta!),
        sets: familySets.groups.sets.map((name) => ({
          name,
          families: familySets.sizes[name],
        })),
      }
      : {}),
    ...(model.rates.kind === "single" ? { pi1: named.gain / (named.gain + named.loss) } : {}),
    rates: summary.categoryRates,
    components: summary.components,
    expectedEventsPerFamily: summary.expectedEventsPerFamily,
    treeLength: summary.treeLength,
    units: {
      rates: "per unit branch length",
      logLik: "natural log",
      expectedEventsPerFamily: "gains plus losses per family over the whole tree (unit-free)",
    },
    ascertainment: windowText(setup.window),
    minPresent: setup.window.minPresent,
    maxPresent: setup.window.maxPresent,
    nFamilies: table.family.length,
    nPatterns: dataset.patterns.nPatterns,
    nGenomes: dataset.tree.nTips,
    backend: lik.backend.name,
    threads: lik.backend.threads,
    pruned,
    families,
    provenance: makeProvenance({
      command: "loglik",
      backend: lik.backend.name,
      nativeLibrary: factory.libraryPath ?? null,
      threads: lik.backend.threads,
      inputs: [
        ...dataset.inputs,
        ...(setup.completenessInput ? [setup.completenessInput] : []),
        ...(familySets ? [familySets.input] : []),
      ],
      options: {
        model: formatModel(model),
        parameters: named,
        ...(familySets ? { theta, familySets: familySets.groups.sets } : {}),
        window: setup.window,
        ...settings.load,
        backend: settings.backend,
        threads: settings.threads,
      },
    }),
  };
  await plan.write(
    "--out",
    toTsv(
      [
        "family",
        "present",
        "observed",
        "logLik",
        ...(familySets ? ["set"] : []),
        ...(several ? names : []),
      ],
      families.map((f, i) => [
        f.family,
        f.present,
        f.observed,
        f.logLik,
        ...(familySets ? [setOf(i)] : []),
        ...(several ? names.map((c) => f.posterior![c]) : []),
      ]),
    ),
    result,
  );
  if (v.json) printJson(result);
  else {
    (plan.stdoutTaken ? console.error : console.log)(
      `logLik ${value.logLik} (natural log; ${table.family.length} families, ` +
        `${dataset.tree.nTips} genomes, model ${formatModel(model)} at ${at}${
          familySets ? `, theta ${theta} on the loss of ${familySets.groups.sets.join(", ")}` : ""
        } (rates per unit ` +
        "branch length), " +
        `${result.ascertainment}, ${lik.backend.name} backend)`,
    );
  }
  return 0;
}
