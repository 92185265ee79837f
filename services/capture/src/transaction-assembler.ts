import {
  type Change,
  type ColumnInfo,
  PG_EPOCH_MICROS,
  type RelationInfo,
  type ReplicaIdentity,
  TidemarkError,
  type TransactionRecord,
} from '@tidemark/shared';
import type { PgoutputMessage, ReplicaIdentityChar } from './pgoutput-decoder.js';

/**
 * Turns the decoded pgoutput message stream of one replication session into whole
 * transactions. Pure and synchronous.
 *
 * Memory: a transaction is held until its Commit arrives (no streaming of in-progress
 * transactions is requested), so a huge transaction is held whole. Each change keeps only
 * its value strings and a small relation index; bounding this needs spilling changes to
 * disk past a size limit — future work.
 */

export type AssemblerOutput =
  | { readonly kind: 'transaction'; readonly record: TransactionRecord }
  /** a non-transactional logical message: not part of any transaction, so it gets no record */
  | {
      readonly kind: 'message';
      readonly lsn: bigint;
      readonly prefix: string;
      readonly content: Uint8Array;
    };

const IDENTITY: Record<ReplicaIdentityChar, ReplicaIdentity> = {
  d: 'default',
  n: 'nothing',
  f: 'full',
  i: 'index',
};

interface OpenTransaction {
  readonly xid: number;
  readonly finalLsn: bigint;
  readonly relations: RelationInfo[];
  /** oid → index in `relations` of the relation version current in this transaction */
  readonly relIndex: Map<number, number>;
  readonly changes: Change[];
}

export class TransactionAssembler {
  /** oid → relation as last described by the server in this session */
  private readonly relationCache = new Map<number, RelationInfo>();
  private open: OpenTransaction | undefined;

  constructor(private readonly source: string) {}

  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** Returns a finished transaction on Commit, a non-transactional message, or nothing. */
  push(msg: PgoutputMessage): AssemblerOutput | undefined {
    switch (msg.tag) {
      case 'begin':
        if (this.open) throw protocolError(`Begin of xid ${msg.xid} inside xid ${this.open.xid}`);
        this.open = { xid: msg.xid, finalLsn: msg.finalLsn, relations: [], relIndex: new Map(), changes: [] };
        return undefined;
      case 'commit':
        return this.commit(msg.commitLsn, msg.endLsn, msg.commitTime);
      case 'relation':
        this.relationCache.set(msg.oid, {
          oid: msg.oid,
          schema: msg.schema,
          table: msg.table,
          replicaIdentity: IDENTITY[msg.replicaIdentity],
          columns: msg.columns.map(
            (c): ColumnInfo => ({
              name: c.name,
              typeOid: c.typeOid,
              typeMod: c.typeMod,
              key: (c.flags & 1) !== 0,
            }),
          ),
        });
        // a relation redescribed mid-transaction (ALTER TABLE in the same transaction) gets a
        // new entry in the record, so every change keeps the column list it was sent with
        this.open?.relIndex.delete(msg.oid);
        return undefined;
      case 'type':
      case 'origin':
        // values stay text, so type descriptions are not needed; origins are not journaled
        return undefined;
      case 'insert': {
        const tx = this.requireOpen('Insert');
        tx.changes.push({
          op: 'insert',
          rel: this.rel(tx, msg.relationOid, msg.new.values.length),
          new: msg.new,
        });
        return undefined;
      }
      case 'update': {
        const tx = this.requireOpen('Update');
        const rel = this.rel(tx, msg.relationOid, msg.new.values.length);
        tx.changes.push(
          msg.old === undefined
            ? { op: 'update', rel, new: msg.new }
            : { op: 'update', rel, old: msg.old, oldKind: msg.oldKind ?? 'key', new: msg.new },
        );
        return undefined;
      }
      case 'delete': {
        const tx = this.requireOpen('Delete');
        tx.changes.push({
          op: 'delete',
          rel: this.rel(tx, msg.relationOid, msg.old.values.length),
          old: msg.old,
          oldKind: msg.oldKind,
        });
        return undefined;
      }
      case 'truncate': {
        const tx = this.requireOpen('Truncate');
        tx.changes.push({
          op: 'truncate',
          rels: msg.relationOids.map((oid) => this.rel(tx, oid, undefined)),
          cascade: msg.cascade,
          restartIdentity: msg.restartIdentity,
        });
        return undefined;
      }
      case 'message':
        if (!msg.transactional) {
          return { kind: 'message', lsn: msg.lsn, prefix: msg.prefix, content: msg.content };
        }
        this.requireOpen('transactional Message').changes.push({
          op: 'message',
          prefix: msg.prefix,
          content: msg.content,
          transactional: true,
        });
        return undefined;
    }
  }

  /** Drops a half-received transaction (the connection broke); the relation cache stays valid only for the same session. */
  reset(): void {
    this.open = undefined;
    this.relationCache.clear();
  }

  private commit(commitLsn: bigint, endLsn: bigint, commitTimePg: bigint): AssemblerOutput {
    const tx = this.requireOpen('Commit');
    this.open = undefined;
    if (commitLsn !== tx.finalLsn) {
      throw protocolError(`Commit LSN ${commitLsn} differs from the Begin's final LSN ${tx.finalLsn}`);
    }
    return {
      kind: 'transaction',
      record: {
        source: this.source,
        xid: tx.xid,
        commitLsn,
        endLsn,
        commitTime: commitTimePg + PG_EPOCH_MICROS,
        relations: tx.relations,
        changes: tx.changes,
      },
    };
  }

  private requireOpen(what: string): OpenTransaction {
    if (!this.open) throw protocolError(`${what} outside a transaction`);
    return this.open;
  }

  /** index of the relation in the transaction's list; checks the tuple width against it */
  private rel(tx: OpenTransaction, oid: number, columnCount: number | undefined): number {
    let index = tx.relIndex.get(oid);
    if (index === undefined) {
      const relation = this.relationCache.get(oid);
      if (!relation) throw protocolError(`change for relation ${oid} before its Relation message`);
      index = tx.relations.push(relation) - 1;
      tx.relIndex.set(oid, index);
    }
    const relation = tx.relations[index]!;
    if (columnCount !== undefined && columnCount !== relation.columns.length) {
      throw protocolError(
        `tuple of ${relation.schema}.${relation.table} has ${columnCount} columns, relation has ${relation.columns.length}`,
      );
    }
    return index;
  }
}

function protocolError(message: string): TidemarkError {
  return new TidemarkError('REPLICATION_FAILED', `pgoutput protocol violation: ${message}`, {
    retriable: false,
  });
}
