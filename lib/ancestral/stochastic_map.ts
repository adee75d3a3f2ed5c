/**
 * Stochastic mapping of gain/loss histories: exact draws of whole histories (component, node
 * states, and the number of gains and losses on every branch) from their posterior given a
 * family's column, under any model of `lib/model/description.ts`.
 *
 * One draw, for a column x:
 * 1. the component c (gamma category, mixture class or the invariant class) from its posterior
 *    w_c L_c(x) / sum_c' w_c' L_c'(x) (ascertainment conditions on the column only, so it does not
 *    change this posterior);
 * 2. the node states top-down from the inside (pruning) partials I_v of component c (forward
 *    filtering, backward sampling): the root from pi_a I_r(a), each child b of a parent in state a
 *    from P_ab(t_v) I_v(b);
 * 3. the path of each branch given its end states, exactly, by uniformization at rate
 *    s = gain + loss. At that rate the uniformized chain's steps are independent draws from the
 *    stationary distribution, whatever the current state, so a branch of length t has
 *    M ~ Poisson(s t) steps, the end state is the last step's draw (or the start when M = 0), and
 *    the jumps are the changes along that sequence: no matrix powers, no rejection loop, and the
 *    cost of a branch is its number of steps. Nielsen's (2002) rejection sampler would simulate
 *    forward until the end state matches, which needs about 1 / (q t) attempts for a branch that
 *    must leave and return to its state, exactly the common conditioned case at pangenome rates.
 *
 * Steps 2 and 3 are done together and sparsely. For a parent in state a, the branch above v is
 * *trivial* when v is in state a and the branch has no jump (probability
 * exp(-q_a t) I_v(a) / Z_v(a), Z_v(a) = sum_b P_ab I_v(b)); a clade (the branch above v and
 * everything below v) is trivial when all its branches are. F_v(a), the probability that v's
 * clade is not trivial given its parent's state, follows from the same post-order pass as the
 * partials, by positive terms only: F_v = (1 - r_v) + r_v G_v with r_v the branch's trivial
 * probability and G_v = 1 - prod_children (1 - F_c). A draw then decides a whole trivial clade
 * with one uniform, and conditions the rest exactly on being non-trivial (first the branch, else
 * the first non-trivial child). Most clades of a pangenome family are trivial, so a draw only
 * visits the nodes of its non-trivial clades (on the bundled 200-genome example, 25 of 399 nodes
 * per draw on average), and a clade that cannot be trivial (it holds tips of both states) takes
 * no draw to say so.
 *
 * Tip error (`+error`, completeness) runs on the tree extended by pendant branches
 * (`lib/model/tip_error.ts`): the state drawn at an original tip is its true state, and pendant
 * branches carry annotation errors, which are not counted as events. A missing tip has partial
 * (1, 1), so its true state is drawn too. The invariant class has no events and every node
 * present.
 *
 * Every result is a function of the seed alone (`lib/simulate/random.ts`), in a fixed order:
 * patterns in order, the families of a pattern in input order, the draws of a family in turn.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type ModelDescription, parseModel } from "../model/description.ts";
import {
  expandModel,
  kernelAssignments,
  type TipErrorSetup,
  tipErrorSetup,
} from "../model/components.ts";
import { MISSING, PRESENT } from "../pam/matrix.ts";
import type { SitePatterns } from "../pam/patterns.ts";
import { Random } from "../simulate/random.ts";
import type { FlatTree } from "../tree/flat_tree.ts";

/** A model at one parameter vector: what a stochastic map draws from. */
export interface ModelRates {
  /** The model (or its name, e.g. `"gamma4+inv"`). */
  readonly model: ModelDescription | string;
  /** Natural-scale values in the order of `modelParameters(model)`. */
  readonly values: ArrayLike<number>;
  /** Per-genome completeness in (0, 1], in the tree's tip order (absent: all complete). */
  readonly completeness?: Float64Array | null;
}

/** Options of a stochastic map. */
export interface StochasticMapOptions {
  /** Number of histories drawn per family (a whole number >= 1). */
  readonly samples: number;
  /** Seed of the {@linkcode Random} generator (a safe integer). */
  readonly seed: number;
}

/** Options of a stochastic map over a PAM's patterns. */
export interface StochasticMapPatternsOptions extends StochasticMapOptions {
  /** Probabilities of the reported quantiles, each in [0, 1]; default `[0.025, 0.975]`. */
  readonly quantiles?: readonly number[];
  /**
   * Also summarise every family on every branch (`familyBranches` of the result: means,
   * quantiles and node presence, `nFamilies * nNodes` entries each). Default false.
   */
  readonly perFamilyBranches?: boolean;
}

/** The draws of one column (see {@linkcode stochasticMap}). */
export interface SampledHistories {
  /** Number of draws. */
  readonly samples: number;
  /** Number of nodes of the tree (branches are named by their child; the root's entries are 0). */
  readonly nNodes: number;
  /** Gains of draw s on the branch above node v: `gains[s * nNodes + v]`. */
  readonly gains: Uint32Array;
  /** Losses of draw s on the branch above node v: `losses[s * nNodes + v]`. */
  readonly losses: Uint32Array;
  /** True state (0 or 1) of node v in draw s: `states[s * nNodes + v]` (tips: true state). */
  readonly states: Uint8Array;
  /** Component of each draw (index into `componentNames`). */
  readonly component: Uint16Array;
  /** Component names (`rates`, `category1`, `class2`, `inv`), as `ModelLikelihood` names them. */
  readonly componentNames: readonly string[];
  /** Posterior probability of each component given the column. */
  readonly posterior: Float64Array;
  /** Natural log of the column's likelihood (without ascertainment correction). */
  readonly logLik: number;
}

