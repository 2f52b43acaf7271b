// Sanity tests of ReferenceBackend (src/ops/reference.ts) on small hand-checked cases.
// The op-by-op parity suite against the wasm backend lives with that backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReferenceBackend } from '../dist/ops/reference.js';
import { GGMLType, SUPPORTED_WEIGHT_TYPES, typeName } from '../dist/formats/ggml-types.js';
import { dequantize } from '../dist/ops/dequant.js';
import { mulberry32, quantize } from '../dist/ops/quantize.js';

function f32(b, shape, values, name) {
  const t = b.allocF32(shape, name);
  if (values) b.write(t, Float32Array.from(values));
  return t;
}

function weight(b, name, type, shape, bytes) {
  return b.createWeight(name, type, shape, (dst) => {
    assert.equal(dst.length, bytes.length, `${name}: byte length`);
    dst.set(bytes);
  });
}

function f32Bytes(values) {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function close(actual, expected, tol, what = '') {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

test('matmul with F32 weights is exact, with bias', () => {
  const b = new ReferenceBackend();
  const x = f32(b, [2, 3], [1, 2, 3, 4, 5, 6]);
  const w = weight(b, 'w', GGMLType.F32, [2, 3], f32Bytes([1, 0, -1, 2, 1, 0.5]));
  const bias = f32(b, [2], [10, 20]);
  const out = b.allocF32([2, 2]);
  b.matmul(out, x, w);
  assert.deepEqual(Array.from(b.read(out)), [1 - 3, 2 + 2 + 1.5, 4 - 6, 8 + 5 + 3]);
  b.matmul(out, x, w, bias);
  assert.deepEqual(Array.from(b.read(out)), [8, 25.5, 8, 36]);
  // an allocF32 tensor works as an F32 weight too
  const w2 = f32(b, [1, 3], [1, 1, 1]);
  const o2 = b.allocF32([2, 1]);
  b.matmul(o2, x, w2);
  assert.deepEqual(Array.from(b.read(o2)), [6, 15]);
});

/** One block_q8_0 { half d; i8 qs[32] } with d given as fp16 bits. */
function q8Block(dBits, qs) {
  const blk = new Uint8Array(34);
  blk[0] = dBits & 0xff; blk[1] = dBits >> 8;
  for (let j = 0; j < 32; j++) blk[2 + j] = qs[j] & 0xff;
  return blk;
}

test('matmul with a hand-made Q8_0 weight', () => {
  const b = new ReferenceBackend();
  // row 0: d = 0.5 (0x3800), q_j = j - 16; row 1: d = 1 (0x3c00), q_j = 1
  const q0 = Array.from({ length: 32 }, (_, j) => j - 16);
  const bytes = new Uint8Array(68);
  bytes.set(q8Block(0x3800, q0), 0);
  bytes.set(q8Block(0x3c00, new Array(32).fill(1)), 34);
  const w = weight(b, 'blk.0.attn_q.weight', GGMLType.Q8_0, [2, 32], bytes);
  // Integer activations with max |x| = 127 convert to Q8_0 exactly (d = 1, q = x).
  const xv = Array.from({ length: 32 }, (_, j) => (j === 5 ? 127 : (j % 7) - 3));
  const x = f32(b, [1, 32], xv);
  const out = b.allocF32([1, 2]);
  b.matmul(out, x, w);
  const want0 = xv.reduce((s, v, j) => s + 0.5 * (j - 16) * v, 0);
  const want1 = xv.reduce((s, v) => s + v, 0);
  assert.deepEqual(Array.from(b.read(out)), [want0, want1]);
  // The activation really is converted to Q8_0 first: 0.3 next to 127 quantizes to 0.
  const x2 = f32(b, [1, 32], [127, 0.3, ...new Array(30).fill(0)]);
  b.matmul(out, x2, w);
  assert.deepEqual(Array.from(b.read(out)), [0.5 * -16 * 127, 127]);
});

test('Q4_1 x Q8_1 uses the stored block sum s, as llama.cpp does', () => {
  const b = new ReferenceBackend();
  // block_q4_1 { half d = 1; half m = 0.5; qs all 0 }: every weight is 0.5
  const blk = new Uint8Array(20);
  blk[0] = 0x00; blk[1] = 0x3c; blk[2] = 0x00; blk[3] = 0x38;
  const w = weight(b, 'w', GGMLType.Q4_1, [1, 32], blk);
  // x = 32 ones -> Q8_1: d = 1/127 (fp16 0.00787354), q = 127, s = fp16(d_f32 * 4064) = 32.
  // llama.cpp: m * s = 16; decoding the activation instead would give 0.5 * 4064 * 0.00787354 = 15.9988.
  const x = f32(b, [1, 32], new Array(32).fill(1));
  const out = b.allocF32([1, 1]);
  b.matmul(out, x, w);
  assert.equal(b.read(out)[0], 16);
});

test('every supported weight type multiplies close to its dequantized f32 product', () => {
  const b = new ReferenceBackend();
  const rand = mulberry32(7);
  const K = 256, N = 3, T = 2;
  const xv = Float32Array.from({ length: T * K }, () => rand() * 2 - 1);
  const x = f32(b, [T, K], xv);
  for (const type of SUPPORTED_WEIGHT_TYPES) {
    const wf = Float32Array.from({ length: N * K }, () => rand() * 2 - 1);
    const bytes = quantize(type, wf);
    const w = weight(b, `w.${typeName(type)}`, type, [N, K], bytes);
    const wd = dequantize(type, bytes, N * K);
    const out = b.allocF32([T, N]);
    b.matmul(out, x, w);
    const got = b.read(out);
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        let s = 0, mag = 0;
        for (let k = 0; k < K; k++) { s += wd[n * K + k] * xv[t * K + k]; mag += Math.abs(wd[n * K + k] * xv[t * K + k]); }
        // activation conversion error: <= ~1% of the magnitude for 8-bit, exact-ish for f32/f16/bf16
        assert.ok(Math.abs(got[t * N + n] - s) <= 0.01 * mag, `${typeName(type)} [${t}, ${n}]: ${got[t * N + n]} vs ${s}`);
      }
    }
  }
});

