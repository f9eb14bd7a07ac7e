// Detection service benchmark, against a running stack (`npm run up`, model loaded):
//   1. baseline: a plain in-process model.predict loop on the served model (bench/predict_loop.py);
//   2. load: POSTs at a fixed rate above the service's capacity (open loop), so inference is
//      saturated the whole time; every POST's latency is recorded;
//   3. throughput: completed tasks per second from the gateway's own timestamps (first
//      created_at to last updated_at), divided by the baseline;
//   4. gateway peak RSS, sampled from its /metrics (process_resident_memory_bytes) during the load.
//
//   node --import tsx bench/detect-bench.ts [--images DIR] [--tasks 300] [--rate R] [--baseline 100] [--json FILE]
//                                           [--start-stack]
//
// Against the stack that GATEWAY_URL, BENTOML_URL, MLFLOW_TRACKING_URI and MINIO_ENDPOINT name
// (default: `npm run up`'s), or, with --start-stack, against a fresh stack on free ports whose
// model is the demo model `mini-streamio model bootstrap` trains (a few minutes).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { repoRoot } from '../scripts/stack/config.js';
import { startTestStack, type TestStack } from '../scripts/stack/test-stack.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '/work/shared/datasets/valorant/valid/images' },
    tasks: { type: 'string', default: '300' },
    rate: { type: 'string' },
    baseline: { type: 'string', default: '100' },
    json: { type: 'string' },
    'start-stack': { type: 'boolean', default: false },
  },
});
let gatewayUrl = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080';
let bentoUrl = process.env.BENTOML_URL ?? 'http://127.0.0.1:3000';
const taskCount = Number(args.tasks);
const WARMUP_TASKS = 10;

interface Posted {
  taskId: string;
  sentAt: number;
  latencyMs: number;
}

async function main(): Promise<void> {
  const ready = await fetch(`${gatewayUrl}/readyz`).then((r) => r.json() as Promise<{ ready: boolean }>);
  if (!ready.ready) throw new Error(`the stack at ${gatewayUrl} is not ready: ${JSON.stringify(ready)}`);
  const served = (await (
    await fetch(`${bentoUrl}/model`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    })
  ).json()) as {
    name: string;
    version: string;
    demo: boolean;
  };
  const images = fs
    .readdirSync(args.images)
    .filter((f) => /\.(jpe?g|png|webp|bmp)$/i.test(f))
    .sort()
    .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(args.images, f)) }));
  if (images.length === 0) throw new Error(`no images in ${args.images}`);

  console.error(`baseline: ${args.baseline} × model.predict of ${served.name} v${served.version} …`);
  const baseline = await predictLoop(Number(args.baseline));
  if (baseline.version !== served.version)
    throw new Error(`the baseline loaded v${baseline.version} but the service serves v${served.version}`);
  const rate = Number(args.rate ?? (baseline.images_per_s * 1.5).toFixed(2));

  console.error(`load: ${taskCount} POSTs at ${rate}/s (1.5 × baseline) …`);
  const rss = sampleRss();
  const posted = await postAtRate(images, rate);
  console.error('waiting for every task to finish …');
  const finished = await waitAll(posted.map((p) => p.taskId));
  const peakRssBytes = await rss.stop();

  const completed = finished.filter((t) => t.status === 'completed');
  const first = Math.min(...finished.map((t) => Date.parse(t.created_at)));
  const last = Math.max(...finished.map((t) => Date.parse(t.updated_at)));
  const throughput = completed.length / ((last - first) / 1000);
  const latencies = posted
    .slice(WARMUP_TASKS)
    .map((p) => p.latencyMs)
    .sort((a, b) => a - b);
  const result = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.platform()} ${os.release()}`,
    model: `${served.name} v${served.version}${served.demo ? ' (demo)' : ''}`,
    images: `${images.length} files from ${args.images}`,
    baseline_images_per_s: baseline.images_per_s,
    offered_rate_per_s: rate,
    tasks: taskCount,
    completed: completed.length,
    failed: finished.length - completed.length,
    post_latency_ms: {
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      max: latencies.at(-1),
    },
    throughput_per_s: Number(throughput.toFixed(3)),
    throughput_ratio: Number((throughput / baseline.images_per_s).toFixed(3)),
    gateway_peak_rss_mib: Number((peakRssBytes / 2 ** 20).toFixed(1)),
  };
  console.log(JSON.stringify(result, null, 2));
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
}

interface Baseline {
  version: string;
  images_per_s: number;
}

async function predictLoop(count: number): Promise<Baseline> {
  const { stdout } = await promisify(execFile)(
    path.join(repoRoot, '.stack/python'),
    [path.join(repoRoot, 'bench/predict_loop.py'), '--images', args.images, '--count', String(count)],
    { maxBuffer: 16 * 2 ** 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Baseline;
}

/** Open loop: request i leaves at start + i / rate, whatever happened to the others. */
async function postAtRate(images: { name: string; bytes: Buffer }[], rate: number): Promise<Posted[]> {
  const start = performance.now();
  const sends = Array.from({ length: taskCount }, async (_, i) => {
    await sleep(start + (i * 1000) / rate - performance.now());
    const image = images[i % images.length] as { name: string; bytes: Buffer };
    const form = new FormData();
    form.append('image', new Blob([image.bytes]), image.name);
    const sentAt = performance.now();
    const res = await fetch(`${gatewayUrl}/image/detect`, { method: 'POST', body: form });
    const body = (await res.json()) as { task_id: string };
    const latencyMs = performance.now() - sentAt;
    if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${JSON.stringify(body)}`);
    return { taskId: body.task_id, sentAt, latencyMs };
  });
  return Promise.all(sends);
}

