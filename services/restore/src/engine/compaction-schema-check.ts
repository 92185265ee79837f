import { type SnapshotManifest, type SnapshotSequence, TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import { tableKey } from './sql-ident.js';

/**
 * A compacted snapshot keeps the table definitions (and source oids) of the snapshot it
 * was based on. That is only right while the restored schema still matches them: a table
 * created, dropped or altered in between (DDL replayed from the journal) would make the
 * new snapshot describe tables that are not what its data holds. Compaction then fails
 * with this message instead of writing such a snapshot; restores keep working from the
 * older snapshot.
 */
export async function checkScratchSchema(client: pg.Client, previous: SnapshotManifest): Promise<void> {
  const { rows } = await client.query<{ s: string; t: string; cols: string[] | null }>(
    `SELECT n.nspname AS s, c.relname AS t,
            array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped) AS cols
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_tidemark')
        AND n.nspname NOT LIKE 'pg\\_%'
      GROUP BY 1, 2`,
  );
  const restored = new Map(rows.map((r) => [tableKey(r.s, r.t), r.cols ?? []]));
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const t of previous.tables) {
    const key = tableKey(t.schema, t.table);
    expected.add(key);
    const cols = restored.get(key);
    if (!cols) {
      problems.push(`table ${t.schema}.${t.table} no longer exists`);
      continue;
    }
    const want = t.columns.map((c) => c.name);
    if (cols.length !== want.length || cols.some((c, i) => c !== want[i]))
      problems.push(
        `table ${t.schema}.${t.table} now has columns (${cols.join(', ')}), the snapshot (${want.join(', ')})`,
      );
  }
  for (const r of rows)
    if (!expected.has(tableKey(r.s, r.t)))
      problems.push(`table ${r.s}.${r.t} was created after the snapshot`);
  if (problems.length > 0)
    throw new TidemarkError(
      'CONFLICT',
      `the schema changed after snapshot ${previous.lsn}, and compaction does not describe schema changes yet: ${problems
        .slice(0, 5)
        .join(
          '; ',
        )}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}; restores keep using the older snapshot`,
      { details: { snapshot: previous.lsn, problems } },
    );
}

/**
 * The sequences of the based-on snapshot with the values the restore left in the scratch
 * database (which sets each past the largest value in use): never behind the source's.
 */
export async function refreshedSequences(
  client: pg.Client,
  sequences: readonly SnapshotSequence[],
): Promise<SnapshotSequence[]> {
  const out: SnapshotSequence[] = [];
  for (const s of sequences) {
    const { rows } = await client.query<{ v: string | null }>(
      'SELECT last_value::text AS v FROM pg_sequences WHERE schemaname = $1 AND sequencename = $2',
      [s.schema, s.name],
    );
    const row = rows[0];
    out.push(row ? { ...s, lastValue: row.v } : s);
  }
  return out;
}
