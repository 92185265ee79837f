import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from './audit-log.js';

/** Writes every /v1 request to the audit log once it has been answered (denied ones too). */
export function registerAuditHook(app: FastifyInstance, log: AuditLog): void {
  app.addHook('onResponse', async (request, reply) => {
    const url = request.url.split('?')[0] ?? request.url;
    if (!url.startsWith('/v1/')) return;
    log.append({
      time: new Date().toISOString(),
      requestId: request.id,
      token: request.principal?.name ?? null,
      role: request.principal?.role ?? null,
      method: request.method,
      route: request.routeOptions.url ?? url,
      status: reply.statusCode,
      source: sourceOf(request),
    });
  });
}

/** The source a request is about: a path parameter, a query parameter, or the body's `source` field only. */
function sourceOf(request: FastifyRequest): string | null {
  const pick = (v: unknown): string | null =>
    v !== null && typeof v === 'object' && typeof (v as { source?: unknown }).source === 'string'
      ? ((v as { source: string }).source.slice(0, 64) ?? null)
      : null;
  return pick(request.params) ?? pick(request.query) ?? pick(request.body);
}
