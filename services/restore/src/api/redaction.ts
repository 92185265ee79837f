import type { FastifyRequest } from 'fastify';

/**
 * Secrets never reach a log line or a response body another person can read: API tokens
 * (they travel only in the Authorization header, which is never logged, but a client may
 * paste one into a URL) and passwords inside PostgreSQL connection strings (`into.url`,
 * or an engine error that quotes one).
 */
export type Scrub = (text: string) => string;

export const REDACTED = '[REDACTED]';
const PLACEHOLDER = '<password>';

// postgres://user:secret@host  →  postgres://user:[REDACTED]@host (any scheme, to be safe)
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"']*):[^@/\s"']*@/gi;
// key=value connection strings and URL query parameters: password=secret, sslpassword=...
const KEYWORD_PASSWORD = /(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'"]+)/gi;

/** Builds the scrubber for a set of configured tokens. */
export function createScrubber(tokens: readonly string[]): Scrub {
  // longest first, so a token that contains another is replaced whole
  const literals = [...new Set(tokens.filter((t) => t.length > 0))].sort((a, b) => b.length - a.length);
  return (text: string): string => {
    let out = text
      .replace(URL_PASSWORD, (whole, prefix: string) =>
        // a placeholder in an example is not a secret
        whole === `${prefix}:${PLACEHOLDER}@` ? whole : `${prefix}:${REDACTED}@`,
      )
      .replace(KEYWORD_PASSWORD, `$1${REDACTED}`);
    for (const token of literals) {
      if (out.includes(token)) out = out.split(token).join(REDACTED);
    }
    return out;
  };
}

/** Applies the scrubber to every string inside a JSON-like value. */
export function scrubDeep(value: unknown, scrub: Scrub, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubDeep(v, scrub, depth + 1);
  return out;
}

/** Paths pino removes whatever the serializers do: a second line of defence. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'password',
  'body',
  'req.body',
  'into.url',
  '*.into.url',
];

type SerializedError = {
  type: string;
  message: string;
  code?: unknown;
  details?: unknown;
  stack: string;
  cause?: SerializedError;
};

/**
 * Log serializers for the request and for errors. The request is logged as method, URL,
 * host and client address only (never headers or body); errors keep their code and
 * details but every string is scrubbed.
 */
export function logSerializers(scrub: Scrub) {
  const serializeError = (err: unknown, depth = 0): SerializedError => {
    if (!(err instanceof Error)) return { type: typeof err, message: scrub(String(err)), stack: '' };
    const e = err as Error & { code?: unknown; details?: unknown };
    const out: SerializedError = { type: e.name, message: scrub(e.message), stack: scrub(e.stack ?? '') };
    if (e.code !== undefined) out.code = e.code;
    if (e.details !== undefined) out.details = scrubDeep(e.details, scrub);
    if (e.cause !== undefined && depth < 3) out.cause = serializeError(e.cause, depth + 1);
    return out;
  };
  return {
    req: (req: FastifyRequest) => ({
      method: req.method,
      url: scrub(req.url),
      host: req.host,
      remoteAddress: req.ip,
    }),
    err: (err: unknown) => serializeError(err),
  };
}
