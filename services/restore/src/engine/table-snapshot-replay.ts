import {
  type Change,
  type KeyProvider,
  type ObjectStore,
  parseTableSnapshotMarker,
  type RelationInfo,
  TABLE_SNAPSHOT_MESSAGE_PREFIX,
  type TableSnapshotManifest,
  TidemarkError,
} from '@tidemark/shared';
import type pg from 'pg';
import type { EngineLogger } from './engine-logger.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { tableKey } from './sql-ident.js';
import { readTableSnapshot, replaceTable } from './table-snapshot-loader.js';

/**
 * Per-table snapshots during replay (core/table-snapshot.ts): at a marker the replay
 * stops writing (a barrier, like a schema change), the table is replaced by its snapshot
 * inside the batch's transaction, and the replay's table map learns it, so the changes
 * after the marker apply to it. A restore of selected tables leaves markers alone (they
 * then play no part, as before): table snapshots are not mapped to renamed targets yet.
 */
type MessageChange = Extract<Change, { op: 'message' }>;

export interface TableSnapshotReplayOptions {
  readonly store: ObjectStore;
  readonly source: string;
  readonly keys?: KeyProvider | undefined;
  /** the replay's table map, updated in place */
  readonly tableInfo: Map<string, TargetTableInfo>;
  readonly logger?: EngineLogger;
}

export class TableSnapshotReplay {
  /** manifests by prefix: a failed batch is replayed once more, and must not read them again */
  private readonly manifests = new Map<string, TableSnapshotManifest>();
  /** tables whose changes were skipped while waiting for their table snapshot */
  private readonly waiting = new Map<string, string>();

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
    const marker = parseTableSnapshotMarker(change.content, this.opts.source);
    if (!marker)
      throw new TidemarkError(
        'RECORD_CORRUPT',
        `a ${TABLE_SNAPSHOT_MESSAGE_PREFIX} message of source ${this.opts.source} is malformed`,
        { details: { kind: 'table-snapshot-marker' } },
      );
    let snapshot = this.manifests.get(marker.prefix);
    if (!snapshot) {
      snapshot = await readTableSnapshot(this.opts.store, marker);
      this.manifests.set(marker.prefix, snapshot);
    }
    const table = snapshot.table;
    let rows = 0;
    await barrier(async (client) => {
      rows = await replaceTable(client, this.opts.store, snapshot, this.opts.keys);
    });
    this.waiting.delete(tableKey(table.schema, table.table));
    this.opts.tableInfo.set(tableKey(table.schema, table.table), {
      kind: table.kind,
      primaryKey: table.primaryKey,
    });
    this.opts.logger?.info({ table: `${table.schema}.${table.table}`, rows }, 'table snapshot loaded');
  }
}
