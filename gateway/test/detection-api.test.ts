// Component tests of the detection API: the real gateway app on a free port, a real MinIO,
// a fake inference client. Every answer is checked against openapi.yaml.
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { checked } from './support/contract.js';
import { FAKE_MODEL, FakeInference } from './support/fake-inference.js';
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
import { pngHeader, shapeImage } from './support/images.js';

let stack: TestStack;
let gw: RunningGateway;

beforeAll(async () => {
  stack = await startMinio();
  gw = await startGateway(
    testConfig(stack, { MAX_IMAGE_BYTES: String(64 * 1024), MAX_IMAGE_PIXELS: '1000000' }),
  );
});
afterAll(async () => {
  await gw?.close();
  await stack?.stop();
});
beforeEach(() => {
  gw.inference.behaviour = 'complete';
  gw.inference.down = false;
  gw.inference.rejecting = false;
});

const post = (image: Buffer, query = '', filename = 'image.bin') =>
  request(gw.url).post(`/image/detect${query}`).attach('image', image, filename);
const get = (taskId: string) => request(gw.url).get(`/image/detect?task_id=${taskId}`);

async function waitForStatus(taskId: string, statuses: string[]) {
  return eventually(
    async () => {
      const res = await checked(get(taskId));
      return statuses.includes(res.body.status) ? res : undefined;
    },
    `task ${taskId} to be ${statuses.join('|')}`,
  );
}

/** A PNG whose bytes no other test posts. */
const distinct = (tag: string) => Buffer.concat([shapeImage('png'), Buffer.from(tag)]);

async function readObject(bucket: string, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await storageClient(gw.config).getObject(bucket, key))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const storedImage = (taskId: string) => readObject(gw.config.IMAGES_BUCKET, taskId);

async function storedObjects() {
  const client = storageClient(gw.config);
  return {
    images: await objectKeys(client, gw.config.IMAGES_BUCKET),
    tasks: await objectKeys(client, gw.config.TASKS_BUCKET),
  };
}

type StoredObjects = Awaited<ReturnType<typeof storedObjects>>;

/** The keys stored since `before`. Only additions count: the reconciler (every 100 ms) goes on
 * finishing the tasks earlier tests posted and removes their pending/ markers meanwhile. */
async function storedSince(before: StoredObjects): Promise<StoredObjects> {
  const now = await storedObjects();
  return {
    images: now.images.filter((key) => !before.images.includes(key)),
    tasks: now.tasks.filter((key) => !before.tasks.includes(key)),
  };
}
const NOTHING = { images: [], tasks: [] };

describe('POST then GET /image/detect', () => {
  it.each(['jpg', 'png', 'webp', 'bmp'] as const)(
    'when a %s image is posted, then it is queued and GET returns the detections once completed',
    async (format) => {
      const image = shapeImage(format);
      const accepted = await checked(post(image, '?conf=0.5&iou=0.6&max_det=10'));
      expect(accepted.status).toBe(202);
      expect(accepted.body.status).toBe('queued');
      expect(accepted.headers.location).toBe(`/image/detect?task_id=${accepted.body.task_id}`);

      const done = await waitForStatus(accepted.body.task_id, ['completed']);
      expect(done.body.response).toEqual({
        instances: [
          { boundingBox: '0.5000 0.5000 0.2500 0.2500', class: '1', className: 'square', confidence: 0.9 },
        ],
        image: { width: 64, height: 48 },
        model: { name: 'fake-detector', version: '1', backend: 'openvino', precision: 'bf16' },
        inference_ms: 1.5,
      });
      expect(done.body.error).toBeUndefined();
      const submitted = gw.inference.submissions.filter((s) => s.image.equals(image));
      expect(submitted).toHaveLength(1);
      expect(submitted[0]?.params).toEqual({ conf: 0.5, iou: 0.6, max_det: 10 });
    },
  );

  it('when no parameters are given, then the defaults are sent to the model server', async () => {
    const image = Buffer.concat([shapeImage('png'), Buffer.from('defaults')]); // distinct bytes
    const accepted = await checked(post(image));
    await waitForStatus(accepted.body.task_id, ['completed']);
    expect(gw.inference.submissions.find((s) => s.image.equals(image))?.params).toEqual({
      conf: 0.25,
      iou: 0.45,
      max_det: 300,
    });
  });

  it('when the task is still running, then GET says processing without response or error', async () => {
    gw.inference.behaviour = 'hold';
    const accepted = await checked(post(shapeImage('jpg')));
    const running = await waitForStatus(accepted.body.task_id, ['processing']);
    expect(Object.keys(running.body).sort()).toEqual(['created_at', 'status', 'task_id', 'updated_at']);
  });

  it('when the model server answers with an error outcome, then the task is failed with that error', async () => {
    const failing = await startGateway(gw.config, {
      inference: new FakeInference(() => ({
        response: null,
        error: { code: 'image_decode_failed', message: 'cannot decode the image' },
      })),
    });
    try {
      const accepted = await checked(
        request(failing.url).post('/image/detect').attach('image', shapeImage('png'), 'x.png'),
      );
      const failed = await eventually(async () => {
        const res = await checked(request(failing.url).get(`/image/detect?task_id=${accepted.body.task_id}`));
        return res.body.status === 'failed' ? res : undefined;
      }, 'the task to fail');
      expect(failed.body.error).toEqual({ code: 'image_decode_failed', message: 'cannot decode the image' });
      expect(failed.body.response).toBeUndefined();
    } finally {
      await failing.close();
    }
  });

  it('when the model server refuses the image, then the task is failed at once, not retried', async () => {
    gw.inference.rejecting = true;
    const accepted = await checked(post(Buffer.concat([shapeImage('png'), Buffer.from('refused')])));
    const failed = await waitForStatus(accepted.body.task_id, ['failed']);
    expect(failed.body.error.code).toBe('inference_rejected');
  });
});

