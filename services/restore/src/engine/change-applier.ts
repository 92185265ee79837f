import { formatLsn, formatTimestampMicros, type Lsn, type MicrosSinceEpoch } from '@tidemark/shared';
import type pg from 'pg';
import { BatchCommits, BatchFailure } from './batch-commits.js';
import { ChangeRuns } from './change-runs.js';
import type { JournalEntry } from './journal-reader.js';
import { OneByOne, replayRecord, withBatchContext, withRecordContext } from './record-replay.js';
import { isPastTarget, type StopRule } from './restore-target.js';
import type { SchemaChanges } from './schema-changes.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { qualifiedName, quoteIdent } from './sql-ident.js';
import { StatementPipeline } from './statement-pipeline.js';
import { StatementRunner } from './statement-runner.js';
import type { TableSnapshotReplay } from './table-snapshot-replay.js';

/**
 * Replays journal records into the target, in batches: each batch is one target
 * transaction holding whole source transactions (a source transaction is never split, so
 * an interruption leaves the target at a real state of the source) and the progress row
 * that says how far it got — committed together, so resuming from the progress row is
 * exact.
 *
 * Within a batch, changes are grouped into multi-row statements where that is exact
 * (run-planner.ts, change-runs.ts) and sent many statements per round trip
 * (statement-pipeline.ts); every update and delete is still checked to have found its row
 * before the batch commits. A batch commits while the next one is planned
 * (batch-commits.ts). One round trip per change made replay ~20× slower than COPY.
 *
 * When a batch fails, its error cannot always name the change at fault (one round trip
 * held many, one statement merged several), so the batch is rolled back and replayed once
 * more, one statement per change, in a transaction that is rolled back too: the first
 * change that fails there is the one the error names, with its segment, offset and LSN,
 * exactly as an unbatched replay would have reported it.
 */
export interface ApplyOptions {
  readonly client: pg.Client;
  readonly restoreId: string;
  readonly entries: AsyncIterable<JournalEntry>;
  readonly stopRule: StopRule;
  /** target tables by tableKey(schema, table), from the snapshot manifest */
  readonly tables: ReadonlyMap<string, TargetTableInfo>;
  /** applies the journal's schema changes and keeps `tables` in step with them (schema-changes.ts) */
  readonly schemaChanges?: SchemaChanges;
  /** loads per-table snapshots at their markers (table-snapshot-replay.ts) */
  readonly tableSnapshots?: TableSnapshotReplay;
  readonly maxChangesPerBatch?: number;
  readonly maxTransactionsPerBatch?: number;
  /** runs of at least this many inserts go through COPY, shorter ones are multi-row INSERTs */
  readonly copyMinRows?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ApplyProgress) => void;
  /** where the progress row lives (default `_tidemark.restore_progress`; a schema restore keeps it in its schema) */
  readonly progressTable?: { readonly schema: string; readonly table: string };
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

/** PROGRESS_DDL and UPSERT_PROGRESS for a progress table elsewhere (`"schema"."table"`, quoted) */
export function progressSql(table: string, schema: string): { ddl: string[]; upsert: string } {
  return {
    ddl: [
      `CREATE SCHEMA IF NOT EXISTS ${schema}`,
      PROGRESS_DDL[1]!.replace('_tidemark.restore_progress', () => table),
    ],
    upsert: UPSERT_PROGRESS.replace('_tidemark.restore_progress', () => table),
  };
}

const UPSERT_PROGRESS = `INSERT INTO _tidemark.restore_progress
  (restore_id, last_commit_lsn, last_commit_time, transactions, changes) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (restore_id) DO UPDATE SET last_commit_lsn = EXCLUDED.last_commit_lsn,
  last_commit_time = EXCLUDED.last_commit_time, transactions = EXCLUDED.transactions, changes = EXCLUDED.changes`;

/** Short runs cost less as one multi-row INSERT in a pipelined round trip than as a COPY of their own. */
const DEFAULT_COPY_MIN_ROWS = 64;

