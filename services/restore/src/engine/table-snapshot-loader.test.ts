import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  putSnapshotTableData,
  type TableSnapshotManifest,
  type TableSnapshotMarker,
  tableSnapshotDataKey,
  tableSnapshotManifestKey,
  tableSnapshotPrefix,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTableSnapshot, readTableSnapshot } from './table-snapshot-loader.js';
import { parseTargetUrl } from './target-database.js';
import { column, table } from './testing/manifest-fixture.js';

/** The restore side of a per-table snapshot: find it from its marker, replace the table with it. */
let cluster: PostgresCluster;
let dir: string;
let store: LocalObjectStore;
const prefix = tableSnapshotPrefix('app', 0x200_0000n, 16390);
const marker: TableSnapshotMarker = {
  formatVersion: 1,
  source: 'app',
  schema: 'public',
  table: 'late',
  oid: 16390,
  prefix,
};

async function* copyText(): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode('1\tone\n2\t\\N\n3\ttab\\there\n');
}

async function query(db: string, text: string): Promise<unknown[]> {
  const c = new pg.Client({ connectionString: cluster.url(db), options: textFormatStartupOptions() });
  await c.connect();
  try {
    return (await c.query({ text, rowMode: 'array' })).rows;
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-table-snapshot-load-'));
  store = new LocalObjectStore(dir);
  const data = await putSnapshotTableData(
    store,
    { key: (encoding) => tableSnapshotDataKey(prefix, encoding) },
    copyText(),
    { compress: true },
  );
  const manifest: TableSnapshotManifest = {
    formatVersion: 1,
    kind: 'table',
    source: 'app',
    startLsn: '0/2000000',
    createdAt: new Date().toISOString(),
    serverVersion: 150000,
    table: {
      ...table('public', 'late', [column('id', 'integer', { notNull: true }), column('v')], {
        oid: 16390,
        primaryKey: ['id'],
      }),
      ...data,
    },
  };
  await store.put(tableSnapshotManifestKey(prefix), new TextEncoder().encode(JSON.stringify(manifest)));
  await query('postgres', 'CREATE DATABASE target');
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('table snapshot loader', () => {
  it('replaces what the replay made of the table with the snapshot', async () => {
    await query('target', 'CREATE TABLE late (id integer, v text); INSERT INTO late VALUES (99, $$stale$$)');
    const snapshot = await readTableSnapshot(store, marker);
    const rows = await loadTableSnapshot({ store, target: parseTargetUrl(cluster.url('target')), snapshot });
    expect(rows).toBe(3);
    expect(await query('target', 'SELECT id, v FROM late ORDER BY id')).toEqual([
      [1, 'one'],
      [2, null],
      [3, 'tab\there'],
    ]);
    expect(
      await query('target', `SELECT conname FROM pg_constraint WHERE conrelid = 'late'::regclass`),
    ).toEqual([['late_pkey']]);
  }, 30_000);

  it('refuses a missing or foreign manifest, and damaged data', async () => {
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
        return undefined;
      } catch (err) {
        return isTidemarkError(err) ? err.code : String(err);
      }
    };
    expect(
      await code(readTableSnapshot(store, { ...marker, prefix: tableSnapshotPrefix('app', 1n, 16390) })),
    ).toBe('SNAPSHOT_CORRUPT');
    expect(await code(readTableSnapshot(store, { ...marker, table: 'other' }))).toBe('SNAPSHOT_CORRUPT');
    const snapshot = await readTableSnapshot(store, marker);
    const file = path.join(dir, snapshot.table.dataKey!);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    damaged[damaged.byteLength - 3]! ^= 0xff;
    await writeFile(file, damaged);
    try {
      expect(
        await code(loadTableSnapshot({ store, target: parseTargetUrl(cluster.url('target')), snapshot })),
      ).toBe('SNAPSHOT_CORRUPT');
      // one transaction: the table is as it was before, nothing of the damaged data was kept
      expect(await query('target', 'SELECT count(*)::int FROM late')).toEqual([[3]]);
    } finally {
      await writeFile(file, original);
    }
  }, 30_000);
});
