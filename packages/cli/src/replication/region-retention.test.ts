import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  formatLsn,
  initChecksums,
  LocalObjectStore,
  type Lsn,
  type ObjectStore,
  parseLsn,
  parseRetentionDuration,
  parseSegmentKey,
  snapshotManifestKey,
  tipKey,
} from '@tidemark/shared';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../services/restore/src/engine/engine-logger.js';
import { JournalCatalog } from '../../../../services/restore/src/engine/journal-catalog.js';
import { RestoreLeases } from '../../../../services/restore/src/engine/journal-leases.js';
import { RetentionCollector } from '../../../../services/restore/src/engine/retention-collector.js';
import {
  relationOf,
  TxBuilder,
  writeSegments,
  writeSnapshot,
} from '../../../../services/restore/src/engine/testing/journal-fixture.js';
import { RegionReplicator } from './region-replicator.js';

/**
 * Retention in replica regions: each region is collected in its own store, with its own
 * kept snapshot and its own leases; the replicator neither mirrors deletions nor copies
 * back what a region's collector let go. Real directories on both sides.
 */
const SOURCE = 'main';
const REL = relationOf(16384, 'public', 't', [['id', true]]);
const RETENTION = parseRetentionDuration('1h')!;
const TABLE = { schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] };

/** A primary journal whose commits are months old (so every snapshot is older than a 1 h window). */
class Journal {
  readonly tx: TxBuilder;
  prev = '';
  lastLsn: Lsn = 0x1000n;
  lastTime: bigint;
  constructor(
    readonly store: ObjectStore,
    start = 1_790_000_000_000_000n,
    private readonly timeStep = 1_000_000n,
  ) {
    this.tx = new TxBuilder(SOURCE, 0x1000n, start);
    this.lastTime = start;
  }

  async init(): Promise<void> {
    this.prev = (
      await writeSnapshot(this.store, {
        source: SOURCE,
        lsn: 0x1000n,
        snapshotTime: this.lastTime,
        tables: [TABLE],
      })
    ).sha256;
  }

  /** `n` segments of one transaction each; answers their keys */
  async append(n: number): Promise<string[]> {
    const txs = Array.from({ length: n }, (_, i) =>
      this.tx.tx([REL], [{ op: 'insert', rel: 0, new: { values: [String(i)] } }], {
        timeStep: this.timeStep,
      }),
    );
    const written = await writeSegments(this.store, {
      source: SOURCE,
      snapshotLsn: 0x1000n,
      prevSha256: this.prev,
      groups: txs.map((t) => [t]),
    });
    this.prev = written.at(-1)!.sha256;
    this.lastLsn = txs.at(-1)!.commitLsn;
    this.lastTime = txs.at(-1)!.commitTime;
    return written.map((w) => w.key);
  }

  /** a snapshot at the last commit so far (as compaction writes one) */
  async snapshot(): Promise<Lsn> {
    await writeSnapshot(this.store, {
      source: SOURCE,
      lsn: this.lastLsn,
      snapshotTime: this.lastTime,
      tables: [TABLE],
    });
    return this.lastLsn;
  }
}

const collector = (store: ObjectStore) =>
  new RetentionCollector({
    store,
    catalog: new JournalCatalog(store),
    retention: () => RETENTION,
    logger: silentLogger,
  });
const windowCatalog = (store: ObjectStore) => new JournalCatalog(store, { retention: () => RETENTION });
const silent = { info() {}, warn() {}, error() {} };

/** mulberry32: a small seeded PRNG, so a failing sequence can be replayed from its seed */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What a restore from `store` inside its window needs is there: from the oldest snapshot
 * the (retention-filtered) catalog offers, every segment up to the tip, contiguous.
 */
