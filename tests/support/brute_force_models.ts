/**
 * Brute-force references for model likelihoods on small trees, written independently of the
 * library's pruning, pendant branches and count recursions:
 *
 * - a column's probability under one rate component sums the joint probability over every
 *   assignment of internal states *and* true tip states, each observed tip contributing
 *   P(recorded | true) from the error probabilities directly (no pendant branch), a missing tip
 *   contributing 1; transitions use the spectral form pi_y + (delta_xy - pi_y) e^{-st};
 * - a model's column probability is the weighted sum over components (weights from the
 *   stick-breaking splits, recomputed here), plus pInv times the invariant class's
 *   product of P(recorded | present);
 * - the probability of the window enumerates every recorded column over the observed tips.
 *
 * @module
 */
import type { FlatTree } from "../../lib/tree/flat_tree.ts";
import type { Ascertainment, ModelDescription } from "../../lib/model/description.ts";
import { modelParameters } from "../../lib/model/description.ts";
import { gammaCategoryRates } from "../../lib/model/gamma.ts";

/** Error probabilities of the recorded cells. */
export interface BruteError {
  /** P(recorded 1 | truly 0). */
  readonly ePlus: number;
  /** P(recorded 0 | truly 1), per tip. */
  readonly eMinus: readonly number[];
}

function transition(gain: number, loss: number, t: number, from: number, to: number): number {
  const s = gain + loss;
  const piTo = to === 1 ? gain / s : loss / s;
  return piTo + ((from === to ? 1 : 0) - piTo) * Math.exp(-s * t);
}

function recorded(err: BruteError | null, tip: number, truth: number, rec: number): number {
  if (rec === 2) return 1;
  if (!err) return truth === rec ? 1 : 0;
  const e = truth === 0 ? err.ePlus : err.eMinus[tip];
  return truth === rec ? 1 - e : e;
}

/**
 * P(recorded column) under one rate component by enumerating every internal and true tip state.
 *
 * @example
 * ```ts
 * import { bruteColumn } from "./brute_force_models.ts";
 * import { cherry } from "./small_trees.ts";
 * const total = [0, 1].flatMap((a) => [0, 1].map((b) => bruteColumn(cherry(), [a, b], 1, 2, null)))
 *   .reduce((x, y) => x + y);
 * console.assert(Math.abs(total - 1) < 1e-14);
 * ```
 */
export function bruteColumn(
  tree: FlatTree,
  column: ArrayLike<number>,
  gain: number,
  loss: number,
  err: BruteError | null,
): number {
  const { nNodes, nTips, parent, branchLength } = tree;
  const root = nNodes - 1;
  const state = new Array(nNodes).fill(0);
  let total = 0;
  for (let mask = 0; mask < 2 ** nNodes; mask++) {
    for (let v = 0; v < nNodes; v++) state[v] = (mask >> v) & 1;
    let joint = state[root] === 1 ? gain / (gain + loss) : loss / (gain + loss);
    for (let v = 0; v < root; v++) {
      joint *= transition(gain, loss, branchLength[v], state[parent[v]], state[v]);
    }
    for (let i = 0; i < nTips; i++) joint *= recorded(err, i, state[i], column[i]);
    total += joint;
  }
  return total;
}

/** One weighted component of a model, for the brute force. */
export interface BruteComponent {
  /** Weight. */
  readonly weight: number;
  /** Tree rates, or null for the invariant class. */
  readonly rates: { gain: number; loss: number } | null;
}

/** The components of a model at named values (weights recomputed from the splits). */
export function bruteComponents(
  model: ModelDescription,
  values: ArrayLike<number>,
): BruteComponent[] {
  const named = Object.fromEntries(modelParameters(model).map((p, i) => [p.name, values[i]]));
  const pInv = model.invariant ? named.pInv : 0;
  const out: BruteComponent[] = [];
  const r = model.rates;
  if (r.kind === "mixture") {
    let left = 1;
    for (let c = 1; c <= r.classes; c++) {
      const share = c < r.classes ? named[`split${c}`] : 1;
      out.push({
        weight: (1 - pInv) * left * share,
        rates: { gain: named[`gain${c}`], loss: named[`loss${c}`] },
      });
      left *= 1 - share;
    }
  } else if (r.kind === "gamma") {
    const { rates } = gammaCategoryRates(named.alpha, r.categories);
    for (const m of rates) {
      out.push({
        weight: (1 - pInv) / r.categories,
        rates: { gain: m * named.gain, loss: m * named.loss },
      });
    }
  } else {
    out.push({ weight: 1 - pInv, rates: { gain: named.gain, loss: named.loss } });
  }
  if (model.invariant) out.push({ weight: pInv, rates: null });
  return out;
}

/** The error probabilities of a model at its values, with per-tip completeness. */
export function bruteError(
  model: ModelDescription,
  values: ArrayLike<number>,
  nTips: number,
  completeness: readonly number[] | null,
): BruteError | null {
  if (!model.tipError && !completeness) return null;
  const named = Object.fromEntries(modelParameters(model).map((p, i) => [p.name, values[i]]));
  const ep = model.tipError ? named.falsePresence : 0;
  const em = model.tipError ? named.falseAbsence : 0;
  const c = completeness ?? new Array(nTips).fill(1);
  return { ePlus: ep, eMinus: c.map((ci) => 1 - (1 - em) * ci) };
}

/** P(recorded column | component) for a rate component or the invariant class. */
export function bruteComponentColumn(
  tree: FlatTree,
  column: ArrayLike<number>,
  comp: BruteComponent,
  err: BruteError | null,
): number {
  if (comp.rates) return bruteColumn(tree, column, comp.rates.gain, comp.rates.loss, err);
  let p = 1;
  for (let i = 0; i < tree.nTips; i++) p *= recorded(err, i, 1, column[i]);
  return p;
}

/** Every recorded column over the observed tips of `mask` (missing tips 2). */
export function recordedColumns(mask: readonly number[]): number[][] {
  const observed = mask.flatMap((m, i) => (m ? [i] : []));
  const out: number[][] = [];
  for (let x = 0; x < 2 ** observed.length; x++) {
    const col = mask.map(() => 2);
    observed.forEach((tip, b) => (col[tip] = (x >> b) & 1));
    out.push(col);
  }
  return out;
}

/** Whether a column's present count is in the window. */
export function inWindow(column: readonly number[], window: Ascertainment): boolean {
  const n = column.filter((s) => s === 1).length;
  return n >= window.minPresent && (window.maxPresent === null || n <= window.maxPresent);
}

/**
 * The corrected log-likelihood of one column under a model: log sum_c w_c L_c(x) minus
 * log sum_c w_c P_c(window | mask) (nothing subtracted for the window [0, none]), and the
 * posterior component shares.
 */
export function bruteModelColumn(
  tree: FlatTree,
  column: readonly number[],
  comps: readonly BruteComponent[],
  err: BruteError | null,
  window: Ascertainment,
): { logLik: number; posterior: number[] } {
  const parts = comps.map((c) => c.weight * bruteComponentColumn(tree, column, c, err));
  const L = parts.reduce((a, b) => a + b, 0);
  let logLik = Math.log(L);
  if (window.minPresent > 0 || window.maxPresent !== null) {
    const mask = column.map((s) => (s === 2 ? 0 : 1));
    let obs = 0;
    for (const col of recordedColumns(mask)) {
      if (!inWindow(col, window)) continue;
      for (const c of comps) obs += c.weight * bruteComponentColumn(tree, col, c, err);
    }
    logLik -= Math.log(obs);
  }
  return { logLik, posterior: parts.map((p) => p / L) };
}
