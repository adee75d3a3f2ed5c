/**
 * Ancestral reconstruction under any model: the posterior probability that each family is
 * present at every node, and its expected gains and losses on every branch, per family and summed
 * over families, branches and root-to-tip paths.
 *
 * Everything comes from one primitive, `LikelihoodBackend.expectations`, and closed forms
 * (`events.ts`). A model's families are a mixture of components (gamma categories, mixture
 * classes, the invariant class); given a family's column, its component has the posterior
 * `w_c L_c / sum_c' w_c' L_c'` (`ModelLikelihood.evaluate(values, false, { posterior: true })`),
 * so every quantity is the posterior-weighted sum of the components' quantities. Each rate
 * component is one parameter set of the expectations pass, with pattern weights
 * `count(p) * posterior_c(p)` for sums over families (or the count of a family set's members in
 * the pattern), and `posterior_c(p)` for per-family values. The invariant class is present at
 * every node and has no events. The ascertainment window does not change a posterior given the
 * family's column, so it plays no part here.
 *
 * With tip error (`+error` or per-genome completeness) the backends run on the tree extended by a
 * pendant branch under every tip (`lib/model/tip_error.ts`): the original tip is then the unary
 * node above its pendant, so a tip's presence is the posterior of its true state and the branch
 * above an original tip is the branch above that unary node. The pendant branches carry
 * annotation errors, not events, and are left out.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import type { LikelihoodBackend } from "../likelihood/backend.ts";
import type { ModelLikelihood } from "../likelihood/model_likelihood.ts";
import { TsBackend } from "../likelihood/ts_backend.ts";
import { expandModel, kernelAssignments, tipErrorSetup } from "../model/components.ts";
import { formatModel } from "../model/description.ts";
import { MISSING } from "../pam/matrix.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { applyCoefficients, type BranchCoefficients, branchCoefficients } from "./events.ts";
import { nodeIds } from "./node_ids.ts";

/** Options of {@linkcode reconstructAncestral}. */
export interface AncestralOptions {
  /**
   * The per-genome completeness the likelihood was opened with (`ModelLikelihoodOptions`), in
   * the tree's tip order; `null` or absent when none was. A mismatch that changes the
   * likelihood is detected and refused.
   */
  readonly completeness?: Float64Array | null;
  /** A family set (names as in the PAM): its sums are reported beside the sums over all. */
  readonly familySet?: readonly string[];
  /**
   * Patterns per expectations pass for per-family values (bounds memory:
   * `components * patterns * nodes * 4` doubles); default: about 4 million doubles.
   */
  readonly chunkPatterns?: number;
}

