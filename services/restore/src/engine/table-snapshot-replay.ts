import {
  type Change,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  parseTableSnapshotMarker,
  type RelationInfo,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TableSnapshotManifest,
  TidemarkError,
  type TransactionRecord,
} from '@tidemark/shared';
import type pg from 'pg';
import type { EngineLogger } from './engine-logger.js';
import { formatQualifiedName, type QualifiedName } from './restore-scope.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { tableKey } from './sql-ident.js';
import { readTableSnapshot, replaceTable } from './table-snapshot-loader.js';

/**
 * Per-table snapshots during replay (core/table-snapshot.ts): at a marker the replay
 * stops writing (a barrier, like a schema change), the table is replaced by its snapshot
 * inside the batch's transaction, and the replay's table map learns it, so the changes
 * after the marker apply to it. A restore of selected tables (`targetOf`) applies only the
 * markers of tables it builds, under their target names (a schema restore's schema), and
 * skips the others; a listed table that only a marker creates (`required`, late-tables.ts)
 * must have met its marker by the end.
 *
 * A resumed replay (restore-resume.ts) does not read again what the target already holds:
 * markers at or before the resume LSN are `absorb`ed — the table map learns their tables,
 * which the target has, and nothing is replaced (absorbTableSnapshots).
 */
type MessageChange = Extract<Change, { op: 'message' }>;

export interface TableSnapshotReplayOptions {
  readonly store: ObjectStore;
  readonly source: string;
  readonly keys?: KeyProvider | undefined;
  /** the replay's table map, updated in place */
  readonly tableInfo: Map<string, TargetTableInfo>;
  readonly logger?: EngineLogger;
  /** a table restore: where a source table goes, undefined for a table it leaves out (table-selection.ts) */
  readonly targetOf?: (schema: string, table: string) => QualifiedName | undefined;
  /** target names of listed tables only a marker creates: the restore fails without their marker */
  readonly required?: readonly QualifiedName[];
}

export class TableSnapshotReplay {
  /** manifests by prefix: a failed batch is replayed once more, and must not read them again */
  private readonly manifests = new Map<string, TableSnapshotManifest>();
  /** tables whose changes were skipped while waiting for their table snapshot */
  private readonly waiting = new Map<string, string>();
  /** target keys of tables a marker created (or, resumed, had created) */
  private readonly created = new Set<string>();

  constructor(private readonly opts: TableSnapshotReplayOptions) {}

  /**
   * A change to a table the replay does not know: skipped, because a table snapshot later
   * in the journal replaces the whole table (capture takes one for every table that joins
   * the publication after the base snapshot). `assertComplete` fails the restore if none came.
   */
  defer(rel: RelationInfo): boolean {
    const key = tableKey(rel.schema, rel.table);
    if (!this.waiting.has(key)) this.waiting.set(key, `${rel.schema}.${rel.table}`);
    return true;
  }

  /** Throws RESTORE_FAILED naming the tables whose changes were skipped and never got a table snapshot. */
  assertComplete(): void {
    const missing = (this.opts.required ?? []).filter((n) => !this.created.has(tableKey(n.schema, n.table)));
    if (missing.length > 0) {
      const names = missing.map(formatQualifiedName);
      throw new TidemarkError(
        'UNKNOWN_TABLE',
        `${names.length === 1 ? 'table' : 'tables'} ${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not in the source at the target instant: ` +
          `${names.length === 1 ? 'it' : 'they'} joined the publication after the snapshot and ${names.length === 1 ? 'its' : 'their'} table snapshot comes after the target; ` +
          'restore to a later instant, or leave them out',
        { details: { field: 'tables', unknown: names } },
      );
    }
    if (this.waiting.size === 0) return;
    const names = [...this.waiting.values()];
    throw new TidemarkError(
      'RESTORE_FAILED',
      `the journal changes ${names.length === 1 ? 'table' : 'tables'} ${names.join(', ')}, which ${names.length === 1 ? 'is' : 'are'} not in the base snapshot and ` +
        'got no table snapshot before the restore target (tables created after the snapshot need DDL capture, `tidemark install`, or a table snapshot)',
      { details: { tables: names } },
    );
  }

