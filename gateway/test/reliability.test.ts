// Reliability of the task pipeline: MinIO going away, BentoML down or forgetting tasks,
// bounded retries, and two gateways sharing one MinIO. Real MinIO, fake inference client.
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { checked } from './support/contract.js';
import { FakeInference } from './support/fake-inference.js';
import {
  eventually,
  objectKeys,
  RefusingStore,
  type RunningGateway,
  startGateway,
  startMinio,
  storageClient,
  testConfig,
} from './support/harness.js';
import { shapeImage } from './support/images.js';

let stack: TestStack;
const started: RunningGateway[] = [];

beforeAll(async () => {
  stack = await startMinio();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((g) => g.close()));
});
afterAll(async () => {
  await stack?.stop();
});

let unique = 0;
/** A valid PNG with distinct bytes, so each test can count the submissions of its own images. */
const distinctImage = () => Buffer.concat([shapeImage('png'), Buffer.from(`#${unique++}`)]);

async function gateway(overrides: Record<string, string> = {}, inference?: FakeInference) {
  const g = await startGateway(testConfig(stack, overrides), { inference, reconcile: true });
  started.push(g);
  return g;
}

const post = (g: RunningGateway, image: Buffer) =>
  checked(request(g.url).post('/image/detect').attach('image', image, 'shape.png'));
const get = (g: RunningGateway, taskId: string) =>
  checked(request(g.url).get(`/image/detect?task_id=${taskId}`));

async function waitFor(g: RunningGateway, taskId: string, status: string, timeoutMs = 15_000) {
  return eventually(
    async () => {
      const res = await get(g, taskId);
      return res.body.status === status ? res : undefined;
    },
    `task ${taskId} to be ${status}`,
    timeoutMs,
  );
}

describe('when MinIO is unreachable', () => {
  it('then POST and GET answer 503 at once, readiness fails, and both recover when MinIO returns', async () => {
    const g = await gateway();
    const before = await post(g, distinctImage());
    expect(before.status).toBe(202);
    await waitFor(g, before.body.task_id, 'completed');
    // A gateway that never saw the task (no reconciler either, which would list it).
    const other = await startGateway(testConfig(stack));
    started.push(other);

    await stack.supervisor.stop('minio');
    try {
      const t0 = Date.now();
      const posted = await post(g, distinctImage());
      // A gateway that holds no copy of the task has to ask MinIO.
      const got = await get(other, before.body.task_id);
      const elapsed = Date.now() - t0;
      expect(posted.status).toBe(503);
      expect(posted.body.error.code).toBe('storage_unavailable');
      expect(got.status).toBe(503);
      expect(got.body.error.code).toBe('storage_unavailable');
      expect(elapsed).toBeLessThan(2_000); // refused connections, no retry loop
      // One that finished it answers from memory: a finished record never changes.
      const held = await get(g, before.body.task_id);
      expect(held.status).toBe(200);
      expect(held.body.status).toBe('completed');
      const ready = await checked(request(g.url).get('/readyz'));
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toEqual({ storage: false, inference: true });
    } finally {
      await stack.restart('minio');
    }

    const after = await eventually(async () => {
      const res = await post(g, distinctImage());
      return res.status === 202 ? res : undefined;
    }, 'POST to succeed again');
    await waitFor(g, after.body.task_id, 'completed');
    expect((await get(g, before.body.task_id)).body.status).toBe('completed');
  });

  it('then a task accepted before the outage completes after MinIO returns', async () => {
    const fake = new FakeInference();
    fake.behaviour = 'hold';
    const g = await gateway({}, fake);
    const accepted = await post(g, distinctImage());
    await waitFor(g, accepted.body.task_id, 'processing');
    await stack.supervisor.stop('minio');
    fake.behaviour = 'complete';
    await new Promise((r) => setTimeout(r, 500)); // reconciler rounds fail meanwhile
    await stack.restart('minio');
    await waitFor(g, accepted.body.task_id, 'completed');
  });
});

