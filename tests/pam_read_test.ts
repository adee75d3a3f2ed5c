import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import {
  type PamReadOptions,
  type ParsedPam,
  parsePam,
  parsePamBytes,
  readPam,
} from "../lib/pam/read.ts";
import { MISSING } from "../lib/pam/matrix.ts";

const DATA = new URL("./data/inputs/", import.meta.url);
const path = (name: string) => new URL(name, DATA).pathname;

const ISOLATES = ["isolate_1", "isolate_2", "isolate_3", "isolate_4"];
const FAMILIES = ["group_1", "dnaA", "group_3", "tetM", "group_5"];
/** The matrix every fixture encodes, written out by hand (families x isolates). */
const EXPECTED = [
  [1, 1, 1, 1],
  [1, 1, 1, 0],
  [0, 1, 0, 1],
  [1, 0, 0, 0],
  [0, 1, 1, 1],
];

/** The cells of a parsed matrix as nested arrays, families x taxa. */
function grid(pam: ParsedPam): number[][] {
  const nt = pam.taxa.length;
  return pam.families.map((_, f) => [...pam.states.subarray(f * nt, (f + 1) * nt)]);
}

function assertPamError(
  text: string,
  source: string,
  options: PamReadOptions,
  fragments: string[],
): void {
  assert.throws(
    () => parsePam(text, source, options),
    (e: unknown) => {
      assert.ok(e instanceof GenecontentError, `expected GenecontentError, got ${e}`);
      assert.ok(e.message.includes(source), `message lacks the file: ${e.message}`);
      for (const f of fragments) {
        assert.ok(e.message.includes(f), `message lacks '${f}': ${e.message}`);
      }
      return true;
    },
  );
}

Deno.test("pam: Roary gene_presence_absence.csv with locus tags", async () => {
  const pam = await readPam(path("roary_gene_presence_absence.csv"));
  assert.equal(pam.format, "roary");
  assert.equal(pam.orientation, "families-as-rows");
  assert.deepEqual(pam.taxa, ISOLATES);
  assert.deepEqual(pam.families, FAMILIES);
  assert.deepEqual(grid(pam), EXPECTED);
});

Deno.test("pam: Panaroo gene_presence_absence.csv with ;-separated tags", async () => {
  const pam = await readPam(path("panaroo_gene_presence_absence.csv"));
  assert.equal(pam.format, "panaroo");
  assert.deepEqual(pam.taxa, ISOLATES);
  assert.deepEqual(pam.families, FAMILIES);
  assert.deepEqual(grid(pam), EXPECTED);
});

Deno.test("pam: PPanGGOLiN matrix.csv with gene counts", async () => {
  const pam = await readPam(path("ppanggolin_matrix.csv"));
  assert.equal(pam.format, "ppanggolin");
  assert.deepEqual(pam.taxa, ISOLATES);
  assert.deepEqual(pam.families, FAMILIES);
  assert.deepEqual(grid(pam), EXPECTED);
});

Deno.test("pam: Rtab (Roary, Panaroo, PPanGGOLiN)", async () => {
  const pam = await readPam(path("gene_presence_absence.Rtab"), { taxa: ISOLATES });
  assert.equal(pam.format, "rtab");
  assert.deepEqual(pam.taxa, ISOLATES);
  assert.deepEqual(pam.families, FAMILIES);
  assert.deepEqual(grid(pam), EXPECTED);
});

Deno.test("pam: transposed TSV with CRLF, auto and explicit orientation", async () => {
  for (const orientation of ["auto", "families-as-columns"] as const) {
    const pam = await readPam(path("transposed_pam.tsv"), { orientation, taxa: ISOLATES });
    assert.equal(pam.format, "table");
    assert.equal(pam.orientation, "families-as-columns");
    assert.deepEqual(pam.taxa, ISOLATES);
    assert.deepEqual(pam.families, FAMILIES);
    assert.deepEqual(grid(pam), EXPECTED);
  }
});

Deno.test("pam: plain CSV families as rows, auto orientation from the tree's names", () => {
  const text = "family,a,b,c\nf1,1,0,1\nf2,0,0,1\n";
  const pam = parsePam(text, "p.csv", { taxa: ["c", "a", "b", "z"] });
  assert.equal(pam.orientation, "families-as-rows");
  assert.deepEqual(pam.taxa, ["a", "b", "c"]);
  assert.deepEqual(grid(pam), [[1, 0, 1], [0, 0, 1]]);
});

