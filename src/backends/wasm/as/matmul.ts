// Matrix products y[t*N + n] = dot(weight row n, activation row t), n in [n0, n1), t in [0, T),
// for the float and 32-element block weight types (K-quants are in matmul_k.ts).
//
// w  = whole weight, N rows x rowBytes(type, K) (ggml block layout, unaligned loads are fine)
// xq = T activation rows converted to the type's vec_dot_type by quant_* (F32: raw f32 rows)
// y  = f32 [T, N]; each call writes only columns [n0, n1), so threads may split the rows.
//
// Dot products follow ggml's ggml_vec_dot_<type>_<vecdot> formulation: per block an exact
// integer sum, times d_w * d_x in f32, accumulated in f32 (4 lanes, summed at the end).
// T == 1 streams each weight row once. T > 1 walks token tiles of TT rows; inside a tile the
// row loop is outer, so a weight row (<= 10 KB for K = 8960 Q8_0) is read from DRAM once per tile
// and reused from L1 for every token, while the activation tile (<= 600 KB) stays in L2.
// For T > 1 the hot types (Q4_0, Q8_0, F16) process 4 weight rows per token so each activation
// load and widening is shared by 4 rows; Q4_0 decode reads one row per pass (two rows sharing the
// plane loads measured slower from DRAM; cpu-kernels.md measured 4 separate row streams as a
// DRAM-prefetch trap).
import { h2f, h2f_lo, h2f_hi, hsum, hsumi, dot8, dotu8, SCRATCH, SCRATCH_BYTES, SCRATCH_MAX, KCONST, setScratch, q8HalfTokens, q8SegmentRecords } from './common';

/** Tokens per tile for T > 1. */
// @ts-ignore: decorator
@inline const TT: i32 = 64;

// @ts-ignore: decorator
@inline function yAt(y: usize, t: i32, N: i32, n: i32): usize {
  return y + ((<usize>t * <usize>N + <usize>n) << 2);
}

// ---- F32 x F32 ----------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline function dot_f32(w: usize, x: usize, K: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(w + o), v128.load(x + o)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(w + o, 16), v128.load(x + o, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(w + o, 32), v128.load(x + o, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(w + o, 48), v128.load(x + o, 48)));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; k < K; k++) s += load<f32>(w + (<usize>k << 2)) * load<f32>(x + (<usize>k << 2));
  return s;
}

export function mm_f32(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const rb = <usize>K << 2;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_f32(wr, xq + <usize>t * rb, K));
    }
  }
}

// ---- F16 x F16 / BF16 x BF16 (converted to f32, f32 accumulation as ggml's SIMD path) -----------

// @ts-ignore: decorator
@inline function bf_lo(v: v128): v128 { return i32x4.shl(i32x4.extend_low_i16x8_u(v), 16); }
// @ts-ignore: decorator
@inline function bf_hi(v: v128): v128 { return i32x4.shl(i32x4.extend_high_i16x8_u(v), 16); }

// @ts-ignore: decorator
@inline function dot_f16(w: usize, x: usize, K: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 1;
    const w0 = v128.load(w + o), w1 = v128.load(w + o, 16);
    const x0 = v128.load(x + o), x1 = v128.load(x + o, 16);
    a0 = f32x4.add(a0, f32x4.mul(h2f_lo(w0), h2f_lo(x0)));
    a1 = f32x4.add(a1, f32x4.mul(h2f_hi(w0), h2f_hi(x0)));
    a2 = f32x4.add(a2, f32x4.mul(h2f_lo(w1), h2f_lo(x1)));
    a3 = f32x4.add(a3, f32x4.mul(h2f_hi(w1), h2f_hi(x1)));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; k < K; k++) s += h2f(w + (<usize>k << 1)) * h2f(x + (<usize>k << 1));
  return s;
}

/** f16 row part: 16 halves at p against 4 converted activation vectors, into acc. */
// @ts-ignore: decorator
@inline function f16row(p: usize, acc: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const w0 = v128.load(p), w1 = v128.load(p, 16);
  return f32x4.add(f32x4.add(acc, f32x4.add(f32x4.mul(h2f_lo(w0), x0), f32x4.mul(h2f_hi(w0), x1))),
                   f32x4.add(f32x4.mul(h2f_lo(w1), x2), f32x4.mul(h2f_hi(w1), x3)));
}

/** 4 rows x 1 token: each activation chunk is converted to f32 once for 4 rows. */
// @ts-ignore: decorator
@inline function dot4_f16(w: usize, rb: usize, x: usize, K: i32, yo: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 1;
    const xv0 = v128.load(x + o), xv1 = v128.load(x + o, 16);
    const x0 = h2f_lo(xv0), x1 = h2f_hi(xv0), x2 = h2f_lo(xv1), x3 = h2f_hi(xv1);
    a0 = f16row(w + o, a0, x0, x1, x2, x3);
    a1 = f16row(w + rb + o, a1, x0, x1, x2, x3);
    a2 = f16row(w + 2 * rb + o, a2, x0, x1, x2, x3);
    a3 = f16row(w + 3 * rb + o, a3, x0, x1, x2, x3);
  }
  let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
  for (; k < K; k++) {
    const o = <usize>k << 1;
    const xv = h2f(x + o);
    s0 += h2f(w + o) * xv;
    s1 += h2f(w + rb + o) * xv;
    s2 += h2f(w + 2 * rb + o) * xv;
    s3 += h2f(w + 3 * rb + o) * xv;
  }
  store<f32>(yo, s0);
  store<f32>(yo, s1, 4);
  store<f32>(yo, s2, 8);
  store<f32>(yo, s3, 12);
}

