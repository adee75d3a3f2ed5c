import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { alignPamToTree } from "../lib/pam/align.ts";
import { compressPatterns, compressPatternsByColumn } from "../lib/pam/patterns.ts";
import { type PamReadOptions, parsePamBytes, readPamWithDigest } from "../lib/pam/read.ts";

const enc = new TextEncoder();

/** A deterministic pseudo-random generator (LCG), so that failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

async function sha256Reference(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Independent reference for merged patterns, from the cell strings: each family's states in
 * the given tip order (looked up by taxon name), merged by string key in order of first
 * appearance.
 */
function referencePatterns(
  taxa: string[],
  cells: string[][],
  tipOrder: readonly string[],
): { states: number[]; weights: number[]; familyPattern: number[] } {
  const code = (v: string) => (v === "0" ? 0 : v === "1" ? 1 : 2);
  const col = new Map(taxa.map((t, i) => [t, i]));
  const index = new Map<string, number>();
  const states: number[] = [];
  const weights: number[] = [];
  const familyPattern: number[] = [];
  for (const row of cells) {
    const pattern = tipOrder.map((tip) => code(row[col.get(tip)!]));
    const key = pattern.join("");
    let p = index.get(key);
    if (p === undefined) {
      p = weights.length;
      index.set(key, p);
      weights.push(0);
      states.push(...pattern);
    }
    weights[p]++;
    familyPattern.push(p);
  }
  return { states, weights, familyPattern };
}

/** A random PAM (families as rows) with many repeated families and some missing cells. */
function randomPam(taxa: string[], nFamilies: number, seed: number): string[][] {
  const rand = lcg(seed);
  const pool: string[][] = [];
  const rows: string[][] = [];
  for (let f = 0; f < nFamilies; f++) {
    if (pool.length > 0 && rand() < 0.4) {
      rows.push(pool[Math.floor(rand() * pool.length)]);
      continue;
    }
    const row = taxa.map(() => {
      const u = rand();
      return u < 0.05 ? "?" : u < 0.5 ? "1" : "0";
    });
    pool.push(row);
    rows.push(row);
  }
  return rows;
}

