/**
 * `genecontent retention`: are the families of a set retained longer (lost more slowly), or
 * gained more often, than the rest? A likelihood-ratio test of a family-set effect on a
 * background model (`lib/effects/likelihood_ratio.ts`), optionally restricted to a clade (set x
 * lineage: is the set's rate different in that clade, beyond the clade's change for every
 * family?).
 *
 * @module
 */

import {
  type BranchClasses,
  branchClasses,
  type CladeDesign,
  cladeDesign,
  classDesign,
  type LineageDesign,
} from "../../effects/branches.ts";
import { type FamilySets, readFamilySets, readMetadataTable } from "../../effects/inputs.ts";
import {
  type Alternative,
  contrast,
  type EffectEstimate,
  type EffectPart,
  type EffectTestResult,
  type PartsTestResult,
  testEffectParts,
} from "../../effects/likelihood_ratio.ts";
import { type RandomSetCalibration, randomSetCalibration } from "../../effects/random_sets.ts";
import { GenecontentError } from "../../errors.ts";
import { ModelLikelihood } from "../../likelihood/model_likelihood.ts";
import type { ModelFit } from "../../fit/fit_model.ts";
import { refuseImpossible } from "../../likelihood/per_family.ts";
import type { Dataset } from "../../load_dataset.ts";
import { formatModel, type ModelDescription, parseModel } from "../../model/description.ts";
import type { Effect, EffectChannel, EffectSetup, FamilyGroups } from "../../model/effects.ts";
import { type InputRecord, makeProvenance } from "../../provenance.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_CHOICE_OPTIONS,
} from "../model_options.ts";
import { type ModelSetup, modelSetup, refuseZeroLengthTree, windowText } from "../model_setup.ts";
import {
  choiceOption,
  INPUT_HELP,
  INPUT_OPTIONS,
  inputSettings,
  numberOption,
  parseCommandLine,
  refuseConflicts,
} from "../options.ts";
import { planOutputs, printJson, toTsv } from "../output.ts";
import { prepare, type Prepared } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";
import { nodeIds } from "../../ancestral/node_ids.ts";

const { out: _out, ...INPUT_WITHOUT_OUT } = INPUT_OPTIONS;

/** Options shared by the effect commands (retention, lineage). */
export const EFFECT_COMMON_OPTIONS = {
  ...INPUT_WITHOUT_OUT,
  ...MODEL_CHOICE_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  "out-tsv": { type: "string" },
  effect: { type: "string" },
  alternative: { type: "string" },
  level: { type: "string" },
  bootstrap: { type: "string" },
  seed: { type: "string" },
} as const;

/** Options of `retention`. */
export const RETENTION_OPTIONS = {
  ...EFFECT_COMMON_OPTIONS,
  families: { type: "string" },
  clade: { type: "string" },
  node: { type: "string" },
  stem: { type: "boolean" },
  classes: { type: "string" },
  column: { type: "string" },
  class: { type: "string" },
  "random-sets": { type: "string" },
} as const;

/** The input help with `--out-tsv` in place of `--out`. */
export const EFFECT_INPUT_HELP: string = INPUT_HELP
  .replace(
    / {2}--out FILE {13}write the result table as TSV to FILE/,
    "  --out-tsv FILE         write the result table as TSV to FILE",
  )
  .replace("let --out (and its", "let --out-tsv (and its");

/** Help of the model, effect, test and bootstrap options shared by the effect commands. */
export const EFFECT_COMMON_HELP = `Background model (rates are per unit branch length of the tree):
  --model NAME           gamma4 (default), null, gammaK, mixtureK, each optionally +inv
                         and/or +error (e.g. gamma4+inv): the rates every family shares,
                         which the effects multiply
  --completeness FILE    TSV genome<TAB>completeness in (0, 1] (e.g. CheckM)
Effects and test:
  --effect WHICH         loss (default), gain, or both (one effect on each rate, tested
                         jointly with 2 degrees of freedom)
  --alternative A        two-sided (default), less (theta < 0) or greater (theta > 0); one-sided
                         tests use the 50:50 chi-bar-square reference and need one effect per
                         test
  --level P              level of the profile-likelihood intervals, 0 < P < 1 (default 0.95)
  --bootstrap N          also a parametric bootstrap of the test: N data sets simulated under
                         the fitted null model (same tree, window and missing cells), both
                         models refitted on each; p_boot = (1 + #{LRT* >= LRT}) / (1 + N);
                         with several sets or effects, for the joint test only
  --seed S               seed of the bootstrap simulations (default 1)
${ASCERTAINMENT_HELP}`;

