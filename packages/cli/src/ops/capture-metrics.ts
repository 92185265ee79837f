import type { CaptureStatus } from '@tidemark/capture';
import pg from 'pg';
import { Gauge, type Registry } from 'prom-client';

/**
 * Capture metrics. Lag and retained WAL come from the source itself at scrape time (one
 * short query), so they are true even when the capture is stuck.
 */
export function registerCaptureMetrics(
  registry: Registry,
  opts: { source: string; sourceUrl: string; slotName: string; status: () => CaptureStatus },
): void {
  const labels = { source: opts.source };
  // both slot gauges share one query per scrape (prom-client collects metrics concurrently)
  let pending: { at: number; slot: Promise<{ lag: number; retained: number } | undefined> } | undefined;
  const slotNow = () => {
    if (!pending || Date.now() - pending.at > 500) {
      pending = { at: Date.now(), slot: readSlot(opts.sourceUrl, opts.slotName).catch(() => undefined) };
    }
    return pending.slot;
  };
  new Gauge({
    name: 'tidemark_capture_lag_bytes',
    help: 'WAL bytes between the server insert position and the LSN confirmed durable downstream',
    labelNames: ['source'],
    registers: [registry],
    async collect() {
      const slot = await slotNow();
      if (slot) this.set(labels, slot.lag);
    },
  });
  new Gauge({
    name: 'tidemark_slot_retained_wal_bytes',
    help: 'WAL the replication slot keeps on the source',
    labelNames: ['source'],
    registers: [registry],
    async collect() {
      const slot = await slotNow();
      if (slot) this.set(labels, slot.retained);
    },
  });
  new Gauge({
    name: 'tidemark_capture_lag_seconds',
    help: 'now minus the commit time of the newest durable transaction or heartbeat',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      const last = opts.status().lastCommitTime;
      if (last !== undefined) this.set(labels, Math.max(0, Date.now() / 1000 - Number(last) / 1e6));
    },
  });
  new Gauge({
    name: 'tidemark_capture_pending_writes',
    help: 'transactions handed downstream and not yet durable',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.set(labels, opts.status().pendingWrites);
    },
  });
  new Gauge({
    name: 'tidemark_capture_connected',
    help: '1 while a replication session streams',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.set(labels, opts.status().connected ? 1 : 0);
    },
  });
}

async function readSlot(url: string, slot: string): Promise<{ lag: number; retained: number } | undefined> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2000,
    statement_timeout: 2000,
  });
  await client.connect();
  try {
    const { rows } = await client.query<{ lag: string | null; retained: string | null }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag,
              pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const row = rows[0];
    return row ? { lag: Number(row.lag ?? 0), retained: Number(row.retained ?? 0) } : undefined;
  } finally {
    await client.end();
  }
}
