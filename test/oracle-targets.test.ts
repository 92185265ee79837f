import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { restoreAndWait, runWorkload, waitUntilRestorable } from './support/oracle-run.js';
import { connect, fingerprint, ORACLE_SCHEMA, oracleSteps, serverNow } from './support/oracle-workload.js';
import type { TidemarkProcess } from './support/tidemark-process.js';

/**
 * The oracle for the target kinds other than time: after each workload step a marker
 * transaction (whose xid we keep), the WAL position after it, and a named restore point.
 * A restore to the marker's xid (inclusive or not), to that LSN or to that restore point must
 * equal the source as it was there. The marker table is outside the oracle's fingerprint, so
 * its row count tells whether the marker itself was restored.
 */
interface Mark {
  readonly step: number;
  readonly xid: string;
  readonly lsn: string;
  readonly restorePoint: string;
}

describe('point-in-time oracle for lsn, xid and restore point targets', () => {
  let setup: EmbeddedSetup;
  let cluster: PostgresCluster;
  let tm: TidemarkProcess;

  beforeAll(async () => {
    setup = await startEmbeddedSetup(
      'debian15',
      `${ORACLE_SCHEMA}; CREATE TABLE oracle_marker (step int PRIMARY KEY, xid text NOT NULL)`,
    );
    ({ cluster, tm } = setup);
  });

  afterAll(() => setup?.teardown());

  async function restoredState(database: string): Promise<{ fp: Record<string, string>; markers: number }> {
    const client = await connect(cluster.url(database));
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM oracle_marker');
      return { fp: await fingerprint(client), markers: rows[0]!.n };
    } finally {
      await client.end();
    }
  }

  it('restores exactly to each marker by xid (inclusive and exclusive), LSN and restore point', async () => {
    const marks: Mark[] = [];
    const markers = await connect(cluster.url('source'));
    let checkpoints: Awaited<ReturnType<typeof runWorkload>>;
    try {
      checkpoints = await runWorkload(cluster.url('source'), oracleSteps({ bigRows: 2_000 }), async (i) => {
        const { rows } = await markers.query<{ xid: string }>(
          'INSERT INTO oracle_marker VALUES ($1, pg_current_xact_id()::text) RETURNING xid',
          [i],
        );
        const lsn = (await markers.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))
          .rows[0]!.lsn;
        const restorePoint = `after-step-${i}`;
        const created = await tm.api('POST', '/v1/sources/main/restore-points', { name: restorePoint });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        marks.push({ step: i, xid: rows[0]!.xid, lsn, restorePoint });
      });
      await waitUntilRestorable(tm, 'main', await serverNow(markers));
    } finally {
      await markers.end();
    }
    expect(marks.length).toBeGreaterThan(5);

    // a few steps spread over the workload keep the test short; every kind at each of them
    const chosen = [marks[1]!, marks[Math.floor(marks.length / 2)]!, marks.at(-1)!];
    for (const mark of chosen) {
      // checkpoint 0 is the start; step i's checkpoint is i + 1, taken before its marker
      const expected = checkpoints[mark.step + 1]!.fingerprint;
      const cases: { name: string; target: Record<string, unknown>; markers: number }[] = [
        { name: 'xid_in', target: { xid: mark.xid, inclusive: true }, markers: mark.step + 1 },
        { name: 'xid_ex', target: { xid: mark.xid, inclusive: false }, markers: mark.step },
        { name: 'lsn', target: { lsn: mark.lsn }, markers: mark.step + 1 },
        { name: 'rp', target: { restorePoint: mark.restorePoint }, markers: mark.step + 1 },
      ];
      for (const c of cases) {
        const database = `${c.name}_${mark.step}`;
        const done = await restoreAndWait(tm, {
          source: 'main',
          target: c.target,
          into: { url: cluster.url(database) },
        });
        const what = `${c.name} after step ${mark.step} (${JSON.stringify(c.target)})`;
        expect(done.state, `${what}: ${JSON.stringify(done.error)}`).toBe('succeeded');
        const state = await restoredState(database);
        expect(state.fp, what).toEqual(expected);
        expect(state.markers, what).toBe(c.markers);
      }
    }
  });
});
