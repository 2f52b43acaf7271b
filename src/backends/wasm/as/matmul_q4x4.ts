// Q4_0 and Q4_K products over the X4 layouts (layout_x4.ts) with SIMD128 only: mm_q4_0_x4 and
// mm_q4_k_x4 of the plain module build/wasm/kernels.wasm (the relaxed module has its own,
// matmul_x4.ts). Without an 8-bit multiply-add, the nibbles are multiplied as int16
// (i32x4.dot_i16x8_s, one pmaddwd).
//
// Arithmetic: per row, token and block the exact integer S_b = sum (q - 8) * x, then
// y = sum over blocks, left to right in f32 from 0, of f32(S_b) * (d_w * d_x), no fused
// multiply-add: decode and tiles agree bit for bit (the N % 4 tail rows go through mm_q4_0's decode).
//
// - Decode (T = 1): X4 vector k, read as 8 int16 lanes (lanes 2r, 2r+1 = row r's bytes 4k..4k+1,
//   4k+2..4k+3), gives four int16 fields with lane pairs in rows:
//     v & 0x000F     elements (4k, 4k+2)            v & 0x0F00  256 x elements (4k+1, 4k+3)
//     v & 0x00F0     16 x elements (16+4k, 18+4k)   v >> 12     elements (17+4k, 19+4k)
//   The activation row is widened once per call into records of those pairs as int16, scaled
//   by 256, 1, 16, 256 so that every product comes out x 256 (three fields need only a mask, one
//   a shift, no shifts back), and the pairs of a vector are splatted in the loop by lane
//   shuffles; the products of a pair land in the row's i32 lane (pmaddwd), so no horizontal
//   sums. The offset 8 is removed once per block as 8 * sum(x).
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

/**
 * Decode record of one activation block (34 bytes at q) at r (80 bytes): the 16 activation pairs
 * in nibble order (see top) as int16 scaled to match the masked fields (x 256, x 1, x 16, x 256),
 * the 4 pairs of X4 vector k in record vector k; f32 d_x * 2^112 / 256 at 64, i32 256 * 8 * sum(x)
 * at 68.
 */
// @ts-ignore: decorator
@inline function q4rec(q: usize, r: usize): void {
  const xa = v128.load(q, 2), xh = v128.load(q, 18);
  pairVectors(xa, xh, r, false);
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(xa), i16x8.extadd_pairwise_i8x16_s(xh));
  store<f32>(r, h2fraw(q) * P112 * P112 * reinterpret<f32>(0x3B800000), 64); // * 2^-8
  store<i32>(r, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 11, 68);
}
/** The 4 int16 pairs (i32 lanes) of v scaled by 256, 1, 16, 256 (|x| <= 128: x * 256 fits int16). */
// @ts-ignore: decorator
@inline function scalePairs(v: v128): v128 {
  const s8 = i16x8.shl(v, 8), s4 = i16x8.shl(v, 4);
  return i32x4.shuffle(s8, i32x4.shuffle(v, s4, 1, 6, 1, 6), 0, 4, 5, 3);
}

/**
 * The records of 4 X4 vectors at r from the activations of their low nibbles (xa: 16 bytes, 4 per
 * vector) and high nibbles (xh): per 4 activations (4k..4k+3) the order 4k, 4k+2, 4k+1, 4k+3, the
 * low and high halves of each k side by side, widened: pairs (xa[4k], xa[4k+2]),
 * (xa[4k+1], xa[4k+3]), (xh[4k], xh[4k+2]), (xh[4k+1], xh[4k+3]) of vector k, scaled
 * (scalePairs); compact: one vector of 4 pairs per X4 vector (64 bytes), else every pair splatted
 * to a vector (256 bytes).
 */
