import { isTidemarkError, redactUrl } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { validateRequest } from './restore-request.js';
import { parseTargetUrl } from './target-database.js';

function fieldOf(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return isTidemarkError(err, 'BAD_REQUEST') ? err.details.field : err;
  }
  return undefined;
}

describe('validateRequest', () => {
  it('accepts a well-formed request', () => {
    const v = validateRequest({
      source: 'app',
      target: { lsn: '0/1' },
      into: { url: 'postgresql://u:p@h:6543/new_db' },
    });
    expect(v.target).toEqual({ kind: 'lsn', lsn: 1n });
    expect(v.into).toMatchObject({
      database: 'new_db',
      host: 'h',
      port: 6543,
      display: 'postgresql://u:***@h:6543/new_db',
    });
  });

  it('names the field at fault', () => {
    expect(fieldOf(() => validateRequest(null))).toBe('body');
    expect(fieldOf(() => validateRequest({ target: { latest: true } }))).toBe('source');
    expect(fieldOf(() => validateRequest({ source: 'app', target: {} }))).toBe('target');
    expect(fieldOf(() => validateRequest({ source: 'app', target: { latest: true } }))).toBe('into.url');
    expect(
      fieldOf(() => validateRequest({ source: 'app', target: { latest: true }, into: { url: 5 } })),
    ).toBe('into.url');
  });
});

describe('parseTargetUrl', () => {
  it.each([
    ['not a url', /not a URL/],
    ['http://h/db', /postgresql:\/\//],
    ['postgresql://h', /must name the database/],
    ['postgresql://h/postgres', /maintenance database/],
    ['postgresql://h/template1', /maintenance database/],
  ])('refuses %s', (url, message) => {
    expect(() => parseTargetUrl(url)).toThrow(message);
  });

  it('decodes the database name and defaults the port', () => {
    expect(parseTargetUrl('postgres://h/My%20DB')).toMatchObject({ database: 'My DB', port: 5432 });
  });

  it('never shows passwords', () => {
    expect(redactUrl('postgresql://u:secret@h/db?password=x&sslmode=require')).toBe(
      'postgresql://u:***@h/db?password=***&sslmode=require',
    );
  });
});
