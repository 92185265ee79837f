import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export const DOCS_PREFIX = '/docs';

/**
 * The OpenAPI document (built from the routes' schemas, so every route is in it) and
 * Swagger UI at /docs, with /docs/json and /docs/yaml. Must be registered before the
 * routes. The docs need no token; "Authorize" in the UI takes one for trying requests.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Tidemark restore API',
        version: '1',
        description:
          'Point-in-time restores and journal verification for PostgreSQL sources journaled by Tidemark.\n\n' +
          'Every `/v1` request needs `Authorization: Bearer <token>`; tokens come from `TIDEMARK_API_TOKENS` ' +
          '(`name:role:token,...`). Roles: `restore` lists sources and runs and reads restores; `audit` reads ' +
          'sources and restores and verifies journals; `admin` does everything. Errors answer ' +
          '`{"error": {"code", "message", "details"}}` with a stable `code`.',
      },
      tags: [
        { name: 'sources', description: 'journaled databases and their restorable window' },
        { name: 'restores', description: 'point-in-time restores' },
        { name: 'audit', description: 'integrity verification' },
        { name: 'operations', description: 'health, readiness and metrics (no token)' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'an API token from TIDEMARK_API_TOKENS',
          },
        },
      },
      security: [{ bearerAuth: [] }],
    },
    // shared schemas (app.addSchema) appear under components.schemas by their $id
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });

  // the UI's own routes are public: marked in this child context only
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, permission: 'public' };
    });
    await docs.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  });
}
