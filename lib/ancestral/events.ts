/**
 * Closed forms that turn the expectations primitive's per-branch matrices
 * `M_v[a][b] = O_v(a) I_v(b) / L` (`LikelihoodBackend.expectations`) into ancestral quantities
 * of the two-state chain on one branch of length `t` with gain rate `λ` (0 → 1) and loss rate
 * `μ` (1 → 0); s = λ + μ, π the stationary vector:
 *
 * - the joint posterior of the branch's end states: `P(a, b | column) = M_ab P_ab(t)`;
 * - the child's presence `sum_a M_a1 P_a1(t)`, the parent's `sum_b M_1b P_1b(t)`;
 * - expected i → j jumps: `sum_ab M_ab q_ij J_ij(a, b, t)`, with the endpoint integral
 *   `J_ij(a, b, t) = integral_0^t P_ai(x) P_jb(t - x) dx
 *                  = π_i π_b t + (π_i B + A π_b)(1 - e^{-st})/s + A B t e^{-st}`,
 *   A = [a = i] - π_i, B = [j = b] - π_b (so `E[N_ij | a, b] P_ab = q_ij J_ij`; there is no
 *   division by `P_ab`, which may be 0 on a branch of length 0);
 * - the derivative of the log-likelihood with respect to the branch length:
 *   `sum_ab M_ab dP_ab/dt`, with dP/dt = Q P: `dP00/dt = -λ e^{-st}`, `dP01/dt = λ e^{-st}`,
 *   `dP10/dt = μ e^{-st}`, `dP11/dt = -μ e^{-st}`.
 *
 * Each quantity is linear in M, so a branch's coefficients are computed once per rate
 * assignment ({@linkcode branchCoefficients}) and applied to any number of matrices (summed over
 * families, or per family) by dot products of length 4.
 *
 * Accuracy: `1 - e^{-st}` is formed with `expm1`; J for a path that needs two jumps (e.g. gains on
 * a branch from 0 to 0) is O(t^2) and is computed with an absolute error of a few ulps of `t`.
 *
 * @module
 */

/** The coefficients of one branch: every quantity is `sum_ab coefficient[2a + b] * M_ab`. */
export interface BranchCoefficients {
  /** `P_ab(t)`: the joint posterior of the end states is `M_ab P_ab`. */
  readonly transition: Float64Array;
  /** `λ J_01(a, b, t)`: expected gains. */
  readonly gains: Float64Array;
  /** `μ J_10(a, b, t)`: expected losses. */
  readonly losses: Float64Array;
  /** `dP_ab/dt`: the derivative of the log-likelihood with respect to the branch length. */
  readonly dLength: Float64Array;
  /** `[0, P_01, 0, P_11]`: the child's presence. */
  readonly childPresent: Float64Array;
  /** `[0, 0, P_10, P_11]`: the parent's presence. */
  readonly parentPresent: Float64Array;
}

/**
 * The endpoint integral `J_ij(a, b, t)` of the two-state chain for all four end-state pairs,
 * laid out `[J(0,0), J(0,1), J(1,0), J(1,1)]` (`2a + b`); `q_ij J_ij(a, b, t)` is the expected
 * number of i → j jumps on the branch jointly with its end states, `E[N_ij | a, b] P_ab(t)`.
 *
 * @example
 * ```ts
 * import { endpointIntegral } from "./events.ts";
 * // Over a short branch, a 0 -> 1 jump on a path from 0 to 1 happens at about any time: J ~ t.
 * const j = endpointIntegral(0.5, 1, 1e-4, 0, 1);
 * console.assert(Math.abs(j[1] - 1e-4) < 1e-8 && j[0] < 1e-8);
 * ```
 */
export function endpointIntegral(
  gain: number,
  loss: number,
  t: number,
  i: 0 | 1,
  j: 0 | 1,
): Float64Array {
  const s = gain + loss;
  const pi = [loss / s, gain / s];
  const decay = Math.exp(-s * t);
  const g = -Math.expm1(-s * t) / s; // (1 - e^{-st}) / s, without cancellation at small st
  const out = new Float64Array(4);
  for (let a = 0; a < 2; a++) {
    const A = (a === i ? 1 : 0) - pi[i];
    for (let b = 0; b < 2; b++) {
      const B = (j === b ? 1 : 0) - pi[b];
      out[2 * a + b] = pi[i] * pi[b] * t + (pi[i] * B + A * pi[b]) * g + A * B * t * decay;
    }
  }
  return out;
}

