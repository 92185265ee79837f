import { describe, expect, it } from 'vitest';
import { qualifiedName, quoteIdent, quoteLiteral, tableKey } from './sql-ident.js';

describe('quoteIdent', () => {
  it('always quotes and doubles embedded quotes', () => {
    expect(quoteIdent('orders')).toBe('"orders"');
    expect(quoteIdent('Order Lines')).toBe('"Order Lines"');
    expect(quoteIdent('select')).toBe('"select"');
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteIdent('ünï')).toBe('"ünï"');
    expect(qualifiedName('My.Schema', 't')).toBe('"My.Schema"."t"');
  });
  it('refuses empty names and NUL', () => {
    expect(() => quoteIdent('')).toThrow(RangeError);
    expect(() => quoteIdent('a\u0000b')).toThrow(RangeError);
  });
  it('keys tables unambiguously even with dots in names', () => {
    expect(tableKey('a.b', 'c')).not.toBe(tableKey('a', 'b.c'));
  });
  it('quotes literals', () => {
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });
});
