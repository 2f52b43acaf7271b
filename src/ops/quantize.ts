/**
 * f32 -> ggml block encoders.
 *
 * - quantizeActivation: the exact bytes llama.cpp's CPU backend produces when it converts an f32
 *   activation row to the weight's vec_dot_type before a matrix product, on x86-64 with AVX2
 *   (ggml/src/ggml-cpu/arch/x86/quants.c quantize_row_q8_0 / quantize_row_q8_1, which on x86 has
 *   no SIMD quantize_row_q8_K and calls ggml-quants.c quantize_row_q8_K_ref).
 * - quantize: simple round-to-nearest weight quantizers (modelled on ggml-quants.c
 *   quantize_row_*_ref; K-quants use a per-sub-block scale/min plus a +-1 search on the integer
 *   sub-scales, not ggml's full make_qkx2 search), used to build test models whose quantized
 *   weights approximate designed f32 weights.
 * - randomBlocks / mulberry32 (random-blocks.ts): random valid blocks for benchmark files.
 */
import { GGMLType, typeName, typeTraits } from '../formats/ggml-types.js';
import { f32ToBf16, f32ToFp16, fp16ToF32, KVALUES_IQ4NL, roundHalfEven } from './dequant.js';

// randomBlocks and mulberry32 live in random-blocks.ts (file size); exported here as the public API.
export { mulberry32, randomBlocks } from './random-blocks.js';

const fr = Math.fround;

export function blockCount(type: GGMLType, n: number, what: string): { nb: number; typeSize: number; blockSize: number } {
  const tr = typeTraits(type);
  if (!tr) throw new Error(`${what}: unknown tensor type ${type}`);
  if (!Number.isInteger(n) || n < 0 || n % tr.blockSize !== 0) {
    throw new Error(`${what} ${tr.name}: ${n} elements is not a multiple of block size ${tr.blockSize}`);
  }
  return { nb: n / tr.blockSize, typeSize: tr.typeSize, blockSize: tr.blockSize };
}

export function putU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);
export function putF32(b: Uint8Array, o: number, v: number): void {
  f32b[0] = v;
  const u = u32b[0];
  b[o] = u & 0xff;
  b[o + 1] = (u >>> 8) & 0xff;
  b[o + 2] = (u >>> 16) & 0xff;
  b[o + 3] = u >>> 24;
}

function encodeF32(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 4);
  for (let i = 0; i < x.length; i++) putF32(out, 4 * i, x[i]);
  return out;
}

function encode16(x: Float32Array, conv: (v: number) => number): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) putU16(out, 2 * i, conv(x[i]));
  return out;
}

/** ggml nearest_int(): adds 1.5*2^23 in f32 and reads the mantissa = round half to even for |v| < 2^22. */
function nearestInt(v: number): number {
  return fr(fr(v) + 12582912) - 12582912;
}

/**
 * Activation row -> vec_dot_type bytes, bit-identical to llama.cpp's CPU backend on x86-64 AVX2.
 * Supported: F32, F16, BF16, Q8_0, Q8_1, Q8_K.
 */
export function quantizeActivation(type: GGMLType, x: Float32Array): Uint8Array {
  const { nb } = blockCount(type, x.length, 'quantizeActivation');
  switch (type) {
    case GGMLType.F32: return encodeF32(x);
    // ggml_cpu_fp32_to_fp16 uses F16C vcvtps2ph (round to nearest even) on x86.
    case GGMLType.F16: return encode16(x, f32ToFp16);
    // Without AVX512-BF16, ggml_cpu_fp32_to_bf16 is the scalar GGML_FP32_TO_BF16.
    case GGMLType.BF16: return encode16(x, f32ToBf16);
    case GGMLType.Q8_0: return actQ8(x, nb, false);
    case GGMLType.Q8_1: return actQ8(x, nb, true);
    case GGMLType.Q8_K: return actQ8K(x, nb);
    default: throw new Error(`quantizeActivation: unsupported activation type ${typeName(type)}`);
  }
}

/**
 * x86 AVX2 quantize_row_q8_0 / q8_1 (arch/x86/quants.c):
 *   amax = max|x|; d = amax / 127.f (f32); stored as fp16 (F16C, nearest-even);
 *   id = amax != 0 ? 127.f / amax : 0 (note: NOT 1/d as in the scalar ref);
 *   q = _mm256_round_ps(x * id, _MM_ROUND_NEAREST) (ties to even), packed with signed saturation;
 *   q8_1 only: s = fp16(d * sum(q)) with the f32 (not fp16-rounded) d.
 */
