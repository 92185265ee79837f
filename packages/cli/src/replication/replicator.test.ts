import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JournalCatalog } from '@tidemark/restore';
import {
  initChecksums,
  LocalObjectStore,
  type ObjectStore,
  S3ObjectStore,
  sourceRegistryPrefix,
  tipKey,
} from '@tidemark/shared';
import {
  FaultInjectingStore,
  type S3FaultProxy,
  type S3Server,
  startS3FaultProxy,
  startS3Server,
} from '@tidemark/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  relationOf,
  TxBuilder,
  writeSegments,
  writeSnapshot,
} from '../../../../services/restore/src/engine/testing/journal-fixture.js';
import { RegionReplicator } from './region-replicator.js';
import { Replicator } from './replicator.js';

const SOURCE = 'main';
const REL = relationOf(16384, 'public', 't', [['id', true], 'v']);
const silent = { info() {}, warn() {}, error() {} };

/** A primary journal: snapshot, then `segments` segments of two transactions each, tip on the last. */
class PrimaryJournal {
  readonly tx = new TxBuilder(SOURCE, 0x1000n, 1_790_000_000_000_000n);
  private prev = '';

  constructor(readonly store: ObjectStore) {}

  async init(): Promise<void> {
    const snap = await writeSnapshot(this.store, {
      source: SOURCE,
      lsn: 0x1000n,
      snapshotTime: 1_790_000_000_000_000n,
      tables: [
        {
          schema: 'public',
          table: 't',
          columns: [
            { name: 'id', type: 'integer' },
            { name: 'v', type: 'text' },
          ],
          data: [
            ['1', 'a'],
            ['2', null],
          ],
        },
      ],
    });
    this.prev = snap.sha256;
  }

  async append(segments: number): Promise<void> {
    const groups = Array.from({ length: segments }, (_, i) => [
      this.tx.tx([REL], [{ op: 'insert', rel: 0, new: { values: [String(i), 'x'.repeat(100)] } }]),
      this.tx.tx([REL], [{ op: 'insert', rel: 0, new: { values: [String(i + 1000), 'y'] } }]),
    ]);
    const written = await writeSegments(this.store, {
      source: SOURCE,
      snapshotLsn: 0x1000n,
      prevSha256: this.prev,
      groups,
    });
    this.prev = written.at(-1)!.sha256;
  }
}

