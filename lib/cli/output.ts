/**
 * Writing results: JSON on stdout, TSV files with a provenance sidecar.
 *
 * @module
 */

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

/**
 * Writes `FILE` (TSV) and `FILE.provenance.json` (the whole JSON result).
 *
 * @example
 * ```ts ignore
 * import { writeTsvWithProvenance } from "./output.ts";
 * await writeTsvWithProvenance("out.tsv", "a\n1\n", { provenance: {} });
 * ```
 */
export async function writeTsvWithProvenance(
  path: string,
  tsv: string,
  result: unknown,
): Promise<void> {
  try {
    await Deno.writeTextFile(path, tsv);
    await Deno.writeTextFile(`${path}.provenance.json`, JSON.stringify(result, null, 2) + "\n");
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new GenecontentError(`Cannot write output file '${path}': ${why}`);
  }
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
