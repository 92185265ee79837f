import { describe, expect, it } from 'vitest';
import { qualifiedName, quoteIdent, quoteLiteral, sqlLiteral, tableKey } from './sql-ident.js';

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

describe('sqlLiteral', () => {
  it('writes NULL unquoted and keeps the empty string a string', () => {
    expect(sqlLiteral(null)).toBe('NULL');
    expect(sqlLiteral('')).toBe("''");
    expect(sqlLiteral('NULL')).toBe("'NULL'");
  });
  it('doubles quotes', () => {
    expect(sqlLiteral("it's")).toBe("'it''s'");
    expect(sqlLiteral("''")).toBe("''''''");
  });
  it('uses an E string with doubled backslashes when there is a backslash, whatever standard_conforming_strings is', () => {
    expect(sqlLiteral('\\x00ff')).toBe("E'\\\\x00ff'");
    expect(sqlLiteral("a\\'b")).toBe("E'a\\\\''b'");
    expect(sqlLiteral('\\')).toBe("E'\\\\'");
    // a backslash before a quote must not escape it
    expect(sqlLiteral("\\'")).toBe("E'\\\\'''");
  });
  it('passes unicode, control characters and SQL-looking text through inside the quotes', () => {
    expect(sqlLiteral('żółw 🐢 漢字')).toBe("'żółw 🐢 漢字'");
    expect(sqlLiteral('tab\there\nnl\rcr')).toBe("'tab\there\nnl\rcr'");
    expect(sqlLiteral("1'); DROP TABLE t; --")).toBe("'1''); DROP TABLE t; --'");
    expect(sqlLiteral('$$x$$')).toBe("'$$x$$'");
  });
  it('keeps float and numeric special values as text for the column type to read', () => {
    expect(['-0', 'NaN', 'Infinity', '-Infinity', '1e-300'].map(sqlLiteral)).toEqual([
      "'-0'",
      "'NaN'",
      "'Infinity'",
      "'-Infinity'",
      "'1e-300'",
    ]);
  });
  it('handles very long values', () => {
    const long = `${"a'".repeat(300_000)}\\`;
    const lit = sqlLiteral(long);
    // every quote doubled, the backslash doubled, E + two quotes around
    expect(lit.length).toBe(long.length + 300_000 + 1 + 3);
    expect(lit.startsWith("E'a''a''")).toBe(true);
    expect(lit.endsWith("\\\\'")).toBe(true);
  });
  it('refuses NUL, which no PostgreSQL text value can hold', () => {
    expect(() => sqlLiteral('a\u0000b')).toThrow(RangeError);
  });
});
