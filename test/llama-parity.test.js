// deepcard vs llama.cpp (node-llama-cpp 3.21.1) on the same tiny random GGUFs: every family in
// every supported tensor type, top-10 log-probabilities at every position of a 64-token and a
// 300-token input, plus 32-step greedy continuations on F32 files.
//
// Tolerances (issue "Engine foundation"):
// - F32 files: max |deepcard - llama.cpp exact| <= 2e-3 (exact = flash attention off, F32 KV).
// - every other type: llama.cpp rounds activations to the weight's dot type (f16, bf16, 8-bit
//   blocks) before each product, and moves between its default settings (flash attention, F16 KV)
//   and its exact ones; deepcard's distance from llama.cpp exact must be no larger than llama.cpp's
//   own default-vs-exact distance on the same file, plus 0.05. F16/BF16 files do not hold 2e-3
//   everywhere: BF16 agrees to ~1e-7 at the median position but a rare activation on a bf16
//   rounding boundary moves one position by 0.11; F16 differs by ~2-3e-3 at the median position
//   (not explained yet: rounding activations to f16 as llama.cpp does is the closest variant
//   measured). For them the median per-position difference must also stay <= 5e-3.
// Values are compared as log-probabilities relative to llama.cpp's top token (see llama-ref.js),
// plus the absolute log-probability of the top token on the 64-token input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ensureFixture } from '../dist/fixtures/fixtures.js';
import { GGMLType } from '../dist/formats/ggml-types.js';
import { openModel, evaluateAll } from '../dist/engine/open.js';
import { disposeReferenceModels, llamaGreedy, llamaTopAbsolute, llamaTopRelative } from './helpers/llama-ref.js';
import { fixtureDir, tokenSequence } from './helpers/fixtures.js';
import { absDiff, relDiff, top1Mismatches } from './helpers/compare.js';

const TYPES = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'IQ4_NL', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_XS'];
const FLOAT = new Set(['F32', 'F16', 'BF16']);
const FAMILIES = ['qwen2', 'llama'];

after(() => disposeReferenceModels());

const CASES = [
  ...FAMILIES.flatMap((family) => TYPES.map((typeName) => ({ family, typeName }))),
  // R1-Distill-Llama: base 500000 with Llama-3 scaling as the rope_freqs tensor.
  { family: 'llama', typeName: 'F32', rope: 'llama3' },
  { family: 'llama', typeName: 'Q4_K', rope: 'llama3' },
];

for (const { family, typeName, rope } of CASES) {
  {
    test(`${family}${rope ? ` (${rope} rope)` : ''} ${typeName}: logits match llama.cpp`, { timeout: 600_000 }, async (t) => {
      const path = ensureFixture(fixtureDir(), { family, size: 'tiny', type: GGMLType[typeName], rope });
      const m = await openModel(path, { threads: 2 });
      try {
        const V = m.model.info.nVocab;
        for (const len of [64, 300]) {
          const tokens = tokenSequence(len, family === 'qwen2' ? 151000 : 128000, len);
          const ours = evaluateAll(m.model, tokens);
          const exact = await llamaTopRelative(path, tokens, { exact: true, top: 10 });
          const r = relDiff(exact, ours, V);
          let ourDiff = r.max;
          if (len === 64) ourDiff = Math.max(ourDiff, absDiff(await llamaTopAbsolute(path, tokens, { exact: true }), ours, V));
          if (typeName === 'F32') {
            t.diagnostic(`${len} tokens: max |deepcard - llama.cpp exact| ${ourDiff.toExponential(2)}`);
            assert.ok(ourDiff <= 2e-3, `${len} tokens: max |diff| ${ourDiff.toExponential(3)} > 2e-3 at ${JSON.stringify(r.where)}`);
            assert.equal(top1Mismatches(exact, ours, V), 0, `${len} tokens: top-1 differs`);
          } else {
            // llama.cpp converts activations to the weights' dot type (f16, bf16, 8-bit blocks)
            // before each product and so does deepcard; a value within float noise of a rounding
            // boundary can land one step apart in the two engines. Hence the self-calibrated bound.
            const dflt = await llamaTopRelative(path, tokens, { exact: false, top: 20 });
            const spread = relDiff(exact, dflt, V).max;
            const limit = spread + 0.05;
            t.diagnostic(`${len} tokens: max |deepcard - llama.cpp exact| ${ourDiff.toFixed(4)} (median over positions ${r.median.toExponential(1)}), llama.cpp default vs exact ${spread.toFixed(4)}`);
            assert.ok(ourDiff <= limit, `${len} tokens: max |diff| ${ourDiff.toFixed(4)} > llama.cpp default-vs-exact ${spread.toFixed(4)} + 0.05 at ${JSON.stringify(r.where)}`);
            if (FLOAT.has(typeName)) {
              // Typical positions must still agree closely (measured: BF16 ~1e-7, F16 ~2-3e-3).
              assert.ok(r.median <= 5e-3, `${len} tokens: median per-position |diff| ${r.median} > 5e-3`);
            }
          }
          // Outputs must not be flat: agreement on a near-uniform distribution would prove little.
          const meanGap = exact.reduce((a, p) => a - p[p.length - 1][1], 0) / exact.length;
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
