/**
 * A model of gene-content evolution as a value: which components it has, and the parameters
 * (names, domains, working transforms) those components bring. The likelihood, the fitter, the
 * profile intervals, the simulator and every output read this one description; nothing else in
 * genecontent knows how many parameters a model has.
 *
 * A model is written as a base followed by `+` options:
 * - `null` (alias `single`): one gain rate and one loss rate for every family;
 * - `gammaK` (e.g. `gamma4`): discrete gamma rate variation across families (Yang 1994), K
 *   equal-probability categories, each the mean of its quantile bin, mean 1, multiplying gain and
 *   loss together; shape `alpha`;
 * - `mixtureK` (K >= 2): K classes, each with its own gain and loss rate, in proportions given by
 *   stick-breaking splits (`split_c` is the share of class c among classes c..K);
 * - `+inv`: a share `pInv` of families that never change state (always present);
 * - `+error`: each recorded cell is wrong with probability `falsePresence` (recorded 1, truly 0)
 *   or `falseAbsence` (recorded 0, truly 1).
 *
 * Rates are per unit branch length of the tree. A factor on the tree's length would be
 * confounded with them, so the model has none.
 *
 * @example
 * ```ts
 * import { formatModel, modelParameters, parseModel } from "./description.ts";
 * const model = parseModel("gamma4+inv");
 * console.assert(formatModel(model) === "gamma4+inv");
 * console.assert(modelParameters(model).map((p) => p.name).join() === "gain,loss,alpha,pInv");
 * ```
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/** How rates vary across families. */
export type RateVariation =
  | { readonly kind: "single" }
  | { readonly kind: "gamma"; readonly categories: number }
  | { readonly kind: "mixture"; readonly classes: number };

/** A model of gene-content evolution (see the module documentation for the notation). */
export interface ModelDescription {
  /** Rate variation across families. */
  readonly rates: RateVariation;
  /** Whether a share `pInv` of families never changes state (present everywhere). */
  readonly invariant: boolean;
  /** Whether recorded cells have fitted false-presence and false-absence probabilities. */
  readonly tipError: boolean;
}

/** What kind of quantity a parameter is (decides its domain and working transform). */
export type ParameterKind = "rate" | "shape" | "probability" | "split" | "error" | "effect";

/** One free parameter of a model. */
export interface ParameterSpec {
  /** Name, as in outputs and on the command line (`gain`, `loss2`, `alpha`, `pInv`, ...). */
  readonly name: string;
  /** What it is, in words, for `--help` and reports. */
  readonly description: string;
  /** Its kind. */
  readonly kind: ParameterKind;
  /** Units, e.g. "per unit branch length"; empty where unit-free. */
  readonly units: string;
  /** Lower end of its domain (excluded). */
  readonly lower: number;
  /** Upper end of its domain (excluded). */
  readonly upper: number;
  /**
   * The unconstrained scale the fitter works on: log for (0, inf), logit for (lower, upper),
   * identity for the real line (the log multipliers of `effects.ts`).
   */
  readonly transform: "log" | "logit" | "identity";
}

/** Ascertainment: the prevalence window every family in the PAM was filtered to. */
export interface Ascertainment {
  /** Each family is present in at least this many of its observed genomes (0: no lower filter). */
  readonly minPresent: number;
  /** Each family is present in at most this many of its observed genomes (null: no upper filter). */
  readonly maxPresent: number | null;
}

/** The null model: one (gain, loss) pair. */
export const NULL_MODEL: ModelDescription = {
  rates: { kind: "single" },
  invariant: false,
  tipError: false,
};

/** The largest number of gamma categories or mixture classes accepted. */
export const MAX_COMPONENTS = 64;

const RATE_UNITS = "per unit branch length";

/**
 * Parses a model name such as `null`, `gamma4`, `gamma8+inv+error` or `mixture3+error`.
 *
 * @example
 * ```ts
 * import { parseModel } from "./description.ts";
 * console.assert(parseModel("mixture3+error").rates.kind === "mixture");
 * ```
 */
