/**
 * Reading a tree and a PAM from files into merged patterns on the tree, with the files' digests
 * for provenance. Every problem is a {@linkcode GenecontentError} naming the file.
 *
 * @module
 */

import { GenecontentError } from "./errors.ts";
import { parseTreeFile, type TreeFile } from "./newick/nexus.ts";
import { matchPamToTree } from "./pam/align.ts";
import { unobservedTaxa } from "./pam/matrix.ts";
import { compressPatternsByColumn, type SitePatterns } from "./pam/patterns.ts";
import {
  PamFileError,
  type PamOrientation,
  type ParsedPam,
  readPamWithDigest,
} from "./pam/read.ts";
import { type InputRecord, inputRecord } from "./provenance.ts";
import { bytesToText, quoteValue } from "./text/decode.ts";
import type { FlatTree } from "./tree/flat_tree.ts";

/** Options for reading and matching the inputs. */
export interface LoadOptions {
  /** PAM orientation (default `"auto"`: decided by matching names against the tree). */
  readonly orientation?: PamOrientation;
  /** Prune the tree and the PAM to their shared taxa instead of failing (dropped names are reported). */
  readonly pruneToShared?: boolean;
  /** Turn non-negative integer counts into presence (> 0) instead of rejecting them. */
  readonly binarize?: boolean;
  /**
   * Which tree to read from a tree file that holds several (1-based; Nexus `tree` statements or
   * `;`-ended Newick trees). A file with several trees and no index is refused.
   */
  readonly treeIndex?: number;
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
  /**
   * Things the user should know about how the inputs were read, one sentence each, naming the
   * file (which tree of several was read, a trailing delimiter that was ignored, genomes whose
   * cells are all missing). Not printed here: the command line prints them.
   */
  readonly notices: readonly string[];
  /** Where the tree came from in its file (format, index, count, name). */
  readonly treeFile: Omit<TreeFile, "tree">;
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
 * Reads a tree file: Newick or Nexus (see {@linkcode parseTreeFile}), plain or gzip-compressed
 * (recognised by its magic number), in UTF-8.
 *
 * @param path The tree file.
 * @param options `treeIndex` picks one tree of a file that holds several (1-based).
 * @returns The tree, the file's digest (of its bytes as stored), where the tree came from in
 *   the file, and notices (e.g. which of several trees was read).
 * @throws {GenecontentError} For a missing or unreadable file, binary, UTF-16 or non-UTF-8
 *   content, and any malformed tree.
 *
 * @example
 * ```ts ignore
 * import { readTree } from "./load_dataset.ts";
 * const { tree } = await readTree("examples/tree.nwk");
 * console.log(tree.nTips);
 * ```
 */
export async function readTree(
  path: string,
  options: { readonly treeIndex?: number } = {},
): Promise<{ tree: FlatTree; input: InputRecord; file: TreeFile; notices: string[] }> {
  const bytes = await readBytes(path, "tree");
  const { text } = await bytesToText(bytes, `Tree file '${path}'`);
  const file = parseTreeFile(text, path, { treeIndex: options.treeIndex });
  const notices: string[] = [];
  if (file.treeCount > 1) {
    notices.push(
      `Tree file '${path}' holds ${file.treeCount.toLocaleString("en-US")} trees; read tree ` +
        `${file.treeIndex}${file.treeName === null ? "" : ` (${quoteValue(file.treeName)})`}.`,
    );
  }
  return { tree: file.tree, input: await inputRecord("tree", path, bytes), file, notices };
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
  const {
    tree: fullTree,
    input: treeInput,
    file: treeFile,
    notices: treeNotices,
  } = await readTree(treePath, { treeIndex: options.treeIndex });
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
  // Genomes on the tree whose cells are all missing (before the cells are merged in place).
  const onTree = new Set(match.tree.tipNames);
  const unobserved = unobservedTaxa(read.pam).filter((x) => onTree.has(x));
  const notices = [...treeNotices, ...pam.notices];
  if (unobserved.length > 0) {
    const shown = unobserved.slice(0, 10).map((x) => quoteValue(x)).join(", ");
    const more = unobserved.length > 10 ? `, ... (${unobserved.length} in all)` : "";
    notices.push(
      `PAM file '${pamPath}': ${unobserved.length === 1 ? "genome" : "genomes"} ${shown}${more} ` +
        `${unobserved.length === 1 ? "has" : "have"} every cell missing (no family observed ` +
        "present or absent), so they add nothing to the fit; check the PAM's columns, or drop " +
        `${unobserved.length === 1 ? "it" : "them"} from the tree and the PAM.`,
    );
  }
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
    notices,
    treeFile: {
      format: treeFile.format,
      treeIndex: treeFile.treeIndex,
      treeCount: treeFile.treeCount,
      treeName: treeFile.treeName,
    },
  };
}
