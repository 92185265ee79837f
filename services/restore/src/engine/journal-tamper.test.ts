import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  encodeRecord,
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  SEGMENT_FOOTER_LENGTH,
  sealSegment,
  segmentKey,
  type TransactionRecord,
  xxh64,
} from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { verifyJournal } from './journal-verifier.js';
import { executeRestore } from './restore-executor.js';
import { parseTargetUrl } from './target-database.js';
import {
  relationOf,
  TxBuilder,
  type WrittenSegment,
  type WrittenSnapshot,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';

/**
 * Tampering with a real journal (LocalObjectStore in a directory): each case damages a
 * copy of one intact journal the way an accident or an attacker would, then checks that
 * verification names it precisely (kind, key, offset where it applies) and that a restore
 * across it fails with the integrity code naming the object and leaves no database behind
 * (a real PostgreSQL 15).
 */
const T0 = 1_714_557_600_000_000n;
const SNAP = 0x1000n;
const rel = relationOf(16384, 'public', 't', [['id', true], 'v']);

let base: string;
let cluster: PostgresCluster;
let snap: WrittenSnapshot;
let segs: WrittenSegment[];
let txs: TransactionRecord[];
let caseNo = 0;

beforeAll(async () => {
  await initChecksums();
  base = await mkdtemp(path.join(tmpdir(), 'tidemark-tamper-'));
  const store = new LocalObjectStore(path.join(base, 'intact'));
  snap = await writeSnapshot(store, {
    source: 'app',
    lsn: SNAP,
    snapshotTime: T0,
    tables: [
      {
        schema: 'public',
        table: 't',
        columns: [
          { name: 'id', type: 'integer', notNull: true },
          { name: 'v', type: 'text' },
        ],
        primaryKey: ['id'],
        data: [
          ['1', 'one'],
          ['2', 'two'],
        ],
      },
    ],
  });
  const b = new TxBuilder('app', SNAP, T0);
  txs = Array.from({ length: 10 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i + 10), `value-${i}`] } }]),
  );
  segs = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [0, 2, 4, 6, 8].map((i) => txs.slice(i, i + 2)),
  });
  cluster = await startPostgres({ flavor: 'debian15' });
}, 60_000);

afterAll(async () => {
  await (cluster as PostgresCluster | undefined)?.stop();
  if (base) await rm(base, { recursive: true, force: true });
});

/** A fresh copy of the intact journal, damaged by `tamper` (given the copy's directory). */
async function tampered(tamper: (dir: string) => Promise<void>) {
  const dir = path.join(base, `case-${++caseNo}`);
  await cp(path.join(base, 'intact'), dir, { recursive: true });
  await tamper(dir);
  const store = new LocalObjectStore(dir);
  return { dir, store, catalog: new JournalCatalog(store) };
}

const file = (dir: string, key: string) => path.join(dir, ...key.split('/'));

async function verifyCopy(t: Awaited<ReturnType<typeof tampered>>) {
  return verifyJournal(t.store, t.catalog, 'app');
}

async function restoreCopy(t: Awaited<ReturnType<typeof tampered>>): Promise<{ error: unknown; db: string }> {
  const db = `tamper_${caseNo}`;
  try {
    await executeRestore({
      id: `r_tamper${caseNo}`,
      source: 'app',
      target: { kind: 'latest' },
      into: parseTargetUrl(cluster.url(db)),
      store: t.store,
      catalog: t.catalog,
      signal: new AbortController().signal,
      logger: silentLogger,
      onProgress: () => {},
    });
  } catch (error) {
    return { error, db };
  }
  return { error: undefined, db };
}

async function databaseExists(db: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: cluster.url('postgres') });
  await client.connect();
  try {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db])).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function expectRestoreFails(t: Awaited<ReturnType<typeof tampered>>, code: string, key: string) {
  const { error, db } = await restoreCopy(t);
  expect(isTidemarkError(error, code as never), `expected ${code}, got ${String(error)}`).toBe(true);
  expect((error as { details: { key?: string } }).details.key).toBe(key);
  expect((error as Error).message).toContain(key);
  expect(await databaseExists(db)).toBe(false);
}

function recordsStart(bytes: Uint8Array): number {
  return 16 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
}

