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
import { SCRATCH, SCRATCH_BYTES, KCONST, hsumi, h2fraw, h2fraw4, storeRows, unpackS, h2f4k, minsDot } from './common';
import { mm_q4_k } from './matmul_k';

// @ts-ignore: decorator
@inline const P112: f32 = reinterpret<f32>(0x77800000); // 2^112
/** Bytes of one X4 block (4 rows x 32 weights). */
// @ts-ignore: decorator
@inline const XB: usize = 72;
/** Most tokens per prefill tile (Q4_0: 32 measured 1.03-1.11x of 64 per kernel, 1.04-1.06x per prompt; Q4_K the same). */
// @ts-ignore: decorator
@inline const TT_MAX: i32 = 32;

/** Record of one activation block (34 bytes at q) at r: f32 d_x * 2^112, i32 8 * sum(x). */
// @ts-ignore: decorator
@inline function xrec(q: usize, r: usize): void {
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(q, 2)), i16x8.extadd_pairwise_i8x16_s(v128.load(q, 18)));
  store<f32>(r, h2fraw(q) * P112 * P112);
  store<i32>(r, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 3, 4);
}

/** Decode record of one activation block (34 bytes at q) at r (40 bytes): its 32 int8, f32 d_x * 2^112, i32 8 * sum(x). */
// @ts-ignore: decorator
@inline function xrec40(q: usize, r: usize): void {
  const a = v128.load(q, 2), b = v128.load(q, 18);
  v128.store(r, a); v128.store(r, b, 16);
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(a), i16x8.extadd_pairwise_i8x16_s(b));
  store<f32>(r, h2fraw(q) * P112 * P112, 32);
  store<i32>(r, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 3, 36);
}

/**
 * One X4 group (4 rows) x one token (decode): f32x4 of the 4 rows' dot products; x: nb xrec40
 * records. Shaped for V8 11.3's code generator
 * (docs/performance.md; 55 instead of 78 instructions per block): the 32 activation bytes are
 * loaded as two vectors and splatted by 32-bit lane shuffles (load32_splat at 8 displacements
 * held 8 base registers, two of them spilled), the high nibbles take a 16-bit shift and the mask
 * (i8x16.shr_u is 5 instructions, rebuilding its mask each time), and the nibble mask and the
 * pairwise-add ones are loaded from KCONST.
 */
function groupDotDecode(p: usize, x: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  const end = p + <usize>nb * XB;
  const m = v128.load(KCONST), ones = v128.load(KCONST, 16); // see KCONST
  while (p < end) {
    const xa = v128.load(x), xh = v128.load(x, 16);
    const v0 = v128.load(p, 8), v1 = v128.load(p, 24), v2 = v128.load(p, 40), v3 = v128.load(p, 56);
    let s = i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xa, xa, 0, 0, 0, 0), v128.and(v0, m));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xh, xh, 0, 0, 0, 0), v128.and(i16x8.shr_u(v0, 4), m)));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xa, xa, 1, 1, 1, 1), v128.and(v1, m)));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xh, xh, 1, 1, 1, 1), v128.and(i16x8.shr_u(v1, 4), m)));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xa, xa, 2, 2, 2, 2), v128.and(v2, m)));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xh, xh, 2, 2, 2, 2), v128.and(i16x8.shr_u(v2, 4), m)));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xa, xa, 3, 3, 3, 3), v128.and(v3, m)));
    s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(i32x4.shuffle(xh, xh, 3, 3, 3, 3), v128.and(i16x8.shr_u(v3, 4), m)));
    const si = i32x4.sub(i32x4.dot_i16x8_s(s, ones), v128.load32_splat(x, 36));
    acc = f32x4.relaxed_madd(f32x4.convert_i32x4_s(si), f32x4.mul(h2fraw4(p), v128.load32_splat(x, 32)), acc);
    p += XB; x += 40;
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

