import {
  formatLsn,
  formatTimestampMicros,
  type Lsn,
  type MicrosSinceEpoch,
  type RelationInfo,
  TidemarkError,
  type TransactionRecord,
} from '@tidemark/shared';
import type pg from 'pg';
import { InsertRun } from './insert-run.js';
import type { JournalEntry } from './journal-reader.js';
import { isPastTarget, type StopRule } from './restore-target.js';
import { deleteSql, type TargetTableInfo, truncateSql, updateSql } from './sql-for-change.js';
import { displayName, tableKey } from './sql-ident.js';
import { StatementRunner } from './statement-runner.js';

/**
 * Replays journal records into the target, in batches: each batch is one target
 * transaction holding whole source transactions (a source transaction is never split, so
 * an interruption leaves the target at a real state of the source) and the progress row
 * that says how far it got — committed together, so resuming from the progress row is
 * exact.
 */
export interface ApplyOptions {
  readonly client: pg.Client;
  readonly restoreId: string;
  readonly entries: AsyncIterable<JournalEntry>;
  readonly stopRule: StopRule;
  /** target tables by tableKey(schema, table), from the snapshot manifest */
  readonly tables: ReadonlyMap<string, TargetTableInfo>;
  readonly maxChangesPerBatch?: number;
  readonly maxTransactionsPerBatch?: number;
  /** runs of at least this many inserts go through COPY, shorter ones are INSERTs */
  readonly copyMinRows?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ApplyProgress) => void;
}

export interface ApplyProgress {
  readonly transactions: number;
  readonly changes: number;
  readonly lastCommitLsn?: Lsn;
  readonly lastCommitTime?: MicrosSinceEpoch;
}

export interface ApplyResult extends ApplyProgress {
  /** true when replay ended at a record past the target, false when the journal ran out */
  readonly stoppedAtTarget: boolean;
}

export const PROGRESS_DDL = [
  'CREATE SCHEMA IF NOT EXISTS _tidemark',
  `CREATE TABLE IF NOT EXISTS _tidemark.restore_progress (
     restore_id text PRIMARY KEY, last_commit_lsn text, last_commit_time text,
     transactions bigint NOT NULL, changes bigint NOT NULL)`,
];

const UPSERT_PROGRESS = `INSERT INTO _tidemark.restore_progress
  (restore_id, last_commit_lsn, last_commit_time, transactions, changes) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (restore_id) DO UPDATE SET last_commit_lsn = EXCLUDED.last_commit_lsn,
  last_commit_time = EXCLUDED.last_commit_time, transactions = EXCLUDED.transactions, changes = EXCLUDED.changes`;

export async function applyJournal(opts: ApplyOptions): Promise<ApplyResult> {
  const { client } = opts;
  const maxChanges = opts.maxChangesPerBatch ?? 5000;
  const maxTransactions = opts.maxTransactionsPerBatch ?? 500;
  for (const sql of PROGRESS_DDL) await client.query(sql);
  const exec = new StatementRunner(client);
  const run = new InsertRun(client, exec, opts.copyMinRows ?? 8);
  let total: ApplyProgress = { transactions: 0, changes: 0 };
  let batch = { transactions: 0, changes: 0 };
  let open = false;
  let stoppedAtTarget = false;
  const commit = async (): Promise<void> => {
    await run.flush();
    await client.query(UPSERT_PROGRESS, [
      opts.restoreId,
      total.lastCommitLsn === undefined ? null : formatLsn(total.lastCommitLsn),
      total.lastCommitTime === undefined ? null : formatTimestampMicros(total.lastCommitTime),
      String(total.transactions),
      String(total.changes),
    ]);
    await client.query('COMMIT');
    open = false;
    batch = { transactions: 0, changes: 0 };
    opts.onProgress?.(total);
  };
  try {
    for await (const entry of opts.entries) {
      opts.signal?.throwIfAborted();
      if (isPastTarget(opts.stopRule, entry.record)) {
        stoppedAtTarget = true;
        break;
      }
      if (!open) {
        await client.query('BEGIN');
        open = true;
      }
      await applyRecord(entry, opts.tables, exec, run);
      const n = entry.record.changes.length;
      batch = { transactions: batch.transactions + 1, changes: batch.changes + n };
      total = {
        transactions: total.transactions + 1,
        changes: total.changes + n,
        lastCommitLsn: entry.record.commitLsn,
        lastCommitTime: entry.record.commitTime,
      };
      if (batch.transactions >= maxTransactions || batch.changes >= maxChanges) await commit();
    }
    opts.signal?.throwIfAborted();
    if (open) await commit();
  } catch (err) {
    // the open batch holds only whole verified transactions, but a failed restore is
    // dropped by the operator anyway; rolling back keeps the progress row truthful
    if (open) await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return { ...total, stoppedAtTarget };
}

async function applyRecord(
  entry: JournalEntry,
  tables: ReadonlyMap<string, TargetTableInfo>,
  exec: StatementRunner,
  run: InsertRun,
): Promise<void> {
  const { record } = entry;
  try {
    for (const change of record.changes) {
      if (change.op === 'message') continue; // heartbeats, restore points: nothing to apply
      if (change.op === 'truncate') {
        await run.flush();
        await exec.run(
          truncateSql(
            change.rels.map((r) => relation(record, r, tables)),
            change.cascade,
            change.restartIdentity,
          ),
        );
        continue;
      }
      const rel = relation(record, change.rel, tables);
      if (change.op === 'insert') {
        await run.add(rel, change.new);
        continue;
      }
      await run.flush();
      const target = tables.get(tableKey(rel.schema, rel.table));
      await exec.run(
        change.op === 'update' ? updateSql(rel, change, target) : deleteSql(rel, change, target),
      );
    }
  } catch (err) {
    throw withRecordContext(err, entry);
  }
}

function relation(
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

function withRecordContext(err: unknown, entry: JournalEntry): TidemarkError {
  const where = {
    segmentKey: entry.segmentKey,
    offset: entry.offset,
    commitLsn: formatLsn(entry.record.commitLsn),
    xid: entry.record.xid,
  };
  const at = `transaction ${entry.record.xid} (commit LSN ${where.commitLsn}, segment ${entry.segmentKey} offset ${entry.offset})`;
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
