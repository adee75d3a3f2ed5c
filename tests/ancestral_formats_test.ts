/**
 * Ancestral output formats: every file parses back to the same numbers bit for bit (a reader
 * written here, or parseNewick for trees) except the per-family table, whose 6 significant
 * digits are checked against an exact BigInt rounding written here and whose native and
 * TypeScript writers give the same bytes; gzip output decompresses to the plain text, iTOL
 * files carry the required header, one line per branch and names that resolve to the right
 * node (checked by an independent last-common-ancestor walk), the safe-output rules hold for
 * streamed files, and 10^6 rows stream without being held in memory.
 */

import nodeAssert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { formatNewick } from "../lib/newick/format.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";
import { type FlatTree, flatTreeFromParents } from "../lib/tree/flat_tree.ts";
import {
  branchSummaryTsv,
  type FamilyAncestralRow,
  familyLongTsvRows,
  type FamilyTableBlock,
  formatValue,
  writeBranchSummaryTsv,
  writeFamilyLongTsv,
  writeFamilyTable,
} from "../lib/ancestral/formats/long_tsv.ts";
import { loadKernel } from "../lib/likelihood/choose_backend.ts";
import { formatNhx } from "../lib/ancestral/formats/nhx.ts";
import { idNewick, nodeIds } from "../lib/ancestral/node_ids.ts";
import {
  itolBranchStyle,
  itolBranchText,
  itolNodeNames,
  itolSimpleBar,
  NET_COLORS,
  netColor,
} from "../lib/ancestral/formats/itol.ts";
import { openTextOutput, writeTextOutput } from "../lib/ancestral/formats/stream_writer.ts";

const assert: (value: unknown, message?: string) => asserts value = nodeAssert.ok;
const assertEquals = (a: unknown, b: unknown, message?: string) =>
  nodeAssert.deepStrictEqual(a, b, message);

/** Awaits `f`, asserting that it rejects with `type` and a message containing `includes`. */
async function assertRejects(
  f: () => Promise<unknown>,
  type: new (...args: never[]) => Error = Error,
  includes = "",
): Promise<Error> {
  try {
    await f();
  } catch (e) {
    assert(e instanceof type, `expected ${type.name}, got ${e}`);
    assert(e.message.includes(includes), `'${e.message}' lacks '${includes}'`);
    return e;
  }
  throw new Error("expected a rejection");
}

function assertThrows(f: () => unknown, type: new (...args: never[]) => Error, includes = "") {
  try {
    f();
  } catch (e) {
    assert(e instanceof type, `expected ${type.name}, got ${e}`);
    assert(e.message.includes(includes), `'${e.message}' lacks '${includes}'`);
    return;
  }
  throw new Error("expected an exception");
}

/** A tree in canonical numbering (as parseNewick numbers it), with awkward labels. */
function awkwardTree(): FlatTree {
  const base = yuleTree(12, new Random(7), { height: 1 });
  const names = base.tipNames.map((n, i) => (i === 0 ? "x y" : i === 1 ? "it's" : n));
  const labels = base.internalLabels.map((_, i) =>
    i === 0 ? "95" : i === 1 ? "clade:A" : i === 2 ? "Firmicutes" : null
  );
  return parseNewick(
    formatNewick({ ...base, tipNames: names, internalLabels: labels }),
    "awkward.nwk",
  );
}

/** The tables' node ids (the shared rule). */
const idsOf = nodeIds;

/** Values that stress full-precision printing. */
function randomValue(rng: Random): number {
  const u = rng.next();
  if (u < 0.05) return 0;
  if (u < 0.1) return 1e-300 * rng.next();
  if (u < 0.15) return 0.1 + 0.2;
  return rng.next() * 10 ** Math.floor(rng.next() * 8 - 4);
}

function randomRow(tree: FlatTree, family: string, rng: Random): FamilyAncestralRow {
  const f = () => Float64Array.from({ length: tree.nNodes }, () => randomValue(rng));
  return { family, pPresent: f().map((x) => Math.min(x, 1)), gains: f(), losses: f() };
}

async function gunzipText(bytes: Uint8Array): Promise<string> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return await new Response(stream).text();
}

/** Reads the long TSV back: family -> quantity -> node id -> value. */
function readLongTsv(text: string): Map<string, Map<string, Map<string, number>>> {
  const lines = text.split("\n");
  assertEquals(lines[0], "family\tnode\tquantity\tvalue");
  assertEquals(lines[lines.length - 1], "", "the file ends with a line break");
  const out = new Map<string, Map<string, Map<string, number>>>();
  for (const line of lines.slice(1, -1)) {
    const cells = line.split("\t");
    assertEquals(cells.length, 4, line);
    const [family, node, quantity, value] = cells;
    if (!out.has(family)) out.set(family, new Map());
    const byQ = out.get(family)!;
    if (!byQ.has(quantity)) byQ.set(quantity, new Map());
    assert(!byQ.get(quantity)!.has(node), `duplicate row ${line}`);
    byQ.get(quantity)!.set(node, Number(value));
  }
  return out;
}

