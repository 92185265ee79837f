import { REGION_NAME_PATTERN, TidemarkError } from '@tidemark/shared';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { bodyValidatorCompiler } from '../request-schemas.js';
import { AUTH_ERRORS, described, errorResponses } from '../response-schemas.js';
import { SOURCE_PARAMS } from './sources-routes.js';

/** Object-by-object comparison of a source's journal in two stores (engine: region-compare.ts). */
export interface RegionComparePort {
  /** BAD_REQUEST for an unknown region, UNKNOWN_SOURCE when neither store has the source */
  compare(source: string, region: string | undefined, compareWith: string): Promise<object>;
}

const REGION_HINT = 'expected "primary" or a replica region name (1 to 32 characters out of a-z 0-9 -)';
const regionName = z.string({ error: REGION_HINT }).regex(REGION_NAME_PATTERN, { error: REGION_HINT });
const compareRequestSchema = z.strictObject({
  compareWith: regionName.meta({
    description: 'the store to compare with: "primary" or a region',
    example: 'eu-west',
  }),
  region: regionName
    .optional()
    .meta({ description: 'the store compared (default: the primary)', example: 'primary' }),
});

function parseCompareRequest(body: unknown): { compareWith: string; region?: string } {
  const result = compareRequestSchema.safeParse(body ?? undefined);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || 'body',
    message:
      i.code === 'unrecognized_keys'
        ? `unknown key(s) ${i.keys.join(', ')} (allowed: compareWith, region)`
        : i.message,
  }));
  throw new TidemarkError('BAD_REQUEST', problems.map((p) => `${p.path}: ${p.message}`).join('; '), {
    details: { problems },
  });
}

/** POST /v1/sources/:source/compare-regions (roles audit, admin). */
export function registerRegionCompareRoutes(app: FastifyInstance, port: RegionComparePort): void {
  app.post<{ Params: { source: string }; Body: { compareWith: string; region?: string } }>(
    '/v1/sources/:source/compare-regions',
    {
      config: { permission: 'verify' },
      validatorCompiler: bodyValidatorCompiler(parseCompareRequest),
      schema: {
        tags: ['audit'],
        summary: "Compare a source's journal in two stores (primary and replica regions)",
        description:
          'Lists the objects (registry entry, snapshot files, segments) that one store has and the other lacks, ' +
          'and those whose bytes differ (size, then SHA-256). The tips are shown, not compared: a region trails the ' +
          'primary while it catches up, so segments past the trailing tip are only "not copied yet"; `consistent` ' +
          'is true when nothing differs and nothing else is missing. Reads every object of both stores.',
        params: SOURCE_PARAMS,
        body: z.toJSONSchema(compareRequestSchema, { target: 'openapi-3.0' }) as Record<string, unknown>,
        response: {
          200: described('the comparison', { type: 'object', additionalProperties: true }),
          ...errorResponses('BAD_REQUEST', ...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => {
      const { compareWith, region } = request.body;
      const result = await port.compare(
        request.params.source,
        region === undefined || region === 'primary' ? undefined : region,
        compareWith,
      );
      request.log.info(
        { principal: request.principal?.name, source: request.params.source, region, compareWith },
        'regions compared',
      );
      return result;
    },
  );
}
