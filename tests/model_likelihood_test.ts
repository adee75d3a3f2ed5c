// ModelLikelihood against brute-force enumeration (internal states, true tip states, categories,
// classes, the invariant class, tip error, completeness, missing data, windows), gradients
// against central finite differences, posterior shares, the five-genome contract values, the
// native backend against TypeScript, and refusals of parameters the data cannot inform.
import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import {
  bruteComponents,
  bruteError,
  bruteModelColumn,
  inWindow,
  recordedColumns,
} from "./support/brute_force_models.ts";
import { binary4, singleTip, withUnary } from "./support/small_trees.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { loadKernel, tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { NativeBackend } from "../lib/native/native_backend.ts";
import { type Ascertainment, parseModel } from "../lib/model/description.ts";
import { valuesFromNames } from "../lib/model/values.ts";
import { parseCompleteness } from "../lib/model/tip_error.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import { GenecontentError } from "../lib/errors.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";

// Enumeration and pruning both sum positive products exactly to a few ulps; logs of
// probabilities around 1e-3 agree to ~1e-14 absolute: 1e-12 leaves margin.
const BRUTE_TOL = 1e-12;

const NAMED: Record<string, Record<string, number>> = {
  "null": { gain: 0.4, loss: 1.3 },
  "gamma4": { gain: 0.4, loss: 1.3, alpha: 0.7 },
  "gamma3+inv": { gain: 0.6, loss: 0.9, alpha: 2.5, pInv: 0.15 },
  "mixture3": {
    gain1: 0.2,
    loss1: 0.5,
    gain2: 1.5,
    loss2: 2.5,
    gain3: 0.05,
    loss3: 3,
    split1: 0.3,
    split2: 0.6,
  },
  "null+error": { gain: 0.5, loss: 1.1, falsePresence: 0.04, falseAbsence: 0.12 },
  "gamma4+inv+error": {
    gain: 0.4,
    loss: 1.3,
    alpha: 0.5,
    pInv: 0.1,
    falsePresence: 0.03,
    falseAbsence: 0.08,
  },
  "mixture3+error": {
    gain1: 0.2,
    loss1: 0.5,
    gain2: 1.5,
    loss2: 2.5,
    gain3: 0.05,
    loss3: 3,
    split1: 0.3,
    split2: 0.6,
    falsePresence: 0.02,
    falseAbsence: 0.1,
  },
  "mixture2+inv+error": {
    gain1: 0.3,
    loss1: 0.8,
    gain2: 2,
    loss2: 1,
    split1: 0.4,
    pInv: 0.2,
    falsePresence: 0.05,
    falseAbsence: 0.07,
  },
};

const WINDOWS: Ascertainment[] = [
  { minPresent: 0, maxPresent: null },
  { minPresent: 1, maxPresent: null },
  { minPresent: 2, maxPresent: null },
  { minPresent: 1, maxPresent: 3 },
  { minPresent: 0, maxPresent: 3 },
];

/** Columns of a tree: all recorded columns, and those with tip 1 missing. */
function columnsOf(tree: FlatTree): number[][] {
  const n = tree.nTips;
  const full = recordedColumns(new Array(n).fill(1));
  const gap = recordedColumns(Array.from({ length: n }, (_, i) => (i === 1 ? 0 : 1)));
  return [...full, ...gap];
}

function likelihoodFor(
  tree: FlatTree,
  cols: number[][],
  model: string,
  window: Ascertainment,
  completeness: Float64Array | null = null,
) {
  const rows = new Uint8Array(cols.flat());
  const patterns = compressPatterns(rows, cols.length, tree.nTips, cols.map((_, i) => `f${i}`));
  return new ModelLikelihood(tree, patterns, tsBackendFactory, parseModel(model), window, {
    completeness,
  });
}