/** Mean and quantiles of a count over the draws, for each of several items (branches, families). */
export interface CountSummary {
  /** Mean over the draws. */
  readonly mean: Float64Array;
  /**
   * `quantiles[j][i]`: the quantile at `quantileLevels[j]` of item i's draws, the smallest
   * drawn value whose empirical distribution function reaches the level (inverse of the
   * empirical CDF; level 0 gives the minimum, 1 the maximum).
   */
  readonly quantiles: readonly Float64Array[];
}

/** Per family and branch summaries (`f * nNodes + v`). */
export interface FamilyBranchSummary {
  /** Gains of family f on the branch above v: mean and quantiles over its draws. */
  readonly gains: CountSummary;
  /** Losses of family f on the branch above v. */
  readonly losses: CountSummary;
  /** Share of family f's draws in which node v is present. */
  readonly presence: Float64Array;
}

/** The summaries of a stochastic map over a PAM (see {@linkcode stochasticMapPatterns}). */
export interface StochasticMapSummary {
  /** Draws per family. */
  readonly samples: number;
  /** The seed. */
  readonly seed: number;
  /** Number of tree nodes (branch v is the branch above node v; the root's entries are 0). */
  readonly nNodes: number;
  /** Number of families. */
  readonly nFamilies: number;
  /** Quantile probabilities of every `CountSummary`. */
  readonly quantileLevels: readonly number[];
  /** Component names (as `ModelLikelihood.componentNames`). */
  readonly componentNames: readonly string[];
  /** Gains on branch v summed over all families in draw s: `branchGainDraws[s * nNodes + v]`. */
  readonly branchGainDraws: Float64Array;
  /** Losses on branch v summed over all families in draw s. */
  readonly branchLossDraws: Float64Array;
  /** Per branch, the distribution over draws of its gains summed over families. */
  readonly branchGains: CountSummary;
  /** Per branch, the distribution over draws of its losses summed over families. */
  readonly branchLosses: CountSummary;
  /** Gains over the whole tree and all families, per draw. */
  readonly totalGains: Float64Array;
  /** Losses over the whole tree and all families, per draw. */
  readonly totalLosses: Float64Array;
  /** Per family (input order), the distribution of its gains over the whole tree. */
  readonly familyGains: CountSummary;
  /** Per family, the distribution of its losses over the whole tree. */
  readonly familyLosses: CountSummary;
  /** Per node, the mean over draws of the number of families present there. */
  readonly presence: Float64Array;
  /** Per family, the share of its draws from each component: `[f * nComponents + c]`. */
  readonly familyComponents: Float64Array;
  /** With `perFamilyBranches`: every family on every branch. */
  readonly familyBranches?: FamilyBranchSummary;
}

/**
 * The stream of a {@linkcode Random}, continued on plain fields with both 32-bit steps of a
 * uniform written out in one small method, which the JIT inlines into the sampling loops:
 * `next()` returns exactly what the `Random` it was taken from would have returned.
 */
class UniformStream {
  s0: number;
  s1: number;
  s2: number;
  s3: number;
  constructor(rng: Random) {
    const st = new Int32Array(4);
    rng.exportState(st);
    this.s0 = st[0];
    this.s1 = st[1];
    this.s2 = st[2];
    this.s3 = st[3];
  }
  /** A uniform double in [0, 1) with 53 random bits (as `Random.next`). */
  next(): number {
    // xoshiro128** step 1.
    let s1 = this.s1;
    let x = Math.imul(s1, 5);
    let r = Math.imul((x << 7) | (x >>> 25), 9);
    let t = s1 << 9;
    let s2 = this.s2 ^ this.s0, s3 = this.s3 ^ s1;
    s1 ^= s2;
    let s0 = this.s0 ^ s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const hi = (r >>> 0) >>> 5;
    // Step 2.
    x = Math.imul(s1, 5);
    r = Math.imul((x << 7) | (x >>> 25), 9);
    t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    return (hi * 67108864 + ((r >>> 0) >>> 6)) / 9007199254740992;
  }
}

/** Per-component constants of one node's branch: 8 values per node. */
const E0 = 0, E1 = 1, D0 = 2, D1 = 3, P01 = 4, P10 = 5, X = 6, PI1 = 7;
const NB = 8;

/**
 * P_aa(t) - exp(-q_a t): the probability of leaving state a and being back at the end of a
 * branch, with pa = pi_a and x = s t, accurate to a few ulps at every x (series below 2, one of
 * two cancellation-free closed forms above).
 */
function sameStateJumps(pa: number, x: number): number {
  const pb = 1 - pa;
  if (x <= 2) {
    // e^-x pa sum_{k >= 2} x^k / k! (1 - pa^(k-1)), with c_k = 1 - pa^(k-1) by positive terms.
    let term = x * x / 2, c = pb, sum = term * c;
    for (let k = 3; k < 60; k++) {
      term *= x / k;
      c = pb + pa * c;
      const add = term * c;
      sum += add;
      if (add < 1e-17 * sum) break;
    }
    return Math.exp(-x) * pa * sum;
  }
  if (pa < 0.5) return -pa * Math.expm1(-x) - Math.exp(-x) * Math.expm1(pa * x);
  return -Math.expm1(-pb * x) + pb * Math.expm1(-x);
}

/** Fills the 8 branch constants of a branch with rates (gain, loss) and length t at `o`. */
function branchConstants(out: Float64Array, o: number, gain: number, loss: number, t: number) {
  const s = gain + loss, pi1 = gain / s, pi0 = loss / s;
  const x = s * t;
  const m = -Math.expm1(-x); // 1 - e^-x
  out[o + E0] = Math.exp(-gain * t);
  out[o + E1] = Math.exp(-loss * t);
  out[o + D0] = sameStateJumps(pi0, x);
  out[o + D1] = sameStateJumps(pi1, x);
  out[o + P01] = pi1 * m;
  out[o + P10] = pi0 * m;
  out[o + X] = x;
  out[o + PI1] = pi1;
}

