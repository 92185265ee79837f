import type { FastifyInstance } from 'fastify';
import type { RestoreJobView, RestoreRequest, RestoresPort } from '../api-ports.js';
import { type Scrub, scrubDeep } from '../redaction.js';
import { bodyValidatorCompiler, parseRestoreRequest, restoreRequestJsonSchema } from '../request-schemas.js';
import { AUTH_ERRORS, described, errorResponses, ref } from '../response-schemas.js';

/**
 * POST /v1/restores (roles restore, admin), GET /v1/restores and /v1/restores/:id (roles
 * restore, audit, admin). Job views are scrubbed on the way out: whoever reads a job
 * must not learn a password that an engine message happened to quote.
 */
export function registerRestoresRoutes(app: FastifyInstance, restores: RestoresPort, scrub: Scrub): void {
  const view = (job: RestoreJobView) => scrubDeep(job, scrub) as RestoreJobView;

  app.post(
    '/v1/restores',
    {
      config: { permission: 'restores:create' },
      validatorCompiler: bodyValidatorCompiler(parseRestoreRequest),
      schema: {
        tags: ['restores'],
        summary: 'Start a point-in-time restore',
        description:
          'Checks the request against the journal (the source exists, the target is inside the restorable ' +
          'window) and queues the restore. Answers 202 with the job and its URL in `Location`; follow it with ' +
          'GET /v1/restores/{id}. The target database must be empty or absent (it is then created).',
        body: restoreRequestJsonSchema(),
        response: {
          202: described('the restore is queued', {
            ...ref('RestoreJob'),
          }),
          ...errorResponses(
            'BAD_REQUEST',
            ...AUTH_ERRORS,
            'UNKNOWN_SOURCE',
            'TARGET_NOT_EMPTY',
            'TARGET_BEFORE_WINDOW',
            'STORE_UNAVAILABLE',
          ),
        },
      },
    },
    async (request, reply) => {
      const job = await restores.submit(request.body as RestoreRequest);
      request.log.info(
        { principal: request.principal?.name, restoreId: job.id, source: job.source, target: job.target },
        'restore submitted',
      );
      void reply.code(202).header('location', `/v1/restores/${encodeURIComponent(job.id)}`);
      return view(job);
    },
  );

  app.get(
    '/v1/restores',
    {
      config: { permission: 'restores:read' },
      schema: {
        tags: ['restores'],
        summary: 'List every restore, oldest first',
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
        summary: 'One restore: its state, progress and error',
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', description: 'the id POST /v1/restores answered with' } },
        },
        response: {
          200: described('the restore', ref('RestoreJob')),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_RESTORE'),
        },
      },
    },
    async (request) => view(restores.get(request.params.id)),
  );
}
