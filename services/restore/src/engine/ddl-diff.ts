import type { SnapshotIndex } from '@tidemark/shared';
import type { ColumnShape, TableShape } from './ddl-message.js';
import { qualifiedName, quoteIdent, quoteLiteral } from './sql-ident.js';

/**
 * DDL that turns a table as the restore knows it into the state a `tidemark.ddl` message
 * describes. Pure: compares two descriptions, returns statements.
 *
 * Columns are matched by attnum (a rename keeps it, a drop and an add do not), by name
 * when the current side has none (manifests written before attnums were recorded).
 * Statements run inside the replay's transaction at the exact place of the change:
 * table move and rename, primary key drop, column drops, renames (through temporary
 * names when renames swap names), type changes (`USING col::type`, the table rewrite is
 * not in the journal), additions (with their default, which fills existing rows as it
 * did on the source), NOT NULL, defaults, replica identity, primary key add.
 *
 * Secondary indexes are not built here: they are state the restore keeps and builds once
 * at the end (secondary-indexes.ts) — building them once is cheaper, and a unique index
 * during replay could refuse the reordered statements of a batch, which assume the target
 * has no constraint but primary keys.
 */
export interface QualifiedName {
  readonly schema: string;
  readonly table: string;
}

/** nextval() defaults wait for sequences, as in schema-builder.ts. */
export function keepDefault(expr: string | null): string | null {
  return expr !== null && !/\bnextval\s*\(/i.test(expr) ? expr : null;
}

export function alterTableSql(
  current: TableShape,
  from: QualifiedName,
  desired: TableShape,
  to: QualifiedName,
): string[] {
  const out: string[] = [];
  let at = from;
  if (at.schema !== to.schema) {
    out.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(to.schema)}`);
    out.push(`ALTER TABLE ${name(at)} SET SCHEMA ${quoteIdent(to.schema)}`);
    at = { schema: to.schema, table: at.table };
  }
  if (at.table !== to.table) out.push(`ALTER TABLE ${name(at)} RENAME TO ${quoteIdent(to.table)}`);
  const t = name(to);
  const pkChanged = !sameList(current.primaryKey, desired.primaryKey);
  if (pkChanged && current.primaryKey && current.primaryKey.length > 0) out.push(dropPrimaryKey(to));

  const matchOf = matchColumns(current.columns, desired.columns);
  const kept = new Set(matchOf.values());
  for (const c of current.columns)
    if (!kept.has(c)) out.push(`ALTER TABLE ${t} DROP COLUMN IF EXISTS ${quoteIdent(c.name)}`);
  out.push(...renames(t, matchOf));

  for (const [d, c] of matchOf) {
    const col = quoteIdent(d.name);
    let currentDefault = keepDefault(c.default);
    const desiredDefault = keepDefault(d.default);
    if (d.type !== c.type) {
      // the old default may not cast to the new type: it is set again below if still wanted
      if (currentDefault !== null) out.push(`ALTER TABLE ${t} ALTER COLUMN ${col} DROP DEFAULT`);
      currentDefault = null;
      out.push(`ALTER TABLE ${t} ALTER COLUMN ${col} TYPE ${d.type} USING ${col}::${d.type}`);
    }
    if (d.notNull !== c.notNull)
      out.push(`ALTER TABLE ${t} ALTER COLUMN ${col} ${d.notNull ? 'SET' : 'DROP'} NOT NULL`);
    if (desiredDefault !== currentDefault) {
      if (desiredDefault === null) out.push(`ALTER TABLE ${t} ALTER COLUMN ${col} DROP DEFAULT`);
      else out.push(bestEffort(`ALTER TABLE ${t} ALTER COLUMN ${col} SET DEFAULT ${desiredDefault}`));
    }
  }
  const matched = new Set(matchOf.keys());
  for (const d of desired.columns) {
    if (matched.has(d)) continue;
    // the default fills the rows already there, as it did on the source
    const def = keepDefault(d.default);
    const col = `ALTER TABLE ${t} ADD COLUMN ${quoteIdent(d.name)} ${d.type}`;
    if (def !== null) out.push(`${col} DEFAULT ${def}${d.notNull ? ' NOT NULL' : ''}`);
    else if (!d.notNull) out.push(col);
    else {
      // NOT NULL without a default we can set (a serial or identity column): the values
      // the source's sequence gave existing rows are not in the journal; they stay NULL,
      // and the constraint holds only where it can (an empty table)
      out.push(col, bestEffort(`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(d.name)} SET NOT NULL`));
    }
  }
  if (current.replicaIdentity !== desired.replicaIdentity && desired.replicaIdentity !== 'index')
    out.push(`ALTER TABLE ${t} REPLICA IDENTITY ${desired.replicaIdentity.toUpperCase()}`);
  if (pkChanged && desired.primaryKey && desired.primaryKey.length > 0)
    out.push(`ALTER TABLE ${t} ADD PRIMARY KEY (${desired.primaryKey.map(quoteIdent).join(', ')})`);
  return out;
}

/**
 * A table created after the snapshot. `parent`: where its partition parent went, and
 * whether that has a primary key (PostgreSQL then gives the partition one itself).
 */
export function createTableSql(
  desired: TableShape,
  to: QualifiedName,
  parent:
    | {
        readonly name: QualifiedName;
        readonly columns: readonly ColumnShape[];
        readonly hasPrimaryKey: boolean;
      }
    | undefined,
): string[] {
  const t = name(to);
  const out = [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(to.schema)}`];
  const partitionBy =
    desired.kind === 'partitioned' && desired.partitionKey ? ` PARTITION BY ${desired.partitionKey}` : '';
  if (desired.partitionOf && parent) {
    out.push(
      `CREATE TABLE ${t} PARTITION OF ${name(parent.name)} ${desired.partitionOf.bound}${partitionBy}`,
    );
    for (const c of desired.columns) {
      const inParent = parent.columns.find((p) => p.name === c.name);
      if (c.notNull && !inParent?.notNull)
        out.push(`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(c.name)} SET NOT NULL`);
    }
  } else {
    const cols = desired.columns.map((c) => `${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}`);
    out.push(`CREATE TABLE ${t} (${cols.join(', ')})${partitionBy}`);
  }
  for (const c of desired.columns) {
    const def = keepDefault(c.default);
    const inherited = parent?.columns.find((p) => p.name === c.name)?.default === c.default;
    if (def !== null && !inherited)
      out.push(bestEffort(`ALTER TABLE ${t} ALTER COLUMN ${quoteIdent(c.name)} SET DEFAULT ${def}`));
  }
  if (desired.replicaIdentity === 'full' || desired.replicaIdentity === 'nothing')
    out.push(`ALTER TABLE ${t} REPLICA IDENTITY ${desired.replicaIdentity.toUpperCase()}`);
  if (desired.primaryKey && desired.primaryKey.length > 0 && !parent?.hasPrimaryKey)
    out.push(`ALTER TABLE ${t} ADD PRIMARY KEY (${desired.primaryKey.map(quoteIdent).join(', ')})`);
  return out;
}

