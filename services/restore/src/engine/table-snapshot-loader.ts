import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createSha256,
  isLsnText,
  isTidemarkError,
  type KeyProvider,
  type ObjectStore,
  parseLsn,
  type SnapshotManifest,
  type SnapshotTable,
  snapshotPrefix,
  type TableSnapshotManifest,
  type TableSnapshotMarker,
  TidemarkError,
  tableSnapshotManifestKey,
} from '@tidemark/shared';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { validateManifest } from './manifest-validator.js';
import { buildSchemaDdl } from './schema-builder.js';
import { decodedTableData } from './snapshot-table-data.js';
import { qualifiedName, quoteIdent } from './sql-ident.js';
import { connectTarget, type TargetLocation } from './target-database.js';

/**
 * The restore side of per-table snapshots (core/table-snapshot.ts): at a marker, the
 * table's manifest is read and checked, the table is dropped if the replay created it
 * before and created again from the manifest, and its data loaded with the same checks as
 * a base snapshot's (hashes of the stored bytes and of the COPY text; a table whose data
 * fails them is not kept). A marker whose manifest is missing fails the restore: data the
 * journal says exists must not be silently left out.
 */
export async function readTableSnapshot(
  store: ObjectStore,
  marker: TableSnapshotMarker,
): Promise<TableSnapshotManifest> {
  const key = tableSnapshotManifestKey(marker.prefix);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (err) {
    if (!isTidemarkError(err, 'OBJECT_NOT_FOUND')) throw err;
    throw corrupt(
      key,
      `the journal has a table snapshot of ${marker.schema}.${marker.table} whose manifest is missing`,
    );
  }
  let m: TableSnapshotManifest;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as TableSnapshotManifest;
  } catch (err) {
    throw corrupt(key, `is not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (
    m?.formatVersion !== 1 ||
    m.kind !== 'table' ||
    m.source !== marker.source ||
    typeof m.startLsn !== 'string' ||
    !isLsnText(m.startLsn)
  )
    throw corrupt(key, 'is not a table snapshot manifest of this source');
  const t = m.table;
  if (t?.schema !== marker.schema || t.table !== marker.table || t.oid !== marker.oid)
    throw corrupt(
      key,
      `describes another table than its marker (${marker.schema}.${marker.table}, oid ${marker.oid})`,
    );
  if (t.dataKey !== null && (typeof t.dataKey !== 'string' || !t.dataKey.startsWith(marker.prefix)))
    throw corrupt(key, `names data ${String(t.dataKey)} outside ${marker.prefix}`);
  // the table entry gets the same structural checks as one of a base snapshot's
  const asSnapshot: SnapshotManifest = {
    formatVersion: 1,
    source: m.source,
    lsn: m.startLsn,
    snapshotTime: '0',
    createdAt: m.createdAt,
    serverVersion: m.serverVersion,
    tables: [
      { ...t, dataKey: t.dataKey === null ? null : `${snapshotPrefix(m.source, parseLsn(m.startLsn))}table` },
    ],
  };
  validateManifest(asSnapshot, key, marker.source);
  return m;
}

export interface LoadTableSnapshotOptions {
  readonly store: ObjectStore;
  readonly target: TargetLocation;
  readonly snapshot: TableSnapshotManifest;
  readonly keys?: KeyProvider | undefined;
  readonly signal?: AbortSignal;
}

/** (Re)creates the table in the target and loads its data in one transaction; answers the rows loaded. */
export async function loadTableSnapshot(opts: LoadTableSnapshotOptions): Promise<number> {
  const client = await connectTarget(opts.target);
  try {
    await client.query('BEGIN');
    try {
      const rows = await replaceTable(client, opts.store, opts.snapshot, opts.keys, opts.signal);
      await client.query('COMMIT');
      return rows;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Inside the caller's transaction (the replay's batch, so the table changes at the
 * marker's place in commit order): drops the table if it exists, creates it from the
 * manifest, loads the data through COPY and adds the primary key. Throws
 * SNAPSHOT_CORRUPT / DECRYPT_FAILED when the data fails its checks; the caller's
 * transaction then keeps nothing of it.
 */
export async function replaceTable(
  client: pg.Client,
  store: ObjectStore,
  snapshot: TableSnapshotManifest,
  keys: KeyProvider | undefined,
  signal?: AbortSignal,
): Promise<number> {
  const t = snapshot.table;
  const ddl = buildSchemaDdl({
    formatVersion: 1,
    source: snapshot.source,
    lsn: snapshot.startLsn,
    snapshotTime: '0',
    createdAt: snapshot.createdAt,
    serverVersion: snapshot.serverVersion,
    tables: [t],
  });
  try {
    await client.query(`DROP TABLE IF EXISTS ${qualifiedName(t.schema, t.table)} CASCADE`);
    for (const sql of [...ddl.schemas, ...ddl.tables]) await client.query(sql);
  } catch (err) {
    throw new TidemarkError(
      'RESTORE_FAILED',
      `creating table ${t.schema}.${t.table} from its table snapshot failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const rows = t.dataKey === null ? 0 : await copyChecked(client, store, t, keys, signal);
  for (const sql of ddl.primaryKeys) await client.query(sql);
  return rows;
}

/** COPY FROM the stored object, checking the SHA-256 of the stored bytes (and, sealed, of the COPY text). */
async function copyChecked(
  client: pg.Client,
  store: ObjectStore,
  t: SnapshotTable,
  keys: KeyProvider | undefined,
  signal: AbortSignal | undefined,
): Promise<number> {
  const key = t.dataKey as string;
  const hash = createSha256();
  const body = await store.getStream(key);
  async function* hashing(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      hash.update(chunk);
      yield chunk;
    }
  }
  const cols = t.columns.map((c) => quoteIdent(c.name)).join(', ');
  const copy = client.query(copyFrom(`COPY ${qualifiedName(t.schema, t.table)} (${cols}) FROM STDIN`));
  try {
    await pipeline(Readable.from(decodedTableData(hashing(), t, keys)), copy, signal ? { signal } : {});
  } catch (err) {
    if (isTidemarkError(err)) throw err;
    throw new TidemarkError(
      'RESTORE_FAILED',
      `loading the table snapshot of ${t.schema}.${t.table} from ${key} failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, details: { key } },
    );
  }
  const digest = hash.digestHex();
  if (digest !== t.sha256)
    throw new TidemarkError(
      'SNAPSHOT_CORRUPT',
      `table snapshot data ${key} of ${t.schema}.${t.table} has SHA-256 ${digest}, its manifest says ${t.sha256}; nothing of it was kept`,
      { details: { key, kind: 'data-checksum' } },
    );
  return copy.rowCount;
}

function corrupt(key: string, what: string): TidemarkError {
  return new TidemarkError('SNAPSHOT_CORRUPT', `table snapshot manifest ${key} ${what}`, {
    details: { key, kind: 'table-snapshot' },
  });
}
