/**
 * KV cache for standard (MHA/GQA) attention: per layer one K tensor [capacity, nKv * headDimK] and
 * one V tensor [capacity, nKv * headDimV] in F32. Row index = position in the sequence, so the
 * attention op's causal rule (query at position p reads rows 0..p) needs no extra bookkeeping.
 */
import type { Backend, Tensor } from '../ops/types.js';
import type { SequenceState } from '../models/types.js';

export interface KvLayout {
  readonly nLayer: number;
  /** Floats per position per layer for K and for V. */
  readonly kWidth: number;
  readonly vWidth: number;
}

export function kvBytesPerToken(l: KvLayout): number {
  return l.nLayer * (l.kWidth + l.vWidth) * 4;
}

export class KvCache implements SequenceState {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  private len = 0;
  private disposed = false;

  constructor(private readonly backend: Backend, readonly layout: KvLayout, readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`KV cache capacity must be a positive integer, got ${capacity}`);
    try {
      for (let i = 0; i < layout.nLayer; i++) {
        this.k.push(backend.allocF32([capacity, layout.kWidth], `cache.k.${i}`)); // [S, nKv*dk]
        // vWidth 0: a latent (MLA) cache whose values live inside the key rows
        if (layout.vWidth > 0) this.v.push(backend.allocF32([capacity, layout.vWidth], `cache.v.${i}`)); // [S, nKv*dv]
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

  /** Rows [pos, pos + n) of layer i's K and V, as [n, width] views (V = K rows for a latent cache). */
  rows(layer: number, pos: number, n: number): { k: Tensor; v: Tensor } {
    const { kWidth, vWidth } = this.layout;
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
