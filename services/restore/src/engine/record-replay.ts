import { formatLsn, type RelationInfo, TidemarkError, type TransactionRecord } from '@tidemark/shared';
import type { JournalEntry } from './journal-reader.js';
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
}

export async function replayRecord(
  record: TransactionRecord,
  tables: ReadonlyMap<string, TargetTableInfo>,
  sink: ChangeSink,
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
  for (const change of record.changes) {
    if (change.op === 'message') continue; // heartbeats, restore points: nothing to apply
    if (change.op === 'truncate') {
      const rels = change.rels.map((r) => relation(r)[0]);
      await sink.statement(truncateSql(rels, change.cascade, change.restartIdentity));
      continue;
    }
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
      `the journal changes table ${displayName(rel.schema, rel.table)}, which is not in the base snapshot (tables created after the snapshot cannot be replayed yet)`,
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
