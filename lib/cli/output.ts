/**
 * Writing results where the user asks, without ever destroying input: JSON or text on stdout,
 * TSV tables in files (or on stdout with `-`), each file with a `.provenance.json` sidecar.
 *
 * Every output file is checked before any work is done and again just before it is written:
 * an empty name is an error, a file that is one of the inputs (same real path, or the same file
 * through a hard link) is never written, an existing file is replaced only with `--force`, and
 * the content is written to a temporary file in the same folder and renamed over the target,
 * so an interrupted run never leaves half a file. Relative paths are relative to the process's
 * working directory (the command line changes to the caller's folder first).
 *
 * @module
 */

import { basename, dirname, resolve } from "node:path";
import { GenecontentError } from "../errors.ts";

/**
 * Formats rows as TSV (header first). Numbers are written with full precision.
 *
 * @example
 * ```ts
 * import { toTsv } from "./output.ts";
 * console.assert(toTsv(["a", "b"], [["x", 1.5]]) === "a\tb\nx\t1.5\n");
 * ```
 */
export function toTsv(
  header: readonly string[],
  rows: readonly (readonly (string | number | null)[])[],
): string {
  const cell = (v: string | number | null) => (v === null ? "NA" : String(v));
  return [header.join("\t"), ...rows.map((r) => r.map(cell).join("\t"))].join("\n") + "\n";
}

/** One output a command may write, as the user gave it. */
export interface OutputRequest {
  /** The option that names it, e.g. `--out` (used in messages). */
  readonly flag: string;
  /** The option's value: a file, `-` for stdout, or `undefined` when not given. */
  readonly value: string | undefined;
  /** Whether a file output gets a `FILE.provenance.json` sidecar (default true). */
  readonly provenance?: boolean;
}

/** Where one requested output goes. */
export interface PlannedOutput {
  /** The option that names it. */
  readonly flag: string;
  /** True when it goes to stdout. */
  readonly stdout: boolean;
  /** The file as the user gave it (for messages), or `-`. */
  readonly display: string;
  /** The absolute file path, or `null` for stdout. */
  readonly path: string | null;
  /** The absolute sidecar path, or `null` (stdout, or no sidecar). */
  readonly provenancePath: string | null;
}

/** Options of {@linkcode planOutputs}. */
export interface PlanOptions {
  /** Files the command reads (tree, PAM, ...), by role: none of them is ever written. */
  readonly inputs: Readonly<Record<string, string | undefined>>;
  /** Replace existing files (never inputs). */
  readonly force: boolean;
}

/** An input file: its role, the path as given, and the absolute path. */
interface Input {
  readonly role: string;
  readonly given: string;
  readonly path: string;
}

interface Identity {
  readonly real: string;
  readonly dev: number | null;
  readonly ino: number | null;
}

