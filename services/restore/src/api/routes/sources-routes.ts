import type { FastifyInstance } from 'fastify';
import type { SourcesPort } from '../api-ports.js';
import { AUTH_ERRORS, described, errorResponses, ref } from '../response-schemas.js';

export const SOURCE_PARAMS = {
  type: 'object',
  required: ['source'],
  properties: { source: { type: 'string', description: 'source name, e.g. main' } },
} as const;

/** GET /v1/sources and GET /v1/sources/:source (roles restore, audit, admin). */
export function registerSourcesRoutes(app: FastifyInstance, sources: SourcesPort): void {
  app.get(
    '/v1/sources',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['sources'],
        summary: 'List the journaled sources and their restorable window',
        response: {
          200: described('the sources', { type: 'array', items: ref('Source') }),
          ...errorResponses(...AUTH_ERRORS, 'STORE_UNAVAILABLE'),
        },
      },
    },
    async () => sources.listSources(),
  );

  app.get<{ Params: { source: string } }>(
    '/v1/sources/:source',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['sources'],
        summary: 'One source and its restorable window',
        params: SOURCE_PARAMS,
        response: {
          200: described('the source', ref('Source')),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => sources.getSource(request.params.source),
  );
}
