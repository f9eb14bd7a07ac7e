// What a gateway is built from, read from its settings: the MinIO and BentoML adapters and the
// detection module's settings. Shared by the request thread (compose.ts) and the reconciler's
// thread (reconciler-worker.ts), which build the same from the same config.
import type { CallbackSender } from './callbacks/callback-sender.js';
import { UrlPolicy } from './callbacks/url-policy.js';
import { WebhookSender } from './callbacks/webhook-sender.js';
import type { Config } from './config.js';
import type { DetectionSettings } from './detection/detection-module.js';
import { BentoMLClient } from './inference/bentoml-client.js';
import type { InferenceClient } from './inference/inference-client.js';
import { ReplicaPool } from './inference/replica-pool.js';
import { DnsReplicas, fixedReplicas, type ReplicaSource } from './inference/replica-source.js';
import { MinioStore, minioClient } from './storage/minio-store.js';
import type { ObjectStore } from './storage/object-store.js';
import { SplitStore } from './storage/split-store.js';
import { SqliteStore } from './storage/sqlite-store.js';

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