export function mm_f16(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const rb = <usize>K << 1;
  if (T == 1) {
    for (let n = n0; n < n1; n++) store<f32>(yAt(y, 0, N, n), dot_f16(w + <usize>n * rb, xq, K));
    return;
  }
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    let n = n0;
    for (; n + 4 <= n1; n += 4) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) dot4_f16(wr, rb, xq + <usize>t * rb, K, yAt(y, t, N, n));
    }
    for (; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_f16(wr, xq + <usize>t * rb, K));
    }
  }
}

// @ts-ignore: decorator
@inline function dot_bf16(w: usize, x: usize, K: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const o = <usize>k << 1;
    const w0 = v128.load(w + o), w1 = v128.load(w + o, 16);
    const x0 = v128.load(x + o), x1 = v128.load(x + o, 16);
    a0 = f32x4.add(a0, f32x4.mul(bf_lo(w0), bf_lo(x0)));
    a1 = f32x4.add(a1, f32x4.mul(bf_hi(w0), bf_hi(x0)));
    a2 = f32x4.add(a2, f32x4.mul(bf_lo(w1), bf_lo(x1)));
    a3 = f32x4.add(a3, f32x4.mul(bf_hi(w1), bf_hi(x1)));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; k < K; k++) {
    const o = <usize>k << 1;
    s += reinterpret<f32>(<u32>load<u16>(w + o) << 16) * reinterpret<f32>(<u32>load<u16>(x + o) << 16);
  }
  return s;
}

export function mm_bf16(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const rb = <usize>K << 1;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_bf16(wr, xq + <usize>t * rb, K));
    }
  }
}

// ---- Q4_0 x Q8_0: sum_i (q4_i - 8) * q8_i per block, times d_w * d_x ---------------------------
// No byte widening (x64 has no cheap one): 16-bit lanes are split into even/odd byte planes.
// Weights: bytes ^ 0x88 turn each nibble q into the 4-bit two's complement of q - 8, so a shift
// to the lane's top and an arithmetic shift right by 12 yields q - 8 (1-2 ops per plane).
// Activations: the odd plane is x & 0xFF00 and the even plane x << 8, i.e. both scaled by 256
// (1 op each); the 256 is folded into the f16 rescale constant of d_x (2^104 instead of 2^112),
// so the result is unchanged and exact: |block sum| <= 32 * 8 * 128 * 256 = 2^23 converts exactly.

/** f16 at p as raw bits in f32 position (value * 2^-112); see common.h2f. */
// @ts-ignore: decorator
@inline function hraw(p: usize): f32 { return reinterpret<f32>((<i32>load<i16>(p) << 13) & 0x8FFFFFFF); }
// @ts-ignore: decorator
@inline const P112: f32 = reinterpret<f32>(0x77800000); // 2^112
// @ts-ignore: decorator
@inline const P104: f32 = reinterpret<f32>(0x73800000); // 2^104 = 2^112 / 256

/** d_x / 256 for the x-scaled-by-256 planes (exact: a power-of-two rescale of a normal f32). */
// @ts-ignore: decorator
@inline function dx256(q: usize): f32 { return hraw(q) * P104; }

/** Block's i32x4 partial sums (times 256): 16 weight bytes at p+2 against the activation planes. */
// @ts-ignore: decorator
@inline function q4_0_row(p: usize, xe0: v128, xo0: v128, xe1: v128, xo1: v128): v128 {
  const v = v128.xor(v128.load(p, 2), i8x16.splat(-120)); // 0x88
  const le = i16x8.shr_s(i16x8.shl(v, 12), 12); // elements 0, 2, .. 14
  const lo = i16x8.shr_s(i16x8.shl(v, 4), 12);  // elements 1, 3, .. 15
  const he = i16x8.shr_s(i16x8.shl(v, 8), 12);  // elements 16, 18, .. 30
  const ho = i16x8.shr_s(v, 12);                // elements 17, 19, .. 31
  return i32x4.add(i32x4.add(i32x4.dot_i16x8_s(le, xe0), i32x4.dot_i16x8_s(lo, xo0)),
                   i32x4.add(i32x4.dot_i16x8_s(he, xe1), i32x4.dot_i16x8_s(ho, xo1)));
}

// @ts-ignore: decorator
@inline function xEven(v: v128): v128 { return i16x8.shl(v, 8); }
// @ts-ignore: decorator
@inline function xOdd(v: v128): v128 { return v128.and(v, i16x8.splat(-256)); }

