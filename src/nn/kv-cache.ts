/**
 * KV cache in F32, per layer one K tensor [nKv, capacity, headDimK] and one V tensor [nKv, capacity,
 * headDimV]: head-major, so that each KV head's rows are contiguous and a decode step streams one
 * block per head (the attention op's `headMajor` layout; with rows of all heads interleaved per
 * position every 4 keys of a decode step sat on a new 4 KB page). Position index = row within a
 * head, so the causal rule (query at position p reads rows 0..p) needs no extra bookkeeping.
 * nKv = 1 (an MLA latent cache) is the same as a row per position.
 */
import type { Backend, Tensor } from '../ops/types.js';
import type { SequenceState } from '../models/types.js';

export interface KvLayout {
  readonly nLayer: number;
  /** Floats per position per layer for K and for V (all KV heads). */
  readonly kWidth: number;
  readonly vWidth: number;
  /** KV heads (default 1): each layer's K and V are [nKv, capacity, width / nKv]. */
  readonly nKv?: number;
}

export function kvBytesPerToken(l: KvLayout): number {
  return l.nLayer * (l.kWidth + l.vWidth) * 4;
}

export class KvCache implements SequenceState {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  private len = 0;
  private disposed = false;

  /** KV heads. */
  readonly nKv: number;

  constructor(private readonly backend: Backend, readonly layout: KvLayout, readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`KV cache capacity must be a positive integer, got ${capacity}`);
    const nKv = layout.nKv ?? 1;
    if (!Number.isInteger(nKv) || nKv < 1 || layout.kWidth % nKv !== 0 || layout.vWidth % nKv !== 0) {
      throw new Error(`KV cache: widths ${layout.kWidth} / ${layout.vWidth} are not split into ${nKv} heads`);
    }
    this.nKv = nKv;
    try {
      for (let i = 0; i < layout.nLayer; i++) {
        this.k.push(backend.allocF32([nKv, capacity, layout.kWidth / nKv], `cache.k.${i}`)); // [nKv, S, dk]
        // vWidth 0: a latent (MLA) cache whose values live inside the key rows
        if (layout.vWidth > 0) this.v.push(backend.allocF32([nKv, capacity, layout.vWidth / nKv], `cache.v.${i}`)); // [nKv, S, dv]
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get length(): number {
    return this.len;
  }

  /** Called by the model after writing rows [length, length + n). */
  advance(n: number): void {
    if (this.len + n > this.capacity) throw new Error(`KV cache overflow: ${this.len} + ${n} > ${this.capacity}`);
    this.len += n;
  }

  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.len) throw new Error(`cannot truncate cache of ${this.len} to ${n}`);
    this.len = n;
  }

  /**
   * Store rows [pos, pos + n) of layer i: k [n, kWidth] and v [n, vWidth] (a row per position, all
   * heads, as the projections produce them); one copy per KV head and tensor.
   */
  write(layer: number, pos: number, k: Tensor, v: Tensor | null): void {
    const b = this.backend, { kWidth, vWidth } = this.layout;
    const n = k.size / kWidth;
    if (this.nKv === 1) {
      const r = this.rows(layer, pos, n);
      b.copy(r.k, k);
      if (v && vWidth > 0) b.copy(r.v, v);
      return;
    }
    const cap = this.capacity, dk = kWidth / this.nKv, dv = vWidth / this.nKv;
    for (let h = 0; h < this.nKv; h++) {
      b.copyCols(b.view(this.k[layer]!, (h * cap + pos) * dk, [n, dk]), 0, k, h * dk, dk);
      if (v && vWidth > 0) b.copyCols(b.view(this.v[layer]!, (h * cap + pos) * dv, [n, dv]), 0, v, h * dv, dv);
    }
  }

  /**
   * Rows [pos, pos + n) of layer i's K and V, as [n, width] views (V = K rows for a latent cache);
   * a row per position only exists with one KV head.
   */
  rows(layer: number, pos: number, n: number): { k: Tensor; v: Tensor } {
    const { kWidth, vWidth } = this.layout;
    if (this.nKv !== 1) throw new Error(`KV cache rows(): ${this.nKv} KV heads are stored head-major (use write())`);
    return {
      k: this.backend.view(this.k[layer]!, pos * kWidth, [n, kWidth]),
      v: vWidth > 0 ? this.backend.view(this.v[layer]!, pos * vWidth, [n, vWidth]) : this.backend.view(this.k[layer]!, pos * kWidth, [n, kWidth]),
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.k) this.backend.free(t);
    for (const t of this.v) this.backend.free(t);
    this.k.length = 0;
    this.v.length = 0;
  }
}

/** One sequence's part of a stacked batch: new tokens, its cache, which logits it wants. */
export interface CacheBatchItem {
  readonly tokens: Int32Array;
  readonly cache: KvCache;
  readonly want: 'none' | 'last' | 'all';
}

/**
 * Validate a batch before anything is computed (each sequence once, non-empty, fits its cache,
 * token ids inside the vocabulary, total within the batch limit); returns the total token count.
 */
export function checkBatch(items: ReadonlyArray<CacheBatchItem>, nVocab: number, maxBatch: number): number {
  let T = 0;
  for (const it of items) {
    const n = it.tokens.length;
    if (n < 1) throw new Error('forward: empty token list');
    if (it.cache.length + n > it.cache.capacity) throw new Error(`context full: ${it.cache.length} + ${n} tokens exceed the context of ${it.cache.capacity}`);
    if (items.some((o) => o !== it && o.cache === it.cache)) throw new Error('forward: the same sequence appears twice in one batch');
    for (const id of it.tokens) if (id < 0 || id >= nVocab) throw new Error(`token id ${id} is outside the vocabulary (0..${nVocab - 1})`);
    T += n;
  }
  if (T < 1 || T > maxBatch) throw new Error(`forward: ${T} tokens, batch limit is ${maxBatch}`);
  return T;
}
