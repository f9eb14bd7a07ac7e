// The gateway with TASK_DB: task records and the pending index in a SQLite file, images in a real
// MinIO. The same API and guarantees as with MinIO alone: tasks complete, survive a gateway
// restart, and gateways sharing the file see one another's tasks.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import type { Config } from '../src/config.js';
import { checked } from './support/contract.js';
import { FakeInference } from './support/fake-inference.js';
import {
  eventually,
  objectKeys,
  type RunningGateway,
  startGateway,
  startMinio,
  storageClient,
  testConfig,
} from './support/harness.js';
import { shapeImage } from './support/images.js';

let stack: TestStack;
let config: Config;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mini-streamio-taskdb-'));

beforeAll(async () => {
  stack = await startMinio();
  config = testConfig(stack, { TASK_DB: path.join(dir, 'tasks.db') });
});
afterAll(async () => {
  await stack?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = (gw: RunningGateway, key?: string) => {
  const req = request(gw.url).post('/image/detect').attach('image', shapeImage('png'), 'a.png');
  return checked(key ? req.set('Idempotency-Key', key) : req);
};

async function completed(gw: RunningGateway, taskId: string) {
  return eventually(async () => {
    const res = await checked(request(gw.url).get(`/image/detect?task_id=${taskId}`));
    return res.body.status === 'completed' ? res.body : undefined;
  }, `task ${taskId} to complete`);
}

describe('task records in SQLite (TASK_DB)', () => {
  it('when a task is posted, then it completes, its image is in MinIO and no task object is', async () => {
    const gw = await startGateway(config, { reconcile: true });
    try {
      const accepted = await post(gw);
      expect(accepted.status).toBe(202);
      const done = await completed(gw, accepted.body.task_id);
      expect(done.response.instances).toHaveLength(1);
      const client = storageClient(config);
      expect(await objectKeys(client, config.IMAGES_BUCKET)).toContain(accepted.body.task_id);
      expect(await objectKeys(client, config.TASKS_BUCKET)).toEqual([]);
    } finally {
      await gw.close();
    }
  });

  it('when the gateway stops with a task unfinished, then a gateway started on the same file finishes it', async () => {
    const first = await startGateway(config, { reconcile: true });
    first.inference.behaviour = 'hold';
    const accepted = await post(first);
    await eventually(async () => first.inference.submissions.at(-1), 'the submission');
    await first.close();
    const second = await startGateway(config, { inference: new FakeInference(), reconcile: true });
    try {
      // The new BentoML does not know the old submission: the task is submitted again and completes.
      const done = await completed(second, accepted.body.task_id);
      expect(done.response.instances).toHaveLength(1);
      expect(second.inference.submissions).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('when two gateways share the file, then an Idempotency-Key replayed on the other gives the same task', async () => {
    const [a, b] = [await startGateway(config), await startGateway(config)];
    try {
      const first = await post(a, 'shared-key-1');
      const replay = await post(b, 'shared-key-1');
      expect(first.status).toBe(202);
      expect(replay.body.task_id).toBe(first.body.task_id);
      const read = await checked(request(b.url).get(`/image/detect?task_id=${first.body.task_id}`));
      expect(read.status).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
