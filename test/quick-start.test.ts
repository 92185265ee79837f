import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from './support/oracle-workload.js';
import { sleep, TidemarkProcess } from './support/tidemark-process.js';

/**
 * The README's first command: `tidemark up` with nothing configured starts a demo
 * PostgreSQL, prints a token and a restore request; pasting that request works.
 */
describe('quick start (no configuration)', () => {
  let dataDir: string | undefined;
  let tm: TidemarkProcess | undefined;

  afterAll(async () => {
    await tm?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('runs the printed restore request successfully', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'tidemark-quickstart-'));
    tm = new TidemarkProcess({ dataDir, env: { TIDEMARK_API_TOKENS: '' } });
    await tm.start();
    await sleep(300);
    const banner = tm.log;
    const token = /Admin token \(kept in the data directory\): (\S+)/.exec(banner)?.[1];
    expect(token, banner).toBeDefined();
    const body = /-d '(\{.*\})'/.exec(banner)?.[1];
    expect(body, banner).toBeDefined();
    const request = JSON.parse(body!) as { into: { url: string } };
    const url = /(http:\/\/127\.0\.0\.1:\d+)\/v1\/restores/.exec(banner)?.[1];
    const created = await fetch(`${url}/v1/restores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body!,
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    let state = 'queued';
    for (let i = 0; i < 300 && !['succeeded', 'failed'].includes(state); i++) {
      await sleep(100);
      const res = await fetch(`${url}/v1/restores/${id}`, { headers: { authorization: `Bearer ${token}` } });
      state = ((await res.json()) as { state: string }).state;
    }
    expect(state).toBe('succeeded');
    const restored = await connect(request.into.url);
    const { rows } = await restored.query<{ n: string }>('SELECT count(*)::text AS n FROM orders');
    await restored.end();
    expect(rows[0]!.n).toBe('1000');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    for (const name of [
      'tidemark_archive_rpo_seconds',
      'tidemark_capture_lag_bytes',
      'tidemark_capture_lag_seconds',
      'tidemark_slot_retained_wal_bytes',
      'tidemark_capture_produce_seconds_count',
      'tidemark_journal_segment_bytes_count',
      'tidemark_journal_upload_seconds_count',
    ]) {
      expect(metrics).toMatch(new RegExp(`^${name}\\{source="main"\\} \\d`, 'm'));
    }
  });
});
