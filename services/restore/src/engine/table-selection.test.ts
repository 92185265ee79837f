import { isTidemarkError, type SnapshotTable, type TidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { finishStatements } from './schema-target.js';
import { selectedManifest, selectTables } from './table-selection.js';
import { column, manifest, table } from './testing/manifest-fixture.js';

const cols = [column('id', 'integer', { notNull: true }), column('at', 'date')];
const part = (
  schema: string,
  name: string,
  parent: string,
  oid: number,
  extra: Partial<SnapshotTable> = {},
) =>
  table(schema, name, cols, {
    oid,
    partitionOf: { schema: 'public', table: parent, bound: `FOR VALUES IN (${oid})` },
    dataKey: `k${oid}`,
    bytes: 100,
    ...extra,
  });
const TABLES: SnapshotTable[] = [
  table('public', 'orders', [column('id', 'integer', { default: "nextval('orders_id_seq'::regclass)" })], {
    oid: 1,
    primaryKey: ['id'],
    dataKey: 'k1',
    bytes: 10,
    indexes: [{ name: 'orders_x', definition: 'CREATE INDEX orders_x ON public.orders USING btree (id)' }],
  }),
  table('public', 'customers', cols, { oid: 2, dataKey: 'k2', bytes: 20 }),
  table('sales', 'orders', cols, { oid: 3, dataKey: 'k3', bytes: 30 }),
  table('public', 'events', cols, {
    oid: 10,
    kind: 'partitioned',
    partitionKey: 'LIST (id)',
    primaryKey: ['id'],
  }),
  part('public', 'events_a', 'events', 11),
  part('public', 'events_b', 'events', 12, { kind: 'partitioned', partitionKey: 'LIST (at)', dataKey: null }),
  part('public', 'events_b1', 'events_b', 13),
  part('public', 'events_c', 'events', 14),
];
const names = (ts: readonly { schema: string; table: string }[]) => ts.map((t) => `${t.schema}.${t.table}`);
const scope = (tables: string[], schema: string | null = null) => ({
  tables: tables.map((t) => {
    const [s, n] = t.split('.') as [string, string];
    return { schema: s, table: n };
  }),
  schema,
});
function thrown(fn: () => unknown): TidemarkError {
  try {
    fn();
  } catch (err) {
    if (isTidemarkError(err)) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('selectTables', () => {
  it('keeps listed tables where they are for a new database', () => {
    const s = selectTables(TABLES, scope(['public.orders', 'sales.orders']));
    expect(names(s.tables)).toEqual(['public.orders', 'sales.orders']);
    expect(names(s.kept)).toEqual(['public.orders', 'sales.orders']);
    expect(s.detach).toEqual([]);
    expect(s.progressTable).toEqual({ schema: '_tidemark', table: 'restore_progress' });
    expect(s.targetOf('public', 'customers')).toBeUndefined();
    expect(finishStatements(s)).toEqual(['DROP SCHEMA IF EXISTS _tidemark CASCADE', 'ANALYZE']);
  });

  it('brings the partitions of a listed partitioned table, all levels', () => {
    const s = selectTables(TABLES, scope(['public.events'], 'restored_x'));
    expect(names(s.kept)).toEqual([
      'restored_x.events',
      'restored_x.events_a',
      'restored_x.events_b',
      'restored_x.events_b1',
      'restored_x.events_c',
    ]);
    expect(s.tables.find((t) => t.table === 'events_b1')?.partitionOf).toMatchObject({
      schema: 'restored_x',
      table: 'events_b',
      bound: 'FOR VALUES IN (13)',
    });
    expect(s.scratchRoots).toEqual([]);
    expect(s.progressTable).toEqual({ schema: 'restored_x', table: '_tidemark_restore_progress' });
    expect(finishStatements(s)).toEqual([
      'DROP TABLE IF EXISTS "restored_x"."_tidemark_restore_progress"',
      ...s.kept.map((t) => `ANALYZE "restored_x"."${t.table}"`),
    ]);
  });

  it('builds the tree of a partition listed alone under scratch names, to detach it at the end', () => {
    const s = selectTables(TABLES, scope(['public.events_b'], 'restored_x'));
    expect(names(s.kept)).toEqual(['restored_x.events_b', 'restored_x.events_b1']);
    expect(names(s.tables)).toEqual([
      'restored_x._tidemark_scratch_10',
      'restored_x._tidemark_scratch_11',
      'restored_x.events_b',
      'restored_x.events_b1',
      'restored_x._tidemark_scratch_14',
    ]);
    // the journal names the root: its changes go to the scratch root, which routes them
    expect(s.targetOf('public', 'events')).toEqual({ schema: 'restored_x', table: '_tidemark_scratch_10' });
    expect(s.detach).toEqual([
      {
        parent: { schema: 'restored_x', table: '_tidemark_scratch_10' },
        partition: { schema: 'restored_x', table: 'events_b' },
      },
    ]);
    expect(finishStatements(s).slice(0, 2)).toEqual([
      'ALTER TABLE "restored_x"."_tidemark_scratch_10" DETACH PARTITION "restored_x"."events_b"',
      'DROP TABLE IF EXISTS "restored_x"."_tidemark_scratch_10"',
    ]);
    // into a new database the scratch tree lives in _tidemark, dropped with it
    const plain = selectTables(TABLES, scope(['public.events_a']));
    expect(plain.targetOf('public', 'events')).toEqual({ schema: '_tidemark', table: 'scratch_10' });
    expect(names(plain.kept)).toEqual(['public.events_a']);
  });

  it('treats a partition listed with its parent as part of the tree', () => {
    const s = selectTables(TABLES, scope(['public.events', 'public.events_a']));
    expect(s.detach).toEqual([]);
    expect(s.kept).toHaveLength(5);
  });

  it('answers UNKNOWN_TABLE naming every unknown table, with near matches', () => {
    const err = thrown(() =>
      selectTables(TABLES, scope(['public.orders', 'public.ordrs', 'archive.customers'])),
    );
    expect(err.code).toBe('UNKNOWN_TABLE');
    expect(err.message).toMatch(/tables public\.ordrs \(did you mean public\.orders/);
    expect(err.message).toMatch(/archive\.customers \(did you mean public\.customers\?\)/);
    expect(err.details).toMatchObject({
      unknown: ['public.ordrs', 'archive.customers'],
      nearMatches: { 'archive.customers': ['public.customers'] },
    });
  });

  it('takes a listed table that only a table snapshot creates, under its target name', () => {
    const s = selectTables(TABLES, scope(['public.orders', 'public.late'], 'restored_x'), [
      { schema: 'public', table: 'late' },
      { schema: 'public', table: 'orders' }, // in the snapshot: the snapshot's wins
    ]);
    expect(names(s.tables)).toEqual(['restored_x.orders']);
    expect(names(s.kept)).toEqual(['restored_x.orders', 'restored_x.late']);
    expect(names(s.fromTableSnapshots)).toEqual(['restored_x.late']);
    expect(s.targetOf('public', 'late')).toEqual({ schema: 'restored_x', table: 'late' });
    expect(thrown(() => selectTables(TABLES, scope(['public.late']))).code).toBe('UNKNOWN_TABLE');
  });

  it('refuses two tables that would land on one name', () => {
    const err = thrown(() => selectTables(TABLES, scope(['public.orders', 'sales.orders'], 'restored_x')));
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toMatch(
      /public\.orders and sales\.orders would both be restored as restored_x\.orders/,
    );
  });
});

describe('selectedManifest', () => {
  it('into a schema: drops what names source objects (indexes, sequences, nextval defaults)', () => {
    const m = manifest(TABLES, {
      sequences: [
        {
          schema: 'public',
          name: 'orders_id_seq',
          dataType: 'integer',
          increment: '1',
          minValue: '1',
          maxValue: '2147483647',
          start: '1',
          cache: '1',
          cycle: false,
          lastValue: '5',
          ownedBy: { schema: 'public', table: 'orders', column: 'id' },
          identity: null,
        },
      ],
    });
    const into = selectedManifest(m, selectTables(TABLES, scope(['public.orders'], 'restored_x')));
    expect(into.tables).toHaveLength(1);
    expect(into.tables[0]).toMatchObject({ schema: 'restored_x', table: 'orders', dataKey: 'k1' });
    expect(into.tables[0]?.indexes).toBeUndefined();
    expect(into.tables[0]?.columns[0]?.default).toBeNull();
    expect(into.sequences).toEqual([]);
    const fresh = selectedManifest(m, selectTables(TABLES, scope(['public.orders'])));
    expect(fresh.tables[0]?.indexes).toHaveLength(1);
    expect(fresh.sequences?.map((s) => s.name)).toEqual(['orders_id_seq']);
    expect(selectedManifest(m, selectTables(TABLES, scope(['public.customers']))).sequences).toEqual([]);
  });
});
