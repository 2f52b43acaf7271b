/**
 * The HTTP application as a web-standard handler: `app.fetch(Request) -> Promise<Response>`
 * (the hono shape), so it runs in-process in tests and behind any adapter (node:http here).
 *
 * Routing, CORS, API-key auth, model-state checks, error mapping and request metrics live here;
 * the endpoint bodies are in handlers.ts. Nothing a request sends may throw out of `fetch`.
 */
import { ApiError, apiError, CORS_HEADERS, errorResponse, sameSecret } from './http-util.js';
import { Metrics } from './metrics.js';
import { AbortedError, OverloadedError, SlotPool } from './slots.js';
import { serveStatic } from './static.js';
import * as H from './handlers.js';
import { InvalidRequestError, type ChatCompletion, type ChatCompletionChunk, type ChatCompletionRequest, type Completion, type CompletionChunk, type CompletionRequest } from '../engine/api-types.js';

/** What the server needs from an engine (src/engine/engine.ts `Engine` satisfies it). */
export interface EngineLike {
  readonly modelName: string;
  readonly contextLength: number;
  readonly chat: { readonly completions: { create(req: ChatCompletionRequest): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> } };
  readonly completions: { create(req: CompletionRequest): Promise<Completion | AsyncIterable<CompletionChunk>> };
  tokenize(text: string, opts?: { special?: boolean; bos?: boolean }): number[];
  detokenize(ids: readonly number[]): string;
  /** Raw token bytes, for /tokenize with_pieces (optional). */
  readonly tokenizer?: { tokenBytes?(id: number): Uint8Array | readonly number[] };
  dispose(): Promise<void>;
}

export interface AppOptions {
  /** Require `Authorization: Bearer <apiKey>` on the API routes. */
  readonly apiKey?: string;
  /** Generations in flight at once (default 4). */
  readonly parallel?: number;
  /** Requests allowed to wait for a slot; more get 503 (default 64). */
  readonly queue?: number;
  /** Directory of the web chat page; null disables it. */
  readonly webDir?: string | null;
  /** Extra names accepted in the `model` field (e.g. the file name). */
  readonly modelAliases?: readonly string[];
  /** Where unexpected errors are reported. */
  readonly log?: (line: string) => void;
}

export type ServerState = 'loading' | 'ok' | 'error' | 'stopping';

type Handler = (app: ServerApp, req: Request, url: URL) => Promise<Response> | Response;

interface Route {
  readonly methods: Readonly<Record<string, Handler>>;
  /** Needs the API key when one is set. */
  readonly auth: boolean;
  /** Needs a loaded model. */
  readonly engine: boolean;
}

const ROUTES: Readonly<Record<string, Route>> = {
  '/health': { methods: { GET: H.health }, auth: false, engine: false },
  '/metrics': { methods: { GET: H.metrics }, auth: true, engine: false },
  '/v1/models': { methods: { GET: H.models }, auth: true, engine: true },
  '/v1/chat/completions': { methods: { POST: H.chatCompletions }, auth: true, engine: true },
  '/v1/completions': { methods: { POST: H.completions }, auth: true, engine: true },
  '/tokenize': { methods: { POST: H.tokenize }, auth: true, engine: true },
  '/detokenize': { methods: { POST: H.detokenize }, auth: true, engine: true },
};

/** Paths some clients use without the /v1 prefix (llama-server accepts both). */
const ALIASES: Readonly<Record<string, string>> = {
  '/v1/health': '/health',
  '/models': '/v1/models',
  '/chat/completions': '/v1/chat/completions',
  '/completions': '/v1/completions',
};

export class ServerApp {
  state: ServerState = 'loading';
  engine: EngineLike | null = null;
  loadError: string | null = null;
  readonly pool: SlotPool;
  readonly metrics = new Metrics();
  /** Abort controllers of requests that hold (or wait for) engine work, for shutdown. */
  readonly inflight = new Set<AbortController>();
  private readonly idleWaiters: Array<() => void> = [];
  readonly log: (line: string) => void;

  constructor(readonly opts: AppOptions = {}) {
    this.pool = new SlotPool(opts.parallel ?? 4, opts.queue ?? 64);
    this.log = opts.log ?? (() => {});
  }

  setEngine(engine: EngineLike): void {
    this.engine = engine;
    if (this.state === 'loading') this.state = 'ok';
  }

  setLoadError(e: unknown): void {
    this.loadError = e instanceof Error ? e.message : String(e);
    if (this.state === 'loading') this.state = 'error';
  }

  /** Names accepted in a request's `model` field. */
  modelNames(): Set<string> {
    const names = new Set(this.opts.modelAliases ?? []);
    if (this.engine) names.add(this.engine.modelName);
    return names;
  }