/** Tile record of one activation block (34 bytes at q) at r (144 bytes): 8 splats, f32 d_x * 2^112, i32 8 * sum(x). */
// @ts-ignore: decorator
@inline function xrecT(q: usize, r: usize): void {
  const a = v128.load(q, 2), b = v128.load(q, 18);
  v128.store(r, i32x4.shuffle(a, a, 0, 0, 0, 0)); v128.store(r, i32x4.shuffle(b, b, 0, 0, 0, 0), 16);
  v128.store(r, i32x4.shuffle(a, a, 1, 1, 1, 1), 32); v128.store(r, i32x4.shuffle(b, b, 1, 1, 1, 1), 48);
  v128.store(r, i32x4.shuffle(a, a, 2, 2, 2, 2), 64); v128.store(r, i32x4.shuffle(b, b, 2, 2, 2, 2), 80);
  v128.store(r, i32x4.shuffle(a, a, 3, 3, 3, 3), 96); v128.store(r, i32x4.shuffle(b, b, 3, 3, 3, 3), 112);
  const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(a), i16x8.extadd_pairwise_i8x16_s(b));
  store<f32>(r, h2fraw(q) * P112 * P112, 128);
  store<i32>(r, hsumi(i32x4.extadd_pairwise_i16x8_s(s16)) << 3, 132);
}
/**
 * One X4 group x tokens [0, tn) of a tile over nb blocks from p (weights unpacked once per block,
 * reused by every token): recs block-major (xrecT record of token t, block b at recs + (b * tn + t)
 * * 144), products added to acc (tn f32x4). The masked nibble vectors pass through memory (nib,
 * 128 bytes): V8 11.3 sinks the masking into the token loop and redoes it (and spills) for every
 * token otherwise (1.055x). The activations come pre-splatted (plain loads, whose displacements V8
 * folds; load32_splat at 8 displacements held 8 base registers and spilled them).
 */
function groupTile(p: usize, recs: usize, acc: usize, nib: usize, nb: i32, tn: i32): void {
  const m = v128.load(KCONST), ones = v128.load(KCONST, 16);
  const end = acc + (<usize>tn << 4);
  let r = recs;
  for (let b = 0; b < nb; b++) {
    const v0 = v128.load(p, 8), v1 = v128.load(p, 24), v2 = v128.load(p, 40), v3 = v128.load(p, 56);
    v128.store(nib, v128.and(v0, m)); v128.store(nib, v128.and(i16x8.shr_u(v0, 4), m), 16);
    v128.store(nib, v128.and(v1, m), 32); v128.store(nib, v128.and(i16x8.shr_u(v1, 4), m), 48);
    v128.store(nib, v128.and(v2, m), 64); v128.store(nib, v128.and(i16x8.shr_u(v2, 4), m), 80);
    v128.store(nib, v128.and(v3, m), 96); v128.store(nib, v128.and(i16x8.shr_u(v3, 4), m), 112);
    const l0 = v128.load(nib), h0 = v128.load(nib, 16), l1 = v128.load(nib, 32), h1 = v128.load(nib, 48);
    const l2 = v128.load(nib, 64), h2 = v128.load(nib, 80), l3 = v128.load(nib, 96), h3 = v128.load(nib, 112);
    const dw = h2fraw4(p);
    let a = acc;
    while (a < end) {
      let s = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r), l0);
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 16), h0));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 32), l1));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 48), h1));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 64), l2));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 80), h2));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 96), l3));
      s = i16x8.add(s, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(r, 112), h3));
      const si = i32x4.sub(i32x4.dot_i16x8_s(s, ones), v128.load32_splat(r, 132));
      v128.store(a, f32x4.relaxed_madd(f32x4.convert_i32x4_s(si), f32x4.mul(dw, v128.load32_splat(r, 128)), v128.load(a)));
      r += 144; a += 16;
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
  if (T == 1 && nb * 40 <= SCRATCH_BYTES) {
    for (let b = 0; b < nb; b++) xrec40(xq + <usize>b * 34, SCRATCH + <usize>b * 40);
    for (let g = g0; g < g1; g++) {
      storeRows(y + (<usize>(g << 2) << 2), groupDotDecode(w + <usize>g * 4 * rb, SCRATCH, nb), g << 2, n0, n1);
    }
    if (max(n0, nFull) < n1) {
      for (let b = 0; b < nb; b++) xrec(xq + <usize>b * 34, SCRATCH + (<usize>b << 3));
      for (let n = max(n0, nFull); n < n1; n++) store<f32>(y + (<usize>n << 2), rowDot(w + <usize>n * rb, xq, SCRATCH, nb));
    }
    return;
  }
  // (T > 1, or a row too long for the decode records: the token tiles, which agree bit for bit)
  // token tiles over K segments: the tile's records of the segment's blocks, then per group the
  // f32 sums (carried in y between segments) through groupTile
  const acc = SCRATCH, nib = acc + (<usize>TT_MAX << 4), recs = nib + 128;
  for (let t0 = 0; t0 < T; t0 += TT_MAX) {
    const tn = min(TT_MAX, T - t0);
    const x0 = xq + <usize>t0 * xb;
    const S = min(nb, max(1, <i32>((<usize>SCRATCH_BYTES - (<usize>TT_MAX << 4) - 128) / (<usize>tn * 144))));
    for (let b0 = 0; b0 < nb && g0 < g1; b0 += S) {
      const b1 = min(nb, b0 + S);
      for (let b = b0; b < b1; b++) {
        for (let t = 0; t < tn; t++) xrecT(x0 + <usize>t * xb + <usize>b * 34, recs + (<usize>(b - b0) * <usize>tn + <usize>t) * 144);
      }
      for (let g = g0; g < g1; g++) {
        const n = g << 2;
        for (let t = 0; t < tn; t++) {
          // lanes of rows outside [n0, n1) hold whatever y has and are never stored
          v128.store(acc + (<usize>t << 4), b0 == 0 ? f32x4.splat(0) : v128.load(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2)));
        }
        groupTile(w + <usize>g * 4 * rb + <usize>b0 * XB, recs, acc, nib, b1 - b0, tn);
        for (let t = 0; t < tn; t++) storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), v128.load(acc + (<usize>t << 4)), n, n0, n1);
      }
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


