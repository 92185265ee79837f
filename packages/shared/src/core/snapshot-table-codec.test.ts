import { describe, expect, it } from 'vitest';
import { initChecksums } from './checksum.js';
import { isTidemarkError } from './errors.js';
import type { KeyProvider } from './segment-keys.js';
import { openTableData, peekTableHeader, sealTableData } from './snapshot-table-codec.js';

await initChecksums();

const KEY = 'main/base/0000000001000000/tables/0000.tmb';

/** a provider that "wraps" by XOR with a per-id byte: enough to tell keys apart in tests */
function provider(id: string, salt: number): KeyProvider {
  return {
    keyId: id,
    wrap: async (dataKey) => ({ keyId: id, wrapped: dataKey.map((b) => b ^ salt) }),
    unwrap: async ({ keyId, wrapped }) => {
      if (keyId !== id) throw new Error(`unknown master key id ${keyId}`);
      return wrapped.map((b) => b ^ salt);
    },
  };
}

async function* chunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.byteLength; i += size) yield data.subarray(i, i + size);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

function copyText(rows: number): Uint8Array {
  let s = '';
  for (let i = 0; i < rows; i++)
    s += `${i}\tname ${i % 97}\t\\N\t2024-05-01 10:00:${String(i % 60).padStart(2, '0')}+00\n`;
  return new TextEncoder().encode(s);
}

async function codeOf(err: Promise<unknown>): Promise<string | undefined> {
  try {
    await err;
    return undefined;
  } catch (e) {
    return isTidemarkError(e) ? e.code : String(e);
  }
}

describe('snapshot table codec (tmblock-v1)', () => {
  const plain = copyText(20_000);

  it.each([
    { compress: true, encrypted: false },
    { compress: false, encrypted: true },
    { compress: true, encrypted: true },
  ])('round-trips in small blocks (%o)', async ({ compress, encrypted }) => {
    const keys = encrypted ? provider('k1', 0x5a) : undefined;
    const stored = await collect(
      sealTableData(chunks(plain, 7_001), { objectKey: KEY, compress, keys, blockBytes: 64 * 1024 }),
    );
    if (compress) expect(stored.byteLength).toBeLessThan(plain.byteLength / 3);
    // the COPY text is not visible in an encrypted object
    if (encrypted) expect(Buffer.from(stored).includes(Buffer.from('name 13'))).toBe(false);
    expect(peekTableHeader(stored, KEY)?.encryption?.keyId).toBe(encrypted ? 'k1' : undefined);
    const back = await collect(openTableData(chunks(stored, 1_000), { objectKey: KEY, keys }));
    expect(Buffer.from(back).equals(Buffer.from(plain))).toBe(true);
  });

  it('round-trips an empty table', async () => {
    const stored = await collect(
      sealTableData(chunks(new Uint8Array(0), 1), { objectKey: KEY, compress: true }),
    );
    expect((await collect(openTableData(chunks(stored, 3), { objectKey: KEY }))).byteLength).toBe(0);
  });

  it('refuses damage, truncation, extra bytes and a moved object before using any of it', async () => {
    const stored = await collect(
      sealTableData(chunks(plain, 50_000), { objectKey: KEY, compress: true, blockBytes: 32 * 1024 }),
    );
    const flipped = Uint8Array.from(stored);
    flipped[Math.floor(stored.byteLength / 2)]! ^= 1;
    const open = (b: Uint8Array, objectKey = KEY) => collect(openTableData(chunks(b, 4096), { objectKey }));
    expect(await codeOf(open(flipped))).toBe('SNAPSHOT_CORRUPT');
    expect(await codeOf(open(stored.subarray(0, stored.byteLength - 1)))).toBe('SNAPSHOT_CORRUPT');
    expect(await codeOf(open(stored.subarray(0, 3000)))).toBe('SNAPSHOT_CORRUPT');
    expect(await codeOf(open(new Uint8Array([...stored, 0])))).toBe('SNAPSHOT_CORRUPT');
    expect(await codeOf(open(stored, 'main/base/0000000001000000/tables/0001.tmb'))).toBe('SNAPSHOT_CORRUPT');
    expect(await codeOf(open(new TextEncoder().encode('1\tplain copy\n')))).toBe('SNAPSHOT_CORRUPT');
  });

  it('fails closed without the key, with a wrong master key, or with an unknown key id', async () => {
    const stored = await collect(
      sealTableData(chunks(plain, 50_000), { objectKey: KEY, compress: true, keys: provider('k1', 0x5a) }),
    );
    const open = (keys?: KeyProvider) =>
      collect(openTableData(chunks(stored, 4096), { objectKey: KEY, keys }));
    expect(await codeOf(open())).toBe('DECRYPT_FAILED');
    expect(await codeOf(open(provider('k1', 0x33)))).toBe('DECRYPT_FAILED');
    expect(await codeOf(open(provider('k2', 0x5a)))).toBe('DECRYPT_FAILED');
    expect(await codeOf(open(provider('k1', 0x5a)))).toBeUndefined();
  });
});
