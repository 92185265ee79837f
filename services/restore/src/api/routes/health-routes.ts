import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { HealthPort } from '../api-ports.js';

/**
 * Probes and metrics, without a token (they reveal no data). The 503s here are the
 * probe protocol (Kubernetes, load balancers), not error answers: their bodies say which
 * check failed.
 */
export function registerHealthRoutes(app: FastifyInstance, health: HealthPort, registry: Registry): void {
  const probe = { security: [] as never[] };

  app.get(
    '/healthz',
    {
      config: { permission: 'public' },
      schema: {
        ...probe,
        tags: ['operations'],
        summary: 'Liveness: 200 while the process works',
        response: {
          200: {
            description: 'alive',
            type: 'object',
            properties: { status: { type: 'string', enum: ['ok'] } },
          },
          503: {
            description: 'broken: restart it',
            type: 'object',
            properties: { status: { type: 'string' } },
          },
        },
      },
    },
    async (_request, reply) => {
      if (health.live()) return { status: 'ok' };
      return reply.code(503).send({ status: 'failing' });
    },
  );

  const checks = {
    type: 'object',
    additionalProperties: {
      type: 'object',
      required: ['ok'],
      properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
    },
  };
  app.get(
    '/readyz',
    {
      config: { permission: 'public' },
      schema: {
        ...probe,
        tags: ['operations'],
        summary: 'Readiness: 200 when every check passes, else 503 naming the failed checks',
        response: {
          200: {
            description: 'ready',
            type: 'object',
            properties: { status: { type: 'string', enum: ['ready'] }, checks },
          },
          503: {
            description: 'not ready',
            type: 'object',
            properties: { status: { type: 'string', enum: ['not-ready'] }, checks },
          },
        },
      },
    },
    async (_request, reply) => {
      const r = health.ready();
      return reply
        .code(r.ready ? 200 : 503)
        .send({ status: r.ready ? 'ready' : 'not-ready', checks: r.checks });
    },
  );

  app.get(
    '/metrics',
    {
      config: { permission: 'public' },
      schema: {
        ...probe,
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        response: {
          200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
      },
    },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}
