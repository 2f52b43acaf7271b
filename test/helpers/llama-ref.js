// llama.cpp as the numerical reference, through node-llama-cpp 3.21.1 on the CPU.
//
// The functions below evaluate token ids in one sequence and return, per position, llama.cpp's
// next-token log-probabilities. Two settings matter for comparisons:
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

function contextOptions(exact, n) {
  return {
    contextSize: Math.max(512, n + 16),
    batchSize: 512,
    threads: 2,
    flashAttention: exact ? false : 'auto',
    ...(exact ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  };
}

/**
 * Per position, llama.cpp's `top` most likely next tokens as [id, log-probability relative to the
 * most likely token] (so the first entry is always 0).
 *
 * Why relative: node-llama-cpp exposes probabilities, not logits. Asking for the full distribution
 * sorts all ~150k entries per position in native code and builds a Map of them in JS (about
 * 100 ms per position); with top-k = `top` the list is cheap but renormalized over those k tokens.
 * Differences of log-probabilities within the list are unaffected by that renormalization, so
 * they compare exactly with the same differences computed from deepcard's logits.
 * `llamaTopAbsolute` supplies the absolute value of the top token where that is needed.
 *
 * @returns {Promise<Array<Array<[number, number]>>>}
 */
export async function llamaTopRelative(path, tokens, { exact, top = 10 }) {
  const model = await loadReferenceModel(path);
  const ctx = await model.createContext(contextOptions(exact, tokens.length));
  try {
    const seq = ctx.getSequence();
    const opts = { temperature: 1, topK: top, topP: 1, minP: 0 };
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true, options: opts } }]));
    return res.map((r, p) => {
      const probs = r?.next?.probabilities;
      if (!probs || probs.size === 0) throw new Error(`llama.cpp returned no probabilities at position ${p}`);
      const list = [...probs].slice(0, top);
      const l0 = Math.log(list[0][1]);
      return list.map(([id, pr]) => [id, Math.log(pr) - l0]);
    });
  } finally {
    await ctx.dispose();
  }
}

/**
 * Per position, llama.cpp's most likely next token and its absolute natural-log probability over
 * the whole vocabulary (greedy sampling with `confidence`).
 * @returns {Promise<Array<[number, number]>>}
 */
export async function llamaTopAbsolute(path, tokens, { exact }) {
  const model = await loadReferenceModel(path);
  const ctx = await model.createContext(contextOptions(exact, tokens.length));
  try {
    const seq = ctx.getSequence();
    const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { token: true, confidence: true, options: { temperature: 0 } } }]));
    return res.map((r) => [r.next.token, Math.log(r.next.confidence)]);
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
