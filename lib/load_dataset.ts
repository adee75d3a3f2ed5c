/**
 * Reading a tree and a PAM from files into merged patterns on the tree, with the files' digests
 * for provenance. Every problem is a {@linkcode GenecontentError} naming the file.
 *
 * @module
 */

import { GenecontentError } from "./errors.ts";
import { parseNewick } from "./newick/parse.ts";
import { alignPamToTree } from "./pam/align.ts";
import { compressPatterns, type SitePatterns } from "./pam/patterns.ts";
import { type PamOrientation, type ParsedPam, parsePamBytes } from "./pam/read.ts";
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
    if (e instanceof Deno.errors.NotFound) {
      throw new GenecontentError(`Cannot read ${role} file '${path}': no such file.`);
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new GenecontentError(`Cannot read ${role} file '${path}': permission denied.`);
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new GenecontentError(`Cannot read ${role} file '${path}': it is a folder.`);
    }
    throw e;
  }
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
  // The file's bytes, the parsed cells and the tree-ordered cells are each as large as the PAM:
  // each stage lives only inside its own function, so that only the merged patterns remain.
  const { pam, pamInput, aligned } = await readAndAlign(pamPath, fullTree, treePath, options);
  const patterns = compressPatterns(
    aligned.rows,
    pam.families.length,
    aligned.tree.nTips,
    pam.families,
  );
  return {
    tree: aligned.tree,
    pam,
    patterns,
    droppedTips: aligned.droppedTips,
    droppedTaxa: aligned.droppedTaxa,
    inputs: [treeInput, pamInput],
  };
}

async function readAndAlign(
  pamPath: string,
  tree: FlatTree,
  treePath: string,
  options: LoadOptions,
) {
  const { pamInput, parsed } = await readPamFile(pamPath, tree, options);
  const { states: _cellsKeptInPatterns, ...pam } = parsed;
  const aligned = alignPamToTree(parsed, tree, {
    pruneToShared: options.pruneToShared ?? false,
    treeSource: treePath,
  });
  return { pam, pamInput, aligned };
}

async function readPamFile(pamPath: string, tree: FlatTree, options: LoadOptions) {
  const bytes = await readBytes(pamPath, "PAM");
  const pamInput = await inputRecord("pam", pamPath, bytes);
  const parsed = parsePamBytes(bytes, pamPath, {
    orientation: options.orientation ?? "auto",
    taxa: tree.tipNames,
    binarize: options.binarize ?? false,
  });
  return { pamInput, parsed };
}
