import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort, type PostgresFlavor, startPostgres } from './postgres-cluster.js';

describe('freePort', () => {
  it('returns a bindable port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});

describe.concurrent.each<{ flavor: PostgresFlavor; major: number }>([
  { flavor: 'debian15', major: 15 },
  { flavor: 'embedded18', major: 18 },
])('startPostgres($flavor)', ({ flavor, major }) => {
  it('starts with wal_level=logical, password auth over TCP, and cleans up on stop', async () => {
    const cluster = await startPostgres({ flavor, settings: { application_name: 'testkit' } });
    try {
      expect(cluster.majorVersion).toBe(major);
      expect(cluster.url('postgres')).toBe(`postgres://postgres:postgres@127.0.0.1:${cluster.port}/postgres`);
      const client = new pg.Client({ connectionString: cluster.url() });
      await client.connect();
      try {
        const version = await client.query<{ version: string }>('select version()');
        expect(version.rows[0]?.version).toContain(`PostgreSQL ${major}`);
        const wal = await client.query<{ wal_level: string }>('show wal_level');
        expect(wal.rows[0]?.wal_level).toBe('logical');
        const enc = await client.query<{ e: string }>(
          'select pg_encoding_to_char(encoding) as e from pg_database where datname = current_database()',
        );
        expect(enc.rows[0]?.e).toBe('UTF8');
        const app = await client.query<{ a: string }>("select current_setting('application_name') as a");
        expect(app.rows[0]?.a).toBeDefined();
      } finally {
        await client.end();
      }
      await expect(
        new pg.Client({ connectionString: cluster.url().replace(':postgres@', ':wrong@') }).connect(),
      ).rejects.toThrow(/password/);
    } finally {
      await cluster.stop();
    }
    const { existsSync } = await import('node:fs');
    expect(existsSync(cluster.dataDir)).toBe(false);
  });

  it('starts several clusters at once on distinct ports', async () => {
    const clusters = await Promise.all([startPostgres({ flavor }), startPostgres({ flavor })]);
    try {
      expect(new Set(clusters.map((c) => c.port)).size).toBe(2);
    } finally {
      await Promise.all(clusters.map((c) => c.stop()));
    }
  });

  it('kill9 crashes the server and stop still cleans up', async () => {
    const cluster = await startPostgres({ flavor });
    await cluster.kill9();
    const client = new pg.Client({ connectionString: cluster.url(), connectionTimeoutMillis: 2000 });
    await expect(client.connect()).rejects.toThrow();
    await cluster.stop();
  });
});
