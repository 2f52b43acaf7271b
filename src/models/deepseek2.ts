/**
 * `deepseek2` family: DeepSeek-V2, V2-Lite, Coder-V2, V2.5, V3, V3.1, R1 (MLA + DeepSeekMoE).
 *
 * Reads llama.cpp's GGUF keys (deepseek-reference.md 3.7, 5.5): MLA with or without q compression,
 * absorbed attention over a latent cache of kv_lora_rank + rope values per token, from either GGUF
 * layout: the split attn_k_b / attn_v_b tensors (llama.cpp after April 2025) or the legacy
 * attn_kv_b (older conversions, e.g. the first V3/R1 quants), which is split at load time (v_b rows
 * are kept in the file's type; k_b is the transpose, so it is dequantized: F32 files stay F32, all
 * others become F16). YaRN on the rope dims with mscale^2 in the softmax scale
 * (mscale_all_dim = yarn_log_multiplier / 0.1 for this architecture), leading dense layers, and
 * routed + shared experts with softmax (V2) or sigmoid + selection bias (V3) gating.
 * Group-limited routing follows DeepSeek's reference per gating function: softmax-gated files (V2,
 * `group_limited_greedy`) rank groups by their best expert, sigmoid-gated ones (V3, `noaux_tc`) by
 * the sum of their two best biased scores. llama.cpp uses the top-2 sum for both, so on V2 files
 * with groups it can choose other experts than DeepSeek's model (docs/ARCHITECTURE.md).
 */
import { readTensorData, type GGUFFile } from '../formats/gguf.js';
import { GGMLType, rowBytes } from '../formats/ggml-types.js';
import { dequantize } from '../ops/dequant.js';
import { quantize } from '../ops/quantize.js';
import { GGUFValueType, type GGUFMetaEntry } from '../formats/gguf-writer.js';
import type { Backend, Tensor } from '../ops/types.js';
import { KvCache, checkBatch, type CacheBatchItem } from '../nn/kv-cache.js';
import { MlaAttention, type MlaSegment, type MlaWeights } from '../nn/mla.js';
import { MoeFfn, type MoeWeights } from '../nn/moe.js';
import { ropeInvFreq, yarnAttentionScale, type RopeScaling } from '../nn/rope.js';
import { MetaReader } from './meta.js';
import type { BatchItem, FixtureSpec, LoadOptions, Model, ModelFamily, ModelInfo, SequenceState, TensorDecl } from './types.js';
import { loadWeights } from './weights.js';
import { moeTensorDecls } from './moe-decls.js';

export interface Deepseek2Hparams {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  readonly eps: number;
  readonly qLoraRank: number;
  readonly kvLoraRank: number;
  readonly nopeDim: number;
  readonly ropeDim: number;
  readonly vDim: number;
  readonly nFF: number;
  readonly nLeadingDense: number;
  readonly nExperts: number;
  readonly nExpertsUsed: number;
  readonly nExpertsShared: number;
  readonly nFFExpert: number;
  readonly gating: 'softmax' | 'sigmoid';
  readonly normTopK: boolean;
  readonly expertScale: number;
  readonly nGroups: number;
  readonly nGroupsUsed: number;
  readonly ropeBase: number;
  readonly ropeScaling: RopeScaling;
  /** Legacy GGUF layout: one attn_kv_b per layer instead of attn_k_b + attn_v_b. */
  readonly legacyKvB: boolean;
}

const ARCH = 'deepseek2';
const DESCRIPTION = 'Multi-head Latent Attention + DeepSeekMoE (DeepSeek-V2/V3/R1)';

