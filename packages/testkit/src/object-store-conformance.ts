import { createHash } from 'node:crypto';
import { type ErrorCode, isTidemarkError, type ObjectStore } from '@tidemark/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

export interface ObjectStoreConformanceOptions {
  /**
   * Whether `put(..., { ifNoneMatch: true })` is guaranteed to fail with OBJECT_EXISTS on an
   * existing key (true for the local store and S3 itself; false for stand-ins that ignore
   * the header). When false the suite still requires that such a put never leaves a mix:
   * it either throws OBJECT_EXISTS and changes nothing, or replaces the object whole.
   */
  honoursIfNoneMatch?: boolean;
  /**
   * Whether a key may also be the "directory" prefix of other keys (`a/b` and `a/b/c`), as
   * on S3. A directory store cannot; it must then refuse the second put with CONFLICT and
   * change nothing.
   */
  keysMayNestUnderObjects?: boolean;
  /**
   * Whether a put's `retainUntil` is enforced: `delete` before that instant fails with
   * OBJECT_LOCKED (true for the local store and S3 with Object Lock; false for stand-ins
   * without it, where the suite requires only that such a put stores the object).
   */
  enforcesRetention?: boolean;
}

type MakeStore = () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>;

const MiB = 1024 * 1024;
const bytesOf = (text: string) => new TextEncoder().encode(text);

/**
 * The behaviour every ObjectStore backend must show. Each test gets a fresh, empty store
 * from `makeStore`.
 */
