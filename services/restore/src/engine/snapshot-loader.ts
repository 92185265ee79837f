import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createSha256,
  isTidemarkError,
  type KeyProvider,
  type ObjectStore,
  type SnapshotManifest,
  type SnapshotTable,
  sha256Hex,
  TidemarkError,
} from '@tidemark/shared';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { EngineLogger } from './engine-logger.js';
import { parseManifest } from './manifest-validator.js';
import { forEachParallel } from './parallel.js';
import type { SnapshotInfo } from './restore-window.js';
import { buildSchemaDdl, type SchemaDdl } from './schema-builder.js';
import { decodedTableData } from './snapshot-table-data.js';
import { displayName, qualifiedName, quoteIdent } from './sql-ident.js';
import { connectTarget, type TargetLocation } from './target-database.js';

/**
 * Loads a base snapshot into an empty target: tables first, then each table's COPY data,
 * several tables at once. A table's data is streamed from the store into COPY while its
 * SHA-256 is computed, inside a transaction that commits only when the hash matches the
 * manifest: data that failed verification is rolled back, never left behind.
 */
export interface LoadSnapshotOptions {
  readonly store: ObjectStore;
  readonly target: TargetLocation;
  readonly snapshot: SnapshotInfo;
  /** connections loading tables at once (default 4) */
  readonly parallelism?: number;
  readonly signal?: AbortSignal;
  readonly logger?: EngineLogger;
  readonly onTableLoaded?: (table: { schema: string; table: string; rows: number }) => void;
  /** opens encrypted table data (tmblock-v1); without it such a table fails with DECRYPT_FAILED */
  readonly keys?: KeyProvider | undefined;
  /** a table restore: the tables to build, renamed (table-selection.ts), from the verified manifest */
  readonly select?: (manifest: SnapshotManifest) => SnapshotManifest;
}

export interface LoadedSnapshot {
  readonly manifest: SnapshotManifest;
  readonly ddl: SchemaDdl;
  readonly tables: number;
  readonly rows: number;
}

export async function loadSnapshot(opts: LoadSnapshotOptions): Promise<LoadedSnapshot> {
  const verified = await fetchVerifiedManifest(opts.store, opts.snapshot);
  const manifest = opts.select ? opts.select(verified) : verified;
  const ddl = buildSchemaDdl(manifest);
  await withClient(opts.target, async (client) => {
    await runInTransaction(client, [...ddl.schemas, ...ddl.tables]);
  });
  // largest first: the long tails overlap instead of trailing at the end
  const withData = manifest.tables.filter((t) => t.dataKey !== null).sort((a, b) => b.bytes - a.bytes);
  const clients: (pg.Client | undefined)[] = [];
  let rows = 0;
  try {
    await forEachParallel(withData, opts.parallelism ?? 4, async (table, w) => {
      opts.signal?.throwIfAborted();
      clients[w] ??= await connectTarget(opts.target);
      const loaded = await loadTable(clients[w], opts.store, table, opts);
      rows += loaded;
      opts.onTableLoaded?.({ schema: table.schema, table: table.table, rows: loaded });
    });
  } finally {
    await Promise.all(clients.map((c) => c?.end().catch(() => {})));
  }
  return { manifest, ddl, tables: withData.length, rows };
}

/** Re-reads manifest.json and checks it is the one the plan was made from (its hash anchors the chain). */
export async function fetchVerifiedManifest(
  store: ObjectStore,
  snapshot: SnapshotInfo,
): Promise<SnapshotManifest> {
  const bytes = await store.get(snapshot.manifestKey);
  const sha = sha256Hex(bytes);
  if (sha !== snapshot.sha256) {
    throw new TidemarkError(
      'SNAPSHOT_CORRUPT',
      `snapshot manifest ${snapshot.manifestKey} changed since the restore was planned (SHA-256 ${sha}, expected ${snapshot.sha256})`,
      { details: { key: snapshot.manifestKey, kind: 'manifest-changed' } },
    );
  }
  return parseManifest(bytes, snapshot.manifestKey, snapshot.source);
}

