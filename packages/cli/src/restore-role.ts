import path from 'node:path';
import { buildRestoreApp } from '@tidemark/restore';
import {
  createLogger,
  initChecksums,
  loadKeyProvider,
  type TidemarkConfig,
  TidemarkError,
} from '@tidemark/shared';
import { compactionSettings } from './compaction-settings.js';
import { openObjectStore } from './object-store-factory.js';
import { PrimaryStoreProbe } from './replication/primary-store-probe.js';
import { openConfiguredReplicas } from './replication/replication-setup.js';
import { retentionSettings } from './retention-settings.js';
import type { RunningRole } from './running-role.js';

/** `tidemark restore`: the HTTP API over the journal in the object store. */
export async function runRestoreRole(config: TidemarkConfig): Promise<RunningRole> {
  if (!config.apiTokens?.length) {
    throw new TidemarkError(
      'CONFIG_INVALID',
      'tidemark restore needs TIDEMARK_API_TOKENS (name:role:token,...): a standalone API never generates its own token',
    );
  }
  const logger = createLogger({ name: 'tidemark-restore', level: config.logLevel });
  await initChecksums();
  const store = openObjectStore(config);
  const keys = await loadKeyProvider(config);
  const replicas = openConfiguredReplicas(config, logger);
  // with regions, an unreachable primary degrades the service rather than stopping it
  const probe = replicas.size > 0 ? new PrimaryStoreProbe(store) : undefined;
  const app = await buildRestoreApp({
    store,
    replicas,
    stateDir: path.join(config.dataDir, 'restores'),
    dataDir: config.dataDir,
    ...(config.reportSigningKeyFile ? { reportSigningKeyFile: config.reportSigningKeyFile } : {}),
    ...(keys ? { keys } : {}),
    maxConcurrentRestores: config.maxConcurrentRestores,
    compaction: compactionSettings(config, keys, config.sourceUrl),
    retention: retentionSettings(config),
    tokens: config.apiTokens,
    logger,
    readiness: () => ({ store: probe?.readiness() ?? { ok: true, detail: store.description } }),
    // with the source's URL configured here too, this service can write restore points into it
    ...(config.sourceUrl ? { sourceUrls: { [config.sourceName]: config.sourceUrl } } : {}),
  });
  const address = await app.listen(config.host, config.port);
  logger.info({ address, store: store.description }, 'restore API listening');
  return {
    stop: async () => {
      probe?.close();
      await app.close();
    },
  };
}
