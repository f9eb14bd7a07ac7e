// The floors of the parts every gateway of this design is made of, each alone under the closed
// loop of detect-bench.ts (16 clients, the Valorant test images), on this machine:
//   http:  the gateway's own Express app (createApp: pino-http, metrics, the OpenAPI validator and
//          its multipart upload) whose routes answer at once (POST 202, GET a finished task), in a
//          child process: its CPU per task (one POST and one GET) is what the HTTP stack the
//          product prescribes costs before any work is done;
//   minio: one PUT of each image through the gateway's MinIO adapter: MinIO's CPU per PUT, and the
//          client's (this process).
// bench/bentoml_floor.py does the same for BentoML's task API. docs/BENCHMARKS.md sets these
// against the CPU a task may cost for issue 18's service / loop targets.
//
//   node --import tsx bench/gateway-floor.ts [--tasks 3000] [--clients 16] [--json FILE]
import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import express from 'express';
import { pino } from 'pino';
import { loadConfig } from '../gateway/src/config.js';
import { newTaskId } from '../gateway/src/detection/task-id.js';
import { createApp } from '../gateway/src/http/app.js';
import { GatewayMetrics } from '../gateway/src/http/metrics.js';
import { multipart } from '../gateway/src/inference/bentoml-client.js';
import type { InferenceClient } from '../gateway/src/inference/inference-client.js';
import { MinioStore, minioClient } from '../gateway/src/storage/minio-store.js';
import type { ObjectStore } from '../gateway/src/storage/object-store.js';
import { processTable } from '../scripts/stack/processes.js';
import { startTestStack } from '../scripts/stack/test-stack.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '/work/shared/datasets/valorant/valid/images' },
    tasks: { type: 'string', default: '3000' },
    clients: { type: 'string', default: '16' },
    json: { type: 'string' },
    'serve-http': { type: 'boolean', default: false },
  },
});
const tasks = Number(args.tasks);
const clients = Number(args.clients);

/** The child: the gateway's app with routes that do nothing; tells its parent its port. */
function serveHttp(): void {
  const unused = () => Promise.reject(new Error('not in the floor'));
  const store = { ping: () => Promise.resolve() } as unknown as ObjectStore;
  // Neither is asked on the routes measured.
  const inference = {
    servedModel: unused,
    isReady: unused,
    submit: unused,
    check: unused,
  } as unknown as InferenceClient;
  const finished = (taskId: string) => ({
    task_id: taskId,
    status: 'completed',
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
  });
  const api = express.Router();
  api.post('/image/detect', (_req, res) => {
    res.status(202).json({ task_id: newTaskId(), status: 'queued' });
  });
  api.get('/image/detect', (req, res) => {
    res.json(finished(String(req.query.task_id)));
  });
  const app = createApp({
    store,
    inference,
    api,
    metrics: new GatewayMetrics(),
    logger: pino({ level: 'warn' }), // as detect-bench.ts runs the gateway
    maxImageBytes: 20 * 2 ** 20,
  });
  const server = app.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
}

interface Floor {
  tasks_per_s: number;
  server_cpu_ms_per_task: number;
  client_cpu_ms_per_task: number;
}

/** CPU seconds of a process so far (/proc). */
function cpuSeconds(pid: number): number {
  return processTable().find((p) => p.pid === pid)?.cpuSeconds ?? Number.NaN;
}

/** Runs `count` tasks, `clients` at a time, and what they cost `serverPid` and this process. */
async function measure(serverPid: number, task: (i: number) => Promise<void>): Promise<Floor> {
  for (let i = 0; i < 50; i++) await task(i); // warm-up
  const serverBefore = cpuSeconds(serverPid);
  const clientBefore = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < tasks) await task(next++);
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const client = process.cpuUsage(clientBefore);
  return {
    tasks_per_s: round(tasks / seconds),
    server_cpu_ms_per_task: round((1000 * (cpuSeconds(serverPid) - serverBefore)) / tasks),
    client_cpu_ms_per_task: round((client.user + client.system) / 1000 / tasks),
  };
}

const agent = new http.Agent({ keepAlive: true });

function request(
  port: number,
  method: string,
  urlPath: string,
  form?: { body: Buffer; contentType: string },
) {
  return new Promise<number>((resolve, reject) => {
    const headers = form ? { 'content-type': form.contentType, 'content-length': form.body.length } : {};
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(form?.body);
  });
}

async function httpFloor(images: Buffer[]): Promise<Floor> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve-http'], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  try {
    const port = await new Promise<number>((resolve) =>
      child.once('message', (m: { port: number }) => resolve(m.port)),
    );
    const forms = images.map((bytes) =>
      multipart([{ name: 'image', filename: 'image.jpg', bytes, contentType: 'image/jpeg' }]),
    );
    return await measure(child.pid as number, async (i) => {
      const posted = await request(port, 'POST', '/image/detect', forms[i % forms.length]);
      if (posted !== 202) throw new Error(`POST answered ${posted}`);
      const got = await request(port, 'GET', `/image/detect?task_id=${newTaskId()}&wait=30`);
      if (got !== 200) throw new Error(`GET answered ${got}`);
    });
  } finally {
    child.kill();
  }
}

async function minioFloor(images: Buffer[]): Promise<Floor> {
  const stack = await startTestStack(['minio']);
  try {
    const config = loadConfig({ ...process.env, ...stack.env });
    const store = new MinioStore(minioClient(config), ['floor']);
    await store.ensureBuckets();
    const minio = stack.supervisor.servicePids().get('minio') as number;
    return await measure(minio, async (i) => {
      await store.put('floor', `images/${i}.jpg`, images[i % images.length] as Buffer, {
        contentType: 'image/jpeg',
      });
    });
  } finally {
    await stack.stop();
  }
}

function round(value: number): number {
  return Number(value.toFixed(2));
}

async function main(): Promise<void> {
  const images = fs
    .readdirSync(args.images)
    .filter((f) => /\.(jpe?g|png)$/i.test(f))
    .sort()
    .map((f) => fs.readFileSync(path.join(args.images, f)));
  if (images.length === 0) throw new Error(`no images in ${args.images}`);
  const result = {
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}`,
    load_average_before: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    tasks,
    clients,
    http: await httpFloor(images),
    minio_put: await minioFloor(images),
  };
  console.log(JSON.stringify(result, null, 2));
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
}

if (args['serve-http']) serveHttp();
else
  main().catch((err: unknown) => {
    console.error(`gateway-floor: ${(err as Error).message}`);
    process.exit(1);
  });
