/**
 * Recognising the layout of a presence/absence file from its header line and file name.
 *
 * Layouts are recognised only by their exact documented metadata columns (or, for `.Rtab`, by
 * the file extension); the orientation of a plain table is never guessed from header keywords.
 *
 * @module
 */

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

function startsWith(header: readonly string[], columns: readonly string[]): boolean {
  if (header.length < columns.length) return false;
  for (let i = 0; i < columns.length; i++) if (header[i] !== columns[i]) return false;
  return true;
}

/**
 * Decides the layout of a presence/absence file from its header fields and its file name.
 *
 * - Roary (`gene_presence_absence.csv`): the 14 Roary metadata columns, then one column per
 *   isolate holding locus tags (empty = absent).
 * - PPanGGOLiN (`matrix.csv`): its 14 metadata columns, then per-genome gene counts or names.
 * - Panaroo (`gene_presence_absence.csv`): `Gene`, `Non-unique Gene name`, `Annotation`, then
 *   one column per isolate holding locus tags.
 * - Rtab (`*.Rtab`, from Roary, Panaroo or PPanGGOLiN): families as rows, 0/1 cells.
 * - Anything else is a plain 0/1 table in either orientation.
 *
 * @example
 * ```ts
 * import { detectLayout, PANAROO_COLUMNS } from "./formats.ts";
 * console.assert(detectLayout([...PANAROO_COLUMNS, "g1", "g2"], "x.csv").format === "panaroo");
 * console.assert(detectLayout(["", "g1", "g2"], "pam.tsv").format === "table");
 * ```
 */
export function detectLayout(header: readonly string[], source: string): PamLayout {
  if (startsWith(header, ROARY_COLUMNS)) {
    return {
      format: "roary",
      description: "Roary gene_presence_absence.csv",
      firstDataColumn: ROARY_COLUMNS.length,
      tagCells: true,
      familiesAsRows: true,
    };
  }
  if (startsWith(header, PPANGGOLIN_COLUMNS)) {
    return {
      format: "ppanggolin",
      description: "PPanGGOLiN matrix.csv",
      firstDataColumn: PPANGGOLIN_COLUMNS.length,
      tagCells: true,
      familiesAsRows: true,
    };
  }
  if (startsWith(header, PANAROO_COLUMNS)) {
    return {
      format: "panaroo",
      description: "Panaroo gene_presence_absence.csv",
      firstDataColumn: PANAROO_COLUMNS.length,
      tagCells: true,
      familiesAsRows: true,
    };
  }
  if (/\.rtab$/i.test(source)) {
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