export function readDeepseek2Hparams(file: GGUFFile): Deepseek2Hparams {
  const m = new MetaReader(file, ARCH);
  const k = (s: string) => m.key(s);
  // Layout by the tensors present; head sizes from the *_mla keys (split files) or, in legacy
  // files, from the plain key/value lengths, which then describe the expanded heads.
  const legacyKvB = !file.tensorMap.has('blk.0.attn_k_b.weight') && file.tensorMap.has('blk.0.attn_kv_b.weight');
  const mlaKeys = m.has(k('attention.key_length_mla'));
  const ropeDim = m.int(k('rope.dimension_count'));
  const qk = m.int(k(mlaKeys ? 'attention.key_length_mla' : 'attention.key_length'));
  const embd = file.tensorMap.get('token_embd.weight');
  const scaling = m.optString(k('rope.scaling.type')) ?? 'none';
  let ropeScaling: RopeScaling = { type: 'none' };
  if (scaling === 'yarn') {
    ropeScaling = {
      type: 'yarn',
      factor: m.number(k('rope.scaling.factor')),
      originalContext: m.int(k('rope.scaling.original_context_length')),
      betaFast: m.number(k('rope.scaling.yarn_beta_fast'), 32),
      betaSlow: m.number(k('rope.scaling.yarn_beta_slow'), 1),
      // the converter stores 0.1 * mscale_all_dim "for legacy reasons" (reference 3.5)
      mscaleAllDim: m.number(k('rope.scaling.yarn_log_multiplier'), 0) / 0.1,
    };
  } else if (scaling !== 'none') {
    throw new Error(`${file.path}: unsupported rope scaling "${scaling}" for deepseek2`);
  }
  const gatingFunc = m.int(k('expert_gating_func'), 1);
  if (gatingFunc !== 1 && gatingFunc !== 2) throw new Error(`${file.path}: unsupported expert_gating_func ${gatingFunc} (1 softmax, 2 sigmoid)`);
  const hp: Deepseek2Hparams = {
    nLayer: m.int(k('block_count')),
    nEmbd: m.int(k('embedding_length')),
    nHead: m.int(k('attention.head_count')),
    nVocab: m.int(k('vocab_size'), embd?.shape[0] ?? 0),
    nCtxTrain: m.int(k('context_length'), 4096, 1 << 26),
    eps: m.number(k('attention.layer_norm_rms_epsilon'), 1e-6),
    qLoraRank: m.int(k('attention.q_lora_rank'), 0),
    kvLoraRank: m.int(k('attention.kv_lora_rank')),
    nopeDim: qk - ropeDim,
    ropeDim,
    vDim: m.int(k(mlaKeys ? 'attention.value_length_mla' : 'attention.value_length')),
    nFF: m.int(k('feed_forward_length')),
    nLeadingDense: m.int(k('leading_dense_block_count'), 0),
    nExperts: m.int(k('expert_count'), 0),
    nExpertsUsed: m.int(k('expert_used_count'), 0),
    nExpertsShared: m.int(k('expert_shared_count'), 0),
    nFFExpert: m.int(k('expert_feed_forward_length'), 0),
    gating: gatingFunc === 2 ? 'sigmoid' : 'softmax',
    normTopK: m.bool(k('expert_weights_norm'), false),
    expertScale: m.number(k('expert_weights_scale'), 1) || 1,
    nGroups: m.int(k('expert_group_count'), 1) || 1,
    nGroupsUsed: m.int(k('expert_group_used_count'), 1) || 1,
    ropeBase: m.number(k('rope.freq_base'), 10000),
    ropeScaling,
    legacyKvB,
  };
  if (hp.nopeDim < 0 || hp.ropeDim % 2) throw new Error(`${file.path}: inconsistent MLA head sizes (key_length_mla ${qk}, rope ${ropeDim})`);
  if (hp.nVocab < 1) throw new Error(`${file.path}: cannot determine the vocabulary size`);
  return hp;
}

const isMoe = (hp: Deepseek2Hparams, i: number) => hp.nExperts > 0 && i >= hp.nLeadingDense;

export function deepseek2TensorDecls(hp: Deepseek2Hparams): TensorDecl[] {
  const { nEmbd: d, nHead: H, nVocab: V, kvLoraRank: C, ropeDim: R, nopeDim, vDim, qLoraRank } = hp;
  const qk = nopeDim + R;
  const decls: TensorDecl[] = [
    { name: 'token_embd.weight', shape: [V, d] },
    { name: 'output_norm.weight', shape: [d], keepF32: true },
    { name: 'output.weight', shape: [V, d], optional: true },
  ];
  for (let i = 0; i < hp.nLayer; i++) {
    const p = `blk.${i}.`;
    decls.push({ name: `${p}attn_norm.weight`, shape: [d], keepF32: true });
    if (qLoraRank > 0) {
      decls.push(
        { name: `${p}attn_q_a.weight`, shape: [qLoraRank, d] },
        { name: `${p}attn_q_a_norm.weight`, shape: [qLoraRank], keepF32: true },
        { name: `${p}attn_q_b.weight`, shape: [H * qk, qLoraRank] },
      );
    } else {
      decls.push({ name: `${p}attn_q.weight`, shape: [H * qk, d] });
    }
    decls.push(
      { name: `${p}attn_kv_a_mqa.weight`, shape: [C + R, d] },
      { name: `${p}attn_kv_a_norm.weight`, shape: [C], keepF32: true },
      ...(hp.legacyKvB
        ? [{ name: `${p}attn_kv_b.weight`, shape: [H * (nopeDim + vDim), C], deferred: true }]
        : [{ name: `${p}attn_k_b.weight`, shape: [H, C, nopeDim] }, { name: `${p}attn_v_b.weight`, shape: [H, vDim, C] }]),
      { name: `${p}attn_output.weight`, shape: [d, H * vDim] },
      { name: `${p}ffn_norm.weight`, shape: [d], keepF32: true },
    );
    if (!isMoe(hp, i)) {
      decls.push(
        { name: `${p}ffn_gate.weight`, shape: [hp.nFF, d] },
        { name: `${p}ffn_up.weight`, shape: [hp.nFF, d] },
        { name: `${p}ffn_down.weight`, shape: [d, hp.nFF] },
      );
      continue;
    }
    const E = hp.nExperts;
    const F = hp.nFFExpert;
    const Fs = F * hp.nExpertsShared;
    decls.push(...moeTensorDecls(p, d, E, F, Fs, true));
  }
  return decls;
}

