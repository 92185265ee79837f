import type { TransactionRecord } from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startCapture } from './test-support/capture-harness.js';
import {
  createDatabase,
  FLAVORS,
  type PostgresCluster,
  sql,
  startPostgres,
  textSession,
} from './test-support/source-fixture.js';

/**
 * Values travel exactly as PostgreSQL's text output: every captured value must equal
 * `col::text` read in a session with Tidemark's text-format settings.
 */
const FIDELITY_TABLE = `
  create type mood as enum ('sad', 'ok', 'happy ☺');
  create type pair as (a int, b text);
  create domain posint as int check (value > 0);
  create table fidelity (
    id int primary key,
    tstz timestamptz, ts timestamp, d date, t time, ttz timetz, iv interval,
    n numeric, n2 numeric(12, 2), i8 bigint, i2 smallint, f8 float8, f4 real,
    ia int[], ta text[], a2 int[][], r4 int4range, rtz tstzrange, rnum numrange,
    by bytea, jb jsonb, js json, tx text, vc varchar(10), ch char(5), ch1 "char",
    u uuid, ip inet, cidr_ cidr, mac macaddr, b boolean, m money, bits bit(4), vb varbit,
    pt point, tsv tsvector, e mood, c pair, dom posint, oid_ oid
  )`;

const ROWS = [
  `(1, '2024-02-29 23:59:59.123456+05:30', '2024-01-01 00:00:00.000001', '2024-02-29', '23:59:59.999999',
    '12:00:00.5+03', '1 year 2 mons 3 days 04:05:06.789012',
    '1234567890123456789012345678901234567890.1234567890', 12.5, -9223372036854775808, -32768,
    '-0', '3.4028235e38',
    '{1,NULL,3}', '{"a\\"b",NULL,"NULL","",",","x y","\\\\"}', '{{1,2},{3,4}}', '[1,10)',
    '[2024-01-01 00:00:00.000001+00,infinity)', '(,1.5]',
    '\\x00ff0000', '{"b": 1, "a": [1, 2, {"z": null}], "a": 2}', '{ "b" : 1, "a":1,  "a" : 2 }',
    E'🦀 e\\u0301 𝔘 \\t tab\\nnewline \\\\ backslash', 'abc', 'ab', 'x',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', true,
    '1234.56', B'1010', B'101', '(1.5,-2)', 'a fat:2 cat', 'happy ☺', '(1,"a b")', 7, 42)`,
  `(2, 'infinity', '-infinity', '4713-01-01 BC', '00:00:00', '00:00:00+00', '-1 days +02:00:00',
    'NaN', -0.01, 9223372036854775807, 32767, 'NaN', '-0',
    '{}', '{}', '{{NULL,2},{3,NULL}}', 'empty', 'empty', 'empty',
    '\\x', '{}', '[]', '', '', '', ' ',
    '00000000-0000-0000-0000-000000000000', '::1', '::/0', 'ff:ff:ff:ff:ff:ff', false,
    '-0.01', B'0000', B'', '(0,0)', '', 'sad', '(,)', 1, 0)`,
  `(3, '1999-12-31 23:59:59.999999+00', '294276-12-31 23:59:59.999999', 'infinity', '24:00:00', '23:59:59.999999-15:59',
    '178000000 years', 'Infinity', 0, 0, 0, 'Infinity', 'NaN', null, '{NULL}', null, '(,)', null, null,
    '\\x5c00', '{"k": "\\u00e9\\ud83e\\udd80"}', '"\\u00e9"', '\\u00e9 NUL-free', null, null, null,
    null, null, null, null, null, null, null, null, null, null, null, null, null, null)`,
  `(4, '2000-01-01 00:00:00+00', null, null, null, null, null, '-Infinity', null, null, null, '-Infinity', 'Infinity',
    null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null)`,
  `(5, null, null, null, null, null, null, '0.000000000000000000000000000001', null, null, null, '1e-320', '1.1',
    null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
    null, null, null, null, null, null, null, null, null)`,
];

