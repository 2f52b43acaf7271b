/**
 * Pieces shared by the dense decoder families (llama.ts, qwen2.ts): reading the standard
 * hyper-parameters, declaring the standard tensors, and wiring weights into nn/dense.ts.
 * Families pass their differences in as options (rope pairing, biases); nothing here looks at
 * an architecture name.
 */
import type { GGUFFile } from '../formats/gguf.js';
import { GGUFValueType, type GGUFMetaEntry } from '../formats/gguf-writer.js';
import { readTensorData } from '../formats/gguf.js';
import { dequantize } from '../ops/dequant.js';
import type { Backend, RopeSpec } from '../ops/types.js';
import { DenseDecoder, type DenseConfig, type DenseLayerWeights } from '../nn/dense.js';
import { kvBytesPerToken } from '../nn/kv-cache.js';
import { ropeInvFreq, type RopeScaling } from '../nn/rope.js';
import { MetaReader } from './meta.js';
import type { RouterConfig } from '../nn/moe-routing.js';
import type { MoeWeights } from '../nn/moe.js';
import type { LoadOptions, Model, ModelInfo, SequenceState, TensorDecl } from './types.js';
import { loadWeights, type Weights } from './weights.js';
import { moeTensorDecls } from './moe-decls.js';
import { KvCache } from '../nn/kv-cache.js';

export interface DenseHparams {
  readonly arch: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly headDimK: number;
  readonly headDimV: number;
  readonly nFF: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  readonly eps: number;
  readonly ropeBase: number;
  readonly ropeDims: number;
  readonly ropeScaling: RopeScaling;
}

/** Mixture-of-experts layers of a dense-attention family (DeepSeek-MoE): layers >= nLeadingDense. */
export interface DenseMoe {
  readonly nLeadingDense: number;
  readonly nExperts: number;
  readonly nExpertsUsed: number;
  readonly nExpertsShared: number;
  readonly nFFExpert: number;
  readonly router: RouterConfig;
}

export interface DenseFamilyOptions {
  /** Rotary pairing used by this family's GGUF weights. */
  readonly ropeMode: 'norm' | 'neox';
  /** q/k/v projections carry biases. */
  readonly qkvBias: boolean;
  readonly description: string;
}

/** Read the standard `{arch}.*` hyper-parameters (llama.cpp's LLM_KV names). */
export function readDenseHparams(file: GGUFFile, arch: string): DenseHparams {
  const m = new MetaReader(file, arch);
  const nEmbd = m.int(m.key('embedding_length'));
  const nHead = m.int(m.key('attention.head_count'));
  if (nHead < 1 || nEmbd < 1) throw new Error(`${file.path}: embedding_length and attention.head_count must be positive`);
  const nHeadKv = m.int(m.key('attention.head_count_kv'), nHead);
  if (nHeadKv < 1 || nHead % nHeadKv !== 0) throw new Error(`${file.path}: head_count ${nHead} is not a multiple of head_count_kv ${nHeadKv}`);
  const headDimK = m.int(m.key('attention.key_length'), Math.floor(nEmbd / nHead));
  const headDimV = m.int(m.key('attention.value_length'), headDimK);
  const embd = file.tensorMap.get('token_embd.weight');
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const nVocab = m.int(m.key('vocab_size'), embd?.shape[0] ?? (Array.isArray(tokens) ? tokens.length : 0));
  if (nVocab < 1) throw new Error(`${file.path}: cannot determine the vocabulary size`);

  const scalingType = m.optString(m.key('rope.scaling.type')) ?? 'none';
  let ropeScaling: RopeScaling;
  const legacyLinear = m.optNumber(m.key('rope.scale_linear'));
  if (scalingType === 'none' && legacyLinear !== undefined && legacyLinear !== 1) {
    ropeScaling = { type: 'linear', factor: legacyLinear };
  } else if (scalingType === 'none') {
    ropeScaling = { type: 'none' };
  } else if (scalingType === 'linear') {
    ropeScaling = { type: 'linear', factor: m.number(m.key('rope.scaling.factor'), 1) };
  } else if (scalingType === 'yarn') {
    ropeScaling = {
      type: 'yarn',
      factor: m.number(m.key('rope.scaling.factor')),
      originalContext: m.int(m.key('rope.scaling.original_context_length')),
      betaFast: m.number(m.key('rope.scaling.yarn_beta_fast'), 32),
      betaSlow: m.number(m.key('rope.scaling.yarn_beta_slow'), 1),
    };
  } else {
    throw new Error(`${file.path}: unsupported rope scaling type "${scalingType}" (supported: none, linear, yarn)`);
  }
  const ropeDims = m.int(m.key('rope.dimension_count'), headDimK);
  if (ropeDims > headDimK || ropeDims % 2 !== 0) throw new Error(`${file.path}: rope.dimension_count ${ropeDims} invalid for head size ${headDimK}`);
  return {
    arch,
    nLayer: m.int(m.key('block_count')),
    nEmbd,
    nHead,
    nHeadKv,
    headDimK,
    headDimV,
    nFF: m.int(m.key('feed_forward_length')),
    nVocab,
    nCtxTrain: m.int(m.key('context_length'), 2048, 1 << 26),
    eps: m.number(m.key('attention.layer_norm_rms_epsilon'), 1e-5),
    ropeBase: m.number(m.key('rope.freq_base'), 10000),
    ropeDims,
    ropeScaling,
  };
}

