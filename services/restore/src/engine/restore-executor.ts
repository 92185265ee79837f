import {
  formatLsn,
  formatTimestampMicros,
  isTidemarkError,
  type Lsn,
  type ObjectStore,
  parseLsn,
  type SnapshotManifest,
  type SnapshotTable,
  TidemarkError,
  toTidemarkError,
} from '@tidemark/shared';
import { applyJournal } from './change-applier.js';
import type { EngineLogger } from './engine-logger.js';
import { isIntegrityFailure, withDamagedSnapshotKey } from './integrity-failure.js';
import type { JournalCatalog } from './journal-catalog.js';
import { type JournalEntry, readJournal } from './journal-reader.js';
import { restoredTables, scopeRestorePlan } from './late-tables.js';
import { selectEntries } from './record-selection.js';
import { abortable, observeEntries, ReplayProgress, stopAtTransaction } from './replay-progress.js';
import type { RestoreProgress } from './restore-job.js';
import { planRestore, type RestorePlan, snapshotDataBytes } from './restore-planner.js';
import { entriesAfter, markSnapshotLoaded, type ResumeFrom, snapshotLoadedBefore } from './restore-resume.js';
import type { RestoreScope } from './restore-scope.js';
import type { RestoreTarget } from './restore-target.js';
import type { SchemaDdl } from './schema-builder.js';
import { absorbSchemaChanges, type ReplayedTable, schemaChangesFor } from './schema-changes.js';
import { cleanRestoreTarget, finishStatements, prepareSchemaTarget } from './schema-target.js';
import { createSecondaryIndexes } from './secondary-indexes.js';
import { createSequences, settleSequences } from './sequence-restore.js';
import { planWithVerifiedSnapshot, type SnapshotCheckOptions } from './snapshot-choice.js';
import { addPrimaryKeys, loadSnapshot, withClient } from './snapshot-loader.js';
import type { TargetTableInfo } from './sql-for-change.js';
import { tableKey } from './sql-ident.js';
import { selectedManifest, type TableSelection } from './table-selection.js';
import { absorbTableSnapshots, TableSnapshotReplay } from './table-snapshot-replay.js';
import { type PreparedTarget, prepareTargetDatabase, type TargetLocation } from './target-database.js';

/**
 * One restore, start to end: plan against the journal as it is now (for `latest`, this
 * is where the tip gets resolved; for a restore point, where its name is looked up),
 * prepare the target, load the snapshot, add primary keys (updates and deletes find rows
 * by key), replay to the target, finish.
 *
 * A restore that will not finish for a reason that is not the data's leaves the target as
 * it found it (`cleanTarget`): when it is cancelled (the abort reason is CANCELLED), and
 * when an xid target never showed up in the journal, and when journal data failed
 * verification (SEGMENT_CORRUPT, CHAIN_BROKEN, SNAPSHOT_CORRUPT, RECORD_CORRUPT,
 * DECRYPT_FAILED: the error names the object), and when a listed table that only a
 * per-table snapshot creates did not get it before the target (UNKNOWN_TABLE). Other failures (a row the journal does not
 * match, a shutdown) keep what was restored, a real earlier state of the source, for diagnosis.
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
  /** continue a restore whose snapshot the target already holds (restore-resume.ts) */
  readonly resume?: ResumeFrom;
  /** awaited once the target is prepared, before anything is written to it (resume checkpoint) */
  readonly onPrepared?: (prepared: PreparedTarget, plan: RestorePlan) => Promise<void>;
  /** called once the plan is known, before anything is read (the runner narrows its lease to the plan's snapshot) */
  readonly onPlanned?: (plan: RestorePlan) => Promise<void>;
  /** restore only these tables, into their schemas or one schema of an existing database (table-selection.ts) */
  readonly scope?: RestoreScope | null;
  /** told the tables as the replay left them at the target (compaction describes its snapshot with them) */
  readonly onReplayed?: (tables: readonly ReplayedTable[]) => void;
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

