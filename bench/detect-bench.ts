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
//   7. per process of the stack (with --start-stack): CPU ms per task and PSS (idle and at the end,
//      from /proc/<pid>/smaps_rollup); requests per task at each hop: the client's POSTs and GETs,
//      MinIO's S3 calls by API (its Prometheus metrics) and BentoML's by endpoint (its /metrics).
//
//   node --import tsx bench/detect-bench.ts [--start-stack] [--images DIR] [--rate 10]
//                                           [--seconds 15] [--baseline 100] [--json FILE]
//
// --clients N replaces 2-3 with a closed loop: N clients, each posting an image and polling GET
// every --poll-ms (500) until it is finished, then the next, --tasks in all (200). With --wait S
// each client long-polls instead (GET wait=S, asked again at once until finished).
//
// --stub-inference MS (with --start-stack): BentoML is replaced by a stub in this process that
// finishes one task every MS ms, in order, and MLflow is not started: no model, no baseline, so
// the figures are the gateway's and MinIO's alone (with --clients 16 unless given). --cpu-prof DIR
// writes a CPU profile of the gateway's threads there (node --cpu-prof) when the stack stops.
//
// --log FILE (with --start-stack) appends every service's output there.
//
// --bento-alone (with --clients) then runs the same closed loop straight to BentoML's task API
// (bench/bento-alone.ts), before the second baseline: what BentoML's task queue costs by itself,
// against the loop and against the whole path, with its processes' CPU per task. --also-poll (with
// --wait) runs it through the gateway once more, polling every --poll-ms: both ways of waiting and
// BentoML alone in one run, on the same model and images.
//
// --torch-baseline also runs the in-process loop on torch (before and after the load, as the
// served runtime's): the service's images/s against it is issue 13's measure of a faster runtime.
//
// --replicas N (with --start-stack): N BentoML servers, each with BENTOML_WORKERS workers, and the
// gateway sends tasks to all of them (BENTOML_URLS). Compare BENTOML_WORKERS=2 --replicas 1 with
// BENTOML_WORKERS=1 --replicas 2: the same number of model processes.
//
// With --start-stack the services take their settings from this environment as `npm start` does,
// e.g. BENTOML_WORKERS=1 or INFERENCE_NICE=0 to compare with the defaults.
//
// Against the stack that GATEWAY_URL, BENTOML_URL, MLFLOW_TRACKING_URI and MINIO_ENDPOINT name
// (default: `npm run up`'s), or, with --start-stack, against a fresh stack on free ports serving a
// model the benchmark trains for it (one epoch of yolov8n at 416 px: as costly to run as any
// yolov8n at that size; its accuracy does not matter here).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { multipart } from '../gateway/src/inference/bentoml-client.js';
import { repoRoot } from '../scripts/stack/config.js';
import { processTable, processTree } from '../scripts/stack/processes.js';
import type { ServiceName } from '../scripts/stack/services.js';
import { startTestStack, type TestStack, type TestStackOptions } from '../scripts/stack/test-stack.js';
import { type BentoAloneRun, bentoAloneLoop } from './bento-alone.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '/work/shared/datasets/valorant/valid/images' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '15' },
    baseline: { type: 'string', default: '100' },
    imgsz: { type: 'string', default: '416' },
    json: { type: 'string' },
    log: { type: 'string' },
    'start-stack': { type: 'boolean', default: false },
    clients: { type: 'string' },
    tasks: { type: 'string', default: '200' },
    'poll-ms': { type: 'string', default: '500' },
    wait: { type: 'string' },
    'stub-inference': { type: 'string' },
    'cpu-prof': { type: 'string' },
    'torch-baseline': { type: 'boolean', default: false },
    replicas: { type: 'string', default: '1' },
    'bento-alone': { type: 'boolean', default: false },
    'also-poll': { type: 'boolean', default: false },
  },
});
const stubMs = args['stub-inference'] === undefined ? undefined : Number(args['stub-inference']);
const clients = Number(args.clients ?? (stubMs === undefined ? 0 : 16));
let gatewayUrl = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080';
let bentoUrl = process.env.BENTOML_URL ?? 'http://127.0.0.1:3000';
const exec = promisify(execFile);