  /** Track a request holding engine work; the returned function ends the tracking. */
  track(ctl: AbortController): () => void {
    this.inflight.add(ctl);
    return () => {
      this.inflight.delete(ctl);
      if (this.inflight.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  /** Resolves when no request holds engine work, or after `ms` (returns false then). */
  waitIdle(ms: number): Promise<boolean> {
    if (this.inflight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Shutdown: refuse new work, fail queued requests, abort running ones. */
  abortAll(): void {
    this.pool.failWaiting(apiError(503, 'the server is shutting down', 'server_shutting_down'));
    for (const c of this.inflight) c.abort();
  }

  /** The web-standard entry point. Never throws. */
  fetch = async (req: Request): Promise<Response> => {
    let endpoint = 'other';
    let res: Response;
    try {
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        throw apiError(400, 'malformed request URL');
      }
      const path = ALIASES[url.pathname] ?? url.pathname;
      if (req.method === 'OPTIONS') {
        // CORS preflight: answer for any path, before auth (browsers send no credentials here).
        endpoint = ROUTES[path] ? path : 'other';
        res = new Response(null, { status: 204 });
      } else if (ROUTES[path] || path.startsWith('/v1/models/')) {
        const route = ROUTES[path] ?? { methods: { GET: H.modelById }, auth: true, engine: true };
        endpoint = ROUTES[path] ? path : '/v1/models/{id}';
        const handler = route.methods[req.method] ?? (req.method === 'HEAD' ? route.methods.GET : undefined);
        if (!handler) {
          const allow = [...Object.keys(route.methods), 'OPTIONS'].join(', ');
          throw apiError(405, `method ${req.method} is not allowed on ${path}; use ${Object.keys(route.methods).join(' or ')}`, 'method_not_allowed', null, { allow });
        }
        if (route.auth) this.checkAuth(req);
        if (route.engine) this.checkReady();
        res = await handler(this, req, url);
      } else {
        const page = this.opts.webDir ? await serveStatic(this.opts.webDir, req.method, path) : null;
        if (page) {
          endpoint = 'web';
          res = page;
        } else if (this.opts.webDir && (await serveStatic(this.opts.webDir, 'HEAD', path))) {
          endpoint = 'web';
          throw apiError(405, `method ${req.method} is not allowed on ${path}; use GET`, 'method_not_allowed', null, { allow: 'GET, HEAD, OPTIONS' });
        } else {
          throw apiError(404, `no route for ${req.method} ${url.pathname.slice(0, 200)}`, 'not_found');
        }
      }
    } catch (e) {
      res = this.errorToResponse(e);
    }
    for (const [k, v] of Object.entries(CORS_HEADERS)) if (!res.headers.has(k)) res.headers.set(k, v);
    this.metrics.countRequest(endpoint, res.status);
    return res;
  };

  private checkAuth(req: Request): void {
    const key = this.opts.apiKey;
    if (!key) return;
    const h = req.headers.get('authorization') ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    const given = m ? m[1]!.trim() : req.headers.get('x-api-key');
    if (!given) throw apiError(401, 'missing API key: send "Authorization: Bearer <key>"', 'missing_api_key', null, { 'www-authenticate': 'Bearer' });
    if (!sameSecret(given, key)) throw apiError(401, 'incorrect API key provided', 'invalid_api_key', null, { 'www-authenticate': 'Bearer' });
  }

  private checkReady(): void {
    if (this.state === 'loading') throw apiError(503, 'the model is still loading; retry shortly (GET /health reports readiness)', 'model_loading', null, { 'retry-after': '2' });
    if (this.state === 'error') throw apiError(500, `the model failed to load: ${this.loadError}`, 'model_load_failed');
    if (this.state === 'stopping') throw apiError(503, 'the server is shutting down', 'server_shutting_down');
  }

  /** Any thrown value -> an OpenAI-shaped error response. */
  errorToResponse(e: unknown): Response {
    if (e instanceof ApiError) return errorResponse(e);
    if (e instanceof OverloadedError) return errorResponse(apiError(503, e.message, 'server_overloaded', null, { 'retry-after': '1' }));
    if (e instanceof AbortedError || (e instanceof Error && e.name === 'AbortError')) {
      // The client is gone; the status is for the logs and metrics only.
      return errorResponse(apiError(499, 'the request was cancelled', 'request_cancelled'));
    }
    if (e instanceof InvalidRequestError) {
      return errorResponse(new ApiError(400, e.message, 'invalid_request_error', e.code ?? null, e.param ?? null));
    }
    if (e instanceof Error && e.constructor.name === 'TemplateError') {
      // e.g. the model has no chat template: the client can use /v1/completions instead.
      return errorResponse(apiError(400, e.message, 'chat_template_error'));
    }
    if (e instanceof Error && /has been disposed/.test(e.message)) return errorResponse(apiError(503, 'the server is shutting down', 'server_shutting_down'));
    const msg = e instanceof Error ? e.message : String(e);
    this.log(`deepcard serve: internal error: ${e instanceof Error ? e.stack ?? msg : msg}\n`);
    return errorResponse(apiError(500, `internal server error: ${msg}`, 'internal_error'));
  }
}

