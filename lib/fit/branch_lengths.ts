/**
 * Branch lengths fitted under a model: the joint maximum likelihood of every branch length of a
 * fixed topology together with the model's parameters (any model: null, gamma, mixture, `+inv`,
 * `+error`, completeness), with analytic gradients from the backends' `expectations` pass.
 *
 * **Lengths as per-branch rates.** The backends are bound to a copy of the tree whose branches
 * all have length 1 (pendant error branches keep theirs); the branch above node v of component c
 * then gets the per-branch rates (gain_c t_v, loss_c t_v), which is the same chain as (gain_c,
 * loss_c) over length t_v. Gamma categories scale the rates, equivalently the lengths. The root's
 * pair keeps (gain_c, loss_c): its stationary prior does not depend on any length.
 *
 * **Gradients.** With `M_v[a][b]` the pattern-weighted sums of `O_v(a) I_v(b) / L` of the
 * expectations pass (`backend.ts`), every derivative of the log-likelihood is linear in M:
 *
 *     d logL / d t_v          = sum_c sum_ab M_{c,v}[a][b] dP_ab(t_v) / dt
 *                             = sum_c e^{-s t_v} (gain_c (M01 - M00) + loss_c (M10 - M11))
 *     d logL / d log gain_c   = sum_v sum_ab M_{c,v}[a][b] dP_ab / d log gain_c
 *                               + pi0 M_{c,root}[1][1] - pi1 M_{c,root}[0][0]    (root prior)
 *     d logL / d e+           = sum over pendant branches (M01 - M00)   (P = [[1-e+, e+], ...])
 *     d logL / d e-           = sum over pendant branches c_i (M10 - M11)
 *
 * For several components (gamma categories, mixture classes, the invariant class) the data pass
 * is weighted by w_{c,p} = (families in pattern p) * posterior_c(p), from one plain evaluation
 * first; component weights enter through sum_p w_p posterior_c(p) d log w_c.
 *
 * **Ascertainment.** The default correction (every family present in at least one observed
 * genome) subtracts, per missingness mask m, W_m log P(observable | m) with
 * P(observable | m) = sum_c w_c (1 - L0_c(m)) + w_inv P_inv(m), where L0_c(m) is the
 * likelihood of the all-absent column over m's observed tips (recorded absences, under the same
 * tip error). Its derivative along any length or rate is
 * + W_m sum_c w_c L0_c(m) d log L0_c(m) / P(observable | m): the expectations of the all-absent
 * columns (a second backend bound to one such column per mask) weighted by
 * W_m w_c L0_c(m) / P(observable | m) give it with the same formulas as the data. P(observable)
 * itself comes from `ObservableWindow` (positive terms only, exact at extreme rates). Any other
 * window [K, M] (`--min-present`, `--max-present`) takes P(window | m) and its derivatives from
 * the count pruning of `ObservableWindow` along tangent directions: one pair per component for
 * its log rates, one for the error rates, and one per two branches for their log lengths, so a
 * gradient costs about nNodes / 2 count prunings per component and mask (fine for hundreds of
 * genomes and few masks; an outside pass of the count pruning would make it one).
 *
 * **Scale.** Rates and lengths are confounded by one overall factor. It is fixed by holding the
 * tree's total length at the input tree's: lengths are t = T softmax(y) over free y, so rates are
 * per unit branch length of a fitted tree that is as long as the input tree. Under the stationary
 * reversible chain only the unrooted tree's lengths are identified: the two branches at a
 * bifurcating root (and a unary node's two branches) are determined only as a sum, and the
 * optimiser leaves their split where the path of its steps puts it.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { ExpectationOptions, Expectations, LikelihoodBackend } from "../likelihood/backend.ts";
import type { BackendFactory } from "../likelihood/choose_backend.ts";
import {
  AT_LEAST_ONE,
  invariantColumn,
  invariantObservable,
  ModelLikelihood,
} from "../likelihood/model_likelihood.ts";
import { ObservableWindow } from "../likelihood/observable.ts";
import {
  expandModel,
  kernelAssignments,
  type ModelComponents,
  type TipErrorSetup,
  tipErrorSetup,
} from "../model/components.ts";
import {
  type Ascertainment,
  formatModel,
  type ModelDescription,
  modelParameters,
  type ParameterSpec,
} from "../model/description.ts";
import { genomeFalseAbsence } from "../model/tip_error.ts";
import { ABSENT, MISSING, PRESENT } from "../pam/matrix.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { type FlatTree, flatTreeFromParents, totalLength } from "../tree/flat_tree.ts";
import { fitModel } from "./fit_model.ts";
import { minimizeLbfgs } from "./lbfgs.ts";
import { modelObjective } from "./objective.ts";

/** Options of {@linkcode BranchLengthLikelihood}. */
export interface BranchLengthLikelihoodOptions {
  /** Per-genome completeness in (0, 1], in the tree's tip order (as `ModelLikelihood`'s). */
  readonly completeness?: Float64Array | null;
}

/** The log-likelihood at one parameter vector and one set of branch lengths. */
export interface BranchLengthEvaluation {
  /** Total log-likelihood (ascertainment-corrected unless the window is [0, none]). */
  readonly logLik: number;
  /** With gradients: d logLik / d value_i (natural scale), in the order of `parameters`. */
  readonly gradient?: Float64Array;
  /** With gradients: d logLik / d t_v for every node v of the tree (the root's entry is 0). */
  readonly lengthGradient?: Float64Array;
  /**
   * With gradients: the complete-data information of log t_v for every node v (the expected
   * hazard `gain E[time absent] + loss E[time present]` on the branch given the data, summed
   * over families and components; the root's entry is 0): the curvature of the EM surrogate,
   * a diagonal preconditioner for the optimiser.
   */
  readonly lengthCurvature?: Float64Array;
  /**
   * With gradients: the complete-data information of each parameter on its natural scale,
   * from the expected hazards of the rate components (0 for parameters that change no rate).
   */
  readonly parameterCurvature?: Float64Array;
}

