import { TidemarkError } from '@tidemark/shared';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuditPorts } from '../audit-ports.js';
import { AUTH_ERRORS, errorResponses } from '../response-schemas.js';
import { SOURCE_PARAMS } from './sources-routes.js';
import { registerVerificationEvents } from './verification-events.js';

/**
 * The auditor's routes: verification jobs, signed reports and their public key, segment
 * metadata, and the audit log. Lists answer plain arrays; the next page is in a `Link`
 * header (rel="next"), as api/README.md fixes.
 */
const ANY = { type: 'object', additionalProperties: true } as const;
const LIST = { type: 'array', items: ANY } as const;
const VERIFY_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['source'],
  properties: {
    source: { type: 'string' },
    from: {
      type: 'string',
      description: 'RFC 3339 time (µs) or LSN X/Y; absent: from the start of the journal',
    },
    to: { type: 'string', description: 'RFC 3339 time (µs) or LSN X/Y; absent: up to the tip' },
    region: {
      type: 'string',
      description: 'a replica region (TIDEMARK_REPLICAS) instead of the primary store',
    },
  },
} as const;

export function registerAuditRoutes(app: FastifyInstance, ports: AuditPorts): void {
  app.post<{ Body: { source: string; from?: string; to?: string; region?: string } }>(
    '/v1/verifications',
    {
      config: { permission: 'verify' },
      schema: {
        tags: ['audit'],
        summary: 'Start a verification (whole journal, or from..to)',
        description:
          'Answers 202 with the job at once; GET /v1/verifications/:id shows progress and, once succeeded, `reportId` ' +
          'of the signed report (GET /v1/reports/:id).',
        body: VERIFY_BODY,
        response: { 202: ANY, ...errorResponses(...AUTH_ERRORS, 'BAD_REQUEST', 'UNKNOWN_SOURCE') },
      },
    },
    async (request, reply) => reply.code(202).send(await ports.verifications.start(request.body)),
  );

  app.get(
    '/v1/verifications',
    {
      config: { permission: 'verify' },
      schema: {
        tags: ['audit'],
        summary: 'Verifications of this process, newest first',
        response: { 200: LIST },
      },
    },
    async () => ports.verifications.list(),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/verifications/:id',
    {
      config: { permission: 'verify' },
      schema: {
        tags: ['audit'],
        summary: 'A verification: state, progress (segments and bytes done of total), report id',
        response: { 200: ANY, ...errorResponses(...AUTH_ERRORS, 'NOT_FOUND') },
      },
    },
    async (request) => ports.verifications.get(request.params.id),
  );
  registerVerificationEvents(app, ports.verifications);

  app.get(
    '/v1/reports/public-key',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['audit'],
        summary:
          'The Ed25519 public key that verifies report signatures (PEM, base64 of the raw key, fingerprint)',
        response: { 200: ANY },
      },
    },
    async () => ports.reports.publicKey(),
  );

  app.get<{ Querystring: { source?: string; before?: string; limit?: number } }>(
    '/v1/reports',
    {
      config: { permission: 'reports:read' },
      schema: {
        tags: ['audit'],
        summary: 'Signed verification reports, newest first (id, source, key, location)',
        description:
          'Reports are kept next to the journal they describe (`location`: `primary`, a region, or `data-dir` when ' +
          'that store refused the write). Locations that cannot be read are left out and named in the ' +
          '`Tidemark-Unreachable-Locations` header.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            source: { type: 'string' },
            before: { type: 'string', description: 'the id of the last report of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: LIST, ...errorResponses(...AUTH_ERRORS, 'BAD_REQUEST') },
      },
    },
    async (request, reply) => {
      const { source, before, limit = 100 } = request.query;
      const page = await ports.reports.list(source, { ...(before ? { before } : {}), limit });
      // the list stays a plain array: the stores it could not read (e.g. the primary during an
      // outage) are named in a header instead
      const unreachable = page.unreachable ?? [];
      if (unreachable.length > 0)
        reply.header('tidemark-unreachable-locations', unreachable.map((u) => u.location).join(', '));
      const last = page.items[page.items.length - 1] as { id?: string } | undefined;
      if (page.more && last?.id)
        linkNext(reply, '/v1/reports', {
          ...(source ? { source } : {}),
          before: last.id,
          limit: String(limit),
        });
      return page.items;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/reports/:id',
    {
      config: { permission: 'reports:read' },
      schema: {
        tags: ['audit'],
        summary:
          'One signed report: `{ report, signature }` (check it offline with `tidemark verify-report`)',
        response: { 200: ANY, ...errorResponses(...AUTH_ERRORS, 'NOT_FOUND', 'STORE_UNAVAILABLE') },
      },
    },
    async (request) => ports.reports.get(request.params.id),
  );

  app.get<{ Params: { source: string }; Querystring: { after?: string; limit?: number } }>(
    '/v1/sources/:source/segments',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['audit'],
        summary: 'Journal segments up to the tip: key, LSN range, commit times, size, SHA-256',
        params: SOURCE_PARAMS,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: { type: 'string', description: 'the key of the last segment of the previous page' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: LIST, ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_SOURCE') },
      },
    },
    async (request, reply) => {
      const { after, limit = 100 } = request.query;
      const { source } = request.params;
      const page = await ports.segments.list(source, { ...(after ? { after } : {}), limit });
      const last = page.items[page.items.length - 1];
      if (page.more && last)
        linkNext(reply, `/v1/sources/${encodeURIComponent(source)}/segments`, {
          after: last.key,
          limit: String(limit),
        });
      return page.items;
    },
  );

  app.get<{ Querystring: { after?: number; limit?: number } }>(
    '/v1/audit-log',
    {
      config: { permission: 'audit-log:read' },
      schema: {
        tags: ['audit'],
        summary:
          'The API audit log, oldest first: time, token name, role, method, route, status, source, request id',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: {
              type: 'integer',
              minimum: 0,
              default: 0,
              description: 'entries to skip (the next page starts here)',
            },
            limit: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
          },
        },
        response: { 200: LIST, ...errorResponses(...AUTH_ERRORS, 'BAD_REQUEST') },
      },
    },
    async (request, reply) => {
      const { after = 0, limit = 500 } = request.query;
      if (!Number.isInteger(after)) throw new TidemarkError('BAD_REQUEST', 'after must be a whole number');
      const page = await ports.auditLog.read({ after, limit });
      if (page.next !== null)
        linkNext(reply, '/v1/audit-log', { after: String(page.next), limit: String(limit) });
      return page.entries;
    },
  );
}

function linkNext(reply: FastifyReply, path: string, query: Record<string, string>): void {
  void reply.header('link', `<${path}?${new URLSearchParams(query).toString()}>; rel="next"`);
}
