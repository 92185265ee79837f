import { describe, expect, it } from 'vitest';
import { createXxh64, xxh64 } from './checksum.js';

// runs in its own module instance (vitest isolates test files), before any initChecksums()
describe('checksums before initChecksums()', () => {
  it('throws an error that says what to do', () => {
    expect(() => xxh64(new Uint8Array(1))).toThrow(/initChecksums\(\)/);
    expect(() => createXxh64()).toThrow(/initChecksums\(\)/);
  });
});
