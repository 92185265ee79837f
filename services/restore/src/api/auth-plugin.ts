import { createHash, timingSafeEqual } from 'node:crypto';
import { TidemarkError } from '@tidemark/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiRole, ApiToken } from './api-ports.js';

/**
 * Bearer-token authentication and role checks.
 *
 * Every route declares what it needs in `config.permission`; a route that declares
 * nothing needs the admin role (fail closed). Presented tokens are hashed and compared
 * with every configured token's hash with `timingSafeEqual`, without stopping at the
 * first match, so the time taken says nothing about how much of a token was right.
 * Tokens are never logged or echoed: errors name the token's configured name only.
 */
export type Permission =
  | 'public'
  | 'sources:read'
  | 'restores:read'
  | 'restores:create'
  | 'restore-points:create'
  | 'verify'
  | 'reports:read'
  | 'audit-log:read'
  | 'admin';

export const ROLE_PERMISSIONS: Readonly<Record<ApiRole, readonly Permission[]>> = {
  restore: ['sources:read', 'restores:read', 'restores:create', 'restore-points:create'],
  audit: ['sources:read', 'restores:read', 'verify', 'reports:read', 'audit-log:read'],
  admin: [
    'sources:read',
    'restores:read',
    'restores:create',
    'restore-points:create',
    'verify',
    'reports:read',
    'audit-log:read',
    'admin',
  ],
};

export interface Principal {
  readonly name: string;
  readonly role: ApiRole;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** what a caller needs for this route (see auth-plugin.ts); absent means admin */
    permission?: Permission;
  }
  interface FastifyRequest {
    /** who made the request, once authenticated */
    principal: Principal | null;
  }
}

const TOKEN_SOURCE =
  'Tokens are configured with TIDEMARK_API_TOKENS (name:role:token,...); when it is unset, ' +
  "`tidemark up` generates an admin token on first start, prints it, and keeps it in the data directory's admin-token file";

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

export function rolesAllowed(permission: Permission): ApiRole[] {
  return (Object.keys(ROLE_PERMISSIONS) as ApiRole[]).filter((role) =>
    ROLE_PERMISSIONS[role].includes(permission),
  );
}

export function registerAuth(app: FastifyInstance, tokens: readonly ApiToken[]): void {
  const known = checkTokens(tokens).map((t) => ({
    digest: digest(t.token),
    principal: { name: t.name, role: t.role },
  }));

  const authenticate = (header: string | undefined): Principal => {
    if (header === undefined || header.trim() === '') {
      throw new TidemarkError(
        'UNAUTHENTICATED',
        `missing Authorization header: send \`Authorization: Bearer <token>\`. ${TOKEN_SOURCE}`,
      );
    }
    const m = BEARER.exec(header);
    if (!m?.[1]) {
      throw new TidemarkError(
        'UNAUTHENTICATED',
        `malformed Authorization header: it must be \`Authorization: Bearer <token>\`. ${TOKEN_SOURCE}`,
      );
    }
    const presented = digest(m[1]);
    let found: Principal | undefined;
    for (const k of known) {
      // no early exit: every token is compared whatever matched before
      if (timingSafeEqual(presented, k.digest) && found === undefined) found = k.principal;
    }
    if (!found) {
      throw new TidemarkError('UNAUTHENTICATED', `the bearer token is not valid. ${TOKEN_SOURCE}`);
    }
    return found;
  };

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (request.is404) return;
    const permission = request.routeOptions.config.permission ?? 'admin';
    if (permission === 'public') return;
    const principal = authenticate(request.headers.authorization);
    request.principal = principal;
    if (!ROLE_PERMISSIONS[principal.role].includes(permission)) {
      const needed = rolesAllowed(permission);
      throw new TidemarkError(
        'FORBIDDEN',
        `token "${principal.name}" has the role ${principal.role}; ${request.method} ${request.routeOptions.url} ` +
          `needs the role ${needed.join(' or ')}`,
        { details: { role: principal.role, rolesAllowed: needed } },
      );
    }
  });
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Refuses a token list that cannot work or is ambiguous (without quoting any token). */
function checkTokens(tokens: readonly ApiToken[]): readonly ApiToken[] {
  const bad = (message: string) => new TidemarkError('CONFIG_INVALID', `API tokens: ${message}`);
  if (tokens.length === 0) throw bad(`none configured, so no request could be authorized. ${TOKEN_SOURCE}`);
  const seen = new Set<string>();
  for (const [i, t] of tokens.entries()) {
    const label = t.name ? `"${t.name}"` : `#${i + 1}`;
    if (!t.name) throw bad(`token ${label} has no name`);
    if (!(t.role in ROLE_PERMISSIONS))
      throw bad(`token ${label} has the unknown role ${JSON.stringify(t.role)}`);
    if (!t.token || /\s/.test(t.token)) throw bad(`token ${label} is empty or contains white space`);
    if (seen.has(t.token)) throw bad(`token ${label} is configured twice`);
    seen.add(t.token);
  }
  return tokens;
}
