/**
 * Runs `work` over `items` with at most `limit` in flight. The first failure stops new
 * items from starting; the ones already running finish (each owns a transaction that must
 * end cleanly), then the first error is thrown.
 */
export async function forEachParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (w: number): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item, w);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const n = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: n }, (_, w) => worker(w)));
  if (failure) throw failure.error;
}
