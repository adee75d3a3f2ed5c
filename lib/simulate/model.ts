/**
 * Simulation of a presence/absence matrix under any model of `lib/model/description.ts`, with the
 * truth a fit can be checked against.
 *
 * Each family draws its component (a discrete-gamma category, a mixture class, or the invariant
 * class), then its history on the tree: the root state from the component's stationary
 * distribution, and along each branch the exact jump process, simulated directly (Gillespie): in
 * state x the chain leaves at rate q_x (q_0 = gain, q_1 = loss), so a branch of length t keeps
 * its parent's state without any event with probability exp(-q_x t), the common case, which
 * costs one 32-bit draw; otherwise the first jump time is drawn from the exponential truncated
 * to [0, t) and the chain runs on with exponential holding times to the end of the branch. The
 * true numbers of gains and losses per branch and family are counted along the way.
 *
 * Invariant families are present everywhere and never change. The recorded PAM then has, per
 * cell and independently: missing (`missing` rate); else, if truly absent, recorded present with
 * probability `falsePresence`; if truly present, recorded absent with probability
 * `1 - (1 - falseAbsence) c_i` (`c_i` the completeness of genome `i`, 1 when not given;
 * `falseAbsence` 0 without `+error`). Families whose number of recorded present cells falls
 * outside the ascertainment window are discarded and counted, as the likelihood conditions on
 * that window.
 *
 * With effects (`options.effects`, the log-linear rate multipliers of `lib/model/effects.ts`),
 * kept family f belongs to group `effects.groups.ofFamily[f]` (a family set, or -1 for none)
 * and every attempt at filling row f draws under that group's rates: on the branch above node v
 * `gain_c exp(sum_e theta_e x_{e,v})` over the gain effects applying to the group (every effect
 * with `sets: null`, and those listing the group's set), and likewise for loss, `x_{e,v} = 1`
 * for an effect without a design; the root state comes from the stationary distribution of the
 * root entry's rates. Attempts outside the window are discarded as before, so each row is a
 * draw conditioned on the window under its own group's rates, which is how the likelihood
 * conditions each family. Cell recording (missing cells, tip error, completeness) is unaffected.
 *
 * The output is a function of the seed alone (xoshiro128** in `random.ts`, IEEE arithmetic and
 * V8's deterministic `Math` functions): the same seed gives byte-identical results.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import {
  type Ascertainment,
  formatModel,
  type ModelDescription,
  modelParameters,
} from "../model/description.ts";
import { gammaCategoryRates } from "../model/gamma.ts";
import { namedValues, valuesFromNames, weightsFromSplits } from "../model/values.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { Random } from "./random.ts";
import {
  checkEffectSetup,
  effectApplies,
  type EffectChannel,
  type EffectSetup,
  groupLogMultipliers,
} from "../model/effects.ts";

const TWO_POW_32 = 4294967296;

/** Parameter values: a vector in the order of `modelParameters(model)`, or by name. */
export type ModelValues = ArrayLike<number> | Readonly<Record<string, number>>;

/** One component of the model's family-level mixture. */
export interface SimulationComponent {
  /** Label for reports: `all`, `category 2`, `class 1`, `invariant`. */
  readonly label: string;
  /** Share of simulated (not kept) families in it. */
  readonly weight: number;
  /** Whether it is the invariant class (never changes state, present everywhere). */
  readonly invariant: boolean;
  /** Gain rate per unit branch length (0 for the invariant class). */
  readonly gain: number;
  /** Loss rate per unit branch length (0 for the invariant class). */
  readonly loss: number;
  /** The discrete-gamma rate multiplier of a category; 1 otherwise (0 when invariant). */
  readonly rateMultiplier: number;
}