/**
 * A model's log-likelihood on a fixed topology as a function of its parameters and of every
 * branch length, with the analytic gradient in both (see the module documentation).
 *
 * @example
 * ```ts
 * import { BranchLengthLikelihood } from "./branch_lengths.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 0, 1, 1, 1, 0), 2, 3, ["f1", "f2"]);
 * using lik = new BranchLengthLikelihood(tree, patterns, tsBackendFactory, parseModel("null"));
 * const v = lik.evaluate(Float64Array.of(0.5, 1), tree.branchLength, true);
 * console.assert(v.logLik < 0 && v.lengthGradient!.length === 5 && v.lengthGradient![4] === 0);
 * ```
 */
export class BranchLengthLikelihood implements Disposable {
  /** The tree (its lengths are only the default of nothing: every evaluation gives lengths). */
  readonly tree: FlatTree;
  /** The merged family columns. */
  readonly patterns: SitePatterns;
  /** The model. */
  readonly model: ModelDescription;
  /** The prevalence window. */
  readonly window: Ascertainment;
  /** The model's free parameters. */
  readonly parameters: readonly ParameterSpec[];
  /** The data backend (bound to the unit-length kernel tree). */
  readonly backend: LikelihoodBackend;
  readonly #absent: LikelihoodBackend | null;
  readonly #observable: ObservableWindow | null;
  readonly #setup: TipErrorSetup | null;
  readonly #kernel: FlatTree;
  /** Kernel node of tree node v is v + offset (nTips with pendant branches, else 0). */
  readonly #offset: number;
  readonly #masks: Uint8Array[] = [];
  readonly #maskWeight: number[] = [];

  /**
   * Binds the backends. Refuses a window out of range, a family outside the window, and a
   * backend without `expectations`.
   */
  constructor(
    tree: FlatTree,
    patterns: SitePatterns,
    factory: BackendFactory,
    model: ModelDescription,
    window: Ascertainment = AT_LEAST_ONE,
    options: BranchLengthLikelihoodOptions = {},
  ) {
    if (patterns.nTips !== tree.nTips) {
      throw new RangeError(`Patterns have ${patterns.nTips} tips, the tree ${tree.nTips}.`);
    }
    const K = window.minPresent, M = window.maxPresent;
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
    this.window = window;
    this.parameters = modelParameters(model);
    this.#setup = tipErrorSetup(tree, model, options.completeness ?? null);
    const base = this.#setup?.tree ?? tree;
    this.#offset = this.#setup ? tree.nTips : 0;
    const unit = Float64Array.from(base.branchLength);
    for (let v = 0; v < tree.nNodes - 1; v++) unit[v + this.#offset] = 1;
    this.#kernel = flatTreeFromParents(base.tipNames, base.parent, unit, base.internalLabels);
    this.#groupMasks();
    this.backend = factory.create(this.#kernel, patterns.states, patterns.nPatterns);
    if (!this.backend.expectations) {
      this.backend[Symbol.dispose]();
      throw new GenecontentError(
        `The ${this.backend.name} backend has no expectations pass, which branch-length ` +
          "gradients need; use --backend ts.",
      );
    }
    if (window.minPresent === 1 && window.maxPresent === null) {
      const nMasks = this.#masks.length;
      const n = tree.nTips;
      const states = new Uint8Array(nMasks * n);
      this.#masks.forEach((mask, m) => {
        for (let i = 0; i < n; i++) states[m * n + i] = mask[i] ? ABSENT : MISSING;
      });
      this.#absent = factory.create(this.#kernel, states, nMasks);
      this.#observable = new ObservableWindow(this.#kernel, this.#masks, window);
    } else if (window.minPresent > 0 || window.maxPresent !== null) {
      this.#absent = null;
      this.#observable = new ObservableWindow(this.#kernel, this.#masks, window);
    } else {
      this.#absent = null;
      this.#observable = null;
    }
  }

