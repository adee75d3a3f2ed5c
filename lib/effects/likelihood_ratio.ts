/**
 * Likelihood-ratio tests of effects (`lib/model/effects.ts`): is a family set's loss (or gain)
 * rate different from the rest, is a lineage's rate different from the tree's?
 *
 * The null model is the background model (plus any effects that are not tested, the nuisance
 * effects); the alternative adds the tested effects and is fitted from the null's estimates with
 * every tested theta at 0. The statistic LRT = 2 (logLik_alt - logLik_null) is computed on
 * purely maximised log-likelihoods (nothing else in either objective). Its reference is chi2
 * with as many degrees of freedom as tested effects, or, for a one-sided alternative of one
 * effect, the 50:50 mixture of chi2(0) and chi2(1) (Self & Liang 1987): with the estimate on the
 * alternative's side p = P(chi2_1 >= LRT) / 2, and otherwise the constrained maximum is at
 * theta = 0, so LRT = 0 and p = 1. Every effect gets its profile-likelihood interval from the
 * alternative's fit (an open end is reported as such), and exp(theta) is the rate multiplier.
 *
 * With `bootstrap`, the null distribution is also simulated: each replicate draws every family
 * under the fitted null on the same tree, with the same missing cells as the data family in
 * that row and conditioned on the same prevalence window (each family's column is redrawn until
 * its recorded present count over its observed genomes falls in the window), both models are
 * refitted, and p_boot = (1 + #{LRT* >= LRT}) / (1 + B).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { chiBarSquareSurvival, chiSquareSurvival } from "../fit/chi_square.ts";
import { fitModelLikelihood, type ModelFit } from "../fit/fit_model.ts";
import type { BackendFactory } from "../likelihood/choose_backend.ts";
import { AT_LEAST_ONE, ModelLikelihood } from "../likelihood/model_likelihood.ts";
import {
  type Ascertainment,
  type ModelDescription,
  modelParameters,
} from "../model/description.ts";
import type { Effect, EffectChannel, EffectSetup, FamilyGroups } from "../model/effects.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { simulateLikeData } from "../simulate/like_data.ts";
import { Random } from "../simulate/random.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/** The alternative hypothesis about theta ("less" on a loss effect: retained longer). */
export type Alternative = "two-sided" | "less" | "greater";

/** The data an effect test is fitted to. */
export interface EffectTestData {
  /** The tree (rates per unit of its branch length). */
  readonly tree: FlatTree;
  /** The merged family columns. */
  readonly patterns: SitePatterns;
  /** The pruning backend. */
  readonly factory: BackendFactory;
  /** The prevalence window the PAM was filtered to (default at least one present). */
  readonly window?: Ascertainment;
  /** Per-genome completeness in tip order, or null. */
  readonly completeness?: Float64Array | null;
}

/** Options of {@linkcode testEffects}. */
export interface EffectTestOptions {
  /** The alternative (default two-sided); one-sided only when one effect is tested. */
  readonly alternative?: Alternative;
  /** Level of the profile intervals of the effects (default 0.95); null skips them. */
  readonly level?: number | null;
  /** A parametric bootstrap of the null distribution of the LRT (default none). */
  readonly bootstrap?: { readonly replicates: number; readonly seed: number } | null;
  /** Names of the tested effects (default every effect); the others are in both models. */
  readonly tested?: readonly string[];
  /** A fitted null model to reuse (same data, background and untested effects). */
  readonly nullFit?: ModelFit;
  /** A fitted alternative to reuse (same data, background and effects). */
  readonly altFit?: ModelFit;
  /** Called at each stage (fits, bootstrap replicates). */
  readonly onProgress?: (stage: string) => void;
}

/** One effect's estimate. */
export interface EffectEstimate {
  /** Its parameter name. */
  readonly name: string;
  /** What it is, in words. */
  readonly description: string;
  /** The rate it multiplies. */
  readonly channel: "gain" | "loss";
  /** Whether it is tested (else a nuisance effect, in both models). */
  readonly tested: boolean;
  /** The maximum-likelihood theta (log rate multiplier). */
  readonly estimate: number;
  /** Its profile-likelihood interval, or null without intervals. */
  readonly interval: readonly [number, number] | null;
  /** Whether each end of the interval is open (reaches the working bound). */
  readonly open: readonly [boolean, boolean];
  /** exp(theta): the factor on the rate. */
  readonly multiplier: number;
  /** exp of the interval. */
  readonly multiplierInterval: readonly [number, number] | null;
}

