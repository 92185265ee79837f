import { randomUUID } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TidemarkError } from '../core/errors.js';
import { errnoCode, fsyncDir, isAbsentError, mkdirsDurably, writeFileDurably } from './durable-fs.js';
import { listSorted } from './local-listing.js';
import { LOCKS_DIR, LocalObjectLocks } from './local-object-locks.js';
import { validateKey } from './object-key.js';
import type { ObjectBody, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';

const TMP_DIR = '.tmp';
const ignoreAbsent = (err: unknown) => {
  if (!isAbsentError(err)) throw err;
};
const STALE_TEMP_MS = 60 * 60 * 1000;
const READ_CHUNK = 256 * 1024;
/** a concurrent delete may remove a parent directory between our mkdir and rename */
const PLACE_ATTEMPTS = 5;

/**
 * An object store in a local directory: one file per key, written to `<root>/.tmp/`,
 * fsynced, then renamed (or, for `ifNoneMatch`, hard-linked, which fails if the key
 * exists) into place, and the directory fsynced. Readers see the old object or the whole
 * new one, never a part; after a crash a key is either absent or complete.
 *
 * A directory cannot hold a file and a subdirectory of the same name, so unlike S3 a key
 * cannot also be a "directory" prefix of another (`a/b` and `a/b/c`): such a put fails
 * with CONFLICT and changes nothing. Tidemark's object layout never needs both.
 */
export class LocalObjectStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;
  private readonly tmp: string;
  private prepared: Promise<void> | undefined;
  /**
   * Directories (below the root) known to exist with their entries durable: created or found
   * by this store and fsynced in their parent. A put into one of them skips all of that.
   * Entries are dropped when a delete removes the directory, and the whole set when a
   * rename finds a directory missing (removed by someone else).
   */
  private readonly durableDirs = new Set<string>();
  /** directory creation, one at a time (see ensureDir) */
  private creatingDirs: Promise<void> = Promise.resolve();
  /** retention records of puts with `retainUntil` (local-object-locks.ts) */
  private readonly locks: LocalObjectLocks;

  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
    this.tmp = path.join(this.root, TMP_DIR);
    this.description = `local:${this.root}`;
    this.locks = new LocalObjectLocks(this.root, this.tmp, this.description);
  }

  async put(key: string, body: ObjectBody, options: PutOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    const ifNoneMatch = options.ifNoneMatch === true;
    await this.prepare();
    const temp = path.join(this.tmp, `${randomUUID()}.tmp`);
    // A body in memory cannot fail midway, so its directory is made while it is written (a
    // new partition's put then costs no more than any other). A streamed body may fail, and a
    // failed put should leave no directory behind: its directory is made after it is written.
    const dirReady = body instanceof Uint8Array ? this.ensureDir(path.dirname(file)) : undefined;
    dirReady?.catch(() => {}); // awaited in place(); a failing write must not leave it unhandled
    let renamed = false;
    try {
      await this.locks.check(key, 'overwrite', options.retainUntil !== undefined);
      await this.fs('write', key, () => writeFileDurably(temp, body));
      // the record first: the object is never visible without its retention
      const until = options.retainUntil;
      if (until !== undefined) await this.fs('put', key, () => this.locks.record(key, until));
      await this.fs('put', key, () => this.place(key, temp, file, ifNoneMatch, dirReady));
      renamed = !ifNoneMatch;
      // ENOENT: a concurrent delete of this key already removed it and its directory
      await this.fs('put', key, () => fsyncDir(path.dirname(file)).catch(ignoreAbsent));
    } finally {
      // after a link the temp file is a second name, after a failure it may be the only one
      if (!renamed) await unlink(temp).catch(() => {});
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const file = this.pathOf(key);
    try {
      const b = await readFile(file);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (err) {
      if (isAbsentError(err) || errnoCode(err) === 'EISDIR') throw this.notFound(key);
      throw this.unavailable('get', key, err);
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    if ((await this.head(key)) === undefined) throw this.notFound(key);
    return this.readChunks(key, this.pathOf(key));
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key);
    try {
      const s = await stat(file);
      return s.isFile() ? { key, size: s.size, modified: s.mtime } : undefined;
    } catch (err) {
      if (isAbsentError(err)) return undefined;
      throw this.unavailable('head', key, err);
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<ObjectInfo> {
    const dirPrefix = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    if (dirPrefix !== '') validateKey(dirPrefix.slice(0, -1));
    if (dirPrefix.startsWith(`${TMP_DIR}/`)) return; // reserved, never objects
    const walk = listSorted({
      root: this.root,
      prefix,
      startAfter: options.startAfter,
      hidden: [TMP_DIR, LOCKS_DIR],
      // a name we could not store, or deleted meanwhile: not listed
      describe: (key) => this.head(key).catch(() => undefined),
      onError: (dir, err) => this.unavailable('list', dir, err),
    });
    yield* walk(dirPrefix);
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await this.locks.check(key, 'delete', true);
    try {
      await unlink(file);
    } catch (err) {
      const code = errnoCode(err);
      if (isAbsentError(err) || code === 'EISDIR' || code === 'EPERM') return; // absent, or a directory: no object
      throw this.unavailable('delete', key, err);
    }
    // ENOENT: a concurrent delete emptied and removed the directory, which is just as durable
    await this.fs('delete', key, () => fsyncDir(path.dirname(file)).catch(ignoreAbsent));
    await this.fs('delete', key, () => this.locks.forget(key));
    // empty directories are not objects: remove them up to the root, stopping at the first non-empty one
    for (let dir = path.dirname(file); dir !== this.root; dir = path.dirname(dir)) {
      try {
        this.durableDirs.delete(dir); // before: a put must not trust it while it goes
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  private async place(
    key: string,
    temp: string,
    file: string,
    ifNoneMatch: boolean,
    dirReady: Promise<void> | undefined,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await (attempt === 1 && dirReady ? dirReady : this.ensureDir(path.dirname(file)));
        if (ifNoneMatch) await link(temp, file);
        else await rename(temp, file);
        return;
      } catch (err) {
        const code = errnoCode(err);
        // a directory we took to exist was removed (by a delete here or elsewhere): create it again
        if (code === 'ENOENT') this.durableDirs.clear();
        if (code === 'ENOENT' && attempt < PLACE_ATTEMPTS) continue;
        if (code === 'ENOTDIR') throw this.conflict(key, 'a prefix of it is an object');
        if (code === 'EISDIR') throw this.conflict(key, 'it is a prefix of other objects');
        if (code === 'EEXIST') {
          if ((await lstat(file)).isDirectory()) throw this.conflict(key, 'it is a prefix of other objects');
          throw new TidemarkError(
            'OBJECT_EXISTS',
            `object ${key} already exists in ${this.description}; it was left unchanged`,
            {
              details: { key },
            },
          );
        }
        throw err;
      }
    }
  }

  /**
   * Makes sure `dir` exists and its entry, and those of its ancestors, are durable. A known
   * directory costs nothing; otherwise one recursive mkdir plus one concurrent fsync per
   * parent of a directory not yet known (usually just the new hour partition's). Creations
   * run one at a time, so a put never proceeds into a directory whose entry another put of
   * this store created but has not fsynced yet (they are rare: a new partition or snapshot).
   */
  private ensureDir(dir: string): Promise<void> {
    if (dir === this.root || this.durableDirs.has(dir)) return Promise.resolve();
    const created = this.creatingDirs.then(async () => {
      const durable = await mkdirsDurably(this.root, dir, (d) => this.durableDirs.has(d));
      for (const d of durable) this.durableDirs.add(d);
    });
    this.creatingDirs = created.catch(() => {});
    return created;
  }

  private async *readChunks(key: string, file: string): AsyncGenerator<Uint8Array> {
    const handle = await open(file, 'r').catch((err: unknown) => {
      throw isAbsentError(err) ? this.notFound(key) : this.unavailable('get', key, err);
    });
    try {
      for (;;) {
        const chunk = new Uint8Array(READ_CHUNK);
        const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, null);
        if (bytesRead === 0) return;
        yield chunk.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }

  /** Creates the root and temp directory once, and removes temp files of long-dead writers. */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      // a new root must survive a crash like any directory a put creates: fsync each new entry's parent
      const first = await mkdir(this.root, { recursive: true });
      for (let dir = this.root; first !== undefined; dir = path.dirname(dir)) {
        await fsyncDir(path.dirname(dir));
        if (dir === first) break;
      }
      await mkdir(this.tmp, { recursive: true });
      const cutoff = Date.now() - STALE_TEMP_MS;
      for (const name of await readdir(this.tmp)) {
        const p = path.join(this.tmp, name);
        // an hour-old temp file cannot belong to a put still in progress
        const s = await stat(p).catch(() => undefined);
        if (s?.isFile() && s.mtimeMs < cutoff) await unlink(p).catch(() => {});
      }
    })().catch((err: unknown) => {
      this.prepared = undefined;
      throw this.unavailable('prepare', '', err);
    });
    return this.prepared;
  }

  private pathOf(key: string): string {
    validateKey(key);
    const reserved = [TMP_DIR, LOCKS_DIR].find((d) => key === d || key.startsWith(`${d}/`));
    if (reserved !== undefined) {
      throw new TidemarkError(
        'BAD_REQUEST',
        `invalid object key ${JSON.stringify(key)}: ${reserved}/ is reserved by the local store`,
        {
          details: { key },
        },
      );
    }
    return path.join(this.root, ...key.split('/'));
  }

  private async fs<T>(op: string, key: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof TidemarkError || !errnoCode(err)) throw err; // ours, or the caller's body failing
      throw this.unavailable(op, key, err);
    }
  }

  private notFound(key: string): TidemarkError {
    return new TidemarkError('OBJECT_NOT_FOUND', `object ${key} does not exist in ${this.description}`, {
      details: { key },
    });
  }

  private conflict(key: string, why: string): TidemarkError {
    return new TidemarkError(
      'CONFLICT',
      `cannot store ${key} in ${this.description}: ${why}, and a directory store cannot hold both`,
      {
        details: { key },
      },
    );
  }

  private unavailable(op: string, key: string, err: unknown): TidemarkError {
    const message = err instanceof Error ? err.message : String(err);
    return new TidemarkError('STORE_UNAVAILABLE', `${op} ${key} in ${this.description} failed: ${message}`, {
      cause: err,
      details: { key, errno: errnoCode(err) },
    });
  }
}
