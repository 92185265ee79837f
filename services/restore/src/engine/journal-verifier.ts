import {
  formatLsn,
  formatTimestampMicros,
  initChecksums,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  parseLsn,
  SEGMENT_FOOTER_LENGTH,
  snapshotChainAnchor,
  snapshotsPrefix,
  type TipDocument,
  tipKey,
  toTidemarkError,
  verifySegmentWithKeys,
} from '@tidemark/shared';
import { type AuditedSegment, auditChain, type ChainStart } from './chain-audit.js';
import { type JournalCatalog, type SourceState, summarize } from './journal-catalog.js';
import { forEachParallel } from './parallel.js';
import { restoreWindow, type SnapshotInfo } from './restore-window.js';
import { auditSnapshotTables, keyInMessage } from './snapshot-audit.js';
import { segmentProblemKind, type VerificationProblem } from './verification-problems.js';
import { selectRange, type VerificationRange } from './verification-range.js';

/**
 * The auditor's check of one source's journal, whole or a range of it: the snapshot the
 * chain starts at and every usable snapshot (each table object's size, xxh64, SHA-256), every
 * segment (record, block and whole-segment checksums, structure, LSN order inside), the
 * SHA-256 chain rebuilt by hash (chain-audit.ts), LSN continuity, the tip document, and that
 * the restorable window GET /v1/sources claims is the one the verified journal supports.
 * It never stops at the first problem: one report tells the whole state. It only reads.
 *
 * Segments are read `concurrency` at a time (only their verdicts are kept, never their
 * bytes), so it runs as fast as the store serves reads. Encrypted segments are checked on
 * their stored bytes without a key; with `keys` their records too (`notDecrypted` counts
 * those that were not opened).
 */
export type VerifyProblem = VerificationProblem;

export interface VerifyReport {
  readonly ok: boolean;
  readonly source: string;
  /** the range asked for, as given (null: the whole journal) */
  readonly range: { readonly from: string | null; readonly to: string | null } | null;
  /** the snapshot the chain starts at */
  readonly snapshotLsn: string | null;
  readonly snapshots: number;
  /** segments read and checked */
  readonly segments: number;
  /** records in the segments that passed verification */
  readonly records: number;
  readonly bytes: number;
  /** commit LSN range of the verified segments (`X/Y`) */
  readonly firstLsn: string | null;
  readonly lastLsn: string | null;
  /** SHA-256 of the last segment on the verified chain */
  readonly chainHead: string | null;
  readonly tipSegmentKey: string | null;
  readonly problems: readonly VerifyProblem[];
  readonly notDecrypted?: number;
}

export interface VerifyProgress {
  readonly phase: 'listing' | 'snapshots' | 'segments' | 'chain' | 'done';
  readonly segmentsDone: number;
  readonly segmentsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly problems: number;
}

export interface VerifyOptions {
  readonly checkSnapshotData?: boolean;
  readonly keys?: KeyProvider;
  readonly range?: VerificationRange;
  /** objects read at once (default 8) */
  readonly concurrency?: number;
  readonly onProgress?: (p: VerifyProgress) => void;
  readonly signal?: AbortSignal;
}

