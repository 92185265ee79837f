/**
 * Snapshot table files (tmblock-v1, @tidemark/shared core, no I/O): stored size and speed
 * of realistic COPY text sealed as capture and compaction write it — zstd blocks,
 * encrypted, both — and opened again as a restore reads it, against plain COPY text; plus
 * the block size (256 KiB) against smaller and larger blocks. The companion of
 * segment-compression.mjs for issue 5.6.
 *
 *   node bench/snapshot-table-compression.mjs          (after `npm run build`)
 *
 * Rates are MiB of COPY text per CPU-second of this process (process.cpuUsage): the
 * machine is shared, and everything measured runs on this one thread.
 *
 * BENCH_CORE_MS: time per measurement round (default 300 × BENCH_SCALE, 3 rounds + warm-up);
 * BENCH_SNAPSHOT_MIB: COPY text per table (default 16).
 */
import { initChecksums, openTableData, sealTableData } from '@tidemark/shared';
import {
  checkQuiet,
  fmt,
  log,
  MiB,
  machineInfo,
  printTable,
  runBenchmark,
  size,
  writeResult,
} from './lib/bench-kit.mjs';

const NAME = 'snapshot-table-compression';
const params = {
  roundMs: size('BENCH_CORE_MS', 300, 50),
  rounds: 3,
  tableMiB: Number(process.env.BENCH_SNAPSHOT_MIB || 16),
};
const KEY = 'main/base/0000000001000000/tables/0000.tmb';

/** a master key stand-in: wrapping is not what is measured */
const keys = {
  keyId: 'bench',
  wrap: async (dataKey) => ({ keyId: 'bench', wrapped: Uint8Array.from(dataKey) }),
  unwrap: async ({ wrapped }) => Uint8Array.from(wrapped),
};

/**
 * COPY text as `COPY ... TO STDOUT` writes it, distinct rows: pgbench_accounts (ints and an
 * 84-space filler), a ledger (numeric, timestamptz, short text, NULLs) and documents (jsonb).
 */
function copyText(kind, mib) {
  const lines = [];
  let bytes = 0;
  for (let i = 1; bytes < mib * MiB; i++) {
    let line;
    if (kind === 'pgbench_accounts')
      line = `${i}\t${1 + Math.floor(i / 100_000)}\t${((i * 7919) % 10_000) - 5000}\t${' '.repeat(84)}\n`;
    else if (kind === 'ledger')
      line = `${i}\t${i % 50}\t${((i * 7919) % 1_000_000) / 100}.${String(i % 97).padStart(2, '0')}\t2026-11-${String(1 + (i % 28)).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:07.${String((i * 31) % 1_000_000).padStart(6, '0')}+00\t${i % 3 === 0 ? '\\N' : `note ${i % 1000}`}\n`;
    else
      line = `${i}\t{"id": ${i}, "tags": ["t${i % 13}", "t${i % 7}"], "owner": "user${i % 997}", "score": ${(i * 13) % 1000}.5, "active": ${i % 2 === 0}}\n`;
    lines.push(line);
    bytes += line.length;
  }
  return new TextEncoder().encode(lines.join(''));
}

async function* chunks(data, chunkBytes = 64 * 1024) {
  for (let i = 0; i < data.byteLength; i += chunkBytes) yield data.subarray(i, i + chunkBytes);
}

async function drain(it) {
  const parts = [];
  let n = 0;
  for await (const c of it) {
    parts.push(c);
    n += c.byteLength;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

await runBenchmark(NAME, async () => {
  await initChecksums();
  log(`${NAME}: ${JSON.stringify(params)}`);
  const busyBeforePct = await checkQuiet();
  const modes = {
    'zstd (default)': { compress: true },
    encrypted: { compress: false, keys },
    'zstd + encrypted': { compress: true, keys },
    'zstd, 64 KiB blocks': { compress: true, blockBytes: 64 * 1024 },
    'zstd, 1 MiB blocks': { compress: true, blockBytes: MiB },
  };
  const results = {};
  for (const table of ['pgbench_accounts', 'ledger', 'documents']) {
    const plain = copyText(table, params.tableMiB);
    const mib = plain.byteLength / MiB;
    log(`${table}: ${fmt(mib)} MiB of COPY text`);
    for (const [mode, opts] of Object.entries(modes)) {
      const seal = () => drain(sealTableData(chunks(plain), { objectKey: KEY, ...opts }));
      const stored = await seal();
      const open = () => drain(openTableData(chunks(stored), { objectKey: KEY, keys }));
      const back = await open();
      if (back.byteLength !== plain.byteLength || back[back.byteLength - 2] !== plain[plain.byteLength - 2])
        throw new Error(`${table}/${mode}: does not round-trip`);
      results[`${table} / ${mode}`] = {
        copyMiB: mib,
        storedMiB: stored.byteLength / MiB,
        ratio: plain.byteLength / stored.byteLength,
        writeMiBPerCpuSec: (await measure(seal)) * mib,
        readMiBPerCpuSec: (await measure(open)) * mib,
      };
      log(`${table} / ${mode}: ratio ${fmt(results[`${table} / ${mode}`].ratio)}`);
    }
  }
  console.log('');
  printTable([
    ['COPY text / sealing', 'COPY MiB', 'stored MiB', 'ratio', 'write MiB/cpu-s', 'read MiB/cpu-s'],
    ...Object.entries(results).map(([name, r]) => [
      name,
      r.copyMiB,
      r.storedMiB,
      r.ratio,
      r.writeMiBPerCpuSec,
      r.readMiBPerCpuSec,
    ]),
  ]);
  const file = await writeResult(NAME, {
    machine: await machineInfo({ busyBeforePct }),
    params,
    modes: results,
  });
  log(`wrote ${file}`);
});

/** runs per CPU-second: rounds of roundMs, round 0 warms up, the median wins */
async function measure(fn) {
  const rates = [];
  for (let round = 0; round <= params.rounds; round++) {
    let ops = 0;
    const started = performance.now();
    const cpu = process.cpuUsage();
    do {
      await fn();
      ops++;
    } while (performance.now() - started < params.roundMs);
    const used = process.cpuUsage(cpu);
    if (round > 0) rates.push(ops / ((used.user + used.system) / 1e6));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}
