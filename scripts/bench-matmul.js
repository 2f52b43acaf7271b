#!/usr/bin/env node
// Quick single-thread speed check of the wasm matmul kernels (not part of the test suite).
// Decode (T = 1): weight GB/s streaming distinct copies of an N x K matrix (arena > L3).
// Prefill (T = 64 by default): GOP/s (2 ops per multiply-add) on one resident matrix.
// Types q4_0_x4 / q8_0_x4 / q4_k_x4 are Q4_0 / Q8_0 / Q4_K repacked into their X4 layouts, run by mm_q4_0_x4 /
// mm_q8_0_x4 / mm_q4_k_x4 (relaxed SIMD in the relaxed module, SIMD128 in the plain one).
// Runs the relaxed-SIMD module (build/wasm/kernels-relaxed.wasm, a superset of kernels.wasm);
// KERNELS_WASM=build/wasm/kernels.wasm runs the plain SIMD128 one. Medians of the repetitions.
// A type may name the exported kernel to run after a colon (q8_0:mm_q8_0_d2, variants under test).
// usage: [KERNELS_WASM=other.wasm] node scripts/bench-matmul.js [types=q4_0,q4_0_x4,q8_0,q8_0_x4,q4_k,q4_k_x4,q6_k,f16,f32] [N=8960] [K=1536] [T=64]
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { GGMLType, rowBytes, typeFromName, vecDotType } from '../dist/formats/ggml-types.js';
import { mulberry32, randomBlocks, quantizeActivation } from '../dist/ops/quantize.js';

const types = (process.argv[2] ?? 'q4_0,q4_0_x4,q8_0,q8_0_x4,q4_k,q4_k_x4,q6_k,f16,f32').split(',');
const N = +(process.argv[3] ?? 8960), K = +(process.argv[4] ?? 1536), TP = +(process.argv[5] ?? 64);
setFlagsFromString('--experimental-wasm-relaxed-simd'); // Node 20 (V8 11.3)
const mod = new WebAssembly.Module(readFileSync(process.env.KERNELS_WASM ?? new URL('../build/wasm/kernels-relaxed.wasm', import.meta.url)));
const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
const ex = new WebAssembly.Instance(mod, { env: { memory } }).exports;
const rand = mulberry32(7);

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

for (const spec of types) {
  const [name, kernel] = spec.split(':');
  const x4 = name.endsWith('_x4');
  const type = typeFromName(x4 ? name.slice(0, -3) : name);
  const vdt = vecDotType(type);
  const rb = rowBytes(type, K), wBytes = N * rb;
  const copies = process.env.COPIES ? +process.env.COPIES : Math.max(2, Math.ceil(96e6 / wBytes)); // COPIES=1: resident (cache) decode
  const xRow = new Float32Array(K).map(() => rand() * 2 - 1);
  const xq1 = quantizeActivation(vdt, xRow);
  const base = (ex.heap_base() + 4095) & ~4095;
  const xOff = base + copies * wBytes + 4096;
  const xqb = xq1.length;
  const TA = Math.max(TP, 8); // activation rows: the warm-up runs T = 8
  const yOff = xOff + TA * xqb + 4096;
  const scratch = yOff + TA * N * 4 + 4096;
  const sb = ex.scratch_bytes?.() ?? 0;
  ex.set_scratch?.(scratch, sb); // per-thread kernel scratch (decode records, tile segments)
  const end = scratch + sb;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  const one = randomBlocks(type, N * K, rand);
  for (let c = 0; c < copies; c++) new Uint8Array(memory.buffer, base + c * wBytes, wBytes).set(one);
  if (x4) {
    const repack = ex[`repack_${name.slice(0, -3)}_x4`], blk = type === GGMLType.Q4_K ? 256 : 32;
    if (!repack) throw new Error(`${name}: this kernel module has no X4 kernels for it (use kernels-relaxed.wasm)`);
    for (let c = 0; c < copies; c++) repack(base + c * wBytes, yOff, K / blk, N >> 2);
  }
  for (let t = 0; t < TA; t++) new Uint8Array(memory.buffer, xOff + t * xqb, xqb).set(xq1);
  const fn = ex[kernel ?? `mm_${name}`];
  if (typeof fn !== 'function') throw new Error(`${spec}: no kernel ${kernel ?? `mm_${name}`} in this module`);
  for (let i = 0; i < 20; i++) fn(base, xOff, yOff, K, N, 0, Math.min(N, 64), 1); // warm-up / tier-up
  for (let i = 0; i < 3; i++) fn(base, xOff, yOff, K, N, 0, Math.min(N, 64), 8);
  // wall time and this process's CPU time (the machine is shared: CPU time excludes waiting for a core)
  const time = (f) => {
    const c0 = process.cpuUsage(), t0 = performance.now();
    f();
    const c = process.cpuUsage(c0);
    return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
  };
  const dw = [], dc = [], pw = [], pc = [];
  for (let r = 0; r < 7; r++) {
    const m = time(() => { for (let c = 0; c < copies; c++) fn(base + c * wBytes, xOff, yOff, K, N, 0, N, 1); });
    dw.push(m.wall / copies); dc.push(m.cpu / copies);
  }
  for (let r = 0; r < 5; r++) {
    const m = time(() => fn(base, xOff, yOff, K, N, 0, N, TP));
    pw.push(m.wall); pc.push(m.cpu);
  }
  const best = { wall: median(dw), cpu: median(dc) }, bestP = { wall: median(pw), cpu: median(pc) };
  const gbs = (ms) => (wBytes / ms / 1e6).toFixed(1), gops = (ms) => (2 * N * K * TP / ms / 1e6).toFixed(1);
  console.log(`${spec.padEnd(5)} ${N}x${K}: T=1 ${gbs(best.wall)} GB/s wall, ${gbs(best.cpu)} GB/s cpu-time | ` +
    `T=${TP} ${gops(bestP.wall)} GOP/s wall, ${gops(bestP.cpu)} GOP/s cpu-time`);
}
