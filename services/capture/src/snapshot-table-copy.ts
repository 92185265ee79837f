import {
  createSha256,
  createXxh64,
  type Lsn,
  type ObjectStore,
  type SnapshotTable,
  snapshotTableKey,
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
    replicaIdentity: t.replicaIdentity,
    partitionKey: t.partitionKey,
    partitionOf: t.partitionOf,
  };
  if (t.kind === 'partitioned')
    return { ...base, dataKey: null, rows: 0, bytes: 0, sha256: null, xxh64: null };

  const columnList = t.columns.length > 0 ? ` (${t.columns.map((c) => quoteIdent(c.name)).join(', ')})` : '';
  const stream = client.query(copyTo(`copy ${qualifiedName(t.schema, t.table)}${columnList} to stdout`));
  const stats = { rows: 0, bytes: 0, sha256: createSha256(), xxh64: createXxh64() };
  const dataKey = snapshotTableKey(target.source, target.lsn, target.index);
  try {
    await target.store.put(dataKey, measured(stream, stats));
  } catch (err) {
    stream.destroy();
    throw err;
  }
  target.logger.debug(
    { table: `${t.schema}.${t.table}`, rows: stats.rows, bytes: stats.bytes },
    'table copied',
  );
  return {
    ...base,
    dataKey,
    rows: stats.rows,
    bytes: stats.bytes,
    sha256: stats.sha256.digestHex(),
    xxh64: stats.xxh64.digestHex(),
  };
}

interface CopyStats {
  rows: number;
  bytes: number;
  readonly sha256: ReturnType<typeof createSha256>;
  readonly xxh64: ReturnType<typeof createXxh64>;
}

const BATCH_BYTES = 256 * 1024;

/**
 * Passes COPY data through in batches of about 256 KiB while hashing and counting. Memory
 * stays bounded: the COPY stream is pulled only as fast as the store consumes.
 */
async function* measured(stream: AsyncIterable<Buffer>, stats: CopyStats): AsyncGenerator<Uint8Array> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  for await (const chunk of stream) {
    stats.sha256.update(chunk);
    stats.xxh64.update(chunk);
    stats.bytes += chunk.length;
    // text-format COPY ends every row with a newline and escapes newlines inside values
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) stats.rows++;
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= BATCH_BYTES) {
      yield Buffer.concat(batch, batchBytes);
      batch = [];
      batchBytes = 0;
    }
  }
  if (batchBytes > 0) yield Buffer.concat(batch, batchBytes);
}