export async function verifyJournal(
  store: ObjectStore,
  catalog: JournalCatalog,
  source: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  await initChecksums();
  await catalog.requireSource(source);
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const problems: VerificationProblem[] = [];
  const progress = {
    phase: 'listing' as VerifyProgress['phase'],
    segmentsDone: 0,
    segmentsTotal: 0,
    bytesDone: 0,
    bytesTotal: 0,
  };
  const report = () => options.onProgress?.({ ...progress, problems: problems.length });
  report();

  const state = await readState(catalog, source, problems);
  const { tip } = state;
  for (const p of state.problems)
    problems.push({ kind: 'snapshot-damaged', key: keyInMessage(p, snapshotsPrefix(source)), message: p });

  const startSnapshot = chainStartSnapshot(state);
  if (!startSnapshot) {
    problems.push({
      kind: 'snapshot-damaged',
      key: snapshotsPrefix(source),
      message: tip
        ? `the snapshot the journal starts at (LSN ${tip.snapshotLsn}) is not in the store, and no compacted snapshot continues the chain`
        : `source ${source} has no base snapshot`,
    });
  }
  // without its snapshot (reported above) the segments and the tip are still checked
  const anchor: ChainStart | undefined = startSnapshot
    ? chainStartOf(startSnapshot)
    : tip
      ? { sha256: '', lsn: parseLsn(tip.snapshotLsn), describe: `the missing snapshot at ${tip.snapshotLsn}` }
      : undefined;

  const listed = tip && anchor ? await catalog.listSegments(source, { tip, afterLsn: anchor.lsn }) : [];
  const selected = selectRange(listed, options.range);
  progress.segmentsTotal = selected.length;
  progress.bytesTotal = selected.reduce((n, s) => n + s.size, 0);

  // snapshots: the chain start and every usable one (a range: only those a restore into it uses)
  progress.phase = 'snapshots';
  report();
  const usable = state.window?.snapshots ?? (startSnapshot ? [startSnapshot] : []);
  const toCheck = snapshotsToCheck(usable, startSnapshot, options.range);
  const damagedSnapshots = new Set<string>();
  if (options.checkSnapshotData !== false) {
    for (const snap of toCheck) {
      const before = problems.length;
      await auditSnapshotTables(store, snap, concurrency, problems, (n) => {
        progress.bytesDone += n;
      });
      if (problems.length > before) damagedSnapshots.add(snap.manifestKey);
      options.signal?.throwIfAborted();
    }
  }

  progress.phase = 'segments';
  report();
  const audited: AuditedSegment[] = new Array(selected.length);
  let records = 0;
  let notDecrypted = 0;
  const computed = new Map<string, string>();
  const headers = new Map<string, { lastLsn: Lsn; firstLsn: Lsn; lastCommitTime: bigint }>();
  await forEachParallel(
    selected.map((s, i) => ({ ...s, i })),
    concurrency,
    async ({ key, i }) => {
      options.signal?.throwIfAborted();
      let bytes: Uint8Array;
      try {
        bytes = await store.get(key);
      } catch (err) {
        audited[i] = { key, readable: false };
        problems.push({
          kind: 'missing-segment',
          key,
          message: `segment ${key} cannot be read: ${toTidemarkError(err).message}`,
        });
        return;
      }
      const v = await verifySegmentWithKeys(bytes, options.keys);
      const h = v.header;
      const segProblems = collapse(key, v.problems);
      problems.push(...segProblems);
      if (v.ok && h) records += h.recordCount;
      if (v.sealing && !v.sealing.contentVerified && v.ok) notDecrypted++;
      if (v.sha256) computed.set(key, v.sha256);
      if (h) headers.set(key, { firstLsn: h.firstLsn, lastLsn: h.lastLsn, lastCommitTime: h.lastCommitTime });
      audited[i] = {
        key,
        readable: true,
        ...(h
          ? {
              firstLsn: h.firstLsn,
              lastLsn: h.lastLsn,
              prevSha256: h.prevSha256,
              createdAt: h.createdAt,
              source: h.source,
            }
          : {}),
        ...(identity(bytes, v.ok ? v.sha256 : undefined) ?? {}),
        ...(segProblems.some((p) => p.kind !== 'forged') ? { damaged: true } : {}),
      };
      progress.segmentsDone++;
      progress.bytesDone += bytes.byteLength;
      report();
    },
  );

  progress.phase = 'chain';
  report();
  let chainHead: string | null = null;
  let firstLsn: Lsn | undefined;
  let lastLsn: Lsn | undefined;
  if (anchor && tip) {
    const first = audited[0];
    const isChainStart = selected.length === listed.length || first?.key === listed[0]?.key;
    const start: ChainStart =
      (isChainStart && anchor.sha256 !== '') || !first?.prevSha256
        ? anchor
        : {
            sha256: first.prevSha256,
            lsn: isChainStart ? anchor.lsn : 0n,
            describe: isChainStart ? anchor.describe : `the segment before ${first.key}`,
          };
    const last = audited[audited.length - 1];
    const reachesTip = last?.key === tip.segmentKey || listed.length === 0;
    const chain = auditChain(audited, start, last ? { key: last.key } : null);
    problems.push(...chain.problems);
    const ends = chain.chain;
    firstLsn = ends[0]?.firstLsn;
    lastLsn = ends[ends.length - 1]?.lastLsn;
    chainHead = ends[ends.length - 1]?.identity ?? null;
    // after garbage collection the chain may start at a compacted snapshot anchored at the tip itself
    const tipIsAnchor =
      listed.length === 0 &&
      startSnapshot?.chainAnchor?.segmentKey === tip.segmentKey &&
      startSnapshot.chainAnchor.sha256 === tip.sha256;
    if (reachesTip && !tipIsAnchor) checkTip(tip, listed, computed, headers, problems);
    checkAnchors(usable, audited, problems);
    if (!options.range && chain.complete && reachesTip)
      checkWindow(
        state,
        usable.filter((s) => !damagedSnapshots.has(s.manifestKey)),
        problems,
      );
  }
  progress.phase = 'done';
  report();
  // reads ran in parallel: a stable order (by object, then offset) makes reports comparable
  problems.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : (a.offset ?? -1) - (b.offset ?? -1)));
  const done: VerifyReport = {
    ok: problems.length === 0,
    source,
    range: options.range
      ? { from: options.range.from?.text ?? null, to: options.range.to?.text ?? null }
      : null,
    snapshotLsn: startSnapshot ? formatLsn(parseLsn(startSnapshot.lsn)) : null,
    snapshots: toCheck.length,
    segments: selected.length,
    records,
    bytes: progress.bytesDone,
    firstLsn: firstLsn === undefined ? null : formatLsn(firstLsn),
    lastLsn: lastLsn === undefined ? null : formatLsn(lastLsn),
    chainHead,
    tipSegmentKey: tip?.segmentKey ?? null,
    problems,
  };
  return notDecrypted > 0 ? { ...done, notDecrypted } : done;
}

