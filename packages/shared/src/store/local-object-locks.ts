import { randomUUID } from 'node:crypto';
import { readFile, rename, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TidemarkError } from '../core/errors.js';
import { errnoCode, fsyncDir, isAbsentError, mkdirsDurably, writeFileDurably } from './durable-fs.js';

/** The directory (at the store's root, never listed) holding retention records. */
export const LOCKS_DIR = '.locks';

/**
 * The local store's stand-in for S3 Object Lock: a put with `retainUntil` first writes a
 * record `<root>/.locks/<key>.lock` (durably, before the object appears, so the object is
 * never visible unprotected), and `delete` or an overwrite before that instant fails with
 * OBJECT_LOCKED. It protects against Tidemark's own mistakes (and lets the conformance
 * suite test the same behaviour as on S3), not against someone with a shell.
 */
export class LocalObjectLocks {
  private readonly dir: string;
  /** whether any record may exist: saves a stat per overwrite check when locks are not used */
  private seen: boolean | undefined;

  constructor(
    private readonly root: string,
    private readonly tmp: string,
    private readonly description: string,
  ) {
    this.dir = path.join(root, LOCKS_DIR);
  }

  /** Records that `key` is retained until `until`; durable when this resolves. */
  async record(key: string, until: Date): Promise<void> {
    const file = this.fileOf(key);
    const temp = path.join(this.tmp, `${randomUUID()}.lock`);
    await writeFileDurably(
      temp,
      new TextEncoder().encode(JSON.stringify({ retainUntil: until.toISOString() })),
    );
    try {
      await mkdirsDurably(this.root, path.dirname(file));
      await rename(temp, file);
      await fsyncDir(path.dirname(file));
    } finally {
      await unlink(temp).catch(() => {});
    }
    this.seen = true;
  }

  /** The instant `key` is retained until, if that is still in the future. */
  async lockedUntil(key: string, now = Date.now()): Promise<Date | undefined> {
    let text: string;
    try {
      text = await readFile(this.fileOf(key), 'utf8');
    } catch (err) {
      if (isAbsentError(err)) return undefined;
      throw err;
    }
    const until = Date.parse((JSON.parse(text) as { retainUntil?: string }).retainUntil ?? '');
    // an unreadable record locks for good: better than deleting something meant to be kept
    if (!Number.isFinite(until)) return new Date(8.64e15);
    return until > now ? new Date(until) : undefined;
  }

  /** Throws OBJECT_LOCKED when `key` is retained; `always` checks even if no record was seen at start. */
  async check(key: string, op: 'delete' | 'overwrite', always: boolean): Promise<void> {
    if (!always && !(await this.anySeen())) return;
    const until = await this.lockedUntil(key);
    if (until === undefined) return;
    throw new TidemarkError(
      'OBJECT_LOCKED',
      `cannot ${op} ${key} in ${this.description}: it is retained until ${until.toISOString()} (write-once retention); it can be ${op === 'delete' ? 'deleted' : 'replaced'} after that`,
      { details: { key, retainUntil: until.toISOString() } },
    );
  }

  /** Removes the record of a deleted object, and lock directories left empty. */
  async forget(key: string): Promise<void> {
    const file = this.fileOf(key);
    try {
      await unlink(file);
    } catch (err) {
      if (isAbsentError(err) || errnoCode(err) === 'EISDIR') return;
      throw err;
    }
    for (let dir = path.dirname(file); dir !== this.dir && dir !== this.root; dir = path.dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  private async anySeen(): Promise<boolean> {
    if (this.seen === undefined)
      this.seen = await stat(this.dir).then(
        () => true,
        () => false,
      );
    return this.seen;
  }

  private fileOf(key: string): string {
    const parts = key.split('/');
    parts[parts.length - 1] = `${parts[parts.length - 1]}.lock`;
    return path.join(this.dir, ...parts);
  }
}
