import { ERROR_CODES, type ErrorCode } from '@tidemark/shared';
import type { FastifyInstance } from 'fastify';

/**
 * JSON Schemas of the answers, for the OpenAPI document. They do not shape the answers:
 * `build-api.ts` serializes with JSON.stringify, so a field the engine adds is never
 * silently dropped by a schema that did not list it yet.
 */

const time = (description: string) => ({ type: 'string', format: 'date-time', description, nullable: true });
const lsn = (description: string) => ({
  type: 'string',
  example: '16/B374D848',
  description,
  nullable: true,
});

const SCHEMAS = {
  Error: {
    type: 'object',
    description: 'Every error answer. `code` is stable; `message` says what to change.',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message', 'details'],
        properties: {
          code: { type: 'string', enum: Object.keys(ERROR_CODES) },
          message: { type: 'string' },
          details: { type: 'object', additionalProperties: true },
        },
      },
    },
  },
  Source: {
    type: 'object',
    required: ['name', 'earliestRestorableTime', 'latestRestorableTime', 'latestLsn', 'snapshotLsn'],
    additionalProperties: true,
    properties: {
      name: { type: 'string', example: 'main' },
      earliestRestorableTime: time('the oldest instant a restore can target (null: no base snapshot yet)'),
      latestRestorableTime: time('the newest archived commit: the journal is complete up to here'),
      latestLsn: lsn('commit LSN of the newest archived transaction'),
      snapshotLsn: lsn('LSN of the base snapshot the journal starts at'),
      retention: {
        type: 'string',
        nullable: true,
        example: '7d',
        description:
          'the retention window (TIDEMARK_RETENTION): earliestRestorableTime is the newest snapshot at or before now minus it; null: everything is kept',
      },
      region: { type: 'string', description: 'with ?region=: the replica region this view was read from' },
      regions: {
        type: 'array',
        description:
          'with replica regions configured (TIDEMARK_REPLICAS): how far each is behind the primary',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string', example: 'eu-west' },
            lagSeconds: {
              type: 'number',
              nullable: true,
              description: 'primary tip commit time − region tip commit time',
            },
            lagBytes: {
              type: 'integer',
              nullable: true,
              description: 'journal bytes the region does not hold yet',
            },
            latestRestorableTime: time('the newest instant a restore from this region reaches'),
            lastError: {
              type: 'string',
              nullable: true,
              description: "the replicator's last error for the region",
            },
          },
        },
      },
    },
  },
  RestoreJob: {
    type: 'object',
    required: ['id', 'source', 'state', 'progress', 'createdAt', 'target'],
    additionalProperties: true,
    properties: {
      id: { type: 'string' },
      source: { type: 'string' },
      state: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
      queuePosition: {
        type: 'integer',
        description:
          'while queued: 1 for the next restore to start (at most TIDEMARK_MAX_CONCURRENT_RESTORES run)',
      },
      idempotencyKey: { type: 'string', description: 'the Idempotency-Key the restore was created with' },
      attempts: { type: 'integer', description: 'times the restore was started: 2 or more after a restart' },
      resumedFrom: {
        type: 'string',
        description:
          'after a restart: the commit LSN the replay continued after, or `start` when the restore began again',
      },
      progress: { $ref: 'RestoreProgress#' },
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string' },
          message: { type: 'string' },
          details: { type: 'object', additionalProperties: true },
        },
      },
      createdAt: { type: 'string', format: 'date-time' },
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      target: { type: 'object', additionalProperties: true, description: 'the target as requested' },
      into: {
        type: 'object',
        properties: {
          url: { type: 'string', description: 'password masked' },
          database: { type: 'string' },
          schema: { type: 'string', description: 'a table restore into this schema of an existing database' },
        },
      },
      tables: {
        type: 'array',
        items: { type: 'string' },
        description: 'a table restore: the tables listed (absent: every table)',
      },
    },
  },
  RestoreProgress: {
    type: 'object',
    additionalProperties: true,
    required: ['phase', 'bytesDone', 'bytesTotal', 'transactionsApplied'],
    properties: {
      phase: {
        type: 'string',
        enum: [
          'queued',
          'planning',
          'loading-snapshot',
          'replaying',
          'creating-indexes',
          'finishing',
          'cancelling',
          'done',
        ],
      },
      tablesLoaded: { type: 'integer' },
      tablesTotal: { type: 'integer', description: 'snapshot tables with data' },
      segmentsRead: { type: 'integer' },
      segmentsTotal: { type: 'integer', description: 'journal segments in the plan' },
      bytesDone: { type: 'integer', description: 'snapshot data loaded plus journal bytes replayed' },
      bytesTotal: {
        type: 'integer',
        description:
          'snapshot data plus the planned segments (segments after the stop drop out once it is found)',
      },
      transactionsApplied: { type: 'integer' },
      transactionsTotal: {
        type: 'integer',
        description: 'transactions the replay applies: exact when transactionsTotalExact, else extrapolated',
      },
      transactionsTotalExact: { type: 'boolean' },
      changesApplied: { type: 'integer' },
      restoredLsn: lsn('commit LSN of the last restored transaction (or of the snapshot)'),
      restoredTime: time('commit time of the last restored transaction (or of the snapshot)'),
      bytesPerSecond: { type: 'integer', description: 'observed since the restore started' },
      etaSeconds: { type: 'integer', description: 'time left at the observed rate' },
    },
  },
  RestorePlan: {
    type: 'object',
    description: 'what a restore would read (POST /v1/restores?dryRun=true); nothing is created',
    additionalProperties: true,
    required: ['dryRun', 'source', 'target', 'snapshotLsn', 'segments', 'totalBytes', 'estimatedSeconds'],
    properties: {
      dryRun: { type: 'boolean', enum: [true] },
      source: { type: 'string' },
      target: { type: 'object', additionalProperties: true },
      into: {
        type: 'object',
        properties: {
          url: { type: 'string', description: 'password masked' },
          database: { type: 'string' },
          schema: { type: 'string', description: 'a table restore into this schema of an existing database' },
        },
      },
      tables: { type: 'array', items: { type: 'string' }, description: 'a table restore: the tables listed' },
      restoredTables: {
        type: 'array',
        items: { type: 'string' },
        description: 'a table restore: every table left at the end (partitions included), where it will be',
      },
      snapshotLsn: lsn('the snapshot the restore starts from'),
      snapshotKind: {
        type: 'string',
        enum: ['base', 'compacted'],
        description:
          'base (taken from the source) or compacted (built from an earlier snapshot and the journal)',
      },
      snapshotTime: time('when that snapshot was taken'),
      snapshotTables: { type: 'integer' },
      snapshotBytes: { type: 'integer' },
      segments: { type: 'integer', description: 'journal segments to read' },
      segmentBytes: { type: 'integer' },
      firstSegment: { type: 'string', nullable: true },
      lastSegment: { type: 'string', nullable: true },
      totalBytes: { type: 'integer', description: 'snapshotBytes + segmentBytes' },
      stopRule: {
        type: 'object',
        description: '{time} or {lsn}: the first commit past it ends the replay (for an xid target: the tip)',
        additionalProperties: true,
      },
      transaction: {
        type: 'object',
        description: 'for an xid target',
        properties: { xid: { type: 'integer' }, inclusive: { type: 'boolean' } },
      },
      restorePoint: { $ref: 'RestorePoint#' },
      estimatedSeconds: { type: 'integer', description: 'totalBytes at bytesPerSecond' },
      bytesPerSecond: { type: 'integer', description: 'the configured restore rate the estimate assumes' },
      notes: { type: 'array', items: { type: 'string' } },
    },
  },
  RestorePoint: {
    type: 'object',
    required: ['name', 'lsn', 'time'],
    additionalProperties: true,
    properties: {
      name: { type: 'string', example: 'before-deploy-2026.11.23' },
      lsn: lsn('commit LSN of the transaction carrying the restore point: a restore to it stops right after'),
      time: time('commit time of that transaction'),
      xid: { type: 'integer', description: 'that transaction’s id' },
    },
  },
  CreatedRestorePoint: {
    type: 'object',
    required: ['name', 'createdAt'],
    additionalProperties: true,
    properties: {
      name: { type: 'string' },
      lsn: lsn('WAL position of the restore point’s message in the source'),
      createdAt: { type: 'string', format: 'date-time' },
    },
  },
  VerifyReport: {
    type: 'object',
    required: ['ok', 'segments', 'records', 'firstLsn', 'lastLsn', 'problems'],
    additionalProperties: true,
    properties: {
      ok: {
        type: 'boolean',
        description: 'true when every checksum and every link of the hash chain is right',
      },
      segments: { type: 'integer' },
      records: { type: 'integer' },
      firstLsn: lsn('first commit LSN covered'),
      lastLsn: lsn('last commit LSN covered'),
      problems: {
        type: 'array',
        items: {
          type: 'object',
          required: ['key', 'kind', 'message'],
          properties: {
            key: { type: 'string', description: 'object key of the segment or snapshot file' },
            offset: { type: 'integer', description: 'byte offset in that object' },
            kind: { type: 'string' },
            message: { type: 'string' },
          },
        },
      },
    },
  },
} as const;