/** The plan, with a snapshot that passed verification (snapshot-choice.ts; shallow unless `check.deep`). */
export async function planFromCatalog(
  catalog: JournalCatalog,
  source: string,
  target: RestoreTarget,
  check: SnapshotCheckOptions = {},
  /** a resumed restore: only snapshots the target's state is after (a newer one would skip journal it lacks) */
  snapshotsUpTo?: Lsn,
): Promise<RestorePlan> {
  const state = await catalog.getSourceState(source);
  const snapshots =
    snapshotsUpTo === undefined
      ? state.snapshots
      : state.snapshots.filter((s) => parseLsn(s.lsn) <= snapshotsUpTo);
  const segments = await catalog.listSegments(source, { tip: state.tip });
  const restorePoint =
    target.kind === 'restorePoint' ? await catalog.findRestorePoint(source, target.name) : undefined;
  return planWithVerifiedSnapshot(
    catalog.objectStore,
    (excludeSnapshots) =>
      planRestore({
        source,
        snapshots,
        tip: state.tip,
        segmentKeys: segments.map((s) => s.key),
        segmentSizes: new Map(segments.map((s) => [s.key, s.size])),
        target,
        ...(restorePoint ? { restorePoint } : {}),
        excludeSnapshots,
      }),
    check,
  );
}

