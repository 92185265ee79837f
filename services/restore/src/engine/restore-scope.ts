import { TidemarkError } from '@tidemark/shared';

/**
 * What part of a source a restore builds, and where: every table (no scope), or the
 * listed tables — into a new or empty database, or (with `schema`) into one schema of an
 * existing database that may hold anything else. Pure; the request checks live here so
 * the API's zod schema and the engine say the same thing.
 */
export interface QualifiedName {
  readonly schema: string;
  readonly table: string;
}

export interface RestoreScope {
  /** the tables as listed, in request order, unique */
  readonly tables: readonly QualifiedName[];
  /** restore them into this schema of an existing database; null: keep their schemas */
  readonly schema: string | null;
}

export const QUALIFIED_NAME_HINT =
  'expected a qualified table name schema.table, e.g. public.orders ("double quotes" around a part that holds a dot or a quote)';
export const SCHEMA_NAME_HINT =
  'expected a schema name: a letter or _ then letters, digits, _ or $, at most 63 characters, not starting with pg_';

/** `"a ""b"""` or a run without dots and quotes */
const PART = `(?:"((?:[^"]|"")+)"|([^."]+))`;
const QUALIFIED = new RegExp(`^${PART}\\.${PART}$`);
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/** The table a `schema.table` text names, or why it names none. */
export function parseQualifiedName(text: string): QualifiedName | { readonly problem: string } {
  const m = QUALIFIED.exec(text.trim());
  if (!m) return { problem: QUALIFIED_NAME_HINT };
  const part = (quoted: string | undefined, bare: string | undefined) =>
    quoted === undefined ? (bare ?? '').trim() : quoted.replace(/""/g, '"');
  const schema = part(m[1], m[2]);
  const table = part(m[3], m[4]);
  if (schema === '' || table === '' || `${schema}${table}`.includes('\u0000'))
    return { problem: QUALIFIED_NAME_HINT };
  if (Buffer.byteLength(schema) > 63 || Buffer.byteLength(table) > 63)
    return { problem: 'a PostgreSQL name has at most 63 bytes' };
  return { schema, table };
}

/** Why `name` cannot be the schema to restore into; undefined when it can. */
export function schemaNameProblem(name: string): string | undefined {
  if (!SCHEMA_NAME.test(name)) return SCHEMA_NAME_HINT;
  if (/^pg_/i.test(name)) return `${SCHEMA_NAME_HINT} (pg_ names are reserved for the system)`;
  if (name === 'information_schema') return 'information_schema is a system schema';
  return undefined;
}

/** `schema.table` as a person reads it; parts that would not parse back are quoted. */
export function formatQualifiedName(name: QualifiedName): string {
  const part = (p: string) => (/^[^."\s]+$/.test(p) ? p : `"${p.replace(/"/g, '""')}"`);
  return `${part(name.schema)}.${part(name.table)}`;
}

/**
 * Checks the `tables` and `into.schema` of a request (BAD_REQUEST naming the field):
 * `tables` a non-empty array of unique qualified names, `into.schema` a valid name that
 * needs `tables`. Answers null when neither is given (the whole source).
 */
export function parseRestoreScope(tables: unknown, schema: unknown): RestoreScope | null {
  if (schema !== undefined && (typeof schema !== 'string' || schemaNameProblem(schema) !== undefined))
    throw bad(
      `into.schema: ${typeof schema === 'string' ? schemaNameProblem(schema) : SCHEMA_NAME_HINT}`,
      'into.schema',
    );
  if (tables === undefined) {
    if (schema !== undefined)
      throw bad(
        'into.schema needs "tables": restoring into a schema of an existing database is for a list of tables; ' +
          'to restore the whole source, leave out into.schema and name a new or empty database',
        'tables',
      );
    return null;
  }
  if (!Array.isArray(tables) || tables.length === 0)
    throw bad('tables: expected a non-empty array of qualified names like ["public.orders"]', 'tables');
  const parsed: QualifiedName[] = [];
  const seen = new Set<string>();
  for (const [i, text] of tables.entries()) {
    if (typeof text !== 'string') throw bad(`tables[${i}]: ${QUALIFIED_NAME_HINT}`, `tables[${i}]`);
    const name = parseQualifiedName(text);
    if ('problem' in name) throw bad(`tables[${i}]: ${name.problem}`, `tables[${i}]`);
    const key = JSON.stringify([name.schema, name.table]);
    if (seen.has(key))
      throw bad(`tables[${i}]: ${formatQualifiedName(name)} is listed twice`, `tables[${i}]`);
    seen.add(key);
    const sameName = parsed.find((p) => p.table === name.table);
    if (schema !== undefined && sameName)
      throw bad(
        `tables[${i}]: ${formatQualifiedName(name)} and ${formatQualifiedName(sameName)} would both be restored as ` +
          `${formatQualifiedName({ schema: schema as string, table: name.table })}; restore them into two different schemas (two requests)`,
        `tables[${i}]`,
      );
    parsed.push(name);
  }
  return { tables: parsed, schema: (schema as string | undefined) ?? null };
}

/** The scope as the API shows it back: `tables` as `schema.table` texts and `schema`. */
export function formatRestoreScope(scope: RestoreScope): { tables: string[]; schema?: string } {
  return {
    tables: scope.tables.map(formatQualifiedName),
    ...(scope.schema === null ? {} : { schema: scope.schema }),
  };
}

function bad(message: string, field: string): TidemarkError {
  return new TidemarkError('BAD_REQUEST', message, { details: { field } });
}