  static isMarker(change: Change): change is MessageChange {
    return change.op === 'message' && change.prefix === TABLE_SNAPSHOT_MESSAGE_PREFIX;
  }

  /** `barrier` writes everything queued before the marker, then runs the action on the replay's connection. */
  async apply(
    change: MessageChange,
    barrier: (action: (client: pg.Client) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const snapshot = await this.snapshotAt(change);
    if (!snapshot) return;
    const table = snapshot.table;
    let rows = 0;
    await barrier(async (client) => {
      rows = await replaceTable(client, this.opts.store, snapshot, this.opts.keys);
    });
    this.learn(snapshot);
    this.opts.logger?.info({ table: `${table.schema}.${table.table}`, rows }, 'table snapshot loaded');
  }

  /** A marker the target already holds (a resumed replay): the table map learns its table, nothing is loaded. */
  async absorb(change: MessageChange): Promise<void> {
    const snapshot = await this.snapshotAt(change);
    if (snapshot) this.learn(snapshot);
  }

  /** The marker's table snapshot under its target name; undefined when the restore leaves that table out. */
  private async snapshotAt(change: MessageChange): Promise<TableSnapshotManifest | undefined> {
    const marker = parseTableSnapshotMarker(change.content, this.opts.source);
    if (!marker)
      throw new TidemarkError(
        'RECORD_CORRUPT',
        `a ${TABLE_SNAPSHOT_MESSAGE_PREFIX} message of source ${this.opts.source} is malformed`,
        { details: { kind: 'table-snapshot-marker' } },
      );
    const { targetOf } = this.opts;
    const target = targetOf ? targetOf(marker.schema, marker.table) : marker;
    if (!target) return undefined;
    let snapshot = this.manifests.get(marker.prefix);
    if (!snapshot) {
      snapshot = renamed(await readTableSnapshot(this.opts.store, marker), target, targetOf);
      this.manifests.set(marker.prefix, snapshot);
    }
    return snapshot;
  }

  private learn(snapshot: TableSnapshotManifest): void {
    const table = snapshot.table;
    const key = tableKey(table.schema, table.table);
    this.waiting.delete(key);
    this.created.add(key);
    this.opts.tableInfo.set(key, { kind: table.kind, primaryKey: table.primaryKey });
  }
}

/**
 * The table snapshot as a table restore builds it: under its target name, its parent
 * renamed too (none when the restore leaves the parent out), without secondary indexes
 * (replaceTable builds none) or nextval() defaults (replaceTable sets no defaults).
 */
function renamed(
  snapshot: TableSnapshotManifest,
  target: QualifiedName,
  targetOf: TableSnapshotReplayOptions['targetOf'],
): TableSnapshotManifest {
  if (!targetOf) return snapshot;
  const t = snapshot.table;
  const parent = t.partitionOf ? targetOf(t.partitionOf.schema, t.partitionOf.table) : undefined;
  return {
    ...snapshot,
    table: {
      ...t,
      schema: target.schema,
      table: target.table,
      partitionOf: t.partitionOf && parent ? { ...parent, bound: t.partitionOf.bound } : null,
    },
  };
}

/**
 * For a resumed replay: entries up to `upTo` are in the target, the tables their markers
 * created included; their markers are absorbed (see above), and every entry passes on.
 */
export async function* absorbTableSnapshots<E extends { readonly record: TransactionRecord }>(
  entries: AsyncIterable<E>,
  replay: TableSnapshotReplay,
  upTo: Lsn,
): AsyncGenerator<E> {
  for await (const entry of entries) {
    if (entry.record.commitLsn <= upTo)
      for (const c of entry.record.changes) if (TableSnapshotReplay.isMarker(c)) await replay.absorb(c);
    yield entry;
  }
}
