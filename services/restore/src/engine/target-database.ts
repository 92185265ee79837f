import { redactUrl, TidemarkError, textFormatStartupOptions } from '@tidemark/shared';
import pg from 'pg';
import { qualifiedName, quoteIdent } from './sql-ident.js';

/**
 * The database a restore writes into: where it is, how we connect, and the promise that it
 * starts empty. Every session runs under TEXT_FORMAT_SETTINGS (startup options), so the
 * text values from the journal parse as the source meant them.
 */
export interface TargetLocation {
  readonly url: string;
  readonly database: string;
  readonly host: string;
  readonly port: number;
  /** the URL without its password, for logs, job files and messages */
  readonly display: string;
}

export function parseTargetUrl(url: string): TargetLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badUrl('into.url is not a URL; expected postgresql://user:password@host:5432/database');
  }
  if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:')
    throw badUrl(`into.url must start with postgresql:// (got ${u.protocol}//)`);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/'))
    throw badUrl(
      'into.url must name the database to restore into, e.g. postgresql://host:5432/orders_restored',
    );
  if (database === 'postgres' || database.startsWith('template'))
    throw badUrl(
      `into.url names the maintenance database ${database}; give a new database name, Tidemark creates it`,
    );
  return {
    url,
    database,
    host: u.hostname || 'localhost',
    port: Number(u.port || 5432),
    display: redactUrl(url),
  };
}

/** Connects with the text-format settings; connection failures become TARGET_UNREACHABLE. */
export async function connectTarget(target: TargetLocation, database = target.database): Promise<pg.Client> {
  const u = new URL(target.url);
  u.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({
    connectionString: u.toString(),
    options: textFormatStartupOptions(),
    connectionTimeoutMillis: 15_000,
  });
  // an idle client whose server goes away emits 'error'; without a listener it would crash the process
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.end().catch(() => {});
    throw classifyConnectError(err, target, database);
  }
}

export function classifyConnectError(err: unknown, target: TargetLocation, database: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const where = `${target.host}:${target.port}`;
  const reason = err instanceof Error ? err.message : String(err);
  if (code === '3D000') return err; // database does not exist: the caller decides
  if (code === '28P01' || code === '28000')
    return new TidemarkError(
      'TARGET_UNREACHABLE',
      `cannot log in to ${where}/${database}: ${reason}; check the user and password in into.url`,
      {
        cause: err,
        retriable: false,
        details: { target: target.display },
      },
    );
  if (
    (typeof code === 'string' && /^(E[A-Z]+|57P0\d|53\d\d)$/.test(code)) ||
    /timeout|terminated/i.test(reason)
  )
    return new TidemarkError('TARGET_UNREACHABLE', `cannot reach PostgreSQL at ${where}: ${reason}`, {
      cause: err,
      details: { target: target.display },
    });
  return err;
}

/**
 * Makes sure the target database exists and is empty. A missing database is created via
 * the `postgres` maintenance database of the same server, from template0 (template1 may
 * hold objects that would make the result differ from the source) in UTF8 (journal text
 * is UTF-8). An existing database must hold no table, view or sequence outside the system
 * schemas (extension-owned ones excepted): a restore builds the whole database, and
 * mixing it with existing data would make the result not the source's state.
 *
 * What it answers is what `cleanTarget` needs to undo the restore: whether the database
 * was created, else which schemas were there before.
 */
export interface PreparedTarget {
  readonly created: boolean;
  /** schemas of an existing database before the restore (empty when created) */
  readonly existingSchemas: readonly string[];
  /** a restore into one schema of a database (schema-target.ts): that schema, and whether the restore created it */
  readonly intoSchema?: { readonly name: string; readonly created: boolean };
}

/** Connects to the target database, creating it when absent (3D000); says whether it did. */
export async function connectOrCreateTarget(
  target: TargetLocation,
): Promise<{ client: pg.Client; created: boolean }> {
  try {
    return { client: await connectTarget(target), created: false };
  } catch (err) {
    if ((err as { code?: unknown }).code !== '3D000') throw err;
    await createDatabase(target);
    return { client: await connectTarget(target), created: true };
  }
}

export async function prepareTargetDatabase(target: TargetLocation): Promise<PreparedTarget> {
  const { client, created } = await connectOrCreateTarget(target);
  try {
    if (created) return { created, existingSchemas: [] };
    await assertEmpty(client, target);
    const { rows } = await client.query<{ n: string }>('SELECT nspname AS n FROM pg_namespace ORDER BY 1');
    return { created, existingSchemas: rows.map((r) => r.n) };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Undoes a restore that will not finish (it was cancelled, or its target does not exist):
 * a database the restore created is dropped; in a database that existed (empty) before,
 * the tables the restore created are dropped, with the schemas it created and its
 * progress table. Objects that were there before are not touched. Answers what it did.
 */
export async function cleanTarget(
  target: TargetLocation,
  prepared: PreparedTarget,
  tables: readonly { readonly schema: string; readonly table: string }[],
): Promise<string> {
  if (prepared.created) {
    const admin = await connectTarget(target, 'postgres');
    try {
      const { rows } = await admin.query<{ v: string }>('SHOW server_version_num');
      // FORCE (PostgreSQL 13+) ends sessions a client of ours might not have closed yet
      const force = Number(rows[0]?.v ?? 0) >= 130000 ? ' WITH (FORCE)' : '';
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(target.database)}${force}`);
    } finally {
      await admin.end().catch(() => {});
    }
    return `database ${target.database}, which the restore had created, was dropped`;
  }
  const before = new Set(prepared.existingSchemas);
  const statements = tables.map((t) => `DROP TABLE IF EXISTS ${qualifiedName(t.schema, t.table)} CASCADE`);
  statements.push('DROP TABLE IF EXISTS _tidemark.restore_progress');
  const created = [...new Set([...tables.map((t) => t.schema), '_tidemark'])].filter((s) => !before.has(s));
  for (const schema of created) statements.push(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
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
  return `the tables and schemas the restore had created in database ${target.database} were dropped`;
}

export async function createDatabase(target: TargetLocation): Promise<void> {
  const admin = await connectTarget(target, 'postgres');
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(target.database)} TEMPLATE template0 ENCODING 'UTF8'`);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === '42P04') return; // created meanwhile; the emptiness check decides
    if (code === '42501')
      throw new TidemarkError(
        'RESTORE_FAILED',
        `the user in into.url may not create database ${target.database} on ${target.host}:${target.port}; create it (empty) yourself or grant CREATEDB`,
        { cause: err, details: { target: target.display } },
      );
    throw err;
  } finally {
    await admin.end().catch(() => {});
  }
}

const USER_RELATIONS = `
SELECT n.nspname AS schema, c.relname AS name
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
LIMIT 6`;

async function assertEmpty(client: pg.Client, target: TargetLocation): Promise<void> {
  const { rows } = await client.query<{ schema: string; name: string }>(USER_RELATIONS);
  if (rows.length === 0) return;
  const names = rows.slice(0, 5).map((r) => `${r.schema}.${r.name}`);
  const more = rows.length > 5 ? ' and more' : '';
  throw new TidemarkError(
    'TARGET_NOT_EMPTY',
    `database ${target.database} on ${target.host}:${target.port} is not empty (it holds ${names.join(', ')}${more}); ` +
      'a restore builds the whole database: name a database that does not exist yet (Tidemark creates it) or drop those objects first',
    { details: { target: target.display, objects: names } },
  );
}

function badUrl(message: string): TidemarkError {
  return new TidemarkError('BAD_REQUEST', message, { details: { field: 'into.url' } });
}
