/**
 * Text input shared by every reader: gzip detection and stream decompression, strict UTF-8
 * validation with the byte offset and line of the first bad byte (UTF-16, Latin-1 and binary
 * files are told apart in the message), and the quoting of values in messages, cut to a
 * readable length.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/** Longest value (in UTF-16 code units) that {@linkcode quoteValue} shows whole. */
export const MESSAGE_VALUE_LIMIT = 60;

/**
 * Quotes a value for an error message, on one line: line breaks and other control characters
 * are written as escapes (`\n`, `\t`, `\x01`), and a value longer than `limit` is cut with an
 * ellipsis and followed by its length. Every reader quotes names, labels and cells this way.
 *
 * @param value The value to show.
 * @param limit How many characters to keep before cutting (default 60).
 * @returns The value in single quotes, possibly cut, e.g. `'AAAA…' (1,000,000 characters)`.
 *
 * @example
 * ```ts
 * import { quoteValue } from "./decode.ts";
 * console.assert(quoteValue("tip_1") === "'tip_1'");
 * console.assert(quoteValue("A".repeat(1_000_000), 4) === "'AAAA…' (1,000,000 characters)");
 * console.assert(quoteValue("a\nb") === "'a\\nb'");
 * ```
 */
export function quoteValue(value: string, limit = MESSAGE_VALUE_LIMIT): string {
  let shown = value;
  let cut = false;
  if (value.length > limit) {
    let end = limit;
    // Do not split a surrogate pair.
    const last = value.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
    shown = value.slice(0, end);
    cut = true;
  }
  // deno-lint-ignore no-control-regex -- control characters are exactly what is escaped here
  shown = shown.replace(/[\u0000-\u001f\u007f]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
  return cut ? `'${shown}…' (${value.length.toLocaleString("en-US")} characters)` : `'${shown}'`;
}

/**
 * True when `bytes` start with the gzip magic number (`1f 8b`).
 *
 * @example
 * ```ts
 * import { isGzip } from "./decode.ts";
 * console.assert(isGzip(new Uint8Array([0x1f, 0x8b, 8])) && !isGzip(new Uint8Array([40])));
 * ```
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The message for gzip data that cannot be decompressed. */
export function gzipError(label: string, cause: unknown): GenecontentError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new GenecontentError(
    `${label} is gzip-compressed but cannot be decompressed (${why.split("\n")[0]}); the file ` +
      "is corrupt or truncated: check it with 'gzip -t' or compress it again.",
    { cause },
  );
}

/**
 * Decompresses gzip data held in memory (with `DecompressionStream("gzip")`).
 *
 * @param bytes The compressed bytes.
 * @param label What the data is, for messages (e.g. `Tree file 'a.nwk.gz'`).
 * @throws {GenecontentError} When the data is corrupt or truncated.
 *
 * @example
 * ```ts
 * import { gunzip } from "./decode.ts";
 * const packed = await new Response(
 *   new Blob([new TextEncoder().encode("(a:1,b:1);")]).stream()
 *     .pipeThrough(new CompressionStream("gzip")),
 * ).bytes();
 * console.assert(new TextDecoder().decode(await gunzip(packed, "t.nwk.gz")) === "(a:1,b:1);");
 * ```
 */
export async function gunzip(bytes: Uint8Array, label: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).bytes();
  } catch (e) {
    throw gzipError(label, e);
  }
}

/**
 * A streaming UTF-8 validator: feed it the bytes in order; it finds the first byte that is not
 * valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF included) or is a NUL.
 * ASCII runs are checked four bytes at a time.
 *
 * @example
 * ```ts
 * import { Utf8Validator } from "./decode.ts";
 * const v = new Utf8Validator();
 * console.assert(v.push(new Uint8Array([0x61, 0xc3])) === -1); // "a" and half of "é"
 * console.assert(v.push(new Uint8Array([0xa9, 0x62])) === -1 && v.end() === -1);
 * console.assert(new Utf8Validator().push(new Uint8Array([0x61, 0xe9, 0x62])) === 1);
 * ```
 */
export class Utf8Validator {
  /** Bytes pushed so far. */
  offset = 0;
  /** Continuation bytes still expected by the current sequence. */
  #need = 0;
  /** Allowed range of the next continuation byte. */
  #lo = 0x80;
  #hi = 0xbf;
  /** Offset (over all bytes pushed) where the current multi-byte sequence starts. */
  #start = 0;

