/**
 * Decides which changes of a batch share one statement, and in which order the
 * statements run. Pure.
 *
 * Changes are queued as runs (one future statement each), in order. A new change joins an
 * earlier run of its shape when it may move ahead of every run queued after that one;
 * otherwise it starts a new run at the end. Moving ahead is exact when the two commute,
 * i.e. the target ends in the same state and fails in the same cases whichever runs
 * first. On the target that is decided by rows alone: a restored table has no foreign
 * keys, triggers, checks or indexes other than its primary key (schema-builder.ts), so
 * - changes to different partition trees (families) always commute;
 * - within one table, changes found by distinct primary-key values commute: each touches
 *   only its own row, and the primary-key check of an insert depends only on rows with the
 *   same key;
 * - anything else is kept in journal order: tables without a primary key (inserts there
 *   may share a run with each other, but nothing moves past them), key-changing updates,
 *   REPLICA IDENTITY FULL matches, two tables of one partition tree.
 * Merging into a run also needs distinct keys within it (see sql-for-runs.ts).
 *
 * Example: source transactions of "insert 5 rows; update 1 other row" become one insert
 * run and one update run per batch instead of two statements per transaction.
 */
export interface RunItem {
  /** the partition tree the table belongs to (the table itself if it is not a partition) */
  readonly family: string;
  readonly table: string;
  /** changes of one shape can share a statement; undefined: this change goes alone */
  readonly shape: string | undefined;
  /** primary-key value of the one row the change touches; undefined: not known */
  readonly key: string | undefined;
}

export interface Run<T> {
  readonly item: RunItem;
  readonly values: T[];
  readonly keys: Set<string>;
  /** some member's row is not known by key: nothing on its table may move past the run */
  keyless: boolean;
}

export interface RunLimits {
  /** queued changes, all runs together */
  readonly maxChanges: number;
  /** queued weight (about the characters of the values), all runs together */
  readonly maxWeight: number;
  /** queued runs: bounds the search for a run to join */
  readonly maxRuns: number;
}

export class RunPlanner<T> {
  private runs: Run<T>[] = [];
  private changes = 0;
  private weight = 0;

  constructor(private readonly limits: RunLimits) {}

  get queuedRuns(): number {
    return this.runs.length;
  }

  /** Queues a change; true when a limit is reached and the runs should be taken now. */
  add(item: RunItem, value: T, weight: number): boolean {
    const run = this.runToJoin(item) ?? this.open(item);
    run.values.push(value);
    if (item.key === undefined) run.keyless = true;
    else run.keys.add(item.key);
    this.changes++;
    this.weight += weight;
    const { maxChanges, maxWeight, maxRuns } = this.limits;
    return this.changes >= maxChanges || this.weight >= maxWeight || this.runs.length >= maxRuns;
  }

  /** The queued runs, in the order their statements must run; empties the queue. */
  take(): Run<T>[] {
    const runs = this.runs;
    this.runs = [];
    this.changes = 0;
    this.weight = 0;
    return runs;
  }

  private runToJoin(item: RunItem): Run<T> | undefined {
    if (item.shape === undefined) return undefined;
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const run = this.runs[i];
      if (!run) break;
      if (run.item.shape === item.shape && (item.key === undefined || !run.keys.has(item.key))) return run;
      if (!commutes(item, run)) return undefined;
    }
    return undefined;
  }

  private open(item: RunItem): Run<T> {
    const run: Run<T> = { item, values: [], keys: new Set(), keyless: false };
    this.runs.push(run);
    return run;
  }
}

/** Whether `item` may run before all of `run` (see the rules above). */
export function commutes(item: RunItem, run: Run<unknown>): boolean {
  if (item.family !== run.item.family) return true;
  if (item.table !== run.item.table || item.key === undefined || run.keyless) return false;
  return !run.keys.has(item.key);
}
