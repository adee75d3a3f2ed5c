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
  type KernelAssignments,
  kernelAssignments,
  type ModelComponents,
  type TipErrorSetup,
  tipErrorSetup,
} from "../model/components.ts";

/** The value of a model's total log-likelihood at one parameter vector. */
export interface ModelEvaluation {
  /** Total log-likelihood, summed over families (merged patterns counted by their weights). */
  readonly logLik: number;
  /** d logLik / d value_i (natural scale), when asked for. */
  readonly gradient?: Float64Array;
  /** Per-pattern log-likelihood (corrected when the ascertainment window is not [0, none]). */
  readonly perPattern: Float64Array;
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
}

/** Options of one evaluation. */
export interface ModelEvaluateOptions {
  /** Also return per-pattern posterior component probabilities. */
  readonly posterior?: boolean;
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
  readonly #setup: TipErrorSetup | null;
  readonly #masks: Uint8Array[] = [];
  readonly #maskOf: Int32Array;
  /** Sum of pattern weights per mask. */
  readonly #maskWeight: Float64Array;
  readonly #observable: ObservableWindow | null;

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
    this.parameters = modelParameters(model);
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
    this.#setup = tipErrorSetup(tree, model, options.completeness ?? null);
    this.#refuseUninformed();
    const kernelTree = this.#setup?.tree ?? tree;
    const corrected = K > 0 || M !== null;
    this.#observable = corrected
      ? new ObservableWindow(kernelTree, this.#masks, this.window)
      : null;
    // The pendant tips are numbered as the tips: the patterns go to the backend as they are.
    this.backend = factory.create(kernelTree, patterns.states, patterns.nPatterns);
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
    const comps = expandModel(this.model, values);
    const assign = kernelAssignments(comps, this.#setup, gradient);
    const data = this.backend.evaluate(assign.rates, assign.options);
    return this.#combine(comps, assign, data, gradient, options.posterior === true);
  }

  /** The same as `evaluate`, without blocking the event loop (native) and with progress. */
  async evaluateAsync(
    values: Float64Array,
    gradient = false,
    options: ModelEvaluateOptions & AsyncEvaluateOptions = {},
  ): Promise<ModelEvaluation> {
    const comps = expandModel(this.model, values);
    const assign = kernelAssignments(comps, this.#setup, gradient);
    const data = await this.backend.evaluateAsync(assign.rates, {
      ...assign.options,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    return this.#combine(comps, assign, data, gradient, options.posterior === true);
  }

  #combine(
    comps: ModelComponents,
    assign: KernelAssignments,
    data: Evaluation,
    gradient: boolean,
    wantPosterior: boolean,
  ): ModelEvaluation {
    const { nTips, nPatterns, weights, states } = this.patterns;
    const nParams = comps.parameters.length;
    const rateComps = comps.rates;
    const C = rateComps.length;
    const inv = comps.invariant;
    const nComp = C + (inv ? 1 : 0);
    const em = assign.falseAbsence;
    const c = this.#setup?.completeness ?? null;
    const fittedError = comps.errorIndex !== null;
    // Sums over patterns, per component: posterior share (S), posterior times each direction.
    const S = new Float64Array(nComp);
    const G0 = new Float64Array(C), G1 = new Float64Array(C);
    const E0 = new Float64Array(nComp), E1 = new Float64Array(nComp);
    const perPattern = new Float64Array(nPatterns);
    const posterior = wantPosterior ? new Float64Array(nPatterns * nComp) : null;
    const terms = new Float64Array(nComp);
    const grad = data.grad;
    let total = 0;
    for (let p = 0; p < nPatterns; p++) {
      let top = -Infinity;
      for (let k = 0; k < C; k++) {
        terms[k] = rateComps[k].logWeight + data.logLik[k * nPatterns + p];
        if (terms[k] > top) top = terms[k];
      }
      let invDeriv = 0;
      if (inv) {
        const li = invariantColumn(states, p * nTips, nTips, em, c, fittedError);
        terms[C] = inv.logWeight + li.logProb;
        invDeriv = li.dFalseAbsence;
        if (terms[C] > top) top = terms[C];
      }
      let sum = 0;
      for (let k = 0; k < nComp; k++) sum += Math.exp(terms[k] - top);
      const logL = top + Math.log(sum);
      perPattern[p] = logL;
      const w = weights[p];
      total += w * logL;
      if (!gradient && !posterior) continue;
      for (let k = 0; k < nComp; k++) {
        const post = Math.exp(terms[k] - logL);
        if (posterior) posterior[p * nComp + k] = post;
        if (!gradient || post === 0) continue;
        const wp = w * post;
        S[k] += wp;
        if (k < C) {
          const o = (k * nPatterns + p) * 2;
          G0[k] += wp * grad![o];
          G1[k] += wp * grad![o + 1];
          if (assign.errorSets) {
            const e = ((C + k) * nPatterns + p) * 2;
            E0[k] += wp * grad![e];
            E1[k] += wp * grad![e + 1];
          }
        } else {
          E1[k] += wp * invDeriv;
        }
      }
    }
    if (this.#observable) {
      const obs = this.#observable.evaluate(assign.rates, {
        gradient,
        layout: assign.options.layout,
        tangents: assign.options.tangents,
      });
      const nMasks = this.#masks.length;
      const logObs = new Float64Array(nMasks);
      for (let m = 0; m < nMasks; m++) {
        let top = -Infinity;
        for (let k = 0; k < C; k++) {
          terms[k] = rateComps[k].logWeight + obs.logProb[k * nMasks + m];
          if (terms[k] > top) top = terms[k];
        }
        let invDeriv = 0;
        if (inv) {
          const io = invariantObservable(this.#masks[m], em, c, fittedError, this.window);
          terms[C] = inv.logWeight + io.logProb;
          invDeriv = io.dFalseAbsence;
          if (terms[C] > top) top = terms[C];
        }
        let sum = 0;
        for (let k = 0; k < nComp; k++) sum += Math.exp(terms[k] - top);
        logObs[m] = top + Math.log(sum);
        const W = this.#maskWeight[m];
        total -= W * logObs[m];
        if (!gradient) continue;
        for (let k = 0; k < nComp; k++) {
          const q = Math.exp(terms[k] - logObs[m]);
          if (q === 0) continue;
          const wq = W * q;
          S[k] -= wq;
          if (k < C) {
            const o = (k * nMasks + m) * 2;
            G0[k] -= wq * obs.grad![o];
            G1[k] -= wq * obs.grad![o + 1];
            if (assign.errorSets) {
              const e = ((C + k) * nMasks + m) * 2;
              E0[k] -= wq * obs.grad![e];
              E1[k] -= wq * obs.grad![e + 1];
            }
          } else {
            E1[k] -= wq * invDeriv;
          }
        }
      }
      for (let p = 0; p < nPatterns; p++) perPattern[p] -= logObs[this.#maskOf[p]];
    }
    const out: { -readonly [K in keyof ModelEvaluation]: ModelEvaluation[K] } = {
      logLik: total,
      perPattern,
    };
    if (posterior) out.posterior = posterior;
    if (gradient) {
      const g = new Float64Array(nParams);
      for (let k = 0; k < C; k++) {
        const rc = rateComps[k];
        for (let i = 0; i < nParams; i++) {
          g[i] += S[k] * rc.dLogWeight[i] + G0[k] * rc.gainCoefficient[i] +
            G1[k] * rc.lossCoefficient[i];
        }
      }
      if (inv) { for (let i = 0; i < nParams; i++) g[i] += S[C] * inv.dLogWeight[i]; }
      if (comps.errorIndex) {
        const [fp, fa] = comps.errorIndex;
        for (let k = 0; k < nComp; k++) {
          g[fp] += E0[k];
          g[fa] += E1[k];
        }
      }
      out.gradient = g;
    }
    return out;
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
