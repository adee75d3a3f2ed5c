/**
 * Readers for the inputs of effect tests: family-set files, tip metadata (a class per genome)
 * and tip covariates (a number per genome).
 *
 * A family-set file is either a list, one family id per line (one set, named after the file's
 * base name without its extension), or a two-column table `family<TAB>set` (several sets; a
 * header line `family<TAB>set` is allowed). Ids are kept exactly as written (underscores,
 * spaces, case); only a trailing `\r` is stripped; blank lines and lines starting with `#` are
 * skipped. Metadata and covariate files are TSV (or CSV when the header has no tab) with a header
 * line: the first column names the genome (or, for branch classes, the node), and the column to
 * use is chosen by its header name. Every problem is a {@linkcode GenecontentError} naming the
 * file and the line, family, taxon, column or value, and what to do.
 *
 * @module
 */

import { basename } from "node:path";
import { GenecontentError } from "../errors.ts";
import { type FamilyGroups, familyGroups } from "../model/effects.ts";
import { type InputRecord, inputRecord } from "../provenance.ts";
import { bytesToText, quoteValue } from "../text/decode.ts";

/** Family sets read from a file, checked against a PAM's families. */
export interface FamilySets {
  /** Set name to member ids, in order of first appearance. */
  readonly sets: ReadonlyMap<string, readonly string[]>;
  /** The sets as groups over the PAM's families. */
  readonly groups: FamilyGroups;
  /** Whether the file was a one-id-per-line list or a `family<TAB>set` table. */
  readonly layout: "list" | "table";
  /** Number of families in each set, by set name. */
  readonly sizes: Readonly<Record<string, number>>;
}

/** The lines of a text that carry data: 1-based line numbers, `\r` stripped. */
function dataLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    if (t.trim() === "" || t.trimStart().startsWith("#")) continue;
    out.push({ line: i + 1, text: t });
  }
  return out;
}

function listed(items: readonly string[], limit = 10): string {
  return items.slice(0, limit).join(", ") +
    (items.length > limit ? `, ... (${items.length} in all)` : "");
}

