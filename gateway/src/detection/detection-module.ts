// Wires the detection module from its ports: one place that knows how the use cases, the
// advancer, the queue depth and the reconciler fit together (used by start.ts and the tests).
import type { Logger } from 'pino';
import type { CallbackSender } from '../callbacks/callback-sender.js';
import type { InferenceClient } from '../inference/inference-client.js';
import type { ObjectStore } from '../storage/object-store.js';
import { CallbackDeliverer } from './callback-deliverer.js';
import type { TaskRecord } from './dto.js';
import { FinishedTasks } from './finished-tasks.js';
import type { ImageLimits } from './image-inspection.js';
import { QueueDepth } from './queue-depth.js';
import { Reconciler } from './reconciler.js';
import { TaskAdvancer, type TaskEvents } from './task-advancer.js';
import { type TaskBuckets, TaskRepository, type Versioned } from './task-repository.js';
import type { CallbackPolicy, RetryPolicy } from './task-state.js';
import { TaskWaiters } from './task-waiters.js';

export interface DetectionSettings {
  buckets: TaskBuckets;
  limits: ImageLimits;
  policy: RetryPolicy;
  callbackPolicy: CallbackPolicy;
  maxQueueDepth: number;
  reconcileIntervalMs: number;
  /** How long a GET may spend moving its task forward before it answers with what it read. */
  getBudgetMs: number;
  /** Finished records kept in memory for GETs (0: none, e.g. on the reconciler's thread). */
  finishedTasksKept: number;
}

/** The ports the module works through: storage, the model server and webhooks. */
export interface DetectionPorts {
  store: ObjectStore;
  inference: InferenceClient;
  callbacks: CallbackSender;
}

/** What the use cases need. */
export interface DetectionContext {
  repo: TaskRepository;
  /** Checks a callback_url at POST (the same rules its deliveries meet). */
  callbacks: CallbackSender;
  advancer: TaskAdvancer;
  queueDepth: QueueDepth;
  limits: ImageLimits;
  getBudgetMs: number;
  /** Hands a task this process accepted (and its bytes, for the first submission) to the reconciler. */
  track(task: Versioned, image?: Buffer): void;
  /** A task the reconciler holds, moved forward if due; undefined when it does not hold it. */
  advanceTracked(taskId: string): Promise<TaskRecord | undefined>;
  /** Whether the reconciler holds the task (its finish is then news to this process). */
  tracks(taskId: string): boolean;
  /** Finished records this process wrote or read, so a GET needs no MinIO read for them. */
  finished: FinishedTasks;
  /** Long-polling GETs, woken when this process finishes their task. */
  waiters: TaskWaiters;
  /**
   * How often a long-polling GET looks at a task again without news of it: one another gateway
   * moves (news only through MinIO); a task held here is woken by its finish, and this interval
   * times 10 is only a safety net (each look may poll BentoML).
   */
  waitRecheckMs: number;
  log: Logger;
}

/** What the rest of the process needs of a reconciler, wherever it runs. */
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

/** What a reconciler is built from: this module's parts, and the hooks for what it finishes. */
export interface ReconcilerParts {
  repo: TaskRepository;
  inference: InferenceClient;
  advancer: TaskAdvancer;
  queueDepth: QueueDepth;
  /** Metrics and the local queue count, for tasks the reconciler finished or retried. */
  events: TaskEvents;
  deliverer: CallbackDeliverer;
  settings: DetectionSettings;
  log: Logger;
}

export type ReconcilerFactory<R extends ReconcilerRunner> = (parts: ReconcilerParts) => R;

export interface DetectionModule<R extends ReconcilerRunner> {
  context: DetectionContext;
  reconciler: R;
}

/** The reconciler on this thread (tests drive its rounds; reconciler-worker.ts runs one too). */
export const inProcessReconciler: ReconcilerFactory<Reconciler> = (parts) =>
  new Reconciler(parts.repo, parts.advancer, parts.queueDepth, {
    intervalMs: parts.settings.reconcileIntervalMs,
    policy: parts.settings.policy,
    orphanGraceMs: 60_000,
    // Each poll costs BentoML CPU that inference could use: poll a bounded few per round.
    pollsPerRound: 32,
    scanLimit: Math.max(10_000, parts.settings.maxQueueDepth * 2),
    concurrency: 4,
    listEveryMs: listEveryMs(parts.settings),
    deliverCallback: (task) => parts.deliverer.deliverIfDue(task),
    watchFinished: (onFinished) => parts.inference.watchFinished(onFinished),
    log: parts.log,
  });

