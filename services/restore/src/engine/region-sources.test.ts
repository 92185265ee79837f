import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  type ObjectStore,
  sourceRegistryKey,
  tipKey,
} from '@tidemark/shared';
import { FaultInjectingStore } from '@tidemark/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRestoreRequest } from '../api/request-schemas.js';
import { JournalCatalog } from './journal-catalog.js';
import { RegionCatalogs } from './region-catalogs.js';
import { compareRegions } from './region-compare.js';
import { RegionalSources } from './region-sources.js';
import { writeReplicationStatus } from './replication-status.js';
import {
  relationOf,
  TxBuilder,
  type WrittenSegment,
  writeSegments,
  writeSnapshot,
} from './testing/journal-fixture.js';

const SOURCE = 'main';
const REL = relationOf(16384, 'public', 't', [['id', true], 'v']);
const T0 = 1_790_000_000_000_000n;

/** A store whose reads fail: a region that cannot be reached. */
class UnreachableStore extends FaultInjectingStore {
  override get(): Promise<Uint8Array> {
    return Promise.reject(new Error('connect ECONNREFUSED'));
  }
  override head(): Promise<undefined> {
    return Promise.reject(new Error('connect ECONNREFUSED'));
  }
}

describe('replica regions in the restore service', () => {
  let dir: string;
  let primary: LocalObjectStore;
  let replica: LocalObjectStore;
  let segments: WrittenSegment[];

  beforeEach(async () => {
    await initChecksums();
    dir = await mkdtemp(path.join(tmpdir(), 'tidemark-regions-'));
    primary = new LocalObjectStore(path.join(dir, 'primary'));
    replica = new LocalObjectStore(path.join(dir, 'replica'));
    const snap = await writeSnapshot(primary, {
      source: SOURCE,
      lsn: 0x1000n,
      snapshotTime: T0,
      tables: [{ schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] }],
    });
    const tx = new TxBuilder(SOURCE, 0x1000n, T0);
    segments = await writeSegments(primary, {
      source: SOURCE,
      snapshotLsn: 0x1000n,
      prevSha256: snap.sha256,
      groups: [1, 2, 3].map((i) => [
        tx.tx([REL], [{ op: 'insert', rel: 0, new: { values: [String(i), 'v'] } }]),
      ]),
    });
    // the region holds everything up to the first segment, with its own tip there
    for await (const o of primary.list('')) {
      if (o.key.includes('/segments/') && o.key !== segments[0]!.key) continue;
      if (o.key === tipKey(SOURCE)) continue;
      await replica.put(o.key, await primary.get(o.key));
    }
    const tip = JSON.parse(new TextDecoder().decode(await primary.get(tipKey(SOURCE))));
    await replica.put(
      tipKey(SOURCE),
      new TextEncoder().encode(
        JSON.stringify({
          ...tip,
          segmentKey: segments[0]!.key,
          firstLsn: '0/1100',
          lastLsn: '0/1100',
          lastCommitTime: String(T0 + 1_000_000n),
          sha256: segments[0]!.sha256,
        }),
      ),
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const regionsOf = (replicas: Record<string, ObjectStore>) =>
    new RegionCatalogs(
      { store: primary, catalog: new JournalCatalog(primary) },
      new Map(Object.entries(replicas)),
    );

  it('lists each source with how far each region is behind', async () => {
    const sources = new RegionalSources(regionsOf({ 'eu-west': replica }));
    const [main] = await sources.listSources();
    expect(main!.latestRestorableTime).toBe('2026-09-21T14:13:23.000000Z');
    expect(main!.regions).toEqual([
      {
        name: 'eu-west',
        lagSeconds: 2,
        lagBytes: segments[1]!.bytes.length + segments[2]!.bytes.length,
        latestRestorableTime: '2026-09-21T14:13:21.000000Z',
        lastError: null,
      },
    ]);
    await writeReplicationStatus(primary, {
      region: 'eu-west',
      lastError: 'eu-west: access denied',
      lastErrorAt: new Date().toISOString(),
      lastSuccessAt: null,
      updatedAt: new Date().toISOString(),
    });
    const one = await sources.getSource(SOURCE);
    expect(one.regions?.[0]?.lastError).toBe('eu-west: access denied');
  });

  it('lists from a region alone with ?region, and names the known regions for an unknown one', async () => {
    const broken = new UnreachableStore(primary);
    const regions = new RegionCatalogs(
      { store: broken, catalog: new JournalCatalog(broken) },
      new Map([['eu-west', replica]]),
    );
    const sources = new RegionalSources(regions);
    const listed = await sources.listSources({ region: 'eu-west' });
    expect(listed).toMatchObject([
      { name: SOURCE, region: 'eu-west', latestRestorableTime: '2026-09-21T14:13:21.000000Z' },
    ]);
    await expect(sources.listSources({ region: 'mars' })).rejects.toSatisfy(
      (err) =>
        isTidemarkError(err, 'BAD_REQUEST') &&
        err.message === 'region: unknown region "mars"; known regions: eu-west',
    );
    expect(() => regionsOf({}).resolve('eu-west')).toThrow(/no replica region is configured/);
  });

  it('reports a region that cannot be read instead of failing the listing', async () => {
    const sources = new RegionalSources(
      regionsOf({ down: new UnreachableStore(replica), 'eu-west': replica }),
    );
    const [main] = await sources.listSources();
    expect(main!.regions?.map((r) => [r.name, r.lastError?.startsWith('region unreadable') ?? null])).toEqual(
      [
        ['down', true],
        ['eu-west', null],
      ],
    );
  });

  it('compares a source object by object between the primary and a region', async () => {
    const regions = regionsOf({ 'eu-west': replica });
    const lagging = await compareRegions(regions, SOURCE, undefined, 'eu-west');
    expect(lagging).toMatchObject({
      region: 'primary',
      compareWith: 'eu-west',
      missing: { count: 2, keys: [segments[1]!.key, segments[2]!.key] },
      different: { count: 0 },
      extra: { count: 0 },
      consistent: true,
    });
    // a damaged copy and a lost registry entry are not lag
    const damaged = new Uint8Array(segments[0]!.bytes);
    damaged[40] = damaged[40]! ^ 1;
    await replica.put(segments[0]!.key, damaged);
    await replica.delete(sourceRegistryKey(SOURCE));
    const bad = await compareRegions(regions, SOURCE, 'eu-west', 'primary');
    expect(bad).toMatchObject({
      region: 'eu-west',
      different: { count: 1, keys: [segments[0]!.key] },
      extra: { count: 3 },
      consistent: false,
    });
  });

  it('accepts "from" in a restore request only as a region name', () => {
    const base = { source: SOURCE, target: { latest: true }, into: { url: 'postgres://h/db' } };
    expect(parseRestoreRequest({ ...base, from: 'eu-west' }).from).toBe('eu-west');
    expect(() => parseRestoreRequest({ ...base, from: 'EU West' })).toThrow(
      'from: expected a replica region name: 1 to 32 characters out of a-z 0-9 -',
    );
  });
});
