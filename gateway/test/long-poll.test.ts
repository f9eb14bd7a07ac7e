// Long polling (GET /image/detect?wait=): the real gateway app and a real MinIO, a fake inference
// client that holds tasks until a test lets them finish. A waiting GET answers when its task
// finishes, when its wait is over, or not at all once its client has gone.
import http from 'node:http';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestStack } from '../../scripts/stack/test-stack.js';
import { checked } from './support/contract.js';
import { eventually, type RunningGateway, startGateway, startMinio, testConfig } from './support/harness.js';
import { shapeImage } from './support/images.js';

let stack: TestStack;
let gw: RunningGateway;

beforeAll(async () => {
  stack = await startMinio();
  gw = await startGateway(testConfig(stack), { reconcile: true });
});
afterAll(async () => {
  await gw?.close();
  await stack?.stop();
});
beforeEach(() => {
  gw.inference.behaviour = 'hold';
});

async function postTask(url = gw.url): Promise<string> {
  const accepted = await checked(
    request(url).post('/image/detect').attach('image', shapeImage('png'), 'a.png'),
  );
  expect(accepted.status).toBe(202);
  return accepted.body.task_id as string;
}

/** A GET with `wait`, and how long it took to answer. */
async function waitingGet(taskId: string, waitS: number | string, url = gw.url) {
  const started = Date.now();
  const res = await checked(request(url).get(`/image/detect?task_id=${taskId}&wait=${waitS}`));
  return { res, ms: Date.now() - started };
}

describe('GET /image/detect?wait=', () => {
  it('when the task finishes during the wait, then the GET answers completed then, not at the end of the wait', async () => {
    const { detection } = gw.gateway;
    const recheckMs = detection.waitRecheckMs;
    // No second look within the wait: only the news of the finish can end it early.
    detection.waitRecheckMs = 60_000;
    try {
      const taskId = await postTask();
      const answer = waitingGet(taskId, 20);
      await eventually(async () => (detection.waiters.size > 0 ? true : undefined), 'the GET to wait');
      gw.inference.behaviour = 'complete';
      const { res, ms } = await answer;
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('completed');
      expect(res.body.response.instances).toHaveLength(1);
      expect(ms).toBeLessThan(15_000);
      expect(detection.waiters.size).toBe(0);
    } finally {
      detection.waitRecheckMs = recheckMs;
    }
  });

  it('when the task is already finished, then the GET answers at once', async () => {
    gw.inference.behaviour = 'complete';
    const taskId = await postTask();
    await eventually(async () => {
      const res = await request(gw.url).get(`/image/detect?task_id=${taskId}`);
      return res.body.status === 'completed' ? true : undefined;
    }, 'the task to complete');
    const { res, ms } = await waitingGet(taskId, 30);
    expect(res.body.status).toBe('completed');
    expect(ms).toBeLessThan(5_000);
  });

  it('when the wait ends first, then the GET answers with the current state', async () => {
    const taskId = await postTask();
    const { res, ms } = await waitingGet(taskId, 1);
    expect(res.status).toBe(200);
    expect(['queued', 'processing']).toContain(res.body.status);
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(gw.gateway.detection.waiters.size).toBe(0);
  });

  it.each(['31', '-1', '1.5', 'soon'])('when wait is %s, then it is a 400 naming wait', async (wait) => {
    const taskId = await postTask();
    const res = await checked(request(gw.url).get(`/image/detect?task_id=${taskId}&wait=${wait}`));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/wait/);
  });

  it('when the waiting client goes away, then the gateway stops waiting for it', async () => {
    const taskId = await postTask();
    const req = http.get(`${gw.url}/image/detect?task_id=${taskId}&wait=30`);
    req.on('error', () => {}); // the abort below
    await eventually(
      async () => (gw.gateway.detection.waiters.size > 0 ? true : undefined),
      'the GET to wait',
    );
    req.destroy();
    await eventually(
      async () => (gw.gateway.detection.waiters.size === 0 ? true : undefined),
      'the wait to end',
    );
  });

  it('when another gateway accepted the task, then a GET waiting on this one answers once it is finished', async () => {
    const other = await startGateway(gw.config, { inference: gw.inference, reconcile: true });
    try {
      const taskId = await postTask(other.url);
      const answer = waitingGet(taskId, 20);
      await eventually(
        async () => (gw.gateway.detection.waiters.size > 0 ? true : undefined),
        'the GET to wait',
      );
      gw.inference.behaviour = 'complete';
      const { res } = await answer;
      expect(res.body.status).toBe('completed');
    } finally {
      await other.close();
    }
  });

  it('when the gateway stops, then waiting GETs answer at once with the current state', async () => {
    const stopping = await startGateway(gw.config, { inference: gw.inference, reconcile: true });
    try {
      const taskId = await postTask(stopping.url);
      const answer = waitingGet(taskId, 30, stopping.url);
      const { waiters } = stopping.gateway.detection;
      await eventually(async () => (waiters.size > 0 ? true : undefined), 'the GET to wait');
      waiters.close();
      const { res, ms } = await answer;
      expect(['queued', 'processing']).toContain(res.body.status);
      expect(ms).toBeLessThan(10_000);
    } finally {
      await stopping.close();
    }
  });
});