/** The result of {@linkcode testEffects}. */
export interface EffectTestResult {
  /** The null model's fit (background and untested effects). */
  readonly nullFit: ModelFit;
  /** The alternative's fit (background and every effect). */
  readonly altFit: ModelFit;
  /** Every effect's estimate (tested and nuisance), in the setup's order. */
  readonly effects: EffectEstimate[];
  /** The alternative tested. */
  readonly alternative: Alternative;
  /** 2 (logLik_alt - logLik_null), at least 0; 0 for a one-sided test on the wrong side. */
  readonly lrt: number;
  /** Number of tested effects. */
  readonly df: number;
  /** The asymptotic p-value. */
  readonly p: number;
  /** The reference distribution: `chi2(k)` or `chibar2(0,1)`. */
  readonly reference: string;
  /** The parametric-bootstrap p-value, or null. */
  readonly bootstrapP: number | null;
  /** Bootstrap statistics LRT*, or null. */
  readonly bootstrapLrt: Float64Array | null;
  /** AIC of both models. */
  readonly aic: { readonly null: number; readonly alt: number };
  /** BIC of both models. */
  readonly bic: { readonly null: number; readonly alt: number };
}

/**
 * The LRT statistic and its asymptotic p-value for one fit pair (see the module documentation).
 *
 * @example
 * ```ts
 * import { lrtPValue } from "./likelihood_ratio.ts";
 * const two = lrtPValue(3.84145882069412, 1, "two-sided", 0.3);
 * console.assert(Math.abs(two.p - 0.05) < 1e-9 && two.reference === "chi2(1)");
 * const less = lrtPValue(3.84145882069412, 1, "less", -0.3);
 * console.assert(Math.abs(less.p - 0.025) < 1e-9 && less.reference === "chibar2(0,1)");
 * console.assert(lrtPValue(3.84, 1, "greater", -0.3).p === 1);
 * ```
 */
export function lrtPValue(
  statistic: number,
  df: number,
  alternative: Alternative,
  estimate: number,
): { lrt: number; p: number; reference: string } {
  const raw = Math.max(0, statistic);
  if (alternative === "two-sided") {
    return { lrt: raw, p: raw === 0 ? 1 : chiSquareSurvival(raw, df), reference: `chi2(${df})` };
  }
  if (df !== 1) throw new RangeError("A one-sided test needs exactly one tested effect.");
  const right = alternative === "less" ? estimate < 0 : estimate > 0;
  const lrt = right ? raw : 0;
  return {
    lrt,
    p: lrt === 0 ? 1 : chiBarSquareSurvival(lrt, [0.5, 0.5]),
    reference: "chibar2(0,1)",
  };
}

function likelihoodOf(
  data: EffectTestData,
  patterns: SitePatterns,
  background: ModelDescription,
  setup: EffectSetup | null,
): ModelLikelihood {
  return new ModelLikelihood(
    data.tree,
    patterns,
    data.factory,
    background,
    data.window ?? AT_LEAST_ONE,
    { completeness: data.completeness ?? null, effects: setup },
  );
}

/** The null's effect setup: the untested effects, or null when there are none. */
function nullSetup(setup: EffectSetup, tested: ReadonlySet<string>): EffectSetup | null {
  const effects = setup.effects.filter((e) => !tested.has(e.name));
  return effects.length === 0 ? null : { effects, groups: setup.groups };
}

/** The alternative's start: the null's values, every tested theta 0. */
function altStart(
  background: ModelDescription,
  setup: EffectSetup,
  tested: ReadonlySet<string>,
  nullValues: Float64Array,
): Float64Array {
  const nBase = modelParameters(background).length;
  const start = new Float64Array(nBase + setup.effects.length);
  start.set(nullValues.subarray(0, nBase));
  let k = nBase;
  setup.effects.forEach((e, i) => {
    start[nBase + i] = tested.has(e.name) ? 0 : nullValues[k++];
  });
  return start;
}

