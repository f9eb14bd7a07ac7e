// Detection service benchmark, in one run on one machine:
//   1. baseline: a plain in-process model.predict loop on the served model (bench/predict_loop.py),
//      run before and after the load; their mean is the baseline (the two show how steady the
//      machine was);
//   2. backlog: a burst of tasks, enough to keep inference busy for the rest of the run;
//   3. POST latency while inference is saturated: a steady stream of POSTs (--rate per second for
//      --seconds) sent while the backlog drains; the queue depth is sampled to show it never ran dry;
//   4. throughput: all tasks of 2 and 3 divided by the time from the first task created to the
//      last completed (the gateway's own timestamps), and its ratio to the baseline;
//   5. gateway peak RSS, sampled from its /metrics (process_resident_memory_bytes);
//   6. CPU seconds used by each service during 2–4 (with --start-stack, where the pids are known),
//      and images per CPU-second of the whole stack against the baseline's: a ratio that other
//      work on a shared machine does not skew, unlike the wall-clock one.
//
//   node --import tsx bench/detect-bench.ts [--start-stack] [--images DIR] [--rate 10]
//                                           [--seconds 15] [--baseline 100] [--json FILE]
//
// With --start-stack the services take their settings from this environment as `npm start` does,
// e.g. BENTOML_WORKERS=1 or INFERENCE_NICE=0 to compare with the defaults.
//
// Against the stack that GATEWAY_URL, BENTOML_URL, MLFLOW_TRACKING_URI and MINIO_ENDPOINT name
// (default: `npm run up`'s), or, with --start-stack, against a fresh stack on free ports serving a
// model the benchmark trains for it (one epoch of yolov8n at 416 px: as costly to run as any
// yolov8n at that size; its accuracy does not matter here).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { repoRoot } from '../scripts/stack/config.js';
import { processTable, processTree } from '../scripts/stack/processes.js';
import type { ServiceName } from '../scripts/stack/services.js';
import { startTestStack, type TestStack } from '../scripts/stack/test-stack.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '/work/shared/datasets/valorant/valid/images' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '15' },
    baseline: { type: 'string', default: '100' },
    imgsz: { type: 'string', default: '416' },
    json: { type: 'string' },
    'start-stack': { type: 'boolean', default: false },
  },
});
let gatewayUrl = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080';
let bentoUrl = process.env.BENTOML_URL ?? 'http://127.0.0.1:3000';
const exec = promisify(execFile);

interface Image {
  name: string;
  bytes: Buffer;
}

interface Task {
  task_id: string;
  status: string;
  created_at: string;
  updated_at: string;
}

