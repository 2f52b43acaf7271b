/**
 * One wasm memory arena: a shared WasmMemory (at most 4 GiB, the wasm32 limit), the kernel
 * module instantiated on it, and a first-fit allocator with coalescing (64-byte aligned blocks).
 *
 * Models larger than one memory are sharded across several arenas (backend.ts decides where each
 * tensor goes). Memory grows on demand; the typed-array views are refreshed after every growth
 * (a grown shared memory hands out a new, longer SharedArrayBuffer; old views keep the old length).
 */
import { WA, type WasmImports, type WasmInstance, type WasmMemory, type WasmModule } from './wasm-api.js';
import { kernelSet, type KernelSet } from './jobs.js';

export const PAGE = 65536;
export const ALIGN = 64;
/** The wasm32 ceiling: 65536 pages. */
export const MAX_ARENA_BYTES = 65536 * PAGE;

/** Bytes kept mapped past the highest block. */
const GUARD = 64;
/** Grow in steps of at least this much, so that many small allocations do not grow one page at a time. */
const GROW_STEP = 16 * 1024 * 1024;

interface FreeBlock { off: number; size: number }

export function align(n: number, a = ALIGN): number {
  return Math.ceil(n / a) * a;
}

/** Import object for the kernel module: `env.memory` plus stubs for any other function import. */
export function kernelImports(module: WasmModule, memory: WasmMemory): WasmImports {
  const env: Record<string, unknown> = {};
  const other: Record<string, Record<string, unknown>> = {};
  for (const imp of WA.Module.imports(module)) {
    const target = imp.module === 'env' ? env : (other[imp.module] ??= {});
    if (imp.kind === 'memory') target[imp.name] = memory;
    else if (imp.kind === 'function') {
      target[imp.name] = (...args: unknown[]) => {
        throw new Error(`wasm kernel called import ${imp.module}.${imp.name}(${args.join(', ')}) (abort/trap in kernel)`);
      };
    }
  }
  return { ...other, env } as WasmImports;
}

/**
 * Instantiate `module` on a fresh shared memory. The module declares a minimum size we cannot read
 * through the JS API, so start small and double until instantiation links.
 */
/** Bytes of per-thread scratch the kernel module wants (0 for modules without the export). */
export function scratchBytes(exports: WasmInstance['exports']): number {
  const f = exports['scratch_bytes'];
  return typeof f === 'function' ? Number((f as () => number)()) : 0;
}

/**
 * Per-thread scratch of an arena of `limitBytes`: what the module uses at most (256 KiB: the prefill
 * tiles' K segments grow with it), but at most 1/16 of a small arena and at least 64 KiB.
 */
export function scratchFor(exports: WasmInstance['exports'], limitBytes: number): number {
  const max = scratchBytes(exports);
  if (max === 0) return 0;
  return Math.min(max, Math.max(64 << 10, Math.floor(limitBytes / 16 / PAGE) * PAGE));
}

/**
 * Point an instance's kernels at thread `slot`'s scratch of `per` bytes (slot 0 = leader, helper
 * i = i + 1). Every thread has its own instance, so the module globals holding it are per thread.
 */
export function setScratch(exports: WasmInstance['exports'], slot: number, per: number): void {
  const set = exports['set_scratch'];
  const hb = exports['heap_base'];
  if (typeof set !== 'function' || per === 0) return;
  const heapBase = typeof hb === 'function' ? Number((hb as () => number)()) >>> 0 : PAGE;
  (set as (p: number, b: number) => void)(align(Math.max(heapBase, 1024)) + per * slot, per);
}

export function newMemoryInstance(module: WasmModule, maxPages: number): { memory: WasmMemory; instance: WasmInstance } {
  let pages = 1;
  for (;;) {
    const memory = new WA.Memory({ initial: pages, maximum: maxPages, shared: true });
    try {
      return { memory, instance: new WA.Instance(module, kernelImports(module, memory)) };
    } catch (e) {
      if (!(e instanceof WA.LinkError) || pages >= maxPages) throw e;
      pages = Math.min(maxPages, pages * 2);
    }
  }
}

export class Arena {
  readonly memory: WasmMemory;
  readonly instance: WasmInstance;
  readonly kernels: KernelSet;
  /** Current views (refreshed after growth; do not cache across allocations). */
  u8!: Uint8Array;
  f32!: Float32Array;
  i32!: Int32Array;
  /** First byte the allocator owns (above the module's static data). */
  readonly base: number;
  /** End of the highest allocated block. */
  private top: number;
  private readonly freeList: FreeBlock[] = [];
  /** Bytes of live blocks. */
  used = 0;

