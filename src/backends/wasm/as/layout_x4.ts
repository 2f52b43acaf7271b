// The Q4_0 and Q4_K "X4" layouts (described in matmul_x4.ts) in both kernel modules: repacking at
// load and unpacking one row back. The products over them are mm_q4_0_x4 / mm_q4_k_x4: relaxed SIMD
// in matmul_x4.ts (kernels-relaxed.wasm), SIMD128 in matmul_q4x4.ts (kernels.wasm).
import { toLanes, fromLanes } from './common';

/** Bytes of one Q4_0 X4 block (4 rows x 32 weights). */
// @ts-ignore: decorator
@inline const XB: usize = 72;
/** Bytes of one Q4_K X4 super-block (4 rows x 256 weights). */
// @ts-ignore: decorator
@inline const KB: usize = 576;

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
      for (let r = 0; r < 4; r++) store<u16>(o + (<usize>r << 1), load<u16>(s + <usize>r * rb));
      // one 4 x 4 transpose of 32-bit words
      const q = s + 2;
      const a = v128.load(q), b1 = v128.load(q + rb), c = v128.load(q + 2 * rb), d = v128.load(q + 3 * rb);
      const ab0 = i32x4.shuffle(a, b1, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b1, 2, 6, 3, 7);
      const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
      v128.store(o, i32x4.shuffle(ab0, cd0, 0, 1, 4, 5), 8);
      v128.store(o, i32x4.shuffle(ab0, cd0, 2, 3, 6, 7), 24);
      v128.store(o, i32x4.shuffle(ab1, cd1, 0, 1, 4, 5), 40);
      v128.store(o, i32x4.shuffle(ab1, cd1, 2, 3, 6, 7), 56);
    }
  }
}

/** The ggml bytes (18 * nb) of row `lane` (0..3) of the X4 group at g, written to dst. */
export function unpack_row_q4_0_x4(g: usize, lane: i32, dst: usize, nb: i32): void {
  const l = <usize>lane;
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * XB, d = dst + <usize>b * 18;
    store<u16>(d, load<u16>(o + (l << 1)));
    fromLanes(d + 2, o + 8, l, 4);
  }
}

/** get_scale_min_k4 of the 12 scale bytes at q: scale (s = 1) or min (s = 0) of sub-block j. */
// @ts-ignore: decorator
@inline function kScaleMin(q: usize, j: i32, s: bool): i32 {
  if (j < 4) return <i32>load<u8>(q + <usize>(s ? j : j + 4)) & 63;
  const hi = <i32>load<u8>(q + <usize>(s ? j - 4 : j)) >> 6;
  const lo = s ? <i32>load<u8>(q + <usize>(j + 4)) & 15 : <i32>load<u8>(q + <usize>(j + 4)) >> 4;
  return lo | (hi << 4);
}

/** Repack `groups` consecutive groups of 4 ggml Q4_K rows (nb super-blocks each) at w into X4, in place; tmp: 4 * 144 * nb bytes. */
export function repack_q4_k_x4(w: usize, tmp: usize, nb: i32, groups: i32): void {
  const rb = <usize>nb * 144, gb = rb * 4;
  for (let g = 0; g < groups; g++) {
    const p = w + <usize>g * gb;
    memory.copy(tmp, p, gb);
    for (let b = 0; b < nb; b++) {
      const o = p + <usize>b * KB;
      memory.fill(o + 48, 0, 16);
      for (let r = 0; r < 4; r++) {
        const src = tmp + <usize>r * rb + <usize>b * 144;
        store<u16>(o + (<usize>r << 1), load<u16>(src));
        store<u16>(o + 8 + (<usize>r << 1), load<u16>(src, 2));
        for (let j = 0; j < 8; j++) {
          const sc = kScaleMin(src + 4, j, true), mn = kScaleMin(src + 4, j, false);
          const i = (j << 2) + r;
          store<u8>(o + 16 + <usize>i, <u8>((sc & 15) | ((mn & 15) << 4)));
          const h = o + 48 + <usize>(i & 15), sh = i < 16 ? 0 : 2;
          store<u8>(h, load<u8>(h) | <u8>(((sc >> 4) << sh) | ((mn >> 4) << (sh + 4))));
        }
        toLanes(o + 64, src + 16, <usize>r, 32);
      }
    }
  }
}

/** The ggml bytes (144 * nb) of row `lane` (0..3) of the Q4_K X4 group at g, written to dst. */
export function unpack_row_q4_k_x4(g: usize, lane: i32, dst: usize, nb: i32): void {
  const l = <usize>lane;
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * KB, d = dst + <usize>b * 144;
    store<u16>(d, load<u16>(o + (l << 1)));
    store<u16>(d + 2, load<u16>(o + 8 + (l << 1)));
    // 6-bit values of this row: sc(j), m(j)
    for (let j = 0; j < 4; j++) {
      const i = (j << 2) + lane, i2 = ((j + 4) << 2) + lane;
      const lo = <i32>load<u8>(o + 16 + <usize>i), lo2 = <i32>load<u8>(o + 16 + <usize>i2);
      const h = <i32>load<u8>(o + 48 + <usize>(i & 15)), h2 = <i32>load<u8>(o + 48 + <usize>(i2 & 15));
      // i < 16 (sh 0), i2 >= 16 (sh 2)
      const sc = (lo & 15) | ((h & 3) << 4), mn = (lo >> 4) | (((h >> 4) & 3) << 4);
      const sc2 = (lo2 & 15) | (((h2 >> 2) & 3) << 4), mn2 = (lo2 >> 4) | (((h2 >> 6) & 3) << 4);
      store<u8>(d + 4 + <usize>j, <u8>(sc | ((sc2 >> 4) << 6)));
      store<u8>(d + 8 + <usize>j, <u8>(mn | ((mn2 >> 4) << 6)));
      store<u8>(d + 12 + <usize>j, <u8>((sc2 & 15) | ((mn2 & 15) << 4)));
    }
    fromLanes(d + 16, o + 64, l, 32);
  }
}