interface Image {
  name: string;
  bytes: Buffer;
  /** Its POST body, built at its first POST. */
  form?: { body: Buffer; contentType: string };
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
  const served = stubMs === undefined ? await servedModel() : { name: 'stub', version: '-', demo: false };
  const images = fs
    .readdirSync(args.images)
    .filter((f) => /\.(jpe?g|png|webp|bmp)$/i.test(f))
    .sort()
    .map((f) => ({ name: f, bytes: fs.readFileSync(path.join(args.images, f)) }));
  if (images.length === 0) throw new Error(`no images in ${args.images}`);

  let before: Baseline | undefined;
  let torchBefore: Baseline | undefined;
  if (stubMs === undefined) {
    console.error(`baseline: ${args.baseline} × model.predict of ${served.name} v${served.version} …`);
    before = await predictLoop(Number(args.baseline));
    if (args['torch-baseline']) torchBefore = await predictLoop(Number(args.baseline), 'torch');
    if (before.version !== served.version)
      throw new Error(`the baseline loaded v${before.version} but the service serves v${served.version}`);
  }

  const idle = stack ? sampleProcesses(stack) : undefined;
  const machineBefore = machineCpu();
  const hopsBefore = await hopCounts();
  const monitor = monitorGateway();
  const load =
    clients > 0
      ? await closedLoop(images, args.wait === undefined ? undefined : Number(args.wait))
      : await backlogAndStream(images, before?.images_per_s ?? 1000 / (stubMs ?? 1));
  const machineAfter = machineCpu(); // the load's end: waiting below for the queue idles the cores
  console.error('waiting for the queue to empty …');
  await waitForEmptyQueue();
  const samples = await monitor.stop();
  const end = stack ? sampleProcesses(stack) : undefined;
  const hopsAfter = await hopCounts();
  const phases = clients > 0 && stubMs === undefined ? await extraPhases(stack, images) : {};

  let after: Baseline | undefined;
  if (stubMs === undefined) {
    console.error('baseline again …');
    after = await predictLoop(Number(args.baseline));
  }
  const torchAfter = torchBefore ? await predictLoop(Number(args.baseline), 'torch') : undefined;
  const torchRate =
    torchBefore && torchAfter ? (torchBefore.images_per_s + torchAfter.images_per_s) / 2 : undefined;
  const baselineRate = before && after ? (before.images_per_s + after.images_per_s) / 2 : Number.NaN;
  const baselinePerCpu =
    before && after ? (before.images_per_cpu_s + after.images_per_cpu_s) / 2 : Number.NaN;
  const tasks = await fetchAll(load.taskIds);
  const retries = (await (await fetch(`${gatewayUrl}/metrics`)).text())
    .split('\n')
    .filter((line) => line.startsWith('detection_task_retries_total{'));
  const completed = tasks.filter((t) => t.status === 'completed');
  const first = Math.min(...tasks.map((t) => Date.parse(t.created_at)));
  const last = Math.max(...tasks.map((t) => Date.parse(t.updated_at)));
  const throughput = completed.length / ((last - first) / 1000);
  const perProcess = idle && end ? processFigures(idle, end, completed.length) : undefined;
  const stackCpu = perProcess
    ? perProcess.filter((p) => !p.name.startsWith('bench')).reduce((a, p) => a + p.cpu_ms_per_task, 0)
    : Number.NaN;
  const result = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    // Other work on the machine skews every figure: the 1/5/15-minute load before the run.
    load_average_before: loadBefore.map((l) => l.toFixed(2)).join(' '),
    model:
      stubMs === undefined
        ? `${served.name} v${served.version}${served.demo ? ' (demo)' : ''}`
        : `stub: ${stubMs} ms per task`,
    images: `${images.length} files from ${args.images}`,
    load: load.description,
    baseline_images_per_s: round(baselineRate),
    baseline_before_after: before && after ? [before.images_per_s, after.images_per_s] : undefined,
    tasks: tasks.length,
    completed: completed.length,
    failed: tasks.length - completed.length,
    // Any retry means BentoML lost or stalled tasks: the figures then measure that, not the design.
    retries,
    throughput_per_s: round(throughput),
    throughput_ratio: round(throughput / baselineRate),
    // With --torch-baseline: the same loop on torch, issue 13's yardstick for a faster runtime.
    torch_loop_images_per_s: torchRate === undefined ? undefined : round(torchRate),
    throughput_vs_torch_loop: torchRate === undefined ? undefined : round(throughput / torchRate),
    ...load.figures(tasks, samples),
    gateway_peak_rss_mib: round(Math.max(...samples.map((s) => s.rssBytes)) / 2 ** 20),
    // Per process of the stack (the bench's own process holds the clients and, with --start-stack,
    // the supervisor): CPU over the load, per completed task; PSS idle (before it) and after it.
    processes: perProcess,
    stack_cpu_ms_per_task: round(stackCpu),
    stack_pss_mib_idle: perProcess
      ? round(sum(perProcess.filter((p) => !p.name.startsWith('bench')).map((p) => p.pss_mib_idle)))
      : undefined,
    requests_per_task: requestsPerTask(hopsBefore, hopsAfter, load.clientRequests, completed.length),
    // All cores while the load ran (closed loop: until its last task finished), every process
    // included: under 1 means the cores waited for something other than CPU.
    machine_cpu_busy_share: busyShare(machineBefore, machineAfter),
    images_per_cpu_s: round(1000 / stackCpu),
    baseline_images_per_cpu_s: round(baselinePerCpu),
    cpu_efficiency_ratio: round(1000 / stackCpu / baselinePerCpu),
    ...Object.fromEntries(
      Object.entries(phases).map(([name, phase]) => [
        name,
        phaseFigures(phase, { rate: baselineRate, perCpuS: baselinePerCpu }, throughput),
      ]),
    ),
  };
  console.log(JSON.stringify(result, null, 2));
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
}

