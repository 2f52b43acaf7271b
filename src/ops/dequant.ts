/**
 * Scalar reference dequantizers: the specification of every weight (and activation) block type.
 *
 * Layouts follow ggml src/ggml-common.h block structs and src/ggml-quants.c dequantize_row_*
 * (shared deepseek-reference.md section 11.3). Arithmetic is done in f32 (Math.fround at every
 * step ggml does an f32 operation) so results match ggml's scalar C code bit for bit, assuming
 * the C compiler does not contract `a*b - c` into an FMA.
 *
 * `src` may be any (unaligned) view: multi-byte fields are read with byte arithmetic.
 */
import { GGMLType, typeName, typeTraits } from '../formats/ggml-types.js';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE binary16 bits -> number (exact). */
export function fp16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24; // zero / subnormal
  if (exp === 31) return man === 0 ? sign * Infinity : NaN;
  return sign * (1024 + man) * 2 ** (exp - 25);
}

/** Precomputed fp16 -> f32 table: dequantizers read one scale per block, a lookup is cheapest. */
const FP16_TABLE = new Float32Array(65536);
for (let i = 0; i < 65536; i++) FP16_TABLE[i] = fp16ToF32(i);

/**
 * number -> IEEE binary16 bits, round-to-nearest-even (what x86 F16C _cvtss_sh / vcvtps2ph with
 * imm 0 does; ggml's CPU backend uses it). The input is first rounded to f32, like the C code.
 * NaN keeps its sign and top payload bits and is made quiet (F16C behaviour).
 */
export function f32ToFp16(x: number): number {
  f32buf[0] = x;
  const bits = u32buf[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const man = bits & 0x7fffff;
  if (exp === 0xff) return man === 0 ? sign | 0x7c00 : sign | 0x7e00 | (man >>> 13);
  const e = exp - 127 + 15; // biased half exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // half subnormal: h = (1.man * 2^(exp-127)) / 2^-24 = m >> (14 - e); below 2^-25 rounds to 0
    if (e < -10) return sign;
    const m = man | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h; // h may carry to 0x400 = smallest normal, which is the correct encoding
  }
  let h = (e << 10) | (man >>> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent (even to inf) is correct
  return sign | h;
}

/** Round a number to the nearest integer, ties to even (as _mm256_round_ps / rint do). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v); // ties toward +inf
  if (r - v === 0.5 && (r & 1) !== 0) return r - 1;
  return r;
}

/** bf16 bits -> number: the bf16 is the top half of an f32. */
export function bf16ToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0];
}

/**
 * number -> bf16 bits, exactly ggml's GGML_FP32_TO_BF16 (ggml-impl.h ggml_compute_fp32_to_bf16):
 * NaN -> (bits >> 16) | 64 (forced quiet); otherwise round-to-nearest-even on the low 16 bits.
 * Subnormals are not flushed.
 */
export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const i = u32buf[0];
  if ((i & 0x7fffffff) >>> 0 > 0x7f800000) return ((i >>> 16) | 64) & 0xffff;
  return ((i + (0x7fff + ((i >>> 16) & 1))) >>> 16) & 0xffff;
}

/** kvalues_iq4nl from ggml-common.h (non-linear 4-bit codebook shared by IQ4_NL and IQ4_XS). */
export const KVALUES_IQ4NL: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

const fr = Math.fround;

function h16(b: Uint8Array, o: number): number {
  return FP16_TABLE[b[o] | (b[o + 1] << 8)];
}

