// Kernels of both modules (re-exported by index.ts and index_relaxed.ts; see scripts/build-wasm.js).
export * from './matmul';
export * from './matmul_k';
export * from './quant';
export * from './dequant';
export * from './ops';
export * from './matmul_q8x4';
export * from './layout_x4';
export function heap_base(): usize { return __heap_base; }
/**
 * Write a zero byte in every 4 KB page of [p, p + n) (and at its last byte): the operating system
 * maps fresh wasm memory on the first write to each page, which cost more than reading the weights
 * (1 GB: 0.59 s of faults, 0.14 s of copying); a weight's pages are touched by every thread first.
 * Only for memory whose contents are about to be overwritten. zero_bytes: the same share of a
 * fresh allocation, zeroed.
 */
export function zero_bytes(p: usize, n: usize): void {
  memory.fill(p, 0, n);
}
export function touch_pages(p: usize, n: usize): void {
  for (let o: usize = 0; o < n; o += 4096) store<u8>(p + o, 0);
  if (n > 0) store<u8>(p + n - 1, 0);
}
