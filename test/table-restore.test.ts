import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { restoreAndWait, waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';
import { sleep } from './support/tidemark-process.js';

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const run = promisify(execFile);

/**
 * Table restores through a running `tidemark up`: a workload on several tables, then two
 * of them restored to a past instant into a new database (API) and into a schema of an
 * existing database full of other things (CLI), compared with the source's fingerprints
 * at that instant; a non-empty schema is refused; a cancelled schema restore leaves the
 * existing database exactly as it was.
 */
const SCHEMA = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total numeric(12,2), note text);
CREATE SCHEMA sales;
CREATE TABLE sales.invoices (id int PRIMARY KEY, amount numeric NOT NULL, paid boolean NOT NULL DEFAULT false);
CREATE TABLE events (id int NOT NULL, at date NOT NULL, kind text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE big (id int PRIMARY KEY, pad text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, g % 20 + 1, g * 1.25, NULL FROM generate_series(1, 200) g;
INSERT INTO sales.invoices SELECT g, g * 3, g % 2 = 0 FROM generate_series(1, 50) g;
INSERT INTO big SELECT g, repeat('x', 40) FROM generate_series(1, 300000) g;
`;
const TABLES = ['customers', 'orders', 'sales.invoices', 'events', 'big'];

const STEPS = [
  `INSERT INTO orders VALUES (201, 1, 9.99, 'new'); UPDATE sales.invoices SET paid = true WHERE id <= 10;
   INSERT INTO events SELECT g, '2025-06-01'::date + g, 'k' || g % 3 FROM generate_series(1, 300) g`,
  `UPDATE orders SET total = total * 2 WHERE id % 10 = 0; DELETE FROM sales.invoices WHERE id > 45;
   UPDATE customers SET name = name || '!' WHERE id < 5; UPDATE events SET at = at + 200 WHERE id % 25 = 0`,
  // one TRUNCATE of a listed and an unlisted table: only the listed one is emptied
  `TRUNCATE orders, customers; INSERT INTO orders VALUES (1, 1, 1.00, 'after truncate');
   INSERT INTO customers VALUES (1, 'only one')`,
  `INSERT INTO orders SELECT g, 2, g, 'late' FROM generate_series(2, 50) g; DELETE FROM events WHERE id % 7 = 0;
   INSERT INTO sales.invoices VALUES (1000, 1, false)`,
];

async function fingerprints(c: pg.Client, tables: readonly string[], as = (t: string) => t) {
  const out: Record<string, string> = {};
  for (const t of tables) {
    const { rows } = await c.query<{ n: string; h: string }>(
      `SELECT count(*)::text AS n, coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') AS h FROM ${as(t)} t`,
    );
    out[t] = `${rows[0]?.n}:${rows[0]?.h}`;
  }
  return out;
}

