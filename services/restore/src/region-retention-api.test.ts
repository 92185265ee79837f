import { cp, mkdtemp, rm } from 'node:fs/promises';
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
import { relationOf, TxBuilder, writeSegments, writeSnapshot } from './engine/testing/journal-fixture.js';
import { buildRestoreApp, type RestoreApp } from './restore-app.js';

/**
 * Retention of a replica region through the API: the region's listing applies the window,
 * `POST /v1/sources/:source/gc?region=` collects the region's store alone, and its metrics
 * carry the region.
 */
const T0 = 1_714_557_600_000_000n; // long before now: a 1 h retention keeps only the newest snapshot
let dir: string;
let primary: LocalObjectStore;
let region: LocalObjectStore;
let app: RestoreApp;
let second: bigint;
let firstSegment: string;

beforeAll(async () => {
  await initChecksums();
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-region-retention-api-'));
  primary = new LocalObjectStore(path.join(dir, 'journal'));
  const table = { schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] };
  const snap = await writeSnapshot(primary, {
    source: 'app',
    lsn: 0x1000n,
    snapshotTime: T0,
    tables: [table],
  });
  const b = new TxBuilder('app', 0x1000n, T0);
  const rel = relationOf(16384, 'public', 't', [['id', true]]);
  const txs = Array.from({ length: 4 }, (_, i) =>
    b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(i + 2)] } }]),
  );
  const segments = await writeSegments(primary, {
    source: 'app',
    snapshotLsn: 0x1000n,
    prevSha256: snap.sha256,
    groups: txs.map((t) => [t]),
  });
  firstSegment = segments[0]!.key;
  second = txs[1]!.commitLsn;
  await writeSnapshot(primary, {
    source: 'app',
    lsn: second,
    snapshotTime: txs[1]!.commitTime,
    tables: [table],
  });
  // the region holds the same journal (as the replicator leaves it)
  await cp(path.join(dir, 'journal'), path.join(dir, 'region'), { recursive: true });
  region = new LocalObjectStore(path.join(dir, 'region'));
  app = await buildRestoreApp({
    store: primary,
    stateDir: path.join(dir, 'data', 'restores'),
    dataDir: path.join(dir, 'data'),
    maxConcurrentRestores: 1,
    tokens: API_TOKENS,
    logger: createLogger({ name: 'test', level: 'silent' }),
    replicas: new Map([['dr', region]]),
    retention: { forSource: () => parseRetentionDuration('1h') ?? null, gcIntervalMs: 0 },
  });
});

afterAll(async () => {
  await app?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('retention in a replica region, through the API', () => {
  it("applies the window to the region's listing and collects the region's store on its own", async () => {
    const listed = await app.app.inject({
      method: 'GET',
      url: '/v1/sources/app?region=dr',
      headers: bearer(TOKENS.restore),
    });
    const primaryView = await app.app.inject({
      method: 'GET',
      url: '/v1/sources/app',
      headers: bearer(TOKENS.restore),
    });
    expect(listed.json()).toMatchObject({
      region: 'dr',
      retention: '1h',
      earliestRestorableTime: primaryView.json().earliestRestorableTime,
    });

    const gc = (query: string) =>
      app.app.inject({ method: 'POST', url: `/v1/sources/app/gc${query}`, headers: bearer(TOKENS.admin) });
    const unknown = await gc('?region=mars');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.message).toContain('known regions: dr');

    const dry = await gc('?region=dr&dryRun=true');
    expect(dry.json()).toMatchObject({
      region: 'dr',
      dryRun: true,
      snapshots: 1,
      segments: 2,
      keptSnapshot: { lsn: formatLsn(second) },
    });
    const real = await gc('?region=dr');
    expect(real.statusCode).toBe(200);
    expect(real.json()).toMatchObject({ region: 'dr', snapshots: 1, segments: 2, objects: 4 });
    expect(await region.head(snapshotManifestKey('app', 0x1000n))).toBeUndefined();
    expect(await region.head(firstSegment)).toBeUndefined();
    // the primary is another store: untouched until its own collection
    expect(await primary.head(snapshotManifestKey('app', 0x1000n))).toBeDefined();
    expect(await primary.head(firstSegment)).toBeDefined();

    const metrics = (await app.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(
      /tidemark_gc_deleted_objects_total\{(source="app",region="dr"|region="dr",source="app")\} 4/,
    );
    expect(metrics).not.toMatch(/tidemark_gc_deleted_objects_total\{source="app"\}/);
  });
});
