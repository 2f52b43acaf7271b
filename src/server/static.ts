/**
 * The web chat page: a flat directory of static files (web/), no build step. Only plain file
 * names are served (no sub-paths, no dot files), so a request can never escape the directory.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

/** The page renders model output; the policy makes any markup that slips through inert. */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** web/ next to dist/ in the package: dist/server/static.js -> ../../web. */
export function defaultWebDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

export async function serveStatic(dir: string, method: string, urlPath: string): Promise<Response | null> {
  if (method !== 'GET' && method !== 'HEAD') return null;
  const name = urlPath === '/' ? 'index.html' : urlPath.slice(1);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$/.test(name)) return null;
  const type = TYPES[path.extname(name)];
  if (!type) return null;
  let data: Buffer;
  try {
    data = await fs.readFile(path.join(dir, name));
  } catch {
    return null;
  }
  return new Response(method === 'HEAD' ? null : data, { status: 200, headers: { 'content-type': type, ...PAGE_HEADERS } });
}
