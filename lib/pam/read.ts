/**
 * Reading a gene presence/absence matrix from a file, strictly.
 *
 * Formats: plain tab- or comma-separated 0/1 tables in either orientation, Roary and Panaroo
 * `gene_presence_absence.csv`, PPanGGOLiN `matrix.csv`, and `gene_presence_absence.Rtab`. See
 * {@linkcode parsePamBytes} for the rules.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { GenecontentError } from "../errors.ts";
import { ABSENT, MISSING, type PresenceAbsenceMatrix, PRESENT } from "./matrix.ts";
import { COMMA, CR, DelimitedScanner, LF, TAB } from "./delimited.ts";
import { detectLayout, type PamFormat, type PamLayout } from "./formats.ts";
import {
  gzipError,
  HEAD_BYTES,
  isGzip,
  lineOfOffset,
  notTextError,
  quoteValue,
  Utf8Validator,
} from "../text/decode.ts";

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
  /**
   * What the reader decided that the user should know (one sentence each, naming the file),
   * e.g. that the rows end with a trailing delimiter that was ignored. Never printed here.
   */
  readonly notices: readonly string[];
}

const BYTE_0 = 48;

/** Thrown inside the parser when a window ends inside a quoted field. */
const WINDOW_CUT = Symbol("window cut");

/** Bytes read from a file per step when streaming it (windows grow for longer lines). */
const CHUNK_BYTES = 1 << 23;

/**
 * How many data rows (at most) decide where the columns are (corner cell, trailing delimiter).
 * The decision waits until this many rows have been read, so it does not depend on how the file
 * is cut into chunks.
 */
const PEEK_ROWS = 200;

/** Compressed bytes read at a time from a gzip file. */
const GZIP_READ_BYTES = 1 << 20;

/** Where the bytes of a PAM file come from (its raw bytes are hashed by the source). */
interface ChunkSource {
  /** Fills `into` (partly is fine); null at the end. */
  read(into: Uint8Array): Promise<number | null>;
  /** Raw (compressed, for gzip) bytes read so far. */
  readonly rawBytes: number;
}

type Hash = ReturnType<typeof createHash>;

/** A plain file, after `prefix` (its first bytes, already read). */
function plainSource(file: Deno.FsFile, prefix: Uint8Array, hash: Hash): ChunkSource {
  let raw = 0;
  let first: Uint8Array | null = prefix.length > 0 ? prefix : null;
  return {
    get rawBytes() {
      return raw;
    },
    async read(into: Uint8Array): Promise<number | null> {
      let got = 0;
      if (first !== null) {
        got = Math.min(first.length, into.length);
        into.set(first.subarray(0, got));
        first = got < first.length ? first.subarray(got) : null;
      }
      const more = await file.read(into.subarray(got));
      if (more !== null) got += more;
      if (got === 0) return null;
      hash.update(into.subarray(0, got));
      raw += got;
      return got;
    },
  };
}

/** A gzip file (starting with `prefix`, already read), decompressed as it streams. */
function gzipSource(
  file: Deno.FsFile,
  prefix: Uint8Array,
  hash: Hash,
  label: string,
): ChunkSource {
  let raw = prefix.length;
  hash.update(prefix);
  const compressed = new ReadableStream<Uint8Array<ArrayBuffer>>({
    start(controller) {
      controller.enqueue(prefix.slice());
    },
    async pull(controller) {
      const buf = new Uint8Array(GZIP_READ_BYTES);
      let got: number | null;
      try {
        got = await file.read(buf);
      } catch (e) {
        throw new PamFileError(e);
      }
      if (got === null) {
        controller.close();
        return;
      }
      const part = buf.subarray(0, got);
      hash.update(part);
      raw += got;
      controller.enqueue(part);
    },
  });
  const reader = compressed.pipeThrough(new DecompressionStream("gzip")).getReader();
  let pending: Uint8Array | null = null;
  let done = false;
  return {
    get rawBytes() {
      return raw;
    },
    async read(into: Uint8Array): Promise<number | null> {
      let filled = 0;
      while (filled < into.length) {
        if (pending === null || pending.length === 0) {
          if (done) break;
          let r;
          try {
            r = await reader.read();
          } catch (e) {
            if (e instanceof PamFileError) throw e;
            throw gzipError(label, e);
          }
          if (r.done) {
            done = true;
            break;
          }
          pending = r.value;
          continue;
        }
        const k = Math.min(pending.length, into.length - filled);
        into.set(pending.subarray(0, k), filled);
        pending = pending.subarray(k);
        filled += k;
      }
      return filled === 0 ? null : filled;
    },
  };
}