export function deepseek2Metadata(hp: Deepseek2Hparams): GGUFMetaEntry[] {
  const u32 = (key: string, value: number): GGUFMetaEntry => ({ key: `${ARCH}.${key}`, type: GGUFValueType.UINT32, value });
  const f32 = (key: string, value: number): GGUFMetaEntry => ({ key: `${ARCH}.${key}`, type: GGUFValueType.FLOAT32, value });
  const meta: GGUFMetaEntry[] = [
    { key: 'general.architecture', type: GGUFValueType.STRING, value: ARCH },
    u32('context_length', hp.nCtxTrain),
    u32('embedding_length', hp.nEmbd),
    u32('block_count', hp.nLayer),
    u32('feed_forward_length', hp.nFF),
    u32('attention.head_count', hp.nHead),
    // legacy files describe the expanded heads (MHA view); split files the latent one, plus *_mla
    ...(hp.legacyKvB
      ? [u32('attention.head_count_kv', hp.nHead), u32('attention.key_length', hp.nopeDim + hp.ropeDim), u32('attention.value_length', hp.vDim)]
      : [u32('attention.head_count_kv', 1), u32('attention.key_length', hp.kvLoraRank + hp.ropeDim), u32('attention.value_length', hp.kvLoraRank),
        u32('attention.key_length_mla', hp.nopeDim + hp.ropeDim), u32('attention.value_length_mla', hp.vDim)]),
    u32('attention.kv_lora_rank', hp.kvLoraRank),
    f32('attention.layer_norm_rms_epsilon', hp.eps),
    u32('rope.dimension_count', hp.ropeDim),
    f32('rope.freq_base', hp.ropeBase),
    u32('leading_dense_block_count', hp.nLeadingDense),
    u32('expert_feed_forward_length', hp.nFFExpert),
    u32('expert_count', hp.nExperts),
    u32('expert_used_count', hp.nExpertsUsed),
    u32('expert_shared_count', hp.nExpertsShared),
    f32('expert_weights_scale', hp.expertScale),
    u32('expert_gating_func', hp.gating === 'sigmoid' ? 2 : 1),
    u32('expert_group_count', hp.nGroups),
    u32('expert_group_used_count', hp.nGroupsUsed),
  ];
  if (hp.qLoraRank > 0) meta.push(u32('attention.q_lora_rank', hp.qLoraRank));
  if (hp.normTopK) meta.push({ key: `${ARCH}.expert_weights_norm`, type: GGUFValueType.BOOL, value: true });
  if (hp.ropeScaling.type === 'yarn') {
    meta.push(
      { key: `${ARCH}.rope.scaling.type`, type: GGUFValueType.STRING, value: 'yarn' },
      f32('rope.scaling.factor', hp.ropeScaling.factor ?? 1),
      u32('rope.scaling.original_context_length', hp.ropeScaling.originalContext ?? 4096),
      f32('rope.scaling.yarn_log_multiplier', 0.1 * (hp.ropeScaling.mscaleAllDim ?? 0)),
    );
  }
  return meta;
}

export function deepseek2Fixture(hp: Deepseek2Hparams): FixtureSpec {
  return { metadata: deepseek2Metadata(hp), tensors: deepseek2TensorDecls(hp) };
}

