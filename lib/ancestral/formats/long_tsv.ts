/**
 * Tables of an ancestral reconstruction as files users open: the per-family long ("tidy") TSV,
 * streamed family by family, and the per-branch summary TSV. The Newick tree of the node ids
 * they refer to is `idNewick` of `lib/ancestral/node_ids.ts`.
 *
 * Inputs are plain structures: the tree, the node ids (one per node of the flat tree, see the
 * stable node-id rule), per-branch sums and per-family rows produced lazily. The per-branch
 * summary writes the shortest decimal that reads back to the same double (`String(x)`); the
 * per-family table, which runs to hundreds of millions of rows, writes 6 significant digits
 * ({@linkcode formatValue}), by the native kernel when it is loaded (`native_table.ts`, the same
 * bytes, formatted and compressed in parallel) or here.
 *
 * @module
 */

import { GenecontentError } from "../../errors.ts";
import type { FlatTree } from "../../tree/flat_tree.ts";
import type { Kernel } from "../../native/ffi.ts";
import { NativeFamilyTable } from "./native_table.ts";
import { openTextOutput, type TextOutputOptions, writeTextOutput } from "./stream_writer.ts";

/** A quantity of the per-family table. */
export type FamilyQuantity = "pPresent" | "gains" | "losses";

/** Every quantity, in the order rows are written for a node. */
export const FAMILY_QUANTITIES: readonly FamilyQuantity[] = ["pPresent", "gains", "losses"];

/** Columns of the per-family long TSV. */
export const LONG_TSV_HEADER: readonly string[] = ["family", "node", "quantity", "value"];

