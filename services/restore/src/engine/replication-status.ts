import { isTidemarkError, type ObjectStore, TidemarkError } from '@tidemark/shared';

/**
 * What a replicator last said about a region, kept in the PRIMARY store at
 * `_replication/<region>.json` so that a restore service in another process can show
 * `lastError` next to the lag it computes itself. Written only when the error state
 * changes (and at most once a minute otherwise), never read on a restore's path: a
 * restore from a region must not depend on the primary.
 */
export interface ReplicationStatusDocument {
  readonly region: string;
  /** null while the last pass succeeded */
  readonly lastError: string | null;
  readonly lastErrorAt: string | null;
  readonly lastSuccessAt: string | null;
  readonly updatedAt: string;
}

export const replicationStatusPrefix = '_replication/';
export const replicationStatusKey = (region: string): string => `${replicationStatusPrefix}${region}.json`;

export async function readReplicationStatus(
  primary: ObjectStore,
  region: string,
): Promise<ReplicationStatusDocument | null> {
  let bytes: Uint8Array;
  try {
    bytes = await primary.get(replicationStatusKey(region));
  } catch (err) {
    if (isTidemarkError(err, 'OBJECT_NOT_FOUND')) return null;
    throw err;
  }
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as ReplicationStatusDocument;
    if (doc.region !== region) throw new Error(`it names region ${JSON.stringify(doc.region)}`);
    return doc;
  } catch (err) {
    throw new TidemarkError(
      'STORE_UNAVAILABLE',
      `replication status ${replicationStatusKey(region)} is unreadable: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export async function writeReplicationStatus(
  primary: ObjectStore,
  doc: ReplicationStatusDocument,
): Promise<void> {
  await primary.put(replicationStatusKey(doc.region), new TextEncoder().encode(`${JSON.stringify(doc)}\n`));
}
