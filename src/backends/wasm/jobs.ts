/**
 * Job protocol shared by the leader thread and its helpers (imported by backend/pool and worker).
 *
 * A job is one op split into chunks. Its parameters live in a small control SharedArrayBuffer
 * (`CTL` layout below); every participating thread takes chunk indices from an Atomics.add counter
 * and runs `JobRunner.chunk`, so leader and helpers execute exactly the same code. A chunk's result
 * never depends on which thread runs it or how the op was split (kernels work on disjoint ranges),
 * which is what makes 1 thread and N threads agree bit for bit.
 */
import type { WasmInstance } from './wasm-api.js';
import { rowBytes, typeName, vecDotType, type GGMLType } from '../../formats/ggml-types.js';

/** Int32 indices into the control block. */
export const CTL = {
  // words written by different threads sit on separate 64-byte cache lines
  GEN: 0, // generation counter: bumped once per published job (wakes helpers)
  OP: 1, // Op of the current job
  WORK: 16, // (nChunks << 16) | nextChunk: chunks are claimed by compare-exchange while next < n
  DONE: 32, // chunks finished (leader waits for DONE == nChunks)
  ERR: 48, // set by a helper whose chunk threw
  PARK: 64, // PARK + i (i = 0..MAX_HELPERS-1): helper i is (about to be) parked in Atomics.wait
  ARGS: 192, // op arguments (int32; float args are read through an f32 alias of the same words)
  STAT: 768, // STAT + tid: chunks run by thread tid (0 = leader), for tests and diagnostics
  SIZE: 1024,
} as const;

/** Most chunks one job may have (16-bit fields of CTL.WORK). */
export const MAX_CHUNKS = 0x7fff;
export const MAX_HELPERS = 100;
export const MAX_MM_JOBS = 32;
/** Words per matmul sub-job in ARGS: arena, type, w, xq, y, K, N, T, rowsPerChunk, firstChunk. */
export const MM_STRIDE = 10;

export const enum Op {
  NONE = 0,
  STOP = 2,
  EMPTY = 3, // chunks that do nothing (dispatch cost measurement, tests)
  MATMUL = 4,
  QUANT = 5,
  RMS = 6,
  ELT = 7,
  ROPE = 8,
  ATTN = 9,
  WARM = 10, // each chunk warms every kernel on its thread's own scratch
  TOUCH = 11, // fault in (zero: 1) the pages of fresh memory (args: arena, ptr, bytes, bytesPerChunk, zero)
  REPACK = 12, // X4 repack of a weight's 4-row groups (args: arena, ptr, rowBytes, blocksPerRow, groups, groupsPerChunk, type)
}

export const enum Elt { ADD = 0, MUL = 1, SCALE = 2, SWIGLU = 3 }

/** A kernel instance's exports, looked up by lower-case name (quant_q8_K and quant_q8_k both work). */
export type KernelFn = (...args: number[]) => number | void;
export interface KernelSet {
  readonly fns: ReadonlyMap<string, KernelFn>;
}

export function kernelSet(exports: WasmInstance["exports"]): KernelSet {
  const fns = new Map<string, KernelFn>();
  for (const [k, v] of Object.entries(exports)) if (typeof v === 'function') fns.set(k.toLowerCase(), v as KernelFn);
  return { fns };
}

/** Added to a weight type in matmul jobs when the weight is repacked (X4 layout, mm_<type>_x4). */
export const X4_KIND = 0x100;

export function mmName(type: GGMLType): string {
  if (type & X4_KIND) return `mm_${typeName(type & ~X4_KIND).toLowerCase()}_x4`;
  return `mm_${typeName(type).toLowerCase()}`;
}
export function quantName(type: GGMLType): string { return `quant_${typeName(type).toLowerCase()}`; }

/** Bytes each thread's warm-up needs in its own scratch. */
export const WARM_BYTES = 96 * 1024;
/** Warm-up iterations per WARM chunk (warmup() runs 8 chunks per thread). */
const WARM_ITERS = 25;

