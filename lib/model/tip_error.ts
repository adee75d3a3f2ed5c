/**
 * Annotation error at the tips as a pendant branch below every tip.
 *
 * A recorded cell differs from the true state of its genome with probability
 * `e+ = P(recorded present | truly absent)` or `e- = P(recorded absent | truly present)`. That is
 * exactly one more branch below the tip: the tree is extended by a pendant branch of length 1
 * under every tip, and the recorded state sits at the end of it. Its transition matrix must be
 *
 *     [[1 - e+, e+], [e-, 1 - e-]]
 *
 * which the two-state chain gives with s = gain + loss = -log(1 - e+ - e-) and pi1 = gain / s =
 * e+ / (e+ + e-) over length 1 (P01 = pi1 (1 - e^-s) = pi1 (e+ + e-) = e+), so it needs
 * e+ + e- < 1. Every pendant branch has its own (gain, loss): the backends' per-branch layout.
 * The derivatives with respect to e+ and e- are tangent directions on the pendant branches
 * ({@linkcode pendantRates} gives d log gain / d e and d log loss / d e).
 *
 * Per-genome completeness `c_i` (the share of a genome's genes an assembly holds, as CheckM
 * reports it, here in (0, 1]) turns the false-absence probability of genome `i` into
 * `1 - (1 - e-) c_i` with fitted tip error, or `1 - c_i` without.
 *
 * Node numbering of the extended tree: the pendant tips are nodes `0 .. nTips - 1` (same names
 * and order as the tips, so the PAM's patterns need no change), the original tips become the
 * unary nodes `nTips .. 2 nTips - 1`, and original internal node `v` becomes `v + nTips`.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { type FlatTree, flatTreeFromParents } from "../tree/flat_tree.ts";

/**
 * The gain rate used on a pendant branch whose false-presence probability is exactly 0 (with
 * completeness but no fitted error), relative to its loss rate: backends need rates > 0. The
 * recorded-present partial of such a tip becomes (2^-700 e-, 1 - e-) instead of (0, 1 - e-), a
 * relative change of the likelihood below 1e-200 unless the tip's true absence is more than
 * 1e180 times likelier than its presence.
 */
export const NO_FALSE_PRESENCE = 2 ** -700;

/**
 * The tree with a pendant branch below every tip (see the module documentation for the
 * numbering). `pendantLength[i]` is the length of the branch below tip `i` (1 where the tip has
 * an error process, 0 where its recorded state is exact).
 *
 * @example
 * ```ts
 * import { extendWithPendants } from "./tip_error.ts";
 * import { flatTreeFromParents } from "../tree/flat_tree.ts";
 * const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [0.1, 0.2, 0]);
 * const ext = extendWithPendants(tree, [1, 1]);
 * console.assert(ext.nNodes === 5 && ext.parent[0] === 2 && ext.branchLength[2] === 0.1);
 * ```
 */
export function extendWithPendants(tree: FlatTree, pendantLength: ArrayLike<number>): FlatTree {
  const n = tree.nTips;
  if (pendantLength.length !== n) {
    throw new RangeError(`${pendantLength.length} pendant lengths for ${n} tips.`);
  }
  const nNodes = tree.nNodes + n;
  const parent = new Int32Array(nNodes);
  const length = new Float64Array(nNodes);
  const moved = (v: number) => v + n;
  for (let i = 0; i < n; i++) {
    parent[i] = n + i;
    length[i] = pendantLength[i];
  }
  for (let v = 0; v < tree.nNodes; v++) {
    parent[moved(v)] = tree.parent[v] < 0 ? -1 : moved(tree.parent[v]);
    length[moved(v)] = tree.branchLength[v];
  }
  const labels = [...new Array<string | null>(n).fill(null), ...tree.internalLabels];
  return flatTreeFromParents(tree.tipNames, parent, length, labels);
}

/** The rates of one pendant branch (length 1) and their derivatives. */
export interface PendantRates {
  /** Gain rate of the pendant branch. */
  readonly gain: number;
  /** Loss rate of the pendant branch. */
  readonly loss: number;
  /** d log(gain) / d e+ and d log(loss) / d e+. */
  readonly dFalsePresence: readonly [number, number];
  /** d log(gain) / d e- and d log(loss) / d e-. */
  readonly dFalseAbsence: readonly [number, number];
}

/**
 * The (gain, loss) of a length-1 pendant branch whose transition matrix is
 * [[1 - e+, e+], [e-, 1 - e-]], with the derivatives of their logs with respect to e+ and e-.
 * Needs e+, e- >= 0 with e- > 0 and e+ + e- < 1; e+ = 0 is replaced by
 * {@linkcode NO_FALSE_PRESENCE} times e- (derivatives with respect to e+ are then 0).
 *
 * @example
 * ```ts
 * import { pendantRates } from "./tip_error.ts";
 * import { transitionMatrix } from "./two_state.ts";
 * const r = pendantRates(0.1, 0.2);
 * const p = transitionMatrix(r.gain, r.loss, 1);
 * console.assert(Math.abs(p.p01 - 0.1) < 1e-15 && Math.abs(p.p10 - 0.2) < 1e-15);
 * ```
 */
