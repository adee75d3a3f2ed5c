/**
 * The pure-TypeScript likelihood backend: Felsenstein pruning over the flat tree arrays, used
 * where the native library cannot be loaded and as the independent check of the native kernel.
 *
 * Patterns are processed in blocks with node-major scratch (`nInternal * block` values per
 * state) reused across blocks. Each internal node's partial likelihoods are multiplied by 2^256
 * whenever both fall below 2^-256; the scaling is a power of two, so it is exact, and the number
 * of scalings times 256 log(2) is subtracted at the root. Derivatives with respect to log(gain)
 * and log(loss) are carried alongside the partials (forward mode) and scaled with them.
 *
 * @module
 */
import type {
  AsyncEvaluateOptions,
  EvaluateOptions,
  Evaluation,
  LikelihoodBackend,
} from "./backend.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { stationary, transitionDerivatives } from "../model/two_state.ts";

const TINY = 2 ** -256;
const HUGE = 2 ** 256;
const LOG_HUGE = 256 * Math.LN2;
/** Target number of doubles per scratch array (bounds memory on big trees). */
const SCRATCH_TARGET = 131072;
const MAX_BLOCK = 128;
const MIN_BLOCK = 16;
/** Milliseconds of work between yields to the event loop in `evaluateAsync`. */
const SLICE_MS = 8;

/** Per-parameter-set tables, computed once per evaluation. */
interface SetTables {
  /** Per node, 8 entries: [p00, p01, 1, 0, p10, p11, 1, 0] (index 2 and 6: a missing tip). */
  readonly p: Float64Array;
  /** The same layout for d/d log(gain) (missing-tip entries 0). */
  readonly dg: Float64Array;
  /** The same layout for d/d log(loss). */
  readonly dl: Float64Array;
  /** [pi0, pi1, dpi0/dlogGain, dpi1/dlogGain, dpi0/dlogLoss, dpi1/dlogLoss]. */
  readonly root: Float64Array;
}

function validateRates(rates: Float64Array): number {
  if (rates.length % 2 !== 0) {
    throw new RangeError(
      `Rates must come in (gain, loss) pairs, got an array of length ${rates.length}.`,
    );
  }
  for (let i = 0; i < rates.length; i++) {
    const v = rates[i];
    if (!(Number.isFinite(v) && v > 0)) {
      const what = i % 2 === 0 ? "gain" : "loss";
      throw new RangeError(
        `The ${what} rate of parameter set ${i >> 1} must be finite and > 0, got ${v}.`,
      );
    }
  }
  return rates.length / 2;
}

/**
 * Felsenstein pruning in TypeScript, bound to one tree and one set of patterns.
 *
 * @example
 * ```ts
 * import { TsBackend } from "./ts_backend.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
 * // Two patterns: (0, 0) and (1, missing).
 * using backend = new TsBackend(tree, new Uint8Array([0, 0, 1, 2]), 2);
 * const { logLik, grad } = backend.evaluate(new Float64Array([0.5, 1.5]), { gradient: true });
 * console.assert(logLik.length === 2 && grad!.length === 4);
 * // A present tip with the other missing has probability pi1 = 0.25.
 * console.assert(Math.abs(logLik[1] - Math.log(0.25)) < 1e-12);
 * ```
 */
export class TsBackend implements LikelihoodBackend {
  /** Always `"ts"`. */
  readonly name = "ts" as const;
  /** Always 1: the TypeScript backend runs on the calling thread. */
  readonly threads = 1;
  /** Number of patterns bound to this backend. */
  readonly nPatterns: number;
  readonly #tree: FlatTree;
  /** Tip-major states: `#tipStates[tip * nPatterns + p]`. */
  readonly #tipStates: Uint8Array;
  readonly #block: number;
  readonly #u0: Float64Array;
  readonly #u1: Float64Array;
  #g0 = new Float64Array(0);
  #g1 = new Float64Array(0);
  #l0 = new Float64Array(0);
  #l1 = new Float64Array(0);
  readonly #scale: Float64Array;

