import { type Change, MESSAGE_PREFIX, type SnapshotTable } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import type { TableShape } from './ddl-message.js';
import { absorbSchemaChanges, SchemaChanges } from './schema-changes.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { tableKey } from './sql-ident.js';

type MessageChange = Extract<Change, { op: 'message' }>;

function message(body: Record<string, unknown>): MessageChange {
  const content = new TextEncoder().encode(JSON.stringify({ version: 1, statement: 'sql', ...body }));
  return { op: 'message', prefix: MESSAGE_PREFIX.ddl, content, transactional: true };
}

const snapshotTable = (oid: number, table: string, extra: Partial<SnapshotTable> = {}): SnapshotTable => ({
  schema: 'public',
  table,
  oid,
  kind: 'table',
  columns: [
    { name: 'id', type: 'integer', typeOid: 23, notNull: true, default: null, attnum: 1 },
    { name: 'v', type: 'text', typeOid: 25, notNull: false, default: "'x'::text", attnum: 2 },
  ],
  primaryKey: ['id'],
  replicaIdentity: 'default',
  partitionKey: null,
  partitionOf: null,
  dataKey: null,
  rows: 0,
  bytes: 0,
  sha256: null,
  xxh64: null,
  ...extra,
});

const shape = (oid: number, name: string, extra: Partial<TableShape> = {}): TableShape => ({
  oid,
  schema: 'public',
  name,
  kind: 'table',
  replicaIdentity: 'default',
  partitionKey: null,
  partitionOf: null,
  columns: [
    { attnum: 1, name: 'id', type: 'integer', notNull: true, default: null },
    { attnum: 2, name: 'v', type: 'text', notNull: false, default: "'x'::text" },
  ],
  primaryKey: ['id'],
  indexes: [],
  ...extra,
});

const TABLES = [
  snapshotTable(1, 't', {
    indexes: [{ name: 't_v', definition: 'CREATE INDEX t_v ON public.t USING btree (v)' }],
  }),
  snapshotTable(2, 'p', { kind: 'partitioned', partitionKey: 'RANGE (id)' }),
  snapshotTable(3, 'p1', {
    partitionOf: { schema: 'public', table: 'p', bound: 'FOR VALUES FROM (0) TO (10)' },
    indexes: [{ name: 'p1_v_idx', definition: 'CREATE INDEX p1_v_idx ON public.p1 USING btree (v)' }],
  }),
];

function setup(targetOf?: (s: string, t: string) => { schema: string; table: string } | undefined) {
  const tableInfo = new Map<string, TargetTableInfo>(
    TABLES.map((t) => [tableKey(t.schema, t.table), { kind: t.kind, primaryKey: t.primaryKey }]),
  );
  return {
    tableInfo,
    changes: new SchemaChanges({ tables: TABLES, tableInfo, ...(targetOf ? { targetOf } : {}) }),
  };
}

