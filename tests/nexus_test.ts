import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import { readTree } from "../lib/load_dataset.ts";
import { isNexus, parseTreeFile } from "../lib/newick/nexus.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

const DATA = new URL("./data/inputs/", import.meta.url);
const path = (name: string) => new URL(name, DATA).pathname;

/**
 * The tree as a set of "tip: lengths up to the root" strings: equal for two trees exactly when
 * they have the same topology, tip names and branch lengths, whatever the tip order.
 */
function shape(t: FlatTree): string[] {
  const out: string[] = [];
  for (let i = 0; i < t.nTips; i++) {
    const steps: string[] = [];
    for (let v = i; t.parent[v] >= 0; v = t.parent[v]) steps.push(String(t.branchLength[v]));
    out.push(`${t.tipNames[i]}: ${steps.join(" ")}`);
  }
  return out.sort();
}

function assertTreeError(text: string, fragments: string[], treeIndex?: number): void {
  assert.throws(
    () => parseTreeFile(text, "bad.trees", { treeIndex }),
    (e: unknown) => {
      assert.ok(e instanceof GenecontentError, `expected GenecontentError, got ${e}`);
      assert.ok(e.message.includes("bad.trees"), `message lacks the file: ${e.message}`);
      for (const f of fragments) {
        assert.ok(e.message.includes(f), `message lacks '${f}': ${e.message}`);
      }
      return true;
    },
  );
}

const ISOLATES_NEWICK =
  "((isolate_1:0.01,isolate_2:0.02):0.005,(isolate_3:3e-2,isolate_4:1E-2):4.0e-3);";

Deno.test("nexus: a BEAST file with translate table and annotations reads as the Newick tree", async () => {
  const text = await Deno.readTextFile(path("isolates_beast.trees"));
  assert.ok(isNexus(text));
  // Two trees: refused without an index, with the count and the names.
  assertTreeError(text.replaceAll("isolates_beast", "bad"), []);
  assert.throws(
    () => parseTreeFile(text, "run.trees"),
    (e: unknown) =>
      e instanceof GenecontentError && e.message.includes("holds 2 trees") &&
      e.message.includes("'STATE_0'") && e.message.includes("from 1 to 2"),
  );
  const first = parseTreeFile(text, "run.trees", { treeIndex: 1 });
  assert.equal(first.format, "nexus");
  assert.equal(first.treeName, "STATE_0");
  assert.equal(first.treeCount, 2);
  // Reference: the same tree written as plain Newick with the names in place.
  assert.deepEqual(shape(first.tree), shape(parseNewick(ISOLATES_NEWICK, "ref.nwk")));
  assert.deepEqual(first.tree.internalLabels.filter((x) => x !== null).sort(), ["0.97", "100"]);
  const second = parseTreeFile(text, "run.trees", { treeIndex: 2 });
  assert.equal(second.treeName, "STATE_1000");
  assert.deepEqual(
    shape(second.tree),
    shape(parseNewick(
      "((isolate_1:0.5,isolate_3:0.25):0.125,(isolate_2:1,isolate_4:2):0.0625);",
      "ref.nwk",
    )),
  );
  assertTreeError(text, ["holds 2 trees", "no tree 3", "from 1 to 2"], 3);
  assertTreeError(text, ["tree index 0 is not valid"], 0);
});

Deno.test("nexus: a FigTree file without translate table, with extra blocks", async () => {
  const { tree, format, treeCount } = parseTreeFile(
    await Deno.readTextFile(path("isolates_figtree.tre")),
    "f.tre",
  );
  assert.equal(format, "nexus");
  assert.equal(treeCount, 1);
  assert.deepEqual(shape(tree), shape(parseNewick(ISOLATES_NEWICK, "ref.nwk")));
});

Deno.test("nexus: MrBayes style, quoted names, comments holding ';' and lower-case commands", () => {
  const text = "#nexus\n[ ; a comment with a semicolon ]\nbegin TREES;\n" +
    "  translate\n    1 'E. coli K-12',\n    2 'it''s; odd',\n    3 Salmonella_enterica;\n" +
    "  tree con_50_majrule = [&U] (1:0.1[&prob=1.0;x],2:0.2,3:0.3);\n" +
    "endblock;\n";
  const { tree, treeName } = parseTreeFile(text, "m.con.tre");
  assert.equal(treeName, "con_50_majrule");
  assert.deepEqual(tree.tipNames, ["E. coli K-12", "it's; odd", "Salmonella_enterica"]);
  assert.deepEqual([...tree.branchLength].slice(0, 3), [0.1, 0.2, 0.3]);
  // Trees from two blocks are counted together; each block keeps its own table.
  const twoBlocks = "#NEXUS\nbegin trees; translate 1 a, 2 b; tree x = (1:1,2:1); end;\n" +
    "begin trees; translate 1 c, 2 d; tree y = (1:2,2:2); end;\n";
  assert.deepEqual(parseTreeFile(twoBlocks, "t", { treeIndex: 2 }).tree.tipNames, ["c", "d"]);
});

