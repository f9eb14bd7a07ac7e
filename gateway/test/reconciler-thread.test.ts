// The reconciler on its worker thread, as the gateway process runs it, against a real MinIO and a
// hand-written BentoML stand-in over HTTP (the thread builds its own adapters from the settings,
// so no fake object can reach it). Without any GET, tasks handed over must be submitted and
// finished, the request thread must hear of it (queue count, outcomes), a thread that dies must
// come back, and stopping must stop it.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/stack/config.js';
import { freePort } from '../../scripts/stack/supervisor.js';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { createAdapters, detectionSettings } from '../src/compose.js';
import type { Config } from '../src/config.js';
import type { RetryReason, TaskRecord } from '../src/detection/dto.js';
import { QueueDepth } from '../src/detection/queue-depth.js';
import { newTaskId } from '../src/detection/task-id.js';
import { imageKey, TaskRepository, type Versioned } from '../src/detection/task-repository.js';
import { newTask } from '../src/detection/task-state.js';
import { ReconcilerThread } from '../src/reconciler-thread.js';
import { eventually, startMinio, testConfig } from './support/harness.js';
import { shapeImage } from './support/images.js';

/** BentoML as the gateway sees it: every submission completes at once with one box. */
class BentoStandIn {
  readonly submitted: Buffer[] = [];
  private server = http.createServer((req, res) => void this.answer(req, res));

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/readyz') return reply({ ready: true });
    if (url.pathname === '/detect/submit') {
      const form = await new Request('http://x', {
        method: 'POST',
        headers: req.headers as Record<string, string>,
        body: Buffer.concat(chunks),
      }).formData();
      const image = form.get('image') as Blob;
      this.submitted.push(Buffer.from(await image.arrayBuffer()));
      return reply({ task_id: `bento-${this.submitted.length}`, status: 'in_progress' });
    }
    if (url.pathname === '/detect/get')
      return reply({
        response: {
          instances: [{ boundingBox: '0.5 0.5 0.2 0.2', class: '0', className: 'thing', confidence: 0.9 }],
          image: { width: 64, height: 64 },
          model: { name: 'stand-in', version: '1' },
          inference_ms: 1,
        },
        error: null,
      });
    res.writeHead(404).end();
  }
}

let minio: TestStack;
let bento: BentoStandIn;
let config: Config;
let repo: TaskRepository;
let thread: ReconcilerThread | undefined;
const image = shapeImage('png');

beforeAll(async () => {
  minio = await startMinio();
  bento = new BentoStandIn();
  config = testConfig(minio, { BENTOML_URL: await bento.listen() });
  repo = new TaskRepository(createAdapters(config).store, detectionSettings(config).buckets);
});
afterEach(async () => {
  await thread?.stop();
});
afterAll(async () => {
  bento.close();
  await minio.stop();
});

/** The request thread's side: its queue count and the events it hears. */
function startThread() {
  const heard = { finished: [] as TaskRecord[], retried: [] as RetryReason[], logged: [] as string[] };
  const queueDepth = new QueueDepth(repo, 1000, 60_000);
  const events = {
    finished: (record: TaskRecord) => heard.finished.push(record),
    retried: (_record: TaskRecord, reason: RetryReason) => heard.retried.push(reason),
  };
  const log = pino({ level: 'error' }, { write: (line: string) => heard.logged.push(line) });
  thread = new ReconcilerThread(config, { queueDepth, events, log });
  thread.start();
  return { heard, queueDepth, thread };
}

/** A task as a POST stores it: claimed when BentoML looked ready, else left for the reconciler. */
async function storeTask(claimed = true): Promise<Versioned> {
  const taskId = newTaskId();
  const record = newTask({
    taskId,
    params: { conf: 0.25, iou: 0.45, max_det: 300 },
    image: { key: imageKey(taskId), content_type: 'image/png', bytes: image.length, width: 64, height: 64 },
    now: new Date(),
    claimed,
  });
  return repo.create(record, image, { ordered: false });
}

const completed = (taskId: string) =>
  eventually(async () => {
    const task = await repo.read(taskId);
    return task?.record.status === 'completed' ? task : undefined;
  }, `task ${taskId} completed`);

describe('the reconciler thread', () => {
  it('when a task is handed over, then the thread submits its bytes, stores the result and tells the request thread', async () => {
    const { heard, queueDepth, thread } = startThread();
    const task = await storeTask();
    const submittedBefore = bento.submitted.length;
    thread.track(task, image);
    const done = await completed(task.record.task_id);
    expect(done.record.response?.instances).toHaveLength(1);
    expect(bento.submitted.slice(submittedBefore)).toEqual([image]);
    await eventually(
      async () => (heard.finished.some((r) => r.task_id === task.record.task_id) ? true : undefined),
      'the finished event',
    );
    // Its listings reach the request thread's queue count (the task above is no longer pending).
    await eventually(async () => ((await queueDepth.current()) === 0 ? true : undefined), 'a count of 0');
  });

  it('when the thread dies, then it is started again and finds the tasks left meanwhile', async () => {
    const { heard, thread } = startThread();
    // A message it cannot handle throws on the thread: as a bug in a round would.
    (thread as unknown as { send(message: unknown): void }).send({ kind: 'track' });
    await eventually(
      async () => (heard.logged.some((l) => l.includes('reconciler thread exited')) ? true : undefined),
      'the thread to exit',
    );
    // Stored while no thread runs (as by a POST while BentoML looked down): found by the next one.
    const task = await storeTask(false);
    await completed(task.record.task_id);
  });

  it('when stopped, then the thread moves no task any more', async () => {
    const { thread } = startThread();
    await thread.stop();
    const submittedBefore = bento.submitted.length;
    const task = await storeTask();
    thread.track(task, image);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(bento.submitted.length).toBe(submittedBefore);
    expect((await repo.read(task.record.task_id))?.record.status).toBe('queued');
  });

  it('when the gateway is built to JavaScript and run as its image runs it, then its thread finishes a POSTed task', async () => {
    await promisify(execFile)('npm', ['run', 'build', '--workspace', 'gateway'], { cwd: repoRoot });
    const port = await freePort();
    const gateway = spawn(process.execPath, ['gateway/dist/start.js'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        ...minio.env,
        GATEWAY_PORT: String(port),
        BENTOML_URL: config.BENTOML_URL,
        RECONCILE_INTERVAL_MS: '100',
        LOG_LEVEL: 'warn',
      },
      stdio: 'inherit',
    });
    const exited = once(gateway, 'exit');
    try {
      const url = `http://127.0.0.1:${port}`;
      await eventually(
        async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok || undefined,
        'the gateway',
      );
      const form = new FormData();
      form.append('image', new Blob([image]), 'shape.png');
      const posted = await fetch(`${url}/image/detect`, { method: 'POST', body: form });
      expect(posted.status).toBe(202);
      const { task_id } = (await posted.json()) as { task_id: string };
      await completed(task_id); // read from MinIO: no GET moved it on
    } finally {
      gateway.kill('SIGTERM');
    }
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