/** Help text of `retention`. */
export const RETENTION_HELP =
  `genecontent retention: are a family set's genes retained longer (or gained more) than the rest?

Usage: genecontent retention --tree FILE --pam FILE --families FILE [--model M]
         [--effect loss|gain|both] [--alternative less|greater|two-sided] [--bootstrap N --seed S]
         [--clade TAXA | --node LABEL [--stem] | --classes FILE --column C --class NAME]
         [--random-sets N] [--json] [--out-tsv FILE]

Each family of a set has the background model's rates (per unit branch length) with its loss
(or gain) rate multiplied by exp(theta), on every branch and at the root. theta = 0 is no
effect. On loss, exp(theta) < 1 means the set's genes are lost more slowly, i.e. retained
longer; exp(theta) > 1 means lost faster. On gain, exp(theta) > 1 means gained more often.
The test compares the background model (null) with the background plus the set effects
(alternative), both fitted by maximum likelihood: LRT = 2 (logLik_alt - logLik_null), chi2 with
one degree of freedom per tested effect, or chi-bar-square for a one-sided alternative.
Retained longer: --effect loss --alternative less.

The chi2 reference holds when the background model describes the families. Real pangenomes
vary more than any background (rate classes, mobile elements), and then even random sets of
families get large LRTs: so each set is also compared with random sets of the same size from
the same PAM (pRandomSets), which needs no such assumption. Report pRandomSets when
randomSets.asymptoticRejection (the share of random sets chi2 calls significant at 5%) is well
above 0.05.

Family sets:
  --families FILE        one family id per line (one set, named after the file's base name),
                         or family<TAB>set rows (several disjoint sets, each tested on its own
                         with the other sets' effects in both models, and all jointly, the
                         joint test two-sided; a header 'family<TAB>set' is allowed); ids
                         exactly as in the PAM; '#' lines and blank lines are skipped
Set x lineage (is the set's rate different in a lineage, beyond the lineage's own change?):
  --clade TAXA           the clade of the most recent common ancestor of these genomes
                         (comma-separated tip names)
  --node LABEL           the clade below this node: an internal label (unique, not a number)
                         or a node id (node<i>) as 'genecontent ancestral' writes them
  --stem                 include the clade's stem branch (the branch above its ancestor)
  --classes FILE         branch classes, as for 'genecontent lineage --classes' (a TSV with a
                         header naming genomes, the internal nodes reconstructed by joint
                         maximum likelihood under the equal-rates Mk model, or naming every
                         branch by node id); needs --column and --class
  --column C             the column of --classes, by its header name
  --class NAME           the class whose branches are the lineage
                         With a lineage, the models hold each set's effect everywhere and the
                         lineage's effect on every family; the tested effect (contrast) is the
                         set's extra log multiplier on the lineage's branches.
Random sets (for each set tested alone, on one rate, without a lineage):
  --random-sets N        compare the set with N random sets of as many families (default
                         999; 0: none): the statistic is the LRT with the background held at
                         its fit to all families; pRandomSets = (1 + #{random >= set's}) /
                         (1 + N); drawn with --seed (default 1)
${EFFECT_COMMON_HELP}
${EFFECT_INPUT_HELP}

Output (text, or --json): model, effect, alternative, and for one set: theta (the tested
effect's maximum-likelihood log multiplier; with --effect both, {gain, loss}), thetaCI (its
profile-likelihood interval at --level; an open end is flagged in effects), multiplier
(exp(theta)) and multiplierCI, p (asymptotic p-value), reference (chi2(k) or chibar2(0,1)),
lrt, df, bootstrapP (or null), logLikNull, logLikAlt (maximised natural-log likelihoods), aic
and bic ({null, alt}), nFamiliesInSet; sets: one entry per set (name, nFamilies, theta,
thetaCI, multiplier, multiplierCI, p, lrt, df, reference); joint: the test of every set
together (lrt, df, p, reference, bootstrapP); effects: every fitted effect (name, channel,
tested, estimate, interval, open, multiplier, multiplierInterval, description); background: the
alternative's background parameters; clade (with --clade/--node: mrca, stem, tips, branches);
branchClass (with --classes: class, column, source, rule, classes, branches);
randomSets (per set, or null: draws, lrt and theta with the background fixed, p, exceed,
quantiles {q50, q95, q99} of the random sets' LRTs, asymptoticRejection), and for one set
pRandomSets; nFamilies, nGenomes, backend, provenance. --out-tsv FILE: one row per effect with columns set,
effect, channel, tested, estimate, lower, upper, multiplier, multiplierLower,
multiplierUpper, p, lrt, df, reference, nFamilies, pRandomSets (p, lrt, df, reference and
pRandomSets are those of the set's test, NA for effects that are not tested).`;

