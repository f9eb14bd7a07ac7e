// Completion webhooks (callback_url) through the real gateway, a real MinIO and a real local HTTP
// receiver: signed deliveries, retries with back-off, giving up, a delivery that survives the
// gateway that finished the task, and the URLs that are refused before anything is stored.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { checked } from './support/contract.js';
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

const SECRET = 'a-webhook-secret-of-some-length';

/** A receiver that records what it got and answers each delivery with the next status given. */
class Receiver {
  readonly received: { body: string; signature: string | undefined }[] = [];
  answers: number[] = [];
  private server: http.Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({
          body: Buffer.concat(chunks).toString(),
          signature: req.headers['x-signature'] as string,
        });
        res.writeHead(this.answers.shift() ?? 204).end();
      });
    });
    this.server.listen(port, '127.0.0.1');
    await new Promise((r) => this.server?.once('listening', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

let stack: TestStack;
let gw: RunningGateway;
let receiver: Receiver;

const settings = { CALLBACK_SECRET: SECRET, CALLBACK_ALLOWED_HOSTS: '127.0.0.1', CALLBACK_MAX_ATTEMPTS: '3' };

beforeAll(async () => {
  stack = await startMinio();
  gw = await startGateway(testConfig(stack, settings), { reconcile: true });
});
afterAll(async () => {
  await gw?.close();
  await stack?.stop();
});
beforeEach(async () => {
  gw.inference.behaviour = 'complete';
  receiver = new Receiver();
  await receiver.start();
  return () => receiver.stop();
});

const post = (url: string, callbackUrl: string, key?: string) => {
  const req = request(url)
    .post(`/image/detect?callback_url=${encodeURIComponent(callbackUrl)}`)
    .attach('image', shapeImage('png'), 'a.png');
  return checked(key ? req.set('Idempotency-Key', key) : req);
};
const task = async (id: string, url = gw.url) =>
  (await checked(request(url).get(`/image/detect?task_id=${id}`))).body;

async function settled(id: string, url = gw.url) {
  return eventually(
    async () => {
      const view = await task(id, url);
      return view.callback?.state === 'pending' ? undefined : view;
    },
    `the webhook of ${id} to be settled`,
    30_000,
  );
}

const pendingMarkers = async () =>
  (await objectKeys(storageClient(gw.config), gw.config.TASKS_BUCKET)).filter((k) =>
    k.startsWith('pending/'),
  );

describe('webhooks', () => {
  it('when a task with a callback_url completes, then the receiver gets it as GET answers it, signed, once', async () => {
    const accepted = await post(gw.url, receiver.url);
    expect(accepted.status).toBe(202);
    const view = await settled(accepted.body.task_id);
    expect(view.callback).toMatchObject({ url: receiver.url, state: 'delivered', attempts: 1 });
    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received as [{ body: string; signature: string }];
    const expected = createHmac('sha256', SECRET).update(delivery.body).digest('hex');
    expect(delivery.signature).toBe(`sha256=${expected}`);
    const sent = JSON.parse(delivery.body);
    expect(sent).toMatchObject({
      task_id: accepted.body.task_id,
      status: 'completed',
      response: view.response,
    });
    expect(sent.callback).toMatchObject({ state: 'pending', attempts: 0 });
    await eventually(
      async () => ((await pendingMarkers()).length === 0 ? true : undefined),
      'the marker to go',
    );
  });

  it('when the receiver fails twice, then the third delivery, after a back-off, is the one', async () => {
    receiver.answers = [500, 503];
    const accepted = await post(gw.url, receiver.url);
    const view = await settled(accepted.body.task_id);
    expect(view.callback).toMatchObject({ state: 'delivered', attempts: 3 });
    expect(view.callback.last_error).toBeUndefined();
    expect(receiver.received).toHaveLength(3);
    expect(JSON.parse((receiver.received[1] as { body: string }).body).callback).toMatchObject({
      attempts: 1,
      last_error: 'the receiver answered 500',
    });
  });

  it('when every delivery fails, then it is given up after CALLBACK_MAX_ATTEMPTS, saying why', async () => {
    receiver.answers = [500, 500, 500, 500];
    const accepted = await post(gw.url, receiver.url);
    const view = await settled(accepted.body.task_id);
    expect(view.status).toBe('completed');
    expect(view.callback).toMatchObject({
      state: 'failed',
      attempts: 3,
      last_error: 'the receiver answered 500',
    });
    expect(receiver.received).toHaveLength(3);
  });

  it('when the gateway that finished the task stops before the receiver is up, then another gateway delivers it', async () => {
    const port = receiver.port;
    await receiver.stop(); // down: the first delivery fails
    const first = await startGateway(gw.config, { inference: gw.inference, reconcile: true });
    const accepted = await post(first.url, `http://127.0.0.1:${port}/hook`);
    const id = accepted.body.task_id as string;
    await eventually(
      async () => ((await task(id, first.url)).callback?.attempts === 1 ? true : undefined),
      'a failed try',
    );
    await first.close();
    receiver = new Receiver();
    await receiver.start(port);
    const view = await settled(id); // gw, the other gateway, lists the task and delivers
    expect(view.callback).toMatchObject({ state: 'delivered', attempts: 2 });
    expect(receiver.received).toHaveLength(1);
  });

  it.each([
    ['http to a host not in CALLBACK_ALLOWED_HOSTS', 'http://example.com/hook', /https/],
    ['https to a loopback name', 'https://localhost/hook', /loopback, private or link-local/],
    ['https to a private address', 'https://10.1.2.3/hook', /10\.1\.2\.3/],
    ['https to a link-local address', 'https://169.254.169.254/latest', /169\.254\.169\.254/],
    ['a URL with credentials', 'https://user:pw@example.com/hook', /credentials/],
    ['another scheme', 'ftp://example.com/hook', /https/],
  ])(
    'when callback_url is %s, then POST answers 422 callback_url_refused and stores nothing',
    async (_what, url, why) => {
      const before = await objectKeys(storageClient(gw.config), gw.config.TASKS_BUCKET);
      const res = await post(gw.url, url);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('callback_url_refused');
      expect(res.body.error.message).toMatch(why);
      // Earlier tests' markers may still go meanwhile, so only what appeared counts.
      const after = await objectKeys(storageClient(gw.config), gw.config.TASKS_BUCKET);
      expect(after.filter((key) => !before.includes(key))).toEqual([]);
    },
  );

  it('when callback_url is not a URL at all, then it is a 400 naming it', async () => {
    const res = await post(gw.url, 'not a url');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/callback_url/);
  });

  it('when the gateway has no CALLBACK_SECRET, then a callback_url is refused saying so', async () => {
    const unsigned = await startGateway(testConfig(stack), { inference: gw.inference });
    try {
      const res = await post(unsigned.url, 'https://example.com/hook');
      expect(res.status).toBe(422);
      expect(res.body.error.message).toMatch(/CALLBACK_SECRET/);
    } finally {
      await unsigned.close();
    }
  });

  it('when an Idempotency-Key is reused with another callback_url, then it is 422 idempotency_key_reused', async () => {
    const first = await post(gw.url, receiver.url, 'webhook-key-1');
    expect(first.status).toBe(202);
    const again = await post(gw.url, `${receiver.url}?other`, 'webhook-key-1');
    expect(again.status).toBe(422);
    expect(again.body.error.code).toBe('idempotency_key_reused');
  });
});
