// Shared inline helpers of the matrix-product kernels (not re-exported by index.ts, so none of
// these become module exports). Pointers are byte offsets into the imported shared memory.

/**
 * Per-thread kernel scratch (set once per instance by the backend through set_scratch: globals are
 * per instance, and every thread has its own instance): SCRATCH_BYTES at SCRATCH, at most
 * SCRATCH_MAX. The prefill tiles cut K into segments whose activation records fill the scratch;
 * 256 KiB measured 1.05-1.17x of 64 KiB for the Q4_0 tiles (longer contiguous weight runs per
 * group), so the backend gives arenas that much unless they are tiny (arena.ts scratchFor). The
 * kernels size their regions from SCRATCH_BYTES and need at least 64 KiB.
 */
export let SCRATCH: usize = 0;
export let SCRATCH_BYTES: i32 = 0;
// @ts-ignore: decorator
@inline export const SCRATCH_MAX: i32 = 262144;
export function setScratch(p: usize, bytes: i32): void { SCRATCH = p; SCRATCH_BYTES = min(bytes, SCRATCH_MAX); }

/**
 * Constant vectors in static memory (the module's data segment: the same bytes written by every
 * instantiation): the 0x0F byte mask at KCONST, i16 ones at KCONST + 16. Kernels load them before
 * their loops: V8 11.3 sinks a splat (even of a computed value) into the loop that uses it and
 * rebuilds it in every iteration (3-5 instructions), but keeps a loaded value in a register.
 */
export const KCONST: usize = memory.data<u8>([
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
  // + 32: Q4_K X4 scale bits 0x03, 0x0C, 0x30 (matmul_x4.ts unpackS)
  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
  12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
  48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
  // + 80: byte selections for i8x16.relaxed_swizzle (0x80 = zero byte on every engine: x86 pshufb
  // zeroes bytes whose index has the top bit set, ARM tbl zeroes indices past 15): bytes
  // 4c..4c+3 of a vector each widened to the two i16 lanes of its row (matmul_x4.ts scJ), c = 0..3
  0, 128, 0, 128, 1, 128, 1, 128, 2, 128, 2, 128, 3, 128, 3, 128,
  4, 128, 4, 128, 5, 128, 5, 128, 6, 128, 6, 128, 7, 128, 7, 128,
  8, 128, 8, 128, 9, 128, 9, 128, 10, 128, 10, 128, 11, 128, 11, 128,
  12, 128, 12, 128, 13, 128, 13, 128, 14, 128, 14, 128, 15, 128, 15, 128,
  // + 144: the mins of two sub-blocks per row (matmul_x4.ts mpJ), first and second half
  0, 128, 4, 128, 1, 128, 5, 128, 2, 128, 6, 128, 3, 128, 7, 128,
  8, 128, 12, 128, 9, 128, 13, 128, 10, 128, 14, 128, 11, 128, 15, 128,
  // + 176: i32 0x8FFFFFFF (f16 bits moved into f32 position, h2f4); + 192: f32 2^112
  255, 255, 255, 143, 255, 255, 255, 143, 255, 255, 255, 143, 255, 255, 255, 143,
  0, 0, 128, 119, 0, 0, 128, 119, 0, 0, 128, 119, 0, 0, 128, 119,
  // + 208: i16 0x000F (matmul_k.ts Q4_K nibble planes, matmul_q4x4.ts)
  15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0,
  // + 224: bytes 8 (the Q4_0 offset, matmul_q4x4.ts); + 240 / 256: i16 0x00F0 / 0x0F00 (matmul_q4x4.ts)
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  240, 0, 240, 0, 240, 0, 240, 0, 240, 0, 240, 0, 240, 0, 240, 0,
  0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15,
], 16);
/** 2^112: rescales an f16 whose bits were moved into f32 position (exponent bias 15 -> 127). */
// @ts-ignore: decorator
@inline export const F16_RESCALE: f32 = reinterpret<f32>(0x77800000);

/**
 * IEEE binary16 at p -> f32, exact for every finite value incl. subnormals (not inf/nan, which
 * never occur as block scales): sign-extend, shift the 15 exponent+mantissa bits into f32
 * position, keep the sign, multiply by 2^112. Branch-free, no lookup table.
 */
// @ts-ignore: decorator
@inline export function h2f(p: usize): f32 {
  const h = <i32>load<i16>(p);
  return reinterpret<f32>((h << 13) & 0x8FFFFFFF) * F16_RESCALE;
}

