/**
 * Simulation of gene families under the 2-state gain/loss model on a {@linkcode FlatTree}: the
 * root state is drawn from the stationary prior, then each branch applies the exact 2x2
 * transition probabilities (P01 = -pi1 e, P11 = 1 + pi0 e with e = expm1(-(gain + loss) t)).
 *
 * These functions take rates and optional rate multipliers directly and draw the same stream as
 * they always have, so data sets made with them (the bundled example, the benchmark data, seeded
 * tests) stay reproducible. For any model of `lib/model/description.ts` (discrete gamma,
 * mixtures, `+inv`, `+error`, completeness, prevalence windows) and for the true gains and
 * losses per branch, use `simulateModel` in `./model.ts`.
 *
 * @module
 */

import type { FlatTree } from "../tree/flat_tree.ts";
import type { Random } from "./random.ts";

const TWO_POW_32 = 4294967296;

/** Options of {@linkcode simulateFamilies}. */
export interface SimulateFamiliesOptions {
  /** Gain rate (0 -> 1), > 0. */
  readonly gain: number;
  /** Loss rate (1 -> 0), > 0. */
  readonly loss: number;
  /** Number of families (rows) to simulate. */
  readonly nFamilies: number;
  /** The random number generator. */
  readonly rng: Random;
  /**
   * Optional rate multipliers (each > 0): each family draws one category (with probabilities
   * `categoryWeights`, equal by default) and both its gain and loss are multiplied by it, so
   * every category has the same stationary pi1.
   */
  readonly rateCategories?: readonly number[];
  /** Probabilities of the rate categories (non-negative, normalised here). */
  readonly categoryWeights?: readonly number[];
  /** Probability that a tip cell is replaced by 2 (missing), independently; default 0. */
  readonly missingRate?: number;
}

/** Options of {@linkcode simulateObservedPam}. */
export interface SimulateObservedOptions extends SimulateFamiliesOptions {
  /** Keep only families with at least this many present (1) tips; default 1. */
  readonly minPresent?: number;
  /**
   * Give up (with an error) after simulating this many families in total; default
   * `1000 * nFamilies + 100000`, which only a model that almost never shows a family reaches.
   */
  readonly maxSimulated?: number;
}

/** The result of {@linkcode simulateObservedPam}. */
export interface ObservedPam {
  /** Family-major cells (`states[f * nTips + tip]`), 0, 1 or 2, of the kept families. */
  readonly states: Uint8Array;
  /** Number of kept families (the requested `nFamilies`). */
  readonly nFamilies: number;
  /** Number of families simulated in total. */
  readonly nSimulated: number;
  /** Number of simulated families dropped for having fewer than `minPresent` present tips. */
  readonly nDropped: number;
  /** `nDropped / nSimulated`: the unobserved share an ascertainment correction accounts for. */
  readonly droppedShare: number;
}

/**
 * Simulates `nFamilies` families on `tree`; returns the family-major tip states (`nFamilies x
 * nTips`, 0 absent, 1 present, 2 missing at rate `missingRate`). Families that are absent
 * everywhere are kept (see {@linkcode simulateObservedPam} for a PAM as it is observed).
 *
 * @example
 * ```ts
 * import { Random } from "./random.ts";
 * import { yuleTree } from "./trees.ts";
 * import { simulateFamilies } from "./families.ts";
 * const rng = new Random(1);
 * const tree = yuleTree(20, rng, { height: 1 });
 * const pam = simulateFamilies(tree, { gain: 0.5, loss: 1.5, nFamilies: 100, rng });
 * console.assert(pam.length === 100 * 20);
 * ```
 */
export function simulateFamilies(tree: FlatTree, options: SimulateFamiliesOptions): Uint8Array {
  const sim = new FamilySimulator(tree, options);
  const out = new Uint8Array(options.nFamilies * tree.nTips);
  for (let f = 0; f < options.nFamilies; f++) sim.simulateInto(out, f * tree.nTips);
  return out;
}

/**
 * Simulates families until `nFamilies` of them have at least `minPresent` present tips, dropping
 * the others as a real PAM never lists them, and reports how many were dropped.
 *
 * @example
 * ```ts
 * import { Random } from "./random.ts";
 * import { yuleTree } from "./trees.ts";
 * import { simulateObservedPam } from "./families.ts";
 * const rng = new Random(1);
 * const tree = yuleTree(20, rng, { height: 1 });
 * const r = simulateObservedPam(tree, { gain: 0.2, loss: 2, nFamilies: 50, rng });
 * console.assert(r.nFamilies === 50 && r.nSimulated === 50 + r.nDropped);
 * ```
 */
export function simulateObservedPam(
  tree: FlatTree,
  options: SimulateObservedOptions,
): ObservedPam {
  const { nFamilies } = options;
  const minPresent = options.minPresent ?? 1;
  if (!(Number.isInteger(minPresent) && minPresent >= 0)) {
    throw new RangeError(`Minimum present count ${minPresent} must be an integer >= 0.`);
  }
  const maxSimulated = options.maxSimulated ?? 1000 * nFamilies + 100000;
  const sim = new FamilySimulator(tree, options);
  const nTips = tree.nTips;
  const states = new Uint8Array(nFamilies * nTips);
  let kept = 0, simulated = 0;
  while (kept < nFamilies) {
    if (simulated >= maxSimulated) {
      throw new RangeError(
        `Only ${kept} of ${simulated} simulated families had at least ${minPresent} present tips; ` +
          `raise the gain rate or the tree height, or lower minPresent.`,
      );
    }
    const off = kept * nTips;
    sim.simulateInto(states, off);
    simulated++;
    let present = 0;
    for (let i = 0; i < nTips; i++) if (states[off + i] === 1) present++;
    if (present >= minPresent) kept++;
  }
  // A rejected family's row is overwritten by the next attempt, so `states` holds only kept ones.
  const nDropped = simulated - kept;
  return {
    states,
    nFamilies,
    nSimulated: simulated,
    nDropped,
    droppedShare: simulated === 0 ? 0 : nDropped / simulated,
  };
}