Deno.test("pam: missing cells (?, NA, empty) in 0/1 tables", () => {
  const text = "fam\ta\tb\tc\td\nf1\t?\tNA\t\t1\nf2\t0\t1\t?\t\n";
  const pam = parsePam(text, "p.tsv", { orientation: "families-as-rows" });
  assert.deepEqual(grid(pam), [[MISSING, MISSING, MISSING, 1], [0, 1, MISSING, MISSING]]);
});

Deno.test("pam: CSV quoting with embedded commas, quotes and newlines", () => {
  const text = '"","a, the first","b ""B"""\r\n"fam,1","1",0\n"fam\n2",0,"1"\n\n';
  const pam = parsePam(text, "q.csv", { orientation: "families-as-rows" });
  assert.deepEqual(pam.taxa, ["a, the first", 'b "B"']);
  assert.deepEqual(pam.families, ["fam,1", "fam\n2"]);
  assert.deepEqual(grid(pam), [[1, 0], [0, 1]]);
});

Deno.test("pam: R write.table header without a corner cell, and a UTF-8 BOM", () => {
  const text = '\ufeff"a"\t"b"\n"f1"\t1\t0\n"f2"\t1\t1\n';
  const pam = parsePam(text, "r.tsv", { orientation: "families-as-rows" });
  assert.deepEqual(pam.taxa, ["a", "b"]);
  assert.deepEqual(grid(pam), [[1, 0], [1, 1]]);
});

Deno.test("pam: names are kept exactly (spaces, underscores, non-ASCII)", () => {
  const text = "x\tE coli_1 \tSalmonella_é\nf\t1\t0\n";
  const pam = parsePam(text, "n.tsv", { orientation: "families-as-rows" });
  assert.deepEqual(pam.taxa, ["E coli_1 ", "Salmonella_é"]);
});

Deno.test("pam: Roary and Panaroo files with 1/0 cells instead of locus tags", () => {
  const roaryHeader = '"Gene","Non-unique Gene name","Annotation","No. isolates",' +
    '"No. sequences","Avg sequences per isolate","Genome Fragment","Order within Fragment",' +
    '"Accessory Fragment","Accessory Order with Fragment","QC","Min group size nuc",' +
    '"Max group size nuc","Avg group size nuc","a","b","c"\n';
  const meta = '"","ann","2","2","1","1","1","","","","1","1","1"';
  const roary = parsePam(
    roaryHeader + `"g1",${meta},1,0,1\n"g2",${meta},"0","1",""\n`,
    "r.csv",
  );
  assert.equal(roary.format, "roary");
  assert.deepEqual(grid(roary), [[1, 0, 1], [0, 1, 0]]);
  const panaroo = parsePam(
    "Gene,Non-unique Gene name,Annotation,a,b\ng1,,x,1,0\ng2,,y,0,1\n",
    "p.csv",
  );
  assert.equal(panaroo.format, "panaroo");
  assert.deepEqual(grid(panaroo), [[1, 0], [0, 1]]);
});

Deno.test("pam: --binarize turns counts into presence", () => {
  const text = "fam\ta\tb\tc\td\nf1\t0\t2\t17\t?\nf2\t00\t1\t\t3\n";
  const pam = parsePam(text, "c.tsv", { orientation: "families-as-rows", binarize: true });
  assert.deepEqual(grid(pam), [[0, 1, 1, MISSING], [0, 1, MISSING, 1]]);
});

Deno.test("pam: bad cells name family, taxon, file, line and --binarize", () => {
  const opts = { orientation: "families-as-rows" } as const;
  for (const bad of ["2", "x", "0.5", "-1", "1.0"]) {
    assertPamError(`fam\ta\tb\nf1\t1\t0\nf2\t0\t${bad}\n`, "bad.tsv", opts, [
      "line 3",
      "family 'f2'",
      "taxon 'b'",
      `'${bad}'`,
      "--binarize",
    ]);
  }
  // Transposed: the row is a taxon and the column a family.
  assertPamError("genome,f1,f2\ng1,1,0\ng2,1,yes\n", "t.csv", {
    orientation: "auto",
    taxa: ["g1", "g2"],
  }, ["line 3", "column 3", "family 'f2'", "taxon 'g2'", "'yes'"]);
  // With --binarize, non-integers are still errors.
  assertPamError("fam\ta\nf1\t0.5\n", "b.tsv", { ...opts, binarize: true }, [
    "family 'f1'",
    "taxon 'a'",
    "non-negative integer",
  ]);
});

