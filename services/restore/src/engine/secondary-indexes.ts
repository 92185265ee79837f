import type pg from 'pg';
import type { EngineLogger } from './engine-logger.js';
import { forEachParallel } from './parallel.js';
import type { SecondaryIndex } from './schema-changes.js';
import { connectTarget, type TargetLocation } from './target-database.js';

/**
 * Builds the secondary indexes the restored tables have at the restored instant (the
 * snapshot's, as later schema changes left them), after the data load and the replay:
 * building an index once over the final rows is cheaper than maintaining it through the
 * load and every replayed change. Several at once, partitions before their parents (a
 * parent's index then attaches the partitions' instead of building its own). Best effort,
 * like defaults: an index may need a function or operator class the target lacks; a
 * failure is a warning of the outcome, not a failed restore.
 */
export async function createSecondaryIndexes(
  target: TargetLocation,
  indexes: readonly SecondaryIndex[],
  parallelism: number,
  logger: EngineLogger,
): Promise<string[]> {
  const warnings: string[] = [];
  const warn = (ix: SecondaryIndex, why: string) => {
    const message = `index ${ix.name} of ${ix.table} not restored: ${why}`;
    warnings.push(message);
    logger.warn({ table: ix.table, index: ix.name }, message);
  };
  const levels = [...new Set(indexes.map((x) => x.level))].sort((a, b) => b - a);
  const clients: (pg.Client | undefined)[] = [];
  try {
    for (const level of levels) {
      await forEachParallel(
        indexes.filter((x) => x.level === level),
        parallelism,
        async (ix, w) => {
          if (ix.sql === undefined)
            return warn(ix, 'its definition is not in the form pg_get_indexdef writes');
          clients[w] ??= await connectTarget(target);
          try {
            await clients[w].query(ix.sql);
          } catch (err) {
            warn(ix, err instanceof Error ? err.message : String(err));
          }
        },
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c?.end().catch(() => {})));
  }
  return warnings;
}