function f32At(b: Uint8Array, o: number): number {
  u32buf[0] = (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  return f32buf[0];
}

function i8(v: number): number {
  return (v << 24) >> 24;
}

/**
 * Decode the first `n` elements of ggml block data of `type` into f32.
 * @param src raw block bytes (>= n / blockSize * typeSize bytes)
 * @param n   element count, a multiple of the type's block size
 * @param out optional destination (length >= n); a new array is returned otherwise
 */
export function dequantize(type: GGMLType, src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const tr = typeTraits(type);
  if (!tr || !DEQUANT[type]) throw new Error(`unsupported tensor type ${typeName(type)}`);
  if (!Number.isInteger(n) || n < 0 || n % tr.blockSize !== 0) {
    throw new Error(`dequantize ${tr.name}: element count ${n} is not a multiple of block size ${tr.blockSize}`);
  }
  const nb = n / tr.blockSize;
  if (src.length < nb * tr.typeSize) {
    throw new Error(`dequantize ${tr.name}: source has ${src.length} bytes, ${nb * tr.typeSize} needed for ${n} elements`);
  }
  const y = out ?? new Float32Array(n);
  if (y.length < n) throw new Error(`dequantize ${tr.name}: output has ${y.length} elements, ${n} needed`);
  DEQUANT[type]!(src, nb, y);
  return y;
}

type Dq = (x: Uint8Array, nb: number, y: Float32Array) => void;

const DEQUANT: Partial<Record<GGMLType, Dq>> = {
  [GGMLType.F32]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) y[i] = f32At(x, 4 * i);
  },
  [GGMLType.F16]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) y[i] = FP16_TABLE[x[2 * i] | (x[2 * i + 1] << 8)];
  },
  [GGMLType.BF16]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) y[i] = bf16ToF32(x[2 * i] | (x[2 * i + 1] << 8));
  },
  // block_q4_0 { half d; u8 qs[16] } : y[j] = (lo - 8)*d, y[j+16] = (hi - 8)*d
  [GGMLType.Q4_0]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 18, d = h16(x, o), yo = i * 32;
      for (let j = 0; j < 16; j++) {
        const q = x[o + 2 + j];
        y[yo + j] = ((q & 0xf) - 8) * d;
        y[yo + j + 16] = ((q >> 4) - 8) * d;
      }
    }
  },
  // block_q4_1 { half d, m; u8 qs[16] } : y = q*d + m
  [GGMLType.Q4_1]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 20, d = h16(x, o), m = h16(x, o + 2), yo = i * 32;
      for (let j = 0; j < 16; j++) {
        const q = x[o + 4 + j];
        y[yo + j] = fr((q & 0xf) * d) + m;
        y[yo + j + 16] = fr((q >> 4) * d) + m;
      }
    }
  },
  // block_q5_0 { half d; u8 qh[4]; u8 qs[16] } : 5th bit of element j in qh bit j
  [GGMLType.Q5_0]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 22, d = h16(x, o), yo = i * 32;
      const qh = (x[o + 2] | (x[o + 3] << 8) | (x[o + 4] << 16) | (x[o + 5] << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = x[o + 6 + j];
        const xh0 = ((qh >>> j) << 4) & 0x10;
        const xh1 = (qh >>> (j + 12)) & 0x10;
        y[yo + j] = (((q & 0xf) | xh0) - 16) * d;
        y[yo + j + 16] = (((q >> 4) | xh1) - 16) * d;
      }
    }
  },
  // block_q5_1 { half d, m; u8 qh[4]; u8 qs[16] }
  [GGMLType.Q5_1]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 24, d = h16(x, o), m = h16(x, o + 2), yo = i * 32;
      const qh = (x[o + 4] | (x[o + 5] << 8) | (x[o + 6] << 16) | (x[o + 7] << 24)) >>> 0;
      for (let j = 0; j < 16; j++) {
        const q = x[o + 8 + j];
        const xh0 = ((qh >>> j) << 4) & 0x10;
        const xh1 = (qh >>> (j + 12)) & 0x10;
        y[yo + j] = fr(((q & 0xf) | xh0) * d) + m;
        y[yo + j + 16] = fr(((q >> 4) | xh1) * d) + m;
      }
    }
  },
  // block_q8_0 { half d; i8 qs[32] }
  [GGMLType.Q8_0]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 34, d = h16(x, o), yo = i * 32;
      for (let j = 0; j < 32; j++) y[yo + j] = i8(x[o + 2 + j]) * d;
    }
  },
  // block_q8_1 { half d; half s; i8 qs[32] } (s = d*sum(qs) is only used by dot products)
  [GGMLType.Q8_1]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 36, d = h16(x, o), yo = i * 32;
      for (let j = 0; j < 32; j++) y[yo + j] = i8(x[o + 4 + j]) * d;
    }
  },
  [GGMLType.Q2_K]: dqQ2K,
  [GGMLType.Q3_K]: dqQ3K,
  [GGMLType.Q4_K]: dqQ4K,
  [GGMLType.Q5_K]: dqQ5K,
  [GGMLType.Q6_K]: dqQ6K,
  // block_q8_K { f32 d; i8 qs[256]; i16 bsums[16] }
  [GGMLType.Q8_K]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 292, d = f32At(x, o), yo = i * 256;
      for (let j = 0; j < 256; j++) y[yo + j] = i8(x[o + 4 + j]) * d;
    }
  },
  // block_iq4_nl { half d; u8 qs[16] } : codebook lookup
  [GGMLType.IQ4_NL]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const o = i * 18, d = h16(x, o), yo = i * 32;
      for (let j = 0; j < 16; j++) {
        const q = x[o + 2 + j];
        y[yo + j] = d * KVALUES_IQ4NL[q & 0xf];
        y[yo + j + 16] = d * KVALUES_IQ4NL[q >> 4];
      }
    }
  },
  [GGMLType.IQ4_XS]: dqIQ4XS,
};

