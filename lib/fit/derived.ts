/**
 * Derived quantities whose profile intervals the outputs need: the stationary presence
 * probability pi1 = gain / (gain + loss) of a model's (gain, loss) pair, or of each mixture
 * class.
 *
 * Profiling coordinates of pi1: y[0] = logit pi1 = log gain - log loss, y[1] = log(gain + loss)
 * (the nuisance that replaces the two rates), then the model's other working coordinates in
 * order.
 *
 * @module
 */

import type { ParameterSpec } from "../model/description.ts";
import type { DerivedQuantity } from "./fit_model.ts";

const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/**
 * pi1 of the rates at working coordinates `gainIndex` and `lossIndex` (log scale) of an
 * `n`-parameter model.
 *
 * @example
 * ```ts
 * import { stationaryPresence } from "./derived.ts";
 * const pi1 = stationaryPresence("pi1", 3, 0, 1);
 * const x = new Float64Array([Math.log(0.1), Math.log(0.3), 0.7]);
 * const y = pi1.fromWorking(x);
 * console.assert(Math.abs(pi1.natural(y[0]) - 0.25) < 1e-15);
 * console.assert(pi1.toWorking(y).every((v, i) => Math.abs(v - x[i]) < 1e-15));
 * ```
 */
export function stationaryPresence(
  name: string,
  n: number,
  gainIndex: number,
  lossIndex: number,
): DerivedQuantity {
  const others: number[] = [];
  for (let i = 0; i < n; i++) if (i !== gainIndex && i !== lossIndex) others.push(i);
  return {
    name,
    toWorking(y) {
      const x = new Float64Array(n);
      x[gainIndex] = y[1] - softplus(-y[0]);
      x[lossIndex] = y[1] - softplus(y[0]);
      others.forEach((i, j) => (x[i] = y[2 + j]));
      return x;
    },
    fromWorking(x) {
      const g = x[gainIndex];
      const l = x[lossIndex];
      const m = Math.max(g, l);
      const y = new Float64Array(n);
      y[0] = g - l;
      y[1] = m + Math.log(Math.exp(g - m) + Math.exp(l - m));
      others.forEach((i, j) => (y[2 + j] = x[i]));
      return y;
    },
    jacobian(y) {
      const p = sigmoid(y[0]);
      const J = Array.from({ length: n }, () => new Float64Array(n));
      J[gainIndex][0] = 1 - p;
      J[gainIndex][1] = 1;
      J[lossIndex][0] = -p;
      J[lossIndex][1] = 1;
      others.forEach((i, j) => (J[i][2 + j] = 1));
      return J;
    },
    natural: sigmoid,
    bounds(lower, upper) {
      const [lg, ll, ug, ul] = [
        lower[gainIndex],
        lower[lossIndex],
        upper[gainIndex],
        upper[lossIndex],
      ];
      return {
        lower: [lg - ul, Math.min(lg, ll), ...others.map((i) => lower[i])],
        upper: [ug - ll, Math.max(ug, ul) + Math.LN2, ...others.map((i) => upper[i])],
      };
    },
  };
}

/**
 * The pi1 quantities of a parameter list: `pi1` for a model with one `gain`/`loss` pair,
 * `pi1_c` for each class `gain<c>`/`loss<c>` of a mixture; none otherwise.
 *
 * @example
 * ```ts
 * import { modelParameters, parseModel } from "../model/description.ts";
 * import { presenceQuantities } from "./derived.ts";
 * const names = presenceQuantities(modelParameters(parseModel("mixture2+inv"))).map((d) => d.name);
 * console.assert(names.join() === "pi1_1,pi1_2");
 * ```
 */
export function presenceQuantities(parameters: readonly ParameterSpec[]): DerivedQuantity[] {
  const index = new Map(parameters.map((p, i) => [p.name, i]));
  const n = parameters.length;
  const g = index.get("gain");
  const l = index.get("loss");
  if (g !== undefined && l !== undefined) return [stationaryPresence("pi1", n, g, l)];
  const out: DerivedQuantity[] = [];
  for (let c = 1; index.has(`gain${c}`) && index.has(`loss${c}`); c++) {
    out.push(stationaryPresence(`pi1_${c}`, n, index.get(`gain${c}`)!, index.get(`loss${c}`)!));
  }
  return out;
}
