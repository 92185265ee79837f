import {
  isTidemarkError,
  type ObjectStore,
  parseLsn,
  type TableSnapshotManifest,
  tableSnapshotsPrefix,
} from '@tidemark/shared';
import type { RestorePlan } from './restore-planner.js';
import type { QualifiedName, RestoreScope } from './restore-scope.js';
import { tableKey } from './sql-ident.js';
import { scopePlan, type TableSelection } from './table-selection.js';

/**
 * Listed tables of a table restore that the plan's snapshot does not have, but that a
 * per-table snapshot (core/table-snapshot.ts) creates later in the journal: a table that
 * joined the publication after the base snapshot. Whether its marker lies before the
 * restore target is known only once the replay gets there (a marker carries no commit time
 * until it is read), so a table snapshot counts unless its start LSN is already past an LSN
 * target; a listed table whose marker does not come before the target fails the restore at
 * the end (table-snapshot-replay.ts, UNKNOWN_TABLE) and the target is cleaned.
 *
 * Only plain tables: a partition or partitioned table that joined later is left to a whole
 * restore (its tree would have to be renamed along).
 *
 * The store is listed (manifests only) only when a listed table is missing from the
 * snapshot, so an ordinary table restore costs nothing more.
 */
export async function lateTables(
  store: ObjectStore,
  plan: RestorePlan,
  names: readonly QualifiedName[],
): Promise<QualifiedName[]> {
  if (names.length === 0) return [];
  const wanted = new Map(names.map((n) => [tableKey(n.schema, n.table), n]));
  const upTo = plan.stopRule.kind === 'lsn' ? plan.stopRule.lsn : undefined;
  const found = new Map<string, QualifiedName>();
  for await (const o of store.list(tableSnapshotsPrefix(plan.source))) {
    if (!o.key.endsWith('/manifest.json')) continue;
    let m: TableSnapshotManifest;
    try {
      m = JSON.parse(new TextDecoder().decode(await store.get(o.key))) as TableSnapshotManifest;
    } catch (err) {
      // deleted meanwhile, or unreadable: the replay's own read of it decides, if a marker names it
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND') || err instanceof SyntaxError) continue;
      throw err;
    }
    const t = m?.table;
    if (m?.kind !== 'table' || typeof m.startLsn !== 'string' || !t) continue;
    if (t.kind !== 'table' || t.partitionOf) continue;
    const key = tableKey(t.schema, t.table);
    const name = wanted.get(key);
    if (!name) continue;
    let start: bigint;
    try {
      start = parseLsn(m.startLsn);
    } catch {
      continue;
    }
    if (upTo !== undefined && start >= upTo) continue;
    found.set(key, name);
  }
  return [...found.values()];
}

/**
 * scopePlan (table-selection.ts) with the listed tables that only a per-table snapshot
 * creates: the one call every planner of a table restore (submit check, dry run, the
 * restore, the resume's clean-up) makes, so they all agree on what it builds.
 */
export async function scopeRestorePlan(
  store: ObjectStore,
  plan: RestorePlan,
  scope: RestoreScope | null | undefined,
): Promise<{ plan: RestorePlan; selection: TableSelection | null }> {
  if (!scope) return { plan, selection: null };
  const inSnapshot = new Set(plan.snapshot.tables.map((t) => tableKey(t.schema, t.table)));
  const missing = scope.tables.filter((n) => !inSnapshot.has(tableKey(n.schema, n.table)));
  return scopePlan(plan, scope, await lateTables(store, plan, missing));
}

/** What a clean-up of a table restore drops: the tables built from the snapshot and those its markers created. */
export function restoredTables(
  plan: RestorePlan,
  selection: TableSelection | null,
): { readonly schema: string; readonly table: string }[] {
  return [...plan.snapshot.tables, ...(selection?.fromTableSnapshots ?? [])];
}