/** The set name of a list file: its base name without the last extension (and `.gz`). */
export function setNameOfFile(path: string): string {
  let name = basename(path);
  if (name.toLowerCase().endsWith(".gz")) name = name.slice(0, -3);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * Parses a family-set file's text (see the module documentation) and checks it against the
 * PAM's families: an id not in the PAM (the first ten listed, with their lines, and how many),
 * an empty set, a set (or all sets together) covering every family, a family in two sets or
 * listed twice, and a line with the wrong number of columns are refused.
 *
 * @param text The file's text.
 * @param fileName The file, for messages and the name of a list's set.
 * @param familyNames The PAM's family names.
 *
 * @example
 * ```ts
 * import { parseFamilySets } from "./inputs.ts";
 * const one = parseFamilySets("# prophage\nf2\nf 3\n", "sets/prophage.txt", ["f1", "f2", "f 3"]);
 * console.assert(one.layout === "list" && one.groups.ofFamily.join() === "-1,0,0");
 * console.assert([...one.sets.keys()].join() === "prophage");
 * const two = parseFamilySets("family\tset\nf1\tA\nf3\tB\n", "s.tsv", ["f1", "f2", "f3"]);
 * console.assert(two.groups.sets.join() === "A,B" && two.sizes.B === 1);
 * ```
 */
export function parseFamilySets(
  text: string,
  fileName: string,
  familyNames: readonly string[],
): FamilySets {
  const lines = dataLines(text);
  const where = (line: number) => `Family-set file '${fileName}', line ${line}`;
  if (lines.length === 0) {
    throw new GenecontentError(
      `Family-set file '${fileName}' lists no family (only blank or '#' lines): the set ` +
        `'${setNameOfFile(fileName)}' is empty. Give one family id per line, or ` +
        "family<TAB>set rows.",
    );
  }
  const layout: "list" | "table" = lines[0].text.includes("\t") ? "table" : "list";
  let rows = lines;
  if (layout === "table") {
    const [a, b] = lines[0].text.split("\t");
    if (lines[0].text.split("\t").length === 2 && a === "family" && b === "set") {
      rows = lines.slice(1);
    }
  }
  const sets = new Map<string, string[]>();
  const seen = new Map<string, { set: string; line: number }>();
  const known = new Set(familyNames);
  const unknown: { id: string; line: number }[] = [];
  for (const { line, text: t } of rows) {
    const fields = t.split("\t");
    let id: string, set: string;
    if (layout === "list") {
      if (fields.length !== 1) {
        throw new GenecontentError(
          `${where(line)}: ${fields.length} tab-separated columns in a one-id-per-line file ` +
            `(the first data line, ${lines[0].line}, has one). Give one family id per line, ` +
            "or family<TAB>set on every line.",
        );
      }
      id = t;
      set = setNameOfFile(fileName);
    } else {
      if (fields.length !== 2) {
        throw new GenecontentError(
          `${where(line)}: ${fields.length} tab-separated column${
            fields.length === 1 ? "" : "s"
          }; a family-set table has two (family<TAB>set) on every line.`,
        );
      }
      [id, set] = fields;
      if (id === "" || set === "") {
        throw new GenecontentError(
          `${where(line)}: the ${id === "" ? "family id" : "set name"} is empty; give both ` +
            "family<TAB>set.",
        );
      }
    }
    const before = seen.get(id);
    if (before) {
      throw new GenecontentError(
        before.set === set
          ? `${where(line)}: family ${quoteValue(id)} is listed a second time in set ` +
            `${quoteValue(set)} (first on line ${before.line}); list each family once.`
          : `${where(line)}: family ${quoteValue(id)} is in two sets, ${
            quoteValue(before.set)
          } (line ${before.line}) and ${quoteValue(set)}; sets must be disjoint ` +
            "(they share one likelihood).",
      );
    }
    seen.set(id, { set, line });
    if (!known.has(id)) unknown.push({ id, line });
    const members = sets.get(set);
    if (members) members.push(id);
    else sets.set(set, [id]);
  }
  if (unknown.length > 0) {
    throw new GenecontentError(
      `Family-set file '${fileName}': ${unknown.length} famil${
        unknown.length === 1 ? "y id is" : "y ids are"
      } not in the PAM: ${
        listed(unknown.map((u) => `${quoteValue(u.id)} (line ${u.line})`))
      }. Ids must match the PAM's family names exactly (case, spaces and underscores included)${
        layout === "table" && unknown[0].line === lines[0].line && rows === lines
          ? "; a header line must read exactly 'family<TAB>set'"
          : ""
      }.`,
    );
  }
  if (sets.size === 0) {
    throw new GenecontentError(
      `Family-set file '${fileName}' has a header but no family<TAB>set rows; every set is empty.`,
    );
  }
  let groups: FamilyGroups;
  try {
    groups = familyGroups(familyNames, sets);
  } catch (e) {
    if (e instanceof GenecontentError) {
      throw new GenecontentError(`Family-set file '${fileName}': ${e.message}`);
    }
    throw e;
  }
  const sizes: Record<string, number> = {};
  for (const [name, members] of sets) sizes[name] = members.length;
  return { sets, groups, layout, sizes };
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.IsADirectory
      ? "it is a folder"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new GenecontentError(`Cannot read ${what} '${path}': ${why}.`);
  }
}

/**
 * Reads a family-set file (plain or gzipped UTF-8; see {@linkcode parseFamilySets}).
 *
 * @example
 * ```ts ignore
 * import { readFamilySets } from "./inputs.ts";
 * const { groups, input } = await readFamilySets("pathway.txt", ["f1", "f2", "f3"]);
 * console.log(groups.sets, input.sha256);
 * ```
 */
export async function readFamilySets(
  path: string,
  familyNames: readonly string[],
): Promise<FamilySets & { readonly input: InputRecord }> {
  const bytes = await readInput(path, "family-set file");
  const { text } = await bytesToText(bytes, `Family-set file '${path}'`);
  return {
    ...parseFamilySets(text, path, familyNames),
    input: await inputRecord("families", path, bytes),
  };
}

/** One row of a metadata table: the genome or node it names, the chosen column's value. */
export interface MetadataRow {
  /** The first column (a genome name, or a node id for branch classes). */
  readonly name: string;
  /** The value in the chosen column, exactly as written. */
  readonly value: string;
  /** Its 1-based line in the file. */
  readonly line: number;
}