/** Rescaling of the inside partials (exact: a power of two). */
const SCALE_BELOW = 2 ** -300;
const SCALE_UP = 2 ** 300;
const LOG_SCALE = 300 * Math.LN2;

/** Tests of a draw against the Poisson tail use at most this many steps beyond the mean. */
function poissonCap(x: number): number {
  return Math.ceil(x + 40 * Math.sqrt(x) + 60);
}

/**
 * Number of uniformized steps M >= `least` with weights Poisson(M; x) * (1 - pa^(M-1)) (`same`)
 * or Poisson(M; x) (otherwise), by inversion against the total `total` of those weights.
 */
function drawSteps(
  rng: UniformStream,
  x: number,
  least: number,
  pa: number,
  same: boolean,
  total: number,
) {
  const target = rng.next() * total;
  const cap = poissonCap(x);
  let m = 0;
  let c = 0; // 1 - pa^(m-1) for m >= 1
  let acc = 0;
  if (x < 500) {
    let term = Math.exp(-x); // Poisson(m; x)
    for (;;) {
      m++;
      term *= x / m;
      if (m >= 2) c = (1 - pa) + pa * c;
      if (m < least) continue;
      acc += same ? term * c : term;
      if (acc > target || m >= cap) return m;
    }
  }
  // In logs where e^-x underflows.
  const logX = Math.log(x);
  let logTerm = -x;
  for (;;) {
    m++;
    logTerm += logX - Math.log(m);
    if (m >= 2) c = (1 - pa) + pa * c;
    if (m < least) continue;
    acc += Math.exp(logTerm) * (same ? c : 1);
    if (acc > target || m >= cap) return m;
  }
}

/**
 * Gains and losses on a branch from state a to state b that has at least one jump, given the
 * branch constants at `o` of `cb`: one uniformized path (see the module documentation), written
 * to `out[0]` (gains) and `out[1]` (losses).
 */
function drawJumps(
  rng: UniformStream,
  cb: Float64Array,
  o: number,
  a: number,
  b: number,
  out: Int32Array,
) {
  const x = cb[o + X], pi1 = cb[o + PI1];
  const pa = a === 1 ? pi1 : 1 - pi1;
  let gains = 0, losses = 0, prev = a;
  if (a !== b) {
    // M ~ Poisson(x) given M >= 1; steps 1 .. M-1 iid pi, step M is b.
    const m = drawSteps(rng, x, 1, pa, false, -Math.expm1(-x));
    for (let i = 1; i < m; i++) {
      const y = rng.next() < pi1 ? 1 : 0;
      if (y !== prev) y === 1 ? gains++ : losses++;
      prev = y;
    }
  } else {
    // M with weights Poisson(M) (1 - pa^(M-1)), M >= 2 (total D_a / pa); the first step away
    // from a at k in 1 .. M-1 with P(k) proportional to pa^(k-1); later steps iid pi.
    const d = a === 1 ? cb[o + D1] : cb[o + D0];
    const m = drawSteps(rng, x, 2, pa, true, d / pa);
    // 1 - pa^k >= u (1 - pa^(m-1)) at the first change k.
    const target = rng.next() * -Math.expm1((m - 1) * Math.log(pa));
    let k = 1, c = 1 - pa; // c = 1 - pa^k
    while (c < target && k < m - 1) {
      k++;
      c = (1 - pa) + pa * c;
    }
    prev = 1 - a;
    prev === 1 ? gains++ : losses++;
    for (let i = k + 1; i < m; i++) {
      const y = rng.next() < pi1 ? 1 : 0;
      if (y !== prev) y === 1 ? gains++ : losses++;
      prev = y;
    }
  }
  if (b !== prev) b === 1 ? gains++ : losses++;
  out[0] = gains;
  out[1] = losses;
}

/**
 * The number of jumps of the two-state chain on one branch given its end states, drawn exactly
 * as the stochastic map draws it (no jump with probability exp(-q_a t) / P_aa(t) when a = b,
 * otherwise uniformization): `[gains, losses]`. For tests and for callers that map single
 * branches.
 *
 * @example
 * ```ts
 * import { sampleEndpointJumps } from "./stochastic_map.ts";
 * import { Random } from "../simulate/random.ts";
 * const [g, l] = sampleEndpointJumps(0.2, 0.5, 1, 0, 1, new Random(1));
 * console.assert(g === l + 1);
 * ```
 */
export function sampleEndpointJumps(
  gain: number,
  loss: number,
  t: number,
  a: number,
  b: number,
  random: Random,
): [number, number] {
  const rng = new UniformStream(random);
  if (!(gain > 0 && loss > 0 && Number.isFinite(gain) && Number.isFinite(loss))) {
    throw new RangeError(`Rates must be finite and > 0; got gain ${gain}, loss ${loss}.`);
  }
  if (!(t >= 0 && Number.isFinite(t))) throw new RangeError(`Branch length ${t} must be >= 0.`);
  if (!((a === 0 || a === 1) && (b === 0 || b === 1))) {
    throw new RangeError(`End states must be 0 or 1; got ${a} and ${b}.`);
  }
  const cb = new Float64Array(NB);
  branchConstants(cb, 0, gain, loss, t);
  const out = new Int32Array(2);
  if (a === b) {
    const e = a === 1 ? cb[E1] : cb[E0];
    const d = a === 1 ? cb[D1] : cb[D0];
    if (rng.next() * (e + d) < e) {
      random.importState(Int32Array.of(rng.s0, rng.s1, rng.s2, rng.s3));
      return [0, 0];
    }
  } else if (t === 0) {
    throw new RangeError(`A branch of length 0 cannot go from ${a} to ${b}.`);
  }
  drawJumps(rng, cb, 0, a, b, out);
  const st = Int32Array.of(rng.s0, rng.s1, rng.s2, rng.s3);
  random.importState(st);
  return [out[0], out[1]];
}

