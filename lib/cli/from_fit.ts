/**
 * Reading a fit result (`genecontent fit --json`) back as the model and values other commands
 * use (`--from-fit` of `ancestral` and `gof`).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type ModelDescription, modelParameters, parseModel } from "../model/description.ts";
import { parseNewick } from "../newick/parse.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/**
 * The model and named estimates of a fit result file (`genecontent fit --json`), as given to
 * `--from-fit`; errors name the file and what to give instead.
 *
 * @example
 * ```ts
 * import { readFitFile } from "./from_fit.ts";
 * const fit = readFitFile('{"model": "null", "parameters": {"gain": {"estimate": 0.1}, ' +
 *   '"loss": {"estimate": 0.3}}}', "fit.json");
 * console.assert(fit.named.loss === 0.3);
 * ```
 */
export function readFitFile(text: string, path: string): {
  model: ModelDescription;
  named: Record<string, number>;
  fit: Record<string, unknown>;
} {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new GenecontentError(
      `--from-fit '${path}' is not JSON (${e instanceof Error ? e.message : e}); give the ` +
        "output of 'genecontent fit --json'.",
    );
  }
  const fit = json as Record<string, unknown>;
  if (fit === null || typeof fit !== "object" || Array.isArray(fit)) {
    throw new GenecontentError(`--from-fit '${path}' holds no JSON object.`);
  }
  if (Array.isArray(fit.models)) {
    throw new GenecontentError(
      `--from-fit '${path}' compares several models (fit --compare): fit the one to use with ` +
        "'genecontent fit --model M --json' and pass that result.",
    );
  }
  if (typeof fit.model !== "string" || typeof fit.parameters !== "object" || !fit.parameters) {
    throw new GenecontentError(
      `--from-fit '${path}' has no 'model' and 'parameters': give the output of ` +
        "'genecontent fit --json'.",
    );
  }
  const model = parseModel(fit.model);
  const named: Record<string, number> = {};
  for (const spec of modelParameters(model)) {
    const entry = (fit.parameters as Record<string, unknown>)[spec.name];
    const value = typeof entry === "number"
      ? entry
      : (entry as { estimate?: unknown } | undefined)?.estimate;
    if (typeof value !== "number") {
      throw new GenecontentError(
        `--from-fit '${path}': model ${fit.model} needs an estimate of ${spec.name}, which the ` +
          "file does not give.",
      );
    }
    named[spec.name] = value;
  }
  return { model, named, fit };
}

/** Refuses a fit whose branch lengths were optimised unless `tree` is that fitted tree. */
export function checkFittedTree(fit: Record<string, unknown>, tree: FlatTree, path: string): void {
  const bl = fit.branchLengths as { optimized?: boolean; newick?: string } | undefined;
  if (!bl?.optimized || typeof bl.newick !== "string") return;
  const fitted = parseNewick(bl.newick, `${path} (branchLengths.newick)`);
  const same = fitted.nNodes === tree.nNodes &&
    fitted.tipNames.every((n, i) => n === tree.tipNames[i]) &&
    fitted.parent.every((p, i) => p === tree.parent[i]) &&
    fitted.branchLength.every((t, i) => Math.abs(t - tree.branchLength[i]) <= 1e-12 * (1 + t));
  if (!same) {
    throw new GenecontentError(
      `--from-fit '${path}' was fitted with --optimize-branch-lengths, so its rates are per unit ` +
        "length of its fitted tree: pass that tree (fit --tree-out FILE, or branchLengths.newick " +
        "of the JSON) as --tree.",
    );
  }
}
