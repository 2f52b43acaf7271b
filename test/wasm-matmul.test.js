// Checks the AssemblyScript matrix-product kernels on one shared memory, in both kernel modules
// (build/wasm/kernels.wasm, SIMD128, and build/wasm/kernels-relaxed.wasm, relaxed SIMD):
// - quant_*: byte-for-byte against quantizeActivation (dist/ops/quantize.js);
// - mm_*: against an f64 reference built from the dequantized weight and activation rows,
//   |err| <= 1e-5 * sum_k |w_k x_k| + 1e-6, for quantize()d and randomBlocks() weights, partial
//   row ranges, decode (T = 1) and tiled prefill shapes; columns outside [n0, n1) must stay untouched.
// - mm_q4_0_x4 / mm_q8_0_x4 (both modules) and mm_q4_k_x4 (relaxed module) on weights repacked by
//   repack_*_x4, whose bytes must equal a JS model of the X4 layout (Q4_0, Q8_0); unpack_row_*_x4
//   must give the ggml rows back; mm_q8_0_x4 must equal mm_q8_0 bit for bit; decode, small batches
//   and tiles of one X4 kernel must agree bit for bit;
// Each check runs on a cold instance (first call, before V8 tiers the function up) and again after
// warm-up calls, so both the baseline (Liftoff) and the optimized code are compared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { GGMLType, rowBytes, typeName, vecDotType } from '../dist/formats/ggml-types.js';
import { mulberry32, quantize, quantizeActivation, randomBlocks } from '../dist/ops/quantize.js';
import { dequantize, fp16ToF32 } from '../dist/ops/dequant.js';

const wasmPath = fileURLToPath(new URL('../build/wasm/kernels.wasm', import.meta.url));
const relaxedPath = fileURLToPath(new URL('../build/wasm/kernels-relaxed.wasm', import.meta.url));
if (!existsSync(wasmPath) || !existsSync(relaxedPath)) {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/build-wasm.js', import.meta.url))], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building kernels.wasm failed:\n${r.stdout}${r.stderr}`);
}
const wasmModule = new WebAssembly.Module(readFileSync(wasmPath));
// Node 20 (V8 11.3) compiles relaxed SIMD only with this flag, as the backend sets it
setFlagsFromString('--experimental-wasm-relaxed-simd');
const relaxedModule = new WebAssembly.Module(readFileSync(relaxedPath));
const MODULES = [['plain', wasmModule], ['relaxed', relaxedModule]];

/** A fresh instance on its own shared memory, with a bump allocator above __heap_base. */
function instantiate({ scratch = true, module = wasmModule } = {}) {
  const memory = new WebAssembly.Memory({ initial: 512, maximum: 16384, shared: true });
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  // Per-thread kernel scratch right above the static data, as the backend lays it out.
  const hb = (inst.exports.heap_base() + 63) & ~63;
  if (scratch) inst.exports.set_scratch(hb, inst.exports.scratch_bytes());
  const base = hb + inst.exports.scratch_bytes();
  let top = base;
  return {
    ex: inst.exports,
    memory,
    reset() { top = base; },
    alloc(bytes) {
      const p = top;
      top = (top + bytes + 63 + 16) & ~63; // + 16: kernels may not read past, keep a gap anyway
      const need = Math.ceil(top / 65536) - memory.buffer.byteLength / 65536;
      if (need > 0) memory.grow(need);
      return p;
    },
    put(bytes) {
      const p = this.alloc(bytes.length);
      new Uint8Array(memory.buffer, p, bytes.length).set(bytes);
      return p;
    },
    bytes(p, n) { return new Uint8Array(memory.buffer, p, n).slice(); },
  };
}

// ---- activation generators ----------------------------------------------------------------------

function gauss(rand) {
  const u = Math.max(rand(), 1e-12), v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * T x K activations with per-32 block magnitudes from 1e-6 to 30, outliers, exact zeros, tiny
 * values, an all-zero row and (for block types) blocks built to hit rounding ties.
 */
function makeActs(T, K, rand) {
  const x = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    const mode = t === 1 ? 'zero' : t % 5 === 3 ? 'ties' : 'rand';
    for (let b = 0; b < K; b += 32) {
      const n = Math.min(32, K - b);
      const scale = 10 ** (rand() * 7.5 - 6);
      for (let j = 0; j < n; j++) {
        const i = t * K + b + j;
        if (mode === 'zero') { x[i] = 0; continue; }
        if (mode === 'ties') {
          // amax exactly 127 (or -127 for Q8_K's signed max): x*id lands on k + 0.5
          x[i] = j === 0 ? (b & 64 ? -127 : 127) : Math.floor(rand() * 250 - 125) + 0.5;
          continue;
        }
        const r = rand();
        x[i] = r < 0.05 ? 0 : r < 0.08 ? gauss(rand) * 1e-30 : r < 0.1 ? gauss(rand) * scale * 40 : gauss(rand) * scale;
      }
    }
  }
  return x;
}

