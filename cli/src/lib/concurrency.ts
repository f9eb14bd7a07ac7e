// Runs async work over many items with a bounded number in flight (file reads, uploads).

/**
 * Calls `work` for every item, at most `limit` at a time; results keep the items' order.
 * After a failure no new item starts, and the first error is thrown only once the items
 * already in flight have settled, so a caller's clean-up never races a late write.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (errors.length === 0 && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}
