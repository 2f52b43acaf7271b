// Module entry point of build/wasm/kernels-relaxed.wasm (compiled with --enable relaxed-simd): the
// kernels of both modules plus the relaxed-SIMD kernels over repacked weights (matmul_x4.ts).
export * from './kernels_base';
export * from './matmul_x4';
/** Marks the relaxed-SIMD module (WasmBackend.simd). */
export function relaxed_simd(): i32 { return 1; }
