// Rope frequency tables (src/nn/rope.ts) and the reference rope op's pairing conventions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ropeInvFreq, yarnAttentionScale, yarnCorrDims, yarnGetMscale } from '../dist/nn/rope.js';
import { ReferenceBackend } from '../dist/ops/reference.js';

function assertRel(actual, expected, rel, what) {
  const err = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-30);
  assert.ok(err <= rel, `${what}: got ${actual}, expected ${expected} (relative error ${err})`);
}

// deepseek-reference.md 4.5: DeepSeek-V3 YaRN inv_freq (base 1e4, dim 64, factor 40, orig 4096).
const V3_YARN = [
  1, 0.7498942, 0.5623413, 0.4216965, 0.3162278, 0.2371374, 0.1778279, 0.1333521, 0.1, 0.07498942, 0.05623413,
  3.900692657e-02, 2.687936011e-02, 1.837814622e-02, 1.244795587e-02, 8.334508951e-03,
  5.5e-03, 3.561997494e-03, 2.249365301e-03, 1.370513636e-03, 7.905694150e-04,
  4.149903985e-04, 1.778279410e-04, 3.333803580e-05, 2.5e-05, 1.874735523e-05,
  1.405853313e-05, 1.054241259e-05, 7.905694150e-06, 5.928434264e-06, 4.445698525e-06, 3.333803580e-06,
];
const V3 = { type: 'yarn', factor: 40, originalContext: 4096, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 1 };

test('YaRN inv_freq matches the DeepSeek-V3 test vector', () => {
  assert.deepEqual(yarnCorrDims(64, 4096, 1e4, 32, 1), [10, 23]);
  const { invFreq, mscale } = ropeInvFreq(64, 1e4, V3);
  assert.equal(invFreq.length, 32);
  for (let i = 0; i < 32; i++) assertRel(invFreq[i], V3_YARN[i], 1e-6, `inv_freq[${i}]`);
  // DeepSeek: mscale == mscale_all_dim, so the rotation is not amplitude-scaled (reference 3.5).
  assert.equal(mscale, 1);
});

test('YaRN amplitude and DeepSeek softmax scale', () => {
  const base = { type: 'yarn', factor: 40, originalContext: 4096 };
  // Neither mscale given: plain ggml/HF YaRN amplitude 1 + 0.1 ln(factor).
  assertRel(ropeInvFreq(64, 1e4, base).mscale, 1 + 0.1 * Math.log(40), 1e-12, 'plain yarn amplitude');
  // V2: mscale = mscale_all_dim = 0.707 -> 1.
  assertRel(ropeInvFreq(64, 1e4, { ...base, mscale: 0.707, mscaleAllDim: 0.707 }).mscale, 1, 1e-12, 'V2 amplitude');
  // Only mscale_all_dim (what a DeepSeek GGUF stores): mscale defaults to it, as llama.cpp's deepseek2.
  assertRel(ropeInvFreq(64, 1e4, { ...base, mscaleAllDim: 0.707 }).mscale, 1, 1e-12, 'mscaleAllDim only');
  // Explicit mscale 1: llama.cpp's generic rule for other architectures.
  assertRel(ropeInvFreq(64, 1e4, { ...base, mscale: 1, mscaleAllDim: 0.707 }).mscale, yarnGetMscale(40, 1) / yarnGetMscale(40, 0.707), 1e-12, 'generic');
  // attnFactor multiplies on top.
  assertRel(ropeInvFreq(64, 1e4, { ...V3, attnFactor: 1.5 }).mscale, 1.5, 1e-12, 'attnFactor');
  // Softmax scale numbers from deepseek-reference.md 3.5.
  assertRel(yarnAttentionScale(V3), 1.873854, 1e-6, 'V3 mscale^2');
  assertRel(yarnAttentionScale(V3) / Math.sqrt(192), 0.13523378, 1e-6, 'V3 softmax scale');
  assertRel(yarnAttentionScale({ ...base, mscale: 0.707, mscaleAllDim: 0.707 }), 1.589626, 1e-6, 'V2 mscale^2');
  assertRel(yarnAttentionScale({ ...base, mscaleAllDim: 0.707 }) / Math.sqrt(192), 0.11472139, 1e-6, 'V2 softmax scale');
  assert.equal(yarnAttentionScale({ type: 'none' }), 1);
  // no mscale_all_dim: llama.cpp's deepseek2 graph still squares the (plain YaRN) rope amplitude
  assertRel(yarnAttentionScale(base), (1 + 0.1 * Math.log(40)) ** 2, 1e-12, 'plain yarn');
});

