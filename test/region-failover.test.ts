import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type PostgresCluster, type S3Server, startPostgres, startS3Server } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedTopology } from './support/distributed-topology.js';
import { restoreAndWait, runWorkload } from './support/oracle-run.js';
import { connect, fingerprint, ORACLE_SCHEMA, oracleSteps, serverNow } from './support/oracle-workload.js';
import { sleep, TidemarkProcess } from './support/tidemark-process.js';

interface RegionView {
  name: string;
  lagSeconds: number | null;
  lagBytes: number | null;
  latestRestorableTime: string | null;
  lastError: string | null;
}
interface SourceView {
  name: string;
  latestRestorableTime: string | null;
  region?: string;
  regions?: RegionView[];
}

/**
 * Failover to a replica region: capture → Kafka → journal → primary S3, with the journal
 * replicating to a second S3 server (region `eu-west`). After a workload the region
 * catches up; then the primary S3 server is killed and every checkpoint of the workload is
 * restored from the region alone, and must equal the source at that instant.
 */
describe('restore from a replica region with the primary store down', () => {
  const topo = new DistributedTopology();
  let replica: S3Server;

  beforeAll(async () => {
    replica = await startS3Server({ bucket: 'tidemark-replica' });
    const replicas = {
      'eu-west': {
        s3: {
          bucket: replica.bucket,
          prefix: 'dr',
          endpoint: replica.endpoint,
          region: replica.region,
          forcePathStyle: true,
        },
      },
    };
    await topo.start(ORACLE_SCHEMA, { TIDEMARK_REPLICAS: JSON.stringify(replicas) });
  });

  afterAll(async () => {
    await topo.stop();
    await replica?.stop();
  });

  it('fails over to the region: same data at every checkpoint, nothing read from the primary', async () => {
    const checkpoints = await runWorkload(topo.cluster.url('source'), oracleSteps({ bigRows: 2_000 }));
    const last = checkpoints.at(-1)!.time;

    // the region catches up past the last checkpoint, and the lag is reported both ways
    let seen: SourceView | undefined;
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline) {
      const res = await topo.restore.api<SourceView[]>('GET', '/v1/sources');
      seen = res.body.find?.((s) => s.name === 'main');
      const region = seen?.regions?.find((r) => r.name === 'eu-west');
      if (region?.latestRestorableTime && region.latestRestorableTime >= last && region.lagSeconds !== null)
        break;
      await sleep(250);
    }
    const region = seen?.regions?.find((r) => r.name === 'eu-west');
    expect(region, JSON.stringify(seen)).toBeDefined();
    expect(region!.latestRestorableTime! >= last, JSON.stringify(seen)).toBe(true);
    expect(region!.lagSeconds).toBeLessThan(10);
    expect(region!.lastError).toBeNull();
    const metrics = await (await fetch(`${topo.journal.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tidemark_replication_lag_seconds\{region="eu-west",source="main"\} [\d.e-]+$/m);
    expect(metrics).toMatch(/^tidemark_replication_lag_bytes\{region="eu-west",source="main"\} \d+$/m);

    const compared = await topo.restore.api<{ consistent: boolean; different: { count: number } }>(
      'POST',
      '/v1/sources/main/compare-regions',
      { compareWith: 'eu-west' },
    );
    expect(compared.status, JSON.stringify(compared.body)).toBe(200);
    expect(compared.body, JSON.stringify(compared.body)).toMatchObject({
      consistent: true,
      different: { count: 0 },
    });

    // the primary store goes away
    await topo.s3.kill9();

    const listed = await topo.restore.api<SourceView[]>('GET', '/v1/sources?region=eu-west');
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.find((s) => s.name === 'main')).toMatchObject({ region: 'eu-west' });
    const unknown = await topo.restore.api<{ error: { code: string; message: string } }>(
      'POST',
      '/v1/restores',
      {
        source: 'main',
        from: 'mars',
        target: { time: last },
        into: { url: topo.cluster.url('never') },
      },
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('known regions: eu-west');

    for (const [i, cp] of checkpoints.entries()) {
      const database = `failover_${i}`;
      const done = await restoreAndWait(topo.restore, {
        source: 'main',
        from: 'eu-west',
        target: { time: cp.time },
        into: { url: topo.cluster.url(database) },
      });
      expect(done.state, `restore to "${cp.name}" at ${cp.time}: ${JSON.stringify(done.error)}`).toBe(
        'succeeded',
      );
      const client = await connect(topo.cluster.url(database));
      try {
        expect(await fingerprint(client), `state after "${cp.name}" at ${cp.time}`).toEqual(cp.fingerprint);
      } finally {
        await client.end();
      }
    }

    // the region can be verified with the primary down: the report is kept in the region and
    // listed, with the unreachable primary named
    const verified = await topo.restore.api<{ ok: boolean; reportId: string }>(
      'POST',
      '/v1/sources/main/verify',
      { region: 'eu-west' },
    );
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.ok, JSON.stringify(verified.body)).toBe(true);
    const reports = await fetch(`${topo.restore.baseUrl}/v1/reports?source=main`, {
      headers: { authorization: `Bearer ${topo.restore.token}` },
    });
    expect(reports.status).toBe(200);
    expect(await reports.json()).toContainEqual(
      expect.objectContaining({ id: verified.body.reportId, location: 'eu-west' }),
    );
    expect(reports.headers.get('tidemark-unreachable-locations')).toContain('primary');

    // the restore service stays ready, reporting the primary as degraded
    type Readiness = { checks: Record<string, { ok: boolean; detail?: string }> };
    let ready: { status: number; body: Readiness } | undefined;
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${topo.restore.baseUrl}/readyz`);
      ready = { status: res.status, body: (await res.json()) as Readiness };
      if (ready.body.checks.store?.detail?.startsWith('degraded')) break;
      await sleep(250);
    }
    expect(ready?.status).toBe(200);
    expect(ready?.body.checks.store?.detail).toMatch(/^degraded: primary .* unreachable/);
  });
});

