import {
  formatLsn,
  initChecksums,
  type Lsn,
  type ObjectStore,
  parseLsn,
  type SnapshotManifest,
  type SnapshotTable,
  type SnapshotTableSealing,
  snapshotManifestKey,
  snapshotsPrefix,
  TidemarkError,
} from '@tidemark/shared';
import pg from 'pg';
import type { CaptureLogger } from './capture-logger.js';
import {
  connectSql,
  qualifiedName,
  quoteIdent,
  quoteLiteral,
  replicationClientConfig,
} from './pg-connection.js';
import { readPublishedTables } from './snapshot-catalog.js';
import { readSequences } from './snapshot-sequences.js';
import { copyTable } from './snapshot-table-copy.js';

/**
 * The initial base snapshot. The slot is created with an exported snapshot, so the table
 * data read under that snapshot is exactly the state at the slot's consistent point: every
 * transaction that committed before it is in the data, every later one arrives through the
 * slot. `manifest.json` is written last; until it exists the snapshot does not exist.
 */
export interface BaseSnapshotOptions {
  readonly sourceUrl: string;
  readonly source: string;
  readonly slotName: string;
  readonly publicationName: string;
  readonly store: ObjectStore;
  readonly logger: CaptureLogger;
  /** how table data objects are stored (zstd blocks, encryption); absent: plain COPY text */
  readonly sealing?: SnapshotTableSealing;
}

export interface BaseSnapshotResult {
  /** consistent point of the slot = the snapshot's LSN */
  readonly lsn: Lsn;
  readonly manifestKey: string;
  /** false when slot and manifest already existed */
  readonly created: boolean;
}

export async function ensureBaseSnapshot(opts: BaseSnapshotOptions): Promise<BaseSnapshotResult> {
  const client = await connectSql(opts.sourceUrl);
  try {
    const slot = await client.query<{
      plugin: string | null;
      database: string | null;
      confirmed: string | null;
      here: string;
    }>(
      `select plugin, database, confirmed_flush_lsn::text as confirmed, current_database() as here
         from pg_replication_slots where slot_name = $1`,
      [opts.slotName],
    );
    const row = slot.rows[0];
    if (row) {
      if (row.plugin !== 'pgoutput' || row.database !== row.here || row.confirmed === null) {
        throw new TidemarkError(
          'SOURCE_NOT_READY',
          `replication slot "${opts.slotName}" exists but is not a pgoutput slot of database ${row.here}; ` +
            'drop it or configure another slot name',
          { details: { plugin: row.plugin, database: row.database } },
        );
      }
      const existing = await findManifest(opts.store, opts.source, parseLsn(row.confirmed));
      if (existing) return { ...existing, created: false };
      // a slot without a manifest: a snapshot was interrupted; its exported snapshot is gone
      opts.logger.warn(
        { slot: opts.slotName },
        'slot exists without a base snapshot: dropping it and starting over',
      );
      await client.query('select pg_drop_replication_slot($1)', [opts.slotName]);
    }
  } finally {
    await client.end();
  }
  return takeSnapshot(opts);
}

/**
 * The snapshot of this slot: at its confirmed position when streaming never confirmed
 * anything, else the newest one before it (streaming starts only after the manifest exists).
 */
async function findManifest(
  store: ObjectStore,
  source: string,
  confirmed: Lsn,
): Promise<Omit<BaseSnapshotResult, 'created'> | undefined> {
  const exact = snapshotManifestKey(source, confirmed);
  if (await store.head(exact)) return { lsn: confirmed, manifestKey: exact };
  let best: Omit<BaseSnapshotResult, 'created'> | undefined;
  for await (const obj of store.list(snapshotsPrefix(source))) {
    const m = /\/base\/([0-9A-F]{16})\/manifest\.json$/.exec(obj.key);
    if (!m) continue;
    const lsn = parseLsn(m[1]!);
    if (lsn < confirmed && (!best || lsn > best.lsn)) best = { lsn, manifestKey: obj.key };
  }
  return best;
}