export function pendantRates(falsePresence: number, falseAbsence: number): PendantRates {
  const ep = falsePresence, em = falseAbsence;
  if (!(ep >= 0 && em > 0 && ep + em < 1)) {
    throw new RangeError(
      `Pendant rates need e+ >= 0, e- > 0 and e+ + e- < 1; got e+ = ${ep}, e- = ${em}.`,
    );
  }
  const exact = ep === 0;
  const p = exact ? NO_FALSE_PRESENCE * em : ep;
  const sum = p + em;
  const s = -Math.log1p(-sum);
  // d s / d e = 1 / (1 - e+ - e-) for either e.
  const ds = 1 / (1 - sum) / s;
  return {
    gain: s * (p / sum),
    loss: s * (em / sum),
    // log gain = log s + log e+ - log(e+ + e-); log loss = log s + log e- - log(e+ + e-).
    dFalsePresence: exact ? [0, 0] : [ds + 1 / p - 1 / sum, ds - 1 / sum],
    // With e+ = delta e-, pi1 does not move with e-: both logs move with log s only.
    dFalseAbsence: exact ? [ds, ds] : [ds - 1 / sum, ds + 1 / em - 1 / sum],
  };
}

/**
 * Reads per-genome completeness from text: one genome per line, `name<TAB or comma>value`, the
 * value in (0, 1] (a CheckM percentage must be divided by 100). Blank lines and lines starting
 * with `#` are skipped; a first line whose value is not a number is a header. Every genome of
 * `genomes` must be listed exactly once, and no other.
 *
 * @example
 * ```ts
 * import { parseCompleteness } from "./tip_error.ts";
 * const c = parseCompleteness("genome\tcompleteness\nb\t0.9\na\t1\n", "c.tsv", ["a", "b"]);
 * console.assert(c[0] === 1 && c[1] === 0.9);
 * ```
 */
export function parseCompleteness(
  text: string,
  fileName: string,
  genomes: readonly string[],
): Float64Array {
  const index = new Map(genomes.map((g, i) => [g, i]));
  const out = new Float64Array(genomes.length).fill(NaN);
  const unknown: string[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let seenData = false;
  for (let l = 0; l < lines.length; l++) {
    const line = lines[l];
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    const fields = line.split(line.includes("\t") ? "\t" : ",").map((f) => f.trim());
    const where = `Completeness file '${fileName}', line ${l + 1}`;
    if (fields.length !== 2) {
      throw new GenecontentError(
        `${where}: expected 2 fields (genome, completeness), found ${fields.length}.`,
      );
    }
    const [name, raw] = fields;
    const value = raw === "" ? NaN : Number(raw);
    if (!seenData && Number.isNaN(value) && !/^[-+.\d]/.test(raw)) {
      seenData = true; // a header line
      continue;
    }
    seenData = true;
    if (!(value > 0 && value <= 1)) {
      throw new GenecontentError(
        `${where}: completeness of genome '${name}' is '${raw}'; it must be a number in (0, 1]` +
          (value > 1 && value <= 100 ? " (divide a CheckM percentage by 100)." : "."),
      );
    }
    const i = index.get(name);
    if (i === undefined) {
      unknown.push(name);
      continue;
    }
    if (!Number.isNaN(out[i])) {
      throw new GenecontentError(`${where}: genome '${name}' is listed a second time.`);
    }
    out[i] = value;
  }
  if (unknown.length > 0) {
    throw new GenecontentError(
      `Completeness file '${fileName}' names ${unknown.length} genome${
        unknown.length === 1 ? "" : "s"
      } not in the tree and PAM: ${unknown.slice(0, 10).join(", ")}${
        unknown.length > 10 ? ", ..." : ""
      }. Remove them or check the names.`,
    );
  }
  const absent = genomes.filter((_, i) => Number.isNaN(out[i]));
  if (absent.length > 0) {
    throw new GenecontentError(
      `Completeness file '${fileName}' has no value for ${absent.length} genome${
        absent.length === 1 ? "" : "s"
      }: ${absent.slice(0, 10).join(", ")}${
        absent.length > 10 ? ", ..." : ""
      }. Give every genome a completeness (1 for a complete genome).`,
    );
  }
  return out;
}

/**
 * Reads a completeness file (see {@linkcode parseCompleteness}) for the genomes `genomes`.
 *
 * @example
 * ```ts ignore
 * import { readCompleteness } from "./tip_error.ts";
 * const c = await readCompleteness("checkm.tsv", ["genome_A", "genome_B"]);
 * ```
 */
export async function readCompleteness(
  path: string,
  genomes: readonly string[],
): Promise<Float64Array> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new GenecontentError(
      `Cannot read completeness file '${path}': ${e instanceof Error ? e.message : e}.`,
    );
  }
  return parseCompleteness(text, path, genomes);
}

/**
 * The false-absence probability of each genome: `1 - (1 - e-) c_i` (with fitted error e-) or
 * `1 - c_i` (`falseAbsence` 0), with `d / d e- = c_i`.
 *
 * @example
 * ```ts
 * import { genomeFalseAbsence } from "./tip_error.ts";
 * console.assert(Math.abs(genomeFalseAbsence(0.1, Float64Array.of(0.5))[0] - 0.55) < 1e-15);
 * ```
 */
export function genomeFalseAbsence(
  falseAbsence: number,
  completeness: Float64Array,
): Float64Array {
  // 1 - (1 - e) c = (1 - c) + e c, written so that c = 1 gives e exactly.
  return Float64Array.from(completeness, (c) => (1 - c) + falseAbsence * c);
}