/** Raw f32 bit patterns for the F16/BF16 converters: every exponent incl. subnormal, inf, nan, ties. */
function makeBitsActs(n, rand) {
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rand();
    let bits = (Math.floor(rand() * 4294967296)) >>> 0;
    if (r < 0.2) bits = (bits & 0x80000000) | ((100 + Math.floor(rand() * 60)) << 23) | (bits & 0x7fffff); // around f16 range
    else if (r < 0.3) bits = (bits & 0xffffe000) | 0x1000; // exact f16 rounding ties
    else if (r < 0.35) bits = (bits & 0xffff0000) | 0x8000; // exact bf16 ties
    else if (r < 0.38) bits = (bits & 0x807fffff) | (103 << 23); // f16 subnormal range
    u[i] = bits;
  }
  return new Float32Array(u.buffer);
}

function concatRows(type, x, T, K) {
  const rb = rowBytes(type, K);
  const out = new Uint8Array(T * rb);
  for (let t = 0; t < T; t++) out.set(quantizeActivation(type, x.subarray(t * K, (t + 1) * K)), t * rb);
  return out;
}

// ---- quantizers ---------------------------------------------------------------------------------

const QUANT_FN = {
  [GGMLType.Q8_0]: 'quant_q8_0', [GGMLType.Q8_1]: 'quant_q8_1', [GGMLType.Q8_K]: 'quant_q8_K',
  [GGMLType.F16]: 'quant_f16', [GGMLType.BF16]: 'quant_bf16',
};

function checkQuant(w, type, x, T, K, label) {
  w.reset();
  const expect = concatRows(type, x, T, K);
  const px = w.put(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  const po = w.alloc(expect.length);
  new Uint8Array(w.memory.buffer, po, expect.length).fill(0xa5); // stale bytes must be overwritten
  w.ex[QUANT_FN[type]](px, po, K, T);
  const got = w.bytes(po, expect.length);
  for (let i = 0; i < expect.length; i++) {
    if (got[i] !== expect[i]) {
      assert.fail(`${QUANT_FN[type]} ${label} K=${K} T=${T}: byte ${i} (row ${Math.floor(i / rowBytes(type, K))}) is ${got[i]}, expected ${expect[i]}`);
    }
  }
}

test('quant_* match quantizeActivation byte for byte (cold and warm)', () => {
  const rand = mulberry32(1234);
  const w = instantiate();
  for (const type of [GGMLType.Q8_0, GGMLType.Q8_1, GGMLType.Q8_K, GGMLType.F16, GGMLType.BF16]) {
    const bs = type === GGMLType.Q8_K ? 256 : 32;
    const shapes = [[bs, 1], [3 * bs, 6], [1536, 5], [8960, 2]];
    for (const [phase, reps] of [['cold', 0], ['warm', 40]]) {
      for (const [K, T] of shapes) {
        const x = makeActs(T, K, rand);
        for (let r = 0; r < reps; r++) { w.reset(); const p = w.put(new Uint8Array(x.buffer)); w.ex[QUANT_FN[type]](p, w.alloc(T * rowBytes(type, K)), K, T); }
        checkQuant(w, type, x, T, K, phase);
      }
      if (type === GGMLType.F16 || type === GGMLType.BF16) {
        checkQuant(w, type, makeBitsActs(4096, rand), 4, 1024, `${phase} bit patterns`);
        checkQuant(w, type, makeBitsActs(37 * 3, rand), 3, 37, `${phase} odd K`);
      }
    }
  }
});

// ---- matrix products ----------------------------------------------------------------------------

const MM_TYPES = [
  GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.Q5_1,
  GGMLType.Q8_0, GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K,
  GGMLType.IQ4_NL, GGMLType.IQ4_XS,
];

function blockOf(type) {
  return [GGMLType.F32, GGMLType.F16, GGMLType.BF16].includes(type) ? 1
    : [GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.IQ4_XS].includes(type) ? 256 : 32;
}

/** f64 reference of y[t, n] and sum_k |w x| in ggml's formulation (Q4_1/Q5_1: m_w * s_x per block). */
function reference(type, wBytes, xq, K, N, T) {
  const vdt = vecDotType(type);
  const W = dequantize(type, wBytes, N * K);
  const X = dequantize(vdt, xq, T * K);
  const ref = new Float64Array(T * N), mag = new Float64Array(T * N);
  const withMin = type === GGMLType.Q4_1 || type === GGMLType.Q5_1;
  const wbs = type === GGMLType.Q4_1 ? 20 : 24;
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let s = 0, a = 0;
      const wo = n * K, xo = t * K;
      for (let k = 0; k < K; k++) { const p = W[wo + k] * X[xo + k]; s += p; a += Math.abs(p); }
      if (withMin) {
        // ggml adds m_w * s_x, where s_x = fp16(d_x(f32) * sum q) differs from sum_j X_j
        for (let b = 0; b < K / 32; b++) {
          const wb = (n * (K / 32) + b) * wbs, xb = (t * (K / 32) + b) * 36;
          const m = fp16ToF32(wBytes[wb + 2] | (wBytes[wb + 3] << 8));
          const sx = fp16ToF32(xq[xb + 2] | (xq[xb + 3] << 8));
          let sumX = 0;
          for (let j = 0; j < 32; j++) sumX += X[xo + 32 * b + j];
          s += m * (sx - sumX);
          a += Math.abs(m * sx);
        }
      }
      ref[t * N + n] = s;
      mag[t * N + n] = a;
    }
  }
  return { ref, mag };
}

