// The reconciler: every interval, moves the pending tasks forward (submits queued ones, polls
// BentoML for processing ones, re-submits lost or overdue ones). Every gateway process runs one;
// the If-Match writes make concurrent rounds safe. It lists the pending index every few rounds
// (finding tasks of other gateways, cleaning up leftovers, counting the queue) and works from
// its cache in between, which tasks this process accepts or finishes keep current. The cache
// only saves MinIO requests: a stale entry costs one failed write and a re-read, never a wrong
// answer.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { OnFinished, Watch } from '../inference/inference-client.js';
import { StorageUnavailableError, WriteConflictError } from '../storage/object-store.js';
import type { DetectionOutcome, TaskRecord } from './dto.js';
import type { QueueDepth } from './queue-depth.js';
import type { TaskAdvancer } from './task-advancer.js';
import type { PendingTask, TaskRepository, Versioned } from './task-repository.js';
import { callbackPending, isTerminal, nextStep, type RetryPolicy } from './task-state.js';

export interface ReconcilerOptions {
  intervalMs: number;
  policy: RetryPolicy;
  /** A pending marker without a record older than this is left over from a failed creation. */
  orphanGraceMs: number;
  /** BentoML polls per round at most (oldest submissions first). */
  pollsPerRound: number;
  /** Pending tasks looked at per round at most. */
  scanLimit: number;
  /** Tasks worked on at once. */
  concurrency: number;
  /** How often the pending index is listed; rounds in between work from the cache. */
  listEveryMs: number;
  /** Delivers the webhook of a finished task whose delivery is not settled, if it is due. */
  deliverCallback?: (task: Versioned) => Promise<void>;
  /** The inference server's announcements of finished tasks (see announced()). */
  watchFinished?: (onFinished: OnFinished) => Watch;
  log: Logger;
}

/** What the rest of the process needs of a reconciler, wherever it runs (see reconciler-thread.ts). */
export interface ReconcilerRunner {
  start(): void;
  stop(): Promise<void>;
  track(task: Versioned, image?: Buffer): void;
  /** A task this process finished elsewhere (a GET moved it on). */
  forget(taskId: string): void;
  /**
   * A task it holds (one this process accepted), moved forward if due, within `budgetMs`: what a
   * GET answers, with no MinIO read. Undefined when it does not hold the task.
   */
  advanceTracked(taskId: string, budgetMs: number): Promise<TaskRecord | undefined>;
  tracks(taskId: string): boolean;
}

