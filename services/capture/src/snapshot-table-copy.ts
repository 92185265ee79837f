import {
  type Lsn,
  type ObjectStore,
  putSnapshotTableData,
  type SnapshotTable,
  type SnapshotTableSealing,
} from '@tidemark/shared';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { CaptureLogger } from './capture-logger.js';
import { qualifiedName, quoteIdent } from './pg-connection.js';
import type { CatalogTable } from './snapshot-catalog.js';

/**
 * Copies one table of the base snapshot: `COPY ... TO STDOUT` in text format (the form a
 * restore loads with COPY FROM), streamed into the object store while SHA-256 and xxh64
 * are computed and rows and bytes counted. Runs inside the snapshot transaction.
 */
export interface CopyTarget {
  readonly store: ObjectStore;
  readonly source: string;
  /** the snapshot's LSN, part of every key */
  readonly lsn: Lsn;
  /** the table's position in the manifest, its data key's number */
  readonly index: number;
  readonly logger: CaptureLogger;
  /** zstd blocks and/or encryption of the data object; absent: plain COPY text */
  readonly sealing?: SnapshotTableSealing;
}

/** One manifest entry; for a table with rows of its own, its COPY data streamed into the store. */
export async function copyTable(
  client: pg.Client,
  target: CopyTarget,
  t: CatalogTable,
): Promise<SnapshotTable> {
  const base = {
    schema: t.schema,
    table: t.table,
    oid: t.oid,
    kind: t.kind,
    columns: t.columns,
    primaryKey: t.primaryKey,
    indexes: t.indexes,
    replicaIdentity: t.replicaIdentity,
    partitionKey: t.partitionKey,
    partitionOf: t.partitionOf,
  };
  if (t.kind === 'partitioned')
    return { ...base, dataKey: null, rows: 0, bytes: 0, sha256: null, xxh64: null };

  const columnList = t.columns.length > 0 ? ` (${t.columns.map((c) => quoteIdent(c.name)).join(', ')})` : '';
  const stream = client.query(copyTo(`copy ${qualifiedName(t.schema, t.table)}${columnList} to stdout`));
  let data: Awaited<ReturnType<typeof putSnapshotTableData>>;
  try {
    data = await putSnapshotTableData(
      target.store,
      { source: target.source, lsn: target.lsn, index: target.index },
      stream,
      target.sealing ?? { compress: false },
    );
  } catch (err) {
    stream.destroy();
    throw err;
  }
  target.logger.debug(
    { table: `${t.schema}.${t.table}`, rows: data.rows, bytes: data.bytes, stored: data.storedBytes },
    'table copied',
  );
  return { ...base, ...data };
}
