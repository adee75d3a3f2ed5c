/**
 * Reading a tree file that is either Newick (one tree, or several each ended by `;`) or Nexus
 * (`#NEXUS`, a `begin trees;` block with an optional `translate` table and `tree name = ...;`
 * statements, as BEAST, MrBayes and FigTree write them).
 *
 * Nexus details: commands and block names are case-insensitive; `[comments]` (nested) may
 * appear anywhere between tokens, including `[&R]`/`[&U]` before a tree and `[&...]`
 * annotations inside it; names may be quoted (`'E. coli K-12'`, `''` for a quote). Labels are
 * kept as written (an underscore stays an underscore, as in the Newick reader). Blocks other
 * than `trees` are skipped. The translate table of a block applies to the trees of that block;
 * a tip label that is not in the table is kept as it is.
 *
 * A file with several trees is refused unless a tree index (1-based) picks one. Everything is
 * one left-to-right pass over the text.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { quoteValue } from "../text/decode.ts";
import type { FlatTree } from "../tree/flat_tree.ts";
import { lineColumn, parseNewickRange } from "./parse.ts";

/** Options for {@linkcode parseTreeFile}. */
export interface TreeFileOptions {
  /** Which tree to read when the file holds several (1-based). */
  readonly treeIndex?: number;
}

/** A tree read from a file, with where it came from in the file. */
export interface TreeFile {
  /** The tree. */
  readonly tree: FlatTree;
  /** `"newick"` or `"nexus"`. */
  readonly format: "newick" | "nexus";
  /** Which tree of the file this is (1-based). */
  readonly treeIndex: number;
  /** How many trees the file holds. */
  readonly treeCount: number;
  /** The tree's name in a Nexus file (`tree NAME = ...`), else null. */
  readonly treeName: string | null;
}

const SPACE = /\s/;

/**
 * True when the text (after leading whitespace) starts with `#NEXUS`, in any case.
 *
 * @example
 * ```ts
 * import { isNexus } from "./nexus.ts";
 * console.assert(isNexus("\n#nexus\nbegin trees;") && !isNexus("(a:1,b:1);"));
 * ```
 */
export function isNexus(text: string): boolean {
  let i = 0;
  while (i < text.length && SPACE.test(text[i])) i++;
  return text.slice(i, i + 6).toUpperCase() === "#NEXUS";
}

/**
 * Reads the tree of a Newick or Nexus file (Nexus if the text starts with `#NEXUS`).
 *
 * @param text The file's text.
 * @param source The file name, for messages.
 * @param options `treeIndex` picks one tree of a file that holds several (1-based).
 * @throws {GenecontentError} For malformed files, a file without trees, several trees without
 *   a tree index, or an index out of range (the message says how many trees there are).
 *
 * @example
 * ```ts
 * import { parseTreeFile } from "./nexus.ts";
 * const nexus = `#NEXUS
 * begin trees;
 *   translate 1 'E. coli', 2 B_subtilis, 3 C;
 *   tree STATE_0 [&lnP=-10.5] = [&R] ((1:1,2:1)[&rate=0.1]:0.5,3:1.5);
 * end;`;
 * const { tree, format, treeName } = parseTreeFile(nexus, "run.trees");
 * console.assert(format === "nexus" && treeName === "STATE_0");
 * console.assert(tree.tipNames.join("|") === "E. coli|B_subtilis|C");
 * const two = parseTreeFile("(a:1,b:1);\n(a:2,b:1);\n", "two.nwk", { treeIndex: 2 });
 * console.assert(two.tree.branchLength[0] === 2 && two.treeCount === 2);
 * ```
 */
export function parseTreeFile(
  text: string,
  source: string,
  options: TreeFileOptions = {},
): TreeFile {
  const index = options.treeIndex;
  if (index !== undefined && !(Number.isInteger(index) && index >= 1)) {
    throw new GenecontentError(
      `Tree file '${source}': tree index ${index} is not valid; give a whole number from 1 ` +
        "(the first tree of the file).",
    );
  }
  return isNexus(text) ? readNexus(text, source, index) : readNewickTrees(text, source, index);
}

/** Picks the tree by index, or refuses several trees without one. */
function pick(count: number, index: number | undefined, source: string, names?: string[]): number {
  const listed = names && names.length > 0
    ? ` (${names.slice(0, 5).map((x) => quoteValue(x)).join(", ")}${
      names.length > 5 ? ", ..." : ""
    })`
    : "";
  if (index === undefined) {
    if (count === 1) return 0;
    throw new GenecontentError(
      `Tree file '${source}' holds ${count.toLocaleString("en-US")} trees${listed}; choose ` +
        `one with a tree index from 1 to ${count.toLocaleString("en-US")} (--tree-index).`,
    );
  }
  if (index > count) {
    throw new GenecontentError(
      `Tree file '${source}' holds ${count.toLocaleString("en-US")} tree${
        count === 1 ? "" : "s"
      }${listed}, so there is no tree ${index}; choose a tree index from 1 to ` +
        `${count.toLocaleString("en-US")}.`,
    );
  }
  return index - 1;
}

