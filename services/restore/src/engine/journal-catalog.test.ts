import { initChecksums, isTidemarkError, segmentKey, snapshotManifestKey, tipKey } from '@tidemark/shared';
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