  /** Per-thread kernel scratch bytes of this arena (scratchFor). */
  readonly scratchBytes: number;

  constructor(readonly index: number, module: WasmModule, readonly limitBytes: number, scratchThreads = 1) {
    if (!(limitBytes >= PAGE && limitBytes <= MAX_ARENA_BYTES)) {
      throw new Error(`arena size ${limitBytes} must be between ${PAGE} and ${MAX_ARENA_BYTES} bytes`);
    }
    const { memory, instance } = newMemoryInstance(module, Math.floor(limitBytes / PAGE));
    this.memory = memory;
    this.instance = instance;
    this.kernels = kernelSet(instance.exports);
    const hb = instance.exports['heap_base'];
    // Static data of the module (lookup tables) sits below heap_base; without the export keep 64 KiB clear.
    const heapBase = typeof hb === 'function' ? Number((hb as () => number)()) >>> 0 : PAGE;
    // Per-thread kernel scratch sits right above the static data; thread 0 (the leader) is here.
    const scratch = scratchFor(instance.exports, limitBytes);
    this.scratchBytes = scratch;
    this.base = align(Math.max(heapBase, 1024)) + scratch * scratchThreads;
    if (this.base > limitBytes) throw new Error(`arena size ${limitBytes} is too small for ${scratchThreads} threads' scratch`);
    setScratch(instance.exports, 0, scratch);
    this.top = this.base;
    this.refresh();
  }

  /** Bytes the memory currently spans. */
  get byteLength(): number { return this.memory.buffer.byteLength; }
  /** End of the allocated region (bump pointer). */
  get end(): number { return this.top; }

  refresh(): void {
    const buf = this.memory.buffer;
    if (this.u8 && this.u8.byteLength === buf.byteLength) return;
    this.u8 = new Uint8Array(buf);
    this.f32 = new Float32Array(buf, 0, buf.byteLength >>> 2);
    this.i32 = new Int32Array(buf, 0, buf.byteLength >>> 2);
  }

  /**
   * Allocate `bytes` (64-byte aligned). Returns the byte offset, or -1 when the block would end
   * above `ceiling` (default: the arena limit). New memory from growth is zero; reused blocks are not.
   */
  alloc(bytes: number, ceiling = this.limitBytes): number {
    const size = align(Math.max(bytes, 1));
    for (let i = 0; i < this.freeList.length; i++) {
      const b = this.freeList[i]!;
      if (b.size < size) continue;
      const off = b.off;
      if (b.size === size) this.freeList.splice(i, 1);
      else { b.off += size; b.size -= size; }
      this.used += size;
      return off;
    }
    const off = this.top;
    if (off + size > Math.min(ceiling, this.limitBytes)) return -1;
    // + GUARD: SIMD kernels may load a few bytes past the end of the last block
    this.ensureCapacity(Math.min(off + size + GUARD, this.limitBytes));
    this.top = off + size;
    this.used += size;
    return off;
  }

  /** Return a block from `alloc` (same byte count). */
  release(off: number, bytes: number): void {
    const size = align(Math.max(bytes, 1));
    this.used -= size;
    const fl = this.freeList;
    let i = 0;
    while (i < fl.length && fl[i]!.off < off) i++;
    fl.splice(i, 0, { off, size });
    // merge with the next block, then with the previous one
    if (i + 1 < fl.length && off + size === fl[i + 1]!.off) {
      fl[i]!.size += fl[i + 1]!.size;
      fl.splice(i + 1, 1);
    }
    if (i > 0 && fl[i - 1]!.off + fl[i - 1]!.size === off) {
      fl[i - 1]!.size += fl[i]!.size;
      fl.splice(i, 1);
      i--;
    }
    // a free block at the top lowers the bump pointer
    const last = fl[fl.length - 1];
    if (last && last.off + last.size === this.top) {
      this.top = last.off;
      fl.pop();
    }
  }

  private ensureCapacity(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const maxPages = Math.floor(this.limitBytes / PAGE);
    const wantBytes = Math.max(end, Math.min(have + GROW_STEP, this.limitBytes));
    const pages = Math.min(maxPages, Math.ceil(wantBytes / PAGE));
    const cur = have / PAGE;
    try {
      this.memory.grow(pages - cur);
    } catch (e) {
      throw new Error(`wasm arena ${this.index}: cannot grow memory to ${pages * PAGE} bytes: ${(e as Error).message}`);
    }
    this.refresh();
  }
}
