/**
 * GGUF writer (v3 by default, v2 on request; little-endian), used for test fixtures, benchmark
 * files and conversions. The header is built in memory; tensor data is streamed to the file one
 * tensor at a time (a data thunk lets callers generate each tensor only when it is written), so
 * multi-GB files never sit in memory. Layout: shared deepseek-reference.md section 11.1.
 */
import * as fs from 'node:fs';
import { typeName, typeTraits, type GGMLType } from './ggml-types.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from './gguf.js';

export enum GGUFValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/**
 * One metadata entry. For ARRAY, `value` is an array of elements of `arrayType`; for nested
 * arrays (arrayType ARRAY) each element is itself `{ arrayType, value }` (e.g. from gv.arr()).
 */
export interface GGUFMetaEntry { key: string; type: GGUFValueType; value: unknown; arrayType?: GGUFValueType }
export type GGUFTypedValue = Omit<GGUFMetaEntry, 'key'>;

export interface GGUFWriteTensor {
  name: string;
  type: GGMLType;
  /** outermost first (ggml ne reversed) */
  shape: number[];
  data: Uint8Array | (() => Uint8Array);
}

export interface WriteGGUFOptions { version?: 2 | 3; alignment?: number }

const T = GGUFValueType;
/** Convenience constructors: `{ key: 'llama.block_count', ...gv.u32(2) }`. */
export const gv = {
  u8: (v: number): GGUFTypedValue => ({ type: T.UINT8, value: v }),
  i8: (v: number): GGUFTypedValue => ({ type: T.INT8, value: v }),
  u16: (v: number): GGUFTypedValue => ({ type: T.UINT16, value: v }),
  i16: (v: number): GGUFTypedValue => ({ type: T.INT16, value: v }),
  u32: (v: number): GGUFTypedValue => ({ type: T.UINT32, value: v }),
  i32: (v: number): GGUFTypedValue => ({ type: T.INT32, value: v }),
  f32: (v: number): GGUFTypedValue => ({ type: T.FLOAT32, value: v }),
  f64: (v: number): GGUFTypedValue => ({ type: T.FLOAT64, value: v }),
  bool: (v: boolean): GGUFTypedValue => ({ type: T.BOOL, value: v }),
  str: (v: string): GGUFTypedValue => ({ type: T.STRING, value: v }),
  u64: (v: number | bigint): GGUFTypedValue => ({ type: T.UINT64, value: v }),
  i64: (v: number | bigint): GGUFTypedValue => ({ type: T.INT64, value: v }),
  /** generic array; for nested arrays pass elemType ARRAY and elements made by gv.arr() */
  arr: (elemType: GGUFValueType, v: unknown[]): GGUFTypedValue => ({ type: T.ARRAY, value: v, arrayType: elemType }),
  arrStr: (v: string[]): GGUFTypedValue => ({ type: T.ARRAY, value: v, arrayType: T.STRING }),
  arrI32: (v: ArrayLike<number>): GGUFTypedValue => ({ type: T.ARRAY, value: Array.from(v), arrayType: T.INT32 }),
  arrU32: (v: ArrayLike<number>): GGUFTypedValue => ({ type: T.ARRAY, value: Array.from(v), arrayType: T.UINT32 }),
  arrF32: (v: ArrayLike<number>): GGUFTypedValue => ({ type: T.ARRAY, value: Array.from(v), arrayType: T.FLOAT32 }),
  arrU8: (v: ArrayLike<number>): GGUFTypedValue => ({ type: T.ARRAY, value: Array.from(v), arrayType: T.UINT8 }),
  arrBool: (v: boolean[]): GGUFTypedValue => ({ type: T.ARRAY, value: v, arrayType: T.BOOL }),
};

const textEncoder = new TextEncoder();

/** Growable little-endian byte buffer for the header. */
class Sink {
  buf = new Uint8Array(1 << 16);
  view = new DataView(this.buf.buffer);
  len = 0;
  private grow(n: number): number {
    if (this.len + n > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.len + n) cap *= 2;
      const nb = new Uint8Array(cap);
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
      this.view = new DataView(nb.buffer);
    }
    const o = this.len;
    this.len += n;
    return o;
  }
  // grow() may replace the buffer, so take the offset before touching this.view
  u8(v: number) { const o = this.grow(1); this.view.setUint8(o, v); }
  i8(v: number) { const o = this.grow(1); this.view.setInt8(o, v); }
  u16(v: number) { const o = this.grow(2); this.view.setUint16(o, v, true); }
  i16(v: number) { const o = this.grow(2); this.view.setInt16(o, v, true); }
  u32(v: number) { const o = this.grow(4); this.view.setUint32(o, v, true); }
  i32(v: number) { const o = this.grow(4); this.view.setInt32(o, v, true); }
  f32(v: number) { const o = this.grow(4); this.view.setFloat32(o, v, true); }
  f64(v: number) { const o = this.grow(8); this.view.setFloat64(o, v, true); }
  u64(v: bigint) { const o = this.grow(8); this.view.setBigUint64(o, v, true); }
  i64(v: bigint) { const o = this.grow(8); this.view.setBigInt64(o, v, true); }
  bytes(b: Uint8Array) { const o = this.grow(b.length); this.buf.set(b, o); }
  str(s: string) { const b = textEncoder.encode(s); this.u64(BigInt(b.length)); this.bytes(b); }
}