describe('Idempotency-Key', () => {
  it('when the same key is sent twice, then both answers name one task and the image is submitted once', async () => {
    const image = Buffer.concat([shapeImage('png'), Buffer.from('idempotent')]);
    const first = await checked(post(image).set('Idempotency-Key', 'order-42'));
    const second = await checked(post(image).set('Idempotency-Key', 'order-42'));
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.task_id).toBe(first.body.task_id);
    await waitForStatus(first.body.task_id, ['completed']);
    const third = await checked(post(image).set('Idempotency-Key', 'order-42'));
    expect(third.body).toEqual({ task_id: first.body.task_id, status: 'completed' });
    expect(gw.inference.submissionsOf(image)).toBe(1);
  });

  it('when requests with one key race, then they all get the same task', async () => {
    const image = Buffer.concat([shapeImage('png'), Buffer.from('race')]);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => checked(post(image).set('Idempotency-Key', 'race-1'))),
    );
    expect(new Set(answers.map((a) => a.body.task_id)).size).toBe(1);
    expect(answers.every((a) => a.status === 202)).toBe(true);
  });

  it('when the key is reused with a different image, then 422 idempotency_key_reused and nothing is stored', async () => {
    const first = await checked(post(distinct('reused-image-a')).set('Idempotency-Key', 'reused-image'));
    expect(first.status).toBe(202);
    const before = await storedObjects();
    const res = await checked(post(distinct('reused-image-b')).set('Idempotency-Key', 'reused-image'));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('idempotency_key_reused');
    expect(res.body.error.message).toMatch(/different image or parameters; use a new key/);
    expect(await storedSince(before)).toEqual(NOTHING);
  });

  it('when the key is reused with different parameters, then 422 idempotency_key_reused and nothing is stored', async () => {
    const image = distinct('reused-params');
    const first = await checked(post(image, '?conf=0.5').set('Idempotency-Key', 'reused-params'));
    expect(first.status).toBe(202);
    const before = await storedObjects();
    const res = await checked(post(image, '?conf=0.6').set('Idempotency-Key', 'reused-params'));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('idempotency_key_reused');
    expect(await storedSince(before)).toEqual(NOTHING);
  });

  it('when the same request is sent again with its parameters spelled otherwise, then it names the same task', async () => {
    const image = distinct('same-request');
    const first = await checked(post(image, '?conf=0.5').set('Idempotency-Key', 'same-request'));
    // The defaults written out, another order, another spelling of 0.5: the same request.
    const again = await checked(
      post(image, '?max_det=300&conf=0.50&iou=0.45').set('Idempotency-Key', 'same-request'),
    );
    expect(again.status).toBe(202);
    expect(again.body.task_id).toBe(first.body.task_id);
  });

  it('when requests with one key and different images race, then one gets the task, the others 422, and the task has its image', async () => {
    const images = Array.from({ length: 4 }, (_, i) => distinct(`race-images-${i}`));
    const answers = await Promise.all(
      images.map((image) => checked(post(image).set('Idempotency-Key', 'race-images'))),
    );
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted).toHaveLength(1);
    expect(
      answers.filter((a) => a.status === 422 && a.body.error.code === 'idempotency_key_reused'),
    ).toHaveLength(3);
    const winner = images[answers.indexOf(accepted[0] as (typeof answers)[number])] as Buffer;
    const taskId = accepted[0]?.body.task_id as string;
    expect(await storedImage(taskId)).toEqual(winner);
    await waitForStatus(taskId, ['completed']);
    expect(gw.inference.submissionsOf(winner)).toBe(1);
  });

  it('when requests with one key and different parameters race, then one gets the task and the others 422', async () => {
    const image = distinct('race-params');
    const answers = await Promise.all(
      [0.1, 0.2, 0.3, 0.4].map((conf) =>
        checked(post(image, `?conf=${conf}`).set('Idempotency-Key', 'race-params')),
      ),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 422)).toHaveLength(3);
  });

  type Send = (url: string) => request.Test;

  /**
   * `first` is posted and its image stored, but its record held back; `second`, with the same key,
   * is posted meanwhile; then the record goes. What each was answered, and the image of the task.
   */
  async function raceWithHeldRecord(key: string, first: Send, second: Send) {
    let recordPuts = 0;
    const store = new RefusingStore(
      gw.config,
      () => false,
      (bucket, objectKey) =>
        bucket === gw.config.TASKS_BUCKET && objectKey.startsWith('records/') && recordPuts++ === 0,
    );
    let release = () => {};
    store.hold = new Promise((resolve) => {
      release = resolve;
    });
    const held = await startGateway(gw.config, { store, inference: gw.inference });
    try {
      const firstAnswer = checked(first(held.url).set('Idempotency-Key', key));
      await eventually(async () => (recordPuts > 0 ? true : undefined), 'the first record write');
      const secondAnswer = await checked(second(held.url).set('Idempotency-Key', key));
      release();
      return { first: await firstAnswer, second: secondAnswer };
    } finally {
      await held.close();
    }
  }

  it('when a request with the key and another image comes while the first is being stored, then it gets 422 and the task keeps the first image', async () => {
    const [a, b] = [distinct('held-image-a'), distinct('held-image-b')];
    const send = (image: Buffer) => (url: string) =>
      request(url).post('/image/detect').attach('image', image, 'a.png');
    const { first, second } = await raceWithHeldRecord('held-image', send(a), send(b));
    expect(second.status).toBe(422);
    expect(second.body.error.code).toBe('idempotency_key_reused');
    expect(first.status).toBe(202);
    expect(await storedImage(first.body.task_id)).toEqual(a);
  });

  it('when a request with the key and other parameters stores its record first, then the first request gets 422', async () => {
    const image = distinct('held-params');
    const send = (conf: number) => (url: string) =>
      request(url).post(`/image/detect?conf=${conf}`).attach('image', image, 'a.png');
    const { first, second } = await raceWithHeldRecord('held-params', send(0.3), send(0.7));
    expect(second.status).toBe(202);
    expect(first.status).toBe(422);
    expect(first.body.error.code).toBe('idempotency_key_reused');
    await waitForStatus(second.body.task_id, ['completed']);
    expect(gw.inference.submissions.filter((s) => s.image.equals(image)).map((s) => s.params.conf)).toEqual([
      0.7,
    ]);
  });

  it('when a task stored before requests were fingerprinted is named again, then it is answered as before', async () => {
    const first = await checked(post(distinct('legacy-a')).set('Idempotency-Key', 'legacy'));
    const taskId = first.body.task_id as string;
    await waitForStatus(taskId, ['completed']);
    const client = storageClient(gw.config);
    const key = `records/${taskId}.json`;
    const stored = JSON.parse((await readObject(gw.config.TASKS_BUCKET, key)).toString('utf8'));
    expect(stored.request_sha256).toMatch(/^[0-9a-f]{64}$/);
    delete stored.request_sha256;
    await client.putObject(gw.config.TASKS_BUCKET, key, JSON.stringify(stored));
    const again = await checked(post(distinct('legacy-b')).set('Idempotency-Key', 'legacy'));
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ task_id: taskId, status: 'completed' });
  });

  it('when different keys are sent, then they name different tasks', async () => {
    const a = await checked(post(shapeImage('png')).set('Idempotency-Key', 'key-a'));
    const b = await checked(post(shapeImage('png')).set('Idempotency-Key', 'key-b'));
    expect(a.body.task_id).not.toBe(b.body.task_id);
  });
});

