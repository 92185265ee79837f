import type { FastifyInstance } from 'fastify';
import type { CompactionJobView } from '../../engine/compaction-service.js';
import type { SnapshotView } from '../../engine/snapshot-listing.js';
import { AUTH_ERRORS, described, errorResponses } from '../response-schemas.js';
import { SOURCE_PARAMS } from './sources-routes.js';

/**
 * Snapshots and compaction:
 * - GET /v1/sources/:source/snapshots (restore, audit, admin): the snapshots of a source.
 * - POST /v1/sources/:source/snapshots (admin): starts a compaction, 202 with the job.
 * - GET /v1/snapshot-jobs/:id (restore, audit, admin): follow that job.
 */
export interface SnapshotsPort {
  list(source: string): Promise<SnapshotView[]>;
  compact(source: string): Promise<CompactionJobView>;
  job(id: string): CompactionJobView;
}

const OPEN_OBJECT = { type: 'object', additionalProperties: true } as const;

export function registerSnapshotsRoutes(app: FastifyInstance, snapshots: SnapshotsPort): void {
  app.get<{ Params: { source: string } }>(
    '/v1/sources/:source/snapshots',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['snapshots'],
        summary: 'List the snapshots of a source',
        description:
          'Every snapshot with a valid manifest, oldest first: `kind` base (taken from the source) or compacted ' +
          '(built from an earlier snapshot plus the journal), its LSN and time, tables, rows, COPY text bytes and ' +
          'stored bytes, whether its data is encrypted, and whether it lies on the journal chain (`usable`).',
        params: SOURCE_PARAMS,
        response: {
          200: described('the snapshots', { type: 'array', items: OPEN_OBJECT }),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => snapshots.list(request.params.source),
  );

  app.post<{ Params: { source: string } }>(
    '/v1/sources/:source/snapshots',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['snapshots'],
        summary: 'Build a compaction snapshot now',
        description:
          'Starts a compaction: the newest verified snapshot plus the archived segments after it are restored ' +
          'into a scratch database (TIDEMARK_COMPACTION_DATABASE_URL) and copied out as a new snapshot at the ' +
          'journal tip’s last commit, without reading the source database. Answers 202 with the job; follow it ' +
          'with GET /v1/snapshot-jobs/:id. A source with a job queued or running answers that job. `result.created` ' +
          'is false when the newest snapshot already is at the tip. Admin role.',
        params: SOURCE_PARAMS,
        response: {
          202: described('the compaction job', OPEN_OBJECT),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'COMPACTION_UNAVAILABLE'),
        },
      },
    },
    async (request, reply) => {
      const job = await snapshots.compact(request.params.source);
      request.log.info(
        { principal: request.principal?.name, source: request.params.source, job: job.id },
        'compaction requested',
      );
      return reply.code(202).send(job);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/snapshot-jobs/:id',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['snapshots'],
        summary: 'A compaction job',
        description:
          '`state`: queued, running, succeeded or failed; `result` (LSN, manifest key, tables, rows, bytes) once ' +
          'succeeded, `error` ({ code, message }) once failed. Jobs are kept in memory (the newest 100).',
        params: {
          type: 'object',
          required: ['id'],
          properties: {
            id: { type: 'string', description: 'job id from POST /v1/sources/:source/snapshots' },
          },
        },
        response: {
          200: described('the job', OPEN_OBJECT),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_JOB'),
        },
      },
    },
    async (request) => snapshots.job(request.params.id),
  );
}
