import { isLsnText, parseLsn, type SnapshotManifest, snapshotPrefix, TidemarkError } from '@tidemark/shared';
import { checkSnapshotKind, checkTableEncoding } from './manifest-kind-validator.js';
import { sequenceProblems } from './manifest-sequences.js';

/**
 * Structural check of a snapshot's `manifest.json` before anything acts on it. The
 * manifest decides which objects we read and which DDL we run, so a damaged or foreign
 * manifest must be refused up front (SNAPSHOT_CORRUPT naming the key), not half-executed.
 * Pure: takes the parsed JSON value.
 */
const HEX64 = /^[0-9a-f]{64}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const DECIMAL = /^-?\d+$/;
const REPLICA_IDENTITIES = new Set(['default', 'nothing', 'full', 'index']);

export function validateManifest(value: unknown, key: string, expectedSource?: string): SnapshotManifest {
  const problems: string[] = [];
  const fail = (what: string): void => {
    problems.push(what);
  };
  if (!isObject(value)) {
    throw corrupt(key, ['not a JSON object']);
  }
  if (value.formatVersion !== 1) fail(`formatVersion ${JSON.stringify(value.formatVersion)} is not 1`);
  if (typeof value.source !== 'string') fail('source is missing');
  else if (expectedSource !== undefined && value.source !== expectedSource)
    fail(`source is ${JSON.stringify(value.source)}, expected ${JSON.stringify(expectedSource)}`);
  if (typeof value.lsn !== 'string' || !isLsnText(value.lsn)) fail('lsn is not an LSN');
  if (typeof value.snapshotTime !== 'string' || !DECIMAL.test(value.snapshotTime))
    fail('snapshotTime is not a decimal µs timestamp');
  if (typeof value.createdAt !== 'string') fail('createdAt is missing');
  if (typeof value.serverVersion !== 'number') fail('serverVersion is missing');
  if (!Array.isArray(value.tables)) {
    fail('tables is not an array');
    throw corrupt(key, problems);
  }
  // Data objects must live under this snapshot's own prefix: a manifest must not make the
  // restore read (and load) objects of another snapshot or source.
  const dataPrefix =
    typeof value.source === 'string' && typeof value.lsn === 'string' && isLsnText(value.lsn)
      ? snapshotPrefix(value.source, parseLsn(value.lsn))
      : undefined;
  const names = new Set<string>();
  const kinds = new Map<string, unknown>();
  value.tables.forEach((t: unknown, i: number) => {
    const at = `tables[${i}]`;
    if (!isObject(t)) {
      fail(`${at} is not an object`);
      return;
    }
    if (typeof t.schema !== 'string' || t.schema === '') fail(`${at}.schema is missing`);
    if (typeof t.table !== 'string' || t.table === '') fail(`${at}.table is missing`);
    const name = JSON.stringify([t.schema, t.table]);
    if (names.has(name)) fail(`${at} repeats table ${String(t.schema)}.${String(t.table)}`);
    names.add(name);
    kinds.set(name, t.kind);
    if (typeof t.oid !== 'number') fail(`${at}.oid is missing`);
    if (t.kind !== 'table' && t.kind !== 'partitioned') fail(`${at}.kind is neither table nor partitioned`);
    if (typeof t.replicaIdentity !== 'string' || !REPLICA_IDENTITIES.has(t.replicaIdentity))
      fail(`${at}.replicaIdentity is invalid`);
    if (!Array.isArray(t.columns) || t.columns.length === 0) fail(`${at}.columns is empty`);
    else {
      const cols = new Set<string>();
      t.columns.forEach((c: unknown, j: number) => {
        const cat = `${at}.columns[${j}]`;
        if (!isObject(c) || typeof c.name !== 'string' || c.name === '') {
          fail(`${cat}.name is missing`);
          return;
        }
        if (cols.has(c.name)) fail(`${cat} repeats column ${c.name}`);
        cols.add(c.name);
        if (typeof c.type !== 'string' || c.type === '') fail(`${cat}.type is missing`);
        if (typeof c.notNull !== 'boolean') fail(`${cat}.notNull is missing`);
        if (c.default !== null && typeof c.default !== 'string') fail(`${cat}.default is invalid`);
      });
      if (t.primaryKey !== null) {
        if (!Array.isArray(t.primaryKey) || t.primaryKey.length === 0) fail(`${at}.primaryKey is invalid`);
        else
          for (const k of t.primaryKey) if (!cols.has(k)) fail(`${at}.primaryKey names unknown column ${k}`);
      }
    }
    if (t.kind === 'partitioned' && (typeof t.partitionKey !== 'string' || t.partitionKey === ''))
      fail(`${at} is partitioned but has no partitionKey`);
    if (t.partitionOf !== null) {
      const p = t.partitionOf;
      if (
        !isObject(p) ||
        typeof p.schema !== 'string' ||
        typeof p.table !== 'string' ||
        typeof p.bound !== 'string'
      )
        fail(`${at}.partitionOf is invalid`);
    }
    if (t.dataKey !== null) {
      if (typeof t.dataKey !== 'string') fail(`${at}.dataKey is invalid`);
      else if (dataPrefix !== undefined && !t.dataKey.startsWith(dataPrefix))
        fail(`${at}.dataKey ${t.dataKey} is outside the snapshot (${dataPrefix})`);
      if (t.kind === 'partitioned') fail(`${at} is partitioned but has data`);
      if (typeof t.sha256 !== 'string' || !HEX64.test(t.sha256)) fail(`${at}.sha256 is not a hex SHA-256`);
      if (t.xxh64 !== null && (typeof t.xxh64 !== 'string' || !HEX16.test(t.xxh64)))
        fail(`${at}.xxh64 is invalid`);
    }
    if (typeof t.rows !== 'number' || typeof t.bytes !== 'number') fail(`${at}.rows/bytes are missing`);
    if (t.indexes !== undefined && !validIndexes(t.indexes)) fail(`${at}.indexes is invalid`);
    checkTableEncoding(t, at, fail);
  });
  checkSnapshotKind(value, fail);
  // every parent a partition names must be in the manifest and be partitioned
  value.tables.forEach((t: unknown, i: number) => {
    if (!isObject(t) || !isObject(t.partitionOf)) return;
    const parent = JSON.stringify([t.partitionOf.schema, t.partitionOf.table]);
    if (kinds.get(parent) !== 'partitioned')
      fail(
        `tables[${i}] is a partition of ${String(t.partitionOf.schema)}.${String(t.partitionOf.table)}, which is not a partitioned table of the snapshot`,
      );
  });
  problems.push(...sequenceProblems(value.sequences));
  if (problems.length > 0) throw corrupt(key, problems);
  return value as unknown as SnapshotManifest;
}

/** Parses manifest bytes (UTF-8 JSON) and validates them. */
export function parseManifest(bytes: Uint8Array, key: string, expectedSource?: string): SnapshotManifest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new TidemarkError('SNAPSHOT_CORRUPT', `snapshot manifest ${key} is not valid UTF-8 JSON`, {
      cause: err,
      details: { key },
    });
  }
  return validateManifest(value, key, expectedSource);
}

function corrupt(key: string, problems: string[]): TidemarkError {
  const shown = problems.slice(0, 5).join('; ');
  const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : '';
  return new TidemarkError('SNAPSHOT_CORRUPT', `snapshot manifest ${key} is malformed: ${shown}${more}`, {
    details: { key, problems },
  });
}

/** optional (older manifests have none): `[{ name, definition }]` */
function validIndexes(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.every((x: unknown) => isObject(x) && typeof x.name === 'string' && typeof x.definition === 'string')
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
