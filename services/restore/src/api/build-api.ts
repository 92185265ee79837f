import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type {
  ApiToken,
  HealthPort,
  RestorePointsPort,
  RestoresPort,
  SourcesPort,
  VerifyPort,
} from './api-ports.js';
import { registerAuditHook } from './audit-hook.js';
import type { AuditLog } from './audit-log.js';
import type { AuditPorts } from './audit-ports.js';
import { registerAuth } from './auth-plugin.js';
import { registerErrorHandling } from './error-handler.js';
import { registerHttpMetrics } from './http-metrics.js';
import { BODY_LIMIT_BYTES, registerJsonBodyParser } from './json-body.js';
import { registerOpenApi } from './openapi.js';
import { createScrubber, logSerializers, REDACT_PATHS, REDACTED } from './redaction.js';
import { registerResponseSchemas } from './response-schemas.js';
import { registerAuditRoutes } from './routes/audit-routes.js';
import { type GcPort, registerGcRoutes } from './routes/gc-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { type RegionComparePort, registerRegionCompareRoutes } from './routes/region-compare-routes.js';
import { registerRestorePointsRoutes } from './routes/restore-points-routes.js';
import { registerRestoresRoutes } from './routes/restores-routes.js';
import { registerSnapshotsRoutes, type SnapshotsPort } from './routes/snapshots-routes.js';
import { registerSourcesRoutes } from './routes/sources-routes.js';
import { registerVerifyRoutes } from './routes/verify-routes.js';

export interface BuildApiOptions {
  readonly sources: SourcesPort;
  readonly restores: RestoresPort;
  readonly verify: VerifyPort;
  readonly health: HealthPort;
  /** snapshots and compaction jobs; without it their routes are not served */
  readonly snapshots?: SnapshotsPort;
  /** named restore points; without it their routes are not served */
  readonly restorePoints?: RestorePointsPort;
  /** comparison of a source's journal between the primary and replica regions; without it not served */
  readonly regionCompare?: RegionComparePort;
  /** least time between two progress events of one GET /v1/restores/:id/events stream (default 250 ms) */
  readonly eventsMinIntervalMs?: number;
  /** from TIDEMARK_API_TOKENS; at least one */
  readonly tokens: readonly ApiToken[];
  /** where the API's HTTP metrics are registered and what GET /metrics serves */
  readonly metricsRegistry: Registry;
  /** verification jobs, signed reports, segment metadata and the audit log; without it those routes are not served */
  readonly audit?: AuditPorts & { readonly log: AuditLog };
  /** garbage collection on demand (POST /v1/sources/:source/gc); without it not served */
  readonly gc?: GcPort;
  /** a pino logger (JSON lines), `false` for none; default: pino at info on stdout */
  readonly logger?: FastifyBaseLogger | false;
}

export const REQUEST_ID_HEADER = 'x-request-id';
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The restore service's HTTP API. Answers are JSON; errors `{ error: { code, message,
 * details } }` with the status of their code. Every request has an id (the client's
 * `X-Request-Id` when it is a plain token, else a UUID), echoed in `X-Request-Id` and
 * bound to every log line of the request as `reqId`.
 *
 * The instance is returned un-started: call `listen()` (or `inject()` in tests).
 */
export async function buildApi(opts: BuildApiOptions): Promise<FastifyInstance> {
  const scrub = createScrubber(opts.tokens.map((t) => t.token));
  const serializers = logSerializers(scrub);
  const base = {
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers[REQUEST_ID_HEADER];
      return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    },
  };
  const redact = { paths: REDACT_PATHS, censor: REDACTED };
  const app: FastifyInstance =
    opts.logger === false
      ? Fastify({ ...base, logger: false })
      : opts.logger
        ? Fastify({
            ...base,
            loggerInstance: opts.logger.child({ component: 'restore-api' }, { serializers, redact }),
          })
        : Fastify({ ...base, logger: { level: 'info', serializers, redact } });

  // answers are serialized as they are: response schemas document, they do not filter
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  registerJsonBodyParser(app);
  registerErrorHandling(app, scrub);
  app.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
  });
  registerHttpMetrics(app, opts.metricsRegistry);
  if (opts.audit) registerAuditHook(app, opts.audit.log);
  registerAuth(app, opts.tokens);
  await registerOpenApi(app);
  registerResponseSchemas(app);

  registerHealthRoutes(app, opts.health, opts.metricsRegistry);
  registerSourcesRoutes(app, opts.sources);
  registerRestoresRoutes(
    app,
    opts.restores,
    scrub,
    opts.eventsMinIntervalMs === undefined ? {} : { eventsMinIntervalMs: opts.eventsMinIntervalMs },
  );
  if (opts.restorePoints) registerRestorePointsRoutes(app, opts.restorePoints);
  if (opts.regionCompare) registerRegionCompareRoutes(app, opts.regionCompare);
  if (opts.snapshots) registerSnapshotsRoutes(app, opts.snapshots);
  registerVerifyRoutes(app, opts.verify, opts.audit?.verifications);
  if (opts.gc) registerGcRoutes(app, opts.gc);
  if (opts.audit) registerAuditRoutes(app, opts.audit);
  return app;
}