/** A metadata table reduced to one column. */
export interface MetadataTable {
  /** The file, for messages. */
  readonly fileName: string;
  /** Every column name of the header. */
  readonly columns: readonly string[];
  /** The chosen column. */
  readonly column: string;
  /** The rows, in file order. */
  readonly rows: readonly MetadataRow[];
}

/**
 * Parses a metadata table (header line first; tab-separated, or comma-separated when the header
 * has no tab) and keeps the first column and the column named `column`. Refuses an unknown
 * column (listing the columns), a row with the wrong number of fields, a name given twice, and
 * an empty or `NA` value (nothing is guessed).
 *
 * @example
 * ```ts
 * import { parseMetadataTable } from "./inputs.ts";
 * const t = parseMetadataTable("genome\thost\tsize\na\tfree\t2\nb\thost\t3\n", "m.tsv", "host");
 * console.assert(t.rows.map((r) => r.value).join() === "free,host" && t.rows[1].line === 3);
 * ```
 */
export function parseMetadataTable(
  text: string,
  fileName: string,
  column: string,
): MetadataTable {
  const lines = dataLines(text);
  if (lines.length === 0) {
    throw new GenecontentError(`Metadata file '${fileName}' is empty; it needs a header line.`);
  }
  const sep = lines[0].text.includes("\t") ? "\t" : ",";
  const columns = lines[0].text.split(sep);
  const c = columns.indexOf(column);
  if (c < 0 || c === 0) {
    throw new GenecontentError(
      c === 0
        ? `Metadata file '${fileName}': column ${
          quoteValue(column)
        } is the first column, which names the genomes; choose another with --column.`
        : `Metadata file '${fileName}' has no column ${quoteValue(column)}; its columns are ${
          columns.map((x) => quoteValue(x)).join(", ")
        } (the first names the genomes). Choose one with --column.`,
    );
  }
  const rows: MetadataRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, text: t } of lines.slice(1)) {
    const fields = t.split(sep);
    const where = `Metadata file '${fileName}', line ${line}`;
    if (fields.length !== columns.length) {
      throw new GenecontentError(
        `${where}: ${fields.length} field${
          fields.length === 1 ? "" : "s"
        }, but the header has ${columns.length}.`,
      );
    }
    const name = fields[0];
    const value = fields[c];
    if (seen.has(name)) {
      throw new GenecontentError(
        `${where}: ${quoteValue(name)} is listed a second time (first on line ${seen.get(name)}).`,
      );
    }
    seen.set(name, line);
    if (value.trim() === "" || value.trim().toUpperCase() === "NA") {
      throw new GenecontentError(
        `${where}: ${quoteValue(name)} has no value in column ${quoteValue(column)} (${
          quoteValue(value)
        }); give every row a value.`,
      );
    }
    rows.push({ name, value, line });
  }
  return { fileName, columns, column, rows };
}

/**
 * Reads a metadata file (plain or gzipped UTF-8; see {@linkcode parseMetadataTable}).
 *
 * @example
 * ```ts ignore
 * import { readMetadataTable } from "./inputs.ts";
 * const { table, input } = await readMetadataTable("meta.tsv", "host", "classes");
 * console.log(table.rows.length, input.sha256);
 * ```
 */
export async function readMetadataTable(
  path: string,
  column: string,
  role: string,
): Promise<{ readonly table: MetadataTable; readonly input: InputRecord }> {
  const bytes = await readInput(path, "metadata file");
  const { text } = await bytesToText(bytes, `Metadata file '${path}'`);
  return {
    table: parseMetadataTable(text, path, column),
    input: await inputRecord(role, path, bytes),
  };
}

/**
 * Matches a metadata table's rows to the tree's genomes: a row naming a genome not in the tree
 * is refused (unless it is in `dropped`, the tips pruned by `--prune-to-shared`, which are
 * ignored), and so is a genome of the tree without a row.
 *
 * @returns The row of each tip, in the tree's tip order.
 *
 * @example
 * ```ts
 * import { parseMetadataTable, rowsByTip } from "./inputs.ts";
 * const t = parseMetadataTable("genome\tc\nb\tx\na\ty\n", "m.tsv", "c");
 * console.assert(rowsByTip(t, ["a", "b"]).map((r) => r.value).join() === "y,x");
 * ```
 */