function actQ8(x: Float32Array, nb: number, withSum: boolean): Uint8Array {
  const bs = withSum ? 36 : 34, qo = withSum ? 4 : 2;
  const out = new Uint8Array(nb * bs);
  for (let i = 0; i < nb; i++) {
    const xo = i * 32, o = i * bs;
    let amax = 0;
    for (let j = 0; j < 32; j++) { const a = Math.abs(x[xo + j]); if (a > amax) amax = a; }
    const d = fr(amax / 127);
    const id = amax !== 0 ? fr(127 / amax) : 0;
    putU16(out, o, f32ToFp16(d));
    let sum = 0;
    for (let j = 0; j < 32; j++) {
      let q = roundHalfEven(fr(x[xo + j] * id));
      // cvtps_epi32 gives INT_MIN for NaN/overflow; packs saturate to the int8 range
      if (q > 127) q = 127; else if (!(q >= -128)) q = -128;
      sum += q;
      out[o + qo + j] = q & 0xff;
    }
    if (withSum) putU16(out, o + 2, f32ToFp16(fr(d * sum)));
  }
  return out;
}

/**
 * quantize_row_q8_K_ref (ggml-quants.c; x86 has no SIMD version):
 *   max = the signed value of largest magnitude (first one on ties, strict '>');
 *   all-zero block: d = 0, qs = 0 (ggml leaves bsums unwritten; we write 0);
 *   iscale = -127.f / max; q = MIN(127, nearest_int(iscale * x)); bsums[j] = sum of q[16j..16j+15];
 *   d = 1 / iscale stored as f32.
 * Caveat: when llama.cpp repacks Q4_K weights (CPU "repack" buffer, AVX2 gemm path) it uses
 * ggml_quantize_mat_q8_K_4x8 instead; that agrees with this except when +max and -max both occur
 * in a block (it then prefers the positive one for the sign of iscale).
 */
function actQ8K(x: Float32Array, nb: number): Uint8Array {
  const out = new Uint8Array(nb * 292);
  for (let i = 0; i < nb; i++) {
    const xo = i * 256, o = i * 292;
    let max = 0, amax = 0;
    for (let j = 0; j < 256; j++) {
      const a = Math.abs(x[xo + j]);
      if (a > amax) { amax = a; max = x[xo + j]; }
    }
    if (amax === 0) continue;
    const iscale = fr(-127 / max);
    for (let j = 0; j < 16; j++) {
      let s = 0;
      for (let l = 0; l < 16; l++) {
        const k = 16 * j + l;
        let q = Math.min(127, nearestInt(iscale * x[xo + k]));
        if (q !== q) q = 0; // nearest_int(NaN) reads NaN's mantissa: 0
        out[o + 4 + k] = q & 0xff;
        s += q;
      }
      putU16(out, o + 260 + 2 * j, s & 0xffff);
    }
    putF32(out, o, fr(1 / iscale));
  }
  return out;
}

/**
 * Round-to-nearest weight quantizer: f32 -> blocks of `type` (x.length a multiple of the block).
 * Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS.
 */
export function quantize(type: GGMLType, x: Float32Array): Uint8Array {
  const { nb, typeSize } = blockCount(type, x.length, 'quantize');
  switch (type) {
    case GGMLType.F32: return encodeF32(x);
    case GGMLType.F16: return encode16(x, f32ToFp16);
    case GGMLType.BF16: return encode16(x, f32ToBf16);
    default: break;
  }
  const enc = ENCODERS[type];
  if (!enc) throw new Error(`quantize: unsupported tensor type ${typeName(type)}`);
  const out = new Uint8Array(nb * typeSize);
  enc(x, nb, out);
  return out;
}

type Enc = (x: Float32Array, nb: number, y: Uint8Array) => void;