async function servedModel(): Promise<{ name: string; version: string; demo: boolean }> {
  const res = await fetch(`${bentoUrl}/model`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  return (await res.json()) as { name: string; version: string; demo: boolean };
}

/** What one kind of load did: its tasks, the client's requests, and its own figures. */
interface Load {
  description: string;
  taskIds: string[];
  clientRequests: { post: number; get: number };
  figures(tasks: Task[], samples: Sample[]): Record<string, unknown>;
}

/**
 * A backlog big enough to keep inference busy, then a steady stream of POSTs (--rate for
 * --seconds) whose latency is measured while the backlog drains.
 */
async function backlogAndStream(images: Image[], imagesPerS: number): Promise<Load> {
  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  // Enough work for inference to stay busy through the stream and a margin after it.
  const backlog = Math.ceil(imagesPerS * (seconds + 10));
  console.error(`backlog: ${backlog} tasks; then ${rate} POST/s for ${seconds} s …`);
  const backlogIds = await postBurst(images, backlog, 16);
  const serverBefore = await postHistogram();
  const streamStart = Date.now();
  const stream = await postAtRate(images, rate, seconds);
  const streamEnd = Date.now();
  const serverAfter = await postHistogram();
  const latencies = stream.map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    description: `a backlog of ${backlog} POSTs, then ${stream.length} POSTs at ${rate}/s`,
    taskIds: [...backlogIds, ...stream.map((s) => s.taskId)],
    clientRequests: { post: backlog + stream.length, get: 0 },
    figures: (tasks, samples) => {
      const duringStream = samples.filter((s) => s.at >= streamStart && s.at <= streamEnd);
      return {
        post_latency_ms: latencySummary(latencies),
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
      };
    },
  };
}

/**
 * --clients clients, each posting an image and polling it every --poll-ms until it is finished
 * (or, with --wait, long-polling it).
 */
