import {
  encodeTableSnapshotMarker,
  formatLsn,
  type ObjectStore,
  parseLsn,
  putSnapshotTableData,
  type SnapshotTable,
  type SnapshotTableSealing,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TableSnapshotManifest,
  type TableSnapshotMarker,
  TidemarkError,
  tableSnapshotDataKey,
  tableSnapshotManifestKey,
  tableSnapshotPrefix,
} from '@tidemark/shared';
import { to as copyTo } from 'pg-copy-streams';
import type { CaptureLogger } from './capture-logger.js';
import { connectSql, qualifiedName, quoteIdent } from './pg-connection.js';
import { readPublishedTables } from './snapshot-catalog.js';

/**
 * Takes the snapshot of one published table in one source transaction (protocol and
 * layout: packages/shared/src/core/table-snapshot.ts):
 *
 *   BEGIN; LOCK TABLE t IN SHARE MODE; marker message; COPY t TO STDOUT → store;
 *   manifest.json → store; COMMIT
 *
 * The SHARE lock waits for transactions that are writing to the table and blocks new
 * writers until the commit: writes to that one table pause for the length of the copy
 * (reads go on). The objects are written before the commit, so a marker that reached the
 * journal always finds its data; when anything fails, the transaction rolls back (no
 * marker) and the objects written are deleted.
 */
export interface TableSnapshotOptions {
  readonly sourceUrl: string;
  readonly source: string;
  readonly publicationName: string;
  readonly store: ObjectStore;
  readonly logger: CaptureLogger;
  readonly sealing: SnapshotTableSealing;
  readonly schema: string;
  readonly table: string;
  /** how long to wait for the SHARE lock before giving up (default 30 s) */
  readonly lockTimeoutMs?: number;
}

export interface TableSnapshotResult {
  readonly marker: TableSnapshotMarker;
  readonly manifestKey: string;
  /** WAL position of the marker message (its transaction commits later) */
  readonly markerLsn: string;
  readonly rows: number;
}

export async function takeTableSnapshot(opts: TableSnapshotOptions): Promise<TableSnapshotResult> {
  const name = qualifiedName(opts.schema, opts.table);
  const client = await connectSql(opts.sourceUrl, (err) =>
    opts.logger.warn({ err }, 'table snapshot connection error'),
  );
  const written: string[] = [];
  let committed = false;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, opts.lockTimeoutMs ?? 30_000)}`);
    await client.query(`LOCK TABLE ${name} IN SHARE MODE`);
    const catalog = (await readPublishedTables(client, opts.publicationName)).find(
      (t) => t.schema === opts.schema && t.table === opts.table,
    );
    if (!catalog)
      throw new TidemarkError(
        'BAD_REQUEST',
        `table ${opts.schema}.${opts.table} is not in publication ${opts.publicationName}; add it to the publication first`,
        { details: { schema: opts.schema, table: opts.table } },
      );
    if (catalog.kind !== 'table')
      throw new TidemarkError(
        'BAD_REQUEST',
        `table ${opts.schema}.${opts.table} is partitioned: snapshot its partitions one by one`,
        { details: { schema: opts.schema, table: opts.table } },
      );
    const at = await client.query<{ lsn: string; version: string }>(
      `SELECT pg_current_wal_insert_lsn()::text AS lsn, current_setting('server_version_num') AS version`,
    );
    const startLsn = parseLsn(at.rows[0]!.lsn);
    const prefix = tableSnapshotPrefix(opts.source, startLsn, catalog.oid);
    const marker: TableSnapshotMarker = {
      formatVersion: 1,
      source: opts.source,
      schema: opts.schema,
      table: opts.table,
      oid: catalog.oid,
      prefix,
    };
    const emitted = await client.query<{ lsn: string }>(
      'SELECT pg_logical_emit_message(true, $1, $2)::text AS lsn',
      [TABLE_SNAPSHOT_MESSAGE_PREFIX, encodeTableSnapshotMarker(marker)],
    );
    const columns = catalog.columns.map((c) => quoteIdent(c.name)).join(', ');
    const stream = client.query(copyTo(`COPY ${name} (${columns}) TO STDOUT`));
    let data: Awaited<ReturnType<typeof putSnapshotTableData>>;
    try {
      data = await putSnapshotTableData(
        opts.store,
        { key: (encoding) => tableSnapshotDataKey(prefix, encoding) },
        stream,
        opts.sealing,
      );
    } catch (err) {
      stream.destroy();
      throw err;
    }
    if (data.dataKey) written.push(data.dataKey);
    const table: SnapshotTable = {
      schema: catalog.schema,
      table: catalog.table,
      oid: catalog.oid,
      kind: catalog.kind,
      columns: catalog.columns,
      primaryKey: catalog.primaryKey,
      indexes: catalog.indexes,
      replicaIdentity: catalog.replicaIdentity,
      partitionKey: catalog.partitionKey,
      partitionOf: catalog.partitionOf,
      ...data,
    };
    const manifest: TableSnapshotManifest = {
      formatVersion: 1,
      kind: 'table',
      source: opts.source,
      startLsn: formatLsn(startLsn),
      createdAt: new Date().toISOString(),
      serverVersion: Number(at.rows[0]!.version),
      table,
    };
    const manifestKey = tableSnapshotManifestKey(prefix);
    await opts.store.put(manifestKey, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
    written.push(manifestKey);
    await client.query('COMMIT');
    committed = true;
    opts.logger.info(
      { table: `${opts.schema}.${opts.table}`, rows: data.rows, marker: emitted.rows[0]!.lsn },
      'table snapshot taken',
    );
    return { marker, manifestKey, markerLsn: emitted.rows[0]!.lsn, rows: data.rows };
  } finally {
    if (!committed) {
      await client.query('ROLLBACK').catch(() => {});
      await Promise.all(written.map((k) => opts.store.delete(k).catch(() => {})));
    }
    await client.end().catch(() => {});
  }
}
