/**
 * One call from a loaded dataset to a ready likelihood: choose the backend, bind it, apply the
 * ascertainment correction. `openLikelihood` gives the null model's two-rate interface,
 * `openModelLikelihood` any model's.
 *
 * @module
 */

import type { EffectSetup } from "../model/effects.ts";
import { type BackendChoice, chooseBackend } from "./choose_backend.ts";
import { GainLossLikelihood } from "./gain_loss_likelihood.ts";
import { AT_LEAST_ONE, ModelLikelihood } from "./model_likelihood.ts";
import { type Ascertainment, type ModelDescription, parseModel } from "../model/description.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/** Options of {@linkcode openLikelihood}. */
export interface OpenLikelihoodOptions {
  /** `auto` (default: native if it loads, else TypeScript with a notice), `native` or `ts`. */
  readonly backend?: BackendChoice;
  /** Native worker threads (0 or absent: one per CPU). */
  readonly threads?: number;
  /** Condition on at least this many present genomes (default 1; 0: no correction). */
  readonly minPresent?: number;
}

/**
 * Builds the likelihood of a dataset's patterns on its tree. Dispose it (or use `using`) to free
 * native memory.
 *
 * @example
 * ```ts
 * import { openLikelihood } from "./open_likelihood.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * const patterns = compressPatterns(new Uint8Array([1, 0, 1, 1]), 2, 2, ["f1", "f2"]);
 * using lik = await openLikelihood({ tree, patterns }, { backend: "ts" });
 * console.assert(lik.evaluate(0.5, 1).logLik < 0);
 * ```
 */
export async function openLikelihood(
  dataset: { readonly tree: FlatTree; readonly patterns: SitePatterns },
  options: OpenLikelihoodOptions = {},
): Promise<GainLossLikelihood> {
  const factory = await chooseBackend(options.backend ?? "auto", { threads: options.threads });
  return new GainLossLikelihood(dataset.tree, dataset.patterns, factory, {
    minPresent: options.minPresent,
  });
}

/** Options of {@linkcode openModelLikelihood}. */
export interface OpenModelLikelihoodOptions {
  /** `auto` (default: native if it loads, else TypeScript with a notice), `native` or `ts`. */
  readonly backend?: BackendChoice;
  /** Native worker threads (0 or absent: one per CPU). */
  readonly threads?: number;
  /** The prevalence window the families were filtered to (default: at least 1 present). */
  readonly window?: Ascertainment;
  /** Per-genome completeness in (0, 1], in the tree's tip order. */
  readonly completeness?: Float64Array | null;
  /** Effects on the model's rates (family sets, lineages), as in `ModelLikelihoodOptions`. */
  readonly effects?: EffectSetup | null;
}

/**
 * Builds the likelihood of a dataset under any model (a {@linkcode ModelDescription} or its
 * name, e.g. `"gamma4+inv"`). Dispose it (or use `using`) to free native memory.
 *
 * @example
 * ```ts
 * import { openModelLikelihood } from "./open_likelihood.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * const patterns = compressPatterns(new Uint8Array([1, 0, 1, 1]), 2, 2, ["f1", "f2"]);
 * using lik = await openModelLikelihood({ tree, patterns }, "gamma4", { backend: "ts" });
 * console.assert(lik.evaluate(Float64Array.of(0.5, 1, 0.5)).logLik < 0);
 * ```
 */
export async function openModelLikelihood(
  dataset: { readonly tree: FlatTree; readonly patterns: SitePatterns },
  model: ModelDescription | string,
  options: OpenModelLikelihoodOptions = {},
): Promise<ModelLikelihood> {
  const factory = await chooseBackend(options.backend ?? "auto", { threads: options.threads });
  const description = typeof model === "string" ? parseModel(model) : model;
  return new ModelLikelihood(
    dataset.tree,
    dataset.patterns,
    factory,
    description,
    options.window ?? AT_LEAST_ONE,
    { completeness: options.completeness, effects: options.effects },
  );
}
