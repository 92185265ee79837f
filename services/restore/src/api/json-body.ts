import { TidemarkError } from '@tidemark/shared';
import type { FastifyInstance } from 'fastify';

/** Request bodies are small JSON documents; anything larger is a mistake. */
export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Replaces fastify's JSON parser to say where the JSON is broken: its own answers "Body
 * is not valid JSON" without a position. The input is never quoted back (V8's messages
 * quote the start of the text, which may hold a password), only the position.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // an empty body is "no body": routes that need one say so with what it should hold
    if (text.trim().length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text, rejectPrototypeKeys));
    } catch (err) {
      if (err instanceof TidemarkError) {
        done(err, undefined);
        return;
      }
      done(
        new TidemarkError(
          'BAD_REQUEST',
          `the request body is not valid JSON: ${describeJsonError(err, text)}`,
        ),
        undefined,
      );
    }
  });
}

function rejectPrototypeKeys(key: string, value: unknown): unknown {
  if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
    throw new TidemarkError('BAD_REQUEST', `the request body must not contain the key "${key}"`);
  }
  return value;
}

/** V8's message without the quoted input, and the line and column of the error. */
export function describeJsonError(err: unknown, text: string): string {
  const raw = err instanceof Error ? err.message : String(err);
  const what = raw.replace(/, ".*" is not valid JSON$/s, '').replace(/ (?:in JSON )?at position \d+.*$/s, '');
  const position = /at position (\d+)/.exec(raw);
  if (!position) return what;
  const offset = Number(position[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${what} (line ${line}, column ${column})`;
}
