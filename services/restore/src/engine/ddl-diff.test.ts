import { describe, expect, it } from 'vitest';
import { alterTableSql, createTableSql, indexSql } from './ddl-diff.js';
import type { ColumnShape, TableShape } from './ddl-message.js';

const col = (
  attnum: number,
  name: string,
  type = 'integer',
  extra: Partial<ColumnShape> = {},
): ColumnShape => ({
  attnum,
  name,
  type,
  notNull: false,
  default: null,
  ...extra,
});

const table = (columns: ColumnShape[], extra: Partial<TableShape> = {}): TableShape => ({
  oid: 100,
  schema: 'public',
  name: 't',
  kind: 'table',
  replicaIdentity: 'default',
  partitionKey: null,
  partitionOf: null,
  columns,
  primaryKey: ['id'],
  indexes: [],
  ...extra,
});

const at = { schema: 'public', table: 't' };
const T = '"public"."t"';

describe('alterTableSql', () => {
  it('does nothing when nothing changed', () => {
    const t = table([col(1, 'id'), col(2, 'a', 'text')]);
    expect(alterTableSql(t, at, t, at)).toEqual([]);
  });

  it('tells a rename from a drop and an add by attnum', () => {
    const before = table([col(1, 'id'), col(2, 'a', 'text'), col(3, 'b')]);
    const after = table([col(1, 'id'), col(2, 'a2', 'text'), col(4, 'b')]);
    expect(alterTableSql(before, at, after, at)).toEqual([
      `ALTER TABLE ${T} DROP COLUMN IF EXISTS "b"`,
      `ALTER TABLE ${T} RENAME COLUMN "a" TO "a2"`,
      `ALTER TABLE ${T} ADD COLUMN "b" integer`,
    ]);
  });

  it('matches by name when the current side has no attnums (older manifests)', () => {
    const before = table([{ name: 'id', type: 'integer', notNull: true, default: null }]);
    const after = table([col(1, 'id', 'integer', { notNull: true }), col(2, 'x', 'text')]);
    expect(alterTableSql(before, at, after, at)).toEqual([`ALTER TABLE ${T} ADD COLUMN "x" text`]);
  });

  it('swaps names through temporary names', () => {
    const before = table([col(1, 'id'), col(2, 'a'), col(3, 'b')]);
    const after = table([col(1, 'id'), col(2, 'b'), col(3, 'a')]);
    expect(alterTableSql(before, at, after, at)).toEqual([
      `ALTER TABLE ${T} RENAME COLUMN "a" TO "_tidemark_rename_0"`,
      `ALTER TABLE ${T} RENAME COLUMN "b" TO "_tidemark_rename_1"`,
      `ALTER TABLE ${T} RENAME COLUMN "_tidemark_rename_0" TO "b"`,
      `ALTER TABLE ${T} RENAME COLUMN "_tidemark_rename_1" TO "a"`,
    ]);
  });

  it('changes a type with a cast, dropping a default that may not cast and setting the new one best effort', () => {
    const before = table([col(1, 'id'), col(2, 'n', 'integer', { default: '0' })]);
    const after = table([col(1, 'id'), col(2, 'n', 'numeric(10,2)', { default: '0.5', notNull: true })]);
    const sql = alterTableSql(before, at, after, at);
    expect(sql.slice(0, 3)).toEqual([
      `ALTER TABLE ${T} ALTER COLUMN "n" DROP DEFAULT`,
      `ALTER TABLE ${T} ALTER COLUMN "n" TYPE numeric(10,2) USING "n"::numeric(10,2)`,
      `ALTER TABLE ${T} ALTER COLUMN "n" SET NOT NULL`,
    ]);
    expect(sql[3]).toMatch(
      /^DO \$tidemark\$ BEGIN EXECUTE 'ALTER TABLE .* SET DEFAULT 0\.5'; EXCEPTION WHEN others/,
    );
    expect(sql).toHaveLength(4);
  });

  it('adds a column with its default (it fills existing rows), but no nextval default', () => {
    const before = table([col(1, 'id')]);
    const after = table([
      col(1, 'id'),
      col(2, 'flag', 'boolean', { default: 'true', notNull: true }),
      col(3, 'seq', 'bigint', { default: "nextval('s'::regclass)" }),
      col(4, 'ident', 'bigint', { notNull: true }),
    ]);
    const sql = alterTableSql(before, at, after, at);
    expect(sql.slice(0, 3)).toEqual([
      `ALTER TABLE ${T} ADD COLUMN "flag" boolean DEFAULT true NOT NULL`,
      `ALTER TABLE ${T} ADD COLUMN "seq" bigint`,
      `ALTER TABLE ${T} ADD COLUMN "ident" bigint`,
    ]);
    // an identity column's values for existing rows are not in the journal: NOT NULL only where it holds
    expect(sql[3]).toMatch(
      /^DO \$tidemark\$ BEGIN EXECUTE 'ALTER TABLE .* ALTER COLUMN "ident" SET NOT NULL'; EXCEPTION/,
    );
    expect(sql).toHaveLength(4);
  });

  it('renames and moves the table, then changes its primary key and replica identity', () => {
    const before = table([col(1, 'id'), col(2, 'k')]);
    const after = table([col(1, 'id'), col(2, 'k')], {
      schema: 'archive',
      name: 'old_t',
      primaryKey: ['id', 'k'],
      replicaIdentity: 'full',
    });
    const sql = alterTableSql(before, at, after, { schema: 'archive', table: 'old_t' });
    expect(sql[0]).toBe('CREATE SCHEMA IF NOT EXISTS "archive"');
    expect(sql[1]).toBe(`ALTER TABLE ${T} SET SCHEMA "archive"`);
    expect(sql[2]).toBe('ALTER TABLE "archive"."t" RENAME TO "old_t"');
    expect(sql[3]).toMatch(/^DO \$tidemark\$ .*contype = 'p'.*DROP CONSTRAINT/s);
    expect(sql.slice(4)).toEqual([
      'ALTER TABLE "archive"."old_t" REPLICA IDENTITY FULL',
      'ALTER TABLE "archive"."old_t" ADD PRIMARY KEY ("id", "k")',
    ]);
  });
});