describe('SchemaChanges', () => {
  it('follows a renamed table by oid, once per message, and moves the table map along', () => {
    const { tableInfo, changes } = setup();
    const rename = message({ event: 'ddl_command_end', tag: 'ALTER TABLE', tables: [shape(1, 't2')] });
    const sql = changes.statementsFor(rename).map((s) => s.text);
    // the snapshot's default was not set on the target yet: the schema change sets it now
    expect(sql[0]).toBe('ALTER TABLE "public"."t" RENAME TO "t2"');
    expect(sql[1]).toMatch(/SET DEFAULT ''x''::text/);
    expect(changes.statementsFor(rename)).toBe(changes.statementsFor(rename));
    expect(tableInfo.has(tableKey('public', 't'))).toBe(false);
    expect(tableInfo.get(tableKey('public', 't2'))).toEqual({ kind: 'table', primaryKey: ['id'] });
    const def = (table: string, column: string, expr: string) => ({
      table,
      column,
      sql: `SET DEFAULT ${expr}`,
    });
    expect(
      changes.pendingDefaults([def('public.t', 'v', "'x'::text"), def('public.p1', 'v', "'x'::text")]),
    ).toEqual([def('public.p1', 'v', "'x'::text")]);
  });

  it('leaves nextval() defaults of a changed table to the end, while their column is still there', () => {
    const { changes } = setup();
    const serial = "nextval('t_id_seq'::regclass)";
    const renamedV = shape(1, 't', {
      columns: [
        { attnum: 1, name: 'id', type: 'integer', notNull: true, default: serial },
        { attnum: 2, name: 'w', type: 'text', notNull: false, default: serial },
      ],
    });
    changes.statementsFor(message({ event: 'ddl_command_end', tag: 'ALTER TABLE', tables: [renamedV] }));
    const def = (column: string) => ({ table: 'public.t', column, sql: `SET DEFAULT ${serial}` });
    // v was renamed: its default (set under the old name) is not kept
    expect(changes.pendingDefaults([def('id'), def('v')])).toEqual([def('id')]);
  });

  it('creates new tables (and partitions) where they map, and ignores ALTERs of tables it does not know', () => {
    const { tableInfo, changes } = setup((s, t) => (t === 'skipped' ? undefined : { schema: s, table: t }));
    const create = message({
      event: 'ddl_command_end',
      tag: 'CREATE TABLE',
      tables: [
        shape(9, 'p2', {
          partitionOf: { schema: 'public', table: 'p', bound: 'FOR VALUES FROM (10) TO (20)' },
        }),
        shape(10, 'skipped'),
      ],
    });
    const sql = changes.statementsFor(create).map((s) => s.text);
    expect(sql.slice(0, 2)).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "public"',
      'CREATE TABLE "public"."p2" PARTITION OF "public"."p" FOR VALUES FROM (10) TO (20)',
    ]);
    // the parent's snapshot default is set only at the end: the partition gets its own now
    expect(sql.slice(2)).toEqual([expect.stringMatching(/"p2" ALTER COLUMN "v" SET DEFAULT/)]);
    expect(tableInfo.get(tableKey('public', 'p2'))).toEqual({
      kind: 'table',
      primaryKey: ['id'],
      partitionRoot: tableKey('public', 'p'),
    });
    const alterUnknown = message({
      event: 'ddl_command_end',
      tag: 'ALTER TABLE',
      tables: [shape(77, 'elsewhere')],
    });
    expect(changes.statementsFor(alterUnknown)).toEqual([]);
  });

  it('drops tables and indexes, and builds the remaining indexes partitions first', () => {
    const { tableInfo, changes } = setup();
    const addIndex = message({
      event: 'ddl_command_end',
      tag: 'CREATE INDEX',
      tables: [
        shape(2, 'p', {
          kind: 'partitioned',
          partitionKey: 'RANGE (id)',
          indexes: [{ name: 'p_v_idx', definition: 'CREATE INDEX p_v_idx ON ONLY public.p USING btree (v)' }],
        }),
      ],
    });
    changes.statementsFor(addIndex);
    const drop = message({
      event: 'sql_drop',
      tag: 'DROP INDEX',
      dropped: [{ type: 'index', oid: 50, schema: 'public', name: 't_v' }],
    });
    expect(changes.statementsFor(drop)).toEqual([]);
    expect(changes.indexes().map((x) => x.sql)).toEqual([
      'CREATE INDEX IF NOT EXISTS "p1_v_idx" ON "public"."p1" USING btree (v)',
      'CREATE INDEX IF NOT EXISTS "p_v_idx" ON "public"."p" USING btree (v)',
    ]);
    const dropTable = message({
      event: 'sql_drop',
      tag: 'DROP TABLE',
      dropped: [{ type: 'table', oid: 1, schema: 'public', name: 't' }],
    });
    expect(changes.statementsFor(dropTable).map((s) => s.text)).toEqual([
      'DROP TABLE IF EXISTS "public"."t"',
    ]);
    expect(tableInfo.has(tableKey('public', 't'))).toBe(false);
  });

  it('replays a CREATE TABLE AS before the rows it inserted, which the journal has first', () => {
    const { changes } = setup();
    const ctas = message({ event: 'ddl_command_end', tag: 'CREATE TABLE AS', tables: [shape(9, 'copy')] });
    const row = (rel: number): Change => ({ op: 'insert', rel, new: { values: ['1', 'a'] } });
    const [other, new1, new2] = [row(0), row(1), row(1)];
    const relation = (oid: number, table: string) => ({
      oid,
      schema: 'public',
      table,
      replicaIdentity: 'default' as const,
      columns: [],
    });
    const record = {
      source: 's',
      xid: 1,
      commitLsn: 1n,
      endLsn: 2n,
      commitTime: 0n,
      relations: [relation(1, 't'), relation(9, 'copy')],
      changes: [other, new1, new2, ctas, row(1)],
    };
    const order = changes.inReplayOrder(record);
    expect(order).toEqual([other, ctas, new1, new2, record.changes[4]]);
    expect(order[1]).toBe(ctas);
    const plain = { ...record, changes: [other, new1] };
    expect(changes.inReplayOrder(plain)).toBe(plain.changes);
  });

  it('on resume, moves the state through the messages the target already holds without running them', async () => {
    const { tableInfo, changes } = setup();
    const rename = message({ event: 'ddl_command_end', tag: 'ALTER TABLE', tables: [shape(1, 't2')] });
    const entry = (commitLsn: bigint, list: Change[]) => ({
      record: {
        source: 's',
        xid: 1,
        commitLsn,
        endLsn: commitLsn + 1n,
        commitTime: 0n,
        relations: [],
        changes: list,
      },
    });
    const later = message({ event: 'ddl_command_end', tag: 'ALTER TABLE', tables: [shape(1, 't3')] });
    async function* entries() {
      yield entry(10n, [rename]);
      yield entry(20n, [later]);
    }
    const seen: bigint[] = [];
    for await (const e of absorbSchemaChanges(entries(), changes, 10n)) seen.push(e.record.commitLsn);
    expect(seen).toEqual([10n, 20n]);
    expect(tableInfo.has(tableKey('public', 't2'))).toBe(true);
    // the later one is replayed as usual, from the absorbed state
    expect(changes.statementsFor(later)[0]?.text).toBe('ALTER TABLE "public"."t2" RENAME TO "t3"');
  });

  it('refuses a malformed message', () => {
    const { changes } = setup();
    const bad: MessageChange = {
      op: 'message',
      prefix: MESSAGE_PREFIX.ddl,
      content: new TextEncoder().encode('{"version":1,"event":"ddl_command_end","tag":"X","tables":[{}]}'),
      transactional: true,
    };
    expect(() => changes.statementsFor(bad)).toThrow(/tidemark\.ddl message.*malformed/);
  });
});
