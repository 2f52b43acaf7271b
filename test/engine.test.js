// The library API as a user calls it: loadModel + chat/completions.create on a tiny R1-Distill-style
// fixture (its template ends the prompt with <think>\n, so output starts inside the thought).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../dist/index.js';
import { ensureFixture } from '../dist/fixtures/fixtures.js';
import { GGMLType } from '../dist/formats/ggml-types.js';
import { fixtureDir } from './helpers/fixtures.js';

let engine;
before(async () => {
  engine = await loadModel(ensureFixture(fixtureDir(), { family: 'qwen2', size: 'tiny', type: GGMLType.Q8_0 }), { threads: 2, contextLength: 256 });
});
after(() => engine?.dispose());

const user = (content) => [{ role: 'user', content }];

test('chat completion: shape, reasoning split, usage', async () => {
  const r = await engine.chat.completions.create({ messages: user('你好'), max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  const c = r.choices[0];
  assert.equal(c.message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  // The prompt opened <think>: everything generated before a </think> is reasoning.
  assert.equal(typeof c.message.reasoning_content, 'string');
  assert.ok(c.message.reasoning_content.length > 0);
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens > 0);
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens <= r.usage.completion_tokens);
  assert.ok(r.timings.predicted_per_second > 0);
});

test('greedy is deterministic and a shared prefix is served from the prompt cache', async () => {
  const msgs = [{ role: 'system', content: 'You are terse.' }, ...user('Count to five.')];
  const a = await engine.chat.completions.create({ messages: msgs, max_tokens: 8, temperature: 0 });
  const b = await engine.chat.completions.create({ messages: msgs, max_tokens: 8, temperature: 0 });
  assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
  assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0, 'second request should reuse the cached prefix');
  assert.ok(b.usage.prompt_tokens_details.cached_tokens < b.usage.prompt_tokens);
  // Extending the conversation reuses the shared history too.
  const c = await engine.chat.completions.create({ messages: [...msgs, { role: 'assistant', content: 'One.' }, ...user('More.')], max_tokens: 4, temperature: 0 });
  assert.ok(c.usage.prompt_tokens_details.cached_tokens >= 10);
});

test('same seed gives the same sampled output; different seeds differ', async () => {
  const ask = (seed) => engine.chat.completions.create({ messages: user('tell a story'), max_tokens: 16, temperature: 1, seed });
  const [a, b, c] = [await ask(7), await ask(7), await ask(8)];
  assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
  assert.notEqual(a.choices[0].message.reasoning_content, c.choices[0].message.reasoning_content);
});

test('streaming: DeepSeek chunk shape, UTF-8-safe text, include_usage', async () => {
  const stream = await engine.chat.completions.create({ messages: user('写一首诗'), max_tokens: 24, temperature: 0.8, seed: 1, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  let text = '';
  for (const ch of chunks) {
    if (!ch.choices.length) continue;
    const d = ch.choices[0].delta;
    assert.ok(!(d.reasoning_content && d.content), 'reasoning and content in one chunk');
    if (d.reasoning_content) assert.equal(d.content, null, 'content must be null while reasoning');
    for (const s of [d.reasoning_content, d.content]) if (s) assert.ok(!s.includes('\uFFFD'), 'broken UTF-8 in a chunk');
    text += (d.reasoning_content ?? '') + (d.content ?? '');
  }
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, 24);
  const fin = chunks.at(-2);
  assert.ok(['stop', 'length'].includes(fin.choices[0].finish_reason));
  // Same request without streaming gives the same text.
  const r = await engine.chat.completions.create({ messages: user('写一首诗'), max_tokens: 24, temperature: 0.8, seed: 1 });
  assert.equal(text, (r.choices[0].message.reasoning_content ?? '') + (r.choices[0].message.content ?? ''));
});

test('stop strings, max_tokens and logprobs', async () => {
  const base = await engine.completions.create({ prompt: 'The quick brown fox', max_tokens: 20, temperature: 0 });
  const text = base.choices[0].text;
  assert.equal(base.object, 'text_completion');
  assert.equal(base.choices[0].finish_reason, 'length');
  // Stop on a piece of the greedy continuation: output ends right before it.
  const piece = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
  if (piece.trim().length === 3) {
    const s = await engine.completions.create({ prompt: 'The quick brown fox', max_tokens: 20, temperature: 0, stop: [piece] });
    assert.equal(s.choices[0].finish_reason, 'stop');
    assert.equal(s.choices[0].text, text.slice(0, text.indexOf(piece)));
  }
  const lp = await engine.chat.completions.create({ messages: user('hi'), max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = lp.choices[0].logprobs.content;
  assert.equal(content.length, 3);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[2].logprob);
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6, 'greedy token is the top alternative');
  }
});