/** `tidemark up` replicates too: here to a directory, and restores from it. */
describe('tidemark up with a directory region', () => {
  let cluster: PostgresCluster;
  let dir: string;
  let tm: TidemarkProcess;

  beforeAll(async () => {
    cluster = await startPostgres({ flavor: 'debian15' });
    const admin = await connect(cluster.url('postgres'));
    await admin.query('CREATE DATABASE source');
    await admin.end();
    const source = await connect(cluster.url('source'));
    await source.query('CREATE TABLE items (id int PRIMARY KEY, label text)');
    await source.end();
    dir = await mkdtemp(path.join(tmpdir(), 'tidemark-up-region-'));
    tm = new TidemarkProcess({
      sourceUrl: cluster.url('source'),
      dataDir: path.join(dir, 'data'),
      env: { TIDEMARK_REPLICAS: JSON.stringify({ 'dr-disk': { dir: path.join(dir, 'dr') } }) },
    });
    await tm.start();
  });

  afterAll(async () => {
    await tm?.stop();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('copies the journal to the directory and restores from it', async () => {
    const client = await connect(cluster.url('source'));
    await client.query(`INSERT INTO items SELECT g, 'first ' || g FROM generate_series(1, 300) g`);
    await sleep(20);
    const instant = await serverNow(client);
    await sleep(20);
    await client.query(`UPDATE items SET label = 'second' WHERE id <= 100`);
    await client.end();

    let region: RegionView | undefined;
    for (let i = 0; i < 120; i++) {
      const res = await tm.api<SourceView[]>('GET', '/v1/sources');
      region = res.body.find((s) => s.name === 'main')?.regions?.find((r) => r.name === 'dr-disk');
      if (region?.latestRestorableTime && region.latestRestorableTime > instant) break;
      await sleep(250);
    }
    expect((region?.latestRestorableTime ?? '') > instant, JSON.stringify(region)).toBe(true);
    expect(existsSync(path.join(dir, 'dr', 'main', 'tip'))).toBe(true);
    const metrics = await (await fetch(`${tm.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tidemark_replication_lag_bytes\{region="dr-disk",source="main"\} \d+$/m);

    const done = await restoreAndWait(tm, {
      source: 'main',
      from: 'dr-disk',
      target: { time: instant },
      into: { url: cluster.url('from_region') },
    });
    expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
    const restored = await connect(cluster.url('from_region'));
    try {
      const { rows } = await restored.query<{ n: string; first: string }>(
        `SELECT count(*) AS n, count(*) FILTER (WHERE label LIKE 'first %') AS first FROM items`,
      );
      expect(rows[0]).toEqual({ n: '300', first: '300' });
    } finally {
      await restored.end();
    }
    const job = await tm.api<{ from?: string }>('GET', `/v1/restores/${done.id}`);
    expect(job.body.from).toBe('dr-disk');
  });
});
