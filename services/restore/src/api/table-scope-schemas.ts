import { z } from 'zod';
import {
  formatQualifiedName,
  parseQualifiedName,
  QUALIFIED_NAME_HINT,
  SCHEMA_NAME_HINT,
  schemaNameProblem,
} from '../engine/index.js';

/**
 * The zod parts of a table restore's request: `tables` and `into.schema`, with the rules
 * that tie them together (the engine's restore-scope.ts says the same; these give the
 * API's messages and the OpenAPI document).
 */
const typed = (expected: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : expected),
});

const tableNameSchema = z
  .string(typed(QUALIFIED_NAME_HINT))
  .superRefine((value, ctx) => {
    const name = parseQualifiedName(value);
    if ('problem' in name) ctx.addIssue({ code: 'custom', message: name.problem });
  })
  .meta({ description: 'a table of the source as schema.table', example: 'public.orders' });

export const tablesSchema = z
  .array(tableNameSchema, typed('expected an array of qualified table names like ["public.orders"]'))
  .min(1, {
    error: 'expected at least one table, e.g. ["public.orders"]; leave out "tables" to restore every table',
  })
  .superRefine((names, ctx) => {
    const seen = new Set<string>();
    for (const [i, text] of names.entries()) {
      const name = parseQualifiedName(text);
      if ('problem' in name) continue;
      const key = JSON.stringify([name.schema, name.table]);
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: [i], message: `${formatQualifiedName(name)} is listed twice` });
      seen.add(key);
    }
  })
  .meta({
    description:
      'restore only these tables (a partitioned table brings its partitions; a partition listed alone becomes a plain table); ' +
      'unknown tables answer 400 UNKNOWN_TABLE with near matches',
    example: ['public.orders', 'public.order_items'],
  });

export const intoSchemaSchema = z
  .string(typed(SCHEMA_NAME_HINT))
  .superRefine((value, ctx) => {
    const problem = schemaNameProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({
    description:
      'with "tables": restore them into this schema of an existing database (which may hold anything else); ' +
      'the schema must not exist (it is created) or be empty, else 409 TARGET_NOT_EMPTY',
    example: 'restored_0931',
  });

/** Cross-field rules: into.schema needs tables; into one schema, two tables may not share a name. */
export function checkTableScope(
  body: {
    readonly tables?: readonly string[] | undefined;
    readonly into: { readonly schema?: string | undefined };
  },
  ctx: z.RefinementCtx,
): void {
  const schema = body.into.schema;
  if (schema === undefined) return;
  if (body.tables === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['tables'],
      message:
        'required with into.schema: restoring into a schema of an existing database is for a list of tables; ' +
        'to restore the whole source, leave out into.schema and name a new or empty database',
    });
    return;
  }
  const byTable = new Map<string, string>();
  for (const [i, text] of body.tables.entries()) {
    const name = parseQualifiedName(text);
    if ('problem' in name) continue;
    const other = byTable.get(name.table);
    if (other !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tables', i],
        message: `${formatQualifiedName(name)} and ${other} would both be restored as ${formatQualifiedName({ schema, table: name.table })}; restore them into two different schemas (two requests)`,
      });
    else byTable.set(name.table, formatQualifiedName(name));
  }
}
