/**
 * Restore of a large journal: ~1 GiB of segments replayed into a fresh database, against
 * plain `COPY ... FROM STDIN` (text) of the same final rows into a table with its primary
 * key, on a throw-away PostgreSQL 15.
 *
 * The journal is written directly with the journal's own code (the segment format, the
 * hash chain from the manifest, the tip: what capture + journal write), from synthetic
 * transactions: BENCH_1GIB_ROWS_PER_TXN inserts of ~130-byte rows, an update of an earlier
 * row, and a delete every 10th transaction. A small base snapshot (10k rows) starts it.
 * Segments are plain (no zstd) so that "1 GiB of journal" is 1 GiB of records; with the
 * default zstd the same journal is several times smaller on disk and replays at the same
 * rate (decompression is not the bottleneck, see segment-compression).
 *
 *   node bench/restore-1gib.mjs          (after `npm run build`; not part of npm test)
 *
 * Size: BENCH_1GIB_MIB (default 1024 × BENCH_SCALE) MiB of segments.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { executeRestore, JournalCatalog, parseTargetUrl } from '@tidemark/restore';
import { encodeRecord, initChecksums, LocalObjectStore } from '@tidemark/shared';
import { startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import {
  relationOf,
  TxBuilder,
  writeSegments,
  writeSnapshot,
} from '../services/restore/dist/engine/testing/journal-fixture.js';
import {
  checkQuiet,
  fmt,
  log,
  MiB,
  machineInfo,
  printTable,
  ratio,
  runBenchmark,
  size,
  syncDisks,
  tempDir,
  writeResult,
} from './lib/bench-kit.mjs';

const NAME = 'restore-1gib';
const SOURCE = 'bench';
const TABLE = 'items';
const SEGMENT_BYTES = 16 * MiB;
const BASE_ROWS = 10_000;
const CHUNK = 64 * 1024;

const params = {
  journalMiB: size('BENCH_1GIB_MIB', 1024, 4),
  rowsPerTransaction: Number(process.env.BENCH_1GIB_ROWS_PER_TXN || 10),
};

const COLUMNS = [
  { name: 'id', type: 'bigint', typeOid: 20, notNull: true },
  { name: 'account', type: 'integer', typeOid: 23, notNull: true },
  { name: 'amount', type: 'numeric(12,2)', typeOid: 1700, notNull: true },
  { name: 'created', type: 'timestamp with time zone', typeOid: 1184, notNull: true },
  { name: 'status', type: 'text', typeOid: 25, notNull: true },
  { name: 'note', type: 'text', typeOid: 25, notNull: false },
];
const TABLE_DDL = `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, account integer NOT NULL,
  amount numeric(12,2) NOT NULL, created timestamptz NOT NULL, status text NOT NULL, note text)`;

function row(id) {
  const n = Number(id);
  const created = new Date(Date.UTC(2025, 0, 1) + n * 1234)
    .toISOString()
    .replace('T', ' ')
    .replace('Z', '+00');
  return [
    String(id),
    String(n % 5000),
    (((n * 7919) % 1_000_000) / 100).toFixed(2),
    created,
    'new',
    `${(n * 2654435761).toString(16).padStart(16, '0')}-${'x'.repeat(40 + (n % 24))}`,
  ];
}

await runBenchmark(NAME, async (cleanup) => {
  log(`${NAME}: ${JSON.stringify(params)}`);
  await initChecksums();
  const busyBeforePct = await checkQuiet();

  // --- the journal: snapshot, then segments of synthetic transactions
  const journalDir = await tempDir(cleanup, 'journal');
  const store = new LocalObjectStore(journalDir);
  const T0 = 1_750_000_000_000_000n;
  const snapshot = await writeSnapshot(store, {
    source: SOURCE,
    lsn: 0x1000000n,
    snapshotTime: T0,
    tables: [
      {
        schema: 'public',
        table: TABLE,
        primaryKey: ['id'],
        columns: COLUMNS,
        data: Array.from({ length: BASE_ROWS }, (_, i) => row(BigInt(i + 1))),
      },
    ],
  });
  const oid = snapshot.manifest.tables[0].oid;
  const rel = relationOf(oid, 'public', TABLE, [
    ['id', true],
    'account',
    'amount',
    'created',
    'status',
    'note',
  ]);
  const tx = new TxBuilder(SOURCE, snapshot.lsn, T0);
  const live = { rows: BASE_ROWS, nextId: BigInt(BASE_ROWS + 1), deleted: new Set() };
  const counts = { transactions: 0, inserts: 0, updates: 0, deletes: 0 };
  let journalBytes = 0;
  let segments = 0;
  let prev = snapshot.sha256;
  let partition = 0n;
  const target = params.journalMiB * MiB;
  const t = performance.now();
  while (journalBytes < target) {
    const group = [];
    let estimate = 0;
    while (estimate < SEGMENT_BYTES) {
      const changes = [];
      for (let i = 0; i < params.rowsPerTransaction; i++) {
        changes.push({ op: 'insert', rel: 0, new: { values: row(live.nextId++) } });
        counts.inserts++;
        live.rows++;
      }
      const n = counts.transactions;
      // an update of an earlier row, never one deleted before
      let victim = 1n + ((BigInt(n) * 7919n) % (live.nextId - 1n));
      while (live.deleted.has(victim)) victim++;
      if (victim < live.nextId) {
        const values = row(victim);
        values[4] = 'paid';
        changes.push({ op: 'update', rel: 0, new: { values } });
        counts.updates++;
      }
      if (n % 10 === 9) {
        let gone = 1n + ((BigInt(n) * 104729n) % (live.nextId - 1n));
        while (live.deleted.has(gone)) gone++;
        if (gone < live.nextId) {
          changes.push({
            op: 'delete',
            rel: 0,
            old: { values: [String(gone), null, null, null, null, null] },
            oldKind: 'key',
          });
          live.deleted.add(gone);
          live.rows--;
          counts.deletes++;
        }
      }
      const record = tx.tx([rel], changes, { timeStep: 1000n });
      // the first record of each segment is measured, the rest estimated from it
      estimate += group.length === 0 ? encodeRecord(record).byteLength + 12 : estimate / group.length;
      group.push(record);
      counts.transactions++;
    }
    const [written] = await writeSegments(store, {
      source: SOURCE,
      snapshotLsn: snapshot.lsn,
      prevSha256: prev,
      prevPartitionMicros: partition,
      groups: [group],
    });
    prev = written.sha256;
    partition = (group[0].commitTime / 3_600_000_000n) * 3_600_000_000n;
    journalBytes += written.bytes.byteLength;
    segments++;
    if (segments % 8 === 0) log(`journal: ${fmt(journalBytes / MiB)} MiB in ${segments} segments`);
  }
  const generateMs = performance.now() - t;
  const changes = counts.inserts + counts.updates + counts.deletes;
  log(
    `journal: ${fmt(journalBytes / MiB)} MiB, ${segments} segments, ${fmt(counts.transactions)} transactions, ` +
      `${fmt(changes)} changes, written in ${fmt(generateMs)} ms`,
  );

  // --- PostgreSQL, restore
  const cluster = await startPostgres({
    flavor: 'debian15',
    settings: { shared_buffers: '256MB', max_wal_size: '4GB', checkpoint_timeout: '30min' },
  });
  cleanup.add('stop PostgreSQL', () => cluster.stop());
  const admin = await connect(cluster.url());
  cleanup.add('close admin session', () => admin.end());
  const serverVersion = (await admin.query('show server_version')).rows[0].server_version;

  await syncDisks();
  const restored = await timedRestore(store, cluster.url('restored'));
  log(
    `Tidemark restore: ${fmt(restored.totalMs)} ms (snapshot ${fmt(restored.snapshotMs)}, replay ${fmt(restored.replayMs)}, finish ${fmt(restored.finishMs)})`,
  );
  const check = await connect(cluster.url('restored'));
  const got = (await check.query(`SELECT count(*)::int AS n FROM ${TABLE}`)).rows[0].n;
  if (got !== live.rows) throw new Error(`restored ${got} rows, expected ${live.rows}`);
  const finalText = await copyOut(check, `COPY ${TABLE} TO STDOUT`);
  await check.end();

  // --- reference: the same final rows with one plain COPY
  await syncDisks();
  const ref = await copyReference(admin, cluster, 'ref_copy', finalText);
  log(`COPY of the final rows: ${fmt(ref.rows)} rows, ${fmt(ref.bytes / MiB)} MiB in ${fmt(ref.copyMs)} ms`);

  const seconds = restored.totalMs / 1000;
  const replaySeconds = restored.replayMs / 1000;
  console.log('');
  printTable([
    ['what', 'seconds', 'MiB/s (journal)', 'changes or rows/s'],
    ['Tidemark whole restore', seconds, journalBytes / MiB / seconds, changes / seconds],
    ['Tidemark replay phase', replaySeconds, journalBytes / MiB / replaySeconds, changes / replaySeconds],
    ['COPY of the final rows (reference)', ref.copyMs / 1000, '-', ref.rows / (ref.copyMs / 1000)],
    ['  + CREATE DATABASE, TABLE', ref.totalMs / 1000, '-', ref.rows / (ref.totalMs / 1000)],
  ]);
  const ratios = {
    wholeRestoreVsCopyFinal: ratio(ref.totalMs, restored.totalMs),
    replayChangesVsCopyRows: ratio(changes / replaySeconds, ref.rows / (ref.copyMs / 1000)),
  };
  console.log(
    `\nratio whole restore vs CREATE DATABASE + COPY of the final rows: ${ratios.wholeRestoreVsCopyFinal.toFixed(3)}`,
  );
  console.log(`ratio replay changes/s ÷ COPY rows/s: ${ratios.replayChangesVsCopyRows.toFixed(3)}`);

  const file = await writeResult(NAME, {
    machine: await machineInfo({ postgres: serverVersion, busyBeforePct }),
    params,
    journal: {
      MiB: journalBytes / MiB,
      segments,
      ...counts,
      changes,
      finalRows: live.rows,
      generateMs,
    },
    tidemark: {
      totalMs: restored.totalMs,
      snapshotMs: restored.snapshotMs,
      replayMs: restored.replayMs,
      finishMs: restored.finishMs,
      journalMiBPerSec: journalBytes / MiB / seconds,
      replayJournalMiBPerSec: journalBytes / MiB / replaySeconds,
      replayChangesPerSec: changes / replaySeconds,
      transactionsPerSec: counts.transactions / replaySeconds,
    },
    copyFinal: {
      rows: ref.rows,
      MiB: ref.bytes / MiB,
      ms: ref.copyMs,
      withCreateDatabaseMs: ref.totalMs,
      rowsPerSec: ref.rows / (ref.copyMs / 1000),
    },
    ratio: ratios,
  });
  log(`wrote ${file}`);
});

async function timedRestore(store, url) {
  const marks = { start: performance.now() };
  let lastLog = 0;
  const outcome = await executeRestore({
    id: `r_${randomUUID().replace(/-/g, '')}`,
    source: SOURCE,
    target: { kind: 'latest' },
    into: parseTargetUrl(url),
    store,
    catalog: new JournalCatalog(store),
    signal: new AbortController().signal,
    logger: quiet(),
    onProgress: (p) => {
      if (p.phase && !(p.phase in marks)) marks[p.phase] = performance.now();
      if (p.transactionsApplied !== undefined && performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`  replayed ${fmt(p.transactionsApplied)} transactions`);
      }
    },
  });
  marks.end = performance.now();
  return {
    outcome,
    totalMs: marks.end - marks.start,
    snapshotMs: marks.replaying - marks['loading-snapshot'],
    replayMs: marks.finishing - marks.replaying,
    finishMs: marks.end - marks.finishing,
  };
}

async function copyReference(admin, cluster, database, text) {
  const started = performance.now();
  await admin.query(`CREATE DATABASE ${database} TEMPLATE template0 ENCODING 'UTF8'`);
  const client = await connect(cluster.url(database));
  try {
    await client.query(TABLE_DDL);
    const copyStarted = performance.now();
    await client.query('BEGIN');
    const copy = client.query(copyFrom(`COPY ${TABLE} FROM STDIN`));
    await pipeline(Readable.from(chunks(text)), copy);
    await client.query('COMMIT');
    const now = performance.now();
    return { rows: copy.rowCount, bytes: text.byteLength, copyMs: now - copyStarted, totalMs: now - started };
  } finally {
    await client.end();
  }
}

function* chunks(bytes) {
  for (let i = 0; i < bytes.byteLength; i += CHUNK) yield bytes.subarray(i, i + CHUNK);
}

async function copyOut(client, sql) {
  const parts = [];
  for await (const c of client.query(copyTo(sql))) parts.push(c);
  const b = Buffer.concat(parts);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

async function connect(connectionString) {
  const client = new pg.Client({ connectionString });
  client.on('error', () => {});
  await client.connect();
  return client;
}

function quiet() {
  const out = (level) => (obj, msg) =>
    process.stderr.write(
      `${level}: ${msg ?? ''} ${JSON.stringify(obj, (_, v) => (typeof v === 'bigint' ? String(v) : v instanceof Error ? v.message : v))}\n`,
    );
  return { debug: () => {}, info: () => {}, warn: out('warn'), error: out('error') };
}
