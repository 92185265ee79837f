import { TidemarkError } from './errors.js';
import { formatLsn, type Lsn, parseLsn } from './lsn.js';
import { isValidSourceName } from './object-layout.js';

/**
 * A lease: a reader's promise to the garbage collector that it is using the journal from
 * a snapshot on. Stored at `_leases/<source>/<holder>.json`; written durably before the
 * reader plans, renewed while it runs, deleted when it ends. The collector keeps every
 * object a live lease needs (docs/architecture.md, "Retention and GC"). Pure.
 */
export interface LeaseDocument {
  readonly formatVersion: 1;
  readonly source: string;
  /** restore id (or another reader's id): `[A-Za-z0-9_-]{1,100}` */
  readonly holder: string;
  /** `X/Y` of the snapshot the reader uses; null while it has not planned yet: then it pins everything */
  readonly snapshotLsn: string | null;
  /** ISO-8601; renewed well before */
  readonly expiresAt: string;
  readonly renewedAt: string;
}

const HOLDER = /^[A-Za-z0-9_-]{1,100}$/;

export const leasesPrefix = (source: string): string => `_leases/${source}/`;

export function leaseKey(source: string, holder: string): string {
  if (!HOLDER.test(holder))
    throw new Error(`unreachable: lease holder ${JSON.stringify(holder)} is not a plain id`);
  return `${leasesPrefix(source)}${holder}.json`;
}

export function encodeLease(lease: {
  source: string;
  holder: string;
  snapshotLsn: Lsn | null;
  expiresAtMs: number;
  nowMs: number;
}): Uint8Array {
  const doc: LeaseDocument = {
    formatVersion: 1,
    source: lease.source,
    holder: lease.holder,
    snapshotLsn: lease.snapshotLsn === null ? null : formatLsn(lease.snapshotLsn),
    expiresAt: new Date(lease.expiresAtMs).toISOString(),
    renewedAt: new Date(lease.nowMs).toISOString(),
  };
  return new TextEncoder().encode(JSON.stringify(doc));
}

/** A lease as the collector reads it. */
export interface JournalLease {
  readonly key: string;
  readonly holder: string;
  readonly snapshotLsn: Lsn | null;
  readonly expiresAtMs: number;
}

/**
 * Parses a stored lease. A lease that does not parse is treated by the caller as one that
 * pins everything (never as absent): a garbled lease must not let the collector delete.
 */
export function parseLease(bytes: Uint8Array, key: string, source: string): JournalLease {
  const bad = (why: string) =>
    new TidemarkError('CONFLICT', `lease ${key} is unreadable (${why}); delete it if no restore holds it`, {
      details: { key },
    });
  let doc: Partial<LeaseDocument>;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LeaseDocument>;
  } catch {
    throw bad('not JSON');
  }
  if (doc.formatVersion !== 1 || doc.source !== source || !isValidSourceName(source))
    throw bad('wrong format or source');
  if (typeof doc.holder !== 'string' || !HOLDER.test(doc.holder)) throw bad('bad holder');
  const expiresAtMs = typeof doc.expiresAt === 'string' ? Date.parse(doc.expiresAt) : Number.NaN;
  if (!Number.isFinite(expiresAtMs)) throw bad('bad expiresAt');
  let snapshotLsn: Lsn | null = null;
  if (doc.snapshotLsn !== null) {
    try {
      snapshotLsn = parseLsn(String(doc.snapshotLsn));
    } catch {
      throw bad('bad snapshotLsn');
    }
  }
  return { key, holder: doc.holder, snapshotLsn, expiresAtMs };
}

/**
 * What the live leases protect: nothing, everything (a lease that has not planned yet, or
 * an unreadable one), or every snapshot at or after `floor` and every segment after it.
 * A lease counts as live until `graceMs` after its expiry: a renewal that is late (a slow
 * store, a busy process) must not look like a dead reader.
 */
export type LeaseFloor =
  | { readonly kind: 'none' }
  | { readonly kind: 'all'; readonly holders: readonly string[] }
  | { readonly kind: 'from'; readonly floor: Lsn; readonly holders: readonly string[] };

export function leaseFloor(
  leases: readonly (JournalLease | { readonly key: string; readonly unreadable: true })[],
  nowMs: number,
  graceMs: number,
): LeaseFloor {
  let floor: Lsn | undefined;
  const holders: string[] = [];
  let all = false;
  for (const l of leases) {
    if ('unreadable' in l) {
      all = true;
      holders.push(l.key);
      continue;
    }
    if (l.expiresAtMs + graceMs < nowMs) continue;
    holders.push(l.holder);
    if (l.snapshotLsn === null) all = true;
    else if (floor === undefined || l.snapshotLsn < floor) floor = l.snapshotLsn;
  }
  if (all) return { kind: 'all', holders };
  if (floor === undefined) return { kind: 'none' };
  return { kind: 'from', floor, holders };
}