/** 4 f16 at p (8 bytes) -> f32x4, same trick as h2f. */
// @ts-ignore: decorator
@inline export function h2f4(p: usize): v128 {
  const v = i32x4.shl(v128.load16x4_s(p), 13);
  return f32x4.mul(v128.and(v, i32x4.splat(0x8FFFFFFF)), f32x4.splat(F16_RESCALE));
}

/** 8 halves (as i16x8 lanes) -> two f32x4 (low 4 lanes, high 4 lanes). */
// @ts-ignore: decorator
@inline export function h2f_lo(v: v128): v128 {
  const w = i32x4.shl(i32x4.extend_low_i16x8_s(v), 13);
  return f32x4.mul(v128.and(w, i32x4.splat(0x8FFFFFFF)), f32x4.splat(F16_RESCALE));
}
// @ts-ignore: decorator
@inline export function h2f_hi(v: v128): v128 {
  const w = i32x4.shl(i32x4.extend_high_i16x8_s(v), 13);
  return f32x4.mul(v128.and(w, i32x4.splat(0x8FFFFFFF)), f32x4.splat(F16_RESCALE));
}

/**
 * f32 -> IEEE binary16 bits, round to nearest even (x86 F16C vcvtps2ph imm 0, what ggml's CPU
 * backend uses); NaN stays NaN (quiet, sign and top payload kept) like F16C.
 */
export function f2h(x: f32): u32 {
  const bits = reinterpret<u32>(x);
  const sign = (bits >> 16) & 0x8000;
  const exp = <i32>((bits >> 23) & 0xff);
  const man = bits & 0x7fffff;
  if (exp == 0xff) return man == 0 ? sign | 0x7c00 : sign | 0x7e00 | (man >> 13);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = man | 0x800000;
    const shift = <u32>(14 - e);
    let h = m >> shift;
    const rem = m & ((<u32>1 << shift) - 1);
    const half = <u32>1 << (shift - 1);
    if (rem > half || (rem == half && (h & 1) != 0)) h++;
    return sign | h; // a carry to 0x400 is the smallest normal: correct
  }
  let h = (<u32>e << 10) | (man >> 13);
  const rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++; // carry into exponent (even to inf) is correct
  return sign | h;
}

/** f32 -> bf16 bits, ggml's GGML_FP32_TO_BF16: NaN forced quiet, otherwise round to nearest even. */
// @ts-ignore: decorator
@inline export function f2bf(x: f32): u32 {
  const i = reinterpret<u32>(x);
  if ((i & 0x7fffffff) > 0x7f800000) return ((i >> 16) | 64) & 0xffff;
  return ((i + (0x7fff + ((i >> 16) & 1))) >> 16) & 0xffff;
}

/** Horizontal sum of an f32x4 (lanes (0+2)+(1+3)). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/** Horizontal sum of an i32x4. */
// @ts-ignore: decorator
@inline export function hsumi(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/** Signed 16-byte int8 dot product: sum of a[i]*b[i] in 4 i32 lanes (pmovsxbw + pmaddwd). */
// @ts-ignore: decorator
@inline export function dot8(a: v128, b: v128): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a), i16x8.extend_low_i8x16_s(b)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a), i16x8.extend_high_i8x16_s(b)));
}

/** Unsigned-by-signed variant: a holds 0..255 (u8), b int8. */
// @ts-ignore: decorator
@inline export function dotu8(a: v128, b: v128): v128 {
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(a), i16x8.extend_low_i8x16_s(b)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(a), i16x8.extend_high_i8x16_s(b)));
}

// ---- shared by the X4 kernels (matmul_x4.ts, matmul_q8x4.ts) ----------------------------------

/** 4 f16 at p -> f32x4 of value * 2^-112 (exact bits moved into f32 position). */
// @ts-ignore: decorator
@inline export function h2fraw4(p: usize): v128 {
  return v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8FFFFFFF));
}

/** f16 at p -> f32 value * 2^-112. */
// @ts-ignore: decorator
@inline export function h2fraw(p: usize): f32 {
  return reinterpret<f32>((<i32>load<i16>(p) << 13) & 0x8FFFFFFF);
}

/** Store lanes of v for rows n..n+3 that fall in [n0, n1) at y (row n's column). */
// @ts-ignore: decorator
@inline export function storeRows(y: usize, v: v128, n: i32, n0: i32, n1: i32): void {
  if (n >= n0 && n + 4 <= n1) { v128.store(y, v); return; }
  if (n >= n0 && n < n1) store<f32>(y, f32x4.extract_lane(v, 0));
  if (n + 1 >= n0 && n + 1 < n1) store<f32>(y, f32x4.extract_lane(v, 1), 4);
  if (n + 2 >= n0 && n + 2 < n1) store<f32>(y, f32x4.extract_lane(v, 2), 8);
  if (n + 3 >= n0 && n + 3 < n1) store<f32>(y, f32x4.extract_lane(v, 3), 12);
}