describe.concurrent.each(FLAVORS)('capture fidelity on %s', (flavor) => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres({ flavor });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  async function captured(
    setup: string,
    workload: string[],
  ): Promise<{ h: Harness; records: TransactionRecord[] }> {
    const url = await createDatabase(cluster);
    await sql(url, setup);
    const h = await startCapture(url);
    try {
      for (const statement of workload) await sql(url, statement);
      await h.sync();
    } finally {
      await h.capture.stop();
    }
    const records = h.sink.written.filter((tx) => !tx.changes.some((c) => c.op === 'message'));
    return { h, records };
  }

  it('captures every value exactly as its text form', async () => {
    const { h, records } = await captured(
      FIDELITY_TABLE,
      ROWS.map((r) => `insert into fidelity values ${r}`),
    );
    const inserts = records.flatMap((tx) =>
      tx.changes.flatMap((c) =>
        c.op === 'insert' ? [{ rel: tx.relations[c.rel]!, values: c.new.values }] : [],
      ),
    );
    expect(inserts).toHaveLength(ROWS.length);
    const relation = inserts[0]!.rel;
    expect(relation.table).toBe('fidelity');
    const client = await textSession(h.url);
    try {
      const columns = relation.columns.map((c) => `"${c.name}"`).join(', ');
      // each value's text output as the server sends it, unparsed (not `::text`: that cast
      // strips the padding of char(n), which pgoutput, like any text-format result, keeps)
      const expected = await client.query({
        text: `select ${columns} from fidelity order by id`,
        rowMode: 'array',
        types: { getTypeParser: () => (value: string) => value },
      });
      expect(inserts.map((i) => i.values)).toEqual(expected.rows);
      const oids = await client.query<{ attname: string; atttypid: number }>(
        `select attname, atttypid::int from pg_attribute where attrelid = 'fidelity'::regclass and attnum > 0 order by attnum`,
      );
      expect(relation.columns.map((c) => [c.name, c.typeOid])).toEqual(
        oids.rows.map((r) => [r.attname, r.atttypid]),
      );
    } finally {
      await client.end();
    }
    // spot checks of the trickiest ones, independent of the server's comparison
    const byName = (row: readonly (string | null)[], name: string) =>
      row[relation.columns.findIndex((c) => c.name === name)];
    const [r1, r2, r3] = inserts.map((i) => i.values);
    expect(byName(r1!, 'tstz')).toBe('2024-02-29 18:29:59.123456+00');
    expect(byName(r1!, 'i8')).toBe('-9223372036854775808');
    expect(byName(r1!, 'f8')).toBe('-0');
    expect(byName(r1!, 'js')).toBe('{ "b" : 1, "a":1,  "a" : 2 }');
    expect(byName(r1!, 'by')).toBe('\\x00ff0000');
    expect(byName(r2!, 'tx')).toBe('');
    expect(byName(r2!, 'n')).toBe('NaN');
    expect(byName(r3!, 'vc')).toBeNull();
    expect(byName(r1!, 'ch')).toBe('ab   ');
    expect(byName(r1!, 'tx')).toBe('🦀 e\u0301 𝔘 \t tab\nnewline \\ backslash');
  });

  it('marks an untouched TOASTed value as unchanged, not NULL', async () => {
    const { records } = await captured(
      `create table big (id int primary key, payload text, n int);
       alter table big alter column payload set storage external;`,
      [
        `insert into big select 1, string_agg(md5(random()::text), ''), 1 from generate_series(1, 40000)`,
        'update big set n = 2 where id = 1',
      ],
    );
    const [insert, update] = records.flatMap((tx) => tx.changes);
    expect(insert).toMatchObject({ op: 'insert' });
    if (insert?.op !== 'insert') throw new Error('no insert');
    expect(insert.new.values[1]).toHaveLength(1_280_000);
    expect(update).toEqual({ op: 'update', rel: 0, new: { values: ['1', null, '2'], unchanged: [1] } });
  });

  it('captures old rows of REPLICA IDENTITY FULL tables, old keys of key updates, and truncates', async () => {
    const { records } = await captured(
      `create table f (id int, v text); alter table f replica identity full; insert into f values (1, 'a');
       create table k (id int primary key, v text); insert into k values (1, 'x');
       create table t2 (id serial primary key);`,
      [
        `update f set v = 'b' where id = 1`,
        `delete from f where id = 1`,
        `update k set id = 10 where id = 1`,
        `update k set v = 'y' where id = 10`,
        `delete from k where id = 10`,
        `truncate k, t2 restart identity`,
      ],
    );
    const changes = records.map((tx) =>
      tx.changes.map((c) => ({ ...c, table: 'rel' in c ? tx.relations[c.rel]!.table : undefined })),
    );
    expect(changes).toEqual([
      [
        {
          op: 'update',
          rel: 0,
          table: 'f',
          old: { values: ['1', 'a'] },
          oldKind: 'full',
          new: { values: ['1', 'b'] },
        },
      ],
      [{ op: 'delete', rel: 0, table: 'f', old: { values: ['1', 'b'] }, oldKind: 'full' }],
      [
        {
          op: 'update',
          rel: 0,
          table: 'k',
          old: { values: ['1', null] },
          oldKind: 'key',
          new: { values: ['10', 'x'] },
        },
      ],
      [{ op: 'update', rel: 0, table: 'k', new: { values: ['10', 'y'] } }],
      [{ op: 'delete', rel: 0, table: 'k', old: { values: ['10', null] }, oldKind: 'key' }],
      [{ op: 'truncate', rels: [0, 1], cascade: false, restartIdentity: true, table: undefined }],
    ]);
    expect(records[0]!.relations[0]!.replicaIdentity).toBe('full');
    expect(records[5]!.relations.map((r) => r.table).sort()).toEqual(['k', 't2']);
  });

  it('reports changes of a partitioned table under its root', async () => {
    const { records } = await captured(
      `create table p (id int, k int, v text, primary key (id, k)) partition by range (k);
       create table p_lo partition of p for values from (0) to (10);
       create table p_hi partition of p for values from (10) to (20) partition by list (id);
       create table p_hi_a partition of p_hi for values in (1, 2, 3);`,
      [
        `insert into p values (1, 1, 'lo'), (2, 15, 'hi')`,
        `update p set v = 'moved', k = 12 where id = 1`,
        `delete from p where id = 2`,
      ],
    );
    const tables = new Set(records.flatMap((tx) => tx.relations.map((r) => `${r.schema}.${r.table}`)));
    expect([...tables]).toEqual(['public.p']);
    const ops = records.map((tx) => tx.changes.map((c) => c.op));
    // a row moving to another partition is published as delete + insert
    expect(ops).toEqual([['insert', 'insert'], ['delete', 'insert'], ['delete']]);
  });

  it('leaves out rolled-back transactions and rolled-back savepoints', async () => {
    const { records } = await captured('create table r (id int primary key)', [
      'begin; insert into r values (1); rollback;',
      'begin; insert into r values (2); savepoint s; insert into r values (3); rollback to s; insert into r values (4); commit;',
      'begin; savepoint a; insert into r values (5); release a; savepoint b; insert into r values (6); rollback to b; commit;',
    ]);
    const ids = records.flatMap((tx) => tx.changes.map((c) => (c.op === 'insert' ? c.new.values[0] : c.op)));
    expect(ids).toEqual(['2', '4', '5']);
  });
});