/** The values of the null's parameters (background, untested effects) from an alternative's. */
function withoutTested(
  background: ModelDescription,
  setup: EffectSetup,
  tested: ReadonlySet<string>,
  altValues: Float64Array,
): Float64Array {
  const nBase = modelParameters(background).length;
  const out = Array.from(altValues.subarray(0, nBase));
  setup.effects.forEach((e, i) => {
    if (!tested.has(e.name)) out.push(altValues[nBase + i]);
  });
  return Float64Array.from(out);
}

interface FitPair {
  readonly nullFit: ModelFit;
  readonly altFit: ModelFit;
}

function fitPair(
  data: EffectTestData,
  patterns: SitePatterns,
  background: ModelDescription,
  setup: EffectSetup,
  tested: ReadonlySet<string>,
  level: number | null,
  given: { nullFit?: ModelFit; altFit?: ModelFit; nullStart?: Float64Array },
  say: (stage: string) => void,
): FitPair {
  let nullFit = given.nullFit;
  if (!nullFit) {
    say("fitting the null model");
    using lik = likelihoodOf(data, patterns, background, nullSetup(setup, tested));
    nullFit = fitModelLikelihood(lik, {
      level: null,
      derived: [],
      ...(given.nullStart ? { starts: [given.nullStart] } : {}),
    });
  }
  let altFit = given.altFit;
  if (!altFit) {
    say("fitting the alternative");
    using lik = likelihoodOf(data, patterns, background, setup);
    altFit = fitModelLikelihood(lik, {
      level,
      derived: [],
      profile: setup.effects.map((e) => e.name),
      starts: [altStart(background, setup, tested, nullFit.values)],
    });
    // A one-start fit that ends below the null (which it contains) restarts from the defaults.
    if (altFit.logLik < nullFit.logLik - 1e-6) {
      altFit = fitModelLikelihood(lik, {
        level,
        derived: [],
        profile: setup.effects.map((e) => e.name),
      });
    }
  }
  return { nullFit, altFit };
}

/**
 * Tests effects against a background model by a likelihood-ratio test (see the module
 * documentation), with profile intervals, AIC and BIC of both models, and optionally a
 * parametric bootstrap of the statistic's null distribution.
 *
 * @example
 * ```ts
 * import { testEffects } from "./likelihood_ratio.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { familyGroups } from "../model/effects.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:0.3,b:0.2):0.1,(c:0.4,d:0.1):0.2);", "t.nwk");
 * const rows = Uint8Array.of(1,1,0,0, 1,0,1,1, 0,0,1,0, 1,1,1,1, 1,1,1,0, 0,1,0,0, 1,1,1,1, 1,0,0,1);
 * const names = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];
 * const patterns = compressPatterns(rows, 8, 4, names);
 * const groups = familyGroups(names, new Map([["core", ["f4", "f7"]]]));
 * const result = await testEffects({ tree, patterns, factory: tsBackendFactory }, parseModel("null"),
 *   { effects: [{ name: "theta", description: "loss of core", channel: "loss", sets: [0],
 *     design: null }], groups }, { alternative: "less", level: null });
 * console.assert(result.df === 1 && result.p > 0 && result.p <= 1);
 * ```
 */
export function testEffects(
  data: EffectTestData,
  background: ModelDescription,
  setup: EffectSetup,
  options: EffectTestOptions = {},
): Promise<EffectTestResult> {
  return Promise.resolve().then(() => testEffectsNow(data, background, setup, options));
}