export class Reconciler implements ReconcilerRunner {
  private readonly cache = new Map<string, Versioned>();
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private running = false;
  private lastRoundFailed = false;
  private watch: Watch | undefined;
  private listedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly repo: TaskRepository,
    private readonly advancer: TaskAdvancer,
    private readonly queueDepth: QueueDepth,
    private readonly options: ReconcilerOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.watch = this.options.watchFinished?.((ids, outcomes) => this.announced(ids, outcomes));
    const loop = async () => {
      const scan = Date.now() - this.listedAt >= this.options.listEveryMs;
      this.round = this.runOnce(scan).catch((err: unknown) => this.reportFailure(err));
      await this.round;
      if (this.running) this.timer = setTimeout(loop, this.options.intervalMs);
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stops the rounds and writes the acceptances it still holds back. */
  async stop(): Promise<void> {
    this.running = false;
    this.watch?.stop();
    clearTimeout(this.timer);
    await this.round;
    await this.persistDeferred(true);
  }

  /**
   * A task this process accepted: worked on from the next round, before the next listing. A task
   * the POST claimed (BentoML looked ready) is submitted now, with the bytes it came with.
   */
  track(task: Versioned, image?: Buffer): void {
    this.cache.set(task.record.task_id, task);
    if (image && task.record.current) void this.advance(task, image);
  }

  /** A task this process finished. */
  forget(taskId: string): void {
    this.cache.delete(taskId);
  }

  tracks(taskId: string): boolean {
    return this.cache.has(taskId);
  }

  /**
   * A cached task, moved forward if due (a GET asks): the cache holds what this process last
   * wrote, so no MinIO read; a write that finds the record changed by someone else re-reads it.
   * Past `budgetMs`, the cached record; undefined when the task is not cached or advancing failed.
   */
  async advanceTracked(taskId: string, budgetMs: number): Promise<TaskRecord | undefined> {
    const task = this.cache.get(taskId);
    if (!task) return undefined;
    const budget = sleep(budgetMs, task, { ref: false });
    return (await Promise.race([this.advanceOne(task), budget]))?.record;
  }

  /**
   * Tasks the inference server says it finished: those this process holds are stored now, not at
   * their next poll (up to an interval later, while the client waits), with the announced outcome
   * or, without one, what a poll fetches. Another gateway's tasks are that gateway's to store.
   */
  private announced(inferenceTaskIds: string[], outcomes: ReadonlyMap<string, DetectionOutcome>): void {
    const finished = new Set(inferenceTaskIds);
    for (const task of this.cache.values()) {
      const submission = task.record.current?.inference_task_id;
      if (submission && finished.has(submission))
        void this.storeFinished(task.record.task_id, submission, outcomes.get(submission));
    }
  }

  private async storeFinished(taskId: string, submission: string, outcome?: DetectionOutcome): Promise<void> {
    // Twice at most: the first may join a poll that asked just before the task finished.
    for (let tries = 0; tries < 2; tries++) {
      const task = this.cache.get(taskId);
      if (!this.running || task?.record.current?.inference_task_id !== submission) return;
      this.advancer.pollNow(taskId, outcome && { inferenceTaskId: submission, outcome });
      await this.advanceOne(task);
    }
  }

  /** One round: over every pending task listed afresh (`scan`), or over the cached ones. */
  async runOnce(scan = true): Promise<void> {
    const tasks = scan ? await this.scan() : await this.load(this.cachedAsPending());
    const now = new Date();
    const { policy } = this.options;
    const toSubmit = tasks.filter((t) =>
      ['submit', 'abandon'].includes(nextStep(t.record, now, policy).kind),
    );
    await forEachLimit(toSubmit, this.options.concurrency, async (t) => {
      await this.advance(t);
    });
    await this.poll(tasks.filter((t) => nextStep(t.record, now, policy).kind === 'poll'));
    await this.persistDeferred();
    if (this.lastRoundFailed) this.options.log.info('reconciler: storage reachable again');
    this.lastRoundFailed = false;
  }

  /** Lists the pending index: the queue depth, and every pending task of every gateway. */
  private async scan(): Promise<Versioned[]> {
    const pending = await this.repo.listPending(this.options.scanLimit);
    this.listedAt = Date.now();
    this.queueDepth.observe(pending.length);
    const ids = new Set(pending.map((p) => p.taskId));
    this.advancer.forgetAllBut(ids);
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
    return this.load(pending);
  }

  /** The cached tasks, as if just listed (so none counts as an old leftover). */
  private cachedAsPending(): PendingTask[] {
    const now = new Date();
    return [...this.cache.keys()].map((taskId) => ({ taskId, since: now }));
  }

  /** Records of the pending tasks; cleans up markers of finished tasks and failed creations. */
  private async load(pending: PendingTask[]): Promise<Versioned[]> {
    const loaded: Versioned[] = [];
    await forEachLimit(pending, this.options.concurrency, async (item) => {
      try {
        const task = await this.loadOne(item);
        if (task) loaded.push(task);
      } catch (err) {
        if (err instanceof StorageUnavailableError) throw err; // storage down: this round is over
        this.options.log.error(
          { task_id: item.taskId, err: (err as Error).message },
          'unreadable task record',
        );
      }
    });
    return loaded;
  }

  private async loadOne({ taskId, since }: PendingTask): Promise<Versioned | undefined> {
    let task = this.cache.get(taskId);
    // A claimed task is re-read: the claimer (maybe another gateway) has likely moved on.
    if (!task || nextStep(task.record, new Date(), this.options.policy).kind === 'wait') {
      const read = await this.repo.read(taskId);
      // Unless this process submitted it meanwhile: its acceptance, held back, is newer.
      const held = this.cache.get(taskId);
      task = held && read && isNewerHeld(held, read) ? held : read;
    }
    if (!task) {
      if (Date.now() - since.getTime() > this.options.orphanGraceMs) await this.repo.removeOrphan(taskId);
      return undefined;
    }
    if (isTerminal(task.record.status)) {
      this.cache.delete(taskId);
      // Its webhook is still to be delivered: it stays listed until that is settled.
      if (callbackPending(task.record)) void this.options.deliverCallback?.(task);
      else await this.repo.removePending(taskId);
      return undefined;
    }
    this.remember(task);
    return task;
  }

  /**
   * Caches `task`, unless the cache holds an acceptance of it held back here that is newer: that
   * exists nowhere else (a round's snapshot, a poll skipped as too early, or a re-read of the
   * claim before it would otherwise replace it, and the task would wait for the claim timeout).
   */
  private remember(task: Versioned): void {
    const held = this.cache.get(task.record.task_id);
    if (held && isNewerHeld(held, task)) return;
    this.cache.set(task.record.task_id, task);
  }

  /**
   * Polls processing tasks oldest submission first, a few at a time, and stops once a batch finds
   * only tasks still running: BentoML works through its queue in about that order, so the tasks
   * behind those are still waiting too. Lost and overdue tasks are among the oldest, so they are
   * always reached. Polling everything each round would cost BentoML CPU that inference needs.
   */
  private async poll(processing: Versioned[]): Promise<void> {
    const ordered = processing.sort(byStart).slice(0, this.options.pollsPerRound);
    const batch = this.options.concurrency;
    for (let i = 0; i < ordered.length; i += batch) {
      const changed = await Promise.all(ordered.slice(i, i + batch).map((t) => this.advance(t)));
      if (!changed.some(Boolean)) return;
    }
  }

  /**
   * Writes the acceptances held back long enough (all of them with `now`): a task still running
   * then has BentoML's task id in MinIO, for other gateways and a restarted one.
   */
  private async persistDeferred(now = false): Promise<void> {
    const held = [...this.cache.values()].filter((t) => t.unsaved);
    await forEachLimit(held, this.options.concurrency, async (task) => {
      const id = task.record.task_id;
      try {
        const saved = await this.advancer.persistDeferred(task, now);
        if (saved !== task && this.cache.get(id) === task) this.cache.set(id, saved);
      } catch (err) {
        // Changed by someone else: read it afresh next round. MinIO down: try again next round.
        if (err instanceof WriteConflictError) this.cache.delete(id);
        else if (!(err instanceof StorageUnavailableError)) throw err;
      }
    });
  }

  /** Advances one task; true if its record changed (or advancing failed). */
  private async advance(task: Versioned, image?: Buffer): Promise<boolean> {
    const next = await this.advanceOne(task, image);
    return next === undefined || next.etag !== task.etag;
  }

  /** Advances one task and keeps the cache in step; undefined when that failed. */
  private async advanceOne(task: Versioned, image?: Buffer): Promise<Versioned | undefined> {
    const id = task.record.task_id;
    try {
      const next = await this.advancer.advance(task, image, {
        deferAccepted: true,
        announcementsLive: this.watch?.live() ?? false,
      });
      if (isTerminal(next.record.status)) this.cache.delete(id);
      else this.remember(next);
      return this.cache.get(id) ?? next;
    } catch (err) {
      // Read it afresh next round; unless its acceptance is held back here, which MinIO lacks.
      if (!task.unsaved) this.cache.delete(id);
      this.options.log.warn(
        { task_id: id, err: (err as Error).message },
        'reconciler could not advance task',
      );
      return undefined;
    }
  }

  private reportFailure(err: unknown): void {
    if (!this.lastRoundFailed)
      this.options.log.warn({ err: (err as Error).message }, 'reconciler round failed; retrying');
    this.lastRoundFailed = true;
  }
}

/** `held` is an acceptance held back here, and a later change than `other`. */
const isNewerHeld = (held: Versioned, other: Versioned) =>
  held.unsaved === true && held.record.revision > other.record.revision;

const startOf = (t: Versioned) => Date.parse(t.record.current?.started_at ?? t.record.created_at);
const byStart = (a: Versioned, b: Versioned) => startOf(a) - startOf(b);

/** Runs `fn` over `items` with at most `limit` at a time. */
async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