/** One family's reconstruction, indexed by node of the flat tree. */
export interface FamilyAncestralRow {
  /** The family's name (as in the PAM). */
  readonly family: string;
  /** Posterior probability that the family is present at each node (root included). */
  readonly pPresent: Float64Array;
  /** Expected gains on the branch above each node (the root's entry is not written). */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (the root's entry is not written). */
  readonly losses: Float64Array;
}

/**
 * A value of the per-family table with 6 significant digits: `0` and `1` when exactly 0 (either
 * sign) or 1; otherwise the digits correctly rounded (ties away from zero), as a plain decimal
 * keeping trailing zeros when the rounded value's decimal exponent `e` is in -4..5
 * (`0.000123457`, `0.500000`, `123457`), else as `d.ddddde±x` (`5.32996e-6`, `1.23457e+6`):
 * `toPrecision(6)`, with exponential notation from `e < -4` as in C's `%g`. Six digits bound the
 * relative rounding error by 5e-6, far below the uncertainty of any fitted model, and keep the
 * table short; `0` and `1` mark exact values (an observed tip), `1.00000` a rounded one. The
 * native kernel (`gc_family_table`) writes the same bytes.
 *
 * @example
 * ```ts
 * import { formatValue } from "./long_tsv.ts";
 * console.assert(formatValue(0.1 + 0.2) === "0.300000");
 * console.assert(formatValue(5.3299562e-6) === "5.32996e-6");
 * console.assert(formatValue(1) === "1" && formatValue(0.9999999) === "1.00000");
 * ```
 */
export function formatValue(x: number): string {
  if (x === 0) return "0";
  if (x === 1) return "1";
  const s = x.toExponential(5);
  const e = Number(s.slice(s.indexOf("e") + 1));
  return e < -4 || e > 5 ? s : x.toPrecision(6);
}

/**
 * Per-family values of a run of families, stored once per distinct column pattern (as
 * `AncestralReconstruction.familyBlocks` yields them): family `i` is named `families[i]` and its
 * values are row `rows[i]` of `present`, `gains` and `losses` (`nRows * nNodes` each).
 */
export interface FamilyTableBlock {
  /** The families' names. */
  readonly families: readonly string[];
  /** The value row of each family. */
  readonly rows: Uint32Array;
  /** Posterior probability of presence at each node (root included), row by row. */
  readonly present: Float64Array;
  /** Expected gains on the branch above each node (root entry not written), row by row. */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (root entry not written), row by row. */
  readonly losses: Float64Array;
}

/** Sums over families, indexed by node of the flat tree. */
export interface BranchSums {
  /** Expected gains on the branch above each node (root entry ignored). */
  readonly gains: Float64Array;
  /** Expected losses on the branch above each node (root entry ignored). */
  readonly losses: Float64Array;
  /** Expected number of families present at each node (root included), when known. */
  readonly present?: Float64Array;
}

/**
 * Checks node ids against a tree: one per node, non-empty, unique, and free of tabs and line
 * breaks (they name rows of TSV files).
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { checkNodeIds } from "./long_tsv.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
 * checkNodeIds(t, ["a", "b", "node2"]);
 * ```
 */
export function checkNodeIds(tree: FlatTree, ids: readonly string[]): void {
  if (ids.length !== tree.nNodes) {
    throw new GenecontentError(
      `Node ids: got ${ids.length} ids for a tree of ${tree.nNodes} nodes; give one per node.`,
    );
  }
  const seen = new Map<string, number>();
  for (let v = 0; v < ids.length; v++) {
    const id = ids[v];
    if (id === "" || /[\t\r\n]/.test(id)) {
      throw new GenecontentError(
        `Node id ${JSON.stringify(id)} of node ${v} is empty or holds a tab or line break: ` +
          "ids name rows of TSV files.",
      );
    }
    const other = seen.get(id);
    if (other !== undefined) {
      throw new GenecontentError(
        `Node id '${id}' names both node ${other} and node ${v}: ids must be unique.`,
      );
    }
    seen.set(id, v);
  }
}

function checkArray(
  what: string,
  name: string,
  values: Float64Array | undefined,
  tree: FlatTree,
  ids: readonly string[],
  skipRoot: boolean,
): void {
  if (!(values instanceof Float64Array) || values.length !== tree.nNodes) {
    throw new GenecontentError(
      `${what}: ${name} has ${values?.length ?? "no"} values for a tree of ${tree.nNodes} ` +
        "nodes; give one per node.",
    );
  }
  const end = skipRoot ? tree.nNodes - 1 : tree.nNodes;
  for (let v = 0; v < end; v++) {
    if (!Number.isFinite(values[v])) {
      throw new GenecontentError(
        `${what}: ${name} at node '${ids[v]}' is ${values[v]}; every value must be finite.`,
      );
    }
  }
}

function checkFamilyName(family: unknown, index: number): string {
  if (typeof family !== "string" || family === "" || /[\t\r\n]/.test(family)) {
    throw new GenecontentError(
      `Family ${index + 1} of the per-family table is named ${JSON.stringify(family)}: a family ` +
        "name in a TSV must be non-empty and hold no tab or line break. Rename it in the PAM.",
    );
  }
  return family;
}

/** Options of {@linkcode writeFamilyLongTsv}. */
export interface LongTsvOptions extends TextOutputOptions {
  /** Quantities to write (default all three, in {@linkcode FAMILY_QUANTITIES} order). */
  readonly quantities?: readonly FamilyQuantity[];
  /**
   * Rows whose value is below this are not written, so that a row absent from the table means
   * a value below it (default 0: every row). Finite and >= 0.
   */
  readonly minValue?: number;
}

/**
 * The cut of the command line's per-family table (`ancestral --per-family-min`): rows of a
 * posterior probability or expected count below 1e-4 are left out. On a pangenome most
 * families are absent from most of the tree, so most rows are near 0 (on the 1,324-genome
 * benchmark data, 75% of presence rows and 98% of gain and loss rows are below it) and the
 * table shrinks about tenfold; per-branch and per-genome sums are computed from every value,
 * not from the table. GLOOME cuts its per-position, per-branch events the same way.
 */
export const DEFAULT_FAMILY_TABLE_MIN = 1e-4;

/** What the sidecar (and `ancestral`'s JSON) says of the rows of a per-family table. */
export const FAMILY_TABLE_RULE =
  "rows whose value is below minValue are not written: a (family, node, " +
  "quantity) absent from the table has a value below minValue (0: every row is written)";

/** `minValue` of the options, checked. */
function checkMinValue(given: number | undefined): number {
  const v = given ?? 0;
  if (!(Number.isFinite(v) && v >= 0)) {
    throw new GenecontentError(
      `Per-family table: minimum value ${v} must be a finite number >= 0 (0 writes every row).`,
    );
  }
  return v;
}

/** What {@linkcode writeFamilyLongTsv} wrote. */
export interface LongTsvSummary {
  /** Families written. */
  readonly families: number;
  /** Data rows written (header not counted). */
  readonly rows: number;
  /** Uncompressed bytes written. */
  readonly bytes: number;
}

/**
 * The text of one family's rows in the long TSV (no header): for each node in flat-tree order,
 * one row per quantity; `gains` and `losses` only for nodes with a branch above (not the root).
 * Checks the row's arrays (one finite value per node) and the family name.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { familyLongTsvRows } from "./long_tsv.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
 * const text = familyLongTsvRows(t, ["a", "b", "root"], {
 *   family: "f1",
 *   pPresent: Float64Array.of(1, 0, 0.5),
 *   gains: Float64Array.of(0.5, 0, 0),
 *   losses: Float64Array.of(0, 0.5, 0),
 * }, ["pPresent"]);
 * console.assert(text === "f1\ta\tpPresent\t1\nf1\tb\tpPresent\t0\nf1\troot\tpPresent\t0.500000\n");
 * ```
 */
export function familyLongTsvRows(
  tree: FlatTree,
  ids: readonly string[],
  row: FamilyAncestralRow,
  quantities: readonly FamilyQuantity[] = FAMILY_QUANTITIES,
  index = 0,
  minValue = 0,
): string {
  return familyRowsText(tree, ids, row, quantities, index, checkMinValue(minValue))[0];
}

/** {@linkcode familyLongTsvRows} and the number of rows it wrote. */
function familyRowsText(
  tree: FlatTree,
  ids: readonly string[],
  row: FamilyAncestralRow,
  quantities: readonly FamilyQuantity[],
  index: number,
  minValue: number,
): [string, number] {
  const family = checkFamilyName(row.family, index);
  const what = `Family '${family}'`;
  const root = tree.nNodes - 1;
  const arrays = quantities.map((q) => row[q]);
  for (let k = 0; k < quantities.length; k++) {
    checkArray(what, quantities[k], arrays[k], tree, ids, quantities[k] !== "pPresent");
  }
  // String concatenation (ropes, flattened once when encoded) is about twice as fast here as
  // collecting the rows in an array and joining it.
  let text = "";
  if (
    minValue === 0 && quantities.length === 3 &&
    quantities.every((q, k) => q === FAMILY_QUANTITIES[k])
  ) {
    const [p, g, l] = arrays;
    for (let v = 0; v < root; v++) {
      const head = family + "\t" + ids[v];
      text += `${head}\tpPresent\t${formatValue(p[v])}\n${head}\tgains\t${
        formatValue(g[v])
      }\n${head}\tlosses\t${formatValue(l[v])}\n`;
    }
    text += `${family}\t${ids[root]}\tpPresent\t${formatValue(p[root])}\n`;
    return [text, 3 * root + 1];
  }
  let rows = 0;
  for (let v = 0; v < tree.nNodes; v++) {
    const head = family + "\t" + ids[v] + "\t";
    for (let k = 0; k < quantities.length; k++) {
      if (v === root && quantities[k] !== "pPresent") continue;
      const x = arrays[k][v];
      // The kernel's rule: with a cut above 0, a value below it is left out.
      if (minValue > 0 && x < minValue) continue;
      text += `${head}${quantities[k]}\t${formatValue(x)}\n`;
      rows++;
    }
  }
  return [text, rows];
}

/**
 * Streams the per-family long TSV (columns family, node, quantity, value) to `path`: family by
 * family as `rows` yields them (a sync or async iterable, consumed once, never collected), in
 * chunks, gzip-compressed when the name ends in `.gz`, through a temporary file renamed at the
 * end (`-` writes to stdout). A bad row (wrong length, non-finite value, unusable family name)
 * stops the run with a message naming the family and node, and leaves no file behind.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { writeFamilyLongTsv } from "./long_tsv.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
 * const dir = await Deno.makeTempDir();
 * function* rows() {
 *   yield {
 *     family: "f1",
 *     pPresent: Float64Array.of(1, 0, 0.5),
 *     gains: Float64Array.of(0.5, 0, 0),
 *     losses: Float64Array.of(0, 0.5, 0),
 *   };
 * }
 * const s = await writeFamilyLongTsv(`${dir}/fam.tsv.gz`, t, ["a", "b", "root"], rows());
 * console.assert(s.families === 1 && s.rows === 7);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFamilyLongTsv(
  path: string,
  tree: FlatTree,
  ids: readonly string[],
  rows: Iterable<FamilyAncestralRow> | AsyncIterable<FamilyAncestralRow>,
  options: LongTsvOptions = {},
): Promise<LongTsvSummary> {
  checkNodeIds(tree, ids);
  const quantities = checkQuantities(options.quantities);
  const minValue = checkMinValue(options.minValue);
  const out = await openTextOutput(path, options);
  let families = 0, written = 0;
  try {
    await out.write(LONG_TSV_HEADER.join("\t") + "\n");
    for await (const row of rows) {
      const [text, n] = familyRowsText(tree, ids, row, quantities, families, minValue);
      await out.write(text);
      written += n;
      families++;
    }
  } catch (e) {
    await out.abort();
    throw e;
  }
  await out.close();
  return { families, rows: written, bytes: out.bytes };
}

/** The quantities of the options (default all), checked. */
function checkQuantities(
  given: readonly FamilyQuantity[] | undefined,
): readonly FamilyQuantity[] {
  const quantities = given ?? FAMILY_QUANTITIES;
  if (quantities.length === 0 || new Set(quantities).size !== quantities.length) {
    throw new GenecontentError(
      `Per-family table: quantities ${JSON.stringify(quantities)} must be distinct and not ` +
        `empty; choose among ${FAMILY_QUANTITIES.join(", ")}.`,
    );
  }
  for (const q of quantities) {
    if (!FAMILY_QUANTITIES.includes(q)) {
      throw new GenecontentError(
        `Per-family table: unknown quantity '${q}'; choose among ${FAMILY_QUANTITIES.join(", ")}.`,
      );
    }
  }
  return quantities;
}

function rowsPerFamily(tree: FlatTree, quantities: readonly FamilyQuantity[]): number {
  let n = 0;
  for (const q of quantities) n += q === "pPresent" ? tree.nNodes : tree.nNodes - 1;
  return n;
}

/** Options of {@linkcode writeFamilyTable}. */
export interface FamilyTableOptions extends LongTsvOptions {
  /**
   * The native kernel: when it has `gc_family_table`, it formats the rows (and compresses a
   * `.gz` output: blocks of about 4 MiB deflated on their own, one gzip member in all) in
   * parallel; absent or null, this thread formats them. Both write the same text.
   */
  readonly kernel?: Kernel | null;
  /** The kernel's worker threads (0 or absent: one per core). */
  readonly threads?: number;
  /** The kernel's deflate level, 1 (default, the fastest) to 9. */
  readonly gzipLevel?: number;
  /** Called with every block before its rows are written (e.g. to collect a JSON view). */
  readonly onBlock?: (block: FamilyTableBlock) => void;
}

/** What {@linkcode writeFamilyTable} wrote. */
export interface FamilyTableSummary extends LongTsvSummary {
  /** Who formatted the rows. */
  readonly formatter: "native" | "ts";
  /** The cut: rows whose value is below it were left out (0: none). */
  readonly minValue: number;
  /** Rows of the complete table (`rows` of them were written). */
  readonly rowsInAll: number;
}

/**
 * Streams the per-family long TSV from blocks of families (as
 * `AncestralReconstruction.familyBlocks` yields them) to `path`, with the rules of
 * {@linkcode writeFamilyLongTsv} (gzip when the name ends in `.gz`, `-` for stdout, temporary
 * file renamed at the end, nothing left behind on failure). With a native kernel the rows are
 * formatted (and compressed) there, in parallel and while the next block is computed; the text
 * is the same either way.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { writeFamilyTable } from "./long_tsv.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
 * const dir = await Deno.makeTempDir();
 * const block = {
 *   families: ["f1", "f2"],
 *   rows: Uint32Array.of(0, 0),
 *   present: Float64Array.of(1, 0, 0.5),
 *   gains: Float64Array.of(0.5, 0, 0),
 *   losses: Float64Array.of(0, 0.5, 0),
 * };
 * const s = await writeFamilyTable(`${dir}/fam.tsv`, t, ["a", "b", "root"], [block]);
 * console.assert(s.families === 2 && s.rows === 14 && s.formatter === "ts");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFamilyTable(
  path: string,
  tree: FlatTree,
  ids: readonly string[],
  blocks: Iterable<FamilyTableBlock> | AsyncIterable<FamilyTableBlock>,
  options: FamilyTableOptions = {},
): Promise<FamilyTableSummary> {
  checkNodeIds(tree, ids);
  const quantities = checkQuantities(options.quantities);
  const minValue = checkMinValue(options.minValue);
  const perFamily = rowsPerFamily(tree, quantities);
  const nn = tree.nNodes;
  const gzipWanted = path !== "-" && (options.gzip ?? path.endsWith(".gz"));
  const level = options.gzipLevel ?? 1;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new GenecontentError(`Per-family table: gzip level ${level} must be 1 to 9.`);
  }
  const native = options.kernel
    ? NativeFamilyTable.open(
      options.kernel,
      ids,
      quantities,
      options.threads ?? 0,
      gzipWanted ? level : 0,
      minValue,
    )
    : null;
  // The sidecar (written when the output is closed) records the cut and the rows written.
  const table = { minValue, rows: 0, rowsInAll: 0, rule: FAMILY_TABLE_RULE };
  const given = options.provenance;
  const provenance = typeof given === "object" && given !== null && !Array.isArray(given)
    ? { ...given, familyTable: table }
    : given;
  // The kernel's deflate data goes to the file as it is.
  const out = await openTextOutput(
    path,
    native ? { ...options, gzip: false, provenance } : { ...options, provenance },
  );
  let families = 0, tsRows = 0;
  try {
    const header = LONG_TSV_HEADER.join("\t") + "\n";
    if (native && gzipWanted) await out.writeBytes(native.gzipStart(header));
    else await out.write(header);
    // Natively: block k is formatted (kernel threads) while block k + 1 is computed here; the
    // writes stay in order.
    let previous: Promise<void> = Promise.resolve();
    for await (const block of blocks) {
      checkBlock(block, nn, families);
      options.onBlock?.(block);
      if (native) {
        block.families.forEach((name, i) => checkFamilyName(name, families + i));
        const first = families;
        const formatted = native.format(block, first);
        const before = previous;
        previous = (async () => {
          const bytes = await formatted;
          await before;
          await out.writeBytes(bytes);
        })();
        previous.catch(() => {}); // awaited below or after the loop; handled there

        // Block k - 1 is written (its buffer is free again) before block k + 1 is formatted.
        await before;
      } else {
        for (let i = 0; i < block.families.length; i++) {
          const a = block.rows[i] * nn, b = a + nn;
          const [text, n] = familyRowsText(
            tree,
            ids,
            {
              family: block.families[i],
              pPresent: block.present.subarray(a, b),
              gains: block.gains.subarray(a, b),
              losses: block.losses.subarray(a, b),
            },
            quantities,
            families + i,
            minValue,
          );
          await out.write(text);
          tsRows += n;
        }
      }
      families += block.families.length;
    }
    await previous;
    if (native && gzipWanted) await out.writeBytes(native.gzipEnd());
    table.rows = native ? native.rows : tsRows;
    table.rowsInAll = families * perFamily;
  } catch (e) {
    await out.abort();
    throw e;
  }
  await out.close();
  return {
    families,
    rows: table.rows,
    bytes: native && gzipWanted ? native.textBytes : out.bytes,
    formatter: native ? "native" : "ts",
    minValue,
    rowsInAll: table.rowsInAll,
  };
}

/** Checks a block's shape (the kernel and the rows below index it). */
function checkBlock(block: FamilyTableBlock, nn: number, first: number): void {
  const nRows = block.present.length / nn;
  const bad = !Number.isInteger(nRows) || block.gains.length !== block.present.length ||
    block.losses.length !== block.present.length ||
    block.rows.length !== block.families.length || block.rows.some((r) => r >= nRows);
  if (bad) {
    throw new GenecontentError(
      `Per-family table: the block of families ${first + 1}.. has ${block.families.length} ` +
        `names, ${block.rows.length} rows and ${block.present.length}, ${block.gains.length}, ` +
        `${block.losses.length} values for ${nn} nodes; give n_rows * ${nn} values of each ` +
        "quantity and one row below n_rows per family.",
    );
  }
}

/** Columns of the per-branch summary TSV. */
export const BRANCH_TSV_HEADER: readonly string[] = [
  "node",
  "parent",
  "branchLength",
  "present",
  "gains",
  "losses",
  "net",
];

/**
 * The per-branch summary as TSV text: one row per node in flat-tree order with its id, its
 * parent's id, the length of the branch above it, the expected number of families present at
 * it, and the expected gains, losses and net change (gains − losses) on the branch above it,
 * summed over families. The root has no branch: its parent, length, gains, losses and net are
 * `NA`; `present` is `NA` when `sums.present` is not given.
 *
 * @example
 * ```ts
 * import { flatTreeFromParents } from "../../tree/flat_tree.ts";
 * import { branchSummaryTsv } from "./long_tsv.ts";
 * const t = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
 * const text = branchSummaryTsv(t, ["a", "b", "r"], {
 *   gains: Float64Array.of(3, 1, 0),
 *   losses: Float64Array.of(0.5, 2, 0),
 * });
 * console.assert(text.split("\n")[1] === "a\tr\t1\tNA\t3\t0.5\t2.5");
 * ```
 */
export function branchSummaryTsv(tree: FlatTree, ids: readonly string[], sums: BranchSums): string {
  checkNodeIds(tree, ids);
  checkArray("Branch sums", "gains", sums.gains, tree, ids, true);
  checkArray("Branch sums", "losses", sums.losses, tree, ids, true);
  if (sums.present !== undefined) {
    checkArray("Branch sums", "present", sums.present, tree, ids, false);
  }
  const root = tree.nNodes - 1;
  const lines = [BRANCH_TSV_HEADER.join("\t")];
  for (let v = 0; v < tree.nNodes; v++) {
    const present = sums.present ? String(sums.present[v]) : "NA";
    if (v === root) {
      lines.push(`${ids[v]}\tNA\tNA\t${present}\tNA\tNA\tNA`);
      continue;
    }
    const g = sums.gains[v];
    const l = sums.losses[v];
    lines.push(
      `${ids[v]}\t${ids[tree.parent[v]]}\t${tree.branchLength[v]}\t${present}\t${g}\t${l}\t${
        g - l
      }`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Writes the per-branch summary TSV ({@linkcode branchSummaryTsv}) under the safe-output rules
 * (gzip when the name ends in `.gz`, `-` for stdout).
 *
 * @example
 * ```ts ignore
 * await writeBranchSummaryTsv("branches.tsv", tree, ids, sums, { force: true });
 * ```
 */
export async function writeBranchSummaryTsv(
  path: string,
  tree: FlatTree,
  ids: readonly string[],
  sums: BranchSums,
  options: TextOutputOptions = {},
): Promise<void> {
  const text = branchSummaryTsv(tree, ids, sums);
  await writeTextOutput(path, (out) => out.write(text), options);
}
