// Moves one task forward by talking to BentoML and writing the record with If-Match, so that
// when two gateways (or a GET and the reconciler) act on one task at once, exactly one write
// wins and the other re-reads and re-decides. Used by POST (first submission), GET (advance on
// read) and the reconciler (everything else).
import type { Logger } from 'pino';
import {
  type InferenceClient,
  InferenceError,
  InferenceRejectedError,
  type InferenceTaskState,
} from '../inference/inference-client.js';
import { StorageUnavailableError, WriteConflictError } from '../storage/object-store.js';
import type { DetectionOutcome, RetryReason, TaskError, TaskRecord } from './dto.js';
import type { TaskRepository, Versioned } from './task-repository.js';
import {
  accepted,
  callbackPending,
  claim,
  fail,
  finish,
  isOverdue,
  isTerminal,
  isTransient,
  nextStep,
  type RetryPolicy,
  release,
  retry,
} from './task-state.js';

/** Hooks for metrics; the advancer only reports transitions it actually wrote. */
export interface TaskEvents {
  finished(record: TaskRecord): void;
  retried(record: TaskRecord, reason: RetryReason): void;
}

export interface AdvancerOptions {
  policy: RetryPolicy;
  /** BentoML is asked about one task at most this often (per gateway process). */
  minPollIntervalMs: number;
  /**
   * As often as this while BentoML's announcements are live (the caller says so): a finish is
   * then fetched on its announcement, and these polls only find tasks whose announcement was
   * missed, or that have run too long.
   */
  announcedPollIntervalMs: number;
  /**
   * With `deferAccepted`, how long BentoML's acceptance of a task may wait unwritten (see
   * persistDeferred); it must stay well below the claim timeout.
   */
  deferAcceptedMs: number;
  events: TaskEvents;
  /** A task this advancer just finished whose webhook is to be delivered. */
  finishedWithCallback?: (task: Versioned) => void;
  log: Logger;
  clock?: () => Date;
}

/** How a caller wants a task advanced (see advance). */
export interface AdvanceOptions {
  deferAccepted?: boolean;
  /** The caller gets BentoML's announcements of finished tasks now: polls can be rare. */
  announcementsLive?: boolean;
}

/** A submission's outcome, as BentoML announced it (see pollNow). */
export interface AnnouncedOutcome {
  inferenceTaskId: string;
  outcome: DetectionOutcome;
}

const MAX_CONFLICTS = 3;
/** How long a readiness answer of BentoML is trusted. */
const READINESS_TTL_MS = 1_000;

export class TaskAdvancer {
  /** Work in progress per task in this process, so a GET and the reconciler do not double up. */
  private readonly inflight = new Map<string, Promise<Versioned>>();
  /** When this process last asked BentoML about a task: an optimisation only, never the truth. */
  private readonly lastPolled = new Map<string, number>();
  /** Outcomes BentoML announced, by task, for the next poll of the task to take. */
  private readonly announced = new Map<string, AnnouncedOutcome>();
  private readonly clock: () => Date;
  /** BentoML's last readiness answer: an optimisation only (skip submissions it would refuse). */
  private readiness: { ready: boolean; at: number } | undefined;
  private readinessCheck: Promise<boolean> | undefined;

