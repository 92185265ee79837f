import type { ReplicaIdentity } from './change-model.js';

/**
 * A base snapshot: the source's published tables as of `lsn`, the consistent point of the
 * replication slot (every transaction committed before it is in the data, none after).
 * `manifest.json` is written last; its SHA-256 starts the journal's hash chain.
 */
export interface SnapshotManifest {
  readonly formatVersion: 1;
  readonly source: string;
  /** consistent point, formatted `X/Y` */
  readonly lsn: string;
  /** server clock right after the slot was created, µs since the Unix epoch as a decimal string */
  readonly snapshotTime: string;
  readonly createdAt: string;
  /** server_version_num of the source */
  readonly serverVersion: number;
  readonly tables: readonly SnapshotTable[];
}

export interface SnapshotColumn {
  readonly name: string;
  /** format_type(atttypid, atttypmod), e.g. `numeric(12,2)`, `timestamp with time zone` */
  readonly type: string;
  readonly typeOid: number;
  readonly notNull: boolean;
  /** pg_get_expr of the default, or null */
  readonly default: string | null;
}

export interface SnapshotTable {
  readonly schema: string;
  readonly table: string;
  /** oid on the source: matches RelationInfo.oid of journal records */
  readonly oid: number;
  /** 'partitioned' tables hold no data themselves; their partitions are listed as tables with `partitionOf` */
  readonly kind: 'table' | 'partitioned';
  readonly columns: readonly SnapshotColumn[];
  readonly primaryKey: readonly string[] | null;
  readonly replicaIdentity: ReplicaIdentity;
  /** pg_get_partkeydef for partitioned tables, e.g. `RANGE (created_at)` */
  readonly partitionKey: string | null;
  /** for a partition: its parent and bound (`FOR VALUES FROM (...) TO (...)`) */
  readonly partitionOf: { readonly schema: string; readonly table: string; readonly bound: string } | null;
  /** object key of the COPY text data, null when the table holds no rows of its own */
  readonly dataKey: string | null;
  readonly rows: number;
  readonly bytes: number;
  /** SHA-256 and xxh64 (hex) of the data object */
  readonly sha256: string | null;
  readonly xxh64: string | null;
}

/**
 * Session settings under which capture and restore talk to PostgreSQL, so that the text
 * form of every value is stable and re-parses exactly. Passed as startup options so the
 * walsender formats pgoutput values with them too.
 */
export const TEXT_FORMAT_SETTINGS: Readonly<Record<string, string>> = Object.freeze({
  DateStyle: 'ISO, MDY',
  TimeZone: 'UTC',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  bytea_output: 'hex',
  client_encoding: 'UTF8',
});

/** `-c DateStyle=ISO,\ MDY -c TimeZone=UTC ...` for the libpq `options` startup parameter */
export function textFormatStartupOptions(): string {
  return Object.entries(TEXT_FORMAT_SETTINGS)
    .map(([k, v]) => `-c ${k}=${v.replace(/ /g, '\\ ')}`)
    .join(' ');
}
