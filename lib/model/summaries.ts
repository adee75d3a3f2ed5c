/**
 * Unit-free summaries of a model at given parameter values: its components with their weights,
 * rates and stationary presence, and the expected number of gain and loss events per family
 * over the whole tree. Rates are in units of the tree's branch lengths and cannot be compared
 * across trees in other units; these summaries can.
 *
 * @module
 */

import type { FlatTree } from "../tree/flat_tree.ts";
import { expandModel } from "./components.ts";
import { type ModelDescription, modelParameters } from "./description.ts";
import { gammaCategoryRates } from "./gamma.ts";

/** One component of a model at given values. */
export interface ComponentSummary {
  /** `category1`, `class2`, `single` or `inv`. */
  readonly name: string;
  /** Its share of families (before ascertainment). */
  readonly weight: number;
  /** Gain rate per unit branch length (0 for the invariant class). */
  readonly gain: number;
  /** Loss rate per unit branch length (0 for the invariant class). */
  readonly loss: number;
  /** Stationary probability of presence (1 for the invariant class). */
  readonly pi1: number;
  /** Expected gains plus losses per family over the whole tree, at stationarity. */
  readonly expectedEvents: number;
}

/** The summaries of a model at given values on a tree. */
export interface ModelSummary {
  /** Each component. */
  readonly components: readonly ComponentSummary[];
  /** Rate multipliers of the gamma categories (mean 1), or `null` for other models. */
  readonly categoryRates: readonly number[] | null;
  /** Sum of the tree's branch lengths. */
  readonly treeLength: number;
  /**
   * Expected gains plus losses of a family over the whole tree at stationarity, averaged over
   * the components (before ascertainment): sum_c w_c T 2 gain_c loss_c / (gain_c + loss_c).
   */
  readonly expectedEventsPerFamily: number;
  /** Expected share of families present in a genome, before ascertainment: sum_c w_c pi1_c. */
  readonly expectedPresence: number;
}

/**
 * Summarises `model` at `values` on `tree`.
 *
 * @example
 * ```ts
 * import { summarizeModel } from "./summaries.ts";
 * import { parseModel } from "./description.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
 * const s = summarizeModel(parseModel("null"), Float64Array.of(1, 1), tree);
 * // Two branches of length 1, events at rate 2 * 1 * 1 / 2 = 1 each at stationarity.
 * console.assert(Math.abs(s.expectedEventsPerFamily - 2) < 1e-12);
 * ```
 */
export function summarizeModel(
  model: ModelDescription,
  values: ArrayLike<number>,
  tree: FlatTree,
): ModelSummary {
  let treeLength = 0;
  for (let v = 0; v < tree.nNodes - 1; v++) treeLength += tree.branchLength[v];
  const comps = expandModel(model, values);
  const kind = model.rates.kind;
  const components: ComponentSummary[] = comps.rates.map((c, i) => {
    const s = c.gain + c.loss;
    return {
      name: kind === "gamma" ? `category${i + 1}` : kind === "mixture" ? `class${i + 1}` : "single",
      weight: Math.exp(c.logWeight),
      gain: c.gain,
      loss: c.loss,
      pi1: c.gain / s,
      expectedEvents: treeLength * 2 * c.gain * c.loss / s,
    };
  });
  if (comps.invariant) {
    components.push({
      name: "inv",
      weight: Math.exp(comps.invariant.logWeight),
      gain: 0,
      loss: 0,
      pi1: 1,
      expectedEvents: 0,
    });
  }
  const categoryRates = model.rates.kind === "gamma"
    ? Array.from(
      gammaCategoryRates(
        values[modelParameters(model).findIndex((p) => p.name === "alpha")],
        model.rates.categories,
      ).rates,
    )
    : null;
  return {
    components,
    categoryRates,
    treeLength,
    expectedEventsPerFamily: components.reduce((a, c) => a + c.weight * c.expectedEvents, 0),
    expectedPresence: components.reduce((a, c) => a + c.weight * c.pi1, 0),
  };
}
