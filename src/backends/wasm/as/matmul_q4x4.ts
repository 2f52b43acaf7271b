// Q4_0 and Q4_K products over the X4 layouts (layout_x4.ts) with SIMD128 only: mm_q4_0_x4 and
// mm_q4_k_x4 of the plain module build/wasm/kernels.wasm (the relaxed module has its own, matmul_x4.ts). Without an 8-bit
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
import { SCRATCH, SCRATCH_BYTES, KCONST, hsumi, h2fraw, h2fraw4, storeRows, tilesX4, unpackS, h2f4k, minsDot, dotPairs8 } from './common';
import { mm_q4_0 } from './matmul';
import { mm_q4_k } from './matmul_k';

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
  pairRecords(xa, xh, r);
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(xa), i16x8.extadd_pairwise_i8x16_s(xh));
  store<f32>(d, h2fraw(q) * P112 * P112 * reinterpret<f32>(0x3B800000)); // * 2^-8
  store<i32>(d, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 11, 4);
}
/**
 * The records of 4 X4 vectors (256 bytes at r) from the activations of their low nibbles (lo: 16
 * bytes, 4 per vector) and high nibbles (hi): per 4 activations (4k..4k+3) the order 4k, 4k+2,
 * 4k+1, 4k+3, the low and high halves of each k side by side, widened: pairs (lo[4k], lo[4k+2]),
 * (lo[4k+1], lo[4k+3]), (hi[4k], hi[4k+2]), (hi[4k+1], hi[4k+3]) of vector k, splatted and scaled.
 */
