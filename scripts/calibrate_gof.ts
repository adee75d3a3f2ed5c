/**
 * Calibration of the spectrum goodness-of-fit test (`lib/diagnostics/spectrum.ts`): datasets are
 * simulated under a known model on a fixed small tree, the model is fitted to each, and the
 * asymptotic and parametric-bootstrap p-values of Pearson's X^2 on the pooled spectrum are
 * recorded. Under a correct model both should be uniform on (0, 1): the script reports the
 * share of p at or below 0.05, 0.1, 0.25 and 0.5 with each share's central 99% binomial interval
 * and a Kolmogorov-Smirnov distance with its 1% critical value (asymptotic 1.628 / sqrt(n); the
 * bootstrap p is discrete, on multiples of 1 / (replicates + 1), so its KS distance is compared
 * after adding half a step's slack).
 *
 * Usage: `deno run --allow-all scripts/calibrate_gof.ts [--datasets N] [--bootstrap B]
 * [--seed S] [--out FILE]` (defaults 100, 19, 1, `validation/gof_calibration.json`); the
 * committed file is from `--datasets 400 --bootstrap 39 --seed 1` (about 6 minutes).
 * The output is a function of the options alone, apart from `seconds`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { spectrumFit } from "../lib/diagnostics/spectrum.ts";
import { fitModelLikelihood } from "../lib/fit/fit_model.ts";
import { tsBackendFactory } from "../lib/likelihood/choose_backend.ts";
import { ModelLikelihood } from "../lib/likelihood/model_likelihood.ts";
import { formatModel, parseModel } from "../lib/model/description.ts";
import { compressPatterns } from "../lib/pam/patterns.ts";
import { simulateModel } from "../lib/simulate/model.ts";
import { Random } from "../lib/simulate/random.ts";
import { yuleTree } from "../lib/simulate/trees.ts";

/** The calibration case: a small tree, few families, the null model at fixed rates. */
export const CALIBRATION_CASE = {
  tips: 8,
  treeSeed: 5,
  families: 300,
  model: "null",
  truth: { gain: 0.4, loss: 1.2 },
} as const;

/** The shares of p-values at or below each level, with 99% binomial intervals. */
export interface UniformityCheck {
  readonly level: number;
  readonly share: number;
  readonly interval: readonly [number, number];
  readonly inside: boolean;
}

/** The central 99% interval of Binomial(n, p) / n (exact quantiles by summation). */
export function binomialInterval(n: number, p: number): [number, number] {
  const pmf: number[] = [];
  let logC = 0;
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    pmf.push(Math.exp(logC + k * Math.log(p) + (n - k) * Math.log1p(-p)));
  }
  let acc = 0, lo = 0, hi = n;
  for (let k = 0; k <= n; k++) {
    acc += pmf[k];
    if (acc > 0.005) {
      lo = k;
      break;
    }
  }
  acc = 0;
  for (let k = n; k >= 0; k--) {
    acc += pmf[k];
    if (acc > 0.005) {
      hi = k;
      break;
    }
  }
  return [lo / n, hi / n];
}

/** Shares of `ps` at or below the levels, each against its 99% binomial interval. */
export function uniformityChecks(ps: readonly number[]): UniformityCheck[] {
  return [0.05, 0.1, 0.25, 0.5].map((level) => {
    // A tiny slack for p-values computed as k / (B + 1) that equal the level in exact arithmetic.
    const share = ps.filter((p) => p <= level + 1e-12).length / ps.length;
    const interval = binomialInterval(ps.length, level);
    return { level, share, interval, inside: share >= interval[0] && share <= interval[1] };
  });
}

/** The Kolmogorov-Smirnov distance of `ps` from the uniform distribution. */
export function ksDistance(ps: readonly number[]): number {
  const s = [...ps].sort((a, b) => a - b);
  const n = s.length;
  let d = 0;
  s.forEach((p, i) => {
    d = Math.max(d, (i + 1) / n - p, p - i / n);
  });
  return d;
}

/** Options of {@linkcode runCalibration}. */
export interface CalibrationOptions {
  /** Simulated data sets. */
  readonly datasets: number;
  /** Bootstrap replicates per data set. */
  readonly bootstrap: number;
  /** Seed of the simulations. */
  readonly seed: number;
  /** Called after each data set. */
  readonly onDataset?: (d: number, line: string) => void;
}

/** Runs the calibration (see the module documentation) and returns its result. */
export function runCalibration(options: CalibrationOptions) {
  const { datasets: nData, bootstrap: B, seed } = options;
  const c = CALIBRATION_CASE;
  const tree = yuleTree(c.tips, new Random(c.treeSeed), { height: 1 });
  const model = parseModel(c.model);
  const names = Array.from({ length: c.families }, (_, f) => `f${f + 1}`);
  const rng = new Random(seed);
  const asymptotic: number[] = [];
  const bootstrap: number[] = [];
  const statistics: number[] = [];
  const t0 = performance.now();
  for (let d = 0; d < nData; d++) {
    const sim = simulateModel(tree, model, c.truth, { nFamilies: c.families, rng });
    const patterns = compressPatterns(sim.states, c.families, c.tips, names);
    using lik = new ModelLikelihood(tree, patterns, tsBackendFactory, model);
    const fit = fitModelLikelihood(lik, { level: null });
    const r = spectrumFit(lik, fit.values, {
      bootstrap: { replicates: B, seed: seed * 1000003 + d, factory: tsBackendFactory },
    });
    asymptotic.push(r.p!);
    bootstrap.push(r.bootstrapP!);
    statistics.push(r.statistic);
    options.onDataset?.(
      d,
      `dataset ${d + 1}/${nData}: X2 ${r.statistic.toFixed(3)}, df ${r.df}, ` +
        `p ${r.p!.toFixed(3)}, bootstrap p ${r.bootstrapP!.toFixed(3)}`,
    );
  }
  const n = asymptotic.length;
  const ksCritical = 1.628 / Math.sqrt(n);
  return {
    case: { ...c, model: formatModel(model) },
    datasets: nData,
    bootstrapReplicates: B,
    seed,
    statistic: "pearson",
    asymptotic: {
      checks: uniformityChecks(asymptotic),
      ks: ksDistance(asymptotic),
      ksCritical1pct: ksCritical,
    },
    bootstrap: {
      checks: uniformityChecks(bootstrap),
      ks: ksDistance(bootstrap),
      ksCritical1pct: ksCritical + 0.5 / (B + 1),
    },
    pAsymptotic: asymptotic,
    pBootstrap: bootstrap,
    statistics,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      datasets: { type: "string", default: "100" },
      bootstrap: { type: "string", default: "19" },
      seed: { type: "string", default: "1" },
      out: { type: "string", default: "validation/gof_calibration.json" },
    },
  });
  const result = runCalibration({
    datasets: Number(v.datasets),
    bootstrap: Number(v.bootstrap),
    seed: Number(v.seed),
    onDataset: (_, line) => console.error(line),
  });
  await Deno.writeTextFile(v.out!, JSON.stringify(result, null, 2) + "\n");
  console.error(`wrote ${v.out}`);
}

if (import.meta.main) await main();
