/**
 * False discovery rates: Benjamini-Hochberg q-values.
 *
 * With m p-values sorted ascending, p_(1) <= ... <= p_(m), the q-value of the i-th smallest is
 *
 *     q_(i) = min over j >= i of min(1, m p_(j) / j)
 *
 * (R's `p.adjust(p, "BH")`). Tied p-values get the same q-value (the running minimum from the
 * top makes the q-value of a tie the one of its last rank). Rejecting every family with
 * q <= alpha controls the false discovery rate at alpha for independent or positively
 * dependent tests.
 *
 * @module
 */

import { GenecontentError } from "../errors.ts";

/**
 * Benjamini-Hochberg q-values of `p`, in the order of `p`. Every p-value must be in [0, 1];
 * NaN or a value outside is refused with its index.
 *
 * @example
 * ```ts
 * import { benjaminiHochberg } from "./fdr.ts";
 * // R: p.adjust(c(0.01, 0.04, 0.03, 0.5), "BH") is 0.04 0.05333333 0.05333333 0.5
 * const q = benjaminiHochberg([0.01, 0.04, 0.03, 0.5]);
 * console.assert(Math.abs(q[1] - 0.16 / 3) < 1e-15 && q[0] === 0.04 && q[3] === 0.5);
 * ```
 */
export function benjaminiHochberg(p: ArrayLike<number>): Float64Array {
  const m = p.length;
  for (let i = 0; i < m; i++) {
    const x = p[i];
    if (!(x >= 0 && x <= 1)) {
      throw new GenecontentError(
        `P-value ${i + 1} of ${m} is ${x}; Benjamini-Hochberg q-values need every p-value in ` +
          "[0, 1] (a NaN means a test could not be computed: fix or remove that test first).",
      );
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => p[a] - p[b] || a - b);
  const q = new Float64Array(m);
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    const i = order[r];
    const value = (m * p[i]) / (r + 1);
    if (value < running) running = value;
    q[i] = running;
  }
  return q;
}
