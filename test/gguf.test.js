// GGUF writer/reader round trips, split files, and a corpus of broken files that must all give a
// GGUFError (or parse, if the corruption happens to stay valid) quickly and without huge allocations.
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GGMLType as G } from '../dist/formats/ggml-types.js';
import { readGGUF, readTensorData, getMeta, GGUFError } from '../dist/formats/gguf.js';
import { writeGGUF, writeGGUFSplit, gv, GGUFValueType as VT } from '../dist/formats/gguf-writer.js';
import { quantize, mulberry32 } from '../dist/ops/quantize.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deepcard-gguf-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const tmpFile = (name = 'f') => path.join(tmp, `${name}-${seq++}.gguf`);

function allTypesMeta() {
  return [
    { key: 'general.architecture', ...gv.str('llama') },
    { key: 't.u8', ...gv.u8(255) },
    { key: 't.i8', ...gv.i8(-128) },
    { key: 't.u16', ...gv.u16(65535) },
    { key: 't.i16', ...gv.i16(-32768) },
    { key: 't.u32', ...gv.u32(4294967295) },
    { key: 't.i32', ...gv.i32(-2147483648) },
    { key: 't.f32', ...gv.f32(1.5) },
    { key: 't.f64', ...gv.f64(Math.PI) },
    { key: 't.bool', ...gv.bool(true) },
    { key: 't.boolf', ...gv.bool(false) },
    { key: 't.str', ...gv.str('héllo ✓ 世界') },
    { key: 't.empty', ...gv.str('') },
    { key: 't.u64', ...gv.u64(12345678901234) },
    { key: 't.u64big', ...gv.u64(2n ** 63n + 5n) },
    { key: 't.i64', ...gv.i64(-9007199254740991) },
    { key: 't.i64big', ...gv.i64(-(2n ** 62n)) },
    { key: 't.arrStr', ...gv.arrStr(['a', '', 'ß', '<|end|>']) },
    { key: 't.arrI32', ...gv.arrI32([1, -2, 3]) },
    { key: 't.arrF32', ...gv.arrF32([0.5, -1.25]) },
    { key: 't.arrU8', ...gv.arrU8([0, 1, 255]) },
    { key: 't.arrBool', ...gv.arrBool([true, false]) },
    { key: 't.arrEmpty', ...gv.arr(VT.UINT32, []) },
    { key: 't.arrU64', ...gv.arr(VT.UINT64, [1, 2n ** 64n - 1n]) },
    { key: 't.nested', ...gv.arr(VT.ARRAY, [gv.arr(VT.INT16, [1, -1]), gv.arr(VT.STRING, ['x', 'yz']), gv.arr(VT.ARRAY, [gv.arr(VT.UINT8, [7])])]) },
  ];
}

const expectedMeta = {
  't.u8': 255, 't.i8': -128, 't.u16': 65535, 't.i16': -32768, 't.u32': 4294967295, 't.i32': -2147483648,
  't.f32': 1.5, 't.f64': Math.PI, 't.bool': true, 't.boolf': false, 't.str': 'héllo ✓ 世界', 't.empty': '',
  't.u64': 12345678901234, 't.u64big': 2n ** 63n + 5n, 't.i64': -9007199254740991, 't.i64big': -(2n ** 62n),
  't.arrStr': ['a', '', 'ß', '<|end|>'], 't.arrI32': [1, -2, 3], 't.arrF32': [0.5, -1.25], 't.arrU8': [0, 1, 255],
  't.arrBool': [true, false], 't.arrEmpty': [], 't.arrU64': [1, 2n ** 64n - 1n], 't.nested': [[1, -1], ['x', 'yz'], [[7]]],
};

