/**
 * WebAssembly CPU backend: kernels on shared memories, run by the leader thread plus spinning
 * helper workers (pool.ts).
 *
 * Kernel module: build/wasm/kernels-relaxed.wasm (relaxed SIMD: Q4_0 and Q4_K weights are repacked at
 * load into the X4 layouts of as/matmul_x4.ts and multiplied with i16x8.relaxed_dot_i8x16_i7x16_s) when
 * the engine compiles it, else build/wasm/kernels.wasm (SIMD128 only: Q4_0 and Q4_K in the same X4
 * layouts, multiplied as int16 by as/matmul_q4x4.ts). Q8_0 weights are repacked into their X4 layout
 * (as/matmul_q8x4.ts, SIMD128) with either module.
 * DEEPCARD_SIMD=plain or `simd: 'plain'` forces the SIMD128 module.
 *
 * Memory: arena 0 holds activations, caches and scratch, and weights while it has room (keeping
 * `activationReserveBytes` free); further weights go to arenas 1, 2, ... each one a separate wasm
 * memory with its own kernel instance in every thread, so models larger than 4 GiB still load.
 * A matmul whose weight lives in arena a > 0 copies the converted activation into arena a's
 * scratch and copies the product back (small next to the weight stream).
 *
 * Numerics follow llama.cpp's CPU backend: the activation is converted once per distinct
 * vec_dot_type (quant_* kernels) and multiplied with mm_<type>; see ops/types.ts.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import {
  GGMLType, SUPPORTED_WEIGHT_TYPES, rowBytes, typeName, typeTraits, vecDotType,
} from '../../formats/ggml-types.js';
import type { AttentionSpec, Backend, MatmulJob, RopeSpec, Tensor } from '../../ops/types.js';
import { dequantize } from '../../ops/dequant.js';
import { Arena, align, MAX_ARENA_BYTES } from './arena.js';
import { CTL, Elt, MAX_MM_JOBS, MM_STRIDE, Op, WARM_BYTES, mmName, quantName, X4_KIND } from './jobs.js';
import { WA, type WasmModule } from './wasm-api.js';
import { ThreadPool } from './pool.js';
import { WasmTensor, shapeSize, tensorBytes } from './tensor.js';
import * as mla from './mla-ops.js';

export interface WasmBackendOptions {
  /** Compute threads including the caller (default: os.availableParallelism()). */
  threads?: number;
  /** Size limit of one arena (wasm memory), default 4 GiB; small values shard tiny models (tests). */
  arenaBytes?: number;
  /** Arena 0 space kept free of weights for activations and caches (default min(1 GiB, arenaBytes / 4)). */
  activationReserveBytes?: number;
  /**
   * Kernel module file. Default: build/wasm/kernels-relaxed.wasm when relaxed SIMD is available
   * (and not turned off by `simd`), else build/wasm/kernels.wasm.
   */
  wasmPath?: string | URL;
  /**
   * 'auto' (default): the relaxed-SIMD module if the engine compiles it, else the SIMD128 one;
   * 'plain': always the SIMD128 module; 'relaxed': the relaxed module or an error. The environment
   * variable DEEPCARD_SIMD (plain | relaxed | auto) is the default of this option.
   */
  simd?: 'auto' | 'relaxed' | 'plain';
  /** Idle time before a helper parks in Atomics.wait (ms, default 4). */
  spinMs?: number;
}

/** Elementwise ops on fewer elements than this run inline on the leader (decode-sized). */
const PAR_ELEMS = 1 << 16;
/** Weights and allocF32 blocks from this size on have their fresh pages faulted in by all threads (touch). */
const TOUCH_MIN = 2 << 20;
/** A matmul chunk should carry at least this many weight bytes x tokens of work. */
const MIN_CHUNK_BYTES = 32 * 1024;
/** Matmul chunk boundaries are multiples of this many rows (kernels may group rows). */
const ROW_ALIGN = 16;

let nextBackendId = 1;
const moduleCache = new Map<string, Promise<WasmModule>>();
const PLAIN_URL = new URL('../../../build/wasm/kernels.wasm', import.meta.url);
const RELAXED_URL = new URL('../../../build/wasm/kernels-relaxed.wasm', import.meta.url);

/** One compiled module per file and process: backends then share V8's optimized kernel code. */
function compileModule(url: string | URL): Promise<WasmModule> {
  const key = String(url);
  let p = moduleCache.get(key);
  if (!p) {
    p = readFile(url).then((bytes) => WA.compile(bytes), (e: Error) => {
      throw new Error(`wasm backend: cannot read kernel module ${key} (run node scripts/build-wasm.js): ${e.message}`);
    });
    moduleCache.set(key, p);
    p.catch(() => moduleCache.delete(key));
  }
  return p;
}

let relaxedFlagSet = false;
/**
 * The relaxed-SIMD module, or null when this engine rejects it. Node 20 (V8 11.3) needs
 * --experimental-wasm-relaxed-simd, set here before the first compile of the module; newer
 * engines accept it without the flag.
 */
async function relaxedModule(): Promise<WasmModule | null> {
  if (!relaxedFlagSet) {
    relaxedFlagSet = true;
    try { setFlagsFromString('--experimental-wasm-relaxed-simd'); } catch { /* unknown flag: newer engine */ }
  }
  try {
    return await compileModule(RELAXED_URL);
  } catch {
    return null;
  }
}

function simdMode(opt: WasmBackendOptions['simd']): 'auto' | 'relaxed' | 'plain' {
  const v = opt ?? (process.env['DEEPCARD_SIMD'] || 'auto');
  if (v !== 'auto' && v !== 'relaxed' && v !== 'plain') {
    throw new Error(`wasm backend: simd must be auto, relaxed or plain (DEEPCARD_SIMD), got ${JSON.stringify(v)}`);
  }
  return v;
}

/** One matmul job, validated (records are reused across calls). */
interface MmJob { i: number; w: WasmTensor; o: WasmTensor; bias: WasmTensor | null; N: number; vdt: GGMLType; rb: number }
/** Scratch layout of one far weight arena: converted inputs by dot type, outputs by job index. */
interface FarLayout { base: number; xq: Map<GGMLType, number>; y: Map<number, number> }

