// Relaxed-SIMD Q4_0 kernels over the "X4" repacked weight layout (build/wasm/kernels-relaxed.wasm
// only; measured design in shared/docs/cpu-kernels.md and cpu-kernels-prefill.md).
//
// X4 layout of one [N, K] Q4_0 matrix (same byte count as ggml): rows are taken in groups of 4;
// group g (rows 4g..4g+3) occupies the bytes the 4 ggml rows occupied, i.e. 4 * 18 * nb bytes at
// g * 4 * rowBytes, as nb blocks of 72 bytes:
//   [0, 8)   the 4 rows' f16 scales (row 0 first)
//   [8, 72)  4 vectors; vector k = [row0 qs[4k..4k+3] | row1 qs[4k..4k+3] | row2 .. | row3 ..]
// The N % 4 rows after the last full group stay in ggml layout at their usual place.
//
// Products: the low nibble of qs[j] is element j and the high nibble element j + 16, so vector k
// against the splat of activation bytes x[4k..4k+3] (low nibbles) and x[16+4k..16+4k+3] (high
// nibbles) gives, in i16 lanes 2r and 2r+1, row r's partial sums: i16x8.relaxed_dot_i8x16_i7x16_s
// with the signed activation as the first operand and the unsigned nibble (0..15, a valid 7-bit
// value, so the result is the same on every platform) as the second. The 8 products of a block
// add up in i16 exactly (|lane| <= 8 * 2 * 127 * 15 = 30480), are widened once per block
// (extadd_pairwise: lane r = row r), the Q4 offset is removed as 8 * sum(x) (exact integers), and
// the block is scaled by d_w * d_x in f32. i32x4.relaxed_dot_i8x16_i7x16_add_s is deliberately not
// used (5 instructions on V8 11.3 and wrong results before tier-up).
//
// Activations are ggml Q8_0 blocks (34 bytes: f16 d, 32 x int8) as quant_q8_0 writes them. Per
// call each thread derives a compact record per (token, block) in its scratch: f32 d_x * 2^112
// (the f16 weight scales are converted without the 2^112 rescale, see h2fraw4) and i32 8*sum(x).
import { SCRATCH, SCRATCH_BYTES, hsumi } from './common';

// @ts-ignore: decorator
@inline const P112: f32 = reinterpret<f32>(0x77800000); // 2^112
/** Bytes of one X4 block (4 rows x 32 weights). */
// @ts-ignore: decorator
@inline const XB: usize = 72;
/** Most tokens per prefill tile. */
// @ts-ignore: decorator
@inline const TT_MAX: i32 = 64;

/** 4 f16 at p -> f32x4 of value * 2^-112 (exact bits moved into f32 position). */
// @ts-ignore: decorator
@inline function h2fraw4(p: usize): v128 {
  return v128.and(i32x4.shl(v128.load16x4_s(p), 13), i32x4.splat(0x8FFFFFFF));
}

/** f16 at p -> f32 value * 2^-112. */
// @ts-ignore: decorator
@inline function h2fraw(p: usize): f32 {
  return reinterpret<f32>((<i32>load<i16>(p) << 13) & 0x8FFFFFFF);
}

/** Record of one activation block (34 bytes at q) at r: f32 d_x * 2^112, i32 8 * sum(x). */
// @ts-ignore: decorator
@inline function xrec(q: usize, r: usize): void {
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(q, 2)), i16x8.extadd_pairwise_i8x16_s(v128.load(q, 18)));
  store<f32>(r, h2fraw(q) * P112 * P112);
  store<i32>(r, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 3, 4);
}

/** i16 sums of one X4 block (vectors at p + 8) against the activation bytes at x (block data). */
// @ts-ignore: decorator
@inline function blockDot(p: usize, x: usize): v128 {
  const v0 = v128.load(p, 8), v1 = v128.load(p, 24), v2 = v128.load(p, 40), v3 = v128.load(p, 56);
  const m = i8x16.splat(0x0F);
  let s = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x), v128.and(v0, m));
  s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 16), i8x16.shr_u(v0, 4)));
  s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 4), v128.and(v1, m)));
  s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 20), i8x16.shr_u(v1, 4)));
  s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 8), v128.and(v2, m)));
  s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 24), i8x16.shr_u(v2, 4)));
  s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 12), v128.and(v3, m)));
  return i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(x, 28), i8x16.shr_u(v3, 4)));
}

