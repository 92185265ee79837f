import {
  type Change,
  type Lsn,
  MESSAGE_PREFIX,
  type SnapshotTable,
  type TransactionRecord,
} from '@tidemark/shared';
import {
  alterTableSql,
  createTableSql,
  dropTableSql,
  indexSql,
  keepDefault,
  type QualifiedName,
} from './ddl-diff.js';
import { type ColumnShape, type DdlMessage, parseDdlMessage, type TableShape } from './ddl-message.js';
import type { Statement, TargetTableInfo } from './sql-for-change.js';
import { displayName, tableKey } from './sql-ident.js';

/**
 * What the restore knows of the source's tables while it replays, kept in step with the
 * `tidemark.ddl` messages of the journal: each message becomes statements at its exact
 * place in commit order (ddl-diff.ts), and the table map the replay looks tables up in
 * (`tableInfo`, keyed by target name) follows: created, renamed and dropped tables, new
 * primary keys.
 *
 * Tables are known by their oid on the source. `targetOf` maps a source table to where it
 * goes (identity for a whole-database restore; a scoped restore's selection otherwise): a
 * table it leaves out gets no DDL, and a new table is created only where it maps. A known
 * table that is renamed keeps following its oid.
 *
 * Statements are computed once per message (memoized by the change object): a failed batch
 * is replayed once more to find the change at fault (change-applier.ts), from the state
 * before the batch, and must get the same statements although the state moved on.
 */
export type TargetOf = (schema: string, table: string) => QualifiedName | undefined;

export interface SchemaChangesOptions {
  /** the snapshot's tables, with their source names */
  readonly tables: readonly SnapshotTable[];
  /** the replay's table map, updated in place */
  readonly tableInfo: Map<string, TargetTableInfo>;
  readonly targetOf?: TargetOf;
}

interface Known {
  shape: TableShape;
  target: QualifiedName;
  /** its definition in the snapshot the replay started from; null for a table DDL created */
  readonly snapshot: SnapshotTable | null;
  /** a schema change described it (its shape then has the source's defaults, not the target's) */
  described: boolean;
}

/** A table as the replay left it, named as on the source (compaction-definitions.ts). */
export interface ReplayedTable {
  readonly shape: TableShape;
  readonly snapshot: SnapshotTable | null;
  /**
   * whether a schema change described it: its shape then is the source's definition; if
   * not, the snapshot's definition still holds, but for secondary indexes dropped since
   */
  readonly described: boolean;
}

type MessageChange = Extract<Change, { op: 'message' }>;

export interface SecondaryIndex {
  /** depth in its partition tree: deeper levels are built first */
  readonly level: number;
  readonly table: string;
  readonly name: string;
  /** undefined when the definition could not be pointed at the target table */
  readonly sql: string | undefined;
}

export class SchemaChanges {
  private readonly byOid = new Map<number, Known>();
  private readonly done = new WeakMap<MessageChange, readonly Statement[]>();
  private readonly messages = new WeakMap<MessageChange, DdlMessage>();
  /** display names (source and target, as in the snapshot) of snapshot tables DDL took over */
  private readonly touched = new Set<string>();
  private readonly tableInfo: Map<string, TargetTableInfo>;
  private readonly targetOf: TargetOf;

  constructor(opts: SchemaChangesOptions) {
    this.tableInfo = opts.tableInfo;
    this.targetOf = opts.targetOf ?? ((schema, table) => ({ schema, table }));
    for (const t of opts.tables) {
      const target = this.targetOf(t.schema, t.table);
      if (target) this.byOid.set(t.oid, { shape: fromSnapshot(t), target, snapshot: t, described: false });
    }
  }

  static isSchemaChange(change: Change): change is MessageChange {
    return change.op === 'message' && change.prefix === MESSAGE_PREFIX.ddl;
  }

  /**
   * The record's changes in the order to replay them: as journaled, except that a
   * `CREATE TABLE AS` / `SELECT INTO` message moves before the rows the command inserted.
   * Those rows are written while the command runs, and its `ddl_command_end` trigger fires
   * after them, so the journal has them before the table's description.
   */
  inReplayOrder(record: TransactionRecord): readonly Change[] {
    const { changes } = record;
    if (!changes.some((c) => SchemaChanges.isSchemaChange(c))) return changes;
    const out = [...changes];
    for (let j = 0; j < out.length; j++) {
      const c = out[j]!;
      if (!SchemaChanges.isSchemaChange(c)) continue;
      const msg = this.parsed(c);
      if (msg.event !== 'ddl_command_end' || !/^(CREATE TABLE AS|SELECT INTO)/.test(msg.tag)) continue;
      const created = new Set(msg.tables.map((t) => t.oid));
      let i = j;
      for (; i > 0; i--) {
        const before = out[i - 1]!;
        if (before.op !== 'insert' || !created.has(record.relations[before.rel]?.oid ?? -1)) break;
      }
      if (i < j) out.splice(i, 0, ...out.splice(j, 1));
    }
    return out;
  }

