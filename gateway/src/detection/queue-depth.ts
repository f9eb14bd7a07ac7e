// The queue depth behind 429: the number of pending markers in MinIO (tasks of every gateway
// not yet completed or failed), so it survives restarts and is shared by all replicas.
//
// Cost: counting is one LIST of the pending/ prefix (1 request per 1000 tasks, stopping at
// the limit), done at most once per `maxAgeMs` per process, by the reconciler's listing or by a
// POST finding the count stale; tasks this process accepted or finished since are counted
// locally. So a POST costs no extra request, and the limit is exact up to what other replicas
// did in the last `maxAgeMs`: a soft limit, which is what a back-pressure signal needs.
import type { TaskRepository } from './task-repository.js';

export class QueueDepth {
  private counted = 0;
  private countedAt = Number.NEGATIVE_INFINITY;
  /** Tasks this process accepted minus tasks it finished, since the count. */
  private changeSince = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly repo: TaskRepository,
    readonly maxDepth: number,
    private readonly maxAgeMs: number,
    private readonly onCount: (depth: number) => void = () => {},
  ) {}

  /** Tasks pending now (counted at most `maxAgeMs` ago, plus the ones accepted since). */
  async current(): Promise<number> {
    if (Date.now() - this.countedAt > this.maxAgeMs) {
      this.refreshing ??= this.refresh().finally(() => {
        this.refreshing = undefined;
      });
      await this.refreshing;
    }
    return Math.max(0, this.counted + this.changeSince);
  }

  async isFull(): Promise<boolean> {
    return (await this.current()) >= this.maxDepth;
  }

  /** A task was accepted by this process. */
  accepted(): void {
    this.changeSince += 1;
  }

  /** A task was completed or failed by this process. */
  finished(): void {
    this.changeSince -= 1;
  }

  /** A fresh count (the reconciler lists the markers anyway). */
  observe(count: number): void {
    this.counted = count;
    this.countedAt = Date.now();
    this.changeSince = 0;
    this.onCount(count);
  }

  private async refresh(): Promise<void> {
    // Counting past the limit would only cost requests: "full" is all a POST needs to know.
    const pending = await this.repo.listPending(this.maxDepth + 1);
    this.observe(pending.length);
  }
}