Deno.test("nexus: malformed files are refused with the file, line and what to do", () => {
  assertTreeError("#NEXUS\nbegin taxa; dimensions ntax=2; end;\n", ["without a tree"]);
  assertTreeError("#NEXUS\nbegin trees;\ntree t = (a:1,b:1);\n", ["never ended", "end;"]);
  // A tree without its ';' swallows the 'end;' that follows it.
  assertTreeError("#NEXUS\nbegin trees;\ntree t = (a:1,b:1)\nend;\n", ["line 2", "never ended"]);
  assertTreeError("#NEXUS\nbegin trees;\ntranslate 1 a, 1 b;\ntree t = (1:1,2:1);\nend;", [
    "line 3",
    "translate key '1' appears twice",
  ]);
  assertTreeError("#NEXUS\nbegin trees;\ntranslate 1 a 2 b;\ntree t = (1:1,2:1);\nend;", [
    "expected ',' or ';'",
  ]);
  assertTreeError("#NEXUS\nbegin trees;\ntree t (a:1,b:1);\nend;", ["must be followed by '='"]);
  // Two tips translated to the same name.
  assertTreeError("#NEXUS\nbegin trees;\ntranslate 1 a, 2 a;\ntree t = (1:1,2:1);\nend;", [
    "tip name 'a' appears twice",
    "line 4, column 11",
  ]);
  // Errors inside the tree are located in the whole file.
  assertTreeError("#NEXUS\nbegin trees;\n\ntree t = (a:1,\n  b:-1);\nend;", [
    "line 5, column 5",
    "negative branch length",
  ]);
  assertTreeError("#NEXUS\nbegin trees; [never closed\n", ["line 2", "never closed"]);
});

Deno.test("newick files: several trees need an index; comments and blanks may follow ';'", () => {
  const three = "(a:1,b:1);\n(a:2,b:1);[second]\n\n(a:3,b:1);\n[end]\n";
  assertTreeError(three, ["holds 3 trees", "from 1 to 3"]);
  for (const k of [1, 2, 3]) {
    const got = parseTreeFile(three, "three.nwk", { treeIndex: k });
    assert.equal(got.format, "newick");
    assert.equal(got.treeCount, 3);
    assert.equal(got.tree.branchLength[0], k);
  }
  assertTreeError(three, ["no tree 4"], 4);
  // One tree with a comment after the ';' (and an index of 1 is fine).
  assert.equal(parseTreeFile("(a:1,b:1);[c]\n", "one.nwk", { treeIndex: 1 }).treeCount, 1);
  // Junk after the ';' is not a second tree.
  assertTreeError("(a:1,b:1); junk", ["text after the ';'"]);
  // Quoted labels and comments may hold ';'.
  const quoted = parseTreeFile("('a;1':1,[;]b:1);", "q.nwk");
  assert.deepEqual(quoted.tree.tipNames, ["a;1", "b"]);
});

Deno.test("readTree: gzip-compressed Nexus and Newick, with the digest of the stored bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nexus_test_" });
  try {
    const text = await Deno.readTextFile(path("isolates_beast.trees"));
    const packed = await new Response(
      new Blob([new TextEncoder().encode(text)]).stream().pipeThrough(
        new CompressionStream("gzip"),
      ),
    ).bytes();
    // No .gz in the name: the magic number decides.
    await Deno.writeFile(`${dir}/run.trees`, packed);
    const { tree, input, notices } = await readTree(`${dir}/run.trees`, { treeIndex: 2 });
    assert.deepEqual(shape(tree), shape(parseTreeFile(text, "x", { treeIndex: 2 }).tree));
    assert.equal(input.bytes, packed.length);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", packed));
    assert.equal(input.sha256, Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
    assert.equal(notices.length, 1);
    assert.ok(notices[0].includes("holds 2 trees; read tree 2 ('STATE_1000')"), notices[0]);
    await Deno.writeFile(`${dir}/t.nwk.gz`, packed.subarray(0, packed.length - 9));
    await assert.rejects(
      () => readTree(`${dir}/t.nwk.gz`),
      (e: unknown) =>
        e instanceof GenecontentError && e.message.includes("cannot be decompressed") &&
        e.message.includes("t.nwk.gz"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
