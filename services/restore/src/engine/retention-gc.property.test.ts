import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  encodeLease,
  formatLsn,
  initChecksums,
  LocalObjectStore,
  type Lsn,
  leaseKey,
  parseLsn,
  parseRetentionDuration,
  type RetentionDuration,
  sha256Hex,
  snapshotManifestKey,
  type TransactionRecord,
} from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from './engine-logger.js';
import { JournalCatalog } from './journal-catalog.js';
import { readJournal } from './journal-reader.js';
import { verifyJournal } from './journal-verifier.js';
import { planFromCatalog } from './restore-executor.js';
import { RetentionCollector } from './retention-collector.js';
import { relationOf, TxBuilder, writeSegments, writeSnapshot } from './testing/journal-fixture.js';

/**
 * Random schedules of commits, snapshots (base, then compacted ones anchored in the chain),
 * leases and garbage collections at random times, on a real local store. After every
 * collection: every sampled instant of the window [now − retention, latest] still plans,
 * and the plan reads (snapshot objects present, every segment present, checksummed and
 * chained); everything a live lease needs is still there. A seeded PRNG makes a failure
 * reproducible from the seed printed with it.
 */
const SOURCE = 'main';
const MIN = 60_000_000n; // a minute in µs
const rel = relationOf(16384, 'public', 't', [['id', true], 'v']);
const columns = [
  { name: 'id', type: 'integer' },
  { name: 'v', type: 'text' },
];

interface Model {
  /** every segment ever written (key, last LSN), in order */
  segments: { key: string; lastLsn: Lsn; sha256: string; lastTime: bigint }[];
  snapshots: { lsn: Lsn; time: bigint; sha256: string; dataKeys: string[] }[];
  /** snapshotLsn null: a restore that has not planned yet, holding everything */
  leases: { holder: string; snapshotLsn: Lsn | null; expiresAtMs: number }[];
}

function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

let root: string;
beforeAll(async () => {
  await initChecksums();
  root = await mkdtemp(path.join(tmpdir(), 'tidemark-gc-property-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function runSchedule(seed: number): Promise<{ collections: number; deleted: number; checks: number }> {
  const rand = prng(seed);
  const store = new LocalObjectStore(path.join(root, `s${seed}`));
  const retention = parseRetentionDuration(`${10 + Math.floor(rand() * 50)}m`) as RetentionDuration;
  const t0 = 1_714_557_600_000_000n;
  let clock = t0; // µs, the simulated wall clock
  const nowMs = () => Number(clock / 1000n);
  const catalog = new JournalCatalog(store, { retention: () => retention, now: nowMs });
  const collector = new RetentionCollector({
    store,
    catalog,
    retention: () => retention,
    logger: silentLogger,
    now: nowMs,
    leaseGraceMs: 30_000,
    clockSkewMs: 0,
  });
  const tx = new TxBuilder(SOURCE, 0x1000n, t0);
  const first = await writeSnapshot(store, {
    source: SOURCE,
    lsn: 0x1000n,
    snapshotTime: t0,
    tables: [{ schema: 'public', table: 't', columns, data: [['1', 'a']] }],
  });
  const model: Model = {
    segments: [],
    snapshots: [{ lsn: 0x1000n, time: t0, sha256: first.sha256, dataKeys: dataKeysOf(first.manifest) }],
    leases: [],
  };
  let prev = first.sha256;
  let lastTime = t0;
  let collections = 0;
  let deleted = 0;
  let checks = 0;

  for (let step = 0; step < 60; step++) {
    const r = rand();
    if (r < 0.55) {
      // a segment of 1-3 commits, a few seconds to minutes apart
      const txs: TransactionRecord[] = [];
      for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++)
        txs.push(
          tx.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(step * 10 + i), 'x'] } }], {
            timeStep: BigInt(1 + Math.floor(rand() * 240)) * 1_000_000n,
          }),
        );
      const last = txs[txs.length - 1] as TransactionRecord;
      const [written] = await writeSegments(store, {
        source: SOURCE,
        snapshotLsn: 0x1000n,
        prevSha256: prev,
        groups: [txs],
        prevPartitionMicros: lastTime - (lastTime % (60n * MIN)),
      });
      if (!written) throw new Error('unreachable');
      prev = written.sha256;
      lastTime = last.commitTime;
      model.segments.push({ key: written.key, lastLsn: last.commitLsn, sha256: written.sha256, lastTime });
      if (clock < lastTime) clock = lastTime;
    } else if (r < 0.7 && model.segments.length > 0) {
      // a compacted snapshot at the tip, anchored where the chain continues
      const anchor = model.segments[model.segments.length - 1] as Model['segments'][number];
      if (model.snapshots.some((s) => s.lsn === anchor.lastLsn)) continue;
      const basedOn = model.snapshots[model.snapshots.length - 1] as Model['snapshots'][number];
      const written = await writeSnapshot(store, {
        source: SOURCE,
        lsn: anchor.lastLsn,
        snapshotTime: anchor.lastTime,
        tables: [{ schema: 'public', table: 't', columns, data: [['1', 'a']] }],
      });
      const manifest = {
        ...written.manifest,
        kind: 'compacted',
        basedOn: { lsn: formatLsn(basedOn.lsn), manifestSha256: basedOn.sha256 },
        chainAnchor: { segmentKey: anchor.key, sha256: anchor.sha256, lastLsn: formatLsn(anchor.lastLsn) },
      };
      const bytes = new TextEncoder().encode(JSON.stringify(manifest, null, 2));
      await store.put(snapshotManifestKey(SOURCE, anchor.lastLsn), bytes);
      model.snapshots.push({
        lsn: anchor.lastLsn,
        time: anchor.lastTime,
        sha256: sha256Hex(bytes),
        dataKeys: dataKeysOf(written.manifest),
      });
    } else if (r < 0.8) {
      // a restore takes a lease on a snapshot it could plan on right now
      const state = await catalog.getSourceState(SOURCE);
      const usable = state.window?.snapshots ?? [];
      const pick = usable[Math.floor(rand() * usable.length)];
      if (!pick) continue;
      const holder = `r_${seed}_${step}`;
      const expiresAtMs = nowMs() + Math.floor(rand() * 40) * 60_000;
      const snapshotLsn = rand() < 0.2 ? null : parseLsn(pick.lsn);
      await store.put(
        leaseKey(SOURCE, holder),
        encodeLease({ source: SOURCE, holder, snapshotLsn, expiresAtMs, nowMs: nowMs() }),
      );
      model.leases.push({ holder, snapshotLsn, expiresAtMs });
    } else {
      // time passes, then a collection
      clock += BigInt(Math.floor(rand() * 30)) * MIN;
      const pinned = model.leases.some((l) => l.snapshotLsn === null && l.expiresAtMs + 30_000 >= nowMs());
      const report = await collector.collect(SOURCE);
      // a restore that has not planned yet holds the whole journal
      if (pinned) expect(report.objects).toBe(0);
      collections++;
      deleted += report.objects;
      checks += await checkInvariants(store, catalog, model, retention, clock, rand);
    }
  }
  return { collections, deleted, checks };
}

