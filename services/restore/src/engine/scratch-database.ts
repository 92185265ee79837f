import { randomBytes } from 'node:crypto';
import { TidemarkError } from '@tidemark/shared';
import { cleanTarget, parseTargetUrl, type TargetLocation } from './target-database.js';

/**
 * The throw-away database a compaction restores into. It lives on the server of
 * TIDEMARK_COMPACTION_DATABASE_URL (the URL's own database is never touched: only its
 * host, port and credentials are used, and the user needs CREATEDB), gets a random name
 * with a recognisable prefix, and is dropped whatever happens.
 */
export const SCRATCH_DATABASE_PREFIX = 'tidemark_compact_';

export function scratchTarget(serverUrl: string): TargetLocation {
  let u: URL;
  try {
    u = new URL(serverUrl);
  } catch {
    throw new TidemarkError(
      'CONFIG_INVALID',
      'TIDEMARK_COMPACTION_DATABASE_URL is not a URL; expected postgresql://user:password@host:5432/postgres',
    );
  }
  u.pathname = `/${SCRATCH_DATABASE_PREFIX}${randomBytes(6).toString('hex')}`;
  return parseTargetUrl(u.toString());
}

export async function dropScratchDatabase(target: TargetLocation): Promise<void> {
  await cleanTarget(target, { created: true, existingSchemas: [] }, []);
}
