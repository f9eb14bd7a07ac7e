// Builds a gateway from its settings: adapters, detection module, app. start.ts runs it as a
// process; tests build several on one MinIO, with a fake inference client where they need one.
import type express from 'express';
import { type Logger, pino } from 'pino';
import type { Config } from './config.js';
import { createDetectionModule, type DetectionContext } from './detection/detection-module.js';
import type { Reconciler } from './detection/reconciler.js';
import { createApp } from './http/app.js';
import { GatewayMetrics } from './http/metrics.js';
import { BentoMLClient } from './inference/bentoml-client.js';
import type { InferenceClient } from './inference/inference-client.js';
import { MinioStore, minioClient } from './storage/minio-store.js';
import type { ObjectStore } from './storage/object-store.js';

export interface Gateway {
  app: express.Express;
  reconciler: Reconciler;
  detection: DetectionContext;
  metrics: GatewayMetrics;
  logger: Logger;
}

export interface GatewayOverrides {
  store?: ObjectStore;
  inference?: InferenceClient;
  logger?: Logger;
  validateResponses?: boolean;
}

export function composeGateway(config: Config, overrides: GatewayOverrides = {}): Gateway {
  const logger = overrides.logger ?? pino({ level: config.LOG_LEVEL });
  const store =
    overrides.store ?? new MinioStore(minioClient(config), [config.IMAGES_BUCKET, config.TASKS_BUCKET]);
  const inference = overrides.inference ?? new BentoMLClient(config.BENTOML_URL, config.BENTOML_TIMEOUT_MS);
  const metrics = new GatewayMetrics();
  const { context, reconciler } = createDetectionModule(
    store,
    inference,
    {
      buckets: { images: config.IMAGES_BUCKET, tasks: config.TASKS_BUCKET },
      limits: { maxBytes: config.MAX_IMAGE_BYTES, maxPixels: config.MAX_IMAGE_PIXELS },
      policy: {
        maxAttempts: config.MAX_ATTEMPTS,
        taskTimeoutMs: config.TASK_TIMEOUT_MS,
        // A submission that has not been accepted within three BentoML timeouts never will be.
        claimTimeoutMs: 3 * config.BENTOML_TIMEOUT_MS,
      },
      maxQueueDepth: config.MAX_QUEUE_DEPTH,
      reconcileIntervalMs: config.RECONCILE_INTERVAL_MS,
      getBudgetMs: 2_000,
    },
    metrics.taskEvents(),
    logger,
  );
  const app = createApp({
    store,
    inference,
    detection: context,
    metrics,
    logger,
    apiKey: config.API_KEY,
    maxImageBytes: config.MAX_IMAGE_BYTES,
    validateResponses: overrides.validateResponses,
  });
  return { app, reconciler, detection: context, metrics, logger };
}
