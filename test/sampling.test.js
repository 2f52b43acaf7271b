// Sampler, RNG, penalties / logit bias and stop strings (src/sampling/).
// Expected distributions come from a brute-force reference in this file (full sort, llama.cpp
// chain semantics), written independently of the O(V) selection in src/sampling/filters.ts.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../dist/sampling/rng.js';
import { Sampler, resolveSamplingParams, applyPenalties, applyLogitBias } from '../dist/sampling/sampler.js';
import { expNeg } from '../dist/sampling/filters.js';
import { StopMatcher } from '../dist/sampling/stop.js';

const f32 = (a) => Float32Array.from(a);
const softmax = (l) => {
  const m = Math.max(...l);
  const e = l.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};
function frequencies(sampler, logits, draws, history = []) {
  const counts = new Map();
  for (let i = 0; i < draws; i++) {
    const id = sampler.sample(logits, history);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
/** Max |observed - expected| frequency over ids 0..expected.length-1, and no id outside. */
function assertFrequencies(counts, expected, draws, tol, msg) {
  for (const id of counts.keys()) assert.ok(id >= 0 && id < expected.length && expected[id] > 0, `${msg}: drew id ${id} with expected probability 0`);
  let worst = 0;
  for (let id = 0; id < expected.length; id++) worst = Math.max(worst, Math.abs((counts.get(id) ?? 0) / draws - expected[id]));
  assert.ok(worst < tol, `${msg}: max frequency error ${worst.toFixed(4)} >= ${tol}`);
}
function gaussianLogits(n, seed, scale = 3) {
  const r = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
  return a;
}

/** Brute-force llama.cpp chain on already biased/penalised logits [V]: full sort, no shortcuts. */
function reference(logits, V, { temperature, topK, topP, minP }) {
  const l = Array.from(logits.subarray(0, V), (x) => (Number.isNaN(x) ? -Infinity : x));
  let cand = [];
  for (let i = 0; i < V; i++) if (l[i] !== -Infinity) cand.push(i);
  cand.sort((a, b) => l[b] - l[a] || a - b);
  if (temperature <= 0) return { ids: [cand[0]], probs: [1] };
  if (topK > 0) cand = cand.slice(0, topK);
  const M = l[cand[0]];
  const w = cand.map((i) => Math.exp(l[i] - M));
  const Z = w.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    let cum = 0;
    let k = cand.length;
    for (let j = 0; j < cand.length; j++) {
      cum += w[j] / Z;
      if (cum >= topP) {
        k = j + 1;
        break;
      }
    }
    cand = cand.slice(0, k);
  }
  if (minP > 0) {
    const thr = Math.fround(M + Math.fround(Math.log(minP)));
    cand = cand.filter((i) => l[i] >= thr);
  }
  const wt = cand.map((i) => Math.exp((l[i] - M) / temperature));
  const W = wt.reduce((a, b) => a + b, 0);
  return { ids: cand, probs: wt.map((x) => x / W) };
}

test('rng: same seed same stream, different seeds differ, clone and state copy, range', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 1000 }, () => a.next());
  assert.deepEqual(Array.from({ length: 1000 }, () => b.next()), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  for (const other of [43, -42, 42 + 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1, 0]) {
    const c = new Rng(other);
    assert.notDeepEqual(Array.from({ length: 8 }, () => c.next()), xs.slice(0, 8), `seed ${other}`);
  }
  const c = a.clone();
  const st = a.getState();
  const next = [a.next(), a.next()];
  assert.deepEqual([c.next(), c.next()], next);
  const d = new Rng(1);
  d.setState(st);
  assert.deepEqual([d.next(), d.next()], next);
  assert.throws(() => new Rng(1.5), /seed must be an integer/);
  assert.throws(() => new Rng(NaN), /seed must be an integer/);
  // 2^53 (accepted by the API layer) and beyond still work; +-2^53 differ.
  assert.notEqual(new Rng(2 ** 53).next(), new Rng(-(2 ** 53)).next());
  assert.ok(new Rng(1e300).next() < 1);
});

