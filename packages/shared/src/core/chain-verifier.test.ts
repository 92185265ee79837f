import { describe, expect, it } from 'vitest';
import { type ChainLink, verifyChain } from './chain-verifier.js';
import { initChecksums } from './checksum.js';
import { segmentKey } from './object-layout.js';
import { readSegment } from './segment-reader.js';
import { verifySegment } from './segment-verifier.js';
import { GENESIS, replaceBytes, resealFooter, resealRecord, segmentOf } from './testing/segment-fixtures.js';

await initChecksums();

const START = { sha256: GENESIS, lsn: 0x100n };
const RANGES: bigint[][] = [
  [0x1000n, 0x1010n],
  [0x2000n],
  [0x3000n, 0x3008n, 0x3100n],
  [0x4000n],
  [0x5000n, 0x5001n],
];

function linkOf(bytes: Uint8Array): ChainLink {
  const { header, sha256 } = readSegment(bytes);
  return {
    key: segmentKey(header.source, header.firstCommitTime, header.firstLsn, header.lastLsn),
    header,
    sha256,
  };
}

/** A well-formed chain of five segments after the snapshot START. */
function buildChain(): { links: ChainLink[]; bytes: Uint8Array[] } {
  const bytes: Uint8Array[] = [];
  let prev = START.sha256;
  for (const lsns of RANGES) {
    const seg = segmentOf(lsns, prev);
    bytes.push(seg.bytes);
    prev = seg.sha256;
  }
  return { links: bytes.map(linkOf), bytes };
}

const kinds = (problems: { kind: string }[]) => problems.map((p) => p.kind);

describe('verifyChain', () => {
  const { links, bytes } = buildChain();

  it('accepts an intact chain, and an empty one', () => {
    expect(verifyChain(START, links)).toEqual([]);
    expect(verifyChain(START, [])).toEqual([]);
  });

  it('reports a missing segment as a broken link naming both neighbours', () => {
    const problems = verifyChain(START, [links[0]!, links[1]!, links[3]!, links[4]!]);
    expect(kinds(problems)).toEqual(['broken-link']);
    expect(problems[0]!.key).toBe(links[3]!.key);
    expect(problems[0]!.message).toContain(links[1]!.key);
    expect(problems[0]!.message).toContain(links[3]!.key);
    expect(problems[0]!.message).toMatch(/missing/);
  });

  it('reports missing first segments against the snapshot', () => {
    const problems = verifyChain(START, links.slice(1));
    expect(kinds(problems)).toEqual(['broken-link']);
    expect(problems[0]!.message).toMatch(/base snapshot/);
  });

  it('reports an extra segment, even one forged to link to its predecessor', () => {
    const extra = linkOf(segmentOf([0x2500n], links[1]!.sha256).bytes);
    const problems = verifyChain(START, [...links.slice(0, 2), extra, ...links.slice(2)]);
    expect(kinds(problems)).toEqual(['broken-link']);
    expect(problems[0]!.key).toBe(links[2]!.key);
  });

  it('reports a duplicated segment as an overlap', () => {
    const dup = { ...links[1]!, key: `${links[1]!.key}.copy` };
    expect(kinds(verifyChain(START, [links[0]!, links[1]!, dup, ...links.slice(2)]))).toEqual(
      expect.arrayContaining(['overlap', 'broken-link']),
    );
  });

  it('reports reordered segments', () => {
    const problems = verifyChain(START, [links[0]!, links[2]!, links[1]!, links[3]!, links[4]!]);
    expect(kinds(problems)).toContain('out-of-order');
    expect(kinds(problems)).toContain('broken-link');
  });

  it('reports a replaced segment whose checksums were all forged', () => {
    const forged = replaceBytes(
      bytes[2]!,
      new TextEncoder().encode('note 12296'),
      new TextEncoder().encode('note 99999'),
    );
    resealRecord(forged, readSegment(bytes[2]!).records[1]!.offset);
    const resealed = resealFooter(forged);
    expect(verifySegment(resealed).ok).toBe(true); // xxh64 and SHA-256 alone cannot tell
    const problems = verifyChain(START, [...links.slice(0, 2), linkOf(resealed), ...links.slice(3)]);
    expect(kinds(problems)).toEqual(['broken-link']);
    expect(problems[0]!.key).toBe(links[3]!.key);
  });

  it('reports a replaced segment re-encoded from scratch with the right predecessor', () => {
    const replacement = linkOf(segmentOf([0x3000n, 0x3100n], links[1]!.sha256).bytes);
    expect(kinds(verifyChain(START, [links[0]!, links[1]!, replacement, links[3]!, links[4]!]))).toEqual([
      'broken-link',
    ]);
  });

  it('reports a segment that overlaps the snapshot', () => {
    expect(kinds(verifyChain({ ...START, lsn: 0x1000n }, links))).toEqual(['overlap']);
  });

  it('reports a segment of another source', () => {
    const other = linkOf(segmentOf([0x6000n], links[4]!.sha256, 'other').bytes);
    expect(kinds(verifyChain(START, [...links, other]))).toEqual(['source-mismatch']);
  });

  it('reports a segment filed under a key that does not match its header', () => {
    const renamed = { ...links[1]!, key: links[1]!.key.replace('0000000000002000-', '0000000000001F00-') };
    expect(kinds(verifyChain(START, [links[0]!, renamed, ...links.slice(2)]))).toEqual(['out-of-order']);
  });
});
