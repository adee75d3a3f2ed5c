/**
 * GLOOME's `gainLoss` (Debian package `fastml`) as a peer for tests: installs it when missing,
 * writes the 0/1 FASTA it reads, runs it through a parameter file on a fixed tree and parses what
 * it prints.
 *
 * What the run is (established from gainLoss VR01.266's sources and output):
 * - `_rateDistributionType UNIFORM`: one rate category, no gamma.
 * - `_performOptimizationsBBL 0`: no branch-length optimisation (it prints "branch lengths are not
 *   optimized"); the tree topology is the user's. `_isNormalizeAtStart 0` and
 *   `_isNormalizeQandTreeafterOpt 0` keep it from rescaling the tree before and after.
 * - `_isReversible 0`, `_isRootFreqEQstationary 1`: root prior = stationary gain / (gain + loss)
 *   (no separately estimated root frequency).
 * - `_minNumOfOnes 1` (with the default `_accountForMissingData 1`): each column's likelihood is
 *   divided by 1 - P(all-absent column), the same conditioning as genecontent's `minPresent 1`.
 * - GLOOME normalises its rate matrix to one expected change per unit branch length
 *   (`2 gain loss / (gain + loss) = 1`) inside every likelihood evaluation of its model
 *   optimiser. With a fixed tree it therefore fits only the ratio gain / loss (equivalently pi1);
 *   the overall rate is carried by the branch lengths, which it can fit jointly only as one
 *   factor multiplying the whole tree, once, before the ratio (`_isMultipleAllBranchesByFactorAtStart
 *   1`, printed as "Tree multiplied by f"). If GLOOME's tree is genecontent's tree times `c`,
 *   GLOOME's (gain, loss) map to genecontent's rates as (c gain, c loss).
 *
 * @module
 */

import { ensureDebianTool } from "./debian_tool.ts";
import { taxonSequences } from "./taxon_sequences.ts";

/** What one gainLoss run printed. */
export interface GainLossRun {
  /** Final "Tree logL=" value (corrected for unobservable all-absent columns). */
  readonly logLik: number;
  /** Decimals it was printed with. */
  readonly decimals: number;
  /** Final gain rate Q[0][1], in the units of GLOOME's (possibly rescaled) tree. */
  readonly gain: number;
  /** Final loss rate Q[1][0]. */
  readonly loss: number;
  /** Fewest significant digits either rate was printed with. */
  readonly rateDigits: number;
  /** Factor GLOOME multiplied the input tree by (1 when the factor is not fitted). */
  readonly treeFactor: number;
  /**
   * Significant digits of the printed factor (Infinity when not fitted). gainLoss prints it with
   * the stream's default 6 significant digits, dropping trailing zeros ("1" is 1.00000), so this
   * is at least 6.
   */
  readonly treeFactorDigits: number;
  /** Wall time of the process in milliseconds. */
  readonly wallMs: number;
  /** Everything it printed (stdout, then stderr). */
  readonly output: string;
}

/** Options of {@linkcode runGainLoss}. */
export interface GainLossOptions {
  /** Rooted Newick tree with branch lengths, tip names as in the FASTA file. */
  readonly treeFile: string;
  /** FASTA file of 0/1 strings, one per tip (see {@linkcode writeBinaryFasta}). */
  readonly fastaFile: string;
  /** A fresh directory for the parameter file and GLOOME's output. */
  readonly workDir: string;
  /** Fit one factor multiplying all branch lengths before the gain/loss ratio. */
  readonly scaleTreeAtStart: boolean;
  /** Starting gain / loss ratio (default: GLOOME's own start from the observed frequency). */
  readonly startRatio?: number;
}

/**
 * Returns the path of GLOOME's `gainLoss`, installing the Debian package `fastml` (with a
 * message) if it is not on PATH. Throws with the reason if that fails.
 *
 * @example
 * ```ts ignore
 * import { ensureGainLoss } from "./gloome.ts";
 * console.log(await ensureGainLoss());
 * ```
 */
export function ensureGainLoss(): Promise<string> {
  return ensureDebianTool(["gainLoss"], "fastml", "the GLOOME (gainLoss) peer check");
}

/**
 * Writes a presence/absence matrix as the FASTA "alignment" GLOOME reads: one record per taxon,
 * its sequence the taxon's 0/1 state in each family (family-major input, no missing cells).
 *
 * @example
 * ```ts ignore
 * import { writeBinaryFasta } from "./gloome.ts";
 * await writeBinaryFasta("/tmp/a.fa", ["a", "b"], new Uint8Array([0, 1, 1, 1]), 2);
 * ```
 */