test('expNeg matches Math.exp to 1e-12 relative', () => {
  for (let i = 0; i <= 20000; i++) {
    const x = -i * 0.0349; // down to -698; below -700 expNeg returns 0 by design
    const e = Math.exp(x);
    assert.ok(Math.abs(expNeg(x) - e) <= 1e-12 * e, `x=${x}`);
  }
  assert.equal(expNeg(-Infinity), 0);
  assert.equal(expNeg(NaN), 0);
  assert.equal(expNeg(0), 1);
  assert.equal(expNeg(-800), 0);
});

test('params: defaults and validation messages', () => {
  const p = new Sampler({ seed: 5 }, { vocabSize: 10 }).params;
  assert.equal(p.temperature, 0.6);
  assert.equal(p.topK, 0);
  assert.equal(p.topP, 0.95);
  assert.equal(p.minP, 0);
  assert.equal(p.repetitionPenalty, 1);
  assert.equal(p.presencePenalty, 0);
  assert.equal(p.frequencyPenalty, 0);
  assert.equal(p.penaltyLastN, 64);
  assert.equal(p.seed, 5);
  assert.equal(p.logitBias.size, 0);
  assert.ok(Number.isSafeInteger(new Sampler({}, { vocabSize: 10 }).params.seed), 'a random seed is chosen and reported');
  const bad = [
    [{ topP: 1.5 }, 'invalid sampling parameter top_p: 1.5 (must be in (0, 1])'],
    [{ topP: 0 }, 'invalid sampling parameter top_p: 0 (must be in (0, 1])'],
    [{ topP: NaN }, 'invalid sampling parameter top_p: NaN (must be in (0, 1])'],
    [{ temperature: -1 }, 'invalid sampling parameter temperature: -1 (must be a finite number >= 0)'],
    [{ temperature: Infinity }, /temperature: Infinity/],
    [{ topK: -1 }, /top_k: -1 \(must be an integer >= 0\)/],
    [{ topK: 2.5 }, /top_k: 2.5/],
    [{ minP: 1.2 }, /min_p: 1.2 \(must be in \[0, 1\]\)/],
    [{ repetitionPenalty: 0 }, /repetition_penalty: 0 \(must be a finite number > 0\)/],
    [{ presencePenalty: NaN }, /presence_penalty: NaN/],
    [{ frequencyPenalty: Infinity }, /frequency_penalty: Infinity/],
    [{ penaltyLastN: -2 }, /penalty_last_n: -2 \(must be an integer >= -1\)/],
    [{ seed: 1.5 }, /seed: 1.5/],
    [{ logitBias: { 10: 1 } }, /logit_bias: 10 \(token id must be an integer in \[0, 10\)\)/],
    [{ logitBias: new Map([[-1, 1]]) }, /logit_bias: -1/],
    [{ logitBias: { 3: NaN } }, /logit_bias: NaN \(bias for token 3/],
    [{ logitBias: { 3: Infinity } }, /logit_bias: Infinity/],
  ];
  for (const [params, msg] of bad) assert.throws(() => new Sampler(params, { vocabSize: 10 }), typeof msg === 'string' ? { message: msg } : msg, JSON.stringify(params));
  assert.throws(() => new Sampler({}, { vocabSize: 0 }), /vocabSize/);
  assert.throws(() => new Sampler({}, { vocabSize: 2 ** 40 }), /vocabSize/);
  // Record and Map forms of logit bias resolve the same way; -Infinity is allowed (ban).
  assert.deepEqual([...resolveSamplingParams({ logitBias: { 1: -Infinity, 2: 3 } }, 10).logitBias], [[1, -Infinity], [2, 3]]);
});

test('same seed gives the same token sequence; different seeds differ', () => {
  const logits = gaussianLogits(2000, 7, 1.5);
  const run = (seed) => {
    const s = new Sampler({ seed, temperature: 1, topP: 1 }, { vocabSize: 2000 });
    return Array.from({ length: 100 }, () => s.sample(logits, []));
  };
  assert.deepEqual(run(1), run(1));
  // logprobs() consumes no randomness: interleaving it leaves the sequence unchanged.
  const s = new Sampler({ seed: 1, temperature: 1, topP: 1 }, { vocabSize: 2000 });
  assert.deepEqual(Array.from({ length: 100 }, () => (s.logprobs(logits, 0, 3), s.sample(logits, []))), run(1));
  assert.notDeepEqual(run(1), run(2));
  assert.notDeepEqual(run(1), run(2 ** 40 + 1));
});

test('greedy: argmax, ties to the lowest id, no randomness', () => {
  const s = new Sampler({ temperature: 0, seed: 1 }, { vocabSize: 6 });
  assert.equal(s.sample(f32([1, 5, 2, 5, -1, 0]), []), 1);
  assert.equal(s.sample(f32([7, 5, 2, 5, -1, 7]), []), 0);
  assert.equal(s.sample(f32([-3, -2, -9, -2.5, -7, -2]), []), 1);
  // Same answer with top-k/top-p/min-p set: greedy ignores the filters.
  const t = new Sampler({ temperature: 0, topK: 3, topP: 0.1, minP: 0.5 }, { vocabSize: 6 });
  assert.equal(t.sample(f32([0, 0, 3, 3, 1, 0]), []), 2);
});

test('temperature: frequencies follow softmax(l / T) (20k draws)', () => {
  const l = [0, 1, 2, 0.5, -1, 1.5];
  for (const T of [0.5, 1, 2]) {
    const s = new Sampler({ seed: 11, temperature: T, topP: 1 }, { vocabSize: l.length });
    const N = 20000;
    assertFrequencies(frequencies(s, f32(l), N), softmax(l.map((x) => x / T)), N, 0.012, `T=${T}`);
    const d = s.distribution(f32(l), []);
    const ref = softmax(l.map((x) => x / T));
    d.ids.forEach((id, j) => assert.ok(Math.abs(d.probs[j] - ref[id]) < 1e-12));
  }
});

test('top-k keeps exactly k tokens (ties -> lower id), renormalised', () => {
  const l = [0.3, 2, -1, 1.2, 0.9, 1.2, 3, -0.5];
  const s = new Sampler({ seed: 3, temperature: 1, topK: 3, topP: 1 }, { vocabSize: l.length });
  const N = 20000;
  const expected = new Array(l.length).fill(0);
  const keep = [6, 1, 3]; // 3, 2, then 1.2 twice: id 3 wins the tie against id 5
  const p = softmax(keep.map((i) => l[i]));
  keep.forEach((id, j) => (expected[id] = p[j]));
  assertFrequencies(frequencies(s, f32(l), N), expected, N, 0.012, 'top-k 3');
  assert.deepEqual(s.distribution(f32(l), []).ids, keep);
  // k = 1 is greedy; k >= V keeps everything.
  assert.deepEqual(new Sampler({ seed: 3, topK: 1 }, { vocabSize: 8 }).distribution(f32(l), []).ids, [6]);
  assert.equal(new Sampler({ seed: 3, topK: 100, topP: 1 }, { vocabSize: 8 }).distribution(f32(l), []).ids.length, 8);
});

test('top-p keeps the smallest prefix whose mass reaches p', () => {
  const probs = [0.1, 0.4, 0.05, 0.3, 0.15];
  const l = f32(probs.map(Math.log));
  const N = 20000;
  for (const [topP, keep] of [
    [0.35, [1]],
    [0.65, [1, 3]],
    [0.8, [1, 3, 4]],
    [0.9, [1, 3, 4, 0]],
    [0.99, [1, 3, 4, 0, 2]],
  ]) {
    const s = new Sampler({ seed: 5, temperature: 1, topP }, { vocabSize: 5 });
    assert.deepEqual(s.distribution(l, []).ids, keep, `top_p ${topP}`);
    const z = keep.reduce((a, i) => a + probs[i], 0);
    const expected = probs.map((p, i) => (keep.includes(i) ? p / z : 0));
    assertFrequencies(frequencies(s, l, N), expected, N, 0.012, `top_p ${topP}`);
  }
  // top-p is computed before temperature: T changes the weights, not the kept set.
  const hot = new Sampler({ seed: 5, temperature: 3, topP: 0.65 }, { vocabSize: 5 }).distribution(l, []);
  assert.deepEqual(hot.ids, [1, 3]);
});

test('min-p removes tokens below min_p * p_max (pre-temperature)', () => {
  const probs = [0.05, 0.5, 0.3, 0.1, 0.04, 0.01];
  const l = f32(probs.map(Math.log));
  const N = 20000;
  for (const T of [1, 2.5]) {
    const s = new Sampler({ seed: 9, temperature: T, topP: 1, minP: 0.09 }, { vocabSize: 6 });
    // threshold 0.045: keeps 0.5, 0.3, 0.1, 0.05 (not 0.04, 0.01)
    assert.deepEqual(s.distribution(l, []).ids, [1, 2, 3, 0], `T=${T}`);
    const w = probs.map((p, i) => ([1, 2, 3, 0].includes(i) ? Math.pow(p, 1 / T) : 0));
    const z = w.reduce((a, b) => a + b, 0);
    assertFrequencies(frequencies(s, l, N), w.map((x) => x / z), N, 0.012, `min-p T=${T}`);
  }
});

test('padded ids >= vocabSize are never sampled, even with the largest logits', () => {
  const V = 50;
  const logits = new Float32Array(64);
  for (let i = 0; i < V; i++) logits[i] = (i % 7) * 0.1;
  for (let i = V; i < 64; i++) logits[i] = 100;
  for (const params of [{ temperature: 0 }, { temperature: 5, topP: 1 }, { temperature: 1, topK: 3 }, { temperature: 1 }]) {
    const s = new Sampler({ seed: 1, ...params }, { vocabSize: V });
    for (let k = 0; k < 2000; k++) assert.ok(s.sample(logits, []) < V);
    const lp = s.logprobs(logits, 0, 10);
    assert.ok(lp.top.every((t) => t.id < V));
  }
  assert.throws(() => new Sampler({}, { vocabSize: 100 }).sample(logits, []), /logits has 64 entries, fewer than the vocabulary size 100/);
});

test('banned (-Infinity) and NaN logits are never chosen; all banned is a clear error', () => {
  const l = f32([5, NaN, 4, 1, NaN, 0]);
  const s = new Sampler({ seed: 2, temperature: 50, topP: 1, logitBias: { 0: -Infinity } }, { vocabSize: 6 });
  const seen = new Set();
  for (let k = 0; k < 5000; k++) seen.add(s.sample(l, []));
  assert.deepEqual([...seen].sort(), [2, 3, 5]);
  assert.equal(new Sampler({ temperature: 0, logitBias: { 0: -Infinity } }, { vocabSize: 6 }).sample(l, []), 2);
  const none = new Sampler({ seed: 1, logitBias: { 0: -Infinity, 2: -Infinity, 3: -Infinity, 5: -Infinity } }, { vocabSize: 6 });
  assert.throws(() => none.sample(l, []), /no token can be sampled/);
  // +Infinity (overflowed model output) is treated as the best token, not a crash.
  assert.equal(new Sampler({ seed: 1 }, { vocabSize: 6 }).sample(f32([0, Infinity, 1, NaN, 2, 3]), []), 1);
  // The caller's logits are not modified.
  assert.ok(Number.isNaN(l[1]) && l[0] === 5);
});

test('logit bias changes exactly the biased logits', () => {
  const l = gaussianLogits(300, 3);
  const bias = { 0: 2.5, 17: -1, 299: -Infinity, 150: 0.125 };
  const out = applyLogitBias(l, bias);
  const outMap = applyLogitBias(l, new Map(Object.entries(bias).map(([k, v]) => [Number(k), v])));
  assert.deepEqual(out, outMap);
  for (let i = 0; i < l.length; i++) {
    const expected = i in bias ? Math.fround(l[i] + bias[i]) : l[i];
    assert.equal(out[i], expected, `id ${i}`);
  }
  assert.equal(out[299], -Infinity);
  // Out-of-range ids are ignored by the pure function; the input is untouched.
  assert.deepEqual(applyLogitBias(l, { 1000: 5 }), l);
  // Through the sampler: a +bias makes a token the greedy choice.
  const s = new Sampler({ temperature: 0, logitBias: { 5: 100 } }, { vocabSize: 300 });
  assert.equal(s.sample(l, []), 5);
});

test('penalties change exactly the intended logits (repetition, presence, frequency, window)', () => {
  const l = f32([2, -2, 0, 1.5, -0.5, 3, 4, -1]);
  const history = [0, 1, 1, 2, 5, 5, 5, 9, -3];
  const rep = 1.3;
  const pres = 0.4;
  const freq = 0.25;
  const out = applyPenalties(l, history, { repetitionPenalty: rep, presencePenalty: pres, frequencyPenalty: freq, penaltyLastN: -1 });
  const counts = { 0: 1, 1: 2, 2: 1, 5: 3 };
  const R = Math.fround(rep);
  for (let i = 0; i < l.length; i++) {
    if (!(i in counts)) {
      assert.equal(out[i], l[i], `untouched id ${i}`);
      continue;
    }
    let x = l[i] <= 0 ? Math.fround(l[i] * R) : Math.fround(l[i] / R);
    x = Math.fround(x - Math.fround(Math.fround(counts[i] * Math.fround(freq)) + Math.fround(pres)));
    assert.equal(out[i], x, `id ${i}`);
  }
  // Repetition only: positive logits shrink, negative ones grow more negative, zero stays.
  const r = applyPenalties(l, [0, 1, 2], { repetitionPenalty: 2 });
  assert.deepEqual(Array.from(r.subarray(0, 3)), [1, -4, 0]);
  assert.deepEqual(r.subarray(3), l.subarray(3));
  // Window: only the last 2 history ids count (5, 9); 9 is outside the vocabulary.
  const w = applyPenalties(l, history.slice(0, 8), { presencePenalty: 1, penaltyLastN: 2 });
  for (let i = 0; i < l.length; i++) assert.equal(w[i], i === 5 ? 2 : l[i], `window id ${i}`);
  // penaltyLastN 0 disables; defaults are a no-op.
  assert.deepEqual(applyPenalties(l, history, { presencePenalty: 1, penaltyLastN: 0 }), l);
  assert.deepEqual(applyPenalties(l, history, {}), l);
  // Default window is 64: an id seen only earlier is not penalised.
  const long = [7, ...new Array(64).fill(3)];
  const d = applyPenalties(l, long, { frequencyPenalty: 1 });
  assert.equal(d[7], l[7]);
  assert.equal(d[3], Math.fround(l[3] - 64));
  // Through the sampler (greedy): penalising the argmax hands the choice to the runner-up.
  const s = new Sampler({ temperature: 0, presencePenalty: 2 }, { vocabSize: 8 });
  assert.equal(s.sample(l, []), 6);
  assert.equal(s.sample(l, [6]), 5);
  assert.equal(s.sample(l, [6, 5]), 0);
});

test('large vocabulary: the O(V) chain equals a full-sort reference', () => {
  const V = 20000;
  const base = gaussianLogits(V + 64, 12345, 2.5);
  for (let i = V; i < V + 64; i++) base[i] = 1e6; // padding rows
  for (let i = 0; i < 30; i++) base[(i * 7919) % V] += 10;
  // A copy with heavy ties (quantised to 0.5) and one with a few NaNs / banned entries.
  const ties = base.map((x, i) => (i < V ? Math.round(x * 2) / 2 : x));
  const holes = Float32Array.from(base);
  for (let i = 0; i < V; i += 97) holes[i] = NaN;
  const configs = [
    { temperature: 0.6, topP: 0.95 },
    { temperature: 1, topP: 0.5 },
    { temperature: 1, topP: 1 },
    { temperature: 0.7, topK: 40, topP: 1 },
    { temperature: 1.3, topK: 1000, topP: 0.9 },
    { temperature: 0.8, topK: 5000, topP: 0.99, minP: 0.01 },
    { temperature: 0.6, topP: 0.95, minP: 0.05 },
    { temperature: 2, topP: 1, minP: 0.2 },
    { temperature: 1, topK: 3, topP: 0.3 },
    { temperature: 0 },
  ];
  for (const [name, logits] of [['gaussian', base], ['ties', ties], ['holes', holes]]) {
    for (const cfg of configs) {
      const s = new Sampler({ seed: 1, ...cfg }, { vocabSize: V });
      const got = s.distribution(logits, []);
      const ref = reference(logits, V, { topK: 0, minP: 0, ...cfg });
      const tag = `${name} ${JSON.stringify(cfg)}`;
      assert.deepEqual(got.ids, ref.ids, tag);
      got.probs.forEach((p, j) => assert.ok(Math.abs(p - ref.probs[j]) < 1e-9, `${tag}: prob ${j}`));
      if (cfg.temperature > 0) for (let k = 0; k < 20; k++) assert.ok(ref.ids.includes(s.sample(logits, [])), tag);
    }
  }
  // All logits equal (no spread for the grid): ties resolve by id.
  const flat = new Float32Array(V).fill(0.25);
  assert.deepEqual(new Sampler({ seed: 1, topK: 5 }, { vocabSize: V }).distribution(flat, []).ids, [0, 1, 2, 3, 4]);
  assert.equal(new Sampler({ seed: 1, topP: 0.001 }, { vocabSize: V }).distribution(flat, []).ids.length, 20);
});

test('logprobs: the model distribution (raw logits), chosen token and sorted top-n', () => {
  const l = f32([1, 3, -2, 3, 0.5, NaN, 2]);
  const s = new Sampler({ seed: 1, temperature: 0.3, logitBias: { 1: -Infinity }, presencePenalty: 1 }, { vocabSize: 7 });
  const ref = softmax([1, 3, -2, 3, 0.5, -Infinity, 2]).map(Math.log);
  const r = s.logprobs(l, 4, 3);
  assert.ok(Math.abs(r.logprob - ref[4]) < 1e-12);
  assert.deepEqual(r.top.map((t) => t.id), [1, 3, 6]); // bias and penalties do not apply; ties by id
  r.top.forEach((t) => assert.ok(Math.abs(t.logprob - ref[t.id]) < 1e-12));
  assert.equal(s.logprobs(l, 5, 0).logprob, -Infinity);
  assert.deepEqual(s.logprobs(l, 0, 0).top, []);
  assert.equal(s.logprobs(l, 0, 100).top.length, 6); // NaN entry is not listed
  assert.throws(() => s.logprobs(l, 7, 1), /token id 7 outside the vocabulary/);
  assert.throws(() => s.logprobs(l, 0, -1), /topN must be an integer/);
  // Large vocabulary: top-n equals the full sort.
  const V = 30000;
  const big = gaussianLogits(V, 77);
  const t = new Sampler({ seed: 1 }, { vocabSize: V }).logprobs(big, 0, 20);
  const order = Array.from(big.keys()).sort((a, b) => big[b] - big[a] || a - b).slice(0, 20);
  assert.deepEqual(t.top.map((x) => x.id), order);
  const z = Math.log(Array.from(big).reduce((a, x) => a + Math.exp(x), 0));
  assert.ok(Math.abs(t.logprob - (big[0] - z)) < 1e-9);
});

// ---------------------------------------------------------------------------------------------
// StopMatcher

/** Feed `chunks`, then flush unless stopped; return everything emitted and the stop info. */
function run(stops, chunks) {
  const m = new StopMatcher(stops);
  let out = '';
  for (const c of chunks) {
    const r = m.push(c);
    out += r.emit;
    if (r.stopped) return { out, stop: r.stop, stopped: true, after: m.push('more').emit + m.flush() };
  }
  return { out: out + m.flush(), stopped: false };
}

test('stop: a stop string split at every possible pair of pushes', () => {
  const text = 'Hello world, this is <|end|> and then more';
  const stop = '<|end|>';
  for (let i = 0; i <= text.length; i++) {
    for (let j = i; j <= text.length; j++) {
      const r = run([stop], [text.slice(0, i), text.slice(i, j), text.slice(j)]);
      assert.equal(r.out, 'Hello world, this is ', `split ${i},${j}`);
      assert.equal(r.stop, stop);
      assert.equal(r.after, '', 'nothing after a stop');
    }
  }
  // Character by character.
  assert.equal(run([stop], [...text]).out, 'Hello world, this is ');
});

test('stop: held text is released as soon as it cannot be a stop; flush releases the tail', () => {
  const m = new StopMatcher(['STOP']);
  assert.deepEqual(m.push('abc ST'), { emit: 'abc ', stopped: false });
  assert.deepEqual(m.push('OX'), { emit: 'STOX', stopped: false }); // partial match did not complete
  assert.deepEqual(m.push('S'), { emit: '', stopped: false });
  assert.deepEqual(m.push('T'), { emit: '', stopped: false });
  assert.equal(m.flush(), 'ST');
  assert.equal(m.flush(), '');
  // Overlapping prefix: "SSTOP" must still stop.
  assert.equal(run(['STOP'], ['S', 'S', 'T', 'O', 'P', 'x']).out, 'S');
  // No stop strings: everything passes straight through.
  assert.deepEqual(new StopMatcher([]).push('abc'), { emit: 'abc', stopped: false });
  assert.throws(() => new StopMatcher(['']), /non-empty/);
});

test('stop: multiple stop strings, the first completed wins regardless of chunking', () => {
  const stops = ['\n\nUser:', 'END', 'ENDING'];
  assert.deepEqual(run(stops, ['one END two']), { out: 'one ', stop: 'END', stopped: true, after: '' });
  assert.deepEqual(run(stops, ['a\n\nUs', 'er: x END']), { out: 'a', stop: '\n\nUser:', stopped: true, after: '' });
  // "xyz" completes before "wxyz1" can: same result for any chunking.
  const s2 = ['wxyz1', 'xyz'];
  const t = 'abwxyz1';
  for (let i = 0; i <= t.length; i++) assert.deepEqual(run(s2, [t.slice(0, i), t.slice(i)]).out, 'abw', `split ${i}`);
  assert.equal(run(s2, [...t]).stop, 'xyz');
});

test('stop: Chinese and emoji text', () => {
  const text = '你好，世界！🙂 结束了吗？🎉 后面';
  for (const [stop, expected] of [
    ['结束', '你好，世界！🙂 '],
    ['🎉', '你好，世界！🙂 结束了吗？'],
    ['？🎉', '你好，世界！🙂 结束了吗'],
    ['🙂 结', '你好，世界！'],
  ]) {
    const chars = [...text]; // whole code points, as the stream decoder delivers them
    for (let i = 0; i <= chars.length; i++) {
      const r = run([stop, '不存在'], [chars.slice(0, i).join(''), chars.slice(i).join('')]);
      assert.equal(r.out, expected, `${stop} split ${i}`);
      assert.equal(r.stop, stop);
    }
    assert.equal(run([stop], chars).out, expected);
  }
  // A partial emoji-prefixed stop that does not complete is released intact.
  const r = run(['🙂🙂'], ['a🙂', 'b🙂']);
  assert.equal(r.out, 'a🙂b🙂');
  assert.equal(r.stopped, false);
});
