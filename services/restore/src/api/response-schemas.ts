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
      progress: { type: 'object', additionalProperties: true },
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