async function expectRestorable(store: ObjectStore, what: string): Promise<void> {
  const catalog = windowCatalog(store);
  if (!(await catalog.listSourceNames()).includes(SOURCE)) return; // a region not seeded yet
  const state = await catalog.getSourceState(SOURCE);
  if (!state.tip) return;
  const oldest = state.window?.snapshots[0];
  expect(oldest, `${what}: a usable snapshot`).toBeDefined();
  let expected = parseLsn(oldest!.lsn);
  const segments: { key: string; first: Lsn; last: Lsn }[] = [];
  for await (const o of store.list(`${SOURCE}/segments/`)) {
    const p = parseSegmentKey(o.key)!;
    if (p.lastLsn > expected && o.key <= state.tip.segmentKey)
      segments.push({ key: o.key, first: p.firstLsn, last: p.lastLsn });
  }
  for (const s of segments) {
    expect(formatLsn(s.first), `${what}: the segment after ${formatLsn(expected)}`).toBe(
      formatLsn(expected + 0x100n),
    );
    expected = s.last;
  }
  expect(formatLsn(expected), `${what}: the chain reaches the tip`).toBe(state.tip.lastLsn);
}

async function keys(store: ObjectStore, prefix = `${SOURCE}/`): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

describe('retention in replica regions', () => {
  let dir: string;
  let primary: LocalObjectStore;
  let region: LocalObjectStore;
  let journal: Journal;
  let replicator: RegionReplicator;

  beforeAll(async () => {
    await initChecksums();
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tidemark-region-gc-'));
    primary = new LocalObjectStore(path.join(dir, 'primary'));
    region = new LocalObjectStore(path.join(dir, 'region'));
    journal = new Journal(primary);
    await journal.init();
    replicator = new RegionReplicator({ region: 'eu-west', primary, replica: region, logger: silent });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a lagging region keeps the snapshot its own window needs after the primary let it go', async () => {
    const early = await journal.append(3);
    const earlyLast = journal.lastLsn;
    await replicator.runPass(); // the region holds S0 and 3 segments, then stops copying (lag)
    const later = await journal.append(3);
    const s1 = await journal.snapshot();
    const tail = await journal.append(1);

    const primaryGc = await collector(primary).collect(SOURCE);
    expect(primaryGc.keptSnapshot?.lsn).toBe(formatLsn(s1));
    expect(await primary.head(snapshotManifestKey(SOURCE, 0x1000n))).toBeUndefined();

    // the region's kept snapshot comes from what the region holds: S0, its only one
    const regionBefore = await keys(region);
    const regionGc = await collector(region).collect(SOURCE);
    expect(regionGc).toMatchObject({ objects: 0, keptSnapshot: { lsn: formatLsn(0x1000n) } });
    expect(await keys(region)).toEqual(regionBefore);
    const lagging = await windowCatalog(region).getSource(SOURCE);
    expect(lagging.latestLsn).toBe(formatLsn(earlyLast));
    expect(lagging.earliestRestorableTime).toBe(
      (await new JournalCatalog(region).getSource(SOURCE)).earliestRestorableTime,
    );

    // catching up: the base is gone from the primary, yet the region's tip moves on from S1
    await replicator.runPass();
    expect(await region.get(tipKey(SOURCE))).toEqual(await primary.get(tipKey(SOURCE)));
    expect(await region.head(tail[0]!)).toBeDefined();
    // the segments the primary deleted before the region got them are outside the window:
    // the region's catalog starts at S1, as the primary's does
    const caught = await windowCatalog(region).getSource(SOURCE);
    const primaryView = await windowCatalog(primary).getSource(SOURCE);
    expect(caught.earliestRestorableTime).toBe(primaryView.earliestRestorableTime);
    expect(caught.latestRestorableTime).toBe(primaryView.latestRestorableTime);
    expect(await region.head(later[0]!)).toBeUndefined();

    // now the region's own collector lets S0 and the early segments go, and a later pass
    // does not copy anything back
    const second = await collector(region).collect(SOURCE);
    expect(second.keptSnapshot?.lsn).toBe(formatLsn(s1));
    for (const key of [snapshotManifestKey(SOURCE, 0x1000n), ...early])
      expect(await region.head(key)).toBeUndefined();
    const copied = replicator.status.copiedObjects;
    await replicator.runPass();
    expect(replicator.status.copiedObjects).toBe(copied);
  });

  it('leases are per store: a region restore holds the region, a primary lease does not copy back', async () => {
    const early = await journal.append(3);
    const s1 = await journal.snapshot();
    await journal.append(2);
    await replicator.runPass();

    // a restore reading the region writes its lease there (restore-runner: the store it reads)
    const lease = await new RestoreLeases(silentLogger).acquire(region, SOURCE, 'r_region');
    await lease.narrow(0x1000n);
    try {
      const held = await collector(region).collect(SOURCE);
      expect(held).toMatchObject({ objects: 0, heldBy: ['r_region'] });
      // the primary's collector does not see it, and need not: that restore reads only the region
      const primaryGc = await collector(primary).collect(SOURCE);
      expect(primaryGc.heldBy).toEqual([]);
      expect(primaryGc.segments).toBe(early.length);
      expect(await region.head(snapshotManifestKey(SOURCE, 0x1000n))).toBeDefined();
      for (const key of early) expect(await region.head(key)).toBeDefined();
    } finally {
      await lease.release();
    }
    // once the restore ended the region is collected like the primary
    const done = await collector(region).collect(SOURCE);
    expect(done).toMatchObject({
      snapshots: 1,
      segments: early.length,
      keptSnapshot: { lsn: formatLsn(s1) },
    });
    expect(await keys(region)).toEqual(await keys(primary));
  });

  it('a primary still holding old objects (its own lease) does not make the replicator copy them back', async () => {
    const early = await journal.append(3);
    await journal.snapshot();
    await journal.append(2);
    await replicator.runPass();
    const lease = await new RestoreLeases(silentLogger).acquire(primary, SOURCE, 'r_primary');
    try {
      expect((await collector(primary).collect(SOURCE)).objects).toBe(0);
      expect((await collector(region).collect(SOURCE)).segments).toBe(early.length);
      const copied = replicator.status.copiedObjects;
      const more = await journal.append(1);
      await replicator.runPass();
      expect(replicator.status.copiedObjects).toBe(copied + 2); // the new segment and the tip
      expect(await region.head(more[0]!)).toBeDefined();
      for (const key of early) expect(await region.head(key)).toBeUndefined();
      expect(await region.get(tipKey(SOURCE))).toEqual(await primary.get(tipKey(SOURCE)));
    } finally {
      await lease.release();
    }
  });

  it('random interleavings of appends, snapshots, lagging copies and collections keep every window restorable', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const random = prng(seed);
      const base = path.join(dir, `seed-${seed}`);
      const p = new LocalObjectStore(path.join(base, 'primary'));
      const r = new LocalObjectStore(path.join(base, 'region'));
      // commits 5 min apart from 4 h ago: snapshots fall on both sides of the 1 h window start
      const j = new Journal(p, BigInt(Date.now() - 4 * 3_600_000) * 1000n, 300_000_000n);
      await j.init();
      await j.append(1);
      const copier = new RegionReplicator({ region: 'eu-west', primary: p, replica: r, logger: silent });
      const steps: string[] = [];
      for (let step = 0; step < 40; step++) {
        const x = random();
        const op =
          x < 0.3
            ? 'append'
            : x < 0.45
              ? 'snapshot'
              : x < 0.65
                ? 'replicate'
                : x < 0.8
                  ? 'gc-primary'
                  : 'gc-region';
        steps.push(op);
        if (op === 'append') await j.append(1 + Math.floor(random() * 2));
        else if (op === 'snapshot') await j.snapshot();
        else if (op === 'replicate') await copier.runPass();
        else if (op === 'gc-primary') await collector(p).collect(SOURCE);
        else if (await r.head(tipKey(SOURCE))) await collector(r).collect(SOURCE);
        const what = `seed ${seed} after ${steps.join(' ')}`;
        await expectRestorable(p, `primary, ${what}`);
        await expectRestorable(r, `region, ${what}`);
      }
    }
  }, 30_000);
});
