import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  LocalObjectStore,
  openTableData,
  parseTableSnapshotMarker,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TableSnapshotManifest,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './capture-logger.js';
import { connectSql } from './pg-connection.js';
import { takeTableSnapshot } from './table-snapshot.js';
import { createDatabase, type PostgresCluster, sql, startPostgres } from './test-support/source-fixture.js';

/**
 * A table snapshot is one source transaction: lock, marker, copy, commit. Checked with a
 * test_decoding slot: the marker sits after every commit the copy contains and before
 * every commit it does not.
 */
describe('table snapshot', () => {
  let cluster: PostgresCluster;
  let dir: string;
  beforeAll(async () => {
    await initChecksums();
    cluster = await startPostgres({ flavor: 'debian15' });
    dir = await mkdtemp(path.join(tmpdir(), 'tidemark-table-snapshot-'));
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('copies exactly the rows committed before its marker, and writers wait for it', async () => {
    const url = await createDatabase(cluster);
    await sql(
      url,
      `create table late (id int primary key, v text);
       insert into late select g, 'row ' || g from generate_series(1, 1000) g;
       create publication pub for table late;`,
    );
    await sql(url, `select pg_create_logical_replication_slot('watch', 'test_decoding')`);
    const store = new LocalObjectStore(dir);
    // a writer in flight when the snapshot starts: the lock waits for it, so its row is in
    const before = await connectSql(url);
    await before.query('begin');
    await before.query(`insert into late values (1001, 'committed before the marker')`);
    const taking = takeTableSnapshot({
      sourceUrl: url,
      source: 'src',
      publicationName: 'pub',
      store,
      logger: silentLogger,
      sealing: { compress: true },
      schema: 'public',
      table: 'late',
    });
    await new Promise((r) => setTimeout(r, 300));
    // a writer that arrives while the snapshot holds (or waits for) the lock waits for its commit
    const after = await connectSql(url);
    const blocked = after.query(`insert into late values (1002, 'committed after the marker')`);
    await before.query('commit');
    const result = await taking;
    await blocked;
    await before.end();
    await after.end();

    expect(result.rows).toBe(1001);
    expect(result.marker).toMatchObject({ source: 'src', schema: 'public', table: 'late' });
    const manifest = JSON.parse(
      await readFile(path.join(dir, result.manifestKey), 'utf8'),
    ) as TableSnapshotManifest;
    expect(manifest.table).toMatchObject({
      table: 'late',
      oid: result.marker.oid,
      rows: 1001,
      encoding: 'tmblock-v1',
    });
    const copied = Buffer.concat(
      await collect(
        openTableData(await store.getStream(manifest.table.dataKey!), { objectKey: manifest.table.dataKey! }),
      ),
    ).toString();
    expect(copied).toContain('1001\tcommitted before the marker\n');
    expect(copied).not.toContain('1002');

    // commit order as logical decoding sees it: insert 1001's commit, the marker, insert 1002
    const { rows } = await sql(url, `select data from pg_logical_slot_get_changes('watch', null, null)`);
    const lines = (rows as { data: string }[]).map((r) => r.data);
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
    const marker = at(`prefix: ${TABLE_SNAPSHOT_MESSAGE_PREFIX}`);
    expect(marker).toBeGreaterThan(at('1001'));
    expect(marker).toBeLessThan(at('1002'));
    const content = /content:\s*(.*)$/.exec(lines[marker]!)?.[1] ?? '';
    expect(parseTableSnapshotMarker(new TextEncoder().encode(content), 'src')).toEqual(result.marker);
  }, 60_000);

  it('leaves no marker and no objects when the table is not published', async () => {
    const url = await createDatabase(cluster);
    await sql(
      url,
      `create table other (id int primary key); create publication pub for table other;
                    create table loose (id int primary key);`,
    );
    const store = new LocalObjectStore(path.join(dir, 'second'));
    await expect(
      takeTableSnapshot({
        sourceUrl: url,
        source: 'src',
        publicationName: 'pub',
        store,
        logger: silentLogger,
        sealing: { compress: true },
        schema: 'public',
        table: 'loose',
      }),
    ).rejects.toThrow(/not in publication pub/);
    const listed = await collect(store.list('src/'));
    expect(listed).toEqual([]);
  }, 60_000);
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
