/**
 * Dense pre-norm decoder (Llama / Qwen2 / DeepSeek-LLM style), composed from Backend ops:
 *
 *   x = embed(tokens)
 *   per layer:  h = rmsnorm(x);  q,k,v = h.Wq,Wk,Wv (+bias);  rope(q,k);  cache <- k,v
 *               x += attention(q, cache) . Wo
 *               h = rmsnorm(x);  x += (silu(h.Wgate) * h.Wup) . Wdown
 *   logits = rmsnorm(x) . Woutput
 *
 * Legend: T = tokens in this call, B = max tokens per call, d = nEmbd, H / Hkv = query / kv heads,
 * dk / dv = head sizes, F = feed-forward width, V = vocabulary rows.
 */
import type { AttentionSpec, Backend, RopeSpec, Tensor } from '../ops/types.js';
import { KvCache } from './kv-cache.js';

export interface DenseConfig {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDimK: number;
  readonly headDimV: number;
  readonly nFF: number;
  readonly nVocab: number;
  readonly eps: number;
  readonly rope: RopeSpec;
  readonly attnScale: number;
}

export interface DenseLayerWeights {
  readonly attnNorm: Tensor;
  readonly wq: Tensor;
  readonly wk: Tensor;
  readonly wv: Tensor;
  readonly wo: Tensor;
  readonly bq: Tensor | null;
  readonly bk: Tensor | null;
  readonly bv: Tensor | null;
  readonly ffnNorm: Tensor;
  readonly wGate: Tensor;
  readonly wUp: Tensor;
  readonly wDown: Tensor;
}

export interface DenseWeights {
  readonly tokEmbd: Tensor;
  readonly outputNorm: Tensor;
  /** Output projection (the embedding itself when tied). */
  readonly output: Tensor;
  readonly layers: readonly DenseLayerWeights[];
}

/** Rows of logits computed per output matmul when every position's logits are wanted. */
const LOGIT_CHUNK = 16;

export class DenseDecoder {
  private readonly ws: Record<'x' | 'h' | 'q' | 'attn' | 'proj' | 'gate' | 'up' | 'logits', Tensor>;
  private readonly attnSpec: AttentionSpec;

  constructor(
    private readonly b: Backend,
    readonly cfg: DenseConfig,
    private readonly w: DenseWeights,
    readonly maxBatch: number,
  ) {
    const B = maxBatch;
    const { nEmbd: d, nHead: H, headDimK: dk, headDimV: dv, nFF: F, nVocab: V } = cfg;
    this.ws = {
      x: b.allocF32([B, d], 'ws.x'),
      h: b.allocF32([B, d], 'ws.h'),
      q: b.allocF32([B, H * dk], 'ws.q'),
      attn: b.allocF32([B, H * dv], 'ws.attn'),
      proj: b.allocF32([B, d], 'ws.proj'),
      gate: b.allocF32([B, F], 'ws.gate'),
      up: b.allocF32([B, F], 'ws.up'),
      logits: b.allocF32([Math.min(B, LOGIT_CHUNK), V], 'ws.logits'),
    };
    this.attnSpec = { nHead: H, nKvHead: cfg.nHeadKv, headDimK: dk, headDimV: dv, scale: cfg.attnScale };
  }

  newCache(capacity: number): KvCache {
    const { nLayer, nHeadKv, headDimK, headDimV } = this.cfg;
    return new KvCache(this.b, { nLayer, kWidth: nHeadKv * headDimK, vWidth: nHeadKv * headDimV }, capacity);
  }

  /** Rows [0, T) of a workspace tensor as [T, ...inner]. */
  private rows(t: Tensor, T: number, inner: readonly number[]): Tensor {
    return this.b.view(t, 0, [T, ...inner]);
  }