async function loadTable(
  client: pg.Client,
  store: ObjectStore,
  table: SnapshotTable,
  opts: LoadSnapshotOptions,
): Promise<number> {
  const key = table.dataKey as string;
  const name = displayName(table.schema, table.table);
  const cols = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const hash = createSha256();
  let bytes = 0;
  await client.query('BEGIN');
  let committed = false;
  try {
    const body = await store.getStream(key);
    const copy = client.query(
      copyFrom(`COPY ${qualifiedName(table.schema, table.table)} (${cols}) FROM STDIN`),
    );
    const hashing = async function* () {
      for await (const chunk of body) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        yield chunk;
      }
    };
    try {
      await pipeline(
        Readable.from(decodedTableData(hashing(), table, opts.keys)),
        copy,
        opts.signal ? { signal: opts.signal } : {},
      );
    } catch (err) {
      opts.signal?.throwIfAborted();
      // sealed data that failed its own checks (checksum, decryption) says so itself
      if (isTidemarkError(err, 'SNAPSHOT_CORRUPT') || isTidemarkError(err, 'DECRYPT_FAILED')) throw err;
      // COPY refused the data: corrupt data, or data this target cannot take? The hash decides.
      if ((await hashObject(store, key)) !== table.sha256)
        throw corruptData(key, name, 'does not match its SHA-256', err);
      throw new TidemarkError(
        'RESTORE_FAILED',
        `loading table ${name} from ${key} failed: ${errMessage(err)}`,
        {
          cause: err,
          details: { key, table: name, sqlState: (err as { code?: unknown }).code },
        },
      );
    }
    const digest = hash.digestHex();
    if (digest !== table.sha256)
      throw corruptData(key, name, `has SHA-256 ${digest}, the manifest says ${table.sha256}`);
    if (copy.rowCount !== table.rows)
      opts.logger?.warn(
        { key, table: name, rows: copy.rowCount, manifestRows: table.rows },
        'row count differs from manifest',
      );
    await client.query('COMMIT');
    committed = true;
    opts.logger?.debug?.({ key, table: name, rows: copy.rowCount, bytes }, 'table loaded');
    return copy.rowCount;
  } finally {
    if (!committed) await client.query('ROLLBACK').catch(() => {});
  }
}

async function hashObject(store: ObjectStore, key: string): Promise<string> {
  const hash = createSha256();
  for await (const chunk of await store.getStream(key)) hash.update(chunk);
  return hash.digestHex();
}

function corruptData(key: string, table: string, what: string, cause?: unknown): TidemarkError {
  return new TidemarkError(
    'SNAPSHOT_CORRUPT',
    `snapshot data ${key} of table ${table} ${what}; nothing of it was kept`,
    {
      cause,
      details: { key, table, kind: 'data-checksum' },
    },
  );
}

/** Primary keys go on after the load (building an index once is faster than maintaining it per row). */
export async function addPrimaryKeys(target: TargetLocation, ddl: SchemaDdl, parallelism = 4): Promise<void> {
  const clients: (pg.Client | undefined)[] = [];
  try {
    await forEachParallel(ddl.primaryKeys, parallelism, async (sql, w) => {
      clients[w] ??= await connectTarget(target);
      await clients[w].query(sql);
    });
  } finally {
    await Promise.all(clients.map((c) => c?.end().catch(() => {})));
  }
}

export async function runInTransaction(client: pg.Client, statements: readonly string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw new TidemarkError('RESTORE_FAILED', `creating the tables failed: ${errMessage(err)}`, {
      cause: err,
      details: { sqlState: (err as { code?: unknown }).code },
    });
  }
}

export async function withClient<T>(
  target: TargetLocation,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connectTarget(target);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
