import { formatLsn, formatTimestampMicros, type ObjectStore } from '@tidemark/shared';
import { applyJournal } from './change-applier.js';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import { readJournal } from './journal-reader.js';
import type { RestoreProgress } from './restore-job.js';
import { planRestore, type RestorePlan } from './restore-planner.js';
import type { RestoreTarget } from './restore-target.js';
import type { SchemaDdl } from './schema-builder.js';
import { addPrimaryKeys, loadSnapshot, withClient } from './snapshot-loader.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { tableKey } from './sql-ident.js';
import { prepareTargetDatabase, type TargetLocation } from './target-database.js';

/**
 * One restore, start to end: plan against the journal as it is now (for `latest`, this
 * is where the tip gets resolved), prepare the target, load the snapshot, add primary
 * keys (updates and deletes find rows by key), replay to the target, finish.
 */
export interface RestoreTuning {
  /** connections loading tables and building keys at once (default 4) */
  readonly parallelism?: number;
  readonly maxChangesPerBatch?: number;
  readonly maxTransactionsPerBatch?: number;
  readonly copyMinRows?: number;
  readonly prefetchSegments?: number;
}

export interface ExecuteRestoreInput {
  readonly id: string;
  readonly source: string;
  readonly target: RestoreTarget;
  readonly into: TargetLocation;
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
  readonly signal: AbortSignal;
  readonly logger: EngineLogger;
  readonly tuning?: RestoreTuning;
  readonly onProgress: (patch: Partial<RestoreProgress>) => void;
}

export interface RestoreOutcome {
  readonly restoredLsn: string;
  readonly restoredTime: string;
  readonly transactions: number;
  readonly changes: number;
  /** things that did not stop the restore but someone should know (e.g. a default that could not be set) */
  readonly warnings: readonly string[];
}

export type RestoreExecutor = (input: ExecuteRestoreInput) => Promise<RestoreOutcome>;

export async function planFromCatalog(
  catalog: JournalCatalog,
  source: string,
  target: RestoreTarget,
): Promise<RestorePlan> {
  const state = await catalog.getSourceState(source);
  const segmentKeys = await catalog.listSegmentKeys(source, { tip: state.tip });
  return planRestore({ source, snapshots: state.snapshots, tip: state.tip, segmentKeys, target });
}

export const executeRestore: RestoreExecutor = async (input) => {
  const { logger, signal, tuning = {} } = input;
  const log = { restore: input.id, source: input.source };
  const plan = await planFromCatalog(input.catalog, input.source, input.target);
  input.onProgress({
    phase: 'loading-snapshot',
    tablesTotal: plan.snapshot.tables.filter((t) => t.dataKey !== null).length,
    segmentsTotal: plan.segmentKeys.length,
  });
  logger.info(
    { ...log, snapshot: plan.snapshot.lsn, segments: plan.segmentKeys.length, into: input.into.display },
    'restore planned',
  );
  await prepareTargetDatabase(input.into);
  signal.throwIfAborted();
  let tablesLoaded = 0;
  const loaded = await loadSnapshot({
    store: input.store,
    target: input.into,
    snapshot: plan.snapshot,
    parallelism: tuning.parallelism ?? 4,
    signal,
    logger,
    onTableLoaded: () => input.onProgress({ tablesLoaded: ++tablesLoaded }),
  });
  await addPrimaryKeys(input.into, loaded.ddl, tuning.parallelism ?? 4);
  signal.throwIfAborted();
  logger.info({ ...log, tables: loaded.tables, rows: loaded.rows }, 'snapshot loaded');

  input.onProgress({
    phase: 'replaying',
    restoredLsn: formatLsn(plan.snapshotLsn),
    restoredTime: formatTimestampMicros(BigInt(plan.snapshot.snapshotTime)),
  });
  let segmentsRead = 0;
  const result = await withClient(input.into, (client) =>
    applyJournal({
      client,
      restoreId: input.id,
      entries: readJournal(input.store, plan, {
        prefetch: tuning.prefetchSegments ?? 2,
        onSegmentVerified: () => input.onProgress({ segmentsRead: ++segmentsRead }),
      }),
      stopRule: plan.stopRule,
      tables: targetTables(loaded.manifest.tables),
      ...(tuning.maxChangesPerBatch === undefined ? {} : { maxChangesPerBatch: tuning.maxChangesPerBatch }),
      ...(tuning.maxTransactionsPerBatch === undefined
        ? {}
        : { maxTransactionsPerBatch: tuning.maxTransactionsPerBatch }),
      ...(tuning.copyMinRows === undefined ? {} : { copyMinRows: tuning.copyMinRows }),
      signal,
      onProgress: (p) =>
        input.onProgress({
          transactionsApplied: p.transactions,
          changesApplied: p.changes,
          ...(p.lastCommitLsn === undefined ? {} : { restoredLsn: formatLsn(p.lastCommitLsn) }),
          ...(p.lastCommitTime === undefined
            ? {}
            : { restoredTime: formatTimestampMicros(p.lastCommitTime) }),
        }),
    }),
  );
  signal.throwIfAborted();
  input.onProgress({ phase: 'finishing' });
  const warnings = await finish(input.into, loaded.ddl, logger);
  const restoredLsn = formatLsn(result.lastCommitLsn ?? plan.snapshotLsn);
  const restoredTime = formatTimestampMicros(result.lastCommitTime ?? BigInt(plan.snapshot.snapshotTime));
  logger.info({ ...log, restoredLsn, restoredTime, transactions: result.transactions }, 'restore finished');
  return { restoredLsn, restoredTime, transactions: result.transactions, changes: result.changes, warnings };
};

function targetTables(
  tables: readonly {
    schema: string;
    table: string;
    kind: 'table' | 'partitioned';
    primaryKey: readonly string[] | null;
  }[],
): Map<string, TargetTableInfo> {
  return new Map(
    tables.map((t) => [tableKey(t.schema, t.table), { kind: t.kind, primaryKey: t.primaryKey }]),
  );
}

/**
 * Column defaults (best effort, see schema-builder), dropping the progress schema (the
 * restore is complete, nothing to resume) and ANALYZE so the restored database has
 * statistics before anyone queries it.
 */
async function finish(into: TargetLocation, ddl: SchemaDdl, logger: EngineLogger): Promise<string[]> {
  const warnings: string[] = [];
  await withClient(into, async (client) => {
    for (const d of ddl.defaults) {
      try {
        await client.query(d.sql);
      } catch (err) {
        const message = `default of ${d.table}.${d.column} not restored: ${err instanceof Error ? err.message : String(err)}`;
        warnings.push(message);
        logger.warn({ table: d.table, column: d.column }, message);
      }
    }
    await client.query('DROP SCHEMA IF EXISTS _tidemark CASCADE');
    await client.query('ANALYZE');
  });
  return warnings;
}
