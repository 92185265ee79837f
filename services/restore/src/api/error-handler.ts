import { isTidemarkError, TidemarkError } from '@tidemark/shared';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BODY_LIMIT_BYTES } from './json-body.js';
import { type Scrub, scrubDeep } from './redaction.js';

/**
 * Every error answer has the body `{ "error": { "code", "message", "details" } }` and
 * the status that `ERROR_CODES` gives its code: this file only decides which code an
 * error is, never a status. Errors of our own (TidemarkError) pass as they are; the
 * framework's (bad JSON, validation, body too large, wrong content type) become
 * BAD_REQUEST with a message saying what to change; anything else is INTERNAL, answered
 * without its message or stack (they are in the log, under the request id).
 */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export function registerErrorHandling(app: FastifyInstance, scrub: Scrub): void {
  const routes = new RouteCatalogue();
  app.addHook('onRoute', (route) => routes.add(route.url, route.method, route.schema?.hide === true));

  app.setErrorHandler((err: unknown, request, reply) =>
    sendError(toApiError(err, request), err, request, reply, scrub),
  );

  app.setNotFoundHandler((request, reply) => {
    const error = routes.notFound(request.method, request.url);
    return sendError(error, error, request, reply, scrub);
  });
}

function sendError(
  apiError: TidemarkError,
  original: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  scrub: Scrub,
): FastifyReply {
  const status = apiError.httpStatus;
  const message = scrub(apiError.message);
  if (status >= 500) {
    request.log.error({ err: original, code: apiError.code }, 'request failed');
  } else {
    request.log.info({ code: apiError.code, reason: message }, 'request rejected');
  }
  if (apiError.code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer realm="tidemark"');
  if (status === 503) reply.header('retry-after', '5');
  const body: ErrorBody = {
    error: {
      code: apiError.code,
      message,
      details: scrubDeep(apiError.details, scrub) as Record<string, unknown>,
    },
  };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

/** Which of our codes an error is. */
export function toApiError(err: unknown, request: FastifyRequest): TidemarkError {
  if (isTidemarkError(err)) return err;
  const fe = err as Partial<FastifyError> | undefined;
  switch (fe?.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('the request body is empty: send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badRequest('the request body is not valid JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return badRequest(`the request body is larger than ${BODY_LIMIT_BYTES} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = String(request.headers['content-type'] ?? '').split(';')[0] || 'none';
      return badRequest(
        `Content-Type ${type} is not accepted: send the body as JSON with Content-Type: application/json`,
      );
    }
  }
  if (fe?.validation) {
    const context = fe.validationContext ?? 'request';
    const problems = fe.validation.map((v) => ({
      path: `${context}${v.instancePath.replaceAll('/', '.')}`,
      message: v.message ?? 'is not valid',
    }));
    return new TidemarkError('BAD_REQUEST', problems.map((p) => `${p.path}: ${p.message}`).join('; '), {
      details: { problems },
    });
  }
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 404) return new TidemarkError('NOT_FOUND', fe?.message ?? 'not found');
  if (status >= 400 && status < 500 && typeof fe?.message === 'string') return badRequest(fe.message);
  return new TidemarkError(
    'INTERNAL',
    `internal error: the server log has the details under request id ${request.id}`,
    { cause: err },
  );
}

function badRequest(message: string): TidemarkError {
  return new TidemarkError('BAD_REQUEST', message);
}

/** Routes as registered, to answer an unknown path or method with what would work. */
class RouteCatalogue {
  private readonly routes: { url: string; pattern: RegExp; methods: Set<string> }[] = [];

  add(url: string, method: string | string[], hidden: boolean): void {
    if (hidden) return;
    const methods = (Array.isArray(method) ? method : [method]).filter(
      (m) => m !== 'HEAD' && m !== 'OPTIONS',
    );
    if (methods.length === 0) return;
    let entry = this.routes.find((r) => r.url === url);
    if (!entry) {
      const pattern = new RegExp(
        `^${url
          .split('/')
          .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
          .join('/')}/?$`,
      );
      entry = { url, pattern, methods: new Set() };
      this.routes.push(entry);
    }
    for (const m of methods) entry.methods.add(m);
  }

  notFound(method: string, rawUrl: string): TidemarkError {
    const path = rawUrl.split('?')[0] ?? rawUrl;
    const shownPath = path.length > 200 ? `${path.slice(0, 200)}...` : path;
    const same = this.routes.find((r) => r.pattern.test(path));
    if (same) {
      const allowed = [...same.methods].sort((a, b) => a.localeCompare(b));
      return new TidemarkError(
        'NOT_FOUND',
        `${method} is not supported on ${shownPath}: use ${allowed.join(' or ')} (API reference at /docs)`,
        { details: { method, path: shownPath, allowedMethods: allowed } },
      );
    }
    const available = this.routes
      .filter((r) => r.url.startsWith('/v1/'))
      .flatMap((r) => [...r.methods].map((m) => `${m} ${r.url}`));
    return new TidemarkError(
      'NOT_FOUND',
      `no route ${method} ${shownPath}. The API serves ${available.join(', ')}; ` +
        'health at /healthz and /readyz, metrics at /metrics, reference at /docs',
      { details: { method, path: shownPath } },
    );
  }
}
