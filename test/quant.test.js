// Scalar dequantizers, reference quantizers, llama.cpp (x86 AVX2) activation quantizers, fp16/bf16.
// Expected values are derived in this file from the block layouts (deepseek-reference.md 11.3),
// with index arithmetic written independently of src/ops/dequant.ts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { GGMLType as G, typeTraits } from '../dist/formats/ggml-types.js';
import { dequantize, fp16ToF32, f32ToFp16, bf16ToF32, f32ToBf16 } from '../dist/ops/dequant.js';
import { quantize, quantizeActivation, randomBlocks, mulberry32 } from '../dist/ops/quantize.js';

const KV = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const f32FromBits = (b) => new Float32Array(new Uint32Array([b >>> 0]).buffer)[0];
const bitsOfF32 = (x) => new Uint32Array(new Float32Array([x]).buffer)[0];
const H = (x) => f32ToFp16(x); // exact for the power-of-two scales used below
const put16 = (b, o, v) => { b[o] = v & 255; b[o + 1] = (v >> 8) & 255; };
const i8 = (v) => (v << 24) >> 24;
const randBytes = (n, r) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));

function expectExact(type, block, n, expected) {
  const y = dequantize(type, block, n);
  assert.equal(y.length, n);
  for (let k = 0; k < n; k++) assert.equal(y[k], Math.fround(expected(k)), `element ${k}`);
}

