// Q4_0 products over the X4 layout (layout_q4x4.ts) with SIMD128 only: mm_q4_0_x4 of the plain
// module build/wasm/kernels.wasm (the relaxed module has its own, matmul_x4.ts). Without an 8-bit
// multiply-add, the nibbles are multiplied as int16 (i32x4.dot_i16x8_s, one pmaddwd).
//
// Arithmetic: per row, token and block the exact integer S_b = sum (q - 8) * x, then
// y = sum over blocks, left to right in f32 from 0, of f32(S_b) * (d_w * d_x), no fused
// multiply-add: decode and tiles agree bit for bit (the N % 4 tail rows go through mm_q4_0's decode).
//
// - Decode (T = 1): X4 vector k, read as 8 int16 lanes (lanes 2r, 2r+1 = row r's bytes 4k..4k+1,
//   4k+2..4k+3), gives four int16 vectors with lane pairs in rows by shift and mask:
//     v & 0xF        elements (4k, 4k+2)        (v >> 8) & 0xF   elements (4k+1, 4k+3)
//     (v >> 4) & 0xF elements (16+4k, 18+4k)    v >> 12          elements (17+4k, 19+4k)
//   The activation row is widened once per call (per K segment of the scratch) into records of
//   those pairs as int16, each pair splatted to a whole vector (256 bytes per block: the products
//   take their activations straight from memory, 1.2x faster than splatting by lane shuffles in
//   the loop) and scaled so that three fields need only a mask (nib4); the products of a pair
//   land in the row's i32 lane (pmaddwd), so no horizontal sums. The offset 8 is removed once per
//   block as 8 * sum(x).
// - T > 1 (and rows too long for the decode records): common.ts tilesX4 with the nibbles split
//   and offset per half block, the tiles of the Q8_0 X4 kernel.
import { SCRATCH, SCRATCH_BYTES, KCONST, hsumi, h2fraw, h2fraw4, storeRows, tilesX4 } from './common';
import { mm_q4_0 } from './matmul';

// @ts-ignore: decorator
@inline const P112: f32 = reinterpret<f32>(0x77800000); // 2^112
/** Bytes of one X4 block (4 rows x 32 weights). */
// @ts-ignore: decorator
@inline const XB: usize = 72;
/** Decode records per K segment: 256 bytes of int16 pairs and 8 of f32 d_x * 2^112, i32 8 * sum(x) each. */
// @ts-ignore: decorator
@inline const SEG: i32 = SCRATCH_BYTES / 264;

/**
 * Decode record of one activation block (34 bytes at q): the 16 activation pairs in nibble order
 * (see top) as int16 scaled to match the masked fields (x 256, x 1, x 16, x 256), each pair
 * splatted to a vector, at r (256 bytes); f32 d_x * 2^112 / 256 and i32 256 * 8 * sum(x) at d.
 */
// @ts-ignore: decorator
@inline function q4rec(q: usize, r: usize, d: usize): void {
  const xa = v128.load(q, 2), xh = v128.load(q, 18);
  // per 4 activations (4k..4k+3): order 4k, 4k+2, 4k+1, 4k+3; then the low and high halves of
  // each k side by side: pairs 4k..4k+3 = (x[4k], x[4k+2]), (x[4k+1], x[4k+3]), (x[16+4k], ..
  const a = i8x16.shuffle(xa, xa, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const b = i8x16.shuffle(xh, xh, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const u = i32x4.shuffle(a, b, 0, 4, 1, 5), w = i32x4.shuffle(a, b, 2, 6, 3, 7);
  splat4(r, i16x8.extend_low_i8x16_s(u));
  splat4(r + 64, i16x8.extend_high_i8x16_s(u));
  splat4(r + 128, i16x8.extend_low_i8x16_s(w));
  splat4(r + 192, i16x8.extend_high_i8x16_s(w));
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(xa), i16x8.extadd_pairwise_i8x16_s(xh));
  store<f32>(d, h2fraw(q) * P112 * P112 * reinterpret<f32>(0x3B800000)); // * 2^-8
  store<i32>(d, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 11, 4);
}
/** The 4 pairs of v (i16x8), splatted and scaled: |x| <= 128, so x * 256 still fits int16. */
// @ts-ignore: decorator
@inline function splat4(r: usize, v: v128): void {
  v128.store(r, i16x8.shl(i32x4.shuffle(v, v, 0, 0, 0, 0), 8));
  v128.store(r, i32x4.shuffle(v, v, 1, 1, 1, 1), 16);
  v128.store(r, i16x8.shl(i32x4.shuffle(v, v, 2, 2, 2, 2), 4), 32);
  v128.store(r, i16x8.shl(i32x4.shuffle(v, v, 3, 3, 3, 3), 8), 48);
}

/**
 * 256 x the integer products of X4 vector v (int16 view) with its 4 splatted, scaled activation
 * pairs at x: the fields by mask alone (v & 0x000F, v & 0x0F00 = 256 q, v & 0x00F0 = 16 q) and
 * one shift (v >> 12), two shifts fewer than shifting every field down (1.2-1.3x faster).
 */
// @ts-ignore: decorator
@inline function nib4(v: v128, x: usize, m0: v128, m1: v128, m2: v128): v128 {
  let s = i32x4.dot_i16x8_s(v128.and(v, m0), v128.load(x));
  s = i32x4.add(s, i32x4.dot_i16x8_s(v128.and(v, m2), v128.load(x, 16)));
  s = i32x4.add(s, i32x4.dot_i16x8_s(v128.and(v, m1), v128.load(x, 32)));
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.shr_u(v, 12), v128.load(x, 48)));
}

