import { TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import type { CaptureLogger } from './capture-logger.js';
import { qualifiedName, quoteIdent } from './pg-connection.js';

/**
 * Prepares the source: checks it can do logical replication and ensures the publication.
 *
 * A `FOR ALL TABLES` publication makes UPDATE and DELETE fail *in the user's application* on
 * tables that have no replica identity. So before creating one we look for such tables and
 * require an explicit choice instead of breaking the application silently.
 */
export type TablesWithoutKeyPolicy = 'refuse' | 'replica-identity-full' | 'exclude';

export interface SourceInfo {
  readonly serverVersion: number;
}

export async function checkSource(client: pg.Client): Promise<SourceInfo> {
  const res = await client.query<{ wal_level: string; version: string; can_replicate: boolean }>(
    `select current_setting('wal_level') as wal_level,
            current_setting('server_version_num') as version,
            (select rolsuper or rolreplication from pg_roles where rolname = current_user) as can_replicate`,
  );
  const row = res.rows[0]!;
  if (row.wal_level !== 'logical') {
    throw new TidemarkError(
      'SOURCE_NOT_READY',
      `the source has wal_level=${row.wal_level}; logical replication needs wal_level=logical. ` +
        `Run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL (managed services: enable logical replication in the parameter group).`,
      { details: { walLevel: row.wal_level } },
    );
  }
  if (!row.can_replicate) {
    throw new TidemarkError(
      'SOURCE_NOT_READY',
      'the source user may not replicate: run ALTER ROLE <user> WITH REPLICATION; (or connect as a role that has it)',
    );
  }
  return { serverVersion: Number(row.version) };
}

interface KeylessTable {
  readonly schema: string;
  readonly table: string;
  /** top-level table (the partition root for partitions): the unit a publication lists */
  readonly topSchema: string;
  readonly topTable: string;
}

/**
 * Tables in non-system schemas on which a published UPDATE/DELETE would fail: no replica
 * identity (REPLICA IDENTITY NOTHING, or DEFAULT without a primary key, or USING INDEX of a
 * dropped index). Partitions count: the check runs on the partition the row lives in. A
 * keyless partitioned parent is listed too, so REPLICA IDENTITY FULL also lands on the root,
 * whose Relation message describes the changes (publish_via_partition_root).
 */
export async function findTablesWithoutKey(client: pg.Client): Promise<KeylessTable[]> {
  const res = await client.query<{ schema: string; table: string; top_schema: string; top_table: string }>(
    `with recursive tree as (
       select c.oid, c.oid as top from pg_class c where c.relkind in ('r', 'p') and not c.relispartition
       union all
       select i.inhrelid, t.top from pg_inherits i join tree t on i.inhparent = t.oid
     )
     select n.nspname as schema, c.relname as table, tn.nspname as top_schema, tc.relname as top_table
       from tree t
       join pg_class c on c.oid = t.oid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_class tc on tc.oid = t.top
       join pg_namespace tn on tn.oid = tc.relnamespace
      where c.relkind in ('r', 'p') and c.relpersistence = 'p'
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
        and (c.relreplident = 'n'
             or (c.relreplident = 'd' and not exists (select 1 from pg_index x where x.indrelid = c.oid and x.indisprimary))
             or (c.relreplident = 'i' and not exists (select 1 from pg_index x where x.indrelid = c.oid and x.indisreplident)))
      order by 1, 2`,
  );
  return res.rows.map((r) => ({
    schema: r.schema,
    table: r.table,
    topSchema: r.top_schema,
    topTable: r.top_table,
  }));
}

export interface EnsurePublicationOptions {
  readonly publicationName: string;
  readonly tablesWithoutKey: TablesWithoutKeyPolicy;
  readonly logger: CaptureLogger;
}

const PUBLICATION_OPTIONS = `publish = 'insert, update, delete, truncate', publish_via_partition_root = true`;

export async function ensurePublication(client: pg.Client, opts: EnsurePublicationOptions): Promise<void> {
  const pub = quoteIdent(opts.publicationName);
  const existing = await client.query<{ ok: boolean }>(
    `select pubinsert and pubupdate and pubdelete and pubtruncate and pubviaroot as ok from pg_publication where pubname = $1`,
    [opts.publicationName],
  );
  if (existing.rows[0]) {
    if (!existing.rows[0].ok) {
      // partitions must appear under their root, and every kind of change must be published
      await client.query(`alter publication ${pub} set (${PUBLICATION_OPTIONS})`);
      opts.logger.info({ publication: opts.publicationName }, 'publication options corrected');
    }
    return;
  }

  const keyless = await findTablesWithoutKey(client);
  if (keyless.length === 0 || opts.tablesWithoutKey === 'refuse') {
    if (keyless.length > 0) throw refuseKeyless(keyless);
    await client.query(`create publication ${pub} for all tables with (${PUBLICATION_OPTIONS})`);
  } else if (opts.tablesWithoutKey === 'replica-identity-full') {
    await client.query('begin');
    try {
      for (const t of keyless) {
        await client.query(`alter table ${qualifiedName(t.schema, t.table)} replica identity full`);
      }
      await client.query(`create publication ${pub} for all tables with (${PUBLICATION_OPTIONS})`);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    }
    opts.logger.warn(
      { tables: keyless.map((t) => `${t.schema}.${t.table}`) },
      'set REPLICA IDENTITY FULL on tables without a primary key (updates and deletes on them now log whole old rows)',
    );
  } else {
    await createPublicationExcluding(client, pub, keyless, opts.logger);
  }
  opts.logger.info({ publication: opts.publicationName }, 'publication created');
}

async function createPublicationExcluding(
  client: pg.Client,
  pub: string,
  keyless: readonly KeylessTable[],
  logger: CaptureLogger,
): Promise<void> {
  const excluded = new Set(keyless.map((t) => `${t.topSchema}.${t.topTable}`));
  const res = await client.query<{ schema: string; table: string }>(
    `select n.nspname as schema, c.relname as table
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and not c.relispartition and c.relpersistence = 'p'
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
      order by 1, 2`,
  );
  const included = res.rows.filter((r) => !excluded.has(`${r.schema}.${r.table}`));
  const list = included.map((r) => qualifiedName(r.schema, r.table)).join(', ');
  // an explicit list: tables created later are not captured until added to the publication
  await client.query(
    included.length === 0
      ? `create publication ${pub} with (${PUBLICATION_OPTIONS})`
      : `create publication ${pub} for table ${list} with (${PUBLICATION_OPTIONS})`,
  );
  logger.warn(
    { excluded: [...excluded] },
    'tables without a primary key are excluded from capture; tables created later are not captured until added to the publication',
  );
}

function refuseKeyless(keyless: readonly KeylessTable[]): TidemarkError {
  const names = keyless.map((t) => `${t.schema}.${t.table}`);
  return new TidemarkError(
    'SOURCE_NOT_READY',
    `these tables have no primary key or replica identity, so publishing them would make UPDATE and DELETE ` +
      `on them fail in your application: ${names.join(', ')}. Add a primary key, or choose one of: ` +
      `TIDEMARK_TABLES_WITHOUT_KEY=replica-identity-full (Tidemark sets REPLICA IDENTITY FULL on them; ` +
      `updates and deletes then log the whole old row), or TIDEMARK_TABLES_WITHOUT_KEY=exclude ` +
      `(they are not captured).`,
    { details: { tables: names } },
  );
}
