import { textFormatStartupOptions } from '@tidemark/shared';
import pg from 'pg';

/**
 * Connections to the source. Every session, replication or not, starts with Tidemark's
 * text-format settings as startup options, so values (pgoutput tuples, COPY data, catalog
 * text) have one stable text form that re-parses exactly.
 */
export type ReplicationClientConfig = pg.ClientConfig & { replication: 'database' };

export function sqlClientConfig(sourceUrl: string, applicationName = 'tidemark-capture'): pg.ClientConfig {
  return {
    connectionString: sourceUrl,
    options: textFormatStartupOptions(),
    application_name: applicationName,
    // an unreachable server must fail a connect (and so a heartbeat, a reconnect) rather than hang it
    connectionTimeoutMillis: 10_000,
  };
}

export function replicationClientConfig(sourceUrl: string): ReplicationClientConfig {
  return { ...sqlClientConfig(sourceUrl, 'tidemark-capture-replication'), replication: 'database' };
}

/** A connected plain SQL client; errors after connect are reported to `onError` instead of crashing the process. */
export async function connectSql(
  sourceUrl: string,
  onError: (err: Error) => void = () => {},
): Promise<pg.Client> {
  const client = new pg.Client(sqlClientConfig(sourceUrl));
  client.on('error', onError);
  await client.connect();
  return client;
}

/** `"name"` with embedded quotes doubled */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** `'text'` with embedded quotes doubled, for the few commands that take no parameters (replication protocol) */
export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
