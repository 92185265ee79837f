import type { FastifyInstance } from 'fastify';
import type { RestorePointsPort } from '../api-ports.js';
import {
  bodyValidatorCompiler,
  parseRestorePointRequest,
  restorePointRequestJsonSchema,
} from '../request-schemas.js';
import { AUTH_ERRORS, described, errorResponses, ref } from '../response-schemas.js';
import { SOURCE_PARAMS } from './sources-routes.js';

/**
 * POST /v1/sources/:source/restore-points (roles restore, admin) writes a named restore
 * point into the source database; GET lists those in the journal (roles restore, audit,
 * admin).
 */
export function registerRestorePointsRoutes(app: FastifyInstance, points: RestorePointsPort): void {
  app.post<{ Params: { source: string } }>(
    '/v1/sources/:source/restore-points',
    {
      config: { permission: 'restore-points:create' },
      validatorCompiler: bodyValidatorCompiler(parseRestorePointRequest),
      schema: {
        tags: ['sources'],
        summary: 'Create a named restore point',
        description:
          'Writes a logical decoding message (prefix `tidemark.restore_point`, content: the name) into the ' +
          'source database in a transaction of its own, so the restore point sits at an exact place in commit ' +
          'order. A restore with target `{"restorePoint": name}` stops right after that transaction. Answers 201 ' +
          'with the name, the WAL position of the message (`lsn`) and when it was created; the restore point is ' +
          'listed, and restorable, once archived (within the archive RPO, about a second). Names are unique per ' +
          'source (409 otherwise). Only a restore service that knows the source URL can do this (`tidemark up`, ' +
          'or `tidemark restore` with TIDEMARK_SOURCE_URL): elsewhere the answer is 422 SOURCE_NOT_READY.',
        params: SOURCE_PARAMS,
        body: restorePointRequestJsonSchema(),
        response: {
          201: described('the restore point was written into the source', ref('CreatedRestorePoint')),
          ...errorResponses(
            'BAD_REQUEST',
            ...AUTH_ERRORS,
            'UNKNOWN_SOURCE',
            'CONFLICT',
            'SOURCE_NOT_READY',
            'SOURCE_UNAVAILABLE',
          ),
        },
      },
    },
    async (request, reply) => {
      const { name } = request.body as { name: string };
      const created = await points.create(request.params.source, name);
      request.log.info(
        { principal: request.principal?.name, source: request.params.source, restorePoint: name },
        'restore point created',
      );
      return reply.code(201).send(created);
    },
  );

  app.get<{ Params: { source: string } }>(
    '/v1/sources/:source/restore-points',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['sources'],
        summary: 'List the named restore points in the journal of a source',
        description:
          'Restore points found in the journal, in commit order, each with the commit LSN and time of the ' +
          'transaction that carries it (where a restore to it stops) and that transaction’s xid.',
        params: SOURCE_PARAMS,
        response: {
          200: described('the restore points', { type: 'array', items: ref('RestorePoint') }),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => points.list(request.params.source),
  );
}