/**
 * Draws histories of columns under a model on a tree: the tables of one column (per component:
 * inside partials, clade non-triviality, the component posterior) and draws from them.
 */
class HistorySampler {
  readonly kernel: FlatTree;
  readonly setup: TipErrorSetup | null;
  readonly nComp: number; // rate components (+1 with the invariant class)
  readonly nRate: number;
  readonly componentNames: string[];
  readonly #logWeight: Float64Array;
  readonly #hasInv: boolean;
  readonly #em: Float64Array | null;
  /** Per rate component, per kernel node: branch constants. */
  readonly #cb: Float64Array;
  /** Root prior pi1 per rate component. */
  readonly #rootPi1: Float64Array;
  // Tables of the current column, per rate component c: [c * nNodes + v] (x2 for states).
  readonly #in0: Float64Array;
  readonly #in1: Float64Array;
  readonly #f0: Float64Array;
  readonly #f1: Float64Array;
  /** Probability that v's clade is trivial, exactly 0 where it cannot be (to make F exactly 1). */
  readonly #s0: Float64Array;
  readonly #s1: Float64Array;
  /** Per child slot (as `children`): 1 - prod of (1 - F) over this and later siblings. */
  readonly #gs0: Float64Array;
  readonly #gs1: Float64Array;
  readonly #scale: Int32Array;
  /** Cumulative posterior of the components for the current column. */
  readonly cumPosterior: Float64Array;
  readonly posterior: Float64Array;
  logLik = 0;
  /** The original tree's node of each kernel node (-1 for a pendant tip). */
  readonly origOf: Int32Array;
  // One draw's output: events on original branches, states of kernel nodes.
  readonly evNode: Int32Array;
  readonly evGain: Int32Array;
  readonly evLoss: Int32Array;
  nEv = 0;
  /** Nodes visited with an explicit state (state in `exState`). */
  readonly exNode: Int32Array;
  readonly exState: Uint8Array;
  nEx = 0;
  /** Tops of trivial clades (every node below in `mkState`). */
  readonly mkNode: Int32Array;
  readonly mkState: Uint8Array;
  nMk = 0;
  component = 0;
  readonly #stack: Int32Array;
  readonly #jumps = new Int32Array(2);
  /** Whether kernel node v carries events (pendant branches do not). */
  readonly counted: Uint8Array;

