import {
  createSha256,
  formatLsn,
  initChecksums,
  type KeyProvider,
  type Lsn,
  type ObjectStore,
  parseLsn,
  type SegmentHeader,
  sha256Hex,
  snapshotManifestKey,
  toTidemarkError,
  verifyChain,
  verifySegmentWithKeys,
} from '@tidemark/shared';
import type { JournalCatalog } from './journal-catalog.js';
import { parseManifest } from './manifest-validator.js';

/**
 * The auditor's check of one source's journal: the base snapshot the chain starts at
 * (manifest structure, and each table's data against its SHA-256 unless
 * `checkSnapshotData` is false), every segment up to the tip (all checksums), the hash
 * chain from the manifest's SHA-256 to the tip, and the tip itself. Unlike a restore it
 * does not stop at the first problem: it reports them all, so one report tells the whole
 * state. Reproducible by anyone with read access: it only reads.
 *
 * Encrypted segments: every checksum, the SHA-256 chain and the index are checked on the
 * stored bytes, so an auditor needs no key. With `keys`, their blocks are also decrypted
 * and every record's xxh64 checked; `notDecrypted` counts those that were not.
 */
export interface VerifyProblem {
  readonly key: string;
  readonly offset?: number;
  readonly kind: string;
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly source: string;
  readonly snapshotLsn: string | null;
  /** segments checked (up to the tip) */
  readonly segments: number;
  /** records in the segments that passed verification */
  readonly records: number;
  /** commit LSN range covered by the verified segments (`X/Y`) */
  readonly firstLsn: string | null;
  readonly lastLsn: string | null;
  readonly tipSegmentKey: string | null;
  readonly problems: readonly VerifyProblem[];
  /** encrypted segments whose records could not be checked for lack of a key (only when > 0) */
  readonly notDecrypted?: number;
}

export interface VerifyOptions {
  readonly checkSnapshotData?: boolean;
  /** decrypts encrypted segments to check their records too */
  readonly keys?: KeyProvider;
}

export async function verifyJournal(
  store: ObjectStore,
  catalog: JournalCatalog,
  source: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  await initChecksums();
  await catalog.requireSource(source);
  const problems: VerifyProblem[] = [];
  const tip = await catalog.readTip(source).catch((err: unknown) => {
    const e = toTidemarkError(err);
    problems.push({ key: String(e.details.key ?? source), kind: 'tip-invalid', message: e.message });
    return null;
  });
  // the chain starts at the tip's snapshot; before the first segment, at the newest one
  let snapshotLsn: Lsn | undefined = tip ? parseLsn(tip.snapshotLsn) : undefined;
  if (snapshotLsn === undefined) {
    const all = await catalog.listSnapshots(source);
    const newest = all[all.length - 1];
    if (newest) snapshotLsn = parseLsn(newest.lsn);
  }
  if (snapshotLsn === undefined) {
    problems.push({ key: source, kind: 'no-snapshot', message: `source ${source} has no base snapshot` });
    return report(source, undefined, tip?.segmentKey ?? null, [], 0, 0, problems);
  }
  const manifestSha = await verifySnapshot(store, source, snapshotLsn, options, problems);

  const keys = tip ? await catalog.listSegmentKeys(source, { afterLsn: snapshotLsn, tip }) : [];
  const links: { key: string; header: SegmentHeader; sha256: string }[] = [];
  let records = 0;
  let notDecrypted = 0;
  // one segment in memory at a time, the next one already on its way
  let next = keys[0] === undefined ? undefined : fetch(store, keys[0]);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const got = await (next as Promise<Uint8Array | Error>);
    next = keys[i + 1] === undefined ? undefined : fetch(store, keys[i + 1] as string);
    if (got instanceof Error) {
      problems.push({ key, kind: 'missing', message: `segment ${key} cannot be read: ${got.message}` });
      continue;
    }
    // verifySegment reports every problem of the segment, not only the first
    const v = await verifySegmentWithKeys(got, options.keys);
    if (v.sealing && !v.sealing.contentVerified && v.ok) notDecrypted++;
    if (v.ok && v.header && v.sha256) {
      links.push({ key, header: v.header, sha256: v.sha256 });
      records += v.header.recordCount;
    } else {
      for (const p of v.problems) problems.push({ key, offset: p.offset, kind: p.kind, message: p.message });
    }
  }
  if (manifestSha !== undefined) {
    for (const p of verifyChain({ sha256: manifestSha, lsn: snapshotLsn }, links))
      problems.push(chainProblem(p));
  }
  if (tip) {
    const last = links[links.length - 1];
    if (keys[keys.length - 1] !== tip.segmentKey)
      problems.push({
        key: tip.segmentKey,
        kind: 'tip-missing',
        message: `the tip names ${tip.segmentKey}, which is not in the store`,
      });
    else if (last && last.key === tip.segmentKey && last.sha256 !== tip.sha256)
      problems.push({
        key: tip.segmentKey,
        kind: 'tip-hash',
        message: `the tip says ${tip.segmentKey} has SHA-256 ${tip.sha256}, it has ${last.sha256}`,
      });
    else if (last && last.key === tip.segmentKey && last.header.lastLsn !== parseLsn(tip.lastLsn))
      problems.push({
        key: tip.segmentKey,
        kind: 'tip-lsn',
        message: `the tip's lastLsn ${tip.lastLsn} is not the segment's`,
      });
  }
  const done = report(source, snapshotLsn, tip?.segmentKey ?? null, links, keys.length, records, problems);
  return notDecrypted > 0 ? { ...done, notDecrypted } : done;
}

