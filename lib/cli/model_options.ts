/**
 * The model options shared by the commands that evaluate, fit or simulate a model: `--model`, the
 * parameter values (`--gain`, `--loss`, `--alpha`, `--pinv`, `--false-presence`,
 * `--false-absence`, the mixture's `--gains`, `--losses`, `--weights`, or any parameter as
 * `--param NAME=VALUE`), and the ascertainment window (`--min-present`, `--max-present`,
 * `--no-ascertainment`).
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";
import { GenecontentError } from "../errors.ts";
import {
  type Ascertainment,
  type ModelDescription,
  modelParameters,
  parseModel,
} from "../model/description.ts";
import { splitsFromWeights, valuesFromNames } from "../model/values.ts";
import { numberOption } from "./options.ts";

/** Options choosing a model (not its values): `--model` and `--completeness`. */
export const MODEL_CHOICE_OPTIONS = {
  model: { type: "string" },
  completeness: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

/** Options naming a model and its parameter values. */
export const MODEL_OPTIONS = {
  ...MODEL_CHOICE_OPTIONS,
  gain: { type: "string" },
  loss: { type: "string" },
  alpha: { type: "string" },
  pinv: { type: "string" },
  "false-presence": { type: "string" },
  "false-absence": { type: "string" },
  gains: { type: "string" },
  losses: { type: "string" },
  weights: { type: "string" },
  param: { type: "string", multiple: true },
} as const satisfies ParseArgsConfig["options"];

/** Options of the prevalence window the PAM was filtered to. */
export const ASCERTAINMENT_OPTIONS = {
  "min-present": { type: "string" },
  "max-present": { type: "string" },
  "no-ascertainment": { type: "boolean", default: false },
} as const satisfies ParseArgsConfig["options"];

/** Help text of {@linkcode MODEL_CHOICE_OPTIONS}. */
export const MODEL_CHOICE_HELP = `Model (rates are per unit branch length of the tree):
  --model NAME           null (default), gammaK (e.g. gamma4: discrete gamma rate variation
                         across families, K categories), mixtureK (K rate classes), each
                         optionally +inv (a share of families never changes state) and/or
                         +error (false presence/absence of recorded cells), e.g. gamma4+inv+error
  --completeness FILE    TSV genome<TAB>completeness in (0, 1] (e.g. CheckM): a present gene of
                         genome i is recorded absent with probability 1 - completeness`;

/** Help text of {@linkcode MODEL_OPTIONS}. */
export const MODEL_HELP = `${MODEL_CHOICE_HELP}
  --gain G, --loss L     gain (absent to present) and loss (present to absent) rates
  --alpha A              gamma shape (gammaK)
  --pinv P               share of invariant families (+inv)
  --false-presence E     probability that an absent cell is recorded present (+error)
  --false-absence E      probability that a present cell is recorded absent (+error)
  --gains G1,G2,...      mixtureK: the K class gain rates
  --losses L1,L2,...     mixtureK: the K class loss rates
  --weights W1,W2,...    mixtureK: the K class weights (positive, summing to 1)
  --param NAME=VALUE     any parameter by its name (repeatable)`;

/** Help text of {@linkcode ASCERTAINMENT_OPTIONS}. */
export const ASCERTAINMENT_HELP = `Ascertainment (what the PAM was filtered to):
  --min-present K        every family is present in at least K genomes (default 1)
  --max-present M        every family is present in at most M genomes (e.g. accessory only)
  --no-ascertainment     no conditioning (biased whenever families can be missed entirely)`;

/** Parsed values of {@linkcode MODEL_OPTIONS}. */
export interface ModelOptionValues {
  model?: string;
  gain?: string;
  loss?: string;
  alpha?: string;
  pinv?: string;
  "false-presence"?: string;
  "false-absence"?: string;
  gains?: string;
  losses?: string;
  weights?: string;
  param?: string[];
  completeness?: string;
}

/** The model of `--model`. */
export function modelOption(v: ModelOptionValues): ModelDescription {
  return parseModel(v.model ?? "null");
}

function list(text: string, flag: string, k: number): number[] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length !== k) {
    throw new GenecontentError(`${flag} needs ${k} comma-separated values; got '${text}'.`);
  }
  return parts.map((s) => numberOption(s, flag, { min: 0, exclusiveMin: true }));
}

/**
 * Named parameter values from the options, in the domain checks of the model; `null` when no
 * value option was given at all (a fit then starts from its own guesses).
 *
 * @example
 * ```ts
 * import { modelValuesOption } from "./model_options.ts";
 * import { parseModel } from "../model/description.ts";
 * const v = modelValuesOption(parseModel("gamma4"), { gain: "0.5", loss: "1", alpha: "0.5" });
 * console.assert(v !== null && v[2] === 0.5);
 * ```
 */
