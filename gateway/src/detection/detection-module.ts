// Wires the detection module from its ports: one place that knows how the use cases, the
// advancer, the queue depth and the reconciler fit together (used by start.ts and the tests).
import type { Logger } from 'pino';
import type { InferenceClient } from '../inference/inference-client.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ImageLimits } from './image-inspection.js';
import { QueueDepth } from './queue-depth.js';
import { Reconciler } from './reconciler.js';
import { TaskAdvancer, type TaskEvents } from './task-advancer.js';
import { type TaskBuckets, TaskRepository, type Versioned } from './task-repository.js';
import type { RetryPolicy } from './task-state.js';

export interface DetectionSettings {
  buckets: TaskBuckets;
  limits: ImageLimits;
  policy: RetryPolicy;
  maxQueueDepth: number;
  reconcileIntervalMs: number;
  /** How long a GET may spend moving its task forward before it answers with what it read. */
  getBudgetMs: number;
}

/** What the use cases need. */
export interface DetectionContext {
  repo: TaskRepository;
  advancer: TaskAdvancer;
  queueDepth: QueueDepth;
  limits: ImageLimits;
  getBudgetMs: number;
  /** Hands a task this process accepted to its reconciler. */
  track(task: Versioned): void;
  log: Logger;
}

export interface DetectionModule {
  context: DetectionContext;
  reconciler: Reconciler;
}

export function createDetectionModule(
  store: ObjectStore,
  inference: InferenceClient,
  settings: DetectionSettings,
  events: TaskEvents & { queueDepth(depth: number): void },
  log: Logger,
): DetectionModule {
  const repo = new TaskRepository(store, settings.buckets);
  // The pending index is listed every ten rounds; the cache and local counts fill the gaps. A
  // listing costs event-loop time in proportion to the queue (XML of every marker), which POSTs
  // wait for: with the queue hundreds deep, listing every few rounds was the tail of their latency.
  const listEveryMs = Math.max(10 * settings.reconcileIntervalMs, 1_000);
  // The reconciler's listings keep the count fresh; a POST lists only if they stop (twice the
  // interval), rather than a second listing racing the reconciler's each time the count ages.
  const queueDepth = new QueueDepth(repo, settings.maxQueueDepth, 2 * listEveryMs, (depth) =>
    events.queueDepth(depth),
  );
  // The advancer tells the reconciler (built after it, as it needs the advancer) what finished.
  let reconciler: Reconciler | undefined;
  const advancer = new TaskAdvancer(repo, inference, {
    policy: settings.policy,
    minPollIntervalMs: settings.reconcileIntervalMs,
    events: {
      finished: (record) => {
        events.finished(record);
        queueDepth.finished();
        reconciler?.forget(record.task_id);
      },
      retried: (record, reason) => events.retried(record, reason),
    },
    log,
  });
  reconciler = new Reconciler(repo, advancer, queueDepth, {
    intervalMs: settings.reconcileIntervalMs,
    policy: settings.policy,
    orphanGraceMs: 60_000,
    // Each status request costs BentoML CPU that inference could use: poll a bounded few per round.
    pollsPerRound: 32,
    scanLimit: Math.max(10_000, settings.maxQueueDepth * 2),
    concurrency: 4,
    listEveryMs,
    log,
  });
  const tracked = reconciler;
  const context: DetectionContext = {
    repo,
    advancer,
    queueDepth,
    limits: settings.limits,
    getBudgetMs: settings.getBudgetMs,
    track: (task) => tracked.track(task),
    log,
  };
  return { context, reconciler };
}