/** Scatter n 4-byte words of one ggml row (src) into lane r of n X4 vectors at dst. */
// @ts-ignore: decorator
@inline export function toLanes(dst: usize, src: usize, r: usize, n: i32): void {
  for (let k = 0; k < n; k++) store<u32>(dst + (<usize>k << 4) + (r << 2), load<u32>(src + (<usize>k << 2)));
}
/** Gather lane l of n X4 vectors at src into n 4-byte words of one ggml row at dst. */
// @ts-ignore: decorator
@inline export function fromLanes(dst: usize, src: usize, l: usize, n: i32): void {
  for (let k = 0; k < n; k++) store<u32>(dst + (<usize>k << 2), load<u32>(src + (<usize>k << 4) + (l << 2)));
}


/**
 * Half block of an X4 tile (the 8-bit X4 vectors va..vd: 4 rows x 4 consecutive weights each, as
 * Q8_0 X4 holds them and Q4_0 X4 yields after the nibble split) x tokens [0, tn): widened to int16
 * and regrouped by 32-bit lane shuffles into the "4 rows x 2 weights" vectors, then the token loop
 * of q8HalfTokens.
 */
// @ts-ignore: decorator
@inline export function halfTokensX4(va: v128, vb: v128, vc: v128, vd: v128,
                                     h: usize, rec: usize, dxs: usize, part: usize, acc: usize, tn: i32, dw4: v128): void {
  // widened (rows 0-1, rows 2-3), the even / odd 32-bit lanes of vector k are the vectors for
  // weights (4k, 4k+1) / (4k+2, 4k+3)
  let lo = i16x8.extend_low_i8x16_s(va), hi = i16x8.extend_high_i8x16_s(va);
  const P0 = i32x4.shuffle(lo, hi, 0, 2, 4, 6), P1 = i32x4.shuffle(lo, hi, 1, 3, 5, 7);
  lo = i16x8.extend_low_i8x16_s(vb); hi = i16x8.extend_high_i8x16_s(vb);
  const P2 = i32x4.shuffle(lo, hi, 0, 2, 4, 6), P3 = i32x4.shuffle(lo, hi, 1, 3, 5, 7);
  lo = i16x8.extend_low_i8x16_s(vc); hi = i16x8.extend_high_i8x16_s(vc);
  const P4 = i32x4.shuffle(lo, hi, 0, 2, 4, 6), P5 = i32x4.shuffle(lo, hi, 1, 3, 5, 7);
  lo = i16x8.extend_low_i8x16_s(vd); hi = i16x8.extend_high_i8x16_s(vd);
  const P6 = i32x4.shuffle(lo, hi, 0, 2, 4, 6), P7 = i32x4.shuffle(lo, hi, 1, 3, 5, 7);
  q8HalfTokens(P0, P1, P2, P3, P4, P5, P6, P7, h, rec, dxs, part, acc, tn, dw4);
}

/** Most tokens per X4 tile (halfTokensX4). */
// @ts-ignore: decorator
@inline export const X4_TT: i32 = 64;

/**
 * Groups [g0, g1) x T tokens of an X4 matrix through halfTokensX4 (the structure of matmul.ts
 * tiles_q8_0): bits = 8 (Q8_0 X4, 136-byte blocks) or 4 (Q4_0 X4, 72-byte blocks, the nibbles
 * split and offset by -8 per half: half 0 = the low nibbles = weights 0..15); a compile-time
 * constant after inlining. Rows outside [n0, n1) are not stored.
 */