describe('when MinIO refuses one of the writes of a POST', () => {
  const cases = [
    { refused: 'the image', bucket: 'images', key: '', idempotencyKey: undefined },
    { refused: 'the pending marker', bucket: 'tasks', key: 'pending/', idempotencyKey: undefined },
    { refused: 'the record', bucket: 'tasks', key: 'records/', idempotencyKey: undefined },
    { refused: 'the image of a keyed task', bucket: 'images', key: '', idempotencyKey: 'key-1' },
    { refused: 'the record of a keyed task', bucket: 'tasks', key: 'records/', idempotencyKey: 'key-2' },
  ];
  it.each(cases)(
    'when it refuses $refused, then POST answers 503 and nothing of the task stays',
    async (c) => {
      const buckets = {
        IMAGES_BUCKET: `images-refused-${unique}`,
        TASKS_BUCKET: `tasks-refused-${unique++}`,
      };
      const config = testConfig(stack, buckets);
      const bucket = c.bucket === 'images' ? buckets.IMAGES_BUCKET : buckets.TASKS_BUCKET;
      const store = new RefusingStore(config, (b, k) => b === bucket && k.startsWith(c.key));
      const g = await startGateway(config, { store });
      started.push(g);
      let req = request(g.url).post('/image/detect').attach('image', distinctImage(), 'shape.png');
      if (c.idempotencyKey) req = req.set('Idempotency-Key', c.idempotencyKey);
      const res = await checked(req);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('storage_unavailable');
      const client = storageClient(config);
      expect(await objectKeys(client, buckets.IMAGES_BUCKET)).toEqual([]);
      expect(await objectKeys(client, buckets.TASKS_BUCKET)).toEqual([]);
    },
  );
});

describe('the order of the writes of a POST', () => {
  it('when the task has an Idempotency-Key, then its record is written only after its image', async () => {
    const config = testConfig(stack, { IMAGES_BUCKET: 'images-order', TASKS_BUCKET: 'tasks-order' });
    const store = new RefusingStore(
      config,
      () => false,
      (bucket) => bucket === 'images-order',
    );
    let release = () => {};
    store.hold = new Promise((resolve) => {
      release = resolve;
    });
    const g = await startGateway(config, { store });
    started.push(g);
    const posting = checked(
      request(g.url)
        .post('/image/detect')
        .set('Idempotency-Key', 'ordered')
        .attach('image', distinctImage(), 'a.png'),
    );
    const client = storageClient(config);
    // The marker goes with the image: once it is there, an unordered POST would have its record too.
    const marker = await eventually(async () => {
      const keys = await objectKeys(client, 'tasks-order');
      return keys.find((k) => k.startsWith('pending/'));
    }, 'the pending marker');
    await new Promise((r) => setTimeout(r, 200));
    expect(await objectKeys(client, 'tasks-order')).toEqual([marker]);
    release();
    expect((await posting).status).toBe(202);
  });
});

