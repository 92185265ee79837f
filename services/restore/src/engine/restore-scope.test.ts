import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { nearMatches } from './near-matches.js';
import { validateRequest } from './restore-request.js';
import {
  formatQualifiedName,
  parseQualifiedName,
  parseRestoreScope,
  schemaNameProblem,
} from './restore-scope.js';

function badField(fn: () => unknown): { field: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    if (isTidemarkError(err, 'BAD_REQUEST')) return { field: err.details.field, message: err.message };
    throw err;
  }
  throw new Error('expected BAD_REQUEST');
}

describe('restore scope (tables and into.schema)', () => {
  it('parses qualified names, quoted parts included, and formats them back', () => {
    expect(parseQualifiedName('public.orders')).toEqual({ schema: 'public', table: 'orders' });
    expect(parseQualifiedName(' Sales.Orders ')).toEqual({ schema: 'Sales', table: 'Orders' });
    const quoted = parseQualifiedName('"my.schema"."Order ""Lines"""');
    expect(quoted).toEqual({ schema: 'my.schema', table: 'Order "Lines"' });
    expect(formatQualifiedName(quoted as { schema: string; table: string })).toBe(
      '"my.schema"."Order ""Lines"""',
    );
    for (const bad of ['orders', 'a.b.c', '.t', 's.', '"s.t', '', `s.${'x'.repeat(64)}`])
      expect(parseQualifiedName(bad), bad).toHaveProperty('problem');
  });

  it('accepts schema names PostgreSQL would create and refuses system ones', () => {
    expect(schemaNameProblem('restored_0931')).toBeUndefined();
    expect(schemaNameProblem('Restored$x')).toBeUndefined();
    expect(schemaNameProblem('pg_restored')).toMatch(/reserved/);
    expect(schemaNameProblem('9lives')).toMatch(/letter/);
    expect(schemaNameProblem('a-b')).toBeDefined();
    expect(schemaNameProblem('information_schema')).toBeDefined();
  });

  it('answers null without tables, and the parsed scope with them', () => {
    expect(parseRestoreScope(undefined, undefined)).toBeNull();
    expect(parseRestoreScope(['public.a', 'b.c'], 'restored_x')).toEqual({
      tables: [
        { schema: 'public', table: 'a' },
        { schema: 'b', table: 'c' },
      ],
      schema: 'restored_x',
    });
  });

  it('explains every malformed scope, naming the field', () => {
    expect(badField(() => parseRestoreScope(undefined, 'restored_x'))).toMatchObject({
      field: 'tables',
      message: expect.stringMatching(/into\.schema needs "tables"/),
    });
    expect(badField(() => parseRestoreScope([], undefined)).field).toBe('tables');
    expect(badField(() => parseRestoreScope('public.a', undefined)).field).toBe('tables');
    expect(badField(() => parseRestoreScope(['public.a', 7], undefined)).field).toBe('tables[1]');
    expect(badField(() => parseRestoreScope(['public.a', 'orders'], undefined))).toMatchObject({
      field: 'tables[1]',
      message: expect.stringMatching(/schema\.table/),
    });
    expect(badField(() => parseRestoreScope(['public.a', 'public.a'], undefined)).message).toMatch(
      /listed twice/,
    );
    expect(badField(() => parseRestoreScope(['public.a'], 'pg_x')).field).toBe('into.schema');
    // one name in two source schemas cannot share one target schema
    expect(badField(() => parseRestoreScope(['a.orders', 'b.orders'], 'restored_x')).message).toMatch(
      /a\.orders and b\.orders would both be restored as restored_x\.orders|b\.orders and a\.orders/,
    );
    // ...but can keep their own schemas in a new database
    expect(parseRestoreScope(['a.orders', 'b.orders'], undefined)?.tables).toHaveLength(2);
  });

  it('is part of a validated request', () => {
    const valid = validateRequest({
      source: 'main',
      target: { latest: true },
      into: { url: 'postgres://u:p@h:5432/app', schema: 'restored_x' },
      tables: ['public.orders'],
    });
    expect(valid.scope).toEqual({ tables: [{ schema: 'public', table: 'orders' }], schema: 'restored_x' });
    expect(
      validateRequest({ source: 'main', target: { latest: true }, into: { url: 'postgres://h/app' } }).scope,
    ).toBeNull();
  });

  it('suggests near names: other case, other schema, typos', () => {
    const names = ['public.orders', 'public.order_items', 'sales.orders', 'public.customers'];
    expect(nearMatches('public.Orders', names)[0]).toBe('public.orders');
    expect(nearMatches('archive.orders', names)).toEqual(['public.orders', 'sales.orders']);
    expect(nearMatches('public.ordres', names)[0]).toBe('public.orders');
    expect(nearMatches('public.zzz', names)).toEqual([]);
  });
});
