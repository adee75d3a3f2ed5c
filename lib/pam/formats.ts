/**
 * Recognising the layout of a presence/absence file from its header line and file name.
 *
 * Tool layouts are recognised by their metadata columns, by name (or, for `.Rtab`, by the file
 * extension); the orientation of a plain table is never guessed from header keywords.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { quoteValue } from "../text/decode.ts";

/** A recognised presence/absence file layout. */
export type PamFormat = "table" | "rtab" | "roary" | "panaroo" | "ppanggolin";

/** Where the names and cells are, and how cells are read. */
export interface PamLayout {
  /** The recognised layout. */
  readonly format: PamFormat;
  /** Human-readable name of the layout, for messages. */
  readonly description: string;
  /** Index of the first taxon (or, for plain tables, data) column in the header. */
  readonly firstDataColumn: number;
  /**
   * True when cells hold locus tags or gene counts (empty or `0` is absent, anything else
   * present), false when cells must be 0/1 (or missing).
   */
  readonly tagCells: boolean;
  /** True when the layout fixes families as rows. */
  readonly familiesAsRows: boolean;
}

/**
 * The 14 metadata columns that start Roary's `gene_presence_absence.csv` (older Panaroo
 * versions write the same header).
 */
export const ROARY_COLUMNS: readonly string[] = [
  "Gene",
  "Non-unique Gene name",
  "Annotation",
  "No. isolates",
  "No. sequences",
  "Avg sequences per isolate",
  "Genome Fragment",
  "Order within Fragment",
  "Accessory Fragment",
  "Accessory Order with Fragment",
  "QC",
  "Min group size nuc",
  "Max group size nuc",
  "Avg group size nuc",
];

/**
 * The 14 metadata columns of PPanGGOLiN's `matrix.csv` (`ppanggolin write --csv`): Roary's
 * columns with "Accessory Fragment" moved before "Genome Fragment".
 */
export const PPANGGOLIN_COLUMNS: readonly string[] = [
  "Gene",
  "Non-unique Gene name",
  "Annotation",
  "No. isolates",
  "No. sequences",
  "Avg sequences per isolate",
  "Accessory Fragment",
  "Genome Fragment",
  "Order within Fragment",
  "Accessory Order with Fragment",
  "QC",
  "Min group size nuc",
  "Max group size nuc",
  "Avg group size nuc",
];

/** The 3 metadata columns of Panaroo's `gene_presence_absence.csv`. */
export const PANAROO_COLUMNS: readonly string[] = ["Gene", "Non-unique Gene name", "Annotation"];

/** A column name as compared with the known metadata columns: trimmed, lower case, single spaces. */
function normalise(name: string): string {
  return name.trim().replace(/\s+/g, " ").toLowerCase();
}

/**
 * Every metadata column that Roary, Panaroo and PPanGGOLiN write before the isolate columns
 * (whatever the version), compared case-insensitively.
 */
export const METADATA_COLUMNS: ReadonlySet<string> = new Set(ROARY_COLUMNS.map(normalise));

/**
 * Decides the layout of a presence/absence file from its header fields and its file name.
 *
 * - Roary, Panaroo and PPanGGOLiN (`gene_presence_absence.csv`, `matrix.csv`): the header
 *   starts with `Gene` and `Non-unique Gene name`, then any of the known metadata columns
 *   ({@linkcode METADATA_COLUMNS}: Roary's 14, in any number, order and capitalisation, as the
 *   versions and imitators write them), then one column per isolate holding locus tags, gene
 *   names or counts (empty = absent). `Gene`, `Non-unique Gene name`, `Annotation` alone is
 *   Panaroo's layout; "Accessory Fragment" before "Genome Fragment" is PPanGGOLiN's; anything
 *   else is reported as Roary's. A column that is not a known metadata column but stands
 *   before the last one that is (so it cannot be an isolate) is refused by name, and so is a
 *   metadata column given twice.
 * - Rtab (`*.Rtab`, from Roary, Panaroo or PPanGGOLiN): families as rows, 0/1 cells.
 * - Anything else is a plain 0/1 table in either orientation.
 *
 * @throws {GenecontentError} For an unknown or repeated column among the metadata columns.
 *
 * @example
 * ```ts
 * import { detectLayout, PANAROO_COLUMNS } from "./formats.ts";
 * console.assert(detectLayout([...PANAROO_COLUMNS, "g1", "g2"], "x.csv").format === "panaroo");
 * console.assert(detectLayout(["", "g1", "g2"], "pam.tsv").format === "table");
 * const lower = ["gene", "non-unique gene name", "annotation", "no. isolates", "g1"];
 * console.assert(detectLayout(lower, "x.csv").firstDataColumn === 4);
 * ```
 */
export function detectLayout(header: readonly string[], source: string): PamLayout {
  const names = header.map(normalise);
  if (names.length >= 2 && names[0] === "gene" && names[1] === "non-unique gene name") {
    let last = 1;
    for (let i = 2; i < names.length; i++) if (METADATA_COLUMNS.has(names[i])) last = i;
    const seen = new Map<string, number>();
    for (let i = 0; i <= last; i++) {
      if (!METADATA_COLUMNS.has(names[i])) {
        throw new GenecontentError(
          `PAM file '${source}', header column ${i + 1}: column ${quoteValue(header[i])} stands ` +
            `among the Roary/Panaroo/PPanGGOLiN metadata columns (before ` +
            `${quoteValue(header[last])}, column ${last + 1}) but is not one of them, so it ` +
            "cannot be read as an isolate; remove that column (the known metadata columns are " +
            `${ROARY_COLUMNS.map((x) => `'${x}'`).join(", ")}).`,
        );
      }
      const prev = seen.get(names[i]);
      if (prev !== undefined) {
        throw new GenecontentError(
          `PAM file '${source}': metadata column ${quoteValue(header[i])} appears twice ` +
            `(header columns ${prev + 1} and ${i + 1}); remove one.`,
        );
      }
      seen.set(names[i], i);
    }
    const nMeta = last + 1;
    const accessory = seen.get("accessory fragment");
    const genome = seen.get("genome fragment");
    const format: PamFormat = nMeta === 3 && seen.has("annotation")
      ? "panaroo"
      : accessory !== undefined && genome !== undefined && accessory < genome
      ? "ppanggolin"
      : "roary";
    const file = format === "panaroo"
      ? "Panaroo gene_presence_absence.csv"
      : format === "ppanggolin"
      ? "PPanGGOLiN matrix.csv"
      : "Roary gene_presence_absence.csv";
    return {
      format,
      description: `${file} (${nMeta} metadata columns)`,
      firstDataColumn: nMeta,
      tagCells: true,
      familiesAsRows: true,
    };
  }
  if (/\.rtab(\.gz)?$/i.test(source)) {
    return {
      format: "rtab",
      description: "gene_presence_absence.Rtab",
      firstDataColumn: 1,
      tagCells: false,
      familiesAsRows: true,
    };
  }
  return {
    format: "table",
    description: "0/1 table",
    firstDataColumn: 1,
    tagCells: false,
    familiesAsRows: false,
  };
}
