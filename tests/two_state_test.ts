import assert from "node:assert/strict";
import { assertClose } from "./support/assert_close.ts";
import {
  stationary,
  transitionDerivatives,
  type TransitionMatrix,
  transitionMatrix,
} from "../lib/model/two_state.ts";

const CASES: [number, number, number][] = [
  [0.5, 1.5, 0.3],
  [2, 0.1, 1.7],
  [0.01, 0.02, 5],
  [3, 3, 0.001],
  [1e-3, 10, 0.25],
];

function asArray(p: TransitionMatrix): number[] {
  return [p.p00, p.p01, p.p10, p.p11];
}

function multiply(a: TransitionMatrix, b: TransitionMatrix): number[] {
  return [
    a.p00 * b.p00 + a.p01 * b.p10,
    a.p00 * b.p01 + a.p01 * b.p11,
    a.p10 * b.p00 + a.p11 * b.p10,
    a.p10 * b.p01 + a.p11 * b.p11,
  ];
}

Deno.test("transition rows sum to 1 and entries lie in [0, 1]", () => {
  for (const [gain, loss, t] of CASES) {
    const p = transitionMatrix(gain, loss, t);
    // Each row sum is 1 + pi*e - pi*e up to two roundings: a few ulps of 1.
    assertClose(p.p00 + p.p01, 1, 4e-16, `row 0 (${gain}, ${loss}, ${t})`);
    assertClose(p.p10 + p.p11, 1, 4e-16, `row 1 (${gain}, ${loss}, ${t})`);
    for (const x of asArray(p)) assert.ok(x >= 0 && x <= 1, `entry ${x} out of [0, 1]`);
  }
});

Deno.test("transition matrix at t = 0 is exactly the identity", () => {
  for (const [gain, loss] of CASES) {
    // expm1(0) is exactly 0, so no rounding at all.
    assert.deepEqual(asArray(transitionMatrix(gain, loss, 0)), [1, 0, 0, 1]);
  }
});

Deno.test("transition matrix tends to the stationary distribution as t grows", () => {
  for (const [gain, loss] of CASES) {
    const st = stationary(gain, loss);
    // s t >= 1e-2 * 1e4 = 100, so exp(-s t) < 4e-44: the limit is reached to rounding (1e-15).
    const p = transitionMatrix(gain, loss, 1e4);
    assertClose(asArray(p), [st.pi0, st.pi1, st.pi0, st.pi1], 1e-15, `(${gain}, ${loss})`);
  }
});

Deno.test("stationary distribution is (loss, gain) / (gain + loss) and is preserved by P", () => {
  for (const [gain, loss, t] of CASES) {
    const st = stationary(gain, loss);
    // Two divisions, one rounding each.
    assertClose([st.pi0, st.pi1], [loss / (gain + loss), gain / (gain + loss)], 1e-15);
    const p = transitionMatrix(gain, loss, t);
    // pi P = pi: a few roundings of terms <= 1.
    assertClose(
      [st.pi0 * p.p00 + st.pi1 * p.p10, st.pi0 * p.p01 + st.pi1 * p.p11],
      [st.pi0, st.pi1],
      1e-15,
    );
    // Detailed balance pi0 P01 = pi1 P10 (the chain is reversible).
    assertClose(st.pi0 * p.p01, st.pi1 * p.p10, 1e-15);
  }
});

Deno.test("Chapman-Kolmogorov: P(a) P(b) = P(a + b)", () => {
  for (const [gain, loss, t] of CASES) {
    const a = t * 0.37, b = t * 1.9;
    const lhs = multiply(transitionMatrix(gain, loss, a), transitionMatrix(gain, loss, b));
    // Products and sums of entries <= 1 plus two expm1 calls: well under 1e-14 absolute.
    assertClose(lhs, asArray(transitionMatrix(gain, loss, a + b)), 1e-14, `(${gain}, ${loss})`);
  }
});