Deno.test("loadDataset: shuffled columns and --prune-to-shared match an independent reference", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    // Tree tips t0..t6; the PAM lacks t6 and has an extra taxon x, columns shuffled.
    const treeText = "(((t0:1,t1:1):1,(t2:1,t3:2):1):1,((t4:1,t5:1):1,t6:3):1);";
    const tree = parseNewick(treeText, "t.nwk");
    const taxa = ["t3", "x", "t0", "t5", "t1", "t4", "t2"];
    const cells = randomPam(taxa, 400, 7);
    const text = "family\t" + taxa.join("\t") + "\n" +
      cells.map((r, f) => `fam${f}\t${r.join("\t")}`).join("\n") + "\n";
    const bytes = enc.encode(text);
    await Deno.writeTextFile(`${dir}/tree.nwk`, treeText);
    await Deno.writeFile(`${dir}/pam.tsv`, bytes);

    const d = await loadDataset(`${dir}/tree.nwk`, `${dir}/pam.tsv`, { pruneToShared: true });
    assert.deepEqual(d.droppedTips, ["t6"]);
    assert.deepEqual(d.droppedTaxa, ["x"]);
    assert.deepEqual(d.tree.tipNames, ["t0", "t1", "t2", "t3", "t4", "t5"]);
    const ref = referencePatterns(taxa, cells, d.tree.tipNames);
    assert.equal(d.patterns.nTips, 6);
    assert.equal(d.patterns.nPatterns, ref.weights.length);
    assert.ok(d.patterns.nPatterns < 400, "the test needs repeated families");
    assert.deepEqual([...d.patterns.states], ref.states);
    assert.deepEqual([...d.patterns.weights], ref.weights);
    assert.deepEqual([...d.patterns.familyPattern], ref.familyPattern);
    assert.deepEqual(d.patterns.familyNames, cells.map((_, f) => `fam${f}`));
    assert.deepEqual(d.pam.taxa, taxa);

    // The straightforward path (parse, reorder, merge) agrees too.
    const parsed = parsePamBytes(bytes, "pam.tsv", { taxa: tree.tipNames });
    const aligned = alignPamToTree(parsed, tree, { pruneToShared: true });
    const straight = compressPatterns(aligned.rows, 400, aligned.tree.nTips, parsed.families);
    assert.deepEqual(d.patterns.states, straight.states);
    assert.deepEqual(d.patterns.weights, straight.weights);
    assert.deepEqual(d.patterns.familyPattern, straight.familyPattern);

    // Provenance: a true SHA-256 of the file's bytes (WebCrypto as the reference).
    assert.equal(d.inputs[1].sha256, await sha256Reference(bytes));
    assert.equal(d.inputs[1].bytes, bytes.length);
    assert.equal(d.inputs[0].sha256, await sha256Reference(enc.encode(treeText)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadDataset: families as columns and tree-ordered files give the reference patterns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    const treeText = "((a:1,b:1):1,(c:1,(d:1,e:1):1):1);";
    await Deno.writeTextFile(`${dir}/tree.nwk`, treeText);
    const tips = ["a", "b", "c", "d", "e"];
    const cells = randomPam(tips, 120, 11);
    // Families as columns, CRLF, genomes in tree order.
    const transposed = "genome," + cells.map((_, f) => `f${f}`).join(",") + "\r\n" +
      tips.map((t, k) => `${t},${cells.map((r) => r[k]).join(",")}`).join("\r\n") + "\r\n";
    await Deno.writeTextFile(`${dir}/cols.csv`, transposed);
    const d = await loadDataset(`${dir}/tree.nwk`, `${dir}/cols.csv`);
    assert.equal(d.pam.orientation, "families-as-columns");
    const ref = referencePatterns(tips, cells, tips);
    assert.deepEqual([...d.patterns.states], ref.states);
    assert.deepEqual([...d.patterns.weights], ref.weights);
    assert.deepEqual([...d.patterns.familyPattern], ref.familyPattern);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadDataset: unreadable PAM files keep their messages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    await Deno.writeTextFile(`${dir}/tree.nwk`, "(a:1,b:1);");
    const check = async (pam: string, fragment: string) => {
      await assert.rejects(
        () => loadDataset(`${dir}/tree.nwk`, pam),
        (e: unknown) => {
          assert.ok(e instanceof GenecontentError, `expected GenecontentError, got ${e}`);
          assert.equal(e.message, `Cannot read PAM file '${pam}': ${fragment}`);
          return true;
        },
      );
    };
    await check(`${dir}/nope.tsv`, "no such file.");
    await check(dir, "it is a folder.");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Texts covering the parser's line handling; each must parse the same in any chunking. */
const STREAM_CASES: { name: string; text: string; options: PamReadOptions }[] = [
  {
    name: "CRLF, blank lines and a BOM",
    text: "\ufeff\r\n\r\nfam\ta\tb\tc\r\nf1\t1\t0\t?\r\n\r\nf2\t0\tNA\t1\r\n\r\n",
    options: { orientation: "families-as-rows" },
  },
  {
    name: "quoted line breaks in names and cells",
    text: 'corner,"a\n1",b\n"fam\n1","1",0\n"f\n2",0,"1"\nf3,1,1',
    options: { orientation: "families-as-rows", binarize: true },
  },
  {
    name: "R header without a corner",
    text: "a\tb\tc\nf1\t1\t0\t1\nf2\t0\t0\t1\nf3\t1\t1\t1\n",
    options: { orientation: "families-as-rows" },
  },
  {
    name: "families as columns, auto",
    text: "genome,f1,f2,f3\ng1,1,0,1\ng2,0,0,1\ng3,1,?,1\n",
    options: { taxa: ["g1", "g2", "g3"] },
  },
  {
    name: "Roary with locus tags",
    text: '"Gene","Non-unique Gene name","Annotation","No. isolates","No. sequences",' +
      '"Avg sequences per isolate","Genome Fragment","Order within Fragment",' +
      '"Accessory Fragment","Accessory Order with Fragment","QC","Min group size nuc",' +
      '"Max group size nuc","Avg group size nuc","i1","i2"\n' +
      '"g1","","x","1","1","1","1","1","","","","9","9","9","t_1",""\n' +
      '"g2","","y ""z""","2","2","1","1","2","","","","9","9","9","t_2","u_2"\n',
    options: {},
  },
];

/** Texts with errors: the message (file, line, column) must not depend on the chunking. */
const STREAM_ERRORS: { text: string; options: PamReadOptions }[] = [
  { text: "fam\ta\tb\nf1\t1\t0\nf2\t1\t5\n", options: { orientation: "families-as-rows" } },
  { text: "fam\ta\tb\nf1\t1\t0\nf2\t1\n", options: { orientation: "families-as-rows" } },
  { text: 'fam,a\n"f\n1",1\n"f\n2",x\n', options: { orientation: "families-as-rows" } },
  { text: 'fam,a\nf1,1\n"f2,1\n', options: { orientation: "families-as-rows" } },
  { text: '"fam,a\n', options: { orientation: "families-as-rows" } },
  { text: "\n\n", options: { orientation: "families-as-rows" } },
  { text: "fam\ta\tb\n\n", options: { orientation: "families-as-rows" } },
  { text: "fam\ta\ta\nf1\t1\t0\n", options: { orientation: "families-as-rows" } },
];

async function messageOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof GenecontentError, `expected GenecontentError, got ${e}`);
    return e.message;
  }
  throw new Error("expected an error");
}

