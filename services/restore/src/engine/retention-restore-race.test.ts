import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  formatLsn,
  initChecksums,
  LocalObjectStore,
  type ObjectStore,
  parseRetentionDuration,
  type RetentionDuration,
  sha256Hex,
  snapshotManifestKey,
  type TransactionRecord,
  textFormatStartupOptions,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { RestoreLeases } from './journal-leases.js';
import { RestoreRunner } from './restore-runner.js';
import { RetentionCollector } from './retention-collector.js';
import {
  relationOf,
  TxBuilder,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';

/**
 * A real restore (PostgreSQL, the real executor) runs while the garbage collector is
 * triggered with a window that has moved past the restore's snapshot: the restore's lease
 * keeps everything it reads, the restore succeeds with exactly the state at its target,
 * and once it ended the next collection deletes what the window no longer needs.
 */
const T0 = 1_714_557_600_000_000n; // 2024-05-01T10:00:00Z
const MIN = 60_000_000n;
const SOURCE = 'app';
const rel = relationOf(16384, 'public', 't', [['id', true], 'v']);
const columns = [
  { name: 'id', type: 'integer', notNull: true },
  { name: 'v', type: 'text' },
];

/** Reads segments slowly, so the restore is still replaying when the collector runs. */
class SlowSegments implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly delayMs: number,
  ) {}
  get description() {
    return this.inner.description;
  }
  put(...a: Parameters<ObjectStore['put']>) {
    return this.inner.put(...a);
  }
  async get(key: string) {
    if (key.endsWith('.seg')) await new Promise((r) => setTimeout(r, this.delayMs));
    return this.inner.get(key);
  }
  getStream(key: string) {
    return this.inner.getStream(key);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  list(...a: Parameters<ObjectStore['list']>) {
    return this.inner.list(...a);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

let cluster: PostgresCluster;
let dir: string;
let store: LocalObjectStore;
let segments: WrittenSegment[];
let compactedLsn: bigint;
const rowsAt = (n: number) => [
  ...Array.from({ length: 5 }, (_, i) => `(${i + 1},base)`),
  ...Array.from({ length: n }, (_, i) => `(${100 + i},tx${i})`),
];

beforeAll(async () => {
  await initChecksums();
  cluster = await startPostgres({ flavor: 'debian15' });
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-gc-race-'));
  store = new LocalObjectStore(path.join(dir, 'journal'));
  const base = await writeSnapshot(store, {
    source: SOURCE,
    lsn: 0x1000n,
    snapshotTime: T0,
    tables: [
      {
        schema: 'public',
        table: 't',
        columns,
        primaryKey: ['id'],
        data: Array.from({ length: 5 }, (_, i) => [String(i + 1), 'base']),
      },
    ],
  });
  // 40 segments of one insert each, a minute apart (10:01 ... 10:40)
  const b = new TxBuilder(SOURCE, 0x1000n, T0);
  const txs: TransactionRecord[] = Array.from({ length: 40 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(100 + i), `tx${i}`] } }], { timeStep: MIN }),
  );
  segments = await writeSegments(store, {
    source: SOURCE,
    snapshotLsn: 0x1000n,
    prevSha256: base.sha256,
    groups: txs.map((t) => [t]),
  });
  // a compacted snapshot at 10:20, anchored at the 20th segment
  const anchorTx = txs[19] as TransactionRecord;
  compactedLsn = anchorTx.commitLsn;
  const compacted = await writeSnapshot(store, {
    source: SOURCE,
    lsn: compactedLsn,
    snapshotTime: anchorTx.commitTime,
    tables: [
      {
        schema: 'public',
        table: 't',
        columns,
        primaryKey: ['id'],
        data: [
          ...Array.from({ length: 5 }, (_, i) => [String(i + 1), 'base']),
          ...Array.from({ length: 20 }, (_, i) => [String(100 + i), `tx${i}`]),
        ],
      },
    ],
  });
  const manifest = {
    ...compacted.manifest,
    kind: 'compacted',
    basedOn: { lsn: formatLsn(0x1000n), manifestSha256: base.sha256 },
    chainAnchor: {
      segmentKey: (segments[19] as WrittenSegment).key,
      sha256: (segments[19] as WrittenSegment).sha256,
      lastLsn: formatLsn(compactedLsn),
    },
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  await store.put(snapshotManifestKey(SOURCE, compactedLsn), bytes);
  expect(sha256Hex(bytes)).toHaveLength(64);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('garbage collection while a restore runs', () => {
  it('never deletes what a running restore reads; collects it once the restore ended', async () => {
    const retention = parseRetentionDuration('30m') as RetentionDuration;
    let clockMs = Number((T0 + 45n * MIN) / 1000n); // 10:45: the window starts at 10:15
    const now = () => clockMs;
    const slow = new SlowSegments(store, 60);
    const catalog = new JournalCatalog(slow, { retention: () => retention, now });
    const collector = new RetentionCollector({
      store,
      catalog: new JournalCatalog(store, { retention: () => retention, now }),
      retention: () => retention,
      logger: silentLogger,
      now,
      clockSkewMs: 0,
    });
    const runner = new RestoreRunner({
      store: slow,
      catalog,
      stateDir: path.join(dir, 'state'),
      maxConcurrent: 1,
      logger: silentLogger,
      // the simulated clock jumps an hour: a lease long enough to outlive the jump without a renewal
      leases: new RestoreLeases(silentLogger, { now, ttlMs: 3 * 3_600_000 }),
    });
    try {
      // 10:17 restores from the base snapshot (the compacted one is from 10:20)
      const job = await runner.submit({
        source: SOURCE,
        target: { time: '2024-05-01T10:17:00.000000Z' },
        into: { url: cluster.url('restored') },
      });
      for (let i = 0; i < 500 && runner.get(job.id).progress.phase !== 'replaying'; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(runner.get(job.id).state).toBe('running');

      // an hour later the window starts at 11:15: only the compacted snapshot is needed...
      clockMs += 60 * 60_000;
      const during = await collector.collect(SOURCE);
      // ...but the running restore holds the base snapshot and the segments after it
      expect(during.heldBy).toEqual([job.id]);
      expect(during.keptSnapshot?.lsn).toBe(formatLsn(compactedLsn));
      expect(during.objects).toBe(0);
      expect(await store.head(snapshotManifestKey(SOURCE, 0x1000n))).toBeDefined();
      for (const s of segments) expect(await store.head(s.key)).toBeDefined();

      for (let i = 0; i < 1000 && ['queued', 'running'].includes(runner.get(job.id).state); i++)
        await new Promise((r) => setTimeout(r, 20));
      const done = runner.get(job.id);
      expect(done.error).toBeUndefined();
      expect(done.state).toBe('succeeded');
      const c = new pg.Client({
        connectionString: cluster.url('restored'),
        options: textFormatStartupOptions(),
      });
      await c.connect();
      try {
        const { rows } = await c.query<{ r: string }>('SELECT x::text AS r FROM t x ORDER BY id');
        expect(rows.map((r) => r.r)).toEqual(rowsAt(17));
      } finally {
        await c.end();
      }

      // the lease is gone with the restore: now the base snapshot and the first 20 segments go
      const after = await collector.collect(SOURCE);
      expect(after.heldBy).toEqual([]);
      expect(after.snapshots).toBe(1);
      expect(after.segments).toBe(20);
      expect(after.deleted[0]?.key).toBe(snapshotManifestKey(SOURCE, 0x1000n));
      for (const [i, s] of segments.entries())
        expect((await store.head(s.key)) !== undefined, s.key).toBe(i >= 20);
      // and the window now begins at the compacted snapshot
      const summary = await catalog.getSource(SOURCE);
      expect(summary.earliestRestorableTime).toBe('2024-05-01T10:20:00.000000Z');
      expect(summary.retention).toBe('30m');
    } finally {
      await runner.close();
    }
  }, 120_000);
});
