// llama.cpp as the numerical reference, through node-llama-cpp 3.21.1 on the CPU.
//
// `llamaTopLogprobs` evaluates token ids in one sequence and returns, per position, llama.cpp's
// top-k next-token log-probabilities. Two settings matter for comparisons:
//   exact:   flash attention off, F32 KV cache (llama.cpp's most precise CPU path)
//   default: flash attention auto (on for CPU), F16 KV cache (what users run)
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

let llamaPromise;
export function getReferenceLlama() {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: 2 });
  return llamaPromise;
}

const models = new Map();
export async function loadReferenceModel(path) {
  if (!models.has(path)) {
    const llama = await getReferenceLlama();
    models.set(path, await llama.loadModel({ modelPath: path }));
  }
  return models.get(path);
}

export async function disposeReferenceModels() {
  for (const m of models.values()) await m.dispose();
  models.clear();
}

// Sampling options that leave the distribution untouched (no top-k/top-p/min-p filtering).
const RAW = { temperature: 1, topK: 0, topP: 1, minP: 0 };

/**
 * @param {string} path GGUF file
 * @param {number[]} tokens
 * @param {{ exact: boolean, top?: number, chunk?: number }} opts
 * @returns {Promise<Array<Array<[number, number]>>>} per position: [id, natural-log probability], best first
 */
export async function llamaTopLogprobs(path, tokens, { exact, top = 10, chunk = 32 }) {
  const model = await loadReferenceModel(path);
  const ctx = await model.createContext({
    contextSize: Math.max(512, tokens.length + 16),
    batchSize: 512,
    threads: 2,
    flashAttention: exact ? false : 'auto',
    ...(exact ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  });
  try {
    const seq = ctx.getSequence();
    const out = [];
    // Evaluate in chunks so that only `chunk` full-vocabulary maps exist at once.
    for (let i = 0; i < tokens.length; i += chunk) {
      const items = tokens.slice(i, i + chunk).map((t) => [t, { generateNext: { probabilities: true, options: RAW } }]);
      const res = await seq.controlledEvaluate(items);
      for (let j = 0; j < items.length; j++) {
        const probs = res[j]?.next?.probabilities;
        if (!probs) throw new Error(`llama.cpp returned no probabilities at position ${i + j}`);
        const best = [];
        for (const [id, p] of probs) {
          best.push([id, Math.log(p)]);
          if (best.length >= top) break;
        }
        out.push(best);
      }
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

/** llama.cpp's greedy continuation of `tokens` for `n` steps (exact settings). */
export async function llamaGreedy(path, tokens, n) {
  const model = await loadReferenceModel(path);
  const ctx = await model.createContext({
    contextSize: Math.max(512, tokens.length + n + 16), batchSize: 512, threads: 2,
    flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  });
  try {
    const seq = ctx.getSequence();
    const gen = [];
    let input = tokens.map((t, i) => (i === tokens.length - 1 ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t));
    for (let s = 0; s < n; s++) {
      const res = await seq.controlledEvaluate(input);
      const next = res[input.length - 1]?.next?.token;
      if (next == null) throw new Error('llama.cpp produced no token');
      gen.push(next);
      input = [[next, { generateNext: { token: true, options: { temperature: 0 } } }]];
    }
    return gen;
  } finally {
    await ctx.dispose();
  }
}
