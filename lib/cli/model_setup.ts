/**
 * From the model options of a command to a ready likelihood: the model, the ascertainment
 * window, the per-genome completeness table and the `ModelLikelihood` on the loaded dataset.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type BackendFactory, tsBackendFactory } from "../likelihood/choose_backend.ts";
import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
import type { Dataset } from "../load_dataset.ts";
import type { Ascertainment, ModelDescription } from "../model/description.ts";
import { readCompleteness } from "../model/tip_error.ts";
import { type InputRecord, inputRecord } from "../provenance.ts";
import { flatTreeFromParents, totalLength } from "../tree/flat_tree.ts";
import {
  ascertainmentOption,
  type AscertainmentOptionValues,
  modelOption,
  type ModelOptionValues,
} from "./model_options.ts";

/** What the model options of a command describe, on one dataset. */
export interface ModelSetup {
  /** The model. */
  readonly model: ModelDescription;
  /** The prevalence window the PAM was filtered to. */
  readonly window: Ascertainment;
  /** Per-genome completeness in the tree's tip order, or `null`. */
  readonly completeness: Float64Array | null;
  /** The completeness file's record for the provenance, or `null`. */
  readonly completenessInput: InputRecord | null;
}

/** Reads the model, window and completeness options against a loaded dataset. */
export async function modelSetup(
  v: ModelOptionValues & AscertainmentOptionValues,
  dataset: Dataset,
  model: ModelDescription = modelOption(v),
): Promise<ModelSetup> {
  const window = ascertainmentOption(v, dataset.tree.nTips);
  let completeness: Float64Array | null = null;
  let completenessInput: InputRecord | null = null;
  if (v.completeness !== undefined) {
    completeness = await readCompleteness(v.completeness, dataset.tree.tipNames);
    completenessInput = await inputRecord(
      "completeness",
      v.completeness,
      await Deno.readFile(v.completeness),
    );
  }
  return { model, window, completeness, completenessInput };
}

/** Refuses a tree whose branches all have length 0 (every genome has the root's state). */
export function refuseZeroLengthTree(dataset: Dataset, treePath: string): void {
  if (!(totalLength(dataset.tree) > 0)) {
    throw new GenecontentError(
      `Every branch of the tree '${treePath}' has length 0: every genome then has the root's ` +
        "state, so the log-likelihood is -Infinity for any family present in some genomes and " +
        "absent in others. Give the tree positive branch lengths.",
    );
  }
}

/** The likelihood of `setup` on `dataset` (see {@linkcode refuseZeroLengthTree}). */
export function openSetupLikelihood(
  dataset: Dataset,
  factory: BackendFactory,
  setup: ModelSetup,
  treePath: string,
): ModelLikelihood {
  refuseZeroLengthTree(dataset, treePath);
  return new ModelLikelihood(
    dataset.tree,
    dataset.patterns,
    factory,
    setup.model,
    setup.window,
    { completeness: setup.completeness },
  );
}

/** The window in words, for outputs. */
export function windowText(window: Ascertainment): string {
  if (window.minPresent === 0 && window.maxPresent === null) return "none";
  const lo = `at least ${window.minPresent} present`;
  return window.maxPresent === null ? lo : `${lo} and at most ${window.maxPresent} present`;
}

/**
 * `factory` when its backends have the expectations pass branch-length gradients need, else the
 * TypeScript backend, with a one-line notice on stderr.
 */
export function expectationsFactory(factory: BackendFactory): BackendFactory {
  const probe = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 1, 0]);
  const backend = factory.create(probe, Uint8Array.of(0, 1), 1);
  let has = false;
  try {
    // A native library built before the expectations pass binds the method but refuses the call.
    has = backend.expectations?.(Float64Array.of(1, 1)) !== undefined;
  } catch {
    has = false;
  } finally {
    backend[Symbol.dispose]();
  }
  if (has) return factory;
  console.error(
    `genecontent: notice: the ${factory.name} backend has no expectations pass; branch lengths ` +
      "are optimised on the TypeScript backend.",
  );
  return tsBackendFactory;
}
