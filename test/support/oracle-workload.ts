import { textFormatStartupOptions } from '@tidemark/shared';
import pg from 'pg';

/**
 * The oracle: a mixed workload run step by step; after each step the test records the
 * server clock and a fingerprint of every table, and later requires a restore to that
 * instant to have exactly the same fingerprints.
 */

export const ORACLE_TABLES = ['types_fidelity', 'docs', 'nokey', 'events', 'ledger', 'accounts'] as const;

export const ORACLE_SCHEMA = `
CREATE TABLE types_fidelity (
  id int PRIMARY KEY,
  ts timestamptz, tsn timestamp, d date, tm time, tmz timetz, iv interval,
  num numeric, num_fixed numeric(12,4), big bigint, small smallint, f8 float8, f4 real,
  ia int[], ta text[], ia2 int[][], r int4range, tr tstzrange, nr numrange,
  b bytea, jb jsonb, js json, tx text, vc varchar(20), ch char(5), u uuid, ip inet, cidr_ cidr, mac macaddr,
  bo boolean, bits bit varying(16), money_ money, pt point, xml_ xml, tsv tsvector, nullable text
);
CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, body text, version int NOT NULL DEFAULT 1);
ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
CREATE TABLE nokey (a int, b text, c jsonb);
ALTER TABLE nokey REPLICA IDENTITY FULL;
CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, kind text, payload jsonb, PRIMARY KEY (id, at))
  PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(20,6) NOT NULL, note text);
CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL, balance numeric NOT NULL DEFAULT 0);
INSERT INTO accounts SELECT g, 'account ' || g, g * 10 FROM generate_series(1, 50) g;
INSERT INTO ledger SELECT g, g % 50 + 1, g * 1.5, NULL FROM generate_series(1, 1000) g;
INSERT INTO nokey VALUES (1, 'dup', '{"a":1}'), (1, 'dup', '{"a":1}'), (2, NULL, NULL);
`;

const FIDELITY_ROWS = `
INSERT INTO types_fidelity VALUES
 (1, '2026-11-23 10:41:07.123456+00', '1999-12-31 23:59:59.999999', '0001-01-01', '23:59:59.999999', '12:00:00.000001+05:30',
  '1 year 2 mons 3 days 04:05:06.789012', '123456789012345678901234567890.123456789012345678901234567890', 12345678.9012,
  9223372036854775807, -32768, '-0', 'NaN', ARRAY[1,NULL,3], ARRAY['a','b,c','"q"',NULL,'','NULL'], '{{1,2},{3,4}}',
  '[1,10)', '["2026-01-01 00:00:00+00","2026-02-01 00:00:00.5+00")', 'empty', '\\x00ff00deadbeef',
  '{"b": 1, "a": [1, 2.50, {"z": null}], "big": 123456789012345678901234567890}', '{"b":1,  "a":1, "a":2}',
  'unicode: ü ß 日本語 😀 e\u0301', 'varchar', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8',
  '08:00:2b:01:02:03', true, B'1011', '$1,234.56', '(1.5,-2.25)', '<a b="c">text &amp; more</a>', 'fat cat:1A rat:2', NULL),
 (2, 'infinity', '-infinity', 'infinity', '00:00', '00:00+00', '-1 days -00:00:00.000001', 'NaN', NULL,
  -9223372036854775808, 32767, 'Infinity', '-Infinity', '{}', '{}', NULL, '(,)', NULL, '(1.5,2.5]', '\\x',
  '{}', '[]', '', '', '', NULL, '::1', '::/0', NULL, false, B'', '-$0.01', NULL, NULL, '', ''),
 (3, '1970-01-01 00:00:00+00', NULL, '2000-02-29', NULL, NULL, '0', '-0.000000000000000000001', 0, 0, 0, 1e-308, 3.4e38,
  NULL, ARRAY[E'tab\\there', E'new\\nline', E'back\\\\slash'], NULL, NULL, NULL, NULL, NULL, 'null', 'null',
  E'line1\\nline2\\ttab\\\\', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
`;

export interface WorkloadStep {
  readonly name: string;
  readonly sql: string | ((client: pg.Client) => Promise<void>);
}

