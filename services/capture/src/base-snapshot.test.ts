import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  formatLsn,
  initChecksums,
  LocalObjectStore,
  type ObjectStore,
  type SnapshotManifest,
  sha256Hex,
  snapshotManifestKey,
  xxh64Hex,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseSnapshot } from './base-snapshot.js';
import { silentLogger } from './capture-logger.js';
import { connectSql } from './pg-connection.js';
import { ensurePublication } from './source-setup.js';
import { startCapture } from './test-support/capture-harness.js';
import { MemoryStore } from './test-support/memory-store.js';
import {
  createDatabase,
  FLAVORS,
  type PostgresCluster,
  sql,
  startPostgres,
} from './test-support/source-fixture.js';

const SCHEMA = `
  create table items (id bigint primary key, name text not null default 'unnamed', price numeric(12,2),
                      created timestamptz default now(), tags text[], doubled int generated always as (id * 2) stored);
  insert into items (id, name, price, tags) values (1, 'a', 1.50, '{x,"y z"}'), (2, E'multi\\nline\\ttab', null, null);
  create table events (id int, k int, payload jsonb, primary key (id, k)) partition by range (k);
  create table events_lo partition of events for values from (0) to (100);
  create table events_hi partition of events for values from (100) to (maxvalue) partition by list (id);
  create table events_hi_1 partition of events_hi for values in (1);
  insert into events values (1, 5, '{"b":1,"a":2}'), (1, 500, null);
  create table empty_one (id int primary key);`;

