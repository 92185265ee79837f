import type { TupleData } from '@tidemark/shared';
import { hex, PgoutputReader as Reader } from './pgoutput-reader.js';

/**
 * Decoder for pgoutput protocol version 1 messages (PostgreSQL docs, "Logical Replication
 * Message Formats"). Pure: bytes in, plain objects out.
 *
 * We own this decoder instead of using pg-logical-replication's: that one runs values through
 * node-postgres type parsers (timestamps lose microseconds, jsonb becomes an object), while
 * Tidemark must keep every value exactly as the server's text output. So values here are
 * never parsed: a column is its UTF-8 text, SQL NULL, or "unchanged TOAST".
 *
 * Integers are big-endian. LSNs are unsigned 64-bit, timestamps signed 64-bit µs since
 * 2000-01-01; both stay bigint.
 */

export type ReplicaIdentityChar = 'd' | 'n' | 'f' | 'i';

export interface RelationColumn {
  /** bit 0: part of the replica identity key */
  readonly flags: number;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
}

export type PgoutputMessage =
  | { readonly tag: 'begin'; readonly finalLsn: bigint; readonly commitTime: bigint; readonly xid: number }
  | {
      readonly tag: 'commit';
      readonly flags: number;
      readonly commitLsn: bigint;
      readonly endLsn: bigint;
      readonly commitTime: bigint;
    }
  | { readonly tag: 'origin'; readonly originLsn: bigint; readonly name: string }
  | {
      readonly tag: 'relation';
      readonly oid: number;
      /** empty for pg_catalog, as the server sends it */
      readonly schema: string;
      readonly table: string;
      readonly replicaIdentity: ReplicaIdentityChar;
      readonly columns: readonly RelationColumn[];
    }
  | { readonly tag: 'type'; readonly oid: number; readonly schema: string; readonly name: string }
  | { readonly tag: 'insert'; readonly relationOid: number; readonly new: TupleData }
  | {
      readonly tag: 'update';
      readonly relationOid: number;
      /** 'K': old key (non-key columns null); 'O': whole old row (REPLICA IDENTITY FULL) */
      readonly old?: TupleData;
      readonly oldKind?: 'key' | 'full';
      readonly new: TupleData;
    }
  | {
      readonly tag: 'delete';
      readonly relationOid: number;
      readonly old: TupleData;
      readonly oldKind: 'key' | 'full';
    }
  | {
      readonly tag: 'truncate';
      readonly cascade: boolean;
      readonly restartIdentity: boolean;
      readonly relationOids: readonly number[];
    }
  | {
      readonly tag: 'message';
      readonly transactional: boolean;
      readonly lsn: bigint;
      readonly prefix: string;
      /** a copy: never a view into the connection's receive buffer */
      readonly content: Uint8Array;
    };

const TRUNCATE_CASCADE = 1;
const TRUNCATE_RESTART_IDENTITY = 2;
const MESSAGE_TRANSACTIONAL = 1;

