/**
 * Reading a gene presence/absence matrix from a file, strictly.
 *
 * Formats: plain tab- or comma-separated 0/1 tables in either orientation, Roary and Panaroo
 * `gene_presence_absence.csv`, PPanGGOLiN `matrix.csv`, and `gene_presence_absence.Rtab`. See
 * {@linkcode parsePamBytes} for the rules.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { ABSENT, MISSING, type PresenceAbsenceMatrix, PRESENT } from "./matrix.ts";
import { COMMA, CR, DelimitedScanner, LF, TAB } from "./delimited.ts";
import { detectLayout, type PamFormat, type PamLayout } from "./formats.ts";

export type { PamFormat } from "./formats.ts";

/** Which way round a plain table is: `auto` decides by matching names to the tree's tips. */
export type PamOrientation = "families-as-rows" | "families-as-columns" | "auto";

/** Options for reading a presence/absence matrix. */
export interface PamReadOptions {
  /** Orientation of a plain table; default `auto` (needs {@linkcode PamReadOptions.taxa}). */
  readonly orientation?: PamOrientation;
  /** The tree's tip names, used by `auto` orientation. */
  readonly taxa?: readonly string[];
  /** Treat non-negative integer counts as presence (> 0) or absence (0). Default false. */
  readonly binarize?: boolean;
}

/** A matrix as read, with the layout and orientation that were used. */
export interface ParsedPam extends PresenceAbsenceMatrix {
  /** The recognised file layout. */
  readonly format: PamFormat;
  /** The orientation the file was read in. */
  readonly orientation: "families-as-rows" | "families-as-columns";
}

const BYTE_0 = 48;

/**
 * Reads a presence/absence matrix file (see {@linkcode parsePamBytes} for the rules).
 *
 * @example
 * ```ts ignore
 * import { readPam } from "./read.ts";
 * const pam = await readPam("gene_presence_absence.Rtab", {});
 * console.log(pam.families.length, pam.taxa.length);
 * ```
 */
export async function readPam(path: string, options: PamReadOptions = {}): Promise<ParsedPam> {
  let bytes: Uint8Array;
  try {
    bytes = await readWholeFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new GenecontentError(`PAM file '${path}' does not exist; check the path.`);
    }
    throw new GenecontentError(`PAM file '${path}' cannot be read: ${(e as Error).message}`);
  }
  return parsePamBytes(bytes, path, options);
}

/**
 * Reads a file into one buffer sized from its length (about twice as fast as `Deno.readFile`
 * for big files); falls back to `Deno.readFile` for anything that is not a regular file.
 */
async function readWholeFile(path: string): Promise<Uint8Array> {
  using file = await Deno.open(path);
  const info = await file.stat();
  if (!info.isFile) return await Deno.readFile(path);
  const buf = new Uint8Array(info.size);
  let off = 0;
  while (off < buf.length) {
    const got = await file.read(buf.subarray(off));
    if (got === null) return buf.subarray(0, off);
    off += got;
  }
  // The file may have grown since the stat: read the rest the slow way.
  const extra = new Uint8Array(65536);
  const more: Uint8Array[] = [];
  for (let got = await file.read(extra); got !== null; got = await file.read(extra)) {
    more.push(extra.slice(0, got));
  }
  if (more.length === 0) return buf;
  const total = new Uint8Array(off + more.reduce((t, m) => t + m.length, 0));
  total.set(buf);
  let at = off;
  for (const m of more) {
    total.set(m, at);
    at += m.length;
  }
  return total;
}

/**
 * Parses presence/absence text (see {@linkcode parsePamBytes}); `source` names it in messages.
 *
 * @example
 * ```ts
 * import { parsePam } from "./read.ts";
 * const pam = parsePam("family\ta\tb\nf1\t1\t0\nf2\t?\t1\n", "pam.tsv", {
 *   orientation: "families-as-rows",
 * });
 * console.assert(pam.families.join() === "f1,f2" && pam.states.join() === "1,0,2,1");
 * ```
 */
export function parsePam(text: string, source: string, options: PamReadOptions = {}): ParsedPam {
  return parsePamBytes(new TextEncoder().encode(text), source, options);
}

interface BadCell {
  record: number;
  column: number;
  value: string;
}

