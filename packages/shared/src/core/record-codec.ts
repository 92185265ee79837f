import type { Change, TransactionRecord } from './change-model.js';
import { TidemarkError } from './errors.js';
import { i64ToBytes, u64ToBytes } from './int64-bytes.js';
import { pack, unpack } from './msgpack.js';
import { decodeRecordFields } from './record-decoder.js';
import { IDENTITIES, OLD_KINDS, OP, RECORD_FORMAT } from './record-format.js';
import { ShapeError } from './shape-check.js';

/** Journal records as bytes; the layout is described in record-format.ts. */
export function encodeRecord(tx: TransactionRecord): Uint8Array {
  const relations = tx.relations.map((r) => {
    const cols: unknown[] = [];
    for (const c of r.columns) cols.push(c.name, c.typeOid, c.typeMod, c.key);
    return [r.oid, r.schema, r.table, codeOf(IDENTITIES, r.replicaIdentity, 'replica identity'), cols];
  });
  const changes = tx.changes.map((c) => encodeChange(c, tx.relations.length));
  return pack([
    RECORD_FORMAT,
    tx.source,
    tx.xid,
    u64ToBytes(tx.commitLsn),
    u64ToBytes(tx.endLsn),
    i64ToBytes(tx.commitTime),
    relations,
    changes,
  ]);
}

function encodeChange(c: Change, relationCount: number): unknown[] {
  const checkRel = (rel: number) => {
    if (!Number.isInteger(rel) || rel < 0 || rel >= relationCount) {
      throw new TidemarkError(
        'INTERNAL',
        `cannot encode a change for relation index ${rel}: the record has ${relationCount} relations`,
      );
    }
  };
  switch (c.op) {
    case 'insert':
      checkRel(c.rel);
      return [OP.insert, c.rel, c.new.values, c.new.unchanged ?? null];
    case 'update':
      checkRel(c.rel);
      return [
        OP.update,
        c.rel,
        c.new.values,
        c.new.unchanged ?? null,
        codeOf(OLD_KINDS, c.oldKind, 'old tuple kind'),
        c.old?.values ?? null,
        c.old?.unchanged ?? null,
      ];
    case 'delete':
      checkRel(c.rel);
      return [
        OP.delete,
        c.rel,
        c.old.values,
        c.old.unchanged ?? null,
        codeOf(OLD_KINDS, c.oldKind, 'old tuple kind'),
      ];
    case 'truncate':
      c.rels.forEach(checkRel);
      return [OP.truncate, c.rels, c.cascade, c.restartIdentity];
    case 'message':
      return [OP.message, c.prefix, c.content, c.transactional];
  }
}

/** Decodes and validates one record; anything malformed is RECORD_CORRUPT. */
export function decodeRecord(bytesIn: Uint8Array): TransactionRecord {
  let raw: unknown;
  try {
    raw = unpack(bytesIn);
  } catch (err) {
    throw corrupt(`it is not valid msgpack (${err instanceof Error ? err.message : String(err)})`, err);
  }
  try {
    return decodeRecordFields(raw);
  } catch (err) {
    if (err instanceof ShapeError) throw corrupt(err.message, err);
    throw err;
  }
}

/** the position of `value` in `codes`; a value decodeRecord would not accept is a bug upstream */
function codeOf<T>(codes: readonly T[], value: T, what: string): number {
  const code = codes.indexOf(value);
  if (code < 0) throw new TidemarkError('INTERNAL', `cannot encode ${what} ${JSON.stringify(value)}`);
  return code;
}

function corrupt(what: string, cause: unknown): TidemarkError {
  return new TidemarkError('RECORD_CORRUPT', `journal record cannot be decoded: ${what}`, { cause });
}
