/**
 * `genecontent screen`: for every family, the likelihood-ratio test of its own multiplier of the
 * loss (or gain) rate against the fitted background model, with the estimate, its profile
 * interval, asymptotic and calibrated p-values and Benjamini-Hochberg q-values
 * (`lib/effects/screen.ts`).
 *
 * @module
 */

import { GenecontentError } from "../../errors.ts";
import {
  DEFAULT_CALIBRATION,
  type FamilyScreen,
  MAX_WIDEN,
  MIN_POOL,
  type ScreenChannel,
  screenFamilies,
  TAIL_COUNT,
  THETA_BOUND,
} from "../../effects/screen.ts";
import { fitModel } from "../../fit/fit_model.ts";
import { PI1_OF_NULL_MODEL } from "../../fit/fit_null_model.ts";
import { modelObjective } from "../../fit/objective.ts";
import { ModelLikelihood } from "../../likelihood/model_likelihood.ts";
import { refuseImpossible } from "../../likelihood/per_family.ts";
import { formatModel } from "../../model/description.ts";
import type { SitePatterns } from "../../pam/patterns.ts";
import { makeProvenance } from "../../provenance.ts";
import {
  ASCERTAINMENT_HELP,
  ASCERTAINMENT_OPTIONS,
  MODEL_CHOICE_HELP,
  MODEL_CHOICE_OPTIONS,
} from "../model_options.ts";
import { modelSetup, openSetupLikelihood, windowText } from "../model_setup.ts";
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
import { prepare } from "../prepare.ts";
import { ProgressLine } from "../progress.ts";

/** Options of `screen`. */
export const SCREEN_OPTIONS = {
  ...INPUT_OPTIONS,
  ...MODEL_CHOICE_OPTIONS,
  ...ASCERTAINMENT_OPTIONS,
  effect: { type: "string" },
  level: { type: "string" },
  calibration: { type: "string" },
  seed: { type: "string" },
  top: { type: "string" },
} as const;

/** Columns of the TSV with --effect both, in order. */
export const SCREEN_BOTH_COLUMNS = [
  "family",
  "present",
  "thetaGain",
  "thetaLoss",
  "lrt",
  "p",
  "pAsymptotic",
  "q",
  "prevalenceClass",
] as const;

/** Columns of the TSV, in order. */
export const SCREEN_COLUMNS = [
  "family",
  "present",
  "theta",
  "thetaLow",
  "thetaHigh",
  "lrt",
  "p",
  "pAsymptotic",
  "q",
  "prevalenceClass",
] as const;

