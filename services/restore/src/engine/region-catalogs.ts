import {
  compareKeys,
  type KeyProvider,
  type ObjectStore,
  REGION_NAME_PATTERN,
  type RetentionDuration,
  TidemarkError,
} from '@tidemark/shared';
import { JournalCatalog } from './journal-catalog.js';

/** The store a restore, a listing or a verification reads, and its catalog. */
export interface RegionView {
  /** undefined: the primary store */
  readonly region: string | undefined;
  readonly store: ObjectStore;
  readonly catalog: JournalCatalog;
}

/**
 * The primary journal and its replica regions (TIDEMARK_REPLICAS), each with its own
 * catalog. A region's view reads only that region's store, so restoring or listing from a
 * region works while the primary is unreachable.
 */
export class RegionCatalogs {
  private readonly replicas = new Map<string, RegionView>();
  readonly primary: RegionView;

  constructor(
    primary: { readonly store: ObjectStore; readonly catalog: JournalCatalog },
    replicas: ReadonlyMap<string, ObjectStore>,
    keys?: KeyProvider,
    /**
     * each source's retention: a region offers the same window as the primary, its oldest
     * snapshot chosen from what the region itself holds (docs/architecture.md, "Replica regions")
     */
    retention?: (source: string) => RetentionDuration | null,
  ) {
    this.primary = { region: undefined, ...primary };
    for (const [name, store] of replicas) {
      this.replicas.set(name, {
        region: name,
        store,
        catalog: new JournalCatalog(store, {
          ...(keys ? { keys } : {}),
          ...(retention ? { retention } : {}),
        }),
      });
    }
  }

  /** names of the replica regions, sorted */
  names(): string[] {
    return [...this.replicas.keys()].sort(compareKeys);
  }

  /** The primary for undefined, else the region; BAD_REQUEST naming the known regions. */
  resolve(region: string | undefined, field = 'from'): RegionView {
    if (region === undefined) return this.primary;
    const view = this.replicas.get(region);
    if (view) return view;
    const known = this.names();
    const shape = REGION_NAME_PATTERN.test(region) ? '' : ' (region names are 1-32 of a-z, 0-9 and "-")';
    throw new TidemarkError(
      'BAD_REQUEST',
      `${field}: unknown region ${JSON.stringify(region)}${shape}; ${
        known.length > 0
          ? `known regions: ${known.join(', ')}`
          : 'no replica region is configured (TIDEMARK_REPLICAS)'
      }`,
      { details: { field, region, known } },
    );
  }

  /** every replica region's view, by name order */
  views(): RegionView[] {
    return this.names().map((name) => this.replicas.get(name)!);
  }

  /** The store of a replica region, for callers that read it directly (verification). */
  openRegionStore(name: string): ObjectStore {
    return this.resolve(name, 'region').store;
  }
}
