// Matrix products for the 256-element super-block types (Q2_K..Q6_K, IQ4_XS) x Q8_K activations.
// Same contract as matmul.ts: y[t*N + n] for n in [n0, n1), t in [0, T).
//
// block_q8_K = { f32 d; i8 q[256]; i16 bsums[16] } (292 B); bsums[j] = sum of q[16j..16j+15].
// Each kernel follows ggml_vec_dot_<type>_q8_K: per sub-block exact integer dot products times
// the integer sub-block scale, summed in i32 over the super-block, then times d_w * d_x in f32;
// the mins of Q2_K/Q4_K/Q5_K are applied through the Q8_K bsums (also exact integers).
import { h2f, hsum, hsumi, dot8, dotu8, KCONST, SCRATCH, SCRATCH_BYTES } from './common';

// @ts-ignore: decorator
@inline const TT: i32 = 64;

// @ts-ignore: decorator
@inline function yAt(y: usize, t: i32, N: i32, n: i32): usize {
  return y + ((<usize>t * <usize>N + <usize>n) << 2);
}

// @ts-ignore: decorator
@inline function mulsc(s: v128, sc: i32): v128 { return i32x4.mul(s, i32x4.splat(sc)); }

// ---- Q4_K / Q5_K scale unpacking (get_scale_min_k4 on 32-bit words, as ggml's utmp trick) -------
// 12 bytes at p -> scales in the 8 bytes of the returned i64 low word pair, mins in the other.
// sc(j) = byte j of (u0 | u1 << 32), m(j) = byte j of (u2 | u3 << 32).

// @ts-ignore: decorator
@inline function kScales(p: usize): u64 {
  const a0 = load<u32>(p), a1 = load<u32>(p, 4), a2 = load<u32>(p, 8);
  const s0 = a0 & 0x3f3f3f3f;
  const s1 = (a2 & 0x0f0f0f0f) | (((a0 >> 6) & 0x03030303) << 4);
  return <u64>s0 | (<u64>s1 << 32);
}
// @ts-ignore: decorator
@inline function kMins(p: usize): u64 {
  const a0 = load<u32>(p), a1 = load<u32>(p, 4), a2 = load<u32>(p, 8);
  const m0 = a1 & 0x3f3f3f3f;
  const m1 = ((a2 >> 4) & 0x0f0f0f0f) | (((a1 >> 6) & 0x03030303) << 4);
  return <u64>m0 | (<u64>m1 << 32);
}

/** sum_j mins[j] * (bsums[2j] + bsums[2j+1]) with 8 6-bit mins packed in m (byte j = min j). */
// @ts-ignore: decorator
@inline function minSum(m: u64, bs: usize): i32 {
  // widen the 8 mins to i16 and duplicate each one for its two bsums (pmaddwd does the pairs)
  const mv = i16x8.extend_low_i8x16_u(i64x2.splat(<i64>m));
  const m01 = i8x16.shuffle(mv, mv, 0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7);
  const m23 = i8x16.shuffle(mv, mv, 8, 9, 8, 9, 10, 11, 10, 11, 12, 13, 12, 13, 14, 15, 14, 15);
  return hsumi(i32x4.add(i32x4.dot_i16x8_s(m01, v128.load(bs)), i32x4.dot_i16x8_s(m23, v128.load(bs, 16))));
}

// ---- Q4_K: {f16 d, dmin; u8 scales[12]; u8 qs[128]} (144 B) ---------------------------------------
// Chunk c (32 bytes) holds sub-block 2c in its low nibbles and 2c+1 in its high nibbles. The
// nibbles are taken straight into i16 lanes as even/odd planes (x64 has no cheap byte widening):
// for the 16-bit lane of bytes (b0, b1): b0 & 15, (lane >> 8) & 15, (lane >> 4) & 15, lane >> 12;
// the int8 activations are split into the matching even/odd planes.

// @ts-ignore: decorator
@inline function xEven(v: v128): v128 { return i16x8.shr_s(i16x8.shl(v, 8), 8); }
// @ts-ignore: decorator
@inline function xOdd(v: v128): v128 { return i16x8.shr_s(v, 8); }