test('matmulMany equals separate matmuls; views of weights select rows', () => {
  const b = new ReferenceBackend();
  const rand = mulberry32(11);
  const K = 64;
  const x = f32(b, [3, K], Array.from({ length: 3 * K }, () => rand() - 0.5));
  const mk = (name, type, n) => weight(b, name, type, [n, K], quantize(type, Float32Array.from({ length: n * K }, () => rand() - 0.5)));
  const wq = mk('q', GGMLType.Q8_0, 4), wk = mk('k', GGMLType.Q4_1, 2), wv = mk('v', GGMLType.F16, 2);
  const bias = f32(b, [2], [1, -1]);
  const outs = [b.allocF32([3, 4]), b.allocF32([3, 2]), b.allocF32([3, 2])];
  b.matmulMany(x, [{ w: wq, out: outs[0] }, { w: wk, out: outs[1], bias }, { w: wv, out: outs[2] }]);
  const single = [b.allocF32([3, 4]), b.allocF32([3, 2]), b.allocF32([3, 2])];
  b.matmul(single[0], x, wq); b.matmul(single[1], x, wk, bias); b.matmul(single[2], x, wv);
  for (let i = 0; i < 3; i++) assert.deepEqual(b.read(outs[i]), b.read(single[i]));
  // rows 2..3 of wq through a view
  const sub = b.view(wq, 2 * K, [2, K]);
  const o = b.allocF32([3, 2]);
  b.matmul(o, x, sub);
  const full = b.read(outs[0]), part = b.read(o);
  for (let t = 0; t < 3; t++) assert.deepEqual([part[2 * t], part[2 * t + 1]], [full[4 * t + 2], full[4 * t + 3]]);
  assert.throws(() => b.view(wq, 3, [1, K]), /row length/);
});

test('matmul shape errors name the tensors', () => {
  const b = new ReferenceBackend();
  const w = weight(b, 'blk.0.attn_q.weight', GGMLType.F32, [128, 32], new Uint8Array(128 * 32 * 4));
  assert.throws(() => b.matmul(b.allocF32([3, 128]), b.allocF32([3, 64]), w), /matmul: x f32 \[3, 64\] does not match w blk.0.attn_q.weight \[128, 32\]/);
  assert.throws(() => b.matmul(b.allocF32([3, 100]), b.allocF32([3, 32]), w), /out/);
  assert.throws(() => b.matmul(b.allocF32([3, 128]), b.allocF32([3, 32]), w, b.allocF32([7], 'bias')), /bias/);
});

