/**
 * GGUF reader (versions 2 and 3, little-endian; split files `name-0000k-of-0000N.gguf`).
 *
 * Layout: shared deepseek-reference.md section 11.1, ggml docs/gguf.md, ggml src/gguf.cpp.
 * Only the header is read (with fs.readSync in chunks); tensor data stays on disk and is read
 * on demand with readTensorData. Every field is validated before use so a corrupt or hostile
 * file gives a GGUFError naming the file and the problem, never a crash, hang or huge allocation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { typeName, typeTraits, type GGMLType } from './ggml-types.js';

export type GGUFScalar = number | bigint | boolean | string;
/** u64/i64 values are numbers when they are safe integers, bigints otherwise. */
export type GGUFValue = GGUFScalar | GGUFValue[];

export interface GGUFTensorInfo {
  name: string;
  type: GGMLType;
  typeName: string;
  /** outermost first (= ggml ne reversed): a [N rows, K] matrix has shape [N, K], ne [K, N] */
  shape: number[];
  /** ggml order, ne[0] innermost */
  ne: number[];
  /** path of the shard holding the data */
  file: string;
  /** absolute byte offset of the data in `file` */
  offset: number;
  byteLength: number;
}

export interface GGUFFile {
  path: string;
  files: string[];
  version: number;
  alignment: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  tensorMap: Map<string, GGUFTensorInfo>;
  /** total bytes over all shards */
  fileSize: number;
}

export interface ReadGGUFOptions {
  /** longest accepted string (key, value or tensor name) in bytes; default 16 MiB */
  maxStringBytes?: number;
  /** most elements in one metadata array; default 2^26 */
  maxArrayLength?: number;
  /** read only the given file even if it is one shard of a split model */
  singleFile?: boolean;
}

/** Any problem with a GGUF file. `file` is the path of the offending file (shard). */
export class GGUFError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'GGUFError';
    this.file = file;
  }
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
const MAX_NESTING = 8; // arrays of arrays deeper than this are surely corrupt (and would recurse)
const CHUNK = 1 << 20;
const MAX_DIMS = 4;

/** Smallest encoded size of one value of each metadata type (used to bound counts). */
const MIN_VALUE_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];
const VALUE_TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8');

/** Chunked little-endian reader over a file descriptor; every read is bounds-checked. */
class Reader {
  pos = 0;
  private buf = new Uint8Array(CHUNK);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private bufEnd = 0;
  /** what is being read, for error messages */
  ctx = 'header';

  constructor(private fd: number, readonly file: string, readonly size: number) {}

  fail(msg: string): never {
    throw new GGUFError(this.file, msg);
  }

  get remaining(): number {
    return this.size - this.pos;
  }

  /** Make bytes [pos, pos+n) (n <= CHUNK) available in the buffer; returns their buffer offset. */
  private ensure(n: number): number {
    if (this.pos + n > this.size) this.fail(`truncated ${this.ctx} (file ends at byte ${this.size})`);
    if (this.pos < this.bufStart || this.pos + n > this.bufEnd) {
      const want = Math.min(CHUNK, this.size - this.pos);
      const got = readFully(this.fd, this.buf, 0, want, this.pos);
      if (got < n) this.fail(`truncated ${this.ctx} (short read at byte ${this.pos + got}; file changed while reading?)`);
      this.bufStart = this.pos;
      this.bufEnd = this.pos + got;
    }
    return this.pos - this.bufStart;
  }

  u8(): number { const o = this.ensure(1); this.pos += 1; return this.buf[o]; }
  i8(): number { const o = this.ensure(1); this.pos += 1; return this.view.getInt8(o); }
  u16(): number { const o = this.ensure(2); this.pos += 2; return this.view.getUint16(o, true); }
  i16(): number { const o = this.ensure(2); this.pos += 2; return this.view.getInt16(o, true); }
  u32(): number { const o = this.ensure(4); this.pos += 4; return this.view.getUint32(o, true); }
  i32(): number { const o = this.ensure(4); this.pos += 4; return this.view.getInt32(o, true); }
  f32(): number { const o = this.ensure(4); this.pos += 4; return this.view.getFloat32(o, true); }
  f64(): number { const o = this.ensure(8); this.pos += 8; return this.view.getFloat64(o, true); }
  u64big(): bigint { const o = this.ensure(8); this.pos += 8; return this.view.getBigUint64(o, true); }
  i64big(): bigint { const o = this.ensure(8); this.pos += 8; return this.view.getBigInt64(o, true); }