async function listAll(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const prefix of [sourceRegistryPrefix, `${SOURCE}/`]) {
    for await (const o of store.list(prefix))
      out.set(o.key, Buffer.from(await store.get(o.key)).toString('base64'));
  }
  return out;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('replication to regions', () => {
  let dir: string;
  let primary: LocalObjectStore;
  let journal: PrimaryJournal;
  let s3: S3Server;
  let proxy: S3FaultProxy;
  let prefixes = 0;

  const s3Replica = (endpoint = s3.endpoint) =>
    new S3ObjectStore({
      bucket: s3.bucket,
      region: s3.region,
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      prefix: `replica-${process.pid}-${++prefixes}`,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 50,
      maxAttempts: 3,
    });

  beforeAll(async () => {
    await initChecksums();
    s3 = await startS3Server();
    proxy = await startS3FaultProxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await s3?.stop();
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tidemark-repl-'));
    primary = new LocalObjectStore(path.join(dir, 'primary'));
    journal = new PrimaryJournal(primary);
    await journal.init();
    await journal.append(3);
    return () => rm(dir, { recursive: true, force: true });
  });

  it('copies the journal byte for byte to a directory and to S3, then copies nothing more', async () => {
    const local = new LocalObjectStore(path.join(dir, 'dr-disk'));
    const remote = s3Replica();
    const registry = new Registry();
    const replicator = new Replicator({
      primary,
      replicas: new Map<string, ObjectStore>([
        ['dr-disk', local],
        ['eu-west', remote],
      ]),
      logger: silent,
      registry,
    });
    await replicator.runPass();
    const expected = await listAll(primary);
    expect(expected.size).toBeGreaterThan(5);
    for (const store of [local, remote]) {
      expect(await listAll(store)).toEqual(expected);
      const region = await new JournalCatalog(store).getSource(SOURCE);
      expect(region).toEqual(await new JournalCatalog(primary).getSource(SOURCE));
    }
    const copied = replicator.regions.get('eu-west')!.status.copiedObjects;
    expect(copied).toBe(expected.size);
    await replicator.runPass();
    expect(replicator.regions.get('eu-west')!.status.copiedObjects).toBe(copied);

    await journal.append(2);
    await replicator.runPass();
    expect(await listAll(remote)).toEqual(await listAll(primary));
    expect(replicator.regions.get('eu-west')!.status.copiedObjects).toBe(copied + 3); // 2 segments + tip
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^tidemark_replication_lag_seconds\{region="eu-west",source="main"\} 0$/m);
    expect(metrics).toMatch(/^tidemark_replication_lag_bytes\{region="dr-disk",source="main"\} 0$/m);
    expect(metrics).toMatch(/^tidemark_replication_copied_bytes_total\{region="eu-west"\} [1-9]\d*$/m);
  });

  it('never publishes a tip ahead of its segments; reports the lag and the error, then catches up', async () => {
    const replica = new FaultInjectingStore(new LocalObjectStore(path.join(dir, 'replica')));
    const region = new RegionReplicator({
      region: 'eu-west',
      primary,
      replica,
      logger: silent,
      copyAttempts: 2,
      copyBaseDelayMs: 1,
    });
    await region.runPass();
    const firstTip = await replica.get(tipKey(SOURCE));
    await journal.append(3);
    // the second of the three new segments cannot be written to the region
    const newKeys: string[] = [];
    for await (const o of primary.list(`${SOURCE}/segments/`)) newKeys.push(o.key);
    const blocked = newKeys.at(-2)!;
    replica.beforePut = (key) => {
      if (key === blocked) throw new Error('replica refuses the write');
    };
    await expect(region.runPass()).rejects.toThrow(/replica refuses the write/);
    expect(Buffer.from(await replica.get(tipKey(SOURCE)))).toEqual(Buffer.from(firstTip));
    expect(await replica.head(blocked)).toBeUndefined();
    const lag = region.status.sources.get(SOURCE)!;
    expect(lag.lagSeconds).toBe(6); // three segments of two transactions a second apart
    expect(lag.lagBytes).toBeGreaterThan(0);

    // a restarted replicator (nothing kept in memory) completes the region from its listing
    replica.beforePut = undefined;
    const restarted = new RegionReplicator({ region: 'eu-west', primary, replica, logger: silent });
    await restarted.runPass();
    expect(await listAll(replica)).toEqual(await listAll(primary));
    expect(restarted.status.sources.get(SOURCE)).toMatchObject({ lagSeconds: 0, lagBytes: 0 });
    expect(restarted.status.copiedObjects).toBeLessThan(5); // only what was left, and the tip
  });

  it('retries failing requests and a failing region until it is consistent (running loop)', async () => {
    let n = 0;
    const replica = new FaultInjectingStore(new LocalObjectStore(path.join(dir, 'flaky')));
    replica.beforePut = () => {
      if (++n % 3 === 0) throw new Error('transient failure');
    };
    const region = new RegionReplicator({
      region: 'flaky',
      primary,
      replica,
      logger: silent,
      intervalMs: 20,
      copyAttempts: 1, // every failed copy fails the pass: the loop's backoff must carry it
      copyBaseDelayMs: 1,
      maxBackoffMs: 50,
    });
    region.start();
    try {
      await journal.append(4);
      await waitFor('the region to catch up', async () => {
        const tip = await replica.get(tipKey(SOURCE)).catch(() => undefined);
        const primaryTip = await primary.get(tipKey(SOURCE));
        return tip !== undefined && Buffer.from(tip).equals(Buffer.from(primaryTip));
      });
      expect(region.status.failedPasses).toBeGreaterThan(0);
      await waitFor('a clean pass', () => region.status.lastError === null);
    } finally {
      await region.stop();
    }
    expect(await listAll(replica)).toEqual(await listAll(primary));
    // the status for other processes went to the primary
    expect(await primary.head('_replication/flaky.json')).toBeDefined();
  });

  it('retries through an S3 replica that fails a third of its requests', async () => {
    proxy.faults = (req) =>
      req.seq % 3 === 0 ? { kind: 'status', status: 503, code: 'SlowDown' } : undefined;
    const replica = s3Replica(proxy.endpoint);
    const region = new RegionReplicator({
      region: 'eu-west',
      primary,
      replica,
      logger: silent,
      intervalMs: 20,
      maxBackoffMs: 100,
      copyBaseDelayMs: 1,
    });
    region.start();
    try {
      await journal.append(2);
      await waitFor(
        'the S3 region to catch up',
        async () => {
          const lag = region.status.sources.get(SOURCE);
          const tip = await replica.get(tipKey(SOURCE)).catch(() => undefined);
          return (
            lag?.lagBytes === 0 &&
            tip !== undefined &&
            Buffer.from(tip).equals(Buffer.from(await primary.get(tipKey(SOURCE))))
          );
        },
        60_000,
      );
    } finally {
      proxy.faults = undefined;
      await region.stop();
    }
    expect(proxy.log.some((e) => e.fault === 'status')).toBe(true);
    expect(await listAll(replica)).toEqual(await listAll(primary));
  });

  it('does not copy a damaged primary segment, and keeps the region tip before it', async () => {
    const replica = new LocalObjectStore(path.join(dir, 'careful'));
    const region = new RegionReplicator({
      region: 'careful',
      primary,
      replica,
      logger: silent,
      copyAttempts: 1,
    });
    const keys: string[] = [];
    for await (const o of primary.list(`${SOURCE}/segments/`)) keys.push(o.key);
    const file = path.join(dir, 'primary', keys[1]!);
    const bytes = await readFile(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await writeFile(file, bytes);
    await expect(region.runPass()).rejects.toThrow(/fails verification/);
    expect(await replica.head(keys[1]!)).toBeUndefined();
    expect(await replica.head(tipKey(SOURCE))).toBeUndefined();
    expect(region.status.sources.get(SOURCE)!.lagSeconds).toBeNull();
  });
});
