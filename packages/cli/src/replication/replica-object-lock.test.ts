import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  initChecksums,
  isTidemarkError,
  LocalObjectStore,
  parseRetentionDuration,
  tipKey,
} from '@tidemark/shared';
import { type S3ProxyRequest, startS3FaultProxy, startS3Server } from '@tidemark/testkit';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../services/restore/src/engine/engine-logger.js';
import { JournalCatalog } from '../../../../services/restore/src/engine/journal-catalog.js';
import { RetentionCollector } from '../../../../services/restore/src/engine/retention-collector.js';
import {
  relationOf,
  TxBuilder,
  writeSegments,
  writeSnapshot,
} from '../../../../services/restore/src/engine/testing/journal-fixture.js';
import { RegionReplicator } from './region-replicator.js';
import { openReplicaStores } from './replica-stores.js';

/**
 * With the primary under Object Lock, S3 regions receive their segment and snapshot copies
 * under the same mode and period (the proxy in front of s3rver enforces the lock, which
 * s3rver ignores); directory regions are not locked.
 */
const DAY = 86_400_000;
const silent = { info() {}, warn() {}, error() {} };

describe('Object Lock in replica regions', () => {
  it('locks S3 copies of segments and snapshots like the primary, not the tip; leaves dir regions unlocked', async () => {
    await initChecksums();
    const dir = await mkdtemp(path.join(tmpdir(), 'tidemark-region-lock-'));
    const server = await startS3Server();
    const proxy = await startS3FaultProxy(server.endpoint, { objectLock: true });
    const seen: S3ProxyRequest[] = [];
    proxy.faults = (req) => {
      seen.push(req);
      return undefined;
    };
    try {
      const primary = new LocalObjectStore(path.join(dir, 'primary'));
      const snap = await writeSnapshot(primary, {
        source: 'main',
        lsn: 0x1000n,
        snapshotTime: 1_790_000_000_000_000n,
        tables: [{ schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] }],
      });
      const b = new TxBuilder('main', 0x1000n, 1_790_000_000_000_000n);
      const rel = relationOf(16384, 'public', 't', [['id', true]]);
      const txs = [2, 3].map((v) => b.tx([rel], [{ op: 'insert', rel: 0, new: { values: [String(v)] } }]));
      const [segment] = await writeSegments(primary, {
        source: 'main',
        snapshotLsn: 0x1000n,
        prevSha256: snap.sha256,
        groups: txs.map((t) => [t]),
      });
      // a newer snapshot: a 1 h window no longer needs the base and the first segment
      await writeSnapshot(primary, {
        source: 'main',
        lsn: txs[0]!.commitLsn,
        snapshotTime: txs[0]!.commitTime,
        tables: [{ schema: 'public', table: 't', columns: [{ name: 'id', type: 'integer' }], data: [['1']] }],
      });

      const stores = openReplicaStores(
        {
          'eu-west': {
            s3: {
              bucket: server.bucket,
              endpoint: proxy.endpoint,
              region: server.region,
              forcePathStyle: true,
              prefix: 'locked',
              credentialsEnv: { accessKeyId: 'EU_KEY', secretAccessKey: 'EU_SECRET' },
            },
          },
          'dr-disk': { dir: path.join(dir, 'dr-disk') },
        },
        {
          env: { EU_KEY: server.accessKeyId, EU_SECRET: server.secretAccessKey },
          objectLock: { mode: 'governance', days: 3 },
        },
      );
      const before = Date.now();
      for (const [region, replica] of stores)
        await new RegionReplicator({ region, primary, replica, logger: silent }).runPass();

      const lockOf = (suffix: string) => {
        const r = seen.find((q) => q.method === 'PUT' && q.path.endsWith(suffix));
        if (!r) throw new Error(`no PUT of ${suffix}`);
        return [r.headers['x-amz-object-lock-mode'], r.headers['x-amz-object-lock-retain-until-date']];
      };
      for (const key of [segment!.key, snap.manifestKey]) {
        const [mode, until] = lockOf(key);
        expect(mode).toBe('GOVERNANCE');
        expect(Date.parse(String(until))).toBeGreaterThanOrEqual(before + 3 * DAY - 1000);
        expect(Date.parse(String(until))).toBeLessThanOrEqual(Date.now() + 3 * DAY + 1000);
      }
      expect(lockOf(tipKey('main'))).toEqual([undefined, undefined]);

      // the region's collector cannot delete the locked copies: it reports them for later
      const s3Region = stores.get('eu-west')!;
      const refused = await s3Region.delete(segment!.key).catch((e: unknown) => e);
      expect(isTidemarkError(refused, 'OBJECT_LOCKED')).toBe(true);
      const gc = await new RetentionCollector({
        store: s3Region,
        catalog: new JournalCatalog(s3Region),
        retention: () => parseRetentionDuration('1h') ?? null,
        logger: silentLogger,
      }).collect('main');
      expect(gc.objects).toBe(0);
      expect(gc.locked.map((l) => l.key)).toEqual([snap.manifestKey, segment!.key]);

      // a directory region is written without a lock
      const disk = stores.get('dr-disk')!;
      expect(disk).toBeInstanceOf(LocalObjectStore);
      await disk.delete(segment!.key);
      expect(await disk.head(segment!.key)).toBeUndefined();
    } finally {
      await proxy.stop();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
