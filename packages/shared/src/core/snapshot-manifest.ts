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
  /** absent = 'base' (taken from the source); 'compacted' = built from an earlier snapshot plus segments */
  readonly kind?: SnapshotKind;
  /** compacted: the snapshot it was built from (its LSN and the SHA-256 of its manifest.json) */
  readonly basedOn?: { readonly lsn: string; readonly manifestSha256: string };
  /**
   * compacted: the last segment whose commits it holds (`lsn` is that segment's last commit
   * LSN); the chain continues from it, so the next segment links to `sha256`
   */
  readonly chainAnchor?: SnapshotChainAnchorRef;
  /**
   * the source's sequences (logical decoding does not carry their values); absent in
   * manifests written before they were captured
   */
  readonly sequences?: readonly SnapshotSequence[];
}

/**
 * A sequence as of the snapshot. Numbers are decimal strings (bigint range). `lastValue`
 * is pg_sequences.last_value: null when nextval was never called. Read inside the snapshot
 * transaction, but sequences are not transactional: the value may be a little past the
 * snapshot's, never before it, which is the safe side (restore sets each sequence past the
 * largest value in use, see services/restore/src/engine/sequence-restore.ts).
 */
export interface SnapshotSequence {
  readonly schema: string;
  readonly name: string;
  /** `smallint`, `integer` or `bigint` */
  readonly dataType: string;
  readonly increment: string;
  readonly minValue: string;
  readonly maxValue: string;
  readonly start: string;
  readonly cache: string;
  readonly cycle: boolean;
  readonly lastValue: string | null;
  /** the column it belongs to (OWNED BY, serial, identity), from pg_depend */
  readonly ownedBy: { readonly schema: string; readonly table: string; readonly column: string } | null;
  /** the sequence of an identity column: GENERATED ALWAYS or BY DEFAULT */
  readonly identity: 'always' | 'by default' | null;
}

export type SnapshotKind = 'base' | 'compacted';

export interface SnapshotChainAnchorRef {
  readonly segmentKey: string;
  /** hex SHA-256 of that segment */
  readonly sha256: string;
  /** `X/Y`, its last commit LSN (= the snapshot's LSN) */
  readonly lastLsn: string;
}

/**
 * How a table's data object is stored: 'copy-text' (absent) = plain COPY text;
 * 'tmblock-v1' = COPY text in zstd blocks, optionally AES-256-GCM encrypted
 * (core/snapshot-table-codec.ts).
 */
export type SnapshotTableEncoding = 'copy-text' | 'tmblock-v1';

export interface SnapshotColumn {
  readonly name: string;
  /** format_type(atttypid, atttypmod), e.g. `numeric(12,2)`, `timestamp with time zone` */
  readonly type: string;
  readonly typeOid: number;
  readonly notNull: boolean;
  /** pg_get_expr of the default, or null */
  readonly default: string | null;
  /**
   * pg_attribute.attnum on the source: the column's identity across renames (DDL replay
   * tells a rename from a drop and an add by it). Absent in manifests written before it.
   */
  readonly attnum?: number;
}

/** A secondary index (not the primary key's), rebuilt by restore after the data. */
export interface SnapshotIndex {
  readonly name: string;
  /** pg_get_indexdef on the source: `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING ...` */
  readonly definition: string;
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
  /** secondary indexes; absent in manifests written before they were captured */
  readonly indexes?: readonly SnapshotIndex[];
  readonly replicaIdentity: ReplicaIdentity;
  /** pg_get_partkeydef for partitioned tables, e.g. `RANGE (created_at)` */
  readonly partitionKey: string | null;
  /** for a partition: its parent and bound (`FOR VALUES FROM (...) TO (...)`) */
  readonly partitionOf: { readonly schema: string; readonly table: string; readonly bound: string } | null;
  /** object key of the COPY text data, null when the table holds no rows of its own */
  readonly dataKey: string | null;
  readonly rows: number;
  readonly bytes: number;
  /** SHA-256 and xxh64 (hex) of the data object (the stored bytes) */
  readonly sha256: string | null;
  readonly xxh64: string | null;
  /** absent = 'copy-text' (then `bytes` is the object's size and `sha256` covers the COPY text) */
  readonly encoding?: SnapshotTableEncoding;
  /** tmblock-v1: size of the stored object (`bytes` stays the COPY text's size) */
  readonly storedBytes?: number;
  /** tmblock-v1: SHA-256 (hex) of the COPY text inside, checked after decoding */
  readonly contentSha256?: string;
  /** tmblock-v1: whether the blocks are encrypted (the object header names the master key id) */
  readonly encrypted?: boolean;
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