export function dropTableSql(at: QualifiedName): string {
  return `DROP TABLE IF EXISTS ${name(at)}`;
}

/**
 * `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON target USING ...` from a source
 * pg_get_indexdef, pointed at the table's target name; undefined when the definition is
 * not in pg_get_indexdef's form. A partitioned table's index is built without ONLY, so
 * PostgreSQL attaches (or builds) its partitions' indexes.
 */
export function indexSql(
  index: SnapshotIndex,
  source: QualifiedName,
  target: QualifiedName,
): string | undefined {
  const def = index.definition;
  const unique = def.startsWith('CREATE UNIQUE INDEX ');
  let rest = def.slice(unique ? 'CREATE UNIQUE INDEX '.length : 'CREATE INDEX '.length);
  if (!unique && !def.startsWith('CREATE INDEX ')) return undefined;
  const afterName = skipOne(
    rest,
    identForms(index.name).map((n) => `${n} ON `),
  );
  if (afterName === undefined) return undefined;
  rest = afterName.startsWith('ONLY ') ? afterName.slice('ONLY '.length) : afterName;
  const tables = identForms(source.schema).flatMap((s) =>
    identForms(source.table).map((n) => `${s}.${n} USING `),
  );
  const tail = skipOne(rest, tables);
  if (tail === undefined) return undefined;
  return `CREATE ${unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${quoteIdent(index.name)} ON ${name(target)} USING ${tail}`;
}

