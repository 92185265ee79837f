import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { restoreAndWait, waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';
import { sleep, type TidemarkProcess } from './support/tidemark-process.js';

/**
 * A table that joins the publication after the base snapshot, with rows it already had:
 * capture takes its table snapshot (lock, marker, copy) by itself, and restores after the
 * marker hold the table exactly as the source has it, changes before and after included.
 */
describe('per-table snapshots end to end', () => {
  let cluster: PostgresCluster;
  let dataDir: string;
  let tm: TidemarkProcess;

  let setup: EmbeddedSetup | undefined;

  beforeAll(async () => {
    // an explicit publication list: tables join it only when added
    setup = await startEmbeddedSetup(
      'debian15',
      `CREATE TABLE early (id int PRIMARY KEY, v text);
      INSERT INTO early VALUES (1, 'one');
      CREATE PUBLICATION tidemark_main FOR TABLE early;`,
    );
    ({ cluster, dataDir, tm } = setup);
  }, 120_000);

  afterAll(() => setup?.teardown());

  const rowsOf = async (database: string, table = 'late'): Promise<string[]> => {
    const c = await connect(cluster.url(database));
    try {
      const { rows } = await c.query<{ r: string }>(`SELECT t::text AS r FROM ${table} t ORDER BY id`);
      return rows.map((r) => r.r);
    } finally {
      await c.end();
    }
  };

  it('snapshots a table added to the publication and restores it exactly', async () => {
    const source = await connect(cluster.url('source'));
    await source.query(`CREATE TABLE late (id int PRIMARY KEY, v text);
      INSERT INTO late SELECT g, 'existing ' || g FROM generate_series(1, 2000) g;`);
    await source.query('ALTER PUBLICATION tidemark_main ADD TABLE late');
    // changes that stream before capture notices the table: the table snapshot replaces them
    await source.query(
      `UPDATE late SET v = 'changed early' WHERE id <= 10; INSERT INTO late VALUES (5000, 'early')`,
    );

    const tablesDir = path.join(dataDir, 'journal', 'main', 'base', 'tables');
    const deadline = Date.now() + 30_000;
    let manifests: string[] = [];
    while (Date.now() < deadline && manifests.length === 0) {
      await sleep(250);
      manifests = (await readdir(tablesDir, { recursive: true }).catch(() => [] as string[])).filter((f) =>
        f.endsWith('manifest.json'),
      );
    }
    expect(manifests, tm.log.slice(-3000)).toHaveLength(1);

    await source.query(`UPDATE late SET v = 'after' WHERE id % 100 = 0; DELETE FROM late WHERE id > 1990;
      INSERT INTO late VALUES (6000, 'after the marker')`);
    const { rows: want } = await source.query<{ r: string }>('SELECT t::text AS r FROM late t ORDER BY id');
    await waitUntilRestorable(tm, 'main', await serverNow(source));
    await source.end();

    const done = await restoreAndWait(tm, {
      source: 'main',
      target: { latest: true },
      into: { url: cluster.url('restored') },
    });
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    expect(await rowsOf('restored')).toEqual(want.map((r) => r.r));

    // a table restore of the late table alone: the base snapshot does not have it, its marker builds it
    const scoped = await restoreAndWait(tm, {
      source: 'main',
      target: { latest: true },
      tables: ['public.late'],
      into: { url: cluster.url('restored'), schema: 'late_copy' },
    });
    expect(scoped.state, JSON.stringify(scoped.error)).toBe('succeeded');
    expect(await rowsOf('restored', 'late_copy.late')).toEqual(want.map((r) => r.r));
    expect(await rowsOf('restored')).toEqual(want.map((r) => r.r));

    // a compaction after the marker takes the table into its snapshot
    const job = await tm.api<{ id: string; state: string }>('POST', '/v1/sources/main/snapshots');
    expect(job.status, JSON.stringify(job.body)).toBe(202);
    let state = job.body;
    for (let i = 0; i < 240 && (state.state === 'queued' || state.state === 'running'); i++) {
      await sleep(250);
      state = (await tm.api<typeof state>('GET', `/v1/snapshot-jobs/${job.body.id}`)).body;
    }
    expect(state.state, JSON.stringify(state)).toBe('succeeded');
    const plan = await tm.api<{ snapshotKind: string }>('POST', '/v1/restores?dryRun=true', {
      source: 'main',
      target: { latest: true },
      into: { url: cluster.url('dry') },
    });
    expect(plan.body.snapshotKind).toBe('compacted');
    const again = await restoreAndWait(tm, {
      source: 'main',
      target: { latest: true },
      into: { url: cluster.url('restored_compacted') },
    });
    expect(again.state, JSON.stringify(again.error)).toBe('succeeded');
    expect(await rowsOf('restored_compacted')).toEqual(want.map((r) => r.r));
  }, 90_000);
});
