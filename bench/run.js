// `npm run bench`: deepcard against llama.cpp (node-llama-cpp 3.21.1, CPU, 2 threads) on the same
// full-shape random-weight GGUFs, alternating engines within every repetition; prints pp and tg
// tokens/s of both, their ratio (medians), and peak resident memory.
//
// Models: the R1-Distill-Qwen-1.5B shape in every BENCH_TYPES type, then the DeepSeek-V2-Lite shape
// (MLA + 64-expert MoE, about 9 GB in Q4_0, sharded across wasm memories) in Q4_0.
//
// Then the server's total generation throughput with 1, 4 and 8 concurrent streams (continuous
// batching) on the Q4_0 file.
//
// Options (environment): BENCH_TYPES=Q4_0,Q8_0,Q4_K  BENCH_REPS=3  BENCH_PP=512  BENCH_TG=128
//                        BENCH_THREADS=2  BENCH_DIR=.cache/bench  BENCH_OUT=<json file>
//                        BENCH_SERVER=0 (skip the server part)  BENCH_SERVER_TOKENS=64
//                        BENCH_MODELS=qwen2,v2-lite (which shapes)  BENCH_V2LITE_TYPES=Q4_0
//                        BENCH_FALLBACK=0 (skip the plain-SIMD fallback's decode, measured for the 1.5B shape)
//
// Also reported: time to first token (load, warm-up and the pp-token prompt, from process start of
// loading to the first generated token) and, for the 1.5B shape, decode with the plain SIMD128
// fallback module (DEEPCARD_SIMD=plain; prompt of 64 tokens, then tg steps).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureFixture, fixtureName } from '../dist/fixtures/fixtures.js';
import { GGMLType } from '../dist/formats/ggml-types.js';
import { benchServerThroughput } from '../dist/server/bench.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const TYPES = (env.BENCH_TYPES ?? 'Q4_0,Q8_0,Q4_K').split(',');
const REPS = Number(env.BENCH_REPS ?? 3);
const PP = Number(env.BENCH_PP ?? 512);
const TG = Number(env.BENCH_TG ?? 128);
const THREADS = Number(env.BENCH_THREADS ?? 2);
const DIR = env.BENCH_DIR ?? path.join(root, '.cache', 'bench');
const ALL_MODELS = [
  { key: 'qwen2', family: 'qwen2', label: 'R1-Distill-Qwen-1.5B shape', vocab: 151643, types: TYPES },
  { key: 'v2-lite', family: 'deepseek2', variant: 'v2-lite', label: 'DeepSeek-V2-Lite shape', vocab: 128000, types: (env.BENCH_V2LITE_TYPES ?? 'Q4_0').split(',') },
];
const MODELS = ALL_MODELS.filter((m) => (env.BENCH_MODELS ?? 'qwen2,v2-lite').split(',').includes(m.key));

const median = (xs) => {
  const s = xs.filter((x) => x != null).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function runJson(cmd, args) {
  const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const line = out.trim().split('\n').pop();
  return JSON.parse(line);
}

function deepcardOnce(file, { pp = PP, env: extra = {} } = {}) {
  const args = [path.join(root, 'bin', 'deepcard.js'), 'bench', file, '--pp', String(pp), '--tg', String(TG), '--reps', '1', '--threads', String(THREADS), '--json'];
  const out = execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24, env: { ...process.env, ...extra } });
  return JSON.parse(out.trim().split('\n').pop());
}
const FALLBACK = env.BENCH_FALLBACK !== '0';