/** Help text of `screen`. */
export const SCREEN_HELP = `genecontent screen: per-family tests of a family's own rate multiplier

Usage: genecontent screen --tree FILE --pam FILE [--model M] [--effect loss|gain] [options]

Fits the background model once (rates per unit branch length of the tree), then for every
family tests whether its own loss (or gain) rate differs from the background's: the family's
rate is multiplied by exp(theta) on every branch and on the root prior, the background held at
its estimates, and the likelihood-ratio statistic 2 (logLik(theta-hat) - logLik(0)) is referred
to chi-squared with 1 df and, by default, to simulated null families of the same prevalence.
theta is bounded to |theta| <= ${THETA_BOUND}; an estimate at the bound is reported there, with
the interval open on that side. Families with the same column share one optimisation.

${MODEL_CHOICE_HELP}
${ASCERTAINMENT_HELP}
Screen:
  --effect WHICH         loss (default) or gain: the rate each family's own multiplier acts
                         on; both: a gain and a loss multiplier per family, tested jointly
                         against chi-squared with 2 df (the profile over the gain multiplier
                         of the loss screen, about 25 times the work; no intervals)
  --level P              confidence level of the profile-likelihood intervals of theta,
                         0 < P < 1 (default 0.95)
  --calibration N        simulate N null families under the fitted background (same tree,
                         window and missing cells) and give each family the empirical p-value
                         among the simulated families of its present count (pooled with counts
                         within ${MAX_WIDEN} of it in the same prevalence class, towards ${MIN_POOL}); where
                         fewer than ${TAIL_COUNT} null LRTs reach a family's, the chi-squared tail
                         anchored at the ${TAIL_COUNT}th largest; 0: p is the asymptotic p-value
                         (default ${DEFAULT_CALIBRATION}: pools of hundreds for the common
                         counts; fewer gives coarser p-values for families of rare counts)
  --seed S               seed of the calibration's simulation (default 1)
  --top K                rows of the text summary (default 20; the TSV and JSON have every
                         family)
${INPUT_HELP}

Output: a text summary (the background fit, the number of families with q < 0.1 and the K
families with the smallest p) on stdout. --out FILE: a TSV with one row per family, sorted by p,
with columns
  family           the family's name
  present          genomes where it is present
  theta            theta-hat, the log of the family's own rate multiplier (at +-${THETA_BOUND} when
                   the maximum is at the bound)
  thetaLow         lower end of the profile interval (-${THETA_BOUND}: open below)
  thetaHigh        upper end of the profile interval (${THETA_BOUND}: open above)
  lrt              likelihood-ratio statistic 2 (logLik(theta-hat) - logLik(0)), natural logs
  p                the calibrated p-value (the asymptotic one with --calibration 0)
  pAsymptotic      P(chi2_1 >= lrt)
  q                Benjamini-Hochberg q-value of p over every family
  prevalenceClass  rare (present in < 15% of observed genomes), shell, or nearCore (>= 95%)
With --effect both, thetaGain and thetaLoss (the joint estimates) replace theta, thetaLow and
thetaHigh, and pAsymptotic is P(chi2_2 >= lrt).
--json: background (model, parameters, logLik), effect, df, level, bound, calibration, seed,
families (each with family, present, observed, theta, thetaCI, open, atBound, lrt, p,
pAsymptotic, pEmpirical, q, prevalenceClass, poolSize, multiplier = exp(theta); with both:
thetaGain, thetaLoss, gainMultiplier, lossMultiplier), and counts.`;

/**
 * Runs `screen` with its arguments; returns the exit status.
 *
 * @example
 * ```ts ignore
 * import { screenCommand } from "./screen.ts";
 * await screenCommand(["--tree", "examples/tree.nwk", "--pam", "examples/pam.tsv", "--json"]);
 * ```
 */
