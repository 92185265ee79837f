import { bytesToHex, sha256, xxh64 } from './checksum.js';
import { type OpenedBlocks, openBlocks, openEnvelope } from './segment-blocks.js';
import {
  checkBlockIndex,
  checkHeaderAgainstIndex,
  checkIndex,
  startsWith,
  walkRecords,
} from './segment-checks.js';
import {
  decodeHeader,
  decodeIndex,
  flagsOfHeader,
  SEGMENT_END_MAGIC,
  SEGMENT_FLAG_COMPRESSED,
  SEGMENT_FOOTER_LENGTH,
  SEGMENT_KNOWN_FLAGS,
  SEGMENT_MAGIC,
  SEGMENT_PREAMBLE_LENGTH,
  SEGMENT_VERSION,
  type SegmentHeader,
  type SegmentIndexEntry,
} from './segment-format.js';

export type SegmentProblemKind =
  | 'bad-magic'
  | 'unsupported-version'
  | 'unsupported-flags'
  | 'truncated'
  | 'header-corrupt'
  | 'record-checksum'
  | 'record-framing'
  | 'index-corrupt'
  | 'segment-checksum'
  | 'sha256-mismatch'
  | 'lsn-order'
  | 'header-mismatch'
  /** an encrypted block does not authenticate: wrong key, or altered with recomputed checksums */
  | 'decrypt-failed'
  /** a block's envelope or compressed data is malformed (after its checksum passed) */
  | 'block-corrupt';

export interface SegmentProblem {
  kind: SegmentProblemKind;
  /** byte offset from the segment start where the problem was found */
  offset: number;
  message: string;
}

export interface SegmentVerification {
  ok: boolean;
  header?: SegmentHeader;
  /** hex SHA-256 of the bytes before the footer, as computed (not as stored) */
  sha256?: string;
  problems: SegmentProblem[];
  /** only for compressed or encrypted segments: how far the check went */
  sealing?: SegmentSealingReport;
}

export interface SegmentSealingReport {
  compressed: boolean;
  encrypted: boolean;
  /** master key id of an encrypted segment */
  keyId?: string;
  /**
   * true when every block was opened and every record's xxh64 checked; false for an
   * encrypted segment checked without its key (the stored bytes, all checksums and the
   * SHA-256 were still verified)
   */
  contentVerified: boolean;
}

/** Everything a reader needs once verification passed. */
export interface SegmentInspection extends SegmentVerification {
  index?: SegmentIndexEntry[];
  /** [offset, payloadStart, payloadEnd] per framed record (or block, when flags != 0), in file order */
  frames?: [number, number, number][];
  /** records are stored in blocks (flags != 0) */
  blocked?: boolean;
  /** bytes before the first frame (the GCM associated data of blocks) */
  prefix?: Uint8Array;
}

export interface VerifySegmentOptions {
  /** the unwrapped data key of an encrypted segment; without it, its blocks are not opened */
  dataKey?: Uint8Array;
}

/**
 * Checks every byte of a segment; never throws on bad input. A compressed segment is
 * opened and every record checked; an encrypted one too when `dataKey` is given, else
 * everything but the plaintext is checked (what an auditor without the key can prove).
 * Needs `initChecksums()`.
 */
export function verifySegment(bytes: Uint8Array, options: VerifySegmentOptions = {}): SegmentVerification {
  const inspection = inspectSegment(bytes);
  const { header, sha256: digest, problems } = inspection;
  let sealing: SegmentSealingReport | undefined;
  if (inspection.blocked && header) {
    const encrypted = header.encryption !== undefined;
    const canOpen = inspection.ok && (!encrypted || options.dataKey !== undefined);
    if (canOpen) openInspected(bytes, inspection, options.dataKey);
    sealing = {
      compressed: header.compression !== undefined,
      encrypted,
      ...(header.encryption ? { keyId: header.encryption.keyId } : {}),
      contentVerified: canOpen && problems.length === 0,
    };
  }
  return {
    ok: problems.length === 0,
    problems,
    ...(header ? { header } : {}),
    ...(digest ? { sha256: digest } : {}),
    ...(sealing ? { sealing } : {}),
  };
}

/**
 * Opens the blocks of a blocked segment whose structure passed `inspectSegment`, adding
 * any problem to `inspection.problems`. Undefined when a block could not be opened.
 */
export function openInspected(
  bytes: Uint8Array,
  inspection: SegmentInspection,
  dataKey: Uint8Array | undefined,
): OpenedBlocks | undefined {
  const { header, prefix, frames, index, problems } = inspection;
  if (!header || !prefix || !frames || !index) return undefined;
  const opened = openBlocks(bytes, header, prefix, frames, index, dataKey, (kind, offset, message) =>
    problems.push({ kind, offset, message }),
  );
  inspection.ok = problems.length === 0;
  return opened;
}

