// Black-box: `deepcard serve` as a subprocess on loopback, driven by the official `openai` npm
// client; then SIGTERM mid-stream: the stream finishes and the process exits 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { r1Template, tinyModelPath } from './helpers/server-model.js';
import { repoRoot } from './helpers/fixtures.js';

const KEY = 'test-key-123';
let child;
let baseURL;
let stderr = '';
let exit;

/** `deepcard serve ...` through the real CLI once it is wired into main.ts, else through cmdServe directly. */
function serveCommand(args) {
  const main = fs.readFileSync(path.join(repoRoot(), 'dist', 'cli', 'main.js'), 'utf8');
  if (/cmdServe/.test(main)) return [path.join(repoRoot(), 'bin', 'deepcard.js'), 'serve', ...args];
  const script = `import { cmdServe } from ${JSON.stringify(path.join(repoRoot(), 'dist', 'cli', 'commands-serve.js'))};
const io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), isTTY: false };
process.exitCode = await cmdServe(process.argv.slice(1), io);`;
  return ['--input-type=module', '-e', script, ...args];
}

before(async () => {
  const tmpl = path.join(os.tmpdir(), `deepcard-r1-distill-${process.pid}.jinja`);
  fs.writeFileSync(tmpl, r1Template());
  child = spawn(process.execPath, serveCommand([tinyModelPath(), '--port', '0', '--api-key', KEY, '--threads', '2', '--ctx', '512', '--chat-template', tmpl, '--parallel', '2']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.stderr.on('data', (d) => (stderr += d));
  let out = '';
  baseURL = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not print its URL: ${out} ${stderr}`)), 30_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
  });
  // listening before the model is loaded: /health says loading (503) or ok
  for (let i = 0; ; i++) {
    const h = await fetch(`${baseURL}/health`);
    if (h.status === 200) break;
    assert.equal(h.status, 503);
    assert.equal((await h.json()).status, 'loading');
    if (i > 300) throw new Error('model did not load');
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

const client = () => new OpenAI({ apiKey: KEY, baseURL: `${baseURL}/v1`, maxRetries: 0, timeout: 30_000 });
const messages = [{ role: 'user', content: '用一句话介绍你自己。' }];

test('openai client: models, chat (plain and streamed), completions', async () => {
  const c = client();
  const list = await c.models.list();
  const id = list.data[0].id;
  assert.match(id, /qwen2-tiny/);

  const r = await c.chat.completions.create({ model: id, messages, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.choices[0].message.reasoning_content, 'string');
  assert.ok(r.usage.completion_tokens_details.reasoning_tokens > 0);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');

  const stream = await c.chat.completions.create({ model: id, messages, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
  let reasoning = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    if (d?.reasoning_content) {
      assert.equal(d.content, null);
      reasoning += d.reasoning_content;
    }
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(reasoning.length > 0);
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(usage.prompt_tokens_details.cached_tokens > 0, 'same prompt again: served from the prompt cache');

  const comp = await c.completions.create({ model: id, prompt: 'Once upon a time', max_tokens: 6, logprobs: 1 });
  assert.equal(comp.object, 'text_completion');
  assert.equal(comp.choices[0].logprobs.tokens.length, comp.usage.completion_tokens);
  const cs = await c.completions.create({ model: id, prompt: 'Once upon a time', max_tokens: 4, stream: true });
  let n = 0;
  for await (const ch of cs) n += ch.choices.length;
  assert.ok(n >= 1);
});

test('openai client: error classes map from status codes', async () => {
  const c = client();
  await assert.rejects(c.chat.completions.create({ model: 'no-such-model', messages }), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(new OpenAI({ apiKey: 'wrong', baseURL: `${baseURL}/v1`, maxRetries: 0 }).models.list(), (e) => e instanceof OpenAI.AuthenticationError);
  await assert.rejects(c.chat.completions.create({ messages, temperature: 'hot' }), (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(
    c.chat.completions.create({ messages: [{ role: 'user', content: 'word '.repeat(700) }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded' && /512/.test(e.message),
  );
});

test('SIGTERM: the in-flight stream completes, the process exits 0', async () => {
  const res = await fetch(`${baseURL}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ messages, max_tokens: 64, stream: true }),
  });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  child.kill('SIGTERM');
  let text = new TextDecoder().decode(first.value);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.ok(text.endsWith('data: [DONE]\n\n'), text.slice(-200));
  const { code, signal } = await exit;
  assert.equal(signal, null);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM: shutting down/);
});