describe('when BentoML is down or forgets tasks', () => {
  it('when BentoML is down at POST, then the task stays queued and is submitted once it is back', async () => {
    const fake = new FakeInference();
    fake.down = true;
    const g = await gateway({}, fake);
    const image = distinctImage();
    const accepted = await post(g, image);
    expect(accepted.status).toBe(202);
    await new Promise((r) => setTimeout(r, 400)); // several reconciler rounds
    expect((await get(g, accepted.body.task_id)).body.status).toBe('queued');
    expect(fake.submissionsOf(image)).toBe(0);

    fake.down = false;
    await waitFor(g, accepted.body.task_id, 'completed');
    expect(fake.submissionsOf(image)).toBe(1);
  });

  it('when BentoML runs without a model, then tasks wait queued instead of failing, and run once a model is loaded', async () => {
    const fake = new FakeInference();
    fake.modelLoaded = false;
    const g = await gateway({}, fake);
    const image = distinctImage();
    const accepted = await post(g, image);
    await new Promise((r) => setTimeout(r, 400));
    expect((await get(g, accepted.body.task_id)).body.status).toBe('queued');
    expect(fake.submissionsOf(image)).toBe(0);

    fake.modelLoaded = true;
    const done = await waitFor(g, accepted.body.task_id, 'completed');
    expect(done.body.response.model.name).toBe('fake-detector');
  });

  it('when a BentoML worker answers no_model (still loading), then the task is tried again and completes', async () => {
    const fake = new FakeInference();
    fake.noModelAnswers = 1;
    const g = await gateway({}, fake);
    const image = distinctImage();
    const done = await waitFor(g, (await post(g, image)).body.task_id, 'completed');
    expect(done.body.response.instances).toHaveLength(1);
    expect(fake.submissionsOf(image)).toBe(2);
  });

  it('when every attempt answers no_model, then the task fails with that error after MAX_ATTEMPTS', async () => {
    const fake = new FakeInference();
    fake.noModelAnswers = 100;
    const g = await gateway({ MAX_ATTEMPTS: '2' }, fake);
    const image = distinctImage();
    const failed = await waitFor(g, (await post(g, image)).body.task_id, 'failed');
    expect(failed.body.error).toEqual({ code: 'no_model', message: 'no model is loaded' });
    expect(fake.submissionsOf(image)).toBe(2);
  });

  it('when BentoML restarts and forgets a running task, then the reconciler submits it again and it completes', async () => {
    const fake = new FakeInference();
    fake.behaviour = 'hold';
    const g = await gateway({}, fake);
    const image = distinctImage();
    const accepted = await post(g, image);
    await waitFor(g, accepted.body.task_id, 'processing');
    fake.restart();
    fake.behaviour = 'complete';
    const done = await waitFor(g, accepted.body.task_id, 'completed');
    expect(done.body.response.instances).toHaveLength(1);
    expect(fake.submissionsOf(image)).toBe(2);
  });

  it('when BentoML loses the task every time, then it fails after MAX_ATTEMPTS with the reason', async () => {
    const fake = new FakeInference();
    fake.behaviour = 'lose';
    const g = await gateway({ MAX_ATTEMPTS: '3' }, fake);
    const image = distinctImage();
    const accepted = await post(g, image);
    const failed = await waitFor(g, accepted.body.task_id, 'failed');
    expect(failed.body.error.code).toBe('inference_lost');
    expect(failed.body.error.message).toMatch(/gave up after 3 attempts: .*lost/);
    expect(fake.submissionsOf(image)).toBe(3);
  });

  it('when BentoML reports the task failed every time, then it fails after MAX_ATTEMPTS', async () => {
    const fake = new FakeInference();
    fake.behaviour = 'fail';
    const g = await gateway({ MAX_ATTEMPTS: '2' }, fake);
    const image = distinctImage();
    const failed = await waitFor(g, (await post(g, image)).body.task_id, 'failed');
    expect(failed.body.error.code).toBe('inference_failed');
    expect(fake.submissionsOf(image)).toBe(2);
  });

  it('when BentoML answers every submission with a server error, then the task fails after MAX_ATTEMPTS', async () => {
    const fake = new FakeInference();
    fake.failingSubmissions = true;
    const g = await gateway({ MAX_ATTEMPTS: '2' }, fake);
    const image = distinctImage();
    const failed = await waitFor(g, (await post(g, image)).body.task_id, 'failed');
    expect(failed.body.error.code).toBe('inference_failed');
    expect(failed.body.error.message).toMatch(/gave up after 2 attempts: .*refused the submission/);
    expect(fake.submissionsOf(image)).toBe(2);
  });

  it('when BentoML keeps a task in progress past TASK_TIMEOUT_MS, then it is re-submitted, and failed when attempts run out', async () => {
    const fake = new FakeInference();
    fake.behaviour = 'hold';
    const g = await gateway({ TASK_TIMEOUT_MS: '300', MAX_ATTEMPTS: '2' }, fake);
    const image = distinctImage();
    const failed = await waitFor(g, (await post(g, image)).body.task_id, 'failed');
    expect(failed.body.error.code).toBe('inference_timeout');
    expect(failed.body.error.message).toContain('300 ms');
    expect(fake.submissionsOf(image)).toBe(2);
  });

  it('when a task finishes, then it leaves the pending index', async () => {
    const g = await gateway();
    const accepted = await post(g, distinctImage());
    await waitFor(g, accepted.body.task_id, 'completed');
    await g.gateway.reconciler.runOnce();
    const keys = await objectKeys(storageClient(g.config), g.config.TASKS_BUCKET);
    expect(keys).toContain(`records/${accepted.body.task_id}.json`);
    expect(keys).not.toContain(`pending/${accepted.body.task_id}`);
  });
});

