import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectBody } from './object-store.js';

/**
 * The durability steps of a local put. A file is durable once its data is fsynced and the
 * directory entry naming it is fsynced too; a directory created on the way needs its own
 * entry in its parent fsynced, or a crash can lose the whole subtree.
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
    await handle.close();
  }
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
    await handle.close();
  }
}

/**
 * Creates the directories from `root` (which exists) down to `dir`, fsyncing the parent of
 * each one created. Throws `ENOTDIR` (as an errno error) when a path component is a file.
 */
export async function mkdirsDurably(root: string, dir: string): Promise<void> {
  if (await isDirectory(dir)) return;
  const parts = path.relative(root, dir).split(path.sep);
  let current = root;
  for (const part of parts) {
    const parent = current;
    current = path.join(current, part);
    try {
      await mkdir(current);
      await fsyncDir(parent);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      if (!(await isDirectory(current)))
        throw Object.assign(new Error(`${current} is a file`), { code: 'ENOTDIR' });
    }
  }
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch (err) {
    if (isAbsentError(err)) return false;
    throw err;
  }
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
