// End-to-end through the real stack: MinIO, MLflow, a model trained in this test (the demo
// bootstrap: synthetic shapes), BentoML serving it and the gateway in front, all as the
// processes `npm start` runs. Asserts detections land on the drawn shapes, that accepted
// tasks survive a BentoML restart, and that a burst of 200 POSTs gives 200 results, one each.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient, type TaskView } from '../../cli/src/lib/gateway-client.js';
import { loadConfig } from '../../gateway/src/config.js';
import { minioClient } from '../../gateway/src/storage/minio-store.js';
import { eventually } from '../../gateway/test/support/harness.js';
import { repoRoot } from '../../scripts/stack/config.js';
import { processTable } from '../../scripts/stack/processes.js';
import { startTestStack, type TestStack } from '../../scripts/stack/test-stack.js';
import { answeredRequests } from './support/bentoml-metrics.js';
import { type Box, boxRows, iou } from './support/boxes.js';
import { completedRecords } from './support/task-records.js';

const run = promisify(execFile);
const cliBin = path.join(repoRoot, 'cli/bin/run.js');

let stack: TestStack;
let client: GatewayClient;
let shapes: string; // a synthetic dataset the model never saw (another seed)

async function cli(args: string[], env: Record<string, string>) {
  return run(process.execPath, ['--import', 'tsx', cliBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    maxBuffer: 64 * 2 ** 20,
  });
}

beforeAll(async () => {
  stack = await startTestStack(['minio', 'mlflow'], {
    extraEnv: {
      // Short timeouts, so a task BentoML loses mid-run is re-submitted within the test.
      TASK_TIMEOUT_MS: '60000',
      RECONCILE_INTERVAL_MS: '200',
      LOG_LEVEL: 'warn',
      // Task records in MinIO, not the stack's default SQLite file: the versioned tasks bucket
      // below counts the results each task stored.
      TASK_DB: '',
      // BENTOML_WORKERS stays at its default (two): the retry checks below catch any task BentoML
      // loses or stalls (TASK_TIMEOUT_MS) under it.
    },
  });
  await cli(['model', 'bootstrap', '--json'], stack.env);
  // Versioning on the tasks bucket (created before the gateway writes to it) keeps every
  // version of every task record, so the test can count how many results a task stored.
  const storage = minioClient(loadConfig(stack.env));
  await storage.makeBucket('tasks');
  await storage.setBucketVersioning('tasks', { Status: 'Enabled' });
  await stack.restart('bento');
  await stack.restart('gateway');
  client = new GatewayClient(stack.env.GATEWAY_URL);

  shapes = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-shapes-'));
  await run(path.join(repoRoot, '.stack/python'), [
    '-m',
    'mini_streamio.synthetic',
    shapes,
    '--train',
    '0',
    '--valid',
    '12',
    '--test',
    '0',
    '--image-size',
    '96',
    '--seed',
    '12345',
  ]);
}, 20 * 60_000);

afterAll(async () => {
  await stack?.stop();
  if (shapes) fs.rmSync(shapes, { recursive: true, force: true });
});

function validImages(): { name: string; bytes: Buffer; boxes: Box[] }[] {
  const dir = path.join(shapes, 'valid/images');
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => ({
      name,
      bytes: fs.readFileSync(path.join(dir, name)),
      boxes: boxRows(
        fs.readFileSync(path.join(shapes, 'valid/labels', name.replace(/\.jpg$/, '.txt')), 'utf8'),
      ),
    }));
}

/** "completed", or "failed code: message", for assertions that show why a task failed. */
const outcome = (task: TaskView) =>
  task.status === 'failed' ? `failed ${task.error?.code}: ${task.error?.message}` : task.status;

function boxesOf(task: TaskView): Box[] {
  return (task.response?.instances ?? []).map((i) => {
    const [xc, yc, w, h] = i.boundingBox.split(' ').map(Number) as [number, number, number, number];
    return { classId: Number(i.class), xc, yc, w, h };
  });
}

/** Retries so far (all reasons) and the metric lines, which name the reasons when a check fails. */
async function retries(): Promise<{ total: number; lines: string }> {
  const metrics = await (await fetch(`${stack.env.GATEWAY_URL}/metrics`)).text();
  const found = [...metrics.matchAll(/^detection_task_retries_total\{[^}]*\} (\d+)/gm)];
  return { total: found.reduce((sum, m) => sum + Number(m[1]), 0), lines: found.map((m) => m[0]).join('; ') };
}

function retriesFor(found: { lines: string }, reason: string): number {
  return Number(new RegExp(`reason="${reason}"\\} (\\d+)`).exec(found.lines)?.[1] ?? 0);
}

/** A 24 Mpx JPEG of a synthetic image: slow enough to decode that a burst of them queues. */
async function bigImage(): Promise<Buffer> {
  const source = path.join(
    shapes,
    'valid/images',
    fs.readdirSync(path.join(shapes, 'valid/images'))[0] as string,
  );
  const target = path.join(shapes, 'big.jpg');
  const resize = `from PIL import Image; Image.open(${JSON.stringify(source)}).resize((6000, 4000)).save(${JSON.stringify(target)}, quality=80)`;
  await run(path.join(repoRoot, '.stack/python'), ['-c', resize]);
  return fs.readFileSync(target);
}

async function completedVersions(taskId: string): Promise<number> {
  return (await completedRecords(minioClient(loadConfig(stack.env)), taskId)).length;
}

