/**
 * Identifier quoting for generated SQL. Every name that reaches SQL text goes through
 * `quoteIdent`, always quoted: names come from the source database and may be mixed
 * case, reserved words or contain any character (a quoted identifier may hold anything
 * but NUL; `"` is doubled).
 */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new RangeError('an SQL identifier cannot be empty');
  if (name.includes('\u0000')) throw new RangeError('an SQL identifier cannot contain NUL');
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"` */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** The map key we use for a table inside the engine (not SQL); unambiguous even when names contain dots. */
export function tableKey(schema: string, table: string): string {
  return JSON.stringify([schema, table]);
}

/** `schema.table` for messages written for people. */
export function displayName(schema: string, table: string): string {
  return `${schema}.${table}`;
}

/** `'text'` as an SQL string literal (standard_conforming_strings is on since 9.1). */
export function quoteLiteral(text: string): string {
  if (text.includes('\u0000')) throw new RangeError('an SQL literal cannot contain NUL');
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * A value as an untyped SQL literal, for statements sent with the values inlined: `NULL`,
 * `'text'`, or `E'text'` when it holds a backslash. A plain literal without backslashes
 * and an E'' literal with every backslash doubled mean the same under either setting of
 * standard_conforming_strings, so nothing depends on the session's setting. Untyped, the
 * literal takes its type from where it stands, like an untyped parameter does.
 */
export function sqlLiteral(value: string | null): string {
  if (value === null) return 'NULL';
  if (value.includes('\u0000')) throw new RangeError('an SQL literal cannot contain NUL');
  const quoted = value.includes("'") ? value.replace(/'/g, "''") : value;
  if (!value.includes('\\')) return `'${quoted}'`;
  return `E'${quoted.replace(/\\/g, '\\\\')}'`;
}
