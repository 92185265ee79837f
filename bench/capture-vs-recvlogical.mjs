/**
 * Capture throughput: Tidemark (CaptureService + Journal on a LocalObjectStore, real
 * fsyncs) against PostgreSQL's own pg_recvlogical (pgoutput, output to /dev/null), both
 * consuming the same WAL range, each from its own slot, on a throw-away PostgreSQL 15.
 *
 *   node bench/capture-vs-recvlogical.mjs          (after `npm run build`)
 *
 * All slots are created before the workload runs, and the consumers run one at a time,
 * alternating (pg_recvlogical, Tidemark, pg_recvlogical, Tidemark, ...): each run gets
 * its own slot, so every run decodes the whole range. The best run of each is compared.
 *
 * Sizes: BENCH_SCALE (default 1), or BENCH_CAPTURE_TXNS (pgbench transactions),
 * BENCH_CAPTURE_BULK_TXNS and BENCH_CAPTURE_BULK_ROWS (large insert transactions);
 * BENCH_CAPTURE_CLIENTS (pgbench clients, default 2), BENCH_CAPTURE_RUNS (runs of each
 * consumer, default 3).
 */
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CaptureService } from '@tidemark/capture';
import { Journal } from '@tidemark/journal';
import { formatLsn, LocalObjectStore, lsnDiff, parseLsn } from '@tidemark/shared';
import { startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { LogicalReplicationService } from 'pg-logical-replication';
import {
  checkQuiet,
  fmt,
  log,
  MiB,
  machineInfo,
  printTable,
  ratio,
  runBenchmark,
  runProgram,
  sampleCpu,
  size,
  sleep,
  syncDisks,
  tempDir,
  writeResult,
} from './lib/bench-kit.mjs';

const NAME = 'capture-vs-recvlogical';
const DB = 'bench';
const PUBLICATION = 'tidemark_bench';
const SEGMENT_MAX_BYTES = 16 * MiB; // the product defaults (README, Configuration)
const SEGMENT_MAX_AGE_MS = 1000;

const params = {
  runs: Number(process.env.BENCH_CAPTURE_RUNS || 3),
  pgbenchScale: 1,
  pgbenchClients: Number(process.env.BENCH_CAPTURE_CLIENTS || 2),
  pgbenchTransactions: size('BENCH_CAPTURE_TXNS', 100_000, 100),
  bulkTransactions: size('BENCH_CAPTURE_BULK_TXNS', 10, 0),
  bulkRowsPerTransaction: size('BENCH_CAPTURE_BULK_ROWS', 20_000, 100),
};
params.pgbenchTransactions -= params.pgbenchTransactions % params.pgbenchClients;

await runBenchmark(NAME, async (cleanup) => {
  log(`${NAME}: ${JSON.stringify(params)}`);
  const busyBeforePct = await checkQuiet();
  const cluster = await startPostgres({
    flavor: 'debian15',
    settings: { shared_buffers: '128MB', max_wal_size: '2GB', checkpoint_timeout: '30min' },
  });
  cleanup.add('stop PostgreSQL', () => cluster.stop());
  const binDir = cluster.binDir;
  if (!binDir) throw new Error('the debian15 cluster has no binDir');
  const url = cluster.url(DB);
  const admin = await connect(cluster.url());
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();
  const pgEnv = {
    ...process.env,
    PGHOST: '127.0.0.1',
    PGPORT: String(cluster.port),
    PGUSER: 'postgres',
    PGPASSWORD: 'postgres',
    PGDATABASE: DB,
  };
  const sql = await connect(url);
  cleanup.add('close SQL session', () => sql.end());
  const serverVersion = (await sql.query('show server_version')).rows[0].server_version;

  // --- schema and initial data: in the base snapshot, not in the measured range
  log('pgbench -i');
  await runProgram(path.join(binDir, 'pgbench'), ['-i', '-q', '-s', String(params.pgbenchScale)], {
    env: pgEnv,
  });
  // Tidemark refuses tables without a key by default; pgbench_history has none
  await sql.query('ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY');
  await sql.query(`CREATE TABLE bench_bulk (id bigint PRIMARY KEY, account integer NOT NULL,
    amount numeric(12,2) NOT NULL, created timestamptz NOT NULL, note text)`);

  // --- slots. Tidemark: one source per run (publication, slot with exported snapshot,
  // base snapshot; then stopped). pg_recvlogical: a plain pgoutput slot per run.
  const journalDir = await tempDir(cleanup, 'journal');
  const store = new LocalObjectStore(journalDir);
  const runs = [];
  let snapshotMs = 0;
  for (let i = 1; i <= params.runs; i++) {
    const source = `bench_${i}`;
    const t = performance.now();
    const journal = newJournal(store, source);
    await journal.open();
    const capture = new CaptureService(captureOptions(url, store, source, journal));
    await capture.start();
    await capture.stop();
    await journal.close();
    snapshotMs = performance.now() - t;
    const rlSlot = `recvlogical_${i}`;
    const sqlSlot = `sql_${i}`;
    for (const slot of [rlSlot, sqlSlot])
      await sql.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    runs.push({ source, rlSlot, sqlSlot });
  }
  log(`Tidemark base snapshot (pgbench -i data) taken in ${fmt(snapshotMs)} ms`);

  // --- the workload, generated before any consumer runs
  await sql.query('CHECKPOINT');
  const startLsn = parseLsn((await sql.query('select pg_current_wal_lsn()::text as l')).rows[0].l);
  log(`workload: pgbench, ${params.pgbenchTransactions} transactions with ${params.pgbenchClients} clients`);
  const t = performance.now();
  const pgbenchArgs = ['-n', '-M', 'prepared', '-c', String(params.pgbenchClients)];
  pgbenchArgs.push('-j', String(params.pgbenchClients));
  pgbenchArgs.push('-t', String(params.pgbenchTransactions / params.pgbenchClients));
  await runProgram(path.join(binDir, 'pgbench'), pgbenchArgs, { env: pgEnv });
  log(`  pgbench done in ${fmt(performance.now() - t)} ms`);
  const bulkRows = params.bulkTransactions * params.bulkRowsPerTransaction;
  for (let i = 0; i < params.bulkTransactions; i++) {
    const from = i * params.bulkRowsPerTransaction + 1;
    await sql.query(
      `INSERT INTO bench_bulk SELECT g, g % 1000, (g % 100000) / 100.0,
         timestamptz '2025-01-01 00:00:00+00' + g * interval '1.5 second', md5(g::text) || md5((g + 1)::text)
       FROM generate_series($1::bigint, $2::bigint) g`,
      [from, from + params.bulkRowsPerTransaction - 1],
    );
  }
  let bulkUpdates = 0;
  if (bulkRows > 0) {
    const r = await sql.query('UPDATE bench_bulk SET amount = amount + 1 WHERE id % 10 = 0');
    bulkUpdates = r.rowCount;
  }
  // the marker: the last transaction of the range. Its commit record starts at or after
  // `markerLsn`, and every earlier commit ends before it.
  await sql.query('BEGIN');
  await sql.query(`INSERT INTO bench_bulk VALUES (0, 0, 0, now(), 'end marker')`);
  const markerLsn = parseLsn((await sql.query('select pg_current_wal_insert_lsn()::text as l')).rows[0].l);
  await sql.query('COMMIT');
  const endLsn = parseLsn((await sql.query('select pg_current_wal_lsn()::text as l')).rows[0].l);
  const walBytes = Number(lsnDiff(endLsn, startLsn));
  const expected = {
    transactions: params.pgbenchTransactions + params.bulkTransactions + (bulkRows > 0 ? 1 : 0) + 1,
    // tpcb-like: 3 updates and 1 insert per transaction (its select changes nothing)
    changes: params.pgbenchTransactions * 4 + bulkRows + bulkUpdates + 1,
  };
  log(
    `workload: ${fmt(expected.transactions)} transactions, ${fmt(expected.changes)} changes, ` +
      `${fmt(walBytes / MiB)} MiB of WAL (${formatLsn(startLsn)} .. ${formatLsn(endLsn)}) in ${fmt(performance.now() - t)} ms`,
  );
  // let autovacuum's reaction to the workload pass, then flush, so consumers run on a quiet server
  await sleep(1500);
  await sql.query('CHECKPOINT');

  // --- the runs, alternating
  const results = { recvlogical: [], tidemark: [], sqlDecode: [] };
  for (const run of runs) {
    // each consumer starts with no dirty page cache (the cluster runs with fsync=off, and
    // the journal's fsyncs would otherwise write the server's WAL back too)
    await syncDisks();
    log(`pg_logical_slot_get_binary_changes (slot ${run.sqlSlot}) ...`);
    results.sqlDecode.push(await runSqlDecode(run.sqlSlot));
    log(`  ${fmt(results.sqlDecode.at(-1).ms)} ms, ${fmt(results.sqlDecode.at(-1).messages)} messages`);
    await syncDisks();
    log(`pg_recvlogical (slot ${run.rlSlot}) ...`);
    results.recvlogical.push(await runRecvlogical(run.rlSlot));
    const rl = results.recvlogical.at(-1);
    log(
      `  ${fmt(rl.ms)} ms (CPU s: pg_recvlogical ${fmt(rl.clientCpuSec)}, walsender ${fmt(rl.walsenderCpuSec)})`,
    );
    await syncDisks();
    log(`Tidemark capture + journal (source ${run.source}) ...`);
    const tm = await runTidemark(run.source);
    results.tidemark.push(tm);
    log(
      `  durable after ${fmt(tm.ms)} ms (last transaction received after ${fmt(tm.receivedMs)} ms; ` +
        `CPU s: node ${fmt(tm.nodeCpuSec)}, walsender ${fmt(tm.walsenderCpuSec)}; ` +
        `segment put ms: ${tm.uploadMs.map(fmt).join(', ')}; event-loop delay ms p50/p99/max: ` +
        `${fmt(tm.eventLoopDelayMs.p50)}/${fmt(tm.eventLoopDelayMs.p99)}/${fmt(tm.eventLoopDelayMs.max)}; ` +
        `standby status updates sent: ${fmt(tm.statusUpdates.calls)}, ${fmt(tm.statusUpdates.ms)} ms)`,
    );
    if (tm.transactionsSeen !== expected.transactions || tm.changesSeen !== expected.changes)
      log(
        `  note: Tidemark saw ${tm.transactionsSeen} transactions / ${tm.changesSeen} changes, expected ${JSON.stringify(expected)}`,
      );
  }

  // --- report: the fastest run of each
  const rate = (ms) => ({
    seconds: ms / 1000,
    transactionsPerSec: expected.transactions / (ms / 1000),
    changesPerSec: expected.changes / (ms / 1000),
    walMiBPerSec: walBytes / MiB / (ms / 1000),
  });
  const best = (list, key) => list.reduce((a, b) => (b[key] < a[key] ? b : a));
  const rl = best(results.recvlogical, 'ms');
  const tm = best(results.tidemark, 'ms');
  const tmRecv = best(results.tidemark, 'receivedMs');
  const sqlDecode = best(results.sqlDecode, 'ms');
  const row = (label, ms, walsender, client) => {
    const r = rate(ms);
    return [label, r.seconds, r.transactionsPerSec, r.changesPerSec, r.walMiBPerSec, walsender, client];
  };
  console.log('');
  printTable([
    ['consumer (best run)', 'seconds', 'tx/s', 'changes/s', 'WAL MiB/s', 'walsender CPU s', 'client CPU s'],
    row('pg_recvlogical -> /dev/null', rl.ms, rl.walsenderCpuSec ?? '-', rl.clientCpuSec ?? '-'),
    row('Tidemark, until durable', tm.ms, tm.walsenderCpuSec ?? '-', tm.nodeCpuSec),
    row('Tidemark, until received', tmRecv.receivedMs, '', ''),
    row('(decoding alone: SQL get_binary_changes)', sqlDecode.ms, sqlDecode.backendCpuSec ?? '-', ''),
  ]);
  console.log(
    `runs (ms): pg_recvlogical ${results.recvlogical.map((r) => fmt(r.ms)).join(', ')}; ` +
      `Tidemark durable ${results.tidemark.map((r) => fmt(r.ms)).join(', ')}, ` +
      `received ${results.tidemark.map((r) => fmt(r.receivedMs)).join(', ')}; ` +
      `SQL decoding ${results.sqlDecode.map((r) => fmt(r.ms)).join(', ')}`,
  );
  const ratios = {
    throughputUntilDurable: ratio(rl.ms, tm.ms),
    throughputUntilReceived: ratio(rl.ms, tmRecv.receivedMs),
  };
  console.log(
    `\nratio tidemark/pg_recvlogical (throughput, until durable):  ${ratios.throughputUntilDurable.toFixed(2)}`,
  );
  console.log(
    `ratio tidemark/pg_recvlogical (throughput, until received): ${ratios.throughputUntilReceived.toFixed(2)}`,
  );
  console.log(
    `journal: ${tm.segments} segments, ${fmt(tm.journalMiB)} MiB (${((tm.journalMiB * MiB) / walBytes).toFixed(2)} bytes per WAL byte)`,
  );

  const file = await writeResult(NAME, {
    machine: await machineInfo({ postgres: serverVersion, busyBeforePct }),
    params: { ...params, segmentMaxBytes: SEGMENT_MAX_BYTES, segmentMaxAgeMs: SEGMENT_MAX_AGE_MS },
    workload: { ...expected, bulkUpdates, walMiB: walBytes / MiB, baseSnapshotMs: snapshotMs },
    pgRecvlogical: {
      ...rate(rl.ms),
      walsenderCpuSec: rl.walsenderCpuSec ?? null,
      clientCpuSec: rl.clientCpuSec ?? null,
    },
    tidemark: {
      ...rate(tm.ms),
      receivedSeconds: tmRecv.receivedMs / 1000,
      receivedTransactionsPerSec: rate(tmRecv.receivedMs).transactionsPerSec,
      nodeCpuSec: tm.nodeCpuSec,
      walsenderCpuSec: tm.walsenderCpuSec ?? null,
      segments: tm.segments,
      journalMiB: tm.journalMiB,
      segmentPutMs: tm.uploadMs,
      eventLoopDelayMs: tm.eventLoopDelayMs,
      standbyStatusUpdates: tm.statusUpdates,
    },
    sqlDecodeOnly: {
      ...rate(sqlDecode.ms),
      backendCpuSec: sqlDecode.backendCpuSec ?? null,
      messages: sqlDecode.messages,
    },
    runsMs: {
      pgRecvlogical: results.recvlogical.map((r) => r.ms),
      tidemarkDurable: results.tidemark.map((r) => r.ms),
      tidemarkReceived: results.tidemark.map((r) => r.receivedMs),
      sqlDecodeOnly: results.sqlDecode.map((r) => r.ms),
    },
    ratio: ratios,
  });
  log(`wrote ${file}`);

  /**
   * The server's decoding alone: pgoutput in a backend, no walsender, no network, no
   * client (only a count comes back). A floor for what any consumer can reach.
   */
  async function runSqlDecode(slot) {
    const session = await connect(url);
    try {
      const pid = (await session.query('select pg_backend_pid() as pid')).rows[0].pid;
      const cpu = sampleCpu(pid);
      const started = performance.now();
      const r = await session.query(
        `select count(*)::int as n from pg_logical_slot_get_binary_changes($1, $2, NULL,
           'proto_version', '1', 'publication_names', $3)`,
        [slot, formatLsn(endLsn), PUBLICATION],
      );
      const ms = performance.now() - started;
      return { ms, messages: r.rows[0].n, backendCpuSec: await cpu.stop() };
    } finally {
      await session.end();
    }
  }

  /** pg_recvlogical to /dev/null; it stops when it receives the marker's commit (past --endpos). */
  async function runRecvlogical(slot) {
    const args = ['-d', `host=127.0.0.1 port=${cluster.port} dbname=${DB} user=postgres password=postgres`];
    args.push('--slot', slot, '--start', '--no-loop', '-f', '/dev/null', '--endpos', formatLsn(markerLsn));
    args.push('-o', 'proto_version=1', '-o', `publication_names=${PUBLICATION}`);
    const walsender = watchWalsender(sql, slot);
    let client;
    const r = await runProgram(path.join(binDir, 'pg_recvlogical'), args, {
      env: pgEnv,
      onSpawn: (child) => {
        client = sampleCpu(child.pid);
      },
    });
    return { ms: r.ms, walsenderCpuSec: await walsender.stop(), clientCpuSec: await client?.stop() };
  }

  /** From journal open + capture start until the marker's segment is durable. */
  async function runTidemark(source) {
    const seen = {
      transactions: 0,
      changes: 0,
      receivedAt: undefined,
      segments: 0,
      segmentBytes: 0,
      uploads: [],
    };
    let resolveDurable;
    const durable = new Promise((r) => {
      resolveDurable = r;
    });
    const acks = countAcknowledgements();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const journal = newJournal(store, source, (info) => {
      seen.segments++;
      seen.segmentBytes += info.bytes;
      seen.uploads.push(info.uploadMs);
      if (info.lastLsn >= markerLsn) resolveDurable(performance.now());
    });
    await journal.open();
    const sink = {
      write(tx) {
        seen.transactions++;
        seen.changes += tx.changes.length;
        if (tx.commitLsn >= markerLsn) seen.receivedAt = performance.now();
        return journal.write(tx);
      },
      durableLsn: () => journal.durableLsn(),
      close: () => journal.close(),
    };
    const capture = new CaptureService(captureOptions(url, store, source, sink));
    const walsender = watchWalsender(sql, `tidemark_${source}`);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await capture.stop();
      await journal.close();
    };
    cleanup.add(`stop capture ${source}`, stop);
    await capture.start();
    const timeout = setTimeout(() => resolveDurable(undefined), 240_000);
    const durableAt = await durable;
    clearTimeout(timeout);
    const cpu = process.cpuUsage(cpu0);
    loopDelay.disable();
    const ackStats = acks.stop();
    if (durableAt === undefined)
      throw new Error(
        `Tidemark did not make ${formatLsn(markerLsn)} durable within 240 s: ${JSON.stringify(capture.status, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`,
      );
    await stop();
    return {
      ms: durableAt - t0,
      receivedMs: seen.receivedAt - t0,
      nodeCpuSec: (cpu.user + cpu.system) / 1e6,
      walsenderCpuSec: await walsender.stop(),
      segments: seen.segments,
      journalMiB: seen.segmentBytes / MiB,
      uploadMs: seen.uploads,
      statusUpdates: ackStats,
      eventLoopDelayMs: {
        p50: loopDelay.percentile(50) / 1e6,
        p99: loopDelay.percentile(99) / 1e6,
        max: loopDelay.max / 1e6,
      },
      transactionsSeen: seen.transactions,
      changesSeen: seen.changes,
    };
  }
});

