import { TidemarkError } from '@tidemark/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RestoreJobView, RestoreRequest, RestoresPort } from '../api-ports.js';
import { type Scrub, scrubDeep } from '../redaction.js';
import { bodyValidatorCompiler, parseRestoreRequest, restoreRequestJsonSchema } from '../request-schemas.js';
import { AUTH_ERRORS, described, errorResponses, ref } from '../response-schemas.js';
import { registerRestoreEvents } from './restore-events.js';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

const ID_PARAMS = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', description: 'the id POST /v1/restores answered with' } },
} as const;

export interface RestoresRoutesOptions {
  /** least time between two progress events of one stream (default 250 ms) */
  readonly eventsMinIntervalMs?: number;
}

/**
 * POST /v1/restores (with ?dryRun=true and Idempotency-Key) and DELETE /v1/restores/:id
 * (roles restore, admin); GET /v1/restores, /v1/restores/:id and /v1/restores/:id/events
 * (roles restore, audit, admin). Job views are scrubbed on the way out: whoever reads a
 * job must not learn a password that an engine message happened to quote.
 */
export function registerRestoresRoutes(
  app: FastifyInstance,
  restores: RestoresPort,
  scrub: Scrub,
  options: RestoresRoutesOptions = {},
): void {
  const view = (job: RestoreJobView) => scrubDeep(job, scrub) as RestoreJobView;
  const location = (id: string) => `/v1/restores/${encodeURIComponent(id)}`;

  app.post<{ Querystring: Record<string, unknown> }>(
    '/v1/restores',
    {
      config: { permission: 'restores:create' },
      validatorCompiler: bodyValidatorCompiler(parseRestoreRequest),
      schema: {
        tags: ['restores'],
        summary: 'Start a point-in-time restore, or plan one (dry run)',
        description:
          'Checks the request against the journal (the source exists, the target is inside the restorable ' +
          'window, a restore point exists) and queues the restore. Answers 202 with the job and its URL in ' +
          '`Location`; follow it with GET /v1/restores/{id} or GET /v1/restores/{id}/events. The target ' +
          'database must be empty or absent (it is then created).\n\n' +
          'With `tables` only those tables are restored (400 UNKNOWN_TABLE, with near matches, for a table the ' +
          'source did not have); with `into.schema` too, into that schema of an existing database, which must ' +
          'not exist or be empty (TARGET_NOT_EMPTY otherwise); nothing outside it is touched.\n\n' +
          'With `?dryRun=true` nothing is queued or created: the answer (200) is the plan, i.e. the base snapshot, ' +
          'the journal segments and bytes to read, and an estimate of the duration.\n\n' +
          'With an `Idempotency-Key` header a repeated request answers the restore the first one created (200, ' +
          'header `Idempotent-Replayed: true`); the same key with a different request is 409 CONFLICT. Keys are ' +
          'kept with the restores, across restarts.',
        querystring: {
          type: 'object',
          properties: {
            dryRun: {
              type: 'boolean',
              description: 'true: answer the plan and create nothing',
            },
          },
        },
        headers: {
          type: 'object',
          properties: {
            [IDEMPOTENCY_KEY_HEADER]: {
              type: 'string',
              description:
                'a unique key per intended restore (e.g. a UUID), 1-255 printable ASCII characters',
            },
          },
        },
        body: restoreRequestJsonSchema(),
        response: {
          200: described(
            'with dryRun=true: the plan; with an Idempotency-Key seen before: the restore it created',
            { oneOf: [ref('RestorePlan'), ref('RestoreJob')] },
          ),
          202: described('the restore is queued', {
            ...ref('RestoreJob'),
          }),
          ...errorResponses(
            'BAD_REQUEST',
            ...AUTH_ERRORS,
            'UNKNOWN_SOURCE',
            'CONFLICT',
            'TARGET_BEFORE_WINDOW',
            'STORE_UNAVAILABLE',
          ),
        },
      },
    },
    async (request, reply) => {
      const body = request.body as RestoreRequest;
      if (dryRunOf(request.query)) {
        const plan = await restores.plan(body);
        request.log.info(
          { principal: request.principal?.name, source: body.source },
          'restore planned (dry run)',
        );
        return reply.code(200).send(scrubDeep(plan, scrub));
      }
      const key = idempotencyKeyOf(request);
      let job: RestoreJobView;
      if (key === undefined) {
        job = await restores.submit(body);
      } else {
        const submitted = await restores.submitIdempotent(body, key);
        job = submitted.job;
        if (submitted.replayed) {
          request.log.info(
            { principal: request.principal?.name, restoreId: job.id },
            'restore request repeated',
          );
          void reply.code(200).header('location', location(job.id)).header('idempotent-replayed', 'true');
          return view(job);
        }
      }
      request.log.info(
        { principal: request.principal?.name, restoreId: job.id, source: job.source, target: job.target },
        'restore submitted',
      );
      void reply.code(202).header('location', location(job.id));
      return view(job);
    },
  );

  app.get(
    '/v1/restores',
    {
      config: { permission: 'restores:read' },
      schema: {
        tags: ['restores'],
        summary: 'List every restore, newest first',
        response: {
          200: described('the restores', { type: 'array', items: ref('RestoreJob') }),
          ...errorResponses(...AUTH_ERRORS),
        },
      },
    },
    async () => restores.list().map(view),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/restores/:id',
    {
      config: { permission: 'restores:read' },
      schema: {
        tags: ['restores'],
        summary: 'One restore: its state, progress, ETA and error',
        params: ID_PARAMS,
        response: {
          200: described('the restore', ref('RestoreJob')),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_RESTORE'),
        },
      },
    },
    async (request) => view(restores.get(request.params.id)),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/restores/:id',
    {
      config: { permission: 'restores:create' },
      schema: {
        tags: ['restores'],
        summary: 'Cancel a restore',
        description:
          'A queued restore never runs. A running one is stopped and leaves no half-built target behind: a ' +
          'database it created is dropped; in a database that existed (empty) before, the tables and schemas it ' +
          'created are dropped. Answers 200 with the cancelled restore, or 202 with the restore still stopping ' +
          '(progress phase `cancelling`) when that takes longer than a few seconds. 409 when the restore already ' +
          'ended.',
        params: ID_PARAMS,
        response: {
          200: described('the restore, now cancelled (or ended otherwise meanwhile)', ref('RestoreJob')),
          202: described('the restore is stopping', ref('RestoreJob')),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_RESTORE', 'CONFLICT'),
        },
      },
    },
    async (request, reply) => {
      const job = await restores.cancel(request.params.id);
      request.log.info(
        { principal: request.principal?.name, restoreId: job.id, state: job.state },
        'restore cancel requested',
      );
      void reply.code(job.state === 'queued' || job.state === 'running' ? 202 : 200);
      return view(job);
    },
  );

  registerRestoreEvents(app, restores, view, ID_PARAMS, options.eventsMinIntervalMs ?? 250);
}

function dryRunOf(query: Record<string, unknown> | undefined): boolean {
  const value = query?.dryRun;
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new TidemarkError('BAD_REQUEST', 'dryRun must be true or false', { details: { field: 'dryRun' } });
}

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (value === undefined) return undefined;
  if (Array.isArray(value))
    throw new TidemarkError('BAD_REQUEST', 'send one Idempotency-Key header, not several', {
      details: { field: 'Idempotency-Key' },
    });
  return value;
}
