import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { parseRestoreRequest, restoreRequestJsonSchema } from './request-schemas.js';

const base = { source: 'main', target: { latest: true }, into: { url: 'postgres://u:p@h:5432/app' } };

function problems(body: unknown): { path: string; message: string }[] {
  try {
    parseRestoreRequest(body);
  } catch (err) {
    if (isTidemarkError(err, 'BAD_REQUEST'))
      return err.details.problems as { path: string; message: string }[];
    throw err;
  }
  throw new Error('expected BAD_REQUEST');
}

describe('tables and into.schema in POST /v1/restores', () => {
  it('accepts a table restore, into a new database or into a schema', () => {
    expect(
      parseRestoreRequest({ ...base, tables: ['public.orders', '"Sales"."Order Lines"'] }),
    ).toMatchObject({
      tables: ['public.orders', '"Sales"."Order Lines"'],
    });
    expect(
      parseRestoreRequest({
        ...base,
        tables: ['public.orders'],
        into: { ...base.into, schema: 'restored_0931' },
      }),
    ).toMatchObject({ into: { schema: 'restored_0931' } });
  });

  it('names the field and says what is expected', () => {
    expect(problems({ ...base, tables: [] })).toEqual([
      { path: 'tables', message: expect.stringMatching(/at least one table/) },
    ]);
    expect(problems({ ...base, tables: 'public.orders' })[0]?.path).toBe('tables');
    expect(problems({ ...base, tables: ['orders'] })).toEqual([
      { path: 'tables[0]', message: expect.stringMatching(/qualified table name schema\.table/) },
    ]);
    expect(problems({ ...base, tables: ['public.a', 'public.a'] })).toEqual([
      { path: 'tables[1]', message: 'public.a is listed twice' },
    ]);
    expect(
      problems({ ...base, tables: ['public.a'], into: { ...base.into, schema: 'pg_x' } })[0],
    ).toMatchObject({
      path: 'into.schema',
    });
    expect(problems({ ...base, into: { ...base.into, schema: 'restored_x' } })).toEqual([
      { path: 'tables', message: expect.stringMatching(/required with into\.schema/) },
    ]);
    expect(
      problems({ ...base, tables: ['a.orders', 'b.orders'], into: { ...base.into, schema: 'restored_x' } }),
    ).toEqual([
      {
        path: 'tables[1]',
        message: expect.stringMatching(
          /b\.orders and a\.orders would both be restored as restored_x\.orders/,
        ),
      },
    ]);
    expect(problems({ ...base, into: { ...base.into, schemaa: 'x' } })[0]?.message).toMatch(
      /allowed: url, schema/,
    );
  });

  it('documents both fields in the OpenAPI schema', () => {
    const schema = JSON.stringify(restoreRequestJsonSchema());
    expect(schema).toContain('"tables"');
    expect(schema).toContain('restored_0931');
  });
});
