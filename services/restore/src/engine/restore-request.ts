import { TidemarkError } from '@tidemark/shared';
import { parseRestoreScope, type RestoreScope } from './restore-scope.js';
import { parseRestoreTarget, type RestoreTarget } from './restore-target.js';
import { parseTargetUrl, type TargetLocation } from './target-database.js';

/**
 * Checks a restore request's shape (BAD_REQUEST with the field at fault), before the
 * catalog is asked anything. The body comes from the network: nothing about it is
 * assumed. Pure.
 */
export interface ValidRestoreRequest {
  readonly source: string;
  readonly target: RestoreTarget;
  readonly into: TargetLocation;
  /** `tables` (and `into.schema`): a table restore; null: the whole source (restore-scope.ts) */
  readonly scope: RestoreScope | null;
}

export function validateRequest(req: unknown): ValidRestoreRequest {
  if (typeof req !== 'object' || req === null) throw bad('the request body must be a JSON object', 'body');
  const r = req as Record<string, unknown>;
  if (typeof r.source !== 'string' || r.source === '')
    throw bad('source must be the name of a source', 'source');
  const target = parseRestoreTarget(r.target);
  const into: unknown = r.into;
  if (typeof into !== 'object' || into === null || !('url' in into) || typeof into.url !== 'string')
    throw bad('into.url must be the PostgreSQL URL of the database to restore into', 'into.url');
  const scope = parseRestoreScope(r.tables, (into as { schema?: unknown }).schema);
  return { source: r.source, target, into: parseTargetUrl(into.url), scope };
}

function bad(message: string, field: string): TidemarkError {
  return new TidemarkError('BAD_REQUEST', message, { details: { field } });
}
