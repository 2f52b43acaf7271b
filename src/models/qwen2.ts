/**
 * `qwen2` family: DeepSeek-R1-Distill-Qwen 1.5B/7B/14B/32B.
 *
 * Differences from llama: q/k/v projections have biases, rope pairs are split halves ("neox"
 * pairing: Qwen2 weights are not permuted by the converter), and small models may tie the output
 * projection to the embedding (no `output.weight`).
 */
import type { GGUFFile } from '../formats/gguf.js';
import type { Backend } from '../ops/types.js';
import { denseInfo, denseMetadata, denseTensorDecls, loadDenseModel, readDenseHparams, type DenseFamilyOptions, type DenseHparams } from './dense-common.js';
import type { FixtureSpec, LoadOptions, Model, ModelFamily, ModelInfo } from './types.js';

const OPTIONS: DenseFamilyOptions = {
  ropeMode: 'neox',
  qkvBias: true,
  description: 'Qwen2 dense decoder with q/k/v biases (R1-Distill-Qwen)',
};

export const qwen2Family: ModelFamily = {
  architectures: ['qwen2'],
  description: OPTIONS.description,
  describe(file: GGUFFile): ModelInfo {
    return denseInfo(file, readDenseHparams(file, 'qwen2'), OPTIONS);
  },
  load(file: GGUFFile, backend: Backend, opts: LoadOptions): Model {
    return loadDenseModel(file, backend, readDenseHparams(file, 'qwen2'), OPTIONS, opts);
  },
};

export function qwen2Fixture(hp: Omit<DenseHparams, 'arch'>, tiedOutput = false): FixtureSpec {
  const full = { ...hp, arch: 'qwen2' };
  const tensors = denseTensorDecls(full, OPTIONS).filter((t) => !(tiedOutput && t.name === 'output.weight'));
  return { metadata: denseMetadata(full), tensors };
}
