import { isTidemarkError } from '@tidemark/shared';
import { describe, expect, it } from 'vitest';
import { validateManifest } from './manifest-validator.js';
import { column, manifest, table } from './testing/manifest-fixture.js';

const SHA = 'a'.repeat(64);
const KEY = 'app/base/0000000002000000/manifest.json';
const DATA = 'app/base/0000000002000000/tables/0000.tmb';

const compacted = (extra: Record<string, unknown> = {}) => ({
  ...manifest([
    table('public', 't', [column('a')], {
      dataKey: DATA,
      sha256: SHA,
      encoding: 'tmblock-v1',
      storedBytes: 10,
      contentSha256: SHA,
      encrypted: true,
    }),
  ]),
  lsn: '0/2000000',
  kind: 'compacted',
  basedOn: { lsn: '0/1000000', manifestSha256: SHA },
  chainAnchor: { segmentKey: 'app/segments/x.seg', sha256: SHA, lastLsn: '0/2000000' },
  ...extra,
});

function problems(value: unknown): string {
  try {
    validateManifest(value, KEY, 'app');
    return '';
  } catch (err) {
    if (!isTidemarkError(err, 'SNAPSHOT_CORRUPT')) throw err;
    return err.message;
  }
}

describe('manifest fields of compacted snapshots and sealed table data', () => {
  it('accepts a compacted snapshot with tmblock-v1 tables, and old manifests without the fields', () => {
    expect(problems(compacted())).toBe('');
    expect(problems(manifest([table('public', 't', [column('a')])]))).toBe('');
  });

  it('refuses a compacted snapshot whose anchor or origin is missing or inconsistent', () => {
    expect(problems(compacted({ chainAnchor: undefined }))).toMatch(/chainAnchor of a compacted snapshot/);
    expect(problems(compacted({ basedOn: { lsn: 'x' } }))).toMatch(/basedOn of a compacted snapshot/);
    expect(
      problems(compacted({ chainAnchor: { segmentKey: 's', sha256: SHA, lastLsn: '0/1FFFFFF' } })),
    ).toMatch(/chainAnchor.lastLsn 0\/1FFFFFF is not the snapshot's LSN/);
    expect(problems(compacted({ basedOn: { lsn: '0/2000000', manifestSha256: SHA } }))).toMatch(
      /basedOn.lsn 0\/2000000 is not before/,
    );
    expect(problems(compacted({ kind: 'merged' }))).toMatch(/kind "merged" is neither base nor compacted/);
    expect(problems({ ...manifest([table('public', 't', [column('a')])]), chainAnchor: {} })).toMatch(
      /chainAnchor is set on a base snapshot/,
    );
  });

  it('refuses sealed table data without its content checksum or with an unknown encoding', () => {
    const m = compacted();
    const t = m.tables[0]!;
    expect(problems({ ...m, tables: [{ ...t, contentSha256: 'nope' }] })).toMatch(
      /contentSha256 is not a hex SHA-256/,
    );
    expect(problems({ ...m, tables: [{ ...t, storedBytes: undefined }] })).toMatch(/storedBytes is missing/);
    expect(problems({ ...m, tables: [{ ...t, encoding: 'gzip' }] })).toMatch(/encoding "gzip"/);
  });
});
