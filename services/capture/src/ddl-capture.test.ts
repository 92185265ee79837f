import { isTidemarkError, MESSAGE_PREFIX } from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './capture-logger.js';
import { ddlCaptureState, ensureDdlCapture, installDdlCapture } from './ddl-capture.js';
import { connectSql } from './pg-connection.js';
import { decodePgoutput } from './pgoutput-decoder.js';
import {
  createDatabase,
  FLAVORS,
  type PostgresCluster,
  sql,
  startPostgres,
} from './test-support/source-fixture.js';

/** The `tidemark.ddl` messages a pgoutput slot decodes, parsed, in commit order. */
async function ddlMessages(url: string, slot: string): Promise<Record<string, unknown>[]> {
  const res = await sql(
    url,
    `select data from pg_logical_slot_get_binary_changes($1, null, null,
       'proto_version', '1', 'publication_names', 'pub', 'messages', 'true')`,
    [slot],
  );
  const out: Record<string, unknown>[] = [];
  for (const row of res.rows as { data: Buffer }[]) {
    const msg = decodePgoutput(new Uint8Array(row.data));
    if (msg.tag === 'message' && msg.prefix === MESSAGE_PREFIX.ddl)
      out.push(JSON.parse(new TextDecoder().decode(msg.content)) as Record<string, unknown>);
  }
  return out;
}

function urlAs(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = password;
  return u.toString();
}

describe.concurrent.each(FLAVORS)('DDL capture on %s', (flavor) => {
  let cluster: PostgresCluster;
  beforeAll(async () => {
    cluster = await startPostgres({ flavor });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('installs idempotently and describes each schema change in its own transaction', async () => {
    const url = await createDatabase(cluster, 'ddl');
    const client = await connectSql(url);
    try {
      expect(await ddlCaptureState(client)).toBe('missing');
      expect((await installDdlCapture(client)).before).toBe('missing');
      expect(await ddlCaptureState(client)).toBe('current');
      expect((await installDdlCapture(client)).before).toBe('current');
      await client.query(`create publication pub for all tables`);
      await client.query(`select pg_create_logical_replication_slot('ddl_slot', 'pgoutput')`);
      await client.query(`create table t (id int primary key, a text, b int default 7)`);
      await client.query(`alter table t rename column a to a2; alter table t drop column b`);
      await client.query(`create index t_a2 on t (a2)`);
      await client.query(`create temp table scratch (x int)`);
      await client.query(`create unlogged table u (x int)`);
      await client.query(`drop table t`);
    } finally {
      await client.end();
    }
    const messages = await ddlMessages(url, 'ddl_slot');
    expect(messages.map((m) => `${String(m.event)} ${String(m.tag)}`)).toEqual([
      'ddl_command_end CREATE TABLE',
      'ddl_command_end ALTER TABLE',
      'ddl_command_end ALTER TABLE',
      'ddl_command_end CREATE INDEX',
      'sql_drop DROP TABLE',
    ]);
    const [created, renamed, dropped, indexed, gone] = messages as {
      tables?: { oid: number; name: string; columns: unknown[]; primaryKey: string[]; indexes: unknown[] }[];
      dropped?: { type: string; name: string; oid: number }[];
      statement: string;
    }[];
    const t = created!.tables![0]!;
    expect(t).toMatchObject({ schema: 'public', name: 't', kind: 'table', primaryKey: ['id'], indexes: [] });
    expect(t.columns).toEqual([
      { attnum: 1, name: 'id', type: 'integer', typeOid: 23, notNull: true, default: null },
      { attnum: 2, name: 'a', type: 'text', typeOid: 25, notNull: false, default: null },
      { attnum: 3, name: 'b', type: 'integer', typeOid: 23, notNull: false, default: '7' },
    ]);
    expect(renamed!.tables![0]!.columns.map((c) => (c as { name: string }).name)).toEqual(['id', 'a2', 'b']);
    expect(dropped!.tables![0]!.columns).toEqual([
      expect.objectContaining({ attnum: 1, name: 'id' }),
      expect.objectContaining({ attnum: 2, name: 'a2' }),
    ]);
    expect(indexed!.tables![0]!.oid).toBe(t.oid);
    expect(indexed!.tables![0]!.indexes).toEqual([
      { name: 't_a2', definition: 'CREATE INDEX t_a2 ON public.t USING btree (a2)' },
    ]);
    expect(gone!.dropped).toEqual(
      expect.arrayContaining([{ type: 'table', oid: t.oid, schema: 'public', name: 't' }]),
    );
    expect(gone!.statement).toBe('drop table t');
  });

  it('refuses clearly for a role that may not create event triggers, and capture only warns', async () => {
    const url = await createDatabase(cluster, 'ddl_role');
    await sql(
      url,
      `create role plain login password 'plain-pw'; grant create on database "${new URL(url).pathname.slice(1)}" to plain; grant create on schema public to plain`,
    );
    const client = await connectSql(urlAs(url, 'plain', 'plain-pw'));
    try {
      const err = await installDdlCapture(client).catch((e: unknown) => e);
      expect(isTidemarkError(err, 'SOURCE_NOT_READY')).toBe(true);
      expect((err as Error).message).toMatch(
        /role "plain" may not create event triggers.*superuser.*tidemark install --source-url/s,
      );
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (_: object, msg?: string) => void warnings.push(msg ?? '') };
      expect(await ensureDdlCapture(client, logger)).toBe('missing');
      expect(warnings).toEqual([expect.stringMatching(/DDL\) will not be captured.*tidemark install/)]);
      // nothing half-installed
      expect(await ddlCaptureState(client)).toBe('missing');
    } finally {
      await client.end();
    }
    // once a superuser installed it, the plain role's DDL is captured without failing
    const admin = await connectSql(url);
    try {
      await installDdlCapture(admin);
    } finally {
      await admin.end();
    }
    await sql(urlAs(url, 'plain', 'plain-pw'), `create table mine (id int)`);
    // and capture running as that role finds it installed, without a warning
    const plain = await connectSql(urlAs(url, 'plain', 'plain-pw'));
    try {
      const warned: string[] = [];
      const logger = { ...silentLogger, warn: (_: object, msg?: string) => void warned.push(msg ?? '') };
      expect(await ensureDdlCapture(plain, logger)).toBe('current');
      expect(warned).toEqual([]);
    } finally {
      await plain.end();
    }
  });
});
