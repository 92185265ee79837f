import { type Lsn, lsnToHex16 } from './lsn.js';
import { snapshotsPrefix } from './object-layout.js';
import type { SnapshotTable, SnapshotTableEncoding } from './snapshot-manifest.js';

/**
 * Per-table snapshots: a table that joins the publication after the base snapshot (its
 * existing rows never travel through the slot) is copied on its own, in ONE source
 * transaction that also writes a transactional logical message, the **marker**:
 *
 *   BEGIN; LOCK TABLE t IN SHARE MODE;          -- waits for writers, blocks new ones
 *   SELECT pg_logical_emit_message(true, 'tidemark.table-snapshot', <marker JSON>);
 *   COPY t TO STDOUT;  (data + manifest.json written to the store)  COMMIT;
 *
 * The SHARE lock makes the copied rows exactly the table's state at the marker's place in
 * commit order: writers that committed before hold their commits before it, new writers
 * wait and commit after it. A restore that reaches the marker (re)creates the table and
 * loads the data, replacing anything replayed for it before. Objects live under
 * `<source>/base/tables/<lsnHex16>-<oid>/` (the LSN is the WAL insert position just before
 * the marker): `manifest.json` and one data object. They are written before the commit, so
 * a marker in the journal always finds them; a transaction that did not commit leaves an
 * unreferenced directory that nothing reads (and that retention may delete).
 */
export const TABLE_SNAPSHOT_MESSAGE_PREFIX = 'tidemark.table-snapshot';

export interface TableSnapshotMarker {
  readonly formatVersion: 1;
  readonly source: string;
  readonly schema: string;
  readonly table: string;
  /** source oid of the table: journal records name relations by it */
  readonly oid: number;
  /** `<source>/base/tables/<lsnHex16>-<oid>/` */
  readonly prefix: string;
}

/** The per-table manifest, `<prefix>manifest.json`. */
export interface TableSnapshotManifest {
  readonly formatVersion: 1;
  readonly kind: 'table';
  readonly source: string;
  /** `X/Y`: WAL insert position taken just before the marker (names the directory) */
  readonly startLsn: string;
  readonly createdAt: string;
  readonly serverVersion: number;
  /** the table as a base snapshot would list it; `dataKey` under `prefix` */
  readonly table: SnapshotTable;
}

export function tableSnapshotsPrefix(source: string): string {
  return `${snapshotsPrefix(source)}tables/`;
}

export function tableSnapshotPrefix(source: string, lsn: Lsn, oid: number): string {
  return `${tableSnapshotsPrefix(source)}${lsnToHex16(lsn)}-${oid}/`;
}

export function tableSnapshotDataKey(prefix: string, encoding: SnapshotTableEncoding): string {
  return `${prefix}data.${encoding === 'copy-text' ? 'copy' : 'tmb'}`;
}

export function tableSnapshotManifestKey(prefix: string): string {
  return `${prefix}manifest.json`;
}

export function encodeTableSnapshotMarker(marker: TableSnapshotMarker): string {
  return JSON.stringify(marker);
}

const PREFIX_SHAPE = /^[a-z0-9][a-z0-9_-]{0,62}\/base\/tables\/[0-9A-F]{16}-\d+\/$/;

/** The marker in a message's content, or undefined when it is not a well-formed one for `source`. */
export function parseTableSnapshotMarker(
  content: Uint8Array,
  source: string,
): TableSnapshotMarker | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(content));
  } catch {
    return undefined;
  }
  const m = v as Partial<TableSnapshotMarker> | null;
  if (
    typeof m !== 'object' ||
    m === null ||
    m.formatVersion !== 1 ||
    m.source !== source ||
    typeof m.schema !== 'string' ||
    typeof m.table !== 'string' ||
    typeof m.oid !== 'number' ||
    typeof m.prefix !== 'string' ||
    !PREFIX_SHAPE.test(m.prefix) ||
    !m.prefix.startsWith(tableSnapshotsPrefix(source)) ||
    !m.prefix.endsWith(`-${m.oid}/`)
  )
    return undefined;
  return m as TableSnapshotMarker;
}