  /**
   * Checks the next bytes. Returns -1 if they are fine so far, otherwise the offset (over all
   * bytes pushed, from 0) of the first bad sequence (its first byte; a NUL is bad).
   */
  push(bytes: Uint8Array): number {
    const base = this.offset;
    this.offset += bytes.length;
    const n = bytes.length;
    let i = 0;
    let need = this.#need;
    let lo = this.#lo;
    let hi = this.#hi;
    // Aligned 32-bit words over the middle of the bytes (none for short inputs).
    const wordStart = (4 - (bytes.byteOffset & 3)) & 3;
    const words = n >= wordStart + 4
      ? new Uint32Array(bytes.buffer, bytes.byteOffset + wordStart, (n - wordStart) >> 2)
      : new Uint32Array(0);
    while (i < n) {
      if (need === 0 && i >= wordStart && ((i - wordStart) & 3) === 0) {
        // Whole words of non-zero ASCII bytes.
        let w = (i - wordStart) >> 2;
        const nw = words.length;
        while (w < nw) {
          const x = words[w];
          if (((x | ((x - 0x01010101) & ~x)) & 0x80808080) !== 0) break;
          w++;
        }
        i = wordStart + (w << 2);
        if (i >= n) break;
      }
      const c = bytes[i];
      if (need > 0) {
        if (c < lo || c > hi) {
          this.#need = 0;
          return this.#start;
        }
        need--;
        lo = 0x80;
        hi = 0xbf;
        i++;
        continue;
      }
      if (c < 0x80) {
        if (c === 0) return base + i;
        i++;
        continue;
      }
      this.#start = base + i;
      if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
      } else if (c === 0xe0) {
        need = 2;
        lo = 0xa0;
      } else if (c === 0xed) {
        need = 2;
        hi = 0x9f;
      } else if (c >= 0xe1 && c <= 0xef) {
        need = 2;
      } else if (c === 0xf0) {
        need = 3;
        lo = 0x90;
      } else if (c >= 0xf1 && c <= 0xf3) {
        need = 3;
      } else if (c === 0xf4) {
        need = 3;
        hi = 0x8f;
      } else {
        return base + i;
      }
      i++;
    }
    this.#need = need;
    this.#lo = lo;
    this.#hi = hi;
    return -1;
  }

  /** Call after the last bytes: -1, or the offset of a sequence cut by the end of the data. */
  end(): number {
    return this.#need > 0 ? this.#start : -1;
  }
}

/** 1-based line of byte `offset` in `bytes` (counting line feeds before it). */
export function lineOfOffset(bytes: Uint8Array, offset: number, firstLine = 1): number {
  let line = firstLine;
  let p = bytes.indexOf(10);
  while (p >= 0 && p < offset) {
    line++;
    p = bytes.indexOf(10, p + 1);
  }
  return line;
}

/**
 * The refusal for data that is not UTF-8 text, saying what it looks like: UTF-16 (with or
 * without a byte-order mark), a binary file (NUL or other control bytes), or text in another
 * 8-bit encoding such as Latin-1. Bytes are never copied into the message.
 *
 * @param label What the data is, e.g. `PAM file 'p.tsv'`.
 * @param head The first bytes of the (decompressed) data, up to a few hundred.
 * @param offset Offset of the bad byte in the (decompressed) data.
 * @param byte The bad byte.
 * @param line Its 1-based line.
 * @param gzipped Whether offsets are in decompressed data.
 *
 * @example
 * ```ts
 * import { notTextError } from "./decode.ts";
 * const e = notTextError("PAM file 'p.tsv'", new Uint8Array([0x61, 0xe9]), 1, 0xe9, 1, false);
 * console.assert(e.message.includes("not UTF-8") && e.message.includes("byte offset 1"));
 * ```
 */