test('getRows on F16 and Q8_0 tables', () => {
  const b = new ReferenceBackend();
  // fp16: 1 = 0x3c00, -2 = 0xc000, 0.5 = 0x3800, 65504 = 0x7bff
  const u16 = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff]);
  const tab = weight(b, 'token_embd.weight', GGMLType.F16, [2, 2], new Uint8Array(u16.buffer));
  const out = b.allocF32([3, 2]);
  b.getRows(out, tab, Int32Array.from([1, 0, 1]));
  assert.deepEqual(Array.from(b.read(out)), [0.5, 65504, 1, -2, 0.5, 65504]);
  assert.throws(() => b.getRows(out, tab, Int32Array.from([0, 2, 1])), /row id 2/);
  const q = weight(b, 'q', GGMLType.Q8_0, [1, 32], q8Block(0x3800, Array.from({ length: 32 }, (_, j) => j)));
  const o2 = b.allocF32([1, 32]);
  b.getRows(o2, q, Int32Array.from([0]));
  assert.deepEqual(Array.from(b.read(o2)), Array.from({ length: 32 }, (_, j) => j / 2));
});

test('rmsNorm', () => {
  const b = new ReferenceBackend();
  const x = f32(b, [2, 2], [3, 4, 0, 0]);
  const w = f32(b, [2], [1, 2]);
  const out = b.allocF32([2, 2]);
  b.rmsNorm(out, x, w, 1e-6); // the zero row stays 0 thanks to eps
  const r = Math.sqrt(12.5);
  close(b.read(out), [3 / r, 8 / r, 0, 0], 1e-6, 'rmsNorm');
  b.rmsNorm(x, x, null, 1e-6); // in place, no weight
  close(b.read(x), [3 / Math.sqrt(12.5 + 1e-6), 4 / Math.sqrt(12.5 + 1e-6), 0, 0], 1e-6, 'in place');
  assert.throws(() => b.rmsNorm(out, x, f32(b, [3]), 1e-6), /weight/);
});

test('swiglu, add, mul, scale, copy', () => {
  const b = new ReferenceBackend();
  const g = f32(b, [3], [0, 1, -1]), u = f32(b, [3], [2, 3, 4]);
  b.swiglu(g, g, u);
  close(b.read(g), [0, 3 / (1 + Math.exp(-1)), -4 / (1 + Math.E)], 1e-6, 'swiglu');
  const a = f32(b, [2, 2], [1, 2, 3, 4]), c = f32(b, [4], [10, 20, 30, 40]);
  const o = b.allocF32([4]);
  b.add(o, a, c); assert.deepEqual(Array.from(b.read(o)), [11, 22, 33, 44]);
  b.mul(o, a, c); assert.deepEqual(Array.from(b.read(o)), [10, 40, 90, 160]);
  b.scale(o, o, 0.5); assert.deepEqual(Array.from(b.read(o)), [5, 20, 45, 80]);
  b.copy(a, o); assert.deepEqual(Array.from(b.read(a)), [5, 20, 45, 80]);
  // add rounds to f32 once
  const p = f32(b, [1], [1]), q = f32(b, [1], [2 ** -30]);
  b.add(p, p, q); assert.equal(b.read(p)[0], 1);
  assert.throws(() => b.add(o, a, f32(b, [3])), /sizes differ/);
});

test('attention over 2 positions, computed by hand', () => {
  const b = new ReferenceBackend();
  const spec = { nHead: 1, nKvHead: 1, headDimK: 2, headDimV: 2, scale: 1 };
  const k = f32(b, [4, 1, 2], [1, 0, 0, 1, 99, 99, 99, 99]); // rows 2, 3 must be ignored (causal)
  const v = f32(b, [4, 1, 2], [1, 2, 3, 4, 99, 99, 99, 99]);
  // token at position 0 sees only row 0; token at position 1 scores [ln 3, 0] -> weights [3/4, 1/4]
  const q = f32(b, [2, 1, 2], [5, 5, Math.log(3), 0]);
  const out = b.allocF32([2, 1, 2]);
  b.attention(out, q, k, v, Int32Array.from([0, 1]), spec);
  close(b.read(out), [1, 2, 1.5, 2.5], 1e-6, 'attention');
  // the scale multiplies q.k before the softmax
  const q1 = f32(b, [1, 1, 2], [1, 0]);
  const o1 = b.allocF32([1, 1, 2]);
  b.attention(o1, q1, k, v, Int32Array.from([1]), { ...spec, scale: Math.log(3) });
  close(b.read(o1), [1.5, 2.5], 1e-6, 'scaled');
  assert.throws(() => b.attention(o1, q1, k, v, Int32Array.from([4]), spec), /position 4/);
});

