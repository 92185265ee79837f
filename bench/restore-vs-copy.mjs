/**
 * Restore apply rate: Tidemark's restore (executeRestore, target `latest`) against plain
 * `COPY ... FROM STDIN` (text format) of the same rows, on a throw-away PostgreSQL 15.
 *
 * The journal is made the real way: a base snapshot of BENCH_RESTORE_BASE_ROWS rows, then a
 * workload captured by CaptureService + Journal (small transactions of inserts plus one
 * update, a delete every 10th, and a large insert transaction every BENCH_RESTORE_BULK_EVERY).
 *
 *   node bench/restore-vs-copy.mjs          (after `npm run build`)
 *
 * Sizes: BENCH_SCALE (default 1), or BENCH_RESTORE_BASE_ROWS, BENCH_RESTORE_TXNS,
 * BENCH_RESTORE_ROWS_PER_TXN, BENCH_RESTORE_BULK_EVERY, BENCH_RESTORE_BULK_ROWS.
 * BENCH_RESTORE_TUNING: a JSON RestoreTuning for experiments, e.g. '{"copyMinRows":1}'.
 * A second, instrumented restore splits the time of each phase between SQL statements, COPY,
 * connections and Node (BENCH_RESTORE_PROFILE=0 skips it).
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CaptureService } from '@tidemark/capture';
import { Journal } from '@tidemark/journal';
import {
  executeRestore,
  JournalCatalog,
  parseTargetUrl,
  planFromCatalog,
  readJournal,
} from '@tidemark/restore';
import { formatLsn, LocalObjectStore, parseLsn } from '@tidemark/shared';
import { startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
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

const NAME = 'restore-vs-copy';
const SOURCE = 'bench';
const TABLE = 'bench_items';
const CHUNK = 64 * 1024;

const params = {
  baseRows: size('BENCH_RESTORE_BASE_ROWS', 200_000, 100),
  transactions: size('BENCH_RESTORE_TXNS', 20_000, 100),
  rowsPerTransaction: Number(process.env.BENCH_RESTORE_ROWS_PER_TXN || 5),
  bulkEvery: Number(process.env.BENCH_RESTORE_BULK_EVERY || 1000),
  bulkRows: size('BENCH_RESTORE_BULK_ROWS', 10_000, 10),
  profile: process.env.BENCH_RESTORE_PROFILE !== '0',
  // RestoreTuning passed to executeRestore (unset: the product's defaults), for experiments
  tuning: process.env.BENCH_RESTORE_TUNING ? JSON.parse(process.env.BENCH_RESTORE_TUNING) : {},
};

const TABLE_DDL = `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, account integer NOT NULL,
  amount numeric(12,2) NOT NULL, created timestamptz NOT NULL, status text NOT NULL, note text)`;

await runBenchmark(NAME, async (cleanup) => {
  log(`${NAME}: ${JSON.stringify(params)}`);
  const busyBeforePct = await checkQuiet();
  const cluster = await startPostgres({
    flavor: 'debian15',
    settings: { shared_buffers: '128MB', max_wal_size: '2GB', checkpoint_timeout: '30min' },
  });
  cleanup.add('stop PostgreSQL', () => cluster.stop());
  const admin = await connect(cluster.url());
  cleanup.add('close admin session', () => admin.end());
  const serverVersion = (await admin.query('show server_version')).rows[0].server_version;
  await admin.query('CREATE DATABASE src');
  const src = await connect(cluster.url('src'));
  cleanup.add('close source session', () => src.end());

  // --- source: table, base rows (the snapshot), workload procedure
  await src.query(TABLE_DDL);
  await src.query(`CREATE FUNCTION bench_rows(a bigint, b bigint) RETURNS SETOF ${TABLE} LANGUAGE sql AS $$
    SELECT g, (g % 5000)::integer, ((g * 7919) % 1000000) / 100.0,
           timestamptz '2025-01-01 00:00:00+00' + g * interval '1.234567 second', 'new',
           md5(g::text) || md5((g * 31)::text)
    FROM generate_series(a, b) g $$`);
  await src.query(`CREATE PROCEDURE bench_workload(first_id bigint, txns integer, per_txn integer,
      bulk_every integer, bulk_rows integer) LANGUAGE plpgsql AS $$
    DECLARE next_id bigint := first_id; n integer;
    BEGIN
      FOR i IN 1..txns LOOP
        n := CASE WHEN bulk_every > 0 AND i % bulk_every = 0 THEN bulk_rows ELSE per_txn END;
        INSERT INTO ${TABLE} SELECT * FROM bench_rows(next_id, next_id + n - 1);
        next_id := next_id + n;
        UPDATE ${TABLE} SET status = 'paid', amount = amount + 1 WHERE id = 1 + (i::bigint * 7919) % (next_id - 1);
        IF i % 10 = 0 THEN
          DELETE FROM ${TABLE} WHERE id = 1 + (i::bigint * 104729) % (next_id - 1);
        END IF;
        COMMIT;
      END LOOP;
    END $$`);
  await src.query(`INSERT INTO ${TABLE} SELECT * FROM bench_rows(1, ${params.baseRows})`);
  await src.query('CHECKPOINT');

  // --- capture: base snapshot, then the workload streamed into the journal
  const journalDir = await tempDir(cleanup, 'journal');
  const store = new LocalObjectStore(journalDir);
  const counts = { transactions: 0, insert: 0, update: 0, delete: 0, other: 0 };
  let markerLsn;
  let resolveDurable;
  const durable = new Promise((r) => {
    resolveDurable = r;
  });
  const journal = new Journal({
    store,
    source: SOURCE,
    maxSegmentBytes: 16 * MiB,
    maxSegmentAgeMs: 1000,
    logger: quiet(),
    onDurable: (info) => {
      if (markerLsn !== undefined && info.lastLsn >= markerLsn) resolveDurable();
    },
  });
  await journal.open();
  const sink = {
    write(tx) {
      counts.transactions++;
      for (const c of tx.changes) counts[c.op in counts ? c.op : 'other']++;
      return journal.write(tx);
    },
    durableLsn: () => journal.durableLsn(),
    close: () => journal.close(),
  };
  const capture = new CaptureService({
    sourceUrl: cluster.url('src'),
    sourceName: SOURCE,
    slotName: 'tidemark_bench',
    publicationName: 'tidemark_bench',
    tablesWithoutKey: 'refuse',
    store,
    sink,
    heartbeatIntervalMs: 0,
    logger: quiet(),
  });
  let t = performance.now();
  await capture.start();
  cleanup.add('stop capture', async () => {
    await capture.stop();
    await journal.close();
  });
  log(`capture started, base snapshot of ${fmt(params.baseRows)} rows in ${fmt(performance.now() - t)} ms`);
  t = performance.now();
  await src.query(
    `CALL bench_workload(${params.baseRows + 1}, ${params.transactions}, ${params.rowsPerTransaction}, ${params.bulkEvery}, ${params.bulkRows})`,
  );
  await src.query('BEGIN');
  await src.query(`INSERT INTO ${TABLE} SELECT * FROM bench_rows(0, 0)`); // the end marker
  markerLsn = parseLsn((await src.query('select pg_current_wal_insert_lsn()::text as l')).rows[0].l);
  await src.query('COMMIT');
  const sourceWorkloadMs = performance.now() - t;
  log(`workload ran in ${fmt(sourceWorkloadMs)} ms; waiting for the journal`);
  await Promise.race([
    durable,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`journal never reached ${formatLsn(markerLsn)}`)), 240_000).unref(),
    ),
  ]);
  await capture.stop();
  await journal.close();
  const changes = counts.insert + counts.update + counts.delete + counts.other;
  log(
    `journal: ${fmt(counts.transactions)} transactions, ${fmt(changes)} changes ` +
      `(${fmt(counts.insert)} inserts, ${fmt(counts.update)} updates, ${fmt(counts.delete)} deletes) in ${fmt(performance.now() - t)} ms`,
  );

  // --- references: plain COPY (text) into an empty table that has its primary key
  const finalText = await copyOut(src, `COPY ${TABLE} TO STDOUT`);
  const finalRows = countLines(finalText);
  const catalog = new JournalCatalog(store);
  const snapshot = (await catalog.listSnapshots(SOURCE))[0];
  const snapshotTable = snapshot.tables.find((x) => x.table === TABLE);
  const snapshotText = await store.get(snapshotTable.dataKey);
  // every measured step starts with no dirty page cache left by the steps before
  await syncDisks();
  const refSnapshot = await copyReference(admin, cluster, 'ref_snapshot', snapshotText);
  await syncDisks();
  const refFinal = await copyReference(admin, cluster, 'ref_final', finalText);
  log(`COPY of the snapshot data: ${fmt(refSnapshot.rows)} rows in ${fmt(refSnapshot.copyMs)} ms`);
  log(`COPY of the final table:   ${fmt(refFinal.rows)} rows in ${fmt(refFinal.copyMs)} ms`);

  // --- Tidemark restore, latest, into a new database
  await syncDisks();
  const restored = await timedRestore(store, cluster.url('restored'));
  log(
    `Tidemark restore: ${fmt(restored.totalMs)} ms (snapshot ${fmt(restored.snapshotMs)}, replay ${fmt(restored.replayMs)}, finish ${fmt(restored.finishMs)})`,
  );
  const same = await sameTable(cluster.url('src'), cluster.url('restored'));
  if (!same.equal) throw new Error(`restored table differs from the source: ${JSON.stringify(same)}`);

  // --- where the replay time goes: journal read+verify+decode alone, and optionally an instrumented restore
  const plan = await planFromCatalog(catalog, SOURCE, { kind: 'latest' });
  t = performance.now();
  let readRecords = 0;
  for await (const _ of readJournal(store, plan)) readRecords++;
  const readMs = performance.now() - t;
  let profile;
  if (params.profile) {
    await syncDisks();
    profile = await profiledRestore(store, cluster.url('restored_profiled'));
  }

  // --- report
  const replayChangesPerSec = restored.outcome.changes / (restored.replayMs / 1000);
  const copyRowsPerSec = refFinal.rows / (refFinal.copyMs / 1000);
  const snapshotRowsPerSec = refSnapshot.rows / (restored.snapshotMs / 1000);
  const refSnapshotRowsPerSec = refSnapshot.rows / (refSnapshot.copyMs / 1000);
  console.log('');
  printTable([
    ['what', 'rows or changes', 'seconds', 'per second', 'MiB/s'],
    [
      'COPY, final table (reference)',
      refFinal.rows,
      refFinal.copyMs / 1000,
      copyRowsPerSec,
      refFinal.bytes / MiB / (refFinal.copyMs / 1000),
    ],
    [
      'COPY, snapshot data (reference)',
      refSnapshot.rows,
      refSnapshot.copyMs / 1000,
      refSnapshotRowsPerSec,
      refSnapshot.bytes / MiB / (refSnapshot.copyMs / 1000),
    ],
    [
      '  same + CREATE DATABASE, TABLE',
      refSnapshot.rows,
      refSnapshot.totalMs / 1000,
      refSnapshot.rows / (refSnapshot.totalMs / 1000),
      '-',
    ],
    [
      '  final table + CREATE DATABASE, TABLE',
      refFinal.rows,
      refFinal.totalMs / 1000,
      refFinal.rows / (refFinal.totalMs / 1000),
      '-',
    ],
    [
      'Tidemark snapshot phase (load + PK)',
      refSnapshot.rows,
      restored.snapshotMs / 1000,
      snapshotRowsPerSec,
      refSnapshot.bytes / MiB / (restored.snapshotMs / 1000),
    ],
    [
      'Tidemark replay phase (changes)',
      restored.outcome.changes,
      restored.replayMs / 1000,
      replayChangesPerSec,
      '-',
    ],
    [
      'Tidemark whole restore (final rows)',
      finalRows,
      restored.totalMs / 1000,
      finalRows / (restored.totalMs / 1000),
      '-',
    ],
    ['journal read+verify+decode only', readRecords, readMs / 1000, readRecords / (readMs / 1000), '-'],
  ]);
  const ratios = {
    replayChangesVsCopyRows: ratio(replayChangesPerSec, copyRowsPerSec),
    wholeRestoreVsCopyFinal: ratio(refFinal.totalMs, restored.totalMs),
    snapshotPhaseVsCopySnapshot: ratio(refSnapshot.totalMs, restored.snapshotMs),
  };
  console.log(
    `\nratio replay changes/s ÷ COPY rows/s:          ${ratios.replayChangesVsCopyRows.toFixed(3)}`,
  );
  console.log(
    `ratio whole restore vs CREATE DATABASE + COPY of the final table: ${ratios.wholeRestoreVsCopyFinal.toFixed(3)}`,
  );
  console.log(
    `ratio snapshot phase vs CREATE DATABASE + COPY of the same bytes: ${ratios.snapshotPhaseVsCopySnapshot.toFixed(3)}`,
  );
  if (profile) {
    for (const name of ['loading-snapshot', 'replaying']) {
      const ph = profile[name];
      console.log(
        `\ninstrumented restore, phase ${name} (${fmt(ph.ms)} ms; wrapping pg adds a little overhead):`,
      );
      printTable([
        ['part', 'calls', 'ms', 'share', 'µs per call'],
        ...ph.parts.map((p) => [
          p.what,
          p.calls,
          p.ms,
          `${((p.ms / ph.ms) * 100).toFixed(1)}%`,
          p.calls ? (p.ms * 1000) / p.calls : '-',
        ]),
      ]);
    }
  }

  const file = await writeResult(NAME, {
    machine: await machineInfo({ postgres: serverVersion, busyBeforePct }),
    params,
    // the source made the same changes inside one CALL (no round trips): a rough floor
    journal: { ...counts, changes, finalRows, sourceWorkloadMs },
    copyFinal: {
      rows: refFinal.rows,
      MiB: refFinal.bytes / MiB,
      ms: refFinal.copyMs,
      withCreateDatabaseMs: refFinal.totalMs,
      rowsPerSec: copyRowsPerSec,
    },
    copySnapshot: {
      rows: refSnapshot.rows,
      MiB: refSnapshot.bytes / MiB,
      ms: refSnapshot.copyMs,
      withCreateDatabaseMs: refSnapshot.totalMs,
      rowsPerSec: refSnapshotRowsPerSec,
    },
    tidemark: {
      totalMs: restored.totalMs,
      planMs: restored.planMs,
      snapshotMs: restored.snapshotMs,
      replayMs: restored.replayMs,
      finishMs: restored.finishMs,
      snapshotRowsPerSec,
      replayChangesPerSec,
      replayTransactionsPerSec: restored.outcome.transactions / (restored.replayMs / 1000),
      wholeRestoreFinalRowsPerSec: finalRows / (restored.totalMs / 1000),
      journalReadOnlyMs: readMs,
      verifiedEqualToSource: same.equal,
    },
    ratio: ratios,
    ...(profile ? { profile } : {}),
  });
  log(`wrote ${file}`);
});

async function timedRestore(store, url) {
  const marks = { start: performance.now() };
  const outcome = await executeRestore({
    id: randomUUID(),
    source: SOURCE,
    target: { kind: 'latest' },
    into: parseTargetUrl(url),
    store,
    catalog: new JournalCatalog(store),
    signal: new AbortController().signal,
    logger: quiet(),
    tuning: params.tuning,
    onProgress: (p) => {
      if (p.phase && !(p.phase in marks)) marks[p.phase] = performance.now();
    },
  });
  marks.end = performance.now();
  return {
    outcome,
    totalMs: marks.end - marks.start,
    planMs: marks['loading-snapshot'] - marks.start,
    snapshotMs: marks.replaying - marks['loading-snapshot'],
    replayMs: marks.finishing - marks.replaying,
    finishMs: marks.end - marks.finishing,
  };
}

/**
 * A second restore with pg.Client#query and #connect wrapped to time every statement and
 * connection, by restore phase and kind. Replay runs on one connection, one statement at a
 * time, so the sum of the awaited statement times is wall time spent waiting on
 * PostgreSQL; the rest is Node (read, verify, decode, build SQL, encode COPY rows).
 */