  constructor(
    private readonly repo: TaskRepository,
    private readonly inference: InferenceClient,
    private readonly options: AdvancerOptions,
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  /**
   * Does whatever is due for the task now; returns the record as it then stands. With
   * `deferAccepted` (a caller that keeps the result and calls again: the reconciler), a submission
   * BentoML accepts is not written at once but returned `unsaved`: most tasks finish within a few
   * polls, and go from claimed to finished in one write instead of two.
   */
  advance(task: Versioned, image?: Buffer, how: AdvanceOptions = {}): Promise<Versioned> {
    const id = task.record.task_id;
    const running = this.inflight.get(id);
    if (running) return running;
    const work = this.advanceWithRetries(task, image, how).finally(() => this.inflight.delete(id));
    this.inflight.set(id, work);
    return work;
  }

  /**
   * Whether BentoML can take work (a model is loaded), as last seen; asks again once the answer
   * is older than a second. Tasks are not submitted while it cannot: they would fail with no_model.
   */
  inferenceReady(): Promise<boolean> {
    if (this.readiness && Date.now() - this.readiness.at < READINESS_TTL_MS)
      return Promise.resolve(this.readiness.ready);
    this.readinessCheck ??= this.inference
      .isReady()
      .then((ready) => {
        this.readiness = { ready, at: Date.now() };
        return ready;
      })
      .finally(() => {
        this.readinessCheck = undefined;
      });
    return this.readinessCheck;
  }

  /** The last readiness answer without waiting (a check starts if it is stale); unknown counts as ready. */
  inferenceReadyHint(): boolean {
    void this.inferenceReady().catch(() => {});
    return this.readiness?.ready ?? true;
  }

  /**
   * Lets the next advance of a task poll BentoML however recently it was polled (it announced a
   * finish); with the outcome it announced, that poll takes it instead of asking BentoML.
   */
  pollNow(taskId: string, announced?: AnnouncedOutcome): void {
    this.lastPolled.set(taskId, Number.NEGATIVE_INFINITY);
    if (announced) this.announced.set(taskId, announced);
  }

  /** Forgets poll times and announced outcomes of tasks that are no longer pending. */
  forgetAllBut(pendingIds: ReadonlySet<string>): void {
    for (const id of this.lastPolled.keys()) if (!pendingIds.has(id)) this.lastPolled.delete(id);
    for (const id of this.announced.keys()) if (!pendingIds.has(id)) this.announced.delete(id);
  }

  /**
   * Writes an acceptance held back by `deferAccepted` once it is `deferAcceptedMs` old (or at
   * once with `now`), so that other gateways and a restarted one find BentoML's task id.
   */
  async persistDeferred(task: Versioned, now = false): Promise<Versioned> {
    // Work in flight on the task writes it anyway (or finds it changed).
    if (this.inflight.has(task.record.task_id)) return task;
    return this.saveIfDue(task, now);
  }

  private async saveIfDue(task: Versioned, now = false): Promise<Versioned> {
    if (!task.unsaved) return task;
    const started = Date.parse(task.record.current?.started_at ?? task.record.updated_at);
    if (!now && this.clock().getTime() - started < this.options.deferAcceptedMs) return task;
    try {
      return await this.save(task, task.record);
    } catch (err) {
      // MinIO down: kept back a while longer (a conflict is decided by the caller).
      if (err instanceof StorageUnavailableError && !now) return task;
      throw err;
    }
  }

  private async advanceWithRetries(
    task: Versioned,
    image: Buffer | undefined,
    how: AdvanceOptions,
  ): Promise<Versioned> {
    let current = task;
    let upload = image;
    for (let conflicts = 0; ; conflicts++) {
      try {
        return await this.step(current, upload, how.deferAccepted ?? false, how.announcementsLive ?? false);
      } catch (err) {
        if (!(err instanceof WriteConflictError) || conflicts >= MAX_CONFLICTS) throw err;
        // Someone else wrote the record since we read it: decide again from what is there now.
        // The uploaded bytes belonged to our own claim, which may be gone: read them if needed.
        const fresh = await this.repo.read(current.record.task_id);
        if (!fresh) throw err;
        current = fresh;
        upload = undefined;
      }
    }
  }

  private async step(
    task: Versioned,
    image: Buffer | undefined,
    defer: boolean,
    announcementsLive = false,
  ): Promise<Versioned> {
    const now = this.clock();
    const step = nextStep(task.record, now, this.options.policy);
    switch (step.kind) {
      case 'done':
        return task;
      case 'wait':
        // Claimed: by this process (POST hands over the image) or by another gateway (it submits).
        if (!image) return task;
        if (!(await this.inferenceReady())) return this.save(task, release(task.record, now));
        return this.submit(task, image, defer);
      case 'abandon':
        return this.retryTask(
          task,
          'abandoned',
          'the gateway that was submitting it stopped answering',
          defer,
        );
      case 'submit':
        if (!(await this.inferenceReady())) return task;
        return this.submit(await this.save(task, claim(task.record, now)), image, defer);
      case 'poll':
        if (!this.pollDue(task, announcementsLive)) return task;
        return this.poll(await this.saveIfDue(task), step.inferenceTaskId, defer);
    }
  }

  /** Sends a claimed task to BentoML and records its id there. */
  private async submit(task: Versioned, image: Buffer | undefined, defer: boolean): Promise<Versioned> {
    const { record } = task;
    const bytes = image ?? (await this.repo.readImage(record));
    if (!bytes) {
      const error = { code: 'image_missing', message: `the stored image ${record.image.key} is gone` };
      return this.save(task, fail(record, error, this.clock()));
    }
    let inferenceTaskId: string;
    try {
      inferenceTaskId = await this.inference.submit(
        { bytes, contentType: record.image.content_type },
        record.params,
      );
    } catch (err) {
      if (err instanceof InferenceRejectedError) {
        const error = { code: 'inference_rejected', message: err.message };
        return this.save(task, fail(record, error, this.clock()));
      }
      // A server error from a live BentoML uses up the attempt, so a submission it keeps refusing
      // ends failed instead of being claimed and released forever (seen: a worker whose task store
      // answered 500 to every submit).
      if (err instanceof InferenceError && err.failure === 'bad_response')
        return this.retryTask(
          task,
          'failed',
          `the inference service refused the submission: ${err.message}`,
          defer,
        );
      if (err instanceof InferenceError) {
        this.readiness = { ready: false, at: Date.now() };
        this.options.log.warn({ task_id: record.task_id, err: err.message }, 'submission postponed');
        return this.save(task, release(record, this.clock()));
      }
      throw err;
    }
    const next = accepted(record, inferenceTaskId, this.clock());
    if (defer && this.options.deferAcceptedMs > 0) return { record: next, etag: task.etag, unsaved: true };
    return this.save(task, next);
  }

  /** Whether BentoML is to be asked about the task now (always, if it was never asked and no announcements come). */
  private pollDue(task: Versioned, announcementsLive: boolean): boolean {
    const submittedAt = Date.parse(task.record.current?.started_at ?? '');
    const last = this.lastPolled.get(task.record.task_id) ?? (announcementsLive ? submittedAt : undefined);
    if (last === undefined || Number.isNaN(last)) return true;
    const interval = announcementsLive
      ? this.options.announcedPollIntervalMs
      : this.options.minPollIntervalMs;
    return Date.now() - last >= interval;
  }

  /** Asks BentoML how the current attempt is doing and records what changed. */
  private async poll(task: Versioned, inferenceTaskId: string, defer: boolean): Promise<Versioned> {
    const id = task.record.task_id;
    this.lastPolled.set(id, Date.now());
    try {
      const state = this.takeAnnounced(id, inferenceTaskId) ?? (await this.inference.check(inferenceTaskId));
      switch (state.status) {
        case 'in_progress':
          if (!isOverdue(task.record, this.clock(), this.options.policy)) return task;
          return this.retryTask(
            task,
            'timeout',
            `the inference service was still running it after ${this.options.policy.taskTimeoutMs} ms`,
            defer,
          );
        case 'not_found':
          return this.retryTask(task, 'lost', 'the inference service lost it (it restarted)', defer);
        case 'failed':
          return this.retryTask(
            task,
            'failed',
            `the inference service reported it failed: ${state.reason}`,
            defer,
          );
        case 'completed': {
          const { outcome } = state;
          if (outcome.error && isTransient(outcome)) {
            // E.g. a worker that has not loaded the model yet: wait for readiness, then retry.
            this.readiness = { ready: false, at: Date.now() };
            const { code, message } = outcome.error;
            return this.retryTask(
              task,
              'failed',
              `the inference service answered ${code}: ${message}`,
              defer,
              outcome.error,
            );
          }
          return this.save(task, finish(task.record, outcome, this.clock()));
        }
      }
    } catch (err) {
      if (!(err instanceof InferenceError || err instanceof StorageUnavailableError)) throw err;
      // An answer that makes no sense uses up the attempt, so no task polls forever...
      if (err instanceof InferenceError && err.failure === 'bad_response')
        return this.retryTask(task, 'failed', err.message, defer);
      // ...while down or slow (BentoML or MinIO) changes nothing: the next poll tries again.
      return task;
    }
  }

  /** The outcome announced for this submission of the task, if one was (taken: used once). */
  private takeAnnounced(taskId: string, inferenceTaskId: string): InferenceTaskState | undefined {
    const announced = this.announced.get(taskId);
    this.announced.delete(taskId);
    if (announced?.inferenceTaskId !== inferenceTaskId) return undefined;
    return { status: 'completed', outcome: announced.outcome };
  }

  /** Drops the current attempt and, unless attempts are used up, submits the task again at once. */
  private async retryTask(
    task: Versioned,
    reason: RetryReason,
    message: string,
    defer: boolean,
    finalError?: TaskError,
  ): Promise<Versioned> {
    const saved = await this.save(
      task,
      retry(task.record, reason, message, this.clock(), this.options.policy, finalError),
    );
    return saved.record.status === 'queued' ? this.step(saved, undefined, defer) : saved;
  }

  /** Writes the next record if nobody else wrote since `task` was read; reports what happened. */
  private async save(task: Versioned, next: TaskRecord): Promise<Versioned> {
    const saved = await this.repo.update(next, task.etag);
    if (isTerminal(next.status)) {
      this.lastPolled.delete(next.task_id);
      this.options.events.finished(next);
      // A webhook to deliver keeps the task in the pending index until it is settled.
      if (callbackPending(next)) this.options.finishedWithCallback?.(saved);
      // Not waited for (it goes in a batch); the reconciler removes a marker left behind.
      else void this.repo.removePending(next.task_id).catch(() => {});
    } else if (next.last_retry !== task.record.last_retry && next.last_retry) {
      this.options.events.retried(next, next.last_retry.reason);
    }
    return saved;
  }
}
