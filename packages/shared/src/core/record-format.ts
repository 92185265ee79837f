import type { ReplicaIdentity } from './change-model.js';

/**
 * A journal record is one TransactionRecord, msgpack-encoded as positional arrays (no
 * repeated field names: records are the bulk of the journal):
 *
 *   [1, source, xid, commitLsn, endLsn, commitTime, relations, changes]
 *   relation  [oid, schema, table, identity, [name, typeOid, typeMod, key, name, ...]]
 *   insert    [0, rel, values, unchanged|nil]
 *   update    [1, rel, values, unchanged|nil, oldKind, oldValues|nil, oldUnchanged|nil]
 *   delete    [2, rel, values, unchanged|nil, oldKind]
 *   truncate  [3, rels, cascade, restartIdentity]
 *   message   [4, prefix, content, transactional]
 *
 * LSNs and the commit time are 8-byte binaries (int64-bytes.ts); values are msgpack str
 * or nil, so '' and NULL stay distinct; oldKind is 0 (absent), 1 'key', 2 'full'.
 */
export const RECORD_FORMAT = 1;
export const IDENTITIES: readonly ReplicaIdentity[] = ['default', 'nothing', 'full', 'index'];
export const OLD_KINDS = [undefined, 'key', 'full'] as const;
export const OP = { insert: 0, update: 1, delete: 2, truncate: 3, message: 4 } as const;
