/**
 * Parameter values of a model: between the named form people write (`{ gain: 0.1, alpha: 0.5 }`,
 * mixture class weights) and the vector every fitter and likelihood uses, in the order of
 * {@linkcode modelParameters}.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { formatModel, type ModelDescription, modelParameters } from "./description.ts";

/**
 * Class weights from stick-breaking splits: w_c = split_c * prod_{d < c} (1 - split_d), and the
 * last class takes what is left.
 *
 * @example
 * ```ts
 * import { weightsFromSplits } from "./values.ts";
 * const w = weightsFromSplits([0.5, 0.5]);
 * console.assert(w.join() === "0.5,0.25,0.25");
 * ```
 */
export function weightsFromSplits(splits: ArrayLike<number>): number[] {
  const w: number[] = [];
  let rest = 1;
  for (let c = 0; c < splits.length; c++) {
    w.push(rest * splits[c]);
    rest *= 1 - splits[c];
  }
  w.push(rest);
  return w;
}

/** The largest double below 1: splits live in the open interval (0, 1). */
const BELOW_ONE = 1 - 2 ** -53;

/**
 * Stick-breaking splits from non-negative class weights (normalised to sum 1):
 * split_c = w_c / (w_c + ... + w_K), each tail summed directly rather than by subtraction, and
 * kept inside the open interval (0, 1) where a weight or a tail underflows to 0.
 *
 * @example
 * ```ts
 * import { splitsFromWeights } from "./values.ts";
 * console.assert(splitsFromWeights([0.5, 0.25, 0.25]).join() === "0.5,0.5");
 * ```
 */
export function splitsFromWeights(weights: ArrayLike<number>): number[] {
  const k = weights.length;
  if (k < 2) throw new GenecontentError(`A mixture needs at least 2 class weights; got ${k}.`);
  for (let c = 0; c < k; c++) {
    if (!(weights[c] >= 0 && Number.isFinite(weights[c]))) {
      throw new GenecontentError(`Class weights must be finite and >= 0; got ${weights[c]}.`);
    }
  }
  const tail = new Float64Array(k + 1);
  for (let c = k - 1; c >= 0; c--) tail[c] = tail[c + 1] + weights[c];
  if (!(tail[0] > 0)) throw new GenecontentError("Class weights must not all be 0.");
  const splits: number[] = [];
  for (let c = 0; c < k - 1; c++) {
    const s = tail[c] > 0 ? weights[c] / tail[c] : 0.5;
    splits.push(Math.min(BELOW_ONE, Math.max(Number.MIN_VALUE, s)));
  }
  return splits;
}

/**
 * The value vector of `model` from named values; every free parameter must be given, inside
 * its domain, and no other name.
 *
 * @example
 * ```ts
 * import { parseModel } from "./description.ts";
 * import { valuesFromNames } from "./values.ts";
 * const v = valuesFromNames(parseModel("gamma4"), { gain: 0.5, loss: 1, alpha: 0.5 });
 * console.assert(v.length === 3 && v[2] === 0.5);
 * ```
 */
export function valuesFromNames(
  model: ModelDescription,
  named: Readonly<Record<string, number>>,
): Float64Array {
  const specs = modelParameters(model);
  const known = new Set(specs.map((p) => p.name));
  const extra = Object.keys(named).filter((k) => !known.has(k));
  if (extra.length > 0) {
    throw new GenecontentError(
      `Model ${formatModel(model)} has no parameter ${extra.join(", ")}; its parameters are ` +
        `${specs.map((p) => p.name).join(", ")}.`,
    );
  }
  return Float64Array.from(specs, (p) => {
    const v = named[p.name];
    if (v === undefined) {
      throw new GenecontentError(
        `Model ${formatModel(model)} needs a value for ${p.name} (${p.description}).`,
      );
    }
    if (!(v > p.lower && v < p.upper)) {
      throw new GenecontentError(
        `${p.name} must be in (${p.lower}, ${p.upper === Infinity ? "infinity" : p.upper}); ` +
          `got ${v}.`,
      );
    }
    return v;
  });
}

/**
 * Named values of a value vector.
 *
 * @example
 * ```ts
 * import { parseModel } from "./description.ts";
 * import { namedValues } from "./values.ts";
 * console.assert(namedValues(parseModel("null"), Float64Array.of(0.1, 0.2)).loss === 0.2);
 * ```
 */
export function namedValues(model: ModelDescription, values: ArrayLike<number>): Record<
  string,
  number
> {
  const specs = modelParameters(model);
  if (values.length !== specs.length) {
    throw new RangeError(
      `Model ${formatModel(model)} has ${specs.length} parameters; got ${values.length} values.`,
    );
  }
  return Object.fromEntries(specs.map((p, i) => [p.name, values[i]]));
}
