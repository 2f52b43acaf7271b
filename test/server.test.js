// The HTTP server in-process on a real tiny model (random weights: test protocol shapes, not text):
// chat and completions, streaming and not, DeepSeek reasoning shape, usage (reasoning and cached
// tokens), logprobs, tools plumbing, strict UTF-8 in every SSE event, errors, tokenize, metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer } from '../dist/server/server.js';
import { builtinTemplate } from '../dist/chat/template.js';
import { post, r1Template, sseEventsStrict, tinyModelPath } from './helpers/server-model.js';

const CTX = 384;
let srv;
let model;

before(async () => {
  model = tinyModelPath();
  srv = await startServer({ model, port: 0, parallel: 2, loadOptions: { threads: 2, contextLength: CTX, chatTemplate: r1Template() } });
  await srv.ready;
});
after(async () => {
  await srv?.close({ timeoutMs: 1000 });
});

const chat = (extra = {}) => ({ messages: [{ role: 'user', content: '你好！请用中文回答：1+1 等于几？' }], max_tokens: 24, temperature: 0, ...extra });

test('non-streaming chat: DeepSeek message and usage shape; the prompt cache reports cached_tokens', async () => {
  const r = await post(`${srv.url}/v1/chat/completions`, chat());
  assert.equal(r.status, 200);
  const j = await r.json();
  assert.equal(j.object, 'chat.completion');
  assert.equal(j.model, path.basename(model, '.gguf'));
  const c = j.choices[0];
  assert.equal(c.message.role, 'assistant');
  // The template opens <think>, so output starts as reasoning.
  assert.equal(typeof c.message.reasoning_content, 'string');
  assert.ok(c.message.reasoning_content.length > 0);
  assert.ok(['stop', 'length'].includes(c.finish_reason));
  const u = j.usage;
  assert.ok(u.prompt_tokens > 10);
  assert.ok(u.completion_tokens >= 1 && u.completion_tokens <= 24);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.ok(u.completion_tokens_details.reasoning_tokens >= 1 && u.completion_tokens_details.reasoning_tokens <= u.completion_tokens);
  assert.equal(typeof u.prompt_tokens_details.cached_tokens, 'number');

  // same conversation plus a turn: the shared prefix comes from the cache
  const again = await post(`${srv.url}/v1/chat/completions`, chat({
    messages: [{ role: 'user', content: '你好！请用中文回答：1+1 等于几？' }, { role: 'assistant', content: '2' }, { role: 'user', content: '再说一遍' }],
  }));
  const j2 = await again.json();
  assert.ok(j2.usage.prompt_tokens_details.cached_tokens > 0, `cached_tokens = ${j2.usage.prompt_tokens_details.cached_tokens}`);
  assert.ok(j2.usage.prompt_tokens_details.cached_tokens < j2.usage.prompt_tokens);
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /^deepcard_prompt_cache_hits_total [1-9]/m);
});

test('streaming chat: strict UTF-8 per event, reasoning chunks have content null, never both; include_usage', async () => {
  // Sampling at temperature 1 from random weights picks many byte-fallback pieces of multi-byte
  // characters: the engine must never emit half a character in an event.
  for (const include of [true, false]) {
    const r = await post(`${srv.url}/v1/chat/completions`, chat({ stream: true, stream_options: { include_usage: include }, temperature: 1, seed: 7, max_tokens: 40 }));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const events = sseEventsStrict(new Uint8Array(await r.arrayBuffer()));
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    let reasoning = 0;
    for (const ch of chunks) {
      assert.equal(ch.object, 'chat.completion.chunk');
      const d = ch.choices[0]?.delta;
      if (!d) continue;
      if (d.reasoning_content) {
        reasoning++;
        assert.equal(d.content, null, 'reasoning chunks carry content: null');
      }
      assert.ok(!(d.reasoning_content && d.content), 'never both in one chunk');
    }
    assert.ok(reasoning > 0);
    const usage = chunks.filter((c) => c.usage);
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    assert.equal(finish.length, 1);
    if (include) {
      assert.equal(usage.length, 1);
      assert.deepEqual(usage[0].choices, []);
      assert.ok(usage[0].usage.completion_tokens_details.reasoning_tokens > 0);
      assert.equal(chunks.at(-1), usage[0], 'usage is the last chunk');
    } else {
      assert.equal(usage.length, 0);
    }
  }
});

test('logprobs and top_logprobs, streaming and not', async () => {
  const r = await post(`${srv.url}/v1/chat/completions`, chat({ logprobs: true, top_logprobs: 3, max_tokens: 6 }));
  const j = await r.json();
  const lp = j.choices[0].logprobs.content;
  assert.equal(lp.length, j.usage.completion_tokens);
  for (const t of lp) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(Array.isArray(t.bytes));
  }
  const s = await post(`${srv.url}/v1/chat/completions`, chat({ logprobs: true, top_logprobs: 2, max_tokens: 6, stream: true }));
  const chunks = sseEventsStrict(new Uint8Array(await s.arrayBuffer())).slice(0, -1);
  const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
  assert.ok(streamed.length >= 1 && streamed.length <= 6, `${streamed.length} streamed logprobs`);
  for (const t of streamed) assert.equal(t.top_logprobs.length, 2);
});

