/**
 * From a model and its parameter values to what the pruning backends evaluate: a list of
 * *components*, each a share of the families with its own rates, and the kernel's rate
 * assignments for them.
 *
 * - `null`: one component, weight 1, rates (gain, loss).
 * - `gammaK`: K components of weight 1/K with rates (r_c gain, r_c loss), r_c the discrete gamma
 *   category rates ({@linkcode gammaCategoryRates}).
 * - `mixtureK`: K components with their own (gain_c, loss_c) and stick-breaking weights
 *   w_c = split_c prod_{d < c} (1 - split_d) (the last class takes the rest).
 * - `+inv`: one more component of weight pInv that never changes state (present everywhere); its
 *   column probability is closed-form (no pruning); the rate components then share 1 - pInv.
 *
 * Each rate component carries the map from the backend's two directional derivatives (d/d log
 * gain_c and d/d log loss_c of its tree branches) back to the model's parameters, on their
 * natural scale: d log L_c / d value_i = gainCoefficient[i] * D0 + lossCoefficient[i] * D1. For
 * gamma, gain and loss enter through 1 / gain and 1 / loss, and alpha through d log r_c / d alpha
 * on both channels; for a mixture, each class's gain and loss only move their class. Weights
 * have analytic log-derivatives (`dLogWeight`).
 *
 * Tip error ({@linkcode TipErrorSetup}) runs the backends on the tree extended by a pendant
 * branch under every tip (`tip_error.ts`) with per-branch rates; the derivatives with respect
 * to falsePresence and falseAbsence are a second pair of tangent directions, evaluated as a
 * second parameter set per component (the same rates, other directions), so one backend call
 * serves every component and every derivative.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { EvaluateOptions } from "../likelihood/backend.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import {
  formatModel,
  type ModelDescription,
  modelParameters,
  type ParameterSpec,
} from "./description.ts";
import { gammaCategoryRates } from "./gamma.ts";
import { extendWithPendants, genomeFalseAbsence, pendantRates } from "./tip_error.ts";

/** A component whose families evolve by the two-state chain at its own rates. */
export interface RateComponent {
  /** Gain rate on the tree's branches. */
  readonly gain: number;
  /** Loss rate on the tree's branches. */
  readonly loss: number;
  /** Natural log of the component's weight (share of families). */
  readonly logWeight: number;
  /** d log(weight) / d value_i for every free parameter. */
  readonly dLogWeight: Float64Array;
  /** Coefficient of d log L_c / d log(gain_c) in d log L_c / d value_i. */
  readonly gainCoefficient: Float64Array;
  /** Coefficient of d log L_c / d log(loss_c) in d log L_c / d value_i. */
  readonly lossCoefficient: Float64Array;
}

/** The component of families that never change state (present everywhere). */
export interface InvariantComponent {
  /** log(pInv). */
  readonly logWeight: number;
  /** d log(pInv) / d value_i. */
  readonly dLogWeight: Float64Array;
}

/** A model at one parameter vector, as components. */
export interface ModelComponents {
  /** The model's free parameters (the order of `values`). */
  readonly parameters: readonly ParameterSpec[];
  /** The rate components. */
  readonly rates: readonly RateComponent[];
  /** The invariant component, with `+inv`. */
  readonly invariant: InvariantComponent | null;
  /** falsePresence (0 without `+error`). */
  readonly falsePresence: number;
  /** falseAbsence (0 without `+error`). */
  readonly falseAbsence: number;
  /** Indices of falsePresence and falseAbsence in the value vector, with `+error`. */
  readonly errorIndex: readonly [number, number] | null;
}

/**
 * Checks a value vector against a model's parameters: the right length, each value finite and
 * inside its domain. Errors name the parameter and the value.
 *
 * @example
 * ```ts
 * import { checkValues } from "./components.ts";
 * import { parseModel } from "./description.ts";
 * checkValues(parseModel("gamma4"), Float64Array.of(0.1, 0.2, 0.5));
 * ```
 */
export function checkValues(model: ModelDescription, values: ArrayLike<number>): ParameterSpec[] {
  const specs = modelParameters(model);
  if (values.length !== specs.length) {
    throw new GenecontentError(
      `Model ${formatModel(model)} has ${specs.length} parameters ` +
        `(${specs.map((p) => p.name).join(", ")}); got ${values.length} values.`,
    );
  }
  specs.forEach((p, i) => {
    const v = values[i];
    if (!(v > p.lower && v < p.upper && Number.isFinite(v))) {
      throw new GenecontentError(
        `Parameter ${p.name} of model ${formatModel(model)} must be in (${p.lower}, ${
          p.upper === Infinity ? "infinity" : p.upper
        }); got ${v}.`,
      );
    }
  });
  return specs;
}