  /** u64 that must fit a safe Number (counts, sizes, offsets). */
  u64n(what: string): number {
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`);
    return Number(v);
  }

  /** Raw bytes of length n (already validated against the file size). */
  bytes(n: number): Uint8Array {
    if (n <= CHUNK) {
      const o = this.ensure(n);
      this.pos += n;
      return this.buf.slice(o, o + n);
    }
    if (this.pos + n > this.size) this.fail(`truncated ${this.ctx} (file ends at byte ${this.size})`);
    const out = new Uint8Array(n);
    const got = readFully(this.fd, out, 0, n, this.pos);
    if (got < n) this.fail(`truncated ${this.ctx} (short read at byte ${this.pos + got})`);
    this.pos += n;
    return out;
  }

  /** gguf_string: u64 length + UTF-8 bytes. The length is checked before anything is allocated. */
  string(maxBytes: number, fatal: boolean): string {
    const start = this.pos;
    const len = this.u64big();
    if (len > BigInt(this.remaining)) {
      this.fail(`${this.ctx}: string length ${len} at byte ${start} exceeds the remaining ${this.remaining} bytes of the file`);
    }
    if (len > BigInt(maxBytes)) this.fail(`${this.ctx}: string length ${len} at byte ${start} exceeds the limit of ${maxBytes} bytes`);
    const b = this.bytes(Number(len));
    if (!fatal) return utf8Lossy.decode(b);
    try {
      return utf8Fatal.decode(b);
    } catch {
      return this.fail(`${this.ctx}: invalid UTF-8 in string at byte ${start}`);
    }
  }
}

/** fs.readSync until `len` bytes are read or EOF; returns the count read. */
function readFully(fd: number, dst: Uint8Array, off: number, len: number, pos: number): number {
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, dst, off + done, Math.min(len - done, 1 << 30), pos + done);
    if (n <= 0) break;
    done += n;
  }
  return done;
}

interface Parsed {
  file: string;
  version: number;
  alignment: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  size: number;
}

function readValue(r: Reader, type: number, depth: number, opts: Required<Omit<ReadGGUFOptions, 'singleFile'>>): GGUFValue {
  switch (type) {
    case 0: return r.u8();
    case 1: return r.i8();
    case 2: return r.u16();
    case 3: return r.i16();
    case 4: return r.u32();
    case 5: return r.i32();
    case 6: return r.f32();
    case 7: return r.u8() !== 0; // gguf.cpp accepts any byte; nonzero = true
    case 8: return r.string(opts.maxStringBytes, false);
    case 9: {
      if (depth >= MAX_NESTING) r.fail(`${r.ctx}: arrays nested deeper than ${MAX_NESTING} levels`);
      const start = r.pos;
      const et = r.u32();
      if (et > 12) r.fail(`${r.ctx}: unknown array element type ${et} at byte ${start}`);
      const count = r.u64big();
      if (count > BigInt(opts.maxArrayLength)) {
        r.fail(`${r.ctx}: array length ${count} at byte ${start} exceeds the limit of ${opts.maxArrayLength}`);
      }
      if (count * BigInt(MIN_VALUE_BYTES[et]) > BigInt(r.remaining)) {
        r.fail(`${r.ctx}: array of ${count} ${VALUE_TYPE_NAMES[et]} at byte ${start} cannot fit in the remaining ${r.remaining} bytes`);
      }
      const n = Number(count);
      const out: GGUFValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue(r, et, depth + 1, opts);
      return out;
    }
    case 10: { const v = r.u64big(); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
    case 11: {
      const v = r.i64big();
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(-Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 12: return r.f64();
    default: return r.fail(`${r.ctx}: unknown metadata value type ${type}`);
  }
}

function parseOne(file: string, opts: Required<Omit<ReadGGUFOptions, 'singleFile'>>): Parsed {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new GGUFError(file, `cannot open: ${(e as Error).message}`);
  }
  try {
    let size: number;
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new GGUFError(file, 'not a regular file');
      size = st.size;
    } catch (e) {
      if (e instanceof GGUFError) throw e;
      throw new GGUFError(file, `cannot stat: ${(e as Error).message}`);
    }
    if (!Number.isSafeInteger(size)) throw new GGUFError(file, `file size ${size} is too large`);
    try {
      return parseHeader(new Reader(fd, file, size), opts);
    } catch (e) {
      if (e instanceof GGUFError) throw e;
      // Safety net: any other exception is a parser bug, but still report it against the file.
      throw new GGUFError(file, `internal parser error: ${(e as Error)?.message ?? String(e)}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function parseHeader(r: Reader, opts: Required<Omit<ReadGGUFOptions, 'singleFile'>>): Parsed {
  r.ctx = 'header (magic)';
  if (r.size < 4) r.fail(`file too small to be GGUF (${r.size} bytes)`);
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) {
    r.fail(`bad magic 0x${magic.toString(16).padStart(8, '0')} (not a GGUF file; expected "GGUF")`);
  }
  r.ctx = 'header (version)';
  const version = r.u32();
  if (version === 1) r.fail('GGUF version 1 (32-bit counts) is obsolete and not supported; re-convert the model');
  if (version !== 2 && version !== 3) {
    // a byte-swapped small number means a big-endian file
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3) r.fail('big-endian GGUF files are not supported');
    r.fail(`unsupported GGUF version ${version} (supported: 2, 3)`);
  }
  r.ctx = 'header (counts)';
  const tensorCountBig = r.u64big();
  const kvCountBig = r.u64big();
  // Each KV needs >= 13 bytes (key length 8, type 4, value >= 1); each tensor info >= 32 bytes.
  if (kvCountBig * 13n + tensorCountBig * 32n > BigInt(r.remaining)) {
    r.fail(`tensor_count ${tensorCountBig} / metadata kv_count ${kvCountBig} cannot fit in the ${r.size}-byte file`);
  }
  const tensorCount = Number(tensorCountBig);
  const kvCount = Number(kvCountBig);

  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < kvCount; i++) {
    r.ctx = `metadata key ${i}`;
    const key = r.string(opts.maxStringBytes, true);
    if (metadata.has(key)) r.fail(`duplicate metadata key "${key}"`);
    r.ctx = `metadata value ${i} ("${key}")`;
    const type = r.u32();
    if (type > 12) r.fail(`metadata key "${key}" has unknown value type ${type}`);
    metadata.set(key, readValue(r, type, 0, opts));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al !== undefined) {
    if (typeof al !== 'number' || !Number.isInteger(al) || al <= 0 || al > 2 ** 30 || (al & (al - 1)) !== 0) {
      r.fail(`general.alignment must be a non-zero power of two, got ${String(al)}`);
    }
    alignment = al;
  }

  const infos: { name: string; ne: number[]; type: number; rel: number; bytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    r.ctx = `tensor info for tensor ${i}`;
    const name = r.string(opts.maxStringBytes, true);
    if (names.has(name)) r.fail(`duplicate tensor name "${name}"`);
    names.add(name);
    r.ctx = `tensor info for tensor ${i} ("${name}")`;
    const nDims = r.u32();
    if (nDims < 1 || nDims > MAX_DIMS) r.fail(`tensor "${name}": n_dims ${nDims} out of range 1..${MAX_DIMS}`);
    const ne: number[] = [];
    let nel = 1;
    for (let d = 0; d < nDims; d++) {
      const v = r.u64big();
      if (v < 1n) r.fail(`tensor "${name}": dimension ${d} is 0`);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || nel * Number(v) > Number.MAX_SAFE_INTEGER) {
        r.fail(`tensor "${name}": element count overflows (ne[${d}] = ${v})`);
      }
      ne.push(Number(v));
      nel *= Number(v);
    }
    const type = r.u32();
    const tr = typeTraits(type);
    if (!tr) r.fail(`unsupported tensor type ${type} in tensor "${name}"`);
    if (ne[0] % tr.blockSize !== 0) {
      r.fail(`tensor "${name}": ne[0] = ${ne[0]} is not a multiple of the ${tr.name} block size ${tr.blockSize}`);
    }
    const bytes = (nel / tr.blockSize) * tr.typeSize;
    if (!Number.isSafeInteger(bytes)) r.fail(`tensor "${name}": byte size overflows`);
    const rel = r.u64n(`tensor "${name}": data offset`);
    if (rel % alignment !== 0) r.fail(`tensor "${name}": data offset ${rel} is not a multiple of the alignment ${alignment}`);
    infos.push({ name, ne, type, rel, bytes });
  }

  const dataStart = Math.ceil(r.pos / alignment) * alignment;
  const tensors: GGUFTensorInfo[] = infos.map((t) => {
    const offset = dataStart + t.rel;
    if (offset + t.bytes > r.size) {
      r.fail(`data of tensor "${t.name}" (bytes ${offset}..${offset + t.bytes}) lies outside the file (size ${r.size})`);
    }
    return {
      name: t.name, type: t.type as GGMLType, typeName: typeName(t.type), shape: [...t.ne].reverse(), ne: t.ne,
      file: r.file, offset, byteLength: t.bytes,
    };
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1], c = sorted[i];
    if (c.offset < p.offset + p.byteLength) r.fail(`tensors "${p.name}" and "${c.name}" overlap`);
  }
  return { file: r.file, version, alignment, metadata, tensors, size: r.size };
}

