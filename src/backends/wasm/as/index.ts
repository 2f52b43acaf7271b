// Module entry point of build/wasm/kernels.wasm: re-exports only (see scripts/build-wasm.js).
export * from './matmul';
export * from './matmul_k';
export * from './quant';
export * from './dequant';
export * from './ops';
export * from './matmul_q8x4';
export function heap_base(): usize { return __heap_base; }
