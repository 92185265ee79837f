import {
  initChecksums,
  isTidemarkError,
  MESSAGE_PREFIX,
  segmentKey,
  snapshotManifestKey,
  type TransactionRecord,
  tipKey,
} from '@tidemark/shared';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JournalCatalog } from './journal-catalog.js';
import {
  relationOf,
  TxBuilder,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';
import { MemoryObjectStore } from './testing/memory-object-store.js';

const T0 = 1_714_557_600_000_000n;
const SNAP = 0x1000n;
const rel = relationOf(16384, 'public', 't', [['id', true]]);

let store: MemoryObjectStore;
let catalog: JournalCatalog;
let segments: WrittenSegment[];

beforeAll(async () => {
  await initChecksums();
});

beforeEach(async () => {
  store = new MemoryObjectStore();
  catalog = new JournalCatalog(store);
  const snap = await writeSnapshot(store, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: [] });
  await writeSnapshot(store, { source: 'billing', lsn: 0x5000n, snapshotTime: T0, tables: [] });
  const b = new TxBuilder('app', SNAP, T0);
  const txs = Array.from({ length: 4 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i)] } }]),
  );
  segments = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 2), txs.slice(2)],
  });
});

describe('JournalCatalog', () => {
  it('lists registered sources with their restorable window', async () => {
    expect(await catalog.listSources()).toEqual([
      {
        name: 'app',
        restorable: true,
        earliestRestorableTime: '2024-05-01T10:00:00.000000Z',
        latestRestorableTime: '2024-05-01T10:00:04.000000Z',
        latestLsn: '0/1400',
        snapshotLsn: '0/1000',
        snapshots: 1,
      },
      {
        name: 'billing',
        restorable: true,
        earliestRestorableTime: '2024-05-01T10:00:00.000000Z',
        latestRestorableTime: '2024-05-01T10:00:00.000000Z',
        latestLsn: '0/5000',
        snapshotLsn: '0/5000',
        snapshots: 1,
      },
    ]);
    expect((await catalog.getSource('app', { countSegments: true })).segments).toBe(2);
  });

  it('answers UNKNOWN_SOURCE listing the known ones', async () => {
    try {
      await catalog.getSource('nope');
      expect.unreachable();
    } catch (err) {
      expect(isTidemarkError(err, 'UNKNOWN_SOURCE')).toBe(true);
      expect((err as Error).message).toBe('unknown source "nope"; known sources: app, billing');
    }
    await expect(catalog.getSource('../etc')).rejects.toThrow(/unknown source/);
  });

  it('lists segments only up to the tip, and after an LSN', async () => {
    const beyond = segmentKey('app', T0 + 10_000_000n, 0x2000n, 0x2100n);
    await store.put(beyond, new Uint8Array([1, 2, 3]));
    expect(await catalog.listSegmentKeys('app')).toEqual(segments.map((s) => s.key));
    expect(await catalog.listSegmentKeys('app', { afterLsn: 0x1200n })).toEqual([segments[1]!.key]);
    await store.delete(tipKey('app'));
    expect(await catalog.listSegmentKeys('app')).toEqual([]);
  });

  it('returns snapshots with the SHA-256 of their manifest, leaving out malformed ones', async () => {
    const [s] = await catalog.listSnapshots('app');
    expect(s?.manifestKey).toBe(snapshotManifestKey('app', SNAP));
    expect(s?.sha256).toMatch(/^[0-9a-f]{64}$/);
    await store.put(snapshotManifestKey('app', 0x1200n), new TextEncoder().encode('{"formatVersion": 2}'));
    const problems: string[] = [];
    expect(await new JournalCatalog(store).listSnapshots('app', problems)).toHaveLength(1);
    expect(problems[0]).toContain('formatVersion');
  });

  it('treats a damaged tip as a broken chain, not as an empty journal', async () => {
    await store.put(tipKey('app'), new TextEncoder().encode('{"formatVersion":1}'));
    await expect(catalog.readTip('app')).rejects.toSatisfy((e: unknown) =>
      isTidemarkError(e, 'CHAIN_BROKEN'),
    );
    const [app] = await catalog.listSources();
    expect(app?.restorable).toBe(false);
    expect(app?.problems?.[0]).toMatch(/tip/);
  });
});

