import { randomBytes } from 'node:crypto';
import {
  initChecksums,
  isTidemarkError,
  type KeyProvider,
  LocalKeyProvider,
  type TransactionRecord,
  verifySegment,
} from '@tidemark/shared';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JournalCatalog } from './journal-catalog.js';
import { type JournalEntry, readJournal } from './journal-reader.js';
import { verifyJournal } from './journal-verifier.js';
import { planFromCatalog } from './restore-executor.js';
import {
  relationOf,
  TxBuilder,
  type WrittenSegment,
  type WrittenSnapshot,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';
import { MemoryObjectStore } from './testing/memory-object-store.js';

const T0 = 1_714_557_600_000_000n;
const SNAP = 0x1000n;
const rel = relationOf(16384, 'public', 't', [['id', true], 'v']);
const KEYS = new LocalKeyProvider([{ id: 'k1', key: randomBytes(32) }]);
const WRONG = new LocalKeyProvider([{ id: 'k1', key: randomBytes(32) }]);

let store: MemoryObjectStore;
let snap: WrittenSnapshot;
let segments: WrittenSegment[];
let txs: TransactionRecord[];

async function collect(keys?: KeyProvider): Promise<{ entries: JournalEntry[]; error?: unknown }> {
  const plan = await planFromCatalog(new JournalCatalog(store), 'app', { kind: 'latest' });
  const entries: JournalEntry[] = [];
  try {
    for await (const e of readJournal(store, plan, keys ? { keys } : {})) entries.push(e);
  } catch (error) {
    return { entries, error };
  }
  return { entries };
}

const verify = (keys?: KeyProvider) =>
  verifyJournal(store, new JournalCatalog(store), 'app', {
    checkSnapshotData: false,
    ...(keys ? { keys } : {}),
  });

beforeAll(async () => {
  await initChecksums();
});

beforeEach(async () => {
  store = new MemoryObjectStore();
  snap = await writeSnapshot(store, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: [] });
  const b = new TxBuilder('app', SNAP, T0);
  txs = Array.from({ length: 8 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i), `v${i}`] } }]),
  );
  // one chain as it grows over releases: plain v1 segments, then compressed, then encrypted
  const plain = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 2)],
  });
  const compressed = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: plain[0]!.sha256,
    groups: [txs.slice(2, 4)],
    compression: 'zstd',
  });
  const encrypted = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: compressed[0]!.sha256,
    groups: [txs.slice(4, 6), txs.slice(6)],
    compression: 'zstd',
    keys: KEYS,
  });
  segments = [...plain, ...compressed, ...encrypted];
});

describe('reading a journal of compressed and encrypted segments', () => {
  it('reads plain, compressed and encrypted segments of one chain', async () => {
    expect(segments.map((s) => verifySegment(s.bytes).sealing?.encrypted ?? 'plain')).toEqual([
      'plain',
      false,
      true,
      true,
    ]);
    const { entries, error } = await collect(KEYS);
    expect(error).toBeUndefined();
    expect(entries.map((e) => e.record)).toEqual(txs);
    expect(entries[5]?.segmentKey).toBe(segments[2]!.key);
  });

  it('fails closed without the key or with a wrong one, naming the segment, applying nothing from it', async () => {
    for (const keys of [undefined, WRONG]) {
      const { entries, error } = await collect(keys);
      expect(isTidemarkError(error, 'DECRYPT_FAILED')).toBe(true);
      expect((error as Error).message).toContain(segments[2]!.key);
      expect(entries.map((e) => e.record.commitLsn)).toEqual(txs.slice(0, 4).map((t) => t.commitLsn));
    }
  });

  it('refuses two encrypted segments swapped in the store', async () => {
    const [, , a, b] = segments;
    await store.put(a!.key, b!.bytes);
    await store.put(b!.key, a!.bytes);
    const { entries, error } = await collect(KEYS);
    expect(isTidemarkError(error, 'CHAIN_BROKEN')).toBe(true);
    expect((error as Error).message).toContain(a!.key);
    expect(entries).toHaveLength(4);
  });

  it('catches a flipped byte of an encrypted segment by its checksums, before decrypting', async () => {
    store.corrupt(segments[3]!.key, 200);
    const { error } = await collect(KEYS);
    expect(isTidemarkError(error, 'SEGMENT_CORRUPT')).toBe(true);
    expect((error as { details: { key: string } }).details.key).toBe(segments[3]!.key);
    // and an auditor without the key finds it too
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.key, p.kind])).toContainEqual([
      segments[3]!.key,
      'checksum-mismatch',
    ]);
  });
});

describe('verifying a journal of encrypted segments', () => {
  it('verifies checksums and the chain without a key, and says what it could not open', async () => {
    expect(await verify()).toMatchObject({
      ok: true,
      segments: 4,
      records: 8,
      notDecrypted: 2,
      problems: [],
    });
    const withKey = await verify(KEYS);
    expect(withKey).toMatchObject({ ok: true, segments: 4, records: 8, problems: [] });
    expect(withKey.notDecrypted).toBeUndefined();
  });

  it('reports each segment a wrong master key cannot decrypt', async () => {
    const report = await verify(WRONG);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.key, p.kind])).toEqual([
      [segments[2]!.key, 'decrypt-failed'],
      [segments[3]!.key, 'decrypt-failed'],
    ]);
  });
});
