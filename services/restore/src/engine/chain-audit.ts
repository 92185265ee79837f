import { formatLsn, type Lsn, parseSegmentKey } from '@tidemark/shared';
import type { VerificationProblem } from './verification-problems.js';

/**
 * Rebuilds the hash chain from what was read, and names what is wrong with it. Pure.
 *
 * The journal is the chain that ends at the tip (docs/architecture.md), so the chain is
 * followed backwards from its end by hash (each segment names its predecessor's SHA-256),
 * not by key order: a segment moved, swapped or inserted cannot hide behind its name. When
 * the backward walk does not reach the start (the snapshot), the chain is also followed
 * forwards from the start, and the hole lies between the two walks:
 *
 * - a segment re-encoded by someone who recomputed xxh64 but could not keep the SHA-256
 *   (its footer SHA-256 no longer matches) is `forged` (found by the segment check);
 * - a hole whose last segment before it was written after the first segment behind it is
 *   `forged` (that segment replaced the original later);
 * - any other hole is `missing-segment`: from the hashes alone a deleted segment and a
 *   replacement that kept every header field are indistinguishable, the message says both;
 * - segments on neither walk are `unexpected-segment`; chain order against key order and
 *   key against header give `order`; LSN ranges give `overlap`.
 */
export interface AuditedSegment {
  readonly key: string;
  /** false when the object could not be read at all (reported by the caller) */
  readonly readable: boolean;
  readonly firstLsn?: Lsn;
  readonly lastLsn?: Lsn;
  readonly prevSha256?: string;
  readonly createdAt?: string;
  readonly source?: string;
  /** SHA-256 the segment is known by in the chain: computed, or the footer's when damaged */
  readonly identity?: string;
  /** its own checks failed (already reported): a break of the chain at it follows from that */
  readonly damaged?: boolean;
}

export interface ChainStart {
  /** the hash the first segment must name: a snapshot's manifest, a compaction anchor, or a predecessor */
  readonly sha256: string;
  readonly lsn: Lsn;
  /** what the hash belongs to, for messages */
  readonly describe: string;
}

export interface ChainEnd {
  readonly key: string;
  /** the hash the last segment must have (the tip's) */
  readonly sha256?: string;
}

export interface ChainAudit {
  /** segments on the chain, start to end (only the part that could be followed) */
  readonly chain: readonly AuditedSegment[];
  readonly complete: boolean;
  readonly problems: VerificationProblem[];
}