interface Task {
  task_id: string;
  status: string;
  created_at: string;
  updated_at: string;
}

/** Polls unfinished tasks, each at most once a second, a few at a time. */
async function waitAll(taskIds: string[]): Promise<Task[]> {
  const done = new Map<string, Task>();
  while (done.size < taskIds.length) {
    const sweep = performance.now();
    const pending = taskIds.filter((id) => !done.has(id));
    for (let i = 0; i < pending.length; i += 4) {
      await Promise.all(
        pending.slice(i, i + 4).map(async (id) => {
          const task = (await (await fetch(`${gatewayUrl}/image/detect?task_id=${id}`)).json()) as Task;
          if (task.status === 'completed' || task.status === 'failed') done.set(id, task);
        }),
      );
    }
    await sleep(sweep + 1_000 - performance.now());
  }
  return taskIds.map((id) => done.get(id) as Task);
}

function sampleRss(): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
      const match = /^process_resident_memory_bytes (\d+)/m.exec(text);
      peak = Math.max(peak, Number(match?.[1] ?? 0));
      await sleep(250);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

function percentile(sorted: number[], q: number): number {
  const value = sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return Number(value.toFixed(1));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A fresh stack on free ports, serving the demo model trained for it. */
async function startStack(): Promise<TestStack> {
  console.error('starting MinIO and MLflow, training the demo model …');
  const stack = await startTestStack(['minio', 'mlflow']);
  try {
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'cli/bin/run.js'), 'model', 'bootstrap'],
      { cwd: repoRoot, env: { ...process.env, ...stack.env } },
    );
    await stack.restart('bento');
    await stack.restart('gateway');
  } catch (err) {
    await stack.stop();
    throw err;
  }
  Object.assign(process.env, stack.env);
  gatewayUrl = stack.env.GATEWAY_URL;
  bentoUrl = stack.env.BENTOML_URL;
  return stack;
}

async function benchmark(): Promise<void> {
  const stack = args['start-stack'] ? await startStack() : undefined;
  try {
    await main();
  } finally {
    await stack?.stop();
  }
}

benchmark().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
