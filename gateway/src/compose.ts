// Builds a gateway from its settings: adapters, detection module, app. start.ts runs it as a
// process, with the reconciler on a thread of its own; tests build several on one MinIO with the
// reconciler in-process (they drive its rounds), and a fake inference client where they need one.
import type express from 'express';
import { type Logger, pino } from 'pino';
import { createAdapters, detectionSettings } from './adapters.js';
import type { CallbackSender } from './callbacks/callback-sender.js';
import type { Config } from './config.js';
import {
  createDetectionModule,
  type DetectionContext,
  inProcessReconciler,
  type ReconcilerFactory,
  type ReconcilerRunner,
} from './detection/detection-module.js';
import type { Reconciler } from './detection/reconciler.js';
import { createApp } from './http/app.js';
import { GatewayMetrics } from './http/metrics.js';
import type { InferenceClient } from './inference/inference-client.js';
import { ReconcilerThread } from './reconciler-thread.js';
import type { ObjectStore } from './storage/object-store.js';

export interface Gateway<R extends ReconcilerRunner = Reconciler> {
  app: express.Express;
  reconciler: R;
  detection: DetectionContext;
  metrics: GatewayMetrics;
  logger: Logger;
}

export interface GatewayOverrides {
  store?: ObjectStore;
  inference?: InferenceClient;
  callbacks?: CallbackSender;
  logger?: Logger;
  validateResponses?: boolean;
}

/** A gateway whose reconciler runs on the calling thread. */
export function composeGateway(config: Config, overrides: GatewayOverrides = {}): Gateway {
  return assemble(config, overrides, inProcessReconciler);
}

/**
 * A gateway as a process runs it: the reconciler on a worker thread, so that its rounds never hold
 * the event loop that answers requests.
 */
export function composeGatewayProcess(config: Config): Gateway<ReconcilerThread> {
  return assemble(config, {}, (parts) => new ReconcilerThread(config, parts));
}

function assemble<R extends ReconcilerRunner>(
  config: Config,
  overrides: GatewayOverrides,
  reconcilerFactory: ReconcilerFactory<R>,
): Gateway<R> {
  const logger = overrides.logger ?? pino({ level: config.LOG_LEVEL });
  const adapters = createAdapters(config);
  const store = overrides.store ?? adapters.store;
  const inference = overrides.inference ?? adapters.inference;
  const metrics = new GatewayMetrics();
  const { context, reconciler } = createDetectionModule(
    { store, inference, callbacks: overrides.callbacks ?? adapters.callbacks },
    detectionSettings(config),
    metrics.taskEvents(),
    logger,
    reconcilerFactory,
  );
  const app = createApp({
    store,
    inference,
    detection: context,
    metrics,
    logger,
    apiKey: config.API_KEY,
    corsOrigins: config.CORS_ORIGINS,
    maxImageBytes: config.MAX_IMAGE_BYTES,
    validateResponses: overrides.validateResponses,
  });
  return { app, reconciler, detection: context, metrics, logger };
}
