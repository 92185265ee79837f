import type { SnapshotColumn, SnapshotManifest, SnapshotTable } from '@tidemark/shared';

/**
 * Builders for snapshot manifests in tests (engine tests and the API's tests). Not part of
 * the engine's public API.
 */
export function column(name: string, type = 'text', extra: Partial<SnapshotColumn> = {}): SnapshotColumn {
  return { name, type, typeOid: 25, notNull: false, default: null, ...extra };
}

export function table(
  schema: string,
  name: string,
  columns: readonly SnapshotColumn[],
  extra: Partial<SnapshotTable> = {},
): SnapshotTable {
  return {
    schema,
    table: name,
    oid: 16384,
    kind: 'table',
    columns,
    primaryKey: null,
    replicaIdentity: 'default',
    partitionKey: null,
    partitionOf: null,
    dataKey: null,
    rows: 0,
    bytes: 0,
    sha256: null,
    xxh64: null,
    ...extra,
  };
}

export function manifest(tables: SnapshotTable[], extra: Partial<SnapshotManifest> = {}): SnapshotManifest {
  return {
    formatVersion: 1,
    source: 'app',
    lsn: '0/1000000',
    snapshotTime: '1714557600000000',
    createdAt: '2024-05-01T10:00:00.000Z',
    serverVersion: 150000,
    tables,
    ...extra,
  };
}
