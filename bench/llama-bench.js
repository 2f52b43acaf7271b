// One llama.cpp measurement through node-llama-cpp 3.21.1 (CPU, getLlama({gpu:false})), with the
// same procedure as `deepcard bench`: pp = one batch of `pp` random tokens into an empty cache
// (time until the first sampled token), tg = `tg` single-token greedy steps after it.
// usage: node bench/llama-bench.js <model.gguf> <pp> <tg> <threads> <maxTokenId>   -> prints one JSON line
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [path, ppS, tgS, thS, vocabS] = process.argv.slice(2);
const pp = Number(ppS), tg = Number(tgS), threads = Number(thS);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: threads });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath: path });
const loadMs = performance.now() - t0;
const ctx = await model.createContext({ contextSize: pp + tg + 64, batchSize: Math.max(512, pp), threads });
const seq = ctx.getSequence();
const nVocab = Number(vocabS);
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const greedy = { generateNext: { token: true, options: { temperature: 0 } } };

// Warm-up (llama-bench also runs one): a short batch, then clear the sequence.
await seq.controlledEvaluate([1, 2, 3, 4, 5, 6, 7, [8, greedy]]);
await seq.clearHistory();

const prompt = Array.from({ length: pp }, () => Math.floor(rnd() * nVocab));
let t = performance.now();
const res = await seq.controlledEvaluate(prompt.map((tok, i) => (i === pp - 1 ? [tok, greedy] : tok)));
const ppMs = performance.now() - t;
let next = res[pp - 1]?.next?.token;
const firstTokenMs = performance.now() - t0; // load + context + warm-up + prompt, as deepcard's
t = performance.now();
for (let i = 0; i < tg; i++) {
  const r = await seq.controlledEvaluate([[next, greedy]]);
  next = r[0]?.next?.token;
}
const tgMs = performance.now() - t;
await ctx.dispose();
await model.dispose();
process.stdout.write(JSON.stringify({
  engine: 'llama.cpp', model: path, threads, pp, tg,
  pp_tps: pp / (ppMs / 1000), tg_tps: tg > 0 ? tg / (tgMs / 1000) : null,
  load_ms: loadMs, first_token_ms: firstTokenMs, max_rss_kb: process.resourceUsage().maxRSS,
}) + '\n');
