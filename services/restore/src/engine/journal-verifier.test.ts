import {
  initChecksums,
  parseLsn,
  sha256Hex,
  snapshotManifestKey,
  snapshotTableKey,
  type TransactionRecord,
  tipKey,
} from '@tidemark/shared';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JournalCatalog } from './journal-catalog.js';
import { verifyJournal } from './journal-verifier.js';
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

let store: MemoryObjectStore;
let snap: WrittenSnapshot;
let segments: WrittenSegment[];
let txs: TransactionRecord[];

const verify = (checkSnapshotData?: boolean) =>
  verifyJournal(
    store,
    new JournalCatalog(store),
    'app',
    checkSnapshotData === undefined ? {} : { checkSnapshotData },
  );

beforeAll(async () => {
  await initChecksums();
});

beforeEach(async () => {
  store = new MemoryObjectStore();
  snap = await writeSnapshot(store, {
    source: 'app',
    lsn: SNAP,
    snapshotTime: T0,
    tables: [
      {
        schema: 'public',
        table: 't',
        columns: [
          { name: 'id', type: 'int' },
          { name: 'v', type: 'text' },
        ],
        data: [['1', 'a']],
      },
    ],
  });
  const b = new TxBuilder('app', SNAP, T0);
  txs = Array.from({ length: 6 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i), 'x'] } }]),
  );
  segments = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [txs.slice(0, 2), txs.slice(2, 4), txs.slice(4)],
  });
});

describe('verifyJournal', () => {
  it('reports an intact journal', async () => {
    expect(await verify()).toEqual({
      ok: true,
      source: 'app',
      range: null,
      snapshotLsn: '0/1000',
      snapshots: 1,
      segments: 3,
      records: 6,
      bytes: expect.any(Number),
      firstLsn: '0/1100',
      lastLsn: '0/1600',
      chainHead: segments[2]!.sha256,
      tipSegmentKey: segments[2]!.key,
      problems: [],
    });
  });

  it('reports every problem, not only the first', async () => {
    store.corrupt(snap.manifest.tables[0]!.dataKey!, 0);
    store.corrupt(segments[0]!.key, 40);
    const report = await verify();
    expect(report.ok).toBe(false);
    const kinds = report.problems.map(
      (p) => `${p.key === segments[0]!.key ? 'seg0' : p.key === segments[1]!.key ? 'seg1' : p.key}:${p.kind}`,
    );
    expect(kinds).toContain(`${snap.manifest.tables[0]!.dataKey}:snapshot-damaged`);
    expect(kinds).toContain('seg0:checksum-mismatch');
    // the damaged segment is chained by the hash its footer claims: no noise after it
    expect(
      kinds.some((k) => k.startsWith('seg1:')),
      kinds.join(' '),
    ).toBe(false);
    expect(report.problems.find((p) => p.key === segments[0]!.key)?.offset).toEqual(expect.any(Number));
    expect(report.records).toBe(4);
  });

  it('can skip the snapshot data', async () => {
    store.corrupt(snap.manifest.tables[0]!.dataKey!, 0);
    expect((await verify(false)).ok).toBe(true);
  });

  it('detects a missing segment, a tampered manifest and a tip that names another hash', async () => {
    await store.delete(segments[1]!.key);
    const missing = await verify();
    expect(missing.problems.map((p) => p.kind)).toEqual(['missing-segment']);
    expect(missing.problems[0]?.key).toBe(segments[2]!.key);

    store.corrupt(snapshotManifestKey('app', SNAP), 5);
    const tampered = await verify();
    expect(tampered.problems.map((p) => p.kind)).toContain('snapshot-damaged');

    const tip = JSON.parse(new TextDecoder().decode(await store.get(tipKey('app'))));
    await store.put(
      tipKey('app'),
      new TextEncoder().encode(JSON.stringify({ ...tip, sha256: '0'.repeat(64) })),
    );
    expect((await verify()).problems.map((p) => p.kind)).toContain('tip-mismatch');
  });

  it('starts the chain at a compacted snapshot once the base and older segments are gone', async () => {
    // a compacted snapshot at the end of segment 1, as compaction writes it
    const lsn = '0/1400';
    const dataKey = snapshotTableKey('app', parseLsn(lsn), 0);
    const data = new TextEncoder().encode('1\ta\n');
    await store.put(dataKey, data);
    const compacted = {
      ...snap.manifest,
      lsn,
      snapshotTime: String(txs[3]!.commitTime),
      kind: 'compacted',
      basedOn: { lsn: '0/1000', manifestSha256: snap.sha256 },
      chainAnchor: { segmentKey: segments[1]!.key, sha256: segments[1]!.sha256, lastLsn: lsn },
      tables: snap.manifest.tables.map((t) => ({
        ...t,
        dataKey,
        sha256: sha256Hex(data),
        bytes: data.byteLength,
      })),
    };
    await store.put(
      snapshotManifestKey('app', parseLsn(lsn)),
      new TextEncoder().encode(JSON.stringify(compacted)),
    );
    expect((await verify()).problems).toEqual([]);
    // retention: the base snapshot and the segments the compacted one holds are deleted
    for (const key of [
      snap.manifestKey,
      snap.manifest.tables[0]!.dataKey!,
      segments[0]!.key,
      segments[1]!.key,
    ])
      await store.delete(key);
    const report = await verify();
    expect(report).toMatchObject({ ok: true, snapshotLsn: '0/1400', segments: 1, firstLsn: '0/1500' });
    // a compacted snapshot whose anchor does not match its segment
    await store.put(
      snapshotManifestKey('app', parseLsn(lsn)),
      new TextEncoder().encode(
        JSON.stringify({ ...compacted, chainAnchor: { ...compacted.chainAnchor, sha256: 'a'.repeat(64) } }),
      ),
    );
    const wrong = await verify();
    expect(wrong.problems.map((p) => [p.kind, p.key])).toEqual([['missing-segment', segments[2]!.key]]);
  });
});