/** One X4 group (4 rows) x one token: f32x4 of the 4 rows' dot products. recs: nb records, stride 8. */
function groupDot(p: usize, x: usize, recs: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  const end = p + <usize>nb * XB;
  while (p < end) {
    const s = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(blockDot(p, x + 2)), i32x4.splat(load<i32>(recs, 4)));
    acc = f32x4.relaxed_madd(f32x4.convert_i32x4_s(s), f32x4.mul(h2fraw4(p), f32x4.splat(load<f32>(recs))), acc);
    p += XB; x += 34; recs += 8;
  }
  return acc;
}

/** One ggml-layout Q4_0 row (the tail rows of an X4 matrix) x one token. */
function rowDot(p: usize, x: usize, recs: usize, nb: i32): f32 {
  let acc: f32 = 0;
  const m = i8x16.splat(0x0F);
  for (let i = 0; i < nb; i++) {
    const v = v128.load(p, 2);
    const s16 = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 2), v128.and(v, m)),
                          i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 18), i8x16.shr_u(v, 4)));
    const s = hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) - load<i32>(recs, 4);
    acc += <f32>s * (h2fraw(p) * load<f32>(recs));
    p += 18; x += 34; recs += 8;
  }
  return acc;
}

/** Store lanes of v for rows n..n+3 that fall in [n0, n1) at y (row n's column). */
// @ts-ignore: decorator
@inline function storeRows(y: usize, v: v128, n: i32, n0: i32, n1: i32): void {
  if (n >= n0 && n + 4 <= n1) { v128.store(y, v); return; }
  if (n >= n0 && n < n1) store<f32>(y, f32x4.extract_lane(v, 0));
  if (n + 1 >= n0 && n + 1 < n1) store<f32>(y, f32x4.extract_lane(v, 1), 4);
  if (n + 2 >= n0 && n + 2 < n1) store<f32>(y, f32x4.extract_lane(v, 2), 8);
  if (n + 3 >= n0 && n + 3 < n1) store<f32>(y, f32x4.extract_lane(v, 3), 12);
}

/**
 * One X4 group x tokens [0, tn) of a tile (weights unpacked once per block, reused by every token):
 * recs block-major (record of token t, block b at recs + (b * tn + t) * 8), x token rows of xb
 * bytes, products into acc (tn f32x4, overwritten).
 */
function groupTile(p: usize, x: usize, xb: usize, recs: usize, acc: usize, nb: i32, tn: i32): void {
  for (let t = 0; t < tn; t++) v128.store(acc + (<usize>t << 4), f32x4.splat(0));
  const m = i8x16.splat(0x0F);
  for (let b = 0; b < nb; b++) {
    const v0 = v128.load(p, 8), v1 = v128.load(p, 24), v2 = v128.load(p, 40), v3 = v128.load(p, 56);
    const l0 = v128.and(v0, m), h0 = i8x16.shr_u(v0, 4), l1 = v128.and(v1, m), h1 = i8x16.shr_u(v1, 4);
    const l2 = v128.and(v2, m), h2 = i8x16.shr_u(v2, 4), l3 = v128.and(v3, m), h3 = i8x16.shr_u(v3, 4);
    const dw = h2fraw4(p);
    let q = x + <usize>b * 34 + 2, r = recs + <usize>b * <usize>tn * 8, a = acc;
    const end = a + (<usize>tn << 4);
    while (a < end) {
      let s = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q), l0);
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 16), h0));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 4), l1));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 20), h1));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 8), l2));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 24), h2));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 12), l3));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 28), h3));
      const si = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(s), i32x4.splat(load<i32>(r, 4)));
      v128.store(a, f32x4.relaxed_madd(f32x4.convert_i32x4_s(si), f32x4.mul(dw, f32x4.splat(load<f32>(r))), v128.load(a)));
      q += xb; r += 8; a += 16;
    }
    p += XB;
  }
}