describe('bad input gets its status and leaves nothing behind', () => {
  const bad: [string, number, string, () => request.Test][] = [
    ['conf above 1', 400, 'invalid_request', () => post(shapeImage('png'), '?conf=1.5')],
    ['iou below 0', 400, 'invalid_request', () => post(shapeImage('png'), '?iou=-0.1')],
    ['max_det 0', 400, 'invalid_request', () => post(shapeImage('png'), '?max_det=0')],
    ['max_det not an integer', 400, 'invalid_request', () => post(shapeImage('png'), '?max_det=2.5')],
    ['an unknown parameter', 400, 'invalid_request', () => post(shapeImage('png'), '?confidence=0.3')],
    [
      'no image field',
      400,
      'invalid_request',
      () => request(gw.url).post('/image/detect').field('other', 'x'),
    ],
    [
      'the image in another field',
      400,
      'invalid_request',
      () => request(gw.url).post('/image/detect').attach('picture', shapeImage('png'), 'a.png'),
    ],
    [
      'two images',
      400,
      'invalid_request',
      () =>
        request(gw.url)
          .post('/image/detect')
          .attach('image', shapeImage('png'), 'a.png')
          .attach('image', shapeImage('jpg'), 'b.jpg'),
    ],
    ['an empty file', 400, 'image_empty', () => post(Buffer.alloc(0))],
    [
      'a JSON body instead of multipart',
      415,
      'unsupported_media_type',
      () => request(gw.url).post('/image/detect').send({ image: 'aGVsbG8=' }),
    ],
    [
      'an image over MAX_IMAGE_BYTES',
      413,
      'image_too_large',
      () => post(Buffer.alloc(65 * 1024, 0xff), '', 'big.jpg'),
    ],
    [
      'a text file',
      415,
      'unsupported_image_type',
      () => post(Buffer.from('hello, not an image'), '', 'fake.png'),
    ],
    [
      'a GIF',
      415,
      'unsupported_image_type',
      () => post(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'), '', 'a.gif'),
    ],
    [
      'a truncated JPEG header',
      422,
      'image_unreadable',
      () => post(shapeImage('jpg').subarray(0, 40), '', 'cut.jpg'),
    ],
    ['a PNG claiming 0×0 pixels', 422, 'image_unreadable', () => post(pngHeader(0, 0), '', 'zero.png')],
    [
      'a PNG claiming 100000×100000 pixels',
      422,
      'image_too_many_pixels',
      () => post(pngHeader(100_000, 100_000), '', 'bomb.png'),
    ],
  ];

  it.each(bad)(
    'when the request has %s, then it is refused with %i %s and nothing is stored',
    async (_, status, code, send) => {
      const before = await storedObjects();
      const res = await checked(send());
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message.length).toBeGreaterThan(10);
      expect(await storedSince(before)).toEqual(NOTHING);
    },
  );

  it('when the pixel count is over the limit, then the message names the size and the setting', async () => {
    const res = await checked(post(pngHeader(2000, 1000), '', 'wide.png'));
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain('2000×1000');
    expect(res.body.error.message).toContain('MAX_IMAGE_PIXELS');
  });

  it('when the task id is not a UUID, then GET answers 400', async () => {
    const res = await checked(get('not-a-uuid'));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('task_id');
  });

  it('when the task id is missing, then GET answers 400', async () => {
    const res = await checked(request(gw.url).get('/image/detect'));
    expect(res.status).toBe(400);
  });

  it('when no task has the id, then GET answers 404', async () => {
    const res = await checked(get('7d444840-9dc0-11d1-b245-5ffdce74fad2'));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('task_not_found');
  });
});