export function dropIndexSql(schema: string, index: string): string {
  return `DROP INDEX IF EXISTS ${qualifiedName(schema, index)}`;
}

/** desired column → the current column it is (by attnum where both have one, else by name) */
function matchColumns(
  current: readonly ColumnShape[],
  desired: readonly ColumnShape[],
): Map<ColumnShape, ColumnShape> {
  const out = new Map<ColumnShape, ColumnShape>();
  const taken = new Set<ColumnShape>();
  for (const d of desired) {
    const c = current.find(
      (x) =>
        !taken.has(x) &&
        (x.attnum !== undefined && d.attnum !== undefined ? x.attnum === d.attnum : x.name === d.name),
    );
    if (c) {
      out.set(d, c);
      taken.add(c);
    }
  }
  return out;
}

/** Renames; when one takes a name another still holds, all go through temporary names first. */
function renames(t: string, matchOf: ReadonlyMap<ColumnShape, ColumnShape>): string[] {
  const moves = [...matchOf].filter(([d, c]) => d.name !== c.name);
  if (moves.length === 0) return [];
  const held = new Set([...matchOf.values()].map((c) => c.name));
  const clash = moves.some(([d]) => held.has(d.name));
  const rename = (from: string, to: string) =>
    `ALTER TABLE ${t} RENAME COLUMN ${quoteIdent(from)} TO ${quoteIdent(to)}`;
  if (!clash) return moves.map(([d, c]) => rename(c.name, d.name));
  const temp = (i: number) => `_tidemark_rename_${i}`;
  return [
    ...moves.map(([, c], i) => rename(c.name, temp(i))),
    ...moves.map(([d], i) => rename(temp(i), d.name)),
  ];
}

function dropPrimaryKey(at: QualifiedName): string {
  // the constraint's name on the target is not the source's business: look it up
  const rel = quoteLiteral(name(at));
  return `DO $tidemark$ DECLARE c name; BEGIN
  SELECT conname INTO c FROM pg_constraint WHERE conrelid = ${rel}::regclass AND contype = 'p';
  IF c IS NOT NULL THEN EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', ${rel}, c); END IF;
END $tidemark$`;
}

/**
 * A default is best effort, as at the end of a restore (schema-builder.ts): it may call a
 * function the target lacks, and rows never depend on it during replay (every journaled
 * insert carries all its columns). A failure is caught in a subtransaction.
 */
function bestEffort(sql: string): string {
  return `DO $tidemark$ BEGIN EXECUTE ${quoteLiteral(sql)}; EXCEPTION WHEN others THEN RAISE WARNING 'tidemark: % failed: %', ${quoteLiteral(sql)}, SQLERRM; END $tidemark$`;
}

function name(q: QualifiedName): string {
  return qualifiedName(q.schema, q.table);
}

/** the ways pg_get_indexdef may have written a name: quoted, or bare when it needs no quotes */
function identForms(n: string): string[] {
  const quoted = quoteIdent(n);
  return /^[a-z_][a-z0-9_$]*$/.test(n) ? [n, quoted] : [quoted];
}

function skipOne(text: string, prefixes: readonly string[]): string | undefined {
  const p = prefixes.find((x) => text.startsWith(x));
  return p === undefined ? undefined : text.slice(p.length);
}

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
