import type { Change, ColumnInfo, RelationInfo, TransactionRecord, TupleData } from './change-model.js';
import { bytesToI64, bytesToU64 } from './int64-bytes.js';
import { IDENTITIES, OLD_KINDS, OP, RECORD_FORMAT } from './record-format.js';
import { array, bool, bytes, int, ShapeError, str, tuple } from './shape-check.js';

/**
 * Turns an unpacked record (record-format.ts) into a TransactionRecord, checking every
 * field on the way: a record that decodes is well-formed. Throws ShapeError naming the
 * field (`changes[3].rel`).
 */
export function decodeRecordFields(raw: unknown): TransactionRecord {
  const f = tuple(raw, 8, 'record');
  if (f[0] !== RECORD_FORMAT)
    throw new ShapeError(`unknown record format ${String(f[0])} (this version reads ${RECORD_FORMAT})`);
  const relations = array(f[6], 'relations').map((r, i) => decodeRelation(r, `relations[${i}]`));
  const changes = array(f[7], 'changes').map((c, i) => decodeChange(c, relations.length, `changes[${i}]`));
  return {
    source: str(f[1], 'source'),
    xid: int(f[2], 'xid'),
    commitLsn: need(bytesToU64(f[3]), 'commitLsn'),
    endLsn: need(bytesToU64(f[4]), 'endLsn'),
    commitTime: need(bytesToI64(f[5]), 'commitTime'),
    relations,
    changes,
  };
}

function decodeRelation(raw: unknown, at: string): RelationInfo {
  const f = tuple(raw, 5, at);
  const identity = IDENTITIES[int(f[3], `${at}.replicaIdentity`)];
  if (identity === undefined) throw new ShapeError(`${at}.replicaIdentity is out of range`);
  const flat = array(f[4], `${at}.columns`);
  if (flat.length % 4 !== 0)
    throw new ShapeError(`${at}.columns has ${flat.length} fields, not a multiple of 4`);
  const columns: ColumnInfo[] = [];
  for (let i = 0; i < flat.length; i += 4) {
    const c = `${at}.columns[${i / 4}]`;
    columns.push({
      name: str(flat[i], `${c}.name`),
      typeOid: int(flat[i + 1], `${c}.typeOid`),
      typeMod: int(flat[i + 2], `${c}.typeMod`),
      key: bool(flat[i + 3], `${c}.key`),
    });
  }
  return {
    oid: int(f[0], `${at}.oid`),
    schema: str(f[1], `${at}.schema`),
    table: str(f[2], `${at}.table`),
    replicaIdentity: identity,
    columns,
  };
}

function decodeChange(raw: unknown, relationCount: number, at: string): Change {
  const f = array(raw, at);
  const rel = (v: unknown, where: string) => {
    const r = int(v, where);
    if (r < 0 || r >= relationCount)
      throw new ShapeError(`${where} = ${r} but the record has ${relationCount} relations`);
    return r;
  };
  switch (f[0]) {
    case OP.insert:
      expectLength(f, 4, at);
      return { op: 'insert', rel: rel(f[1], `${at}.rel`), new: decodeTuple(f[2], f[3], `${at}.new`) };
    case OP.update: {
      expectLength(f, 7, at);
      const change = {
        op: 'update' as const,
        rel: rel(f[1], `${at}.rel`),
        new: decodeTuple(f[2], f[3], `${at}.new`),
      };
      const kind = oldKind(f[4], `${at}.oldKind`);
      const old = f[5] === null ? undefined : decodeTuple(f[5], f[6], `${at}.old`);
      if (old === undefined && f[6] !== null)
        throw new ShapeError(`${at} has unchanged positions but no old tuple`);
      return {
        ...change,
        ...(old === undefined ? {} : { old }),
        ...(kind === undefined ? {} : { oldKind: kind }),
      };
    }
    case OP.delete: {
      expectLength(f, 5, at);
      const kind = oldKind(f[4], `${at}.oldKind`);
      if (kind === undefined) throw new ShapeError(`${at}.oldKind is missing`);
      return {
        op: 'delete',
        rel: rel(f[1], `${at}.rel`),
        old: decodeTuple(f[2], f[3], `${at}.old`),
        oldKind: kind,
      };
    }
    case OP.truncate:
      expectLength(f, 4, at);
      return {
        op: 'truncate',
        rels: array(f[1], `${at}.rels`).map((r, i) => rel(r, `${at}.rels[${i}]`)),
        cascade: bool(f[2], `${at}.cascade`),
        restartIdentity: bool(f[3], `${at}.restartIdentity`),
      };
    case OP.message:
      expectLength(f, 4, at);
      return {
        op: 'message',
        prefix: str(f[1], `${at}.prefix`),
        // copied: msgpackr returns a view into the whole record buffer
        content: new Uint8Array(bytes(f[2], `${at}.content`)),
        transactional: bool(f[3], `${at}.transactional`),
      };
    default:
      throw new ShapeError(`${at} has unknown operation ${String(f[0])}`);
  }
}

function decodeTuple(rawValues: unknown, rawUnchanged: unknown, at: string): TupleData {
  const values = array(rawValues, `${at}.values`);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && typeof v !== 'string')
      throw new ShapeError(`${at}.values[${i}] is neither text nor NULL`);
  }
  if (rawUnchanged === null) return { values: values as (string | null)[] };
  const unchanged = array(rawUnchanged, `${at}.unchanged`);
  for (let i = 0; i < unchanged.length; i++) {
    const p = int(unchanged[i], `${at}.unchanged[${i}]`);
    if (p < 0 || p >= values.length)
      throw new ShapeError(`${at}.unchanged[${i}] = ${p} is not a column position`);
  }
  return { values: values as (string | null)[], unchanged: unchanged as number[] };
}

function oldKind(v: unknown, at: string): 'key' | 'full' | undefined {
  const i = int(v, at);
  if (i < 0 || i >= OLD_KINDS.length) throw new ShapeError(`${at} is out of range`);
  return OLD_KINDS[i];
}

function expectLength(f: unknown[], n: number, at: string): void {
  if (f.length !== n) throw new ShapeError(`${at} has ${f.length} fields, expected ${n}`);
}

function need<T>(v: T | undefined, at: string): T {
  if (v === undefined) throw new ShapeError(`${at} is not an 8-byte binary`);
  return v;
}