async function closedLoop(images: Image[], waitS: number | undefined): Promise<Load & { run: PhaseRun }> {
  const count = Number(args.tasks);
  const pollMs = Number(args['poll-ms']);
  const asking = waitS === undefined ? `a GET every ${pollMs} ms` : `GETs with wait=${waitS}`;
  console.error(`${clients} clients, ${count} tasks, ${asking} …`);
  const taskIds: string[] = [];
  const postLatencies: number[] = [];
  const taskLatencies: number[] = [];
  let gets = 0;
  let failed = 0;
  let next = 0;
  const serverBefore = await postHistogram();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) {
        const i = next++;
        const sentAt = performance.now();
        const taskId = await post(images[i % images.length] as Image);
        postLatencies.push(performance.now() - sentAt);
        taskIds[i] = taskId;
        const query = waitS === undefined ? '' : `&wait=${waitS}`;
        for (;;) {
          if (waitS === undefined) await sleep(pollMs);
          gets += 1;
          const task = (await clientRequest('GET', `/image/detect?task_id=${taskId}${query}`)).body as Task;
          if (task.status === 'failed') failed += 1;
          if (task.status === 'completed' || task.status === 'failed') break;
        }
        taskLatencies.push(performance.now() - sentAt);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const serverAfter = await postHistogram();
  return {
    description: `${clients} clients, ${count} tasks, ${asking} until finished`,
    taskIds,
    clientRequests: { post: count, get: gets },
    run: {
      tasks: count,
      failed,
      seconds,
      taskLatencyMs: taskLatencies,
      clientRequests: { post: count, get: gets },
    },
    figures: () => ({
      post_latency_ms: latencySummary(postLatencies.sort((a, b) => a - b)),
      post_server_side_share_within_ms: serverShares(serverBefore, serverAfter),
      // From POST to the GET that saw the task finished.
      task_latency_ms: latencySummary(taskLatencies.sort((a, b) => a - b)),
    }),
  };
}

/** A closed loop run after the main load, timed by its clients. */
interface PhaseRun extends BentoAloneRun {
  clientRequests?: { post: number; get: number };
}

/** A phase's run, with its processes' CPU and the requests at each hop over it. */
interface Phase {
  run: PhaseRun;
  processes?: ProcessFigures[];
  requests: Record<string, Record<string, number>>;
}

/**
 * The same closed loop again, each measured alone: straight to BentoML (--bento-alone), and
 * through the gateway polling every --poll-ms when the main load long-polled (--also-poll).
 */
async function extraPhases(stack: TestStack | undefined, images: Image[]): Promise<Record<string, Phase>> {
  const count = Number(args.tasks);
  const phases: Record<string, Phase> = {};
  if (args['also-poll'] && args.wait !== undefined) {
    console.error(`the same through the gateway, a GET every ${args['poll-ms']} ms …`);
    phases.polling = await measurePhase(stack, async () => (await closedLoop(images, undefined)).run);
  }
  if (args['bento-alone']) {
    console.error(`BentoML's task API alone: ${clients} clients, ${count} tasks …`);
    phases.bentoml_alone = await measurePhase(stack, () => bentoAloneLoop(bentoUrl, images, clients, count));
  }
  return phases;
}

async function measurePhase(stack: TestStack | undefined, load: () => Promise<PhaseRun>): Promise<Phase> {
  const idle = stack ? sampleProcesses(stack) : undefined;
  const hopsBefore = await hopCounts();
  const run = await load();
  const end = stack ? sampleProcesses(stack) : undefined;
  const client = run.clientRequests ?? { post: 0, get: 0 };
  return {
    run,
    processes: idle && end ? processFigures(idle, end, run.tasks) : undefined,
    requests: requestsPerTask(hopsBefore, await hopCounts(), client, run.tasks),
  };
}

function phaseFigures(
  { run, processes, requests }: Phase,
  baseline: { rate: number; perCpuS: number },
  mainThroughput: number,
) {
  const throughput = (run.tasks - run.failed) / run.seconds;
  const stack = processes?.filter((p) => !p.name.startsWith('bench'));
  const stackCpu = stack && sum(stack.map((p) => p.cpu_ms_per_task));
  return {
    tasks: run.tasks,
    failed: run.failed,
    // From the first request to the last finish, by the clients' clock.
    throughput_per_s: round(throughput),
    throughput_ratio: round(throughput / baseline.rate),
    main_load_throughput_share: round(mainThroughput / throughput),
    task_latency_ms: latencySummary(run.taskLatencyMs.sort((a, b) => a - b)),
    processes: processes?.filter((p) => p.cpu_ms_per_task > 0),
    stack_cpu_ms_per_task: stackCpu && round(stackCpu),
    // As the main load's: images per CPU-second of the stack against the loop's.
    cpu_efficiency_ratio: stackCpu && round(1000 / stackCpu / baseline.perCpuS),
    requests_per_task: requests,
  };
}

function latencySummary(sorted: number[]): Record<string, number> {
  return {
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
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
      ['2500', '2.5'],
    ].map(([ms, le]) => [ms, round(counted(le as string) / total)]),
  );
}