test('plain and linear scaling', () => {
  const plain = ropeInvFreq(128, 1e4, { type: 'none' });
  assert.equal(plain.mscale, 1);
  for (let i = 0; i < 64; i++) assertRel(plain.invFreq[i], Math.pow(1e4, -2 * i / 128), 1e-7, `plain[${i}]`);
  const lin = ropeInvFreq(128, 1e5, { type: 'linear', factor: 4 });
  assert.equal(lin.mscale, 1);
  for (let i = 0; i < 64; i++) assertRel(lin.invFreq[i], Math.pow(1e5, -2 * i / 128) / 4, 1e-7, `linear[${i}]`);
});

// HF _compute_llama3_parameters, written independently from the implementation.
function hfLlama3(dim, theta, factor, low, high, orig) {
  const out = [];
  for (let j = 0; j < dim; j += 2) {
    const inv = 1 / theta ** (j / dim);
    const wavelen = 2 * Math.PI / inv;
    let f = wavelen > orig / low ? inv / factor : inv;
    const smooth = (orig / wavelen - low) / (high - low);
    const medium = !(wavelen < orig / high) && !(wavelen > orig / low);
    if (medium) f = (1 - smooth) * f / factor + smooth * f;
    out.push(f);
  }
  return out;
}

test('llama3 scaling from HF parameters and as rope_freqs factors', () => {
  const p = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 };
  const { invFreq, mscale } = ropeInvFreq(128, 500000, p);
  assert.equal(mscale, 1);
  const want = hfLlama3(128, 500000, 8, 1, 4, 8192);
  let unchanged = 0, divided = 0, smoothed = 0;
  for (let i = 0; i < 64; i++) {
    assertRel(invFreq[i], want[i], 1e-6, `llama3[${i}]`);
    const r = want[i] / (1 / 500000 ** (2 * i / 128));
    if (Math.abs(r - 1) < 1e-12) unchanged++; else if (Math.abs(r - 1 / 8) < 1e-12) divided++; else smoothed++;
  }
  assert.ok(unchanged > 0 && divided > 0 && smoothed > 0, 'all three llama3 regions exercised');
  // The same thing the way llama.cpp's converter stores it: per-pair divisors in rope_freqs.weight.
  const ff = new Float32Array(64);
  for (let i = 0; i < 64; i++) ff[i] = (1 / 500000 ** (2 * i / 128)) / want[i];
  const viaFactors = ropeInvFreq(128, 500000, { type: 'none' }, ff);
  for (let i = 0; i < 64; i++) assertRel(viaFactors.invFreq[i], want[i], 1e-6, `rope_freqs[${i}]`);
  assert.throws(() => ropeInvFreq(128, 500000, p, ff), /both/);
});

test('freq factors divide the extrapolated frequency before YaRN mixing', () => {
  const ff = new Float32Array(32).fill(2);
  const a = ropeInvFreq(64, 1e4, V3, ff).invFreq, b = ropeInvFreq(64, 1e4, V3).invFreq;
  for (let i = 0; i < 32; i++) assertRel(a[i], b[i] / 2, 1e-6, `ff[${i}]`);
});

test('ropeInvFreq rejects bad parameters', () => {
  assert.throws(() => ropeInvFreq(63, 1e4, { type: 'none' }), /even/);
  assert.throws(() => ropeInvFreq(64, -1, { type: 'none' }), /base/);
  assert.throws(() => ropeInvFreq(64, 1e4, { type: 'linear' }), /factor/);
  assert.throws(() => ropeInvFreq(64, 1e4, { type: 'yarn', factor: 40 }), /originalContext/);
  assert.throws(() => ropeInvFreq(64, 1e4, { type: 'none' }, new Float32Array(3)), /rope_freqs/);
  assert.throws(() => ropeInvFreq(64, 1e4, { type: 'bogus' }), /unknown/);
});

