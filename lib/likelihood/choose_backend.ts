/**
 * Choosing the likelihood backend: the native kernel where it can be loaded, otherwise the
 * pure-TypeScript pruning, with a one-line notice saying why.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import type { BackendName, LikelihoodBackend } from "./backend.ts";
import { TsBackend } from "./ts_backend.ts";
import { type AlgorithmName, type Kernel, openKernel } from "../native/ffi.ts";
import { locateNativeLibrary, type LocateOptions } from "../native/locate.ts";
import { NativeBackend } from "../native/native_backend.ts";

let fallbackNoticeShown = false;

/** What the user asked for: `auto` prefers native and falls back to TypeScript. */
export type BackendChoice = "auto" | BackendName;

/** Creates backends of one kind for (tree, patterns) pairs. */
export interface BackendFactory {
  /** `"native"` or `"ts"`. */
  readonly name: BackendName;
  /** Where the native library was loaded from (native only). */
  readonly libraryPath?: string;
  /** Binds a backend to a tree and pattern-major states. */
  create(tree: FlatTree, states: Uint8Array, nPatterns: number): LikelihoodBackend;
}

/** Options of {@linkcode chooseBackend}. */
export interface ChooseBackendOptions {
  /** Native worker threads (0 or absent: one per CPU). */
  readonly threads?: number;
  /** Native kernel algorithm. */
  readonly algorithm?: AlgorithmName;
  /** Where a fallback notice goes (default: one line on stderr). */
  readonly notify?: (message: string) => void;
  /** Library lookup options (tests). */
  readonly locate?: LocateOptions;
}

/** The TypeScript backend factory. */
export const tsBackendFactory: BackendFactory = {
  name: "ts",
  create: (tree, states, nPatterns) => new TsBackend(tree, states, nPatterns),
};

/**
 * Loads the native kernel if it can (`GENECONTENT_LIB`, beside the module, the crate's build
 * output, or a verified download), returning why not otherwise.
 *
 * @example
 * ```ts ignore
 * import { loadKernel } from "./choose_backend.ts";
 * const { kernel, reasons } = await loadKernel();
 * console.log(kernel?.path ?? reasons.join("; "));
 * ```
 */
export async function loadKernel(
  locate: LocateOptions = {},
): Promise<{ kernel: Kernel | null; reasons: string[] }> {
  const { candidates, problems } = await locateNativeLibrary(locate);
  const reasons = [...problems];
  for (const candidate of candidates) {
    try {
      return { kernel: openKernel(candidate.path), reasons };
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        reasons.push("FFI is not allowed (run with --allow-ffi)");
        break;
      }
      const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
      if (candidate.source === "env") {
        reasons.push(`GENECONTENT_LIB=${String(candidate.path)} could not be loaded: ${message}`);
      } else if (!/No such file|cannot open shared object|not found|os error 2/i.test(message)) {
        reasons.push(`${String(candidate.path)}: ${message}`);
      }
    }
  }
  if (reasons.length === 0) {
    reasons.push(
      "no built library was found (run `deno task build:native` or set GENECONTENT_LIB)",
    );
  }
  return { kernel: null, reasons };
}

/**
 * Chooses a backend. `native` fails with a clear error when the library cannot be loaded;
 * `auto` falls back to TypeScript with a one-line notice.
 *
 * @example
 * ```ts ignore
 * import { chooseBackend } from "./choose_backend.ts";
 * const factory = await chooseBackend("auto");
 * console.log(factory.name);
 * ```
 */
export async function chooseBackend(
  choice: BackendChoice,
  options: ChooseBackendOptions = {},
): Promise<BackendFactory> {
  if (choice === "ts") return tsBackendFactory;
  const { kernel, reasons } = await loadKernel(options.locate);
  if (kernel) {
    return {
      name: "native",
      libraryPath: kernel.path,
      create: (tree, states, nPatterns) =>
        new NativeBackend(kernel, tree, states, nPatterns, {
          threads: options.threads,
          algorithm: options.algorithm,
        }),
    };
  }
  if (choice === "native") {
    throw new GenecontentError(`The native backend cannot be loaded: ${reasons.join("; ")}.`);
  }
  const message = `genecontent: using the TypeScript backend (${reasons.join("; ")}).`;
  if (options.notify) options.notify(message);
  else if (!fallbackNoticeShown) {
    // One notice per process, however many likelihoods a script opens.
    fallbackNoticeShown = true;
    console.error(message);
  }
  return tsBackendFactory;
}
