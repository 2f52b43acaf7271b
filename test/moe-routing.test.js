// MoE routing against hand-computed cases from the formulas (deepseek-reference.md 5.2-5.5).
// Where llama.cpp deviates from DeepSeek's reference (V2 group-limited routing: llama.cpp always
// scores a group by its top-2 sum, DeepSeek-V2 by its max) the cases below show both rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeToken, validateRouter } from '../dist/nn/moe-routing.js';

const logit = (p) => Math.log(p / (1 - p)); // sigmoid^-1
const base = { nGroups: 1, topKGroups: 1, groupScore: 'max', normTopK: false, scale: 1 };

function close(actual, expected, eps = 1e-6) {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) < eps, `[${i}] ${actual[i]} != ${e}`));
}

test('softmax greedy (V2-Lite, DeepSeek-MoE): top-k of the softmax, unnormalized', () => {
  const r = routeToken([0, Math.log(2), Math.log(3), Math.log(4)].map((x) => x + 1.5), null,
    { ...base, nExperts: 4, topK: 2, gating: 'softmax' });
  assert.deepEqual([...r.ids], [3, 2]);
  close(r.weights, [0.4, 0.3]);
  const n = routeToken([0, Math.log(2), Math.log(3), Math.log(4)], null,
    { ...base, nExperts: 4, topK: 2, gating: 'softmax', normTopK: true, scale: 2.5 });
  close(n.weights, [2.5 * 0.4 / 0.7, 2.5 * 0.3 / 0.7]);
});

test('group-limited greedy (V2): group max vs top-2 sum choose different experts', () => {
  const p = [0.05, 0.30, 0.20, 0.02, 0.15, 0.15, 0.08, 0.05];
  const cfg = { ...base, nExperts: 8, topK: 2, gating: 'softmax', nGroups: 4, topKGroups: 2 };
  // DeepSeek-V2: group scores (max) 0.30, 0.20, 0.15, 0.08 -> groups 0 and 1 -> experts 1, 2.
  const v2 = routeToken(p.map(Math.log), null, { ...cfg, groupScore: 'max' });
  assert.deepEqual([...v2.ids], [1, 2]);
  close(v2.weights, [0.30, 0.20]);
  // llama.cpp's rule: group sums of the top-2 = 0.35, 0.22, 0.30, 0.13 -> groups 0 and 2 -> experts
  // 1 and 4 (4 and 5 tie at 0.15: the lower id wins).
  const top2 = routeToken(p.map(Math.log), null, { ...cfg, groupScore: 'top2sum' });
  assert.deepEqual([...top2.ids], [1, 4]);
  close(top2.weights, [0.30, 0.15]);
});

test('V3 routing: sigmoid, bias for selection only, top-2-sum groups, normalized, scaled by 2.5', () => {
  const s = [0.9, 0.2, 0.6, 0.6, 0.5, 0.5, 0.7, 0.2];
  const bias = [-0.5, 0, 0, 0, 0.3, 0.3, 0, 0];
  const cfg = { nExperts: 8, topK: 2, gating: 'sigmoid', nGroups: 4, topKGroups: 2, groupScore: 'top2sum', normTopK: true, scale: 2.5 };
  // selection scores 0.4 0.2 | 0.6 0.6 | 0.8 0.8 | 0.7 0.2 -> group sums 0.6, 1.2, 1.6, 0.9
  // -> groups 2 and 1 -> experts 4, 5; weights from the unbiased 0.5, 0.5 -> 0.5 each -> x2.5
  const r = routeToken(s.map(logit), bias, cfg);
  assert.deepEqual([...r.ids], [4, 5]);
  close(r.weights, [1.25, 1.25]);
  // without the bias: group sums 1.1, 1.2, 1.0, 0.9 -> groups 1 and 0
  // -> experts 0 (0.9) and 2 (0.6, tie with 3: the lower id) -> weights 0.6, 0.4 -> x2.5
  const nb = routeToken(s.map(logit), null, cfg);
  assert.deepEqual([...nb.ids], [0, 2]);
  close(nb.weights, [1.5, 1.0]);
});

test('masked groups use -inf, not 0: negative biased scores still pick from kept groups', () => {
  const s = [0.1, 0.05, 0.2, 0.15];
  const bias = [-0.5, -0.5, -0.5, -0.5]; // selection scores -0.4 -0.45 | -0.3 -0.35
  const r = routeToken(s.map(logit), bias,
    { nExperts: 4, topK: 2, gating: 'sigmoid', nGroups: 2, topKGroups: 1, groupScore: 'top2sum', normTopK: false, scale: 1 });
  assert.deepEqual([...r.ids], [2, 3]); // masking with 0 would have picked experts 0 and 1
  close(r.weights, [0.2, 0.15]);
});

test('invalid router configurations are rejected', () => {
  const ok = { nExperts: 64, topK: 6, gating: 'softmax', nGroups: 1, topKGroups: 1, groupScore: 'max', normTopK: false, scale: 1 };
  validateRouter(ok);
  assert.throws(() => validateRouter({ ...ok, topK: 65 }), /experts per token/);
  assert.throws(() => validateRouter({ ...ok, nGroups: 5 }), /do not split/);
  assert.throws(() => validateRouter({ ...ok, nGroups: 8, topKGroups: 9 }), /group limit/);
  assert.throws(() => validateRouter({ ...ok, nGroups: 32, topKGroups: 2, topK: 6 }), /cannot hold/);
});