function info(file: GGUFFile, hp: Deepseek2Hparams): ModelInfo {
  let nParams = 0;
  for (const t of deepseek2TensorDecls(hp)) if (file.tensorMap.has(t.name)) nParams += t.shape.reduce((a, b) => a * b, 1);
  const latent = hp.kvLoraRank + hp.ropeDim;
  return {
    architecture: ARCH,
    family: DESCRIPTION,
    nLayer: hp.nLayer,
    nEmbd: hp.nEmbd,
    nVocab: hp.nVocab,
    contextLength: hp.nCtxTrain,
    nParams,
    kvBytesPerToken: hp.nLayer * latent * 4,
    details: {
      heads: hp.nHead,
      q_lora_rank: hp.qLoraRank,
      kv_lora_rank: hp.kvLoraRank,
      'head dims (nope/rope/v)': `${hp.nopeDim}/${hp.ropeDim}/${hp.vDim}`,
      'latent cache values per token per layer': `${latent} (kv_lora_rank ${hp.kvLoraRank} + rope ${hp.ropeDim}, one shared head)`,
      'full-form KV per token (for comparison)': `${(hp.nLayer * hp.nHead * (hp.nopeDim + hp.ropeDim + hp.vDim) * 4 / 1024).toFixed(2)} KiB (f32, ${hp.nHead} heads x (k ${hp.nopeDim + hp.ropeDim} + v ${hp.vDim}) x ${hp.nLayer} layers), ${(hp.nHead * (hp.nopeDim + hp.ropeDim + hp.vDim) / latent).toFixed(1)}x the latent cache`,
      experts: `${hp.nExpertsUsed} of ${hp.nExperts} routed + ${hp.nExpertsShared} shared, width ${hp.nFFExpert}, ${hp.gating}${hp.nGroups > 1 ? `, groups ${hp.nGroupsUsed}/${hp.nGroups}` : ''}${hp.normTopK ? ', normalized' : ''}, scale ${hp.expertScale}`,
      leading_dense_layers: hp.nLeadingDense,
      rope: `norm, base ${hp.ropeBase}, dims ${hp.ropeDim}, scaling ${hp.ropeScaling.type}${hp.ropeScaling.factor ? ` x${hp.ropeScaling.factor}` : ''}`,
    },
  };
}

/** DeepSeek's group ranking: V2 (softmax, group_limited_greedy) by group max, V3 (sigmoid, noaux_tc) by top-2 sum. */
export function groupScoreFor(gating: 'softmax' | 'sigmoid'): 'max' | 'top2sum' {
  return gating === 'softmax' ? 'max' : 'top2sum';
}

/**
 * Split one legacy attn_kv_b [H * (nope + v), C] into the absorbed form's k_b [H, C, nope] (per head
 * the transpose of the key rows: dequantized, F32 if the file is F32, else F16) and v_b [H, v, C]
 * (the value rows, copied block for block in the file's type). Reads one layer's tensor at a time.
 */
function splitKvB(file: GGUFFile, backend: Backend, hp: Deepseek2Hparams, layer: number, keep: Tensor[]): { kB: Tensor; vB: Tensor } {
  const name = `blk.${layer}.attn_kv_b.weight`;
  const info = file.tensorMap.get(name);
  if (!info) throw new Error(`${file.path}: missing tensor ${name}`);
  const { nHead: H, kvLoraRank: C, nopeDim: dn, vDim: dv } = hp;
  const raw = new Uint8Array(info.byteLength);
  readTensorData(info, raw);
  const rb = rowBytes(info.type, C);
  const vB = backend.createWeight(`blk.${layer}.attn_v_b.weight (from attn_kv_b)`, info.type, [H, dv, C], (dst) => {
    for (let h = 0; h < H; h++) {
      const src = (h * (dn + dv) + dn) * rb;
      dst.set(raw.subarray(src, src + dv * rb), h * dv * rb);
    }
  });
  keep.push(vB);
  const kType = info.type === GGMLType.F32 ? GGMLType.F32 : GGMLType.F16;
  const kt = new Float32Array(H * C * dn);
  for (let h = 0; h < H; h++) {
    const rows = dequantize(info.type, raw.subarray(h * (dn + dv) * rb, (h * (dn + dv) + dn) * rb), dn * C);
    for (let j = 0; j < dn; j++) for (let r = 0; r < C; r++) kt[(h * C + r) * dn + j] = rows[j * C + r]!;
  }
  const kBytes = kType === GGMLType.F32 ? new Uint8Array(kt.buffer) : quantize(kType, kt);
  const kB = backend.createWeight(`blk.${layer}.attn_k_b.weight (from attn_kv_b)`, kType, [H, C, dn], (dst) => dst.set(kBytes));
  keep.push(kB);
  return { kB, vB };
}

