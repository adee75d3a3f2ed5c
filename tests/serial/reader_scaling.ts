/**
 * Reader scaling checks: inputs that a damaged file holds (long runs of digits, quotes,
 * brackets, delimiters) must be read or refused in linear time. These compare the times of two
 * input sizes, so they run alone after the parallel suite (`deno task test` names this file
 * explicitly; it is outside the `*_test.ts` pattern so that the parallel run does not pick it up).
 * @module
 */
import assert from "node:assert/strict";
import { GenecontentError } from "../../lib/errors.ts";
import { parseNewick } from "../../lib/newick/parse.ts";
import { parseTreeFile } from "../../lib/newick/nexus.ts";
import { parsePamBytes, readPamWithDigest } from "../../lib/pam/read.ts";

const enc = new TextEncoder();

/**
 * Runs `read` on the input for size `n`: it must return or throw a GenecontentError whose
 * message is one line of bounded length (values in messages are cut, never echoed whole).
 */
function attempt(read: () => unknown): void {
  try {
    read();
  } catch (e) {
    if (!(e instanceof GenecontentError)) throw e;
    assert.ok(e.message.length < 1500, `message of ${e.message.length} characters`);
    assert.ok(!e.message.includes("\n"), `message spans lines: ${e.message.slice(0, 200)}`);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median time (ms) of `runs` runs of `fn`. */
function timeOf(fn: () => void, runs = 3): number {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/**
 * Asserts linear scaling: the size n is doubled from `start` until one run takes at least
 * 10 ms (so that timer resolution and call overhead do not dominate), then the fastest of three
 * runs at 16n must be below 64x the fastest of three at n. Linear work gives about 16x;
 * quadratic work gives 256x. The bound sits halfway (on a log scale) between them, leaving a
 * factor of 4 in either direction for what a shared, loaded 2-core machine does to single runs
 * (the garbage collector, JIT tiers, other tests running in parallel). Each input is built once
 * before it is timed.
 */
function assertLinear(name: string, make: (n: number) => () => void, start = 4096): void {
  let n = start;
  let run = make(n);
  attempt(run); // warm-up (JIT), and the message check
  let t = timeOf(() => attempt(run));
  while (t < 10 && n < 1 << 22) {
    n *= 2;
    run = make(n);
    attempt(run);
    t = timeOf(() => attempt(run));
  }
  const big = make(16 * n);
  // Both sizes run as often before they are timed, so that neither is timed in colder code.
  for (let i = 0; i < 2; i++) {
    attempt(big);
    attempt(run);
  }
  // The two sizes are timed alternately, and each keeps its fastest run: load from other
  // processes only ever adds time, so the minima are the least disturbed estimates, and
  // alternating keeps a burst of load from falling on one size only. A ratio above the bound
  // is measured again, up to five rounds: quadratic work exceeds it in every round, while a
  // round disturbed by other work is followed by a calmer one.
  let t16 = Infinity;
  for (let round = 0; round < 5; round++) {
    let tMin = Infinity;
    t16 = Infinity;
    for (let i = 0; i < 3; i++) {
      tMin = Math.min(tMin, timeOf(() => attempt(run), 1));
      t16 = Math.min(t16, timeOf(() => attempt(big), 1));
    }
    t = tMin;
    if (t16 < 64 * t) break;
  }
  assert.ok(
    t16 < 64 * t,
    `${name}: ${t16.toFixed(1)} ms at n = ${16 * n} against ${t.toFixed(1)} ms at n = ${n} ` +
      `(ratio ${(t16 / t).toFixed(1)} in five rounds; linear is about 16, quadratic 256)`,
  );
}

const newick = (build: (n: number) => string) => (n: number) => {
  const text = build(n);
  return () => parseNewick(text, "fuzz.nwk");
};
const treeFile = (build: (n: number) => string) => (n: number) => {
  const text = build(n);
  return () => parseTreeFile(text, "fuzz.tree");
};
const pam = (build: (n: number) => string, taxa?: string[]) => (n: number) => {
  const bytes = enc.encode(build(n));
  return () => parsePamBytes(bytes, "fuzz.tsv", { taxa, orientation: "auto" });
};

const names = (n: number, prefix = "t") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

Deno.test("readers: Newick runs of digits, quotes, brackets, parentheses and commas scale linearly", () => {
  // Each input is the kind a damaged or unexpected file holds; most are refused, some read.
  assertLinear("digits then junk", newick((n) => `(a:${"1".repeat(n)}x,b:1);`));
  assertLinear(
    "digits, dot, digits, junk",
    newick((n) => `(a:${"1".repeat(n)}.${"2".repeat(n)}e;`),
  );
  assertLinear("long exponent", newick((n) => `(a:1e${"5".repeat(n)}x,b:1);`));
  assertLinear("long label", newick((n) => `(${"a".repeat(n)}:1,b:1);`));
  assertLinear("doubled quotes", newick((n) => `('${"''".repeat(n)}':1,b:1);`));
  assertLinear("unclosed quote", newick((n) => `('${"a".repeat(n)}`));
  assertLinear("nested comment", newick((n) => `${"[".repeat(n)}${"]".repeat(n)}(a:1,b:1);`));
  assertLinear("unclosed comments", newick((n) => `(a:1,b:1${"[".repeat(n)}`));
  assertLinear("deep parentheses", newick((n) => `${"(".repeat(n)}a:1${"):1".repeat(n)};`));
  assertLinear("unclosed parentheses", newick((n) => "(".repeat(n)));
  assertLinear("commas", newick((n) => `(${names(n / 8).map((x) => `${x}:1`).join(",")});`));
  assertLinear("empty tips", newick((n) => `(${",".repeat(n)});`));
  assertLinear(
    "duplicate 1 MB-scale label",
    newick((n) => `(${"A".repeat(n)}:1,${"A".repeat(n)}:1);`),
  );
  assertLinear("comments after ';'", newick((n) => `(a:1,b:1);${"[x]".repeat(n)}`));
});

Deno.test("readers: Nexus and multi-tree files scale linearly", () => {
  assertLinear(
    "translate table",
    treeFile((n) => {
      const k = Math.max(2, Math.floor(n / 16));
      const entries = names(k, "").map((x) => `${x} 'taxon ${x}'`).join(",\n");
      return `#NEXUS\nbegin trees;\ntranslate ${entries};\ntree t = (0:1,1:1);\nend;\n`;
    }),
  );
  assertLinear(
    "many trees with an index",
    (n) => {
      const k = Math.max(2, Math.floor(n / 32));
      const text = `#NEXUS\nbegin trees;\n${
        Array.from({ length: k }, (_, i) => `tree s${i} = [&R] (a:1,b:${i + 1});`).join("\n")
      }\nend;\n`;
      return () => parseTreeFile(text, "fuzz.trees", { treeIndex: k });
    },
  );
  assertLinear(
    "digits in a Nexus tree",
    treeFile((n) => `#NEXUS\nbegin trees; tree t = (a:${"9".repeat(n)}q,b:1);\nend;\n`),
  );
  assertLinear(
    "unclosed Nexus comment",
    treeFile((n) => `#NEXUS\nbegin trees; [${"[".repeat(n)}`),
  );
  assertLinear(
    "unclosed Nexus quote",
    treeFile((n) => `#NEXUS\nbegin trees; tree '${"x".repeat(n)}`),
  );
  assertLinear(
    "skipped blocks",
    treeFile((n) =>
      `#NEXUS\nbegin data;\n${"matrix a ACGT;\n".repeat(Math.floor(n / 16))}end;\n` +
      "begin trees; tree t = (a:1,b:1); end;\n"
    ),
  );
  assertLinear(
    "Newick trees, one per line",
    (n) => {
      const text = "(a:1,b:1);\n".repeat(Math.max(2, Math.floor(n / 11)));
      return () => parseTreeFile(text, "fuzz.nwk", { treeIndex: 2 });
    },
  );
});

Deno.test("readers: PAM runs of delimiters, quotes, digits and long rows scale linearly", () => {
  assertLinear("long row of delimiters", pam((n) => `fam\ta\tb\nf1${"\t".repeat(n)}\n`), 8192);
  assertLinear(
    "doubled quotes in a field",
    pam((n) => `fam,a,b\n"${'""'.repeat(n)}",1,0\n`, ["a", "b"]),
  );
  assertLinear("unclosed quote", pam((n) => `fam,a,b\n"${"x".repeat(n)}\n`, ["a", "b"]));
  assertLinear("digits in a cell", pam((n) => `fam\ta\tb\nf1\t${"1".repeat(n)}x\t0\n`, ["a", "b"]));
  assertLinear(
    "many columns, trailing delimiter",
    pam((n) => {
      const t = names(Math.max(2, n / 4));
      return `Gene\t${t.join("\t")}\nf1\t${t.map(() => "1").join("\t")}\t\n`;
    }, ["t0"]),
  );
  assertLinear(
    "many rows",
    pam(
      (n) => "fam\ta\tb\n" + names(Math.max(1, n / 12), "f").map((f) => `${f}\t1\t0\n`).join(""),
      [
        "a",
        "b",
      ],
    ),
  );
  assertLinear(
    "long Roary-like header",
    pam((n) =>
      "Gene,Non-unique Gene name," +
      names(Math.max(1, n / 8), "x").join(",") + ",QC\ng,,1\n"
    ),
  );
  assertLinear("long non-UTF-8 run", (n) => {
    const bytes = new Uint8Array(n + 12).fill(0x61);
    bytes.set(enc.encode("fam\ta\tb\nf1\t"));
    bytes[bytes.length - 1] = 0xe9;
    return () => parsePamBytes(bytes, "latin1.tsv");
  });
});

Deno.test("readers: a long quoted field streamed in small chunks is read in linear time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "reader_scaling_" });
  try {
    // A record far longer than the chunk is re-scanned only when the window has doubled; with
    // a re-scan per chunk this would be quadratic (n / chunk scans of up to n bytes).
    const timeRead = async (n: number): Promise<number> => {
      const file = `${dir}/q${n}.csv`;
      await Deno.writeTextFile(file, `fam,a\n"${"x\n".repeat(n)}",1\n`);
      const ts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const { pam } = await readPamWithDigest(file, { orientation: "families-as-rows" }, {
          chunkBytes: 4096,
        });
        ts.push(performance.now() - t0);
        assert.equal(pam.families[0].length, 2 * n);
      }
      return median(ts);
    };
    await timeRead(1 << 14); // warm-up
    const n = 1 << 17;
    const t = await timeRead(n);
    const t4 = await timeRead(4 * n);
    // Same bound and reasoning as assertLinear.
    assert.ok(t4 < 8 * t, `${t4.toFixed(1)} ms at 4n against ${t.toFixed(1)} ms at n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readers: random byte soup never escapes as anything but a GenecontentError", () => {
  // Seeded soup of the characters the readers treat specially; any outcome is fine except a
  // crash, a non-GenecontentError or a message that is not one bounded line.
  let s = 0x9e3779b9;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const alphabet = [
    "(",
    ")",
    ",",
    ":",
    ";",
    "[",
    "]",
    "'",
    '"',
    "\t",
    "\n",
    "\r",
    "1",
    "0",
    "e",
    ".",
    "-",
    "a",
    " ",
    "?",
    "é",
    "#NEXUS\n",
    "begin trees;",
    "tree t =",
    "translate",
    "end;",
  ];
  for (let k = 0; k < 400; k++) {
    const length = 1 + Math.floor(rand() * 60);
    let text = "";
    for (let i = 0; i < length; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
    attempt(() => parseTreeFile(text, "soup.nwk"));
    attempt(() => parsePamBytes(enc.encode(text), "soup.tsv", { taxa: ["a", "1"] }));
  }
});
