import {
  encodeRecord,
  encodeSegment,
  initChecksums,
  isTidemarkError,
  type TransactionRecord,
} from '@tidemark/shared';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JournalCatalog } from './journal-catalog.js';
import { type JournalEntry, readJournal } from './journal-reader.js';
import { planFromCatalog } from './restore-executor.js';
import type { RestorePlan } from './restore-planner.js';
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
const rel = relationOf(16384, 'public', 't', [['id', true], 'v']);

let store: MemoryObjectStore;
let segments: WrittenSegment[];
let txs: TransactionRecord[];

async function collect(
  plan: RestorePlan,
  onSegment?: (key: string) => void,
): Promise<{ entries: JournalEntry[]; error?: unknown }> {
  const entries: JournalEntry[] = [];
  try {
    for await (const e of readJournal(store, plan, { onSegmentVerified: onSegment ?? (() => {}) }))
      entries.push(e);
  } catch (error) {
    return { entries, error };
  }
  return { entries };
}

const plan = () => planFromCatalog(new JournalCatalog(store), 'app', { kind: 'latest' });

beforeAll(async () => {
  await initChecksums();
});

beforeEach(async () => {
  store = new MemoryObjectStore();
  const snap = await writeSnapshot(store, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: [] });
  const b = new TxBuilder('app', SNAP, T0);
  txs = Array.from({ length: 6 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i), `v${i}`] } }]),
  );
  segments = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 2), txs.slice(2, 4), txs.slice(4)],
  });
});

describe('readJournal', () => {
  it('yields every record after the snapshot, in order, with where it came from', async () => {
    const seen: string[] = [];
    const { entries, error } = await collect(await plan(), (k) => seen.push(k));
    expect(error).toBeUndefined();
    expect(entries.map((e) => e.record.commitLsn)).toEqual(txs.map((t) => t.commitLsn));
    expect(entries[0]?.record).toEqual(txs[0]);
    expect(entries[2]?.segmentKey).toBe(segments[1]?.key);
    expect(entries[2]?.offset).toBeGreaterThan(0);
    expect(seen).toEqual(segments.map((s) => s.key));
  });

  it('skips records a mid-chain snapshot already holds', async () => {
    const p = await plan();
    // a snapshot at transaction 3: its first segment starts before it and links to a segment not read
    const { entries } = await collect({ ...p, snapshotLsn: txs[2]!.commitLsn, chainAnchor: null });
    expect(entries.map((e) => e.record.commitLsn)).toEqual(txs.slice(3).map((t) => t.commitLsn));
  });

  it('stops at a corrupt segment with SEGMENT_CORRUPT naming it, yielding nothing from it', async () => {
    store.corrupt(segments[1]!.key, 60);
    const { entries, error } = await collect(await plan());
    expect(isTidemarkError(error, 'SEGMENT_CORRUPT')).toBe(true);
    expect((error as { details: { key: string; offset: number } }).details.key).toBe(segments[1]!.key);
    expect(typeof (error as { details: { offset: number } }).details.offset).toBe('number');
    expect((error as Error).message).toContain(segments[1]!.key);
    expect(entries.map((e) => e.segmentKey)).toEqual([segments[0]!.key, segments[0]!.key]);
  });

  it('stops with CHAIN_BROKEN when a segment is missing or replaced', async () => {
    const p = await plan();
    await store.delete(segments[1]!.key);
    const { entries, error } = await collect({ ...p, segmentKeys: [segments[0]!.key, segments[2]!.key] });
    expect(isTidemarkError(error, 'CHAIN_BROKEN')).toBe(true);
    expect((error as Error).message).toContain(segments[2]!.key);
    expect(entries).toHaveLength(2);
  });

  it('refuses a first segment that does not link to the snapshot manifest', async () => {
    const p = await plan();
    const { entries, error } = await collect({ ...p, chainAnchor: 'a'.repeat(64) });
    expect(isTidemarkError(error, 'CHAIN_BROKEN')).toBe(true);
    expect((error as { details: { key: string; kind: string } }).details).toMatchObject({
      key: segments[0]!.key,
      kind: 'prev-hash',
    });
    expect(entries).toEqual([]);
  });

  it('refuses a tip segment whose hash is not the one the tip names', async () => {
    const p = await plan();
    const { error } = await collect({ ...p, tip: { segmentKey: segments[2]!.key, sha256: 'b'.repeat(64) } });
    expect((error as { details: { kind: string } }).details.kind).toBe('tip-hash');
  });

  it('refuses a segment stored under a name that does not match its content', async () => {
    const p = await plan();
    // a well-formed segment, correctly chained, but filed under another LSN range
    const body = encodeSegment({
      source: 'app',
      prevSha256: segments[0]!.sha256,
      createdAt: new Date().toISOString(),
      records: txs
        .slice(2, 4)
        .map((t) => ({ payload: encodeRecord(t), commitLsn: t.commitLsn, commitTime: t.commitTime })),
    });
    const wrongKey = segments[1]!.key.replace(/-([0-9A-F]{16})\.seg$/, '-00000000FFFFFFFF.seg');
    await store.put(wrongKey, body.bytes);
    const { error } = await collect({ ...p, segmentKeys: [segments[0]!.key, wrongKey] });
    expect((error as { details: { kind: string } }).details.kind).toBe('key-mismatch');
  });

  it('prefetches ahead but stops fetching when the consumer stops', async () => {
    const p = await plan();
    store.gets.length = 0;
    for await (const e of readJournal(store, p, { prefetch: 1 })) {
      expect(e.segmentKey).toBe(segments[0]!.key);
      break;
    }
    // the first segment plus one ahead, not the whole journal
    expect(store.gets).toEqual([segments[0]!.key, segments[1]!.key]);
  });
});