export class WasmBackend implements Backend {
  readonly name = 'wasm';
  private readonly id = nextBackendId++;
  private readonly arenas: Arena[] = [];
  private readonly pool: ThreadPool;
  private readonly arenaBytes: number;
  private readonly reserve0: number;
  private readonly reserveW: number;
  private readonly smallWeight: number;
  private weightArena = 0;
  private disposed = false;
  private tiledMatmuls = 0;
  private readonly mmJobs: MmJob[] = [];
  private readonly vdtOff = new Int32Array(64);
  private readonly usedVdt = new Int32Array(8);
  /** Weight types the kernel module multiplies (mm_<type> exported). */
  private readonly mmTypes = new Set<number>();
  /** Weights currently in arena 0 (candidates to move out when activations need the room). */
  private readonly weights0 = new Set<WasmTensor>();
  private readonly scratchBlocks = new Map<string, { arena: number; ptr: number; cap: number }>();
  private readonly hasDequant = new Map<number, string | null>();

  static async create(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
    if (opts.wasmPath !== undefined) return new WasmBackend(await compileModule(opts.wasmPath), opts);
    const mode = simdMode(opts.simd);
    if (mode !== 'plain') {
      const m = await relaxedModule();
      if (m) return new WasmBackend(m, opts);
      if (mode === 'relaxed') {
        throw new Error('wasm backend: relaxed SIMD requested (simd: \'relaxed\' / DEEPCARD_SIMD=relaxed) but this engine cannot compile build/wasm/kernels-relaxed.wasm');
      }
    }
    return new WasmBackend(await compileModule(PLAIN_URL), opts);
  }

  constructor(readonly module: WasmModule, opts: WasmBackendOptions = {}) {
    const threads = opts.threads ?? availableParallelism();
    this.arenaBytes = Math.floor((opts.arenaBytes ?? MAX_ARENA_BYTES) / 65536) * 65536;
    if (!(this.arenaBytes >= 65536 && this.arenaBytes <= MAX_ARENA_BYTES)) {
      throw new Error(`wasm backend: arenaBytes must be between 64 KiB and 4 GiB, got ${opts.arenaBytes}`);
    }
    this.reserve0 = opts.activationReserveBytes ?? Math.min(1 << 30, Math.floor(this.arenaBytes / 4));
    this.reserveW = Math.min(64 << 20, Math.floor(this.arenaBytes / 8));
    this.smallWeight = Math.min(1 << 20, Math.floor(this.arenaBytes / 64));
    this.pool = new ThreadPool({ threads, module, spinMs: opts.spinMs ?? 4 });
    const a0 = this.openArena();
    for (const t of SUPPORTED_WEIGHT_TYPES) if (a0.kernels.fns.has(mmName(t))) this.mmTypes.add(t);
    this.relaxed = a0.kernels.fns.has('relaxed_simd');
    for (const t of [GGMLType.Q4_0, GGMLType.Q8_0, GGMLType.Q4_K]) {
      const lower = typeName(t).toLowerCase();
      if (a0.kernels.fns.has(`repack_${lower}_x4`) && a0.kernels.fns.has(`unpack_row_${lower}_x4`) && a0.kernels.fns.has(mmName(t | X4_KIND))) {
        this.x4Types.set(t, { repack: `repack_${lower}_x4`, unpack: `unpack_row_${lower}_x4`, blk: typeTraits(t)!.blockSize });
      }
    }
  }

  /** Weight types repacked at load into their X4 layout (the module has repack_*_x4, unpack_row_*_x4 and mm_*_x4). */
  private readonly x4Types = new Map<GGMLType, { repack: string; unpack: string; blk: number }>();
  /** 'relaxed' when the relaxed-SIMD kernel module is in use, else 'plain' (the SIMD128 module). */
  get simd(): 'relaxed' | 'plain' { return this.relaxed ? 'relaxed' : 'plain'; }
  private readonly relaxed: boolean;

  /** Internals handed to the MLA / MoE ops of mla-ops.ts. */
  private readonly ctx: mla.OpsContext = (() => {
    const self = this;
    return {
      arena: (i: number) => self.arenas[i]!,
      get threads() { return self.threads; },
      get ctl() { return self.pool.ctl; },
      exec: (op: Op, chunks: number, parallel: boolean) => self.pool.exec(op, chunks, parallel),
      tryScratch: (a: number, k: string, b: number) => self.tryScratch(a, k, b),
      quantize: (v: GGMLType, xp: number, op: number, K: number, T: number) => self.quantize(v, xp, op, K, T),
      copyBytes: (da: number, dp: number, sa: number, sp: number, n: number) => self.copyBytes(da, dp, sa, sp, n),
    };
  })();

  get threads(): number { return this.pool.threads; }
  /** Number of wasm memories in use (> 1 when weights were sharded). */
  get arenaCount(): number { return this.arenas.length; }

  private openArena(): Arena {
    const a = new Arena(this.arenas.length, this.module, this.arenaBytes, this.pool.threads);
    this.arenas.push(a);
    this.pool.addArena(a.index, a.memory, a.kernels, a.scratchBytes);
    return a;
  }

  // ---- memory ---------------------------------------------------------------------------------

  private t(x: Tensor, what: string): WasmTensor {
    if (this.disposed) throw new Error(`${what}: wasm backend used after dispose()`);
    if (!(x instanceof WasmTensor) || x.backendId !== this.id) {
      throw new Error(`${what}: tensor ${(x as Tensor | null)?.name ?? String(x)} does not belong to this wasm backend`);
    }
    if ((x.root ?? x).freed) throw new Error(`${what}: tensor ${x.name} used after free`);
    return x;
  }

  private f32(x: Tensor, what: string): WasmTensor {
    const w = this.t(x, what);
    if (w.type !== GGMLType.F32) throw new Error(`${what}: tensor ${w.name} must be F32, is ${typeName(w.type)}`);
    return w;
  }

