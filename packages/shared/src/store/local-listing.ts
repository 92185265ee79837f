import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { isAbsentError } from './durable-fs.js';
import { compareKeys } from './object-key.js';
import type { ObjectInfo } from './object-store.js';

export interface ListSortedOptions {
  root: string;
  prefix: string;
  startAfter: string | undefined;
  /** root-level names that hold no objects (the temp and lock directories) */
  hidden: readonly string[];
  describe: (key: string) => Promise<ObjectInfo | undefined>;
  onError: (dirPrefix: string, err: unknown) => Error;
}

/**
 * Lists a directory tree as S3 lists keys: in byte order of the whole key, lazily, one
 * directory in memory at a time. Sorting names within a directory is not enough: a
 * directory `b` holds keys `b/...`, which sort after a file `b-c` ('/' > '-'), so each
 * directory sorts as its name plus '/'. Subtrees wholly outside the prefix or wholly at or
 * before `startAfter` are not read.
 */
export function listSorted(o: ListSortedOptions): (dirPrefix: string) => AsyncGenerator<ObjectInfo> {
  const { prefix, startAfter } = o;
  async function* walk(dirPrefix: string): AsyncGenerator<ObjectInfo> {
    let entries: { dir: boolean; sortKey: string }[];
    try {
      const dirents = await readdir(path.join(o.root, dirPrefix), { withFileTypes: true });
      entries = dirents
        .filter((d) => (d.isFile() || d.isDirectory()) && !(dirPrefix === '' && o.hidden.includes(d.name)))
        .map((d) => ({ dir: d.isDirectory(), sortKey: dirPrefix + d.name + (d.isDirectory() ? '/' : '') }));
    } catch (err) {
      if (isAbsentError(err)) return;
      throw o.onError(dirPrefix, err);
    }
    entries.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const { dir, sortKey } of entries) {
      if (dir) {
        const underPrefix = sortKey.startsWith(prefix) || prefix.startsWith(sortKey);
        // every key below starts with sortKey: all are <= startAfter unless startAfter lies inside or before it
        const pastStart =
          startAfter === undefined || startAfter.startsWith(sortKey) || compareKeys(sortKey, startAfter) > 0;
        if (underPrefix && pastStart) yield* walk(sortKey);
      } else if (
        sortKey.startsWith(prefix) &&
        (startAfter === undefined || compareKeys(sortKey, startAfter) > 0)
      ) {
        const info = await o.describe(sortKey);
        if (info) yield info;
      }
    }
  }
  return walk;
}
