/**
 * Journal verification speed (POST /v1/verifications): a journal of zstd segments in a
 * local directory store, verified whole with 1, 4 and 8 segments read at once, against
 * reading the same objects alone (what the store allows) and against the checks alone on
 * bytes already in memory (what the CPU allows).
 *
 *   node bench/verify-throughput.mjs            (after `npm run build`)
 *
 * BENCH_VERIFY_SEGMENTS: segments (default 48 × BENCH_SCALE); BENCH_VERIFY_SEGMENT_MIB:
 * record bytes per segment (default 4). The page cache is warm for every run (the journal
 * was just written), so "store" here is the local file system at memory speed: on S3 the
 * reads, not the checks, set the pace, and parallel reads are what matter.
 */
import path from 'node:path';
import { JournalCatalog, verifyJournal } from '@tidemark/restore';
import {
  encodeRecord,
  formatLsn,
  initChecksums,
  LocalObjectStore,
  sealSegment,
  segmentKey,
  sha256Hex,
  snapshotManifestKey,
  sourceRegistryKey,
  tipKey,
  verifySegment,
} from '@tidemark/shared';
import {
  fmt,
  log,
  MiB,
  machineInfo,
  printTable,
  runBenchmark,
  size,
  tempDir,
  writeResult,
} from './lib/bench-kit.mjs';
import { pgbenchTx } from './lib/sample-records.mjs';

const NAME = 'verify-throughput';
const params = {
  segments: size('BENCH_VERIFY_SEGMENTS', 48, 4),
  segmentMiB: Number(process.env.BENCH_VERIFY_SEGMENT_MIB || 4),
};

await runBenchmark(NAME, async (cleanup) => {
  await initChecksums();
  log(`${NAME}: ${JSON.stringify(params)}`);
  const dir = await tempDir(cleanup, 'verify');
  const store = new LocalObjectStore(path.join(dir, 'journal'));
  const json = (v) => new TextEncoder().encode(JSON.stringify(v));
  const source = 'main';
  await store.put(sourceRegistryKey(source), json({ name: source, created: new Date().toISOString() }));
  const manifest = json({
    formatVersion: 1,
    source,
    lsn: '0/1',
    snapshotTime: '1714557600000000',
    createdAt: new Date().toISOString(),
    serverVersion: 150000,
    tables: [],
  });
  await store.put(snapshotManifestKey(source, 1n), manifest);
  let prev = sha256Hex(manifest);
  let i = 0;
  let bytes = 0;
  let rawBytes = 0;
  let last;
  for (let s = 0; s < params.segments; s++) {
    const records = [];
    let recordBytes = 0;
    while (recordBytes < params.segmentMiB * MiB) {
      const tx = pgbenchTx(i++);
      const payload = encodeRecord({ ...tx, source });
      records.push({ payload, commitLsn: tx.commitLsn, commitTime: tx.commitTime });
      recordBytes += payload.byteLength + 12;
    }
    const sealed = await sealSegment(
      { source, prevSha256: prev, createdAt: new Date().toISOString(), records },
      { compression: 'zstd' },
    );
    const first = records[0];
    last = records[records.length - 1];
    const key = segmentKey(
      source,
      (first.commitTime / 3_600_000_000n) * 3_600_000_000n,
      first.commitLsn,
      last.commitLsn,
    );
    await store.put(key, sealed.bytes);
    bytes += sealed.bytes.byteLength;
    rawBytes += recordBytes;
    prev = sealed.sha256;
    await store.put(
      tipKey(source),
      json({
        formatVersion: 1,
        source,
        segmentKey: key,
        firstLsn: formatLsn(first.commitLsn),
        lastLsn: formatLsn(last.commitLsn),
        lastCommitTime: String(last.commitTime),
        sha256: prev,
        snapshotLsn: '0/1',
        updatedAt: new Date().toISOString(),
      }),
    );
  }
  log(
    `journal: ${params.segments} segments, ${fmt(bytes / MiB)} MiB stored, ${fmt(rawBytes / MiB)} MiB of records`,
  );

  const catalog = new JournalCatalog(store);
  const keys = await catalog.listSegmentKeys(source);
  const timed = async (fn) => {
    const t = performance.now();
    await fn();
    return (performance.now() - t) / 1000;
  };
  const readOnly = await timed(async () => {
    for (const k of keys) await store.get(k);
  });
  const blobs = await Promise.all(keys.map((k) => store.get(k)));
  const checksOnly = await timed(async () => {
    for (const b of blobs) if (!verifySegment(b).ok) throw new Error('segment does not verify');
  });
  const runs = [];
  for (const concurrency of [1, 4, 8]) {
    const seconds = await timed(async () => {
      const r = await verifyJournal(store, catalog, source, { concurrency });
      if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
    });
    runs.push({
      concurrency,
      seconds,
      mibPerSecond: bytes / MiB / seconds,
      recordMibPerSecond: rawBytes / MiB / seconds,
    });
  }
  const rows = [
    ['what', 'seconds', 'MiB/s (stored)', 'MiB/s (records)'],
    ['read every segment, one at a time', fmt(readOnly), fmt(bytes / MiB / readOnly), ''],
    [
      'checks only (bytes in memory)',
      fmt(checksOnly),
      fmt(bytes / MiB / checksOnly),
      fmt(rawBytes / MiB / checksOnly),
    ],
    ...runs.map((r) => [
      `verifyJournal, ${r.concurrency} at once`,
      fmt(r.seconds),
      fmt(r.mibPerSecond),
      fmt(r.recordMibPerSecond),
    ]),
  ];
  printTable(rows);
  await writeResult(NAME, {
    params,
    machine: await machineInfo(),
    storedMiB: bytes / MiB,
    recordMiB: rawBytes / MiB,
    readOnly: { seconds: readOnly, mibPerSecond: bytes / MiB / readOnly },
    checksOnly: { seconds: checksOnly, mibPerSecond: bytes / MiB / checksOnly },
    runs,
  });
});