/** `bigRows`: rows of the one large transaction (the mock Kafka broker keeps only ~5 MB per partition). */
export function oracleSteps(opts: { bigRows: number } = { bigRows: 100_000 }): readonly WorkloadStep[] {
  return [
    { name: 'fidelity rows', sql: FIDELITY_ROWS },
    {
      name: 'toast value > 1 MiB',
      sql: `INSERT INTO docs VALUES (1, 'big', (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 40000)));
          INSERT INTO docs VALUES (2, 'small', 'tiny');`,
    },
    {
      name: 'update other columns, toast unchanged',
      sql: `UPDATE docs SET title = 'big, retitled', version = version + 1 WHERE id = 1;
          UPDATE types_fidelity SET tx = tx || ' edited', jb = jb || '{"c": 3}' WHERE id = 1;`,
    },
    {
      name: 'duplicates in a table without key',
      sql: `INSERT INTO nokey VALUES (1, 'dup', '{"a":1}'), (3, 'x', '[1, 2]');
          UPDATE nokey SET b = 'changed once' WHERE ctid = (SELECT ctid FROM nokey WHERE a = 1 LIMIT 1);
          DELETE FROM nokey WHERE ctid = (SELECT ctid FROM nokey WHERE a = 1 AND b = 'dup' LIMIT 1);`,
    },
    {
      name: 'partitioned table, row moving between partitions',
      sql: `INSERT INTO events SELECT g, '2025-06-01'::timestamptz + g * interval '1 hour', 'k' || (g % 3), jsonb_build_object('g', g)
            FROM generate_series(1, 500) g;
          UPDATE events SET at = at + interval '300 days' WHERE id % 50 = 0;
          DELETE FROM events WHERE id % 7 = 0;`,
    },
    {
      name: 'primary key update',
      sql: `UPDATE accounts SET id = id + 1000 WHERE id <= 5;
          UPDATE accounts SET name = name || ' (renumbered)' WHERE id > 1000;`,
    },
    {
      name: 'rolled back transaction and savepoints',
      sql: async (c) => {
        await c.query('BEGIN');
        await c.query(`INSERT INTO accounts VALUES (9999, 'never', 0)`);
        await c.query('ROLLBACK');
        await c.query('BEGIN');
        await c.query(`INSERT INTO accounts VALUES (500, 'kept', 1)`);
        await c.query('SAVEPOINT s1');
        await c.query(`INSERT INTO accounts VALUES (501, 'rolled back', 1)`);
        await c.query(`UPDATE accounts SET balance = -1`);
        await c.query('ROLLBACK TO SAVEPOINT s1');
        await c.query('SAVEPOINT s2');
        await c.query(`INSERT INTO accounts VALUES (502, 'released', 2)`);
        await c.query('RELEASE SAVEPOINT s2');
        await c.query('COMMIT');
      },
    },
    {
      name: 'truncate',
      sql: `TRUNCATE ledger; INSERT INTO ledger VALUES (1, 1, 0.000001, 'after truncate');`,
    },
    {
      name: `one transaction of ${opts.bigRows} rows`,
      sql: `INSERT INTO ledger SELECT g, g % 50 + 1, g / 7.0, CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN '' ELSE 'n' || g END
            FROM generate_series(2, ${opts.bigRows + 1}) g;`,
    },
    {
      name: 'mixed updates and deletes',
      sql: `UPDATE ledger SET amount = amount * 2 WHERE id % 1000 = 0;
          DELETE FROM ledger WHERE id % 5000 = 1;
          UPDATE docs SET body = 'now small' WHERE id = 2;
          DELETE FROM types_fidelity WHERE id = 3;
          UPDATE types_fidelity SET nullable = '' WHERE id = 2;`,
    },
  ];
}

export const ORACLE_STEPS: readonly WorkloadStep[] = oracleSteps();

export function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: textFormatStartupOptions() });
  return client.connect().then(() => client);
}

export async function runStep(client: pg.Client, step: WorkloadStep): Promise<void> {
  if (typeof step.sql === 'string') await client.query(step.sql);
  else await step.sql(client);
}

/** md5 over every row's text form, sorted, per table. */
export async function fingerprint(client: pg.Client): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of ORACLE_TABLES) {
    const { rows } = await client.query<{ n: string; h: string }>(
      `SELECT count(*)::text AS n, coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') AS h FROM ${table} t`,
    );
    out[table] = `${rows[0]!.n}:${rows[0]!.h}`;
  }
  return out;
}

/** The server's clock now, as RFC 3339 with µs in UTC. */
export async function serverNow(client: pg.Client): Promise<string> {
  const { rows } = await client.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  return rows[0]!.t;
}