  constructor(tree: FlatTree, rates: ModelRates) {
    const model = typeof rates.model === "string" ? parseModel(rates.model) : rates.model;
    const comps = expandModel(model, rates.values);
    this.setup = tipErrorSetup(tree, model, rates.completeness ?? null);
    this.kernel = this.setup?.tree ?? tree;
    const assign = kernelAssignments(comps, this.setup, false);
    const k = this.kernel;
    const n = k.nNodes;
    this.nRate = comps.rates.length;
    this.#hasInv = comps.invariant !== null;
    this.nComp = this.nRate + (this.#hasInv ? 1 : 0);
    const r = model.rates;
    const names = r.kind === "gamma"
      ? Array.from({ length: r.categories }, (_, c) => `category${c + 1}`)
      : r.kind === "mixture"
      ? Array.from({ length: r.classes }, (_, c) => `class${c + 1}`)
      : ["rates"];
    this.componentNames = this.#hasInv ? [...names, "inv"] : names;
    this.#logWeight = Float64Array.from(
      [
        ...comps.rates.map((c) => c.logWeight),
        ...(comps.invariant ? [comps.invariant.logWeight] : []),
      ],
    );
    this.#em = assign.falseAbsence;
    this.#cb = new Float64Array(this.nRate * n * NB);
    this.#rootPi1 = new Float64Array(this.nRate);
    const perBranch = assign.options.layout === "perBranch";
    for (let c = 0; c < this.nRate; c++) {
      for (let v = 0; v < n; v++) {
        const o = perBranch ? 2 * (c * n + v) : 2 * c;
        const g = assign.rates[o], l = assign.rates[o + 1];
        if (v === n - 1) this.#rootPi1[c] = g / (g + l);
        else branchConstants(this.#cb, (c * n + v) * NB, g, l, k.branchLength[v]);
      }
    }
    this.origOf = Int32Array.from({ length: n }, (_, v) => (this.setup ? v - k.nTips : v));
    this.counted = new Uint8Array(n).fill(1);
    if (this.setup) this.counted.fill(0, 0, k.nTips);
    this.counted[n - 1] = 0;
    const cn = this.nRate * n;
    this.#in0 = new Float64Array(cn);
    this.#in1 = new Float64Array(cn);
    this.#f0 = new Float64Array(cn);
    this.#f1 = new Float64Array(cn);
    this.#s0 = new Float64Array(cn);
    this.#s1 = new Float64Array(cn);
    this.#gs0 = new Float64Array(this.nRate * k.children.length);
    this.#gs1 = new Float64Array(this.nRate * k.children.length);
    this.#scale = new Int32Array(this.nRate);
    this.cumPosterior = new Float64Array(this.nComp);
    this.posterior = new Float64Array(this.nComp);
    this.evNode = new Int32Array(n);
    this.evGain = new Int32Array(n);
    this.evLoss = new Int32Array(n);
    this.exNode = new Int32Array(n);
    this.exState = new Uint8Array(n);
    this.mkNode = new Int32Array(n);
    this.mkState = new Uint8Array(n);
    this.#stack = new Int32Array(n + 1);
  }

  /** Computes the tables of the column `states[offset .. offset + nTips - 1]`. */
  prepare(states: Uint8Array, offset: number): void {
    const k = this.kernel;
    const n = k.nNodes, nTips = k.nTips;
    const { childStart, children } = k;
    const cb = this.#cb;
    const in0 = this.#in0, in1 = this.#in1, f0 = this.#f0, f1 = this.#f1;
    const s0 = this.#s0, s1 = this.#s1;
    const gs0 = this.#gs0, gs1 = this.#gs1;
    const nSlots = children.length;
    const terms = new Float64Array(this.nComp);
    components: for (let c = 0; c < this.nRate; c++) {
      const base = c * n;
      let scale = 0;
      for (let v = 0; v < n; v++) {
        const i = base + v;
        let a0 = 1, a1 = 1;
        if (v < nTips) {
          const s = states[offset + v];
          if (s === PRESENT) a0 = 0;
          else if (s !== MISSING) a1 = 0;
        } else {
          let g0 = 0, g1 = 0; // 1 - prod (1 - F) over the later children, for states 0 and 1
          let p0 = 1, p1 = 1; // prod of the children's trivial probabilities
          for (let j = childStart[v + 1] - 1; j >= childStart[v]; j--) {
            const ch = children[j];
            const o = (base + ch) * NB;
            const i0 = in0[base + ch], i1 = in1[base + ch];
            a0 *= (cb[o + E0] + cb[o + D0]) * i0 + cb[o + P01] * i1;
            a1 *= cb[o + P10] * i0 + (cb[o + E1] + cb[o + D1]) * i1;
            if (Math.max(a0, a1) < SCALE_BELOW) {
              a0 *= SCALE_UP;
              a1 *= SCALE_UP;
              scale++;
            }
            g0 += (1 - g0) * f0[base + ch];
            g1 += (1 - g1) * f1[base + ch];
            p0 *= s0[base + ch];
            p1 *= s1[base + ch];
            gs0[c * nSlots + j] = g0;
            gs1[c * nSlots + j] = g1;
          }
          const top = Math.max(a0, a1);
          if (top === 0) {
            // The column is impossible in this component (zero-length branches): posterior 0.
            terms[c] = -Infinity;
            continue components;
          }
          if (top < SCALE_BELOW) {
            a0 *= SCALE_UP;
            a1 *= SCALE_UP;
            scale++;
          }
          in0[i] = a0;
          in1[i] = a1;
          if (v === n - 1) break;
          this.#nonTrivial(i, (base + v) * NB, a0, a1, g0, g1, p0, p1);
          continue;
        }
        in0[i] = a0;
        in1[i] = a1;
        if (v < n - 1) this.#nonTrivial(i, (base + v) * NB, a0, a1, 0, 0, 1, 1);
      }
      const p1 = this.#rootPi1[c];
      const root = base + n - 1;
      terms[c] = this.#logWeight[c] +
        Math.log((1 - p1) * in0[root] + p1 * in1[root]) - scale * LOG_SCALE;
      this.#scale[c] = scale;
    }
    if (this.#hasInv) {
      terms[this.nRate] = this.#logWeight[this.nRate] + this.#invariant(states, offset);
    }
    let top = -Infinity;
    for (let c = 0; c < this.nComp; c++) if (terms[c] > top) top = terms[c];
    if (top === -Infinity) {
      throw new GenecontentError(
        "The column has probability 0 under every component of the model (tips joined by " +
          "branches of length 0 differ), so it cannot be mapped: give those branches a length, " +
          "or add +error to the model.",
      );
    }
    let sum = 0;
    for (let c = 0; c < this.nComp; c++) sum += Math.exp(terms[c] - top);
    this.logLik = top + Math.log(sum);
    let acc = 0;
    for (let c = 0; c < this.nComp; c++) {
      this.posterior[c] = Math.exp(terms[c] - this.logLik);
      this.cumPosterior[c] = acc += this.posterior[c];
    }
    // A draw never falls off the end through rounding, nor onto an impossible last component.
    let last = this.nComp - 1;
    while (this.posterior[last] === 0) last--;
    this.cumPosterior.fill(Infinity, last);
  }

  /**
   * F_v(a) = (1 - r) + r G for both parent states, from the branch constants at `o`, and the
   * trivial probability S_v(a) = r prod S_c (`p0`, `p1` the children's product): where S is
   * exactly 0 (the clade holds a tip that contradicts a), F is exactly 1.
   */
  #nonTrivial(
    i: number,
    o: number,
    i0: number,
    i1: number,
    g0: number,
    g1: number,
    p0: number,
    p1: number,
  ) {
    const cb = this.#cb;
    // Parent in 0: trivial E0 i0; same state with jumps D0 i0; switch P01 i1.
    const t0 = cb[o + E0] * i0, n0 = cb[o + D0] * i0 + cb[o + P01] * i1;
    const t1 = cb[o + E1] * i1, n1 = cb[o + D1] * i1 + cb[o + P10] * i0;
    const z0 = t0 + n0, z1 = t1 + n1;
    // An unreachable parent state (Z = 0): never drawn; kept finite.
    const s0 = z0 > 0 ? (t0 / z0) * p0 : 0, s1 = z1 > 0 ? (t1 / z1) * p1 : 0;
    this.#s0[i] = s0;
    this.#s1[i] = s1;
    this.#f0[i] = s0 === 0 ? 1 : n0 / z0 + (t0 / z0) * g0;
    this.#f1[i] = s1 === 0 ? 1 : n1 / z1 + (t1 / z1) * g1;
  }