async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("long TSV: plain and gzip files read back to the same doubles; gzip is the plain text", async () => {
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const rng = new Random(11);
  const rows = Array.from({ length: 40 }, (_, k) => randomRow(tree, `fam ${k}/é`, rng));
  const dir = await Deno.makeTempDir();
  try {
    const plain = await writeFamilyLongTsv(`${dir}/f.tsv`, tree, ids, rows, { chunkChars: 500 });
    // An async iterable is consumed the same way.
    const lazy = async function* () {
      for (const r of rows) yield r;
    };
    const gz = await writeFamilyLongTsv(`${dir}/f.tsv.gz`, tree, ids, lazy());
    // Compressed on this thread instead of the worker: the same text.
    await writeFamilyLongTsv(`${dir}/t.tsv.gz`, tree, ids, rows, { gzipWorker: false });
    const text = await Deno.readTextFile(`${dir}/f.tsv`);
    const gzBytes = await Deno.readFile(`${dir}/f.tsv.gz`);
    assertEquals([gzBytes[0], gzBytes[1]], [0x1f, 0x8b], "gzip magic");
    assertEquals(await gunzipText(gzBytes), text);
    assertEquals(await gunzipText(await Deno.readFile(`${dir}/t.tsv.gz`)), text);
    const perFamily = tree.nNodes + 2 * (tree.nNodes - 1); // pPresent everywhere, events on branches
    assertEquals(plain.rows, 40 * perFamily);
    assertEquals(text.split("\n").length - 2, plain.rows);
    assertEquals(plain.bytes, new TextEncoder().encode(text).length);
    assertEquals(gz.bytes, plain.bytes);
    assertEquals(plain.families, 40);
    const back = readLongTsv(text);
    assertEquals([...back.keys()], rows.map((r) => r.family));
    const root = tree.nNodes - 1;
    // 6 significant digits: half a unit of the 6th digit is at most 5e-6 of the value.
    const near = (got: number | undefined, x: number) =>
      got !== undefined && Math.abs(got - x) <= 5e-6 * Math.abs(x);
    for (const r of rows) {
      const q = back.get(r.family)!;
      for (let v = 0; v < tree.nNodes; v++) {
        assert(near(q.get("pPresent")!.get(ids[v]), r.pPresent[v]));
        if (v === root) {
          assert(!q.get("gains")!.has(ids[v]) && !q.get("losses")!.has(ids[v]));
          continue;
        }
        assert(near(q.get("gains")!.get(ids[v]), r.gains[v]));
        assert(near(q.get("losses")!.get(ids[v]), r.losses[v]));
      }
    }
    // Each value is the documented text (formatValue, checked against exact rounding below).
    for (const line of text.split("\n").slice(1, 40)) {
      const [family, node, quantity, value] = line.split("\t");
      const r = rows.find((x) => x.family === family)!;
      const x = (quantity === "pPresent" ? r.pPresent : r[quantity as "gains"])[ids.indexOf(node)];
      assertEquals(value, formatValue(x), line);
    }
    assertEquals(await filesIn(dir), ["f.tsv", "f.tsv.gz", "t.tsv.gz"], "no temporary file left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("long TSV: a subset of quantities, in the order given", () => {
  const tree = flatTreeFromParents(["a", "b"], [2, 2, -1], [1, 2, 0]);
  const row = {
    family: "f",
    pPresent: Float64Array.of(1, 0.25, 0.5),
    gains: Float64Array.of(0.75, 0, 0),
    losses: Float64Array.of(0, 0.5, 0),
  };
  assertEquals(
    familyLongTsvRows(tree, ["a", "b", "r"], row, ["losses", "pPresent"]),
    "f\ta\tlosses\t0\nf\ta\tpPresent\t1\nf\tb\tlosses\t0.500000\nf\tb\tpPresent\t0.250000\n" +
      "f\tr\tpPresent\t0.500000\n",
  );
});

/**
 * The documented 6-digit text of `x` from its exact value: a double is m * 2^k exactly, so
 * x * 10^(5 - e) is a fraction of BigInts, rounded half up (away from zero) by comparing twice
 * its remainder with its denominator; an independent implementation of the rule.
 */
function exactSix(x: number): string {
  if (x === 0) return "0";
  if (x === 1) return "1";
  const sign = x < 0 ? "-" : "";
  const a = Math.abs(x);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, a);
  const bits = view.getBigUint64(0);
  const be = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const mant = be === 0 ? frac : frac | (1n << 52n);
  const k = (be === 0 ? 1 : be) - 1075; // a = mant * 2^k
  // num / den = a exactly.
  let num = k >= 0 ? mant << BigInt(k) : mant;
  let den = k >= 0 ? 1n : 1n << BigInt(-k);
  // e = floor(log10 a): the largest e with 10^e <= a.
  let e = Math.floor(Math.log10(a));
  const pow = (n: number) => 10n ** BigInt(n);
  const atLeast = (e: number) => e >= 0 ? num >= den * pow(e) : num * pow(-e) >= den;
  while (!atLeast(e)) e--;
  while (atLeast(e + 1)) e++;
  // n = round(a * 10^(5 - e)), ties up.
  if (5 - e >= 0) num *= pow(5 - e);
  else den *= pow(e - 5);
  let n = num / den;
  if (2n * (num % den) >= den) n++;
  if (n === 1000000n) {
    n = 100000n;
    e++;
  }
  const d = n.toString();
  if (e < -4 || e > 5) return `${sign}${d[0]}.${d.slice(1)}e${e < 0 ? "-" : "+"}${Math.abs(e)}`;
  if (e >= 0) return sign + d.slice(0, e + 1) + (e < 5 ? "." + d.slice(e + 1) : "");
  return `${sign}0.${"0".repeat(-e - 1)}${d}`;
}

Deno.test("long TSV: values have 6 significant digits, rounded exactly, ties away from zero", () => {
  const rng = new Random(23);
  const view = new DataView(new ArrayBuffer(8));
  const values: number[] = [
    0.5,
    0.1 + 0.2,
    0.99999993,
    1.0000001,
    -0.123456789,
    0.00009999996,
    0.00009999949,
    5.3299562e-6,
    123456.7,
    999999.7,
    1234565, // an exact tie: up
    100000.5, // an exact tie: up
    -2.5e-310,
    5e-324,
    Number.MAX_VALUE,
    Number.MIN_VALUE * 3,
  ];
  for (let i = 0; i < 3000; i++) {
    // Random bit patterns (every magnitude) and values near 6-digit ties and powers of ten.
    view.setUint32(0, Math.floor(rng.next() * 2 ** 32));
    view.setUint32(4, Math.floor(rng.next() * 2 ** 32));
    const bits = view.getFloat64(0);
    if (Number.isFinite(bits)) values.push(bits);
    const tie = (Math.floor(rng.next() * 9e5) + 1e5 + 0.5) * 10 ** Math.floor(rng.next() * 30 - 20);
    values.push(tie, tie * (1 + 2 ** -52), 10 ** Math.floor(rng.next() * 40 - 20));
    values.push(rng.next() * 10 ** Math.floor(rng.next() * 8 - 6));
  }
  for (const x of values) assertEquals(formatValue(x), exactSix(x), `value ${x}`);
  assertEquals(formatValue(-0), "0");
  assertEquals(formatValue(0.5), "0.500000");
  assertEquals(formatValue(1234565), "1.23457e+6");
  assertEquals(formatValue(0.00009999996), "0.000100000");
  assertEquals(formatValue(5.3299562e-6), "5.32996e-6");
});

/** The families of blocks, one row each, as the row-by-row writer takes them. */
function familyRows(blocks: readonly FamilyTableBlock[], nn: number): FamilyAncestralRow[] {
  return blocks.flatMap((b) =>
    b.families.map((family, i) => {
      const a = b.rows[i] * nn;
      return {
        family,
        pPresent: b.present.subarray(a, a + nn),
        gains: b.gains.subarray(a, a + nn),
        losses: b.losses.subarray(a, a + nn),
      };
    })
  );
}

/** Blocks of `rows` (random values, shared rows) for writeFamilyTable. */
function randomBlocks(tree: FlatTree, nFamilies: number, perBlock: number, rng: Random) {
  const nn = tree.nNodes;
  const blocks: FamilyTableBlock[] = [];
  for (let f0 = 0; f0 < nFamilies; f0 += perBlock) {
    const n = Math.min(perBlock, nFamilies - f0);
    const nRows = Math.max(1, n - 2); // some families share a row, as families share patterns
    const f = () => Float64Array.from({ length: nRows * nn }, () => randomValue(rng));
    blocks.push({
      families: Array.from({ length: n }, (_, i) => `fam ${f0 + i}/é`),
      rows: Uint32Array.from({ length: n }, (_, i) => i % nRows),
      present: f().map((x) => Math.min(x, 1)),
      gains: f(),
      losses: f(),
    });
  }
  return blocks;
}

Deno.test("long TSV: the native formatter writes the TypeScript writer's bytes, plain and gzip (one member)", async () => {
  const { kernel } = await loadKernel();
  if (!kernel?.symbols.gc_family_table) {
    console.warn("no native library with gc_family_table: only the TypeScript writer checked");
  }
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const nn = tree.nNodes;
  // Blocks big enough that the kernel splits them into several deflate pieces (4 MiB each).
  const blocks = randomBlocks(tree, 4000, 1500, new Random(31));
  const dir = await Deno.makeTempDir();
  try {
    // The reference: the per-family writer, row by row.
    const rows = familyRows(blocks, nn);
    await writeFamilyLongTsv(`${dir}/ref.tsv`, tree, ids, rows);
    const ref = await Deno.readFile(`${dir}/ref.tsv`);
    const ts = await writeFamilyTable(`${dir}/ts.tsv`, tree, ids, blocks);
    assertEquals(ts.formatter, "ts");
    assertEquals(await Deno.readFile(`${dir}/ts.tsv`), ref);
    if (kernel?.symbols.gc_family_table) {
      const plain = await writeFamilyTable(`${dir}/n.tsv`, tree, ids, blocks, { kernel });
      assertEquals(plain.formatter, "native");
      assertEquals(await Deno.readFile(`${dir}/n.tsv`), ref, "native plain text");
      assertEquals([plain.rows, plain.bytes], [ts.rows, ref.length]);
      const gz = await writeFamilyTable(`${dir}/n.tsv.gz`, tree, ids, blocks, { kernel });
      assertEquals(gz.bytes, ref.length, "uncompressed bytes");
      const bytes = await Deno.readFile(`${dir}/n.tsv.gz`);
      assert(bytes.length < ref.length / 2, "compressed");
      // DecompressionStream reads one gzip member only and checks its CRC-32 and length.
      assertEquals(await gunzipText(bytes), new TextDecoder().decode(ref));
      // Other quantities and levels: the same text as the TypeScript writer.
      const quantities = ["losses", "pPresent"] as const;
      await writeFamilyTable(`${dir}/q.tsv`, tree, ids, blocks, { quantities });
      await writeFamilyTable(`${dir}/nq.tsv.gz`, tree, ids, blocks, {
        kernel,
        quantities,
        gzipLevel: 6,
      });
      assertEquals(
        await gunzipText(await Deno.readFile(`${dir}/nq.tsv.gz`)),
        await Deno.readTextFile(`${dir}/q.tsv`),
      );
      // A non-finite value: the TypeScript writer's message, and no file.
      const bad = randomBlocks(tree, 30, 10, new Random(2));
      bad[1].gains[bad[1].rows[4] * nn + 3] = -Infinity;
      const messages = [];
      for (const k of [null, kernel]) {
        const e = await assertRejects(
          () => writeFamilyTable(`${dir}/bad.tsv.gz`, tree, ids, bad, { kernel: k }),
          GenecontentError,
        );
        messages.push(e.message);
      }
      assertEquals(messages[1], messages[0]);
      assert(messages[0].includes("fam 14/é") && messages[0].includes(`'${ids[3]}'`), messages[0]);
      assert(messages[0].includes("-Infinity"), messages[0]);
    }
    assertEquals(
      (await filesIn(dir)).filter((f) => f.includes("bad") || f.endsWith(".tmp")),
      [],
      "no file left by a failed run",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("long TSV: a cut leaves out exactly the rows below it, natively and in TypeScript; the sidecar records it", async () => {
  const { kernel } = await loadKernel();
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const nn = tree.nNodes;
  const root = nn - 1;
  // Values spread over 10^-4..10^4 (and exact 0, 1e-300 and 0.3): a cut at 0.01 keeps some
  // of each quantity, and the cut value itself is kept (the rule is "below").
  const blocks = randomBlocks(tree, 600, 250, new Random(41));
  blocks[0].gains[blocks[0].rows[0] * nn] = 0.01;
  const cut = 0.01;
  // The reference, row by row from the values: every (family, node, quantity) not below cut.
  let want = "family\tnode\tquantity\tvalue\n", wantRows = 0;
  for (const b of blocks) {
    b.families.forEach((family, i) => {
      const a = b.rows[i] * nn;
      for (let v = 0; v < nn; v++) {
        for (
          const [q, values] of [["pPresent", b.present], ["gains", b.gains], [
            "losses",
            b.losses,
          ]] as const
        ) {
          if (v === root && q !== "pPresent") continue;
          const x = values[a + v];
          if (x < cut) continue;
          want += `${family}\t${ids[v]}\t${q}\t${formatValue(x)}\n`;
          wantRows++;
        }
      }
    });
  }
  assert(want.includes(`\tgains\t0.0100000\n`), "the cut value itself is written");
  const dir = await Deno.makeTempDir();
  try {
    const ts = await writeFamilyTable(`${dir}/ts.tsv`, tree, ids, blocks, {
      minValue: cut,
      provenance: { command: "test" },
    });
    assertEquals(await Deno.readTextFile(`${dir}/ts.tsv`), want);
    assertEquals([ts.rows, ts.rowsInAll, ts.minValue], [wantRows, 600 * (3 * nn - 2), cut]);
    assert(wantRows > 0 && wantRows < ts.rowsInAll * 0.8, `${wantRows} rows kept`);
    const sidecar = JSON.parse(await Deno.readTextFile(`${dir}/ts.tsv.provenance.json`));
    assertEquals(sidecar.command, "test");
    assertEquals(
      [sidecar.familyTable.minValue, sidecar.familyTable.rows, sidecar.familyTable.rowsInAll],
      [cut, wantRows, ts.rowsInAll],
    );
    if (kernel?.symbols.gc_family_table && kernel.minor >= 3) {
      for (const name of ["n.tsv", "n.tsv.gz"]) {
        const r = await writeFamilyTable(`${dir}/${name}`, tree, ids, blocks, {
          kernel,
          minValue: cut,
        });
        assertEquals([r.formatter, r.rows, r.bytes], [
          "native",
          wantRows,
          new TextEncoder().encode(want).length,
        ]);
        const bytes = await Deno.readFile(`${dir}/${name}`);
        assertEquals(
          name.endsWith(".gz") ? await gunzipText(bytes) : new TextDecoder().decode(bytes),
          want,
        );
      }
    } else {
      console.warn("no native library of ABI minor >= 3: only the TypeScript writer checked");
    }
    // The row-by-row writer applies the same rule.
    const rows = familyRows(blocks, nn);
    const one = await writeFamilyLongTsv(`${dir}/rows.tsv`, tree, ids, rows, { minValue: cut });
    assertEquals([one.rows, await Deno.readTextFile(`${dir}/rows.tsv`)], [wantRows, want]);
    for (const bad of [-1, NaN, Infinity]) {
      await assertRejects(
        () => writeFamilyTable(`${dir}/bad.tsv`, tree, ids, blocks, { minValue: bad }),
        GenecontentError,
        "must be a finite number >= 0",
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("long TSV: bad rows, names and ids are refused and leave no file", async () => {
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const rng = new Random(3);
  const good = randomRow(tree, "ok", rng);
  const nan = randomRow(tree, "famNaN", rng);
  nan.gains[4] = NaN;
  const dir = await Deno.makeTempDir();
  try {
    const e = await assertRejects(
      () => writeFamilyLongTsv(`${dir}/x.tsv.gz`, tree, ids, [good, nan]),
      GenecontentError,
    );
    assert(e.message.includes("famNaN") && e.message.includes(`'${ids[4]}'`), e.message);
    const short = { ...good, family: "short", losses: new Float64Array(3) };
    await assertRejects(
      () => writeFamilyLongTsv(`${dir}/x.tsv`, tree, ids, [short]),
      GenecontentError,
      "losses has 3 values",
    );
    await assertRejects(
      () => writeFamilyLongTsv(`${dir}/x.tsv`, tree, ids, [{ ...good, family: "a\tb" }]),
      GenecontentError,
      "tab or line break",
    );
    await assertRejects(
      () => writeFamilyLongTsv(`${dir}/x.tsv`, tree, ids.slice(1), [good]),
      GenecontentError,
      "give one per node",
    );
    const dup = [...ids];
    dup[3] = dup[2];
    await assertRejects(
      () => writeFamilyLongTsv(`${dir}/x.tsv`, tree, dup, [good]),
      GenecontentError,
      "must be unique",
    );
    await assertRejects(
      () => writeFamilyLongTsv(`${dir}/x.tsv`, tree, ids, [good], { quantities: [] }),
      GenecontentError,
    );
    // A failing producer (the reconstruction throwing half-way) leaves nothing either.
    const failing = function* () {
      yield good;
      throw new Error("reconstruction failed");
    };
    await assertRejects(() => writeFamilyLongTsv(`${dir}/x.tsv`, tree, ids, failing()));
    assertEquals(await filesIn(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("streamed output: existing files need force, inputs are never written, failures keep the old file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/out.tsv`;
    await Deno.writeTextFile(target, "old\n");
    await assertRejects(() => openTextOutput(target), GenecontentError, "pass --force");
    await assertRejects(
      () => openTextOutput(target, { force: true, inputs: { pam: target } }),
      GenecontentError,
      "never overwritten",
    );
    await assertRejects(
      () => openTextOutput(`${dir}/missing/out.tsv`),
      GenecontentError,
      "does not exist",
    );
    await assertRejects(
      () =>
        writeTextOutput(target, async (out) => {
          await out.write("new\n");
          throw new Error("half-way");
        }, { force: true }),
      Error,
      "half-way",
    );
    assertEquals(await Deno.readTextFile(target), "old\n", "a failed run keeps the old file");
    // A file appearing while the output is open is caught by the check before the rename.
    const late = `${dir}/late.tsv`;
    const out = await openTextOutput(late);
    await out.write("x\n");
    await Deno.writeTextFile(late, "someone else's\n");
    await assertRejects(() => out.close(), GenecontentError, "already exists");
    assertEquals(await Deno.readTextFile(late), "someone else's\n");
    await writeTextOutput(target, (o) => o.write("new\n"), { force: true, provenance: { a: 1 } });
    assertEquals(await Deno.readTextFile(target), "new\n");
    assertEquals(JSON.parse(await Deno.readTextFile(`${target}.provenance.json`)), { a: 1 });
    assertEquals(await filesIn(dir), ["late.tsv", "out.tsv", "out.tsv.provenance.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The one temporary file a streamed output is writing in `dir`, and its size on disk. */
function tempSize(dir: string): number {
  const temps = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp"));
  assertEquals(temps.length, 1);
  return Deno.statSync(`${dir}/${temps[0].name}`).size;
}

Deno.test("long TSV: 10^6 rows stream to disk, at most one chunk behind the producer", async () => {
  const tree = yuleTree(100, new Random(5), { height: 1 });
  const ids = nodeIds(tree);
  const perFamily = tree.nNodes + 2 * (tree.nNodes - 1); // 595 rows per family
  const families = Math.ceil(1e6 / perFamily);
  const chunkChars = 1 << 18;
  const rng = new Random(9);
  // One row object reused with new values: the generator itself holds nothing.
  const row = {
    family: "",
    pPresent: new Float64Array(tree.nNodes),
    gains: new Float64Array(tree.nNodes),
    losses: new Float64Array(tree.nNodes),
  };
  const dir = await Deno.makeTempDir();
  let produced = "family\tnode\tquantity\tvalue\n".length;
  let maxLag = 0;
  let expectedSum = 0;
  function* rows() {
    for (let k = 0; k < families; k++) {
      // Every family yielded so far has been handed to the output: all but the last chunk
      // of it must be on disk (the text is ASCII, so characters are bytes).
      if (k % 25 === 0) maxLag = Math.max(maxLag, produced - tempSize(dir));
      row.family = `family_${k}`;
      for (let v = 0; v < tree.nNodes; v++) {
        row.pPresent[v] = rng.next();
        row.gains[v] = rng.next();
        row.losses[v] = rng.next();
        // What the file holds: 6 significant digits (formatValue, checked above).
        expectedSum += Number(formatValue(row.pPresent[v]));
      }
      produced += familyLongTsvRows(tree, ids, row).length;
      yield row;
    }
  }
  try {
    const s = await writeFamilyLongTsv(`${dir}/big.tsv`, tree, ids, rows(), { chunkChars });
    assert(s.rows >= 1e6, `${s.rows} rows`);
    assertEquals(s.bytes, produced);
    // Behind by less than one chunk (flushed once it reaches chunkChars) plus one family.
    const familyChars = produced / families * 1.1; // families differ only in a few digits
    assert(maxLag < chunkChars + familyChars, `lag ${maxLag}`);
    assert(maxLag > 0, "the check saw buffered text at least once");
    // Read back as a stream, line by line, summing pPresent: the written numbers survive
    // exactly (the same additions in the same order give the same double).
    const stream = (await Deno.open(`${dir}/big.tsv`)).readable.pipeThrough(
      new TextDecoderStream(),
    );
    let lines = 0;
    let sum = 0;
    let rest = "";
    for await (const chunk of stream) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        lines++;
        const cells = line.split("\t");
        if (cells[2] === "pPresent") sum += Number(cells[3]);
      }
    }
    assertEquals(rest, "");
    assertEquals(lines, s.rows + 1);
    assertEquals(sum, expectedSum);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("long TSV: gzip output reaches the disk while rows are still being produced", async () => {
  const tree = yuleTree(50, new Random(6), { height: 1 });
  const ids = nodeIds(tree);
  const rng = new Random(10);
  const dir = await Deno.makeTempDir();
  const sizes: number[] = [];
  function* rows() {
    for (let k = 0; k < 600; k++) {
      if (k % 100 === 0) sizes.push(tempSize(dir));
      yield randomRow(tree, `f${k}`, rng);
    }
  }
  try {
    const s = await writeFamilyLongTsv(`${dir}/g.tsv.gz`, tree, ids, rows(), {
      chunkChars: 1 << 16,
    });
    const compressed = (await Deno.stat(`${dir}/g.tsv.gz`)).size;
    // The compressed file grows family by family: before the last hundred families more than
    // half of it is on disk (about 5/6 of the rows have been handed over by then).
    assertEquals(sizes[0], 0);
    assert(sizes[5] > compressed / 2, `${sizes} of ${compressed}`);
    for (let i = 1; i < sizes.length; i++) assert(sizes[i] >= sizes[i - 1]);
    assertEquals((await gunzipText(await Deno.readFile(`${dir}/g.tsv.gz`))).length, s.bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("branch summary TSV and Newick of ids read back exactly", async () => {
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const rng = new Random(21);
  const f = () => Float64Array.from({ length: tree.nNodes }, () => randomValue(rng));
  const sums = { gains: f(), losses: f(), present: f() };
  const text = branchSummaryTsv(tree, ids, sums);
  const lines = text.split("\n");
  assertEquals(lines[0], "node\tparent\tbranchLength\tpresent\tgains\tlosses\tnet");
  assertEquals(lines.length, tree.nNodes + 2);
  const root = tree.nNodes - 1;
  for (let v = 0; v < tree.nNodes; v++) {
    const c = lines[v + 1].split("\t");
    assertEquals(c[0], ids[v]);
    assert(Object.is(Number(c[3]), sums.present[v]));
    if (v === root) {
      assertEquals(c.slice(1), ["NA", "NA", c[3], "NA", "NA", "NA"]);
      continue;
    }
    assertEquals(c[1], ids[tree.parent[v]]);
    assert(Object.is(Number(c[2]), tree.branchLength[v]));
    assert(Object.is(Number(c[4]), sums.gains[v]));
    assert(Object.is(Number(c[5]), sums.losses[v]));
    assert(Object.is(Number(c[6]), sums.gains[v] - sums.losses[v]));
  }
  assertEquals(
    branchSummaryTsv(tree, ids, { gains: sums.gains, losses: sums.losses }).split("\n")[1]
      .split("\t")[3],
    "NA",
  );
  const dir = await Deno.makeTempDir();
  try {
    await writeBranchSummaryTsv(`${dir}/b.tsv.gz`, tree, ids, sums);
    assertEquals(await gunzipText(await Deno.readFile(`${dir}/b.tsv.gz`)), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const back = parseNewick(idNewick(tree, ids), "ids.nwk");
  assertEquals(back.tipNames, ids.slice(0, tree.nTips));
  assertEquals(back.internalLabels, ids.slice(tree.nTips));
  assertEquals([...back.parent], [...tree.parent]);
  assertEquals([...back.branchLength], [...tree.branchLength]);
});

/** A reader of Newick with NHX comments: per node (parseNewick's numbering), name and tags. */
function readNhx(text: string): { names: string[]; tags: Map<string, string>[] } {
  const tree = parseNewick(text, "t.nhx"); // numbering, lengths and names
  const tips: string[] = [];
  const tipTags: Map<string, string>[] = [];
  const internalTags: Map<string, string>[] = [];
  const open: number[] = [];
  let i = 0;
  let last: "tip" | "internal" | null = null;
  const readTags = (s: string) =>
    new Map(s.split(":").map((kv) => kv.split("=") as [string, string]));
  while (i < text.length) {
    const c = text[i];
    if (c === "'") {
      let j = i + 1;
      while (!(text[j] === "'" && text[j + 1] !== "'")) j += text[j] === "'" ? 2 : 1;
      tips.push(text.slice(i + 1, j).replaceAll("''", "'"));
      last = "tip";
      tipTags.push(new Map());
      i = j + 1;
    } else if (c === "(") {
      open.push(0);
      i++;
    } else if (c === ")") {
      open.pop();
      internalTags.push(new Map());
      last = "internal";
      i++;
      // an internal label may follow; skip it (parseNewick reads it)
      if (text[i] === "'") {
        let j = i + 1;
        while (!(text[j] === "'" && text[j + 1] !== "'")) j += text[j] === "'" ? 2 : 1;
        i = j + 1;
      } else {
        while (i < text.length && !":[,);".includes(text[i])) i++;
      }
    } else if (c === "[") {
      const end = text.indexOf("]", i);
      const body = text.slice(i + 1, end);
      assert(body.startsWith("&&NHX:"), body);
      const target = last === "tip" ? tipTags : internalTags;
      target[target.length - 1] = readTags(body.slice(6));
      i = end + 1;
    } else if (c === ":" || c === ",") {
      i++;
      if (c === ":") { while (!"[,);".includes(text[i])) i++; }
    } else if (c === ";") {
      break;
    } else {
      let j = i;
      while (!":[,);".includes(text[j])) j++;
      tips.push(text.slice(i, j));
      tipTags.push(new Map());
      last = "tip";
      i = j;
    }
  }
  assertEquals(tips, tree.tipNames);
  return {
    names: [...tree.tipNames, ...tree.internalLabels.map((l) => l ?? "")],
    tags: [...tipTags, ...internalTags],
  };
}

Deno.test("NHX: same tree, labels kept, and every branch's tags read back exactly", () => {
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const rng = new Random(31);
  const f = () => Float64Array.from({ length: tree.nNodes }, () => randomValue(rng));
  const sums = { gains: f(), losses: f(), present: f() };
  const text = formatNhx(tree, ids, sums);
  const back = parseNewick(text, "t.nhx");
  assertEquals(back.tipNames, tree.tipNames);
  assertEquals(back.internalLabels, tree.internalLabels, "support values and names are kept");
  assertEquals([...back.parent], [...tree.parent]);
  assertEquals([...back.branchLength], [...tree.branchLength]);
  const { tags } = readNhx(text);
  const root = tree.nNodes - 1;
  for (let v = 0; v < tree.nNodes; v++) {
    const t = tags[v];
    // "x y", "it's" and "clade:A" cannot be NHX values; such ids are labels written as names.
    const unsafe = ["x y", "it's", "clade:A"].includes(ids[v]);
    assertEquals(t.get("id"), unsafe ? undefined : ids[v]);
    assert(Object.is(Number(t.get("present")), sums.present[v]));
    if (v === root) {
      assertEquals([...t.keys()].sort(), ["id", "present"]);
      continue;
    }
    assert(Object.is(Number(t.get("gains")), sums.gains[v]));
    assert(Object.is(Number(t.get("losses")), sums.losses[v]));
    assert(Object.is(Number(t.get("net")), sums.gains[v] - sums.losses[v]));
  }
  assertThrows(
    () => formatNhx(tree, ids, { gains: new Float64Array(2), losses: sums.losses }),
    GenecontentError,
    "give one per node",
  );
});

/** The last common ancestor of two tips, by walking up from both (independent of itol.ts). */
function lca(tree: FlatTree, a: number, b: number): number {
  const up = new Set<number>();
  for (let v = a; v !== -1; v = tree.parent[v]) up.add(v);
  let v = b;
  while (!up.has(v)) v = tree.parent[v];
  return v;
}

function dataLines(text: string, kind: string): string[] {
  const lines = text.split("\n");
  assertEquals(lines[0], kind);
  assertEquals(lines[1], "SEPARATOR TAB");
  assert(lines.some((l) => /^DATASET_LABEL\t\S/.test(l)), "DATASET_LABEL");
  assert(lines.some((l) => /^COLOR\t#[0-9a-f]{6}$/.test(l)), "COLOR");
  const data = lines.indexOf("DATA");
  assert(data > 1, "DATA keyword");
  assertEquals(lines[lines.length - 1], "");
  return lines.slice(data + 1, -1);
}

Deno.test("iTOL: names resolve to their nodes, one line per branch, colours and widths by the numbers", () => {
  const tree = awkwardTree();
  const ids = idsOf(tree);
  const byTip = new Map(tree.tipNames.map((n, i) => [n, i]));
  const lcaNames = itolNodeNames(tree, ids, "lca");
  for (let v = 0; v < tree.nNodes; v++) {
    const parts = lcaNames[v].split("|");
    if (v < tree.nTips) {
      assertEquals(parts, [tree.tipNames[v]]);
    } else {
      assertEquals(parts.length, 2);
      assertEquals(lca(tree, byTip.get(parts[0])!, byTip.get(parts[1])!), v);
    }
  }
  const n = tree.nNodes;
  const gains = new Float64Array(n);
  const losses = new Float64Array(n);
  const rng = new Random(41);
  for (let v = 0; v < n - 1; v++) {
    gains[v] = 10 * rng.next();
    losses[v] = 10 * rng.next();
  }
  gains[0] = 40; // largest net gain and most events
  losses[0] = 0;
  gains[1] = 0;
  losses[1] = 30; // largest net loss after 40
  gains[2] = losses[2] = 5; // no net change
  for (const naming of ["ids", "lca"] as const) {
    const names = itolNodeNames(tree, ids, naming);
    const style = dataLines(
      itolBranchStyle(tree, ids, { gains, losses }, { naming }),
      "DATASET_STYLE",
    );
    assertEquals(style.length, n - 1, "one line per branch");
    style.forEach((line, v) => {
      const c = line.split("\t");
      assertEquals(c.slice(0, 3), [names[v], "branch", "node"]);
      assertEquals(c[3], netColor(gains[v] - losses[v], 40));
      // Width from its closed form: 1 + 3 * events / 40 (the most events, on branch 0).
      assertEquals(Number(c[4]), 1 + 3 * (gains[v] + losses[v]) / 40);
      assertEquals(c[5], "normal");
    });
    assertEquals(style[0].split("\t")[3], NET_COLORS.gain);
    assertEquals(style[2].split("\t")[3], NET_COLORS.zero);
    assertEquals(style[0].split("\t")[4], "4");
    const text = dataLines(
      itolBranchText(tree, ids, { gains, losses }, { naming }),
      "DATASET_TEXT",
    );
    assertEquals(text.length, n - 1);
    assertEquals(text[0].split("\t").slice(0, 3), [names[0], "+40/-0", "0.5"]);
    const bars = dataLines(
      itolSimpleBar(tree, ids, gains, { naming, label: "gains" }),
      "DATASET_SIMPLEBAR",
    );
    assertEquals(bars.length, n - 1);
    bars.forEach((line, v) => {
      const [name, value] = line.split("\t");
      assertEquals(name, names[v]);
      assert(Object.is(Number(value), gains[v]));
    });
    const all = dataLines(
      itolSimpleBar(tree, ids, gains, { naming, label: "g", nodes: "nodes" }),
      "DATASET_SIMPLEBAR",
    );
    assertEquals(all.length, n, "one line per node");
  }
  // Colour scale in closed form: half-way from #bdbdbd to #2166ac and to #b2182b.
  assertEquals(netColor(0.5, 1), "#6f92b5");
  assertEquals(netColor(-0.5, 1), "#b86b74");
  assertEquals(netColor(7, 0), NET_COLORS.zero);
  // Loss colour at the largest absolute net change on the loss side.
  const lossOnly = new Float64Array(n);
  lossOnly[3] = 2;
  const style = dataLines(
    itolBranchStyle(tree, ids, { gains: new Float64Array(n), losses: lossOnly }),
    "DATASET_STYLE",
  );
  assertEquals(style[3].split("\t")[3], NET_COLORS.loss);
});

Deno.test("iTOL: unary nodes and names iTOL would misread are refused with the node named", () => {
  // (a, (b)u): the unary node u has no two-tip name.
  const unary = flatTreeFromParents(["a", "b"], [3, 2, 3, -1], [1, 1, 1, 0], ["u", null]);
  const ids = ["a", "b", "u", "node3"];
  assertThrows(() => itolNodeNames(unary, ids, "lca"), GenecontentError, "'u' has one child");
  assertEquals(itolNodeNames(unary, ids, "ids"), ids);
  const piped = flatTreeFromParents(["a|x", "b"], [2, 2, -1], [1, 1, 0]);
  assertThrows(
    () => itolNodeNames(piped, ["a|x", "b", "node2"], "lca"),
    GenecontentError,
    "'a|x'",
  );
  const sums = { gains: Float64Array.of(NaN, 0, 0), losses: new Float64Array(3) };
  assertThrows(
    () => itolBranchStyle(piped, ["a", "b", "r"], sums),
    GenecontentError,
    "above node 'a' is NaN",
  );
  // A count rounded a hair below 0 is drawn as no events, not refused.
  const rounded = { gains: Float64Array.of(-1e-18, 2, 0), losses: Float64Array.of(0, 0, 0) };
  const lines = dataLines(itolBranchStyle(piped, ["a", "b", "r"], rounded), "DATASET_STYLE");
  assertEquals(lines.map((l) => l.split("\t")[4]), ["1", "4"]);
});
