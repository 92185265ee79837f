import type { SnapshotColumn, SnapshotSequence, SnapshotTable } from '@tidemark/shared';
import type { ColumnShape } from './ddl-message.js';
import type { ReplayedTable } from './schema-changes.js';
import { displayName, tableKey } from './sql-ident.js';

/**
 * The table definitions of a compacted snapshot at L: the schema-change state the replay to
 * L ended with (schema-changes.ts), named and typed as on the source. Pure.
 *
 * - a table no schema change described keeps the definition of the snapshot the compaction
 *   builds on (its defaults, types, attnums), minus the secondary indexes dropped since;
 * - a table a `tidemark.ddl` message described (altered, renamed, created) gets that
 *   description: its source oid (journal records name relations by it), columns with
 *   attnum, type, type oid, NOT NULL and default, primary key, replica identity, indexes,
 *   partitioning;
 * - a dropped table is gone.
 *
 * Type oids come from the message; where it carried none, from the same column of the
 * snapshot when its type did not change, else from the scratch database (equal to the
 * source's for built-in types; the manifest's type oid is informational).
 */
export type TableDefinition = Omit<
  SnapshotTable,
  | 'dataKey'
  | 'rows'
  | 'bytes'
  | 'sha256'
  | 'xxh64'
  | 'encoding'
  | 'storedBytes'
  | 'contentSha256'
  | 'encrypted'
>;

/** column name → atttypid of a table in the scratch database, by tableKey */
export type ScratchSchema = ReadonlyMap<string, ReadonlyMap<string, number>>;

export function definitionsAtReplayEnd(
  replayed: readonly ReplayedTable[],
  scratch: ScratchSchema,
): TableDefinition[] {
  return replayed.map((r) => {
    if (!r.described && r.snapshot) {
      const definition = withoutData(r.snapshot);
      // the only change a table gets without a message describing it: an index dropped
      return r.snapshot.indexes === undefined ? definition : { ...definition, indexes: r.shape.indexes };
    }
    const s = r.shape;
    const columns = scratch.get(tableKey(s.schema, s.name));
    return {
      schema: s.schema,
      table: s.name,
      oid: s.oid,
      kind: s.kind,
      columns: s.columns.map(
        (c): SnapshotColumn => ({
          name: c.name,
          type: c.type,
          typeOid: c.typeOid ?? snapshotTypeOid(r.snapshot, c) ?? columns?.get(c.name) ?? 0,
          notNull: c.notNull,
          default: c.default,
          ...(c.attnum === undefined ? {} : { attnum: c.attnum }),
        }),
      ),
      primaryKey: s.primaryKey,
      indexes: s.indexes,
      replicaIdentity: s.replicaIdentity,
      partitionKey: s.partitionKey,
      partitionOf: s.partitionOf,
    };
  });
}

/**
 * Where the scratch database and the definitions disagree: a table or column one has and
 * the other not. The data of such a table cannot be described by the journal's schema
 * changes (say, a table snapshot of a partition whose parent the journal does not know),
 * and compaction then fails closed rather than write a snapshot that lies.
 */
export function schemaMismatches(definitions: readonly TableDefinition[], scratch: ScratchSchema): string[] {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const t of definitions) {
    const key = tableKey(t.schema, t.table);
    expected.add(key);
    const cols = scratch.get(key);
    if (!cols) {
      problems.push(`table ${displayName(t.schema, t.table)} is described but the replay did not build it`);
      continue;
    }
    const want = t.columns.map((c) => c.name);
    const have = [...cols.keys()];
    if (have.length !== want.length || want.some((c) => !cols.has(c)))
      problems.push(
        `table ${displayName(t.schema, t.table)} has columns (${have.join(', ')}) where the schema changes describe (${want.join(', ')})`,
      );
    else if (t.columns.some((c) => c.typeOid === 0))
      problems.push(`table ${displayName(t.schema, t.table)} has a column whose type is not known`);
  }
  for (const key of scratch.keys())
    if (!expected.has(key)) {
      const [schema, table] = JSON.parse(key) as [string, string];
      problems.push(
        `table ${displayName(schema, table)} is in the restored database but nothing describes it`,
      );
    }
  return problems;
}

/**
 * The based-on snapshot's sequences, following their owners: a sequence owned by a column
 * goes when that column or its table was dropped (PostgreSQL drops it with them), and names
 * the column where it is now after renames. Sequences created after the snapshot are not
 * in the journal (logical decoding carries none, DDL capture describes tables only).
 */
export function carriedSequences(
  sequences: readonly SnapshotSequence[],
  previousTables: readonly Pick<SnapshotTable, 'schema' | 'table'>[],
  replayed: readonly ReplayedTable[],
): SnapshotSequence[] {
  const inSnapshot = new Set(previousTables.map((t) => tableKey(t.schema, t.table)));
  const remaining = new Map(
    replayed.flatMap((r) =>
      r.snapshot ? [[tableKey(r.snapshot.schema, r.snapshot.table), r] as const] : [],
    ),
  );
  const out: SnapshotSequence[] = [];
  for (const s of sequences) {
    const owner = s.ownedBy;
    const key = owner && tableKey(owner.schema, owner.table);
    // not owned, or owned by a table the snapshot does not hold: nothing is known of changes
    if (!owner || !key || !inSnapshot.has(key)) {
      out.push(s);
      continue;
    }
    const r = remaining.get(key);
    if (!r) continue; // its table was dropped, and the sequence with it
    const was = r.snapshot?.columns.find((c) => c.name === owner.column);
    const now =
      was &&
      r.shape.columns.find((c) =>
        was.attnum !== undefined && c.attnum !== undefined ? c.attnum === was.attnum : c.name === was.name,
      );
    if (was && !now) continue; // its column was dropped, and the sequence with it
    out.push(now ? { ...s, ownedBy: { schema: r.shape.schema, table: r.shape.name, column: now.name } } : s);
  }
  return out;
}

function snapshotTypeOid(snapshot: SnapshotTable | null, c: ColumnShape): number | undefined {
  const was = snapshot?.columns.find((x) =>
    x.attnum !== undefined && c.attnum !== undefined ? x.attnum === c.attnum : x.name === c.name,
  );
  return was && was.type === c.type ? was.typeOid : undefined;
}

function withoutData(t: SnapshotTable): TableDefinition {
  const {
    dataKey: _d,
    rows: _r,
    bytes: _b,
    sha256: _s,
    xxh64: _x,
    encoding: _e,
    storedBytes: _sb,
    contentSha256: _c,
    encrypted: _en,
    ...definition
  } = t;
  return definition;
}
