// Real services for integration tests: free ports, a throw-away data directory,
// stopped (with every child process) when the tests end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStackConfig, type StackConfig } from './config.js';
import type { RestartLimits } from './restart-policy.js';
import { type ServiceName, type SharedEnv, serviceOrder, serviceSpecs, sharedEnv } from './services.js';
import { freePort, type LogSink, Supervisor } from './supervisor.js';

export interface TestStack {
  config: StackConfig;
  /** The environment a client of these services needs (MINIO_ENDPOINT, MLFLOW_TRACKING_URI, …). */
  env: SharedEnv;
  supervisor: Supervisor;
  /** Starts a service again after a test stopped it. */
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
}

export async function startTestStack(
  services: ServiceName[],
  {
    log = () => {},
    extraEnv = {},
    waitForModel = true,
    gatewayNodeArgs = [],
    restartLimits,
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
  for (const spec of Object.values(specs)) Object.assign(spec.env, extraEnv);
  specs.gateway.args.unshift(...gatewayNodeArgs);
  if (!waitForModel) specs.bento.healthUrl = specs.bento.healthUrl.replace(/\/readyz$/, '/livez');
  const supervisor = new Supervisor(log, { restartLimits });
  const ordered = serviceOrder.filter((name) => services.includes(name)).map((name) => specs[name]);
  const stop = async () => {
    await supervisor.stopAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await supervisor.startAll(ordered);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    config,
    env: { ...sharedEnv(config), ...extraEnv },
    supervisor,
    restart: (name) => supervisor.start(specs[name]),
    stop,
  };
}