export async function applyJournal(opts: ApplyOptions): Promise<ApplyResult> {
  const { client } = opts;
  const maxChanges = opts.maxChangesPerBatch ?? 5000;
  const maxTransactions = opts.maxTransactionsPerBatch ?? 500;
  const pt = opts.progressTable;
  const progress = pt
    ? progressSql(qualifiedName(pt.schema, pt.table), quoteIdent(pt.schema))
    : { ddl: PROGRESS_DDL, upsert: UPSERT_PROGRESS };
  for (const sql of progress.ddl) await client.query(sql);
  const commits = new BatchCommits(client);
  const statements = new StatementPipeline(client);
  const copyMinRows = opts.copyMinRows ?? DEFAULT_COPY_MIN_ROWS;
  const runs = new ChangeRuns(client, statements, copyMinRows, () => commits.ready());
  let total: ApplyProgress = { transactions: 0, changes: 0 };
  /** the open batch's entries, kept to find the change at fault if it fails */
  let batch: JournalEntry[] = [];
  let batchChanges = 0;
  let applying = false;
  let stoppedAtTarget = false;
  const commit = async (): Promise<void> => {
    // one commit in flight at most: planning runs ahead by one batch, not without bound
    await commits.settle();
    const at = total;
    const queued = runs.take();
    commits.commit(
      batch,
      async () => {
        await runs.write(queued);
        await statements.flush();
        await client.query(progress.upsert, progressValues(opts.restoreId, at));
      },
      () => opts.onProgress?.(at),
    );
    batch = [];
    batchChanges = 0;
  };
  try {
    for await (const entry of opts.entries) {
      opts.signal?.throwIfAborted();
      if (isPastTarget(opts.stopRule, entry.record)) {
        stoppedAtTarget = true;
        break;
      }
      applying = true;
      batch.push(entry);
      await replayRecord(entry.record, opts.tables, runs, opts.schemaChanges, opts.tableSnapshots);
      await commits.breathe();
      const n = entry.record.changes.length;
      batchChanges += n;
      total = {
        transactions: total.transactions + 1,
        changes: total.changes + n,
        lastCommitLsn: entry.record.commitLsn,
        lastCommitTime: entry.record.commitTime,
      };
      if (batch.length >= maxTransactions || batchChanges >= maxChanges) await commit();
      applying = false;
    }
    opts.signal?.throwIfAborted();
    applying = true;
    if (batch.length > 0) await commit();
    await commits.settle();
  } catch (err) {
    // the open batch holds only whole verified transactions, but a failed restore is
    // dropped by the operator anyway; rolling back keeps the progress row truthful
    const { failure, connected } = await commits.abandon();
    const failed =
      err instanceof BatchFailure ? err : (failure ?? (applying ? new BatchFailure(batch, err) : undefined));
    if (!failed) throw err;
    if (failed.entries.length === 0) throw failed.cause;
    throw connected
      ? await pinpoint(
          client,
          failed.entries,
          opts.tables,
          failed.cause,
          opts.schemaChanges,
          opts.tableSnapshots,
        )
      : withBatchContext(failed.cause, failed.entries);
  }
  return { ...total, stoppedAtTarget };
}

function progressValues(restoreId: string, at: ApplyProgress): (string | null)[] {
  return [
    restoreId,
    at.lastCommitLsn === undefined ? null : formatLsn(at.lastCommitLsn),
    at.lastCommitTime === undefined ? null : formatTimestampMicros(at.lastCommitTime),
    String(at.transactions),
    String(at.changes),
  ];
}

/**
 * Replays a failed batch one change at a time, from the state it started from (it was
 * rolled back), and returns the error of the first change that fails, with that change's
 * context. Rolled back in any case: this only finds the change, it does not apply.
 */
async function pinpoint(
  client: pg.Client,
  entries: readonly JournalEntry[],
  tables: ReadonlyMap<string, TargetTableInfo>,
  original: unknown,
  schemaChanges?: SchemaChanges,
  tableSnapshots?: TableSnapshotReplay,
): Promise<Error> {
  const sink = new OneByOne(new StatementRunner(client));
  let failed: { err: unknown; entry: JournalEntry } | undefined;
  try {
    await client.query('BEGIN');
    for (const entry of entries) {
      try {
        await replayRecord(entry.record, tables, sink, schemaChanges, tableSnapshots);
      } catch (err) {
        failed = { err, entry };
        break;
      }
    }
  } catch {
    // BEGIN failed: the connection is gone, nothing to learn
  }
  const clean = await succeeds(client, 'ROLLBACK');
  // an error after which the connection still works came from the change, not the network
  if (failed && clean) return withRecordContext(failed.err, failed.entry);
  return withBatchContext(original, entries);
}

async function succeeds(client: pg.Client, sql: string): Promise<boolean> {
  return client.query(sql).then(
    () => true,
    () => false,
  );
}
