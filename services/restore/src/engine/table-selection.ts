import type { SnapshotManifest, SnapshotTable } from '@tidemark/shared';
import { TidemarkError } from '@tidemark/shared';
import { nearMatches } from './near-matches.js';
import { type RestorePlan, snapshotDataBytes } from './restore-planner.js';
import { formatQualifiedName, type QualifiedName, type RestoreScope } from './restore-scope.js';
import { tableKey } from './sql-ident.js';

/**
 * Which snapshot tables a scoped restore builds, and under which names. Pure.
 *
 * - A listed table comes with its partitions (all levels).
 * - With `scope.schema`, every table it keeps goes into that schema under its own name;
 *   two of them with one name are a BAD_REQUEST.
 * - A partition listed alone ends as a plain table. The journal names the partition root
 *   for every change of the tree (capture publishes via the root), and which partition a
 *   row belongs to is for PostgreSQL to say, not us: so its whole tree is built beside it
 *   under scratch names (`scratch`), the replay goes through the scratch root exactly as
 *   it would on the source, and at the end the partition is detached and the scratch tree
 *   dropped. That costs loading its sibling partitions; it keeps every row exact.
 */
export interface TableSelection {
  readonly scope: RestoreScope;
  /** every table built, renamed to where it goes (partitionOf too), in manifest order */
  readonly tables: readonly SnapshotTable[];
  /** what is left at the end: the listed tables and their partitions, target names */
  readonly kept: readonly QualifiedName[];
  /** partitions listed alone: detached from their scratch parent at the end */
  readonly detach: readonly { readonly parent: QualifiedName; readonly partition: QualifiedName }[];
  /** roots of the scratch trees: dropped at the end, after the detaches */
  readonly scratchRoots: readonly QualifiedName[];
  /** where the replay keeps its progress row (inside the schema for a schema restore) */
  readonly progressTable: QualifiedName;
  /**
   * listed tables that are not in the snapshot but come from a per-table snapshot later in
   * the journal (late-tables.ts): target names; their marker creates them during the replay
   */
  readonly fromTableSnapshots: readonly QualifiedName[];
  /** target name of a source table, undefined when the restore leaves it out */
  targetOf(schema: string, table: string): QualifiedName | undefined;
}

export const PROGRESS_TABLE: QualifiedName = { schema: '_tidemark', table: 'restore_progress' };

export function selectTables(
  manifestTables: readonly SnapshotTable[],
  scope: RestoreScope,
  /** plain tables a per-table snapshot after the snapshot creates (late-tables.ts), by source name */
  lateTables: readonly QualifiedName[] = [],
): TableSelection {
  const byKey = new Map(manifestTables.map((t) => [keyOf(t), t]));
  const late = new Map(lateTables.filter((n) => !byKey.has(keyOf(n))).map((n) => [keyOf(n), n]));
  const children = new Map<string, SnapshotTable[]>();
  for (const t of manifestTables) {
    if (!t.partitionOf) continue;
    const parent = keyOf(t.partitionOf);
    children.set(parent, [...(children.get(parent) ?? []), t]);
  }
  const subtree = (t: SnapshotTable): SnapshotTable[] => {
    const out: SnapshotTable[] = [];
    const visit = (n: SnapshotTable, depth: number) => {
      if (depth > 64) return;
      out.push(n);
      for (const c of children.get(keyOf(n)) ?? []) visit(c, depth + 1);
    };
    visit(t, 0);
    return out;
  };
  const ancestors = (t: SnapshotTable): SnapshotTable[] => {
    const out: SnapshotTable[] = [];
    for (let p = t.partitionOf ? byKey.get(keyOf(t.partitionOf)) : undefined; p && out.length < 64; ) {
      out.push(p);
      p = p.partitionOf ? byKey.get(keyOf(p.partitionOf)) : undefined;
    }
    return out;
  };

  const lateListed = scope.tables.filter((n) => late.has(keyOf(n)));
  const listed = scope.tables
    .filter((n) => !late.has(keyOf(n)))
    .map((n) => ({ name: n, table: byKey.get(keyOf(n)) }));
  const unknown = listed.filter((l) => l.table === undefined).map((l) => l.name);
  if (unknown.length > 0) throw unknownTables(unknown, manifestTables);
  const listedTables = listed.map((l) => l.table as SnapshotTable);
  const listedKeys = new Set(listedTables.map(keyOf));

  const kept = new Set<string>();
  for (const t of listedTables) for (const n of subtree(t)) kept.add(keyOf(n));
  const alone = listedTables.filter(
    (t) => t.partitionOf && !ancestors(t).some((a) => listedKeys.has(keyOf(a))),
  );
  const scratch = new Set<string>();
  const roots = new Map<string, SnapshotTable>();
  for (const t of alone) {
    const root = ancestors(t).at(-1) ?? t;
    roots.set(keyOf(root), root);
    for (const n of subtree(root)) if (!kept.has(keyOf(n))) scratch.add(keyOf(n));
  }

  const targets = new Map<string, QualifiedName>();
  const claimedBy = new Map<string, SnapshotTable>();
  for (const t of manifestTables) {
    const key = keyOf(t);
    if (!kept.has(key) && !scratch.has(key)) continue;
    const target = kept.has(key)
      ? { schema: scope.schema ?? t.schema, table: t.table }
      : scratchName(t, scope);
    const other = claimedBy.get(keyOf(target));
    if (other) throw nameClash(other, t, target);
    claimedBy.set(keyOf(target), t);
    targets.set(key, target);
  }
  const fromTableSnapshots = lateListed.map((n) => {
    const target = { schema: scope.schema ?? n.schema, table: n.table };
    const other = claimedBy.get(keyOf(target));
    if (other) throw nameClash(other, n, target);
    targets.set(keyOf(n), target);
    return target;
  });
  const targetOf = (schema: string, table: string) => targets.get(tableKey(schema, table));
  const renamed = (name: QualifiedName) => targets.get(keyOf(name)) as QualifiedName;

  const tables = manifestTables
    .filter((t) => targets.has(keyOf(t)))
    .map((t): SnapshotTable => {
      const parent = t.partitionOf ? targets.get(keyOf(t.partitionOf)) : undefined;
      return {
        ...t,
        ...renamed(t),
        partitionOf: t.partitionOf && parent ? { ...parent, bound: t.partitionOf.bound } : null,
      };
    });
  return {
    scope,
    tables,
    kept: [...manifestTables.filter((t) => kept.has(keyOf(t))).map(renamed), ...fromTableSnapshots],
    detach: alone.map((t) => ({ parent: renamed(t.partitionOf as QualifiedName), partition: renamed(t) })),
    scratchRoots: [...roots.values()].map(renamed),
    progressTable: progressTableOf(scope),
    fromTableSnapshots,
    targetOf,
  };
}

