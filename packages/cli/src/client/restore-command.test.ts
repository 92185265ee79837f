import { describe, expect, it } from 'vitest';
import { restoreBody, scopeSummary } from './restore-command.js';

const base = { source: 'main', latest: true, into: 'postgres://u:p@h:5432/app' };

describe('tidemark restore --tables / --schema', () => {
  it('builds the table restore body', () => {
    expect(restoreBody({ ...base, tables: 'public.orders, sales.invoices,', schema: 'restored_x' })).toEqual({
      source: 'main',
      target: { latest: true },
      into: { url: base.into, schema: 'restored_x' },
      tables: ['public.orders', 'sales.invoices'],
    });
    expect(restoreBody(base)).not.toHaveProperty('tables');
  });

  it('refuses --schema without --tables, and an empty --tables', () => {
    expect(() => restoreBody({ ...base, schema: 'restored_x' })).toThrow(/--schema needs --tables/);
    expect(() => restoreBody({ ...base, tables: ' , ' })).toThrow(/at least one schema\.table/);
  });

  it('names the tables and where they went', () => {
    expect(scopeSummary({ tables: ['a.b', 'c.d'], into: { database: 'app', schema: 'restored_x' } })).toBe(
      'tables a.b, c.d restored into schema restored_x of database app (nothing else there was touched)',
    );
    expect(scopeSummary({ tables: ['a.b'], into: { database: 'fresh' } })).toBe(
      'tables a.b restored into database fresh',
    );
  });
});
