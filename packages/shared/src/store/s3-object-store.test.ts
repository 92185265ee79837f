import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  describeObjectStoreConformance,
  type S3FaultProxy,
  type S3Server,
  startS3FaultProxy,
  startS3Server,
} from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTidemarkError, type TidemarkError } from '../core/errors.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.js';
import { backoffDelayMs } from './s3-retry.js';

const MiB = 1024 * 1024;
const bytesOf = (text: string) => new TextEncoder().encode(text);

// one stand-in server for the whole file, started on first use; each store gets its own prefix
let server: Promise<S3Server> | undefined;
const s3 = () => {
  server ??= startS3Server();
  return server;
};
afterAll(async () => {
  await (await server)?.stop();
});
let stores = 0;
const nextPrefix = () => `run/${process.pid}-${++stores}`;

async function storeOn(
  endpoint: string | undefined,
  options: Partial<S3ObjectStoreOptions> = {},
): Promise<S3ObjectStore> {
  const s = await s3();
  return new S3ObjectStore({
    bucket: s.bucket,
    region: s.region,
    endpoint: endpoint ?? s.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    prefix: nextPrefix(),
    // parts of S3's minimum size so the 20 MiB conformance object is a four-part upload
    multipartThresholdBytes: 5 * MiB,
    partSizeBytes: 5 * MiB,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 50,
    ...options,
  });
}

describeObjectStoreConformance(
  'S3ObjectStore on s3rver',
  async () => {
    const store = await storeOn(undefined);
    return { store, cleanup: async () => store.destroy() };
  },
  // s3rver ignores If-None-Match and Object Lock
  { honoursIfNoneMatch: false, keysMayNestUnderObjects: true, enforcesRetention: false },
);

// the same server behind a proxy that adds S3's conditional writes and Object Lock, which s3rver lacks
let conditional: Promise<S3FaultProxy> | undefined;
afterAll(async () => {
  await (await conditional)?.stop();
});
describeObjectStoreConformance(
  'S3ObjectStore on s3rver with conditional writes',
  async () => {
    conditional ??= s3().then((s) =>
      startS3FaultProxy(s.endpoint, { conditionalWrites: true, objectLock: true }),
    );
    const store = await storeOn((await conditional).endpoint, { objectLockMode: 'governance' });
    return { store, cleanup: async () => store.destroy() };
  },
  { honoursIfNoneMatch: true, keysMayNestUnderObjects: true },
);

