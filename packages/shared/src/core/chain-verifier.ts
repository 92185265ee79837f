import { formatLsn, type Lsn } from './lsn.js';
import { parseSegmentKey } from './object-layout.js';
import type { SegmentHeader } from './segment-format.js';

/** A verified segment as the chain sees it (`readSegment` gives header and sha256). */
export interface ChainLink {
  key: string;
  header: SegmentHeader;
  sha256: string;
}

/**
 * 'gap' is kept for completeness but never reported: LSNs are sparse, so a missing
 * segment cannot be seen in the LSN ranges; it shows as a 'broken-link' instead.
 */
export type ChainProblemKind = 'broken-link' | 'gap' | 'overlap' | 'out-of-order' | 'source-mismatch';

export interface ChainProblem {
  kind: ChainProblemKind;
  key: string;
  message: string;
}

/**
 * Checks that `links` (in key order) form one hash chain starting at `start` (the base
 * snapshot: SHA-256 of its manifest.json and its LSN). The SHA-256 link is what makes a
 * missing, extra, reordered or replaced segment visible: each segment names its
 * predecessor's hash, which cannot be forged to fit, whereas the per-segment xxh64 can be
 * recomputed by anyone. Reports every problem found; an empty list means the chain holds.
 */
export function verifyChain(
  start: { sha256: string; lsn: Lsn },
  links: readonly ChainLink[],
): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const source = links[0]?.header.source;
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    const prev = links[i - 1];
    const h = link.header;
    const add = (kind: ChainProblemKind, message: string) => problems.push({ kind, key: link.key, message });

    if (h.source !== source)
      add('source-mismatch', `segment ${link.key} belongs to source ${h.source}, not ${source}`);
    const parsed = parseSegmentKey(link.key);
    if (
      parsed &&
      (parsed.source !== h.source || parsed.firstLsn !== h.firstLsn || parsed.lastLsn !== h.lastLsn)
    ) {
      add(
        'out-of-order',
        `segment ${link.key} is filed under a key that does not match its header ` +
          `(${h.source} ${formatLsn(h.firstLsn)}-${formatLsn(h.lastLsn)}): it was renamed or moved`,
      );
    }

    if (prev === undefined) {
      if (h.firstLsn <= start.lsn) {
        add(
          'overlap',
          `first segment ${link.key} starts at ${formatLsn(h.firstLsn)}, not after the snapshot at ${formatLsn(start.lsn)}`,
        );
      }
      if (h.prevSha256 !== start.sha256) {
        add(
          'broken-link',
          `first segment ${link.key} does not link to the base snapshot (expected prevSha256 ${start.sha256}, found ` +
            `${h.prevSha256}): segments after the snapshot are missing, or this one was replaced`,
        );
      }
      continue;
    }

    const ph = prev.header;
    if (h.firstLsn < ph.firstLsn || link.key <= prev.key) {
      add(
        'out-of-order',
        `segment ${link.key} (from ${formatLsn(h.firstLsn)}) comes after ${prev.key} (from ${formatLsn(ph.firstLsn)}) but is not later`,
      );
    } else if (h.firstLsn <= ph.lastLsn) {
      add(
        'overlap',
        `segment ${link.key} starts at ${formatLsn(h.firstLsn)}, inside ${prev.key} which ends at ${formatLsn(ph.lastLsn)}`,
      );
    }
    if (h.prevSha256 !== prev.sha256) {
      add(
        'broken-link',
        `segment ${link.key} does not link to ${prev.key} (expected prevSha256 ${prev.sha256}, found ${h.prevSha256}): ` +
          'a segment between them is missing, one of them was replaced, or they are out of order',
      );
    }
  }
  return problems;
}
