// Table-driven parity suite: every op of WasmBackend (threads 1, 2 and 3) against ReferenceBackend.
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
import { WasmBackend } from '../dist/backends/wasm/backend.js';
import { ReferenceBackend } from '../dist/ops/reference.js';
import { GGMLType, typeName, SUPPORTED_WEIGHT_TYPES } from '../dist/formats/ggml-types.js';
import { mulberry32, randomBlocks } from '../dist/ops/quantize.js';
import { dequantize } from '../dist/ops/dequant.js';

const THREADS = [1, 2, 3];
const TYPES = SUPPORTED_WEIGHT_TYPES;

const ref = new ReferenceBackend();
const wasm = new Map();
for (const th of THREADS) {
  const be = await WasmBackend.create({ threads: th, spinMs: 1 });
  be.warmup();
  wasm.set(th, be);
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
  for (const s of MATMUL_SHAPES) {
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
];
for (const s of ATTNS) {
  row(`attention H=${s.nHead}/${s.nKv} dk=${s.dk} dv=${s.dv} S=${s.S} T=${s.pos.length}`,
    (rand) => {
      const T = s.pos.length, maxPos = Math.max(...s.pos);
      const k = randF32(rand, s.S * s.nKv * s.dk, 1), v = randF32(rand, s.S * s.nKv * s.dv, 1);
      for (let j = maxPos + 1; j < s.S; j++) {
        k.fill(1e4, j * s.nKv * s.dk, (j + 1) * s.nKv * s.dk);
        v.fill(1e4, j * s.nKv * s.dv, (j + 1) * s.nKv * s.dv);
      }
      return { ...s, T, q: randF32(rand, T * s.nHead * s.dk, 1), k, v, vmax: maxAbs(v.subarray(0, (maxPos + 1) * s.nKv * s.dv)) };
    },
    (be, d) => {
      const q = f32(be, [d.T, d.nHead, d.dk], d.q), k = f32(be, [d.S, d.nKv, d.dk], d.k), v = f32(be, [d.S, d.nKv, d.dv], d.v);
      const o = f32(be, [d.T, d.nHead, d.dv]);
      be.attention(o, q, k, v, Int32Array.from(d.pos), { nHead: d.nHead, nKvHead: d.nKv, headDimK: d.dk, headDimV: d.dv, scale: 1 / Math.sqrt(d.dk) });
      const r = be.read(o);
      freeAll(be, q, k, v, o);
      return r;
    },
    (got, want, d, what) => close(got, want, () => 1e-5 * d.vmax, what));
}

// ---- run ------------------------------------------------------------------------------------------

let seed = 1;
for (const c of CASES) {
  const s = seed++;
  test(c.name, () => {
    const data = c.make(mulberry32(s));
    const want = c.run(ref, data);
    for (const th of THREADS) c.check(c.run(wasm.get(th), data), want, data, `${c.name} [threads ${th}]`);
  });
}

test('unsupported weight type names the type and the tensor', () => {
  const be = wasm.get(1);
  assert.throws(() => be.createWeight('blk.0.attn_q.weight', GGMLType.IQ2_XXS, [4, 256], () => {}),
    /unsupported tensor type IQ2_XXS in tensor blk\.0\.attn_q\.weight/);
});

test('bad inputs give clear errors', () => {
  const be = wasm.get(2);
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
