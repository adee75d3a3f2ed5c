/**
 * A byte-level scanner for tab- or comma-separated text with optional double-quoted fields
 * (RFC 4180 style: `""` inside quotes is one `"`, delimiters and newlines may be quoted). It
 * works on the raw bytes so that big 0/1 matrices can be read without creating one string per
 * cell.
 *
 * @module
 */

/** Byte value of a line feed. */
export const LF = 10;
/** Byte value of a carriage return. */
export const CR = 13;
/** Byte value of a double quote. */
export const DQUOTE = 34;
/** Byte value of a tab. */
export const TAB = 9;
/** Byte value of a comma. */
export const COMMA = 44;

const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * A cursor over delimited bytes. Fields are read one at a time; after each field the cursor
 * sits on the delimiter, on the line end, or at the end of the data.
 *
 * @example
 * ```ts
 * import { DelimitedScanner } from "./delimited.ts";
 * const s = new DelimitedScanner(new TextEncoder().encode('a,"b,""c"""\n1,0\n'), 44);
 * console.assert(s.readField() === "a" && s.nextField());
 * console.assert(s.readField() === 'b,"c"' && !s.nextField());
 * console.assert(s.line === 2);
 * ```
 */
export class DelimitedScanner {
  /** The bytes being scanned. */
  readonly bytes: Uint8Array;
  /** The field delimiter byte (tab or comma). */
  readonly delimiter: number;
  /** Current byte offset. */
  pos: number;
  /** Current 1-based line number (counts every line feed passed, quoted ones included). */
  line = 1;
  /** Set when the last field read was quoted and unterminated (the data ended inside it). */
  unterminatedQuote = false;

  /** Starts scanning `bytes` at `start` (use 3 to skip a UTF-8 byte-order mark). */
  constructor(bytes: Uint8Array, delimiter: number, start = 0) {
    this.bytes = bytes;
    this.delimiter = delimiter;
    this.pos = start;
  }

  /** True when every byte has been consumed. */
  atEnd(): boolean {
    return this.pos >= this.bytes.length;
  }

  /** True when the cursor is on a line end or at the end of the data. */
  atLineEnd(): boolean {
    const p = this.pos;
    if (p >= this.bytes.length) return true;
    const c = this.bytes[p];
    return c === LF || c === CR;
  }

  /**
   * Skips blank lines (empty or `\r` only) at the cursor, which must be at a line start.
   * Returns false when the data ends.
   */
  skipBlankLines(): boolean {
    const b = this.bytes;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c === LF) {
        this.pos++;
        this.line++;
      } else if (c === CR) {
        this.pos++;
      } else {
        return true;
      }
    }
    return false;
  }

  /**
   * Moves past the delimiter after a field. Returns true if another field follows on the same
   * record; false at a line end (consumed) or the end of the data.
   */
  nextField(): boolean {
    const b = this.bytes;
    const p = this.pos;
    if (p >= b.length) return false;
    const c = b[p];
    if (c === this.delimiter) {
      this.pos = p + 1;
      return true;
    }
    if (c === CR) {
      this.pos = p + 1 < b.length && b[p + 1] === LF ? p + 2 : p + 1;
      this.line++;
      return false;
    }
    if (c === LF) {
      this.pos = p + 1;
      this.line++;
      return false;
    }
    throw new Error(`Internal error: scanner at byte ${p} is not at a field boundary.`);
  }

  /** Reads the field at the cursor as a string (quotes removed, `""` unescaped). */
  readField(): string {
    const b = this.bytes;
    const n = b.length;
    const d = this.delimiter;
    let p = this.pos;
    if (p < n && b[p] === DQUOTE) return this.readQuoted();
    const start = p;
    while (p < n) {
      const c = b[p];
      if (c === d || c === LF || c === CR) break;
      p++;
    }
    this.pos = p;
    return decodeAscii(b, start, p);
  }

  /** Skips the field at the cursor without decoding it. */
  skipField(): void {
    const b = this.bytes;
    const n = b.length;
    const d = this.delimiter;
    let p = this.pos;
    if (p < n && b[p] === DQUOTE) {
      this.readQuoted();
      return;
    }
    while (p < n) {
      const c = b[p];
      if (c === d || c === LF || c === CR) break;
      p++;
    }
    this.pos = p;
  }

  /**
   * Reads a quoted field. Text right after a closing quote (up to the next delimiter) is kept
   * as part of the field, which accepts PPanGGOLiN's `"g1" "g2"` gene-name cells.
   */
  private readQuoted(): string {
    const b = this.bytes;
    const n = b.length;
    const d = this.delimiter;
    let p = this.pos;
    // The byte ranges of the field's text (quotes removed, `""` kept as one `"`), gathered
    // first and decoded once: appending piece by piece to a string would build a rope of as
    // many pieces as there are escaped quotes, which the garbage collector copies over and over.
    const ranges: number[] = [];
    while (p < n && b[p] === DQUOTE) {
      p++;
      let from = p;
      // Find the closing quote, recording the text before each escaped quote.
      while (p < n) {
        if (b[p] === DQUOTE) {
          if (p + 1 < n && b[p + 1] === DQUOTE) {
            ranges.push(from, p + 1);
            p += 2;
            from = p;
            continue;
          }
          break;
        }
        if (b[p] === LF) this.line++;
        p++;
      }
      ranges.push(from, p);
      if (p >= n) {
        this.unterminatedQuote = true;
        break;
      }
      p++; // the closing quote
      // Unquoted text after the closing quote, up to a delimiter, line end or another quote.
      const start = p;
      while (p < n) {
        const c = b[p];
        if (c === d || c === LF || c === CR || c === DQUOTE) break;
        p++;
      }
      ranges.push(start, p);
    }
    this.pos = p;
    if (ranges.length === 2) return decodeAscii(b, ranges[0], ranges[1]);
    let total = 0;
    for (let r = 0; r < ranges.length; r += 2) total += ranges[r + 1] - ranges[r];
    const out = new Uint8Array(total);
    let at = 0;
    for (let r = 0; r < ranges.length; r += 2) {
      out.set(b.subarray(ranges[r], ranges[r + 1]), at);
      at += ranges[r + 1] - ranges[r];
    }
    return decodeAscii(out, 0, total);
  }
}

/** Decodes bytes `[start, end)`; a fast path for short ASCII runs, UTF-8 otherwise. */
export function decodeAscii(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (b[i] >= 128) {
        ascii = false;
        break;
      }
    }
    // One call builds a flat string; appending characters one by one would build a rope that
    // every later hash or comparison has to flatten.
    if (ascii) {
      return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
    }
  }
  return decoder.decode(b.subarray(start, end));
}