/**
 * Parses a presence/absence matrix from bytes.
 *
 * - The delimiter is a tab if the header line holds one, otherwise a comma. Fields may be
 *   double-quoted (`""` is a quote inside quotes). Blank lines are skipped. A UTF-8 BOM is
 *   ignored.
 * - Roary, PPanGGOLiN and Panaroo layouts are recognised by their exact metadata columns and
 *   always have families as rows. Their isolate cells hold locus tags (or counts, or 1/0): an
 *   empty cell or `0` is absent, `?` or `NA` missing, anything else present.
 * - `.Rtab` files have families as rows and 0/1 cells.
 * - Other files are 0/1 tables: the first column names the rows, the header names the
 *   columns (its first cell is a corner label; a header one field shorter than the rows, as R
 *   writes it, has no corner). `orientation` says whether rows are families; `auto` picks the
 *   side whose names match `options.taxa` and fails if both or neither do.
 * - In 0/1 cells, `0` is absent, `1` present, `?`, `NA` or empty missing. Any other value is an
 *   error, unless `binarize` is set and the value is a non-negative integer (> 0 is present).
 * - Duplicate or empty family or taxon names, rows of the wrong length, an empty file or a file
 *   with only a header are errors naming the file and line.
 *
 * @example
 * ```ts
 * import { parsePamBytes } from "./read.ts";
 * const csv = new TextEncoder().encode('genome,"fam,1",f2\ng1,1,0\ng2,0,NA\n');
 * const pam = parsePamBytes(csv, "pam.csv", { orientation: "auto", taxa: ["g1", "g2"] });
 * console.assert(pam.orientation === "families-as-columns");
 * console.assert(pam.families[0] === "fam,1" && pam.states.join() === "1,0,0,2");
 * ```
 */
