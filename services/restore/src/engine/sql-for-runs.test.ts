import type { RelationInfo } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { deleteSql, insertSql, updateSql } from './sql-for-change.js';
import { deleteRunSql, insertRowsSql, primaryKeyMatch, setColumns, updateRunSql } from './sql-for-runs.js';
import { sqlLiteral } from './sql-ident.js';

const rel = (over: Partial<RelationInfo> = {}): RelationInfo => ({
  oid: 1,
  schema: 'public',
  table: 'Items',
  replicaIdentity: 'default',
  columns: [
    { name: 'id', typeOid: 23, typeMod: -1, key: true },
    { name: 'name', typeOid: 25, typeMod: -1, key: false },
    { name: 'doc', typeOid: 25, typeMod: -1, key: false },
  ],
  ...over,
});
const fullRel = rel({ replicaIdentity: 'full', columns: rel().columns.map((c) => ({ ...c, key: true })) });
const pk = { kind: 'table' as const, primaryKey: ['id'] };

describe('primaryKeyMatch', () => {
  it('finds an update or delete by the primary key of the image the single-row statement uses', () => {
    expect(primaryKeyMatch(rel(), { op: 'update', rel: 0, new: { values: ['1', 'x', 'y'] } }, pk)).toEqual({
      cols: [0],
      values: ['1'],
    });
    const del = {
      op: 'delete' as const,
      rel: 0,
      old: { values: ['7', null, null] },
      oldKind: 'key' as const,
    };
    expect(primaryKeyMatch(rel(), del, pk)).toEqual({ cols: [0], values: ['7'] });
    const full = {
      op: 'delete' as const,
      rel: 0,
      old: { values: ['7', 'a', null] },
      oldKind: 'full' as const,
    };
    expect(primaryKeyMatch(fullRel, full, pk)).toEqual({ cols: [0], values: ['7'] });
  });
  it('turns down what a merged statement cannot do exactly', () => {
    const upd = { op: 'update' as const, rel: 0, new: { values: ['1', 'x', 'y'] } };
    // no primary key on the target: the identity index is not unique there
    expect(primaryKeyMatch(rel(), upd, { kind: 'table', primaryKey: null })).toBeUndefined();
    expect(primaryKeyMatch(rel(), upd, undefined)).toBeUndefined();
    // identity columns are not the primary key
    expect(primaryKeyMatch(rel(), upd, { kind: 'table', primaryKey: ['id', 'name'] })).toBeUndefined();
    // the key changes
    const moved = { ...upd, old: { values: ['2', null, null] }, oldKind: 'key' as const };
    expect(primaryKeyMatch(rel(), moved, pk)).toBeUndefined();
    // FULL identity without a primary key: ctid match, one row at a time
    const full = {
      op: 'delete' as const,
      rel: 0,
      old: { values: ['7', 'a', null] },
      oldKind: 'full' as const,
    };
    expect(primaryKeyMatch(fullRel, full, { kind: 'table', primaryKey: null })).toBeUndefined();
    // a NULL or unchanged-TOAST key finds no row by key
    expect(primaryKeyMatch(rel(), { ...upd, new: { values: [null, 'x', 'y'] } }, pk)).toBeUndefined();
    expect(
      primaryKeyMatch(rel(), { ...upd, new: { values: ['1', 'x', 'y'], unchanged: [0] } }, pk),
    ).toBeUndefined();
  });
  it('leaves unchanged TOAST columns out of the set columns', () => {
    expect(
      setColumns(rel(), { op: 'update', rel: 0, new: { values: ['1', 'x', null], unchanged: [2] } }),
    ).toEqual([0, 1]);
  });
});

describe('merged statements', () => {
  it('inserts many rows with one untyped VALUES list', () => {
    const s = insertRowsSql(rel(), [
      ['1', "it's", null],
      ['2', '', 'back\\slash'],
    ]);
    expect(s.text).toBe(
      `INSERT INTO "public"."Items" ("id", "name", "doc") VALUES ('1', 'it''s', NULL), ('2', '', E'back\\\\slash')`,
    );
    expect(s.values).toEqual([]);
    expect(s.expectRows).toBeUndefined();
  });
  it('a one-row insert is the single-row statement with the values inlined', () => {
    expect(insertRowsSql(rel(), [['1', 'a', null]]).text).toBe(
      insertSql(rel(), { values: ['1', 'a', null] }, sqlLiteral).text,
    );
  });
  it('updates by primary key from a VALUES list typed by its first row, expecting one row per key', () => {
    const s = updateRunSql(
      rel(),
      [0, 1],
      [0],
      [
        ['1', 'a'],
        ['2', null],
      ],
    );
    expect(s.text).toBe(
      'UPDATE "public"."Items" AS tm_t SET "id" = tm_v.c1, "name" = tm_v.c2 FROM (VALUES ((NULL::"public"."Items")."id", (NULL::"public"."Items")."name"), ' +
        `('1', 'a'), ('2', NULL)) AS tm_v (c1, c2) WHERE tm_t."id" = tm_v.c1`,
    );
    expect(s.expectRows).toBe(2);
    expect(s.describe).toBe('update of public.Items (2 rows by primary key)');
  });
  it('deletes by a composite primary key', () => {
    const two = rel({ table: 'a"b', columns: rel().columns.map((c, i) => ({ ...c, key: i < 2 })) });
    const s = deleteRunSql(
      two,
      [1, 0],
      [
        ['x', '1'],
        ["y'", '2'],
      ],
    );
    expect(s.text).toBe(
      'DELETE FROM "public"."a""b" AS tm_t USING (VALUES ((NULL::"public"."a""b")."name", (NULL::"public"."a""b")."id"), ' +
        `('x', '1'), ('y''', '2')) AS tm_v (c1, c2) WHERE tm_t."name" = tm_v.c1 AND tm_t."id" = tm_v.c2`,
    );
    expect(s.expectRows).toBe(2);
  });
});

describe('single-row statements with inlined values', () => {
  it('are the parameterised statements with literals in place of $n', () => {
    const change = {
      op: 'update' as const,
      rel: 0,
      old: { values: ["1'", 'a\\b', null] },
      oldKind: 'full' as const,
      new: { values: ['1', 'n', null] },
    };
    const target = { kind: 'table' as const, primaryKey: null };
    expect(updateSql(fullRel, change, target, sqlLiteral)).toEqual({
      text: `UPDATE "public"."Items" SET "id" = '1', "name" = 'n', "doc" = NULL WHERE ctid = (SELECT ctid FROM "public"."Items" WHERE "id"::text IS NOT DISTINCT FROM '1''' AND "name"::text IS NOT DISTINCT FROM E'a\\\\b' AND "doc"::text IS NOT DISTINCT FROM NULL LIMIT 1)`,
      values: [],
      expectRows: 1,
      describe: 'update of public.Items',
    });
    const del = deleteSql(
      rel(),
      { op: 'delete', rel: 0, old: { values: ['7', null, null] }, oldKind: 'key' },
      undefined,
      sqlLiteral,
    );
    expect(del.text).toBe(`DELETE FROM "public"."Items" WHERE "id" = '7'`);
  });
});