/** The standard tensor set, shapes outermost-first ([out, in] for a projection). */
export function denseTensorDecls(hp: DenseHparams, opts: Pick<DenseFamilyOptions, 'qkvBias'>, moe?: DenseMoe): TensorDecl[] {
  const { nEmbd: d, nHead: H, nHeadKv: Hkv, headDimK: dk, headDimV: dv, nFF: F, nVocab: V } = hp;
  const decls: TensorDecl[] = [
    { name: 'token_embd.weight', shape: [V, d] },
    { name: 'output_norm.weight', shape: [d], keepF32: true },
    { name: 'output.weight', shape: [V, d], optional: true },
  ];
  for (let i = 0; i < hp.nLayer; i++) {
    const p = `blk.${i}.`;
    decls.push(
      { name: `${p}attn_norm.weight`, shape: [d], keepF32: true },
      { name: `${p}attn_q.weight`, shape: [H * dk, d] },
      { name: `${p}attn_k.weight`, shape: [Hkv * dk, d] },
      { name: `${p}attn_v.weight`, shape: [Hkv * dv, d] },
      { name: `${p}attn_output.weight`, shape: [d, H * dv] },
      { name: `${p}ffn_norm.weight`, shape: [d], keepF32: true },
    );
    if (moe && i >= moe.nLeadingDense) {
      const E = moe.nExperts;
      const Fe = moe.nFFExpert;
      const Fs = Fe * moe.nExpertsShared;
      decls.push(...moeTensorDecls(p, d, E, Fe, Fs, false));
    } else {
      decls.push(
        { name: `${p}ffn_gate.weight`, shape: [F, d] },
        { name: `${p}ffn_up.weight`, shape: [F, d] },
        { name: `${p}ffn_down.weight`, shape: [d, F] },
      );
    }
    if (opts.qkvBias) {
      decls.push(
        { name: `${p}attn_q.bias`, shape: [H * dk], keepF32: true },
        { name: `${p}attn_k.bias`, shape: [Hkv * dk], keepF32: true },
        { name: `${p}attn_v.bias`, shape: [Hkv * dv], keepF32: true },
      );
    }
  }
  return decls;
}