/**
 * The per-family simulation engine behind {@linkcode simulateFamilies}: transition
 * probabilities are computed once per rate category and node, then each family costs one
 * uniform draw per node (plus one per tip for missingness).
 *
 * @example
 * ```ts
 * import { Random } from "./random.ts";
 * import { caterpillarTree } from "./trees.ts";
 * import { FamilySimulator } from "./families.ts";
 * const tree = caterpillarTree(4, 0.1);
 * const sim = new FamilySimulator(tree, { gain: 1, loss: 1, nFamilies: 1, rng: new Random(1) });
 * const row = new Uint8Array(4);
 * sim.simulateInto(row, 0);
 * console.assert(row.every((x) => x <= 1));
 * ```
 */
export class FamilySimulator {
  readonly #tree: FlatTree;
  readonly #rng: Random;
  readonly #pi1: number;
  /**
   * Per category c and node i: 2^32 P(child = 1 | parent = 0) at [2 * (c * nNodes + i)] and
   * 2^32 P(child = 1 | parent = 1) at the next index.
   */
  readonly #probs: Float64Array;
  readonly #cumWeights: Float64Array;
  readonly #missingRate: number;
  readonly #node: Uint8Array;

  /** Precomputes the transition probabilities of every branch for every rate category. */
  constructor(tree: FlatTree, options: SimulateFamiliesOptions) {
    const { gain, loss, nFamilies } = options;
    if (!(gain > 0 && Number.isFinite(gain))) {
      throw new RangeError(`Gain rate ${gain} must be positive and finite.`);
    }
    if (!(loss > 0 && Number.isFinite(loss))) {
      throw new RangeError(`Loss rate ${loss} must be positive and finite.`);
    }
    if (!(Number.isInteger(nFamilies) && nFamilies >= 0)) {
      throw new RangeError(`Number of families ${nFamilies} must be an integer >= 0.`);
    }
    const missingRate = options.missingRate ?? 0;
    if (!(missingRate >= 0 && missingRate <= 1)) {
      throw new RangeError(`Missing rate ${missingRate} must be in [0, 1].`);
    }
    const cats = options.rateCategories ?? [1];
    if (cats.length === 0 || !cats.every((r) => r > 0 && Number.isFinite(r))) {
      throw new RangeError(`Rate categories [${cats}] must be a non-empty list of positive rates.`);
    }
    const weights = options.categoryWeights ?? cats.map(() => 1);
    if (weights.length !== cats.length || !weights.every((w) => w >= 0 && Number.isFinite(w))) {
      throw new RangeError(
        `Category weights [${weights}] must be ${cats.length} non-negative numbers.`,
      );
    }
    const wSum = weights.reduce((a, b) => a + b, 0);
    if (!(wSum > 0)) throw new RangeError(`Category weights [${weights}] must not all be 0.`);
    this.#cumWeights = new Float64Array(cats.length);
    let acc = 0;
    for (let c = 0; c < cats.length; c++) this.#cumWeights[c] = acc += weights[c] / wSum;
    this.#cumWeights[cats.length - 1] = 1;

    const s = gain + loss;
    const pi1 = gain / s, pi0 = loss / s;
    const n = tree.nNodes;
    this.#probs = new Float64Array(2 * cats.length * n);
    for (let c = 0; c < cats.length; c++) {
      for (let i = 0; i < n - 1; i++) {
        const e = Math.expm1(-s * cats[c] * tree.branchLength[i]);
        this.#probs[2 * (c * n + i)] = -pi1 * e * TWO_POW_32; // P01
        this.#probs[2 * (c * n + i) + 1] = (1 + pi0 * e) * TWO_POW_32; // P11
      }
    }
    this.#tree = tree;
    this.#rng = options.rng;
    this.#pi1 = pi1;
    this.#missingRate = missingRate;
    this.#node = new Uint8Array(n);
  }

  /** Simulates one family and writes its `nTips` tip states into `out` at `offset`. */
  simulateInto(out: Uint8Array, offset: number): void {
    const rng = this.#rng;
    const { nNodes, nTips, parent } = this.#tree;
    let c = 0;
    if (this.#cumWeights.length > 1) {
      const u = rng.next();
      while (u >= this.#cumWeights[c]) c++;
    }
    const probs = this.#probs;
    const base = 2 * c * nNodes;
    const node = this.#node;
    node[nNodes - 1] = rng.next() < this.#pi1 ? 1 : 0;
    // Parents have larger indices than their children: walk from the root down. A draw
    // u in 0 .. 2^32-1 decides `U < p` for U uniform on [0, 1) by comparing u with 2^32 p; only
    // when 2^32 p falls inside [u, u + 1) (chance 2^-32) are 32 more bits of U needed.
    for (let i = nNodes - 2; i >= 0; i--) {
      const thr = probs[base + 2 * i + node[parent[i]]];
      const u = rng.nextUint32();
      node[i] = u + 1 <= thr ? 1 : u >= thr ? 0 : u + rng.nextUint32() / TWO_POW_32 < thr ? 1 : 0;
    }
    if (this.#missingRate > 0) {
      for (let i = 0; i < nTips; i++) {
        out[offset + i] = rng.next() < this.#missingRate ? 2 : node[i];
      }
    } else {
      out.set(node.subarray(0, nTips), offset);
    }
  }
}
