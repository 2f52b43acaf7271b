// Table-driven parity suite: every op of WasmBackend (threads 1, 2 and 3; both kernel modules:
// relaxed SIMD with repacked Q4_0 weights, and the plain SIMD128 fallback) against ReferenceBackend.
//
// The table is generated in code (CASES below): one row per (op, shape, weight type); each row runs
// on the reference once and on every wasm backend. Adding a weight type is one entry in TYPES,
// adding a shape one entry in a shape list, adding an op one `row(...)` call.
// Tolerances (documented per check):
// - matmul: |err| <= 1e-5 * sum_k |w_k x_k| + 1e-6 per output (both sides convert the activation
//   to the same dot type; only the accumulation order differs);
// - getRows: 1e-6 relative (both dequantize with the same block math);
// - elementwise / rmsNorm: 1e-6 relative (+1e-30 absolute, so exact zeros compare);
// - rope: 1e-6 relative to the magnitude of the rotated pair (|x0| + |x1|) * mscale;
// - attention: 1e-5 * max |v| absolute (outputs are convex combinations of v rows).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WasmBackend } from '../dist/backends/wasm/backend.js';
import { ReferenceBackend } from '../dist/ops/reference.js';
import { GGMLType, typeName, SUPPORTED_WEIGHT_TYPES } from '../dist/formats/ggml-types.js';
import { mulberry32, randomBlocks } from '../dist/ops/quantize.js';
import { dequantize } from '../dist/ops/dequant.js';

const THREADS = [1, 2, 3];
const SIMDS = ['relaxed', 'plain'];
const TYPES = SUPPORTED_WEIGHT_TYPES;

const ref = new ReferenceBackend();
/** key `${simd}/${threads}` -> backend */
const wasm = new Map();
for (const simd of SIMDS) {
  for (const th of THREADS) {
    const be = await WasmBackend.create({ threads: th, spinMs: 1, simd });
    assert.equal(be.simd, simd, `backend built with simd: ${simd}`);
    be.warmup();
    wasm.set(`${simd}/${th}`, be);
  }
}
after(async () => { for (const be of wasm.values()) await be.dispose(); });

// ---- data helpers ---------------------------------------------------------------------------------