// @ts-ignore: decorator
@inline function q4_0_block(p: usize, q: usize, acc: v128): v128 {
  const x0 = v128.load(q, 2), x1 = v128.load(q, 18);
  const s = q4_0_row(p, xEven(x0), xOdd(x0), xEven(x1), xOdd(x1));
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat((hraw(p) * P112) * dx256(q))));
}

// @ts-ignore: decorator
@inline function dot_q4_0(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  let p = w, q = x;
  const end = w + <usize>nb * 18;
  // two blocks per iteration halves the loop overhead (V8 adds a stack check per iteration)
  while (p + 36 <= end) {
    acc = q4_0_block(p, q, acc);
    acc = q4_0_block(p + 18, q + 34, acc);
    p += 36; q += 68;
  }
  if (p < end) acc = q4_0_block(p, q, acc);
  return hsum(acc);
}

// @ts-ignore: decorator
@inline function acc4(acc: v128, s: v128, dw: usize, dx: f32): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat((hraw(dw) * P112) * dx)));
}

/** 4 rows (stride rb) x 1 token: the activation block is loaded and split once for 4 rows. */
// @ts-ignore: decorator
@inline function dot4_q4_0(w: usize, rb: usize, x: usize, nb: i32, yo: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let p = w, q = x;
  const end = w + <usize>nb * 18;
  while (p < end) {
    const x0 = v128.load(q, 2), x1 = v128.load(q, 18);
    const xe0 = xEven(x0), xo0 = xOdd(x0), xe1 = xEven(x1), xo1 = xOdd(x1);
    const dx = dx256(q);
    a0 = acc4(a0, q4_0_row(p, xe0, xo0, xe1, xo1), p, dx);
    a1 = acc4(a1, q4_0_row(p + rb, xe0, xo0, xe1, xo1), p + rb, dx);
    a2 = acc4(a2, q4_0_row(p + 2 * rb, xe0, xo0, xe1, xo1), p + 2 * rb, dx);
    a3 = acc4(a3, q4_0_row(p + 3 * rb, xe0, xo0, xe1, xo1), p + 3 * rb, dx);
    p += 18; q += 34;
  }
  store<f32>(yo, hsum(a0));
  store<f32>(yo, hsum(a1), 4);
  store<f32>(yo, hsum(a2), 8);
  store<f32>(yo, hsum(a3), 12);
}

/** 2 rows (stride rb) x 1 token for decode: shares the activation loads, split and d_x. */
// @ts-ignore: decorator
@inline function dot2_q4_0(w: usize, rb: usize, x: usize, nb: i32, y0: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let p = w, q = x;
  const end = w + <usize>nb * 18;
  while (p < end) {
    const x0 = v128.load(q, 2), x1 = v128.load(q, 18);
    const xe0 = xEven(x0), xo0 = xOdd(x0), xe1 = xEven(x1), xo1 = xOdd(x1);
    const dx = dx256(q);
    a0 = acc4(a0, q4_0_row(p, xe0, xo0, xe1, xo1), p, dx);
    a1 = acc4(a1, q4_0_row(p + rb, xe0, xo0, xe1, xo1), p + rb, dx);
    p += 18; q += 34;
  }
  store<f32>(y0, hsum(a0));
  store<f32>(y0, hsum(a1), 4);
}

// ---- Q4_0 decode over pre-widened activation planes ------------------------------------------
// Per-thread scratch (set once per instance by the backend: globals are per instance, and every
// thread has its own instance). Decode widens the activation row once per call into int16 planes
// so each weight block costs 1 load + 6 unpack ops + 4 pmaddwd: unsigned nibbles against the
// planes, minus 8*sum(x) (precomputed per block) = sum((q-8)*x) exactly.

/** Bytes of scratch each thread needs (the backend reserves this much per thread per arena). */
/** The most per-thread scratch the kernels use (set_scratch may give less: at least 64 KiB). */
export function scratch_bytes(): i32 { return SCRATCH_MAX; }
export function set_scratch(p: usize, bytes: i32): void { setScratch(p, bytes); }
/** This instance's (thread's) scratch address (jobs that hand it to kernels as a buffer). */
export function scratch_ptr(): usize { return SCRATCH; }

/** Activation plane record per block: x[0..7], x[8..15], x[16..23], x[24..31] as i16x8, 8*pair sums, d_x. */
// @ts-ignore: decorator
@inline const PREC: usize = 96;

function q4_0_planes(xq: usize, nb: i32, dst: usize): void {
  const eight = i16x8.splat(8);
  for (let i = 0; i < nb; i++) {
    const q = xq + <usize>i * 34, r = dst + <usize>i * PREC;
    const a = v128.load(q, 2), b = v128.load(q, 18);
    const x0 = i16x8.extend_low_i8x16_s(a), x1 = i16x8.extend_high_i8x16_s(a);
    const x2 = i16x8.extend_low_i8x16_s(b), x3 = i16x8.extend_high_i8x16_s(b);
    v128.store(r, x0);
    v128.store(r, x1, 16);
    v128.store(r, x2, 32);
    v128.store(r, x3, 48);
    v128.store(r, i32x4.add(i32x4.add(i32x4.dot_i16x8_s(x0, eight), i32x4.dot_i16x8_s(x1, eight)),
                            i32x4.add(i32x4.dot_i16x8_s(x2, eight), i32x4.dot_i16x8_s(x3, eight))), 64);
    store<f32>(r, h2f(q), 80);
  }
}

