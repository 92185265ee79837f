/** A started Tidemark process role (capture, journal, restore, or all of them). */
export interface RunningRole {
  /** stops cleanly: everything accepted so far is made durable first */
  stop(): Promise<void>;
}
