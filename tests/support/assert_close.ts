/**
 * A float comparison for tests: relative tolerance with an absolute floor of `relTol` near zero.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * Asserts `|actual - expected| <= relTol * max(1, |expected|)` elementwise.
 *
 * @example
 * ```ts
 * import { assertClose } from "./assert_close.ts";
 * assertClose(1 + 1e-13, 1, 1e-12);
 * assertClose([1, 2], new Float64Array([1, 2]), 0);
 * ```
 */
export function assertClose(
  actual: number | ArrayLike<number>,
  expected: number | ArrayLike<number>,
  relTol: number,
  message = "",
): void {
  const a = typeof actual === "number" ? [actual] : actual;
  const e = typeof expected === "number" ? [expected] : expected;
  assert.equal(a.length, e.length, `${message} length ${a.length} vs expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const tol = relTol * Math.max(1, Math.abs(e[i]));
    const ok = a[i] === e[i] || Math.abs(a[i] - e[i]) <= tol;
    if (!ok) {
      assert.fail(
        `${message} [${i}]: ${a[i]} vs expected ${e[i]} (diff ${a[i] - e[i]}, tolerance ${tol})`,
      );
    }
  }
}
