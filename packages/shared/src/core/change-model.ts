import type { Lsn } from './lsn.js';

/**
 * The change model: one journal record is one committed transaction, self-contained
 * (it carries the descriptions of the relations it touches), so a restore can start
 * reading at any record.
 *
 * Values are PostgreSQL's text output exactly as the server sent it (`string`), or `null`.
 * Nothing is ever parsed into Date, Number or JSON.
 */

/** Microseconds since the Unix epoch, exact. */
export type MicrosSinceEpoch = bigint;

export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export interface ColumnInfo {
  readonly name: string;
  /** pg_type oid of the column type */
  readonly typeOid: number;
  readonly typeMod: number;
  /** part of the replica identity key */
  readonly key: boolean;
}

export interface RelationInfo {
  /** pgoutput relation id (the table's oid on the source); unique within a source */
  readonly oid: number;
  readonly schema: string;
  readonly table: string;
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly ColumnInfo[];
}

/**
 * One row image. `values[i]` belongs to `relation.columns[i]`. Positions listed in
 * `unchanged` are TOASTed values the update did not touch: the server did not send them,
 * their `values` entry is `null` and means "keep what is there", never SQL NULL.
 */
export interface TupleData {
  readonly values: readonly (string | null)[];
  readonly unchanged?: readonly number[];
}

export type Change =
  | { readonly op: 'insert'; readonly rel: number; readonly new: TupleData }
  | {
      readonly op: 'update';
      readonly rel: number;
      /** the old key ('key': only key columns set, others null) or whole old row ('full'); absent when the key did not change and identity is not FULL */
      readonly old?: TupleData;
      readonly oldKind?: 'key' | 'full';
      readonly new: TupleData;
    }
  | {
      readonly op: 'delete';
      readonly rel: number;
      readonly old: TupleData;
      readonly oldKind: 'key' | 'full';
    }
  | {
      readonly op: 'truncate';
      readonly rels: readonly number[];
      readonly cascade: boolean;
      readonly restartIdentity: boolean;
    }
  | {
      readonly op: 'message';
      readonly prefix: string;
      readonly content: Uint8Array;
      readonly transactional: boolean;
    };

/** `rel` in a change is the index into `TransactionRecord.relations`. */
export interface TransactionRecord {
  readonly source: string;
  readonly xid: number;
  /** LSN of the commit record: the journal's total order and de-duplication key */
  readonly commitLsn: Lsn;
  /** end of the commit record: what is confirmed to the server once durable */
  readonly endLsn: Lsn;
  readonly commitTime: MicrosSinceEpoch;
  readonly relations: readonly RelationInfo[];
  readonly changes: readonly Change[];
}

/** Logical decoding message prefixes Tidemark writes into the source's WAL. */
export const MESSAGE_PREFIX = {
  heartbeat: 'tidemark.heartbeat',
  restorePoint: 'tidemark.restore_point',
  ddl: 'tidemark.ddl',
} as const;

/**
 * What a named restore point may be called: its name is the UTF-8 content of a
 * `tidemark.restore_point` message, and travels in URLs and JSON unescaped.
 */
export const RESTORE_POINT_NAME_PATTERN = /^[A-Za-z0-9._:-]{1,63}$/;

/** PostgreSQL's epoch (2000-01-01) in µs since the Unix epoch: pgoutput timestamps count from it. */
export const PG_EPOCH_MICROS: MicrosSinceEpoch = 946_684_800_000_000n;
