// The Q4_0 "X4" layout (described in matmul_x4.ts) in both kernel modules: repacking at load and
// unpacking one row back. The products over it are mm_q4_0_x4: relaxed SIMD in matmul_x4.ts
// (kernels-relaxed.wasm), SIMD128 in matmul_q4x4.ts (kernels.wasm).
import { fromLanes } from './common';

/** Bytes of one Q4_0 X4 block (4 rows x 32 weights). */
// @ts-ignore: decorator
@inline const XB: usize = 72;

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
