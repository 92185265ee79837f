import type { KeyProvider, SnapshotTableSealing, TidemarkConfig } from '@tidemark/shared';

/** how often capture looks for tables that joined the publication (services/capture/src/new-table-watcher.ts) */
export const NEW_TABLE_CHECK_MS = 5_000;

/**
 * How snapshot table data is stored, for capture's base snapshot and compaction alike:
 * zstd blocks when segments are compressed (TIDEMARK_SEGMENT_COMPRESSION), encrypted when
 * a master key is configured, plain COPY text with neither.
 */
export function snapshotSealing(config: TidemarkConfig, keys: KeyProvider | undefined): SnapshotTableSealing {
  return { compress: config.segmentCompression === 'zstd', ...(keys ? { keys } : {}) };
}

/**
 * The restore service's compaction settings. The scratch databases go to
 * TIDEMARK_COMPACTION_DATABASE_URL, else to the source server when this process knows it
 * (`tidemark up`, or `tidemark restore` with TIDEMARK_SOURCE_URL): a database created
 * next to the source is outside its publication, so nothing of it is captured.
 */
export function compactionSettings(
  config: TidemarkConfig,
  keys: KeyProvider | undefined,
  sourceUrl: string | undefined,
): { serverUrl?: string; intervalMs: number; sealing: SnapshotTableSealing } {
  const serverUrl = config.compactionDatabaseUrl ?? sourceUrl;
  return {
    ...(serverUrl ? { serverUrl } : {}),
    intervalMs: config.compactionIntervalMs,
    sealing: snapshotSealing(config, keys),
  };
}
