import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createLogger,
  initChecksums,
  LocalObjectStore,
  parsePublicKey,
  verifySignedReport,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRole } from './api/api-ports.js';
import { API_TOKENS, bearer, TOKENS } from './api/testing/api-fixture.js';
import {
  relationOf,
  TxBuilder,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './engine/testing/journal-fixture.js';
import { buildRestoreApp, type RestoreApp } from './restore-app.js';

/**
 * The auditor's API over a real journal in a directory: the role matrix of every route,
 * verification jobs and signed reports, segment metadata, and the audit log.
 */
const T0 = 1_714_557_600_000_000n;
const SNAP = 0x1000n;
let dir: string;
let app: RestoreApp;
let segments: WrittenSegment[];

async function start(): Promise<RestoreApp> {
  return buildRestoreApp({
    store: new LocalObjectStore(path.join(dir, 'journal')),
    stateDir: path.join(dir, 'data', 'restores'),
    dataDir: path.join(dir, 'data'),
    maxConcurrentRestores: 1,
    tokens: API_TOKENS,
    logger: createLogger({ name: 'test', level: 'silent' }),
  });
}

beforeAll(async () => {
  await initChecksums();
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-audit-api-'));
  const store = new LocalObjectStore(path.join(dir, 'journal'));
  const snap = await writeSnapshot(store, {
    source: 'app',
    lsn: SNAP,
    snapshotTime: T0,
    tables: [{ schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] }],
  });
  const rel = relationOf(16384, 'public', 't', [['id', true]]);
  const b = new TxBuilder('app', SNAP, T0);
  const txs = Array.from({ length: 8 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i + 2)] } }]),
  );
  segments = await writeSegments(store, {
    source: 'app',
    snapshotLsn: SNAP,
    prevSha256: snap.sha256,
    groups: [0, 2, 4, 6].map((i) => txs.slice(i, i + 2)),
  });
  app = await start();
});