/** Chunk's scaled sums: sc1 * dot(sub-block 2c) + sc2 * dot(sub-block 2c + 1), i32x4 lanes. */
// @ts-ignore: decorator
@inline function q4kChunk(q: usize, xq: usize, sc1: i32, sc2: i32): v128 {
  const m = i16x8.splat(0x0f);
  const v0 = v128.load(q), v1 = v128.load(q, 16);
  const x0 = v128.load(xq), x1 = v128.load(xq, 16), x2 = v128.load(xq, 32), x3 = v128.load(xq, 48);
  const s1 = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(v0, m), xEven(x0)), i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v0, 8), m), xOdd(x0))),
    i32x4.add(i32x4.dot_i16x8_s(v128.and(v1, m), xEven(x1)), i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v1, 8), m), xOdd(x1))));
  const s2 = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v0, 4), m), xEven(x2)), i32x4.dot_i16x8_s(i16x8.shr_u(v0, 12), xOdd(x2))),
    i32x4.add(i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v1, 4), m), xEven(x3)), i32x4.dot_i16x8_s(i16x8.shr_u(v1, 12), xOdd(x3))));
  return i32x4.add(mulsc(s1, sc1), mulsc(s2, sc2));
}

/** Decode form of q4kChunk over activation planes laid out once per call (q4kPlanes); m: i16 0x000F. */
// @ts-ignore: decorator
@inline function q4kChunkP(q: usize, r: usize, sc1: i32, sc2: i32, m: v128): v128 {
  const v0 = v128.load(q), v1 = v128.load(q, 16);
  const s1 = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(v0, m), v128.load(r)), i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v0, 8), m), v128.load(r, 16))),
    i32x4.add(i32x4.dot_i16x8_s(v128.and(v1, m), v128.load(r, 32)), i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v1, 8), m), v128.load(r, 48))));
  const s2 = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v0, 4), m), v128.load(r, 64)), i32x4.dot_i16x8_s(i16x8.shr_u(v0, 12), v128.load(r, 80))),
    i32x4.add(i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(v1, 4), m), v128.load(r, 96)), i32x4.dot_i16x8_s(i16x8.shr_u(v1, 12), v128.load(r, 112))));
  return i32x4.add(mulsc(s1, sc1), mulsc(s2, sc2));
}

/** Even / odd i16 planes of nb Q8_K blocks (qs) at xq into dst, 512 bytes per block. */
function q4kPlanes(xq: usize, nb: i32, dst: usize): void {
  for (let i = 0; i < nb; i++) {
    const x = xq + <usize>i * 292 + 4, r = dst + (<usize>i << 9);
    for (let k = 0; k < 16; k++) {
      const v = v128.load(x + (<usize>k << 4));
      v128.store(r + (<usize>k << 5), xEven(v));
      v128.store(r + (<usize>k << 5), xOdd(v), 16);
    }
  }
}

/** Scaled integer sums (i32x4 partials) of the Q4_K block at wb against the Q8_K qs at xq (SIMD128). */
// @ts-ignore: decorator
@inline function q4kIsum(wb: usize, xq: usize): v128 {
  // 6-bit scales 0..3 in the bytes of sA, 4..7 in sB (get_scale_min_k4 on 32-bit words)
  const a0 = load<u32>(wb, 4), a2 = load<u32>(wb, 12);
  const sA = a0 & 0x3f3f3f3f;
  const sB = (a2 & 0x0f0f0f0f) | (((a0 >> 6) & 0x03030303) << 4);
  const q = wb + 16;
  const sc = <u64>sA | (<u64>sB << 32);
  let isum = i32x4.splat(0);
  for (let c = 0; c < 4; c++) {
    const sh = <u64>c << 4;
    isum = i32x4.add(isum, q4kChunk(q + (<usize>c << 5), xq + (<usize>c << 6), <i32>((sc >> sh) & 0xff), <i32>((sc >> (sh + 8)) & 0xff)));
  }
  return isum;
}

