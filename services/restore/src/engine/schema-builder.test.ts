import { describe, expect, it } from 'vitest';
import { buildSchemaDdl, parentsFirst } from './schema-builder.js';
import { column, manifest, table } from './testing/manifest-fixture.js';

describe('buildSchemaDdl', () => {
  it('creates schemas and tables with quoted names, verbatim types and NOT NULL', () => {
    const ddl = buildSchemaDdl(
      manifest([
        table('Sales', 'Order Lines', [
          column('id', 'bigint', { notNull: true }),
          column('amount', 'numeric(12,2)'),
          column('select', 'timestamp with time zone'),
        ]),
        table('public', 'notes', [column('body')]),
      ]),
    );
    expect(ddl.schemas).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "Sales"',
      'CREATE SCHEMA IF NOT EXISTS "public"',
    ]);
    expect(ddl.tables).toEqual([
      'CREATE TABLE "Sales"."Order Lines" ("id" bigint NOT NULL, "amount" numeric(12,2), "select" timestamp with time zone)',
      'CREATE TABLE "public"."notes" ("body" text)',
    ]);
  });

  it('adds primary keys separately, after the load', () => {
    const ddl = buildSchemaDdl(
      manifest([table('public', 't', [column('a', 'int'), column('b', 'int')], { primaryKey: ['a', 'b'] })]),
    );
    expect(ddl.tables.join(';')).not.toContain('PRIMARY KEY');
    expect(ddl.primaryKeys).toEqual(['ALTER TABLE "public"."t" ADD PRIMARY KEY ("a", "b")']);
  });

  it('keeps nextval() defaults and lists the sequences when the snapshot captured them', () => {
    const seq = {
      schema: 'public',
      name: 't_id_seq',
      dataType: 'bigint',
      increment: '1',
      minValue: '1',
      maxValue: '100',
      start: '1',
      cache: '1',
      cycle: false,
      lastValue: '3',
      ownedBy: { schema: 'public', table: 't', column: 'id' },
      identity: null,
    };
    const ddl = buildSchemaDdl({
      ...manifest([
        table('public', 't', [column('id', 'bigint', { default: "nextval('t_id_seq'::regclass)" })]),
      ]),
      sequences: [seq],
    });
    expect(ddl.defaults.map((d) => d.sql)).toEqual([
      `ALTER TABLE "public"."t" ALTER COLUMN "id" SET DEFAULT nextval('t_id_seq'::regclass)`,
    ]);
    expect(ddl.sequences).toEqual([seq]);
  });

  it('keeps defaults except nextval() ones, as separate statements', () => {
    const ddl = buildSchemaDdl(
      manifest([
        table('public', 't', [
          column('id', 'bigint', { default: "nextval('t_id_seq'::regclass)" }),
          column('state', 'text', { default: "'new'::text" }),
          column('at', 'timestamp with time zone', { default: 'now()' }),
        ]),
      ]),
    );
    expect(ddl.defaults.map((d) => d.sql)).toEqual([
      `ALTER TABLE "public"."t" ALTER COLUMN "state" SET DEFAULT 'new'::text`,
      'ALTER TABLE "public"."t" ALTER COLUMN "at" SET DEFAULT now()',
    ]);
  });

  it('keeps REPLICA IDENTITY FULL', () => {
    const ddl = buildSchemaDdl(
      manifest([table('public', 'log', [column('line')], { replicaIdentity: 'full' })]),
    );
    expect(ddl.tables).toContain('ALTER TABLE "public"."log" REPLICA IDENTITY FULL');
  });

  it('creates partitioned parents before their partitions, with keys only on the parent', () => {
    const parent = table(
      'public',
      'events',
      [column('id', 'bigint', { notNull: true }), column('at', 'date', { notNull: true })],
      {
        kind: 'partitioned',
        partitionKey: 'RANGE (at)',
        primaryKey: ['id', 'at'],
      },
    );
    const p2024 = table('public', 'events_2024', parent.columns, {
      partitionOf: {
        schema: 'public',
        table: 'events',
        bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
      },
      primaryKey: ['id', 'at'],
    });
    const ddl = buildSchemaDdl(manifest([p2024, parent]));
    expect(ddl.tables).toEqual([
      'CREATE TABLE "public"."events" ("id" bigint NOT NULL, "at" date NOT NULL) PARTITION BY RANGE (at)',
      `CREATE TABLE "public"."events_2024" PARTITION OF "public"."events" FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
    ]);
    expect(ddl.primaryKeys).toEqual(['ALTER TABLE "public"."events" ADD PRIMARY KEY ("id", "at")']);
  });

  it('orders nested partitions parent first', () => {
    const root = table('public', 'r', [column('a', 'int')], {
      kind: 'partitioned',
      partitionKey: 'LIST (a)',
    });
    const mid = table('public', 'm', [column('a', 'int')], {
      kind: 'partitioned',
      partitionKey: 'LIST (a)',
      partitionOf: { schema: 'public', table: 'r', bound: 'FOR VALUES IN (1, 2)' },
    });
    const leaf = table('public', 'l', [column('a', 'int')], {
      partitionOf: { schema: 'public', table: 'm', bound: 'FOR VALUES IN (1)' },
    });
    expect(parentsFirst([leaf, mid, root]).map((t) => t.table)).toEqual(['r', 'm', 'l']);
    expect(buildSchemaDdl(manifest([leaf, mid, root])).tables[1]).toBe(
      'CREATE TABLE "public"."m" PARTITION OF "public"."r" FOR VALUES IN (1, 2) PARTITION BY LIST (a)',
    );
  });
});
