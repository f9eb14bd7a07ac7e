// The Express application: middleware and routes, no process concerns (see start.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import YAML from 'yaml';
import type { InferenceClient } from '../inference/inference-client.js';
import type { ObjectStore } from '../storage/object-store.js';
import { requireApiKey } from './api-key.js';
import { cors } from './cors.js';
import { detectionPage } from './detection-page.js';
import { errorHandler } from './error-middleware.js';
import type { GatewayMetrics } from './metrics.js';
import { requestId } from './request-id.js';

/** The contract, at the repository root (two levels above both src/http and dist/http). */
export const openapiPath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../openapi.yaml',
);

/** The detection page (gateway/public, beside both src/ and dist/): plain files, no build step. */
export const publicDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');

/** The page loads its own script, style and API only; images are drawn from blob: and data: URLs. */
const PAGE_CSP =
  "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export interface AppDeps {
  store: ObjectStore;
  inference: InferenceClient;
  /** The API's routes: POST/GET /image/detect (detection-routes.ts). */
  api: Router;
  metrics: GatewayMetrics;
  logger: Logger;
  apiKey?: string;
  /** Browser origins allowed to call the API (CORS_ORIGINS); none: no CORS headers. */
  corsOrigins?: readonly string[];
  maxImageBytes: number;
  /** Check every JSON answer against openapi.yaml (on in tests; costs time in production). */
  validateResponses?: boolean;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: requestId,
      // A successful GET is mostly a client polling its task, several per task: each line is a
      // write to stdout and one more for whatever reads it, so those go at debug.
      customLogLevel: (req, res, err) => {
        if (err || res.statusCode >= 500) return 'error';
        if (res.statusCode >= 400) return 'warn';
        return req.method === 'GET' ? 'debug' : 'info';
      },
      autoLogging: { ignore: (req) => ['/healthz', '/readyz', '/metrics'].includes(req.url ?? '') },
    }),
  );
  app.use(deps.metrics.middleware());
  // Before the API key and the validator: a preflight carries neither a key nor a body.
  app.use(cors(deps.corsOrigins));

  const spec = YAML.parse(fs.readFileSync(openapiPath, 'utf8'));
  // Served from swagger-ui-dist in node_modules: no CDN, works offline.
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(spec, { swaggerOptions: { validatorUrl: null } }));
  // The page at / (index.html, app.js, style.css): open like /docs, and before the validator, which
  // refuses paths the contract does not name. Any other path falls through to the API;
  // the API's own path skips it, which otherwise looked for a file on disk at every GET of a task.
  const pageHeaders = (res: express.Response) => {
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
  };
  // index.html with the detection parameters filled in from the contract, rendered once here.
  // res.send gives it an ETag of its content and answers If-None-Match with 304; no-cache makes
  // browsers ask each time, as express.static's max-age=0 did, so a changed contract shows at once.
  const indexHtml = detectionPage(publicDir);
  app.get(['/', '/index.html'], (_req, res) => {
    pageHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(indexHtml);
  });
  const page = express.static(publicDir, { index: false, redirect: false, setHeaders: pageHeaders });
  app.use((req, res, next) => (req.path.startsWith('/image/') ? next() : page(req, res, next)));

  app.use('/image', requireApiKey(deps.apiKey));
  app.use(
    OpenApiValidator.middleware({
      apiSpec: openapiPath,
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: deps.validateResponses ?? false,
      validateSecurity: false, // the API key is optional and checked above
      fileUploader: { limits: { fileSize: deps.maxImageBytes, files: 2, fields: 10 } },
      ignorePaths: /^\/docs/,
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const [storage, model] = await Promise.all([
      deps.store.ping().then(
        () => true,
        () => false,
      ),
      deps.inference.servedModel(),
    ]);
    const ready = storage && model !== null;
    res.status(ready ? 200 : 503).json({ ready, checks: { storage, inference: model !== null }, model });
  });
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await deps.metrics.render();
    res.type(contentType).send(body);
  });
  app.use(deps.api);

  app.use(errorHandler(deps.maxImageBytes));
  return app;
}
