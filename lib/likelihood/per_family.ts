/**
 * Per-family views of per-pattern values. The likelihood is computed once per distinct family
 * column (a pattern, see {@linkcode SitePatterns}); `SitePatterns.familyPattern[f]` is the pattern
 * of family `f`. These functions give every family its pattern's value, keyed by family name
 * (a `Map`, in the PAM's family order) or as parallel arrays in the same order, with the
 * family's present and observed (not missing) genome counts; and the checks that keep a
 * non-finite log-likelihood from being reported as a result.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/** Per-family results as parallel arrays, in the PAM's family order. */
export interface PerFamilyTable {
  /** Family names. */
  readonly family: readonly string[];
  /** Genomes in which each family is present. */
  readonly present: Int32Array;
  /** Genomes in which each family is observed (present or absent, not missing). */
  readonly observed: Int32Array;
  /** The per-pattern value of each family's pattern (e.g. its log-likelihood). */
  readonly value: Float64Array;
}

function checkLength(patterns: SitePatterns, perPattern: ArrayLike<number>): void {
  if (perPattern.length !== patterns.nPatterns) {
    throw new GenecontentError(
      `Per-pattern values have ${perPattern.length} entries, but the patterns number ` +
        `${patterns.nPatterns}: pass the values computed for these patterns.`,
    );
  }
}

/**
 * Each family's value from the per-pattern values, as a `Float64Array` in family order.
 *
 * @example
 * ```ts
 * import { perFamilyValues } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * const p = compressPatterns(new Uint8Array([1, 0, 0, 1, 1, 0]), 3, 2, ["f1", "f2", "f3"]);
 * console.assert(perFamilyValues(p, [-1, -2]).join() === "-1,-2,-1");
 * ```
 */
export function perFamilyValues(
  patterns: SitePatterns,
  perPattern: ArrayLike<number>,
): Float64Array {
  checkLength(patterns, perPattern);
  const { familyPattern } = patterns;
  const out = new Float64Array(familyPattern.length);
  for (let f = 0; f < out.length; f++) out[f] = perPattern[familyPattern[f]];
  return out;
}

/**
 * Each family's value keyed by family name (family names are unique in a PAM); the map
 * iterates in the PAM's family order.
 *
 * @example
 * ```ts
 * import { perFamilyMap } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * const p = compressPatterns(new Uint8Array([1, 0, 0, 1, 1, 0]), 3, 2, ["f1", "f2", "f3"]);
 * const byName = perFamilyMap(p, [-1, -2]);
 * console.assert(byName.get("f2") === -2 && [...byName.keys()].join() === "f1,f2,f3");
 * ```
 */
export function perFamilyMap(
  patterns: SitePatterns,
  perPattern: ArrayLike<number>,
): Map<string, number> {
  const values = perFamilyValues(patterns, perPattern);
  const map = new Map<string, number>();
  patterns.familyNames.forEach((name, f) => map.set(name, values[f]));
  return map;
}

/**
 * Present and observed (not missing) genome counts of every family, in family order.
 *
 * @example
 * ```ts
 * import { familyCounts } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * // f1 = (1, 0, ?), f2 = (1, 1, 0)
 * const p = compressPatterns(new Uint8Array([1, 0, 2, 1, 1, 0]), 2, 3, ["f1", "f2"]);
 * const c = familyCounts(p);
 * console.assert(c.present.join() === "1,2" && c.observed.join() === "2,3");
 * ```
 */
export function familyCounts(
  patterns: SitePatterns,
): { present: Int32Array; observed: Int32Array } {
  const { nTips, nPatterns, states, familyPattern } = patterns;
  const patternPresent = new Int32Array(nPatterns);
  const patternObserved = new Int32Array(nPatterns);
  for (let p = 0; p < nPatterns; p++) {
    let present = 0;
    let observed = 0;
    for (let i = p * nTips; i < (p + 1) * nTips; i++) {
      if (states[i] === PRESENT) present++;
      if (states[i] !== MISSING) observed++;
    }
    patternPresent[p] = present;
    patternObserved[p] = observed;
  }
  const present = new Int32Array(familyPattern.length);
  const observed = new Int32Array(familyPattern.length);
  for (let f = 0; f < familyPattern.length; f++) {
    present[f] = patternPresent[familyPattern[f]];
    observed[f] = patternObserved[familyPattern[f]];
  }
  return { present, observed };
}

/**
 * The per-family table: names, present and observed counts, and each family's value.
 *
 * @example
 * ```ts
 * import { perFamilyTable } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * const p = compressPatterns(new Uint8Array([1, 0, 0, 1, 1, 0]), 3, 2, ["f1", "f2", "f3"]);
 * const t = perFamilyTable(p, [-1, -2]);
 * console.assert(t.family[1] === "f2" && t.present[1] === 1 && t.value[1] === -2);
 * ```
 */
export function perFamilyTable(
  patterns: SitePatterns,
  perPattern: ArrayLike<number>,
): PerFamilyTable {
  const value = perFamilyValues(patterns, perPattern);
  return { family: patterns.familyNames, ...familyCounts(patterns), value };
}

/**
 * Refuses a log-likelihood that is not a finite number, so that it is never reported as a
 * result. Families whose log-likelihood is -Infinity (their column has probability 0 on this
 * tree at these rates, e.g. genomes joined by zero-length branches that differ) are a user
 * error naming them; NaN or +Infinity is an internal error.
 *
 * @example
 * ```ts
 * import { refuseNonFinite } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * const p = compressPatterns(new Uint8Array([1, 0, 0, 1]), 2, 2, ["f1", "f2"]);
 * refuseNonFinite(p, [-1, -2], "at gain 1, loss 1"); // finite: nothing happens
 * ```
 */
