import {
  formatLsn,
  formatTimestampMicros,
  MESSAGE_PREFIX,
  parseLsn,
  RESTORE_POINT_NAME_PATTERN,
  redactUrl,
  TidemarkError,
} from '@tidemark/shared';
import pg from 'pg';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import { RESTORE_POINT_NAME_RULE } from './restore-target.js';

/**
 * Named restore points. Creating one writes a transactional logical decoding message
 * (`tidemark.restore_point`, content: the name) into the SOURCE database, in a
 * transaction of its own: capture journals it like any transaction, so the restore point
 * sits at an exact place in commit order, and a restore to it stops right after that
 * transaction. Listing reads them back from the journal (JournalCatalog.listRestorePoints).
 *
 * Writing needs the source's URL, which only a restore service that runs next to capture
 * has (`tidemark up`, or `tidemark restore` with TIDEMARK_SOURCE_URL): `sourceUrls` maps
 * source names to URLs, and a source without one is refused (SOURCE_NOT_READY).
 *
 * Names are unique per source: a name already in the journal, or created here and not
 * archived yet (archiving takes up to the archive RPO, about a second), is a CONFLICT.
 * Creations for one source run one at a time, so two requests with the same name cannot
 * both pass that check.
 */
export interface RestorePointServiceOptions {
  readonly catalog: JournalCatalog;
  /** source name → libpq URL of the source database */
  readonly sourceUrls: Readonly<Record<string, string>>;
  readonly logger: EngineLogger;
}

export interface CreatedRestorePoint {
  readonly name: string;
  /** WAL position of the restore point's message (the listing shows its transaction's commit LSN) */
  readonly lsn: string;
  /** ISO-8601 */
  readonly createdAt: string;
}

export interface RestorePointView {
  readonly name: string;
  /** commit LSN of the transaction carrying the restore point: where a restore to it stops */
  readonly lsn: string;
  /** its commit time, RFC 3339 with µs */
  readonly time: string;
  readonly xid: number;
}

export class RestorePointService {
  /** per source: names created here that the journal may not have yet */
  private readonly recent = new Map<string, Map<string, CreatedRestorePoint>>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: RestorePointServiceOptions) {}

  /** Throws BAD_REQUEST, UNKNOWN_SOURCE, SOURCE_NOT_READY, CONFLICT, SOURCE_UNAVAILABLE. */
  async create(source: string, name: string): Promise<CreatedRestorePoint> {
    if (typeof name !== 'string' || !RESTORE_POINT_NAME_PATTERN.test(name))
      throw new TidemarkError('BAD_REQUEST', `name: a restore point name is ${RESTORE_POINT_NAME_RULE}`, {
        details: { field: 'name' },
      });
    await this.opts.catalog.requireSource(source);
    const url = Object.hasOwn(this.opts.sourceUrls, source) ? this.opts.sourceUrls[source] : undefined;
    if (!url)
      throw new TidemarkError(
        'SOURCE_NOT_READY',
        `this restore service does not know the URL of source ${source}, so it cannot write a restore point into it: ` +
          'restore points must be created where the source URL is configured (`tidemark up`, or `tidemark restore` ' +
          'with TIDEMARK_SOURCE_URL and TIDEMARK_SOURCE_NAME set), or written into the source directly with ' +
          `SELECT pg_logical_emit_message(true, '${MESSAGE_PREFIX.restorePoint}', '<name>')`,
        { details: { source } },
      );
    return this.oneAtATime(source, async () => {
      const inJournal = await this.opts.catalog.listRestorePoints(source);
      const recent = this.recentOf(source);
      for (const p of inJournal) recent.delete(p.name);
      const existing = inJournal.find((p) => p.name === name);
      if (existing || recent.has(name))
        throw new TidemarkError(
          'CONFLICT',
          `source ${source} already has a restore point named ${JSON.stringify(name)}${
            existing ? ` (commit LSN ${formatLsn(existing.commitLsn)})` : ' (created moments ago)'
          }; restore point names are unique: choose another`,
          { details: { source, name } },
        );
      const lsn = await emitRestorePoint(url, name);
      const created: CreatedRestorePoint = { name, lsn, createdAt: new Date().toISOString() };
      recent.set(name, created);
      this.opts.logger.info({ source, restorePoint: name, lsn }, 'restore point created');
      return created;
    });
  }

  /** The restore points in the journal of `source`, in commit order. Throws UNKNOWN_SOURCE. */
  async list(source: string): Promise<RestorePointView[]> {
    const points = await this.opts.catalog.listRestorePoints(source);
    return points.map((p) => ({
      name: p.name,
      lsn: formatLsn(p.commitLsn),
      time: formatTimestampMicros(p.commitTime),
      xid: p.xid,
    }));
  }

  private recentOf(source: string): Map<string, CreatedRestorePoint> {
    let m = this.recent.get(source);
    if (!m) {
      m = new Map();
      this.recent.set(source, m);
    }
    return m;
  }

  private oneAtATime<T>(source: string, work: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(source) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(work);
    this.queues.set(source, next);
    return next;
  }
}

/**
 * Writes the restore point's message in a transaction of its own and answers the
 * message's LSN (the function's return value).
 */
export async function emitRestorePoint(url: string, name: string): Promise<string> {
  const where = redactUrl(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 15_000,
    application_name: 'tidemark-restore-point',
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new TidemarkError(
      'SOURCE_UNAVAILABLE',
      `cannot connect to the source database ${where} to write the restore point: ${errMessage(err)}`,
      { cause: err },
    );
  }
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ lsn: string }>(
      'SELECT pg_logical_emit_message(true, $1::text, $2::text)::text AS lsn',
      [MESSAGE_PREFIX.restorePoint, name],
    );
    await client.query('COMMIT');
    const lsn = rows[0]?.lsn;
    if (!lsn) throw new Error('pg_logical_emit_message returned no LSN');
    return formatLsn(parseLsn(lsn));
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    const code = (err as { code?: unknown }).code;
    if (code === '42501' || code === '55000')
      throw new TidemarkError(
        'SOURCE_NOT_READY',
        `the source database ${where} refused the restore point: ${errMessage(err)} ` +
          '(it needs wal_level=logical, and a user with the REPLICATION attribute or superuser)',
        { cause: err, details: { sqlState: code } },
      );
    throw new TidemarkError(
      'SOURCE_UNAVAILABLE',
      `writing the restore point into the source database ${where} failed: ${errMessage(err)}`,
      { cause: err, details: { sqlState: code } },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
