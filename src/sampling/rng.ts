/**
 * Seeded PRNG for sampling: xoshiro128** (32-bit state words, fast in JS integer math).
 *
 * Why not Math.random: requests carry a `seed` and the same seed must reproduce the same token
 * stream. The state is four uint32 words, so it is cheap to copy (`clone`, `getState`/`setState`).
 * The seed may be any integer (the API accepts 53-bit and negative seeds): the low 32 bits and the
 * next 32 bits are mixed into the state through splitmix32, so seeds that differ only in their high
 * bits still give different streams (bits above 2^64 are ignored).
 */

/** splitmix32 step: a well-mixed 32-bit output from a 32-bit counter. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isInteger(seed)) {
      throw new Error(`Rng: seed must be an integer, got ${String(seed)}`);
    }
    // Split into low/high 32-bit halves (exact for integer doubles; floor handles negatives).
    const hi = Math.floor(seed / 4294967296);
    const lo = seed - hi * 4294967296; // in [0, 2^32)
    let c = splitmix32(lo >>> 0) ^ Math.imul(hi | 0, 0x27d4eb2f);
    this.s0 = c = splitmix32(c);
    this.s1 = c = splitmix32(c ^ 0x6a09e667);
    this.s2 = c = splitmix32(c ^ 0xbb67ae85);
    this.s3 = splitmix32(c ^ (hi >>> 0));
    // xoshiro must not start from the all-zero state.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next raw 32-bit output (unsigned). */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform double in [0, 1) with 53 random bits (two 32-bit draws). */
  next(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Independent copy continuing the same stream. */
  clone(): Rng {
    const r = new Rng(0);
    r.setState(this.getState());
    return r;
  }

  getState(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(s: readonly number[]): void {
    if (s.length !== 4 || s.some((w) => !Number.isInteger(w)) || s.every((w) => (w | 0) === 0)) {
      throw new Error('Rng: state must be 4 integers, not all zero');
    }
    this.s0 = s[0] | 0;
    this.s1 = s[1] | 0;
    this.s2 = s[2] | 0;
    this.s3 = s[3] | 0;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