export class JobRunner {
  readonly i32: Int32Array;
  readonly f32: Float32Array;
  /** Kernel instances, one per arena (index = arena). */
  readonly arenas: KernelSet[] = [];
  /** mm_/quant_ functions resolved per arena and type, cached off the hot path. */
  private readonly mmCache: Map<number, KernelFn>[] = [];

  constructor(ctl: SharedArrayBuffer, readonly tid: number) {
    this.i32 = new Int32Array(ctl);
    this.f32 = new Float32Array(ctl);
  }

  addArena(index: number, ks: KernelSet): void {
    this.arenas[index] = ks;
    this.mmCache[index] = new Map();
  }

  fn(arena: number, name: string): KernelFn {
    if (!this.arenas[arena] && this.onMissingArena) this.onMissingArena(arena);
    const f = this.arenas[arena]?.fns.get(name);
    if (!f) throw new Error(`wasm kernel ${name} missing (arena ${arena})`);
    return f;
  }

  private mm(arena: number, type: number): KernelFn {
    if (!this.arenas[arena] && this.onMissingArena) this.onMissingArena(arena);
    const cache = this.mmCache[arena]!;
    let f = cache.get(type);
    if (!f) { f = this.fn(arena, mmName(type)); cache.set(type, f); }
    return f;
  }

  /** Called when a job names an arena this thread has not instantiated yet (helpers only). */
  onMissingArena: ((index: number) => void) | null = null;
  /** Helpers report chunk errors through this (leader: null, errors are returned by work()). */
  onError: ((e: unknown) => void) | null = null;

  /**
   * Claim and run chunks of the published job until none are left. A thread reads OP and ARGS only
   * after a successful claim: the job cannot complete (and its ARGS cannot be overwritten) while a
   * claimed chunk is unfinished, so a thread that arrives late never sees a half-written job.
   * Returns the first error a chunk threw (the chunk still counts as done).
   */
  work(): unknown {
    const c = this.i32;
    let err: unknown = null;
    for (;;) {
      const w = Atomics.load(c, CTL.WORK);
      const next = w & 0xffff;
      if (next >= w >>> 16) return err;
      if (Atomics.compareExchange(c, CTL.WORK, w, w + 1) !== w) continue;
      c[CTL.STAT + this.tid]++; // only this thread writes its slot
      try {
        this.chunk(Atomics.load(c, CTL.OP) as Op, next);
      } catch (e) {
        // reported before the chunk counts as done, so the leader sees it for this very job
        if (this.onError) this.onError(e);
        else err ??= e;
      }
      Atomics.add(c, CTL.DONE, 1);
    }
  }

