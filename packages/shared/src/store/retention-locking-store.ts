import { parseSegmentKey } from '../core/object-layout.js';
import type { ObjectBody, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';

const DAY_MS = 86_400_000;
/** `<source>/base/<lsnHex16>/...`: a snapshot's manifest and table files */
const SNAPSHOT_OBJECT = /^[a-z0-9][a-z0-9_-]{0,62}\/base\/[0-9A-F]{16}\/.+$/;

/** Whether `key` is journal data written once and never changed: a segment or a snapshot object. */
export function isWriteOnceJournalKey(key: string): boolean {
  return parseSegmentKey(key) !== undefined || SNAPSHOT_OBJECT.test(key);
}

/**
 * Writes segments and snapshot objects with a retention (`retainUntil` = now + `days`), the
 * S3 Object Lock of TIDEMARK_S3_OBJECT_LOCK: until then nobody (not Tidemark's garbage
 * collector, nor a stolen credential in compliance mode) can delete or overwrite them. The
 * tip, the registry and leases change or go, so they are written without one. Every writer
 * (capture, journal, compaction) gets it from one place: the store it is given.
 */
export class RetentionLockingStore implements ObjectStore {
  readonly description: string;

  constructor(
    private readonly inner: ObjectStore,
    private readonly days: number,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `${inner.description} (write-once journal objects retained ${days} d)`;
  }

  put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<void> {
    if (!isWriteOnceJournalKey(key) || options.retainUntil !== undefined)
      return this.inner.put(key, body, options);
    return this.inner.put(key, body, { ...options, retainUntil: new Date(this.now() + this.days * DAY_MS) });
  }

  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }

  getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    return this.inner.getStream(key);
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}
