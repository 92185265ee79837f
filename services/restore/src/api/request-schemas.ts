import { REGION_NAME_PATTERN, RESTORE_POINT_NAME_PATTERN, TidemarkError } from '@tidemark/shared';
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import type { RestoreRequest } from './api-ports.js';
import { checkTableScope, intoSchemaSchema, tablesSchema } from './table-scope-schemas.js';

/**
 * The body of POST /v1/restores, validated with zod: the one definition gives both the
 * checks (with messages a person can act on, naming the field) and the JSON Schema the
 * OpenAPI document shows. Unknown keys are rejected at every level, so a typo such as
 * `"taget"` is an error rather than a silently ignored field. Values are never quoted
 * back in messages: `into.url` holds a password.
 */

export const TIME_EXAMPLE = '2026-11-23T10:41:07.123456Z';
export const LSN_EXAMPLE = '16/B374D848';
export const URL_EXAMPLE = 'postgresql://user:<password>@host:5432/restored';

const TIME_HINT = `expected RFC 3339 like ${TIME_EXAMPLE}`;
const LSN_HINT = `expected an LSN like ${LSN_EXAMPLE} (two hexadecimal numbers of up to 8 digits, separated by /)`;
const URL_HINT = `expected a postgres:// or postgresql:// URL like ${URL_EXAMPLE}`;
const TARGET_HINT = `{"time": "${TIME_EXAMPLE}"}, {"lsn": "${LSN_EXAMPLE}"}, {"latest": true}, {"xid": 74211, "inclusive": true} or {"restorePoint": "before-deploy"}`;
const XID_HINT =
  'expected a transaction id: a whole number or a string of digits, e.g. 74211 (a 64-bit pg_current_xact_id() value is accepted too)';
const REGION_HINT = 'expected a replica region name: 1 to 32 characters out of a-z 0-9 -';
const NAME_HINT = 'expected a restore point name: 1 to 63 characters out of A-Z a-z 0-9 . _ : -';

// RFC 3339 (and its allowed space separator); at most 6 fractional digits so that the
// instant is kept exactly (commit times are µs)
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;
const LOOSE_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(.*)$/;
const LSN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

/** Why `text` is not an RFC 3339 timestamp we can keep exactly; undefined when it is one. */
export function rfc3339Problem(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (!m) {
    const loose = LOOSE_TIMESTAMP.exec(text);
    if (loose && (loose[1]?.length ?? 0) > 7) {
      return `at most 6 fractional digits (microseconds) can be kept exactly, e.g. ${TIME_EXAMPLE}`;
    }
    if (loose && loose[2] === '') return `a time zone is required (Z or ±hh:mm), e.g. ${TIME_EXAMPLE}`;
    return TIME_HINT;
  }
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12) return `month ${month} is not 1-12 (${TIME_HINT})`;
  const dim = daysInMonth(year, month);
  if (day < 1 || day > dim) return `day ${day} is not 1-${dim} (${TIME_HINT})`;
  if (hour > 23) return `hour ${hour} is not 0-23 (${TIME_HINT})`;
  if (minute > 59) return `minute ${minute} is not 0-59 (${TIME_HINT})`;
  if (second > 59) return `second ${second} is not 0-59 (${TIME_HINT})`;
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) {
    return `time zone offset out of range (${TIME_HINT})`;
  }
  return undefined;
}

/** Why `text` is not a PostgreSQL URL to restore into; undefined when it is one. */
export function postgresUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return URL_HINT;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return URL_HINT;
  if (url.pathname.length <= 1) {
    return `name the database to restore into in the URL's path, e.g. ${URL_EXAMPLE}`;
  }
  return undefined;
}

/** Why `value` is not a transaction id; undefined when it is one (the engine checks the same). */
export function xidProblem(value: number | string): string | undefined {
  let n: bigint;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return XID_HINT;
    n = BigInt(value);
  } else {
    if (!/^\d{1,20}$/.test(value)) return XID_HINT;
    n = BigInt(value);
  }
  if (n >= 2n ** 64n) return 'larger than a 64-bit transaction id';
  if (n % 2n ** 32n < 3n) return 'not a normal transaction id (0, 1 and 2 are reserved)';
  return undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const typed = (expected: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : expected),
});