function someTensors() {
  const r = mulberry32(5);
  const f32 = new Uint8Array(new Float32Array(Array.from({ length: 16 }, () => r())).buffer);
  const q40 = quantize(G.Q4_0, Float32Array.from({ length: 3 * 64 }, () => r() - 0.5));
  const q80 = quantize(G.Q8_0, Float32Array.from({ length: 2 * 32 }, () => r() - 0.5));
  const f16 = new Uint8Array(2 * 5);
  for (let i = 0; i < f16.length; i++) f16[i] = (i * 37) & 0x3b;
  return [
    { name: 'a.weight', type: G.F32, shape: [2, 8], data: f32 },
    { name: 'b.weight', type: G.Q4_0, shape: [3, 64], data: q40 },
    { name: 'c.weight', type: G.Q8_0, shape: [1, 2, 32], data: () => q80 },
    { name: 'd.norm', type: G.F16, shape: [5], data: f16 },
  ];
}

function checkTensors(f, tensors) {
  assert.equal(f.tensors.length, tensors.length);
  for (const t of tensors) {
    const info = f.tensorMap.get(t.name);
    assert.ok(info, t.name);
    assert.deepEqual(info.shape, t.shape);
    assert.deepEqual(info.ne, [...t.shape].reverse());
    assert.equal(info.type, t.type);
    const data = typeof t.data === 'function' ? t.data() : t.data;
    assert.equal(info.byteLength, data.length);
    const dst = new Uint8Array(info.byteLength);
    readTensorData(info, dst);
    assert.deepEqual(dst, data);
  }
}

test('write -> read round trip: every metadata type, v2 and v3, default and custom alignment', () => {
  for (const version of [2, 3]) {
    for (const alignment of [undefined, 1, 64, 4096]) {
      const p = tmpFile('rt');
      const tensors = someTensors();
      writeGGUF(p, allTypesMeta(), tensors, { version, alignment });
      const f = readGGUF(p);
      assert.equal(f.version, version);
      assert.equal(f.alignment, alignment ?? 32);
      assert.equal(f.metadata.has('general.alignment'), alignment !== undefined && alignment !== 32);
      for (const [k, v] of Object.entries(expectedMeta)) assert.deepEqual(f.metadata.get(k), v, k);
      assert.equal(getMeta(f, 'general.architecture'), 'llama');
      assert.equal(getMeta(f, 'missing.key'), undefined);
      for (const t of f.tensors) assert.equal(t.offset % f.alignment, 0);
      assert.deepEqual(f.files, [p]);
      assert.equal(f.fileSize, fs.statSync(p).size);
      assert.equal(f.tensors[0].typeName, 'F32');
      checkTensors(f, tensors);
    }
  }
});

test('large header (> 64 KiB, buffer growth in the writer, chunked reads in the reader)', () => {
  const p = tmpFile('big');
  const toks = Array.from({ length: 30000 }, (_, i) => `tok_${i}_Ġ✓`);
  const scores = Array.from({ length: 30000 }, (_, i) => i / 4);
  const tensors = someTensors();
  writeGGUF(p, [{ key: 'tokenizer.ggml.tokens', ...gv.arrStr(toks) }, { key: 'tokenizer.ggml.scores', ...gv.arrF32(scores) },
    { key: 'long', ...gv.str('x'.repeat(3 << 20)) }], tensors);
  const f = readGGUF(p);
  assert.deepEqual(f.metadata.get('tokenizer.ggml.tokens'), toks);
  assert.deepEqual(f.metadata.get('tokenizer.ggml.scores'), scores);
  assert.equal(f.metadata.get('long').length, 3 << 20);
  checkTensors(f, tensors);
});

test('readTensorData: destination too small, and a truncated data region', () => {
  const p = tmpFile('td');
  writeGGUF(p, [], someTensors());
  const f = readGGUF(p);
  assert.throws(() => readTensorData(f.tensors[1], new Uint8Array(3)), /destination/);
  fs.truncateSync(p, f.tensors[3].offset + 2);
  assert.throws(() => readTensorData(f.tensors[3], new Uint8Array(10)), (e) => e instanceof GGUFError && /short read/.test(e.message));
});