/** Signed value of largest magnitude in x[o..o+n) (ggml's "max" in the symmetric quantizers). */
function signedMax(x: ArrayLike<number>, o: number, n: number): number {
  let amax = 0, max = 0;
  for (let j = 0; j < n; j++) { const a = Math.abs(x[o + j]); if (a > amax) { amax = a; max = x[o + j]; } }
  return max;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** C's (int8_t)(float) truncation toward zero. */
function trunc(v: number): number {
  return Math.trunc(v);
}

const ENCODERS: Partial<Record<GGMLType, Enc>> = {
  // quantize_row_q4_0_ref: d = max / -8; q = MIN(15, (int8)(x*id + 8.5))
  [GGMLType.Q4_0]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const xo = i * 32, o = i * 18;
      const d = fr(signedMax(x, xo, 32) / -8), id = d ? fr(1 / d) : 0;
      putU16(y, o, f32ToFp16(d));
      for (let j = 0; j < 16; j++) {
        const a = Math.min(15, trunc(fr(fr(x[xo + j] * id) + 8.5)));
        const b = Math.min(15, trunc(fr(fr(x[xo + 16 + j] * id) + 8.5)));
        y[o + 2 + j] = a | (b << 4);
      }
    }
  },
  // quantize_row_q4_1_ref: d = (max-min)/15, m = min; q = MIN(15, (int8)((x-min)*id + 0.5))
  [GGMLType.Q4_1]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const xo = i * 32, o = i * 20;
      let mn = Infinity, mx = -Infinity;
      for (let j = 0; j < 32; j++) { mn = Math.min(mn, x[xo + j]); mx = Math.max(mx, x[xo + j]); }
      const d = fr(fr(mx - mn) / 15), id = d ? fr(1 / d) : 0;
      putU16(y, o, f32ToFp16(d));
      putU16(y, o + 2, f32ToFp16(mn));
      for (let j = 0; j < 16; j++) {
        const a = Math.min(15, trunc(fr(fr(fr(x[xo + j] - mn) * id) + 0.5)));
        const b = Math.min(15, trunc(fr(fr(fr(x[xo + 16 + j] - mn) * id) + 0.5)));
        y[o + 4 + j] = a | (b << 4);
      }
    }
  },
  // quantize_row_q5_0_ref: d = max / -16; q = MIN(31, (int8)(x*id + 16.5)); bit 4 -> qh bit j (j+16)
  [GGMLType.Q5_0]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const xo = i * 32, o = i * 22;
      const d = fr(signedMax(x, xo, 32) / -16), id = d ? fr(1 / d) : 0;
      putU16(y, o, f32ToFp16(d));
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const a = Math.min(31, trunc(fr(fr(x[xo + j] * id) + 16.5)));
        const b = Math.min(31, trunc(fr(fr(x[xo + 16 + j] * id) + 16.5)));
        y[o + 6 + j] = (a & 0xf) | ((b & 0xf) << 4);
        qh |= ((a & 0x10) >> 4) << j;
        qh |= ((b & 0x10) >> 4) << (j + 16);
      }
      putU16(y, o + 2, qh & 0xffff);
      putU16(y, o + 4, qh >>> 16);
    }
  },
  // quantize_row_q5_1_ref
  [GGMLType.Q5_1]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const xo = i * 32, o = i * 24;
      let mn = Infinity, mx = -Infinity;
      for (let j = 0; j < 32; j++) { mn = Math.min(mn, x[xo + j]); mx = Math.max(mx, x[xo + j]); }
      const d = fr(fr(mx - mn) / 31), id = d ? fr(1 / d) : 0;
      putU16(y, o, f32ToFp16(d));
      putU16(y, o + 2, f32ToFp16(mn));
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const a = Math.min(31, trunc(fr(fr(fr(x[xo + j] - mn) * id) + 0.5)));
        const b = Math.min(31, trunc(fr(fr(fr(x[xo + 16 + j] - mn) * id) + 0.5)));
        y[o + 8 + j] = (a & 0xf) | ((b & 0xf) << 4);
        qh |= ((a & 0x10) >> 4) << j;
        qh |= ((b & 0x10) >> 4) << (j + 16);
      }
      putU16(y, o + 4, qh & 0xffff);
      putU16(y, o + 6, qh >>> 16);
    }
  },
  // quantize_row_q8_0_ref: d = amax/127, id = 1/d, q = roundf(x*id) (ties away from zero)
  [GGMLType.Q8_0]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const xo = i * 32, o = i * 34;
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
      const d = fr(amax / 127), id = d ? fr(1 / d) : 0;
      putU16(y, o, f32ToFp16(d));
      for (let j = 0; j < 32; j++) {
        const v = fr(x[xo + j] * id);
        y[o + 2 + j] = clamp(Math.sign(v) * Math.round(Math.abs(v)), -128, 127) & 0xff;
      }
    }
  },
  [GGMLType.Q2_K]: encQ2K,
  [GGMLType.Q3_K]: encQ3K,
  [GGMLType.Q4_K]: (x, nb, y) => encQ45K(x, nb, y, false),
  [GGMLType.Q5_K]: (x, nb, y) => encQ45K(x, nb, y, true),
  [GGMLType.Q6_K]: encQ6K,
  [GGMLType.IQ4_NL]: (x, nb, y) => {
    for (let i = 0; i < nb; i++) {
      const xo = i * 32, o = i * 18;
      const dh = f32ToFp16(signedMax(x, xo, 32) / -127); // kvalues[0] = -127 maps the extreme value
      putU16(y, o, dh);
      const d = fp16ToF32(dh);
      for (let j = 0; j < 16; j++) {
        y[o + 2 + j] = nearestKvalue(x[xo + j], d) | (nearestKvalue(x[xo + 16 + j], d) << 4);
      }
    }
  },
  [GGMLType.IQ4_XS]: encIQ4XS,
};