describe('API key', () => {
  let secured: RunningGateway;
  beforeAll(async () => {
    secured = await startGateway({ ...gw.config, API_KEY: 'correct-horse-battery' });
  });
  afterAll(() => secured?.close());

  it('when API_KEY is set and the header is missing, then POST and GET answer 401 and nothing is stored', async () => {
    const before = await storedObjects();
    const posted = await checked(
      request(secured.url).post('/image/detect').attach('image', shapeImage('png'), 'a.png'),
    );
    expect(posted.status).toBe(401);
    expect(posted.body.error.message).toContain('missing');
    const got = await checked(
      request(secured.url).get('/image/detect?task_id=7d444840-9dc0-11d1-b245-5ffdce74fad2'),
    );
    expect(got.status).toBe(401);
    expect(await storedSince(before)).toEqual(NOTHING);
  });

  it('when the key is wrong, then 401 says so', async () => {
    const res = await checked(
      request(secured.url)
        .post('/image/detect')
        .set('X-API-Key', 'wrong-key-value')
        .attach('image', shapeImage('png'), 'a.png'),
    );
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain('wrong');
  });

  it('when the key is right, then the task is accepted; health, readiness and metrics stay open', async () => {
    const res = await checked(
      request(secured.url)
        .post('/image/detect')
        .set('X-API-Key', 'correct-horse-battery')
        .attach('image', shapeImage('png'), 'a.png'),
    );
    expect(res.status).toBe(202);
    expect((await checked(request(secured.url).get('/healthz'))).status).toBe(200);
    expect((await checked(request(secured.url).get('/readyz'))).status).toBe(200);
    expect((await checked(request(secured.url).get('/metrics'))).status).toBe(200);
  });
});

