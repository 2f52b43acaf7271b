/**
 * Multi-head Latent Attention in the absorbed form (deepseek-reference.md 3.4), over a latent
 * cache of kvLora + ropeDim values per token per layer (576 for V2/V3: one shared "head").
 *
 *   q        = (q_lora ? rmsnorm(h.Wq_a).Wq_b : h.Wq)           [T, H, nope + rope]
 *   kv       = h.Wkv_a                                          [T, kvLora + rope]
 *   cache    <- [rmsnorm(kv[:kvLora]) ; rope(kv[kvLora:])]      latent cache row per token
 *   q_abs    = [k_b[h] . q_nope ; rope(q_pe)]                   [T, H, kvLora + rope]
 *   o_lat    = softmax(scale * q_abs . cache) . cache[:kvLora]  [T, H, kvLora] (MQA, V = K[:kvLora])
 *   out      = concat_h(v_b[h] . o_lat) . Wo                    [T, d]
 *
 * scale = mscale^2 / sqrt(nope + rope) with YaRN's mscale (3.5): the same as the naive form.
 * Legend: T tokens, H heads, S cache rows, d model width.
 */
import type { AttentionSpec, Backend, RopeSpec, Tensor } from '../ops/types.js';
import type { KvCache } from './kv-cache.js';

export interface MlaConfig {
  readonly nHead: number;
  readonly nEmbd: number;
  readonly qLoraRank: number; // 0: plain q projection
  readonly kvLoraRank: number;
  readonly nopeDim: number;
  readonly ropeDim: number;
  readonly vDim: number;
  readonly eps: number;
  /** Rope tables for the rope part (interleaved pairing, YaRN frequencies). */
  readonly invFreq: Float32Array;
  readonly ropeAmplitude: number;
  readonly scale: number;
}

export interface MlaWeights {
  readonly wq: Tensor | null; //      [H*(nope+rope), d]
  readonly wqA: Tensor | null; //     [qLora, d]
  readonly qANorm: Tensor | null; //  [qLora]
  readonly wqB: Tensor | null; //     [H*(nope+rope), qLora]
  readonly wkvA: Tensor; //           [kvLora+rope, d]
  readonly kvANorm: Tensor; //        [kvLora]
  readonly kB: Tensor; //             [H, kvLora, nope]
  readonly vB: Tensor; //             [H, vDim, kvLora]
  readonly wo: Tensor; //             [d, H*vDim]
}

/** One sequence's rows [start, start + count) of a stacked batch, and its latent cache. */
export interface MlaSegment {
  readonly cache: KvCache;
  readonly start: number;
  readonly count: number;
}

export class MlaAttention {
  private readonly ws: Record<'qa' | 'q' | 'kv' | 'lat' | 'krow' | 'qabs' | 'olat' | 'o', Tensor>;
  private readonly ropeQ: RopeSpec;
  private readonly ropeK: RopeSpec;
  private readonly attn: AttentionSpec;
  readonly cacheWidth: number;

  constructor(private readonly b: Backend, readonly cfg: MlaConfig, maxBatch: number) {
    const B = maxBatch;
    const { nHead: H, qLoraRank, kvLoraRank: C, nopeDim, ropeDim: R, vDim } = cfg;
    const qk = nopeDim + R;
    this.cacheWidth = C + R;
    this.ws = {
      qa: b.allocF32([B, Math.max(1, qLoraRank)], 'mla.qa'),
      q: b.allocF32([B, H * qk], 'mla.q'),
      kv: b.allocF32([B, C + R], 'mla.kv'),
      lat: b.allocF32([B, C], 'mla.lat'),
      krow: b.allocF32([B, C + R], 'mla.krow'),
      qabs: b.allocF32([B, H * (C + R)], 'mla.qabs'),
      olat: b.allocF32([B, H * C], 'mla.olat'),
      o: b.allocF32([B, H * vDim], 'mla.o'),
    };
    const common = { nDims: R, mode: 'norm' as const, invFreq: cfg.invFreq, mscale: cfg.ropeAmplitude };
    this.ropeQ = { ...common, headDim: qk, offset: nopeDim };
    this.ropeK = { ...common, headDim: C + R, offset: C };
    this.attn = { nHead: H, nKvHead: 1, headDimK: C + R, headDimV: C, scale: cfg.scale, vFromK: true };
  }