export function rowsByTip(
  table: MetadataTable,
  tipNames: readonly string[],
  dropped: readonly string[] = [],
): MetadataRow[] {
  const index = new Map(tipNames.map((n, i) => [n, i]));
  const skip = new Set(dropped);
  const out: (MetadataRow | undefined)[] = new Array(tipNames.length);
  const unknown: MetadataRow[] = [];
  for (const row of table.rows) {
    const i = index.get(row.name);
    if (i === undefined) {
      if (!skip.has(row.name)) unknown.push(row);
      continue;
    }
    out[i] = row;
  }
  if (unknown.length > 0) {
    throw new GenecontentError(
      `Metadata file '${table.fileName}' names ${unknown.length} taxon/taxa not in the tree: ${
        listed(unknown.map((r) => `${quoteValue(r.name)} (line ${r.line})`))
      }. Names must match the tree's tips exactly; remove those rows.`,
    );
  }
  const missing = tipNames.filter((_, i) => out[i] === undefined);
  if (missing.length > 0) {
    throw new GenecontentError(
      `Metadata file '${table.fileName}' has no row for ${missing.length} genome(s) of the ` +
        `tree: ${listed(missing.map((m) => quoteValue(m)))}. Give every genome a value in ` +
        `column ${quoteValue(table.column)}.`,
    );
  }
  return out as MetadataRow[];
}

/** Classes of the tips, from a metadata column. */
export interface TipClasses {
  /** Class names in order of first appearance in the file. */
  readonly classes: readonly string[];
  /** Class index of each tip (tree tip order). */
  readonly ofTip: Int32Array;
}

/**
 * The class of every tip from a metadata table (see {@linkcode rowsByTip}); classes are
 * numbered in order of first appearance in the file.
 *
 * @example
 * ```ts
 * import { parseMetadataTable, tipClasses } from "./inputs.ts";
 * const t = parseMetadataTable("genome\thost\nb\thuman\na\tsoil\nc\thuman\n", "m.tsv", "host");
 * const c = tipClasses(t, ["a", "b", "c"]);
 * console.assert(c.classes.join() === "human,soil" && c.ofTip.join() === "1,0,0");
 * ```
 */
export function tipClasses(
  table: MetadataTable,
  tipNames: readonly string[],
  dropped: readonly string[] = [],
): TipClasses {
  const rows = rowsByTip(table, tipNames, dropped);
  const classes: string[] = [];
  const index = new Map<string, number>();
  // Order of first appearance in the file, over the rows that name tree tips.
  for (const row of [...rows].sort((a, b) => a.line - b.line)) {
    if (!index.has(row.value)) {
      index.set(row.value, classes.length);
      classes.push(row.value);
    }
  }
  return { classes, ofTip: Int32Array.from(rows, (r) => index.get(r.value)!) };
}

/**
 * A numeric covariate per tip from a metadata table (see {@linkcode rowsByTip}); a value that is
 * not a finite number is refused, naming the genome and the line.
 *
 * @example
 * ```ts
 * import { parseMetadataTable, tipCovariate } from "./inputs.ts";
 * const t = parseMetadataTable("genome\tgc\na\t0.51\nb\t0.38\n", "m.tsv", "gc");
 * console.assert(tipCovariate(t, ["b", "a"]).join() === "0.38,0.51");
 * ```
 */
export function tipCovariate(
  table: MetadataTable,
  tipNames: readonly string[],
  dropped: readonly string[] = [],
): Float64Array {
  const rows = rowsByTip(table, tipNames, dropped);
  return Float64Array.from(rows, (r) => {
    const x = Number(r.value.trim());
    if (!Number.isFinite(x)) {
      throw new GenecontentError(
        `Metadata file '${table.fileName}', line ${r.line}: the value of genome ${
          quoteValue(r.name)
        } in column ${quoteValue(table.column)} is ${
          quoteValue(r.value)
        }, not a number; a covariate needs a number for every genome.`,
      );
    }
    return x;
  });
}