Deno.test("readPamWithDigest: any chunk size parses like parsePamBytes, with the SHA-256", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    for (const c of STREAM_CASES) {
      const bytes = enc.encode(c.text);
      const file = `${dir}/pam.txt`;
      await Deno.writeFile(file, bytes);
      const whole = parsePamBytes(bytes, file, c.options);
      for (const chunkBytes of [1, 2, 3, 5, 8, 13, 64, 1 << 20]) {
        const got = await readPamWithDigest(file, c.options, { chunkBytes });
        assert.deepEqual(got.pam, whole, `${c.name}, chunks of ${chunkBytes}`);
        assert.equal(got.sha256, await sha256Reference(bytes));
        assert.equal(got.bytes, bytes.length);
      }
    }
    for (const c of STREAM_ERRORS) {
      const file = `${dir}/bad.tsv`;
      await Deno.writeTextFile(file, c.text);
      const expected = await messageOf(() => parsePamBytes(enc.encode(c.text), file, c.options));
      for (const chunkBytes of [1, 2, 3, 7, 1 << 20]) {
        const got = await messageOf(() => readPamWithDigest(file, c.options, { chunkBytes }));
        assert.equal(got, expected, `chunks of ${chunkBytes}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compressPatternsByColumn: in place or not, equals a name-by-name reference", () => {
  const rand = lcg(3);
  for (const [nTaxa, nTips, nFamilies] of [[9, 9, 300], [13, 8, 500], [40, 37, 200], [3, 2, 50]]) {
    const taxa = Array.from({ length: nTaxa }, (_, i) => `x${i}`);
    const cells = randomPam(taxa, nFamilies, nTaxa * 31 + nTips);
    // A random subset of the columns, in random order, as the tips.
    const shuffled = [...taxa].sort(() => rand() - 0.5).slice(0, nTips);
    const columns = Int32Array.from(shuffled, (t) => taxa.indexOf(t));
    const ref = referencePatterns(taxa, cells, shuffled);
    const flat = Uint8Array.from(cells.flat(), (v) => (v === "0" ? 0 : v === "1" ? 1 : 2));
    const names = cells.map((_, f) => `f${f}`);
    for (const inPlace of [false, true]) {
      const input = flat.slice();
      const p = compressPatternsByColumn(input, nFamilies, nTaxa, columns, names, { inPlace });
      assert.equal(p.nTips, nTips);
      assert.equal(p.nPatterns, ref.weights.length);
      assert.deepEqual([...p.states], ref.states, `in place: ${inPlace}`);
      assert.deepEqual([...p.weights], ref.weights);
      assert.deepEqual([...p.familyPattern], ref.familyPattern);
      assert.deepEqual(p.familyNames, names);
      if (!inPlace) assert.deepEqual(input, flat, "the input is left alone");
    }
  }
});

Deno.test("parsePamBytes: multi-character cells next to 0/1 runs are read one by one", async () => {
  // Expected values written by hand: with --binarize, "10" and "01" are counts (present),
  // "00" is a zero count (absent).
  const text = "fam\ta\tb\tc\td\te\tf\nf1\t1\t0\t10\t0\t1\t1\nf2\t0\t1\t1\t00\t01\t0\n";
  const pam = parsePamBytes(enc.encode(text), "m.tsv", {
    orientation: "families-as-rows",
    binarize: true,
  });
  assert.deepEqual([...pam.states], [1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0]);
  const bad = "fam\ta\tb\tc\td\te\nf1\t0\t1\t1\t1x\t1\n";
  const message = await messageOf(() =>
    parsePamBytes(enc.encode(bad), "m.tsv", { orientation: "families-as-rows" })
  );
  assert.ok(message.includes("line 2, column 5: family 'f1', taxon 'd' has the value '1x'"));
});

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return await new Response(
    new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  ).bytes();
}

Deno.test("loadDataset: a trailing tab on every row with --prune-to-shared gives the clean file's patterns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    const treeText = "(((t0:1,t1:1):1,(t2:1,t3:2):1):1,((t4:1,t5:1):1,t6:3):1);";
    await Deno.writeTextFile(`${dir}/tree.nwk`, treeText);
    const taxa = ["t3", "x", "t0", "t5", "t1", "t4", "t2"];
    const cells = randomPam(taxa, 300, 5);
    const head = "Gene\t" + taxa.join("\t") + "\n";
    const clean = head + cells.map((r, f) => `fam${f}\t${r.join("\t")}\n`).join("");
    const trailing = head + cells.map((r, f) => `fam${f}\t${r.join("\t")}\t\n`).join("");
    await Deno.writeTextFile(`${dir}/clean.tsv`, clean);
    await Deno.writeTextFile(`${dir}/trailing.tsv`, trailing);
    const options = { pruneToShared: true };
    const a = await loadDataset(`${dir}/tree.nwk`, `${dir}/clean.tsv`, options);
    const b = await loadDataset(`${dir}/tree.nwk`, `${dir}/trailing.tsv`, options);
    const ref = referencePatterns(taxa, cells, a.tree.tipNames);
    assert.deepEqual([...b.patterns.states], ref.states);
    assert.deepEqual([...b.patterns.weights], ref.weights);
    assert.deepEqual(b.droppedTaxa, ["x"]);
    assert.deepEqual(b.droppedTips, ["t6"]);
    assert.deepEqual(b.tree.tipNames, a.tree.tipNames);
    assert.deepEqual(a.notices, []);
    assert.equal(b.notices.length, 1);
    assert.ok(b.notices[0].includes("trailing tab"), b.notices[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadDataset: gzip-compressed PAM and tree read like the plain files, any chunk size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    const treeText = "((a:1,b:1):1,(c:1,(d:1,e:1):1):1);";
    const tips = ["a", "b", "c", "d", "e"];
    const cells = randomPam(tips, 500, 3);
    const text = "family,e,d,c,b,a\n" +
      cells.map((r, f) => `"fam ${f}",${[...r].reverse().join(",")}\n`).join("");
    const bytes = enc.encode(text);
    const packed = await gzip(bytes);
    await Deno.writeTextFile(`${dir}/tree.nwk`, treeText);
    await Deno.writeFile(`${dir}/tree.nwk.gz`, await gzip(enc.encode(treeText)));
    await Deno.writeFile(`${dir}/pam.csv`, bytes);
    await Deno.writeFile(`${dir}/pam.csv.gz`, packed);
    await Deno.writeFile(`${dir}/pam_no_suffix.csv`, packed); // the magic number decides
    const plain = await loadDataset(`${dir}/tree.nwk`, `${dir}/pam.csv`);
    for (const name of ["pam.csv.gz", "pam_no_suffix.csv"]) {
      const d = await loadDataset(`${dir}/tree.nwk.gz`, `${dir}/${name}`);
      assert.deepEqual(d.patterns, plain.patterns);
      assert.deepEqual(d.tree, plain.tree);
      // Provenance digests the file as stored (compressed).
      assert.equal(d.inputs[1].sha256, await sha256Reference(packed));
      assert.equal(d.inputs[1].bytes, packed.length);
    }
    const whole = parsePamBytes(bytes, `${dir}/pam.csv.gz`, { taxa: tips });
    for (const chunkBytes of [1, 7, 4096]) {
      const got = await readPamWithDigest(`${dir}/pam.csv.gz`, { taxa: tips }, { chunkBytes });
      assert.deepEqual(got.pam, whole, `chunks of ${chunkBytes}`);
    }
    // Corrupt and truncated gzip data.
    const bad = packed.slice(0, packed.length - 20);
    await Deno.writeFile(`${dir}/cut.csv.gz`, bad);
    const message = await messageOf(() => loadDataset(`${dir}/tree.nwk`, `${dir}/cut.csv.gz`));
    assert.ok(message.includes(`PAM file '${dir}/cut.csv.gz' is gzip-compressed`), message);
    assert.ok(message.includes("cannot be decompressed"), message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadDataset: binary, UTF-16 and Latin-1 files are refused; the line does not depend on chunks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    await Deno.writeTextFile(`${dir}/tree.nwk`, "(a:1,b:1);");
    const latin1 = new Uint8Array([
      ...enc.encode("fam\ta\tb\nf1\t1\t0\n\nf2\t0\t1\nf"),
      0xe9,
      ...enc.encode("\t1\t0\n"),
    ]);
    await Deno.writeFile(`${dir}/latin1.tsv`, latin1);
    const offset = latin1.indexOf(0xe9);
    const line = 1 + latin1.subarray(0, offset).filter((b) => b === 10).length;
    for (const chunkBytes of [1, 3, 5, 1 << 20]) {
      const m = await messageOf(() =>
        readPamWithDigest(`${dir}/latin1.tsv`, { taxa: ["a", "b"] }, { chunkBytes })
      );
      assert.equal(
        m,
        `PAM file '${dir}/latin1.tsv' is not UTF-8: byte 0xE9 at byte offset ${offset} ` +
          `(line ${line}) is not valid UTF-8; the file may be Latin-1 or Windows-1252 text: ` +
          "convert it, e.g. with 'iconv -f LATIN1 -t UTF-8 IN > OUT'.",
        `chunks of ${chunkBytes}`,
      );
    }
    // A UTF-8 sequence cut by the end of the file.
    await Deno.writeFile(`${dir}/cut.tsv`, new Uint8Array([...enc.encode("fam\ta\nf\t1\n"), 0xc3]));
    const cut = await messageOf(() => readPamWithDigest(`${dir}/cut.tsv`, {}, { chunkBytes: 4 }));
    assert.ok(cut.includes("byte 0xC3 at byte offset 10 (line 3)"), cut);
    // UTF-16 tree and PAM, with and without a byte-order mark.
    const utf16 = (s: string, bom: boolean) => {
      const out = new Uint8Array((bom ? 2 : 0) + 2 * s.length);
      if (bom) out.set([0xff, 0xfe]);
      for (let i = 0; i < s.length; i++) out[(bom ? 2 : 0) + 2 * i] = s.charCodeAt(i);
      return out;
    };
    for (const bom of [true, false]) {
      await Deno.writeFile(`${dir}/t16.nwk`, utf16("(a:1,b:1);", bom));
      await Deno.writeFile(`${dir}/p16.tsv`, utf16("fam\ta\tb\nf1\t1\t0\n", bom));
      const t = await messageOf(() => loadDataset(`${dir}/t16.nwk`, `${dir}/p16.tsv`));
      assert.ok(t.startsWith(`Tree file '${dir}/t16.nwk' is UTF-16 text`), t);
      const p = await messageOf(() => loadDataset(`${dir}/tree.nwk`, `${dir}/p16.tsv`));
      assert.ok(p.startsWith(`PAM file '${dir}/p16.tsv' is UTF-16 text`), p);
    }
    // A binary file (a zip archive) that is not gzip: no bytes in the message.
    const zip = new Uint8Array(300);
    zip.set([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0xe9, 0xff, 0x7f]);
    await Deno.writeFile(`${dir}/pam.zip`, zip);
    const z = await messageOf(() => loadDataset(`${dir}/tree.nwk`, `${dir}/pam.zip`));
    assert.ok(z.startsWith(`PAM file '${dir}/pam.zip' is not a text file`), z);
    assert.ok(z.length < 300 && !z.includes("\u0000") && !z.includes("\ufffd"), z);
    await Deno.writeFile(`${dir}/tree.zip`, zip);
    const zt = await messageOf(() => loadDataset(`${dir}/tree.zip`, `${dir}/latin1.tsv`));
    assert.ok(zt.startsWith(`Tree file '${dir}/tree.zip' is not a text file`), zt);
    // A UTF-8 byte-order mark is fine in both files.
    await Deno.writeTextFile(`${dir}/bom.nwk`, "\ufeff(a:1,b:1);");
    await Deno.writeTextFile(`${dir}/bom.tsv`, "\ufefffam\ta\tb\nf1\t1\t0\n");
    const ok = await loadDataset(`${dir}/bom.nwk`, `${dir}/bom.tsv`);
    assert.deepEqual(ok.tree.tipNames, ["a", "b"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadDataset: notices for genomes with every cell missing and for the tree picked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "load_dataset_test_" });
  try {
    await Deno.writeTextFile(
      `${dir}/trees.nwk`,
      "((a:1,b:1):1,(c:1,d:1):1);\n((a:2,b:1):1,(c:1,d:1):1);\n",
    );
    // b is missing everywhere; d is missing in one family only; x is dropped (not on the tree).
    await Deno.writeTextFile(
      `${dir}/pam.tsv`,
      "fam\ta\tb\tc\td\tx\nf1\t1\t?\t0\tNA\t?\nf2\t0\t\t1\t1\t?\nf3\t1\tNA\t1\t0\t?\n",
    );
    const many = await messageOf(() => loadDataset(`${dir}/trees.nwk`, `${dir}/pam.tsv`));
    assert.ok(many.includes("holds 2 trees") && many.includes("--tree-index"), many);
    const d = await loadDataset(`${dir}/trees.nwk`, `${dir}/pam.tsv`, {
      treeIndex: 2,
      pruneToShared: true,
    });
    assert.equal(d.tree.branchLength[0], 2);
    assert.deepEqual(d.treeFile, { format: "newick", treeIndex: 2, treeCount: 2, treeName: null });
    assert.equal(d.notices.length, 2, d.notices.join("\n"));
    assert.ok(d.notices[0].includes("holds 2 trees; read tree 2"), d.notices[0]);
    assert.ok(d.notices[1].includes("genome 'b' has every cell missing"), d.notices[1]);
    assert.ok(!d.notices[1].includes("'d'") && !d.notices[1].includes("'x'"), d.notices[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
