import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KAFKA_HEADER_END_LSN } from '@tidemark/capture';
import { type Lsn, parseLsn } from '@tidemark/shared';
import {
  type KafkaBroker,
  type PostgresCluster,
  type S3FaultProxy,
  type S3Server,
  startKafkaBroker,
  startPostgres,
  startS3FaultProxy,
  startS3Server,
} from '@tidemark/testkit';
import { type Admin, type Consumer, Kafka, logLevel } from 'kafkajs';
import { connect } from './oracle-workload.js';
import { TidemarkProcess } from './tidemark-process.js';

/**
 * The three-process topology on real servers: PostgreSQL, librdkafka's mock Kafka
 * cluster, s3rver behind a fault proxy, and `tidemark capture`, `tidemark journal` and
 * `tidemark restore` as separate child processes that tests can kill -9.
 */
export class DistributedTopology {
  cluster!: PostgresCluster;
  kafka!: KafkaBroker;
  s3!: S3Server;
  proxy!: S3FaultProxy;
  capture!: TidemarkProcess;
  journal!: TidemarkProcess;
  restore!: TidemarkProcess;
  private dir!: string;
  private admin: Admin | undefined;
  private tail: Consumer | undefined;
  /** end LSN of every message of the source topic's partition 0, by offset, as this test process saw them */
  private readonly endLsnByOffset = new Map<bigint, Lsn>();
  private tailHigh = -1n;

  /** `extraEnv` is added to every process's environment (e.g. TIDEMARK_REPLICAS) */
  async start(schemaSql: string, extraEnv: Record<string, string> = {}): Promise<void> {
    [this.cluster, this.kafka, this.s3] = await Promise.all([
      startPostgres({ flavor: 'debian15' }),
      startKafkaBroker(),
      startS3Server(),
    ]);
    this.proxy = await startS3FaultProxy(this.s3.endpoint);
    const admin = await connect(this.cluster.url('postgres'));
    await admin.query('CREATE DATABASE source');
    await admin.end();
    const source = await connect(this.cluster.url('source'));
    await source.query(schemaSql);
    await source.end();
    this.dir = await mkdtemp(path.join(tmpdir(), 'tidemark-dist-'));
    const env: Record<string, string> = {
      TIDEMARK_KAFKA_BROKERS: this.kafka.brokers.join(','),
      TIDEMARK_KAFKA_TOPIC_PREFIX: 'tidemark.',
      TIDEMARK_S3_BUCKET: this.s3.bucket,
      TIDEMARK_S3_PREFIX: 'journal',
      TIDEMARK_S3_ENDPOINT: this.proxy.endpoint,
      TIDEMARK_S3_REGION: this.s3.region,
      TIDEMARK_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: this.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.s3.secretAccessKey,
      TIDEMARK_KAFKA_SESSION_TIMEOUT_MS: '6000',
      TIDEMARK_KAFKA_HEARTBEAT_INTERVAL_MS: '500',
      ...extraEnv,
    };
    this.capture = new TidemarkProcess({
      command: 'capture',
      sourceUrl: this.cluster.url('source'),
      dataDir: path.join(this.dir, 'capture'),
      env,
    });
    this.journal = new TidemarkProcess({ command: 'journal', dataDir: path.join(this.dir, 'journal'), env });
    this.restore = new TidemarkProcess({ command: 'restore', dataDir: path.join(this.dir, 'restore'), env });
    await this.capture.start();
    await Promise.all([this.journal.start(), this.restore.start()]);
  }

  /**
   * Follows the source topic from the test process (its own consumer group) so the test
   * knows, at any moment, the end LSN of everything Kafka has acknowledged.
   */
  async followTopic(topic: string): Promise<void> {
    const kafka = new Kafka({
      brokers: this.kafka.brokers,
      clientId: 'oracle-tail',
      logLevel: logLevel.NOTHING,
    });
    this.admin = kafka.admin();
    await this.admin.connect();
    this.tail = kafka.consumer({
      groupId: 'oracle-tail',
      sessionTimeout: 6000,
      heartbeatInterval: 500,
      maxWaitTimeInMs: 100,
    });
    await this.tail.connect();
    await this.tail.subscribe({ topics: [topic], fromBeginning: true });
    await this.tail.run({
      eachMessage: async ({ partition, message }) => {
        if (partition !== 0) return;
        const offset = BigInt(message.offset);
        const end = message.headers?.[KAFKA_HEADER_END_LSN];
        if (end) this.endLsnByOffset.set(offset, parseLsn(end.toString()));
        if (offset > this.tailHigh) this.tailHigh = offset;
      },
    });
  }

  /** The highest end LSN among messages Kafka has acknowledged so far (below the high watermark). */
  async kafkaAckedEndLsn(topic: string): Promise<Lsn | undefined> {
    const offsets = await this.admin!.fetchTopicOffsets(topic);
    const high = BigInt(offsets.find((o) => o.partition === 0)?.high ?? '0');
    for (let i = 0; i < 200 && this.tailHigh < high - 1n; i++) await new Promise((r) => setTimeout(r, 50));
    let max: Lsn | undefined;
    for (const [offset, lsn] of this.endLsnByOffset)
      if (offset < high && (max === undefined || lsn > max)) max = lsn;
    return max;
  }

  async stop(): Promise<void> {
    await this.tail?.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
    await Promise.allSettled([this.capture?.stop(), this.journal?.stop(), this.restore?.stop()]);
    await Promise.allSettled([this.proxy?.stop(), this.s3?.stop(), this.kafka?.stop(), this.cluster?.stop()]);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
