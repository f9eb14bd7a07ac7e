// The Express application: routes and middleware, no process concerns (see start.ts).
import express, { type ErrorRequestHandler } from 'express';
import type { InferenceClient } from '../inference/inference-client.js';
import type { ObjectStore } from '../storage/object-store.js';
import { AppError } from './errors.js';

export interface AppDeps {
  store: ObjectStore;
  inference: InferenceClient;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const [storage, inference] = await Promise.all([
      deps.store.ping().then(
        () => true,
        () => false,
      ),
      deps.inference.isReady(),
    ]);
    res
      .status(storage && inference ? 200 : 503)
      .json({ ready: storage && inference, checks: { storage, inference } });
  });

  app.use(errorHandler);
  return app;
}

const errorHandler: ErrorRequestHandler = (err, _req, res, _next) => {
  if (err instanceof AppError) {
    res.status(err.status).json({ error: { code: err.code, message: err.message, details: err.details } });
    return;
  }
  res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
};