function mmName(type) { return `mm_${typeName(type).toLowerCase()}`; }

/**
 * JS model of the X4 layouts of Q4_0 and Q8_0 (as/matmul_x4.ts): groups of 4 ggml rows interleaved
 * (per block the 4 f16 scales, then vectors of 4 bytes per row), tail rows as they are.
 */
function repackX4(bytes, N, K, type = GGMLType.Q4_0) {
  const bb = type === GGMLType.Q8_0 ? 34 : 18, nv = (bb - 2) / 4; // bytes per ggml block, vectors per block
  const nb = K / 32, rb = nb * bb, xb = 8 + 16 * nv, out = bytes.slice();
  for (let g = 0; g < N >> 2; g++) {
    for (let b = 0; b < nb; b++) {
      const o = g * 4 * rb + b * xb;
      for (let r = 0; r < 4; r++) {
        const src = (4 * g + r) * rb + b * bb;
        out[o + 2 * r] = bytes[src]; out[o + 2 * r + 1] = bytes[src + 1];
        for (let k = 0; k < nv; k++) for (let j = 0; j < 4; j++) out[o + 8 + 16 * k + 4 * r + j] = bytes[src + 2 + 4 * k + j];
      }
    }
  }
  return out;
}

function checkMM(w, type, src, K, N, T, n0, n1, warm, rand, x4 = false) {
  const vdt = vecDotType(type);
  const floats = new Float32Array(N * K);
  for (let i = 0; i < floats.length; i++) floats[i] = gauss(rand) * 0.1 * (1 + (i % 97 === 0 ? 20 : 0));
  // 'tiny': weights ~1e-5 so block scales (and F16 values) are f16 subnormals
  if (src === 'tiny') for (let i = 0; i < floats.length; i++) floats[i] *= 1e-4;
  const wBytes = src === 'random' ? randomBlocks(type, N * K, rand) : quantize(type, floats);
  assert.equal(wBytes.length, N * rowBytes(type, K));
  const x = makeActs(T, K, rand);
  const xq = concatRows(vdt, x, T, K);
  const { ref, mag } = reference(type, wBytes, xq, K, N, T);
  w.reset();
  const pw = w.put(wBytes), px = w.put(xq), py = w.alloc(T * N * 4);
  if (x4 && (type === GGMLType.Q4_0 || type === GGMLType.Q8_0)) {
    // repack in wasm, check the bytes against the JS model of the layout and the rows unpacked back
    const lower = typeName(type).toLowerCase(), rb = rowBytes(type, K);
    w.ex[`repack_${lower}_x4`](pw, w.alloc(4 * rb), K / 32, N >> 2);
    const want = repackX4(wBytes, N, K, type), got = w.bytes(pw, wBytes.length);
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) assert.fail(`repack_${lower}_x4 K=${K} N=${N}: byte ${i} is ${got[i]}, expected ${want[i]}`);
    const pr = w.alloc(rb);
    for (let r = 0; r < (N & ~3); r++) {
      w.ex[`unpack_row_${lower}_x4`](pw + (r >> 2) * 4 * rb, r & 3, pr, K / 32);
      const row = w.bytes(pr, rb);
      for (let i = 0; i < rb; i++) if (row[i] !== wBytes[r * rb + i]) assert.fail(`unpack_row_${lower}_x4 K=${K} N=${N} row ${r}: byte ${i} is ${row[i]}, expected ${wBytes[r * rb + i]}`);
    }
  } else if (x4) {
    // Q4_K: repack in wasm, then every row of every group must unpack to its ggml bytes
    const rb = rowBytes(type, K);
    w.ex.repack_q4_k_x4(pw, w.alloc(4 * rb), K / 256, N >> 2);
    const pr = w.alloc(rb);
    for (let r = 0; r < (N & ~3); r++) {
      w.ex.unpack_row_q4_k_x4(pw + (r >> 2) * 4 * rb, r & 3, pr, K / 256);
      const got = w.bytes(pr, rb), want = wBytes.subarray(r * rb, (r + 1) * rb);
      for (let i = 0; i < rb; i++) if (got[i] !== want[i]) assert.fail(`unpack_row_q4_k_x4 K=${K} N=${N} row ${r}: byte ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
  const name = mmName(type) + (x4 ? '_x4' : '');
  const fn = w.ex[name];
  assert.equal(typeof fn, 'function', `${name} is exported`);
  for (let r = 0; r < warm; r++) fn(pw, px, py, K, N, n0, n1, T);
  const y = new Float32Array(w.memory.buffer, py, T * N);
  y.fill(NaN);
  fn(pw, px, py, K, N, n0, n1, T);
  const label = `${name} ${src} K=${K} N=${N} T=${T} rows [${n0}, ${n1}) ${warm ? 'warm' : 'cold'}`;
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      const got = y[t * N + n];
      if (n < n0 || n >= n1) {
        if (!Number.isNaN(got)) assert.fail(`${label}: y[${t}, ${n}] outside the row range was written`);
        continue;
      }
      const e = ref[t * N + n], tol = 1e-5 * mag[t * N + n] + 1e-6;
      if (!(Math.abs(got - e) <= tol)) {
        assert.fail(`${label}: y[${t}, ${n}] = ${got}, reference ${e} (|err| ${Math.abs(got - e)} > tol ${tol})`);
      }
    }
  }
}

// [K multiple of block, N, T, n0, n1]; K given as a function of the block size
const MM_CASES = [
  [(b) => Math.max(b, 32), 1, 1, 0, 1],
  [(b) => 3 * Math.max(b, 32), 5, 2, 1, 4],
  [(b) => (b === 1 ? 37 : 3 * b), 6, 7, 1, 6],
  [() => 1536, 17, 7, 0, 17],
  [() => 1536, 64, 130, 3, 61],
  [() => 1536, 3, 1, 1, 3],
  [() => 8960, 17, 1, 5, 16],
  [() => 8960, 5, 33, 0, 5],
];

for (const [mod, module] of MODULES) for (const type of MM_TYPES) {
  test(`${mmName(type)} matches the f64 reference (cold and warm, ${mod} module)`, () => {
    const rand = mulberry32(1000 + type);
    const w = instantiate({ module }); // fresh instance: the first calls below run before any tier-up
    const bs = blockOf(type);
    MM_CASES.forEach(([kf, N, T, n0, n1], ci) => {
      const K = kf(bs);
      const srcs = ci < 3 ? ['quantize', 'random'] : ci === 3 ? ['quantize', 'random', 'tiny'] : [ci % 2 ? 'quantize' : 'random'];
      for (const src of srcs) checkMM(w, type, src, K, N, T, n0, n1, 0, rand);
    });
    // warm: repeat calls so V8 optimizes the kernel, then compare again
    MM_CASES.forEach(([kf, N, T, n0, n1], ci) => {
      const K = kf(bs);
      const warm = N * T * K > 2e6 ? 2 : 30;
      checkMM(w, type, ci % 2 ? 'random' : 'quantize', K, N, T, n0, n1, warm, rand);
    });
  });
}

/**
 * Run mm(y, n0, n1, tn) over every token tiling in `tilings` (tiles of tt tokens starting at
 * px + t0 * xb, each with the rows cut at 5) into p1 and require the [T, N] result to equal
 * `want` bit for bit; `what` names the compared values in the failure message.
 */
function assertTilings(w, mm, px, p1, xb, K, N, T, tilings, want, what, fillNaN = false) {
  for (const tt of tilings) {
    if (fillNaN) new Float32Array(w.memory.buffer, p1, T * N).fill(NaN);
    for (let t0 = 0; t0 < T; t0 += tt) {
      const tn = Math.min(tt, T - t0);
      for (const [n0, n1] of [[0, 5], [5, N]]) mm(px + t0 * xb, p1 + t0 * N * 4, n0, n1, tn);
    }
    const got = new Float32Array(w.memory.buffer, p1, T * N);
    for (let i = 0; i < T * N; i++) {
      if (!Object.is(got[i], want[i])) assert.fail(`K=${K} tiles of ${tt}: ${what[0]}y[${Math.floor(i / N)}, ${i % N}] = ${got[i]}, ${what[1]} ${want[i]}`);
    }
  }
}

// Q4_0 over the repacked X4 layout (both modules: relaxed SIMD in matmul_x4.ts, SIMD128 in
// matmul_q4x4.ts): every tail length (N % 4), row ranges
// that cut 4-row groups, T = 1 (decode), 2..8 (small batches) and > 64 (several prefill tiles)
const X4_CASES = [
  [32, 4, 1, 0, 4], [64, 5, 1, 0, 5], [96, 6, 2, 0, 6], [256, 7, 3, 1, 7], [1536, 64, 1, 16, 48],
  [1536, 67, 1, 0, 67], [512, 33, 5, 2, 31], [256, 12, 8, 0, 12], [1536, 17, 9, 3, 17],
  [256, 21, 70, 0, 21], [2048, 16, 130, 4, 13], [8960, 9, 1, 0, 9], [8960, 13, 33, 0, 13],
];
for (const [mod, module] of MODULES) test(`mm_q4_0_x4 on repacked weights matches the f64 reference (cold and warm, ${mod} module)`, () => {
  const rand = mulberry32(4242);
  const w = instantiate({ module });
  // + a row too long for the SIMD128 decode records (T = 1 through the tiles there)
  [...X4_CASES, [27648, 6, 1, 1, 6]].forEach(([K, N, T, n0, n1], ci) => {
    for (const src of ci < 4 ? ['quantize', 'random', 'tiny'] : [ci % 2 ? 'quantize' : 'random']) checkMM(w, GGMLType.Q4_0, src, K, N, T, n0, n1, 0, rand, true);
  });
  X4_CASES.forEach(([K, N, T, n0, n1], ci) => {
    const warm = N * T * K > 2e6 ? 2 : 30;
    checkMM(w, GGMLType.Q4_0, ci % 2 ? 'random' : 'quantize', K, N, T, n0, n1, warm, rand, true);
  });
});

// Q8_0 over its X4 layout (both modules): the X4_CASES shapes plus a row too long for the decode
// records (K = 27648: T = 1 through the tiles), against the f64 reference; then bit for bit equal
// to mm_q8_0 on the ggml rows (one arithmetic) for every T, token tiling and row range
for (const [mod, module] of MODULES) test(`mm_q8_0_x4 on repacked weights matches the f64 reference and mm_q8_0 bit for bit (${mod} module)`, () => {
  const rand = mulberry32(4646);
  const w = instantiate({ module });
  const cases = [...X4_CASES, [27648, 8, 1, 0, 8], [27648, 6, 3, 1, 6]];
  cases.forEach(([K, N, T, n0, n1], ci) => {
    for (const src of ci < 4 ? ['quantize', 'random', 'tiny'] : [ci % 2 ? 'quantize' : 'random']) checkMM(w, GGMLType.Q8_0, src, K, N, T, n0, n1, 0, rand, true);
  });
  cases.forEach(([K, N, T, n0, n1], ci) => {
    checkMM(w, GGMLType.Q8_0, ci % 2 ? 'random' : 'quantize', K, N, T, n0, n1, N * T * K > 2e6 ? 2 : 30, rand, true);
  });
  for (const [K, N, T] of [[96, 9, 11], [1536, 13, 70], [8960, 10, 40]]) {
    w.reset();
    const rb = rowBytes(GGMLType.Q8_0, K);
    const wBytes = randomBlocks(GGMLType.Q8_0, N * K, rand);
    const px = w.put(concatRows(GGMLType.Q8_0, makeActs(T, K, rand), T, K));
    const pg = w.put(wBytes), pw = w.put(wBytes);
    w.ex.repack_q8_0_x4(pw, w.alloc(4 * rb), K / 32, N >> 2);
    const py = w.alloc(T * N * 4), p1 = w.alloc(T * N * 4);
    w.ex.mm_q8_0(pg, px, py, K, N, 0, N, T);
    const want = new Float32Array(w.memory.buffer, py, T * N).slice();
    assertTilings(w, (x, y, n0, n1, tn) => w.ex.mm_q8_0_x4(pw, x, y, K, N, n0, n1, tn), px, p1, rb, K, N, T, [1, 3, 9, 64], want, ['X4 ', 'ggml rows']);
  }
});

// Q8_0 paths (both modules): T = 1 (activation planes in scratch), T > 1 (4-row groups x token tiles
// with int16 records in scratch, K split into segments when the records of a tile do not fit; rows
// outside whole groups of the range one token at a time), and prefill shapes without scratch
const Q8_CASES = [
  [32, 4, 3, 0, 4], [64, 5, 4, 1, 5], [256, 9, 5, 2, 9], [1536, 8, 8, 0, 8], [1536, 13, 9, 1, 13],
  [1536, 16, 64, 0, 16], [512, 11, 65, 3, 10], [1536, 6, 12, 4, 6], [8960, 9, 33, 0, 9], [8960, 4, 70, 0, 4],
  [4096, 7, 1, 0, 7],
];
for (const [mod, module] of MODULES) {
  test(`mm_q8_0 small batches, prefill tiles and K segments match the f64 reference (${mod} module)`, () => {
    const rand = mulberry32(8808);
    const w = instantiate({ module });
    Q8_CASES.forEach(([K, N, T, n0, n1], ci) => checkMM(w, GGMLType.Q8_0, ci % 2 ? 'quantize' : 'random', K, N, T, n0, n1, 0, rand));
    Q8_CASES.forEach(([K, N, T, n0, n1], ci) => {
      checkMM(w, GGMLType.Q8_0, ci % 2 ? 'random' : 'quantize', K, N, T, n0, n1, N * T * K > 2e6 ? 2 : 30, rand);
    });
    const bare = instantiate({ module, scratch: false });
    for (const [K, N, T, n0, n1] of [[1536, 16, 64, 0, 16], [8960, 9, 33, 0, 9]]) checkMM(bare, GGMLType.Q8_0, 'random', K, N, T, n0, n1, 0, rand);
  });
}

// Q4_0 X4 (both modules): one product whatever T, the token tiling (1 = decode, 3, 9, 64) and the
// row range (cut inside a group), bit for bit
for (const [mod, module] of MODULES) test(`mm_q4_0_x4: decode, small batches and prefill tiles agree bit for bit (${mod} module)`, () => {
  const rand = mulberry32(4343);
  const w = instantiate({ module });
  for (const [K, N, T] of [[256, 13, 9], [1536, 24, 70], [8960, 9, 30]]) {
    w.reset();
    const wBytes = randomBlocks(GGMLType.Q4_0, N * K, rand);
    const xq = concatRows(GGMLType.Q8_0, makeActs(T, K, rand), T, K);
    const pw = w.put(wBytes), px = w.put(xq), py = w.alloc(T * N * 4), p1 = w.alloc(T * N * 4);
    w.ex.repack_q4_0_x4(pw, w.alloc(4 * rowBytes(GGMLType.Q4_0, K)), K / 32, N >> 2);
    for (let r = 0; r < 3; r++) w.ex.mm_q4_0_x4(pw, px, py, K, N, 0, N, T);
    const full = new Float32Array(w.memory.buffer, py, T * N).slice();
    const rb = rowBytes(GGMLType.Q8_0, K);
    assertTilings(w, (x, y, n0, n1, tn) => w.ex.mm_q4_0_x4(pw, x, y, K, N, n0, n1, tn), px, p1, rb, K, N, T, [1, 3, 9, 64], full, ['', 'whole call'], true);
  }
});

for (const [mod, module] of MODULES) {
  test(`mm_q8_0: a product does not depend on T, the token tiling or the row range, bit for bit (${mod} module)`, () => {
    const rand = mulberry32(4444);
    const w = instantiate({ module });
    for (const [K, N, T] of [[96, 9, 11], [1536, 13, 70], [8960, 10, 40]]) {
      w.reset();
      const wBytes = randomBlocks(GGMLType.Q8_0, N * K, rand);
      const xq = concatRows(GGMLType.Q8_0, makeActs(T, K, rand), T, K);
      const pw = w.put(wBytes), px = w.put(xq), py = w.alloc(T * N * 4), p1 = w.alloc(T * N * 4);
      for (let r = 0; r < 3; r++) w.ex.mm_q8_0(pw, px, py, K, N, 0, N, T);
      const full = new Float32Array(w.memory.buffer, py, T * N).slice();
      const rb = rowBytes(GGMLType.Q8_0, K);
      // token tiles of 1, 3 and 9 tokens (T = 1 decode, small batches, tiles), rows cut at 5
      assertTilings(w, (x, y, n0, n1, tn) => w.ex.mm_q8_0(pw, x, y, K, N, n0, n1, tn), px, p1, rb, K, N, T, [1, 3, 9], full, ['', 'whole call']);
    }
  });
}

// Q4_K over its repacked X4 layout (both modules): tails, cut groups, decode (K segments of the
// SIMD128 records at K = 8960 and 10240), tiles (K segments of the records); and the tiles equal
// decode bit for bit
const Q4K_X4_CASES = [
  [256, 4, 1, 0, 4], [256, 5, 1, 0, 5], [512, 7, 3, 1, 7], [256, 6, 2, 0, 6], [1536, 64, 1, 16, 48],
  [1536, 17, 9, 3, 17], [2048, 13, 70, 0, 13], [8960, 9, 1, 0, 9], [8960, 10, 33, 0, 10],
  [10240, 6, 1, 1, 6], [10240, 5, 3, 0, 5], [33024, 5, 1, 0, 5],
];
for (const [mod, module] of MODULES) test(`mm_q4_k_x4 on repacked weights matches the f64 reference (cold and warm, ${mod} module)`, () => {
  const rand = mulberry32(4545);
  const w = instantiate({ module });
  Q4K_X4_CASES.forEach(([K, N, T, n0, n1], ci) => {
    for (const src of ci < 4 ? ['quantize', 'random', 'tiny'] : [ci % 2 ? 'quantize' : 'random']) checkMM(w, GGMLType.Q4_K, src, K, N, T, n0, n1, 0, rand, true);
  });
  Q4K_X4_CASES.forEach(([K, N, T, n0, n1], ci) => {
    checkMM(w, GGMLType.Q4_K, ci % 2 ? 'random' : 'quantize', K, N, T, n0, n1, N * T * K > 2e6 ? 2 : 30, rand, true);
  });
  // T = 1 per token equals the tiled call bit for bit
  for (const [K, N, T] of [[512, 9, 11], [2048, 12, 70], [10240, 9, 5]]) {
    w.reset();
    const rb = rowBytes(GGMLType.Q4_K, K), xb = rowBytes(GGMLType.Q8_K, K);
    const pw = w.put(randomBlocks(GGMLType.Q4_K, N * K, rand));
    const px = w.put(concatRows(GGMLType.Q8_K, makeActs(T, K, rand), T, K));
    w.ex.repack_q4_k_x4(pw, w.alloc(4 * rb), K / 256, N >> 2);
    const py = w.alloc(T * N * 4), p1 = w.alloc(N * 4);
    w.ex.mm_q4_k_x4(pw, px, py, K, N, 0, N, T);
    const tiled = new Float32Array(w.memory.buffer, py, T * N).slice();
    for (let t = 0; t < T; t++) {
      w.ex.mm_q4_k_x4(pw, px + t * xb, p1, K, N, 0, N, 1);
      const one = new Float32Array(w.memory.buffer, p1, N);
      for (let n = 0; n < N; n++) if (!Object.is(tiled[t * N + n], one[n])) assert.fail(`K=${K} token ${t} row ${n}: ${tiled[t * N + n]} vs ${one[n]}`);
    }
  }
});

for (const [mod, module] of MODULES) test(`unpack_row_q4_0_x4 gives the ggml rows of a repacked weight back (${mod} module)`, () => {
  const rand = mulberry32(77);
  const w = instantiate({ module });
  for (const [N, K] of [[4, 32], [9, 256], [16, 1536]]) {
    w.reset();
    const bytes = randomBlocks(GGMLType.Q4_0, N * K, rand), rb = rowBytes(GGMLType.Q4_0, K);
    const pw = w.put(repackX4(bytes, N, K)), pr = w.alloc(rb);
    for (let r = 0; r < (N & ~3); r++) {
      w.ex.unpack_row_q4_0_x4(pw + (r >> 2) * 4 * rb, r & 3, pr, K / 32);
      assert.deepEqual(w.bytes(pr, rb), bytes.subarray(r * rb, (r + 1) * rb), `N=${N} K=${K} row ${r}`);
    }
  }
});

// ---- row dequantizers (getRows) -----------------------------------------------------------------

test('dequant_row_* match dequantize bit for bit (cold and warm)', () => {
  const rand = mulberry32(99);
  const w = instantiate();
  const types = [GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q6_K];
  for (const type of types) {
    const fn = w.ex[`dequant_row_${typeName(type).toLowerCase()}`];
    assert.equal(typeof fn, 'function');
    const bs = blockOf(type);
    const Ks = bs === 1 ? [8, 37, 1536] : [bs, 3 * bs, 1536];
    for (const warm of [0, 30]) {
      for (const K of Ks) {
        const srcs = [randomBlocks(type, K, rand), quantize(type, makeActs(1, K, rand))];
        if (bs === 1) {
          // every 16-bit pattern class: subnormals, inf, nan, both signs
          const raw = new Uint8Array(2 * K);
          for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand() * 256);
          srcs.push(raw);
        }
        for (const src of srcs) {
          const expect = dequantize(type, src, K);
          w.reset();
          const ps = w.put(src), pd = w.alloc(4 * K);
          for (let r = 0; r < warm; r++) fn(ps, pd, K);
          new Float32Array(w.memory.buffer, pd, K).fill(12345);
          fn(ps, pd, K);
          const got = new Float32Array(w.memory.buffer, pd, K);
          const gb = new Uint32Array(w.memory.buffer, pd, K);
          const eb = new Uint32Array(expect.buffer);
          for (let k = 0; k < K; k++) {
            if (Number.isNaN(expect[k]) && Number.isNaN(got[k])) continue;
            if (gb[k] !== eb[k]) assert.fail(`dequant_row_${typeName(type).toLowerCase()} K=${K} element ${k}: ${got[k]}, expected ${expect[k]}`);
          }
        }
      }
    }
  }
});

test('Q4_0 decode: the scratch-plane path equals the plain path', () => {
  const rand = mulberry32(99);
  for (const K of [32, 1536, 8960]) {
    const N = 7;
    const w = randomBlocks(GGMLType.Q4_0, N * K, rand);
    const x = new Float32Array(K).map(() => rand() * 2 - 1);
    const xq = quantizeActivation(GGMLType.Q8_0, x);
    const out = [];
    for (const scratch of [true, false]) {
      const m = instantiate({ scratch });
      const wp = m.put(w), xp = m.put(xq), yp = m.alloc(N * 4);
      m.ex.mm_q4_0(wp, xp, yp, K, N, 0, N, 1);
      out.push(Array.from(new Float32Array(m.memory.buffer, yp, N)));
    }
    out[0].forEach((v, i) => assert.ok(Math.abs(v - out[1][i]) <= 1e-6 * (Math.abs(v) + 1), `K=${K} row ${i}: ${v} vs ${out[1][i]}`));
  }
});

// attention_f32 takes heads that share a KV head two at a time; a head's output must not depend on
// whether it was paired (row ranges that cut pairs, one head per call), in both modules
for (const [mod, module] of MODULES) {
  test(`attention_f32: paired heads equal heads one at a time, bit for bit (${mod} module)`, () => {
    const rand = mulberry32(5151);
    const w = instantiate({ module });
    for (const [nHead, nKv, dk, dv, positions] of [[4, 2, 16, 16, [39]], [6, 2, 64, 64, [5, 32]], [12, 2, 128, 128, [99]], [16, 1, 80, 64, [6, 2, 11]]]) {
      w.reset();
      const T = positions.length, S = Math.max(...positions) + 1;
      const f = (n) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
      const pq = w.put(new Uint8Array(f(T * nHead * dk).buffer)), pk = w.put(new Uint8Array(f(S * nKv * dk).buffer));
      const pv = w.put(new Uint8Array(f(S * nKv * dv).buffer)), pos = w.put(new Uint8Array(Int32Array.from(positions).buffer));
      const o1 = w.alloc(T * nHead * dv * 4), o2 = w.alloc(T * nHead * dv * 4), sc = w.alloc(2 * (S + 4) * 4);
      // a row per position (kRow, kHead, vRow, vHead) and head-major
      for (const st of [[nKv * dk, dk, nKv * dv, dv], [dk, S * dk, dv, S * dv]]) {
        w.ex.attention_f32(pq, pk, pv, o1, pos, nHead, nKv, dk, dv, 0.125, 0, T * nHead, sc, ...st);
        for (let p = 0; p < T * nHead; p++) w.ex.attention_f32(pq, pk, pv, o2, pos, nHead, nKv, dk, dv, 0.125, p, p + 1, sc, ...st);
        const a = new Float32Array(w.memory.buffer, o1, T * nHead * dv), b = new Float32Array(w.memory.buffer, o2, T * nHead * dv);
        for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`H=${nHead}/${nKv} dk=${dk} dv=${dv} strides ${st}: out[${i}] ${a[i]} paired vs ${b[i]} alone`);
      }
    }
  });
}