// ---- pairing conventions of the reference rope op ----------------------------------------------

function ropeRows(x, shape, positions, spec) {
  const b = new ReferenceBackend();
  const t = b.allocF32(shape);
  b.write(t, Float32Array.from(x));
  b.rope(t, Int32Array.from(positions), spec);
  return Array.from(b.read(t));
}

function close(actual, expected, tol = 1e-6) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `[${i}]: got ${actual[i]}, expected ${expected[i]} (all: ${actual})`);
  }
}

test('norm pairs (2i, 2i+1), neox pairs (i, i + nDims/2)', () => {
  // Pair 0 turns by 90 degrees at position 1, pair 1 does not turn (invFreq 0).
  const spec = { headDim: 4, offset: 0, nDims: 4, invFreq: Float32Array.from([Math.PI / 2, 0]), mscale: 1 };
  // norm: (x0, x1) -> (-x1, x0); (x2, x3) unchanged
  close(ropeRows([1, 2, 3, 4], [1, 1, 4], [1], { ...spec, mode: 'norm' }), [-2, 1, 3, 4]);
  // neox: (x0, x2) -> (-x2, x0); (x1, x3) unchanged
  close(ropeRows([1, 2, 3, 4], [1, 1, 4], [1], { ...spec, mode: 'neox' }), [-3, 2, 1, 4]);
  // position 0 is the identity, position 2 turns pair 0 by 180 degrees
  close(ropeRows([1, 2, 3, 4], [1, 1, 4], [0], { ...spec, mode: 'norm' }), [1, 2, 3, 4]);
  close(ropeRows([1, 2, 3, 4], [1, 1, 4], [2], { ...spec, mode: 'norm' }), [-1, -2, 3, 4]);
  // mscale multiplies both rotated values (and only the rotated ones)
  close(ropeRows([1, 2, 3, 4], [1, 1, 4], [0], { ...spec, mode: 'neox', mscale: 2 }), [2, 4, 6, 8]);
});

test('rope rotates [offset, offset + nDims) of every head, per token position', () => {
  const a = 0.3;
  const spec = { headDim: 5, offset: 2, nDims: 2, mode: 'norm', invFreq: Float32Array.from([a]), mscale: 1 };
  const ca = Math.fround(a); // invFreq is stored as f32
  const c1 = Math.cos(ca), s1 = Math.sin(ca), c2 = Math.cos(2 * ca), s2 = Math.sin(2 * ca);
  // 2 tokens (positions 1 and 2) x 2 heads of 5; elements 2 and 3 of each head rotate.
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const want = x.slice();
  const rot = (i, cs, sn) => { const x0 = x[i], x1 = x[i + 1]; want[i] = x0 * cs - x1 * sn; want[i + 1] = x0 * sn + x1 * cs; };
  rot(2, c1, s1); rot(7, c1, s1); rot(12, c2, s2); rot(17, c2, s2);
  close(ropeRows(x, [2, 2, 5], [1, 2], spec), want, 1e-5);
});

test('rope rejects inconsistent specs', () => {
  const b = new ReferenceBackend();
  const t = b.allocF32([1, 2, 4]);
  const spec = { headDim: 4, offset: 0, nDims: 4, mode: 'norm', invFreq: new Float32Array(2), mscale: 1 };
  assert.throws(() => b.rope(t, Int32Array.from([0]), { ...spec, invFreq: new Float32Array(3) }), /invFreq/);
  assert.throws(() => b.rope(t, Int32Array.from([0]), { ...spec, offset: 2 }), /does not fit/);
  assert.throws(() => b.rope(t, Int32Array.from([0, 1]), spec), /rope: x/);
  assert.throws(() => b.rope(t, Int32Array.from([0]), { ...spec, headDim: 3, nDims: 2, invFreq: new Float32Array(1) }), /rope: x/);
});
