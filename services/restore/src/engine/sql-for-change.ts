import type { Change, RelationInfo, TupleData } from '@tidemark/shared';
import { TidemarkError } from '@tidemark/shared';
import { displayName, qualifiedName, quoteIdent } from './sql-ident.js';

/**
 * SQL for one journaled change. Pure.
 *
 * Each builder takes a `Bind` that decides how a value gets into the text: by default as
 * `$n` with the value in `values` (prepared statements, one round trip each), or inlined
 * with `sqlLiteral` (statements batched into one multi-statement query, see
 * statement-pipeline.ts). Both produce the same statement shape.
 *
 * Parameters travel as untyped text (node-postgres sends strings with type oid 0) and
 * PostgreSQL infers each one's type from where it stands: an INSERT column, a SET target,
 * or `key = $n` (an operator with one unknown side takes the other side's type). That is
 * exactly the input-function path the value's text came from, so no cast is written and
 * no type name has to be rebuilt from an oid. The one place with no column type to infer
 * from is the REPLICA IDENTITY FULL row match, which compares `col::text` to the text we
 * hold; the text forms agree because both sessions run under TEXT_FORMAT_SETTINGS, and it
 * works for types without an equality operator (json, point, xml).
 */
export interface Statement {
  readonly text: string;
  readonly values: readonly (string | null)[];
  /** rows the statement must affect (1 for update/delete); undefined = any */
  readonly expectRows?: number;
  /** for error messages */
  readonly describe: string;
}

/** What the target table looks like, from the snapshot manifest. */
export interface TargetTableInfo {
  readonly kind: 'table' | 'partitioned';
  readonly primaryKey: readonly string[] | null;
  /** tableKey of the top of the partition tree the table is in; absent when it is in none */
  readonly partitionRoot?: string;
}

export type DmlChange = Extract<Change, { op: 'insert' | 'update' | 'delete' }>;

/** Puts one value into statement text: `$n` or an inlined literal. */
export type Bind = (value: string | null) => string;

function binder(inline: Bind | undefined): { bind: Bind; values: (string | null)[] } {
  const values: (string | null)[] = [];
  if (inline) return { bind: inline, values };
  return {
    values,
    bind: (v) => {
      values.push(v);
      return `$${values.length}`;
    },
  };
}

export function insertSql(rel: RelationInfo, tuple: TupleData, inline?: Bind): Statement {
  const { bind, values } = binder(inline);
  const cols = rel.columns.map((c) => quoteIdent(c.name));
  const row = insertValues(rel, tuple).map(bind);
  return {
    text: `INSERT INTO ${qualifiedName(rel.schema, rel.table)} (${cols.join(', ')}) VALUES (${row.join(', ')})`,
    values,
    describe: `insert into ${displayName(rel.schema, rel.table)}`,
  };
}

/** The values of an inserted row, one per column; throws when the row cannot be an insert. */
export function insertValues(rel: RelationInfo, tuple: TupleData): (string | null)[] {
  if (tuple.unchanged && tuple.unchanged.length > 0) throw bad(rel, 'an insert with unchanged TOAST values');
  return padValues(rel, tuple);
}

/** `COPY "s"."t" ("a", "b") FROM STDIN` for a run of inserts with the relation's columns. */
export function copyInSql(rel: RelationInfo): string {
  const cols = rel.columns.map((c) => quoteIdent(c.name)).join(', ');
  return `COPY ${qualifiedName(rel.schema, rel.table)} (${cols}) FROM STDIN`;
}

/** Inserts can share one COPY when they go to the same table with the same columns. */
export function insertRunKey(rel: RelationInfo): string {
  return JSON.stringify([rel.schema, rel.table, rel.columns.map((c) => c.name)]);
}

export function updateSql(
  rel: RelationInfo,
  change: Extract<Change, { op: 'update' }>,
  target: TargetTableInfo | undefined,
  inline?: Bind,
): Statement {
  const unchanged = new Set(change.new.unchanged ?? []);
  const { bind, values } = binder(inline);
  const param = (v: string | null | undefined): string => bind(v ?? null);
  // Unchanged TOAST values are left out of SET: the row keeps what it has.
  const sets: string[] = [];
  rel.columns.forEach((c, i) => {
    if (!unchanged.has(i)) sets.push(`${quoteIdent(c.name)} = ${param(change.new.values[i])}`);
  });
  if (sets.length === 0) throw bad(rel, 'an update that changes no column');
  const where = rowMatch(rel, change.old, change.oldKind, change.new, target, param);
  return {
    text: `UPDATE ${qualifiedName(rel.schema, rel.table)} SET ${sets.join(', ')} WHERE ${where}`,
    values,
    expectRows: 1,
    describe: `update of ${displayName(rel.schema, rel.table)}`,
  };
}

