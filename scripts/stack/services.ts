// How each of the four services is started natively: command, environment, health probe.
// The same definitions serve `npm start`, `npm run up` and the integration tests.
import path from 'node:path';
import { repoRoot, type StackConfig } from './config.js';

export type ServiceName = 'minio' | 'mlflow' | 'bento' | 'gateway';
export const serviceOrder: readonly ServiceName[] = ['minio', 'mlflow', 'bento', 'gateway'];

export interface ServiceSpec {
  name: ServiceName;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Settings whose ports must be free before the service starts. */
  ports: Record<string, number>;
  /** Answers 2xx once the service is ready for work. */
  healthUrl: string;
  readyTimeoutMs: number;
  /** What a person opens in a browser, printed once everything is up. */
  links: Record<string, string>;
}

// The clone's Python wrapper: the cached venv with this clone's bento/src on the path.
const python = path.join(repoRoot, '.stack/python');

export interface SharedEnv extends Record<string, string> {
  BIND_HOST: string;
  MINI_STREAMIO_DATA_DIR: string;
  MINIO_ENDPOINT: string;
  MINIO_ACCESS_KEY: string;
  MINIO_SECRET_KEY: string;
  MLFLOW_TRACKING_URI: string;
  BENTOML_URL: string;
  GATEWAY_URL: string;
}

/** The environment every process shares: the client-side view of the stack. */
export function sharedEnv(cfg: StackConfig): SharedEnv {
  const host = cfg.BIND_HOST === '0.0.0.0' ? '127.0.0.1' : cfg.BIND_HOST;
  return {
    BIND_HOST: cfg.BIND_HOST,
    MINI_STREAMIO_DATA_DIR: cfg.MINI_STREAMIO_DATA_DIR,
    MINIO_ENDPOINT: `http://${host}:${cfg.MINIO_PORT}`,
    MINIO_ACCESS_KEY: cfg.MINIO_ACCESS_KEY,
    MINIO_SECRET_KEY: cfg.MINIO_SECRET_KEY,
    MLFLOW_TRACKING_URI: `http://${host}:${cfg.MLFLOW_PORT}`,
    BENTOML_URL: `http://${host}:${cfg.BENTOML_PORT}`,
    GATEWAY_URL: `http://${host}:${cfg.GATEWAY_PORT}`,
  };
}

export function serviceSpecs(cfg: StackConfig): Record<ServiceName, ServiceSpec> {
  const env = sharedEnv(cfg);
  const data = cfg.MINI_STREAMIO_DATA_DIR;
  const pythonEnv = { PYTHONUNBUFFERED: '1' };
  return {
    minio: {
      name: 'minio',
      command: path.join(repoRoot, '.stack/bin/minio'),
      args: [
        'server',
        path.join(data, 'minio'),
        '--quiet',
        '--address',
        `${cfg.BIND_HOST}:${cfg.MINIO_PORT}`,
        '--console-address',
        `${cfg.BIND_HOST}:${cfg.MINIO_CONSOLE_PORT}`,
      ],
      env: {
        MINIO_ROOT_USER: cfg.MINIO_ACCESS_KEY,
        MINIO_ROOT_PASSWORD: cfg.MINIO_SECRET_KEY,
        // No phoning home: the machines this runs on are often offline.
        MINIO_UPDATE: 'off',
        MINIO_CALLHOME_ENABLE: 'off',
      },
      cwd: repoRoot,
      ports: { MINIO_PORT: cfg.MINIO_PORT, MINIO_CONSOLE_PORT: cfg.MINIO_CONSOLE_PORT },
      // The cluster probe, not live or ready: those answer 200 while MinIO still loads its IAM and
      // bucket metadata, when S3 requests get 503 (a test met it); cluster waits for both.
      healthUrl: `${env.MINIO_ENDPOINT}/minio/health/cluster`,
      readyTimeoutMs: 30_000,
      links: { 'MinIO console': `http://${hostOf(env.MINIO_ENDPOINT)}:${cfg.MINIO_CONSOLE_PORT}` },
    },
    mlflow: {
      name: 'mlflow',
      command: python,
      args: ['-m', 'mini_streamio.tracking_server'],
      env: { ...env, ...pythonEnv, MLFLOW_PORT: String(cfg.MLFLOW_PORT) },
      cwd: repoRoot,
      ports: { MLFLOW_PORT: cfg.MLFLOW_PORT },
      healthUrl: `${env.MLFLOW_TRACKING_URI}/health`,
      readyTimeoutMs: 90_000,
      links: { 'MLflow UI': env.MLFLOW_TRACKING_URI },
    },
    bento: {
      name: 'bento',
      command: python,
      args: ['-m', 'mini_streamio.serving'],
      env: { ...env, ...pythonEnv, BENTOML_PORT: String(cfg.BENTOML_PORT) },
      cwd: repoRoot,
      ports: { BENTOML_PORT: cfg.BENTOML_PORT },
      healthUrl: `${env.BENTOML_URL}/readyz`,
      // Loading and warming up the production model; the demo model is made before (modelBootstrap).
      readyTimeoutMs: 5 * 60_000,
      links: { 'BentoML UI': env.BENTOML_URL },
    },
    gateway: {
      name: 'gateway',
      command: process.execPath,
      // node:sqlite (TASK_DB) prints an ExperimentalWarning at every start: noise to an operator.
      args: [
        '--disable-warning=ExperimentalWarning',
        '--import',
        'tsx',
        path.join(repoRoot, 'gateway/src/start.ts'),
      ],
      env: {
        ...env,
        GATEWAY_PORT: String(cfg.GATEWAY_PORT),
        // One gateway on this host: its task records in SQLite (TASK_DB= empty: in MinIO).
        TASK_DB: process.env.TASK_DB ?? path.join(data, 'gateway', 'tasks.db'),
      },
      cwd: repoRoot,
      ports: { GATEWAY_PORT: cfg.GATEWAY_PORT },
      healthUrl: `${env.GATEWAY_URL}/healthz`,
      readyTimeoutMs: 30_000,
      links: { Gateway: env.GATEWAY_URL, 'Swagger UI': `${env.GATEWAY_URL}/docs` },
    },
  };
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

/**
 * The step `npm start` runs before BentoML: make sure a production model exists, training a
 * small demo model on synthetic data the first time (a few minutes on a CPU), so the service
 * works out of the box. A no-op once any model holds the production alias.
 */
export function modelBootstrap(cfg: StackConfig): {
  command: string;
  args: string[];
  env: Record<string, string>;
} {
  return {
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, 'cli/bin/run.js'), 'model', 'bootstrap'],
    env: sharedEnv(cfg),
  };
}
