/**
 * Turning a family-major presence/absence matrix into one character sequence per taxon, the
 * shape the peer programs' alignment formats need.
 *
 * @module
 */

/**
 * The sequence of each taxon: `symbols[state]` for every family, in family order. A state with
 * no symbol is an error naming the cell.
 *
 * @example
 * ```ts
 * import { taxonSequences } from "./taxon_sequences.ts";
 * const s = taxonSequences(["a", "b"], new Uint8Array([0, 1, 1, 2]), 2, ["0", "1", "?"]);
 * console.assert(s.join() === "01,1?");
 * ```
 */
export function taxonSequences(
  taxa: readonly string[],
  familyMajor: Uint8Array,
  nFamilies: number,
  symbols: readonly string[],
): string[] {
  const nTaxa = taxa.length;
  if (familyMajor.length !== nTaxa * nFamilies) {
    throw new RangeError(`Matrix has ${familyMajor.length} cells, expected ${nFamilies}x${nTaxa}.`);
  }
  return taxa.map((name, t) => {
    const seq = new Array<string>(nFamilies);
    for (let f = 0; f < nFamilies; f++) {
      const s = familyMajor[f * nTaxa + t];
      const symbol = symbols[s];
      if (symbol === undefined) {
        throw new RangeError(
          `Cell (family ${f}, taxon ${name}) is ${s}, which has no symbol here.`,
        );
      }
      seq[f] = symbol;
    }
    return seq.join("");
  });
}
