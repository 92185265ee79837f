import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { isTidemarkError, S3ObjectStore } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { startS3FaultProxy } from './s3-fault-proxy.js';
import { type S3Server, startS3Server } from './s3-server.js';

const bytesOf = (text: string) => new TextEncoder().encode(text);

function storeOf(s: S3Server, endpoint = s.endpoint): S3ObjectStore {
  return new S3ObjectStore({
    bucket: s.bucket,
    region: s.region,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    maxAttempts: 2,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    partSizeBytes: 5 * 1024 * 1024,
    multipartThresholdBytes: 5 * 1024 * 1024,
  });
}

describe('startS3Server', () => {
  it('serves a fresh bucket in a child process, survives kill -9 and restart, and cleans up on stop', async () => {
    const s = await startS3Server({ bucket: 'my-bucket' });
    const store = storeOf(s);
    try {
      expect(s.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(s.bucket).toBe('my-bucket');
      await store.put('a/b', bytesOf('hello'));
      expect(await readdir(path.join(s.directory, 'my-bucket'))).toContain('a');
      expect(existsSync(s.objectFile('a/b'))).toBe(true);

      await s.kill9();
      const err = await store.get('a/b').catch((e: unknown) => e);
      expect(isTidemarkError(err, 'STORE_UNAVAILABLE')).toBe(true);
      await s.restart();
      expect(new TextDecoder().decode(await store.get('a/b'))).toBe('hello');
      await s.restart(); // while running: stops it first
      expect(await store.head('a/b')).toMatchObject({ size: 5 });
    } finally {
      store.destroy();
      await s.stop();
      await s.stop();
    }
    expect(existsSync(s.directory)).toBe(false);
    await expect(s.restart()).rejects.toThrow(/after stop/);
  });

  it('pages listings in S3 byte order and supports aborting multipart uploads', async () => {
    const s = await startS3Server();
    const store = storeOf(s);
    try {
      // '-' < '/' < '0' in bytes; s3rver's own directory walk lists 'k/...' before 'k-...'
      const keys = ['k-1', 'k/1', 'k/2/x', 'k0'];
      for (const k of [...keys].reverse()) await store.put(k, bytesOf(k));
      const listed: string[] = [];
      for await (const o of store.list('k')) listed.push(o.key);
      expect(listed).toEqual(keys);

      const failing = async function* () {
        yield new Uint8Array(6 * 1024 * 1024);
        throw new Error('body failed');
      };
      await expect(store.put('mp', failing())).rejects.toThrow('body failed');
      expect(await store.head('mp')).toBeUndefined();
      // the aborted upload's parts are gone too
      expect(await readdir(path.join(s.directory, s.bucket, '._S3rver_uploads'))).toEqual([]);
    } finally {
      store.destroy();
      await s.stop();
    }
  });
});

describe('startS3FaultProxy', () => {
  it('passes requests through, injects faults and honours If-None-Match when asked', async () => {
    const s = await startS3Server();
    const proxy = await startS3FaultProxy(s.endpoint, { conditionalWrites: true });
    const store = storeOf(s, proxy.endpoint);
    try {
      await store.put('x', bytesOf('1'), { ifNoneMatch: true });
      const again = await store.put('x', bytesOf('2'), { ifNoneMatch: true }).catch((e: unknown) => e);
      expect(isTidemarkError(again, 'OBJECT_EXISTS')).toBe(true);
      proxy.faults = () => ({ kind: 'status', status: 503 });
      const err = await store.get('x').catch((e: unknown) => e);
      expect(isTidemarkError(err, 'STORE_UNAVAILABLE') && err.retriable).toBe(true);
      proxy.faults = undefined;
      expect(new TextDecoder().decode(await store.get('x'))).toBe('1');
      expect(proxy.log.filter((e) => e.fault === 'status')).toHaveLength(2);
      expect(proxy.log.some((e) => e.method === 'PUT' && e.status === 412)).toBe(true);
    } finally {
      store.destroy();
      await proxy.stop();
      await s.stop();
    }
  });
});
