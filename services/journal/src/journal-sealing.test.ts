import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  createLogger,
  decodeRecord,
  encodeRecord,
  initChecksums,
  type KeyProvider,
  LocalKeyProvider,
  LocalObjectStore,
  type ObjectStore,
  openSegment,
  type SegmentCompression,
  type SnapshotManifest,
  sealSegment,
  segmentKey,
  segmentsPrefix,
  sha256Hex,
  snapshotManifestKey,
  TidemarkError,
  type TransactionRecord,
  verifyChain,
  verifySegment,
} from '@tidemark/shared';
import { FaultInjectingStore } from '@tidemark/testkit';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.js';
import type { JournalLogger } from './journal-logger.js';

const SOURCE = 'main';
const SNAPSHOT_LSN = 0x1000n;
const T0 = 1_764_000_000_000_000n;
const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);

function tx(lsn: bigint): TransactionRecord {
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
        columns: [
          { name: 'id', typeOid: 20, typeMod: -1, key: true },
          { name: 'note', typeOid: 25, typeMod: -1, key: false },
        ],
      },
    ],
    changes: [
      { op: 'insert', rel: 0, new: { values: [String(lsn), `a note that repeats ${'x'.repeat(80)}`] } },
    ],
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

async function segmentKeys(s: ObjectStore = store): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of s.list(segmentsPrefix(SOURCE))) keys.push(o.key);
  return keys;
}

/** every record, after checking each segment and the chain, decrypting with `keys` */
async function journalRecords(keys?: KeyProvider): Promise<bigint[]> {
  const out: bigint[] = [];
  const links = [];
  for (const key of await segmentKeys()) {
    const seg = await openSegment(await store.get(key), key, { keys });
    links.push({ key, header: seg.header, sha256: seg.sha256 });
    for (const r of seg.records) out.push(decodeRecord(r.payload).commitLsn);
  }
  expect(verifyChain({ sha256: manifestSha, lsn: SNAPSHOT_LSN }, links)).toEqual([]);
  return out;
}

function journal(
  over: {
    compression?: SegmentCompression;
    keys?: KeyProvider;
    logger?: JournalLogger;
    s?: ObjectStore;
  } = {},
) {
  return new Journal({
    store: over.s ?? store,
    source: SOURCE,
    maxSegmentBytes: 4_000,
    maxSegmentAgeMs: 10_000,
    ...(over.compression ? { compression: over.compression } : {}),
    ...(over.keys ? { encryption: { provider: over.keys } } : {}),
    ...(over.logger ? { logger: over.logger } : {}),
  });
}

async function writeAll(j: Journal, lsns: bigint[]): Promise<void> {
  const writes = lsns.map((l) => j.write(tx(l)));
  await j.flush();
  await Promise.all(writes);
}

const lsnsFrom = (start: bigint, n: number) => Array.from({ length: n }, (_, i) => start + BigInt(i) * 0x10n);

