import type { PostgresCluster } from '@tidemark/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';
import { sleep, TidemarkProcess } from './support/tidemark-process.js';

/**
 * A restore survives the death of the process running it: kill -9 of `tidemark up` during
 * the replay, and during the snapshot load; after the restart the restore resumes by
 * itself (the target URL's password comes back from the secret file), and the target ends
 * equal to the source at the target instant, nothing applied twice. Then the sequences:
 * nextval() on a serial and on an identity column returns a value above every existing one.
 */
const SNAPSHOT_ROWS = 600_000;
const TRANSACTIONS = 20_000;

const SCHEMA = `
CREATE TABLE items (id bigserial PRIMARY KEY, grp int NOT NULL, payload text NOT NULL);
CREATE TABLE tickets (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text NOT NULL);
CREATE TABLE bulk (id int PRIMARY KEY, body text NOT NULL);
INSERT INTO items (grp, payload) SELECT g % 97, md5(g::text) FROM generate_series(1, 1000) g;
INSERT INTO tickets (note) SELECT 'snapshot ' || g FROM generate_series(1, 50) g;
INSERT INTO bulk SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, ${SNAPSHOT_ROWS}) g;
`;

/** many small transactions: replay takes seconds, so the kill lands in the middle of it */
const WORKLOAD = `
DO $$
BEGIN
  FOR i IN 1..${TRANSACTIONS} LOOP
    INSERT INTO items (grp, payload) SELECT i % 97, md5((i * 10 + g)::text) FROM generate_series(1, 4) g;
    UPDATE items SET payload = payload || 'u' WHERE id = i;
    IF i % 3 = 0 THEN DELETE FROM items WHERE id = i + 500; END IF;
    IF i % 10 = 0 THEN INSERT INTO tickets (note) VALUES ('tx ' || i); END IF;
    COMMIT;
  END LOOP;
END $$;`;

const TABLES = ['items', 'tickets', 'bulk'] as const;

async function fingerprint(
  client: pg.Client,
  tables: readonly string[] = TABLES,
  schema = 'public',
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of tables) {
    const { rows } = await client.query<{ n: string; d: string; h: string }>(
      `SELECT count(*)::text AS n, count(DISTINCT id)::text AS d,
              md5(string_agg(t::text, E'\\n' ORDER BY t.id)) AS h FROM ${schema}.${table} t`,
    );
    out[table] = `${rows[0]!.n}/${rows[0]!.d}:${rows[0]!.h}`;
  }
  return out;
}

interface JobView {
  id: string;
  state: string;
  attempts?: number;
  resumedFrom?: string;
  progress: { phase: string; transactionsApplied: number; tablesLoaded: number };
  error?: unknown;
}

async function waitFor(tm: TidemarkProcess, id: string, done: (j: JobView) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  let last: JobView | undefined;
  while (Date.now() < deadline) {
    const res = await tm.api<JobView>('GET', `/v1/restores/${id}`);
    last = res.body;
    if (done(last)) return last;
    if (['failed', 'cancelled'].includes(last.state)) break;
    await sleep(50);
  }
  throw new Error(`restore ${id} never got there: ${JSON.stringify(last)}`);
}

