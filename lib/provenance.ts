/**
 * Provenance attached to every result, so that a number in a paper can be reproduced: toolkit
 * version, backend, threads, input files with their SHA-256, and the options used.
 *
 * @module
 */

import { sha256Hex } from "./native/locate.ts";
import { VERSION } from "./version.ts";

/** An input file and its digest. */
export interface InputRecord {
  /** What the file is (`tree`, `pam`). */
  readonly role: string;
  /** The path as given. */
  readonly path: string;
  /** SHA-256 of the file's bytes. */
  readonly sha256: string;
  /** Size in bytes. */
  readonly bytes: number;
}

/** The provenance block of a result. */
export interface Provenance {
  /** Always `"genecontent"`. */
  readonly tool: "genecontent";
  /** Toolkit version. */
  readonly version: string;
  /** The command (`loglik`, `fit`, ...). */
  readonly command: string;
  /** `"native"` or `"ts"`. */
  readonly backend: string;
  /** Where the native library was loaded from, if native. */
  readonly nativeLibrary: string | null;
  /** Worker threads used. */
  readonly threads: number;
  /** Input files. */
  readonly inputs: readonly InputRecord[];
  /** Options as used (after defaults). */
  readonly options: Readonly<Record<string, unknown>>;
  /** Deno version and platform. */
  readonly runtime: { readonly deno: string; readonly platform: string };
  /** ISO 8601 time the result was made. */
  readonly created: string;
}

/**
 * Digests an input file's bytes.
 *
 * @example
 * ```ts
 * import { inputRecord } from "./provenance.ts";
 * const r = await inputRecord("tree", "t.nwk", new TextEncoder().encode("(a:1,b:1);"));
 * console.assert(r.sha256.length === 64 && r.bytes === 10);
 * ```
 */
export async function inputRecord(
  role: string,
  path: string,
  bytes: Uint8Array,
): Promise<InputRecord> {
  return { role, path, sha256: await sha256Hex(bytes), bytes: bytes.length };
}

/**
 * Builds a provenance block.
 *
 * @example
 * ```ts
 * import { makeProvenance } from "./provenance.ts";
 * const p = makeProvenance({ command: "fit", backend: "ts", threads: 1, inputs: [], options: {} });
 * console.assert(p.tool === "genecontent");
 * ```
 */
export function makeProvenance(
  fields: {
    command: string;
    backend: string;
    threads: number;
    inputs: readonly InputRecord[];
    options: Record<string, unknown>;
    nativeLibrary?: string | null;
  },
): Provenance {
  return {
    tool: "genecontent",
    version: VERSION,
    command: fields.command,
    backend: fields.backend,
    nativeLibrary: fields.nativeLibrary ?? null,
    threads: fields.threads,
    inputs: fields.inputs,
    options: fields.options,
    runtime: { deno: Deno.version.deno, platform: `${Deno.build.os}-${Deno.build.arch}` },
    created: new Date().toISOString(),
  };
}