test('writer rejects bad input', () => {
  const p = tmpFile('bad');
  assert.throws(() => writeGGUF(p, [], [{ name: 'x', type: G.Q4_0, shape: [2, 31], data: new Uint8Array(0) }]), /block size/);
  assert.throws(() => writeGGUF(p, [], [{ name: 'x', type: G.F32, shape: [4], data: () => new Uint8Array(3) }]), /needs 16 bytes/);
  assert.equal(fs.existsSync(p), false, 'partial file removed');
  assert.throws(() => writeGGUF(p, [{ key: 'k', ...gv.f32('1') }], []), /expected a number/);
  assert.throws(() => writeGGUF(p, [], [], { version: 1 }), /unsupported version/);
  assert.throws(() => writeGGUF(p, [{ key: 'k', ...gv.u8(256) }], []), /not an integer in 0..255/);
  assert.throws(() => writeGGUF(p, [{ key: 'k', ...gv.u8(1) }, { key: 'k', ...gv.u8(2) }], []), /duplicate metadata key/);
  assert.throws(() => writeGGUF(p, [], [], { alignment: 24 }), /power of two/);
});

test('split files: merged read, shard paths, wrong shard, missing shard, inconsistent split keys', () => {
  const prefix = path.join(tmp, 'model');
  const tensors = someTensors();
  const meta = [{ key: 'general.architecture', ...gv.str('llama') }, { key: 'x.y', ...gv.u32(7) }];
  const paths = writeGGUFSplit(prefix, meta, tensors, 3);
  assert.deepEqual(paths.map((q) => path.basename(q)), ['model-00001-of-00003.gguf', 'model-00002-of-00003.gguf', 'model-00003-of-00003.gguf']);
  const f = readGGUF(paths[0]);
  assert.deepEqual(f.files, paths);
  assert.equal(f.fileSize, paths.reduce((s, q) => s + fs.statSync(q).size, 0));
  assert.equal(getMeta(f, 'x.y'), 7);
  assert.equal(getMeta(f, 'split.count'), 3);
  assert.deepEqual(f.tensors.map((t) => t.name), tensors.map((t) => t.name));
  assert.equal(f.tensorMap.get('a.weight').file, paths[0]);
  assert.equal(f.tensorMap.get('d.norm').file, paths[2]);
  checkTensors(f, tensors);
  // opening a later shard
  assert.throws(() => readGGUF(paths[1]), (e) => e instanceof GGUFError && /open the first shard/.test(e.message));
  const single = readGGUF(paths[1], { singleFile: true });
  assert.deepEqual(single.tensors.map((t) => t.name), ['b.weight']);
  // wrong split.no in shard 2
  writeGGUF(paths[1], [{ key: 'split.no', ...gv.u16(5) }, { key: 'split.count', ...gv.u16(3) }], tensors.slice(2, 4));
  assert.throws(() => readGGUF(paths[0]), (e) => e instanceof GGUFError && e.file === paths[1] && /split.no is 5/.test(e.message));
  // wrong split.count in shard 2
  writeGGUF(paths[1], [{ key: 'split.no', ...gv.u16(1) }, { key: 'split.count', ...gv.u16(4) }], tensors.slice(2, 4));
  assert.throws(() => readGGUF(paths[0]), /split.count is 4, expected 3/);
  // missing shard
  writeGGUF(paths[1], [{ key: 'split.no', ...gv.u16(1) }, { key: 'split.count', ...gv.u16(3) }], tensors.slice(1, 2));
  assert.equal(readGGUF(paths[0]).tensors.length, 4);
  fs.rmSync(paths[2]);
  assert.throws(() => readGGUF(paths[0]), (e) => e instanceof GGUFError && /missing shard 3 of 3/.test(e.message));
  // split.count > 1 but the name does not follow the pattern
  const odd = path.join(tmp, 'renamed.gguf');
  fs.copyFileSync(paths[0], odd);
  assert.throws(() => readGGUF(odd), /cannot be located/);
  // duplicate tensor across shards
  const p2 = writeGGUFSplit(path.join(tmp, 'dup'), meta, [tensors[0], tensors[1]], 2);
  writeGGUF(p2[1], [{ key: 'split.no', ...gv.u16(1) }, { key: 'split.count', ...gv.u16(2) }], [tensors[0]]);
  assert.throws(() => readGGUF(p2[0]), /also appears in/);
});