export function notTextError(
  label: string,
  head: Uint8Array,
  offset: number,
  byte: number,
  line: number,
  gzipped: boolean,
): GenecontentError {
  const after = gzipped ? " of the decompressed data" : "";
  const hex = `0x${byte.toString(16).padStart(2, "0").toUpperCase()}`;
  const utf16 = utf16Kind(head);
  if (utf16 !== null) {
    return new GenecontentError(
      `${label} is UTF-16 text (${utf16}), not UTF-8; convert it, e.g. with ` +
        "'iconv -f UTF-16 -t UTF-8 IN > OUT', and read the converted file.",
    );
  }
  if (isBinary(head) || byte === 0) {
    return new GenecontentError(
      `${label} is not a text file (byte ${hex} at byte offset ${offset}${after}); genecontent ` +
        "reads UTF-8 text, plain or gzip-compressed: check that this is the right file.",
    );
  }
  return new GenecontentError(
    `${label} is not UTF-8: byte ${hex} at byte offset ${offset}${after} (line ${line}) is not ` +
      "valid UTF-8; the file may be Latin-1 or Windows-1252 text: convert it, e.g. with " +
      "'iconv -f LATIN1 -t UTF-8 IN > OUT'.",
  );
}

/** "byte-order mark FF FE" etc. when the head looks like UTF-16, else null. */
function utf16Kind(head: Uint8Array): string | null {
  if (head.length >= 2 && head[0] === 0xff && head[1] === 0xfe) return "byte-order mark FF FE";
  if (head.length >= 2 && head[0] === 0xfe && head[1] === 0xff) return "byte-order mark FE FF";
  // Without a mark: ASCII text in UTF-16 has a NUL in every other byte.
  const n = head.length & ~1;
  if (n < 4) return null;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < n; i += 2) {
    if (head[i] === 0) evenNul++;
    if (head[i + 1] === 0) oddNul++;
  }
  const pairs = n / 2;
  if (oddNul >= 0.8 * pairs && evenNul === 0) return "little-endian, without a byte-order mark";
  if (evenNul >= 0.8 * pairs && oddNul === 0) return "big-endian, without a byte-order mark";
  return null;
}

/** True when the head holds a NUL or a control byte that text files do not contain. */
function isBinary(head: Uint8Array): boolean {
  for (let i = 0; i < head.length; i++) {
    const c = head[i];
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 11 && c !== 12 && c !== 13 && c !== 27) {
      return true;
    }
  }
  return false;
}

/** How many leading bytes {@linkcode notTextError} looks at. */
export const HEAD_BYTES = 512;

/**
 * Checks that in-memory data is UTF-8 text and decodes it (a UTF-8 byte-order mark is
 * dropped).
 *
 * @param bytes The (decompressed) data.
 * @param label What the data is, for messages (e.g. `Tree file 't.nwk'`).
 * @param gzipped Whether the data was decompressed (offsets in messages say so).
 * @throws {GenecontentError} For UTF-16, binary or non-UTF-8 data, with the offset and line.
 *
 * @example
 * ```ts
 * import { decodeUtf8 } from "./decode.ts";
 * console.assert(decodeUtf8(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]), "x") === "a");
 * ```
 */
export function decodeUtf8(bytes: Uint8Array, label: string, gzipped = false): string {
  const v = new Utf8Validator();
  let bad = v.push(bytes);
  if (bad < 0) bad = v.end();
  if (bad >= 0) {
    throw notTextError(
      label,
      bytes.subarray(0, HEAD_BYTES),
      bad,
      bytes[bad],
      lineOfOffset(bytes, bad),
      gzipped,
    );
  }
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
    ? 3
    : 0;
  return new TextDecoder("utf-8").decode(bytes.subarray(start));
}

/**
 * Turns a file's bytes into text: gzip data (recognised by its magic number, whatever the file
 * name) is decompressed, then the text must be UTF-8 (see {@linkcode decodeUtf8}).
 *
 * @param bytes The file's bytes as read.
 * @param label What the file is, for messages (e.g. `Tree file 't.nwk.gz'`).
 * @returns The text and whether it was compressed.
 *
 * @example
 * ```ts
 * import { bytesToText } from "./decode.ts";
 * const { text, gzipped } = await bytesToText(new TextEncoder().encode("(a:1,b:1);"), "t");
 * console.assert(text === "(a:1,b:1);" && !gzipped);
 * ```
 */
export async function bytesToText(
  bytes: Uint8Array,
  label: string,
): Promise<{ text: string; gzipped: boolean }> {
  if (isGzip(bytes)) {
    return { text: decodeUtf8(await gunzip(bytes, label), label, true), gzipped: true };
  }
  return { text: decodeUtf8(bytes, label, false), gzipped: false };
}