async function profiledRestore(store, url) {
  const proto = pg.Client.prototype;
  const original = { query: proto.query, connect: proto.connect };
  const phases = { 'loading-snapshot': new Map(), replaying: new Map(), finishing: new Map() };
  const phaseMs = {};
  let phase;
  let phaseStart;
  const add = (what, ms) => {
    const parts = phases[phase];
    if (!parts) return;
    const p = parts.get(what) ?? { what, calls: 0, ms: 0 };
    p.calls++;
    p.ms += ms;
    parts.set(what, p);
  };
  proto.connect = function (...args) {
    const started = performance.now();
    const result = original.connect.apply(this, args);
    if (result && typeof result.then === 'function')
      return result.finally(() => add('connect', performance.now() - started));
    return result;
  };
  proto.query = function (config, values, callback) {
    const started = performance.now();
    const result = original.query.call(this, config, values, callback);
    if (typeof config?.submit === 'function') {
      // COPY FROM STDIN is a stream: timed until it finished on the server
      const done = () => add('COPY', performance.now() - started);
      result.once('finish', done);
      result.once('error', done);
      return result;
    }
    const text = typeof config === 'string' ? config : config.text;
    const words = /^\s*(\w+)(?:\s+(\w+))?/.exec(text) ?? [];
    const first = (words[1] ?? '?').toUpperCase();
    let what = first;
    if (first === 'CREATE' || first === 'ALTER') what = `${first} ${(words[2] ?? '').toUpperCase()}`;
    if (text.includes('_tidemark.restore_progress') && first === 'INSERT') what = 'progress row';
    else if (['INSERT', 'UPDATE', 'DELETE'].includes(first) && typeof config === 'object' && config.name)
      what = `single-row ${first} (prepared)`;
    if (text.includes('ADD PRIMARY KEY') || text.includes('PRIMARY KEY (')) what = 'add primary key';
    if (result && typeof result.then === 'function')
      return result.finally(() => add(what, performance.now() - started));
    return result;
  };
  const started = performance.now();
  try {
    await executeRestore({
      id: randomUUID(),
      source: SOURCE,
      target: { kind: 'latest' },
      into: parseTargetUrl(url),
      store,
      catalog: new JournalCatalog(store),
      signal: new AbortController().signal,
      logger: quiet(),
      tuning: params.tuning,
      onProgress: (p) => {
        if (!p.phase || p.phase === phase) return;
        const now = performance.now();
        if (phase) phaseMs[phase] = now - phaseStart;
        phase = p.phase;
        phaseStart = now;
      },
    });
    phaseMs[phase] = performance.now() - phaseStart;
  } finally {
    proto.query = original.query;
    proto.connect = original.connect;
  }
  const out = { totalMs: performance.now() - started };
  for (const [name, parts] of Object.entries(phases)) {
    const list = [...parts.values()].sort((a, b) => b.ms - a.ms);
    const inSql = list.reduce((s, p) => s + p.ms, 0);
    list.push({ what: 'Node (everything else)', calls: 0, ms: Math.max(0, phaseMs[name] - inSql) });
    out[name] = { ms: phaseMs[name], parts: list };
  }
  return out;
}

/**
 * CREATE DATABASE + CREATE TABLE (with its primary key) + one COPY of `text` in a
 * transaction, streamed in 64 KiB chunks like the snapshot loader does. `copyMs` is the
 * COPY alone, `totalMs` includes creating the database and the table.
 */
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
  const stream = client.query(copyTo(sql));
  for await (const c of stream) parts.push(c);
  const b = Buffer.concat(parts);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function countLines(bytes) {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) n++;
  return n;
}

async function sameTable(urlA, urlB) {
  const q = `select count(*)::int as n, md5(string_agg(t::text, E'\\n' order by id)) as h from ${TABLE} t`;
  const [a, b] = await Promise.all(
    [urlA, urlB].map(async (u) => {
      const c = await connect(u);
      try {
        await c.query("set timezone = 'UTC'");
        return (await c.query(q)).rows[0];
      } finally {
        await c.end();
      }
    }),
  );
  return { equal: a.n === b.n && a.h === b.h, source: a, restored: b };
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
