/**
 * What every analysis command does first: read and match the inputs, choose the backend, and
 * report pruned names.
 *
 * @module
 */

import type { AlgorithmName } from "../native/ffi.ts";
import { type BackendFactory, chooseBackend } from "../likelihood/choose_backend.ts";
import { type Dataset, loadDataset } from "../load_dataset.ts";
import type { InputSettings } from "./options.ts";

/** Loaded inputs and the chosen backend. */
export interface Prepared {
  /** The dataset. */
  readonly dataset: Dataset;
  /** The backend factory. */
  readonly factory: BackendFactory;
  /** Pruned names, for the result. */
  readonly pruned: {
    readonly droppedTips: readonly string[];
    readonly droppedTaxa: readonly string[];
  };
  /** Milliseconds spent reading and matching the inputs. */
  readonly loadMs: number;
}

function listNames(names: readonly string[]): string {
  return names.slice(0, 10).join(", ") +
    (names.length > 10 ? `, ... (${names.length} in all)` : "");
}

/**
 * Loads the dataset and chooses the backend; notices about the options and the inputs, and
 * pruned names, are reported on stderr.
 *
 * @example
 * ```ts ignore
 * import { prepare } from "./prepare.ts";
 * const p = await prepare({
 *   treePath: "t.nwk", pamPath: "p.tsv", load: {}, backend: "auto", threads: 0, notices: [],
 * });
 * console.log(p.factory.name);
 * ```
 */
export async function prepare(
  settings: InputSettings,
  options: { algorithm?: AlgorithmName } = {},
): Promise<Prepared> {
  for (const notice of settings.notices) console.error(`genecontent: ${notice}`);
  const t0 = performance.now();
  const dataset = await loadDataset(settings.treePath, settings.pamPath, settings.load);
  const loadMs = performance.now() - t0;
  for (const notice of dataset.notices) console.error(`genecontent: ${notice}`);
  if (dataset.droppedTips.length > 0) {
    console.error(
      `genecontent: pruned ${dataset.droppedTips.length} tree tip(s) absent from the PAM: ${
        listNames(dataset.droppedTips)
      }`,
    );
  }
  if (dataset.droppedTaxa.length > 0) {
    console.error(
      `genecontent: dropped ${dataset.droppedTaxa.length} PAM taxon/taxa absent from the tree: ${
        listNames(dataset.droppedTaxa)
      }`,
    );
  }
  const factory = await chooseBackend(settings.backend, {
    threads: settings.threads,
    algorithm: options.algorithm,
  });
  return {
    dataset,
    factory,
    pruned: { droppedTips: dataset.droppedTips, droppedTaxa: dataset.droppedTaxa },
    loadMs,
  };
}