/** Options of {@linkcode simulateModel}. */
export interface SimulateModelOptions {
  /** Number of families to keep (rows of the PAM), a whole number >= 0. */
  readonly nFamilies: number;
  /** Seed of a fresh {@linkcode Random}; give this or `rng`. */
  readonly seed?: number;
  /** A generator to draw from (advanced by the call); give this or `seed`. */
  readonly rng?: Random;
  /**
   * The prevalence window: families whose recorded present count (over their non-missing cells)
   * is outside it are discarded. Default `{ minPresent: 1, maxPresent: null }`, as in a real PAM.
   */
  readonly ascertainment?: Ascertainment;
  /** Probability that a cell is missing (written as 2), independently; default 0. */
  readonly missing?: number;
  /** Per-genome completeness in (0, 1], in the tree's tip order; default all 1. */
  readonly completeness?: ArrayLike<number>;
  /** Stop with an error after this many simulated families; default 1000 nFamilies + 100000. */
  readonly maxSimulated?: number;
  /** Also return every (family, branch) with at least one event; default false. */
  readonly recordEvents?: boolean;
  /** Also return the true state of every node of every kept family; default false. */
  readonly recordNodeStates?: boolean;
  /**
   * Effects on the background's rates (see the module documentation); `groups.ofFamily` then
   * gives the set of every kept row (its length must be `nFamilies`). Default none.
   */
  readonly effects?: EffectSetup;
  /** The value of every effect: by name, or a vector in the order of `effects.effects`. */
  readonly effectValues?: ArrayLike<number> | Readonly<Record<string, number>>;
}

/** An effect as simulated, for the truth of a simulation. */
export interface SimulatedEffect {
  /** Its parameter name. */
  readonly name: string;
  /** What it is, in words. */
  readonly description: string;
  /** The rate it multiplies. */
  readonly channel: EffectChannel;
  /** Its value theta (the rate is multiplied by exp(theta x_v)). */
  readonly theta: number;
  /** Names of the sets it applies to; null: every family. */
  readonly sets: readonly string[] | null;
  /** x_v per node (root last), or null: 1 on every branch and on the root prior. */
  readonly design: Float64Array | null;
}

/** Per family group (no set first, then each set): attempts and kept rows. */
export interface GroupCounts {
  /** Group names: `(none)` for families in no set, then the set names. */
  readonly names: readonly string[];
  /** Families simulated (attempts) per group. */
  readonly simulated: Float64Array;
  /** Kept rows per group. */
  readonly kept: Float64Array;
}

/** The (family, branch) pairs with at least one event, for kept families (family-major order). */
export interface BranchEvents {
  /** Kept-family index. */
  readonly family: Uint32Array;
  /** Node whose parent branch had the events. */
  readonly node: Uint32Array;
  /** Number of gains (0 -> 1) on that branch. */
  readonly gains: Uint32Array;
  /** Number of losses (1 -> 0) on that branch. */
  readonly losses: Uint32Array;
}

/** The result of {@linkcode simulateModel}: the recorded PAM and the truth behind it. */
export interface ModelSimulation {
  /** The model simulated. */
  readonly model: ModelDescription;
  /** Its canonical name. */
  readonly modelName: string;
  /** Parameter values, in the order of `modelParameters(model)`. */
  readonly values: Float64Array;
  /** Parameter values by name. */
  readonly parameters: Readonly<Record<string, number>>;
  /** The prevalence window applied. */
  readonly ascertainment: Ascertainment;
  /** Missing-cell rate. */
  readonly missing: number;
  /** Per-tip probability that a truly present cell is recorded absent. */
  readonly falseAbsence: Float64Array;
  /** Probability that a truly absent cell is recorded present. */
  readonly falsePresence: number;
  /** The components families were drawn from. */
  readonly components: readonly SimulationComponent[];
  /** Number of tips (columns). */
  readonly nTips: number;
  /** Number of kept families (rows). */
  readonly nFamilies: number;
  /** Families simulated in total. */
  readonly nSimulated: number;
  /** Families discarded for having fewer than `minPresent` recorded present cells. */
  readonly nBelowWindow: number;
  /** Families discarded for having more than `maxPresent` recorded present cells. */
  readonly nAboveWindow: number;
  /** Recorded cells, family-major (`states[f * nTips + tip]`): 0 absent, 1 present, 2 missing. */
  readonly states: Uint8Array;
  /** Component index (into `components`) of each kept family. */
  readonly component: Uint8Array;
  /** True number of gains of each kept family over the whole tree. */
  readonly familyGains: Uint32Array;
  /** True number of losses of each kept family over the whole tree. */
  readonly familyLosses: Uint32Array;
  /** True gains on the branch above each node, summed over kept families (root: 0). */
  readonly branchGains: Float64Array;
  /** True losses on the branch above each node, summed over kept families (root: 0). */
  readonly branchLosses: Float64Array;
  /** With `recordEvents`: every (family, branch) with events. */
  readonly events?: BranchEvents;
  /** With `recordNodeStates`: true states, `nodeStates[f * nNodes + node]`, of kept families. */
  readonly nodeStates?: Uint8Array;
  /** Cells of kept families recorded missing. */
  readonly nMissingCells: number;
  /** Cells of kept families truly absent but recorded present. */
  readonly nFalsePresentCells: number;
  /** Cells of kept families truly present but recorded absent. */
  readonly nFalseAbsentCells: number;
  /** With `effects`: the effects and their values. */
  readonly effects?: readonly SimulatedEffect[];
  /** With `effects`: the set of each kept family (-1: in no set), `groups.ofFamily` as given. */
  readonly familySet?: Int32Array;
  /** With `effects`: the set names (empty without family groups). */
  readonly sets?: readonly string[];
  /** With `effects`: attempts and kept rows per family group. */
  readonly groupCounts?: GroupCounts;
}