/** Integer block sum of one weight block against one plane record (i32x4 partials); m: the 0x0F bytes of KCONST (= 0x000F on zero-extended bytes). */
// @ts-ignore: decorator
@inline function q4_0_planar(p: usize, r: usize, m: v128): v128 {
  const v = v128.load(p, 2);
  const lo = i16x8.extend_low_i8x16_u(v), hi = i16x8.extend_high_i8x16_u(v);
  const s = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(lo, m), v128.load(r)), i32x4.dot_i16x8_s(v128.and(hi, m), v128.load(r, 16))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(lo, 4), v128.load(r, 32)), i32x4.dot_i16x8_s(i16x8.shr_u(hi, 4), v128.load(r, 48))));
  return i32x4.sub(s, v128.load(r, 64));
}

// @ts-ignore: decorator
@inline function dot_q4_0p(w: usize, planes: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  let p = w, r = planes;
  const end = w + <usize>nb * 18;
  const m = v128.load(KCONST);
  while (p < end) {
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(q4_0_planar(p, r, m)), f32x4.splat(h2f(p) * load<f32>(r, 80))));
    p += 18; r += PREC;
  }
  return hsum(acc);
}

/** Block sum of unpacked weight nibbles (w0..w3) against one token's plane record r. */
// @ts-ignore: decorator
@inline function q4_0_wdot(w0: v128, w1: v128, w2: v128, w3: v128, r: usize): v128 {
  const s = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(r)), i32x4.dot_i16x8_s(w1, v128.load(r, 16))),
    i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(r, 32)), i32x4.dot_i16x8_s(w3, v128.load(r, 48))));
  return i32x4.sub(s, v128.load(r, 64));
}

/**
 * One row x up to 4 tokens (continuous-batching decode): each weight block is loaded and
 * unpacked once for all tokens. r0..r3 are the tokens' planes (repeat the last one to pad);
 * `nt` results are stored at y, y + ys, ...
 */
function dot4t_q4_0p(p: usize, nb: i32, r0: usize, r1: usize, r2: usize, r3: usize, y: usize, ys: usize, nt: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = p + <usize>nb * 18;
  const m = i16x8.splat(0x0F);
  while (p < end) {
    const v = v128.load(p, 2);
    const lo = i16x8.extend_low_i8x16_u(v), hi = i16x8.extend_high_i8x16_u(v);
    const w0 = v128.and(lo, m), w1 = v128.and(hi, m), w2 = i16x8.shr_u(lo, 4), w3 = i16x8.shr_u(hi, 4);
    const dw = h2f(p);
    a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(q4_0_wdot(w0, w1, w2, w3, r0)), f32x4.splat(dw * load<f32>(r0, 80))));
    a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(q4_0_wdot(w0, w1, w2, w3, r1)), f32x4.splat(dw * load<f32>(r1, 80))));
    a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(q4_0_wdot(w0, w1, w2, w3, r2)), f32x4.splat(dw * load<f32>(r2, 80))));
    a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(q4_0_wdot(w0, w1, w2, w3, r3)), f32x4.splat(dw * load<f32>(r3, 80))));
    p += 18; r0 += PREC; r1 += PREC; r2 += PREC; r3 += PREC;
  }
  store<f32>(y, hsum(a0));
  if (nt > 1) store<f32>(y + ys, hsum(a1));
  if (nt > 2) store<f32>(y + 2 * ys, hsum(a2));
  if (nt > 3) store<f32>(y + 3 * ys, hsum(a3));
}

/** One row x 2 tokens (planes r0, r1). */
function dot2t_q4_0p(p: usize, nb: i32, r0: usize, r1: usize, y: usize, ys: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  const end = p + <usize>nb * 18;
  const m = i16x8.splat(0x0F);
  while (p < end) {
    const v = v128.load(p, 2);
    const lo = i16x8.extend_low_i8x16_u(v), hi = i16x8.extend_high_i8x16_u(v);
    const w0 = v128.and(lo, m), w1 = v128.and(hi, m), w2 = i16x8.shr_u(lo, 4), w3 = i16x8.shr_u(hi, 4);
    const dw = h2f(p);
    a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(q4_0_wdot(w0, w1, w2, w3, r0)), f32x4.splat(dw * load<f32>(r0, 80))));
    a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(q4_0_wdot(w0, w1, w2, w3, r1)), f32x4.splat(dw * load<f32>(r1, 80))));
    p += 18; r0 += PREC; r1 += PREC;
  }
  store<f32>(y, hsum(a0));
  store<f32>(y + ys, hsum(a1));
}

