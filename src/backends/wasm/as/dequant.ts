// Row dequantizers for getRows (embedding lookups): K elements of ggml blocks at src -> f32 at dst.
// Bit-identical to dequantize() in src/ops/dequant.ts (same f32 operation order as ggml's
// dequantize_row_*). K must be a multiple of the block size (checked by the JS caller).
import { h2f } from './common';

/** 4 f16 (i32 lanes, sign-extended) -> f32 incl. inf/nan (exponent 31 -> 255), unlike h2f. */
// @ts-ignore: decorator
@inline function h2fFull(h: v128): v128 {
  const v = f32x4.mul(v128.and(i32x4.shl(h, 13), i32x4.splat(0x8FFFFFFF)), f32x4.splat(reinterpret<f32>(0x77800000)));
  const special = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
  const infnan = v128.or(v128.and(i32x4.shl(h, 16), i32x4.splat(0x80000000)),
                         v128.or(i32x4.splat(0x7f800000), i32x4.shl(v128.and(h, i32x4.splat(0x3ff)), 13)));
  return v128.bitselect(infnan, v, special);
}

export function dequant_row_f16(src: usize, dst: usize, K: i32): void {
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const v = v128.load(src + (<usize>k << 1));
    v128.store(dst + (<usize>k << 2), h2fFull(i32x4.extend_low_i16x8_s(v)));
    v128.store(dst + (<usize>k << 2), h2fFull(i32x4.extend_high_i16x8_s(v)), 16);
  }
  for (; k < K; k++) {
    const r = h2fFull(i32x4.splat(<i32>load<i16>(src + (<usize>k << 1))));
    store<f32>(dst + (<usize>k << 2), f32x4.extract_lane(r, 0));
  }
}

export function dequant_row_bf16(src: usize, dst: usize, K: i32): void {
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const v = v128.load(src + (<usize>k << 1));
    v128.store(dst + (<usize>k << 2), i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
    v128.store(dst + (<usize>k << 2), i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
  }
  for (; k < K; k++) store<u32>(dst + (<usize>k << 2), <u32>load<u16>(src + (<usize>k << 1)) << 16);
}

/** 16 int8 lanes (already offset) times d -> 16 f32 at p. */
// @ts-ignore: decorator
@inline function store16(p: usize, q: v128, d: v128): void {
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d));
  v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d), 16);
  v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d), 32);
  v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d), 48);
}

export function dequant_row_q4_0(src: usize, dst: usize, K: i32): void {
  const nb = K >> 5;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>i * 18, o = dst + (<usize>i << 7);
    const d = f32x4.splat(h2f(b));
    const v = v128.load(b, 2);
    store16(o, i8x16.sub(v128.and(v, i8x16.splat(0x0f)), i8x16.splat(8)), d);
    store16(o + 64, i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8)), d);
  }
}

export function dequant_row_q8_0(src: usize, dst: usize, K: i32): void {
  const nb = K >> 5;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>i * 34, o = dst + (<usize>i << 7);
    const d = f32x4.splat(h2f(b));
    store16(o, v128.load(b, 2), d);
    store16(o + 64, v128.load(b, 18), d);
  }
}

/** 16 levels (u8 0..63) -> f32: fr(d * q) - m, as ggml (multiply, then subtract the min). */
// @ts-ignore: decorator
@inline function store16dm(p: usize, q: v128, d: v128, m: v128): void {
  const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
  v128.store(p, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo))), m));
  v128.store(p, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo))), m), 16);
  v128.store(p, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi))), m), 32);
  v128.store(p, f32x4.sub(f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi))), m), 48);
}