export async function screenCommand(args: string[]): Promise<number> {
  const { values: v, given } = parseCommandLine(args, SCREEN_OPTIONS, "screen");
  if (v.help) {
    console.log(SCREEN_HELP);
    return 0;
  }
  refuseConflicts(given, [
    ["min-present", "no-ascertainment", "--no-ascertainment is the same as --min-present 0"],
    ["max-present", "no-ascertainment", "--no-ascertainment conditions on nothing"],
  ], "screen");
  const settings = inputSettings(v, "screen");
  const channel: ScreenChannel | "both" = choiceOption(
    v.effect ?? "loss",
    "--effect",
    [
      "loss",
      "gain",
      "both",
    ] as const,
  );
  const level = numberOption(v.level ?? "0.95", "--level", {
    min: 0,
    max: 0.9999,
    exclusiveMin: true,
  });
  const calibration = wholeNumber(v.calibration, "--calibration", DEFAULT_CALIBRATION);
  const seed = wholeNumber(v.seed, "--seed", 1);
  const top = wholeNumber(v.top, "--top", 20);
  const plan = await planOutputs([
    { flag: "--json", value: v.json ? "-" : undefined, provenance: false },
    { flag: "--out", value: v.out },
  ], {
    inputs: { tree: settings.treePath, PAM: settings.pamPath, completeness: v.completeness },
    force: v.force ?? false,
  });
  const { dataset, factory, pruned } = await prepare(settings);
  const setup = await modelSetup(v, dataset);
  refuseImpossible(dataset.tree, dataset.patterns, settings.treePath);
  const progress = new ProgressLine();
  const name = formatModel(setup.model);
  using lik = openSetupLikelihood(dataset, factory, setup, settings.treePath);
  const started = performance.now();
  const single = setup.model.rates.kind === "single" && !setup.model.invariant &&
    !setup.model.tipError;
  const fit = fitModel(modelObjective(lik), {
    level: null,
    derived: single ? [PI1_OF_NULL_MODEL] : [],
    onEvaluation: (stage, n) => progress.update(`fit ${name}: ${stage}, ${n} evaluations`),
  });
  if (!Number.isFinite(fit.logLik)) {
    throw new Error(`The fit of ${name} ended with a non-finite log-likelihood ${fit.logLik}.`);
  }
  const fitSeconds = (performance.now() - started) / 1000;
  const open = (patterns: SitePatterns) =>
    new ModelLikelihood(dataset.tree, patterns, factory, setup.model, setup.window, {
      completeness: setup.completeness,
    });
  const result = screenFamilies(lik, dataset.patterns, {
    tree: dataset.tree,
    model: setup.model,
    values: fit.values,
    window: setup.window,
    completeness: setup.completeness,
    open,
  }, {
    channel,
    level,
    calibration,
    seed,
    onProgress: (m) => progress.update(m),
  });
  progress.done();
  for (const w of fit.warnings) console.error(`genecontent: warning: ${w}`);
  const order = result.families.map((_, i) => i).sort((a, b) =>
    result.families[a].p - result.families[b].p ||
    result.families[b].lrt - result.families[a].lrt || a - b
  );
  const sorted = order.map((i) => result.families[i]);
  const discoveries = sorted.filter((f) => f.q < 0.1).length;
  const byClass: Record<string, { families: number; q10: number; p05: number }> = {};
  for (const f of sorted) {
    const c = byClass[f.prevalenceClass] ??= { families: 0, q10: 0, p05: 0 };
    c.families++;
    if (f.q < 0.1) c.q10++;
    if (f.p < 0.05) c.p05++;
  }
  const provenance = makeProvenance({
    command: "screen",
    backend: lik.backend.name,
    nativeLibrary: factory.libraryPath ?? null,
    threads: lik.backend.threads,
    inputs: setup.completenessInput ? [...dataset.inputs, setup.completenessInput] : dataset.inputs,
    options: {
      model: name,
      window: setup.window,
      effect: channel,
      level,
      calibration,
      seed,
      ...settings.load,
      backend: settings.backend,
      threads: settings.threads,
    },
  });
  const json = {
    background: {
      model: name,
      parameters: Object.fromEntries(fit.parameters.map((p) => [p.name, p.estimate])),
      logLik: fit.logLik,
      converged: fit.converged,
      fitSeconds,
    },
    effect: channel,
    effectDescription:
      `each family's ${
        channel === "both" ? "gain and loss rates" : `${channel} rate`
      } multiplied by exp(theta) on every branch and the root prior, the background held at its ` +
      "estimates",
    level,
    bound: result.bound,
    calibration,
    seed,
    minPool: MIN_POOL,
    tailCount: TAIL_COUNT,
    ascertainment: windowText(setup.window),
    nFamilies: dataset.patterns.familyNames.length,
    nPatterns: dataset.patterns.nPatterns,
    nGenomes: dataset.tree.nTips,
    discoveries: { q10: discoveries },
    byClass,
    screenSeconds: result.seconds.screen,
    calibrationSeconds: result.seconds.calibration,
    backend: lik.backend.name,
    threads: lik.backend.threads,
    pruned,
    df: result.df,
    families: sorted.map((f) =>
      f.thetaGain !== undefined
        ? {
          ...f,
          thetaCI: null,
          gainMultiplier: Math.exp(f.thetaGain),
          lossMultiplier: Math.exp(f.thetaLoss!),
        }
        : { ...f, multiplier: Math.exp(f.theta) }
    ),
    provenance,
  };
  await plan.write(
    "--out",
    channel === "both"
      ? toTsv(SCREEN_BOTH_COLUMNS, sorted.map((f) => tsvBothRow(f)))
      : toTsv(SCREEN_COLUMNS, sorted.map((f) => tsvRow(f))),
    json,
  );
  if (v.json) printJson(json);
  else {
    const say = plan.stdoutTaken ? console.error : console.log;
    say(summaryText(json, sorted.slice(0, top), fit.parameters));
  }
  return 0;
}

