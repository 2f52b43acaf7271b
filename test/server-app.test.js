// Server protocol, errors, admission control, cancellation and shutdown against a deterministic
// fake engine (exact timing); the real-model tests are in server.test.js.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer } from '../dist/server/server.js';
import { ServerApp } from '../dist/server/app.js';
import { SlotPool, OverloadedError } from '../dist/server/slots.js';
import { FakeEngine, parseSse } from './helpers/server-fake-engine.js';

const servers = [];
after(async () => {
  for (const s of servers) await s.close({ timeoutMs: 100 });
});

async function serve(opts = {}, engineOpts = {}) {
  const engine = new FakeEngine(engineOpts);
  const srv = await startServer({ engine, port: 0, ...opts });
  servers.push(srv);
  await srv.ready;
  return { srv, engine };
}

const post = (url, body, headers = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

const chatBody = (extra = {}) => ({ messages: [{ role: 'user', content: 'hi' }], ...extra });

test('slot pool: FIFO, bounded queue, abort while waiting', async () => {
  const pool = new SlotPool(1, 1);
  const r1 = await pool.acquire();
  const ctl = new AbortController();
  const p2 = pool.acquire(ctl.signal);
  assert.throws(() => pool.acquire(), OverloadedError);
  ctl.abort();
  await assert.rejects(p2, /aborted/);
  assert.equal(pool.queueDepth, 0);
  const p3 = pool.acquire();
  r1();
  r1(); // idempotent
  const r3 = await p3;
  assert.equal(pool.inUse, 1);
  r3();
  assert.equal(pool.inUse, 0);
});

test('health is 503 "loading" while the model loads, then ok', async () => {
  let resolve;
  const engine = new FakeEngine();
  const srv = await startServer({ engine: new Promise((r) => (resolve = r)), port: 0 });
  servers.push(srv);
  let r = await fetch(`${srv.url}/health`);
  assert.equal(r.status, 503);
  assert.deepEqual(await r.json(), { status: 'loading' });
  r = await post(`${srv.url}/v1/chat/completions`, chatBody());
  assert.equal(r.status, 503);
  assert.equal((await r.json()).error.code, 'model_loading');
  resolve(engine);
  await srv.ready;
  r = await fetch(`${srv.url}/health`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { status: 'ok' });
});

test('chat: non-streaming and streaming shapes, usage only when asked', async () => {
  const { srv } = await serve();
  let r = await post(`${srv.url}/v1/chat/completions`, chatBody());
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const j = await r.json();
  assert.equal(j.choices[0].message.content, 'Hello, 世界! **bold**');
  assert.equal(j.choices[0].message.reasoning_content, '让我想想。');
  assert.equal(j.usage.completion_tokens_details.reasoning_tokens, 5);

  for (const includeUsage of [false, true]) {
    r = await post(`${srv.url}/v1/chat/completions`, chatBody({ stream: true, stream_options: { include_usage: includeUsage } }));
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const data = parseSse(new Uint8Array(await r.arrayBuffer()));
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    const usage = chunks.filter((c) => c.usage);
    assert.equal(usage.length, includeUsage ? 1 : 0);
    for (const c of chunks) {
      const d = c.choices[0]?.delta;
      if (d) assert.ok(!(d.content && d.reasoning_content), 'never both in one chunk');
    }
  }
  // the engine is always asked for usage, so the metrics count streams without include_usage too
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /deepcard_generated_tokens_total 72\b/);
  assert.match(m, /deepcard_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} 3/);
});

