/**
 * The presence/absence matrix as read from a file, before it is matched to a tree.
 *
 * @module
 */

/** Cell value: the family is absent from the genome. */
export const ABSENT = 0;
/** Cell value: the family is present in the genome. */
export const PRESENT = 1;
/** Cell value: unknown (`?`, `NA` or an empty cell); the likelihood sums over both states. */
export const MISSING = 2;

/** A gene presence/absence matrix, families by taxa, with cells 0, 1 or 2 (missing). */
export interface PresenceAbsenceMatrix {
  /** The file the matrix was read from (for messages and provenance). */
  readonly source: string;
  /** Family (gene cluster) names, in file order. Unique. */
  readonly families: readonly string[];
  /** Taxon (genome) names, in file order. Unique. */
  readonly taxa: readonly string[];
  /** Family-major cells: `states[f * taxa.length + t]` is {@linkcode ABSENT}, {@linkcode PRESENT} or {@linkcode MISSING}. */
  readonly states: Uint8Array;
}