export type SchemaName = keyof typeof SCHEMAS;

export function registerResponseSchemas(app: FastifyInstance): void {
  for (const [id, schema] of Object.entries(SCHEMAS)) app.addSchema({ $id: id, ...schema });
}

export function ref(name: SchemaName): { $ref: string } {
  return { $ref: `${name}#` };
}

export function described(description: string, schema: object): Record<string, unknown> {
  return { description, ...schema };
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'BAD_REQUEST: the request is malformed; the message names the field',
  401: 'UNAUTHENTICATED: missing, malformed or unknown bearer token',
  403: 'FORBIDDEN: the token’s role does not allow this',
  404: 'not found (UNKNOWN_SOURCE, UNKNOWN_RESTORE, NOT_FOUND)',
  409: 'conflict',
  422: 'the request is well-formed but cannot be served (e.g. TARGET_BEFORE_WINDOW, TARGET_AFTER_WINDOW)',
  500: 'INTERNAL or an integrity error (the journal failed verification)',
  503: 'a store or the journal is unavailable for now: retry',
};

/** Error answers of a route, by the codes it can give (their statuses come from ERROR_CODES). */
export function errorResponses(...codes: ErrorCode[]): Record<number, Record<string, unknown>> {
  const out: Record<number, Record<string, unknown>> = {};
  for (const code of [...codes, 'INTERNAL' as const]) {
    const status = ERROR_CODES[code].status;
    out[status] = described(ERROR_DESCRIPTIONS[status] ?? code, ref('Error'));
  }
  return out;
}

/** The error answers every authenticated route can give. */
export const AUTH_ERRORS: ErrorCode[] = ['UNAUTHENTICATED', 'FORBIDDEN'];