// ---------------------------------------------------------------------------------------------
// Hand-built raw headers for targeted corruption.
const enc = new TextEncoder();
const cat = (...parts) => {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const U32 = (v) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
const U64 = (v) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); return b; };
const STR = (s) => { const b = typeof s === 'string' ? enc.encode(s) : s; return cat(U64(b.length), b); };
const KV = (key, type, valueBytes) => cat(STR(key), U32(type), valueBytes);
const INFO = (name, ne, type, offset) => cat(STR(name), U32(ne.length), ...ne.map(U64), U32(type), U64(offset));

function raw({ version = 3, magic = 0x46554747, kvs = [], infos = [], nT, nKV, dataBytes = 0, align = 32 }) {
  const head = cat(U32(magic), U32(version), U64(nT ?? infos.length), U64(nKV ?? kvs.length), ...kvs, ...infos);
  const pad = (align - (head.length % align)) % align;
  return cat(head, new Uint8Array(pad + dataBytes));
}

function expectGGUFError(bytes, re, label) {
  const p = tmpFile('bad');
  fs.writeFileSync(p, bytes);
  const t0 = Date.now();
  assert.throws(() => readGGUF(p), (e) => {
    assert.ok(e instanceof GGUFError, `${label}: expected GGUFError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.ok(!/internal parser error/.test(e.message), `${label}: ${e.message}`);
    assert.ok(e.message.startsWith(p), `${label}: message names the file`);
    if (re) assert.match(e.message, re, label);
    return true;
  }, label);
  assert.ok(Date.now() - t0 < 1000, `${label}: too slow`);
}

test('targeted corruptions give clear GGUFErrors', () => {
  const f32t = (name, n, off) => INFO(name, [n], G.F32, off);
  const ok = raw({ kvs: [KV('a', 4, U32(1))], infos: [f32t('t', 8, 0)], dataBytes: 32 });
  { const p = tmpFile('ok'); fs.writeFileSync(p, ok); assert.equal(readGGUF(p).tensors.length, 1); }

  expectGGUFError(new Uint8Array(0), /too small/, 'empty');
  expectGGUFError(raw({ magic: 0x12345678 }), /bad magic/, 'magic');
  expectGGUFError(raw({ version: 1 }), /version 1/, 'v1');
  expectGGUFError(raw({ version: 4 }), /unsupported GGUF version 4/, 'v4');
  expectGGUFError(raw({ version: 0x03000000 }), /big-endian/, 'big-endian');
  expectGGUFError(raw({ nT: 2n ** 60n }), /cannot fit/, 'tensor_count 2^60');
  expectGGUFError(raw({ nKV: 2n ** 64n - 1n }), /cannot fit/, 'kv_count 2^64-1');
  expectGGUFError(raw({ kvs: [cat(U64(2n ** 62n), enc.encode('abc'))], nKV: 1 }), /string length 4611686018427387904/, 'key length 2^62');
  expectGGUFError(raw({ kvs: [KV('s', 8, cat(U64(2n ** 62n), enc.encode('x')))] }), /string length/, 'value length 2^62');
  expectGGUFError(raw({ kvs: [KV('s', 8, STR('x'.repeat(100)))] }).subarray(0, 60), /truncated|exceeds the remaining/, 'string truncated');
  expectGGUFError(raw({ kvs: [KV('arr', 9, cat(U32(4), U64(2n ** 40n)))] }), /array length 1099511627776/, 'array count 2^40');
  expectGGUFError(raw({ kvs: [KV('arr', 9, cat(U32(4), U64(1000)))] }), /cannot fit/, 'array count > remaining');
  expectGGUFError(raw({ kvs: [KV('arr', 9, cat(U32(13), U64(1)))] }), /unknown array element type 13/, 'array elem type');
  expectGGUFError(raw({ kvs: [KV('k', 13, U32(0))] }), /unknown value type 13/, 'value type');
  {
    let nested = cat(U32(4), U64(0));
    for (let i = 0; i < 20; i++) nested = cat(U32(9), U64(1), nested);
    expectGGUFError(raw({ kvs: [KV('deep', 9, nested.subarray(0))] }), /nested deeper/, 'nesting');
  }
  expectGGUFError(raw({ kvs: [KV('a', 4, U32(1)), KV('a', 4, U32(2))] }), /duplicate metadata key "a"/, 'dup key');
  expectGGUFError(raw({ kvs: [KV(new Uint8Array([0x61, 0xff, 0xfe]), 4, U32(1))] }), /invalid UTF-8/, 'utf8 key');
  expectGGUFError(raw({ kvs: [KV('general.alignment', 4, U32(24))] }), /power of two/, 'alignment 24');
  expectGGUFError(raw({ kvs: [KV('general.alignment', 4, U32(0))] }), /power of two/, 'alignment 0');
  expectGGUFError(raw({ kvs: [KV('general.alignment', 8, STR('32'))] }), /power of two/, 'alignment string');
  expectGGUFError(cat(U32(0x46554747), U32(3), U64(2), U64(0), INFO('t', [8], G.F32, 0), STR('u'.repeat(22)), U32(1)), /truncated tensor info for tensor 1 \("u+"\) \(file ends at byte 91\)/, 'missing info');
  expectGGUFError(raw({ infos: [cat(STR('t'), U32(9999))], dataBytes: 64 }), /n_dims 9999/, 'n_dims 9999');
  expectGGUFError(raw({ infos: [cat(STR('t'), U32(0))], dataBytes: 64 }), /n_dims 0/, 'n_dims 0');
  expectGGUFError(raw({ infos: [INFO('t', [8, 0], G.F32, 0)], dataBytes: 64 }), /dimension 1 is 0/, 'ne 0');
  expectGGUFError(raw({ infos: [INFO('t', [2n ** 40n], G.F32, 0)], dataBytes: 64 }), /outside the file/, 'ne 2^40');
  expectGGUFError(raw({ infos: [INFO('t', [2n ** 40n, 2n ** 20n], G.F32, 0)], dataBytes: 64 }), /overflow/, 'ne product overflow');
  expectGGUFError(raw({ infos: [INFO('t', [2n ** 63n], G.F32, 0)], dataBytes: 64 }), /overflow/, 'ne 2^63');
  expectGGUFError(raw({ infos: [INFO('t', [2n ** 50n, 1], G.I64, 0)], dataBytes: 64 }), /byte size overflows|outside/, 'bytes overflow');
  expectGGUFError(raw({ infos: [INFO('t', [32], 99, 0)], dataBytes: 64 }), /unsupported tensor type 99 in tensor "t"/, 'type 99');
  expectGGUFError(raw({ infos: [INFO('t', [33], G.Q4_0, 0)], dataBytes: 64 }), /not a multiple of the Q4_0 block size 32/, 'block');
  expectGGUFError(raw({ infos: [f32t('t', 8, 16)], dataBytes: 64 }), /not a multiple of the alignment/, 'unaligned');
  expectGGUFError(raw({ infos: [f32t('t', 8, 64)], dataBytes: 64 }), /outside the file/, 'offset past end');
  expectGGUFError(raw({ infos: [f32t('t', 8, 2n ** 62n)], dataBytes: 64 }), /too large|outside/, 'offset 2^62');
  expectGGUFError(raw({ infos: [f32t('t', 8, 2n ** 64n - 32n)], dataBytes: 64 }), /too large/, 'offset 2^64-32');
  expectGGUFError(raw({ infos: [f32t('t', 16, 0), f32t('u', 8, 32)], dataBytes: 128 }), /overlap/, 'overlap');
  expectGGUFError(raw({ infos: [f32t('t', 8, 0), f32t('t', 8, 32)], dataBytes: 64 }), /duplicate tensor name "t"/, 'dup tensor');
  expectGGUFError(raw({ infos: [f32t(new Uint8Array([0xc3]), 8, 0)], dataBytes: 64 }), /invalid UTF-8/, 'utf8 name');
  // a known but uncomputable type (IQ2_XXS) is accepted by the reader (rejected at model load)
  { const p = tmpFile('iq2'); fs.writeFileSync(p, raw({ infos: [INFO('q', [256], G.IQ2_XXS, 0)], dataBytes: 96 })); assert.equal(readGGUF(p).tensors[0].typeName, 'IQ2_XXS'); }
  // limits from options
  {
    const p = tmpFile('lim');
    fs.writeFileSync(p, raw({ kvs: [KV('s', 8, STR('x'.repeat(100))), KV('a', 9, cat(U32(0), U64(50), new Uint8Array(50)))] }));
    assert.throws(() => readGGUF(p, { maxStringBytes: 50 }), (e) => e instanceof GGUFError && /limit of 50 bytes/.test(e.message));
    assert.throws(() => readGGUF(p, { maxArrayLength: 10 }), (e) => e instanceof GGUFError && /limit of 10/.test(e.message));
    assert.equal(readGGUF(p).metadata.get('a').length, 50);
  }
  // missing file and directory
  assert.throws(() => readGGUF(path.join(tmp, 'nope.gguf')), (e) => e instanceof GGUFError && /cannot open/.test(e.message));
  assert.throws(() => readGGUF(tmp), GGUFError);
});

function corpusBase() {
  const p = tmpFile('base');
  writeGGUF(p, [
    { key: 'general.architecture', ...gv.str('llama') },
    { key: 'n', ...gv.u32(3) },
    { key: 'tok', ...gv.arrStr(['a', 'bc', 'def']) },
    { key: 'sc', ...gv.arrF32([1, 2]) },
    { key: 'nest', ...gv.arr(VT.ARRAY, [gv.arr(VT.INT8, [1, 2])]) },
    { key: 'big', ...gv.u64(5) },
  ], someTensors());
  const bytes = fs.readFileSync(p);
  const f = readGGUF(p);
  const headerEnd = Math.min(...f.tensors.map((t) => t.offset));
  const dataEnd = Math.max(...f.tensors.map((t) => t.offset + t.byteLength));
  return { bytes: new Uint8Array(bytes), headerEnd, dataEnd };
}

/** Parse `bytes` from a file; must either succeed or throw a (non-internal) GGUFError. */
function parseOrGGUFError(p, bytes, label) {
  fs.writeFileSync(p, bytes);
  try {
    readGGUF(p);
    return true;
  } catch (e) {
    assert.ok(e instanceof GGUFError, `${label}: expected GGUFError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.ok(!/internal parser error/.test(e.message), `${label}: ${e.message}`);
    return false;
  }
}

test('broken-file corpus: truncation at every header byte and in the data', () => {
  const { bytes, headerEnd, dataEnd } = corpusBase();
  const p = tmpFile('trunc');
  const t0 = Date.now();
  for (let len = 0; len < headerEnd; len++) {
    assert.equal(parseOrGGUFError(p, bytes.subarray(0, len), `truncate ${len}`), false, `truncate at ${len} parsed`);
  }
  for (let len = headerEnd; len < dataEnd; len += 7) {
    assert.equal(parseOrGGUFError(p, bytes.subarray(0, len), `truncate ${len}`), false, `truncate at ${len} parsed`);
  }
  assert.ok(parseOrGGUFError(p, bytes, 'full'));
  assert.ok(Date.now() - t0 < 10000);
});

test('broken-file corpus: every header byte flipped (xor 0xff) and random byte noise', () => {
  const { bytes, headerEnd } = corpusBase();
  const p = tmpFile('flip');
  const t0 = Date.now();
  let errors = 0;
  for (let i = 0; i < headerEnd; i++) {
    const b = bytes.slice();
    b[i] ^= 0xff;
    if (!parseOrGGUFError(p, b, `flip byte ${i}`)) errors++;
  }
  assert.ok(errors > headerEnd / 2, `only ${errors} of ${headerEnd} flips detected`);
  const r = mulberry32(99);
  for (let k = 0; k < 300; k++) {
    const b = bytes.slice();
    for (let m = 0; m < 3; m++) b[Math.floor(r() * headerEnd)] = Math.floor(r() * 256);
    parseOrGGUFError(p, b, `noise ${k}`);
  }
  assert.ok(Date.now() - t0 < 15000);
});