/**
 * The effect values of `setup` as a vector in the order of `setup.effects`, from a vector or
 * values by name; every value must be finite and every name known.
 *
 * @example
 * ```ts
 * import { effectValueVector } from "./model.ts";
 * const setup = { effects: [{ name: "theta", description: "", channel: "loss" as const,
 *   sets: null, design: null }], groups: null };
 * console.assert(effectValueVector(setup, { theta: 0.5 })[0] === 0.5);
 * ```
 */
export function effectValueVector(
  setup: EffectSetup,
  values: ArrayLike<number> | Readonly<Record<string, number>> | undefined,
): Float64Array {
  const names = setup.effects.map((e) => e.name);
  if (new Set(names).size !== names.length) {
    throw new GenecontentError(`Effect names must be unique; got ${names.join(", ")}.`);
  }
  if (values === undefined) {
    throw new GenecontentError(
      `Give effectValues for the effects (${names.join(", ")}) to simulate under them.`,
    );
  }
  let out: Float64Array;
  if (typeof (values as ArrayLike<number>).length === "number") {
    const v = values as ArrayLike<number>;
    if (v.length !== names.length) {
      throw new GenecontentError(
        `There are ${names.length} effects (${names.join(", ")}); got ${v.length} values.`,
      );
    }
    out = Float64Array.from(v);
  } else {
    const byName = values as Readonly<Record<string, number>>;
    for (const k of Object.keys(byName)) {
      if (!names.includes(k)) {
        throw new GenecontentError(
          `There is no effect named '${k}'; the effects are ${names.join(", ")}.`,
        );
      }
    }
    out = Float64Array.from(names, (n) => {
      if (!(n in byName)) throw new GenecontentError(`Effect ${n} needs a value.`);
      return byName[n];
    });
  }
  out.forEach((x, i) => {
    if (!Number.isFinite(x)) {
      throw new GenecontentError(`Effect ${names[i]} must have a finite value; got ${x}.`);
    }
  });
  return out;
}

/**
 * The value vector of `model` from `values` (a vector in parameter order or named values), with
 * every value checked against its domain.
 *
 * @example
 * ```ts
 * import { parseModel } from "../model/description.ts";
 * import { modelValueVector } from "./model.ts";
 * const v = modelValueVector(parseModel("null"), { gain: 0.1, loss: 1 });
 * console.assert(v[0] === 0.1 && v[1] === 1);
 * ```
 */
export function modelValueVector(model: ModelDescription, values: ModelValues): Float64Array {
  if (typeof (values as ArrayLike<number>).length === "number") {
    const v = values as ArrayLike<number>;
    const specs = modelParameters(model);
    if (v.length !== specs.length) {
      throw new GenecontentError(
        `Model ${formatModel(model)} has ${specs.length} parameters ` +
          `(${specs.map((p) => p.name).join(", ")}); got ${v.length} values.`,
      );
    }
    return valuesFromNames(model, namedValues(model, v));
  }
  return valuesFromNames(model, values as Readonly<Record<string, number>>);
}

/**
 * The family-level components of `model` at `values`: discrete-gamma categories (equal weights),
 * mixture classes (stick-breaking weights) or one rate class, each scaled by `1 - pInv`, then the
 * invariant class (weight `pInv`) with `+inv`.
 *
 * @example
 * ```ts
 * import { parseModel } from "../model/description.ts";
 * import { simulationComponents } from "./model.ts";
 * const c = simulationComponents(parseModel("gamma4+inv"), [0.1, 1, 0.5, 0.2]);
 * console.assert(c.length === 5 && c[4].invariant && Math.abs(c[0].weight - 0.2) < 1e-15);
 * ```
 */
