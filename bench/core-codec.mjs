/**
 * Micro-benchmark of the pure core (@tidemark/shared): record encode/decode against plain
 * msgpackr and JSON on the same objects, and segment encode/verify against node:crypto
 * SHA-256 (and xxh64) over the same bytes. No database, no I/O.
 *
 *   node bench/core-codec.mjs          (after `npm run build`)
 *
 * BENCH_CORE_MS: time per measurement round (default 300 × BENCH_SCALE, 3 rounds + warm-up);
 * BENCH_CORE_SEGMENT_MIB: segment size (default 16, the product's rotation size).
 */
import { createHash } from 'node:crypto';
import {
  decodeRecord,
  encodeRecord,
  encodeSegment,
  initChecksums,
  readSegment,
  verifySegment,
  xxh64,
} from '@tidemark/shared';
import { Packr } from 'msgpackr';
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

const NAME = 'core-codec';
const params = {
  roundMs: size('BENCH_CORE_MS', 300, 50),
  rounds: 3,
  distinctRecords: 2000,
  segmentMiB: Number(process.env.BENCH_CORE_SEGMENT_MIB || 16),
};

await runBenchmark(NAME, async () => {
  await initChecksums();
  log(`${NAME}: ${JSON.stringify(params)}`);
  const busyBeforePct = await checkQuiet();

  // a realistic mix: 9 of 10 records are pgbench-like (3 updates, 1 insert over 4 tables),
  // 1 of 10 a 50-row insert into a wider table
  const records = Array.from({ length: params.distinctRecords }, (_, i) =>
    i % 10 === 9 ? bulkTx(i) : pgbenchTx(i),
  );
  const changes = records.reduce((s, r) => s + r.changes.length, 0);
  const encoded = records.map(encodeRecord);
  const encodedBytes = encoded.reduce((s, b) => s + b.byteLength, 0);
  // the references get the same data; JSON cannot hold bigint, so its copy has strings
  const plain = new Packr({ useRecords: false });
  const plainBytes = records.map((r) => plain.pack(r));
  const jsonable = records.map((r) => ({
    ...r,
    commitLsn: String(r.commitLsn),
    endLsn: String(r.endLsn),
    commitTime: String(r.commitTime),
  }));
  const jsonText = jsonable.map((r) => JSON.stringify(r));
  const withRecords = new Packr({ useRecords: true });
  log(
    `${records.length} records, ${changes} changes; encoded ${fmt(encodedBytes / records.length)} B/record ` +
      `(msgpackr plain ${fmt(plainBytes.reduce((s, b) => s + b.byteLength, 0) / records.length)}, ` +
      `JSON ${fmt(jsonText.reduce((s, t) => s + Buffer.byteLength(t), 0) / records.length)})`,
  );
  // a check that the codec round-trips what we measure
  const back = decodeRecord(encoded[9]);
  if (back.commitLsn !== records[9].commitLsn || back.changes.length !== records[9].changes.length)
    throw new Error('record codec did not round-trip');

  const perRecord = (fn) =>
    measure(() => {
      for (let i = 0; i < records.length; i++) fn(i);
      return records.length;
    });
  const rec = {
    encodeRecord: perRecord((i) => encodeRecord(records[i])),
    msgpackrPack: perRecord((i) => plain.pack(records[i])),
    msgpackrPackUseRecords: perRecord((i) => withRecords.pack(records[i])),
    jsonStringify: perRecord((i) => JSON.stringify(jsonable[i])),
    decodeRecord: perRecord((i) => decodeRecord(encoded[i])),
    msgpackrUnpack: perRecord((i) => plain.unpack(plainBytes[i])),
    jsonParse: perRecord((i) => JSON.parse(jsonText[i])),
  };

  // one segment of ~segmentMiB, built from the encoded records repeated with rising LSNs
  const inputs = [];
  let bytes = 0;
  for (let i = 0; bytes < params.segmentMiB * MiB; i++) {
    const r = records[i % records.length];
    const payload = encoded[i % records.length];
    inputs.push({ payload, commitLsn: 0x1000000n + BigInt(i) * 4096n, commitTime: r.commitTime + BigInt(i) });
    bytes += payload.byteLength + 12;
  }
  const segmentInput = {
    source: 'bench',
    prevSha256: 'a'.repeat(64),
    createdAt: new Date().toISOString(),
    records: inputs,
  };
  const segment = encodeSegment(segmentInput).bytes;
  const segMiB = segment.byteLength / MiB;
  if (!verifySegment(segment).ok) throw new Error('segment does not verify');
  log(`segment: ${inputs.length} records, ${fmt(segMiB)} MiB`);
  const perSegment = (fn) => {
    const m = measure(() => {
      fn();
      return 1;
    });
    return { ...m, mibPerSec: m.perSec * segMiB };
  };
  const seg = {
    encodeSegment: perSegment(() => encodeSegment(segmentInput)),
    verifySegment: perSegment(() => verifySegment(segment)),
    readSegmentAndDecode: perSegment(() => {
      for (const r of readSegment(segment).records) decodeRecord(r.payload);
    }),
    sha256: perSegment(() => createHash('sha256').update(segment).digest()),
    xxh64: perSegment(() => xxh64(segment)),
  };

  console.log('');
  printTable([
    ['record codec', 'records/s', 'changes/s', 'MiB/s (Tidemark bytes)', 'ratio Tidemark ÷ reference'],
    [
      'encodeRecord',
      rec.encodeRecord.perSec,
      rec.encodeRecord.perSec * (changes / records.length),
      mibps(rec.encodeRecord, encodedBytes),
      '',
    ],
    [
      '  msgpackr.pack (plain)',
      rec.msgpackrPack.perSec,
      '',
      '',
      ratio(rec.encodeRecord.perSec, rec.msgpackrPack.perSec).toFixed(2),
    ],
    [
      '  msgpackr.pack (useRecords)',
      rec.msgpackrPackUseRecords.perSec,
      '',
      '',
      ratio(rec.encodeRecord.perSec, rec.msgpackrPackUseRecords.perSec).toFixed(2),
    ],
    [
      '  JSON.stringify',
      rec.jsonStringify.perSec,
      '',
      '',
      ratio(rec.encodeRecord.perSec, rec.jsonStringify.perSec).toFixed(2),
    ],
    [
      'decodeRecord (validating)',
      rec.decodeRecord.perSec,
      rec.decodeRecord.perSec * (changes / records.length),
      mibps(rec.decodeRecord, encodedBytes),
      '',
    ],
    [
      '  msgpackr.unpack (plain)',
      rec.msgpackrUnpack.perSec,
      '',
      '',
      ratio(rec.decodeRecord.perSec, rec.msgpackrUnpack.perSec).toFixed(2),
    ],
    [
      '  JSON.parse',
      rec.jsonParse.perSec,
      '',
      '',
      ratio(rec.decodeRecord.perSec, rec.jsonParse.perSec).toFixed(2),
    ],
  ]);
  console.log('');
  printTable([
    [`segment of ${fmt(segMiB)} MiB`, 'MiB/s', 'ms per segment', 'ratio ÷ SHA-256'],
    [
      'encodeSegment',
      seg.encodeSegment.mibPerSec,
      1000 / seg.encodeSegment.perSec,
      ratio(seg.encodeSegment.mibPerSec, seg.sha256.mibPerSec).toFixed(2),
    ],
    [
      'verifySegment',
      seg.verifySegment.mibPerSec,
      1000 / seg.verifySegment.perSec,
      ratio(seg.verifySegment.mibPerSec, seg.sha256.mibPerSec).toFixed(2),
    ],
    [
      'readSegment + decode every record',
      seg.readSegmentAndDecode.mibPerSec,
      1000 / seg.readSegmentAndDecode.perSec,
      ratio(seg.readSegmentAndDecode.mibPerSec, seg.sha256.mibPerSec).toFixed(2),
    ],
    ['  node:crypto SHA-256 (reference)', seg.sha256.mibPerSec, 1000 / seg.sha256.perSec, '1.00'],
    [
      '  xxh64 (xxhash-wasm)',
      seg.xxh64.mibPerSec,
      1000 / seg.xxh64.perSec,
      ratio(seg.xxh64.mibPerSec, seg.sha256.mibPerSec).toFixed(2),
    ],
  ]);

  const file = await writeResult(NAME, {
    machine: await machineInfo({ busyBeforePct }),
    params: {
      ...params,
      changesPerRecord: changes / records.length,
      bytesPerRecord: encodedBytes / records.length,
    },
    recordsPerSec: Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, v.perSec])),
    segmentMiBPerSec: Object.fromEntries(Object.entries(seg).map(([k, v]) => [k, v.mibPerSec])),
    ratio: {
      encodeRecordVsMsgpackr: ratio(rec.encodeRecord.perSec, rec.msgpackrPack.perSec),
      encodeRecordVsJson: ratio(rec.encodeRecord.perSec, rec.jsonStringify.perSec),
      decodeRecordVsMsgpackr: ratio(rec.decodeRecord.perSec, rec.msgpackrUnpack.perSec),
      decodeRecordVsJson: ratio(rec.decodeRecord.perSec, rec.jsonParse.perSec),
      encodeSegmentVsSha256: ratio(seg.encodeSegment.mibPerSec, seg.sha256.mibPerSec),
      verifySegmentVsSha256: ratio(seg.verifySegment.mibPerSec, seg.sha256.mibPerSec),
    },
  });
  log(`wrote ${file}`);
});

function mibps(m, bytesPerOp) {
  return (m.perSec / params.distinctRecords) * (bytesPerOp / MiB);
}

/** Runs `fn` (which returns how many operations it did) for rounds of roundMs; the median rate wins. */
function measure(fn) {
  const rates = [];
  for (let round = 0; round <= params.rounds; round++) {
    let ops = 0;
    const started = performance.now();
    let elapsed = 0;
    do {
      ops += fn();
      elapsed = performance.now() - started;
    } while (elapsed < params.roundMs);
    if (round > 0) rates.push(ops / (elapsed / 1000)); // round 0 warms up
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[Math.floor(rates.length / 2)] };
}