function testEffectsNow(
  data: EffectTestData,
  background: ModelDescription,
  setup: EffectSetup,
  options: EffectTestOptions,
): EffectTestResult {
  const names = setup.effects.map((e) => e.name);
  const tested = new Set(options.tested ?? names);
  for (const t of tested) {
    if (!names.includes(t)) {
      throw new GenecontentError(`No effect named '${t}' to test; the effects are ${names}.`);
    }
  }
  if (tested.size === 0) throw new GenecontentError("No effect to test.");
  const alternative = options.alternative ?? "two-sided";
  if (alternative !== "two-sided" && tested.size !== 1) {
    throw new GenecontentError(
      `A one-sided alternative ('${alternative}') tests one effect; ${tested.size} are tested ` +
        `(${[...tested].join(", ")}). Use --alternative two-sided, or test one effect.`,
    );
  }
  const level = options.level === undefined ? 0.95 : options.level;
  const say = options.onProgress ?? (() => {});
  const { nullFit, altFit } = fitPair(
    data,
    data.patterns,
    background,
    setup,
    tested,
    level,
    {
      nullFit: options.nullFit,
      altFit: options.altFit,
      // Refitting the null next to a given alternative: start from its values without the
      // tested effects (a point close to the null's maximum).
      nullStart: options.altFit && !options.nullFit
        ? withoutTested(background, setup, tested, options.altFit.values)
        : undefined,
    },
    say,
  );
  const nBase = modelParameters(background).length;
  const effects: EffectEstimate[] = setup.effects.map((e, i) => {
    const p = altFit.parameters[nBase + i];
    if (p.name !== e.name) throw new Error(`Parameter ${p.name} is not effect ${e.name}.`);
    return {
      name: e.name,
      description: e.description,
      channel: e.channel,
      tested: tested.has(e.name),
      estimate: p.estimate,
      interval: p.interval,
      open: p.open,
      multiplier: Math.exp(p.estimate),
      multiplierInterval: p.interval ? [Math.exp(p.interval[0]), Math.exp(p.interval[1])] : null,
    };
  });
  const testedIndex = setup.effects.findIndex((e) => tested.has(e.name));
  const statistic = 2 * (altFit.logLik - nullFit.logLik);
  const { lrt, p, reference } = lrtPValue(
    statistic,
    tested.size,
    alternative,
    effects[testedIndex].estimate,
  );
  let bootstrapP: number | null = null;
  let bootstrapLrt: Float64Array | null = null;
  if (options.bootstrap) {
    const { replicates, seed } = options.bootstrap;
    if (!(Number.isInteger(replicates) && replicates >= 1)) {
      throw new GenecontentError(
        `Bootstrap replicates must be a whole number >= 1; got ${replicates}.`,
      );
    }
    const rng = new Random(seed);
    const nullEffects = nullSetup(setup, tested);
    bootstrapLrt = new Float64Array(replicates);
    let atLeast = 0;
    for (let b = 0; b < replicates; b++) {
      say(`bootstrap replicate ${b + 1} of ${replicates}`);
      const nBase = modelParameters(background).length;
      const patterns = simulateLikeData(
        data.tree,
        data.patterns,
        background,
        nullFit.values.subarray(0, nBase),
        {
          rng,
          window: data.window,
          completeness: data.completeness,
          effects: nullEffects,
          effectValues: nullFit.values.subarray(nBase),
        },
      );
      const pair = fitPair(
        data,
        patterns,
        background,
        setup,
        tested,
        null,
        { nullStart: nullFit.values },
        () => {},
      );
      const star = lrtPValue(
        2 * (pair.altFit.logLik - pair.nullFit.logLik),
        tested.size,
        alternative,
        pair.altFit.values[nBase + testedIndex],
      ).lrt;
      bootstrapLrt[b] = star;
      // The same statistic on both sides of the comparison: ties count (1e-9 of rounding slack).
      if (star >= lrt - 1e-9) atLeast++;
    }
    bootstrapP = (1 + atLeast) / (1 + replicates);
  }
  return {
    nullFit,
    altFit,
    effects,
    alternative,
    lrt,
    df: tested.size,
    p,
    reference,
    bootstrapP,
    bootstrapLrt,
    aic: { null: nullFit.aic, alt: altFit.aic },
    bic: { null: nullFit.bic, alt: altFit.bic },
  };
}

/** A part of a test reported on its own: a label and the effects it tests. */
export interface EffectPart {
  /** What the part is (a set's name, a class, a channel). */
  readonly label: string;
  /** Names of the effects it tests. */
  readonly tested: readonly string[];
}

/** The joint test of every part's effects, and each part's own test. */
export interface PartsTestResult {
  /** The joint test (every part's effects tested together). */
  readonly joint: EffectTestResult;
  /** Each part's test (the other parts' effects in both models), in the order given. */
  readonly parts: readonly { readonly label: string; readonly result: EffectTestResult }[];
}

