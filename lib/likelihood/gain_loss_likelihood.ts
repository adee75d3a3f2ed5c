/**
 * The likelihood of a whole PAM under the gain/loss model: pattern weights, the ascertainment
 * correction (families never seen cannot be in a PAM) and analytic gradients, on top of a
 * pruning backend.
 *
 * With `minPresent = k >= 1`, each family's likelihood is conditioned on the family having at
 * least `k` present tips among the tips where it is not missing:
 * `log L(column) - log(1 - P(fewer than k present | its missingness))`. For `k = 1` the
 * probability of "fewer than one present" is the likelihood of the all-absent column with the
 * family's own missing cells, computed by the same backend; for `k > 1` it comes from pruning
 * over present-counts (`min_present.ts`). `minPresent = 0` gives the uncorrected likelihood.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { ABSENT, MISSING, PRESENT } from "../pam/matrix.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import type { AsyncEvaluateOptions, Evaluation, LikelihoodBackend } from "./backend.ts";
import type { BackendFactory } from "./choose_backend.ts";
import { logProbObservable } from "./min_present.ts";

/** The value (and gradient) of the total log-likelihood at one (gain, loss). */
export interface LikelihoodValue {
  /** Total log-likelihood, summed over families (merged patterns counted by their weights). */
  readonly logLik: number;
  /** Per-pattern log-likelihood (corrected when the correction is on). */
  readonly perPattern: Float64Array;
  /** d logLik / d log(gain) and d logLik / d log(loss), when asked for. */
  readonly gradient?: readonly [number, number];
}

/** Options of {@linkcode GainLossLikelihood}. */
export interface GainLossLikelihoodOptions {
  /**
   * Ascertainment: condition each family on at least this many present tips (default 1, the
   * usual PAM); 0 turns the correction off.
   */
  readonly minPresent?: number;
}

/**
 * The total log-likelihood of a PAM's patterns on a tree.
 *
 * @example
 * ```ts
 * import { GainLossLikelihood } from "./gain_loss_likelihood.ts";
 * import { tsBackendFactory } from "./choose_backend.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * const patterns = compressPatterns(new Uint8Array([1, 0, 1, 1]), 2, 2, ["f1", "f2"]);
 * using lik = new GainLossLikelihood(tree, patterns, tsBackendFactory);
 * console.assert(lik.evaluate(0.5, 1).logLik < 0);
 * ```
 */
export class GainLossLikelihood implements Disposable {
  /** The tree. */
  readonly tree: FlatTree;
  /** The merged family columns. */
  readonly patterns: SitePatterns;
  /** The ascertainment threshold (0: none). */
  readonly minPresent: number;
  /** The pruning backend. */
  readonly backend: LikelihoodBackend;
  /** Observed-tip masks (1 observed, 0 missing), one per distinct missingness pattern. */
  readonly #masks: Uint8Array[] = [];
  /** For each data pattern, the index of its mask. */
  readonly #maskOf: Int32Array;
  /** The all-absent columns, one per mask (ascertainment with minPresent 1). */
  readonly #emptyBackend: LikelihoodBackend | null = null;

