import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  decodeRecord,
  encodeRecord,
  encodeSegment,
  initChecksums,
  LocalObjectStore,
  type ObjectStore,
  readSegment,
  type SnapshotManifest,
  segmentKey,
  segmentsPrefix,
  sha256Hex,
  snapshotManifestKey,
  TidemarkError,
  type TransactionRecord,
  tipKey,
  verifyChain,
} from '@tidemark/shared';
import { FaultInjectingStore } from '@tidemark/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.js';

const SOURCE = 'main';
const SNAPSHOT_LSN = 0x1000n;
const T0 = 1_764_000_000_000_000n;

function tx(lsn: bigint, overrides: Partial<TransactionRecord> = {}): TransactionRecord {
  return {
    source: SOURCE,
    xid: Number(lsn % 100000n),
    commitLsn: lsn,
    endLsn: lsn + 8n,
    commitTime: T0 + lsn,
    relations: [
      {
        oid: 16384,
        schema: 'public',
        table: 't',
        replicaIdentity: 'default',
        columns: [{ name: 'id', typeOid: 20, typeMod: -1, key: true }],
      },
    ],
    changes: [{ op: 'insert', rel: 0, new: { values: [String(lsn)] } }],
    ...overrides,
  };
}

/** fails every segment upload while set: fault injection around the real store */
function failSegmentUploads(key: string): void {
  if (key.includes('/segments/')) {
    throw new TidemarkError('STORE_UNAVAILABLE', 'injected failure', { retriable: false });
  }
}

let dir: string;
let store: LocalObjectStore;
let manifestSha: string;

async function segmentKeys(s: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of s.list(segmentsPrefix(SOURCE))) keys.push(o.key);
  return keys;
}

async function journalRecords(s: ObjectStore): Promise<TransactionRecord[]> {
  const out: TransactionRecord[] = [];
  const links = [];
  for (const key of await segmentKeys(s)) {
    const seg = readSegment(await s.get(key), key);
    links.push({ key, header: seg.header, sha256: seg.sha256 });
    for (const r of seg.records) out.push(decodeRecord(r.payload));
  }
  expect(verifyChain({ sha256: manifestSha, lsn: SNAPSHOT_LSN }, links)).toEqual([]);
  return out;
}

