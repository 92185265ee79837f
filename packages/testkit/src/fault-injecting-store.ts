import type { ObjectBody, ObjectStore, PutOptions } from '@tidemark/shared';

/**
 * A thin wrapper around a real store for fault injection: `beforePut` runs before each
 * put and may throw (the put fails, nothing is written) or wait (the put is held).
 * Everything else goes straight to the real store.
 */
export class FaultInjectingStore implements ObjectStore {
  beforePut: ((key: string) => void | Promise<void>) | undefined;

  constructor(readonly inner: ObjectStore) {}

  get description(): string {
    return `fault-injecting(${this.inner.description})`;
  }

  async put(key: string, body: ObjectBody, options?: PutOptions): Promise<void> {
    await this.beforePut?.(key);
    return this.inner.put(key, body, options);
  }

  get(key: string): Promise<Uint8Array> {
    return this.inner.get(key);
  }

  getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    return this.inner.getStream(key);
  }

  head(key: string) {
    return this.inner.head(key);
  }

  list(prefix: string, options?: { startAfter?: string }) {
    return this.inner.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}