async function readState(
  catalog: JournalCatalog,
  source: string,
  problems: VerificationProblem[],
): Promise<SourceState> {
  try {
    return await catalog.getSourceState(source);
  } catch (err) {
    const e = toTidemarkError(err);
    if (e.code !== 'CHAIN_BROKEN') throw err;
    problems.push({ kind: 'tip-mismatch', key: tipKey(source), message: e.message });
    const snapshotProblems: string[] = [];
    const snapshots = await catalog.listSnapshots(source, snapshotProblems);
    return {
      name: source,
      snapshots,
      tip: null,
      window: restoreWindow(snapshots, null),
      problems: snapshotProblems,
    };
  }
}

/** The snapshot the tip names; after compaction removed it, the oldest compacted one that continues the chain. */
function chainStartSnapshot(state: SourceState): SnapshotInfo | undefined {
  const { tip, snapshots } = state;
  if (!tip) return snapshots[snapshots.length - 1];
  const start = parseLsn(tip.snapshotLsn);
  return (
    snapshots.find((s) => parseLsn(s.lsn) === start) ??
    snapshots.find((s) => parseLsn(s.lsn) > start && s.chainAnchor !== undefined)
  );
}

function chainStartOf(s: SnapshotInfo): ChainStart {
  // snapshot-anchor.ts: a base snapshot starts the chain, a compacted one continues it
  const anchor = snapshotChainAnchor(s, s.sha256);
  const describe = s.chainAnchor
    ? `compacted snapshot ${s.manifestKey} (chain anchor ${s.chainAnchor.segmentKey})`
    : `snapshot ${s.manifestKey}`;
  return { sha256: anchor.sha256, lsn: anchor.lsn, describe };
}

function snapshotsToCheck(
  usable: readonly SnapshotInfo[],
  start: SnapshotInfo | undefined,
  range: VerificationRange | undefined,
): SnapshotInfo[] {
  const all = start && !usable.includes(start) ? [start, ...usable] : [...usable];
  const from = range?.from;
  if (!range) return all;
  // a range: the snapshot a restore to its start would load
  const before = all.filter((s) =>
    from === undefined
      ? s === all[0]
      : from.kind === 'lsn'
        ? parseLsn(s.lsn) <= from.lsn
        : BigInt(s.snapshotTime) <= from.micros,
  );
  const pick = before[before.length - 1] ?? all[0];
  return pick ? [pick] : [];
}

/** The hash a segment is known by in the chain: computed when it verified, else its footer's claim. */
function identity(bytes: Uint8Array, verified: string | undefined): { identity: string } | undefined {
  if (verified) return { identity: verified };
  if (bytes.byteLength < SEGMENT_FOOTER_LENGTH) return undefined;
  const at = bytes.byteLength - SEGMENT_FOOTER_LENGTH + 20;
  return { identity: Buffer.from(bytes.subarray(at, at + 32)).toString('hex') };
}

/**
 * One problem per cause: a record whose xxh64 fails also fails the segment's xxh64 and
 * SHA-256; those follow from it and are left out. All xxh64 holding while the SHA-256 does
 * not is no accident: someone recomputed the cheap checksums (`forged`).
 */