/**
 * The components of `model` at natural-scale `values` (in the order of `modelParameters`).
 *
 * @example
 * ```ts
 * import { expandModel } from "./components.ts";
 * import { parseModel } from "./description.ts";
 * const c = expandModel(parseModel("gamma4+inv"), Float64Array.of(0.5, 1, 0.5, 0.1));
 * console.assert(c.rates.length === 4 && Math.abs(Math.exp(c.rates[0].logWeight) - 0.225) < 1e-15);
 * ```
 */
export function expandModel(model: ModelDescription, values: ArrayLike<number>): ModelComponents {
  const specs = checkValues(model, values);
  const n = specs.length;
  const at = (name: string) => specs.findIndex((p) => p.name === name);
  const rates: RateComponent[] = [];
  // The share left to the rate components.
  const inv = model.invariant ? at("pInv") : -1;
  const pInv = inv >= 0 ? values[inv] : 0;
  const restLog = Math.log1p(-pInv);
  const withRest = (d: Float64Array) => {
    if (inv >= 0) d[inv] += -1 / (1 - pInv);
    return d;
  };
  const r = model.rates;
  if (r.kind === "mixture") {
    const k = r.classes;
    let logStick = 0; // log prod_{d < c} (1 - split_d)
    for (let c = 0; c < k; c++) {
      const gi = at(`gain${c + 1}`), li = at(`loss${c + 1}`);
      const dLogWeight = new Float64Array(n);
      for (let d = 0; d < c; d++) {
        dLogWeight[at(`split${d + 1}`)] = -1 / (1 - values[at(`split${d + 1}`)]);
      }
      let logW = logStick;
      if (c < k - 1) {
        const si = at(`split${c + 1}`);
        logW += Math.log(values[si]);
        dLogWeight[si] = 1 / values[si];
        logStick += Math.log1p(-values[si]);
      }
      const gainCoefficient = new Float64Array(n);
      const lossCoefficient = new Float64Array(n);
      gainCoefficient[gi] = 1 / values[gi];
      lossCoefficient[li] = 1 / values[li];
      rates.push({
        gain: values[gi],
        loss: values[li],
        logWeight: logW + restLog,
        dLogWeight: withRest(dLogWeight),
        gainCoefficient,
        lossCoefficient,
      });
    }
  } else {
    const gain = values[0], loss = values[1];
    const categories = r.kind === "gamma"
      ? gammaCategoryRates(values[2], r.categories)
      : { rates: Float64Array.of(1), dRates: Float64Array.of(0) };
    const k = categories.rates.length;
    for (let c = 0; c < k; c++) {
      const rate = categories.rates[c];
      const gainCoefficient = new Float64Array(n);
      const lossCoefficient = new Float64Array(n);
      gainCoefficient[0] = 1 / gain;
      lossCoefficient[1] = 1 / loss;
      if (r.kind === "gamma") {
        const dLogRate = categories.dRates[c] / rate;
        gainCoefficient[2] = dLogRate;
        lossCoefficient[2] = dLogRate;
      }
      rates.push({
        gain: rate * gain,
        loss: rate * loss,
        logWeight: -Math.log(k) + restLog,
        dLogWeight: withRest(new Float64Array(n)),
        gainCoefficient,
        lossCoefficient,
      });
    }
  }
  let invariant: InvariantComponent | null = null;
  if (inv >= 0) {
    const dLogWeight = new Float64Array(n);
    dLogWeight[inv] = 1 / pInv;
    invariant = { logWeight: Math.log(pInv), dLogWeight };
  }
  const fp = model.tipError ? at("falsePresence") : -1;
  const fa = model.tipError ? at("falseAbsence") : -1;
  return {
    parameters: specs,
    rates,
    invariant,
    falsePresence: fp >= 0 ? values[fp] : 0,
    falseAbsence: fa >= 0 ? values[fa] : 0,
    errorIndex: fp >= 0 ? [fp, fa] : null,
  };
}

/** How the recorded cells relate to the true states: the pendant-branch layout. */
export interface TipErrorSetup {
  /** The tree the backends run on: the original tree with a pendant branch under every tip. */
  readonly tree: FlatTree;
  /** Whether falsePresence and falseAbsence are fitted (`+error`). */
  readonly fitted: boolean;
  /** Per-tip completeness in (0, 1] (all 1 when none was given). */
  readonly completeness: Float64Array;
}