/**
 * Skips whitespace and nested `[comments]` from `pos`; returns the new position. An unclosed
 * comment is an error naming where it opens.
 */
function skipBlank(text: string, pos: number, source: string): number {
  const n = text.length;
  while (pos < n) {
    const c = text.charCodeAt(pos);
    if (c === 91) {
      const start = pos;
      let depth = 0;
      while (pos < n) {
        const d = text.charCodeAt(pos);
        if (d === 91) depth++;
        else if (d === 93 && --depth === 0) break;
        pos++;
      }
      if (pos >= n) fail(text, source, start, "comment '[' is never closed by ']'; close it.");
      pos++;
    } else if (c === 32 || (c >= 9 && c <= 13)) {
      pos++;
    } else {
      break;
    }
  }
  return pos;
}

function fail(text: string, source: string, offset: number, what: string): never {
  const { line, column } = lineColumn(text, offset);
  throw new GenecontentError(`Tree file '${source}', line ${line}, column ${column}: ${what}`);
}

/**
 * The end (offset of the `;`) of tree text starting at `pos`, skipping quoted labels and
 * comments; -1 if the text ends first.
 */
function findTreeEnd(text: string, pos: number): number {
  const n = text.length;
  while (pos < n) {
    const c = text.charCodeAt(pos);
    if (c === 59) return pos;
    if (c === 39) {
      pos++;
      while (pos < n) {
        if (text.charCodeAt(pos) === 39) {
          if (pos + 1 < n && text.charCodeAt(pos + 1) === 39) {
            pos += 2;
            continue;
          }
          break;
        }
        pos++;
      }
      if (pos >= n) return -1;
      pos++;
    } else if (c === 91) {
      let depth = 0;
      while (pos < n) {
        const d = text.charCodeAt(pos);
        if (d === 91) depth++;
        else if (d === 93 && --depth === 0) break;
        pos++;
      }
      if (pos >= n) return -1;
      pos++;
    } else {
      pos++;
    }
  }
  return -1;
}

/** A Newick file: trees are split at each `;` outside quotes and comments. */
function readNewickTrees(text: string, source: string, index: number | undefined): TreeFile {
  const starts: number[] = [];
  const ends: number[] = [];
  let pos = 0;
  while (true) {
    const start = pos;
    // A tree starts at the first token that is not a comment or whitespace; stop quietly on an
    // unclosed comment or quote and let the tree parser say where.
    let p = start;
    while (p < text.length && /\s/.test(text[p])) p++;
    if (p >= text.length) break;
    const semi = findTreeEnd(text, p);
    if (semi < 0) {
      // Text without a ';' is not a tree of its own: it stays with the tree before it (whose
      // parser then reports it), or is the only, unfinished tree.
      if (starts.length > 0) {
        ends[ends.length - 1] = text.length;
      } else {
        starts.push(start);
        ends.push(text.length);
      }
      break;
    }
    // Only comments and whitespace after the last ';': they belong to the last tree.
    const after = semi + 1;
    let q = after;
    let onlyBlank = true;
    try {
      q = skipBlank(text, after, source);
      onlyBlank = q >= text.length;
    } catch {
      onlyBlank = false;
    }
    starts.push(start);
    if (onlyBlank) {
      ends.push(text.length);
      break;
    }
    ends.push(after);
    pos = after;
  }
  if (starts.length === 0) {
    throw new GenecontentError(`Tree file '${source}' is empty; it must hold one Newick tree.`);
  }
  // A file whose only tree is cut short or followed by junk gets the parser's message.
  const chosen = starts.length === 1 ? 0 : pick(starts.length, index, source);
  if (starts.length === 1 && index !== undefined) pick(1, index, source);
  const tree = parseNewickRange(text, source, { start: starts[chosen], end: ends[chosen] });
  return {
    tree,
    format: "newick",
    treeIndex: chosen + 1,
    treeCount: starts.length,
    treeName: null,
  };
}

interface Token {
  /** The token's text (quotes removed). */
  readonly value: string;
  /** Whether it was quoted. */
  readonly quoted: boolean;
  /** Offset where it starts. */
  readonly start: number;
}

interface TreeStatement {
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly translate: ReadonlyMap<string, string>;
}

