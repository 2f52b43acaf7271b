/**
 * Server throughput for `npm run bench`: total generated tokens per second over HTTP with 1, 4 and
 * 8 concurrent streaming clients (issue 5). Measures the whole path a user sees: HTTP, SSE, slots,
 * engine. Each client gets its own prompt so no request is a pure prompt-cache hit.
 */
import { startServer } from './server.js';

export interface ServerBenchOptions {
  readonly model: string;
  /** Concurrent streams per measurement (default [1, 4, 8]). */
  readonly concurrency?: readonly number[];
  /** Tokens each stream generates (default 64; fewer if the model stops). */
  readonly maxTokens?: number;
  readonly threads?: number;
  readonly contextLength?: number;
}

export interface ServerBenchResult {
  readonly concurrency: number;
  /** Completion tokens over all streams (from each stream's usage). */
  readonly generatedTokens: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
  /** Median time to the first streamed event, milliseconds. */
  readonly firstEventMs: number;
}

async function oneStream(url: string, i: number, maxTokens: number): Promise<{ tokens: number; firstMs: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: `Request ${i}: the quick brown fox`, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok || !res.body) throw new Error(`server bench: HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let text = '';
  let firstMs = -1;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (firstMs < 0) firstMs = performance.now() - t0;
    text += dec.decode(value, { stream: true });
  }
  const usage = text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)) as { usage?: { completion_tokens: number } })
    .find((c) => c.usage)?.usage;
  if (!usage) throw new Error('server bench: a stream ended without usage');
  return { tokens: usage.completion_tokens, firstMs };
}

export async function benchServerThroughput(opts: ServerBenchOptions): Promise<ServerBenchResult[]> {
  const levels = opts.concurrency ?? [1, 4, 8];
  const maxTokens = opts.maxTokens ?? 64;
  const srv = await startServer({
    model: opts.model,
    port: 0,
    parallel: Math.max(...levels),
    queue: 0,
    webDir: null,
    loadOptions: { threads: opts.threads, contextLength: opts.contextLength ?? 1024 },
  });
  try {
    await srv.ready;
    await oneStream(srv.url, -1, 4); // warm-up
    const out: ServerBenchResult[] = [];
    let next = 0;
    for (const c of levels) {
      const t0 = performance.now();
      const runs = await Promise.all(Array.from({ length: c }, () => oneStream(srv.url, next++, maxTokens)));
      const seconds = (performance.now() - t0) / 1000;
      const generatedTokens = runs.reduce((s, r) => s + r.tokens, 0);
      const firsts = runs.map((r) => r.firstMs).sort((a, b) => a - b);
      out.push({ concurrency: c, generatedTokens, seconds, tokensPerSecond: generatedTokens / seconds, firstEventMs: firsts[firsts.length >> 1]! });
    }
    return out;
  } finally {
    await srv.close({ timeoutMs: 1000 });
  }
}