const timeSchema = z
  .string(typed(TIME_HINT))
  .superRefine((value, ctx) => {
    const problem = rfc3339Problem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description: 'RFC 3339 timestamp with a time zone and up to 6 fractional digits (µs)',
    example: TIME_EXAMPLE,
  });

const lsnSchema = z
  .string(typed(LSN_HINT))
  .regex(LSN, { error: LSN_HINT })
  .meta({ description: 'PostgreSQL LSN', example: LSN_EXAMPLE });

const urlSchema = z
  .string(typed(URL_HINT))
  .superRefine((value, ctx) => {
    const problem = postgresUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      'libpq connection URL of the database to restore into; it must be empty or absent (it is then created)',
    example: URL_EXAMPLE,
  });

const xidSchema = z
  .union([z.number(), z.string()], typed(XID_HINT))
  .superRefine((value, ctx) => {
    const problem = xidProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      'transaction id (xid) as a number or a string of digits; a 64-bit pg_current_xact_id() value is reduced to its 32-bit xid',
    example: 74211,
  });

const restorePointNameSchema = z
  .string(typed(NAME_HINT))
  .regex(RESTORE_POINT_NAME_PATTERN, { error: NAME_HINT })
  .meta({ description: 'restore point name', example: 'before-deploy-2026.11.23' });

/** The union's options, in the order `explainTarget` relies on. */
const TARGET_KINDS = ['time', 'lsn', 'latest', 'xid', 'restorePoint'] as const;

const targetSchema = z
  .union([
    z
      .strictObject({ time: timeSchema })
      .meta({ description: 'every transaction committed at or before this instant' }),
    z
      .strictObject({ lsn: lsnSchema })
      .meta({ description: 'every transaction committed at or before this LSN' }),
    z
      .strictObject({ latest: z.literal(true, { error: 'expected true' }) })
      .meta({ description: 'everything archived so far' }),
    z
      .strictObject({
        xid: xidSchema,
        inclusive: z
          .boolean({ error: 'expected true (stop just after the transaction) or false (just before it)' })
          .optional()
          .meta({ description: 'true (default): the transaction is restored; false: it is not' }),
      })
      .meta({
        description:
          'every transaction committed before the one with this xid, and that one too when inclusive (default). ' +
          'The xid is found while replaying: a restore whose xid is not in the journal fails and leaves nothing behind',
      }),
    z.strictObject({ restorePoint: restorePointNameSchema }).meta({
      description:
        'every transaction up to and including the one carrying this named restore point (POST /v1/sources/{source}/restore-points)',
    }),
  ])
  .meta({
    description:
      'the point to restore to: exactly one of time, lsn, latest, xid (with inclusive) or restorePoint',
  });

export const restoreRequestSchema = z
  .strictObject({
    source: z
      .string(typed('expected a source name (a non-empty string)'))
      .min(1, { error: 'expected a source name (a non-empty string)' })
      .meta({ description: 'name of the journaled source database', example: 'main' }),
    target: targetSchema,
    from: z.string(typed(REGION_HINT)).regex(REGION_NAME_PATTERN, { error: REGION_HINT }).optional().meta({
      description:
        'a replica region (TIDEMARK_REPLICAS) to restore from instead of the primary store; it reads only that region',
      example: 'eu-west',
    }),
    into: z
      .strictObject(
        { url: urlSchema, schema: intoSchemaSchema.optional() },
        typed('expected an object {"url": "postgres://..."}'),
      )
      .meta({ description: 'where to restore to' }),
    tables: tablesSchema.optional(),
  })
  .superRefine(checkTableScope)
  .meta({
    description:
      'a point-in-time restore of one source (or of some of its tables) into a new or empty database, or of some tables into one schema of an existing database',
  });

/** What to say after "unknown key ..." at each level. */
const KEY_HINTS: Record<string, string> = {
  '': 'allowed: source, target, from, into, tables',
  target: 'a target has exactly one key: time, lsn, latest or restorePoint; or xid with inclusive',
  into: 'allowed: url, schema',
};

/** The body of POST /v1/sources/{source}/restore-points. */
export const restorePointRequestSchema = z
  .strictObject({ name: restorePointNameSchema })
  .meta({ description: 'a named restore point to write into the source database' });

const RESTORE_POINT_KEY_HINTS: Record<string, string> = { '': 'allowed: name' };

export function restorePointRequestJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(restorePointRequestSchema, { target: 'openapi-3.0' }) as Record<string, unknown>;
}

