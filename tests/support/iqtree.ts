/**
 * IQ-TREE 2 as a peer for tests and benchmarks: installs it when missing (Debian package
 * `iqtree`), writes binary alignments, runs it on a fixed tree and parses its log-likelihood.
 *
 * @module
 */

import { ensureDebianTool } from "./debian_tool.ts";
import { taxonSequences } from "./taxon_sequences.ts";

/** Result of one IQ-TREE run. */
export interface IqtreeRun {
  /** The log-likelihood IQ-TREE printed ("Log-likelihood of the tree"). */
  readonly logLik: number;
  /** Number of decimals IQ-TREE printed it with. */
  readonly decimals: number;
  /** Wall time of the IQ-TREE process in milliseconds. */
  readonly wallMs: number;
  /** Full text of the `.iqtree` report. */
  readonly report: string;
}

/**
 * Returns the path of the IQ-TREE 2 binary, installing the Debian package `iqtree` (with a
 * message) if neither `iqtree2` nor `iqtree` is on PATH. Throws with the reason if that fails.
 *
 * @example
 * ```ts ignore
 * import { ensureIqtree } from "./iqtree.ts";
 * console.log(await ensureIqtree());
 * ```
 */
export function ensureIqtree(): Promise<string> {
  return ensureDebianTool(["iqtree2", "iqtree"], "iqtree", "the IQ-TREE peer check");
}

/**
 * Writes a binary alignment in relaxed sequential PHYLIP: one sequence of 0/1 (and `?` for
 * missing, state 2) per taxon, columns being the families of a family-major state matrix.
 *
 * @example
 * ```ts ignore
 * import { writeBinaryPhylip } from "./iqtree.ts";
 * await writeBinaryPhylip("/tmp/a.phy", ["a", "b"], new Uint8Array([0, 1, 1, 1]), 2);
 * ```
 */
export async function writeBinaryPhylip(
  path: string,
  taxa: readonly string[],
  familyMajor: Uint8Array,
  nFamilies: number,
): Promise<void> {
  const sequences = taxonSequences(taxa, familyMajor, nFamilies, ["0", "1", "?"]);
  const lines = [
    `${taxa.length} ${nFamilies}`,
    ...taxa.map((name, t) => `${name} ${sequences[t]}`),
  ];
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}

/**
 * Parses "Log-likelihood of the tree: -123.4567 (s.e. ...)" from an IQ-TREE `.iqtree` report.
 *
 * @example
 * ```ts
 * import { parseIqtreeLogLik } from "./iqtree.ts";
 * const r = parseIqtreeLogLik("Log-likelihood of the tree: -12.3456 (s.e. 1.2)");
 * console.assert(r.logLik === -12.3456 && r.decimals === 4);
 * ```
 */
export function parseIqtreeLogLik(report: string): { logLik: number; decimals: number } {
  const m = /Log-likelihood of the tree:\s*(-?\d+(?:\.(\d+))?)/.exec(report);
  if (!m) throw new Error("No 'Log-likelihood of the tree:' line in the IQ-TREE report.");
  return { logLik: Number(m[1]), decimals: m[2]?.length ?? 0 };
}

