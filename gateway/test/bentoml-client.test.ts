// Unit tests of the BentoML adapter against a hand-written HTTP stand-in: request shape and
// the mapping of every failure to InferenceError (unavailable, timeout, bad_response) or InferenceRejectedError.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../scripts/stack/supervisor.js';
import { BentoMLClient } from '../src/inference/bentoml-client.js';
import { InferenceError, InferenceRejectedError } from '../src/inference/inference-client.js';

type Handler = (req: Request) => Promise<{ status: number; body: unknown; delayMs?: number }>;
let handler: Handler;
let server: http.Server;
let client: BentoMLClient;

beforeAll(async () => {
  server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    const request = new Request(`http://x${req.url}`, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      body,
    });
    const answer = await handler(request);
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  client = new BentoMLClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 300);
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const image = { bytes: Buffer.from([0xff, 0xd8, 0xff, 0xe0]), contentType: 'image/jpeg' };
const params = { conf: 0.3, iou: 0.5, max_det: 7 };

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('BentoMLClient', () => {
  it('when submitting, then it posts the image and parameters as multipart and returns the task id', async () => {
    let seen: FormData | undefined;
    let path = '';
    handler = async (req) => {
      path = new URL(req.url).pathname;
      seen = await req.formData();
      return { status: 200, body: { task_id: 'abc', status: 'in_progress' } };
    };
    expect(await client.submit(image, params)).toBe('abc');
    expect(path).toBe('/detect/submit');
    const file = seen?.get('image') as File;
    expect(Buffer.from(await file.arrayBuffer())).toEqual(image.bytes);
    expect(file.type).toBe('image/jpeg');
    expect([seen?.get('conf'), seen?.get('iou'), seen?.get('max_det')]).toEqual(['0.3', '0.5', '7']);
  });

  it('when BentoML answers a submission with 4xx, then the image is rejected for good', async () => {
    handler = async () => ({ status: 422, body: { error: 'bad image' } });
    const err = await rejection(client.submit(image, params));
    expect(err).toBeInstanceOf(InferenceRejectedError);
    expect(err.message).toContain('bad image');
  });

  it('when BentoML answers 503 or 500, then it is an InferenceError unavailable or bad_response', async () => {
    handler = async () => ({ status: 503, body: { error: 'not ready' } });
    expect(await rejection(client.submit(image, params))).toMatchObject({ failure: 'unavailable' });
    handler = async () => ({ status: 500, body: { error: 'boom' } });
    expect(await rejection(client.submit(image, params))).toMatchObject({ failure: 'bad_response' });
  });

  it('when checking a task, then it asks /detect/get only, and a task still running, unknown or failed says so', async () => {
    const paths: string[] = [];
    const answers: Record<string, { status: number; body: unknown }> = {
      running: { status: 400, body: { error: 'task running is not completed yet' } },
      other: { status: 404, body: { error: 'task_id not found' } },
      broken: { status: 500, body: { error: 'model exploded' } },
      invalid: { status: 400, body: { error: 'conf: Input should be less than or equal to 1' } },
    };
    handler = async (req) => {
      const url = new URL(req.url);
      paths.push(url.pathname);
      return answers[url.searchParams.get('task_id') ?? ''] ?? { status: 418, body: {} };
    };
    expect(await client.check('running')).toEqual({ status: 'in_progress' });
    expect(await client.check('other')).toEqual({ status: 'not_found' });
    expect(await client.check('broken')).toEqual({
      status: 'failed',
      reason: '500 {"error":"model exploded"}',
    });
    expect(await client.check('invalid')).toMatchObject({ status: 'failed' });
    expect(new Set(paths)).toEqual(new Set(['/detect/get']));
    handler = async () => ({ status: 503, body: { error: 'not ready' } });
    expect(await rejection(client.check('t'))).toMatchObject({
      failure: 'unavailable',
      code: 'inference_unavailable',
    });
  });

  it('when a task is completed, then its valid outcome is returned and a malformed one is a bad_response', async () => {
    const outcome = {
      response: {
        instances: [
          { boundingBox: '0.1000 0.2000 0.3000 0.4000', class: '2', className: 'triangle', confidence: 0.8 },
        ],
        image: { width: 96, height: 96 },
        model: { name: 'm', version: '2' },
        inference_ms: 12.5,
      },
      error: null,
    };
    handler = async () => ({ status: 200, body: outcome });
    expect(await client.check('t')).toEqual({ status: 'completed', outcome });
    handler = async () => ({ status: 200, body: { response: null, error: null } });
    const err = await rejection(client.check('t'));
    expect(err).toBeInstanceOf(InferenceError);
    expect(err).toMatchObject({ failure: 'bad_response', code: 'inference_bad_response' });
  });

  it('when BentoML does not answer in time, then it is an InferenceError timeout', async () => {
    handler = async () => ({ status: 200, body: { status: 'completed' }, delayMs: 1_000 });
    expect(await rejection(client.check('t'))).toMatchObject({
      failure: 'timeout',
      code: 'inference_timeout',
    });
  });

  it('when nothing listens, then it is an InferenceError unavailable and not ready', async () => {
    const nobody = new BentoMLClient(`http://127.0.0.1:${await freePort()}`, 300);
    expect(await rejection(nobody.check('t'))).toMatchObject({
      failure: 'unavailable',
      code: 'inference_unavailable',
    });
    expect(await nobody.isReady()).toBe(false);
  });

  it("when watching finishes, then it long-polls /detect/finished from each answer's cursor and reports only new ids, with the outcomes that parse", async () => {
    const asked: unknown[] = [];
    const outcome = { response: null, error: { code: 'image_decode_failed', message: 'not an image' } };
    const finished = (last: number, task_ids: string[] = [], delayMs = 0, outcomes?: object) => ({
      status: 200,
      body: { last, task_ids, outcomes },
      delayMs,
    });
    const answers = [
      finished(5),
      finished(7, ['a', 'b'], 0, { a: outcome, b: { response: 'nonsense' } }),
      { status: 500, body: { error: 'database is locked' } },
      finished(9),
    ];
    handler = async (req) => {
      expect(new URL(req.url).pathname).toBe('/detect/finished');
      asked.push(await req.json());
      return answers.shift() ?? finished(9, [], 1_000);
    };
    const reported: string[][] = [];
    const outcomes: unknown[] = [];
    const watch = client.watchFinished((ids, announced) => {
      reported.push(ids);
      outcomes.push(Object.fromEntries(announced));
    });
    await vi.waitFor(() => expect(asked.length).toBeGreaterThanOrEqual(5), { timeout: 5_000 });
    expect(watch.live()).toBe(true); // answered since the failure
    watch.stop();
    expect(watch.live()).toBe(false);
    const seen = asked.length;
    await new Promise((r) => setTimeout(r, 1_200));
    expect(asked.length).toBe(seen); // stopped: no request after
    expect(reported).toEqual([['a', 'b']]);
    // b's outcome is not a DetectionOutcome: b is left to /detect/get, which reports what is wrong.
    expect(outcomes).toEqual([{ a: outcome }]);
    // The first call asks for the cursor without waiting; after a failure, the cursor is asked afresh.
    expect(asked.slice(0, 5)).toEqual([
      { after: -1, wait: 0 },
      { after: 5, wait: 10 },
      { after: 7, wait: 10 },
      { after: -1, wait: 0 },
      { after: 9, wait: 10 },
    ]);
  });
});
