import { formatLsn, parseLsn } from '@tidemark/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistributedTopology } from './support/distributed-topology.js';
import { assertOracle, runWorkload } from './support/oracle-run.js';
import { connect, ORACLE_SCHEMA, oracleSteps } from './support/oracle-workload.js';
import { sleep } from './support/tidemark-process.js';

/**
 * The oracle in the three-process topology (capture → Kafka → journal → S3, restore API),
 * under faults: kill -9 of capture and of the journal at random moments (at least five
 * times each, one of them while a segment upload is in flight), S3 failing a fifth of
 * requests with 5xx for a period, Kafka unreachable for a period. Nothing lost, nothing
 * doubled, and the slot's confirmed LSN never ahead of what Kafka acknowledged.
 */
describe('distributed topology under faults', () => {
  const topo = new DistributedTopology();
  const slotChecks: { confirmed: bigint; acked: bigint | undefined }[] = [];

  beforeAll(async () => {
    await topo.start(ORACLE_SCHEMA);
    await topo.followTopic('tidemark.main');
  });

  afterAll(async () => {
    await topo.stop();
  });

  /** With capture dead, nothing new is acknowledged: the slot must not be ahead of the topic's tail. */
  async function checkSlotBehindKafka(): Promise<void> {
    const client = await connect(topo.cluster.url('source'));
    const { rows } = await client.query<{ lsn: string }>(
      `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'tidemark_main'`,
    );
    await client.end();
    const acked = await topo.kafkaAckedEndLsn('tidemark.main');
    slotChecks.push({ confirmed: parseLsn(rows[0]!.lsn), acked });
  }

  async function killCapture(): Promise<void> {
    await sleep(Math.floor(Math.random() * 200));
    await topo.capture.kill9();
    await checkSlotBehindKafka();
    await topo.capture.start();
  }

  async function killJournal(duringUpload: boolean): Promise<void> {
    if (duringUpload) {
      // hold the next segment upload on the wire: the store gets it, the journal never hears back
      let held = false;
      topo.proxy.faults = (req) => {
        if (!held && req.method === 'PUT' && req.path.includes('/segments/')) {
          held = true;
          return { kind: 'lose-response' };
        }
        return undefined;
      };
      for (let i = 0; i < 100 && !held; i++) await sleep(50);
      topo.proxy.faults = undefined;
    } else {
      await sleep(Math.floor(Math.random() * 200));
    }
    await topo.journal.kill9();
    await topo.journal.start();
  }

  it('loses and doubles nothing across crashes, S3 errors and a Kafka outage', async () => {
    let captureKills = 0;
    let journalKills = 0;
    const steps = oracleSteps({ bigRows: 20_000 });
    const checkpoints = await runWorkload(topo.cluster.url('source'), steps, async (i) => {
      await killCapture();
      captureKills++;
      await killJournal(i === 1);
      journalKills++;
      if (i === 3) {
        topo.proxy.faults = () =>
          Math.random() < 0.2 ? { kind: 'status', status: 503, code: 'SlowDown' } : undefined;
        await sleep(2_000);
        topo.proxy.faults = undefined;
      }
      if (i === 6) await topo.kafka.unreachableFor(3_000);
    });
    expect(captureKills).toBeGreaterThanOrEqual(5);
    expect(journalKills).toBeGreaterThanOrEqual(5);
    for (const check of slotChecks) {
      expect(check.acked, 'something was acknowledged by Kafka before the slot confirmed').toBeDefined();
      expect(
        check.confirmed <= check.acked!,
        `slot confirmed ${formatLsn(check.confirmed)} beyond Kafka's ${formatLsn(check.acked!)}`,
      ).toBe(true);
    }
    await assertOracle(topo.restore, 'main', checkpoints, (db) => topo.cluster.url(db), 'dist');
    const captureMetrics = await (await fetch(`${topo.capture.baseUrl}/metrics`)).text();
    const journalMetrics = await (await fetch(`${topo.journal.baseUrl}/metrics`)).text();
    for (const name of [
      'tidemark_capture_produce_seconds_count',
      'tidemark_capture_lag_bytes',
      'tidemark_slot_retained_wal_bytes',
    ]) {
      expect(captureMetrics).toMatch(new RegExp(`^${name}\\{source="main"\\} \\d`, 'm'));
    }
    for (const name of [
      'tidemark_journal_consumer_lag_messages',
      'tidemark_archive_rpo_seconds',
      'tidemark_journal_upload_seconds_count',
    ]) {
      expect(journalMetrics).toMatch(new RegExp(`^${name}\\{source="main"\\} \\d`, 'm'));
    }
  });
});
