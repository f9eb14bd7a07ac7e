// Scale-out through real processes: one MinIO, one MLflow, two BentoML replicas (one worker
// each, their own task stores) and two gateways that both know both replicas (BENTOML_URLS). A
// burst of 200 tasks is spread over the replicas; one replica is killed mid-burst and started
// again; every task must complete, storing exactly one result.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient, type TaskView } from '../../cli/src/lib/gateway-client.js';
import { loadConfig } from '../../gateway/src/config.js';
import { minioClient } from '../../gateway/src/storage/minio-store.js';
import { repoRoot } from '../../scripts/stack/config.js';
import { type ServiceName, type ServiceSpec, serviceSpecs } from '../../scripts/stack/services.js';
import { freePort, Supervisor } from '../../scripts/stack/supervisor.js';
import { startTestStack, type TestStack } from '../../scripts/stack/test-stack.js';
import { answeredRequests } from './support/bentoml-metrics.js';
import { completedRecords } from './support/task-records.js';

const run = promisify(execFile);
const TASKS = 200;
const settings = {
  BENTOML_WORKERS: '1',
  RECONCILE_INTERVAL_MS: '200',
  // A replica unreachable this long (while the other answers) has its tasks moved.
  BENTOML_TIMEOUT_MS: '5000',
  LOG_LEVEL: 'warn',
  // Task records in MinIO, shared as gateways on several hosts would share them; its versioned
  // tasks bucket counts the results each task stored.
  TASK_DB: '',
};

/** A process of the stack started beside it: its own supervisor, so names may repeat. */
interface Extra {
  url: string;
  spec: ServiceSpec;
  supervisor: Supervisor;
}

let stack: TestStack;
let replicas: Extra[];
let gateways: Extra[];
let images: { name: string; bytes: Buffer }[];

async function startExtra(
  name: ServiceName,
  port: Record<string, number | string>,
  env = {},
): Promise<Extra> {
  const spec = serviceSpecs({ ...stack.config, ...port })[name];
  Object.assign(spec.env, settings, env);
  const supervisor = new Supervisor(() => {});
  await supervisor.start(spec);
  return { url: `http://127.0.0.1:${Object.values(spec.ports)[0]}`, spec, supervisor };
}

beforeAll(async () => {
  stack = await startTestStack(['minio', 'mlflow'], { extraEnv: settings });
  await run(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'cli/bin/run.js'), 'model', 'bootstrap'],
    {
      cwd: repoRoot,
      env: { ...process.env, ...stack.env },
    },
  );
  // Versioning keeps every version of every record: the test counts the results each task stored.
  const storage = minioClient(loadConfig(stack.env));
  await storage.makeBucket('tasks');
  await storage.setBucketVersioning('tasks', { Status: 'Enabled' });
  // Each replica has a data directory of its own, hence a task store of its own.
  replicas = [];
  for (const n of [1, 2])
    replicas.push(
      await startExtra('bento', {
        BENTOML_PORT: await freePort(),
        MINI_STREAMIO_DATA_DIR: path.join(stack.config.MINI_STREAMIO_DATA_DIR, `replica-${n}`),
      }),
    );
  const urls = replicas.map((r) => r.url).join(',');
  gateways = [];
  for (let n = 0; n < 2; n++)
    gateways.push(await startExtra('gateway', { GATEWAY_PORT: await freePort() }, { BENTOML_URLS: urls }));
  const dir = path.join(repoRoot, 'gateway/test/fixtures');
  images = fs
    .readdirSync(dir)
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .map((name) => ({ name, bytes: fs.readFileSync(path.join(dir, name)) }));
}, 20 * 60_000);

afterAll(async () => {
  for (const extra of [...(gateways ?? []), ...(replicas ?? [])]) await extra.supervisor.stopAll();
  await stack?.stop();
});

/**
 * Per task, the completed results it stored (versions of its record) and the replica that ran it
 * (the record names it: `<replica URL>#<BentoML task id>`).
 */
async function records(ids: string[]): Promise<{ replica: Map<string, string>; results: number[] }> {
  const storage = minioClient(loadConfig(stack.env));
  const replica = new Map<string, string>();
  const results: number[] = [];
  for (const id of ids) {
    const completed = await completedRecords(storage, id);
    for (const record of completed) {
      const current = record.current as { inference_task_id?: string } | null;
      replica.set(id, String(current?.inference_task_id ?? '').split('#')[0] ?? '?');
    }
    results.push(completed.length);
  }
  return { replica, results };
}

describe('two BentoML replicas behind two gateways', () => {
  it('when one replica is killed mid-burst and started again, then every task of the burst both took completes once', {
    timeout: 15 * 60_000,
  }, async () => {
    const clients = gateways.map((g) => new GatewayClient(g.url));
    const ids = await Promise.all(
      Array.from({ length: TASKS }, (_, i) => {
        const image = images[i % images.length] as { name: string; bytes: Buffer };
        return (clients[i % 2] as GatewayClient).submit(image.bytes, image.name);
      }),
    );
    expect(new Set(ids).size).toBe(TASKS);
    // Mid-burst: once some tasks are done, replica 2 dies with what it holds. Both took a share of
    // the burst (what each completes before the kill is a matter of timing, so it is only reported).
    const first = clients[0] as GatewayClient;
    await first.waitFor(ids[20] as string, { timeoutMs: 5 * 60_000 });
    for (const r of replicas)
      expect(await answeredRequests(r.url, '/detect/submit'), `submissions to ${r.url}`).toBeGreaterThan(0);
    const victim = replicas[1] as Extra;
    await victim.supervisor.stop('bento', 0);
    await new Promise((r) => setTimeout(r, 3_000));
    await victim.supervisor.start(victim.spec);

    const finished = await Promise.all(
      ids.map((id, i) => (clients[(i + 1) % 2] as GatewayClient).waitFor(id, { timeoutMs: 10 * 60_000 })),
    );
    const outcome = (t: TaskView) =>
      t.status === 'failed' ? `failed ${t.error?.code}: ${t.error?.message}` : t.status;
    expect(finished.map(outcome)).toEqual(finished.map(() => 'completed'));
    const { replica, results } = await records(ids);
    expect(results).toEqual(ids.map(() => 1));
    const split = new Map<string, number>();
    for (const url of replica.values()) split.set(url, (split.get(url) ?? 0) + 1);
    console.log('tasks completed per replica:', Object.fromEntries(split));
  });
});