  /** An F32 output: must live in arena 0 where the elementwise kernels run. */
  private out(x: Tensor, what: string): WasmTensor {
    const w = this.f32(x, what);
    if (w.arena !== 0) throw new Error(`${what}: output ${w.name} must be an activation tensor (allocF32), not a weight`);
    return w;
  }

  allocF32(shape: readonly number[], name = 'f32'): Tensor {
    if (this.disposed) throw new Error(`allocF32 ${name}: wasm backend used after dispose()`);
    const size = shapeSize(shape, `allocF32 ${name}`);
    const bytes = size * 4;
    const a = this.arenas[0]!;
    let ptr = a.alloc(bytes);
    if (ptr < 0) ptr = this.evictFor(bytes);
    if (ptr < 0) {
      throw new Error(`allocF32 ${name}: ${bytes} bytes do not fit in wasm arena 0 (limit ${a.limitBytes}, in use ${a.used})`);
    }
    if (!this.touch(0, ptr, bytes, true)) a.u8.fill(0, ptr, ptr + bytes);
    return new WasmTensor(this.id, name, GGMLType.F32, [...shape], size, 0, ptr, bytes, null);
  }

  /**
   * Fault in (zero: and zero) [ptr, ptr + bytes) of an arena on all threads, a share each: the
   * first write to a fresh page of wasm memory costs the operating system more than copying a page
   * (loading 1 GB of weights: 0.59 s of faults, 0.14 s of copying). False (nothing done) for small
   * ranges or one thread.
   */
  private touch(arena: number, ptr: number, bytes: number, zero: boolean): boolean {
    if (this.threads < 2 || bytes < TOUCH_MIN) return false;
    const c = this.args, A = CTL.ARGS;
    const bpc = Math.max(1 << 20, Math.ceil(bytes / (4 * this.threads) / 4096) * 4096);
    c[A] = arena; c[A + 1] = ptr; c[A + 2] = bytes; c[A + 3] = bpc; c[A + 4] = zero ? 1 : 0;
    this.pool.exec(Op.TOUCH, Math.ceil(bytes / bpc));
    return true;
  }

  /**
   * Activations and caches must live in arena 0. When one does not fit, move weights out of arena 0
   * (highest address first, so freed blocks coalesce) into weight arenas until it does. Only called
   * from allocF32, i.e. between ops: no op holds a pointer to a weight at that time (views follow
   * their root). Returns the new block or -1.
   */
  private evictFor(bytes: number): number {
    const a0 = this.arenas[0]!;
    const ws = [...this.weights0].sort((x, y) => y.ptr - x.ptr);
    for (const w of ws) {
      const { arena, ptr } = this.placeWeight(w.bytes, w.name, false);
      this.copyBytes(arena, ptr, 0, w.ptr, w.bytes);
      a0.release(w.ptr, w.bytes);
      w.moveTo(arena, ptr);
      this.weights0.delete(w);
      const p = a0.alloc(bytes);
      if (p >= 0) return p;
    }
    return -1;
  }

  /** Choose a home for `bytes` of weights: arena 0 while it keeps its reserve, else weight arenas. */
  private placeWeight(bytes: number, name: string, allow0: boolean): { arena: number; ptr: number } {
    const ceiling = (i: number) => this.arenaBytes - (i === 0 ? this.reserve0 : this.reserveW);
    let ptr: number;
    // small tensors (norms, biases) prefer arena 0 so elementwise ops read them in place
    if (allow0 && bytes <= this.smallWeight && (ptr = this.arenas[0]!.alloc(bytes, ceiling(0))) >= 0) return { arena: 0, ptr };
    const wa = this.weightArena;
    if ((allow0 || wa !== 0) && (ptr = this.arenas[wa]!.alloc(bytes, ceiling(wa))) >= 0) return { arena: wa, ptr };
    const a = this.openArena();
    if ((ptr = a.alloc(bytes, ceiling(a.index))) < 0) {
      throw new Error(`tensor ${name}: ${bytes} bytes do not fit in one wasm memory arena (limit ${this.arenaBytes} bytes)`);
    }
    this.weightArena = a.index;
    return { arena: a.index, ptr };
  }

  createWeight(name: string, type: GGMLType, shape: readonly number[], fill: (dst: Uint8Array) => void): Tensor {
    if (this.disposed) throw new Error(`createWeight ${name}: wasm backend used after dispose()`);
    if (!this.mmTypes.has(type)) {
      throw new Error(`unsupported tensor type ${typeName(type)} in tensor ${name}`);
    }
    const size = shapeSize(shape, `tensor ${name}`);
    const bytes = tensorBytes(type, size, shape[shape.length - 1]!, `tensor ${name}`);
    const { arena, ptr } = this.placeWeight(bytes, name, true);
    const a = this.arenas[arena]!;
    try {
      this.touch(arena, ptr, bytes, false); // pages faulted in by all threads before fill() copies
      fill(a.u8.subarray(ptr, ptr + bytes));
    } catch (e) {
      a.release(ptr, bytes);
      throw e;
    }
    const t = new WasmTensor(this.id, name, type, [...shape], size, arena, ptr, bytes, null);
    if (this.x4Types.has(type)) this.repackX4(t);
    if (arena === 0) this.weights0.add(t);
    return t;
  }

  /**
   * Repack a Q4_0 / Q8_0 / Q4_K weight in place into its X4 layout (as/matmul_x4.ts): consecutive groups of 4
   * rows interleaved, the last rows % 4 rows left in ggml layout. 3-D weights (experts, heads) are
   * repacked only when each matrix has a multiple of 4 rows, so views of whole matrices stay valid.
   */
  private repackX4(t: WasmTensor): void {
    const K = t.inner, R = t.size / K;
    if (R < 4 || (t.shape.length > 2 && t.shape[t.shape.length - 2]! % 4 !== 0)) return;
    const rb = rowBytes(t.type, K);
    // groups per call bounded so one call stays short (no long first call in the baseline tier)
    const x = this.x4Types.get(t.type)!;
    const G = R >> 2, step = Math.max(1, Math.floor((1 << 20) / (4 * rb)));
    if (this.threads > 1 && G >= 4 * this.threads && 4 * rb <= this.arenas[t.arena]!.scratchBytes) {
      // groups are independent: all threads, each rearranging through its own kernel scratch
      const gpc = Math.max(1, Math.min(step, Math.ceil(G / (4 * this.threads))));
      const c = this.args, A = CTL.ARGS;
      c[A] = t.arena; c[A + 1] = t.ptr; c[A + 2] = rb; c[A + 3] = K / x.blk; c[A + 4] = G; c[A + 5] = gpc; c[A + 6] = t.type;
      this.pool.exec(Op.REPACK, Math.ceil(G / gpc));
    } else {
      const tmp = this.scratch(t.arena, 'repack', 4 * rb);
      const f = this.pool.runner.fn(t.arena, x.repack);
      for (let g = 0; g < G; g += step) f(t.ptr + g * 4 * rb, tmp, K / x.blk, Math.min(step, G - g));
    }
    t.x4 = true;
  }