  /**
   * out [T, d] = attention of the T rows of h, which may stack several sequences: `segs` gives each
   * one's cache and its rows [start, start + count) of h; `positions` holds every row's position in
   * its own sequence. Projections run once over all rows; cache writes and attention per sequence
   * (the cache's k tensors hold the latent rows).
   */
  forward(out: Tensor, h: Tensor, w: MlaWeights, segs: ReadonlyArray<MlaSegment>, layer: number, positions: Int32Array): void {
    const b = this.b;
    const T = h.shape[0]!;
    const { nHead: H, qLoraRank, kvLoraRank: C, nopeDim, ropeDim: R, vDim, eps } = this.cfg;
    const qk = nopeDim + R;
    const q = b.view(this.ws.q, 0, [T, H * qk]);
    if (qLoraRank > 0) {
      const qa = b.view(this.ws.qa, 0, [T, qLoraRank]);
      b.matmul(qa, h, w.wqA!);
      b.rmsNorm(qa, qa, w.qANorm, eps);
      b.matmul(q, qa, w.wqB!);
    } else {
      b.matmul(q, h, w.wq!);
    }
    const kv = b.view(this.ws.kv, 0, [T, C + R]);
    b.matmul(kv, h, w.wkvA);
    // Latent part normalized (the rope part is not); rope on the key's tail; then into each
    // sequence's cache rows.
    const lat = b.view(this.ws.lat, 0, [T, C]);
    b.copyCols(lat, 0, kv, 0, C);
    b.rmsNorm(lat, lat, w.kvANorm, eps);
    const krow = b.view(this.ws.krow, 0, [T, C + R]);
    b.copyCols(krow, 0, lat, 0, C);
    b.copyCols(krow, C, kv, C, R);
    b.rope(b.view(krow, 0, [T, 1, C + R]), positions, this.ropeK);
    // Query: rope on its tail, then absorb W_UK into the nope part.
    b.rope(b.view(q, 0, [T, H, qk]), positions, this.ropeQ);
    const qabs = b.view(this.ws.qabs, 0, [T, H, C + R]);
    b.matmulHeads(qabs, b.view(q, 0, [T, H, qk]), w.kB, { xOffset: 0, outOffset: 0 });
    b.copyCols(b.view(qabs, 0, [T * H, C + R]), C, b.view(q, 0, [T * H, qk]), nopeDim, R);
    // MQA over each sequence's latent cache; values are the latent part of each cached row.
    const olat = b.view(this.ws.olat, 0, [T, H, C]);
    for (const sg of segs) {
      const n = sg.count;
      const pos = positions.subarray(sg.start, sg.start + n);
      b.copy(sg.cache.rows(layer, pos[0]!, n).k, b.view(this.ws.krow, sg.start * (C + R), [n, C + R]));
      const all = b.view(sg.cache.k[layer]!, 0, [sg.cache.capacity, 1, C + R]);
      b.attention(b.view(this.ws.olat, sg.start * H * C, [n, H, C]), b.view(this.ws.qabs, sg.start * H * (C + R), [n, H, C + R]), all, all, pos, this.attn);
    }
    const o = b.view(this.ws.o, 0, [T, H, vDim]);
    b.matmulHeads(o, olat, w.vB);
    b.matmul(out, b.view(this.ws.o, 0, [T, H * vDim]), w.wo);
  }

  dispose(): void {
    for (const t of Object.values(this.ws)) this.b.free(t);
  }
}
