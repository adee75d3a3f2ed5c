/**
 * Data sets simulated to look like a real one: the same tree, the same number of families,
 * each family with the missing cells of the family it replaces, conditioned on the same
 * prevalence window (a family is drawn again until its recorded present count among its
 * observed genomes is inside the window), under a fitted model and, optionally, its effects
 * (each family at its own set's rates). This is what a parametric bootstrap of any test on
 * these data simulates (`lib/effects/likelihood_ratio.ts`, `lib/diagnostics/spectrum.ts`).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { Ascertainment, ModelDescription } from "../model/description.ts";
import type { EffectSetup } from "../model/effects.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import { compressPatterns, type SitePatterns } from "../pam/patterns.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { simulateModel } from "./model.ts";
import type { Random } from "./random.ts";

/** Options of {@linkcode simulateLikeData}. */
export interface LikeDataOptions {
  /** The generator to draw from (advanced by the call). */
  readonly rng: Random;
  /** The window the data were filtered to (default: at least one present). */
  readonly window?: Ascertainment;
  /** Per-genome completeness in the tree's tip order, or null. */
  readonly completeness?: Float64Array | null;
  /** Effects on the model's rates, with the data's family sets. */
  readonly effects?: EffectSetup | null;
  /** The effects' values, in the order of `effects.effects`. */
  readonly effectValues?: ArrayLike<number>;
}

/**
 * A PAM simulated under `model` at `values` shaped like `patterns` (see the module
 * documentation). Family names are those of the data. Families are drawn in order from batches
 * of at least 256 simulated columns (one stream of batches per family set with effects).
 *
 * @example
 * ```ts
 * import { simulateLikeData } from "./like_data.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { Random } from "./random.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 2, 1, 1, 1, 1), 2, 3, ["f1", "f2"]);
 * const sim = simulateLikeData(tree, patterns, parseModel("null"), [0.5, 1], { rng: new Random(3) });
 * console.assert(sim.familyNames.length === 2 && sim.states[sim.familyPattern[0] * 3 + 1] === 2);
 * ```
 */
export function simulateLikeData(
  tree: FlatTree,
  patterns: SitePatterns,
  model: ModelDescription,
  values: ArrayLike<number>,
  options: LikeDataOptions,
): SitePatterns {
  const nTips = tree.nTips;
  const nFamilies = patterns.familyNames.length;
  const window = options.window ?? { minPresent: 1, maxPresent: null };
  const lo = window.minPresent;
  const hi = window.maxPresent ?? nTips;
  const effects = options.effects ?? null;
  const groupOf = (f: number) => effects?.groups?.ofFamily[f] ?? -1;
  const remaining = new Map<number, number>();
  for (let f = 0; f < nFamilies; f++) {
    remaining.set(groupOf(f), (remaining.get(groupOf(f)) ?? 0) + 1);
  }
  const pools = new Map<number, { rows: Uint8Array; next: number }>();
  const rows = new Uint8Array(nFamilies * nTips);
  let drawn = 0;
  const limit = 1000 * nFamilies + 100000;
  const refill = (g: number) => {
    const batch = Math.min(Math.max(256, remaining.get(g)!), limit - drawn);
    if (batch <= 0) {
      throw new GenecontentError(
        `Simulating families like the data needed more than ${limit} draws: the model at ` +
          "these values almost never gives a family inside the window.",
      );
    }
    const sim = simulateModel(tree, model, values, {
      nFamilies: batch,
      rng: options.rng,
      ascertainment: { minPresent: 0, maxPresent: null },
      completeness: options.completeness ?? undefined,
      ...(effects
        ? {
          effects: {
            effects: effects.effects,
            groups: effects.groups
              ? { sets: effects.groups.sets, ofFamily: new Int32Array(batch).fill(g) }
              : null,
          },
          effectValues: options.effectValues ?? [],
        }
        : {}),
    });
    drawn += batch;
    const pool = { rows: sim.states, next: 0 };
    pools.set(g, pool);
    return pool;
  };
  for (let f = 0; f < nFamilies; f++) {
    const g = groupOf(f);
    const src = patterns.familyPattern[f] * nTips;
    for (;;) {
      let pool = pools.get(g);
      if (!pool || pool.next === pool.rows.length / nTips) pool = refill(g);
      const o = pool.next * nTips;
      pool.next++;
      let present = 0;
      for (let i = 0; i < nTips; i++) {
        if (patterns.states[src + i] !== MISSING && pool.rows[o + i] === PRESENT) present++;
      }
      if (present < lo || present > hi) continue;
      for (let i = 0; i < nTips; i++) {
        rows[f * nTips + i] = patterns.states[src + i] === MISSING ? MISSING : pool.rows[o + i];
      }
      break;
    }
    remaining.set(g, remaining.get(g)! - 1);
  }
  return compressPatterns(rows, nFamilies, nTips, patterns.familyNames);
}