function tsvBothRow(f: FamilyScreen): (string | number)[] {
  return [
    f.family,
    f.present,
    f.thetaGain!,
    f.thetaLoss!,
    f.lrt,
    f.p,
    f.pAsymptotic,
    f.q,
    f.prevalenceClass,
  ];
}

function tsvRow(f: FamilyScreen): (string | number)[] {
  return [
    f.family,
    f.present,
    f.theta,
    f.thetaCI[0],
    f.thetaCI[1],
    f.lrt,
    f.p,
    f.pAsymptotic,
    f.q,
    f.prevalenceClass,
  ];
}

function wholeNumber(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const x = numberOption(text, flag, { min: 0, integer: true });
  if (!Number.isSafeInteger(x)) {
    throw new GenecontentError(`${flag} must be a whole number below 2^53; got '${text}'.`);
  }
  return x;
}

function summaryText(
  json: {
    background: { model: string; logLik: number };
    effect: string;
    level: number;
    calibration: number;
    nFamilies: number;
    nPatterns: number;
    nGenomes: number;
    discoveries: { q10: number };
    byClass: Record<string, { families: number; q10: number; p05: number }>;
    screenSeconds: number;
    calibrationSeconds: number;
    backend: string;
  },
  rows: FamilyScreen[],
  parameters: readonly { name: string; estimate: number }[],
): string {
  const g = (x: number) => x.toPrecision(4);
  const lines = [
    `# genecontent screen: ${json.effect} multiplier per family against ${json.background.model} ` +
    `(${parameters.map((p) => `${p.name} ${p.estimate.toPrecision(5)}`).join(", ")}; rates per ` +
    `unit branch length; logLik ${json.background.logLik.toFixed(3)}), ${json.nFamilies} ` +
    `families (${json.nPatterns} distinct columns) x ${json.nGenomes} genomes, ${json.backend} ` +
    `backend, ${json.screenSeconds.toFixed(2)} s screen + ` +
    `${json.calibrationSeconds.toFixed(2)} s calibration`,
    `# p: ${
      json.calibration > 0
        ? `calibrated on ${json.calibration} simulated null families`
        : `asymptotic (chi2, ${json.effect === "both" ? 2 : 1} df)`
    }; ${json.discoveries.q10} families with q < 0.1 (${
      Object.entries(json.byClass).map(([c, n]) => `${c} ${n.q10} of ${n.families}`).join(", ")
    })`,
  ];
  const both = json.effect === "both";
  const table = [
    [
      "family",
      "present",
      ...(both ? ["thetaGain", "thetaLoss"] : [
        "theta",
        `${Math.round(json.level * 100)}% interval`,
      ]),
      "lrt",
      "p",
      "pAsymptotic",
      "q",
      "class",
    ],
    ...rows.map((f) => [
      f.family,
      String(f.present),
      ...(both ? [g(f.thetaGain!), g(f.thetaLoss!)] : [
        g(f.theta),
        `[${g(f.thetaCI[0])}${f.open.low ? " (open)" : ""}, ${g(f.thetaCI[1])}${
          f.open.high ? " (open)" : ""
        }]`,
      ]),
      g(f.lrt),
      f.p.toExponential(2),
      f.pAsymptotic.toExponential(2),
      f.q.toExponential(2),
      f.prevalenceClass,
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  return [
    ...lines,
    ...table.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd()),
  ].join("\n");
}