  /** Run chunk k of the current job (arguments from the control block). */
  chunk(op: Op, k: number): void {
    const a = this.i32;
    const A = CTL.ARGS;
    switch (op) {
      case Op.EMPTY: return;
      case Op.WARM: this.warm(); return;
      case Op.REPACK: {
        // each thread's own kernel scratch holds the group being rearranged
        const G = a[A + 4]!, gpc = a[A + 5]!, g0 = k * gpc, rb = a[A + 2]!;
        const tmp = this.fn(a[A]!, 'scratch_ptr')() as number;
        this.fn(a[A]!, `repack_${typeName(a[A + 6]! as GGMLType).toLowerCase()}_x4`)(a[A + 1]! + g0 * 4 * rb, tmp, a[A + 3]!, Math.min(gpc, G - g0));
        return;
      }
      case Op.TOUCH: {
        const bytes = a[A + 2]!, bpc = a[A + 3]!, o = k * bpc;
        this.fn(a[A]!, a[A + 4] ? 'zero_bytes' : 'touch_pages')(a[A + 1]! + o, Math.min(bpc, bytes - o));
        return;
      }
      case Op.MATMUL: {
        // sub-job j owns chunks [first_j, first_{j+1}); its chunk covers rows [n0, n1) for all T tokens
        const nJobs = a[A]!;
        let j = nJobs - 1;
        while (j > 0 && a[A + 1 + j * MM_STRIDE + 9]! > k) j--;
        const b = A + 1 + j * MM_STRIDE;
        const N = a[b + 6]!, rpc = a[b + 8]!;
        const n0 = (k - a[b + 9]!) * rpc;
        const n1 = Math.min(N, n0 + rpc);
        this.mm(a[b]!, a[b + 1]!)(a[b + 2]!, a[b + 3]!, a[b + 4]!, a[b + 5]!, N, n0, n1, a[b + 7]!);
        return;
      }
      case Op.QUANT: {
        // args: type(vdt), x, out, K, T, tokensPerChunk, outRowBytes (arena 0)
        const T = a[A + 4]!, tpc = a[A + 5]!, K = a[A + 3]!;
        const t0 = k * tpc, cnt = Math.min(T - t0, tpc);
        this.mm0quant(a[A]!)(a[A + 1]! + t0 * K * 4, a[A + 2]! + t0 * a[A + 6]!, K, cnt);
        return;
      }
      case Op.RMS: {
        // args: x, w, out, D, T, rowsPerChunk, eps(f32)
        const D = a[A + 3]!, T = a[A + 4]!, rpc = a[A + 5]!;
        const t0 = k * rpc, cnt = Math.min(T - t0, rpc), off = t0 * D * 4;
        this.fn(0, 'rms_norm')(a[A]! + off, a[A + 1]!, a[A + 2]! + off, D, cnt, this.f32[A + 6]!);
        return;
      }
      case Op.ELT: {
        // args: kind, a, b, out, n, elemsPerChunk, s(f32)
        const n = a[A + 4]!, epc = a[A + 5]!;
        const e0 = k * epc, cnt = Math.min(n - e0, epc), off = e0 * 4;
        const x = a[A + 1]! + off, y = a[A + 2]! + off, o = a[A + 3]! + off;
        switch (a[A]! as Elt) {
          case Elt.ADD: this.fn(0, 'add_f32')(x, y, o, cnt); break;
          case Elt.MUL: this.fn(0, 'mul_f32')(x, y, o, cnt); break;
          case Elt.SCALE: this.fn(0, 'scale_f32')(x, o, cnt, this.f32[A + 6]!); break;
          case Elt.SWIGLU: this.fn(0, 'swiglu_f32')(x, y, o, cnt); break;
        }
        return;
      }
      case Op.ROPE: {
        // args: x, pos, T, H, headDim, offset, nDims, neox, invFreq, csBase, csStride, rowsPerChunk, mscale(f32)
        const T = a[A + 2]!, H = a[A + 3]!, hd = a[A + 4]!, rpc = a[A + 11]!;
        const t0 = k * rpc, cnt = Math.min(T - t0, rpc);
        this.fn(0, 'rope_f32')(a[A]! + t0 * H * hd * 4, a[A + 1]! + t0 * 4, cnt, H, hd, a[A + 5]!, a[A + 6]!,
          a[A + 7]!, a[A + 8]!, this.f32[A + 12]!, a[A + 9]! + this.tid * a[A + 10]!);
        return;
      }
      case Op.ATTN: {
        // args: q, k, v, out, pos, nHead, nKv, dk, dv, pairsPerChunk, pairs, scBase, scStride, scale(f32),
        // kRow, kHead, vRow, vHead (element strides, ops.ts attention_f32)
        // chunk k counts from the end: later queries read more rows, so they go first
        const ppc = a[A + 9]!, pairs = a[A + 10]!;
        const p0 = (Math.ceil(pairs / ppc) - 1 - k) * ppc, p1 = Math.min(pairs, p0 + ppc);
        this.fn(0, 'attention_f32')(a[A]!, a[A + 1]!, a[A + 2]!, a[A + 3]!, a[A + 4]!, a[A + 5]!, a[A + 6]!,
          a[A + 7]!, a[A + 8]!, this.f32[A + 13]!, p0, p1, a[A + 11]! + this.tid * a[A + 12]!, a[A + 14]!, a[A + 15]!,
          a[A + 16]!, a[A + 17]!);
        return;
      }
      default:
        throw new Error(`unknown wasm job op ${op}`);
    }
  }