async function verifySnapshot(
  store: ObjectStore,
  source: string,
  lsn: Lsn,
  options: VerifyOptions,
  problems: VerifyProblem[],
): Promise<string | undefined> {
  const key = snapshotManifestKey(source, lsn);
  let bytes: Uint8Array;
  try {
    bytes = await store.get(key);
  } catch (err) {
    problems.push({
      key,
      kind: 'missing',
      message: `snapshot manifest ${key} cannot be read: ${toTidemarkError(err).message}`,
    });
    return undefined;
  }
  const sha = sha256Hex(bytes);
  try {
    const manifest = parseManifest(bytes, key, source);
    if (options.checkSnapshotData === false) return sha;
    for (const t of manifest.tables) {
      if (t.dataKey === null) continue;
      try {
        const hash = createSha256();
        for await (const chunk of await store.getStream(t.dataKey)) hash.update(chunk);
        const got = hash.digestHex();
        if (got !== t.sha256)
          problems.push({
            key: t.dataKey,
            kind: 'data-checksum',
            message: `snapshot data ${t.dataKey} has SHA-256 ${got}, the manifest says ${t.sha256}`,
          });
      } catch (err) {
        problems.push({
          key: t.dataKey,
          kind: 'missing',
          message: `snapshot data ${t.dataKey} cannot be read: ${toTidemarkError(err).message}`,
        });
      }
    }
  } catch (err) {
    problems.push({ key, kind: 'manifest-invalid', message: toTidemarkError(err).message });
  }
  // the chain is checked against the bytes as they are, even when they do not parse
  return sha;
}

function fetch(store: ObjectStore, key: string): Promise<Uint8Array | Error> {
  return store.get(key).catch((err: unknown) => toTidemarkError(err));
}

function chainProblem(p: { key: string; kind: string; message: string }): VerifyProblem {
  return { key: p.key, kind: p.kind, message: p.message };
}

function report(
  source: string,
  snapshotLsn: Lsn | undefined,
  tipSegmentKey: string | null,
  links: readonly { header: SegmentHeader }[],
  segments: number,
  records: number,
  problems: VerifyProblem[],
): VerifyReport {
  const first = links[0];
  const last = links[links.length - 1];
  return {
    ok: problems.length === 0,
    source,
    snapshotLsn: snapshotLsn === undefined ? null : formatLsn(snapshotLsn),
    segments: segments,
    records,
    firstLsn: first ? formatLsn(first.header.firstLsn) : null,
    lastLsn: last ? formatLsn(last.header.lastLsn) : null,
    tipSegmentKey,
    problems,
  };
}
