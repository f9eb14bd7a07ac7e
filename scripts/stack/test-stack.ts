// Real services for integration tests: free ports, a throw-away data directory,
// stopped (with every child process) when the tests end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStackConfig, type StackConfig } from './config.js';
import type { RestartLimits } from './restart-policy.js';
import {
  type ServiceName,
  type ServiceSpec,
  type SharedEnv,
  serviceOrder,
  serviceSpecs,
  sharedEnv,
} from './services.js';
import { freePort, type LogSink, Supervisor } from './supervisor.js';

export interface TestStack {
  config: StackConfig;
  /** The environment a client of these services needs (MINIO_ENDPOINT, MLFLOW_TRACKING_URI, …). */
  env: SharedEnv;
  supervisor: Supervisor;
  /** One supervisor per BentoML replica after the first (`bentoReplicas`), each running its `bento`. */
  replicaSupervisors: Supervisor[];
  /** Starts a service again after a test stopped it (`bento`: every replica not running). */
  restart(name: ServiceName): Promise<void>;
  stop(): Promise<void>;
}

export interface TestStackOptions {
  log?: LogSink;
  extraEnv?: Record<string, string>;
  /** BentoML is ready only once a production model is loaded; false waits for liveness only. */
  waitForModel?: boolean;
  /** Options for the gateway's node, e.g. --cpu-prof (which NODE_OPTIONS may not hold). */
  gatewayNodeArgs?: string[];
  /** How the supervisor restarts crashed services (default: as `npm start` does). */
  restartLimits?: RestartLimits;
  /**
   * BentoML servers (default 1). Each further one has its own port and data directory (its own
   * task store), and the gateway gets them all in BENTOML_URLS.
   */
  bentoReplicas?: number;
}

export async function startTestStack(
  services: ServiceName[],
  {
    log = () => {},
    extraEnv = {},
    waitForModel = true,
    gatewayNodeArgs = [],
    restartLimits,
    bentoReplicas = 1,
  }: TestStackOptions = {},
): Promise<TestStack> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-streamio-test-'));
  const config = loadStackConfig({
    BIND_HOST: '127.0.0.1',
    GATEWAY_PORT: String(await freePort()),
    BENTOML_PORT: String(await freePort()),
    MINIO_PORT: String(await freePort()),
    MINIO_CONSOLE_PORT: String(await freePort()),
    MLFLOW_PORT: String(await freePort()),
    MINI_STREAMIO_DATA_DIR: dataDir,
  });
  const specs = serviceSpecs(config);
  const replicaSpecs: ServiceSpec[] = [];
  for (let i = 2; i <= bentoReplicas; i++) {
    const own = {
      BENTOML_PORT: await freePort(),
      MINI_STREAMIO_DATA_DIR: path.join(dataDir, `replica-${i}`),
    };
    replicaSpecs.push(serviceSpecs({ ...config, ...own }).bento);
  }
  const bentos = [specs.bento, ...replicaSpecs];
  const replicaEnv: Record<string, string> =
    replicaSpecs.length > 0
      ? { BENTOML_URLS: bentos.map((s) => s.healthUrl.replace(/\/readyz$/, '')).join(',') }
      : {};
  Object.assign(specs.gateway.env, replicaEnv);
  for (const spec of [...Object.values(specs), ...replicaSpecs]) Object.assign(spec.env, extraEnv);
  specs.gateway.args.unshift(...gatewayNodeArgs);
  if (!waitForModel)
    for (const spec of bentos) spec.healthUrl = spec.healthUrl.replace(/\/readyz$/, '/livez');
  const supervisor = new Supervisor(log, { restartLimits });
  const replicaSupervisors = replicaSpecs.map(() => new Supervisor(log, { restartLimits }));
  const startReplicas = () =>
    Promise.all(
      replicaSpecs.map((spec, i) => {
        const replica = replicaSupervisors[i] as Supervisor;
        return replica.isRunning('bento') ? undefined : replica.start(spec);
      }),
    );
  const ordered = serviceOrder.filter((name) => services.includes(name)).map((name) => specs[name]);
  const stop = async () => {
    for (const replica of replicaSupervisors) await replica.stopAll();
    await supervisor.stopAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await supervisor.startAll(ordered);
    if (services.includes('bento')) await startReplicas();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    config,
    env: { ...sharedEnv(config), ...extraEnv, ...replicaEnv },
    supervisor,
    replicaSupervisors,
    restart: async (name) => {
      if (!supervisor.isRunning(name)) await supervisor.start(specs[name]);
      if (name === 'bento') await startReplicas();
    },
    stop,
  };
}
