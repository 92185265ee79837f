import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bytesToHex,
  createSha256,
  createXxh64,
  initChecksums,
  sha256,
  sha256Hex,
  xxh64,
  xxh64Hex,
} from './checksum.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('checksums', () => {
  beforeAll(async () => {
    await Promise.all([initChecksums(), initChecksums()]);
    await initChecksums();
  });

  it('computes xxh64 with seed 0 (reference values)', () => {
    expect(xxh64Hex(new Uint8Array(0))).toBe('ef46db3751d8e999');
    expect(xxh64(text('a'))).toBe(0xd24ec4f1a98c6e5bn);
    expect(xxh64Hex(text('abc'))).toBe('44bc2cf5ad770999');
  });

  it('pads xxh64 hex to 16 lower-case digits', () => {
    for (let i = 0; i < 300; i++) expect(xxh64Hex(text(String(i)))).toMatch(/^[0-9a-f]{16}$/);
  });

  it('hashes only the bytes of a view, not its whole buffer', () => {
    const big = text('xxabcxx');
    expect(xxh64(big.subarray(2, 5))).toBe(xxh64(text('abc')));
    expect(sha256Hex(big.subarray(2, 5))).toBe(sha256Hex(text('abc')));
  });

  it('streams xxh64 to the same result as one shot', () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
    const h = createXxh64();
    for (let at = 0; at < data.length; at += 7777) h.update(data.subarray(at, at + 7777));
    expect(h.digestHex()).toBe(xxh64Hex(data));
  });

  it('computes SHA-256 one-shot and streaming', () => {
    const expected = createHash('sha256').update('abc').digest('hex');
    expect(sha256Hex(text('abc'))).toBe(expected);
    expect(bytesToHex(sha256(text('abc')))).toBe(expected);
    expect(sha256(text('abc'))).toBeInstanceOf(Uint8Array);
    expect(createSha256().update(text('a')).update(text('bc')).digestHex()).toBe(expected);
    expect(bytesToHex(createSha256().update(text('abc')).digest())).toBe(expected);
  });

  it('formats bytes as hex', () => {
    expect(bytesToHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe('0001abff');
  });
});
