import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { restoreAndWait, waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';
import { sleep } from './support/tidemark-process.js';

/**
 * Schema changes in the middle of the journal: a workload that adds, renames, retypes and
 * drops columns, creates and fills a table, drops one, renames one and creates an index,
 * with row changes before and after each DDL in the same transaction. After every step
 * the test records the source's schema (information_schema, pg_indexes) and a fingerprint
 * of every table's rows; a restore to each recorded instant must have exactly the same.
 */
const SCHEMA = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int DEFAULT 0);
CREATE INDEX items_name ON items (name);
INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, 200) g;
CREATE TABLE doomed (id int PRIMARY KEY, v text);
INSERT INTO doomed VALUES (1, 'x'), (2, 'y');
CREATE TABLE events (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_a PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO events SELECT g, '2025-01-01'::date + g, 'e' || g FROM generate_series(1, 50) g;
`;

const STEPS: readonly { readonly name: string; readonly sql: string }[] = [
  {
    name: 'add column',
    sql: `UPDATE items SET qty = -1 WHERE id = 1;
          ALTER TABLE items ADD COLUMN price numeric(10,2) DEFAULT 1.50;
          INSERT INTO items VALUES (201, 'new', 1, 9.99);
          UPDATE items SET price = 2 WHERE id <= 10;`,
  },
  {
    name: 'rename column',
    sql: `ALTER TABLE items RENAME COLUMN qty TO quantity;
          UPDATE items SET quantity = quantity + 1 WHERE id % 2 = 0;`,
  },
  {
    name: 'change type',
    sql: `ALTER TABLE items ALTER COLUMN quantity TYPE bigint;
          INSERT INTO items VALUES (202, 'big', 9000000000, NULL);`,
  },
  {
    name: 'drop column',
    sql: `ALTER TABLE items DROP COLUMN price; DELETE FROM items WHERE id = 5; UPDATE items SET name = 'five+1' WHERE id = 6;`,
  },
  {
    name: 'create table and fill it',
    sql: `CREATE TABLE tags (id int PRIMARY KEY, item int NOT NULL, tag text);
          INSERT INTO tags SELECT g, g, 't' || g FROM generate_series(1, 100) g;
          UPDATE tags SET tag = 'changed' WHERE id = 3; DELETE FROM tags WHERE id = 4;`,
  },
  {
    // its rows are decoded before the message that describes the new table
    name: 'create table as select',
    sql: `CREATE TABLE copies AS SELECT id, name FROM items WHERE id <= 20; INSERT INTO copies VALUES (999, 'after');`,
  },
  { name: 'drop table', sql: `DELETE FROM doomed WHERE id = 1; DROP TABLE doomed;` },
  {
    name: 'create index',
    sql: `CREATE INDEX tags_tag ON tags (tag); INSERT INTO tags VALUES (101, 1, 'z');`,
  },
  {
    name: 'rename table',
    sql: `ALTER TABLE tags RENAME TO labels; UPDATE labels SET tag = 'renamed' WHERE id = 1;`,
  },
  {
    name: 'change primary key',
    sql: `ALTER TABLE labels DROP CONSTRAINT tags_pkey; ALTER TABLE labels ADD PRIMARY KEY (id, item);
          UPDATE labels SET tag = 'by new key' WHERE id = 2 AND item = 2; DELETE FROM labels WHERE id = 6;`,
  },
  {
    name: 'partitioned table: columns, a new partition, an index',
    sql: `ALTER TABLE events ADD COLUMN n int DEFAULT 3; ALTER TABLE events RENAME COLUMN v TO label;
          CREATE TABLE events_b PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
          INSERT INTO events VALUES (1, '2026-03-01', 'x', 4);
          CREATE INDEX events_label ON events (label);
          UPDATE events SET label = 'moved', at = '2026-06-01' WHERE id = 2;
          ALTER TABLE events ALTER COLUMN n TYPE bigint;`,
  },
];

/**
 * Schema changes on both sides of a compaction snapshot (run after STEPS, on their tables):
 * the compaction must describe the tables as the DDL left them, and restores past it must
 * start from it and still equal the source.
 */
const BEFORE_COMPACTION: readonly { readonly name: string; readonly sql: string }[] = [
  {
    name: 'compaction: create and fill a table, add and rename columns',
    sql: `CREATE TABLE notes (id int PRIMARY KEY, body text DEFAULT 'n');
          INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g;
          ALTER TABLE labels ADD COLUMN weight int DEFAULT 1; ALTER TABLE labels RENAME COLUMN tag TO label;
          UPDATE labels SET weight = 5 WHERE id < 10;`,
  },
  {
    name: 'compaction: retype and drop columns, an index, drop a table',
    sql: `ALTER TABLE notes ALTER COLUMN id TYPE bigint; ALTER TABLE labels DROP COLUMN weight;
          CREATE INDEX notes_body ON notes (body); DROP TABLE copies; INSERT INTO notes VALUES (51, 'x');`,
  },
];
const AFTER_COMPACTION: readonly { readonly name: string; readonly sql: string }[] = [
  {
    name: 'after compaction: a column, a new table',
    sql: `ALTER TABLE notes ADD COLUMN at date DEFAULT '2025-01-01'; UPDATE notes SET body = 'after' WHERE id <= 5;
          CREATE TABLE more (k text PRIMARY KEY); INSERT INTO more VALUES ('a'), ('b');
          UPDATE items SET quantity = quantity * 2 WHERE id < 20;`,
  },
  {
    name: 'after compaction: rename and drop tables',
    sql: `ALTER TABLE notes RENAME TO memo; DELETE FROM memo WHERE id = 7; DROP TABLE more;
          INSERT INTO events VALUES (3, '2026-04-01', 'y', 1); UPDATE labels SET label = 'late' WHERE id = 1;`,
  },
];

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));

interface Checkpoint {
  readonly name: string;
  readonly time: string;
  readonly state: unknown;
}

/** Schema (columns, indexes) and rows of every table in public, as comparable text. */
async function sourceState(client: pg.Client): Promise<unknown> {
  const columns = await client.query(
    `SELECT table_name, column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  const indexes = await client.query(
    `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`,
  );
  const tables = await client.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  const rows: Record<string, string> = {};
  for (const { t } of tables.rows) {
    const r = await client.query<{ n: string; h: string }>(
      `SELECT count(*)::text AS n, coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '-') AS h FROM public."${t}" x`,
    );
    rows[t] = `${r.rows[0]!.n}:${r.rows[0]!.h}`;
  }
  return { columns: columns.rows, indexes: indexes.rows, rows };
}