const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

function metaInt(p: Parsed, key: string): number | undefined {
  const v = p.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new GGUFError(p.file, `${key} must be an integer, got ${String(v)}`);
  return v;
}

/**
 * Parse a GGUF file's header (and, for split models opened at their first shard, every shard's).
 * Throws GGUFError for any invalid, truncated or inconsistent file.
 */
export function readGGUF(file: string, opts: ReadGGUFOptions = {}): GGUFFile {
  const o = {
    maxStringBytes: opts.maxStringBytes ?? 16 * 1024 * 1024,
    maxArrayLength: opts.maxArrayLength ?? 2 ** 26,
  };
  const first = parseOne(file, o);
  const shards = [first];
  const m = SPLIT_RE.exec(path.basename(file));
  let count = metaInt(first, 'split.count');
  const no = metaInt(first, 'split.no');
  if (count === undefined && m && Number(m[3]) > 1) count = Number(m[3]); // name pattern says it is split
  if (!opts.singleFile && count !== undefined && count > 1) {
    const myNo = no ?? (m ? Number(m[2]) - 1 : 0);
    if (myNo !== 0) {
      throw new GGUFError(file, `this is shard ${myNo + 1} of ${count} of a split model; open the first shard (-00001-of-…)`);
    }
    if (!m) {
      throw new GGUFError(file, `split.count = ${count} but the file name does not follow the name-00001-of-0000N.gguf pattern, so the other shards cannot be located`);
    }
    if (Number(m[3]) !== count) throw new GGUFError(file, `split.count = ${count} disagrees with the file name (of ${m[3]})`);
    const dir = path.dirname(file);
    for (let k = 2; k <= count; k++) {
      const sp = path.join(dir, `${m[1]}-${String(k).padStart(5, '0')}-of-${m[3]}.gguf`);
      if (!fs.existsSync(sp)) throw new GGUFError(file, `missing shard ${k} of ${count}: ${sp}`);
      const p = parseOne(sp, o);
      const pc = metaInt(p, 'split.count'), pn = metaInt(p, 'split.no');
      if ((pc !== undefined || no !== undefined) && pc !== count) {
        throw new GGUFError(sp, `split.count is ${pc ?? 'missing'}, expected ${count} (shard 1 says so)`);
      }
      if ((pn !== undefined || no !== undefined) && pn !== k - 1) {
        throw new GGUFError(sp, `split.no is ${pn ?? 'missing'}, expected ${k - 1} for shard ${k}`);
      }
      shards.push(p);
    }
  }
  const tensors: GGUFTensorInfo[] = [];
  const tensorMap = new Map<string, GGUFTensorInfo>();
  let fileSize = 0;
  for (const s of shards) {
    fileSize += s.size;
    for (const t of s.tensors) {
      if (tensorMap.has(t.name)) throw new GGUFError(s.file, `tensor "${t.name}" also appears in ${tensorMap.get(t.name)!.file}`);
      tensorMap.set(t.name, t);
      tensors.push(t);
    }
  }
  if (shards.length > 1) {
    const total = metaInt(first, 'split.tensors.count');
    if (total !== undefined && total !== tensors.length) {
      throw new GGUFError(file, `split.tensors.count = ${total} but the ${shards.length} shards hold ${tensors.length} tensors`);
    }
  }
  return {
    path: file, files: shards.map((s) => s.file), version: first.version, alignment: first.alignment,
    metadata: first.metadata, tensors, tensorMap, fileSize,
  };
}

/** Read a tensor's bytes from disk into dst[0 .. byteLength). */
export function readTensorData(info: GGUFTensorInfo, dst: Uint8Array): void {
  if (dst.length < info.byteLength) {
    throw new Error(`readTensorData: destination has ${dst.length} bytes, tensor "${info.name}" needs ${info.byteLength}`);
  }
  let fd: number;
  try {
    fd = fs.openSync(info.file, 'r');
  } catch (e) {
    throw new GGUFError(info.file, `cannot open: ${(e as Error).message}`);
  }
  try {
    const got = readFully(fd, dst, 0, info.byteLength, info.offset);
    if (got < info.byteLength) {
      throw new GGUFError(info.file, `short read of tensor "${info.name}": got ${got} of ${info.byteLength} bytes at offset ${info.offset} (file truncated?)`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Typed metadata lookup (no conversion; check the type if the file is untrusted). */
export function getMeta<T extends GGUFValue>(f: GGUFFile, key: string): T | undefined {
  return f.metadata.get(key) as T | undefined;
}