describe('createTableSql', () => {
  it('creates a table with NOT NULL, defaults best effort and its primary key', () => {
    const t = table([
      col(1, 'id', 'bigint', { notNull: true }),
      col(2, 'at', 'timestamp with time zone', { default: 'now()' }),
    ]);
    const sql = createTableSql(t, { schema: 'app', table: 'new' }, undefined);
    expect(sql[0]).toBe('CREATE SCHEMA IF NOT EXISTS "app"');
    expect(sql[1]).toBe('CREATE TABLE "app"."new" ("id" bigint NOT NULL, "at" timestamp with time zone)');
    expect(sql[2]).toMatch(/SET DEFAULT now\(\)/);
    expect(sql[3]).toBe('ALTER TABLE "app"."new" ADD PRIMARY KEY ("id")');
  });

  it('creates a partition under its parent, which gives it the primary key', () => {
    const t = table([col(1, 'id', 'integer', { notNull: true })], {
      name: 'p1',
      partitionOf: { schema: 'public', table: 'p', bound: 'FOR VALUES FROM (0) TO (10)' },
    });
    const parent = { name: { schema: 'public', table: 'p' }, columns: t.columns, hasPrimaryKey: true };
    expect(createTableSql(t, { schema: 'public', table: 'p1' }, parent)).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "public"',
      'CREATE TABLE "public"."p1" PARTITION OF "public"."p" FOR VALUES FROM (0) TO (10)',
    ]);
  });
});

describe('indexSql', () => {
  it('points a definition at the target table, whatever the quoting', () => {
    expect(
      indexSql(
        { name: 't_a2', definition: 'CREATE INDEX t_a2 ON public.t USING btree (a2)' },
        { schema: 'public', table: 't' },
        { schema: 'restored', table: 't' },
      ),
    ).toBe('CREATE INDEX IF NOT EXISTS "t_a2" ON "restored"."t" USING btree (a2)');
    expect(
      indexSql(
        {
          name: 'Big Idx',
          definition:
            'CREATE UNIQUE INDEX "Big Idx" ON ONLY "My Schema"."T" USING btree (lower(v)) WHERE (v IS NOT NULL)',
        },
        { schema: 'My Schema', table: 'T' },
        { schema: 'My Schema', table: 'T' },
      ),
    ).toBe(
      'CREATE UNIQUE INDEX IF NOT EXISTS "Big Idx" ON "My Schema"."T" USING btree (lower(v)) WHERE (v IS NOT NULL)',
    );
  });

  it('refuses a definition in another form', () => {
    expect(
      indexSql({ name: 'x', definition: 'CREATE INDEX x ON public.other USING btree (a)' }, at, at),
    ).toBeUndefined();
  });
});
