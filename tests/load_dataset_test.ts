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