// @ts-ignore: decorator
@inline function pairRecords(xa: v128, xh: v128, r: usize): void {
  const a = i8x16.shuffle(xa, xa, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const b = i8x16.shuffle(xh, xh, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const u = i32x4.shuffle(a, b, 0, 4, 1, 5), w = i32x4.shuffle(a, b, 2, 6, 3, 7);
  splat4(r, i16x8.extend_low_i8x16_s(u));
  splat4(r + 64, i16x8.extend_high_i8x16_s(u));
  splat4(r + 128, i16x8.extend_low_i8x16_s(w));
  splat4(r + 192, i16x8.extend_high_i8x16_s(w));
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
 * vector per iteration of an inner loop that steps pointers (1.16x a loop indexed by k, whose
 * address arithmetic V8 redoes per iteration): with the block's four vectors in one straight
 * line V8 11.3 loads all of them first and spills 16 vectors.
 */
function groupDotQ4(p: usize, x: usize, d: usize, nb: i32, acc: v128): v128 {
  const end = p + <usize>nb * XB;
  const m0 = v128.load(KCONST, 208), m1 = v128.load(KCONST, 240), m2 = v128.load(KCONST, 256); // i16 0x000F, 0x00F0, 0x0F00
  while (p < end) {
    let s = i32x4.sub(i32x4.splat(0), v128.load32_splat(d, 4));
    const pe = p + 64;
    let q = p, xq = x;
    while (q < pe) { s = i32x4.add(s, nib4(v128.load(q, 8), xq, m0, m1, m2)); q += 16; xq += 64; }
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

// ---- Q4_K --------------------------------------------------------------------------------------
//
// Layout: matmul_x4.ts (super-blocks of 576 bytes per group: d, dmin, scales and mins re-packed,
// 32 vectors; vector 8c + k = the rows' qs[32c + 4k ..], low nibbles sub-block 2c, high 2c + 1).
// Arithmetic (decode and tiles alike): per row, token and super-block the exact integers
// isum = sum_j sc(j) * dot(j) and msum = sum_j m(j) * (bsums[2j] + bsums[2j+1]); then
// A = sum over super-blocks, in order, of f32(isum) * (d * d_y), M likewise of f32(msum) * (dmin * d_y)
// (f32 from 0, no fused multiply-add), y = A - M. A is carried in y between K segments and M
// computed over all super-blocks with the last one, so decode and tiles agree bit for bit.
// - Decode: the nibble fields of matmul_q4x4's Q4_0 decode (pairRecords, nib4's masks), the fields
//   of sub-block 2c and 2c + 1 summed apart (x 256, exact), shifted back and scaled per row by
//   i32x4.mul with the widened 6-bit scales once per chunk.
// - T > 1: per sub-block the nibbles widened to int16 and multiplied by the rows' scales
//   (|q * sc| <= 945), regrouped into "4 rows x 2 weights" vectors, and 8 of them at a time run
//   over a token tile against int16 records (the token loop of the Q8_0 tiles, sums kept in i32).

/** Bytes of one Q4_K X4 super-block (4 rows x 256 weights). */
// @ts-ignore: decorator
@inline const KB: usize = 576;
/** Super-blocks per K segment of the decode records (2048 bytes each). */
// @ts-ignore: decorator
@inline const KSEG: i32 = SCRATCH_BYTES / 2048;

/** Decode records of one Q8_K super-block (qs at q) at r: chunk c, vector k at r + 512c + 64k. */
// @ts-ignore: decorator
@inline function kRecords(q: usize, r: usize): void {
  for (let c: usize = 0; c < 4; c++) {
    pairRecords(v128.load(q + (c << 6)), v128.load(q + (c << 6), 32), r + (c << 9));
    pairRecords(v128.load(q + (c << 6), 16), v128.load(q + (c << 6), 48), r + (c << 9) + 256);
  }
}

/**
 * isum part of chunk c (vectors at vp, records at xp): the sums of sub-blocks 2c (low nibbles, lo)
 * and 2c + 1 (hi), x 256 and exact, shifted back and times the rows' scales scLo / scHi. Two
 * vectors per iteration with pointer increments (1.1x faster than one; four were slower).
 */
// @ts-ignore: decorator
@inline function kChunk(vp: usize, xp: usize, scLo: v128, scHi: v128, m0: v128, m1: v128, m2: v128): v128 {
  let lo = i32x4.splat(0), hi = i32x4.splat(0);
  const vend = vp + 128;
  while (vp < vend) {
    const v = v128.load(vp);
    lo = i32x4.add(lo, i32x4.add(i32x4.dot_i16x8_s(v128.and(v, m0), v128.load(xp)), i32x4.dot_i16x8_s(v128.and(v, m2), v128.load(xp, 16))));
    hi = i32x4.add(hi, i32x4.add(i32x4.dot_i16x8_s(v128.and(v, m1), v128.load(xp, 32)), i32x4.dot_i16x8_s(i16x8.shr_u(v, 12), v128.load(xp, 48))));
    const v2 = v128.load(vp, 16);
    lo = i32x4.add(lo, i32x4.add(i32x4.dot_i16x8_s(v128.and(v2, m0), v128.load(xp, 64)), i32x4.dot_i16x8_s(v128.and(v2, m2), v128.load(xp, 80))));
    hi = i32x4.add(hi, i32x4.add(i32x4.dot_i16x8_s(v128.and(v2, m1), v128.load(xp, 96)), i32x4.dot_i16x8_s(i16x8.shr_u(v2, 12), v128.load(xp, 112))));
    vp += 32; xp += 128;
  }
  return i32x4.add(i32x4.mul(i32x4.shr_s(lo, 8), scLo), i32x4.mul(i32x4.shr_s(hi, 8), scHi));
}

/** i32x4 (lane r = row r) of bytes 4j..4j+3 of s (j = 0..3). */
// @ts-ignore: decorator
@inline function bytes4(s: v128, j: i32): v128 {
  if (j == 0) return i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(s));
  if (j == 1) return i32x4.extend_high_i16x8_u(i16x8.extend_low_i8x16_u(s));
  if (j == 2) return i32x4.extend_low_i16x8_u(i16x8.extend_high_i8x16_u(s));
  return i32x4.extend_high_i16x8_u(i16x8.extend_high_i8x16_u(s));
}

/** isum of the 4 rows (lanes) of the group super-block at p against decode records x. */
function kIsumDecode(p: usize, x: usize): v128 {
  const m0 = v128.load(KCONST, 208), m1 = v128.load(KCONST, 240), m2 = v128.load(KCONST, 256);
  const sA = unpackS(p, 0), sB = unpackS(p, 1);
  let s = kChunk(p + 64, x, bytes4(sA, 0), bytes4(sA, 1), m0, m1, m2);
  s = i32x4.add(s, kChunk(p + 192, x + 512, bytes4(sA, 2), bytes4(sA, 3), m0, m1, m2));
  s = i32x4.add(s, kChunk(p + 320, x + 1024, bytes4(sB, 0), bytes4(sB, 1), m0, m1, m2));
  return i32x4.add(s, kChunk(p + 448, x + 1536, bytes4(sB, 2), bytes4(sB, 3), m0, m1, m2));
}

/** i16x8 of the mins of sub-blocks 2jj, 2jj+1 for the 4 rows (lanes 2r, 2r+1 = row r), SIMD128 swizzle. */
// @ts-ignore: decorator
@inline function mpJ(mA: v128, mB: v128, jj: i32): v128 {
  return i8x16.swizzle(jj < 2 ? mA : mB, v128.load(KCONST + 144 + (<usize>(jj & 1) << 4)));
}

/** msum of the 4 rows (lanes) of the group super-block at p against the Q8_K bsums at bs. */
// @ts-ignore: decorator
@inline function kMsum(p: usize, bs: usize): v128 {
  const mA = unpackS(p, 2), mB = unpackS(p, 3);
  return minsDot(mpJ(mA, mB, 0), mpJ(mA, mB, 1), mpJ(mA, mB, 2), mpJ(mA, mB, 3), bs);
}

/** M of one group (4 rows) and one token: super-blocks [0, nb) of the group at p, Q8_K row x. */
function kMinsDecode(p: usize, x: usize, nb: i32): v128 {
  let m = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    m = f32x4.add(m, f32x4.mul(f32x4.convert_i32x4_s(kMsum(p, x + 260)), f32x4.mul(h2f4k(p + 8), f32x4.splat(load<f32>(x)))));
    p += KB; x += 292;
  }
  return m;
}

/** i16 "4 rows x 2 weights" vectors of 4 X4 nibble byte vectors, times the rows' scales sc (lanes 2r, 2r+1). */
// @ts-ignore: decorator
@inline function kHalf(n0: v128, n1: v128, n2: v128, n3: v128, sc: v128, x: usize, part: usize, tn: i32, first: bool): void {
  let lo = i16x8.extend_low_i8x16_u(n0), hi = i16x8.extend_high_i8x16_u(n0);
  const P0 = i16x8.mul(i32x4.shuffle(lo, hi, 0, 2, 4, 6), sc), P1 = i16x8.mul(i32x4.shuffle(lo, hi, 1, 3, 5, 7), sc);
  lo = i16x8.extend_low_i8x16_u(n1); hi = i16x8.extend_high_i8x16_u(n1);
  const P2 = i16x8.mul(i32x4.shuffle(lo, hi, 0, 2, 4, 6), sc), P3 = i16x8.mul(i32x4.shuffle(lo, hi, 1, 3, 5, 7), sc);
  lo = i16x8.extend_low_i8x16_u(n2); hi = i16x8.extend_high_i8x16_u(n2);
  const P4 = i16x8.mul(i32x4.shuffle(lo, hi, 0, 2, 4, 6), sc), P5 = i16x8.mul(i32x4.shuffle(lo, hi, 1, 3, 5, 7), sc);
  lo = i16x8.extend_low_i8x16_u(n3); hi = i16x8.extend_high_i8x16_u(n3);
  const P6 = i16x8.mul(i32x4.shuffle(lo, hi, 0, 2, 4, 6), sc), P7 = i16x8.mul(i32x4.shuffle(lo, hi, 1, 3, 5, 7), sc);
  let s = part;
  const end = part + (<usize>tn << 4);
  while (s < end) {
    const r = dotPairs8(P0, P1, P2, P3, P4, P5, P6, P7, x);
    v128.store(s, first ? r : i32x4.add(v128.load(s), r));
    x += 512; s += 16;
  }
}

/** Sub-block j (chunk c = j >> 1, half hf = j & 1) of the group super-block at p x the token tile: isums into part. */
// @ts-ignore: decorator
@inline function kSub(p: usize, j: i32, sA: v128, sB: v128, rec: usize, part: usize, tn: i32): void {
  const m = v128.load(KCONST);
  const vp = p + 64 + (<usize>(j >> 1) << 7);
  const sc = i8x16.swizzle(j < 4 ? sA : sB, v128.load(KCONST + 80 + (<usize>(j & 3) << 4)));
  const x = rec + (<usize>j << 6);
  for (let h: usize = 0; h < 2; h++) {
    const q = vp + (h << 6);
    let n0 = v128.load(q), n1 = v128.load(q, 16), n2 = v128.load(q, 32), n3 = v128.load(q, 48);
    if (j & 1) { n0 = i16x8.shr_u(n0, 4); n1 = i16x8.shr_u(n1, 4); n2 = i16x8.shr_u(n2, 4); n3 = i16x8.shr_u(n3, 4); }
    kHalf(v128.and(n0, m), v128.and(n1, m), v128.and(n2, m), v128.and(n3, m), sc, x + (h << 5), part, tn, j == 0 && h == 0);
  }
}

/** Most tokens per Q4_K X4 tile. */
// @ts-ignore: decorator
@inline const KTT: i32 = 64;

/** Groups [g0, g1) x T tokens of mm_q4_k_x4 (T > 1); rows outside [n0, n1) are not stored. */
function tilesK4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, g0: i32, g1: i32, T: i32): void {
  const nb = K >> 8;
  const gb = <usize>nb * KB, xb = <usize>nb * 292;
  const part = SCRATCH, A = part + (<usize>KTT << 4), M = A + (<usize>KTT << 4), recs = M + (<usize>KTT << 4);
  for (let t0 = 0; t0 < T; t0 += KTT) {
    const tn = min(KTT, T - t0);
    const S = min(nb, max(1, <i32>((<usize>SCRATCH_BYTES - (<usize>KTT * 48)) / (<usize>tn << 9))));
    const x0 = xq + <usize>t0 * xb;
    for (let b0 = 0; b0 < nb; b0 += S) {
      const b1 = min(nb, b0 + S);
      // int16 records, super-block-major: (b, t) at recs + ((b - b0) * tn + t) * 512
      for (let b = b0; b < b1; b++) {
        for (let t = 0; t < tn; t++) {
          const q = x0 + <usize>t * xb + <usize>b * 292 + 4, r = recs + ((<usize>(b - b0) * <usize>tn + <usize>t) << 9);
          for (let i: usize = 0; i < 256; i += 8) v128.store(r + (i << 1), v128.load8x8_s(q + i));
        }
      }
      for (let g = g0; g < g1; g++) {
        const n = g << 2;
        for (let t = 0; t < tn; t++) {
          // lanes of rows outside [n0, n1) hold whatever y has and are never stored
          v128.store(A + (<usize>t << 4), b0 == 0 ? f32x4.splat(0) : v128.load(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2)));
        }
        for (let b = b0; b < b1; b++) {
          const p = w + <usize>g * gb + <usize>b * KB;
          const sA = unpackS(p, 0), sB = unpackS(p, 1);
          const rec = recs + ((<usize>(b - b0) * <usize>tn) << 9);
          kSub(p, 0, sA, sB, rec, part, tn); kSub(p, 1, sA, sB, rec, part, tn);
          kSub(p, 2, sA, sB, rec, part, tn); kSub(p, 3, sA, sB, rec, part, tn);
          kSub(p, 4, sA, sB, rec, part, tn); kSub(p, 5, sA, sB, rec, part, tn);
          kSub(p, 6, sA, sB, rec, part, tn); kSub(p, 7, sA, sB, rec, part, tn);
          const d4 = h2f4k(p);
          let q = x0 + <usize>b * 292;
          for (let t = 0; t < tn; t++) {
            const a = A + (<usize>t << 4);
            v128.store(a, f32x4.add(v128.load(a), f32x4.mul(f32x4.convert_i32x4_s(v128.load(part + (<usize>t << 4))), f32x4.mul(d4, f32x4.splat(load<f32>(q))))));
            q += xb;
          }
        }
        if (b1 == nb) {
          // M over every super-block, then y = A - M
          for (let t = 0; t < tn; t++) v128.store(M + (<usize>t << 4), f32x4.splat(0));
          for (let b = 0; b < nb; b++) {
            const p = w + <usize>g * gb + <usize>b * KB;
            const dm4 = h2f4k(p + 8);
            let q = x0 + <usize>b * 292;
            for (let t = 0; t < tn; t++) {
              const mt = M + (<usize>t << 4);
              v128.store(mt, f32x4.add(v128.load(mt), f32x4.mul(f32x4.convert_i32x4_s(kMsum(p, q + 260)), f32x4.mul(dm4, f32x4.splat(load<f32>(q))))));
              q += xb;
            }
          }
          for (let t = 0; t < tn; t++) storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), f32x4.sub(v128.load(A + (<usize>t << 4)), v128.load(M + (<usize>t << 4))), n, n0, n1);
        } else {
          for (let t = 0; t < tn; t++) storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), v128.load(A + (<usize>t << 4)), n, n0, n1);
        }
      }
    }
  }
}

