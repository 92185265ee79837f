import type { ReplicaIdentity, SnapshotIndex } from '@tidemark/shared';
import { TidemarkError } from '@tidemark/shared';

/**
 * The content of a `tidemark.ddl` logical message, as the source's event triggers write it
 * (services/capture/src/ddl-capture-sql.ts), parsed and checked. Pure.
 *
 * `ddl_command_end` describes every table a command touched as it is AFTER the command;
 * `sql_drop` lists the tables and indexes it dropped. Neither carries SQL to re-run: the
 * restore diffs the described state against what it knows (ddl-diff.ts).
 */
export interface ColumnShape {
  /** identity of the column across renames; absent for columns known from an old manifest */
  readonly attnum?: number;
  readonly name: string;
  /** format_type() on the source */
  readonly type: string;
  /** pg_attribute.atttypid on the source; absent where a description did not carry it */
  readonly typeOid?: number;
  readonly notNull: boolean;
  readonly default: string | null;
}

export interface TableShape {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly kind: 'table' | 'partitioned';
  readonly replicaIdentity: ReplicaIdentity;
  readonly partitionKey: string | null;
  readonly partitionOf: { readonly schema: string; readonly table: string; readonly bound: string } | null;
  readonly columns: readonly ColumnShape[];
  readonly primaryKey: readonly string[] | null;
  readonly indexes: readonly SnapshotIndex[];
}

export interface DroppedObject {
  readonly type: 'table' | 'index';
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
}

export type DdlMessage =
  | {
      readonly event: 'ddl_command_end';
      readonly tag: string;
      readonly tables: readonly TableShape[];
      readonly statement: string | null;
    }
  | {
      readonly event: 'sql_drop';
      readonly tag: string;
      readonly dropped: readonly DroppedObject[];
      readonly statement: string | null;
    };

const IDENTITIES = new Set(['default', 'nothing', 'full', 'index']);

export function parseDdlMessage(content: Uint8Array): DdlMessage {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(content));
  } catch (err) {
    throw malformed('it is not UTF-8 JSON', err);
  }
  if (!isObject(value) || value.version !== 1) throw malformed('its version is not 1');
  const tag = str(value.tag, 'tag');
  const statement = typeof value.statement === 'string' ? value.statement : null;
  if (value.event === 'ddl_command_end') {
    if (!Array.isArray(value.tables)) throw malformed('tables is not an array');
    return { event: 'ddl_command_end', tag, statement, tables: value.tables.map(tableShape) };
  }
  if (value.event === 'sql_drop') {
    if (!Array.isArray(value.dropped)) throw malformed('dropped is not an array');
    const dropped = value.dropped.map((d: unknown): DroppedObject => {
      if (!isObject(d) || (d.type !== 'table' && d.type !== 'index'))
        throw malformed('a dropped object is invalid');
      return {
        type: d.type,
        oid: num(d.oid, 'dropped oid'),
        schema: str(d.schema, 'schema'),
        name: str(d.name, 'name'),
      };
    });
    return { event: 'sql_drop', tag, statement, dropped };
  }
  throw malformed(`event ${JSON.stringify(value.event)} is unknown`);
}

function tableShape(t: unknown): TableShape {
  if (!isObject(t)) throw malformed('a table is not an object');
  const kind = t.kind === 'partitioned' ? 'partitioned' : 'table';
  const identity = typeof t.replicaIdentity === 'string' && IDENTITIES.has(t.replicaIdentity);
  if (!Array.isArray(t.columns) || !Array.isArray(t.indexes))
    throw malformed('columns or indexes are missing');
  const p = t.partitionOf;
  return {
    oid: num(t.oid, 'oid'),
    schema: str(t.schema, 'schema'),
    name: str(t.name, 'name'),
    kind,
    replicaIdentity: identity ? (t.replicaIdentity as ReplicaIdentity) : 'default',
    partitionKey: typeof t.partitionKey === 'string' ? t.partitionKey : null,
    partitionOf: isObject(p)
      ? {
          schema: str(p.schema, 'partitionOf.schema'),
          table: str(p.table, 'partitionOf.table'),
          bound: str(p.bound, 'bound'),
        }
      : null,
    columns: t.columns.map((c: unknown): ColumnShape => {
      if (!isObject(c)) throw malformed('a column is not an object');
      if (c.default !== null && typeof c.default !== 'string') throw malformed('a column default is invalid');
      return {
        attnum: num(c.attnum, 'attnum'),
        name: str(c.name, 'column name'),
        type: str(c.type, 'column type'),
        ...(typeof c.typeOid === 'number' && Number.isInteger(c.typeOid) ? { typeOid: c.typeOid } : {}),
        notNull: c.notNull === true,
        default: c.default,
      };
    }),
    primaryKey: Array.isArray(t.primaryKey) ? t.primaryKey.map((k: unknown) => str(k, 'primaryKey')) : null,
    indexes: t.indexes.map((x: unknown): SnapshotIndex => {
      if (!isObject(x)) throw malformed('an index is not an object');
      return { name: str(x.name, 'index name'), definition: str(x.definition, 'index definition') };
    }),
  };
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw malformed(`${what} is missing`);
  return v;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw malformed(`${what} is not an integer`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function malformed(what: string, cause?: unknown): TidemarkError {
  return new TidemarkError(
    'RECORD_CORRUPT',
    `a schema change (tidemark.ddl message) in the journal is malformed: ${what}`,
    {
      cause,
    },
  );
}
