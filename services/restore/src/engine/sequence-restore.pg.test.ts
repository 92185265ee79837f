import type { SnapshotSequence } from '@tidemark/shared';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSequences, settleSequences } from './sequence-restore.js';

/**
 * createSequences / settleSequences on a real server, as the restore's last step runs
 * them: tables hold restored rows, sequences come from a manifest.
 */
const BASE = {
  dataType: 'bigint',
  increment: '1',
  minValue: '1',
  maxValue: '9223372036854775807',
  start: '1',
  cache: '1',
  cycle: false,
} as const;

let cluster: PostgresCluster;
let client: pg.Client;

beforeAll(async () => {
  cluster = await startPostgres({ flavor: 'debian15' });
  client = new pg.Client({ connectionString: cluster.url('postgres') });
  await client.connect();
}, 120_000);

afterAll(async () => {
  await client?.end();
  await cluster?.stop();
});

describe('restoring sequences', () => {
  it('attaches serial, shared and identity sequences and sets them past every value in use', async () => {
    await client.query(`
      CREATE TABLE orders (id bigint NOT NULL PRIMARY KEY, note text);
      CREATE TABLE archive (id bigint NOT NULL PRIMARY KEY);
      CREATE TABLE tickets (id int NOT NULL PRIMARY KEY);
      INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 70) g;
      INSERT INTO archive VALUES (500);
      INSERT INTO tickets VALUES (7), (12);`);
    const sequences: SnapshotSequence[] = [
      // snapshot said 40; the replay inserted up to 70
      {
        ...BASE,
        schema: 'public',
        name: 'orders_id_seq',
        lastValue: '40',
        ownedBy: { schema: 'public', table: 'orders', column: 'id' },
        identity: null,
      },
      // not owned, used by the default of archive.id
      { ...BASE, schema: 'public', name: 'shared_seq', lastValue: '10', ownedBy: null, identity: null },
      {
        ...BASE,
        dataType: 'integer',
        maxValue: '2147483647',
        schema: 'public',
        name: 'tickets_id_seq',
        lastValue: null,
        ownedBy: { schema: 'public', table: 'tickets', column: 'id' },
        identity: 'always',
      },
      // its table is not in this restore: left out
      {
        ...BASE,
        schema: 'public',
        name: 'gone_id_seq',
        lastValue: '5',
        ownedBy: { schema: 'public', table: 'gone', column: 'id' },
        identity: null,
      },
    ];
    await createSequences(client, sequences);
    await client.query(`ALTER TABLE orders ALTER COLUMN id SET DEFAULT nextval('orders_id_seq'::regclass)`);
    await client.query(`ALTER TABLE archive ALTER COLUMN id SET DEFAULT nextval('shared_seq'::regclass)`);
    expect(await settleSequences(client, sequences)).toEqual([]);

    const next = async (sql: string) => (await client.query<{ id: string }>(sql)).rows[0]!.id;
    expect(await next(`INSERT INTO orders (note) VALUES ('new') RETURNING id::text`)).toBe('71');
    expect(await next('INSERT INTO archive DEFAULT VALUES RETURNING id::text')).toBe('501');
    expect(await next('INSERT INTO tickets DEFAULT VALUES RETURNING id::text')).toBe('13');
    const attached = await client.query(
      `SELECT pg_get_serial_sequence('orders', 'id') AS orders, pg_get_serial_sequence('tickets', 'id') AS tickets,
              (SELECT attidentity FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attname = 'id') AS identity,
              to_regclass('gone_id_seq') IS NULL AS gone`,
    );
    expect(attached.rows[0]).toEqual({
      orders: 'public.orders_id_seq',
      tickets: 'public.tickets_id_seq',
      identity: 'a',
      gone: true,
    });
  });
});
