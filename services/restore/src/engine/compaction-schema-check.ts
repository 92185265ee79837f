import { type SnapshotSequence, TidemarkError } from '@tidemark/shared';
import type pg from 'pg';
import { type ScratchSchema, schemaMismatches, type TableDefinition } from './compaction-definitions.js';
import { qualifiedName, tableKey } from './sql-ident.js';

/**
 * The tables of the scratch database after the restore to L: column names and type oids,
 * by table (partitioned tables included, Tidemark's own schema and system schemas not).
 */
export async function readScratchSchema(client: pg.Client): Promise<ScratchSchema> {
  const { rows } = await client.query<{
    s: string;
    t: string;
    cols: string[] | null;
    types: number[] | null;
  }>(
    `SELECT n.nspname AS s, c.relname AS t,
            array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped) AS cols,
            array_agg(a.atttypid::int8 ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped) AS types
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE c.relkind IN ('r', 'p')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', '_tidemark')
        AND n.nspname NOT LIKE 'pg\\_%'
      GROUP BY 1, 2`,
  );
  return new Map(
    rows.map((r) => [
      tableKey(r.s, r.t),
      new Map((r.cols ?? []).map((name, i) => [name, Number(r.types?.[i] ?? 0)])),
    ]),
  );
}

/**
 * A compacted snapshot describes its tables as the journal's schema changes left them
 * (compaction-definitions.ts). Where the restored scratch database holds something those
 * descriptions do not (a table or column nothing in the snapshot, the DDL messages or the
 * table snapshots describes), the data cannot be described truthfully: compaction fails
 * closed with CONFLICT instead of writing such a snapshot; restores keep using the older one.
 */
export function checkScratchSchema(
  scratch: ScratchSchema,
  definitions: readonly TableDefinition[],
  basedOnLsn: string,
): void {
  const problems = schemaMismatches(definitions, scratch);
  if (problems.length > 0)
    throw new TidemarkError(
      'CONFLICT',
      `the schema restored from snapshot ${basedOnLsn} and the journal does not match what the journal describes, so compaction cannot describe it: ${problems
        .slice(0, 5)
        .join(
          '; ',
        )}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}; restores keep using the older snapshot`,
      { details: { snapshot: basedOnLsn, problems } },
    );
}

/**
 * The sequences (of the based-on snapshot, owners followed: compaction-definitions.ts) with
 * the values the restore left in the scratch database, which set each so that the next
 * nextval() is past the source's and past every value in use (setval(next, false): then
 * pg_sequences shows no last value, so the sequence relation itself is read). The manifest
 * says `lastValue` = next − increment, never behind what the based-on snapshot said. One the
 * restore did not make (its owner was renamed since that snapshot) keeps its value; a
 * restore from the new snapshot sets it past the values in use all the same.
 */
export async function refreshedSequences(
  client: pg.Client,
  sequences: readonly SnapshotSequence[],
): Promise<SnapshotSequence[]> {
  const out: SnapshotSequence[] = [];
  for (const s of sequences) {
    const exists = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
      qualifiedName(s.schema, s.name),
    ]);
    if (exists.rows[0]?.ok !== true) {
      out.push(s);
      continue;
    }
    const { rows } = await client.query<{ v: string; called: boolean }>(
      `SELECT last_value::text AS v, is_called AS called FROM ${qualifiedName(s.schema, s.name)}`,
    );
    const row = rows[0];
    out.push(row ? { ...s, lastValue: furthest(s, row.called ? row.v : beforeNext(s, row.v)) } : s);
  }
  return out;
}

/** lastValue for a sequence whose next nextval() returns `next`; null when that is its start. */
function beforeNext(s: SnapshotSequence, next: string): string | null {
  return next === s.start ? null : (BigInt(next) - BigInt(s.increment)).toString();
}

function furthest(s: SnapshotSequence, value: string | null): string | null {
  if (value === null) return s.lastValue;
  if (s.lastValue === null) return value;
  const up = BigInt(s.increment) > 0n;
  const [a, b] = [BigInt(s.lastValue), BigInt(value)];
  return (up ? b > a : b < a) ? value : s.lastValue;
}
