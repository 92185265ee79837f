import { installDdlCapture } from '@tidemark/capture';
import { redactUrl, TidemarkError } from '@tidemark/shared';
import pg from 'pg';

/**
 * `tidemark install --source-url URL`: installs the event triggers that capture schema
 * changes (DDL) into the source database. Idempotent: run it again after an upgrade, it
 * replaces an older version and leaves a current one alone. Needs a role that may create
 * event triggers (a superuser), which capture itself usually does not run as.
 */
export async function runInstallCommand(
  sourceUrl: string | undefined,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  if (!sourceUrl)
    throw new TidemarkError(
      'CONFIG_INVALID',
      'tidemark install needs the source database: --source-url postgres://superuser@host:5432/db (or TIDEMARK_SOURCE_URL)',
    );
  const client = new pg.Client({
    connectionString: sourceUrl,
    application_name: 'tidemark-install',
    connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  try {
    const { before } = await installDdlCapture(client);
    const where = redactUrl(sourceUrl);
    out.write(
      before === 'current'
        ? `DDL capture is already installed in ${where}; nothing changed\n`
        : `DDL capture ${before === 'outdated' ? 'updated' : 'installed'} in ${where}: schema changes are now captured (event triggers tidemark_ddl_command_end, tidemark_sql_drop; functions in schema _tidemark)\n`,
    );
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}