interface Baseline {
  version: string;
  images_per_s: number;
  images_per_cpu_s: number;
}

/** The in-process loop on the served runtime, or on `backend`. */
async function predictLoop(count: number, backend?: string): Promise<Baseline> {
  const { stdout } = await exec(
    path.join(repoRoot, '.stack/python'),
    [
      path.join(repoRoot, 'bench/predict_loop.py'),
      '--images',
      args.images,
      '--count',
      String(count),
      ...(backend ? ['--backend', backend] : []),
    ],
    { maxBuffer: 16 * 2 ** 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Baseline;
}

async function post(image: Image): Promise<string> {
  image.form ??= multipart([
    { name: 'image', filename: image.name, bytes: image.bytes, contentType: 'application/octet-stream' },
  ]);
  const res = await clientRequest('POST', '/image/detect', image.form);
  const body = res.body as { task_id: string };
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${JSON.stringify(body)}`);
  return body.task_id;
}

// The clients' requests go through node:http on kept-alive connections, each image's form built
// once: the clients share the cores with the stack they measure, and fetch with a FormData per POST
// took a visible share of them (docs/BENCHMARKS.md).
const clientAgent = new http.Agent({ keepAlive: true });

/** One request to the gateway; the answer's body parsed as JSON. */
function clientRequest(
  method: string,
  urlPath: string,
  form?: { body: Buffer; contentType: string },
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const headers = form ? { 'content-type': form.contentType, 'content-length': form.body.length } : {};
    const req = http.request(new URL(urlPath, gatewayUrl), { method, headers, agent: clientAgent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
      );
    });
    req.on('error', reject);
    req.end(form?.body);
  });
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

/** The whole machine's CPU time from /proc/stat, in seconds: busy (not idle, not iowait) and all. */
function machineCpu(): { busyS: number; totalS: number } {
  const cpuLine = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const ticks = cpuLine.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const total = sum(ticks);
  const hz = 100; // USER_HZ: 100 on every Linux build in use
  return { busyS: (total - idle) / hz, totalS: total / hz };
}

/** The share of all cores' time that was busy between two samples. */
function busyShare(before: { busyS: number; totalS: number }, after: { busyS: number; totalS: number }) {
  return round((after.busyS - before.busyS) / (after.totalS - before.totalS));
}

/** One process of the stack at one moment. */
interface ProcessSample {
  name: string;
  cpuSeconds: number;
  pssKiB: number;
}

/**
 * Every process of each service (its process and every descendant), named by service and role,
 * and the bench's own process, which holds the clients and the supervisor.
 */
function sampleProcesses(stack: TestStack): Map<number, ProcessSample> {
  const procs = processTable();
  const samples = new Map<number, ProcessSample>();
  // Replicas after the first are told apart by their number (bentoml#2 …).
  const supervisors = [stack.supervisor, ...stack.replicaSupervisors];
  for (const [i, supervisor] of supervisors.entries())
    for (const [service, root] of supervisor.servicePids()) {
      const tree = processTree(root, procs);
      for (const p of procs.filter((q) => tree.has(q.pid))) {
        const name = processName(service, p.pid, root);
        samples.set(p.pid, {
          name: i === 0 ? name : name.replace('bentoml', `bentoml#${i + 1}`),
          cpuSeconds: p.cpuSeconds,
          pssKiB: pssKiB(p.pid),
        });
      }
    }
  const self = procs.find((p) => p.pid === process.pid);
  samples.set(process.pid, {
    name: 'bench (clients, supervisor)',
    cpuSeconds: self?.cpuSeconds ?? 0,
    pssKiB: pssKiB(process.pid),
  });
  return samples;
}

/** The service, and for a child its role: BentoML's arbiter and workers are told apart. */
function processName(service: ServiceName, pid: number, root: number): string {
  const label = service === 'bento' ? 'bentoml' : service;
  if (pid === root) return service === 'bento' ? 'bentoml arbiter' : label;
  const cmdline = readProc(pid, 'cmdline').replaceAll('\0', ' ');
  const worker = /--worker-id[ =](\d+)/.exec(cmdline)?.[1];
  if (worker !== undefined) return `${label} worker ${worker}`;
  return `${label} child: ${path.basename(cmdline.split(' ')[0] ?? '')} (${pid})`;
}