describe('JournalCatalog restore points', () => {
  const message = (name: string | Uint8Array, prefix: string = MESSAGE_PREFIX.restorePoint) => ({
    op: 'message' as const,
    prefix,
    content: typeof name === 'string' ? new TextEncoder().encode(name) : name,
    transactional: true,
  });

  async function journalWithPoints(): Promise<{ store: MemoryObjectStore; txs: TransactionRecord[] }> {
    const mem = new MemoryObjectStore();
    const snap = await writeSnapshot(mem, { source: 'rp', lsn: SNAP, snapshotTime: T0, tables: [] });
    const b = new TxBuilder('rp', SNAP, T0);
    const insert = (v: string) => ({ op: 'insert' as const, rel: 0, new: { values: [v] } });
    const txs = [
      b.tx([rel], [insert('1')]),
      b.tx([], [message('before-deploy')]),
      b.tx([], [message('tidemark.restore_point', MESSAGE_PREFIX.heartbeat)]),
      // a restore point written inside a data transaction (by hand): that transaction is the point
      b.tx([rel], [insert('2'), message('mid:1.0')]),
      b.tx([], [message(new Uint8Array([0xff, 0xfe]))]),
      b.tx([rel], [insert('3')]),
      b.tx([], [message('before-deploy')]),
    ];
    await writeSegments(mem, {
      source: 'rp',
      snapshotLsn: SNAP,
      prevSha256: snap.sha256,
      groups: [txs.slice(0, 3), txs.slice(3, 5), txs.slice(5)],
    });
    return { store: mem, txs };
  }

  it('lists the named restore points in commit order, with their transaction', async () => {
    const { store: mem, txs } = await journalWithPoints();
    const c = new JournalCatalog(mem);
    const points = await c.listRestorePoints('rp');
    expect(points).toEqual([
      {
        name: 'before-deploy',
        commitLsn: txs[1]!.commitLsn,
        commitTime: txs[1]!.commitTime,
        xid: txs[1]!.xid,
      },
      { name: 'mid:1.0', commitLsn: txs[3]!.commitLsn, commitTime: txs[3]!.commitTime, xid: txs[3]!.xid },
      {
        name: 'before-deploy',
        commitLsn: txs[6]!.commitLsn,
        commitTime: txs[6]!.commitTime,
        xid: txs[6]!.xid,
      },
    ]);
    // the first of a name written twice is the one a restore stops at
    expect((await c.findRestorePoint('rp', 'before-deploy')).commitLsn).toBe(txs[1]!.commitLsn);
    expect(await catalog.listRestorePoints('app')).toEqual([]);
  });

  it('reads each segment once: what it holds is cached', async () => {
    const { store: mem } = await journalWithPoints();
    const c = new JournalCatalog(mem);
    await c.listRestorePoints('rp');
    const reads = mem.gets.filter((k) => k.includes('/segments/')).length;
    expect(reads).toBe(3);
    await c.findRestorePoint('rp', 'mid:1.0');
    expect(mem.gets.filter((k) => k.includes('/segments/')).length).toBe(reads);
  });

  it('answers TARGET_AFTER_WINDOW for a name the journal does not have, listing the known ones', async () => {
    const { store: mem } = await journalWithPoints();
    const err = await new JournalCatalog(mem).findRestorePoint('rp', 'nope').catch((e: unknown) => e);
    expect(isTidemarkError(err, 'TARGET_AFTER_WINDOW')).toBe(true);
    expect((err as Error).message).toContain('no restore point named "nope"');
    expect((err as Error).message).toContain('restore points: before-deploy, mid:1.0');
  });

  it('never uses a segment that fails verification', async () => {
    const { store: mem } = await journalWithPoints();
    const key = [...mem.objects.keys()].find((k) => k.includes('/segments/'))!;
    mem.corrupt(key, 100);
    await expect(new JournalCatalog(mem).listRestorePoints('rp')).rejects.toSatisfy((e: unknown) =>
      isTidemarkError(e, 'SEGMENT_CORRUPT'),
    );
  });
});
