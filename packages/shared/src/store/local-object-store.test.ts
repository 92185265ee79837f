import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeObjectStoreConformance } from '@tidemark/testkit';
import { describe, expect, it } from 'vitest';
import { isTidemarkError } from '../core/errors.js';
import { LocalObjectStore } from './local-object-store.js';
import type { ObjectBody, ObjectStore } from './object-store.js';

async function tempRoot(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'tidemark-local-store-'));
}

describeObjectStoreConformance(
  'LocalObjectStore',
  async () => {
    const root = await tempRoot();
    return { store: new LocalObjectStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
  },
  { honoursIfNoneMatch: true, keysMayNestUnderObjects: false },
);

/** Drops ifNoneMatch, as the S3 stand-ins do: runs the suite's branch for such backends. */
class IgnoringIfNoneMatch implements ObjectStore {
  constructor(private readonly inner: ObjectStore) {}
  get description() {
    return `ignoring-if-none-match(${this.inner.description})`;
  }
  put(key: string, body: ObjectBody) {
    return this.inner.put(key, body);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  getStream(key: string) {
    return this.inner.getStream(key);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  list(prefix: string, options?: { startAfter?: string }) {
    return this.inner.list(prefix, options);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

describeObjectStoreConformance(
  'LocalObjectStore behind a wrapper that ignores ifNoneMatch',
  async () => {
    const root = await tempRoot();
    return {
      store: new IgnoringIfNoneMatch(new LocalObjectStore(root)),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
  // it drops every put option, retainUntil too
  { honoursIfNoneMatch: false, keysMayNestUnderObjects: false, enforcesRetention: false },
);

describe('LocalObjectStore on disk', () => {
  async function withStore(f: (store: LocalObjectStore, root: string) => Promise<void>): Promise<void> {
    const root = await tempRoot();
    try {
      await f(new LocalObjectStore(root), root);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  it('stores one plain file per key, so operators can read the journal directory', () =>
    withStore(async (store, root) => {
      await store.put('main/segments/2026/11/23/10/A-B.seg', new Uint8Array([1, 2, 3]));
      expect([...(await readFile(path.join(root, 'main/segments/2026/11/23/10/A-B.seg')))]).toEqual([
        1, 2, 3,
      ]);
      expect(store.description).toBe(`local:${root}`);
    }));

  it('leaves no partial object and no temp file when the body fails midway', () =>
    withStore(async (store, root) => {
      await store.put('k/old', new Uint8Array([7]));
      const failing = async function* () {
        yield new Uint8Array(1024 * 1024).fill(1);
        throw new Error('crash mid-put');
      };
      await expect(store.put('k/new', failing())).rejects.toThrow('crash mid-put');
      await expect(store.put('k/old', failing())).rejects.toThrow('crash mid-put');
      expect(await store.head('k/new')).toBeUndefined();
      expect([...(await store.get('k/old'))]).toEqual([7]);
      expect(await readdir(path.join(root, '.tmp'))).toEqual([]);
      expect(await readdir(path.join(root, 'k'))).toEqual(['old']);
    }));

  it('hides its temp directory from listings and refuses keys inside it', () =>
    withStore(async (store, root) => {
      await store.put('x', new Uint8Array([1]));
      await writeFile(path.join(root, '.tmp', 'in-flight.tmp'), 'partial');
      const keys: string[] = [];
      for await (const o of store.list('')) keys.push(o.key);
      expect(keys).toEqual(['x']);
      for await (const o of store.list('.tmp/')) keys.push(o.key);
      expect(keys).toEqual(['x']);
      const err = await store.put('.tmp/x', new Uint8Array(0)).catch((e: unknown) => e);
      expect(isTidemarkError(err, 'BAD_REQUEST')).toBe(true);
    }));

  it('removes only temp files older than an hour when it starts writing', () =>
    withStore(async (_, root) => {
      await new LocalObjectStore(root).put('first', new Uint8Array(0));
      const fresh = path.join(root, '.tmp', 'fresh.tmp');
      const stale = path.join(root, '.tmp', 'stale.tmp');
      await writeFile(fresh, 'another writer, still running');
      await writeFile(stale, 'left by a crash');
      const old = new Date(Date.now() - 2 * 3600 * 1000);
      await utimes(stale, old, old);
      await new LocalObjectStore(root).put('second', new Uint8Array(0));
      expect(await readdir(path.join(root, '.tmp'))).toEqual(['fresh.tmp']);
    }));

  it('removes empty directories after a delete, up to but not including the root', () =>
    withStore(async (store, root) => {
      await store.put('a/b/c/d', new Uint8Array([1]));
      await store.put('a/keep', new Uint8Array([1]));
      await store.delete('a/b/c/d');
      expect(await readdir(path.join(root, 'a'))).toEqual(['keep']);
      await store.delete('a/keep');
      expect((await readdir(root)).sort()).toEqual(['.tmp']);
      expect((await stat(root)).isDirectory()).toBe(true);
    }));

  it("creates a directory again when it was removed behind the store's back", () =>
    withStore(async (store, root) => {
      await store.put('s/segments/2026/11/23/10/a', new Uint8Array([1]));
      await store.put('s/segments/2026/11/23/10/b', new Uint8Array([2])); // known directory
      await rm(path.join(root, 's/segments'), { recursive: true });
      await store.put('s/segments/2026/11/23/10/c', new Uint8Array([3]));
      await store.put('s/segments/2026/11/23/11/d', new Uint8Array([4]));
      const keys: string[] = [];
      for await (const o of store.list('s/')) keys.push(o.key);
      expect(keys).toEqual(['s/segments/2026/11/23/10/c', 's/segments/2026/11/23/11/d']);
    }));

  it('puts many objects into new directories at once', () =>
    withStore(async (store) => {
      const keys = Array.from({ length: 30 }, (_, i) => `p/${i % 3}/${i % 5}/k${String(i).padStart(2, '0')}`);
      await Promise.all(keys.map((k, i) => store.put(k, new Uint8Array([i]))));
      for (const [i, k] of keys.entries()) expect([...(await store.get(k))]).toEqual([i]);
      const err = await store.put('p/0/0/k00/x', new Uint8Array(0)).catch((e: unknown) => e);
      expect(isTidemarkError(err, 'CONFLICT')).toBe(true);
    }));

  it('keeps puts working while deletes remove the directories they need', () =>
    withStore(async (store) => {
      const rounds = Array.from({ length: 40 }, async (_, i) => {
        await store.put(`race/d/${i}`, new Uint8Array([i]));
        await store.delete(`race/d/${i}`);
      });
      await Promise.all(rounds);
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.put(`race/d/x${i}`, new Uint8Array([i]))));
      const keys: string[] = [];
      for await (const o of store.list('race/')) keys.push(o.key);
      expect(keys).toHaveLength(40);
    }));
});
