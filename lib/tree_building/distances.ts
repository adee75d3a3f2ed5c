/**
 * Distances between genomes from a presence/absence matrix: the TypeScript specification of
 * `gc_distances` (rust/src/distances.rs), which gives bit-identical values.
 *
 * For genomes a and b, with o the families observed (not missing) in both:
 * `nBoth = |o|`, `nDiff` = families of o present in exactly one of them, `nUnion` = families
 * of o present in at least one. Then
 *
 * - `jaccard = nDiff / nUnion`: 1 minus the Jaccard similarity of the two present sets, over
 *   the families observed in both;
 * - `hamming = nDiff / nBoth`: mismatches as a proportion of the families observed in both.
 *
 * Missing cells are excluded pair by pair. A pair with `nBoth = 0`, or for Jaccard
 * `nUnion = 0`, has no distance; it is an error naming the two genomes rather than a guessed
 * value (0 would call two genomes identical on no evidence, 1 would call them unrelated).
 *
 * Distances are condensed like SciPy's `pdist`: pair (i, j), i < j, at
 * {@linkcode pairIndex}`(n, i, j)`.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";

/** A distance between genomes' gene content. */
export type DistanceMetric = "jaccard" | "hamming";

/** The metrics, in the order of their C codes (`GC_DISTANCE_JACCARD` = 0, `GC_DISTANCE_HAMMING` = 1). */
export const DISTANCE_METRICS: readonly DistanceMetric[] = ["jaccard", "hamming"];

/**
 * Index of pair (i, j), i < j, of `n` items in the condensed layout (row-major upper triangle).
 *
 * @example
 * ```ts
 * import { pairIndex } from "./distances.ts";
 * console.assert(pairIndex(4, 0, 1) === 0 && pairIndex(4, 1, 2) === 3 && pairIndex(4, 2, 3) === 5);
 * ```
 */
export function pairIndex(n: number, i: number, j: number): number {
  return i * n - (i * (i + 1)) / 2 + (j - i - 1);
}

/** A pair of genomes without a defined distance (0-based indices, i < j). */
export class UndefinedDistanceError extends GenecontentError {
  /** The first genome. */
  readonly i: number;
  /** The second genome. */
  readonly j: number;
  /** Families observed in both. */
  readonly nBoth: number;
  /** Creates the error for pair (i, j) with `nBoth` families observed in both. */
  constructor(message: string, i: number, j: number, nBoth: number) {
    super(message);
    this.name = "UndefinedDistanceError";
    this.i = i;
    this.j = j;
    this.nBoth = nBoth;
  }
}

