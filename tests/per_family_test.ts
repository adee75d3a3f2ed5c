// Per-family views of per-pattern values, checked against evaluating every family on its own
// (no merging of identical columns) and against counting the PAM's cells directly.
import assert from "node:assert/strict";
import { GenecontentError } from "../lib/errors.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { GainLossLikelihood } from "../lib/likelihood/gain_loss_likelihood.ts";
import {
  familyCounts,
  impossibleFamilies,
  perFamilyMap,
  perFamilyTable,
  perFamilyValues,
  refuseImpossible,
  refuseNonFinite,
} from "../lib/likelihood/per_family.ts";
import { parseNewick } from "../lib/newick/parse.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";

const tree = parseNewick(
  "(((t0:0.1,t1:0.3):0.2,(t2:0.05,t3:0.4):0.1):0.15,((t4:0.2,t5:0.1):0.3,(t6:0.25,t7:0.6):0.05):0.1);",
  "test.nwk",
);
const nTips = tree.nTips;

/** A seeded PAM of 60 families in tree tip order, with repeated columns and missing cells. */
function randomRows(seed: number): { rows: Uint8Array; names: string[] } {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const nFamilies = 60;
  const rows = new Uint8Array(nFamilies * nTips);
  for (let f = 0; f < nFamilies; f++) {
    if (f >= 20 && next() < 0.5) {
      // Copy an earlier family: merged patterns must still give every family its own value.
      const g = Math.floor(next() * f);
      rows.copyWithin(f * nTips, g * nTips, (g + 1) * nTips);
      continue;
    }
    for (let i = 0; i < nTips; i++) {
      const u = next();
      rows[f * nTips + i] = u < 0.1 ? 2 : u < 0.5 ? 1 : 0;
    }
    rows[f * nTips + Math.floor(next() * nTips)] = 1; // at least one present
  }
  return { rows, names: Array.from({ length: nFamilies }, (_, f) => `fam_${f}`) };
}

// Each family evaluated alone runs the same pruning arithmetic on the same column as its merged
// pattern; only the order of nothing-but-identical operations can differ, so 1e-12 relative is
// rounding headroom, far below any difference a wrong pattern would make (>1e-3 here).
const SAME_ARITHMETIC = 1e-12;

for (const minPresent of [0, 1, 2]) {
  Deno.test(`per-family values equal each family evaluated alone (minPresent ${minPresent})`, () => {
    const { rows, names } = randomRows(7 + minPresent);
    const patterns = compressPatterns(rows, names.length, nTips, names);
    assert.ok(patterns.nPatterns < names.length, "the data have merged columns");
    using lik = new GainLossLikelihood(tree, patterns, tsBackendFactory, { minPresent });
    const value = lik.evaluate(0.4, 1.3);
    const byName = perFamilyMap(patterns, value.perPattern);
    const values = perFamilyValues(patterns, value.perPattern);
    assert.deepEqual([...byName.keys()], names, "the map iterates in family order");
    let sum = 0;
    names.forEach((name, f) => {
      const single = compressPatterns(rows.slice(f * nTips, (f + 1) * nTips), 1, nTips, [name]);
      using alone = new GainLossLikelihood(tree, single, tsBackendFactory, { minPresent });
      const expected = alone.evaluate(0.4, 1.3).logLik;
      const got = byName.get(name)!;
      assert.ok(
        Math.abs(got - expected) <= SAME_ARITHMETIC * Math.abs(expected),
        `${name}: ${got} vs ${expected}`,
      );
      assert.equal(values[f], got);
      sum += got;
    });
    // The total is a weighted sum over patterns, the per-family sum a plain sum: the same
    // numbers added in another order, so a few ulps of a total around -300.
    assert.ok(Math.abs(sum - value.logLik) <= 1e-12 * Math.abs(value.logLik));
  });
}