async function run(stack: TestStack | undefined): Promise<void> {
  const loadBefore = os.loadavg();
  const ready = (await (await fetch(`${gatewayUrl}/readyz`)).json()) as { ready: boolean };
  if (!ready.ready) throw new Error(`the stack at ${gatewayUrl} is not ready: ${JSON.stringify(ready)}`);
  const served = (await (
    await fetch(`${bentoUrl}/model`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    })
  ).json()) as { name: string; version: string; demo: boolean };
  const images = fs
    .readdirSync(args.images)
    .filter((f) => /\.(jpe?g|png|webp|bmp)$/i.test(f))
    .sort()
    .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(args.images, f)) }));
  if (images.length === 0) throw new Error(`no images in ${args.images}`);

  console.error(`baseline: ${args.baseline} × model.predict of ${served.name} v${served.version} …`);
  const before = await predictLoop(Number(args.baseline));
  if (before.version !== served.version)
    throw new Error(`the baseline loaded v${before.version} but the service serves v${served.version}`);
  const baseline = before;

  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  // Enough work for inference to stay busy through the stream and a margin after it.
  const backlog = Math.ceil(baseline.images_per_s * (seconds + 10));
  const cpuBefore = stack ? cpuSeconds(stack) : undefined;
  const monitor = monitorGateway();
  console.error(`backlog: ${backlog} tasks; then ${rate} POST/s for ${seconds} s …`);
  const backlogIds = await postBurst(images, backlog, 16);
  const serverBefore = await postHistogram();
  const streamStart = Date.now();
  const stream = await postAtRate(images, rate, seconds);
  const streamEnd = Date.now();
  const serverAfter = await postHistogram();
  console.error('waiting for the queue to empty …');
  await waitForEmptyQueue();
  const samples = await monitor.stop();
  const cpuAfter = stack ? cpuSeconds(stack) : undefined;

  console.error('baseline again …');
  const after = await predictLoop(Number(args.baseline));
  const baselineRate = (before.images_per_s + after.images_per_s) / 2;
  const baselinePerCpu = (before.images_per_cpu_s + after.images_per_cpu_s) / 2;
  const cpuUsed = cpuBefore && cpuAfter ? diffCpu(cpuBefore, cpuAfter) : undefined;
  const stackCpu = cpuUsed ? Object.values(cpuUsed).reduce((a, b) => a + b, 0) : Number.NaN;
  const tasks = await fetchAll([...backlogIds, ...stream.map((s) => s.taskId)]);
  const retries = (await (await fetch(`${gatewayUrl}/metrics`)).text())
    .split('\n')
    .filter((line) => line.startsWith('detection_task_retries_total{'));
  const completed = tasks.filter((t) => t.status === 'completed');
  const first = Math.min(...tasks.map((t) => Date.parse(t.created_at)));
  const last = Math.max(...tasks.map((t) => Date.parse(t.updated_at)));
  const throughput = completed.length / ((last - first) / 1000);
  const latencies = stream.map((s) => s.latencyMs).sort((a, b) => a - b);
  const duringStream = samples.filter((s) => s.at >= streamStart && s.at <= streamEnd);
  const result = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    // Other work on the machine skews every figure: the 1/5/15-minute load before the run.
    load_average_before: loadBefore.map((l) => l.toFixed(2)).join(' '),
    model: `${served.name} v${served.version}${served.demo ? ' (demo)' : ''}`,
    images: `${images.length} files from ${args.images}`,
    baseline_images_per_s: round(baselineRate),
    baseline_before_after: [before.images_per_s, after.images_per_s],
    tasks: tasks.length,
    completed: completed.length,
    failed: tasks.length - completed.length,
    // Any retry means BentoML lost or stalled tasks: the figures then measure that, not the design.
    retries,
    throughput_per_s: round(throughput),
    throughput_ratio: round(throughput / baselineRate),
    post_stream: `${stream.length} POSTs at ${rate}/s`,
    post_latency_ms: {
      p50: round(percentile(latencies, 0.5)),
      p90: round(percentile(latencies, 0.9)),
      p99: round(percentile(latencies, 0.99)),
      max: round(latencies.at(-1) ?? Number.NaN),
    },
    // The same POSTs as the gateway timed them (its /metrics histogram): where the client's figures
    // are worse, the time went to the client or the network stack, not to the gateway.
    post_server_side_share_within_ms: serverShares(serverBefore, serverAfter),
    // A POST waits behind whatever else the gateway's request thread is doing.
    gateway_event_loop_delay_ms_during_stream: {
      worst_p99: round(Math.max(...duringStream.map((s) => s.loopDelayP99Ms))),
      max: round(Math.max(...duringStream.map((s) => s.loopDelayMaxMs))),
    },
    // Inference saturated throughout: tasks waiting or running at every 100 ms of the stream, from
    // the gateway's own timestamps (the /metrics gauge shows only the last listing's count).
    min_tasks_pending_during_stream: minPending(tasks, streamStart, streamEnd),
    gateway_peak_rss_mib: round(Math.max(...samples.map((s) => s.rssBytes)) / 2 ** 20),
    cpu_seconds: cpuUsed,
    images_per_cpu_s: round(completed.length / stackCpu),
    baseline_images_per_cpu_s: round(baselinePerCpu),
    cpu_efficiency_ratio: round(completed.length / stackCpu / baselinePerCpu),
  };
  console.log(JSON.stringify(result, null, 2));
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
}

/** Cumulative counts of the gateway's accepted POSTs per histogram bucket (`le` in seconds). */
async function postHistogram(): Promise<Map<string, number>> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const buckets = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('http_request_duration_seconds_bucket{')) continue;
    if (!line.includes('method="POST"') || !line.includes('status_code="202"')) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le) buckets.set(le, Number(line.split(' ').at(-1)));
  }
  return buckets;
}

function serverShares(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const counted = (le: string) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = counted('+Inf');
  return Object.fromEntries(
    [
      ['10', '0.01'],
      ['25', '0.025'],
      ['50', '0.05'],
      ['100', '0.1'],
    ].map(([ms, le]) => [ms, round(counted(le as string) / total)]),
  );
}

interface Baseline {
  version: string;
  images_per_s: number;
  images_per_cpu_s: number;
}