  /**
   * Binds a tree and pattern-major tip states (`states[p * nTips + tip]`, each 0 absent,
   * 1 present or 2 missing).
   */
  constructor(tree: FlatTree, states: Uint8Array, nPatterns: number) {
    const nTips = tree.nTips;
    if (!(Number.isInteger(nPatterns) && nPatterns >= 0)) {
      throw new RangeError(`The number of patterns must be an integer >= 0, got ${nPatterns}.`);
    }
    if (states.length !== nPatterns * nTips) {
      throw new RangeError(
        `State array has ${states.length} entries, expected ${nPatterns} patterns x ${nTips} tips.`,
      );
    }
    this.#tree = tree;
    this.nPatterns = nPatterns;
    const tipStates = new Uint8Array(states.length);
    for (let p = 0; p < nPatterns; p++) {
      for (let i = 0; i < nTips; i++) {
        const s = states[p * nTips + i];
        if (s > 2) {
          throw new RangeError(
            `Pattern ${p}, tip ${i} has state ${s}; states must be 0, 1 or 2 (missing).`,
          );
        }
        tipStates[i * nPatterns + p] = s;
      }
    }
    this.#tipStates = tipStates;
    const nInternal = Math.max(1, tree.nNodes - nTips);
    this.#block = Math.max(
      1,
      Math.min(
        nPatterns,
        Math.max(MIN_BLOCK, Math.min(MAX_BLOCK, Math.floor(SCRATCH_TARGET / nInternal))),
      ),
    );
    this.#u0 = new Float64Array(nInternal * this.#block);
    this.#u1 = new Float64Array(nInternal * this.#block);
    this.#scale = new Float64Array(this.#block);
  }

  /**
   * Evaluates every pattern for each parameter set `rates = [gain0, loss0, gain1, loss1, ...]`.
   *
   * @example
   * ```ts
   * import { TsBackend } from "./ts_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a"], [-1], [0]);
   * using backend = new TsBackend(tree, new Uint8Array([1]), 1);
   * const { logLik } = backend.evaluate(new Float64Array([1, 3, 3, 1]));
   * console.assert(Math.abs(logLik[0] - Math.log(0.25)) < 1e-15);
   * console.assert(Math.abs(logLik[1] - Math.log(0.75)) < 1e-15);
   * ```
   */
  evaluate(rates: Float64Array, options: EvaluateOptions = {}): Evaluation {
    const { tables, out } = this.#prepare(rates, options.gradient === true);
    for (let k = 0; k < tables.length; k++) {
      for (let p0 = 0; p0 < this.nPatterns; p0 += this.#block) {
        this.#runBlock(tables[k], k, p0, out);
      }
    }
    return out;
  }

  /**
   * The same as {@linkcode TsBackend.evaluate}, yielding to the event loop every few
   * milliseconds between blocks of patterns, reporting progress and honouring `signal`.
   *
   * @example
   * ```ts
   * import { TsBackend } from "./ts_backend.ts";
   * import { flatTreeFromParents } from "../tree/flat_tree.ts";
   * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.5, 0.5, 0]);
   * using backend = new TsBackend(tree, new Uint8Array([0, 1]), 1);
   * let last = 0;
   * const r = await backend.evaluateAsync(new Float64Array([1, 1]), { onProgress: (f) => last = f });
   * console.assert(last === 1 && r.logLik.length === 1);
   * ```
   */
  async evaluateAsync(
    rates: Float64Array,
    options: AsyncEvaluateOptions = {},
  ): Promise<Evaluation> {
    const { signal, onProgress } = options;
    const abortIfNeeded = () => {
      if (signal?.aborted) throw new DOMException("Evaluation aborted.", "AbortError");
    };
    abortIfNeeded();
    const { tables, out } = this.#prepare(rates, options.gradient === true);
    const nBlocks = Math.ceil(this.nPatterns / this.#block);
    const total = tables.length * nBlocks;
    let done = 0;
    let sliceStart = performance.now();
    for (let k = 0; k < tables.length; k++) {
      for (let p0 = 0; p0 < this.nPatterns; p0 += this.#block) {
        if (performance.now() - sliceStart >= SLICE_MS) {
          onProgress?.(done / total);
          await new Promise((resolve) => setTimeout(resolve, 0));
          abortIfNeeded();
          sliceStart = performance.now();
        }
        this.#runBlock(tables[k], k, p0, out);
        done++;
      }
    }
    onProgress?.(1);
    return out;
  }

  /** Nothing to free: the scratch is garbage-collected. */
  [Symbol.dispose](): void {}

  #prepare(
    rates: Float64Array,
    gradient: boolean,
  ): { tables: SetTables[]; out: { logLik: Float64Array; grad?: Float64Array } } {
    const nSets = validateRates(rates);
    const { nNodes, branchLength } = this.#tree;
    const tables: SetTables[] = [];
    for (let k = 0; k < nSets; k++) {
      const gain = rates[2 * k];
      const loss = rates[2 * k + 1];
      const p = new Float64Array(nNodes * 8);
      const dg = new Float64Array(nNodes * 8);
      const dl = new Float64Array(nNodes * 8);
      for (let i = 0; i < nNodes - 1; i++) {
        const d = transitionDerivatives(gain, loss, branchLength[i]);
        const o = i * 8;
        p[o] = d.p.p00;
        p[o + 1] = d.p.p01;
        p[o + 2] = 1;
        p[o + 4] = d.p.p10;
        p[o + 5] = d.p.p11;
        p[o + 6] = 1;
        dg[o] = d.dLogGain.p00;
        dg[o + 1] = d.dLogGain.p01;
        dg[o + 4] = d.dLogGain.p10;
        dg[o + 5] = d.dLogGain.p11;
        dl[o] = d.dLogLoss.p00;
        dl[o + 1] = d.dLogLoss.p01;
        dl[o + 4] = d.dLogLoss.p10;
        dl[o + 5] = d.dLogLoss.p11;
      }
      const st = stationary(gain, loss);
      const root = Float64Array.of(
        st.pi0,
        st.pi1,
        st.dLogGain.pi0,
        st.dLogGain.pi1,
        st.dLogLoss.pi0,
        st.dLogLoss.pi1,
      );
      tables.push({ p, dg, dl, root });
    }
    const n = nSets * this.nPatterns;
    if (gradient && this.#g0.length !== this.#u0.length) {
      this.#g0 = new Float64Array(this.#u0.length);
      this.#g1 = new Float64Array(this.#u0.length);
      this.#l0 = new Float64Array(this.#u0.length);
      this.#l1 = new Float64Array(this.#u0.length);
    }
    const out = gradient
      ? { logLik: new Float64Array(n), grad: new Float64Array(2 * n) }
      : { logLik: new Float64Array(n) };
    return { tables, out };
  }

  /** Prunes patterns `p0 .. p0 + block - 1` for parameter set `k` and writes their results. */
  #runBlock(
    t: SetTables,
    k: number,
    p0: number,
    out: { logLik: Float64Array; grad?: Float64Array },
  ): void {
    const nb = Math.min(this.#block, this.nPatterns - p0);
    this.#scale.fill(0, 0, nb);
    if (out.grad) this.#pruneWithGradient(t, p0, nb);
    else this.#pruneValues(t, p0, nb);
    this.#finishRoot(t, k, p0, nb, out);
  }

  #pruneValues(t: SetTables, p0: number, nb: number): void {
    const { nTips, nNodes, childStart, children } = this.#tree;
    const B = this.#block;
    const u0 = this.#u0, u1 = this.#u1, tipStates = this.#tipStates, P = t.p;
    const nPatterns = this.nPatterns;
    for (let n = nTips; n < nNodes; n++) {
      const base = (n - nTips) * B;
      const first = childStart[n], last = childStart[n + 1];
      const many = last - first > 2;
      u0.fill(1, base, base + nb);
      u1.fill(1, base, base + nb);
      for (let ci = first; ci < last; ci++) {
        const c = children[ci];
        const o = c * 8;
        if (c < nTips) {
          const ts = c * nPatterns + p0;
          for (let b = 0; b < nb; b++) {
            const s = tipStates[ts + b];
            u0[base + b] *= P[o + s];
            u1[base + b] *= P[o + 4 + s];
          }
        } else {
          const cb = (c - nTips) * B;
          const a00 = P[o], a01 = P[o + 1], a10 = P[o + 4], a11 = P[o + 5];
          for (let b = 0; b < nb; b++) {
            const v0 = u0[cb + b], v1 = u1[cb + b];
            u0[base + b] *= a00 * v0 + a01 * v1;
            u1[base + b] *= a10 * v0 + a11 * v1;
          }
        }
        if (many || ci === last - 1) this.#rescale(base, nb, false);
      }
    }
  }

  #pruneWithGradient(t: SetTables, p0: number, nb: number): void {
    const { nTips, nNodes, childStart, children } = this.#tree;
    const B = this.#block;
    const u0 = this.#u0, u1 = this.#u1;
    const g0 = this.#g0, g1 = this.#g1, l0 = this.#l0, l1 = this.#l1;
    const tipStates = this.#tipStates, P = t.p, DG = t.dg, DL = t.dl;
    const nPatterns = this.nPatterns;
    for (let n = nTips; n < nNodes; n++) {
      const base = (n - nTips) * B;
      const first = childStart[n], last = childStart[n + 1];
      const many = last - first > 2;
      u0.fill(1, base, base + nb);
      u1.fill(1, base, base + nb);
      g0.fill(0, base, base + nb);
      g1.fill(0, base, base + nb);
      l0.fill(0, base, base + nb);
      l1.fill(0, base, base + nb);
      for (let ci = first; ci < last; ci++) {
        const c = children[ci];
        const o = c * 8;
        if (c < nTips) {
          const ts = c * nPatterns + p0;
          for (let b = 0; b < nb; b++) {
            const s = tipStates[ts + b];
            const i = base + b;
            const w0 = P[o + s], w1 = P[o + 4 + s];
            const x0 = u0[i], x1 = u1[i];
            g0[i] = g0[i] * w0 + x0 * DG[o + s];
            g1[i] = g1[i] * w1 + x1 * DG[o + 4 + s];
            l0[i] = l0[i] * w0 + x0 * DL[o + s];
            l1[i] = l1[i] * w1 + x1 * DL[o + 4 + s];
            u0[i] = x0 * w0;
            u1[i] = x1 * w1;
          }
        } else {
          const cb = (c - nTips) * B;
          const a00 = P[o], a01 = P[o + 1], a10 = P[o + 4], a11 = P[o + 5];
          const ga00 = DG[o], ga01 = DG[o + 1], ga10 = DG[o + 4], ga11 = DG[o + 5];
          const la00 = DL[o], la01 = DL[o + 1], la10 = DL[o + 4], la11 = DL[o + 5];
          for (let b = 0; b < nb; b++) {
            const j = cb + b;
            const i = base + b;
            const v0 = u0[j], v1 = u1[j];
            const gv0 = g0[j], gv1 = g1[j], lv0 = l0[j], lv1 = l1[j];
            const w0 = a00 * v0 + a01 * v1;
            const w1 = a10 * v0 + a11 * v1;
            const gw0 = ga00 * v0 + ga01 * v1 + a00 * gv0 + a01 * gv1;
            const gw1 = ga10 * v0 + ga11 * v1 + a10 * gv0 + a11 * gv1;
            const lw0 = la00 * v0 + la01 * v1 + a00 * lv0 + a01 * lv1;
            const lw1 = la10 * v0 + la11 * v1 + a10 * lv0 + a11 * lv1;
            const x0 = u0[i], x1 = u1[i];
            g0[i] = g0[i] * w0 + x0 * gw0;
            g1[i] = g1[i] * w1 + x1 * gw1;
            l0[i] = l0[i] * w0 + x0 * lw0;
            l1[i] = l1[i] * w1 + x1 * lw1;
            u0[i] = x0 * w0;
            u1[i] = x1 * w1;
          }
        }
        if (many || ci === last - 1) this.#rescale(base, nb, true);
      }
    }
  }

  /** Multiplies a node's partials (and derivatives) by 2^256 while both are below 2^-256. */
  #rescale(base: number, nb: number, gradient: boolean): void {
    const u0 = this.#u0, u1 = this.#u1, scale = this.#scale;
    for (let b = 0; b < nb; b++) {
      const i = base + b;
      let m = u0[i] > u1[i] ? u0[i] : u1[i];
      // m === 0 means an impossible pattern (zero-length branches): leave it at log(0).
      while (m < TINY && m > 0) {
        u0[i] *= HUGE;
        u1[i] *= HUGE;
        if (gradient) {
          this.#g0[i] *= HUGE;
          this.#g1[i] *= HUGE;
          this.#l0[i] *= HUGE;
          this.#l1[i] *= HUGE;
        }
        scale[b]++;
        m *= HUGE;
      }
    }
  }

  #finishRoot(
    t: SetTables,
    k: number,
    p0: number,
    nb: number,
    out: { logLik: Float64Array; grad?: Float64Array },
  ): void {
    const { nTips, nNodes } = this.#tree;
    const [pi0, pi1, gpi0, gpi1, lpi0, lpi1] = t.root;
    const scale = this.#scale;
    const outOff = k * this.nPatterns + p0;
    const grad = out.grad;
    const single = nNodes === 1;
    const base = (nNodes - 1 - nTips) * this.#block;
    for (let b = 0; b < nb; b++) {
      let v0: number, v1: number, gv0 = 0, gv1 = 0, lv0 = 0, lv1 = 0;
      if (single) {
        const s = this.#tipStates[p0 + b];
        v0 = s === 1 ? 0 : 1;
        v1 = s === 0 ? 0 : 1;
      } else {
        const i = base + b;
        v0 = this.#u0[i];
        v1 = this.#u1[i];
        if (grad) {
          gv0 = this.#g0[i];
          gv1 = this.#g1[i];
          lv0 = this.#l0[i];
          lv1 = this.#l1[i];
        }
      }
      const like = pi0 * v0 + pi1 * v1;
      out.logLik[outOff + b] = Math.log(like) - scale[b] * LOG_HUGE;
      if (grad) {
        const dG = gpi0 * v0 + gpi1 * v1 + pi0 * gv0 + pi1 * gv1;
        const dL = lpi0 * v0 + lpi1 * v1 + pi0 * lv0 + pi1 * lv1;
        grad[2 * (outOff + b)] = dG / like;
        grad[2 * (outOff + b) + 1] = dL / like;
      }
    }
  }
}