/** What a family-set analysis is asked: the sets, the rates and an optional clade. */
export interface RetentionDesign {
  /** The family sets. */
  readonly groups: FamilyGroups;
  /** The rates the effects multiply. */
  readonly channels: readonly EffectChannel[];
  /** A lineage (a clade, a class of branches) for set x lineage, or null. */
  readonly clade: LineageDesign | null;
}

/** The name of a set effect: `theta`, `thetaLoss`, `theta[set]`, `contrastGain[set]`, ... */
function effectName(
  kind: "theta" | "contrast" | "lineage",
  channel: EffectChannel,
  both: boolean,
  set: string | null,
): string {
  const c = both ? (channel === "gain" ? "Gain" : "Loss") : "";
  return `${kind}${c}${set === null ? "" : `[${set}]`}`;
}

/**
 * The effects of a family-set analysis and the parts to test (one per set): each set's effect
 * on each channel; with a clade, also the clade's effect on every family and the set's contrast
 * on the clade's branches, which is then what is tested.
 *
 * @example
 * ```ts
 * import { retentionEffects } from "./retention.ts";
 * import { familyGroups } from "../../model/effects.ts";
 * const groups = familyGroups(["a", "b", "c"], new Map([["core", ["a"]]]));
 * const { setup, parts } = retentionEffects({ groups, channels: ["loss"], clade: null });
 * console.assert(setup.effects[0].name === "theta" && parts[0].tested[0] === "theta");
 * ```
 */
export function retentionEffects(
  design: RetentionDesign,
): { setup: EffectSetup; parts: EffectPart[] } {
  const { groups, channels, clade } = design;
  const both = channels.length > 1;
  const single = groups.sets.length === 1;
  const effects: Effect[] = [];
  const parts: EffectPart[] = [];
  groups.sets.forEach((set, s) => {
    const tested: string[] = [];
    for (const channel of channels) {
      const main = effectName("theta", channel, both, single ? null : set);
      effects.push({
        name: main,
        description: `log multiplier of the ${channel} rate of set '${set}' on every branch and ` +
          "at the root",
        channel,
        sets: [s],
        design: null,
      });
      if (clade) {
        const name = effectName("contrast", channel, both, single ? null : set);
        effects.push(contrast(groups, set, channel, clade, name));
        tested.push(name);
      } else tested.push(main);
    }
    parts.push({ label: set, tested });
  });
  if (clade) {
    for (const channel of channels) {
      effects.push({
        name: effectName("lineage", channel, both, null),
        description: `log multiplier of the ${channel} rate of every family on the branches of ` +
          `the ${clade.description}`,
        channel,
        sets: null,
        design: clade.design,
      });
    }
  }
  return { setup: { effects, groups }, parts };
}

/** Parsed values of {@linkcode EFFECT_COMMON_OPTIONS}. */
export interface CommonValues {
  /** `--model`. */
  model?: string;
  /** `--effect`. */
  effect?: string;
  /** `--alternative`. */
  alternative?: string;
  /** `--level`. */
  level?: string;
  /** `--bootstrap`. */
  bootstrap?: string;
  /** `--seed`. */
  seed?: string;
}

