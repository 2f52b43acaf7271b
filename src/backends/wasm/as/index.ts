// Module entry point of build/wasm/kernels.wasm (SIMD128 only; see scripts/build-wasm.js): the
// kernels of both modules plus the SIMD128 Q4_0 X4 products (matmul_q4x4.ts).
export * from './kernels_base';
export * from './matmul_q4x4';