describe('two gateways on one MinIO', () => {
  // Separate buckets with versioning on, so every version of every record can be inspected.
  const buckets = { IMAGES_BUCKET: 'images-two', TASKS_BUCKET: 'tasks-two', RECONCILE_INTERVAL_MS: '20' };

  async function completedVersions(g: RunningGateway, taskId: string): Promise<number> {
    const client = storageClient(g.config);
    const key = `records/${taskId}.json`;
    let completed = 0;
    for await (const v of client.listObjects(buckets.TASKS_BUCKET, key, true, { IncludeVersion: true })) {
      if (v.name !== key || !v.versionId) continue;
      const stream = await client.getObject(buckets.TASKS_BUCKET, key, { versionId: v.versionId });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      if (JSON.parse(Buffer.concat(chunks).toString()).status === 'completed') completed += 1;
    }
    return completed;
  }

  it('when the gateway that accepted a task stops, then another gateway finds the task and finishes it', async () => {
    const bento = new FakeInference();
    bento.down = true;
    const a = await gateway({}, bento);
    const image = distinctImage();
    const accepted = await post(a, image);
    await a.close(); // no process remembers the task now: only MinIO does
    const b = await gateway({}, bento);
    bento.down = false;
    const done = await waitFor(b, accepted.body.task_id, 'completed');
    expect(done.body.response.instances).toHaveLength(1);
    expect(bento.submissionsOf(image)).toBe(1);
  });

  it('when both move the same tasks, even through a BentoML restart, then each task is submitted once per attempt and stores one result', async () => {
    const client = storageClient(testConfig(stack));
    await client.makeBucket(buckets.TASKS_BUCKET);
    await client.setBucketVersioning(buckets.TASKS_BUCKET, { Status: 'Enabled' });
    const bento = new FakeInference(); // one model server behind both gateways
    bento.behaviour = 'hold';
    const a = await gateway(buckets, bento);
    const b = await gateway(buckets, bento);

    const images = Array.from({ length: 12 }, distinctImage);
    const ids = await Promise.all(
      images.map(async (image, i) => (await post(i % 2 ? a : b, image)).body.task_id as string),
    );
    await Promise.all(ids.map((id, i) => waitFor(i % 2 ? b : a, id, 'processing')));
    bento.restart(); // both reconcilers now find every task lost at once
    bento.behaviour = 'complete';
    // Each gateway answers from what it last saw: the one that did not finish a task sees it
    // finished within a reconcile round, so both are waited for before they are compared.
    await Promise.all(ids.flatMap((id) => [waitFor(a, id, 'completed'), waitFor(b, id, 'completed')]));

    for (const [i, id] of ids.entries()) {
      const [fromA, fromB] = [await get(a, id), await get(b, id)];
      expect(fromA.body).toEqual(fromB.body);
      expect(bento.submissionsOf(images[i] as Buffer)).toBe(2);
      expect(await completedVersions(a, id)).toBe(1);
    }
  });
});