/** The settings of the options every effect command shares. */
export interface EffectCommandSettings {
  /** The background model. */
  readonly model: ModelDescription;
  /** The rates the effects multiply. */
  readonly channels: readonly EffectChannel[];
  /** The alternative. */
  readonly alternative: Alternative;
  /** The intervals' level. */
  readonly level: number;
  /** The bootstrap, or null. */
  readonly bootstrap: { readonly replicates: number; readonly seed: number } | null;
}

/** Reads the options every effect command shares. */
export function effectCommandSettings(
  v: CommonValues,
  given: ReadonlySet<string>,
  randomSets = false,
): EffectCommandSettings {
  // In `retention`, --seed also draws the random sets (on by default).
  if (given.has("seed") && !given.has("bootstrap") && !randomSets) {
    throw new GenecontentError("--seed seeds the bootstrap simulations: give --bootstrap N too.");
  }
  const effect = choiceOption(v.effect ?? "loss", "--effect", ["loss", "gain", "both"]);
  const channels: EffectChannel[] = effect === "both" ? ["gain", "loss"] : [effect];
  const alternative = choiceOption<Alternative>(v.alternative ?? "two-sided", "--alternative", [
    "two-sided",
    "less",
    "greater",
  ]);
  if (alternative !== "two-sided" && channels.length > 1) {
    throw new GenecontentError(
      `--alternative ${alternative} is one-sided, for one effect; --effect both tests two ` +
        "(gain and loss) jointly. Use --alternative two-sided, or --effect loss or gain.",
    );
  }
  return {
    model: parseModel(v.model ?? "gamma4"),
    channels,
    alternative,
    level: numberOption(v.level ?? "0.95", "--level", { min: 0, max: 0.9999, exclusiveMin: true }),
    bootstrap: v.bootstrap === undefined ? null : {
      replicates: numberOption(v.bootstrap, "--bootstrap", { min: 1, integer: true }),
      seed: numberOption(v.seed ?? "1", "--seed", { integer: true }),
    },
  };
}

/** `--random-sets N` (default 999) and the `--seed` that draws them (default 1). */
export function randomSetsOption(
  v: { readonly "random-sets"?: string; readonly seed?: string },
): { draws: number; seed: number } {
  return {
    draws: numberOption(v["random-sets"] ?? "999", "--random-sets", { min: 0, integer: true }),
    seed: numberOption(v.seed ?? "1", "--seed", { integer: true }),
  };
}

/** An effect estimate as outputs show it. */
export type EffectJson = Omit<EffectEstimate, "description"> & { readonly description: string };

/** A test as outputs show it. */
export interface TestJson {
  /** The statistic. */
  readonly lrt: number;
  /** Its degrees of freedom (tested effects). */
  readonly df: number;
  /** The asymptotic p-value. */
  readonly p: number;
  /** The reference distribution. */
  readonly reference: string;
  /** The alternative. */
  readonly alternative: Alternative;
  /** The bootstrap p-value, or null. */
  readonly bootstrapP: number | null;
  /** The null's maximised log-likelihood. */
  readonly logLikNull: number;
  /** The alternative's maximised log-likelihood. */
  readonly logLikAlt: number;
  /** AIC of both models. */
  readonly aic: { readonly null: number; readonly alt: number };
  /** BIC of both models. */
  readonly bic: { readonly null: number; readonly alt: number };
}

/** An effect estimate as outputs show it. */
export function effectJson(e: EffectEstimate): EffectJson {
  return {
    name: e.name,
    channel: e.channel,
    tested: e.tested,
    estimate: e.estimate,
    interval: e.interval,
    open: e.open,
    multiplier: e.multiplier,
    multiplierInterval: e.multiplierInterval,
    description: e.description,
  };
}

/** A test as outputs show it. */
export function testJson(r: EffectTestResult): TestJson {
  return {
    lrt: r.lrt,
    df: r.df,
    p: r.p,
    reference: r.reference,
    alternative: r.alternative,
    bootstrapP: r.bootstrapP,
    logLikNull: r.nullFit.logLik,
    logLikAlt: r.altFit.logLik,
    aic: r.aic,
    bic: r.bic,
  };
}

