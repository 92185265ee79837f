import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { parseManifest, validateManifest } from './manifest-validator.js';
import { column, manifest, table } from './testing/manifest-fixture.js';

const KEY = 'app/base/0000000001000000/manifest.json';
const sha = 'a'.repeat(64);

describe('validateManifest', () => {
  it('accepts a well-formed manifest', () => {
    const m = manifest([
      table('public', 't', [column('a')], {
        dataKey: 'app/base/0000000001000000/tables/0000.copy',
        sha256: sha,
        primaryKey: ['a'],
      }),
    ]);
    expect(validateManifest(JSON.parse(JSON.stringify(m)), KEY, 'app')).toEqual(m);
  });

  it('names the key and the problems', () => {
    const m = manifest([
      table('public', 't', [column('a'), column('a')], { primaryKey: ['b'] }),
      table('public', 'p', [column('a')], {
        partitionOf: { schema: 'public', table: 'nope', bound: 'DEFAULT' },
      }),
    ]);
    try {
      validateManifest(m, KEY, 'app');
      expect.unreachable();
    } catch (err) {
      expect(isTidemarkError(err, 'SNAPSHOT_CORRUPT')).toBe(true);
      expect((err as Error).message).toContain(KEY);
      expect((err as Error).message).toContain('repeats column a');
      expect((err as Error).message).toContain('unknown column b');
      expect((err as Error).message).toContain('not a partitioned table');
    }
  });

  it('refuses data outside the snapshot, a foreign source and bad hashes', () => {
    const outside = manifest([
      table('public', 't', [column('a')], { dataKey: 'other/base/x/tables/0000.copy', sha256: sha }),
    ]);
    expect(() => validateManifest(outside, KEY)).toThrow(/outside the snapshot/);
    expect(() => validateManifest(manifest([]), KEY, 'billing')).toThrow(/expected "billing"/);
    const noHash = manifest([
      table('public', 't', [column('a')], { dataKey: 'app/base/0000000001000000/tables/0000.copy' }),
    ]);
    expect(() => validateManifest(noHash, KEY)).toThrow(/SHA-256/);
  });

  it('refuses bytes that are not JSON', () => {
    expect(() => parseManifest(new TextEncoder().encode('{nope'), KEY)).toThrow(/not valid UTF-8 JSON/);
    expect(() => parseManifest(new TextEncoder().encode('[]'), KEY)).toThrow(/not a JSON object/);
  });
});