/**
 * Tests the effects of several parts jointly and each part on its own (the other parts'
 * effects then in both models), sharing one fit of the alternative. The joint test is
 * two-sided when it tests more than one effect; each part's test takes `alternative` when it
 * tests one effect (else two-sided). The bootstrap, if asked, is done for the joint test (and
 * for the part when there is only one).
 *
 * @example
 * ```ts
 * import { testEffectParts } from "./likelihood_ratio.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { familyGroups } from "../model/effects.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:0.3,b:0.2):0.1,(c:0.4,d:0.1):0.2);", "t.nwk");
 * const rows = Uint8Array.of(1,1,0,0, 1,0,1,1, 0,0,1,0, 1,1,1,1, 1,1,1,0, 0,1,0,0, 1,1,1,1, 1,0,0,1);
 * const names = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"];
 * const groups = familyGroups(names, new Map([["A", ["f4", "f7"]], ["B", ["f3"]]]));
 * const effect = (s: number) => ({ name: `theta[${groups.sets[s]}]`, description: "",
 *   channel: "loss" as const, sets: [s], design: null });
 * const r = await testEffectParts({ tree, patterns: compressPatterns(rows, 8, 4, names),
 *   factory: tsBackendFactory }, parseModel("null"), { effects: [effect(0), effect(1)], groups },
 *   [{ label: "A", tested: ["theta[A]"] }, { label: "B", tested: ["theta[B]"] }], { level: null });
 * console.assert(r.joint.df === 2 && r.parts.length === 2 && r.parts[1].result.df === 1);
 * ```
 */
export async function testEffectParts(
  data: EffectTestData,
  background: ModelDescription,
  setup: EffectSetup,
  parts: readonly EffectPart[],
  options: Omit<EffectTestOptions, "tested" | "altFit" | "nullFit"> = {},
): Promise<PartsTestResult> {
  if (parts.length === 0) throw new GenecontentError("No effect to test.");
  const all = parts.flatMap((p) => p.tested);
  const alternative = options.alternative ?? "two-sided";
  const say = options.onProgress ?? (() => {});
  const joint = await testEffects(data, background, setup, {
    ...options,
    alternative: all.length === 1 ? alternative : "two-sided",
    tested: all,
    onProgress: (s) => say(`joint test: ${s}`),
  });
  if (parts.length === 1) return { joint, parts: [{ label: parts[0].label, result: joint }] };
  const results = [];
  for (const part of parts) {
    results.push({
      label: part.label,
      result: await testEffects(data, background, setup, {
        ...options,
        alternative: part.tested.length === 1 ? alternative : "two-sided",
        tested: part.tested,
        altFit: joint.altFit,
        bootstrap: null,
        onProgress: (s) => say(`${part.label}: ${s}`),
      }),
    });
  }
  return { joint, parts: results };
}

/**
 * A set x lineage contrast: the effect of set `set` (a name in `groups.sets`) on its `channel`
 * rate only on the branches of a lineage design (a clade or a class of branches, from
 * `lib/effects/branches.ts`). Tested against a null holding the set's effect everywhere and the
 * lineage's effect on every family, it asks whether the set's rate changes on the lineage beyond
 * the lineage's change for every family.
 *
 * @example
 * ```ts
 * import { contrast } from "./likelihood_ratio.ts";
 * const groups = { sets: ["phage"], ofFamily: Int32Array.of(0, -1, -1) };
 * const lineage = { design: Float64Array.of(1, 0, 0), branches: [0], description: "tip a" };
 * const e = contrast(groups, "phage", "loss", lineage);
 * console.assert(e.name === "contrast[phage]" && e.sets![0] === 0 && e.design![0] === 1);
 * ```
 */
export function contrast(
  groups: FamilyGroups,
  set: string,
  channel: EffectChannel,
  lineage: { readonly design: Float64Array; readonly description: string },
  name = `contrast[${set}]`,
): Effect {
  const s = groups.sets.indexOf(set);
  if (s < 0) {
    throw new GenecontentError(
      `No family set '${set}' for a contrast; the sets are ${groups.sets.join(", ")}.`,
    );
  }
  return {
    name,
    description: `extra log multiplier of the ${channel} rate of set '${set}' on ` +
      lineage.description,
    channel,
    sets: [s],
    design: lineage.design,
  };
}