test('fp16 conversions: edge cases and exhaustive round trip', () => {
  assert.equal(f32ToFp16(0), 0);
  assert.equal(f32ToFp16(-0), 0x8000);
  assert.equal(f32ToFp16(1), 0x3c00);
  assert.equal(f32ToFp16(65504), 0x7bff);
  assert.equal(f32ToFp16(65519.99), 0x7bff);
  assert.equal(f32ToFp16(65520), 0x7c00); // tie between max and "65536" rounds to even = inf
  assert.equal(f32ToFp16(Infinity), 0x7c00);
  assert.equal(f32ToFp16(-Infinity), 0xfc00);
  const nan = f32ToFp16(NaN);
  assert.equal(nan & 0x7c00, 0x7c00);
  assert.notEqual(nan & 0x3ff, 0);
  assert.equal(f32ToFp16(2 ** -24), 1); // smallest subnormal
  assert.equal(f32ToFp16(2 ** -25), 0); // tie -> even (0)
  assert.equal(f32ToFp16(3 * 2 ** -25), 2); // 1.5 ulp -> tie -> even (2)
  assert.equal(f32ToFp16(2 ** -25 * 1.0001), 1);
  assert.equal(f32ToFp16(2 ** -14), 0x0400); // smallest normal
  assert.equal(f32ToFp16(2 ** -14 - 2 ** -24), 0x03ff); // largest subnormal
  assert.equal(f32ToFp16(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.equal(f32ToFp16(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
  assert.equal(f32ToFp16(1e-10), 0);
  assert.equal(f32ToFp16(-1e9), 0xfc00);
  assert.equal(fp16ToF32(0x7bff), 65504);
  assert.equal(fp16ToF32(0x0001), 2 ** -24);
  assert.equal(fp16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(fp16ToF32(0x7e00)));
  for (let h = 0; h < 65536; h++) {
    const v = fp16ToF32(h);
    if (Number.isNaN(v)) continue;
    assert.equal(f32ToFp16(v), h);
  }
});

test('bf16 conversions follow GGML_FP32_TO_BF16', () => {
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(f32FromBits(0x3f808000)), 0x3f80); // tie, even stays
  assert.equal(f32ToBf16(f32FromBits(0x3f818000)), 0x3f82); // tie, odd rounds up
  assert.equal(f32ToBf16(f32FromBits(0x3f808001)), 0x3f81);
  assert.equal(f32ToBf16(f32FromBits(0x7f800001)), 0x7fc0); // signalling NaN made quiet
  assert.equal(f32ToBf16(f32FromBits(0xffc12345)), 0xffc1);
  assert.equal(f32ToBf16(Infinity), 0x7f80);
  assert.equal(f32ToBf16(f32FromBits(0x7f7fffff)), 0x7f80); // max f32 rounds to inf
  assert.equal(f32ToBf16(f32FromBits(0x00018000)), 0x0002); // subnormals are not flushed
  assert.equal(f32ToBf16(-0), 0x8000);
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc040), -3);
  assert.equal(bitsOfF32(bf16ToF32(0x0001)), 0x00010000);
});

test('dequantize F32/F16/BF16 from an unaligned view', () => {
  const raw = new Uint8Array(1 + 4 * 3);
  const v = [1.5, -2.25, 3e-5];
  new DataView(raw.buffer).setFloat32(1, v[0], true);
  new DataView(raw.buffer).setFloat32(5, v[1], true);
  new DataView(raw.buffer).setFloat32(9, v[2], true);
  assert.deepEqual([...dequantize(G.F32, raw.subarray(1), 3)], v.map(Math.fround));
  const h = new Uint8Array([0, 0x00, 0x3c, 0x00, 0xc0]);
  assert.deepEqual([...dequantize(G.F16, h.subarray(1), 2)], [1, -2]);
  assert.deepEqual([...dequantize(G.BF16, h.subarray(1), 2)], [bf16ToF32(0x3c00), bf16ToF32(0xc000)]);
});

test('dequantize Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 / Q8_1 / IQ4_NL hand-built blocks', () => {
  const b40 = new Uint8Array(18);
  put16(b40, 0, H(0.5));
  for (let j = 0; j < 16; j++) b40[2 + j] = j | ((15 - j) << 4);
  expectExact(G.Q4_0, b40, 32, (k) => (k < 16 ? (k - 8) * 0.5 : (15 - (k - 16) - 8) * 0.5));

  const b41 = new Uint8Array(20);
  put16(b41, 0, H(0.25)); put16(b41, 2, H(-1));
  for (let j = 0; j < 16; j++) b41[4 + j] = j | ((15 - j) << 4);
  expectExact(G.Q4_1, b41, 32, (k) => (k < 16 ? k * 0.25 - 1 : (15 - (k - 16)) * 0.25 - 1));

  // Q5_0: the 5th bit of element k is bit k of the little-endian u32 qh
  const b50 = new Uint8Array(22);
  put16(b50, 0, H(1));
  const qh = 0xa5c3_0f96 >>> 0;
  new DataView(b50.buffer).setUint32(2, qh, true);
  for (let j = 0; j < 16; j++) b50[6 + j] = ((j * 7) & 15) | (((j * 3 + 1) & 15) << 4);
  const lo5 = (k) => (k < 16 ? (k * 7) & 15 : ((k - 16) * 3 + 1) & 15) | (((qh >>> k) & 1) << 4);
  expectExact(G.Q5_0, b50, 32, (k) => lo5(k) - 16);

  const b51 = new Uint8Array(24);
  put16(b51, 0, H(0.5)); put16(b51, 2, H(-4));
  new DataView(b51.buffer).setUint32(4, qh, true);
  for (let j = 0; j < 16; j++) b51[8 + j] = b50[6 + j];
  expectExact(G.Q5_1, b51, 32, (k) => lo5(k) * 0.5 - 4);

  const b80 = new Uint8Array(34);
  put16(b80, 0, H(0.5));
  for (let j = 0; j < 32; j++) b80[2 + j] = (j * 9 - 128) & 255;
  expectExact(G.Q8_0, b80, 32, (k) => i8(k * 9 - 128) * 0.5);

  const b81 = new Uint8Array(36);
  put16(b81, 0, H(0.25)); put16(b81, 2, H(123));
  for (let j = 0; j < 32; j++) b81[4 + j] = (j * 5 - 70) & 255;
  expectExact(G.Q8_1, b81, 32, (k) => i8(k * 5 - 70) * 0.25);

  const bnl = new Uint8Array(18);
  put16(bnl, 0, H(0.5));
  for (let j = 0; j < 16; j++) bnl[2 + j] = j | ((15 - j) << 4);
  expectExact(G.IQ4_NL, bnl, 32, (k) => KV[k < 16 ? k : 15 - (k - 16)] * 0.5);
});

test('dequantize K-quant and IQ4_XS hand-built blocks (random payload, exact expected values)', () => {
  const r = mulberry32(7);
  // Q2_K: element k -> half n = k>>7, shift s = (k>>5)&3, byte 32n + (k&31), sub-block 8n + 2s + ((k&31)>=16)
  {
    const b = randBytes(84, r);
    put16(b, 80, H(0.5)); put16(b, 82, H(0.125));
    expectExact(G.Q2_K, b, 256, (k) => {
      const n = k >> 7, s = (k >> 5) & 3, l = k & 31, sb = 8 * n + 2 * s + (l >= 16 ? 1 : 0);
      const q = (b[16 + 32 * n + l] >> (2 * s)) & 3;
      return 0.5 * (b[sb] & 15) * q - 0.125 * (b[sb] >> 4);
    });
  }
  // Q3_K: 6-bit scales (stored +32), hmask[k & 31] bit (k >> 5) set = no -4 offset
  {
    const b = randBytes(110, r);
    put16(b, 108, H(0.25));
    const scale = (j) => {
      const low = j < 8 ? b[96 + j] & 15 : b[96 + j - 8] >> 4;
      const high = (b[104 + (j % 4)] >> (2 * Math.floor(j / 4))) & 3;
      return (low | (high << 4)) - 32;
    };
    expectExact(G.Q3_K, b, 256, (k) => {
      const n = k >> 7, s = (k >> 5) & 3, l = k & 31, sb = 8 * n + 2 * s + (l >= 16 ? 1 : 0);
      const q = (b[32 + 32 * n + l] >> (2 * s)) & 3;
      const hbit = (b[l] >> (k >> 5)) & 1;
      return 0.25 * scale(sb) * (q - (hbit ? 0 : 4));
    });
  }
  // Q4_K / Q5_K: 8 sub-blocks of 32; 6-bit scale/min packing of get_scale_min_k4
  const sm = (b, j) => (j < 4
    ? [b[4 + j] & 63, b[8 + j] & 63]
    : [(b[8 + j] & 15) | ((b[j] >> 6) << 4), (b[8 + j] >> 4) | ((b[4 + j] >> 6) << 4)]);
  {
    const b = randBytes(144, r);
    put16(b, 0, H(0.5)); put16(b, 2, H(0.25));
    expectExact(G.Q4_K, b, 256, (k) => {
      const c = k >> 6, hi = (k & 63) >= 32, l = k & 31, [sc, mn] = sm(b, 2 * c + (hi ? 1 : 0));
      const q = hi ? b[16 + 32 * c + l] >> 4 : b[16 + 32 * c + l] & 15;
      return Math.fround(0.5 * sc * q) - 0.25 * mn;
    });
  }
  {
    const b = randBytes(176, r);
    put16(b, 0, H(0.125)); put16(b, 2, H(0.5));
    expectExact(G.Q5_K, b, 256, (k) => {
      const c = k >> 6, hi = (k & 63) >= 32, l = k & 31, sub = 2 * c + (hi ? 1 : 0), [sc, mn] = sm(b, sub);
      const q = (hi ? b[48 + 32 * c + l] >> 4 : b[48 + 32 * c + l] & 15) + (((b[16 + l] >> sub) & 1) << 4);
      return Math.fround(0.125 * sc * q) - 0.5 * mn;
    });
  }
  // Q6_K: element k -> n = k>>7, group g = (k>>5)&3; low nibble from ql[64n + l + 32(g&1)] (hi nibble if g>=2),
  // 2 high bits from qh[32n + l] bits 2g; int8 scale of sub-block k>>4
  {
    const b = randBytes(210, r);
    put16(b, 208, H(0.125));
    expectExact(G.Q6_K, b, 256, (k) => {
      const n = k >> 7, g = (k >> 5) & 3, l = k & 31;
      const qlb = b[64 * n + l + 32 * (g & 1)];
      const q = ((g >= 2 ? qlb >> 4 : qlb & 15) | (((b[128 + 32 * n + l] >> (2 * g)) & 3) << 4)) - 32;
      return 0.125 * i8(b[192 + (k >> 4)]) * q;
    });
  }
  // Q8_K: f32 d, int8 qs; read from an unaligned view
  {
    const b = new Uint8Array(293);
    const blk = b.subarray(1);
    new DataView(b.buffer).setFloat32(1, 0.375, true);
    for (let j = 0; j < 256; j++) blk[4 + j] = (j * 31) & 255;
    expectExact(G.Q8_K, blk, 256, (k) => i8(k * 31) * 0.375);
  }
  // IQ4_XS: 6-bit sub-block scales: low 4 bits in scales_l nibbles, high 2 bits in scales_h
  {
    const b = randBytes(136, r);
    put16(b, 0, H(0.5));
    const sh = b[2] | (b[3] << 8);
    expectExact(G.IQ4_XS, b, 256, (k) => {
      const ib = k >> 5, j = k & 31;
      const ls = ((b[4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
      const byte = b[8 + 16 * ib + (j & 15)];
      return 0.5 * (ls - 32) * KV[j < 16 ? byte & 15 : byte >> 4];
    });
  }
});

test('dequantize rejects unsupported types, bad counts and short input', () => {
  assert.throws(() => dequantize(G.IQ2_XXS, new Uint8Array(66), 256), /unsupported tensor type IQ2_XXS/);
  assert.throws(() => dequantize(G.Q4_0, new Uint8Array(18), 31), /multiple of block size/);
  assert.throws(() => dequantize(G.Q4_0, new Uint8Array(17), 32), /bytes/);
  assert.throws(() => dequantize(G.Q4_0, new Uint8Array(18), 32, new Float32Array(8)), /output/);
});

function gauss(r) {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

test('quantize -> dequantize round trip error bounds per type', () => {
  const r = mulberry32(42);
  const n = 256 * 32;
  const x = Float32Array.from({ length: n }, () => 0.1 * gauss(r));
  const bounds = {
    [G.F32]: 0, [G.F16]: 1e-3, [G.BF16]: 5e-3, [G.Q8_0]: 0.012, [G.Q5_1]: 0.05, [G.Q5_0]: 0.07,
    [G.Q4_1]: 0.1, [G.Q4_0]: 0.14, [G.Q6_K]: 0.03, [G.Q5_K]: 0.05, [G.Q4_K]: 0.1, [G.Q3_K]: 0.25,
    [G.Q2_K]: 0.45, [G.IQ4_NL]: 0.12, [G.IQ4_XS]: 0.12,
  };
  for (const [t, bound] of Object.entries(bounds)) {
    const type = Number(t);
    const q = quantize(type, x);
    const tr = typeTraits(type);
    assert.equal(q.length, (n / tr.blockSize) * tr.typeSize, tr.name);
    const y = dequantize(type, q, n);
    let e = 0, s = 0;
    for (let i = 0; i < n; i++) { e += (y[i] - x[i]) ** 2; s += x[i] ** 2; }
    const rel = Math.sqrt(e / s);
    assert.ok(rel <= bound, `${tr.name}: relative rms error ${rel} > ${bound}`);
    // zeros stay zeros (no NaN from 0/0 scales)
    const z = dequantize(type, quantize(type, new Float32Array(tr.blockSize === 1 ? 32 : 256)), tr.blockSize === 1 ? 32 : 256);
    assert.ok(z.every((v) => v === 0), `${tr.name}: zeros`);
  }
  assert.throws(() => quantize(G.Q4_K, new Float32Array(32)), /multiple/);
  assert.throws(() => quantize(G.IQ2_XXS, new Float32Array(256)), /unsupported/);
});

test('quantize Q8_0 (weights) uses roundf ties away from zero; Q4_0 follows quantize_row_q4_0_ref', () => {
  const x = new Float32Array(32);
  x[0] = 127; x[1] = 2.5; x[2] = -2.5; x[3] = 0.5;
  const q = quantize(G.Q8_0, x);
  assert.equal(fp16ToF32(q[0] | (q[1] << 8)), 1);
  assert.deepEqual([i8(q[2]), i8(q[3]), i8(q[4]), i8(q[5])], [127, 3, -3, 1]);
  const y = new Float32Array(32);
  y[5] = -8; y[6] = 4; y[7] = 7;
  const b = quantize(G.Q4_0, y); // d = max / -8 = 1
  assert.equal(fp16ToF32(b[0] | (b[1] << 8)), 1);
  assert.equal(b[2 + 5] & 15, 0); // -8 -> q 0
  assert.equal(b[2 + 6] & 15, 12); // 4 * id(1) + 8.5 = 12.5 -> (int8) 12
  assert.equal(b[2 + 7] & 15, 15); // 7 + 8.5 = 15.5 -> 15
});

test('quantizeActivation Q8_0 / Q8_1: x86 AVX2 rules (id = 127/amax, ties to even, s = d*sum)', () => {
  const x = new Float32Array(64);
  x[0] = 127; x[1] = 0.5; x[2] = 1.5; x[3] = 2.5; x[4] = -63.5; x[5] = -0.5; x[6] = 126.5;
  for (let j = 32; j < 64; j++) x[j] = (j - 48) * 0.01;
  const q = quantizeActivation(G.Q8_0, x);
  assert.equal(q.length, 68);
  assert.equal(fp16ToF32(q[0] | (q[1] << 8)), 1);
  assert.deepEqual([...q.subarray(2, 9)].map(i8), [127, 0, 2, 2, -64, 0, 126]);
  // second block: amax = 0.16, d = fp16(0.16/127), q = rne(x * (127/0.16))
  const amax = Math.fround(0.16);
  const id = Math.fround(127 / amax);
  assert.equal(q[34] | (q[35] << 8), f32ToFp16(Math.fround(amax / 127)));
  for (let j = 0; j < 32; j++) {
    const v = Math.fround(Math.fround(x[32 + j]) * id);
    let e = Math.round(v);
    if (e - v === 0.5 && e % 2 !== 0) e -= 1;
    assert.equal(i8(q[36 + j]), e, `q[${j}]`);
  }
  const q1 = quantizeActivation(G.Q8_1, x);
  assert.equal(q1.length, 72);
  assert.deepEqual([...q1.subarray(4, 36)], [...q.subarray(2, 34)]);
  let sum = 0;
  for (let j = 0; j < 32; j++) sum += i8(q1[4 + j]);
  assert.equal(q1[2] | (q1[3] << 8), f32ToFp16(1 * sum));
  // all-zero block: d = 0, q = 0
  const z = quantizeActivation(G.Q8_0, new Float32Array(32));
  assert.ok(z.every((v) => v === 0));
});

test('quantizeActivation Q8_K: iscale = -127/max (signed), nearest_int ties to even, bsums', () => {
  const x = new Float32Array(512);
  // block 0: most negative extreme -254 -> iscale = 0.5, d = 2
  x[0] = -254; x[1] = 5; x[2] = 7; x[3] = -3; x[17] = 254; x[100] = 1;
  // block 1: positive extreme 254 -> iscale = -0.5, d = -2 (values negated)
  x[256] = 254; x[257] = 5; x[258] = -7;
  const q = quantizeActivation(G.Q8_K, x);
  assert.equal(q.length, 2 * 292);
  const dv = new DataView(q.buffer);
  assert.equal(dv.getFloat32(0, true), 2);
  assert.deepEqual([...q.subarray(4, 8)].map(i8), [-127, 2, 4, -2]); // 2.5 -> 2, 3.5 -> 4, -1.5 -> -2
  assert.equal(i8(q[4 + 17]), 127);
  assert.equal(i8(q[4 + 100]), 0); // 0.5 -> 0
  for (let j = 0; j < 16; j++) {
    let s = 0;
    for (let l = 0; l < 16; l++) s += i8(q[4 + 16 * j + l]);
    assert.equal(dv.getInt16(260 + 2 * j, true), s, `bsums[${j}]`);
  }
  assert.equal(dv.getFloat32(292, true), -2);
  assert.deepEqual([...q.subarray(296, 299)].map(i8), [-127, -2, 4]); // -2.5 -> -2, 3.5 -> 4
  // random rows: |x - d*q| <= |d|/2 (+ f32 slack)
  const r = mulberry32(3);
  const y = Float32Array.from({ length: 1024 }, () => gauss(r));
  const qa = quantizeActivation(G.Q8_K, y);
  const back = dequantize(G.Q8_K, qa, 1024);
  for (let b = 0; b < 4; b++) {
    const d = Math.abs(new DataView(qa.buffer).getFloat32(292 * b, true));
    for (let j = 0; j < 256; j++) assert.ok(Math.abs(back[256 * b + j] - y[256 * b + j]) <= d * 0.5001);
  }
  assert.throws(() => quantizeActivation(G.Q4_K, new Float32Array(256)), /unsupported activation type/);
});

test('quantizeActivation F16 / BF16 / F32 encode each element', () => {
  const x = Float32Array.from([1, -2.5, 65519.99, 1e-8, 3.14159]);
  const h = quantizeActivation(G.F16, x);
  const b = quantizeActivation(G.BF16, x);
  const f = quantizeActivation(G.F32, x);
  for (let i = 0; i < x.length; i++) {
    assert.equal(h[2 * i] | (h[2 * i + 1] << 8), f32ToFp16(x[i]));
    assert.equal(b[2 * i] | (b[2 * i + 1] << 8), f32ToBf16(x[i]));
    assert.equal(new DataView(f.buffer).getFloat32(4 * i, true), x[i]);
  }
});

test('randomBlocks: valid, finite, realistic magnitudes, deterministic', () => {
  const types = [G.F32, G.F16, G.BF16, G.Q4_0, G.Q4_1, G.Q5_0, G.Q5_1, G.Q8_0, G.Q8_1, G.Q2_K, G.Q3_K,
    G.Q4_K, G.Q5_K, G.Q6_K, G.Q8_K, G.IQ4_NL, G.IQ4_XS];
  for (const t of types) {
    const tr = typeTraits(t);
    const n = 256 * 64;
    const a = randomBlocks(t, n, mulberry32(11));
    const b = randomBlocks(t, n, mulberry32(11));
    assert.deepEqual(a, b, `${tr.name} deterministic`);
    assert.equal(a.length, (n / tr.blockSize) * tr.typeSize);
    const y = dequantize(t, a, n);
    let mx = 0, s = 0;
    for (const v of y) {
      assert.ok(Number.isFinite(v), `${tr.name} finite`);
      mx = Math.max(mx, Math.abs(v));
      s += v * v;
    }
    const rms = Math.sqrt(s / n);
    assert.ok(mx < 1.5 && mx > 0.05, `${tr.name}: max |value| ${mx}`);
    assert.ok(rms > 0.02 && rms < 0.6, `${tr.name}: rms ${rms}`);
    if (t === G.Q8_K) {
      const dv = new DataView(a.buffer);
      for (let j = 0; j < 16; j++) {
        let sum = 0;
        for (let l = 0; l < 16; l++) sum += i8(a[4 + 16 * j + l]);
        assert.equal(dv.getInt16(260 + 2 * j, true), sum);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Golden hashes computed with llama.cpp's own ggml (node-llama-cpp 3.21.1 prebuilt
// libggml-base.so dequantize_row_* and libggml-cpu-haswell.so (AVX2) quantize_row_q8_0/q8_1/q8_K,
// ggml_cpu_fp32_to_fp16/bf16, called through ctypes) on the inputs generated below. They pin
// our scalar code to llama.cpp bit for bit. Do not change the generators without regenerating.
const SCALE_FIELDS = {
  2: [[0, 0.01]], 3: [[0, 0.01], [2, -0.1]], 6: [[0, 0.01]], 7: [[0, 0.01], [2, -0.1]], 8: [[0, 0.002]],
  10: [[80, 0.01], [82, 0.01]], 11: [[108, 0.003]], 12: [[0, 4e-4], [2, 3e-3]], 13: [[0, 4e-4], [2, 3e-3]],
  14: [[208, 1e-4]], 20: [[0, 0.003]], 23: [[0, 1e-4]],
};
function goldenBlocks(type, nb, seed) {
  const ts = typeTraits(type).typeSize, r = mulberry32(seed), b = new Uint8Array(nb * ts);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  for (let k = 0; k < nb; k++) {
    for (const [off, s] of SCALE_FIELDS[type]) { const h = f32ToFp16(s * (1 + (k % 5))); b[k * ts + off] = h & 255; b[k * ts + off + 1] = h >> 8; }
  }
  return b;
}
function goldenActivations(n, seed) {
  const r = mulberry32(seed), x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = r();
    x[i] = k < 0.3 ? (Math.floor(r() * 255) - 127) * 0.5 : k < 0.4 ? Math.floor(r() * 20) - 10 : (r() - 0.5) * 10 ** (r() * 8 - 4);
  }
  for (let b = 0; b < n / 256; b++) x[b * 256 + 3] = -x[b * 256 + 10];
  return x;
}
function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return '0x' + h.toString(16).padStart(8, '0');
}
const GOLDEN_DEQUANT = {
  2: '0x2b5b7cd1', 3: '0x3dd4d1b4', 6: '0x288ff268', 7: '0x7a7a3470', 8: '0x04e5f1fa', 10: '0x8216dfe1',
  11: '0xe3d07a37', 12: '0x7afe6bf6', 13: '0x26d252de', 14: '0xc8fec271', 20: '0x3fbdbbd8', 23: '0xce767f02',
};
const GOLDEN_ACT = { 8: '0xc4224151', 9: '0x39a5a7d8', 15: '0x33c63996', 1: '0xb7d6be87', 30: '0x2ae2fd81' };

test('golden: dequantize matches llama.cpp dequantize_row_* bit for bit', () => {
  for (const [t, want] of Object.entries(GOLDEN_DEQUANT)) {
    const type = Number(t), n = 64 * typeTraits(type).blockSize;
    const y = dequantize(type, goldenBlocks(type, 64, 1000 + type), n);
    assert.equal(fnv1a(new Uint8Array(y.buffer)), want, typeTraits(type).name);
  }
});

test('golden: quantizeActivation matches llama.cpp x86 AVX2 (haswell) bit for bit', () => {
  const x = goldenActivations(256 * 16, 77);
  for (const [t, want] of Object.entries(GOLDEN_ACT)) {
    assert.equal(fnv1a(quantizeActivation(Number(t), x)), want, typeTraits(Number(t)).name);
  }
});
