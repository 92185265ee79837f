import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { restoreAndWait } from './support/oracle-run.js';
import { connect } from './support/oracle-workload.js';
import type { TidemarkProcess } from './support/tidemark-process.js';

/**
 * Named restore points and xid targets through a running `tidemark up`: the API writes the
 * restore point into the source it captures, and a restore to it (or to just before a
 * transaction) has exactly the rows the source had there.
 */
describe('restore points and xid targets against a running embedded Tidemark', () => {
  let cluster: PostgresCluster;
  let tm: TidemarkProcess;

  let setup: EmbeddedSetup | undefined;

  beforeAll(async () => {
    setup = await startEmbeddedSetup(
      'debian15',
      `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')`,
    );
    ({ cluster, tm } = setup);
  });

  afterAll(() => setup?.teardown());

  async function rows(database: string): Promise<string[]> {
    const c = await connect(cluster.url(database));
    try {
      return (await c.query<{ r: string }>('SELECT t::text AS r FROM t ORDER BY id')).rows.map((r) => r.r);
    } finally {
      await c.end();
    }
  }

  it('creates a restore point in the source, lists it, and restores to it and to an xid', async () => {
    const source = await connect(cluster.url('source'));
    await source.query(`INSERT INTO t VALUES (2, 'b')`);
    const created = await tm.api<{ name: string; lsn: string }>('POST', '/v1/sources/main/restore-points', {
      name: 'before-deploy',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ name: 'before-deploy', lsn: expect.stringMatching(/\//) });
    await source.query('BEGIN');
    const { rows: xidRows } = await source.query<{ x: string }>('SELECT txid_current()::text AS x');
    await source.query(`UPDATE t SET v = 'broken'`);
    await source.query('COMMIT');
    await source.end();
    const duplicate = await tm.api('POST', '/v1/sources/main/restore-points', { name: 'before-deploy' });
    expect(duplicate.status).toBe(409);

    let listed: { name: string }[] = [];
    for (let i = 0; i < 150 && listed.length === 0; i++) {
      listed = (await tm.api<{ name: string }[]>('GET', '/v1/sources/main/restore-points')).body;
      if (listed.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(listed).toEqual([expect.objectContaining({ name: 'before-deploy', lsn: expect.any(String) })]);

    const toPoint = await restoreAndWait(tm, {
      source: 'main',
      target: { restorePoint: 'before-deploy' },
      into: { url: cluster.url('at_restore_point') },
    });
    expect(toPoint.state, JSON.stringify(toPoint)).toBe('succeeded');
    expect(await rows('at_restore_point')).toEqual(['(1,a)', '(2,b)']);

    // the update is archived once a heartbeat after it is: retry until the xid is found
    for (let i = 0; ; i++) {
      const beforeXid = await restoreAndWait(tm, {
        source: 'main',
        target: { xid: xidRows[0]!.x, inclusive: false },
        into: { url: cluster.url(`before_xid_${i}`) },
      });
      if (beforeXid.state === 'succeeded') {
        expect(await rows(`before_xid_${i}`)).toEqual(['(1,a)', '(2,b)']);
        break;
      }
      expect(i).toBeLessThan(20);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
});