/** Where a restore keeps its progress row: `_tidemark`, or its own schema for a schema restore. */
export function progressTableOf(scope: RestoreScope | null | undefined): QualifiedName {
  return scope?.schema ? { schema: scope.schema, table: '_tidemark_restore_progress' } : PROGRESS_TABLE;
}

/**
 * The manifest a scoped restore builds and loads: only the selected tables, renamed.
 * Sequences come along when a kept table owns them. Into a schema, objects whose
 * definitions name source schemas (secondary indexes, sequences and the nextval()
 * defaults that use them) are left out rather than rewritten: a definition naming the
 * source's table would act on whatever the existing database has under that name.
 * Scratch tables get no secondary index (they are dropped at the end).
 */
export function selectedManifest(manifest: SnapshotManifest, selection: TableSelection): SnapshotManifest {
  const intoSchema = selection.scope.schema !== null;
  const keptKeys = new Set(selection.kept.map(keyOf));
  const tables = selection.tables.map((t): SnapshotTable => {
    const keepIndexes = !intoSchema && keptKeys.has(keyOf(t));
    const { indexes, ...rest } = t;
    const columns = intoSchema
      ? t.columns.map((c) =>
          c.default !== null && /\bnextval\s*\(/i.test(c.default) ? { ...c, default: null } : c,
        )
      : t.columns;
    return { ...rest, columns, ...(keepIndexes && indexes ? { indexes } : {}) };
  });
  const { sequences, ...rest } = manifest;
  const owned = (sequences ?? []).filter((s) => {
    const owner = s.ownedBy ? selection.targetOf(s.ownedBy.schema, s.ownedBy.table) : undefined;
    return !intoSchema && owner !== undefined && keptKeys.has(keyOf(owner));
  });
  return { ...rest, tables, ...(sequences ? { sequences: owned } : {}) };
}

/**
 * Scratch tables hold rows of partitions nobody asked for while the replay needs them;
 * named by source oid so that two trees (or two schemas) never collide.
 */
function scratchName(t: SnapshotTable, scope: RestoreScope): QualifiedName {
  return scope.schema === null
    ? { schema: '_tidemark', table: `scratch_${t.oid}` }
    : { schema: scope.schema, table: `_tidemark_scratch_${t.oid}` };
}

function keyOf(n: { readonly schema: string; readonly table: string }): string {
  return tableKey(n.schema, n.table);
}

function unknownTables(unknown: readonly QualifiedName[], tables: readonly SnapshotTable[]): TidemarkError {
  const names = tables.map((t) => formatQualifiedName(t));
  const suggestions: Record<string, string[]> = {};
  const parts = unknown.map((u) => {
    const text = formatQualifiedName(u);
    const near = nearMatches(text, names);
    suggestions[text] = near;
    return near.length > 0 ? `${text} (did you mean ${near.join(' or ')}?)` : text;
  });
  const plural = unknown.length > 1;
  return new TidemarkError(
    'UNKNOWN_TABLE',
    `${plural ? 'tables' : 'table'} ${parts.join(', ')} ${plural ? 'are' : 'is'} not in the source at the target instant ` +
      `(its base snapshot has ${tables.length} tables${names.length > 0 && names.length <= 10 ? `: ${names.join(', ')}` : ''}); ` +
      'name tables as schema.table, exactly as the source spells them',
    { details: { field: 'tables', unknown: unknown.map(formatQualifiedName), nearMatches: suggestions } },
  );
}

function nameClash(a: QualifiedName, b: QualifiedName, target: QualifiedName): TidemarkError {
  return new TidemarkError(
    'BAD_REQUEST',
    `tables ${formatQualifiedName(a)} and ${formatQualifiedName(b)} would both be restored as ${formatQualifiedName(target)}; ` +
      'restore them into two different schemas (two requests)',
    { details: { field: 'tables', tables: [formatQualifiedName(a), formatQualifiedName(b)] } },
  );
}

/**
 * The plan of a scoped restore: its snapshot lists only the tables built (renamed), so
 * what loads them, counts their bytes and cleans them up sees just those.
 */
export function scopePlan(
  plan: RestorePlan,
  scope: RestoreScope | null | undefined,
  lateTables: readonly QualifiedName[] = [],
): { plan: RestorePlan; selection: TableSelection | null } {
  if (!scope) return { plan, selection: null };
  const selection = selectTables(plan.snapshot.tables, scope, lateTables);
  const snapshot = { ...plan.snapshot, tables: selection.tables };
  const segmentBytes = plan.totalBytes - snapshotDataBytes(plan);
  return {
    plan: { ...plan, snapshot, totalBytes: snapshotDataBytes({ snapshot }) + segmentBytes },
    selection,
  };
}
