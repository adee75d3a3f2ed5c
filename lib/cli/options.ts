/**
 * Option parsing shared by the commands: `node:util` parseArgs with strict checking, and
 * conversions that name the option in their errors.
 *
 * @module
 */

import { resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { GenecontentError } from "../errors.ts";
import type { BackendChoice } from "../likelihood/choose_backend.ts";
import type { LoadOptions } from "../load_dataset.ts";
import type { PamOrientation } from "../pam/read.ts";

/** Options every command that reads a tree and a PAM accepts. */
export const INPUT_OPTIONS = {
  tree: { type: "string" },
  "tree-index": { type: "string" },
  pam: { type: "string" },
  orientation: { type: "string" },
  "prune-to-shared": { type: "boolean" },
  binarize: { type: "boolean" },
  backend: { type: "string" },
  threads: { type: "string" },
  json: { type: "boolean" },
  out: { type: "string" },
  force: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** Help text for {@linkcode INPUT_OPTIONS}. */
export const INPUT_HELP = `Input (relative paths are relative to the folder you run genecontent in):
  --tree FILE            rooted tree with branch lengths: Newick or Nexus (may be gzipped)
  --tree-index N         which tree to read when FILE holds several (1 = the first); a file
                         with several trees needs it
  --pam FILE             presence/absence matrix: TSV/CSV (either orientation), Roary or
                         Panaroo gene_presence_absence.csv or .Rtab, PPanGGOLiN matrix.csv
  --orientation WHICH    auto (default: match names against the tree), families-as-rows or
                         families-as-columns
  --prune-to-shared      prune the tree and the PAM to their shared taxa (dropped names are
                         reported) instead of stopping with an error
  --binarize             treat non-negative integer counts as presence (> 0)
Computation:
  --backend NAME         auto (default: native if it loads, else TypeScript), native or ts
  --threads N            native worker threads (default 0: one per CPU core; more than the
                         cores is capped to the cores, with a notice; not with --backend ts)
Output:
  --json                 print the whole result as JSON (with provenance) on stdout
  --out FILE             write the result table as TSV to FILE, with the whole JSON result
                         in FILE.provenance.json; '-' writes the table to stdout (and the
                         text summary to stderr)
  --force                let --out (and its .provenance.json) replace existing files; an
                         input file is never replaced
  -h, --help             this help`;

/** Parsed options, and which of them the command line gave explicitly. */
export interface ParsedCommandLine<V> {
  /** Option values (an option not given is `undefined`, unless its spec has a default). */
  readonly values: V;
  /** Names of the options given on the command line. */
  readonly given: ReadonlySet<string>;
}

/**
 * Parses `args` strictly against `options`: an unknown option, a positional argument, or an
 * option given twice (other than one declared `multiple`) is a user error naming it.
 *
 * @example
 * ```ts
 * import { parseCommandLine, INPUT_OPTIONS } from "./options.ts";
 * const { values, given } = parseCommandLine(["--tree", "t.nwk", "--json"], INPUT_OPTIONS, "fit");
 * console.assert(values.tree === "t.nwk" && given.has("json") && !given.has("pam"));
 * ```
 */
export function parseCommandLine<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  command: string,
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new GenecontentError(
      `${message.replaceAll("\n", " ")} (see 'genecontent ${command} --help').`,
    );
  }
  const seen = new Map<string, string[]>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option") continue;
    const spec = options[token.name] as { multiple?: boolean } | undefined;
    const list = seen.get(token.name) ?? [];
    list.push(token.value === undefined ? token.rawName : `${token.rawName} ${token.value}`);
    seen.set(token.name, list);
    if (list.length === 2 && !spec?.multiple) {
      throw new GenecontentError(
        `Option --${token.name} is given twice (${list.join(", ")}): give it once ` +
          `(see 'genecontent ${command} --help').`,
      );
    }
  }
  return { values: parsed.values, given: new Set(seen.keys()) as ReadonlySet<string> };
}

/**
 * Parses `args` strictly against `options` (see {@linkcode parseCommandLine}) and returns the
 * values.
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
  return parseCommandLine(args, options, command).values;
}

/**
 * Refuses options that exclude each other: for each pair `[a, b]` (option names without the
 * dashes) given together, a user error naming both.
 *
 * @example
 * ```ts
 * import { refuseConflicts } from "./options.ts";
 * refuseConflicts(new Set(["level"]), [["level", "no-ci"]], "fit"); // fine: only one given
 * ```
 */
export function refuseConflicts(
  given: ReadonlySet<string>,
  pairs: readonly (readonly [string, string, string?])[],
  command: string,
): void {
  for (const [a, b, why] of pairs) {
    if (given.has(a) && given.has(b)) {
      throw new GenecontentError(
        `Options --${a} and --${b} cannot be used together${why ? `: ${why}` : ""} ` +
          `(see 'genecontent ${command} --help').`,
      );
    }
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
  /** Native threads (0: one per core), after capping to the cores. */
  readonly threads: number;
  /** Notices about the options (a capped thread count), for stderr. */
  readonly notices: readonly string[];
}

/**
 * The number of CPU cores the runtime reports (at least 1).
 *
 * @example
 * ```ts
 * import { cpuCores } from "./options.ts";
 * console.assert(cpuCores() >= 1);
 * ```
 */
export function cpuCores(): number {
  const n = globalThis.navigator?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : 1;
}

/**
 * Converts parsed {@linkcode INPUT_OPTIONS} values into settings (file paths made absolute
 * against the working directory). `--threads` with
 * `--backend ts` is an error (the TypeScript backend has one thread); a thread count above
 * `cores` is capped to it with a notice (more threads than cores only adds contention).
 *
 * @example
 * ```ts
 * import { inputSettings } from "./options.ts";
 * const s = inputSettings({ tree: "t", pam: "p", backend: "native", threads: "64" }, "fit", 2);
 * console.assert(s.threads === 2 && s.notices.length === 1 && s.treePath.endsWith("/t"));
 * ```
 */
export function inputSettings(
  v: {
    tree?: string;
    "tree-index"?: string;
    pam?: string;
    orientation?: string;
    "prune-to-shared"?: boolean;
    binarize?: boolean;
    backend?: string;
    threads?: string;
  },
  command: string,
  cores: number = cpuCores(),
): InputSettings {
  const backend = choiceOption(v.backend ?? "auto", "--backend", ["auto", "native", "ts"]);
  if (backend === "ts" && v.threads !== undefined) {
    throw new GenecontentError(
      `Options --threads and --backend ts cannot be used together: the TypeScript backend ` +
        `runs on one thread (see 'genecontent ${command} --help').`,
    );
  }
  const notices: string[] = [];
  let threads = numberOption(v.threads ?? "0", "--threads", { min: 0, integer: true });
  if (threads > cores) {
    notices.push(
      `--threads ${threads} is more than the ${cores} CPU core(s) of this machine; ` +
        `using ${cores}.`,
    );
    threads = cores;
  }
  return {
    // Absolute, so that messages and provenance say which file was meant.
    treePath: resolve(required(v.tree, "--tree", command)),
    pamPath: resolve(required(v.pam, "--pam", command)),
    load: {
      orientation: choiceOption<PamOrientation>(v.orientation ?? "auto", "--orientation", [
        "auto",
        "families-as-rows",
        "families-as-columns",
      ]),
      pruneToShared: v["prune-to-shared"] ?? false,
      binarize: v.binarize ?? false,
      ...(v["tree-index"] === undefined ? {} : {
        treeIndex: numberOption(v["tree-index"], "--tree-index", { min: 1, integer: true }),
      }),
    },
    backend,
    threads,
    notices,
  };
}