export function inspectSegment(bytes: Uint8Array): SegmentInspection {
  const problems: SegmentProblem[] = [];
  const add = (kind: SegmentProblemKind, offset: number, message: string) =>
    problems.push({ kind, offset, message });
  const done = (extra: Partial<SegmentInspection> = {}): SegmentInspection => ({
    ok: problems.length === 0,
    problems,
    ...extra,
  });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.byteLength;

  if (len >= 8 && !startsWith(bytes, 0, SEGMENT_MAGIC)) {
    add(
      'bad-magic',
      0,
      'does not start with the magic "TMSEG001": not a Tidemark segment, or its first bytes are damaged',
    );
    return done();
  }
  if (len < SEGMENT_PREAMBLE_LENGTH + SEGMENT_FOOTER_LENGTH) {
    add('truncated', len, `is only ${len} bytes long, shorter than any segment: truncated`);
    return done();
  }
  const version = view.getUint16(8, true);
  if (version !== SEGMENT_VERSION) {
    add(
      'unsupported-version',
      8,
      `has format version ${version}; this Tidemark reads version ${SEGMENT_VERSION}`,
    );
    return done();
  }
  const flags = view.getUint16(10, true);
  if ((flags & ~SEGMENT_KNOWN_FLAGS) !== 0) {
    add(
      'unsupported-flags',
      10,
      `has flags 0x${flags.toString(16)}; this Tidemark knows only bit0 (compressed) and bit1 (encrypted)`,
    );
    return done();
  }
  const blocked = flags !== 0;
  const footer = len - SEGMENT_FOOTER_LENGTH;
  if (!startsWith(bytes, len - 8, SEGMENT_END_MAGIC)) {
    add(
      'truncated',
      len - 8,
      'does not end with the footer magic "TMSEGEND": truncated (partial write), extended, or its footer is damaged',
    );
    return done();
  }

  // whole-segment checks first: they cover every byte before the footer
  const body = bytes.subarray(0, footer);
  const digest = sha256(body);
  const sha256Hex = bytesToHex(digest);
  if (view.getBigUint64(footer + 12, true) !== xxh64(body)) {
    add(
      'segment-checksum',
      footer + 12,
      'xxh64 of the segment does not match its footer: bytes were changed',
    );
  }
  if (!startsWith(bytes, footer + 20, digest)) {
    add(
      'sha256-mismatch',
      footer + 20,
      'SHA-256 of the segment does not match its footer: bytes were changed',
    );
  }

  const headerLength = view.getUint32(12, true);
  const recordsStart = SEGMENT_PREAMBLE_LENGTH + headerLength;
  if (recordsStart > footer) {
    add('header-corrupt', 12, `header length ${headerLength} runs past the footer`);
    return done({ sha256: sha256Hex });
  }
  let header: SegmentHeader | undefined;
  try {
    header = decodeHeader(bytes.subarray(SEGMENT_PREAMBLE_LENGTH, recordsStart));
  } catch (err) {
    add('header-corrupt', SEGMENT_PREAMBLE_LENGTH, `header cannot be decoded: ${errorText(err)}`);
  }
  if (header && flagsOfHeader(header) !== flags) {
    add(
      'header-corrupt',
      10,
      `flags 0x${flags.toString(16)} do not match the header, which describes flags 0x${flagsOfHeader(header).toString(16)}`,
    );
  }

  // the index sits right before the footer, so its position is fully determined
  const indexOffset = Number(view.getBigUint64(footer, true));
  const indexLength = view.getUint32(footer + 8, true);
  if (indexOffset < recordsStart || indexOffset + indexLength !== footer) {
    add(
      'index-corrupt',
      footer,
      `footer places the index at ${indexOffset}+${indexLength}, not between the records and the footer`,
    );
    return done({ sha256: sha256Hex, ...(header ? { header } : {}) });
  }

  const frames = walkRecords(bytes, view, recordsStart, indexOffset, add);
  let index: SegmentIndexEntry[] | undefined;
  try {
    const stored = bytes.subarray(indexOffset, footer);
    // a compressed segment's index is an envelope (segment-blocks.ts)
    const raw = flags & SEGMENT_FLAG_COMPRESSED ? openEnvelope(stored, true) : stored;
    index = decodeIndex(raw, blocked);
  } catch (err) {
    add('index-corrupt', indexOffset, `index cannot be decoded: ${errorText(err)}`);
  }
  if (index && frames) {
    if (blocked) checkBlockIndex(index, frames, indexOffset, header?.blockCount, add);
    else checkIndex(index, frames, indexOffset, add);
  }
  if (index && header) checkHeaderAgainstIndex(header, index, add);
  return done({
    sha256: sha256Hex,
    blocked,
    prefix: bytes.subarray(0, recordsStart),
    ...(header ? { header } : {}),
    ...(index ? { index } : {}),
    ...(frames ? { frames } : {}),
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
