import type { Change, RelationInfo, TupleData } from '@tidemark/shared';
import type { Statement, TargetTableInfo } from './sql-for-change.js';
import { displayName, qualifiedName, quoteIdent, sqlLiteral } from './sql-ident.js';

/**
 * One statement for a run of changes of the same shape to one table, values inlined as
 * literals. Pure.
 *
 * Merging changes is exact only where their order cannot matter: the rows are found by
 * the target's primary key (so each key finds at most one row, and the affected-row count
 * tells whether every key found its row), no key appears twice in a run, and no update
 * changes its key (rows do not move between keys, so no unique check can depend on the
 * order in which the statement visits them). The target has no other constraint, trigger
 * or index that could tell the orders apart. `primaryKeyMatch` decides; anything it turns
 * down goes as its own statement (sql-for-change.ts).
 *
 * A VALUES list on its own has no column types (untyped literals would become text), so
 * its first row is `(NULL::"s"."t")."col"`: a NULL of exactly the column's type, from the
 * table's row type, with no type name to rebuild. The other rows' literals then go
 * through that type's input function, like an untyped parameter; a NULL key matches no
 * row, so the typing row changes nothing.
 */
export type KeyedChange = Extract<Change, { op: 'update' | 'delete' }>;

export interface KeyMatch {
  /** column indexes of the primary key, in the target's key order */
  readonly cols: readonly number[];
  /** their values in the image that finds the row */
  readonly values: readonly string[];
}

/**
 * The primary-key values that find the change's row, when the single-row statement would
 * find it by exactly those (see rowMatch in sql-for-change.ts); undefined otherwise, and
 * for an update that changes the key.
 */
export function primaryKeyMatch(
  rel: RelationInfo,
  change: KeyedChange,
  target: TargetTableInfo | undefined,
): KeyMatch | undefined {
  const pk = target?.primaryKey;
  if (!pk || pk.length === 0) return undefined;
  const cols = pk.map((name) => rel.columns.findIndex((c) => c.name === name));
  if (cols.some((i) => i < 0)) return undefined;
  let image: TupleData | undefined;
  if (change.old && change.oldKind === 'full') image = change.old;
  else {
    const identity = rel.columns.flatMap((c, i) => (c.key ? [i] : []));
    if (identity.length !== cols.length || !identity.every((i) => cols.includes(i))) return undefined;
    image =
      change.old && change.oldKind === 'key' ? change.old : change.op === 'update' ? change.new : undefined;
  }
  if (!image) return undefined;
  const values: string[] = [];
  for (const i of cols) {
    const v = image.values[i];
    if (v == null || image.unchanged?.includes(i)) return undefined;
    values.push(v);
  }
  if (change.op === 'update') {
    const unchanged = change.new.unchanged ?? [];
    if (cols.some((i, k) => unchanged.includes(i) || change.new.values[i] !== values[k])) return undefined;
  }
  return { cols, values };
}

/** Column indexes an update sets: all but unchanged TOAST values (as in updateSql). */
export function setColumns(rel: RelationInfo, change: Extract<Change, { op: 'update' }>): number[] {
  const unchanged = new Set(change.new.unchanged ?? []);
  return rel.columns.flatMap((_, i) => (unchanged.has(i) ? [] : [i]));
}

/** `INSERT INTO t (cols) VALUES (...), (...)`: rows are complete, one value per column. */
export function insertRowsSql(rel: RelationInfo, rows: readonly (readonly (string | null)[])[]): Statement {
  const cols = rel.columns.map((c) => quoteIdent(c.name)).join(', ');
  return {
    text: `INSERT INTO ${qualifiedName(rel.schema, rel.table)} (${cols}) VALUES ${valueRows(rows)}`,
    values: [],
    describe: `insert into ${displayName(rel.schema, rel.table)}`,
  };
}

/**
 * Updates of rows found by primary key that set the same columns. `cols` are the set
 * columns (they include the key columns, whose values are the match values: the key does
 * not change), `rows` their new values.
 */
export function updateRunSql(
  rel: RelationInfo,
  cols: readonly number[],
  keyCols: readonly number[],
  rows: readonly (readonly (string | null)[])[],
): Statement {
  const sets = cols.map((i, k) => `${quoteIdent(col(rel, i))} = tm_v.c${k + 1}`);
  return {
    text: `UPDATE ${qualifiedName(rel.schema, rel.table)} AS tm_t SET ${sets.join(', ')} FROM ${typedValues(rel, cols, rows)} WHERE ${joinOn(rel, cols, keyCols)}`,
    values: [],
    expectRows: rows.length,
    describe: `update of ${displayName(rel.schema, rel.table)} (${rows.length} rows by primary key)`,
  };
}

/** Deletes of rows found by primary key; `keys` are the key values, in `keyCols` order. */
export function deleteRunSql(
  rel: RelationInfo,
  keyCols: readonly number[],
  keys: readonly (readonly (string | null)[])[],
): Statement {
  return {
    text: `DELETE FROM ${qualifiedName(rel.schema, rel.table)} AS tm_t USING ${typedValues(rel, keyCols, keys)} WHERE ${joinOn(rel, keyCols, keyCols)}`,
    values: [],
    expectRows: keys.length,
    describe: `delete from ${displayName(rel.schema, rel.table)} (${keys.length} rows by primary key)`,
  };
}

function typedValues(
  rel: RelationInfo,
  cols: readonly number[],
  rows: readonly (readonly (string | null)[])[],
): string {
  const rowType = qualifiedName(rel.schema, rel.table);
  const typing = cols.map((i) => `(NULL::${rowType}).${quoteIdent(col(rel, i))}`).join(', ');
  const aliases = cols.map((_, k) => `c${k + 1}`).join(', ');
  return `(VALUES (${typing}), ${valueRows(rows)}) AS tm_v (${aliases})`;
}

function joinOn(rel: RelationInfo, cols: readonly number[], keyCols: readonly number[]): string {
  return keyCols.map((i) => `tm_t.${quoteIdent(col(rel, i))} = tm_v.c${cols.indexOf(i) + 1}`).join(' AND ');
}

function valueRows(rows: readonly (readonly (string | null)[])[]): string {
  let out = '';
  for (const row of rows) {
    if (out.length > 0) out += ', ';
    out += '(';
    for (let i = 0; i < row.length; i++) out += (i > 0 ? ', ' : '') + sqlLiteral(row[i] ?? null);
    out += ')';
  }
  return out;
}

function col(rel: RelationInfo, i: number): string {
  const c = rel.columns[i];
  if (!c) throw new RangeError(`column #${i} of ${displayName(rel.schema, rel.table)} does not exist`);
  return c.name;
}
