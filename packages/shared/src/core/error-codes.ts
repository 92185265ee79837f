/**
 * Every error Tidemark reports has a stable code listed here, with whether retrying the
 * same operation can succeed and the HTTP status the API answers with. This is the one
 * place codes map to statuses.
 */
export const ERROR_CODES = {
  // request and configuration errors: the caller must change something
  BAD_REQUEST: { status: 400, retriable: false },
  CONFIG_INVALID: { status: 500, retriable: false },
  UNAUTHENTICATED: { status: 401, retriable: false },
  FORBIDDEN: { status: 403, retriable: false },
  NOT_FOUND: { status: 404, retriable: false },
  UNKNOWN_SOURCE: { status: 404, retriable: false },
  UNKNOWN_RESTORE: { status: 404, retriable: false },
  UNKNOWN_TABLE: { status: 400, retriable: false },
  TARGET_BEFORE_WINDOW: { status: 422, retriable: false },
  TARGET_AFTER_WINDOW: { status: 422, retriable: false },
  TARGET_NOT_EMPTY: { status: 409, retriable: false },
  TARGET_UNREACHABLE: { status: 422, retriable: true },
  CONFLICT: { status: 409, retriable: false },
  // integrity: data failed verification; never applied
  SEGMENT_CORRUPT: { status: 500, retriable: false },
  CHAIN_BROKEN: { status: 500, retriable: false },
  SNAPSHOT_CORRUPT: { status: 500, retriable: false },
  RECORD_CORRUPT: { status: 500, retriable: false },
  /** an encrypted object cannot be decrypted: no key, an unknown key id, a wrong master key, or tampering */
  DECRYPT_FAILED: { status: 500, retriable: false },
  // stores and servers
  OBJECT_NOT_FOUND: { status: 404, retriable: false },
  OBJECT_EXISTS: { status: 409, retriable: false },
  /** an object under S3 Object Lock (or the local store's retention) cannot be deleted before its retain-until date */
  OBJECT_LOCKED: { status: 409, retriable: false },
  STORE_UNAVAILABLE: { status: 503, retriable: true },
  SOURCE_UNAVAILABLE: { status: 503, retriable: true },
  SOURCE_NOT_READY: { status: 422, retriable: false },
  REPLICATION_FAILED: { status: 503, retriable: true },
  JOURNAL_NOT_READY: { status: 503, retriable: true },
  RESTORE_FAILED: { status: 500, retriable: false },
  /** compaction snapshots need a PostgreSQL server to build them on (TIDEMARK_COMPACTION_DATABASE_URL) */
  COMPACTION_UNAVAILABLE: { status: 422, retriable: false },
  UNKNOWN_JOB: { status: 404, retriable: false },
  CANCELLED: { status: 409, retriable: false },
  INTERNAL: { status: 500, retriable: false },
} as const satisfies Record<string, { status: number; retriable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;
