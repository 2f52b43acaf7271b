/**
 * Server-sent events from an engine chunk stream: `data: {json}\n\n` per chunk, then
 * `data: [DONE]\n\n` (OpenAI's framing). The response body is pull-driven, so a slow reader slows
 * nothing but itself, and cancelling the body (client gone) aborts the generation and frees the slot.
 */
import type { TimingsLike, UsageLike } from './metrics.js';

export interface SseOptions {
  /** Aborts the engine's generation. */
  readonly controller: AbortController;
  /** Forward the usage-only chunk to the client (stream_options.include_usage). */
  readonly includeUsage: boolean;
  /** Called once when the stream ends for any reason: frees the slot. */
  readonly onEnd: (outcome: 'done' | 'aborted' | 'error') => void;
  /** Called with the final usage (the engine is always asked for it, for the metrics). */
  readonly onUsage: (usage: UsageLike, timings: TimingsLike | undefined) => void;
  /** Called when the engine throws mid-stream (after the 200 headers went out). */
  readonly onError: (e: unknown) => { message: string; type: string; code: string | null };
}

const enc = new TextEncoder();
const DONE = enc.encode('data: [DONE]\n\n');

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // Tells nginx-style proxies not to buffer the stream.
  'x-accel-buffering': 'no',
};

interface ChunkLike {
  choices?: unknown[];
  usage?: UsageLike | null;
  timings?: TimingsLike;
}

export function sseResponse(source: AsyncIterable<ChunkLike>, opts: SseOptions): Response {
  const it = source[Symbol.asyncIterator]();
  let ended = false;
  const end = async (outcome: 'done' | 'aborted' | 'error') => {
    if (ended) return;
    ended = true;
    try {
      if (outcome !== 'done') {
        opts.controller.abort();
        // Let the engine's generator run its finally (it releases the engine's own lock).
        await it.return?.();
      }
    } catch {
      // the generator already failed; nothing more to release
    } finally {
      opts.onEnd(outcome);
    }
  };

  const body = new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        try {
          // Loop until something is enqueued: usage chunks may be swallowed.
          for (;;) {
            const r = await it.next();
            if (ended) return;
            if (r.done) {
              if (opts.controller.signal.aborted) {
                // Stopped by shutdown while the client is still reading: say so instead of a silent end.
                ctl.enqueue(event({ error: { message: 'the generation was aborted (server shutting down or request cancelled)', type: 'server_error', param: null, code: 'aborted' } }));
                ctl.close();
                await end('aborted');
                return;
              }
              ctl.enqueue(DONE);
              ctl.close();
              await end('done');
              return;
            }
            const chunk = r.value;
            const isUsageChunk = !!chunk.usage && Array.isArray(chunk.choices) && chunk.choices.length === 0;
            if (chunk.usage) opts.onUsage(chunk.usage, chunk.timings);
            if (isUsageChunk && !opts.includeUsage) continue;
            ctl.enqueue(event(chunk));
            return;
          }
        } catch (e) {
          if (ended) return;
          const err = opts.onError(e);
          try {
            ctl.enqueue(event({ error: { ...err, param: null } }));
            ctl.close();
          } catch {
            // stream already cancelled
          }
          await end('error');
        }
      },
      async cancel() {
        await end('aborted');
      },
    },
    { highWaterMark: 1 },
  );
  return new Response(body, { status: 200, headers: SSE_HEADERS });
}

function event(obj: unknown): Uint8Array {
  return enc.encode(`data: ${JSON.stringify(obj)}\n\n`);
}