// Relaxed-SIMD Q4_K (kernels-relaxed.wasm only; ASC_FEATURE_RELAXED_SIMD is a compile-time
// constant, so the plain module keeps the SIMD128 kernel above): the unsigned nibbles (0..15, a
// valid 7-bit operand, so the result is the same on every platform) go straight into
// i16x8.relaxed_dot_i8x16_i7x16_s against the signed Q8_K bytes, two products per 32-element
// sub-block added in i16 (|lane| <= 2 * 2 * 127 * 15 = 7620), then one i32x4.dot_i16x8_s with the
// sub-block's 6-bit scale splatted to i16 lanes widens and scales at once (|lane| <= 960120).
// Exact integers as ggml. With the relaxed module this kernel only serves the rows that stay in
// ggml layout (tail rows of repacked weights, 3-D weights whose matrices are not whole groups).

/** The 8 6-bit sub-block scales of the Q4_K block at wb as i16x8 lanes (get_scale_min_k4). */
// @ts-ignore: decorator
@inline function q4kScales16(wb: usize): v128 {
  const a0 = load<u32>(wb, 4), a2 = load<u32>(wb, 12);
  const sA = a0 & 0x3f3f3f3f;
  const sB = (a2 & 0x0f0f0f0f) | (((a0 >> 6) & 0x03030303) << 4);
  return i16x8.extend_low_i8x16_u(i64x2.splat(<i64>(<u64>sA | (<u64>sB << 32))));
}

/** Lanes 2c and 2c + 1 of i16x8 v splatted (lane indices must be literals, hence one per c). */
// @ts-ignore: decorator
@inline function splA(v: v128, c: i32): v128 {
  if (c == 0) return i8x16.shuffle(v, v, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
  if (c == 1) return i8x16.shuffle(v, v, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5);
  if (c == 2) return i8x16.shuffle(v, v, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9);
  return i8x16.shuffle(v, v, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13);
}
// @ts-ignore: decorator
@inline function splB(v: v128, c: i32): v128 {
  if (c == 0) return i8x16.shuffle(v, v, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
  if (c == 1) return i8x16.shuffle(v, v, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7);
  if (c == 2) return i8x16.shuffle(v, v, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11);
  return i8x16.shuffle(v, v, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15);
}

/** Scaled i32x4 sums of chunk c (nibble vectors l0, l1 = sub-block 2c, h0, h1 = 2c + 1) against x at xq. */
// @ts-ignore: decorator
@inline function q4kChunkR(l0: v128, l1: v128, h0: v128, h1: v128, xq: usize, sc1: v128, sc2: v128): v128 {
  const lo = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xq), l0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xq, 16), l1));
  const hi = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xq, 32), h0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xq, 48), h1));
  return i32x4.add(i32x4.dot_i16x8_s(lo, sc1), i32x4.dot_i16x8_s(hi, sc2));
}

// @ts-ignore: decorator
@inline function q4kIsumR(wb: usize, xq: usize, sv: v128): v128 {
  const m = i8x16.splat(0x0f);
  const q = wb + 16;
  return i32x4.add(i32x4.add(q4kChunkC(q, xq, sv, m, 0), q4kChunkC(q, xq, sv, m, 1)),
                   i32x4.add(q4kChunkC(q, xq, sv, m, 2), q4kChunkC(q, xq, sv, m, 3)));
}

// @ts-ignore: decorator
@inline function q4kChunkC(q: usize, xq: usize, sv: v128, m: v128, c: i32): v128 {
  const v0 = v128.load(q + (<usize>c << 5)), v1 = v128.load(q + (<usize>c << 5), 16);
  return q4kChunkR(v128.and(v0, m), v128.and(v1, m), i8x16.shr_u(v0, 4), i8x16.shr_u(v1, 4),
    xq + (<usize>c << 6), splA(sv, c), splB(sv, c));
}

