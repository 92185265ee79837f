import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createLogger,
  formatLsn,
  initChecksums,
  LocalObjectStore,
  parseRetentionDuration,
  snapshotManifestKey,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
 * Retention through the API over a real journal in a directory: GET /v1/sources reports
 * it and the window it leaves, POST /v1/sources/:source/gc (admin) lists with dryRun and
 * deletes without, and the collector's metrics are served.
 */
const T0 = 1_714_557_600_000_000n; // long before now: a 1 h retention leaves only the newest snapshot
const SNAP = 0x1000n;
let dir: string;
let store: LocalObjectStore;
let app: RestoreApp;
let segments: WrittenSegment[];
let compactedLsn: bigint;

beforeAll(async () => {
  await initChecksums();
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-retention-api-'));
  store = new LocalObjectStore(path.join(dir, 'journal'));
  const table = { schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] };
  const snap = await writeSnapshot(store, { source: 'app', lsn: SNAP, snapshotTime: T0, tables: [table] });
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
  const anchor = txs[3]!;
  compactedLsn = anchor.commitLsn;
  const compacted = await writeSnapshot(store, {
    source: 'app',
    lsn: compactedLsn,
    snapshotTime: anchor.commitTime,
    tables: [table],
  });
  const manifest = {
    ...compacted.manifest,
    kind: 'compacted',
    basedOn: { lsn: formatLsn(SNAP), manifestSha256: snap.sha256 },
    chainAnchor: {
      segmentKey: segments[1]!.key,
      sha256: segments[1]!.sha256,
      lastLsn: formatLsn(compactedLsn),
    },
  };
  await store.put(
    snapshotManifestKey('app', compactedLsn),
    new TextEncoder().encode(JSON.stringify(manifest)),
  );
  app = await buildRestoreApp({
    store,
    stateDir: path.join(dir, 'data', 'restores'),
    dataDir: path.join(dir, 'data'),
    maxConcurrentRestores: 1,
    tokens: API_TOKENS,
    logger: createLogger({ name: 'test', level: 'silent' }),
    retention: { forSource: () => parseRetentionDuration('1h') ?? null, gcIntervalMs: 0 },
  });
});

afterAll(async () => {
  await app?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('retention API', () => {
  it('reports the retention and a window that starts at the snapshot it keeps', async () => {
    const res = await app.app.inject({
      method: 'GET',
      url: '/v1/sources/app',
      headers: bearer(TOKENS.restore),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      retention: '1h',
      // the newest snapshot at or before now − 1 h: the compacted one, not the base
      earliestRestorableTime: '2024-05-01T10:00:04.000000Z',
    });
  });

  it('garbage-collects on demand for admins: a dry run lists, a real run deletes, metrics count', async () => {
    const gc = (query = '', role: 'admin' | 'restore' = 'admin', source = 'app') =>
      app.app.inject({
        method: 'POST',
        url: `/v1/sources/${source}/gc${query}`,
        headers: bearer(TOKENS[role]),
      });
    expect((await gc('', 'restore')).statusCode).toBe(403);
    expect((await gc('', 'admin', 'nope')).statusCode).toBe(404);

    const dry = await gc('?dryRun=true');
    expect(dry.statusCode).toBe(200);
    const planned = dry.json();
    expect(planned).toMatchObject({
      dryRun: true,
      retention: '1h',
      snapshots: 1,
      segments: 2,
      keptSnapshot: { lsn: formatLsn(compactedLsn) },
    });
    expect(planned.deleted.map((d: { key: string }) => d.key)).toEqual([
      snapshotManifestKey('app', SNAP),
      expect.stringMatching(/^app\/base\/0000000000001000\/tables\//),
      segments[0]!.key,
      segments[1]!.key,
    ]);
    expect(await store.head(snapshotManifestKey('app', SNAP))).toBeDefined();

    const real = await gc();
    expect(real.statusCode).toBe(200);
    expect(real.json()).toMatchObject({ dryRun: false, snapshots: 1, segments: 2, objects: 4 });
    expect(await store.head(snapshotManifestKey('app', SNAP))).toBeUndefined();
    expect(await store.head(segments[0]!.key)).toBeUndefined();
    for (const s of segments.slice(2)) expect(await store.head(s.key)).toBeDefined();
    // a second run finds nothing more to do
    expect((await gc()).json()).toMatchObject({ objects: 0 });

    const metrics = await app.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tidemark_gc_deleted_objects_total\{source="app"\} 4/);
    expect(metrics.body).toMatch(/tidemark_gc_last_run_timestamp_seconds\{source="app"\} \d/);
    // the journal that is left verifies: the chain now starts at the compacted snapshot's anchor
    const verified = await app.app.inject({
      method: 'POST',
      url: '/v1/sources/app/verify',
      headers: bearer(TOKENS.admin),
    });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toMatchObject({ ok: true, problems: [] });
    // restores still plan over what is left
    const plan = await app.app.inject({
      method: 'POST',
      url: '/v1/restores?dryRun=true',
      headers: bearer(TOKENS.restore),
      payload: { source: 'app', target: { latest: true }, into: { url: 'postgres://u@127.0.0.1:5/x' } },
    });
    expect(plan.statusCode).toBe(200);
    expect(plan.json().snapshotLsn).toBe(formatLsn(compactedLsn));
  });
});