/** A matrix read from a file, with the file's size and SHA-256. */
export interface DigestedPam {
  /** The matrix. */
  readonly pam: ParsedPam;
  /** Lower-case hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  /** The file's size in bytes. */
  readonly bytes: number;
}

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
  try {
    return (await readPamWithDigest(path, options)).pam;
  } catch (e) {
    if (!(e instanceof PamFileError)) throw e;
    if (e.cause instanceof Deno.errors.NotFound) {
      throw new GenecontentError(`PAM file '${path}' does not exist; check the path.`);
    }
    throw new GenecontentError(
      `PAM file '${path}' cannot be read: ${(e.cause as Error).message}`,
    );
  }
}

/**
 * Why a file could not be read (open, stat or read failed): `cause` is the error from Deno,
 * e.g. `Deno.errors.NotFound`, `Deno.errors.PermissionDenied` or `Deno.errors.IsADirectory`.
 * Problems with the file's content are {@linkcode GenecontentError}s instead.
 *
 * @example
 * ```ts
 * import { PamFileError } from "./read.ts";
 * const e = new PamFileError(new Deno.errors.NotFound("x"));
 * console.assert(e.cause instanceof Deno.errors.NotFound);
 * ```
 */
export class PamFileError extends Error {
  /** Wraps the error from Deno. */
  constructor(cause: unknown) {
    super(`Cannot read the PAM file: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "PamFileError";
  }
}

/**
 * Reads and parses a presence/absence matrix file (see {@linkcode parsePamBytes}) while
 * computing the SHA-256 of its bytes, in one pass. The file is streamed: whole records are
 * parsed chunk by chunk while the next chunk is being read, so the file is never held whole in
 * memory (a record cut by a chunk end, even inside a quoted field, is parsed with the next
 * chunk). A failure to open or read the file is a {@linkcode PamFileError}; bad content is a
 * {@linkcode GenecontentError}, with the same message as from {@linkcode parsePamBytes}.
 *
 * `stream.keepSpareRoom` (default false) returns the cells without trimming the spare room of
 * the growing buffer, for callers that reuse the buffer in place; `stream.chunkBytes` (default
 * 8 MiB) is how much is read at a time.
 *
 * @example
 * ```ts ignore
 * import { readPamWithDigest } from "./read.ts";
 * const { pam, sha256, bytes } = await readPamWithDigest("pam.tsv", { orientation: "auto" });
 * console.log(pam.families.length, sha256, bytes);
 * ```
 */
export async function readPamWithDigest(
  path: string,
  options: PamReadOptions = {},
  stream: { readonly keepSpareRoom?: boolean; readonly chunkBytes?: number } = {},
): Promise<DigestedPam> {
  const chunk = Math.max(1, stream.chunkBytes ?? CHUNK_BYTES);
  const io = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      throw new PamFileError(e);
    }
  };
  using file = await io(() => Deno.open(path));
  const info = await io(() => file.stat());
  if (info.isDirectory) throw new PamFileError(new Deno.errors.IsADirectory(path));
  const label = `PAM file '${path}'`;
  const hash = createHash("sha256");
  // The first two bytes tell gzip (magic number 1f 8b) from plain text, whatever the name.
  const magic = new Uint8Array(2);
  let nMagic = 0;
  while (nMagic < 2) {
    const got = await io(() => file.read(magic.subarray(nMagic)));
    if (got === null) break;
    nMagic += got;
  }
  const gzipped = isGzip(magic.subarray(0, nMagic));
  const source = gzipped
    ? gzipSource(file, magic.subarray(0, nMagic), hash, label)
    : plainSource(file, magic.subarray(0, nMagic), hash);
  const known = info.isFile && !gzipped;
  const parser = new PamParser(path, options, known ? info.size : 0);
  const validator = new Utf8Validator();
  let head: Uint8Array | null = null; // the first bytes of the text, for messages
  // Two buffers: the next chunk is read (off the main thread) while this one is parsed. Each
  // has room in front for the unparsed end of the previous window (normally part of a line).
  const size = known ? Math.min(Math.max(info.size, 1), chunk) : Math.min(chunk, 1 << 20);
  const room = Math.min(size, 1 << 20);
  const buffers = [new Uint8Array(room + size), new Uint8Array(room + size)];
  const read = (b: Uint8Array) =>
    source.read(b.subarray(room)).catch((e: unknown) =>
      e instanceof GenecontentError || e instanceof PamFileError ? e : new PamFileError(e)
    );
  let pending = read(buffers[0]);
  let which = 0;
  // Unparsed bytes too long for the room in front: kept in a growing buffer.
  let long: Uint8Array = new Uint8Array(0);
  let carry: Uint8Array = new Uint8Array(0); // the unparsed bytes (a view of `long`, or a small copy)
  // A window that parsed nothing (a record longer than it): the next attempt waits until the
  // window has doubled, so that a long record is re-scanned a bounded number of times.
  let stalled = 0;
  /** The refusal for a bad byte at `offset` of the text, which lies in `window`. */
  const badText = (offset: number, window: Uint8Array, windowStart: number): GenecontentError => {
    const at = offset - windowStart;
    const line = lineOfOffset(window, at, parser.line);
    return notTextError(
      label,
      head ?? window.subarray(0, HEAD_BYTES),
      offset,
      window[at],
      line,
      gzipped,
    );
  };
  while (true) {
    const got = await pending;
    if (got instanceof Error) throw got;
    if (got === null) break;
    const buf = buffers[which];
    const fresh = buf.subarray(room, room + got);
    if (head === null) head = fresh.slice(0, HEAD_BYTES);
    let window: Uint8Array;
    if (carry.length <= room) {
      buf.set(carry, room - carry.length);
      window = buf.subarray(room - carry.length, room + got);
    } else {
      if (carry.length + got > long.length) {
        const grown = new Uint8Array(Math.max(2 * long.length, carry.length + got));
        grown.set(carry);
        long = grown;
      } else if (carry.byteOffset !== long.byteOffset) {
        long.copyWithin(0, carry.byteOffset - long.byteOffset, carry.byteOffset + carry.length);
      }
      long.set(fresh, carry.length);
      window = long.subarray(0, carry.length + got);
    }
    const windowStart = validator.offset - carry.length;
    const bad = validator.push(fresh);
    if (bad >= 0) throw badText(bad, window, windowStart);
    // `window` is ready: the other buffer is free for the next read.
    which ^= 1;
    pending = read(buffers[which]);
    const lf = fresh.lastIndexOf(LF);
    let used = 0;
    if (lf >= 0 && window.length >= 2 * stalled) {
      const cut = window.length - got + lf + 1;
      used = parser.feed(window.subarray(0, cut), false);
      stalled = cut - used;
    }
    const rest = window.subarray(used);
    if (rest.length <= room) {
      carry = rest.slice();
    } else if (window.buffer === long.buffer) {
      carry = rest;
    } else {
      long = new Uint8Array(Math.max(2 * rest.length, long.length));
      long.set(rest);
      carry = long.subarray(0, rest.length);
    }
  }
  const cutShort = validator.end();
  if (cutShort >= 0) throw badText(cutShort, carry, validator.offset - carry.length);
  parser.feed(carry, true);
  return {
    pam: parser.finish(!stream.keepSpareRoom),
    sha256: hash.digest("hex"),
    bytes: source.rawBytes,
  };
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
 * - The bytes must be UTF-8 text (a UTF-8 BOM is ignored): UTF-16, Latin-1 and binary data
 *   are refused with the byte offset and line (gzip data is decompressed by
 *   {@linkcode readPamWithDigest}, refused here).
 * - The delimiter is a tab if the header line holds one, otherwise a comma. Fields may be
 *   double-quoted (`""` is a quote inside quotes). Blank lines are skipped.
 * - Roary, PPanGGOLiN and Panaroo layouts are recognised by their metadata columns, by name
 *   (see `detectLayout`), and always have families as rows. Their isolate cells hold locus tags (or counts, or 1/0): an
 *   empty cell or `0` is absent, `?` or `NA` missing, anything else present.
 * - `.Rtab` files have families as rows and 0/1 cells.
 * - Other files are 0/1 tables: the first column names the rows, the header names the
 *   columns (its first cell is a corner label; a header one field shorter than the rows, as R
 *   writes it, has no corner). Rows that all end with a trailing delimiter (an empty last
 *   field, in the first 200 rows) have it ignored, with a notice; when that and an R header
 *   both fit, the tree's names decide, or the file is refused. `orientation` says whether rows are families; `auto` picks the
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
  if (isGzip(bytes)) {
    throw new GenecontentError(
      `PAM file '${source}' is gzip-compressed; read it with readPam or readPamWithDigest, ` +
        "which decompress it, or decompress it first.",
    );
  }
  const validator = new Utf8Validator();
  let bad = validator.push(bytes);
  if (bad < 0) bad = validator.end();
  if (bad >= 0) {
    throw notTextError(
      `PAM file '${source}'`,
      bytes.subarray(0, HEAD_BYTES),
      bad,
      bytes[bad],
      lineOfOffset(bytes, bad),
      false,
    );
  }
  const parser = new PamParser(source, options, bytes.length);
  parser.feed(bytes, true);
  return parser.finish(true);
}

/**
 * The parser behind {@linkcode parsePamBytes}, fed with windows of whole lines (the last one
 * may end anywhere), so that a file can be parsed while it is read.
 */
class PamParser {
  readonly #source: string;
  readonly #options: PamReadOptions;
  /** Total input size if known (0 if not), to size the cell buffer. */
  readonly #sizeHint: number;
  /** Bytes fed in earlier windows. */
  #consumed = 0;
  /** Line number at the start of the next window. */
  #line = 1;
  #phase: "header" | "peek" | "records" = "header";
  #delimiter = TAB;
  #header: string[] = [];
  #headerLine = 0;
  #layout: PamLayout | null = null;
  #columnNames: string[] = [];
  #corner = true;
  #firstCellColumn = 0;
  #nFieldsExpected = 0;
  /** Rows may end with one extra empty field (a trailing delimiter), which is ignored. */
  #trailing = false;
  /** How many data rows decided the column layout (for messages). */
  #peeked = 0;
  readonly #notices: string[] = [];
  #capacity = 0;
  #cells = new Uint8Array(0);
  readonly #rowNames: string[] = [];
  readonly #rowLines: number[] = [];
  #badCell: BadCell | null = null;

  constructor(source: string, options: PamReadOptions, sizeHint: number) {
    this.#source = source;
    this.#options = options;
    this.#sizeHint = sizeHint;
  }

  /**
   * Parses a window of whole lines (`final`: the last window, which may end anywhere) and
   * returns how many of its bytes were used. A window that is not final may end inside a quoted
   * field (a quoted line break); the record (or header) it cuts is then left unread, for the
   * caller to feed again with more bytes.
   */
  feed(bytes: Uint8Array, final: boolean): number {
    const source = this.#source;
    let pos = 0;
    if (this.#phase === "header") {
      const start = this.#consumed === 0 && bytes.length >= 3 && bytes[0] === 0xef &&
          bytes[1] === 0xbb && bytes[2] === 0xbf
        ? 3
        : 0;
      const probe = new DelimitedScanner(bytes, TAB, start);
      probe.line = this.#line;
      if (!probe.skipBlankLines()) {
        if (final) {
          throw new GenecontentError(`PAM file '${source}' is empty; it needs a header and rows.`);
        }
        return this.#done(bytes.length, probe.line);
      }
      const delimiter = detectDelimiter(bytes, probe.pos, source, probe.line);
      const s = new DelimitedScanner(bytes, delimiter, probe.pos);
      s.line = probe.line;
      const header: string[] = [];
      do header.push(s.readField()); while (s.nextField());
      if (s.unterminatedQuote && !final) return this.#done(0, this.#line);
      checkQuotes(s, source, probe.line);
      this.#delimiter = delimiter;
      this.#headerLine = probe.line;
      this.#header = header;
      this.#layout = detectLayout(header, source);
      this.#phase = "peek";
      pos = s.pos;
      this.#line = s.line;
    }
    const s = new DelimitedScanner(bytes, this.#delimiter, pos);
    s.line = this.#line;
    if (this.#phase === "peek") {
      const more = s.skipBlankLines();
      if (!more && !final) return this.#done(bytes.length, s.line);
      if (!this.#startRecords(bytes, s.pos, more, final)) return this.#done(pos, this.#line);
    }
    const used = this.#records(s, final);
    return this.#done(used, s.line);
  }

  /** Line number at the start of the bytes not yet used. */
  get line(): number {
    return this.#line;
  }

  #done(used: number, line: number): number {
    this.#consumed += used;
    this.#line = line;
    return used;
  }

  /**
   * Fixes the columns from the header and the first {@linkcode PEEK_ROWS} records (at `pos` if
   * `more`) and sizes the cells; false if the window, not `final`, holds fewer records.
   *
   * The header and the rows may disagree by one field in two ways: a plain table written by R
   * has no corner cell (the header is one field shorter than the rows), and a spreadsheet
   * export may end every data row with a trailing delimiter (an empty last field). When every
   * first row ends with an empty field and has one field more than the header, both readings
   * fit; the tree's names decide (the header's first name is a tip: no corner), and a file
   * they do not decide is refused.
   */
  #startRecords(bytes: Uint8Array, pos: number, more: boolean, final: boolean): boolean {
    const layout = this.#layout!;
    const header = this.#header;
    const source = this.#source;
    const dataStart = layout.firstDataColumn;
    const rows: { fields: number; lastEmpty: boolean }[] = [];
    if (more) {
      const peek = new DelimitedScanner(bytes, this.#delimiter, pos);
      while (rows.length < PEEK_ROWS && peek.skipBlankLines()) {
        let fields = 0;
        let lastEmpty = false;
        do {
          const at = peek.pos;
          peek.skipField();
          lastEmpty = peek.pos === at;
          fields++;
        } while (peek.nextField());
        // A quote cut by the window end, or never closed (reported when the row is read).
        if (peek.unterminatedQuote) break;
        rows.push({ fields, lastEmpty });
      }
      if (!final && rows.length < PEEK_ROWS) return false;
    }
    const delimiterName = this.#delimiter === TAB ? "tab" : "comma";
    let h = header.length;
    let r = rows.length > 0 ? rows[0].fields : h;
    let rowsTrail = rows.length > 0 && rows.every((x) => x.lastEmpty && x.fields >= 2);
    let trailing = false;
    if (rowsTrail && h > dataStart + 1 && header[h - 1] === "") {
      // Header and rows all end with a delimiter: drop the empty last field of each.
      h--;
      r--;
      rowsTrail = false;
      trailing = true;
    }
    let corner = true;
    const table = layout.format === "table";
    if (r === h + 1 && !rowsTrail) {
      if (table) corner = false;
    } else if (r === h + 1 && rowsTrail) {
      if (!table || header[0] === "") {
        trailing = true;
      } else {
        const taxa = this.#options.taxa ? new Set(this.#options.taxa) : null;
        if (taxa !== null && taxa.has(header[0])) {
          corner = false;
        } else if (taxa !== null && header.slice(1).some((x) => taxa.has(x))) {
          trailing = true;
        } else {
          const n = rows.length;
          throw new GenecontentError(
            `PAM file '${source}': cannot tell how the columns line up: the header (line ` +
              `${this.#headerLine}) has ${h} fields, the first starting with ` +
              `${quoteValue(header[0])}, and ${
                n === 1 ? "the first row has" : `each of the first ${n} rows has`
              } ` +
              `${r} fields ending with an empty one. Either the rows end with a trailing ` +
              `${delimiterName} (then ${quoteValue(header[0])} is a corner label) or the header ` +
              `has no corner cell, as R writes it (then ${quoteValue(header[0])} names a column ` +
              "and the last column is empty in those rows), and the tree's tip names do not " +
              `decide it. Remove the trailing ${delimiterName}s from the rows, or add a corner ` +
              "cell to the header.",
          );
        }
      }
    } else if (r === h + 2 && rowsTrail && table) {
      corner = false;
      trailing = true;
    }
    if (trailing) {
      this.#notices.push(
        `PAM file '${source}': the rows end with a trailing ${delimiterName} (an empty last ` +
          `field in each of the first ${rows.length} rows${
            h < header.length ? ", and in the header" : ""
          }); it was ignored.`,
      );
    }
    const columnNames = corner ? header.slice(dataStart, h) : header.slice(0, h);
    const nCols = columnNames.length;
    if (nCols === 0) {
      throw new GenecontentError(
        `PAM file '${source}', line ${this.#headerLine}: the header ` +
          `(${layout.description}) names no ` +
          `${layout.tagCells ? "isolate" : "data"} columns; the file needs at least one.`,
      );
    }
    this.#columnNames = columnNames;
    this.#corner = corner;
    this.#trailing = trailing;
    this.#peeked = rows.length;
    this.#firstCellColumn = corner ? dataStart : 1; // index of the first cell in a record
    this.#nFieldsExpected = this.#firstCellColumn + nCols;
    // Cell buffer, record-major; sized from the bytes left assuming 2 bytes per cell, grown if
    // needed.
    const left = this.#sizeHint > 0 ? this.#sizeHint - this.#consumed - pos : bytes.length - pos;
    this.#capacity = Math.max(1, Math.ceil(Math.max(0, left) / (2 * nCols + 1)) + 1);
    this.#cells = new Uint8Array(this.#capacity * nCols);
    this.#phase = "records";
    return true;
  }

  #fieldCountError(record: number, got: number): never {
    const corner = this.#corner;
    const trailing = this.#trailing
      ? ` The first ${this.#peeked} rows end with an empty field, read as a trailing ` +
        "delimiter; a row with a value there does not fit that reading: check the file's " +
        "columns."
      : "";
    throw new GenecontentError(
      `PAM file '${this.#source}', line ${this.#rowLines[record]}: row ` +
        `${quoteValue(this.#rowNames[record])} has ${got} ` +
        `fields but the header has ${this.#nFieldsExpected - (corner ? 0 : 1)}` +
        `${corner ? "" : " (plus the row name)"}; every row needs one field per column.` +
        trailing,
    );
  }

  /** Reads every record of the window. */
  #records(s: DelimitedScanner, final: boolean): number {
    const bytes = s.bytes;
    const n = bytes.length;
    const source = this.#source;
    const delimiter = this.#delimiter;
    const nCols = this.#columnNames.length;
    const firstCellColumn = this.#firstCellColumn;
    const nFieldsExpected = this.#nFieldsExpected;
    const rowNames = this.#rowNames;
    const rowLines = this.#rowLines;
    const binarize = this.#options.binarize === true;
    const tags = this.#layout!.tagCells;
    const trailing = this.#trailing;
    const cursor = { pos: 0 };
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let cells = this.#cells;
    let capacity = this.#capacity;
    // A quoted field running to the end of a window that is not final: the window cut it.
    const cut = (): void => {
      if (s.unterminatedQuote && !final) throw WINDOW_CUT;
    };
    const fail = (record: number, got: number): never => {
      cut();
      return this.#fieldCountError(record, got);
    };
    while (s.skipBlankLines()) {
      const record = rowNames.length;
      const line = s.line;
      const start = s.pos;
      try {
        rowLines.push(line);
        rowNames.push(s.readField());
        cut();
        checkQuotes(s, source, line);
        for (let k = 1; k < firstCellColumn; k++) {
          if (!s.nextField()) fail(record, k);
          s.skipField();
        }
        cut();
        checkQuotes(s, source, line);
        if (record === capacity) {
          capacity *= 2;
          const grown = new Uint8Array(capacity * nCols);
          grown.set(cells);
          cells = grown;
          this.#cells = cells;
          this.#capacity = capacity;
        }
        const base = record * nCols;
        let c = 0;
        cursor.pos = s.pos;
        while (true) {
          c = scanSimpleCells(bytes, view, delimiter, tags, cells, base, c, nCols, cursor);
          if (c === nCols) break;
          // A cell the fast path does not handle: quoted, long, missing, invalid or at the end.
          const p = cursor.pos;
          if (p >= n || bytes[p] !== delimiter) {
            s.pos = p;
            fail(record, firstCellColumn + c);
          }
          s.pos = p + 1;
          const value = s.readField();
          cut();
          checkQuotes(s, source, line);
          cursor.pos = s.pos;
          const state = tags ? tagState(value) : binaryState(value, binarize);
          if (state < 0) {
            if (this.#badCell === null) this.#badCell = { record, column: c, value };
            cells[base + c] = MISSING;
          } else {
            cells[base + c] = state;
          }
          c++;
        }
        s.pos = cursor.pos;
        if (
          trailing && s.pos < n && bytes[s.pos] === delimiter &&
          (s.pos + 1 >= n || bytes[s.pos + 1] === LF || bytes[s.pos + 1] === CR)
        ) {
          s.pos++; // the trailing delimiter
        }
        if (!s.atLineEnd()) {
          let got = nFieldsExpected;
          while (s.nextField()) {
            s.skipField();
            got++;
          }
          fail(record, got);
        }
        s.nextField();
      } catch (e) {
        if (e !== WINDOW_CUT) throw e;
        rowNames.length = record;
        rowLines.length = record;
        if (this.#badCell?.record === record) this.#badCell = null;
        s.pos = start;
        s.line = line;
        return start;
      }
    }
    return s.pos;
  }

  /** Checks names and cells and returns the matrix (`trim`: copy if the spare room is large). */
  finish(trim: boolean): ParsedPam {
    const source = this.#source;
    const rowNames = this.#rowNames;
    const rowLines = this.#rowLines;
    const nRecords = rowNames.length;
    if (this.#phase !== "records" || nRecords === 0) {
      throw new GenecontentError(
        `PAM file '${source}' has a header but no rows; it needs at least one gene family.`,
      );
    }
    const columnNames = this.#columnNames;
    const nCols = columnNames.length;
    const firstCellColumn = this.#firstCellColumn;
    const layout = this.#layout!;
    const binarize = this.#options.binarize === true;
    let cells: Uint8Array = this.#cells.subarray(0, nRecords * nCols);
    this.#cells = new Uint8Array(0);

    const familiesAsRows = decideOrientation(layout, this.#options, rowNames, columnNames, source);
    const families = familiesAsRows ? rowNames : columnNames;
    const taxa = familiesAsRows ? columnNames : rowNames;
    const columnNumber = (c: number): number => c + firstCellColumn + 1;
    checkNames(
      rowNames,
      (i) => `line ${rowLines[i]}`,
      familiesAsRows ? "family" : "taxon",
      source,
    );
    checkNames(
      columnNames,
      (i) => `header column ${columnNumber(i)}`,
      familiesAsRows ? "taxon" : "family",
      source,
    );
    if (this.#badCell !== null) {
      const { record, column, value } = this.#badCell;
      const family = familiesAsRows ? rowNames[record] : columnNames[column];
      const taxon = familiesAsRows ? columnNames[column] : rowNames[record];
      const hint = binarize
        ? "with --binarize, cells must be non-negative integer counts (> 0 is present), or ?, " +
          "NA or empty for missing."
        : "cells must be 0 (absent), 1 (present), or ?, NA or empty (missing). If the matrix " +
          "holds gene counts, pass --binarize to treat any count > 0 as present.";
      throw new GenecontentError(
        `PAM file '${source}', line ${rowLines[record]}, column ${columnNumber(column)}: ` +
          `family ${quoteValue(family)}, taxon ${quoteValue(taxon)} has the value ` +
          `${quoteValue(value)}; ${hint}`,
      );
    }
    // Copy only if the buffer's spare room is large.
    if (familiesAsRows) {
      if (trim && cells.buffer.byteLength - cells.length > cells.length / 8) cells = cells.slice();
    } else {
      cells = transpose(cells, nRecords, nCols);
    }
    return {
      source,
      families,
      taxa,
      states: cells,
      format: layout.format,
      orientation: familiesAsRows ? "families-as-rows" : "families-as-columns",
      notices: this.#notices,
    };
  }
}

/**
 * The hot loop: reads cells `c, c+1, ...` of a record while each is a delimiter followed by a
 * single `0` or `1` (or, for locus-tag cells, by nothing). Returns the index of the first cell
 * it did not handle (`nCols` when done) and leaves `cursor.pos` on that cell's delimiter.
 */
function scanSimpleCells(
  b: Uint8Array,
  view: DataView,
  d: number,
  tags: boolean,
  cells: Uint8Array,
  base: number,
  c: number,
  nCols: number,
  cursor: { pos: number },
): number {
  let p = cursor.pos;
  let q = base + c;
  const qEnd = base + nCols;
  if (!tags) {
    // Two cells per step: the four bytes `d 0|1 d 0|1` read as one little-endian word.
    const pair = d | (d << 16) | 0x30003000;
    const lastWord = b.length - 5; // b[p + 4] must exist
    const start = p;
    while (q + 2 <= qEnd && p <= lastWord) {
      const w = view.getUint32(p, true);
      if ((w & 0xfefffeff) !== pair) break;
      cells[q] = (w >>> 8) & 1;
      cells[q + 1] = (w >>> 24) & 1;
      q += 2;
      p += 4;
    }
    if (p !== start) {
      // The last digit must end its field; if not, the byte loop below sorts it out.
      const y = b[p];
      if (y !== d && y !== LF && y !== CR) {
        q -= 2;
        p -= 4;
      }
    }
  }
  const last = b.length - 2; // b[p + 2] must exist
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
      `Unknown orientation ${
        quoteValue(String(wanted))
      }; use families-as-rows, families-as-columns or auto.`,
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
        `PAM file '${source}': ${kind} name ${quoteValue(name)} appears twice (${
          where(prev)
        } and ` +
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