describe('queue depth', () => {
  it('when more tasks are pending than MAX_QUEUE_DEPTH, then POST answers 429 with Retry-After and stores nothing', async () => {
    const small = await startGateway({ ...gw.config, MAX_QUEUE_DEPTH: 2 });
    small.inference.behaviour = 'hold';
    try {
      await small.gateway.reconciler.runOnce(); // count what other tests left pending
      const pendingBefore = small.gateway.detection.queueDepth;
      const free = Math.max(0, 2 - (await pendingBefore.current()));
      for (let i = 0; i < free; i++)
        expect(
          (
            await checked(
              request(small.url).post('/image/detect').attach('image', shapeImage('png'), 'a.png'),
            )
          ).status,
        ).toBe(202);
      const before = await storedObjects();
      const res = await checked(
        request(small.url).post('/image/detect').attach('image', shapeImage('png'), 'a.png'),
      );
      expect(res.status).toBe(429);
      expect(res.body.error.code).toBe('queue_full');
      expect(res.headers['retry-after']).toBe('1');
      expect(await storedSince(before)).toEqual(NOTHING);
    } finally {
      await small.close();
    }
  });
});

describe('operations endpoints', () => {
  it('when /metrics is scraped, then it has request latency, queue depth and task outcomes', async () => {
    await gw.gateway.reconciler.runOnce();
    const res = await checked(request(gw.url).get('/metrics'));
    expect(res.text).toMatch(/http_request_duration_seconds_bucket\{.*route="\/image\/detect"/);
    expect(res.text).toMatch(/^detection_queue_depth \d+/m);
    expect(res.text).toMatch(/detection_task_outcomes_total\{status="completed",code=""\} \d+/);
    expect(res.text).toMatch(
      /detection_task_outcomes_total\{status="failed",code="inference_rejected"\} \d+/,
    );
    expect(res.text).toMatch(
      /^detection_model_info\{name="fake-detector",version="1",backend="openvino",precision="bf16"\} 1$/m,
    );
  });

  it('when BentoML serves a model, then /readyz names it with its runtime; without one it answers 503', async () => {
    const ready = await checked(request(gw.url).get('/readyz'));
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      ready: true,
      checks: { storage: true, inference: true },
      model: FAKE_MODEL,
    });
    gw.inference.modelLoaded = false;
    try {
      const waiting = await checked(request(gw.url).get('/readyz'));
      expect(waiting.status).toBe(503);
      expect(waiting.body).toEqual({
        ready: false,
        checks: { storage: true, inference: false },
        model: null,
      });
    } finally {
      gw.inference.modelLoaded = true;
    }
  });

  it('when /docs is opened, then Swagger UI is served from local assets', async () => {
    const page = await request(gw.url).get('/docs/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('swagger-ui');
    expect(page.text).not.toMatch(/https?:\/\/(?!www\.w3\.org)/); // no CDN
    const bundle = await request(gw.url).get('/docs/swagger-ui-bundle.js');
    expect(bundle.status).toBe(200);
  });

  it('when a request carries X-Request-Id, then the answer echoes it; otherwise one is made up', async () => {
    const given = await request(gw.url).get('/healthz').set('X-Request-Id', 'abc-123');
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await request(gw.url).get('/healthz');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('when the path is unknown, then 404 has the error body', async () => {
    const res = await request(gw.url).get('/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
  });
});
