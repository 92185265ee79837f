import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostgresCluster } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { connect } from './support/oracle-workload.js';
import { sleep, type TidemarkProcess } from './support/tidemark-process.js';

/**
 * The auditor's workflow of the README ("For auditors") with the compiled CLI against a
 * running `tidemark up`: an audit token runs `tidemark verify`, the signed report is
 * checked offline with `tidemark verify-report` and the public key from the API; a
 * tampered report and a damaged segment are caught (non-zero exits).
 */
const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const ADMIN = 'tmk_e2e_admin_6f1c0d9a2b7e';
const AUDIT = 'tmk_e2e_audit_3a8d5c1e9f40';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, TIDEMARK_API_TOKEN: '' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('auditing a running Tidemark from the command line', () => {
  let cluster: PostgresCluster;
  let dataDir: string;
  let tm: TidemarkProcess;

  let setup: EmbeddedSetup | undefined;

  beforeAll(async () => {
    setup = await startEmbeddedSetup(
      'debian15',
      `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')`,
      {
        env: { TIDEMARK_API_TOKENS: `ops:admin:${ADMIN},auditor:audit:${AUDIT}` },
      },
    );
    ({ cluster, dataDir, tm } = setup);
    const source = await connect(cluster.url('source'));
    for (let i = 2; i < 40; i++) await source.query('INSERT INTO t VALUES ($1, $2)', [i, `v${i}`]);
    await source.end();
    // wait for a few segments
    const dir = path.join(dataDir, 'journal', 'main', 'segments');
    for (let i = 0; i < 100 && (await segmentFiles(dir)).length < 3; i++) await sleep(100);
  }, 120_000);

  afterAll(() => setup?.teardown());

  it('verifies, signs, checks the report offline, and catches tampering', async () => {
    const api = ['--api', tm.baseUrl, '--token', AUDIT];
    const verified = await cli(['verify', '--source', 'main', '--json', ...api]);
    expect(verified.code, verified.stderr).toBe(0);
    const envelope = JSON.parse(verified.stdout);
    expect(envelope.report).toMatchObject({ ok: true, source: 'main', problems: [] });
    expect(envelope.report.segments).toBeGreaterThanOrEqual(3);

    const reportFile = path.join(dataDir, 'report.json');
    await writeFile(reportFile, verified.stdout);
    const key = (await (await fetch(`${tm.baseUrl}/v1/reports/public-key`)).json()) as {
      pem: string;
      base64: string;
    };
    const keyFile = path.join(dataDir, 'report-key.pem');
    await writeFile(keyFile, key.pem);
    const good = await cli(['verify-report', reportFile, '--public-key', keyFile]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain('signature valid');
    expect(good.stdout).toContain('OK: source main');
    // the key inline, as base64, works too
    expect((await cli(['verify-report', reportFile, '--public-key', key.base64])).code).toBe(0);

    envelope.report.records += 1;
    await writeFile(reportFile, JSON.stringify(envelope));
    const bad = await cli(['verify-report', reportFile, '--public-key', keyFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('BAD SIGNATURE');

    // an auditor may not restore
    const restore = await cli([
      'restore',
      '--source',
      'main',
      '--latest',
      '--into',
      cluster.url('nope'),
      ...api,
    ]);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain('FORBIDDEN');

    // a flipped byte in an archived segment
    const files = await segmentFiles(path.join(dataDir, 'journal', 'main', 'segments'));
    const damaged = files[1] as string;
    const bytes = await readFile(damaged);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x20;
    await writeFile(damaged, bytes);
    const found = await cli(['verify', '--source', 'main', ...api]);
    expect(found.code).toBe(1);
    const key2 = path.relative(path.join(dataDir, 'journal'), damaged).split(path.sep).join('/');
    expect(found.stdout).toMatch(/^PROBLEMS: source main/);
    expect(found.stdout).toMatch(new RegExp(`(checksum-mismatch|malformed) +${key2.replace(/[.]/g, '\\.')}`));

    // every request above is in the audit log, under the token's name
    const log = await (
      await fetch(`${tm.baseUrl}/v1/audit-log?limit=1000`, { headers: { authorization: `Bearer ${AUDIT}` } })
    ).json();
    expect(log).toContainEqual(
      expect.objectContaining({ token: 'auditor', route: '/v1/verifications', status: 202 }),
    );
    expect(log).toContainEqual(
      expect.objectContaining({ token: 'auditor', route: '/v1/restores', status: 403 }),
    );
  }, 60_000);
});

async function segmentFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.seg')) out.push(p);
    }
  };
  await walk(dir);
  return out;
}
