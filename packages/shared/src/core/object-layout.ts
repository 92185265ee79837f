import { type Lsn, lsnToHex16, parseLsn } from './lsn.js';

/** Where everything lives in an object store; see docs/architecture.md. */
const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function isValidSourceName(name: string): boolean {
  return SOURCE_NAME.test(name);
}

export const sourceRegistryPrefix = '_sources/';
export const sourceRegistryKey = (source: string): string => `${sourceRegistryPrefix}${source}.json`;
export const tipKey = (source: string): string => `${source}/tip`;
export const segmentsPrefix = (source: string): string => `${source}/segments/`;
export const snapshotsPrefix = (source: string): string => `${source}/base/`;
export const snapshotPrefix = (source: string, lsn: Lsn): string => `${source}/base/${lsnToHex16(lsn)}/`;
export const snapshotManifestKey = (source: string, lsn: Lsn): string =>
  `${snapshotPrefix(source, lsn)}manifest.json`;
export const snapshotTableKey = (source: string, lsn: Lsn, index: number): string =>
  `${snapshotPrefix(source, lsn)}tables/${String(index).padStart(4, '0')}.copy`;

/** `<source>/segments/yyyy/mm/dd/hh/<first>-<last>.seg`, partitioned by `partitionTimeMicros` (UTC hour). */
export function segmentKey(source: string, partitionTimeMicros: bigint, firstLsn: Lsn, lastLsn: Lsn): string {
  const d = new Date(Number(partitionTimeMicros / 1000n));
  const p2 = (n: number) => String(n).padStart(2, '0');
  const hour = `${d.getUTCFullYear()}/${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCHours())}`;
  return `${segmentsPrefix(source)}${hour}/${lsnToHex16(firstLsn)}-${lsnToHex16(lastLsn)}.seg`;
}

export interface ParsedSegmentKey {
  readonly source: string;
  /** start of the UTC hour the segment is filed under, µs since the Unix epoch */
  readonly partitionHourMicros: bigint;
  readonly firstLsn: Lsn;
  readonly lastLsn: Lsn;
}

const SEGMENT_KEY =
  /^([a-z0-9][a-z0-9_-]{0,62})\/segments\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/([0-9A-F]{16})-([0-9A-F]{16})\.seg$/;

export function parseSegmentKey(key: string): ParsedSegmentKey | undefined {
  const m = SEGMENT_KEY.exec(key);
  if (!m) return undefined;
  const [, source, y, mo, d, h, first, last] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h));
  return {
    source,
    partitionHourMicros: BigInt(ms) * 1000n,
    firstLsn: parseLsn(first),
    lastLsn: parseLsn(last),
  };
}

/** The journal's tip: the newest durable segment. Written after the segment is durable. */
export interface TipDocument {
  readonly formatVersion: 1;
  readonly source: string;
  readonly segmentKey: string;
  /** `X/Y` */
  readonly firstLsn: string;
  readonly lastLsn: string;
  /** µs since the Unix epoch, decimal string */
  readonly lastCommitTime: string;
  /** hex SHA-256 of the segment: the chain head */
  readonly sha256: string;
  /** `X/Y` of the base snapshot the chain starts at */
  readonly snapshotLsn: string;
  readonly updatedAt: string;
}
