/**
 * Dense pre-norm decoder (Llama / Qwen2 / DeepSeek-LLM style), composed from Backend ops:
 *
 *   x = embed(tokens)
 *   per layer:  h = rmsnorm(x);  q,k,v = h.Wq,Wk,Wv (+bias);  rope(q,k);  cache <- k,v
 *               x += attention(q, cache) . Wo
 *               h = rmsnorm(x);  x += (silu(h.Wgate) * h.Wup) . Wdown
 *   logits = rmsnorm(x) . Woutput
 *
 * Several sequences can be evaluated in one call (forwardBatch): their tokens are stacked, the
 * matrix products run once over the whole stack and attention runs per sequence on its own cache.
 *
 * Legend: T = tokens in this call, B = max tokens per call, d = nEmbd, H / Hkv = query / kv heads,
 * dk / dv = head sizes, F = feed-forward width, V = vocabulary rows.
 */
import type { AttentionSpec, Backend, RopeSpec, Tensor } from '../ops/types.js';
import { KvCache, checkBatch } from './kv-cache.js';
import { MoeFfn, type MoeWeights } from './moe.js';
import type { RouterConfig } from './moe-routing.js';

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
  /** Mixture-of-experts feed-forward for the layers that carry `moe` weights (DeepSeek-MoE). */
  readonly moe?: { readonly router: RouterConfig; readonly nFFExpert: number; readonly nFFShared: number };
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
  /** Dense SwiGLU feed-forward (null on mixture-of-experts layers). */
  readonly wGate: Tensor | null;
  readonly wUp: Tensor | null;
  readonly wDown: Tensor | null;
  /** Experts of a mixture-of-experts layer (cfg.moe must be set). */
  readonly moe?: MoeWeights | null;
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
  private readonly ws: Record<'x' | 'h' | 'q' | 'k' | 'v' | 'attn' | 'proj' | 'gate' | 'up' | 'logits', Tensor>;
  private readonly attnSpec: AttentionSpec;
  private readonly moe: MoeFfn | null;

  constructor(
    private readonly b: Backend,
    readonly cfg: DenseConfig,
    private readonly w: DenseWeights,
    readonly maxBatch: number,
  ) {
    const B = maxBatch;
    const { nEmbd: d, nHead: H, nHeadKv: Hkv, headDimK: dk, headDimV: dv, nFF: F, nVocab: V } = cfg;
    this.ws = {
      x: b.allocF32([B, d], 'ws.x'),
      h: b.allocF32([B, d], 'ws.h'),
      q: b.allocF32([B, H * dk], 'ws.q'),
      k: b.allocF32([B, Hkv * dk], 'ws.k'),
      v: b.allocF32([B, Hkv * dv], 'ws.v'),
      attn: b.allocF32([B, H * dv], 'ws.attn'),
      proj: b.allocF32([B, d], 'ws.proj'),
      gate: b.allocF32([B, F], 'ws.gate'),
      up: b.allocF32([B, F], 'ws.up'),
      logits: b.allocF32([Math.min(B, LOGIT_CHUNK), V], 'ws.logits'),
    };
    this.attnSpec = { nHead: H, nKvHead: cfg.nHeadKv, headDimK: dk, headDimV: dv, scale: cfg.attnScale, headMajor: true };
    this.moe = cfg.moe ? new MoeFfn(b, cfg.moe.router, d, cfg.moe.nFFExpert, cfg.moe.nFFShared, B) : null;
  }

  newCache(capacity: number): KvCache {
    const { nLayer, nHeadKv, headDimK, headDimV } = this.cfg;
    return new KvCache(this.b, { nLayer, kWidth: nHeadKv * headDimK, vWidth: nHeadKv * headDimV, nKv: nHeadKv }, capacity);
  }

  /** Rows [0, T) of a workspace tensor as [T, ...inner]. */
  private rows(t: Tensor, T: number, inner: readonly number[]): Tensor {
    return this.b.view(t, 0, [T, ...inner]);
  }

  forward(tokens: Int32Array, cache: KvCache, want: 'none' | 'last' | 'all'): Float32Array {
    return this.forwardBatch([{ tokens, cache, want }])[0]!;
  }

  /**
   * Evaluate several sequences in one pass: their tokens are stacked into one [T, d] batch so
   * every matrix product reads each weight once for all of them (continuous batching); only
   * attention runs per sequence, over its own cache. Returns each item's logits.
   */
  forwardBatch(items: ReadonlyArray<{ tokens: Int32Array; cache: KvCache; want: 'none' | 'last' | 'all' }>): Float32Array[] {
    const b = this.b;
    const { nEmbd: d, nHead: H, nHeadKv: Hkv, headDimK: dk, headDimV: dv, nFF: F, eps } = this.cfg;
    const T = checkBatch(items, this.cfg.nVocab, this.maxBatch);
    const tokens = new Int32Array(T); //    all sequences stacked
    const positions = new Int32Array(T); // position of each row in its own sequence
    const offsets: number[] = [];
    let off = 0;
    for (const it of items) {
      offsets.push(off);
      tokens.set(it.tokens, off);
      for (let i = 0; i < it.tokens.length; i++) positions[off + i] = it.cache.length + i;
      off += it.tokens.length;
    }

    const x = this.rows(this.ws.x, T, [d]); //             [T, d]
    const h = this.rows(this.ws.h, T, [d]); //             [T, d]
    const q = this.rows(this.ws.q, T, [H * dk]); //        [T, H*dk]
    const q3 = this.rows(this.ws.q, T, [H, dk]); //        [T, H, dk]
    const k = this.rows(this.ws.k, T, [Hkv * dk]); //      [T, Hkv*dk]
    const k3 = this.rows(this.ws.k, T, [Hkv, dk]); //      [T, Hkv, dk]
    const v = this.rows(this.ws.v, T, [Hkv * dv]); //      [T, Hkv*dv]
    const attn = this.rows(this.ws.attn, T, [H * dv]); //  [T, H*dv]
    const proj = this.rows(this.ws.proj, T, [d]); //       [T, d]
    const gate = this.rows(this.ws.gate, T, [F]); //       [T, F]
    const up = this.rows(this.ws.up, T, [F]); //           [T, F]

    b.getRows(x, this.w.tokEmbd, tokens);
    for (let il = 0; il < this.cfg.nLayer; il++) {
      const L = this.w.layers[il]!;
      b.rmsNorm(h, x, L.attnNorm, eps);
      b.matmulMany(h, [
        { w: L.wq, out: q, bias: L.bq },
        { w: L.wk, out: k, bias: L.bk },
        { w: L.wv, out: v, bias: L.bv },
      ]);
      b.rope(q3, positions, this.cfg.rope);
      b.rope(k3, positions, this.cfg.rope);
      items.forEach((it, s) => {
        const n = it.tokens.length;
        const o = offsets[s]!;
        // this sequence's new cache rows, then attention over the head-major cache
        it.cache.write(il, it.cache.length, b.view(this.ws.k, o * Hkv * dk, [n, Hkv * dk]), b.view(this.ws.v, o * Hkv * dv, [n, Hkv * dv]));
        b.attention(
          b.view(this.ws.attn, o * H * dv, [n, H, dv]),
          b.view(this.ws.q, o * H * dk, [n, H, dk]),
          it.cache.k[il]!, // [Hkv, S, dk]
          it.cache.v[il]!, // [Hkv, S, dv]
          positions.subarray(o, o + n),
          this.attnSpec,
        );
      });
      b.matmul(proj, attn, L.wo);
      b.add(x, x, proj);

      b.rmsNorm(h, x, L.ffnNorm, eps);
      if (L.moe) {
        if (!this.moe) throw new Error('dense decoder: a layer has experts but the config declares no MoE');
        this.moe.forward(proj, h, L.moe);
      } else {
        b.matmulMany(h, [
          { w: L.wGate!, out: gate },
          { w: L.wUp!, out: up },
        ]);
        b.swiglu(gate, gate, up);
        b.matmul(proj, gate, L.wDown!);
      }
      b.add(x, x, proj);
    }
    for (const it of items) it.cache.advance(it.tokens.length);
    return this.logitsFor(items, offsets, T);
  }

  /** Output projection for the wanted rows, in runs of contiguous rows (a decode batch is one run). */
  private logitsFor(items: ReadonlyArray<{ tokens: Int32Array; want: 'none' | 'last' | 'all' }>, offsets: number[], T: number): Float32Array[] {
    const b = this.b;
    const { nEmbd: d, eps } = this.cfg;
    const V = this.cfg.nVocab;
    const wanted = new Int32Array(T).fill(-1); // row -> index of the item whose logits it feeds
    const results = items.map((it, s) => {
      const n = it.tokens.length;
      const first = it.want === 'all' ? 0 : it.want === 'last' ? n - 1 : n;
      for (let r = first; r < n; r++) wanted[offsets[s]! + r] = s;
      return new Float32Array((n - first) * V);
    });
    const filled = new Int32Array(items.length);
    for (let r = 0; r < T; ) {
      if (wanted[r]! < 0) {
        r++;
        continue;
      }
      let n = 1;
      while (n < LOGIT_CHUNK && r + n < T && wanted[r + n]! >= 0) n++;
      const xr = b.view(this.ws.x, r * d, [n, d]);
      const hr = b.view(this.ws.h, r * d, [n, d]);
      const lg = b.view(this.ws.logits, 0, [n, V]);
      b.rmsNorm(hr, xr, this.w.outputNorm, eps);
      b.matmul(lg, hr, this.w.output);
      const all = b.read(lg);
      for (let i = 0; i < n; i++) {
        const s = wanted[r + i]!;
        results[s]!.set(all.subarray(i * V, (i + 1) * V), filled[s]! * V);
        filled[s]!++;
      }
      r += n;
    }
    return results;
  }

  dispose(): void {
    this.moe?.dispose();
    for (const t of Object.values(this.ws)) this.b.free(t);
  }
}