/** Sums over a set of families, indexed by node of the tree (no pendant branches). */
export interface AncestralSums {
  /** Expected number of the families present at each node (root included). */
  readonly present: Float64Array;
  /** Expected gains on the branch above each node (the root's entry is 0). */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (the root's entry is 0). */
  readonly losses: Float64Array;
}

/** Sums along every genome's path from the root, indexed by tip. */
export interface GenomeSums {
  /** Expected gains on the branches from the root to the tip. */
  readonly gains: Float64Array;
  /** Expected losses on the branches from the root to the tip. */
  readonly losses: Float64Array;
}

/** One family's reconstruction, indexed by node of the tree. */
export interface FamilyAncestral {
  /** The family's name (as in the PAM). */
  readonly family: string;
  /** Posterior probability that the family is present at each node (root included). */
  readonly pPresent: Float64Array;
  /** Expected gains on the branch above each node (the root's entry is 0). */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (the root's entry is 0). */
  readonly losses: Float64Array;
}

/**
 * Per-family values of a run of families, stored once per distinct column pattern: family `i`
 * of the block is named `families[i]` and its values are row `rows[i]` of `present`, `gains`
 * and `losses` (`nRows * nNodes` each, row-major, indexed by node of the tree).
 */
export interface FamilyBlock {
  /** The families' names, in the order requested. */
  readonly families: readonly string[];
  /** The value row of each family. */
  readonly rows: Uint32Array;
  /** Posterior probability of presence at each node (root included), row by row. */
  readonly present: Float64Array;
  /** Expected gains on the branch above each node (the root's entry is 0), row by row. */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (the root's entry is 0), row by row. */
  readonly losses: Float64Array;
}

/** Per-family totals over all branches (turnover), in the PAM's family order. */
export interface FamilyTurnover {
  /** Family names, in the PAM's order. */
  readonly families: readonly string[];
  /** Expected gains of each family over the whole tree. */
  readonly gains: Float64Array;
  /** Expected losses of each family over the whole tree. */
  readonly losses: Float64Array;
}

/** The sums of a family set. */
export interface FamilySetSums {
  /** The set's families (in the order given). */
  readonly families: readonly string[];
  /** Sums over the set's families. */
  readonly sums: AncestralSums;
  /** Root-to-tip sums over the set's families. */
  readonly genomes: GenomeSums;
}

/** Per-pattern ancestral values of one pattern. */
interface PatternRow {
  readonly present: Float64Array;
  readonly gains: Float64Array;
  readonly losses: Float64Array;
}

/**
 * An ancestral reconstruction: sums over all families (and a family set), and per-family values
 * on request.
 */
export interface AncestralReconstruction {
  /** The tree (without pendant branches). */
  readonly tree: FlatTree;
  /** Stable node ids (`node_ids.ts`), one per node. */
  readonly ids: readonly string[];
  /** Components, as `ModelLikelihood.componentNames`. */
  readonly componentNames: readonly string[];
  /** Which backend computed the expectations. */
  readonly backend: string;
  /** The total log-likelihood at the values (as `ModelLikelihood.evaluate`). */
  readonly logLik: number;
  /** Number of families. */
  readonly nFamilies: number;
  /** Sums over all families. */
  readonly totals: AncestralSums;
  /** Root-to-tip sums over all families. */
  readonly genomes: GenomeSums;
  /** Sums over the family set of the options, or `null`. */
  readonly familySet: FamilySetSums | null;
  /**
   * Per-family values of the named families (all, in PAM order, when absent), in the order
   * given, computed in chunks of patterns as the iterator is consumed.
   */
  families(names?: readonly string[]): Generator<FamilyAncestral>;
  /**
   * The same values as {@linkcode AncestralReconstruction.families}, a block of families at a
   * time with each distinct pattern's values stored once (for writers of large tables).
   */
  familyBlocks(names?: readonly string[]): Generator<FamilyBlock>;
  /** Every family's expected gains and losses over the whole tree. */
  turnover(): FamilyTurnover;
}

/** Target number of doubles of one per-pattern expectations pass. */
const CHUNK_DOUBLES = 1 << 22;

/**
 * Reconstructs ancestral presence and expected events under `lik`'s model at natural-scale
 * `values` (in the order of `lik.parameters`). Uses the likelihood's backend where it implements
 * `expectations`, the TypeScript backend otherwise. Family names that are not in the PAM are
 * refused, naming them.
 *
 * @example
 * ```ts
 * import { reconstructAncestral } from "./reconstruct.ts";
 * import { ModelLikelihood } from "../likelihood/model_likelihood.ts";
 * import { tsBackendFactory } from "../likelihood/choose_backend.ts";
 * import { parseModel } from "../model/description.ts";
 * import { compressPatterns } from "../pam/patterns.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [0.1, 0.2, 0.3, 0.1, 0]);
 * const patterns = compressPatterns(Uint8Array.of(1, 1, 0, 0, 0, 1), 2, 3, ["f1", "f2"]);
 * using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel("gamma4"));
 * const rec = reconstructAncestral(lik, Float64Array.of(0.5, 1, 0.5));
 * // Gains minus losses on a branch is the change in expected presence along it.
 * const v = 3, up = 4; // the cherry (a, b) and the root
 * const net = rec.totals.gains[v] - rec.totals.losses[v];
 * console.assert(Math.abs(net - (rec.totals.present[v] - rec.totals.present[up])) < 1e-12);
 * const [f1] = rec.families(["f1"]);
 * console.assert(f1.pPresent[0] === 1 && f1.pPresent[2] === 0); // observed tips (no error)
 * ```
 */
export function reconstructAncestral(
  lik: ModelLikelihood,
  values: Float64Array,
  options: AncestralOptions = {},
): AncestralReconstruction {
  const tree = lik.tree;
  const patterns = lik.patterns;
  const { nTips, nNodes } = tree;
  const nPatterns = patterns.nPatterns;
  const comps = expandModel(lik.model, values);
  const setup = tipErrorSetup(tree, lik.model, options.completeness ?? null);
  const kernelTree = setup?.tree ?? tree;
  const kNodes = kernelTree.nNodes;
  if (lik.backend.nNodes !== undefined && lik.backend.nNodes !== kNodes) {
    throw new GenecontentError(
      `The likelihood's backend runs on a tree of ${lik.backend.nNodes} nodes, but ${
        options.completeness ? "the given completeness" : "no completeness"
      } with model ${formatModel(lik.model)} gives ${kNodes}: pass reconstructAncestral the ` +
        "completeness the likelihood was opened with.",
    );
  }
  const assign = kernelAssignments(comps, setup, false);
  const C = comps.rates.length;
  const inv = comps.invariant !== null;
  const nComp = C + (inv ? 1 : 0);
  const evaluation = lik.evaluate(values, false, { posterior: true });
  const posterior = evaluation.posterior!;
  // A backend without expectations (a native library that predates them): the TypeScript one.
  const backend: LikelihoodBackend = lik.backend.expectations !== undefined
    ? lik.backend
    : new TsBackend(kernelTree, patterns.states, nPatterns);
  const expectations = backend.expectations!.bind(backend);
  const backendName = backend.name;
  // Original node v is kernel node v + nTips with pendants; the branch above it is kernel's.
  const shift = setup ? nTips : 0;
  const coef: BranchCoefficients[] = [];
  for (let c = 0; c < C; c++) {
    for (let v = 0; v < nNodes - 1; v++) {
      coef.push(branchCoefficients(comps.rates[c].gain, comps.rates[c].loss, tree.branchLength[v]));
    }
  }
  const coefOf = (c: number, v: number) => coef[c * (nNodes - 1) + v];
  // The same coefficients flat, 12 per branch: child presence (P01, P11), gains, losses.
  const flat = new Float64Array(C * (nNodes - 1) * 12);
  coef.forEach((cf, i) => {
    flat[i * 12] = cf.childPresent[1];
    flat[i * 12 + 1] = cf.childPresent[3];
    flat.set(cf.gains, i * 12 + 2);
    flat.set(cf.losses, i * 12 + 6);
  });
  const invShare = (p: number) => (inv ? posterior[p * nComp + C] : 0);

  // Sums over all families and the family set in one pass: sets 0..C-1 all, C..2C-1 the set.
  let setCount: Float64Array | null = null;
  let setNames: string[] = [];
  if (options.familySet !== undefined) {
    setNames = [...options.familySet];
    const index = familyIndex(patterns.familyNames, setNames, "family set");
    setCount = new Float64Array(nPatterns);
    for (const f of index) setCount[patterns.familyPattern[f]]++;
  }
  const nSumSets = setCount ? 2 * C : C;
  const r = assign.rates.length / C;
  const sumRates = new Float64Array(nSumSets * r);
  for (let k = 0; k < nSumSets; k++) {
    sumRates.set(assign.rates.subarray((k % C) * r, (k % C + 1) * r), k * r);
  }
  const weights = new Float64Array(nSumSets * nPatterns);
  for (let k = 0; k < nSumSets; k++) {
    const c = k % C;
    const count = k < C ? patterns.weights : setCount!;
    for (let p = 0; p < nPatterns; p++) {
      weights[k * nPatterns + p] = count[p] * posterior[p * nComp + c];
    }
  }
  const summed = expectations(sumRates, { layout: assign.options.layout, weights });
  checkAssignments(
    lik,
    evaluation.perPattern,
    posterior,
    summed.logLik,
    comps.rates.map((x) => x.logWeight),
    nComp,
  );
  const sumsOf = (first: number, count: ArrayLike<number>): AncestralSums => {
    const out: AncestralSums = {
      present: new Float64Array(nNodes),
      gains: new Float64Array(nNodes),
      losses: new Float64Array(nNodes),
    };
    let invTotal = 0;
    if (inv) { for (let p = 0; p < nPatterns; p++) invTotal += count[p] * invShare(p); }
    for (let v = 0; v < nNodes; v++) out.present[v] = invTotal;
    for (let c = 0; c < C; c++) {
      const base = (first + c) * kNodes * 4;
      for (let v = 0; v < nNodes; v++) {
        const o = base + (v + shift) * 4;
        if (v === nNodes - 1) {
          out.present[v] += summed.branch[o + 3];
          continue;
        }
        const cf = coefOf(c, v);
        out.present[v] += applyCoefficients(cf.childPresent, summed.branch, o);
        out.gains[v] += applyCoefficients(cf.gains, summed.branch, o);
        out.losses[v] += applyCoefficients(cf.losses, summed.branch, o);
      }
    }
    return out;
  };
  const totals = sumsOf(0, patterns.weights);
  let familySet: FamilySetSums | null = null;
  if (setCount) {
    const sums = sumsOf(C, setCount);
    familySet = { families: setNames, sums, genomes: genomeSums(tree, sums) };
  }

  // Per-pattern values, chunk by chunk.
  const chunk = Math.max(
    1,
    Math.floor(options.chunkPatterns ?? CHUNK_DOUBLES / Math.max(1, C * kNodes * 4)),
  );
  /**
   * Runs per-pattern expectations for the sorted pattern list and writes pattern `list[e]`'s
   * values into row `e` of `present`, `gains` and `losses` (`list.length * nNodes` each).
   */
  const perPatternRows = (
    list: Uint32Array,
    present: Float64Array,
    gains: Float64Array,
    losses: Float64Array,
  ) => {
    const n = list.length;
    if (n === 0) return;
    const w = new Float64Array(C * n);
    for (let c = 0; c < C; c++) {
      for (let e = 0; e < n; e++) w[c * n + e] = posterior[list[e] * nComp + c];
    }
    const res = expectations(assign.rates, {
      layout: assign.options.layout,
      patterns: list,
      weights: w,
      perPattern: true,
    });
    const pp = res.perPattern!;
    const last = nNodes - 1;
    for (let e = 0; e < n; e++) {
      const p = list[e];
      const at = e * nNodes;
      present.fill(invShare(p), at, at + nNodes);
      for (let c = 0; c < C; c++) {
        const base = (c * n + e) * kNodes * 4 + shift * 4;
        const cb = c * last * 12;
        for (let v = 0; v < last; v++) {
          const o = base + v * 4, k = cb + v * 12;
          const m00 = pp[o], m01 = pp[o + 1], m10 = pp[o + 2], m11 = pp[o + 3];
          present[at + v] += flat[k] * m01 + flat[k + 1] * m11;
          gains[at + v] += flat[k + 2] * m00 + flat[k + 3] * m01 + flat[k + 4] * m10 +
            flat[k + 5] * m11;
          losses[at + v] += flat[k + 6] * m00 + flat[k + 7] * m01 + flat[k + 8] * m10 +
            flat[k + 9] * m11;
        }
        present[at + last] += pp[base + last * 4 + 3];
      }
      // Without tip error an observed tip is in its observed state: exactly 0 or 1 (the sums
      // above reach it only up to rounding).
      if (setup === null) {
        for (let t = 0; t < nTips; t++) {
          const st = patterns.states[p * nTips + t];
          if (st !== MISSING) present[at + t] = st;
        }
      }
    }
  };
  /** Runs per-pattern expectations for the sorted pattern list and calls `use` per pattern. */
  const perPatternPass = (list: Uint32Array, use: (p: number, row: PatternRow) => void) => {
    const n = list.length;
    const present = new Float64Array(n * nNodes);
    const gains = new Float64Array(n * nNodes);
    const losses = new Float64Array(n * nNodes);
    perPatternRows(list, present, gains, losses);
    for (let e = 0; e < n; e++) {
      const a = e * nNodes, b = a + nNodes;
      use(list[e], {
        present: present.subarray(a, b),
        gains: gains.subarray(a, b),
        losses: losses.subarray(a, b),
      });
    }
  };

  function* familyBlocks(names?: readonly string[]): Generator<FamilyBlock> {
    const list = names === undefined
      ? Int32Array.from({ length: patterns.familyNames.length }, (_, f) => f)
      : familyIndex(patterns.familyNames, names, "per-family request");
    let start = 0;
    while (start < list.length) {
      // Take families in order until their distinct patterns fill a chunk.
      const wanted = new Set<number>();
      let end = start;
      while (end < list.length) {
        const p = patterns.familyPattern[list[end]];
        if (!wanted.has(p)) {
          if (wanted.size >= chunk) break;
          wanted.add(p);
        }
        end++;
      }
      const sorted = Uint32Array.from(wanted).sort();
      const rowOf = new Map<number, number>();
      sorted.forEach((p, e) => rowOf.set(p, e));
      const n = sorted.length;
      const present = new Float64Array(n * nNodes);
      const gains = new Float64Array(n * nNodes);
      const losses = new Float64Array(n * nNodes);
      perPatternRows(sorted, present, gains, losses);
      const rows = new Uint32Array(end - start);
      const names: string[] = [];
      for (let i = start; i < end; i++) {
        const f = list[i];
        rows[i - start] = rowOf.get(patterns.familyPattern[f])!;
        names.push(patterns.familyNames[f]);
      }
      yield { families: names, rows, present, gains, losses };
      start = end;
    }
  }

  function* families(names?: readonly string[]): Generator<FamilyAncestral> {
    for (const block of familyBlocks(names)) {
      const { rows, present, gains, losses } = block;
      // The last family of the block on a row gets views of the block's arrays, the others
      // copies, so that no two families share an array.
      const lastUse = new Map<number, number>();
      rows.forEach((r, i) => lastUse.set(r, i));
      for (let i = 0; i < rows.length; i++) {
        const a = rows[i] * nNodes, b = a + nNodes;
        const own = lastUse.get(rows[i]) === i;
        const take = (x: Float64Array) => own ? x.subarray(a, b) : x.slice(a, b);
        yield {
          family: block.families[i],
          pPresent: take(present),
          gains: take(gains),
          losses: take(losses),
        };
      }
    }
  }

  function turnover(): FamilyTurnover {
    const pg = new Float64Array(nPatterns), pl = new Float64Array(nPatterns);
    for (let s = 0; s < nPatterns; s += chunk) {
      const list = Uint32Array.from({ length: Math.min(chunk, nPatterns - s) }, (_, i) => s + i);
      perPatternPass(list, (p, r) => {
        let g = 0, l = 0;
        for (let v = 0; v < nNodes - 1; v++) {
          g += r.gains[v];
          l += r.losses[v];
        }
        pg[p] = g;
        pl[p] = l;
      });
    }
    const fp = patterns.familyPattern;
    return {
      families: patterns.familyNames,
      gains: Float64Array.from(fp, (p) => pg[p]),
      losses: Float64Array.from(fp, (p) => pl[p]),
    };
  }

  return {
    tree,
    ids: nodeIds(tree),
    componentNames: lik.componentNames,
    backend: backendName,
    logLik: evaluation.logLik,
    nFamilies: patterns.familyNames.length,
    totals,
    genomes: genomeSums(tree, totals),
    familySet,
    families,
    familyBlocks,
    turnover,
  };
}

/**
 * Sums of gains and losses along every genome's path from the root (tips in tree order).
 *
 * @example
 * ```ts
 * import { genomeSums } from "./reconstruct.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b", "c"], [3, 3, 4, 4, -1], [1, 1, 1, 1, 0]);
 * const g = genomeSums(tree, {
 *   present: new Float64Array(5),
 *   gains: Float64Array.of(1, 2, 4, 8, 0),
 *   losses: new Float64Array(5),
 * });
 * console.assert(g.gains.join() === "9,10,4");
 * ```
 */
export function genomeSums(tree: FlatTree, sums: AncestralSums): GenomeSums {
  const { nTips, nNodes, parent } = tree;
  const cg = new Float64Array(nNodes), cl = new Float64Array(nNodes);
  for (let v = nNodes - 2; v >= 0; v--) {
    cg[v] = cg[parent[v]] + sums.gains[v];
    cl[v] = cl[parent[v]] + sums.losses[v];
  }
  return { gains: cg.slice(0, nTips), losses: cl.slice(0, nTips) };
}

/** Family indices of `names` (in their order), refusing unknown and repeated names. */
function familyIndex(all: readonly string[], names: readonly string[], what: string): Int32Array {
  const index = new Map<string, number>();
  all.forEach((n, f) => index.set(n, f));
  const out = new Int32Array(names.length);
  const unknown: string[] = [];
  const seen = new Set<string>();
  names.forEach((n, i) => {
    const f = index.get(n);
    if (f === undefined) unknown.push(n);
    else if (seen.has(n)) {
      throw new GenecontentError(`The ${what} names family '${n}' twice; list each family once.`);
    } else out[i] = f;
    seen.add(n);
  });
  if (unknown.length > 0) {
    throw new GenecontentError(
      `The ${what} names ${unknown.length} famil${unknown.length === 1 ? "y" : "ies"} not in ` +
        `the PAM: ${unknown.slice(0, 10).map((n) => `'${n}'`).join(", ")}${
          unknown.length > 10 ? ", ..." : ""
        }. Check the names (they are matched exactly).`,
    );
  }
  return out;
}

/**
 * Checks that the kernel's rate assignments reproduce the likelihood: for each pattern, the
 * likelihood's per-pattern value minus the mixture log-likelihood recovered from the most
 * probable rate component (`log w_c + log L_c - log posterior_c`) is the ascertainment term,
 * which depends only on the pattern's missingness. A differing completeness breaks that.
 */
function checkAssignments(
  lik: ModelLikelihood,
  perPattern: Float64Array,
  posterior: Float64Array,
  logLik: Float64Array,
  logWeight: readonly number[],
  nComp: number,
): void {
  const { nTips, nPatterns, states } = lik.patterns;
  const C = logWeight.length;
  const byMask = new Map<string, number>();
  for (let p = 0; p < nPatterns; p++) {
    let best = 0;
    for (let c = 1; c < C; c++) {
      if (posterior[p * nComp + c] > posterior[p * nComp + best]) best = c;
    }
    const post = posterior[p * nComp + best];
    if (!(post > 1e-12) || !Number.isFinite(perPattern[p])) continue;
    const mix = logWeight[best] + logLik[best * nPatterns + p] - Math.log(post);
    const d = perPattern[p] - mix;
    let key = "";
    for (let i = 0; i < nTips; i++) if (states[p * nTips + i] === MISSING) key += `${i},`;
    const ref = byMask.get(key);
    if (ref === undefined) {
      byMask.set(key, d);
      continue;
    }
    // Both values are logs of magnitude |perPattern| with rounding ~1e-15 relative.
    if (Math.abs(d - ref) > 1e-8 * Math.max(1, Math.abs(perPattern[p]))) {
      throw new GenecontentError(
        `The expectations pass does not reproduce the likelihood of family pattern ${p} ` +
          `(${d} vs ${ref} in the ascertainment term): pass reconstructAncestral the same ` +
          "completeness the likelihood was opened with.",
      );
    }
  }
}