export function parsePamBytes(
  bytes: Uint8Array,
  source: string,
  options: PamReadOptions = {},
): ParsedPam {
  const n = bytes.length;
  const start = n >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const probe = new DelimitedScanner(bytes, TAB, start);
  if (!probe.skipBlankLines()) {
    throw new GenecontentError(`PAM file '${source}' is empty; it needs a header and rows.`);
  }
  const delimiter = detectDelimiter(bytes, probe.pos, source, probe.line);
  const s = new DelimitedScanner(bytes, delimiter, probe.pos);
  s.line = probe.line;
  const headerLine = s.line;
  const header: string[] = [];
  do header.push(s.readField()); while (s.nextField());
  checkQuotes(s, source, headerLine);
  const layout = detectLayout(header, source);
  const dataStart = layout.firstDataColumn;

  // Plain tables written by R have no corner cell: the header is one field shorter.
  let columnNames = header.slice(dataStart);
  let corner = true;
  if (layout.format === "table" && s.skipBlankLines()) {
    const peek = new DelimitedScanner(bytes, delimiter, s.pos);
    let fields = 0;
    do {
      peek.skipField();
      fields++;
    } while (peek.nextField());
    if (fields === header.length + 1) {
      columnNames = header;
      corner = false;
    }
  }
  const nCols = columnNames.length;
  const firstCellColumn = corner ? dataStart : 1; // index of the first cell in a record
  const nFieldsExpected = firstCellColumn + nCols;
  if (nCols === 0) {
    throw new GenecontentError(
      `PAM file '${source}', line ${headerLine}: the header (${layout.description}) names no ` +
        `${layout.tagCells ? "isolate" : "data"} columns; the file needs at least one.`,
    );
  }

  // Cell buffer, record-major; sized from the bytes left assuming 2 bytes per cell, grown if
  // needed.
  let capacity = Math.max(1, Math.ceil((n - s.pos) / (2 * nCols + 1)) + 1);
  let cells = new Uint8Array(capacity * nCols);
  const rowNames: string[] = [];
  const rowLines: number[] = [];
  let badCell: BadCell | null = null;
  const binarize = options.binarize === true;
  const tags = layout.tagCells;
  const cursor = { pos: 0 };

  const fieldCountError = (record: number, got: number): never => {
    throw new GenecontentError(
      `PAM file '${source}', line ${rowLines[record]}: row '${rowNames[record]}' has ${got} ` +
        `fields but the header has ${nFieldsExpected - (corner ? 0 : 1)}` +
        `${corner ? "" : " (plus the row name)"}; every row needs one field per column.`,
    );
  };

  while (s.skipBlankLines()) {
    const record = rowNames.length;
    const line = s.line;
    rowLines.push(line);
    rowNames.push(s.readField());
    checkQuotes(s, source, line);
    for (let k = 1; k < firstCellColumn; k++) {
      if (!s.nextField()) fieldCountError(record, k);
      s.skipField();
    }
    checkQuotes(s, source, line);
    if (record === capacity) {
      capacity *= 2;
      const grown = new Uint8Array(capacity * nCols);
      grown.set(cells);
      cells = grown;
    }
    const base = record * nCols;
    let c = 0;
    cursor.pos = s.pos;
    while (true) {
      c = scanSimpleCells(bytes, delimiter, tags, cells, base, c, nCols, cursor);
      if (c === nCols) break;
      // A cell the fast path does not handle: quoted, long, missing, invalid or at the end.
      const p = cursor.pos;
      if (p >= n || bytes[p] !== delimiter) {
        s.pos = p;
        fieldCountError(record, firstCellColumn + c);
      }
      s.pos = p + 1;
      const value = s.readField();
      checkQuotes(s, source, line);
      cursor.pos = s.pos;
      const state = tags ? tagState(value) : binaryState(value, binarize);
      if (state < 0) {
        if (badCell === null) badCell = { record, column: c, value };
        cells[base + c] = MISSING;
      } else {
        cells[base + c] = state;
      }
      c++;
    }
    s.pos = cursor.pos;
    if (!s.atLineEnd()) {
      let got = nFieldsExpected;
      while (s.nextField()) {
        s.skipField();
        got++;
      }
      fieldCountError(record, got);
    }
    s.nextField();
  }
  const nRecords = rowNames.length;
  if (nRecords === 0) {
    throw new GenecontentError(
      `PAM file '${source}' has a header but no rows; it needs at least one gene family.`,
    );
  }
  cells = cells.subarray(0, nRecords * nCols);

  const familiesAsRows = decideOrientation(layout, options, rowNames, columnNames, source);
  const families = familiesAsRows ? rowNames : columnNames;
  const taxa = familiesAsRows ? columnNames : rowNames;
  const columnNumber = (c: number): number => c + firstCellColumn + 1;
  checkNames(rowNames, (i) => `line ${rowLines[i]}`, familiesAsRows ? "family" : "taxon", source);
  checkNames(
    columnNames,
    (i) => `header column ${columnNumber(i)}`,
    familiesAsRows ? "taxon" : "family",
    source,
  );
  if (badCell !== null) {
    const { record, column, value } = badCell;
    const family = familiesAsRows ? rowNames[record] : columnNames[column];
    const taxon = familiesAsRows ? columnNames[column] : rowNames[record];
    const hint = binarize
      ? "with --binarize, cells must be non-negative integer counts (> 0 is present), or ?, " +
        "NA or empty for missing."
      : "cells must be 0 (absent), 1 (present), or ?, NA or empty (missing). If the matrix " +
        "holds gene counts, pass --binarize to treat any count > 0 as present.";
    throw new GenecontentError(
      `PAM file '${source}', line ${rowLines[record]}, column ${columnNumber(column)}: family ` +
        `'${family}', taxon '${taxon}' has the value '${value}'; ${hint}`,
    );
  }
  // Copy only if the buffer's spare room is large.
  const wasted = cells.buffer.byteLength - cells.length > cells.length / 8;
  const states = familiesAsRows
    ? (wasted ? cells.slice() : cells)
    : transpose(cells, nRecords, nCols);
  return {
    source,
    families,
    taxa,
    states,
    format: layout.format,
    orientation: familiesAsRows ? "families-as-rows" : "families-as-columns",
  };
}

/**
 * The hot loop: reads cells `c, c+1, ...` of a record while each is a delimiter followed by a
 * single `0` or `1` (or, for locus-tag cells, by nothing). Returns the index of the first cell
 * it did not handle (`nCols` when done) and leaves `cursor.pos` on that cell's delimiter.
 */
function scanSimpleCells(
  b: Uint8Array,
  d: number,
  tags: boolean,
  cells: Uint8Array,
  base: number,
  c: number,
  nCols: number,
  cursor: { pos: number },
): number {
  let p = cursor.pos;
  const last = b.length - 2; // b[p + 2] must exist
  let q = base + c;
  const qEnd = base + nCols;
  while (q < qEnd && p < last) {
    if (b[p] !== d) break;
    const x = b[p + 1];
    const v = x - BYTE_0;
    if ((v >>> 0) <= 1) {
      const y = b[p + 2];
      if (y !== d && y !== LF && y !== CR) break;
      cells[q++] = v;
      p += 2;
    } else if (tags && (x === d || x === LF || x === CR)) {
      cells[q++] = ABSENT;
      p += 1;
    } else {
      break;
    }
  }
  cursor.pos = p;
  return q - base;
}