/** Index of the IQ4_NL codebook value closest to v/d (d = 0 -> index of value 1, closest to 0). */
function nearestKvalue(v: number, d: number): number {
  const t = d ? v / d : 0;
  let best = 0, bestErr = Infinity;
  for (let k = 0; k < 16; k++) {
    const e = Math.abs(KVALUES_IQ4NL[k] - t);
    if (e < bestErr) { bestErr = e; best = k; }
  }
  return best;
}

/**
 * Shared asymmetric K-quant step: per sub-block scale s_j = (max - min)/nmax and min m_j = -min
 * (min clamped to <= 0 so the stored min is non-negative), then super scales d = max(s)/smax and
 * dmin = max(m)/smax with 4- or 6-bit integer sub-scales. Returns quantized levels in L.
 */
function asymK(
  x: Float32Array, xo: number, nsub: number, sub: number, nmax: number, smax: number,
  ls: Int32Array, lm: Int32Array, L: Uint8Array,
): { dh: number; mh: number } {
  const sc = new Float64Array(nsub), mn = new Float64Array(nsub);
  let maxSc = 0, maxMn = 0;
  for (let j = 0; j < nsub; j++) {
    let lo = 0, hi = -Infinity;
    for (let l = 0; l < sub; l++) { const v = x[xo + j * sub + l]; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    sc[j] = (hi - lo) / nmax;
    mn[j] = -lo;
    maxSc = Math.max(maxSc, sc[j]);
    maxMn = Math.max(maxMn, mn[j]);
  }
  const dh = f32ToFp16(maxSc / smax), mh = f32ToFp16(maxMn / smax);
  const d = fp16ToF32(dh), dmin = fp16ToF32(mh);
  for (let j = 0; j < nsub; j++) {
    // round up the scale index so the block's max still fits after quantizing the scale
    // try the neighbouring integer sub-scales/mins and keep the pair with the least squared error
    const s0 = d ? Math.round(sc[j] / d) : 0, m0 = dmin ? Math.round(mn[j] / dmin) : 0;
    let best = Infinity;
    for (let a = s0 - 1; a <= s0 + 1; a++) {
      if (a < 0 || a > smax) continue;
      for (let b = m0 - 1; b <= m0 + 1; b++) {
        if (b < 0 || b > smax) continue;
        const dl = fr(d * a), ml = fr(dmin * b);
        let err = 0;
        for (let l = 0; l < sub; l++) {
          const v = x[xo + j * sub + l];
          const q = dl ? clamp(Math.round((v + ml) / dl), 0, nmax) : 0;
          err += (fr(dl * q) - ml - v) ** 2;
        }
        if (err < best) { best = err; ls[j] = a; lm[j] = b; }
      }
    }
    const dl = fr(d * ls[j]), ml = fr(dmin * lm[j]);
    for (let l = 0; l < sub; l++) {
      const k = j * sub + l;
      L[k] = dl ? clamp(Math.round((x[xo + k] + ml) / dl), 0, nmax) : 0;
    }
  }
  return { dh, mh };
}

/** block_q2_K: 16 sub-blocks of 16, q in 0..3, 4-bit scale (lo nibble) and min (hi nibble). */
function encQ2K(x: Float32Array, nb: number, y: Uint8Array): void {
  const ls = new Int32Array(16), lm = new Int32Array(16), L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const o = i * 84;
    const { dh, mh } = asymK(x, i * 256, 16, 16, 3, 15, ls, lm, L);
    for (let j = 0; j < 16; j++) y[o + j] = ls[j] | (lm[j] << 4);
    putU16(y, o + 80, dh);
    putU16(y, o + 82, mh);
    // element 128n + 32s + l (l < 32) -> qs[32n + l] bits 2s
    for (let n = 0; n < 2; n++) {
      for (let l = 0; l < 32; l++) {
        const b = 128 * n + l;
        y[o + 16 + 32 * n + l] = L[b] | (L[b + 32] << 2) | (L[b + 64] << 4) | (L[b + 96] << 6);
      }
    }
  }
}

