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

/**
 * The taxa whose cells are all missing (no family is observed present or absent in them), in
 * matrix order. Such a genome adds nothing to the likelihood; readers report it.
 *
 * @example
 * ```ts
 * import { MISSING, unobservedTaxa } from "./matrix.ts";
 * const states = new Uint8Array([1, MISSING, 0, 0, MISSING, MISSING]); // 2 families x 3 taxa
 * console.assert(unobservedTaxa({ source: "p", families: ["f", "g"], taxa: ["a", "b", "c"], states })
 *   .join() === "b");
 * ```
 */
export function unobservedTaxa(pam: PresenceAbsenceMatrix): string[] {
  const nt = pam.taxa.length;
  const nf = pam.families.length;
  const states = pam.states;
  const observed = new Uint8Array(nt);
  let left = nt;
  for (let f = 0; f < nf && left > 0; f++) {
    const base = f * nt;
    for (let t = 0; t < nt; t++) {
      if (observed[t] === 0 && states[base + t] !== MISSING) {
        observed[t] = 1;
        left--;
      }
    }
  }
  return pam.taxa.filter((_, t) => observed[t] === 0);
}