// @ts-ignore: decorator
@inline export function tilesX4(bits: i32, w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, g0: i32, g1: i32, T: i32): void {
  const nb = K >> 5;
  const qb: usize = bits == 8 ? 136 : 72;
  const gb = <usize>nb * qb, xb = <usize>nb * 34;
  const acc = SCRATCH, part = SCRATCH + (<usize>X4_TT << 4), dxs = part + (<usize>X4_TT << 4);
  const m = v128.load(KCONST), eight = v128.load(KCONST, 224);
  for (let t0 = 0; t0 < T; t0 += X4_TT) {
    const tn = min(X4_TT, T - t0);
    const S = min(nb, max(1, <i32>((<usize>SCRATCH_BYTES - (<usize>X4_TT << 5)) / (<usize>tn * 68))));
    const recs = dxs + <usize>S * <usize>tn * 4;
    const x0 = xq + <usize>t0 * xb;
    for (let b0 = 0; b0 < nb; b0 += S) {
      const b1 = min(nb, b0 + S);
      q8SegmentRecords(x0, xb, b0, b1, tn, recs, dxs);
      for (let g = g0; g < g1; g++) {
        const n = g << 2;
        for (let t = 0; t < tn; t++) {
          // lanes of rows outside [n0, n1) hold whatever y has and are never stored
          v128.store(acc + (<usize>t << 4), b0 == 0 ? f32x4.splat(0) : v128.load(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2)));
        }
        const pg = w + <usize>g * gb;
        for (let b = b0; b < b1; b++) {
          const p = pg + <usize>b * qb;
          const dw4 = h2fraw4(p);
          const i0 = <usize>(b - b0) * <usize>tn;
          const rec = recs + (i0 << 6), d = dxs + (i0 << 2);
          if (bits == 8) {
            halfTokensX4(v128.load(p, 8), v128.load(p, 24), v128.load(p, 40), v128.load(p, 56), 0, rec, d, part, acc, tn, dw4);
            halfTokensX4(v128.load(p, 72), v128.load(p, 88), v128.load(p, 104), v128.load(p, 120), 1, rec, d, part, acc, tn, dw4);
          } else {
            const v0 = v128.load(p, 8), v1 = v128.load(p, 24), v2 = v128.load(p, 40), v3 = v128.load(p, 56);
            halfTokensX4(i8x16.sub(v128.and(v0, m), eight), i8x16.sub(v128.and(v1, m), eight),
                         i8x16.sub(v128.and(v2, m), eight), i8x16.sub(v128.and(v3, m), eight), 0, rec, d, part, acc, tn, dw4);
            halfTokensX4(i8x16.sub(v128.and(i16x8.shr_u(v0, 4), m), eight), i8x16.sub(v128.and(i16x8.shr_u(v1, 4), m), eight),
                         i8x16.sub(v128.and(i16x8.shr_u(v2, 4), m), eight), i8x16.sub(v128.and(i16x8.shr_u(v3, 4), m), eight), 1, rec, d, part, acc, tn, dw4);
          }
        }
        for (let t = 0; t < tn; t++) storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), v128.load(acc + (<usize>t << 4)), n, n0, n1);
      }
    }
  }
}

/** i32x4 (lane r = row r) of P0..P7 ("4 rows x 2 weights" int16 vectors) against the 8 int16 pairs at x. */
// @ts-ignore: decorator
@inline export function dotPairs8(P0: v128, P1: v128, P2: v128, P3: v128, P4: v128, P5: v128, P6: v128, P7: v128, x: usize): v128 {
  let r = i32x4.dot_i16x8_s(P0, v128.load32_splat(x));
  r = i32x4.add(r, i32x4.dot_i16x8_s(P1, v128.load32_splat(x, 4)));
  r = i32x4.add(r, i32x4.dot_i16x8_s(P2, v128.load32_splat(x, 8)));
  r = i32x4.add(r, i32x4.dot_i16x8_s(P3, v128.load32_splat(x, 12)));
  r = i32x4.add(r, i32x4.dot_i16x8_s(P4, v128.load32_splat(x, 16)));
  r = i32x4.add(r, i32x4.dot_i16x8_s(P5, v128.load32_splat(x, 20)));
  r = i32x4.add(r, i32x4.dot_i16x8_s(P6, v128.load32_splat(x, 24)));
  return i32x4.add(r, i32x4.dot_i16x8_s(P7, v128.load32_splat(x, 28)));
}

/**
 * Token loop of the Q8_0 tiles (matmul.ts q8half, matmul_q8x4.ts q8halfX4): P0..P7 = the 4 rows x 2
 * weights vectors of half block h; int16 records rec + 64t (+ 32h); i32x4 partials in part
 * (h = 0: stored; h = 1: added, scaled by dw4 * d_x(t) (dxs + 4t) and added to acc + 16t).
 */
// @ts-ignore: decorator
@inline export function q8HalfTokens(P0: v128, P1: v128, P2: v128, P3: v128, P4: v128, P5: v128, P6: v128, P7: v128,
                                     h: usize, rec: usize, dxs: usize, part: usize, acc: usize, tn: i32, dw4: v128): void {
  let x = rec + (h << 5), s = part, a = acc, d = dxs;
  const end = part + (<usize>tn << 4);
  while (s < end) {
    let r = dotPairs8(P0, P1, P2, P3, P4, P5, P6, P7, x);
    if (h == 0) {
      v128.store(s, r);
    } else {
      r = i32x4.add(v128.load(s), r);
      v128.store(a, f32x4.add(v128.load(a), f32x4.mul(f32x4.convert_i32x4_s(r), f32x4.mul(dw4, f32x4.splat(load<f32>(d))))));
    }
    x += 64; s += 16; a += 16; d += 4;
  }
}

