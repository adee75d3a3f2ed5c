// Family-set, metadata and covariate files: layouts, ids kept exactly as written, and every bad
// input refused with a message naming the file, the line and the item.
import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import {
  parseFamilySets,
  parseMetadataTable,
  readFamilySets,
  readMetadataTable,
  rowsByTip,
  setNameOfFile,
  tipClasses,
  tipCovariate,
} from "../lib/effects/inputs.ts";

const families = ["f_1", "f 2", "F3", "f4", "f5"];

function refuses(f: () => unknown, ...patterns: RegExp[]) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof GenecontentError, `a GenecontentError, got ${e}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

Deno.test("a list file is one set named after the file; ids are kept exactly as written", () => {
  const s = parseFamilySets(
    "# genes near the prophage\n\nf 2\r\nF3\n",
    "/x/prophage.txt",
    families,
  );
  assert.equal(s.layout, "list");
  assert.deepEqual([...s.sets.entries()], [["prophage", ["f 2", "F3"]]]);
  assert.deepEqual([...s.groups.ofFamily], [-1, 0, 0, -1, -1]);
  assert.deepEqual(s.sizes, { prophage: 2 });
  assert.equal(setNameOfFile("dir/pathway.ids.txt.gz"), "pathway.ids");
  assert.equal(setNameOfFile("noext"), "noext");
  // Case and trailing spaces matter: 'f3' and 'F3 ' are not 'F3'.
  refuses(
    () => parseFamilySets("f3\nF3 \nf4\n", "p.txt", families),
    /'p\.txt': 2 family ids are not in the PAM: 'f3' \(line 1\), 'F3 ' \(line 2\)/,
  );
});

Deno.test("a table file holds several sets, with or without its header", () => {
  for (const header of ["family\tset\n", ""]) {
    const s = parseFamilySets(`${header}f4\tB\nf_1\tA\nf5\tB\n`, "s.tsv", families);
    assert.equal(s.layout, "table");
    assert.deepEqual(s.groups.sets, ["B", "A"]);
    assert.deepEqual([...s.groups.ofFamily], [1, -1, -1, 0, 0]);
    assert.deepEqual(s.sizes, { B: 2, A: 1 });
  }
});

Deno.test("bad family-set files are refused, naming the file, line and family", () => {
  const many = Array.from({ length: 12 }, (_, i) => `x${i}`).join("\n");
  refuses(
    () => parseFamilySets(many, "m.txt", families),
    /12 family ids are not in the PAM: 'x0' \(line 1\).*'x9' \(line 10\), \.\.\. \(12 in all\)/,
  );
  refuses(() => parseFamilySets("# nothing\n\n", "e.txt", families), /e\.txt' lists no family/);
  refuses(() => parseFamilySets("family\tset\n", "h.tsv", families), /no family<TAB>set rows/);
  refuses(
    () => parseFamilySets(families.join("\n"), "all.txt", families),
    /all\.txt'.*every family of the PAM \(5\)/,
  );
  refuses(
    () => parseFamilySets("f4\tA\nf5\tA\nf4\tB\n", "d.tsv", families),
    /d\.tsv', line 3: family 'f4' is in two sets, 'A' \(line 1\) and 'B'/,
  );
  refuses(
    () => parseFamilySets("f4\nf5\nf4\n", "d.txt", families),
    /line 3: family 'f4' is listed a second time in set 'd' \(first on line 1\)/,
  );
  refuses(
    () => parseFamilySets("f4\tA\nf5\tA\tx\n", "c.tsv", families),
    /c\.tsv', line 2: 3 tab-separated columns; a family-set table has two/,
  );
  refuses(
    () => parseFamilySets("f4\nf5\tA\n", "c.txt", families),
    /c\.txt', line 2: 2 tab-separated columns in a one-id-per-line file/,
  );
  refuses(() => parseFamilySets("f4\t\n", "c.tsv", families), /line 1: the set name is empty/);
  refuses(
    () => parseFamilySets("Family\tSet\nf4\tA\n", "h.tsv", families),
    /'Family' \(line 1\).*a header line must read exactly 'family<TAB>set'/,
  );
});

Deno.test("files are read with their digests; a missing file is named", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/core.txt`, "f4\n");
  const s = await readFamilySets(`${dir}/core.txt`, families);
  assert.equal(s.input.role, "families");
  assert.equal(s.input.sha256.length, 64);
  assert.deepEqual(s.groups.sets, ["core"]);
  await assert.rejects(
    readFamilySets(`${dir}/none.txt`, families),
    /Cannot read family-set file '.*none\.txt': no such file/,
  );
  await Deno.writeTextFile(`${dir}/m.csv`, "genome,host\na,x\nb,y\n");
  const m = await readMetadataTable(`${dir}/m.csv`, "host", "classes");
  assert.deepEqual(m.table.rows.map((r) => r.value), ["x", "y"]);
  assert.equal(m.input.role, "classes");
});

Deno.test("metadata tables: the column by its header, tips matched exactly", () => {
  const text = "genome\thost\tgc\nb\tsoil\t0.5\n# comment\na\thuman\t0.25\nc\tsoil\t1e-1\n";
  const t = parseMetadataTable(text, "meta.tsv", "host");
  assert.deepEqual(t.columns, ["genome", "host", "gc"]);
  const c = tipClasses(t, ["a", "b", "c"]);
  assert.deepEqual(c.classes, ["soil", "human"], "order of first appearance in the file");
  assert.deepEqual([...c.ofTip], [1, 0, 0]);
  const gc = tipCovariate(parseMetadataTable(text, "meta.tsv", "gc"), ["c", "a", "b"]);
  assert.deepEqual([...gc], [0.1, 0.25, 0.5]);
  // A pruned tip's row is ignored when it is listed as dropped.
  assert.equal(rowsByTip(t, ["a", "b"], ["c"]).length, 2);
});

Deno.test("bad metadata is refused, naming the column, taxon, line or value", () => {
  const text = "genome\thost\tgc\na\thuman\t0.5\nb\tsoil\thigh\n";
  refuses(
    () => parseMetadataTable(text, "meta.tsv", "Host"),
    /no column 'Host'; its columns are 'genome', 'host', 'gc'/,
  );
  refuses(() => parseMetadataTable(text, "meta.tsv", "genome"), /first column, which names/);
  refuses(
    () => tipCovariate(parseMetadataTable(text, "meta.tsv", "gc"), ["a", "b"]),
    /meta\.tsv', line 3: the value of genome 'b' in column 'gc' is 'high', not a number/,
  );
  const t = parseMetadataTable(text, "meta.tsv", "host");
  refuses(() => tipClasses(t, ["a"]), /1 taxon\/taxa not in the tree: 'b' \(line 3\)/);
  refuses(() => tipClasses(t, ["a", "b", "c", "d"]), /no row for 2 genome\(s\).*'c', 'd'/);
  refuses(
    () => parseMetadataTable("genome\thost\na\tNA\n", "m.tsv", "host"),
    /line 2: 'a' has no value in column 'host'/,
  );
  refuses(
    () => parseMetadataTable("genome\thost\na\tx\na\ty\n", "m.tsv", "host"),
    /line 3: 'a' is listed a second time \(first on line 2\)/,
  );
  refuses(
    () => parseMetadataTable("genome\thost\na\tx\ty\n", "m.tsv", "host"),
    /line 2: 3 fields, but the header has 2/,
  );
  refuses(() => parseMetadataTable("\n# x\n", "m.tsv", "host"), /'m\.tsv' is empty/);
});