test('completions: text, streaming, legacy logprobs, echo', async () => {
  let r = await post(`${srv.url}/v1/completions`, { prompt: 'The capital of France is', max_tokens: 5, temperature: 0, logprobs: 2 });
  let j = await r.json();
  assert.equal(j.object, 'text_completion');
  assert.equal(typeof j.choices[0].text, 'string');
  assert.equal(j.choices[0].logprobs.tokens.length, j.usage.completion_tokens);
  assert.equal(j.usage.completion_tokens_details.reasoning_tokens, 0);
  r = await post(`${srv.url}/v1/completions`, { prompt: 'Hello', max_tokens: 3, echo: true, model: path.basename(model) });
  j = await r.json();
  assert.ok(j.choices[0].text.startsWith('Hello'));
  r = await post(`${srv.url}/v1/completions`, { prompt: '中文', max_tokens: 8, stream: true, temperature: 1, seed: 3, stream_options: { include_usage: true } });
  const ev = sseEventsStrict(new Uint8Array(await r.arrayBuffer()));
  assert.equal(ev.at(-1), '[DONE]');
  assert.equal(ev.at(-2).usage.completion_tokens, 8);
});

test('tools: the request is accepted and the template renders the tools into the prompt', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  // R1-Distill's template has no tool section; R1's (V3 family, same special tokens) has one.
  const t = await startServer({ model, port: 0, loadOptions: { threads: 2, contextLength: CTX, chatTemplate: builtinTemplate('deepseek-r1') } });
  after(() => t.close({ timeoutMs: 100 }));
  await t.ready;
  const plain = await (await post(`${t.url}/v1/chat/completions`, chat({ max_tokens: 2 }))).json();
  const withTools = await post(`${t.url}/v1/chat/completions`, chat({ max_tokens: 2, tools, tool_choice: 'auto' }));
  assert.equal(withTools.status, 200);
  const j = await withTools.json();
  assert.ok(j.usage.prompt_tokens > plain.usage.prompt_tokens + 10, `${j.usage.prompt_tokens} vs ${plain.usage.prompt_tokens}`);
  assert.ok(['stop', 'length', 'tool_calls'].includes(j.choices[0].finish_reason));
  const s = await post(`${t.url}/v1/chat/completions`, chat({ max_tokens: 2, tools, stream: true }));
  assert.equal(sseEventsStrict(new Uint8Array(await s.arrayBuffer())).at(-1), '[DONE]');
  const none = await (await post(`${t.url}/v1/chat/completions`, chat({ max_tokens: 2, tools, tool_choice: 'none' }))).json();
  assert.equal(none.usage.prompt_tokens, plain.usage.prompt_tokens, 'tool_choice none leaves the tools out');
  const bad = await post(`${t.url}/v1/chat/completions`, chat({ tools: [{ type: 'function', function: { name: 'bad name!' } }] }));
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'tools');
});

test('errors from the engine: too-long prompt (with the numbers), bad fields, unknown model', async () => {
  let r = await post(`${srv.url}/v1/chat/completions`, chat({ messages: [{ role: 'user', content: '你好 '.repeat(600) }] }));
  assert.equal(r.status, 400);
  let e = (await r.json()).error;
  assert.equal(e.code, 'context_length_exceeded');
  assert.match(e.message, new RegExp(`\\d{3,} tokens.*${CTX}`));
  r = await post(`${srv.url}/v1/chat/completions`, chat({ top_p: 5 }));
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.param, 'top_p');
  r = await post(`${srv.url}/v1/chat/completions`, chat({ messages: [{ role: 'wizard', content: 'x' }] }));
  assert.equal(r.status, 400);
  r = await post(`${srv.url}/v1/chat/completions`, chat({ max_tokens: 'many' }));
  assert.equal(r.status, 400);
  r = await post(`${srv.url}/v1/chat/completions`, chat({ model: 'deepseek-chat' }));
  assert.equal(r.status, 404);
  e = (await r.json()).error;
  assert.equal(e.code, 'model_not_found');
  r = await post(`${srv.url}/v1/completions`, { prompt: [1, 2, 99999999], max_tokens: 2 });
  assert.equal(r.status, 400);
  // still healthy
  assert.deepEqual(await (await fetch(`${srv.url}/health`)).json(), { status: 'ok' });
});

test('tokenize / detokenize round trip, pieces of multi-byte characters as bytes', async () => {
  const text = '你好, world! 🌍';
  let r = await post(`${srv.url}/tokenize`, { content: text });
  const { tokens } = await r.json();
  assert.ok(tokens.length > 2 && tokens.every(Number.isInteger));
  r = await post(`${srv.url}/detokenize`, { tokens });
  assert.deepEqual(await r.json(), { content: text });
  r = await post(`${srv.url}/tokenize`, { content: text, with_pieces: true });
  const pieces = (await r.json()).tokens;
  assert.equal(pieces.length, tokens.length);
  for (const p of pieces) assert.ok(typeof p.piece === 'string' || (Array.isArray(p.piece) && p.piece.every((b) => b >= 0 && b < 256)));
  r = await post(`${srv.url}/tokenize`, { content: 'hi', add_special: true });
  assert.ok((await r.json()).tokens.length >= 1);
  r = await post(`${srv.url}/detokenize`, { tokens: [-1] });
  assert.equal(r.status, 400);
});

test('models and metrics', async () => {
  const j = await (await fetch(`${srv.url}/v1/models`)).json();
  assert.equal(j.data.length, 1);
  assert.equal(j.data[0].id, path.basename(model, '.gguf'));
  assert.equal(j.data[0].meta.n_ctx, CTX);
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  for (const name of ['deepcard_requests_total{endpoint="/v1/chat/completions",status="200"}', 'deepcard_prompt_tokens_total', 'deepcard_generated_tokens_total', 'deepcard_tokens_per_second', 'deepcard_queue_depth 0', 'deepcard_slots_in_use 0', 'deepcard_slots_total 2', 'deepcard_prompt_cache_hits_total']) {
    assert.ok(m.includes(name), `metrics lack ${name}`);
  }
  assert.match(m, /^deepcard_generated_tokens_total [1-9]\d*/m);
  assert.match(m, /^deepcard_tokens_per_second [1-9]/m);
});