// Relaxed-SIMD Q4_K over a repacked "X4" layout (build/wasm/kernels-relaxed.wasm only), the Q4_K
// counterpart of matmul_x4.ts. One [N, K] Q4_K matrix keeps its byte count: rows in groups of 4, and
// group g (the bytes of its 4 ggml rows) holds nb super-blocks of 576 bytes:
//   [0, 8)     the 4 rows' f16 d; [8, 16) the 4 rows' f16 dmin
//   [16, 48)   the low 4 bits of the 64 6-bit values: byte i = scale value i | min value i << 4,
//              where value 4j + r is sub-block j of row r (j = 0..7)
//   [48, 64)   their top 2 bits: byte i = scale i | scale 16+i << 2 | min i << 4 | min 16+i << 6
//   [64, 576)  32 vectors; vector v = [row0 qs[4v..4v+3] | row1 .. | row2 .. | row3 ..]
// The N % 4 rows after the last full group stay in ggml layout (mm_q4_k).
// Products: vector 8c+k against the splat of activation bytes 64c+4k.. (low nibbles, sub-block 2c)
// and 64c+32+4k.. (high nibbles, sub-block 2c+1) gives row r's partial sums in i16 lanes 2r, 2r+1
// (i16x8.relaxed_dot_i8x16_i7x16_s, nibble 0..15 as the 7-bit operand, |lane| <= 8 * 2 * 128 * 15);
// one i32x4.dot_i16x8_s with the rows' scales of that sub-block widens and scales, so lane r is
// row r: isum = sum_j sc(r, j) * dot(r, j), msum = sum_j m(r, j) * (bsums[2j] + bsums[2j+1]) (exact
// integers as ggml). Per row and token: y = sum over super-blocks, in order, of
// f32(isum) * (d * d_y) into one f32 accumulator and f32(msum) * (dmin * d_y) into another
// (no fused multiply-add), then their difference: decode and prefill tiles compute exactly this.

// @ts-ignore: decorator
@inline const KB: usize = 576;

/**
 * i16x8 of the scales of sub-block j for the 4 rows (lanes 2r, 2r+1 = row r): one relaxed_swizzle
 * with a selection loaded from KCONST (an i8x16.shuffle with a zero vector cost V8 a rebuilt
 * 16-byte constant per use).
 */
// @ts-ignore: decorator
@inline function scJ(sA: v128, sB: v128, j: i32): v128 {
  return i8x16.relaxed_swizzle(j < 4 ? sA : sB, v128.load(KCONST + 80 + (<usize>(j & 3) << 4)));
}

/** i16x8 of the mins of sub-blocks 2jj, 2jj+1 for the 4 rows (lanes 2r, 2r+1 = row r). */
// @ts-ignore: decorator
@inline function mpJ(mA: v128, mB: v128, jj: i32): v128 {
  return i8x16.relaxed_swizzle(jj < 2 ? mA : mB, v128.load(KCONST + 144 + (<usize>(jj & 1) << 4)));
}




/** msum of the 4 rows (lanes) against the Q8_K bsums at bs. */
// @ts-ignore: decorator
@inline function msum4(mA: v128, mB: v128, bs: usize): v128 {
  return minsDot(mpJ(mA, mB, 0), mpJ(mA, mB, 1), mpJ(mA, mB, 2), mpJ(mA, mB, 3), bs);
}

