import { createSha256, createXxh64 } from '../core/checksum.js';
import type { Lsn } from '../core/lsn.js';
import type { KeyProvider } from '../core/segment-keys.js';
import { snapshotTableDataKey } from '../core/snapshot-anchor.js';
import type { SnapshotTable, SnapshotTableEncoding } from '../core/snapshot-manifest.js';
import { sealTableData } from '../core/snapshot-table-codec.js';
import type { ObjectStore } from '../store/object-store.js';

/**
 * Writes one table's COPY text into the store as a snapshot data object, for capture's
 * base snapshot and for compaction alike, and returns the manifest fields describing it.
 * With neither compression nor keys the object is plain COPY text ('copy-text', as every
 * snapshot was before tmblock-v1); otherwise 'tmblock-v1' (core/snapshot-table-codec.ts).
 * Streams: memory stays at a few blocks whatever the table's size.
 */
export interface SnapshotTableSealing {
  /** zstd blocks (TIDEMARK_SEGMENT_COMPRESSION=zstd) */
  readonly compress: boolean;
  /** encrypts with a data key per object wrapped by this provider */
  readonly keys?: KeyProvider | undefined;
}

export type SnapshotTableData = Pick<
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

export async function putSnapshotTableData(
  store: ObjectStore,
  where:
    | { readonly source: string; readonly lsn: Lsn; readonly index: number }
    | { readonly key: (encoding: SnapshotTableEncoding) => string },
  copyText: AsyncIterable<Uint8Array>,
  sealing: SnapshotTableSealing,
): Promise<SnapshotTableData> {
  const sealed = sealing.compress || sealing.keys !== undefined;
  const encoding = sealed ? 'tmblock-v1' : 'copy-text';
  const dataKey =
    'key' in where
      ? where.key(encoding)
      : snapshotTableDataKey(where.source, where.lsn, where.index, encoding);
  const plain = { rows: 0, bytes: 0, sha256: createSha256() };
  const stored = { bytes: 0, sha256: createSha256(), xxh64: createXxh64() };

  async function* measurePlain(): AsyncGenerator<Uint8Array> {
    for await (const chunk of batched(copyText)) {
      plain.sha256.update(chunk);
      plain.bytes += chunk.byteLength;
      // text-format COPY ends every row with a newline and escapes newlines inside values
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) plain.rows++;
      yield chunk;
    }
  }
  async function* measureStored(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      stored.sha256.update(chunk);
      stored.xxh64.update(chunk);
      stored.bytes += chunk.byteLength;
      yield chunk;
    }
  }
  const body = sealed
    ? sealTableData(measurePlain(), { objectKey: dataKey, compress: sealing.compress, keys: sealing.keys })
    : measurePlain();
  await store.put(dataKey, measureStored(body));
  const storedSha = stored.sha256.digestHex();
  const base = {
    dataKey,
    rows: plain.rows,
    bytes: plain.bytes,
    sha256: storedSha,
    xxh64: stored.xxh64.digestHex(),
  };
  if (!sealed) return base;
  return {
    ...base,
    encoding,
    storedBytes: stored.bytes,
    contentSha256: plain.sha256.digestHex(),
    encrypted: sealing.keys !== undefined,
  };
}

const BATCH_BYTES = 256 * 1024;

/** COPY hands out one small buffer per row or so: pass them on in ~256 KiB batches. */
async function* batched(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let batch: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of input) {
    batch.push(chunk);
    size += chunk.byteLength;
    if (size >= BATCH_BYTES) {
      yield join(batch, size);
      batch = [];
      size = 0;
    }
  }
  if (size > 0) yield join(batch, size);
}

function join(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