function llamaOnce(file, vocab) {
  return runJson(process.execPath, [path.join(root, 'bench', 'llama-bench.js'), file, String(PP), String(TG), String(THREADS), String(vocab)]);
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`deepcard bench: ${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
console.log(`pp${PP} / tg${TG}, ${THREADS} threads, ${REPS} repetitions (medians), engines alternate within each repetition\n`);
const results = [];
for (const m of MODELS) {
  for (const typeName of m.types) {
    const type = GGMLType[typeName];
    const opts = { family: m.family, size: 'full', type, ...(m.variant ? { variant: m.variant } : {}) };
    const file = path.join(DIR, fixtureName(opts));
    if (!fs.existsSync(file)) {
      process.stderr.write(`generating ${file} ...\n`);
      ensureFixture(DIR, opts);
    }
    const runs = { deepcard: [], llama: [], plain: [] };
    const fallback = FALLBACK && m.key === 'qwen2';
    for (let r = 0; r < REPS; r++) {
      process.stderr.write(`${m.key} ${typeName} rep ${r + 1}/${REPS}: llama.cpp ... `);
      runs.llama.push(llamaOnce(file, m.vocab));
      process.stderr.write(`pp ${runs.llama.at(-1).pp_tps.toFixed(1)} tg ${runs.llama.at(-1).tg_tps?.toFixed(2)}; deepcard ... `);
      runs.deepcard.push(deepcardOnce(file));
      process.stderr.write(`pp ${runs.deepcard.at(-1).pp_tps.toFixed(1)} tg ${runs.deepcard.at(-1).tg_tps?.toFixed(2)}`);
      if (fallback) {
        runs.plain.push(deepcardOnce(file, { pp: 64, env: { DEEPCARD_SIMD: 'plain' } }));
        process.stderr.write(`; plain fallback tg ${runs.plain.at(-1).tg_tps?.toFixed(2)}`);
      }
      process.stderr.write('\n');
    }
    const row = {
      model: m.label, type: typeName, file: path.basename(file), bytes: fs.statSync(file).size,
      deepcard: { pp: median(runs.deepcard.map((x) => x.pp_tps)), tg: median(runs.deepcard.map((x) => x.tg_tps)), rss_kb: median(runs.deepcard.map((x) => x.max_rss_kb)), ttft_ms: median(runs.deepcard.map((x) => x.first_token_ms)) },
      llama: { pp: median(runs.llama.map((x) => x.pp_tps)), tg: median(runs.llama.map((x) => x.tg_tps)), rss_kb: median(runs.llama.map((x) => x.max_rss_kb)), ttft_ms: median(runs.llama.map((x) => x.first_token_ms)) },
      plain: fallback ? { tg: median(runs.plain.map((x) => x.tg_tps)) } : null,
      runs,
    };
    row.ratio = {
      pp: row.deepcard.pp / row.llama.pp, tg: row.deepcard.tg / row.llama.tg, rss: row.deepcard.rss_kb / row.llama.rss_kb,
      ttft: row.deepcard.ttft_ms / row.llama.ttft_ms, plainTg: row.plain ? row.plain.tg / row.llama.tg : null,
    };
    results.push(row);
  }
}

const f = (x, d = 1) => (x == null ? 'n/a' : x.toFixed(d));
console.log(`| model | type | pp deepcard | pp llama.cpp | pp ratio | tg deepcard | tg llama.cpp | tg ratio | tg plain fallback (ratio) | first token (pp${PP}) deepcard / llama.cpp | RSS deepcard / llama.cpp |`);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const plain = r.plain ? `${f(r.plain.tg, 2)} (${f(r.ratio.plainTg, 2)}x)` : 'n/a';
  console.log(`| ${r.model} | ${r.type} | ${f(r.deepcard.pp)} | ${f(r.llama.pp)} | ${f(r.ratio.pp, 2)}x | ${f(r.deepcard.tg, 2)} | ${f(r.llama.tg, 2)} | ${f(r.ratio.tg, 2)}x | ${plain} | ${f(r.deepcard.ttft_ms / 1000, 1)} / ${f(r.llama.ttft_ms / 1000, 1)} s (${f(r.ratio.ttft, 2)}x) | ${f(r.deepcard.rss_kb / 1024, 0)} / ${f(r.llama.rss_kb / 1024, 0)} MiB (${f(r.ratio.rss, 2)}x) |`);
}
let server = null;
if (env.BENCH_SERVER !== '0') {
  const file = path.join(DIR, fixtureName({ family: 'qwen2', size: 'full', type: GGMLType.Q4_0 }));
  if (!fs.existsSync(file)) ensureFixture(DIR, { family: 'qwen2', size: 'full', type: GGMLType.Q4_0 });
  process.stderr.write('server throughput (1, 4, 8 concurrent streams) ...\n');
  server = await benchServerThroughput({ model: file, concurrency: [1, 4, 8], maxTokens: Number(env.BENCH_SERVER_TOKENS ?? 64), threads: THREADS });
  console.log('\n| server, R1-Distill-Qwen-1.5B shape Q4_0 | total generated tokens/s | median time to first event |');
  console.log('|---|---|---|');
  for (const r of server) console.log(`| ${r.concurrency} concurrent stream${r.concurrency > 1 ? 's' : ''} | ${r.tokensPerSecond.toFixed(2)} | ${r.firstEventMs.toFixed(0)} ms |`);
}

// The optimization log (docs/performance.md keeps it; printed here so a bench run shows it too).
{
  const doc = fs.readFileSync(path.join(root, 'docs', 'performance.md'), 'utf8');
  const at = doc.indexOf('## Optimizations tried');
  if (at >= 0) {
    const section = doc.slice(at).split('\n');
    const table = section.slice(1).filter((l, i, a) => l.startsWith('|') && a.slice(0, i).every((x) => x.startsWith('|') || x.trim() === ''));
    console.log('\n' + section[0].replace(/^## /, '') + ' (docs/performance.md):\n');
    for (const l of table) console.log(l);
  }
}

const out = env.BENCH_OUT ?? path.join(DIR, `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu, cores: os.cpus().length, node: process.version, pp: PP, tg: TG, threads: THREADS, reps: REPS, results, server }, null, 2));
console.log(`\nraw results: ${path.relative(root, out)}`);
