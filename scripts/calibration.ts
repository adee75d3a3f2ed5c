/**
 * Calibration of the effect tests: do their p-values, intervals and power mean what they say?
 *
 * Every data set here is simulated under known truth on the bundled example's tree
 * (`examples/tree.nwk`, 200 genomes) with the null model fitted to the bundled example
 * (`examples/pam.tsv`) as the background, at the example's size (5,000 families, each present
 * in at least one genome), by `simulateModel` (`lib/simulate/model.ts`), and tested by the
 * project's own code paths: `testEffects` (`lib/effects/likelihood_ratio.ts`) for the
 * family-set effect and `screenFamilies` (`lib/effects/screen.ts`) for the per-family screen.
 *
 * - (a) Under the null, the set-effect LRT of a random set of 50 families (its loss multiplier)
 *   rejects at alpha = 0.05 for the two-sided and each one-sided alternative; each rate must lie
 *   inside the central binomial 99% interval of Binomial(replicates, 0.05) / replicates.
 * - (b) Under the null, the per-family screen: the share of families with p < 0.05 (asymptotic
 *   and calibrated p) overall and per prevalence class (`screenClass`), which must not exceed
 *   the upper end of the binomial 99% interval of its class size, and the share with q < 0.1.
 * - (c) The coverage of the 95% profile intervals of theta (truth 0) over the replicates of (a).
 * - (d) Power: rejection rate at 0.05 (two-sided) for exp(theta) x set size.
 * - Known-truth recovery: a set with exp(theta) = 3 on its loss, a clade with a loss multiplier.
 *
 * `deno task calibration` runs everything and writes `validation/calibration.json` and
 * `validation/calibration.md`; `--quick` runs a small version (for trying it out), and
 * `--replicates`, `--power-replicates`, `--screen-datasets`, `--recovery-replicates` change the
 * counts (0 skips a part), `--families N` the data sets' size, `--alpha A` makes the background
 * gamma4 (the example's fitted gain and loss, alpha A), `--name NAME` the output files'
 * base name, `--note TEXT` (repeatable) adds a line to the page's "Notes", and
 * `--render FILE.json` rewrites the Markdown of a finished run, `--rerun-screen FILE.json` reruns
 * only its screen (b) with its options and rewrites both files. The run is sequential; the
 * native kernel uses `--threads` threads (default 1).
 *
 * @module
 */