/**
 * The pendant-branch layout for a tree, or `null` when the recorded cells are exact (no `+error`
 * and every genome complete). Pendant branches of exact tips (completeness 1 without `+error`)
 * have length 0.
 *
 * @example
 * ```ts
 * import { tipErrorSetup } from "./components.ts";
 * import { parseModel } from "./description.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * console.assert(tipErrorSetup(tree, parseModel("null"), null) === null);
 * console.assert(tipErrorSetup(tree, parseModel("null+error"), null)!.tree.nNodes === 5);
 * ```
 */
export function tipErrorSetup(
  tree: FlatTree,
  model: ModelDescription,
  completeness: Float64Array | null,
): TipErrorSetup | null {
  if (completeness) {
    if (completeness.length !== tree.nTips) {
      throw new RangeError(`${completeness.length} completeness values for ${tree.nTips} tips.`);
    }
    completeness.forEach((c, i) => {
      if (!(c > 0 && c <= 1)) {
        throw new GenecontentError(
          `Completeness of genome '${tree.tipNames[i]}' is ${c}; it must be in (0, 1].`,
        );
      }
    });
  }
  const c = completeness ?? new Float64Array(tree.nTips).fill(1);
  if (!model.tipError && c.every((x) => x === 1)) return null;
  const lengths = Float64Array.from(c, (x) => (model.tipError || x < 1 ? 1 : 0));
  return { tree: extendWithPendants(tree, lengths), fitted: model.tipError, completeness: c };
}

/** A batch of rate assignments for one backend call, and where each component's sets are. */
export interface KernelAssignments {
  /** The `rates` argument of `LikelihoodBackend.evaluate`. */
  readonly rates: Float64Array;
  /** The options (layout, gradient and tangents). */
  readonly options: EvaluateOptions;
  /** Number of parameter sets (components, times 2 with fitted tip error and gradients). */
  readonly nSets: number;
  /**
   * With fitted tip error and gradients: component c's set `c` carries d/d log gain_c and
   * d/d log loss_c, and set `nComponents + c` d/d falsePresence and d/d falseAbsence.
   */
  readonly errorSets: boolean;
  /** Per-tip false-absence probability (with a tip-error setup). */
  readonly falseAbsence: Float64Array | null;
}

/**
 * The rate assignments of the rate components: one global (gain, loss) set per component on the
 * plain tree, or per-branch sets on the extended tree with tip error (tree branches at the
 * component's rates, pendant branches at the error rates of each genome).
 *
 * @example
 * ```ts
 * import { expandModel, kernelAssignments } from "./components.ts";
 * import { parseModel } from "./description.ts";
 * const a = kernelAssignments(expandModel(parseModel("gamma4"), Float64Array.of(1, 2, 0.5)), null, false);
 * console.assert(a.nSets === 4 && a.rates.length === 8 && a.options.layout === "global");
 * ```
 */
