import type { RelationInfo } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { copyInSql, deleteSql, insertRunKey, insertSql, truncateSql, updateSql } from './sql-for-change.js';

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
const fullRel = rel({
  replicaIdentity: 'full',
  columns: rel().columns.map((c) => ({ ...c, key: true })),
});

describe('insert', () => {
  it('inserts every column with untyped parameters', () => {
    expect(insertSql(rel(), { values: ['1', '', null] })).toEqual({
      text: 'INSERT INTO "public"."Items" ("id", "name", "doc") VALUES ($1, $2, $3)',
      values: ['1', '', null],
      describe: 'insert into public.Items',
    });
    expect(copyInSql(rel())).toBe('COPY "public"."Items" ("id", "name", "doc") FROM STDIN');
  });
  it('groups runs by table and column set', () => {
    expect(insertRunKey(rel())).toBe(insertRunKey(rel({ oid: 2 })));
    expect(insertRunKey(rel())).not.toBe(insertRunKey(rel({ table: 'other' })));
  });
  it('rejects a row of the wrong width', () => {
    expect(() => insertSql(rel(), { values: ['1'] })).toThrow(/3 columns/);
  });
});

describe('update', () => {
  it('leaves unchanged TOAST columns out of SET and finds the row by the new key', () => {
    const s = updateSql(
      rel(),
      { op: 'update', rel: 0, new: { values: ['1', 'x', null], unchanged: [2] } },
      undefined,
    );
    expect(s.text).toBe('UPDATE "public"."Items" SET "id" = $1, "name" = $2 WHERE "id" = $3');
    expect(s.values).toEqual(['1', 'x', '1']);
    expect(s.expectRows).toBe(1);
  });
  it('finds the row by the old key when the key changed', () => {
    const s = updateSql(
      rel(),
      {
        op: 'update',
        rel: 0,
        old: { values: ['1', null, null] },
        oldKind: 'key',
        new: { values: ['2', 'x', 'y'] },
      },
      undefined,
    );
    expect(s.text).toBe('UPDATE "public"."Items" SET "id" = $1, "name" = $2, "doc" = $3 WHERE "id" = $4');
    expect(s.values).toEqual(['2', 'x', 'y', '1']);
  });
  it('touches exactly one of equal rows under REPLICA IDENTITY FULL, comparing as text', () => {
    const s = updateSql(
      fullRel,
      {
        op: 'update',
        rel: 0,
        old: { values: ['1', null, '{"a":1}'] },
        oldKind: 'full',
        new: { values: ['1', 'n', '{"a":1}'] },
      },
      { kind: 'table', primaryKey: null },
    );
    expect(s.text).toBe(
      'UPDATE "public"."Items" SET "id" = $1, "name" = $2, "doc" = $3 WHERE ctid = (SELECT ctid FROM "public"."Items" WHERE "id"::text IS NOT DISTINCT FROM $4 AND "name"::text IS NOT DISTINCT FROM $5 AND "doc"::text IS NOT DISTINCT FROM $6 LIMIT 1)',
    );
    expect(s.values).toEqual(['1', 'n', '{"a":1}', '1', null, '{"a":1}']);
  });
  it('uses the primary key of a FULL-identity table when it has one', () => {
    const s = updateSql(
      fullRel,
      {
        op: 'update',
        rel: 0,
        old: { values: ['1', 'a', 'b'] },
        oldKind: 'full',
        new: { values: ['1', 'n', 'b'] },
      },
      { kind: 'table', primaryKey: ['id'] },
    );
    expect(s.text).toBe('UPDATE "public"."Items" SET "id" = $1, "name" = $2, "doc" = $3 WHERE "id" = $4');
  });
  it('matches (tableoid, ctid) on a partitioned parent', () => {
    const s = deleteSql(
      fullRel,
      { op: 'delete', rel: 0, old: { values: ['1', 'a', 'b'] }, oldKind: 'full' },
      { kind: 'partitioned', primaryKey: null },
    );
    expect(s.text).toContain('WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM "public"."Items" WHERE');
  });
  it('refuses a change to a table without identity', () => {
    const noKey = rel({ columns: rel().columns.map((c) => ({ ...c, key: false })) });
    expect(() =>
      updateSql(noKey, { op: 'update', rel: 0, new: { values: ['1', 'x', 'y'] } }, undefined),
    ).toThrow(/replica identity/);
  });
});

describe('delete and truncate', () => {
  it('deletes by old key', () => {
    const s = deleteSql(
      rel(),
      { op: 'delete', rel: 0, old: { values: ['7', null, null] }, oldKind: 'key' },
      undefined,
    );
    expect(s.text).toBe('DELETE FROM "public"."Items" WHERE "id" = $1');
    expect(s.values).toEqual(['7']);
  });
  it('truncates with the flags', () => {
    expect(truncateSql([rel(), rel({ table: 'b' })], true, true).text).toBe(
      'TRUNCATE TABLE "public"."Items", "public"."b" RESTART IDENTITY CASCADE',
    );
    expect(truncateSql([rel()], false, false).text).toBe('TRUNCATE TABLE "public"."Items"');
  });
});
