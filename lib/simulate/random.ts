/**
 * A small seeded pseudo-random number generator for simulations with known truth: xoshiro128**
 * (Blackman and Vigna) on 32-bit words, seeded through splitmix64. Every operation is exact
 * 32-bit integer arithmetic, so a seed gives the same stream on every platform and engine.
 *
 * @module
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/**
 * A deterministic pseudo-random number generator (xoshiro128**, seeded through splitmix64).
 *
 * @example
 * ```ts
 * import { Random } from "./random.ts";
 * const a = new Random(42), b = new Random(42);
 * console.assert(a.next() === b.next());
 * const u = a.next();
 * console.assert(u >= 0 && u < 1);
 * ```
 */
export class Random {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spareNormal: number | null = null;

  /**
   * Seeds the generator. The seed must be a safe integer (negative values allowed); the 128-bit
   * state is filled from it with splitmix64, so nearby seeds give unrelated streams.
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`Random seed ${seed} is not a safe integer; pass a whole number.`);
    }
    const mask = (1n << 64n) - 1n;
    let x = BigInt.asUintN(64, BigInt(seed));
    const words: number[] = [];
    for (let i = 0; i < 2; i++) {
      x = (x + 0x9e3779b97f4a7c15n) & mask;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
      z = z ^ (z >> 31n);
      words.push(Number(z & 0xffffffffn) | 0, Number(z >> 32n) | 0);
    }
    [this.#s0, this.#s1, this.#s2, this.#s3] = words;
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1; // never all-zero
  }

  /**
   * The next 32-bit unsigned integer, uniform on `0 .. 2^32 - 1`.
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * const x = new Random(1).nextUint32();
   * console.assert(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
   * ```
   */
  nextUint32(): number {
    const s1 = this.#s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 = s1 ^ this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result >>> 0;
  }

  /**
   * Copies the 128-bit generator state into `out[0..3]`, so that a hot loop can run the same
   * xoshiro128** steps on local variables and hand the state back with
   * {@linkcode Random.importState}: the stream is then exactly as if every draw had been made
   * through this object.
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * const a = new Random(4), b = new Random(9);
   * const s = new Int32Array(4);
   * a.exportState(s);
   * b.importState(s);
   * console.assert(a.nextUint32() === b.nextUint32());
   * ```
   */
  exportState(out: Int32Array): void {
    out[0] = this.#s0;
    out[1] = this.#s1;
    out[2] = this.#s2;
    out[3] = this.#s3;
  }

  /** Sets the generator state from `state[0..3]` (see {@linkcode Random.exportState}). */
  importState(state: Int32Array): void {
    if ((state[0] | state[1] | state[2] | state[3]) === 0) {
      throw new RangeError("A xoshiro128** state cannot be all zero.");
    }
    this.#s0 = state[0] | 0;
    this.#s1 = state[1] | 0;
    this.#s2 = state[2] | 0;
    this.#s3 = state[3] | 0;
  }

  /**
   * A uniform double in `[0, 1)` with 53 random bits.
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * const u = new Random(7).next();
   * console.assert(u >= 0 && u < 1);
   * ```
   */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /**
   * A uniform integer in `0 .. n - 1` (unbiased, by rejection).
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * const k = new Random(3).int(10);
   * console.assert(k >= 0 && k < 10 && Number.isInteger(k));
   * ```
   */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= TWO_POW_32)) {
      throw new RangeError(`Random.int bound ${n} must be an integer in 1 .. 2^32.`);
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /**
   * `true` with probability `p`.
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * console.assert(new Random(3).bernoulli(1) === true);
   * ```
   */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /**
   * An exponential variate with the given rate (mean `1 / rate`).
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * console.assert(new Random(5).exponential(2) >= 0);
   * ```
   */
  exponential(rate: number): number {
    if (!(rate > 0 && Number.isFinite(rate))) {
      throw new RangeError(`Exponential rate ${rate} must be positive and finite.`);
    }
    return -Math.log1p(-this.next()) / rate;
  }

  /**
   * A standard normal variate (polar Box-Muller; the spare value is kept for the next call).
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * console.assert(Number.isFinite(new Random(5).normal()));
   * ```
   */
  normal(): number {
    if (this.#spareNormal !== null) {
      const z = this.#spareNormal;
      this.#spareNormal = null;
      return z;
    }
    let u: number, v: number, s: number;
    do {
      u = 2 * this.next() - 1;
      v = 2 * this.next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt(-2 * Math.log(s) / s);
    this.#spareNormal = v * f;
    return u * f;
  }

  /**
   * A gamma variate with the given shape and scale (mean `shape * scale`), by Marsaglia and
   * Tsang (2000); shapes below 1 use the boost `G(a) = G(a + 1) U^(1/a)`.
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * console.assert(new Random(5).gamma(0.5, 2) > 0);
   * ```
   */
  gamma(shape: number, scale = 1): number {
    if (!(shape > 0 && Number.isFinite(shape) && scale > 0 && Number.isFinite(scale))) {
      throw new RangeError(`Gamma shape ${shape} and scale ${scale} must be positive and finite.`);
    }
    if (shape < 1) {
      const u = this.next();
      return this.gamma(shape + 1, scale) * Math.pow(u === 0 ? Number.MIN_VALUE : u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
    }
  }

  /**
   * Shuffles an array in place (Fisher-Yates) and returns it.
   *
   * @example
   * ```ts
   * import { Random } from "./random.ts";
   * const a = new Random(1).shuffle([1, 2, 3, 4]);
   * console.assert(a.length === 4 && [...a].sort().join() === "1,2,3,4");
   * ```
   */
  shuffle<T, A extends { length: number; [i: number]: T }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