Deno.test("pam: duplicate names, ragged rows, empty files and header-only files", () => {
  const rows = { orientation: "families-as-rows" } as const;
  assertPamError("fam\ta\tb\nf1\t1\t0\nf1\t0\t1\n", "d.tsv", rows, [
    "family name 'f1' appears twice",
    "line 2",
    "line 3",
  ]);
  assertPamError("fam\ta\ta\nf1\t1\t0\n", "d.tsv", rows, [
    "taxon name 'a' appears twice",
    "header column 2",
    "header column 3",
  ]);
  assertPamError("fam\ta\tb\nf1\t1\nf2\t1\t1\n", "r.tsv", rows, ["line 2", "'f1'", "2 fields"]);
  assertPamError("fam\ta\tb\nf1\t1\t1\nf2\t1\t1\t0\n", "r.tsv", rows, [
    "line 3",
    "'f2'",
    "4 fields",
  ]);
  // A header one field short (R style) fixes the row length from the first row on.
  assertPamError("a\tb\nf1\t1\t1\nf2\t1\n", "r.tsv", rows, ["line 3", "'f2'", "2 fields"]);
  assertPamError("", "e.tsv", rows, ["is empty"]);
  assertPamError("\n\n", "e.tsv", rows, ["is empty"]);
  assertPamError("fam\ta\tb\n", "h.tsv", rows, ["no rows"]);
  assertPamError("fam\ta\tb\n\tf\t1\n", "h.tsv", rows, ["line 2", "empty family name"]);
  assertPamError("just_one_column\nx\n", "o.tsv", rows, ["no tab or comma"]);
  assertPamError('fam,a\n"f1,1\n', "q.csv", rows, ["never closed"]);
  assertPamError(
    "Gene,Non-unique Gene name,Annotation,a\ng1,,x,t1\ng1,,y,t2\n",
    "p.csv",
    {},
    ["family name 'g1' appears twice"],
  );
});

Deno.test("pam: orientation must be decidable, never from keywords", () => {
  // Neither side matches the tree.
  assertPamError("genome\ta\tb\nf1\t1\t0\n", "o.tsv", { taxa: ["x", "y"] }, [
    "cannot tell",
    "--orientation",
  ]);
  // Both sides match.
  assertPamError("x\ta\tb\nc\t1\t0\n", "o.tsv", { taxa: ["a", "c"] }, [
    "cannot tell",
    "1 header names and 1 first-column names",
    "--orientation",
  ]);
  // No tree names at all.
  assertPamError("genome\ta\tb\nf1\t1\t0\n", "o.tsv", {}, ["--orientation"]);
  // Header keywords like "Gene" do not decide a plain table's orientation.
  const pam = parsePam("Gene\tf1\tf2\ng1\t1\t0\ng2\t0\t1\n", "k.tsv", { taxa: ["g1", "g2"] });
  assert.equal(pam.orientation, "families-as-columns");
  // Tool layouts are always families as rows.
  assertPamError(
    "Gene,Non-unique Gene name,Annotation,a\ng1,,x,t1\n",
    "p.csv",
    { orientation: "families-as-columns" },
    ["always has gene families as rows"],
  );
});

Deno.test("pam: a missing file is a GenecontentError naming it", async () => {
  await assert.rejects(
    () => readPam(path("does_not_exist.tsv")),
    (e: unknown) => e instanceof GenecontentError && e.message.includes("does_not_exist.tsv"),
  );
});

Deno.test("pam: a large random 0/1 TSV reads back cell for cell in both orientations", () => {
  // Random cells written with independent string code; compared one by one.
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const nf = 300, nt = 70;
  const taxa = Array.from({ length: nt }, (_, i) => `g${i}`);
  const fams = Array.from({ length: nf }, (_, i) => `fam${i}`);
  const vals = ["0", "1", "?", "NA", ""];
  const cell: string[][] = fams.map(() =>
    taxa.map(() => vals[rand() < 0.9 ? Math.floor(rand() * 2) : 2 + Math.floor(rand() * 3)])
  );
  const code = (v: string) => (v === "0" ? 0 : v === "1" ? 1 : MISSING);
  const rowsText = [
    "family\t" + taxa.join("\t"),
    ...fams.map((f, i) => f + "\t" + cell[i].join("\t")),
  ]
    .join("\n");
  const colsText = [
    "genome\t" + fams.join("\t"),
    ...taxa.map((t, j) => t + "\t" + fams.map((_, i) => cell[i][j]).join("\t")),
  ].join("\r\n") + "\r\n";
  for (const text of [rowsText, colsText]) {
    const pam = parsePam(text, "big.tsv", { taxa });
    assert.deepEqual(pam.families, fams);
    assert.deepEqual(pam.taxa, taxa);
    for (let i = 0; i < nf; i++) {
      for (let j = 0; j < nt; j++) assert.equal(pam.states[i * nt + j], code(cell[i][j]));
    }
  }
});