/** Tokens whose planes fit the scratch at once (at most 4); 0 when there is no scratch. */
// @ts-ignore: decorator
@inline function planeGroup(nb: i32): i32 {
  return SCRATCH == 0 ? 0 : min(4, <i32>(<usize>SCRATCH_BYTES / (<usize>nb * PREC)));
}

export function mm_q4_0(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 18, xb = <usize>nb * 34;
  const G = planeGroup(nb);
  if (T > 1 && T <= 8 && G >= 2) {
    // Small batches (several sequences decoding together): groups of up to 4 tokens share each
    // weight block; the weights stream once per group instead of once per token.
    const pb = <usize>nb * PREC;
    for (let g = 0; g < T; g += G) {
      const nt = min(G, T - g);
      for (let t = 0; t < nt; t++) q4_0_planes(xq + <usize>(g + t) * xb, nb, SCRATCH + <usize>t * pb);
      if (nt == 1) {
        for (let n = n0; n < n1; n++) store<f32>(yAt(y, g, N, n), dot_q4_0p(w + <usize>n * rb, SCRATCH, nb));
        continue;
      }
      if (nt == 2) {
        for (let n = n0; n < n1; n++) dot2t_q4_0p(w + <usize>n * rb, nb, SCRATCH, SCRATCH + pb, yAt(y, g, N, n), <usize>N * 4);
        continue;
      }
      const r0 = SCRATCH, r1 = SCRATCH + (nt > 1 ? pb : 0), r2 = SCRATCH + <usize>min(2, nt - 1) * pb, r3 = SCRATCH + <usize>min(3, nt - 1) * pb;
      for (let n = n0; n < n1; n++) dot4t_q4_0p(w + <usize>n * rb, nb, r0, r1, r2, r3, yAt(y, g, N, n), <usize>N * 4, nt);
    }
    return;
  }
  if (T == 1 && SCRATCH != 0 && <usize>nb * PREC <= <usize>SCRATCH_BYTES) {
    q4_0_planes(xq, nb, SCRATCH);
    let n = n0;
    // one row per pass: measured faster from DRAM than two rows sharing the plane loads
    // (4.7 -> 6.3 GB/s for 8960 x 1536, equal for 1536 x 8960; two weight streams 1 row apart)
    for (; n < n1; n++) store<f32>(yAt(y, 0, N, n), dot_q4_0p(w + <usize>n * rb, SCRATCH, nb));
    return;
  }
  if (T == 1) {
    let n = n0;
    for (; n + 2 <= n1; n += 2) dot2_q4_0(w + <usize>n * rb, rb, xq, nb, yAt(y, 0, N, n));
    if (n < n1) store<f32>(yAt(y, 0, N, n), dot_q4_0(w + <usize>n * rb, xq, nb));
    return;
  }
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    let n = n0;
    for (; n + 4 <= n1; n += 4) {
      const wr = w + <usize>n * rb;
      // 4 consecutive y columns of token t are contiguous: y[t*N + n .. n+3]
      for (let t = t0; t < t1; t++) dot4_q4_0(wr, rb, xq + <usize>t * xb, nb, yAt(y, t, N, n));
    }
    for (; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q4_0(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- Q8_0 x Q8_0 ---------------------------------------------------------------------------------
// Both operands are loaded widened (v128.load8x8_s: 8 int8 -> i16x8 in one instruction) and
// multiplied with i32x4.dot_i16x8_s. Relaxed SIMD does not pay for Q8_0 (cpu-kernels.md: signed
// weights need a sign transfer or a nibble split), so both modules run these kernels.
//
// One arithmetic for every path, so a product does not depend on T, on the token tiling or on the
// row split: per row and token, y = sum over blocks b, left to right in f32 from 0, of
// f32(S_b) * (d_w * d_x), where S_b is the exact integer block sum and d_w * d_x is the f32
// product of the weight's f16 bits moved into f32 position (hraw, value * 2^-112) and
// d_x * 2^112 (dx112: exact power-of-two rescales, one rounding as h2f(w) * h2f(x)); no fused
// multiply-add.
// - T = 1 (decode): the activation row is widened once per call into int16 planes in the
//   per-thread scratch; one block per step, its exact sum added in f32; rows longer than 128
//   blocks two per pass (2 weight streams still prefetch well): both rows' partial sums reduce
//   together (3 shuffles + 2 adds) into one vector whose lanes 0 and 2 accumulate the two rows.
// - T > 1 (small batches and prefill): groups of 4 rows, one row per lane (structure of q8s in
//   cpu-kernels-prefill.md, without repacking the weights): per (group, half block) the 4 rows'
//   16 weights are widened and transposed into 8 vectors of 4 rows x 2 weights kept in registers
//   for a tile of up to 64 tokens, whose activations were widened once into int16 records in the
//   per-thread scratch; each product is one load32_splat + one dot_i16x8_s and the per-block
//   scaling is shared by 4 rows. K is cut into segments whose records fit the scratch; the
//   accumulators restart from y, so the segment length does not change the sums.
// - Rows outside whole 4-row groups of the range, or no scratch: one row x one token.

/** d_x * 2^112 of the Q8_0 activation block at q. */
// @ts-ignore: decorator
@inline function dx112(q: usize): f32 { return hraw(q) * P112 * P112; }

/** i32x4 partial sums of the Q8_0 weight block at p against the activation block at q. */
// @ts-ignore: decorator
@inline function q8blk(p: usize, q: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 2), v128.load8x8_s(q, 2)), i32x4.dot_i16x8_s(v128.load8x8_s(p, 10), v128.load8x8_s(q, 10))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 18), v128.load8x8_s(q, 18)), i32x4.dot_i16x8_s(v128.load8x8_s(p, 26), v128.load8x8_s(q, 26))));
}

