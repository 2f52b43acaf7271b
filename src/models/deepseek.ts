/**
 * `deepseek` family: DeepSeek-MoE 16B (base and chat): Llama-style multi-head attention (GGUF
 * Q/K rows permuted, so adjacent-pair rope) with DeepSeekMoE feed-forward after the leading dense
 * layers: fine-grained routed experts chosen by softmax greedy top-k (no normalization), plus
 * always-on shared experts (deepseek-reference.md 5.1, 5.2).
 */
import type { GGUFFile } from '../formats/gguf.js';
import { GGUFValueType, type GGUFMetaEntry } from '../formats/gguf-writer.js';
import type { Backend } from '../ops/types.js';
import { validateRouter } from '../nn/moe-routing.js';
import { denseInfo, denseMetadata, denseTensorDecls, loadDenseModel, readDenseHparams, type DenseFamilyOptions, type DenseHparams, type DenseMoe } from './dense-common.js';
import { MetaReader } from './meta.js';
import type { FixtureSpec, LoadOptions, Model, ModelFamily, ModelInfo } from './types.js';

const ARCH = 'deepseek';
const OPTIONS: DenseFamilyOptions = {
  ropeMode: 'norm',
  qkvBias: false,
  description: 'Multi-head attention + DeepSeekMoE (DeepSeek-MoE 16B)',
};

export function readDeepseekMoe(file: GGUFFile): DenseMoe {
  const m = new MetaReader(file, ARCH);
  const k = (s: string) => m.key(s);
  const moe: DenseMoe = {
    nLeadingDense: m.int(k('leading_dense_block_count'), 1),
    nExperts: m.int(k('expert_count')),
    nExpertsUsed: m.int(k('expert_used_count')),
    nExpertsShared: m.int(k('expert_shared_count'), 0),
    nFFExpert: m.int(k('expert_feed_forward_length')),
    router: {
      nExperts: m.int(k('expert_count')),
      topK: m.int(k('expert_used_count')),
      gating: 'softmax',
      nGroups: 1,
      topKGroups: 1,
      groupScore: 'max',
      normTopK: m.bool(k('expert_weights_norm'), false),
      scale: m.number(k('expert_weights_scale'), 1) || 1,
    },
  };
  validateRouter(moe.router);
  return moe;
}

export const deepseekFamily: ModelFamily = {
  architectures: [ARCH],
  description: OPTIONS.description,
  describe(file: GGUFFile): ModelInfo {
    return denseInfo(file, readDenseHparams(file, ARCH), OPTIONS, false, readDeepseekMoe(file));
  },
  load(file: GGUFFile, backend: Backend, opts: LoadOptions): Model {
    return loadDenseModel(file, backend, readDenseHparams(file, ARCH), OPTIONS, opts, readDeepseekMoe(file));
  },
};

/** Tensors and metadata of a DeepSeek-MoE model (fixture writer). */
export function deepseekFixture(hp: Omit<DenseHparams, 'arch'>, moe: DenseMoe): FixtureSpec {
  const full = { ...hp, arch: ARCH };
  const u32 = (key: string, value: number): GGUFMetaEntry => ({ key: `${ARCH}.${key}`, type: GGUFValueType.UINT32, value });
  return {
    metadata: [
      ...denseMetadata(full),
      u32('leading_dense_block_count', moe.nLeadingDense),
      u32('expert_count', moe.nExperts),
      u32('expert_used_count', moe.nExpertsUsed),
      u32('expert_shared_count', moe.nExpertsShared),
      u32('expert_feed_forward_length', moe.nFFExpert),
      { key: `${ARCH}.expert_weights_scale`, type: GGUFValueType.FLOAT32, value: moe.router.scale },
    ],
    tensors: denseTensorDecls(full, OPTIONS, moe),
  };
}
