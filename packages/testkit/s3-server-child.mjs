// The S3 stand-in's own process, started by src/s3-server.ts as
//   node --openssl-legacy-provider s3-server-child.mjs
// with an IPC channel. Plain JavaScript outside src/ so the same file serves the test run
// from source (vitest) and the compiled package: tsc neither needs nor copies it.
//
// --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation tokens with DES,
// which OpenSSL 3 only offers from its legacy provider; without it every truncated
// listing page answers 500.
//
// Configuration arrives as JSON in TIDEMARK_S3RVER: { directory, bucket, port }. The child
// answers { ready: true, port } once listening (port 0 picks a free one), or
// { ready: false, error }. It exits when asked to ({ stop: true }) and on SIGTERM; when its
// parent goes away (the IPC channel closes) it also removes the data directory, so a killed
// test worker leaves neither a server nor its files behind.
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const S3rver = require('@20minutes/s3rver/lib/s3rver.js');
const S3Object = require('@20minutes/s3rver/lib/models/object.js');

const OBJECT_SUFFIX = '._S3rver_object';
const UPLOADS_DIR = '._S3rver_uploads';

const config = JSON.parse(process.env.TIDEMARK_S3RVER ?? '{}');

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * s3rver walks its directory tree in file-name order, which is not S3's byte order of whole
 * keys ('a/x' is a directory entry 'a' and comes before 'a-b'), and compares `startAfter` as
 * UTF-16 strings: listings and their pagination come out wrong for such keys. This replaces
 * its listing with S3's semantics: every key under the prefix, after startAfter, in byte order.
 */
async function listObjects(bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
  const bucketPath = this.getBucketPath(bucket);
  const keys = [];
  const walk = async (dir) => {
    let entries;
    try {
      entries = await readdir(path.join(bucketPath, dir), { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const rel = dir === '' ? e.name : `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (dir === '' && e.name === UPLOADS_DIR) continue;
        const under = `${rel}/`;
        if (under.startsWith(prefix) || prefix.startsWith(under)) await walk(rel);
      } else if (e.name.endsWith(OBJECT_SUFFIX)) {
        const key = rel.slice(0, -OBJECT_SUFFIX.length);
        if (key.startsWith(prefix) && byteOrder(key, startAfter) > 0) keys.push(key);
      }
    }
  };
  await walk('');
  keys.sort(byteOrder);

  const picked = [];
  const commonPrefixes = [];
  let isTruncated = false;
  for (const key of keys) {
    const cut = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
    const common = cut === -1 ? undefined : key.slice(0, cut + delimiter.length);
    if (common !== undefined && commonPrefixes.at(-1) === common) continue;
    if (picked.length + commonPrefixes.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    if (common === undefined) picked.push(key);
    else commonPrefixes.push(common);
  }
  const objects = [];
  for (const key of picked) {
    const metadata = await this.getMetadata(bucket, key).catch((err) => {
      if (err.code === 'ENOENT') return undefined; // deleted meanwhile
      throw err;
    });
    if (metadata !== undefined) objects.push(new S3Object(bucket, key, null, metadata));
  }
  return { objects, commonPrefixes, isTruncated };
}

const server = new S3rver({
  address: '127.0.0.1',
  port: config.port ?? 0,
  directory: config.directory,
  silent: true,
  allowMismatchedSignatures: true,
  vhostBuckets: false,
  configureBuckets: [{ name: config.bucket, configs: [] }],
});
server.store.listObjects = listObjects;

/**
 * s3rver writes an object's file in place, so a reader during an overwrite gets a torn
 * object, and when the file shrinks under it a response shorter than its Content-Length that
 * hangs until the server drops the connection. S3 replaces objects atomically: write a
 * temporary file and rename it. (The metadata, with the ETag and user metadata, is still
 * written after the data, so a reader can briefly see new data with old metadata.)
 */
const putContent = server.store.putContent;
server.store.putContent = async function (filePath, content) {
  const temp = `${filePath}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const result = await putContent.call(this, temp, content);
    await rename(temp, filePath);
    return result;
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
};

/**
 * s3rver has no AbortMultipartUpload (DELETE ?uploadId answers 405), and completing or
 * adding a part to an upload that is gone fails with 500 instead of 404 NoSuchUpload.
 */
server.middleware.unshift(async (ctx, next) => {
  const uploadId = ctx.query.uploadId;
  if (typeof uploadId !== 'string' || !['DELETE', 'POST', 'PUT'].includes(ctx.method)) return next();
  const bucket = decodeURIComponent(ctx.path.split('/')[1] ?? '');
  const dir = path.join(server.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const present =
    /^[0-9a-f]+$/.test(uploadId) &&
    (await stat(dir).then(
      () => true,
      () => false,
    ));
  if (!present) {
    ctx.status = 404;
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code>' +
      '<Message>The specified upload does not exist.</Message></Error>';
    return;
  }
  if (ctx.method !== 'DELETE') return next();
  await rm(dir, { recursive: true, force: true });
  ctx.status = 204;
});

const stop = async (removeDirectory = false) => {
  try {
    await server.close();
  } catch {
    // not running
  }
  if (removeDirectory) await rm(config.directory, { recursive: true, force: true }).catch(() => {});
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
// the parent went away without stopping us (a test worker killed, or crashed): nobody else will clean up
process.on('disconnect', () => void stop(true));
process.on('message', (message) => {
  if (message?.stop === true) void stop();
});

try {
  const address = await server.run();
  process.send?.({ ready: true, port: address.port });
} catch (err) {
  process.send?.({ ready: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exit(1);
}