/** One row x one token in the canonical order (no scratch, or rows outside whole groups). */
function dot_q8_0(w: usize, x: usize, nb: i32): f32 {
  let acc: f32 = 0;
  let p = w, q = x;
  const end = w + <usize>nb * 34;
  while (p < end) {
    acc += <f32>hsumi(q8blk(p, q)) * (hraw(p) * dx112(q));
    p += 34; q += 34;
  }
  return acc;
}

/** Widen the activation row xq (nb Q8_0 blocks) into int16 planes (64 B per block) and dx112 (f32 per block at dxs). */
function q8_0_planes(xq: usize, nb: i32, planes: usize, dxs: usize): void {
  for (let b = 0; b < nb; b++) {
    const q = xq + <usize>b * 34, r = planes + (<usize>b << 6);
    v128.store(r, v128.load8x8_s(q, 2));
    v128.store(r, v128.load8x8_s(q, 10), 16);
    v128.store(r, v128.load8x8_s(q, 18), 32);
    v128.store(r, v128.load8x8_s(q, 26), 48);
    store<f32>(dxs + (<usize>b << 2), dx112(q));
  }
}

/** i32x4 partial sums of the Q8_0 weight block at p against the int16 plane record r. */
// @ts-ignore: decorator
@inline function q8plane(p: usize, r: usize): v128 {
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 2), v128.load(r)), i32x4.dot_i16x8_s(v128.load8x8_s(p, 10), v128.load(r, 16))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(p, 18), v128.load(r, 32)), i32x4.dot_i16x8_s(v128.load8x8_s(p, 26), v128.load(r, 48))));
}

/** One row x one token over widened planes (same arithmetic as dot_q8_0), one block per step. */
function dotp_q8_0(w: usize, planes: usize, dxs: usize, nb: i32): f32 {
  let acc: f32 = 0;
  let p = w, r = planes, d = dxs;
  const end = w + <usize>nb * 34;
  while (p < end) {
    acc += <f32>hsumi(q8plane(p, r)) * (hraw(p) * load<f32>(d));
    p += 34; r += 64; d += 4;
  }
  return acc;
}

/**
 * Two rows (p, p + rb) x one token over widened planes, one block per step: both rows' partial
 * sums reduce together into lanes 0-1 (row p) and 2-3 (row p + rb) and one vector accumulator
 * holds both rows (same arithmetic per lane as dot_q8_0). Results: lanes 0 and 2 at y0, y0 + 4.
 */
function dot2p_q8_0(w: usize, rb: usize, planes: usize, dxs: usize, nb: i32, y0: usize): void {
  let acc = f32x4.splat(0);
  let p = w, r = planes, d = dxs;
  const end = w + <usize>nb * 34;
  while (p < end) {
    const s0 = q8plane(p, r), s1 = q8plane(p + rb, r);
    const t = i32x4.add(i32x4.shuffle(s0, s1, 0, 1, 4, 5), i32x4.shuffle(s0, s1, 2, 3, 6, 7));
    const S = i32x4.add(t, i32x4.shuffle(t, t, 1, 0, 3, 2));
    let h = v128.load16_lane(p, i32x4.splat(0), 0);
    h = v128.load16_lane(p, h, 1);
    h = v128.load16_lane(p + rb, h, 2);
    h = v128.load16_lane(p + rb, h, 3);
    const dw = v128.and(i32x4.shl(i32x4.extend_low_i16x8_s(h), 13), i32x4.splat(0x8FFFFFFF));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(S), f32x4.mul(dw, v128.load32_splat(d))));
    p += 34; r += 64; d += 4;
  }
  store<f32>(y0, f32x4.extract_lane(acc, 0));
  store<f32>(y0, f32x4.extract_lane(acc, 2), 4);
}

/** 4x4 transpose steps of i32 lanes: lane r of result j = lane j of a_r. */
// @ts-ignore: decorator
@inline function tr0(a0: v128, a1: v128): v128 { return i32x4.shuffle(a0, a1, 0, 4, 1, 5); }
// @ts-ignore: decorator
@inline function tr1(a0: v128, a1: v128): v128 { return i32x4.shuffle(a0, a1, 2, 6, 3, 7); }
// @ts-ignore: decorator
@inline function trLo(t0: v128, t1: v128): v128 { return i32x4.shuffle(t0, t1, 0, 1, 4, 5); }
// @ts-ignore: decorator
@inline function trHi(t0: v128, t1: v128): v128 { return i32x4.shuffle(t0, t1, 2, 3, 6, 7); }