export function auditChain(
  segments: readonly AuditedSegment[],
  start: ChainStart,
  end: ChainEnd | null,
): ChainAudit {
  const problems: VerificationProblem[] = [];
  if (segments.length === 0 || end === null) return { chain: [], complete: true, problems };
  const byIdentity = new Map<string, AuditedSegment>();
  const byPrev = new Map<string, AuditedSegment[]>();
  for (const s of segments) {
    if (s.identity) byIdentity.set(s.identity, s);
    if (s.prevSha256) byPrev.set(s.prevSha256, [...(byPrev.get(s.prevSha256) ?? []), s]);
  }

  // backwards from the end
  const back: AuditedSegment[] = [];
  const seen = new Set<string>();
  let cur = segments.find((s) => s.key === end.key);
  let reachedStart = false;
  while (cur?.readable && !seen.has(cur.key)) {
    back.unshift(cur);
    seen.add(cur.key);
    if (cur.prevSha256 === start.sha256) {
      reachedStart = true;
      break;
    }
    cur = cur.prevSha256 ? byIdentity.get(cur.prevSha256) : undefined;
  }

  let chain = back;
  if (!reachedStart) {
    // forwards from the start, as far as links hold
    const fwd: AuditedSegment[] = [];
    let prev = start.sha256;
    for (;;) {
      const next = (byPrev.get(prev) ?? []).find((s) => !seen.has(s.key));
      if (!next?.identity) {
        if (next) {
          fwd.push(next);
          seen.add(next.key);
        }
        break;
      }
      fwd.push(next);
      seen.add(next.key);
      prev = next.identity;
    }
    const before = fwd[fwd.length - 1];
    const after = back[0];
    const hole = holeProblem(before, after, start, segments);
    if (hole) problems.push(hole);
    chain = [...fwd, ...back];
  }

  for (const s of segments) {
    if (s.readable && !s.damaged && !seen.has(s.key))
      problems.push({
        kind: 'unexpected-segment',
        key: s.key,
        message: `segment ${s.key} is not on the hash chain from ${start.describe} to ${end.key}: no segment of the chain names it as predecessor; it was added to the store from elsewhere`,
      });
  }

  const source = chain.find((s) => s.source !== undefined)?.source;
  for (let i = 0; i < chain.length; i++) {
    const s = chain[i] as AuditedSegment;
    const p = chain[i - 1];
    const parsed = parseSegmentKey(s.key);
    const renamed =
      parsed && s.firstLsn !== undefined && (parsed.firstLsn !== s.firstLsn || parsed.lastLsn !== s.lastLsn);
    if (s.source === undefined) continue; // no header: its own problems say why
    if (renamed || (parsed && parsed.source !== s.source) || s.source !== source) {
      problems.push({
        kind: 'order',
        key: s.key,
        message: `segment ${s.key} holds ${s.source} ${lsn(s.firstLsn)}-${lsn(s.lastLsn)}, which its key does not say: it was moved, renamed or swapped with another`,
      });
    } else if (p && s.key <= p.key) {
      problems.push({
        kind: 'order',
        key: s.key,
        message: `segment ${s.key} follows ${p.key} in the hash chain but sorts before it`,
      });
    }
    const base = p ? p.lastLsn : s.prevSha256 === start.sha256 ? start.lsn : undefined;
    if (base !== undefined && s.firstLsn !== undefined && s.firstLsn <= base)
      problems.push({
        kind: 'overlap',
        key: s.key,
        message: `segment ${s.key} starts at LSN ${lsn(s.firstLsn)}, not after ${p ? p.key : start.describe} (which ends at ${lsn(base)})`,
      });
  }
  return { chain, complete: reachedStart, problems };
}

function holeProblem(
  before: AuditedSegment | undefined,
  after: AuditedSegment | undefined,
  start: ChainStart,
  all: readonly AuditedSegment[],
): VerificationProblem | undefined {
  const from = before ? `${before.key} (ends at LSN ${lsn(before.lastLsn)})` : `${start.describe}`;
  if (!after) {
    return {
      kind: 'gap',
      key: before?.key ?? start.describe,
      message: `the chain from ${from} does not reach its end: the last segment is missing or unreadable`,
    };
  }
  // a segment in the hole that is unreadable or failed its own checks explains it (reported already)
  if (all.some((s) => (!s.readable || s.damaged) && (!before || s.key > before.key) && s.key <= after.key))
    return undefined;
  if (before?.createdAt && after.createdAt && before.createdAt > after.createdAt) {
    return {
      kind: 'forged',
      key: before.key,
      message:
        `segment ${before.key} is not the one its successor ${after.key} was chained to (that one names SHA-256 ${after.prevSha256}, ` +
        `this one hashes to ${before.identity}), and it was written (${before.createdAt}) after its successor (${after.createdAt}): it replaced the original`,
    };
  }
  return {
    kind: 'missing-segment',
    key: after.key,
    message:
      `segment ${after.key} names a predecessor with SHA-256 ${after.prevSha256} that is not in the store: the segment(s) between ${from} ` +
      `and LSN ${lsn(after.firstLsn)} are missing${before ? `, or ${before.key} was replaced by one with the same header` : ''}`,
  };
}

function lsn(v: Lsn | undefined): string {
  return v === undefined ? '?' : formatLsn(v);
}