/**
 * The coefficients of one branch of length `t` at rates (`gain`, `loss`) (see
 * {@linkcode BranchCoefficients}).
 *
 * @example
 * ```ts
 * import { branchCoefficients, branchEvents } from "./events.ts";
 * // A branch whose parent is surely absent and child surely present: M = [0, 1 / P01, 0, 0].
 * const c = branchCoefficients(0.5, 1, 0.2);
 * const m = Float64Array.of(0, 1 / c.transition[1], 0, 0);
 * const e = branchEvents(m, 0, c);
 * // Gains minus losses is the change in presence: exactly 1 here.
 * console.assert(Math.abs(e.gains - e.losses - 1) < 1e-15 && e.gains >= 1);
 * ```
 */
export function branchCoefficients(gain: number, loss: number, t: number): BranchCoefficients {
  const s = gain + loss;
  const pi1 = gain / s, pi0 = loss / s;
  const e = Math.expm1(-s * t);
  const transition = Float64Array.of(1 + pi1 * e, -pi1 * e, -pi0 * e, 1 + pi0 * e);
  const j01 = endpointIntegral(gain, loss, t, 0, 1);
  const j10 = endpointIntegral(gain, loss, t, 1, 0);
  const decay = Math.exp(-s * t);
  return {
    transition,
    gains: j01.map((x) => gain * x),
    losses: j10.map((x) => loss * x),
    dLength: Float64Array.of(-gain * decay, gain * decay, loss * decay, -loss * decay),
    childPresent: Float64Array.of(0, transition[1], 0, transition[3]),
    parentPresent: Float64Array.of(0, 0, transition[2], transition[3]),
  };
}

/** The ancestral quantities of one branch from its matrix M. */
export interface BranchEvents {
  /** Expected gains on the branch. */
  readonly gains: number;
  /** Expected losses on the branch. */
  readonly losses: number;
  /** P(parent present). */
  readonly parentPresent: number;
  /** P(child present). */
  readonly childPresent: number;
}

/** `sum_ab coefficient[2a + b] * m[offset + 2a + b]`. */
export function applyCoefficients(
  coefficient: ArrayLike<number>,
  m: ArrayLike<number>,
  offset: number,
): number {
  return coefficient[0] * m[offset] + coefficient[1] * m[offset + 1] +
    coefficient[2] * m[offset + 2] + coefficient[3] * m[offset + 3];
}

/**
 * Expected gains and losses and the end-state presences of one branch from its matrix M
 * (`m[offset + 2a + b]`, as in `Expectations.branch`), weighted as M is (summed over patterns:
 * sums over families).
 *
 * @example
 * ```ts
 * import { branchCoefficients, branchEvents } from "./events.ts";
 * // With no data (a missing column), M_ab = pi_a: the prior expectation gain * pi0 * t.
 * const c = branchCoefficients(0.5, 1, 0.3);
 * const e = branchEvents(Float64Array.of(2 / 3, 2 / 3, 1 / 3, 1 / 3), 0, c);
 * console.assert(Math.abs(e.gains - 0.5 * (2 / 3) * 0.3) < 1e-15);
 * ```
 */
export function branchEvents(
  m: ArrayLike<number>,
  offset: number,
  coefficients: BranchCoefficients,
): BranchEvents {
  return {
    gains: applyCoefficients(coefficients.gains, m, offset),
    losses: applyCoefficients(coefficients.losses, m, offset),
    parentPresent: applyCoefficients(coefficients.parentPresent, m, offset),
    childPresent: applyCoefficients(coefficients.childPresent, m, offset),
  };
}

/**
 * d log L / d t of one branch from its matrix M (`sum_ab M_ab dP_ab/dt`; summed over weighted
 * patterns when M is). Without ascertainment this is the derivative of the log-likelihood.
 *
 * @example
 * ```ts
 * import { branchLengthDerivative } from "./events.ts";
 * // M of a missing column is M_ab = pi_a: the likelihood 1 does not depend on t.
 * const m = Float64Array.of(2 / 3, 2 / 3, 1 / 3, 1 / 3);
 * console.assert(branchLengthDerivative(m, 0, 0.5, 1, 0.3) === 0);
 * ```
 */
export function branchLengthDerivative(
  m: ArrayLike<number>,
  offset: number,
  gain: number,
  loss: number,
  t: number,
): number {
  const decay = Math.exp(-(gain + loss) * t);
  return decay * (gain * (m[offset + 1] - m[offset]) + loss * (m[offset + 2] - m[offset + 3]));
}
