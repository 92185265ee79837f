/**
 * Shared helpers for the benchmarks in bench/: sizes from the environment, cleanup that
 * runs on failure and on Ctrl-C, child processes, process CPU sampling, result files and
 * plain-text tables. Plain ESM: the benchmarks import the BUILT workspace packages.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
export const MiB = 1024 * 1024;

/** BENCH_SCALE multiplies every default size (default 1; 0.1 for a smoke run). */
export function scale() {
  const raw = process.env.BENCH_SCALE ?? '1';
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`BENCH_SCALE must be a positive number, got ${raw}`);
  return s;
}

/** An integer size: the variable if set, else `base × BENCH_SCALE` (at least `min`). */
export function size(name, base, min = 1) {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got ${raw}`);
    return n;
  }
  return Math.max(min, Math.round(base * scale()));
}

/** Cleanups run last-in first-out, once, on success, failure, SIGINT and SIGTERM. */
export class Cleanup {
  #steps = [];
  #ran = false;
  interrupted = false;

  constructor() {
    const onSignal = (sig) => {
      this.interrupted = true;
      process.stderr.write(`\n${sig}: cleaning up\n`);
      void this.run().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  add(what, fn) {
    this.#steps.push({ what, fn });
  }

  async run() {
    if (this.#ran) return;
    this.#ran = true;
    while (this.#steps.length > 0) {
      const { what, fn } = this.#steps.pop();
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`cleanup "${what}" failed: ${err instanceof Error ? err.message : err}\n`);
      }
    }
  }
}

/** Runs `body(cleanup)`, always cleans up, and sets a failing exit code on error. */
export async function runBenchmark(name, body) {
  const cleanup = new Cleanup();
  try {
    await body(cleanup);
  } catch (err) {
    process.exitCode = 1;
    if (cleanup.interrupted) return; // the signal handler cleans up and exits
    process.stderr.write(`\n${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`);
  } finally {
    await cleanup.run();
  }
}

/** A temp directory on the same disk as everything else (os.tmpdir()), removed at cleanup. */
export async function tempDir(cleanup, prefix) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `tidemark-bench-${prefix}-`));
  cleanup.add(`remove ${dir}`, () => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
  return dir;
}

/** Spawns a program, resolves with its output and wall time; rejects on a non-zero exit. */
export function runProgram(file, args, options = {}) {
  const { onSpawn, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      if (code === 0) resolve({ ms, stdout, stderr, pid: child.pid });
      else
        reject(
          new Error(
            `${path.basename(file)} ${args.join(' ')} exited with ${code ?? signal}:\n${stderr.slice(-2000)}`,
          ),
        );
    });
  });
}

const CLK_TCK = 100; // Linux USER_HZ; `getconf CLK_TCK`

/** CPU seconds (user + system) a process has used so far, or undefined once it is gone. */
export async function processCpuSeconds(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/**
 * Samples a process's CPU time every `everyMs` until stopped; the last sample taken
 * before the process exited is the figure (so it can be short by up to one interval).
 */
export function sampleCpu(pid, everyMs = 25) {
  let last;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const v = await processCpuSeconds(pid);
      if (v === undefined) break;
      last = v;
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return last;
    },
  };
}

/**
 * Writes all dirty page-cache data to disk (`sync`), so that a benchmark that fsyncs does
 * not pay for data others left dirty (the throw-away clusters run with fsync=off).
 */
export async function syncDisks() {
  await runProgram('sync', []);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function cpuTicks() {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { idle, total: v.reduce((a, b) => a + b, 0) };
}

/**
 * Share of the machine's CPU (all cores) in use over `ms`, in percent: taken before a
 * benchmark starts, it tells whether something else (a test run, a build) is competing.
 */
export async function machineBusyPercent(ms = 1000) {
  try {
    const a = await cpuTicks();
    await sleep(ms);
    const b = await cpuTicks();
    const total = b.total - a.total;
    return total > 0 ? (100 * (total - (b.idle - a.idle))) / total : 0;
  } catch {
    return undefined;
  }
}

/** Measures machine load for a second; warns when it is not quiet. */
export async function checkQuiet() {
  const busy = await machineBusyPercent(1000);
  if (busy === undefined) return undefined;
  if (busy > 15)
    log(
      `WARNING: the machine is ${busy.toFixed(0)}% busy before the benchmark starts (other processes): figures will be noisy`,
    );
  else log(`machine ${busy.toFixed(0)}% busy before the start (quiet)`);
  return busy;
}

export async function machineInfo(extra = {}) {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    ...extra,
  };
}

/** Rounds to 3 significant digits (JSON stays small and diffs stay readable). */
export function round3(n) {
  if (!Number.isFinite(n) || n === 0) return n;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(n))));
  return Number(n.toFixed(Math.min(digits, 6)));
}

export function roundDeep(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? value : round3(value);
  if (Array.isArray(value)) return value.map(roundDeep);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundDeep(v)]));
  return value;
}

/** Writes bench/results/<name>.json (pretty, rounded, newline-terminated). */
export async function writeResult(name, result) {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  const doc = roundDeep({ benchmark: name, date: new Date().toISOString(), ...result });
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}

/** 12345.6 → "12,346"; small numbers keep 3 significant digits. */
export function fmt(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '-';
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return String(round3(n));
}

export function ratio(a, b) {
  return b > 0 ? a / b : Number.NaN;
}

/** Prints rows (arrays of cells) as an aligned table; the first row is the header. */
export function printTable(rows) {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : String(c))));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(cells[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells.slice(1)) console.log(line(r));
}

export function log(message) {
  console.log(`[${new Date().toISOString().slice(11, 23)}] ${message}`);
}