// @ts-ignore: decorator
@inline function pairVectors(xa: v128, xh: v128, r: usize, splat: bool): void {
  const a = i8x16.shuffle(xa, xa, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const b = i8x16.shuffle(xh, xh, 0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15);
  const u = i32x4.shuffle(a, b, 0, 4, 1, 5), w = i32x4.shuffle(a, b, 2, 6, 3, 7);
  storePairs(r, scalePairs(i16x8.extend_low_i8x16_s(u)), 0, splat);
  storePairs(r, scalePairs(i16x8.extend_high_i8x16_s(u)), 1, splat);
  storePairs(r, scalePairs(i16x8.extend_low_i8x16_s(w)), 2, splat);
  storePairs(r, scalePairs(i16x8.extend_high_i8x16_s(w)), 3, splat);
}
// @ts-ignore: decorator
@inline function storePairs(r: usize, v: v128, k: usize, splat: bool): void {
  if (!splat) { v128.store(r + (k << 4), v); return; }
  const o = r + (k << 6);
  v128.store(o, i32x4.shuffle(v, v, 0, 0, 0, 0));
  v128.store(o, i32x4.shuffle(v, v, 1, 1, 1, 1), 16);
  v128.store(o, i32x4.shuffle(v, v, 2, 2, 2, 2), 32);
  v128.store(o, i32x4.shuffle(v, v, 3, 3, 3, 3), 48);
}

/**
 * Activation pair i (0..3) of an X4 vector whose records are at xp: compact (4 scaled pairs in one
 * vector, splatted here by a lane shuffle) or pre-splatted (4 vectors).
 */
// @ts-ignore: decorator
@inline function pairAct(xp: usize, i: i32, compact: bool): v128 {
  if (!compact) return v128.load(xp + (<usize>i << 4));
  const xk = v128.load(xp);
  if (i == 0) return i32x4.shuffle(xk, xk, 0, 0, 0, 0);
  if (i == 1) return i32x4.shuffle(xk, xk, 1, 1, 1, 1);
  if (i == 2) return i32x4.shuffle(xk, xk, 2, 2, 2, 2);
  return i32x4.shuffle(xk, xk, 3, 3, 3, 3);
}
/** 256 x the products of the low-nibble fields of X4 vector v (elements 4k..4k+3) in the rows' i32 lanes. */
// @ts-ignore: decorator
@inline function loDots(v: v128, xp: usize, compact: bool, m0: v128, m2: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(v128.and(v, m0), pairAct(xp, 0, compact)), i32x4.dot_i16x8_s(v128.and(v, m2), pairAct(xp, 1, compact)));
}
/** The same for the high-nibble fields (elements 16+4k.. of a Q4_0 block, the next sub-block of Q4_K). */
// @ts-ignore: decorator
@inline function hiDots(v: v128, xp: usize, compact: bool, m1: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(v128.and(v, m1), pairAct(xp, 2, compact)), i32x4.dot_i16x8_s(i16x8.shr_u(v, 12), pairAct(xp, 3, compact)));
}

/**
 * One X4 group (4 rows) x one token: f32x4 of the 4 rows' dot products; x: nb q4rec records. Per
 * X4 vector the fields by mask alone (v & 0x000F, v & 0x0F00 = 256 q, v & 0x00F0 = 16 q) and one
 * shift (v >> 12) against the record's pairs splatted by lane shuffles: each field lands, x 256,
 * in its row's i32 lane. 256 S_b is exact in f32 (|S_b| <= 32 * 8 * 128) and
 * f32(256 S_b) * (d_w * d_x / 256) rounds as f32(S_b) * (d_w * d_x): the tiles' bits. One X4
 * vector per iteration of an inner loop that steps pointers (1.16x a loop indexed by k; with the
 * block's four vectors in one straight line V8 11.3 loads all of them first and spills 16).
 * Records of 80 bytes per block keep a whole row's records in L1 (pre-splatted 256-byte records
 * were 1.0-1.04x as fast at K = 1536 and 0.77x at K = 8960, where they spill to L2).
 */