export function simulationComponents(
  model: ModelDescription,
  values: ModelValues,
): SimulationComponent[] {
  const p = namedValues(model, modelValueVector(model, values));
  const pInv = model.invariant ? p.pInv : 0;
  const out: SimulationComponent[] = [];
  const r = model.rates;
  if (r.kind === "single") {
    out.push({
      label: "all",
      weight: 1 - pInv,
      invariant: false,
      gain: p.gain,
      loss: p.loss,
      rateMultiplier: 1,
    });
  } else if (r.kind === "gamma") {
    const rates = gammaCategoryRates(p.alpha, r.categories).rates;
    rates.forEach((m, c) =>
      out.push({
        label: `category ${c + 1}`,
        weight: (1 - pInv) / r.categories,
        invariant: false,
        gain: p.gain * m,
        loss: p.loss * m,
        rateMultiplier: m,
      })
    );
  } else {
    const splits = Array.from({ length: r.classes - 1 }, (_, c) => p[`split${c + 1}`]);
    weightsFromSplits(splits).forEach((w, c) =>
      out.push({
        label: `class ${c + 1}`,
        weight: (1 - pInv) * w,
        invariant: false,
        gain: p[`gain${c + 1}`],
        loss: p[`loss${c + 1}`],
        rateMultiplier: 1,
      })
    );
  }
  if (model.invariant) {
    out.push({
      label: "invariant",
      weight: pInv,
      invariant: true,
      gain: 0,
      loss: 0,
      rateMultiplier: 0,
    });
  }
  return out;
}

/**
 * Simulates a recorded PAM of `options.nFamilies` families on `tree` under `model` at `values`,
 * and returns it with the truth: each family's component, and the true gains and losses per
 * family and per branch (see the module documentation for the process).
 *
 * @example
 * ```ts
 * import { parseModel } from "../model/description.ts";
 * import { yuleTree } from "./trees.ts";
 * import { Random } from "./random.ts";
import {
  checkEffectSetup,
  effectApplies,
  type EffectChannel,
  type EffectSetup,
  groupLogMultipliers,
} from "../model/effects.ts";
 * import { simulateModel } from "./model.ts";
 * const tree = yuleTree(20, new Random(1), { height: 1 });
 * const sim = simulateModel(tree, parseModel("gamma4+inv"), { gain: 0.2, loss: 1, alpha: 0.5, pInv: 0.1 }, {
 *   nFamilies: 100,
 *   seed: 7,
 *   ascertainment: { minPresent: 1, maxPresent: 19 },
 * });
 * console.assert(sim.states.length === 100 * 20 && sim.nSimulated >= 100);
 * ```
 */