Deno.test('pam: PPanGGOLiN matrix.csv written with gene names (\'"g1" "g2"\' cells)', () => {
  const header = [
    "Gene",
    "Non-unique Gene name",
    "Annotation",
    "No. isolates",
    "No. sequences",
    "Avg sequences per isolate",
    "Accessory Fragment",
    "Genome Fragment",
    "Order within Fragment",
    "Accessory Order with Fragment",
    "QC",
    "Min group size nuc",
    "Max group size nuc",
    "Avg group size nuc",
    "a",
    "b",
    "c",
  ].map((x) => `"${x}"`).join(",");
  const meta = '"shell","p","2","3","1.5","NA","NA","","","","10","12","11.0"';
  const text = `${header}\n"fam1",${meta},"a_1" "a_7","","b_3"\n"fam2",${meta},"",` +
    `"b_9","c_1" "c_2"\n`;
  const pam = parsePam(text, "matrix.csv");
  assert.equal(pam.format, "ppanggolin");
  assert.deepEqual(grid(pam), [[1, 0, 1], [0, 1, 1]]);
});

Deno.test("pam: rows ending with a trailing tab are not read as an R header (fixture)", async () => {
  const pam = await readPam(path("spreadsheet_trailing_tab.tsv"), { taxa: ISOLATES });
  assert.equal(pam.orientation, "families-as-rows");
  assert.deepEqual(pam.taxa, ISOLATES);
  assert.deepEqual(pam.families, FAMILIES);
  assert.deepEqual(grid(pam), EXPECTED);
  assert.equal(pam.notices.length, 1);
  assert.ok(pam.notices[0].includes("trailing tab"), pam.notices[0]);
});

Deno.test("pam: header and rows decide corner cell and trailing delimiters together", () => {
  const rows = { orientation: "families-as-rows" } as const;
  // Trailing comma on the rows only; the tree's names show the header names taxa after a corner.
  const csv = parsePam("family,a,b\nf1,1,0,\nf2,0,1,\n", "t.csv", { taxa: ["a", "b"] });
  assert.deepEqual(csv.taxa, ["a", "b"]);
  assert.deepEqual(grid(csv), [[1, 0], [0, 1]]);
  // An empty corner cell is a corner whatever the tree says.
  assert.deepEqual(grid(parsePam("\ta\tb\nf1\t1\t0\t\n", "t.tsv", rows)), [[1, 0]]);
  // Header and rows both end with a tab.
  const both = parsePam("fam\ta\tb\t\nf1\t1\t0\t\nf2\t?\t1\t\n", "t.tsv", rows);
  assert.deepEqual(both.taxa, ["a", "b"]);
  assert.deepEqual(grid(both), [[1, 0], [MISSING, 1]]);
  // R header (no corner), rows with a trailing tab: two extra fields.
  const r = parsePam("a\tb\nf1\t1\t0\t\nf2\t0\t1\t\n", "r.tsv", rows);
  assert.deepEqual(r.taxa, ["a", "b"]);
  assert.deepEqual(grid(r), [[1, 0], [0, 1]]);
  // R header whose last column is empty in every row: the tree names the first header field.
  const rEmpty = parsePam("a\tb\nf1\t1\t\nf2\t0\t\n", "r.tsv", { ...rows, taxa: ["a", "b"] });
  assert.deepEqual(rEmpty.taxa, ["a", "b"]);
  assert.deepEqual(grid(rEmpty), [[1, MISSING], [0, MISSING]]);
  // R header where the last column is empty only in some rows.
  assert.deepEqual(grid(parsePam("a\tb\nf1\t1\t\nf2\t0\t1\n", "r.tsv", rows)), [
    [1, MISSING],
    [0, 1],
  ]);
  // Neither the data nor the tree decides: refused, saying what was seen.
  assertPamError("fam\ta\tb\nf1\t1\t0\t\nf2\t0\t1\t\n", "amb.tsv", rows, [
    "cannot tell how the columns line up",
    "the header (line 1) has 3 fields",
    "'fam'",
    "each of the first 2 rows has 4 fields ending with an empty one",
    "trailing tab",
  ]);
  // A later row with a value where the first rows had the trailing delimiter.
  const many = Array.from({ length: 210 }, (_, i) => `f${i}\t1\t0\t\n`).join("");
  assertPamError(`Gene\ta\tb\n${many}g\t1\t0\t1\n`, "late.tsv", { taxa: ["a", "b"] }, [
    "line 212",
    "row 'g' has 4 fields",
    "trailing delimiter",
  ]);
  // Roary CSV with a trailing comma on the data rows.
  const roary = parsePam(
    "Gene,Non-unique Gene name,Annotation,a,b\ng1,,x,t1,,\ng2,,y,,t2,\n",
    "roary.csv",
  );
  assert.deepEqual(grid(roary), [[1, 0], [0, 1]]);
});

