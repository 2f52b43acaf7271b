// Kernels of both modules (re-exported by index.ts and index_relaxed.ts; see scripts/build-wasm.js).
export * from './matmul';
export * from './matmul_k';
export * from './quant';
export * from './dequant';
export * from './ops';
export * from './matmul_q8x4';
export * from './layout_x4';
export function heap_base(): usize { return __heap_base; }
