/**
 * The native formatter of the per-family long TSV (`gc_family_table` of libgenecontent): rows
 * of a block of families as plain text or as deflate data continuing one gzip member (the
 * kernel compresses blocks on their own and carries the CRC-32 on), formatted in parallel with
 * the digits of {@linkcode formatValue} (`long_tsv.ts`), so the bytes equal the TypeScript
 * writer's.
 *
 * @module
 */

import { GenecontentError } from "../../errors.ts";
import {
  ERROR_BUFFER_BYTES,
  errorText,
  type Kernel,
  packFamilyTableArgs,
  Status,
} from "../../native/ffi.ts";

/** Quantity codes of the ABI, by name. */
const QUANTITY_CODES = { pPresent: 0, gains: 1, losses: 2 } as const;

/** The longest value the formatter writes (`-d.ddddde-ddd`). */
const MAX_VALUE_BYTES = 13;

/** Block rows as {@linkcode NativeFamilyTable.format} takes them. */
export interface NativeTableBlock {
  /** The families' names. */
  readonly families: readonly string[];
  /** The value row of each family. */
  readonly rows: Uint32Array;
  /** `nRows * nNodes` presence probabilities. */
  readonly present: Float64Array;
  /** `nRows * nNodes` expected gains. */
  readonly gains: Float64Array;
  /** `nRows * nNodes` expected losses. */
  readonly losses: Float64Array;
}

const encoder = new TextEncoder();

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the gzip one) of `bytes`. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Names as one UTF-8 buffer and their end offsets. */
function packNames(names: readonly string[]): { bytes: Uint8Array; ends: BigUint64Array } {
  const parts = names.map((n) => encoder.encode(n));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const bytes = new Uint8Array(total);
  const ends = new BigUint64Array(names.length);
  let at = 0;
  parts.forEach((p, i) => {
    bytes.set(p, at);
    at += p.length;
    ends[i] = BigInt(at);
  });
  return { bytes, ends };
}

/**
 * The kernel's formatter bound to one tree's node ids and a list of quantities; formats block
 * after block into a reused buffer.
 */
export class NativeFamilyTable {
  readonly #kernel: Kernel;
  readonly #nNodes: number;
  readonly #ids: { bytes: Uint8Array; ends: BigUint64Array };
  readonly #quantities: Uint8Array;
  readonly #perFamilyFixed: number;
  readonly #rowsPerFamily: number;
  readonly #threads: number;
  readonly #gzipLevel: number;
  readonly #minValue: number;
  #buffers: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
  #turn = 0;
  #textBytes = 0;
  #rows = 0;
  /** CRC-32 and length of the text so far (compressed output). */
  #crc = new BigUint64Array(2);
  #last: Promise<void> = Promise.resolve();

  /** Bytes of the text formatted so far, before compression. */
  get textBytes(): number {
    return this.#textBytes;
  }

  /** Rows formatted so far (the header line not counted). */
  get rows(): number {
    return this.#rows;
  }

  /**
   * Binds the formatter. `gzipLevel` 0 writes plain text, 1..9 deflate data at that level
   * (between {@linkcode NativeFamilyTable.gzipStart} and {@linkcode NativeFamilyTable.gzipEnd}).
   * Rows whose value is below `minValue` are left out (0: every row). Null when the library
   * has no `gc_family_table`, or is older than minor 3 (which would ignore `minValue`).
   *
   * @example
   * ```ts ignore
   * const t = NativeFamilyTable.open(kernel, ["a", "b", "root"], ["pPresent"], 0, 0, 0)!;
   * const bytes = await t.format(block, 0);
   * ```
   */
  static open(
    kernel: Kernel,
    ids: readonly string[],
    quantities: readonly ("pPresent" | "gains" | "losses")[],
    threads: number,
    gzipLevel: number,
    minValue: number,
  ): NativeFamilyTable | null {
    if (!kernel.symbols.gc_family_table_async || kernel.minor < 3) return null;
    return new NativeFamilyTable(kernel, ids, quantities, threads, gzipLevel, minValue);
  }

  private constructor(
    kernel: Kernel,
    ids: readonly string[],
    quantities: readonly ("pPresent" | "gains" | "losses")[],
    threads: number,
    gzipLevel: number,
    minValue: number,
  ) {
    this.#kernel = kernel;
    this.#nNodes = ids.length;
    this.#ids = packNames(ids);
    this.#quantities = Uint8Array.from(quantities, (q) => QUANTITY_CODES[q]);
    this.#threads = threads;
    this.#gzipLevel = gzipLevel;
    this.#minValue = minValue;
    const n = ids.length;
    let fixed = 0, rows = 0;
    for (const q of quantities) {
      const r = q === "pPresent" ? n : n - 1;
      rows += r;
      fixed += this.#ids.bytes.length + r * (q.length + 4 + MAX_VALUE_BYTES);
    }
    this.#perFamilyFixed = fixed;
    this.#rowsPerFamily = rows;
  }