/** The background parameters of a fit (every parameter that is not an effect). */
export function backgroundJson(fit: ModelFit): Record<string, number> {
  return Object.fromEntries(
    fit.parameters.filter((p) => p.kind !== "effect" && p.kind !== "derived").map((p) => [
      p.name,
      p.estimate,
    ]),
  );
}

/** The data of an effect command: loaded, checked, with its model setup. */
export async function prepareEffectData(
  v: Parameters<typeof inputSettings>[0] & Parameters<typeof modelSetup>[0],
  command: string,
  model: ModelDescription,
): Promise<Prepared & { setup: ModelSetup; treePath: string; load: Record<string, unknown> }> {
  const settings = inputSettings(v, command);
  const prepared = await prepare(settings);
  const setup = await modelSetup(v, prepared.dataset, model);
  refuseZeroLengthTree(prepared.dataset, settings.treePath);
  refuseImpossible(prepared.dataset.tree, prepared.dataset.patterns, settings.treePath);
  return {
    ...prepared,
    setup,
    treePath: settings.treePath,
    load: { ...settings.load, backend: settings.backend, threads: settings.threads },
  };
}

/** The lineage of a set x lineage analysis: a clade, or one class of branches. */
export type RetentionLineage =
  | { readonly kind: "clade"; readonly design: CladeDesign }
  | {
    readonly kind: "class";
    readonly design: LineageDesign & { readonly class: string };
    readonly classes: BranchClasses;
    readonly column: string;
  };

/**
 * The lineage of `--clade`, `--node` (with `--stem`) or `--classes`/`--column`/`--class` on the
 * dataset's tree, with the class file's record; null without any.
 *
 * @example
 * ```ts ignore
 * import { retentionLineage } from "./retention.ts";
 * const { lineage } = await retentionLineage({ node: "n1", stem: true }, dataset);
 * ```
 */
export async function retentionLineage(
  v: {
    clade?: string;
    node?: string;
    stem?: boolean;
    classes?: string;
    column?: string;
    class?: string;
  },
  dataset: Dataset,
): Promise<{ lineage: RetentionLineage | null; input: InputRecord | null }> {
  if (v.clade !== undefined || v.node !== undefined) {
    const spec = v.clade !== undefined ? { taxa: v.clade.split(",") } : { node: v.node! };
    return {
      lineage: { kind: "clade", design: cladeDesign(dataset.tree, spec, v.stem ?? false) },
      input: null,
    };
  }
  if (v.classes === undefined) return { lineage: null, input: null };
  if (v.column === undefined || v.class === undefined) {
    throw new GenecontentError("--classes needs --column C and --class NAME.");
  }
  const read = await readMetadataTable(v.classes, v.column, "classes");
  const classes = branchClasses(dataset.tree, read.table, dataset.droppedTips);
  return {
    lineage: {
      kind: "class",
      design: classDesign(dataset.tree, classes, v.class),
      classes,
      column: v.column,
    },
    input: read.input,
  };
}

/** The result of a retention analysis, as the command line writes it. */
export interface RetentionReport {
  /** The tests. */
  readonly tests: PartsTestResult;
  /** The effects' setup. */
  readonly setup: EffectSetup;
  /** The JSON result (without provenance). */
  readonly json: Record<string, unknown>;
  /** The TSV rows (header first). */
  readonly tsv: { header: string[]; rows: (string | number | null)[][] };
}

/**
 * The family-set analysis behind `genecontent retention` and `scripts/retention.ts`: the
 * effects of {@linkcode retentionEffects}, each set's test and the joint test, as JSON and TSV.
 *
 * @example
 * ```ts ignore
 * import { retentionAnalysis } from "./retention.ts";
 * const report = await retentionAnalysis(dataset, factory, setup, familySets, settings, null);
 * console.log(report.json.theta, report.json.p);
 * ```
 */
