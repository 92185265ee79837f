import {
  isTidemarkError,
  type Lsn,
  type ObjectStore,
  parseLsn,
  type SnapshotTable,
  type TableSnapshotManifest,
  tableSnapshotsPrefix,
} from '@tidemark/shared';
import type pg from 'pg';
import type { TableDefinition } from './compaction-definitions.js';
import { tableKey } from './sql-ident.js';

/**
 * Tables a compaction must add to the definitions the schema changes give it: those that came through a
 * per-table snapshot (core/table-snapshot.ts) and that the restore to L created, i.e. whose
 * marker lies at or before L. Their definitions (and source oids) come from the newest such
 * table snapshot that started at or before L; a table that is not in the scratch database
 * (its marker is later, or its transaction never committed) is left out, and the restore
 * from the compacted snapshot reaches its marker in the journal.
 */
export async function tablesFromTableSnapshots(
  store: ObjectStore,
  source: string,
  lsn: Lsn,
  inherited: readonly Pick<SnapshotTable, 'schema' | 'table' | 'kind'>[],
  client: pg.Client,
): Promise<TableDefinition[]> {
  const have = new Set(inherited.map((t) => tableKey(t.schema, t.table)));
  const newest = new Map<string, { startLsn: Lsn; table: SnapshotTable }>();
  for await (const o of store.list(tableSnapshotsPrefix(source))) {
    if (!o.key.endsWith('/manifest.json')) continue;
    let m: TableSnapshotManifest;
    try {
      m = JSON.parse(new TextDecoder().decode(await store.get(o.key))) as TableSnapshotManifest;
    } catch (err) {
      if (isTidemarkError(err, 'OBJECT_NOT_FOUND') || err instanceof SyntaxError) continue;
      throw err;
    }
    if (m.kind !== 'table' || typeof m.startLsn !== 'string' || !m.table) continue;
    const start = parseLsn(m.startLsn);
    const key = tableKey(m.table.schema, m.table.table);
    if (start > lsn || have.has(key)) continue;
    const seen = newest.get(key);
    if (!seen || seen.startLsn < start) newest.set(key, { startLsn: start, table: m.table });
  }
  const out: TableDefinition[] = [];
  const parents = new Set(
    inherited.filter((t) => t.kind === 'partitioned').map((t) => tableKey(t.schema, t.table)),
  );
  for (const { table } of newest.values()) {
    const exists = await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [
      `"${table.schema.replace(/"/g, '""')}"."${table.table.replace(/"/g, '""')}"`,
    ]);
    if (exists.rows[0]?.r === null) continue;
    // a partition needs its parent among the snapshot's partitioned tables
    if (table.partitionOf && !parents.has(tableKey(table.partitionOf.schema, table.partitionOf.table)))
      continue;
    const {
      dataKey: _d,
      rows: _r,
      bytes: _b,
      sha256: _h,
      xxh64: _x,
      encoding: _e,
      storedBytes: _s,
      contentSha256: _c,
      encrypted: _n,
      ...definition
    } = table;
    out.push(definition);
  }
  return out;
}