afterAll(async () => {
  await app?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const inject = (method: string, url: string, role?: ApiRole, payload?: unknown) =>
  app.app.inject({
    method: method as 'GET',
    url,
    headers: role ? bearer(TOKENS[role]) : {},
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

async function waitForJob(id: string, role: ApiRole = 'audit') {
  for (let i = 0; i < 200; i++) {
    const job = (await inject('GET', `/v1/verifications/${id}`, role)).json();
    if (job.state !== 'running') return job;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('verification did not finish');
}

describe('role matrix', () => {
  const RESTORE = { source: 'app', target: { latest: true }, into: { url: 'postgres://u:pw@127.0.0.1:1/x' } };
  const ALL: ApiRole[] = ['restore', 'audit', 'admin'];
  const cases: [string, string, ApiRole[], unknown?][] = [
    ['GET', '/v1/sources', ALL],
    ['GET', '/v1/sources/app', ALL],
    ['GET', '/v1/sources/app/segments', ALL],
    ['GET', '/v1/sources/app/restore-points', ALL],
    ['GET', '/v1/sources/app/snapshots', ALL],
    ['GET', '/v1/restores', ALL],
    ['GET', '/v1/restores/r_none', ALL],
    ['POST', '/v1/restores?dryRun=true', ['restore', 'admin'], RESTORE],
    ['DELETE', '/v1/restores/r_none', ['restore', 'admin']],
    ['POST', '/v1/sources/app/restore-points', ['restore', 'admin'], { name: 'p1' }],
    ['POST', '/v1/sources/app/snapshots', ['admin']],
    ['POST', '/v1/sources/app/verify', ['audit', 'admin']],
    ['POST', '/v1/sources/app/compare-regions', ['audit', 'admin'], { compareWith: 'elsewhere' }],
    ['GET', '/v1/snapshot-jobs/none', ALL],
    ['GET', '/v1/restores/r_none/events', ALL],
    ['POST', '/v1/verifications', ['audit', 'admin'], { source: 'app' }],
    ['GET', '/v1/verifications', ['audit', 'admin']],
    ['GET', '/v1/verifications/none/events', ['audit', 'admin']],
    ['GET', '/v1/reports', ['audit', 'admin']],
    ['GET', '/v1/reports/20260101T000000000Z-00000000', ['audit', 'admin']],
    ['GET', '/v1/audit-log', ['audit', 'admin']],
  ];
  it.each(cases)('%s %s is allowed for %j only', async (method, url, allowed, body) => {
    for (const role of ALL) {
      const res = await inject(method, url, role, body);
      if (allowed.includes(role)) expect([401, 403], `${role}: ${res.body}`).not.toContain(res.statusCode);
      else {
        expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
        expect(res.json().error.code).toBe('FORBIDDEN');
      }
    }
    expect((await inject(method, url, undefined, body)).statusCode).toBe(401);
  });

  it('serves the public key to anyone', async () => {
    const res = await inject('GET', '/v1/reports/public-key');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      algorithm: 'Ed25519',
      fingerprint: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
  });
});

describe('verifications and signed reports', () => {
  it('runs a verification as a job and stores a signed report that verifies offline', async () => {
    const started = await inject('POST', '/v1/verifications', 'audit', { source: 'app' });
    expect(started.statusCode).toBe(202);
    const events = await inject('GET', `/v1/verifications/${started.json().id}/events`, 'audit');
    expect(events.headers['content-type']).toContain('text/event-stream');
    expect(events.body).toMatch(/event: end\ndata: \{.*"state":"succeeded"/);
    const job = await waitForJob(started.json().id);
    expect(job).toMatchObject({
      state: 'succeeded',
      ok: true,
      progress: { phase: 'done', segmentsDone: 4, segmentsTotal: 4 },
    });
    const envelope = (await inject('GET', `/v1/reports/${job.reportId}`, 'audit')).json();
    expect(envelope.report).toMatchObject({
      id: job.reportId,
      source: 'app',
      ok: true,
      segments: 4,
      records: 8,
      firstLsn: '0/1100',
      lastLsn: '0/1800',
      chainHead: segments[3]!.sha256,
      store: expect.stringContaining('journal'),
      tidemarkVersion: expect.any(String),
      problems: [],
      summary: expect.stringMatching(/^OK: source app/),
    });
    const key = parsePublicKey((await inject('GET', '/v1/reports/public-key')).json().pem);
    expect(verifySignedReport(envelope, key).ok).toBe(true);
    const altered = { ...envelope, report: { ...envelope.report, ok: false } };
    expect(verifySignedReport(altered, key)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('altered'),
    });
    // stored durably under _reports/<source>/<id>.json
    const stored = await readFile(
      path.join(dir, 'journal', '_reports', 'app', `${job.reportId}.json`),
      'utf8',
    );
    expect(JSON.parse(stored)).toEqual(envelope);
  });

  it('verifies a range synchronously, and lists reports newest first with paging', async () => {
    const res = await inject('POST', '/v1/sources/app/verify', 'admin', { from: '0/1500', to: '0/1600' });
    expect(res.statusCode).toBe(200);
    // segment 2 holds the range; segments 1 and 3 prove its links
    expect(res.json()).toMatchObject({
      ok: true,
      segments: 3,
      range: { from: '0/1500', to: '0/1600' },
      reportId: expect.any(String),
    });
    const page1 = await inject('GET', '/v1/reports?source=app&limit=1', 'audit');
    expect(page1.json().map((r: { id: string }) => r.id)).toEqual([res.json().reportId]);
    const next = /<([^>]+)>; rel="next"/.exec(String(page1.headers.link))?.[1];
    expect(next).toBeDefined();
    const page2 = (await inject('GET', next as string, 'audit')).json();
    expect(page2).toHaveLength(1);
    expect(page2[0].id < res.json().reportId).toBe(true);
    const bad = await inject('POST', '/v1/verifications', 'audit', { source: 'app', from: 'yesterday' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('from');
  });

  it('keeps the generated signing key (mode 0600) across restarts', async () => {
    const file = path.join(dir, 'data', 'report-signing-key.pem');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const before = (await inject('GET', '/v1/reports/public-key')).json().fingerprint;
    const again = await start();
    try {
      expect(
        (await again.app.inject({ method: 'GET', url: '/v1/reports/public-key' })).json().fingerprint,
      ).toBe(before);
    } finally {
      await again.close();
    }
  });
});

describe('segment metadata', () => {
  it('lists key, LSN range, commit times, size and SHA-256, a page at a time', async () => {
    const res = await inject('GET', '/v1/sources/app/segments?limit=3', 'audit');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toHaveLength(3);
    expect(res.json()[0]).toEqual({
      key: segments[0]!.key,
      firstLsn: '0/1100',
      lastLsn: '0/1200',
      firstCommitTime: '2024-05-01T10:00:01.000000Z',
      lastCommitTime: '2024-05-01T10:00:02.000000Z',
      size: segments[0]!.bytes.byteLength,
      sha256: segments[0]!.sha256,
    });
    const next = /<([^>]+)>; rel="next"/.exec(String(res.headers.link))?.[1] as string;
    const rest = (await inject('GET', next, 'audit')).json();
    expect(rest.map((s: { key: string }) => s.key)).toEqual([segments[3]!.key]);
  });
});

describe('audit log', () => {
  it('records every request, allowed or denied, without tokens or bodies', async () => {
    await inject('POST', '/v1/restores?dryRun=true', 'audit', {
      source: 'app',
      target: { latest: true },
      into: { url: 'postgres://u:supersecret@h/x' },
    });
    await inject('GET', '/v1/sources/app', 'restore');
    await inject('GET', '/v1/sources', undefined);
    const entries: Record<string, unknown>[] = [];
    let url: string | undefined = '/v1/audit-log?limit=50';
    while (url) {
      const res = await inject('GET', url, 'audit');
      entries.push(...res.json());
      url = /<([^>]+)>; rel="next"/.exec(String(res.headers.link ?? ''))?.[1];
    }
    expect(entries).toContainEqual({
      time: expect.any(String),
      requestId: expect.any(String),
      token: 'auditor',
      role: 'audit',
      method: 'POST',
      route: '/v1/restores',
      status: 403,
      // denied before its body was read
      source: null,
    });
    expect(entries).toContainEqual(
      expect.objectContaining({
        token: 'dba',
        role: 'restore',
        route: '/v1/sources/:source',
        status: 200,
        source: 'app',
      }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ token: null, role: null, route: '/v1/sources', status: 401 }),
    );
    const file = path.join(dir, 'data', 'audit.log');
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('supersecret');
    for (const t of Object.values(TOKENS)) expect(text).not.toContain(t);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