  /** log P(column | invariant class): every true state present. */
  #invariant(states: Uint8Array, offset: number): number {
    const nTips = this.kernel.nTips;
    const em = this.#em;
    let lp = 0;
    for (let i = 0; i < nTips; i++) {
      const s = states[offset + i];
      if (s === MISSING) continue;
      const e = em ? em[i] : 0;
      if (s === PRESENT) lp += Math.log1p(-e);
      else if (e === 0) return -Infinity;
      else lp += Math.log(e);
    }
    return lp;
  }

  /** Draws one history of the prepared column into the event and state lists. */
  draw(rng: UniformStream): void {
    const exNode = this.exNode, exState = this.exState, mkNode = this.mkNode;
    const mkState = this.mkState, evNode = this.evNode, evGain = this.evGain;
    const evLoss = this.evLoss, counted = this.counted, origOf = this.origOf;
    const jumps = this.#jumps;
    let nEv = 0, nEx = 0, nMk = 0;
    let c = 0;
    if (this.nComp > 1) {
      const u = rng.next();
      while (u >= this.cumPosterior[c]) c++;
    }
    this.component = c;
    const k = this.kernel;
    const n = k.nNodes;
    const root = n - 1;
    if (c === this.nRate) {
      mkNode[0] = root;
      mkState[0] = 1;
      this.nMk = 1;
      this.nEx = 0;
      this.nEv = 0;
      return;
    }
    const base = c * n;
    const nSlots = k.children.length;
    const { childStart, children } = k;
    const in0 = this.#in0, in1 = this.#in1, f0 = this.#f0, f1 = this.#f1;
    const gs0 = this.#gs0, gs1 = this.#gs1;
    const cb = this.#cb;
    const stack = this.#stack;
    const p1 = this.#rootPi1[c];
    const w1 = p1 * in1[base + root];
    const rootState = rng.next() * ((1 - p1) * in0[base + root] + w1) < w1 ? 1 : 0;
    exNode[nEx] = root;
    exState[nEx++] = rootState;
    let sp = 0;
    // Stack entries: node * 4 + parent state * 2 + conditioned (on a non-trivial clade).
    for (let j = childStart[root]; j < childStart[root + 1]; j++) {
      stack[sp++] = children[j] * 4 + rootState * 2;
    }
    while (sp > 0) {
      const e = stack[--sp];
      const v = e >> 2, a = (e >> 1) & 1;
      const f = a === 1 ? f1[base + v] : f0[base + v];
      // A clade that cannot be trivial (F = 1) needs no draw.
      if ((e & 1) === 0 && f < 1 && rng.next() >= f) {
        mkNode[nMk] = v;
        mkState[nMk++] = a;
        continue;
      }
      // The clade is not trivial.
      const o = (base + v) * NB;
      const i0 = in0[base + v], i1 = in1[base + v];
      const iA = a === 1 ? i1 : i0, iB = a === 1 ? i0 : i1;
      const triv = (a === 1 ? cb[o + E1] : cb[o + E0]) * iA;
      const same = (a === 1 ? cb[o + D1] : cb[o + D0]) * iA;
      const sw = (a === 1 ? cb[o + P10] : cb[o + P01]) * iB;
      const cs = childStart[v], ce = childStart[v + 1];
      const g = cs === ce ? 0 : (a === 1 ? gs1[c * nSlots + cs] : gs0[c * nSlots + cs]);
      // P(branch not trivial | clade not trivial) = (1 - r) / F.
      const pBranch = g === 0 || triv === 0 ? 1 : (same + sw) / (triv + same + sw) / f;
      let b = a;
      if (pBranch >= 1 || rng.next() < pBranch) {
        b = sw === 0 ? a : same === 0 ? 1 - a : rng.next() * (same + sw) < same ? a : 1 - a;
        exNode[nEx] = v;
        exState[nEx++] = b;
        if (counted[v]) {
          drawJumps(rng, cb, o, a, b, jumps);
          evNode[nEv] = origOf[v];
          evGain[nEv] = jumps[0];
          evLoss[nEv++] = jumps[1];
        }
        for (let j = cs; j < ce; j++) stack[sp++] = children[j] * 4 + b * 2;
        continue;
      }
      // The branch is trivial and some child's clade is not: the first such child.
      exNode[nEx] = v;
      exState[nEx++] = a;
      const gs = a === 1 ? gs1 : gs0;
      const fs = a === 1 ? f1 : f0;
      let j = cs;
      for (; j < ce - 1; j++) {
        const ch = children[j];
        const gj = gs[c * nSlots + j], fj = fs[base + ch];
        if (fj >= gj || rng.next() * gj < fj) break;
        mkNode[nMk] = ch;
        mkState[nMk++] = a;
      }
      stack[sp++] = children[j] * 4 + a * 2 + 1;
      for (let m = j + 1; m < ce; m++) stack[sp++] = children[m] * 4 + a * 2;
    }
    this.nEv = nEv;
    this.nEx = nEx;
    this.nMk = nMk;
  }
}

function checkOptions(options: StochasticMapOptions): void {
  const { samples, seed } = options;
  if (!(Number.isSafeInteger(samples) && samples >= 1)) {
    throw new GenecontentError(
      `Number of stochastic-map samples must be a whole number >= 1; got ${samples}.`,
    );
  }
  if (!Number.isSafeInteger(seed)) {
    throw new GenecontentError(`Stochastic-map seed must be a whole number; got ${seed}.`);
  }
}

/**
 * Draws `options.samples` histories of one family's column (tip states 0, 1 or 2 = missing, in
 * the tree's tip order) from their posterior under a model (see the module documentation).
 *
 * @example
 * ```ts
 * import { stochasticMap } from "./stochastic_map.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const h = stochasticMap(tree, Uint8Array.of(1, 0, 1), { model: "null", values: [0.5, 1] }, {
 *   samples: 100,
 *   seed: 1,
 * });
 * console.assert(h.states[2] === 1 && h.gains.length === 500);
 * ```
 */
