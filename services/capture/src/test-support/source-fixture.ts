import { textFormatStartupOptions } from '@tidemark/shared';
import { type PostgresCluster, type PostgresFlavor, startPostgres } from '@tidemark/testkit';
import pg from 'pg';

/** Test helpers around a throw-away cluster: one database per test, text-format sessions, polling. */
export const FLAVORS: readonly PostgresFlavor[] = ['debian15', 'embedded18'];

let counter = 0;

export async function createDatabase(cluster: PostgresCluster, prefix = 'db'): Promise<string> {
  const name = `${prefix}_${process.pid}_${++counter}`;
  const admin = new pg.Client({ connectionString: cluster.url() });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  return cluster.url(name);
}

/** a session with Tidemark's text-format settings, as capture and restore use */
export async function textSession(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: textFormatStartupOptions() });
  await client.connect();
  return client;
}

export async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = await textSession(url);
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function slotConfirmedLsn(url: string, slot: string): Promise<bigint> {
  const res = await sql(
    url,
    'select confirmed_flush_lsn::text as l from pg_replication_slots where slot_name = $1',
    [slot],
  );
  const text = (res.rows[0] as { l: string } | undefined)?.l;
  if (!text) throw new Error(`no slot ${slot}`);
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export { type PostgresCluster, startPostgres };