test('errors: JSON shape and statuses', async () => {
  const { srv } = await serve({ apiKey: 'sekrit', maxBodyBytes: 1024 });
  const auth = { authorization: 'Bearer sekrit' };
  const check = async (res, status, code) => {
    assert.equal(res.status, status);
    const j = await res.json();
    assert.equal(typeof j.error.message, 'string');
    assert.ok('type' in j.error && 'param' in j.error && 'code' in j.error);
    if (code) assert.equal(j.error.code, code);
    return j.error;
  };
  await check(await post(`${srv.url}/v1/chat/completions`, chatBody()), 401, 'missing_api_key');
  await check(await post(`${srv.url}/v1/chat/completions`, chatBody(), { authorization: 'Bearer nope' }), 401, 'invalid_api_key');
  assert.equal((await fetch(`${srv.url}/health`)).status, 200, 'health needs no key');
  await check(await post(`${srv.url}/v1/chat/completions`, '{"messages": [', auth), 400, 'invalid_json');
  await check(await post(`${srv.url}/v1/chat/completions`, '[1,2]', auth), 400, 'invalid_json');
  await check(await post(`${srv.url}/v1/chat/completions`, chatBody({ stream: 'yes' }), auth), 400);
  const e = await check(await post(`${srv.url}/v1/chat/completions`, chatBody({ temperature: -1 }), auth), 400);
  assert.equal(e.param, 'temperature');
  const long = await check(await post(`${srv.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'x'.repeat(300) }] }, auth), 400, 'context_length_exceeded');
  assert.match(long.message, /300.*256/);
  await check(await post(`${srv.url}/v1/chat/completions`, chatBody({ model: 'gpt-4' }), auth), 404, 'model_not_found');
  assert.equal((await post(`${srv.url}/v1/chat/completions`, chatBody({ model: 'fake-model' }), auth)).status, 200);
  await check(await fetch(`${srv.url}/v1/nothing`, { headers: auth }), 404);
  const m = await fetch(`${srv.url}/v1/chat/completions`, { headers: auth });
  assert.equal(m.headers.get('allow'), 'POST, OPTIONS');
  await check(m, 405, 'method_not_allowed');
  await check(await post(`${srv.url}/v1/chat/completions`, JSON.stringify(chatBody({ pad: 'x'.repeat(2000) })), auth), 413, 'request_too_large');
  const pre = await fetch(`${srv.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://x', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  // curl -d sends application/x-www-form-urlencoded: still parsed as JSON
  assert.equal((await post(`${srv.url}/v1/chat/completions`, chatBody(), { ...auth, 'content-type': 'application/x-www-form-urlencoded' })).status, 200);
  await check(await fetch(`${srv.url}/`, { method: 'POST', body: '{}' }), 405, 'method_not_allowed');
  // the server still works after all that
  assert.equal((await post(`${srv.url}/v1/chat/completions`, chatBody(), auth)).status, 200);
});

test('503 when the queue is full; a disconnected client frees its slot', async () => {
  const { srv, engine } = await serve({ parallel: 1, queue: 1 }, { delayMs: 20 });
  const c1 = new AbortController();
  const r1 = await post(`${srv.url}/v1/chat/completions`, chatBody({ stream: true }), {}).then((r) => r);
  assert.equal(r1.status, 200);
  const reader = r1.body.getReader();
  await reader.read(); // the first one holds the slot
  const c2 = new AbortController();
  const p2 = fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chatBody()), signal: c2.signal }).catch(() => null);
  while (srv.app.pool.queueDepth < 1) await new Promise((r) => setTimeout(r, 5));
  const r3 = await post(`${srv.url}/v1/chat/completions`, chatBody());
  assert.equal(r3.status, 503);
  assert.equal((await r3.json()).error.code, 'server_overloaded');
  assert.ok(r3.headers.get('retry-after'));
  // the queued client leaves: its queue entry goes away
  c2.abort();
  await p2;
  while (srv.app.pool.queueDepth > 0) await new Promise((r) => setTimeout(r, 5));
  // the streaming client leaves mid-stream: the generation stops and the slot is free again
  await reader.cancel();
  c1.abort();
  const t0 = Date.now();
  while (srv.app.pool.inUse > 0 && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.app.pool.inUse, 0);
  assert.ok(engine.aborted >= 1, 'the engine saw the abort');
  const r4 = await post(`${srv.url}/v1/chat/completions`, chatBody({ max_tokens: 3 }));
  assert.equal(r4.status, 200);
  assert.equal((await r4.json()).choices[0].finish_reason, 'length');
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /deepcard_requests_total\{endpoint="\/v1\/chat\/completions",status="503"\} 1/);
  assert.match(m, /deepcard_slots_in_use 0/);
  assert.match(m, /deepcard_queue_depth 0/);
});

