/**
 * The restore engine's public API: what the HTTP API (services/restore/src/api) and the
 * service entry point use. Everything else in this folder is internal.
 */
export { type ApplyOptions, type ApplyProgress, type ApplyResult, applyJournal } from './change-applier.js';
export {
  type CompactionJobView,
  CompactionService,
  type CompactionServiceOptions,
  type CompactionState,
} from './compaction-service.js';
export { type EngineLogger, silentLogger } from './engine-logger.js';
export { JournalCatalog, type SourceState, type SourceSummary, summarize } from './journal-catalog.js';
export { type JournalEntry, type ReadJournalOptions, readJournal } from './journal-reader.js';
export {
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
  verifyJournal,
} from './journal-verifier.js';
export { parseManifest, validateManifest } from './manifest-validator.js';
export { RegionCatalogs, type RegionView } from './region-catalogs.js';
export { compareRegions, type RegionComparison } from './region-compare.js';
export { type RegionalSourceSummary, RegionalSources, type RegionSummary } from './region-sources.js';
export {
  type ReplicationStatusDocument,
  readReplicationStatus,
  replicationStatusKey,
  replicationStatusPrefix,
  writeReplicationStatus,
} from './replication-status.js';
export {
  type ExecuteRestoreInput,
  executeRestore,
  planFromCatalog,
  type RestoreExecutor,
  type RestoreOutcome,
  type RestoreTuning,
} from './restore-executor.js';
export {
  isTerminal,
  type RestoreJobError,
  type RestoreJobView,
  type RestorePhase,
  type RestoreProgress,
  type RestoreRequest,
  type RestoreState,
} from './restore-job.js';
export {
  type PlanInput,
  planRestore,
  type ResolvedRestorePoint,
  type RestorePlan,
} from './restore-planner.js';
export { scanSegmentForRestorePoints } from './restore-point-scan.js';
export {
  type CreatedRestorePoint,
  emitRestorePoint,
  RestorePointService,
  type RestorePointServiceOptions,
  type RestorePointView,
} from './restore-points.js';
export { type RestorePlanView, RestoreRunner, type RestoreRunnerOptions } from './restore-runner.js';
export {
  formatQualifiedName,
  formatRestoreScope,
  parseQualifiedName,
  parseRestoreScope,
  QUALIFIED_NAME_HINT,
  type QualifiedName,
  type RestoreScope,
  SCHEMA_NAME_HINT,
  schemaNameProblem,
} from './restore-scope.js';
export {
  describeTarget,
  formatRestoreTarget,
  isPastTarget,
  parseRestoreTarget,
  parseXid,
  type RestoreTarget,
  type RestoreTargetInput,
  type StopRule,
} from './restore-target.js';
export {
  checkTargetInWindow,
  type RestoreWindow,
  restoreWindow,
  type SnapshotInfo,
} from './restore-window.js';
export { buildSchemaDdl, type SchemaDdl } from './schema-builder.js';
export { createSequences, sequenceSetting, settleSequences } from './sequence-restore.js';
export {
  type CompactionResult,
  type CompactOptions,
  compactSnapshot,
} from './snapshot-compactor.js';
export { listSnapshotViews, type SnapshotView } from './snapshot-listing.js';
export {
  addPrimaryKeys,
  type LoadedSnapshot,
  type LoadSnapshotOptions,
  loadSnapshot,
} from './snapshot-loader.js';
export { quoteIdent } from './sql-ident.js';
export { scopePlan, selectTables, type TableSelection } from './table-selection.js';
export {
  cleanTarget,
  type PreparedTarget,
  parseTargetUrl,
  prepareTargetDatabase,
  type TargetLocation,
} from './target-database.js';
export { parseTipDocument } from './tip-document.js';