export async function retentionAnalysis(
  dataset: Dataset,
  factory: Prepared["factory"],
  modelSetupValue: ModelSetup,
  familySets: FamilySets,
  settings: EffectCommandSettings,
  lineage: RetentionLineage | null,
  onProgress: (stage: string) => void = () => {},
  randomSets: { readonly draws: number; readonly seed: number } = { draws: 0, seed: 1 },
): Promise<RetentionReport> {
  const clade = lineage?.kind === "clade" ? lineage.design : null;
  const { setup, parts } = retentionEffects({
    groups: familySets.groups,
    channels: settings.channels,
    clade: lineage?.design ?? null,
  });
  const tests = await testEffectParts(
    {
      tree: dataset.tree,
      patterns: dataset.patterns,
      factory,
      window: modelSetupValue.window,
      completeness: modelSetupValue.completeness,
    },
    settings.model,
    setup,
    parts,
    {
      alternative: settings.alternative,
      level: settings.level,
      bootstrap: settings.bootstrap,
      onProgress,
    },
  );
  const estimates = new Map(tests.joint.effects.map((e) => [e.name, e]));
  const both = settings.channels.length > 1;
  // Random sets: each set alone on one rate, against the background fitted to all families
  // (the joint test's null, which holds no set effect).
  const random: (RandomSetCalibration | null)[] = parts.map(() => null);
  if (randomSets.draws > 0 && !both && lineage === null) {
    onProgress("random sets");
    using background = new ModelLikelihood(
      dataset.tree,
      dataset.patterns,
      factory,
      settings.model,
      modelSetupValue.window,
      { completeness: modelSetupValue.completeness },
    );
    const nBase = background.parameters.length;
    const values = tests.joint.nullFit.values.subarray(0, nBase);
    parts.forEach((part, i) => {
      const s = familySets.groups.sets.indexOf(part.label);
      const members: number[] = [];
      familySets.groups.ofFamily.forEach((g, f) => {
        if (g === s) members.push(f);
      });
      random[i] = randomSetCalibration(background, values, Int32Array.from(members), {
        channel: settings.channels[0],
        alternative: settings.alternative,
        draws: randomSets.draws,
        seed: randomSets.seed + i,
      });
    });
  }
  const ids = nodeIds(dataset.tree);
  const sets = parts.map((part, i) => {
    const r = tests.parts[i].result;
    const tested = part.tested.map((n) => estimates.get(n)!);
    const byChannel = <T>(f: (e: EffectEstimate) => T) =>
      both ? Object.fromEntries(tested.map((e) => [e.channel, f(e)])) : f(tested[0]);
    return {
      name: part.label,
      nFamilies: familySets.sizes[part.label],
      theta: byChannel((e) => e.estimate),
      thetaCI: byChannel((e) => e.interval),
      multiplier: byChannel((e) => e.multiplier),
      multiplierCI: byChannel((e) => e.multiplierInterval),
      ...testJson(r),
      randomSets: random[i],
    };
  });
  const first = sets[0];
  const json: Record<string, unknown> = {
    model: formatModel(settings.model),
    effect: both ? "both" : settings.channels[0],
    alternative: settings.alternative,
    ...(sets.length === 1
      ? {
        theta: first.theta,
        thetaCI: first.thetaCI,
        multiplier: first.multiplier,
        multiplierCI: first.multiplierCI,
        p: first.p,
        reference: first.reference,
        lrt: first.lrt,
        df: first.df,
        bootstrapP: first.bootstrapP,
        logLikNull: first.logLikNull,
        logLikAlt: first.logLikAlt,
        aic: first.aic,
        bic: first.bic,
        nFamiliesInSet: first.nFamilies,
        pRandomSets: random[0]?.p ?? null,
      }
      : {}),
    sets,
    joint: testJson(tests.joint),
    effects: tests.joint.effects.map(effectJson),
    background: backgroundJson(tests.joint.altFit),
    converged: tests.joint.altFit.converged && tests.joint.nullFit.converged,
    warnings: [...tests.joint.nullFit.warnings, ...tests.joint.altFit.warnings],
    level: settings.level,
    clade: clade
      ? {
        mrca: ids[clade.mrca],
        stem: clade.stem,
        tips: clade.tips,
        branches: clade.branches.map((v) => ids[v]),
        description: clade.description,
      }
      : null,
    branchClass: lineage?.kind === "class"
      ? {
        class: lineage.design.class,
        column: lineage.column,
        source: lineage.classes.source,
        rule: lineage.classes.rule,
        classes: lineage.classes.classes,
        branches: lineage.design.branches.map((v) => ids[v]),
        description: lineage.design.description,
      }
      : null,
    interpretation: settings.channels.includes("loss")
      ? "exp(theta) < 1 on loss: the set's genes are lost more slowly (retained longer) than " +
        "the background; > 1: lost faster"
      : "exp(theta) > 1 on gain: the set's genes are gained more often than the background",
    units: { rates: "per unit branch length", logLik: "natural log", theta: "log multiplier" },
    ascertainment: windowText(modelSetupValue.window),
    nFamilies: dataset.patterns.familyNames.length,
    nGenomes: dataset.tree.nTips,
  };
  const setOfEffect = new Map<string, number>();
  parts.forEach((part, i) => {
    for (const e of setup.effects) {
      if (e.sets?.length === 1 && familySets.groups.sets[e.sets[0]] === part.label) {
        setOfEffect.set(e.name, i);
      }
    }
  });
  const rows = tests.joint.effects.map((e) => {
    const i = setOfEffect.get(e.name);
    const r = e.tested && i !== undefined ? tests.parts[i].result : null;
    return [
      i === undefined ? null : parts[i].label,
      e.name,
      e.channel,
      String(e.tested),
      e.estimate,
      e.interval?.[0] ?? null,
      e.interval?.[1] ?? null,
      e.multiplier,
      e.multiplierInterval?.[0] ?? null,
      e.multiplierInterval?.[1] ?? null,
      r?.p ?? null,
      r?.lrt ?? null,
      r?.df ?? null,
      r?.reference ?? null,
      i === undefined ? null : familySets.sizes[parts[i].label],
      r && i !== undefined ? random[i]?.p ?? null : null,
    ];
  });
  return {
    tests,
    setup,
    json,
    tsv: {
      header: [
        "set",
        "effect",
        "channel",
        "tested",
        "estimate",
        "lower",
        "upper",
        "multiplier",
        "multiplierLower",
        "multiplierUpper",
        "p",
        "lrt",
        "df",
        "reference",
        "nFamilies",
        "pRandomSets",
      ],
      rows,
    },
  };
}