describe('S3ObjectStore', () => {
  const all = async (store: ObjectStore, prefix = '') => {
    const out: string[] = [];
    for await (const o of store.list(prefix)) out.push(o.key);
    return out;
  };
  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a failure');
      },
      (err: unknown) => err as TidemarkError,
    );
  const collect = async (it: AsyncIterable<Uint8Array>) => {
    const parts: Uint8Array[] = [];
    for await (const c of it) parts.push(c);
    return Buffer.concat(parts);
  };
  const pattern = (size: number, seed: number) =>
    Uint8Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff);

  it('computes capped exponential backoff with full jitter', () => {
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelayMs(policy, 1, () => 0.999)).toBe(99);
    expect(backoffDelayMs(policy, 3, () => 0.999)).toBe(399);
    expect(backoffDelayMs(policy, 10, () => 0.999)).toBe(999);
    expect(backoffDelayMs(policy, 10, () => 0)).toBe(0);
  });

  it('stores exactly the bytes written, with no aws-chunked framing, in one request or in parts', async () => {
    const s = await s3();
    const store = await storeOn(undefined, { prefix: 'exact' });
    const small = pattern(100_000, 1);
    const big = pattern(12 * MiB + 7, 2);
    await store.put('small', small);
    await store.put(
      'big',
      (async function* () {
        for (let at = 0; at < big.byteLength; at += 999_999) yield big.subarray(at, at + 999_999);
      })(),
    );
    // what the server keeps on disk, not only what it answers
    expect(Buffer.compare(await readFile(s.objectFile('exact/small')), small)).toBe(0);
    expect(Buffer.compare(await readFile(s.objectFile('exact/big')), big)).toBe(0);
    expect(Buffer.compare(Buffer.from(await store.get('big')), big)).toBe(0);
    store.destroy();
  });

  it('detects an object damaged on disk behind its back, on get and at the end of getStream', async () => {
    const s = await s3();
    const store = await storeOn(undefined, { prefix: 'rot', maxAttempts: 3 });
    await store.put('flipped', pattern(10_000, 3));
    await store.put('cut', pattern(10_000, 4));
    const file = s.objectFile('rot/flipped');
    const bytes = await readFile(file);
    bytes[5000] = (bytes[5000] ?? 0) ^ 1;
    await writeFile(file, bytes);
    await truncate(s.objectFile('rot/cut'), 9_000);
    for (const key of ['flipped', 'cut']) {
      const err = await errorOf(store.get(key));
      expect(isTidemarkError(err, 'STORE_UNAVAILABLE')).toBe(true);
      expect(err.retriable).toBe(false);
      expect(err.message).toMatch(/does not match the checksum stored with it/);
      const streamErr = await errorOf(store.getStream(key).then(collect));
      expect(streamErr.message).toMatch(/does not match the checksum/);
    }
    store.destroy();
  });

  it('maps a missing bucket to CONFIG_INVALID saying how to fix it', async () => {
    const store = await storeOn(undefined, { bucket: 'no-such-bucket', maxAttempts: 2 });
    const err = await errorOf(store.put('k', bytesOf('x')));
    expect(isTidemarkError(err, 'CONFIG_INVALID')).toBe(true);
    expect(err.message).toMatch(/bucket no-such-bucket does not exist.*aws s3 mb/);
    await expect(errorOf(store.get('k'))).resolves.toMatchObject({ code: 'CONFIG_INVALID' });
    store.destroy();
  });

  it('refuses bad configuration', async () => {
    await expect(storeOn(undefined, { partSizeBytes: MiB })).rejects.toThrow(/at least 5242880/);
    await expect(storeOn(undefined, { prefix: 'a//b' })).rejects.toThrow(/prefix "a\/\/b" is not usable/);
    const store = await storeOn(undefined, {
      prefix: Array.from({ length: 5 }, () => 'p'.repeat(200)).join('/'),
    });
    await expect(store.put('k'.repeat(30), bytesOf('x'))).rejects.toThrow(/longer than 1024 bytes/);
    store.destroy();
  });

  describe('through a faulty network', () => {
    let proxy: S3FaultProxy;
    const warnings: Record<string, unknown>[] = [];
    const logger = { warn: (fields: Record<string, unknown>) => void warnings.push(fields) };
    beforeAll(async () => {
      proxy = await startS3FaultProxy((await s3()).endpoint, { conditionalWrites: true });
    });
    afterAll(async () => {
      await proxy.stop();
    });
    const viaProxy = (options: Partial<S3ObjectStoreOptions> = {}) =>
      storeOn(proxy.endpoint, { logger, maxAttempts: 12, ...options });

    it('keeps puts, gets, lists and deletes working while a third of the requests fail', async () => {
      const prefix = nextPrefix();
      const store = await viaProxy({ prefix });
      const direct = await storeOn(undefined, { prefix });
      const kinds = [
        { kind: 'status', status: 503, code: 'SlowDown' },
        { kind: 'status', status: 500 },
        { kind: 'status', status: 429 },
        { kind: 'reset' },
        { kind: 'lose-response' },
        { kind: 'lose-response', status: 500 },
        { kind: 'truncate-response', afterBytes: 3000 },
      ] as const;
      let random = 0x2545f491;
      const rand = () => {
        random ^= random << 13;
        random ^= random >>> 17;
        random ^= random << 5;
        return (random >>> 0) / 2 ** 32;
      };
      warnings.length = 0;
      proxy.faults = () => (rand() < 0.35 ? kinds[Math.floor(rand() * kinds.length)] : undefined);
      try {
        const expected = new Map<string, Uint8Array>();
        await Promise.all(
          Array.from({ length: 40 }, async (_, i) => {
            const data = pattern(1000 + i * 997, i);
            await store.put(`f/${String(i).padStart(3, '0')}`, data, { ifNoneMatch: i % 2 === 0 });
            expected.set(`f/${String(i).padStart(3, '0')}`, data);
          }),
        );
        const big = pattern(11 * MiB, 9);
        await store.put(
          'f/big',
          (async function* () {
            for (let at = 0; at < big.byteLength; at += MiB) yield big.subarray(at, at + MiB);
          })(),
        );
        expected.set('f/big', big);
        expect(Buffer.compare(await collect(await store.getStream('f/big')), big)).toBe(0);
        for (const [key, data] of expected) expect(Buffer.compare(await store.get(key), data)).toBe(0);
        const sorted = [...expected.keys()].sort((a, b) => (a < b ? -1 : 1));
        expect(await all(store, 'f/')).toEqual(sorted);
        for (const key of sorted.slice(0, 10)) await store.delete(key);
        expect(await all(store, 'f/')).toEqual(sorted.slice(10));
      } finally {
        proxy.faults = undefined;
      }
      expect(proxy.log.filter((e) => e.fault !== undefined).length).toBeGreaterThan(20);
      expect(warnings.length).toBeGreaterThan(10);
      expect(warnings[0]).toMatchObject({ attempt: expect.any(Number), delayMs: expect.any(Number) });
      // the truth on the server, not through the proxy: every object whole, nothing else
      const keys = await all(direct, 'f/');
      expect(keys).toHaveLength(31);
      for (const key of keys) expect((await direct.get(key)).byteLength).toBe((await direct.head(key))!.size);
      store.destroy();
      direct.destroy();
    });

    it('resumes a read cut off midway with a Range request for the rest', async () => {
      const prefix = nextPrefix();
      const data = pattern(3 * MiB, 5);
      const direct = await storeOn(undefined, { prefix });
      await direct.put('r', data);
      const store = await viaProxy({ prefix });
      let cut = false;
      proxy.faults = (r) => {
        if (r.method !== 'GET' || cut) return undefined;
        cut = true;
        return { kind: 'truncate-response', afterBytes: MiB + 17 };
      };
      try {
        expect(Buffer.compare(await collect(await store.getStream('r')), data)).toBe(0);
        expect(Buffer.compare(await store.get('r'), data)).toBe(0);
      } finally {
        proxy.faults = undefined;
      }
      const resumed = proxy.log.filter((e) => e.range !== undefined && e.path.endsWith(`${prefix}/r`));
      expect(resumed).toHaveLength(1);
      expect(Number(/^bytes=(\d+)-$/.exec(resumed[0]!.range!)?.[1])).toBeGreaterThan(0);
      store.destroy();
      direct.destroy();
    });

    it('recognises its own object when the answer to a put was lost', async () => {
      const store = await viaProxy();
      const lose = new Set<string>();
      proxy.faults = (r) => {
        const id = `${r.method} ${r.path} ${r.query.has('uploadId') ? 'complete' : ''}`;
        const wanted =
          (r.method === 'PUT' && !r.query.has('partNumber')) ||
          (r.method === 'POST' && r.query.has('uploadId'));
        if (!wanted || lose.has(id)) return undefined;
        lose.add(id);
        return { kind: 'lose-response' };
      };
      try {
        // the retry meets 412 (the first attempt created the object): the stored bytes are ours
        await store.put('lost/single', pattern(1000, 1), { ifNoneMatch: true });
        await store.put('lost/multi', pattern(6 * MiB, 2), { ifNoneMatch: true });
        // without the condition the retried CompleteMultipartUpload meets NoSuchUpload
        await store.put('lost/multi-plain', pattern(6 * MiB, 3));
      } finally {
        proxy.faults = undefined;
      }
      expect(lose.size).toBe(3);
      expect(Buffer.compare(await store.get('lost/single'), pattern(1000, 1))).toBe(0);
      expect(Buffer.compare(await store.get('lost/multi'), pattern(6 * MiB, 2))).toBe(0);
      expect(Buffer.compare(await store.get('lost/multi-plain'), pattern(6 * MiB, 3))).toBe(0);
      // a real second writer is still refused
      const err = await errorOf(store.put('lost/single', pattern(1000, 9), { ifNoneMatch: true }));
      expect(isTidemarkError(err, 'OBJECT_EXISTS')).toBe(true);
      store.destroy();
    });

    it('reads back what it wrote and writes again when the store kept other bytes', async () => {
      const s = await s3();
      const store = await viaProxy({ prefix: 'damaged' });
      let corruptions = 1;
      proxy.faults = (r) =>
        r.method === 'PUT' && corruptions-- > 0 ? { kind: 'corrupt-request', atByte: 100 } : undefined;
      try {
        warnings.length = 0;
        await store.put('once', pattern(5000, 1), { ifNoneMatch: true });
        expect(Buffer.compare(await readFile(s.objectFile('damaged/once')), pattern(5000, 1))).toBe(0);
        expect(warnings.some((w) => w.round === 1)).toBe(true);

        corruptions = 1_000;
        const err = await errorOf(store.put('always', pattern(5000, 2)));
        expect(isTidemarkError(err, 'STORE_UNAVAILABLE')).toBe(true);
        expect(err.retriable).toBe(false);
        expect(err.message).toMatch(/does not hold what was written.*the damaged object was removed/);
        expect(await store.head('always')).toBeUndefined();

        // trusting the store's checksum check: s3rver ignores Content-MD5, so the damage is stored,
        // and found by the SHA-256 kept with the object on the first read
        const trusting = await viaProxy({ prefix: 'damaged', verifyWrites: 'checksum', maxAttempts: 2 });
        corruptions = 1;
        await trusting.put('unchecked', pattern(5000, 3));
        const readErr = await errorOf(trusting.get('unchecked'));
        expect(readErr.message).toMatch(/does not match the checksum stored with it/);
        trusting.destroy();
      } finally {
        proxy.faults = undefined;
      }
      store.destroy();
    });

    it('aborts a multipart upload whose part keeps failing, leaving nothing behind', async () => {
      const s = await s3();
      const store = await viaProxy({ maxAttempts: 3 });
      proxy.faults = (r) => (r.query.get('partNumber') === '2' ? { kind: 'status', status: 500 } : undefined);
      try {
        const err = await errorOf(store.put('mp/failing', pattern(12 * MiB, 4)));
        expect(isTidemarkError(err, 'STORE_UNAVAILABLE')).toBe(true);
        expect(err.retriable).toBe(true);
        expect(err.details).toMatchObject({ attempts: 3, status: 500 });
        expect(err.message).toMatch(/failed after 3 attempts/);
      } finally {
        proxy.faults = undefined;
      }
      expect(await store.head('mp/failing')).toBeUndefined();
      expect(await readdir(path.join(s.directory, s.bucket, '._S3rver_uploads'))).toEqual([]);
      store.destroy();
    });

    it('reports refused access as a configuration problem saying which permissions are needed', async () => {
      const store = await viaProxy();
      proxy.faults = () => ({ kind: 'status', status: 403, code: 'AccessDenied' });
      try {
        const err = await errorOf(store.put('k', bytesOf('x')));
        expect(isTidemarkError(err, 'CONFIG_INVALID')).toBe(true);
        expect(err.message).toMatch(/refused \(AccessDenied\).*s3:PutObject/);
        expect(proxy.log.at(-1)?.status).toBe(403);
      } finally {
        proxy.faults = undefined;
      }
      store.destroy();
    });
  });
});