export function deleteSql(
  rel: RelationInfo,
  change: Extract<Change, { op: 'delete' }>,
  target: TargetTableInfo | undefined,
  inline?: Bind,
): Statement {
  const { bind, values } = binder(inline);
  const param = (v: string | null | undefined): string => bind(v ?? null);
  const where = rowMatch(rel, change.old, change.oldKind, undefined, target, param);
  return {
    text: `DELETE FROM ${qualifiedName(rel.schema, rel.table)} WHERE ${where}`,
    values,
    expectRows: 1,
    describe: `delete from ${displayName(rel.schema, rel.table)}`,
  };
}

export function truncateSql(
  rels: readonly RelationInfo[],
  cascade: boolean,
  restartIdentity: boolean,
): Statement {
  const names = rels.map((r) => qualifiedName(r.schema, r.table)).join(', ');
  return {
    text: `TRUNCATE TABLE ${names}${restartIdentity ? ' RESTART IDENTITY' : ''}${cascade ? ' CASCADE' : ''}`,
    values: [],
    describe: `truncate of ${rels.map((r) => displayName(r.schema, r.table)).join(', ')}`,
  };
}

/**
 * The WHERE clause that finds the one row a change is about.
 * - old key image ('key'): the identity columns of `old`;
 * - no old image: the key did not change, so the identity columns of `new`;
 * - whole old row ('full'): by the target's primary key when it has one (unique, indexed);
 *   otherwise duplicates are possible, and exactly one of the equal rows is touched,
 *   as on the source: `ctid = (SELECT ctid ... LIMIT 1)`.
 */
function rowMatch(
  rel: RelationInfo,
  old: TupleData | undefined,
  oldKind: 'key' | 'full' | undefined,
  newTuple: TupleData | undefined,
  target: TargetTableInfo | undefined,
  param: (v: string | null | undefined) => string,
): string {
  if (old && oldKind === 'full') {
    const pk = target?.primaryKey;
    const skip = new Set(old.unchanged ?? []);
    if (pk && pk.length > 0) {
      const idx = pk.map((name) => rel.columns.findIndex((c) => c.name === name));
      if (idx.every((i) => i >= 0 && !skip.has(i) && old.values[i] != null))
        return idx.map((i) => `${quoteIdent(rel.columns[i]!.name)} = ${param(old.values[i])}`).join(' AND ');
    }
    const conds: string[] = [];
    rel.columns.forEach((c, i) => {
      if (!skip.has(i))
        conds.push(`${quoteIdent(c.name)}::text IS NOT DISTINCT FROM ${param(old.values[i])}`);
    });
    if (conds.length === 0) throw bad(rel, 'a FULL old row with no comparable column');
    const name = qualifiedName(rel.schema, rel.table);
    // ctid is unique only within one table: a partitioned parent needs (tableoid, ctid)
    const id = target?.kind === 'partitioned' ? '(tableoid, ctid)' : 'ctid';
    const sel = target?.kind === 'partitioned' ? 'tableoid, ctid' : 'ctid';
    return `${id} = (SELECT ${sel} FROM ${name} WHERE ${conds.join(' AND ')} LIMIT 1)`;
  }
  const image = old && oldKind === 'key' ? old : newTuple;
  if (!image) throw bad(rel, 'a change without an old row image');
  const keyIdx = rel.columns.flatMap((c, i) => (c.key ? [i] : []));
  if (keyIdx.length === 0)
    throw bad(rel, `a change to a table without replica identity key (identity ${rel.replicaIdentity})`);
  const unchanged = new Set(image.unchanged ?? []);
  if (keyIdx.some((i) => unchanged.has(i))) throw bad(rel, 'a key column sent as unchanged TOAST');
  return keyIdx.map((i) => `${quoteIdent(rel.columns[i]!.name)} = ${param(image.values[i])}`).join(' AND ');
}

function padValues(rel: RelationInfo, tuple: TupleData): (string | null)[] {
  if (tuple.values.length !== rel.columns.length)
    throw bad(rel, `a row of ${tuple.values.length} values for ${rel.columns.length} columns`);
  return tuple.values.map((v) => v ?? null);
}

function bad(rel: RelationInfo, what: string): TidemarkError {
  return new TidemarkError(
    'RECORD_CORRUPT',
    `cannot replay ${what} on ${displayName(rel.schema, rel.table)}: the journal record is not something PostgreSQL can produce`,
    { details: { table: displayName(rel.schema, rel.table) } },
  );
}