export function modelValuesOption(
  model: ModelDescription,
  v: ModelOptionValues,
): Float64Array | null {
  const named: Record<string, number> = {};
  const set = (name: string, value: number, flag: string) => {
    if (name in named) throw new GenecontentError(`${flag} sets ${name}, which is already set.`);
    named[name] = value;
  };
  const num = (text: string, flag: string) =>
    numberOption(text, flag, { min: 0, exclusiveMin: true });
  const given = (flag: keyof ModelOptionValues) => v[flag] !== undefined;
  const names = new Set(modelParameters(model).map((p) => p.name));
  const needs = (flag: string, param: string) => {
    if (!names.has(param)) {
      throw new GenecontentError(
        `${flag} does not apply to model ${v.model ?? "null"} (it has no parameter ${param}).`,
      );
    }
  };
  if (model.rates.kind === "mixture") {
    const k = model.rates.classes;
    for (const flag of ["gain", "loss"] as const) {
      if (given(flag)) {
        throw new GenecontentError(
          `--${flag} does not apply to a mixture: give --gains and --losses with ${k} values.`,
        );
      }
    }
    if (v.gains !== undefined) {
      list(v.gains, "--gains", k).forEach((x, c) => set(`gain${c + 1}`, x, "--gains"));
    }
    if (v.losses !== undefined) {
      list(v.losses, "--losses", k).forEach((x, c) => set(`loss${c + 1}`, x, "--losses"));
    }
    if (v.weights !== undefined) {
      const w = list(v.weights, "--weights", k);
      const sum = w.reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > 1e-9) {
        throw new GenecontentError(`--weights must sum to 1; got ${v.weights} (sum ${sum}).`);
      }
      splitsFromWeights(w).forEach((x, c) => set(`split${c + 1}`, x, "--weights"));
    }
  } else {
    for (const flag of ["gains", "losses", "weights"] as const) {
      if (given(flag)) {
        throw new GenecontentError(`--${flag} applies to mixtureK models only.`);
      }
    }
    if (v.gain !== undefined) set("gain", num(v.gain, "--gain"), "--gain");
    if (v.loss !== undefined) set("loss", num(v.loss, "--loss"), "--loss");
  }
  const scalar: [keyof ModelOptionValues, string][] = [
    ["alpha", "alpha"],
    ["pinv", "pInv"],
    ["false-presence", "falsePresence"],
    ["false-absence", "falseAbsence"],
  ];
  for (const [flag, name] of scalar) {
    const text = v[flag];
    if (typeof text === "string") {
      needs(`--${flag}`, name);
      set(name, num(text, `--${flag}`), `--${flag}`);
    }
  }
  for (const item of v.param ?? []) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new GenecontentError(`--param needs NAME=VALUE; got '${item}'.`);
    const name = item.slice(0, eq).trim();
    needs("--param", name);
    set(name, num(item.slice(eq + 1), `--param ${name}`), "--param");
  }
  if (Object.keys(named).length === 0) return null;
  return valuesFromNames(model, named);
}

/** Parsed values of {@linkcode ASCERTAINMENT_OPTIONS}. */
export interface AscertainmentOptionValues {
  "min-present"?: string;
  "max-present"?: string;
  "no-ascertainment"?: boolean;
}

/**
 * The ascertainment window of the options; `--no-ascertainment` with a window is an error.
 *
 * @example
 * ```ts
 * import { ascertainmentOption } from "./model_options.ts";
 * const a = ascertainmentOption({ "max-present": "9" }, 10);
 * console.assert(a.minPresent === 1 && a.maxPresent === 9);
 * ```
 */
export function ascertainmentOption(v: AscertainmentOptionValues, nGenomes: number): Ascertainment {
  const min = v["min-present"];
  const max = v["max-present"];
  if (v["no-ascertainment"]) {
    if (min !== undefined || max !== undefined) {
      throw new GenecontentError(
        `--no-ascertainment conflicts with ${
          min !== undefined ? "--min-present" : "--max-present"
        }: give either the window the PAM was filtered to, or no conditioning.`,
      );
    }
    return { minPresent: 0, maxPresent: null };
  }
  const minPresent = min === undefined
    ? 1
    : numberOption(min, "--min-present", { min: 0, integer: true, max: nGenomes });
  const maxPresent = max === undefined
    ? null
    : numberOption(max, "--max-present", { min: 0, integer: true, max: nGenomes });
  if (maxPresent !== null && maxPresent < minPresent) {
    throw new GenecontentError(
      `--max-present ${maxPresent} is below --min-present ${minPresent}: no family fits.`,
    );
  }
  return { minPresent, maxPresent };
}