/** Proportional set size: the process's own pages plus its share of those it shares. */
function pssKiB(pid: number): number {
  return Number(/^Pss:\s+(\d+)/m.exec(readProc(pid, 'smaps_rollup'))?.[1] ?? Number.NaN);
}

function readProc(pid: number, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return ''; // gone, or not Linux
  }
}

interface ProcessFigures {
  name: string;
  pid: number;
  cpu_ms_per_task: number;
  pss_mib_idle: number;
  pss_mib_end: number;
}

function processFigures(
  idle: Map<number, ProcessSample>,
  end: Map<number, ProcessSample>,
  tasks: number,
): ProcessFigures[] {
  return [...end.entries()].map(([pid, last]) => {
    const first = idle.get(pid);
    return {
      name: last.name,
      pid,
      cpu_ms_per_task: round((1000 * (last.cpuSeconds - (first?.cpuSeconds ?? 0))) / tasks),
      pss_mib_idle: round((first?.pssKiB ?? Number.NaN) / 1024),
      pss_mib_end: round(last.pssKiB / 1024),
    };
  });
}

/** Requests served so far at each hop behind the gateway, by operation. */
interface HopCounts {
  minio: Record<string, number>;
  bentoml: Record<string, number>;
}

/**
 * MinIO's S3 calls by API (its Prometheus metrics, public in a stack the bench starts) and
 * BentoML's requests by endpoint (its /metrics); empty where a service does not answer.
 */
async function hopCounts(): Promise<HopCounts> {
  const minioUrl = process.env.MINIO_ENDPOINT ?? 'http://127.0.0.1:9000';
  return {
    minio: await counters(
      `${minioUrl}/minio/v2/metrics/node`,
      /^minio_s3_requests_total\{([^}]*)\} (\S+)/,
      'api',
    ),
    bentoml: sumCounts(
      await Promise.all(
        bentoUrls().map((url) =>
          counters(`${url}/metrics`, /^bentoml_service_request_total\{([^}]*)\} (\S+)/, 'endpoint'),
        ),
      ),
    ),
  };
}

/** Every BentoML replica the gateway uses (BENTOML_URLS with --replicas), else the one. */
const bentoUrls = () => process.env.BENTOML_URLS?.split(',') ?? [bentoUrl];

function sumCounts(counts: Record<string, number>[]): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const count of counts) for (const [name, n] of Object.entries(count)) sum[name] = (sum[name] ?? 0) + n;
  return sum;
}

async function counters(url: string, line: RegExp, key: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let text = '';
  try {
    const res = await fetch(url);
    if (res.ok) text = await res.text();
  } catch {
    return out;
  }
  for (const row of text.split('\n')) {
    const match = line.exec(row);
    if (!match) continue;
    const name = new RegExp(`${key}="([^"]*)"`).exec(match[1] as string)?.[1] ?? '?';
    out[name] = (out[name] ?? 0) + Number(match[2]);
  }
  return out;
}