test('abort stops a generation; invalid requests give clear errors', async () => {
  const ac = new AbortController();
  const stream = await engine.chat.completions.create({ messages: user('go on forever'), max_tokens: 200, stream: true, signal: ac.signal });
  let n = 0;
  for await (const ch of stream) {
    if (++n === 3) ac.abort();
  }
  assert.ok(n < 10, `stream went on for ${n} chunks after abort`);
  const ac2 = new AbortController();
  ac2.abort();
  await assert.rejects(engine.chat.completions.create({ messages: user('x'), signal: ac2.signal, max_tokens: 5 }), { name: 'AbortError' });

  await assert.rejects(engine.chat.completions.create({ messages: [] }), /messages must be a non-empty array/);
  await assert.rejects(engine.chat.completions.create({ messages: user('x'), temperature: -1 }), /temperature/);
  await assert.rejects(engine.chat.completions.create({ messages: user('x'), top_p: 5 }), /top_p/);
  await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'wizard', content: 'x' }] }), /role/);
  await assert.rejects(engine.chat.completions.create({ messages: user('x'), logit_bias: { 99999999: 1 } }), /logit_bias/);
  const long = 'word '.repeat(400);
  await assert.rejects(engine.chat.completions.create({ messages: user(long) }), (e) => {
    assert.equal(e.code, 'context_length_exceeded');
    assert.match(e.message, /\d+ tokens.*context of 256 tokens/);
    return true;
  });
  // The engine still works afterwards.
  const ok = await engine.completions.create({ prompt: 'still alive', max_tokens: 2 });
  assert.equal(ok.usage.completion_tokens, 2);
});

test('logit_bias bans and forces tokens', async () => {
  const r = await engine.completions.create({ prompt: 'abc', max_tokens: 4, temperature: 0 });
  const tok = engine.tokenize(r.choices[0].text);
  const banned = await engine.completions.create({ prompt: 'abc', max_tokens: 1, temperature: 0, logit_bias: { [tok[0]]: -100 } });
  assert.notEqual(engine.tokenize(banned.choices[0].text)[0], tok[0]);
  const forced = await engine.completions.create({ prompt: 'abc', max_tokens: 3, temperature: 1, seed: 4, logit_bias: { 9707: 100 } });
  assert.deepEqual(engine.tokenize(forced.choices[0].text), [9707, 9707, 9707]);
});

test('tokenize / detokenize round trip', () => {
  const ids = engine.tokenize('深度求索 DeepSeek 🚀');
  assert.equal(engine.detokenize(ids), '深度求索 DeepSeek 🚀');
  assert.throws(() => engine.detokenize([-1]), /outside the vocabulary/);
});

