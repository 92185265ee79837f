/**
 * The one storage interface. Every backend (local directory, S3, replicas in other
 * regions) implements it and passes the same conformance suite (`object-store-conformance.ts`).
 *
 * Keys are `/`-separated relative paths without leading slash, `..` or empty segments.
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

export interface PutOptions {
  /** fail with OBJECT_EXISTS when the key exists (where the backend can guarantee it) */
  readonly ifNoneMatch?: boolean;
  /**
   * write-once retention (S3 Object Lock; the local store keeps its own record): until
   * this instant the object cannot be deleted or overwritten, and `delete` fails with
   * OBJECT_LOCKED
   */
  readonly retainUntil?: Date;
}

export type ObjectBody = Uint8Array | AsyncIterable<Uint8Array>;

export interface ObjectStore {
  /** a short description for logs and errors, e.g. `local:/var/lib/tidemark` */
  readonly description: string;
  /**
   * Atomic and durable: once this resolves the whole object is readable and survives a
   * crash; a reader never sees a partial object; on failure nothing is visible.
   */
  put(key: string, body: ObjectBody, options?: PutOptions): Promise<void>;
  /** throws TidemarkError OBJECT_NOT_FOUND when absent */
  get(key: string): Promise<Uint8Array>;
  /** streaming read for large objects; throws OBJECT_NOT_FOUND when absent */
  getStream(key: string): Promise<AsyncIterable<Uint8Array>>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** every key starting with `prefix`, in lexical (byte) order, after `startAfter` if given */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<ObjectInfo>;
  /** deleting an absent key is not an error */
  delete(key: string): Promise<void>;
}