export const executeRestore: RestoreExecutor = async (input) => {
  const { logger, signal, tuning = {} } = input;
  const log = { restore: input.id, source: input.source };
  input.onProgress({ phase: 'planning' });
  const skippedSnapshots: string[] = [];
  const check: SnapshotCheckOptions = {
    deep: !input.resume,
    onSkipped: (snapshot, problems) => {
      const message = `snapshot ${snapshot.lsn} (${snapshot.kind ?? 'base'}) failed verification and was not used: ${problems.join('; ')}`;
      skippedSnapshots.push(message);
      input.onProgress({ snapshotsSkipped: [...skippedSnapshots] });
      logger.warn({ ...log, snapshot: snapshot.manifestKey, problems }, message);
    },
  };
  // before table selection: schema changes name tables as the source does
  const { catalog, source, target } = input;
  // resumed: a snapshot newer than what the target holds would skip journal it lacks
  const unscoped = await planFromCatalog(catalog, source, target, check, input.resume?.afterLsn).catch(
    (err: unknown) => {
      throw withDamagedSnapshotKey(err, skippedSnapshots);
    },
  );
  const { plan, selection } = await scopeRestorePlan(input.store, unscoped, input.scope);
  await input.onPlanned?.(plan);
  if (signal.aborted) throw abortedBeforeWriting(signal.reason);
  const snapshotBytes = snapshotDataBytes(plan);
  const replay = new ReplayProgress(plan, snapshotBytes);
  const totals = (): Partial<RestoreProgress> => {
    const t = replay.totals();
    return {
      bytesTotal: t.bytesTotal,
      transactionsTotalExact: t.transactionsTotalExact,
      ...(t.transactionsTotal === undefined ? {} : { transactionsTotal: t.transactionsTotal }),
    };
  };
  input.onProgress({
    phase: 'loading-snapshot',
    tablesTotal: plan.snapshot.tables.filter((t) => t.dataKey !== null).length,
    segmentsTotal: plan.segmentKeys.length,
    bytesDone: 0,
    bytesTotal: plan.totalBytes,
  });
  logger.info(
    {
      ...log,
      snapshot: plan.snapshot.lsn,
      segments: plan.segmentKeys.length,
      bytes: plan.totalBytes,
      into: input.into.display,
    },
    'restore planned',
  );
  const intoSchema = selection?.scope.schema;
  const prepared =
    input.resume?.prepared ??
    (intoSchema
      ? await prepareSchemaTarget(input.into, intoSchema)
      : await prepareTargetDatabase(input.into));
  try {
    await input.onPrepared?.(prepared, plan);
    signal.throwIfAborted();
    const tableBytes = new Map(plan.snapshot.tables.map((t) => [tableKey(t.schema, t.table), t.bytes]));
    let tablesLoaded = 0;
    let bytesLoaded = 0;
    const select = selection ? (m: SnapshotManifest) => selectedManifest(m, selection) : undefined;
    const loaded = input.resume
      ? await snapshotLoadedBefore(input.store, plan.snapshot, select)
      : await loadSnapshot({
          store: input.store,
          target: input.into,
          snapshot: plan.snapshot,
          keys: input.catalog.keys,
          parallelism: tuning.parallelism ?? 4,
          signal,
          logger,
          ...(select ? { select } : {}),
          onTableLoaded: (t) => {
            bytesLoaded += tableBytes.get(tableKey(t.schema, t.table)) ?? 0;
            input.onProgress({ tablesLoaded: ++tablesLoaded, bytesDone: bytesLoaded });
          },
        });
    if (!input.resume) {
      await addPrimaryKeys(input.into, loaded.ddl, tuning.parallelism ?? 4);
      // a schema restore keeps it in its own schema, never in _tidemark
      await markSnapshotLoaded(input.into, input.id, plan.snapshot, selection?.progressTable);
    }
    signal.throwIfAborted();
    logger.info({ ...log, tables: loaded.tables, rows: loaded.rows }, 'snapshot loaded');

    input.onProgress({
      phase: 'replaying',
      bytesDone: snapshotBytes,
      restoredLsn: formatLsn(plan.snapshotLsn),
      restoredTime: formatTimestampMicros(BigInt(plan.snapshot.snapshotTime)),
    });
    let segmentsRead = 0;
    let entries: AsyncIterable<JournalEntry> = observeEntries(
      readJournal(input.store, plan, {
        prefetch: tuning.prefetchSegments ?? 2,
        ...(input.catalog.keys ? { keys: input.catalog.keys } : {}),
        onSegmentVerified: (key, _records, segment) => {
          replay.segmentVerified(key, segment);
          input.onProgress({ segmentsRead: ++segmentsRead, ...totals() });
        },
      }),
      (entry) => replay.entry(entry),
    );
    if (plan.transactionStop) {
      entries = stopAtTransaction(
        entries,
        plan.transactionStop,
        { source: plan.source, snapshotLsn: plan.snapshotLsn, latestLsn: plan.window.latestLsn },
        (entry, applied) => {
          replay.transactionFound(applied);
          logger.info(
            { ...log, xid: plan.transactionStop?.xid, commitLsn: formatLsn(entry.record.commitLsn) },
            'target transaction found',
          );
          input.onProgress(totals());
        },
      );
    }
    const tables = targetTables(loaded.manifest.tables);
    const schemaChanges = schemaChangesFor(
      unscoped.snapshot.tables,
      loaded.manifest.tables,
      tables,
      selection?.targetOf,
    );
    // a restore of selected tables applies the markers of its tables, renamed (table-snapshot-replay.ts)
    const tableSnapshots = new TableSnapshotReplay({
      store: input.store,
      source: input.source,
      keys: input.catalog.keys,
      tableInfo: tables,
      logger,
      ...(selection ? { targetOf: selection.targetOf, required: selection.fromTableSnapshots } : {}),
    });
    // after the xid search, which must see the records the target already holds too
    if (input.resume)
      entries = entriesAfter(
        absorbTableSnapshots(
          absorbSchemaChanges(entries, schemaChanges, input.resume.afterLsn),
          tableSnapshots,
          input.resume.afterLsn,
        ),
        input.resume.afterLsn,
      );
    const result = await withClient(input.into, (client) =>
      applyJournal({
        client,
        restoreId: input.id,
        entries: abortable(selection ? selectEntries(entries, selection.targetOf) : entries, signal),
        ...(selection ? { progressTable: selection.progressTable } : {}),
        stopRule: plan.stopRule,
        tables,
        schemaChanges,
        tableSnapshots,
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
            bytesDone: replay.bytesDoneAt(p.lastCommitLsn),
            ...(p.lastCommitLsn === undefined ? {} : { restoredLsn: formatLsn(p.lastCommitLsn) }),
            ...(p.lastCommitTime === undefined
              ? {}
              : { restoredTime: formatTimestampMicros(p.lastCommitTime) }),
          }),
      }),
    );
    signal.throwIfAborted();
    tableSnapshots.assertComplete();
    input.onReplayed?.(schemaChanges.replayedTables());
    const done = totals();
    input.onProgress({ phase: 'creating-indexes', ...done, bytesDone: done.bytesTotal ?? plan.totalBytes });
    const indexWarnings = await createSecondaryIndexes(
      input.into,
      schemaChanges.indexes(),
      tuning.parallelism ?? 4,
      logger,
    );
    input.onProgress({ phase: 'finishing' });
    // defaults of tables a schema change took over were set by it (schema-changes.ts)
    const ddl = { ...loaded.ddl, defaults: schemaChanges.pendingDefaults(loaded.ddl.defaults) };
    const warnings = [
      ...skippedSnapshots,
      ...indexWarnings,
      ...(await finish(input.into, ddl, logger, selection)),
    ];
    const restoredLsn = formatLsn(result.lastCommitLsn ?? plan.snapshotLsn);
    const restoredTime = formatTimestampMicros(result.lastCommitTime ?? BigInt(plan.snapshot.snapshotTime));
    logger.info({ ...log, restoredLsn, restoredTime, transactions: result.transactions }, 'restore finished');
    return {
      restoredLsn,
      restoredTime,
      transactions: result.transactions,
      changes: result.changes,
      warnings,
    };
  } catch (err) {
    throw await abandon(err, input, prepared, plan, selection);
  }
};

