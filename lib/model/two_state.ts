/**
 * The two-state gain/loss continuous-time Markov chain: transition probabilities over a branch,
 * the stationary distribution, and their derivatives with respect to log(gain) and log(loss).
 *
 * With s = gain + loss, pi1 = gain / s, pi0 = loss / s and e = expm1(-s t):
 *
 *     P00 = 1 + pi1 e   P01 = -pi1 e   P10 = -pi0 e   P11 = 1 + pi0 e
 *
 * `expm1` keeps `P01` and `P10` accurate to a few ulps even when `s t` is tiny.
 *
 * @module
 */

/** The 2x2 transition matrix of one branch; `pXY` is P(end in state Y | start in state X). */
export interface TransitionMatrix {
  /** P(0 -> 0). */
  readonly p00: number;
  /** P(0 -> 1). */
  readonly p01: number;
  /** P(1 -> 0). */
  readonly p10: number;
  /** P(1 -> 1). */
  readonly p11: number;
}

/** A transition matrix with its elementwise derivatives with respect to log(gain), log(loss). */
export interface TransitionDerivatives {
  /** The transition matrix itself. */
  readonly p: TransitionMatrix;
  /** Elementwise d P / d log(gain). */
  readonly dLogGain: TransitionMatrix;
  /** Elementwise d P / d log(loss). */
  readonly dLogLoss: TransitionMatrix;
}

/** A distribution over the two states. */
export interface StatePair {
  /** Value for state 0 (absent). */
  readonly pi0: number;
  /** Value for state 1 (present). */
  readonly pi1: number;
}

/** The stationary distribution with its derivatives with respect to log(gain), log(loss). */
export interface Stationary extends StatePair {
  /** d (pi0, pi1) / d log(gain). */
  readonly dLogGain: StatePair;
  /** d (pi0, pi1) / d log(loss). */
  readonly dLogLoss: StatePair;
}

/**
 * Throws a `RangeError` unless `value` is finite and > 0.
 *
 * @example
 * ```ts
 * import { checkRate } from "./two_state.ts";
 * checkRate("gain", 0.5); // fine
 * try {
 *   checkRate("loss", -1);
 * } catch (e) {
 *   console.assert(e instanceof RangeError);
 * }
 * ```
 */
export function checkRate(what: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`The ${what} rate must be finite and > 0, got ${value}.`);
  }
}

function checkLength(t: number): void {
  if (!(Number.isFinite(t) && t >= 0)) {
    throw new RangeError(`The branch length must be finite and >= 0, got ${t}.`);
  }
}

/**
 * Transition probabilities over a branch of length `t` (gain rate 0 -> 1, loss rate 1 -> 0).
 *
 * @example
 * ```ts
 * import { transitionMatrix } from "./two_state.ts";
 * const p = transitionMatrix(0.2, 0.8, 1);
 * console.assert(Math.abs(p.p00 + p.p01 - 1) < 1e-15);
 * ```
 */
export function transitionMatrix(gain: number, loss: number, t: number): TransitionMatrix {
  checkRate("gain", gain);
  checkRate("loss", loss);
  checkLength(t);
  const s = gain + loss;
  const pi1 = gain / s;
  const pi0 = loss / s;
  const e = Math.expm1(-s * t);
  return { p00: 1 + pi1 * e, p01: -pi1 * e, p10: -pi0 * e, p11: 1 + pi0 * e };
}

/**
 * The transition matrix of a branch of length `t` and its derivatives with respect to
 * log(gain) and log(loss).
 *
 * With de/ds = -t (1 + e), d pi1 / d log(gain) = pi0 pi1 = -d pi1 / d log(loss), and
 * d s / d log(gain) = gain, d s / d log(loss) = loss.
 *
 * @example
 * ```ts
 * import { transitionDerivatives } from "./two_state.ts";
 * const d = transitionDerivatives(0.2, 0.8, 1);
 * // Rows sum to 1, so row derivatives sum to 0.
 * console.assert(Math.abs(d.dLogGain.p00 + d.dLogGain.p01) < 1e-15);
 * ```
 */
export function transitionDerivatives(
  gain: number,
  loss: number,
  t: number,
): TransitionDerivatives {
  checkRate("gain", gain);
  checkRate("loss", loss);
  checkLength(t);
  const s = gain + loss;
  const pi1 = gain / s;
  const pi0 = loss / s;
  const e = Math.expm1(-s * t);
  const onePlusE = Math.exp(-s * t);
  const dPi = pi0 * pi1; // d pi1 / d log(gain) = -d pi0 / d log(gain)
  const p = { p00: 1 + pi1 * e, p01: -pi1 * e, p10: -pi0 * e, p11: 1 + pi0 * e };
  // d log(gain): d pi1 = dPi, d pi0 = -dPi, d e = -t (1 + e) gain.
  const deG = -t * onePlusE * gain;
  const g00 = dPi * e + pi1 * deG;
  const g10 = -(-dPi * e + pi0 * deG);
  // d log(loss): d pi1 = -dPi, d pi0 = dPi, d e = -t (1 + e) loss.
  const deL = -t * onePlusE * loss;
  const l00 = -dPi * e + pi1 * deL;
  const l10 = -(dPi * e + pi0 * deL);
  return {
    p,
    dLogGain: { p00: g00, p01: -g00, p10: g10, p11: -g10 },
    dLogLoss: { p00: l00, p01: -l00, p10: l10, p11: -l10 },
  };
}

/**
 * The stationary distribution (pi0, pi1) = (loss, gain) / (gain + loss), which is also the root
 * prior, with its derivatives with respect to log(gain) and log(loss).
 *
 * @example
 * ```ts
 * import { stationary } from "./two_state.ts";
 * const st = stationary(1, 3);
 * console.assert(st.pi1 === 0.25 && st.dLogGain.pi1 === 0.1875);
 * ```
 */
export function stationary(gain: number, loss: number): Stationary {
  checkRate("gain", gain);
  checkRate("loss", loss);
  const s = gain + loss;
  const pi1 = gain / s;
  const pi0 = loss / s;
  const d = pi0 * pi1;
  return {
    pi0,
    pi1,
    dLogGain: { pi0: -d, pi1: d },
    dLogLoss: { pi0: d, pi1: -d },
  };
}