// The pending index is listed every ten rounds; the cache and local counts fill the gaps. A
// listing costs CPU in proportion to the queue (XML of every marker): on the request thread, with
// the queue hundreds deep, listing every few rounds was the tail of POST latency, and on the
// reconciler's own thread it still takes a share of the cores inference and MinIO use.
const listEveryMs = (settings: DetectionSettings) => Math.max(10 * settings.reconcileIntervalMs, 1_000);

/**
 * How often a task is polled while BentoML announces finishes: only a missed announcement (a
 * BentoML restart) or a task that runs too long is found this way, so it is rare, and each poll
 * of a running task costs BentoML CPU that inference could use.
 */
const ANNOUNCED_POLL_INTERVAL_MS = 5_000;

/** How long a finished record is answered from memory (far less than any TASK_RETENTION_DAYS). */
const FINISHED_KEPT_MS = 60 * 60_000;

export function createDetectionModule<R extends ReconcilerRunner>(
  { store, inference, callbacks }: DetectionPorts,
  settings: DetectionSettings,
  events: TaskEvents & { queueDepth(depth: number): void },
  log: Logger,
  reconcilerFactory: ReconcilerFactory<R>,
): DetectionModule<R> {
  const repo = new TaskRepository(store, settings.buckets);
  const deliverer = new CallbackDeliverer(repo, callbacks, settings.callbackPolicy, log);
  const finished = new FinishedTasks(settings.finishedTasksKept, FINISHED_KEPT_MS);
  const waiters = new TaskWaiters();
  // The reconciler's listings keep the count fresh; a POST lists only if they stop (twice the
  // interval), rather than a second listing racing the reconciler's each time the count ages.
  const queueDepth = new QueueDepth(repo, settings.maxQueueDepth, 2 * listEveryMs(settings), (depth) =>
    events.queueDepth(depth),
  );
  const taskEvents: TaskEvents = {
    finished: (record) => {
      events.finished(record);
      queueDepth.finished();
      finished.remember(record);
      waiters.finished(record.task_id);
    },
    retried: (record, reason) => events.retried(record, reason),
  };
  // The advancer tells the reconciler (built after it, as it needs the advancer) what finished.
  let reconciler: R | undefined;
  const advancer = new TaskAdvancer(repo, inference, {
    policy: settings.policy,
    minPollIntervalMs: settings.reconcileIntervalMs,
    announcedPollIntervalMs: ANNOUNCED_POLL_INTERVAL_MS,
    // A few polls' time, and far below the claim timeout after which other gateways would
    // take a claim whose acceptance is not written yet for abandoned.
    deferAcceptedMs: Math.min(10 * settings.reconcileIntervalMs, settings.policy.claimTimeoutMs / 3),
    events: {
      finished: (record) => {
        taskEvents.finished(record);
        reconciler?.forget(record.task_id);
      },
      retried: taskEvents.retried,
    },
    // At once, not waited for: a slow receiver must not hold the round or the GET that finished it.
    finishedWithCallback: (task) => void deliverer.deliverIfDue(task),
    log,
  });
  const built = reconcilerFactory({
    repo,
    inference,
    advancer,
    queueDepth,
    events: taskEvents,
    deliverer,
    settings,
    log,
  });
  reconciler = built;
  const context: DetectionContext = {
    repo,
    callbacks,
    advancer,
    queueDepth,
    limits: settings.limits,
    getBudgetMs: settings.getBudgetMs,
    track: (task, image) => built.track(task, image),
    advanceTracked: (taskId) => built.advanceTracked(taskId, settings.getBudgetMs),
    tracks: (taskId) => built.tracks(taskId),
    finished,
    waiters,
    // A task another gateway moves is news only through MinIO: about as often as a round reads it.
    waitRecheckMs: Math.max(1_000, 2 * settings.reconcileIntervalMs),
    log,
  };
  return { context, reconciler: built };
}
