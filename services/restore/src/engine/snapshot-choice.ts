import { createSha256, isTidemarkError, type ObjectStore, storedBytesOf } from '@tidemark/shared';
import { forEachParallel } from './parallel.js';
import type { RestorePlan } from './restore-planner.js';
import type { SnapshotInfo } from './restore-window.js';

/**
 * "Each snapshot has a manifest with checksums and is verified before use": the planner
 * proposes the newest snapshot for the target; it is checked here and, when it fails, left
 * out and the next older one proposed, down to the base snapshot. So a damaged compacted
 * snapshot costs time, never the restore.
 *
 * - shallow (dry runs): every data object exists with the size the manifest says.
 * - deep (restores): also the SHA-256 of every stored object (no key needed: it covers
 *   the stored, possibly encrypted bytes). This reads the snapshot once more before the
 *   load, which checks the same hashes again while loading (the store may change in
 *   between); the load itself only commits a table whose hashes held.
 *
 * A key problem (DECRYPT_FAILED) is not damage: it is found while loading and fails the
 * restore, closed, rather than silently falling back.
 */
export interface SnapshotCheckOptions {
  readonly deep?: boolean;
  /** told about every snapshot that failed and was skipped */
  readonly onSkipped?: (snapshot: SnapshotInfo, problems: readonly string[]) => void;
}

export async function planWithVerifiedSnapshot(
  store: ObjectStore,
  plan: (exclude: ReadonlySet<string>) => RestorePlan,
  options: SnapshotCheckOptions = {},
): Promise<RestorePlan> {
  const excluded = new Set<string>();
  for (;;) {
    const proposed = plan(excluded);
    const problems = await verifySnapshotObjects(store, proposed.snapshot, options.deep ?? false);
    if (problems.length === 0) return proposed;
    excluded.add(proposed.snapshot.manifestKey);
    options.onSkipped?.(proposed.snapshot, problems);
  }
}

/** Problems of a snapshot's data objects (empty: it verifies). */
export async function verifySnapshotObjects(
  store: ObjectStore,
  snapshot: SnapshotInfo,
  deep: boolean,
): Promise<string[]> {
  const problems: string[] = [];
  const tables = snapshot.tables.filter((t) => t.dataKey !== null);
  await forEachParallel(tables, 4, async (table) => {
    const key = table.dataKey as string;
    const expected = storedBytesOf(table);
    const info = await store.head(key);
    if (!info) {
      problems.push(`${key} (table ${table.schema}.${table.table}) is missing`);
      return;
    }
    if (info.size !== expected) {
      problems.push(`${key} has ${info.size} bytes, the manifest says ${expected}`);
      return;
    }
    if (!deep) return;
    const hash = createSha256();
    try {
      for await (const chunk of await store.getStream(key)) hash.update(chunk);
    } catch (err) {
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) {
        problems.push(`${key} disappeared while being verified`);
        return;
      }
      throw err;
    }
    const digest = hash.digestHex();
    if (digest !== table.sha256)
      problems.push(`${key} has SHA-256 ${digest}, the manifest says ${table.sha256}`);
  });
  return problems.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
