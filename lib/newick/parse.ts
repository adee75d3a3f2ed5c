/**
 * A strict, non-recursive Newick reader that produces a {@linkcode FlatTree}.
 *
 * Accepted: quoted labels (`'a b'`, with `''` for a quote), unquoted labels kept exactly as
 * written (underscores stay underscores), `[comments]` anywhere between tokens, internal node
 * labels and support values, scientific-notation branch lengths, any number of children (unary
 * nodes and multifurcations included) and whitespace or newlines between tokens. One tree per
 * file, ended by `;` (comments and whitespace may follow it).
 *
 * Rejected, with the file, line and column: a non-root branch without a length, negative or
 * unparsable lengths, duplicate or empty tip names, unbalanced parentheses, a missing `;` and
 * text after the `;`. Values quoted in messages are cut to a readable length.
 *
 * Every step is linear in the length of the text (no backtracking pattern is used).
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";
import { quoteValue } from "../text/decode.ts";
import { type FlatTree, flatTreeFromParents } from "../tree/flat_tree.ts";

const OPEN = 40; // (
const CLOSE = 41; // )
const COMMA = 44; // ,
const COLON = 58; // :
const SEMI = 59; // ;
const LBRACKET = 91; // [
const RBRACKET = 93; // ]
const QUOTE = 39; // '

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * True when `token` is a decimal number: `[+-]? (digits [. digits*] | . digits) ([eE] [+-]?
 * digits)?`. Scanned once, left to right (a regular expression with two adjacent digit runs
 * backtracks quadratically on a long run of digits followed by junk).
 */