describe('detection through the whole stack', () => {
  it('when synthetic images are posted, then the detected boxes land on the drawn shapes with the right class', async () => {
    const images = validImages();
    const retriesBefore = await retries();
    const tasks = await Promise.all(images.map((img) => client.detect(img.bytes, img.name)));
    let truths = 0;
    let found = 0;
    for (const [i, task] of tasks.entries()) {
      expect(task.status).toBe('completed');
      expect(task.response?.model.name).toBe('mini-streamio-detector');
      expect(task.response?.image).toEqual({ width: 96, height: 96 });
      const predicted = boxesOf(task);
      for (const truth of images[i]?.boxes ?? []) {
        truths += 1;
        if (predicted.some((p) => p.classId === truth.classId && iou(p, truth) >= 0.5)) found += 1;
      }
    }
    // A demo model trained for minutes on CPU: most shapes, not necessarily every one.
    expect(found / truths).toBeGreaterThanOrEqual(0.7);
    // A healthy BentoML answers every task the first time.
    const retriesAfter = await retries();
    expect(retriesAfter.total, `retries: ${retriesAfter.lines}`).toBe(retriesBefore.total);
    // The gateway learns of finishes from BentoML's announcements (polls are only the safety net).
    expect(await answeredRequests(stack.env.BENTOML_URL, '/detect/finished')).toBeGreaterThan(0);
  });

  it('when evaluate runs over a synthetic split, then it reports metrics of a model that works', async () => {
    const { stdout } = await cli(['evaluate', '--dir', shapes, '--split', 'valid', '--json'], stack.env);
    const report = JSON.parse(stdout);
    expect(report.images).toBe(12);
    expect(report.failed_images).toEqual([]);
    expect(report.mAP50).toBeGreaterThan(0.5);
    expect(report['mAP50-95']).toBeGreaterThan(0.2);
  });

  it("when BentoML's workers are killed with tasks in flight, then the new workers end those tasks and they are retried at once", async () => {
    const big = await bigImage();
    const before = await retries();
    const ids = await Promise.all(Array.from({ length: 16 }, () => client.submit(big, 'big.jpg')));
    // Once BentoML holds tasks (one is processing), kill its workers but not the server: the
    // arbiter starts new ones, as after the OOM killer took a worker.
    await eventually(
      async () =>
        (await Promise.all(ids.map((id) => client.get(id)))).some((t) => t.status === 'processing') ||
        undefined,
      'a task processing',
      30_000,
    );
    const server = stack.supervisor.servicePids().get('bento');
    const workers = processTable().filter((p) => p.ppid === server);
    expect(workers.length).toBeGreaterThan(0);
    for (const worker of workers) process.kill(worker.pid, 'SIGKILL');
    const unfinished = await Promise.all(ids.map(async (id) => (await client.get(id)).status));
    expect(unfinished.filter((s) => s !== 'completed').length, 'make the image bigger').toBeGreaterThan(0);
    // Well before TASK_TIMEOUT_MS (60 s here), the gateway's fallback for tasks BentoML keeps.
    const finished = await Promise.all(
      ids.map((id) => client.waitFor(id, { timeoutMs: 45_000, pollMs: 500 })),
    );
    expect(finished.map(outcome)).toEqual(finished.map(() => 'completed'));
    const after = await retries();
    expect(retriesFor(after, 'failed'), `retries: ${after.lines}`).toBeGreaterThan(
      retriesFor(before, 'failed'),
    );
    expect(retriesFor(after, 'timeout'), `retries: ${after.lines}`).toBe(retriesFor(before, 'timeout'));
  });

  it('when BentoML is killed and restarted while tasks are in flight, then every accepted task completes', async () => {
    const images = validImages();
    const submit = (n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) => {
          const img = images[i % images.length] as { name: string; bytes: Buffer };
          return client.submit(img.bytes, img.name);
        }),
      );
    const before = await submit(48);
    await stack.supervisor.stop('bento', 0); // SIGKILL, workers included: the tasks it holds die with it
    const unfinished = await Promise.all(before.map(async (id) => (await client.get(id)).status));
    expect(unfinished.filter((s) => s !== 'completed').length).toBeGreaterThan(0);
    const during = await submit(12);
    expect((await client.get(during[0] as string)).status).toBe('queued');
    await stack.restart('bento');
    const finished = await Promise.all(
      [...before, ...during].map((id) => client.waitFor(id, { timeoutMs: 5 * 60_000, pollMs: 500 })),
    );
    expect(finished.map(outcome)).toEqual(finished.map(() => 'completed'));
  });

  it('when 200 POSTs arrive at once, then 200 tasks complete, each storing one result', async () => {
    const images = validImages();
    const retriesBefore = await retries();
    const ids = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const img = images[i % images.length] as { name: string; bytes: Buffer };
        return client.submit(img.bytes, img.name);
      }),
    );
    expect(new Set(ids).size).toBe(200);
    const finished = await Promise.all(
      ids.map((id) => client.waitFor(id, { timeoutMs: 10 * 60_000, pollMs: 1_000 })),
    );
    expect(finished.map(outcome)).toEqual(finished.map(() => 'completed'));
    const versions = await Promise.all(ids.map(completedVersions));
    expect(versions).toEqual(ids.map(() => 1));
    // A healthy BentoML loses and fails nothing. On starved cores a claim may be abandoned (its
    // submission not confirmed within 3 BentoML timeouts); the task is then submitted again and
    // still stores one result (checked above), so only the other reasons must stay at zero.
    const after = await retries();
    expect(after.total - retriesFor(after, 'abandoned'), `retries: ${after.lines}`).toBe(
      retriesBefore.total - retriesFor(retriesBefore, 'abandoned'),
    );
  });
});