export function dequant_row_q4_k(src: usize, dst: usize, K: i32): void {
  const nb = K >> 8;
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>i * 144, o = dst + (<usize>i << 10);
    const d = h2f(b), dmin = h2f(b + 2), s = b + 4;
    for (let c = 0; c < 4; c++) {
      // get_scale_min_k4 for sub-blocks j = 2c and 2c + 1
      let sc1: i32, m1: i32, sc2: i32, m2: i32;
      const j = c << 1;
      if (j < 4) {
        sc1 = load<u8>(s + <usize>j) & 63; m1 = load<u8>(s + <usize>j + 4) & 63;
      } else {
        sc1 = (load<u8>(s + <usize>j + 4) & 0xf) | ((load<u8>(s + <usize>j - 4) >> 6) << 4);
        m1 = (load<u8>(s + <usize>j + 4) >> 4) | ((load<u8>(s + <usize>j) >> 6) << 4);
      }
      const j2 = j + 1;
      if (j2 < 4) {
        sc2 = load<u8>(s + <usize>j2) & 63; m2 = load<u8>(s + <usize>j2 + 4) & 63;
      } else {
        sc2 = (load<u8>(s + <usize>j2 + 4) & 0xf) | ((load<u8>(s + <usize>j2 - 4) >> 6) << 4);
        m2 = (load<u8>(s + <usize>j2 + 4) >> 4) | ((load<u8>(s + <usize>j2) >> 6) << 4);
      }
      const d1 = f32x4.splat(d * <f32>sc1), mm1 = f32x4.splat(dmin * <f32>m1);
      const d2 = f32x4.splat(d * <f32>sc2), mm2 = f32x4.splat(dmin * <f32>m2);
      const q = b + 16 + (<usize>c << 5), oc = o + (<usize>c << 8);
      const v0 = v128.load(q), v1 = v128.load(q, 16);
      store16dm(oc, v128.and(v0, i8x16.splat(0x0f)), d1, mm1);
      store16dm(oc + 64, v128.and(v1, i8x16.splat(0x0f)), d1, mm1);
      store16dm(oc + 128, i8x16.shr_u(v0, 4), d2, mm2);
      store16dm(oc + 192, i8x16.shr_u(v1, 4), d2, mm2);
    }
  }
}

export function dequant_row_q6_k(src: usize, dst: usize, K: i32): void {
  const nb = K >> 8;
  const m4 = i8x16.splat(0x0f), m32 = i8x16.splat(32);
  for (let i = 0; i < nb; i++) {
    const b = src + <usize>i * 210;
    const d = h2f(b + 208);
    for (let n = 0; n < 2; n++) {
      const ql = b + (<usize>n << 6), qh = b + 128 + (<usize>n << 5), sc = b + 192 + (<usize>n << 3);
      const o = dst + (<usize>i << 10) + (<usize>n << 9);
      for (let h = 0; h < 2; h++) {
        const off = <usize>h << 4;
        const a = v128.load(ql + off), c = v128.load(ql + off, 32), hb = v128.load(qh + off);
        const q1 = i8x16.sub(v128.or(v128.and(a, m4), i8x16.shl(v128.and(hb, i8x16.splat(0x03)), 4)), m32);
        const q2 = i8x16.sub(v128.or(v128.and(c, m4), i8x16.shl(v128.and(hb, i8x16.splat(0x0c)), 2)), m32);
        const q3 = i8x16.sub(v128.or(i8x16.shr_u(a, 4), v128.and(hb, i8x16.splat(0x30))), m32);
        const q4 = i8x16.sub(v128.or(i8x16.shr_u(c, 4), i8x16.shr_u(v128.and(hb, i8x16.splat(-64)), 2)), m32);
        // y = fr(d * sc) * q, elements 128n + 16h + l + {0, 32, 64, 96}
        store16(o + (off << 2), q1, f32x4.splat(d * <f32>load<i8>(sc + <usize>h)));
        store16(o + (off << 2) + 128, q2, f32x4.splat(d * <f32>load<i8>(sc + <usize>h, 2)));
        store16(o + (off << 2) + 256, q3, f32x4.splat(d * <f32>load<i8>(sc + <usize>h, 4)));
        store16(o + (off << 2) + 384, q4, f32x4.splat(d * <f32>load<i8>(sc + <usize>h, 6)));
      }
    }
  }
}
