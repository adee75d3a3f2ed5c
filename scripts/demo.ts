/**
 * The demo: fits the gain/loss model to the bundled example pangenome (200 genomes x 5,000
 * families simulated with known rates, never-present families dropped as in a real PAM) and
 * compares the estimates with the truth, with and without the ascertainment correction.
 *
 * Usage: deno task demo
 *
 * @module
 */

import {
  compareModels,
  fitModel,
  fitNullModel,
  formatComparison,
  loadDataset,
  modelObjective,
  type NullModelFit,
  openLikelihood,
  openModelLikelihood,
} from "../mod.ts";

const here = (path: string) => new URL(`../examples/${path}`, import.meta.url).pathname;
const truth = JSON.parse(await Deno.readTextFile(here("truth.json")));
const started = performance.now();
const data = await loadDataset(here("tree.nwk"), here("pam.tsv"));
console.log(
  `Example pangenome: ${data.tree.nTips} genomes, ${data.pam.families.length} gene families ` +
    `(${data.patterns.nPatterns} distinct presence/absence columns).`,
);
console.log(
  `Simulated with gain ${truth.gain} and loss ${truth.loss}; ${truth.nFamiliesDropped} of ` +
    `${truth.nFamiliesSimulated} simulated families were never present and are not in the PAM.\n`,
);

const results: { label: string; fit: NullModelFit; backend: string }[] = [];
for (const [label, minPresent] of [["corrected (default)", 1], ["uncorrected", 0]] as const) {
  using likelihood = await openLikelihood(data, { minPresent });
  results.push({ label, fit: fitNullModel(likelihood), backend: likelihood.backend.name });
}

const pct = (x: number, t: number) => `${x >= t ? "+" : ""}${(100 * (x / t - 1)).toFixed(1)}%`;
const row = (cells: string[]) =>
  console.log(cells.map((c, i) => c.padEnd([22, 10, 12, 22, 9][i])).join(" "));
row(["fit", "parameter", "estimate", "95% profile interval", "vs truth"]);
for (const { label, fit } of results) {
  for (const name of ["gain", "loss", "pi1"] as const) {
    const ci = fit.ci![name];
    const inside = ci[0] <= truth[name] && truth[name] <= ci[1];
    row([
      name === "gain" ? label : "",
      name,
      fit[name].toPrecision(4),
      `[${ci[0].toPrecision(4)}, ${ci[1].toPrecision(4)}]${inside ? "" : " *"}`,
      pct(fit[name], truth[name]),
    ]);
  }
}
console.log("(* the interval misses the true value)\n");
const corrected = results[0].fit;
console.log(
  `True values: gain ${truth.gain}, loss ${truth.loss}, pi1 ${truth.pi1.toPrecision(4)}. ` +
    `logLik ${corrected.logLik.toFixed(3)}; backend ${results[0].backend}; ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s in all.`,
);
console.log(
  "Without the correction the gain rate is overestimated: the families that were never seen are\n" +
    "exactly the ones that say gains are rare.",
);
for (const { label, fit } of results) {
  for (const w of fit.warnings) console.error(`warning (${label}): ${w}`);
}

// Richer models on the same data, which were simulated under the null model.
const compared = [];
for (const name of ["null", "gamma4", "mixture2"]) {
  using likelihood = await openModelLikelihood(data, name);
  compared.push({ model: name, fit: fitModel(modelObjective(likelihood), { level: null }) });
}
const comparison = compareModels(compared);
const { rows } = comparison;
console.log("\nModel comparison (ascertainment-corrected fits of the same data):");
console.log(formatComparison(comparison));
const byAic = rows.reduce((a, b) => (b.aic < a.aic ? b : a));
const byBic = rows.reduce((a, b) => (b.bic < a.bic ? b : a));
console.log(
  `AIC prefers ${byAic.model}, BIC ${byBic.model}; the data were simulated under the null model.`,
);
