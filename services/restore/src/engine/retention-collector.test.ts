import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  encodeLease,
  formatLsn,
  initChecksums,
  LocalObjectStore,
  leaseKey,
  parseRetentionDuration,
  RetentionLockingStore,
  snapshotManifestKey,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { RetentionCollector } from './retention-collector.js';
import { relationOf, TxBuilder, writeSegments, writeSnapshot } from './testing/journal-fixture.js';

/** The collector's I/O on a real directory: Object Lock, unreadable leases, no retention. */
const T0 = 1_714_557_600_000_000n;
let dir: string;
beforeAll(async () => {
  await initChecksums();
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-collector-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A base snapshot, 4 segments, and a second base-chain snapshot after the second segment. */
async function journal(store: LocalObjectStore | RetentionLockingStore) {
  const table = { schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] };
  const snap = await writeSnapshot(store, { source: 'app', lsn: 0x1000n, snapshotTime: T0, tables: [table] });
  const rel = relationOf(16384, 'public', 't', [['id', true]]);
  const b = new TxBuilder('app', 0x1000n, T0);
  const txs = Array.from({ length: 4 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i)] } }]),
  );
  const segments = await writeSegments(store, {
    source: 'app',
    snapshotLsn: 0x1000n,
    prevSha256: snap.sha256,
    groups: txs.map((t) => [t]),
  });
  const second = await writeSnapshot(store, {
    source: 'app',
    lsn: txs[1]!.commitLsn,
    snapshotTime: txs[1]!.commitTime,
    tables: [table],
  });
  return { segments, second };
}

const collector = (store: LocalObjectStore | RetentionLockingStore, retention = '1h') =>
  new RetentionCollector({
    store,
    catalog: new JournalCatalog(store),
    retention: () => parseRetentionDuration(retention) ?? null,
    logger: silentLogger,
  });

describe('RetentionCollector', () => {
  it('skips and reports objects under Object Lock, keeping a snapshot whose manifest is locked whole', async () => {
    const store = new RetentionLockingStore(new LocalObjectStore(path.join(dir, 'locked')), 1);
    const { segments } = await journal(store);
    const report = await collector(store).collect('app');
    expect(report.objects).toBe(0);
    expect(report.locked.map((l) => l.key)).toEqual([
      snapshotManifestKey('app', 0x1000n),
      segments[0]!.key,
      segments[1]!.key,
    ]);
    expect(report.locked[0]!.retainUntil).toMatch(/^\d{4}-/);
    const catalog = new JournalCatalog(store);
    expect((await catalog.listSnapshots('app')).map((s) => s.lsn)).toContain(formatLsn(0x1000n));
  });

  it('treats an unreadable lease as holding everything, and a source without retention as kept whole', async () => {
    const store = new LocalObjectStore(path.join(dir, 'leases'));
    await journal(store);
    await store.put(leaseKey('app', 'r_garbled'), new TextEncoder().encode('{not json'));
    const held = await collector(store).collect('app');
    expect(held).toMatchObject({ objects: 0, heldBy: ['_leases/app/r_garbled.json'] });
    await store.delete(leaseKey('app', 'r_garbled'));
    // an expired lease holds nothing
    await store.put(
      leaseKey('app', 'r_old'),
      encodeLease({ source: 'app', holder: 'r_old', snapshotLsn: 0x1000n, expiresAtMs: 1000, nowMs: 0 }),
    );
    const off = await collector(store, 'off').collect('app');
    expect(off).toMatchObject({ retention: null, objects: 0 });
    expect(off.notes.join(' ')).toMatch(/no retention/);
    const done = await collector(store).collect('app');
    expect(done).toMatchObject({ snapshots: 1, segments: 2, heldBy: [] });
  });
});
