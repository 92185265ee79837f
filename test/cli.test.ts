import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const run = promisify(execFile);

/** The client commands against a running `tidemark up`, as a DBA would type them. */
describe('tidemark CLI client', () => {
  let setup: EmbeddedSetup;
  const cli = (...args: string[]) =>
    run(process.execPath, [CLI, ...args, '--api', setup.tm.baseUrl, '--token', setup.tm.token]).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );

  beforeAll(async () => {
    setup = await startEmbeddedSetup(
      'debian15',
      `CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one')`,
    );
  });

  afterAll(async () => {
    await setup?.teardown();
  });

  it('lists sources', async () => {
    const res = await cli('sources');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^SOURCE\s+EARLIEST RESTORABLE/m);
    expect(res.stdout).toMatch(/^main\s+\d{4}-/m);
    const json = JSON.parse((await cli('sources', '--json')).stdout) as { name: string }[];
    expect(json.map((s) => s.name)).toEqual(['main']);
  });

  it('restores to a time with progress and a final summary, then lists the restore', async () => {
    const source = await connect(setup.cluster.url('source'));
    await source.query(`INSERT INTO items VALUES (2, 'two')`);
    const t = (await serverNow(source)).replace('T', ' ').replace('Z', '+00');
    await source.query(`INSERT INTO items VALUES (3, 'after')`);
    await source.end();
    await waitUntilRestorable(setup.tm, 'main', new Date().toISOString());
    const res = await cli('restore', '--source', 'main', '--to', t, '--into', setup.cluster.url('from_cli'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/succeeded in [\d.]+ s: 1 tables loaded/);
    const restored = await connect(setup.cluster.url('from_cli'));
    const { rows } = await restored.query('SELECT id FROM items ORDER BY id');
    await restored.end();
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
    const list = await cli('restores');
    expect(list.stdout).toMatch(/succeeded\s+done/);
  });

  it('restores to a named restore point', async () => {
    const created = await setup.tm.api('POST', '/v1/sources/main/restore-points', { name: 'before-deploy' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const source = await connect(setup.cluster.url('source'));
    await source.query(`DELETE FROM items`);
    await source.end();
    await waitUntilRestorable(setup.tm, 'main', new Date().toISOString());
    const res = await cli(
      'restore',
      '--source',
      'main',
      '--restore-point',
      'before-deploy',
      '--into',
      setup.cluster.url('from_rp'),
    );
    expect(res.code, res.stderr).toBe(0);
    const restored = await connect(setup.cluster.url('from_rp'));
    const { rows } = await restored.query('SELECT id FROM items ORDER BY id');
    await restored.end();
    expect(rows.map((r) => r.id)).toEqual([1, 2, 3]);
  });

  it('explains what is wrong, with a non-zero exit', async () => {
    const bad = await cli(
      'restore',
      '--source',
      'main',
      '--to',
      'yesterday',
      '--into',
      setup.cluster.url('nope'),
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--to "yesterday" is not a time/);
    const badLsn = await cli(
      'restore',
      '--source',
      'main',
      '--lsn',
      'nope',
      '--into',
      setup.cluster.url('nope'),
    );
    expect(badLsn.stderr).toMatch(/target\.lsn/);
    const missing = await cli('restore', '--source', 'main', '--into', setup.cluster.url('nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/exactly one target/);
    const unknown = await cli('restore', '--source', 'nope', '--latest', '--into', setup.cluster.url('nope'));
    expect(unknown.stderr).toMatch(/UNKNOWN_SOURCE/);
  });
});