Deno.test("every model and window equals brute-force enumeration per family, with posteriors", () => {
  for (const tree of [binary4(), withUnary()]) {
    for (const [name, named] of Object.entries(NAMED)) {
      const model = parseModel(name);
      const values = valuesFromNames(model, named);
      for (const window of WINDOWS) {
        const cols = columnsOf(tree).filter((c) => inWindow(c, window));
        // +inv without error needs a column present in every observed genome.
        using lik = likelihoodFor(tree, cols, name, window);
        const v = lik.evaluate(values, false, { posterior: true });
        const comps = bruteComponents(model, values);
        const err = bruteError(model, values, tree.nTips, null);
        const nComp = comps.length;
        assert.equal(lik.componentNames.length, nComp);
        let total = 0;
        cols.forEach((col, f) => {
          const p = lik.patterns.familyPattern[f];
          const ref = bruteModelColumn(tree, col, comps, err, window);
          const what = `${name} [${window.minPresent}, ${window.maxPresent}] ${col.join("")}`;
          assertClose(v.perPattern[p], ref.logLik, BRUTE_TOL, what);
          assertClose(
            v.posterior!.subarray(p * nComp, (p + 1) * nComp),
            ref.posterior,
            1e-12,
            what,
          );
          total += ref.logLik;
        });
        assertClose(v.logLik, total, BRUTE_TOL, `${name} total`);
      }
    }
  }
});

Deno.test("completeness with and without +error equals brute force", () => {
  const tree = binary4();
  const completeness = Float64Array.of(0.9, 1, 0.75, 0.95);
  for (const name of ["null", "gamma4+inv", "gamma4+inv+error", "mixture3+error"]) {
    const model = parseModel(name);
    const values = valuesFromNames(model, NAMED[name] ?? { ...NAMED["gamma3+inv"], alpha: 0.6 });
    for (const window of WINDOWS.slice(0, 4)) {
      const cols = columnsOf(tree).filter((c) => inWindow(c, window));
      using lik = likelihoodFor(tree, cols, name, window, completeness);
      const v = lik.evaluate(values);
      const comps = bruteComponents(model, values);
      const err = bruteError(model, values, tree.nTips, [...completeness]);
      cols.forEach((col, f) => {
        const ref = bruteModelColumn(tree, col, comps, err, window);
        assertClose(
          v.perPattern[lik.patterns.familyPattern[f]],
          ref.logLik,
          // The pendant branch of a complete genome without +error has a false-presence
          // probability of 2^-700 instead of 0 (backends need rates > 0): invisible here.
          BRUTE_TOL,
          `${name} completeness [${window.minPresent}, ${window.maxPresent}] ${col.join("")}`,
        );
      });
    }
  }
});

Deno.test("gradients of every model equal central finite differences", () => {
  const tree = binary4();
  for (const [name, named] of Object.entries(NAMED)) {
    const model = parseModel(name);
    const values = valuesFromNames(model, named);
    for (const window of [WINDOWS[0], WINDOWS[1], WINDOWS[3]]) {
      const cols = columnsOf(tree).filter((c) => inWindow(c, window));
      for (const completeness of [null, Float64Array.of(0.9, 1, 0.8, 1)]) {
        using lik = likelihoodFor(tree, cols, name, window, completeness);
        const g = lik.evaluate(values, true).gradient!;
        const fd = Array.from(values, (x, i) => {
          // Relative step 1e-5: truncation ~h^2 f''' ~ 1e-10 relative, rounding ~1e-16 / 1e-5.
          const h = 1e-5 * x;
          const up = Float64Array.from(values), down = Float64Array.from(values);
          up[i] = x + h;
          down[i] = x - h;
          return (lik.evaluate(up).logLik - lik.evaluate(down).logLik) / (2 * h);
        });
        // Totals of ~40 families around -100: the differences carry ~1e-9 relative error.
        assertClose(g, fd, 2e-6, `${name} [${window.minPresent}, ${window.maxPresent}]`);
      }
    }
  }
});

Deno.test("five-genome contract: gamma4 alpha 0.5, corrected and uncorrected", async () => {
  const dir = new URL("./data/contract/", import.meta.url).pathname;
  const expected = JSON.parse(
    await Deno.readTextFile("/work/shared/contract/expected_models.json").catch(() =>
      Deno.readTextFile(`${dir}expected_models.json`)
    ),
  );
  const data = await loadDataset("/work/shared/contract/tree.nwk", "/work/shared/contract/pam.tsv");
  const model = parseModel("gamma4");
  const values = Float64Array.of(0.5, 1, 0.5);
  const e = expected["gamma4_alpha0.5"];
  for (
    const [window, want] of [
      [{ minPresent: 1, maxPresent: null }, e.logLik_corrected],
      [{ minPresent: 0, maxPresent: null }, e.logLik_uncorrected],
    ] as const
  ) {
    using lik = new ModelLikelihood(data.tree, data.patterns, tsBackendFactory, model, window);
    // The expected values come from an independent implementation printed to 17 digits.
    assertClose(lik.evaluate(values).logLik, want, 1e-12, `gamma4 min ${window.minPresent}`);
  }
});

