import type { SnapshotSequence, SnapshotTable } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import {
  carriedSequences,
  definitionsAtReplayEnd,
  type ScratchSchema,
  schemaMismatches,
} from './compaction-definitions.js';
import { checkScratchSchema } from './compaction-schema-check.js';
import type { TableShape } from './ddl-message.js';
import type { ReplayedTable } from './schema-changes.js';
import { tableKey } from './sql-ident.js';

const snapshotTable: SnapshotTable = {
  schema: 'public',
  table: 't',
  oid: 10,
  kind: 'table',
  columns: [
    { name: 'id', type: 'integer', typeOid: 23, notNull: true, default: null, attnum: 1 },
    { name: 'v', type: 'text', typeOid: 25, notNull: false, default: "'x'::text", attnum: 2 },
  ],
  primaryKey: ['id'],
  indexes: [{ name: 't_v', definition: 'CREATE INDEX t_v ON public.t USING btree (v)' }],
  replicaIdentity: 'default',
  partitionKey: null,
  partitionOf: null,
  dataKey: 'src/base/0000000001000000/tables/0000.tmb',
  rows: 3,
  bytes: 30,
  sha256: 'aa',
  xxh64: 'bb',
  encoding: 'tmblock-v1',
  storedBytes: 40,
};

const shapeOf = (t: SnapshotTable, extra: Partial<TableShape> = {}): TableShape => ({
  oid: t.oid,
  schema: t.schema,
  name: t.table,
  kind: t.kind,
  replicaIdentity: t.replicaIdentity,
  partitionKey: t.partitionKey,
  partitionOf: t.partitionOf,
  columns: t.columns.map((c) => ({ ...c, default: null })),
  primaryKey: t.primaryKey,
  indexes: t.indexes ?? [],
  ...extra,
});

const scratchOf = (tables: Record<string, Record<string, number>>): ScratchSchema =>
  new Map(Object.entries(tables).map(([t, cols]) => [tableKey('public', t), new Map(Object.entries(cols))]));

const seq = (name: string, ownedBy: SnapshotSequence['ownedBy']): SnapshotSequence => ({
  schema: 'public',
  name,
  dataType: 'bigint',
  increment: '1',
  minValue: '1',
  maxValue: '100',
  start: '1',
  cache: '1',
  cycle: false,
  lastValue: '5',
  ownedBy,
  identity: null,
});

describe('compaction definitions', () => {
  it('keeps an undescribed table as the snapshot had it, less dropped indexes, and describes the rest', () => {
    const untouched: ReplayedTable = {
      shape: shapeOf(snapshotTable, { indexes: [] }),
      snapshot: snapshotTable,
      described: false,
    };
    const created: ReplayedTable = {
      shape: {
        ...shapeOf(snapshotTable),
        oid: 77,
        name: 'n',
        columns: [
          { attnum: 1, name: 'id', type: 'bigint', notNull: true, default: null },
          {
            attnum: 2,
            name: 'at',
            type: 'date',
            typeOid: 1082,
            notNull: false,
            default: "'2025-01-01'::date",
          },
        ],
        indexes: [],
      },
      snapshot: null,
      described: true,
    };
    const [kept, made] = definitionsAtReplayEnd([untouched, created], scratchOf({ t: {}, n: { id: 20 } }));
    const { dataKey, rows, bytes, sha256, xxh64, encoding, storedBytes, indexes, ...rest } = snapshotTable;
    expect(kept).toEqual({ ...rest, indexes: [] });
    expect(made).toMatchObject({
      oid: 77,
      table: 'n',
      columns: [
        { name: 'id', type: 'bigint', typeOid: 20, attnum: 1 },
        { name: 'at', type: 'date', typeOid: 1082, default: "'2025-01-01'::date" },
      ],
    });
  });

  it('fails closed (CONFLICT) where the restored schema is not what the definitions say', () => {
    const defs = definitionsAtReplayEnd(
      [{ shape: shapeOf(snapshotTable), snapshot: snapshotTable, described: false }],
      new Map(),
    );
    expect(schemaMismatches(defs, scratchOf({ t: { id: 23, v: 25 } }))).toEqual([]);
    expect(schemaMismatches(defs, scratchOf({ t: { id: 23, w: 25 }, stray: { x: 25 } }))).toEqual([
      'table public.t has columns (id, w) where the schema changes describe (id, v)',
      'table public.stray is in the restored database but nothing describes it',
    ]);
    try {
      checkScratchSchema(scratchOf({}), defs, '0/1000000');
      expect.unreachable('the check must fail');
    } catch (err) {
      expect((err as { code: string }).code).toBe('CONFLICT');
      expect((err as Error).message).toMatch(/table public\.t is described but the replay did not build it/);
    }
  });

  it('carries sequences with their owners: followed through renames, gone with what they belonged to', () => {
    const renamed: ReplayedTable = {
      shape: shapeOf(snapshotTable, {
        name: 'u',
        columns: [
          { attnum: 1, name: 'ident', type: 'integer', notNull: true, default: null },
          { attnum: 3, name: 'v', type: 'text', notNull: false, default: null },
        ],
      }),
      snapshot: snapshotTable,
      described: true,
    };
    const owner = (table: string, column: string) => ({ schema: 'public', table, column });
    const sequences = [
      seq('t_id_seq', owner('t', 'id')),
      seq('t_v_seq', owner('t', 'v')), // v was dropped (attnum 2) and re-added (attnum 3)
      seq('free', null),
      seq('elsewhere_seq', owner('elsewhere', 'id')),
      seq('gone_seq', owner('gone', 'id')),
    ];
    expect(
      carriedSequences(sequences, [snapshotTable, { schema: 'public', table: 'gone' }], [renamed]),
    ).toEqual([{ ...sequences[0], ownedBy: owner('u', 'ident') }, sequences[2], sequences[3]]);
  });
});
