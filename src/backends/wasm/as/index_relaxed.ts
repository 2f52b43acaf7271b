// Module entry point of build/wasm/kernels-relaxed.wasm (compiled with --enable relaxed-simd): every
// kernel of kernels.wasm plus the relaxed-SIMD kernels over repacked weights (matmul_x4.ts).
export * from './index';
export * from './matmul_x4';
