// Unit tests of the queue depth behind 429, over a fake pending index.
import { describe, expect, it } from 'vitest';
import { QueueDepth } from '../src/detection/queue-depth.js';
import type { PendingTask } from '../src/detection/task-repository.js';

/** A pending index whose LIST answers only when the test releases it. */
class SlowIndex {
  lists = 0;
  private release: (() => void) | undefined;
  constructor(public size: number) {}

  listPending(limit: number): Promise<PendingTask[]> {
    this.lists += 1;
    return new Promise((resolve) => {
      this.release = () =>
        resolve(
          Array.from({ length: Math.min(this.size, limit) }, (_, i) => ({
            taskId: String(i),
            since: new Date(),
          })),
        );
    });
  }

  answer(): void {
    this.release?.();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('QueueDepth', () => {
  it('when nothing was ever counted, then the first caller waits for a count', async () => {
    const index = new SlowIndex(3);
    const depth = new QueueDepth(index, 10, 1_000);
    let answered: number | undefined;
    const first = depth.current().then((n) => {
      answered = n;
    });
    await settle();
    expect(answered).toBeUndefined();
    index.answer();
    await first;
    expect(answered).toBe(3);
  });

  it('when the count is stale, then callers answer from it at once and one LIST renews it', async () => {
    const index = new SlowIndex(0);
    const depth = new QueueDepth(index, 10, 0); // every count is stale at once
    depth.observe(4);
    depth.accepted();
    await new Promise((resolve) => setTimeout(resolve, 2));
    expect(await depth.current()).toBe(5); // no waiting on the LIST in flight
    expect(await depth.current()).toBe(5);
    expect(index.lists).toBe(1);
    index.size = 7;
    index.answer();
    await settle();
    expect(await depth.current()).toBe(7);
  });

  it('when the queue reaches its limit, then it is full', async () => {
    const depth = new QueueDepth(new SlowIndex(0), 2, 60_000);
    depth.observe(1);
    expect(await depth.isFull()).toBe(false);
    depth.accepted();
    expect(await depth.isFull()).toBe(true);
    depth.finished();
    expect(await depth.isFull()).toBe(false);
  });
});
