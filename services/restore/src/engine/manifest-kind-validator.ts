import { isLsnText, parseLsn } from '@tidemark/shared';

/**
 * The manifest fields of compaction snapshots and sealed table data (kind, basedOn,
 * chainAnchor, encoding...), checked with the rest of a manifest by manifest-validator.ts.
 * A compacted snapshot's chain anchor decides which segment the journal continues from,
 * so it must be well formed and agree with the snapshot's LSN.
 */
const HEX64 = /^[0-9a-f]{64}$/;
type Fail = (what: string) => void;

export function checkSnapshotKind(value: Record<string, unknown>, fail: Fail): void {
  const kind = value.kind;
  if (kind === undefined || kind === 'base') {
    if (value.chainAnchor !== undefined) fail('chainAnchor is set on a base snapshot');
    return;
  }
  if (kind !== 'compacted') {
    fail(`kind ${JSON.stringify(kind)} is neither base nor compacted`);
    return;
  }
  const basedOn = value.basedOn;
  if (
    !isObject(basedOn) ||
    typeof basedOn.lsn !== 'string' ||
    !isLsnText(basedOn.lsn) ||
    typeof basedOn.manifestSha256 !== 'string' ||
    !HEX64.test(basedOn.manifestSha256)
  )
    fail('basedOn of a compacted snapshot is not { lsn, manifestSha256 }');
  const anchor = value.chainAnchor;
  if (
    !isObject(anchor) ||
    typeof anchor.segmentKey !== 'string' ||
    typeof anchor.sha256 !== 'string' ||
    !HEX64.test(anchor.sha256) ||
    typeof anchor.lastLsn !== 'string' ||
    !isLsnText(anchor.lastLsn)
  ) {
    fail('chainAnchor of a compacted snapshot is not { segmentKey, sha256, lastLsn }');
    return;
  }
  if (
    typeof value.lsn === 'string' &&
    isLsnText(value.lsn) &&
    parseLsn(anchor.lastLsn) !== parseLsn(value.lsn)
  )
    fail(`chainAnchor.lastLsn ${anchor.lastLsn} is not the snapshot's LSN ${value.lsn}`);
  if (
    isObject(basedOn) &&
    typeof basedOn.lsn === 'string' &&
    isLsnText(basedOn.lsn) &&
    typeof value.lsn === 'string' &&
    isLsnText(value.lsn) &&
    parseLsn(basedOn.lsn) >= parseLsn(value.lsn)
  )
    fail(`basedOn.lsn ${basedOn.lsn} is not before the snapshot's LSN ${value.lsn}`);
}

export function checkTableEncoding(t: Record<string, unknown>, at: string, fail: Fail): void {
  const encoding = t.encoding;
  if (encoding === undefined || encoding === 'copy-text') return;
  if (encoding !== 'tmblock-v1') {
    fail(`${at}.encoding ${JSON.stringify(encoding)} is not copy-text or tmblock-v1`);
    return;
  }
  if (t.dataKey === null) return;
  if (typeof t.contentSha256 !== 'string' || !HEX64.test(t.contentSha256))
    fail(`${at}.contentSha256 is not a hex SHA-256`);
  if (typeof t.storedBytes !== 'number') fail(`${at}.storedBytes is missing`);
  if (t.encrypted !== undefined && typeof t.encrypted !== 'boolean') fail(`${at}.encrypted is not a boolean`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
