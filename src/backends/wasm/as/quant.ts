// Activation converters: T rows of K f32 (row stride K floats) -> the weight's vec_dot_type rows,
// bit-identical to quantizeActivation in src/ops/quantize.ts (llama.cpp's x86 AVX2 behaviour).
// Output row stride = bytes of one converted row (Q8_0 34*K/32, Q8_1 36*K/32, Q8_K 292*K/256,
// F16/BF16 2*K). K must be a multiple of the block size (checked by the JS caller).
import { f2h, f2bf } from './common';

/**
 * One 32-float block -> Q8_0 (withSum = false: {f16 d; i8 q[32]}) or Q8_1 ({f16 d; f16 s; i8 q[32]}).
 * AVX2 quantize_row_q8_0/1: amax = max|x| (NaN ignored, as the JS reference), d = amax/127,
 * id = amax != 0 ? 127/amax : 0 (not 1/d), q = round-half-even(x*id) saturated to int8,
 * s = fp16(d * sum(q)) with the f32 d.
 */
// @ts-ignore: decorator
@inline function q8Block(x: usize, o: usize, withSum: bool): void {
  const a0 = v128.load(x), a1 = v128.load(x, 16), a2 = v128.load(x, 32), a3 = v128.load(x, 48);
  const a4 = v128.load(x, 64), a5 = v128.load(x, 80), a6 = v128.load(x, 96), a7 = v128.load(x, 112);
  // pmax(acc, v) keeps acc when v is NaN, like the scalar `if (a > amax)`.
  let m = f32x4.pmax(f32x4.pmax(f32x4.abs(a0), f32x4.abs(a1)), f32x4.pmax(f32x4.abs(a2), f32x4.abs(a3)));
  m = f32x4.pmax(m, f32x4.pmax(f32x4.pmax(f32x4.abs(a4), f32x4.abs(a5)), f32x4.pmax(f32x4.abs(a6), f32x4.abs(a7))));
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
  m = f32x4.pmax(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
  const amax = f32x4.extract_lane(m, 0);
  const d: f32 = amax / 127.0;
  const id: f32 = amax != 0 ? <f32>127.0 / amax : 0;
  const idv = f32x4.splat(id);
  // nearest = ties to even; trunc_sat + saturating narrows = clamp to [-128, 127] (NaN -> 0).
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a0, idv)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a1, idv)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a2, idv)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a3, idv)));
  const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a4, idv)));
  const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a5, idv)));
  const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a6, idv)));
  const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a7, idv)));
  const b0 = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
  const b1 = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7));
  store<u16>(o, <u16>f2h(d));
  if (withSum) {
    // sum of the saturated int8 values (what the AVX2 code sums)
    const s16 = i16x8.add(i16x8.extadd_pairwise_i8x16_s(b0), i16x8.extadd_pairwise_i8x16_s(b1));
    const s32 = i32x4.extadd_pairwise_i16x8_s(s16);
    const s = i32x4.add(s32, i32x4.shuffle(s32, s32, 2, 3, 0, 1));
    const sum = i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
    store<u16>(o, <u16>f2h(d * <f32>sum), 2);
    v128.store(o, b0, 4);
    v128.store(o, b1, 20);
  } else {
    v128.store(o, b0, 2);
    v128.store(o, b1, 18);
  }
}

export function quant_q8_0(x: usize, out: usize, K: i32, T: i32): void {
  const nb = K >> 5;
  const rowOut = <usize>nb * 34;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * <usize>K * 4, orow = out + <usize>t * rowOut;
    for (let i = 0; i < nb; i++) q8Block(xr + (<usize>i << 7), orow + <usize>i * 34, false);
  }
}

export function quant_q8_1(x: usize, out: usize, K: i32, T: i32): void {
  const nb = K >> 5;
  const rowOut = <usize>nb * 36;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * <usize>K * 4, orow = out + <usize>t * rowOut;
    for (let i = 0; i < nb; i++) q8Block(xr + (<usize>i << 7), orow + <usize>i * 36, true);
  }
}

/**
 * quantize_row_q8_K_ref: block of 256 -> {f32 d; i8 q[256]; i16 bsums[16]}.
 * max = signed value of largest |x| (first on ties); all-zero block -> all-zero output;
 * iscale = -127/max; q = min(127, nearest(iscale*x)); d = 1/iscale.
 */
function q8kBlock(x: usize, o: usize): void {
  let amax: f32 = 0, max: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    const a = Mathf.abs(v);
    if (a > amax) { amax = a; max = v; }
  }
  if (amax == 0) {
    memory.fill(o, 0, 292);
    return;
  }
  const iscale: f32 = <f32>-127.0 / max;
  const isv = f32x4.splat(iscale);
  const lim = i32x4.splat(127);
  for (let j = 0; j < 16; j++) {
    const xp = x + (<usize>j << 6);
    // nearest_int (adding 1.5*2^23) is round-half-even for |v| < 2^22; min(127, .) as ggml.
    const q0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xp), isv))), lim);
    const q1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xp, 16), isv))), lim);
    const q2 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xp, 32), isv))), lim);
    const q3 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xp, 48), isv))), lim);
    const b = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
    v128.store(o + 4 + (<usize>j << 4), b);
    const s4 = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
    const s2 = i32x4.add(s4, i32x4.shuffle(s4, s4, 2, 3, 0, 1));
    store<i16>(o + 260 + (<usize>j << 1), <i16>(i32x4.extract_lane(s2, 0) + i32x4.extract_lane(s2, 1)));
  }
  store<f32>(o, <f32>1.0 / iscale);
}

export function quant_q8_K(x: usize, out: usize, K: i32, T: i32): void {
  const nb = K >> 8;
  const rowOut = <usize>nb * 292;
  for (let t = 0; t < T; t++) {
    const xr = x + <usize>t * <usize>K * 4, orow = out + <usize>t * rowOut;
    for (let i = 0; i < nb; i++) q8kBlock(xr + (<usize>i << 10), orow + <usize>i * 292);
  }
}

export function quant_f16(x: usize, out: usize, K: i32, T: i32): void {
  const n = <usize>K * <usize>T; // rows are contiguous in both layouts
  for (let i: usize = 0; i < n; i++) store<u16>(out + (i << 1), <u16>f2h(load<f32>(x + (i << 2))));
}

export function quant_bf16(x: usize, out: usize, K: i32, T: i32): void {
  const n = <usize>K * <usize>T;
  for (let i: usize = 0; i < n; i++) store<u16>(out + (i << 1), <u16>f2bf(load<f32>(x + (i << 2))));
}
