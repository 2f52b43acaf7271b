/**
 * `deepcard serve <model.gguf>`: the OpenAI-compatible HTTP server and web chat page.
 * Prints the URL as soon as it listens (GET /health says "loading" until the model is ready),
 * then "ready"; SIGINT/SIGTERM shut it down gracefully and the command returns 0.
 */
import fs from 'node:fs';
import { startServer } from '../server/server.js';
import { chatTemplateOpt, intOpt, parseArgs, UsageError, type OptionSpec } from './args.js';
import { THREADS, type Io } from './commands-model.js';

export const SERVE_OPTS: OptionSpec[] = [
  { name: 'host', type: 'string', description: 'address to listen on (loopback by default; 0.0.0.0 for all interfaces)', default: '127.0.0.1' },
  { name: 'port', type: 'number', description: 'port (0 picks a free one)', default: 8080 },
  { name: 'api-key', type: 'string', description: 'require "Authorization: Bearer KEY" (default: $DEEPCARD_API_KEY, else none)' },
  { name: 'parallel', alias: 'np', type: 'number', description: 'generations in flight at once', default: 4 },
  { name: 'queue', type: 'number', description: 'requests allowed to wait for a slot; more get 503', default: 64 },
  { name: 'ctx', alias: 'c', type: 'number', description: 'context length in tokens (default: model, at most 4096)' },
  { name: 'chat-template', type: 'string', description: 'Jinja chat template file overriding the model\'s' },
  { name: 'model-name', type: 'string', description: 'model id reported by the API (default: the file name)' },
  { name: 'max-body', type: 'number', description: 'request body limit in bytes', default: 8 << 20 },
  { name: 'shutdown-timeout', type: 'number', description: 'seconds in-flight requests get to finish on shutdown', default: 10 },
  { name: 'no-web', type: 'boolean', description: 'do not serve the web chat page at /' },
  THREADS,
];

export async function cmdServe(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parseArgs(argv, SERVE_OPTS);
  const model = positionals[0];
  if (!model || positionals.length > 1) throw new UsageError('give exactly one model file: deepcard serve <model.gguf>');
  if (!fs.existsSync(model)) throw new UsageError(`model file not found: ${model}`);
  const chatTemplate = chatTemplateOpt(values);
  const apiKey = (values['api-key'] as string | undefined) ?? process.env.DEEPCARD_API_KEY ?? undefined;
  if (apiKey !== undefined && apiKey.trim() === '') throw new UsageError('--api-key must not be empty');
  const host = String(values.host);
  const shutdownMs = (intOpt(values, 'shutdown-timeout', 0, 3600) ?? 10) * 1000;

  const t0 = performance.now();
  const srv = await startServer({
    model,
    host,
    port: intOpt(values, 'port', 0, 65535),
    apiKey,
    parallel: intOpt(values, 'parallel', 1, 1024),
    queue: intOpt(values, 'queue', 0, 1 << 20),
    maxBodyBytes: intOpt(values, 'max-body', 1024, 1 << 30),
    shutdownTimeoutMs: shutdownMs,
    webDir: values['no-web'] ? null : undefined,
    loadOptions: {
      threads: intOpt(values, 'threads', 1, 256),
      contextLength: intOpt(values, 'ctx', 2, 1 << 24),
      chatTemplate,
      modelName: values['model-name'] as string | undefined,
    },
    log: io.err,
  });
  io.out(`deepcard serve: listening on ${srv.url} (loading ${model})\n`);
  const loopback = /^(127\.|::1$|localhost$)/.test(host);
  if (!loopback && !apiKey) io.err(`deepcard serve: warning: listening on ${host} without --api-key; anyone who can reach this address can use the model\n`);

  // Resolves with the exit code once shut down (signal) or when loading fails.
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        io.err(`deepcard serve: ${sig} again, exiting now\n`);
        process.exit(130);
      }
      io.err(`deepcard serve: ${sig}: shutting down (waiting up to ${shutdownMs / 1000} s for in-flight requests)\n`);
      srv.close().then(
        () => done(0),
        (e: unknown) => {
          io.err(`deepcard serve: error during shutdown: ${e instanceof Error ? e.message : String(e)}\n`);
          done(1);
        },
      );
    };
    const done = (code: number) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // Something (a stray socket or worker) must not keep a stopped server's process alive.
      setTimeout(() => process.exit(code), 3000).unref();
      resolve(code);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    srv.ready.then(
      () => {
        const e = srv.app.engine!;
        io.out(`deepcard serve: ready: ${srv.url}/ (model "${e.modelName}", ${e.contextLength} tokens of context, loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; chat page at ${srv.url}/, API at ${srv.url}/v1)\n`);
      },
      (e: unknown) => {
        io.err(`deepcard serve: error: cannot load ${model}: ${e instanceof Error ? e.message : String(e)}\n`);
        srv.close().finally(() => done(1));
      },
    );
  });
}