Deno.test("present and observed counts equal direct counts of the cells", () => {
  const { rows, names } = randomRows(11);
  const patterns = compressPatterns(rows, names.length, nTips, names);
  const counts = familyCounts(patterns);
  const table = perFamilyTable(patterns, new Float64Array(patterns.nPatterns).map((_, p) => -p));
  for (let f = 0; f < names.length; f++) {
    const row = rows.subarray(f * nTips, (f + 1) * nTips);
    const present = row.filter((x) => x === 1).length;
    const observed = row.filter((x) => x !== 2).length;
    assert.equal(counts.present[f], present, names[f]);
    assert.equal(counts.observed[f], observed, names[f]);
    assert.equal(table.present[f], present);
    assert.equal(table.observed[f], observed);
    assert.equal(table.family[f], names[f]);
    assert.equal(table.value[f], -patterns.familyPattern[f]);
  }
});

Deno.test("values of the wrong length are refused with a message saying so", () => {
  const patterns = compressPatterns(new Uint8Array([1, 0, 0, 1, 1, 0]), 3, 2, ["a", "b", "c"]);
  assert.throws(
    () => perFamilyMap(patterns, [1, 2, 3]),
    (e) => e instanceof GenecontentError && /3 entries, but the patterns number 2/.test(e.message),
  );
});

Deno.test("families impossible on zero-length branches are found from the cells and refused", () => {
  // t0 and t1 are joined by zero-length branches (through their parent), so they always share
  // their state: a family present in one and absent in the other has probability 0.
  const zeroCherry = parseNewick("((t0:0,t1:0):0.5,(t2:0.4,t3:0):0.2);", "zero.nwk");
  const rows = new Uint8Array([
    1,
    1,
    0,
    0, // fine
    1,
    0,
    1,
    1, // impossible: t0 present, t1 absent
    0,
    0,
    1,
    1, // fine
    2,
    1,
    0,
    1, // fine: t0 missing
    0,
    1,
    1,
    0, // impossible, and t2/t3 differ on a non-zero path (fine on its own)
  ]);
  const patterns = compressPatterns(rows, 5, 4, ["ok1", "split1", "ok2", "ok3", "split2"]);
  const bad = impossibleFamilies(zeroCherry, patterns);
  assert.deepEqual(bad, [
    { family: "split1", genomes: ["t0", "t1"] },
    { family: "split2", genomes: ["t1", "t0"] },
  ]);
  assert.throws(
    () => refuseImpossible(zeroCherry, patterns, "zero.nwk"),
    (e) =>
      e instanceof GenecontentError &&
      /2 families have probability 0 at any rates on tree 'zero\.nwk'.*split1, split2\. .*split1 is present in t0 and absent in t1/
        .test(e.message),
  );
  // The likelihood agrees: exactly the flagged families are not finite (the TypeScript
  // backend gives NaN for them rather than -Infinity), the others are.
  using lik = new GainLossLikelihood(zeroCherry, patterns, tsBackendFactory);
  const perFamily = perFamilyMap(patterns, lik.evaluate(0.5, 1).perPattern);
  for (const [name, v] of perFamily) {
    assert.equal(Number.isFinite(v), !name.startsWith("split"), `${name}: ${v}`);
  }
  refuseImpossible(tree, compressPatterns(rows.slice(0, 8), 1, 8, ["x"]), "test.nwk");
});

Deno.test("a non-finite log-likelihood is never passed on: -Infinity is refused by family, NaN is internal", () => {
  const patterns = compressPatterns(new Uint8Array([1, 0, 0, 1, 1, 1]), 3, 2, ["a", "b", "c"]);
  const perPattern = Float64Array.of(Number.NEGATIVE_INFINITY, -1, -2);
  assert.equal(patterns.nPatterns, 3);
  assert.throws(
    () => refuseNonFinite(patterns, perPattern, "at gain 0.5, loss 1"),
    (e) =>
      e instanceof GenecontentError &&
      /1 family has probability 0 at gain 0\.5, loss 1 \(logLik -Infinity\): a\./.test(e.message),
  );
  assert.throws(
    () => refuseNonFinite(patterns, Float64Array.of(-1, Number.NaN, -1), "here"),
    (e) =>
      !(e instanceof GenecontentError) && /Pattern 1 has log-likelihood NaN here/.test(String(e)),
  );
  refuseNonFinite(patterns, Float64Array.of(-1, -2, -3), "here");
});
