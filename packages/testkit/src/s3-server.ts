import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A throw-away S3-compatible server for tests: `@20minutes/s3rver` 4.x in its own child
 * process (`node --openssl-legacy-provider`, see `s3-server-child.mjs`), on a free port, with
 * a fresh temp directory and the bucket created. `stop()` ends it and removes the directory;
 * a process 'exit' hook does the same for servers a test left running, and the child ends
 * itself when its parent's IPC channel closes (a crashed test run).
 *
 * Clients need `forcePathStyle: true`, any credentials (signatures are not checked) and
 * `requestChecksumCalculation`/`responseChecksumValidation: 'WHEN_REQUIRED'`. The stand-in
 * does not honour `If-None-Match`, versioning, Object Lock or checksum headers (Content-MD5
 * and x-amz-checksum-* are ignored), and writes an object's metadata (ETag, user metadata)
 * just after its data, so a reader can briefly see new data with old metadata. The child
 * replaces its listing with one in S3's byte order and makes its data writes atomic.
 */
export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** the server's data directory */
  readonly directory: string;
  /** the file holding the bytes of the object with this full key, for tests that damage objects behind the store's back */
  objectFile(key: string): string;
  /** ends the server and removes its directory; idempotent */
  stop(): Promise<void>;
  /** SIGKILL of the server process (a crash); the directory stays until stop() */
  kill9(): Promise<void>;
  /** starts the server again on the same port and directory (after kill9, or stopping it first if running) */
  restart(): Promise<void>;
}

export interface StartS3ServerOptions {
  /** default `tidemark-test` */
  readonly bucket?: string;
}

const CHILD_SCRIPT = fileURLToPath(new URL('../s3-server-child.mjs', import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

interface LiveServer {
  child: ChildProcess | undefined;
  readonly directory: string;
}
const live = new Set<LiveServer>();

process.once('exit', () => {
  for (const server of live) {
    try {
      server.child?.kill('SIGKILL');
    } catch {
      // already gone
    }
    try {
      rmSync(server.directory, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort at exit
    }
  }
  live.clear();
});

export async function startS3Server(options: StartS3ServerOptions = {}): Promise<S3Server> {
  if (!existsSync(CHILD_SCRIPT)) throw new Error(`the S3 server child script is missing: ${CHILD_SCRIPT}`);
  const bucket = options.bucket ?? 'tidemark-test';
  const directory = await mkdtemp(path.join(tmpdir(), 'tidemark-s3-'));
  const entry: LiveServer = { child: undefined, directory };
  live.add(entry);
  let port: number;
  try {
    ({ child: entry.child, port } = await spawnServer(directory, bucket, 0));
  } catch (err) {
    live.delete(entry);
    await rm(directory, { recursive: true, force: true });
    throw err;
  }

  const stopChild = async (): Promise<void> => {
    const child = entry.child;
    entry.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ stop: true });
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    directory,
    objectFile: (key) => `${path.join(directory, bucket, ...key.split('/'))}._S3rver_object`,
    async stop() {
      await stopChild();
      live.delete(entry);
      await rm(directory, { recursive: true, force: true });
    },
    async kill9() {
      const child = entry.child;
      entry.child = undefined;
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      if (!live.has(entry)) throw new Error('restart() after stop(): start a new server instead');
      await stopChild();
      ({ child: entry.child } = await spawnServer(directory, bucket, port));
    },
  };
}

async function spawnServer(
  directory: string,
  bucket: string,
  port: number,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', CHILD_SCRIPT], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, TIDEMARK_S3RVER: JSON.stringify({ directory, bucket, port }) },
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  try {
    const actualPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the S3 server did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
      }, START_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`the S3 server exited while starting (${sig ?? `code ${code}`}): ${stderr}`));
      });
      child.once('message', (message: { ready?: boolean; port?: number; error?: string }) => {
        clearTimeout(timer);
        if (message.ready === true && typeof message.port === 'number') resolve(message.port);
        else {
          child.kill('SIGKILL');
          reject(new Error(`the S3 server failed to start: ${message.error ?? JSON.stringify(message)}`));
        }
      });
    });
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    child.on('error', () => {}); // a failed kill of an exited child must not crash the test run
    // neither the process nor its IPC channel keeps the test process alive; the exit hook ends it
    child.unref();
    child.channel?.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    return { child, port: actualPort };
  } catch (err) {
    child.removeAllListeners();
    throw err;
  }
}
