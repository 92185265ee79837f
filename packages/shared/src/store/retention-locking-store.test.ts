import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type S3ProxyRequest, startS3FaultProxy, startS3Server } from '@tidemark/testkit';
import { describe, expect, it } from 'vitest';
import { isTidemarkError } from '../core/errors.js';
import { segmentKey, snapshotManifestKey, snapshotTableKey, tipKey } from '../core/object-layout.js';
import { LocalObjectStore } from './local-object-store.js';
import { isWriteOnceJournalKey, RetentionLockingStore } from './retention-locking-store.js';
import { S3ObjectStore } from './s3-object-store.js';

const MiB = 1024 * 1024;
const DAY = 86_400_000;
const NOW = Date.parse('2030-01-01T00:00:00Z');
const seg = segmentKey('main', 1_714_557_600_000_000n, 0x100n, 0x200n);
const manifest = snapshotManifestKey('main', 0x100n);
const table = snapshotTableKey('main', 0x100n, 0);
const bytes = (n: number) => new Uint8Array(n).fill(7);

async function lockedCode(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: unknown) => (isTidemarkError(err) ? err.code : String(err)),
  );
}

describe('RetentionLockingStore', () => {
  it('locks segments and snapshot objects only', () => {
    for (const k of [seg, manifest, table]) expect(isWriteOnceJournalKey(k), k).toBe(true);
    for (const k of [
      tipKey('main'),
      '_sources/main.json',
      '_leases/main/r_1.json',
      'main/base/x/manifest.json',
    ])
      expect(isWriteOnceJournalKey(k), k).toBe(false);
  });

  it('on a local store: journal objects cannot be deleted before their days are up, the tip can', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tidemark-locking-'));
    try {
      let now = Date.now();
      const store = new RetentionLockingStore(new LocalObjectStore(dir), 1, () => now);
      await store.put(seg, bytes(10));
      await store.put(tipKey('main'), bytes(3));
      expect(await lockedCode(store.delete(seg))).toBe('OBJECT_LOCKED');
      await store.delete(tipKey('main'));
      expect(await store.head(tipKey('main'))).toBeUndefined();
      // written "two days ago": its lock is over
      now -= 2 * DAY;
      await store.put(manifest, bytes(5));
      await store.delete(manifest);
      expect(await store.head(manifest)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('on S3: sends Object Lock mode and retain-until with PutObject and CreateMultipartUpload', async () => {
    const server = await startS3Server();
    const proxy = await startS3FaultProxy(server.endpoint, { objectLock: true });
    const seen: S3ProxyRequest[] = [];
    proxy.faults = (req) => {
      seen.push(req);
      return undefined;
    };
    const s3 = new S3ObjectStore({
      bucket: server.bucket,
      region: server.region,
      endpoint: proxy.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      multipartThresholdBytes: 5 * MiB,
      partSizeBytes: 5 * MiB,
      objectLockMode: 'compliance',
    });
    try {
      const store = new RetentionLockingStore(s3, 3, () => NOW);
      await store.put(seg, bytes(100));
      await store.put(table, bytes(6 * MiB)); // a multipart upload
      await store.put(tipKey('main'), bytes(3));
      const lockOf = (method: string, suffix: string, query?: string) => {
        const r = seen.find(
          (q) =>
            q.method === method && q.path.endsWith(suffix) && (query === undefined || q.query.has(query)),
        );
        if (!r) throw new Error(`no ${method} of ${suffix}`);
        return [r.headers['x-amz-object-lock-mode'], r.headers['x-amz-object-lock-retain-until-date']];
      };
      const until = new Date(NOW + 3 * DAY);
      for (const [mode, date] of [lockOf('PUT', seg), lockOf('POST', table, 'uploads')]) {
        expect(mode).toBe('COMPLIANCE');
        expect(Date.parse(String(date))).toBe(until.getTime());
      }
      expect(lockOf('PUT', tipKey('main'))).toEqual([undefined, undefined]);
      // the lock holds (the proxy enforces what s3rver ignores), also for the multipart object
      expect(await lockedCode(store.delete(seg))).toBe('OBJECT_LOCKED');
      expect(await lockedCode(store.delete(table))).toBe('OBJECT_LOCKED');
      expect(await store.head(table)).toMatchObject({ size: 6 * MiB });
      await store.delete(tipKey('main'));
      expect(await store.head(tipKey('main'))).toBeUndefined();
    } finally {
      s3.destroy();
      await proxy.stop();
      await server.stop();
    }
  });
});
