/**
 * The stable problem kinds of a verification (README, "For auditors", says what each means).
 * Messages may change between versions; kinds do not.
 */
export const PROBLEM_KINDS = [
  /** a record, block or segment checksum fails: bytes changed (accidental damage) */
  'checksum-mismatch',
  /** a segment ends early: a partial write or a cut object */
  'truncated',
  /** a segment's structure cannot be read (magic, header, index, framing, block) */
  'malformed',
  /** a segment the chain needs is not in the store (deleted, or never written) */
  'missing-segment',
  /** a segment in the store that is not on the chain from the snapshot to the tip */
  'unexpected-segment',
  /** LSN ranges of consecutive segments (or the snapshot and the first segment) overlap */
  'overlap',
  /** the journal does not cover what it should (the chain stops before the tip or the range) */
  'gap',
  /** a hash link does not hold and nothing more precise explains why */
  'chain-broken',
  /** segments or records are out of order, or a segment is filed under a key that does not match it */
  'order',
  /** a segment was re-written by someone who could recompute xxh64 but not keep the SHA-256 chain */
  'forged',
  /** a snapshot manifest or table file does not match (size, xxh64, SHA-256), or cannot be read */
  'snapshot-damaged',
  /** the tip document is unreadable or disagrees with the segment it names */
  'tip-mismatch',
  /** the restorable window GET /v1/sources claims is not what the verified journal supports */
  'window-mismatch',
  /** an encrypted segment does not decrypt with the configured keys */
  'decrypt-failed',
] as const;

export type ProblemKind = (typeof PROBLEM_KINDS)[number];

export interface VerificationProblem {
  readonly kind: ProblemKind;
  /** object key the problem is in (or the source name for window problems) */
  readonly key: string;
  /** byte offset inside that object, where it applies */
  readonly offset?: number;
  readonly message: string;
}

/** Maps segment-verifier kinds (core) to the stable kinds. */
export function segmentProblemKind(kind: string): ProblemKind {
  switch (kind) {
    case 'record-checksum':
    case 'segment-checksum':
    case 'sha256-mismatch':
      return 'checksum-mismatch';
    case 'truncated':
      return 'truncated';
    case 'lsn-order':
      return 'order';
    case 'decrypt-failed':
      return 'decrypt-failed';
    default:
      return 'malformed';
  }
}
