/**
 * Reading a tree and a PAM from files into merged patterns on the tree, with the files' digests
 * for provenance. Every problem is a {@linkcode GenecontentError} naming the file.
 *
 * @module
 */

import { GenecontentError } from "./errors.ts";
import { parseNewick } from "./newick/parse.ts";
import { matchPamToTree } from "./pam/align.ts";
import { compressPatternsByColumn, type SitePatterns } from "./pam/patterns.ts";
import {
  PamFileError,
  type PamOrientation,
  type ParsedPam,
  readPamWithDigest,
} from "./pam/read.ts";
import { type InputRecord, inputRecord } from "./provenance.ts";
import type { FlatTree } from "./tree/flat_tree.ts";

/** Options for reading and matching the inputs. */
export interface LoadOptions {
  /** PAM orientation (default `"auto"`: decided by matching names against the tree). */
  readonly orientation?: PamOrientation;
  /** Prune the tree and the PAM to their shared taxa instead of failing (dropped names are reported). */
  readonly pruneToShared?: boolean;
  /** Turn non-negative integer counts into presence (> 0) instead of rejecting them. */
  readonly binarize?: boolean;
}

/** A tree, its PAM and the merged patterns, ready for the likelihood. */
export interface Dataset {
  /** The tree (pruned, if asked). */
  readonly tree: FlatTree;
  /**
   * The PAM as read, without its cells (they live on, merged, in `patterns`; keeping both would
   * double the memory of a large PAM).
   */
  readonly pam: Omit<ParsedPam, "states">;
  /** Merged family columns in tree tip order. */
  readonly patterns: SitePatterns;
  /** Tree tips removed by pruning. */
  readonly droppedTips: readonly string[];
  /** PAM taxa removed by pruning. */
  readonly droppedTaxa: readonly string[];
  /** The input files with digests. */
  readonly inputs: readonly InputRecord[];
}

async function readBytes(path: string, role: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw readError(e, path, role);
  }
}

/** The message for a file that cannot be read, or `e` itself if it is something else. */
function readError(e: unknown, path: string, role: string): unknown {
  if (e instanceof Deno.errors.NotFound) {
    return new GenecontentError(`Cannot read ${role} file '${path}': no such file.`);
  }
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    return new GenecontentError(`Cannot read ${role} file '${path}': permission denied.`);
  }
  if (e instanceof Deno.errors.IsADirectory) {
    return new GenecontentError(`Cannot read ${role} file '${path}': it is a folder.`);
  }
  return e;
}

/**
 * Reads a Newick tree file.
 *
 * @example
 * ```ts ignore
 * import { readTree } from "./load_dataset.ts";
 * const { tree } = await readTree("examples/tree.nwk");
 * console.log(tree.nTips);
 * ```
 */
export async function readTree(path: string): Promise<{ tree: FlatTree; input: InputRecord }> {
  const bytes = await readBytes(path, "tree");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new GenecontentError(`Tree file '${path}' is not UTF-8 text.`);
  }
  return { tree: parseNewick(text, path), input: await inputRecord("tree", path, bytes) };
}

/**
 * Reads a tree and a PAM, matches the PAM's taxa to the tree's tips exactly, and merges
 * identical family columns.
 *
 * @example
 * ```ts ignore
 * import { loadDataset } from "./load_dataset.ts";
 * const d = await loadDataset("examples/tree.nwk", "examples/pam.tsv");
 * console.log(d.patterns.nPatterns, d.pam.families.length);
 * ```
 */
export async function loadDataset(
  treePath: string,
  pamPath: string,
  options: LoadOptions = {},
): Promise<Dataset> {
  const { tree: fullTree, input: treeInput } = await readTree(treePath);
  // The PAM is streamed (parsed and digested chunk by chunk, never held whole), matched to the
  // tree by a tip-to-column map, and merged into patterns over its own cells: the largest
  // thing alive at any time is one copy of the cells.
  let read;
  try {
    read = await readPamWithDigest(pamPath, {
      orientation: options.orientation ?? "auto",
      taxa: fullTree.tipNames,
      binarize: options.binarize ?? false,
    }, { keepSpareRoom: true });
  } catch (e) {
    throw e instanceof PamFileError ? readError(e.cause, pamPath, "PAM") : e;
  }
  const { states, ...pam } = read.pam;
  const match = matchPamToTree(pam, fullTree, {
    pruneToShared: options.pruneToShared ?? false,
    treeSource: treePath,
  });
  const patterns = compressPatternsByColumn(
    states,
    pam.families.length,
    pam.taxa.length,
    match.columns,
    pam.families,
    { inPlace: true },
  );
  const pamInput: InputRecord = {
    role: "pam",
    path: pamPath,
    sha256: read.sha256,
    bytes: read.bytes,
  };
  return {
    tree: match.tree,
    pam,
    patterns,
    droppedTips: match.droppedTips,
    droppedTaxa: match.droppedTaxa,
    inputs: [treeInput, pamInput],
  };
}