/** A Nexus file: the tree statements of every trees block. */
function readNexus(text: string, source: string, index: number | undefined): TreeFile {
  const n = text.length;
  let pos = skipBlank(text, 0, source) + 6; // past "#NEXUS"
  const where = (offset: number, what: string): never => fail(text, source, offset, what);

  /** The next token: a quoted or plain word, or one of `; = ,`; null at the end of the text. */
  const next = (): Token | null => {
    pos = skipBlank(text, pos, source);
    if (pos >= n) return null;
    const start = pos;
    const c = text.charCodeAt(pos);
    if (c === 59 || c === 61 || c === 44) {
      pos++;
      return { value: text[start], quoted: false, start };
    }
    if (c === 39) {
      pos++;
      let out = "";
      let chunk = pos;
      while (true) {
        if (pos >= n) where(start, "quoted name is never closed; end it with a single quote (').");
        if (text.charCodeAt(pos) === 39) {
          if (pos + 1 < n && text.charCodeAt(pos + 1) === 39) {
            out += text.slice(chunk, pos + 1);
            pos += 2;
            chunk = pos;
            continue;
          }
          out += text.slice(chunk, pos);
          pos++;
          return { value: out, quoted: true, start };
        }
        pos++;
      }
    }
    while (pos < n) {
      const d = text.charCodeAt(pos);
      if (
        d === 59 || d === 61 || d === 44 || d === 39 || d === 91 || d === 32 || (d >= 9 && d <= 13)
      ) {
        break;
      }
      pos++;
    }
    return { value: text.slice(start, pos), quoted: false, start };
  };
  const isWord = (t: Token | null, word: string): boolean =>
    t !== null && !t.quoted && t.value.toLowerCase() === word;
  /** Skips to the end of the current command (past its `;`). */
  const skipCommand = (from: number, what: string): void => {
    while (true) {
      const t = next();
      if (t === null) {
        where(from, `the ${what} is never ended by ';'; end it with ';'.`);
      }
      if (t!.value === ";" && !t!.quoted) return;
    }
  };

  const trees: TreeStatement[] = [];
  while (true) {
    const t = next();
    if (t === null) break;
    if (!isWord(t, "begin")) {
      skipCommand(t.start, `command ${quoteValue(t.value)}`);
      continue;
    }
    const name = next();
    if (name === null) where(t.start, "'begin' is not followed by a block name.");
    const semi = next();
    if (semi === null || semi.value !== ";") {
      where(name!.start, `'begin ${name!.value}' must be followed by ';'.`);
    }
    const inTrees = name!.value.toLowerCase() === "trees";
    let translate = new Map<string, string>();
    while (true) {
      const c = next();
      if (c === null) {
        where(t.start, `the ${quoteValue(name!.value)} block is never ended; add 'end;'.`);
      }
      const command = c!;
      if (isWord(command, "end") || isWord(command, "endblock")) {
        skipCommand(command.start, "'end' command");
        break;
      }
      if (!inTrees) {
        if (command.value !== ";") {
          skipCommand(command.start, `command ${quoteValue(command.value)}`);
        }
        continue;
      }
      if (isWord(command, "translate")) {
        translate = new Map();
        while (true) {
          const key = next();
          if (key === null) where(command.start, "the translate table is never ended by ';'.");
          if (key!.value === ";" && !key!.quoted) break;
          const value = next();
          if (value === null || (!value.quoted && (value.value === ";" || value.value === ","))) {
            where(key!.start, `translate entry ${quoteValue(key!.value)} has no taxon name.`);
          }
          if (translate.has(key!.value)) {
            where(key!.start, `translate key ${quoteValue(key!.value)} appears twice.`);
          }
          translate.set(key!.value, value!.value);
          const sep = next();
          if (sep === null) where(command.start, "the translate table is never ended by ';'.");
          if (sep!.value === ";" && !sep!.quoted) break;
          if (sep!.value !== "," || sep!.quoted) {
            where(
              sep!.start,
              `expected ',' or ';' after translate entry ${quoteValue(key!.value)}, found ` +
                `${quoteValue(sep!.value)}.`,
            );
          }
        }
        continue;
      }
      if (isWord(command, "tree") || isWord(command, "utree")) {
        let label = next();
        if (label !== null && label.value === "*" && !label.quoted) label = next();
        if (label === null || (!label.quoted && "=;,".includes(label.value))) {
          where(command.start, "'tree' must be followed by a name and '='.");
        }
        const eq = next();
        if (eq === null || eq.value !== "=" || eq.quoted) {
          where(label!.start, `tree ${quoteValue(label!.value)} must be followed by '='.`);
        }
        const start = pos;
        const semiAt = findTreeEnd(text, start);
        if (semiAt < 0) {
          where(
            start,
            `tree ${quoteValue(label!.value)} is never ended by ';' (or a quote or comment in ` +
              "it is never closed).",
          );
        }
        trees.push({ name: label!.value, start, end: semiAt + 1, translate });
        pos = semiAt + 1;
        continue;
      }
      if (command.value !== ";") skipCommand(command.start, `command ${quoteValue(command.value)}`);
    }
  }
  if (trees.length === 0) {
    throw new GenecontentError(
      `Tree file '${source}' is a Nexus file without a tree: it needs a 'begin trees;' block ` +
        "with a 'tree NAME = ...;' statement.",
    );
  }
  const chosen = pick(trees.length, index, source, trees.map((x) => x.name));
  const s = trees[chosen];
  return {
    tree: parseNewickRange(text, source, s),
    format: "nexus",
    treeIndex: chosen + 1,
    treeCount: trees.length,
    treeName: s.name,
  };
}
