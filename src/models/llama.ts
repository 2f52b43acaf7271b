/**
 * `llama` family: DeepSeek-LLM 7B/67B, DeepSeek-Coder v1 (linear rope scaling x4), DeepSeek-Math,
 * R1-Distill-Llama (Llama-3 rope scaling via the `rope_freqs.weight` tensor).
 *
 * GGUF llama files have their Q/K rows permuted by the converter, so rope pairs are adjacent
 * ("norm" pairing, deepseek-reference.md 4.2). No biases; output may be tied to the embedding.
 */
import type { GGUFFile } from '../formats/gguf.js';
import type { Backend } from '../ops/types.js';
import { denseInfo, denseMetadata, denseTensorDecls, loadDenseModel, readDenseHparams, type DenseFamilyOptions, type DenseHparams } from './dense-common.js';
import type { FixtureSpec, LoadOptions, Model, ModelFamily, ModelInfo } from './types.js';

const OPTIONS: DenseFamilyOptions = {
  ropeMode: 'norm',
  qkvBias: false,
  description: 'Llama-style dense decoder (DeepSeek-LLM, DeepSeek-Coder, R1-Distill-Llama)',
};

export const llamaFamily: ModelFamily = {
  architectures: ['llama'],
  description: OPTIONS.description,
  describe(file: GGUFFile): ModelInfo {
    return denseInfo(file, readDenseHparams(file, 'llama'), OPTIONS);
  },
  load(file: GGUFFile, backend: Backend, opts: LoadOptions): Model {
    return loadDenseModel(file, backend, readDenseHparams(file, 'llama'), OPTIONS, opts);
  },
};

/** Tensors and metadata of a llama-family model with the given hyper-parameters. */
export function llamaFixture(hp: Omit<DenseHparams, 'arch'>, tiedOutput = false): FixtureSpec {
  const full = { ...hp, arch: 'llama' };
  const tensors = denseTensorDecls(full, OPTIONS).filter((t) => !(tiedOutput && t.name === 'output.weight'));
  return { metadata: denseMetadata(full), tensors };
}