/** Most tokens per Q8_0 tile. */
// @ts-ignore: decorator
@inline const Q8_TT: i32 = 64;

/**
 * Half block h (weights 16h..16h+15) of the 4 rows at p (stride rb) x tokens [0, tn): int16
 * activation records rec + 64t (+ 32h); i32x4 partials in part (h = 0: stored; h = 1: added, then
 * scaled by dw4 * d_x(t) (dxs + 4t) and added to the f32x4 accumulators acc + 16t).
 */
// @ts-ignore: decorator
@inline function q8half(p: usize, rb: usize, h: usize, rec: usize, dxs: usize, part: usize, acc: usize, tn: i32, dw4: v128): void {
  const o: usize = 2 + (h << 4);
  const v0 = v128.load(p + o), v1 = v128.load(p + rb + o), v2 = v128.load(p + 2 * rb + o), v3 = v128.load(p + 3 * rb + o);
  const l0 = i16x8.extend_low_i8x16_s(v0), l1 = i16x8.extend_low_i8x16_s(v1);
  const l2 = i16x8.extend_low_i8x16_s(v2), l3 = i16x8.extend_low_i8x16_s(v3);
  let ta = tr0(l0, l1), tb = tr0(l2, l3);
  const P0 = trLo(ta, tb), P1 = trHi(ta, tb);
  ta = tr1(l0, l1); tb = tr1(l2, l3);
  const P2 = trLo(ta, tb), P3 = trHi(ta, tb);
  const h0 = i16x8.extend_high_i8x16_s(v0), h1 = i16x8.extend_high_i8x16_s(v1);
  const h2 = i16x8.extend_high_i8x16_s(v2), h3 = i16x8.extend_high_i8x16_s(v3);
  ta = tr0(h0, h1); tb = tr0(h2, h3);
  const P4 = trLo(ta, tb), P5 = trHi(ta, tb);
  ta = tr1(h0, h1); tb = tr1(h2, h3);
  const P6 = trLo(ta, tb), P7 = trHi(ta, tb);
  q8HalfTokens(P0, P1, P2, P3, P4, P5, P6, P7, h, rec, dxs, part, acc, tn, dw4);
}

/** Full 4-row groups [ga, gb) x T tokens (see the top of this section). */
function tiles_q8_0(w: usize, xq: usize, y: usize, K: i32, N: i32, ga: i32, gb: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 34;
  const acc = SCRATCH, part = SCRATCH + (<usize>Q8_TT << 4), dxs = part + (<usize>Q8_TT << 4);
  for (let t0 = 0; t0 < T; t0 += Q8_TT) {
    const tn = min(Q8_TT, T - t0);
    // blocks per segment: the segment's records (64 B + 4 B per token and block) fill the scratch
    const S = min(nb, max(1, <i32>((<usize>SCRATCH_BYTES - (<usize>Q8_TT << 5)) / (<usize>tn * 68))));
    const recs = dxs + <usize>S * <usize>tn * 4;
    const x0 = xq + <usize>t0 * rb;
    for (let b0 = 0; b0 < nb; b0 += S) {
      const b1 = min(nb, b0 + S);
      // int16 records of the segment, block-major: record (b, t) at recs + ((b - b0) * tn + t) * 64
      q8SegmentRecords(x0, rb, b0, b1, tn, recs, dxs);
      for (let g = ga; g < gb; g++) {
        const n = g << 2;
        for (let t = 0; t < tn; t++) {
          v128.store(acc + (<usize>t << 4), b0 == 0 ? f32x4.splat(0) : v128.load(yAt(y, t0 + t, N, n)));
        }
        const pg = w + <usize>n * rb;
        for (let b = b0; b < b1; b++) {
          const p = pg + <usize>b * 34;
          const dw4 = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(hraw(p)),
            1, hraw(p + rb)), 2, hraw(p + 2 * rb)), 3, hraw(p + 3 * rb));
          const i0 = <usize>(b - b0) * <usize>tn;
          const rec = recs + (i0 << 6), d = dxs + (i0 << 2);
          q8half(p, rb, 0, rec, d, part, acc, tn, dw4);
          q8half(p, rb, 1, rec, d, part, acc, tn, dw4);
        }
        for (let t = 0; t < tn; t++) v128.store(yAt(y, t0 + t, N, n), v128.load(acc + (<usize>t << 4)));
      }
    }
  }
}

/** Scratch bytes a Q8_0 tile needs at least (accumulators, partials, one block of records). */
// @ts-ignore: decorator
@inline const Q8_MIN_SCRATCH: i32 = (Q8_TT << 5) + Q8_TT * 68;

