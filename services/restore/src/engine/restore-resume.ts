import {
  formatLsn,
  formatTimestampMicros,
  type Lsn,
  type ObjectStore,
  parseLsn,
  type SnapshotManifest,
  TidemarkError,
} from '@tidemark/shared';
import { progressSql } from './change-applier.js';
import type { EngineLogger } from './engine-logger.js';
import type { JournalCatalog } from './journal-catalog.js';
import type { JournalEntry } from './journal-reader.js';
import { restoredTables } from './late-tables.js';
import type { RestorePlan } from './restore-planner.js';
import type { QualifiedName, RestoreScope } from './restore-scope.js';
import type { RestoreTarget } from './restore-target.js';
import type { SnapshotInfo } from './restore-window.js';
import { buildSchemaDdl } from './schema-builder.js';
import { cleanRestoreTarget } from './schema-target.js';
import { fetchVerifiedManifest, type LoadedSnapshot, withClient } from './snapshot-loader.js';
import { qualifiedName, quoteIdent } from './sql-ident.js';
import { progressTableOf, type TableSelection } from './table-selection.js';
import { connectTarget, type PreparedTarget, type TargetLocation } from './target-database.js';

/**
 * Resuming a restore after the restore service died (kill -9, OOM, host restart) or was
 * stopped while the restore ran.
 *
 * What is durable, and where:
 * - the job file (state dir) holds the request without its password, and once the target
 *   was prepared, a `RestoreCheckpoint`: whether the restore created the database or which
 *   schemas were there before (what a clean-up must leave alone), and for a `latest`
 *   target the LSN it was resolved to (a resumed restore must stop where the first attempt
 *   would have, not at a newer tip); for a restore into a schema, that schema and whether
 *   the restore created it (a clean-up drops only what the restore made there);
 * - the target database holds the progress table (`_tidemark.restore_progress`, or
 *   `<schema>._tidemark_restore_progress` for a table restore into a schema,
 *   table-selection.ts `progressTableOf`): its row for the restore is
 *   written in the transaction that commits the last snapshot step (the "snapshot loaded"
 *   marker, at the snapshot's LSN) and then in the same transaction as every replay batch,
 *   so it names exactly the last commit the target holds.
 *
 * The decision (`decideResume`, pure):
 * - no checkpoint: the target was never written to; run the restore from the beginning;
 * - a checkpoint and a progress row: the snapshot is complete; replay from the row's LSN,
 *   skipping every record at or below it (so nothing is applied twice);
 * - a checkpoint and no progress row (the crash came during the snapshot load, or after
 *   the final step dropped the progress schema): remove what the restore had built, as a
 *   cancel does (scope-aware: cleanRestoreTarget with the tables the scope builds), and run
 *   it from the beginning.
 *
 * A table restore resumes the same way: the job file keeps its `tables` and `into.schema`,
 * so the resumed attempt plans the same selection; only a schema restore's checkpoint
 * written before it named its schema cannot be cleaned safely (restore-runner.ts fails it).
 */
export interface RestoreCheckpoint {
  readonly targetCreated: boolean;
  readonly existingSchemas: readonly string[];
  /** for a `latest` target: the LSN the first attempt resolved it to */
  readonly pinnedLsn?: string;
  /** a table restore into a schema: that schema, and whether the restore created it */
  readonly intoSchema?: { readonly name: string; readonly created: boolean };
}

/** What the executor needs to continue a restore whose snapshot is in the target. */
export interface ResumeFrom {
  readonly prepared: PreparedTarget;
  /** commit LSN of the last transaction the target holds (the snapshot's LSN if none) */
  readonly afterLsn: Lsn;
}

export type ResumeDecision =
  | { readonly kind: 'fresh' }
  | { readonly kind: 'continue'; readonly afterLsn: string }
  | { readonly kind: 'start-over'; readonly prepared: PreparedTarget };

export function decideResume(
  checkpoint: RestoreCheckpoint | undefined,
  progressLsn: string | undefined,
): ResumeDecision {
  if (!checkpoint) return { kind: 'fresh' };
  if (progressLsn !== undefined) return { kind: 'continue', afterLsn: progressLsn };
  return { kind: 'start-over', prepared: preparedOf(checkpoint) };
}

export function preparedOf(checkpoint: RestoreCheckpoint): PreparedTarget {
  return {
    created: checkpoint.targetCreated,
    existingSchemas: [...checkpoint.existingSchemas],
    ...(checkpoint.intoSchema ? { intoSchema: { ...checkpoint.intoSchema } } : {}),
  };
}

export function checkpointOf(prepared: PreparedTarget, pinnedLsn?: Lsn): RestoreCheckpoint {
  return {
    targetCreated: prepared.created,
    existingSchemas: [...prepared.existingSchemas],
    ...(pinnedLsn === undefined ? {} : { pinnedLsn: formatLsn(pinnedLsn) }),
    ...(prepared.intoSchema ? { intoSchema: { ...prepared.intoSchema } } : {}),
  };
}

/** The target to plan a resumed restore with: a `latest` target stays where it was resolved. */
export function resumedTarget(
  target: RestoreTarget,
  checkpoint: RestoreCheckpoint | undefined,
): RestoreTarget {
  if (target.kind !== 'latest' || checkpoint?.pinnedLsn === undefined) return target;
  return { kind: 'lsn', lsn: parseLsn(checkpoint.pinnedLsn) };
}

/**
 * The progress row's LSN for `restoreId`, or undefined when the database, the progress
 * table or the row does not exist.
 */