test('a raw-socket disconnect mid-stream aborts the generation', async () => {
  const { srv, engine } = await serve({ parallel: 1 }, { delayMs: 20 });
  const u = new URL(srv.url);
  await new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    req.end(JSON.stringify(chatBody({ stream: true })));
    setTimeout(() => reject(new Error('no data')), 3000);
  });
  const t0 = Date.now();
  while ((srv.app.pool.inUse > 0 || engine.active > 0) && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.app.pool.inUse, 0);
  assert.equal(engine.active, 0);
  assert.equal(engine.aborted, 1);
});

test('completions, tokenize, detokenize, models', async () => {
  const { srv } = await serve();
  let r = await post(`${srv.url}/v1/completions`, { prompt: 'abc', max_tokens: 4 });
  assert.equal((await r.json()).choices[0].text, 'Hell');
  r = await post(`${srv.url}/v1/completions`, { prompt: 'abc', max_tokens: 4, stream: true });
  const data = parseSse(new Uint8Array(await r.arrayBuffer()));
  assert.equal(data.at(-1), '[DONE]');
  r = await post(`${srv.url}/tokenize`, { content: 'a世', with_pieces: true });
  assert.deepEqual((await r.json()).tokens, [{ id: 97, piece: 'a' }, { id: 19990, piece: '世' }]);
  r = await post(`${srv.url}/detokenize`, { tokens: [97, 19990] });
  assert.deepEqual(await r.json(), { content: 'a世' });
  r = await post(`${srv.url}/detokenize`, { tokens: ['x'] });
  assert.equal(r.status, 400);
  r = await fetch(`${srv.url}/v1/models`);
  const j = await r.json();
  assert.equal(j.object, 'list');
  assert.equal(j.data[0].id, 'fake-model');
  assert.equal((await fetch(`${srv.url}/v1/models/fake-model`)).status, 200);
  assert.equal((await fetch(`${srv.url}/v1/models/other`)).status, 404);
});

test('in-process fetch never throws, whatever it gets', async () => {
  const app = new ServerApp({ webDir: null });
  app.setEngine(new FakeEngine());
  const bodies = ['', 'null', '{"messages": null}', '{"messages": "x"}', '\u0000\u0001', '{"stream_options": 5, "messages": []}'];
  for (const b of bodies) {
    const res = await app.fetch(new Request('http://x/v1/chat/completions', { method: 'POST', body: b }));
    assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(b)} -> ${res.status}`);
  }
  const bad = await app.fetch(new Request('http://x/v1/chat/completions', { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }));
  assert.equal(bad.status, 400);
});

test('graceful close lets an in-flight stream finish, then disposes an owned engine', async () => {
  const engine = new FakeEngine({ delayMs: 10 });
  const srv = await startServer({ engine, port: 0, ownsEngine: true });
  await srv.ready;
  const r = await post(`${srv.url}/v1/chat/completions`, chatBody({ stream: true }));
  const body = r.arrayBuffer();
  await new Promise((res) => setTimeout(res, 30));
  const closing = srv.close({ timeoutMs: 5000 });
  const data = parseSse(new Uint8Array(await body));
  assert.equal(data.at(-1), '[DONE]');
  await closing;
  assert.equal(engine.disposed, true);
  // with a short timeout, the in-flight request is aborted instead
  const engine2 = new FakeEngine({ delayMs: 50 });
  const srv2 = await startServer({ engine: engine2, port: 0 });
  await srv2.ready;
  const r2 = await post(`${srv2.url}/v1/chat/completions`, chatBody({ stream: true }));
  const body2 = r2.arrayBuffer();
  await new Promise((res) => setTimeout(res, 60));
  await srv2.close({ timeoutMs: 50 });
  const data2 = parseSse(new Uint8Array(await body2));
  assert.match(data2.at(-1), /"error"/);
  assert.equal(engine2.aborted, 1);
});

test('web page files: served with a strict CSP, nothing outside web/', async () => {
  const { srv } = await serve();
  const page = await fetch(`${srv.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
  assert.match(await page.text(), /<script type="module" src="app.js">/);
  const js = await fetch(`${srv.url}/markdown.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  for (const p of ['/%2e%2e%2fpackage.json', '/..%2fpackage.json', '/.env', '/package.json', '/web/app.js']) {
    assert.equal((await fetch(`${srv.url}${p}`)).status, 404, p);
  }
  const none = await startServer({ engine: new FakeEngine(), port: 0, webDir: null });
  servers.push(none);
  assert.equal((await fetch(`${none.url}/`)).status, 404);
});