function intIn(key: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`gguf writer: metadata "${key}": ${String(v)} is not an integer in ${lo}..${hi}`);
  }
  return v;
}

function writeValue(s: Sink, key: string, type: GGUFValueType, value: unknown, arrayType: GGUFValueType | undefined, depth = 0): void {
  switch (type) {
    case T.UINT8: s.u8(intIn(key, value, 0, 255)); return;
    case T.INT8: s.i8(intIn(key, value, -128, 127)); return;
    case T.UINT16: s.u16(intIn(key, value, 0, 65535)); return;
    case T.INT16: s.i16(intIn(key, value, -32768, 32767)); return;
    case T.UINT32: s.u32(intIn(key, value, 0, 2 ** 32 - 1)); return;
    case T.INT32: s.i32(intIn(key, value, -(2 ** 31), 2 ** 31 - 1)); return;
    case T.FLOAT32: case T.FLOAT64:
      if (typeof value !== 'number') throw new Error(`gguf writer: metadata "${key}": expected a number`);
      if (type === T.FLOAT32) s.f32(value); else s.f64(value);
      return;
    case T.BOOL: s.u8(value ? 1 : 0); return;
    case T.STRING:
      if (typeof value !== 'string') throw new Error(`gguf writer: metadata "${key}": expected a string`);
      s.str(value);
      return;
    case T.UINT64: case T.INT64: {
      if (typeof value !== 'bigint' && !(typeof value === 'number' && Number.isInteger(value))) {
        throw new Error(`gguf writer: metadata "${key}": expected an integer or bigint`);
      }
      const b = BigInt(value);
      if (type === T.UINT64) {
        if (b < 0n || b >= 1n << 64n) throw new Error(`gguf writer: metadata "${key}": ${b} out of u64 range`);
        s.u64(b);
      } else {
        if (b < -(1n << 63n) || b >= 1n << 63n) throw new Error(`gguf writer: metadata "${key}": ${b} out of i64 range`);
        s.i64(b);
      }
      return;
    }
    case T.ARRAY: {
      if (!Array.isArray(value)) throw new Error(`gguf writer: metadata "${key}": array value expected`);
      if (arrayType === undefined || arrayType < 0 || arrayType > 12) {
        throw new Error(`gguf writer: metadata "${key}": missing or invalid arrayType`);
      }
      s.u32(arrayType);
      s.u64(BigInt(value.length));
      for (const el of value) {
        if (arrayType === T.ARRAY) {
          const inner = el as { arrayType?: GGUFValueType; value?: unknown };
          if (inner === null || typeof inner !== 'object' || !Array.isArray(inner.value)) {
            throw new Error(`gguf writer: metadata "${key}": nested array elements must be { arrayType, value }`);
          }
          writeValue(s, key, T.ARRAY, inner.value, inner.arrayType, depth + 1);
        } else {
          writeValue(s, key, arrayType, el, undefined, depth + 1);
        }
      }
      return;
    }
    default: throw new Error(`gguf writer: metadata "${key}": unknown value type ${String(type)}`);
  }
}

interface Planned { t: GGUFWriteTensor; ne: number[]; bytes: number; rel: number }