describe('a restore resumes after kill -9 of the restore service', () => {
  let setup: EmbeddedSetup;
  let cluster: PostgresCluster;
  let target = '';
  let expected: Record<string, string> = {};

  beforeAll(async () => {
    setup = await startEmbeddedSetup('embedded18', SCHEMA);
    cluster = setup.cluster;
    // again with info logs: the tests read which way each restore resumed
    await setup.tm.stop();
    setup.tm = new TidemarkProcess({
      sourceUrl: cluster.url('source'),
      dataDir: setup.dataDir,
      env: { TIDEMARK_LOG_LEVEL: 'info' },
    });
    await setup.tm.start();
    const source = await connect(cluster.url('source'));
    try {
      await source.query(WORKLOAD);
      target = await serverNow(source);
      expected = await fingerprint(source);
      // after the target instant: must not show up in the restores
      await source.query("INSERT INTO items (grp, payload) VALUES (1, 'after the target')");
    } finally {
      await source.end();
    }
    await waitUntilRestorable(setup.tm, 'main', target);
  }, 180_000);

  afterAll(async () => {
    await setup?.teardown();
  });

  async function restoreKilledAt(
    database: string,
    when: (j: JobView) => boolean,
    alsoWait?: () => Promise<void>,
  ): Promise<JobView> {
    const tm = setup.tm;
    const created = await tm.api<JobView>('POST', '/v1/restores', {
      source: 'main',
      target: { time: target },
      into: { url: cluster.url(database) },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const seen = await waitFor(tm, created.body.id, when, 60_000);
    await alsoWait?.();
    await tm.kill9();
    await tm.start();
    const done = await waitFor(tm, created.body.id, (j) => j.state === 'succeeded', 120_000);
    const client = await connect(cluster.url(database));
    try {
      expect(await fingerprint(client)).toEqual(expected);
      // the restore's bookkeeping is gone once it succeeded
      const { rows } = await client.query("SELECT to_regnamespace('_tidemark') IS NULL AS gone");
      expect(rows[0]).toEqual({ gone: true });
    } finally {
      await client.end();
    }
    return { ...done, progress: seen.progress };
  }

  it('continues the replay from the progress row, applying nothing twice', async () => {
    const done = await restoreKilledAt(
      'resumed_replay',
      (j) => j.progress.phase === 'replaying' && j.progress.transactionsApplied > 0,
    );
    expect(done.attempts).toBe(2);
    expect(done.resumedFrom).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(setup.tm.log).toContain('resuming an interrupted restore');
  }, 200_000);

  it('cleans a half-loaded snapshot and starts over', async () => {
    const database = 'resumed_snapshot';
    const done = await restoreKilledAt(
      database,
      (j) => j.progress.phase === 'loading-snapshot' && j.state === 'running',
      // the tables exist (so the target was prepared and written to) and the big one is loading
      async () => {
        for (let i = 0; i < 400; i++) {
          const client = await connect(cluster.url(database)).catch(() => undefined);
          const { rows } = client
            ? await client.query("SELECT to_regclass('public.bulk') IS NOT NULL AS ok")
            : { rows: [{ ok: false }] };
          await client?.end();
          if (rows[0]?.ok) return;
          await sleep(10);
        }
        throw new Error('the snapshot tables never appeared');
      },
    );
    expect(done.attempts).toBe(2);
    expect(done.resumedFrom).toBe('start');
    expect(setup.tm.log).toMatch(
      /interrupted during the snapshot load: database resumed_snapshot, which the restore had created, was dropped; starting over/,
    );
  }, 200_000);

  it('resumes a table restore into a schema of an existing database, touching nothing else', async () => {
    const database = 'resumed_tables';
    const admin = await connect(cluster.url('postgres'));
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const existing = await connect(cluster.url(database));
    // a table named like a source table: the restore must not mistake it for its own
    await existing.query(`CREATE TABLE items (id int PRIMARY KEY, note text);
      INSERT INTO items VALUES (1, 'mine'); CREATE TABLE other (x int); INSERT INTO other VALUES (7)`);
    const outside = async (c: pg.Client) =>
      (
        await c.query<{ r: string }>(
          `SELECT format('%s %s', (SELECT string_agg(t::text, ',' ORDER BY t.id) FROM public.items t),
                  (SELECT string_agg(o::text, ',') FROM public.other o)) AS r
            UNION ALL SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'`,
        )
      ).rows.map((r) => r.r);
    const before = await outside(existing);
    await existing.end();
    const tm = setup.tm;
    const created = await tm.api<JobView>('POST', '/v1/restores', {
      source: 'main',
      target: { time: target },
      tables: ['public.items', 'public.tickets'],
      into: { url: cluster.url(database), schema: 'restored' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    await waitFor(
      tm,
      created.body.id,
      (j) => j.progress.phase === 'replaying' && j.progress.transactionsApplied > 0,
      60_000,
    );
    await tm.kill9();
    await tm.start();
    const done = await waitFor(tm, created.body.id, (j) => j.state === 'succeeded', 120_000);
    expect(done.attempts).toBe(2);
    expect(done.resumedFrom).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const client = await connect(cluster.url(database));
    try {
      expect(await fingerprint(client, ['items', 'tickets'], 'restored')).toEqual({
        items: expected.items,
        tickets: expected.tickets,
      });
      const after = await outside(client);
      expect(after[0]).toBe(before[0]);
      expect(after[1]).toBe(`${before[1]},restored`.split(',').sort().join(','));
      const { rows } = await client.query(
        "SELECT to_regclass('restored._tidemark_restore_progress') AS progress, to_regnamespace('_tidemark') AS t",
      );
      expect(rows[0]).toEqual({ progress: null, t: null });
    } finally {
      await client.end();
    }
  }, 200_000);

  it('restores sequences: nextval() on serial and identity columns is above every value', async () => {
    const client = await connect(cluster.url('resumed_replay'));
    try {
      const max = await client.query<{ items: string; tickets: string }>(
        'SELECT (SELECT max(id) FROM items)::text AS items, (SELECT max(id) FROM tickets)::text AS tickets',
      );
      const item = await client.query<{ id: string }>(
        "INSERT INTO items (grp, payload) VALUES (0, 'new') RETURNING id::text",
      );
      expect(BigInt(item.rows[0]!.id)).toBeGreaterThan(BigInt(max.rows[0]!.items));
      const ticket = await client.query<{ id: string }>(
        "INSERT INTO tickets (note) VALUES ('new') RETURNING id::text",
      );
      expect(BigInt(ticket.rows[0]!.id)).toBeGreaterThan(BigInt(max.rows[0]!.tickets));
      // still an identity column, GENERATED ALWAYS, owning its sequence
      const identity = await client.query(
        "SELECT attidentity FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attname = 'id'",
      );
      expect(identity.rows[0]).toEqual({ attidentity: 'a' });
      const owned = await client.query("SELECT pg_get_serial_sequence('items', 'id') AS s");
      expect(owned.rows[0]).toEqual({ s: 'public.items_id_seq' });
    } finally {
      await client.end();
    }
  });
});
