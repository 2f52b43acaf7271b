/**
 * Random but valid ggml blocks for benchmark files, and a small seeded PRNG.
 * Quant bytes come from a fast local xorshift generator; scale fields are then overwritten with
 * sane fp16 values so dequantized weights look like real ones (|w| up to roughly 0.1..0.5).
 * Re-exported by ops/quantize.ts.
 */
import { GGMLType, typeName } from '../formats/ggml-types.js';
import { f32ToFp16, fp16ToF32 } from './dequant.js';
import { blockCount, putF32, putU16 } from './quantize.js';

/** Small seeded PRNG (mulberry32): returns uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Offsets (bytes within a block) and magnitude of each fp16 scale field patched by randomBlocks. */
interface RandSpec { d: number; dBase: number; m?: number; mBase?: number }

const RAND_SPECS: Partial<Record<GGMLType, RandSpec>> = {
  [GGMLType.Q4_0]: { d: 0, dBase: 0.05 },
  [GGMLType.Q4_1]: { d: 0, dBase: 0.035, m: 2, mBase: -0.25 },
  [GGMLType.Q5_0]: { d: 0, dBase: 0.025 },
  [GGMLType.Q5_1]: { d: 0, dBase: 0.016, m: 2, mBase: -0.25 },
  [GGMLType.Q8_0]: { d: 0, dBase: 0.003 },
  [GGMLType.IQ4_NL]: { d: 0, dBase: 0.003 },
  [GGMLType.Q2_K]: { d: 80, dBase: 0.009, m: 82, mBase: 0.013 },
  [GGMLType.Q3_K]: { d: 108, dBase: 0.003 },
  [GGMLType.Q4_K]: { d: 0, dBase: 4e-4, m: 2, mBase: 3e-3 },
  [GGMLType.Q5_K]: { d: 0, dBase: 2e-4, m: 2, mBase: 3e-3 },
  [GGMLType.Q6_K]: { d: 208, dBase: 1e-4 },
  [GGMLType.IQ4_XS]: { d: 0, dBase: 1e-4 },
};

/** Fill `b` with pseudo-random bytes from a local xorshift generator seeded by rand() (fast path). */
function fillRandomBytes(b: Uint8Array, rand: () => number): void {
  let s = (Math.floor(rand() * 4294967296) | 1) >>> 0;
  const n4 = b.length >>> 2;
  const w = new Uint32Array(b.buffer, b.byteOffset, n4); // b is freshly allocated: offset 0, aligned
  for (let i = 0; i < n4; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    w[i] = s;
  }
  for (let i = n4 * 4; i < b.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    b[i] = s & 0xff;
  }
}

/**
 * `n` elements of random but valid blocks of `type`, with realistic magnitudes (|values| roughly
 * up to 0.1..0.5, no inf/nan). Quant bytes are random; scale fields get sane fp16 values.
 */
export function randomBlocks(type: GGMLType, n: number, rand: () => number): Uint8Array {
  const { nb, typeSize } = blockCount(type, n, 'randomBlocks');
  const out = new Uint8Array(nb * typeSize);
  fillRandomBytes(out, rand);
  switch (type) {
    case GGMLType.F32: {
      const f = new Float32Array(out.buffer, 0, n);
      const w = new Uint32Array(out.buffer, 0, n);
      // reuse the random bits: uniform in (-0.5, 0.5)
      for (let i = 0; i < n; i++) f[i] = (w[i] / 4294967296 - 0.5);
      return out;
    }
    case GGMLType.F16:
      // sign random, exponent 9..13 (2^-6 .. 0.5), mantissa random
      for (let i = 0; i < n; i++) {
        const r = out[2 * i] | (out[2 * i + 1] << 8);
        out[2 * i + 1] = (r & 0x8000 ? 0x80 : 0) | ((9 + (r % 5)) << 2) | ((r >> 8) & 3);
      }
      return out;
    case GGMLType.BF16:
      // bf16 = sign | exp(8) | man(7): exponent 121..125 (2^-6 .. 0.5)
      for (let i = 0; i < n; i++) {
        const r = out[2 * i] | (out[2 * i + 1] << 8);
        const e = 121 + (r % 5);
        out[2 * i + 1] = (r & 0x8000 ? 0x80 : 0) | (e >> 1);
        out[2 * i] = ((e & 1) << 7) | (out[2 * i] & 0x7f);
      }
      return out;
    case GGMLType.Q8_1:
      for (let i = 0; i < nb; i++) {
        const o = i * 36, d = 0.003 * (0.5 + out[o] / 256);
        let sum = 0;
        for (let j = 0; j < 32; j++) sum += (out[o + 4 + j] << 24) >> 24;
        const dh = f32ToFp16(d);
        putU16(out, o, dh);
        putU16(out, o + 2, f32ToFp16(fp16ToF32(dh) * sum));
      }
      return out;
    case GGMLType.Q8_K:
      for (let i = 0; i < nb; i++) {
        const o = i * 292;
        putF32(out, o, 0.003 * (0.5 + out[o] / 256));
        for (let j = 0; j < 16; j++) {
          let s = 0;
          for (let l = 0; l < 16; l++) s += (out[o + 4 + 16 * j + l] << 24) >> 24;
          putU16(out, o + 260 + 2 * j, s & 0xffff);
        }
      }
      return out;
    default: break;
  }
  const spec = RAND_SPECS[type];
  if (!spec) throw new Error(`randomBlocks: unsupported tensor type ${typeName(type)}`);
  // 256 precomputed fp16 scales per field (0.5x .. 1.5x the base), picked by a random byte of the block
  const dTab = new Uint16Array(256), mTab = new Uint16Array(256);
  for (let k = 0; k < 256; k++) {
    dTab[k] = f32ToFp16(spec.dBase * (0.5 + k / 256));
    if (spec.mBase !== undefined) mTab[k] = f32ToFp16(spec.mBase * (0.5 + k / 256));
  }
  for (let i = 0; i < nb; i++) {
    const o = i * typeSize;
    const r = out[o + spec.d] ^ out[o + ((spec.d + 5) % typeSize)];
    putU16(out, o + spec.d, dTab[r]);
    if (spec.m !== undefined) putU16(out, o + spec.m, mTab[(r * 7 + 13) & 0xff]);
  }
  return out;
}