  /** The statements of one `tidemark.ddl` message; the first call also moves the state on. */
  statementsFor(change: MessageChange): readonly Statement[] {
    let out = this.done.get(change);
    if (!out) {
      out = this.apply(change);
      this.done.set(change, out);
    }
    return out;
  }

  /**
   * `CREATE INDEX` for every secondary index the tables have now, partitions before their
   * parents (a parent's index then attaches theirs); `sql` undefined when a definition could
   * not be pointed at the target table.
   */
  indexes(): SecondaryIndex[] {
    const depth = (k: Known): number => {
      let d = 0;
      for (let p = k.shape.partitionOf; p && d < 64; d++)
        p = this.bySourceName(p.schema, p.table)?.shape.partitionOf ?? null;
      return d;
    };
    const known = [...this.byOid.values()].sort((a, b) => depth(b) - depth(a));
    return known.flatMap((k) =>
      k.shape.indexes.map((x) => ({
        level: depth(k),
        table: displayName(k.target.schema, k.target.table),
        name: x.name,
        sql: indexSql(x, { schema: k.shape.schema, table: k.shape.name }, k.target),
      })),
    );
  }

  /**
   * Snapshot defaults still to set at the end: those of tables no schema change took over
   * (a schema change sets the defaults of its table itself), and nextval() defaults (left to
   * the end, after the snapshot's sequences) of columns that are still there and still
   * default to a sequence.
   */
  pendingDefaults<T extends { readonly table: string; readonly column: string; readonly sql: string }>(
    defaults: readonly T[],
  ): T[] {
    const now = new Map(
      [...this.byOid.values()].map((k) => [displayName(k.target.schema, k.target.table), k]),
    );
    return defaults.filter((d) => {
      if (!this.touched.has(d.table)) return true;
      if (!/\bnextval\s*\(/i.test(d.sql)) return false;
      const c = now.get(d.table)?.shape.columns.find((x) => x.name === d.column);
      return c !== undefined && c.default !== null && keepDefault(c.default) === null;
    });
  }

  /** The tables as the replay has left them (messages seen so far), snapshot order, then created ones. */
  replayedTables(): ReplayedTable[] {
    return [...this.byOid.values()].map((k) => ({
      shape: k.shape,
      snapshot: k.snapshot,
      described: k.described,
    }));
  }

  private parsed(change: MessageChange): DdlMessage {
    let msg = this.messages.get(change);
    if (!msg) {
      msg = parseDdlMessage(change.content);
      this.messages.set(change, msg);
    }
    return msg;
  }

  private apply(change: MessageChange): Statement[] {
    const msg = this.parsed(change);
    const out: Statement[] = [];
    const push = (sql: string[], what: string) => {
      for (const text of sql)
        out.push({ text, values: [], describe: `schema change (${msg.tag}) of ${what}` });
    };
    if (msg.event === 'sql_drop') {
      for (const d of msg.dropped) {
        const known = d.type === 'table' ? this.byOid.get(d.oid) : undefined;
        if (known) {
          push([dropTableSql(known.target)], displayName(known.target.schema, known.target.table));
          this.touch(known);
          this.forget(d.oid, known);
        } else if (d.type === 'index') {
          // indexes are built at the end from the final state: only the state changes
          for (const k of this.byOid.values())
            if (k.shape.schema === d.schema)
              k.shape = { ...k.shape, indexes: k.shape.indexes.filter((x) => x.name !== d.name) };
        }
      }
      return out;
    }
    for (const desired of msg.tables) {
      const known = this.byOid.get(desired.oid);
      if (known) {
        const target = this.renamedTarget(known, desired);
        push(
          alterTableSql(known.shape, known.target, desired, target),
          displayName(target.schema, target.table),
        );
        this.touch(known);
        this.tableInfo.delete(tableKey(known.target.schema, known.target.table));
        const before = known.shape;
        known.shape = desired;
        known.target = target;
        known.described = true;
        this.followParent(before, desired);
        this.refreshInfo(known);
      } else if (/^(CREATE TABLE|SELECT INTO)/.test(msg.tag)) {
        const target = this.targetOf(desired.schema, desired.name);
        if (!target) continue;
        const parent =
          desired.partitionOf && this.bySourceName(desired.partitionOf.schema, desired.partitionOf.table);
        if (desired.partitionOf && !parent) continue; // a partition of a table this restore leaves out
        push(
          createTableSql(
            desired,
            target,
            parent
              ? {
                  name: parent.target,
                  columns: parent.shape.columns,
                  hasPrimaryKey: (parent.shape.primaryKey ?? []).length > 0,
                }
              : undefined,
          ),
          displayName(target.schema, target.table),
        );
        const added: Known = { shape: desired, target, snapshot: null, described: true };
        this.byOid.set(desired.oid, added);
        this.refreshInfo(added);
      }
      // an ALTER of a table the restore does not know (unpublished, left out): nothing to do
    }
    return out;
  }

  /** Where a known table goes after a rename: where it maps, else beside where it was. */
  private renamedTarget(known: Known, desired: TableShape): QualifiedName {
    if (known.shape.schema === desired.schema && known.shape.name === desired.name) return known.target;
    const mapped = this.targetOf(desired.schema, desired.name);
    if (mapped) return mapped;
    const schemaMapped = known.target.schema !== known.shape.schema;
    return { schema: schemaMapped ? known.target.schema : desired.schema, table: desired.name };
  }

  /**
   * A change to a partitioned table reaches its partitions (columns, primary key), but the
   * message describes only the table the command named: the partitions' state follows here,
   * matched by name (a partition's columns are its parent's), so a later message about a
   * partition finds nothing left to do.
   */
  private followParent(before: TableShape, after: TableShape): void {
    if (after.kind !== 'partitioned') return;
    for (const k of this.byOid.values()) {
      const p = k.shape.partitionOf;
      if (!p || p.schema !== before.schema || p.table !== before.name) continue;
      const own = new Map(k.shape.columns.map((c) => [c.name, c]));
      const renamed = new Map<string, ColumnShape>();
      for (const c of before.columns) {
        const now = after.columns.find((x) => x.attnum !== undefined && x.attnum === c.attnum);
        if (now) renamed.set(now.name, own.get(c.name) ?? c);
      }
      const columns = after.columns.map((c): ColumnShape => {
        const was = renamed.get(c.name) ?? own.get(c.name);
        return {
          ...(c.typeOid === undefined ? {} : { typeOid: c.typeOid }),
          name: c.name,
          type: c.type,
          notNull: c.notNull || (was?.notNull ?? false),
          default: c.default,
        };
      });
      const before2 = k.shape;
      k.shape = {
        ...k.shape,
        columns,
        primaryKey: after.primaryKey,
        partitionOf: { ...p, schema: after.schema, table: after.name },
      };
      k.described = true;
      this.followParent(before2, k.shape);
      this.refreshInfo(k);
    }
  }

  private forget(oid: number, known: Known): void {
    this.byOid.delete(oid);
    this.tableInfo.delete(tableKey(known.target.schema, known.target.table));
  }

  private touch(known: Known): void {
    this.touched.add(displayName(known.shape.schema, known.shape.name));
    this.touched.add(displayName(known.target.schema, known.target.table));
  }

  private bySourceName(schema: string, table: string): Known | undefined {
    for (const k of this.byOid.values()) if (k.shape.schema === schema && k.shape.name === table) return k;
    return undefined;
  }

  private refreshInfo(k: Known): void {
    let root: Known | undefined;
    for (let p = k.shape.partitionOf, d = 0; p && d < 64; d++) {
      root = this.bySourceName(p.schema, p.table);
      p = root?.shape.partitionOf ?? null;
    }
    if (!root && k.shape.kind === 'partitioned') root = k;
    const info: TargetTableInfo = { kind: k.shape.kind, primaryKey: k.shape.primaryKey };
    this.tableInfo.set(
      tableKey(k.target.schema, k.target.table),
      root ? { ...info, partitionRoot: tableKey(root.target.schema, root.target.table) } : info,
    );
  }
}

/** A snapshot table as the target has it during replay: defaults are set only at the end. */
function fromSnapshot(t: SnapshotTable): TableShape {
  return {
    oid: t.oid,
    schema: t.schema,
    name: t.table,
    kind: t.kind,
    replicaIdentity: t.replicaIdentity,
    partitionKey: t.partitionKey,
    partitionOf: t.partitionOf,
    columns: t.columns.map((c) => ({
      ...(c.attnum === undefined ? {} : { attnum: c.attnum }),
      name: c.name,
      type: c.type,
      typeOid: c.typeOid,
      notNull: c.notNull,
      default: null,
    })),
    primaryKey: t.primaryKey,
    indexes: t.indexes ?? [],
  };
}

/**
 * The schema changes of a restore: tables as the source named them (`sourceTables`, the
 * snapshot before any table selection) that the restore builds (`loadedTables`, by oid).
 * A loaded table that came without its indexes (a scoped restore leaves some out) gets
 * none here either.
 */
export function schemaChangesFor(
  sourceTables: readonly SnapshotTable[],
  loadedTables: readonly SnapshotTable[],
  tableInfo: Map<string, TargetTableInfo>,
  targetOf?: TargetOf,
): SchemaChanges {
  const loaded = new Map(loadedTables.map((t) => [t.oid, t]));
  const tables = sourceTables.flatMap((t) => {
    const l = loaded.get(t.oid);
    if (!l) return [];
    return l.indexes ? [t] : [{ ...t, indexes: [] }];
  });
  return new SchemaChanges({ tables, tableInfo, ...(targetOf ? { targetOf } : {}) });
}

/**
 * For a resumed replay: entries up to `upTo` are already in the target, schema changes
 * included, so their messages only move the state on (their statements are not run).
 */
export async function* absorbSchemaChanges<E extends { readonly record: TransactionRecord }>(
  entries: AsyncIterable<E>,
  changes: SchemaChanges,
  upTo: Lsn,
): AsyncGenerator<E> {
  for await (const entry of entries) {
    if (entry.record.commitLsn <= upTo)
      for (const c of entry.record.changes) if (SchemaChanges.isSchemaChange(c)) changes.statementsFor(c);
    yield entry;
  }
}