async function identity(path: string): Promise<Identity | null> {
  try {
    const info = await Deno.stat(path);
    return { real: await Deno.realPath(path), dev: info.dev, ino: info.ino };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function sameFile(a: Identity, b: Identity): boolean {
  return a.real === b.real ||
    (a.ino !== null && a.dev !== null && a.dev === b.dev && a.ino === b.ino);
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** The outputs of one command run, checked; {@linkcode OutputPlan.write} writes one of them. */
export class OutputPlan {
  readonly #outputs: Map<string, PlannedOutput>;
  readonly #inputs: readonly Input[];
  readonly #force: boolean;

  /** Use {@linkcode planOutputs}. */
  constructor(
    outputs: readonly PlannedOutput[],
    inputs: readonly Input[],
    force: boolean,
  ) {
    this.#outputs = new Map(outputs.map((o) => [o.flag, o]));
    this.#inputs = inputs;
    this.#force = force;
  }

  /** The planned output of `flag`, or `undefined` when it was not requested. */
  get(flag: string): PlannedOutput | undefined {
    return this.#outputs.get(flag);
  }

  /** Whether some output goes to stdout (then human-readable summaries go to stderr). */
  get stdoutTaken(): boolean {
    for (const o of this.#outputs.values()) if (o.stdout) return true;
    return false;
  }

  /**
   * Writes the output of `flag` (a no-op when it was not requested): `text` to stdout or to
   * its file, and `provenance` (if given) as JSON to the file's sidecar. The file and its
   * sidecar are each written to a temporary file in the same folder and renamed into place.
   */
  async write(flag: string, text: string, provenance?: unknown): Promise<void> {
    const o = this.#outputs.get(flag);
    if (!o) return;
    if (o.stdout) {
      await writeStdout(text);
      return;
    }
    const files: [string, string, string][] = [[o.path!, o.display, text]];
    if (o.provenancePath && provenance !== undefined) {
      files.push([
        o.provenancePath,
        `${o.display}.provenance.json`,
        JSON.stringify(provenance, null, 2) + "\n",
      ]);
    }
    // Checked again: a file may have appeared since the run started.
    for (const [path, shown] of files) {
      await checkTarget(o.flag, path, shown, this.#inputs, this.#force);
    }
    const temps: [string, string][] = [];
    try {
      for (const [path, , content] of files) {
        const temp = `${dirname(path)}/.${basename(path)}.${crypto.randomUUID()}.tmp`;
        temps.push([temp, path]);
        await Deno.writeTextFile(temp, content, { createNew: true });
      }
      for (const [temp, path] of temps) await Deno.rename(temp, path);
    } catch (e) {
      for (const [temp] of temps) await Deno.remove(temp).catch(() => {});
      const why = e instanceof Error ? e.message : String(e);
      throw new GenecontentError(`Cannot write ${o.flag} file '${o.display}': ${why}`);
    }
  }
}

async function checkTarget(
  flag: string,
  path: string,
  shown: string,
  inputs: readonly Input[],
  force: boolean,
): Promise<void> {
  const folder = dirname(path);
  const folderInfo = await lstatOrNull(folder).then((i) =>
    i?.isSymlink ? Deno.stat(folder).catch(() => null) : i
  );
  if (!folderInfo?.isDirectory) {
    throw new GenecontentError(
      `Cannot write ${flag} file '${shown}': folder '${folder}' does not exist. Create it first.`,
    );
  }
  const inputError = (input: Input) =>
    new GenecontentError(
      `${flag} '${shown}' is the ${input.role} file being read ('${input.given}'): an input is ` +
        "never overwritten, even with --force. Choose another output file.",
    );
  for (const input of inputs) if (input.path === path) throw inputError(input);
  const existing = await lstatOrNull(path);
  if (!existing) return;
  if (existing.isDirectory) {
    throw new GenecontentError(`${flag} '${shown}' is a folder: give a file name.`);
  }
  const target = await identity(path);
  for (const input of inputs) {
    const source = await identity(input.path);
    if (target && source && sameFile(target, source)) throw inputError(input);
  }
  if (!force) {
    throw new GenecontentError(
      `${flag} '${shown}' already exists: pass --force to replace it, or choose another file.`,
    );
  }
}

/**
 * Checks the requested outputs before any work is done: an empty file name, two outputs on
 * stdout or on the same file, a missing folder, an input file, or (without `force`) an
 * existing file are user errors naming the option and the file.
 *
 * @example
 * ```ts
 * import { planOutputs } from "./output.ts";
 * const plan = await planOutputs([{ flag: "--json", value: "-" }, { flag: "--out", value: undefined }], {
 *   inputs: { tree: "t.nwk" },
 *   force: false,
 * });
 * console.assert(plan.stdoutTaken && plan.get("--out") === undefined);
 * ```
 */
export async function planOutputs(
  requests: readonly OutputRequest[],
  options: PlanOptions,
): Promise<OutputPlan> {
  const planned: PlannedOutput[] = [];
  const owners = new Map<string, string>();
  let stdoutFlag: string | null = null;
  const inputs: Input[] = Object.entries(options.inputs)
    .filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== "")
    .map(([role, given]) => ({ role, given, path: resolve(given) }));
  for (const r of requests) {
    if (r.value === undefined) continue;
    if (r.value === "") {
      throw new GenecontentError(
        `${r.flag} needs a file name (or '-' for stdout); got an empty string.`,
      );
    }
    if (r.value === "-") {
      if (stdoutFlag !== null) {
        throw new GenecontentError(
          `${stdoutFlag} and ${r.flag} would both write to stdout: send one of them to a file.`,
        );
      }
      stdoutFlag = r.flag;
      planned.push({ flag: r.flag, stdout: true, display: "-", path: null, provenancePath: null });
      continue;
    }
    const path = resolve(r.value);
    const provenancePath = r.provenance === false ? null : `${path}.provenance.json`;
    const targets: [string, string][] = [[path, r.value]];
    if (provenancePath) targets.push([provenancePath, `${r.value}.provenance.json`]);
    for (const [p, shown] of targets) {
      const other = owners.get(p);
      if (other !== undefined) {
        throw new GenecontentError(
          `${other} and ${r.flag} would both write '${shown}': give them different files.`,
        );
      }
      owners.set(p, r.flag);
      await checkTarget(r.flag, p, shown, inputs, options.force);
    }
    planned.push({ flag: r.flag, stdout: false, display: r.value, path, provenancePath });
  }
  return new OutputPlan(planned, inputs, options.force);
}

const encoder = new TextEncoder();

/**
 * Writes all of `text` to stdout.
 *
 * @example
 * ```ts ignore
 * import { writeStdout } from "./output.ts";
 * await writeStdout("a\tb\n");
 * ```
 */
export async function writeStdout(text: string): Promise<void> {
  const bytes = encoder.encode(text);
  let done = 0;
  while (done < bytes.length) done += await Deno.stdout.write(bytes.subarray(done));
}

/**
 * Writes `FILE` (TSV) and `FILE.provenance.json` (the whole JSON result) under the same rules
 * as {@linkcode planOutputs}: never onto an input, never onto an existing file without
 * `force`, through a temporary file and a rename. `-` writes the TSV to stdout.
 *
 * @example
 * ```ts ignore
 * import { writeTsvWithProvenance } from "./output.ts";
 * await writeTsvWithProvenance("out.tsv", "a\n1\n", { provenance: {} }, { inputs: { pam: "p.tsv" } });
 * ```
 */
export async function writeTsvWithProvenance(
  path: string,
  tsv: string,
  result: unknown,
  options: { inputs?: PlanOptions["inputs"]; force?: boolean; flag?: string } = {},
): Promise<void> {
  const flag = options.flag ?? "--out";
  const plan = await planOutputs([{ flag, value: path }], {
    inputs: options.inputs ?? {},
    force: options.force ?? false,
  });
  await plan.write(flag, tsv, result);
}

/**
 * Prints a JSON result on stdout.
 *
 * @example
 * ```ts ignore
 * import { printJson } from "./output.ts";
 * printJson({ logLik: -1 });
 * ```
 */
export function printJson(result: unknown): void {
  console.log(JSON.stringify(result, null, 2));
}