function randF32(rand, n, scale = 1) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}
function f32(be, shape, data, name = 'x') {
  const t = be.allocF32(shape, name);
  if (data) be.write(t, data);
  return t;
}
function weight(be, name, type, shape, bytes) {
  return be.createWeight(name, type, shape, (dst) => dst.set(bytes));
}
function freeAll(be, ...ts) { for (const t of ts) if (t) be.free(t); }
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Assert |got[i] - want[i]| <= tol(i) for every i, reporting the worst element. */
function close(got, want, tol, what) {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = -1, worstRatio = 1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    const t = tol(i);
    if (!(e <= t)) {
      const r = Number.isNaN(e) ? Infinity : e / t;
      if (r > worstRatio || worst < 0) { worst = i; worstRatio = r; }
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst}: got ${got[worst]}, want ${want[worst]}, tolerance ${tol(worst)} (x${worstRatio.toPrecision(3)})`);
  }
}
const rel = (want, r) => (i) => r * Math.abs(want[i]) + 1e-30;

// ---- the table ------------------------------------------------------------------------------------

/** Each case: name, data (generated once), run(backend, data) -> Float32Array, check(got, want, data, what). */
const CASES = [];
function row(name, make, run, check) { CASES.push({ name, make, run, check }); }

// matmul: every weight type x shapes (N = 1, odd N, N large enough to split over threads, long K)
const MATMUL_SHAPES = [
  { N: 1, K: 256, T: 1 },
  { N: 37, K: 512, T: 3 },
  { N: 300, K: 512, T: 1 },
  { N: 133, K: 1024, T: 4 },
  { N: 9, K: 8960, T: 2 },
];
// Q4_0 (repacked into 4-row groups by the relaxed module): row counts with every tail length,
// decode (T = 1), small batches (T = 2..8) and prefill tiles (T > 8, > one 64-token tile)
const Q4_SHAPES = [
  { N: 4, K: 64, T: 1 }, { N: 5, K: 96, T: 1 }, { N: 6, K: 32, T: 2 }, { N: 7, K: 256, T: 3 },
  { N: 64, K: 1536, T: 1 }, { N: 66, K: 512, T: 5 }, { N: 131, K: 256, T: 8 }, { N: 40, K: 2048, T: 9 },
  { N: 23, K: 256, T: 70 }, { N: 16, K: 8960, T: 33 }, { N: 259, K: 128, T: 1 }, { N: 259, K: 128, T: 4 },
];
function matmulCheck(got, want, d, what) {
  // per output: 1e-5 * sum_k |w_k x_k| + 1e-6
  const { N, K, T, wf, x } = d;
  const bound = new Float64Array(T * N);
  for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.abs(wf[n * K + k] * x[t * K + k]);
    bound[t * N + n] = 1e-5 * s + 1e-6;
  }
  close(got, want, (i) => bound[i], what);
}
for (const type of TYPES) {
  for (const s of type === GGMLType.Q4_0 ? [...MATMUL_SHAPES, ...Q4_SHAPES] : MATMUL_SHAPES) {
    row(`matmul ${typeName(type)} N=${s.N} K=${s.K} T=${s.T}`,
      (rand) => {
        const wb = randomBlocks(type, s.N * s.K, rand);
        return { ...s, type, wb, wf: dequantize(type, wb, s.N * s.K), x: randF32(rand, s.T * s.K) };
      },
      (be, d) => {
        const w = weight(be, 'w', d.type, [d.N, d.K], d.wb), x = f32(be, [d.T, d.K], d.x), y = f32(be, [d.T, d.N]);
        be.matmul(y, x, w);
        const r = be.read(y);
        freeAll(be, w, x, y);
        return r;
      },
      matmulCheck);
  }
}

// matmulMany: mixed dot types in one call, with biases, outputs as views of one buffer
row('matmulMany mixed types + bias + views',
  (rand) => {
    const K = 512, T = 3, Ns = [64, 48, 80, 33];
    const types = [GGMLType.Q4_0, GGMLType.Q4_K, GGMLType.F16, GGMLType.Q5_1];
    const ws = types.map((t, i) => randomBlocks(t, Ns[i] * K, rand));
    return { K, T, Ns, types, ws, x: randF32(rand, T * K), bias: Ns.map((n) => randF32(rand, n)) };
  },
  (be, d) => {
    const x = f32(be, [d.T, d.K], d.x);
    const total = d.Ns.reduce((a, b) => a + b, 0);
    const outAll = f32(be, [d.T * total]);
    let off = 0;
    const jobs = d.types.map((t, i) => {
      const out = be.view(outAll, off, [d.T, d.Ns[i]]);
      off += d.T * d.Ns[i];
      return { w: weight(be, `w${i}`, t, [d.Ns[i], d.K], d.ws[i]), out, bias: f32(be, [d.Ns[i]], d.bias[i], `b${i}`) };
    });
    be.matmulMany(x, jobs);
    const r = be.read(outAll);
    freeAll(be, x, outAll, ...jobs.map((j) => j.w), ...jobs.map((j) => j.bias));
    return r;
  },
  (got, want, d, what) => close(got, want, (i) => 1e-5 * (Math.abs(want[i]) + 1) * 8, what));

// matmul on views: x = rows 2..4 of a [6, K] activation, w = rows 16..47 of a Q4_K weight
row('matmul Q4_K on views',
  (rand) => ({ K: 512, wb: randomBlocks(GGMLType.Q4_K, 64 * 512, rand), x: randF32(rand, 6 * 512) }),
  (be, d) => {
    const w = weight(be, 'w', GGMLType.Q4_K, [64, d.K], d.wb), x = f32(be, [6, d.K], d.x), y = f32(be, [3, 32]);
    be.matmul(y, be.view(x, 2 * d.K, [3, d.K]), be.view(w, 16 * d.K, [32, d.K]));
    const r = be.read(y);
    freeAll(be, w, x, y);
    return r;
  },
  (got, want, d, what) => close(got, want, (i) => 1e-5 * (Math.abs(want[i]) + 1) * 8, what));

// a Q4_0 / Q4_K matrix used both ways (tied embedding / output): getRows on the repacked layout (ids
// in full groups and in the 3-row tail), then a matmul with the same weight
for (const WT of [GGMLType.Q4_0, GGMLType.Q4_K]) {
row(`getRows + matmul on one ${typeName(WT)} weight (tied embedding)`,
  (rand) => {
    const V = 11, D = 256, T = 3;
    const tb = randomBlocks(WT, V * D, rand);
    return { V, D, T, tb, ids: Int32Array.from([0, 3, 4, 7, 8, 10, 9, 5]), x: randF32(rand, T * D) };
  },
  (be, d) => {
    const t = weight(be, 'token_embd.weight', WT, [d.V, d.D], d.tb), o = f32(be, [d.ids.length, d.D]);
    const x = f32(be, [d.T, d.D], d.x), y = f32(be, [d.T, d.V]);
    be.getRows(o, t, d.ids);
    be.matmul(y, x, t);
    const r = new Float32Array([...be.read(o), ...be.read(y)]);
    freeAll(be, t, o, x, y);
    return r;
  },
  (got, want, d, what) => {
    const nr = d.ids.length * d.D;
    close(got.subarray(0, nr), want.subarray(0, nr), rel(want.subarray(0, nr), 1e-6), `${what} getRows`);
    const wf = dequantize(WT, d.tb, d.V * d.D);
    matmulCheck(got.subarray(nr), want.subarray(nr), { N: d.V, K: d.D, T: d.T, wf, x: d.x }, `${what} matmul`);
  });
}

// MoE experts: views of whole expert matrices of a 3-D Q4_0 weight (repacked when F % 4 == 0)
for (const F of [8, 6]) {
  row(`matmul Q4_0 expert views [E=3, F=${F}, 64]`,
    (rand) => {
      const E = 3, K = 64, T = 2;
      const wb = randomBlocks(GGMLType.Q4_0, E * F * K, rand);
      return { E, F, K, T, wb, wf: dequantize(GGMLType.Q4_0, wb, E * F * K), x: randF32(rand, T * K) };
    },
    (be, d) => {
      const w = weight(be, 'blk.0.ffn_gate_exps.weight', GGMLType.Q4_0, [d.E, d.F, d.K], d.wb), x = f32(be, [d.T, d.K], d.x);
      const y = f32(be, [d.E, d.T, d.F]);
      for (let e = d.E - 1; e >= 0; e--) be.matmul(be.view(y, e * d.T * d.F, [d.T, d.F]), x, be.view(w, e * d.F * d.K, [d.F, d.K]));
      const r = be.read(y);
      freeAll(be, w, x, y);
      return r;
    },
    (got, want, d, what) => {
      for (let e = 0; e < d.E; e++) {
        const o = e * d.T * d.F;
        matmulCheck(got.subarray(o, o + d.T * d.F), want.subarray(o, o + d.T * d.F),
          { N: d.F, K: d.K, T: d.T, wf: d.wf.subarray(e * d.F * d.K), x: d.x }, `${what} expert ${e}`);
      }
    });
}

// getRows: every type, repeated and edge ids
for (const type of TYPES) {
  row(`getRows ${typeName(type)}`,
    (rand) => ({ type, V: 7, D: 512, tb: randomBlocks(type, 7 * 512, rand), ids: Int32Array.from([3, 0, 6, 3, 1]) }),
    (be, d) => {
      const t = weight(be, 'emb', d.type, [d.V, d.D], d.tb), o = f32(be, [d.ids.length, d.D]);
      be.getRows(o, t, d.ids);
      const r = be.read(o);
      freeAll(be, t, o);
      return r;
    },
    (got, want, d, what) => close(got, want, rel(want, 1e-6), what));
}

// rmsNorm: odd D, with and without weight, in place, and large enough to split over threads
for (const [T, D] of [[1, 64], [3, 1536], [5, 37], [40, 2048]]) {
  for (const mode of ['weight', 'none', 'inplace']) {
    row(`rmsNorm [${T}, ${D}] ${mode}`,
      (rand) => ({ T, D, mode, x: randF32(rand, T * D, 3), w: randF32(rand, D) }),
      (be, d) => {
        const x = f32(be, [d.T, d.D], d.x), w = d.mode === 'none' ? null : f32(be, [d.D], d.w, 'norm');
        const o = d.mode === 'inplace' ? x : f32(be, [d.T, d.D]);
        be.rmsNorm(o, x, w, 1e-6);
        const r = be.read(o);
        freeAll(be, x, w, o === x ? null : o);
        return r;
      },
      (got, want, d, what) => close(got, want, rel(want, 1e-6), what));
  }
}

// elementwise: sizes around the SIMD width and above the threading threshold, aliased outputs
const ELT = {
  add: (be, o, a, b) => be.add(o, a, b),
  mul: (be, o, a, b) => be.mul(o, a, b),
  scale: (be, o, a) => be.scale(o, a, 0.37),
  swiglu: (be, o, a, b) => be.swiglu(o, a, b),
};
for (const [op, fn] of Object.entries(ELT)) {
  for (const n of [1, 7, 1000, 70001]) {
    for (const alias of [false, true]) {
      row(`${op} n=${n}${alias ? ' (out = a)' : ''}`,
        (rand) => ({ n, alias, a: randF32(rand, n, op === 'swiglu' ? 12 : 4), b: randF32(rand, n, 4) }),
        (be, d) => {
          const a = f32(be, [d.n], d.a), b = f32(be, [d.n], d.b), o = d.alias ? a : f32(be, [d.n]);
          fn(be, o, a, b);
          const r = be.read(o);
          freeAll(be, a, b, d.alias ? null : o);
          return r;
        },
        (got, want, d, what) => close(got, want, rel(want, 1e-6), what));
    }
  }
}

// rope: norm / neox, MLA-style tail region (offset), partial rotary, mscale, threaded size
const ROPES = [
  { mode: 'norm', T: 1, H: 4, hd: 64, off: 0, nd: 64, ms: 1, pos: [7] },
  { mode: 'neox', T: 5, H: 3, hd: 128, off: 0, nd: 128, ms: 1, pos: [0, 1, 2, 100, 4095] },
  { mode: 'norm', T: 3, H: 2, hd: 192, off: 128, nd: 64, ms: 1.2, pos: [5, 6, 30000] },
  { mode: 'neox', T: 2, H: 5, hd: 64, off: 0, nd: 32, ms: 0.8, pos: [9, 1] },
  { mode: 'neox', T: 64, H: 16, hd: 64, off: 0, nd: 64, ms: 1, pos: Array.from({ length: 64 }, (_, i) => 3 * i) },
];
for (const s of ROPES) {
  row(`rope ${s.mode} T=${s.T} H=${s.H} hd=${s.hd} [${s.off}, ${s.off + s.nd})`,
    (rand) => {
      const invFreq = Float32Array.from({ length: s.nd / 2 }, (_, i) => Math.pow(10000, (-2 * i) / s.nd));
      return { ...s, invFreq, x: randF32(rand, s.T * s.H * s.hd, 2) };
    },
    (be, d) => {
      const x = f32(be, [d.T, d.H, d.hd], d.x);
      be.rope(x, Int32Array.from(d.pos), { headDim: d.hd, offset: d.off, nDims: d.nd, mode: d.mode, invFreq: d.invFreq, mscale: d.ms });
      const r = be.read(x);
      freeAll(be, x);
      return r;
    },
    (got, want, d, what) => {
      const half = d.nd / 2;
      close(got, want, (i) => {
        const e = i % d.hd, r = e - d.off;
        if (r < 0 || r >= d.nd) return 1e-30; // outside the rotated region: unchanged
        const mate = d.mode === 'norm' ? (r % 2 === 0 ? i + 1 : i - 1) : (r < half ? i + half : i - half);
        return 1e-6 * (Math.abs(d.x[i]) + Math.abs(d.x[mate])) * Math.max(1, d.ms) + 1e-30;
      }, what);
    });
}

// attention: GQA, dk != dv, odd head dims, partially filled cache (rows past every position hold
// huge values that must not leak in), unordered positions, and a size that splits over threads
const ATTNS = [
  { nHead: 4, nKv: 4, dk: 16, dv: 16, S: 8, pos: [5] },
  { nHead: 8, nKv: 2, dk: 64, dv: 64, S: 40, pos: [10, 11, 12, 13] },
  { nHead: 6, nKv: 2, dk: 22, dv: 19, S: 9, pos: [0, 4, 7] },
  { nHead: 16, nKv: 1, dk: 192, dv: 128, S: 12, pos: [3, 0, 9] },
  { nHead: 8, nKv: 2, dk: 64, dv: 64, S: 200, pos: [150, 151, 152, 153, 154, 155, 156, 157] },
  // decode (one token): the first head pair of each KV head reads rows ahead (ops.ts attnTwoHeads)
  { nHead: 12, nKv: 2, dk: 128, dv: 128, S: 80, pos: [61] },
  { nHead: 12, nKv: 2, dk: 128, dv: 128, S: 16, pos: [12] },
  // head-major caches [nKv, S, d] (nn/kv-cache.ts)
  { nHead: 12, nKv: 2, dk: 128, dv: 128, S: 80, pos: [61], headMajor: true },
  { nHead: 6, nKv: 2, dk: 22, dv: 19, S: 9, pos: [0, 4, 7], headMajor: true },
  { nHead: 8, nKv: 2, dk: 64, dv: 64, S: 200, pos: [150, 151, 152, 153, 154, 155, 156, 157], headMajor: true },
];
for (const s of ATTNS) {
  row(`attention H=${s.nHead}/${s.nKv} dk=${s.dk} dv=${s.dv} S=${s.S} T=${s.pos.length}${s.headMajor ? ' head-major' : ''}`,
    (rand) => {
      const T = s.pos.length, maxPos = Math.max(...s.pos);
      const k = randF32(rand, s.S * s.nKv * s.dk, 1), v = randF32(rand, s.S * s.nKv * s.dv, 1);
      // element offset of position j, KV head g
      const at = (j, g, w) => (s.headMajor ? (g * s.S + j) * w : (j * s.nKv + g) * w);
      for (let j = maxPos + 1; j < s.S; j++) {
        for (let g = 0; g < s.nKv; g++) {
          k.fill(1e4, at(j, g, s.dk), at(j, g, s.dk) + s.dk);
          v.fill(1e4, at(j, g, s.dv), at(j, g, s.dv) + s.dv);
        }
      }
      return { ...s, T, q: randF32(rand, T * s.nHead * s.dk, 1), k, v, vmax: maxAbs(v.map((x) => (x === 1e4 ? 0 : x))) };
    },
    (be, d) => {
      const kvShape = (w) => (d.headMajor ? [d.nKv, d.S, w] : [d.S, d.nKv, w]);
      const q = f32(be, [d.T, d.nHead, d.dk], d.q), k = f32(be, kvShape(d.dk), d.k), v = f32(be, kvShape(d.dv), d.v);
      const o = f32(be, [d.T, d.nHead, d.dv]);
      be.attention(o, q, k, v, Int32Array.from(d.pos), { nHead: d.nHead, nKvHead: d.nKv, headDimK: d.dk, headDimV: d.dv, scale: 1 / Math.sqrt(d.dk), headMajor: d.headMajor === true });
      const r = be.read(o);
      freeAll(be, q, k, v, o);
      return r;
    },
    (got, want, d, what) => close(got, want, () => 1e-5 * d.vmax, what));
}

// ---- MLA / MoE ops ----------------------------------------------------------------------------------

// matmulHeads: absorbed-MLA shapes, x [T, H, Kx] read at xOff, out [T, H, No] written at oOff.
// K must be a multiple of the block size: K-quants only get the K = 256 / 512 shapes.
const HEADS_TYPES = [GGMLType.F32, GGMLType.F16, GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q4_1, GGMLType.Q5_0, GGMLType.IQ4_NL, GGMLType.Q4_K, GGMLType.Q6_K];
const HEADS_SHAPES = [
  { H: 4, K: 16, Kx: 24, xOff: 0, N: 32, No: 40, oOff: 8, T: 1 },
  { H: 4, K: 16, Kx: 24, xOff: 8, N: 32, No: 40, oOff: 8, T: 5 },
  { H: 4, K: 32, Kx: 48, xOff: 16, N: 64, No: 64, oOff: 0, T: 5 },
  { H: 4, K: 128, Kx: 192, xOff: 0, N: 512, No: 576, oOff: 0, T: 5 }, // attn_k_b-like
  { H: 4, K: 256, Kx: 320, xOff: 32, N: 40, No: 48, oOff: 4, T: 5 },
  { H: 4, K: 512, Kx: 512, xOff: 0, N: 128, No: 136, oOff: 8, T: 1 }, // attn_v_b-like
  { H: 4, K: 512, Kx: 512, xOff: 0, N: 128, No: 128, oOff: 0, T: 5 },
];
function headsCheck(got, want, d, what) {
  // per output: 1e-5 * sum_k |w_k x_k| + 1e-6 over the written columns; untouched columns stay 0
  const { H, N, K, T, Kx, No, xOff, oOff, wf, x } = d;
  const bound = new Float64Array(T * H * No).fill(1e-30);
  for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.abs(wf[(h * N + n) * K + k] * x[(t * H + h) * Kx + xOff + k]);
    bound[(t * H + h) * No + oOff + n] = 1e-5 * s + 1e-6;
  }
  close(got, want, (i) => bound[i], what);
}
function headsRow(name, s, type) {
  row(name,
    (rand) => {
      const wb = randomBlocks(type, s.H * s.N * s.K, rand);
      return { ...s, type, wb, wf: dequantize(type, wb, s.H * s.N * s.K), x: randF32(rand, s.T * s.H * s.Kx) };
    },
    (be, d) => {
      const w = weight(be, 'blk.0.attn_k_b.weight', d.type, [d.H, d.N, d.K], d.wb);
      const x = f32(be, [d.T, d.H, d.Kx], d.x), y = f32(be, [d.T, d.H, d.No]);
      be.matmulHeads(y, x, w, { xOffset: d.xOff, outOffset: d.oOff });
      const r = be.read(y);
      freeAll(be, w, x, y);
      return r;
    },
    headsCheck);
}
for (const type of HEADS_TYPES) {
  const bs = type === GGMLType.F32 || type === GGMLType.F16 ? 1 : type === GGMLType.Q4_K || type === GGMLType.Q6_K ? 256 : 32;
  for (const s of HEADS_SHAPES) {
    if (s.K % bs !== 0) continue;
    headsRow(`matmulHeads ${typeName(type)} H=${s.H} N=${s.N} K=${s.K} T=${s.T} xOff=${s.xOff} oOff=${s.oOff}`, s, type);
  }
}
// more heads than one MATMUL job holds (groups of 32) and a 3-D weight view (heads 1..40 of 41)
headsRow('matmulHeads Q8_0 H=40 (head groups)', { H: 40, K: 64, Kx: 64, xOff: 0, N: 24, No: 32, oOff: 8, T: 3 }, GGMLType.Q8_0);
row('matmulHeads Q4_0 on a weight view',
  (rand) => {
    const H = 3, N = 16, K = 64, T = 2;
    const wb = randomBlocks(GGMLType.Q4_0, (H + 1) * N * K, rand);
    return { H, N, K, T, Kx: K, No: N, xOff: 0, oOff: 0, wb, wf: dequantize(GGMLType.Q4_0, wb, (H + 1) * N * K).subarray(N * K), x: randF32(rand, T * H * K) };
  },
  (be, d) => {
    const w = weight(be, 'w', GGMLType.Q4_0, [d.H + 1, d.N, d.K], d.wb);
    const x = f32(be, [d.T, d.H, d.K], d.x), y = f32(be, [d.T, d.H, d.N]);
    be.matmulHeads(y, x, be.view(w, d.N * d.K, [d.H, d.N, d.K]));
    const r = be.read(y);
    freeAll(be, w, x, y);
    return r;
  },
  headsCheck);

// attention over an MLA latent cache: one kv head, values = first dv elements of each key row
const MLA_ATTNS = [
  { nHead: 4, dk: 40, dv: 32, S: 10, pos: [6] },
  { nHead: 4, dk: 40, dv: 32, S: 10, pos: [0, 3, 9, 5] },
  { nHead: 16, dk: 72, dv: 64, S: 140, pos: [100, 101, 102, 103, 104, 105] },
  { nHead: 16, dk: 72, dv: 64, S: 140, pos: [133] },
];
for (const s of MLA_ATTNS) {
  row(`attention vFromK H=${s.nHead}/1 dk=${s.dk} dv=${s.dv} S=${s.S} T=${s.pos.length}`,
    (rand) => {
      const T = s.pos.length, maxPos = Math.max(...s.pos);
      const k = randF32(rand, s.S * s.dk, 1);
      k.fill(1e4, (maxPos + 1) * s.dk); // rows past every position must not leak in
      let vmax = 0;
      for (let j = 0; j <= maxPos; j++) vmax = Math.max(vmax, maxAbs(k.subarray(j * s.dk, j * s.dk + s.dv)));
      return { ...s, T, q: randF32(rand, T * s.nHead * s.dk, 1), k, vmax };
    },
    (be, d) => {
      const q = f32(be, [d.T, d.nHead, d.dk], d.q), k = f32(be, [d.S, 1, d.dk], d.k), o = f32(be, [d.T, d.nHead, d.dv]);
      be.attention(o, q, k, k, Int32Array.from(d.pos), { nHead: d.nHead, nKvHead: 1, headDimK: d.dk, headDimV: d.dv, scale: 1 / Math.sqrt(d.dk), vFromK: true });
      const r = be.read(o);
      freeAll(be, q, k, o);
      return r;
    },
    (got, want, d, what) => close(got, want, () => 1e-5 * d.vmax, what));
}

// gatherRows / scatterAddRows (repeated rows accumulate, in order) / copyCols: exact copies and
// the same f32 roundings on both sides
row('gatherRows + scatterAddRows (repeated rows)',
  (rand) => ({ T: 6, D: 40, h: randF32(rand, 6 * 40), base: randF32(rand, 6 * 40), rows: Int32Array.from([4, 1, 4, 0, 5]), sc: randF32(rand, 5) }),
  (be, d) => {
    const h = f32(be, [d.T, d.D], d.h), xe = f32(be, [d.rows.length, d.D]), out = f32(be, [d.T, d.D], d.base);
    be.gatherRows(xe, h, d.rows);
    be.scatterAddRows(out, xe, d.rows, d.sc);
    const r = new Float32Array([...be.read(xe), ...be.read(out)]);
    freeAll(be, h, xe, out);
    return r;
  },
  (got, want, d, what) => close(got, want, () => 0, what));
row('copyCols (latent / rope split of cache rows)',
  (rand) => ({ T: 3, C: 32, R: 8, kv: randF32(rand, 3 * 40), dst: randF32(rand, 3 * 48) }),
  (be, d) => {
    const kv = f32(be, [d.T, d.C + d.R], d.kv), dst = f32(be, [d.T, 48], d.dst), lat = f32(be, [d.T, d.C]);
    be.copyCols(lat, 0, kv, 0, d.C);
    be.copyCols(dst, 16, kv, d.C, d.R);
    be.copyCols(dst, 0, lat, 4, 10);
    be.copyCols(dst, 30, dst, 20, 0);
    const r = new Float32Array([...be.read(lat), ...be.read(dst)]);
    freeAll(be, kv, dst, lat);
    return r;
  },
  (got, want, d, what) => close(got, want, () => 0, what));

// ---- run ------------------------------------------------------------------------------------------

let seed = 1;
for (const c of CASES) {
  const s = seed++;
  test(c.name, () => {
    const data = c.make(mulberry32(s));
    const want = c.run(ref, data);
    for (const [k, be] of wasm) c.check(c.run(be, data), want, data, `${c.name} [${k}]`);
  });
}

test('kernel module selection: simd option, DEEPCARD_SIMD, and views that cut repacked groups', async () => {
  await assert.rejects(WasmBackend.create({ threads: 1, simd: 'fast' }), /simd must be auto, relaxed or plain/);
  // the environment variable is the default of the option (checked in a child process: the
  // module choice is made per backend, the variable read at create time)
  const script = `import { WasmBackend } from './dist/backends/wasm/backend.js';
    const a = await WasmBackend.create({ threads: 1 }); const b = await WasmBackend.create({ threads: 1, simd: 'auto' });
    console.log(a.simd, b.simd); await a.dispose(); await b.dispose();`;
  for (const [env, want] of [['plain', 'plain relaxed'], ['auto', 'relaxed relaxed'], ['', 'relaxed relaxed']]) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', env: { ...process.env, DEEPCARD_SIMD: env },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), want, `DEEPCARD_SIMD=${env}`);
  }
  const be = wasm.get('relaxed/1');
  const w = be.createWeight('blk.0.ffn_up.weight', GGMLType.Q4_0, [10, 64], (d) => d.fill(0x88));
  assert.throws(() => be.view(w, 2 * 64, [4, 64]), /ffn_up.*rows \[2, 6\) cut the 4-row groups/);
  assert.throws(() => be.view(w, 4 * 64, [3, 64]), /rows \[4, 7\) cut/);
  be.view(w, 4 * 64, [6, 64]); // groups 1.. and the tail: fine
  be.free(w);
  // the plain module repacks Q4_0 too (its SIMD128 X4 kernel); a type kept in ggml layout
  // (Q6_K) allows any row view
  const bp = wasm.get('plain/1');
  const wp = bp.createWeight('blk.0.ffn_up.weight', GGMLType.Q4_0, [10, 64], (d) => d.fill(0x88));
  assert.throws(() => bp.view(wp, 2 * 64, [4, 64]), /rows \[2, 6\) cut the 4-row groups/);
  bp.free(wp);
  const w6 = bp.createWeight('blk.0.ffn_up.weight', GGMLType.Q6_K, [10, 256], (d) => d.fill(0));
  bp.view(w6, 2 * 256, [4, 256]);
  bp.free(w6);
});

test('unsupported weight type names the type and the tensor', () => {
  const be = wasm.get('relaxed/1');
  assert.throws(() => be.createWeight('blk.0.attn_q.weight', GGMLType.IQ2_XXS, [4, 256], () => {}),
    /unsupported tensor type IQ2_XXS in tensor blk\.0\.attn_q\.weight/);
});

test('bad inputs give clear errors', () => {
  const be = wasm.get('relaxed/2');
  const x = be.allocF32([2, 64], 'act');
  const y = be.allocF32([2, 8], 'y');
  const w = be.createWeight('w.bad', GGMLType.F32, [8, 32], (d) => d.fill(0));
  assert.throws(() => be.matmul(y, x, w), /w\.bad.*32.*act.*64|act.*64/);
  const emb = be.createWeight('tok_embd', GGMLType.Q8_0, [4, 64], (d) => d.fill(0));
  assert.throws(() => be.getRows(x, emb, Int32Array.from([1, 4])), /id 4 out of range.*tok_embd/);
  assert.throws(() => be.view(x, 100, [2, 64]), /outside/);
  assert.throws(() => be.free(be.view(x, 0, [64])), /view/);
  be.free(w); be.free(emb); be.free(y); be.free(x);
  assert.throws(() => be.read(x), /after free/);
});

test('matmulHeads with a weight in another arena (sharded) equals the reference', async () => {
  // 1 MiB arenas with almost all of arena 0 reserved for activations: the weight goes to arena 1
  const rand = mulberry32(99);
  const H = 8, N = 64, K = 256, T = 7, Kx = 288;
  const wb = randomBlocks(GGMLType.Q4_K, H * N * K, rand), x = randF32(rand, T * H * Kx);
  const run = (be) => {
    const w = weight(be, 'blk.1.attn_k_b.weight', GGMLType.Q4_K, [H, N, K], wb);
    const xt = f32(be, [T, H, Kx], x), y = f32(be, [T, H, N + 8]);
    be.matmulHeads(y, xt, w, { xOffset: 32, outOffset: 8 });
    const r = be.read(y);
    freeAll(be, w, xt, y);
    return r;
  };
  const want = run(ref);
  for (const th of [1, 2]) {
    const be = await WasmBackend.create({ threads: th, spinMs: 1, arenaBytes: 1 << 20, activationReserveBytes: 900 << 10 });
    try {
      const got = run(be);
      assert.ok(be.arenaCount > 1, 'weight was placed in a second arena');
      close(got, want, (i) => 1e-5 * (Math.abs(want[i]) + 1) * 16, `sharded matmulHeads [threads ${th}]`);
    } finally {
      await be.dispose();
    }
  }
});

test('MLA / MoE ops: bad inputs give clear errors', () => {
  const be = wasm.get('relaxed/2');
  const w = be.createWeight('blk.0.attn_v_b.weight', GGMLType.Q8_0, [2, 4, 32], (d) => d.fill(0));
  const x = be.allocF32([1, 2, 32], 'olat'), o = be.allocF32([1, 2, 4], 'o');
  assert.throws(() => be.matmulHeads(o, x, w, { xOffset: 1 }), /matmulHeads: x olat.*columns \[1, 33\)/);
  assert.throws(() => be.matmulHeads(o, x, w, { outOffset: 2 }), /out o.*columns \[2, 6\)/);
  assert.throws(() => be.matmulHeads(x, x, be.view(w, 0, [8, 32])), /must be 3-D/);
  assert.throws(() => be.matmulHeads(w, x, w), /must be F32/);
  const h = be.allocF32([3, 4], 'h'), xe = be.allocF32([2, 4], 'xe');
  assert.throws(() => be.gatherRows(xe, h, Int32Array.from([0, 3])), /gatherRows: row 3 is outside h/);
  assert.throws(() => be.gatherRows(xe, h, Int32Array.from([0])), /does not match 1 rows/);
  assert.throws(() => be.scatterAddRows(h, xe, Int32Array.from([0, -1]), Float32Array.from([1, 1])), /row -1 is outside h/);
  assert.throws(() => be.scatterAddRows(h, xe, Int32Array.from([0, 1]), Float32Array.from([1])), /1 scales for 2 rows/);
  assert.throws(() => be.copyCols(h, 2, h, 0, 3), /copyCols: 3 columns/);
  assert.throws(() => be.copyCols(h, 0, xe, 0, 1), /differ in rows/);
  const q = be.allocF32([1, 1, 4], 'q'), k = be.allocF32([2, 1, 4], 'k'), ao = be.allocF32([1, 1, 8], 'ao');
  assert.throws(() => be.attention(ao, q, k, k, Int32Array.from([0]), { nHead: 1, nKvHead: 1, headDimK: 4, headDimV: 8, scale: 1, vFromK: true }),
    /vFromK needs headDimV 8 <= headDimK 4/);
  for (const t of [w, x, o, h, xe, q, k, ao]) be.free(t);
});