test('GQA: query head h reads kv head floor(h / (nHead / nKvHead))', () => {
  const b = new ReferenceBackend();
  const spec = { nHead: 4, nKvHead: 2, headDimK: 1, headDimV: 1, scale: 1 };
  // kv head 0: equal keys -> plain average of its values; kv head 1: key 40 at row 1 dominates.
  const k = f32(b, [2, 2, 1], [0, 0, 0, 40]);
  const v = f32(b, [2, 2, 1], [1, 10, 3, 20]);
  const q = f32(b, [1, 4, 1], [1, 1, 1, 1]);
  const out = b.allocF32([1, 4, 1]);
  b.attention(out, q, k, v, Int32Array.from([1]), spec);
  close(b.read(out), [2, 2, 20, 20], 1e-6, 'gqa');
  assert.throws(() => b.attention(out, q, k, v, Int32Array.from([1]), { ...spec, nKvHead: 3 }), /multiple/);
});

test('memory: views, read/write ranges, free', () => {
  const b = new ReferenceBackend();
  const t = f32(b, [2, 3], [1, 2, 3, 4, 5, 6], 'ws.x');
  const row1 = b.view(t, 3, [1, 3]);
  assert.deepEqual(Array.from(b.read(row1)), [4, 5, 6]);
  b.write(row1, Float32Array.from([7]), 2);
  assert.deepEqual(Array.from(b.read(t, 4)), [5, 7]);
  assert.deepEqual(Array.from(b.read(t, 1, 2)), [2, 3]);
  assert.throws(() => b.write(t, new Float32Array(3), 4), /do not fit/);
  assert.throws(() => b.view(t, 4, [3]), /does not fit/);
  assert.equal(b.memoryBytes(), 24);
  assert.throws(() => b.free(row1), /view/);
  b.free(t);
  assert.equal(b.memoryBytes(), 0);
  assert.throws(() => b.read(row1), /freed/);
  assert.throws(() => b.allocF32([2, -1]), /invalid dimension/);
  assert.throws(() => b.createWeight('w', GGMLType.Q4_K, [2, 100], () => {}), /block size/);
  assert.throws(() => b.createWeight('w', GGMLType.IQ2_XXS, [1, 256], () => {}), /unsupported/);
});

// ---- MLA / MoE ops ------------------------------------------------------------------------------

test('matmulHeads with F32 weights, computed by hand (offsets in x and out)', () => {
  const b = new ReferenceBackend();
  // H = 2 heads, N = 2, K = 2; x [T=2, H=2, Kx=3] read at column 1; out [2, 2, No=3] written at column 1
  const w = weight(b, 'attn_k_b', GGMLType.F32, [2, 2, 2], f32Bytes([1, 2, 3, 4, /* head 1 */ -1, 0, 0, 2]));
  const x = f32(b, [2, 2, 3], [9, 1, 1, /* h1 */ 9, 2, 3, /* t1 */ 9, 0, 1, 9, -1, 1]);
  const out = f32(b, [2, 2, 3], new Array(12).fill(7));
  b.matmulHeads(out, x, w, { xOffset: 1, outOffset: 1 });
  // t0 h0: [1,2].[1,1]=3, [3,4].[1,1]=7; t0 h1: [-1,0].[2,3]=-2, [0,2].[2,3]=6
  // t1 h0: [1,2].[0,1]=2, [3,4].[0,1]=4; t1 h1: [-1,0].[-1,1]=1, [0,2].[-1,1]=2
  assert.deepEqual([...b.read(out)], [7, 3, 7, 7, -2, 6, 7, 2, 4, 7, 1, 2]);
  // no offsets: x [1, 2, 2], out [1, 2, 2]
  const x2 = f32(b, [1, 2, 2], [1, 1, 2, 3]), out2 = b.allocF32([1, 2, 2]);
  b.matmulHeads(out2, x2, w);
  assert.deepEqual([...b.read(out2)], [3, 7, -2, 6]);
});

test('matmulHeads equals per-head matmul on quantized weights', () => {
  const b = new ReferenceBackend();
  const rand = mulberry32(7);
  const H = 3, N = 4, K = 64, T = 2, Kx = 80;
  const src = Float32Array.from({ length: H * N * K }, () => rand() * 2 - 1);
  const w = weight(b, 'w', GGMLType.Q8_0, [H, N, K], quantize(GGMLType.Q8_0, src));
  const xv = Float32Array.from({ length: T * H * Kx }, () => rand() * 2 - 1);
  const x = f32(b, [T, H, Kx], xv), out = b.allocF32([T, H, N]);
  b.matmulHeads(out, x, w, { xOffset: 16 });
  const got = b.read(out);
  for (let h = 0; h < H; h++) {
    const xh = b.allocF32([T, K]), yh = b.allocF32([T, N]);
    for (let t = 0; t < T; t++) b.write(xh, xv.subarray((t * H + h) * Kx + 16, (t * H + h) * Kx + 16 + K), t * K);
    b.matmul(yh, xh, b.view(w, h * N * K, [N, K]));
    const y = b.read(yh);
    for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) assert.equal(got[(t * H + h) * N + n], y[t * N + n]);
  }
});