export function stochasticMap(
  tree: FlatTree,
  column: ArrayLike<number>,
  rates: ModelRates,
  options: StochasticMapOptions,
): SampledHistories {
  checkOptions(options);
  if (column.length !== tree.nTips) {
    throw new GenecontentError(
      `A column needs one state per tip (${tree.nTips}); got ${column.length}.`,
    );
  }
  const states = Uint8Array.from(column);
  states.forEach((s, i) => {
    if (s !== 0 && s !== 1 && s !== MISSING) {
      throw new GenecontentError(
        `Tip '${tree.tipNames[i]}' has state ${column[i]}; states are 0, 1 or 2 (missing).`,
      );
    }
  });
  const sampler = new HistorySampler(tree, rates);
  sampler.prepare(states, 0);
  const N = options.samples;
  const n = tree.nNodes;
  const kn = sampler.kernel.nNodes;
  const gains = new Uint32Array(N * n);
  const losses = new Uint32Array(N * n);
  const out = new Uint8Array(N * n);
  const component = new Uint16Array(N);
  const kernelState = new Int8Array(kn);
  const parent = sampler.kernel.parent;
  const rng = new UniformStream(new Random(options.seed));
  for (let s = 0; s < N; s++) {
    sampler.draw(rng);
    component[s] = sampler.component;
    for (let i = 0; i < sampler.nEv; i++) {
      const v = sampler.evNode[i];
      gains[s * n + v] = sampler.evGain[i];
      losses[s * n + v] = sampler.evLoss[i];
    }
    kernelState.fill(-1);
    for (let i = 0; i < sampler.nEx; i++) kernelState[sampler.exNode[i]] = sampler.exState[i];
    for (let i = 0; i < sampler.nMk; i++) kernelState[sampler.mkNode[i]] = sampler.mkState[i];
    // Every other node is inside a trivial clade: its parent's state.
    for (let v = kn - 1; v >= 0; v--) {
      if (kernelState[v] < 0) kernelState[v] = kernelState[parent[v]];
      const w = sampler.origOf[v];
      if (w >= 0) out[s * n + w] = kernelState[v];
    }
  }
  return {
    samples: N,
    nNodes: n,
    gains,
    losses,
    states: out,
    component,
    componentNames: sampler.componentNames,
    posterior: Float64Array.from(sampler.posterior),
    logLik: sampler.logLik,
  };
}

/**
 * Sorts draws of a count in place: by a histogram when the counts are small whole numbers (the
 * common case: a branch or a family has a few events), else by the general sort.
 */
function sortCounts(x: Float64Array, histogram: Uint32Array): void {
  const n = x.length, bins = histogram.length;
  let top = 0;
  for (let i = 0; i < n; i++) {
    const c = x[i];
    if (!(c < bins)) {
      x.sort();
      return;
    }
    if (c > top) top = c;
  }
  histogram.fill(0, 0, top + 1);
  for (let i = 0; i < n; i++) histogram[x[i]]++;
  let k = 0;
  for (let c = 0; c <= top; c++) {
    for (let m = histogram[c]; m > 0; m--) x[k++] = c;
  }
}

/** Inverse-empirical-CDF quantile of sorted values. */
function quantileOfSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  const k = Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1));
  return sorted[k];
}

function checkLevels(levels: readonly number[]): void {
  for (const p of levels) {
    if (!(p >= 0 && p <= 1)) {
      throw new GenecontentError(`Quantile level ${p} must be a probability in [0, 1].`);
    }
  }
}

/**
 * Stochastic map of every family of a PAM: `options.samples` histories per family, drawn from
 * their posterior under a model (identical columns share their tables), summarised per branch
 * (gains and losses summed over families: mean and quantiles over the draws, and every draw),
 * per family (over the whole tree) and, with `perFamilyBranches`, per family and branch. The
 * ascertainment window does not enter: a posterior given a family's column does not depend on it.
 *
 * @example
 * ```ts
 * import { stochasticMapPatterns } from "./stochastic_map.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const pam = compressPatterns(Uint8Array.of(1, 0, 1, 1, 1, 1, 1, 0, 1), 3, 3, ["f", "g", "h"]);
 * const map = stochasticMapPatterns(tree, pam, { model: "gamma4", values: [0.5, 1, 0.5] }, {
 *   samples: 200,
 *   seed: 3,
 * });
 * console.assert(map.branchGains.mean.length === 5 && map.familyGains.mean.length === 3);
 * ```
 */
