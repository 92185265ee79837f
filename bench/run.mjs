/**
 * Runs the benchmarks one after another, each in its own process (so each cleans up after
 * itself, whatever happens), then prints a summary from their bench/results/*.json.
 *
 *   npm run bench                         (builds first)
 *   node bench/run.mjs [name ...]         (after `npm run build`; names: core-codec,
 *                                          capture-vs-recvlogical, restore-vs-copy, and
 *                                          restore-1gib, which runs only when named: ~8 min)
 *
 * BENCH_SCALE (default 1) scales every benchmark's workload; see each script's header
 * for its own variables and docs/benchmarks.md for what the figures mean.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BENCH_DIR, fmt, printTable, RESULTS_DIR } from './lib/bench-kit.mjs';

const BENCHMARKS = ['core-codec', 'capture-vs-recvlogical', 'restore-vs-copy'];
/** long: run only when named */
const ON_REQUEST = ['restore-1gib'];

const wanted = process.argv.slice(2);
const known = [...BENCHMARKS, ...ON_REQUEST];
const unknown = wanted.filter((n) => !known.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${known.join(', ')}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? known.filter((n) => wanted.includes(n)) : BENCHMARKS;

// Ctrl-C reaches the children too (same process group): they clean up and exit; we then stop
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
});
process.on('SIGTERM', () => {
  interrupted = true;
});

const outcomes = [];
const started = Date.now();
for (const name of selected) {
  if (interrupted) break;
  console.log(`\n=== ${name} ${'='.repeat(Math.max(0, 70 - name.length))}`);
  const t = Date.now();
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(BENCH_DIR, `${name}.mjs`)], { stdio: 'inherit' });
    child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  outcomes.push({ name, ok: code === 0, seconds: (Date.now() - t) / 1000, since: t });
}

console.log(`\n=== summary ${'='.repeat(62)}`);
const rows = [['benchmark', 'Tidemark', 'reference', 'ratio', 'seconds']];
for (const o of outcomes) {
  const result = o.ok ? await readResult(o.name, o.since) : undefined;
  if (!result) {
    rows.push([o.name, 'FAILED', '', '', o.seconds]);
    continue;
  }
  for (const line of summarize(o.name, result)) rows.push([...line, o.seconds]);
}
printTable(rows);
console.log(
  '\nratio = Tidemark ÷ reference throughput (above 1: Tidemark is faster); results in bench/results/, ' +
    `explained in docs/benchmarks.md. Total ${fmt((Date.now() - started) / 1000)} s.`,
);
if (interrupted) process.exitCode = 130;
else if (outcomes.some((o) => !o.ok)) process.exitCode = 1;

async function readResult(name, since) {
  try {
    const doc = JSON.parse(await readFile(path.join(RESULTS_DIR, `${name}.json`), 'utf8'));
    return Date.parse(doc.date) >= since ? doc : undefined;
  } catch {
    return undefined;
  }
}

function summarize(name, r) {
  const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
  if (name === 'core-codec')
    return [
      [
        'core: encodeRecord',
        `${fmt(r.recordsPerSec.encodeRecord)} rec/s`,
        `msgpackr ${fmt(r.recordsPerSec.msgpackrPack)} rec/s`,
        x(r.ratio.encodeRecordVsMsgpackr),
      ],
      [
        'core: decodeRecord',
        `${fmt(r.recordsPerSec.decodeRecord)} rec/s`,
        `msgpackr ${fmt(r.recordsPerSec.msgpackrUnpack)} rec/s`,
        x(r.ratio.decodeRecordVsMsgpackr),
      ],
      [
        'core: encodeSegment',
        `${fmt(r.segmentMiBPerSec.encodeSegment)} MiB/s`,
        `SHA-256 ${fmt(r.segmentMiBPerSec.sha256)} MiB/s`,
        x(r.ratio.encodeSegmentVsSha256),
      ],
      [
        'core: verifySegment',
        `${fmt(r.segmentMiBPerSec.verifySegment)} MiB/s`,
        `SHA-256 ${fmt(r.segmentMiBPerSec.sha256)} MiB/s`,
        x(r.ratio.verifySegmentVsSha256),
      ],
    ];
  if (name === 'capture-vs-recvlogical')
    return [
      [
        'capture, until durable',
        `${fmt(r.tidemark.transactionsPerSec)} tx/s, ${fmt(r.tidemark.walMiBPerSec)} WAL MiB/s`,
        `pg_recvlogical ${fmt(r.pgRecvlogical.transactionsPerSec)} tx/s`,
        x(r.ratio.throughputUntilDurable),
      ],
      [
        'capture, until received',
        `${fmt(r.tidemark.receivedTransactionsPerSec)} tx/s`,
        `pg_recvlogical ${fmt(r.pgRecvlogical.transactionsPerSec)} tx/s`,
        x(r.ratio.throughputUntilReceived),
      ],
    ];
  if (name === 'restore-1gib')
    return [
      [
        `restore: ${fmt(r.journal.MiB)} MiB journal`,
        `${fmt(r.tidemark.totalMs / 1000)} s, ${fmt(r.tidemark.journalMiBPerSec)} MiB/s`,
        `CREATE DATABASE + COPY ${fmt(r.copyFinal.withCreateDatabaseMs / 1000)} s`,
        x(r.ratio.wholeRestoreVsCopyFinal),
      ],
    ];
  if (name === 'restore-vs-copy')
    return [
      [
        'restore: replay phase',
        `${fmt(r.tidemark.replayChangesPerSec)} changes/s`,
        `COPY ${fmt(r.copyFinal.rowsPerSec)} rows/s`,
        x(r.ratio.replayChangesVsCopyRows),
      ],
      [
        'restore: whole (same end state)',
        `${fmt(r.tidemark.totalMs / 1000)} s`,
        `CREATE DATABASE + COPY ${fmt(r.copyFinal.withCreateDatabaseMs / 1000)} s`,
        x(r.ratio.wholeRestoreVsCopyFinal),
      ],
      [
        'restore: snapshot phase',
        `${fmt(r.tidemark.snapshotMs / 1000)} s`,
        `CREATE DATABASE + COPY ${fmt(r.copySnapshot.withCreateDatabaseMs / 1000)} s`,
        x(r.ratio.snapshotPhaseVsCopySnapshot),
      ],
    ];
  return [[name, '', '', '']];
}