export function kernelAssignments(
  components: ModelComponents,
  setup: TipErrorSetup | null,
  gradient: boolean,
): KernelAssignments {
  const comps = components.rates;
  const k = comps.length;
  if (!setup) {
    const rates = new Float64Array(2 * k);
    comps.forEach((c, i) => {
      rates[2 * i] = c.gain;
      rates[2 * i + 1] = c.loss;
    });
    // Default tangents are d/d log gain and d/d log loss of each set.
    return {
      rates,
      options: { gradient, layout: "global" },
      nSets: k,
      errorSets: false,
      falseAbsence: null,
    };
  }
  const tree = setup.tree;
  const nNodes = tree.nNodes;
  const nTips = tree.nTips;
  const r = 2 * nNodes;
  const ep = setup.fitted ? components.falsePresence : 0;
  const em = genomeFalseAbsence(setup.fitted ? components.falseAbsence : 0, setup.completeness);
  // Pendant pairs and their d log / d e+, d log / d e- (times c_i: d e-_i / d e- = c_i).
  const pendant = new Float64Array(2 * nTips);
  const dPlus = new Float64Array(2 * nTips);
  const dMinus = new Float64Array(2 * nTips);
  for (let i = 0; i < nTips; i++) {
    if (tree.branchLength[i] === 0) {
      pendant[2 * i] = 1; // an exact tip: any rates give the identity over length 0
      pendant[2 * i + 1] = 1;
      continue;
    }
    if (!(ep + em[i] < 1)) {
      throw new GenecontentError(
        `Genome '${tree.tipNames[i]}': falsePresence ${ep} plus its false-absence probability ` +
          `${em[i]} (from falseAbsence ${components.falseAbsence} and completeness ` +
          `${setup.completeness[i]}) must be below 1.`,
      );
    }
    const pr = pendantRates(ep, em[i]);
    pendant[2 * i] = pr.gain;
    pendant[2 * i + 1] = pr.loss;
    dPlus[2 * i] = pr.dFalsePresence[0];
    dPlus[2 * i + 1] = pr.dFalsePresence[1];
    dMinus[2 * i] = pr.dFalseAbsence[0] * setup.completeness[i];
    dMinus[2 * i + 1] = pr.dFalseAbsence[1] * setup.completeness[i];
  }
  const errorSets = gradient && setup.fitted;
  const nSets = errorSets ? 2 * k : k;
  const rates = new Float64Array(nSets * r);
  for (let s = 0; s < nSets; s++) {
    const c = comps[s % k];
    const o = s * r;
    rates.set(pendant, o);
    for (let v = nTips; v < nNodes; v++) {
      rates[o + 2 * v] = c.gain;
      rates[o + 2 * v + 1] = c.loss;
    }
  }
  if (!gradient) {
    return {
      rates,
      options: { gradient: false, layout: "perBranch" },
      nSets,
      errorSets,
      falseAbsence: em,
    };
  }
  const tangents = new Float64Array(nSets * 2 * r);
  for (let s = 0; s < nSets; s++) {
    const d0 = (s * 2) * r, d1 = (s * 2 + 1) * r;
    if (s < k) {
      // The component's tree branches (and the root prior): log gain, then log loss.
      for (let v = nTips; v < nNodes; v++) {
        tangents[d0 + 2 * v] = 1;
        tangents[d1 + 2 * v + 1] = 1;
      }
    } else {
      tangents.set(dPlus, d0);
      tangents.set(dMinus, d1);
    }
  }
  return {
    rates,
    options: { gradient: true, layout: "perBranch", tangents },
    nSets,
    errorSets,
    falseAbsence: em,
  };
}

/** Per-node log multipliers of one variant of the rates (see `effects.ts`). */
export interface RateVariant {
  /** `log gain_v - log gain` per tree node (no pendants); null: 0 everywhere. */
  readonly gain: Float64Array | null;
  /** `log loss_v - log loss` per tree node; null: 0 everywhere. */
  readonly loss: Float64Array | null;
}

/** A tangent direction over the tree's log-rates, beyond "every log gain" and "every log loss". */
export interface ExtraDirection {
  /** The rate it moves. */
  readonly channel: "gain" | "loss";
  /** d log(rate_v) per tree node (no pendants), the root's entry for the root prior. */
  readonly design: Float64Array;
}

/**
 * A batch of rate assignments over variants of the components' rates, with every tangent
 * direction the gradient needs. Directions of each component, in order: 0 every log gain of the
 * tree (branches and root prior), 1 every log loss, then with fitted tip error and gradients
 * falsePresence and falseAbsence, then the extra directions. They are packed two per parameter
 * set: direction `j` of component `k` in variant `u` is slot `j % 2` of set
 * `(u * pairs + floor(j / 2)) * nComponents + k`.
 */
export interface GroupAssignments {
  /** The `rates` argument of `LikelihoodBackend.evaluate` (and `ObservableWindow.evaluate`). */
  readonly rates: Float64Array;
  /** Layout, gradient and tangents. */
  readonly options: EvaluateOptions;
  /** Number of parameter sets: variants x pairs x components. */
  readonly nSets: number;
  /** Number of direction pairs per component and variant (1 without gradients). */
  readonly pairs: number;
  /** Number of directions per component (0 without gradients). */
  readonly nDirections: number;
  /** Index of the falsePresence direction (falseAbsence is the next), or -1. */
  readonly errorDirection: number;
  /** Index of the first extra direction. */
  readonly extraDirection: number;
  /** Per-tip false-absence probability (with a tip-error setup). */
  readonly falseAbsence: Float64Array | null;
}