  free(x: Tensor): void {
    const w = this.t(x, 'free');
    if (w.root) throw new Error(`free: ${w.name} is a view; free its tensor ${w.root.name} instead`);
    this.arenas[w.arena]!.release(w.ptr, w.bytes);
    this.weights0.delete(w);
    w.freed = true;
  }

  view(x: Tensor, offset: number, shape: readonly number[]): Tensor {
    const w = this.t(x, 'view');
    const size = shapeSize(shape, `view of ${w.name}`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > w.size) {
      throw new Error(`view of ${w.name}: elements [${offset}, ${offset + size}) outside its ${w.size} elements`);
    }
    const tr = typeTraits(w.type)!;
    let byteOff: number, bytes: number;
    if (tr.blockSize === 1) {
      byteOff = offset * tr.typeSize;
      bytes = size * tr.typeSize;
    } else {
      const rl = w.inner;
      if (offset % rl !== 0 || shape[shape.length - 1]! % rl !== 0) {
        throw new Error(`view of ${w.name}: offset ${offset} and innermost size ${shape[shape.length - 1]} must be multiples of the row length ${rl} for ${typeName(w.type)}`);
      }
      byteOff = (offset / rl) * rowBytes(w.type, rl);
      bytes = (size / rl) * rowBytes(w.type, rl);
      const root = w.root ?? w;
      if (root.x4) {
        // a repacked weight: the view must start on a 4-row group and end on one (or at the end)
        const r0 = (w.byteOffset + byteOff) / rowBytes(w.type, rl), n = size / rl, R = root.size / rl;
        if (r0 % 4 !== 0 || (n % 4 !== 0 && r0 + n !== R)) {
          throw new Error(`view of ${w.name}: rows [${r0}, ${r0 + n}) cut the 4-row groups of this repacked ${typeName(w.type)} weight`);
        }
      }
    }
    return new WasmTensor(this.id, `${w.name}@${offset}`, w.type, [...shape], size, w.arena, w.ptr + byteOff, bytes,
      w.root ?? w, w.byteOffset + byteOff);
  }