const ROARY_META = '"","ann","2","2","1","1","1","","","","1","1","1"';

Deno.test("pam: Roary metadata columns are known by name, in any case, number and order", () => {
  const cases: { header: string[]; meta: string }[] = [
    // Roary 3.x, 14 columns with lower-case "fragment" as some versions write it.
    {
      header: [
        "Gene",
        "Non-unique Gene name",
        "Annotation",
        "No. isolates",
        "No. sequences",
        "Avg sequences per isolate",
        "Genome fragment",
        "Order within fragment",
        "Accessory Fragment",
        "Accessory Order with Fragment",
        "QC",
        "Min group size nuc",
        "Max group size nuc",
        "Avg group size nuc",
      ],
      meta: ROARY_META,
    },
    // Older Roary: 11 columns.
    {
      header: [
        "Gene",
        "Non-unique Gene name",
        "Annotation",
        "No. isolates",
        "No. sequences",
        "Avg sequences per isolate",
        "Genome Fragment",
        "Order within Fragment",
        "Accessory Fragment",
        "Accessory Order with Fragment",
        "QC",
      ],
      meta: '"","ann","2","2","1","1","1","","",""',
    },
    // All lower case, a subset in another order.
    {
      header: ["gene", "non-unique gene name", "qc", "annotation", "no. isolates"],
      meta: '"","","ann","2"',
    },
  ];
  for (const { header, meta } of cases) {
    const text = [...header, "a", "b", "c"].map((x) => `"${x}"`).join(",") + "\n" +
      `"g1",${meta},"a_1","","c_1"\n"g2",${meta},"","b_2",""\n`;
    const pam = parsePam(text, "roary.csv");
    assert.equal(pam.format, "roary", header.join("|"));
    assert.deepEqual(pam.taxa, ["a", "b", "c"], header.join("|"));
    assert.deepEqual(grid(pam), [[1, 0, 1], [0, 1, 0]], header.join("|"));
  }
  // An unknown column among the metadata columns is refused by name.
  assertPamError(
    "Gene,Non-unique Gene name,Annotation,Inference,No. isolates,a\ng,,x,y,1,t\n",
    "odd.csv",
    {},
    ["header column 4", "'Inference'", "not one of them"],
  );
  assertPamError(
    "Gene,Non-unique Gene name,QC,qc,a\ng,,,,t\n",
    "dup.csv",
    {},
    ["metadata column 'qc' appears twice", "header columns 3 and 4"],
  );
});

Deno.test("pam: not UTF-8, UTF-16 and binary bytes are refused naming the file and offset", () => {
  const latin1 = new Uint8Array([
    ...new TextEncoder().encode("fam\ta\tb\nf1\t1\t0\nf"),
    0xe9,
    0x0a,
  ]);
  for (
    const [bytes, fragments] of [
      [latin1, [
        "not UTF-8",
        `byte 0xE9 at byte offset ${latin1.indexOf(0xe9)}`,
        "(line 3)",
        "iconv",
      ]],
      [new Uint8Array([0xff, 0xfe, 0x66, 0, 0x09, 0, 0x61, 0]), ["UTF-16", "FF FE"]],
      [new Uint8Array([0x66, 0, 0x09, 0, 0x61, 0, 0x0a, 0]), ["UTF-16", "little-endian"]],
      [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), [
        "not a text file",
      ]],
    ] as const
  ) {
    assert.throws(
      () => parsePamBytes(bytes, "enc.tsv", {}),
      (e: unknown) => {
        assert.ok(e instanceof GenecontentError);
        assert.ok(e.message.startsWith("PAM file 'enc.tsv'"), e.message);
        for (const f of fragments) assert.ok(e.message.includes(f), `${f}: ${e.message}`);
        assert.ok(!e.message.includes("\ufffd"), e.message);
        return true;
      },
    );
  }
});

Deno.test("pam: a 1 MB name is cut in messages, with its length", () => {
  const long = "F".repeat(1_000_000);
  assertPamError(`fam\ta\n${long}\t1\n${long}\t0\n`, "long.tsv", {
    orientation: "families-as-rows",
  }, ["appears twice", "…' (1,000,000 characters)"]);
  try {
    parsePam(`fam\ta\n${long}\t1\n${long}\t0\n`, "long.tsv", { orientation: "families-as-rows" });
  } catch (e) {
    assert.ok((e as Error).message.length < 400, `${(e as Error).message.length} characters`);
  }
});
