/**
 * The likelihood of a whole PAM under any model of `lib/model/description.ts`: the one place
 * where components (gamma categories, mixture classes, the invariant class), their weights, tip
 * error, the ascertainment correction and the chain rule to the model's parameters meet. The
 * backends only prune batches of rate assignments (`backend.ts`).
 *
 * For a family with column x and observed-tip mask m, with components c of weight w_c:
 *
 *     log L(x) = log sum_c w_c L_c(x) - log sum_c w_c P_c(window | m)
 *
 * (the mixture is conditioned, not each component; the second term is absent without
 * ascertainment). Rate components' L_c come from one backend call holding every component's
 * parameter set (and, with fitted tip error and gradients, a second set per component carrying
 * the falsePresence/falseAbsence directions); P_c(window | m) from {@linkcode ObservableWindow}
 * on the same tree and sets. With tip error the tree is extended by a pendant branch under every
 * tip (`lib/model/tip_error.ts`), and the window counts recorded presences, exactly as the
 * recorded columns were filtered. The invariant component (present everywhere) has the closed
 * form L_inv(x) = prod over observed tips of P(recorded x_i | present) (1 or 0 without error),
 * and P_inv(window | m) is the Poisson-binomial probability that the number of observed tips
 * recorded present lies in the window, by a count recursion of positive terms.
 *
 * Gradients are exact (forward-mode directional derivatives from the backend, mapped through
 * `lib/model/components.ts`), on the natural scale of every parameter: d logLik / d value.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import { type FlatTree, totalLength } from "../tree/flat_tree.ts";
import type { AsyncEvaluateOptions, Evaluation, LikelihoodBackend } from "./backend.ts";
import type { BackendFactory } from "./choose_backend.ts";
import { ObservableWindow } from "./observable.ts";
import {
  type Ascertainment,
  formatModel,
  type ModelDescription,
  modelParameters,
  type ParameterSpec,
} from "../model/description.ts";
import {
  expandModel,
  type ExtraDirection,
  type GroupAssignments,
  groupAssignments,
  type ModelComponents,
  type RateVariant,
  type TipErrorSetup,
  tipErrorSetup,
} from "../model/components.ts";
import {
  checkEffectSetup,
  type Effect,
  effectApplies,
  type EffectChannel,
  effectParameters,
  type EffectSetup,
  type FamilyGroups,
  groupLogMultipliers,
} from "../model/effects.ts";

/** The value of a model's total log-likelihood at one parameter vector. */
export interface ModelEvaluation {
  /** Total log-likelihood, summed over families (merged patterns counted by their weights). */
  readonly logLik: number;
  /** d logLik / d value_i (natural scale), when asked for. */
  readonly gradient?: Float64Array;
  /**
   * Per-pattern log-likelihood (corrected when the ascertainment window is not [0, none]). With
   * family sets, the values of families in no set (NaN for a pattern only sets have): see
   * `perFamily`.
   */
  readonly perPattern: Float64Array;
  /** With family sets: each family's log-likelihood, in the PAM's family order. */
  readonly perFamily?: Float64Array;
  /**
   * With `posterior: true`: `posterior[p * nComponents + c]`, the share w_c L_c / sum_c' w_c' L_c'
   * of component c in pattern p's likelihood (components as in
   * {@linkcode ModelLikelihood.componentNames}).
   */
  readonly posterior?: Float64Array;
}

/** Options of {@linkcode ModelLikelihood}. */
export interface ModelLikelihoodOptions {
  /**
   * Per-genome completeness in (0, 1], in the tree's tip order (see `readCompleteness` in
   * `lib/model/tip_error.ts`): false absences of genome i have probability 1 - (1 - e-) c_i.
   */
  readonly completeness?: Float64Array | null;
  /**
   * Effects on the background model's rates (`lib/model/effects.ts`): their parameters follow
   * the background's in every value vector. Families of different sets are mixed and
   * conditioned on the window each at their own rates.
   */
  readonly effects?: EffectSetup | null;
}

/** Options of one evaluation. */
export interface ModelEvaluateOptions {
  /** Also return per-pattern posterior component probabilities. */
  readonly posterior?: boolean;
}

/** The families of one set (or of no set) and what their evaluation needs. */
interface FamilyGroup {
  /** Position in the likelihood's list of groups. */
  readonly index: number;
  /** The set (-1: families in no set). */
  readonly set: number;
  /** Number of patterns evaluated. */
  readonly nEval: number;
  /** The patterns holding the group's families (undefined: all). */
  readonly patterns: Uint32Array | undefined;
  /** Pattern index to position in `patterns` (-1: absent); null when all. */
  readonly position: Int32Array | null;
  /** Number of the group's families with each evaluated pattern. */
  readonly weights: Float64Array;
  /** Per evaluated pattern, its mask's position in `masks`. */
  readonly maskOf: Int32Array;
  /** The likelihood's mask ids present in the group. */
  readonly masks: readonly number[];
  /** Number of the group's families per mask of `masks`. */
  readonly maskWeight: Float64Array;
  /** The window probabilities of the group's masks (null without correction). */
  readonly observable: ObservableWindow | null;
  /** Effects with a design that apply to the group (their own tangent directions). */
  readonly designed: readonly number[];
}