// @ts-ignore: decorator
@inline function dot_q4_k(w: usize, x: usize, nb: i32, planes: usize): f32 {
  let acc = f32x4.splat(0);
  let macc: f32 = 0;
  const m = v128.load(KCONST, 208);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 144, xb = x + <usize>i * 292;
    const dy = load<f32>(xb);
    let isum: v128;
    if (ASC_FEATURE_RELAXED_SIMD) {
      isum = q4kIsumR(wb, xb + 4, q4kScales16(wb));
    } else if (planes != 0) {
      const a0 = load<u32>(wb, 4), a2 = load<u32>(wb, 12);
      const sc = <u64>(a0 & 0x3f3f3f3f) | (<u64>((a2 & 0x0f0f0f0f) | (((a0 >> 6) & 0x03030303) << 4)) << 32);
      isum = i32x4.splat(0);
      const r = planes + (<usize>i << 9);
      for (let c = 0; c < 4; c++) {
        const sh = <u64>c << 4;
        isum = i32x4.add(isum, q4kChunkP(wb + 16 + (<usize>c << 5), r + (<usize>c << 7), <i32>((sc >> sh) & 0xff), <i32>((sc >> (sh + 8)) & 0xff), m));
      }
    } else {
      isum = q4kIsum(wb, xb + 4);
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(dy * h2f(wb))));
    macc += dy * h2f(wb + 2) * <f32>minSum(kMins(wb + 4), xb + 260);
  }
  return hsum(acc) - macc;
}

export function mm_q4_k(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 144, xb = <usize>nb * 292;
  if (!ASC_FEATURE_RELAXED_SIMD && T == 1 && SCRATCH != 0 && (<usize>nb << 9) <= <usize>SCRATCH_BYTES) {
    // plain-module decode: the activation's even / odd planes once per call, not once per row
    // (+5-10% single thread, same integers)
    q4kPlanes(xq, nb, SCRATCH);
    for (let n = n0; n < n1; n++) store<f32>(yAt(y, 0, N, n), dot_q4_k(w + <usize>n * rb, xq, nb, SCRATCH));
    return;
  }
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q4_k(wr, xq + <usize>t * xb, nb, 0));
    }
  }
}


// ---- Q5_K: {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]} (176 B) ----------------------------

// @ts-ignore: decorator
@inline function dot_q5_k(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  let macc: f32 = 0;
  const m4 = i8x16.splat(0x0f), one = i8x16.splat(1), two = i8x16.splat(2);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 176, xb = x + <usize>i * 292;
    const dy = load<f32>(xb);
    const sc = kScales(wb + 4);
    const h0 = v128.load(wb, 16), h1 = v128.load(wb, 32);
    let isum = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = wb + 48 + (<usize>c << 5), xq = xb + 4 + (<usize>c << 6);
      const v0 = v128.load(q), v1 = v128.load(q, 16);
      // bit 2c of qh[l] is the 5th bit of element 64c + l, bit 2c+1 that of 64c + 32 + l
      const g0 = i8x16.shr_u(h0, <i32>(c << 1)), g1 = i8x16.shr_u(h1, <i32>(c << 1));
      const l0 = v128.or(v128.and(v0, m4), i8x16.shl(v128.and(g0, one), 4));
      const l1 = v128.or(v128.and(v1, m4), i8x16.shl(v128.and(g1, one), 4));
      const u0 = v128.or(i8x16.shr_u(v0, 4), i8x16.shl(v128.and(g0, two), 3));
      const u1 = v128.or(i8x16.shr_u(v1, 4), i8x16.shl(v128.and(g1, two), 3));
      const s1 = i32x4.add(dotu8(l0, v128.load(xq)), dotu8(l1, v128.load(xq, 16)));
      const s2 = i32x4.add(dotu8(u0, v128.load(xq, 32)), dotu8(u1, v128.load(xq, 48)));
      isum = i32x4.add(isum, i32x4.add(
        mulsc(s1, <i32>((sc >> (<u64>c << 4)) & 0xff)),
        mulsc(s2, <i32>((sc >> ((<u64>c << 4) + 8)) & 0xff))));
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(dy * h2f(wb))));
    macc += dy * h2f(wb + 2) * <f32>minSum(kMins(wb + 4), xb + 260);
  }
  return hsum(acc) - macc;
}