/** Pack 8 6-bit (scale, min) pairs into the 12-byte K4 layout (inverse of get_scale_min_k4). */
function packScalesK4(ls: Int32Array, lm: Int32Array, y: Uint8Array, s: number): void {
  for (let j = 0; j < 12; j++) y[s + j] = 0;
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      y[s + j] = ls[j];
      y[s + j + 4] = lm[j];
    } else {
      y[s + j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
      y[s + j - 4] |= (ls[j] >> 4) << 6;
      y[s + j] |= (lm[j] >> 4) << 6;
    }
  }
}

/** block_q4_K / block_q5_K: 8 sub-blocks of 32 with 6-bit scales/mins; q in 0..15 / 0..31. */
function encQ45K(x: Float32Array, nb: number, y: Uint8Array, five: boolean): void {
  const ls = new Int32Array(8), lm = new Int32Array(8), L = new Uint8Array(256);
  const bs = five ? 176 : 144, qs = five ? 48 : 16;
  for (let i = 0; i < nb; i++) {
    const o = i * bs;
    const { dh, mh } = asymK(x, i * 256, 8, 32, five ? 31 : 15, 63, ls, lm, L);
    putU16(y, o, dh);
    putU16(y, o + 2, mh);
    packScalesK4(ls, lm, y, o + 4);
    if (five) for (let j = 0; j < 32; j++) y[o + 16 + j] = 0;
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const a = L[64 * c + l], b = L[64 * c + 32 + l];
        y[o + qs + 32 * c + l] = (a & 0xf) | ((b & 0xf) << 4);
        if (five) y[o + 16 + l] |= ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
      }
    }
  }
}

/**
 * Symmetric K-quant step: sub-block scale s_j = (signed max)/-nmax, super scale from the signed
 * largest scale: iscale = -smin/maxs, l_j = clamp(nearest(iscale*s_j)), d = 1/iscale (ggml style).
 * Levels L = q + nmax with q in -nmax..nmax-1.
 */
function symK(
  x: Float32Array, xo: number, nsub: number, sub: number, nmax: number, lmin: number, lmax: number,
  ls: Int32Array, L: Uint8Array,
): number {
  const sc = new Float64Array(nsub);
  let maxs = 0, amaxs = 0;
  for (let j = 0; j < nsub; j++) {
    sc[j] = signedMax(x, xo + j * sub, sub) / -nmax;
    if (Math.abs(sc[j]) > amaxs) { amaxs = Math.abs(sc[j]); maxs = sc[j]; }
  }
  if (amaxs === 0) { ls.fill(0); L.fill(nmax); return 0; }
  const iscale = lmin / maxs; // lmin < 0: the largest scale maps to the most negative level
  const dh = f32ToFp16(1 / iscale), d = fp16ToF32(dh);
  for (let j = 0; j < nsub; j++) {
    const l0 = Math.round(iscale * sc[j]);
    let best = Infinity;
    for (let a = l0 - 1; a <= l0 + 1; a++) {
      if (a < lmin || a > lmax) continue;
      const dl = d * a;
      let err = 0;
      for (let l = 0; l < sub; l++) {
        const v = x[xo + j * sub + l];
        const q = dl ? clamp(Math.round(v / dl), -nmax, nmax - 1) : 0;
        err += (dl * q - v) ** 2;
      }
      if (err < best) { best = err; ls[j] = a; }
    }
    const dl = d * ls[j];
    for (let l = 0; l < sub; l++) {
      const k = j * sub + l;
      L[k] = (dl ? clamp(Math.round(x[xo + k] / dl), -nmax, nmax - 1) : 0) + nmax;
    }
  }
  return dh;
}

