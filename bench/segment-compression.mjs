/**
 * Segment compression and encryption (@tidemark/shared core, no I/O): stored size and
 * speed of a segment of realistic records written plain, zstd-compressed, encrypted, and
 * both, against the same segment plain; plus the block size chosen (256 KiB) against one
 * record per block and larger blocks.
 *
 *   node bench/segment-compression.mjs          (after `npm run build`)
 *
 * Rates are MiB of record frames per CPU-second of this process (process.cpuUsage), not per
 * wall-clock second, so that other work on a shared machine skews them less; everything
 * measured is single-threaded and synchronous.
 *
 * BENCH_CORE_MS: time per measurement round (default 300 × BENCH_SCALE, 3 rounds + warm-up);
 * BENCH_CORE_SEGMENT_MIB: record bytes per segment (default 16, the product's rotation size).
 */
import { randomBytes } from 'node:crypto';
import {
  decodeRecord,
  encodeRecord,
  encodeSegment,
  initChecksums,
  readSegment,
  verifySegment,
} from '@tidemark/shared';
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
  writeResult,
} from './lib/bench-kit.mjs';
import { bulkTx, pgbenchTx } from './lib/sample-records.mjs';

const NAME = 'segment-compression';
const params = {
  roundMs: size('BENCH_CORE_MS', 300, 50),
  rounds: 3,
  segmentMiB: Number(process.env.BENCH_CORE_SEGMENT_MIB || 16),
};

await runBenchmark(NAME, async () => {
  await initChecksums();
  log(`${NAME}: ${JSON.stringify(params)}`);
  const busyBeforePct = await checkQuiet();

  // distinct records (no repetition a long compression window could exploit): 9 of 10
  // pgbench-like (3 updates, 1 insert over 4 tables), 1 of 10 a 50-row insert
  const records = [];
  let recordBytes = 0;
  for (let i = 0; recordBytes < params.segmentMiB * MiB; i++) {
    const tx = i % 10 === 9 ? bulkTx(i) : pgbenchTx(i);
    const payload = encodeRecord(tx);
    records.push({ payload, commitLsn: tx.commitLsn, commitTime: tx.commitTime });
    recordBytes += payload.byteLength + 12;
  }
  const input = { source: 'bench', prevSha256: 'a'.repeat(64), createdAt: new Date().toISOString(), records };
  const dataKey = new Uint8Array(randomBytes(32));
  const encryption = { dataKey, keyId: 'bench', wrappedKey: new Uint8Array(61) };
  log(`${records.length} records, ${fmt(recordBytes / MiB)} MiB of record frames`);

  const modes = {
    plain: {},
    zstd: { compression: 'zstd' },
    encrypted: { encryption },
    'zstd + encrypted': { compression: 'zstd', encryption },
    'zstd, one record per block': { compression: 'zstd', blockBytes: 1 },
    'zstd, 64 KiB blocks': { compression: 'zstd', blockBytes: 64 * 1024 },
    'zstd, 1 MiB blocks': { compression: 'zstd', blockBytes: MiB },
  };
  const results = {};
  for (const [name, sealing] of Object.entries(modes)) {
    const seg = encodeSegment(input, sealing).bytes;
    const read = readSegment(seg, undefined, { dataKey });
    if (
      read.records.length !== records.length ||
      decodeRecord(read.records[9].payload).commitLsn !== records[9].commitLsn
    )
      throw new Error(`${name}: segment does not round-trip`);
    const perSec = (fn) =>
      measure(() => {
        fn();
        return 1;
      }) *
      (recordBytes / MiB);
    results[name] = {
      storedMiB: seg.byteLength / MiB,
      // u32 indexLength in the footer (the index stays uncompressed)
      indexMiB: new DataView(seg.buffer, seg.byteOffset).getUint32(seg.byteLength - 52, true) / MiB,
      ratio: recordBytes / seg.byteLength,
      encodeMiBPerCpuSec: perSec(() => encodeSegment(input, sealing)),
      readMiBPerCpuSec: perSec(() => readSegment(seg, undefined, { dataKey })),
      verifyNoKeyMiBPerCpuSec: perSec(() => verifySegment(seg)),
    };
    log(`${name}: ratio ${fmt(results[name].ratio)}`);
  }

  console.log('');
  printTable([
    [
      `segment of ${fmt(recordBytes / MiB)} MiB of records`,
      'stored MiB',
      'ratio',
      'write MiB/cpu-s',
      'read MiB/cpu-s',
      'verify (no key) MiB/cpu-s',
      'write ÷ plain',
    ],
    ...Object.entries(results).map(([name, r]) => [
      name,
      r.storedMiB,
      r.ratio,
      r.encodeMiBPerCpuSec,
      r.readMiBPerCpuSec,
      r.verifyNoKeyMiBPerCpuSec,
      ratio(r.encodeMiBPerCpuSec, results.plain.encodeMiBPerCpuSec).toFixed(2),
    ]),
  ]);
  const file = await writeResult(NAME, {
    machine: await machineInfo({ busyBeforePct }),
    params: { ...params, records: records.length, recordMiB: recordBytes / MiB },
    modes: results,
  });
  log(`wrote ${file}`);
});

/** operations per CPU-second: rounds of roundMs, round 0 warms up, the median wins */
function measure(fn) {
  const rates = [];
  for (let round = 0; round <= params.rounds; round++) {
    let ops = 0;
    const started = performance.now();
    const cpu = process.cpuUsage();
    do {
      ops += fn();
    } while (performance.now() - started < params.roundMs);
    const used = process.cpuUsage(cpu);
    if (round > 0) rates.push(ops / ((used.user + used.system) / 1e6));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}