function groupDotQ4(p: usize, x: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  const end = p + <usize>nb * XB;
  const m0 = v128.load(KCONST, 208), m1 = v128.load(KCONST, 240), m2 = v128.load(KCONST, 256); // i16 0x000F, 0x00F0, 0x0F00
  while (p < end) {
    let s = i32x4.sub(i32x4.splat(0), v128.load32_splat(x, 68));
    const pe = p + 64;
    let q = p, xq = x;
    while (q < pe) {
      const v = v128.load(q, 8);
      s = i32x4.add(s, i32x4.add(loDots(v, xq, true, m0, m2), hiDots(v, xq, true, m1)));
      q += 16; xq += 16;
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(h2fraw4(p), v128.load32_splat(x, 64))));
    p += XB; x += 80;
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
  if (T == 1 && nb * 80 <= SCRATCH_BYTES) {
    for (let b = 0; b < nb; b++) q4rec(xq + <usize>b * 34, SCRATCH + <usize>b * 80);
    for (let g = g0; g < g1; g++) {
      storeRows(y + (<usize>(g << 2) << 2), groupDotQ4(w + <usize>g * 4 * rb, SCRATCH, nb), g << 2, n0, n1);
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
// (f32 from 0, no fused multiply-add), y = A - M. The tiles carry A in y between K segments and
// compute M over all super-blocks with the last one, so decode and tiles agree bit for bit.
// - Decode: the nibble fields of the Q4_0 decode, the fields of sub-block 2c and 2c + 1 summed
//   apart (x 256, exact), shifted back and scaled per row by i32x4.mul with the widened 6-bit
//   scales once per chunk; activation records pre-splatted while short, compact past 12
//   super-blocks (kIsumDecode).
// - T > 1: per sub-block the nibbles widened to int16 and multiplied by the rows' scales
//   (|q * sc| <= 945), regrouped into "4 rows x 2 weights" vectors, and 8 of them at a time run
//   over a token tile against int16 records (the token loop of the Q8_0 tiles, sums kept in i32).

/** Bytes of one Q4_K X4 super-block (4 rows x 256 weights). */
// @ts-ignore: decorator
@inline const KB: usize = 576;

/**
 * Decode records of one Q8_K super-block (qs at q) at r: chunk c, vector k at r + 512c + 64k
 * (pre-splatted, 2 KB) or r + 128c + 16k (compact, 512 bytes; as q4rec's).
 */
// @ts-ignore: decorator
@inline function kRecords(q: usize, r: usize, compact: bool): void {
  for (let c: usize = 0; c < 4; c++) {
    const rc = r + (c << (compact ? 7 : 9)), half: usize = compact ? 64 : 256;
    pairVectors(v128.load(q + (c << 6)), v128.load(q + (c << 6), 32), rc, !compact);
    pairVectors(v128.load(q + (c << 6), 16), v128.load(q + (c << 6), 48), rc + half, !compact);
  }
}

/**
 * isum part of chunk c (vectors at vp, records at xp): the sums of sub-blocks 2c (low nibbles, lo)
 * and 2c + 1 (hi), x 256 and exact, shifted back and times the rows' scales scLo / scHi. Two
 * vectors per iteration with pointer increments (1.1x faster than one; four were slower).
 */
// @ts-ignore: decorator
@inline function kChunk(vp: usize, xp: usize, scLo: v128, scHi: v128, m0: v128, m1: v128, m2: v128, compact: bool): v128 {
  let lo = i32x4.splat(0), hi = i32x4.splat(0);
  const vend = vp + 128, rs: usize = compact ? 16 : 64;
  while (vp < vend) {
    const v = v128.load(vp), v2 = v128.load(vp, 16);
    lo = i32x4.add(lo, loDots(v, xp, compact, m0, m2));
    hi = i32x4.add(hi, hiDots(v, xp, compact, m1));
    lo = i32x4.add(lo, loDots(v2, xp + rs, compact, m0, m2));
    hi = i32x4.add(hi, hiDots(v2, xp + rs, compact, m1));
    vp += 32; xp += rs << 1;
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

/**
 * isum of the 4 rows (lanes) of the group super-block at p against decode records x: pre-splatted
 * (kRecords, 2 KB per super-block) or compact (512 bytes): the first are faster
 * while a row's records stay in L1 (1.05-1.08x at K = 1536), the second past that (1.18-1.20x at
 * K = 8960).
 */
// @ts-ignore: decorator
@inline function kIsumDecode(p: usize, x: usize, compact: bool): v128 {
  const m0 = v128.load(KCONST, 208), m1 = v128.load(KCONST, 240), m2 = v128.load(KCONST, 256);
  const sA = unpackS(p, 0), sB = unpackS(p, 1);
  const cs: usize = compact ? 128 : 512;
  let s = kChunk(p + 64, x, bytes4(sA, 0), bytes4(sA, 1), m0, m1, m2, compact);
  s = i32x4.add(s, kChunk(p + 192, x + cs, bytes4(sA, 2), bytes4(sA, 3), m0, m1, m2, compact));
  s = i32x4.add(s, kChunk(p + 320, x + 2 * cs, bytes4(sB, 0), bytes4(sB, 1), m0, m1, m2, compact));
  return i32x4.add(s, kChunk(p + 448, x + 3 * cs, bytes4(sB, 2), bytes4(sB, 3), m0, m1, m2, compact));
}

function kIsumS(p: usize, x: usize): v128 { return kIsumDecode(p, x, false); }
function kIsumC(p: usize, x: usize): v128 { return kIsumDecode(p, x, true); }

/** One group (4 rows) x one token over all nb super-blocks (records at SCRATCH): A - M. */
// @ts-ignore: decorator
@inline function kGroupDecode(p: usize, xq: usize, nb: i32, compact: bool): v128 {
  let acc = f32x4.splat(0);
  let q = p, x = xq;
  const rs: usize = compact ? 512 : 2048;
  for (let b = 0; b < nb; b++) {
    const isum = compact ? kIsumC(q, SCRATCH + <usize>b * rs) : kIsumS(q, SCRATCH + <usize>b * rs);
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(h2f4k(q), f32x4.splat(load<f32>(x)))));
    q += KB; x += 292;
  }
  return f32x4.sub(acc, kMinsDecode(p, xq, nb));
}
function kGroupDecodeS(p: usize, xq: usize, nb: i32): v128 { return kGroupDecode(p, xq, nb, false); }
function kGroupDecodeC(p: usize, xq: usize, nb: i32): v128 { return kGroupDecode(p, xq, nb, true); }

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
  if (T == 1 && nb <= 12) {
    for (let b = 0; b < nb; b++) kRecords(xq + <usize>b * 292 + 4, SCRATCH + (<usize>b << 11), false);
    for (let g = g0; g < g1; g++) storeRows(y + (<usize>(g << 2) << 2), kGroupDecodeS(w + <usize>g * gb, xq, nb), g << 2, n0, n1);
  } else if (T == 1 && (nb << 9) <= SCRATCH_BYTES) {
    for (let b = 0; b < nb; b++) kRecords(xq + <usize>b * 292 + 4, SCRATCH + (<usize>b << 9), true);
    for (let g = g0; g < g1; g++) storeRows(y + (<usize>(g << 2) << 2), kGroupDecodeC(w + <usize>g * gb, xq, nb), g << 2, n0, n1);
  } else if (g0 < g1) {
    tilesK4(w, xq, y, K, N, n0, n1, g0, g1, T);
  }
  if (max(n0, nFull) < n1) {
    for (let t = 0; t < T; t++) mm_q4_k(w, xq + <usize>t * xb, y + <usize>t * <usize>N * 4, K, N, max(n0, nFull), n1, 1);
  }
}


