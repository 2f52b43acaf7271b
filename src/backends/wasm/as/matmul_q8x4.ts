// Q8_0 kernels over the "X4" repacked layout, in both kernel modules (only SIMD128 instructions:
// relaxed SIMD does not pay for signed 8-bit weights, shared/docs/cpu-kernels.md).
import { SCRATCH, SCRATCH_BYTES, h2fraw, h2fraw4, storeRows, fromLanes, q8HalfTokens, q8SegmentRecords } from './common';
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
//   records, K segments), the vectors built from the widened X4 vectors by 32-bit lane shuffles.

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

/** Most tokens per Q8_0 X4 tile. */
// @ts-ignore: decorator
@inline const Q8X_TT: i32 = 64;

/**
 * Half block h (weights 16h..16h+15) of the X4 block at p x tokens [0, tn) (the token loop of
 * matmul.ts q8half): int16 records rec + 64t (+ 32h); i32x4 partials in part (h = 0: stored;
 * h = 1: added, scaled by dw4 * d_x(t) (dxs + 4t) and added to the accumulators acc + 16t).
 */
// @ts-ignore: decorator
@inline function q8halfX4(p: usize, h: usize, rec: usize, dxs: usize, part: usize, acc: usize, tn: i32, dw4: v128): void {
  // X4 vector k holds weights 4k..4k+3 of each row; widened (rows 0-1, rows 2-3), its even / odd
  // 32-bit lanes are the "4 rows x 2 weights" vectors for weights (4k, 4k+1) / (4k+2, 4k+3)
  const va = v128.load(p + 8 + (h << 6)), vb = v128.load(p + 24 + (h << 6));
  const vc = v128.load(p + 40 + (h << 6)), vd = v128.load(p + 56 + (h << 6));
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

/** Groups [g0, g1) x T tokens of mm_q8_0_x4 (the structure of matmul.ts tiles_q8_0); rows outside [n0, n1) are not stored. */
function tilesQ8X4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, g0: i32, g1: i32, T: i32): void {
  const nb = K >> 5;
  const rb = <usize>nb * 34, xb = rb;
  const acc = SCRATCH, part = SCRATCH + (<usize>Q8X_TT << 4), dxs = part + (<usize>Q8X_TT << 4);
  for (let t0 = 0; t0 < T; t0 += Q8X_TT) {
    const tn = min(Q8X_TT, T - t0);
    const S = min(nb, max(1, <i32>((<usize>SCRATCH_BYTES - (<usize>Q8X_TT << 5)) / (<usize>tn * 68))));
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
        const pg = w + <usize>g * 4 * rb;
        for (let b = b0; b < b1; b++) {
          const p = pg + <usize>b * QB;
          const dw4 = h2fraw4(p);
          const i0 = <usize>(b - b0) * <usize>tn;
          const rec = recs + (i0 << 6), d = dxs + (i0 << 2);
          q8halfX4(p, 0, rec, d, part, acc, tn, dw4);
          q8halfX4(p, 1, rec, d, part, acc, tn, dw4);
        }
        for (let t = 0; t < tn; t++) storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), v128.load(acc + (<usize>t << 4)), n, n0, n1);
      }
    }
  }
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
    tilesQ8X4(w, xq, y, K, N, n0, n1, g0, g1, T);
  }
  if (max(n0, nFull) < n1) mm_q8_0(w, xq, y, K, N, max(n0, nFull), n1, T);
}