/**
 * The rate assignments of the rate components under several variants of per-branch rate
 * multipliers (a family group's effects, or a grid of multipliers), with the tangent directions
 * of `extra` on top of the model's own. Uses the global layout when it can (no tip-error setup,
 * no extra direction and every variant uniform over the nodes), per-branch otherwise.
 *
 * @example
 * ```ts
 * import { expandModel, groupAssignments } from "./components.ts";
 * import { parseModel } from "./description.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * const comps = expandModel(parseModel("null"), Float64Array.of(1, 2));
 * const a = groupAssignments(tree, comps, null, false, [{ gain: null,
 *   loss: new Float64Array(3).fill(Math.log(3)) }], []);
 * console.assert(a.options.layout === "global" && Math.abs(a.rates[1] - 6) < 1e-12);
 * ```
 */
export function groupAssignments(
  tree: FlatTree,
  components: ModelComponents,
  setup: TipErrorSetup | null,
  gradient: boolean,
  variants: readonly RateVariant[],
  extra: readonly ExtraDirection[],
): GroupAssignments {
  const comps = components.rates;
  const C = comps.length;
  const V = variants.length;
  const nTree = tree.nNodes;
  const uniform = (m: Float64Array | null) => !m || m.every((x) => x === m[0]);
  const errorDirs = gradient && setup !== null && setup.fitted;
  const nDirections = gradient ? 2 + (errorDirs ? 2 : 0) + extra.length : 0;
  const errorDirection = errorDirs ? 2 : -1;
  const extraDirection = 2 + (errorDirs ? 2 : 0);
  if (!setup && extra.length === 0 && variants.every((u) => uniform(u.gain) && uniform(u.loss))) {
    const rates = new Float64Array(2 * C * V);
    variants.forEach((u, i) => {
      const mg = u.gain ? Math.exp(u.gain[0]) : 1;
      const ml = u.loss ? Math.exp(u.loss[0]) : 1;
      comps.forEach((c, k) => {
        rates[2 * (i * C + k)] = c.gain * mg;
        rates[2 * (i * C + k) + 1] = c.loss * ml;
      });
    });
    return {
      rates,
      options: { gradient, layout: "global" },
      nSets: C * V,
      pairs: 1,
      nDirections,
      errorDirection,
      extraDirection,
      falseAbsence: null,
    };
  }
  const kTree = setup?.tree ?? tree;
  const nNodes = kTree.nNodes;
  const shift = setup ? tree.nTips : 0; // tree node v is kernel node v + shift
  const r = 2 * nNodes;
  // Pendant rates and their error tangents come from the plain assignments of the model.
  const plain = setup ? kernelAssignments(components, setup, errorDirs) : null;
  const pairs = gradient ? Math.ceil(nDirections / 2) : 1;
  const nSets = V * pairs * C;
  const rates = new Float64Array(nSets * r);
  const tangents = gradient ? new Float64Array(nSets * 2 * r) : null;
  for (let u = 0; u < V; u++) {
    const { gain: mg, loss: ml } = variants[u];
    for (let q = 0; q < pairs; q++) {
      for (let k = 0; k < C; k++) {
        const s = (u * pairs + q) * C + k;
        const o = s * r;
        if (plain) rates.set(plain.rates.subarray(k * r, k * r + 2 * shift), o);
        const c = comps[k];
        for (let v = 0; v < nTree; v++) {
          rates[o + 2 * (v + shift)] = c.gain * (mg ? Math.exp(mg[v]) : 1);
          rates[o + 2 * (v + shift) + 1] = c.loss * (ml ? Math.exp(ml[v]) : 1);
        }
        if (!tangents) continue;
        for (let slot = 0; slot < 2; slot++) {
          const j = 2 * q + slot;
          if (j >= nDirections) continue;
          const d = (s * 2 + slot) * r;
          if (j < 2) {
            for (let v = 0; v < nTree; v++) tangents[d + 2 * (v + shift) + j] = 1;
          } else if (j < extraDirection) {
            // The error directions: the plain assignments' second set of this component.
            const e = ((C + k) * 2 + (j - 2)) * r;
            tangents.set(plain!.options.tangents!.subarray(e, e + 2 * shift), d);
          } else {
            const x = extra[j - extraDirection];
            const ch = x.channel === "gain" ? 0 : 1;
            for (let v = 0; v < nTree; v++) tangents[d + 2 * (v + shift) + ch] = x.design[v];
          }
        }
      }
    }
  }
  return {
    rates,
    options: tangents
      ? { gradient: true, layout: "perBranch", tangents }
      : { gradient: false, layout: "perBranch" },
    nSets,
    pairs,
    nDirections,
    errorDirection,
    extraDirection,
    falseAbsence: plain?.falseAbsence ?? null,
  };
}
