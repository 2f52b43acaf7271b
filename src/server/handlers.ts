/**
 * Endpoint bodies. Generation requests: validate what the server interprets (model, stream),
 * take a slot (or 503), forward the body to the engine unchanged with the server's abort signal,
 * and answer JSON or SSE. The engine validates every sampling field (InvalidRequestError -> 400).
 */
import type { ServerApp, EngineLike } from './app.js';
import { apiError, json, optBool, optObject, readJsonObject } from './http-util.js';
import { sseResponse } from './sse.js';
import type { TimingsLike, UsageLike } from './metrics.js';

export function health(app: ServerApp): Response {
  const status = app.state;
  if (status === 'ok') return json({ status: 'ok' });
  if (status === 'error') return json({ status: 'error', error: app.loadError }, 500);
  return json({ status: status === 'loading' ? 'loading' : 'shutting_down' }, 503, { 'retry-after': '2' });
}

export function metrics(app: ServerApp): Response {
  const text = app.metrics.render({
    queueDepth: app.pool.queueDepth,
    slotsInUse: app.pool.inUse,
    slots: app.pool.slots,
    queueLimit: app.pool.maxQueue,
    loaded: app.state === 'ok',
  });
  return new Response(text, { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
}

function modelObject(app: ServerApp) {
  const e = app.engine!;
  return {
    id: e.modelName,
    object: 'model',
    created: Math.floor(app.metrics.startedAt / 1000),
    owned_by: 'deepcard',
    meta: { n_ctx: e.contextLength, slots: app.pool.slots },
  };
}

export function models(app: ServerApp): Response {
  return json({ object: 'list', data: [modelObject(app)] });
}

export function modelById(app: ServerApp, _req: Request, url: URL): Response {
  const id = decodeURIComponent(url.pathname.slice('/v1/models/'.length));
  if (!app.modelNames().has(id)) throw apiError(404, `the model '${id.slice(0, 200)}' does not exist; this server serves '${app.engine!.modelName}'`, 'model_not_found', 'model');
  return json(modelObject(app));
}

/** A missing model is fine (one model is served); a wrong one is a 404 like OpenAI's. */
function checkModel(app: ServerApp, body: Record<string, unknown>): void {
  const m = body.model;
  if (m === undefined || m === null || m === '') return;
  if (typeof m !== 'string') throw apiError(400, 'model must be a string', 'invalid_type', 'model');
  if (!app.modelNames().has(m)) {
    throw apiError(404, `the model '${m.slice(0, 200)}' does not exist; this server serves '${app.engine!.modelName}'`, 'model_not_found', 'model');
  }
}

type Create = (engine: EngineLike, req: never) => Promise<unknown>;

async function generation(app: ServerApp, req: Request, create: Create): Promise<Response> {
  const body = await readJsonObject(req);
  checkModel(app, body);
  const stream = optBool(body, 'stream');
  const so = optObject(body, 'stream_options');
  if (so && so.include_usage !== undefined && so.include_usage !== null && typeof so.include_usage !== 'boolean') {
    throw apiError(400, 'stream_options.include_usage must be a boolean', 'invalid_type', 'stream_options');
  }
  const includeUsage = so?.include_usage === true;

  // One controller per request: the client going away, a cancelled stream, or shutdown all abort it.
  const ctl = new AbortController();
  const onClientAbort = () => ctl.abort();
  if (req.signal.aborted) ctl.abort();
  req.signal.addEventListener('abort', onClientAbort, { once: true });
  const untrack = app.track(ctl);
  let release: (() => void) | null = null;
  let handedToStream = false;
  const finish = () => {
    req.signal.removeEventListener('abort', onClientAbort);
    release?.();
    untrack();
  };
  try {
    release = await app.pool.acquire(ctl.signal); // throws OverloadedError (503) when the queue is full
    if (app.state !== 'ok' || !app.engine) throw apiError(503, 'the server is shutting down', 'server_shutting_down');
    const engine = app.engine;
    // The engine is always asked for usage so the metrics see every request's tokens; the SSE
    // layer drops the usage chunk when the client did not ask for it.
    const engineReq = { ...body, stream, stream_options: stream ? { include_usage: true } : undefined, signal: ctl.signal };
    const result = await create(engine, engineReq as never);
    if (!stream) {
      const r = result as { usage?: UsageLike; timings?: TimingsLike };
      app.metrics.recordGeneration(r.usage, r.timings);
      return json(result);
    }
    handedToStream = true;
    return sseResponse(result as AsyncIterable<never>, {
      controller: ctl,
      includeUsage,
      onUsage: (u, t) => app.metrics.recordGeneration(u, t),
      onEnd: (outcome) => {
        if (outcome !== 'done') app.metrics.abortedGenerations++;
        finish();
      },
      onError: (e) => {
        const res = app.errorToResponse(e);
        return { message: e instanceof Error ? e.message : String(e), type: res.status >= 500 ? 'server_error' : 'invalid_request_error', code: null };
      },
    });
  } catch (e) {
    if (ctl.signal.aborted && release) app.metrics.abortedGenerations++;
    throw e;
  } finally {
    if (!handedToStream) finish();
  }
}

export function chatCompletions(app: ServerApp, req: Request): Promise<Response> {
  return generation(app, req, (engine, r) => engine.chat.completions.create(r));
}

export function completions(app: ServerApp, req: Request): Promise<Response> {
  return generation(app, req, (engine, r) => engine.completions.create(r));
}

/** POST /tokenize {content, add_special?, parse_special?, with_pieces?} -> {tokens} (llama-server's shape). */
export async function tokenize(app: ServerApp, req: Request): Promise<Response> {
  const body = await readJsonObject(req);
  const content = body.content;
  if (typeof content !== 'string') throw apiError(400, 'content must be a string', 'invalid_type', 'content');
  const bos = optBool(body, 'add_special');
  const special = body.parse_special === undefined || body.parse_special === null ? true : optBool(body, 'parse_special');
  const withPieces = optBool(body, 'with_pieces');
  const engine = app.engine!;
  const ids = engine.tokenize(content, { special, bos });
  if (!withPieces) return json({ tokens: ids });
  const tokenBytes = engine.tokenizer?.tokenBytes?.bind(engine.tokenizer);
  const strict = new TextDecoder('utf-8', { fatal: true });
  const tokens = ids.map((id) => {
    if (!tokenBytes) return { id, piece: engine.detokenize([id]) };
    const bytes = Uint8Array.from(tokenBytes(id));
    try {
      return { id, piece: strict.decode(bytes) };
    } catch {
      // A piece that is part of a multi-byte character: give the bytes, as llama-server does.
      return { id, piece: [...bytes] };
    }
  });
  return json({ tokens });
}

/** POST /detokenize {tokens} -> {content}. */
export async function detokenize(app: ServerApp, req: Request): Promise<Response> {
  const body = await readJsonObject(req);
  const tokens = body.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) {
    throw apiError(400, 'tokens must be an array of integer token ids', 'invalid_type', 'tokens');
  }
  return json({ content: app.engine!.detokenize(tokens as number[]) });
}