export function simulateModel(
  tree: FlatTree,
  model: ModelDescription,
  values: ModelValues,
  options: SimulateModelOptions,
): ModelSimulation {
  const vector = modelValueVector(model, values);
  const parameters = namedValues(model, vector);
  const components = simulationComponents(model, vector);
  const { nFamilies } = options;
  const { nTips, nNodes, parent, branchLength } = tree;
  if (!(Number.isSafeInteger(nFamilies) && nFamilies >= 0)) {
    throw new GenecontentError(`Number of families must be a whole number >= 0; got ${nFamilies}.`);
  }
  if ((options.seed === undefined) === (options.rng === undefined)) {
    throw new GenecontentError("Give simulateModel either a seed or an rng (exactly one).");
  }
  const rng = options.rng ?? new Random(options.seed!);
  const window = checkWindow(options.ascertainment ?? { minPresent: 1, maxPresent: null }, nTips);
  const minPresent = window.minPresent;
  const maxPresent = window.maxPresent ?? nTips;
  const missing = options.missing ?? 0;
  if (!(missing >= 0 && missing < 1)) {
    throw new GenecontentError(`Missing-cell rate must be in [0, 1); got ${missing}.`);
  }
  const falsePresence = model.tipError ? parameters.falsePresence : 0;
  const eMinus = model.tipError ? parameters.falseAbsence : 0;
  const falseAbsence = new Float64Array(nTips);
  const completeness = options.completeness;
  if (completeness !== undefined && completeness.length !== nTips) {
    throw new GenecontentError(
      `Completeness needs one value per genome (${nTips}); got ${completeness.length}.`,
    );
  }
  for (let i = 0; i < nTips; i++) {
    const c = completeness === undefined ? 1 : completeness[i];
    if (!(c > 0 && c <= 1)) {
      throw new GenecontentError(
        `Completeness of genome '${tree.tipNames[i]}' must be in (0, 1]; got ${c}.`,
      );
    }
    falseAbsence[i] = c === 1 ? eMinus : 1 - (1 - eMinus) * c;
  }
  const anyFalseAbsence = falseAbsence.some((x) => x > 0);
  // Per tip and true state x, one uniform U per cell decides: U < missing: missing; else
  // U < missing + (1 - missing) e_x: recorded wrong; else recorded right. Thresholds times 2^32.
  const cellThresholds = new Float64Array(3 * nTips);
  for (let i = 0; i < nTips; i++) {
    cellThresholds[3 * i] = missing * TWO_POW_32;
    cellThresholds[3 * i + 1] = (missing + (1 - missing) * falsePresence) * TWO_POW_32;
    cellThresholds[3 * i + 2] = (missing + (1 - missing) * falseAbsence[i]) * TWO_POW_32;
  }
  const maxSimulated = options.maxSimulated ?? 1000 * nFamilies + 100000;

  // Rate configurations: one per distinct list of effects applying to a family group (without
  // effects, one). Groups are -1 (in no set) and the sets; `configOf[g + 1]` is group g's.
  const setup = options.effects;
  const theta = setup ? effectValueVector(setup, options.effectValues) : new Float64Array(0);
  if (setup) {
    for (const e of setup.effects) {
      if (e.sets !== null && setup.groups === null) {
        throw new GenecontentError(
          `Effect ${e.name} applies to family sets, but no family groups were given.`,
        );
      }
    }
    checkEffectSetup(setup, nNodes, nFamilies);
  } else if (options.effectValues !== undefined) {
    throw new GenecontentError("effectValues were given without effects.");
  }
  const ofFamily = setup?.groups?.ofFamily ?? null;
  const nGroups = 1 + (setup?.groups?.sets.length ?? 0);
  const configOf = new Int32Array(nGroups);
  const configKeys: string[] = [];
  const configGroup: number[] = [];
  for (let g = -1; g < nGroups - 1; g++) {
    const key = (setup?.effects ?? []).map((e, i) => effectApplies(e, g) ? i : -1)
      .filter((i) => i >= 0).join(",");
    let k = configKeys.indexOf(key);
    if (k < 0) {
      k = configKeys.push(key) - 1;
      configGroup.push(g);
    }
    configOf[g + 1] = k;
  }
  const nConfig = configKeys.length;

  // Per configuration k, variable component c, node v and parent state x (at index
  // 2 ((k nComp + c) nNodes + v) + x): the rate q_x of leaving x on the branch above v (q_0 =
  // gain, q_1 = loss) and 2^32 exp(-q_x t_v), the threshold below which the branch has no
  // event; per (k, c) the root's pi1; per component its cumulative weight.
  const nComp = components.length;
  const noEvent = new Float64Array(2 * nConfig * nComp * nNodes);
  const rate = new Float64Array(2 * nConfig * nComp * nNodes);
  const pi1 = new Float64Array(nConfig * nComp);
  const cumWeight = new Float64Array(nComp);
  let acc = 0;
  for (let c = 0; c < nComp; c++) cumWeight[c] = acc += components[c].weight;
  cumWeight[nComp - 1] = 1;
  for (let k = 0; k < nConfig; k++) {
    const m = setup
      ? groupLogMultipliers(setup.effects, theta, configGroup[k], nNodes)
      : { gain: null, loss: null };
    for (let c = 0; c < nComp; c++) {
      const comp = components[c];
      if (comp.invariant) continue;
      const root = nNodes - 1;
      const g0 = m.gain ? comp.gain * Math.exp(m.gain[root]) : comp.gain;
      const l0 = m.loss ? comp.loss * Math.exp(m.loss[root]) : comp.loss;
      const where = (v: number) =>
        `${v === root ? "at the root" : `on the branch above node ${v}`} for ` +
        (configGroup[k] < 0
          ? "families in no set"
          : `set '${setup!.groups!.sets[configGroup[k]]}'`);
      const check = (gain: number, loss: number, v: number) => {
        if (!(gain > 0 && loss > 0 && gain < Infinity && loss < Infinity)) {
          throw new GenecontentError(
            `The effects make a rate of component ${comp.label} ` +
              `${gain > 0 && loss > 0 ? "infinite" : "zero"} ${where(v)} (gain ${gain}, ` +
              `loss ${loss}); give smaller effect values.`,
          );
        }
      };
      check(g0, l0, root);
      pi1[k * nComp + c] = g0 / (g0 + l0);
      for (let v = 0; v < nNodes - 1; v++) {
        const i = 2 * ((k * nComp + c) * nNodes + v);
        const gain = m.gain ? comp.gain * Math.exp(m.gain[v]) : comp.gain;
        const loss = m.loss ? comp.loss * Math.exp(m.loss[v]) : comp.loss;
        check(gain, loss, v);
        rate[i] = gain;
        rate[i + 1] = loss;
        noEvent[i] = Math.exp(-gain * branchLength[v]) * TWO_POW_32;
        noEvent[i + 1] = Math.exp(-loss * branchLength[v]) * TWO_POW_32;
      }
    }
  }
  const groupSimulated = new Float64Array(nGroups);
  const groupKept = new Float64Array(nGroups);

  const states = new Uint8Array(nFamilies * nTips);
  const component = new Uint8Array(nFamilies);
  const familyGains = new Uint32Array(nFamilies);
  const familyLosses = new Uint32Array(nFamilies);
  const branchGains = new Float64Array(nNodes);
  const branchLosses = new Float64Array(nNodes);
  const nodeStates = options.recordNodeStates ? new Uint8Array(nFamilies * nNodes) : undefined;
  const events = options.recordEvents ? new EventList() : undefined;

  // The current family's events, at most one entry per node.
  const evNode = new Int32Array(nNodes);
  const evGain = new Uint32Array(nNodes);
  const evLoss = new Uint32Array(nNodes);
  const node = new Uint8Array(nNodes);
  const root = nNodes - 1;
  const rngState = new Int32Array(4);
  const cells = new Float64Array(3); // missing, false present, false absent of this family

  let kept = 0, simulated = 0, below = 0, above = 0;
  let nMissingCells = 0, nFalsePresentCells = 0, nFalseAbsentCells = 0;
  while (kept < nFamilies) {
    if (simulated >= maxSimulated) {
      throw new GenecontentError(
        `Only ${kept} of ${simulated} simulated families had a recorded present count in ` +
          `[${minPresent}, ${maxPresent}] (${below} below, ${above} above); widen the ` +
          "ascertainment window or change the rates or the tree.",
      );
    }
    simulated++;
    const group = ofFamily === null ? 0 : ofFamily[kept] + 1;
    const config = configOf[group];
    groupSimulated[group]++;
    let c = 0;
    if (nComp > 1) {
      const u = rng.next();
      while (u >= cumWeight[c]) c++;
    }
    let nEv = 0;
    if (components[c].invariant) {
      node.fill(1);
    } else {
      const p1 = pi1[config * nComp + c];
      node[root] = rng.next() < p1 ? 1 : 0;
      nEv = variableHistory(
        rng,
        rngState,
        node,
        parent,
        noEvent,
        rate,
        branchLength,
        2 * (config * nComp + c) * nNodes,
        evNode,
        evGain,
        evLoss,
      );
    }
    // Record the tips.
    const off = kept * nTips;
    let present: number;
    if (missing === 0 && falsePresence === 0 && !anyFalseAbsence) {
      states.set(node.subarray(0, nTips), off);
      present = 0;
      for (let i = 0; i < nTips; i++) present += node[i];
    } else {
      cells.fill(0);
      present = recordTips(rng, rngState, node, states, off, cellThresholds, cells);
    }
    if (present < minPresent) {
      below++;
      continue;
    }
    if (present > maxPresent) {
      above++;
      continue;
    }
    // Keep it (a discarded family's row is overwritten by the next attempt).
    groupKept[group]++;
    component[kept] = c;
    let g = 0, l = 0;
    for (let k = 0; k < nEv; k++) {
      const v = evNode[k];
      g += evGain[k];
      l += evLoss[k];
      branchGains[v] += evGain[k];
      branchLosses[v] += evLoss[k];
      events?.push(kept, v, evGain[k], evLoss[k]);
    }
    familyGains[kept] = g;
    familyLosses[kept] = l;
    nodeStates?.set(node, kept * nNodes);
    nMissingCells += cells[0];
    nFalsePresentCells += cells[1];
    nFalseAbsentCells += cells[2];
    kept++;
  }
  return {
    model,
    modelName: formatModel(model),
    values: vector,
    parameters,
    ascertainment: window,
    missing,
    falseAbsence,
    falsePresence,
    components,
    nTips,
    nFamilies,
    nSimulated: simulated,
    nBelowWindow: below,
    nAboveWindow: above,
    states,
    component,
    familyGains,
    familyLosses,
    branchGains,
    branchLosses,
    ...(events ? { events: events.finish() } : {}),
    ...(nodeStates ? { nodeStates } : {}),
    nMissingCells,
    nFalsePresentCells,
    nFalseAbsentCells,
    ...(setup
      ? {
        effects: setup.effects.map((e, i) => ({
          name: e.name,
          description: e.description,
          channel: e.channel,
          theta: theta[i],
          sets: e.sets === null ? null : e.sets.map((s) => setup.groups!.sets[s]),
          design: e.design === null ? null : Float64Array.from(e.design),
        })),
        familySet: ofFamily === null
          ? new Int32Array(nFamilies).fill(-1)
          : Int32Array.from(ofFamily),
        sets: [...(setup.groups?.sets ?? [])],
        groupCounts: {
          names: ["(none)", ...(setup.groups?.sets ?? [])],
          simulated: groupSimulated,
          kept: groupKept,
        },
      }
      : {}),
  };
}

