/**
 * Prevalence classes of gene families: one set of thresholds used by every command, report and
 * test that speaks of "core", "shell" or "cloud" genes.
 *
 * The thresholds are Roary's (Page et al. 2015), applied to the share of a family's *observed*
 * genomes (genomes where its cell is not missing) in which it is present:
 *
 * | class       | share present            |
 * | ----------- | ------------------------ |
 * | `core`      | 99% ≤ share ≤ 100%       |
 * | `softCore`  | 95% ≤ share < 99%        |
 * | `shell`     | 15% ≤ share < 95%        |
 * | `cloud`     | 0% ≤ share < 15%         |
 *
 * Comparisons are exact in integers (`100 · present ≥ 99 · observed`), so a family present in 99
 * of 100 genomes is core and one present in 15 of 100 is shell, with no rounding at the edges.
 *
 * For calibrating tests and screens, {@linkcode screenClass} merges them into three coarser
 * classes: `rare` (cloud), `shell`, and `nearCore` (soft core and core together).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/** Roary's four prevalence classes, from most to least prevalent. */
export type PrevalenceClass = "core" | "softCore" | "shell" | "cloud";

/** The coarser three-class screen: near-core (core + soft core), shell, rare (cloud). */
export type ScreenClass = "nearCore" | "shell" | "rare";

/** Lower bound (percent of observed genomes, inclusive) of the core class. */
export const CORE_MIN_PERCENT = 99;
/** Lower bound (percent of observed genomes, inclusive) of the soft-core class. */
export const SOFT_CORE_MIN_PERCENT = 95;
/** Lower bound (percent of observed genomes, inclusive) of the shell class; below it is cloud. */
export const SHELL_MIN_PERCENT = 15;

/** The four classes in order from most to least prevalent. */
export const PREVALENCE_CLASSES: readonly PrevalenceClass[] = Object.freeze([
  "core",
  "softCore",
  "shell",
  "cloud",
]);

/** The three screen classes in order from most to least prevalent. */
export const SCREEN_CLASSES: readonly ScreenClass[] = Object.freeze([
  "nearCore",
  "shell",
  "rare",
]);

/** One row of {@linkcode PREVALENCE_TABLE}. */
export interface PrevalenceClassRow {
  /** The class identifier as used in JSON and TSV output. */
  readonly id: PrevalenceClass;
  /** A human-readable label. */
  readonly label: string;
  /** Inclusive lower bound, percent of observed genomes. */
  readonly minPercent: number;
  /** Upper bound, percent of observed genomes (inclusive only for core, at 100). */
  readonly maxPercent: number;
  /** Whether `maxPercent` is included in the class. */
  readonly maxInclusive: boolean;
  /** The screen class this class belongs to. */
  readonly screen: ScreenClass;
  /** The bounds as text, e.g. `15% <= share < 95%`. */
  readonly rule: string;
}

/** The thresholds as a table, for documentation and reports. */
export const PREVALENCE_TABLE: readonly PrevalenceClassRow[] = Object.freeze([
  row("core", "core", CORE_MIN_PERCENT, 100, true, "nearCore"),
  row("softCore", "soft core", SOFT_CORE_MIN_PERCENT, CORE_MIN_PERCENT, false, "nearCore"),
  row("shell", "shell", SHELL_MIN_PERCENT, SOFT_CORE_MIN_PERCENT, false, "shell"),
  row("cloud", "cloud", 0, SHELL_MIN_PERCENT, false, "rare"),
]);

function row(
  id: PrevalenceClass,
  label: string,
  minPercent: number,
  maxPercent: number,
  maxInclusive: boolean,
  screen: ScreenClass,
): PrevalenceClassRow {
  const rule = `${minPercent}% <= share ${maxInclusive ? "<=" : "<"} ${maxPercent}%`;
  return Object.freeze({ id, label, minPercent, maxPercent, maxInclusive, screen, rule });
}

function checkCounts(present: number, observed: number): void {
  if (!Number.isInteger(observed) || observed < 1) {
    throw new GenecontentError(
      `Prevalence class: the number of observed genomes must be a whole number of at least 1, ` +
        `got ${observed}.`,
    );
  }
  if (!Number.isInteger(present) || present < 0 || present > observed) {
    throw new GenecontentError(
      `Prevalence class: the number of present genomes must be a whole number from 0 to the ` +
        `${observed} observed genomes, got ${present}.`,
    );
  }
}

/**
 * The Roary prevalence class of a family present in `present` of its `observed` genomes (genomes
 * whose cell is not missing). A family present nowhere (`present = 0`) is cloud.
 *
 * @throws {GenecontentError} if `observed` is not a whole number ≥ 1 or `present` is not a whole
 *   number in `[0, observed]`.
 * @example
 * ```ts
 * import { prevalenceClass } from "./prevalence_classes.ts";
 * console.assert(prevalenceClass(99, 100) === "core");
 * console.assert(prevalenceClass(95, 100) === "softCore");
 * console.assert(prevalenceClass(15, 100) === "shell");
 * console.assert(prevalenceClass(14, 100) === "cloud");
 * ```
 */
export function prevalenceClass(present: number, observed: number): PrevalenceClass {
  checkCounts(present, observed);
  if (100 * present >= CORE_MIN_PERCENT * observed) return "core";
  if (100 * present >= SOFT_CORE_MIN_PERCENT * observed) return "softCore";
  if (100 * present >= SHELL_MIN_PERCENT * observed) return "shell";
  return "cloud";
}

/**
 * The screen class of a prevalence class: `nearCore` for core and soft core, `shell`, `rare` for
 * cloud.
 *
 * @example
 * ```ts
 * import { screenOfClass } from "./prevalence_classes.ts";
 * console.assert(screenOfClass("softCore") === "nearCore");
 * ```
 */
export function screenOfClass(cls: PrevalenceClass): ScreenClass {
  return cls === "core" || cls === "softCore" ? "nearCore" : cls === "shell" ? "shell" : "rare";
}

/**
 * The coarse screen class of a family present in `present` of its `observed` genomes: `rare`
 * (cloud, share < 15%), `shell` (15% ≤ share < 95%) or `nearCore` (share ≥ 95%).
 *
 * @throws {GenecontentError} on counts as for {@linkcode prevalenceClass}.
 * @example
 * ```ts
 * import { screenClass } from "./prevalence_classes.ts";
 * console.assert(screenClass(96, 100) === "nearCore");
 * console.assert(screenClass(2, 100) === "rare");
 * ```
 */
export function screenClass(present: number, observed: number): ScreenClass {
  return screenOfClass(prevalenceClass(present, observed));
}

/**
 * Counts of families per prevalence class, from per-family (present, observed) counts.
 *
 * @example
 * ```ts
 * import { countPrevalenceClasses } from "./prevalence_classes.ts";
 * const c = countPrevalenceClasses([100, 50, 1], [100, 100, 100]);
 * console.assert(c.core === 1 && c.shell === 1 && c.cloud === 1 && c.softCore === 0);
 * ```
 */
export function countPrevalenceClasses(
  present: ArrayLike<number>,
  observed: ArrayLike<number>,
): Record<PrevalenceClass, number> {
  if (present.length !== observed.length) {
    throw new GenecontentError(
      `Prevalence classes: ${present.length} present counts but ${observed.length} observed ` +
        `counts; give one of each per family.`,
    );
  }
  const counts: Record<PrevalenceClass, number> = { core: 0, softCore: 0, shell: 0, cloud: 0 };
  for (let i = 0; i < present.length; i++) counts[prevalenceClass(present[i], observed[i])]++;
  return counts;
}