/**
 * Scaled i32x4 sums (lane r = row r) of chunk c (sub-blocks 2c, 2c + 1) of the group block p against
 * x (Q8_K qs); m: the 0x0F byte mask (loaded from KCONST by the caller); the high nibbles take a
 * 16-bit shift and the mask (see groupDotDecode). Measured on V8 11.3: a loop of 4 vectors per
 * iteration with pointer increments (1.2-1.3x a one-vector loop indexed by k, whose address
 * arithmetic and loop overhead took 8 of 18 instructions) beats the written-out form (which
 * spills) and lane shuffles of loaded activations (more live vectors).
 */
// @ts-ignore: decorator
@inline function chunkK(p: usize, x: usize, c: i32, sA: v128, sB: v128, m: v128): v128 {
  let vp = p + 64 + (<usize>c << 7), xp = x + (<usize>c << 6);
  const vend = vp + 128;
  let lo = i16x8.splat(0), hi = i16x8.splat(0);
  while (vp < vend) {
    const v = v128.load(vp), w = v128.load(vp, 16);
    lo = i16x8.add(lo, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp), v128.and(v, m)));
    hi = i16x8.add(hi, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 32), v128.and(i16x8.shr_u(v, 4), m)));
    lo = i16x8.add(lo, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 4), v128.and(w, m)));
    hi = i16x8.add(hi, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 36), v128.and(i16x8.shr_u(w, 4), m)));
    const v3 = v128.load(vp, 32), w3 = v128.load(vp, 48);
    lo = i16x8.add(lo, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 8), v128.and(v3, m)));
    hi = i16x8.add(hi, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 40), v128.and(i16x8.shr_u(v3, 4), m)));
    lo = i16x8.add(lo, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 12), v128.and(w3, m)));
    hi = i16x8.add(hi, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(xp, 44), v128.and(i16x8.shr_u(w3, 4), m)));
    vp += 64; xp += 16;
  }
  return i32x4.add(i32x4.dot_i16x8_s(lo, scJ(sA, sB, c << 1)), i32x4.dot_i16x8_s(hi, scJ(sA, sB, (c << 1) + 1)));
}

/** One group x one token: y lanes of the 4 rows (recs unused: Q8_K blocks carry d_y and bsums). */
function groupDotK(p: usize, x: usize, nb: i32): v128 {
  let acc = f32x4.splat(0), macc = f32x4.splat(0);
  const m = v128.load(KCONST);
  for (let b = 0; b < nb; b++) {
    const sA = unpackS(p, 0), sB = unpackS(p, 1);
    const isum = i32x4.add(i32x4.add(chunkK(p, x + 4, 0, sA, sB, m), chunkK(p, x + 4, 1, sA, sB, m)),
                           i32x4.add(chunkK(p, x + 4, 2, sA, sB, m), chunkK(p, x + 4, 3, sA, sB, m)));
    const ms = msum4(unpackS(p, 2), unpackS(p, 3), x + 260);
    const dy = f32x4.splat(load<f32>(x));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.mul(h2f4k(p), dy)));
    macc = f32x4.add(macc, f32x4.mul(f32x4.convert_i32x4_s(ms), f32x4.mul(h2f4k(p + 8), dy)));
    p += KB; x += 292;
  }
  return f32x4.sub(acc, macc);
}

/**
 * One Q4_K X4 group x tokens [0, tn) of a tile: per (super-block, chunk, half) the 8 nibble
 * vectors stay in registers for every token; i32 sums in isum (tn x 16 B), accumulators in acc
 * (token t: d part at acc + 32t, min part at + 16), overwritten.
 */
