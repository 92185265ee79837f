import { TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import { formatQualifiedName } from './restore-scope.js';
import { qualifiedName, quoteIdent } from './sql-ident.js';
import type { TableSelection } from './table-selection.js';
import {
  cleanTarget,
  connectOrCreateTarget,
  connectTarget,
  type PreparedTarget,
  type TargetLocation,
} from './target-database.js';

/**
 * The target side of a scoped restore (table-selection.ts). With `into.schema` the
 * database may hold anything; the restore owns one schema of it, which must not exist
 * (it is created) or be empty, and touches nothing outside it: its progress row lives in
 * that schema, the finish analyzes only its tables, and a cancel drops that schema when
 * the restore created it, else only the tables it created there.
 */
export async function prepareSchemaTarget(target: TargetLocation, schema: string): Promise<PreparedTarget> {
  const { client, created } = await connectOrCreateTarget(target);
  try {
    const schemaCreated = await claimSchema(client, target, schema);
    return { created, existingSchemas: [], intoSchema: { name: schema, created: schemaCreated } };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates the schema (true), or checks that the one there is empty (false); TARGET_NOT_EMPTY else. */
async function claimSchema(client: pg.Client, target: TargetLocation, schema: string): Promise<boolean> {
  const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (exists.rowCount === 0) {
    try {
      await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === '42501')
        throw new TidemarkError(
          'RESTORE_FAILED',
          `the user in into.url may not create schema ${schema} in database ${target.database}; create it (empty) yourself or grant CREATE on the database`,
          { cause: err, details: { target: target.display, schema } },
        );
      if (code !== '42P06') throw err; // created meanwhile: the emptiness check decides
    }
  }
  const { rows } = await client.query<{ kind: string; name: string }>(SCHEMA_OBJECTS, [schema]);
  if (rows.length === 0) return false;
  const names = rows.slice(0, 5).map((r) => `${r.kind} ${r.name}`);
  throw new TidemarkError(
    'TARGET_NOT_EMPTY',
    `schema ${schema} of database ${target.database} on ${target.host}:${target.port} is not empty ` +
      `(it holds ${names.join(', ')}${rows.length > 5 ? ' and more' : ''}); ` +
      'a table restore into a schema needs a schema that does not exist yet (Tidemark creates it) or is empty: name another schema',
    { details: { target: target.display, schema, objects: names } },
  );
}

const SCHEMA_OBJECTS = `
WITH n AS (SELECT oid FROM pg_namespace WHERE nspname = $1)
SELECT kind, name FROM (
  SELECT 1 AS o, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                 WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
         c.relname::text AS name FROM pg_class c, n WHERE c.relnamespace = n.oid
  UNION ALL SELECT 2, 'function', p.proname::text FROM pg_proc p, n WHERE p.pronamespace = n.oid
  UNION ALL SELECT 3, 'type', t.typname::text FROM pg_type t, n WHERE t.typnamespace = n.oid
  UNION ALL SELECT 4, 'operator', o.oprname::text FROM pg_operator o, n WHERE o.oprnamespace = n.oid
  UNION ALL SELECT 5, 'collation', c.collname::text FROM pg_collation c, n WHERE c.collnamespace = n.oid
  UNION ALL SELECT 6, 'extension', e.extname::text FROM pg_extension e, n WHERE e.extnamespace = n.oid
  UNION ALL SELECT 7, 'text search configuration', c.cfgname::text FROM pg_ts_config c, n WHERE c.cfgnamespace = n.oid
) x ORDER BY o, name LIMIT 6`;

/**
 * Undoes a restore that will not finish. Into a schema of a database that was there: the
 * schema if the restore created it, else the tables it created in it (parents first: a
 * partitioned table takes its partitions along) and its progress table. Anything else:
 * as cleanTarget does.
 */
export async function cleanRestoreTarget(
  target: TargetLocation,
  prepared: PreparedTarget,
  tables: readonly { readonly schema: string; readonly table: string }[],
  selection: TableSelection | null,
): Promise<string> {
  const schema = prepared.intoSchema;
  if (!schema || prepared.created) {
    const extra = selection ? [selection.progressTable] : [];
    return cleanTarget(target, prepared, [...tables, ...extra]);
  }
  const statements = schema.created
    ? [`DROP SCHEMA IF EXISTS ${quoteIdent(schema.name)} CASCADE`]
    : [...tables, ...(selection ? [selection.progressTable] : [])].map(
        (t) => `DROP TABLE IF EXISTS ${qualifiedName(t.schema, t.table)}`,
      );
  const client = await connectTarget(target);
  try {
    await client.query('BEGIN');
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.end().catch(() => {});
  }
  return schema.created
    ? `schema ${schema.name}, which the restore had created in database ${target.database}, was dropped; nothing else was touched`
    : `the tables the restore had created in schema ${schema.name} of database ${target.database} were dropped; nothing else was touched`;
}

/**
 * The last statements of a restore, after defaults: a whole-database restore drops its
 * progress schema and analyzes the database; a scoped one first detaches the partitions
 * listed alone from their scratch trees and drops those, and into a schema it drops only
 * its own progress table and analyzes only its own tables.
 */
export function finishStatements(selection: TableSelection | null): string[] {
  if (!selection) return ['DROP SCHEMA IF EXISTS _tidemark CASCADE', 'ANALYZE'];
  const name = (t: { schema: string; table: string }) => qualifiedName(t.schema, t.table);
  const out = [
    ...selection.detach.map((d) => `ALTER TABLE ${name(d.parent)} DETACH PARTITION ${name(d.partition)}`),
    ...selection.scratchRoots.map((r) => `DROP TABLE IF EXISTS ${name(r)}`),
  ];
  if (selection.scope.schema === null) return [...out, 'DROP SCHEMA IF EXISTS _tidemark CASCADE', 'ANALYZE'];
  return [
    ...out,
    `DROP TABLE IF EXISTS ${name(selection.progressTable)}`,
    ...selection.kept.map((t) => `ANALYZE ${name(t)}`),
  ];
}

/** For messages: where the restored tables are. */
export function describeSelection(selection: TableSelection): string {
  const kept = selection.kept.map(formatQualifiedName);
  return `${kept.length} table${kept.length === 1 ? '' : 's'} (${kept.join(', ')})`;
}