export function parseModel(spec: string): ModelDescription {
  const parts = spec.trim().split("+").map((s) => s.trim());
  const base = parts[0].toLowerCase();
  let rates: RateVariation;
  const counted = /^(gamma|mixture)(\d+)$/.exec(base);
  if (base === "null" || base === "single") rates = { kind: "single" };
  else if (counted) {
    const k = Number(counted[2]);
    const kind = counted[1] as "gamma" | "mixture";
    const least = kind === "gamma" ? 2 : 2;
    if (!(k >= least && k <= MAX_COMPONENTS)) {
      throw new GenecontentError(
        `Model '${spec}': ${kind} needs from ${least} to ${MAX_COMPONENTS} ${
          kind === "gamma" ? "categories" : "classes"
        }; got ${k}.`,
      );
    }
    rates = kind === "gamma" ? { kind, categories: k } : { kind, classes: k };
  } else {
    throw new GenecontentError(
      `Unknown model '${spec}': the base is null, gammaK (e.g. gamma4) or mixtureK (e.g. ` +
        "mixture3), optionally followed by +inv and +error.",
    );
  }
  let invariant = false;
  let tipError = false;
  for (const option of parts.slice(1)) {
    const o = option.toLowerCase();
    if (o === "inv" && !invariant) invariant = true;
    else if (o === "error" && !tipError) tipError = true;
    else {
      throw new GenecontentError(
        `Model '${spec}': '+${option}' is ${
          o === "inv" || o === "error" ? "given twice" : "not an option (use +inv or +error)"
        }.`,
      );
    }
  }
  return { rates, invariant, tipError };
}

/** The canonical name of a model (`parseModel(formatModel(m))` equals `m`). */
export function formatModel(model: ModelDescription): string {
  const r = model.rates;
  const base = r.kind === "single"
    ? "null"
    : r.kind === "gamma"
    ? `gamma${r.categories}`
    : `mixture${r.classes}`;
  return base + (model.invariant ? "+inv" : "") + (model.tipError ? "+error" : "");
}

/** The free parameters of a model, in the order every parameter vector uses. */
export function modelParameters(model: ModelDescription): ParameterSpec[] {
  const out: ParameterSpec[] = [];
  const rate = (name: string, what: string): ParameterSpec => ({
    name,
    description: what,
    kind: "rate",
    units: RATE_UNITS,
    lower: 0,
    upper: Infinity,
    transform: "log",
  });
  const r = model.rates;
  if (r.kind === "mixture") {
    for (let c = 1; c <= r.classes; c++) {
      out.push(rate(`gain${c}`, `gain rate (absent to present) of class ${c}`));
      out.push(rate(`loss${c}`, `loss rate (present to absent) of class ${c}`));
    }
    for (let c = 1; c < r.classes; c++) {
      out.push({
        name: `split${c}`,
        description: `share of class ${c} among classes ${c} to ${r.classes}`,
        kind: "split",
        units: "",
        lower: 0,
        upper: 1,
        transform: "logit",
      });
    }
  } else {
    out.push(rate("gain", "gain rate (absent to present)"));
    out.push(rate("loss", "loss rate (present to absent)"));
    if (r.kind === "gamma") {
      out.push({
        name: "alpha",
        description: `shape of the gamma distribution of rate multipliers (${r.categories} ` +
          "categories, mean 1)",
        kind: "shape",
        units: "",
        lower: 0,
        upper: Infinity,
        transform: "log",
      });
    }
  }
  if (model.invariant) {
    out.push({
      name: "pInv",
      description: "share of families that never change state (present everywhere)",
      kind: "probability",
      units: "",
      lower: 0,
      upper: 1,
      transform: "logit",
    });
  }
  if (model.tipError) {
    for (
      const [name, what] of [
        ["falsePresence", "probability that a truly absent cell is recorded present"],
        ["falseAbsence", "probability that a truly present cell is recorded absent"],
      ]
    ) {
      out.push({
        name,
        description: what,
        kind: "error",
        units: "",
        lower: 0,
        upper: 0.5,
        transform: "logit",
      });
    }
  }
  return out;
}
