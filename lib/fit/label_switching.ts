/**
 * The label-switching rule for mixture models. A K-class mixture has K! parameter vectors with
 * the same likelihood (any permutation of the classes); fits, intervals and comparisons report the
 * one whose classes are in ascending order of turnover `gain_c + loss_c` (ties keep their
 * order), with the stick-breaking splits recomputed from the permuted class weights, so that
 * `split_c` is again the share of class c among classes c..K.
 *
 * The rule reads the parameter names: classes are the `gain<c>`/`loss<c>` pairs and the splits
 * `split<c>`, c = 1..K (see `lib/model/description.ts`); a model without them is left alone.
 *
 * @module
 */

import type { ParameterSpec } from "../model/description.ts";
import { splitsFromWeights, weightsFromSplits } from "../model/values.ts";

/** Where a mixture's class parameters are in a value vector. */
export interface MixtureLayout {
  /** Index of `gain<c>` for c = 1..K. */
  readonly gain: number[];
  /** Index of `loss<c>`. */
  readonly loss: number[];
  /** Index of `split<c>` for c = 1..K-1. */
  readonly split: number[];
}

/**
 * The mixture layout of a parameter list, or null when it has no classes `gain1`, `loss1`, ....
 *
 * @example
 * ```ts
 * import { modelParameters, parseModel } from "../model/description.ts";
 * import { mixtureLayout } from "./label_switching.ts";
 * const layout = mixtureLayout(modelParameters(parseModel("mixture2")))!;
 * console.assert(layout.gain.join() === "0,2" && layout.split.join() === "4");
 * ```
 */
export function mixtureLayout(parameters: readonly ParameterSpec[]): MixtureLayout | null {
  const index = new Map(parameters.map((p, i) => [p.name, i]));
  const gain: number[] = [];
  const loss: number[] = [];
  const split: number[] = [];
  for (let c = 1; index.has(`gain${c}`); c++) {
    const l = index.get(`loss${c}`);
    if (l === undefined) return null;
    gain.push(index.get(`gain${c}`)!);
    loss.push(l);
  }
  if (gain.length < 2) return null;
  for (let c = 1; c < gain.length; c++) {
    const s = index.get(`split${c}`);
    if (s === undefined) return null;
    split.push(s);
  }
  return { gain, loss, split };
}

/**
 * Applies the label-switching rule to natural-scale `values`: returns the vector with classes in
 * ascending order of gain + loss and splits recomputed, and the permutation (`order[newClass] =
 * oldClass`). Values of a model without mixture classes come back unchanged.
 *
 * @example
 * ```ts
 * import { modelParameters, parseModel } from "../model/description.ts";
 * import { relabelMixture } from "./label_switching.ts";
 * const params = modelParameters(parseModel("mixture2"));
 * // gain1, loss1, gain2, loss2, split1: class 1 is the faster one, with weight 0.3.
 * const r = relabelMixture(params, new Float64Array([2, 4, 0.1, 0.2, 0.3]));
 * console.assert(r.values.join() === "0.1,0.2,2,4,0.7" && r.order.join() === "1,0");
 * ```
 */
export function relabelMixture(
  parameters: readonly ParameterSpec[],
  values: Float64Array,
): { values: Float64Array; order: number[] } {
  const layout = mixtureLayout(parameters);
  if (!layout) return { values: Float64Array.from(values), order: [] };
  const k = layout.gain.length;
  const turnover = layout.gain.map((g, c) => values[g] + values[layout.loss[c]]);
  const order = Array.from({ length: k }, (_, c) => c).sort((a, b) =>
    turnover[a] - turnover[b] || a - b
  );
  const weights = weightsFromSplits(layout.split.map((i) => values[i]));
  // Splits are recomputed from the reordered weights, each tail summed directly.
  const out = Float64Array.from(values);
  order.forEach((old, c) => {
    out[layout.gain[c]] = values[layout.gain[old]];
    out[layout.loss[c]] = values[layout.loss[old]];
  });
  const splits = splitsFromWeights(order.map((old) => weights[old]));
  layout.split.forEach((i, c) => (out[i] = splits[c]));
  return { values: out, order };
}