export async function writeBinaryFasta(
  path: string,
  taxa: readonly string[],
  familyMajor: Uint8Array,
  nFamilies: number,
): Promise<void> {
  const sequences = taxonSequences(taxa, familyMajor, nFamilies, ["0", "1"]);
  const lines = taxa.flatMap((name, t) => [`>${name}`, sequences[t]]);
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/** Significant digits of a printed decimal number (mantissa digits without leading zeros). */
function significantDigits(text: string): number {
  const mantissa = text.replace(/^[-+]/, "").replace(/[eE].*$/, "").replace(".", "");
  return mantissa.replace(/^0+/, "").length;
}

/**
 * Parses the final log-likelihood, rate matrix and tree factor from gainLoss's printed output.
 *
 * @example
 * ```ts
 * import { parseGainLossOutput } from "./gloome.ts";
 * const r = parseGainLossOutput(
 *   "Tree multiplied by 0.334039 Total\nQ[0][1]= 0.546761037\nQ[1][0]= 5.84633138\n" +
 *     "Tree logL=-4531.90566\n",
 * );
 * console.assert(r.logLik === -4531.90566 && r.decimals === 5 && r.treeFactor === 0.334039);
 * console.assert(r.rateDigits === 9 && r.treeFactorDigits === 6);
 * ```
 */
export function parseGainLossOutput(
  output: string,
): Omit<GainLossRun, "wallMs" | "output"> {
  const last = (re: RegExp): RegExpMatchArray | null => {
    const all = [...output.matchAll(re)];
    return all.length > 0 ? all[all.length - 1] : null;
  };
  const logL = last(/Tree logL=\s*(-?\d+(?:\.(\d+))?)/g);
  const gain = last(/Q\[0\]\[1\]=\s*(\S+)/g);
  const loss = last(/Q\[1\]\[0\]=\s*(\S+)/g);
  if (!logL || !gain || !loss) {
    throw new Error("gainLoss output lacks 'Tree logL=' or the Q matrix lines.");
  }
  const factor = last(/Tree multiplied by\s+(\S+)/g);
  return {
    logLik: Number(logL[1]),
    decimals: logL[2]?.length ?? 0,
    gain: Number(gain[1]),
    loss: Number(loss[1]),
    rateDigits: Math.min(significantDigits(gain[1]), significantDigits(loss[1])),
    treeFactor: factor ? Number(factor[1]) : 1,
    treeFactorDigits: factor ? Math.max(6, significantDigits(factor[1])) : Infinity,
  };
}

/**
 * Runs gainLoss on a fixed tree with one rate category, the stationary root prior and the
 * correction for all-absent columns (`_minNumOfOnes 1`), optimising the gain/loss ratio (and,
 * with `scaleTreeAtStart`, first one factor on all branch lengths). See the module notes for
 * what the printed rates mean.
 *
 * @example
 * ```ts ignore
 * import { runGainLoss } from "./gloome.ts";
 * const r = await runGainLoss({
 *   treeFile: "/tmp/t.nwk", fastaFile: "/tmp/a.fa", workDir: "/tmp/run1", scaleTreeAtStart: false,
 * });
 * console.log(r.logLik, r.gain, r.loss);
 * ```
 */
export async function runGainLoss(options: GainLossOptions): Promise<GainLossRun> {
  const binary = await ensureGainLoss();
  const { treeFile, fastaFile, workDir, scaleTreeAtStart, startRatio } = options;
  await Deno.mkdir(workDir, { recursive: true });
  const outDir = `${workDir}/RESULTS`;
  const params: [string, string][] = [
    ["_seqFile", fastaFile],
    ["_treeFile", treeFile],
    ["_outDir", outDir],
    ["_logFile", `${outDir}/log.txt`],
    // The model: one rate category, stationary root prior, condition on >= 1 present tip.
    ["_rateDistributionType", "UNIFORM"],
    ["_isReversible", "0"],
    ["_isRootFreqEQstationary", "1"],
    ["_minNumOfOnes", "1"],
    // A fixed tree: no branch-length optimisation, no normalisation of the tree.
    ["_performOptimizationsBBL", "0"],
    ["_isNormalizeAtStart", "0"],
    ["_isNormalizeQandTreeafterOpt", "0"],
    ["_isMultipleAllBranchesByFactorAtStart", scaleTreeAtStart ? "1" : "0"],
    // Only the fit and the likelihood, no stochastic mapping or rate4site output.
    ["_isOnlyComputeLikelihood", "1"],
    // Fit gain/loss as one ratio (the only free parameter of its normalised matrix).
    ["_isOptimizeGainLossRatioInsteadOfGainAndLossSeperately", "1"],
    // Tight convergence: level Vhigh and small epsilons, not rescaled by the log-likelihood.
    ["_optimizationLevel", "Vhigh"],
    ["_correctOptimizationEpsilon", "0"],
    ["_epsilonOptimizationModel", "0.000001"],
    ["_epsilonOptimizationIterationCycle", "0.000001"],
    ["_epsilonOptimizationBBL", "0.00001"],
    ["_maxNumOfIterations", "100"],
    ["_maxNumOfIterationsModel", "100"],
  ];
  if (startRatio !== undefined) params.push(["_userGainLossRatio", String(startRatio)]);
  const paramFile = `${workDir}/params.txt`;
  await Deno.writeTextFile(paramFile, params.map(([k, v]) => `${k} ${v}`).join("\n") + "\n");
  const start = performance.now();
  const out = await new Deno.Command(binary, {
    args: [paramFile],
    cwd: workDir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - start;
  const dec = new TextDecoder();
  const output = dec.decode(out.stdout) + dec.decode(out.stderr);
  if (!out.success) {
    throw new Error(
      `gainLoss failed (exit ${out.code}) with ${paramFile}:\n` +
        output.split("\n").slice(-30).join("\n"),
    );
  }
  return { ...parseGainLossOutput(output), wallMs, output };
}