beforeAll(async () => {
  await initChecksums();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-journal-sealing-'));
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

describe('Journal compression and encryption', () => {
  it('compresses segments by default, and writes plain ones when told to', async () => {
    const sizes: { bytes: number; recordBytes: number }[] = [];
    const j = new Journal({
      store,
      source: SOURCE,
      maxSegmentBytes: 1 << 20,
      maxSegmentAgeMs: 10_000,
      onDurable: (info) => sizes.push(info),
    });
    await j.open();
    await writeAll(j, lsnsFrom(0x2000n, 50));
    await j.close();
    const [first] = await segmentKeys();
    const seg = verifySegment(await store.get(first!));
    expect(seg.sealing).toEqual({ compressed: true, encrypted: false, contentVerified: true });
    expect(sizes[0]!.bytes).toBeLessThan(sizes[0]!.recordBytes / 2);

    const plain = journal({ compression: 'none' });
    await plain.open();
    await writeAll(plain, lsnsFrom(0x3000n, 5));
    await plain.close();
    const second = (await segmentKeys())[1]!;
    expect(verifySegment(await store.get(second)).sealing).toBeUndefined();
    expect(await journalRecords()).toEqual([...lsnsFrom(0x2000n, 50), ...lsnsFrom(0x3000n, 5)]);
  });

  it('encrypts every segment; master key rotation needs no rewrite', async () => {
    const a = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    const j = journal({ keys: a });
    await j.open();
    await writeAll(j, lsnsFrom(0x2000n, 60));
    await j.close();
    const underA = await segmentKeys();
    expect(underA.length).toBeGreaterThan(1);

    // rotate: restart with key b added as the newest; a stays configured for the old data
    const ab = new LocalKeyProvider([
      { id: 'a', key: KEY_A },
      { id: 'b', key: KEY_B },
    ]);
    const rotated = journal({ keys: ab });
    await rotated.open();
    await writeAll(rotated, lsnsFrom(0x3000n, 60));
    await rotated.close();
    const all = await segmentKeys();
    const keyIds = await Promise.all(
      all.map(async (k) => verifySegment(await store.get(k)).header?.encryption?.keyId),
    );
    expect(keyIds).toEqual(all.map((k) => (underA.includes(k) ? 'a' : 'b')));
    expect(await journalRecords(ab)).toEqual([...lsnsFrom(0x2000n, 60), ...lsnsFrom(0x3000n, 60)]);

    // fails closed: without a key, or with a wrong one
    const someKey = all[0]!;
    await expect(openSegment(await store.get(someKey), someKey)).rejects.toMatchObject({
      code: 'DECRYPT_FAILED',
    });
    const wrong = new LocalKeyProvider([{ id: 'a', key: KEY_B }]);
    await expect(openSegment(await store.get(someKey), someKey, { keys: wrong })).rejects.toThrow(
      new RegExp(`segment ${someKey} cannot be decrypted`),
    );
    // an auditor without keys still verifies every segment and the chain
    const links = [];
    for (const key of all) {
      const v = verifySegment(await store.get(key));
      expect(v).toMatchObject({ ok: true, sealing: { encrypted: true, contentVerified: false } });
      links.push({ key, header: v.header!, sha256: v.sha256! });
    }
    expect(verifyChain({ sha256: manifestSha, lsn: SNAPSHOT_LSN }, links)).toEqual([]);
  });

  it('adopts an encrypted orphan with its key; keeps it when the master key is wrong', async () => {
    const keys = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    const j = journal({ keys });
    await j.open();
    await writeAll(j, [0x2000n]);
    await j.close();
    const head = await openSegment(await store.get((await segmentKeys())[0]!), undefined, { keys });
    const orphan = await sealSegment(
      {
        source: SOURCE,
        prevSha256: head.sha256,
        createdAt: new Date().toISOString(),
        records: [tx(0x2100n), tx(0x2200n)].map((r) => ({
          payload: encodeRecord(r),
          commitLsn: r.commitLsn,
          commitTime: r.commitTime,
        })),
      },
      { compression: 'zstd', keys },
    );
    const orphanKey = segmentKey(SOURCE, T0 + 0x2100n, 0x2100n, 0x2200n);
    await store.put(orphanKey, orphan.bytes);

    const wrong = journal({ keys: new LocalKeyProvider([{ id: 'a', key: KEY_B }]) });
    await expect(wrong.open()).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
    expect(await segmentKeys()).toContain(orphanKey);

    const reopened = journal({ keys });
    await reopened.open();
    expect(await reopened.durableLsn()).toBe(0x2200n);
    await writeAll(reopened, [0x2300n]);
    await reopened.close();
    expect(await journalRecords(keys)).toEqual([0x2000n, 0x2100n, 0x2200n, 0x2300n]);
  });

  it('never writes a key to its log, even when segments fail', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      name: 'journal',
      level: 'trace',
      destination: new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    const provider = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    const dataKeys: Uint8Array[] = [];
    const spy: KeyProvider = {
      get keyId() {
        return provider.keyId;
      },
      wrap: (k) => {
        dataKeys.push(Uint8Array.from(k));
        return provider.wrap(k);
      },
      unwrap: (w) => provider.unwrap(w),
    };
    const failing = new FaultInjectingStore(store);
    const j = journal({ keys: spy, logger, s: failing });
    await j.open();
    await writeAll(j, lsnsFrom(0x2000n, 30));
    failing.beforePut = failSegmentUploads;
    const lost = j.write(tx(0x3000n));
    await j.flush();
    await expect(lost).rejects.toThrow(/injected failure/);
    failing.beforePut = undefined;
    await j.close();

    const log = lines.join('');
    expect(log).toContain('segment could not be made durable');
    expect(dataKeys.length).toBeGreaterThan(1);
    for (const secret of [KEY_A, KEY_B, ...dataKeys]) {
      const b = Buffer.from(secret);
      for (const text of [b.toString('base64').slice(0, 20), b.toString('hex').slice(0, 20)])
        expect(log).not.toContain(text);
      expect(log).not.toContain(JSON.stringify([...secret.subarray(0, 6)]).slice(1, -1));
    }
  });
});