function groupTileK(p: usize, x: usize, xb: usize, nb: i32, tn: i32, isum: usize, acc: usize): void {
  for (let t = 0; t < tn; t++) {
    v128.store(acc + (<usize>t << 5), f32x4.splat(0));
    v128.store(acc + (<usize>t << 5), f32x4.splat(0), 16);
  }
  const m = i8x16.splat(0x0F);
  const end = isum + (<usize>tn << 4);
  for (let b = 0; b < nb; b++) {
    const sA = unpackS(p, 0), sB = unpackS(p, 1);
    const xbk = x + <usize>b * 292;
    for (let c = 0; c < 4; c++) {
      for (let hf = 0; hf < 2; hf++) {
        const vp = p + 64 + (<usize>c << 7);
        const n0 = hf == 0 ? v128.and(v128.load(vp, 0), m) : i8x16.shr_u(v128.load(vp, 0), 4);
        const n1 = hf == 0 ? v128.and(v128.load(vp, 16), m) : i8x16.shr_u(v128.load(vp, 16), 4);
        const n2 = hf == 0 ? v128.and(v128.load(vp, 32), m) : i8x16.shr_u(v128.load(vp, 32), 4);
        const n3 = hf == 0 ? v128.and(v128.load(vp, 48), m) : i8x16.shr_u(v128.load(vp, 48), 4);
        const n4 = hf == 0 ? v128.and(v128.load(vp, 64), m) : i8x16.shr_u(v128.load(vp, 64), 4);
        const n5 = hf == 0 ? v128.and(v128.load(vp, 80), m) : i8x16.shr_u(v128.load(vp, 80), 4);
        const n6 = hf == 0 ? v128.and(v128.load(vp, 96), m) : i8x16.shr_u(v128.load(vp, 96), 4);
        const n7 = hf == 0 ? v128.and(v128.load(vp, 112), m) : i8x16.shr_u(v128.load(vp, 112), 4);
        const sc = scJ(sA, sB, (c << 1) + hf);
        const first = c == 0 && hf == 0;
        let q = xbk + 4 + (<usize>c << 6) + (<usize>hf << 5), s = isum;
        while (s < end) {
          let a = i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q), n0);
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 4), n1));
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 8), n2));
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 12), n3));
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 16), n4));
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 20), n5));
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 24), n6));
          a = i16x8.add(a, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(q, 28), n7));
          const wv = i32x4.dot_i16x8_s(a, sc);
          v128.store(s, first ? wv : i32x4.add(v128.load(s), wv));
          q += xb; s += 16;
        }
      }
    }
    const mA = unpackS(p, 2), mB = unpackS(p, 3);
    const d4 = h2f4k(p), dm4 = h2f4k(p + 8);
    let q = xbk, s = isum, a = acc;
    while (s < end) {
      const ms = msum4(mA, mB, q + 260);
      const dy = f32x4.splat(load<f32>(q));
      v128.store(a, f32x4.add(v128.load(a), f32x4.mul(f32x4.convert_i32x4_s(v128.load(s)), f32x4.mul(d4, dy))));
      v128.store(a, f32x4.add(v128.load(a, 16), f32x4.mul(f32x4.convert_i32x4_s(ms), f32x4.mul(dm4, dy))), 16);
      q += xb; s += 16; a += 32;
    }
    p += KB;
  }
}

/**
 * y[t*N + n] = dot(row n, token t) for rows [n0, n1) of a Q4_K X4 matrix of N rows (see above);
 * the tail rows (N % 4) go through mm_q4_k. Same contract as mm_q4_k.
 */
export function mm_q4_k_x4(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 144, xb = <usize>nb * 292;
  const nFull = N & ~3;
  const g0 = n0 >> 2, g1 = (min(n1, nFull) + 3) >> 2;
  if (T == 1 || SCRATCH == 0 || SCRATCH_BYTES < (TT_MAX * 48)) {
    for (let t = 0; t < T; t++) {
      const xt = xq + <usize>t * xb, yt = y + ((<usize>t * <usize>N) << 2);
      for (let g = g0; g < g1; g++) storeRows(yt + (<usize>(g << 2) << 2), groupDotK(w + <usize>g * 4 * rb, xt, nb), g << 2, n0, n1);
    }
  } else {
    const isum = SCRATCH, acc = SCRATCH + (<usize>TT_MAX << 4);
    for (let t0 = 0; t0 < T; t0 += TT_MAX) {
      const tn = min(TT_MAX, T - t0);
      for (let g = g0; g < g1; g++) {
        groupTileK(w + <usize>g * 4 * rb, xq + <usize>t0 * xb, xb, nb, tn, isum, acc);
        const n = g << 2;
        for (let t = 0; t < tn; t++) {
          const a = acc + (<usize>t << 5);
          storeRows(y + ((<usize>(t0 + t) * <usize>N + <usize>n) << 2), f32x4.sub(v128.load(a), v128.load(a, 16)), n, n0, n1);
        }
      }
    }
  }
  if (max(n0, nFull) < n1) mm_q4_k(w, xq, y, K, N, max(n0, nFull), n1, T);
}


