import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * A throw-away Kafka broker for tests: librdkafka's mock cluster, hosted by Debian's `kcat`
 * (`-X test.mock.num.brokers=1` makes kcat start an in-process mock cluster and print its
 * `bootstrap.servers`; `-C -t keepalive -o end` keeps kcat, and so the cluster, running).
 *
 * What the mock does: produce (acks=all), fetch, consumer groups with rebalancing, offset
 * commits and fetches, ListOffsets, metadata with topic auto-creation (4 partitions).
 * What it does not: `createTopics`, the idempotent producer, transactions; and it keeps only
 * about 5 MB per partition, silently dropping older data, so keep test topics small.
 * Everything lives in kcat's memory: `kill9()` loses all topics and offsets.
 *
 * Faults: `pause()`/`resume()` SIGSTOP/SIGCONT the kcat process. The broker then accepts TCP
 * connections (the kernel completes handshakes into the listen backlog) but answers nothing:
 * clients see a black hole until their request timeout, the way a partitioned or hung broker
 * looks. A TCP proxy would only cover the bootstrap connection: Kafka clients connect to the
 * address the broker advertises in metadata, which is the mock's own port.
 *
 * kcat runs under a tiny `sh` watchdog that SIGKILLs it when our end of its stdin closes, so a
 * test process that dies without running exit hooks does not leave brokers behind.
 */
export interface KafkaBroker {
  /** bootstrap servers, e.g. `['127.0.0.1:40123']` */
  readonly brokers: string[];
  /** pid of the kcat process hosting the mock cluster */
  readonly pid: number;
  /** kills the broker (its data is gone); idempotent */
  stop(): Promise<void>;
  /** SIGKILL: a crash; the mock keeps everything in memory, so all topics and offsets are lost */
  kill9(): Promise<void>;
  /**
   * SIGSTOP: the broker stops answering (connections hang) until `resume()`. Resolves once
   * every thread of the broker has stopped (a busy process takes a moment to stop, and would
   * still answer meanwhile).
   */
  pause(): Promise<void>;
  /** SIGCONT after `pause()` */
  resume(): void;
  /** pause, wait `ms`, resume */
  unreachableFor(ms: number): Promise<void>;
}

export interface StartKafkaBrokerOptions {
  /** how long to wait for kcat to print the mock cluster's address (default 15 s) */
  readonly startTimeoutMs?: number;
}

const execFileAsync = promisify(execFile);
const ADDRESS = /(?:bootstrap\.servers=|replaced with )([^\s,]+:\d+)/;
const PID = /^tidemark-kcat-pid=(\d+)$/m;

/** children of this process that host a broker, killed at exit if a test forgot to stop them */
const liveBrokers = new Map<number, { child: ChildProcess; kcatPid: number | undefined }>();

let kcatReady: Promise<string> | undefined;

/** The kcat binary, installed with apt-get when missing and we are root. */
export function ensureKcat(): Promise<string> {
  kcatReady ??= findOrInstallKcat().catch((err: unknown) => {
    kcatReady = undefined;
    throw err;
  });
  return kcatReady;
}

async function findOrInstallKcat(): Promise<string> {
  const found = await which('kcat');
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(
      "Kafka tests need Debian's kcat (librdkafka's mock cluster): install it with `sudo apt-get install kcat`",
    );
  }
  const apt = (args: string[]) =>
    execFileAsync('apt-get', ['-o', 'DPkg::Lock::Timeout=120', ...args], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 16 * 1024 * 1024,
    });
  // another test process may be installing it at the same time: a failed update is not fatal
  // (the lists may be fresh enough), and a failed install is fine if kcat is there afterwards
  await apt(['update']).catch(() => undefined);
  try {
    await apt(['install', '-y', '--no-install-recommends', 'kcat']);
  } catch (err) {
    if (!(await which('kcat'))) {
      throw new Error("could not install Debian's kcat with apt-get (needed for the Kafka mock cluster)", {
        cause: err,
      });
    }
  }
  const installed = await which('kcat');
  if (!installed) throw new Error('apt-get installed kcat, but it is not on PATH');
  return installed;
}