/**
 * One X4 group (4 rows) x one token over nb blocks from p: acc plus the f32x4 of the 4 rows' dot
 * products; x, d: q4rec records. 256 S_b is exact in f32 (|S_b| <= 32 * 8 * 128) and
 * f32(256 S_b) * (d_w * d_x / 256) rounds as f32(S_b) * (d_w * d_x): the tiles' bits. One X4
 * vector per iteration of the inner loop: with the block's four vectors in one straight line
 * V8 11.3 loads all of them first and spills 16 vectors.
 */
function groupDotQ4(p: usize, x: usize, d: usize, nb: i32, acc: v128): v128 {
  const end = p + <usize>nb * XB;
  const m0 = v128.load(KCONST, 208), m1 = v128.load(KCONST, 240), m2 = v128.load(KCONST, 256); // i16 0x000F, 0x00F0, 0x0F00
  while (p < end) {
    let s = i32x4.sub(i32x4.splat(0), v128.load32_splat(d, 4));
    for (let k: usize = 0; k < 64; k += 16) s = i32x4.add(s, nib4(v128.load(p + k, 8), x + (k << 2), m0, m1, m2));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(h2fraw4(p), v128.load32_splat(d))));
    p += XB; x += 256; d += 8;
  }
  return acc;
}

/**
 * y[t*N + n] = dot(row n, token t) for rows [n0, n1) of an X4 Q4_0 matrix of N rows (same contract
 * as mm_q4_0; the tail rows (N % 4) go through mm_q4_0). Needs the per-thread scratch.
 */
export function mm_q4_0_x4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 18;
  const nFull = N & ~3;
  const g0 = n0 >> 2, g1 = (min(n1, nFull) + 3) >> 2;
  if (T == 1) {
    // K in segments of SEG blocks (records in scratch); the f32 sums carried over in y
    const ds = SCRATCH + (<usize>SEG << 8);
    for (let b0 = 0; b0 < nb; b0 += SEG) {
      const sn = min(SEG, nb - b0);
      for (let b = 0; b < sn; b++) q4rec(xq + <usize>(b0 + b) * 34, SCRATCH + (<usize>b << 8), ds + (<usize>b << 3));
      for (let g = g0; g < g1; g++) {
        const yg = y + (<usize>(g << 2) << 2);
        // lanes of rows outside [n0, n1) hold whatever y has and are never stored
        const acc = b0 == 0 ? f32x4.splat(0) : v128.load(yg);
        storeRows(yg, groupDotQ4(w + <usize>g * 4 * rb + <usize>b0 * XB, SCRATCH, ds, sn, acc), g << 2, n0, n1);
      }
    }
  } else if (g0 < g1) {
    tilesX4(4, w, xq, y, K, N, n0, n1, g0, g1, T);
  }
  // tail rows: mm_q4_0's decode path one token at a time (its tiles round differently)
  if (max(n0, nFull) < n1) {
    const xb = <usize>nb * 34;
    for (let t = 0; t < T; t++) mm_q4_0(w, xq + <usize>t * xb, y + <usize>t * <usize>N * 4, K, N, max(n0, nFull), n1, 1);
  }
}