function collapse(
  key: string,
  raw: readonly { kind: string; offset: number; message: string }[],
): VerificationProblem[] {
  const kinds = new Set(raw.map((p) => p.kind));
  if (kinds.has('sha256-mismatch') && !kinds.has('segment-checksum') && !kinds.has('record-checksum')) {
    const p = raw.find((r) => r.kind === 'sha256-mismatch') as { offset: number };
    return [
      {
        kind: 'forged',
        key,
        offset: p.offset,
        message: `segment ${key} was rewritten: every xxh64 checksum holds but its SHA-256 does not, so someone recomputed the checksums anyone can forge`,
      },
    ];
  }
  const local = kinds.has('record-checksum');
  return raw
    .filter((p) => !(p.kind === 'sha256-mismatch' || (local && p.kind === 'segment-checksum')))
    .map((p) => ({
      kind: segmentProblemKind(p.kind),
      key,
      offset: p.offset,
      message: `segment ${key}: ${p.message}`,
    }));
}

function checkTip(
  tip: TipDocument,
  listed: readonly { key: string }[],
  computed: ReadonlyMap<string, string>,
  headers: ReadonlyMap<string, { firstLsn: Lsn; lastLsn: Lsn; lastCommitTime: bigint }>,
  problems: VerificationProblem[],
): void {
  const key = tipKey(tip.source);
  if (listed[listed.length - 1]?.key !== tip.segmentKey) {
    problems.push({
      kind: 'missing-segment',
      key: tip.segmentKey,
      message: `the tip names ${tip.segmentKey}, which is not in the store`,
    });
    return;
  }
  const sha = computed.get(tip.segmentKey);
  const h = headers.get(tip.segmentKey);
  const wrong: string[] = [];
  if (sha && sha !== tip.sha256)
    wrong.push(`SHA-256 ${tip.sha256} (the segment's is ${sha}: the tip or the segment was replaced)`);
  if (h && parseLsn(tip.firstLsn) !== h.firstLsn)
    wrong.push(`firstLsn ${tip.firstLsn} (the segment's is ${formatLsn(h.firstLsn)})`);
  if (h && parseLsn(tip.lastLsn) !== h.lastLsn)
    wrong.push(`lastLsn ${tip.lastLsn} (the segment's is ${formatLsn(h.lastLsn)})`);
  if (h && BigInt(tip.lastCommitTime) !== h.lastCommitTime)
    wrong.push(`lastCommitTime ${tip.lastCommitTime} (the segment's is ${h.lastCommitTime})`);
  if (wrong.length > 0)
    problems.push({
      kind: 'tip-mismatch',
      key,
      message: `the tip disagrees with ${tip.segmentKey}: it says ${wrong.join('; ')}`,
    });
}

/** A compacted snapshot names the segment it continues from; that segment must hash as it says. */
function checkAnchors(
  snapshots: readonly SnapshotInfo[],
  audited: readonly AuditedSegment[],
  problems: VerificationProblem[],
): void {
  for (const s of snapshots) {
    const a = s.chainAnchor;
    if (!a) continue;
    const seg = audited.find((x) => x.key === a.segmentKey);
    if (seg?.identity && seg.identity !== a.sha256)
      problems.push({
        kind: 'chain-broken',
        key: s.manifestKey,
        message: `compacted snapshot ${s.manifestKey} continues from ${a.segmentKey} with SHA-256 ${a.sha256}, but that segment hashes to ${seg.identity}`,
      });
  }
}

/** What GET /v1/sources claims, against the window the verified snapshots and chain support. */
function checkWindow(
  state: SourceState,
  verified: readonly SnapshotInfo[],
  problems: VerificationProblem[],
): void {
  const claimed = summarize(state);
  const w = restoreWindow(verified, state.tip);
  const supported = {
    earliestRestorableTime: w ? formatTimestampMicros(w.earliestTime) : null,
    latestRestorableTime: w ? formatTimestampMicros(w.latestTime) : null,
    latestLsn: w ? formatLsn(w.latestLsn) : null,
  };
  const differ = (['earliestRestorableTime', 'latestRestorableTime', 'latestLsn'] as const)
    .filter((f) => claimed[f] !== supported[f])
    .map(
      (f) => `${f} ${claimed[f] ?? 'null'} where the verified journal supports ${supported[f] ?? 'nothing'}`,
    );
  if (differ.length > 0)
    problems.push({
      kind: 'window-mismatch',
      key: state.name,
      message: `GET /v1/sources claims ${differ.join('; ')}`,
    });
}
