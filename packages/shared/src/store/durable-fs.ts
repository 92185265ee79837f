import { mkdirSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectBody } from './object-store.js';

/**
 * The durability steps of a local put. A file is durable once its data is fsynced and the
 * directory entry naming it is fsynced too; a directory created on the way needs its own
 * entry in its parent fsynced, or a crash can lose the whole subtree.
 *
 * Every awaited step is a round trip through the event loop, which in a streaming capture
 * process is busy for tens of ms at a time: the steps here are kept few. Descriptors are
 * closed without waiting (nothing depends on it: after a successful fsync, closing cannot
 * lose data, and a failed close has nothing left to report).
 */

/** Writes `body` to a new file (`wx`: never reuses a path) and fsyncs it. Streams, never buffers. */
export async function writeFileDurably(file: string, body: ObjectBody): Promise<void> {
  const handle = await open(file, 'wx', 0o644);
  try {
    if (body instanceof Uint8Array) {
      await writeAll(handle, body);
    } else {
      for await (const chunk of body) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError('object body chunks must be Uint8Array');
        await writeAll(handle, chunk);
      }
    }
    await handle.sync();
  } finally {
    closeInBackground(handle);
  }
}

function closeInBackground(handle: FileHandle): void {
  handle.close().catch(() => {});
}

async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  // a write may be partial; loop until every byte is handed to the kernel
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset);
    offset += bytesWritten;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // some file systems cannot fsync a directory; they order metadata updates themselves
    if (errnoCode(err) !== 'EINVAL') throw err;
  } finally {
    closeInBackground(handle);
  }
}

/**
 * Creates `dir` (below `top`, which exists) and any missing ancestors, then makes the entry
 * of each directory from `dir` up to `top` durable by fsyncing its parent, except for those
 * `known` says are durable already. An existing directory is fsynced in its parent too: its
 * creator may have crashed before doing so. The fsyncs are independent and run concurrently;
 * none of these directories holds anything claimed durable until they all finished. Returns
 * the directories now durable. Throws `ENOTDIR` (as an errno error) when a path component is
 * a file.
 *
 * The mkdir is one synchronous recursive call on purpose: a few µs of metadata work, once per
 * new directory, where Node's asynchronous recursive mkdir takes an event-loop round trip per
 * path component and per probe (9 for a new `<source>/segments/yyyy/mm/dd/hh`, each waiting
 * ~100 ms behind a busy capture stream).
 */
export async function mkdirsDurably(
  top: string,
  dir: string,
  known: (dir: string) => boolean = () => false,
): Promise<string[]> {
  const levels: string[] = [];
  for (let d = dir; d !== top && !known(d); d = path.dirname(d)) {
    if (path.dirname(d) === d) throw new Error(`${dir} is not below ${top}`);
    levels.push(d);
  }
  if (levels.length === 0) return levels;
  let first: string | undefined;
  try {
    first = mkdirSync(dir, { recursive: true });
  } catch (err) {
    // EEXIST: `dir` itself is a file; ENOTDIR: one of its ancestors is
    const code = errnoCode(err);
    if (code === 'EEXIST' || code === 'ENOTDIR')
      throw Object.assign(new Error(`a component of ${dir} is a file`), { code: 'ENOTDIR' });
    throw err;
  }
  // every directory created is made durable, also one `known` vouched for that was removed
  // behind our back and has just been created again
  for (let d = dir; first !== undefined; d = path.dirname(d)) {
    if (!levels.includes(d)) levels.push(d);
    if (d === first || path.dirname(d) === d) break;
  }
  await Promise.all(levels.map((d) => fsyncDir(path.dirname(d))));
  return levels;
}

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The path (or a component of it) does not exist, or is not what the call needed. */
export function isAbsentError(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