export function mm_q5_k(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 176, xb = <usize>nb * 292;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q5_k(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d} (210 B), q = 6 bits - 32 ----------------

// @ts-ignore: decorator
@inline function dot_q6_k(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  const m4 = i8x16.splat(0x0f), m32 = i8x16.splat(32);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 210, xb = x + <usize>i * 292;
    let isum = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const ql = wb + (<usize>n << 6), qh = wb + 128 + (<usize>n << 5), sc = wb + 192 + (<usize>n << 3);
      const xq = xb + 4 + (<usize>n << 7);
      for (let h = 0; h < 2; h++) {
        const o = <usize>h << 4;
        const a = v128.load(ql + o), b = v128.load(ql + o, 32), hb = v128.load(qh + o);
        // elements 128n + 16h + l + {0, 32, 64, 96}: scales sc[h + {0, 2, 4, 6}]
        const q1 = i8x16.sub(v128.or(v128.and(a, m4), i8x16.shl(v128.and(hb, i8x16.splat(0x03)), 4)), m32);
        const q2 = i8x16.sub(v128.or(v128.and(b, m4), i8x16.shl(v128.and(hb, i8x16.splat(0x0c)), 2)), m32);
        const q3 = i8x16.sub(v128.or(i8x16.shr_u(a, 4), v128.and(hb, i8x16.splat(0x30))), m32);
        const q4 = i8x16.sub(v128.or(i8x16.shr_u(b, 4), i8x16.shr_u(v128.and(hb, i8x16.splat(-64)), 2)), m32);
        isum = i32x4.add(isum, i32x4.add(
          i32x4.add(mulsc(dot8(q1, v128.load(xq + o)), <i32>load<i8>(sc + o / 16)),
                    mulsc(dot8(q2, v128.load(xq + o, 32)), <i32>load<i8>(sc + o / 16, 2))),
          i32x4.add(mulsc(dot8(q3, v128.load(xq + o, 64)), <i32>load<i8>(sc + o / 16, 4)),
                    mulsc(dot8(q4, v128.load(xq + o, 96)), <i32>load<i8>(sc + o / 16, 6)))));
      }
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(load<f32>(xb) * h2f(wb + 208))));
  }
  return hsum(acc);
}

export function mm_q6_k(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 210, xb = <usize>nb * 292;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q6_k(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- Q2_K: {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin} (84 B) -------------------------------------
// element e = 128n + 32s + 16h + l: 2 bits at (qs[32n + 16h + l] >> 2s), sub-block e/16 = 8n+2s+h
// whose scale byte holds scale (lo nibble) and min (hi nibble).

// @ts-ignore: decorator
@inline function dot_q2_k(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  let macc: f32 = 0;
  const m3 = i8x16.splat(3);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 84, xb = x + <usize>i * 292;
    const dy = load<f32>(xb);
    // mins: sum_j (sc[j] >> 4) * bsums[j]
    const scv = v128.load(wb);
    const mn = i8x16.shr_u(scv, 4);
    const msum = hsumi(i32x4.add(
      i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(mn), v128.load(xb, 260)),
      i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(mn), v128.load(xb, 276))));
    let isum = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const q = wb + 16 + (<usize>n << 5), xq = xb + 4 + (<usize>n << 7), sp = wb + (<usize>n << 3);
      const a = v128.load(q), b = v128.load(q, 16);
      for (let s = 0; s < 4; s++) {
        const sh = s << 1;
        const qa = v128.and(i8x16.shr_u(a, sh), m3), qb = v128.and(i8x16.shr_u(b, sh), m3);
        const xo = xq + (<usize>s << 5);
        isum = i32x4.add(isum, i32x4.add(
          mulsc(dotu8(qa, v128.load(xo)), <i32>(load<u8>(sp + (<usize>sh)) & 0xf)),
          mulsc(dotu8(qb, v128.load(xo, 16)), <i32>(load<u8>(sp + (<usize>sh), 1) & 0xf))));
      }
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(dy * h2f(wb + 80))));
    macc += dy * h2f(wb + 82) * <f32>msum;
  }
  return hsum(acc) - macc;
}