function load(file: GGUFFile, backend: Backend, opts: LoadOptions): Model {
  const hp = readDeepseek2Hparams(file);
  const maxBatch = opts.maxBatch ?? 512;
  const { invFreq, mscale } = ropeInvFreq(hp.ropeDim, hp.ropeBase, hp.ropeScaling);
  const scale = yarnAttentionScale(hp.ropeScaling) / Math.sqrt(hp.nopeDim + hp.ropeDim);
  const weights = loadWeights(file, backend, deepseek2TensorDecls(hp), opts.onProgress);
  const derived: Tensor[] = []; // k_b / v_b made from legacy attn_kv_b tensors
  const get = (n: string) => weights.get(n);
  const opt = (n: string) => weights.opt(n);
  const readF32 = (t: Tensor | null) => (t ? backend.read(t) : null);
  const mla = new MlaAttention(backend, {
    nHead: hp.nHead, nEmbd: hp.nEmbd, qLoraRank: hp.qLoraRank, kvLoraRank: hp.kvLoraRank, nopeDim: hp.nopeDim,
    ropeDim: hp.ropeDim, vDim: hp.vDim, eps: hp.eps, invFreq, ropeAmplitude: mscale, scale,
  }, maxBatch);
  const moe = hp.nExperts > 0
    ? new MoeFfn(backend, {
      nExperts: hp.nExperts, topK: hp.nExpertsUsed, gating: hp.gating, nGroups: hp.nGroups, topKGroups: hp.nGroupsUsed,
      groupScore: groupScoreFor(hp.gating), normTopK: hp.normTopK, scale: hp.expertScale,
    }, hp.nEmbd, hp.nFFExpert, hp.nFFExpert * hp.nExpertsShared, maxBatch)
    : null;
  const buildLayer = (i: number) => {
    const p = `blk.${i}.`;
    const att: MlaWeights = {
      wq: opt(`${p}attn_q.weight`), wqA: opt(`${p}attn_q_a.weight`), qANorm: opt(`${p}attn_q_a_norm.weight`),
      wqB: opt(`${p}attn_q_b.weight`), wkvA: get(`${p}attn_kv_a_mqa.weight`), kvANorm: get(`${p}attn_kv_a_norm.weight`),
      ...(hp.legacyKvB ? splitKvB(file, backend, hp, i, derived) : { kB: get(`${p}attn_k_b.weight`), vB: get(`${p}attn_v_b.weight`) }),
      wo: get(`${p}attn_output.weight`),
    };
    const ffn: MoeWeights | null = isMoe(hp, i)
      ? {
        router: get(`${p}ffn_gate_inp.weight`), bias: readF32(opt(`${p}exp_probs_b.bias`)),
        gateExps: get(`${p}ffn_gate_exps.weight`), upExps: get(`${p}ffn_up_exps.weight`), downExps: get(`${p}ffn_down_exps.weight`),
        gateShared: opt(`${p}ffn_gate_shexp.weight`), upShared: opt(`${p}ffn_up_shexp.weight`), downShared: opt(`${p}ffn_down_shexp.weight`),
      }
      : null;
    return { attnNorm: get(`${p}attn_norm.weight`), ffnNorm: get(`${p}ffn_norm.weight`), att, ffn, dense: ffn ? null : { gate: get(`${p}ffn_gate.weight`), up: get(`${p}ffn_up.weight`), down: get(`${p}ffn_down.weight`) } };
  };
  let layers: Array<ReturnType<typeof buildLayer>>;
  try {
    layers = Array.from({ length: hp.nLayer }, (_, i) => buildLayer(i));
  } catch (e) {
    // nothing allocated so far may outlive a failed load
    for (const t of derived) backend.free(t);
    weights.dispose(backend);
    mla.dispose();
    moe?.dispose();
    throw e;
  }
  const tokEmbd = get('token_embd.weight');
  const output = opt('output.weight') ?? tokEmbd;
  const outputNorm = get('output_norm.weight');
  const d = hp.nEmbd;
  const V = hp.nVocab;
  const B = maxBatch;
  const ws = {
    x: backend.allocF32([B, d]), h: backend.allocF32([B, d]), y: backend.allocF32([B, d]),
    g: backend.allocF32([B, hp.nFF]), u: backend.allocF32([B, hp.nFF]), logits: backend.allocF32([Math.min(B, 16), V]),
  };

  /**
   * Several sequences in one pass: their tokens are stacked so every matrix product (projections,
   * experts, output) reads each weight once for all of them; cache writes and attention run per
   * sequence (continuous batching, as the dense decoder does).
   */
  function forwardMany(items: ReadonlyArray<CacheBatchItem>): Float32Array[] {
    const b = backend;
    const T = checkBatch(items, V, maxBatch);
    const tokens = new Int32Array(T);
    const positions = new Int32Array(T);
    const segs: MlaSegment[] = [];
    let off = 0;
    for (const it of items) {
      const n = it.tokens.length;
      tokens.set(it.tokens, off);
      for (let i = 0; i < n; i++) positions[off + i] = it.cache.length + i;
      segs.push({ cache: it.cache, start: off, count: n });
      off += n;
    }
    const x = b.view(ws.x, 0, [T, d]);
    const h = b.view(ws.h, 0, [T, d]);
    const y = b.view(ws.y, 0, [T, d]);
    b.getRows(x, tokEmbd, tokens);
    layers.forEach((L, il) => {
      b.rmsNorm(h, x, L.attnNorm, hp.eps);
      mla.forward(y, h, L.att, segs, il, positions);
      b.add(x, x, y);
      b.rmsNorm(h, x, L.ffnNorm, hp.eps);
      if (L.ffn) moe!.forward(y, h, L.ffn);
      else {
        const g = b.view(ws.g, 0, [T, hp.nFF]);
        const u = b.view(ws.u, 0, [T, hp.nFF]);
        b.matmulMany(h, [{ w: L.dense!.gate, out: g }, { w: L.dense!.up, out: u }]);
        b.swiglu(g, g, u);
        b.matmul(y, g, L.dense!.down);
      }
      b.add(x, x, y);
    });
    for (const it of items) it.cache.advance(it.tokens.length);
    // logits of the wanted rows, 16 at a time
    const wanted: number[] = [];
    const results = items.map((it, i) => {
      const n = it.tokens.length;
      const first = it.want === 'all' ? 0 : n - 1;
      if (it.want !== 'none') for (let r = first; r < n; r++) wanted.push(segs[i]!.start + r);
      return new Float32Array(it.want === 'none' ? 0 : (n - first) * V);
    });
    const owner = (row: number) => {
      let i = segs.length - 1;
      while (segs[i]!.start > row) i--;
      return i;
    };
    for (let k = 0; k < wanted.length; k += 16) {
      const n = Math.min(16, wanted.length - k);
      const hr = b.view(ws.h, 0, [n, d]);
      for (let j = 0; j < n; j++) b.copy(b.view(ws.h, j * d, [1, d]), b.view(ws.x, wanted[k + j]! * d, [1, d]));
      const lg = b.view(ws.logits, 0, [n, V]);
      b.rmsNorm(hr, hr, outputNorm, hp.eps);
      b.matmul(lg, hr, output);
      const out = b.read(lg);
      for (let j = 0; j < n; j++) {
        const row = wanted[k + j]!;
        const i = owner(row);
        const it = items[i]!;
        const first = it.want === 'all' ? 0 : it.tokens.length - 1;
        results[i]!.set(out.subarray(j * V, (j + 1) * V), (row - segs[i]!.start - first) * V);
      }
    }
    return results;
  }

  const own = (s: SequenceState): KvCache => {
    if (!(s instanceof KvCache)) throw new Error('forward: sequence state does not belong to this model');
    return s;
  };
  return {
    info: info(file, hp),
    backend,
    maxBatch,
    newSequence: (capacity) => new KvCache(backend, { nLayer: hp.nLayer, kWidth: mla.cacheWidth, vWidth: 0 }, capacity),
    forward: (tokens, state, o) => forwardMany([{ tokens, cache: own(state), want: o.logits }])[0]!,
    forwardBatch: (items: ReadonlyArray<BatchItem>) => forwardMany(items.map((it) => ({ tokens: it.tokens, cache: own(it.state), want: it.logits }))),
    dispose() {
      mla.dispose();
      moe?.dispose();
      for (const t of Object.values(ws)) backend.free(t);
      for (const t of derived) backend.free(t);
      weights.dispose(backend);
    },
  };
}

export const deepseek2Family: ModelFamily = {
  architectures: [ARCH],
  description: DESCRIPTION,
  describe: (file) => info(file, readDeepseek2Hparams(file)),
  load,
};