export function refuseNonFinite(
  patterns: SitePatterns,
  perPattern: ArrayLike<number>,
  context: string,
): void {
  checkLength(patterns, perPattern);
  const impossible = new Set<number>();
  for (let p = 0; p < perPattern.length; p++) {
    const v = perPattern[p];
    if (Number.isFinite(v)) continue;
    if (v === Number.NEGATIVE_INFINITY) impossible.add(p);
    else throw new Error(`Pattern ${p} has log-likelihood ${v} ${context}.`);
  }
  if (impossible.size === 0) return;
  const names: string[] = [];
  patterns.familyPattern.forEach((p, f) => {
    if (impossible.has(p)) names.push(patterns.familyNames[f]);
  });
  throw new GenecontentError(
    `${names.length} famil${names.length === 1 ? "y has" : "ies have"} probability 0 ${context} ` +
      `(logLik -Infinity): ${names.slice(0, 10).join(", ")}${
        names.length > 10 ? `, ... (${names.length} in all)` : ""
      }. This happens when genomes joined only by zero-length branches differ in a family: ` +
      "give the tree positive branch lengths.",
  );
}

/** A family that has probability 0 on a tree at any rates, and two genomes that show why. */
export interface ImpossibleFamily {
  /** The family's name. */
  readonly family: string;
  /** A genome where the family is present and one where it is absent, joined only by
   * zero-length branches (so they must share their state). */
  readonly genomes: readonly [string, string];
}

/**
 * Families whose observed cells differ between genomes joined only by zero-length branches:
 * such genomes always share their state, so these families have probability 0 at any rates.
 * Found from the tree and the cells alone, independently of any likelihood computation.
 *
 * @example
 * ```ts
 * import { impossibleFamilies } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:0,b:0):1,c:1);", "t.nwk");
 * const p = compressPatterns(new Uint8Array([1, 0, 1, 1, 1, 0]), 2, 3, ["split", "fine"]);
 * console.assert(impossibleFamilies(tree, p)[0].family === "split");
 * ```
 */
export function impossibleFamilies(tree: FlatTree, patterns: SitePatterns): ImpossibleFamily[] {
  const { nTips, nNodes, parent, branchLength, tipNames } = tree;
  const root = new Int32Array(nNodes).map((_, i) => i);
  const find = (i: number): number => {
    while (root[i] !== i) i = root[i] = root[root[i]];
    return i;
  };
  for (let i = 0; i < nNodes; i++) {
    if (parent[i] >= 0 && branchLength[i] === 0) root[find(i)] = find(parent[i]);
  }
  // Groups of two or more tips joined by zero-length paths, as tip lists.
  const groups = new Map<number, number[]>();
  for (let t = 0; t < nTips; t++) {
    const r = find(t);
    const g = groups.get(r);
    if (g) g.push(t);
    else groups.set(r, [t]);
  }
  const shared = [...groups.values()].filter((g) => g.length > 1);
  if (shared.length === 0) return [];
  const { states, nPatterns, familyPattern, familyNames } = patterns;
  const witness = new Map<number, readonly [string, string]>();
  for (let p = 0; p < nPatterns; p++) {
    for (const group of shared) {
      let present = -1;
      let absent = -1;
      for (const t of group) {
        const x = states[p * nTips + t];
        if (x === PRESENT && present < 0) present = t;
        else if (x !== PRESENT && x !== MISSING && absent < 0) absent = t;
      }
      if (present >= 0 && absent >= 0) {
        witness.set(p, [tipNames[present], tipNames[absent]]);
        break;
      }
    }
  }
  const out: ImpossibleFamily[] = [];
  familyPattern.forEach((p, f) => {
    const w = witness.get(p);
    if (w) out.push({ family: familyNames[f], genomes: w });
  });
  return out;
}

/**
 * Refuses data that have probability 0 at any rates (see {@linkcode impossibleFamilies}) with
 * a message naming the families and, for the first, two genomes that differ.
 *
 * @example
 * ```ts
 * import { refuseImpossible } from "./per_family.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { parseNewick } from "../newick/parse.ts";
 * const tree = parseNewick("((a:0.1,b:0):1,c:1);", "t.nwk");
 * refuseImpossible(tree, compressPatterns(new Uint8Array([1, 0, 1]), 1, 3, ["f"]), "t.nwk");
 * ```
 */
export function refuseImpossible(tree: FlatTree, patterns: SitePatterns, treeSource: string): void {
  const bad = impossibleFamilies(tree, patterns);
  if (bad.length === 0) return;
  const names = bad.map((b) => b.family);
  throw new GenecontentError(
    `${names.length} famil${names.length === 1 ? "y has" : "ies have"} probability 0 at any ` +
      `rates on tree '${treeSource}' (logLik -Infinity): ${names.slice(0, 10).join(", ")}${
        names.length > 10 ? `, ... (${names.length} in all)` : ""
      }. For example, ${bad[0].family} is present in ${bad[0].genomes[0]} and absent in ` +
      `${bad[0].genomes[1]}, which are joined only by zero-length branches and so always share ` +
      "their state. Give those branches positive lengths.",
  );
}