/** block_q3_K: 16 sub-blocks of 16, q in -4..3, signed 6-bit scales. */
function encQ3K(x: Float32Array, nb: number, y: Uint8Array): void {
  const ls = new Int32Array(16), L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const o = i * 110;
    y.fill(0, o, o + 110);
    const dh = symK(x, i * 256, 16, 16, 4, -32, 31, ls, L);
    putU16(y, o + 108, dh);
    for (let j = 0; j < 16; j++) {
      const l = ls[j] + 32;
      if (j < 8) y[o + 96 + j] = l & 0xf; else y[o + 96 + j - 8] |= (l & 0xf) << 4;
      y[o + 96 + 8 + (j & 3)] |= (l >> 4) << (2 * (j >> 2));
    }
    // element k: hmask[k % 32] bit (k / 32) holds level bit 2; low 2 bits in qs like Q2_K
    for (let k = 0; k < 256; k++) if (L[k] > 3) y[o + (k & 31)] |= 1 << (k >> 5);
    for (let n = 0; n < 2; n++) {
      for (let l = 0; l < 32; l++) {
        const b = 128 * n + l;
        y[o + 32 + 32 * n + l] = (L[b] & 3) | ((L[b + 32] & 3) << 2) | ((L[b + 64] & 3) << 4) | ((L[b + 96] & 3) << 6);
      }
    }
  }
}

/** block_q6_K: 16 sub-blocks of 16, q in -32..31, int8 scales. */
function encQ6K(x: Float32Array, nb: number, y: Uint8Array): void {
  const ls = new Int32Array(16), L = new Uint8Array(256);
  for (let i = 0; i < nb; i++) {
    const o = i * 210;
    y.fill(0, o, o + 210);
    const dh = symK(x, i * 256, 16, 16, 32, -128, 127, ls, L);
    putU16(y, o + 208, dh);
    for (let j = 0; j < 16; j++) y[o + 192 + j] = ls[j] & 0xff;
    for (let n = 0; n < 2; n++) {
      const ql = o + 64 * n, qh = o + 128 + 32 * n, b = 128 * n;
      for (let l = 0; l < 32; l++) {
        const q1 = L[b + l], q2 = L[b + l + 32], q3 = L[b + l + 64], q4 = L[b + l + 96];
        y[ql + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
        y[ql + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
        y[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
      }
    }
  }
}

/** block_iq4_xs: 8 sub-blocks of 32 with signed 6-bit scales (stored +32) times the IQ4_NL codebook. */
function encIQ4XS(x: Float32Array, nb: number, y: Uint8Array): void {
  const sc = new Float64Array(8);
  for (let i = 0; i < nb; i++) {
    const xo = i * 256, o = i * 136;
    y.fill(0, o, o + 136);
    let maxs = 0, amaxs = 0;
    for (let ib = 0; ib < 8; ib++) {
      sc[ib] = signedMax(x, xo + 32 * ib, 32) / -127;
      if (Math.abs(sc[ib]) > amaxs) { amaxs = Math.abs(sc[ib]); maxs = sc[ib]; }
    }
    const dh = f32ToFp16(maxs / -32), d = fp16ToF32(dh);
    putU16(y, o, dh);
    let sh = 0;
    for (let ib = 0; ib < 8; ib++) {
      const l = d ? clamp(Math.round(sc[ib] / d), -32, 31) : 0;
      const ls = l + 32;
      y[o + 4 + (ib >> 1)] |= (ls & 0xf) << (4 * (ib & 1));
      sh |= (ls >> 4) << (2 * ib);
      const dl = fr(d * l);
      for (let j = 0; j < 16; j++) {
        y[o + 8 + 16 * ib + j] = nearestKvalue(x[xo + 32 * ib + j], dl) | (nearestKvalue(x[xo + 32 * ib + 16 + j], dl) << 4);
      }
    }
    putU16(y, o + 2, sh);
  }
}