  /**
   * The start of the gzip file (compressed output): its header and `text` (the table's header
   * line, at most 65,535 bytes) as a stored deflate block; the kernel's pieces continue it.
   */
  gzipStart(text: string): Uint8Array {
    const data = encoder.encode(text);
    const out = new Uint8Array(10 + 5 + data.length);
    out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    // A stored block, not final: header bits 000 padded to a byte, LEN, NLEN (little-endian).
    out.set([
      0,
      data.length & 0xff,
      data.length >> 8,
      ~data.length & 0xff,
      (~data.length >> 8) & 0xff,
    ], 10);
    out.set(data, 15);
    this.#crc[0] = BigInt(crc32(data));
    this.#crc[1] = BigInt(data.length);
    this.#textBytes += data.length;
    return out;
  }

  /** The end of the gzip file: the final empty block, the CRC-32 and the length mod 2^32. */
  gzipEnd(): Uint8Array {
    const out = new Uint8Array(10);
    const view = new DataView(out.buffer);
    out.set([3, 0]);
    view.setUint32(2, Number(this.#crc[0]), true);
    view.setUint32(6, Number(this.#crc[1] % 2n ** 32n), true);
    return out;
  }

  /**
   * Formats the rows of `block` (families numbered from `firstFamily` in messages) and returns
   * them, plain or as deflate data; calls run one after another, in the order made. The bytes
   * live in one of two buffers used in turn: they stay valid until the call after next.
   */
  format(block: NativeTableBlock, firstFamily: number): Promise<Uint8Array> {
    // One call at a time: each carries the CRC-32 on from the one before.
    const run = this.#last.then(() => this.#format(block, firstFamily));
    this.#last = run.then(() => {}, () => {});
    return run;
  }

  async #format(block: NativeTableBlock, firstFamily: number): Promise<Uint8Array> {
    const names = packNames(block.families);
    let need = 0;
    for (let f = 0; f < block.families.length; f++) {
      const len = Number(names.ends[f] - (f === 0 ? 0n : names.ends[f - 1]));
      need += this.#perFamilyFixed + this.#rowsPerFamily * len;
    }
    // gzip of incompressible data grows by a few bytes per 16 KiB block and per member.
    if (this.#gzipLevel > 0) need += Math.ceil(need / 1000) + 4096;
    const turn = this.#turn;
    this.#turn = 1 - turn;
    const written = new BigUint64Array(2);
    const rows = new BigUint64Array(1);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.#buffers[turn].length < need) this.#buffers[turn] = new Uint8Array(need);
      const out = this.#buffers[turn];
      const keep = {
        nNodes: this.#nNodes,
        threads: this.#threads,
        gzipLevel: this.#gzipLevel,
        quantities: this.#quantities,
        present: block.present,
        gains: block.gains,
        losses: block.losses,
        nodeIds: this.#ids.bytes,
        nodeIdEnds: this.#ids.ends,
        familyNames: names.bytes,
        familyNameEnds: names.ends,
        familyRows: block.rows,
        firstFamily,
        out,
        outWritten: written,
        crc: this.#gzipLevel > 0 ? this.#crc : null,
        minValue: this.#minValue,
        outRows: rows,
      };
      const args = packFamilyTableArgs(keep);
      const err = new Uint8Array(ERROR_BUFFER_BYTES);
      const status = await this.#kernel.symbols.gc_family_table_async!(
        args,
        err,
        BigInt(err.length),
      );
      void keep;
      const n = Number(written[0]);
      if (status === Status.OK) {
        this.#textBytes += Number(written[1]);
        this.#rows += Number(rows[0]);
        return out.subarray(0, n);
      }
      if (status === Status.INVALID_ARGUMENT && n > out.length && attempt === 0) {
        need = n; // the bound was short (cannot happen with the bound above): once more
        continue;
      }
      const message = errorText(err);
      if (status === Status.INVALID_ARGUMENT) throw new GenecontentError(message);
      throw new Error(`Native per-family table failed (status ${status}): ${message}`);
    }
    throw new Error("Native per-family table: the output buffer was too small twice.");
  }
}
