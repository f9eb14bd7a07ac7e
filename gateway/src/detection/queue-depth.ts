// The queue depth behind 429: the number of pending markers in MinIO (tasks of every gateway
// not yet completed or failed), so it survives restarts and is shared by all replicas.
//
// Cost: counting is one LIST of the pending/ prefix (1 request per 1000 tasks, stopping at
// the limit), done at most once per `maxAgeMs` per process, by the reconciler's listing or, when
// a POST finds the count stale, in the background; tasks this process accepted or finished since
// are counted locally. Only the first POST of a process waits for a count: later ones answer from
// the last one, because a LIST of hundreds of markers under load took tens of milliseconds and
// was the tail of POST latency. So the limit is exact up to what other replicas did since the
// last count: a soft limit, which is what a back-pressure signal needs.
import type { TaskRepository } from './task-repository.js';

export class QueueDepth {
  private counted = 0;
  private countedAt = Number.NEGATIVE_INFINITY;
  /** Tasks this process accepted minus tasks it finished, since the count. */
  private changeSince = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly repo: Pick<TaskRepository, 'listPending'>,
    readonly maxDepth: number,
    private readonly maxAgeMs: number,
    private readonly onCount: (depth: number) => void = () => {},
  ) {}

  /**
   * Tasks pending now: the last count plus the tasks accepted (minus finished) here since. A count
   * older than `maxAgeMs` is renewed in the background; only a process that never counted waits.
   */
  async current(): Promise<number> {
    if (Date.now() - this.countedAt > this.maxAgeMs) {
      this.refreshing ??= this.refresh().finally(() => {
        this.refreshing = undefined;
      });
      if (this.countedAt === Number.NEGATIVE_INFINITY) await this.refreshing;
      else this.refreshing.catch(() => {}); // storage down: the next POST's own writes will say so
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
