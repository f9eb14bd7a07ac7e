// The composition root: every object a gateway is built from, in the order they are built.
//   config (config.ts)
//   → adapters: the object store (MinIO; with TASK_DB, task records in SQLite), the inference
//     client (a ReplicaPool of BentoMLClients) and the webhook sender;
//   → detection parts: the task repository, the advancer (moves a task on through the inference
//     client), the queue depth, the callback deliverer, the long-polling waiters and the reconciler
//     (here, or on its own thread);
//   → the HTTP app, whose routes call the use cases with the DetectionContext built here.
// A POST /image/detect: detectionRoutes → submitDetection → TaskRepository.create, then
// context.track → the reconciler → TaskAdvancer → ReplicaPool → BentoMLClient (/detect/submit).
//
// start.ts runs the reconciler on a worker thread (reconciler-thread.ts says why). Threads share
// no objects, so reconciler-worker.ts builds its own adapters and detection parts with
// createAdapters and createDetection below, from the same config: built alike, and to MinIO and
// BentoML one more gateway. Tests build gateways with the reconciler in-process (they drive its
// rounds) and fake adapters where they need them.
import type express from 'express';
import { type Logger, pino } from 'pino';
import type { CallbackSender } from './callbacks/callback-sender.js';
import { UrlPolicy } from './callbacks/url-policy.js';
import { WebhookSender } from './callbacks/webhook-sender.js';
import type { Config } from './config.js';
import { CallbackDeliverer } from './detection/callback-deliverer.js';
import type { DetectionContext } from './detection/detection-context.js';
import { FinishedTasks } from './detection/finished-tasks.js';
import type { ImageLimits } from './detection/image-inspection.js';
import { QueueDepth } from './detection/queue-depth.js';
import { Reconciler, type ReconcilerRunner } from './detection/reconciler.js';
import { TaskAdvancer, type TaskEvents } from './detection/task-advancer.js';
import { type TaskBuckets, TaskRepository } from './detection/task-repository.js';
import type { CallbackPolicy, RetryPolicy } from './detection/task-state.js';
import { TaskWaiters } from './detection/task-waiters.js';
import { createApp } from './http/app.js';
import { detectionRoutes } from './http/detection-routes.js';
import { GatewayMetrics } from './http/metrics.js';
import { BentoMLClient } from './inference/bentoml-client.js';
import type { InferenceClient } from './inference/inference-client.js';
import { ReplicaPool } from './inference/replica-pool.js';
import { DnsReplicas, fixedReplicas, type ReplicaSource } from './inference/replica-source.js';
import { ReconcilerThread } from './reconciler-thread.js';
import { MinioStore, minioClient } from './storage/minio-store.js';
import type { ObjectStore } from './storage/object-store.js';
import { SplitStore } from './storage/split-store.js';
import { SqliteStore } from './storage/sqlite-store.js';