function requestsPerTask(
  before: HopCounts,
  after: HopCounts,
  client: { post: number; get: number },
  tasks: number,
): Record<string, Record<string, number>> {
  const perTask = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(
      Object.entries(b)
        .map(([k, v]) => [k, round((v - (a[k] ?? 0)) / tasks)] as const)
        .filter(([, v]) => v > 0),
    );
  return {
    client: { post: round(client.post / tasks), get: round(client.get / tasks) },
    minio: perTask(before.minio, after.minio),
    bentoml: perTask(before.bentoml, after.bentoml),
  };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
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

/**
 * A stand-in for BentoML's task endpoints: one task finished every `msPerTask`, in the order
 * submitted, each with the same detection, announced on /detect/finished with its outcome as
 * BentoML does (looked at every 20 ms); its /metrics counts requests as BentoML's does.
 */
async function startStubInference(msPerTask: number): Promise<{ url: string; close(): void }> {
  const doneAt = new Map<string, number>();
  /** Submissions in order; they finish in this order, so task n has announcement number n + 1. */
  const submitted: { id: string; at: number }[] = [];
  const finishedCount = () => {
    let n = 0;
    while (n < submitted.length && (submitted[n] as { at: number }).at <= Date.now()) n++;
    return n;
  };
  const announce = async (after: number, waitS: number) => {
    const deadline = Date.now() + waitS * 1000;
    while (after >= 0 && finishedCount() <= after && Date.now() < deadline) await sleep(20);
    const last = finishedCount();
    const ids = after < 0 ? [] : submitted.slice(after, last).map((s) => s.id);
    const outcomes = Object.fromEntries(ids.map((id) => [id, outcome]));
    return JSON.stringify({ last, task_ids: ids, outcomes });
  };
  const requests: Record<string, number> = {};
  let free = 0;
  const outcome = {
    response: {
      instances: [
        { boundingBox: '0.5000 0.5000 0.2500 0.2500', class: '0', className: 'stub', confidence: 0.9 },
      ],
      image: { width: 416, height: 416 },
      model: { name: 'stub', version: '1' },
      inference_ms: msPerTask,
    },
    error: null,
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    requests[url.pathname] = (requests[url.pathname] ?? 0) + 1;
    const answer = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    };
    const body: Buffer[] = [];
    // Only /detect/finished's body is read; the upload itself is not needed.
    req.on('data', (chunk: Buffer) => url.pathname === '/detect/finished' && body.push(chunk));
    req.on('end', async () => {
      if (url.pathname === '/detect/finished') {
        const { after = -1, wait = 0 } = JSON.parse(Buffer.concat(body).toString() || '{}');
        return answer(200, await announce(after, wait));
      }
      if (url.pathname === '/readyz') return answer(200, '{}');
      if (url.pathname === '/model') return answer(200, '{"name":"stub","version":"1"}');
      if (url.pathname === '/metrics')
        return res.end(
          Object.entries(requests)
            .map(([endpoint, n]) => `bentoml_service_request_total{endpoint="${endpoint}"} ${n}\n`)
            .join(''),
        );
      if (url.pathname === '/detect/submit') {
        const id = randomUUID();
        free = Math.max(free, Date.now()) + msPerTask;
        doneAt.set(id, free);
        submitted.push({ id, at: free });
        return answer(200, JSON.stringify({ task_id: id }));
      }
      if (url.pathname === '/detect/get') {
        const at = doneAt.get(url.searchParams.get('task_id') ?? '');
        if (at === undefined) return answer(404, '{"error":"not found"}');
        if (at > Date.now()) return answer(400, '{"error":"task is not completed yet"}');
        return answer(200, JSON.stringify(outcome));
      }
      answer(404, '{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** MinIO and a gateway whose BentoML is the stub. */
async function startStubStack(msPerTask: number): Promise<TestStack> {
  const stub = await startStubInference(msPerTask);
  console.error(`starting MinIO and the gateway; BentoML is a stub finishing a task every ${msPerTask} ms …`);
  const stack = await startTestStack(['minio', 'gateway'], stackOptions({ BENTOML_URL: stub.url }));
  Object.assign(process.env, stack.env);
  gatewayUrl = stack.env.GATEWAY_URL;
  bentoUrl = stub.url;
  const stop = stack.stop;
  return { ...stack, stop: () => stop().finally(() => stub.close()) };
}

/** How the bench starts a stack: settings every service gets, and the gateway's profiler. */
function stackOptions(extraEnv: Record<string, string> = {}): TestStackOptions {
  const profile = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['cpu-prof'])}`] : [];
  return {
    extraEnv: {
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      MINIO_PROMETHEUS_AUTH_TYPE: 'public',
      // A fast runtime's backlog (images/s x 25 s) passes the default 1000, which would answer 429.
      MAX_QUEUE_DEPTH: process.env.MAX_QUEUE_DEPTH ?? '5000',
      ...extraEnv,
    },
    gatewayNodeArgs: profile,
    bentoReplicas: Number(args.replicas),
    log: args.log ? (name, line) => fs.appendFileSync(args.log as string, `${name} | ${line}\n`) : undefined,
  };
}

/** A fresh stack on free ports, serving a model trained for the benchmark. */
async function startStack(): Promise<TestStack> {
  console.error(`starting MinIO and MLflow, training a yolov8n at ${args.imgsz} px for one epoch …`);
  const stack = await startTestStack(['minio', 'mlflow'], stackOptions());
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
  const stack = !args['start-stack']
    ? undefined
    : stubMs === undefined
      ? await startStack()
      : await startStubStack(stubMs);
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