const g = (
  x: number | null | undefined,
) => (x === null || x === undefined ? "NA" : x.toPrecision(4));

/** The plain-text summary of effect estimates and tests. */
export function formatEffectsText(
  title: string,
  effects: readonly EffectEstimate[],
  tests: readonly { label: string; result: EffectTestResult }[],
  level: number,
): string {
  const pct = `${Number((level * 100).toPrecision(6))}%`;
  const rows = [[
    "effect",
    "channel",
    "estimate",
    `${pct} lower`,
    `${pct} upper`,
    "multiplier",
    "tested",
  ]];
  for (const e of effects) {
    rows.push([
      e.name,
      e.channel,
      g(e.estimate),
      g(e.interval?.[0]) + (e.open[0] ? " (open)" : ""),
      g(e.interval?.[1]) + (e.open[1] ? " (open)" : ""),
      g(e.multiplier),
      e.tested ? "yes" : "no (in both models)",
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const testLines = tests.map(({ label, result: r }) =>
    `# test ${label}: LRT ${r.lrt.toFixed(4)}, df ${r.df}, ${r.reference}, ${r.alternative}, ` +
    `p ${r.p.toPrecision(4)}${r.bootstrapP === null ? "" : `, bootstrap p ${r.bootstrapP}`}; ` +
    `logLik null ${r.nullFit.logLik.toFixed(4)}, alternative ${r.altFit.logLik.toFixed(4)}; ` +
    `AIC ${r.aic.null.toFixed(2)} vs ${r.aic.alt.toFixed(2)}, BIC ${r.bic.null.toFixed(2)} vs ` +
    `${r.bic.alt.toFixed(2)}`
  );
  return [`# ${title}`, ...lines, ...testLines].join("\n");
}

/**
 * Runs `retention` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { retentionCommand } from "./retention.ts";
 * await retentionCommand(["--tree", "t.nwk", "--pam", "p.tsv", "--families", "core.txt", "--json"]);
 * ```
 */
export async function retentionCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, RETENTION_OPTIONS, "retention");
  if (v.help) {
    console.log(RETENTION_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
    ["clade", "node", "give the clade once: by its taxa or by its node"],
    ["clade", "classes", "give one lineage"],
    ["node", "classes", "give one lineage"],
  ], "retention");
  if (v.families === undefined) {
    throw new GenecontentError("'genecontent retention' needs --families FILE (see --help).");
  }
  if (v.stem && v.clade === undefined && v.node === undefined) {
    throw new GenecontentError("--stem belongs to a clade: give --clade TAXA or --node LABEL.");
  }
  const classOptions = ["classes", "column", "class"].filter((k) => given.has(k));
  if (classOptions.length > 0 && classOptions.length < 3) {
    throw new GenecontentError(
      "A branch-class lineage needs --classes FILE, --column C and --class NAME together; got " +
        `${classOptions.map((k) => `--${k}`).join(", ")}.`,
    );
  }
  const settings = effectCommandSettings(v, given, true);
  const random = randomSetsOption(v);
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out-tsv", value: v["out-tsv"] },
  ], {
    inputs: {
      tree: v.tree,
      PAM: v.pam,
      completeness: v.completeness,
      "family-set": v.families,
      classes: v.classes,
    },
    force: v.force ?? false,
  });
  const data = await prepareEffectData(v, "retention", settings.model);
  const { dataset, factory } = data;
  const familySets = await readFamilySets(v.families, dataset.patterns.familyNames);
  const { lineage, input: classesInput } = await retentionLineage(v, dataset);
  const progress = new ProgressLine();
  const report = await retentionAnalysis(
    dataset,
    factory,
    data.setup,
    familySets,
    settings,
    lineage,
    (stage) => progress.update(`retention: ${stage}`),
    random,
  );
  progress.done();
  const backend = factory.name;
  const result = {
    ...report.json,
    backend,
    pruned: data.pruned,
    provenance: makeProvenance({
      command: "retention",
      backend,
      nativeLibrary: factory.libraryPath ?? null,
      threads: data.load.threads as number,
      inputs: [
        ...dataset.inputs,
        ...(data.setup.completenessInput ? [data.setup.completenessInput] : []),
        familySets.input,
        ...(classesInput ? [classesInput] : []),
      ],
      options: {
        model: formatModel(settings.model),
        effect: report.json.effect,
        alternative: settings.alternative,
        level: settings.level,
        bootstrap: settings.bootstrap,
        randomSets: random.draws,
        window: data.setup.window,
        clade: v.clade ?? null,
        node: v.node ?? null,
        stem: v.stem ?? false,
        classes: v.classes === undefined ? null : { column: v.column, class: v.class },
        ...data.load,
      },
    }),
  };
  for (const w of report.json.warnings as string[]) console.error(`genecontent: warning: ${w}`);
  await plan.write("--out-tsv", toTsv(report.tsv.header, report.tsv.rows), result);
  if (v.json) printJson(result);
  else {
    const say = plan.stdoutTaken ? console.error : console.log;
    const tests = report.tests.parts.length > 1
      ? [...report.tests.parts, { label: "all sets jointly", result: report.tests.joint }]
      : report.tests.parts;
    say(formatEffectsText(
      `genecontent retention: model ${formatModel(settings.model)}, ` +
        `${familySets.groups.sets.length} set(s) (${
          familySets.groups.sets.map((s) => `${s}: ${familySets.sizes[s]}`).join(", ")
        }) of ${dataset.patterns.familyNames.length} families x ${dataset.tree.nTips} genomes, ` +
        `${windowText(data.setup.window)}; ${report.json.interpretation}`,
      report.tests.joint.effects,
      tests,
      settings.level,
    ));
    for (const set of report.json.sets as { name: string; randomSets: RandomSetCalibration }[]) {
      const r = set.randomSets;
      if (!r) continue;
      say(
        `# random sets for ${set.name}: LRT ${r.lrt.toFixed(4)} with the background fixed ` +
          `(theta ${r.theta.toFixed(4)}), reached by ${r.exceed} of ${r.draws} random sets of ` +
          `as many families: pRandomSets ${r.p.toPrecision(4)}; ${
            (100 * r.asymptoticRejection).toFixed(1)
          }% of random sets pass chi2's 5% level`,
      );
    }
  }
  return 0;
}
