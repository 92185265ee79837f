import { retentionOf, type TidemarkConfig } from '@tidemark/shared';

/** The restore service's retention and GC schedule from TIDEMARK_RETENTION(_BY_SOURCE) and TIDEMARK_GC_INTERVAL_MS. */
export function retentionSettings(config: TidemarkConfig) {
  return { forSource: (source: string) => retentionOf(config, source), gcIntervalMs: config.gcIntervalMs };
}
