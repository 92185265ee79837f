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
 * restore, closed, rather than silently falling back. When no snapshot is left, the
 * planner's SNAPSHOT_CORRUPT names the damaged objects in `details` (`key`, `damagedKeys`):
 * the excluded snapshots are handed to it with their damaged object keys.
 */
export interface SnapshotCheckOptions {
  readonly deep?: boolean;
  /** told about every snapshot that failed and was skipped */
  readonly onSkipped?: (snapshot: SnapshotInfo, problems: readonly string[]) => void;
}

export async function planWithVerifiedSnapshot(
  store: ObjectStore,
  plan: (exclude: ReadonlyMap<string, readonly string[]>) => RestorePlan,
  options: SnapshotCheckOptions = {},
): Promise<RestorePlan> {
  // manifest key → its damaged object keys
  const excluded = new Map<string, readonly string[]>();
  for (;;) {
    const proposed = plan(excluded);
    const problems = await snapshotObjectProblems(store, proposed.snapshot, options.deep ?? false);
    if (problems.length === 0) return proposed;
    excluded.set(proposed.snapshot.manifestKey, [...new Set(problems.map((p) => p.key))]);
    options.onSkipped?.(
      proposed.snapshot,
      problems.map((p) => p.message),
    );
  }
}

/** Problems of a snapshot's data objects (empty: it verifies). */
export async function verifySnapshotObjects(
  store: ObjectStore,
  snapshot: SnapshotInfo,
  deep: boolean,
): Promise<string[]> {
  return (await snapshotObjectProblems(store, snapshot, deep)).map((p) => p.message);
}

export interface SnapshotObjectProblem {
  /** the data object at fault */
  readonly key: string;
  readonly message: string;
}

/** Problems of a snapshot's data objects, sorted by message (empty: it verifies). */
export async function snapshotObjectProblems(
  store: ObjectStore,
  snapshot: SnapshotInfo,
  deep: boolean,
): Promise<SnapshotObjectProblem[]> {
  const problems: SnapshotObjectProblem[] = [];
  const problem = (key: string, message: string) => problems.push({ key, message });
  const tables = snapshot.tables.filter((t) => t.dataKey !== null);
  await forEachParallel(tables, 4, async (table) => {
    const key = table.dataKey as string;
    const expected = storedBytesOf(table);
    const info = await store.head(key);
    if (!info) {
      problem(key, `${key} (table ${table.schema}.${table.table}) is missing`);
      return;
    }
    if (info.size !== expected) {
      problem(key, `${key} has ${info.size} bytes, the manifest says ${expected}`);
      return;
    }
    if (!deep) return;
    const hash = createSha256();
    try {
      for await (const chunk of await store.getStream(key)) hash.update(chunk);
    } catch (err) {
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) {
        problem(key, `${key} disappeared while being verified`);
        return;
      }
      throw err;
    }
    const digest = hash.digestHex();
    if (digest !== table.sha256)
      problem(key, `${key} has SHA-256 ${digest}, the manifest says ${table.sha256}`);
  });
  return problems.sort((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}