/** block_q2_K { u8 scales[16]; u8 qs[64]; half d; half dmin } (84 B). scales: lo nibble scale, hi nibble min. */
function dqQ2K(x: Uint8Array, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = i * 84, d = h16(x, o + 80), dmin = h16(x, o + 82);
    let yo = i * 256, is = 0;
    for (let n = 0; n < 2; n++) {
      const q = o + 16 + 32 * n; // qs pointer advances 32 bytes per 128 elements
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = x[o + is++];
          const dl = fr(d * (sc & 0xf)), ml = fr(dmin * (sc >> 4));
          const qb = q + 16 * half;
          for (let l = 0; l < 16; l++) y[yo++] = fr(dl * ((x[qb + l] >> shift) & 3)) - ml;
        }
      }
    }
  }
}

/**
 * block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d } (110 B). 16 6-bit scales (stored +32):
 * low 4 bits of scale j in scales[j] (j<8, lo nibble) / scales[j-8] (hi nibble); top 2 bits in
 * scales[8 + j%4] at bit 2*(j/4). Quant value = (2 bits from qs) - (hmask bit set ? 0 : 4).
 */
function dqQ3K(x: Uint8Array, nb: number, y: Float32Array): void {
  const sc = new Int32Array(16);
  for (let i = 0; i < nb; i++) {
    const o = i * 110, dAll = h16(x, o + 108), s = o + 96;
    for (let j = 0; j < 16; j++) {
      const lo = j < 8 ? x[s + j] & 0xf : x[s + j - 8] >> 4;
      const hi = (x[s + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
      sc[j] = (lo | (hi << 4)) - 32;
    }
    let yo = i * 256, is = 0, m = 1;
    for (let n = 0; n < 2; n++) {
      const q = o + 32 + 32 * n;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const dl = fr(dAll * sc[is++]);
          const off = 16 * half;
          for (let l = 0; l < 16; l++) {
            const v = ((x[q + off + l] >> shift) & 3) - (x[o + off + l] & m ? 0 : 4);
            y[yo++] = dl * v;
          }
        }
        m <<= 1;
      }
    }
  }
}

