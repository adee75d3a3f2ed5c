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
  const buckets = new Map<number, number[]>();
  const familyPattern = new Int32Array(nFamilies);
  const firstFamily: number[] = [];
  const counts: number[] = [];
  for (let f = 0; f < nFamilies; f++) {
    const off = f * nTips;
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < nTips; i++) h = Math.imul(h ^ rows[off + i], 0x01000193);
    let bucket = buckets.get(h);
    if (!bucket) buckets.set(h, bucket = []);
    let found = -1;
    for (const p of bucket) {
      const o2 = firstFamily[p] * nTips;
      let same = true;
      for (let i = 0; i < nTips; i++) {
        if (rows[off + i] !== rows[o2 + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        found = p;
        break;
      }
    }
    if (found < 0) {
      found = firstFamily.length;
      firstFamily.push(f);
      counts.push(0);
      bucket.push(found);
    }
    counts[found]++;
    familyPattern[f] = found;
  }
  const nPatterns = firstFamily.length;
  const states = new Uint8Array(nPatterns * nTips);
  for (let p = 0; p < nPatterns; p++) {
    states.set(rows.subarray(firstFamily[p] * nTips, (firstFamily[p] + 1) * nTips), p * nTips);
  }
  return {
    nTips,
    nPatterns,
    states,
    weights: Float64Array.from(counts),
    familyPattern,
    familyNames: [...familyNames],
  };
}
