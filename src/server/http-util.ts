/**
 * OpenAI-shaped errors and small Response helpers shared by the handlers.
 *
 * Every error a client can cause becomes an ApiError with an HTTP status and OpenAI's JSON shape
 * `{error: {message, type, param, code}}`; anything else is a 500 `server_error` (the process never
 * dies because of a request).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type, Accept, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout',
  'access-control-max-age': '86400',
};

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

export function errorResponse(e: ApiError): Response {
  return json(e.toJSON(), e.status, e.headers);
}

/** Status code -> OpenAI error type (what the official clients map to exception classes). */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 503) return 'server_overloaded';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export function apiError(status: number, message: string, code: string | null = null, param: string | null = null, headers: Record<string, string> = {}): ApiError {
  return new ApiError(status, message, errorType(status), code, param, headers);
}

/** Read and parse a JSON object body; malformed input is a 400 naming the problem. */
export async function readJsonObject(req: Request): Promise<Record<string, unknown>> {
  // Any content type is accepted (curl -d sends form-urlencoded); the body must parse as JSON.
  let text: string;
  try {
    // fatal: a body that is not UTF-8 is a client error, not something to guess at.
    text = new TextDecoder('utf-8', { fatal: true }).decode(await req.arrayBuffer());
  } catch {
    throw apiError(400, 'request body is not valid UTF-8', 'invalid_json');
  }
  if (text.trim() === '') throw apiError(400, 'request body is empty; expected a JSON object', 'invalid_json');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw apiError(400, `malformed JSON in request body: ${(e as Error).message}`, 'invalid_json');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw apiError(400, 'request body must be a JSON object', 'invalid_json');
  return body as Record<string, unknown>;
}

/** Checks of top-level fields the server itself interprets (the engine validates the rest). */
export function optBool(body: Record<string, unknown>, name: string): boolean {
  const v = body[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw apiError(400, `${name} must be a boolean, got ${JSON.stringify(v)?.slice(0, 50)}`, 'invalid_type', name);
  return v;
}

export function optObject(body: Record<string, unknown>, name: string): Record<string, unknown> | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw apiError(400, `${name} must be an object`, 'invalid_type', name);
  return v as Record<string, unknown>;
}

/** Constant-time comparison of API keys (hashing first makes the lengths equal). */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}
