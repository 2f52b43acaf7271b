// Q8_0 kernels over the "X4" repacked layout, in both kernel modules (only SIMD128 instructions:
// relaxed SIMD does not pay for signed 8-bit weights, shared/docs/cpu-kernels.md).
import { SCRATCH, SCRATCH_BYTES, h2fraw, h2fraw4, storeRows, fromLanes, tilesX4 } from './common';
import { mm_q8_0 } from './matmul';

// @ts-ignore: decorator
@inline const P112: f32 = reinterpret<f32>(0x77800000); // 2^112

// One [N, K] Q8_0 matrix keeps its byte count: rows in groups of 4, and group g (the bytes of its 4
// ggml rows) holds nb blocks of 136 bytes:
//   [0, 8)     the 4 rows' f16 scales (row 0 first)
//   [8, 136)   8 vectors; vector k = [row0 qs[4k..4k+3] | row1 qs[4k..4k+3] | row2 .. | row3 ..]
// The N % 4 rows after the last full group stay in ggml layout (mm_q8_0).
// Arithmetic: exactly mm_q8_0's (matmul.ts): per row and token, y = sum over blocks, left to right
// in f32 from 0, of f32(S_b) * (d_w * d_x) with S_b the exact integer block sum, no fused
// multiply-add; so X4, ggml layout, decode and tiles all agree bit for bit.
// - Decode: the activation row is widened once per call into int16 records (64 B + d_x per block);
//   per group and block the 8 vectors are read as 16 sign-extending loads (rows 0-1 / rows 2-3)
//   against 64-bit splats of 4 activations, so lane pairs belong to rows and one shuffle pair
//   per block gives lane r = row r: one weight stream, no horizontal sums (about 2 bytes per
//   instruction against 1.1 for the one-row ggml kernel).
// - T > 1: the tiles of mm_q8_0 (4 rows x 2 weights per vector, a tile of up to 64 tokens, int16
//   records, K segments), the vectors built from the widened X4 vectors by 32-bit lane shuffles
//   (common.ts tilesX4, shared with the SIMD128 Q4_0 X4 kernel).

// @ts-ignore: decorator
@inline const QB: usize = 136;

/** Repack `groups` consecutive groups of 4 ggml Q8_0 rows (nb blocks each) at w into X4, in place; tmp: 4 * 34 * nb bytes. */
export function repack_q8_0_x4(w: usize, tmp: usize, nb: i32, groups: i32): void {
  const rb = <usize>nb * 34, gb = rb * 4;
  for (let g = 0; g < groups; g++) {
    const p = w + <usize>g * gb;
    memory.copy(tmp, p, gb);
    for (let b = 0; b < nb; b++) {
      const o = p + <usize>b * QB, s = tmp + <usize>b * 34;
      for (let r = 0; r < 4; r++) store<u16>(o + (<usize>r << 1), load<u16>(s + <usize>r * rb));
      // 4 x 4 transposes of 32-bit words (the scalar word scatter ran at 0.6 GB/s)
      for (let h = 0; h < 2; h++) {
        const q = s + 2 + (<usize>h << 4);
        const a = v128.load(q), b1 = v128.load(q + rb), c = v128.load(q + 2 * rb), d = v128.load(q + 3 * rb);
        const ab0 = i32x4.shuffle(a, b1, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b1, 2, 6, 3, 7);
        const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
        const v = o + 8 + (<usize>h << 6);
        v128.store(v, i32x4.shuffle(ab0, cd0, 0, 1, 4, 5));
        v128.store(v, i32x4.shuffle(ab0, cd0, 2, 3, 6, 7), 16);
        v128.store(v, i32x4.shuffle(ab1, cd1, 0, 1, 4, 5), 32);
        v128.store(v, i32x4.shuffle(ab1, cd1, 2, 3, 6, 7), 48);
      }
    }
  }
}

/** The ggml bytes (34 * nb) of row `lane` (0..3) of the Q8_0 X4 group at g, written to dst. */
export function unpack_row_q8_0_x4(g: usize, lane: i32, dst: usize, nb: i32): void {
  const l = <usize>lane;
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * QB, d = dst + <usize>b * 34;
    store<u16>(d, load<u16>(o + (l << 1)));
    fromLanes(d + 2, o + 8, l, 8);
  }
}

