/**
 * node:http <-> web-standard Request/Response. The body is read with a size limit before the
 * handler runs; the Request's signal aborts when the client disconnects, and the Response body
 * is written with back-pressure and cancelled (stopping a generation) if the socket closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface AdapterOptions {
  /** Largest accepted request body in bytes (413 past it). */
  readonly maxBodyBytes: number;
  readonly log: (line: string) => void;
}

type FetchFn = (req: Request) => Promise<Response>;

export function nodeHandler(fetchFn: FetchFn, opts: AdapterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(fetchFn, opts, req, res).catch((e) => {
      opts.log(`deepcard serve: adapter error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      if (!res.headersSent) sendJson(res, 500, 'internal server error', 'server_error');
      else res.destroy();
    });
  };
}

function sendJson(res: ServerResponse, status: number, message: string, type: string, code: string | null = null, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({ error: { message, type, param: null, code } });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'access-control-allow-origin': '*', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

/** The whole body, or null (after answering 413, or when the client went away) when there is none. */
function readBody(req: IncomingMessage, res: ServerResponse, max: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (v: Buffer | null) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      resolve(v);
    };
    const tooLarge = (drop: boolean) => {
      // Dropping the connection after the answer is flushed: far too large to drain politely.
      if (drop) res.once('finish', () => req.destroy());
      sendJson(res, 413, `request body too large: the limit is ${max} bytes`, 'invalid_request_error', 'request_too_large', { connection: 'close' });
      settle(null);
    };
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (c: Buffer) => {
      total += c.length;
      if (total <= max) chunks.push(c);
      else if (total > 4 * max) tooLarge(true);
    };
    if (Number(req.headers['content-length']) > 4 * max) return tooLarge(true);
    req.on('data', onData);
    req.on('end', () => (total > max ? tooLarge(false) : settle(Buffer.concat(chunks, total))));
    req.on('error', () => settle(null));
    req.on('close', () => settle(null));
  });
}

function hostOf(req: IncomingMessage): string {
  const h = req.headers.host;
  return h && /^[A-Za-z0-9.\-:[\]]{1,300}$/.test(h) ? h : 'localhost';
}

async function handle(fetchFn: FetchFn, opts: AdapterOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const ctl = new AbortController();
  // 'close' on the response fires when it finished or when the connection died first.
  res.on('close', () => {
    if (!res.writableFinished) ctl.abort();
  });
  const method = (req.method ?? 'GET').toUpperCase();
  let body: Buffer | null = null;
  if (method !== 'GET' && method !== 'HEAD') {
    body = await readBody(req, res, opts.maxBodyBytes);
    if (!body) return;
  }
  let url: URL;
  try {
    url = new URL(req.url ?? '/', `http://${hostOf(req)}`);
  } catch {
    sendJson(res, 400, 'malformed request URL', 'invalid_request_error');
    return;
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    try {
      if (Array.isArray(v)) for (const x of v) headers.append(k, x);
      else headers.set(k, v);
    } catch {
      // a header undici refuses: ignore it rather than fail the request
    }
  }
  let request: Request;
  try {
    request = new Request(url, { method, headers, body: body && body.length ? body : null, signal: ctl.signal });
  } catch {
    // e.g. CONNECT/TRACE, which the Fetch standard forbids
    sendJson(res, 405, `method ${method.slice(0, 20)} is not allowed`, 'invalid_request_error', 'method_not_allowed', { allow: 'GET, POST, OPTIONS' });
    return;
  }
  const response = await fetchFn(request);
  if (res.destroyed) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  const outHeaders: Record<string, string> = {};
  response.headers.forEach((v, k) => (outHeaders[k] = v));
  res.writeHead(response.status, outHeaders);
  if (!response.body || method === 'HEAD') {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => {
    reader.cancel().catch(() => {});
  };
  res.on('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await drained(res);
    }
  } finally {
    res.off('close', onClose);
    if (res.destroyed) await reader.cancel().catch(() => {});
    else res.end();
  }
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