describe('tampered journals', () => {
  it('the intact journal verifies and restores', async () => {
    const t = await tampered(async () => {});
    expect((await verifyCopy(t)).problems).toEqual([]);
    const { error, db } = await restoreCopy(t);
    expect(error).toBeUndefined();
    expect(await databaseExists(db)).toBe(true);
  });

  it('a flipped byte in a record: checksum-mismatch at the record', async () => {
    const at = recordsStart(segs[1]!.bytes);
    const t = await tampered(async (dir) => {
      const f = file(dir, segs[1]!.key);
      const bytes = await readFile(f);
      bytes[at + 20]! ^= 0x01;
      await writeFile(f, bytes);
    });
    expect((await verifyCopy(t)).problems).toEqual([
      { kind: 'checksum-mismatch', key: segs[1]!.key, offset: at, message: expect.stringContaining('xxh64') },
    ]);
    await expectRestoreFails(t, 'SEGMENT_CORRUPT', segs[1]!.key);
  });

  it('a truncated segment: truncated, at its end', async () => {
    const length = segs[2]!.bytes.byteLength - 30;
    const t = await tampered((dir) => truncate(file(dir, segs[2]!.key), length));
    expect((await verifyCopy(t)).problems).toEqual([
      { kind: 'truncated', key: segs[2]!.key, offset: length - 8, message: expect.any(String) },
    ]);
    await expectRestoreFails(t, 'SEGMENT_CORRUPT', segs[2]!.key);
  });

  it('a deleted segment: missing-segment, at the segment that names it', async () => {
    const t = await tampered((dir) => unlink(file(dir, segs[2]!.key)));
    expect((await verifyCopy(t)).problems).toEqual([
      { kind: 'missing-segment', key: segs[3]!.key, message: expect.stringContaining('missing') },
    ]);
    await expectRestoreFails(t, 'CHAIN_BROKEN', segs[3]!.key);
  });

  it('an extra segment: unexpected-segment', async () => {
    // between segments 1 and 2 by LSN, linked to segment 1 as a forger would
    const extra = { ...txs[3]!, commitLsn: txs[3]!.commitLsn + 0x10n, commitTime: txs[3]!.commitTime + 1n };
    const sealed = await sealSegment({
      source: 'app',
      prevSha256: segs[1]!.sha256,
      createdAt: new Date().toISOString(),
      records: [{ payload: encodeRecord(extra), commitLsn: extra.commitLsn, commitTime: extra.commitTime }],
    });
    const key = segmentKey(
      'app',
      (extra.commitTime / 3_600_000_000n) * 3_600_000_000n,
      extra.commitLsn,
      extra.commitLsn,
    );
    expect(key > segs[1]!.key && key < segs[2]!.key).toBe(true);
    const t = await tampered((dir) => writeFile(file(dir, key), sealed.bytes));
    expect((await verifyCopy(t)).problems).toEqual([
      { kind: 'unexpected-segment', key, message: expect.stringContaining('not on the hash chain') },
    ]);
    await expectRestoreFails(t, 'CHAIN_BROKEN', segs[2]!.key);
  });

  it('two swapped segments: order, for both', async () => {
    const t = await tampered(async (dir) => {
      await writeFile(file(dir, segs[1]!.key), segs[2]!.bytes);
      await writeFile(file(dir, segs[2]!.key), segs[1]!.bytes);
    });
    const problems = (await verifyCopy(t)).problems;
    expect(problems.map((p) => [p.kind, p.key])).toEqual([
      ['order', segs[1]!.key],
      ['order', segs[2]!.key],
    ]);
    await expectRestoreFails(t, 'CHAIN_BROKEN', segs[1]!.key);
  });

  it('a forgery with recomputed xxh64 checksums: forged, at the SHA-256 in the footer', async () => {
    const bytes = Buffer.from(segs[3]!.bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const at = recordsStart(bytes);
    const length = view.getUint32(at, true);
    const payload = bytes.subarray(at + 12, at + 12 + length);
    const i = payload.indexOf(Buffer.from('value-6'));
    expect(i).toBeGreaterThan(0);
    payload[i + 6] = '9'.charCodeAt(0); // value-6 → value-9
    view.setBigUint64(at + 4, xxh64(payload), true);
    const footer = bytes.byteLength - SEGMENT_FOOTER_LENGTH;
    view.setBigUint64(footer + 12, xxh64(bytes.subarray(0, footer)), true);
    const t = await tampered((dir) => writeFile(file(dir, segs[3]!.key), bytes));
    expect((await verifyCopy(t)).problems).toEqual([
      { kind: 'forged', key: segs[3]!.key, offset: footer + 20, message: expect.stringContaining('SHA-256') },
    ]);
    await expectRestoreFails(t, 'SEGMENT_CORRUPT', segs[3]!.key);
  });

  it('a segment re-encoded whole (every checksum valid): forged, and the chain breaks after it', async () => {
    const changed = txs
      .slice(6, 8)
      .map((tx, i) =>
        i === 0
          ? { ...tx, changes: [{ op: 'insert' as const, rel: 0, new: { values: ['16', 'forged'] } }] }
          : tx,
      );
    const sealed = await sealSegment({
      source: 'app',
      prevSha256: segs[2]!.sha256,
      createdAt: new Date(Date.now() + 60_000).toISOString(),
      records: changed.map((tx) => ({
        payload: encodeRecord(tx),
        commitLsn: tx.commitLsn,
        commitTime: tx.commitTime,
      })),
    });
    const t = await tampered((dir) => writeFile(file(dir, segs[3]!.key), sealed.bytes));
    expect((await verifyCopy(t)).problems).toEqual([
      { kind: 'forged', key: segs[3]!.key, message: expect.stringContaining('replaced the original') },
    ]);
    await expectRestoreFails(t, 'CHAIN_BROKEN', segs[4]!.key);
  });

  it('a damaged snapshot table file: snapshot-damaged', async () => {
    const dataKey = snap.manifest.tables[0]!.dataKey!;
    const t = await tampered(async (dir) => {
      const f = file(dir, dataKey);
      const bytes = await readFile(f);
      bytes[2]! ^= 0x04;
      await writeFile(f, bytes);
    });
    const problems = (await verifyCopy(t)).problems;
    expect(problems.map((p) => [p.kind, p.key])).toEqual([
      ['window-mismatch', 'app'],
      ['snapshot-damaged', dataKey],
    ]);
    expect(problems[1]?.message).toContain('SHA-256');
    expect(problems[0]?.message).toContain('earliestRestorableTime');
    await expectRestoreFails(t, 'SNAPSHOT_CORRUPT', dataKey);
  });
});