export async function readProgressLsn(
  into: TargetLocation,
  restoreId: string,
  table: QualifiedName = progressTableOf(null),
): Promise<string | undefined> {
  let client: Awaited<ReturnType<typeof connectTarget>>;
  try {
    client = await connectTarget(into);
  } catch (err) {
    if ((err as { code?: unknown }).code === '3D000') return undefined;
    throw err;
  }
  try {
    const name = qualifiedName(table.schema, table.table);
    const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
    if (exists.rows[0]?.t == null) return undefined;
    const { rows } = await client.query<{ lsn: string | null }>(
      `SELECT last_commit_lsn AS lsn FROM ${name} WHERE restore_id = $1`,
      [restoreId],
    );
    return rows[0]?.lsn ?? undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Written after the snapshot's last step (tables, data, primary keys) committed: from now
 * on a resume continues the replay instead of starting over.
 */
export async function markSnapshotLoaded(
  into: TargetLocation,
  restoreId: string,
  snapshot: Pick<SnapshotInfo, 'lsn' | 'snapshotTime'>,
  table: QualifiedName = progressTableOf(null),
): Promise<void> {
  const name = qualifiedName(table.schema, table.table);
  const progress = progressSql(name, quoteIdent(table.schema));
  await withClient(into, async (client) => {
    for (const sql of progress.ddl) await client.query(sql);
    await client.query(
      `INSERT INTO ${name}
         (restore_id, last_commit_lsn, last_commit_time, transactions, changes) VALUES ($1, $2, $3, 0, 0)
       ON CONFLICT (restore_id) DO NOTHING`,
      [restoreId, snapshot.lsn, formatTimestampMicros(BigInt(snapshot.snapshotTime))],
    );
  });
}

/** The snapshot as loadSnapshot would answer it (with the same `select`), for a target that already holds it. */
export async function snapshotLoadedBefore(
  store: ObjectStore,
  snapshot: SnapshotInfo,
  select?: (manifest: SnapshotManifest) => SnapshotManifest,
): Promise<LoadedSnapshot> {
  const verified = await fetchVerifiedManifest(store, snapshot);
  const manifest = select ? select(verified) : verified;
  const withData = manifest.tables.filter((t) => t.dataKey !== null);
  return {
    manifest,
    ddl: buildSchemaDdl(manifest),
    tables: withData.length,
    rows: withData.reduce((n, t) => n + t.rows, 0),
  };
}

/** The entries after `afterLsn`: what the target does not hold yet. */
export async function* entriesAfter(
  entries: AsyncIterable<JournalEntry>,
  afterLsn: Lsn,
): AsyncGenerator<JournalEntry> {
  for await (const entry of entries) if (entry.record.commitLsn > afterLsn) yield entry;
}

export interface ResolvedResume {
  readonly target: RestoreTarget;
  readonly resume?: ResumeFrom;
  /** for the job view: the LSN replay resumed after, or `start` when the restore began again */
  readonly resumedFrom: string;
}

/**
 * Looks at the target, decides (see above), and cleans a half-loaded target. The caller
 * runs the executor with the answer.
 */
export async function resolveResume(input: {
  readonly id: string;
  readonly source: string;
  readonly target: RestoreTarget;
  readonly into: TargetLocation;
  readonly checkpoint: RestoreCheckpoint | undefined;
  readonly catalog: JournalCatalog;
  readonly logger: EngineLogger;
  /** a table restore (restore-scope.ts): where its progress row is, what a clean-up drops */
  readonly scope?: RestoreScope | null;
  /** the plan (scoped: late-tables.ts scopeRestorePlan) the restore would make for `target` */
  readonly planScoped: (
    target: RestoreTarget,
  ) => Promise<{ readonly plan: RestorePlan; readonly selection: TableSelection | null }>;
}): Promise<ResolvedResume> {
  const target = resumedTarget(input.target, input.checkpoint);
  if (input.scope?.schema && input.checkpoint && !input.checkpoint.intoSchema)
    // without its schema a clean-up would take the database for the restore's own
    throw new TidemarkError(
      'RESTORE_FAILED',
      `the checkpoint of this table restore does not name schema ${input.scope.schema}; drop what it restored there and submit it again`,
    );
  const progressLsn = input.checkpoint
    ? await readProgressLsn(input.into, input.id, progressTableOf(input.scope))
    : undefined;
  const decision = decideResume(input.checkpoint, progressLsn);
  const log = { restore: input.id, into: input.into.display };
  switch (decision.kind) {
    case 'fresh':
      input.logger.info(log, 'restarting an interrupted restore that had not written anything yet');
      return { target, resumedFrom: 'start' };
    case 'continue': {
      input.logger.info({ ...log, afterLsn: decision.afterLsn }, 'resuming an interrupted restore');
      if (!input.checkpoint) throw new TidemarkError('INTERNAL', 'unreachable: continue without checkpoint');
      return {
        target,
        resume: { prepared: preparedOf(input.checkpoint), afterLsn: parseLsn(decision.afterLsn) },
        resumedFrom: decision.afterLsn,
      };
    }
    case 'start-over': {
      const { plan, selection } = await input.planScoped(target);
      const note = await cleanRestoreTarget(
        input.into,
        decision.prepared,
        restoredTables(plan, selection),
        selection,
      );
      input.logger.info(log, `interrupted during the snapshot load: ${note}; starting over`);
      return { target, resumedFrom: 'start' };
    }
  }
}