/** Decode record of one Q8_0 activation block (34 bytes at q) at r (80 bytes): 32 x int16, f32 d_x * 2^112 at 64. */
// @ts-ignore: decorator
@inline function q8rec(q: usize, r: usize): void {
  v128.store(r, v128.load8x8_s(q, 2));
  v128.store(r, v128.load8x8_s(q, 10), 16);
  v128.store(r, v128.load8x8_s(q, 18), 32);
  v128.store(r, v128.load8x8_s(q, 26), 48);
  store<f32>(r, h2fraw(q) * P112 * P112, 64);
}

/** Products of X4 vector k of the block at p with the activation record x: rows 0-1 into a, rows 2-3 into b. */
// @ts-ignore: decorator
@inline function q8x4k(p: usize, x: usize, k: usize): v128 {
  return i32x4.dot_i16x8_s(v128.load8x8_s(p + 8 + (k << 4)), v128.load64_splat(x + (k << 3)));
}
// @ts-ignore: decorator
@inline function q8x4kh(p: usize, x: usize, k: usize): v128 {
  return i32x4.dot_i16x8_s(v128.load8x8_s(p + 16 + (k << 4)), v128.load64_splat(x + (k << 3)));
}

/** One Q8_0 X4 group x one token: f32x4 of the 4 rows' dot products; x: nb q8rec records. */
function groupDotQ8(p: usize, x: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  const end = p + <usize>nb * QB;
  while (p < end) {
    let a = i32x4.add(q8x4k(p, x, 0), q8x4k(p, x, 1)), b = i32x4.add(q8x4kh(p, x, 0), q8x4kh(p, x, 1));
    a = i32x4.add(a, i32x4.add(q8x4k(p, x, 2), q8x4k(p, x, 3))); b = i32x4.add(b, i32x4.add(q8x4kh(p, x, 2), q8x4kh(p, x, 3)));
    a = i32x4.add(a, i32x4.add(q8x4k(p, x, 4), q8x4k(p, x, 5))); b = i32x4.add(b, i32x4.add(q8x4kh(p, x, 4), q8x4kh(p, x, 5)));
    a = i32x4.add(a, i32x4.add(q8x4k(p, x, 6), q8x4k(p, x, 7))); b = i32x4.add(b, i32x4.add(q8x4kh(p, x, 6), q8x4kh(p, x, 7)));
    const S = i32x4.add(i32x4.shuffle(a, b, 0, 2, 4, 6), i32x4.shuffle(a, b, 1, 3, 5, 7));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(S), f32x4.mul(h2fraw4(p), v128.load32_splat(x, 64))));
    p += QB; x += 80;
  }
  return acc;
}

/**
 * y[t*N + n] = dot(row n, token t) for rows [n0, n1) of a Q8_0 X4 matrix of N rows (see above);
 * the tail rows (N % 4) go through mm_q8_0. Same contract as mm_q8_0; needs the per-thread scratch.
 */
export function mm_q8_0_x4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 34, xb = rb;
  const nFull = N & ~3;
  const g0 = n0 >> 2, g1 = (min(n1, nFull) + 3) >> 2;
  if (T == 1 && nb * 80 <= SCRATCH_BYTES) {
    for (let b = 0; b < nb; b++) q8rec(xq + <usize>b * 34, SCRATCH + <usize>b * 80);
    for (let g = g0; g < g1; g++) {
      storeRows(y + (<usize>(g << 2) << 2), groupDotQ8(w + <usize>g * 4 * rb, SCRATCH, nb), g << 2, n0, n1);
    }
  } else if (g0 < g1) {
    // tiles (also T = 1 with rows too long for the decode records)
    tilesX4(8, w, xq, y, K, N, n0, n1, g0, g1, T);
  }
  if (max(n0, nFull) < n1) mm_q8_0(w, xq, y, K, N, max(n0, nFull), n1, T);
}