import { basename } from "node:path";
import { GenecontentError } from "../lib/errors.ts";
import { chiSquareQuantile } from "../lib/fit/chi_square.ts";
import { fitModelLikelihood } from "../lib/fit/fit_model.ts";
import { type BackendFactory, chooseBackend } from "../lib/likelihood/choose_backend.ts";
import { AT_LEAST_ONE, ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { loadDataset } from "../lib/load_dataset.ts";
import {
  type Ascertainment,
  formatModel,
  type ModelDescription,
  modelParameters,
  parseModel,
} from "../lib/model/description.ts";
import type { Effect, EffectSetup } from "../lib/model/effects.ts";
import { compressPatterns, type SitePatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { simulatedFamilyName } from "../lib/simulate/pam_tsv.ts";
import { Random } from "../lib/simulate/random.ts";
import type { FlatTree } from "../lib/tree/flat_tree.ts";
import { VERSION } from "../lib/version.ts";
import { type Alternative, testEffects } from "../lib/effects/likelihood_ratio.ts";
import { type ScreenBackground, screenFamilies } from "../lib/effects/screen.ts";
import { SCREEN_CLASSES } from "../lib/diagnostics/prevalence_classes.ts";
import { cladeDesign } from "../lib/effects/branches.ts";

/** The nominal level of every rejection rate here. */
export const ALPHA = 0.05;
/** The level of the binomial intervals the rates are judged by. */
export const INTERVAL_LEVEL = 0.99;

/** Log of the binomial coefficient by a sum of logs (exact enough for n up to 10^6). */
function logBinomialPmf(n: number, k: number, p: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log((n - k + i) / i);
  return s + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

/**
 * The central `level` interval of the rate K / n for K ~ Binomial(n, p): [lo / n, hi / n] with
 * lo the smallest k with P(K <= k) >= (1 - level) / 2 and hi the smallest k with P(K <= k) >=
 * (1 + level) / 2.
 *
 * @example
 * ```ts
 * import { binomialInterval } from "./calibration.ts";
 * const [lo, hi] = binomialInterval(1000, 0.05, 0.99);
 * console.assert(lo === 0.033 && hi === 0.069);
 * ```
 */
export function binomialInterval(n: number, p: number, level: number): [number, number] {
  if (!(Number.isInteger(n) && n >= 1 && p > 0 && p < 1 && level > 0 && level < 1)) {
    throw new GenecontentError(`binomialInterval needs n >= 1 and p, level in (0, 1).`);
  }
  const lowTail = (1 - level) / 2, highTail = (1 + level) / 2;
  let cdf = 0, lo = -1, hi = -1;
  for (let k = 0; k <= n; k++) {
    cdf += Math.exp(logBinomialPmf(n, k, p));
    if (lo < 0 && cdf >= lowTail) lo = k;
    if (cdf >= highTail) {
      hi = k;
      break;
    }
  }
  if (hi < 0) hi = n;
  return [lo / n, hi / n];
}

/** P(K <= k) for K ~ Binomial(n, p). */
function binomialCdf(n: number, k: number, p: number): number {
  let cdf = 0;
  for (let i = 0; i <= k; i++) cdf += Math.exp(logBinomialPmf(n, i, p));
  return Math.min(1, cdf);
}

/**
 * The exact (Clopper-Pearson) `level` confidence interval of a binomial rate from k successes
 * in n trials: [p_L, p_U] with P(K >= k | p_L) = P(K <= k | p_U) = (1 - level) / 2 (0 and 1 at
 * k = 0 and k = n), by bisection to 1e-9.
 *
 * @example
 * ```ts
 * import { clopperPearson } from "./calibration.ts";
 * const [lo, hi] = clopperPearson(0, 100, 0.99);
 * console.assert(lo === 0 && Math.abs(hi - (1 - 0.005 ** (1 / 100))) < 1e-8);
 * ```
 */
export function clopperPearson(k: number, n: number, level: number): [number, number] {
  const tail = (1 - level) / 2;
  const solve = (f: (p: number) => number) => {
    // f decreases in p from positive to negative.
    let lo = 0, hi = 1;
    for (let i = 0; i < 60; i++) {
      const mid = (lo + hi) / 2;
      if (f(mid) > 0) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  const low = k === 0 ? 0 : solve((p) => tail - (1 - binomialCdf(n, k - 1, p)));
  const high = k === n ? 1 : solve((p) => binomialCdf(n, k, p) - tail);
  return [low, high];
}

/** Where the data sets are simulated: tree, background model and values, size, window. */
export interface CalibrationSetting {
  /** The tree. */
  readonly tree: FlatTree;
  /** Where the tree came from, for the tables. */
  readonly treeSource: string;
  /** The background model. */
  readonly model: ModelDescription;
  /** Its values (natural scale). */
  readonly values: Float64Array;
  /** Families per data set. */
  readonly nFamilies: number;
  /** The prevalence window. */
  readonly window: Ascertainment;
  /** The pruning backend. */
  readonly factory: BackendFactory;
}

/**
 * The fitted background of a data set: `model` fitted by maximum likelihood to the tree and PAM
 * (at least one present genome per family).
 */
export async function fittedBackground(
  treePath: string,
  pamPath: string,
  model: ModelDescription,
  factory: BackendFactory,
): Promise<{ tree: FlatTree; values: Float64Array; nFamilies: number; logLik: number }> {
  const data = await loadDataset(treePath, pamPath);
  using lik = new ModelLikelihood(data.tree, data.patterns, factory, model, AT_LEAST_ONE);
  const fit = fitModelLikelihood(lik, { level: null });
  return {
    tree: data.tree,
    values: fit.values.slice(0, modelParameters(model).length),
    nFamilies: data.patterns.familyNames.length,
    logLik: fit.logLik,
  };
}

/** The set effect tested here: a multiplier exp(theta) on the loss rate of set 0. */
export const SET_LOSS_EFFECT: Effect = {
  name: "theta",
  description: "log multiplier of the set's loss rate",
  channel: "loss",
  sets: [0],
  design: null,
};

/** `size` distinct families of `nFamilies`, drawn uniformly, as set 0 (the rest in no set). */
export function randomSet(rng: Random, nFamilies: number, size: number): Int32Array {
  if (!(Number.isInteger(size) && size >= 1 && size < nFamilies)) {
    throw new GenecontentError(`A set needs 1 to ${nFamilies - 1} families; got ${size}.`);
  }
  const ofFamily = new Int32Array(nFamilies).fill(-1);
  // Partial Fisher-Yates: the first `size` entries of a shuffled index.
  const index = Int32Array.from({ length: nFamilies }, (_, i) => i);
  for (let i = 0; i < size; i++) {
    const j = i + rng.int(nFamilies - i);
    const t = index[i];
    index[i] = index[j];
    index[j] = t;
    ofFamily[index[i]] = 0;
  }
  return ofFamily;
}

/** One simulated data set with the effect setup its truth used. */
export interface SimulatedData {
  readonly patterns: SitePatterns;
  readonly setup: EffectSetup;
}

/**
 * A data set of `setting` under the background with `effect` at `theta` (the set's families,
 * or the design's branches, at the multiplied rate): with a set effect, the set is `setSize`
 * random families.
 */
export function simulateData(
  setting: CalibrationSetting,
  effect: Effect,
  theta: number,
  setSize: number,
  rng: Random,
): SimulatedData {
  const n = setting.nFamilies;
  const setup: EffectSetup = effect.sets === null
    ? { effects: [effect], groups: null }
    : { effects: [effect], groups: { sets: ["set"], ofFamily: randomSet(rng, n, setSize) } };
  const sim = simulateModel(setting.tree, setting.model, setting.values, {
    nFamilies: n,
    rng,
    ascertainment: setting.window,
    effects: setup,
    effectValues: [theta],
  });
  const names = Array.from({ length: n }, (_, f) => simulatedFamilyName(f, n));
  return { patterns: compressPatterns(sim.states, n, setting.tree.nTips, names), setup };
}

/** What one replicate's tests gave. */
export interface EffectReplicate {
  /** theta-hat. */
  readonly theta: number;
  /** The two-sided LRT statistic. */
  readonly lrt: number;
  /** p of each alternative. */
  readonly p: Readonly<Record<Alternative, number>>;
  /** The profile interval of theta (null when intervals were skipped). */
  readonly interval: readonly [number, number] | null;
  /** Whether each end of the interval is open. */
  readonly open: readonly [boolean, boolean];
}

/**
 * Tests one effect on one data set with `testEffects`: two-sided (with the profile interval at
 * `level`), then each one-sided alternative from the same two fits.
 */
export async function testReplicate(
  setting: CalibrationSetting,
  data: SimulatedData,
  level: number | null,
): Promise<EffectReplicate> {
  const input = {
    tree: setting.tree,
    patterns: data.patterns,
    factory: setting.factory,
    window: setting.window,
  };
  const two = await testEffects(input, setting.model, data.setup, {
    alternative: "two-sided",
    level,
  });
  const reuse = { nullFit: two.nullFit, altFit: two.altFit, level };
  const less = await testEffects(input, setting.model, data.setup, {
    ...reuse,
    alternative: "less",
  });
  const greater = await testEffects(input, setting.model, data.setup, {
    ...reuse,
    alternative: "greater",
  });
  const e = two.effects[0];
  return {
    theta: e.estimate,
    lrt: two.lrt,
    p: { "two-sided": two.p, less: less.p, greater: greater.p },
    interval: e.interval,
    open: e.open,
  };
}

/** A rate with what it is judged against. */
export interface RateRow {
  /** Section: a, b, c, d or recovery. */
  readonly section: string;
  /** What is counted, in words. */
  readonly name: string;
  /** Number of trials (replicates or families). */
  readonly trials: number;
  /** Number of events (rejections, intervals covering the truth, families below alpha). */
  readonly count: number;
  /** count / trials. */
  readonly rate: number;
  /** The nominal rate. */
  readonly nominal: number;
  /** The binomial interval at INTERVAL_LEVEL of the rate under the nominal rate. */
  readonly interval: readonly [number, number];
  /**
   * How the row is judged: `within` the interval, `atMost` its upper end (a test may be
   * conservative), or `report` (a measurement shown for information, e.g. a known limitation).
   */
  readonly check: "within" | "atMost" | "report";
  /** Whether the check holds (always true for `report`). */
  readonly pass: boolean;
}

/** A {@linkcode RateRow} from counts. */
export function rateRow(
  section: string,
  name: string,
  count: number,
  trials: number,
  nominal: number,
  check: RateRow["check"],
): RateRow {
  const interval = binomialInterval(trials, nominal, INTERVAL_LEVEL);
  const rate = count / trials;
  const pass = check === "report" ||
    (check === "within" ? rate >= interval[0] && rate <= interval[1] : rate <= interval[1]);
  return { section, name, trials, count, rate, nominal, interval, check, pass };
}

/** (a) and (c): rejection rates and coverage from null replicates. */
export function nullRows(replicates: readonly EffectReplicate[], setSize: number): RateRow[] {
  const n = replicates.length;
  const rows: RateRow[] = [];
  for (const alt of ["two-sided", "less", "greater"] as const) {
    const k = replicates.filter((r) => r.p[alt] < ALPHA).length;
    rows.push(
      rateRow("a", `set of ${setSize}, loss effect, ${alt}: p < ${ALPHA}`, k, n, ALPHA, "within"),
    );
  }
  const withInterval = replicates.filter((r) => r.interval !== null);
  if (withInterval.length > 0) {
    const covered = withInterval.filter((r) => r.interval![0] <= 0 && 0 <= r.interval![1]).length;
    rows.push(
      rateRow(
        "c",
        `set of ${setSize}: the 95% profile interval of theta covers the truth 0`,
        covered,
        withInterval.length,
        0.95,
        "within",
      ),
    );
  }
  return rows;
}

/** Writes a Markdown page and formats it with `deno fmt` (tables aligned as the repository's). */
async function writeMarkdown(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(path, text);
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!fmt.success) {
    throw new Error(`deno fmt ${path} failed: ${new TextDecoder().decode(fmt.stderr)}`);
  }
}

/** Progress on stderr. */
function say(message: string): void {
  console.error(`calibration: ${message}`);
}

/** (a), (c): `replicates` null data sets with a random set of `setSize`. */
export async function runNull(
  setting: CalibrationSetting,
  replicates: number,
  setSize: number,
  seed: number,
  level: number | null = 0.95,
): Promise<EffectReplicate[]> {
  const rng = new Random(seed);
  const out: EffectReplicate[] = [];
  const t0 = performance.now();
  for (let r = 0; r < replicates; r++) {
    const data = simulateData(setting, SET_LOSS_EFFECT, 0, setSize, rng);
    out.push(await testReplicate(setting, data, level));
    if ((r + 1) % 50 === 0) {
      say(
        `null replicate ${r + 1} of ${replicates} (${
          ((performance.now() - t0) / 1000).toFixed(0)
        } s)`,
      );
    }
  }
  return out;
}

/** One cell of the power table. */
export interface PowerCell {
  readonly multiplier: number;
  readonly setSize: number;
  readonly replicates: number;
  /** Two-sided rejections at ALPHA. */
  readonly rejections: number;
  readonly rate: number;
  /** The exact (Clopper-Pearson) 99% confidence interval of the rate. */
  readonly interval: readonly [number, number];
  /** Mean theta-hat over the replicates. */
  readonly meanTheta: number;
}

/** (d): two-sided rejection rates at ALPHA under exp(theta) = multiplier on the set's loss. */
export async function runPower(
  setting: CalibrationSetting,
  multipliers: readonly number[],
  setSizes: readonly number[],
  replicates: number,
  seed: number,
): Promise<PowerCell[]> {
  const rng = new Random(seed);
  const cells: PowerCell[] = [];
  for (const setSize of setSizes) {
    for (const m of multipliers) {
      let rejections = 0, sumTheta = 0;
      for (let r = 0; r < replicates; r++) {
        const data = simulateData(setting, SET_LOSS_EFFECT, Math.log(m), setSize, rng);
        const rep = await testReplicate(setting, data, null);
        if (rep.p["two-sided"] < ALPHA) rejections++;
        sumTheta += rep.theta;
      }
      const rate = rejections / replicates;
      cells.push({
        multiplier: m,
        setSize,
        replicates,
        rejections,
        rate,
        interval: clopperPearson(rejections, replicates, INTERVAL_LEVEL),
        meanTheta: sumTheta / replicates,
      });
      say(`power: set ${setSize}, exp(theta) ${m}: ${rejections} of ${replicates}`);
    }
  }
  return cells;
}

/** A known-truth recovery row. */
export interface RecoveryRow {
  readonly name: string;
  readonly nFamilies: number;
  readonly setSize: number | null;
  readonly branches: number | null;
  readonly trueTheta: number;
  readonly replicates: number;
  readonly meanTheta: number;
  /** Standard deviation of theta-hat over the replicates. */
  readonly sdTheta: number;
  readonly meanMultiplier: number;
  /** Replicates whose 95% interval covers the true theta. */
  readonly covered: number;
  /** Replicates rejecting theta = 0 (two-sided, ALPHA). */
  readonly rejected: number;
}

/** Recovery of a known effect over `replicates` data sets. */
export async function runRecovery(
  setting: CalibrationSetting,
  name: string,
  effect: Effect,
  theta: number,
  setSize: number,
  replicates: number,
  seed: number,
): Promise<RecoveryRow> {
  const rng = new Random(seed);
  const thetas: number[] = [];
  let covered = 0, rejected = 0;
  for (let r = 0; r < replicates; r++) {
    const data = simulateData(setting, effect, theta, setSize, rng);
    const rep = await testReplicate(setting, data, 0.95);
    thetas.push(rep.theta);
    if (rep.interval && rep.interval[0] <= theta && theta <= rep.interval[1]) covered++;
    if (rep.p["two-sided"] < ALPHA) rejected++;
  }
  const mean = thetas.reduce((a, b) => a + b, 0) / replicates;
  const sd = Math.sqrt(
    thetas.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, replicates - 1),
  );
  return {
    name,
    nFamilies: setting.nFamilies,
    setSize: effect.sets === null ? null : setSize,
    branches: effect.design === null ? null : effect.design.filter((x) => x !== 0).length,
    trueTheta: theta,
    replicates,
    meanTheta: mean,
    sdTheta: sd,
    meanMultiplier: thetas.reduce((a, b) => a + Math.exp(b), 0) / replicates,
    covered,
    rejected,
  };
}

/** (b): the per-family screen on null data sets. */
export interface ScreenSummary {
  readonly dataSets: number;
  readonly families: number;
  readonly calibration: number;
  /** Data sets with at least one family at q < 0.1 (calibrated p). */
  readonly dataSetsWithDiscoveries: number;
  readonly rows: RateRow[];
  readonly seconds: number;
}

/** Screens `dataSets` null data sets (loss channel), with `calibration` simulated families. */
export function runScreen(
  setting: CalibrationSetting,
  dataSets: number,
  calibration: number,
  seed: number,
): ScreenSummary {
  const rng = new Random(seed);
  const t0 = performance.now();
  type Tally = { n: number; asym: number; cal: number; q: number };
  const tally = new Map<string, Tally>();
  const add = (k: string, asym: boolean, cal: boolean, q: boolean) => {
    const t = tally.get(k) ?? { n: 0, asym: 0, cal: 0, q: 0 };
    t.n++;
    if (asym) t.asym++;
    if (cal) t.cal++;
    if (q) t.q++;
    tally.set(k, t);
  };
  let withDiscoveries = 0, families = 0;
  for (let d = 0; d < dataSets; d++) {
    const data = simulateData(setting, SET_LOSS_EFFECT, 0, 1, rng);
    using lik = new ModelLikelihood(
      setting.tree,
      data.patterns,
      setting.factory,
      setting.model,
      setting.window,
    );
    const fit = fitModelLikelihood(lik, { level: null });
    const background: ScreenBackground = {
      tree: setting.tree,
      model: setting.model,
      values: fit.values,
      window: setting.window,
      completeness: null,
      open: (patterns) =>
        new ModelLikelihood(setting.tree, patterns, setting.factory, setting.model, setting.window),
    };
    const result = screenFamilies(lik, data.patterns, background, {
      channel: "loss",
      calibration,
      seed: seed + 1 + d,
    });
    let any = false;
    for (const f of result.families) {
      const asym = f.pAsymptotic < ALPHA, cal = f.p < ALPHA, q = f.q < 0.1;
      any ||= q;
      add("all", asym, cal, q);
      add(f.prevalenceClass, asym, cal, q);
      families++;
    }
    if (any) withDiscoveries++;
    say(
      `screen data set ${d + 1} of ${dataSets} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
    );
  }
  const rows: RateRow[] = [];
  for (const k of ["all", ...SCREEN_CLASSES] as const) {
    const t = tally.get(k);
    if (!t) continue;
    const what = k === "all" ? "all families" : `${k} families`;
    rows.push(rateRow("b", `${what}: calibrated p < ${ALPHA}`, t.cal, t.n, ALPHA, "atMost"));
    rows.push(rateRow("b", `${what}: asymptotic p < ${ALPHA}`, t.asym, t.n, ALPHA, "report"));
    rows.push(rateRow("b", `${what}: q < 0.1 (calibrated p)`, t.q, t.n, 0.1, "atMost"));
  }
  return {
    dataSets,
    families,
    calibration,
    dataSetsWithDiscoveries: withDiscoveries,
    rows,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The clade used by the recovery row: the internal node whose clade is closest to `share`. */
export function cladeNear(tree: FlatTree, share: number): { taxa: string[]; node: number } {
  const tips: number[][] = Array.from({ length: tree.nNodes }, () => []);
  for (let i = 0; i < tree.nTips; i++) tips[i].push(i);
  for (let v = 0; v < tree.nNodes - 1; v++) {
    for (const t of tips[v]) tips[tree.parent[v]].push(t);
  }
  let best = -1;
  for (let v = tree.nTips; v < tree.nNodes - 1; v++) {
    const d = Math.abs(tips[v].length / tree.nTips - share);
    if (best < 0 || d < Math.abs(tips[best].length / tree.nTips - share)) best = v;
  }
  return { taxa: tips[best].map((t) => tree.tipNames[t]), node: best };
}

function withoutRows(s: ScreenSummary): Omit<ScreenSummary, "rows"> {
  const { rows: _rows, ...rest } = s;
  return rest;
}

/** Options of {@linkcode runCalibration}. */
export interface CalibrationOptions {
  readonly replicates: number;
  readonly setSize: number;
  readonly powerReplicates: number;
  readonly multipliers: readonly number[];
  readonly powerSetSizes: readonly number[];
  readonly screenDataSets: number;
  readonly screenCalibration: number;
  readonly recoveryReplicates: number;
  readonly seed: number;
}

/** Everything `validation/calibration.json` holds. */
export interface CalibrationReport {
  readonly tool: "genecontent";
  readonly version: string;
  readonly generated: string;
  readonly seconds: Readonly<Record<string, number>>;
  readonly backend: string;
  readonly threads: number;
  readonly setting: {
    readonly tree: string;
    readonly genomes: number;
    readonly families: number;
    readonly model: string;
    readonly values: Readonly<Record<string, number>>;
    readonly window: Ascertainment;
    readonly fittedTo: string;
  };
  readonly options: CalibrationOptions;
  readonly rows: RateRow[];
  readonly screen: Omit<ScreenSummary, "rows"> | null;
  readonly power: PowerCell[];
  readonly recovery: RecoveryRow[];
  /** theta-hat quantiles and LRT mean of the null replicates. */
  readonly nullSummary: {
    readonly replicates: number;
    readonly meanLrt: number;
    readonly thetaQuantiles: Readonly<Record<string, number>>;
    readonly openIntervals: number;
  };
}

/** Runs every part (see the module documentation). */
export async function runCalibration(
  setting: CalibrationSetting,
  options: CalibrationOptions,
  meta: { backend: string; threads: number; fittedTo: string },
): Promise<CalibrationReport> {
  const seconds: Record<string, number> = {};
  const time = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await f();
    seconds[name] = Math.round((performance.now() - t0) / 100) / 10;
    return out;
  };
  const t0 = performance.now();
  const nulls = await time(
    "null",
    () => runNull(setting, options.replicates, options.setSize, options.seed),
  );
  const rows = nullRows(nulls, options.setSize);
  const screen = options.screenDataSets > 0
    ? await time(
      "screen",
      () =>
        Promise.resolve().then(() =>
          runScreen(setting, options.screenDataSets, options.screenCalibration, options.seed + 1)
        ),
    )
    : null;
  if (screen) rows.push(...screen.rows);
  const power = options.powerReplicates === 0 ? [] : await time("power", () =>
    runPower(
      setting,
      options.multipliers,
      options.powerSetSizes,
      options.powerReplicates,
      options.seed + 2,
    ));
  const recovery: RecoveryRow[] = [];
  if (options.recoveryReplicates > 0) {
    const small: CalibrationSetting = { ...setting, nFamilies: 3000 };
    recovery.push(
      await time("recoverySet", () =>
        runRecovery(
          small,
          "set of 300 of 3,000 families, loss x 3",
          SET_LOSS_EFFECT,
          Math.log(3),
          300,
          options.recoveryReplicates,
          options.seed + 3,
        )),
    );
    const clade = cladeNear(setting.tree, 0.25);
    const design = cladeDesign(setting.tree, { taxa: clade.taxa }, true).design;
    const effect: Effect = {
      name: "thetaLoss[clade]",
      description: "log multiplier of the loss rate in the clade (with its stem)",
      channel: "loss",
      sets: null,
      design,
    };
    recovery.push(
      await time("recoveryClade", () =>
        runRecovery(
          setting,
          `clade of ${clade.taxa.length} genomes (with its stem), loss x 2, every family`,
          effect,
          Math.log(2),
          0,
          options.recoveryReplicates,
          options.seed + 4,
        )),
    );
  }
  seconds.total = Math.round((performance.now() - t0) / 100) / 10;
  const sortedTheta = nulls.map((r) => r.theta).sort((a, b) => a - b);
  const q = (p: number) =>
    sortedTheta[Math.min(sortedTheta.length - 1, Math.floor(p * sortedTheta.length))];
  const specs = modelParameters(setting.model);
  return {
    tool: "genecontent",
    version: VERSION,
    generated: new Date().toISOString(),
    seconds,
    backend: meta.backend,
    threads: meta.threads,
    setting: {
      tree: setting.treeSource,
      genomes: setting.tree.nTips,
      families: setting.nFamilies,
      model: formatModel(setting.model),
      values: Object.fromEntries(specs.map((p, i) => [p.name, setting.values[i]])),
      window: setting.window,
      fittedTo: meta.fittedTo,
    },
    options,
    rows,
    screen: screen ? withoutRows(screen) : null,
    power,
    recovery,
    nullSummary: {
      replicates: nulls.length,
      meanLrt: nulls.reduce((a, r) => a + r.lrt, 0) / nulls.length,
      thetaQuantiles: { "0.025": q(0.025), "0.5": q(0.5), "0.975": q(0.975) },
      openIntervals: nulls.filter((r) => r.open[0] || r.open[1]).length,
    },
  };
}

/** The 0.95 cut-off of the profile intervals (chi2_1 quantile), for the tables' text. */
export const PROFILE_CUTOFF = chiSquareQuantile(0.95, 1);

const fmt = (x: number, d = 3) => x.toFixed(d);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The Markdown page of a calibration report. */
export function renderMarkdown(
  r: CalibrationReport,
  notes: readonly string[] = [],
  name = "calibration",
): string {
  const s = r.setting;
  const o = r.options;
  const values = Object.entries(s.values).map(([k, v]) => `${k} = ${v.toPrecision(6)}`).join(", ");
  const lines: string[] = [
    `# Calibration of the effect tests${
      s.model === "null" ? "" : ` (${s.model} background, ${s.families} families)`
    }`,
    "",
    `Written by \`deno task calibration\` (scripts/calibration.ts), genecontent ${r.version}, on ` +
    `${r.generated} (${r.backend} backend, ${r.threads} thread${r.threads === 1 ? "" : "s"}, ` +
    `${fmt(r.seconds.total / 60, 1)} minutes). The machine-readable version is ` +
    `\`${name}.json\`; \`tests/calibration_test.ts\` checks every row below against its ` +
    "stated interval and reruns the same code on a small case.",
    "",
    "## What was simulated",
    "",
    `Every data set has ${s.families} families on the tree \`${s.tree}\` (${s.genomes} genomes), ` +
    `simulated by \`simulateModel\` under the ${s.model} model with ${values}: ${
      s.model === "null"
        ? `the maximum-likelihood fit of the null model to ${s.fittedTo}`
        : s.fittedTo
    }. The same model is the background of every test. Each family is present in at least ` +
    `${s.window.minPresent} genome (families never present are discarded, as in a real PAM, and ` +
    "the likelihood conditions on it). Set effects multiply the loss rate of the set's families " +
    "by exp(theta) on every branch and at the root prior; theta = 0 is the null. Sets are " +
    "random families, drawn afresh for each data set. Tests are the project's own: " +
    "`testEffects` (lib/effects/likelihood_ratio.ts) for the set effect, fitting the background " +
    "and background + theta on each data set, and `screenFamilies` (lib/effects/screen.ts) for " +
    "the per-family screen, with the background fitted to each data set.",
    "",
    `Rates are judged against the central binomial ${pct(INTERVAL_LEVEL)} interval of ` +
    "Binomial(trials, nominal) / trials: `within` rows must fall inside it, `atMost` rows must " +
    "not exceed its upper end (a conservative test passes), `report` rows are measurements " +
    "shown for information.",
    "",
    "## (a) The set-effect LRT under the null, and (c) coverage of the profile intervals",
    "",
    `${o.replicates} data sets, each with a random set of ${o.setSize} families, tested two-sided ` +
    "(reference chi2(1)) and one-sided (reference the 50:50 mixture of chi2(0) and chi2(1): " +
    "p = P(chi2_1 >= LRT) / 2 when theta-hat is on the alternative's side, else 1; `less` is " +
    '"retained longer"). The one-sided p-values come from `testEffects` with the two-sided ' +
    "test's fits passed in (`nullFit`, `altFit`): the same fits, the one-sided reference. " +
    `(c): whether the ${pct(0.95)} profile interval of theta (2 (l-hat - l(theta)) <= ` +
    `${fmt(PROFILE_CUTOFF, 4)}) from the same fits contains the truth 0.`,
    "",
    ...rateTable(r.rows.filter((x) => x.section === "a" || x.section === "c")),
    "",
    `Null replicates: mean LRT ${fmt(r.nullSummary.meanLrt)} (chi2(1) has mean 1); theta-hat ` +
    `2.5%, 50%, 97.5% quantiles ${fmt(r.nullSummary.thetaQuantiles["0.025"])}, ` +
    `${fmt(r.nullSummary.thetaQuantiles["0.5"])}, ${fmt(r.nullSummary.thetaQuantiles["0.975"])}; ` +
    `${r.nullSummary.openIntervals} intervals open at an end.`,
    "",
  ];
  if (r.screen) {
    const sc = r.screen;
    lines.push(
      "## (b) The per-family screen under the null",
      "",
      `${sc.dataSets} null data sets (${sc.families} families in all), every family screened ` +
        "for its own loss multiplier against the background fitted to its data set. The " +
        `calibrated p-values use ${sc.calibration} families simulated under the fitted ` +
        "background per data set (`calibration` of `screenFamilies`); the asymptotic ones " +
        "chi2(1). Classes are `screenClass` of lib/diagnostics/prevalence_classes.ts (rare: " +
        "present in < 15% of genomes, nearCore: >= 95%). Under the null no family has an " +
        "effect, so every family with q < 0.1 is a false discovery; Benjamini-Hochberg at 0.1 " +
        "bounds the chance of any discovery in a data set by 0.1 (it was " +
        `${sc.dataSetsWithDiscoveries} of ${sc.dataSets}); since the share of families with ` +
        "q < 0.1 is at most 1 when there is a discovery and 0 otherwise, its expectation is at " +
        "most 0.1, the nominal rate of the q rows.",
      "",
      ...rateTable(r.rows.filter((x) => x.section === "b")),
      "",
    );
  }
  if (r.power.length > 0) {
    lines.push(
      "## (d) Power",
      "",
      "Two-sided rejection rate at 0.05 when the set's loss rate is multiplied by exp(theta), " +
        `${r.power[0]?.replicates ?? 0} data sets per cell (a fresh random set each), with the ` +
        `exact (Clopper-Pearson) ${pct(INTERVAL_LEVEL)} confidence interval of each rate.`,
      "",
      "| set size | exp(theta) | rejected | rate | 99% interval | mean theta-hat (truth) |",
      "| -------: | ---------: | -------: | ---: | ------------ | ---------------------- |",
      ...r.power.map((c) =>
        `| ${c.setSize} | ${c.multiplier} | ${c.rejections} / ${c.replicates} | ${
          fmt(c.rate, 2)
        } | ` +
        `[${fmt(c.interval[0], 2)}, ${fmt(c.interval[1], 2)}] | ${fmt(c.meanTheta)} ` +
        `(${fmt(Math.log(c.multiplier))}) |`
      ),
      "",
    );
  }
  if (r.recovery.length > 0) {
    lines.push(
      "## Known-truth recovery",
      "",
      "Data sets simulated with a known effect and tested two-sided with the 95% profile " +
        "interval of theta; the set row has 3,000 families (300 in the set), the clade row the " +
        "calibration's size with every family's loss multiplied on the clade's branches (the " +
        "clade nearest a quarter of the genomes, with its stem).",
      "",
      "| effect | replicates | true theta | mean theta-hat (sd) | mean exp(theta-hat) | intervals covering the truth | rejected theta = 0 |",
      "| ------ | ---------: | ---------: | ------------------- | ------------------: | ---------------------------: | -----------------: |",
      ...r.recovery.map((x) =>
        `| ${x.name} | ${x.replicates} | ${fmt(x.trueTheta)} | ${fmt(x.meanTheta)} ` +
        `(${fmt(x.sdTheta)}) | ${fmt(x.meanMultiplier)} | ${x.covered} | ${x.rejected} |`
      ),
      "",
    );
  }
  if (notes.length > 0) lines.push("## Notes", "", ...notes.map((n) => `- ${n}`), "");
  lines.push(
    "## Run time",
    "",
    ...Object.entries(r.seconds).map(([k, v]) => `- ${k}: ${v} s`),
    "",
  );
  return lines.join("\n");
}

function rateTable(rows: readonly RateRow[]): string[] {
  return [
    "| section | what | count / trials | rate | nominal | 99% interval | check | holds |",
    "| ------- | ---- | -------------: | ---: | ------: | ------------ | ----- | ----- |",
    ...rows.map((x) =>
      `| ${x.section} | ${x.name} | ${x.count} / ${x.trials} | ${
        fmt(x.rate, 4)
      } | ${x.nominal} | ` +
      `[${fmt(x.interval[0])}, ${fmt(x.interval[1])}] | ${x.check} | ${x.pass ? "yes" : "NO"} |`
    ),
  ];
}

/** The full run's counts. */
export const FULL: CalibrationOptions = {
  replicates: 1000,
  setSize: 50,
  powerReplicates: 100,
  multipliers: [1.25, 1.5, 2, 3],
  powerSetSizes: [10, 50, 300],
  screenDataSets: 4,
  screenCalibration: 10000,
  recoveryReplicates: 20,
  seed: 20261201,
};

/** A small version for trying the script out. */
export const QUICK: CalibrationOptions = {
  ...FULL,
  replicates: 40,
  powerReplicates: 5,
  screenDataSets: 1,
  screenCalibration: 2000,
  recoveryReplicates: 3,
};

if (import.meta.main) {
  const args = [...Deno.args];
  const flag = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const quick = args.includes("--quick");
  if (quick) args.splice(args.indexOf("--quick"), 1);
  const threads = Number(flag("--threads") ?? "1");
  const outDir = flag("--out") ?? (quick ? undefined : "validation");
  const base = quick ? QUICK : FULL;
  const num = (name: string, d: number) => Number(flag(name) ?? d);
  const options: CalibrationOptions = {
    ...base,
    replicates: num("--replicates", base.replicates),
    powerReplicates: num("--power-replicates", base.powerReplicates),
    screenDataSets: num("--screen-datasets", base.screenDataSets),
    screenCalibration: num("--screen-calibration", base.screenCalibration),
    recoveryReplicates: num("--recovery-replicates", base.recoveryReplicates),
    seed: num("--seed", base.seed),
  };
  const alpha = flag("--alpha");
  const families = flag("--families");
  const name = flag("--name") ?? "calibration";
  const render = flag("--render");
  const screenUpdate = flag("--rerun-screen");
  const notes: string[] = [];
  for (let note = flag("--note"); note !== undefined; note = flag("--note")) notes.push(note);
  if (args.length > 0) {
    console.error(`calibration: unknown arguments ${args.join(" ")}`);
    Deno.exit(2);
  }
  const root = new URL("..", import.meta.url).pathname;
  if (render !== undefined) {
    // Re-render the Markdown of a finished run (e.g. to add notes on companion runs).
    const report: CalibrationReport = JSON.parse(await Deno.readTextFile(render));
    const md = renderMarkdown(report, notes, basename(render).replace(/\.json$/, ""));
    await writeMarkdown(render.replace(/\.json$/, ".md"), md);
    say(`wrote ${render.replace(/\.json$/, ".md")}`);
    Deno.exit(0);
  }
  const factory = await chooseBackend("native", { threads });
  const fitted = await fittedBackground(
    `${root}examples/tree.nwk`,
    `${root}examples/pam.tsv`,
    parseModel("null"),
    factory,
  );
  say(`background: null fitted to examples/: ${Array.from(fitted.values).join(", ")}`);
  // With --alpha, a gamma4 background: the example's fitted gain and loss, alpha as given (the
  // example itself was simulated without rate variation, so its gamma4 fit has alpha at the
  // bound).
  const model = alpha === undefined ? parseModel("null") : parseModel("gamma4");
  const values = alpha === undefined
    ? fitted.values
    : Float64Array.of(fitted.values[0], fitted.values[1], Number(alpha));
  const setting: CalibrationSetting = {
    tree: fitted.tree,
    treeSource: "examples/tree.nwk",
    model,
    values,
    nFamilies: families === undefined ? fitted.nFamilies : Number(families),
    window: AT_LEAST_ONE,
    factory,
  };
  if (screenUpdate !== undefined) {
    // Rerun only the screen (b) of a finished run, with its options, and rewrite both files.
    const old: CalibrationReport = JSON.parse(await Deno.readTextFile(screenUpdate));
    const o = old.options;
    // The finished run's own setting (model, values, size), not this invocation's.
    const oldModel = parseModel(old.setting.model);
    const same: CalibrationSetting = {
      ...setting,
      model: oldModel,
      values: Float64Array.from(modelParameters(oldModel), (p) => old.setting.values[p.name]),
      nFamilies: old.setting.families,
      window: old.setting.window,
    };
    const t0 = performance.now();
    const screen = runScreen(same, o.screenDataSets, o.screenCalibration, o.seed + 1);
    const seconds = { ...old.seconds, screen: Math.round((performance.now() - t0) / 100) / 10 };
    const { rows: screenRows, ...summary } = screen;
    const report: CalibrationReport = {
      ...old,
      generated: `${old.generated}; screen (b) rerun ${new Date().toISOString()}`,
      seconds,
      rows: [...old.rows.filter((x) => x.section !== "b"), ...screenRows],
      screen: summary,
    };
    await Deno.writeTextFile(screenUpdate, JSON.stringify(report, null, 2) + "\n");
    const md = renderMarkdown(report, notes, basename(screenUpdate).replace(/\.json$/, ""));
    await writeMarkdown(screenUpdate.replace(/\.json$/, ".md"), md);
    say(`rewrote ${screenUpdate} and its page with a new screen (b)`);
    Deno.exit(0);
  }
  const report = await runCalibration(setting, options, {
    backend: factory.name,
    threads,
    fittedTo: alpha === undefined
      ? "the bundled example (examples/tree.nwk, examples/pam.tsv)"
      : `the gain and loss of the null model's maximum-likelihood fit to the bundled example ` +
        `(examples/), with alpha = ${alpha} set here (the example has no rate variation: its ` +
        "own gamma4 fit puts alpha at its upper bound)",
  });
  const json = JSON.stringify(report, null, 2) + "\n";
  const md = renderMarkdown(report, notes, name);
  if (outDir) {
    await Deno.writeTextFile(`${outDir}/${name}.json`, json);
    await writeMarkdown(`${outDir}/${name}.md`, md);
    say(`wrote ${outDir}/${name}.json and ${outDir}/${name}.md`);
  } else console.log(md);
  const failed = report.rows.filter((x) => !x.pass);
  if (failed.length > 0) {
    say(`rows outside their interval: ${failed.map((x) => x.name).join("; ")}`);
  }
}
