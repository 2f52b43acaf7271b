/**
 * `startServer`: listen first (GET /health answers "loading" at once), load the model in the
 * background, serve, and shut down gracefully (stop accepting, let in-flight requests finish
 * within a bounded wait, abort the rest, dispose the engine).
 *
 *   const srv = await startServer({ model: 'model.gguf', port: 0 });
 *   await srv.ready;            // model loaded
 *   fetch(`${srv.url}/v1/chat/completions`, ...);
 *   await srv.close();
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { LoadModelOptions } from '../engine/engine.js';
import { ServerApp, type EngineLike } from './app.js';
import { nodeHandler } from './node-adapter.js';
import { defaultWebDir } from './static.js';

export interface StartServerOptions {
  /** GGUF file to load (unless `engine` is given). */
  readonly model?: string;
  /** An engine (or a promise of one) to serve instead of loading `model`. */
  readonly engine?: EngineLike | Promise<EngineLike>;
  /** Options for loadModel (threads, contextLength, chatTemplate, modelName). */
  readonly loadOptions?: LoadModelOptions;
  /** Dispose the engine on close (default: true when the server loaded it). */
  readonly ownsEngine?: boolean;
  readonly host?: string;
  /** 0 picks a free port. Default 8080. */
  readonly port?: number;
  readonly apiKey?: string;
  readonly parallel?: number;
  readonly queue?: number;
  /** Request body limit in bytes (default 8 MiB). */
  readonly maxBodyBytes?: number;
  /** How long close() lets in-flight requests finish before aborting them (default 10 s). */
  readonly shutdownTimeoutMs?: number;
  /** Directory of the chat page (default: the package's web/); null disables the page. */
  readonly webDir?: string | null;
  readonly log?: (line: string) => void;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly app: ServerApp;
  /** Resolves when the model is loaded (rejects if loading failed). */
  readonly ready: Promise<void>;
  /** Graceful shutdown; resolves once the engine is disposed. Idempotent. */
  close(opts?: { timeoutMs?: number }): Promise<void>;
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  if (!opts.engine && !opts.model) throw new Error('startServer: give a model path or an engine');
  const log = opts.log ?? (() => {});
  const aliases: string[] = [];
  if (opts.model) {
    const base = path.basename(opts.model);
    aliases.push(base, base.replace(/\.gguf$/i, ''), opts.model);
  }
  const app = new ServerApp({
    apiKey: opts.apiKey,
    parallel: opts.parallel,
    queue: opts.queue,
    webDir: opts.webDir === undefined ? defaultWebDir() : opts.webDir,
    modelAliases: aliases,
    log,
  });
  const server = http.createServer(nodeHandler(app.fetch, { maxBodyBytes: opts.maxBodyBytes ?? 8 << 20, log }));
  // Long generations stream for minutes: no overall request timeout, only on receiving headers.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log(`deepcard serve: server error: ${e.message}\n`));
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;

  const ownsEngine = opts.ownsEngine ?? !opts.engine;
  // Loaded lazily so a server given an engine never pulls in the model code.
  const loading: Promise<EngineLike> = opts.engine
    ? Promise.resolve(opts.engine)
    : import('../engine/engine.js').then((m) => m.loadModel(opts.model!, { parallel: opts.parallel ?? 4, ...(opts.loadOptions ?? {}) }));
  const ready = loading.then(
    (engine) => {
      app.setEngine(engine);
    },
    (e: unknown) => {
      app.setLoadError(e);
      throw e;
    },
  );
  ready.catch(() => {}); // reported through /health and to whoever awaits `ready`

  let closing: Promise<void> | null = null;
  const close = (o: { timeoutMs?: number } = {}) => {
    closing ??= (async () => {
      app.state = 'stopping';
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const finished = await app.waitIdle(o.timeoutMs ?? opts.shutdownTimeoutMs ?? 10_000);
      if (!finished) {
        log(`deepcard serve: aborting ${app.inflight.size} unfinished request(s)\n`);
        app.abortAll();
        await app.waitIdle(5_000);
      }
      app.pool.failWaiting(new Error('the server is shutting down'));
      // Streams end with their last event flushed; give sockets a moment, then cut the rest.
      const t0 = Date.now();
      const sweep = setInterval(() => {
        if (Date.now() - t0 > 1_000) server.closeAllConnections();
        else server.closeIdleConnections();
      }, 25);
      server.closeIdleConnections();
      await stopped;
      clearInterval(sweep);
      if (ownsEngine) {
        const engine = await loading.catch(() => null);
        await engine?.dispose();
      }
    })();
    return closing;
  };

  return { url, host: addr.address, port: addr.port, app, ready, close };
}
