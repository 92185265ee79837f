import {
  formatLsn,
  formatTimestampMicros,
  initChecksums,
  type ObjectStore,
  parseSegmentKey,
  verifySegment,
} from '@tidemark/shared';
import type { JournalCatalog } from './journal-catalog.js';
import { forEachParallel } from './parallel.js';

export interface SegmentMetadata {
  readonly key: string;
  readonly firstLsn: string;
  readonly lastLsn: string;
  readonly firstCommitTime: string | null;
  readonly lastCommitTime: string | null;
  readonly size: number;
  /** SHA-256 as computed from the stored bytes (null when the segment cannot be read) */
  readonly sha256: string | null;
}

/**
 * Segment metadata for auditors (GET /v1/sources/:source/segments), a page at a time. LSNs
 * come from the key; commit times and the SHA-256 need the segment itself, so a page reads
 * its segments (4 at once) and what it learns is cached by key and size (a durable segment
 * never changes; a replaced one has another size or is read again after a restart).
 */
export class SegmentListing {
  private readonly cache = new Map<string, { size: number; meta: SegmentMetadata }>();

  constructor(
    private readonly store: ObjectStore,
    private readonly catalog: JournalCatalog,
  ) {}

  async list(
    source: string,
    page: { after?: string; limit: number },
  ): Promise<{ items: SegmentMetadata[]; more: boolean }> {
    await this.catalog.requireSource(source);
    await initChecksums();
    const all = await this.catalog.listSegments(source);
    const rest = page.after === undefined ? all : all.filter((s) => s.key > (page.after as string));
    const slice = rest.slice(0, page.limit);
    const items: SegmentMetadata[] = new Array(slice.length);
    await forEachParallel(
      slice.map((s, i) => ({ ...s, i })),
      4,
      async ({ key, size, i }) => {
        const cached = this.cache.get(key);
        if (cached && cached.size === size) {
          items[i] = cached.meta;
          return;
        }
        const parsed = parseSegmentKey(key);
        let meta: SegmentMetadata = {
          key,
          firstLsn: parsed ? formatLsn(parsed.firstLsn) : '?',
          lastLsn: parsed ? formatLsn(parsed.lastLsn) : '?',
          firstCommitTime: null,
          lastCommitTime: null,
          size,
          sha256: null,
        };
        try {
          const v = verifySegment(await this.store.get(key));
          meta = {
            ...meta,
            ...(v.header
              ? {
                  firstCommitTime: formatTimestampMicros(v.header.firstCommitTime),
                  lastCommitTime: formatTimestampMicros(v.header.lastCommitTime),
                }
              : {}),
            sha256: v.sha256 ?? null,
          };
          this.cache.set(key, { size, meta });
        } catch {
          // unreadable: listed with what the key says; POST .../verify says why
        }
        items[i] = meta;
      },
    );
    return { items, more: rest.length > slice.length };
  }
}