export function isDecimalNumber(token: string): boolean {
  const n = token.length;
  let i = 0;
  let c = token.charCodeAt(0);
  if (c === 43 || c === 45) c = token.charCodeAt(++i);
  let digits = 0;
  while (i < n && isDigit(token.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && token.charCodeAt(i) === 46) {
    i++;
    while (i < n && isDigit(token.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return false;
  c = token.charCodeAt(i);
  if (c === 101 || c === 69) {
    i++;
    c = token.charCodeAt(i);
    if (c === 43 || c === 45) i++;
    let exponent = 0;
    while (i < n && isDigit(token.charCodeAt(i))) {
      i++;
      exponent++;
    }
    if (exponent === 0) return false;
  }
  return i === n;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** Characters that end an unquoted label or a number. */
function isDelimiter(c: number): boolean {
  return c === OPEN || c === CLOSE || c === COMMA || c === COLON || c === SEMI ||
    c === LBRACKET || c === RBRACKET || c === QUOTE || isSpace(c);
}

/** The (whole) character at `pos`, quoted for a message. */
function charAt(text: string, pos: number): string {
  return quoteValue(String.fromCodePoint(text.codePointAt(pos) ?? 0));
}

/** Line and column (both 1-based) of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Parses one Newick tree into a {@linkcode FlatTree}: tips numbered in order of appearance,
 * internal nodes in post-order (children before parents), root last.
 *
 * A length written on the root is accepted and ignored. Every other branch needs a length.
 *
 * @param text The Newick text.
 * @param source The file name, used in error messages.
 * @returns The tree; `internalLabels` keeps internal node names and support values.
 * @throws {GenecontentError} On any malformed input, naming the file, line and column.
 *
 * @example
 * ```ts
 * import { parseNewick } from "./parse.ts";
 * const t = parseNewick("((a:1,'b c':2)95:0.5,d_1:1e-3);", "tree.nwk");
 * console.assert(t.tipNames.join("|") === "a|b c|d_1");
 * console.assert(t.internalLabels[0] === "95" && t.branchLength[2] === 0.001);
 * ```
 */
export function parseNewick(text: string, source: string): FlatTree {
  return parseNewickRange(text, source, { start: 0, end: text.length });
}

/** Where {@linkcode parseNewickRange} reads, and how tip labels are renamed. */
export interface NewickRange {
  /** Offset of the first character of the tree (comments and whitespace may come first). */
  readonly start: number;
  /** Offset just past the tree's text (after its `;` and anything that may follow it). */
  readonly end: number;
  /** Tip labels to replace (a Nexus `translate` table): label as written to taxon name. */
  readonly translate?: ReadonlyMap<string, string>;
}

/**
 * Parses the one Newick tree in `text[range.start, range.end)`, with lines and columns in
 * messages counted over the whole text (for trees inside a larger file, such as a Nexus trees
 * block). Tip labels found in `range.translate` are replaced by their taxon names before the
 * names are checked.
 *
 * @example
 * ```ts
 * import { parseNewickRange } from "./parse.ts";
 * const text = "tree one = (1:1,2:1);";
 * const t = parseNewickRange(text, "t.nex", {
 *   start: 11,
 *   end: text.length,
 *   translate: new Map([["1", "E. coli"], ["2", "B. subtilis"]]),
 * });
 * console.assert(t.tipNames.join("|") === "E. coli|B. subtilis");
 * ```
 */
export function parseNewickRange(text: string, source: string, range: NewickRange): FlatTree {
  const n = Math.min(range.end, text.length);
  const translate = range.translate;
  const where = (offset: number): string => {
    const { line, column } = lineColumn(text, offset);
    return `Tree file '${source}', line ${line}, column ${column}`;
  };
  const fail = (offset: number, what: string): never => {
    throw new GenecontentError(`${where(offset)}: ${what}`);
  };

  // Nodes in creation order ("temporary ids").
  const tmpParent: number[] = [];
  const tmpLength: number[] = [];
  const tmpHasLength: boolean[] = [];
  const tmpOffset: number[] = []; // where the node's text starts (tips) or closes (internal)
  const tmpFinal: number[] = []; // tip index, or post-order index among internal nodes
  const tmpIsTip: boolean[] = [];
  const tipNames: string[] = [];
  const tipOffsets: number[] = [];
  const internalLabelsByClose: (string | null)[] = [];
  const open: number[] = []; // stack of open internal nodes (temporary ids)
  let nInternalClosed = 0;
  let pos = range.start;

  const skipBlank = (): void => {
    while (pos < n) {
      const c = text.charCodeAt(pos);
      if (isSpace(c)) {
        pos++;
      } else if (c === LBRACKET) {
        const start = pos;
        let depth = 0;
        while (pos < n) {
          const d = text.charCodeAt(pos);
          if (d === LBRACKET) depth++;
          else if (d === RBRACKET && --depth === 0) break;
          pos++;
        }
        if (pos >= n) fail(start, "comment '[' is never closed by ']'; close it or remove it.");
        pos++;
      } else {
        return;
      }
    }
  };

  /** Reads a quoted or unquoted label at `pos`; returns "" when there is none. */
  const readLabel = (): string => {
    if (pos < n && text.charCodeAt(pos) === QUOTE) {
      const start = pos;
      pos++;
      // Escaped quotes are rare: find the closing quote first, then unescape the whole label in
      // one pass (appending piece by piece would build a rope of one piece per escape, which
      // the garbage collector copies over and over).
      let escaped = false;
      while (true) {
        if (pos >= n) {
          fail(start, "quoted label is never closed; end it with a single quote (').");
        }
        if (text.charCodeAt(pos) === QUOTE) {
          if (pos + 1 < n && text.charCodeAt(pos + 1) === QUOTE) {
            escaped = true;
            pos += 2;
            continue;
          }
          pos++;
          const body = text.slice(start + 1, pos - 1);
          return escaped ? body.replaceAll("''", "'") : body;
        }
        pos++;
      }
    }
    const start = pos;
    while (pos < n && !isDelimiter(text.charCodeAt(pos))) pos++;
    return text.slice(start, pos);
  };

  const newNode = (parent: number, isTip: boolean, offset: number): number => {
    const id = tmpParent.length;
    tmpParent.push(parent);
    tmpLength.push(0);
    tmpHasLength.push(false);
    tmpOffset.push(offset);
    tmpFinal.push(-1);
    tmpIsTip.push(isTip);
    return id;
  };

  /** Reads the optional `:length` after a node (and comments around it). */
  const readLength = (node: number): void => {
    skipBlank();
    if (pos < n && text.charCodeAt(pos) === COLON) {
      pos++;
      skipBlank();
      const start = pos;
      while (pos < n && !isDelimiter(text.charCodeAt(pos))) pos++;
      const token = text.slice(start, pos);
      if (token === "") {
        fail(start, "':' is not followed by a branch length; write a number such as ':0.01'.");
      }
      if (!isDecimalNumber(token)) {
        fail(start, `branch length ${quoteValue(token)} is not a number; write e.g. 0.01 or 1e-3.`);
      }
      const value = Number(token);
      if (!Number.isFinite(value)) {
        fail(start, `branch length ${quoteValue(token)} is not a finite number.`);
      }
      if (value < 0) {
        fail(start, `negative branch length ${quoteValue(token)}; branch lengths must be >= 0.`);
      }
      tmpLength[node] = value === 0 ? 0 : value; // turns -0 into 0
      tmpHasLength[node] = true;
    }
  };

  skipBlank();
  if (pos >= n) {
    throw new GenecontentError(`Tree file '${source}' is empty; it must hold one Newick tree.`);
  }
  let root = -1;
  let expectNode = true;
  while (true) {
    skipBlank();
    if (expectNode) {
      if (pos < n && text.charCodeAt(pos) === OPEN) {
        const id = newNode(open.length ? open[open.length - 1] : -1, false, pos);
        open.push(id);
        pos++;
        continue;
      }
      const start = pos;
      const label = readLabel();
      if (label === "") {
        if (pos >= n) fail(start, "the tree ends where a tip name was expected; add it and ';'.");
        fail(start, `empty tip name before ${charAt(text, pos)}; every tip needs a name.`);
      }
      const id = newNode(open.length ? open[open.length - 1] : -1, true, start);
      tmpFinal[id] = tipNames.length;
      tipNames.push(translate?.get(label) ?? label);
      tipOffsets.push(start);
      readLength(id);
      if (open.length === 0) root = id;
      expectNode = false;
      continue;
    }
    if (pos >= n) {
      if (open.length > 0) {
        fail(
          n,
          `the tree ends with ${open.length} unclosed '('; add the missing ')' and end with ';'.`,
        );
      }
      fail(n, "missing ';' at the end of the tree; add it.");
    }
    const c = text.charCodeAt(pos);
    if (c === COMMA) {
      if (open.length === 0) {
        fail(pos, "',' outside any parentheses; the tree has unbalanced parentheses.");
      }
      pos++;
      expectNode = true;
    } else if (c === CLOSE) {
      if (open.length === 0) {
        fail(pos, "')' without a matching '('; the tree has unbalanced parentheses.");
      }
      const id = open.pop()!;
      tmpOffset[id] = pos;
      tmpFinal[id] = nInternalClosed++;
      pos++;
      skipBlank();
      const label = readLabel();
      internalLabelsByClose.push(label === "" ? null : label);
      readLength(id);
      if (open.length === 0) root = id;
    } else if (c === SEMI) {
      if (open.length > 0) {
        fail(
          pos,
          `';' while ${open.length} '(' are still open; the tree has unbalanced parentheses.`,
        );
      }
      pos++;
      break;
    } else if (root >= 0 && open.length === 0) {
      fail(pos, `unexpected ${charAt(text, pos)} after the end of the tree; is ';' missing?`);
    } else {
      fail(pos, `unexpected ${charAt(text, pos)}; expected ',', ')' or ':' after a node.`);
    }
  }
  // Only whitespace and comments may follow the ';'.
  skipBlank();
  if (pos < n) {
    fail(pos, "text after the ';' that ends the tree; the file must hold exactly one tree.");
  }

  const nTips = tipNames.length;
  const nNodes = tmpParent.length;
  // Duplicate tip names, with both positions.
  const firstSeen = new Map<string, number>();
  for (let i = 0; i < nTips; i++) {
    const prev = firstSeen.get(tipNames[i]);
    if (prev !== undefined) {
      const a = lineColumn(text, tipOffsets[prev]);
      const b = lineColumn(text, tipOffsets[i]);
      throw new GenecontentError(
        `Tree file '${source}': tip name ${
          quoteValue(tipNames[i])
        } appears twice (line ${a.line}, ` +
          `column ${a.column} and line ${b.line}, column ${b.column}); tip names must be unique.`,
      );
    }
    firstSeen.set(tipNames[i], i);
  }
  const finalIndex = (tmp: number): number => tmpIsTip[tmp] ? tmpFinal[tmp] : nTips + tmpFinal[tmp];
  const parent = new Int32Array(nNodes);
  const length = new Float64Array(nNodes);
  for (let tmp = 0; tmp < nNodes; tmp++) {
    const i = finalIndex(tmp);
    const p = tmpParent[tmp];
    if (p < 0) {
      parent[i] = -1;
      length[i] = 0;
      continue;
    }
    if (!tmpHasLength[tmp]) {
      const what = tmpIsTip[tmp]
        ? `the branch above tip ${quoteValue(tipNames[tmpFinal[tmp]])}`
        : "the branch above the clade closed here";
      fail(
        tmpOffset[tmp],
        `every branch needs a length: ${what} has none; write it as ':0.01' after the node.`,
      );
    }
    parent[i] = finalIndex(p);
    length[i] = tmpLength[tmp];
  }
  return flatTreeFromParents(tipNames, parent, length, internalLabelsByClose);
}