/**
 * Diagnostic: counts the standby status updates capture sends (through the transport's
 * acknowledge()) and the synchronous time they take (building and writing the message).
 */
function countAcknowledgements() {
  const proto = LogicalReplicationService.prototype;
  const original = proto.acknowledge;
  const stats = { calls: 0, ms: 0 };
  proto.acknowledge = function (...args) {
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      stats.calls++;
      stats.ms += performance.now() - started;
    }
  };
  return {
    stop() {
      proto.acknowledge = original;
      return stats;
    },
  };
}

function captureOptions(url, store, source, sink) {
  return {
    sourceUrl: url,
    sourceName: source,
    slotName: `tidemark_${source}`,
    publicationName: PUBLICATION,
    tablesWithoutKey: 'refuse',
    store,
    sink,
    heartbeatIntervalMs: 0, // no extra transactions in the measured range
    logger: quiet(),
  };
}

function newJournal(store, source, onDurable) {
  return new Journal({
    store,
    source,
    maxSegmentBytes: SEGMENT_MAX_BYTES,
    maxSegmentAgeMs: SEGMENT_MAX_AGE_MS,
    logger: quiet(),
    ...(onDurable ? { onDurable } : {}),
  });
}

/** Logs only warnings and errors (a failing run should say why). */
function quiet() {
  const out = (level) => (obj, msg) =>
    process.stderr.write(
      `${level}: ${msg ?? ''} ${JSON.stringify(obj, (_, v) => (typeof v === 'bigint' ? String(v) : v instanceof Error ? v.message : v))}\n`,
    );
  return { debug: () => {}, info: () => {}, warn: out('warn'), error: out('error') };
}

async function connect(connectionString) {
  const client = new pg.Client({ connectionString });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Finds the walsender serving `slot` once it is active and samples its CPU time until stopped. */
function watchWalsender(sql, slot) {
  let stopped = false;
  let sampler;
  const found = (async () => {
    while (!stopped) {
      const r = await sql.query('select active_pid from pg_replication_slots where slot_name = $1', [slot]);
      const pid = r.rows[0]?.active_pid;
      if (pid) {
        sampler = sampleCpu(pid);
        return;
      }
      await sleep(5);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await found;
      return sampler ? await sampler.stop() : undefined;
    },
  };
}