/** Metadata entries describing `hp` (for the fixture writer). */
export function denseMetadata(hp: DenseHparams): GGUFMetaEntry[] {
  const a = hp.arch;
  const u32 = (key: string, value: number): GGUFMetaEntry => ({ key: `${a}.${key}`, type: GGUFValueType.UINT32, value });
  const f32 = (key: string, value: number): GGUFMetaEntry => ({ key: `${a}.${key}`, type: GGUFValueType.FLOAT32, value });
  const meta: GGUFMetaEntry[] = [
    { key: 'general.architecture', type: GGUFValueType.STRING, value: a },
    u32('context_length', hp.nCtxTrain),
    u32('embedding_length', hp.nEmbd),
    u32('block_count', hp.nLayer),
    u32('feed_forward_length', hp.nFF),
    u32('attention.head_count', hp.nHead),
    u32('attention.head_count_kv', hp.nHeadKv),
    f32('attention.layer_norm_rms_epsilon', hp.eps),
    f32('rope.freq_base', hp.ropeBase),
    u32('rope.dimension_count', hp.ropeDims),
  ];
  if (hp.ropeScaling.type === 'linear') {
    meta.push({ key: `${a}.rope.scaling.type`, type: GGUFValueType.STRING, value: 'linear' });
    meta.push(f32('rope.scaling.factor', hp.ropeScaling.factor ?? 1));
  }
  return meta;
}

