/**
 * Option parsing shared by the commands: `node:util` parseArgs with strict checking, and
 * conversions that name the option in their errors.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { GenecontentError } from "../errors.ts";
import type { BackendChoice } from "../likelihood/choose_backend.ts";
import type { LoadOptions } from "../load_dataset.ts";
import type { PamOrientation } from "../pam/read.ts";

/** Options every command that reads a tree and a PAM accepts. */
export const INPUT_OPTIONS = {
  tree: { type: "string" },
  pam: { type: "string" },
  orientation: { type: "string", default: "auto" },
  "prune-to-shared": { type: "boolean", default: false },
  binarize: { type: "boolean", default: false },
  backend: { type: "string", default: "auto" },
  threads: { type: "string", default: "0" },
  json: { type: "boolean", default: false },
  out: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const satisfies ParseArgsConfig["options"];

/** Help text for {@linkcode INPUT_OPTIONS}. */
export const INPUT_HELP = `Input:
  --tree FILE            rooted Newick tree with branch lengths
  --pam FILE             presence/absence matrix: TSV/CSV (either orientation), Roary or
                         Panaroo gene_presence_absence.csv or .Rtab, PPanGGOLiN matrix.csv
  --orientation WHICH    auto (match names against the tree), families-as-rows or
                         families-as-columns
  --prune-to-shared      prune the tree and the PAM to their shared taxa (dropped names are
                         reported) instead of stopping with an error
  --binarize             treat non-negative integer counts as presence (> 0)
Computation and output:
  --backend NAME         auto (native if it loads, else TypeScript), native or ts
  --threads N            native worker threads (0: one per CPU)
  --json                 print the result as JSON on stdout
  --out FILE             also write the result as TSV (and FILE.provenance.json)
  -h, --help             this help`;

/**
 * Parses `args` strictly against `options`; unknown options are a user error.
 *
 * @example
 * ```ts
 * import { parseCommandArgs, INPUT_OPTIONS } from "./options.ts";
 * const v = parseCommandArgs(["--tree", "t.nwk"], INPUT_OPTIONS, "fit");
 * console.assert(v.tree === "t.nwk");
 * ```
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  command: string,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new GenecontentError(`${message} (see 'genecontent ${command} --help').`);
  }
}

/**
 * A required option's value, or an error naming it.
 *
 * @example
 * ```ts
 * import { required } from "./options.ts";
 * console.assert(required("x", "--tree", "fit") === "x");
 * ```
 */
export function required(value: string | undefined, flag: string, command: string): string {
  if (value === undefined || value === "") {
    throw new GenecontentError(`'genecontent ${command}' needs ${flag} (see --help).`);
  }
  return value;
}

/**
 * A number option, checked against bounds.
 *
 * @example
 * ```ts
 * import { numberOption } from "./options.ts";
 * console.assert(numberOption("0.5", "--gain", { min: 0, exclusiveMin: true }) === 0.5);
 * ```
 */
export function numberOption(
  text: string,
  flag: string,
  bounds: { min?: number; max?: number; exclusiveMin?: boolean; integer?: boolean } = {},
): number {
  const v = Number(text);
  const trimmed = text.trim();
  const bad = trimmed === "" || !Number.isFinite(v) ||
    (bounds.integer && !Number.isInteger(v)) ||
    (bounds.min !== undefined && (bounds.exclusiveMin ? v <= bounds.min : v < bounds.min)) ||
    (bounds.max !== undefined && v > bounds.max);
  if (bad) {
    const what = [
      bounds.integer ? "a whole number" : "a number",
      bounds.min !== undefined ? `${bounds.exclusiveMin ? ">" : ">="} ${bounds.min}` : "",
      bounds.max !== undefined ? `<= ${bounds.max}` : "",
    ].filter(Boolean).join(" ");
    throw new GenecontentError(`${flag} must be ${what}; got '${text}'.`);
  }
  return v;
}

/**
 * Checks a choice option.
 *
 * @example
 * ```ts
 * import { choiceOption } from "./options.ts";
 * console.assert(choiceOption("ts", "--backend", ["auto", "native", "ts"]) === "ts");
 * ```
 */
export function choiceOption<T extends string>(
  text: string,
  flag: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new GenecontentError(`${flag} must be one of ${choices.join(", ")}; got '${text}'.`);
  }
  return text as T;
}

/** The parsed input options. */
export interface InputSettings {
  /** Tree file. */
  readonly treePath: string;
  /** PAM file. */
  readonly pamPath: string;
  /** Reading options. */
  readonly load: LoadOptions;
  /** Backend choice. */
  readonly backend: BackendChoice;
  /** Native threads (0: all). */
  readonly threads: number;
}

/**
 * Converts parsed {@linkcode INPUT_OPTIONS} values into settings.
 *
 * @example
 * ```ts
 * import { inputSettings } from "./options.ts";
 * const s = inputSettings({ tree: "t", pam: "p", orientation: "auto", backend: "ts", threads: "1" }, "fit");
 * console.assert(s.backend === "ts" && s.threads === 1);
 * ```
 */
export function inputSettings(
  v: {
    tree?: string;
    pam?: string;
    orientation?: string;
    "prune-to-shared"?: boolean;
    binarize?: boolean;
    backend?: string;
    threads?: string;
  },
  command: string,
): InputSettings {
  return {
    treePath: required(v.tree, "--tree", command),
    pamPath: required(v.pam, "--pam", command),
    load: {
      orientation: choiceOption<PamOrientation>(v.orientation ?? "auto", "--orientation", [
        "auto",
        "families-as-rows",
        "families-as-columns",
      ]),
      pruneToShared: v["prune-to-shared"] ?? false,
      binarize: v.binarize ?? false,
    },
    backend: choiceOption(v.backend ?? "auto", "--backend", ["auto", "native", "ts"]),
    threads: numberOption(v.threads ?? "0", "--threads", { min: 0, integer: true, max: 1024 }),
  };
}
