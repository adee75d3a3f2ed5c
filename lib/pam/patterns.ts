/**
 * Site-pattern compression: identical family columns (in tip order) are merged and counted, so
 * each distinct column is computed once.
 *
 * @module
 */

/** Distinct tip-state columns with their multiplicities. */
export interface SitePatterns {
  /** Number of tips (the length of one pattern). */
  readonly nTips: number;
  /** Number of distinct patterns. */
  readonly nPatterns: number;
  /** Pattern-major tip states, `states[p * nTips + tip]`: 0 absent, 1 present, 2 missing. */
  readonly states: Uint8Array;
  /** How many families share each pattern. */
  readonly weights: Float64Array;
  /** For each family (input order), the index of its pattern. */
  readonly familyPattern: Int32Array;
  /** Family names in input order. */
  readonly familyNames: readonly string[];
}

/**
 * Merges identical rows of a family-major state matrix (`rows[f * nTips + tip]`, tips in tree
 * order). Patterns are numbered in order of first appearance.
 *
 * @example
 * ```ts
 * import { compressPatterns } from "./patterns.ts";
 * const p = compressPatterns(new Uint8Array([1, 0, 0, 1, 1, 0]), 3, 2, ["f1", "f2", "f3"]);
 * console.assert(p.nPatterns === 2 && p.weights[0] === 2 && p.familyPattern[2] === 0);
 * ```
 */
export function compressPatterns(
  rows: Uint8Array,
  nFamilies: number,
  nTips: number,
  familyNames: readonly string[],
): SitePatterns {
  if (rows.length !== nFamilies * nTips) {
    throw new RangeError(
      `State matrix has ${rows.length} cells, expected ${nFamilies} x ${nTips}.`,
    );
  }
  const identity = new Int32Array(nTips);
  for (let t = 0; t < nTips; t++) identity[t] = t;
  return compressPatternsByColumn(rows, nFamilies, nTips, identity, familyNames);
}

/** Options for {@linkcode compressPatternsByColumn}. */
export interface CompressByColumnOptions {
  /**
   * Write the patterns over `cells` (which must not be used afterwards) instead of into new
   * memory: the result's `states` may then share `cells`' buffer. Default false.
   */
  readonly inPlace?: boolean;
}

/**
 * Merges identical families of a family-major matrix in file order (`cells[f * nTaxa + k]`),
 * taking tip `t` of each family from column `columns[t]`: the same result as reordering the
 * columns into tip order and calling {@linkcode compressPatterns}, without the reordered copy.
 * Columns not listed in `columns` are ignored. With `inPlace`, the patterns are written over
 * `cells` (a pattern is never longer than a row and never comes after its first family), so
 * no memory beyond one row is needed.
 *
 * @example
 * ```ts
 * import { compressPatternsByColumn } from "./patterns.ts";
 * // Families x taxa (b, a, x); tips in tree order are a, b: columns 1, 0.
 * const cells = new Uint8Array([1, 0, 2, 1, 0, 1, 0, 1, 0]);
 * const p = compressPatternsByColumn(cells, 3, 3, Int32Array.of(1, 0), ["f1", "f2", "f3"]);
 * console.assert(p.nPatterns === 2 && p.states.join() === "0,1,1,0");
 * console.assert(p.familyPattern.join() === "0,0,1");
 * ```
 */
