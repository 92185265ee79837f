import { isTidemarkError } from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './capture-logger.js';
import { connectSql } from './pg-connection.js';
import { checkSource, ensurePublication, type TablesWithoutKeyPolicy } from './source-setup.js';
import {
  createDatabase,
  FLAVORS,
  type PostgresCluster,
  sql,
  startPostgres,
} from './test-support/source-fixture.js';

const KEYLESS_SCHEMA = `
  create table with_pk (id int primary key);
  create table no_pk (v text);
  create table nothing (id int primary key); alter table nothing replica identity nothing;
  create table full_ok (v text); alter table full_ok replica identity full;
  create table parted (k int, v text) partition by range (k);
  create table parted_a partition of parted for values from (0) to (10);
  create schema "Other";
  create table "Other"."Mixed Case" (v text);
  create temp table tmp (v text);`;

async function publicationTables(url: string, pub: string): Promise<string[]> {
  const res = await sql(
    url,
    `select schemaname || '.' || tablename as t from pg_publication_tables where pubname = $1 order by 1`,
    [pub],
  );
  return res.rows.map((r) => (r as { t: string }).t);
}

describe.concurrent.each(FLAVORS)('source setup on %s', (flavor) => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres({ flavor });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  async function setup(policy: TablesWithoutKeyPolicy): Promise<{ url: string; error?: unknown }> {
    const url = await createDatabase(cluster);
    await sql(url, KEYLESS_SCHEMA);
    const client = await connectSql(url);
    try {
      await checkSource(client);
      await ensurePublication(client, {
        publicationName: 'pub',
        tablesWithoutKey: policy,
        logger: silentLogger,
      });
      return { url };
    } catch (error) {
      return { url, error };
    } finally {
      await client.end();
    }
  }

  it('refuses by default, naming each table and both fixes, and changes nothing', async () => {
    const { url, error } = await setup('refuse');
    expect(isTidemarkError(error, 'SOURCE_NOT_READY')).toBe(true);
    const message = (error as Error).message;
    for (const t of [
      'public.no_pk',
      'public.nothing',
      'public.parted',
      'public.parted_a',
      'Other.Mixed Case',
    ]) {
      expect(message).toContain(t);
    }
    for (const t of ['with_pk', 'full_ok', 'tmp']) expect(message).not.toContain(t);
    expect(message).toContain('TIDEMARK_TABLES_WITHOUT_KEY=replica-identity-full');
    expect(message).toContain('TIDEMARK_TABLES_WITHOUT_KEY=exclude');
    expect((await sql(url, `select count(*)::int as n from pg_publication`)).rows[0]).toEqual({ n: 0 });
  });

  it('replica-identity-full sets REPLICA IDENTITY FULL and publishes all tables via their root', async () => {
    const { url, error } = await setup('replica-identity-full');
    expect(error).toBeUndefined();
    const idents = await sql(
      url,
      `select c.relname, c.relreplident from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('public', 'Other') and c.relkind in ('r', 'p') order by 1`,
    );
    expect(Object.fromEntries(idents.rows.map((r) => [r.relname, r.relreplident]))).toEqual({
      'Mixed Case': 'f',
      full_ok: 'f',
      no_pk: 'f',
      nothing: 'f',
      parted: 'f',
      parted_a: 'f',
      with_pk: 'd',
    });
    expect(await publicationTables(url, 'pub')).toEqual([
      'Other.Mixed Case',
      'public.full_ok',
      'public.no_pk',
      'public.nothing',
      'public.parted',
      'public.with_pk',
    ]);
    const pub = await sql(url, 'select puballtables, pubtruncate, pubviaroot from pg_publication');
    expect(pub.rows).toEqual([{ puballtables: true, pubtruncate: true, pubviaroot: true }]);
    // updates on the formerly keyless table work in the application
    await sql(url, `insert into no_pk values ('a'); update no_pk set v = 'b'; delete from no_pk`);
  });

  it('exclude publishes only the tables that have a key', async () => {
    const { url, error } = await setup('exclude');
    expect(error).toBeUndefined();
    expect(await publicationTables(url, 'pub')).toEqual(['public.full_ok', 'public.with_pk']);
    await sql(url, `insert into no_pk values ('a'); update no_pk set v = 'b'`);
  });

  it('creates FOR ALL TABLES when every table has a key, and corrects an existing publication', async () => {
    const url = await createDatabase(cluster);
    await sql(url, 'create table a (id int primary key); create publication pub2 for all tables');
    const client = await connectSql(url);
    try {
      await ensurePublication(client, {
        publicationName: 'pub1',
        tablesWithoutKey: 'refuse',
        logger: silentLogger,
      });
      await ensurePublication(client, {
        publicationName: 'pub2',
        tablesWithoutKey: 'refuse',
        logger: silentLogger,
      });
    } finally {
      await client.end();
    }
    const pubs = await sql(url, 'select pubname, puballtables, pubviaroot from pg_publication order by 1');
    expect(pubs.rows).toEqual([
      { pubname: 'pub1', puballtables: true, pubviaroot: true },
      { pubname: 'pub2', puballtables: true, pubviaroot: true },
    ]);
  });
});

describe('checkSource', () => {
  it('explains how to fix wal_level', async () => {
    const cluster = await startPostgres({ flavor: 'debian15', settings: { wal_level: 'replica' } });
    try {
      const client = await connectSql(cluster.url());
      try {
        await expect(checkSource(client)).rejects.toThrow(
          /wal_level=replica.*ALTER SYSTEM SET wal_level = logical/,
        );
      } finally {
        await client.end();
      }
    } finally {
      await cluster.stop();
    }
  });

  it('requires a role that may replicate', async () => {
    const cluster = await startPostgres({ flavor: 'embedded18' });
    try {
      await sql(cluster.url(), `create role weak login password 'weak'`);
      const client = await connectSql(cluster.url().replace('postgres:postgres@', 'weak:weak@'));
      try {
        await expect(checkSource(client)).rejects.toThrow(/ALTER ROLE <user> WITH REPLICATION/);
      } finally {
        await client.end();
      }
    } finally {
      await cluster.stop();
    }
  });
});