/** The counts of a pair. */
interface PairCounts {
  readonly nBoth: number;
  readonly nDiff: number;
  readonly nUnion: number;
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * The undefined-pair error for genomes i and j, named by `names` (or by 0-based index).
 *
 * @example
 * ```ts
 * import { undefinedDistanceError } from "./distances.ts";
 * const e = undefinedDistanceError(0, 1, 0, "hamming", ["a", "b"]);
 * console.assert(e.message.includes("'a' and 'b'"));
 * ```
 */
export function undefinedDistanceError(
  i: number,
  j: number,
  nBoth: number,
  metric: DistanceMetric,
  names?: readonly string[],
  source?: string,
): UndefinedDistanceError {
  const who = names ? `Genomes '${names[i]}' and '${names[j]}'` : `Genomes ${i} and ${j} (0-based)`;
  const where = source === undefined ? "" : `PAM file '${source}': `;
  const what = nBoth === 0
    ? `${who} have no family observed in both (every family is missing in one of them), so ` +
      `their ${metric} distance is undefined; drop one of them or fill in its missing cells.`
    : `${who} have no family present in either among the ${nBoth} families observed in both, ` +
      "so their Jaccard distance is 0/0; use --distance hamming, or drop one of them.";
  return new UndefinedDistanceError(where + what, i, j, nBoth);
}

/**
 * Distances between every pair of genomes of a family-major matrix (`states[f * nGenomes + g]`,
 * each 0, 1 or 2 = missing), condensed; the same values as `gc_distances`. Genomes are packed
 * into 32-bit presence and observed words first.
 *
 * @throws {UndefinedDistanceError} For the first pair (row-major) without a distance, named by
 *   `names` when given.
 * @throws {GenecontentError} For a cell other than 0, 1 or 2, or fewer than 2 genomes.
 *
 * @example
 * ```ts
 * import { pamDistances } from "./distances.ts";
 * // 3 families x 3 genomes: genome 2 is missing family 0.
 * const states = Uint8Array.of(1, 1, 2, 0, 1, 1, 1, 0, 0);
 * const d = pamDistances(states, 3, 3, "hamming");
 * console.assert(d[0] === 2 / 3 && d[1] === 1 && d[2] === 0);
 * ```
 */
export function pamDistances(
  states: Uint8Array,
  nGenomes: number,
  nFamilies: number,
  metric: DistanceMetric,
  names?: readonly string[],
  source?: string,
): Float64Array {
  if (nGenomes < 2) {
    throw new GenecontentError(`Distances need at least 2 genomes; got ${nGenomes}.`);
  }
  if (states.length !== nGenomes * nFamilies) {
    throw new GenecontentError(
      `The matrix has ${states.length} cells but ${nFamilies} families x ${nGenomes} genomes ` +
        `need ${nGenomes * nFamilies}.`,
    );
  }
  if (!DISTANCE_METRICS.includes(metric)) {
    throw new GenecontentError(`Unknown distance '${metric}': use jaccard or hamming.`);
  }
  const words = Math.ceil(nFamilies / 32);
  const present = new Int32Array(words * nGenomes);
  const observed = new Int32Array(words * nGenomes);
  for (let f = 0; f < nFamilies; f++) {
    const w = f >>> 5;
    const bit = 1 << (f & 31);
    const base = f * nGenomes;
    for (let g = 0; g < nGenomes; g++) {
      const s = states[base + g];
      if (s === MISSING) continue;
      if (s === PRESENT) present[g * words + w] |= bit;
      else if (s !== 0) {
        throw new GenecontentError(
          `Cell of family ${f}, genome ${g} is ${s}: cells must be 0 (absent), 1 (present) ` +
            "or 2 (missing).",
        );
      }
      observed[g * words + w] |= bit;
    }
  }
  const jaccard = metric === "jaccard";
  const out = new Float64Array((nGenomes * (nGenomes - 1)) / 2);
  let k = 0;
  for (let i = 0; i < nGenomes; i++) {
    const ai = i * words;
    for (let j = i + 1; j < nGenomes; j++) {
      const bj = j * words;
      let both = 0, diff = 0, union = 0;
      for (let w = 0; w < words; w++) {
        const o = observed[ai + w] & observed[bj + w];
        const pa = present[ai + w], pb = present[bj + w];
        both += popcount32(o);
        diff += popcount32((pa ^ pb) & o);
        union += popcount32((pa | pb) & o);
      }
      const den = jaccard ? union : both;
      if (den === 0) throw undefinedDistanceError(i, j, both, metric, names, source);
      out[k++] = diff / den;
    }
  }
  return out;
}

/**
 * The counts of one pair computed cell by cell (a direct reference for tests and messages).
 *
 * @example
 * ```ts
 * import { pairCounts } from "./distances.ts";
 * const c = pairCounts(Uint8Array.of(1, 0, 2, 1), 2, 2, 0, 1);
 * console.assert(c.nBoth === 1 && c.nDiff === 1 && c.nUnion === 1);
 * ```
 */
export function pairCounts(
  states: Uint8Array,
  nGenomes: number,
  nFamilies: number,
  i: number,
  j: number,
): PairCounts {
  let nBoth = 0, nDiff = 0, nUnion = 0;
  for (let f = 0; f < nFamilies; f++) {
    const a = states[f * nGenomes + i], b = states[f * nGenomes + j];
    if (a === MISSING || b === MISSING) continue;
    nBoth++;
    if (a !== b) nDiff++;
    if (a === PRESENT || b === PRESENT) nUnion++;
  }
  return { nBoth, nDiff, nUnion };
}