  write(x: Tensor, data: Float32Array, offset = 0): void {
    const w = this.f32(x, 'write');
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > w.size) {
      throw new Error(`write ${w.name}: elements [${offset}, ${offset + data.length}) outside its ${w.size} elements`);
    }
    this.arenas[w.arena]!.f32.set(data, (w.ptr >>> 2) + offset);
  }

  read(x: Tensor, offset = 0, count?: number): Float32Array {
    const w = this.f32(x, 'read');
    const n = count ?? w.size - offset;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(n) || offset < 0 || n < 0 || offset + n > w.size) {
      throw new Error(`read ${w.name}: elements [${offset}, ${offset + n}) outside its ${w.size} elements`);
    }
    const p = (w.ptr >>> 2) + offset;
    // Float32Array.from copies a view of the shared memory about 3x faster than slice() on Node
    // 20 (151936 logits: 116 vs 354 us)
    return Float32Array.from(this.arenas[w.arena]!.f32.subarray(p, p + n));
  }

  copy(dst: Tensor, src: Tensor): void {
    const d = this.f32(dst, 'copy dst'), s = this.f32(src, 'copy src');
    if (d.size !== s.size) throw new Error(`copy: ${s.name} has ${s.size} elements, ${d.name} has ${d.size}`);
    this.copyBytes(d.arena, d.ptr, s.arena, s.ptr, s.bytes);
  }

  private copyBytes(dArena: number, dPtr: number, sArena: number, sPtr: number, n: number): void {
    if (n === 0) return;
    if (dArena === sArena) this.arenas[dArena]!.u8.copyWithin(dPtr, sPtr, sPtr + n);
    else this.arenas[dArena]!.u8.set(this.arenas[sArena]!.u8.subarray(sPtr, sPtr + n), dPtr);
  }

  /** A reusable scratch block (by key) of at least `bytes` in `arena`; -1 if it cannot fit. */
  private tryScratch(arena: number, key: string, bytes: number): number {
    const k = `${arena}:${key}`;
    const s = this.scratchBlocks.get(k);
    if (s && s.cap >= bytes) return s.ptr;
    const a = this.arenas[arena]!;
    if (s) { a.release(s.ptr, s.cap); this.scratchBlocks.delete(k); }
    let cap = align(Math.max(bytes, s ? Math.floor(s.cap * 1.5) : 0, 4096));
    let ptr = a.alloc(cap);
    if (ptr < 0) ptr = a.alloc((cap = align(bytes)));
    if (ptr < 0) return -1;
    this.scratchBlocks.set(k, { arena, ptr, cap });
    return ptr;
  }

  private scratch(arena: number, key: string, bytes: number): number {
    const p = this.tryScratch(arena, key, bytes);
    if (p < 0) throw new Error(`wasm arena ${arena}: no room for ${bytes} bytes of scratch (${key}); limit ${this.arenaBytes}`);
    return p;
  }

  /** Byte offset of an input in arena 0 (tensors elsewhere are copied into scratch slot `slot`). */
  private in0(w: WasmTensor, slot: string): number {
    if (w.arena === 0) return w.ptr;
    const p = this.scratch(0, `in:${slot}`, w.bytes);
    this.copyBytes(0, p, w.arena, w.ptr, w.bytes);
    return p;
  }

  private get args(): Int32Array { return this.pool.ctl; }
  private setF32(i: number, v: number): void { this.pool.runner.f32[CTL.ARGS + i] = v; }

  /** Chunks for `n` units of work worth `work` in total: inline below `minWork`, else ~2-4 per thread. */
  private split(n: number, work: number, minWork = PAR_ELEMS, perThread = 2): number {
    if (this.threads === 1 || work < minWork || n < 2) return n;
    return Math.max(1, Math.ceil(n / (perThread * this.threads)));
  }

  // ---- ops ------------------------------------------------------------------------------------

  getRows(out: Tensor, table: Tensor, ids: Int32Array): void {
    const o = this.out(out, 'getRows out'), tb = this.t(table, 'getRows table');
    const D = tb.inner, V = tb.size / D;
    if (o.size !== ids.length * D) throw new Error(`getRows: out ${o.name} has ${o.size} elements, ${ids.length} rows of ${D} need ${ids.length * D}`);
    const rb = rowBytes(tb.type, D);
    const kname = this.dequantKernel(tb.type);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < V)) throw new Error(`getRows: id ${id} out of range [0, ${V}) for ${tb.name}`);
      const src = tb.ptr + id * rb, dst = o.ptr + i * D * 4;
      if (tb.type === GGMLType.F32) {
        this.copyBytes(0, dst, tb.arena, src, rb);
      } else if (tb.x4 && kname && this.x4Row(tb, id) < (tb.root ?? tb).size / D - ((tb.root ?? tb).size / D) % 4) {
        // repacked weight (e.g. a tied embedding / output matrix): rebuild the ggml row first
        const r = this.x4Row(tb, id);
        const rowq = this.scratch(tb.arena, 'rowq', align(rb) + D * 4);
        const root = tb.root ?? tb;
        const x = this.x4Types.get(tb.type)!;
        this.pool.runner.fn(tb.arena, x.unpack)(root.ptr + (r >> 2) * 4 * rb, r & 3, rowq, D / x.blk);
        const tmp = tb.arena === 0 ? dst : rowq + align(rb);
        this.pool.runner.fn(tb.arena, kname)(rowq, tmp, D);
        if (tb.arena !== 0) this.copyBytes(0, dst, tb.arena, tmp, D * 4);
      } else if (kname) {
        const tmp = tb.arena === 0 ? dst : this.scratch(tb.arena, 'rows', D * 4);
        this.pool.runner.fn(tb.arena, kname)(src, tmp, D);
        if (tb.arena !== 0) this.copyBytes(0, dst, tb.arena, tmp, D * 4);
      } else {
        const a = this.arenas[tb.arena]!;
        const row = dequantize(tb.type, a.u8.subarray(src, src + rb), D);
        this.arenas[0]!.f32.set(row, dst >>> 2);
      }
    }
  }

  /** Row index in the root tensor of row `id` of (a view of) a repacked weight. */
  private x4Row(tb: WasmTensor, id: number): number {
    return tb.byteOffset / rowBytes(tb.type, tb.inner) + id;
  }

  private dequantKernel(type: GGMLType): string | null {
    let k = this.hasDequant.get(type);
    if (k === undefined) {
      const name = `dequant_row_${typeName(type).toLowerCase()}`;
      k = this.arenas[0]!.kernels.fns.has(name) ? name : null;
      this.hasDequant.set(type, k);
    }
    return k;
  }

  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, eps: number): void {
    const o = this.out(out, 'rmsNorm out'), xt = this.f32(x, 'rmsNorm x');
    const D = xt.inner, T = xt.size / D;
    if (o.size !== xt.size) throw new Error(`rmsNorm: out ${o.name} has ${o.size} elements, x ${xt.name} has ${xt.size}`);
    let wp = 0;
    if (weight) {
      const w = this.f32(weight, 'rmsNorm weight');
      if (w.size !== D) throw new Error(`rmsNorm: weight ${w.name} has ${w.size} elements, rows have ${D}`);
      wp = this.in0(w, 'w');
    }
    const xp = this.in0(xt, 'x');
    const rpc = this.split(T, xt.size);
    const c = this.args, A = CTL.ARGS;
    c[A] = xp; c[A + 1] = wp; c[A + 2] = o.ptr; c[A + 3] = D; c[A + 4] = T; c[A + 5] = rpc;
    this.setF32(6, eps);
    this.pool.exec(Op.RMS, Math.ceil(T / rpc));
  }

  private elt(kind: Elt, what: string, out: Tensor, a: Tensor, b: Tensor | null, s: number): void {
    const o = this.out(out, `${what} out`), at = this.f32(a, `${what} a`);
    const bt = b ? this.f32(b, `${what} b`) : null;
    if (at.size !== o.size || (bt && bt.size !== o.size)) {
      throw new Error(`${what}: sizes differ (out ${o.name} ${o.size}, ${at.name} ${at.size}${bt ? `, ${bt.name} ${bt.size}` : ''})`);
    }
    const n = o.size;
    // chunks of a multiple of 16 elements keep every chunk on the SIMD path
    // swiglu costs an exp and a division per element: worth two threads from a few thousand
    // (a decode step's 8960 took 49 us on the leader alone)
    let epc = this.split(n, kind === Elt.SWIGLU ? n * 16 : n);
    if (epc < n) epc = Math.min(n, Math.ceil(epc / 16) * 16);
    const c = this.args, A = CTL.ARGS;
    c[A] = kind; c[A + 1] = this.in0(at, 'a'); c[A + 2] = bt ? this.in0(bt, 'b') : 0; c[A + 3] = o.ptr;
    c[A + 4] = n; c[A + 5] = epc;
    this.setF32(6, s);
    this.pool.exec(Op.ELT, Math.ceil(n / epc));
  }

  add(out: Tensor, a: Tensor, b: Tensor): void { this.elt(Elt.ADD, 'add', out, a, b, 0); }
  mul(out: Tensor, a: Tensor, b: Tensor): void { this.elt(Elt.MUL, 'mul', out, a, b, 0); }
  scale(out: Tensor, x: Tensor, s: number): void { this.elt(Elt.SCALE, 'scale', out, x, null, s); }
  swiglu(out: Tensor, gate: Tensor, up: Tensor): void { this.elt(Elt.SWIGLU, 'swiglu', out, gate, up, 0); }

  matmul(out: Tensor, x: Tensor, w: Tensor, bias?: Tensor | null): void {
    this.matmulMany(x, [{ w, out, bias }]);
  }

  matmulMany(x: Tensor, jobs: readonly MatmulJob[]): void {
    if (jobs.length > MAX_MM_JOBS) {
      for (let i = 0; i < jobs.length; i += MAX_MM_JOBS) this.matmulMany(x, jobs.slice(i, i + MAX_MM_JOBS));
      return;
    }
    // This runs ~200 times per decoded token: records and offset tables are reused, no Maps/Sets
    // unless a weight lives in another arena.
    const xt = this.f32(x, 'matmul x');
    const K = xt.inner, T = xt.size / K;
    const nj = jobs.length, js = this.mmJobs, vOff = this.vdtOff;
    let nv = 0, qBytes = 0, far = false;
    for (let i = 0; i < nj; i++) {
      // [N, K] weight, [T, N] output, optional [N] bias
      const j = jobs[i]!;
      const w = this.t(j.w, 'matmul weight');
      const o = this.out(j.out, 'matmul out');
      if (w.inner !== K) throw new Error(`matmul: weight ${w.name} rows have ${w.inner} elements, input ${xt.name} has ${K}`);
      const N = w.size / K;
      if (o.size !== T * N) throw new Error(`matmul: out ${o.name} has ${o.size} elements, [${T}, ${N}] expected (x ${xt.name}, w ${w.name})`);
      const bias = j.bias ? this.f32(j.bias, 'matmul bias') : null;
      if (bias && bias.size !== N) throw new Error(`matmul: bias ${bias.name} has ${bias.size} elements, weight ${w.name} has ${N} rows`);
      if (!this.mmTypes.has(w.type)) throw new Error(`unsupported tensor type ${typeName(w.type)} in tensor ${w.name}`);
      const vdt = vecDotType(w.type);
      const r = (js[i] ??= { i, w, o, bias, N, vdt, rb: 0 });
      r.i = i; r.w = w; r.o = o; r.bias = bias; r.N = N; r.vdt = vdt; r.rb = rowBytes(w.type, K);
      if (w.arena !== 0) far = true;
      let seen = false;
      for (let u = 0; u < nv; u++) if (this.usedVdt[u] === vdt) seen = true;
      if (!seen) {
        this.usedVdt[nv++] = vdt;
        vOff[vdt] = vdt === GGMLType.F32 ? -1 : qBytes;
        if (vdt !== GGMLType.F32) qBytes += align(T * rowBytes(vdt, K));
      }
    }
    // 1. convert the activation once per distinct dot type, in arena 0: [T, rowBytes(vdt, K)]
    const xp = this.in0(xt, 'x');
    const qBase = qBytes ? this.scratch(0, 'xq', qBytes) : 0;
    for (let u = 0; u < nv; u++) {
      const v = this.usedVdt[u]!;
      if (v !== GGMLType.F32) this.quantize(v, xp, qBase + vOff[v]!, K, T);
    }
    const xq0 = (v: GGMLType) => (v === GGMLType.F32 ? xp : qBase + vOff[v]!);
    if (far) this.matmulFar(js, nj, K, T, xq0);
    else this.matmulDispatch(js, nj, K, T, 0, T, xq0, null);
    // 4. bias, [N] broadcast over the T rows
    for (let i = 0; i < nj; i++) {
      const j = js[i]!;
      if (j.bias) this.pool.runner.fn(0, 'add_bias')(j.o.ptr, this.in0(j.bias, 'bias'), j.N, T);
    }
  }

  /**
   * Products for token rows [t0, t0 + tn) in one threaded dispatch over all jobs' row chunks.
   * `far`: per weight arena, where its copy of the converted input and its output live.
   * Small products run inline: a dispatch costs more than it saves below ~2 chunks of work.
   */
  private matmulDispatch(js: MmJob[], nj: number, K: number, T: number, t0: number, tn: number,
                         xq0: (v: GGMLType) => number, far: Map<number, FarLayout> | null): void {
    let work = 0;
    for (let i = 0; i < nj; i++) work += js[i]!.N * js[i]!.rb * tn;
    const parallel = this.threads > 1 && work >= 2 * MIN_CHUNK_BYTES;
    const c = this.args, A = CTL.ARGS;
    let chunks = 0;
    c[A] = nj;
    for (let i = 0; i < nj; i++) {
      const j = js[i]!;
      const b = A + 1 + i * MM_STRIDE;
      const l = far?.get(j.w.arena);
      let rpc = j.N;
      if (parallel) {
        // ~4 chunks per thread, each at least MIN_CHUNK_BYTES of weight bytes x tokens
        const want = Math.max(Math.ceil(j.N / (4 * this.threads)), Math.ceil(MIN_CHUNK_BYTES / (j.rb * tn)));
        rpc = Math.min(j.N, Math.ceil(want / ROW_ALIGN) * ROW_ALIGN);
      }
      c[b] = j.w.arena; c[b + 1] = j.w.kernelType; c[b + 2] = j.w.ptr;
      c[b + 3] = l ? l.base + l.xq.get(j.vdt)! : xq0(j.vdt) + t0 * rowBytes(j.vdt, K);
      c[b + 4] = l ? l.base + l.y.get(i)! : j.o.ptr + t0 * j.N * 4;
      c[b + 5] = K; c[b + 6] = j.N; c[b + 7] = tn; c[b + 8] = rpc; c[b + 9] = chunks;
      chunks += Math.ceil(j.N / rpc);
    }
    this.pool.exec(Op.MATMUL, chunks, parallel);
  }

  /**
   * Some weights live in arenas > 0: per token tile, copy the converted input [Tt, ...] into each
   * such arena's scratch, multiply there, and copy the [Tt, N] products back. Tiles shrink until
   * the scratch fits in every arena involved.
   */
  private matmulFar(js: MmJob[], nj: number, K: number, T: number, xq0: (v: GGMLType) => number): void {
    const arenas = new Set<number>();
    for (let i = 0; i < nj; i++) if (js[i]!.w.arena !== 0) arenas.add(js[i]!.w.arena);
    let Tt = T;
    const layout = new Map<number, FarLayout>();
    for (;;) {
      let ok = true;
      layout.clear();
      for (const a of arenas) {
        const xq = new Map<GGMLType, number>(), y = new Map<number, number>();
        let n = 0;
        for (let i = 0; i < nj; i++) {
          const j = js[i]!;
          if (j.w.arena !== a) continue;
          if (!xq.has(j.vdt)) { xq.set(j.vdt, n); n += align(Tt * rowBytes(j.vdt, K)); }
          y.set(i, n); n += align(Tt * j.N * 4);
        }
        const base = this.tryScratch(a, 'mm', n);
        if (base < 0) { ok = false; break; }
        layout.set(a, { base, xq, y });
      }
      if (ok) break;
      if (Tt === 1) throw new Error(`matmul: no scratch room in weight arenas for ${js.slice(0, nj).map((j) => j.w.name).join(', ')}`);
      Tt = Math.ceil(Tt / 2);
    }
    if (Tt < T) this.tiledMatmuls++;
    for (let t0 = 0; t0 < T; t0 += Tt) {
      const tn = Math.min(Tt, T - t0);
      for (const [a, l] of layout) {
        for (const [v, off] of l.xq) {
          const rbq = rowBytes(v, K);
          this.copyBytes(a, l.base + off, 0, xq0(v) + t0 * rbq, tn * rbq);
        }
      }
      this.matmulDispatch(js, nj, K, T, t0, tn, xq0, layout);
      for (let i = 0; i < nj; i++) {
        const j = js[i]!;
        const l = layout.get(j.w.arena);
        if (l) this.copyBytes(0, j.o.ptr + t0 * j.N * 4, j.w.arena, l.base + l.y.get(i)!, tn * j.N * 4);
      }
    }
  }

  /** x [T, K] f32 at xp -> out [T, rowBytes(vdt, K)] (threaded over tokens for prefill). */
  private quantize(vdt: GGMLType, xp: number, outp: number, K: number, T: number): void {
    const tpc = this.split(T, T * K);
    const c = this.args, A = CTL.ARGS;
    if (!this.pool.runner.arenas[0]!.fns.has(quantName(vdt))) throw new Error(`wasm kernel ${quantName(vdt)} missing`);
    c[A] = vdt; c[A + 1] = xp; c[A + 2] = outp; c[A + 3] = K; c[A + 4] = T; c[A + 5] = tpc; c[A + 6] = rowBytes(vdt, K);
    this.pool.exec(Op.QUANT, Math.ceil(T / tpc));
  }

  rope(x: Tensor, positions: Int32Array, spec: RopeSpec): void {
    const xt = this.out(x, 'rope x');
    const T = positions.length, hd = spec.headDim, nd = spec.nDims;
    if (!(T > 0) || xt.size % (T * hd) !== 0) throw new Error(`rope: ${xt.name} (${xt.size} elements) is not [${T}, H, ${hd}]`);
    const H = xt.size / (T * hd);
    if (!(nd > 0 && nd % 2 === 0 && spec.offset >= 0 && spec.offset + nd <= hd && spec.invFreq.length === nd / 2)) {
      throw new Error(`rope ${xt.name}: bad spec (headDim ${hd}, offset ${spec.offset}, nDims ${nd}, ${spec.invFreq.length} frequencies)`);
    }
    // positions [T] i32 then invFreq [nDims/2] f32 in arena 0; cos/sin tables per thread
    const aux = this.scratch(0, 'aux', align(T * 4) + nd * 2);
    const inv = aux + align(T * 4);
    const csStride = align(nd * 4);
    const cs = this.scratch(0, 'thr', csStride * this.threads);
    const a0 = this.arenas[0]!;
    a0.i32.set(positions, aux >>> 2);
    a0.f32.set(spec.invFreq, inv >>> 2);
    const rpc = this.split(T, xt.size);
    const c = this.args, A = CTL.ARGS;
    c[A] = xt.ptr; c[A + 1] = aux; c[A + 2] = T; c[A + 3] = H; c[A + 4] = hd; c[A + 5] = spec.offset; c[A + 6] = nd;
    c[A + 7] = spec.mode === 'neox' ? 1 : 0; c[A + 8] = inv; c[A + 9] = cs; c[A + 10] = csStride; c[A + 11] = rpc;
    this.setF32(12, spec.mscale);
    this.pool.exec(Op.ROPE, Math.ceil(T / rpc));
  }

  attention(out: Tensor, q: Tensor, k: Tensor, v: Tensor, positions: Int32Array, spec: AttentionSpec): void {
    const o = this.out(out, 'attention out'), qt = this.f32(q, 'attention q');
    const kt = this.f32(k, 'attention k'), vt = this.f32(v, 'attention v');
    const { nHead, nKvHead, headDimK: dk, headDimV: dv } = spec;
    const T = positions.length;
    if (!(nKvHead > 0 && nHead % nKvHead === 0)) throw new Error(`attention: nHead ${nHead} is not a multiple of nKvHead ${nKvHead}`);
    if (qt.size !== T * nHead * dk || o.size !== T * nHead * dv) {
      throw new Error(`attention: q ${qt.name} / out ${o.name} do not match [${T}, ${nHead}, ${dk}/${dv}]`);
    }
    const S = Math.floor(kt.size / (nKvHead * dk));
    // MLA latent cache: values are the first dv elements of each key row (v is ignored)
    const vFromK = spec.vFromK === true;
    const headMajor = spec.headMajor === true;
    if (vFromK && dv > dk) throw new Error(`attention: vFromK needs headDimV ${dv} <= headDimK ${dk}`);
    if (kt.size !== S * nKvHead * dk || (!vFromK && vt.size !== S * nKvHead * dv)) {
      const shape = headMajor ? `[${nKvHead}, S, ${dk}/${dv}]` : `[S, ${nKvHead}, ${dk}/${dv}]`;
      throw new Error(`attention: caches ${kt.name} (${kt.size}) / ${vt.name} (${vt.size}) are not ${shape}`);
    }
    let maxPos = 0;
    for (let i = 0; i < T; i++) {
      const p = positions[i]!;
      if (!(p >= 0 && p < S)) throw new Error(`attention: position ${p} outside the cache (${S} rows) of ${kt.name}`);
      if (p > maxPos) maxPos = p;
    }
    const aux = this.scratch(0, 'aux', T * 4);
    this.arenas[0]!.i32.set(positions, aux >>> 2);
    // two score rows per thread: heads that share a KV head are taken two at a time
    const scStride = align(2 * (maxPos + 4) * 4);
    const sc = this.scratch(0, 'thr', scStride * this.threads);
    const pairs = T * nHead;
    // Chunks are claimed from the last (the most expensive under the causal rule: query t reads
    // t + 1 rows) to the first (jobs.ts), about 8 per thread for a prompt so that the tail evens
    // out; with 4 chunks in token order the thread that drew the last quarter of a 512-token prompt
    // did 7 / 16 of the work and two threads ran 1.15x one.
    let ppc = this.split(pairs, pairs * (maxPos + 1) * (dk + dv), 1 << 15, T > 1 ? 8 : 4);
    const group = nHead / nKvHead, kvGroups = T * nKvHead;
    if (ppc < pairs && group >= 2 && kvGroups >= this.threads) {
      // whole KV groups per chunk: each thread reads a KV head's rows from memory once and its
      // other heads find them in its own cache (decode: one KV head per thread)
      ppc = group * Math.max(1, Math.floor(kvGroups / ((T > 1 ? 8 : 2) * this.threads)));
    } else if (ppc < pairs && ppc % 2 === 1 && group >= 2) {
      ppc++; // chunks keep head pairs together
    }
    const c = this.args, A = CTL.ARGS;
    const kp = this.in0(kt, 'k');
    c[A] = qt.ptr; c[A + 1] = kp; c[A + 2] = vFromK ? kp : this.in0(vt, 'v'); c[A + 3] = o.ptr; c[A + 4] = aux;
    c[A + 5] = nHead; c[A + 6] = nKvHead; c[A + 7] = dk; c[A + 8] = dv; c[A + 9] = ppc; c[A + 10] = pairs;
    c[A + 11] = sc; c[A + 12] = scStride;
    this.setF32(13, spec.scale);
    // element strides between positions and between KV heads (ops.ts attention_f32)
    const kRow = headMajor ? dk : nKvHead * dk, kHead = headMajor ? S * dk : dk;
    c[A + 14] = kRow; c[A + 15] = kHead;
    c[A + 16] = vFromK ? kRow : headMajor ? dv : nKvHead * dv;
    c[A + 17] = vFromK ? kHead : headMajor ? S * dv : dv;
    this.pool.exec(Op.ATTN, Math.ceil(pairs / ppc));
  }

  // ---- MLA / MoE ops (mla-ops.ts) --------------------------------------------------------------

  matmulHeads(out: Tensor, x: Tensor, w: Tensor, opts?: { readonly xOffset?: number; readonly outOffset?: number }): void {
    const o = this.out(out, 'matmulHeads out'), xt = this.f32(x, 'matmulHeads x'), wt = this.t(w, 'matmulHeads weight');
    if (!this.mmTypes.has(wt.type)) throw new Error(`unsupported tensor type ${typeName(wt.type)} in tensor ${wt.name}`);
    mla.matmulHeads(this.ctx, o, xt, wt, opts);
  }

  gatherRows(out: Tensor, src: Tensor, rows: Int32Array): void {
    mla.gatherRows(this.ctx, this.out(out, 'gatherRows out'), this.f32(src, 'gatherRows src'), rows);
  }

  scatterAddRows(out: Tensor, src: Tensor, rows: Int32Array, scales: Float32Array): void {
    mla.scatterAddRows(this.ctx, this.out(out, 'scatterAddRows out'), this.f32(src, 'scatterAddRows src'), rows, scales);
  }

  copyCols(dst: Tensor, dstCol: number, src: Tensor, srcCol: number, nCols: number): void {
    mla.copyCols(this.ctx, this.out(dst, 'copyCols dst'), dstCol, this.f32(src, 'copyCols src'), srcCol, nCols);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Call every kernel a few hundred times, spread over all threads (see JobRunner.warm). */
  warmup(): void {
    const base = this.scratch(0, 'thr', WARM_BYTES * this.threads);
    this.arenas[0]!.u8.fill(0, base, base + WARM_BYTES * this.threads);
    const c = this.args, A = CTL.ARGS;
    c[A] = base; c[A + 1] = WARM_BYTES;
    // 8 chunks of 25 iterations per thread, claimed dynamically: every helper normally takes
    // some, which also warms its own JS dispatch code (kernel code is shared by all instances)
    this.pool.exec(Op.WARM, 8 * this.threads);
    for (let i = 0; i < 300; i++) this.pool.exec(Op.EMPTY, this.threads);
  }

  /** A job of `chunks` empty chunks through the pool (measures dispatch + synchronisation cost). */
  emptyJob(chunks = this.threads): void {
    this.pool.exec(Op.EMPTY, chunks);
  }

  /**
   * Pool diagnostics: helpers parked in Atomics.wait now, chunks each thread ran so far (index 0 =
   * leader; inline single-chunk jobs are not counted), and matmuls split into token tiles because a
   * weight arena's scratch could not hold the whole input.
   */
  poolStats(): { parked: number; chunks: number[]; tiledMatmuls: number } {
    return { ...this.pool.stats(), tiledMatmuls: this.tiledMatmuls };
  }

  memoryBytes(): number {
    let n = 0;
    for (const a of this.arenas) n += a.byteLength;
    return n;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pool.dispose();
    this.arenas.length = 0;
    this.scratchBlocks.clear();
  }
}
