import { TidemarkError } from '@tidemark/shared';
import type { FastifyInstance } from 'fastify';
import { AUTH_ERRORS, described, errorResponses } from '../response-schemas.js';
import { SOURCE_PARAMS } from './sources-routes.js';

/** What POST /v1/sources/:source/gc needs: one collection (engine/retention-collector.ts). */
export interface GcPort {
  /** throws UNKNOWN_SOURCE */
  /** throws UNKNOWN_SOURCE; BAD_REQUEST for an unknown region */
  collect(source: string, options: { dryRun?: boolean; region?: string }): Promise<object>;
}

const GC_REPORT = {
  type: 'object',
  additionalProperties: true,
  required: [
    'source',
    'dryRun',
    'retention',
    'snapshots',
    'segments',
    'objects',
    'bytes',
    'deleted',
    'locked',
  ],
  properties: {
    source: { type: 'string' },
    dryRun: { type: 'boolean' },
    retention: {
      type: 'string',
      nullable: true,
      description: 'the source retention, e.g. 7d; null: keep everything',
    },
    windowStart: { type: 'string', nullable: true, description: 'now minus the retention' },
    keptSnapshot: {
      type: 'object',
      nullable: true,
      description:
        'the oldest snapshot kept: its time is the earliest restorable instant after the collection',
      properties: { lsn: { type: 'string' }, time: { type: 'string' } },
    },
    snapshots: { type: 'integer', description: 'snapshots deleted (dry run: that would be)' },
    segments: { type: 'integer' },
    objects: { type: 'integer' },
    bytes: { type: 'integer' },
    deleted: {
      type: 'array',
      items: { type: 'object', properties: { key: { type: 'string' }, size: { type: 'integer' } } },
    },
    locked: {
      type: 'array',
      description: 'objects still under Object Lock, left for a later collection',
      items: {
        type: 'object',
        properties: { key: { type: 'string' }, retainUntil: { type: 'string', nullable: true } },
      },
    },
    heldBy: { type: 'array', items: { type: 'string' }, description: 'restores whose leases kept objects' },
    notes: { type: 'array', items: { type: 'string' } },
  },
} as const;

/** POST /v1/sources/:source/gc (admin). */
export function registerGcRoutes(app: FastifyInstance, gc: GcPort): void {
  app.post<{ Params: { source: string }; Querystring: Record<string, unknown> }>(
    '/v1/sources/:source/gc',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['sources'],
        summary: 'Garbage-collect the journal of a source now',
        description:
          'Deletes what the retention window no longer needs: snapshots older than the newest one taken at or ' +
          'before now minus the retention, and the segments before that snapshot. Never the only snapshot, the ' +
          'tip, what a running restore holds a lease on, or an object still under Object Lock (listed in ' +
          '`locked`). With `?dryRun=true` it answers what would go and deletes nothing. No body is needed.',
        params: SOURCE_PARAMS,
        querystring: {
          type: 'object',
          properties: {
            dryRun: { type: 'boolean', description: 'true: list what would be deleted, delete nothing' },
            region: {
              type: 'string',
              description: "a replica region: collect that region's store (its own snapshots and leases)",
            },
          },
        },
        response: {
          200: described('what was (or would be) deleted', GC_REPORT),
          ...errorResponses(...AUTH_ERRORS, 'BAD_REQUEST', 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => {
      const region = request.query.region;
      const report = await gc.collect(request.params.source, {
        dryRun: dryRunOf(request.query),
        ...(typeof region === 'string' ? { region } : {}),
      });
      request.log.info(
        { principal: request.principal?.name, source: request.params.source, region },
        'garbage collection requested',
      );
      return report;
    },
  );
}

function dryRunOf(query: Record<string, unknown> | undefined): boolean {
  const value = query?.dryRun;
  if (value === undefined || value === false || value === 'false' || value === '0') return false;
  if (value === true || value === 'true' || value === '1' || value === '') return true;
  throw new TidemarkError('BAD_REQUEST', 'dryRun must be true or false', { details: { field: 'dryRun' } });
}
