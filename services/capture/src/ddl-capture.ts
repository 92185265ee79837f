import { TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import type { CaptureLogger } from './capture-logger.js';
import {
  DDL_CAPTURE_SCHEMA,
  DDL_CAPTURE_VERSION,
  DDL_EVENT_TRIGGERS,
  INSTALL_DDL_CAPTURE,
} from './ddl-capture-sql.js';

/**
 * Installs the DDL capture (ddl-capture-sql.ts) into the source database, idempotently.
 *
 * Creating event triggers needs a superuser (on managed services: their superuser-like
 * role, e.g. rds_superuser), which the capture role usually is not. So `tidemark install`
 * does it once with such a role, and capture installs it on start only when its own role
 * may; otherwise capture warns that schema changes are not captured.
 */
export type DdlCaptureState = 'current' | 'outdated' | 'missing';

export async function ddlCaptureState(client: pg.Client): Promise<DdlCaptureState> {
  // from the catalogs only: a capture role without USAGE on the schema must see it too
  const res = await client.query<{ triggers: number; version: number | null }>(
    `select (select count(*)::int from pg_event_trigger where evtname = any($1::text[]) and evtenabled <> 'D') as triggers,
            (select substring(p.prosrc from '[0-9]+')::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where n.nspname = $2 and p.proname = 'ddl_capture_version') as version`,
    [DDL_EVENT_TRIGGERS, DDL_CAPTURE_SCHEMA],
  );
  const row = res.rows[0];
  if (!row || row.version === null || row.triggers === 0) return 'missing';
  const current = row.version === DDL_CAPTURE_VERSION && row.triggers === DDL_EVENT_TRIGGERS.length;
  return current ? 'current' : 'outdated';
}

export interface InstallResult {
  /** state before: 'current' means nothing was changed */
  readonly before: DdlCaptureState;
}

/** Installs or updates the event triggers; throws SOURCE_NOT_READY when the role may not. */
export async function installDdlCapture(client: pg.Client): Promise<InstallResult> {
  const before = await ddlCaptureState(client);
  if (before === 'current') return { before };
  await client.query('begin');
  try {
    for (const sql of INSTALL_DDL_CAPTURE) await client.query(sql);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    if ((err as { code?: unknown }).code === '42501') throw notPermitted(client, err);
    throw new TidemarkError(
      'SOURCE_NOT_READY',
      `installing the DDL capture (event triggers) failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return { before };
}

/**
 * On capture start: installs when missing or outdated and permitted; otherwise logs a
 * warning saying what is not captured and how to fix it. Never stops capture.
 */
export async function ensureDdlCapture(client: pg.Client, logger: CaptureLogger): Promise<DdlCaptureState> {
  try {
    const { before } = await installDdlCapture(client);
    if (before !== 'current') logger.info({ before }, 'DDL capture (event triggers) installed');
    return 'current';
  } catch (err) {
    const state = await ddlCaptureState(client).catch(() => 'missing' as const);
    logger.warn(
      { err, ddlCapture: state },
      state === 'outdated'
        ? 'the DDL capture installed in the source is from another Tidemark version and this role may not replace it: run `npx tidemark install --source-url <URL of a superuser>`'
        : 'schema changes (DDL) will not be captured, and a restore across one will fail: run `npx tidemark install --source-url <URL of a superuser>` once, or capture as a role that may create event triggers',
    );
    return state;
  }
}

function notPermitted(client: pg.Client, cause: unknown): TidemarkError {
  const role = client.user ?? 'the connecting role';
  return new TidemarkError(
    'SOURCE_NOT_READY',
    `role "${role}" may not create event triggers, which capturing schema changes (DDL) needs: only a superuser may ` +
      '(on managed services, their superuser-like role, e.g. rds_superuser). Run `npx tidemark install --source-url URL` ' +
      'once with the URL of such a role; the triggers then serve every role, the capture role included.',
    { cause, details: { role } },
  );
}
