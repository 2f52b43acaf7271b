// deepcard vs llama.cpp (node-llama-cpp 3.21.1) on the same tiny random GGUFs: every family in
// every supported tensor type, top-10 log-probabilities at every position of a 64-token and a
// 300-token input, plus 32-step greedy continuations on F32 files.
//
// Tolerances (issue "Engine foundation"):
// - F32/F16/BF16 files: max |deepcard - llama.cpp exact| <= 2e-3 (exact = flash attention off, F32 KV).
// - quantized files: llama.cpp itself rounds activations to 8 bits and moves between its default
//   settings (flash attention, F16 KV) and its exact ones; deepcard's distance from llama.cpp exact
//   must be no larger than llama.cpp's own default-vs-exact distance on the same file, plus 0.05.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureFixture } from '../dist/fixtures/fixtures.js';
import { GGMLType } from '../dist/formats/ggml-types.js';
import { openModel, evaluateAll } from '../dist/engine/open.js';
import { disposeReferenceModels, llamaGreedy, llamaTopLogprobs } from './helpers/llama-ref.js';
import { fixtureDir, tokenSequence } from './helpers/fixtures.js';

const TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'IQ4_NL', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_XS'];
const FLOAT = new Set(['F32', 'F16', 'BF16']);
const FAMILIES = ['qwen2', 'llama'];

after(() => disposeReferenceModels());

/** Per position: max |ours - ref| over ref's top ids, and whether the top-1 agrees where it is clear. */
function compare(ours, V, ref, { skipTop1Margin = 0.02 } = {}) {
  let maxDiff = 0;
  let where = null;
  let top1Mismatch = 0;
  for (let p = 0; p < ref.length; p++) {
    const row = ours.subarray(p * V, (p + 1) * V);
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (row[i] > max) max = row[i];
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(row[i] - max);
    const lse = max + Math.log(s);
    for (const [id, lp] of ref[p]) {
      const d = Math.abs(row[id] - lse - lp);
      if (d > maxDiff) {
        maxDiff = d;
        where = { pos: p, id, ours: row[id] - lse, ref: lp };
      }
    }
    const [r0, r1] = ref[p];
    let arg = 0;
    for (let i = 1; i < V; i++) if (row[i] > row[arg]) arg = i;
    if (arg !== r0[0] && (!r1 || r0[1] - r1[1] > skipTop1Margin)) top1Mismatch++;
  }
  return { maxDiff, where, top1Mismatch };
}

/** max |a - b| over ids present in both top lists. */
function refSpread(a, b) {
  let m = 0;
  for (let p = 0; p < a.length; p++) {
    const mb = new Map(b[p]);
    for (const [id, lp] of a[p]) if (mb.has(id)) m = Math.max(m, Math.abs(lp - mb.get(id)));
  }
  return m;
}

for (const family of FAMILIES) {
  for (const typeName of TYPES) {
    test(`${family} ${typeName}: logits match llama.cpp`, { timeout: 600_000 }, async () => {
      const path = ensureFixture(fixtureDir(), { family, size: 'tiny', type: GGMLType[typeName] });
      const m = await openModel(path, { threads: 2 });
      try {
        const V = m.model.info.nVocab;
        for (const len of [64, 300]) {
          const tokens = tokenSequence(len, family === 'qwen2' ? 151000 : 128000, len);
          const ours = evaluateAll(m.model, tokens);
          const exact = await llamaTopLogprobs(path, tokens, { exact: true, top: 10 });
          const r = compare(ours, V, exact);
          if (FLOAT.has(typeName)) {
            assert.ok(r.maxDiff <= 2e-3, `${len} tokens: max |diff| ${r.maxDiff.toExponential(3)} > 2e-3 at ${JSON.stringify(r.where)}`);
            assert.equal(r.top1Mismatch, 0, `${len} tokens: top-1 differs at ${r.top1Mismatch} positions`);
          } else {
            const dflt = await llamaTopLogprobs(path, tokens, { exact: false, top: 20 });
            const spread = refSpread(exact, dflt);
            const limit = spread + 0.05;
            assert.ok(r.maxDiff <= limit, `${len} tokens: max |diff| ${r.maxDiff.toFixed(4)} > llama.cpp default-vs-exact ${spread.toFixed(4)} + 0.05 at ${JSON.stringify(r.where)}`);
          }
          // Outputs must not be flat: agreement on a near-uniform distribution would prove little.
          const top = exact.map((p) => p[0][1] - p[9][1]);
          const meanGap = top.reduce((a, b) => a + b, 0) / top.length;
          assert.ok(meanGap > 0.5, `fixture output is too flat (mean top1-top10 gap ${meanGap.toFixed(3)})`);
        }
        if (typeName === 'F32') {
          const prompt = tokenSequence(16, 100000, 7);
          const expected = await llamaGreedy(path, prompt, 32);
          const state = m.model.newSequence(64);
          const got = [];
          let logits = m.model.forward(Int32Array.from(prompt), state, { logits: 'last' });
          for (let i = 0; i < 32; i++) {
            let arg = 0;
            for (let j = 1; j < V; j++) if (logits[j] > logits[arg]) arg = j;
            got.push(arg);
            logits = m.model.forward(Int32Array.of(arg), state, { logits: 'last' });
          }
          state.dispose();
          assert.deepEqual(got, expected, 'greedy continuation differs from llama.cpp');
        }
      } finally {
        await m.dispose();
      }
    });
  }
}
