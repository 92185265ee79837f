import type { SnapshotManifest, SnapshotSequence, SnapshotTable } from '@tidemark/shared';
import { displayName, qualifiedName, quoteIdent, tableKey } from './sql-ident.js';

/**
 * DDL that recreates a snapshot's tables on the target. Pure.
 *
 * The statements come in stages because their cost and their failure modes differ:
 * - `schemas`, `tables`: run before the data load (tables without indexes load fastest);
 * - `primaryKeys`: run after the load, before the replay (updates and deletes find rows
 *   by key, which needs the index);
 * - `defaults`: run last, each on its own, best effort: a default may call a function
 *   that does not exist on the target; values never depend on defaults during a restore
 *   (every journaled insert carries all its columns), so a missing default is a warning,
 *   not a failed restore.
 *
 * Types are `format_type()` output from the source and are used verbatim: format_type
 * already quotes what needs quoting. User-defined types (enums, domains, composites) must
 * exist on the target: recreating them is future work.
 */
export interface SchemaDdl {
  readonly schemas: readonly string[];
  readonly tables: readonly string[];
  readonly primaryKeys: readonly string[];
  readonly defaults: readonly { readonly table: string; readonly column: string; readonly sql: string }[];
  /** the snapshot's sequences: created, attached and set in the last step (sequence-restore.ts) */
  readonly sequences: readonly SnapshotSequence[];
}

export function buildSchemaDdl(manifest: SnapshotManifest): SchemaDdl {
  const ordered = parentsFirst(manifest.tables);
  const byKey = new Map(manifest.tables.map((t) => [tableKey(t.schema, t.table), t]));
  const schemas = [...new Set(ordered.map((t) => t.schema))].map(
    (s) => `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)}`,
  );
  const tables: string[] = [];
  const defaults: { table: string; column: string; sql: string }[] = [];
  for (const t of ordered) {
    const parent = t.partitionOf ? byKey.get(tableKey(t.partitionOf.schema, t.partitionOf.table)) : undefined;
    tables.push(...createTable(t, parent));
    for (const c of t.columns) {
      if (c.default === null || !keepDefault(c.default, manifest.sequences !== undefined)) continue;
      // a partition inherits its parent's default; repeating it is harmless but noisy
      const inherited = parent?.columns.find((p) => p.name === c.name)?.default === c.default;
      if (inherited) continue;
      defaults.push({
        table: displayName(t.schema, t.table),
        column: c.name,
        sql: `ALTER TABLE ${qualifiedName(t.schema, t.table)} ALTER COLUMN ${quoteIdent(c.name)} SET DEFAULT ${c.default}`,
      });
    }
  }
  return {
    schemas,
    tables,
    primaryKeys: primaryKeys(ordered, byKey),
    defaults,
    sequences: manifest.sequences ?? [],
  };
}

/**
 * Defaults that call nextval() need their sequence: kept when the snapshot lists the
 * sequences (sequence-restore.ts creates them before the defaults are set), left out for
 * snapshots taken before sequences were captured.
 */
function keepDefault(expr: string, sequencesCaptured: boolean): boolean {
  return sequencesCaptured || !/\bnextval\s*\(/i.test(expr);
}

function createTable(t: SnapshotTable, parent: SnapshotTable | undefined): string[] {
  const name = qualifiedName(t.schema, t.table);
  const partitionBy = t.kind === 'partitioned' && t.partitionKey ? ` PARTITION BY ${t.partitionKey}` : '';
  const out: string[] = [];
  if (t.partitionOf && parent) {
    // Columns come from the parent; a partition may only add NOT NULL constraints.
    out.push(
      `CREATE TABLE ${name} PARTITION OF ${qualifiedName(parent.schema, parent.table)} ${t.partitionOf.bound}${partitionBy}`,
    );
    for (const c of t.columns) {
      const inParent = parent.columns.find((p) => p.name === c.name);
      if (c.notNull && inParent && !inParent.notNull)
        out.push(`ALTER TABLE ${name} ALTER COLUMN ${quoteIdent(c.name)} SET NOT NULL`);
    }
  } else {
    const cols = t.columns.map((c) => `${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}`);
    out.push(`CREATE TABLE ${name} (${cols.join(', ')})${partitionBy}`);
  }
  // FULL identity is what the journal's FULL old rows assume; NOTHING is kept for fidelity.
  // TODO(identity-index): REPLICA IDENTITY USING INDEX needs the index, which the manifest lacks.
  if (t.replicaIdentity === 'full') out.push(`ALTER TABLE ${name} REPLICA IDENTITY FULL`);
  if (t.replicaIdentity === 'nothing') out.push(`ALTER TABLE ${name} REPLICA IDENTITY NOTHING`);
  return out;
}

/**
 * A primary key on a partitioned table is created on all its partitions by PostgreSQL, so
 * partitions under a parent that has one get none of their own (a second would fail).
 */
function primaryKeys(ordered: readonly SnapshotTable[], byKey: Map<string, SnapshotTable>): string[] {
  const out: string[] = [];
  for (const t of ordered) {
    if (!t.primaryKey || t.primaryKey.length === 0) continue;
    if (ancestorHasPrimaryKey(t, byKey)) continue;
    const cols = t.primaryKey.map(quoteIdent).join(', ');
    out.push(`ALTER TABLE ${qualifiedName(t.schema, t.table)} ADD PRIMARY KEY (${cols})`);
  }
  return out;
}

function ancestorHasPrimaryKey(t: SnapshotTable, byKey: Map<string, SnapshotTable>): boolean {
  let p = t.partitionOf ? byKey.get(tableKey(t.partitionOf.schema, t.partitionOf.table)) : undefined;
  for (let depth = 0; p && depth < 64; depth++) {
    if (p.primaryKey && p.primaryKey.length > 0) return true;
    p = p.partitionOf ? byKey.get(tableKey(p.partitionOf.schema, p.partitionOf.table)) : undefined;
  }
  return false;
}

/** Orders tables so that every partition comes after its parent (partitions can nest). */
export function parentsFirst(tables: readonly SnapshotTable[]): SnapshotTable[] {
  const byKey = new Map(tables.map((t) => [tableKey(t.schema, t.table), t]));
  const done = new Set<string>();
  const out: SnapshotTable[] = [];
  const visit = (t: SnapshotTable, depth: number): void => {
    const key = tableKey(t.schema, t.table);
    if (done.has(key)) return;
    if (depth > 64) throw new RangeError(`partition nesting of ${displayName(t.schema, t.table)} is cyclic`);
    const parent = t.partitionOf ? byKey.get(tableKey(t.partitionOf.schema, t.partitionOf.table)) : undefined;
    if (parent) visit(parent, depth + 1);
    done.add(key);
    out.push(t);
  };
  for (const t of tables) visit(t, 0);
  return out;
}
