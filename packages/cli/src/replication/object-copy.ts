import { createSha256, type ObjectStore, sha256Hex, TidemarkError, verifySegment } from '@tidemark/shared';

/** Objects up to this size are copied in memory; larger ones (snapshot tables) are streamed. */
const IN_MEMORY_MAX_BYTES = 64 * 1024 * 1024;

export type CopyKind = 'segment' | 'object';

/**
 * Copies one object from the primary to a replica as its stored bytes (segments stay
 * encrypted: their associated data is their own header, not the key, and the key is kept
 * the same anyway) and proves the copy: the replica's object is read back and its SHA-256
 * compared with what was read from the primary. A segment must also pass its own checks
 * (record and segment xxh64, footer SHA-256) before it is copied, so a damaged primary
 * object is never propagated. Throws REPLICATION_FAILED (retriable) on any mismatch.
 * Resolves with the bytes copied.
 */
export async function copyVerified(
  primary: ObjectStore,
  replica: ObjectStore,
  key: string,
  kind: CopyKind,
  sizeHint: number,
): Promise<number> {
  if (kind === 'segment' || sizeHint <= IN_MEMORY_MAX_BYTES) {
    const bytes = await primary.get(key);
    if (kind === 'segment') {
      const check = verifySegment(bytes);
      if (!check.ok) {
        const first = check.problems[0];
        throw new TidemarkError(
          'REPLICATION_FAILED',
          `primary segment ${key} fails verification (${first?.kind}: ${first?.message}); it is not copied, and the region's tip stays before it`,
          { details: { key, problems: check.problems.slice(0, 5) } },
        );
      }
    }
    const sha256 = sha256Hex(bytes);
    await replica.put(key, bytes);
    await checkCopy(replica, key, sha256, bytes.length);
    return bytes.length;
  }
  const hash = createSha256();
  let size = 0;
  const source = await primary.getStream(key);
  async function* hashed(): AsyncIterable<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  await replica.put(key, hashed());
  await checkCopy(replica, key, hash.digestHex(), size);
  return size;
}

async function checkCopy(replica: ObjectStore, key: string, sha256: string, size: number): Promise<void> {
  const hash = createSha256();
  let got = 0;
  for await (const chunk of await replica.getStream(key)) {
    hash.update(chunk);
    got += chunk.length;
  }
  const copied = hash.digestHex();
  if (got !== size || copied !== sha256) {
    throw new TidemarkError(
      'REPLICATION_FAILED',
      `the copy of ${key} in ${replica.description} reads back as ${got} bytes with SHA-256 ${copied}, not the ${size} bytes with ${sha256} written; it will be copied again`,
      { details: { key, size, got } },
    );
  }
}

/** Writes `bytes` under `key` in the replica and proves it by reading them back. */
export async function putVerified(replica: ObjectStore, key: string, bytes: Uint8Array): Promise<void> {
  await replica.put(key, bytes);
  await checkCopy(replica, key, sha256Hex(bytes), bytes.length);
}
