import { describe, expect, it } from 'vitest';
import { parseLsn } from './lsn.js';
import {
  parseSnapshotManifestKey,
  snapshotChainAnchor,
  snapshotDataKeys,
  snapshotKindOf,
  snapshotManifestKeys,
  snapshotTableDataKey,
  storedBytesOf,
} from './snapshot-anchor.js';

const SHA_M = 'a'.repeat(64);
const SHA_S = 'b'.repeat(64);

describe('snapshot chain anchors', () => {
  it('a base snapshot anchors the chain at its manifest, a compacted one at its last segment', () => {
    expect(snapshotKindOf({})).toBe('base');
    expect(snapshotChainAnchor({ lsn: '0/1000' }, SHA_M)).toEqual({ sha256: SHA_M, lsn: 0x1000n });
    expect(snapshotChainAnchor({ lsn: '0/1000', kind: 'base' }, SHA_M)).toEqual({
      sha256: SHA_M,
      lsn: 0x1000n,
    });
    const compacted = {
      lsn: '1/20',
      kind: 'compacted' as const,
      chainAnchor: { segmentKey: 'main/segments/x.seg', sha256: SHA_S, lastLsn: '1/20' },
    };
    expect(snapshotKindOf(compacted)).toBe('compacted');
    expect(snapshotChainAnchor(compacted, SHA_M)).toEqual({ sha256: SHA_S, lsn: parseLsn('1/20') });
    expect(() => snapshotChainAnchor({ lsn: '1/20', kind: 'compacted' }, SHA_M)).toThrow(/chainAnchor/);
  });

  it('parses and lists manifest keys of one source, oldest first', () => {
    expect(parseSnapshotManifestKey('main', 'main/base/0000000100000020/manifest.json')).toBe(0x1_0000_0020n);
    expect(parseSnapshotManifestKey('main', 'main/base/0000000100000020/tables/0000.copy')).toBeUndefined();
    expect(parseSnapshotManifestKey('main', 'other/base/0000000100000020/manifest.json')).toBeUndefined();
    expect(
      parseSnapshotManifestKey('main', 'main/base/tables/0000000100000020-16384/manifest.json'),
    ).toBeUndefined();
    const listed = snapshotManifestKeys('main', [
      'main/base/0000000200000000/manifest.json',
      'main/base/0000000200000000/tables/0000.tmb',
      'main/base/0000000000001000/manifest.json',
    ]);
    expect(listed.map((s) => s.lsn)).toEqual([0x1000n, 0x2_0000_0000n]);
  });

  it('names data objects by encoding and sizes them as stored', () => {
    expect(snapshotTableDataKey('main', 0x1000n, 3, 'copy-text')).toBe(
      'main/base/0000000000001000/tables/0003.copy',
    );
    expect(snapshotTableDataKey('main', 0x1000n, 3, 'tmblock-v1')).toBe(
      'main/base/0000000000001000/tables/0003.tmb',
    );
    expect(storedBytesOf({ dataKey: 'k', bytes: 100 })).toBe(100);
    expect(storedBytesOf({ dataKey: 'k', bytes: 100, storedBytes: 30 })).toBe(30);
    expect(storedBytesOf({ dataKey: null, bytes: 0 })).toBe(0);
    expect(snapshotDataKeys({ tables: [{ dataKey: 'a' }, { dataKey: null }] as never })).toEqual(['a']);
  });
});