async function takeSnapshot(opts: BaseSnapshotOptions): Promise<BaseSnapshotResult> {
  await initChecksums();
  const repl = new pg.Client(replicationClientConfig(opts.sourceUrl));
  repl.on('error', (err) => opts.logger.warn({ err }, 'snapshot replication connection error'));
  await repl.connect();
  let slotCreated = false;
  try {
    const created = await repl.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(opts.slotName)} LOGICAL pgoutput EXPORT_SNAPSHOT`,
    );
    slotCreated = true;
    const { consistent_point, snapshot_name } = created.rows[0]!;
    const lsn = parseLsn(consistent_point);
    opts.logger.info(
      { slot: opts.slotName, lsn: consistent_point },
      'replication slot created; copying base snapshot',
    );
    // the exported snapshot lives as long as this connection runs no other command: it stays
    // open and idle until the snapshot transaction is done
    const manifest = await copySnapshot(opts, lsn, snapshot_name);
    await repl.end().catch(() => undefined);
    const body = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
    const manifestKey = snapshotManifestKey(opts.source, lsn);
    // written last: publishes the snapshot
    await opts.store.put(manifestKey, body);
    opts.logger.info({ lsn: consistent_point, tables: manifest.tables.length }, 'base snapshot published');
    return { lsn, manifestKey, created: true };
  } catch (err) {
    if (slotCreated) await dropSlotQuietly(opts);
    throw err;
  } finally {
    await repl.end().catch(() => undefined);
  }
}

async function copySnapshot(
  opts: BaseSnapshotOptions,
  lsn: Lsn,
  snapshotName: string,
): Promise<SnapshotManifest> {
  const client = await connectSql(opts.sourceUrl, (err) =>
    opts.logger.warn({ err }, 'snapshot connection error'),
  );
  try {
    const clock = await client.query<{ micros: string; version: string }>(
      `select ((extract(epoch from clock_timestamp()) * 1000000)::numeric(24, 0))::text as micros,
              current_setting('server_version_num') as version`,
    );
    await client.query('begin isolation level repeatable read read only');
    await client.query(`set transaction snapshot ${quoteLiteral(snapshotName)}`);
    const catalog = await readPublishedTables(client, opts.publicationName);
    const dataTables = catalog.filter((t) => t.kind === 'table');
    if (dataTables.length > 0) {
      // as pg_dump does: no concurrent DROP or ALTER of a table while we read it
      const names = dataTables.map((t) => qualifiedName(t.schema, t.table)).join(', ');
      await client.query(`lock table ${names} in access share mode`);
    }
    const tables: SnapshotTable[] = [];
    for (const [index, t] of catalog.entries()) {
      tables.push(
        await copyTable(
          client,
          {
            store: opts.store,
            source: opts.source,
            lsn,
            index,
            logger: opts.logger,
            ...(opts.sealing ? { sealing: opts.sealing } : {}),
          },
          t,
        ),
      );
    }
    const sequences = await readSequences(client);
    await client.query('commit');
    return {
      formatVersion: 1,
      source: opts.source,
      lsn: formatLsn(lsn),
      snapshotTime: clock.rows[0]!.micros,
      createdAt: new Date().toISOString(),
      serverVersion: Number(clock.rows[0]!.version),
      tables,
      sequences,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropSlotQuietly(opts: BaseSnapshotOptions): Promise<void> {
  try {
    const client = await connectSql(opts.sourceUrl);
    try {
      // the replication connection that created it may still hold it for a moment
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await client.query<{ active: boolean }>(
          'select active from pg_replication_slots where slot_name = $1',
          [opts.slotName],
        );
        if (!res.rows[0]) return;
        if (!res.rows[0].active) {
          await client.query('select pg_drop_replication_slot($1)', [opts.slotName]);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await client.end();
    }
  } catch (err) {
    opts.logger.warn(
      { err, slot: opts.slotName },
      'could not drop the slot of a failed snapshot; it is dropped on the next start',
    );
  }
}