function dataKeysOf(manifest: { tables: readonly { dataKey: string | null }[] }): string[] {
  return manifest.tables.flatMap((t) => (t.dataKey === null ? [] : [t.dataKey]));
}

async function checkInvariants(
  store: LocalObjectStore,
  catalog: JournalCatalog,
  model: Model,
  retention: RetentionDuration,
  clock: bigint,
  rand: () => number,
): Promise<number> {
  const state = await catalog.getSourceState(SOURCE);
  const window = state.window;
  expect(window, 'a source with a snapshot stays restorable').toBeDefined();
  if (!window) return 0;
  const windowStart = clock - BigInt(retention.ms) * 1000n;
  // the earliest restorable instant is never later than the window start (unless the source is younger)
  const oldestEver = (model.snapshots[0] as Model['snapshots'][number]).time;
  expect(window.earliestTime <= (windowStart > oldestEver ? windowStart : oldestEver)).toBe(true);
  const instants = [
    window.earliestTime,
    window.latestTime,
    // the window start itself, when the journal reaches it
    windowStart < window.earliestTime
      ? window.earliestTime
      : windowStart > window.latestTime
        ? window.latestTime
        : windowStart,
  ];
  for (let i = 0; i < 4; i++) {
    const span = window.latestTime - window.earliestTime;
    instants.push(window.earliestTime + (span * BigInt(Math.floor(rand() * 1000))) / 1000n);
  }
  let checks = 0;
  for (const micros of instants) {
    const plan = await planFromCatalog(catalog, SOURCE, { kind: 'time', micros });
    expect(BigInt(plan.snapshot.snapshotTime) <= micros).toBe(true);
    for (const t of plan.snapshot.tables)
      if (t.dataKey) expect(await store.head(t.dataKey), t.dataKey).toBeDefined();
    for await (const _ of readJournal(store, plan)) {
      // every record read is verified (checksums, chain link, LSN order)
    }
    checks++;
  }
  // what a live lease needs is all there: its snapshot, and every segment after it up to the tip
  for (const lease of model.leases) {
    if (lease.expiresAtMs + 30_000 < Number(clock / 1000n) || lease.snapshotLsn === null) continue;
    const snap = model.snapshots.find((s) => s.lsn === lease.snapshotLsn);
    if (!snap) continue;
    expect(await store.head(snapshotManifestKey(SOURCE, snap.lsn)), `lease ${lease.holder}`).toBeDefined();
    for (const k of snap.dataKeys) expect(await store.head(k), k).toBeDefined();
    for (const s of model.segments)
      if (s.lastLsn > (lease.snapshotLsn as Lsn))
        expect(await store.head(s.key), `${lease.holder}: ${s.key}`).toBeDefined();
    checks++;
  }
  // the tip is never deleted
  const tip = model.segments[model.segments.length - 1];
  if (tip) expect(await store.head(tip.key)).toBeDefined();
  // what is left still verifies as one chain, from the oldest kept snapshot to the tip
  const verified = await verifyJournal(store, catalog, SOURCE);
  expect(verified.problems).toEqual([]);
  return checks;
}

describe('garbage collection over random schedules', () => {
  it('keeps every instant of the window restorable and everything a live lease needs', async () => {
    let deleted = 0;
    let collections = 0;
    for (let seed = 1; seed <= 12; seed++) {
      try {
        const r = await runSchedule(seed);
        deleted += r.deleted;
        collections += r.collections;
      } catch (err) {
        throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err });
      }
    }
    // the schedules did exercise deletion, not only keeping
    expect(collections).toBeGreaterThan(12);
    expect(deleted).toBeGreaterThan(0);
  }, 120_000);
});
