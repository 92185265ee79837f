import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/tidemark-config.js';
import { initChecksums } from '../core/checksum.js';
import { isTidemarkError, type TidemarkError } from '../core/errors.js';
import type { EncodeSegmentInput } from '../core/segment-encoder.js';
import { type KeyProvider, openSegment, sealSegment, verifySegmentWithKeys } from '../core/segment-keys.js';
import { GENESIS, recordInputs, resealFooter } from '../core/testing/segment-fixtures.js';
import { createLogger } from '../log/logger.js';
import { LocalKeyProvider, loadKeyProvider } from './local-key-provider.js';
import { derivedKeyId, parseMasterKeys } from './master-keys.js';

const KEY_A = randomBytes(32);
const KEY_B = randomBytes(32);
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');
const SEG = 'main/segments/2026/11/23/10/0000000000001000-0000000000001080.seg';
let dir: string;

beforeAll(async () => {
  await initChecksums();
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const input = (prevSha256 = GENESIS): EncodeSegmentInput => ({
  source: 'main',
  prevSha256,
  createdAt: '2026-11-23T10:41:08.000Z',
  records: recordInputs([0x1000n, 0x1040n, 0x1080n]),
});

async function rejection(p: Promise<unknown>): Promise<TidemarkError> {
  try {
    await p;
  } catch (err) {
    if (isTidemarkError(err)) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('master keys', () => {
  it('parses named and bare keys, the last one newest, and never quotes a key in a message', () => {
    const keys = parseMasterKeys(`# keys\n2026-01:${b64(KEY_A)}\n\n2026-07:${b64(KEY_B)}\n`);
    expect(typeof keys).not.toBe('string');
    expect((keys as { id: string }[]).map((k) => k.id)).toEqual(['2026-01', '2026-07']);
    const bare = parseMasterKeys(b64(KEY_A));
    expect(bare).toEqual([{ id: derivedKeyId(KEY_A), key: new Uint8Array(KEY_A) }]);
    expect(derivedKeyId(KEY_A)).toMatch(/^k-[0-9a-f]{16}$/);
    expect(parseMasterKeys(`a:${b64(KEY_A)},b:${Buffer.from(KEY_B).toString('base64url')}`)).toHaveLength(2);
    const short = b64(KEY_A.subarray(0, 31));
    for (const [text, message] of [
      ['', /no key/],
      [`a:${short}`, /entry 1 is not the base64 of 32 bytes/],
      [`a:${b64(KEY_A)},a:${b64(KEY_B)}`, /appears twice/],
      [`bad id:${b64(KEY_A)}`, /invalid key id/],
    ] as const) {
      const result = parseMasterKeys(text);
      expect(result).toMatch(message);
      expect(result).not.toContain(short);
      expect(result).not.toContain(b64(KEY_A));
    }
  });

  it('wraps under the newest key and unwraps under the recorded key id', async () => {
    const provider = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    const dataKey = randomBytes(32);
    const wrapped = await provider.wrap(dataKey);
    expect(wrapped.keyId).toBe('a');
    expect(wrapped.wrapped).toHaveLength(61);
    expect(Buffer.from(await provider.unwrap(wrapped))).toEqual(dataKey);

    const unknown = await rejection(provider.unwrap({ ...wrapped, keyId: 'b' }));
    expect(unknown).toMatchObject({
      code: 'DECRYPT_FAILED',
      details: { kind: 'unknown-key-id', keyId: 'b' },
    });
    const wrongMaster = new LocalKeyProvider([{ id: 'a', key: KEY_B }]);
    expect((await rejection(wrongMaster.unwrap(wrapped))).code).toBe('DECRYPT_FAILED');
    const altered = Uint8Array.from(wrapped.wrapped);
    altered[20]! ^= 1;
    expect((await rejection(provider.unwrap({ keyId: 'a', wrapped: altered }))).code).toBe('DECRYPT_FAILED');
    // a key wrapped under one id does not pass for another id, even with the same master key
    const twin = new LocalKeyProvider([
      { id: 'a', key: KEY_A },
      { id: 'a2', key: KEY_A },
    ]);
    expect((await rejection(twin.unwrap({ keyId: 'a2', wrapped: wrapped.wrapped }))).code).toBe(
      'DECRYPT_FAILED',
    );
  });

  it('rotates without rewriting: old segments read after a newer key is added, new ones use it', async () => {
    const before = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    const old = await sealSegment(input(), { compression: 'zstd', keys: before });
    expect(old.header.encryption?.keyId).toBe('a');

    const after = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    after.rotate({ id: 'b', key: KEY_B });
    expect(after.keyId).toBe('b');
    expect(after.keyIds).toEqual(['a', 'b']);
    const fresh = await sealSegment(input(old.sha256), { compression: 'zstd', keys: after });
    expect(fresh.header.encryption?.keyId).toBe('b');
    expect((await openSegment(old.bytes, SEG, { keys: after })).records).toHaveLength(3);
    expect((await openSegment(fresh.bytes, SEG, { keys: after })).records).toHaveLength(3);

    // dropping the old key is what makes old data unreadable: fails closed, naming segment and key id
    const onlyB = new LocalKeyProvider([{ id: 'b', key: KEY_B }]);
    const err = await rejection(openSegment(old.bytes, SEG, { keys: onlyB }));
    expect(err.code).toBe('DECRYPT_FAILED');
    expect(err.message).toContain(SEG);
    expect(err.message).toContain('master key id a');
    expect(() => after.rotate({ id: 'b', key: KEY_A })).toThrow(/twice/);
  });

  it('fails closed with a wrong master key, and verifies without any key', async () => {
    const seg = await sealSegment(input(), { keys: new LocalKeyProvider([{ id: 'a', key: KEY_A }]) });
    const wrong = new LocalKeyProvider([{ id: 'a', key: KEY_B }]);
    const err = await rejection(openSegment(seg.bytes, SEG, { keys: wrong }));
    expect(err.code).toBe('DECRYPT_FAILED');
    expect(err.message).toContain(SEG);
    expect((await rejection(openSegment(seg.bytes, SEG))).details.kind).toBe('key-required');
    expect(await verifySegmentWithKeys(seg.bytes)).toMatchObject({
      ok: true,
      sealing: { contentVerified: false },
    });
    const checked = await verifySegmentWithKeys(seg.bytes, wrong);
    expect(checked.ok).toBe(false);
    expect(checked.problems.map((p) => p.kind)).toEqual(['decrypt-failed']);
  });

  it('does not read a segment whose wrapped key was swapped with another segment of the same master key', async () => {
    const provider = new LocalKeyProvider([{ id: 'a', key: KEY_A }]);
    const a = await sealSegment(input(), { keys: provider });
    const b = await sealSegment(input('b'.repeat(64)), { keys: provider });
    const wa = a.header.encryption!.wrappedKey;
    const wb = b.header.encryption!.wrappedKey;
    const at = Buffer.from(a.bytes).indexOf(Buffer.from(wa));
    const swapped = Uint8Array.from(a.bytes);
    swapped.set(wb, at);
    // the SHA-256 (and the chain) already tell; recompute them as a forger would
    const forged = resealFooter(swapped);
    expect((await verifySegmentWithKeys(forged)).ok).toBe(true);
    const err = await rejection(openSegment(forged, SEG, { keys: provider }));
    expect(err.code).toBe('DECRYPT_FAILED');
    expect((await verifySegmentWithKeys(forged, provider)).problems[0]?.kind).toBe('decrypt-failed');
  });

  it('loads keys from a file or from the environment, not both', async () => {
    const file = path.join(dir, 'master.keys');
    await writeFile(file, `old:${b64(KEY_A)}\nnew:${b64(KEY_B)}\n`, { mode: 0o600 });
    const fromFile = await loadKeyProvider({ masterKeyFile: file });
    expect(fromFile?.keyIds).toEqual(['old', 'new']);
    expect(fromFile?.keyId).toBe('new');
    expect((await loadKeyProvider({ masterKey: b64(KEY_A) }))?.keyId).toBe(derivedKeyId(KEY_A));
    expect(await loadKeyProvider({})).toBeUndefined();
    const both = await rejection(loadKeyProvider({ masterKeyFile: file, masterKey: b64(KEY_A) }));
    expect(both.code).toBe('CONFIG_INVALID');
    const missing = await rejection(loadKeyProvider({ masterKeyFile: path.join(dir, 'nope') }));
    expect(missing.message).toMatch(/nope cannot be read \(ENOENT\)/);
    await writeFile(path.join(dir, 'bad.keys'), `x:${b64(KEY_A).slice(0, 20)}`);
    const bad = await rejection(loadKeyProvider({ masterKeyFile: path.join(dir, 'bad.keys') }));
    expect(bad.message).toContain('bad.keys');
    expect(bad.message).not.toContain(b64(KEY_A).slice(0, 20));
  });
});

describe('keys never reach logs or errors', () => {
  it('keeps master and data keys out of logs, inspection, JSON and error messages', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ name: 'test', level: 'trace', destination: sink });
    const masterText = `a:${b64(KEY_A)},b:${b64(KEY_B)}`;
    const provider = LocalKeyProvider.fromText(masterText);

    // record every data key the provider is asked to wrap
    const dataKeys: Uint8Array[] = [];
    const spy: KeyProvider = {
      keyId: provider.keyId,
      wrap: (k) => {
        dataKeys.push(Uint8Array.from(k));
        return provider.wrap(k);
      },
      unwrap: (w) => provider.unwrap(w),
    };
    const seg = await sealSegment(input(), { compression: 'zstd', keys: spy });
    const wrongErr = await rejection(
      openSegment(seg.bytes, SEG, { keys: LocalKeyProvider.fromText(`b:${b64(KEY_A)}`) }),
    );
    const badConfig = (() => {
      try {
        loadConfig({ TIDEMARK_MASTER_KEY: `a:${b64(KEY_A).slice(0, 30)}` });
      } catch (err) {
        return err as TidemarkError;
      }
      throw new Error('expected CONFIG_INVALID');
    })();
    const config = loadConfig({ TIDEMARK_MASTER_KEY: masterText });

    logger.info({ provider, config }, 'configured');
    logger.info({ masterKey: masterText, dataKey: dataKeys[0] }, 'by name, redacted');
    logger.error({ err: wrongErr }, 'restore failed');
    logger.error({ err: badConfig }, 'bad config');
    const seen = [
      ...lines,
      inspect(provider),
      JSON.stringify(provider),
      String(provider),
      wrongErr.message,
      JSON.stringify(wrongErr),
      badConfig.message,
      inspect(seg, { depth: 10 }),
    ].join('\n');

    expect(JSON.stringify(provider)).toBe('{"keyIds":["a","b"],"newest":"b"}');
    expect(inspect(provider)).toBe('LocalKeyProvider { keyIds: [a, b], newest: b }');
    expect(lines).toHaveLength(4);
    expect(dataKeys).toHaveLength(1);
    for (const secret of [KEY_A, KEY_B, dataKeys[0]!]) {
      for (const text of [
        Buffer.from(secret).toString('base64'),
        Buffer.from(secret).toString('base64').slice(0, 24),
        Buffer.from(secret).toString('base64url').slice(0, 24),
        Buffer.from(secret).toString('hex').slice(0, 24),
        inspect(Buffer.from(secret)).slice(8, 40),
        JSON.stringify([...secret.subarray(0, 8)]).slice(1, -1),
      ]) {
        expect(seen).not.toContain(text);
      }
    }
  });
});