  /** Groups patterns by missingness mask (weights per mask) and checks the window. */
  #groupMasks(): void {
    const { nTips, nPatterns, states, weights, familyPattern, familyNames } = this.patterns;
    const ids = new Map<string, number>();
    for (let p = 0; p < nPatterns; p++) {
      const row = states.subarray(p * nTips, (p + 1) * nTips);
      let present = 0;
      let missing = false;
      for (let i = 0; i < nTips; i++) {
        if (row[i] === PRESENT) present++;
        else if (row[i] === MISSING) missing = true;
      }
      const { minPresent: K, maxPresent: M } = this.window;
      if (present < K || (M !== null && present > M)) {
        const f = familyPattern.indexOf(p);
        if (K === 1 && M === null) {
          throw new GenecontentError(
            `Family '${familyNames[f]}' is present in no genome, but the ascertainment ` +
              "correction conditions every family on at least one. Remove it from the PAM, or " +
              "turn the correction off (--no-ascertainment).",
          );
        }
        throw new GenecontentError(
          `Family '${familyNames[f]}' is present in ${present} genomes, outside the window of ` +
            `${K} to ${M ?? "any number of"} present genomes that the ascertainment correction ` +
            "conditions every family on. Remove it from the PAM, or widen the window " +
            "(--min-present, --max-present).",
        );
      }
      const mask = () => Uint8Array.from(row, (s) => (s === MISSING ? 0 : 1));
      // Complete columns share the empty key: no per-pattern string for them.
      const key = missing ? mask().join("") : "";
      let id = ids.get(key);
      if (id === undefined) {
        id = this.#masks.length;
        ids.set(key, id);
        this.#masks.push(mask());
        this.#maskWeight.push(0);
      }
      this.#maskWeight[id] += weights[p];
    }
  }

  /** The per-branch rate sets of every rate component at lengths `t` (kernel tree layout). */
  #rates(comps: ModelComponents, t: ArrayLike<number>): Float64Array {
    const nK = this.#kernel.nNodes;
    const R = 2 * nK;
    const C = comps.rates.length;
    const rates = new Float64Array(C * R);
    const base = this.#setup ? kernelAssignments(comps, this.#setup, false).rates : null;
    for (let c = 0; c < C; c++) {
      const o = c * R;
      if (base) rates.set(base.subarray(o, o + R), o);
      else {
        for (let u = 0; u < nK; u++) {
          rates[o + 2 * u] = comps.rates[c].gain;
          rates[o + 2 * u + 1] = comps.rates[c].loss;
        }
      }
      for (let v = 0; v < this.tree.nNodes - 1; v++) {
        const u = v + this.#offset;
        rates[o + 2 * u] *= t[v];
        rates[o + 2 * u + 1] *= t[v];
      }
    }
    return rates;
  }

  /**
   * Total log-likelihood at natural-scale `values` and branch lengths `lengths` (one per node
   * of `tree`, each > 0 except the root's, which is ignored), with the gradient in both when
   * `gradient` is true.
   */
  evaluate(
    values: Float64Array,
    lengths: ArrayLike<number>,
    gradient = false,
  ): BranchLengthEvaluation {
    const nNodes = this.tree.nNodes;
    if (lengths.length !== nNodes) {
      throw new RangeError(`${lengths.length} branch lengths for a tree of ${nNodes} nodes.`);
    }
    for (let v = 0; v < nNodes - 1; v++) {
      if (!(lengths[v] > 0 && Number.isFinite(lengths[v]))) {
        throw new GenecontentError(
          `Branch above node ${v} has length ${lengths[v]}; lengths must be positive and finite.`,
        );
      }
    }
    const comps = expandModel(this.model, values);
    const C = comps.rates.length;
    const inv = comps.invariant;
    const nComp = C + (inv ? 1 : 0);
    const rates = this.#rates(comps, lengths);
    const layout = "perBranch" as const;
    const { nTips, nPatterns, weights, states } = this.patterns;
    const fittedError = comps.errorIndex !== null;
    const em = this.#setup
      ? genomeFalseAbsence(fittedError ? comps.falseAbsence : 0, this.#setup.completeness)
      : null;
    const completeness = this.#setup?.completeness ?? null;
    const acc = new Accumulator(
      this.tree,
      comps,
      lengths,
      this.#offset,
      this.#kernel.nNodes,
      this.#setup?.completeness ?? null,
    );
    const S = new Float64Array(nComp);
    let invError = 0;
    let total = 0;
    const expect = (b: LikelihoodBackend, o: ExpectationOptions): Expectations =>
      b.expectations!(rates, o);
    if (nComp === 1) {
      if (!gradient) {
        const ev = this.backend.evaluate(rates, { layout });
        for (let p = 0; p < nPatterns; p++) total += weights[p] * ev.logLik[p];
      } else {
        const ex = expect(this.backend, { layout, weights: weights });
        for (let p = 0; p < nPatterns; p++) total += weights[p] * ex.logLik[p];
        for (let p = 0; p < nPatterns; p++) S[0] += weights[p];
        acc.add(ex.branch, fittedError, true);
      }
    } else {
      const ev = this.backend.evaluate(rates, { layout });
      const w = gradient ? new Float64Array(C * nPatterns) : null;
      const terms = new Float64Array(nComp);
      for (let p = 0; p < nPatterns; p++) {
        let top = -Infinity;
        for (let k = 0; k < C; k++) {
          terms[k] = comps.rates[k].logWeight + ev.logLik[k * nPatterns + p];
          if (terms[k] > top) top = terms[k];
        }
        let invDeriv = 0;
        if (inv) {
          const li = invariantColumn(states, p * nTips, nTips, em, completeness, fittedError);
          terms[C] = inv.logWeight + li.logProb;
          invDeriv = li.dFalseAbsence;
          if (terms[C] > top) top = terms[C];
        }
        let sum = 0;
        for (let k = 0; k < nComp; k++) sum += Math.exp(terms[k] - top);
        const logL = top + Math.log(sum);
        total += weights[p] * logL;
        if (!w) continue;
        for (let k = 0; k < nComp; k++) {
          const wp = weights[p] * Math.exp(terms[k] - logL);
          S[k] += wp;
          if (k < C) w[k * nPatterns + p] = wp;
          else if (wp > 0) invError += wp * invDeriv;
        }
      }
      if (w) acc.add(expect(this.backend, { layout, weights: w }).branch, fittedError, true);
    }
    if (this.#observable && !this.#absent) {
      const w = this.#windowTerms(comps, rates, lengths, gradient, acc, S);
      total += w.logLik;
      invError += w.invError;
    } else if (this.#observable) {
      const nMasks = this.#masks.length;
      const obs = this.#observable.evaluate(rates, { layout });
      const absent = this.#absent!.evaluate(rates, { layout });
      const omega = gradient ? new Float64Array(C * nMasks) : null;
      const terms = new Float64Array(nComp);
      for (let m = 0; m < nMasks; m++) {
        let top = -Infinity;
        for (let k = 0; k < C; k++) {
          terms[k] = comps.rates[k].logWeight + obs.logProb[k * nMasks + m];
          if (terms[k] > top) top = terms[k];
        }
        let invDeriv = 0;
        if (inv) {
          const io = invariantObservable(
            this.#masks[m],
            em,
            completeness,
            fittedError,
            AT_LEAST_ONE,
          );
          terms[C] = inv.logWeight + io.logProb;
          invDeriv = io.dFalseAbsence;
          if (terms[C] > top) top = terms[C];
        }
        let sum = 0;
        for (let k = 0; k < nComp; k++) sum += Math.exp(terms[k] - top);
        const logObs = top + Math.log(sum);
        const W = this.#maskWeight[m];
        total -= W * logObs;
        if (!omega) continue;
        for (let k = 0; k < nComp; k++) {
          const q = W * Math.exp(terms[k] - logObs);
          S[k] -= q;
          if (k === C) invError -= q * invDeriv;
        }
        for (let k = 0; k < C; k++) {
          omega[k * nMasks + m] = W *
            Math.exp(comps.rates[k].logWeight + absent.logLik[k * nMasks + m] - logObs);
        }
      }
      if (omega) {
        acc.add(expect(this.#absent!, { layout, weights: omega }).branch, fittedError, false);
      }
    }
    if (!gradient) return { logLik: total };
    const g = acc.parameterGradient(S, invError);
    return {
      logLik: total,
      gradient: g,
      lengthGradient: acc.lengths,
      lengthCurvature: acc.curvature,
      parameterCurvature: acc.parameterCurvature(),
    };
  }

  /**
   * The ascertainment term of a general window, -sum_m W_m log P(window | m), and with
   * `gradient` its derivatives into `acc` and `S` (returning the invariant class's error term):
   * the count pruning of `ObservableWindow` along two tangent directions per parameter set, one
   * set per component for its log gain and log loss, one for the error rates, and one per pair
   * of branches for their log lengths (so a gradient costs about nNodes / 2 count prunings per
   * component, batched).
   */
  #windowTerms(
    comps: ModelComponents,
    rates: Float64Array,
    lengths: ArrayLike<number>,
    gradient: boolean,
    acc: Accumulator,
    S: Float64Array,
  ): { logLik: number; invError: number } {
    const layout = "perBranch" as const;
    const obsWindow = this.#observable!;
    const nMasks = this.#masks.length;
    const C = comps.rates.length;
    const inv = comps.invariant;
    const nComp = C + (inv ? 1 : 0);
    const nK = this.#kernel.nNodes;
    const R = 2 * nK;
    const nB = this.tree.nNodes - 1;
    const offset = this.#offset;
    const fittedError = comps.errorIndex !== null;
    const em = this.#setup
      ? genomeFalseAbsence(fittedError ? comps.falseAbsence : 0, this.#setup.completeness)
      : null;
    const completeness = this.#setup?.completeness ?? null;
    // Sets per component: [log gain | log loss], [e+ | e-] with fitted error, then branch pairs.
    const errorTangents = gradient && fittedError && this.#setup
      ? kernelAssignments(comps, this.#setup, true).options.tangents!
      : null;
    const lead = 1 + (errorTangents ? 1 : 0);
    const perComp = gradient ? lead + Math.ceil(nB / 2) : 1;
    const logProb = new Float64Array(C * nMasks);
    // grads[((c * perComp + j) * nMasks + m) * 2 + d]
    const grads = gradient ? new Float64Array(C * perComp * nMasks * 2) : null;
    const BATCH = 64;
    for (let c = 0; c < C; c++) {
      const own = rates.subarray(c * R, (c + 1) * R);
      for (let j0 = 0; j0 < perComp; j0 += BATCH) {
        const n = Math.min(BATCH, perComp - j0);
        const batch = new Float64Array(n * R);
        for (let j = 0; j < n; j++) batch.set(own, j * R);
        if (!gradient) {
          const r = obsWindow.evaluate(batch, { layout });
          logProb.set(r.logProb.subarray(0, nMasks), c * nMasks);
          continue;
        }
        const tangents = new Float64Array(n * 2 * R);
        for (let j = 0; j < n; j++) {
          const set = j0 + j;
          const d0 = 2 * j * R, d1 = d0 + R;
          if (set === 0) {
            for (let u = offset; u < nK; u++) {
              tangents[d0 + 2 * u] = 1;
              tangents[d1 + 2 * u + 1] = 1;
            }
          } else if (set < lead) {
            tangents.set(errorTangents!.subarray(2 * (C + c) * R, 2 * (C + c) * R + 2 * R), d0);
          } else {
            const v = 2 * (set - lead);
            for (const [d, b] of [[d0, v], [d1, v + 1]]) {
              if (b >= nB) continue;
              tangents[d + 2 * (b + offset)] = 1;
              tangents[d + 2 * (b + offset) + 1] = 1;
            }
          }
        }
        const r = obsWindow.evaluate(batch, { layout, gradient: true, tangents });
        if (j0 === 0) logProb.set(r.logProb.subarray(0, nMasks), c * nMasks);
        grads!.set(r.grad!, (c * perComp + j0) * nMasks * 2);
      }
    }
    let total = 0;
    let invError = 0;
    const terms = new Float64Array(nComp);
    for (let m = 0; m < nMasks; m++) {
      let top = -Infinity;
      for (let k = 0; k < C; k++) {
        terms[k] = comps.rates[k].logWeight + logProb[k * nMasks + m];
        if (terms[k] > top) top = terms[k];
      }
      let invDeriv = 0;
      if (inv) {
        const io = invariantObservable(this.#masks[m], em, completeness, fittedError, this.window);
        terms[C] = inv.logWeight + io.logProb;
        invDeriv = io.dFalseAbsence;
        if (terms[C] > top) top = terms[C];
      }
      let sum = 0;
      for (let k = 0; k < nComp; k++) sum += Math.exp(terms[k] - top);
      const logObs = top + Math.log(sum);
      const W = this.#maskWeight[m];
      total -= W * logObs;
      if (!grads) continue;
      for (let k = 0; k < nComp; k++) {
        const q = W * Math.exp(terms[k] - logObs);
        S[k] -= q;
        if (k === C) {
          invError -= q * invDeriv;
          continue;
        }
        const g = (j: number, d: number) => grads[((k * perComp + j) * nMasks + m) * 2 + d];
        acc.addRates(k, -q * g(0, 0), -q * g(0, 1));
        if (lead > 1) acc.addError(-q * g(1, 0), -q * g(1, 1));
        for (let j = lead; j < perComp; j++) {
          const v = 2 * (j - lead);
          acc.lengths[v] -= q * g(j, 0) / lengths[v];
          if (v + 1 < nB) acc.lengths[v + 1] -= q * g(j, 1) / lengths[v + 1];
        }
      }
    }
    return { logLik: total, invError };
  }

  /** Frees the backends. */
  [Symbol.dispose](): void {
    this.backend[Symbol.dispose]();
    this.#absent?.[Symbol.dispose]();
  }
}

/** Sums of derivatives from expectation passes (see the module documentation). */
class Accumulator {
  /** d logL / d t_v per tree node. */
  readonly lengths: Float64Array;
  /** Expected hazard on every branch (complete-data information of log t_v). */
  readonly curvature: Float64Array;
  readonly #G0: Float64Array;
  readonly #G1: Float64Array;
  readonly #H0: Float64Array;
  readonly #H1: Float64Array;
  #ePlus = 0;
  #eMinus = 0;
  readonly #tree: FlatTree;
  readonly #comps: ModelComponents;
  readonly #t: ArrayLike<number>;
  readonly #offset: number;
  readonly #nK: number;
  readonly #completeness: Float64Array | null;

  constructor(
    tree: FlatTree,
    comps: ModelComponents,
    t: ArrayLike<number>,
    offset: number,
    nK: number,
    completeness: Float64Array | null,
  ) {
    this.#tree = tree;
    this.#comps = comps;
    this.#t = t;
    this.#offset = offset;
    this.#nK = nK;
    this.#completeness = completeness;
    this.lengths = new Float64Array(tree.nNodes);
    this.curvature = new Float64Array(tree.nNodes);
    this.#G0 = new Float64Array(comps.rates.length);
    this.#G1 = new Float64Array(comps.rates.length);
    this.#H0 = new Float64Array(comps.rates.length);
    this.#H1 = new Float64Array(comps.rates.length);
  }

  /**
   * Adds one expectations pass's branch sums (one set per rate component); with `curvature`
   * (data passes), also the expected hazards: with `J_ii(a, b)` the integral over the branch of
   * `P_ai(u) P_ib(t - u)` (the time in state i times `P_ab(t)`), the expected time in state i
   * is `sum_ab M_ab J_ii(a, b)`.
   */
  add(branch: Float64Array, fittedError: boolean, curvature: boolean): void {
    const tree = this.#tree;
    const nK = this.#nK;
    const comps = this.#comps.rates;
    for (let c = 0; c < comps.length; c++) {
      const { gain, loss } = comps[c];
      const s = gain + loss;
      const pi1 = gain / s, pi0 = loss / s;
      const dPi = pi0 * pi1;
      let G0 = 0, G1 = 0, H0 = 0, H1 = 0;
      for (let v = 0; v < tree.nNodes - 1; v++) {
        const o = (c * nK + v + this.#offset) * 4;
        const B00 = branch[o], B01 = branch[o + 1], B10 = branch[o + 2], B11 = branch[o + 3];
        const t = this.#t[v];
        const e = Math.expm1(-s * t);
        const E1 = Math.exp(-s * t);
        this.lengths[v] += E1 * (gain * (B01 - B00) + loss * (B10 - B11));
        // dP / d log gain and d log loss (as in two_state.ts transitionDerivatives).
        const deG = -t * E1 * gain;
        const g00 = dPi * e + pi1 * deG;
        const g10 = dPi * e - pi0 * deG;
        const deL = -t * E1 * loss;
        const l00 = -dPi * e + pi1 * deL;
        const l10 = -(dPi * e + pi0 * deL);
        G0 += g00 * (B00 - B01) + g10 * (B10 - B11);
        G1 += l00 * (B00 - B01) + l10 * (B10 - B11);
        if (curvature) {
          // J_ii(a, b) = pi_i pi_b t + (pi_i B + A pi_b) F + A B t E1, A = [a = i] - pi_i,
          // B = [i = b] - pi_b, F = (1 - E1) / s.
          const F = -e / s;
          const j = (i: number, a: number, b: number) => {
            const pi = i === 0 ? pi0 : pi1, pb = b === 0 ? pi0 : pi1;
            const A = (a === i ? 1 : 0) - pi, B = (b === i ? 1 : 0) - pb;
            return pi * pb * t + (pi * B + A * pb) * F + A * B * t * E1;
          };
          const d0 = B00 * j(0, 0, 0) + B01 * j(0, 0, 1) + B10 * j(0, 1, 0) + B11 * j(0, 1, 1);
          const d1 = B00 * j(1, 0, 0) + B01 * j(1, 0, 1) + B10 * j(1, 1, 0) + B11 * j(1, 1, 1);
          this.curvature[v] += gain * d0 + loss * d1;
          H0 += gain * d0;
          H1 += loss * d1;
        }
      }
      this.#H0[c] += H0;
      this.#H1[c] += H1;
      const r = (c * nK + nK - 1) * 4;
      G0 += pi0 * branch[r + 3] - pi1 * branch[r];
      G1 += pi1 * branch[r] - pi0 * branch[r + 3];
      this.#G0[c] += G0;
      this.#G1[c] += G1;
      if (fittedError) {
        const completeness = this.#completeness!;
        for (let i = 0; i < tree.nTips; i++) {
          const o = (c * nK + i) * 4;
          this.#ePlus += branch[o + 1] - branch[o];
          this.#eMinus += completeness[i] * (branch[o + 2] - branch[o + 3]);
        }
      }
    }
  }

  /** Adds d logL / d log gain_k and d logL / d log loss_k of rate component `k`. */
  addRates(k: number, dLogGain: number, dLogLoss: number): void {
    this.#G0[k] += dLogGain;
    this.#G1[k] += dLogLoss;
  }

  /** Adds d logL / d falsePresence and d logL / d falseAbsence. */
  addError(dPlus: number, dMinus: number): void {
    this.#ePlus += dPlus;
    this.#eMinus += dMinus;
  }

  /** Complete-data information of every parameter (natural scale) from the expected hazards. */
  parameterCurvature(): Float64Array {
    const comps = this.#comps;
    const g = new Float64Array(comps.parameters.length);
    comps.rates.forEach((rc, k) => {
      for (let i = 0; i < g.length; i++) {
        g[i] += rc.gainCoefficient[i] ** 2 * this.#H0[k] + rc.lossCoefficient[i] ** 2 * this.#H1[k];
      }
    });
    return g;
  }

  /** d logL / d value from the sums, the component shares S and the invariant error term. */
  parameterGradient(S: Float64Array, invError: number): Float64Array {
    const comps = this.#comps;
    const n = comps.parameters.length;
    const g = new Float64Array(n);
    const C = comps.rates.length;
    for (let k = 0; k < C; k++) {
      const rc = comps.rates[k];
      for (let i = 0; i < n; i++) {
        g[i] += S[k] * rc.dLogWeight[i] + this.#G0[k] * rc.gainCoefficient[i] +
          this.#G1[k] * rc.lossCoefficient[i];
      }
    }
    if (comps.invariant) {
      for (let i = 0; i < n; i++) g[i] += S[C] * comps.invariant.dLogWeight[i];
    }
    if (comps.errorIndex) {
      const [fp, fa] = comps.errorIndex;
      g[fp] += this.#ePlus;
      g[fa] += this.#eMinus + invError;
    }
    return g;
  }
}

/** Options of {@linkcode optimizeBranchLengths}. */
export interface BranchLengthFitOptions {
  /** Maximum L-BFGS iterations (default 3000). */
  readonly maxIterations?: number;
  /**
   * Stop when the largest component of the gradient with respect to the preconditioned
   * coordinates z ({@linkcode optimizeBranchLengths}) is below this (default 3e-4: the gain left
   * along a coordinate is then about 0.5 g_z^2 h / h_observed, of the order of 1e-7).
   */
  readonly gradientTolerance?: number;
  /** Called after each evaluation with the log-likelihood and the count so far. */
  readonly onEvaluation?: (logLik: number, evaluations: number) => void;
}

/** The result of {@linkcode optimizeBranchLengths}. */
export interface BranchLengthFit {
  /** The tree with the fitted lengths (topology, names and labels of the input). */
  readonly tree: FlatTree;
  /** The model's parameters at the optimum, per unit branch length of the fitted tree. */
  readonly values: Float64Array;
  /** The maximised log-likelihood. */
  readonly logLik: number;
  /** The log-likelihood at the starting values and lengths. */
  readonly startLogLik: number;
  /** The fitted tree's total length (held at the starting tree's: see the module notes). */
  readonly totalLength: number;
  /** Whether L-BFGS met a convergence rule (not the iteration limit or a failed line search). */
  readonly converged: boolean;
  /** Why it stopped. */
  readonly reason: string;
  /** L-BFGS iterations. */
  readonly iterations: number;
  /** Likelihood evaluations. */
  readonly evaluations: number;
}

/** Working bound of logit-scaled parameters (as the generic fitter's: within 1e-10 of the ends). */
const LOGIT_BOUND = 23;
/**
 * Working bounds of the free log-length coordinates y (t = T softmax(y), y starting at
 * log(t / T)): a branch whose likelihood keeps rising towards length 0 stops near
 * e^-20 T (about 2e-9 of the tree length, as IQ-TREE stops at its minimum length), which
 * changes the log-likelihood by less than |d logL / dt| e^-20 T.
 */
const Y_LOWER = -20;
const Y_UPPER = 5;

function toWorking(spec: ParameterSpec, v: number): number {
  if (spec.transform === "log") return Math.log(v);
  const lo = spec.lower, hi = spec.upper;
  return Math.log((v - lo) / (hi - v));
}

function fromWorking(spec: ParameterSpec, x: number): { value: number; slope: number } {
  if (spec.transform === "log") {
    const value = Math.exp(x);
    return { value, slope: value };
  }
  const lo = spec.lower, hi = spec.upper;
  const s = 1 / (1 + Math.exp(-x));
  const value = lo + (hi - lo) * s;
  return { value, slope: (hi - lo) * s * (1 - s) };
}

/**
 * Starting lengths for branch-length optimisation: the tree's own, with every zero-length branch
 * (root excluded) set to 1e-3 times the mean positive length (1 when no branch has a length), so
 * that every length is positive; the root's entry is 0.
 *
 * @example
 * ```ts
 * import { startingLengths } from "./branch_lengths.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0, 2, 0]);
 * console.assert(startingLengths(tree)[0] === 0.002);
 * ```
 */
export function startingLengths(tree: FlatTree): Float64Array {
  const t = Float64Array.from(tree.branchLength);
  let sum = 0, n = 0;
  for (let v = 0; v < tree.nNodes - 1; v++) {
    if (t[v] > 0) {
      sum += t[v];
      n++;
    }
  }
  const small = n > 0 ? 1e-3 * sum / n : 1;
  for (let v = 0; v < tree.nNodes - 1; v++) if (!(t[v] > 0)) t[v] = small;
  t[tree.nNodes - 1] = 0;
  return t;
}

/**
 * Joint maximum likelihood of the model's parameters and every branch length by L-BFGS on the
 * working scale of the parameters (log or logit) and on free log-length coordinates y with
 * t = T softmax(y), T the total of `lengths` (held fixed: rates and lengths are confounded by
 * one factor). Gradients are analytic ({@linkcode BranchLengthLikelihood.evaluate}).
 *
 * The lengths' curvatures differ by orders of magnitude, so L-BFGS runs on preconditioned
 * coordinates z_i = x_i sqrt(h_i), with h the complete-data (EM) information at the start: the
 * expected hazard of each branch for its log length, the expected events of each rate component
 * for the rate parameters, and a finite-difference curvature for parameters that change no rate
 * (weights, error rates). The first step is then the EM step, and the gradient in z measures
 * what is left to gain (about g_z^2 / 2 per coordinate). On the 1,324 x 25,420 benchmark this
 * took 81 evaluations instead of several hundred, and 48 instead of 134 on 100 x 1,000. L-BFGS
 * keeps up to 200 correction pairs (the two-loop recursion costs far less than an expectations
 * pass), and no coordinate of z moves by more than 10 in one step (about 50 log-likelihood units
 * of the surrogate along it).
 *
 * @example
 * ```ts
 * import { BranchLengthLikelihood, optimizeBranchLengths } from "./branch_lengths.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const rows = Uint8Array.of(1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0);
 * const patterns = compressPatterns(rows, 4, 3, ["f1", "f2", "f3", "f4"]);
 * using lik = new BranchLengthLikelihood(tree, patterns, tsBackendFactory, parseModel("null"));
 * const fit = optimizeBranchLengths(lik, Float64Array.of(0.5, 1), tree.branchLength);
 * console.assert(fit.logLik >= fit.startLogLik && Math.abs(fit.totalLength - 0.7) < 1e-12);
 * ```
 */
export function optimizeBranchLengths(
  lik: BranchLengthLikelihood,
  values: Float64Array,
  lengths: ArrayLike<number>,
  options: BranchLengthFitOptions = {},
): BranchLengthFit {
  const tree = lik.tree;
  const nNodes = tree.nNodes;
  const nB = nNodes - 1;
  const specs = lik.parameters;
  const nP = specs.length;
  let T = 0;
  for (let v = 0; v < nB; v++) T += lengths[v];
  const x0 = new Float64Array(nP + nB);
  const lower = new Float64Array(nP + nB);
  const upper = new Float64Array(nP + nB);
  specs.forEach((s, i) => {
    x0[i] = toWorking(s, values[i]);
    const b = s.transform === "logit" ? LOGIT_BOUND : 30;
    lower[i] = s.transform === "logit" ? -b : x0[i] - b;
    upper[i] = s.transform === "logit" ? b : x0[i] + b;
  });
  for (let v = 0; v < nB; v++) {
    x0[nP + v] = Math.min(Y_UPPER, Math.max(Y_LOWER, Math.log(lengths[v] / T)));
    lower[nP + v] = Y_LOWER;
    upper[nP + v] = Y_UPPER;
  }
  const decode = (x: Float64Array) => {
    const vals = new Float64Array(nP);
    const slopes = new Float64Array(nP);
    for (let i = 0; i < nP; i++) {
      const r = fromWorking(specs[i], x[i]);
      vals[i] = r.value;
      slopes[i] = r.slope;
    }
    let top = -Infinity;
    for (let v = 0; v < nB; v++) top = Math.max(top, x[nP + v]);
    let z = 0;
    const t = new Float64Array(nNodes);
    for (let v = 0; v < nB; v++) {
      t[v] = Math.exp(x[nP + v] - top);
      z += t[v];
    }
    for (let v = 0; v < nB; v++) t[v] *= T / z;
    return { vals, slopes, t };
  };
  let evaluations = 0;
  const evalAt = (x: Float64Array) => {
    const { vals, slopes, t } = decode(x);
    const ev = lik.evaluate(vals, t, true);
    evaluations++;
    options.onEvaluation?.(ev.logLik, evaluations);
    const g = new Float64Array(nP + nB);
    for (let i = 0; i < nP; i++) g[i] = -ev.gradient![i] * slopes[i];
    // d/dy_v of logL(T softmax(y)) = t_v (g_v - sum_u t_u g_u / T).
    let mean = 0;
    for (let v = 0; v < nB; v++) mean += t[v] * ev.lengthGradient![v];
    mean /= T;
    for (let v = 0; v < nB; v++) g[nP + v] = -t[v] * (ev.lengthGradient![v] - mean);
    const value = Number.isFinite(ev.logLik) ? -ev.logLik : Infinity;
    return { value, gradient: g, ev, slopes };
  };
  // Diagonal preconditioner: the complete-data (EM) information of every coordinate at the
  // start; parameters that change no rate get a finite-difference curvature of the gradient.
  const first = evalAt(x0);
  const startLogLik = -first.value;
  const h = new Float64Array(nP + nB);
  for (let i = 0; i < nP; i++) h[i] = first.ev.parameterCurvature![i] * first.slopes[i] ** 2;
  for (let v = 0; v < nB; v++) h[nP + v] = first.ev.lengthCurvature![v];
  for (let i = 0; i < nP; i++) {
    if (h[i] > 0) continue;
    const x = Float64Array.from(x0);
    const d = x[i] < upper[i] - 1e-3 ? 1e-3 : -1e-3;
    x[i] += d;
    h[i] = Math.abs((evalAt(x).gradient[i] - first.gradient[i]) / d);
  }
  const CURVATURE_FLOOR = 1e-3;
  const scale = Float64Array.from(h, (c) => Math.sqrt(Math.max(c, CURVATURE_FLOOR)));
  const toZ = (x: ArrayLike<number>) => Float64Array.from(x, (xi, i) => xi * scale[i]);
  const fromZ = (z: Float64Array) => Float64Array.from(z, (zi, i) => zi / scale[i]);
  let cached: { z: Float64Array; value: number; gradient: Float64Array } | null = {
    z: toZ(x0),
    value: first.value,
    gradient: Float64Array.from(first.gradient, (gi, i) => gi / scale[i]),
  };
  const result = minimizeLbfgs(
    (z) => {
      if (cached && cached.z.every((zi, i) => zi === z[i])) {
        const c = cached;
        cached = null;
        return c;
      }
      const r = evalAt(fromZ(z));
      return { value: r.value, gradient: Float64Array.from(r.gradient, (gi, i) => gi / scale[i]) };
    },
    toZ(x0),
    {
      lower: toZ(lower),
      upper: toZ(upper),
      maxIterations: options.maxIterations ?? 3000,
      gradientTolerance: options.gradientTolerance ?? 3e-4,
      maxStep: 10,
      memory: Math.min(200, nP + nB),
      initialInverseDiagonal: new Float64Array(nP + nB).fill(1),
    },
  );
  const end = decode(fromZ(result.x));
  const fitted = flatTreeFromParents(tree.tipNames, tree.parent, end.t, tree.internalLabels);
  return {
    tree: fitted,
    values: end.vals,
    logLik: -result.value,
    startLogLik,
    totalLength: totalLength(fitted),
    converged: result.converged,
    reason: result.reason,
    iterations: result.iterations,
    evaluations,
  };
}

/** Options of {@linkcode fitBranchLengths}. */
export interface FitBranchLengthsOptions extends BranchLengthFitOptions {
  /** Per-genome completeness (as `ModelLikelihood`'s). */
  readonly completeness?: Float64Array | null;
  /** Starting parameter values (natural scale); default: fitted on the starting tree. */
  readonly values?: Float64Array;
}

/**
 * Fits a model's parameters and every branch length of `tree`'s topology: the parameters are
 * first fitted on the tree with {@linkcode startingLengths} (generic fitter, no intervals),
 * then everything jointly ({@linkcode optimizeBranchLengths}). The fitted tree keeps the
 * starting tree's total length; the rates are per unit branch length of the fitted tree.
 *
 * @example
 * ```ts
 * import { fitBranchLengths } from "./branch_lengths.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0, 0]);
 * const rows = Uint8Array.of(1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0);
 * const patterns = compressPatterns(rows, 5, 3, ["f1", "f2", "f3", "f4", "f5"]);
 * const fit = fitBranchLengths(tree, patterns, tsBackendFactory, parseModel("null"));
 * console.assert(fit.tree.branchLength.every((t, v) => v === 4 || t > 0));
 * ```
 */
export function fitBranchLengths(
  tree: FlatTree,
  patterns: SitePatterns,
  factory: BackendFactory,
  model: ModelDescription,
  window: Ascertainment = AT_LEAST_ONE,
  options: FitBranchLengthsOptions = {},
): BranchLengthFit {
  const t0 = startingLengths(tree);
  const startTree = flatTreeFromParents(tree.tipNames, tree.parent, t0, tree.internalLabels);
  const completeness = options.completeness ?? null;
  let values = options.values;
  if (!values) {
    using ml = new ModelLikelihood(startTree, patterns, factory, model, window, { completeness });
    values = fitModel(modelObjective(ml), { level: null }).values;
  }
  using lik = new BranchLengthLikelihood(startTree, patterns, factory, model, window, {
    completeness,
  });
  if (values.length !== lik.parameters.length) {
    throw new GenecontentError(
      `Model ${formatModel(model)} has ${lik.parameters.length} parameters; got ` +
        `${values.length} starting values.`,
    );
  }
  return optimizeBranchLengths(lik, values, t0, options);
}
