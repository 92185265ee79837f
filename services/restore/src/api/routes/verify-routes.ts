import type { FastifyInstance } from 'fastify';
import type { VerifyPort } from '../api-ports.js';
import type { VerificationsPort } from '../audit-ports.js';
import { AUTH_ERRORS, described, errorResponses, ref } from '../response-schemas.js';
import { SOURCE_PARAMS } from './sources-routes.js';

/** POST /v1/sources/:source/verify (roles audit, admin). */
export function registerVerifyRoutes(
  app: FastifyInstance,
  verify: VerifyPort,
  verifications?: VerificationsPort,
): void {
  app.post<{ Params: { source: string }; Body: { from?: string; to?: string; region?: string } | undefined }>(
    '/v1/sources/:source/verify',
    {
      config: { permission: 'verify' },
      schema: {
        tags: ['audit'],
        summary: 'Verify the journal of a source',
        description:
          'Reads the whole journal from the base snapshot to the tip and checks every record and segment ' +
          'checksum and every link of the SHA-256 chain. Answers 200 with the report whether or not problems ' +
          'were found: `ok` says which, and each problem names the object key and offset. No body is needed; ' +
          '`{ "from", "to" }` (RFC 3339 times or LSNs) verifies a range, `"region"` a replica region. The report is ' +
          'signed and stored (`reportId`, GET /v1/reports/:id). For long journals prefer POST /v1/verifications (progress).',
        params: SOURCE_PARAMS,
        body: {
          type: 'object',
          nullable: true,
          additionalProperties: false,
          properties: { from: { type: 'string' }, to: { type: 'string' }, region: { type: 'string' } },
        },
        response: {
          200: described('the verification report', ref('VerifyReport')),
          ...errorResponses(...AUTH_ERRORS, 'UNKNOWN_SOURCE', 'STORE_UNAVAILABLE'),
        },
      },
    },
    async (request) => {
      if (verifications) {
        const signed = await verifications.run({ ...(request.body ?? {}), source: request.params.source });
        return { ...signed.report, reportId: signed.report.id, signature: signed.signature };
      }
      const report = await verify.verify(request.params.source);
      request.log.info(
        { principal: request.principal?.name, source: request.params.source, ok: report.ok },
        'journal verified',
      );
      return report;
    },
  );
}