  forward(tokens: Int32Array, cache: KvCache, want: 'none' | 'last' | 'all'): Float32Array {
    const b = this.b;
    const T = tokens.length;
    const { nEmbd: d, nHead: H, nHeadKv: Hkv, headDimK: dk, headDimV: dv, nFF: F, eps } = this.cfg;
    if (T < 1 || T > this.maxBatch) throw new Error(`forward: ${T} tokens, batch limit is ${this.maxBatch}`);
    const pos0 = cache.length;
    if (pos0 + T > cache.capacity) throw new Error(`context full: ${pos0} + ${T} tokens exceed the context of ${cache.capacity}`);
    for (let i = 0; i < T; i++) {
      const id = tokens[i]!;
      if (id < 0 || id >= this.cfg.nVocab) throw new Error(`token id ${id} is outside the vocabulary (0..${this.cfg.nVocab - 1})`);
    }
    const positions = new Int32Array(T);
    for (let i = 0; i < T; i++) positions[i] = pos0 + i;

    const x = this.rows(this.ws.x, T, [d]); //            [T, d]
    const h = this.rows(this.ws.h, T, [d]); //            [T, d]
    const q = this.rows(this.ws.q, T, [H * dk]); //       [T, H*dk]
    const q3 = this.rows(this.ws.q, T, [H, dk]); //       [T, H, dk]
    const attn = this.rows(this.ws.attn, T, [H * dv]); // [T, H*dv]
    const attn3 = this.rows(this.ws.attn, T, [H, dv]); // [T, H, dv]
    const proj = this.rows(this.ws.proj, T, [d]); //      [T, d]
    const gate = this.rows(this.ws.gate, T, [F]); //      [T, F]
    const up = this.rows(this.ws.up, T, [F]); //          [T, F]
    const cap = cache.capacity;

    b.getRows(x, this.w.tokEmbd, tokens);
    for (let il = 0; il < this.cfg.nLayer; il++) {
      const L = this.w.layers[il]!;
      b.rmsNorm(h, x, L.attnNorm, eps);
      const { k, v } = cache.rows(il, pos0, T); // [T, Hkv*dk], [T, Hkv*dv]
      b.matmulMany(h, [
        { w: L.wq, out: q, bias: L.bq },
        { w: L.wk, out: k, bias: L.bk },
        { w: L.wv, out: v, bias: L.bv },
      ]);
      b.rope(q3, positions, this.cfg.rope);
      b.rope(b.view(k, 0, [T, Hkv, dk]), positions, this.cfg.rope);
      const kAll = b.view(cache.k[il]!, 0, [cap, Hkv, dk]); // [S, Hkv, dk]
      const vAll = b.view(cache.v[il]!, 0, [cap, Hkv, dv]); // [S, Hkv, dv]
      b.attention(attn3, q3, kAll, vAll, positions, this.attnSpec);
      b.matmul(proj, attn, L.wo);
      b.add(x, x, proj);

      b.rmsNorm(h, x, L.ffnNorm, eps);
      b.matmulMany(h, [
        { w: L.wGate, out: gate },
        { w: L.wUp, out: up },
      ]);
      b.swiglu(gate, gate, up);
      b.matmul(proj, gate, L.wDown);
      b.add(x, x, proj);
    }
    cache.advance(T);
    if (want === 'none') return new Float32Array(0);

    const V = this.cfg.nVocab;
    const first = want === 'last' ? T - 1 : 0;
    const nOut = T - first;
    const result = new Float32Array(nOut * V);
    for (let r = first; r < T; r += LOGIT_CHUNK) {
      const n = Math.min(LOGIT_CHUNK, T - r);
      const xr = b.view(this.ws.x, r * d, [n, d]);
      const hr = b.view(this.ws.h, r * d, [n, d]);
      const lg = b.view(this.ws.logits, 0, [n, V]);
      b.rmsNorm(hr, xr, this.w.outputNorm, eps);
      b.matmul(lg, hr, this.w.output);
      result.set(b.read(lg), (r - first) * V);
    }
    return result;
  }

  dispose(): void {
    for (const t of Object.values(this.ws)) this.b.free(t);
  }
}