/**
 * Draws the states of nodes `root - 1 .. 0` of one variable family given the root's (in
 * `node[root]`), with the rates `rate[base + 2 v + x]` and no-event thresholds
 * `noEvent[base + 2 v + x]` of the branch above v, and lists the branches with events; returns
 * their number. The generator's
 * steps run on local variables (the stream is the same as drawing through `rng`).
 */
function variableHistory(
  rng: Random,
  state: Int32Array,
  node: Uint8Array,
  parent: Int32Array,
  noEvent: Float64Array,
  rate: Float64Array,
  branchLength: Float64Array,
  base: number,
  evNode: Int32Array,
  evGain: Uint32Array,
  evLoss: Uint32Array,
): number {
  let nEv = 0;
  rng.exportState(state);
  let s0 = state[0], s1 = state[1], s2 = state[2], s3 = state[3];
  for (let v = node.length - 2; v >= 0; v--) {
    let x = node[parent[v]];
    const thr = noEvent[base + 2 * v + x];
    // xoshiro128** step (as Random.nextUint32).
    const a = Math.imul(s1, 5);
    const u = Math.imul((a << 7) | (a >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    // u uniform on 0 .. 2^32-1 decides U < exp(-q_x t) for U uniform on [0, 1); only when the
    // threshold falls inside [u, u + 1) (chance 2^-32) are 32 more bits of U needed.
    if (u + 1 <= thr) {
      node[v] = x;
      continue;
    }
    state[0] = s0;
    state[1] = s1;
    state[2] = s2;
    state[3] = s3;
    rng.importState(state);
    if (u < thr && u + rng.nextUint32() / TWO_POW_32 < thr) {
      node[v] = x;
    } else {
      // At least one jump: the first at a time from Exp(q_x) truncated to [0, t), then
      // exponential holding times until the end of the branch.
      const len = branchLength[v];
      const rv = base + 2 * v;
      let q = rate[rv + x];
      let time = -Math.log1p(rng.next() * Math.expm1(-q * len)) / q;
      let gains = 0, losses = 0;
      while (time < len) {
        if (x === 0) gains++;
        else losses++;
        x = 1 - x;
        q = rate[rv + x];
        time -= Math.log1p(-rng.next()) / q;
      }
      node[v] = x;
      evNode[nEv] = v;
      evGain[nEv] = gains;
      evLoss[nEv] = losses;
      nEv++;
    }
    rng.exportState(state);
    s0 = state[0];
    s1 = state[1];
    s2 = state[2];
    s3 = state[3];
  }
  state[0] = s0;
  state[1] = s1;
  state[2] = s2;
  state[3] = s3;
  rng.importState(state);
  return nEv;
}

/**
 * Writes one family's recorded tip cells into `states` at `off` (see the thresholds in
 * {@linkcode simulateModel}: one 32-bit draw per cell, refined by 32 more bits only when a
 * threshold falls inside its interval); returns the recorded present count and adds the numbers
 * of missing, false-present and false-absent cells to `cells`.
 */
function recordTips(
  rng: Random,
  state: Int32Array,
  node: Uint8Array,
  states: Uint8Array,
  off: number,
  thresholds: Float64Array,
  cells: Float64Array,
): number {
  let present = 0;
  const nTips = thresholds.length / 3;
  rng.exportState(state);
  let s0 = state[0], s1 = state[1], s2 = state[2], s3 = state[3];
  for (let i = 0; i < nTips; i++) {
    const x = node[i];
    const tMiss = thresholds[3 * i];
    const tWrong = thresholds[3 * i + 1 + x];
    // xoshiro128** step (as Random.nextUint32).
    const a = Math.imul(s1, 5);
    const u = Math.imul((a << 7) | (a >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    let outcome: number; // 0 missing, 1 wrong, 2 right
    if (u >= tWrong) outcome = 2;
    else if (u + 1 <= tMiss) outcome = 0;
    else if (u >= tMiss && u + 1 <= tWrong) outcome = 1;
    else {
      state[0] = s0;
      state[1] = s1;
      state[2] = s2;
      state[3] = s3;
      rng.importState(state);
      const fine = u + rng.nextUint32() / TWO_POW_32;
      outcome = fine < tMiss ? 0 : fine < tWrong ? 1 : 2;
      rng.exportState(state);
      s0 = state[0];
      s1 = state[1];
      s2 = state[2];
      s3 = state[3];
    }
    if (outcome === 0) {
      states[off + i] = 2;
      cells[0]++;
    } else if (outcome === 1) {
      states[off + i] = 1 - x;
      present += 1 - x;
      cells[1 + x]++;
    } else {
      states[off + i] = x;
      present += x;
    }
  }
  state[0] = s0;
  state[1] = s1;
  state[2] = s2;
  state[3] = s3;
  rng.importState(state);
  return present;
}

function checkWindow(a: Ascertainment, nTips: number): Ascertainment {
  const { minPresent, maxPresent } = a;
  if (!(Number.isInteger(minPresent) && minPresent >= 0 && minPresent <= nTips)) {
    throw new GenecontentError(
      `Ascertainment minPresent must be a whole number from 0 to ${nTips} (the genomes); got ` +
        `${minPresent}.`,
    );
  }
  if (maxPresent !== null) {
    if (!(Number.isInteger(maxPresent) && maxPresent >= minPresent && maxPresent <= nTips)) {
      throw new GenecontentError(
        `Ascertainment maxPresent must be a whole number from minPresent (${minPresent}) to ` +
          `${nTips} (the genomes), or null; got ${maxPresent}.`,
      );
    }
  }
  return { minPresent, maxPresent };
}

/** A growable list of (family, node, gains, losses). */
class EventList {
  #family = new Uint32Array(1024);
  #node = new Uint32Array(1024);
  #gains = new Uint32Array(1024);
  #losses = new Uint32Array(1024);
  #n = 0;

  push(family: number, node: number, gains: number, losses: number): void {
    if (this.#n === this.#family.length) {
      const grow = (a: Uint32Array) => {
        const b = new Uint32Array(2 * a.length);
        b.set(a);
        return b;
      };
      this.#family = grow(this.#family);
      this.#node = grow(this.#node);
      this.#gains = grow(this.#gains);
      this.#losses = grow(this.#losses);
    }
    const n = this.#n++;
    this.#family[n] = family;
    this.#node[n] = node;
    this.#gains[n] = gains;
    this.#losses[n] = losses;
  }

  finish(): BranchEvents {
    const n = this.#n;
    return {
      family: this.#family.slice(0, n),
      node: this.#node.slice(0, n),
      gains: this.#gains.slice(0, n),
      losses: this.#losses.slice(0, n),
    };
  }
}
