import type { FastifyInstance } from 'fastify';
import type { SourcesPort } from '../api-ports.js';
import { AUTH_ERRORS, described, errorResponses, ref } from '../response-schemas.js';

export const SOURCE_PARAMS = {
  type: 'object',
  required: ['source'],
  properties: { source: { type: 'string', description: 'source name, e.g. main' } },
} as const;

/** GET /v1/sources and GET /v1/sources/:source (roles restore, audit, admin). */
const REGION_QUERY = {
  type: 'object',
  properties: {
    region: {
      type: 'string',
      description:
        "a replica region (TIDEMARK_REPLICAS): answer from that region's store alone, which works while the primary is unreachable",
    },
  },
} as const;

const regionOption = (query: { region?: string } | undefined) =>
  query?.region === undefined ? {} : { region: query.region };

export function registerSourcesRoutes(app: FastifyInstance, sources: SourcesPort): void {
  app.get<{ Querystring: { region?: string } }>(
    '/v1/sources',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['sources'],
        summary: 'List the journaled sources and their restorable window',
        description:
          'With replica regions configured each source also has `regions`: per region `lagSeconds`, `lagBytes`, ' +
          '`latestRestorableTime` and `lastError`. `?region=` lists the sources as that region holds them.',
        querystring: REGION_QUERY,
        response: {
          200: described('the sources', { type: 'array', items: ref('Source') }),
          ...errorResponses('BAD_REQUEST', ...AUTH_ERRORS, 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => sources.listSources(regionOption(request.query)),
  );

  app.get<{ Params: { source: string }; Querystring: { region?: string } }>(
    '/v1/sources/:source',
    {
      config: { permission: 'sources:read' },
      schema: {
        tags: ['sources'],
        summary: 'One source and its restorable window',
        params: SOURCE_PARAMS,
        querystring: REGION_QUERY,
        response: {
          200: described('the source', ref('Source')),
          ...errorResponses('BAD_REQUEST', ...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => sources.getSource(request.params.source, regionOption(request.query)),
  );
}