/**
 * y[t*N + n] = dot(row n, token t) for rows [n0, n1) of an X4 Q4_0 matrix of N rows (see top).
 * Same contract as mm_q4_0; any n0 < n1 works (groups cut by the range are computed whole and
 * stored partially). Needs the per-thread scratch.
 */
export function mm_q4_0_x4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 18, xb = <usize>nb * 34;
  const nFull = N & ~3;
  const g0 = n0 >> 2, g1 = (min(n1, nFull) + 3) >> 2;
  const rs = <usize>nb * 8; // records of one token
  if (T == 1) {
    for (let b = 0; b < nb; b++) xrec(xq + <usize>b * 34, SCRATCH + (<usize>b << 3));
    for (let g = g0; g < g1; g++) {
      storeRows(y + (<usize>(g << 2) << 2), groupDot(w + <usize>g * 4 * rb, xq, SCRATCH, nb), g << 2, n0, n1);
    }
    for (let n = max(n0, nFull); n < n1; n++) store<f32>(y + (<usize>n << 2), rowDot(w + <usize>n * rb, xq, SCRATCH, nb));
    return;
  }
  // token tiles: records of the tile block-major, then the f32x4 accumulators of one group
  const tt = max(1, min(TT_MAX, <i32>((<usize>SCRATCH_BYTES - (<usize>TT_MAX << 4)) / rs)));
  const acc = SCRATCH + <usize>tt * rs;
  for (let t0 = 0; t0 < T; t0 += tt) {
    const tn = min(tt, T - t0);
    const x0 = xq + <usize>t0 * xb;
    for (let t = 0; t < tn; t++) {
      for (let b = 0; b < nb; b++) xrec(x0 + <usize>t * xb + <usize>b * 34, SCRATCH + ((<usize>b * <usize>tn + <usize>t) << 3));
    }
    for (let g = g0; g < g1; g++) {
      groupTile(w + <usize>g * 4 * rb, x0, xb, SCRATCH, acc, nb, tn);
      const n = g << 2;
      for (let t = 0; t < tn; t++) storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), v128.load(acc + (<usize>t << 4)), n, n0, n1);
    }
    if (max(n0, nFull) < n1) {
      // tail rows: one token's records at a time, over the tile's (no longer needed) records
      for (let t = 0; t < tn; t++) {
        const xt = x0 + <usize>t * xb;
        for (let b = 0; b < nb; b++) xrec(xt + <usize>b * 34, SCRATCH + (<usize>b << 3));
        for (let n = max(n0, nFull); n < n1; n++) store<f32>(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), rowDot(w + <usize>n * rb, xt, SCRATCH, nb));
      }
    }
  }
}

/**
 * Repack `groups` consecutive groups of 4 ggml Q4_0 rows (nb blocks each) at w into X4, in place;
 * tmp: 4 * 18 * nb bytes of scratch.
 */
export function repack_q4_0_x4(w: usize, tmp: usize, nb: i32, groups: i32): void {
  const rb = <usize>nb * 18, gb = rb * 4;
  for (let g = 0; g < groups; g++) {
    const p = w + <usize>g * gb;
    memory.copy(tmp, p, gb);
    for (let b = 0; b < nb; b++) {
      const o = p + <usize>b * XB, s = tmp + <usize>b * 18;
      for (let r = 0; r < 4; r++) {
        const src = s + <usize>r * rb;
        store<u16>(o + (<usize>r << 1), load<u16>(src));
        for (let k = 0; k < 4; k++) store<u32>(o + 8 + (<usize>k << 4) + (<usize>r << 2), load<u32>(src + 2 + (<usize>k << 2)));
      }
    }
  }
}

/** The ggml bytes (18 * nb) of row `lane` (0..3) of the X4 group at g, written to dst. */
export function unpack_row_q4_0_x4(g: usize, lane: i32, dst: usize, nb: i32): void {
  const l = <usize>lane;
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * XB, d = dst + <usize>b * 18;
    store<u16>(d, load<u16>(o + (l << 1)));
    for (let k = 0; k < 4; k++) store<u32>(d + 2 + (<usize>k << 2), load<u32>(o + 8 + (<usize>k << 4) + (l << 2)));
  }
}