/** Running totals of one evaluation. */
interface Totals {
  logLik: number;
  readonly gradient: Float64Array | null;
  readonly perPattern: Float64Array;
  readonly perGroupPattern: Float64Array[] | null;
  readonly posterior: Float64Array | null;
}

/** log sum_k exp(terms[k]) for k < n, given their maximum. */
function logSumExp(terms: Float64Array, n: number, top: number): number {
  if (top === -Infinity) return -Infinity;
  let sum = 0;
  for (let k = 0; k < n; k++) sum += Math.exp(terms[k] - top);
  return top + Math.log(sum);
}

/** The usual PAM's ascertainment: every family present in at least one observed genome. */
export const AT_LEAST_ONE: Ascertainment = { minPresent: 1, maxPresent: null };

/**
 * The total log-likelihood of a PAM's patterns on a tree under a model, its gradient with
 * respect to every free parameter, per-pattern values and posterior component probabilities.
 * It also is the fitter's objective (`parameters`, `evaluate(values, gradient)`,
 * `nObservations`).
 *
 * @example
 * ```ts
 * import { ModelLikelihood } from "./model_likelihood.ts";
 * import { tsBackendFactory } from "./choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 0, 1, 1, 1, 1), 2, 3, ["f1", "f2"]);
 * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("gamma4+inv"));
 * const v = lik.evaluate(Float64Array.of(0.5, 1, 0.5, 0.2), true);
 * console.assert(v.logLik < 0 && v.gradient!.length === 4);
 * ```
 */
export class ModelLikelihood implements Disposable {
  /** The tree (without pendant branches). */
  readonly tree: FlatTree;
  /** The merged family columns. */
  readonly patterns: SitePatterns;
  /** The model. */
  readonly model: ModelDescription;
  /** The prevalence window the families were filtered to ([0, none]: no correction). */
  readonly window: Ascertainment;
  /** The model's free parameters, in the order of every value vector. */
  readonly parameters: readonly ParameterSpec[];
  /** Number of families (for BIC). */
  readonly nObservations: number;
  /** Component names, in the order of posterior probabilities (`category1`, `class2`, `inv`). */
  readonly componentNames: readonly string[];
  /** The pruning backend of the data patterns. */
  readonly backend: LikelihoodBackend;
  /** The per-genome completeness it was opened with (tree tip order), or null. */
  readonly completeness: Float64Array | null;
  readonly #setup: TipErrorSetup | null;
  readonly #masks: Uint8Array[] = [];
  readonly #maskOf: Int32Array;
  /** Sum of pattern weights per mask. */
  readonly #maskWeight: Float64Array;
  readonly #observable: ObservableWindow | null;
  /** Number of background parameters (the effects' follow). */
  readonly #nBase: number;
  readonly #effects: readonly Effect[];
  readonly #familyGroups: FamilyGroups | null;
  /** The family groups evaluated (one, every family, without family sets). */
  readonly #groups: FamilyGroup[];