  private mm0quant(vdt: number): KernelFn {
    // quant functions are cached in arena 0's map under a negative key; a helper whose first job
    // is a quantization has not instantiated arena 0 yet
    if (!this.arenas[0] && this.onMissingArena) this.onMissingArena(0);
    const cache = this.mmCache[0]!;
    let f = cache.get(-1 - vdt);
    if (!f) { f = this.fn(0, quantName(vdt)); cache.set(-1 - vdt, f); }
    return f;
  }

  /**
   * Call every kernel WARM_ITERS times on small zero inputs in this thread's scratch (arena 0,
   * args: scratchBase, stride) so V8 tiers each function up before a long real call (wasm has no
   * on-stack replacement: a long first call would run to its end in the baseline tier). Compiled
   * code is shared by all instances of the module, so warming one thread warms the others' kernels.
   */
  private warm(): void {
    const a = this.i32, A = CTL.ARGS;
    const s = a[A]! + this.tid * a[A + 1]!;
    if (!this.arenas[0] && this.onMissingArena) this.onMissingArena(0);
    const fns = this.arenas[0]!.fns;
    // layout (bytes): x f32[2x1024] @0, xq @8K (<= 8K), w @16K (<= 4 rows x 4K = 16K), y @32K,
    // q/k/v/out @40K.. (4 x 4K), pos @56K, invFreq @57K, cs/scores @58K
    const K = 256;
    const x = s, xq = s + 8192, w = s + 16384, y = s + 32768;
    const q = s + 40960, kk = q + 4096, v = kk + 4096, o = v + 4096, pos = s + 57344, inv = pos + 1024, sc = inv + 1024;
    for (let it = 0; it < WARM_ITERS; it++) {
      for (const [name, f] of fns) {
        if (name.endsWith('_x4') && name.startsWith('mm_')) {
          // repacked layouts (zero bytes are valid in any layout): 5 rows = 1 group + 1 tail row
          const t = typeByLower(name.slice(3, -3));
          if (t === undefined || rowBytes(t, K) * 5 > 16384) continue;
          f(w, xq, y, K, 5, 0, 5, 1 + (it % 3));
        } else if (name.startsWith('mm_')) {
          const t = typeByLower(name.slice(3));
          if (t === undefined) continue;
          const vdt = vecDotType(t);
          if (rowBytes(vdt, K) * 2 > 8192 || rowBytes(t, K) * 4 > 16384) continue;
          f(w, t === 0 ? x : xq, y, K, 4, 0, 4, 1 + (it & 1));
        } else if (name.startsWith('quant_')) {
          const t = typeByLower(name.slice(6));
          if (t === undefined || rowBytes(t, K) * 2 > 8192) continue;
          f(x, xq, K, 2);
        }
      }
      fns.get('rms_norm')?.(x, x + 1024, y, 128, 2, 1e-6);
      fns.get('add_f32')?.(x, x + 1024, y, 250);
      fns.get('mul_f32')?.(x, x + 1024, y, 250);
      fns.get('scale_f32')?.(x, y, 250, 0.5);
      fns.get('swiglu_f32')?.(x, x + 1024, y, 250);
      fns.get('add_bias')?.(y, x, 60, 2);
      fns.get('rope_f32')?.(q, pos, 2, 2, 64, 0, 64, it & 1, inv, 1, sc);
      fns.get('attention_f32')?.(q, kk, v, o, pos, 4, 2, 32, 32, 0.2, 0, 8, sc, 64, 32, 64, 32);
      fns.get('attention_f32')?.(q, kk, v, o, pos, 2, 2, 32, 32, 0.2, 0, 4, sc, 64, 32, 64, 32); // one head per KV head
    }
  }
}

const LOWER_TYPES = new Map<string, number>();
function typeByLower(name: string): GGMLType | undefined {
  if (LOWER_TYPES.size === 0) {
    for (let id = 0; id < 64; id++) {
      const n = typeName(id);
      if (!n.startsWith('unknown')) LOWER_TYPES.set(n.toLowerCase(), id);
    }
  }
  return LOWER_TYPES.get(name) as GGMLType | undefined;
}