/** Everything outside the system schemas, rows included: equal before and after means untouched. */
async function everything(url: string, except?: string): Promise<Record<string, string>> {
  const c = await connect(url);
  try {
    const { rows } = await c.query<{ n: string; k: string; s: string }>(
      `SELECT c.oid::regclass::text AS n, c.relkind::text AS k, n.nspname AS s FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
    );
    const out: Record<string, string> = {};
    const schemas = await c.query<{ s: string }>(
      `SELECT string_agg(nspname, ',' ORDER BY nspname) AS s FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> $1`,
      [except ?? ''],
    );
    out['<schemas>'] = schemas.rows[0]?.s ?? '';
    for (const r of rows) {
      if (r.s === except) continue;
      out[`${r.k} ${r.n}`] =
        r.k === 'r' || r.k === 'p' ? Object.values(await fingerprints(c, [r.n])).join('') : r.k;
    }
    return out;
  } finally {
    await c.end();
  }
}

describe('table restore against a running embedded Tidemark', () => {
  let setup: EmbeddedSetup;
  const checkpoints: { time: string; fingerprint: Record<string, string> }[] = [];
  const url = (db: string) => setup.cluster.url(db);
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, ...args, '--api', setup.tm.baseUrl, '--token', setup.tm.token]).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );

  beforeAll(async () => {
    setup = await startEmbeddedSetup('debian15', SCHEMA, ['existing']);
    const existing = await connect(url('existing'));
    // an application database of its own, with names the source uses too
    await existing.query(`CREATE TABLE orders (id int PRIMARY KEY, what text); INSERT INTO orders VALUES (1, 'mine');
      CREATE SCHEMA app; CREATE TABLE app.users (id serial PRIMARY KEY, email text UNIQUE);
      INSERT INTO app.users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 30) g;
      CREATE VIEW app.active AS SELECT * FROM app.users WHERE id > 10;
      CREATE SCHEMA sales; CREATE TABLE sales.invoices (n int); INSERT INTO sales.invoices VALUES (42)`);
    await existing.end();
    const source = await connect(url('source'));
    try {
      for (const sql of STEPS) {
        await source.query(sql);
        await sleep(20);
        checkpoints.push({ time: await serverNow(source), fingerprint: await fingerprints(source, TABLES) });
        await sleep(20);
      }
    } finally {
      await source.end();
    }
    await waitUntilRestorable(setup.tm, 'main', checkpoints.at(-1)?.time ?? '');
  });

  afterAll(async () => {
    await setup?.teardown();
  });

  it('restores two tables to a past instant into a new database, nothing else', async () => {
    const at = checkpoints[2]!; // after the TRUNCATE of orders and customers
    const body = {
      source: 'main',
      target: { time: at.time },
      into: { url: url('two_tables') },
      tables: ['public.orders', 'sales.invoices'],
    };
    const plan = await setup.tm.api<Record<string, unknown>>('POST', '/v1/restores?dryRun=true', body);
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({
      tables: ['public.orders', 'sales.invoices'],
      restoredTables: ['public.orders', 'sales.invoices'],
      snapshotTables: 2,
    });
    const done = await restoreAndWait(setup.tm, body);
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const view = await setup.tm.api<Record<string, unknown>>('GET', `/v1/restores/${done.id}`);
    expect(view.body).toMatchObject({
      tables: ['public.orders', 'sales.invoices'],
      into: { database: 'two_tables' },
    });
    const c = await connect(url('two_tables'));
    try {
      const { rows } = await c.query<{ t: string }>(
        `SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
      );
      expect(rows.map((r) => r.t)).toEqual(['public.orders', 'sales.invoices']);
      expect(await fingerprints(c, ['orders', 'sales.invoices'])).toEqual({
        orders: at.fingerprint.orders,
        'sales.invoices': at.fingerprint['sales.invoices'],
      });
    } finally {
      await c.end();
    }
  });

  it('answers 400 UNKNOWN_TABLE with near matches, and 400 for into.schema without tables', async () => {
    const unknown = await setup.tm.api<{
      error: { code: string; message: string; details: Record<string, unknown> };
    }>('POST', '/v1/restores', {
      source: 'main',
      target: { latest: true },
      into: { url: url('nope') },
      tables: ['public.order', 'x.invoices'],
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('UNKNOWN_TABLE');
    expect(unknown.body.error.message).toMatch(/public\.order \(did you mean public\.orders\?\)/);
    expect(unknown.body.error.details.nearMatches).toMatchObject({ 'x.invoices': ['sales.invoices'] });
    const noTables = await setup.tm.api<{ error: { message: string } }>('POST', '/v1/restores', {
      source: 'main',
      target: { latest: true },
      into: { url: url('existing'), schema: 'restored_x' },
    });
    expect(noTables.status).toBe(400);
    expect(noTables.body.error.message).toMatch(/tables: required with into\.schema/);
  });

  it('restores tables into a schema of an existing database with the CLI, touching nothing else', async () => {
    const at = checkpoints[1]!;
    const before = await everything(url('existing'));
    const res = await cli(
      'restore',
      '--source',
      'main',
      '--to',
      at.time,
      '--into',
      url('existing'),
      '--tables',
      'public.orders,public.events',
      '--schema',
      'restored_x',
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(
      /tables public\.orders, public\.events restored into schema restored_x of database existing/,
    );
    expect(await everything(url('existing'), 'restored_x')).toEqual(before);
    const c = await connect(url('existing'));
    try {
      const { rows } = await c.query<{ t: string }>(
        `SELECT relname AS t FROM pg_class WHERE relnamespace = 'restored_x'::regnamespace AND relkind IN ('r', 'p') ORDER BY 1`,
      );
      expect(rows.map((r) => r.t)).toEqual(['events', 'events_2025', 'events_2026', 'orders']);
      expect(await fingerprints(c, ['orders', 'events'], (t) => `restored_x.${t}`)).toEqual({
        orders: at.fingerprint.orders,
        events: at.fingerprint.events,
      });
    } finally {
      await c.end();
    }
  });

  it('refuses a schema that is not empty, with a clear error', async () => {
    const before = await everything(url('existing'));
    const res = await cli(
      'restore',
      '--source',
      'main',
      '--latest',
      '--into',
      url('existing'),
      '--tables',
      'public.customers',
      '--schema',
      'restored_x',
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /schema restored_x of database existing .* is not empty .*\[TARGET_NOT_EMPTY\]/,
    );
    expect(await everything(url('existing'))).toEqual(before);
  });

  it('a cancelled schema restore leaves the existing database exactly as before', async () => {
    const before = await everything(url('existing'));
    const created = await setup.tm.api<{ id: string }>('POST', '/v1/restores', {
      source: 'main',
      target: { latest: true },
      into: { url: url('existing'), schema: 'cancelled_x' },
      tables: ['public.big', 'public.orders'],
    });
    expect(created.status).toBe(202);
    // cancel once it has written: orders is loaded while the 300,000 rows of big still load
    for (let i = 0; i < 1000; i++) {
      const view = await setup.tm.api<{ state: string; progress: { tablesLoaded: number } }>(
        'GET',
        `/v1/restores/${created.body.id}`,
      );
      if (view.body.state !== 'queued' && view.body.progress.tablesLoaded >= 1) break;
      await sleep(5);
    }
    const cancelled = await setup.tm.api<{ state: string; error?: { message: string } }>(
      'DELETE',
      `/v1/restores/${created.body.id}`,
    );
    expect([200, 202]).toContain(cancelled.status);
    let final = cancelled.body;
    for (let i = 0; i < 100 && final.state !== 'cancelled'; i++) {
      await sleep(100);
      final = (await setup.tm.api<typeof final>('GET', `/v1/restores/${created.body.id}`)).body;
    }
    expect(final.state, JSON.stringify(final)).toBe('cancelled');
    // it had created the schema and was loading into it: the cleanup, not the early exit, was tested
    expect(final.error?.message).toMatch(
      /schema cancelled_x, which the restore had created in database existing, was dropped/,
    );
    expect(await everything(url('existing'))).toEqual(before);
  });
});