  /**
   * Checks the data against the model and the window and binds a backend to the patterns.
   * Refuses a family outside the window, and a parameter the data cannot inform (`+inv` when
   * no column can come from the invariant class; rate variation on a tree without length).
   */
  constructor(
    tree: FlatTree,
    patterns: SitePatterns,
    factory: BackendFactory,
    model: ModelDescription,
    window: Ascertainment = AT_LEAST_ONE,
    options: ModelLikelihoodOptions = {},
  ) {
    if (patterns.nTips !== tree.nTips) {
      throw new RangeError(`Patterns have ${patterns.nTips} tips, the tree ${tree.nTips}.`);
    }
    const K = window.minPresent;
    const M = window.maxPresent;
    if (!Number.isInteger(K) || K < 0) {
      throw new GenecontentError(`Minimum present count must be a whole number >= 0; got ${K}.`);
    }
    if (K > tree.nTips) {
      throw new GenecontentError(
        `Minimum present count ${K} exceeds the number of genomes (${tree.nTips}).`,
      );
    }
    if (M !== null && !(Number.isInteger(M) && M >= Math.max(K, 1))) {
      throw new GenecontentError(
        `Maximum present count must be a whole number >= ${Math.max(K, 1)} (the minimum ` +
          `present count, and at least 1); got ${M}.`,
      );
    }
    this.tree = tree;
    this.patterns = patterns;
    this.model = model;
    this.window = { minPresent: K, maxPresent: M };
    const base = modelParameters(model);
    const effects = options.effects ?? null;
    this.#nBase = base.length;
    this.#effects = effects?.effects ?? [];
    this.#familyGroups = effects?.groups ?? null;
    if (effects) checkEffectSetup(effects, tree.nNodes, patterns.familyNames.length);
    const extra = effectParameters(this.#effects);
    for (const e of extra) {
      if (base.some((b) => b.name === e.name)) {
        throw new GenecontentError(`Effect '${e.name}' has the name of a model parameter.`);
      }
    }
    this.parameters = [...base, ...extra];
    this.nObservations = patterns.familyNames.length;
    const r = model.rates;
    const names = r.kind === "gamma"
      ? Array.from({ length: r.categories }, (_, c) => `category${c + 1}`)
      : r.kind === "mixture"
      ? Array.from({ length: r.classes }, (_, c) => `class${c + 1}`)
      : ["rates"];
    this.componentNames = model.invariant ? [...names, "inv"] : names;
    this.#maskOf = new Int32Array(patterns.nPatterns);
    this.#groupAndCheck();
    this.#maskWeight = new Float64Array(this.#masks.length);
    for (let p = 0; p < patterns.nPatterns; p++) {
      this.#maskWeight[this.#maskOf[p]] += patterns.weights[p];
    }
    this.completeness = options.completeness ?? null;
    this.#setup = tipErrorSetup(tree, model, this.completeness);
    this.#refuseUninformed();
    const kernelTree = this.#setup?.tree ?? tree;
    const corrected = K > 0 || M !== null;
    this.#observable = corrected
      ? new ObservableWindow(kernelTree, this.#masks, this.window)
      : null;
    this.#groups = this.#familyGroups
      ? this.#buildGroups(this.#familyGroups, kernelTree, corrected)
      : [{
        index: 0,
        set: -1,
        nEval: patterns.nPatterns,
        patterns: undefined,
        position: null,
        weights: patterns.weights,
        maskOf: this.#maskOf,
        masks: this.#masks.map((_, m) => m),
        maskWeight: this.#maskWeight,
        observable: this.#observable,
        designed: this.#designed(-1),
      }];
    // The pendant tips are numbered as the tips: the patterns go to the backend as they are.
    this.backend = factory.create(kernelTree, patterns.states, patterns.nPatterns);
  }

  /** Indices of the effects with a design that apply to families of set `set`. */
  #designed(set: number): number[] {
    const out: number[] = [];
    this.#effects.forEach((e, i) => {
      if (e.design && effectApplies(e, set)) out.push(i);
    });
    return out;
  }

  /** One group per set and one for the families in no set, each over its own patterns. */
  #buildGroups(groups: FamilyGroups, kernelTree: FlatTree, corrected: boolean): FamilyGroup[] {
    const { nPatterns, familyPattern } = this.patterns;
    const nGroups = groups.sets.length + 1;
    const counts = Array.from({ length: nGroups }, () => new Float64Array(nPatterns));
    for (let f = 0; f < familyPattern.length; f++) {
      counts[groups.ofFamily[f] + 1][familyPattern[f]]++;
    }
    return counts.map((count, g) => {
      const list: number[] = [];
      for (let p = 0; p < nPatterns; p++) if (count[p] > 0) list.push(p);
      const subset = Uint32Array.from(list);
      const position = new Int32Array(nPatterns).fill(-1);
      subset.forEach((p, i) => (position[p] = i));
      const maskIds = [...new Set(list.map((p) => this.#maskOf[p]))].sort((a, b) => a - b);
      const local = new Map(maskIds.map((m, i) => [m, i]));
      const maskOf = Int32Array.from(subset, (p) => local.get(this.#maskOf[p])!);
      const weights = Float64Array.from(subset, (p) => count[p]);
      const maskWeight = new Float64Array(maskIds.length);
      maskOf.forEach((m, i) => (maskWeight[m] += weights[i]));
      return {
        index: g,
        set: g - 1,
        nEval: subset.length,
        patterns: subset,
        position,
        weights,
        maskOf,
        masks: maskIds,
        maskWeight,
        observable: corrected
          ? new ObservableWindow(kernelTree, maskIds.map((m) => this.#masks[m]), this.window)
          : null,
        designed: this.#designed(g - 1),
      };
    });
  }

  /** Groups patterns by missingness mask and checks each against the window. */
  #groupAndCheck(): void {
    const { nTips, nPatterns, states, familyPattern, familyNames } = this.patterns;
    const { minPresent: K, maxPresent: M } = this.window;
    const maskIds = new Map<string, number>();
    const outside: number[] = [];
    for (let p = 0; p < nPatterns; p++) {
      const row = states.subarray(p * nTips, (p + 1) * nTips);
      let present = 0;
      let missing = false;
      for (let i = 0; i < nTips; i++) {
        if (row[i] === PRESENT) present++;
        else if (row[i] === MISSING) missing = true;
      }
      if (present < K || (M !== null && present > M)) outside.push(p);
      const observedMask = () => Uint8Array.from(row, (state) => (state === MISSING ? 0 : 1));
      const key = missing ? observedMask().join("") : "";
      let id = maskIds.get(key);
      if (id === undefined) {
        id = this.#masks.length;
        maskIds.set(key, id);
        this.#masks.push(observedMask());
      }
      this.#maskOf[p] = id;
    }
    if (outside.length === 0) return;
    const bad = new Set(outside);
    const listed: string[] = [];
    for (let f = 0; f < familyPattern.length; f++) {
      if (bad.has(familyPattern[f])) listed.push(familyNames[f]);
    }
    const some = `${listed.slice(0, 10).join(", ")}${listed.length > 10 ? ", ..." : ""}`;
    const are = listed.length === 1 ? "family is" : "families are";
    if (M === null) {
      throw new GenecontentError(
        `${listed.length} ${are} present in fewer than ${K} genome${K === 1 ? "" : "s"} ` +
          `(${some}), but the ascertainment correction conditions every family on at least ` +
          `${K}. Remove them from the PAM, or lower --min-present (0 turns the correction off).`,
      );
    }
    throw new GenecontentError(
      `${listed.length} ${are} outside the prevalence window of ${K} to ${M} present genomes ` +
        `(${some}), which the ascertainment correction conditions every family on. Remove ` +
        "them from the PAM, or widen the window (--min-present, --max-present).",
    );
  }

  /** Refuses parameters that cannot change the likelihood on these data. */
  #refuseUninformed(): void {
    const name = formatModel(this.model);
    if (this.model.rates.kind !== "single" && !(totalLength(this.tree) > 0)) {
      throw new GenecontentError(
        `Model ${name}: rate variation across families cannot change the likelihood on a tree ` +
          `whose branches all have length 0 (${this.tree.nTips} tip${
            this.tree.nTips === 1 ? "" : "s"
          }); use the null model or a tree with branch lengths.`,
      );
    }
    if (!this.model.invariant) return;
    // Without fitted error, the invariant class has probability 0 for a column with a recorded
    // absence in a genome that is complete.
    if (this.model.tipError) return;
    const c = this.#setup?.completeness ?? null;
    const { nTips, nPatterns, states } = this.patterns;
    for (let p = 0; p < nPatterns; p++) {
      let possible = true;
      for (let i = 0; i < nTips && possible; i++) {
        if (states[p * nTips + i] === 0 && (c === null || c[i] === 1)) possible = false;
      }
      if (possible) return;
    }
    throw new GenecontentError(
      `Model ${name}: pInv cannot change the likelihood, because no family is present in every ` +
        "genome where it is observed (the invariant class is present everywhere). Drop +inv, " +
        "or add +error to let recorded absences be annotation errors.",
    );
  }

  /**
   * Total log-likelihood at natural-scale `values` (in the order of `parameters`), with
   * d logLik / d value when `gradient` is true.
   */
  evaluate(
    values: Float64Array,
    gradient = false,
    options: ModelEvaluateOptions = {},
  ): ModelEvaluation {
    const comps = this.#expand(values);
    const out = this.#startTotals(gradient, options.posterior === true);
    for (const group of this.#groups) {
      if (group.nEval === 0) continue;
      const a = this.#assign(comps, values, group, gradient);
      const data = this.backend.evaluate(a.rates, { ...a.options, patterns: group.patterns });
      this.#mixGroup(comps, group, a, data, out);
    }
    return this.#finish(out);
  }

  /** The same as `evaluate`, without blocking the event loop (native) and with progress. */
  async evaluateAsync(
    values: Float64Array,
    gradient = false,
    options: ModelEvaluateOptions & AsyncEvaluateOptions = {},
  ): Promise<ModelEvaluation> {
    const comps = this.#expand(values);
    const out = this.#startTotals(gradient, options.posterior === true);
    const total = this.#groups.reduce((n, g) => n + g.nEval, 0);
    let done = 0;
    for (const group of this.#groups) {
      if (group.nEval === 0) continue;
      const a = this.#assign(comps, values, group, gradient);
      const data = await this.backend.evaluateAsync(a.rates, {
        ...a.options,
        patterns: group.patterns,
        signal: options.signal,
        onProgress: options.onProgress &&
          ((f) => options.onProgress!((done + f * group.nEval) / total)),
      });
      done += group.nEval;
      this.#mixGroup(comps, group, a, data, out);
    }
    return this.#finish(out);
  }

  /**
   * Per-family log-likelihood curves along one rate multiplier: for each listed pattern (one
   * family with that column) and each theta, the corrected log-likelihood of the family when its
   * `channel` rate is multiplied by exp(theta) on every branch and the root prior, the background
   * at `backgroundValues` (the background model's parameters only), with d/d theta on request.
   * Results are laid out `[t * nEval + i]` for `thetas[t]` and `patterns[i]`. One backend call
   * with (components x thetas) parameter sets; callers batch patterns and thetas.
   *
   * @example
   * ```ts
   * import { ModelLikelihood } from "./model_likelihood.ts";
   * import { tsBackendFactory } from "./choose_backend.ts";
   * import { parseModel } from "../model/description.ts";
   * import { compressPatterns } from "../pam/patterns.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
   * const patterns = compressPatterns(Uint8Array.of(1, 0, 1, 1, 1, 1), 2, 3, ["f1", "f2"]);
   * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("null"));
   * const values = Float64Array.of(0.5, 1);
   * const c = lik.familyCurves(Uint32Array.of(0, 1), "loss", Float64Array.of(0), values, false);
   * const v = lik.evaluate(values);
   * console.assert(Math.abs(c.logLik[1] - v.perPattern[1]) < 1e-12);
   * ```
   */
  familyCurves(
    patterns: Uint32Array,
    channel: EffectChannel,
    thetas: Float64Array,
    backgroundValues: Float64Array,
    gradient: boolean,
  ): { logLik: Float64Array; dTheta?: Float64Array } {
    const comps = expandModel(this.model, backgroundValues);
    const nEval = patterns.length;
    const T = thetas.length;
    for (let i = 0; i < nEval; i++) {
      if (!(patterns[i] < this.patterns.nPatterns) || (i > 0 && patterns[i] <= patterns[i - 1])) {
        throw new RangeError("Pattern indices must be strictly increasing and in range.");
      }
    }
    const nTree = this.tree.nNodes;
    const variants: RateVariant[] = Array.from(thetas, (t) => {
      const m = new Float64Array(nTree).fill(t);
      return channel === "gain" ? { gain: m, loss: null } : { gain: null, loss: m };
    });
    // Only the channel's direction is needed: no error directions.
    const a = groupAssignments(this.tree, comps, this.#setup, gradient, variants, []);
    const data = this.backend.evaluate(a.rates, { ...a.options, patterns });
    // The window probabilities of the listed patterns' masks only (with missing cells, families
    // may each have their own mask).
    const used = [...new Set(Array.from(patterns, (p) => this.#maskOf[p]))].sort((x, y) => x - y);
    const local = new Map(used.map((m, i) => [m, i]));
    const window = !this.#observable
      ? null
      : used.length === this.#masks.length
      ? this.#observable
      : new ObservableWindow(
        this.#setup?.tree ?? this.tree,
        used.map((m) => this.#masks[m]),
        this.window,
      );
    const obs = window?.evaluate(a.rates, {
      gradient,
      layout: a.options.layout,
      tangents: a.options.tangents,
    });
    const C = comps.rates.length;
    const inv = comps.invariant;
    const nComp = C + (inv ? 1 : 0);
    const slot = channel === "gain" ? 0 : 1;
    const { nTips, states } = this.patterns;
    const em = a.falseAbsence;
    const c = this.#setup?.completeness ?? null;
    const fitted = comps.errorIndex !== null;
    const logLik = new Float64Array(T * nEval);
    const dTheta = gradient ? new Float64Array(T * nEval) : undefined;
    const terms = new Float64Array(nComp);
    const nMasks = used.length;
    const invCol = new Float64Array(nEval);
    if (inv) {
      for (let i = 0; i < nEval; i++) {
        invCol[i] = invariantColumn(states, patterns[i] * nTips, nTips, em, c, fitted).logProb;
      }
    }
    const invObs = inv
      ? used.map((m) => invariantObservable(this.#masks[m], em, c, fitted, this.window).logProb)
      : [];
    const setOf = (t: number, k: number) => (t * a.pairs) * C + k;
    for (let t = 0; t < T; t++) {
      // log P(window | mask) of the mixture at this theta, and its derivative.
      const logObs = new Float64Array(nMasks);
      const dObs = new Float64Array(nMasks);
      if (obs) {
        for (let m = 0; m < nMasks; m++) {
          const top = this.#mixTerms(terms, comps, (k) => obs.logProb[setOf(t, k) * nMasks + m]);
          if (inv) terms[C] = inv.logWeight + invObs[m];
          const lo = logSumExp(terms, nComp, Math.max(top, inv ? terms[C] : -Infinity));
          logObs[m] = lo;
          if (!gradient) continue;
          let d = 0;
          for (let k = 0; k < C; k++) {
            const q = Math.exp(terms[k] - lo);
            if (q > 0) d += q * obs.grad![(setOf(t, k) * nMasks + m) * 2 + slot];
          }
          dObs[m] = d;
        }
      }
      for (let i = 0; i < nEval; i++) {
        const top = this.#mixTerms(terms, comps, (k) => data.logLik[setOf(t, k) * nEval + i]);
        if (inv) terms[C] = inv.logWeight + invCol[i];
        const ll = logSumExp(terms, nComp, Math.max(top, inv ? terms[C] : -Infinity));
        const m = local.get(this.#maskOf[patterns[i]])!;
        logLik[t * nEval + i] = ll - logObs[m];
        if (!dTheta) continue;
        let d = 0;
        for (let k = 0; k < C; k++) {
          const post = Math.exp(terms[k] - ll);
          if (post > 0) d += post * data.grad![(setOf(t, k) * nEval + i) * 2 + slot];
        }
        dTheta[t * nEval + i] = d - dObs[m];
      }
    }
    return dTheta ? { logLik, dTheta } : { logLik };
  }

  /** Fills `terms[k]` with log w_k + value(k) for the rate components; returns their maximum. */
  #mixTerms(terms: Float64Array, comps: ModelComponents, value: (k: number) => number): number {
    let top = -Infinity;
    for (let k = 0; k < comps.rates.length; k++) {
      terms[k] = comps.rates[k].logWeight + value(k);
      if (terms[k] > top) top = terms[k];
    }
    return top;
  }

  /** The background's components at the background part of `values`. */
  #expand(values: Float64Array): ModelComponents {
    if (values.length !== this.parameters.length) {
      throw new GenecontentError(
        `Model ${formatModel(this.model)}${this.#effects.length > 0 ? " with effects" : ""} ` +
          `has ${this.parameters.length} parameters (${
            this.parameters.map((p) => p.name).join(", ")
          }); got ${values.length} values.`,
      );
    }
    for (let i = this.#nBase; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new GenecontentError(
          `Effect ${this.parameters[i].name} must be a finite number; got ${values[i]}.`,
        );
      }
    }
    return expandModel(this.model, values.subarray(0, this.#nBase));
  }

  /** The kernel assignments of one family group at `values`. */
  #assign(
    comps: ModelComponents,
    values: Float64Array,
    group: FamilyGroup,
    gradient: boolean,
  ): GroupAssignments {
    const theta = values.subarray(this.#nBase);
    const variant = groupLogMultipliers(this.#effects, theta, group.set, this.tree.nNodes);
    const extra = gradient ? group.designed.map((e) => this.#effects[e] as ExtraDirection) : [];
    return groupAssignments(this.tree, comps, this.#setup, gradient, [variant], extra);
  }

  #startTotals(gradient: boolean, posterior: boolean): Totals {
    const grouped = this.#familyGroups !== null;
    if (posterior && grouped) {
      throw new GenecontentError(
        "Posterior component probabilities are not available for a model with family sets; " +
          "compute them from the background model.",
      );
    }
    const { nPatterns } = this.patterns;
    return {
      logLik: 0,
      gradient: gradient ? new Float64Array(this.parameters.length) : null,
      perPattern: new Float64Array(nPatterns).fill(grouped ? NaN : 0),
      perGroupPattern: grouped ? this.#groups.map((g) => new Float64Array(g.nEval)) : null,
      posterior: posterior ? new Float64Array(nPatterns * this.componentNames.length) : null,
    };
  }

  #finish(t: Totals): ModelEvaluation {
    const out: { -readonly [K in keyof ModelEvaluation]: ModelEvaluation[K] } = {
      logLik: t.logLik,
      perPattern: t.perPattern,
    };
    if (t.posterior) out.posterior = t.posterior;
    if (t.gradient) out.gradient = t.gradient;
    if (t.perGroupPattern) {
      const { familyPattern } = this.patterns;
      const ofFamily = this.#familyGroups!.ofFamily;
      const perFamily = new Float64Array(familyPattern.length);
      for (let f = 0; f < perFamily.length; f++) {
        const g = ofFamily[f] + 1; // groups are built in set order after the families in none
        perFamily[f] = t.perGroupPattern[g][this.#groups[g].position![familyPattern[f]]];
      }
      out.perFamily = perFamily;
    }
    return out;
  }

  /**
   * Mixes one group's components per pattern, conditions the mixture on the window, and adds
   * the group's log-likelihood, gradient and per-pattern values to the totals.
   */
  #mixGroup(
    comps: ModelComponents,
    group: FamilyGroup,
    a: GroupAssignments,
    data: Evaluation,
    out: Totals,
  ): void {
    const { nTips, states } = this.patterns;
    const rateComps = comps.rates;
    const C = rateComps.length;
    const inv = comps.invariant;
    const nComp = C + (inv ? 1 : 0);
    const J = a.nDirections;
    const em = a.falseAbsence;
    const c = this.#setup?.completeness ?? null;
    const fittedError = comps.errorIndex !== null;
    const faDir = a.errorDirection >= 0 ? a.errorDirection + 1 : -1;
    const gradient = out.gradient !== null;
    const nEval = group.nEval;
    // Per component: posterior share (S) and posterior-weighted derivative along each direction.
    const S = new Float64Array(nComp);
    const D = new Float64Array(nComp * J);
    const terms = new Float64Array(nComp);
    const perEval = new Float64Array(nEval);
    const grad = data.grad;
    const at = (k: number, j: number) => ((j >> 1) * C + k) * 2 + (j & 1);
    const posterior = out.posterior;
    let total = 0;
    for (let i = 0; i < nEval; i++) {
      const p = group.patterns ? group.patterns[i] : i;
      const top = this.#mixTerms(terms, comps, (k) => data.logLik[k * nEval + i]);
      let invDeriv = 0;
      let best = top;
      if (inv) {
        const li = invariantColumn(states, p * nTips, nTips, em, c, fittedError);
        terms[C] = inv.logWeight + li.logProb;
        invDeriv = li.dFalseAbsence;
        if (terms[C] > best) best = terms[C];
      }
      const logL = logSumExp(terms, nComp, best);
      perEval[i] = logL;
      const w = group.weights[i];
      total += w * logL;
      if (!gradient && !posterior) continue;
      for (let k = 0; k < nComp; k++) {
        const post = Math.exp(terms[k] - logL);
        if (posterior) posterior[p * nComp + k] = post;
        if (!gradient || post === 0) continue;
        const wp = w * post;
        S[k] += wp;
        if (k < C) {
          for (let j = 0; j < J; j++) {
            const q = at(k, j);
            D[k * J + j] += wp * grad![((q >> 1) * nEval + i) * 2 + (q & 1)];
          }
        } else if (faDir >= 0) {
          D[k * J + faDir] += wp * invDeriv;
        }
      }
    }
    if (group.observable) {
      const obs = group.observable.evaluate(a.rates, {
        gradient,
        layout: a.options.layout,
        tangents: a.options.tangents,
      });
      const masks = group.masks;
      const nMasks = masks.length;
      const logObs = new Float64Array(nMasks);
      for (let m = 0; m < nMasks; m++) {
        let best = this.#mixTerms(terms, comps, (k) => obs.logProb[k * nMasks + m]);
        let invDeriv = 0;
        if (inv) {
          const io = invariantObservable(this.#masks[masks[m]], em, c, fittedError, this.window);
          terms[C] = inv.logWeight + io.logProb;
          invDeriv = io.dFalseAbsence;
          if (terms[C] > best) best = terms[C];
        }
        logObs[m] = logSumExp(terms, nComp, best);
        const W = group.maskWeight[m];
        total -= W * logObs[m];
        if (!gradient) continue;
        for (let k = 0; k < nComp; k++) {
          const q = Math.exp(terms[k] - logObs[m]);
          if (q === 0) continue;
          const wq = W * q;
          S[k] -= wq;
          if (k < C) {
            for (let j = 0; j < J; j++) {
              const s = at(k, j);
              D[k * J + j] -= wq * obs.grad![((s >> 1) * nMasks + m) * 2 + (s & 1)];
            }
          } else if (faDir >= 0) {
            D[k * J + faDir] -= wq * invDeriv;
          }
        }
      }
      for (let i = 0; i < nEval; i++) perEval[i] -= logObs[group.maskOf[i]];
    }
    out.logLik += total;
    if (out.perGroupPattern) {
      out.perGroupPattern[group.index].set(perEval);
      if (group.set < 0) {
        for (let i = 0; i < nEval; i++) out.perPattern[group.patterns![i]] = perEval[i];
      }
    } else out.perPattern.set(perEval);
    const g = out.gradient;
    if (!g) return;
    const nBase = this.#nBase;
    for (let k = 0; k < C; k++) {
      const rc = rateComps[k];
      for (let i = 0; i < nBase; i++) {
        g[i] += S[k] * rc.dLogWeight[i] + D[k * J] * rc.gainCoefficient[i] +
          D[k * J + 1] * rc.lossCoefficient[i];
      }
    }
    if (inv) { for (let i = 0; i < nBase; i++) g[i] += S[C] * inv.dLogWeight[i]; }
    if (comps.errorIndex) {
      const [fp, fa] = comps.errorIndex;
      for (let k = 0; k < nComp; k++) {
        if (k < C) g[fp] += D[k * J + a.errorDirection];
        g[fa] += D[k * J + faDir];
      }
    }
    // Effects: a design-free effect moves its channel's every log rate (direction 0 or 1); a
    // designed one has its own direction.
    for (let e = 0; e < this.#effects.length; e++) {
      const eff = this.#effects[e];
      if (!effectApplies(eff, group.set)) continue;
      const d = group.designed.indexOf(e);
      const j = d >= 0 ? a.extraDirection + d : eff.channel === "gain" ? 0 : 1;
      let sum = 0;
      for (let k = 0; k < C; k++) sum += D[k * J + j];
      g[nBase + e] += sum;
    }
  }

  /** Frees the backend. */
  [Symbol.dispose](): void {
    this.backend[Symbol.dispose]();
  }
}

/** A log-probability with its derivative with respect to falseAbsence. */
export interface InvariantValue {
  readonly logProb: number;
  readonly dFalseAbsence: number;
}

/**
 * log P(column | invariant class): every observed tip is truly present, recorded present with
 * probability 1 - e-_i and absent with probability e-_i (`em`, per tip, or null without error).
 * With `fitted`, the derivative is with respect to falseAbsence through e-_i = 1 - (1 - e-) c_i.
 */
export function invariantColumn(
  states: Uint8Array,
  offset: number,
  nTips: number,
  em: Float64Array | null,
  completeness: Float64Array | null,
  fitted: boolean,
): InvariantValue {
  let logProb = 0, d = 0;
  for (let i = 0; i < nTips; i++) {
    const s = states[offset + i];
    if (s === MISSING) continue;
    const e = em ? em[i] : 0;
    const dc = fitted ? completeness![i] : 0; // d e-_i / d e-
    if (s === PRESENT) {
      if (e > 0) {
        logProb += Math.log1p(-e);
        d -= dc / (1 - e);
      }
    } else {
      if (e === 0) return { logProb: -Infinity, dFalseAbsence: 0 };
      logProb += Math.log(e);
      d += dc / e;
    }
  }
  return { logProb, dFalseAbsence: d };
}

/**
 * log P(K <= #observed tips recorded present <= M | invariant class) and its derivative with
 * respect to falseAbsence: the Poisson-binomial count distribution over the observed tips
 * (tip i recorded present with probability 1 - e-_i), by the count recursion with exact
 * counts up to max(K, M) and one absorbing entry above; every term is a product of
 * probabilities, so no cancellation.
 */
export function invariantObservable(
  mask: Uint8Array,
  em: Float64Array | null,
  completeness: Float64Array | null,
  fitted: boolean,
  window: Ascertainment,
): InvariantValue {
  const K = window.minPresent;
  const M = window.maxPresent;
  let nObs = 0;
  for (let i = 0; i < mask.length; i++) nObs += mask[i];
  if (!em || em.every((e, i) => e === 0 || mask[i] === 0)) {
    // Every observed tip is recorded present.
    const inside = nObs >= K && (M === null || nObs <= M);
    return { logProb: inside ? 0 : -Infinity, dFalseAbsence: 0 };
  }
  // Entries 0 .. top - 1 are exact counts; entry `top` absorbs every count >= top.
  const top = M === null ? K : M + 1;
  let v = new Float64Array(top + 1);
  let dv = new Float64Array(top + 1);
  let nv = new Float64Array(top + 1);
  let ndv = new Float64Array(top + 1);
  v[0] = 1;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    const q = em[i]; // recorded absent
    const pr = 1 - q;
    const dq = fitted ? completeness![i] : 0;
    nv.fill(0);
    ndv.fill(0);
    for (let n = 0; n <= top; n++) {
      if (v[n] === 0 && dv[n] === 0) continue;
      const up = Math.min(n + 1, top);
      nv[n] += v[n] * q;
      ndv[n] += dv[n] * q + v[n] * dq;
      nv[up] += v[n] * pr;
      ndv[up] += dv[n] * pr - v[n] * dq;
    }
    [v, nv] = [nv, v];
    [dv, ndv] = [ndv, dv];
  }
  let p = 0, dp = 0;
  const hi = M === null ? top : M;
  for (let n = K; n <= hi; n++) {
    p += v[n];
    dp += dv[n];
  }
  return { logProb: Math.log(p), dFalseAbsence: p > 0 ? dp / p : 0 };
}