export function mm_q2_k(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 84, xb = <usize>nb * 292;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q2_k(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- Q3_K: {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d} (110 B) --------------------------------
// Same element order as Q2_K; q = 2 bits - (hmask[16h + l] bit (4n + s) ? 0 : 4); 16 signed 6-bit
// scales (stored +32): low 4 bits in scales[j] (j < 8, lo nibble) / scales[j-8] (hi nibble), top 2
// bits in scales[8 + j%4] at bit 2*(j/4).

// @ts-ignore: decorator
@inline function q3Scale(p: usize, j: i32): i32 {
  const lo = j < 8 ? <i32>load<u8>(p + <usize>j) & 0xf : <i32>load<u8>(p + <usize>(j - 8)) >> 4;
  const hi = (<i32>load<u8>(p + 8 + <usize>(j & 3)) >> ((j >> 2) << 1)) & 3;
  return (lo | (hi << 4)) - 32;
}

// @ts-ignore: decorator
@inline function dot_q3_k(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  const m3 = i8x16.splat(3), one = i8x16.splat(1), four = i8x16.splat(4);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 110, xb = x + <usize>i * 292;
    const hm0 = v128.load(wb), hm1 = v128.load(wb, 16);
    let isum = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const q = wb + 32 + (<usize>n << 5), xq = xb + 4 + (<usize>n << 7);
      const a = v128.load(q), b = v128.load(q, 16);
      for (let s = 0; s < 4; s++) {
        const sh = s << 1, hs = (n << 2) + s;
        const ha = i8x16.shl(v128.and(i8x16.shr_u(hm0, hs), one), 2);
        const hb = i8x16.shl(v128.and(i8x16.shr_u(hm1, hs), one), 2);
        const qa = i8x16.sub(v128.or(v128.and(i8x16.shr_u(a, sh), m3), ha), four);
        const qb = i8x16.sub(v128.or(v128.and(i8x16.shr_u(b, sh), m3), hb), four);
        const xo = xq + (<usize>s << 5);
        const j = (n << 3) + sh;
        isum = i32x4.add(isum, i32x4.add(
          mulsc(dot8(qa, v128.load(xo)), q3Scale(wb + 96, j)),
          mulsc(dot8(qb, v128.load(xo, 16)), q3Scale(wb + 96, j + 1))));
      }
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(load<f32>(xb) * h2f(wb + 108))));
  }
  return hsum(acc);
}

export function mm_q3_k(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 110, xb = <usize>nb * 292;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_q3_k(wr, xq + <usize>t * xb, nb));
    }
  }
}

// ---- IQ4_XS: {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]} (136 B) ----------------------------

// @ts-ignore: decorator
@inline function dot_iq4_xs(w: usize, x: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  const kv = i8x16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
  const m4 = i8x16.splat(0x0f);
  for (let i = 0; i < nb; i++) {
    const wb = w + <usize>i * 136, xb = x + <usize>i * 292;
    const sh = <i32>load<u16>(wb, 2);
    let isum = i32x4.splat(0);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((<i32>load<u8>(wb + 4 + <usize>(ib >> 1)) >> ((ib & 1) << 2)) & 0xf) | (((sh >> (ib << 1)) & 3) << 4);
      const v = v128.load(wb + 8 + (<usize>ib << 4));
      const xo = xb + 4 + (<usize>ib << 5);
      const s = i32x4.add(dot8(i8x16.swizzle(kv, v128.and(v, m4)), v128.load(xo)),
                          dot8(i8x16.swizzle(kv, i8x16.shr_u(v, 4)), v128.load(xo, 16)));
      isum = i32x4.add(isum, mulsc(s, ls - 32));
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(load<f32>(xb) * h2f(wb))));
  }
  return hsum(acc);
}

export function mm_iq4_xs(w: usize, xq: usize, y: usize, K: i32, N: i32, n0: i32, n1: i32, T: i32): void {
  const nb = K >> 8;
  const rb = <usize>nb * 136, xb = <usize>nb * 292;
  for (let t0 = 0; t0 < T; t0 += TT) {
    const t1 = min(T, t0 + TT);
    for (let n = n0; n < n1; n++) {
      const wr = w + <usize>n * rb;
      for (let t = t0; t < t1; t++) store<f32>(yAt(y, t, N, n), dot_iq4_xs(wr, xq + <usize>t * xb, nb));
    }
  }
}
