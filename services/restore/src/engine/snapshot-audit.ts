import { createSha256, createXxh64, type ObjectStore, toTidemarkError } from '@tidemark/shared';
import { forEachParallel } from './parallel.js';
import type { SnapshotInfo } from './restore-window.js';
import type { VerificationProblem } from './verification-problems.js';

/**
 * Checks a snapshot's table objects against its manifest: each object's size, xxh64 and
 * SHA-256 (of the stored bytes; for block-encoded tables `storedBytes` is the stored size).
 * Streams each object once, `concurrency` at a time. Returns the bytes read.
 */
export async function auditSnapshotTables(
  store: ObjectStore,
  snapshot: SnapshotInfo,
  concurrency: number,
  problems: VerificationProblem[],
  onBytes: (n: number) => void,
): Promise<void> {
  const tables = snapshot.tables.filter((t) => t.dataKey !== null);
  await forEachParallel(tables, concurrency, async (t) => {
    const key = t.dataKey as string;
    const name = `${t.schema}.${t.table}`;
    const damaged = (message: string) =>
      problems.push({
        kind: 'snapshot-damaged',
        key,
        message: `snapshot data ${key} (table ${name}) ${message}`,
      });
    try {
      const sha = createSha256();
      const xxh = createXxh64();
      let size = 0;
      for await (const chunk of await store.getStream(key)) {
        sha.update(chunk);
        xxh.update(chunk);
        size += chunk.byteLength;
        onBytes(chunk.byteLength);
      }
      const expectedSize = t.storedBytes ?? t.bytes;
      if (size !== expectedSize) damaged(`is ${size} bytes long, the manifest says ${expectedSize}`);
      const gotSha = sha.digestHex();
      if (t.sha256 !== null && gotSha !== t.sha256)
        damaged(`has SHA-256 ${gotSha}, the manifest says ${t.sha256}`);
      const gotXxh = xxh.digestHex();
      if (t.xxh64 !== null && gotXxh !== t.xxh64.toLowerCase())
        damaged(`has xxh64 ${gotXxh}, the manifest says ${t.xxh64}`);
    } catch (err) {
      damaged(`cannot be read: ${toTidemarkError(err).message}`);
    }
  });
}

/** The object key a catalog problem message names (manifests that failed validation). */
export function keyInMessage(message: string, fallback: string): string {
  return /(\S+\/manifest\.json)/.exec(message)?.[1] ?? fallback;
}