beforeAll(async () => {
  await initChecksums();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-journal-'));
  store = new LocalObjectStore(dir);
  const manifest: SnapshotManifest = {
    formatVersion: 1,
    source: SOURCE,
    lsn: '0/1000',
    snapshotTime: String(T0),
    createdAt: new Date().toISOString(),
    serverVersion: 150000,
    tables: [],
  };
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  manifestSha = sha256Hex(bytes);
  await store.put(snapshotManifestKey(SOURCE, SNAPSHOT_LSN), bytes);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function journal(s: ObjectStore = store, over: { maxSegmentBytes?: number; maxSegmentAgeMs?: number } = {}) {
  return new Journal({
    store: s,
    source: SOURCE,
    maxSegmentBytes: over.maxSegmentBytes ?? 1 << 20,
    maxSegmentAgeMs: over.maxSegmentAgeMs ?? 50,
  });
}

describe('Journal', () => {
  it('resolves a write only once its segment and the tip are in the store', async () => {
    const j = journal(store, { maxSegmentAgeMs: 10_000 });
    await j.open();
    let durable = false;
    const w = j.write(tx(0x2000n)).then(() => {
      durable = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(durable).toBe(false);
    expect(await segmentKeys(store)).toEqual([]);
    await j.flush();
    await w;
    expect(durable).toBe(true);
    const tip = JSON.parse(new TextDecoder().decode(await store.get(tipKey(SOURCE))));
    expect(tip.lastLsn).toBe('0/2000');
    expect((await journalRecords(store)).map((r) => r.commitLsn)).toEqual([0x2000n]);
    expect(await j.durableLsn()).toBe(0x2000n);
  });

  it('seals by age: the age bound is the archive RPO', async () => {
    const j = journal(store, { maxSegmentAgeMs: 40 });
    await j.open();
    const started = Date.now();
    await j.write(tx(0x2000n));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await segmentKeys(store)).toHaveLength(1);
  });

  it('rotates by size and chains every segment to its predecessor', async () => {
    const j = journal(store, { maxSegmentBytes: 2_000, maxSegmentAgeMs: 10_000 });
    await j.open();
    const writes = [];
    for (let i = 1; i <= 200; i++) writes.push(j.write(tx(0x2000n + BigInt(i) * 0x10n)));
    await j.flush();
    await Promise.all(writes);
    const keys = await segmentKeys(store);
    expect(keys.length).toBeGreaterThan(5);
    const records = await journalRecords(store);
    expect(records.map((r) => r.commitLsn)).toEqual(
      Array.from({ length: 200 }, (_, i) => 0x2000n + BigInt(i + 1) * 0x10n),
    );
    expect(records[5]).toEqual(tx(0x2000n + 6n * 0x10n));
  });

  it('drops redelivered transactions, before and after a restart', async () => {
    const j = journal();
    await j.open();
    await Promise.all([j.write(tx(0x2000n)), j.write(tx(0x2100n)), j.write(tx(0x2000n))]);
    await j.close();
    const again = journal();
    await again.open();
    await Promise.all([again.write(tx(0x2000n)), again.write(tx(0x2100n)), again.write(tx(0x2200n))]);
    await again.close();
    expect((await journalRecords(store)).map((r) => r.commitLsn)).toEqual([0x2000n, 0x2100n, 0x2200n]);
    expect(again.status.duplicatesDropped).toBe(2);
  });

  it('fails the writes of a segment it could not store, and leaves no hole when upstream replays', async () => {
    const failing = new FaultInjectingStore(store);
    const j = journal(failing, { maxSegmentAgeMs: 10_000 });
    await j.open();
    const first = j.write(tx(0x2000n));
    await j.flush();
    await first;
    failing.beforePut = failSegmentUploads;
    const lost = [j.write(tx(0x2100n)), j.write(tx(0x2200n))];
    await j.flush();
    for (const w of lost) await expect(w).rejects.toThrow(/injected failure/);
    failing.beforePut = undefined;
    // upstream replays from its last durable position
    const replayed = [j.write(tx(0x2100n)), j.write(tx(0x2200n)), j.write(tx(0x2300n))];
    await j.flush();
    await Promise.all(replayed);
    expect((await journalRecords(store)).map((r) => r.commitLsn)).toEqual([
      0x2000n,
      0x2100n,
      0x2200n,
      0x2300n,
    ]);
  });

  it('adopts a verified segment left beyond the tip by a crash, and removes one that does not link', async () => {
    const j = journal();
    await j.open();
    await j.write(tx(0x2000n));
    await j.close();
    const records = [tx(0x2100n), tx(0x2200n)];
    const head = readSegment(await store.get((await segmentKeys(store))[0]!));
    const orphan = encodeSegment({
      source: SOURCE,
      prevSha256: head.sha256,
      createdAt: new Date().toISOString(),
      records: records.map((r) => ({
        payload: encodeRecord(r),
        commitLsn: r.commitLsn,
        commitTime: r.commitTime,
      })),
    });
    await store.put(segmentKey(SOURCE, T0 + 0x2100n, 0x2100n, 0x2200n), orphan.bytes);
    const stray = encodeSegment({
      source: SOURCE,
      prevSha256: '0'.repeat(64),
      createdAt: new Date().toISOString(),
      records: [{ payload: encodeRecord(tx(0x2300n)), commitLsn: 0x2300n, commitTime: T0 + 0x2300n }],
    });
    await store.put(segmentKey(SOURCE, T0 + 0x2300n, 0x2300n, 0x2300n), stray.bytes);
    const reopened = journal();
    await reopened.open();
    expect(await reopened.durableLsn()).toBe(0x2200n);
    await reopened.write(tx(0x2400n));
    await reopened.close();
    expect((await journalRecords(store)).map((r) => r.commitLsn)).toEqual([
      0x2000n,
      0x2100n,
      0x2200n,
      0x2400n,
    ]);
  });

  it('is fenced when another process moved the tip, then reloads and continues the one chain', async () => {
    const old = journal(store, { maxSegmentAgeMs: 10_000 });
    await old.open();
    const w1 = old.write(tx(0x2000n));
    await old.flush();
    await w1;
    // a rebalance hands the source to another process, which archives on
    const next = journal(store, { maxSegmentAgeMs: 10_000 });
    await next.open();
    const w2 = [next.write(tx(0x2100n)), next.write(tx(0x2200n))];
    await next.flush();
    await Promise.all(w2);
    // the old owner still had a write in flight: it must not fork the chain
    const stale = old.write(tx(0x2100n));
    await old.flush();
    await expect(stale).rejects.toThrow(/moved by another journal process/);
    // on replay it reloads the tip: what is archived already resolves, the rest is appended
    const replay = [old.write(tx(0x2100n)), old.write(tx(0x2200n)), old.write(tx(0x2300n))];
    await old.flush();
    await Promise.all(replay);
    expect((await journalRecords(store)).map((r) => r.commitLsn)).toEqual([
      0x2000n,
      0x2100n,
      0x2200n,
      0x2300n,
    ]);
  });

  it('refuses a transaction of another source', async () => {
    const j = journal();
    await j.open();
    await expect(j.write(tx(0x2000n, { source: 'other' }))).rejects.toThrow(/other/);
  });
});