async function predictLoop(count: number): Promise<Baseline> {
  const { stdout } = await exec(
    path.join(repoRoot, '.stack/python'),
    [path.join(repoRoot, 'bench/predict_loop.py'), '--images', args.images, '--count', String(count)],
    { maxBuffer: 16 * 2 ** 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Baseline;
}

async function post(image: Image): Promise<string> {
  const form = new FormData();
  form.append('image', new Blob([image.bytes]), image.name);
  const res = await fetch(`${gatewayUrl}/image/detect`, { method: 'POST', body: form });
  const body = (await res.json()) as { task_id: string };
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${JSON.stringify(body)}`);
  return body.task_id;
}

/** `count` POSTs, `concurrency` at a time. */
async function postBurst(images: Image[], count: number, concurrency: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        ids[i] = await post(images[i % images.length] as Image);
      }
    }),
  );
  return ids;
}

/** Open loop: request i leaves at start + i / rate, whatever happened to the others. */
async function postAtRate(
  images: Image[],
  rate: number,
  seconds: number,
): Promise<{ taskId: string; latencyMs: number }[]> {
  const start = performance.now();
  return Promise.all(
    Array.from({ length: Math.round(rate * seconds) }, async (_, i) => {
      await sleep(start + (i * 1000) / rate - performance.now());
      const sentAt = performance.now();
      const taskId = await post(images[i % images.length] as Image);
      return { taskId, latencyMs: performance.now() - sentAt };
    }),
  );
}

async function waitForEmptyQueue(): Promise<void> {
  for (;;) {
    if ((await scrape()).queueDepth === 0) return;
    await sleep(500);
  }
}

async function fetchAll(ids: string[]): Promise<Task[]> {
  const tasks: Task[] = [];
  for (const id of ids)
    tasks.push((await (await fetch(`${gatewayUrl}/image/detect?task_id=${id}`)).json()) as Task);
  return tasks;
}

interface Sample {
  at: number;
  rssBytes: number;
  queueDepth: number;
  /** The gateway's event-loop delay since the previous scrape (prom-client resets it on each). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

async function scrape(): Promise<Sample> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    at: Date.now(),
    rssBytes: metric('process_resident_memory_bytes'),
    queueDepth: metric('detection_queue_depth'),
    loopDelayP99Ms: metric('nodejs_eventloop_lag_p99_seconds') * 1000,
    loopDelayMaxMs: metric('nodejs_eventloop_lag_max_seconds') * 1000,
  };
}

function monitorGateway(): { stop(): Promise<Sample[]> } {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      samples.push(await scrape());
      await sleep(1_000);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

/** CPU seconds (user + system) of each service: its process and every descendant. */
function cpuSeconds(stack: TestStack): Record<string, number> {
  const procs = processTable();
  const roots = stack.supervisor.processGroups();
  const names: ServiceName[] = ['minio', 'mlflow', 'bento', 'gateway'];
  const out: Record<string, number> = {};
  for (const [i, root] of roots.entries()) {
    const tree = processTree(root, procs);
    out[names[i] ?? String(root)] = procs
      .filter((p) => tree.has(p.pid))
      .reduce((s, p) => s + p.cpuSeconds, 0);
  }
  return out;
}

function diffCpu(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, round(v - (before[k] ?? 0))]));
}

/** The fewest tasks created and not yet finished at any 100 ms step from `from` to `to`. */
function minPending(tasks: Task[], from: number, to: number): number {
  let fewest = Number.POSITIVE_INFINITY;
  for (let t = from; t <= to; t += 100) {
    const pending = tasks.filter((k) => Date.parse(k.created_at) <= t && Date.parse(k.updated_at) > t);
    fewest = Math.min(fewest, pending.length);
  }
  return fewest;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

function round(value: number): number {
  return Number(value.toFixed(3));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A fresh stack on free ports, serving a model trained for the benchmark. */
async function startStack(): Promise<TestStack> {
  console.error(`starting MinIO and MLflow, training a yolov8n at ${args.imgsz} px for one epoch …`);
  const stack = await startTestStack(['minio', 'mlflow'], { extraEnv: { LOG_LEVEL: 'warn' } });
  try {
    const cli = ['--import', 'tsx', path.join(repoRoot, 'cli/bin/run.js'), 'model', 'bootstrap'];
    const flags = ['--imgsz', args.imgsz, '--epochs', '1', '--images', '16'];
    await exec(process.execPath, [...cli, ...flags], {
      cwd: repoRoot,
      env: { ...process.env, ...stack.env },
    });
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

async function main(): Promise<void> {
  const stack = args['start-stack'] ? await startStack() : undefined;
  // Interrupted (Ctrl-C, a timeout): the services it started go too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  try {
    await run(stack);
  } finally {
    await stack?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
