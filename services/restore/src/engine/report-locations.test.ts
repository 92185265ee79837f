import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  type ObjectStore,
  S3ObjectStore,
} from '@tidemark/shared';
import { FaultInjectingStore } from '@tidemark/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { FALLBACK_LOCATION, ReportLocations } from './report-locations.js';
import { ReportSigner } from './report-signer.js';
import { relationOf, TxBuilder, writeSegments, writeSnapshot } from './testing/journal-fixture.js';
import { VerificationService } from './verification-service.js';

/**
 * Verifying a region while the primary store is unreachable (a real S3 client against a
 * port nothing listens on): the report goes to the region's store, or to the data
 * directory when the region refuses it, and listing and reading say what could not be read.
 */
const SOURCE = 'app';
let dir: string;
let primary: S3ObjectStore;

beforeAll(async () => {
  await initChecksums();
  dir = await mkdtemp(path.join(tmpdir(), 'tidemark-reports-'));
  const port = await closedPort();
  primary = new S3ObjectStore({
    bucket: 'tidemark-down',
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'k', secretAccessKey: 's' },
    maxAttempts: 1,
    retryBaseDelayMs: 1,
    retryMaxDelayMs: 1,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** a port that was free a moment ago: connections to it are refused */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}

async function regionJournal(store: ObjectStore): Promise<void> {
  const snap = await writeSnapshot(store, {
    source: SOURCE,
    lsn: 0x1000n,
    snapshotTime: 1_790_000_000_000_000n,
    tables: [{ schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] }],
  });
  const b = new TxBuilder(SOURCE, 0x1000n, 1_790_000_000_000_000n);
  const rel = relationOf(16384, 'public', 't', [['id', true]]);
  await writeSegments(store, {
    source: SOURCE,
    snapshotLsn: 0x1000n,
    prevSha256: snap.sha256,
    groups: [[b.tx([rel], [{ op: 'insert', rel: 0, new: { values: ['2'] } }])]],
  });
}

async function setup(name: string) {
  const region = new FaultInjectingStore(new LocalObjectStore(path.join(dir, name, 'region')));
  await regionJournal(region);
  const fallback = new LocalObjectStore(path.join(dir, name, 'local-reports'));
  const reports = new ReportLocations(
    [
      { name: 'primary', store: primary },
      { name: 'eu-west', store: region, sources: () => new JournalCatalog(region).listSourceNames() },
    ],
    { name: FALLBACK_LOCATION, store: fallback },
    silentLogger,
  );
  const service = new VerificationService({
    resolve: (r) => {
      if (r !== 'eu-west') throw new Error(`only eu-west is configured here, not ${r}`);
      return { store: region, catalog: new JournalCatalog(region) };
    },
    reports,
    signer: await ReportSigner.load({ dataDir: path.join(dir, name) }),
    logger: silentLogger,
  });
  return { region, fallback, reports, service };
}

describe('verification reports with the primary down', () => {
  it('stores a region verification in the region and lists it, naming the unreachable primary', async () => {
    const { region, reports, service } = await setup('in-region');
    const signed = await service.run({ source: SOURCE, region: 'eu-west' });
    expect(signed.report.ok).toBe(true);
    expect(await region.head(`_reports/${SOURCE}/${signed.report.id}.json`)).toBeDefined();

    const page = await reports.list(undefined, { limit: 10 });
    expect(page.items).toEqual([
      {
        id: signed.report.id,
        source: SOURCE,
        key: `_reports/${SOURCE}/${signed.report.id}.json`,
        location: 'eu-west',
      },
    ]);
    expect(page.unreachable.map((u) => u.location)).toEqual(['primary']);
    expect(await reports.get(signed.report.id)).toEqual(JSON.parse(JSON.stringify(signed)));
    // an id no reachable store holds may be in the primary: unavailable, not "not found"
    const missing = await reports.get('20260101T000000000Z-00000000').catch((e: unknown) => e);
    expect(isTidemarkError(missing, 'STORE_UNAVAILABLE')).toBe(true);
    expect((missing as Error).message).toMatch(/primary/);
  });

  it('falls back to the data directory when the region refuses the report', async () => {
    const { region, fallback, reports, service } = await setup('fallback');
    region.beforePut = (key) => {
      if (key.startsWith('_reports/')) throw new Error('region is read-only for this service');
    };
    const signed = await service.run({ source: SOURCE, region: 'eu-west' });
    expect(await fallback.head(`_reports/${SOURCE}/${signed.report.id}.json`)).toBeDefined();
    expect(await region.head(`_reports/${SOURCE}/${signed.report.id}.json`)).toBeUndefined();
    const page = await reports.list(SOURCE, { limit: 10 });
    expect(page.items.map((i) => [i.id, i.location])).toEqual([[signed.report.id, FALLBACK_LOCATION]]);
    expect((await reports.get(signed.report.id)).signature).toEqual(signed.signature);
  });
});
