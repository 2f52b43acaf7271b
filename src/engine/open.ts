/**
 * Opening a model file: parse the GGUF header, pick the family from the registry, create the
 * compute backend and load the weights onto it.
 */
import { readGGUF, type GGUFFile } from '../formats/gguf.js';
import { createBackend, type BackendName } from '../backends/index.js';
import { resolveFamily } from '../models/registry.js';
import type { Model, ModelFamily } from '../models/types.js';
import type { Backend } from '../ops/types.js';

export interface OpenOptions {
  /** Compute threads (default: all cores). */
  readonly threads?: number;
  /** 'wasm' (default) or 'reference' (plain scalar TypeScript, for checking). */
  readonly backend?: BackendName;
  /** Tokens per forward call (default 512). */
  readonly maxBatch?: number;
  /** Called while weights load, with bytes loaded so far and the total. */
  readonly onProgress?: (loaded: number, total: number) => void;
  /** Skip kernel warm-up (tests that only load). */
  readonly noWarmup?: boolean;
}

export interface OpenedModel {
  readonly file: GGUFFile;
  readonly family: ModelFamily;
  readonly model: Model;
  readonly backend: Backend;
  dispose(): Promise<void>;
}

export async function openModel(path: string, opts: OpenOptions = {}): Promise<OpenedModel> {
  const file = readGGUF(path);
  const family = resolveFamily(file);
  family.describe(file); // validates hyper-parameters before any allocation
  const backend = await createBackend(opts.backend ?? 'wasm', { threads: opts.threads });
  let model: Model;
  try {
    model = family.load(file, backend, { maxBatch: opts.maxBatch, onProgress: opts.onProgress });
  } catch (e) {
    await backend.dispose();
    throw e;
  }
  if (!opts.noWarmup) backend.warmup?.();
  return {
    file,
    family,
    model,
    backend,
    async dispose() {
      model.dispose();
      await backend.dispose();
    },
  };
}

/**
 * Evaluate `tokens` from an empty sequence in chunks of the model's batch size and return the
 * logits of every position ([T, nVocab] row-major).
 */
export function evaluateAll(model: Model, tokens: readonly number[], capacity = tokens.length): Float32Array {
  const V = model.info.nVocab;
  const state = model.newSequence(Math.max(1, capacity));
  try {
    const out = new Float32Array(tokens.length * V);
    for (let i = 0; i < tokens.length; i += model.maxBatch) {
      const chunk = Int32Array.from(tokens.slice(i, i + model.maxBatch));
      out.set(model.forward(chunk, state, { logits: 'all' }), i * V);
    }
    return out;
  } finally {
    state.dispose();
  }
}

/** Natural-log softmax of one row (f64 accumulation), returning the top `k` as [id, logprob]. */
export function topLogprobs(row: Float32Array, k: number): Array<[number, number]> {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  const lse = max + Math.log(sum);
  const top: Array<[number, number]> = [];
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (top.length < k) {
      top.push([i, v]);
      if (top.length === k) top.sort((a, b) => b[1] - a[1]);
    } else if (v > top[k - 1]![1]) {
      let j = k - 1;
      while (j > 0 && top[j - 1]![1] < v) j--;
      top.splice(j, 0, [i, v]);
      top.pop();
    }
  }
  if (top.length < k) top.sort((a, b) => b[1] - a[1]);
  return top.map(([id, v]) => [id, v - lse]);
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