/** Runs each step and records the instant after it and the source's state then. */
async function runSteps(
  client: pg.Client,
  steps: readonly { readonly name: string; readonly sql: string }[],
): Promise<Checkpoint[]> {
  const out: Checkpoint[] = [];
  for (const step of steps) {
    await client.query(step.sql);
    await sleep(20); // so the recorded instant sits strictly between two commits
    out.push({ name: step.name, time: await serverNow(client), state: await sourceState(client) });
    await sleep(20);
  }
  return out;
}

describe('schema changes replayed at their place in commit order', () => {
  let setup: EmbeddedSetup;

  beforeAll(async () => {
    setup = await startEmbeddedSetup('debian15', SCHEMA);
  });

  afterAll(async () => {
    await setup?.teardown();
  });

  it('`tidemark install` finds the triggers capture installed on start, and installs them where missing', async () => {
    const run = (url: string) =>
      promisify(execFile)(process.execPath, [CLI, 'install', '--source-url', url], {
        env: { PATH: process.env.PATH },
      });
    const again = await run(setup.cluster.url('source'));
    expect(again.stdout).toMatch(/already installed in postgres:\/\/.*\/source; nothing changed/);
    expect(again.stdout).not.toContain(`:${new URL(setup.cluster.url('source')).password}@`);
    const admin = await connect(setup.cluster.url('postgres'));
    await admin.query('CREATE DATABASE fresh');
    await admin.end();
    expect((await run(setup.cluster.url('fresh'))).stdout).toMatch(/^DDL capture installed in/);
  });

  it('restores to instants before, between and after each schema change exactly', async () => {
    const { cluster, tm } = setup;
    const source = await connect(cluster.url('source'));
    const checkpoints: Checkpoint[] = [];
    try {
      checkpoints.push({ name: 'start', time: await serverNow(source), state: await sourceState(source) });
      for (const step of STEPS) {
        await source.query(step.sql);
        await sleep(20); // so the recorded instant sits strictly between two commits
        checkpoints.push({
          name: step.name,
          time: await serverNow(source),
          state: await sourceState(source),
        });
        await sleep(20);
      }
    } finally {
      await source.end();
    }
    // the workload did change the schema at every step (so equal states mean DDL was replayed)
    const shapes = checkpoints.map((cp) => JSON.stringify((cp.state as { columns: unknown }).columns));
    expect(new Set(shapes).size).toBe(STEPS.length - 1); // 'create index' and the key change: indexes only
    expect(JSON.stringify(checkpoints[0]!.state)).toContain('CREATE INDEX items_name ON public.items');
    expect(JSON.stringify(checkpoints.at(-1)!.state)).toContain('CREATE INDEX tags_tag ON public.labels');
    await waitUntilRestorable(tm, 'main', checkpoints.at(-1)!.time);

    for (const [i, cp] of checkpoints.entries()) {
      const database = `ddl_${i}`;
      const done = await restoreAndWait(tm, {
        source: 'main',
        target: { time: cp.time },
        into: { url: cluster.url(database) },
      });
      expect(done.state, `restore to "${cp.name}": ${JSON.stringify(done)}`).toBe('succeeded');
      const restored = await connect(cluster.url(database));
      try {
        expect(await sourceState(restored), `state after "${cp.name}" at ${cp.time}`).toEqual(cp.state);
      } finally {
        await restored.end();
      }
    }
  });

  it('compaction after schema changes describes the new schema, and restores past it are exact', async () => {
    const { cluster, tm } = setup;
    const source = await connect(cluster.url('source'));
    try {
      const before = await runSteps(source, BEFORE_COMPACTION);
      await waitUntilRestorable(tm, 'main', before.at(-1)!.time);
      const started = await tm.api<{ id: string }>('POST', '/v1/sources/main/snapshots');
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      let job: { state: string; result?: { created: boolean; lsn: string }; error?: unknown };
      for (;;) {
        job = (await tm.api<typeof job>('GET', `/v1/snapshot-jobs/${started.body.id}`)).body;
        if (job.state === 'succeeded' || job.state === 'failed') break;
        await sleep(100);
      }
      expect(job.state, JSON.stringify(job.error)).toBe('succeeded');
      expect(job.result?.created).toBe(true);

      const after = await runSteps(source, AFTER_COMPACTION);
      await waitUntilRestorable(tm, 'main', after.at(-1)!.time);
      for (const [i, cp] of after.entries()) {
        const into = { url: cluster.url(`ddl_compacted_${i}`) };
        const plan = await tm.api<{ snapshotLsn: string; snapshotKind: string }>(
          'POST',
          '/v1/restores?dryRun=true',
          { source: 'main', target: { time: cp.time }, into },
        );
        expect(plan.body, cp.name).toMatchObject({ snapshotLsn: job.result?.lsn, snapshotKind: 'compacted' });
        const done = await restoreAndWait(tm, { source: 'main', target: { time: cp.time }, into });
        expect(done.state, `restore to "${cp.name}": ${JSON.stringify(done)}`).toBe('succeeded');
        const restored = await connect(into.url);
        try {
          expect(await sourceState(restored), `state after "${cp.name}" at ${cp.time}`).toEqual(cp.state);
        } finally {
          await restored.end();
        }
      }
    } finally {
      await source.end();
    }
  }, 120_000);
});