function planTensors(tensors: GGUFWriteTensor[], alignment: number): Planned[] {
  const seen = new Set<string>();
  let rel = 0;
  return tensors.map((t) => {
    if (seen.has(t.name)) throw new Error(`gguf writer: duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const tr = typeTraits(t.type);
    if (!tr) throw new Error(`gguf writer: tensor "${t.name}": unknown type ${t.type}`);
    if (t.shape.length < 1 || t.shape.length > 4 || t.shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new Error(`gguf writer: tensor "${t.name}": bad shape [${t.shape.join(', ')}]`);
    }
    const ne = [...t.shape].reverse();
    if (ne[0] % tr.blockSize !== 0) {
      throw new Error(`gguf writer: tensor "${t.name}": innermost dimension ${ne[0]} is not a multiple of the ${tr.name} block size ${tr.blockSize}`);
    }
    const bytes = (ne.reduce((a, b) => a * b, 1) / tr.blockSize) * tr.typeSize;
    const p = { t, ne, bytes, rel };
    rel += Math.ceil(bytes / alignment) * alignment;
    return p;
  });
}

function writeAll(fd: number, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, Math.min(b.length - off, 1 << 30));
}

/** Write a complete GGUF file: header, padding, then each tensor's data padded to the alignment. */
export function writeGGUF(file: string, meta: GGUFMetaEntry[], tensors: GGUFWriteTensor[], opts: WriteGGUFOptions = {}): void {
  const version = opts.version ?? 3;
  if (version !== 2 && version !== 3) throw new Error(`gguf writer: unsupported version ${String(version)}`);
  const metaAlign = meta.find((m) => m.key === 'general.alignment');
  const alignment = opts.alignment ?? (metaAlign ? Number(metaAlign.value) : GGUF_DEFAULT_ALIGNMENT);
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new Error(`gguf writer: alignment ${alignment} is not a power of two`);
  }
  if (metaAlign && Number(metaAlign.value) !== alignment) {
    throw new Error(`gguf writer: general.alignment ${String(metaAlign.value)} conflicts with alignment option ${alignment}`);
  }
  const entries = [...meta];
  if (!metaAlign && alignment !== GGUF_DEFAULT_ALIGNMENT) entries.push({ key: 'general.alignment', ...gv.u32(alignment) });
  const keys = new Set<string>();
  for (const e of entries) {
    if (keys.has(e.key)) throw new Error(`gguf writer: duplicate metadata key "${e.key}"`);
    keys.add(e.key);
  }

  const plan = planTensors(tensors, alignment);
  const s = new Sink();
  s.u32(GGUF_MAGIC);
  s.u32(version);
  s.u64(BigInt(plan.length));
  s.u64(BigInt(entries.length));
  for (const e of entries) {
    s.str(e.key);
    s.u32(e.type);
    writeValue(s, e.key, e.type, e.value, e.arrayType);
  }
  for (const p of plan) {
    s.str(p.t.name);
    s.u32(p.ne.length);
    for (const d of p.ne) s.u64(BigInt(d));
    s.u32(p.t.type);
    s.u64(BigInt(p.rel));
  }
  const pad = (n: number) => (alignment - (n % alignment)) % alignment;
  const zeros = new Uint8Array(alignment);
  const fd = fs.openSync(file, 'w');
  let ok = false;
  try {
    writeAll(fd, s.buf.subarray(0, s.len));
    writeAll(fd, zeros.subarray(0, pad(s.len)));
    for (const p of plan) {
      const data = typeof p.t.data === 'function' ? p.t.data() : p.t.data;
      if (!(data instanceof Uint8Array) || data.length !== p.bytes) {
        throw new Error(`gguf writer: tensor "${p.t.name}" (${typeName(p.t.type)} [${p.t.shape.join(', ')}]) needs ${p.bytes} bytes of data, got ${(data as Uint8Array)?.length}`);
      }
      writeAll(fd, data);
      writeAll(fd, zeros.subarray(0, pad(p.bytes)));
    }
    ok = true;
  } finally {
    fs.closeSync(fd);
    if (!ok) fs.rmSync(file, { force: true }); // never leave a half-written file that looks like a model
  }
}

/**
 * Write a split model like llama.cpp's gguf-split: `${pathPrefix}-0000k-of-0000N.gguf`, tensors in
 * contiguous groups of near-equal count, all metadata in shard 1, and split.no (u16), split.count (u16),
 * split.tensors.count (i32) in every shard. Returns the shard paths in order.
 */
export function writeGGUFSplit(
  pathPrefix: string, meta: GGUFMetaEntry[], tensors: GGUFWriteTensor[], nShards: number, opts: WriteGGUFOptions = {},
): string[] {
  if (!Number.isInteger(nShards) || nShards < 1 || nShards > 99999) throw new Error(`gguf writer: bad shard count ${nShards}`);
  const n5 = String(nShards).padStart(5, '0');
  const paths: string[] = [];
  const base = meta.filter((m) => !m.key.startsWith('split.'));
  const align = meta.filter((m) => m.key === 'general.alignment');
  for (let k = 0; k < nShards; k++) {
    const p = `${pathPrefix}-${String(k + 1).padStart(5, '0')}-of-${n5}.gguf`;
    const split: GGUFMetaEntry[] = [
      { key: 'split.no', ...gv.u16(k) },
      { key: 'split.count', ...gv.u16(nShards) },
      { key: 'split.tensors.count', ...gv.i32(tensors.length) },
    ];
    writeGGUF(p, k === 0 ? [...base, ...split] : [...align, ...split], tensors.slice(Math.floor((k * tensors.length) / nShards), Math.floor(((k + 1) * tensors.length) / nShards)), opts);
    paths.push(p);
  }
  return paths;
}