export interface Gateway<R extends ReconcilerRunner = Reconciler> {
  app: express.Express;
  reconciler: R;
  detection: DetectionContext;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** Parts a test puts in place of those built from the config. */
export interface GatewayOverrides extends Partial<Adapters> {
  logger?: Logger;
  validateResponses?: boolean;
}

/** A gateway whose reconciler runs on the calling thread. */
export function composeGateway(config: Config, overrides: GatewayOverrides = {}): Gateway {
  return assemble(config, overrides, inProcessReconciler);
}

/** A gateway as a process runs it: the reconciler on a worker thread. */
export function composeGatewayProcess(config: Config): Gateway<ReconcilerThread> {
  return assemble(config, {}, (parts) => new ReconcilerThread(config, parts));
}

function assemble<R extends ReconcilerRunner>(
  config: Config,
  overrides: GatewayOverrides,
  reconcilerFactory: ReconcilerFactory<R>,
): Gateway<R> {
  const logger = overrides.logger ?? pino({ level: config.LOG_LEVEL });
  const built = createAdapters(config);
  const adapters: Adapters = {
    store: overrides.store ?? built.store,
    inference: overrides.inference ?? built.inference,
    callbacks: overrides.callbacks ?? built.callbacks,
  };
  const metrics = new GatewayMetrics();
  const { context, reconciler } = createDetection(
    adapters,
    detectionSettings(config),
    metrics.taskEvents(),
    logger,
    reconcilerFactory,
  );
  const app = createApp({
    store: adapters.store,
    inference: adapters.inference,
    api: detectionRoutes(context),
    metrics,
    logger,
    apiKey: config.API_KEY,
    corsOrigins: config.CORS_ORIGINS,
    maxImageBytes: config.MAX_IMAGE_BYTES,
    validateResponses: overrides.validateResponses,
  });
  return { app, reconciler, detection: context, metrics, logger };
}

// ---- Adapters: storage, the model server and webhooks ----

export interface Adapters {
  store: ObjectStore;
  inference: InferenceClient;
  callbacks: CallbackSender;
}

export function createAdapters(config: Config): Adapters {
  return {
    store: objectStore(config),
    inference: new ReplicaPool(
      replicaSource(config),
      (url) => new BentoMLClient(url, config.BENTOML_TIMEOUT_MS),
      // A replica unreachable for one request timeout while another answers: run its tasks there.
      { lostAfterMs: config.BENTOML_TIMEOUT_MS },
    ),
    callbacks: new WebhookSender(new UrlPolicy(config.CALLBACK_ALLOWED_HOSTS ?? []), config.CALLBACK_SECRET),
  };
}

/** MinIO; with TASK_DB, the tasks bucket in that SQLite file instead. */
function objectStore(config: Config): ObjectStore {
  const { IMAGES_BUCKET, TASKS_BUCKET, TASK_DB, TASK_RETENTION_DAYS } = config;
  if (!TASK_DB)
    return new MinioStore(minioClient(config), [IMAGES_BUCKET, TASKS_BUCKET], TASK_RETENTION_DAYS);
  const images = new MinioStore(minioClient(config), [IMAGES_BUCKET], TASK_RETENTION_DAYS);
  return new SplitStore(new Map([[TASKS_BUCKET, new SqliteStore(TASK_DB, TASK_RETENTION_DAYS)]]), images);
}

/** How often BENTOML_DNS is resolved again (pods come and go; a Service's TTL is about this). */
const DNS_INTERVAL_MS = 10_000;

function replicaSource(config: Config): ReplicaSource {
  if (!config.BENTOML_DNS) return fixedReplicas(config.BENTOML_URLS ?? [config.BENTOML_URL]);
  const at = config.BENTOML_DNS.lastIndexOf(':');
  const target = { host: config.BENTOML_DNS.slice(0, at), port: Number(config.BENTOML_DNS.slice(at + 1)) };
  return new DnsReplicas(target, { intervalMs: DNS_INTERVAL_MS });
}

// ---- Detection parts: the use cases' context and the reconciler ----

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

export function detectionSettings(config: Config): DetectionSettings {
  return {
    buckets: { images: config.IMAGES_BUCKET, tasks: config.TASKS_BUCKET },
    limits: { maxBytes: config.MAX_IMAGE_BYTES, maxPixels: config.MAX_IMAGE_PIXELS },
    callbackPolicy: {
      maxAttempts: config.CALLBACK_MAX_ATTEMPTS,
      firstBackoffMs: 1_000,
      maxBackoffMs: 60_000,
    },
    policy: {
      maxAttempts: config.MAX_ATTEMPTS,
      taskTimeoutMs: config.TASK_TIMEOUT_MS,
      // A submission that has not been accepted within three BentoML timeouts never will be.
      claimTimeoutMs: 3 * config.BENTOML_TIMEOUT_MS,
    },
    maxQueueDepth: config.MAX_QUEUE_DEPTH,
    reconcileIntervalMs: config.RECONCILE_INTERVAL_MS,
    getBudgetMs: 2_000,
    // ~1 kB each (more with many boxes); at 30 tasks/s, the last half minute's.
    finishedTasksKept: 1_000,
  };
}

/** What a reconciler is built from: the detection parts, and the hooks for what it finishes. */
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

/**
 * How often a task is polled while BentoML announces finishes: only a missed announcement (a
 * BentoML restart) or a task that runs too long is found this way, so it is rare, and each poll
 * of a running task costs BentoML CPU that inference could use.
 */
const ANNOUNCED_POLL_INTERVAL_MS = 5_000;

/** How long a finished record is answered from memory (far less than any TASK_RETENTION_DAYS). */
const FINISHED_KEPT_MS = 60 * 60_000;

// The pending index is listed every ten rounds; the cache and local counts fill the gaps. A
// listing costs CPU in proportion to the queue (XML of every marker): on the request thread, with
// the queue hundreds deep, listing every few rounds was the tail of POST latency, and on the
// reconciler's own thread it still takes a share of the cores inference and MinIO use.
const listEveryMs = (settings: DetectionSettings) => Math.max(10 * settings.reconcileIntervalMs, 1_000);

export function createDetection<R extends ReconcilerRunner>(
  { store, inference, callbacks }: Adapters,
  settings: DetectionSettings,
  events: TaskEvents & { queueDepth(depth: number): void },
  log: Logger,
  reconcilerFactory: ReconcilerFactory<R>,
): { context: DetectionContext; reconciler: R } {
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