/** get_scale_min_k4 of ggml-quants.c: 6-bit scale and min j (0..7) from the 12 packed bytes at s. */
function scaleMinK4(j: number, x: Uint8Array, s: number, out: Int32Array): void {
  if (j < 4) {
    out[0] = x[s + j] & 63;
    out[1] = x[s + j + 4] & 63;
  } else {
    out[0] = (x[s + j + 4] & 0xf) | ((x[s + j - 4] >> 6) << 4);
    out[1] = (x[s + j + 4] >> 4) | ((x[s + j] >> 6) << 4);
  }
}

/** block_q4_K { half d, dmin; u8 scales[12]; u8 qs[128] } (144 B). y = d*sc*q - dmin*m per 32. */
function dqQ4K(x: Uint8Array, nb: number, y: Float32Array): void {
  const sm = new Int32Array(2);
  for (let i = 0; i < nb; i++) {
    const o = i * 144, d = h16(x, o), dmin = h16(x, o + 2);
    let yo = i * 256;
    for (let c = 0; c < 4; c++) {
      scaleMinK4(2 * c, x, o + 4, sm);
      const d1 = fr(d * sm[0]), m1 = fr(dmin * sm[1]);
      scaleMinK4(2 * c + 1, x, o + 4, sm);
      const d2 = fr(d * sm[0]), m2 = fr(dmin * sm[1]);
      const q = o + 16 + 32 * c;
      for (let l = 0; l < 32; l++) y[yo++] = fr(d1 * (x[q + l] & 0xf)) - m1;
      for (let l = 0; l < 32; l++) y[yo++] = fr(d2 * (x[q + l] >> 4)) - m2;
    }
  }
}

/** block_q5_K { half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] } (176 B). */
function dqQ5K(x: Uint8Array, nb: number, y: Float32Array): void {
  const sm = new Int32Array(2);
  for (let i = 0; i < nb; i++) {
    const o = i * 176, d = h16(x, o), dmin = h16(x, o + 2), qh = o + 16;
    let yo = i * 256, u1 = 1, u2 = 2;
    for (let c = 0; c < 4; c++) {
      scaleMinK4(2 * c, x, o + 4, sm);
      const d1 = fr(d * sm[0]), m1 = fr(dmin * sm[1]);
      scaleMinK4(2 * c + 1, x, o + 4, sm);
      const d2 = fr(d * sm[0]), m2 = fr(dmin * sm[1]);
      const q = o + 48 + 32 * c;
      for (let l = 0; l < 32; l++) y[yo++] = fr(d1 * ((x[q + l] & 0xf) + (x[qh + l] & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) y[yo++] = fr(d2 * ((x[q + l] >> 4) + (x[qh + l] & u2 ? 16 : 0))) - m2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

/** block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d } (210 B). */
function dqQ6K(x: Uint8Array, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = i * 210, d = h16(x, o + 208);
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n, qh = o + 128 + 32 * n, sc = o + 192 + 8 * n, yo = i * 256 + 128 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = x[qh + l];
        const q1 = ((x[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((x[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((x[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((x[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        y[yo + l] = fr(d * i8(x[sc + is])) * q1;
        y[yo + l + 32] = fr(d * i8(x[sc + is + 2])) * q2;
        y[yo + l + 64] = fr(d * i8(x[sc + is + 4])) * q3;
        y[yo + l + 96] = fr(d * i8(x[sc + is + 6])) * q4;
      }
    }
  }
}

/** block_iq4_xs { half d; u16 scales_h; u8 scales_l[4]; u8 qs[128] } (136 B). */
function dqIQ4XS(x: Uint8Array, nb: number, y: Float32Array): void {
  for (let i = 0; i < nb; i++) {
    const o = i * 136, d = h16(x, o), sh = x[o + 2] | (x[o + 3] << 8);
    let yo = i * 256;
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((x[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 0xf) | (((sh >> (2 * ib)) & 3) << 4);
      const dl = fr(d * (ls - 32));
      const q = o + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        y[yo + j] = dl * KVALUES_IQ4NL[x[q + j] & 0xf];
        y[yo + j + 16] = dl * KVALUES_IQ4NL[x[q + j] >> 4];
      }
      yo += 32;
    }
  }
}