test('matmulHeads shape errors name the tensors', () => {
  const b = new ReferenceBackend();
  const w = weight(b, 'blk.0.attn_v_b.weight', GGMLType.F32, [2, 3, 4], f32Bytes(new Array(24).fill(0)));
  const x = b.allocF32([1, 2, 4], 'olat'), out = b.allocF32([1, 2, 3], 'o');
  assert.throws(() => b.matmulHeads(out, x, w, { xOffset: 1 }), /matmulHeads: x olat.*columns \[1, 5\)/);
  assert.throws(() => b.matmulHeads(out, x, w, { outOffset: 1 }), /out o.*columns \[1, 4\)/);
  assert.throws(() => b.matmulHeads(b.allocF32([1, 3, 3], 'o3'), b.allocF32([1, 3, 4]), w), /is not \[T, 2, 4\]/);
  assert.throws(() => b.matmulHeads(out, x, b.view(w, 0, [6, 4])), /must be 3-D/);
});

test('attention with vFromK reads values from the key rows', () => {
  const b = new ReferenceBackend();
  // one head, dk = 3, dv = 2; cache rows k = [1, 2, 0], [3, 4, ln 3]; q = [0, 0, 1]: scores 0, ln 3
  const k = f32(b, [2, 1, 3], [1, 2, 0, 3, 4, Math.log(3)]);
  const q = f32(b, [1, 1, 3], [0, 0, 1]), out = b.allocF32([1, 1, 2]);
  b.attention(out, q, k, k, Int32Array.from([1]), { nHead: 1, nKvHead: 1, headDimK: 3, headDimV: 2, scale: 1, vFromK: true });
  close(b.read(out), [0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 4], 1e-6, 'out');
  assert.throws(() => b.attention(b.allocF32([1, 1, 4]), q, k, k, Int32Array.from([1]),
    { nHead: 1, nKvHead: 1, headDimK: 3, headDimV: 4, scale: 1, vFromK: true }), /vFromK needs headDimV 4 <= headDimK 3/);
});

test('gatherRows, scatterAddRows (repeated rows accumulate), copyCols', () => {
  const b = new ReferenceBackend();
  const h = f32(b, [3, 2], [1, 2, 3, 4, 5, 6], 'h');
  const xe = b.allocF32([3, 2], 'xe');
  b.gatherRows(xe, h, Int32Array.from([2, 0, 2]));
  assert.deepEqual([...b.read(xe)], [5, 6, 1, 2, 5, 6]);
  const out = f32(b, [3, 2], [1, 1, 1, 1, 1, 1], 'out');
  b.scatterAddRows(out, xe, Int32Array.from([1, 1, 0]), Float32Array.from([0.5, 2, -1]));
  assert.deepEqual([...b.read(out)], [-4, -5, 1 + 2.5 + 2, 1 + 3 + 4, 1, 1]);
  assert.throws(() => b.gatherRows(xe, h, Int32Array.from([0, 3, 1])), /gatherRows: row 3 is outside h/);
  assert.throws(() => b.scatterAddRows(out, xe, Int32Array.from([0, 1]), Float32Array.from([1, 1])), /scatterAddRows: src xe .* does not match 2 rows/);
  assert.throws(() => b.scatterAddRows(out, xe, Int32Array.from([0, 1, 2]), Float32Array.from([1])), /1 scales for 3 rows/);
  const dst = f32(b, [2, 4], [0, 0, 0, 0, 0, 0, 0, 0], 'dst');
  const src = f32(b, [2, 3], [1, 2, 3, 4, 5, 6], 'src');
  b.copyCols(dst, 1, src, 1, 2);
  assert.deepEqual([...b.read(dst)], [0, 2, 3, 0, 0, 5, 6, 0]);
  assert.throws(() => b.copyCols(dst, 3, src, 0, 2), /copyCols: 2 columns from 0 of src .* to 3 of dst dst/);
  assert.throws(() => b.copyCols(dst, 0, b.allocF32([3, 3], 's3'), 0, 1), /differ in rows/);
});
