import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type PostgresCluster, startPostgres } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checkpoint, restoreAndWait, runWorkload, waitUntilRestorable } from './support/oracle-run.js';
import { connect, fingerprint, ORACLE_SCHEMA, oracleSteps } from './support/oracle-workload.js';
import { TidemarkProcess } from './support/tidemark-process.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const KEY = `a:${randomBytes(32).toString('base64')}`;
const WRONG_KEY = `a:${randomBytes(32).toString('base64')}`;

interface SnapshotRow {
  lsn: string;
  kind: string;
  encrypted: boolean;
  usable: boolean;
  manifestKey: string;
}

/**
 * Compaction through the real `tidemark up` process: workload, a compaction snapshot on
 * demand (CLI), more workload; restores to instants after it start from the compacted
 * snapshot and equal the source; a damaged compacted snapshot is skipped and reported; a
 * wrong master key fails closed.
 */
describe('compaction snapshots end to end', () => {
  let cluster: PostgresCluster;
  let dataDir: string;
  let tm: TidemarkProcess;
  const steps = oracleSteps({ bigRows: 5_000 });
  let before: Checkpoint[];
  let after: Checkpoint[];
  let compacted: SnapshotRow;

  const start = async (key: string) => {
    tm = new TidemarkProcess({
      sourceUrl: cluster.url('source'),
      dataDir,
      env: { TIDEMARK_MASTER_KEY: key, TIDEMARK_COMPACTION_INTERVAL_MS: '0' },
    });
    await tm.start();
  };
  const restoreInto = async (database: string, target: Record<string, unknown>) => {
    const done = await restoreAndWait(tm, { source: 'main', target, into: { url: cluster.url(database) } });
    return done as typeof done & { progress?: { snapshotsSkipped?: string[] } };
  };
  const fingerprintOf = async (database: string) => {
    const client = await connect(cluster.url(database));
    try {
      return await fingerprint(client);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    cluster = await startPostgres({ flavor: 'debian15' });
    const admin = await connect(cluster.url('postgres'));
    await admin.query('CREATE DATABASE source');
    await admin.end();
    const source = await connect(cluster.url('source'));
    await source.query(ORACLE_SCHEMA);
    await source.end();
    dataDir = await mkdtemp(path.join(tmpdir(), 'tidemark-e2e-compaction-'));
    await start(KEY);
  }, 120_000);

  afterAll(async () => {
    await tm?.stop();
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('builds a compaction snapshot on demand and restores from it exactly', async () => {
    before = await runWorkload(cluster.url('source'), steps.slice(0, 5));
    await waitUntilRestorable(tm, 'main', before.at(-1)!.time);

    const cli = await run(process.execPath, [CLI, 'snapshot', '--source', 'main'], {
      env: { ...process.env, TIDEMARK_API_URL: tm.baseUrl, TIDEMARK_API_TOKEN: tm.token },
    });
    expect(cli.stdout).toMatch(
      /^snapshot [0-9A-F]+\/[0-9A-F]+ built from [0-9A-F]+\/[0-9A-F]+ \+ \d+ transactions/,
    );

    const listed = await tm.api<SnapshotRow[]>('GET', '/v1/sources/main/snapshots');
    expect(listed.status).toBe(200);
    expect(listed.body.map((s) => s.kind)).toEqual(['base', 'compacted']);
    expect(listed.body.every((s) => s.encrypted && s.usable)).toBe(true);
    compacted = listed.body[1]!;
    // no scratch database is left behind
    const admin = await connect(cluster.url('postgres'));
    const scratch = await admin.query(
      `SELECT datname FROM pg_database WHERE datname LIKE 'tidemark_compact_%'`,
    );
    await admin.end();
    expect(scratch.rows).toEqual([]);

    after = await runWorkload(cluster.url('source'), steps.slice(5));
    await waitUntilRestorable(tm, 'main', after.at(-1)!.time);

    const last = after.at(-1)!;
    const plan = await tm.api<{ snapshotLsn: string; snapshotKind: string }>(
      'POST',
      '/v1/restores?dryRun=true',
      { source: 'main', target: { time: last.time }, into: { url: cluster.url('dry') } },
    );
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    expect(plan.body).toMatchObject({ snapshotLsn: compacted.lsn, snapshotKind: 'compacted' });
    // an instant before the compaction starts from the base snapshot
    const early = await tm.api<{ snapshotKind: string }>('POST', '/v1/restores?dryRun=true', {
      source: 'main',
      target: { time: before[2]!.time },
      into: { url: cluster.url('dry') },
    });
    expect(early.body.snapshotKind).toBe('base');

    for (const [i, cp] of [after[0]!, after[2]!, last, before[2]!].entries()) {
      const done = await restoreInto(`after_${i}`, { time: cp.time });
      expect(done.state, `restore to "${cp.name}": ${JSON.stringify(done.error)}`).toBe('succeeded');
      expect(await fingerprintOf(`after_${i}`), `state after "${cp.name}"`).toEqual(cp.fingerprint);
    }
  }, 180_000);

  it('skips a damaged compacted snapshot, reports it, and restores from the base', async () => {
    const manifest = JSON.parse(await readFile(path.join(dataDir, 'journal', compacted.manifestKey), 'utf8'));
    const table = manifest.tables.find(
      (t: { dataKey: string | null; rows: number }) => t.dataKey && t.rows > 100,
    );
    const file = path.join(dataDir, 'journal', table.dataKey);
    const original = await readFile(file);
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.byteLength / 2)]! ^= 0xff;
    await writeFile(file, damaged);
    try {
      const last = after.at(-1)!;
      const done = await restoreInto('damaged', { time: last.time });
      expect(done.state, JSON.stringify(done.error)).toBe('succeeded');
      expect(done.progress?.snapshotsSkipped?.join('\n')).toMatch(
        new RegExp(`snapshot ${compacted.lsn} \\(compacted\\) failed verification`),
      );
      expect(await fingerprintOf('damaged')).toEqual(last.fingerprint);
      expect(tm.log).toMatch(/failed verification and was not used/);
    } finally {
      await writeFile(file, original);
    }
  }, 120_000);

  it('fails closed when the snapshot files do not decrypt with the configured key', async () => {
    await tm.stop();
    await start(WRONG_KEY);
    const done = await restoreInto('wrong_key', { latest: true });
    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('DECRYPT_FAILED');
    expect(done.error?.message).toMatch(/^snapshot data .* cannot be decrypted/);
    // nothing of the snapshot's COPY text is readable in the store
    const files = (await readdir(path.join(dataDir, 'journal', 'main', 'base'), { recursive: true })).filter(
      (f) => f.endsWith('.tmb'),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const f of files)
      expect((await readFile(path.join(dataDir, 'journal', 'main', 'base', f))).includes('account 1')).toBe(
        false,
      );
  }, 120_000);
});
