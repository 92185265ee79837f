import { type ObjectStore, sourceRegistryPrefix } from '@tidemark/shared';
import type { ReadinessCheck } from '../ops/ops-server.js';

const PROBE_INTERVAL_MS = 5_000;

/**
 * Watches whether the primary store answers (a one-key listing every few seconds) for
 * /readyz of a restore service with replica regions. An unreachable primary is reported as
 * `degraded` but keeps the service ready: restores and listings from a region (`from`,
 * `?region=`) do not touch the primary and must stay available during a failover.
 */
export class PrimaryStoreProbe {
  private state: { ok: boolean; detail: string } = { ok: true, detail: 'not probed yet' };
  private readonly timer: NodeJS.Timeout;
  private running = false;

  constructor(private readonly store: ObjectStore) {
    this.timer = setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
    this.timer.unref();
    void this.probe();
  }

  readiness(): ReadinessCheck {
    return {
      ok: true,
      detail: this.state.ok
        ? `primary ${this.store.description}`
        : `degraded: primary ${this.store.description} unreachable (${this.state.detail}); restores with "from" a region still work`,
    };
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async probe(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for await (const _ of this.store.list(sourceRegistryPrefix)) break;
      this.state = { ok: true, detail: 'reachable' };
    } catch (err) {
      this.state = { ok: false, detail: (err as Error).message };
    } finally {
      this.running = false;
    }
  }
}