  /** Checks the data against the conditioning and binds a backend to it. */
  constructor(
    tree: FlatTree,
    patterns: SitePatterns,
    factory: BackendFactory,
    options: GainLossLikelihoodOptions = {},
  ) {
    const k = options.minPresent ?? 1;
    if (!Number.isInteger(k) || k < 0) {
      throw new GenecontentError(`Minimum present count must be a whole number >= 0; got ${k}.`);
    }
    if (k > tree.nTips) {
      throw new GenecontentError(
        `Minimum present count ${k} exceeds the number of genomes (${tree.nTips}).`,
      );
    }
    if (patterns.nTips !== tree.nTips) {
      throw new RangeError(`Patterns have ${patterns.nTips} tips, the tree ${tree.nTips}.`);
    }
    this.tree = tree;
    this.patterns = patterns;
    this.minPresent = k;
    const { nTips, nPatterns, states } = patterns;
    this.#maskOf = new Int32Array(nPatterns);
    if (k > 0) this.#checkAndGroup(k);
    // The data patterns go to the backend as they are (no copy: they can be hundreds of MB);
    // the all-absent column of each missingness mask goes to a second, small backend.
    this.backend = factory.create(tree, states, nPatterns);
    if (k === 1) {
      const empty = new Uint8Array(this.#masks.length * nTips);
      this.#masks.forEach((mask, m) => {
        for (let i = 0; i < nTips; i++) empty[m * nTips + i] = mask[i] ? ABSENT : MISSING;
      });
      this.#emptyBackend = factory.create(tree, empty, this.#masks.length);
    }
  }

  #checkAndGroup(k: number): void {
    const { nTips, nPatterns, states, familyPattern, familyNames } = this.patterns;
    const maskIds = new Map<string, number>();
    const tooFew: number[] = [];
    for (let p = 0; p < nPatterns; p++) {
      const row = states.subarray(p * nTips, (p + 1) * nTips);
      let present = 0;
      let missing = false;
      for (let i = 0; i < nTips; i++) {
        if (row[i] === PRESENT) present++;
        else if (row[i] === MISSING) missing = true;
      }
      if (present < k) tooFew.push(p);
      const observedMask = () => Uint8Array.from(row, (state) => (state === MISSING ? 0 : 1));
      // Columns without missing cells share the all-observed mask, keyed by "".
      const mask = missing ? observedMask() : null;
      const key = mask ? mask.join("") : "";
      let id = maskIds.get(key);
      if (id === undefined) {
        id = this.#masks.length;
        maskIds.set(key, id);
        this.#masks.push(mask ?? observedMask());
      }
      this.#maskOf[p] = id;
    }
    if (tooFew.length > 0) {
      const bad = new Set(tooFew);
      const names: string[] = [];
      for (let f = 0; f < familyPattern.length; f++) {
        if (bad.has(familyPattern[f])) names.push(familyNames[f]);
      }
      throw new GenecontentError(
        `${names.length} famil${
          names.length === 1 ? "y is" : "ies are"
        } present in fewer than ${k} ` +
          `genome${k === 1 ? "" : "s"} (${names.slice(0, 10).join(", ")}${
            names.length > 10 ? ", ..." : ""
          }), but the ascertainment correction conditions every family on at least ${k}. ` +
          "Remove them from the PAM, or lower --min-present (0 turns the correction off).",
      );
    }
  }

  /** Total log-likelihood (and gradient wrt log rates) at one (gain, loss). */
  evaluate(gain: number, loss: number, options: { gradient?: boolean } = {}): LikelihoodValue {
    const rates = new Float64Array([gain, loss]);
    const data = this.backend.evaluate(rates, options);
    const empty = this.#emptyBackend?.evaluate(rates, options);
    return this.#combine(gain, loss, data, empty);
  }

  /** The same as `evaluate` without blocking the event loop (native) and with progress. */
  async evaluateAsync(
    gain: number,
    loss: number,
    options: AsyncEvaluateOptions = {},
  ): Promise<LikelihoodValue> {
    const rates = new Float64Array([gain, loss]);
    const data = await this.backend.evaluateAsync(rates, options);
    const empty = await this.#emptyBackend?.evaluateAsync(rates, options);
    return this.#combine(gain, loss, data, empty);
  }

  #combine(gain: number, loss: number, data: Evaluation, empty?: Evaluation): LikelihoodValue {
    const { nPatterns, weights } = this.patterns;
    const raw = data.logLik;
    const grad = data.grad;
    const nMasks = this.#masks.length;
    // log P(observable | mask) and its derivatives.
    const logObs = new Float64Array(nMasks);
    const dObs = new Float64Array(2 * nMasks);
    if (this.minPresent === 1) {
      for (let m = 0; m < nMasks; m++) {
        const l0 = empty!.logLik[m];
        logObs[m] = Math.log(-Math.expm1(l0));
        if (grad) {
          // d log(1 - e^l0) = -e^l0 / (1 - e^l0) dl0
          const factor = -Math.exp(l0) / -Math.expm1(l0);
          dObs[2 * m] = factor * empty!.grad![2 * m];
          dObs[2 * m + 1] = factor * empty!.grad![2 * m + 1];
        }
      }
    } else if (this.minPresent > 1) {
      for (let m = 0; m < nMasks; m++) {
        const r = logProbObservable(this.tree, this.#masks[m], this.minPresent, gain, loss);
        logObs[m] = r.logProb;
        dObs[2 * m] = r.dLogGain;
        dObs[2 * m + 1] = r.dLogLoss;
      }
    }
    const perPattern = new Float64Array(nPatterns);
    let total = 0;
    let g0 = 0;
    let g1 = 0;
    const corrected = this.minPresent > 0;
    for (let p = 0; p < nPatterns; p++) {
      const m = this.#maskOf[p];
      const v = corrected ? raw[p] - logObs[m] : raw[p];
      perPattern[p] = v;
      total += weights[p] * v;
      if (grad) {
        g0 += weights[p] * (corrected ? grad[2 * p] - dObs[2 * m] : grad[2 * p]);
        g1 += weights[p] * (corrected ? grad[2 * p + 1] - dObs[2 * m + 1] : grad[2 * p + 1]);
      }
    }
    return grad ? { logLik: total, perPattern, gradient: [g0, g1] } : { logLik: total, perPattern };
  }

  /** Frees the backend. */
  [Symbol.dispose](): void {
    this.backend[Symbol.dispose]();
    this.#emptyBackend?.[Symbol.dispose]();
  }
}