async function runIqtree(
  args: string[],
  prefix: string,
): Promise<IqtreeRun> {
  const binary = await ensureIqtree();
  const start = performance.now();
  const out = await new Deno.Command(binary, {
    args: [...args, "-nt", "1", "-seed", "1", "--prefix", prefix, "-redo", "-quiet"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - start;
  let report = "";
  try {
    report = await Deno.readTextFile(`${prefix}.iqtree`);
  } catch {
    // Reported below with IQ-TREE's own messages.
  }
  if (!out.success || report === "") {
    let log = "";
    try {
      log = await Deno.readTextFile(`${prefix}.log`);
    } catch {
      // No log either.
    }
    const dec = new TextDecoder();
    throw new Error(
      `IQ-TREE failed (exit ${out.code}) with ${args.join(" ")}:\n` +
        `${dec.decode(out.stderr)}\n${log.split("\n").slice(-20).join("\n")}`,
    );
  }
  return { ...parseIqtreeLogLik(report), wallMs, report };
}

/**
 * Runs IQ-TREE's binary model at fixed parameters on a fixed tree: `GTR2+F{pi0,pi1}`, branch
 * lengths fixed (`-te tree -blfix`), no rate heterogeneity, so nothing is estimated and the
 * printed log-likelihood is that of the given tree and frequencies. Branch lengths in
 * `treeFile` must be in IQ-TREE's units (expected substitutions per site).
 *
 * @example
 * ```ts ignore
 * import { runIqtreeFixedParams } from "./iqtree.ts";
 * const r = await runIqtreeFixedParams("/tmp/t.nwk", "/tmp/a.phy", 0.7, "/tmp/run1");
 * console.log(r.logLik);
 * ```
 */
export function runIqtreeFixedParams(
  treeFile: string,
  alignmentFile: string,
  pi1: number,
  prefix: string,
): Promise<IqtreeRun> {
  // Plain decimals: IQ-TREE's +F{...} parser rejects exponent notation.
  const f1 = pi1.toFixed(15), f0 = (1 - pi1).toFixed(15);
  return runIqtree([
    "-s",
    alignmentFile,
    "-st",
    "BIN",
    "-te",
    treeFile,
    "-blfix",
    "-keep-ident",
    "-m",
    `GTR2+F{${f0},${f1}}`,
  ], prefix);
}

/** Result of {@linkcode runIqtreeFixedTreeFit}. */
export interface IqtreeFit {
  /** Wall time of the whole IQ-TREE process in milliseconds (reading and writing included). */
  readonly wallMs: number;
  /** The maximised log-likelihood IQ-TREE printed. */
  readonly logLik: number;
  /** The fitted stationary frequency of state 1 (10 significant digits). */
  readonly pi1: number;
  /** The fitted total tree length in IQ-TREE's units (input lengths times the fitted scale). */
  readonly treeLength: number;
}

/**
 * IQ-TREE's own fixed-tree fit of its 2-state model, the peer of genecontent's fit for
 * benchmarks: `GTR2+FO` (state frequencies estimated by maximum likelihood) on the given tree,
 * whose topology and relative branch lengths stay fixed (`-te tree -blfix`) while one overall
 * scale factor of the lengths is estimated (`-blscale`). Those are two free parameters, pi1 and
 * the scale, exactly as genecontent fits gain and loss on a fixed tree: with input lengths t,
 * IQ-TREE's lengths are c t with c = 2 gain loss / (gain + loss). One thread; output files go to a
 * fresh temporary directory that is removed afterwards.
 *
 * @example
 * ```ts ignore
 * import { runIqtreeFixedTreeFit } from "./iqtree.ts";
 * const { wallMs, logLik } = await runIqtreeFixedTreeFit("tree.nwk", "aln.phy");
 * ```
 */
export async function runIqtreeFixedTreeFit(
  treeFile: string,
  alignmentFile: string,
): Promise<IqtreeFit> {
  const dir = await Deno.makeTempDir({ prefix: "gc_iqtree_fit_" });
  try {
    const run = await runIqtree([
      "-s",
      alignmentFile,
      "-st",
      "BIN",
      "-te",
      treeFile,
      "-blfix",
      "-blscale",
      "-keep-ident",
      "-m",
      "GTR2+FO",
    ], `${dir}/fit`);
    const scaled = await Deno.readTextFile(`${dir}/fit.blscale`);
    const freq = /state_freq:\s*([-+\d.eE]+)\s*,\s*([-+\d.eE]+)/.exec(scaled);
    const length = /treelength:\s*([-+\d.eE]+)/.exec(scaled);
    if (!freq || !length) throw new Error(`Unexpected IQ-TREE .blscale file:\n${scaled}`);
    return {
      wallMs: run.wallMs,
      logLik: run.logLik,
      pi1: Number(freq[2]),
      treeLength: Number(length[1]),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