export function describeObjectStoreConformance(
  name: string,
  makeStore: MakeStore,
  options: ObjectStoreConformanceOptions = {},
): void {
  const honoursIfNoneMatch = options.honoursIfNoneMatch ?? true;
  const nesting = options.keysMayNestUnderObjects ?? true;
  const enforcesRetention = options.enforcesRetention ?? true;

  describe(`ObjectStore conformance: ${name}`, () => {
    let store: ObjectStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    const keys = async (prefix: string, startAfter?: string) => {
      const out: string[] = [];
      for await (const o of store.list(prefix, startAfter === undefined ? {} : { startAfter }))
        out.push(o.key);
      return out;
    };

    it('round-trips binary data, including zero bytes and every byte value', async () => {
      const data = Uint8Array.from({ length: 4096 }, (_, i) => (i % 3 === 0 ? 0 : (i * 7) & 0xff));
      await store.put('bin/all-bytes', data);
      expect(await store.get('bin/all-bytes')).toEqual(data);
      const framed = new Uint8Array([9, 9, 1, 2, 3, 9, 9]).subarray(2, 5); // a view into a larger buffer
      await store.put('bin/view', framed);
      expect([...(await store.get('bin/view'))]).toEqual([1, 2, 3]);
    });

    it('stores empty objects, from bytes and from an empty stream', async () => {
      await store.put('empty/bytes', new Uint8Array(0));
      await store.put('empty/stream', chunks([]));
      for (const key of ['empty/bytes', 'empty/stream']) {
        expect((await store.get(key)).byteLength).toBe(0);
        expect((await store.head(key))?.size).toBe(0);
      }
    });

    it('streams a 20 MiB object in and out', async () => {
      const written = createHash('sha256');
      const body = async function* () {
        let state = 0x9e3779b9;
        for (let sent = 0, n = 0; sent < 20 * MiB; n++) {
          const size = Math.min(20 * MiB - sent, [1, 65_536, 1_000_003, 0, 333_333][n % 5]!);
          const chunk = new Uint8Array(size);
          for (let i = 0; i < size; i++) {
            state ^= state << 13;
            state ^= state >>> 17;
            state ^= state << 5;
            chunk[i] = state & 0xff;
          }
          written.update(chunk);
          sent += size;
          yield chunk;
        }
      };
      await store.put('big/20mib', body());
      const read = createHash('sha256');
      let size = 0;
      for await (const chunk of await store.getStream('big/20mib')) {
        expect(chunk).toBeInstanceOf(Uint8Array);
        read.update(chunk);
        size += chunk.byteLength;
      }
      expect(size).toBe(20 * MiB);
      expect(read.digest('hex')).toBe(written.digest('hex'));
      expect((await store.head('big/20mib'))?.size).toBe(20 * MiB);
    });

    it('overwrites an object whole', async () => {
      await store.put('ow/key', bytesOf('first version, longer'));
      await store.put('ow/key', bytesOf('second'));
      expect(await store.get('ow/key')).toEqual(bytesOf('second'));
      expect((await store.head('ow/key'))?.size).toBe(6);
    });

    it('reports absent keys as OBJECT_NOT_FOUND (and prefixes are not objects)', async () => {
      await store.put('dir/inner', bytesOf('x'));
      for (const key of ['nothing/here', 'dir', 'dir/inne']) {
        await expectCode(store.get(key), 'OBJECT_NOT_FOUND');
        await expectCode(store.getStream(key), 'OBJECT_NOT_FOUND');
        expect(await store.head(key)).toBeUndefined();
      }
    });

    it('describes objects with head', async () => {
      const before = Date.now();
      await store.put('h/k', bytesOf('12345'));
      const info = await store.head('h/k');
      expect(info?.key).toBe('h/k');
      expect(info?.size).toBe(5);
      expect(info?.modified).toBeInstanceOf(Date);
      // generous: remote stores have their own clocks
      expect(Math.abs(info!.modified.getTime() - before)).toBeLessThan(3_600_000);
      expect(typeof store.description).toBe('string');
    });

    // '-' (0x2d) < '.' < '/' (0x2f) < '0': a directory walk sorted by name gets these wrong;
    // U+FFFD sorts before U+1F600 in UTF-8 bytes but after it in UTF-16 code units
    const tricky = [
      'a-b',
      'a.b',
      'a/b-c',
      'a/b/c',
      'a/bc',
      'a0',
      'n/1',
      'n/10',
      'n/2',
      'n/9',
      'u/\uFFFD',
      'u/😀',
      'u/ä',
    ];
    const nested = nesting ? ['a', 'a/b'] : [];
    const all = [...tricky, ...nested].sort(byteOrder);
    const putAll = async () => {
      for (const key of [...all].reverse()) await store.put(key, bytesOf(key));
    };

    it('lists keys in byte order', async () => {
      await putAll();
      expect(await keys('')).toEqual(all);
      const infos = [];
      for await (const o of store.list('n/')) infos.push(o);
      expect(infos.map((o) => [o.key, o.size])).toEqual(
        ['n/1', 'n/10', 'n/2', 'n/9'].map((k) => [k, k.length]),
      );
    });

    it('lists by prefixes that are not directory boundaries', async () => {
      await putAll();
      expect(await keys('a/')).toEqual(all.filter((k) => k.startsWith('a/')));
      expect(await keys('a/b')).toEqual(all.filter((k) => k.startsWith('a/b')));
      expect(await keys('n/1')).toEqual(['n/1', 'n/10']);
      expect(await keys('a')).toEqual(all.filter((k) => k.startsWith('a')));
      expect(await keys('a/b/c')).toEqual(['a/b/c']);
      expect(await keys('zzz')).toEqual([]);
      expect(await keys('nothing/')).toEqual([]);
    });

    it('lists after startAfter, with and without a prefix', async () => {
      await putAll();
      const after = (s: string) => all.filter((k) => byteOrder(k, s) > 0);
      for (const s of ['', 'a/b', 'a/b/', 'a/b0', 'a/b/c', 'n/10', 'u/\uFFFD', 'zzzz']) {
        expect(await keys('', s), `startAfter ${s}`).toEqual(after(s));
      }
      expect(await keys('n/', 'n/10')).toEqual(['n/2', 'n/9']);
      expect(await keys('n/', 'a')).toEqual(['n/1', 'n/10', 'n/2', 'n/9']);
      expect(await keys('a/', 'n/1')).toEqual([]);
    });

    it('lists more than 1000 keys (one S3 page)', async () => {
      const many = Array.from({ length: 1100 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await inBatches(shuffle(many), 50, (k) => store.put(k, bytesOf(k)));
      expect(await keys('many/')).toEqual(many);
      expect(await keys('many/', 'many/00999')).toEqual(many.slice(1000));
      expect(await keys('many/00')).toEqual(many.slice(0, 1000));
    });

    it('deletes idempotently, leaving neighbours and no empty prefixes', async () => {
      await putAll();
      await store.delete('a/b/c');
      await expectCode(store.get('a/b/c'), 'OBJECT_NOT_FOUND');
      expect(await store.head('a/b/c')).toBeUndefined();
      await store.delete('a/b/c');
      await store.delete('never/existed');
      expect(await keys('')).toEqual(all.filter((k) => k !== 'a/b/c'));
      for (const k of ['n/1', 'n/10', 'n/2', 'n/9']) await store.delete(k);
      expect(await keys('n')).toEqual([]);
      await store.put('n/again', bytesOf('x'));
      expect(await keys('n/')).toEqual(['n/again']);
    });

    it(`${honoursIfNoneMatch ? 'honours' : 'may ignore'} ifNoneMatch, never leaving a mix`, async () => {
      await store.put('inm/new', bytesOf('one'), { ifNoneMatch: true });
      expect(await store.get('inm/new')).toEqual(bytesOf('one'));
      const second = store.put('inm/new', bytesOf('two, longer'), { ifNoneMatch: true }).then(
        () => 'replaced' as const,
        (err: unknown) => {
          if (isTidemarkError(err, 'OBJECT_EXISTS')) return 'refused' as const;
          throw err;
        },
      );
      const outcome = await second;
      if (honoursIfNoneMatch) expect(outcome).toBe('refused');
      expect(await store.get('inm/new')).toEqual(bytesOf(outcome === 'refused' ? 'one' : 'two, longer'));
      if (!honoursIfNoneMatch) return;
      const racers = Array.from({ length: 8 }, (_, i) =>
        store.put('inm/race', bytesOf(`writer ${i}`), { ifNoneMatch: true }).then(
          () => i,
          (err: unknown) => (isTidemarkError(err, 'OBJECT_EXISTS') ? -1 : Promise.reject(err)),
        ),
      );
      const winners = (await Promise.all(racers)).filter((i) => i >= 0);
      expect(winners).toHaveLength(1);
      expect(await store.get('inm/race')).toEqual(bytesOf(`writer ${winners[0]}`));
    });

    it(`${enforcesRetention ? 'enforces' : 'may ignore'} retainUntil: no delete before it`, async () => {
      const until = new Date(Date.now() + 3_600_000);
      await store.put('lock/kept', bytesOf('kept'), { retainUntil: until });
      await store.put('lock/short', bytesOf('short'), { retainUntil: new Date(Date.now() + 1200) });
      expect(await store.get('lock/kept')).toEqual(bytesOf('kept'));
      const refused = await store.delete('lock/kept').then(
        () => undefined,
        (err: unknown) => err,
      );
      if (enforcesRetention) {
        expect(
          isTidemarkError(refused, 'OBJECT_LOCKED'),
          `expected OBJECT_LOCKED, got ${String(refused)}`,
        ).toBe(true);
        const err = refused as Error & { details: Record<string, unknown> };
        expect(err.message).toContain('lock/kept');
        expect(err.message).toContain(until.toISOString().slice(0, 16));
        expect(Math.abs(Date.parse(String(err.details.retainUntil)) - until.getTime())).toBeLessThan(1000);
        expect(await store.get('lock/kept')).toEqual(bytesOf('kept'));
      } else if (refused !== undefined) {
        expect(isTidemarkError(refused, 'OBJECT_LOCKED'), String(refused)).toBe(true);
      }
      // once the date has passed the object goes like any other; retention records are never listed
      await new Promise((r) => setTimeout(r, 2100));
      await store.delete('lock/short');
      expect(await store.head('lock/short')).toBeUndefined();
      expect(await keys('')).toEqual(enforcesRetention || refused !== undefined ? ['lock/kept'] : []);
    });

    it('streams reads that can be abandoned and repeated', async () => {
      const data = Uint8Array.from({ length: 3 * MiB }, (_, i) => i % 251);
      await store.put('gs/k', data);
      for await (const _ of await store.getStream('gs/k')) break;
      const parts: Uint8Array[] = [];
      for await (const c of await store.getStream('gs/k')) parts.push(c);
      expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
    });

    it('rejects invalid keys', async () => {
      const bad = [
        '',
        '/a',
        'a//b',
        'a/',
        '..',
        '../a',
        'a/../b',
        'a/./b',
        'a\\b',
        'a\u0000b',
        `k/${'x'.repeat(1100)}`,
      ];
      for (const key of bad) {
        await expectCode(store.put(key, bytesOf('x')), 'BAD_REQUEST');
        await expectCode(store.get(key), 'BAD_REQUEST');
        await expectCode(store.head(key), 'BAD_REQUEST');
        await expectCode(store.delete(key), 'BAD_REQUEST');
      }
      await expectCode(keys('/a'), 'BAD_REQUEST');
      expect(await keys('')).toEqual([]);
    });

    it('leaves nothing visible when a put fails midway', async () => {
      const failing = async function* () {
        yield new Uint8Array(MiB).fill(1);
        throw new Error('source went away');
      };
      await expect(store.put('fail/new', failing())).rejects.toThrow('source went away');
      expect(await store.head('fail/new')).toBeUndefined();
      await store.put('fail/old', bytesOf('intact'));
      await expect(store.put('fail/old', failing())).rejects.toThrow('source went away');
      expect(await store.get('fail/old')).toEqual(bytesOf('intact'));
      expect(await keys('')).toEqual(['fail/old']);
    });

    it('never shows readers a partial object while it is overwritten', async () => {
      const size = 2 * MiB;
      await store.put('atomic/k', new Uint8Array(size).fill(0));
      let writing = true;
      const writer = (async () => {
        try {
          for (let v = 1; v <= 8; v++) {
            const half = () => new Uint8Array(size / 2).fill(v);
            await store.put('atomic/k', chunks([half(), half()]));
          }
        } finally {
          writing = false;
        }
      })();
      while (writing) {
        const got = await store.get('atomic/k');
        expect(got.byteLength).toBe(size);
        expect(got.every((b) => b === got[0])).toBe(true);
      }
      await writer;
    });

    it(
      nesting ? 'holds a key that is also a prefix of others' : 'refuses a key that nests under an object',
      async () => {
        await store.put('p/q', bytesOf('outer'));
        if (nesting) {
          await store.put('p/q/r', bytesOf('inner'));
          expect(await store.get('p/q')).toEqual(bytesOf('outer'));
          expect(await keys('p/')).toEqual(['p/q', 'p/q/r']);
          return;
        }
        await expectCode(store.put('p/q/r', bytesOf('inner')), 'CONFLICT');
        await store.put('s/t/u', bytesOf('inner'));
        await expectCode(store.put('s/t', bytesOf('outer')), 'CONFLICT');
        await expectCode(store.put('s/t', bytesOf('outer'), { ifNoneMatch: true }), 'CONFLICT');
        expect(await keys('')).toEqual(['p/q', 's/t/u']);
        expect(await store.get('p/q')).toEqual(bytesOf('outer'));
      },
    );
  });
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isTidemarkError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

async function* chunks(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function inBatches<T>(items: T[], size: number, f: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(f));
}