function abortedBeforeWriting(reason: unknown): unknown {
  if (!isTidemarkError(reason, 'CANCELLED')) return reason;
  return new TidemarkError('CANCELLED', `${reason.message}; nothing had been written to the target yet`, {
    cause: reason,
    details: { ...reason.details, targetCleaned: true },
  });
}

/**
 * The error a stopped restore ends with. A cancelled restore, or one whose xid never
 * showed up, first removes what it built (see above); the message says what was done.
 */
async function abandon(
  err: unknown,
  input: ExecuteRestoreInput,
  prepared: PreparedTarget,
  plan: RestorePlan,
  selection: TableSelection | null,
): Promise<unknown> {
  const reason: unknown = input.signal.aborted ? input.signal.reason : err;
  const cancelled = isTidemarkError(reason, 'CANCELLED');
  const targetNotFound =
    !input.signal.aborted && plan.transactionStop !== null && isTidemarkError(err, 'TARGET_AFTER_WINDOW');
  // journal data that failed verification: nothing built from it may stay behind (integrity-failure.ts)
  const integrity = !input.signal.aborted && isIntegrityFailure(err);
  // a listed table whose table snapshot came after the target (late-tables.ts): a request error
  const tableMissing = !input.signal.aborted && isTidemarkError(err, 'UNKNOWN_TABLE');
  if (!cancelled && !targetNotFound && !integrity && !tableMissing) return err;
  let note: string;
  let cleaned = true;
  try {
    note = await cleanRestoreTarget(input.into, prepared, restoredTables(plan, selection), selection);
  } catch (cleanupError) {
    cleaned = false;
    const why = cleanupError instanceof Error ? cleanupError.message : String(cleanupError);
    note = `removing what it had restored into database ${input.into.database} failed (${why}): drop that database, or its restored tables, yourself`;
    input.logger.warn({ restore: input.id, err: cleanupError }, 'target cleanup failed');
  }
  input.logger.info({ restore: input.id, cleaned, into: input.into.display }, note);
  const base = toTidemarkError(reason, 'RESTORE_FAILED');
  return new TidemarkError(base.code, `${base.message}; ${note}`, {
    cause: reason,
    details: { ...base.details, targetCleaned: cleaned },
  });
}

function targetTables(tables: readonly SnapshotTable[]): Map<string, TargetTableInfo> {
  const byKey = new Map(tables.map((t) => [tableKey(t.schema, t.table), t]));
  const rootOf = (t: SnapshotTable): string | undefined => {
    let root: string | undefined;
    for (let p = t.partitionOf, depth = 0; p && depth < 64; depth++) {
      root = tableKey(p.schema, p.table);
      p = byKey.get(root)?.partitionOf ?? null;
    }
    return root;
  };
  return new Map(
    tables.map((t) => {
      const root = rootOf(t) ?? (t.kind === 'partitioned' ? tableKey(t.schema, t.table) : undefined);
      const info = { kind: t.kind, primaryKey: t.primaryKey };
      return [tableKey(t.schema, t.table), root === undefined ? info : { ...info, partitionRoot: root }];
    }),
  );
}

/**
 * Column defaults (best effort, see schema-builder), dropping the progress schema (the
 * restore is complete, nothing to resume) and ANALYZE so the restored database has
 * statistics before anyone queries it.
 */
async function finish(
  into: TargetLocation,
  ddl: SchemaDdl,
  logger: EngineLogger,
  selection: TableSelection | null,
): Promise<string[]> {
  const warnings: string[] = [];
  await withClient(into, async (client) => {
    await createSequences(client, ddl.sequences);
    for (const d of ddl.defaults) {
      try {
        await client.query(d.sql);
      } catch (err) {
        const message = `default of ${d.table}.${d.column} not restored: ${err instanceof Error ? err.message : String(err)}`;
        warnings.push(message);
        logger.warn({ table: d.table, column: d.column }, message);
      }
    }
    warnings.push(...(await settleSequences(client, ddl.sequences, logger)));
    // a schema restore touches nothing outside its schema (schema-target.ts)
    for (const sql of finishStatements(selection)) await client.query(sql);
  });
  return warnings;
}