export function decodePgoutput(bytes: Uint8Array): PgoutputMessage {
  const r = new Reader(bytes);
  const tag = r.byte();
  switch (tag) {
    case 0x42 /* B */:
      return { tag: 'begin', finalLsn: r.u64(), commitTime: r.i64(), xid: r.u32() };
    case 0x43 /* C */:
      return { tag: 'commit', flags: r.byte(), commitLsn: r.u64(), endLsn: r.u64(), commitTime: r.i64() };
    case 0x4f /* O */:
      return { tag: 'origin', originLsn: r.u64(), name: r.cstring() };
    case 0x52 /* R */:
      return decodeRelation(r);
    case 0x59 /* Y */:
      return { tag: 'type', oid: r.u32(), schema: r.cstring(), name: r.cstring() };
    case 0x49 /* I */:
      {
        const relationOid = r.u32();
        r.expect(0x4e /* N */, 'insert');
        return { tag: 'insert', relationOid, new: decodeTuple(r) };
      }
    case 0x55 /* U */:
      return decodeUpdate(r);
    case 0x44 /* D */:
      {
        const relationOid = r.u32();
        const kind = r.byte();
        if (kind !== 0x4b && kind !== 0x4f) throw r.error(`delete: expected 'K' or 'O', got 0x${hex(kind)}`);
        return { tag: 'delete', relationOid, oldKind: kind === 0x4b ? 'key' : 'full', old: decodeTuple(r) };
      }
    case 0x54 /* T */:
      {
        const count = r.u32();
        const options = r.byte();
        const relationOids: number[] = [];
        for (let i = 0; i < count; i++) relationOids.push(r.u32());
        return {
          tag: 'truncate',
          cascade: (options & TRUNCATE_CASCADE) !== 0,
          restartIdentity: (options & TRUNCATE_RESTART_IDENTITY) !== 0,
          relationOids,
        };
      }
    case 0x4d /* M */:
      {
        // protocol v1: no xid field (that is only sent for streamed transactions, v2+)
        const flags = r.byte();
        const lsn = r.u64();
        const prefix = r.cstring();
        const length = r.u32();
        return {
          tag: 'message',
          transactional: (flags & MESSAGE_TRANSACTIONAL) !== 0,
          lsn,
          prefix,
          content: r.copy(length),
        };
      }
    default:
      // stream (S/E/c/A) and two-phase (b/P/K/r) messages need options we never request
      throw r.error(
        `unsupported pgoutput message type 0x${hex(tag)} (${JSON.stringify(String.fromCharCode(tag))})`,
      );
  }
}

function decodeRelation(r: Reader): PgoutputMessage {
  const oid = r.u32();
  const schema = r.cstring();
  const table = r.cstring();
  const identity = String.fromCharCode(r.byte());
  if (identity !== 'd' && identity !== 'n' && identity !== 'f' && identity !== 'i') {
    throw r.error(`relation ${schema}.${table}: unknown replica identity ${JSON.stringify(identity)}`);
  }
  const count = r.u16();
  const columns: RelationColumn[] = [];
  for (let i = 0; i < count; i++) {
    columns.push({ flags: r.byte(), name: r.cstring(), typeOid: r.u32(), typeMod: r.i32() });
  }
  return { tag: 'relation', oid, schema, table, replicaIdentity: identity, columns };
}

function decodeUpdate(r: Reader): PgoutputMessage {
  const relationOid = r.u32();
  let kind = r.byte();
  if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
    const oldKind = kind === 0x4b ? 'key' : 'full';
    const old = decodeTuple(r);
    kind = r.byte();
    if (kind !== 0x4e) throw r.error(`update: expected 'N' after the old tuple, got 0x${hex(kind)}`);
    return { tag: 'update', relationOid, old, oldKind, new: decodeTuple(r) };
  }
  if (kind !== 0x4e) throw r.error(`update: expected 'K', 'O' or 'N', got 0x${hex(kind)}`);
  return { tag: 'update', relationOid, new: decodeTuple(r) };
}

function decodeTuple(r: Reader): TupleData {
  const count = r.u16();
  const values: (string | null)[] = new Array(count);
  let unchanged: number[] | undefined;
  for (let i = 0; i < count; i++) {
    const kind = r.byte();
    switch (kind) {
      case 0x6e /* n */:
        values[i] = null;
        break;
      case 0x75 /* u */:
        // TOASTed value the update did not touch: not sent, and not NULL
        values[i] = null;
        unchanged ??= [];
        unchanged.push(i);
        break;
      case 0x74 /* t */:
        values[i] = r.text(r.u32());
        break;
      case 0x62 /* b */:
        throw r.error(`column ${i}: binary tuple data, but binary mode is never requested`);
      default:
        throw r.error(`column ${i}: unknown tuple data kind 0x${hex(kind)}`);
    }
  }
  return unchanged === undefined ? { values } : { values, unchanged };
}