Deno.test("the native backend gives the TypeScript numbers for every model", async () => {
  const { kernel, reasons } = await loadKernel();
  if (!kernel) throw new Error(`Native library not loadable: ${reasons.join("; ")}`);
  const native = {
    name: "native" as const,
    create: (t: FlatTree, s: Uint8Array, n: number) =>
      new NativeBackend(kernel, t, s, n, { threads: 1 }),
  };
  const tree = withUnary();
  for (const [name, named] of Object.entries(NAMED)) {
    const model = parseModel(name);
    const values = valuesFromNames(model, named);
    const cols = columnsOf(tree).filter((c) => inWindow(c, WINDOWS[1]));
    const patterns = compressPatterns(
      new Uint8Array(cols.flat()),
      cols.length,
      tree.nTips,
      cols.map((_, i) => `f${i}`),
    );
    using ts = new ModelLikelihood(tree, patterns, tsBackendFactory, model);
    using nat = new ModelLikelihood(tree, patterns, native, model);
    const a = ts.evaluate(values, true), b = nat.evaluate(values, true);
    // Two implementations of the same pruning, differing in summation order only.
    assertClose(b.perPattern, a.perPattern, 1e-10, `${name} per pattern`);
    assertClose(b.gradient!, a.gradient!, 1e-10, `${name} gradient`);
  }
});

Deno.test("parameters the data cannot inform are refused", () => {
  const tree = binary4();
  const cols = [[1, 0, 0, 1], [0, 1, 1, 1]];
  assert.throws(
    () => likelihoodFor(tree, cols, "gamma4+inv", WINDOWS[1]),
    (e: unknown) =>
      e instanceof GenecontentError && /pInv/.test(e.message) &&
      /\+error/.test(e.message),
  );
  // With +error, or completeness below 1 where the absences are, the invariant class can explain them.
  likelihoodFor(tree, cols, "gamma4+inv+error", WINDOWS[1])[Symbol.dispose]();
  likelihoodFor(tree, cols, "null+inv", WINDOWS[1], Float64Array.of(0.9, 0.9, 1, 1))
    [Symbol.dispose]();
  assert.throws(
    () => likelihoodFor(singleTip(), [[1]], "gamma4", WINDOWS[1]),
    (e: unknown) => e instanceof GenecontentError && /length 0/.test(e.message),
  );
  assert.throws(
    () => likelihoodFor(tree, [[0, 0, 0, 1]], "null", { minPresent: 2, maxPresent: 3 }),
    (e: unknown) =>
      e instanceof GenecontentError && /f0/.test(e.message) && /window/.test(e.message),
  );
  // falsePresence + a genome's false absence must stay below 1.
  using lik = likelihoodFor(tree, cols, "null+error", WINDOWS[1], Float64Array.of(0.1, 1, 1, 1));
  assert.throws(
    () => lik.evaluate(Float64Array.of(0.5, 1, 0.3, 0.4)),
    (e: unknown) => e instanceof GenecontentError && /t0/.test(e.message),
  );
});

Deno.test("completeness files: names and values are checked", () => {
  const genomes = ["a", "b"];
  assert.deepEqual([...parseCompleteness("a,0.5\nb,1\n", "c.csv", genomes)], [0.5, 1]);
  for (
    const [text, pattern] of [
      ["a\t0.5\nb\t1\nzz\t0.9\n", /zz/],
      ["a\t95.2\nb\t1\n", /line 1.*'a'.*divide a CheckM percentage/],
      ["a\t0\nb\t1\n", /'a'.*\(0, 1\]/],
      ["a\t0.5\n", /no value for 1 genome: b/],
      ["a\t0.5\na\t0.6\nb\t1\n", /line 2.*second time/],
    ] as const
  ) {
    assert.throws(
      () => parseCompleteness(text, "c.tsv", genomes),
      (e: unknown) =>
        e instanceof GenecontentError && pattern.test(e.message) &&
        /c\.tsv/.test(e.message),
      text,
    );
  }
});