describe('announcements of finished tasks', () => {
  it.each([
    [true, 'without asking BentoML for it'],
    [false, 'after asking BentoML for it (a service that announces ids only)'],
  ])(
    'when BentoML announces a finish (outcome included: %s), then a waiting GET answers completed with no poll due, %s',
    async (withOutcome) => {
      // No round and no second look within the wait: only the announcement can finish the task.
      const quiet = await startGateway(testConfig(stack, { RECONCILE_INTERVAL_MS: '600000' }), {
        reconcile: true,
      });
      const { detection } = quiet.gateway;
      detection.waitRecheckMs = 600_000;
      try {
        quiet.inference.behaviour = 'hold';
        quiet.inference.announceOutcomes = withOutcome;
        const taskId = await postTask(quiet.url);
        const answer = waitingGet(taskId, 20, quiet.url);
        await eventually(async () => (detection.waiters.size > 0 ? true : undefined), 'the GET to wait');
        // Earlier tests' tasks may have been submitted here too: all of them are announced.
        const checksBefore = quiet.inference.checks.length;
        quiet.inference.announce(...quiet.inference.submissions.map((s) => s.inferenceTaskId));
        const { res } = await answer;
        expect(res.body.status).toBe('completed');
        expect(res.body.response.instances).toHaveLength(1);
        const submission = quiet.inference.submissions.at(-1)?.inferenceTaskId;
        const checks = quiet.inference.checks.slice(checksBefore).filter((id) => id === submission).length;
        expect(checks).toBe(withOutcome ? 0 : 1);
      } finally {
        await quiet.close();
      }
      expect(quiet.inference.watching).toBe(0);
    },
  );
});

describe('polls while announcements are live', () => {
  it.each([
    [false, 'each round'],
    [true, 'only as a safety net'],
  ])('when announcements live is %s, then a running task is polled %s', async (live) => {
    const fast = await startGateway(testConfig(stack, { RECONCILE_INTERVAL_MS: '100' }), { reconcile: true });
    try {
      fast.inference.behaviour = 'hold';
      fast.inference.announcing = live;
      await postTask(fast.url);
      const submitted = await eventually(async () => fast.inference.submissions.at(-1), 'the submission');
      await new Promise((r) => setTimeout(r, 1_500));
      const polls = fast.inference.checks.filter((id) => id === submitted.inferenceTaskId).length;
      if (live) expect(polls).toBeLessThanOrEqual(1);
      else expect(polls).toBeGreaterThanOrEqual(3);
    } finally {
      await fast.close();
    }
  });
});
