import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedSetup, startEmbeddedSetup } from './support/embedded-setup.js';
import { restoreAndWait, waitUntilRestorable } from './support/oracle-run.js';
import { connect, serverNow } from './support/oracle-workload.js';
import { TidemarkProcess } from './support/tidemark-process.js';

const KEY_A = `a:${randomBytes(32).toString('base64')}`;
const KEY_B = `b:${randomBytes(32).toString('base64')}`;

async function segmentFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.seg')) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

/** An encrypted, compressed journal through the real process: readable with the key, closed without. */
describe('encrypted journal end to end', () => {
  let setup: EmbeddedSetup;

  beforeAll(async () => {
    setup = await startEmbeddedSetup('debian15', `CREATE TABLE secrets (id int PRIMARY KEY, v text)`);
    await setup.tm.stop();
    setup.tm = new TidemarkProcess({
      sourceUrl: setup.cluster.url('source'),
      dataDir: setup.dataDir,
      env: { TIDEMARK_MASTER_KEY: KEY_A },
    });
    await setup.tm.start();
  });

  afterAll(async () => {
    await setup?.teardown();
  });

  it('restores with the key, survives key rotation, and fails closed with a wrong key', async () => {
    const source = await connect(setup.cluster.url('source'));
    await source.query(
      `INSERT INTO secrets SELECT g, 'plaintext-marker-' || g FROM generate_series(1, 500) g`,
    );
    await waitUntilRestorable(setup.tm, 'main', await serverNow(source));
    const files = await segmentFiles(path.join(setup.dataDir, 'journal'));
    const encrypted = [];
    for (const f of files) if (!(await readFile(f)).includes('plaintext-marker-')) encrypted.push(f);
    expect(encrypted.length).toBeGreaterThan(0);

    // rotation: B is added as the newest key; what A sealed still opens
    await setup.tm.stop();
    setup.tm = new TidemarkProcess({
      sourceUrl: setup.cluster.url('source'),
      dataDir: setup.dataDir,
      env: { TIDEMARK_MASTER_KEY: `${KEY_A},${KEY_B}` },
    });
    await setup.tm.start();
    await source.query(`INSERT INTO secrets VALUES (1000, 'after rotation')`);
    await waitUntilRestorable(setup.tm, 'main', await serverNow(source));
    await source.end();
    const ok = await restoreAndWait(setup.tm, {
      source: 'main',
      target: { latest: true },
      into: { url: setup.cluster.url('with_key') },
    });
    expect(ok.state, JSON.stringify(ok.error)).toBe('succeeded');
    const restored = await connect(setup.cluster.url('with_key'));
    const { rows } = await restored.query<{ n: string }>('SELECT count(*)::text AS n FROM secrets');
    await restored.end();
    expect(rows[0]!.n).toBe('501');

    // a wrong key: nothing is applied, the error says why
    await setup.tm.stop();
    setup.tm = new TidemarkProcess({
      sourceUrl: setup.cluster.url('source'),
      dataDir: setup.dataDir,
      env: {
        TIDEMARK_MASTER_KEY: `${'a'}:${randomBytes(32).toString('base64')},${'b'}:${randomBytes(32).toString('base64')}`,
      },
    });
    await setup.tm.start();
    const bad = await restoreAndWait(setup.tm, {
      source: 'main',
      target: { latest: true },
      into: { url: setup.cluster.url('wrong_key') },
    });
    expect(bad.state).toBe('failed');
    expect(bad.error?.code).toBe('DECRYPT_FAILED');
  });
});