function detectDelimiter(bytes: Uint8Array, from: number, source: string, line: number): number {
  let end = bytes.indexOf(LF, from);
  if (end < 0) end = bytes.length;
  const headerBytes = bytes.subarray(from, end);
  if (headerBytes.indexOf(TAB) >= 0) return TAB;
  if (headerBytes.indexOf(COMMA) >= 0) return COMMA;
  throw new GenecontentError(
    `PAM file '${source}', line ${line}: the header has no tab or comma; the matrix must be ` +
      "tab- or comma-separated with a header line.",
  );
}

function checkQuotes(s: DelimitedScanner, source: string, line: number): void {
  if (s.unterminatedQuote) {
    throw new GenecontentError(
      `PAM file '${source}', line ${line}: a quoted field is never closed; add the closing '"'.`,
    );
  }
}

/** 0/1 cell: the state, or -1 for a value that is not allowed. */
function binaryState(value: string, binarize: boolean): number {
  if (value === "0") return ABSENT;
  if (value === "1") return PRESENT;
  if (value === "" || value === "?" || value === "NA") return MISSING;
  if (binarize && /^\d+$/.test(value)) return /^0+$/.test(value) ? ABSENT : PRESENT;
  return -1;
}

/** Locus-tag cell (Roary, Panaroo, PPanGGOLiN): empty or 0 absent, ?/NA missing, else present. */
function tagState(value: string): number {
  if (value === "" || /^0+$/.test(value)) return ABSENT;
  if (value === "?" || value === "NA") return MISSING;
  return PRESENT;
}

function decideOrientation(
  layout: PamLayout,
  options: PamReadOptions,
  rowNames: readonly string[],
  columnNames: readonly string[],
  source: string,
): boolean {
  const wanted = options.orientation ?? "auto";
  if (layout.familiesAsRows) {
    if (wanted === "families-as-columns") {
      throw new GenecontentError(
        `PAM file '${source}' is a ${layout.description}, which always has gene families as ` +
          "rows; drop --orientation families-as-columns.",
      );
    }
    return true;
  }
  if (wanted === "families-as-rows") return true;
  if (wanted === "families-as-columns") return false;
  if (wanted !== "auto") {
    throw new GenecontentError(
      `Unknown orientation '${wanted}'; use families-as-rows, families-as-columns or auto.`,
    );
  }
  if (!options.taxa) {
    throw new GenecontentError(
      `PAM file '${source}': cannot tell whether gene families are rows or columns without ` +
        "the tree's tip names; pass --orientation families-as-rows or families-as-columns.",
    );
  }
  const taxa = new Set(options.taxa);
  const headerHits = columnNames.filter((x) => taxa.has(x)).length;
  const rowHits = rowNames.filter((x) => taxa.has(x)).length;
  if (headerHits > 0 && rowHits === 0) return true;
  if (rowHits > 0 && headerHits === 0) return false;
  const detail = headerHits === 0
    ? "neither the header names nor the first-column names match any tip of the tree"
    : `${headerHits} header names and ${rowHits} first-column names match tips of the tree`;
  throw new GenecontentError(
    `PAM file '${source}': cannot tell whether gene families are rows or columns (${detail}); ` +
      "pass --orientation families-as-rows or families-as-columns" +
      (headerHits === 0 ? ", and check that the PAM and the tree use the same taxon names." : "."),
  );
}

function checkNames(
  names: readonly string[],
  where: (i: number) => string,
  kind: "family" | "taxon",
  source: string,
): void {
  const seen = new Map<string, number>();
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name === "") {
      throw new GenecontentError(
        `PAM file '${source}', ${where(i)}: empty ${kind} name; every ${kind} needs a name.`,
      );
    }
    const prev = seen.get(name);
    if (prev !== undefined) {
      throw new GenecontentError(
        `PAM file '${source}': ${kind} name '${name}' appears twice (${where(prev)} and ` +
          `${where(i)}); ${kind} names must be unique.`,
      );
    }
    seen.set(name, i);
  }
}

/** Transposes a row-major `rows x cols` byte matrix into `cols x rows`, in cache-sized blocks. */
function transpose(a: Uint8Array, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(rows * cols);
  const B = 32;
  for (let c0 = 0; c0 < cols; c0 += B) {
    const c1 = Math.min(cols, c0 + B);
    for (let r0 = 0; r0 < rows; r0 += B) {
      const r1 = Math.min(rows, r0 + B);
      for (let c = c0; c < c1; c++) {
        let o = c * rows + r0;
        let i = r0 * cols + c;
        for (let r = r0; r < r1; r++, i += cols) out[o++] = a[i];
      }
    }
  }
  return out;
}