export function compressPatternsByColumn(
  cells: Uint8Array,
  nFamilies: number,
  nTaxa: number,
  columns: Int32Array,
  familyNames: readonly string[],
  options: CompressByColumnOptions = {},
): SitePatterns {
  const nTips = columns.length;
  if (cells.length < nFamilies * nTaxa) {
    throw new RangeError(
      `State matrix has ${cells.length} cells, expected ${nFamilies} x ${nTaxa}.`,
    );
  }
  let identity = nTips === nTaxa;
  for (let t = 0; t < nTips; t++) {
    const c = columns[t];
    if (!(c >= 0 && c < nTaxa)) {
      throw new RangeError(`Column ${c} of tip ${t} is outside the ${nTaxa} columns.`);
    }
    if (c !== t) identity = false;
  }
  const inPlace = options.inPlace === true;
  // One gathered row, zero-padded to whole 32-bit words so it can be hashed a word at a time.
  const nWords = (nTips + 3) >>> 2;
  const row = new Uint8Array(nWords * 4);
  const rowWords = new Int32Array(row.buffer);
  // Distinct patterns, `out[p * nTips + tip]`: over the input when in place, else grown.
  let out: Uint8Array = inPlace ? cells : new Uint8Array(Math.min(nFamilies, 1024) * nTips);
  let outCapacity = inPlace ? nFamilies : Math.min(nFamilies, 1024);
  // Open-addressing hash table of pattern indices + 1 (0 is empty), and each pattern's hash.
  let table: Int32Array = new Int32Array(1024);
  let hashes: Int32Array = new Int32Array(1024);
  let counts: Float64Array = new Float64Array(1024);
  const familyPattern = new Int32Array(nFamilies);
  let nPatterns = 0;
  for (let f = 0; f < nFamilies; f++) {
    const src = f * nTaxa;
    if (identity) row.set(cells.subarray(src, src + nTips));
    else gatherRow(row, cells, src, columns, nTips);
    const h = hashWords(rowWords, nWords);
    const mask = table.length - 1;
    let slot = h & mask;
    let found = -1;
    for (let e = table[slot]; e !== 0; e = table[slot = (slot + 1) & mask]) {
      if (hashes[e - 1] === h && sameRow(row, out, (e - 1) * nTips, nTips)) {
        found = e - 1;
        break;
      }
    }
    if (found < 0) {
      // A new pattern (the rare path, kept out of the loop so that it stays optimised).
      found = nPatterns++;
      if (found === outCapacity) {
        outCapacity = Math.min(nFamilies, 2 * outCapacity);
        out = growUint8(out, found * nTips, outCapacity * nTips);
      }
      if (found === hashes.length) {
        hashes = growInt32(hashes, 2 * found);
        counts = growFloat64(counts, 2 * found);
      }
      // In place this overwrites only rows already read: pattern `found` <= family `f`.
      out.set(row.subarray(0, nTips), found * nTips);
      hashes[found] = h;
      table[slot] = found + 1;
      if (2 * nPatterns > table.length) table = rehash(hashes, nPatterns, 2 * table.length);
    }
    counts[found]++;
    familyPattern[f] = found;
  }
  const used = nPatterns * nTips;
  let states = out.subarray(0, used);
  // Copy only if the buffer's spare room is large.
  if (states.buffer.byteLength - used > used / 8) states = states.slice();
  return {
    nTips,
    nPatterns,
    states,
    weights: counts.slice(0, nPatterns),
    familyPattern,
    familyNames: [...familyNames],
  };
}

/** Murmur3-style hash of 32-bit words. */
function hashWords(w: Int32Array, n: number): number {
  let h = n;
  for (let i = 0; i < n; i++) {
    let k = Math.imul(w[i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function gatherRow(
  row: Uint8Array,
  cells: Uint8Array,
  src: number,
  columns: Int32Array,
  n: number,
): void {
  for (let t = 0; t < n; t++) row[t] = cells[src + columns[t]];
}

function sameRow(row: Uint8Array, out: Uint8Array, off: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (row[i] !== out[off + i]) return false;
  return true;
}

function growInt32(a: Int32Array, size: number): Int32Array {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

function growUint8(a: Uint8Array, used: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  b.set(a.subarray(0, used));
  return b;
}

function growFloat64(a: Float64Array, size: number): Float64Array {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}

function rehash(hashes: Int32Array, nPatterns: number, size: number): Int32Array {
  const table = new Int32Array(size);
  const mask = size - 1;
  for (let p = 0; p < nPatterns; p++) {
    let slot = hashes[p] & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = p + 1;
  }
  return table;
}
