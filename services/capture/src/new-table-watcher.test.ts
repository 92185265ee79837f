import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  encodeTableSnapshotMarker,
  initChecksums,
  LocalObjectStore,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TransactionRecord,
  tableSnapshotPrefix,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseSnapshot } from './base-snapshot.js';
import { silentLogger } from './capture-logger.js';
import { NewTableWatcher } from './new-table-watcher.js';
import { createDatabase, type PostgresCluster, sql, startPostgres } from './test-support/source-fixture.js';

describe('new table watcher', () => {
  let cluster: PostgresCluster;
  let dir: string;
  beforeAll(async () => {
    await initChecksums();
    cluster = await startPostgres({ flavor: 'debian15' });
    dir = await mkdtemp(path.join(tmpdir(), 'tidemark-new-tables-'));
  });
  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('takes a table snapshot of each table that joins the publication, once', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table early (id int primary key); create publication pub for table early;');
    const store = new LocalObjectStore(dir);
    const base = await ensureBaseSnapshot({
      sourceUrl: url,
      source: 'src',
      slotName: 'watch_slot',
      publicationName: 'pub',
      store,
      logger: silentLogger,
    });
    const watcher = new NewTableWatcher({
      sourceUrl: url,
      source: 'src',
      publicationName: 'pub',
      store,
      logger: silentLogger,
      sealing: { compress: true },
      manifestKey: base.manifestKey,
      intervalMs: 0,
    });
    expect(await watcher.check()).toEqual([]);
    await sql(
      url,
      `create table late (id int primary key, v text); insert into late values (1, 'a');
       create table part (k int not null, id int not null, primary key (k, id)) partition by range (k);
       create table part_1 partition of part for values from (0) to (10);
       alter publication pub add table late, part;`,
    );
    expect((await watcher.check()).sort((a, b) => a.localeCompare(b))).toEqual([
      'public.late',
      'public.part_1',
    ]);
    expect(await watcher.check()).toEqual([]);
    // a new watcher (a capture restart) finds the table snapshots in the store
    const again = new NewTableWatcher({
      sourceUrl: url,
      source: 'src',
      publicationName: 'pub',
      store,
      logger: silentLogger,
      sealing: { compress: true },
      manifestKey: base.manifestKey,
      intervalMs: 0,
    });
    expect(await again.check()).toEqual([]);
    await sql(url, `select pg_drop_replication_slot('watch_slot')`);

    // the journal's view: changes to late are left out until its marker passes
    const [late] = (await sql(url, `select 'late'::regclass::oid::int as oid`)).rows as { oid: number }[];
    const rel = {
      oid: late!.oid,
      schema: 'public',
      table: 'late',
      replicaIdentity: 'default' as const,
      columns: [],
    };
    const tx = (changes: TransactionRecord['changes']): TransactionRecord => ({
      source: 'src',
      xid: 1,
      commitLsn: 1n,
      endLsn: 2n,
      commitTime: 0n,
      relations: [rel],
      changes,
    });
    const insert = { op: 'insert' as const, rel: 0, new: { values: ['2', 'b'] } };
    // a capture that knows only the base snapshot
    const baseOnly = new LocalObjectStore(path.join(dir, 'base-only'));
    await baseOnly.put(base.manifestKey, await store.get(base.manifestKey));
    const fresh = new NewTableWatcher({
      sourceUrl: url,
      source: 'src',
      publicationName: 'pub',
      store: baseOnly,
      logger: silentLogger,
      sealing: { compress: true },
      manifestKey: base.manifestKey,
      intervalMs: 0,
    });
    await fresh.stop(); // no checks in the background: only the filter is under test
    await fresh.init();
    expect(fresh.filter(tx([insert])).changes).toEqual([]);
    const marker = {
      op: 'message' as const,
      prefix: TABLE_SNAPSHOT_MESSAGE_PREFIX,
      transactional: true,
      content: new TextEncoder().encode(
        encodeTableSnapshotMarker({
          formatVersion: 1,
          source: 'src',
          schema: 'public',
          table: 'late',
          oid: late!.oid,
          prefix: tableSnapshotPrefix('src', 0x100n, late!.oid),
        }),
      ),
    };
    expect(fresh.filter(tx([marker])).changes).toEqual([marker]);
    expect(fresh.filter(tx([insert])).changes).toEqual([insert]);
  }, 60_000);
});