export function stochasticMapPatterns(
  tree: FlatTree,
  patterns: SitePatterns,
  rates: ModelRates,
  options: StochasticMapPatternsOptions,
): StochasticMapSummary {
  checkOptions(options);
  const levels = options.quantiles ?? [0.025, 0.975];
  checkLevels(levels);
  if (patterns.nTips !== tree.nTips) {
    throw new GenecontentError(
      `The PAM's patterns have ${patterns.nTips} genomes but the tree has ${tree.nTips} tips.`,
    );
  }
  const sampler = new HistorySampler(tree, rates);
  const N = options.samples;
  const n = tree.nNodes;
  const kn = sampler.kernel.nNodes;
  const kParent = sampler.kernel.parent;
  const nF = patterns.familyPattern.length;
  const nC = sampler.nComp;
  const rng = new UniformStream(new Random(options.seed));
  const branchGainDraws = new Float64Array(N * n);
  const branchLossDraws = new Float64Array(N * n);
  const famG = new Float64Array(N), famL = new Float64Array(N);
  const famGainMean = new Float64Array(nF), famLossMean = new Float64Array(nF);
  const famGainQ = levels.map(() => new Float64Array(nF));
  const famLossQ = levels.map(() => new Float64Array(nF));
  const familyComponents = new Float64Array(nF * nC);
  const presence = new Float64Array(n);
  const perBranch = options.perFamilyBranches === true;
  const fbGainMean = perBranch ? new Float64Array(nF * n) : null;
  const fbLossMean = perBranch ? new Float64Array(nF * n) : null;
  const fbGainQ = perBranch ? levels.map(() => new Float64Array(nF * n)) : null;
  const fbLossQ = perBranch ? levels.map(() => new Float64Array(nF * n)) : null;
  const fbPresence = perBranch ? new Float64Array(nF * n) : null;
  // Per-family scratch: explicit presence counts and trivial-clade marks (kernel nodes), the
  // draws' counts on touched branches.
  const ex1 = new Float64Array(kn), mk1 = new Float64Array(kn), cum = new Float64Array(kn);
  const drawG = perBranch ? new Uint32Array(N * n) : null;
  const drawL = perBranch ? new Uint32Array(N * n) : null;
  const touched = new Uint8Array(n);
  const touchedList = new Int32Array(n);
  const column = new Float64Array(N);
  const histogram = new Uint32Array(256);
  // Families of each pattern, in input order.
  const byPattern = new Int32Array(nF);
  const start = new Int32Array(patterns.nPatterns + 1);
  for (let f = 0; f < nF; f++) start[patterns.familyPattern[f] + 1]++;
  for (let p = 0; p < patterns.nPatterns; p++) start[p + 1] += start[p];
  const fill = start.slice(0, patterns.nPatterns);
  for (let f = 0; f < nF; f++) byPattern[fill[patterns.familyPattern[f]]++] = f;
  const nTips = tree.nTips;
  const { evNode, evGain, evLoss, exNode, exState, mkNode, mkState, origOf } = sampler;
  for (let p = 0; p < patterns.nPatterns; p++) {
    if (start[p] === start[p + 1]) continue;
    try {
      sampler.prepare(patterns.states, p * nTips);
    } catch (e) {
      if (!(e instanceof GenecontentError)) throw e;
      const f = byPattern[start[p]];
      throw new GenecontentError(
        `Family '${patterns.familyNames[f]}': ${e.message.charAt(0).toLowerCase()}${
          e.message.slice(1)
        }`,
      );
    }
    for (let q = start[p]; q < start[p + 1]; q++) {
      const f = byPattern[q];
      ex1.fill(0);
      mk1.fill(0);
      let nTouched = 0;
      for (let s = 0; s < N; s++) {
        sampler.draw(rng);
        familyComponents[f * nC + sampler.component] += 1 / N;
        let g = 0, l = 0;
        const nEv = sampler.nEv;
        for (let i = 0; i < nEv; i++) {
          const v = evNode[i];
          const eg = evGain[i], el = evLoss[i];
          g += eg;
          l += el;
          branchGainDraws[s * n + v] += eg;
          branchLossDraws[s * n + v] += el;
          if (perBranch) {
            drawG![s * n + v] = eg;
            drawL![s * n + v] = el;
            if (!touched[v]) {
              touched[v] = 1;
              touchedList[nTouched++] = v;
            }
          }
        }
        famG[s] = g;
        famL[s] = l;
        const nEx = sampler.nEx, nMk = sampler.nMk;
        for (let i = 0; i < nEx; i++) ex1[exNode[i]] += exState[i];
        for (let i = 0; i < nMk; i++) mk1[mkNode[i]] += mkState[i];
      }
      // Per-family totals.
      famGainMean[f] = mean(famG);
      famLossMean[f] = mean(famL);
      sortCounts(famG, histogram);
      sortCounts(famL, histogram);
      levels.forEach((lv, j) => {
        famGainQ[j][f] = quantileOfSorted(famG, lv);
        famLossQ[j][f] = quantileOfSorted(famL, lv);
      });
      // Node presence: explicit visits plus the trivial clades above or at each node.
      for (let v = kn - 1; v >= 0; v--) {
        cum[v] = mk1[v] + (v === kn - 1 ? 0 : cum[kParent[v]]);
        const w = origOf[v];
        if (w < 0) continue;
        const share = (ex1[v] + cum[v]) / N;
        presence[w] += share;
        if (fbPresence) fbPresence[f * n + w] = share;
      }
      if (perBranch) {
        for (let t = 0; t < nTouched; t++) {
          const v = touchedList[t];
          touched[v] = 0;
          for (
            const [draws, meanOut, qOut] of [
              [drawG!, fbGainMean!, fbGainQ!],
              [drawL!, fbLossMean!, fbLossQ!],
            ] as const
          ) {
            let sum = 0;
            for (let s = 0; s < N; s++) {
              column[s] = draws[s * n + v];
              sum += column[s];
              draws[s * n + v] = 0;
            }
            meanOut[f * n + v] = sum / N;
            sortCounts(column, histogram);
            levels.forEach((lv, j) => (qOut[j][f * n + v] = quantileOfSorted(column, lv)));
          }
        }
      }
    }
  }
  const summarise = (draws: Float64Array): CountSummary => {
    const m = new Float64Array(n);
    const qs = levels.map(() => new Float64Array(n));
    for (let v = 0; v < n; v++) {
      let sum = 0;
      for (let s = 0; s < N; s++) sum += column[s] = draws[s * n + v];
      m[v] = sum / N;
      column.sort();
      levels.forEach((lv, j) => (qs[j][v] = quantileOfSorted(column, lv)));
    }
    return { mean: m, quantiles: qs };
  };
  const totals = (draws: Float64Array) => {
    const t = new Float64Array(N);
    for (let s = 0; s < N; s++) {
      let sum = 0;
      for (let v = 0; v < n; v++) sum += draws[s * n + v];
      t[s] = sum;
    }
    return t;
  };
  return {
    samples: N,
    seed: options.seed,
    nNodes: n,
    nFamilies: nF,
    quantileLevels: [...levels],
    componentNames: sampler.componentNames,
    branchGainDraws,
    branchLossDraws,
    branchGains: summarise(branchGainDraws),
    branchLosses: summarise(branchLossDraws),
    totalGains: totals(branchGainDraws),
    totalLosses: totals(branchLossDraws),
    familyGains: { mean: famGainMean, quantiles: famGainQ },
    familyLosses: { mean: famLossMean, quantiles: famLossQ },
    presence,
    familyComponents,
    ...(perBranch
      ? {
        familyBranches: {
          gains: { mean: fbGainMean!, quantiles: fbGainQ! },
          losses: { mean: fbLossMean!, quantiles: fbLossQ! },
          presence: fbPresence!,
        },
      }
      : {}),
  };
}

function mean(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}