/**
 * y[t*N + n] = dot(row n, token t) for rows [n0, n1) of a Q4_K X4 matrix of N rows (same contract
 * as mm_q4_k; the tail rows (N % 4) go through mm_q4_k one token at a time). Needs the scratch.
 */
export function mm_q4_k_x4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const gb = <usize>nb * KB, xb = <usize>nb * 292;
  const nFull = N & ~3;
  const g0 = n0 >> 2, g1 = (min(n1, nFull) + 3) >> 2;
  if (T == 1) {
    for (let b0 = 0; b0 < nb; b0 += KSEG) {
      const b1 = min(nb, b0 + KSEG);
      for (let b = b0; b < b1; b++) kRecords(xq + <usize>b * 292 + 4, SCRATCH + (<usize>(b - b0) << 11));
      for (let g = g0; g < g1; g++) {
        const yg = y + (<usize>(g << 2) << 2);
        // lanes of rows outside [n0, n1) hold whatever y has and are never stored
        let acc = b0 == 0 ? f32x4.splat(0) : v128.load(yg);
        let p = w + <usize>g * gb + <usize>b0 * KB, x = xq + <usize>b0 * 292;
        for (let b = b0; b < b1; b++) {
          const isum = kIsumDecode(p, SCRATCH + (<usize>(b - b0) << 11));
          acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(h2f4k(p), f32x4.splat(load<f32>(x)))));
          p += KB; x += 292;
        }
        if (b1 == nb) acc = f32x4.sub(acc, kMinsDecode(w + <usize>g * gb, xq, nb));
        storeRows(yg, acc, g << 2, n0, n1);
      }
    }
  } else if (g0 < g1) {
    tilesK4(w, xq, y, K, N, n0, n1, g0, g1, T);
  }
  if (max(n0, nFull) < n1) {
    for (let t = 0; t < T; t++) mm_q4_k(w, xq + <usize>t * xb, y + <usize>t * <usize>N * 4, K, N, max(n0, nFull), n1, 1);
  }
}