Deno.test("off-diagonal entries stay accurate for tiny s t (expm1)", () => {
  const gain = 0.3, loss = 0.7, t = 1e-12; // s t = 1e-12
  const p = transitionMatrix(gain, loss, t);
  // Taylor series: P01 = pi1 (s t - (s t)^2 / 2 + ...); the next term is ~1e-24 relative.
  // A naive 1 - exp(-s t) would be wrong at the 1e-4 relative level here.
  assert.ok(Math.abs(p.p01 / (0.3 * (1e-12 - 0.5e-24)) - 1) < 1e-14);
  assert.ok(Math.abs(p.p10 / (0.7 * (1e-12 - 0.5e-24)) - 1) < 1e-14);
});

Deno.test("transition derivatives match central finite differences on the log scale", () => {
  // Central differences with step h = 1e-5 in log(rate): truncation error ~h^2/6 |f'''| and
  // rounding error ~1e-16 / h, both about 1e-11 for entries of size <= 1 whose third
  // derivatives are O(s t)^3 <= O(10); 1e-8 absolute leaves ample margin but would catch any
  // wrong formula (errors there would be O(1e-2) or larger).
  const h = 1e-5;
  for (const [gain, loss, t] of CASES) {
    const d = transitionDerivatives(gain, loss, t);
    assertClose(asArray(d.p), asArray(transitionMatrix(gain, loss, t)), 0, "value");
    const fdGain = asArray(transitionMatrix(gain * Math.exp(h), loss, t)).map((x, i) =>
      (x - asArray(transitionMatrix(gain * Math.exp(-h), loss, t))[i]) / (2 * h)
    );
    const fdLoss = asArray(transitionMatrix(gain, loss * Math.exp(h), t)).map((x, i) =>
      (x - asArray(transitionMatrix(gain, loss * Math.exp(-h), t))[i]) / (2 * h)
    );
    assertClose(asArray(d.dLogGain), fdGain, 1e-8, `d/dlog gain (${gain}, ${loss}, ${t})`);
    assertClose(asArray(d.dLogLoss), fdLoss, 1e-8, `d/dlog loss (${gain}, ${loss}, ${t})`);
  }
});

Deno.test("stationary derivatives match analytic values and finite differences", () => {
  const h = 1e-5;
  for (const [gain, loss] of CASES) {
    const st = stationary(gain, loss);
    const s = gain + loss;
    // d pi1 / d log gain = gain * loss / s^2 (quotient rule); a few roundings.
    assertClose(st.dLogGain.pi1, (gain * loss) / (s * s), 1e-15);
    const up = stationary(gain * Math.exp(h), loss), dn = stationary(gain * Math.exp(-h), loss);
    const upL = stationary(gain, loss * Math.exp(h)), dnL = stationary(gain, loss * Math.exp(-h));
    // Same finite-difference error budget as for the transition matrix.
    assertClose(
      [st.dLogGain.pi0, st.dLogGain.pi1, st.dLogLoss.pi0, st.dLogLoss.pi1],
      [
        (up.pi0 - dn.pi0) / (2 * h),
        (up.pi1 - dn.pi1) / (2 * h),
        (upL.pi0 - dnL.pi0) / (2 * h),
        (upL.pi1 - dnL.pi1) / (2 * h),
      ],
      1e-8,
    );
  }
});

Deno.test("invalid rates and lengths throw a RangeError naming the value", () => {
  assert.throws(() => transitionMatrix(0, 1, 1), RangeError);
  assert.throws(() => transitionMatrix(1, -2, 1), /-2/);
  assert.throws(() => transitionMatrix(NaN, 1, 1), /NaN/);
  assert.throws(() => transitionDerivatives(1, Infinity, 1), /Infinity/);
  assert.throws(() => transitionMatrix(1, 1, -0.5), /-0.5/);
  assert.throws(() => stationary(1, 0), RangeError);
});