export function mm_q8_0(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 34, xb = rb;
  const ga = (n0 + 3) >> 2, gb = n1 >> 2;
  if (T == 1 && SCRATCH != 0 && <usize>nb * 68 <= <usize>SCRATCH_BYTES) {
    const dxs = SCRATCH + (<usize>nb << 6);
    q8_0_planes(xq, nb, SCRATCH, dxs);
    let n = n0;
    // measured (single thread, 8960 x 1536 / 1536 x 8960): one row per pass is faster for short
    // rows, two rows sharing the plane loads for long ones
    if (nb > 128) for (; n + 2 <= n1; n += 2) dot2p_q8_0(w + <usize>n * rb, rb, SCRATCH, dxs, nb, yAt(y, 0, N, n));
    for (; n < n1; n++) store<f32>(yAt(y, 0, N, n), dotp_q8_0(w + <usize>n * rb, SCRATCH, dxs, nb));
    return;
  }
  const tiled = T > 1 && SCRATCH != 0 && SCRATCH_BYTES >= Q8_MIN_SCRATCH && ga < gb;
  for (let n = n0; n < n1; n++) {
    if (tiled && n == (ga << 2)) { n = (gb << 2) - 1; continue; }
    const wr = w + <usize>n * rb;
    for (let t = 0; t < T; t++) store<f32>(yAt(y, t, N, n), dot_q8_0(wr, xq + <usize>t * xb, nb));
  }
  if (tiled) tiles_q8_0(w, xq, y, K, N, ga, gb, T);
}

// ---- IQ4_NL x Q8_0: 4-bit indices into the kvalues_iq4nl codebook (pshufb lookup) ---------------

// @ts-ignore: decorator
@inline function kvalues(): v128 {
  return i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
}

// @ts-ignore: decorator
@inline function dot_iq4_nl(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  const kv = kvalues();
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 18, xb = x + <usize>i * 34;
    const v = v128.load(wb, 2);
    const lo = i8x16.swizzle(kv, v128.and(v, i8x16.splat(0x0f)));
    const hi = i8x16.swizzle(kv, i8x16.shr_u(v, 4));
    const s = i32x4.add(dot8(lo, v128.load(xb, 2)), dot8(hi, v128.load(xb, 18)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(wb) * h2f(xb))));
  }
  return hsum(acc);
}

export function mm_iq4_nl(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 18, xb = <usize>nb * 34;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_iq4_nl(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- Q4_1 x Q8_1: sum_i q4_i * q8_i * d_w*d_x + m_w * s_x ----------------------------------------

// @ts-ignore: decorator
@inline function dot_q4_1(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  let ms: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 20, xb = x + <usize>i * 36;
    const v = v128.load(wb, 4);
    const s = i32x4.add(dotu8(v128.and(v, i8x16.splat(0x0f)), v128.load(xb, 4)), dotu8(i8x16.shr_u(v, 4), v128.load(xb, 20)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(wb) * h2f(xb))));
    ms += h2f(wb + 2) * h2f(xb + 2);
  }
  return hsum(acc) + ms;
}

export function mm_q4_1(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 20, xb = <usize>nb * 36;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q4_1(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- Q5_0 / Q5_1: 5th bits from a 32-bit qh word expanded to 0x10 bytes ---------------------------

/** Bits 0..15 of `bits` -> 16 bytes, byte j = 0x10 if bit j is set, else 0. */
// @ts-ignore: decorator
@inline function bit5(bits: u32): v128 {
  const b = i8x16.swizzle(i16x8.splat(<i16>bits), i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const sel = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(b, sel), sel), i8x16.splat(0x10));
}

// @ts-ignore: decorator
@inline function dot_q5_0(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 22, xb = x + <usize>i * 34;
    const qh = load<u32>(wb, 2);
    const v = v128.load(wb, 6);
    const lo = i8x16.sub(v128.or(v128.and(v, i8x16.splat(0x0f)), bit5(qh)), i8x16.splat(16));
    const hi = i8x16.sub(v128.or(i8x16.shr_u(v, 4), bit5(qh >> 16)), i8x16.splat(16));
    const s = i32x4.add(dot8(lo, v128.load(xb, 2)), dot8(hi, v128.load(xb, 18)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(wb) * h2f(xb))));
  }
  return hsum(acc);
}

export function mm_q5_0(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 22, xb = <usize>nb * 34;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q5_0(wr, xq + <usize>t * xb, nb));
    }
  }
}

// @ts-ignore: decorator
@inline function dot_q5_1(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  let ms: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 24, xb = x + <usize>i * 36;
    const qh = load<u32>(wb, 4);
    const v = v128.load(wb, 8);
    const lo = v128.or(v128.and(v, i8x16.splat(0x0f)), bit5(qh));
    const hi = v128.or(i8x16.shr_u(v, 4), bit5(qh >> 16));
    const s = i32x4.add(dotu8(lo, v128.load(xb, 4)), dotu8(hi, v128.load(xb, 20)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(h2f(wb) * h2f(xb))));
    ms += h2f(wb + 2) * h2f(xb + 2);
  }
  return hsum(acc) + ms;
}

export function mm_q5_1(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 24, xb = <usize>nb * 36;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q5_1(wr, xq + <usize>t * xb, nb));
    }
  }
}