/** Validates the body of a restore point creation; BAD_REQUEST naming the field. */
export function parseRestorePointRequest(body: unknown): { name: string } {
  if (body === undefined || body === null)
    throw new TidemarkError('BAD_REQUEST', 'the request body is required: a JSON object {"name": ...}');
  const result = restorePointRequestSchema.safeParse(body);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, [], body, RESTORE_POINT_KEY_HINTS);
  throw new TidemarkError('BAD_REQUEST', problems.map((p) => `${p.path}: ${p.message}`).join('; '), {
    details: { problems },
  });
}

/** JSON Schema (OpenAPI 3.0 dialect) of the body, for the OpenAPI document only. */
export function restoreRequestJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(restoreRequestSchema, { target: 'openapi-3.0' }) as Record<string, unknown>;
}

export interface FieldProblem {
  path: string;
  message: string;
}

/** Validates and normalizes the body; throws BAD_REQUEST listing every problem by field. */
export function parseRestoreRequest(body: unknown): RestoreRequest {
  if (body === undefined || body === null) {
    throw new TidemarkError(
      'BAD_REQUEST',
      `the request body is required: a JSON object {"source": ..., "target": ${TARGET_HINT}, "into": {"url": ...}}`,
    );
  }
  const result = restoreRequestSchema.safeParse(body);
  if (result.success) return result.data;
  const problems = describeIssues(result.error.issues, [], body);
  throw new TidemarkError('BAD_REQUEST', problems.map((p) => `${p.path}: ${p.message}`).join('; '), {
    details: { problems },
  });
}

/**
 * A fastify validator compiler for routes whose body is checked by `parse` (the route's
 * JSON Schema then only documents it). The error is a TidemarkError, which the error
 * handler answers as it is.
 */
export function bodyValidatorCompiler(parse: (body: unknown) => unknown): FastifySchemaCompiler<unknown> {
  return ({ httpPart }) =>
    (data: unknown) => {
      if (httpPart !== 'body') return { value: data };
      try {
        return { value: parse(data) };
      } catch (err) {
        return { error: err instanceof Error ? err : new Error(String(err)) };
      }
    };
}

type Issue = z.core.$ZodIssue;
type PathSegment = PropertyKey;

function describeIssues(
  issues: readonly Issue[],
  prefix: readonly PathSegment[],
  root: unknown,
  hints: Record<string, string> = KEY_HINTS,
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const at = formatPath(path);
    if (issue.code === 'invalid_union' && at === 'target') {
      problems.push(...explainTarget(valueAt(root, path), issue.errors, path, root));
    } else if (issue.code === 'unrecognized_keys') {
      const hint = hints[at];
      const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
      const plural = issue.keys.length > 1 ? 'unknown keys' : 'unknown key';
      problems.push({ path: at || 'body', message: `${plural} ${keys}${hint ? ` (${hint})` : ''}` });
    } else if (issue.code === 'invalid_type' && path.length === 0) {
      problems.push({ path: 'body', message: 'expected a JSON object' });
    } else {
      problems.push({ path: at || 'body', message: issue.message });
    }
  }
  return problems;
}

/** A union's default message is "Invalid input": name what is wrong with the target instead. */
function explainTarget(
  target: unknown,
  branches: readonly (readonly Issue[])[],
  path: readonly PathSegment[],
  root: unknown,
): FieldProblem[] {
  const at = formatPath(path);
  if (target === undefined) return [{ path: at, message: `required: ${TARGET_HINT}` }];
  if (typeof target !== 'object' || target === null || Array.isArray(target)) {
    return [{ path: at, message: `expected an object: ${TARGET_HINT}` }];
  }
  const keys = Object.keys(target);
  const kinds = TARGET_KINDS.filter((k) => keys.includes(k));
  if (kinds.length > 1) {
    return [
      {
        path: at,
        message: `give exactly one of time, lsn, latest, xid or restorePoint (got ${kinds.join(', ')})`,
      },
    ];
  }
  const kind = kinds[0];
  if (kind === undefined) {
    const got = keys.length > 0 ? ` (got ${keys.map((k) => JSON.stringify(k)).join(', ')})` : '';
    return [{ path: at, message: `expected one of ${TARGET_HINT}${got}` }];
  }
  const branch = branches[TARGET_KINDS.indexOf(kind)] ?? [];
  return describeIssues(branch, path, root);
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}
