import { formatLsn, type RelationInfo, TidemarkError, type TransactionRecord } from '@tidemark/shared';
import type pg from 'pg';
import type { JournalEntry } from './journal-reader.js';
import { SchemaChanges } from './schema-changes.js';
import {
  type DmlChange,
  deleteSql,
  insertSql,
  type Statement,
  type TargetTableInfo,
  truncateSql,
  updateSql,
} from './sql-for-change.js';
import { displayName, tableKey } from './sql-ident.js';
import type { StatementRunner } from './statement-runner.js';
import { TableSnapshotReplay } from './table-snapshot-replay.js';

/**
 * Turns one journal record into calls on a ChangeSink, which either batches them
 * (ChangeRuns, the fast path) or runs each on its own (OneByOne, which finds the exact
 * change at fault after a batch failed; see change-applier.ts).
 */
export interface ChangeSink {
  /** may finish synchronously (undefined): replay of a large record then costs no await per change */
  dml(rel: RelationInfo, change: DmlChange, target: TargetTableInfo | undefined): Promise<void> | undefined;
  /** a statement that must run on its own, in order (truncate) */
  statement(stmt: Statement): Promise<void>;
  /** writes everything queued, then runs `action` on the connection, in order (a table snapshot) */
  barrier(action: (client: pg.Client) => Promise<void>): Promise<void>;
}

export async function replayRecord(
  record: TransactionRecord,
  tables: ReadonlyMap<string, TargetTableInfo>,
  sink: ChangeSink,
  /** applies `tidemark.ddl` messages in place (statements through the sink, in order); absent: they are skipped */
  schemaChanges?: SchemaChanges,
  /** loads per-table snapshots at their markers; absent: markers are skipped */
  tableSnapshots?: TableSnapshotReplay,
): Promise<void> {
  // a record names few relations and changes them many times: look each up once
  const resolved: (readonly [RelationInfo, TargetTableInfo | undefined])[] = [];
  const relation = (i: number) => {
    let r = resolved[i];
    if (!r) {
      const rel = relationAt(record, i, tables);
      r = [rel, tables.get(tableKey(rel.schema, rel.table))];
      resolved[i] = r;
    }
    return r;
  };
  // a table the replay does not know yet may get a table snapshot later, which replaces all
  // of it: its changes wait for that (table-snapshot-replay.ts decides, and fails at the end)
  const deferred = (i: number): boolean => {
    const rel = record.relations[i];
    return (
      tableSnapshots !== undefined &&
      rel !== undefined &&
      !tables.has(tableKey(rel.schema, rel.table)) &&
      tableSnapshots.defer(rel)
    );
  };
  for (const change of schemaChanges ? schemaChanges.inReplayOrder(record) : record.changes) {
    if (change.op === 'message') {
      // heartbeats, restore points: nothing to apply; a schema change is a barrier in the batch
      if (schemaChanges && SchemaChanges.isSchemaChange(change)) {
        for (const stmt of schemaChanges.statementsFor(change)) await sink.statement(stmt);
        resolved.length = 0; // the table map may have changed
      } else if (tableSnapshots && TableSnapshotReplay.isMarker(change)) {
        await tableSnapshots.apply(change, (action) => sink.barrier(action));
        resolved.length = 0;
      }
      continue;
    }
    if (change.op === 'truncate') {
      const rels = change.rels.filter((r) => !deferred(r)).map((r) => relation(r)[0]);
      if (rels.length > 0) await sink.statement(truncateSql(rels, change.cascade, change.restartIdentity));
      continue;
    }
    if (deferred(change.rel)) continue;
    const [rel, target] = relation(change.rel);
    const pending = sink.dml(rel, change, target);
    if (pending) await pending;
  }
}

/** One prepared statement and one round trip per change, each checked as it runs. */
export class OneByOne implements ChangeSink {
  constructor(private readonly exec: StatementRunner) {}

  async dml(rel: RelationInfo, change: DmlChange, target: TargetTableInfo | undefined): Promise<void> {
    if (change.op === 'insert') await this.exec.run(insertSql(rel, change.new));
    else if (change.op === 'update') await this.exec.run(updateSql(rel, change, target));
    else await this.exec.run(deleteSql(rel, change, target));
  }

  async statement(stmt: Statement): Promise<void> {
    await this.exec.run(stmt);
  }

  async barrier(action: (client: pg.Client) => Promise<void>): Promise<void> {
    await action(this.exec.client);
  }
}

function relationAt(
  record: TransactionRecord,
  index: number,
  tables: ReadonlyMap<string, TargetTableInfo>,
): RelationInfo {
  const rel = record.relations[index];
  if (!rel)
    throw new TidemarkError(
      'RECORD_CORRUPT',
      `a change names relation #${index}, which the record does not describe`,
    );
  if (!tables.has(tableKey(rel.schema, rel.table)))
    throw new TidemarkError(
      'RESTORE_FAILED',
      `the journal changes table ${displayName(rel.schema, rel.table)}, which is not in the base snapshot and no captured schema change created it (created before \`tidemark install\` put the DDL capture into the source?)`,
      { details: { table: displayName(rel.schema, rel.table) } },
    );
  return rel;
}

/** The error of one change, naming its transaction, segment, offset and commit LSN. */
export function withRecordContext(err: unknown, entry: JournalEntry): TidemarkError {
  const where = {
    segmentKey: entry.segmentKey,
    offset: entry.offset,
    commitLsn: formatLsn(entry.record.commitLsn),
    xid: entry.record.xid,
  };
  const at = `transaction ${entry.record.xid} (commit LSN ${where.commitLsn}, segment ${entry.segmentKey} offset ${entry.offset})`;
  return withContext(err, at, where);
}

/**
 * The error of a batch when the change at fault could not be told (the connection broke,
 * or replaying the batch one change at a time did not fail again).
 */
export function withBatchContext(err: unknown, entries: readonly JournalEntry[]): TidemarkError {
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (!first || !last) return withContext(err, 'an empty batch', {});
  if (first === last) return withRecordContext(err, first);
  const where = {
    segmentKey: first.segmentKey,
    offset: first.offset,
    commitLsn: formatLsn(first.record.commitLsn),
    lastCommitLsn: formatLsn(last.record.commitLsn),
  };
  const at = `one of the ${entries.length} transactions from commit LSN ${where.commitLsn} (segment ${first.segmentKey} offset ${first.offset}) to ${where.lastCommitLsn} (segment ${last.segmentKey} offset ${last.offset})`;
  return withContext(err, at, where);
}

function withContext(err: unknown, at: string, where: Record<string, unknown>): TidemarkError {
  if (err instanceof TidemarkError)
    return new TidemarkError(err.code, `${err.message} — at ${at}`, {
      cause: err,
      details: { ...err.details, ...where },
    });
  const sqlState = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new TidemarkError('RESTORE_FAILED', `replaying ${at} failed: ${message}`, {
    cause: err,
    details: { ...where, sqlState },
  });
}