test('continuous batching: concurrent greedy requests give the same tokens as one at a time', async () => {
  const file = ensureFixture(fixtureDir(), { family: 'qwen2', size: 'tiny', type: GGMLType.Q8_0 });
  const batched = await loadModel(file, { threads: 2, contextLength: 256, parallel: 4 });
  try {
    const prompts = ['first question', '第二个问题', 'a third, longer question about something', 'four'];
    const req = (p) => ({ prompt: p, max_tokens: 16, temperature: 0 });
    const sequential = [];
    for (const p of prompts) sequential.push((await engine.completions.create(req(p))).choices[0].text);
    // All four at once: they share every decode step (and the prefill steps as they arrive).
    const together = await Promise.all(prompts.map((p) => batched.completions.create(req(p))));
    assert.deepEqual(together.map((r) => r.choices[0].text), sequential);
    // Streams interleave: more requests than slots queue up and still all complete.
    const many = await Promise.all(Array.from({ length: 7 }, (_, i) => batched.chat.completions.create({ messages: user(`q${i}`), max_tokens: 6, temperature: 0 })));
    for (const r of many) assert.equal(r.usage.completion_tokens, 6);
  } finally {
    await batched.dispose();
  }
});

test('continuous batching on an MLA + MoE model (deepseek2): concurrent greedy requests equal one at a time', async () => {
  const file = ensureFixture(fixtureDir(), { family: 'deepseek2', size: 'tiny', type: GGMLType.Q8_0, variant: 'v3' });
  const one = await loadModel(file, { threads: 2, contextLength: 256, parallel: 1 });
  const many = await loadModel(file, { threads: 2, contextLength: 256, parallel: 3 });
  try {
    const prompts = ['first question', '第二个问题', 'a third, longer question about something else'];
    const req = (p) => ({ prompt: p, max_tokens: 12, temperature: 0 });
    const sequential = [];
    for (const p of prompts) sequential.push((await one.completions.create(req(p))).choices[0].text);
    const together = await Promise.all(prompts.map((p) => many.completions.create(req(p))));
    assert.deepEqual(together.map((r) => r.choices[0].text), sequential);
  } finally {
    await one.dispose();
    await many.dispose();
  }
});

test('reasoning budget closes the thought and the model answers; thinking switch reaches the template', async () => {
  const r = await engine.chat.completions.create({ messages: user('think briefly'), max_tokens: 20, temperature: 0, reasoning_budget: 4 });
  const u = r.usage.completion_tokens_details.reasoning_tokens;
  assert.ok(u >= 1 && u <= 4, `reasoning tokens ${u} not within the budget of 4`);
  assert.ok(r.choices[0].message.reasoning_content.length > 0);
  assert.ok(r.choices[0].message.content.length > 0, 'no answer after the thought was closed');
  assert.ok(!r.choices[0].message.content.includes('</think>'));
});

test('context overflow mid-generation: the context shifts and generation goes on (deepseek2 and qwen2)', async () => {
  for (const opts of [{ family: 'deepseek2', variant: 'v3' }, { family: 'qwen2' }]) {
    const file = ensureFixture(fixtureDir(), { ...opts, size: 'tiny', type: GGMLType.Q8_0 });
    const small = await loadModel(file, { threads: 2, contextLength: 48 });
    try {
      const r = await small.completions.create({ prompt: 'a short prompt', max_tokens: 120, temperature: 0.8, seed: 3, logit_bias: Object.fromEntries(small.tokenizer.eogIds ? [...small.tokenizer.eogIds].map((id) => [id, -100]) : []) });
      assert.equal(r.usage.completion_tokens, 120, `${opts.family}: stopped after ${r.usage.completion_tokens} tokens`);
      assert.equal(r.choices[0].finish_reason, 'length');
      // without shifting the same request stops at the context
      const strict = await loadModel(file, { threads: 2, contextLength: 48, contextShift: false });
      try {
        const s = await strict.completions.create({ prompt: 'a short prompt', max_tokens: 120, temperature: 0.8, seed: 3 });
        assert.ok(s.usage.completion_tokens < 48);
      } finally {
        await strict.dispose();
      }
    } finally {
      await small.dispose();
    }
  }
});
