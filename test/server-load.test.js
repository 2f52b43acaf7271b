// Load on a real tiny model, bounded in time: 32 concurrent streaming clients all complete without
// errors and memory stays bounded; clients that disconnect mid-stream free their slots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../dist/server/server.js';
import { benchServerThroughput } from '../dist/server/bench.js';
import { post, r1Template, sseEventsStrict, tinyModelPath } from './helpers/server-model.js';

let srv;

before(async () => {
  srv = await startServer({ model: tinyModelPath(), port: 0, parallel: 4, queue: 64, loadOptions: { threads: 2, contextLength: 256, chatTemplate: r1Template() } });
  await srv.ready;
});
after(async () => {
  await srv?.close({ timeoutMs: 1000 });
});

const body = (i, max = 6) => ({ messages: [{ role: 'user', content: `客户 ${i}: hello number ${i}` }], max_tokens: max, stream: true, temperature: 0.8, seed: i });

test('32 concurrent streaming clients: all complete, none errors, RSS bounded', { timeout: 90_000 }, async (t) => {
  // warm-up request, so the baseline includes the model's steady-state buffers
  await (await post(`${srv.url}/v1/chat/completions`, body(0))).arrayBuffer();
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = Date.now();
  const results = await Promise.all(
    Array.from({ length: 32 }, async (_, i) => {
      const r = await post(`${srv.url}/v1/chat/completions`, body(i + 1));
      const ev = sseEventsStrict(new Uint8Array(await r.arrayBuffer()));
      return { status: r.status, ev };
    }),
  );
  const secs = (Date.now() - t0) / 1000;
  for (const { status, ev } of results) {
    assert.equal(status, 200);
    assert.equal(ev.at(-1), '[DONE]');
    assert.ok(!ev.some((e) => e.error), 'no error events');
    assert.equal(ev.filter((e) => e.choices?.[0]?.finish_reason).length, 1);
  }
  const rss1 = process.memoryUsage().rss;
  const grew = (rss1 - rss0) / 2 ** 20;
  assert.ok(grew < 256, `RSS grew by ${grew.toFixed(0)} MiB under load`);
  assert.equal(srv.app.pool.inUse, 0);
  assert.equal(srv.app.pool.queueDepth, 0);
  const m = await (await fetch(`${srv.url}/metrics`)).text();
  assert.match(m, /deepcard_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} 33/);
  t.diagnostic(`32 streams in ${secs.toFixed(1)} s, RSS ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MiB`);
});

test('clients that disconnect mid-stream free their slots; the next request is served', { timeout: 60_000 }, async () => {
  // 8 long streams (more than the 4 slots: some wait in the queue), each dropped after its first event
  const drops = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const ctl = new AbortController();
      const r = await post(`${srv.url}/v1/chat/completions`, body(100 + i, 200), {}, { signal: ctl.signal });
      const reader = r.body.getReader();
      await reader.read();
      ctl.abort();
      return r.status;
    }),
  );
  assert.deepEqual(drops, Array(8).fill(200));
  const t0 = Date.now();
  while ((srv.app.pool.inUse > 0 || srv.app.inflight.size > 0) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
  assert.equal(srv.app.pool.inUse, 0, 'every slot was freed');
  assert.ok(srv.app.metrics.abortedGenerations >= 8);
  // generating 8 x 200 tokens would take far longer than this: the aborts really stopped them
  const r = await post(`${srv.url}/v1/chat/completions`, { ...body(999, 4), stream: false });
  assert.equal(r.status, 200);
  assert.ok((await r.json()).usage.completion_tokens <= 4);
});

test('server throughput bench (npm run bench helper) runs on the tiny model', { timeout: 60_000 }, async (t) => {
  const res = await benchServerThroughput({ model: tinyModelPath(), concurrency: [1, 2], maxTokens: 4, threads: 2, contextLength: 128 });
  assert.deepEqual(res.map((r) => r.concurrency), [1, 2]);
  for (const r of res) {
    assert.ok(r.generatedTokens >= r.concurrency && r.generatedTokens <= 4 * r.concurrency);
    assert.ok(r.tokensPerSecond > 0 && r.seconds > 0 && r.firstEventMs >= 0);
  }
  t.diagnostic(JSON.stringify(res));
});