describe.concurrent.each(FLAVORS)('base snapshot on %s', (flavor) => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres({ flavor });
    await initChecksums();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  async function prepared(): Promise<{ url: string; slot: string }> {
    const url = await createDatabase(cluster);
    await sql(url, SCHEMA);
    const client = await connectSql(url);
    try {
      await ensurePublication(client, {
        publicationName: 'pub',
        tablesWithoutKey: 'refuse',
        logger: silentLogger,
      });
    } finally {
      await client.end();
    }
    return { url, slot: `snap_${new URL(url).pathname.slice(1)}` };
  }

  const options = (url: string, slot: string, store: ObjectStore) => ({
    sourceUrl: url,
    source: 'src',
    slotName: slot,
    publicationName: 'pub',
    store,
    logger: silentLogger,
  });

  it('writes table data with checksums, then the manifest last', async () => {
    const { url, slot } = await prepared();
    const store = new MemoryStore();
    const result = await ensureBaseSnapshot(options(url, slot, store));
    expect(result.created).toBe(true);
    expect(result.manifestKey).toBe(snapshotManifestKey('src', result.lsn));
    expect(store.putOrder.at(-1)).toBe(result.manifestKey);

    const manifest = JSON.parse(store.text(result.manifestKey)) as SnapshotManifest;
    expect(manifest).toMatchObject({ formatVersion: 1, source: 'src', lsn: formatLsn(result.lsn) });
    expect(Math.floor(manifest.serverVersion / 10_000)).toBe(cluster.majorVersion);
    const snapshotMs = Number(BigInt(manifest.snapshotTime) / 1000n);
    expect(Math.abs(snapshotMs - Date.now())).toBeLessThan(60_000);

    const names = manifest.tables.map((t) => `${t.table}:${t.kind}:${t.partitionOf?.table ?? '-'}`);
    expect(names).toEqual([
      'empty_one:table:-',
      'events:partitioned:-',
      'events_hi:partitioned:events',
      'events_lo:table:events',
      'events_hi_1:table:events_hi',
      'items:table:-',
    ]);
    const events = manifest.tables.find((t) => t.table === 'events')!;
    expect(events).toMatchObject({
      partitionKey: 'RANGE (k)',
      dataKey: null,
      rows: 0,
      primaryKey: ['id', 'k'],
    });
    expect(manifest.tables.find((t) => t.table === 'events_lo')!.partitionOf).toEqual({
      schema: 'public',
      table: 'events',
      bound: 'FOR VALUES FROM (0) TO (100)',
    });
    expect(manifest.tables.find((t) => t.table === 'events_hi')!.partitionKey).toBe('LIST (id)');

    const items = manifest.tables.find((t) => t.table === 'items')!;
    expect(items.columns).toEqual([
      { name: 'id', type: 'bigint', typeOid: 20, notNull: true, default: null, attnum: 1 },
      { name: 'name', type: 'text', typeOid: 25, notNull: true, default: "'unnamed'::text", attnum: 2 },
      { name: 'price', type: 'numeric(12,2)', typeOid: 1700, notNull: false, default: null, attnum: 3 },
      {
        name: 'created',
        type: 'timestamp with time zone',
        typeOid: 1184,
        notNull: false,
        default: 'now()',
        attnum: 4,
      },
      { name: 'tags', type: 'text[]', typeOid: 1009, notNull: false, default: null, attnum: 5 },
    ]);
    expect(items).toMatchObject({ primaryKey: ['id'], replicaIdentity: 'default', rows: 2 });
    const data = store.text(items.dataKey!);
    expect(data).toMatch(
      /^1\ta\t1\.50\t\d{4}-\d\d-\d\d [\d:.]+\+00\t\{x,"y z"\}\n2\tmulti\\nline\\ttab\t\\N\t/,
    );
    for (const t of manifest.tables.filter((x) => x.kind === 'table')) {
      const bytes = store.objects.get(t.dataKey!)!.data;
      expect(t.bytes).toBe(bytes.length);
      expect(t.sha256).toBe(sha256Hex(bytes));
      expect(t.xxh64).toBe(xxh64Hex(bytes));
    }
    expect(manifest.tables.find((t) => t.table === 'empty_one')).toMatchObject({ rows: 0, bytes: 0 });
    expect(manifest.tables.find((t) => t.table === 'events_hi_1')).toMatchObject({ rows: 1 });
    expect(store.text(manifest.tables.find((t) => t.table === 'events_lo')!.dataKey!)).toBe(
      '1\t5\t{"a": 2, "b": 1}\n',
    );
  });

  it('is exactly the state at the consistent point: later commits arrive through the slot, not the data', async () => {
    const { url } = await prepared();
    const store = new MemoryStore();
    let injected = false;
    store.beforePutComplete = async () => {
      // commits while the snapshot is being copied: after the consistent point
      if (injected) return;
      injected = true;
      await sql(
        url,
        `insert into items (id, name) values (3, 'late'); update items set name = 'renamed' where id = 1`,
      );
    };
    const h = await startCapture(url, { store, publicationName: 'pub' });
    try {
      await h.sync();
      const manifest = JSON.parse(
        store.text(snapshotManifestKey('src', h.capture.status.snapshotLsn!)),
      ) as SnapshotManifest;
      const items = manifest.tables.find((t) => t.table === 'items')!;
      const data = store.text(items.dataKey!);
      expect(data).not.toContain('late');
      expect(data).not.toContain('renamed');
      const ops = h.sink
        .rows()
        .filter((r) => r.table === 'items')
        .map((r) => r.op);
      expect(ops).toEqual(['insert', 'update']);
    } finally {
      await h.capture.stop();
    }
  });

  it('skips when slot and manifest exist; starts over when the slot has no manifest', async () => {
    const { url, slot } = await prepared();
    const store = new MemoryStore();
    const first = await ensureBaseSnapshot(options(url, slot, store));
    const again = await ensureBaseSnapshot(options(url, slot, store));
    expect(again).toEqual({ ...first, created: false });

    // a snapshot that died half-way leaves a slot without a manifest
    const other = new MemoryStore();
    const redone = await ensureBaseSnapshot(options(url, slot, other));
    expect(redone.created).toBe(true);
    expect(redone.lsn).toBeGreaterThan(first.lsn);
    expect(other.putOrder.at(-1)).toBe(redone.manifestKey);
  });

  it('drops the slot when the copy fails, and leaves no manifest', async () => {
    const { url, slot } = await prepared();
    const store = new MemoryStore();
    store.beforePutComplete = (key) => {
      if (key.endsWith('.copy')) throw new Error('disk full');
    };
    await expect(ensureBaseSnapshot(options(url, slot, store))).rejects.toThrow('disk full');
    expect([...store.objects.keys()].some((k) => k.endsWith('manifest.json'))).toBe(false);
    const slots = await sql(url, 'select count(*)::int as n from pg_replication_slots where slot_name = $1', [
      slot,
    ]);
    expect(slots.rows[0]).toEqual({ n: 0 });
  });

  it('streams a large table into a LocalObjectStore with bounded batches', async () => {
    const { url, slot } = await prepared();
    await sql(
      url,
      `insert into items (id, name, tags) select g, repeat(md5(g::text), 8), array[g::text, null]
         from generate_series(10, 60009) g`,
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'tidemark-snap-'));
    try {
      const store = new LocalObjectStore(dir);
      const result = await ensureBaseSnapshot(options(url, slot, store));
      const manifest = JSON.parse(
        new TextDecoder().decode(await store.get(result.manifestKey)),
      ) as SnapshotManifest;
      const items = manifest.tables.find((t) => t.table === 'items')!;
      expect(items.rows).toBe(60_002);
      const data = await store.get(items.dataKey!);
      expect(items.bytes).toBe(data.length);
      expect(items.bytes).toBeGreaterThan(16_000_000);
      expect(items.sha256).toBe(sha256Hex(data));
      expect(items.xxh64).toBe(xxh64Hex(data));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