/**
 * int16 records of blocks [b0, b1) of tn Q8_0 activation rows (x0, row stride xb) for the Q8_0
 * tiles, block-major: record (b, t) at recs + ((b - b0) * tn + t) * 64, its d_x * 2^112 at
 * dxs + ((b - b0) * tn + t) * 4.
 */
// @ts-ignore: decorator
@inline export function q8SegmentRecords(x0: usize, xb: usize, b0: i32, b1: i32, tn: i32, recs: usize, dxs: usize): void {
  for (let b = b0; b < b1; b++) {
    const i0 = <usize>(b - b0) * <usize>tn;
    for (let t = 0; t < tn; t++) {
      const q = x0 + <usize>t * xb + <usize>b * 34, r = recs + ((i0 + <usize>t) << 6);
      v128.store(r, v128.load8x8_s(q, 2));
      v128.store(r, v128.load8x8_s(q, 10), 16);
      v128.store(r, v128.load8x8_s(q, 18), 32);
      v128.store(r, v128.load8x8_s(q, 26), 48);
      store<f32>(dxs + ((i0 + <usize>t) << 2), h2fraw(q) * F16_RESCALE * F16_RESCALE);
    }
  }
}

// ---- Q4_K X4 (matmul_x4.ts relaxed, matmul_q4x4.ts SIMD128) ----------------------------------------

/** Bytes 4j + r (j < 4: sA/mA, j >= 4: sB/mB) of the scales / mins of the group block at p. */
// @ts-ignore: decorator
@inline export function unpackS(p: usize, which: i32): v128 {
  const m4 = v128.load(KCONST);
  const Q = v128.load(p, 16), Q2 = v128.load(p, 32), H = v128.load(p, 48);
  // 16-bit shifts of masked bytes (no bit crosses a byte boundary that the mask keeps): V8 11.3
  // emits i8x16 shifts as a 16-bit shift plus a freshly built mask; masks loaded from KCONST
  if (which == 0) return v128.or(v128.and(Q, m4), i16x8.shl(v128.and(H, v128.load(KCONST, 32)), 4));
  if (which == 1) return v128.or(v128.and(Q2, m4), i16x8.shl(v128.and(H, v128.load(KCONST, 48)), 2));
  if (which == 2) return v128.or(v128.and(i16x8.shr_u(Q, 4), m4), v128.and(H, v128.load(KCONST, 64)));
  return v128.or(v128.and(i16x8.shr_u(Q2, 4), m4), v128.and(i16x8.shr_u(H, 2), v128.load(KCONST, 64)));
}

/** h2f4 (4 f16 at p -> f32x4) with its two constants loaded from KCONST. */
// @ts-ignore: decorator
@inline export function h2f4k(p: usize): v128 {
  return f32x4.mul(v128.and(i32x4.shl(v128.load16x4_s(p), 13), v128.load(KCONST, 176)), v128.load(KCONST, 192));
}

/** Lane jj (i32) of v splatted. */
// @ts-ignore: decorator
@inline export function lane32(v: v128, jj: i32): v128 {
  if (jj == 0) return i32x4.shuffle(v, v, 0, 0, 0, 0);
  if (jj == 1) return i32x4.shuffle(v, v, 1, 1, 1, 1);
  if (jj == 2) return i32x4.shuffle(v, v, 2, 2, 2, 2);
  return i32x4.shuffle(v, v, 3, 3, 3, 3);
}

/**
 * msum of the 4 rows (lanes) of a Q4_K X4 super-block against the Q8_K bsums at bs: mp0..mp3 the
 * rows' mins of sub-blocks 2jj, 2jj + 1 as i16 lanes 2r, 2r + 1 (jj = 0..3).
 */
// @ts-ignore: decorator
@inline export function minsDot(mp0: v128, mp1: v128, mp2: v128, mp3: v128, bs: usize): v128 {
  const b0 = v128.load(bs), b1 = v128.load(bs, 16);
  // B_j = bsums[2j] + bsums[2j + 1] (|B_j| <= 4096), as i16 lane j
  const B = i16x8.add(i8x16.shuffle(b0, b1, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29),
                      i8x16.shuffle(b0, b1, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31));
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(mp0, lane32(B, 0)), i32x4.dot_i16x8_s(mp1, lane32(B, 1))),
    i32x4.add(i32x4.dot_i16x8_s(mp2, lane32(B, 2)), i32x4.dot_i16x8_s(mp3, lane32(B, 3))));
}