async function which(name: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('sh', ['-c', `command -v ${name}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function startKafkaBroker(options: StartKafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const kcat = await ensureKcat();
  // The watchdog shell: starts kcat in the background (its stdin is /dev/null), reports its
  // pid, then blocks reading our pipe; EOF (we exited or called stop) kills kcat, also when
  // it is SIGSTOPped.
  const script = [
    `"$0" -X test.mock.num.brokers=1 -b localhost:1 -C -q -t keepalive -o end &`,
    'k=$!',
    'echo "tidemark-kcat-pid=$k" >&2',
    'read -r _ || true',
    'kill -KILL "$k" 2>/dev/null',
    'wait "$k" 2>/dev/null',
    'exit 0',
  ].join('\n');
  const child = spawn('sh', ['-c', script, kcat], { stdio: ['pipe', 'ignore', 'pipe'] });
  const shPid = child.pid;
  if (shPid === undefined) throw new Error('could not start kcat');
  const entry = { child, kcatPid: undefined as number | undefined };
  liveBrokers.set(shPid, entry);
  // keep a little of the output for error messages; the rest is read and dropped so the
  // pipe never fills up and blocks the broker
  let head = '';
  const found = await new Promise<{ address: string; pid: number }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`kcat did not print the mock cluster address in time; output: ${head}`)),
      options.startTimeoutMs ?? 15_000,
    );
    const done = (err?: Error, value?: { address: string; pid: number }) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      if (head.length < 8192) head += chunk.toString('utf8');
      const address = ADDRESS.exec(head)?.[1];
      const pid = PID.exec(head)?.[1];
      if (address !== undefined && pid !== undefined) done(undefined, { address, pid: Number(pid) });
    };
    const onExit = (code: number | null, sig: string | null) =>
      done(new Error(`kcat exited before the mock cluster was up (${code ?? sig}); output: ${head}`));
    const onError = (err: Error) => done(err);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  }).catch(async (err: unknown) => {
    await shutdown(child);
    liveBrokers.delete(shPid);
    throw err;
  });
  child.stderr?.resume();
  const kcatPid = found.pid;
  entry.kcatPid = kcatPid;
  let stopped = false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(kcatPid, sig);
    } catch {
      // already gone
    }
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await shutdown(child);
    liveBrokers.delete(shPid);
  };
  return {
    brokers: [found.address],
    pid: kcatPid,
    stop,
    kill9: async () => {
      signal('SIGKILL');
      await stop();
    },
    pause: async () => {
      signal('SIGSTOP');
      await allThreadsStopped(kcatPid);
    },
    resume: () => signal('SIGCONT'),
    async unreachableFor(ms: number) {
      signal('SIGSTOP');
      try {
        await allThreadsStopped(kcatPid);
        await new Promise((r) => setTimeout(r, ms));
      } finally {
        signal('SIGCONT');
      }
    },
  };
}

/** Waits until every thread of `pid` is in the stopped state (or the process is gone). */
async function allThreadsStopped(pid: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
    const states = await Promise.all(
      tids.map((tid) =>
        readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').then(
          (stat) => stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3),
          () => 'X',
        ),
      ),
    );
    if (states.every((s) => s === 'T' || s === 't' || s === 'X' || s === 'Z')) return;
    if (Date.now() > deadline) throw new Error(`kcat (pid ${pid}) did not stop within 5 s of SIGSTOP`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** closes the watchdog's stdin (it then SIGKILLs kcat) and waits for the shell to exit */
async function shutdown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

process.once('exit', () => {
  // 'exit' handlers are synchronous: kill what a test left running (the watchdogs would also
  // notice their stdin closing once we are gone)
  for (const { child, kcatPid } of liveBrokers.values()) {
    try {
      if (kcatPid !== undefined) process.kill(kcatPid, 'SIGKILL');
    } catch {
      // already gone
    }
    child.kill('SIGKILL');
  }
  liveBrokers.clear();
});