export function countParams(file: GGUFFile, decls: readonly TensorDecl[]): number {
  let n = 0;
  for (const d of decls) if (file.tensorMap.has(d.name)) n += d.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Build a runnable model from a GGUF file whose tensors follow the standard dense layout. */
export function loadDenseModel(file: GGUFFile, backend: Backend, hp: DenseHparams, fam: DenseFamilyOptions, opts: LoadOptions, moe?: DenseMoe): Model {
  const decls = denseTensorDecls(hp, fam, moe);
  // llama.cpp's converter stores Llama-3 rope scaling as per-pair divisors (rope_freqs.weight).
  let freqFactors: Float32Array | undefined;
  const rf = file.tensorMap.get('rope_freqs.weight');
  if (rf) {
    if (rf.shape.length !== 1 || rf.shape[0] !== hp.ropeDims / 2) throw new Error(`${file.path}: rope_freqs.weight has shape [${rf.shape}], expected [${hp.ropeDims / 2}]`);
    const bytes = new Uint8Array(rf.byteLength);
    readTensorData(rf, bytes);
    freqFactors = dequantize(rf.type, bytes, hp.ropeDims / 2);
  }
  const { invFreq, mscale } = ropeInvFreq(hp.ropeDims, hp.ropeBase, hp.ropeScaling, freqFactors);
  const rope: RopeSpec = { headDim: hp.headDimK, offset: 0, nDims: hp.ropeDims, mode: fam.ropeMode, invFreq, mscale };
  const cfg: DenseConfig = {
    nLayer: hp.nLayer, nEmbd: hp.nEmbd, nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDimK: hp.headDimK,
    headDimV: hp.headDimV, nFF: hp.nFF, nVocab: hp.nVocab, eps: hp.eps, rope, attnScale: 1 / Math.sqrt(hp.headDimK),
    ...(moe ? { moe: { router: moe.router, nFFExpert: moe.nFFExpert, nFFShared: moe.nFFExpert * moe.nExpertsShared } } : {}),
  };
  const maxBatch = opts.maxBatch ?? 512;
  const weights = loadWeights(file, backend, decls, opts.onProgress);
  let decoder: DenseDecoder;
  try {
    const layers: DenseLayerWeights[] = [];
    for (let i = 0; i < hp.nLayer; i++) {
      const p = `blk.${i}.`;
      layers.push({
        attnNorm: weights.get(`${p}attn_norm.weight`),
        wq: weights.get(`${p}attn_q.weight`),
        wk: weights.get(`${p}attn_k.weight`),
        wv: weights.get(`${p}attn_v.weight`),
        wo: weights.get(`${p}attn_output.weight`),
        bq: weights.opt(`${p}attn_q.bias`),
        bk: weights.opt(`${p}attn_k.bias`),
        bv: weights.opt(`${p}attn_v.bias`),
        ffnNorm: weights.get(`${p}ffn_norm.weight`),
        wGate: weights.opt(`${p}ffn_gate.weight`),
        wUp: weights.opt(`${p}ffn_up.weight`),
        wDown: weights.opt(`${p}ffn_down.weight`),
        moe: moe && i >= moe.nLeadingDense ? moeWeights(weights, p) : null,
      });
    }
    const tokEmbd = weights.get('token_embd.weight');
    decoder = new DenseDecoder(backend, cfg, {
      tokEmbd,
      outputNorm: weights.get('output_norm.weight'),
      output: weights.opt('output.weight') ?? tokEmbd,
      layers,
    }, maxBatch);
  } catch (e) {
    weights.dispose(backend);
    throw e;
  }
  const info = denseInfo(file, hp, fam, freqFactors !== undefined, moe);
  return {
    info,
    backend,
    maxBatch,
    newSequence: (capacity: number): SequenceState => decoder.newCache(capacity),
    forward(tokens, state, fopts) {
      return decoder.forward(tokens, ownCache(state), fopts.logits);
    },
    forwardBatch(items) {
      return decoder.forwardBatch(items.map((it) => ({ tokens: it.tokens, cache: ownCache(it.state), want: it.logits })));
    },
    dispose() {
      decoder.dispose();
      weights.dispose(backend);
    },
  };
}


function moeWeights(w: Weights, p: string): MoeWeights {
  return {
    router: w.get(`${p}ffn_gate_inp.weight`),
    bias: null,
    gateExps: w.get(`${p}ffn_gate_exps.weight`),
    upExps: w.get(`${p}ffn_up_exps.weight`),
    downExps: w.get(`${p}ffn_down_exps.weight`),
    gateShared: w.opt(`${p}ffn_gate_shexp.weight`),
    upShared: w.opt(`${p}ffn_up_shexp.weight`),
    downShared: w.opt(`${p}ffn_down_shexp.weight`),
  };
}

function ownCache(state: SequenceState): KvCache {
  if (!(state instanceof KvCache)) throw new Error('forward: sequence state does not belong to this model');
  return state;
}

/** Model facts computed from the header alone (no weights loaded). */
export function denseInfo(file: GGUFFile, hp: DenseHparams, fam: DenseFamilyOptions, hasFreqFactors = file.tensorMap.has('rope_freqs.weight'), moe?: DenseMoe): ModelInfo {
  const decls = denseTensorDecls(hp, fam, moe);
  const kvLayout = { nLayer: hp.nLayer, kWidth: hp.nHeadKv * hp.headDimK, vWidth: hp.nHeadKv * hp.headDimV };
  return {
    architecture: hp.arch,
    family: fam.description,
    nLayer: hp.nLayer,
    nEmbd: hp.nEmbd,
    nVocab: hp.nVocab,
    contextLength: hp.nCtxTrain,
    nParams: countParams(file, decls),
    kvBytesPerToken: kvBytesPerToken(kvLayout),
    details: {
      heads: hp.nHead,
      kv_heads: hp.nHeadKv,
      head_dim: hp.headDimK,
      ffn: hp.nFF,
      rope: `${fam.ropeMode}, base ${hp.ropeBase}, dims ${hp.ropeDims}, scaling ${hp.ropeScaling.type}${hp.ropeScaling.factor ? ` x${hp.ropeScaling.factor}` : ''}${hasFreqFactors ? ' + rope_freqs' : ''}`,
      qkv_bias: fam.qkvBias,
      tied_output: !file.tensorMap.has('output.weight'),
      rms_eps: Number(hp.eps.toPrecision(6)),
      ...(moe ? { experts: `${moe.nExpertsUsed} of ${moe.nExperts} routed + ${moe.nExpertsShared} shared, width ${moe.nFFExpert}, ${moe.router.gating}, from layer ${moe.nLeadingDense}` } : {}),
    },
  };
}
